/*
 * request_ui.c — useChat's request to the native request JSON; see
 * request_ui.h.
 *
 * useChat (DefaultChatTransport) POSTs {id, messages, trigger, messageId?}
 * plus whatever body the app adds; messages are UIMessages {id, role,
 * metadata?, parts}.  The translation follows the SDK's own
 * convertToModelMessages:
 *  - system/user: the text parts become the content parts; file parts are
 *    refused (chatstream takes text only); reasoning, source, data and
 *    step-start parts are dropped; any other part type is refused.
 *  - assistant: split into blocks at each step-start; each block gives one
 *    assistant message (its texts, and a tool call per tool part) followed
 *    by one tool message per tool part (output-available: the output;
 *    output-error: the error text).  A tool part without a result is
 *    refused, as the SDK refuses it; providerExecuted ones are skipped.
 *  - id, trigger and messageId are checked and consumed; other top-level
 *    fields (model, temperature, ...) are passed on for the native
 *    parser to accept or refuse by name.
 * Keys inside parts other than the ones read are ignored: the SDK echoes
 * its own parts back, and newer versions add fields to them.
 */
#include <stdio.h>
#include <string.h>

#include <json-c/json.h>

#include "json_strict.h"
#include "request_int.h"
#include "request_ui.h"

static const char *const msg_fields[] = { "id", "role", "parts", "metadata" };

/* The roles a UI message may have, in the order a refusal names them. */
static const char *const ui_roles[] = { "system", "user", "assistant" };

/* The triggers useChat sends. */
static const char *const triggers[] = { "submit-message",
	"regenerate-message" };

/* Part types without content for the model. */
static const char *const dropped_parts[] = { "step-start", "reasoning",
	"source-url", "source-document" };

static const char *
get_str(struct json_object *o, const char *key)
{
	struct json_object *v = cs_json_opt_field(o, key);

	return json_object_is_type(v, json_type_string) ?
	    json_object_get_string(v) :
	    NULL;
}

/* Does the parsed body look like useChat's? */
static int
is_ui(struct json_object *top)
{
	struct json_object *msgs = cs_json_opt_field(top, "messages");
	size_t i, n;

	if (!json_object_is_type(top, json_type_object))
		return 0;
	if (cs_json_opt_field(top, "trigger") != NULL)
		return 1;
	if (!json_object_is_type(msgs, json_type_array))
		return 0;
	n = json_object_array_length(msgs);
	for (i = 0; i < n; i++)
		if (cs_json_opt_field(
		        json_object_array_get_idx(msgs, i), "parts") != NULL)
			return 1;
	return 0;
}

/* One native message: {"role":role,"content":content} (content owned). */
static struct json_object *
new_msg(const char *role, struct json_object *content)
{
	struct json_object *m = json_object_new_object();

	if (m == NULL) {
		json_object_put(content);
		return NULL;
	}
	json_object_object_add(m, "role", json_object_new_string(role));
	json_object_object_add(m, "content", content);
	return m;
}

static int
add_text_part(struct json_object *content, struct json_object *part,
    const char *where, struct cs_reqerr *err)
{
	struct json_object *p, *text = cs_json_opt_field(part, "text");

	if (!json_object_is_type(text, json_type_string)) {
		refuse(err, "%s.text: must be a string", where);
		return -1;
	}
	if ((p = json_object_new_object()) == NULL)
		return -1;
	json_object_object_add(p, "type", json_object_new_string("text"));
	json_object_object_add(p, "text", json_object_get(text));
	json_object_array_add(content, p);
	return 0;
}

/* The tool name of a tool part ("tool-NAME" or a "dynamic-tool"'s
 * toolName), or NULL if part is no tool part. */
static const char *
tool_name(struct json_object *part, const char *type)
{
	if (strncmp(type, "tool-", 5) == 0)
		return type + 5;
	if (strcmp(type, "dynamic-tool") == 0) {
		const char *n = get_str(part, "toolName");
		return n != NULL ? n : "";
	}
	return NULL;
}

/* The JSON text of v, as JSON.stringify writes it. */
static struct json_object *
json_text(struct json_object *v)
{
	return json_object_new_string(json_object_to_json_string_ext(
	    v, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
}

/* One block of an assistant message being built. */
struct block {
	struct json_object *content; /* text parts */
	struct json_object *calls;   /* tool_calls */
	struct json_object *results; /* tool messages */
};

static int
block_init(struct block *b)
{
	b->content = json_object_new_array();
	b->calls = json_object_new_array();
	b->results = json_object_new_array();
	return b->content && b->calls && b->results ? 0 : -1;
}

static void
block_free(struct block *b)
{
	json_object_put(b->content);
	json_object_put(b->calls);
	json_object_put(b->results);
	memset(b, 0, sizeof(*b));
}

/* Append the block's messages to out and start a new block. */
static int
block_flush(struct block *b, struct json_object *out)
{
	struct json_object *m;
	size_t i, n = json_object_array_length(b->results);
	int empty = json_object_array_length(b->content) == 0;

	if (empty && json_object_array_length(b->calls) == 0)
		return 0;
	if ((m = new_msg("assistant",
	         empty ? NULL : json_object_get(b->content))) == NULL)
		return -1;
	if (json_object_array_length(b->calls) > 0)
		json_object_object_add(
		    m, "tool_calls", json_object_get(b->calls));
	json_object_array_add(out, m);
	for (i = 0; i < n; i++)
		json_object_array_add(out,
		    json_object_get(json_object_array_get_idx(b->results, i)));
	block_free(b);
	return block_init(b);
}

/* The tool message content of a tool part with a result, or NULL. */
static struct json_object *
tool_result(struct json_object *part, const char *where, struct cs_reqerr *err)
{
	const char *state = get_str(part, "state");
	struct json_object *v;
	char q[CS_ECHO_MAX + 4];

	if (state != NULL && strcmp(state, "output-available") == 0) {
		if ((v = cs_json_opt_field(part, "output")) == NULL &&
		    !json_object_object_get_ex(part, "output", NULL)) {
			refuse(err, "%s.output: missing", where);
			return NULL;
		}
		if (json_object_is_type(v, json_type_string))
			return json_object_get(v);
		return json_text(v);
	}
	if (state != NULL && strcmp(state, "output-error") == 0) {
		if ((v = cs_json_opt_field(part, "errorText")) == NULL ||
		    !json_object_is_type(v, json_type_string)) {
			refuse(err, "%s.errorText: must be a string", where);
			return NULL;
		}
		return json_object_get(v);
	}
	refuse(err,
	    "%s.state: \"%s\" has no tool result (expected "
	    "output-available or output-error)",
	    where,
	    state != NULL ? cs_echo(q, state, strlen(state)) : "(missing)");
	return NULL;
}

static int
add_tool_part(struct block *b, struct json_object *part, const char *name,
    const char *where, struct cs_reqerr *err)
{
	const char *id = get_str(part, "toolCallId");
	struct json_object *call = NULL, *fn = NULL, *res, *tm;

	if (json_object_get_boolean(
	        cs_json_opt_field(part, "providerExecuted")))
		return 0;
	if (id == NULL) {
		refuse(err, "%s.toolCallId: must be a string", where);
		return -1;
	}
	if ((res = tool_result(part, where, err)) == NULL)
		return -1;
	if ((tm = new_msg("tool", res)) == NULL ||
	    (call = json_object_new_object()) == NULL ||
	    (fn = json_object_new_object()) == NULL) {
		json_object_put(tm);
		json_object_put(call);
		return -1;
	}
	json_object_object_add(tm, "tool_call_id", json_object_new_string(id));
	json_object_array_add(b->results, tm);
	json_object_object_add(fn, "name", json_object_new_string(name));
	json_object_object_add(
	    fn, "arguments", json_text(cs_json_opt_field(part, "input")));
	json_object_object_add(call, "id", json_object_new_string(id));
	json_object_object_add(
	    call, "type", json_object_new_string("function"));
	json_object_object_add(call, "function", fn);
	json_object_array_add(b->calls, call);
	return 0;
}

/* One part of message i: into b (texts, tools) or dropped or refused. */
static int
add_part(struct block *b, struct json_object *out, int assistant,
    struct json_object *part, size_t i, size_t j, struct cs_reqerr *err)
{
	char where[WHERE_MAX], q[CS_ECHO_MAX + 4];
	const char *type = get_str(part, "type"), *name;

	snprintf(where, sizeof(where), "messages[%zu].parts[%zu]", i, j);
	if (type == NULL) {
		refuse(err, "%s.type: must be a string", where);
		return -1;
	}
	if (strcmp(type, "text") == 0)
		return add_text_part(b->content, part, where, err);
	if (assistant && strcmp(type, "step-start") == 0)
		return block_flush(b, out);
	if (cs_str_in_list(type, dropped_parts, CS_ARRAY_LEN(dropped_parts)) ||
	    strncmp(type, "data-", 5) == 0)
		return 0;
	if (strcmp(type, "file") == 0) {
		refuse(err,
		    "%s: file parts are not supported (this "
		    "server takes text only)",
		    where);
		return -1;
	}
	if (assistant && (name = tool_name(part, type)) != NULL)
		return add_tool_part(b, part, name, where, err);
	refuse(err, "%s.type: unsupported part type \"%s\"", where,
	    cs_echo(q, type, strlen(type)));
	return -1;
}

/* "<what>: must be a, b or c" from the n names of list; returns -1. */
static int
refuse_list(
    struct cs_reqerr *err, const char *what, const char *const *list, size_t n)
{
	size_t k;

	refuse(err, "%s: must be ", what);
	for (k = 0; k < n; k++)
		cs_reqerr_item(err, "", list[k], k, n, " or ");
	return -1;
}

/* UIMessage i to native messages appended to out. */
static int
add_message(struct json_object *out, struct json_object *m, size_t i,
    struct cs_reqerr *err)
{
	struct json_object *nm, *parts = cs_json_opt_field(m, "parts");
	const char *role = get_str(m, "role");
	struct block b;
	size_t j, n;
	int assistant, rc = -1;
	char where[WHERE_MAX];

	if (!json_object_is_type(m, json_type_object)) {
		refuse(err, "messages[%zu]: must be an object", i);
		return -1;
	}
	snprintf(where, sizeof(where), "messages[%zu]", i);
	if (cs_req_check_fields(
	        m, msg_fields, CS_ARRAY_LEN(msg_fields), where, err) != CS_OK)
		return -1;
	if (role == NULL ||
	    !cs_str_in_list(role, ui_roles, CS_ARRAY_LEN(ui_roles))) {
		snprintf(where, sizeof(where), "messages[%zu].role", i);
		return refuse_list(
		    err, where, ui_roles, CS_ARRAY_LEN(ui_roles));
	}
	if (!json_object_is_type(parts, json_type_array)) {
		refuse(err, "messages[%zu].parts: must be an array", i);
		return -1;
	}
	assistant = strcmp(role, "assistant") == 0;
	if (block_init(&b) != 0)
		goto out;
	n = json_object_array_length(parts);
	for (j = 0; j < n; j++)
		if (add_part(&b, out, assistant,
		        json_object_array_get_idx(parts, j), i, j, err) != 0)
			goto out;
	if (assistant)
		rc = block_flush(&b, out);
	else if ((nm = new_msg(role, json_object_get(b.content))) != NULL)
		rc = json_object_array_add(out, nm);
out:
	block_free(&b);
	return rc;
}

/* id, trigger and messageId: checked, then left out of the result. */
static int
check_ui_fields(struct json_object *top, struct cs_reqerr *err)
{
	struct json_object *v;
	const char *t;

	if ((v = cs_json_opt_field(top, "id")) != NULL &&
	    !json_object_is_type(v, json_type_string)) {
		refuse(err, "id: must be a string");
		return -1;
	}
	if ((v = cs_json_opt_field(top, "messageId")) != NULL &&
	    !json_object_is_type(v, json_type_string)) {
		refuse(err, "messageId: must be a string");
		return -1;
	}
	if ((v = cs_json_opt_field(top, "trigger")) != NULL &&
	    ((t = get_str(top, "trigger")) == NULL ||
	        !cs_str_in_list(t, triggers, CS_ARRAY_LEN(triggers))))
		return refuse_list(
		    err, "trigger", triggers, CS_ARRAY_LEN(triggers));
	return 0;
}

/* The native request: top's other fields, and the translated messages. */
static struct json_object *
translate(struct json_object *top, struct cs_reqerr *err)
{
	static const char *const consumed[] = { "id", "trigger", "messageId",
		"messages" };
	struct json_object *res, *msgs,
	    *in = cs_json_opt_field(top, "messages");
	size_t i, n;

	if (check_ui_fields(top, err) != 0)
		return NULL;
	if (!json_object_is_type(in, json_type_array)) {
		refuse(err, "messages: must be an array of UI messages");
		return NULL;
	}
	if ((res = json_object_new_object()) == NULL ||
	    (msgs = json_object_new_array()) == NULL) {
		json_object_put(res);
		return NULL;
	}
	json_object_object_add(res, "messages", msgs);
	json_object_object_foreach(top, key,
	    val) if (!cs_str_in_list(key, consumed, CS_ARRAY_LEN(consumed)))
	    json_object_object_add(res, key, json_object_get(val));
	n = json_object_array_length(in);
	for (i = 0; i < n; i++)
		if (add_message(
		        msgs, json_object_array_get_idx(in, i), i, err) != 0) {
			json_object_put(res);
			return NULL;
		}
	return res;
}

enum cs_err
cs_ui_request_translate(
    const char *body, size_t len, struct cs_buf *out, struct cs_reqerr *err)
{
	struct json_object *top = NULL, *res = NULL;
	struct cs_reqerr local;
	const char *s;
	enum cs_err r = CS_EDONE;

	if (err == NULL)
		err = &local;

	/* Cheap first: a native body has neither word as a key. */
	if (memmem(body, len, "\"parts\"", 7) == NULL &&
	    memmem(body, len, "\"trigger\"", 9) == NULL)
		goto out;
	if ((top = cs_json_strict_object(body, len)) == NULL || !is_ui(top))
		goto out;
	r = CS_EBADINPUT;
	err->message[0] = '\0';
	if ((res = translate(top, err)) == NULL) {
		if (err->message[0] == '\0') { /* not refused: no memory */
			r = cs_reqerr_nomem(err);
		}
		goto out;
	}
	s = json_object_to_json_string_ext(
	    res, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
	if ((r = cs_buf_puts(out, s)) == CS_ETOOBIG)
		refuse_size(err,
		    "messages: longer than %zu bytes once "
		    "translated",
		    out->max);
	else if (r != CS_OK)
		cs_reqerr_nomem(err);
out:
	json_object_put(res);
	json_object_put(top);
	return r;
}
