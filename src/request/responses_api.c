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
#include <stdio.h>
#include <string.h>

#include <json-c/json.h>

#include "chat.h"
#include "config.h"
#include "encoder.h"
#include "json_strict.h"
#include "openai_api.h"
#include "request_int.h"
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

/*
 * The translation: the native body being built and where it stands.  An
 * allocation that fails sets oom, and everything after it is skipped
 * until the end reports it (a sticky error, as jsonw.h's).
 */
struct rsp {
	struct cs_reqerr *err;
	struct json_object *out;      /* the native request */
	struct json_object *messages; /* out's "messages" */
	struct json_object *last;     /* the assistant message calls join */
	struct json_object *map;      /* per native message, the input
	                                 items it came from (where_of) */
	struct json_object *last_map; /* map's entry for last */
	int stream;
	int oom;
};

/* The refusal (message from fmt) into t->err; CS_EBADINPUT. */
#define bad(t, ...) cs_req_refuse((t)->err, __VA_ARGS__)

/* o[key] = v (owned; NULL: an allocation failed): v, or NULL. */
static struct json_object *
put(struct rsp *t, struct json_object *o, const char *key,
    struct json_object *v)
{
	if (v == NULL || o == NULL || json_object_object_add(o, key, v) != 0) {
		json_object_put(v);
		t->oom = 1;
		return NULL;
	}
	return v;
}

/* Append v (owned) to the array a: v, or NULL. */
static struct json_object *
push(struct rsp *t, struct json_object *a, struct json_object *v)
{
	if (v == NULL || a == NULL || json_object_array_add(a, v) != 0) {
		json_object_put(v);
		t->oom = 1;
		return NULL;
	}
	return v;
}

static struct json_object *
str(const char *s)
{
	return json_object_new_string(s);
}

/* The native message just pushed came from input item i: map's new entry
 * [i] (the items of a tool call that joins it are appended). */
static struct json_object *
record(struct rsp *t, size_t i)
{
	struct json_object *e = push(t, t->map, json_object_new_array());

	push(t, e, json_object_new_int64((int64_t)i));
	return e;
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

/* A required string member: CS_OK and *v (borrowed), or the 400. */
static enum cs_err
need_str(struct rsp *t, struct json_object *o, const char *where,
    const char *key, struct json_object **v)
{
	if (json_object_object_get_ex(o, key, v) &&
	    json_object_is_type(*v, json_type_string))
		return CS_OK;
	return bad(t, "%s.%s: must be a string", where, key);
}

/* One text part of c (at where[i]) as the native {"type":"text","text"}
 * appended to parts. */
static enum cs_err
text_part(struct rsp *t, struct json_object *parts, struct json_object *p,
    const char *where, size_t i)
{
	struct json_object *text, *np;
	const char *type, *key;
	char e[CS_ECHO_MAX + 4];

	type = json_object_is_type(p, json_type_object) ? str_of(p, "type") :
	                                                  NULL;
	if (type == NULL)
		return bad(
		    t, "%s[%zu]: must be an object with a type", where, i);
	if (strcmp(type, "input_text") != 0 &&
	    strcmp(type, "output_text") != 0 && strcmp(type, "refusal") != 0)
		return bad(t,
		    "%s[%zu].type: only text is accepted here (input_text, "
		    "output_text), not \"%s\"",
		    where, i, cs_echo(e, type, strlen(type)));
	key = strcmp(type, "refusal") == 0 ? "refusal" : "text";
	if (!json_object_object_get_ex(p, key, &text) ||
	    !json_object_is_type(text, json_type_string))
		return bad(t, "%s[%zu].%s: must be a string", where, i, key);
	if ((np = push(t, parts, json_object_new_object())) != NULL) {
		put(t, np, "type", str("text"));
		put(t, np, "text", json_object_get(text));
	}
	return CS_OK;
}

/* Text content (a string, or text parts) as the native content of o: a
 * string, or an array of {"type":"text","text"}. */
static enum cs_err
text_content(struct rsp *t, struct json_object *o, struct json_object *c,
    const char *where)
{
	struct json_object *parts;
	size_t i, n;

	if (json_object_is_type(c, json_type_string)) {
		put(t, o, "content", json_object_get(c));
		return CS_OK;
	}
	if (!json_object_is_type(c, json_type_array))
		return bad(
		    t, "%s: must be a string or an array of parts", where);
	parts = put(t, o, "content", json_object_new_array());
	for (i = 0, n = json_object_array_length(c); i < n; i++)
		if (text_part(t, parts, json_object_array_get_idx(c, i), where,
		        i) != CS_OK)
			return CS_EBADINPUT;
	return CS_OK;
}

static const char *const message_keys[] = { "type", "id", "role", "content",
	"status" };
static const char *const call_keys[] = { "type", "id", "call_id", "name",
	"arguments", "status" };
static const char *const output_keys[] = { "type", "id", "call_id", "output",
	"status" };

static enum cs_err
message_item(struct rsp *t, struct json_object *it, const char *where, size_t i)
{
	static const char *const roles[] = { "user", "system", "developer",
		"assistant" };
	struct json_object *c, *m;
	char w[48];
	const char *role;

	if (cs_req_check_fields(it, message_keys, CS_ARRAY_LEN(message_keys),
	        where, t->err) != CS_OK)
		return CS_EBADINPUT;
	role = str_of(it, "role");
	if (role == NULL || !cs_str_in_list(role, roles, CS_ARRAY_LEN(roles)))
		return bad(t,
		    "%s.role: must be user, system, developer or "
		    "assistant",
		    where);
	if (!json_object_object_get_ex(it, "content", &c))
		return bad(t, "%s.content: missing", where);
	snprintf(w, sizeof(w), "%s.content", where);
	m = push(t, t->messages, json_object_new_object());
	t->last_map = record(t, i);
	put(t, m, "role", str(role));
	t->last = strcmp(role, "assistant") == 0 ? m : NULL;
	return text_content(t, m, c, w);
}

/* A function_call joins the assistant message right before it, or opens
 * one with no content. */
static enum cs_err
call_item(struct rsp *t, struct json_object *it, const char *where, size_t i)
{
	struct json_object *id, *name, *args, *tc, *fn, *calls = NULL;

	if (cs_req_check_fields(it, call_keys, CS_ARRAY_LEN(call_keys), where,
	        t->err) != CS_OK ||
	    need_str(t, it, where, "call_id", &id) != CS_OK ||
	    need_str(t, it, where, "name", &name) != CS_OK ||
	    need_str(t, it, where, "arguments", &args) != CS_OK)
		return CS_EBADINPUT;
	if (t->last == NULL &&
	    (t->last = push(t, t->messages, json_object_new_object())) !=
	        NULL) {
		t->last_map = record(t, i);
		put(t, t->last, "role", str("assistant"));
		json_object_object_add(t->last, "content", NULL);
	}
	push(t, t->last_map, json_object_new_int64((int64_t)i));
	if (t->last != NULL &&
	    !json_object_object_get_ex(t->last, "tool_calls", &calls))
		calls = put(t, t->last, "tool_calls", json_object_new_array());
	if ((tc = push(t, calls, json_object_new_object())) == NULL)
		return CS_OK;
	put(t, tc, "id", json_object_get(id));
	put(t, tc, "type", str("function"));
	fn = put(t, tc, "function", json_object_new_object());
	put(t, fn, "name", json_object_get(name));
	put(t, fn, "arguments", json_object_get(args));
	return CS_OK;
}

static enum cs_err
output_item(struct rsp *t, struct json_object *it, const char *where, size_t i)
{
	struct json_object *id, *o, *m;
	char w[48];

	if (cs_req_check_fields(it, output_keys, CS_ARRAY_LEN(output_keys),
	        where, t->err) != CS_OK ||
	    need_str(t, it, where, "call_id", &id) != CS_OK)
		return CS_EBADINPUT;
	if (!json_object_object_get_ex(it, "output", &o))
		return bad(t, "%s.output: missing", where);
	snprintf(w, sizeof(w), "%s.output", where);
	m = push(t, t->messages, json_object_new_object());
	record(t, i);
	put(t, m, "role", str("tool"));
	put(t, m, "tool_call_id", json_object_get(id));
	t->last = NULL;
	return text_content(t, m, o, w);
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
		return message_item(t, it, where, i);
	if (strcmp(type, "function_call") == 0)
		return call_item(t, it, where, i);
	if (strcmp(type, "function_call_output") == 0)
		return output_item(t, it, where, i);
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
		m = push(t, t->messages, json_object_new_object());
		push(t, t->map, json_object_new_array()); /* "input" itself */
		put(t, m, "role", str("user"));
		put(t, m, "content", json_object_get(v));
		return CS_OK;
	}
	if (!json_object_is_type(v, json_type_array))
		return bad(t, "input: must be a string or an array of items");
	for (i = 0, n = json_object_array_length(v); i < n; i++)
		if (input_item(t, json_object_array_get_idx(v, i), i) != CS_OK)
			return CS_EBADINPUT;
	return CS_OK;
}

/* o's members named keys, those present and not null, into dst. */
static void
copy_keys(struct rsp *t, struct json_object *dst, struct json_object *o,
    const char *const *keys, size_t n)
{
	struct json_object *v;
	size_t i;

	for (i = 0; i < n; i++)
		if (json_object_object_get_ex(o, keys[i], &v) && v != NULL)
			put(t, dst, keys[i], json_object_get(v));
}

static enum cs_err
take_tools(struct rsp *t, struct json_object *v)
{
	static const char *const keys[] = { "type", "name", "description",
		"parameters", "strict" };
	struct json_object *tools, *tool, *nt;
	char where[32], e[CS_ECHO_MAX + 4];
	const char *type;
	size_t i, n;

	if (!json_object_is_type(v, json_type_array))
		return bad(t, "tools: must be an array");
	tools = put(t, t->out, "tools", json_object_new_array());
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
		if (cs_req_check_fields(
		        tool, keys, CS_ARRAY_LEN(keys), where, t->err) != CS_OK)
			return CS_EBADINPUT;
		nt = push(t, tools, json_object_new_object());
		put(t, nt, "type", str("function"));
		copy_keys(t, put(t, nt, "function", json_object_new_object()),
		    tool, keys + 1, CS_ARRAY_LEN(keys) - 1);
	}
	return CS_OK;
}

static enum cs_err
take_tool_choice(struct rsp *t, struct json_object *v)
{
	struct json_object *nc;
	const char *type, *name;

	if (json_object_is_type(v, json_type_string)) {
		put(t, t->out, "tool_choice", json_object_get(v));
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
	nc = put(t, t->out, "tool_choice", json_object_new_object());
	put(t, nc, "type", str("function"));
	put(t, put(t, nc, "function", json_object_new_object()), "name",
	    str(name));
	return CS_OK;
}

/* text: {"format": {...}} into the native response_format. */
static enum cs_err
take_text(struct rsp *t, struct json_object *v)
{
	static const char *const text_keys[] = { "format", "verbosity" };
	static const char *const keys[] = { "type", "name", "description",
		"schema", "strict" };
	struct json_object *f, *verb, *rf;
	const char *type;

	if (!json_object_is_type(v, json_type_object))
		return bad(t, "text: must be an object");
	if (cs_req_check_fields(
	        v, text_keys, CS_ARRAY_LEN(text_keys), "text", t->err) != CS_OK)
		return CS_EBADINPUT;
	if (json_object_object_get_ex(v, "verbosity", &verb) && verb != NULL)
		return bad(t, "text.verbosity: not available on this server");
	if (!json_object_object_get_ex(v, "format", &f) || f == NULL)
		return CS_OK;
	if (!json_object_is_type(f, json_type_object) ||
	    (type = str_of(f, "type")) == NULL)
		return bad(t, "text.format: must be an object with a type");
	if (cs_req_check_fields(
	        f, keys, CS_ARRAY_LEN(keys), "text.format", t->err) != CS_OK)
		return CS_EBADINPUT;
	if (strcmp(type, "text") == 0)
		return CS_OK;
	rf = put(t, t->out, "response_format", json_object_new_object());
	put(t, rf, "type", str(type));
	if (strcmp(type, "json_schema") == 0) /* else what the parser checks */
		copy_keys(t,
		    put(t, rf, "json_schema", json_object_new_object()), f,
		    keys + 1, CS_ARRAY_LEN(keys) - 1);
	return CS_OK;
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
		put(t, t->out, key, json_object_get(v));
		return CS_OK;
	}
	if (strcmp(key, "max_output_tokens") == 0) {
		put(t, t->out, "max_tokens", json_object_get(v));
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
	if (cs_str_in_list(key, ignored_fields, CS_ARRAY_LEN(ignored_fields)))
		return CS_OK;
	return bad(t, "%s: not available on this server",
	    cs_echo(e, key, strlen(key)));
}

enum cs_err
cs_responses_translate(struct json_object *root, struct json_object **out,
    int *stream, struct json_object **map, struct cs_reqerr *err)
{
	struct rsp t = { err, NULL, NULL, NULL, NULL, NULL, 0, 0 };
	enum cs_err r = CS_OK;

	*out = NULL;
	*stream = 0;
	if (map != NULL)
		*map = NULL;
	if ((t.out = json_object_new_object()) == NULL ||
	    (t.map = json_object_new_array()) == NULL) {
		json_object_put(t.out);
		return cs_reqerr_nomem(err);
	}
	t.messages = put(&t, t.out, "messages", json_object_new_array());
	if (!json_object_object_get_ex(root, "input", NULL))
		r = bad(&t, "input: missing (a string, or an array of items)");
	json_object_object_foreach(root, key, val)
	{
		if (r == CS_OK && !t.oom && val != NULL)
			r = take(&t, key, val);
	}
	if (r == CS_OK && t.oom)
		r = cs_reqerr_nomem(err);
	if (r == CS_OK && json_object_array_length(t.messages) == 0)
		r = bad(&t, "input: holds no message");
	if (r != CS_OK || map == NULL)
		json_object_put(t.map);
	if (r != CS_OK) {
		json_object_put(t.out);
		return r;
	}
	*out = t.out;
	*stream = t.stream;
	if (map != NULL)
		*map = t.map;
	return CS_OK;
}

/* The native names the parser's messages use, and the Responses ones. */
static const struct {
	const char *native, *client;
} renames[] = {
	{ "response_format.json_schema.", "text.format." },
	{ "response_format", "text.format" },
	{ "max_tokens", "max_output_tokens" },
	{ "tool_choice.function.", "tool_choice." },
};

static int
is_key_char(char c)
{
	return (c >= 'a' && c <= 'z') || c == '_';
}

/* "messages[K]" (and "messages[K].tool_calls[M]") at the start of msg:
 * the input path they came from into to, and where the rest starts. */
static const char *
input_path(const char *msg, struct json_object *root, struct json_object *map,
    char *to, size_t n)
{
	struct json_object *e, *in, *it;
	unsigned long long k, m;
	const char *p = msg + 9, *q, *type;
	size_t at = 0;

	if (strncmp(msg, "messages[", 9) != 0 || (q = strchr(p, ']')) == NULL ||
	    cs_parse_dec(p, (size_t)(q - p), 1 << 20, &k) != 0 ||
	    (e = json_object_array_get_idx(map, (size_t)k)) == NULL)
		return NULL;
	p = q + 1;
	if (json_object_array_length(e) == 0) {
		snprintf(to, n, "input");
		return p;
	}
	if (strncmp(p, ".tool_calls[", 12) == 0 &&
	    (q = strchr(p + 12, ']')) != NULL &&
	    cs_parse_dec(p + 12, (size_t)(q - p - 12), 1 << 20, &m) == 0 &&
	    m + 1 < json_object_array_length(e)) {
		at = (size_t)m + 1;
		p = q + 1;
		/* A function_call item spells the call's fields flat. */
		if (strncmp(p, ".function.", 10) == 0)
			p += 9;
		else if (strncmp(p, ".id", 3) == 0 && !is_key_char(p[3])) {
			k = (unsigned long long)json_object_get_int64(
			    json_object_array_get_idx(e, at));
			snprintf(to, n, "input[%llu].call_id", k);
			return p + 3;
		}
	}
	k = (unsigned long long)json_object_get_int64(
	    json_object_array_get_idx(e, at));
	snprintf(to, n, "input[%llu]", k);
	/* A tool message's fields, as its function_call_output names them. */
	json_object_object_get_ex(root, "input", &in);
	it = json_object_array_get_idx(in, (size_t)k);
	type = str_of(it, "type");
	if (type != NULL && strcmp(type, "function_call_output") == 0) {
		if (strncmp(p, ".content", 8) == 0)
			return snprintf(
			           to + strlen(to), n - strlen(to), ".output"),
			       p + 8;
		if (strncmp(p, ".tool_call_id", 13) == 0)
			return snprintf(
			           to + strlen(to), n - strlen(to), ".call_id"),
			       p + 13;
	}
	return p;
}

/* err's message names a field of the native request: name it as the
 * client sent it (input[3].content, tools[0].name, text.format.schema). */
static void
client_names(
    struct cs_reqerr *err, struct json_object *root, struct json_object *map)
{
	char head[64], rest[sizeof(err->message)];
	const char *msg = err->message, *p = NULL, *q;
	size_t i;

	if ((p = input_path(msg, root, map, head, sizeof(head))) == NULL &&
	    strncmp(msg, "tools[", 6) == 0 && (q = strchr(msg, ']')) != NULL &&
	    strncmp(q + 1, ".function", 9) == 0 &&
	    (size_t)(q + 1 - msg) < sizeof(head)) {
		memcpy(head, msg, (size_t)(q + 1 - msg));
		head[q + 1 - msg] = '\0';
		p = q + 10;
	}
	for (i = 0; p == NULL && i < CS_ARRAY_LEN(renames); i++)
		if (strncmp(msg, renames[i].native,
		        strlen(renames[i].native)) == 0) {
			snprintf(head, sizeof(head), "%s", renames[i].client);
			p = msg + strlen(renames[i].native);
		}
	if (p == NULL)
		return;
	snprintf(rest, sizeof(rest), "%s", p);
	cs_reqerr_set(err, err->fail, "%s%s", head, rest);
}

void
cs_responses_create(struct cs_worker *w, const struct cs_reqctx *rq,
    struct cs_stream *s, const struct cs_buf *body, const char **model)
{
	const char *data = body->data ? body->data : "";
	size_t len = body->len;
	struct json_object *root = cs_json_strict_object(data, len);
	struct json_object *nat = NULL, *map = NULL;
	struct cs_chat_request *req = NULL;
	struct cs_reqerr err;
	enum cs_err r;
	int stream = 0;

	(void)rq;
	memset(&err, 0, sizeof(err));
	if (root == NULL) { /* the parser says what is wrong with it */
		cs_chat_parse(w->cfg, s, data, len, &req);
		goto out;
	}
	if (cs_v1_check_model(w->cfg, s, root) != CS_OK)
		goto out;
	if (cs_responses_translate(root, &nat, &stream, &map, &err) != CS_OK) {
		cs_stream_fail(s, err.fail, err.message);
		goto out;
	}
	data = json_object_to_json_string_ext(nat, JSON_C_TO_STRING_PLAIN);
	if ((r = cs_request_parse(w->cfg, data, strlen(data), &req, &err)) !=
	    CS_OK) {
		client_names(&err, root, map);
		cs_stream_fail(s,
		    r == CS_ENOMEM || r == CS_ECONFIG ? CS_FAIL_INTERNAL :
		                                        err.fail,
		    err.message[0] != '\0' ? err.message : "out of memory");
		goto out;
	}
	*model = req->model->name;
	cs_stream_set_model(s, *model);
	if (stream)
		cs_stream_use(s, &cs_encoder_responses);
	cs_chat_provider(w, req, s);
out:
	cs_request_free(req);
	json_object_put(map);
	json_object_put(nat);
	json_object_put(root);
}
