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
#include "failure.h"
#include "fcgi_out.h"

struct cs_config;
struct cs_access;

/*
 * Opaque: its state (nothing sent, streaming, end marker owed, complete,
 * connection lost) and its numbers are the stream's own; other modules
 * act through the calls below.
 */
struct cs_stream;

/* Monotonic milliseconds. */
int64_t cs_now_ms(void);

/* A stream for conn; enc decides the protocol (see cs_stream_use).
 * stream_id must be CS_STREAM_ID_LEN characters.  NULL when out of memory.
 * Free with cs_stream_free() (NULL-safe). */
struct cs_stream *
cs_stream_new(struct cs_conn *conn, const struct cs_config *cfg,
    const struct cs_encoder *enc, const char *stream_id);
void cs_stream_free(struct cs_stream *s);

/* The request is HEAD: it gets the head a GET would get and never a body.
 * Set before the first byte. */
void cs_stream_set_head(struct cs_stream *s);
int cs_stream_is_head(const struct cs_stream *s);

/* For protocols that name the response: the model (must outlive s) and
 * CS_ENC_* flags.  Before the first byte. */
void cs_stream_set_model(struct cs_stream *s, const char *model);
void cs_stream_set_flags(struct cs_stream *s, unsigned flags);

/* The stream id, and the next SSE event number (for endpoints that write
 * their own events, such as the self-check). */
const char *cs_stream_id(const struct cs_stream *s);
unsigned long cs_stream_next_seq(struct cs_stream *s);

/* For the access log: the deployment now asked (route.h; its strings
 * outlive s), tried so far, and retries made; model replaces the model
 * responses name (cs_stream_set_model). */
void cs_stream_set_served(
    struct cs_stream *s, const char *upstream, const char *model, int tried);
void cs_stream_set_retries(struct cs_stream *s, int retries);

/* The FastCGI connection's fd, for a departed client (-1 in CGI mode);
 * has a finish or error been sent (or kept by a deferred encoder)? */
int cs_stream_fd(const struct cs_stream *s);
int cs_stream_finished(const struct cs_stream *s);

/* Has the connection failed (client gone, slow client)?  Make it so, before
 * anything was sent (reading the body): client_gone or slow_client. */
int cs_stream_is_lost(const struct cs_stream *s);
void cs_stream_lost(struct cs_stream *s);

/* Fill the stream's part of the access-log line: status, outcome, error,
 * timings, counts, bytes written.  The strings live as long as s. */
void cs_stream_account(const struct cs_stream *s, struct cs_access *a);

/*
 * Every response head starts with Status and X-Request-Id (the stream id,
 * as in the access log line), then Server-Timing when a time below is set.
 * Whole responses (errors, replies, deferred answers) carry
 * Content-Length; under HEAD they send no body.
 */
/* Server-Timing: what admission took (us), the provider's headers (ms
 * after its attempt began); < 0: unknown.  Before the head goes out. */
void cs_stream_time_admit(struct cs_stream *s, long admit_us);
void cs_stream_time_upstream(struct cs_stream *s, long headers_ms);

/* Send the 200 headers and prologue if not yet sent.  Under HEAD only
 * the headers go out, and this (and every later write) returns CS_EDONE:
 * the producer stops, nothing more is sent. */
enum cs_err cs_stream_start(struct cs_stream *s);

/* cs_emit_fn: encode and flush one event (starting the stream if needed).
 * Returns CS_ECLIENTGONE when the client left. */
enum cs_err cs_stream_emit(void *stream, const struct cs_event *ev);

/*
 * Fail the request with failure f (failure.h: its status, error type and
 * outcome) and message.  Before the headers: the HTTP status with the
 * encoder's JSON error body.  After: an error event, then the end marker.
 * Once the connection is lost: nothing (CS_ECLIENTGONE).
 */
enum cs_err
cs_stream_fail(struct cs_stream *s, enum cs_fail f, const char *message);
/* The same with Retry-After: retry_after_s (when > 0 and the headers are
 * still unsent). */
enum cs_err cs_stream_fail_retry(struct cs_stream *s, enum cs_fail f,
    const char *message, long retry_after_s);
/* More "Name: value\r\n" lines (copied; CS_STREAM_EXTRA bytes in all,
 * CS_ETOOBIG past it) for the response head, an answer's or an error's:
 * RateLimit, CORS and such. */
#define CS_STREAM_EXTRA 1024
enum cs_err cs_stream_add_headers(struct cs_stream *s, const char *l);
/* 405 with Allow: allow (e.g. "GET, HEAD"). */
enum cs_err cs_stream_fail_method(
    struct cs_stream *s, const char *allow, const char *message);

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
/* cs_redact_keys() with every API key configured in the stream's config. */
enum cs_err cs_stream_redact(const struct cs_stream *s, const char *msg,
    size_t n, struct cs_buf *out, int *found);

/* Has the shutdown grace period run out?  (No system call.) */
int cs_stream_shutdown_due(void);

/* Non-blocking client check, and shutdown deadline check. */
enum cs_err cs_stream_check(struct cs_stream *s);

/* Write n bytes of already-encoded stream body (starting the stream if
 * needed) and flush them.  For endpoints that speak the native protocol
 * directly, such as the self-check. */
enum cs_err cs_stream_write_raw(struct cs_stream *s, const char *p, size_t n);

/* 204 No Content (e.g. to stop an EventSource from reconnecting). */
enum cs_err cs_stream_no_content(struct cs_stream *s);

/* Answer in protocol enc instead; no-op once the headers went out. */
void cs_stream_use(struct cs_stream *s, const struct cs_encoder *enc);

/* A whole non-streaming response (GET /api/models), no-cache unless an
 * added line sets Cache-Control; body (len bytes) is copied. */
enum cs_err cs_stream_reply(struct cs_stream *s, int status,
    const char *content_type, const char *body, size_t len);

/*
 * Deferred writes, for a producer that polls the connection itself (the
 * provider loop in upstream.c).  While on, whatever the stream would write
 * is kept, in order, in a pending buffer (max_pending_bytes plus one
 * event), and goes out only in cs_stream_flush: once per pass of the
 * loop, so the events of one provider read leave in one write, and only
 * as far as the connection is known to have room, so a client that reads
 * nothing never blocks the producer.  Turning it off writes what is kept
 * (a blocking write).  A no-op in CGI mode (no fd to poll).
 */
enum cs_err cs_stream_defer_writes(struct cs_stream *s, int on);
/*
 * Write what is kept, within what the connection can take without
 * blocking: writable = poll() has just reported POLLOUT.  CS_ECLIENTGONE
 * when the connection failed, or (outcome slow_client) when bytes have
 * been kept for write_timeout_seconds in which the client took neither
 * all of them nor max_pending_bytes: a client that keeps up at that rate
 * is never cut, one that stalls or trickles is.
 */
enum cs_err cs_stream_flush(struct cs_stream *s, int writable);
/* Bytes kept (poll for POLLOUT while > 0). */
size_t cs_stream_pending(const struct cs_stream *s);
/* Milliseconds until the drain window (above) runs out (0: now), or -1
 * when nothing is kept. */
long cs_stream_pending_due_in(const struct cs_stream *s);
/* max_pending_bytes are kept: the producer should pause; and it may go
 * on once at most half are (caught up). */
int cs_stream_backlogged(const struct cs_stream *s);
int cs_stream_caught_up(const struct cs_stream *s);

/* Set by the signal thread: after this monotonic ms deadline (0 = none),
 * running streams end with a server_shutdown error. */
void cs_stream_set_shutdown_deadline(int64_t deadline_ms);
/* That deadline, or 0 while none is set. */
int64_t cs_stream_shutdown_deadline(void);

#endif
