/*
 * providers/openai_fastpath.c — the plain text-delta chunk read without
 * json-c (openai_fastpath.h).
 *
 * A recursive-descent reader over one fixed shape: each object level is a
 * table of allowed keys plus a function reading their values, so the only
 * nesting is the shape's own (top level, choice, delta).  Strings are
 * checked and decoded in place; runs of plain bytes are copied in one go.
 * Whatever json-c might read differently (escaped keys, surrogate
 * escapes, invalid UTF-8) is refused, never guessed.
 */
#include <string.h>

#include "openai_fastpath.h"
#include "utf8.h"

/* The byte loops work on local copies of i: s may alias the reader (it
 * is unsigned char), so the compiler would store r->i at every byte. */
struct reader {
	const unsigned char *s;
	size_t i; /* cursor */
	size_t len;
	struct cs_buf *content; /* delta.content goes here */
};

struct key {
	const char *name;
	size_t len;
};
#define KEY(s) \
	{ \
		s, sizeof(s) - 1 \
	}

/* One object level: its allowed keys (at most 32), a mask of the keys it
 * requires, and the reader of the value of key number k. */
struct shape {
	const struct key *keys;
	size_t n_keys;
	unsigned required;
	int (*value)(struct reader *r, size_t k);
};

static void
skip_ws(struct reader *r)
{
	size_t i = r->i;

	while (i < r->len &&
	    (r->s[i] == ' ' || r->s[i] == '\t' || r->s[i] == '\n' ||
	        r->s[i] == '\r'))
		i++;
	r->i = i;
}

/* Skip whitespace, then consume c if it comes next. */
static int
eat(struct reader *r, unsigned char c)
{
	skip_ws(r);
	if (r->i < r->len && r->s[r->i] == c) {
		r->i++;
		return 1;
	}
	return 0;
}

/* A literal token (null, 0); what follows it is the caller's check. */
#define literal(r, lit) literal_n(r, lit, sizeof(lit) - 1)

static int
literal_n(struct reader *r, const char *lit, size_t n)
{
	skip_ws(r);
	if (r->len - r->i < n || memcmp(r->s + r->i, lit, n) != 0)
		return 0;
	r->i += n;
	return 1;
}

static size_t
digits(struct reader *r)
{
	size_t start = r->i, i = r->i;

	while (i < r->len && r->s[i] >= '0' && r->s[i] <= '9')
		i++;
	r->i = i;
	return i - start;
}

/* -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)? */
static int
number(struct reader *r)
{
	skip_ws(r);
	if (r->i < r->len && r->s[r->i] == '-')
		r->i++;
	if (r->i < r->len && r->s[r->i] == '0')
		r->i++;
	else if (digits(r) == 0)
		return 0;
	if (r->i < r->len && r->s[r->i] == '.') {
		r->i++;
		if (digits(r) == 0)
			return 0;
	}
	if (r->i < r->len && (r->s[r->i] == 'e' || r->s[r->i] == 'E')) {
		r->i++;
		if (r->i < r->len && (r->s[r->i] == '+' || r->s[r->i] == '-'))
			r->i++;
		if (digits(r) == 0)
			return 0;
	}
	return 1;
}

/* Append n bytes to out, or nothing when out is NULL; 0 at the limit. */
static int
put(struct cs_buf *out, const unsigned char *p, size_t n)
{
	return out == NULL || n == 0 || cs_buf_append(out, p, n) == CS_OK;
}

static int
hex4(const unsigned char *s, unsigned *cp)
{
	unsigned v = 0, c;
	size_t k;

	for (k = 0; k < 4; k++) {
		c = s[k];
		if (c >= '0' && c <= '9')
			c -= '0';
		else if ((c | 0x20) >= 'a' && (c | 0x20) <= 'f')
			c = (c | 0x20) - 'a' + 10;
		else
			return 0;
		v = v << 4 | c;
	}
	*cp = v;
	return 1;
}

/* The escape after a backslash, decoded into out[]: its length, or 0 for
 * an invalid escape or a surrogate (json-c's pairing is the reference). */
static size_t
escape(struct reader *r, unsigned char out[3])
{
	static const char from[] = "\"\\/bfnrt", to[] = "\"\\/\b\f\n\r\t";
	const char *p;
	unsigned cp;

	if (r->i == r->len)
		return 0;
	if (r->s[r->i] != 'u') {
		if ((p = memchr(from, r->s[r->i], sizeof(from) - 1)) == NULL)
			return 0;
		r->i++;
		out[0] = (unsigned char)to[p - from];
		return 1;
	}
	if (r->len - r->i < 5 || !hex4(r->s + r->i + 1, &cp) ||
	    (cp >= 0xD800 && cp <= 0xDFFF))
		return 0;
	r->i += 5;
	if (cp < 0x80) {
		out[0] = (unsigned char)cp;
		return 1;
	}
	if (cp < 0x800) {
		out[0] = (unsigned char)(0xC0 | cp >> 6);
		out[1] = (unsigned char)(0x80 | (cp & 0x3F));
		return 2;
	}
	out[0] = (unsigned char)(0xE0 | cp >> 12);
	out[1] = (unsigned char)(0x80 | (cp >> 6 & 0x3F));
	out[2] = (unsigned char)(0x80 | (cp & 0x3F));
	return 3;
}

/* Advance over bytes that stand for themselves in a string: valid UTF-8
 * but for '"', '\\' and controls.  0 at a control or invalid byte. */
static int
plain_run(struct reader *r)
{
	const unsigned char *s = r->s;
	size_t i = r->i, n;
	int ok = 1;

	while (i < r->len && s[i] != '"' && s[i] != '\\') {
		if (s[i] >= 0x20 && s[i] < 0x80) {
			i++;
			continue;
		}
		if (s[i] < 0x20 || (n = cs_utf8_seq(s + i, r->len - i)) == 0) {
			ok = 0;
			break;
		}
		i += n;
	}
	r->i = i;
	return ok;
}

/* A string; its decoded bytes are appended to out unless out is NULL. */
static int
string(struct reader *r, struct cs_buf *out)
{
	unsigned char esc[3];
	size_t start, n;

	if (!eat(r, '"'))
		return 0;
	for (;;) {
		start = r->i;
		if (!plain_run(r) || !put(out, r->s + start, r->i - start) ||
		    r->i == r->len)
			return 0;
		if (r->s[r->i++] == '"')
			return 1;
		if ((n = escape(r, esc)) == 0 || !put(out, esc, n))
			return 0;
	}
}

static int
string_or_null(struct reader *r, struct cs_buf *out)
{
	skip_ws(r);
	if (r->i < r->len && r->s[r->i] == 'n')
		return literal(r, "null");
	return string(r, out);
}

/* A key and its colon: the key's number in sh->keys, or -1.  A key with
 * an escape is left to json-c rather than decoded. */
static int
key(struct reader *r, const struct shape *sh)
{
	size_t start, i, n, k;

	if (!eat(r, '"'))
		return -1;
	start = i = r->i;
	while (i < r->len && r->s[i] != '"' && r->s[i] != '\\')
		i++;
	if (i == r->len || r->s[i] == '\\')
		return -1;
	n = i - start;
	r->i = i + 1;
	for (k = 0; k < sh->n_keys; k++)
		if (sh->keys[k].len == n &&
		    memcmp(sh->keys[k].name, r->s + start, n) == 0)
			return eat(r, ':') ? (int)k : -1;
	return -1;
}

/* An object of shape sh: known keys only, each once, the required ones
 * present. */
static int
object(struct reader *r, const struct shape *sh)
{
	unsigned seen = 0;
	int k;

	if (!eat(r, '{'))
		return 0;
	if (eat(r, '}'))
		return sh->required == 0;
	do {
		if ((k = key(r, sh)) < 0 || (seen & 1u << k) != 0)
			return 0;
		seen |= 1u << k;
		if (!sh->value(r, (size_t)k))
			return 0;
	} while (eat(r, ','));
	return eat(r, '}') && (seen & sh->required) == sh->required;
}

enum {
	DELTA_ROLE,
	DELTA_CONTENT,
	DELTA_REFUSAL
};
static const struct key delta_keys[] = { KEY("role"), KEY("content"),
	KEY("refusal") };

static int
delta_value(struct reader *r, size_t k)
{
	switch (k) {
	case DELTA_ROLE: return string_or_null(r, NULL);
	case DELTA_CONTENT: return string_or_null(r, r->content);
	default: return literal(r, "null");
	}
}

static const struct shape delta_shape = { delta_keys,
	sizeof(delta_keys) / sizeof(delta_keys[0]), 0, delta_value };

enum {
	CHOICE_INDEX,
	CHOICE_DELTA,
	CHOICE_LOGPROBS,
	CHOICE_FINISH
};
static const struct key choice_keys[] = { KEY("index"), KEY("delta"),
	KEY("logprobs"), KEY("finish_reason") };

static int
choice_value(struct reader *r, size_t k)
{
	switch (k) {
	case CHOICE_INDEX: return literal(r, "0");
	case CHOICE_DELTA: return object(r, &delta_shape);
	default: return literal(r, "null");
	}
}

static const struct shape choice_shape = { choice_keys,
	sizeof(choice_keys) / sizeof(choice_keys[0]), 1u << CHOICE_DELTA,
	choice_value };

enum {
	TOP_ID,
	TOP_OBJECT,
	TOP_MODEL,
	TOP_FINGERPRINT,
	TOP_TIER,
	TOP_OBFUSCATION,
	TOP_CREATED,
	TOP_USAGE,
	TOP_CHOICES
};
static const struct key top_keys[] = { KEY("id"), KEY("object"), KEY("model"),
	KEY("system_fingerprint"), KEY("service_tier"), KEY("obfuscation"),
	KEY("created"), KEY("usage"), KEY("choices") };

static int
top_value(struct reader *r, size_t k)
{
	switch (k) {
	case TOP_CREATED: return number(r);
	case TOP_USAGE: return literal(r, "null");
	case TOP_CHOICES:
		return eat(r, '[') && object(r, &choice_shape) && eat(r, ']');
	default: return string_or_null(r, NULL);
	}
}

static const struct shape top_shape = { top_keys,
	sizeof(top_keys) / sizeof(top_keys[0]), 1u << TOP_CHOICES, top_value };

int
cs_openai_fast_delta(const char *json, size_t len, struct cs_buf *content)
{
	struct reader r = { (const unsigned char *)json, 0, len, content };

	cs_buf_reset(content);
	if (!object(&r, &top_shape))
		return 0;
	skip_ws(&r);
	return r.i == len;
}
