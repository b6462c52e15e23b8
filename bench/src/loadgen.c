/*
 * loadgen.c — the load client of the benchmarks: N concurrent streaming
 * chat requests, latency of every delta, a JSON summary.
 *
 *   loadgen --url http://HOST:PORT/PATH --streams N --model MODEL
 *           [--body-format native|openai] [--ramp-ms MS] [--timeout-s S]
 *           [--out FILE.json] [--samples FILE.txt] [--header "Name: value"]...
 *           [--max-samples N]
 *
 * One connection per stream, opened evenly over --ramp-ms.  The response is
 * read as HTTP/1.1 (chunked, Content-Length or close-delimited), its body as
 * SSE lines.  Every data: line holding "t=<digits>" is one delta whose
 * latency is CLOCK_MONOTONIC now - digits (the upstream stamps the write
 * time; both run on this machine).  Exit 0 when every stream is OK, 1 when
 * any failed, 2 on a usage error.
 *
 * One thread, epoll, nonblocking sockets.
 */
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "bench_util.h"

#define STREAMS_MAX      100000
#define HEADERS_MAX      32          /* --header options */
#define REQUEST_MAX      8192        /* the request we send */
#define RESP_HEAD_MAX    16384       /* status line + headers */
#define LINE_MAX_BYTES   (256 * 1024) /* one SSE line */
#define REASONS_MAX      32          /* distinct failure reasons */
#define REASON_LEN       32
#define READ_CHUNK       65536
#define EVENTS_MAX       256
#define DEFAULT_SAMPLES  20000000ULL

enum phase { PH_IDLE, PH_CONNECT, PH_HEAD, PH_BODY, PH_DONE };
enum body_mode { BODY_CLOSE, BODY_LENGTH, BODY_CHUNKED };
enum chunk_state { CH_SIZE, CH_EXT, CH_DATA, CH_DATA_END, CH_LAST };

struct stream {
	int              fd;
	enum phase       phase;
	size_t           sent;        /* request bytes written */
	enum body_mode   mode;
	enum chunk_state chunk;
	uint64_t         left;        /* Content-Length or chunk bytes left */
	int              chunk_digits;
	struct bench_queue in;        /* response head, then a partial line */
	uint64_t         send_ns;     /* request fully written */
	uint64_t         deltas;
	int              saw_done, saw_error;
	int              ok;
};

struct opts {
	const char *url, *model, *out, *samples, *format;
	const char *headers[HEADERS_MAX];
	int         nheaders;
	uint64_t    streams, ramp_ms, timeout_s, max_samples;
};

/* Growable array of latency samples in µs, capped at max. */
struct samples {
	uint32_t *v;
	size_t    len, cap, max;
	uint64_t  dropped;
};

static struct opts opt = { .format = "native", .ramp_ms = 1000,
    .timeout_s = 120, .max_samples = DEFAULT_SAMPLES };
static struct addrinfo *addr;     /* where --url points */
static char request[REQUEST_MAX];
static size_t request_len;
static int ep = -1;
static struct stream *streams;
static uint64_t done_count, ok_count, total_deltas;
static struct samples lat;
static uint32_t *first_us;        /* time to first delta, per OK stream */
static size_t first_len;
static struct { char name[REASON_LEN]; uint64_t n; } reasons[REASONS_MAX];
static int nreasons;
static uint64_t nofile;           /* RLIMIT_NOFILE after raising it */
static uint64_t open_now, open_max; /* connections open, and the most */

static void
usage(const char *why)
{
	if (why != NULL)
		fprintf(stderr, "loadgen: %s\n", why);
	fprintf(stderr, "usage: loadgen --url http://HOST:PORT/PATH --streams N "
	    "--model MODEL\n       [--body-format native|openai] [--ramp-ms MS] "
	    "[--timeout-s S] [--out FILE.json]\n       [--samples FILE.txt] "
	    "[--header \"Name: value\"]... [--max-samples N]\n");
	exit(2);
}

/* ---- results ---- */

static void
samples_add(struct samples *s, uint32_t us)
{
	size_t ncap;
	uint32_t *p;

	if (s->len == s->cap) {
		ncap = s->cap ? s->cap * 2 : 65536;
		if (ncap > s->max)
			ncap = s->max;
		if (ncap <= s->len ||
		    (p = realloc(s->v, ncap * sizeof(*p))) == NULL) {
			s->dropped++;
			return;
		}
		s->v = p;
		s->cap = ncap;
	}
	s->v[s->len++] = us;
}

static void
count_reason(const char *why)
{
	int i;

	for (i = 0; i < nreasons; i++)
		if (strcmp(reasons[i].name, why) == 0)
			break;
	if (i == nreasons) {
		if (nreasons == REASONS_MAX)
			i = REASONS_MAX - 1;   /* the last slot takes the rest */
		else
			snprintf(reasons[nreasons++].name, REASON_LEN, "%s", why);
	}
	reasons[i].n++;
}

/* End stream s: OK when why is NULL and it saw a delta and no error. */
static void
stream_end(struct stream *s, const char *why)
{
	if (s->phase == PH_DONE)
		return;
	if (why == NULL && s->saw_error)
		why = "error_event";
	if (why == NULL && s->deltas == 0)
		why = "no_deltas";
	if (why == NULL)
		ok_count++;
	else
		count_reason(why);
	if (s->fd >= 0) {
		close(s->fd);
		open_now--;
	}
	s->fd = -1;
	s->phase = PH_DONE;
	bench_queue_free(&s->in);
	done_count++;
}

static uint32_t
ns_to_us(uint64_t ns)
{
	ns /= 1000;
	return ns > UINT32_MAX ? UINT32_MAX : (uint32_t)ns;
}

/* ---- response parsing ---- */

/* The first "t=<digits>" in p[0..n), or 0 when there is none. */
static uint64_t
find_stamp(const char *p, size_t n)
{
	const char *end = p + n, *t;
	uint64_t v = 0;

	while ((t = memmem(p, (size_t)(end - p), "t=", 2)) != NULL) {
		p = t + 2;
		while (p < end && *p >= '0' && *p <= '9' && v < UINT64_MAX / 10)
			v = v * 10 + (uint64_t)(*p++ - '0');
		if (v != 0)
			return v;
	}
	return 0;
}

/* One complete SSE line (without its line end). */
static void
sse_line(struct stream *s, const char *p, size_t n, uint64_t now)
{
	uint64_t t;

	if (n > 0 && p[n - 1] == '\r')
		n--;
	if (n >= 6 && memcmp(p, "event:", 6) == 0) {
		for (p += 6, n -= 6; n > 0 && *p == ' '; p++, n--)
			;
		if (n == 5 && memcmp(p, "error", 5) == 0)
			s->saw_error = 1;
		return;
	}
	if (n < 5 || memcmp(p, "data:", 5) != 0)
		return;
	if (memmem(p, n, "[DONE]", 6) != NULL) {
		s->saw_done = 1;
		return;
	}
	if ((t = find_stamp(p + 5, n - 5)) == 0)
		return;
	if (s->deltas++ == 0)
		first_us[first_len++] = ns_to_us(now - s->send_ns);
	total_deltas++;
	samples_add(&lat, now > t ? ns_to_us(now - t) : 0);
}

/* Body bytes (de-chunked): split into SSE lines.  0 or -1 (line too long). */
static int
sse_feed(struct stream *s, const char *p, size_t n, uint64_t now)
{
	const char *end = p + n, *nl;

	while ((nl = memchr(p, '\n', (size_t)(end - p))) != NULL) {
		if (s->in.len > 0) {
			if (bench_queue_append(&s->in, p, (size_t)(nl - p)) != 0)
				return -1;
			sse_line(s, s->in.data, s->in.len, now);
			s->in.len = 0;
		} else {
			sse_line(s, p, (size_t)(nl - p), now);
		}
		p = nl + 1;
	}
	return bench_queue_append(&s->in, p, (size_t)(end - p));
}

static int
hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/*
 * Decode chunked framing; data goes to sse_feed.  Returns 1 when the
 * last-chunk was read, 0 for more, -1 on a framing error.
 */
static int
chunked_feed(struct stream *s, const char *p, size_t n, uint64_t now)
{
	const char *end = p + n;
	size_t take;
	int h;

	while (p < end) {
		switch (s->chunk) {
		case CH_SIZE:
			if ((h = hexval(*p)) >= 0 && s->chunk_digits < 15) {
				s->left = s->left * 16 + (uint64_t)h;
				s->chunk_digits++;
			} else if (*p == ';' || *p == '\r') {
				s->chunk = CH_EXT;
			} else if (*p == '\n' && s->chunk_digits > 0) {
				s->chunk = s->left ? CH_DATA : CH_LAST;
			} else {
				return -1;
			}
			p++;
			break;
		case CH_EXT:
			if (*p++ == '\n') {
				if (s->chunk_digits == 0)
					return -1;
				s->chunk = s->left ? CH_DATA : CH_LAST;
			}
			break;
		case CH_DATA:
			take = (size_t)(end - p) < s->left ? (size_t)(end - p) :
			    (size_t)s->left;
			if (sse_feed(s, p, take, now) != 0)
				return -1;
			p += take;
			if ((s->left -= take) == 0)
				s->chunk = CH_DATA_END;
			break;
		case CH_DATA_END:
			if (*p == '\n') {
				s->chunk = CH_SIZE;
				s->chunk_digits = 0;
			} else if (*p != '\r') {
				return -1;
			}
			p++;
			break;
		case CH_LAST:
			return 1;
		}
	}
	return s->chunk == CH_LAST;
}

/* Body bytes as framed by the response; ends s when the body is complete. */
static void
body_feed(struct stream *s, const char *p, size_t n, uint64_t now)
{
	int rc;

	switch (s->mode) {
	case BODY_CHUNKED:
		if ((rc = chunked_feed(s, p, n, now)) < 0)
			stream_end(s, "bad_response");
		else if (rc == 1)
			stream_end(s, NULL);
		return;
	case BODY_LENGTH:
		if (n > s->left)
			n = (size_t)s->left;
		s->left -= n;
		/* FALLTHROUGH */
	case BODY_CLOSE:
		if (sse_feed(s, p, n, now) != 0)
			stream_end(s, "bad_response");
		else if (s->mode == BODY_LENGTH && s->left == 0)
			stream_end(s, NULL);
		return;
	}
}

/* Value of header name in the head h (NUL-terminated), or NULL. */
static const char *
head_value(const char *h, const char *name)
{
	size_t k = strlen(name);
	const char *p;

	for (p = strstr(h, "\r\n"); p != NULL; p = strstr(p, "\r\n")) {
		p += 2;
		if (strncasecmp(p, name, k) == 0 && p[k] == ':') {
			for (p += k + 1; *p == ' ' || *p == '\t'; p++)
				;
			return p;
		}
	}
	return NULL;
}

/*
 * The response head is complete in s->in (NUL-terminated after it): note
 * how the body is framed.  Returns the status, or -1 when malformed.
 */
static int
parse_response_head(struct stream *s)
{
	const char *h = s->in.data, *v;
	uint64_t status;

	if (strncmp(h, "HTTP/1.", 7) != 0 || h[8] != ' ' ||
	    bench_parse_u64n(h + 9, 3, 100, 599, &status) != 0)
		return -1;
	s->mode = BODY_CLOSE;
	if ((v = head_value(h, "transfer-encoding")) != NULL &&
	    strncasecmp(v, "chunked", 7) == 0) {
		s->mode = BODY_CHUNKED;
	} else if ((v = head_value(h, "content-length")) != NULL) {
		s->mode = BODY_LENGTH;
		if (bench_parse_u64n(v, strcspn(v, "\r"), 0, UINT64_MAX,
		    &s->left) != 0)
			return -1;
	}
	return (int)status;
}

/*
 * Parse the response head(s) collected in s->in: skip 1xx heads, fail on a
 * status other than 200, else go on to the body with the bytes after it.
 */
static void
head_check(struct stream *s, uint64_t now)
{
	char *end, *rest, why[REASON_LEN];
	size_t head_len, rest_len;
	int status;

	for (;;) {
		end = memmem(s->in.data, s->in.len, "\r\n\r\n", 4);
		if (end == NULL)
			return;
		head_len = (size_t)(end - s->in.data) + 4;
		end[2] = '\0';   /* head_value and strstr stop here */
		if ((status = parse_response_head(s)) < 0) {
			stream_end(s, "bad_response");
			return;
		}
		rest_len = s->in.len - head_len;
		memmove(s->in.data, s->in.data + head_len, rest_len);
		s->in.len = rest_len;
		if (status >= 200)
			break;
	}
	if (status != 200) {
		snprintf(why, sizeof(why), "status_%d", status);
		stream_end(s, why);
		return;
	}
	/* s->in becomes the line buffer: take the body bytes out of it. */
	s->phase = PH_BODY;
	rest = s->in.data;
	bench_queue_init(&s->in, LINE_MAX_BYTES);
	if (rest_len > 0)
		body_feed(s, rest, rest_len, now);
	free(rest);
}

/* Bytes read in PH_HEAD: collect the head, then hand the rest to the body. */
static void
head_feed(struct stream *s, const char *p, size_t n, uint64_t now)
{
	if (bench_queue_append(&s->in, p, n) != 0)
		stream_end(s, "bad_response");
	else
		head_check(s, now);
}

/* ---- connection handling ---- */

/* Write the rest of the request; then wait for the response. */
static void
stream_send(struct stream *s)
{
	ssize_t w;

	while (s->sent < request_len) {
		w = write(s->fd, request + s->sent, request_len - s->sent);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		if (w < 0) {
			stream_end(s, "connect");
			return;
		}
		s->sent += (size_t)w;
	}
	s->send_ns = bench_now_ns();
	s->phase = PH_HEAD;
	if (bench_epoll(ep, EPOLL_CTL_MOD, s->fd, EPOLLIN, s) != 0)
		stream_end(s, "connect");
}

/* Open stream s's connection and send as much of the request as fits. */
static void
stream_start(struct stream *s)
{
	int one = 1;

	s->fd = socket(addr->ai_family, addr->ai_socktype | SOCK_NONBLOCK |
	    SOCK_CLOEXEC, addr->ai_protocol);
	if (s->fd < 0) {
		stream_end(s, errno == EMFILE || errno == ENFILE ?
		    "loadgen_out_of_descriptors" : "connect");
		return;
	}
	if (++open_now > open_max)
		open_max = open_now;
	(void)setsockopt(s->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	s->phase = PH_CONNECT;
	if ((connect(s->fd, addr->ai_addr, addr->ai_addrlen) != 0 &&
	    errno != EINPROGRESS) ||
	    bench_epoll(ep, EPOLL_CTL_ADD, s->fd, EPOLLOUT, s) != 0)
		stream_end(s, "connect");
}

/* Read all the socket has and parse it. */
static void
stream_read(struct stream *s)
{
	static char rbuf[READ_CHUNK];
	uint64_t now;
	ssize_t n;

	while (s->phase == PH_HEAD || s->phase == PH_BODY) {
		n = read(s->fd, rbuf, sizeof(rbuf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		if (n <= 0) {
			/* close-delimited bodies end here; all else is cut */
			stream_end(s, n == 0 && s->phase == PH_BODY &&
			    s->mode == BODY_CLOSE && s->saw_done ? NULL :
			    "truncated");
			return;
		}
		now = bench_now_ns();
		if (s->phase == PH_HEAD)
			head_feed(s, rbuf, (size_t)n, now);
		else
			body_feed(s, rbuf, (size_t)n, now);
		/* A short read drained the socket; epoll is level-triggered. */
		if ((size_t)n < sizeof(rbuf))
			return;
	}
}

static void
stream_event(struct stream *s, uint32_t events)
{
	int err = 0;
	socklen_t len = sizeof(err);

	/* PH_CONNECT lasts until the whole request is written. */
	if (s->phase == PH_CONNECT) {
		if (getsockopt(s->fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0 ||
		    err != 0) {
			stream_end(s, "connect");
			return;
		}
		stream_send(s);
		return;
	}
	if (events & (EPOLLIN | EPOLLHUP | EPOLLERR))
		stream_read(s);
}

/* ---- setup ---- */

/* Split --url into addr, Host and path, and build the request. */
static void
build_request(void)
{
	const char *u = opt.url, *path;
	char host[256], port[8] = "80", hostport[300], body[512];
	struct addrinfo hints;
	const char *colon;
	size_t hlen;
	int i, n, off, blen;

	if (strncmp(u, "http://", 7) != 0)
		usage("--url must start with http://");
	u += 7;
	path = strchr(u, '/');
	hlen = path ? (size_t)(path - u) : strlen(u);
	if (path == NULL)
		path = "/";
	if (hlen == 0 || hlen >= sizeof(hostport))
		usage("bad --url host");
	memcpy(hostport, u, hlen);
	hostport[hlen] = '\0';
	colon = strrchr(hostport, ':');
	n = colon ? (int)(colon - hostport) : (int)hlen;
	if (n == 0 || (size_t)n >= sizeof(host) ||
	    (colon && strlen(colon + 1) >= sizeof(port)))
		usage("bad --url host");
	snprintf(host, sizeof(host), "%.*s", n, hostport);
	if (colon)
		snprintf(port, sizeof(port), "%s", colon + 1);
	memset(&hints, 0, sizeof(hints));
	hints.ai_socktype = SOCK_STREAM;
	if (getaddrinfo(host, port, &hints, &addr) != 0)
		usage("cannot resolve --url host");
	/* Both --body-format values send this body today. */
	blen = snprintf(body, sizeof(body), "{\"model\":\"%s\",\"messages\":"
	    "[{\"role\":\"user\",\"content\":\"hi\"}],\"stream\":true}",
	    opt.model);
	if (blen < 0 || (size_t)blen >= sizeof(body) || strpbrk(opt.model,
	    "\"\\") != NULL)
		usage("bad --model");
	off = snprintf(request, sizeof(request), "POST %s HTTP/1.1\r\n"
	    "Host: %s\r\nContent-Type: application/json\r\n"
	    "Accept: text/event-stream\r\nContent-Length: %d\r\n",
	    path, hostport, blen);
	for (i = 0; i < opt.nheaders && off > 0 && (size_t)off < sizeof(request);
	    i++)
		off += snprintf(request + off, sizeof(request) - (size_t)off,
		    "%s\r\n", opt.headers[i]);
	if (off > 0 && (size_t)off < sizeof(request))
		off += snprintf(request + off, sizeof(request) - (size_t)off,
		    "\r\n%s", body);
	if (off < 0 || (size_t)off >= sizeof(request))
		usage("request too long");
	request_len = (size_t)off;
}

/* A --header value: "Name: value", no line breaks. */
static int
header_ok(const char *h)
{
	const char *c = strchr(h, ':');

	return c != NULL && c != h && strpbrk(h, "\r\n") == NULL;
}

static void
parse_args(int argc, char **argv)
{
	int i;

	for (i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;

		if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0)
			usage(NULL);
		if (v == NULL)
			usage("option needs a value");
		i++;
		if (strcmp(a, "--url") == 0)
			opt.url = v;
		else if (strcmp(a, "--model") == 0)
			opt.model = v;
		else if (strcmp(a, "--out") == 0)
			opt.out = v;
		else if (strcmp(a, "--samples") == 0)
			opt.samples = v;
		else if (strcmp(a, "--body-format") == 0)
			opt.format = v;
		else if (strcmp(a, "--header") == 0 &&
		    opt.nheaders < HEADERS_MAX && header_ok(v))
			opt.headers[opt.nheaders++] = v;
		else if (strcmp(a, "--streams") == 0 ?
		    bench_parse_u64(v, 1, STREAMS_MAX, &opt.streams) :
		    strcmp(a, "--ramp-ms") == 0 ?
		    bench_parse_u64(v, 0, 3600000, &opt.ramp_ms) :
		    strcmp(a, "--timeout-s") == 0 ?
		    bench_parse_u64(v, 1, 86400, &opt.timeout_s) :
		    strcmp(a, "--max-samples") == 0 ?
		    bench_parse_u64(v, 1, 1000000000, &opt.max_samples) : -1)
			usage(a);
	}
	if (opt.url == NULL || opt.model == NULL || opt.streams == 0)
		usage("--url, --streams and --model are required");
	if (strcmp(opt.format, "native") != 0 && strcmp(opt.format, "openai") != 0)
		usage("--body-format is native or openai");
}

/* ---- report ---- */

static int
cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return (x > y) - (x < y);
}

/* Nearest-rank percentile of sorted v; 0 when empty. */
static uint32_t
pct(const uint32_t *v, size_t n, double p)
{
	size_t i;

	if (n == 0)
		return 0;
	i = (size_t)(p * (double)n);
	return v[i >= n ? n - 1 : i];
}

static void
write_json(FILE *f, double wall_s)
{
	double sum = 0;
	size_t i;
	int r;

	for (i = 0; i < lat.len; i++)
		sum += lat.v[i];
	fprintf(f, "{\"streams\":%llu,\"ok\":%llu,\"failed\":%llu,"
	    "\"fail_reasons\":{", (unsigned long long)opt.streams,
	    (unsigned long long)ok_count,
	    (unsigned long long)(opt.streams - ok_count));
	for (r = 0; r < nreasons; r++)
		fprintf(f, "%s\"%s\":%llu", r ? "," : "", reasons[r].name,
		    (unsigned long long)reasons[r].n);
	fprintf(f, "},\"deltas\":%llu,\"samples\":%zu,\"samples_dropped\":%llu,"
	    "\"latency_us\":{\"p50\":%u,\"p90\":%u,\"p99\":%u,\"p999\":%u,"
	    "\"max\":%u,\"mean\":%.1f},", (unsigned long long)total_deltas,
	    lat.len, (unsigned long long)lat.dropped,
	    pct(lat.v, lat.len, 0.50), pct(lat.v, lat.len, 0.90),
	    pct(lat.v, lat.len, 0.99), pct(lat.v, lat.len, 0.999),
	    lat.len ? lat.v[lat.len - 1] : 0,
	    lat.len ? sum / (double)lat.len : 0.0);
	fprintf(f, "\"first_delta_us\":{\"p50\":%u,\"p99\":%u,\"max\":%u},"
	    "\"open_max\":%llu,\"nofile\":%llu,\"wall_s\":%.3f}\n",
	    pct(first_us, first_len, 0.50), pct(first_us, first_len, 0.99),
	    first_len ? first_us[first_len - 1] : 0,
	    (unsigned long long)open_max, (unsigned long long)nofile, wall_s);
}

/* Print the summary, write --out and --samples; 0 or -1. */
static int
report(double wall_s)
{
	FILE *f;
	size_t i;
	int rc = 0;

	qsort(lat.v, lat.len, sizeof(*lat.v), cmp_u32);
	qsort(first_us, first_len, sizeof(*first_us), cmp_u32);
	write_json(stdout, wall_s);
	fflush(stdout);
	if (opt.out != NULL) {
		if ((f = fopen(opt.out, "w")) == NULL)
			return -1;
		write_json(f, wall_s);
		rc |= fclose(f);
	}
	if (opt.samples != NULL) {
		if ((f = fopen(opt.samples, "w")) == NULL)
			return -1;
		for (i = 0; i < lat.len; i++)
			fprintf(f, "%u\n", lat.v[i]);
		rc |= fclose(f);
	}
	return rc == 0 ? 0 : -1;
}

/* ---- main loop ---- */

/* Milliseconds until ns (at least 0, rounded up). */
static int
ms_until(uint64_t ns, uint64_t now)
{
	uint64_t d = ns > now ? ns - now : 0;

	d = (d + 999999) / 1000000;
	return d > 1000 ? 1000 : (int)d;
}

/* Run all streams until each ended or the deadline passed. */
static void
run(uint64_t t0)
{
	struct epoll_event evs[EVENTS_MAX];
	uint64_t now, j, next_start = 0, n = opt.streams;
	uint64_t deadline = t0 + opt.timeout_s * NS_PER_SEC;
	uint64_t ramp_ns = opt.ramp_ms * 1000000;
	int i, k, timeout;

	while (done_count < n) {
		now = bench_now_ns();
		while (next_start < n && t0 + next_start * ramp_ns / n <= now)
			stream_start(&streams[next_start++]);
		if (now >= deadline)
			break;
		timeout = ms_until(next_start < n ?
		    t0 + next_start * ramp_ns / n : deadline, now);
		k = epoll_wait(ep, evs, EVENTS_MAX, timeout);
		for (i = 0; i < k; i++)
			stream_event(evs[i].data.ptr, evs[i].events);
	}
	for (j = 0; j < n; j++)   /* no-op for streams already ended */
		stream_end(&streams[j], "timeout");
}

int
main(int argc, char **argv)
{
	uint64_t t0, i;
	double wall_s;

	parse_args(argc, argv);
	build_request();
	signal(SIGPIPE, SIG_IGN);
	if ((nofile = bench_raise_nofile()) < opt.streams + 16)
		fprintf(stderr, "loadgen: warning: descriptor limit %llu (the "
		    "hard limit) is below --streams %llu + 16: streams past "
		    "~%llu fail as loadgen_out_of_descriptors\n",
		    (unsigned long long)nofile, (unsigned long long)opt.streams,
		    (unsigned long long)(nofile > 16 ? nofile - 16 : 0));
	streams = calloc(opt.streams, sizeof(*streams));
	first_us = calloc(opt.streams, sizeof(*first_us));
	lat.max = (size_t)opt.max_samples;
	if (streams == NULL || first_us == NULL ||
	    (ep = epoll_create1(EPOLL_CLOEXEC)) < 0) {
		perror("loadgen");
		return 1;
	}
	for (i = 0; i < opt.streams; i++) {
		streams[i].fd = -1;
		bench_queue_init(&streams[i].in, RESP_HEAD_MAX);
	}
	t0 = bench_now_ns();
	run(t0);
	wall_s = (double)(bench_now_ns() - t0) / 1e9;
	if (report(wall_s) != 0) {
		perror("loadgen: writing results");
		return 1;
	}
	return ok_count == opt.streams ? 0 : 1;
}
