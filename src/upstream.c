/*
 * upstream.c — libcurl transfer loop for HTTP providers; see upstream.h.
 *
 * Each worker drives its transfer with curl_multi_socket_action() and its
 * own poll() over libcurl's sockets and the client's FastCGI socket, so
 * per provider event the worker makes one poll, one recv and one write
 * (plus libcurl's own readability check after each read).  With
 * curl_multi_perform()/curl_multi_poll() libcurl also polled the socket
 * before reading and added a wake-up pipe to every wait.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>

#include <curl/curl.h>
#include <json-c/json.h>

#include "config.h"
#include "log.h"
#include "provider.h"
#include "request.h"
#include "stream.h"
#include "upstream.h"

#define RETRY_AFTER_CAP_MS 60000L
#define BACKOFF_BASE_MS    500L
#define BACKOFF_MAX_MS     8000L
#define POLL_SLICE_MS      1000L   /* shutdown is noticed this fast */
#define DETAIL_MAX         400     /* bytes of a provider's message shown */
#define HEADER_LINE_MAX    "100 KB" /* libcurl's CURL_MAX_HTTP_HEADER */

#define MAX_CURL_SOCKETS   4       /* a transfer uses 1 (2 while racing
                                      IPv6 and IPv4) */

struct cs_upstream {
	CURLM *multi;
	CURL  *easy;
	/* What libcurl asks to be watched (CURLMOPT_SOCKETFUNCTION) ... */
	struct {
		curl_socket_t fd;
		short events;         /* POLLIN, POLLOUT */
	} socks[MAX_CURL_SOCKETS];
	size_t nsocks;
	/* ... and when it wants to run anyway (CURLMOPT_TIMERFUNCTION). */
	int64_t timer_due;            /* cs_now_ms() time, -1 = none */
};

/* State of one attempt. */
struct xfer {
	CURL    *easy;
	struct cs_stream *s;
	const struct cs_provider *p;
	struct cs_adapter *ad;
	long     status;        /* final HTTP status, 0 until known */
	int      headers_done;
	int      got_body;      /* a 2xx body byte arrived */
	int      paused;        /* receiving paused: the client lags */
	int64_t  t_begin;
	int64_t  t_last_byte;
	long     retry_after_ms; /* from the provider, -1 if none */
	enum cs_err stop;       /* why a callback aborted the transfer */
	struct cs_buf errbody;  /* body of a non-2xx answer */
	int      errbody_cut;   /* errbody filled up: the rest was refused */
};

/* CURLMOPT_SOCKETFUNCTION: keep u->socks as libcurl wants it. */
static int
on_socket(CURL *e, curl_socket_t fd, int what, void *userp, void *socketp)
{
	struct cs_upstream *u = userp;
	size_t i;

	(void)e;
	(void)socketp;
	for (i = 0; i < u->nsocks; i++)
		if (u->socks[i].fd == fd)
			break;
	if (what == CURL_POLL_REMOVE) {
		if (i < u->nsocks)
			u->socks[i] = u->socks[--u->nsocks];
		return 0;
	}
	if (i == u->nsocks) {
		if (u->nsocks == MAX_CURL_SOCKETS)
			return -1;    /* libcurl fails the transfer */
		u->socks[u->nsocks++].fd = fd;
	}
	u->socks[i].events = (short)(((what & CURL_POLL_IN) ? POLLIN : 0) |
	    ((what & CURL_POLL_OUT) ? POLLOUT : 0));
	return 0;
}

/* CURLMOPT_TIMERFUNCTION: -1 = no timer, 0 = as soon as possible. */
static int
on_timer(CURLM *m, long timeout_ms, void *userp)
{
	struct cs_upstream *u = userp;

	(void)m;
	u->timer_due = timeout_ms < 0 ? -1 : cs_now_ms() + timeout_ms;
	return 0;
}

struct cs_upstream *
cs_upstream_new(void)
{
	struct cs_upstream *u;

	if ((u = calloc(1, sizeof(*u))) == NULL)
		return NULL;
	u->timer_due = -1;
	if ((u->multi = curl_multi_init()) == NULL ||
	    (u->easy = curl_easy_init()) == NULL ||
	    curl_multi_setopt(u->multi, CURLMOPT_SOCKETFUNCTION, on_socket)
	    != CURLM_OK ||
	    curl_multi_setopt(u->multi, CURLMOPT_SOCKETDATA, u) != CURLM_OK ||
	    curl_multi_setopt(u->multi, CURLMOPT_TIMERFUNCTION, on_timer)
	    != CURLM_OK ||
	    curl_multi_setopt(u->multi, CURLMOPT_TIMERDATA, u) != CURLM_OK) {
		cs_upstream_free(u);
		return NULL;
	}
	return u;
}

void
cs_upstream_free(struct cs_upstream *u)
{
	if (u == NULL)
		return;
	if (u->easy != NULL)
		curl_easy_cleanup(u->easy);
	if (u->multi != NULL)
		curl_multi_cleanup(u->multi);
	free(u);
}

/* Strict non-negative integer prefix of a header value. */
static long
header_number(const char *v, size_t n, long cap)
{
	long x = 0;
	size_t i = 0;

	while (i < n && (v[i] == ' ' || v[i] == '\t'))
		i++;
	if (i == n || v[i] < '0' || v[i] > '9')
		return -1;
	for (; i < n && v[i] >= '0' && v[i] <= '9'; i++) {
		x = x * 10 + (v[i] - '0');
		if (x > cap)
			x = cap;
	}
	while (i < n && (v[i] == ' ' || v[i] == '\t' || v[i] == '\r' ||
	    v[i] == '\n'))
		i++;
	return i == n ? x : -1;
}

static size_t
on_header(char *p, size_t size, size_t n, void *ctx)
{
	struct xfer *x = ctx;
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
		/* The provider accepted the request: headers go out now. */
		if (v <= 299 && (x->stop = cs_stream_start(x->s)) != CS_OK)
			return 0;
		return len;
	}
	if (strncasecmp(p, "HTTP/", 5) == 0) {
		x->retry_after_ms = -1;
		return len;
	}
	if (len > 15 && strncasecmp(p, "retry-after-ms:", 15) == 0) {
		if ((v = header_number(p + 15, len - 15, RETRY_AFTER_CAP_MS * 10))
		    >= 0)
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
	struct xfer *x = ctx;
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
			cs_buf_append(&x->errbody, p, x->errbody.max -
			    x->errbody.len);
			x->errbody_cut = 1;
			return 0;
		}
		cs_buf_append(&x->errbody, p, len);
		return len;
	}
	x->got_body = 1;
	x->t_last_byte = cs_now_ms();
	if ((r = cs_stream_start(x->s)) != CS_OK ||
	    (r = x->p->adapter_feed(x->ad, p, len)) != CS_OK) {
		x->stop = r;
		return 0;   /* short return: libcurl aborts the transfer */
	}
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
	case CURLE_SSL_CONNECT_ERROR:
		return 1;
	default:
		return 0;
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
provider_message(struct cs_stream *s, const struct cs_buf *body, char *dst,
    size_t dstlen)
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
	if (t != NULL && cs_stream_redact(s, t, strlen(t), &red, NULL)
	    == CS_OK && cs_utf8_sanitize(red.data, red.len, &ok) == CS_OK) {
		/* Cut on a character boundary. */
		n = ok.len < dstlen - 3 ? ok.len : dstlen - 3;
		while (n > 0 && n < ok.len &&
		    ((unsigned char)ok.data[n] & 0xc0) == 0x80)
			n--;
		snprintf(dst, dstlen, ": %.*s", (int)n, ok.data);
	}
	cs_buf_free(&red);
	cs_buf_free(&ok);
	json_object_put(root);
}

/* Report a non-2xx answer from the provider. */
static enum cs_err
fail_status(struct cs_stream *s, const struct xfer *x)
{
	char msg[512], detail[DETAIL_MAX + 3];
	long ra;

	if (x->status == 401 || x->status == 403) {
		/* Never forward the body: it may echo the key. */
		snprintf(msg, sizeof(msg), "the server's provider credentials "
		    "were rejected (HTTP %ld); the site owner must fix the "
		    "API key", x->status);
		cs_stream_fail(s, CS_FAIL_UPSTREAM_AUTH, msg);
		return CS_EUPSTREAM;
	}
	if (x->status == 429) {
		/* Retry-After only when the provider gave one (rounded up). */
		ra = x->retry_after_ms > 0 ? (x->retry_after_ms + 999) / 1000 :
		    0;
		cs_stream_fail_retry(s, CS_FAIL_RATE_LIMITED, "the provider is "
		    "rate-limiting this server; try again later", ra);
		return CS_EUPSTREAM;
	}
	provider_message(s, &x->errbody, detail, sizeof(detail));
	if (x->status >= 500)
		snprintf(msg, sizeof(msg), "the provider failed (HTTP %ld)%s",
		    x->status, detail);
	else
		snprintf(msg, sizeof(msg), "the provider rejected the request "
		    "(HTTP %ld)%s", x->status, detail);
	cs_stream_fail(s, CS_FAIL_UPSTREAM, msg);
	return CS_EUPSTREAM;
}

static enum cs_err
fail_timeout(struct cs_stream *s, const char *what)
{
	char msg[160];

	snprintf(msg, sizeof(msg), "the provider did not answer in time (%s)",
	    what);
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
    const struct cs_http_request *hr, struct xfer *x)
{
	curl_easy_reset(e);
	if (curl_easy_setopt(e, CURLOPT_URL, hr->url.data) != CURLE_OK ||
	    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L) != CURLE_OK ||
	    curl_easy_setopt(e, CURLOPT_POST, 1L) != CURLE_OK ||
	    curl_easy_setopt(e, CURLOPT_POSTFIELDS, hr->body.data) != CURLE_OK ||
	    curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE,
	    (curl_off_t)hr->body.len) != CURLE_OK ||
	    curl_easy_setopt(e, CURLOPT_HTTPHEADER, hr->headers) != CURLE_OK ||
	    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body) != CURLE_OK ||
	    curl_easy_setopt(e, CURLOPT_WRITEDATA, x) != CURLE_OK ||
	    curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header) != CURLE_OK ||
	    curl_easy_setopt(e, CURLOPT_HEADERDATA, x) != CURLE_OK ||
	    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS,
	    cfg->connect_timeout_ms) != CURLE_OK ||
	    curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L) != CURLE_OK ||
	    curl_easy_setopt(e, CURLOPT_TCP_NODELAY, 1L) != CURLE_OK ||
	    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https")
	    != CURLE_OK ||
	    curl_easy_setopt(e, CURLOPT_USERAGENT, "chatstream/0.1")
	    != CURLE_OK)
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
	return ms < cfg->first_byte_timeout_ms && cs_now_ms() + ms <
	    t_total_end;
}

/*
 * libcurl refuses a header line over CURL_MAX_HTTP_HEADER and reports it
 * as out of memory (CURLE_TOO_LARGE since 8.6); before the header block
 * ended that is what it means.
 */
static int
header_too_long(const struct xfer *x, CURLcode result)
{
#if LIBCURL_VERSION_NUM >= 0x080600
	if (result == CURLE_TOO_LARGE)
		return 1;
#endif
	return result == CURLE_OUT_OF_MEMORY && !x->headers_done;
}

/* Why an attempt ended. */
enum attempt_end {
	END_DONE,        /* transfer finished (any status) */
	END_CURL,        /* libcurl error in result */
	END_STOPPED,     /* a callback or the loop stopped it: x->stop */
	END_FIRST_BYTE,  /* first_byte_timeout */
	END_IDLE,        /* idle_timeout */
	END_TOTAL,       /* total_timeout */
};

/*
 * Tell libcurl what poll() saw on its sockets (pfd[0..n-1]), and run its
 * timer when due.  Returns 0, or -1 if libcurl failed.
 */
static int
curl_act(struct cs_upstream *u, const struct pollfd *pfd, size_t n,
    int *running)
{
	int mask;
	size_t i;

	for (i = 0; i < n; i++) {
		if (pfd[i].revents == 0)
			continue;
		mask = 0;
		/* A hang-up still has data (or the EOF) to read. */
		if (pfd[i].revents & (POLLIN | POLLHUP))
			mask |= CURL_CSELECT_IN;
		if (pfd[i].revents & POLLOUT)
			mask |= CURL_CSELECT_OUT;
		if (pfd[i].revents & (POLLERR | POLLNVAL))
			mask |= CURL_CSELECT_ERR;
		if (curl_multi_socket_action(u->multi, pfd[i].fd, mask,
		    running) != CURLM_OK)
			return -1;
	}
	if (u->timer_due >= 0 && cs_now_ms() >= u->timer_due) {
		u->timer_due = -1;
		if (curl_multi_socket_action(u->multi, CURL_SOCKET_TIMEOUT, 0,
		    running) != CURLM_OK)
			return -1;
	}
	return 0;
}

/*
 * Back-pressure: pause receiving while max_pending_bytes wait for the
 * client, go on once half have gone.  Resuming may deliver what libcurl
 * held at once (into the stream's pending bytes).
 */
static int
pace(struct cs_upstream *u, struct xfer *x)
{
	if (!x->paused && cs_stream_backlogged(x->s)) {
		x->paused = 1;
		return curl_easy_pause(u->easy, CURLPAUSE_RECV) == CURLE_OK ?
		    0 : -1;
	}
	if (x->paused && cs_stream_caught_up(x->s)) {
		x->paused = 0;
		x->t_last_byte = cs_now_ms();   /* the idle clock restarts */
		return curl_easy_pause(u->easy, CURLPAUSE_CONT) == CURLE_OK ?
		    0 : -1;
	}
	return 0;
}

static enum attempt_end
run_attempt(struct cs_upstream *u, const struct cs_upstream_cfg *cfg,
    struct xfer *x, int64_t t_total_end, CURLcode *result)
{
	struct pollfd pfd[MAX_CURL_SOCKETS + 1];
	struct CURLMsg *msg;
	enum attempt_end end = END_DONE;
	int running = 1, left, fd, writable = 0;
	size_t n = 0;
	int64_t now, due;
	long wait, drain;
	enum cs_err r;

	*result = CURLE_OK;
	u->timer_due = -1;
	if (curl_multi_add_handle(u->multi, u->easy) != CURLM_OK) {
		*result = CURLE_FAILED_INIT;
		return END_CURL;
	}
	fd = cs_stream_fd(x->s);
	x->paused = 0;
	cs_stream_defer_writes(x->s, 1);
	for (;;) {
		/* Adding the handle set a timer: the first pass starts it. */
		if (curl_act(u, pfd, n, &running) != 0) {
			*result = CURLE_FAILED_INIT;
			end = END_CURL;
			break;
		}
		/* What this pass produced goes out in one write, if the
		 * connection has room; if not, the provider waits for the
		 * client (back-pressure), for write_timeout_seconds at most. */
		if (x->stop == CS_OK &&
		    (r = cs_stream_flush(x->s, writable)) != CS_OK)
			x->stop = r;
		if (x->stop != CS_OK) {
			end = END_STOPPED;
			break;
		}
		if (pace(u, x) != 0) {
			*result = CURLE_FAILED_INIT;
			end = END_CURL;
			break;
		}
		if (running == 0) {
			while ((msg = curl_multi_info_read(u->multi, &left))
			    != NULL)
				if (msg->msg == CURLMSG_DONE)
					*result = msg->data.result;
			end = *result == CURLE_OK ? END_DONE : END_CURL;
			break;
		}
		now = cs_now_ms();
		if (now >= t_total_end) {
			end = END_TOTAL;
			break;
		}
		if (!x->got_body && now - x->t_begin >=
		    cfg->first_byte_timeout_ms) {
			end = END_FIRST_BYTE;
			break;
		}
		if (x->got_body && !x->paused && now - x->t_last_byte >=
		    cfg->idle_timeout_ms) {
			end = END_IDLE;
			break;
		}
		if (cs_stream_shutdown_due()) {
			x->stop = CS_ESHUTDOWN;
			end = END_STOPPED;
			break;
		}
		if ((r = cs_stream_keepalive(x->s)) != CS_OK ||
		    (fd < 0 && (r = cs_stream_check(x->s)) != CS_OK)) {
			x->stop = r;
			end = END_STOPPED;
			break;
		}
		/* Sleep until the next deadline, libcurl's timer, keep-alive,
		 * or activity on either connection. */
		due = x->got_body ? x->t_last_byte + cfg->idle_timeout_ms :
		    x->t_begin + cfg->first_byte_timeout_ms;
		if (x->paused)   /* not the provider's silence: ours */
			due = t_total_end;
		if (due > t_total_end)
			due = t_total_end;
		if ((drain = cs_stream_pending_due_in(x->s)) >= 0 &&
		    now + drain < due)
			due = now + drain;
		if (u->timer_due >= 0 && u->timer_due < due)
			due = u->timer_due;
		wait = (long)(due - now);
		if (wait > cs_stream_keepalive_in(x->s))
			wait = cs_stream_keepalive_in(x->s);
		if (wait > POLL_SLICE_MS)
			wait = POLL_SLICE_MS;
		if (wait < 0)
			wait = 0;
		for (n = 0; n < u->nsocks; n++) {
			pfd[n].fd = u->socks[n].fd;
			pfd[n].events = u->socks[n].events;
			pfd[n].revents = 0;
		}
		if (fd >= 0) {
			pfd[n].fd = fd;
			pfd[n].events = POLLIN | (cs_stream_pending(x->s) > 0 ?
			    POLLOUT : 0);
			pfd[n].revents = 0;
		}
		if (poll(pfd, n + (fd >= 0), (int)wait) < 0 && errno != EINTR) {
			*result = CURLE_RECV_ERROR;
			end = END_CURL;
			break;
		}
		writable = fd >= 0 && (pfd[n].revents & POLLOUT) != 0;
		/* A readable FastCGI connection means the server hung up. */
		if (fd >= 0 && (pfd[n].revents & ~POLLOUT) != 0 &&
		    (r = cs_stream_check(x->s)) != CS_OK) {
			x->stop = r;
			end = END_STOPPED;
			break;
		}
	}
	/* Removing an unfinished transfer closes its connection: this is
	 * what cancels generation at the provider. */
	curl_multi_remove_handle(u->multi, u->easy);
	/* What is still kept goes out now (a write the watchdog bounds). */
	if (cs_stream_defer_writes(x->s, 0) != CS_OK && end == END_DONE) {
		x->stop = CS_ECLIENTGONE;
		end = END_STOPPED;
	}
	return end;
}

enum cs_err
cs_upstream_run(struct cs_upstream *u, const struct cs_provider *p,
    const struct cs_chat_request *req, struct cs_stream *s)
{
	const struct cs_upstream_cfg *cfg = req->model->up;
	struct cs_http_request hr;
	struct xfer x;
	enum attempt_end end;
	enum cs_err r;
	CURLcode result;
	int attempt;
	long wait = 0;
	int64_t t_total_end = cs_now_ms() + cfg->total_timeout_ms;
	char msg[256];

	memset(&x, 0, sizeof(x));
	cs_buf_init(&x.errbody, CS_MAX_UPSTREAM_ERR);
	cs_http_request_init(&hr);
	if ((r = p->build(cfg, req, &hr)) != CS_OK ||
	    (r = add_headers(cfg, &hr)) != CS_OK) {
		cs_stream_fail(s, CS_FAIL_INTERNAL,
		    "could not build the provider request");
		goto out;
	}
	for (attempt = 0;; attempt++) {
		cs_stream_set_retries(s, attempt);
		x.easy = u->easy;
		x.s = s;
		x.p = p;
		x.status = 0;
		x.headers_done = x.got_body = x.errbody_cut = 0;
		x.retry_after_ms = -1;
		x.stop = CS_OK;
		x.t_begin = x.t_last_byte = cs_now_ms();
		cs_buf_reset(&x.errbody);
		if ((x.ad = p->adapter_new(cs_stream_emit, s)) == NULL ||
		    setup_easy(u->easy, cfg, &hr, &x) != CS_OK) {
			r = CS_ENOMEM;
			cs_stream_fail(s, CS_FAIL_INTERNAL, "out of memory");
			goto out;
		}
		end = run_attempt(u, cfg, &x, t_total_end, &result);
		if (end == END_CURL && x.errbody_cut)
			end = END_DONE;   /* on_body refused the rest */

		if (end == END_STOPPED) {
			r = x.stop;
			if (r == CS_ESHUTDOWN)
				cs_stream_fail(s, CS_FAIL_SHUTDOWN,
				    "the server is shutting down");
			else if (r == CS_EUPSTREAM)
				cs_stream_end(s);   /* error event is out */
			else if (r != CS_ECLIENTGONE)
				cs_stream_fail(s, CS_FAIL_INTERNAL,
				    cs_strerror(r));
			goto out;
		}
		if (end == END_FIRST_BYTE || end == END_IDLE ||
		    end == END_TOTAL) {
			r = fail_timeout(s, end == END_FIRST_BYTE ?
			    "first_byte_timeout" : end == END_IDLE ?
			    "idle_timeout" : "total_timeout");
			goto out;
		}
		if (end == END_DONE && x.status >= 200 && x.status <= 299) {
			r = p->adapter_end(x.ad);
			if (r == CS_OK)
				r = cs_stream_end(s);
			else
				cs_stream_end(s);
			goto out;
		}
		/* A failed attempt: retry only while nothing the provider
		 * produced went out, so nothing is duplicated, and only if the
		 * wait fits in the timeouts. */
		if (attempt < cfg->max_retries &&
		    !cs_stream_provider_output_sent(s) &&
		    ((end == END_DONE && retryable_status(x.status)) ||
		    (end == END_CURL && retryable_curl(result))) &&
		    wait_fits(cfg, wait = backoff_ms(attempt, x.retry_after_ms),
		    t_total_end)) {
			p->adapter_free(x.ad);
			x.ad = NULL;
			if ((r = cs_stream_wait(s, wait)) != CS_OK) {
				if (r == CS_ESHUTDOWN)
					cs_stream_fail(s, CS_FAIL_SHUTDOWN,
					    "the server is shutting down");
				goto out;
			}
			continue;
		}
		if (end == END_DONE) {
			r = fail_status(s, &x);
			goto out;
		}
		if (cs_stream_finished(s)) {
			/* The stream was complete; only the connection's
			 * teardown failed. */
			r = cs_stream_end(s);
			goto out;
		}
		if (result == CURLE_OPERATION_TIMEDOUT) {
			r = fail_timeout(s, "connect_timeout");
			goto out;
		}
		if (header_too_long(&x, result))
			snprintf(msg, sizeof(msg), "the provider sent a header "
			    "line longer than %s", HEADER_LINE_MAX);
		else if (x.got_body)
			snprintf(msg, sizeof(msg), "the connection to the "
			    "provider was lost mid-stream (%s)",
			    curl_easy_strerror(result));
		else
			snprintf(msg, sizeof(msg), "could not reach the "
			    "provider (%s)", curl_easy_strerror(result));
		cs_stream_fail(s, CS_FAIL_UPSTREAM, msg);
		r = CS_EUPSTREAM;
		goto out;
	}
out:
	if (x.ad != NULL)
		p->adapter_free(x.ad);
	cs_buf_free(&x.errbody);
	cs_http_request_free(&hr);
	return r;
}
