/*
 * sse_parse.c — incremental Server-Sent Events parser; see sse_parse.h.
 *
 * Follows WHATWG HTML §9.2.6 "Interpreting an event stream".  This runs once
 * per upstream read for every live stream, so lines are found with memchr
 * over the whole chunk and, when a line lies entirely inside one chunk, it
 * is interpreted in place without being copied.  Only a line that straddles
 * two reads is assembled in a carry buffer.  All buffers are bounded
 * cs_bufs that keep their allocation between events, so a stream in steady
 * state does not allocate.
 */
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "sse_parse.h"

/* BOM detection: number of BOM bytes matched so far, or BOM_DONE. */
#define BOM_DONE 3

static const char bom[BOM_DONE] = { '\xEF', '\xBB', '\xBF' };

struct cs_sse {
	cs_sse_cb cb;
	void *ctx;
	size_t max_line;
	struct cs_buf line; /* a line not yet terminated in its read */
	struct cs_buf data; /* data buffer: value + LF per data line */
	struct cs_buf type; /* event type buffer */
	struct cs_buf id;   /* last event ID buffer; outlives events */
	long retry;         /* -1 until a valid retry field */
	unsigned long comments;
	int bom;         /* BOM bytes matched, or BOM_DONE */
	int last_cr;     /* previous read ended in CR: skip one LF */
	enum cs_err err; /* sticky: once set, feed only returns it */
};

struct cs_sse *
cs_sse_new(size_t max_line, size_t max_event, cs_sse_cb cb, void *ctx)
{
	struct cs_sse *p;

	if ((p = calloc(1, sizeof(*p))) == NULL)
		return NULL;
	p->cb = cb;
	p->ctx = ctx;
	p->max_line = max_line;
	cs_buf_init(&p->line, max_line);
	/*
	 * The limit is on the data as dispatched; the buffer also holds the
	 * LF that dispatch strips, hence one byte more.
	 */
	cs_buf_init(&p->data, max_event < SIZE_MAX ? max_event + 1 : max_event);
	/* A field value is part of one line, so max_line bounds these. */
	cs_buf_init(&p->type, max_line);
	cs_buf_init(&p->id, max_line);
	p->retry = -1;
	return p;
}

void
cs_sse_free(struct cs_sse *p)
{
	if (p == NULL)
		return;
	cs_buf_free(&p->line);
	cs_buf_free(&p->data);
	cs_buf_free(&p->type);
	cs_buf_free(&p->id);
	free(p);
}

long
cs_sse_retry(const struct cs_sse *p)
{
	return p->retry;
}

unsigned long
cs_sse_comments(const struct cs_sse *p)
{
	return p->comments;
}

/*
 * A valid retry value is one or more ASCII digits and nothing else.  Values
 * that overflow a long are ignored like any other invalid value rather than
 * clamped: a peer asking for centuries deserves no special effort.
 */
static void
set_retry(struct cs_sse *p, const char *v, size_t n)
{
	unsigned long long r;

	/* Only digits count; a value past LONG_MAX is ignored too. */
	if (cs_parse_dec(v, n, (unsigned long long)LONG_MAX, &r) == 0 &&
	    r < (unsigned long long)LONG_MAX)
		p->retry = (long)r;
}

/* Blank line: fire the collected event, if it has any data. */
static enum cs_err
dispatch(struct cs_sse *p)
{
	struct cs_sse_event ev;
	enum cs_err e;

	/* An empty data buffer fires nothing; the id buffer is kept. */
	if (p->data.len == 0) {
		cs_buf_reset(&p->type);
		return CS_OK;
	}

	/* Every data line appended an LF; the last one is not part of it. */
	p->data.data[--p->data.len] = '\0';

	ev.type = p->type.len > 0 ? p->type.data : "message";
	ev.type_len = p->type.len > 0 ? p->type.len : strlen("message");
	ev.data = p->data.data;
	ev.data_len = p->data.len;
	ev.id = p->id.len > 0 ? p->id.data : "";
	ev.id_len = p->id.len;

	e = p->cb != NULL ? p->cb(p->ctx, &ev) : CS_OK;

	/* Reset keeps the allocations for the next event. */
	cs_buf_reset(&p->type);
	cs_buf_reset(&p->data);
	return e;
}

/* Interpret one complete line s[0..n), without its line terminator. */
static enum cs_err
process_line(struct cs_sse *p, const char *s, size_t n)
{
	const char *colon, *v;
	size_t flen, vlen;
	enum cs_err e;

	if (n == 0)
		return dispatch(p);
	if (s[0] == ':') {
		p->comments++;
		return CS_OK;
	}

	if ((colon = memchr(s, ':', n)) != NULL) {
		flen = (size_t)(colon - s);
		v = colon + 1;
		vlen = n - flen - 1;
		if (vlen > 0 && v[0] == ' ') {
			v++;
			vlen--;
		}
	} else {
		flen = n;
		v = "";
		vlen = 0;
	}

	switch (flen) {
	case 2:
		if (memcmp(s, "id", 2) != 0)
			break;
		/* An id with NUL is ignored, keeping the previous one. */
		if (memchr(v, '\0', vlen) != NULL)
			break;
		cs_buf_reset(&p->id);
		return cs_buf_append(&p->id, v, vlen);
	case 4:
		if (memcmp(s, "data", 4) != 0)
			break;
		if ((e = cs_buf_append(&p->data, v, vlen)) != CS_OK)
			return e;
		return cs_buf_append(&p->data, "\n", 1);
	case 5:
		if (memcmp(s, "event", 5) == 0) {
			cs_buf_reset(&p->type);
			return cs_buf_append(&p->type, v, vlen);
		}
		if (memcmp(s, "retry", 5) == 0)
			set_retry(p, v, vlen);
		break;
	default: break;
	}
	/* Unknown fields are ignored, as the spec requires. */
	return CS_OK;
}

/*
 * Split buf into lines and interpret them.  next_lf and next_cr cache the
 * next terminator of each kind, so every byte is scanned by memchr at most
 * once per terminator kind however the two kinds interleave.
 */
static enum cs_err
scan(struct cs_sse *p, const char *buf, size_t len)
{
	const char *s = buf, *end = buf + len, *eol;
	const char *next_lf, *next_cr;
	size_t n;
	enum cs_err e;

	if (len == 0)
		return CS_OK;

	/* The CR of a CRLF ended the previous read; drop its LF. */
	if (p->last_cr) {
		p->last_cr = 0;
		if (*s == '\n' && ++s == end)
			return CS_OK;
	}

	next_lf = memchr(s, '\n', (size_t)(end - s));
	next_cr = memchr(s, '\r', (size_t)(end - s));

	while (next_lf != NULL || next_cr != NULL) {
		if (next_lf == NULL)
			eol = next_cr;
		else if (next_cr == NULL)
			eol = next_lf;
		else
			eol = next_lf < next_cr ? next_lf : next_cr;

		n = (size_t)(eol - s);
		if (p->line.len > 0) {
			/* Complete the line carried over from earlier reads. */
			if ((e = cs_buf_append(&p->line, s, n)) != CS_OK)
				return e;
			e = process_line(p, p->line.data, p->line.len);
			cs_buf_reset(&p->line);
		} else if (n > p->max_line)
			return CS_ETOOBIG;
		else
			e = process_line(p, s, n);
		if (e != CS_OK)
			return e;

		s = eol + 1;
		if (*eol == '\r') {
			if (s == end) {
				/* Its LF, if any, comes with the next read. */
				p->last_cr = 1;
				return CS_OK;
			}
			if (*s == '\n')
				s++;
		}

		if (next_lf != NULL && next_lf < s)
			next_lf = memchr(s, '\n', (size_t)(end - s));
		if (next_cr != NULL && next_cr < s)
			next_cr = memchr(s, '\r', (size_t)(end - s));
	}

	/* An unterminated tail waits for the next read. */
	return cs_buf_append(&p->line, s, (size_t)(end - s));
}

enum cs_err
cs_sse_feed(struct cs_sse *p, const char *buf, size_t len)
{
	size_t i = 0;
	enum cs_err e;

	if (p->err != CS_OK)
		return p->err;

	/*
	 * Match the leading BOM byte by byte: it may arrive split across
	 * reads.  On a mismatch the bytes held back so far were ordinary
	 * input and are replayed from the constant before this read.
	 */
	while (p->bom != BOM_DONE && i < len) {
		if (buf[i] != bom[p->bom]) {
			e = scan(p, bom, (size_t)p->bom);
			p->bom = BOM_DONE;
			if (e != CS_OK)
				goto fail;
			break;
		}
		p->bom++;
		i++;
	}

	if ((e = scan(p, buf + i, len - i)) != CS_OK)
		goto fail;
	return CS_OK;
fail:
	/* Part of this read went unparsed: the state cannot be trusted. */
	p->err = e;
	return e;
}

enum cs_err
cs_sse_end(struct cs_sse *p)
{
	/*
	 * Discard the unterminated line and the undispatched event.  The
	 * last event ID and retry survive, and BOM detection is re-armed, so
	 * the same parser may take a fresh stream (a reconnection).
	 */
	cs_buf_reset(&p->line);
	cs_buf_reset(&p->data);
	cs_buf_reset(&p->type);
	p->last_cr = 0;
	p->bom = 0;
	return CS_OK;
}
