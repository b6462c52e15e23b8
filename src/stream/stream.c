/* stream.c — one streamed response; see stream.h. */
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <json-c/json.h>

#include "config.h"
#include "log.h"
#include "metrics.h"
#include "stream.h"

/* One encoded event may carry at most this much (a whole tool call). */
#define STREAM_EVENT_MAX (8 * 1024 * 1024)
/* A provider error message longer than this is withheld, not redacted. */
#define REDACT_MAX (256 * 1024)
/*
 * While writes are deferred, what may be written without asking the loop
 * again: what the socket's send buffer has free (cs_conn_room), at most
 * this much in at most this many writes (each small write also costs the
 * kernel's per-buffer overhead).  When the socket says it is writable but
 * reports less, CREDIT_FLOOR: it is writable, and waiting for more room
 * would spin.
 */
#define CREDIT_BYTES  (64 * 1024)
#define CREDIT_WRITES 32
#define CREDIT_FLOOR  1024

static _Atomic int64_t shutdown_deadline;

/*
 * What has gone out.  Every response moves forward through these:
 *
 *   IDLE --start--> OPEN --finish/error--> ENDING --end marker--> CLOSED
 *   IDLE --whole response (error, reply, HEAD, 204)--> CLOSED
 *   IDLE --deferred finish/error--> HELD --the whole answer--> CLOSED
 *
 * and from any of them to LOST when a write or the client check fails.
 */
enum stream_state {
	ST_IDLE,   /* nothing sent; a deferred encoder may hold events */
	ST_HELD,   /* deferred: the whole answer is held, not yet sent */
	ST_OPEN,   /* head sent, events flowing */
	ST_ENDING, /* finish or error written; the end marker is owed */
	ST_CLOSED, /* the response is complete: nothing more goes out */
	ST_LOST,   /* the connection failed: nothing can go out */
};

struct cs_stream {
	struct cs_conn *conn;        /* borrowed */
	const struct cs_config *cfg; /* borrowed */
	struct cs_enc enc;
	struct cs_buf out; /* scratch for one event */
	enum stream_state state;
	int status;              /* HTTP status sent */
	enum cs_outcome outcome; /* for the access log */
	char error[160];         /* short reason for the log */
	int64_t t_start;         /* ms, monotonic */
	int64_t t_first_delta;   /* -1 until the first delta */
	int64_t t_last_write;
	unsigned long deltas;
	unsigned long long text_bytes; /* of the deltas */
	long prompt_tokens;
	long completion_tokens;
	int retries;                   /* upstream retries made */
	const char *served_up;         /* the deployment that served */
	int tried;                     /* deployments tried */
	unsigned long provider_events; /* provider events (text, tool call,
	                                  finish) accepted by the encoder */
	struct cs_buf redacted;        /* scratch for a redacted message */
	/* Deferred writes (cs_stream_defer_writes): bytes not yet written,
	 * in order, since when, and what may go without a poll. */
	struct cs_buf pending;
	int deferring;
	int64_t pending_since; /* start of the drain window */
	size_t drained;        /* bytes written in the window */
	size_t credit;
	int credit_writes;
	int credit_known;            /* measured once; again when writable */
	const char *allow;           /* Allow: on a 405 (default POST) */
	int head;                    /* HEAD: never a body */
	char extra[CS_STREAM_EXTRA]; /* more head lines, or "" */
	long admit_us, upstream_ms;  /* Server-Timing; < 0 unknown */
	/* Metrics (metrics.h): pending bytes counted in the gauge, the
	 * last delta, and the gap histogram of the deployment serving. */
	size_t pend_counted;
	int64_t t_last_delta;
	struct cs_mseries *gaps;
	const char *gaps_up;
};

int64_t
cs_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void
cs_stream_set_shutdown_deadline(int64_t deadline_ms)
{
	atomic_store(&shutdown_deadline, deadline_ms);
}

struct cs_stream *
cs_stream_new(struct cs_conn *conn, const struct cs_config *cfg,
    const struct cs_encoder *enc, const char *stream_id)
{
	struct cs_stream *s;

	if ((s = calloc(1, sizeof(*s))) == NULL)
		return NULL;
	s->conn = conn;
	s->cfg = cfg;
	s->enc.created = (long long)time(NULL);
	snprintf(s->enc.stream_id, sizeof(s->enc.stream_id), "%s", stream_id);
	if (cs_enc_init(&s->enc, enc) != CS_OK) {
		free(s);
		return NULL;
	}
	cs_buf_init(&s->out, STREAM_EVENT_MAX);
	cs_buf_init(&s->redacted, REDACT_MAX);
	/* One encoded event may land on a full buffer: room for it. */
	cs_buf_init(&s->pending, cfg->max_pending_bytes + STREAM_EVENT_MAX);
	s->state = ST_IDLE;
	s->outcome = CS_OUTCOME_DONE;
	s->t_start = s->t_last_write = cs_now_ms();
	s->t_first_delta = -1;
	s->admit_us = s->upstream_ms = -1;
	s->prompt_tokens = s->completion_tokens = -1;
	cs_metrics_gauge(CS_G_OPEN_STREAMS, 1);
	return s;
}

void
cs_stream_free(struct cs_stream *s)
{
	if (s == NULL)
		return;
	cs_enc_free(&s->enc);
	cs_buf_free(&s->out);
	cs_buf_free(&s->redacted);
	cs_buf_free(&s->pending);
	cs_metrics_gauge(CS_G_PENDING_BYTES, -(int64_t)s->pend_counted);
	cs_metrics_gauge(CS_G_OPEN_STREAMS, -1);
	free(s);
}

void
cs_stream_set_head(struct cs_stream *s)
{
	s->head = 1;
}

int
cs_stream_is_head(const struct cs_stream *s)
{
	return s->head;
}

void
cs_stream_set_model(struct cs_stream *s, const char *model)
{
	s->enc.model = model;
}

void
cs_stream_set_flags(struct cs_stream *s, unsigned flags)
{
	s->enc.flags = flags;
}

const char *
cs_stream_id(const struct cs_stream *s)
{
	return s->enc.stream_id;
}

unsigned long
cs_stream_next_seq(struct cs_stream *s)
{
	return ++s->enc.seq;
}

void
cs_stream_set_served(
    struct cs_stream *s, const char *upstream, const char *model, int tried)
{
	s->served_up = upstream;
	s->tried = tried;
	s->enc.model = model;
}

void
cs_stream_set_retries(struct cs_stream *s, int retries)
{
	s->retries = retries;
}

int
cs_stream_fd(const struct cs_stream *s)
{
	return cs_conn_fd(s->conn);
}

int
cs_stream_finished(const struct cs_stream *s)
{
	return s->state == ST_HELD || s->state == ST_ENDING ||
	    s->state == ST_CLOSED;
}

void
cs_stream_account(const struct cs_stream *s, struct cs_access *a)
{
	a->status = s->status;
	a->outcome = cs_outcome_name(s->outcome);
	a->error = s->error[0] != '\0' ? s->error : NULL;
	a->ttfd_ms = s->t_first_delta < 0 ?
	    -1 :
	    (long)(s->t_first_delta - s->t_start);
	a->duration_ms = (long)(cs_now_ms() - s->t_start);
	a->deltas = s->deltas;
	a->text_bytes = s->text_bytes;
	a->prompt_tokens = s->prompt_tokens;
	a->completion_tokens = s->completion_tokens;
	a->retries = s->retries;
	a->upstream = s->served_up;
	a->tried = s->tried;
	a->bytes_out = cs_conn_bytes_out(s->conn);
}

static const char *
reason_phrase(int status)
{
	switch (status) {
	case 200: return "OK";
	case 204: return "No Content";
	case 400: return "Bad Request";
	case 401: return "Unauthorized";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 408: return "Request Timeout";
	case 413: return "Content Too Large";
	case 415: return "Unsupported Media Type";
	case 429: return "Too Many Requests";
	case 500: return "Internal Server Error";
	case 502: return "Bad Gateway";
	case 503: return "Service Unavailable";
	case 504: return "Gateway Timeout";
	}
	return "Error";
}

/* Nothing more can go out, for this outcome. */
static void
lose(struct cs_stream *s, enum cs_outcome outcome)
{
	s->state = ST_LOST;
	s->outcome = outcome;
}

/* The connection failed: the client left, or it stopped taking the
 * answer (a write overran write_timeout_seconds). */
static void
set_lost(struct cs_stream *s)
{
	lose(s,
	    cs_conn_slow(s->conn) ? CS_OUTCOME_SLOW_CLIENT :
	                            CS_OUTCOME_CLIENT_GONE);
}

int
cs_stream_is_lost(const struct cs_stream *s)
{
	return s->state == ST_LOST;
}

void
cs_stream_lost(struct cs_stream *s)
{
	set_lost(s);
}

/* The pending bytes gauge follows s->pending. */
static void
note_pending(struct cs_stream *s)
{
	cs_metrics_gauge(CS_G_PENDING_BYTES,
	    (int64_t)s->pending.len - (int64_t)s->pend_counted);
	s->pend_counted = s->pending.len;
}

/* A text delta went out: the gap since the one before, in the histogram
 * of the deployment that serves (looked up once per deployment). */
static void
note_delta(struct cs_stream *s)
{
	int64_t now = cs_now_ms();
	const char *l[1];

	if (s->t_first_delta < 0)
		s->t_first_delta = now;
	else {
		if (s->gaps_up != s->served_up || s->gaps == NULL) {
			l[0] = s->served_up;
			s->gaps = cs_metrics_series(CS_M_GAP, l);
			s->gaps_up = s->served_up;
		}
		cs_metrics_observe(s->gaps, (now - s->t_last_delta) * 1000);
	}
	s->t_last_delta = now;
}

/* Write the first n pending bytes. */
static enum cs_err
write_pending(struct cs_stream *s, size_t n)
{
	enum cs_err r;

	if ((r = cs_conn_write(s->conn, s->pending.data, n)) != CS_OK) {
		set_lost(s);
		return r;
	}
	cs_buf_consume(&s->pending, n);
	note_pending(s);
	s->t_last_write = cs_now_ms();
	/* A client that took everything, or max_pending_bytes, is keeping
	 * up: its next window starts now. */
	s->drained += n;
	if (s->pending.len == 0 || s->drained >= s->cfg->max_pending_bytes) {
		s->pending_since = s->pending.len == 0 ? 0 : s->t_last_write;
		s->drained = 0;
	}
	return CS_OK;
}

/* Keep b's bytes after what is pending (emptying b). */
static enum cs_err
keep(struct cs_stream *s, struct cs_buf *b)
{
	enum cs_err r;

	if (s->pending.len == 0 && b->len > 0) {
		s->pending_since = cs_now_ms();
		s->drained = 0;
	}
	r = cs_buf_append(&s->pending, b->data, b->len);
	note_pending(s);
	cs_buf_reset(b);
	if (r != CS_OK) {
		/* Past max_pending_bytes by a whole event: the producer did
		 * not pause.  The answer cannot go out whole. */
		lose(s, CS_OUTCOME_SLOW_CLIENT);
		return CS_ECLIENTGONE;
	}
	return CS_OK;
}

/* Write whatever is in b (after anything pending), then empty it; while
 * writes are deferred, only keep it. */
static enum cs_err
flush_buf(struct cs_stream *s, struct cs_buf *b)
{
	enum cs_err r;

	if (s->deferring || s->pending.len > 0) {
		if ((r = keep(s, b)) != CS_OK || s->deferring)
			return r;
		return write_pending(s, s->pending.len);
	}
	r = cs_conn_write(s->conn, b->data, b->len);
	cs_buf_reset(b);
	if (r != CS_OK) {
		set_lost(s);
		return r;
	}
	s->t_last_write = cs_now_ms();
	return CS_OK;
}

static enum cs_err
flush_out(struct cs_stream *s)
{
	return flush_buf(s, &s->out);
}

/*
 * The start of every response head, the one place it is written: the
 * status, then X-Request-Id (the stream id of the access log line and the
 * SSE ids, so a client or a support request can name the request), then
 * lines (each ending in \r\n; may be empty), then the extra lines of
 * cs_stream_add_headers.  The caller ends the head.
 */
static enum cs_err
put_head(struct cs_stream *s, struct cs_buf *b, int status, const char *lines)
{
	char t[128] = "";
	int n = 0;

	/* W3C Server-Timing: durations in ms, admission with 3 decimals. */
	if (s->admit_us >= 0)
		n = snprintf(t, sizeof(t), "admit;dur=%ld.%03ld",
		    s->admit_us / 1000, s->admit_us % 1000);
	if (s->upstream_ms >= 0 && n >= 0 && (size_t)n < sizeof(t))
		snprintf(t + n, sizeof(t) - (size_t)n, "%supstream;dur=%ld",
		    n > 0 ? ", " : "", s->upstream_ms);
	return cs_buf_printf(b,
	    "Status: %d %s\r\n"
	    "X-Request-Id: %s\r\n%s%s%s%s%s",
	    status, reason_phrase(status), s->enc.stream_id,
	    t[0] != '\0' ? "Server-Timing: " : "", t,
	    t[0] != '\0' ? "\r\n" : "", lines, s->extra);
}

void
cs_stream_time_admit(struct cs_stream *s, long admit_us)
{
	s->admit_us = admit_us;
}

void
cs_stream_time_upstream(struct cs_stream *s, long headers_ms)
{
	s->upstream_ms = headers_ms;
}

/*
 * A whole (not streamed) response whose body is in s->out: head with lines
 * and Content-Length, then the body unless the request is HEAD (the head
 * is the same either way).
 */
static enum cs_err
send_whole(struct cs_stream *s, int status, const char *lines)
{
	struct cs_buf msg;
	enum cs_err r;

	s->state = ST_CLOSED; /* whatever happens, nothing else goes out */
	s->status = status;
	cs_buf_init(&msg, s->out.len + CS_MAX_HEADER_LINE * 4);
	if ((r = put_head(s, &msg, status, lines)) != CS_OK ||
	    (r = cs_buf_printf(
	         &msg, "Content-Length: %zu\r\n\r\n", s->out.len)) != CS_OK ||
	    (!s->head &&
	        (r = cs_buf_append(&msg, s->out.data, s->out.len)) != CS_OK)) {
		cs_buf_free(&msg);
		return r;
	}
	cs_buf_reset(&s->out);
	r = flush_buf(s, &msg);
	cs_buf_free(&msg);
	return r;
}

enum cs_err
cs_stream_start(struct cs_stream *s)
{
	enum cs_err r;

	if (s->state == ST_LOST)
		return CS_ECLIENTGONE;
	if (s->head && s->state != ST_IDLE)
		return CS_EDONE;
	if (s->state != ST_IDLE || s->enc.ops->deferred)
		return CS_OK; /* a deferred protocol starts at the end */
	s->state = s->head ? ST_CLOSED : ST_OPEN;
	s->status = 200;
	cs_buf_reset(&s->out);
	if ((r = put_head(s, &s->out, 200, s->enc.ops->headers)) != CS_OK ||
	    (r = cs_buf_puts(&s->out, "\r\n")) != CS_OK)
		return r;
	if (s->head) /* the head a GET gets, and nothing after it */
		return (r = flush_out(s)) != CS_OK ? r : CS_EDONE;
	if ((r = cs_enc_prologue(&s->enc, &s->out)) != CS_OK)
		return r;
	return flush_out(s);
}

/*
 * Provider error texts can echo the API key, a masked form of it, or a
 * piece cut off by a length limit: those pieces never reach the client or
 * the log.  A message is checked as a whole, before anything shortens it.
 */
#define REDACTED  "[redacted]"
#define ELLIPSIS  "\xe2\x80\xa6"
#define GRAM_MASK ((UINT64_C(1) << (8 * CS_REDACT_RUN)) - 1)

static int
cmp_gram(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* Every CS_REDACT_RUN-byte piece of the keys as a number, sorted. */
static enum cs_err
key_grams(const char *const *keys, size_t nkeys, uint64_t **grams, size_t *ng)
{
	size_t k, j, klen, n = 0;
	uint64_t g;

	*grams = NULL;
	for (k = 0; k < nkeys; k++)
		if (keys[k] != NULL &&
		    (klen = strlen(keys[k])) >= CS_REDACT_RUN)
			n += klen - CS_REDACT_RUN + 1;
	if (n > 0 && (*grams = malloc(n * sizeof(**grams))) == NULL)
		return CS_ENOMEM;
	*ng = 0;
	for (k = 0; k < nkeys; k++) {
		if (keys[k] == NULL || (klen = strlen(keys[k])) < CS_REDACT_RUN)
			continue;
		for (g = 0, j = 0; j < klen; j++) {
			g = (g << 8 | (unsigned char)keys[k][j]) & GRAM_MASK;
			if (j + 1 >= CS_REDACT_RUN)
				(*grams)[(*ng)++] = g;
		}
	}
	if (*ng > 0)
		qsort(*grams, *ng, sizeof(**grams), cmp_gram);
	return CS_OK;
}

/* Set hit[] over every run of msg that a key contains (whole short keys,
 * CS_REDACT_RUN-byte pieces of the others). */
static enum cs_err
mark_key_runs(const char *const *keys, size_t nkeys, const char *msg, size_t n,
    unsigned char *hit)
{
	uint64_t *grams, g = 0;
	size_t ng = 0, i, k, klen;
	const char *p;
	enum cs_err r;

	if ((r = key_grams(keys, nkeys, &grams, &ng)) != CS_OK)
		return r;
	for (k = 0; k < nkeys; k++) {
		if (keys[k] == NULL || (klen = strlen(keys[k])) == 0 ||
		    klen >= CS_REDACT_RUN)
			continue;
		for (p = msg; (p = memmem(p, n - (size_t)(p - msg), keys[k],
		                   klen)) != NULL;
		     p++)
			memset(hit + (p - msg), 1, klen);
	}
	for (i = 0; ng > 0 && i < n; i++) {
		g = (g << 8 | (unsigned char)msg[i]) & GRAM_MASK;
		if (i + 1 >= CS_REDACT_RUN &&
		    bsearch(&g, grams, ng, sizeof(g), cmp_gram) != NULL)
			memset(hit + i + 1 - CS_REDACT_RUN, 1, CS_REDACT_RUN);
	}
	free(grams);
	return CS_OK;
}

/* Bytes of a key character or mask ending at msg[i-1] (left) or starting
 * at msg[i] (right); 0 if there is none. */
static int
key_byte(unsigned char c)
{
	return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') ||
	    (c >= 'a' && c <= 'z') || c == '-' || c == '_' || c == '*' ||
	    c == '.';
}

static size_t
key_left(const char *msg, size_t i)
{
	if (i >= 3 && memcmp(msg + i - 3, ELLIPSIS, 3) == 0)
		return 3;
	return i > 0 && key_byte((unsigned char)msg[i - 1]);
}

static size_t
key_right(const char *msg, size_t n, size_t i)
{
	if (n - i >= 3 && memcmp(msg + i, ELLIPSIS, 3) == 0)
		return 3;
	return i < n && key_byte((unsigned char)msg[i]);
}

/* Widen each marked run over the key characters and masks around it (not
 * over a sentence's closing dots). */
static void
widen_runs(const char *msg, size_t n, unsigned char *hit)
{
	size_t i, a, b, end, w;

	for (i = 0; i < n; i = b) {
		b = i + 1;
		if (!hit[i])
			continue;
		for (a = i; (w = key_left(msg, a)) > 0; a -= w)
			;
		for (b = i; b < n && hit[b]; b++)
			;
		end = b;
		while (b < n && (hit[b] || (w = key_right(msg, n, b)) > 0))
			b += hit[b] ? 1 : w;
		while (b > end && msg[b - 1] == '.' && !hit[b - 1])
			b--;
		memset(hit + a, 1, b - a);
	}
}

enum cs_err
cs_redact_keys(const char *const *keys, size_t nkeys, const char *msg, size_t n,
    struct cs_buf *out, int *found)
{
	unsigned char *hit;
	size_t i, a;
	enum cs_err r;

	if (found != NULL)
		*found = 0;
	if ((hit = calloc(n + 1, 1)) == NULL)
		return CS_ENOMEM;
	if ((r = mark_key_runs(keys, nkeys, msg, n, hit)) != CS_OK)
		goto out;
	widen_runs(msg, n, hit);
	for (i = 0; i < n;) {
		for (a = i; i < n && !hit[i]; i++)
			;
		if ((r = cs_buf_append(out, msg + a, i - a)) != CS_OK)
			goto out;
		if (i == n)
			break;
		while (i < n && hit[i])
			i++;
		if (found != NULL)
			*found = 1;
		if ((r = cs_buf_puts(out, REDACTED)) != CS_OK)
			goto out;
	}
	r = cs_buf_append(out, "", 0); /* out->data is never NULL */
out:
	free(hit);
	return r;
}

enum cs_err
cs_stream_redact(const struct cs_stream *s, const char *msg, size_t n,
    struct cs_buf *out, int *found)
{
	const char *keys[CS_MAX_UPSTREAMS];
	size_t i;

	/* Any configured key counts, not only the one of this request's
	 * upstream: a proxy in front of several providers may echo any. */
	for (i = 0; i < s->cfg->n_upstreams && i < CS_ARRAY_LEN(keys); i++)
		keys[i] = s->cfg->upstreams[i].api_key;
	return cs_redact_keys(keys, i, msg, n, out, found);
}

/* msg, or msg with the key pieces it quotes redacted (in s->redacted). */
static const char *
safe_message(struct cs_stream *s, const char *msg)
{
	int found = 0;

	if (msg == NULL || msg == s->redacted.data)
		return msg; /* redacted already */
	cs_buf_reset(&s->redacted);
	if (cs_stream_redact(s, msg, strlen(msg), &s->redacted, &found) !=
	    CS_OK)
		return "the provider reported an error (details withheld: "
		       "the message was too long to check for credentials)";
	return found ? s->redacted.data : msg;
}

int
cs_stream_provider_output_sent(const struct cs_stream *s)
{
	return s->provider_events != 0;
}

/*
 * A deferred protocol sends nothing before the end, so an error event is
 * still an HTTP status: 504 for a timeout, 502 for the rest.
 */
static enum cs_err
fail_deferred(struct cs_stream *s, const struct cs_event *ev)
{
	return cs_stream_fail(
	    s, cs_failure_of_event(ev->error_type), ev->error_message);
}

/* Is the response still unsent (a deferred encoder may hold events)? */
static int
unsent(const struct cs_stream *s)
{
	return s->state == ST_IDLE || s->state == ST_HELD;
}

/* A finish or error went into the response: what comes next. */
static void
finish(struct cs_stream *s)
{
	s->state = s->state == ST_IDLE ? ST_HELD : ST_ENDING;
}

enum cs_err
cs_stream_emit(void *stream, const struct cs_event *ev)
{
	struct cs_stream *s = stream;
	struct cs_event safe;
	enum cs_err r;

	if (s->state == ST_LOST)
		return CS_ECLIENTGONE;
	if (cs_stream_finished(s))
		return CS_OK; /* nothing may follow finish or error */
	if ((r = cs_stream_start(s)) != CS_OK)
		return r;
	if (ev->type == CS_EV_ERROR) {
		safe = *ev;
		safe.error_message = safe_message(s, ev->error_message);
		ev = &safe;
		if (s->state == ST_IDLE)
			return fail_deferred(s, ev);
	}
	if (ev->type == CS_EV_FINISH) { /* the native finish shows them */
		s->enc.ttfd_ms = s->t_first_delta < 0 ?
		    -1 :
		    (long)(s->t_first_delta - s->t_start);
		s->enc.duration_ms = (long)(cs_now_ms() - s->t_start);
	}
	if ((r = cs_enc_event(&s->enc, ev, &s->out)) != CS_OK) {
		cs_buf_reset(&s->out);
		if (r == CS_ETOOBIG && s->state == ST_IDLE)
			cs_stream_fail(s, CS_FAIL_UPSTREAM,
			    "the answer is too "
			    "long to be sent in one piece; ask for a stream");
		return r;
	}
	if (ev->type != CS_EV_ERROR)
		s->provider_events++;
	switch (ev->type) {
	case CS_EV_TEXT:
		note_delta(s);
		s->deltas++;
		s->text_bytes += ev->text_len;
		break;
	case CS_EV_TOOL_CALL: break;
	case CS_EV_FINISH:
		finish(s);
		if (ev->tokens != NULL) {
			s->prompt_tokens = (long)ev->tokens->prompt;
			s->completion_tokens = (long)ev->tokens->completion;
		}
		break;
	case CS_EV_ERROR:
		finish(s);
		if (s->outcome == CS_OUTCOME_DONE)
			s->outcome = cs_failure(
			    cs_failure_of_event(ev->error_type))
			                 ->outcome;
		if (s->error[0] == '\0')
			snprintf(
			    s->error, sizeof(s->error), "%s", ev->error_type);
		break;
	}
	if (unsent(s))
		return CS_OK; /* deferred: kept by the encoder */
	return flush_out(s);
}

enum cs_err
cs_stream_fail(struct cs_stream *s, enum cs_fail f, const char *message)
{
	return cs_stream_fail_retry(s, f, message, 0);
}

enum cs_err
cs_stream_add_headers(struct cs_stream *s, const char *l)
{
	size_t have = strlen(s->extra), n = strlen(l);

	if (have + n >= sizeof(s->extra))
		return CS_ETOOBIG;
	memcpy(s->extra + have, l, n + 1);
	return CS_OK;
}

enum cs_err
cs_stream_fail_method(
    struct cs_stream *s, const char *allow, const char *message)
{
	s->allow = allow;
	return cs_stream_fail_retry(s, CS_FAIL_METHOD, message, 0);
}

enum cs_err
cs_stream_fail_retry(struct cs_stream *s, enum cs_fail f, const char *message,
    long retry_after_s)
{
	const struct cs_failure *fl = cs_failure(f);
	struct cs_event ev;
	struct cs_buf lines;
	enum cs_err r;

	if (s->state == ST_LOST)
		return CS_ECLIENTGONE; /* nobody to tell */
	s->outcome = fl->outcome;
	snprintf(s->error, sizeof(s->error), "%s", fl->type);
	if (!unsent(s)) {
		memset(&ev, 0, sizeof(ev));
		ev.type = CS_EV_ERROR;
		ev.error_type = fl->type;
		ev.error_message = message;
		if ((r = cs_stream_emit(s, &ev)) != CS_OK)
			return r;
		return cs_stream_end(s);
	}
	s->status = fl->status;
	cs_buf_reset(&s->out);
	cs_buf_init(&lines, CS_MAX_HEADER_LINE);
	if ((r = cs_buf_printf(&lines,
	         "Content-Type: %s\r\n"
	         "Cache-Control: no-store\r\n"
	         "X-Content-Type-Options: nosniff\r\n",
	         cs_enc_error_content_type(&s->enc))) != CS_OK ||
	    (retry_after_s > 0 &&
	        (r = cs_buf_printf(&lines, "Retry-After: %ld\r\n",
	             retry_after_s)) != CS_OK) ||
	    (fl->status == 405 &&
	        (r = cs_buf_printf(&lines, "Allow: %s\r\n",
	             s->allow != NULL ? s->allow : "POST")) != CS_OK) ||
	    (r = cs_enc_error_body(&s->enc, fl->type, safe_message(s, message),
	         &s->out)) != CS_OK ||
	    (r = cs_buf_puts(&s->out, "\n")) != CS_OK) {
		s->state = ST_CLOSED; /* nothing else goes out */
		goto out;
	}
	r = send_whole(s, fl->status, lines.data);
out:
	cs_buf_free(&lines);
	return r;
}

/* A deferred protocol's whole answer: headers and the encoder's done. */
static enum cs_err
end_deferred(struct cs_stream *s)
{
	enum cs_err r;

	if (s->state == ST_IDLE)
		return cs_stream_fail(s, CS_FAIL_UPSTREAM,
		    "the stream ended "
		    "without a finish event");
	cs_buf_reset(&s->out);
	if ((r = cs_enc_done(&s->enc, &s->out)) != CS_OK) {
		cs_buf_reset(&s->out);
		return cs_stream_fail(s, CS_FAIL_INTERNAL,
		    "the answer could "
		    "not be encoded");
	}
	return send_whole(s, 200, s->enc.ops->headers);
}

enum cs_err
cs_stream_end(struct cs_stream *s)
{
	struct cs_event ev;
	enum cs_err r;

	if (s->state == ST_LOST)
		return CS_ECLIENTGONE; /* nobody to tell */
	if (s->enc.ops->deferred && unsent(s))
		return end_deferred(s);
	if (s->state == ST_IDLE || s->state == ST_CLOSED)
		return CS_OK;
	if (s->state == ST_OPEN) {
		memset(&ev, 0, sizeof(ev));
		ev.type = CS_EV_ERROR;
		ev.error_type = cs_failure(CS_FAIL_INTERNAL)->type;
		ev.error_message = "the stream ended without a finish event";
		if ((r = cs_stream_emit(s, &ev)) != CS_OK)
			return r;
	}
	s->state = ST_CLOSED;
	if ((r = cs_enc_done(&s->enc, &s->out)) != CS_OK)
		return r;
	return flush_out(s);
}

enum cs_err
cs_stream_write_raw(struct cs_stream *s, const char *p, size_t n)
{
	enum cs_err r;

	if ((r = cs_stream_start(s)) != CS_OK ||
	    (r = cs_buf_append(&s->out, p, n)) != CS_OK)
		return r;
	return flush_out(s);
}

enum cs_err
cs_stream_reply(struct cs_stream *s, int status, const char *content_type,
    const char *body, size_t len)
{
	enum cs_err r;

	char lines[CS_MAX_HEADER_LINE];
	int n;

	/* no-cache unless the caller's own lines say otherwise. */
	n = snprintf(lines, sizeof(lines),
	    "Content-Type: %s\r\n"
	    "%s"
	    "X-Content-Type-Options: nosniff\r\n",
	    content_type,
	    strcasestr(s->extra, "Cache-Control:") != NULL ?
	        "" :
	        "Cache-Control: no-cache\r\n");
	if (n < 0 || (size_t)n >= sizeof(lines))
		return CS_ETOOBIG;
	cs_buf_reset(&s->out);
	if ((r = cs_buf_append(&s->out, body, len)) != CS_OK)
		return r;
	return send_whole(s, status, lines);
}

enum cs_err
cs_stream_no_content(struct cs_stream *s)
{
	enum cs_err r;

	s->state = ST_CLOSED;
	s->status = 204;
	s->outcome = CS_OUTCOME_NO_CONTENT;
	cs_buf_reset(&s->out);
	if ((r = put_head(s, &s->out, 204, "Cache-Control: no-store\r\n")) !=
	        CS_OK ||
	    (r = cs_buf_puts(&s->out, "\r\n")) != CS_OK)
		return r;
	return flush_out(s);
}

void
cs_stream_use(struct cs_stream *s, const struct cs_encoder *enc)
{
	/* Only before anything was written in the old protocol.  Out of
	 * memory for the new state shows as CS_ENOMEM at its first op. */
	if (s->state == ST_IDLE && s->provider_events == 0 && enc != s->enc.ops)
		(void)cs_enc_init(&s->enc, enc);
}

long
cs_stream_keepalive_in(const struct cs_stream *s)
{
	int64_t due = s->t_last_write + s->cfg->keepalive_ms - cs_now_ms();

	/* Bytes waiting for the client: no keep-alive goes after them (the
	 * pending deadline watches this client instead). */
	if (s->pending.len > 0)
		return s->cfg->keepalive_ms;

	return due > 0 ? (long)due : 0;
}

enum cs_err
cs_stream_keepalive(struct cs_stream *s)
{
	enum cs_err r;

	if (s->state == ST_LOST)
		return CS_ECLIENTGONE;
	if (cs_stream_keepalive_in(s) > 0)
		return CS_OK;
	if (unsent(s) && s->enc.ops->deferred) {
		s->t_last_write = cs_now_ms(); /* nothing may go out yet */
		return CS_OK;
	}
	if (s->state == ST_IDLE)
		return cs_stream_start(s); /* headers + first comment */
	if (s->head)
		return CS_EDONE;
	if (s->state == ST_CLOSED)
		return CS_OK; /* complete: nothing may follow */
	if ((r = cs_enc_keepalive(&s->enc, &s->out)) != CS_OK)
		return r;
	if (s->out.len == 0) {
		/* A protocol without keep-alives (plain text): just wait
		 * another interval. */
		s->t_last_write = cs_now_ms();
		return CS_OK;
	}
	return flush_out(s);
}

int64_t
cs_stream_shutdown_deadline(void)
{
	return atomic_load(&shutdown_deadline);
}

int
cs_stream_shutdown_due(void)
{
	int64_t deadline = atomic_load(&shutdown_deadline);

	return deadline != 0 && cs_now_ms() >= deadline;
}

enum cs_err
cs_stream_check(struct cs_stream *s)
{
	if (s->state == ST_LOST)
		return CS_ECLIENTGONE;
	if (cs_conn_check(s->conn) != CS_OK) {
		set_lost(s);
		return CS_ECLIENTGONE;
	}
	return cs_stream_shutdown_due() ? CS_ESHUTDOWN : CS_OK;
}

enum cs_err
cs_stream_defer_writes(struct cs_stream *s, int on)
{
	if (on && cs_conn_fd(s->conn) < 0)
		return CS_OK; /* CGI: nothing to poll for room */
	s->deferring = on;
	if (on || s->pending.len == 0 || s->state == ST_LOST)
		return CS_OK;
	return write_pending(s, s->pending.len);
}

enum cs_err
cs_stream_flush(struct cs_stream *s, int writable)
{
	long room;
	size_t n;
	enum cs_err r;

	if (s->state == ST_LOST)
		return CS_ECLIENTGONE;
	if (s->pending.len == 0)
		return CS_OK;
	if (writable || !s->credit_known) {
		room = cs_conn_room(s->conn);
		s->credit = room < 0 || room > CREDIT_BYTES ? CREDIT_BYTES :
		                                              (size_t)room;
		if (writable && s->credit < CREDIT_FLOOR)
			s->credit = CREDIT_FLOOR;
		s->credit_writes = CREDIT_WRITES;
		s->credit_known = 1;
	}
	if (s->credit > 0 && s->credit_writes > 0) {
		n = s->pending.len < s->credit ? s->pending.len : s->credit;
		if ((r = write_pending(s, n)) != CS_OK)
			return r;
		s->credit -= n;
		s->credit_writes--;
	}
	if (cs_stream_pending_due_in(s) == 0) {
		lose(s, CS_OUTCOME_SLOW_CLIENT);
		return CS_ECLIENTGONE;
	}
	return CS_OK;
}

size_t
cs_stream_pending(const struct cs_stream *s)
{
	return s->pending.len;
}

long
cs_stream_pending_due_in(const struct cs_stream *s)
{
	int64_t due;

	if (s->pending.len == 0)
		return -1;
	due = s->pending_since + s->cfg->write_timeout_ms - cs_now_ms();
	return due > 0 ? (long)due : 0;
}

int
cs_stream_backlogged(const struct cs_stream *s)
{
	return s->pending.len >= s->cfg->max_pending_bytes;
}

int
cs_stream_caught_up(const struct cs_stream *s)
{
	return s->pending.len <= s->cfg->max_pending_bytes / 2;
}
