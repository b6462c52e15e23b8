/*
 * request_messages.c — "messages": each message's role, content (a string
 * or text parts, joined), name and tool_call_id (its tool_calls are
 * request_tools.c's), after the server's and the client's instructions,
 * which come first.  The rules are at the top of request.c.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "request_int.h"

#define MAX_NAME_BYTES 64 /* messages[].name */

/*
 * The roles a client may send, exact and case-sensitive as upstream APIs
 * are, in the order a refusal lists them.  "developer" is OpenAI's name
 * for system messages to reasoning models (SDKs send it by model name);
 * the adapter decides what the upstream gets.
 */
static const struct {
	const char *name;
	enum cs_role role;
	int developer;
} roles[] = {
	{ "system", CS_ROLE_SYSTEM, 0 },
	{ "developer", CS_ROLE_SYSTEM, 1 },
	{ "user", CS_ROLE_USER, 0 },
	{ "assistant", CS_ROLE_ASSISTANT, 0 },
	{ "tool", CS_ROLE_TOOL, 0 },
};

/* The types a content part may have, and the fields of one. */
static const char *const part_types[] = { "text" };
static const char *const part_fields[] = { "type", "text" };

const char *
cs_role_name(enum cs_role r)
{
	size_t k;

	for (k = 0; k < CS_ARRAY_LEN(roles); k++)
		if (roles[k].role == r && !roles[k].developer)
			return roles[k].name;
	return "unknown";
}

static enum cs_err
set_content(
    struct cs_message *m, const char *s, size_t n, struct cs_reqerr *err)
{
	if ((m->content = cs_req_dupmem(s, n)) == NULL)
		return cs_reqerr_nomem(err);
	m->content_len = n;
	return CS_OK;
}

/*
 * One content part, messages[i].content[j]: must be {"type":"text",
 * "text":"..."}.  Sets *s, *n to the text.
 */
static enum cs_err
check_part(struct json_object *part, size_t i, size_t j, size_t max,
    const char **s, size_t *n, struct cs_reqerr *err)
{
	const char *type;
	size_t tlen, k;
	char where[WHERE_MAX], q[ECHO_MAX + 4];
	enum cs_err r;

	if (!json_object_is_type(part, json_type_object)) {
		refuse(err,
		    "messages[%zu].content[%zu]: must be an "
		    "object {\"type\":\"text\",\"text\":...}",
		    i, j);
		return CS_EBADINPUT;
	}
	snprintf(where, sizeof(where), "messages[%zu].content[%zu].type", i, j);
	if ((r = cs_req_check_str(cs_json_opt_field(part, "type"), where,
	         SIZE_MAX, 0, &type, &tlen, err)) != CS_OK)
		return r;
	if (!cs_str_in_list(type, part_types, CS_ARRAY_LEN(part_types))) {
		refuse(err, "%s: unsupported part type \"%s\" (only ", where,
		    cs_echo(q, type, tlen));
		for (k = 0; k < CS_ARRAY_LEN(part_types); k++)
			cs_reqerr_item(err, "\"", part_types[k], k,
			    CS_ARRAY_LEN(part_types), " or ");
		cs_reqerr_append(err, ")", 0);
		return CS_EBADINPUT;
	}
	snprintf(where, sizeof(where), "messages[%zu].content[%zu]", i, j);
	if ((r = cs_req_check_fields(part, part_fields,
	         CS_ARRAY_LEN(part_fields), where, err)) != CS_OK)
		return r;
	snprintf(where, sizeof(where), "messages[%zu].content[%zu].text", i, j);
	if ((r = cs_req_check_str(cs_json_opt_field(part, "text"), where,
	         SIZE_MAX, 0, s, n, err)) != CS_OK)
		return r;
	if (*n > max) {
		refuse_size(err,
		    "messages[%zu].content: exceeds the limit "
		    "of %zu bytes",
		    i, max);
		return CS_ETOOBIG;
	}
	return CS_OK;
}

/*
 * messages[i].content as an array of text parts: validate them all and
 * size the result first, so the one allocation is bounded by max.
 */
static enum cs_err
parts_content(struct json_object *arr, size_t i, size_t max,
    struct cs_message *m, struct cs_reqerr *err)
{
	const char *s;
	size_t j, n, total = 0, nparts = json_object_array_length(arr);
	enum cs_err r;

	for (j = 0; j < nparts; j++) {
		if ((r = check_part(json_object_array_get_idx(arr, j), i, j,
		         max, &s, &n, err)) != CS_OK)
			return r;
		if (n > max - total) {
			refuse_size(err,
			    "messages[%zu].content: exceeds the "
			    "limit of %zu bytes",
			    i, max);
			return CS_ETOOBIG;
		}
		total += n;
	}
	if ((m->content = malloc(total + 1)) == NULL)
		return cs_reqerr_nomem(err);
	total = 0;
	for (j = 0; j < nparts; j++) {
		/* Validated above, so these lookups cannot fail. */
		s = json_object_get_string(json_object_object_get(
		    json_object_array_get_idx(arr, j), "text"));
		n = (size_t)json_object_get_string_len(json_object_object_get(
		    json_object_array_get_idx(arr, j), "text"));
		memcpy(m->content + total, s, n);
		total += n;
	}
	m->content[total] = '\0';
	m->content_len = total;
	return CS_OK;
}

/* messages[i].role into m->role (and m->developer). */
static enum cs_err
read_role(struct cs_req_ctx *ctx, struct json_object *v, struct cs_reqerr *err)
{
	struct cs_message *m = ctx->m;
	const char *s;
	size_t n, k;
	char where[WHERE_MAX], q[ECHO_MAX + 4];
	enum cs_err r;

	snprintf(where, sizeof(where), "messages[%zu].role", ctx->i);
	if ((r = cs_req_check_str(v, where, SIZE_MAX, 0, &s, &n, err)) != CS_OK)
		return r;
	for (k = 0; k < CS_ARRAY_LEN(roles); k++)
		if (strcmp(s, roles[k].name) == 0)
			break;
	if (k == CS_ARRAY_LEN(roles)) {
		refuse(err, "%s: unknown role \"%s\" (expected ", where,
		    cs_echo(q, s, n));
		for (k = 0; k < CS_ARRAY_LEN(roles); k++)
			cs_reqerr_item(err, "", roles[k].name, k,
			    CS_ARRAY_LEN(roles), " or ");
		cs_reqerr_append(err, ")", 0);
		return CS_EBADINPUT;
	}
	m->role = roles[k].role;
	m->developer = roles[k].developer;
	/* Fixed instructions: a system message would get around them. */
	if (m->role == CS_ROLE_SYSTEM &&
	    !cs_model_client_instructions(ctx->cfg, ctx->req->model)) {
		refuse(err,
		    "messages[%zu].role: %s messages are not "
		    "allowed by this server (its instructions are fixed)",
		    ctx->i, m->developer ? "developer" : "system");
		return CS_EBADINPUT;
	}
	return CS_OK;
}

/* messages[i].name: checked, not kept. */
static enum cs_err
read_name(struct cs_req_ctx *ctx, struct json_object *v, struct cs_reqerr *err)
{
	const char *s;
	size_t n;
	char where[WHERE_MAX];

	if (v == NULL)
		return CS_OK;
	snprintf(where, sizeof(where), "messages[%zu].name", ctx->i);
	return cs_req_check_str(v, where, MAX_NAME_BYTES, 0, &s, &n, err);
}

/* messages[i].tool_call_id: kept for tool messages only, as only those
 * may carry one upstream. */
static enum cs_err
read_tool_call_id(
    struct cs_req_ctx *ctx, struct json_object *v, struct cs_reqerr *err)
{
	const char *s;
	size_t n;
	char where[WHERE_MAX];
	enum cs_err r;

	if (v == NULL)
		return CS_OK;
	snprintf(where, sizeof(where), "messages[%zu].tool_call_id", ctx->i);
	if ((r = cs_req_check_str(
	         v, where, MAX_TOOLID_BYTES, 0, &s, &n, err)) != CS_OK)
		return r;
	if (ctx->m->role == CS_ROLE_TOOL &&
	    (ctx->m->tool_call_id = cs_req_dupmem(s, n)) == NULL)
		return cs_reqerr_nomem(err);
	return CS_OK;
}

/* messages[i].content, after the tool calls (v: NULL for absent and null
 * alike, so ctx->obj is asked which). */
static enum cs_err
read_content(
    struct cs_req_ctx *ctx, struct json_object *v, struct cs_reqerr *err)
{
	const struct cs_config *cfg = ctx->cfg;
	struct cs_message *m = ctx->m;
	const char *s;
	size_t n;
	char where[WHERE_MAX];
	enum cs_err r;

	snprintf(where, sizeof(where), "messages[%zu].content", ctx->i);
	if (!json_object_object_get_ex(ctx->obj, "content", &v)) {
		/* OpenAI lets an assistant message with tool calls omit
		 * its content. */
		if (m->n_tool_calls > 0)
			return set_content(m, "", 0, err);
		refuse(err, "%s: missing", where);
		return CS_EBADINPUT;
	}
	switch (json_object_get_type(v)) {
	case json_type_null:
		if (m->role != CS_ROLE_ASSISTANT) {
			refuse(err,
			    "%s: null is allowed only for "
			    "assistant messages",
			    where);
			return CS_EBADINPUT;
		}
		return set_content(m, "", 0, err);
	case json_type_string:
		if ((r = cs_req_check_str(v, where, cfg->max_message_bytes, 1,
		         &s, &n, err)) != CS_OK)
			return r;
		return set_content(m, s, n, err);
	case json_type_array:
		return parts_content(v, ctx->i, cfg->max_message_bytes, m, err);
	default:
		refuse(err,
		    "%s: must be a string or an array of text "
		    "parts",
		    where);
		return CS_EBADINPUT;
	}
}

/* The fields of a message, in reading order: the role decides what the
 * others may be, and content may be absent when there are tool calls. */
const struct cs_req_field cs_req_msg_fields[] = {
	/* name            shown  read */
	{ "role", 0, read_role },
	{ "name", 2, read_name },
	{ "tool_call_id", 3, read_tool_call_id },
	{ "tool_calls", 4, cs_req_read_tool_calls },
	{ "content", 1, read_content },
};
const size_t cs_req_n_msg_fields = CS_ARRAY_LEN(cs_req_msg_fields);

/* messages[ctx->i] (o) into ctx->m. */
static enum cs_err
read_message(
    struct cs_req_ctx *ctx, struct json_object *o, struct cs_reqerr *err)
{
	char where[WHERE_MAX];

	if (!json_object_is_type(o, json_type_object)) {
		refuse(err,
		    "messages[%zu]: must be an object with role "
		    "and content",
		    ctx->i);
		return CS_EBADINPUT;
	}
	ctx->obj = o;
	snprintf(where, sizeof(where), "messages[%zu]", ctx->i);
	return cs_req_read_fields(
	    ctx, cs_req_msg_fields, cs_req_n_msg_fields, where, err);
}

enum cs_err
cs_req_read_messages(
    struct cs_req_ctx *ctx, struct json_object *v, struct cs_reqerr *err)
{
	const struct cs_config *cfg = ctx->cfg;
	struct cs_chat_request *req = ctx->req;
	struct cs_req_ctx mc;
	const char *srv;
	size_t srv_len, nmsgs, k, i;
	enum cs_err r;

	if (v == NULL) {
		refuse(err,
		    "messages: missing (an array of "
		    "{\"role\",\"content\"} objects is required)");
		return CS_EBADINPUT;
	}
	if (!json_object_is_type(v, json_type_array)) {
		refuse(err, "messages: must be an array");
		return CS_EBADINPUT;
	}
	if ((nmsgs = json_object_array_length(v)) == 0) {
		refuse(err, "messages: must not be empty");
		return CS_EBADINPUT;
	}
	if (nmsgs > cfg->max_messages) {
		refuse(err, "messages: too many (%zu > max %zu)", nmsgs,
		    cfg->max_messages);
		return CS_EBADINPUT;
	}

	/* Server prompt first, then the client's, then the conversation;
	 * the count is bounded by max_messages + 2. */
	srv = cs_model_instructions(cfg, req->model);
	srv_len = strnlen(srv, CS_MAX_INSTRUCTIONS);
	req->n_messages = nmsgs + (srv_len > 0) + (ctx->instr_len > 0);
	if ((req->messages = calloc(req->n_messages, sizeof(*req->messages))) ==
	    NULL) {
		req->n_messages = 0;
		return cs_reqerr_nomem(err);
	}
	k = 0;
	if (srv_len > 0) {
		req->messages[k].role = CS_ROLE_SYSTEM;
		if ((r = set_content(&req->messages[k++], srv, srv_len, err)) !=
		    CS_OK)
			return r;
	}
	if (ctx->instr_len > 0) {
		req->messages[k].role = CS_ROLE_SYSTEM;
		if ((r = set_content(&req->messages[k++], ctx->instr,
		         ctx->instr_len, err)) != CS_OK)
			return r;
	}
	mc = *ctx;
	for (i = 0; i < nmsgs; i++) {
		mc.i = i;
		mc.m = &req->messages[k++];
		if ((r = read_message(
		         &mc, json_object_array_get_idx(v, i), err)) != CS_OK)
			return r;
	}
	return CS_OK;
}
