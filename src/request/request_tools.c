/*
 * request_tools.c — the client's tools: "tools" (normalised to the OpenAI
 * shape), "tool_choice", and the tool calls of assistant messages
 * (messages[].tool_calls); and structured output, "response_format",
 * whose JSON schema is checked like a tool's parameters.  The rules are
 * at the top of request.c.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "request_int.h"

#define MAX_TOOLS    64 /* tools[], messages[].tool_calls[] */
#define MAX_TOOLNAME 64 /* function names */

static const char *const tool_fields[] = { "type", "function" };

static const char *const fn_fields[] = {
	"name",
	"description",
	"parameters",
	"strict",
};

/* The fields of a tool's function kept as sent, once of the right type. */
static const struct {
	const char *name;
	enum json_type type;
	const char *rule;
} fn_kept[] = {
	{ "parameters", json_type_object, "a JSON schema object" },
	{ "strict", json_type_boolean, "true or false" },
};

static const char *const call_fields[] = { "id", "type", "function" };

static const char *const call_fn_fields[] = { "name", "arguments" };

static const char *const choice_fn_fields[] = { "name" };

/* o.type (o named by where) must be "function". */
static enum cs_err
check_function_type(struct json_object *o, const char *where, const char *what,
    struct cs_reqerr *err)
{
	struct json_object *v;
	const char *s;
	size_t n;
	char w[WHERE_MAX + 32], q[ECHO_MAX + 4];
	enum cs_err r;

	snprintf(w, sizeof(w), "%s.type", where);
	if ((v = cs_json_opt_field(o, "type")) == NULL) {
		refuse(err, "%s: missing (must be \"function\")", w);
		return CS_EBADINPUT;
	}
	if ((r = cs_req_check_str(v, w, SIZE_MAX, 0, &s, &n, err)) != CS_OK)
		return r;
	if (strcmp(s, "function") != 0) {
		refuse(err,
		    "%s: unsupported %s type \"%s\" (only "
		    "\"function\")",
		    w, what, cs_echo(q, s, n));
		return CS_EBADINPUT;
	}
	return CS_OK;
}

/* o.function (o named by where) must be an object; returns it or NULL. */
static struct json_object *
function_obj(struct json_object *o, const char *where, struct cs_reqerr *err)
{
	struct json_object *v;

	if ((v = cs_json_opt_field(o, "function")) == NULL) {
		refuse(err, "%s.function: missing", where);
		return NULL;
	}
	if (!json_object_is_type(v, json_type_object)) {
		refuse(err, "%s.function: must be an object", where);
		return NULL;
	}
	return v;
}

/* v, named w: 1..MAX_TOOLNAME bytes of [A-Za-z0-9_-]. */
static enum cs_err
check_ident(struct json_object *v, const char *w, const char **s, size_t *n,
    struct cs_reqerr *err)
{
	char q[ECHO_MAX + 4];
	size_t k;
	unsigned char c;
	enum cs_err r;

	if ((r = cs_req_check_str(v, w, MAX_TOOLNAME, 0, s, n, err)) != CS_OK)
		return r;
	if (*n == 0) {
		refuse(err, "%s: must not be empty", w);
		return CS_EBADINPUT;
	}
	for (k = 0; k < *n; k++) {
		c = (unsigned char)(*s)[k];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		        (c >= '0' && c <= '9') || c == '_' || c == '-')) {
			refuse(err,
			    "%s: \"%s\" has characters other "
			    "than A-Z, a-z, 0-9, _ and -",
			    w, cs_echo(q, *s, *n));
			return CS_EBADINPUT;
		}
	}
	return CS_OK;
}

/* fn.name, as check_ident. */
static enum cs_err
check_fname(struct json_object *fn, const char *where, const char **s,
    size_t *n, struct cs_reqerr *err)
{
	char w[WHERE_MAX + 32];

	snprintf(w, sizeof(w), "%s.function.name", where);
	return check_ident(cs_json_opt_field(fn, "name"), w, s, n, err);
}

/* tools[j] into a new normalised object *out. */
static enum cs_err
parse_tool(const struct cs_config *cfg, struct json_object *o, size_t j,
    struct json_object **out, struct cs_reqerr *err)
{
	struct json_object *fn, *v, *nt = NULL, *nfn;
	const char *s;
	size_t n, k;
	char where[WHERE_MAX], w[WHERE_MAX + 32];
	enum cs_err r;

	*out = NULL;
	snprintf(where, sizeof(where), "tools[%zu]", j);
	if (!json_object_is_type(o, json_type_object)) {
		refuse(err,
		    "%s: must be an object {\"type\":\"function\","
		    "\"function\":{...}}",
		    where);
		return CS_EBADINPUT;
	}
	if ((r = cs_req_check_fields(o, tool_fields, CS_ARRAY_LEN(tool_fields),
	         where, err)) != CS_OK ||
	    (r = check_function_type(o, where, "tool", err)) != CS_OK)
		return r;
	if ((fn = function_obj(o, where, err)) == NULL)
		return CS_EBADINPUT;
	snprintf(w, sizeof(w), "%s.function", where);
	if ((r = cs_req_check_fields(
	         fn, fn_fields, CS_ARRAY_LEN(fn_fields), w, err)) != CS_OK)
		return r;
	if ((r = check_fname(fn, where, &s, &n, err)) != CS_OK)
		return r;

	r = CS_ENOMEM;
	if ((nt = json_object_new_object()) == NULL ||
	    (nfn = json_object_new_object()) == NULL)
		goto fail;
	json_object_object_add(nt, "type", json_object_new_string("function"));
	json_object_object_add(nt, "function", nfn);
	json_object_object_add(
	    nfn, "name", json_object_new_string_len(s, (int)n));
	if ((v = cs_json_opt_field(fn, "description")) != NULL) {
		snprintf(w, sizeof(w), "%s.function.description", where);
		if ((r = cs_req_check_str(v, w, cfg->max_message_bytes, 1, &s,
		         &n, err)) != CS_OK)
			goto fail;
		json_object_object_add(
		    nfn, "description", json_object_new_string_len(s, (int)n));
	}
	for (k = 0; k < CS_ARRAY_LEN(fn_kept); k++) {
		if ((v = cs_json_opt_field(fn, fn_kept[k].name)) == NULL)
			continue;
		if (!json_object_is_type(v, fn_kept[k].type)) {
			refuse(err, "%s.function.%s: must be %s", where,
			    fn_kept[k].name, fn_kept[k].rule);
			r = CS_EBADINPUT;
			goto fail;
		}
		json_object_object_add(
		    nfn, fn_kept[k].name, json_object_get(v));
	}
	*out = nt;
	return CS_OK;
fail:
	if (r == CS_ENOMEM)
		cs_reqerr_nomem(err);
	json_object_put(nt);
	return r;
}

/* The name of normalised tool k. */
static const char *
tool_name(struct json_object *tools, size_t k)
{
	return json_object_get_string(json_object_object_get(
	    json_object_object_get(
	        json_object_array_get_idx(tools, k), "function"),
	    "name"));
}

/* "tools" into req->tools, req->n_tools. */
enum cs_err
cs_req_read_tools(
    struct cs_req_ctx *ctx, struct json_object *v, struct cs_reqerr *err)
{
	const struct cs_config *cfg = ctx->cfg;
	struct cs_chat_request *req = ctx->req;
	struct json_object *t;
	size_t n, j, k;
	char q[ECHO_MAX + 4];
	enum cs_err r;

	if (v == NULL)
		return CS_OK;
	if (!json_object_is_type(v, json_type_array)) {
		refuse(err, "tools: must be an array");
		return CS_EBADINPUT;
	}
	if ((n = json_object_array_length(v)) == 0)
		return CS_OK;
	if (!cfg->client_tools) {
		refuse(err, "tools: not allowed by this server");
		return CS_EBADINPUT;
	}
	if (n > MAX_TOOLS) {
		refuse(err, "tools: too many (%zu > max %d)", n, MAX_TOOLS);
		return CS_EBADINPUT;
	}
	if ((req->tools = json_object_new_array()) == NULL) {
		return cs_reqerr_nomem(err);
	}
	for (j = 0; j < n; j++) {
		if ((r = parse_tool(cfg, json_object_array_get_idx(v, j), j, &t,
		         err)) != CS_OK)
			return r;
		if (json_object_array_add(req->tools, t) != 0) {
			json_object_put(t);
			return cs_reqerr_nomem(err);
		}
		req->n_tools = j + 1;
		for (k = 0; k < j; k++)
			if (strcmp(tool_name(req->tools, k),
			        tool_name(req->tools, j)) == 0) {
				refuse(err,
				    "tools[%zu].function.name: "
				    "\"%s\" repeats tools[%zu]",
				    j,
				    cs_echo(q, tool_name(req->tools, j),
				        strlen(tool_name(req->tools, j))),
				    k);
				return CS_EBADINPUT;
			}
	}
	return CS_OK;
}

/* The strings tool_choice may be, in the order its refusal names them. */
static const struct {
	const char *name;
	enum cs_tool_choice choice;
} choice_names[] = {
	{ "auto", CS_TOOL_CHOICE_AUTO },
	{ "none", CS_TOOL_CHOICE_NONE },
	{ "required", CS_TOOL_CHOICE_REQUIRED },
};

/* 'tool_choice: must be "auto", ... or {...}' from choice_names. */
static enum cs_err
refuse_choice(struct cs_reqerr *err)
{
	size_t k, n = CS_ARRAY_LEN(choice_names) + 1;

	refuse(err, "tool_choice: must be ");
	for (k = 0; k + 1 < n; k++)
		cs_reqerr_item(err, "\"", choice_names[k].name, k, n, " or ");
	cs_reqerr_item(err, "",
	    "{\"type\":\"function\",\"function\":"
	    "{\"name\":...}}",
	    k, n, " or ");
	return CS_EBADINPUT;
}

/* "tool_choice", after the tools. */
enum cs_err
cs_req_read_tool_choice(
    struct cs_req_ctx *ctx, struct json_object *v, struct cs_reqerr *err)
{
	struct cs_chat_request *req = ctx->req;
	struct json_object *fn;
	const char *s;
	size_t n, k;
	char q[ECHO_MAX + 4];
	enum cs_err r;

	if (v == NULL)
		return CS_OK;
	if (json_object_is_type(v, json_type_string)) {
		s = json_object_get_string(v);
		for (k = 0; k < CS_ARRAY_LEN(choice_names); k++)
			if (strcmp(s, choice_names[k].name) == 0)
				break;
		if (k == CS_ARRAY_LEN(choice_names))
			return refuse_choice(err);
		req->tool_choice = choice_names[k].choice;
		if (req->tools == NULL) {
			if (req->tool_choice == CS_TOOL_CHOICE_REQUIRED) {
				refuse(err,
				    "tool_choice: \"required\" "
				    "needs tools");
				return CS_EBADINPUT;
			}
			/* Nothing to choose from: drop it. */
			req->tool_choice = CS_TOOL_CHOICE_UNSET;
		}
		return CS_OK;
	}
	if (!json_object_is_type(v, json_type_object))
		return refuse_choice(err);
	if ((r = cs_req_check_fields(v, tool_fields, CS_ARRAY_LEN(tool_fields),
	         "tool_choice", err)) != CS_OK ||
	    (r = check_function_type(v, "tool_choice", "tool", err)) != CS_OK)
		return r;
	if ((fn = function_obj(v, "tool_choice", err)) == NULL)
		return CS_EBADINPUT;
	if ((r = cs_req_check_fields(fn, choice_fn_fields,
	         CS_ARRAY_LEN(choice_fn_fields), "tool_choice.function",
	         err)) != CS_OK ||
	    (r = check_fname(fn, "tool_choice", &s, &n, err)) != CS_OK)
		return r;
	for (k = 0; k < req->n_tools; k++)
		if (strcmp(tool_name(req->tools, k), s) == 0)
			break;
	if (k == req->n_tools) {
		refuse(err,
		    "tool_choice.function.name: \"%s\" is not one "
		    "of the tools",
		    cs_echo(q, s, n));
		return CS_EBADINPUT;
	}
	if ((req->tool_choice_name = cs_req_dupmem(s, n)) == NULL) {
		return cs_reqerr_nomem(err);
	}
	req->tool_choice = CS_TOOL_CHOICE_NAMED;
	return CS_OK;
}

/* messages[i].tool_calls[j] into tc. */
static enum cs_err
parse_tool_call(const struct cs_config *cfg, struct json_object *o, size_t i,
    size_t j, struct cs_tool_call *tc, struct cs_reqerr *err)
{
	struct json_object *v, *fn;
	const char *s;
	size_t n;
	char where[WHERE_MAX], w[WHERE_MAX + 32];
	enum cs_err r;

	snprintf(where, sizeof(where), "messages[%zu].tool_calls[%zu]", i, j);
	if (!json_object_is_type(o, json_type_object)) {
		refuse(err,
		    "%s: must be an object {\"id\",\"type\":"
		    "\"function\",\"function\":{\"name\",\"arguments\"}}",
		    where);
		return CS_EBADINPUT;
	}
	if ((r = cs_req_check_fields(o, call_fields, CS_ARRAY_LEN(call_fields),
	         where, err)) != CS_OK ||
	    (r = check_function_type(o, where, "tool call", err)) != CS_OK)
		return r;
	snprintf(w, sizeof(w), "%s.id", where);
	if ((r = cs_req_check_str(cs_json_opt_field(o, "id"), w,
	         MAX_TOOLID_BYTES, 0, &s, &n, err)) != CS_OK)
		return r;
	if (n == 0) {
		refuse(err, "%s: must not be empty", w);
		return CS_EBADINPUT;
	}
	if ((tc->id = cs_req_dupmem(s, n)) == NULL)
		goto nomem;
	if ((fn = function_obj(o, where, err)) == NULL)
		return CS_EBADINPUT;
	snprintf(w, sizeof(w), "%s.function", where);
	if ((r = cs_req_check_fields(fn, call_fn_fields,
	         CS_ARRAY_LEN(call_fn_fields), w, err)) != CS_OK ||
	    (r = check_fname(fn, where, &s, &n, err)) != CS_OK)
		return r;
	if ((tc->name = cs_req_dupmem(s, n)) == NULL)
		goto nomem;
	snprintf(w, sizeof(w), "%s.function.arguments", where);
	if ((v = cs_json_opt_field(fn, "arguments")) == NULL) {
		refuse(err, "%s: missing (a string of JSON)", w);
		return CS_EBADINPUT;
	}
	if ((r = cs_req_check_str(
	         v, w, cfg->max_message_bytes, 1, &s, &n, err)) != CS_OK)
		return r;
	if ((tc->arguments = cs_req_dupmem(s, n)) == NULL)
		goto nomem;
	tc->arguments_len = n;
	return CS_OK;
nomem:
	return cs_reqerr_nomem(err);
}

/* messages[i].tool_calls into m; the role is read before. */
enum cs_err
cs_req_read_tool_calls(
    struct cs_req_ctx *ctx, struct json_object *v, struct cs_reqerr *err)
{
	struct cs_message *m = ctx->m;
	size_t n, j, i = ctx->i;
	enum cs_err r;

	if (v == NULL)
		return CS_OK;
	if (!json_object_is_type(v, json_type_array)) {
		refuse(err, "messages[%zu].tool_calls: must be an array", i);
		return CS_EBADINPUT;
	}
	if ((n = json_object_array_length(v)) == 0)
		return CS_OK;
	if (m->role != CS_ROLE_ASSISTANT) {
		refuse(err,
		    "messages[%zu].tool_calls: only assistant "
		    "messages may carry tool calls",
		    i);
		return CS_EBADINPUT;
	}
	if (n > MAX_TOOLS) {
		refuse(err,
		    "messages[%zu].tool_calls: too many (%zu > "
		    "max %d)",
		    i, n, MAX_TOOLS);
		return CS_EBADINPUT;
	}
	if ((m->tool_calls = calloc(n, sizeof(*m->tool_calls))) == NULL) {
		return cs_reqerr_nomem(err);
	}
	m->n_tool_calls = n;
	for (j = 0; j < n; j++)
		if ((r = parse_tool_call(ctx->cfg,
		         json_object_array_get_idx(v, j), i, j,
		         &m->tool_calls[j], err)) != CS_OK)
			return r;
	return CS_OK;
}

static const char *const format_fields[] = { "type", "json_schema" };

static const char *const schema_fields[] = {
	"name",
	"description",
	"schema",
	"strict",
};

/* response_format.json_schema (js) into a new normalised object *out. */
static enum cs_err
read_json_schema(const struct cs_config *cfg, struct json_object *js,
    struct json_object **out, struct cs_reqerr *err)
{
	static const char w[] = "response_format.json_schema";
	struct json_object *v, *o = NULL;
	const char *s;
	size_t n;
	enum cs_err r;

	*out = NULL;
	if (js == NULL || !json_object_is_type(js, json_type_object)) {
		refuse(err, "%s: %s (an object with \"name\" and \"schema\")",
		    w, js == NULL ? "missing" : "must be an object");
		return CS_EBADINPUT;
	}
	if ((r = cs_req_check_fields(js, schema_fields,
	         CS_ARRAY_LEN(schema_fields), w, err)) != CS_OK ||
	    (r = check_ident(cs_json_opt_field(js, "name"),
	         "response_format.json_schema.name", &s, &n, err)) != CS_OK)
		return r;
	r = CS_ENOMEM;
	if ((o = json_object_new_object()) == NULL)
		goto fail;
	json_object_object_add(
	    o, "name", json_object_new_string_len(s, (int)n));
	if ((v = cs_json_opt_field(js, "description")) != NULL) {
		if ((r = cs_req_check_str(v,
		         "response_format.json_schema.description",
		         cfg->max_message_bytes, 1, &s, &n, err)) != CS_OK)
			goto fail;
		json_object_object_add(
		    o, "description", json_object_new_string_len(s, (int)n));
	}
	r = CS_EBADINPUT;
	if ((v = cs_json_opt_field(js, "schema")) != NULL) {
		if (!json_object_is_type(v, json_type_object)) {
			refuse(
			    err, "%s.schema: must be a JSON schema object", w);
			goto fail;
		}
		json_object_object_add(o, "schema", json_object_get(v));
	}
	if ((v = cs_json_opt_field(js, "strict")) != NULL) {
		if (!json_object_is_type(v, json_type_boolean)) {
			refuse(err, "%s.strict: must be true or false", w);
			goto fail;
		}
		json_object_object_add(o, "strict", json_object_get(v));
	}
	*out = o;
	return CS_OK;
fail:
	if (r == CS_ENOMEM)
		cs_reqerr_nomem(err);
	json_object_put(o);
	return r;
}

/* "response_format" into req->response_format (NULL for "text"). */
enum cs_err
cs_req_read_response_format(
    struct cs_req_ctx *ctx, struct json_object *v, struct cs_reqerr *err)
{
	struct json_object *js, *f = NULL, *inner = NULL;
	char q[ECHO_MAX + 4];
	const char *s;
	size_t n;
	enum cs_err r;

	if (v == NULL)
		return CS_OK;
	if (!json_object_is_type(v, json_type_object)) {
		refuse(err,
		    "response_format: must be an object "
		    "{\"type\":\"json_object\"} or {\"type\":"
		    "\"json_schema\",\"json_schema\":{...}}");
		return CS_EBADINPUT;
	}
	if ((r = cs_req_check_fields(v, format_fields,
	         CS_ARRAY_LEN(format_fields), "response_format", err)) !=
	        CS_OK ||
	    (r = cs_req_check_str(cs_json_opt_field(v, "type"),
	         "response_format.type", 32, 0, &s, &n, err)) != CS_OK)
		return r;
	js = cs_json_opt_field(v, "json_schema");
	if (strcmp(s, "json_schema") == 0) {
		if ((r = read_json_schema(ctx->cfg, js, &inner, err)) != CS_OK)
			return r;
	} else if (strcmp(s, "text") != 0 && strcmp(s, "json_object") != 0) {
		refuse(err,
		    "response_format.type: unsupported \"%s\" (text, "
		    "json_object or json_schema)",
		    cs_echo(q, s, n));
		return CS_EBADINPUT;
	} else if (js != NULL) {
		refuse(err,
		    "response_format.json_schema: only with type "
		    "\"json_schema\"");
		return CS_EBADINPUT;
	} else if (s[0] == 't')
		return CS_OK; /* plain text: what an answer is anyway */
	if ((f = json_object_new_object()) == NULL) {
		json_object_put(inner);
		cs_reqerr_nomem(err);
		return CS_ENOMEM;
	}
	json_object_object_add(f, "type", json_object_new_string(s));
	if (inner != NULL)
		json_object_object_add(f, "json_schema", inner);
	ctx->req->response_format = f;
	return CS_OK;
}
