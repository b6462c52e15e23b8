/*
 * http_stub.h — a scripted HTTP/1.1 server on 127.0.0.1 in a thread, for
 * unit tests that drive libcurl (test_upstream.c).
 *
 * One connection at a time: it reads a request (head and Content-Length
 * body), then plays the reply for that request's number (the last reply
 * repeats), step by step: send bytes, wait for the test (stub_go), cut
 * the connection, or hang until the client closes.  A reply that ends
 * keeps the connection for the next request (keep-alive).
 *
 * What it saw is counted under a mutex (accepts, requests and when each
 * came, client hang-ups): the test waits on the condition variable
 * (stub_wait) or, from an event loop, on the note pipe, which gets a byte
 * after every change.  Nothing sleeps; every wait of the thread also
 * watches a wake pipe, so stub_stop ends it at once.
 */
#ifndef CS_HTTP_STUB_H
#define CS_HTTP_STUB_H

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "stream.h" /* cs_now_ms: the clock upstream.c measures with */
#include "testutil.h"

#define STUB_MAX_STEPS 8
#define STUB_MAX_REQS  16
#define STUB_HEAD_MAX  8192

enum stub_op {
	STUB_END = 0, /* the reply is complete; read the next request */
	STUB_SEND,    /* write .data */
	STUB_WAIT_GO, /* wait until stub_go() was called .n times in all */
	STUB_CUT,     /* close the connection now */
	STUB_HANG,    /* send nothing more; wait for the client to close */
};

struct stub_step {
	enum stub_op op;
	const char *data;
	int n;
};

struct stub_reply {
	struct stub_step steps[STUB_MAX_STEPS];
};

struct http_stub {
	const struct stub_reply *replies; /* reply i answers request i */
	size_t n_replies;
	int port;
	/* Counts, under mu; cv is broadcast (and note written) on change. */
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int accepts;
	int requests;
	int hangups; /* the client closed while a reply hung or
	                        waited: a cancelled transfer */
	int gos;
	int stop;
	int64_t req_at[STUB_MAX_REQS]; /* cs_now_ms() as each came in */
	char first_line[128];          /* of the last request */
	int lfd;
	int wake[2]; /* stub_go, stub_stop -> the thread */
	int note[2]; /* the thread -> the test's loop */
	pthread_t th;
};

/* Under mu: wake the waiters, and the loop watching note[0]. */
static void
stub_changed(struct http_stub *st)
{
	pthread_cond_broadcast(&st->cv);
	(void)!write(st->note[1], "n", 1);
}

/* Wait until fd is readable (1) or the stub is stopping (0). */
static int
stub_poll(struct http_stub *st, int fd)
{
	struct pollfd p[2] = { { fd, POLLIN, 0 }, { st->wake[0], POLLIN, 0 } };
	char c;
	int stop;

	for (;;) {
		/* The flag first: an earlier wait may have eaten the byte. */
		pthread_mutex_lock(&st->mu);
		stop = st->stop;
		pthread_mutex_unlock(&st->mu);
		if (stop)
			return 0;
		if (poll(p, 2, -1) < 0 && errno != EINTR)
			return 0;
		if (p[1].revents & POLLIN) {
			(void)!read(st->wake[0], &c, 1);
			if (fd < 0)
				return 1; /* the caller looks again */
		}
		if (p[0].revents != 0)
			return 1;
	}
}

/* Read one request on fd (head, then a Content-Length body).  1, or 0
 * when the client closed (or sent junk, or the stub stops). */
static int
stub_read_request(struct http_stub *st, int fd)
{
	char head[STUB_HEAD_MAX + 1], body[1024], *end, *cl;
	size_t used = 0, want = 0;
	ssize_t n;

	head[0] = '\0';
	while ((end = strstr(head, "\r\n\r\n")) == NULL) {
		if (used == STUB_HEAD_MAX || !stub_poll(st, fd) ||
		    (n = read(fd, head + used, STUB_HEAD_MAX - used)) <= 0)
			return 0;
		used += (size_t)n;
		head[used] = '\0';
	}
	for (cl = head; (cl = strchr(cl, '\n')) != NULL; cl++)
		if (strncasecmp(cl + 1, "content-length:", 15) == 0)
			want = strtoul(cl + 16, NULL, 10);
	used -= (size_t)(end + 4 - head);
	while (used < want) {
		if (!stub_poll(st, fd) ||
		    (n = read(fd, body, sizeof(body))) <= 0)
			return 0;
		used += (size_t)n;
	}
	pthread_mutex_lock(&st->mu);
	if (st->requests < STUB_MAX_REQS)
		st->req_at[st->requests] = cs_now_ms();
	snprintf(st->first_line, sizeof(st->first_line), "%.*s",
	    (int)strcspn(head, "\r"), head);
	st->requests++;
	stub_changed(st);
	pthread_mutex_unlock(&st->mu);
	return 1;
}

/* Play reply r on fd.  1: keep the connection; 0: it is closed. */
static int
stub_play(struct http_stub *st, int fd, const struct stub_reply *r)
{
	const struct stub_step *s;
	char c;
	size_t i;
	int ok;

	for (i = 0; i < STUB_MAX_STEPS; i++) {
		s = &r->steps[i];
		switch (s->op) {
		case STUB_END: return 1;
		case STUB_SEND:
			if (write(fd, s->data, strlen(s->data)) !=
			    (ssize_t)strlen(s->data))
				return 0;
			break;
		case STUB_WAIT_GO:
			for (;;) {
				pthread_mutex_lock(&st->mu);
				ok = st->gos >= s->n;
				pthread_mutex_unlock(&st->mu);
				if (ok || !stub_poll(st, -1))
					break;
			}
			if (!ok)
				return 0;
			break;
		case STUB_CUT: return 0;
		case STUB_HANG:
			while (stub_poll(st, fd))
				if (read(fd, &c, 1) <= 0) {
					pthread_mutex_lock(&st->mu);
					st->hangups++;
					stub_changed(st);
					pthread_mutex_unlock(&st->mu);
					break;
				}
			return 0;
		}
	}
	return 1;
}

static void *
stub_main(void *arg)
{
	struct http_stub *st = arg;
	const struct stub_reply *r;
	int fd, n;

	while (stub_poll(st, st->lfd)) {
		if ((fd = accept(st->lfd, NULL, NULL)) < 0)
			continue;
		pthread_mutex_lock(&st->mu);
		st->accepts++;
		stub_changed(st);
		pthread_mutex_unlock(&st->mu);
		while (stub_read_request(st, fd)) {
			pthread_mutex_lock(&st->mu);
			n = st->requests - 1;
			pthread_mutex_unlock(&st->mu);
			r = &st->replies[(size_t)n < st->n_replies ?
			        (size_t)n :
			        st->n_replies - 1];
			if (!stub_play(st, fd, r))
				break;
		}
		close(fd);
	}
	return NULL;
}

/* Listen on 127.0.0.1, a free port (st->port), and serve replies. */
static void
stub_start(
    struct http_stub *st, const struct stub_reply *replies, size_t n_replies)
{
	struct sockaddr_in sin;
	socklen_t len = sizeof(sin);

	memset(st, 0, sizeof(*st));
	st->replies = replies;
	st->n_replies = n_replies;
	pthread_mutex_init(&st->mu, NULL);
	pthread_cond_init(&st->cv, NULL);
	assert_int_equal(pipe2(st->wake, O_CLOEXEC), 0);
	assert_int_equal(pipe2(st->note, O_CLOEXEC | O_NONBLOCK), 0);
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_true(
	    (st->lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) >= 0);
	assert_int_equal(
	    bind(st->lfd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	assert_int_equal(listen(st->lfd, 8), 0);
	assert_int_equal(
	    getsockname(st->lfd, (struct sockaddr *)&sin, &len), 0);
	st->port = ntohs(sin.sin_port);
	assert_int_equal(pthread_create(&st->th, NULL, stub_main, st), 0);
}

/* Let the replies waiting in STUB_WAIT_GO go one step further. */
static void
stub_go(struct http_stub *st)
{
	pthread_mutex_lock(&st->mu);
	st->gos++;
	pthread_mutex_unlock(&st->mu);
	(void)!write(st->wake[1], "g", 1);
}

/* Wait (at most ms) until *counter (a field of st) reaches want. */
static int
stub_wait(struct http_stub *st, const int *counter, int want, long ms)
{
	struct timespec ts;
	int ok;

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += ms / 1000;
	ts.tv_nsec += (ms % 1000) * 1000000L;
	if (ts.tv_nsec >= 1000000000L) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&st->mu);
	while (*counter < want &&
	    pthread_cond_timedwait(&st->cv, &st->mu, &ts) == 0)
		;
	ok = *counter >= want;
	pthread_mutex_unlock(&st->mu);
	return ok;
}

/* Read a counter of st. */
static int
stub_count(struct http_stub *st, const int *counter)
{
	int v;

	pthread_mutex_lock(&st->mu);
	v = *counter;
	pthread_mutex_unlock(&st->mu);
	return v;
}

/* End the thread (whatever it waits for) and close everything. */
static void
stub_stop(struct http_stub *st)
{
	pthread_mutex_lock(&st->mu);
	st->stop = 1;
	pthread_mutex_unlock(&st->mu);
	(void)!write(st->wake[1], "s", 1);
	assert_int_equal(pthread_join(st->th, NULL), 0);
	close(st->lfd);
	close(st->wake[0]);
	close(st->wake[1]);
	close(st->note[0]);
	close(st->note[1]);
	pthread_cond_destroy(&st->cv);
	pthread_mutex_destroy(&st->mu);
}

#endif
