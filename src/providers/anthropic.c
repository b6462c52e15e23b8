/*
 * providers/anthropic.c — Anthropic Messages API (POST {base_url}/messages,
 * stream:true).
 *
 * The body is SSE with typed events: message_start (usage base),
 * content_block_start/delta/stop (text, thinking, tool_use blocks),
 * message_delta (stop_reason, cumulative usage), message_stop, ping and
 * in-band error.  Text deltas go out at once; a tool_use block's
 * input_json_delta fragments are gathered and the call is emitted whole at
 * its content_block_stop; the finish event waits for message_stop.  EOF
 * before message_stop is a truncated stream.
 */
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>
#include <json-c/json.h>

#include "config.h"
#include "provider.h"
#include "request.h"
#include "toolcalls.h"

#define DEFAULT_MAX_TOKENS 4096
#define ANTHROPIC_VERSION  "2023-06-01"
#define AUTH_HEADER        "x-api-key: "

struct cs_adapter {
	struct cs_adapter_base b; /* first; done: message_stop seen */
	char finish[64];          /* provider's stop_reason */
	/* Usage so far (CS_USAGE_NONE: not said): input_tokens,
	 * output_tokens, cache_read_input_tokens,
	 * cache_creation_input_tokens. */
	long long in, out, cache_read, cache_write;
	/* b.calls: by content block index; input: content_block_start's */
};

static int
get_index(struct json_object *o)
{
	struct json_object *v = NULL;

	if (json_object_object_get_ex(o, "index", &v) &&
	    json_object_is_type(v, json_type_int))
		return json_object_get_int(v);
	return -1;
}

/* The open (not yet emitted) tool call of content block index, or NULL.
 * With no input_json_delta at all, a call is emitted with the block's own
 * input (cs_toolcall_emit). */
static struct cs_toolcall *
find_call(struct cs_adapter *a, int index)
{
	return cs_toolcalls_find(&a->b.calls, index, 1);
}

static enum cs_err
block_start(struct cs_adapter *a, struct json_object *chunk)
{
	struct json_object *cb = NULL, *type = NULL, *v = NULL;
	struct cs_toolcall *tc;
	enum cs_err r;

	if (!json_object_object_get_ex(chunk, "content_block", &cb) ||
	    !json_object_is_type(cb, json_type_object))
		return CS_OK;
	json_object_object_get_ex(cb, "type", &type);
	if (type == NULL || !json_object_is_type(type, json_type_string))
		return CS_OK;
	if (strcmp(json_object_get_string(type), "text") == 0) {
		json_object_object_get_ex(cb, "text", &v);
		return cs_adapter_text(&a->b, CS_TEXT_CONTENT, v);
	}
	if (strcmp(json_object_get_string(type), "thinking") == 0) {
		json_object_object_get_ex(cb, "thinking", &v);
		return cs_adapter_text(&a->b, CS_TEXT_REASONING, v);
	}
	if (strcmp(json_object_get_string(type), "tool_use") != 0)
		return CS_OK;
	if ((r = cs_toolcalls_open(&a->b.calls, get_index(chunk), &tc)) !=
	    CS_OK)
		return cs_adapter_fail(&a->b,
		    r == CS_ENOMEM ? "internal_error" : "upstream_error",
		    r == CS_ENOMEM ? "out of memory" :
		                     "the provider sent too many tool calls");
	json_object_object_get_ex(cb, "id", &v);
	cs_json_copy_str(tc->id, sizeof(tc->id), v);
	v = NULL;
	json_object_object_get_ex(cb, "name", &v);
	cs_json_copy_str(tc->name, sizeof(tc->name), v);
	v = NULL;
	if (json_object_object_get_ex(cb, "input", &v) && v != NULL)
		tc->input = json_object_get(v);
	return CS_OK;
}

static enum cs_err
block_delta(struct cs_adapter *a, struct json_object *chunk)
{
	struct json_object *d = NULL, *type = NULL, *v = NULL;
	struct cs_toolcall *tc;
	const char *t;

	if (!json_object_object_get_ex(chunk, "delta", &d) ||
	    !json_object_is_type(d, json_type_object) ||
	    !json_object_object_get_ex(d, "type", &type) ||
	    !json_object_is_type(type, json_type_string))
		return CS_OK;
	t = json_object_get_string(type);
	if (strcmp(t, "text_delta") == 0) {
		json_object_object_get_ex(d, "text", &v);
		return cs_adapter_text(&a->b, CS_TEXT_CONTENT, v);
	}
	if (strcmp(t, "thinking_delta") == 0) {
		json_object_object_get_ex(d, "thinking", &v);
		return cs_adapter_text(&a->b, CS_TEXT_REASONING, v);
	}
	if (strcmp(t, "input_json_delta") != 0)
		return CS_OK; /* signature_delta, citations_delta, ... */
	if ((tc = find_call(a, get_index(chunk))) == NULL)
		return CS_OK; /* a block we do not surface */
	if (json_object_object_get_ex(d, "partial_json", &v) &&
	    json_object_is_type(v, json_type_string) &&
	    cs_buf_append(&tc->args, json_object_get_string(v),
	        (size_t)json_object_get_string_len(v)) != CS_OK)
		return cs_adapter_fail(&a->b, "upstream_error",
		    "a tool call's arguments exceed the size limit");
	return CS_OK;
}

/* The usage counters of the wire format, in struct cs_adapter order. */
static const char *const usage_keys[] = {
	"input_tokens",
	"output_tokens",
	"cache_read_input_tokens",
	"cache_creation_input_tokens",
};

/* message_start's usage (all counters, reset) or message_delta's
 * (cumulative: every non-null member overrides the start value). */
static void
read_usage(struct cs_adapter *a, struct json_object *u, int merge)
{
	long long *f[] = { &a->in, &a->out, &a->cache_read, &a->cache_write };
	struct json_object *v;
	size_t i;

	if (!json_object_is_type(u, json_type_object))
		return;
	for (i = 0; i < CS_ARRAY_LEN(f); i++)
		if (!merge ||
		    (json_object_object_get_ex(u, usage_keys[i], &v) &&
		        v != NULL))
			*f[i] = cs_json_count(u, usage_keys[i]);
}

static const char *
map_finish(const char *r)
{
	static const struct {
		const char *from, *to;
	} map[] = {
		{ "end_turn", "stop" },
		{ "stop_sequence", "stop" },
		{ "max_tokens", "length" },
		{ "tool_use", "tool_calls" },
		{ "refusal", "content_filter" },
	};
	size_t i;

	if (r == NULL)
		return "unknown";
	for (i = 0; i < CS_ARRAY_LEN(map); i++)
		if (strcmp(r, map[i].from) == 0)
			return map[i].to;
	return "other";
}

static enum cs_err
emit_finish(struct cs_adapter *a)
{
	struct cs_usage u;
	const char *native;
	enum cs_err r;

	/* Blocks never closed with content_block_stop still go out. */
	if ((r = cs_toolcalls_emit_all(&a->b.calls, a->b.emit, a->b.ctx)) !=
	    CS_OK)
		return r;
	native = a->finish[0] ? a->finish : NULL;
	/* Cache reads and writes count apart from input_tokens. */
	u.prompt = a->in;
	if (a->in != CS_USAGE_NONE)
		u.prompt += (a->cache_read > 0 ? a->cache_read : 0) +
		    (a->cache_write > 0 ? a->cache_write : 0);
	u.completion = a->out;
	u.total = u.reasoning = CS_USAGE_NONE;
	u.cached = a->cache_read;
	return cs_adapter_finish(&a->b, map_finish(native), native, &u);
}

static enum cs_err
handle(struct cs_adapter *a, const char *type, struct json_object *chunk)
{
	struct json_object *v = NULL, *w = NULL;
	struct cs_toolcall *tc;

	if (strcmp(type, "message_start") == 0) {
		if (json_object_object_get_ex(chunk, "message", &v) &&
		    json_object_is_type(v, json_type_object) &&
		    json_object_object_get_ex(v, "usage", &w))
			read_usage(a, w, 0);
		return CS_OK;
	}
	if (strcmp(type, "content_block_start") == 0)
		return block_start(a, chunk);
	if (strcmp(type, "content_block_delta") == 0)
		return block_delta(a, chunk);
	if (strcmp(type, "content_block_stop") == 0) {
		if ((tc = find_call(a, get_index(chunk))) != NULL)
			return cs_toolcall_emit(tc, a->b.emit, a->b.ctx);
		return CS_OK;
	}
	if (strcmp(type, "message_delta") == 0) {
		if (json_object_object_get_ex(chunk, "delta", &v) &&
		    json_object_is_type(v, json_type_object) &&
		    json_object_object_get_ex(v, "stop_reason", &w))
			cs_json_copy_str(a->finish, sizeof(a->finish), w);
		if (json_object_object_get_ex(chunk, "usage", &v))
			read_usage(a, v, 1);
		return CS_OK;
	}
	if (strcmp(type, "message_stop") == 0) {
		a->b.done = 1;
		return emit_finish(a);
	}
	if (strcmp(type, "error") == 0) {
		json_object_object_get_ex(chunk, "error", &v);
		return cs_adapter_error(&a->b, v);
	}
	return CS_OK; /* ping and event types added later */
}

static enum cs_err
on_sse(void *ctx, const struct cs_sse_event *sev)
{
	struct cs_adapter *a = ctx;
	struct json_object *chunk = NULL, *v = NULL;
	const char *type;
	enum cs_err r;

	chunk = cs_adapter_parse(&a->b, sev);
	if (chunk == NULL || !json_object_is_type(chunk, json_type_object)) {
		if (strcmp(sev->type, "error") == 0)
			r = cs_adapter_fail(&a->b, "upstream_error",
			    "the provider reported an error");
		else
			r = cs_adapter_fail(&a->b, "upstream_error",
			    "the provider sent a malformed stream event");
		goto out;
	}
	/* The data's own "type" names the event; the SSE event: line is
	 * the fallback. */
	if (json_object_object_get_ex(chunk, "type", &v) &&
	    json_object_is_type(v, json_type_string))
		type = json_object_get_string(v);
	else
		type = sev->type;
	if (strcmp(sev->type, "error") == 0)
		type = "error";
	r = handle(a, type, chunk);
out:
	json_object_put(chunk);
	return r;
}

static enum cs_err
an_init(void *p)
{
	struct cs_adapter *a = p;

	a->in = a->out = a->cache_read = a->cache_write = CS_USAGE_NONE;
	return CS_OK;
}

static const struct cs_sse_format an_sse = {
	.size = sizeof(struct cs_adapter),
	.init = an_init,
	.on_event = on_sse,
	.truncated = "the provider's stream ended before message_stop "
	             "(truncated)",
};

static struct json_object *
new_string(const struct cs_message *m)
{
	return json_object_new_string_len(m->content, (int)m->content_len);
}

/* An assistant message's tool calls: tool_use blocks with the arguments
 * parsed into "input" ({} if they are not a JSON object). */
static const struct cs_tool_calls_shape an_calls = {
	.type = "tool_use",
	.id_key = "id",
	.args_key = "input",
	.args_object = 1,
};

/* An assistant message with tool calls as content blocks: its text (if
 * any), then one tool_use per call. */
static struct json_object *
an_tool_use_blocks(const struct cs_message *msg)
{
	struct json_object *parts, *part = NULL;

	if ((parts = json_object_new_array()) == NULL)
		return NULL;
	if (msg->content_len > 0) {
		if ((part = json_object_new_object()) == NULL ||
		    json_object_array_add(parts, part) != 0)
			goto fail;
		json_object_object_add(
		    part, "type", json_object_new_string("text"));
		json_object_object_add(part, "text", new_string(msg));
		part = NULL; /* parts holds it */
	}
	if (cs_build_tool_calls(parts, msg, &an_calls) == CS_OK)
		return parts;
fail:
	json_object_put(part);
	json_object_put(parts);
	return NULL;
}

/* tool_choice: {"type":"auto"|"none"|"any"} or {"type":"tool","name"}. */
static const struct cs_tool_choice_shape an_choice = {
	.required_word = "any",
	.wrapped = 1,
	.named_type = "tool",
};

/*
 * tools: {"name","description"?,"input_schema"} each (a tool without
 * parameters gets an empty object schema), and tool_choice: auto ->
 * {"type":"auto"}, required -> {"type":"any"}, named -> {"type":"tool",
 * "name"}, none -> {"type":"none"} (the tools stay defined, as a history
 * with tool_use blocks needs them).
 */
static const struct cs_tools_shape an_tools = {
	.params_key = "input_schema",
	.params_default = 1,
	.choice = &an_choice,
};

static enum cs_err
an_build(const struct cs_upstream_cfg *up, const struct cs_chat_request *req,
    struct cs_http_request *hr)
{
	struct json_object *root = NULL, *msgs, *m, *parts, *part;
	struct cs_buf sys;
	enum cs_err r = CS_ENOMEM;
	const struct cs_message *msg;
	size_t i, n_sys;

	cs_buf_init(&sys, CS_MAX_REQUEST_BODY);
	if ((r = cs_buf_printf(&hr->url, "%s/messages", up->base_url_eff)) !=
	    CS_OK)
		goto fail;
	r = CS_ENOMEM;
	if ((root = json_object_new_object()) == NULL)
		goto fail;
	json_object_object_add(
	    root, "model", json_object_new_string(cs_request_wire_model(req)));
	json_object_object_add(root, "max_tokens",
	    json_object_new_int64(
	        req->max_tokens > 0 ? req->max_tokens : DEFAULT_MAX_TOKENS));
	json_object_object_add(root, "stream", json_object_new_boolean(1));
	/* System messages go to the top-level "system", joined. */
	if ((r = cs_build_join_system(req, &sys, 0, &n_sys)) != CS_OK)
		goto fail;
	r = CS_ENOMEM;
	if (sys.len > 0)
		json_object_object_add(root, "system",
		    json_object_new_string_len(sys.data, (int)sys.len));
	if ((msgs = json_object_new_array()) == NULL)
		goto fail;
	json_object_object_add(root, "messages", msgs);
	for (i = 0; i < req->n_messages; i++) {
		msg = &req->messages[i];
		if (msg->role == CS_ROLE_SYSTEM)
			continue;
		if ((m = json_object_new_object()) == NULL)
			goto fail;
		json_object_array_add(msgs, m);
		json_object_object_add(m, "role",
		    json_object_new_string(
		        msg->role == CS_ROLE_ASSISTANT ? "assistant" : "user"));
		if (msg->n_tool_calls > 0) {
			if ((parts = an_tool_use_blocks(msg)) == NULL)
				goto fail;
			json_object_object_add(m, "content", parts);
			continue;
		}
		if (msg->role != CS_ROLE_TOOL) {
			json_object_object_add(m, "content", new_string(msg));
			continue;
		}
		if ((parts = json_object_new_array()) == NULL ||
		    (part = json_object_new_object()) == NULL) {
			json_object_put(parts);
			goto fail;
		}
		json_object_object_add(m, "content", parts);
		json_object_array_add(parts, part);
		json_object_object_add(
		    part, "type", json_object_new_string("tool_result"));
		json_object_object_add(part, "tool_use_id",
		    json_object_new_string(
		        msg->tool_call_id ? msg->tool_call_id : ""));
		json_object_object_add(part, "content", new_string(msg));
	}
	if (req->has_temperature)
		json_object_object_add(root, "temperature",
		    json_object_new_double(req->temperature));
	cs_build_stop(root, req, "stop_sequences");
	if ((r = cs_build_tools(root, req, &an_tools)) != CS_OK ||
	    (r = cs_http_add_header(
	         hr, "anthropic-version: " ANTHROPIC_VERSION)) != CS_OK)
		goto fail;
	r = cs_http_json_request(
	    hr, root, "text/event-stream", AUTH_HEADER, up->api_key);
fail:
	cs_buf_free(&sys);
	json_object_put(root);
	return r;
}

const struct cs_provider cs_provider_anthropic = {
	.name = "anthropic",
	.base_url = "https://api.anthropic.com/v1",
	.base_url_env = "ANTHROPIC_BASE_URL",
	.key_env = "ANTHROPIC_API_KEY",
	.model = "claude-3-5-haiku-latest",
	.auth_header = AUTH_HEADER,
	.build = an_build,
	.adapter = &cs_sse_adapter,
	.sse = &an_sse,
	.no_response_format = "ask for a tool call instead (tools with one "
	                      "function whose parameters are the schema, and "
	                      "tool_choice naming it), or use a model of an "
	                      "OpenAI-family or Ollama upstream",
};
