/* query.c — strict query-string decoding; see query.h. */
#include <stdio.h>
#include <string.h>

#include "cs.h"
#include "query.h"

#define KEY_MAX 64 /* longest key compared; longer ones match nothing */

/* Decode the n bytes at s into out ('+' is a space if plus). */
static enum cs_err
decode(const char *s, size_t n, int plus, struct cs_buf *out)
{
	size_t i;
	char c;
	int hi, lo;

	for (i = 0; i < n; i++) {
		c = s[i];
		if (c == '+' && plus)
			c = ' ';
		else if (c == '%') {
			if (n - i < 3 ||
			    (hi = cs_hex_digit((unsigned char)s[i + 1])) < 0 ||
			    (lo = cs_hex_digit((unsigned char)s[i + 2])) < 0)
				return CS_EBADINPUT;
			c = (char)(hi << 4 | lo);
			i += 2;
		}
		if (cs_buf_append(out, &c, 1) != CS_OK)
			return CS_ETOOBIG;
	}
	return CS_OK;
}

/* The next pair at *p: key [k, k+klen), value [v, v+vlen); 0 at the end. */
static int
next_pair(
    const char **p, const char **k, size_t *klen, const char **v, size_t *vlen)
{
	const char *s = *p, *end, *eq;

	while (*s == '&')
		s++;
	if (*s == '\0')
		return 0;
	end = s + strcspn(s, "&");
	eq = memchr(s, '=', (size_t)(end - s));
	*k = s;
	*klen = (size_t)((eq ? eq : end) - s);
	*v = eq ? eq + 1 : end;
	*vlen = (size_t)(end - *v);
	*p = end;
	return 1;
}

/* The key [k, k+klen) decoded into key (KEY_MAX bytes, NUL-terminated,
 * truncated); CS_EBADINPUT on a bad escape. */
static enum cs_err
decode_key(const char *k, size_t klen, char key[KEY_MAX + 1])
{
	struct cs_buf b;
	enum cs_err r;

	cs_buf_init(&b, KEY_MAX);
	r = decode(k, klen, 1, &b);
	memset(key, 0, KEY_MAX + 1);
	if (b.len > 0)
		memcpy(key, b.data, b.len);
	cs_buf_free(&b);
	return r == CS_EBADINPUT ? CS_EBADINPUT : CS_OK;
}

enum cs_err
cs_query_get(const char *qs, const char *key, struct cs_buf *out)
{
	const char *p = qs, *k, *v;
	char name[KEY_MAX + 1];
	size_t klen, vlen;

	cs_buf_reset(out);
	if (qs == NULL)
		return CS_EDONE;
	while (next_pair(&p, &k, &klen, &v, &vlen)) {
		if (decode_key(k, klen, name) != CS_OK)
			return CS_EBADINPUT;
		if (strcmp(name, key) == 0)
			return decode(v, vlen, 1, out);
	}
	return CS_EDONE;
}

enum cs_err
cs_query_check_keys(const char *qs, const char *const *allowed, size_t n,
    char *bad, size_t badlen)
{
	const char *p = qs, *k, *v, *q;
	char name[KEY_MAX + 1], other[KEY_MAX + 1];
	size_t klen, vlen, kl2, vl2, i;

	if (qs == NULL)
		return CS_OK;
	while (next_pair(&p, &k, &klen, &v, &vlen)) {
		if (decode_key(k, klen, name) != CS_OK)
			goto fail;
		for (i = 0; i < n && strcmp(name, allowed[i]) != 0; i++)
			continue;
		if (i == n || klen > KEY_MAX)
			goto fail;
		/* A key twice: which one counts would be a guess. */
		for (q = p; next_pair(&q, &k, &kl2, &v, &vl2);)
			if (decode_key(k, kl2, other) == CS_OK &&
			    strcmp(other, name) == 0)
				goto fail;
	}
	return CS_OK;
fail:
	snprintf(bad, badlen, "%s", name);
	return CS_EBADINPUT;
}

enum cs_err
cs_path_decode(const char *s, size_t n, struct cs_buf *out)
{
	cs_buf_reset(out);
	return decode(s, n, 0, out);
}
