/*
 * request.c — parse and validate a POSTed chat request; see request.h.
 *
 * The body comes from an untrusted browser, so everything is checked
 * before anything is kept: strict JSON (json_strict.h: strict UTF-8, no
 * raw control characters or \u0000 in strings, no NaN, Infinity, "1." or
 * single quotes, all of which json-c 0.16 lets through even in strict
 * mode, and a depth limit), then every field against its rule.  This
 * file reads the top level; request_messages.c the messages and
 * request_tools.c the tools (request_int.h).  Each refusal names what
 * and where ("messages[2].role: ...") in a message that is safe to send
 * back and to log: client strings are echoed short, with quotes and
 * control characters replaced.
 *
 * Field policy (strict but practical; docs/protocol.md states it):
 *  - top level: messages, model, instructions, temperature, max_tokens,
 *    stop (a string or at most CS_STOP_MAX non-empty strings of at most
 *    CS_STOP_BYTES bytes, kept as an array), plus the OpenAI fields stream (a boolean, ignored: we always stream),
 *    user (a string, ignored) and n (must be 1).  Anything else is refused
 *    so that typos ("max_token") surface instead of being ignored.
 *  - a JSON null for an optional field means "absent", as OpenAI SDKs
 *    serialise unset options that way.
 *  - tools (array of at most 64 {"type":"function","function":{name,
 *    description?, parameters?, strict?}}, names 1..64 of [A-Za-z0-9_-],
 *    unique) and tool_choice ("auto", "none", "required" or
 *    {"type":"function","function":{"name":<one of the tools>}}): kept,
 *    normalised; refused when the config has client_tools = no.
 *    tool_choice "required" or named needs tools; "auto"/"none" without
 *    tools are accepted and dropped.
 *  - messages[]: role, content, name (string <= 64 bytes, not kept),
 *    tool_call_id (string <= 128 bytes, kept for tool messages only, as
 *    only those may carry one upstream), tool_calls (assistant messages
 *    only: at most 64 {"id","type":"function","function":{"name",
 *    "arguments":"<JSON text>"}}, kept).
 *  - content parts: {"type":"text","text":"..."} only.
 *  - duplicate keys: json-c keeps the last one; so do we.
 *  - an unknown key is refused with the list of the accepted ones, made
 *    from the table of fields the parser reads (cs_req_field).
 *  - lone surrogate escapes ("\ud800"): json-c turns them into U+FFFD,
 *    which is valid UTF-8, so they are accepted.
 */
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "json_strict.h"
#include "request_int.h"
#include "utf8.h"

#define MAX_TOKENS_CEIL 10000000L

static void
reqerr_vset(
    struct cs_reqerr *err, enum cs_fail fail, const char *fmt, va_list ap)
{
	if (err == NULL)
		return;
	err->fail = fail;
	vsnprintf(err->message, sizeof(err->message), fmt, ap);
	/* If vsnprintf cut inside a UTF-8 sequence, drop the partial one so
	 * the message stays valid UTF-8 wherever it is sent. */
	err->message[cs_utf8_valid_len(err->message, strlen(err->message))] =
	    '\0';
}

void
cs_reqerr_set(struct cs_reqerr *err, enum cs_fail fail, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	reqerr_vset(err, fail, fmt, ap);
	va_end(ap);
}

enum cs_err
cs_req_refuse(struct cs_reqerr *err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	reqerr_vset(err, CS_FAIL_INVALID, fmt, ap);
	va_end(ap);
	return CS_EBADINPUT;
}

enum cs_err
cs_reqerr_nomem(struct cs_reqerr *err)
{
	cs_reqerr_set(err, CS_FAIL_INTERNAL, "out of memory");
	return CS_ENOMEM;
}

int
cs_reqerr_append(struct cs_reqerr *err, const char *s, size_t reserve)
{
	size_t have = strlen(err->message), n = strlen(s);

	if (n + reserve >= sizeof(err->message) - have)
		return 0;
	memcpy(err->message + have, s, n + 1);
	return 1;
}

void
cs_reqerr_item(struct cs_reqerr *err, const char *q, const char *name, size_t k,
    size_t n, const char *last)
{
	if (k > 0)
		cs_reqerr_append(err, k + 1 == n ? last : ", ", 0);
	cs_reqerr_append(err, q, 0);
	cs_reqerr_append(err, name, 0);
	cs_reqerr_append(err, q, 0);
}

/*
 * Quote at most ECHO_MAX bytes of a client string for an error message:
 * whole UTF-8 sequences only (the body was validated), control characters,
 * '"' and '\\' replaced by '?' so the message needs no escaping to be read
 * unambiguously, "..." when cut.  dst must hold ECHO_MAX + 4 bytes.
 */
const char *
cs_echo(char *dst, const char *s, size_t n)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0, o = 0, l;

	while (i < n) {
		if ((l = cs_utf8_seq(p + i, n - i)) == 0)
			l = 1;
		if (o + l > ECHO_MAX) {
			memcpy(dst + o, "...", 3);
			o += 3;
			break;
		}
		if (l == 1 &&
		    (p[i] < 0x20 || p[i] == 0x7f || p[i] == '"' ||
		        p[i] == '\\' || p[i] >= 0x80))
			dst[o] = '?';
		else
			memcpy(dst + o, s + i, l);
		o += l;
		i += l;
	}
	dst[o] = '\0';
	return dst;
}

int
cs_str_in_list(const char *s, const char *const *list, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (strcmp(s, list[i]) == 0)
			return 1;
	return 0;
}

/* The value of an optional field, or NULL when absent or JSON null. */
struct json_object *
cs_json_opt_field(struct json_object *o, const char *key)
{
	struct json_object *v = NULL;

	if (!json_object_object_get_ex(o, key, &v))
		return NULL;
	return v;
}

enum cs_err
cs_req_check_str(struct json_object *v, const char *where, size_t max,
    int toobig, const char **s, size_t *n, struct cs_reqerr *err)
{
	int l;

	if (v == NULL) {
		refuse(err, "%s: missing", where);
		return CS_EBADINPUT;
	}
	if (!json_object_is_type(v, json_type_string)) {
		refuse(err, "%s: must be a string", where);
		return CS_EBADINPUT;
	}
	*s = json_object_get_string(v);
	l = json_object_get_string_len(v);
	*n = l < 0 ? 0 : (size_t)l;
	if (*n > max) {
		if (toobig) {
			refuse_size(err, "%s: exceeds the limit of %zu bytes",
			    where, max);
			return CS_ETOOBIG;
		}
		refuse(err, "%s: longer than %zu bytes", where, max);
		return CS_EBADINPUT;
	}
	/* The pre-scan refuses \u0000; this keeps the rule local. */
	if (memchr(*s, '\0', *n) != NULL) {
		refuse(err, "%s: contains a NUL character (U+0000)", where);
		return CS_EBADINPUT;
	}
	return CS_OK;
}

char *
cs_req_dupmem(const char *s, size_t n)
{
	char *p;

	if ((p = malloc(n + 1)) == NULL)
		return NULL;
	if (n > 0)
		memcpy(p, s, n);
	p[n] = '\0';
	return p;
}

enum cs_err
cs_req_check_fields(struct json_object *o, const char *const *list, size_t n,
    const char *where, struct cs_reqerr *err)
{
	struct json_object_iterator it, end;
	const char *key;
	char q[ECHO_MAX + 4];

	it = json_object_iter_begin(o);
	end = json_object_iter_end(o);
	for (; !json_object_iter_equal(&it, &end); json_object_iter_next(&it)) {
		key = json_object_iter_peek_name(&it);
		if (!cs_str_in_list(key, list, n)) {
			refuse(err, "%s: unknown field \"%s\"", where,
			    cs_echo(q, key, strlen(key)));
			return CS_EBADINPUT;
		}
	}
	return CS_OK;
}

/* Is key one of the table's fields? */
static int
in_table(const char *key, const struct cs_req_field *table, size_t n)
{
	size_t k;

	for (k = 0; k < n; k++)
		if (strcmp(key, table[k].name) == 0)
			return 1;
	return 0;
}

/* "unknown field ... (accepted: ...)", the names in their shown order. */
static enum cs_err
refuse_field(const char *key, const struct cs_req_field *table, size_t n,
    const char *where, struct cs_reqerr *err)
{
	char q[ECHO_MAX + 4];
	size_t s, k;

	refuse(err, "%s%sunknown field \"%s\" (accepted: ", where,
	    *where != '\0' ? ": " : "", cs_echo(q, key, strlen(key)));
	for (s = 0; s < n; s++)
		for (k = 0; k < n; k++)
			if (table[k].shown == s)
				cs_reqerr_item(
				    err, "", table[k].name, s, n, ", ");
	cs_reqerr_append(err, ")", 0);
	return CS_EBADINPUT;
}

enum cs_err
cs_req_read_fields(struct cs_req_ctx *ctx, const struct cs_req_field *table,
    size_t n, const char *where, struct cs_reqerr *err)
{
	struct json_object_iterator it, end;
	const char *key;
	size_t k;
	enum cs_err r;

	it = json_object_iter_begin(ctx->obj);
	end = json_object_iter_end(ctx->obj);
	for (; !json_object_iter_equal(&it, &end); json_object_iter_next(&it)) {
		key = json_object_iter_peek_name(&it);
		if (!in_table(key, table, n))
			return refuse_field(key, table, n, where, err);
	}
	for (k = 0; k < n; k++)
		if ((r = table[k].read(ctx,
		         cs_json_opt_field(ctx->obj, table[k].name), err)) !=
		    CS_OK)
			return r;
	return CS_OK;
}

/* "model": a configured model, or the default one. */
static enum cs_err
read_model(struct cs_req_ctx *ctx, struct json_object *v, struct cs_reqerr *err)
{
	const struct cs_config *cfg = ctx->cfg;
	const struct cs_model_cfg **model = &ctx->req->model;
	const char *s = NULL;
	size_t n, k;
	char q[ECHO_MAX + 4];
	enum cs_err r;

	if (v != NULL) {
		if ((r = cs_req_check_str(
		         v, "model", SIZE_MAX, 0, &s, &n, err)) != CS_OK)
			return r;
		if (n == 0) {
			refuse(err,
			    "model: must not be empty (omit it "
			    "for the default model)");
			return CS_EBADINPUT;
		}
		if ((*model = cs_config_model(cfg, s)) != NULL)
			return CS_OK;
		refuse(err,
		    "model: \"%s\" is not available on this "
		    "server (available: ",
		    cs_echo(q, s, n));
		for (k = 0; k < cfg->n_models && k < CS_MAX_MODELS; k++) {
			/* Leave room for ", ...)" so the list ends well. */
			if ((k > 0 && !cs_reqerr_append(err, ", ", 6)) ||
			    !cs_reqerr_append(err, cfg->models[k].name, 6)) {
				cs_reqerr_append(err, "...", 1);
				break;
			}
		}
		cs_reqerr_append(err, ")", 0);
		return CS_EBADINPUT;
	}
	if ((*model = cs_config_model(cfg, NULL)) == NULL) {
		/* cs_config_resolve() guarantees one; a server fault. */
		cs_reqerr_set(err, CS_FAIL_INTERNAL,
		    "model: no model is "
		    "configured on this server");
		return CS_ECONFIG;
	}
	return CS_OK;
}

/* "temperature", else the model's default one; after the model. */
static enum cs_err
read_temperature(
    struct cs_req_ctx *ctx, struct json_object *v, struct cs_reqerr *err)
{
	struct cs_chat_request *req = ctx->req;
	double d;

	if (v != NULL) {
		if ((!json_object_is_type(v, json_type_double) &&
		        !json_object_is_type(v, json_type_int)) ||
		    !isfinite(d = json_object_get_double(v)) || d < 0.0 ||
		    d > 2.0) {
			refuse(err,
			    "temperature: must be a number from 0 "
			    "to 2");
			return CS_EBADINPUT;
		}
		req->has_temperature = 1;
		/* -0 passes the range check; send upstream a plain 0. */
		req->temperature = d == 0.0 ? 0.0 : d;
	}
	if (!req->has_temperature && req->model->has_temperature) {
		req->has_temperature = 1;
		req->temperature = (double)req->model->temperature_milli /
		    1000.0;
	}
	return CS_OK;
}

/* "max_tokens", within the model's cap (which applies when absent). */
static enum cs_err
read_max_tokens(
    struct cs_req_ctx *ctx, struct json_object *v, struct cs_reqerr *err)
{
	struct cs_chat_request *req = ctx->req;
	int64_t ll;

	req->max_tokens = req->model->max_tokens > 0 ? req->model->max_tokens :
	                                               0;
	if (v == NULL)
		return CS_OK;
	if (!json_object_is_type(v, json_type_int)) {
		refuse(err, "max_tokens: must be an integer");
		return CS_EBADINPUT;
	}
	/* json-c saturates out-of-range integers at INT64_MIN/MAX, which
	 * the range check refuses. */
	ll = json_object_get_int64(v);
	if (ll < 1 || ll > MAX_TOKENS_CEIL) {
		refuse(
		    err, "max_tokens: must be from 1 to %ld", MAX_TOKENS_CEIL);
		return CS_EBADINPUT;
	}
	if (req->model->max_tokens > 0 && ll > req->model->max_tokens) {
		refuse(err,
		    "max_tokens: %lld exceeds this model's limit of "
		    "%ld",
		    (long long)ll, req->model->max_tokens);
		return CS_EBADINPUT;
	}
	req->max_tokens = (long)ll;
	return CS_OK;
}

static enum cs_err
read_n(struct cs_req_ctx *ctx, struct json_object *v, struct cs_reqerr *err)
{
	(void)ctx;
	if (v != NULL &&
	    (!json_object_is_type(v, json_type_int) ||
	        json_object_get_int64(v) != 1)) {
		refuse(err, "n: only 1 is supported");
		return CS_EBADINPUT;
	}
	return CS_OK;
}

/* "stream": a boolean, ignored (we always stream). */
static enum cs_err
read_stream(
    struct cs_req_ctx *ctx, struct json_object *v, struct cs_reqerr *err)
{
	(void)ctx;
	if (v != NULL && !json_object_is_type(v, json_type_boolean)) {
		refuse(err, "stream: must be true or false");
		return CS_EBADINPUT;
	}
	return CS_OK;
}

/* "user": a string, ignored. */
static enum cs_err
read_user(struct cs_req_ctx *ctx, struct json_object *v, struct cs_reqerr *err)
{
	(void)ctx;
	if (v != NULL && !json_object_is_type(v, json_type_string)) {
		refuse(err, "user: must be a string");
		return CS_EBADINPUT;
	}
	return CS_OK;
}

enum cs_err
cs_request_read_stop(struct json_object *v, const char *where,
    struct json_object **out, struct cs_reqerr *err)
{
	struct json_object *arr = NULL, *e;
	const char *str;
	size_t i, n = 1, len;
	char at[WHERE_MAX];
	enum cs_err r;

	*out = NULL;
	if (v == NULL)
		return CS_OK;
	if (json_object_is_type(v, json_type_array))
		n = json_object_array_length(v);
	else if (!json_object_is_type(v, json_type_string)) {
		refuse(
		    err, "%s: must be a string or an array of strings", where);
		return CS_EBADINPUT;
	}
	if (n > CS_STOP_MAX) {
		refuse(
		    err, "%s: at most %d stop sequences", where, CS_STOP_MAX);
		return CS_EBADINPUT;
	}
	if (n == 0)
		return CS_OK;
	if ((arr = json_object_new_array()) == NULL)
		return cs_reqerr_nomem(err);
	for (i = 0; i < n; i++) {
		e = json_object_is_type(v, json_type_array) ?
		    json_object_array_get_idx(v, i) :
		    v;
		if (e == v)
			snprintf(at, sizeof(at), "%s", where);
		else
			snprintf(at, sizeof(at), "%s[%zu]", where, i);
		if ((r = cs_req_check_str(
		         e, at, CS_STOP_BYTES, 0, &str, &len, err)) != CS_OK)
			goto fail;
		if (len == 0) {
			refuse(err, "%s: must not be empty", at);
			r = CS_EBADINPUT;
			goto fail;
		}
		if (json_object_array_add(arr, json_object_get(e)) != 0) {
			json_object_put(e);
			r = cs_reqerr_nomem(err);
			goto fail;
		}
	}
	*out = arr;
	return CS_OK;
fail:
	json_object_put(arr);
	return r;
}

/* "stop": one stop sequence or a few, normalised to an array. */
static enum cs_err
read_stop(struct cs_req_ctx *ctx, struct json_object *v, struct cs_reqerr *err)
{
	return cs_request_read_stop(v, "stop", &ctx->req->stop, err);
}

/* "instructions": kept in ctx for the messages, read after it. */
static enum cs_err
read_instructions(
    struct cs_req_ctx *ctx, struct json_object *v, struct cs_reqerr *err)
{
	enum cs_err r;

	if (v == NULL)
		return CS_OK;
	if ((r = cs_req_check_str(v, "instructions",
	         ctx->cfg->max_message_bytes, 1, &ctx->instr, &ctx->instr_len,
	         err)) != CS_OK)
		return r;
	if (ctx->instr_len > 0 &&
	    !cs_model_client_instructions(ctx->cfg, ctx->req->model)) {
		refuse(err, "instructions: not allowed by this server");
		return CS_EBADINPUT;
	}
	return CS_OK;
}

/*
 * The top-level fields in reading order: the model first (the options,
 * the instructions and the system messages depend on it), the tools
 * before tool_choice, the instructions before the messages they precede.
 */
const struct cs_req_field cs_req_top_fields[] = {
	/* name            shown  read */
	{ "model", 1, read_model },
	{ "temperature", 3, read_temperature },
	{ "max_tokens", 4, read_max_tokens },
	{ "n", 6, read_n },
	{ "stream", 5, read_stream },
	{ "user", 7, read_user },
	{ "tools", 8, cs_req_read_tools },
	{ "tool_choice", 9, cs_req_read_tool_choice },
	{ "response_format", 10, cs_req_read_response_format },
	{ "stop", 11, read_stop },
	{ "instructions", 2, read_instructions },
	{ "messages", 0, cs_req_read_messages },
};
const size_t cs_req_n_top_fields = CS_ARRAY_LEN(cs_req_top_fields);

enum cs_err
cs_request_parse(const struct cs_config *cfg, const char *body, size_t len,
    struct cs_chat_request **out, struct cs_reqerr *err)
{
	struct cs_reqerr scratch;
	struct cs_req_ctx ctx;
	struct json_object *top = NULL;
	struct cs_chat_request *req = NULL;
	enum cs_err r = CS_EBADINPUT;

	if (err == NULL)
		err = &scratch;
	err->fail = CS_FAIL_INVALID;
	err->message[0] = '\0';
	*out = NULL;

	/* Before parsing, so an oversized body costs no parse work. */
	if (len > cfg->max_body_bytes || len > INT_MAX) {
		refuse_size(err,
		    "body: %zu bytes exceeds the limit of %zu "
		    "bytes",
		    len, cfg->max_body_bytes);
		r = CS_ETOOBIG;
		goto fail;
	}
	if (len == 0) {
		refuse(err, "body: empty (expected a JSON object)");
		goto fail;
	}
	if ((r = cs_json_strict_parse(body, len, &top, err->message,
	         sizeof(err->message))) != CS_OK) {
		err->fail = r == CS_EBADINPUT ? CS_FAIL_INVALID :
		    r == CS_ETOOBIG           ? CS_FAIL_TOO_LARGE :
		                                CS_FAIL_INTERNAL;
		goto fail;
	}
	if ((req = calloc(1, sizeof(*req))) == NULL) {
		r = cs_reqerr_nomem(err);
		goto fail;
	}
	memset(&ctx, 0, sizeof(ctx));
	ctx.cfg = cfg;
	ctx.req = req;
	ctx.obj = top;
	if ((r = cs_req_read_fields(&ctx, cs_req_top_fields,
	         cs_req_n_top_fields, "", err)) != CS_OK)
		goto fail;

	*out = req;
	req = NULL;
	r = CS_OK;
fail:
	cs_request_free(req);
	json_object_put(top);
	return r;
}

void
cs_request_free(struct cs_chat_request *r)
{
	size_t i, j;

	if (r == NULL)
		return;
	for (i = 0; i < r->n_messages; i++) {
		free(r->messages[i].content);
		free(r->messages[i].tool_call_id);
		for (j = 0; j < r->messages[i].n_tool_calls; j++) {
			free(r->messages[i].tool_calls[j].id);
			free(r->messages[i].tool_calls[j].name);
			free(r->messages[i].tool_calls[j].arguments);
		}
		free(r->messages[i].tool_calls);
	}
	free(r->messages);
	json_object_put(r->tools);
	json_object_put(r->response_format);
	json_object_put(r->stop);
	free(r->tool_choice_name);
	free(r);
}

const char *
cs_request_wire_model(const struct cs_chat_request *r)
{
	return r->wire_model != NULL ? r->wire_model :
	                               cs_model_wire_name(r->model);
}

const char *
cs_request_last_user(const struct cs_chat_request *r)
{
	size_t i;

	if (r == NULL)
		return "";
	for (i = r->n_messages; i > 0; i--)
		if (r->messages[i - 1].role == CS_ROLE_USER)
			return r->messages[i - 1].content;
	return "";
}
