/*
 * request.c — parse and validate a POSTed chat request; see request.h.
 *
 * The body comes from an untrusted browser, so everything is checked
 * before anything is kept: a lexical pre-scan (strict UTF-8, no raw
 * control characters or \u0000 in strings, no NaN, Infinity, "1." or
 * single quotes, all of which json-c 0.16 lets through even in strict
 * mode), then json-c with a depth limit, then every field against its
 * rule.  Each refusal names what and where ("messages[2].role: ...") in a
 * message that is safe to send back and to log: client strings are echoed
 * short, with quotes and control characters replaced.
 *
 * Field policy (strict but practical; docs/protocol.md states it):
 *  - top level: messages, model, instructions, temperature, max_tokens,
 *    plus the OpenAI fields stream (a boolean, ignored: we always stream),
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

#include "request.h"
#include "utf8.h"

#define MAX_TOKENS_CEIL   10000000L
#define MAX_NAME_BYTES    64      /* messages[].name */
#define MAX_TOOLID_BYTES  128     /* messages[].tool_call_id */
#define MAX_TOOLS         64      /* tools[], messages[].tool_calls[] */
#define MAX_TOOLNAME      64      /* function names */
#define ECHO_MAX          CS_ECHO_MAX  /* client bytes quoted in a message */
#define WHERE_MAX         96      /* "messages[N].content[M].type" */

static const char *const top_fields[] = {
	"messages", "model", "instructions", "temperature", "max_tokens",
	"stream", "n", "user", "tools", "tool_choice",
};

static const char *const tool_fields[] = { "type", "function" };

static const char *const fn_fields[] = {
	"name", "description", "parameters", "strict",
};

static const char *const call_fields[] = { "id", "type", "function" };

static const char *const call_fn_fields[] = { "name", "arguments" };

static const char *const choice_fn_fields[] = { "name" };

static const char *const msg_fields[] = {
	"role", "content", "name", "tool_call_id", "tool_calls",
};

static const char *const role_names[] = {
	[CS_ROLE_SYSTEM] = "system",
	[CS_ROLE_USER] = "user",
	[CS_ROLE_ASSISTANT] = "assistant",
	[CS_ROLE_TOOL] = "tool",
};

const char *
cs_role_name(enum cs_role r)
{
	if ((size_t)r < CS_ARRAY_LEN(role_names))
		return role_names[r];
	return "unknown";
}

/*
 * If vsnprintf cut msg inside a UTF-8 sequence, drop the partial sequence
 * so the message stays valid UTF-8 wherever it is sent.
 */
static void
trim_utf8_tail(char *msg)
{
	/* What vsnprintf wrote is valid up to where it cut. */
	msg[cs_utf8_valid_len(msg, strlen(msg))] = '\0';
}

static void seterr(struct cs_reqerr *, enum cs_fail, const char *, ...)
    __attribute__((format(printf, 3, 4)));
/* The two refusals: a wrong request (400), one over a size limit (413). */
#define refuse(err, ...)      seterr(err, CS_FAIL_INVALID, __VA_ARGS__)
#define refuse_size(err, ...) seterr(err, CS_FAIL_TOO_LARGE, __VA_ARGS__)

static void
seterr(struct cs_reqerr *err, enum cs_fail fail, const char *fmt, ...)
{
	va_list ap;

	err->fail = fail;
	va_start(ap, fmt);
	vsnprintf(err->message, sizeof(err->message), fmt, ap);
	va_end(ap);
	trim_utf8_tail(err->message);
}

/* Append s to the message if it fits whole; returns 0 if it did not. */
static int
msg_append(struct cs_reqerr *err, const char *s, size_t reserve)
{
	size_t have = strlen(err->message), n = strlen(s);

	if (n + reserve >= sizeof(err->message) - have)
		return 0;
	memcpy(err->message + have, s, n + 1);
	return 1;
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
		if (l == 1 && (p[i] < 0x20 || p[i] == 0x7f || p[i] == '"' ||
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

static int
is_ws(unsigned char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/* A byte that cannot be there: show it if printable, else its value. */
static int
unexpected(const unsigned char *p, size_t i, struct cs_reqerr *err)
{
	if (p[i] > 0x20 && p[i] < 0x7f)
		refuse(err, "invalid JSON at byte %zu: unexpected "
		    "character '%c'", i, p[i]);
	else
		refuse(err, "invalid JSON at byte %zu: unexpected "
		    "byte 0x%02x", i, p[i]);
	return -1;
}

/*
 * Lexical pre-scan of the whole body.  json-c 0.16 in strict mode still
 * accepts overlong and surrogate UTF-8, raw control characters inside
 * strings, NaN/Infinity and single-quoted strings, and it silently cuts
 * object keys at an escaped NUL; reject all of that here, where the byte
 * offset is known.  Everything this lets through json-c checks properly.
 */
static int
scan_body(const char *body, size_t len, struct cs_reqerr *err)
{
	/* Bytes that may appear outside strings in JSON. */
	static const char outside[] = " \t\r\n{}[],:0123456789+-.eE"
	    "truefalsn";
	const unsigned char *p = (const unsigned char *)body;
	size_t i = 0, l;
	int in_str = 0;

	if (len >= 3 && p[0] == 0xef && p[1] == 0xbb && p[2] == 0xbf) {
		refuse(err, "body: starts with a byte order mark "
		    "(not allowed)");
		return -1;
	}
	while (i < len) {
		if (p[i] >= 0x80) {
			if ((l = cs_utf8_seq(p + i, len - i)) == 0) {
				refuse(err, "body: invalid UTF-8 at "
				    "byte %zu", i);
				return -1;
			}
			if (!in_str)
				return unexpected(p, i, err);
			i += l;
			continue;
		}
		if (in_str) {
			if (p[i] == '"')
				in_str = 0;
			else if (p[i] == '\\') {
				if (len - i >= 6 &&
				    memcmp(p + i + 1, "u0000", 5) == 0) {
					refuse(err, "invalid JSON at byte "
					    "%zu: \\u0000 (NUL) is not allowed "
					    "in strings", i);
					return -1;
				}
				/* Skip the escaped byte so \" does not end
				 * the string; json-c checks the escape.  A
				 * non-ASCII one is left to the UTF-8 check. */
				if (i + 1 < len && p[i + 1] < 0x80)
					i++;
			} else if (p[i] < 0x20) {
				refuse(err, "invalid JSON at byte %zu: "
				    "unescaped control character 0x%02x in a "
				    "string", i, p[i]);
				return -1;
			}
			i++;
			continue;
		}
		if (p[i] == '"')
			in_str = 1;
		else if (p[i] == '\0' || memchr(outside, p[i],
		    sizeof(outside) - 1) == NULL)
			return unexpected(p, i, err);
		else if (p[i] == '.' && (i + 1 == len || p[i + 1] < '0' ||
		    p[i + 1] > '9'))
			/* "1." is not JSON; json-c would read 1.0. */
			return unexpected(p, i, err);
		i++;
	}
	return 0;
}

/*
 * Parse the body into a JSON object, or fill err.  The body is exactly
 * len bytes, not NUL-terminated.
 */
static enum cs_err
parse_json(const char *body, size_t len, struct json_object **out,
    struct cs_reqerr *err)
{
	struct json_tokener *tok = NULL;
	struct json_object *obj = NULL;
	enum json_tokener_error jerr;
	enum cs_err r = CS_EBADINPUT;
	size_t i, end;

	*out = NULL;
	if (scan_body(body, len, err) == -1)
		goto fail;
	for (i = 0; i < len && is_ws((unsigned char)body[i]); i++)
		continue;
	if (i == len) {
		refuse(err, "body: empty (expected a JSON object)");
		goto fail;
	}
	/* Checked here because json-c cannot tell a complete top-level
	 * number from one cut short, and "must be an object" is clearer. */
	if (body[i] != '{') {
		refuse(err, "body: must be a JSON object");
		goto fail;
	}
	r = CS_ENOMEM;
	if ((tok = json_tokener_new_ex(CS_JSON_MAX_DEPTH)) == NULL) {
		seterr(err, CS_FAIL_INTERNAL, "out of memory");
		goto fail;
	}
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT |
	    JSON_TOKENER_VALIDATE_UTF8);
	r = CS_EBADINPUT;
	obj = json_tokener_parse_ex(tok, body, (int)len);
	jerr = json_tokener_get_error(tok);
	end = json_tokener_get_parse_end(tok);
	if (obj == NULL) {
		if (jerr == json_tokener_continue)
			refuse(err, "invalid JSON at byte %zu: unexpected "
			    "end of input", len);
		else if (jerr == json_tokener_error_depth)
			refuse(err, "invalid JSON at byte %zu: nested "
			    "deeper than %d levels", end, CS_JSON_MAX_DEPTH);
		else
			refuse(err, "invalid JSON at byte %zu: %s", end,
			    json_tokener_error_desc(jerr));
		goto fail;
	}
	for (i = end; i < len; i++)
		if (!is_ws((unsigned char)body[i])) {
			refuse(err, "invalid JSON at byte %zu: data after "
			    "the object", i);
			goto fail;
		}
	if (!json_object_is_type(obj, json_type_object)) {
		refuse(err, "body: must be a JSON object");
		goto fail;
	}
	*out = obj;
	obj = NULL;
	r = CS_OK;
fail:
	json_object_put(obj);
	if (tok != NULL)
		json_tokener_free(tok);
	return r;
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

/*
 * Check that v is a string of at most max bytes without NUL.  Over the
 * limit is 413 when toobig is set (content), else 400 (names, ids).
 */
static enum cs_err
check_str(struct json_object *v, const char *where, size_t max, int toobig,
    const char **s, size_t *n, struct cs_reqerr *err)
{
	int l;

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
		refuse(err, "%s: contains a NUL character (U+0000)",
		    where);
		return CS_EBADINPUT;
	}
	return CS_OK;
}

static char *
dupmem(const char *s, size_t n)
{
	char *p;

	if ((p = malloc(n + 1)) == NULL)
		return NULL;
	if (n > 0)
		memcpy(p, s, n);
	p[n] = '\0';
	return p;
}

static enum cs_err
set_content(struct cs_message *m, const char *s, size_t n,
    struct cs_reqerr *err)
{
	if ((m->content = dupmem(s, n)) == NULL) {
		seterr(err, CS_FAIL_INTERNAL, "out of memory");
		return CS_ENOMEM;
	}
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
	struct json_object_iterator it, end;
	struct json_object *v;
	const char *type, *key;
	size_t tlen;
	char where[WHERE_MAX], q[ECHO_MAX + 4];
	enum cs_err r;

	if (!json_object_is_type(part, json_type_object)) {
		refuse(err, "messages[%zu].content[%zu]: must be an "
		    "object {\"type\":\"text\",\"text\":...}", i, j);
		return CS_EBADINPUT;
	}
	snprintf(where, sizeof(where), "messages[%zu].content[%zu].type", i,
	    j);
	if ((v = cs_json_opt_field(part, "type")) == NULL) {
		refuse(err, "%s: missing", where);
		return CS_EBADINPUT;
	}
	if ((r = check_str(v, where, SIZE_MAX, 0, &type, &tlen, err)) != CS_OK)
		return r;
	if (strcmp(type, "text") != 0) {
		refuse(err, "%s: unsupported part type \"%s\" (only "
		    "\"text\")", where, cs_echo(q, type, tlen));
		return CS_EBADINPUT;
	}
	it = json_object_iter_begin(part);
	end = json_object_iter_end(part);
	for (; !json_object_iter_equal(&it, &end); json_object_iter_next(&it)) {
		key = json_object_iter_peek_name(&it);
		if (strcmp(key, "type") != 0 && strcmp(key, "text") != 0) {
			refuse(err, "messages[%zu].content[%zu]: unknown "
			    "field \"%s\"", i, j, cs_echo(q, key, strlen(key)));
			return CS_EBADINPUT;
		}
	}
	snprintf(where, sizeof(where), "messages[%zu].content[%zu].text", i,
	    j);
	if ((v = cs_json_opt_field(part, "text")) == NULL) {
		refuse(err, "%s: missing", where);
		return CS_EBADINPUT;
	}
	if ((r = check_str(v, where, SIZE_MAX, 0, s, n, err)) != CS_OK)
		return r;
	if (*n > max) {
		refuse_size(err, "messages[%zu].content: exceeds the limit "
		    "of %zu bytes", i, max);
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
			refuse_size(err, "messages[%zu].content: exceeds the "
			    "limit of %zu bytes", i, max);
			return CS_ETOOBIG;
		}
		total += n;
	}
	if ((m->content = malloc(total + 1)) == NULL) {
		seterr(err, CS_FAIL_INTERNAL, "out of memory");
		return CS_ENOMEM;
	}
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
parse_role(struct json_object *o, size_t i, struct cs_message *m,
    struct cs_reqerr *err)
{
	struct json_object *v;
	const char *s;
	size_t n, k;
	char where[WHERE_MAX], q[ECHO_MAX + 4];
	enum cs_err r;

	snprintf(where, sizeof(where), "messages[%zu].role", i);
	if ((v = cs_json_opt_field(o, "role")) == NULL) {
		refuse(err, "%s: missing", where);
		return CS_EBADINPUT;
	}
	if ((r = check_str(v, where, SIZE_MAX, 0, &s, &n, err)) != CS_OK)
		return r;
	/* Exact and case-sensitive, as upstream APIs are. */
	for (k = 0; k < CS_ARRAY_LEN(role_names); k++)
		if (strcmp(s, role_names[k]) == 0) {
			m->role = (enum cs_role)k;
			return CS_OK;
		}
	/* OpenAI's name for system messages to reasoning models; SDKs send
	 * it by model name.  The adapter decides what the upstream gets. */
	if (strcmp(s, "developer") == 0) {
		m->role = CS_ROLE_SYSTEM;
		m->developer = 1;
		return CS_OK;
	}
	refuse(err, "%s: unknown role \"%s\" (expected system, "
	    "developer, user, assistant or tool)", where, cs_echo(q, s, n));
	return CS_EBADINPUT;
}

/* Refuse any field of o not in list; where names o. */
static enum cs_err
check_fields(struct json_object *o, const char *const *list, size_t n,
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

/* o.type (o named by where) must be "function". */
static enum cs_err
check_function_type(struct json_object *o, const char *where,
    const char *what, struct cs_reqerr *err)
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
	if ((r = check_str(v, w, SIZE_MAX, 0, &s, &n, err)) != CS_OK)
		return r;
	if (strcmp(s, "function") != 0) {
		refuse(err, "%s: unsupported %s type \"%s\" (only "
		    "\"function\")", w, what, cs_echo(q, s, n));
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

/* fn.name: 1..MAX_TOOLNAME bytes of [A-Za-z0-9_-]. */
static enum cs_err
check_fname(struct json_object *fn, const char *where, const char **s,
    size_t *n, struct cs_reqerr *err)
{
	struct json_object *v;
	char w[WHERE_MAX + 32], q[ECHO_MAX + 4];
	size_t k;
	unsigned char c;
	enum cs_err r;

	snprintf(w, sizeof(w), "%s.function.name", where);
	if ((v = cs_json_opt_field(fn, "name")) == NULL) {
		refuse(err, "%s: missing", w);
		return CS_EBADINPUT;
	}
	if ((r = check_str(v, w, MAX_TOOLNAME, 0, s, n, err)) != CS_OK)
		return r;
	if (*n == 0) {
		refuse(err, "%s: must not be empty", w);
		return CS_EBADINPUT;
	}
	for (k = 0; k < *n; k++) {
		c = (unsigned char)(*s)[k];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || c == '_' || c == '-')) {
			refuse(err, "%s: \"%s\" has characters other "
			    "than A-Z, a-z, 0-9, _ and -", w, cs_echo(q, *s, *n));
			return CS_EBADINPUT;
		}
	}
	return CS_OK;
}

/* tools[j] into a new normalised object *out. */
static enum cs_err
parse_tool(const struct cs_config *cfg, struct json_object *o, size_t j,
    struct json_object **out, struct cs_reqerr *err)
{
	struct json_object *fn, *v, *nt = NULL, *nfn;
	const char *s;
	size_t n;
	char where[WHERE_MAX], w[WHERE_MAX + 32];
	enum cs_err r;

	*out = NULL;
	snprintf(where, sizeof(where), "tools[%zu]", j);
	if (!json_object_is_type(o, json_type_object)) {
		refuse(err, "%s: must be an object {\"type\":\"function\","
		    "\"function\":{...}}", where);
		return CS_EBADINPUT;
	}
	if ((r = check_fields(o, tool_fields, CS_ARRAY_LEN(tool_fields),
	    where, err)) != CS_OK ||
	    (r = check_function_type(o, where, "tool", err)) != CS_OK)
		return r;
	if ((fn = function_obj(o, where, err)) == NULL)
		return CS_EBADINPUT;
	snprintf(w, sizeof(w), "%s.function", where);
	if ((r = check_fields(fn, fn_fields, CS_ARRAY_LEN(fn_fields), w,
	    err)) != CS_OK)
		return r;
	if ((r = check_fname(fn, where, &s, &n, err)) != CS_OK)
		return r;

	r = CS_ENOMEM;
	if ((nt = json_object_new_object()) == NULL ||
	    (nfn = json_object_new_object()) == NULL)
		goto fail;
	json_object_object_add(nt, "type", json_object_new_string("function"));
	json_object_object_add(nt, "function", nfn);
	json_object_object_add(nfn, "name", json_object_new_string_len(s,
	    (int)n));
	if ((v = cs_json_opt_field(fn, "description")) != NULL) {
		snprintf(w, sizeof(w), "%s.function.description", where);
		if ((r = check_str(v, w, cfg->max_message_bytes, 1, &s, &n,
		    err)) != CS_OK)
			goto fail;
		json_object_object_add(nfn, "description",
		    json_object_new_string_len(s, (int)n));
	}
	if ((v = cs_json_opt_field(fn, "parameters")) != NULL) {
		if (!json_object_is_type(v, json_type_object)) {
			refuse(err, "%s.function.parameters: must be a "
			    "JSON schema object", where);
			r = CS_EBADINPUT;
			goto fail;
		}
		json_object_object_add(nfn, "parameters", json_object_get(v));
	}
	if ((v = cs_json_opt_field(fn, "strict")) != NULL) {
		if (!json_object_is_type(v, json_type_boolean)) {
			refuse(err, "%s.function.strict: must be true or "
			    "false", where);
			r = CS_EBADINPUT;
			goto fail;
		}
		json_object_object_add(nfn, "strict",
		    json_object_new_boolean(json_object_get_boolean(v)));
	}
	*out = nt;
	return CS_OK;
fail:
	if (r == CS_ENOMEM)
		seterr(err, CS_FAIL_INTERNAL, "out of memory");
	json_object_put(nt);
	return r;
}

/* The name of normalised tool k. */
static const char *
tool_name(struct json_object *tools, size_t k)
{
	return json_object_get_string(json_object_object_get(
	    json_object_object_get(json_object_array_get_idx(tools, k),
	    "function"), "name"));
}

/* "tools" into req->tools, req->n_tools. */
static enum cs_err
parse_tools(const struct cs_config *cfg, struct json_object *top,
    struct cs_chat_request *req, struct cs_reqerr *err)
{
	struct json_object *v, *t;
	size_t n, j, k;
	char q[ECHO_MAX + 4];
	enum cs_err r;

	if ((v = cs_json_opt_field(top, "tools")) == NULL)
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
		refuse(err, "tools: too many (%zu > max %d)", n,
		    MAX_TOOLS);
		return CS_EBADINPUT;
	}
	if ((req->tools = json_object_new_array()) == NULL) {
		seterr(err, CS_FAIL_INTERNAL, "out of memory");
		return CS_ENOMEM;
	}
	for (j = 0; j < n; j++) {
		if ((r = parse_tool(cfg, json_object_array_get_idx(v, j), j,
		    &t, err)) != CS_OK)
			return r;
		if (json_object_array_add(req->tools, t) != 0) {
			json_object_put(t);
			seterr(err, CS_FAIL_INTERNAL, "out of memory");
			return CS_ENOMEM;
		}
		req->n_tools = j + 1;
		for (k = 0; k < j; k++)
			if (strcmp(tool_name(req->tools, k),
			    tool_name(req->tools, j)) == 0) {
				refuse(err, "tools[%zu].function.name: "
				    "\"%s\" repeats tools[%zu]", j,
				    cs_echo(q, tool_name(req->tools, j),
				    strlen(tool_name(req->tools, j))), k);
				return CS_EBADINPUT;
			}
	}
	return CS_OK;
}

#define TOOL_CHOICE_RULE "must be \"auto\", \"none\", \"required\" or " \
	"{\"type\":\"function\",\"function\":{\"name\":...}}"

/* "tool_choice", after parse_tools(). */
static enum cs_err
parse_tool_choice(struct json_object *top, struct cs_chat_request *req,
    struct cs_reqerr *err)
{
	struct json_object *v, *fn;
	const char *s;
	size_t n, k;
	char q[ECHO_MAX + 4];
	enum cs_err r;

	if ((v = cs_json_opt_field(top, "tool_choice")) == NULL)
		return CS_OK;
	if (json_object_is_type(v, json_type_string)) {
		s = json_object_get_string(v);
		if (strcmp(s, "auto") == 0)
			req->tool_choice = CS_TOOL_CHOICE_AUTO;
		else if (strcmp(s, "none") == 0)
			req->tool_choice = CS_TOOL_CHOICE_NONE;
		else if (strcmp(s, "required") == 0)
			req->tool_choice = CS_TOOL_CHOICE_REQUIRED;
		else {
			refuse(err, "tool_choice: %s", TOOL_CHOICE_RULE);
			return CS_EBADINPUT;
		}
		if (req->tools == NULL) {
			if (req->tool_choice == CS_TOOL_CHOICE_REQUIRED) {
				refuse(err, "tool_choice: \"required\" "
				    "needs tools");
				return CS_EBADINPUT;
			}
			/* Nothing to choose from: drop it. */
			req->tool_choice = CS_TOOL_CHOICE_UNSET;
		}
		return CS_OK;
	}
	if (!json_object_is_type(v, json_type_object)) {
		refuse(err, "tool_choice: %s", TOOL_CHOICE_RULE);
		return CS_EBADINPUT;
	}
	if ((r = check_fields(v, tool_fields, CS_ARRAY_LEN(tool_fields),
	    "tool_choice", err)) != CS_OK ||
	    (r = check_function_type(v, "tool_choice", "tool", err)) != CS_OK)
		return r;
	if ((fn = function_obj(v, "tool_choice", err)) == NULL)
		return CS_EBADINPUT;
	if ((r = check_fields(fn, choice_fn_fields,
	    CS_ARRAY_LEN(choice_fn_fields), "tool_choice.function", err)) !=
	    CS_OK ||
	    (r = check_fname(fn, "tool_choice", &s, &n, err)) != CS_OK)
		return r;
	for (k = 0; k < req->n_tools; k++)
		if (strcmp(tool_name(req->tools, k), s) == 0)
			break;
	if (k == req->n_tools) {
		refuse(err, "tool_choice.function.name: \"%s\" is not one "
		    "of the tools", cs_echo(q, s, n));
		return CS_EBADINPUT;
	}
	if ((req->tool_choice_name = dupmem(s, n)) == NULL) {
		seterr(err, CS_FAIL_INTERNAL, "out of memory");
		return CS_ENOMEM;
	}
	req->tool_choice = CS_TOOL_CHOICE_NAMED;
	return CS_OK;
}

/* messages[i].tool_calls[j] into tc. */
static enum cs_err
parse_tool_call(const struct cs_config *cfg, struct json_object *o,
    size_t i, size_t j, struct cs_tool_call *tc, struct cs_reqerr *err)
{
	struct json_object *v, *fn;
	const char *s;
	size_t n;
	char where[WHERE_MAX], w[WHERE_MAX + 32];
	enum cs_err r;

	snprintf(where, sizeof(where), "messages[%zu].tool_calls[%zu]", i, j);
	if (!json_object_is_type(o, json_type_object)) {
		refuse(err, "%s: must be an object {\"id\",\"type\":"
		    "\"function\",\"function\":{\"name\",\"arguments\"}}",
		    where);
		return CS_EBADINPUT;
	}
	if ((r = check_fields(o, call_fields, CS_ARRAY_LEN(call_fields),
	    where, err)) != CS_OK ||
	    (r = check_function_type(o, where, "tool call", err)) != CS_OK)
		return r;
	snprintf(w, sizeof(w), "%s.id", where);
	if ((v = cs_json_opt_field(o, "id")) == NULL) {
		refuse(err, "%s: missing", w);
		return CS_EBADINPUT;
	}
	if ((r = check_str(v, w, MAX_TOOLID_BYTES, 0, &s, &n, err)) != CS_OK)
		return r;
	if (n == 0) {
		refuse(err, "%s: must not be empty", w);
		return CS_EBADINPUT;
	}
	if ((tc->id = dupmem(s, n)) == NULL)
		goto nomem;
	if ((fn = function_obj(o, where, err)) == NULL)
		return CS_EBADINPUT;
	snprintf(w, sizeof(w), "%s.function", where);
	if ((r = check_fields(fn, call_fn_fields,
	    CS_ARRAY_LEN(call_fn_fields), w, err)) != CS_OK ||
	    (r = check_fname(fn, where, &s, &n, err)) != CS_OK)
		return r;
	if ((tc->name = dupmem(s, n)) == NULL)
		goto nomem;
	snprintf(w, sizeof(w), "%s.function.arguments", where);
	if ((v = cs_json_opt_field(fn, "arguments")) == NULL) {
		refuse(err, "%s: missing (a string of JSON)", w);
		return CS_EBADINPUT;
	}
	if ((r = check_str(v, w, cfg->max_message_bytes, 1, &s, &n, err)) !=
	    CS_OK)
		return r;
	if ((tc->arguments = dupmem(s, n)) == NULL)
		goto nomem;
	tc->arguments_len = n;
	return CS_OK;
nomem:
	seterr(err, CS_FAIL_INTERNAL, "out of memory");
	return CS_ENOMEM;
}

/* messages[i].tool_calls (v not null) into m; role already parsed. */
static enum cs_err
parse_tool_calls(const struct cs_config *cfg, struct json_object *v,
    size_t i, struct cs_message *m, struct cs_reqerr *err)
{
	size_t n, j;
	enum cs_err r;

	if (!json_object_is_type(v, json_type_array)) {
		refuse(err, "messages[%zu].tool_calls: must be an array",
		    i);
		return CS_EBADINPUT;
	}
	if ((n = json_object_array_length(v)) == 0)
		return CS_OK;
	if (m->role != CS_ROLE_ASSISTANT) {
		refuse(err, "messages[%zu].tool_calls: only assistant "
		    "messages may carry tool calls", i);
		return CS_EBADINPUT;
	}
	if (n > MAX_TOOLS) {
		refuse(err, "messages[%zu].tool_calls: too many (%zu > "
		    "max %d)", i, n, MAX_TOOLS);
		return CS_EBADINPUT;
	}
	if ((m->tool_calls = calloc(n, sizeof(*m->tool_calls))) == NULL) {
		seterr(err, CS_FAIL_INTERNAL, "out of memory");
		return CS_ENOMEM;
	}
	m->n_tool_calls = n;
	for (j = 0; j < n; j++)
		if ((r = parse_tool_call(cfg, json_object_array_get_idx(v, j),
		    i, j, &m->tool_calls[j], err)) != CS_OK)
			return r;
	return CS_OK;
}

/* messages[i] into m. */
static enum cs_err
parse_message(const struct cs_config *cfg, const struct cs_model_cfg *model,
    struct json_object *o, size_t i, struct cs_message *m,
    struct cs_reqerr *err)
{
	struct json_object_iterator it, end;
	struct json_object *v;
	const char *s, *key;
	size_t n;
	char where[WHERE_MAX], q[ECHO_MAX + 4];
	enum cs_err r;

	if (!json_object_is_type(o, json_type_object)) {
		refuse(err, "messages[%zu]: must be an object with role "
		    "and content", i);
		return CS_EBADINPUT;
	}
	it = json_object_iter_begin(o);
	end = json_object_iter_end(o);
	for (; !json_object_iter_equal(&it, &end); json_object_iter_next(&it)) {
		key = json_object_iter_peek_name(&it);
		if (!cs_str_in_list(key, msg_fields, CS_ARRAY_LEN(msg_fields))) {
			refuse(err, "messages[%zu]: unknown field \"%s\" "
			    "(accepted: role, content, name, tool_call_id, "
			    "tool_calls)", i, cs_echo(q, key, strlen(key)));
			return CS_EBADINPUT;
		}
	}
	if ((r = parse_role(o, i, m, err)) != CS_OK)
		return r;
	/* Fixed instructions: a system message would get around them. */
	if (m->role == CS_ROLE_SYSTEM &&
	    !cs_model_client_instructions(cfg, model)) {
		refuse(err, "messages[%zu].role: %s messages are not "
		    "allowed by this server (its instructions are fixed)", i,
		    m->developer ? "developer" : "system");
		return CS_EBADINPUT;
	}

	if ((v = cs_json_opt_field(o, "name")) != NULL) {
		snprintf(where, sizeof(where), "messages[%zu].name", i);
		if ((r = check_str(v, where, MAX_NAME_BYTES, 0, &s, &n,
		    err)) != CS_OK)
			return r;
	}
	if ((v = cs_json_opt_field(o, "tool_call_id")) != NULL) {
		snprintf(where, sizeof(where), "messages[%zu].tool_call_id", i);
		if ((r = check_str(v, where, MAX_TOOLID_BYTES, 0, &s, &n,
		    err)) != CS_OK)
			return r;
		if (m->role == CS_ROLE_TOOL &&
		    (m->tool_call_id = dupmem(s, n)) == NULL) {
			seterr(err, CS_FAIL_INTERNAL, "out of memory");
			return CS_ENOMEM;
		}
	}
	if ((v = cs_json_opt_field(o, "tool_calls")) != NULL &&
	    (r = parse_tool_calls(cfg, v, i, m, err)) != CS_OK)
		return r;

	snprintf(where, sizeof(where), "messages[%zu].content", i);
	if (!json_object_object_get_ex(o, "content", &v)) {
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
			refuse(err, "%s: null is allowed only for "
			    "assistant messages", where);
			return CS_EBADINPUT;
		}
		return set_content(m, "", 0, err);
	case json_type_string:
		if ((r = check_str(v, where, cfg->max_message_bytes, 1, &s,
		    &n, err)) != CS_OK)
			return r;
		return set_content(m, s, n, err);
	case json_type_array:
		return parts_content(v, i, cfg->max_message_bytes, m, err);
	default:
		refuse(err, "%s: must be a string or an array of text "
		    "parts", where);
		return CS_EBADINPUT;
	}
}

/* "model": a configured model, or the default one. */
static enum cs_err
parse_model(const struct cs_config *cfg, struct json_object *top,
    const struct cs_model_cfg **model, struct cs_reqerr *err)
{
	struct json_object *v;
	const char *s = NULL;
	size_t n, k;
	char q[ECHO_MAX + 4];
	enum cs_err r;

	if ((v = cs_json_opt_field(top, "model")) != NULL) {
		if ((r = check_str(v, "model", SIZE_MAX, 0, &s, &n, err)) !=
		    CS_OK)
			return r;
		if (n == 0) {
			refuse(err, "model: must not be empty (omit it "
			    "for the default model)");
			return CS_EBADINPUT;
		}
		if ((*model = cs_config_model(cfg, s)) != NULL)
			return CS_OK;
		refuse(err, "model: \"%s\" is not available on this "
		    "server (available: ", cs_echo(q, s, n));
		for (k = 0; k < cfg->n_models && k < CS_MAX_MODELS; k++) {
			/* Leave room for ", ...)" so the list ends well. */
			if ((k > 0 && !msg_append(err, ", ", 6)) ||
			    !msg_append(err, cfg->models[k].name, 6)) {
				msg_append(err, "...", 1);
				break;
			}
		}
		msg_append(err, ")", 0);
		return CS_EBADINPUT;
	}
	if ((*model = cs_config_model(cfg, NULL)) == NULL) {
		/* cs_config_resolve() guarantees one; a server fault. */
		seterr(err, CS_FAIL_INTERNAL, "model: no model is configured "
		    "on this server");
		return CS_ECONFIG;
	}
	return CS_OK;
}

/* temperature, max_tokens, n, stream, user. */
static enum cs_err
parse_options(struct json_object *top, struct cs_chat_request *req,
    struct cs_reqerr *err)
{
	struct json_object *v;
	int64_t ll;
	double d;

	if ((v = cs_json_opt_field(top, "temperature")) != NULL) {
		if (!json_object_is_type(v, json_type_double) &&
		    !json_object_is_type(v, json_type_int)) {
			refuse(err, "temperature: must be a number from 0 "
			    "to 2");
			return CS_EBADINPUT;
		}
		d = json_object_get_double(v);
		if (!isfinite(d) || d < 0.0 || d > 2.0) {
			refuse(err, "temperature: must be a number from 0 "
			    "to 2");
			return CS_EBADINPUT;
		}
		req->has_temperature = 1;
		/* -0 passes the range check; send upstream a plain 0. */
		req->temperature = d == 0.0 ? 0.0 : d;
	}

	/* The model's default temperature when the client sends none. */
	if (!req->has_temperature && req->model->has_temperature) {
		req->has_temperature = 1;
		req->temperature = (double)req->model->temperature_milli /
		    1000.0;
	}
	req->max_tokens = req->model->max_tokens > 0 ?
	    req->model->max_tokens : 0;
	if ((v = cs_json_opt_field(top, "max_tokens")) != NULL) {
		if (!json_object_is_type(v, json_type_int)) {
			refuse(err, "max_tokens: must be an integer");
			return CS_EBADINPUT;
		}
		/* json-c saturates out-of-range integers at INT64_MIN/MAX,
		 * which the range check refuses. */
		ll = json_object_get_int64(v);
		if (ll < 1 || ll > MAX_TOKENS_CEIL) {
			refuse(err, "max_tokens: must be from 1 to %ld",
			    MAX_TOKENS_CEIL);
			return CS_EBADINPUT;
		}
		if (req->model->max_tokens > 0 &&
		    ll > req->model->max_tokens) {
			refuse(err, "max_tokens: %lld exceeds this "
			    "model's limit of %ld", (long long)ll,
			    req->model->max_tokens);
			return CS_EBADINPUT;
		}
		req->max_tokens = (long)ll;
	}

	if ((v = cs_json_opt_field(top, "n")) != NULL &&
	    (!json_object_is_type(v, json_type_int) ||
	    json_object_get_int64(v) != 1)) {
		refuse(err, "n: only 1 is supported");
		return CS_EBADINPUT;
	}
	if ((v = cs_json_opt_field(top, "stream")) != NULL &&
	    !json_object_is_type(v, json_type_boolean)) {
		refuse(err, "stream: must be true or false");
		return CS_EBADINPUT;
	}
	if ((v = cs_json_opt_field(top, "user")) != NULL &&
	    !json_object_is_type(v, json_type_string)) {
		refuse(err, "user: must be a string");
		return CS_EBADINPUT;
	}
	return CS_OK;
}

enum cs_err
cs_request_parse(const struct cs_config *cfg, const char *body, size_t len,
    struct cs_chat_request **out, struct cs_reqerr *err)
{
	struct cs_reqerr scratch;
	struct json_object_iterator it, end;
	struct json_object *top = NULL, *msgs, *v;
	struct cs_chat_request *req = NULL;
	const char *instr = NULL, *key, *srv;
	size_t instr_len = 0, srv_len, nmsgs, k, i;
	char q[ECHO_MAX + 4];
	enum cs_err r = CS_EBADINPUT;

	if (err == NULL)
		err = &scratch;
	err->fail = CS_FAIL_INVALID;
	err->message[0] = '\0';
	*out = NULL;

	/* Before parsing, so an oversized body costs no parse work. */
	if (len > cfg->max_body_bytes || len > INT_MAX) {
		refuse_size(err, "body: %zu bytes exceeds the limit of %zu "
		    "bytes", len, cfg->max_body_bytes);
		r = CS_ETOOBIG;
		goto fail;
	}
	if (len == 0) {
		refuse(err, "body: empty (expected a JSON object)");
		goto fail;
	}
	if ((r = parse_json(body, len, &top, err)) != CS_OK)
		goto fail;

	r = CS_EBADINPUT;
	it = json_object_iter_begin(top);
	end = json_object_iter_end(top);
	for (; !json_object_iter_equal(&it, &end); json_object_iter_next(&it)) {
		key = json_object_iter_peek_name(&it);
		if (!cs_str_in_list(key, top_fields, CS_ARRAY_LEN(top_fields))) {
			refuse(err, "unknown field \"%s\" (accepted: "
			    "messages, model, instructions, temperature, "
			    "max_tokens, stream, n, user, tools, tool_choice)",
			    cs_echo(q, key, strlen(key)));
			goto fail;
		}
	}

	r = CS_ENOMEM;
	if ((req = calloc(1, sizeof(*req))) == NULL) {
		seterr(err, CS_FAIL_INTERNAL, "out of memory");
		goto fail;
	}
	if ((r = parse_model(cfg, top, &req->model, err)) != CS_OK)
		goto fail;
	if ((r = parse_options(top, req, err)) != CS_OK)
		goto fail;
	if ((r = parse_tools(cfg, top, req, err)) != CS_OK ||
	    (r = parse_tool_choice(top, req, err)) != CS_OK)
		goto fail;

	if ((v = cs_json_opt_field(top, "instructions")) != NULL) {
		if ((r = check_str(v, "instructions", cfg->max_message_bytes,
		    1, &instr, &instr_len, err)) != CS_OK)
			goto fail;
		if (instr_len > 0 &&
		    !cs_model_client_instructions(cfg, req->model)) {
			refuse(err, "instructions: not allowed by this "
			    "server");
			r = CS_EBADINPUT;
			goto fail;
		}
	}

	r = CS_EBADINPUT;
	if (!json_object_object_get_ex(top, "messages", &msgs) ||
	    msgs == NULL) {
		refuse(err, "messages: missing (an array of "
		    "{\"role\",\"content\"} objects is required)");
		goto fail;
	}
	if (!json_object_is_type(msgs, json_type_array)) {
		refuse(err, "messages: must be an array");
		goto fail;
	}
	nmsgs = json_object_array_length(msgs);
	if (nmsgs == 0) {
		refuse(err, "messages: must not be empty");
		goto fail;
	}
	if (nmsgs > cfg->max_messages) {
		refuse(err, "messages: too many (%zu > max %zu)", nmsgs,
		    cfg->max_messages);
		goto fail;
	}

	/* Server prompt first, then the client's, then the conversation;
	 * the count is bounded by max_messages + 2. */
	srv = cs_model_instructions(cfg, req->model);
	srv_len = strnlen(srv, CS_MAX_INSTRUCTIONS);
	req->n_messages = nmsgs + (srv_len > 0) + (instr_len > 0);
	r = CS_ENOMEM;
	if ((req->messages = calloc(req->n_messages,
	    sizeof(*req->messages))) == NULL) {
		req->n_messages = 0;
		seterr(err, CS_FAIL_INTERNAL, "out of memory");
		goto fail;
	}
	k = 0;
	if (srv_len > 0) {
		req->messages[k].role = CS_ROLE_SYSTEM;
		if ((r = set_content(&req->messages[k++], srv, srv_len,
		    err)) != CS_OK)
			goto fail;
	}
	if (instr_len > 0) {
		req->messages[k].role = CS_ROLE_SYSTEM;
		if ((r = set_content(&req->messages[k++], instr, instr_len,
		    err)) != CS_OK)
			goto fail;
	}
	for (i = 0; i < nmsgs; i++)
		if ((r = parse_message(cfg, req->model,
		    json_object_array_get_idx(msgs, i), i,
		    &req->messages[k++], err)) != CS_OK)
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
	free(r->tool_choice_name);
	free(r);
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
