/*
 * json_strict.c — strict client JSON: a pre-scan where json-c 0.16 is lax,
 * then json-c with one flag set; see json_strict.h.
 */
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <json-c/json.h>

#include "json_strict.h"
#include "utf8.h"

/* The one flag set every client JSON is parsed with. */
#define STRICT_FLAGS (JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8)

static void
say(char *, size_t, const char *, ...) __attribute__((format(printf, 3, 4)));

/* The reason, into msg (size bytes; nothing when size is 0). */
static void
say(char *msg, size_t size, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, size, fmt, ap);
	va_end(ap);
}

static int
is_ws(unsigned char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/* A byte that cannot be there: show it if printable, else its value. */
static int
unexpected(const unsigned char *p, size_t i, char *msg, size_t size)
{
	if (p[i] > 0x20 && p[i] < 0x7f)
		say(msg, size,
		    "invalid JSON at byte %zu: unexpected "
		    "character '%c'",
		    i, p[i]);
	else
		say(msg, size,
		    "invalid JSON at byte %zu: unexpected "
		    "byte 0x%02x",
		    i, p[i]);
	return -1;
}

/*
 * Lexical pre-scan of all of s: strict UTF-8, no raw control characters
 * or \u0000 in strings, no NaN, Infinity, "1." or single quotes, no byte
 * order mark.  Everything this lets through json-c checks properly.
 */
static int
scan(const char *s, size_t len, char *msg, size_t size)
{
	/* Bytes that may appear outside strings in JSON. */
	static const char outside[] = " \t\r\n{}[],:0123456789+-.eE"
	                              "truefalsn";
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0, l;
	int in_str = 0;

	if (len >= 3 && p[0] == 0xef && p[1] == 0xbb && p[2] == 0xbf) {
		say(msg, size,
		    "body: starts with a byte order mark "
		    "(not allowed)");
		return -1;
	}
	while (i < len) {
		if (p[i] >= 0x80) {
			if ((l = cs_utf8_seq(p + i, len - i)) == 0) {
				say(msg, size,
				    "body: invalid UTF-8 at "
				    "byte %zu",
				    i);
				return -1;
			}
			if (!in_str)
				return unexpected(p, i, msg, size);
			i += l;
			continue;
		}
		if (in_str) {
			if (p[i] == '"')
				in_str = 0;
			else if (p[i] == '\\') {
				if (len - i >= 6 &&
				    memcmp(p + i + 1, "u0000", 5) == 0) {
					say(msg, size,
					    "invalid JSON at byte "
					    "%zu: \\u0000 (NUL) is not allowed "
					    "in strings",
					    i);
					return -1;
				}
				/* Skip the escaped byte so \" does not end
				 * the string; json-c checks the escape.  A
				 * non-ASCII one is left to the UTF-8 check. */
				if (i + 1 < len && p[i + 1] < 0x80)
					i++;
			} else if (p[i] < 0x20) {
				say(msg, size,
				    "invalid JSON at byte %zu: "
				    "unescaped control character 0x%02x in a "
				    "string",
				    i, p[i]);
				return -1;
			}
			i++;
			continue;
		}
		if (p[i] == '"')
			in_str = 1;
		else if (p[i] == '\0' ||
		    memchr(outside, p[i], sizeof(outside) - 1) == NULL)
			return unexpected(p, i, msg, size);
		else if (p[i] == '.' &&
		    (i + 1 == len || p[i + 1] < '0' || p[i + 1] > '9'))
			/* "1." is not JSON; json-c would read 1.0. */
			return unexpected(p, i, msg, size);
		i++;
	}
	return 0;
}

enum cs_err
cs_json_strict_parse(
    const char *s, size_t len, struct json_object **out, char *msg, size_t size)
{
	struct json_tokener *tok = NULL;
	struct json_object *obj = NULL;
	enum json_tokener_error jerr;
	enum cs_err r = CS_ETOOBIG;
	size_t i, end;

	*out = NULL;
	if (len > INT_MAX) {
		say(msg, size, "body: %zu bytes is more than can be parsed",
		    len);
		goto fail;
	}
	r = CS_EBADINPUT;
	if (scan(s, len, msg, size) == -1)
		goto fail;
	for (i = 0; i < len && is_ws((unsigned char)s[i]); i++)
		continue;
	if (i == len) {
		say(msg, size, "body: empty (expected a JSON object)");
		goto fail;
	}
	/* Checked here because json-c cannot tell a complete top-level
	 * number from one cut short, and "must be an object" is clearer. */
	if (s[i] != '{') {
		say(msg, size, "body: must be a JSON object");
		goto fail;
	}
	r = CS_ENOMEM;
	if ((tok = json_tokener_new_ex(CS_JSON_MAX_DEPTH)) == NULL) {
		say(msg, size, "out of memory");
		goto fail;
	}
	json_tokener_set_flags(tok, STRICT_FLAGS);
	r = CS_EBADINPUT;
	obj = json_tokener_parse_ex(tok, s, (int)len);
	jerr = json_tokener_get_error(tok);
	end = json_tokener_get_parse_end(tok);
	if (obj == NULL) {
		if (jerr == json_tokener_continue)
			say(msg, size,
			    "invalid JSON at byte %zu: unexpected "
			    "end of input",
			    len);
		else if (jerr == json_tokener_error_depth)
			say(msg, size,
			    "invalid JSON at byte %zu: nested "
			    "deeper than %d levels",
			    end, CS_JSON_MAX_DEPTH);
		else
			say(msg, size, "invalid JSON at byte %zu: %s", end,
			    json_tokener_error_desc(jerr));
		goto fail;
	}
	for (i = end; i < len; i++)
		if (!is_ws((unsigned char)s[i])) {
			say(msg, size,
			    "invalid JSON at byte %zu: data after "
			    "the object",
			    i);
			goto fail;
		}
	if (!json_object_is_type(obj, json_type_object)) {
		say(msg, size, "body: must be a JSON object");
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

struct json_object *
cs_json_strict_object(const char *s, size_t len)
{
	struct json_object *o;

	return cs_json_strict_parse(s, len, &o, NULL, 0) == CS_OK ? o : NULL;
}
