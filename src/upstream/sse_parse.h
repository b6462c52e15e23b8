/*
 * sse_parse.h — incremental Server-Sent Events parser (upstream side).
 *
 * Implements the WHATWG HTML "event stream interpretation" rules: UTF-8,
 * one leading BOM stripped, lines ending in CRLF, LF or CR (a CRLF split
 * across two feeds is one line end), comments, fields without a colon, one
 * optional space after the colon, multi-line data joined with LF, id
 * persisting across events (ids containing NUL ignored), empty-data blocks
 * not dispatched, and an unterminated block discarded at end of stream.
 * Input may be split at any byte.
 *
 * Lines longer than max_line or events whose data exceeds max_event make
 * cs_sse_feed() fail with CS_ETOOBIG; the parser is then unusable.
 */
#ifndef CS_SSE_PARSE_H
#define CS_SSE_PARSE_H

#include <stddef.h>

#include "cs.h"

/*
 * One dispatched event.  All strings are NUL-terminated and owned by the
 * parser: valid only during the callback.  type is "message" when the
 * stream set none.  id is the last-event-ID at dispatch time ("" if none).
 * type and data may contain NUL bytes (the spec allows them; trust the
 * lengths); id never does.  Bytes are passed through as received: invalid
 * UTF-8 is not replaced with U+FFFD.
 */
struct cs_sse_event {
	const char *type;
	size_t type_len;
	const char *data;
	size_t data_len;
	const char *id;
	size_t id_len;
};

/* Return CS_OK to continue; anything else stops cs_sse_feed(), which
 * returns that value unchanged.  The rest of that read is not parsed, so
 * the error is sticky: later cs_sse_feed() calls return it again. */
typedef enum cs_err (*cs_sse_cb)(void *ctx, const struct cs_sse_event *ev);

struct cs_sse;

/* Returns NULL on allocation failure.  The caller owns the parser. */
struct cs_sse *
cs_sse_new(size_t max_line, size_t max_event, cs_sse_cb cb, void *ctx);
/* Parse len bytes; dispatches zero or more events through the callback.
 * Any error (CS_ETOOBIG, CS_ENOMEM, a callback's code) is sticky. */
enum cs_err cs_sse_feed(struct cs_sse *p, const char *buf, size_t len);
/* End of stream: a partly-built event is discarded.  Returns CS_OK.
 * The last-event-ID and retry are kept and BOM stripping is re-armed, so
 * the parser may be fed a new stream (a reconnection) afterwards. */
enum cs_err cs_sse_end(struct cs_sse *p);
/* Reconnection time in ms the stream last set with a valid retry field,
 * or -1 if never set. */
long cs_sse_retry(const struct cs_sse *p);
/* Number of comment lines seen (e.g. keep-alives). */
unsigned long cs_sse_comments(const struct cs_sse *p);
/* NULL-safe. */
void cs_sse_free(struct cs_sse *p);

#endif
