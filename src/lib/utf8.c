/* utf8.c — UTF-8 checks and repairs; see utf8.h. */
#include "buf.h"
#include "utf8.h"

/*
 * Bytes consumed by one step of a UTF-8 decoder at p: the length of the
 * well-formed sequence there (*ok = 1), or of the maximal subpart of one
 * (*ok = 0; at least 1 byte).  Unicode Table 3-7 gives the allowed second
 * bytes; the others are 80..BF.
 */
size_t
cs_utf8_step(const unsigned char *p, size_t avail, int *ok)
{
	unsigned char c = p[0], lo = 0x80, hi = 0xbf;
	size_t need, i;

	*ok = 1;
	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf)
		need = 1;
	else if (c >= 0xe0 && c <= 0xef)
		need = 2;
	else if (c >= 0xf0 && c <= 0xf4)
		need = 3;
	else {
		*ok = 0; /* continuation byte, C0, C1, F5..FF */
		return 1;
	}
	if (c == 0xe0)
		lo = 0xa0; /* overlong */
	else if (c == 0xed)
		hi = 0x9f; /* surrogates */
	else if (c == 0xf0)
		lo = 0x90; /* overlong */
	else if (c == 0xf4)
		hi = 0x8f; /* past U+10FFFF */
	for (i = 1; i <= need; i++) {
		if (i == avail || p[i] < lo || p[i] > hi) {
			*ok = 0;
			return i;
		}
		lo = 0x80;
		hi = 0xbf;
	}
	return i;
}

size_t
cs_utf8_valid_len(const char *s, size_t n)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0, l;
	int ok;

	while (i < n) {
		if (p[i] < 0x80) {
			i++;
			continue;
		}
		l = cs_utf8_step(p + i, n - i, &ok);
		if (!ok)
			break;
		i += l;
	}
	return i;
}

enum cs_err
cs_utf8_sanitize(const char *s, size_t n, struct cs_buf *out)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0, run, l;
	enum cs_err r;
	int ok;

	while (i < n) {
		run = cs_utf8_valid_len(s + i, n - i);
		if ((r = cs_buf_append(out, s + i, run)) != CS_OK)
			return r;
		i += run;
		if (i == n)
			break;
		l = cs_utf8_step(p + i, n - i, &ok);
		if ((r = cs_buf_append(out, "\xef\xbf\xbd", 3)) != CS_OK)
			return r;
		i += l;
	}
	return cs_buf_append(out, "", 0); /* out->data is never NULL */
}

size_t
cs_utf8_seq(const unsigned char *p, size_t avail)
{
	size_t l;
	int ok;

	l = cs_utf8_step(p, avail, &ok);
	return ok ? l : 0;
}

size_t
cs_utf8_cut(const char *s, size_t n)
{
	while (n > 0 && ((unsigned char)s[n] & 0xc0) == 0x80)
		n--;
	return n;
}
