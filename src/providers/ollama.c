/*
 * providers/ollama.c — Ollama's native chat API (POST {base_url}/api/chat,
 * stream:true), base_url being the server root (http://127.0.0.1:11434).
 *
 * The body is NDJSON: one JSON object per LF-terminated line.  Each line's
 * message.content / message.thinking goes out at once as text; tool calls
 * arrive whole (arguments as a JSON object, serialized for the event); the
 * done:true line carries done_reason and the token counters and ends the
 * stream.  A {"error":...} line is an in-band error; EOF before done:true
 * is a truncated stream.  A last line without its LF is still parsed.
 */
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>
#include <json-c/json.h>

#include "config.h"
#include "provider.h"
#include "request.h"

#define TOO_BIG "the provider sent an oversized stream line"
/* Ollama itself takes no key; a proxy in front of it may. */
#define AUTH_HEADER "Authorization: Bearer "

struct cs_adapter {
	struct cs_adapter_base b; /* first; no SSE; done: done:true
	                                   seen */
	struct cs_buf line;       /* a line split across feeds */
	size_t n_calls;           /* tool calls emitted */
};

static const char *
str_or(struct json_object *v, const char *dflt)
{
	if (v != NULL && json_object_is_type(v, json_type_string))
		return json_object_get_string(v);
	return dflt;
}

static enum cs_err
emit_tool_call(struct cs_adapter *a, struct json_object *tc)
{
	struct json_object *fn = NULL, *id = NULL, *name = NULL, *args = NULL;
	const char *s = "";

	if (!json_object_is_type(tc, json_type_object))
		return CS_OK;
	json_object_object_get_ex(tc, "id", &id);
	if (json_object_object_get_ex(tc, "function", &fn) &&
	    json_object_is_type(fn, json_type_object)) {
		json_object_object_get_ex(fn, "name", &name);
		json_object_object_get_ex(fn, "arguments", &args);
	}
	/* Arguments are a JSON object; a string (some proxies) is kept as
	 * is; none at all is "". */
	if (args != NULL && json_object_is_type(args, json_type_string))
		s = json_object_get_string(args);
	else if (args != NULL &&
	    (s = json_object_to_json_string_ext(args,
	         JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE)) ==
	        NULL)
		return CS_ENOMEM;
	a->n_calls++;
	return cs_emit_tool_call(
	    a->b.emit, a->b.ctx, str_or(id, ""), str_or(name, ""), s);
}

static const char *
map_finish(const char *r, size_t n_calls)
{
	if (r == NULL)
		return "unknown";
	/* Ollama says "stop" after tool calls; clients loop on tool_calls. */
	if (strcmp(r, "stop") == 0)
		return n_calls > 0 ? "tool_calls" : "stop";
	if (strcmp(r, "length") == 0)
		return "length";
	return "other";
}

/* The done line: its reason and its counters. */
static enum cs_err
emit_finish(struct cs_adapter *a, struct json_object *chunk)
{
	struct cs_usage u = { .total = CS_USAGE_NONE,
		.cached = CS_USAGE_NONE,
		.reasoning = CS_USAGE_NONE };
	struct json_object *v = NULL;
	const char *native;

	u.prompt = cs_json_count(chunk, "prompt_eval_count");
	u.completion = cs_json_count(chunk, "eval_count");
	json_object_object_get_ex(chunk, "done_reason", &v);
	native = str_or(v, NULL);
	return cs_adapter_finish(
	    &a->b, map_finish(native, a->n_calls), native, &u);
}

static enum cs_err
handle_line(struct cs_adapter *a, const char *p, size_t len)
{
	struct json_object *chunk, *v = NULL, *msg = NULL;
	enum cs_err r = CS_OK;
	size_t i, n;

	while (len > 0 &&
	    (p[len - 1] == '\r' || p[len - 1] == ' ' || p[len - 1] == '\t'))
		len--;
	if (len == 0 || a->b.done || a->b.failed)
		return CS_OK;
	json_tokener_reset(a->b.tok);
	chunk = json_tokener_parse_ex(a->b.tok, p, (int)len);
	if (chunk == NULL || !json_object_is_type(chunk, json_type_object) ||
	    json_tokener_get_parse_end(a->b.tok) != len) {
		r = cs_adapter_fail(&a->b, "upstream_error",
		    "the provider sent a malformed stream line");
		goto out;
	}
	if (json_object_object_get_ex(chunk, "error", &v) && v != NULL) {
		r = cs_adapter_error(&a->b, v);
		goto out;
	}
	if (json_object_object_get_ex(chunk, "message", &msg) &&
	    json_object_is_type(msg, json_type_object)) {
		v = NULL;
		json_object_object_get_ex(msg, "thinking", &v);
		if ((r = cs_adapter_text(&a->b, CS_TEXT_REASONING, v)) != CS_OK)
			goto out;
		v = NULL;
		json_object_object_get_ex(msg, "content", &v);
		if ((r = cs_adapter_text(&a->b, CS_TEXT_CONTENT, v)) != CS_OK)
			goto out;
		if (json_object_object_get_ex(msg, "tool_calls", &v) &&
		    json_object_is_type(v, json_type_array)) {
			n = json_object_array_length(v);
			for (i = 0; i < n; i++)
				if ((r = emit_tool_call(
				         a, json_object_array_get_idx(v, i))) !=
				    CS_OK)
					goto out;
		}
	}
	v = NULL;
	if (json_object_object_get_ex(chunk, "done", &v) &&
	    json_object_is_type(v, json_type_boolean) &&
	    json_object_get_boolean(v)) {
		a->b.done = 1;
		r = emit_finish(a, chunk);
	}
out:
	json_object_put(chunk);
	return r;
}

static struct cs_adapter *
ol_new(const struct cs_provider *p, cs_emit_fn emit, void *ctx)
{
	struct cs_adapter *a;

	(void)p;
	if ((a = calloc(1, sizeof(*a))) == NULL)
		return NULL;
	cs_buf_init(&a->line, CS_MAX_SSE_LINE);
	if (cs_adapter_base_init(&a->b, emit, ctx) != CS_OK) {
		free(a);
		return NULL;
	}
	return a;
}

static enum cs_err
ol_feed(struct cs_adapter *a, const char *buf, size_t len)
{
	const char *nl;
	size_t n;
	enum cs_err r;

	if (a->b.failed)
		return CS_EUPSTREAM;
	while (len > 0 && !a->b.done) {
		if ((nl = memchr(buf, '\n', len)) == NULL) {
			r = cs_buf_append(&a->line, buf, len);
			if (r == CS_ETOOBIG)
				return cs_adapter_fail(
				    &a->b, "upstream_error", TOO_BIG);
			return r;
		}
		n = (size_t)(nl - buf);
		if (a->line.len + n > a->line.max)
			return cs_adapter_fail(
			    &a->b, "upstream_error", TOO_BIG);
		if (a->line.len == 0)
			r = handle_line(a, buf, n);
		else if ((r = cs_buf_append(&a->line, buf, n)) == CS_OK) {
			r = handle_line(a, a->line.data, a->line.len);
			cs_buf_reset(&a->line);
		}
		if (r != CS_OK)
			return r;
		buf += n + 1;
		len -= n + 1;
	}
	return CS_OK; /* anything after done:true is ignored */
}

static enum cs_err
ol_end(struct cs_adapter *a)
{
	enum cs_err r;

	if (a->b.failed)
		return CS_OK;
	if (a->line.len > 0) {
		r = handle_line(a, a->line.data, a->line.len);
		cs_buf_reset(&a->line);
		if (r != CS_OK)
			return r;
	}
	if (a->b.done || a->b.failed)
		return CS_OK;
	return cs_adapter_fail(&a->b, "upstream_error",
	    "the provider's stream ended before done:true (truncated)");
}

static void
ol_free(struct cs_adapter *a)
{
	if (a == NULL)
		return;
	cs_buf_free(&a->line);
	cs_adapter_base_cleanup(&a->b);
	free(a);
}

static const struct cs_adapter_ops ol_adapter = {
	.new = ol_new,
	.feed = ol_feed,
	.end = ol_end,
	.free = ol_free,
};

/* tools in the OpenAI shape without "strict" (Ollama has none).  Ollama
 * has no tool_choice either, so the request's is not sent. */
static const struct cs_tools_shape ol_tools = {
	.type = "function",
	.nested_in = "function",
};

/* An assistant message's tool calls: [{"function":{"name","arguments":
 * <object>}}], the arguments parsed ({} if they are not an object). */
static const struct cs_tool_calls_shape ol_calls = {
	.nested_in = "function",
	.args_key = "arguments",
	.args_object = 1,
};

/* messages: role, content and tool calls; a developer message is
 * "system", a tool result does not name its call. */
static const struct cs_chat_shape ol_messages = {
	.calls = &ol_calls,
};

static enum cs_err
ol_build(const struct cs_upstream_cfg *up, const struct cs_chat_request *req,
    struct cs_http_request *hr)
{
	struct json_object *root = NULL, *opts = NULL, *schema;
	enum cs_err r = CS_ENOMEM;

	if ((r = cs_buf_printf(&hr->url, "%s/api/chat", up->base_url_eff)) !=
	        CS_OK ||
	    (r = cs_build_chat_body(req, &ol_messages, 0, &root)) != CS_OK ||
	    (r = cs_build_tools(root, req, &ol_tools)) != CS_OK)
		goto fail;
	r = CS_ENOMEM;
	json_object_object_add(root, "stream", json_object_new_boolean(1));
	/* Structured output: "format" is "json", or the JSON schema. */
	if (req->response_format != NULL) {
		schema = json_object_object_get(
		    json_object_object_get(req->response_format, "json_schema"),
		    "schema");
		json_object_object_add(root, "format",
		    schema != NULL ? json_object_get(schema) :
		                     json_object_new_string("json"));
	}
	if (req->has_temperature || req->max_tokens > 0 || req->stop != NULL) {
		if ((opts = json_object_new_object()) == NULL)
			goto fail;
		json_object_object_add(root, "options", opts);
		cs_build_sampling(opts, req, "num_predict");
		cs_build_stop(opts, req, "stop");
	}
	r = cs_http_json_request(
	    hr, root, "application/x-ndjson", AUTH_HEADER, up->api_key);
fail:
	json_object_put(root);
	return r;
}

const struct cs_provider cs_provider_ollama = {
	.name = "ollama",
	.base_url = "http://127.0.0.1:11434",
	.model = "llama3.2",
	.auth_header = AUTH_HEADER,
	.build = ol_build,
	.adapter = &ol_adapter,
};
