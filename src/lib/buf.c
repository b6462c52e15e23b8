/* buf.c — bounded growable buffer; see buf.h. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"

void
cs_buf_init(struct cs_buf *b, size_t max)
{
	b->data = NULL;
	b->len = 0;
	b->cap = 0;
	b->max = max;
}

void
cs_buf_free(struct cs_buf *b)
{
	if (b == NULL)
		return;
	free(b->data);
	b->data = NULL;
	b->len = b->cap = 0;
}

void
cs_buf_reset(struct cs_buf *b)
{
	cs_buf_cut(b, 0);
}

void
cs_buf_cut(struct cs_buf *b, size_t len)
{
	if (len > b->len)
		return;
	b->len = len;
	if (b->data != NULL)
		b->data[len] = '\0';
}

static enum cs_err
reserve(struct cs_buf *b, size_t extra)
{
	size_t need, ncap;
	char *p;

	if (extra > b->max - b->len)
		return CS_ETOOBIG;
	need = b->len + extra + 1;
	if (need <= b->cap)
		return CS_OK;
	ncap = b->cap ? b->cap : 256;
	while (ncap < need)
		ncap *= 2;
	if (ncap > b->max + 1)
		ncap = b->max + 1;
	if ((p = realloc(b->data, ncap)) == NULL)
		return CS_ENOMEM;
	b->data = p;
	b->cap = ncap;
	return CS_OK;
}

enum cs_err
cs_buf_append(struct cs_buf *b, const void *p, size_t n)
{
	enum cs_err e;

	if ((e = reserve(b, n)) != CS_OK)
		return e;
	if (n > 0)
		memcpy(b->data + b->len, p, n);
	b->len += n;
	b->data[b->len] = '\0';
	return CS_OK;
}

enum cs_err
cs_buf_puts(struct cs_buf *b, const char *s)
{
	return cs_buf_append(b, s, strlen(s));
}

enum cs_err
cs_buf_printf(struct cs_buf *b, const char *fmt, ...)
{
	va_list ap;
	int n;
	enum cs_err e;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0)
		return CS_ESYS;
	if ((e = reserve(b, (size_t)n)) != CS_OK)
		return e;
	va_start(ap, fmt);
	vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
	return CS_OK;
}

enum cs_err
cs_buf_put_ulong(struct cs_buf *b, unsigned long v)
{
	char tmp[24];
	size_t i = sizeof(tmp);

	do {
		tmp[--i] = (char)('0' + v % 10);
		v /= 10;
	} while (v != 0);
	return cs_buf_append(b, tmp + i, sizeof(tmp) - i);
}

void
cs_buf_consume(struct cs_buf *b, size_t n)
{
	if (n >= b->len) {
		cs_buf_reset(b);
		return;
	}
	memmove(b->data, b->data + n, b->len - n);
	b->len -= n;
	b->data[b->len] = '\0';
}
