/* bench_util.c — helpers shared by the load tools; see bench_util.h. */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "bench_util.h"

/* Smallest allocation of a queue, so short writes do not realloc often. */
#define QUEUE_MIN_CAP 512

uint64_t
bench_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * NS_PER_SEC + (uint64_t)ts.tv_nsec;
}

int
bench_parse_u64n(const char *s, size_t n, uint64_t min, uint64_t max,
    uint64_t *out)
{
	uint64_t v = 0;
	size_t i;

	if (n == 0 || n > 20)
		return -1;
	for (i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		if (v > (UINT64_MAX - (uint64_t)(s[i] - '0')) / 10)
			return -1;
		v = v * 10 + (uint64_t)(s[i] - '0');
	}
	if (v < min || v > max)
		return -1;
	*out = v;
	return 0;
}

int
bench_parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
	if (s == NULL)
		return -1;
	return bench_parse_u64n(s, strlen(s), min, max, out);
}

uint64_t
bench_raise_nofile(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
		return 0;
	if (rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		(void)setrlimit(RLIMIT_NOFILE, &rl);
		(void)getrlimit(RLIMIT_NOFILE, &rl);
	}
	return (uint64_t)rl.rlim_cur;
}

int
bench_set_nonblock(int fd)
{
	int fl = fcntl(fd, F_GETFL);

	if (fl < 0)
		return -1;
	return fcntl(fd, F_SETFL, fl | O_NONBLOCK);
}

int
bench_epoll(int ep, int op, int fd, uint32_t events, void *ptr)
{
	struct epoll_event ev;

	memset(&ev, 0, sizeof(ev));
	ev.events = events;
	ev.data.ptr = ptr;
	return epoll_ctl(ep, op, fd, &ev);
}

void
bench_queue_init(struct bench_queue *q, size_t max)
{
	q->data = NULL;
	q->off = q->len = q->cap = 0;
	q->max = max;
}

void
bench_queue_free(struct bench_queue *q)
{
	if (q == NULL)
		return;
	free(q->data);
	q->data = NULL;
	q->off = q->len = q->cap = 0;
}

size_t
bench_queue_pending(const struct bench_queue *q)
{
	return q->len - q->off;
}

/* Make room for n more bytes: compact sent bytes away, then grow. */
static int
queue_reserve(struct bench_queue *q, size_t n)
{
	size_t ncap;
	char *p;

	if (n > q->max || bench_queue_pending(q) > q->max - n)
		return -1;
	if (q->off > 0) {
		memmove(q->data, q->data + q->off, q->len - q->off);
		q->len -= q->off;
		q->off = 0;
	}
	if (q->len + n <= q->cap)
		return 0;
	ncap = q->cap ? q->cap : QUEUE_MIN_CAP;
	while (ncap < q->len + n)
		ncap *= 2;
	if ((p = realloc(q->data, ncap)) == NULL)
		return -1;
	q->data = p;
	q->cap = ncap;
	return 0;
}

int
bench_queue_append(struct bench_queue *q, const void *p, size_t n)
{
	if (queue_reserve(q, n) != 0)
		return -1;
	memcpy(q->data + q->len, p, n);
	q->len += n;
	return 0;
}

int
bench_queue_printf(struct bench_queue *q, const char *fmt, ...)
{
	size_t room = q->cap - q->len;
	va_list ap;
	int n;

	/* Usually the text fits behind the queued bytes: format once. */
	va_start(ap, fmt);
	n = vsnprintf(room ? q->data + q->len : NULL, room, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n > q->max - bench_queue_pending(q))
		return -1;
	if ((size_t)n >= room) {
		if (queue_reserve(q, (size_t)n + 1) != 0)
			return -1;
		va_start(ap, fmt);
		(void)vsnprintf(q->data + q->len, (size_t)n + 1, fmt, ap);
		va_end(ap);
	}
	q->len += (size_t)n;
	return 0;
}

int
bench_queue_flush(struct bench_queue *q, int fd)
{
	ssize_t w;

	while (q->off < q->len) {
		w = write(fd, q->data + q->off, q->len - q->off);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return 0;
			return -1;
		}
		q->off += (size_t)w;
	}
	q->off = q->len = 0;
	return 1;
}
