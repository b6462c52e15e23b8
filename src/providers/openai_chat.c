/*
 * providers/openai_chat.c — OpenAI chat completions and compatible servers
 * (POST {base_url}/chat/completions, stream:true).
 *
 * The body is SSE; each data event is a chunk object.  Text deltas go out
 * at once; tool-call fragments are gathered by index and id and emitted
 * whole when the choice finishes; the finish event waits for [DONE] so it
 * can carry the usage chunk that arrives after the finish reason.  EOF
 * before [DONE] is a truncated stream.
 *
 * The legacy Completions stream is the same but for choices[0].text in
 * place of choices[0].delta: openai_completions.c reuses this parser
 * (openai_stream.h) and only builds its own request; azure_openai.c
 * reuses the parser and the request, with its own URL and key header.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>
#include <json-c/json.h>

#include "config.h"
#include "provider.h"
#include "request.h"
#include "openai_fastpath.h"
#include "openai_stream.h"
#include "toolcalls.h"

struct cs_adapter {
	struct cs_adapter_base b; /* first; done: [DONE] seen */
	char finish[64];          /* provider's finish_reason */
	struct cs_usage usage;    /* the last usage chunk's counts */
	int calls_emitted;        /* b.calls (by index and id) went out */
	struct cs_buf fast;       /* a plain chunk's content */
};

/* Find or open the accumulator for one tool-call fragment.  Some servers
 * reuse index 0 for parallel calls, so a new id opens a new call. */
static struct cs_toolcall *
tool_slot(struct cs_adapter *a, int index, const char *id)
{
	struct cs_toolcall *tc;

	if ((tc = cs_toolcalls_find(&a->b.calls, index, 0)) != NULL &&
	    (id == NULL || id[0] == '\0' || strcmp(tc->id, id) == 0 ||
	        tc->id[0] == '\0'))
		return tc;
	return cs_toolcalls_open(&a->b.calls, index, &tc) == CS_OK ? tc : NULL;
}

static enum cs_err
tool_fragment(struct cs_adapter *a, int index, struct json_object *id,
    struct json_object *fn)
{
	struct json_object *name = NULL, *args = NULL;
	struct cs_toolcall *tc;
	const char *ids = NULL;

	if (id != NULL && json_object_is_type(id, json_type_string))
		ids = json_object_get_string(id);
	if ((tc = tool_slot(a, index, ids)) == NULL)
		return cs_adapter_fail(&a->b, "upstream_error",
		    "the provider sent too many tool calls");
	if (ids != NULL && tc->id[0] == '\0')
		cs_json_copy_str(tc->id, sizeof(tc->id), id);
	if (fn != NULL) {
		json_object_object_get_ex(fn, "name", &name);
		json_object_object_get_ex(fn, "arguments", &args);
	}
	if (name != NULL && tc->name[0] == '\0')
		cs_json_copy_str(tc->name, sizeof(tc->name), name);
	if (args != NULL && json_object_is_type(args, json_type_string) &&
	    cs_buf_append(&tc->args, json_object_get_string(args),
	        (size_t)json_object_get_string_len(args)) != CS_OK)
		return cs_adapter_fail(&a->b, "upstream_error",
		    "a tool call's arguments exceed the size limit");
	return CS_OK;
}

static enum cs_err
emit_tool_calls(struct cs_adapter *a)
{
	if (a->calls_emitted)
		return CS_OK;
	a->calls_emitted = 1;
	return cs_toolcalls_emit_all(&a->b.calls, a->b.emit, a->b.ctx);
}

static enum cs_err
handle_choice(struct cs_adapter *a, struct json_object *choice)
{
	struct json_object *delta = NULL, *v = NULL, *fr = NULL, *tcs;
	struct json_object *tc, *idx, *id, *fn;
	enum cs_err r;
	size_t i, n;

	/* Legacy Completions: the text is on the choice itself. */
	v = NULL;
	if (json_object_object_get_ex(choice, "text", &v) &&
	    (r = cs_adapter_text(&a->b, CS_TEXT_CONTENT, v)) != CS_OK)
		return r;
	if (json_object_object_get_ex(choice, "delta", &delta) &&
	    json_object_is_type(delta, json_type_object)) {
		json_object_object_get_ex(delta, "content", &v);
		if ((r = cs_adapter_text(&a->b, CS_TEXT_CONTENT, v)) != CS_OK)
			return r;
		v = NULL;
		json_object_object_get_ex(delta, "refusal", &v);
		if ((r = cs_adapter_text(&a->b, CS_TEXT_REFUSAL, v)) != CS_OK)
			return r;
		/* DeepSeek says reasoning_content, OpenRouter reasoning; a
		 * server that sends both has reasoning_content win. */
		v = NULL;
		if (!json_object_object_get_ex(
		        delta, "reasoning_content", &v) ||
		    !json_object_is_type(v, json_type_string) ||
		    json_object_get_string_len(v) == 0)
			json_object_object_get_ex(delta, "reasoning", &v);
		if ((r = cs_adapter_text(&a->b, CS_TEXT_REASONING, v)) != CS_OK)
			return r;
		if (json_object_object_get_ex(delta, "tool_calls", &tcs) &&
		    json_object_is_type(tcs, json_type_array)) {
			n = json_object_array_length(tcs);
			for (i = 0; i < n; i++) {
				tc = json_object_array_get_idx(tcs, i);
				idx = id = fn = NULL;
				json_object_object_get_ex(tc, "index", &idx);
				json_object_object_get_ex(tc, "id", &id);
				json_object_object_get_ex(tc, "function", &fn);
				if ((r = tool_fragment(a,
				         idx ? json_object_get_int(idx) : 0, id,
				         fn)) != CS_OK)
					return r;
			}
		}
		/* Legacy single function_call. */
		if (json_object_object_get_ex(delta, "function_call", &fn) &&
		    json_object_is_type(fn, json_type_object) &&
		    (r = tool_fragment(a, -1, NULL, fn)) != CS_OK)
			return r;
	}
	/* Some compatible servers send "finish_reason":"" on every chunk:
	 * only a non-empty reason finishes the choice. */
	if (json_object_object_get_ex(choice, "finish_reason", &fr) &&
	    json_object_is_type(fr, json_type_string) &&
	    json_object_get_string_len(fr) > 0) {
		cs_json_copy_str(a->finish, sizeof(a->finish), fr);
		return emit_tool_calls(a);
	}
	return CS_OK;
}

static enum cs_err
emit_finish(struct cs_adapter *a)
{
	const char *native;
	enum cs_err r;

	if ((r = emit_tool_calls(a)) != CS_OK)
		return r;
	native = a->finish[0] ? a->finish : NULL;
	return cs_adapter_finish(
	    &a->b, cs_finish_reason_native(native), native, &a->usage);
}

/* The counts of a usage chunk, in OpenAI's spelling. */
static void
read_usage(struct cs_usage *u, struct json_object *o)
{
	u->prompt = cs_json_count(o, "prompt_tokens");
	u->completion = cs_json_count(o, "completion_tokens");
	u->total = cs_json_count(o, "total_tokens");
	u->cached = cs_json_count(
	    json_object_object_get(o, "prompt_tokens_details"),
	    "cached_tokens");
	u->reasoning = cs_json_count(
	    json_object_object_get(o, "completion_tokens_details"),
	    "reasoning_tokens");
}

/* What cs_adapter_text() emits for the content of a plain chunk. */
static enum cs_err
emit_fast_text(struct cs_adapter *a)
{
	struct cs_event ev;

	if (a->fast.len == 0)
		return CS_OK;
	memset(&ev, 0, sizeof(ev));
	ev.type = CS_EV_TEXT;
	ev.kind = CS_TEXT_CONTENT;
	ev.text = a->fast.data;
	ev.text_len = a->fast.len;
	return a->b.emit(a->b.ctx, &ev);
}

static enum cs_err
on_sse(void *ctx, const struct cs_sse_event *sev)
{
	struct cs_adapter *a = ctx;
	struct json_object *chunk = NULL, *v, *choice, *idx;
	enum cs_err r = CS_OK;
	size_t i, n;

	if (strcmp(sev->data, "[DONE]") == 0) {
		a->b.done = 1;
		return emit_finish(a);
	}
	/* Most chunks are a plain text delta: read those without json-c. */
	if (strcmp(sev->type, "message") == 0 &&
	    cs_openai_fast_delta(sev->data, sev->data_len, &a->fast))
		return emit_fast_text(a);
	chunk = cs_adapter_parse(&a->b, sev);
	if (chunk == NULL || !json_object_is_type(chunk, json_type_object)) {
		r = cs_adapter_fail(&a->b, "upstream_error",
		    "the provider sent a malformed stream chunk");
		goto out;
	}
	if (json_object_object_get_ex(chunk, "error", &v) && v != NULL) {
		r = cs_adapter_error(&a->b, v);
		goto out;
	}
	if (strcmp(sev->type, "error") == 0) {
		/* event: error with the error fields at the top level. */
		r = cs_adapter_error(&a->b, chunk);
		goto out;
	}
	if (json_object_object_get_ex(chunk, "usage", &v) &&
	    json_object_is_type(v, json_type_object))
		read_usage(&a->usage, v);
	if (json_object_object_get_ex(chunk, "choices", &v) &&
	    json_object_is_type(v, json_type_array)) {
		n = json_object_array_length(v);
		for (i = 0; i < n; i++) {
			choice = json_object_array_get_idx(v, i);
			idx = NULL;
			/* With n > 1 only choice 0 is streamed. */
			if (!json_object_is_type(choice, json_type_object) ||
			    (json_object_object_get_ex(choice, "index", &idx) &&
			        json_object_get_int(idx) != 0))
				continue;
			if ((r = handle_choice(a, choice)) != CS_OK)
				goto out;
		}
	}
out:
	json_object_put(chunk);
	return r;
}

static enum cs_err
oa_init(void *p)
{
	struct cs_adapter *a = p;

	cs_buf_init(&a->fast, CS_MAX_SSE_EVENT);
	read_usage(&a->usage, NULL);
	return CS_OK;
}

static void
oa_cleanup(void *p)
{
	struct cs_adapter *a = p;

	cs_buf_free(&a->fast);
}

const struct cs_sse_format cs_openai_sse = {
	.size = sizeof(struct cs_adapter),
	.init = oa_init,
	.on_event = on_sse,
	.cleanup = oa_cleanup,
	.truncated = "the provider's stream ended before [DONE] (truncated)",
};

/* An assistant message's tool_calls in the OpenAI shape. */
static const struct cs_tool_calls_shape oa_calls = {
	.type = "function",
	.id_key = "id",
	.nested_in = "function",
	.args_key = "arguments",
};

/* tool_choice in the Chat Completions shape. */
static const struct cs_tool_choice_shape oa_choice = {
	.required_word = "required",
	.named_type = "function",
	.named_in = "function",
};

/* messages: a client's developer message is "system" unless the upstream
 * knows the role; an assistant message that only calls tools has null
 * content, as OpenAI sends it; a tool result names its call. */
static const struct cs_chat_shape oa_messages = {
	.null_content = 1,
	.calls = &oa_calls,
	.tool_call_id = 1,
};

/* tools already in this API's shape (request.h), and tool_choice. */
static const struct cs_tools_shape oa_tools = {
	.verbatim = 1,
	.choice = &oa_choice,
};

enum cs_err
cs_openai_stream_options(
    struct json_object *root, const struct cs_chat_request *req)
{
	struct json_object *so;

	json_object_object_add(root, "stream", json_object_new_boolean(1));
	if ((so = json_object_new_object()) == NULL)
		return CS_ENOMEM;
	json_object_object_add(so, "include_usage", json_object_new_boolean(1));
	json_object_object_add(root, "stream_options", so);
	cs_build_sampling(root, req, "max_tokens");
	cs_build_stop(root, req, "stop");
	return CS_OK;
}

/*
 * The Chat Completions body for the URL already in hr->url; the key goes
 * out as auth_header+key.  A client's "developer" message stays one where
 * the upstream knows the role (up->developer_role), else it is "system".
 */
enum cs_err
cs_openai_chat_request(const struct cs_upstream_cfg *up,
    const struct cs_chat_request *req, struct cs_http_request *hr,
    const char *auth_header)
{
	struct json_object *root = NULL;
	enum cs_err r = CS_ENOMEM;

	if (cs_build_chat_body(req, &oa_messages, up->developer_role, &root) !=
	        CS_OK ||
	    cs_openai_stream_options(root, req) != CS_OK ||
	    cs_build_tools(root, req, &oa_tools) != CS_OK)
		goto fail;
	/* Already in this API's shape (request.h). */
	if (req->response_format != NULL)
		json_object_object_add(root, "response_format",
		    json_object_get(req->response_format));
	r = cs_http_json_request(
	    hr, root, "text/event-stream", auth_header, up->api_key);
fail:
	json_object_put(root);
	return r;
}

static enum cs_err
oa_build(const struct cs_upstream_cfg *up, const struct cs_chat_request *req,
    struct cs_http_request *hr)
{
	enum cs_err r;

	if ((r = cs_buf_printf(
	         &hr->url, "%s/chat/completions", up->base_url_eff)) != CS_OK)
		return r;
	return cs_openai_chat_request(up, req, hr, CS_OPENAI_AUTH_HEADER);
}

/*
 * OpenAI's own API knows the "developer" role, and so does Azure OpenAI
 * (*.openai.azure.com); OpenAI-compatible servers (vLLM, llama.cpp,
 * gateways) may refuse it, so they get "system".
 */
static void
oa_resolve(struct cs_upstream_cfg *up)
{
	static const char azure[] = ".openai.azure.com";
	const char *h, *e;
	size_t n;

	if (strncasecmp(up->base_url_eff, "https://", 8) != 0)
		return;
	h = up->base_url_eff + 8;
	for (e = h; *e != '\0' && *e != '/' && *e != ':'; e++)
		;
	n = (size_t)(e - h);
	up->developer_role = (n == 14 &&
	                         strncasecmp(h, "api.openai.com", n) == 0) ||
	    (n > sizeof(azure) - 1 &&
	        strncasecmp(
	            e - (sizeof(azure) - 1), azure, sizeof(azure) - 1) == 0);
}

const struct cs_provider cs_provider_openai_chat = {
	.name = "openai-chat",
	CS_OPENAI_DEFAULTS,
	.model = "gpt-4o-mini",
	.resolve = oa_resolve,
	.build = oa_build,
	.adapter = &cs_sse_adapter,
	.sse = &cs_openai_sse,
};
