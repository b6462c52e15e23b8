/*
 * bench_util.h — small helpers shared by the load tools in bench/src:
 * the monotonic clock, strict number parsing, nonblocking sockets, the
 * descriptor limit and a bounded output queue.
 *
 * Both tools are single-threaded epoll loops; nothing here locks.
 */
#ifndef BENCH_UTIL_H
#define BENCH_UTIL_H

#include <stddef.h>
#include <stdint.h>

#define NS_PER_SEC 1000000000ULL

/* CLOCK_MONOTONIC in nanoseconds. */
uint64_t bench_now_ns(void);

/*
 * Parse all of s as a decimal number in [min, max] into *out.
 * Returns 0, or -1 (and leaves *out alone) on junk, sign or range error.
 */
int bench_parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out);
/* The same for the n bytes at s (need not be NUL-terminated). */
int bench_parse_u64n(const char *s, size_t n, uint64_t min, uint64_t max,
    uint64_t *out);

/* Raise RLIMIT_NOFILE to its hard limit; returns the new soft limit. */
uint64_t bench_raise_nofile(void);
/* Set O_NONBLOCK on fd; 0 or -1. */
int bench_set_nonblock(int fd);
/* Add (op EPOLL_CTL_ADD) or change the events fd waits for; ptr is the tag. */
int bench_epoll(int ep, int op, int fd, uint32_t events, void *ptr);

/*
 * A byte queue for nonblocking writes: appended at the end, sent from off.
 * Appending past max fails and leaves the queue unchanged.
 */
struct bench_queue {
	char  *data;  /* NULL until the first append; owned */
	size_t off;   /* first unsent byte */
	size_t len;   /* end of queued bytes */
	size_t cap;   /* allocated */
	size_t max;   /* hard limit on len - off */
};

void bench_queue_init(struct bench_queue *q, size_t max);
/* Free the storage; NULL-safe; the queue may be reused after init. */
void bench_queue_free(struct bench_queue *q);
/* Append n bytes; 0, or -1 when over max or out of memory. */
int bench_queue_append(struct bench_queue *q, const void *p, size_t n);
/* printf-style append, bounded by max; 0 or -1. */
int bench_queue_printf(struct bench_queue *q, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Bytes still to send. */
size_t bench_queue_pending(const struct bench_queue *q);
/*
 * Write what is queued to fd.  Returns 1 when the queue is empty, 0 when
 * the socket would block with bytes left, -1 on a write error (errno set).
 */
int bench_queue_flush(struct bench_queue *q, int fd);

#endif /* BENCH_UTIL_H */
