/*
 * stream.h — one streamed response: sends the headers at the right moment,
 * encodes each normalized event, writes and flushes it, sends keep-alives,
 * notices a departed client, and keeps the numbers for the access log.
 *
 * Before the headers went out a failure is an HTTP status with a JSON body;
 * after, it is an error event followed by the end marker.
 */
#ifndef CS_STREAM_H
#define CS_STREAM_H

#include <stdint.h>

#include "buf.h"
#include "encoder.h"
#include "event.h"
#include "fcgi_out.h"

struct cs_config;

struct cs_stream {
	struct cs_conn *conn;          /* borrowed */
	const struct cs_config *cfg;   /* borrowed */
	struct cs_enc enc;
	struct cs_buf out;             /* scratch for one event */
	int       headers_sent;
	int       terminal;            /* finish or error event written */
	int       done_sent;
	int       status;              /* HTTP status sent */
	const char *outcome;           /* for the access log */
	char      error[160];          /* short reason for the log */
	int64_t   t_start;             /* ms, monotonic */
	int64_t   t_first_delta;       /* -1 until the first delta */
	int64_t   t_last_write;
	unsigned long deltas;
	long      prompt_tokens;
	long      completion_tokens;
	int       retries;             /* upstream retries made */
	unsigned long provider_events; /* provider events (text, tool call,
	                                  finish) accepted by the encoder */
	struct cs_buf redacted;        /* scratch for a redacted message */
	const char *allow;             /* Allow: on a 405 (default POST) */
	int       head;                /* HEAD: the head a GET would get,
	                                  never a body (set before the first
	                                  byte) */
};

/* Monotonic milliseconds. */
int64_t cs_now_ms(void);

/* Set up s for conn; enc decides the protocol.  stream_id must be
 * CS_STREAM_ID_LEN characters.  Free with cs_stream_cleanup(). */
void cs_stream_init(struct cs_stream *s, struct cs_conn *conn,
    const struct cs_config *cfg, const struct cs_encoder *enc,
    const char *stream_id);
void cs_stream_cleanup(struct cs_stream *s);

/*
 * Every response head starts with Status and X-Request-Id (the stream id,
 * as in the access log line).  Whole responses (errors, replies, deferred
 * answers) carry Content-Length; under s->head they send no body.
 */

/* Send the 200 headers and prologue if not yet sent.  Under s->head only
 * the headers go out, and this (and every later write) returns CS_EDONE:
 * the producer stops, nothing more is sent. */
enum cs_err cs_stream_start(struct cs_stream *s);

/* cs_emit_fn: encode and flush one event (starting the stream if needed).
 * Returns CS_ECLIENTGONE when the client left. */
enum cs_err cs_stream_emit(void *stream, const struct cs_event *ev);

/*
 * Fail the request.  Before the headers: HTTP status with the encoder's
 * JSON error body (retry_after_s > 0 adds Retry-After).  After: an error
 * event.  outcome goes to the access log.
 */
enum cs_err cs_stream_fail(struct cs_stream *s, int status, const char *type,
    const char *message, long retry_after_s, const char *outcome);

/* Write the end marker ([DONE]) if the stream started and it is not yet
 * written.  If no finish or error was sent, an error event goes first. */
enum cs_err cs_stream_end(struct cs_stream *s);

/* Milliseconds until a keep-alive is due (0 = now). */
long cs_stream_keepalive_in(const struct cs_stream *s);
/* If a keep-alive is due: start the stream if needed and write one. */
enum cs_err cs_stream_keepalive(struct cs_stream *s);

/*
 * Has anything a provider produced gone into the response (written, or kept
 * by a deferred encoder)?  Headers, prologues and keep-alives do not count:
 * while this is 0 a failed provider attempt may be retried without the
 * client seeing anything twice.
 */
int cs_stream_provider_output_sent(const struct cs_stream *s);

/*
 * Append msg (n bytes) to out with every fragment of an API key in keys
 * replaced by "[redacted]": any run of CS_REDACT_RUN or more bytes that
 * also occurs in a key, widened over the key characters and masks ('*',
 * '.', "\u2026") around it -- so a whole key, a key cut short and a masked
 * echo ("sk-abc-d*****wxyz") all go.  Keys shorter than CS_REDACT_RUN only
 * match whole.  *found (may be NULL) is set when something was replaced.
 * NULL or empty keys are skipped.  Returns out's error (CS_ETOOBIG,
 * CS_ENOMEM); out is then incomplete and must not be shown.
 */
#define CS_REDACT_RUN 6
enum cs_err cs_redact_keys(const char *const *keys, size_t nkeys,
    const char *msg, size_t n, struct cs_buf *out, int *found);
/* cs_redact_keys() with every API key configured in s->cfg. */
enum cs_err cs_stream_redact(const struct cs_stream *s, const char *msg,
    size_t n, struct cs_buf *out, int *found);

/* Has the shutdown grace period run out?  (No system call.) */
int cs_stream_shutdown_due(void);

/* Non-blocking client check, and shutdown deadline check. */
enum cs_err cs_stream_check(struct cs_stream *s);

/* Wait up to ms, sending keep-alives and watching for a departed client.
 * CS_OK when the time passed. */
enum cs_err cs_stream_wait(struct cs_stream *s, long ms);

/* Write n bytes of already-encoded stream body (starting the stream if
 * needed) and flush them.  For endpoints that speak the native protocol
 * directly, such as the self-check. */
enum cs_err cs_stream_write_raw(struct cs_stream *s, const char *p, size_t n);

/* 204 No Content (e.g. to stop an EventSource from reconnecting). */
enum cs_err cs_stream_no_content(struct cs_stream *s);

/* Answer in protocol enc instead; no-op once the headers went out. */
void cs_stream_use(struct cs_stream *s, const struct cs_encoder *enc);

/* Send a complete non-streaming response (e.g. GET /api/models); body
 * (len bytes) is copied. */
enum cs_err cs_stream_reply(struct cs_stream *s, int status,
    const char *content_type, const char *body, size_t len);

/* Set by the signal thread: after this monotonic ms deadline (0 = none),
 * running streams end with a server_shutdown error. */
void cs_stream_set_shutdown_deadline(int64_t deadline_ms);

#endif
