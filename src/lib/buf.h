/*
 * buf.h — growable byte buffer with a hard cap fixed at creation.
 *
 * The buffer is always NUL-terminated (the NUL is not counted in len and
 * does not count against the cap).  Appending past the cap fails with
 * CS_ETOOBIG and leaves the contents unchanged.
 */
#ifndef CS_BUF_H
#define CS_BUF_H

#include <stdarg.h>
#include <stddef.h>

#include "cs.h"

struct cs_buf {
	char *data; /* NUL-terminated; NULL until the first append */
	size_t len;
	size_t cap; /* allocated bytes */
	size_t max; /* hard limit on len */
};

/* Initialise an empty buffer that may hold at most max bytes. */
void cs_buf_init(struct cs_buf *b, size_t max);
/* Release memory; the buffer may be reused after cs_buf_init. NULL-safe. */
void cs_buf_free(struct cs_buf *b);
/* Empty the buffer, keeping its allocation. */
void cs_buf_reset(struct cs_buf *b);
/* Keep the first len bytes (nothing changes when it holds no more). */
void cs_buf_cut(struct cs_buf *b, size_t len);
enum cs_err cs_buf_append(struct cs_buf *b, const void *p, size_t n);
enum cs_err cs_buf_puts(struct cs_buf *b, const char *s);
enum cs_err cs_buf_printf(struct cs_buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Append v in decimal (no printf: this runs for every streamed event). */
enum cs_err cs_buf_put_ulong(struct cs_buf *b, unsigned long v);
/* Drop the first n bytes. */
void cs_buf_consume(struct cs_buf *b, size_t n);

#endif
