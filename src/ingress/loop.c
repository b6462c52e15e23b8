/*
 * loop.c — one event loop: epoll, a timer heap, a libcurl multi handle and
 * a queue of posted calls; see loop.h.
 *
 * A pass (cs_loop_run_once) waits in epoll_wait (level-triggered, at most
 * EVENTS_MAX events) no longer than the earliest timer, calls the watches
 * that are ready, then the timers that are due, then the calls posted
 * since the last pass.  Each phase is bounded, so no callback can starve
 * the others: a batch of events is taken once; a timer phase fires only
 * timers that were due when it began (one armed during the phase for a
 * time already reached moves to the next millisecond, so a timer that
 * keeps re-arming itself for the past fires at most once a pass instead
 * of for ever); the posted calls are taken whole from the queue, and those
 * they post wait for the next pass.
 *
 * Callbacks may unwatch and free any watch, including one whose event is
 * still in the batch: cs_loop_unwatch clears that watch's pending entries
 * (data.ptr = NULL), so dispatch never touches it again.  A watch counts
 * as watched while its fn is set, so a zeroed watch is not watched.
 *
 * libcurl runs through its socket and timer callbacks: each socket it
 * names gets a struct curl_sock (its socketp) holding a watch, and its one
 * timeout is the internal timer curl_timer.  After every
 * curl_multi_socket_action the finished transfers are taken off the multi
 * handle and their done callbacks run; nothing calls into libcurl from
 * inside a libcurl callback.
 *
 * Other threads only touch the post queue (under lock), the stop flag and
 * the load count (atomics); an eventfd wakes the wait.
 */
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "list.h"
#include "log.h"
#include "loop.h"
#include "stream.h" /* cs_now_ms: the monotonic clock */

#define EVENTS_MAX    256 /* epoll events dispatched per pass */
#define CURL_IDLE_MAX 256 /* idle provider connections a loop keeps */
#define HEAP_MIN      16  /* first size of the timer heap */
#define HUP_EVENTS    (EPOLLRDHUP | EPOLLHUP | EPOLLERR)

/* A call posted by cs_loop_post, queued until the loop runs it. */
struct post {
	struct post *next;
	cs_post_fn fn;
	void *arg;
};

/* A socket libcurl asked the loop to watch (its socketp). */
struct curl_sock {
	struct cs_watch w;
	struct cs_loop *l;
	curl_socket_t fd;
	struct cs_link link; /* on l->socks */
};

#define CURL_SOCK(lk) CS_CONTAINER(lk, struct curl_sock, link)

struct cs_loop {
	int ep;      /* the epoll set */
	int wake_fd; /* eventfd: a post, or stop */
	struct cs_watch wake;
	int in_pass; /* inside cs_loop_run_once */

	/* The batch being dispatched (NULL between dispatches). */
	struct epoll_event *batch;
	int batch_i, batch_n;

	/* Min-heap of armed timers by due; heap[i]->slot == i + 1. */
	struct cs_timer **heap;
	size_t nheap, capheap;
	int firing;       /* in the timer phase */
	int64_t fire_now; /* the clock of that phase */

	CURLM *multi;
	struct cs_timer curl_timer; /* libcurl's timeout */
	struct cs_list socks;       /* struct curl_sock */

	pthread_mutex_t lock; /* guards the post queue */
	struct post *post_head, *post_tail;
	_Atomic int stop;
	_Atomic int load;
};

/* --- watches --- */

/* The epoll mask for what a watch asks (hang-ups always). */
static uint32_t
to_epoll(unsigned events)
{
	uint32_t e = EPOLLRDHUP;

	if (events & CS_IO_IN)
		e |= EPOLLIN;
	if (events & CS_IO_OUT)
		e |= EPOLLOUT;
	return e;
}

/*
 * What to report for epoll events e on a watch asking for asked: readiness
 * it still asks for (it may have changed since the wait), and a hang-up
 * with CS_IO_IN, so a reader goes on to read the EOF.
 */
static unsigned
to_cs(uint32_t e, unsigned asked)
{
	unsigned r = 0;

	if (e & EPOLLIN)
		r |= CS_IO_IN;
	if (e & EPOLLOUT)
		r |= CS_IO_OUT;
	r &= asked;
	if (e & HUP_EVENTS)
		r |= CS_IO_HUP | CS_IO_IN;
	return r;
}

/* A zeroed or unwatched w is added; a watched one is moved to fd. */
int
cs_loop_watch(struct cs_loop *l, struct cs_watch *w, int fd, unsigned events,
    cs_io_fn fn, void *arg)
{
	struct epoll_event e;

	if (fd < 0 || fn == NULL) {
		errno = EINVAL;
		return -1;
	}
	cs_loop_unwatch(l, w);
	events &= CS_IO_IN | CS_IO_OUT;
	e.events = to_epoll(events);
	e.data.ptr = w;
	if (epoll_ctl(l->ep, EPOLL_CTL_ADD, fd, &e) < 0)
		return -1;
	w->fd = fd;
	w->events = events;
	w->fn = fn;
	w->arg = arg;
	return 0;
}

/* One epoll_ctl when what w asks for changes; none when it does not. */
int
cs_loop_rewatch(struct cs_loop *l, struct cs_watch *w, unsigned events)
{
	struct epoll_event e;

	if (w->fn == NULL) {
		errno = EINVAL;
		return -1;
	}
	events &= CS_IO_IN | CS_IO_OUT;
	if (events == w->events)
		return 0;
	e.events = to_epoll(events);
	e.data.ptr = w;
	if (epoll_ctl(l->ep, EPOLL_CTL_MOD, w->fd, &e) < 0)
		return -1;
	w->events = events;
	return 0;
}

/*
 * Besides leaving the epoll set, w loses the events of the batch being
 * dispatched that are still to come: its owner may free it once this
 * returns.
 */
void
cs_loop_unwatch(struct cs_loop *l, struct cs_watch *w)
{
	int i;

	if (w->fn == NULL)
		return;
	/* Fails only when the fd is closed already: epoll forgot it then. */
	(void)epoll_ctl(l->ep, EPOLL_CTL_DEL, w->fd, NULL);
	for (i = l->batch_i + 1; l->batch != NULL && i < l->batch_n; i++)
		if (l->batch[i].data.ptr == w)
			l->batch[i].data.ptr = NULL;
	w->fd = -1;
	w->events = 0;
	w->fn = NULL;
	w->arg = NULL;
}

/* Call the watches of a batch of n events (entries cleared: gone). */
static void
dispatch(struct cs_loop *l, struct epoll_event *ev, int n)
{
	struct cs_watch *w;
	unsigned got;

	l->batch = ev;
	l->batch_n = n;
	for (l->batch_i = 0; l->batch_i < n; l->batch_i++) {
		if ((w = ev[l->batch_i].data.ptr) == NULL)
			continue;
		got = to_cs(ev[l->batch_i].events, w->events);
		if (got != 0)
			w->fn(w->arg, got); /* w may be freed now */
	}
	l->batch = NULL;
	l->batch_i = l->batch_n = 0;
}

/* --- timers --- */

/* Put t at index i of the heap. */
static void
heap_set(struct cs_loop *l, size_t i, struct cs_timer *t)
{
	l->heap[i] = t;
	t->slot = i + 1;
}

/* Move the timer at index i up to its place. */
static void
sift_up(struct cs_loop *l, size_t i)
{
	struct cs_timer *t = l->heap[i];
	size_t parent;

	while (i > 0) {
		parent = (i - 1) / 2;
		if (l->heap[parent]->due <= t->due)
			break;
		heap_set(l, i, l->heap[parent]);
		i = parent;
	}
	heap_set(l, i, t);
}

/* Move the timer at index i down to its place. */
static void
sift_down(struct cs_loop *l, size_t i)
{
	struct cs_timer *t = l->heap[i];
	size_t c;

	while ((c = 2 * i + 1) < l->nheap) {
		if (c + 1 < l->nheap && l->heap[c + 1]->due < l->heap[c]->due)
			c++;
		if (t->due <= l->heap[c]->due)
			break;
		heap_set(l, i, l->heap[c]);
		i = c;
	}
	heap_set(l, i, t);
}

/* The timer at index i has a new due time: restore the heap order. */
static void
heap_fix(struct cs_loop *l, size_t i)
{
	if (i > 0 && l->heap[i]->due < l->heap[(i - 1) / 2]->due)
		sift_up(l, i);
	else
		sift_down(l, i);
}

/*
 * Room for one more timer.  The API cannot fail here (arming is void), and
 * a timer silently not armed would hang whatever waits on it, so running
 * out of memory for a few pointers ends the process.
 */
static void
heap_reserve(struct cs_loop *l)
{
	struct cs_timer **h;
	size_t cap;

	if (l->nheap < l->capheap)
		return;
	cap = l->capheap != 0 ? l->capheap * 2 : HEAP_MIN;
	if (cap > SIZE_MAX / sizeof(*h) ||
	    (h = realloc(l->heap, cap * sizeof(*h))) == NULL) {
		cs_warnx("loop: out of memory for %zu timers", cap);
		abort();
	}
	l->heap = h;
	l->capheap = cap;
}

/* Take the armed timer t out of the heap. */
static void
heap_remove(struct cs_loop *l, struct cs_timer *t)
{
	size_t i = t->slot - 1;
	struct cs_timer *last = l->heap[--l->nheap];

	t->slot = 0;
	if (last == t)
		return;
	heap_set(l, i, last);
	heap_fix(l, i);
}

/* A disarmed timer calling fn(arg). */
void
cs_timer_init(struct cs_timer *t, cs_timer_fn fn, void *arg)
{
	t->due = 0;
	t->slot = 0;
	t->fn = fn;
	t->arg = arg;
}

/*
 * During the timer phase a time it has reached means the next millisecond:
 * the phase fires only what was due when it began, so it ends.
 */
void
cs_loop_timer_at(struct cs_loop *l, struct cs_timer *t, int64_t due)
{
	if (l->firing && due <= l->fire_now)
		due = l->fire_now + 1;
	t->due = due;
	if (t->slot != 0) {
		heap_fix(l, t->slot - 1);
		return;
	}
	heap_reserve(l);
	heap_set(l, l->nheap++, t);
	sift_up(l, l->nheap - 1);
}

/* Out of the heap; the owner may free t from here on. */
void
cs_loop_timer_cancel(struct cs_loop *l, struct cs_timer *t)
{
	if (t->slot != 0)
		heap_remove(l, t);
}

/* In the heap: it will fire unless cancelled (not while it fires). */
int
cs_timer_armed(const struct cs_timer *t)
{
	return t->slot != 0;
}

/* Fire the timers that are due, each disarmed before its fn runs. */
static void
run_timers(struct cs_loop *l)
{
	struct cs_timer *t;

	l->fire_now = cs_now_ms();
	l->firing = 1;
	while (l->nheap > 0 && (t = l->heap[0])->due <= l->fire_now) {
		heap_remove(l, t);
		t->fn(t->arg);
	}
	l->firing = 0;
}

/* How long a pass may wait: max_ms, or less if a timer is due sooner. */
static int
wait_ms(const struct cs_loop *l, long max_ms)
{
	int64_t ms = max_ms < 0 ? -1 : max_ms, d;

	if (l->nheap > 0) {
		d = l->heap[0]->due - cs_now_ms();
		if (d < 0)
			d = 0;
		if (ms < 0 || d < ms)
			ms = d;
	}
	return ms > INT_MAX ? INT_MAX : (int)ms;
}

/* --- libcurl --- */

/*
 * Hand every finished transfer to its owner.  The slot is the owner's once
 * done runs (it may free it, or add and remove transfers), so it is not
 * looked at again; libcurl's message goes with the removed handle, so its
 * fields are read first.
 */
static void
drain(struct cs_loop *l)
{
	struct cs_xfer_slot *x;
	CURLMsg *m;
	CURL *easy;
	CURLcode result;
	char *priv;
	int left;

	while ((m = curl_multi_info_read(l->multi, &left)) != NULL) {
		if (m->msg != CURLMSG_DONE)
			continue;
		easy = m->easy_handle;
		result = m->data.result;
		priv = NULL;
		(void)curl_easy_getinfo(easy, CURLINFO_PRIVATE, &priv);
		x = (struct cs_xfer_slot *)(void *)priv;
		(void)curl_multi_remove_handle(l->multi, easy);
		if (x == NULL)
			continue;
		x->easy = NULL;
		if (x->done != NULL)
			x->done(x->arg, result);
	}
}

/* Let libcurl act on fd (or its timeout), then hand over what finished. */
static void
socket_action(struct cs_loop *l, curl_socket_t fd, int mask)
{
	CURLMcode mc;
	int running;

	mc = curl_multi_socket_action(l->multi, fd, mask, &running);
	if (mc != CURLM_OK)
		cs_warnx("loop: curl_multi_socket_action: %s",
		    curl_multi_strerror(mc));
	drain(l);
}

/* A libcurl socket is ready; cs may be freed by the time this returns. */
static void
sock_io(void *arg, unsigned events)
{
	struct curl_sock *cs = arg;
	int mask = 0;

	if (events & CS_IO_IN)
		mask |= CURL_CSELECT_IN;
	if (events & CS_IO_OUT)
		mask |= CURL_CSELECT_OUT;
	if (events & CS_IO_HUP)
		mask |= CURL_CSELECT_IN | CURL_CSELECT_ERR;
	socket_action(cs->l, cs->fd, mask);
}

/* A curl_sock for libcurl's socket s, which becomes its socketp. */
static struct curl_sock *
sock_new(struct cs_loop *l, curl_socket_t s)
{
	struct curl_sock *cs;

	if ((cs = calloc(1, sizeof(*cs))) == NULL)
		return NULL;
	cs->w.fd = -1;
	cs->l = l;
	cs->fd = s;
	cs_list_push_back(&l->socks, &cs->link);
	(void)curl_multi_assign(l->multi, s, cs);
	return cs;
}

/* Stop watching a libcurl socket and free its curl_sock. */
static void
sock_free(struct cs_loop *l, struct curl_sock *cs)
{
	cs_loop_unwatch(l, &cs->w);
	cs_list_remove(&l->socks, &cs->link);
	free(cs);
}

/*
 * CURLMOPT_SOCKETFUNCTION: watch s for what libcurl wants.  With nothing
 * wanted (CURL_POLL_NONE) s leaves the epoll set, else a hang-up would be
 * reported on every pass to a transfer that is not reading.  It never
 * returns -1: libcurl would mark the whole multi handle dead; a socket
 * that cannot be watched leaves its transfer to its own timeouts.
 */
static int
sock_cb(CURL *easy, curl_socket_t s, int what, void *userp, void *socketp)
{
	struct cs_loop *l = userp;
	struct curl_sock *cs = socketp;
	unsigned ev = 0;
	int r = 0;

	(void)easy;
	if (what == CURL_POLL_REMOVE) {
		if (cs != NULL)
			sock_free(l, cs);
		return 0;
	}
	if (what & CURL_POLL_IN)
		ev |= CS_IO_IN;
	if (what & CURL_POLL_OUT)
		ev |= CS_IO_OUT;
	if (cs == NULL && (cs = sock_new(l, s)) == NULL)
		goto fail;
	if (ev == 0)
		cs_loop_unwatch(l, &cs->w);
	else if (cs->w.fn == NULL)
		r = cs_loop_watch(l, &cs->w, s, ev, sock_io, cs);
	else
		r = cs_loop_rewatch(l, &cs->w, ev);
	if (ev != 0 && r < 0)
		goto fail;
	return 0;
fail:
	cs_warn("loop: cannot watch libcurl socket %d", (int)s);
	return 0;
}

/* The loop's timer for libcurl is due. */
static void
curl_timer_fire(void *arg)
{
	socket_action(arg, CURL_SOCKET_TIMEOUT, 0);
}

/* CURLMOPT_TIMERFUNCTION: arm (or, at -1, cancel) libcurl's timeout. */
static int
timer_cb(CURLM *multi, long timeout_ms, void *userp)
{
	struct cs_loop *l = userp;

	(void)multi;
	if (timeout_ms < 0)
		cs_loop_timer_cancel(l, &l->curl_timer);
	else
		cs_loop_timer_at(l, &l->curl_timer, cs_now_ms() + timeout_ms);
	return 0;
}

/* The loop owns the handle's CURLOPT_PRIVATE: it points at x. */
int
cs_loop_xfer_add(struct cs_loop *l, struct cs_xfer_slot *x, CURL *easy,
    cs_xfer_done_fn done, void *arg)
{
	CURLMcode mc;

	if (easy == NULL || x->easy != NULL) {
		errno = easy == NULL ? EINVAL : EBUSY;
		return -1;
	}
	x->done = done;
	x->arg = arg;
	if (curl_easy_setopt(easy, CURLOPT_PRIVATE, (void *)x) != CURLE_OK) {
		errno = EINVAL;
		return -1;
	}
	if ((mc = curl_multi_add_handle(l->multi, easy)) != CURLM_OK) {
		cs_warnx(
		    "loop: curl_multi_add_handle: %s", curl_multi_strerror(mc));
		errno = mc == CURLM_OUT_OF_MEMORY ? ENOMEM : EINVAL;
		return -1;
	}
	x->easy = easy;
	return 0;
}

/* Not from inside a libcurl callback (libcurl refuses it there). */
void
cs_loop_xfer_remove(struct cs_loop *l, struct cs_xfer_slot *x)
{
	CURLMcode mc;

	if (x->easy == NULL)
		return;
	if ((mc = curl_multi_remove_handle(l->multi, x->easy)) != CURLM_OK)
		cs_warnx("loop: curl_multi_remove_handle: %s",
		    curl_multi_strerror(mc));
	x->easy = NULL;
}

/*
 * Running libcurl's timeout early is allowed: after a CURL_SOCKET_TIMEOUT
 * call it always reports its next timeout again, so none is lost.
 */
void
cs_loop_xfer_kick(struct cs_loop *l)
{
	cs_loop_timer_at(l, &l->curl_timer, cs_now_ms());
}

/* --- posted calls, stop, load --- */

/* Wake the wait (from any thread). */
static void
wake(struct cs_loop *l)
{
	(void)eventfd_write(l->wake_fd, 1);
}

/* The wake eventfd is readable: reset it (the queue is looked at anyway). */
static void
wake_io(void *arg, unsigned events)
{
	struct cs_loop *l = arg;
	eventfd_t v;

	(void)events;
	(void)eventfd_read(l->wake_fd, &v);
}

/*
 * Only a post into an empty queue wakes the loop: a queue that is not
 * empty has been signalled already and will be taken whole.
 */
int
cs_loop_post(struct cs_loop *l, cs_post_fn fn, void *arg)
{
	struct post *p;
	int was_empty;

	if ((p = malloc(sizeof(*p))) == NULL)
		return -1;
	p->next = NULL;
	p->fn = fn;
	p->arg = arg;
	pthread_mutex_lock(&l->lock);
	was_empty = l->post_head == NULL;
	if (was_empty)
		l->post_head = p;
	else
		l->post_tail->next = p;
	l->post_tail = p;
	pthread_mutex_unlock(&l->lock);
	if (was_empty)
		wake(l);
	return 0;
}

/* Run the calls queued now (not those they post); return how many. */
static int
run_posts(struct cs_loop *l)
{
	struct post *p, *next;
	cs_post_fn fn;
	void *arg;
	int n = 0;

	pthread_mutex_lock(&l->lock);
	p = l->post_head;
	l->post_head = l->post_tail = NULL;
	pthread_mutex_unlock(&l->lock);
	for (; p != NULL; p = next) {
		next = p->next;
		fn = p->fn;
		arg = p->arg;
		free(p);
		fn(arg);
		n++;
	}
	return n;
}

/* Not re-entrant: a pass inside a callback would reuse its batch. */
int
cs_loop_run_once(struct cs_loop *l, long max_ms)
{
	struct epoll_event ev[EVENTS_MAX];
	int n;

	if (l->in_pass) {
		errno = EDEADLK;
		return -1;
	}
	if ((n = epoll_wait(l->ep, ev, EVENTS_MAX, wait_ms(l, max_ms))) < 0) {
		if (errno != EINTR)
			return -1;
		n = 0;
	}
	l->in_pass = 1;
	dispatch(l, ev, n);
	run_timers(l);
	(void)run_posts(l);
	l->in_pass = 0;
	return 0;
}

/* Each cs_loop_stop ends one run (a stop before it ends the next). */
void
cs_loop_run(struct cs_loop *l)
{
	while (!atomic_exchange(&l->stop, 0)) {
		if (cs_loop_run_once(l, -1) < 0) {
			cs_warn("loop: epoll_wait");
			break;
		}
	}
	while (run_posts(l) > 0)
		;
}

/* The flag, then a wake-up: the loop sees the flag after its wait. */
void
cs_loop_stop(struct cs_loop *l)
{
	atomic_store(&l->stop, 1);
	wake(l);
}

/* Atomic: other threads read it to pick the least-loaded loop. */
void
cs_loop_load_add(struct cs_loop *l, int delta)
{
	atomic_fetch_add(&l->load, delta);
}

/* The count of cs_loop_load_add, from any thread. */
int
cs_loop_load(const struct cs_loop *l)
{
	return atomic_load(&l->load);
}

/* --- life --- */

/* Needs curl_global_init done.  The caller owns the loop (cs_loop_free). */
struct cs_loop *
cs_loop_new(void)
{
	struct cs_loop *l;
	int err;

	if ((l = calloc(1, sizeof(*l))) == NULL)
		return NULL;
	if ((err = pthread_mutex_init(&l->lock, NULL)) != 0) {
		free(l);
		errno = err;
		return NULL;
	}
	l->ep = l->wake_fd = -1;
	l->wake.fd = -1;
	if ((l->ep = epoll_create1(EPOLL_CLOEXEC)) < 0 ||
	    (l->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) < 0 ||
	    cs_loop_watch(l, &l->wake, l->wake_fd, CS_IO_IN, wake_io, l) < 0)
		goto fail;
	if ((l->multi = curl_multi_init()) == NULL) {
		errno = ENOMEM;
		goto fail;
	}
	cs_timer_init(&l->curl_timer, curl_timer_fire, l);
	curl_multi_setopt(l->multi, CURLMOPT_SOCKETFUNCTION, sock_cb);
	curl_multi_setopt(l->multi, CURLMOPT_SOCKETDATA, l);
	curl_multi_setopt(l->multi, CURLMOPT_TIMERFUNCTION, timer_cb);
	curl_multi_setopt(l->multi, CURLMOPT_TIMERDATA, l);
	/* Idle provider connections kept for reuse: libcurl would keep one
	 * for every transfer ever added at once (4 x the handles), so after
	 * a burst of 10,000 streams 10,000 sockets and their buffers stayed
	 * open.  Enough for the streams that start while others end. */
	curl_multi_setopt(l->multi, CURLMOPT_MAXCONNECTS, (long)CURL_IDLE_MAX);
	return l;
fail:
	err = errno;
	cs_loop_free(l);
	errno = err;
	return NULL;
}

/*
 * The multi handle goes first: closing its cached connections calls
 * sock_cb and timer_cb, which still need the epoll set and the heap.
 * Queued posts are dropped without running.
 */
void
cs_loop_free(struct cs_loop *l)
{
	struct post *p;

	if (l == NULL)
		return;
	if (l->multi != NULL)
		curl_multi_cleanup(l->multi);
	l->multi = NULL;
	while (l->socks.head != NULL)
		sock_free(l, CURL_SOCK(l->socks.head));
	cs_loop_timer_cancel(l, &l->curl_timer);
	cs_loop_unwatch(l, &l->wake);
	if (l->ep >= 0)
		close(l->ep);
	if (l->wake_fd >= 0)
		close(l->wake_fd);
	while ((p = l->post_head) != NULL) {
		l->post_head = p->next;
		free(p);
	}
	free(l->heap);
	pthread_mutex_destroy(&l->lock);
	free(l);
}
