/*
 * anthropic_api.c — Anthropic's Messages API; see anthropic_api.h.
 *
 * The body is rebuilt as a native request (request.h) and then parsed by
 * cs_request_parse() with all its checks and limits, as openai_api.c does:
 *  - model: as sent (an unknown one is 404 not_found_error);
 *  - max_tokens: required, a positive integer (the model's cap applies);
 *  - system: a string or text blocks, the first (system) message;
 *  - messages[]: role user or assistant, content a string or blocks:
 *    text; in assistant turns tool_use (the message's tool_calls, input
 *    serialised as the arguments) and thinking / redacted_thinking
 *    (dropped: no upstream could check their signature); in user turns
 *    tool_result (a native tool message, before the turn's text, which
 *    follows as a user message; is_error puts "Error: " before the
 *    result, as the native request has no flag for it);
 *  - tools[] (custom tools only) and tool_choice (auto, any, tool, none;
 *    disable_parallel_tool_use accepted and ignored) in the native shape;
 *  - stop_sequences: the native stop; temperature: 0 to 1 here;
 *  - stream: a boolean; metadata and cache_control: accepted, ignored;
 *  - the answer, an error's too, carries request-id (= X-Request-Id);
 *  - everything else (top_k, top_p, thinking, service_tier, images,
 *    documents, server tools, ...) is refused with 400 naming the field:
 *    a client must not believe an option took effect when it did not.
 * A body that is not strict JSON goes to cs_request_parse() unchanged,
 * which says precisely what is wrong with it.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include <json-c/json.h>

#include "anthropic_api.h"
#include "chat.h"
#include "json_strict.h"
#include "openai_api.h"
#include "request_int.h"
#include "stream.h"
#include "worker.h"

/* Where a field is: "messages[N]", "messages[N].content[M]", and one
 * level deeper ("...content[M].content[K]"), each in the next size. */
#define WHERE_MSG   48
#define WHERE_BLOCK 80
#define WHERE_DEEP  112

/* The fields of the request and of its parts (cache_control anywhere it
 * may be: accepted and ignored). */
static const char *const top_fields[] = { "model", "max_tokens", "system",
	"messages", "tools", "tool_choice", "stop_sequences", "temperature",
	"stream", "metadata" };
static const char *const msg_fields[] = { "role", "content" };
static const char *const text_fields[] = { "type", "text", "cache_control" };
static const char *const tool_use_fields[] = { "type", "id", "name", "input",
	"cache_control" };
static const char *const tool_result_fields[] = { "type", "tool_use_id",
	"content", "is_error", "cache_control" };
static const char *const tool_fields[] = { "type", "name", "description",
	"input_schema", "cache_control" };
static const char *const choice_fields[] = { "type", "name",
	"disable_parallel_tool_use" };

#define FIELDS(list) list, CS_ARRAY_LEN(list)

/* o must be an object with no key outside list; where names it. */
static enum cs_err
check_object(struct json_object *o, const char *where, const char *const *list,
    size_t n, struct cs_reqerr *err)
{
	char q[CS_ECHO_MAX + 4];

	if (!json_object_is_type(o, json_type_object))
		return cs_req_refuse(err, "%s: must be an object", where);
	json_object_object_foreach(o, key, val)
	{
		(void)val;
		if (!cs_str_in_list(key, list, n))
			return cs_req_refuse(err,
			    "%s.%s: not supported by this server", where,
			    cs_echo(q, key, strlen(key)));
	}
	return CS_OK;
}

/* o["type"], a string, or NULL after a refusal. */
static const char *
block_type(struct json_object *o, const char *where, struct cs_reqerr *err)
{
	struct json_object *t = cs_json_opt_field(o, "type");

	if (!json_object_is_type(o, json_type_object)) {
		cs_req_refuse(err, "%s: must be an object", where);
		return NULL;
	}
	if (!json_object_is_type(t, json_type_string)) {
		cs_req_refuse(err, "%s.type: must be a string", where);
		return NULL;
	}
	return json_object_get_string(t);
}

/* o[key] must be a string (present): a new reference to it in *v, else
 * *v NULL. */
static enum cs_err
string_field(struct json_object *o, const char *key, const char *where,
    struct json_object **v, struct cs_reqerr *err)
{
	struct json_object *s = cs_json_opt_field(o, key);

	*v = NULL;
	if (!json_object_is_type(s, json_type_string))
		return cs_req_refuse(
		    err, "%s.%s: must be a string", where, key);
	*v = json_object_get(s);
	return CS_OK;
}

/* A new native text part {"type":"text","text": text} (taken) appended
 * to parts; CS_ENOMEM. */
static enum cs_err
add_part(struct json_object *parts, struct json_object *text)
{
	struct json_object *p;

	if (text == NULL || (p = json_object_new_object()) == NULL ||
	    json_object_array_add(parts, p) != 0) {
		json_object_put(text);
		return CS_ENOMEM;
	}
	json_object_object_add(p, "type", json_object_new_string("text"));
	json_object_object_add(p, "text", text);
	return CS_OK;
}

/* A native {"type":"text","text":...} from text block b, added to parts. */
static enum cs_err
text_part(struct json_object *b, const char *where, struct json_object *parts,
    struct cs_reqerr *err)
{
	struct json_object *text;
	enum cs_err r;

	if ((r = check_object(b, where, FIELDS(text_fields), err)) != CS_OK ||
	    (r = string_field(b, "text", where, &text, err)) != CS_OK)
		return r;
	return add_part(parts, text) == CS_OK ? CS_OK : cs_reqerr_nomem(err);
}

/* v: a string, or an array of text blocks only; a new native content
 * (the string, or text parts) in *out. */
static enum cs_err
text_content(struct json_object *v, const char *where, struct json_object **out,
    struct cs_reqerr *err)
{
	char at[WHERE_DEEP];
	const char *type;
	enum cs_err r;
	size_t j;

	*out = NULL;
	if (json_object_is_type(v, json_type_string)) {
		*out = json_object_get(v);
		return CS_OK;
	}
	if (!json_object_is_type(v, json_type_array))
		return cs_req_refuse(
		    err, "%s: must be a string or an array of blocks", where);
	if ((*out = json_object_new_array()) == NULL)
		return cs_reqerr_nomem(err);
	for (j = 0; j < json_object_array_length(v); j++) {
		snprintf(at, sizeof(at), "%s[%zu]", where, j);
		if ((type = block_type(
		         json_object_array_get_idx(v, j), at, err)) == NULL)
			return CS_EBADINPUT;
		if (strcmp(type, "text") != 0)
			return cs_req_refuse(err,
			    "%s.type: only \"text\" blocks are "
			    "supported here",
			    at);
		if ((r = text_part(json_object_array_get_idx(v, j), at, *out,
		         err)) != CS_OK)
			return r;
	}
	return CS_OK;
}

/* A new native message {"role": role} appended to msgs, or NULL. */
static struct json_object *
new_message(struct json_object *msgs, const char *role)
{
	struct json_object *m;

	if ((m = json_object_new_object()) == NULL)
		return NULL;
	if (json_object_array_add(msgs, m) != 0) {
		json_object_put(m);
		return NULL;
	}
	json_object_object_add(m, "role", json_object_new_string(role));
	return m;
}

/* "system": the first, system message. */
static enum cs_err
take_system(
    struct json_object *v, struct json_object *msgs, struct cs_reqerr *err)
{
	struct json_object *m, *content;
	enum cs_err r;

	if (v == NULL)
		return CS_OK;
	if ((r = text_content(v, "system", &content, err)) != CS_OK) {
		json_object_put(content);
		return r;
	}
	if ((m = new_message(msgs, "system")) == NULL) {
		json_object_put(content);
		return cs_reqerr_nomem(err);
	}
	json_object_object_add(m, "content", content);
	return CS_OK;
}

/* A failed tool's result: "Error: " and then content (a string or text
 * parts, put here), as text parts in *out; the native request has no
 * flag for it. */
static enum cs_err
error_result(struct json_object *content, struct json_object **out)
{
	struct json_object *arr;
	enum cs_err r = CS_ENOMEM;
	size_t j;

	*out = NULL;
	if ((arr = json_object_new_array()) == NULL ||
	    add_part(arr, json_object_new_string("Error: ")) != CS_OK)
		goto out;
	if (json_object_is_type(content, json_type_string)) {
		if (add_part(arr, json_object_get(content)) != CS_OK)
			goto out;
	} else
		for (j = 0; j < json_object_array_length(content); j++)
			if (json_object_array_add(arr,
			        json_object_get(json_object_array_get_idx(
			            content, j))) != 0)
				goto out;
	*out = arr;
	arr = NULL;
	r = CS_OK;
out:
	json_object_put(arr);
	json_object_put(content);
	return r;
}

/* A tool_result block: a native tool message appended to msgs. */
static enum cs_err
tool_result(struct json_object *b, const char *where, struct json_object *msgs,
    struct cs_reqerr *err)
{
	struct json_object *m, *id = NULL, *content = NULL, *is_error;
	char at[WHERE_DEEP];
	enum cs_err r;

	if ((r = check_object(b, where, FIELDS(tool_result_fields), err)) !=
	        CS_OK ||
	    (r = string_field(b, "tool_use_id", where, &id, err)) != CS_OK)
		goto fail;
	is_error = cs_json_opt_field(b, "is_error");
	if (is_error != NULL &&
	    !json_object_is_type(is_error, json_type_boolean)) {
		r = cs_req_refuse(err, "%s.is_error: must be a boolean", where);
		goto fail;
	}
	snprintf(at, sizeof(at), "%s.content", where);
	if (cs_json_opt_field(b, "content") == NULL)
		content = json_object_new_string("");
	else if ((r = text_content(cs_json_opt_field(b, "content"), at,
	              &content, err)) != CS_OK)
		goto fail;
	if (is_error != NULL && json_object_get_boolean(is_error) &&
	    error_result(content, &content) != CS_OK)
		content = NULL;
	if (content == NULL || (m = new_message(msgs, "tool")) == NULL) {
		r = cs_reqerr_nomem(err);
		goto fail;
	}
	json_object_object_add(m, "tool_call_id", id);
	json_object_object_add(m, "content", content);
	return CS_OK;
fail:
	json_object_put(id);
	json_object_put(content);
	return r;
}

/* A tool_use block: a native tool call appended to calls. */
static enum cs_err
tool_use(struct json_object *b, const char *where, struct json_object *calls,
    struct cs_reqerr *err)
{
	struct json_object *c = NULL, *fn, *id = NULL, *name = NULL, *input;
	const char *args;
	enum cs_err r;

	if ((r = check_object(b, where, FIELDS(tool_use_fields), err)) !=
	        CS_OK ||
	    (r = string_field(b, "id", where, &id, err)) != CS_OK ||
	    (r = string_field(b, "name", where, &name, err)) != CS_OK)
		goto fail;
	input = cs_json_opt_field(b, "input");
	if (!json_object_is_type(input, json_type_object)) {
		r = cs_req_refuse(err, "%s.input: must be an object", where);
		goto fail;
	}
	args = json_object_to_json_string_ext(
	    input, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
	r = cs_reqerr_nomem(err);
	if (args == NULL || (c = json_object_new_object()) == NULL ||
	    (fn = json_object_new_object()) == NULL)
		goto fail;
	json_object_object_add(c, "id", id);
	json_object_object_add(c, "type", json_object_new_string("function"));
	json_object_object_add(c, "function", fn);
	json_object_object_add(fn, "name", name);
	json_object_object_add(fn, "arguments", json_object_new_string(args));
	id = name = NULL;
	if (json_object_array_add(calls, c) != 0)
		goto fail;
	return CS_OK;
fail:
	json_object_put(c);
	json_object_put(id);
	json_object_put(name);
	return r;
}

/* What a turn's blocks become: text parts, and by role the tool calls
 * (assistant) or the tool messages (user). */
struct turn {
	int assistant;
	struct json_object *parts, *calls, *results;
};

/* Block j of a turn, where at names it. */
static enum cs_err
turn_block(struct turn *t, struct json_object *b, const char *at,
    struct cs_reqerr *err)
{
	const char *type;
	char q[CS_ECHO_MAX + 4];

	if ((type = block_type(b, at, err)) == NULL)
		return CS_EBADINPUT;
	if (strcmp(type, "text") == 0)
		return text_part(b, at, t->parts, err);
	if (t->assistant && strcmp(type, "tool_use") == 0)
		return tool_use(b, at, t->calls, err);
	if (t->assistant &&
	    (strcmp(type, "thinking") == 0 ||
	        strcmp(type, "redacted_thinking") == 0))
		return CS_OK;
	if (!t->assistant && strcmp(type, "tool_result") == 0)
		return tool_result(b, at, t->results, err);
	return cs_req_refuse(err,
	    "%s.type: \"%s\" blocks are not supported in %s turns by this "
	    "server (%s)",
	    at, cs_echo(q, type, strlen(type)),
	    t->assistant ? "assistant" : "user",
	    t->assistant ? "text, tool_use, thinking" : "text, tool_result");
}

/* The native messages of one turn appended to msgs: a user turn's tool
 * results first, then its text; an assistant turn's text and tool calls
 * as one message. */
static enum cs_err
turn_messages(struct turn *t, struct json_object *msgs, struct cs_reqerr *err)
{
	struct json_object *m;
	size_t j;

	for (j = 0; j < json_object_array_length(t->results); j++)
		if (json_object_array_add(msgs,
		        json_object_get(
		            json_object_array_get_idx(t->results, j))) != 0)
			return cs_reqerr_nomem(err);
	if (!t->assistant && json_object_array_length(t->parts) == 0 &&
	    json_object_array_length(t->results) > 0)
		return CS_OK; /* tool results alone */
	if ((m = new_message(msgs, t->assistant ? "assistant" : "user")) ==
	    NULL)
		return cs_reqerr_nomem(err);
	if (json_object_array_length(t->calls) == 0) {
		json_object_object_add(m, "content", json_object_get(t->parts));
		return CS_OK;
	}
	json_object_object_add(m, "content",
	    json_object_array_length(t->parts) > 0 ? json_object_get(t->parts) :
	                                             NULL);
	json_object_object_add(m, "tool_calls", json_object_get(t->calls));
	return CS_OK;
}

/* messages[i]: its native messages appended to msgs. */
static enum cs_err
take_message(struct json_object *v, size_t i, struct json_object *msgs,
    struct cs_reqerr *err)
{
	struct json_object *role, *content, *m;
	struct turn t = { 0, NULL, NULL, NULL };
	char where[WHERE_MSG], at[WHERE_BLOCK];
	enum cs_err r;
	size_t j;

	snprintf(where, sizeof(where), "messages[%zu]", i);
	if ((r = check_object(v, where, FIELDS(msg_fields), err)) != CS_OK)
		return r;
	role = cs_json_opt_field(v, "role");
	if (!json_object_is_type(role, json_type_string) ||
	    (strcmp(json_object_get_string(role), "user") != 0 &&
	        strcmp(json_object_get_string(role), "assistant") != 0))
		return cs_req_refuse(
		    err, "%s.role: must be \"user\" or \"assistant\"", where);
	t.assistant = strcmp(json_object_get_string(role), "assistant") == 0;
	content = cs_json_opt_field(v, "content");
	if (json_object_is_type(content, json_type_string)) {
		if ((m = new_message(msgs, json_object_get_string(role))) ==
		    NULL)
			return cs_reqerr_nomem(err);
		json_object_object_add(m, "content", json_object_get(content));
		return CS_OK;
	}
	if (!json_object_is_type(content, json_type_array))
		return cs_req_refuse(err,
		    "%s.content: must be a string or an array "
		    "of blocks",
		    where);
	r = cs_reqerr_nomem(err);
	if ((t.parts = json_object_new_array()) == NULL ||
	    (t.calls = json_object_new_array()) == NULL ||
	    (t.results = json_object_new_array()) == NULL)
		goto out;
	for (j = 0; j < json_object_array_length(content); j++) {
		snprintf(at, sizeof(at), "%s.content[%zu]", where, j);
		if ((r = turn_block(&t, json_object_array_get_idx(content, j),
		         at, err)) != CS_OK)
			goto out;
	}
	r = turn_messages(&t, msgs, err);
out:
	json_object_put(t.parts);
	json_object_put(t.calls);
	json_object_put(t.results);
	return r;
}

/* "messages" (after "system", into the same native array). */
static enum cs_err
take_messages(
    struct json_object *v, struct json_object *msgs, struct cs_reqerr *err)
{
	enum cs_err r;
	size_t i;

	if (v == NULL)
		return cs_req_refuse(err, "messages: required");
	if (!json_object_is_type(v, json_type_array))
		return cs_req_refuse(err, "messages: must be an array");
	for (i = 0; i < json_object_array_length(v); i++)
		if ((r = take_message(json_object_array_get_idx(v, i), i, msgs,
		         err)) != CS_OK)
			return r;
	return CS_OK;
}

/* tools[k]: a native function tool appended to tools. */
static enum cs_err
take_tool(struct json_object *v, size_t k, struct json_object *tools,
    struct cs_reqerr *err)
{
	struct json_object *t, *fn, *x;
	char where[WHERE_DEEP], q[CS_ECHO_MAX + 4];
	enum cs_err r;

	snprintf(where, sizeof(where), "tools[%zu]", k);
	if (json_object_is_type(v, json_type_object) &&
	    (x = cs_json_opt_field(v, "type")) != NULL &&
	    (!json_object_is_type(x, json_type_string) ||
	        strcmp(json_object_get_string(x), "custom") != 0))
		return cs_req_refuse(err,
		    "%s.type: \"%s\" is a server tool, which this server "
		    "does not run (only custom tools: name, description, "
		    "input_schema)",
		    where,
		    json_object_is_type(x, json_type_string) ?
		        cs_echo(q, json_object_get_string(x),
		            (size_t)json_object_get_string_len(x)) :
		        "?");
	if ((r = check_object(v, where, FIELDS(tool_fields), err)) != CS_OK)
		return r;
	if ((t = json_object_new_object()) == NULL)
		return cs_reqerr_nomem(err);
	if (json_object_array_add(tools, t) != 0 ||
	    (fn = json_object_new_object()) == NULL) {
		json_object_put(t);
		return cs_reqerr_nomem(err);
	}
	json_object_object_add(t, "type", json_object_new_string("function"));
	json_object_object_add(t, "function", fn);
	if ((x = cs_json_opt_field(v, "name")) != NULL)
		json_object_object_add(fn, "name", json_object_get(x));
	if ((x = cs_json_opt_field(v, "description")) != NULL)
		json_object_object_add(fn, "description", json_object_get(x));
	if ((x = cs_json_opt_field(v, "input_schema")) != NULL)
		json_object_object_add(fn, "parameters", json_object_get(x));
	return CS_OK;
}

/* "tools" into nat. */
static enum cs_err
take_tools(
    struct json_object *v, struct json_object *nat, struct cs_reqerr *err)
{
	struct json_object *tools;
	enum cs_err r;
	size_t k;

	if (v == NULL)
		return CS_OK;
	if (!json_object_is_type(v, json_type_array))
		return cs_req_refuse(err, "tools: must be an array");
	if ((tools = json_object_new_array()) == NULL)
		return cs_reqerr_nomem(err);
	json_object_object_add(nat, "tools", tools);
	for (k = 0; k < json_object_array_length(v); k++)
		if ((r = take_tool(json_object_array_get_idx(v, k), k, tools,
		         err)) != CS_OK)
			return r;
	return CS_OK;
}

/* "tool_choice" into nat: auto, any (required), tool (named), none. */
static enum cs_err
take_tool_choice(
    struct json_object *v, struct json_object *nat, struct cs_reqerr *err)
{
	struct json_object *x, *c, *fn;
	const char *type;

	if (v == NULL)
		return CS_OK;
	if (check_object(v, "tool_choice", FIELDS(choice_fields), err) != CS_OK)
		return CS_EBADINPUT;
	x = cs_json_opt_field(v, "disable_parallel_tool_use");
	if (x != NULL && !json_object_is_type(x, json_type_boolean))
		return cs_req_refuse(err,
		    "tool_choice.disable_parallel_tool_use: "
		    "must be a boolean");
	x = cs_json_opt_field(v, "type");
	type = json_object_is_type(x, json_type_string) ?
	    json_object_get_string(x) :
	    "";
	if (strcmp(type, "auto") == 0 || strcmp(type, "none") == 0 ||
	    strcmp(type, "any") == 0) {
		json_object_object_add(nat, "tool_choice",
		    json_object_new_string(
		        strcmp(type, "any") == 0 ? "required" : type));
		return CS_OK;
	}
	if (strcmp(type, "tool") != 0)
		return cs_req_refuse(err,
		    "tool_choice.type: must be \"auto\", \"any\", "
		    "\"tool\" or \"none\"");
	if (!json_object_is_type(
	        x = cs_json_opt_field(v, "name"), json_type_string))
		return cs_req_refuse(err, "tool_choice.name: must be a string");
	if ((c = json_object_new_object()) == NULL)
		return cs_reqerr_nomem(err);
	json_object_object_add(nat, "tool_choice", c);
	if ((fn = json_object_new_object()) == NULL)
		return cs_reqerr_nomem(err);
	json_object_object_add(c, "type", json_object_new_string("function"));
	json_object_object_add(c, "function", fn);
	json_object_object_add(fn, "name", json_object_get(x));
	return CS_OK;
}

/* max_tokens, temperature, stream and stop_sequences into nat. */
static enum cs_err
take_options(struct json_object *root, struct json_object *nat, int *stream,
    struct cs_reqerr *err)
{
	struct json_object *v, *stop;
	double d;
	enum cs_err r;

	v = cs_json_opt_field(root, "max_tokens");
	if (v == NULL)
		return cs_req_refuse(
		    err, "max_tokens: required (a positive integer)");
	if (!json_object_is_type(v, json_type_int) ||
	    json_object_get_int64(v) < 1)
		return cs_req_refuse(
		    err, "max_tokens: must be a positive integer");
	json_object_object_add(nat, "max_tokens", json_object_get(v));
	if ((v = cs_json_opt_field(root, "temperature")) != NULL) {
		if ((!json_object_is_type(v, json_type_double) &&
		        !json_object_is_type(v, json_type_int)) ||
		    !isfinite(d = json_object_get_double(v)) || d < 0.0 ||
		    d > 1.0)
			return cs_req_refuse(
			    err, "temperature: must be a number from 0 to 1");
		json_object_object_add(nat, "temperature", json_object_get(v));
	}
	if ((v = cs_json_opt_field(root, "stream")) != NULL) {
		if (!json_object_is_type(v, json_type_boolean))
			return cs_req_refuse(err, "stream: must be a boolean");
		*stream = json_object_get_boolean(v);
	}
	if ((v = cs_json_opt_field(root, "stop_sequences")) != NULL) {
		if (!json_object_is_type(v, json_type_array))
			return cs_req_refuse(
			    err, "stop_sequences: must be an array of strings");
		if ((r = cs_request_read_stop(
		         v, "stop_sequences", &stop, err)) != CS_OK)
			return r;
		if (stop != NULL)
			json_object_object_add(nat, "stop", stop);
	}
	return CS_OK;
}

enum cs_err
cs_anthropic_translate(struct json_object *root, struct json_object **out,
    int *stream, struct cs_reqerr *err)
{
	struct json_object *nat = NULL, *msgs, *v;
	char q[CS_ECHO_MAX + 4];
	enum cs_err r;

	*out = NULL;
	*stream = 0;
	json_object_object_foreach(root, key, val)
	{
		(void)val;
		if (!cs_str_in_list(key, FIELDS(top_fields)))
			return cs_req_refuse(err,
			    "%s: not supported by this server (accepted: "
			    "model, max_tokens, system, messages, tools, "
			    "tool_choice, stop_sequences, temperature, "
			    "stream, metadata)",
			    cs_echo(q, key, strlen(key)));
	}
	if ((nat = json_object_new_object()) == NULL ||
	    (msgs = json_object_new_array()) == NULL) {
		json_object_put(nat);
		return cs_reqerr_nomem(err);
	}
	if ((v = cs_json_opt_field(root, "model")) != NULL)
		json_object_object_add(nat, "model", json_object_get(v));
	json_object_object_add(nat, "messages", msgs);
	if ((r = take_options(root, nat, stream, err)) != CS_OK ||
	    (r = take_system(cs_json_opt_field(root, "system"), msgs, err)) !=
	        CS_OK ||
	    (r = take_messages(
	         cs_json_opt_field(root, "messages"), msgs, err)) != CS_OK ||
	    (r = take_tools(cs_json_opt_field(root, "tools"), nat, err)) !=
	        CS_OK ||
	    (r = take_tool_choice(
	         cs_json_opt_field(root, "tool_choice"), nat, err)) != CS_OK) {
		json_object_put(nat);
		return r;
	}
	*out = nat;
	return CS_OK;
}

/* Translate, validate, pick the protocol and stream the answer. */
static void
run(struct cs_worker *w, struct cs_stream *s, const char *body, size_t len,
    const char **model)
{
	struct json_object *root = cs_json_strict_object(body, len);
	struct json_object *nat = NULL;
	struct cs_chat_request *req = NULL;
	struct cs_reqerr err;
	int stream = 0;

	memset(&err, 0, sizeof(err));
	if (root != NULL) {
		if (cs_v1_check_model(w->cfg, s, root) != CS_OK)
			goto out;
		if (cs_anthropic_translate(root, &nat, &stream, &err) !=
		    CS_OK) {
			cs_stream_fail(s, err.fail, err.message);
			goto out;
		}
		body = json_object_to_json_string_ext(
		    nat, JSON_C_TO_STRING_PLAIN);
		len = strlen(body);
	}
	if (cs_chat_parse(w->cfg, s, body, len, &req) != CS_OK)
		goto out;
	*model = req->model->name;
	cs_stream_set_model(s, *model);
	if (stream)
		cs_stream_use(s, &cs_encoder_anthropic);
	cs_chat_provider(w, req, s);
out:
	cs_request_free(req);
	json_object_put(nat);
	json_object_put(root);
}

void
cs_anthropic_messages(struct cs_worker *w, const struct cs_reqctx *rq,
    struct cs_stream *s, const struct cs_buf *body, const char **model)
{
	char h[sizeof("request-id: \r\n") + CS_STREAM_ID_LEN];

	(void)rq;
	/* Anthropic's name for X-Request-Id, which the SDK reads into
	 * _request_id and its errors' requestID. */
	snprintf(h, sizeof(h), "request-id: %s\r\n", cs_stream_id(s));
	cs_stream_add_headers(s, h);
	run(w, s, body->data ? body->data : "", body->len, model);
}
