/*
 * upstream.c — one stream on an event loop; see upstream.h.
 *
 * A run moves through phases: an attempt (a libcurl transfer on the
 * loop's multi handle, or a source's steps), a wait before a retry, and
 * the drain of what still waits for the client, then done.  Whatever the
 * phase, one timer stands for its earliest deadline (first byte, idle,
 * total, the retry, the next step, the keep-alive, the client's drain
 * window, shutdown) and is re-armed after each event; the client's
 * connection is one watch (hang-up always, room while bytes wait).
 * libcurl's write callback feeds the adapter and writes what one read
 * produced at once when the socket has room (one write per read), so a
 * provider event costs the loop its share of one epoll_wait, one recv
 * and one write (plus libcurl's own readability check after each read).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>

#include <curl/curl.h>
#include <json-c/json.h>

#include "config.h"
#include "log.h"
#include "loop.h"
#include "metrics.h"
#include "provider.h"
#include "request.h"
#include "route.h"
#include "stream.h"
#include "tls_ca.h"
#include "upstream.h"
#include "utf8.h"

#define RETRY_AFTER_CAP_MS 60000L
#define BACKOFF_BASE_MS    500L
#define BACKOFF_MAX_MS     8000L
#define POLL_SLICE_MS \
	1000L                    /* CGI: how often the client is
                                      looked at (no connection to watch) */
#define DETAIL_MAX      400      /* bytes of a provider's message shown */
#define HEADER_LINE_MAX "100 KB" /* libcurl's CURL_MAX_HTTP_HEADER */
/* libcurl's receive buffer per transfer (its default: 16 KiB).  A delta
 * is a few hundred bytes and the adapters parse incrementally, so 4 KiB
 * costs a big event a few more reads and every open stream 8-12 KiB less
 * memory (bench, 2,000 streams: 39 instead of 47 KiB each from cold). */
#define RECV_BUFFER 4096L

/* One deployment of the run's chain (route.h), its request built. */
struct hop {
	const struct cs_provider *p;
	const struct cs_upstream_cfg *cfg;
	const char *upstream, *model; /* for the access log, responses */
	struct cs_http_request hr;
};

/* One provider request, with its retries and fallbacks, on one loop. */
struct cs_run {
	struct cs_loop *loop;
	const struct cs_provider *p;       /* = hops[hop].p */
	const struct cs_upstream_cfg *cfg; /* = hops[hop].cfg */
	struct cs_stream *s;
	struct hop hops[CS_MAX_DEPLOY];
	size_t n_hops, hop;        /* the chain, the one now asked */
	struct cs_route_plan plan; /* the order; plan.rt NULL: none */
	int retries;               /* made over the whole chain */
	cs_run_done_fn done;
	void *done_arg;
	CURL *easy;
	struct cs_xfer_slot slot; /* on the loop's multi while added */
	struct cs_watch conn;     /* the FastCGI connection (fd >= 0) */
	struct cs_timer timer;    /* the next deadline of any kind */
	int fd;                   /* the FastCGI connection, -1 for CGI */
	int attempt;
	int phase;        /* PH_* */
	int64_t wait_end; /* PH_WAIT: the next attempt starts */
	int64_t t_total_end;
	enum cs_err result; /* PH_DRAIN: what done will be told */
	/* A source instead of a transfer (cs_upstream_prepare_source). */
	const struct cs_source_ops *src_ops;
	void *src;
	int64_t next_step;
	/* State of the current attempt. */
	struct cs_adapter *ad;
	long status; /* final HTTP status, 0 until known */
	int headers_done;
	int got_body;    /* a 2xx body byte arrived */
	int paused;      /* receiving paused: the client lags */
	int early_error; /* a 2xx stream's error before any output, held
	                    back: the next deployment is asked instead */
	int64_t t_begin;
	int64_t t_last_byte;
	long retry_after_ms;   /* from the provider, -1 if none */
	enum cs_err stop;      /* why a callback aborted the transfer */
	struct cs_buf errbody; /* body of a non-2xx answer */
	int errbody_cut;       /* errbody filled up: the rest was refused */
};

/* Where a run is. */
enum {
	PH_NEW,   /* built, not begun */
	PH_XFER,  /* an attempt's transfer runs */
	PH_WAIT,  /* waiting to retry */
	PH_DRAIN, /* over: what waits for the client goes out */
	PH_DONE,  /* done was called */
};

/* Strict non-negative integer prefix of a header value. */
static long
header_number(const char *v, size_t n, long cap)
{
	unsigned long long x;
	size_t i = 0, d;

	while (i < n && (v[i] == ' ' || v[i] == '\t'))
		i++;
	for (d = i; d < n && v[d] >= '0' && v[d] <= '9'; d++)
		;
	if (cs_parse_dec(v + i, d - i, (unsigned long long)cap, &x) != 0)
		return -1;
	for (i = d; i < n &&
	     (v[i] == ' ' || v[i] == '\t' || v[i] == '\r' || v[i] == '\n');
	     i++)
		;
	return i == n ? (long)x : -1;
}

static void want_room(struct cs_run *x);

static size_t
on_header(char *p, size_t size, size_t n, void *ctx)
{
	struct cs_run *x = ctx;
	size_t len = size * n;
	long v;

	if (len <= 2 && (p[0] == '\r' || p[0] == '\n')) {
		/* End of a header block; a 1xx block is followed by more. */
		v = 0;
		curl_easy_getinfo(x->easy, CURLINFO_RESPONSE_CODE, &v);
		if (v < 200)
			return len;
		x->status = v;
		x->headers_done = 1;
		cs_metrics_time(CS_M_UPSTREAM_TTFB, x->hops[x->hop].upstream,
		    (cs_now_ms() - x->t_begin) * 1000);
		/* The provider accepted the request: headers go out now,
		 * with how long the provider took to send its own. */
		if (v <= 299) {
			cs_stream_time_upstream(
			    x->s, (long)(cs_now_ms() - x->t_begin));
			if ((x->stop = cs_stream_start(x->s)) != CS_OK)
				return 0;
		}
		return len;
	}
	if (strncasecmp(p, "HTTP/", 5) == 0) {
		x->retry_after_ms = -1;
		return len;
	}
	if (len > 15 && strncasecmp(p, "retry-after-ms:", 15) == 0) {
		if ((v = header_number(
		         p + 15, len - 15, RETRY_AFTER_CAP_MS * 10)) >= 0)
			x->retry_after_ms = v;
	} else if (len > 12 && strncasecmp(p, "retry-after:", 12) == 0 &&
	    x->retry_after_ms < 0) {
		/* Only delta-seconds; an HTTP-date falls back to backoff. */
		if ((v = header_number(p + 12, len - 12, 86400)) >= 0)
			x->retry_after_ms = v * 1000;
	}
	return len;
}

static size_t
on_body(char *p, size_t size, size_t n, void *ctx)
{
	struct cs_run *x = ctx;
	size_t len = size * n;
	enum cs_err r;

	if (!x->headers_done) {
		x->headers_done = 1;
		curl_easy_getinfo(x->easy, CURLINFO_RESPONSE_CODE, &x->status);
	}
	if (x->status < 200 || x->status > 299) {
		/* Keep the start of an error body; once that is full, end
		 * the transfer rather than read the rest. */
		if (len > x->errbody.max - x->errbody.len) {
			cs_buf_append(
			    &x->errbody, p, x->errbody.max - x->errbody.len);
			x->errbody_cut = 1;
			return 0;
		}
		cs_buf_append(&x->errbody, p, len);
		return len;
	}
	x->got_body = 1;
	x->t_last_byte = cs_now_ms();
	/* What one read brought goes out in one write, if the connection
	 * has room; if not, the client's watch asks for it. */
	if ((r = cs_stream_start(x->s)) != CS_OK ||
	    (r = x->p->adapter->feed(x->ad, p, len)) != CS_OK ||
	    (r = cs_stream_flush(x->s, 0)) != CS_OK) {
		x->stop = r;
		return 0; /* short return: libcurl aborts the transfer */
	}
	/* Back-pressure: the provider waits while the client lags. */
	if (cs_stream_backlogged(x->s) && !x->paused &&
	    curl_easy_pause(x->easy, CURLPAUSE_RECV) == CURLE_OK)
		x->paused = 1;
	want_room(x);
	return len;
}

static int
retryable_status(long st)
{
	return st == 408 || st == 409 || st == 429 || st >= 500;
}

static int
retryable_curl(CURLcode c)
{
	switch (c) {
	case CURLE_COULDNT_CONNECT:
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_SEND_ERROR:
	case CURLE_RECV_ERROR:
	case CURLE_GOT_NOTHING:
	case CURLE_PARTIAL_FILE:
	case CURLE_SSL_CONNECT_ERROR: return 1;
	default: return 0;
	}
}

/* The official SDKs' policy: 0.5 s doubling to 8 s, minus up to 25 %
 * jitter, unless the provider said how long to wait (capped at 60 s). */
static long
backoff_ms(int attempt, long retry_after_ms)
{
	unsigned short rnd = 0;
	long ms;

	if (retry_after_ms >= 0 && retry_after_ms <= RETRY_AFTER_CAP_MS)
		return retry_after_ms;
	ms = BACKOFF_BASE_MS << (attempt < 5 ? attempt : 5);
	if (ms > BACKOFF_MAX_MS)
		ms = BACKOFF_MAX_MS;
	if (getrandom(&rnd, sizeof(rnd), GRND_NONBLOCK) != sizeof(rnd))
		rnd = 0;
	return ms - (ms / 4) * rnd / 65535;
}

/* The provider's error message from a JSON error body, if any, as ": "
 * and at most DETAIL_MAX bytes of valid UTF-8 with the key pieces it
 * quotes redacted (before it is shortened: a cut key is still a key). */
static void
provider_message(
    struct cs_stream *s, const struct cs_buf *body, char *dst, size_t dstlen)
{
	struct json_object *root, *err, *m;
	const char *t = NULL;
	struct cs_buf red, ok;
	size_t n;

	dst[0] = '\0';
	if (body->len == 0 || (root = json_tokener_parse(body->data)) == NULL)
		return;
	if (json_object_object_get_ex(root, "error", &err)) {
		if (json_object_is_type(err, json_type_string))
			t = json_object_get_string(err);
		else if (json_object_object_get_ex(err, "message", &m) &&
		    json_object_is_type(m, json_type_string))
			t = json_object_get_string(m);
	}
	cs_buf_init(&red, CS_MAX_UPSTREAM_ERR * 2);
	cs_buf_init(&ok, CS_MAX_UPSTREAM_ERR * 6);
	if (t != NULL &&
	    cs_stream_redact(s, t, strlen(t), &red, NULL) == CS_OK &&
	    cs_utf8_sanitize(red.data, red.len, &ok) == CS_OK) {
		/* Cut on a character boundary. */
		n = ok.len <= dstlen - 3 ? ok.len :
		                           cs_utf8_cut(ok.data, dstlen - 3);
		snprintf(dst, dstlen, ": %.*s", (int)n, ok.data);
	}
	cs_buf_free(&red);
	cs_buf_free(&ok);
	json_object_put(root);
}

/* Report a non-2xx answer from the provider. */
static enum cs_err
fail_status(struct cs_stream *s, const struct cs_run *x)
{
	char msg[512], detail[DETAIL_MAX + 3];
	long ra;

	if (x->status == 401 || x->status == 403) {
		/* Never forward the body: it may echo the key. */
		snprintf(msg, sizeof(msg),
		    "the server's provider credentials "
		    "were rejected (HTTP %ld); the site owner must fix the "
		    "API key",
		    x->status);
		cs_stream_fail(s, CS_FAIL_UPSTREAM_AUTH, msg);
		return CS_EUPSTREAM;
	}
	if (x->status == 429) {
		/* Retry-After only when the provider gave one (rounded up). */
		ra = x->retry_after_ms > 0 ? (x->retry_after_ms + 999) / 1000 :
		                             0;
		cs_stream_fail_retry(s, CS_FAIL_RATE_LIMITED,
		    "the provider is "
		    "rate-limiting this server; try again later",
		    ra);
		return CS_EUPSTREAM;
	}
	provider_message(s, &x->errbody, detail, sizeof(detail));
	if (x->status >= 500) {
		/* A Retry-After it gave goes on (every deployment down). */
		snprintf(msg, sizeof(msg), "the provider failed (HTTP %ld)%s",
		    x->status, detail);
		cs_stream_fail_retry(s, CS_FAIL_UPSTREAM, msg,
		    x->retry_after_ms > 0 ? (x->retry_after_ms + 999) / 1000 :
		                            0);
		return CS_EUPSTREAM;
	} else
		snprintf(msg, sizeof(msg),
		    "the provider rejected the request "
		    "(HTTP %ld)%s",
		    x->status, detail);
	cs_stream_fail(s, CS_FAIL_UPSTREAM, msg);
	return CS_EUPSTREAM;
}

static enum cs_err
fail_timeout(struct cs_stream *s, const char *what)
{
	char msg[160];

	snprintf(
	    msg, sizeof(msg), "the provider did not answer in time (%s)", what);
	cs_stream_fail(s, CS_FAIL_UPSTREAM_TIMEOUT, msg);
	return CS_ETIMEOUT;
}

/* The upstream's configured extra headers, after the adapter's. */
static enum cs_err
add_headers(const struct cs_upstream_cfg *cfg, struct cs_http_request *hr)
{
	enum cs_err r;
	size_t i;

	for (i = 0; i < cfg->n_headers; i++)
		if ((r = cs_http_add_header(hr, cfg->headers[i])) != CS_OK)
			return r;
	return CS_OK;
}

static enum cs_err
setup_easy(CURL *e, const struct cs_upstream_cfg *cfg,
    const struct cs_http_request *hr, struct cs_run *x)
{
	curl_easy_reset(e);
	if (curl_easy_setopt(e, CURLOPT_URL, hr->url.data) != CURLE_OK ||
	    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L) != CURLE_OK ||
	    curl_easy_setopt(e, CURLOPT_POST, 1L) != CURLE_OK ||
	    curl_easy_setopt(e, CURLOPT_POSTFIELDS, hr->body.data) !=
	        CURLE_OK ||
	    curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE,
	        (curl_off_t)hr->body.len) != CURLE_OK ||
	    curl_easy_setopt(e, CURLOPT_HTTPHEADER, hr->headers) != CURLE_OK ||
	    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body) != CURLE_OK ||
	    curl_easy_setopt(e, CURLOPT_WRITEDATA, x) != CURLE_OK ||
	    curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header) !=
	        CURLE_OK ||
	    curl_easy_setopt(e, CURLOPT_HEADERDATA, x) != CURLE_OK ||
	    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS,
	        cfg->connect_timeout_ms) != CURLE_OK ||
	    curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L) != CURLE_OK ||
	    curl_easy_setopt(e, CURLOPT_TCP_NODELAY, 1L) != CURLE_OK ||
	    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https") !=
	        CURLE_OK ||
	    curl_easy_setopt(e, CURLOPT_BUFFERSIZE, RECV_BUFFER) != CURLE_OK ||
	    curl_easy_setopt(e, CURLOPT_USERAGENT, "chatstream/0.1") !=
	        CURLE_OK)
		return CS_ESYS;
	if (cs_ca_apply(e, cfg) != 0)
		return CS_ESYS;
	/* Don't follow redirects: they could carry the key elsewhere. */
	curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
	return CS_OK;
}

/*
 * May a retry wait ms first?  Not when the wait would end past the total
 * timeout, or alone outlast the first-byte timeout: the client would wait
 * for nothing, so it gets the failure (e.g. a 429 with Retry-After) now.
 */
static int
wait_fits(const struct cs_upstream_cfg *cfg, long ms, int64_t t_total_end)
{
	return ms < cfg->first_byte_timeout_ms &&
	    cs_now_ms() + ms < t_total_end;
}

/*
 * libcurl refuses a header line over CURL_MAX_HTTP_HEADER and reports it
 * as out of memory (CURLE_TOO_LARGE since 8.6); before the header block
 * ended that is what it means.
 */
static int
header_too_long(const struct cs_run *x, CURLcode result)
{
#if LIBCURL_VERSION_NUM >= 0x080600
	if (result == CURLE_TOO_LARGE)
		return 1;
#endif
	return result == CURLE_OUT_OF_MEMORY && !x->headers_done;
}

/* Why an attempt ended. */
enum attempt_end {
	END_DONE,       /* transfer finished (any status) */
	END_CURL,       /* libcurl error in result */
	END_STOPPED,    /* a callback or the loop stopped it: x->stop */
	END_FIRST_BYTE, /* first_byte_timeout */
	END_IDLE,       /* idle_timeout */
	END_TOTAL,      /* total_timeout */
};

static void arm(struct cs_run *x);
static void
attempt_over(struct cs_run *x, enum attempt_end end, CURLcode result);

/* Watch the client's connection for writability while bytes wait for
 * it, and always for hang-up. */
static void
want_room(struct cs_run *x)
{
	if (x->fd >= 0 && x->conn.fd >= 0)
		(void)cs_loop_rewatch(x->loop, &x->conn,
		    CS_IO_IN | (cs_stream_pending(x->s) > 0 ? CS_IO_OUT : 0));
}

/* Everything is over: tell the owner, once. */
static void
finish(struct cs_run *x)
{
	if (x->phase == PH_DONE)
		return;
	x->phase = PH_DONE;
	cs_loop_timer_cancel(x->loop, &x->timer);
	cs_loop_unwatch(x->loop, &x->conn);
	x->done(x->done_arg, x->result);
}

/* The answer is complete (or failed, result): write the end marker and
 * let what waits go out before finishing. */
static void
drain(struct cs_run *x, enum cs_err result)
{
	enum cs_err r;

	x->phase = PH_DRAIN;
	x->result = result;
	if (x->ad != NULL) {
		x->p->adapter->free(x->ad);
		x->ad = NULL;
	}
	cs_stream_end(x->s);
	if ((r = cs_stream_flush(x->s, 0)) != CS_OK && x->result == CS_OK)
		x->result = r;
	if (cs_stream_pending(x->s) == 0 || r != CS_OK) {
		finish(x);
		return;
	}
	want_room(x);
	arm(x);
}

/* Take the attempt's transfer off the loop: an unfinished one's
 * connection is closed, which cancels generation at the provider. */
static void
cancel_transfer(struct cs_run *x)
{
	cs_loop_xfer_remove(x->loop, &x->slot);
}

/* Stop the run for r (client gone, slow, shutdown, keep-alive failure)
 * from outside libcurl's callbacks. */
static void
stop(struct cs_run *x, enum cs_err r)
{
	if (x->phase == PH_XFER) {
		cancel_transfer(x);
		x->stop = r;
		attempt_over(x, END_STOPPED, CURLE_OK);
	} else if (x->phase == PH_WAIT) {
		if (r == CS_ESHUTDOWN)
			cs_stream_fail(x->s, CS_FAIL_SHUTDOWN,
			    "the server is shutting down");
		drain(x, r);
	} else if (x->phase == PH_DRAIN) {
		if (x->result == CS_OK)
			x->result = r;
		finish(x);
	}
}

static void
on_xfer_done(void *arg, CURLcode result)
{
	struct cs_run *x = arg;

	if (x->stop != CS_OK)
		attempt_over(x, END_STOPPED, result);
	else
		attempt_over(
		    x, result == CURLE_OK ? END_DONE : END_CURL, result);
}

/* A source's next step: its events, then when the next one is due. */
static void
step(struct cs_run *x)
{
	enum cs_err r, f;
	long next = 0;

	r = x->src_ops->step(x->src, x->s, &next);
	f = cs_stream_flush(x->s, 0);
	if (r == CS_EDONE) {
		drain(x, f);
		return;
	}
	if (r == CS_OK)
		r = f;
	if (r != CS_OK) {
		x->stop = r;
		attempt_over(x, END_STOPPED, CURLE_OK);
		return;
	}
	x->next_step = cs_now_ms() + (next > 0 ? next : 0);
	if (cs_stream_backlogged(x->s))
		x->paused = 1; /* until the client catches up */
	want_room(x);
	arm(x);
}

/*
 * The adapter's events go to the stream, but for an error a provider
 * sends inside a 200 stream (Anthropic's overloaded_error, the Responses
 * API's error event) before anything it produced went out, while another
 * deployment is left: that one is held back and the transfer stopped, so
 * attempt_over moves on (a fallback, not an error event).
 */
static enum cs_err
run_emit(void *arg, const struct cs_event *ev)
{
	struct cs_run *x = arg;

	if (ev->type == CS_EV_ERROR && x->hop + 1 < x->n_hops &&
	    !cs_stream_provider_output_sent(x->s) &&
	    !cs_stream_finished(x->s)) {
		x->early_error = 1;
		return CS_EUPSTREAM;
	}
	return cs_stream_emit(x->s, ev);
}

/* Start attempt x->attempt. */
static void
start_attempt(struct cs_run *x)
{
	if (x->src_ops != NULL) {
		x->phase = PH_XFER;
		x->next_step = cs_now_ms();
		arm(x);
		return;
	}
	cs_stream_set_retries(x->s, x->retries);
	cs_stream_set_served(x->s, x->hops[x->hop].upstream,
	    x->hops[x->hop].model, (int)x->hop + 1);
	x->status = 0;
	x->headers_done = x->got_body = x->errbody_cut = x->paused = 0;
	x->early_error = 0;
	x->retry_after_ms = -1;
	x->stop = CS_OK;
	x->t_begin = x->t_last_byte = cs_now_ms();
	cs_buf_reset(&x->errbody);
	if ((x->ad = x->p->adapter->new (x->p, run_emit, x)) == NULL ||
	    setup_easy(x->easy, x->cfg, &x->hops[x->hop].hr, x) != CS_OK ||
	    cs_loop_xfer_add(x->loop, &x->slot, x->easy, on_xfer_done, x) !=
	        0) {
		cs_stream_fail(x->s, CS_FAIL_INTERNAL, "out of memory");
		drain(x, CS_ENOMEM);
		return;
	}
	x->phase = PH_XFER;
	arm(x);
}

/*
 * Did the provider refuse the request as too long for the model's
 * context window?  Another deployment (a larger window) may take it.
 * OpenAI's code context_length_exceeded, Anthropic's "prompt is too
 * long", the words most servers use.
 */
static int
context_too_long(const struct cs_run *x)
{
	static const char *const says[] = { "context_length_exceeded",
		"prompt is too long", "maximum context length",
		"context window" };
	size_t i;

	if (x->status != 400 && x->status != 413)
		return 0;
	for (i = 0; i < CS_ARRAY_LEN(says); i++)
		if (x->errbody.len > 0 && strstr(x->errbody.data, says[i]))
			return 1;
	return 0;
}

/* A failure that says the deployment, not the request, is at fault:
 * counted toward its cooldown (route.h). */
static int
deployment_fault(const struct cs_run *x, enum attempt_end end)
{
	if (end == END_CURL || end == END_FIRST_BYTE || end == END_IDLE)
		return 1;
	return end == END_DONE &&
	    (retryable_status(x->status) || x->status == 401 ||
	        x->status == 403 || x->status == 404);
}

/* May the run move on to its next deployment?  Only while nothing the
 * provider produced went out (as retries), and for a failure another
 * deployment might not have: the deployment's, or a context too long. */
static int
fallback_ok(const struct cs_run *x, enum attempt_end end)
{
	if (x->hop + 1 >= x->n_hops || cs_stream_provider_output_sent(x->s) ||
	    cs_stream_finished(x->s))
		return 0;
	return deployment_fault(x, end) ||
	    (end == END_DONE && context_too_long(x));
}

/* What an attempt that ended so failed of, for the metrics. */
static enum cs_mupstream
fail_kind(const struct cs_run *x, enum attempt_end end, CURLcode result)
{
	if (x->early_error || end == END_STOPPED ||
	    (end == END_DONE && x->status >= 200 && x->status <= 299))
		return CS_MU_STREAM;
	if (end == END_FIRST_BYTE || end == END_IDLE || end == END_TOTAL ||
	    (end == END_CURL && result == CURLE_OPERATION_TIMEDOUT))
		return CS_MU_TIMEOUT;
	if (end == END_CURL)
		return x->got_body ? CS_MU_LOST : CS_MU_CONNECT;
	if (x->status == 429)
		return CS_MU_RATE_LIMITED;
	if (x->status == 401 || x->status == 403)
		return CS_MU_AUTH;
	return retryable_status(x->status) ? CS_MU_SERVER : CS_MU_CLIENT;
}

/* Count the attempt's failure against the deployment asked. */
static void
count_fail(const struct cs_run *x, enum attempt_end end, CURLcode result,
    int retry, int fallback)
{
	cs_metrics_upstream_fail(x->hops[x->hop].upstream,
	    fail_kind(x, end, result), retry, fallback);
}

/* The deployment now asked is done with: a fault counts toward its
 * cooldown. */
static void
leave_hop(struct cs_run *x, enum attempt_end end)
{
	if (x->plan.rt != NULL && deployment_fault(x, end))
		cs_route_failed(&x->plan, x->plan.order[x->hop], cs_wall_ms());
}

/* Move on to the next deployment, from a libcurl callback: its first
 * attempt starts from the timer, at once. */
static void
next_hop(struct cs_run *x, enum attempt_end end)
{
	leave_hop(x, end);
	x->p->adapter->free(x->ad);
	x->ad = NULL;
	x->hop++;
	x->p = x->hops[x->hop].p;
	x->cfg = x->hops[x->hop].cfg;
	x->attempt = 0;
	if (x->plan.rt != NULL)
		cs_route_moved(&x->plan, x->plan.order[x->hop], cs_wall_ms());
	x->phase = PH_WAIT;
	x->wait_end = cs_now_ms();
	arm(x);
}

/*
 * What an attempt's end means: the answer, the next deployment or a retry
 * (only while nothing the provider produced went out, so nothing is
 * duplicated: with another deployment left a failure moves on to it at
 * once, and the last one gets the retries, if the wait fits in the
 * timeouts), or a failure.
 */
static void
attempt_over(struct cs_run *x, enum attempt_end end, CURLcode result)
{
	enum cs_err r;
	long wait;
	char msg[256];

	if (end == END_CURL && x->errbody_cut)
		end = END_DONE; /* on_body refused the rest */
	if (x->early_error) {   /* run_emit held its error back */
		count_fail(x, end, result, 0, 1);
		next_hop(x, END_CURL); /* counted as the deployment's */
		return;
	}
	if (end == END_STOPPED) {
		r = x->stop;
		if (r == CS_EUPSTREAM)
			count_fail(x, end, result, 0, 0);
		if (r == CS_ESHUTDOWN)
			cs_stream_fail(x->s, CS_FAIL_SHUTDOWN,
			    "the server is shutting down");
		else if (r != CS_EUPSTREAM && r != CS_ECLIENTGONE)
			cs_stream_fail(x->s, CS_FAIL_INTERNAL, cs_strerror(r));
		drain(x, r); /* after CS_EUPSTREAM the error event is out */
		return;
	}
	if (end == END_DONE && x->status >= 200 && x->status <= 299) {
		r = x->p->adapter->end(x->ad);
		if (x->early_error || r == CS_EUPSTREAM)
			count_fail(x, end, result, 0, x->early_error);
		if (x->early_error)
			next_hop(x, END_CURL); /* its end was the error */
		else
			drain(x, r);
		return;
	}
	if (end != END_TOTAL && fallback_ok(x, end)) {
		count_fail(x, end, result, 0, 1);
		next_hop(x, end);
		return;
	}
	if (end == END_FIRST_BYTE || end == END_IDLE || end == END_TOTAL) {
		count_fail(x, end, result, 0, 0);
		leave_hop(x, end);
		drain(x,
		    fail_timeout(x->s,
		        end == END_FIRST_BYTE ? "first_byte_timeout" :
		            end == END_IDLE   ? "idle_timeout" :
		                                "total_timeout"));
		return;
	}
	if (x->attempt < x->cfg->max_retries &&
	    !cs_stream_provider_output_sent(x->s) &&
	    ((end == END_DONE && retryable_status(x->status)) ||
	        (end == END_CURL && retryable_curl(result))) &&
	    wait_fits(x->cfg, wait = backoff_ms(x->attempt, x->retry_after_ms),
	        x->t_total_end)) {
		count_fail(x, end, result, 1, 0);
		x->p->adapter->free(x->ad);
		x->ad = NULL;
		x->attempt++;
		x->retries++;
		x->phase = PH_WAIT;
		x->wait_end = cs_now_ms() + wait;
		arm(x);
		return;
	}
	if (end == END_DONE) {
		count_fail(x, end, result, 0, 0);
		leave_hop(x, end);
		drain(x, fail_status(x->s, x));
		return;
	}
	if (cs_stream_finished(x->s)) {
		/* The stream was complete; only the connection's teardown
		 * failed. */
		drain(x, CS_OK);
		return;
	}
	count_fail(x, end, result, 0, 0);
	leave_hop(x, end);
	if (result == CURLE_OPERATION_TIMEDOUT) {
		drain(x, fail_timeout(x->s, "connect_timeout"));
		return;
	}
	if (header_too_long(x, result))
		snprintf(msg, sizeof(msg),
		    "the provider sent a header line "
		    "longer than %s",
		    HEADER_LINE_MAX);
	else if (x->got_body)
		snprintf(msg, sizeof(msg),
		    "the connection to the provider was "
		    "lost mid-stream (%s)",
		    curl_easy_strerror(result));
	else
		snprintf(msg, sizeof(msg), "could not reach the provider (%s)",
		    curl_easy_strerror(result));
	cs_stream_fail(x->s, CS_FAIL_UPSTREAM, msg);
	drain(x, CS_EUPSTREAM);
}

/* Set the timer for the earliest deadline of the phase. */
static void
arm(struct cs_run *x)
{
	int64_t now = cs_now_ms(), due, sd;
	long in;

	if (x->phase == PH_XFER && x->src_ops != NULL)
		due = x->paused ? INT64_MAX : x->next_step;
	else if (x->phase == PH_XFER) {
		due = x->got_body ? x->t_last_byte + x->cfg->idle_timeout_ms :
		                    x->t_begin + x->cfg->first_byte_timeout_ms;
		if (x->paused || due > x->t_total_end)
			due = x->t_total_end; /* not the provider's silence */
	} else if (x->phase == PH_WAIT)
		due = x->wait_end;
	else
		due = INT64_MAX;
	if ((in = cs_stream_pending_due_in(x->s)) >= 0 && now + in < due)
		due = now + in;
	if (x->phase != PH_DRAIN && now + cs_stream_keepalive_in(x->s) < due)
		due = now + cs_stream_keepalive_in(x->s);
	if ((sd = cs_stream_shutdown_deadline()) != 0 && sd < due)
		due = sd;
	if (x->fd < 0 && now + POLL_SLICE_MS < due)
		due = now + POLL_SLICE_MS; /* CGI: look at the client */
	cs_loop_timer_at(x->loop, &x->timer, due);
}

/* The timer: whatever is due now. */
static void
on_timer(void *arg)
{
	struct cs_run *x = arg;
	int64_t now = cs_now_ms();
	enum cs_err r;

	if ((r = cs_stream_flush(x->s, 0)) != CS_OK) {
		stop(x, r); /* the client did not drain in time */
		return;
	}
	if (x->phase == PH_DRAIN) {
		if (cs_stream_pending(x->s) == 0)
			finish(x); /* that flush wrote the last of it */
		else
			arm(x);
		return;
	}
	if (cs_stream_shutdown_due()) {
		stop(x, CS_ESHUTDOWN);
		return;
	}
	if ((r = cs_stream_keepalive(x->s)) != CS_OK ||
	    (x->fd < 0 && (r = cs_stream_check(x->s)) != CS_OK) ||
	    (r = cs_stream_flush(x->s, 0)) != CS_OK) {
		stop(x, r);
		return;
	}
	if (x->phase == PH_WAIT && now >= x->wait_end) {
		start_attempt(x);
		return;
	}
	if (x->phase == PH_XFER && x->src_ops != NULL) {
		if (!x->paused && now >= x->next_step) {
			step(x);
			return;
		}
	} else if (x->phase == PH_XFER) {
		if (now >= x->t_total_end) {
			cancel_transfer(x);
			attempt_over(x, END_TOTAL, CURLE_OK);
			return;
		}
		if (!x->got_body &&
		    now - x->t_begin >= x->cfg->first_byte_timeout_ms) {
			cancel_transfer(x);
			attempt_over(x, END_FIRST_BYTE, CURLE_OK);
			return;
		}
		if (x->got_body && !x->paused &&
		    now - x->t_last_byte >= x->cfg->idle_timeout_ms) {
			cancel_transfer(x);
			attempt_over(x, END_IDLE, CURLE_OK);
			return;
		}
	}
	want_room(x);
	arm(x);
}

/* The client's connection: room to write, or the server hung up. */
static void
on_conn(void *arg, unsigned events)
{
	struct cs_run *x = arg;
	enum cs_err r;

	if ((events & (CS_IO_IN | CS_IO_HUP)) != 0 &&
	    (r = cs_stream_check(x->s)) != CS_OK) {
		stop(x, r);
		return;
	}
	if ((events & CS_IO_OUT) == 0)
		return;
	if ((r = cs_stream_flush(x->s, 1)) != CS_OK) {
		stop(x, r);
		return;
	}
	if (x->phase == PH_DRAIN && cs_stream_pending(x->s) == 0) {
		finish(x);
		return;
	}
	/* Half of what waited has gone: the provider may go on.  Resuming
	 * a transfer may deliver what libcurl held at once (into the pending
	 * bytes); a source's next step is due again. */
	if (x->paused && cs_stream_caught_up(x->s)) {
		x->paused = 0;
		if (x->src_ops == NULL) {
			x->t_last_byte = cs_now_ms(); /* idle clock restarts */
			if (curl_easy_pause(x->easy, CURLPAUSE_CONT) !=
			    CURLE_OK) {
				stop(x, CS_EUPSTREAM);
				return;
			}
			cs_loop_xfer_kick(x->loop);
		}
		arm(x);
	}
	want_room(x);
}

/* A run of nothing yet, for stream s; NULL when out of memory (written
 * to s). */
static struct cs_run *
run_new(struct cs_stream *s, size_t errbody_max)
{
	struct cs_run *x;
	size_t i;

	if ((x = calloc(1, sizeof(*x))) == NULL) {
		cs_stream_fail(s, CS_FAIL_INTERNAL, "out of memory");
		return NULL;
	}
	x->s = s;
	x->fd = -1;
	x->conn.fd = -1;
	cs_buf_init(&x->errbody, errbody_max);
	for (i = 0; i < CS_MAX_DEPLOY; i++)
		cs_http_request_init(&x->hops[i].hr);
	cs_timer_init(&x->timer, on_timer, x);
	return x;
}

/* Build hop i of x: provider p, upstream up, model name wire (NULL: the
 * request's). */
static enum cs_err
build_hop(struct cs_run *x, size_t i, const struct cs_provider *p,
    const struct cs_upstream_cfg *up, const char *wire,
    const struct cs_chat_request *req)
{
	struct cs_chat_request r = *req; /* the same, but for the name */
	struct hop *h = &x->hops[i];
	enum cs_err e;

	h->p = p;
	h->cfg = up;
	h->upstream = up->name;
	r.wire_model = wire;
	h->model = cs_request_wire_model(&r);
	if ((e = p->build(up, &r, &h->hr)) != CS_OK)
		return e;
	return add_headers(up, &h->hr);
}

/* x with its hops built, or NULL (the failure written to s). */
static struct cs_run *
prepared(struct cs_run *x, enum cs_err r, struct cs_stream *s)
{
	if (r == CS_OK && (x->easy = curl_easy_init()) != NULL) {
		x->p = x->hops[0].p;
		x->cfg = x->hops[0].cfg;
		return x;
	}
	cs_stream_fail(
	    s, CS_FAIL_INTERNAL, "could not build the provider request");
	cs_upstream_free(x);
	return NULL;
}

struct cs_run *
cs_upstream_prepare(const struct cs_provider *p,
    const struct cs_chat_request *req, struct cs_stream *s)
{
	struct cs_run *x;

	if ((x = run_new(s, CS_MAX_UPSTREAM_ERR)) == NULL)
		return NULL;
	x->n_hops = 1;
	return prepared(x, build_hop(x, 0, p, req->model->up, NULL, req), s);
}

struct cs_run *
cs_upstream_prepare_route(const struct cs_chat_request *req,
    const struct cs_route_plan *plan, struct cs_stream *s)
{
	const struct cs_deploy *d;
	enum cs_err r = CS_OK;
	struct cs_run *x;
	size_t i;

	if ((x = run_new(s, CS_MAX_UPSTREAM_ERR)) == NULL)
		return NULL;
	x->plan = *plan;
	for (i = 0; i < plan->n && r == CS_OK; i++) {
		d = &plan->rt->d[plan->order[i]];
		r = build_hop(x, i, d->up->provider_eff, d->up, d->model, req);
		x->n_hops = i + 1;
	}
	return prepared(x, r, s);
}

struct cs_run *
cs_upstream_prepare_source(
    const struct cs_source_ops *ops, void *src, struct cs_stream *s)
{
	struct cs_run *x;

	if ((x = run_new(s, 0)) == NULL) {
		ops->free(src);
		return NULL;
	}
	x->src_ops = ops;
	x->src = src;
	return x;
}

/* Begin: the first attempt (posted, so done never runs within begin). */
static void
begin_now(void *arg)
{
	struct cs_run *x = arg;

	start_attempt(x);
}

void
cs_upstream_begin(
    struct cs_run *x, struct cs_loop *l, cs_run_done_fn done, void *arg)
{
	x->loop = l;
	x->done = done;
	x->done_arg = arg;
	x->t_total_end = x->cfg != NULL ?
	    cs_now_ms() + x->cfg->total_timeout_ms :
	    INT64_MAX;
	x->fd = cs_stream_fd(x->s);
	cs_stream_defer_writes(x->s, 1);
	if (x->fd >= 0 &&
	    cs_loop_watch(l, &x->conn, x->fd, CS_IO_IN, on_conn, x) != 0)
		x->fd = -1; /* then looked at by the timer, as in CGI */
	if (cs_loop_post(l, begin_now, x) != 0) {
		cs_stream_fail(x->s, CS_FAIL_INTERNAL, "out of memory");
		x->phase = PH_DRAIN;
		x->result = CS_ENOMEM;
		cs_loop_timer_at(l, &x->timer, 0);
	}
}

void
cs_upstream_poke(struct cs_run *x)
{
	if (x->phase != PH_NEW && x->phase != PH_DONE)
		arm(x);
}

void
cs_upstream_free(struct cs_run *x)
{
	size_t i;

	if (x == NULL)
		return;
	if (x->plan.busy)
		cs_route_moved(&x->plan, -1, cs_wall_ms()); /* its slot */
	if (x->loop != NULL) {
		cs_loop_xfer_remove(x->loop, &x->slot);
		cs_loop_timer_cancel(x->loop, &x->timer);
		cs_loop_unwatch(x->loop, &x->conn);
	}
	if (x->ad != NULL)
		x->p->adapter->free(x->ad);
	if (x->src_ops != NULL)
		x->src_ops->free(x->src);
	if (x->easy != NULL)
		curl_easy_cleanup(x->easy);
	cs_buf_free(&x->errbody);
	for (i = 0; i < CS_MAX_DEPLOY; i++)
		cs_http_request_free(&x->hops[i].hr);
	free(x);
}

struct sync_run {
	struct cs_loop *loop;
	enum cs_err r;
};

static void
sync_done(void *arg, enum cs_err r)
{
	struct sync_run *sr = arg;

	sr->r = r;
	cs_loop_stop(sr->loop);
}

enum cs_err
cs_upstream_run(struct cs_run *x)
{
	struct sync_run sr = { NULL, CS_ENOMEM };

	if ((sr.loop = cs_loop_new()) == NULL) {
		cs_stream_fail(x->s, CS_FAIL_INTERNAL, "out of memory");
		goto out;
	}
	cs_upstream_begin(x, sr.loop, sync_done, &sr);
	cs_loop_run(sr.loop);
	/* Whatever is left pending goes out now (a CGI never defers: it
	 * has no connection to wait on). */
	cs_stream_defer_writes(x->s, 0);
out:
	cs_upstream_free(x);
	cs_loop_free(sr.loop);
	return sr.r;
}
