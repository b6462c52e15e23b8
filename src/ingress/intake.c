/* intake.c — the waiting room for requests still arriving; see intake.h. */
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "intake.h"
#include "list.h"
#include "log.h"
#include "stream.h" /* cs_now_ms */

#define FCGI_HEADER_LEN 8
#define FCGI_VERSION_1  1
#define FCGI_STDIN      5
#define EVENTS_MAX      64

struct parked {
	int fd;
	int ready;           /* on the ready list, out of epoll */
	long long t0, due;   /* accepted; handed over at the latest */
	size_t need;         /* bytes before there is news */
	struct cs_link link; /* on waiting or ready */
};

#define PARKED(l) CS_CONTAINER(l, struct parked, link)

/* All under lock; the lists and the epoll set change only with it held. */
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct cs_list waiting; /* by due time */
static struct cs_list ready;   /* FIFO */
static size_t count, max_count;
static long read_ms;
static int ep = -1, wake_fd = -1, ready_fd = -1;
static int running, stop;
static pthread_t thread;

int
cs_fcgi_scan(const unsigned char *p, size_t n, size_t *need)
{
	size_t off = 0, clen;

	if (n >= CS_INTAKE_READY_BYTES)
		return 1;
	while (off + FCGI_HEADER_LEN <= n) {
		if (p[off] != FCGI_VERSION_1)
			return 1; /* not FastCGI: libfcgi refuses it */
		clen = (size_t)p[off + 4] << 8 | p[off + 5];
		if (p[off + 1] == FCGI_STDIN && clen == 0)
			return 1; /* the end of the request */
		off += FCGI_HEADER_LEN + clen + p[off + 6];
	}
	*need = off + FCGI_HEADER_LEN;
	return 0;
}

/* Look at what has arrived on fd without taking it. */
static int
peek_ready(int fd, size_t *need)
{
	unsigned char *buf;
	int avail = 0, r;
	ssize_t n;

	if (ioctl(fd, FIONREAD, &avail) < 0)
		return 1; /* let the worker find out what is wrong */
	if (avail <= 0 || (size_t)avail < *need)
		return 0; /* a hang-up comes as its own event */
	if ((size_t)avail >= CS_INTAKE_READY_BYTES)
		return 1;
	if ((buf = malloc((size_t)avail)) == NULL)
		return 1;
	n = recv(fd, buf, (size_t)avail, MSG_PEEK | MSG_DONTWAIT);
	if (n > 0)
		r = cs_fcgi_scan(buf, (size_t)n, need);
	else
		r = n == 0 || (errno != EAGAIN && errno != EINTR);
	free(buf);
	return r;
}

int
cs_intake_ready(int fd)
{
	size_t need = FCGI_HEADER_LEN;

	return peek_ready(fd, &need);
}

/* Its wait is over: from epoll and the waiting list to the ready list. */
static void
to_ready(struct parked *p)
{
	epoll_ctl(ep, EPOLL_CTL_DEL, p->fd, NULL);
	cs_list_remove(&waiting, &p->link);
	p->ready = 1;
	cs_list_push_back(&ready, &p->link);
}

/* Did the peer hang up without a byte (a port probe, or a client that
 * gave up at once)?  No worker need look at that. */
static int
nothing_sent(int fd)
{
	int avail = 0;

	return ioctl(fd, FIONREAD, &avail) == 0 && avail == 0;
}

/* Forget a waiting connection and close it. */
static void
drop(struct parked *p)
{
	epoll_ctl(ep, EPOLL_CTL_DEL, p->fd, NULL);
	cs_list_remove(&waiting, &p->link);
	close(p->fd);
	free(p);
	count--;
}

/* The epoll timeout until the earliest hand-over (-1: none). */
static int
next_timeout(void)
{
	long long d;

	if (waiting.head == NULL)
		return -1;
	d = PARKED(waiting.head)->due - cs_now_ms();
	return d <= 0 ? 0 : d > INT_MAX ? INT_MAX : (int)d;
}

static void *
intake_main(void *arg)
{
	struct epoll_event ev[EVENTS_MAX];
	struct parked *p;
	eventfd_t v;
	long long now;
	int i, n, timeout, moved, hup;

	pthread_setname_np(pthread_self(), "cs-intake");

	(void)arg;
	for (;;) {
		pthread_mutex_lock(&lock);
		timeout = next_timeout();
		if (stop) {
			pthread_mutex_unlock(&lock);
			break;
		}
		pthread_mutex_unlock(&lock);
		if ((n = epoll_wait(ep, ev, EVENTS_MAX, timeout)) < 0) {
			if (errno != EINTR) {
				cs_warn("intake: epoll_wait");
				break;
			}
			n = 0;
		}
		pthread_mutex_lock(&lock);
		moved = 0;
		for (i = 0; i < n; i++) {
			if ((p = ev[i].data.ptr) == NULL) {
				(void)eventfd_read(wake_fd, &v);
				continue;
			}
			if (p->ready)
				continue;
			hup = (ev[i].events &
			          (EPOLLRDHUP | EPOLLHUP | EPOLLERR)) != 0;
			if (hup && nothing_sent(p->fd)) {
				drop(p); /* a probe, or a peer that left */
				continue;
			}
			if (hup || peek_ready(p->fd, &p->need)) {
				to_ready(p);
				moved = 1;
			}
		}
		now = cs_now_ms();
		while (
		    waiting.head != NULL && PARKED(waiting.head)->due <= now) {
			to_ready(PARKED(waiting.head));
			moved = 1;
		}
		if (moved)
			(void)eventfd_write(ready_fd, 1);
		pthread_mutex_unlock(&lock);
	}
	return NULL;
}

int
cs_intake_start(long timeout_ms, size_t max_parked)
{
	struct epoll_event e;
	int err;

	if (running)
		return 0;
	read_ms = timeout_ms;
	max_count = max_parked;
	stop = 0;
	if ((ep = epoll_create1(EPOLL_CLOEXEC)) < 0 ||
	    (wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) < 0 ||
	    (ready_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) < 0)
		goto fail;
	e.events = EPOLLIN;
	e.data.ptr = NULL;
	if (epoll_ctl(ep, EPOLL_CTL_ADD, wake_fd, &e) < 0)
		goto fail;
	if ((err = pthread_create(&thread, NULL, intake_main, NULL)) != 0) {
		errno = err;
		goto fail;
	}
	running = 1;
	return 0;
fail:
	err = errno;
	if (ep >= 0)
		close(ep);
	if (wake_fd >= 0)
		close(wake_fd);
	if (ready_fd >= 0)
		close(ready_fd);
	ep = wake_fd = ready_fd = -1;
	errno = err;
	return -1;
}

static void
close_list(struct cs_list *li)
{
	struct parked *p;

	while (li->head != NULL) {
		p = PARKED(li->head);
		cs_list_remove(li, &p->link);
		close(p->fd);
		free(p);
	}
}

void
cs_intake_stop(void)
{
	if (!running)
		return;
	pthread_mutex_lock(&lock);
	stop = 1;
	(void)eventfd_write(wake_fd, 1);
	pthread_mutex_unlock(&lock);
	pthread_join(thread, NULL);
	pthread_mutex_lock(&lock);
	running = 0;
	close_list(&waiting);
	close_list(&ready);
	count = 0;
	close(ep);
	close(wake_fd);
	close(ready_fd);
	ep = wake_fd = ready_fd = -1;
	pthread_mutex_unlock(&lock);
}

/* Into the waiting list by due time, from the tail (parks come in
 * accept order, so this is almost always the tail itself). */
static void
link_waiting(struct parked *p)
{
	struct cs_link *at = waiting.tail;

	while (at != NULL && PARKED(at)->due > p->due)
		at = at->prev;
	cs_list_insert_after(&waiting, at, &p->link);
}

int
cs_intake_park(int fd, long long t0_ms)
{
	struct epoll_event e;
	struct parked *p;
	int r = -1;

	pthread_mutex_lock(&lock);
	if (!running || stop || count >= max_count ||
	    (p = calloc(1, sizeof(*p))) == NULL)
		goto out;
	p->fd = fd;
	p->t0 = t0_ms;
	p->due = t0_ms + read_ms;
	p->need = FCGI_HEADER_LEN;
	link_waiting(p);
	/* Edge-triggered: the bytes stay unread, so level-triggered would
	 * report them for ever; each arrival is an edge, and bytes already
	 * there count as one when the fd is added. */
	e.events = EPOLLIN | EPOLLRDHUP | EPOLLET;
	e.data.ptr = p;
	if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &e) < 0) {
		cs_list_remove(&waiting, &p->link);
		free(p);
		goto out;
	}
	count++;
	if (waiting.head == &p->link) /* a new earliest hand-over */
		(void)eventfd_write(wake_fd, 1);
	r = 0;
out:
	pthread_mutex_unlock(&lock);
	return r;
}

int
cs_intake_take(long long *t0_ms)
{
	struct parked *p;
	eventfd_t v;
	int fd = -1;

	pthread_mutex_lock(&lock);
	p = ready.head != NULL ? PARKED(ready.head) : NULL;
	if (p != NULL) {
		cs_list_remove(&ready, &p->link);
		if (ready.head == NULL)
			(void)eventfd_read(ready_fd, &v); /* none left */
		count--;
	}
	pthread_mutex_unlock(&lock);
	if (p != NULL) {
		fd = p->fd;
		*t0_ms = p->t0;
		free(p);
	}
	return fd;
}

int
cs_intake_fd(void)
{
	return running ? ready_fd : -1;
}
