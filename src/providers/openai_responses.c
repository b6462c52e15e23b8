/*
 * providers/openai_responses.c — OpenAI Responses API
 * (POST {base_url}/responses, stream:true).
 *
 * The body is SSE; every event is "event: <type>" plus a data object with
 * the same "type".  Text, refusal and reasoning deltas go out at once;
 * function calls are gathered by output_index and emitted whole when
 * their arguments are done (or their output item is, or at the latest
 * before the finish).  There is no [DONE]: response.completed and
 * response.incomplete end the stream with the finish event (usage is the
 * terminal response.usage), response.failed and an "error" event end it
 * with an error.  EOF before a terminal event is a truncated stream.
 */
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>
#include <json-c/json.h>

#include "config.h"
#include "openai_stream.h"
#include "provider.h"
#include "request.h"
#include "toolcalls.h"

#define INSTR_MAX (CS_MAX_REQUEST_BODY * 2)

/* b.calls: by output_index; a call's id is its call_id. */
struct cs_adapter {
	struct cs_adapter_base b; /* first; done: terminal event seen */
};

/* A member of o that is a string, or NULL. */
static struct json_object *
get_str(struct json_object *o, const char *key)
{
	struct json_object *v = NULL;

	if (o == NULL || !json_object_is_type(o, json_type_object) ||
	    !json_object_object_get_ex(o, key, &v) ||
	    !json_object_is_type(v, json_type_string))
		return NULL;
	return v;
}

/* A member of o that is an object, or NULL. */
static struct json_object *
get_obj(struct json_object *o, const char *key)
{
	struct json_object *v = NULL;

	if (o == NULL || !json_object_is_type(o, json_type_object) ||
	    !json_object_object_get_ex(o, key, &v) ||
	    !json_object_is_type(v, json_type_object))
		return NULL;
	return v;
}

static long
output_index(struct json_object *ev)
{
	struct json_object *v = NULL;

	if (json_object_object_get_ex(ev, "output_index", &v) &&
	    json_object_is_type(v, json_type_int))
		return (long)json_object_get_int64(v);
	return -1;
}

/* The call at output_index index, or NULL; a new one (NULL: too many,
 * or out of memory). */
static struct cs_toolcall *
tool_find(struct cs_adapter *a, long index)
{
	return cs_toolcalls_find(&a->b.calls, index, 0);
}

static struct cs_toolcall *
tool_open(struct cs_adapter *a, long index)
{
	struct cs_toolcall *tc;

	return cs_toolcalls_open(&a->b.calls, index, &tc) == CS_OK ? tc : NULL;
}

static enum cs_err
tool_set_args(
    struct cs_adapter *a, struct cs_toolcall *tc, struct json_object *args)
{
	cs_buf_reset(&tc->args);
	if (cs_buf_append(&tc->args, json_object_get_string(args),
	        (size_t)json_object_get_string_len(args)) != CS_OK)
		return cs_adapter_fail(&a->b, "upstream_error",
		    "a tool call's arguments exceed the size limit");
	return CS_OK;
}

static enum cs_err
emit_tool_call(struct cs_adapter *a, struct cs_toolcall *tc)
{
	return cs_toolcall_emit(tc, a->b.emit, a->b.ctx);
}

/* response.output_item.added / .done with a function_call item. */
static enum cs_err
function_item(struct cs_adapter *a, struct json_object *ev, int done)
{
	struct json_object *item = get_obj(ev, "item"), *args;
	struct cs_toolcall *tc;
	long index = output_index(ev);
	enum cs_err r;

	if (item == NULL || get_str(item, "type") == NULL ||
	    strcmp(json_object_get_string(get_str(item, "type")),
	        "function_call") != 0)
		return CS_OK;
	if ((tc = tool_find(a, index)) == NULL || (!done && tc->emitted)) {
		if ((tc = tool_open(a, index)) == NULL)
			return cs_adapter_fail(&a->b, "upstream_error",
			    "the provider sent too many tool calls");
	}
	if (tc->emitted)
		return CS_OK;
	if (tc->id[0] == '\0')
		cs_json_copy_str(
		    tc->id, sizeof(tc->id), get_str(item, "call_id"));
	if (tc->name[0] == '\0')
		cs_json_copy_str(
		    tc->name, sizeof(tc->name), get_str(item, "name"));
	if (!done)
		return CS_OK;
	/* The done item carries the complete arguments. */
	if ((args = get_str(item, "arguments")) != NULL &&
	    (r = tool_set_args(a, tc, args)) != CS_OK)
		return r;
	return emit_tool_call(a, tc);
}

static enum cs_err
function_args(struct cs_adapter *a, struct json_object *ev, int done)
{
	struct json_object *v;
	struct cs_toolcall *tc;
	long index = output_index(ev);

	if ((tc = tool_find(a, index)) != NULL && tc->emitted)
		return CS_OK; /* a repeated done */
	/* Arguments for an item we never saw added open one. */
	if (tc == NULL && (tc = tool_open(a, index)) == NULL)
		return cs_adapter_fail(&a->b, "upstream_error",
		    "the provider sent too many tool calls");
	if (!done) {
		if ((v = get_str(ev, "delta")) != NULL &&
		    cs_buf_append(&tc->args, json_object_get_string(v),
		        (size_t)json_object_get_string_len(v)) != CS_OK)
			return cs_adapter_fail(&a->b, "upstream_error",
			    "a tool call's arguments exceed the size limit");
		return CS_OK;
	}
	if ((v = get_str(ev, "arguments")) != NULL) {
		enum cs_err r = tool_set_args(a, tc, v);

		if (r != CS_OK)
			return r;
	}
	/* Without a name yet, wait for output_item.done to supply it. */
	if (tc->name[0] == '\0')
		return CS_OK;
	return emit_tool_call(a, tc);
}

/* Map response.incomplete_details.reason onto the native set. */
static const char *
incomplete_reason(struct json_object *resp)
{
	struct json_object *reason = get_str(
	    get_obj(resp, "incomplete_details"), "reason");
	const char *s;

	if (reason == NULL)
		return "other";
	s = json_object_get_string(reason);
	if (strcmp(s, "max_output_tokens") == 0)
		return "length";
	if (strcmp(s, "content_filter") == 0)
		return "content_filter";
	return "other";
}

/* The counts of response.usage. */
static void
read_usage(struct cs_usage *u, struct json_object *o)
{
	u->prompt = cs_json_count(o, "input_tokens");
	u->completion = cs_json_count(o, "output_tokens");
	u->total = cs_json_count(o, "total_tokens");
	u->cached = cs_json_count(
	    get_obj(o, "input_tokens_details"), "cached_tokens");
	u->reasoning = cs_json_count(
	    get_obj(o, "output_tokens_details"), "reasoning_tokens");
}

/* response.completed / response.incomplete. */
static enum cs_err
emit_finish(struct cs_adapter *a, struct json_object *resp, int incomplete)
{
	struct json_object *status = get_str(resp, "status");
	struct cs_usage u;
	const char *native;
	enum cs_err r;

	a->b.done = 1;
	/* The calls whose done events never came, in output order. */
	if ((r = cs_toolcalls_emit_all(&a->b.calls, a->b.emit, a->b.ctx)) !=
	    CS_OK)
		return r;
	native = status != NULL ? json_object_get_string(status) :
	    incomplete          ? "incomplete" :
	                          "completed";
	read_usage(&u, get_obj(resp, "usage"));
	return cs_adapter_finish(&a->b,
	    incomplete ? incomplete_reason(resp) :
	        cs_toolcalls_emitted(&a->b.calls) > 0 ? "tool_calls" :
	                                                "stop",
	    native, &u);
}

/* An "error" event: {"type":"error","code","message",...}, or the same
 * fields nested in "error". */
static enum cs_err
error_event(struct cs_adapter *a, struct json_object *ev)
{
	struct json_object *m = get_str(ev, "message");

	if (m != NULL)
		return cs_adapter_fail(
		    &a->b, "upstream_error", json_object_get_string(m));
	return cs_adapter_error(&a->b, json_object_object_get(ev, "error"));
}

static enum cs_err
failed_event(struct cs_adapter *a, struct json_object *resp)
{
	struct json_object *m = get_str(get_obj(resp, "error"), "message");

	return cs_adapter_fail(&a->b, "upstream_error",
	    m != NULL ? json_object_get_string(m) :
	                "the provider reported the response "
	                "failed");
}

static enum cs_err
on_sse(void *ctx, const struct cs_sse_event *sev)
{
	struct cs_adapter *a = ctx;
	struct json_object *ev = NULL, *t;
	enum cs_err r = CS_OK;
	const char *type;

	if (strcmp(sev->data, "[DONE]") == 0)
		return cs_adapter_fail(&a->b, "upstream_error",
		    "the provider's stream ended before response.completed "
		    "(truncated)");
	ev = cs_adapter_parse(&a->b, sev);
	if (ev == NULL || !json_object_is_type(ev, json_type_object)) {
		r = cs_adapter_fail(&a->b, "upstream_error",
		    "the provider sent a malformed stream event");
		goto out;
	}
	/* The data's "type" is authoritative; the event: line repeats it. */
	t = get_str(ev, "type");
	type = t != NULL ? json_object_get_string(t) : sev->type;
	if (strcmp(type, "response.output_text.delta") == 0)
		r = cs_adapter_text(
		    &a->b, CS_TEXT_CONTENT, get_str(ev, "delta"));
	else if (strcmp(type, "response.refusal.delta") == 0)
		r = cs_adapter_text(
		    &a->b, CS_TEXT_REFUSAL, get_str(ev, "delta"));
	else if (strcmp(type, "response.reasoning_summary_text.delta") == 0 ||
	    strcmp(type, "response.reasoning_text.delta") == 0)
		r = cs_adapter_text(
		    &a->b, CS_TEXT_REASONING, get_str(ev, "delta"));
	else if (strcmp(type, "response.output_item.added") == 0)
		r = function_item(a, ev, 0);
	else if (strcmp(type, "response.output_item.done") == 0)
		r = function_item(a, ev, 1);
	else if (strcmp(type, "response.function_call_arguments.delta") == 0)
		r = function_args(a, ev, 0);
	else if (strcmp(type, "response.function_call_arguments.done") == 0)
		r = function_args(a, ev, 1);
	else if (strcmp(type, "response.completed") == 0)
		r = emit_finish(a, get_obj(ev, "response"), 0);
	else if (strcmp(type, "response.incomplete") == 0)
		r = emit_finish(a, get_obj(ev, "response"), 1);
	else if (strcmp(type, "response.failed") == 0)
		r = failed_event(a, get_obj(ev, "response"));
	else if (strcmp(type, "error") == 0)
		r = error_event(a, ev);
	/* Anything else (created, in_progress, content_part.*, *.done,
	 * annotations, ...) carries nothing new. */
out:
	json_object_put(ev);
	return r;
}

static const struct cs_sse_format or_sse = {
	.size = sizeof(struct cs_adapter),
	.on_event = on_sse,
	.truncated = "the provider's stream ended before response.completed "
	             "(truncated)",
};

/* tool_choice: "auto", "none", "required" or {"type":"function","name"}. */
static const struct cs_tool_choice_shape or_choice = {
	.required_word = "required",
	.named_type = "function",
};

/* tools flattened to {"type":"function","name","description"?,
 * "parameters"?,"strict"?}, then tool_choice. */
static const struct cs_tools_shape or_tools = {
	.type = "function",
	.strict = 1,
	.choice = &or_choice,
};

/* An assistant message's tool calls: function_call input items. */
static const struct cs_tool_calls_shape or_calls = {
	.type = "function_call",
	.id_key = "call_id",
	.args_key = "arguments",
};

/* Structured output: text.format, the Chat Completions response_format
 * with its json_schema's fields one level up. */
static enum cs_err
or_text_format(struct json_object *root, const struct cs_chat_request *req)
{
	struct json_object *text, *fmt, *js;

	if (req->response_format == NULL)
		return CS_OK;
	if ((text = json_object_new_object()) == NULL ||
	    (fmt = json_object_new_object()) == NULL) {
		json_object_put(text);
		return CS_ENOMEM;
	}
	json_object_object_add(text, "format", fmt);
	json_object_object_add(root, "text", text);
	json_object_object_add(fmt, "type",
	    json_object_get(
	        json_object_object_get(req->response_format, "type")));
	js = json_object_object_get(req->response_format, "json_schema");
	if (js != NULL) {
		json_object_object_foreach(js, key, val)
		    json_object_object_add(fmt, key, json_object_get(val));
	}
	return CS_OK;
}

/*
 * System messages become "instructions" (joined with a blank line); user
 * and assistant messages become input messages; an assistant's tool calls
 * become function_call items after its text; tool results become
 * function_call_output items.  Empty assistant text (a turn that only
 * made tool calls) is left out.
 */
static enum cs_err
or_build(const struct cs_upstream_cfg *up, const struct cs_chat_request *req,
    struct cs_http_request *hr)
{
	struct json_object *root = NULL, *input, *m;
	const struct cs_message *msg;
	struct cs_buf instr;
	enum cs_err r = CS_ENOMEM;
	size_t i, n_sys;

	cs_buf_init(&instr, INSTR_MAX);
	if ((r = cs_buf_printf(&hr->url, "%s/responses", up->base_url_eff)) !=
	    CS_OK)
		goto fail;
	r = CS_ENOMEM;
	if ((root = json_object_new_object()) == NULL ||
	    (input = json_object_new_array()) == NULL)
		goto fail;
	json_object_object_add(
	    root, "model", json_object_new_string(cs_request_wire_model(req)));
	json_object_object_add(root, "stream", json_object_new_boolean(1));
	if ((r = cs_build_join_system(req, &instr, 1, &n_sys)) != CS_OK) {
		json_object_put(input);
		goto fail;
	}
	r = CS_ENOMEM;
	if (n_sys > 0)
		json_object_object_add(root, "instructions",
		    json_object_new_string_len(
		        instr.data ? instr.data : "", (int)instr.len));
	json_object_object_add(root, "input", input);
	for (i = 0; i < req->n_messages; i++) {
		msg = &req->messages[i];
		if (msg->role == CS_ROLE_SYSTEM)
			continue;
		if (msg->role == CS_ROLE_ASSISTANT && msg->content_len == 0) {
			if ((r = cs_build_tool_calls(input, msg, &or_calls)) !=
			    CS_OK)
				goto fail;
			r = CS_ENOMEM;
			continue;
		}
		if ((m = json_object_new_object()) == NULL)
			goto fail;
		json_object_array_add(input, m);
		if (msg->role == CS_ROLE_TOOL) {
			json_object_object_add(m, "type",
			    json_object_new_string("function_call_output"));
			if (msg->tool_call_id != NULL)
				json_object_object_add(m, "call_id",
				    json_object_new_string(msg->tool_call_id));
			json_object_object_add(m, "output",
			    json_object_new_string_len(
			        msg->content, (int)msg->content_len));
			continue;
		}
		json_object_object_add(
		    m, "role", json_object_new_string(cs_role_name(msg->role)));
		json_object_object_add(m, "content",
		    json_object_new_string_len(
		        msg->content, (int)msg->content_len));
		if ((r = cs_build_tool_calls(input, msg, &or_calls)) != CS_OK)
			goto fail;
		r = CS_ENOMEM;
	}
	if (req->max_tokens > 0)
		json_object_object_add(root, "max_output_tokens",
		    json_object_new_int64(req->max_tokens));
	if (req->has_temperature)
		json_object_object_add(root, "temperature",
		    json_object_new_double(req->temperature));
	if ((r = cs_build_tools(root, req, &or_tools)) != CS_OK ||
	    (r = or_text_format(root, req)) != CS_OK)
		goto fail;
	r = cs_http_json_request(
	    hr, root, "text/event-stream", CS_OPENAI_AUTH_HEADER, up->api_key);
fail:
	cs_buf_free(&instr);
	json_object_put(root);
	return r;
}

const struct cs_provider cs_provider_openai_responses = {
	.name = "openai-responses",
	CS_OPENAI_DEFAULTS,
	.model = "gpt-4o-mini",
	.build = or_build,
	.adapter = &cs_sse_adapter,
	.sse = &or_sse,
	.no_stop = "the Responses API has none; use a model of an upstream "
	           "with provider = openai-chat",
};
