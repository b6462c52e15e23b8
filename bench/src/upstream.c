/*
 * upstream.c — a load upstream for the benchmarks: speaks the OpenAI Chat
 * Completions streaming wire format, with deltas on a fixed schedule.
 *
 *   upstream --port P        (P = 0 picks a free port)
 *
 * Binds 127.0.0.1, prints "listening on 127.0.0.1:PORT" once ready.
 * POST .../chat/completions with model "bench-<DELTAS>x<RATE>" streams
 * DELTAS chat.completion.chunk events at RATE per second, each carrying
 * "t=<CLOCK_MONOTONIC ns at the write>" so a client on the same machine can
 * measure latency; then a finish chunk, a usage chunk and data: [DONE].
 * GET /health answers "ok".  SIGTERM/SIGINT print a summary and exit 0.
 *
 * One thread, epoll, nonblocking sockets.  Streams wait in a min-heap keyed
 * by their next due time; one timerfd armed at the heap top wakes the loop.
 * Stream k-th delta is due at start + k/RATE, so a late write does not push
 * the later ones back.
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "bench_util.h"

#define REQ_HEAD_MAX   16384          /* request line + headers */
#define REQ_BODY_MAX   (1024 * 1024)  /* Content-Length we accept */
#define IN_MAX         (REQ_HEAD_MAX + REQ_BODY_MAX)
#define OUT_MAX        (4 * 1024 * 1024) /* queued for a slow client */
#define MODEL_MAX      64
#define DELTAS_MAX     1000000
#define RATE_MAX       1000000        /* deltas per second */
#define LISTEN_BACKLOG 8192
#define EVENTS_MAX     256
#define EVENT_MAX      1024           /* one formatted SSE event */

enum conn_state {
	ST_READ,    /* waiting for (the rest of) a request */
	ST_STREAM,  /* streaming deltas; pipelined bytes wait in in */
};

struct conn {
	int             fd;
	enum conn_state state;
	char           *in;          /* received, not yet handled; owned */
	size_t          in_len, in_cap;
	int             sent_continue;
	int             close_after; /* close once out is flushed */
	int             want_out;    /* EPOLLOUT registered */
	struct bench_queue out;
	char            model[MODEL_MAX + 1];
	uint64_t        deltas, rate;  /* from the model name */
	uint64_t        k;             /* deltas sent */
	uint64_t        start_ns, due_ns;
	size_t          heap_idx;      /* SIZE_MAX when not scheduled */
	struct conn    *next_dead;     /* closed, freed after the epoll batch */
};

/* A parsed request head; pointers into conn.in. */
struct req {
	const char *method, *path;
	size_t      method_len, path_len;
	size_t      head_len;        /* through the blank line */
	uint64_t    content_length;
	int         expect_continue, close, chunked, http10;
};

struct stats {
	uint64_t started, completed, aborted, deltas, max_late_ns;
	uint64_t late_1ms, late_10ms;  /* writes more than 1 / 10 ms late */
};

static int ep = -1, listen_fd = -1, timer_fd = -1, sig_fd = -1;
static int spare_fd = -1;      /* /dev/null, given up to shed a connection */
static uint64_t nofile;        /* RLIMIT_NOFILE after raising it */
static uint64_t open_conns, max_open_conns, shed_conns;
static struct conn **heap;     /* min-heap on due_ns */
static size_t heap_len, heap_cap;
static uint64_t armed_ns;      /* what timer_fd is set to; 0 = disarmed */
static struct conn *dead;      /* closed this batch; see conn_close */
static struct stats st;
/* epoll tags for the fds that are not connections */
static char tag_listen, tag_timer, tag_signal;

/* ---- schedule: a binary min-heap of streams by due_ns ---- */

static void
heap_set(size_t i, struct conn *c)
{
	heap[i] = c;
	c->heap_idx = i;
}

static void
heap_up(size_t i)
{
	struct conn *c = heap[i];

	while (i > 0 && heap[(i - 1) / 2]->due_ns > c->due_ns) {
		heap_set(i, heap[(i - 1) / 2]);
		i = (i - 1) / 2;
	}
	heap_set(i, c);
}

static void
heap_down(size_t i)
{
	struct conn *c = heap[i];
	size_t m;

	for (;;) {
		m = 2 * i + 1;
		if (m >= heap_len)
			break;
		if (m + 1 < heap_len && heap[m + 1]->due_ns < heap[m]->due_ns)
			m++;
		if (heap[m]->due_ns >= c->due_ns)
			break;
		heap_set(i, heap[m]);
		i = m;
	}
	heap_set(i, c);
}

static int
heap_push(struct conn *c)
{
	struct conn **p;
	size_t ncap;

	if (heap_len == heap_cap) {
		ncap = heap_cap ? heap_cap * 2 : 1024;
		if ((p = realloc(heap, ncap * sizeof(*p))) == NULL)
			return -1;
		heap = p;
		heap_cap = ncap;
	}
	heap_set(heap_len++, c);
	heap_up(heap_len - 1);
	return 0;
}

static void
heap_remove(struct conn *c)
{
	size_t i = c->heap_idx;
	struct conn *last;

	if (i == SIZE_MAX)
		return;
	c->heap_idx = SIZE_MAX;
	last = heap[--heap_len];
	if (i == heap_len)
		return;
	heap_set(i, last);
	heap_up(i);
	heap_down(last->heap_idx);
}

/* Arm timer_fd for the earliest due stream (or disarm it). */
static void
timer_arm(void)
{
	struct itimerspec its;
	uint64_t due = heap_len ? heap[0]->due_ns : 0;

	if (due == armed_ns)
		return;
	memset(&its, 0, sizeof(its));
	its.it_value.tv_sec = (time_t)(due / NS_PER_SEC);
	its.it_value.tv_nsec = (long)(due % NS_PER_SEC);
	if (due != 0 && its.it_value.tv_sec == 0 && its.it_value.tv_nsec == 0)
		its.it_value.tv_nsec = 1;
	(void)timerfd_settime(timer_fd, TFD_TIMER_ABSTIME, &its, NULL);
	armed_ns = due;
}

/* ---- connections ---- */

/*
 * Close c; a stream cut short counts as aborted.  The memory is freed by
 * free_dead() after the epoll batch, as a later event of the same batch
 * may still point at c (fd == -1 marks it closed).
 */
static void
conn_close(struct conn *c)
{
	if (c->fd < 0)
		return;
	if (c->state == ST_STREAM)
		st.aborted++;
	heap_remove(c);
	close(c->fd);
	c->fd = -1;
	open_conns--;
	c->next_dead = dead;
	dead = c;
}

static void
free_dead(void)
{
	struct conn *c;

	while ((c = dead) != NULL) {
		dead = c->next_dead;
		bench_queue_free(&c->out);
		free(c->in);
		free(c);
	}
}

/*
 * Send what is queued; watch EPOLLOUT only while bytes are left.
 * Returns 0, or -1 when c was closed (write error or close_after done).
 */
static int
conn_flush(struct conn *c)
{
	int r = bench_queue_flush(&c->out, c->fd);
	int want = (r == 0);

	if (r < 0 || (r == 1 && c->close_after && c->state == ST_READ)) {
		conn_close(c);
		return -1;
	}
	if (want != c->want_out) {
		c->want_out = want;
		(void)bench_epoll(ep, EPOLL_CTL_MOD, c->fd,
		    EPOLLIN | EPOLLRDHUP | (want ? EPOLLOUT : 0), c);
	}
	return 0;
}

/* Queue one chunk of the chunked body holding a printf-formatted event. */
static int
queue_chunk(struct conn *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static int
queue_chunk(struct conn *c, const char *fmt, ...)
{
	char ev[EVENT_MAX];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(ev, sizeof(ev), fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(ev))
		return -1;
	return bench_queue_printf(&c->out, "%x\r\n%s\r\n", (unsigned)n, ev);
}

/* Queue a complete non-streaming response. */
static int
queue_response(struct conn *c, const char *status, const char *type,
    const char *body)
{
	return bench_queue_printf(&c->out,
	    "HTTP/1.1 %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n%s\r\n%s",
	    status, type, strlen(body),
	    c->close_after ? "Connection: close\r\n" : "", body);
}

static int
queue_json_error(struct conn *c, const char *status, const char *msg,
    const char *code)
{
	char body[256];

	snprintf(body, sizeof(body), "{\"error\":{\"message\":\"%s\","
	    "\"type\":\"invalid_request_error\",\"param\":null,"
	    "\"code\":\"%s\"}}", msg, code);
	return queue_response(c, status, "application/json", body);
}

/* The chunks that end a stream: finish, usage, [DONE], last-chunk. */
static int
queue_stream_end(struct conn *c)
{
	if (queue_chunk(c, "data: {\"id\":\"chatcmpl-bench\",\"object\":"
	    "\"chat.completion.chunk\",\"created\":0,\"model\":\"%s\","
	    "\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":"
	    "\"stop\"}]}\n\n", c->model) != 0)
		return -1;
	if (queue_chunk(c, "data: {\"id\":\"chatcmpl-bench\",\"object\":"
	    "\"chat.completion.chunk\",\"created\":0,\"model\":\"%s\","
	    "\"choices\":[],\"usage\":{\"prompt_tokens\":1,"
	    "\"completion_tokens\":%llu,\"total_tokens\":%llu}}\n\n", c->model,
	    (unsigned long long)c->deltas,
	    (unsigned long long)c->deltas + 1) != 0)
		return -1;
	if (queue_chunk(c, "data: [DONE]\n\n") != 0)
		return -1;
	return bench_queue_append(&c->out, "0\r\n\r\n", 5);
}

static void conn_process(struct conn *c);

static void
note_lateness(uint64_t late_ns)
{
	if (late_ns > st.max_late_ns)
		st.max_late_ns = late_ns;
	st.late_1ms += late_ns > 1000000;
	st.late_10ms += late_ns > 10000000;
}

/*
 * Write c's next delta now; then schedule the one after, or end the stream
 * and go back to reading the next request on the connection.
 */
static void
stream_tick(struct conn *c)
{
	uint64_t now = bench_now_ns();

	note_lateness(now > c->due_ns ? now - c->due_ns : 0);
	if (queue_chunk(c, "data: {\"id\":\"chatcmpl-bench\",\"object\":"
	    "\"chat.completion.chunk\",\"created\":0,\"model\":\"%s\","
	    "\"choices\":[{\"index\":0,\"delta\":{\"content\":\"t=%llu \"},"
	    "\"finish_reason\":null}]}\n\n", c->model,
	    (unsigned long long)now) != 0)
		goto fail;
	st.deltas++;
	c->k++;
	if (c->k < c->deltas) {
		c->due_ns = c->start_ns + (c->k + 1) * NS_PER_SEC / c->rate;
		if (heap_push(c) != 0)
			goto fail;
		(void)conn_flush(c);
		return;
	}
	if (queue_stream_end(c) != 0)
		goto fail;
	st.completed++;
	c->state = ST_READ;
	if (conn_flush(c) == 0)
		conn_process(c);
	return;
fail:
	conn_close(c);
}

/* Parse "bench-<DELTAS>x<RATE>" into c; 0 or -1. */
static int
parse_model(struct conn *c)
{
	const char *m = c->model, *x;

	if (strncmp(m, "bench-", 6) != 0 || (x = strchr(m + 6, 'x')) == NULL)
		return -1;
	if (bench_parse_u64n(m + 6, (size_t)(x - m - 6), 1, DELTAS_MAX,
	    &c->deltas) != 0)
		return -1;
	return bench_parse_u64(x + 1, 1, RATE_MAX, &c->rate);
}

/*
 * Copy the string value of "model" in the JSON body into c->model.  A plain
 * scan, not a JSON parser: the load client sends a fixed shape.
 */
static int
find_model(struct conn *c, const char *body, size_t len)
{
	const char *p = memmem(body, len, "\"model\"", 7), *end = body + len;
	size_t n = 0;

	if (p == NULL)
		return -1;
	for (p += 7; p < end && strchr(" \t\r\n:", *p) != NULL; p++)
		;
	if (p >= end || *p++ != '"')
		return -1;
	while (p < end && *p != '"' && *p != '\\' && n < MODEL_MAX)
		c->model[n++] = *p++;
	if (p >= end || *p != '"')
		return -1;
	c->model[n] = '\0';
	return 0;
}

/* Start streaming to c: headers now, first delta after 1/RATE s. */
static int
stream_start(struct conn *c)
{
	if (bench_queue_printf(&c->out, "HTTP/1.1 200 OK\r\n"
	    "Content-Type: text/event-stream\r\nCache-Control: no-cache\r\n"
	    "Transfer-Encoding: chunked\r\n\r\n") != 0)
		return -1;
	c->state = ST_STREAM;
	c->k = 0;
	c->start_ns = bench_now_ns();
	c->due_ns = c->start_ns + NS_PER_SEC / c->rate;
	st.started++;
	return heap_push(c);
}

static int
path_is(const struct req *r, const char *suffix, int whole)
{
	size_t n = strlen(suffix), len = r->path_len;
	const char *q = memchr(r->path, '?', len);

	if (q != NULL)
		len = (size_t)(q - r->path);
	if (len < n || (whole && len != n))
		return 0;
	return memcmp(r->path + len - n, suffix, n) == 0;
}

/* Answer one complete request (head and body in c->in). */
static int
dispatch(struct conn *c, const struct req *r)
{
	const char *body = c->in + r->head_len;
	size_t blen = (size_t)r->content_length;

	if (r->method_len == 3 && memcmp(r->method, "GET", 3) == 0 &&
	    path_is(r, "/health", 1))
		return queue_response(c, "200 OK", "text/plain", "ok");
	if (!(r->method_len == 4 && memcmp(r->method, "POST", 4) == 0 &&
	    path_is(r, "/chat/completions", 0)))
		return queue_json_error(c, "404 Not Found", "no such route",
		    "not_found");
	if (find_model(c, body, blen) != 0 || parse_model(c) != 0)
		return queue_json_error(c, "404 Not Found",
		    "model not found (want bench-<DELTAS>x<RATE>)",
		    "model_not_found");
	return stream_start(c);
}

/* Case-insensitive match of header line h (length n) against "name:". */
static const char *
header_value(const char *h, size_t n, const char *name)
{
	size_t k = strlen(name);

	if (n <= k || strncasecmp(h, name, k) != 0 || h[k] != ':')
		return NULL;
	for (h += k + 1; *h == ' ' || *h == '\t'; h++)
		;
	return h;
}

/* Read one header line into r; 0, or -1 on a bad value. */
static int
parse_header(struct req *r, const char *h, size_t n)
{
	const char *v, *end = h + n;

	if ((v = header_value(h, n, "content-length")) != NULL)
		return bench_parse_u64n(v, (size_t)(end - v), 0, UINT64_MAX,
		    &r->content_length);
	if ((v = header_value(h, n, "expect")) != NULL)
		r->expect_continue = strncasecmp(v, "100-continue", 12) == 0;
	else if ((v = header_value(h, n, "connection")) != NULL)
		r->close = strncasecmp(v, "close", 5) == 0;
	else if ((v = header_value(h, n, "transfer-encoding")) != NULL)
		r->chunked = 1;
	return 0;
}

/*
 * Parse the request head at the start of c->in.  Returns 1 when parsed,
 * 0 when more bytes are needed, -1 on a malformed head.
 */
static int
parse_head(const struct conn *c, struct req *r)
{
	const char *p = c->in, *end, *eol, *sp;

	memset(r, 0, sizeof(*r));
	if ((end = memmem(p, c->in_len, "\r\n\r\n", 4)) == NULL)
		return c->in_len >= REQ_HEAD_MAX ? -1 : 0;
	r->head_len = (size_t)(end - p) + 4;
	if (r->head_len > REQ_HEAD_MAX)
		return -1;
	eol = memmem(p, (size_t)(end - p) + 2, "\r\n", 2);
	r->method = p;
	if ((sp = memchr(p, ' ', (size_t)(eol - p))) == NULL)
		return -1;
	r->method_len = (size_t)(sp - p);
	r->path = sp + 1;
	if ((sp = memchr(r->path, ' ', (size_t)(eol - r->path))) == NULL)
		return -1;
	r->path_len = (size_t)(sp - r->path);
	r->http10 = (size_t)(eol - sp - 1) == 8 &&
	    memcmp(sp + 1, "HTTP/1.0", 8) == 0;
	for (p = eol + 2; p < end + 2; p = eol + 2) {
		eol = memmem(p, (size_t)(end + 2 - p), "\r\n", 2);
		if (parse_header(r, p, (size_t)(eol - p)) != 0)
			return -1;
	}
	return 1;
}

/* Answer a request we will not serve, then close. */
static void
conn_refuse(struct conn *c, const char *status)
{
	c->close_after = 1;
	if (queue_json_error(c, status, "bad request", "bad_request") != 0)
		conn_close(c);
	else
		(void)conn_flush(c);
}

/* Handle every complete request buffered on c while it is not streaming. */
static void
conn_process(struct conn *c)
{
	struct req r;
	size_t used;
	int rc;

	while (c->state == ST_READ && c->in_len > 0) {
		if ((rc = parse_head(c, &r)) == 0)
			return;
		if (rc < 0 || r.chunked || r.content_length > REQ_BODY_MAX) {
			conn_refuse(c, rc < 0 ? "400 Bad Request" :
			    r.chunked ? "411 Length Required" :
			    "413 Payload Too Large");
			return;
		}
		if (c->in_len - r.head_len < r.content_length) {
			if (r.expect_continue && !c->sent_continue) {
				c->sent_continue = 1;
				if (bench_queue_printf(&c->out,
				    "HTTP/1.1 100 Continue\r\n\r\n") != 0)
					conn_close(c);
				else
					(void)conn_flush(c);
			}
			return;
		}
		c->close_after = r.close || r.http10;
		if (dispatch(c, &r) != 0) {
			conn_close(c);
			return;
		}
		used = r.head_len + (size_t)r.content_length;
		memmove(c->in, c->in + used, c->in_len - used);
		c->in_len -= used;
		c->sent_continue = 0;
		if (conn_flush(c) != 0)
			return;
	}
}

/* Read what the socket has into c->in; closes c on EOF or error. */
static void
conn_read(struct conn *c)
{
	ssize_t n;
	size_t ncap;
	char *p;

	for (;;) {
		if (c->in_len == c->in_cap) {
			if (c->in_cap >= IN_MAX) {
				conn_close(c);
				return;
			}
			ncap = c->in_cap ? c->in_cap * 2 : 4096;
			if ((p = realloc(c->in, ncap)) == NULL) {
				conn_close(c);
				return;
			}
			c->in = p;
			c->in_cap = ncap;
		}
		n = read(c->fd, c->in + c->in_len, c->in_cap - c->in_len);
		if (n > 0) {
			c->in_len += (size_t)n;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			break;
		conn_close(c);   /* EOF or error: the client is gone */
		return;
	}
	conn_process(c);
}

static void
conn_event(struct conn *c, uint32_t events)
{
	if (c->fd < 0)
		return;
	if (events & (EPOLLERR | EPOLLHUP)) {
		conn_close(c);
		return;
	}
	if ((events & EPOLLOUT) && conn_flush(c) != 0)
		return;
	if (events & (EPOLLIN | EPOLLRDHUP))
		conn_read(c);
}

/*
 * Out of descriptors: the pending connection would keep the listener
 * readable (level-triggered: a busy loop of failing accepts) and its
 * client waiting.  Give up the spare descriptor, accept it, close it (the
 * client sees the connection end at once), take the spare back.  0 when
 * one was shed, -1 when there was none (or no spare).
 */
static int
shed_one(void)
{
	int fd;

	if (spare_fd < 0)
		return -1;
	close(spare_fd);
	fd = accept4(listen_fd, NULL, NULL, SOCK_CLOEXEC);
	if (fd >= 0) {
		close(fd);
		shed_conns++;
	}
	spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	return fd >= 0 ? 0 : -1;
}

static void
accept_all(void)
{
	static int warned_fds;
	struct conn *c;
	int fd, one = 1;

	for (;;) {
		fd = accept4(listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno == EMFILE || errno == ENFILE) {
				if (!warned_fds) {
					fprintf(stderr, "upstream: accept: %s with %llu "
					    "connections open (RLIMIT_NOFILE %llu): "
					    "closing new connections at once\n",
					    strerror(errno),
					    (unsigned long long)open_conns,
					    (unsigned long long)nofile);
					warned_fds = 1;
				}
				if (shed_one() != 0)
					return;
				continue;
			}
			return;
		}
		(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		if ((c = calloc(1, sizeof(*c))) == NULL) {
			close(fd);
			continue;
		}
		c->fd = fd;
		c->heap_idx = SIZE_MAX;
		bench_queue_init(&c->out, OUT_MAX);
		if (++open_conns > max_open_conns)
			max_open_conns = open_conns;
		if (bench_epoll(ep, EPOLL_CTL_ADD, fd, EPOLLIN | EPOLLRDHUP,
		    c) != 0)
			conn_close(c);
	}
}

/* Write every delta that is due, then re-arm the timer. */
static void
run_due(void)
{
	uint64_t exp, now = bench_now_ns();
	struct conn *c;

	(void)read(timer_fd, &exp, sizeof(exp));
	armed_ns = 0;
	while (heap_len > 0 && heap[0]->due_ns <= now) {
		c = heap[0];
		heap_remove(c);
		stream_tick(c);
		if (heap_len > 0 && heap[0]->due_ns > now)
			now = bench_now_ns();
	}
}

static int
listen_on(uint16_t port)
{
	struct sockaddr_in sa;
	socklen_t sl = sizeof(sa);
	int one = 1;

	listen_fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
	    0);
	if (listen_fd < 0)
		return -1;
	(void)setsockopt(listen_fd, SOL_SOCKET, SO_REUSEADDR, &one,
	    sizeof(one));
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_port = htons(port);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(listen_fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 ||
	    listen(listen_fd, LISTEN_BACKLOG) != 0 ||
	    getsockname(listen_fd, (struct sockaddr *)&sa, &sl) != 0)
		return -1;
	printf("listening on 127.0.0.1:%u\n", (unsigned)ntohs(sa.sin_port));
	fflush(stdout);
	return 0;
}

/* Create epoll, the timer and the signal fd; 0 or -1. */
static int
setup_loop(void)
{
	sigset_t mask;

	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	if (sigprocmask(SIG_BLOCK, &mask, NULL) != 0)
		return -1;
	signal(SIGPIPE, SIG_IGN);
	if ((ep = epoll_create1(EPOLL_CLOEXEC)) < 0 ||
	    (sig_fd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC)) < 0 ||
	    (timer_fd = timerfd_create(CLOCK_MONOTONIC,
	    TFD_NONBLOCK | TFD_CLOEXEC)) < 0)
		return -1;
	if (bench_epoll(ep, EPOLL_CTL_ADD, sig_fd, EPOLLIN, &tag_signal) != 0 ||
	    bench_epoll(ep, EPOLL_CTL_ADD, timer_fd, EPOLLIN, &tag_timer) != 0)
		return -1;
	return 0;
}

static void
usage(void)
{
	fprintf(stderr, "usage: upstream --port PORT   (0 = any free port)\n");
	exit(2);
}

int
main(int argc, char **argv)
{
	struct epoll_event evs[EVENTS_MAX];
	uint64_t port;
	int i, n;

	if (argc != 3 || strcmp(argv[1], "--port") != 0 ||
	    bench_parse_u64(argv[2], 0, 65535, &port) != 0)
		usage();
	nofile = bench_raise_nofile();
	spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	fprintf(stderr, "upstream: descriptor limit %llu\n",
	    (unsigned long long)nofile);
	if (setup_loop() != 0 || listen_on((uint16_t)port) != 0 ||
	    bench_epoll(ep, EPOLL_CTL_ADD, listen_fd, EPOLLIN,
	    &tag_listen) != 0) {
		perror("upstream");
		return 1;
	}
	for (;;) {
		timer_arm();
		n = epoll_wait(ep, evs, EVENTS_MAX, -1);
		if (n < 0 && errno != EINTR) {
			perror("upstream: epoll_wait");
			return 1;
		}
		for (i = 0; i < n; i++) {
			if (evs[i].data.ptr == &tag_signal)
				goto done;
			if (evs[i].data.ptr == &tag_listen)
				accept_all();
			else if (evs[i].data.ptr == &tag_timer)
				run_due();
			else
				conn_event(evs[i].data.ptr, evs[i].events);
		}
		free_dead();
	}
done:
	fprintf(stderr, "upstream: streams started=%llu completed=%llu "
	    "aborted=%llu deltas=%llu max_lateness_us=%llu late_1ms=%llu "
	    "late_10ms=%llu max_open_connections=%llu shed_connections=%llu\n",
	    (unsigned long long)st.started, (unsigned long long)st.completed,
	    (unsigned long long)st.aborted, (unsigned long long)st.deltas,
	    (unsigned long long)(st.max_late_ns / 1000),
	    (unsigned long long)st.late_1ms, (unsigned long long)st.late_10ms,
	    (unsigned long long)max_open_conns, (unsigned long long)shed_conns);
	return 0;
}
