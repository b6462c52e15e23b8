/*
 * responses_api.c — the Responses API's request; see responses_api.h.
 *
 * A Responses body is translated into chatstream's native request (the
 * Chat Completions shape, request.h), which then goes through
 * cs_chat_parse() with all its checks and limits, like every protocol:
 *  - input: a string (one user message) or items: messages (role user,
 *    system, developer or assistant; content a string or input_text /
 *    output_text / refusal parts), function_call items (the assistant's
 *    tool_calls: consecutive calls, and calls right after an assistant
 *    message, join that message), function_call_output items (tool
 *    messages), reasoning items (dropped: the model's own earlier
 *    thinking, which no upstream takes back in this shape);
 *  - instructions (the native instructions), max_output_tokens
 *    (max_tokens), temperature, tools (type function, flattened as
 *    Responses spells them, into Chat Completions' nested shape),
 *    tool_choice (auto, none, required, {"type":"function","name"}),
 *    text.format (text, json_object, json_schema: the native
 *    response_format), stream;
 *  - store, metadata, user, parallel_tool_calls, service_tier,
 *    truncation, include, prompt_cache_key, safety_identifier and
 *    stream_options are accepted and change nothing (the response says
 *    "store": false);
 *  - previous_response_id, conversation and item_reference items need
 *    responses kept on the server, and chatstream keeps none: 400, saying
 *    to send the conversation as input;
 *  - anything else (top_p, reasoning, background, images, hosted tools,
 *    ...) is 400 naming it: a client must not believe an option took
 *    effect when it did not.
 * An unknown model is 404 model_not_found.  A body that is not strict
 * JSON goes to cs_chat_parse() unchanged, which says what is wrong.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <json-c/json.h>

#include "chat.h"
#include "config.h"
#include "encoder.h"
#include "json_strict.h"
#include "openai_api.h"
#include "request.h"
#include "responses_api.h"
#include "stream.h"
#include "worker.h"

static const char *const ignored_fields[] = {
	"store",
	"metadata",
	"user",
	"parallel_tool_calls",
	"service_tier",
	"truncation",
	"include",
	"prompt_cache_key",
	"safety_identifier",
	"stream_options",
};

#define NO_STORE \
	"this server keeps no responses (\"store\" is always false): send " \
	"the whole conversation as input"

/* The translation: the native body being built and where it stands. */
struct rsp {
	struct cs_stream *s;
	struct json_object *out;      /* the native request */
	struct json_object *messages; /* out's "messages" */
	struct json_object *last;     /* the assistant message calls join */
	int stream;
};

/* Write the 400 (message from fmt) and return CS_EHANDLED. */
static enum cs_err __attribute__((format(printf, 2, 3)))
bad(struct rsp *t, const char *fmt, ...)
{
	char msg[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	cs_stream_fail(t->s, CS_FAIL_INVALID, msg);
	return CS_EHANDLED;
}

/* o's string member key, or NULL if absent, null or not a string. */
static const char *
str_of(struct json_object *o, const char *key)
{
	struct json_object *v;

	if (!json_object_object_get_ex(o, key, &v) ||
	    !json_object_is_type(v, json_type_string))
		return NULL;
	return json_object_get_string(v);
}

/* Every key of o is one of keys (n of them): CS_OK, or the 400 naming
 * where.key. */
static enum cs_err
only_keys(struct rsp *t, struct json_object *o, const char *where,
    const char *const *keys, size_t n)
{
	char e[CS_ECHO_MAX + 4];
	size_t i;

	json_object_object_foreach(o, key, val)
	{
		(void)val;
		for (i = 0; i < n && strcmp(key, keys[i]) != 0; i++)
			;
		if (i == n)
			return bad(t, "%s: unknown field \"%s\"", where,
			    cs_echo(e, key, strlen(key)));
	}
	return CS_OK;
}

/* A required string member: CS_OK and *v, or the 400. */
static enum cs_err
need_str(struct rsp *t, struct json_object *o, const char *where,
    const char *key, struct json_object **v)
{
	if (json_object_object_get_ex(o, key, v) &&
	    json_object_is_type(*v, json_type_string))
		return CS_OK;
	return bad(t, "%s.%s: must be a string", where, key);
}

/* Text content (a string, or text parts) as the native content: a string,
 * or an array of {"type":"text","text"}; *out is a new reference. */
static enum cs_err
text_content(struct rsp *t, struct json_object *c, const char *where,
    struct json_object **out)
{
	struct json_object *parts, *p, *text, *np;
	const char *type;
	char e[CS_ECHO_MAX + 4];
	size_t i, n;

	*out = NULL;
	if (json_object_is_type(c, json_type_string)) {
		*out = json_object_get(c);
		return CS_OK;
	}
	if (!json_object_is_type(c, json_type_array))
		return bad(
		    t, "%s: must be a string or an array of parts", where);
	if ((parts = json_object_new_array()) == NULL)
		return bad(t, "out of memory");
	for (i = 0, n = json_object_array_length(c); i < n; i++) {
		p = json_object_array_get_idx(c, i);
		type = json_object_is_type(p, json_type_object) ?
		    str_of(p, "type") :
		    NULL;
		if (type == NULL) {
			json_object_put(parts);
			return bad(t, "%s[%zu]: must be an object with a type",
			    where, i);
		}
		if (strcmp(type, "input_text") != 0 &&
		    strcmp(type, "output_text") != 0 &&
		    strcmp(type, "refusal") != 0) {
			json_object_put(parts);
			return bad(t,
			    "%s[%zu].type: only text is accepted here "
			    "(input_text, output_text), not \"%s\"",
			    where, i, cs_echo(e, type, strlen(type)));
		}
		if (!json_object_object_get_ex(p,
		        strcmp(type, "refusal") == 0 ? "refusal" : "text",
		        &text) ||
		    !json_object_is_type(text, json_type_string)) {
			json_object_put(parts);
			return bad(t, "%s[%zu].%s: must be a string", where, i,
			    strcmp(type, "refusal") == 0 ? "refusal" : "text");
		}
		np = json_object_new_object();
		json_object_object_add(
		    np, "type", json_object_new_string("text"));
		json_object_object_add(np, "text", json_object_get(text));
		json_object_array_add(parts, np);
	}
	*out = parts;
	return CS_OK;
}

static const char *const message_keys[] = { "type", "id", "role", "content",
	"status" };
static const char *const call_keys[] = { "type", "id", "call_id", "name",
	"arguments", "status" };
static const char *const output_keys[] = { "type", "id", "call_id", "output",
	"status" };

static enum cs_err
message_item(struct rsp *t, struct json_object *it, const char *where)
{
	static const char *const roles[] = { "user", "system", "developer",
		"assistant" };
	struct json_object *c, *content = NULL, *m;
	char w[48];
	const char *role;
	size_t k;

	if (only_keys(t, it, where, message_keys, CS_ARRAY_LEN(message_keys)) !=
	    CS_OK)
		return CS_EHANDLED;
	role = str_of(it, "role");
	for (k = 0; role != NULL && k < CS_ARRAY_LEN(roles) &&
	     strcmp(role, roles[k]) != 0;
	     k++)
		;
	if (role == NULL || k == CS_ARRAY_LEN(roles))
		return bad(t,
		    "%s.role: must be user, system, developer or "
		    "assistant",
		    where);
	if (!json_object_object_get_ex(it, "content", &c))
		return bad(t, "%s.content: missing", where);
	snprintf(w, sizeof(w), "%s.content", where);
	if (text_content(t, c, w, &content) != CS_OK)
		return CS_EHANDLED;
	m = json_object_new_object();
	json_object_object_add(m, "role", json_object_new_string(role));
	json_object_object_add(m, "content", content);
	json_object_array_add(t->messages, m);
	t->last = strcmp(role, "assistant") == 0 ? m : NULL;
	return CS_OK;
}

static enum cs_err
call_item(struct rsp *t, struct json_object *it, const char *where)
{
	struct json_object *id, *name, *args, *tc, *fn, *calls;

	if (only_keys(t, it, where, call_keys, CS_ARRAY_LEN(call_keys)) !=
	        CS_OK ||
	    need_str(t, it, where, "call_id", &id) != CS_OK ||
	    need_str(t, it, where, "name", &name) != CS_OK ||
	    need_str(t, it, where, "arguments", &args) != CS_OK)
		return CS_EHANDLED;
	if (t->last == NULL) {
		t->last = json_object_new_object();
		json_object_object_add(
		    t->last, "role", json_object_new_string("assistant"));
		json_object_object_add(t->last, "content", NULL);
		json_object_array_add(t->messages, t->last);
	}
	if (!json_object_object_get_ex(t->last, "tool_calls", &calls)) {
		calls = json_object_new_array();
		json_object_object_add(t->last, "tool_calls", calls);
	}
	fn = json_object_new_object();
	json_object_object_add(fn, "name", json_object_get(name));
	json_object_object_add(fn, "arguments", json_object_get(args));
	tc = json_object_new_object();
	json_object_object_add(tc, "id", json_object_get(id));
	json_object_object_add(tc, "type", json_object_new_string("function"));
	json_object_object_add(tc, "function", fn);
	json_object_array_add(calls, tc);
	return CS_OK;
}

static enum cs_err
output_item(struct rsp *t, struct json_object *it, const char *where)
{
	struct json_object *id, *o, *content, *m;
	char w[48];

	if (only_keys(t, it, where, output_keys, CS_ARRAY_LEN(output_keys)) !=
	        CS_OK ||
	    need_str(t, it, where, "call_id", &id) != CS_OK)
		return CS_EHANDLED;
	if (!json_object_object_get_ex(it, "output", &o))
		return bad(t, "%s.output: missing", where);
	snprintf(w, sizeof(w), "%s.output", where);
	if (text_content(t, o, w, &content) != CS_OK)
		return CS_EHANDLED;
	m = json_object_new_object();
	json_object_object_add(m, "role", json_object_new_string("tool"));
	json_object_object_add(m, "tool_call_id", json_object_get(id));
	json_object_object_add(m, "content", content);
	json_object_array_add(t->messages, m);
	t->last = NULL;
	return CS_OK;
}

static enum cs_err
input_item(struct rsp *t, struct json_object *it, size_t i)
{
	char where[32], e[CS_ECHO_MAX + 4];
	const char *type;

	snprintf(where, sizeof(where), "input[%zu]", i);
	if (!json_object_is_type(it, json_type_object))
		return bad(t, "%s: must be an object", where);
	type = str_of(it, "type");
	if (type == NULL || strcmp(type, "message") == 0)
		return message_item(t, it, where);
	if (strcmp(type, "function_call") == 0)
		return call_item(t, it, where);
	if (strcmp(type, "function_call_output") == 0)
		return output_item(t, it, where);
	if (strcmp(type, "reasoning") == 0)
		return CS_OK;
	if (strcmp(type, "item_reference") == 0)
		return bad(t, "%s: an item_reference needs stored items; %s",
		    where, NO_STORE);
	return bad(t, "%s.type: \"%s\" items are not available on this server",
	    where, cs_echo(e, type, strlen(type)));
}

static enum cs_err
take_input(struct rsp *t, struct json_object *v)
{
	struct json_object *m;
	size_t i, n;

	if (json_object_is_type(v, json_type_string)) {
		m = json_object_new_object();
		json_object_object_add(
		    m, "role", json_object_new_string("user"));
		json_object_object_add(m, "content", json_object_get(v));
		json_object_array_add(t->messages, m);
		return CS_OK;
	}
	if (!json_object_is_type(v, json_type_array))
		return bad(t, "input: must be a string or an array of items");
	for (i = 0, n = json_object_array_length(v); i < n; i++)
		if (input_item(t, json_object_array_get_idx(v, i), i) != CS_OK)
			return CS_EHANDLED;
	return CS_OK;
}

/* o's members named keys, those present and not null, into dst. */
static void
copy_keys(struct json_object *dst, struct json_object *o,
    const char *const *keys, size_t n)
{
	struct json_object *v;
	size_t i;

	for (i = 0; i < n; i++)
		if (json_object_object_get_ex(o, keys[i], &v) && v != NULL)
			json_object_object_add(
			    dst, keys[i], json_object_get(v));
}

static enum cs_err
take_tools(struct rsp *t, struct json_object *v)
{
	static const char *const keys[] = { "type", "name", "description",
		"parameters", "strict" };
	struct json_object *tools, *tool, *fn, *nt;
	char where[32], e[CS_ECHO_MAX + 4];
	const char *type;
	size_t i, n;

	if (!json_object_is_type(v, json_type_array))
		return bad(t, "tools: must be an array");
	tools = json_object_new_array();
	json_object_object_add(t->out, "tools", tools);
	for (i = 0, n = json_object_array_length(v); i < n; i++) {
		tool = json_object_array_get_idx(v, i);
		snprintf(where, sizeof(where), "tools[%zu]", i);
		if (!json_object_is_type(tool, json_type_object) ||
		    (type = str_of(tool, "type")) == NULL)
			return bad(
			    t, "%s: must be an object with a type", where);
		if (strcmp(type, "function") != 0)
			return bad(t,
			    "%s.type: only function tools are available "
			    "on this server, not \"%s\"",
			    where, cs_echo(e, type, strlen(type)));
		if (only_keys(t, tool, where, keys, CS_ARRAY_LEN(keys)) !=
		    CS_OK)
			return CS_EHANDLED;
		fn = json_object_new_object();
		copy_keys(fn, tool, keys + 1, CS_ARRAY_LEN(keys) - 1);
		nt = json_object_new_object();
		json_object_object_add(
		    nt, "type", json_object_new_string("function"));
		json_object_object_add(nt, "function", fn);
		json_object_array_add(tools, nt);
	}
	return CS_OK;
}

static enum cs_err
take_tool_choice(struct rsp *t, struct json_object *v)
{
	struct json_object *nc, *fn;
	const char *type, *name;

	if (json_object_is_type(v, json_type_string)) {
		json_object_object_add(
		    t->out, "tool_choice", json_object_get(v));
		return CS_OK;
	}
	type = json_object_is_type(v, json_type_object) ? str_of(v, "type") :
	                                                  NULL;
	name = type != NULL ? str_of(v, "name") : NULL;
	if (type == NULL || strcmp(type, "function") != 0 || name == NULL ||
	    json_object_object_length(v) != 2)
		return bad(t,
		    "tool_choice: must be \"auto\", \"none\", \"required\" "
		    "or {\"type\":\"function\",\"name\":...}");
	fn = json_object_new_object();
	json_object_object_add(fn, "name", json_object_new_string(name));
	nc = json_object_new_object();
	json_object_object_add(nc, "type", json_object_new_string("function"));
	json_object_object_add(nc, "function", fn);
	json_object_object_add(t->out, "tool_choice", nc);
	return CS_OK;
}

/* text: {"format": {...}} into the native response_format. */
static enum cs_err
take_text(struct rsp *t, struct json_object *v)
{
	static const char *const text_keys[] = { "format", "verbosity" };
	static const char *const keys[] = { "type", "name", "description",
		"schema", "strict" };
	struct json_object *f, *verb, *rf, *js;
	const char *type;

	if (!json_object_is_type(v, json_type_object))
		return bad(t, "text: must be an object");
	if (only_keys(t, v, "text", text_keys, CS_ARRAY_LEN(text_keys)) !=
	    CS_OK)
		return CS_EHANDLED;
	if (json_object_object_get_ex(v, "verbosity", &verb) && verb != NULL)
		return bad(t, "text.verbosity: not available on this server");
	if (!json_object_object_get_ex(v, "format", &f) || f == NULL)
		return CS_OK;
	if (!json_object_is_type(f, json_type_object) ||
	    (type = str_of(f, "type")) == NULL)
		return bad(t, "text.format: must be an object with a type");
	if (only_keys(t, f, "text.format", keys, CS_ARRAY_LEN(keys)) != CS_OK)
		return CS_EHANDLED;
	if (strcmp(type, "text") == 0)
		return CS_OK;
	rf = json_object_new_object();
	json_object_object_add(t->out, "response_format", rf);
	json_object_object_add(rf, "type", json_object_new_string(type));
	if (strcmp(type, "json_schema") != 0)
		return CS_OK; /* json_object, or what the native check refuses */
	js = json_object_new_object();
	copy_keys(js, f, keys + 1, CS_ARRAY_LEN(keys) - 1);
	json_object_object_add(rf, "json_schema", js);
	return CS_OK;
}

static int
is_ignored(const char *key)
{
	size_t i;

	for (i = 0; i < CS_ARRAY_LEN(ignored_fields); i++)
		if (strcmp(key, ignored_fields[i]) == 0)
			return 1;
	return 0;
}

/* One top-level member (not null). */
static enum cs_err
take(struct rsp *t, const char *key, struct json_object *v)
{
	char e[CS_ECHO_MAX + 4];

	if (strcmp(key, "input") == 0)
		return take_input(t, v);
	if (strcmp(key, "tools") == 0)
		return take_tools(t, v);
	if (strcmp(key, "tool_choice") == 0)
		return take_tool_choice(t, v);
	if (strcmp(key, "text") == 0)
		return take_text(t, v);
	if (strcmp(key, "model") == 0 || strcmp(key, "instructions") == 0 ||
	    strcmp(key, "temperature") == 0) {
		json_object_object_add(t->out, key, json_object_get(v));
		return CS_OK;
	}
	if (strcmp(key, "max_output_tokens") == 0) {
		json_object_object_add(
		    t->out, "max_tokens", json_object_get(v));
		return CS_OK;
	}
	if (strcmp(key, "stream") == 0) {
		if (!json_object_is_type(v, json_type_boolean))
			return bad(t, "stream: must be a boolean");
		t->stream = json_object_get_boolean(v);
		return CS_OK;
	}
	if (strcmp(key, "previous_response_id") == 0 ||
	    strcmp(key, "conversation") == 0)
		return bad(t, "%s: %s", key, NO_STORE);
	if (is_ignored(key))
		return CS_OK;
	return bad(t, "%s: not available on this server",
	    cs_echo(e, key, strlen(key)));
}

/* The native request for root into t->out. */
static enum cs_err
translate(struct rsp *t, struct json_object *root)
{
	if ((t->out = json_object_new_object()) == NULL ||
	    (t->messages = json_object_new_array()) == NULL)
		return bad(t, "out of memory");
	json_object_object_add(t->out, "messages", t->messages);
	if (!json_object_object_get_ex(root, "input", NULL))
		return bad(
		    t, "input: missing (a string, or an array of items)");
	json_object_object_foreach(root, key, val)
	{
		if (val != NULL && take(t, key, val) != CS_OK)
			return CS_EHANDLED;
	}
	if (json_object_array_length(t->messages) == 0)
		return bad(t, "input: holds no message");
	return CS_OK;
}

void
cs_responses_create(struct cs_worker *w, const struct cs_reqctx *rq,
    struct cs_stream *s, const struct cs_buf *body, const char **model)
{
	const char *data = body->data ? body->data : "";
	size_t len = body->len;
	struct json_object *root = cs_json_strict_object(data, len);
	struct cs_chat_request *req = NULL;
	struct rsp t = { s, NULL, NULL, NULL, 0 };

	(void)rq;
	if (root != NULL &&
	    (cs_v1_check_model(w->cfg, s, root) != CS_OK ||
	        translate(&t, root) != CS_OK))
		goto out;
	if (root != NULL) {
		data = json_object_to_json_string_ext(
		    t.out, JSON_C_TO_STRING_PLAIN);
		len = strlen(data);
	}
	if (cs_chat_parse(w->cfg, s, data, len, &req) != CS_OK)
		goto out;
	*model = req->model->name;
	cs_stream_set_model(s, *model);
	if (t.stream)
		cs_stream_use(s, &cs_encoder_responses);
	cs_chat_provider(w, req, s);
out:
	cs_request_free(req);
	json_object_put(t.out);
	json_object_put(root);
}
