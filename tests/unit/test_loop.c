/*
 * test_loop.c — the event loop: timers fire in due order, once, not when
 * cancelled, at their new time when moved, and a timer re-arming itself
 * for the past neither spins nor starves the others; watches on
 * socketpairs report readable, writable and hang-up, and a callback that
 * unwatches (and frees) or rewatches a watch of the same batch keeps it
 * from being called; posts from another thread run on the loop thread in
 * order, all before cs_loop_run returns; cs_loop_stop from another thread
 * ends a blocked run; real libcurl transfers against a tiny HTTP server in
 * a thread: one completes, one started from the done callback of another
 * completes, one paused and resumed completes, one removed before its end
 * never reports.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <curl/curl.h>

#include "loop.h"
#include "stream.h"
#include "testutil.h"

#define LIMIT_MS 5000 /* what no test may take: a hang fails, not waits */

/* Run passes until *count reaches want; fail after LIMIT_MS. */
static void
run_until(struct cs_loop *l, const int *count, int want)
{
	int64_t end = cs_now_ms() + LIMIT_MS;

	while (*count < want) {
		if (cs_now_ms() > end)
			fail_msg("no progress in %d ms", LIMIT_MS);
		assert_int_equal(cs_loop_run_once(l, 100), 0);
	}
}

/* A fresh loop for each test (*state). */
static int
loop_setup(void **state)
{
	*state = cs_loop_new();
	return *state == NULL ? -1 : 0;
}

/* Free the test's loop (NULL if the test freed it). */
static int
loop_teardown(void **state)
{
	cs_loop_free(*state);
	return 0;
}

/* --- timers --- */

struct fired {
	struct cs_loop *l;
	struct cs_timer t;
	int id;
	int count;
	int64_t at;  /* cs_now_ms() when it fired */
	int64_t due; /* its due time then */
	int *log;    /* ids in firing order */
	int *nlog;
	int rearm; /* times left to re-arm itself */
	int64_t rearm_due;
};

/* Note the firing; re-arm if asked. */
static void
on_fire(void *arg)
{
	struct fired *f = arg;

	f->count++;
	f->at = cs_now_ms();
	f->due = f->t.due;
	if (f->log != NULL)
		f->log[(*f->nlog)++] = f->id;
	if (f->rearm > 0) {
		f->rearm--;
		cs_loop_timer_at(f->l, &f->t, f->rearm_due);
	}
}

/* f, id on l, logging its firings into log (may be NULL). */
static void
fired_init(struct fired *f, struct cs_loop *l, int id, int *log, int *nlog)
{
	memset(f, 0, sizeof(*f));
	f->l = l;
	f->id = id;
	f->log = log;
	f->nlog = nlog;
	cs_timer_init(&f->t, on_fire, f);
}

/* Armed out of order, they fire in due order, each once, none early. */
static void
test_timer_order(void **state)
{
	enum {
		N = 5
	};
	static const int delay[N] = { 30, 10, 50, 20, 40 };
	struct cs_loop *l = *state;
	struct fired f[N];
	int log[N * 2], nlog = 0, i;
	int64_t t0 = cs_now_ms();

	for (i = 0; i < N; i++) {
		fired_init(&f[i], l, delay[i] / 10, log, &nlog);
		cs_loop_timer_at(l, &f[i].t, t0 + delay[i]);
		assert_true(cs_timer_armed(&f[i].t));
	}
	while (nlog < N) {
		assert_true(cs_now_ms() < t0 + LIMIT_MS);
		assert_int_equal(cs_loop_run_once(l, -1), 0);
	}
	assert_int_equal(cs_loop_run_once(l, 0), 0);
	assert_int_equal(nlog, N);
	for (i = 0; i < N; i++) {
		assert_int_equal(log[i], i + 1);
		assert_int_equal(f[i].count, 1);
		assert_false(cs_timer_armed(&f[i].t));
		assert_true(f[i].at >= t0 + delay[i]);
	}
}

/* A cancelled timer does not fire; cancelling twice is harmless. */
static void
test_timer_cancel(void **state)
{
	struct cs_loop *l = *state;
	struct fired a, b;
	int64_t t0 = cs_now_ms();

	fired_init(&a, l, 1, NULL, NULL);
	fired_init(&b, l, 2, NULL, NULL);
	cs_loop_timer_at(l, &a.t, t0 + 10);
	cs_loop_timer_at(l, &b.t, t0 + 30);
	cs_loop_timer_cancel(l, &a.t);
	assert_false(cs_timer_armed(&a.t));
	cs_loop_timer_cancel(l, &a.t);
	run_until(l, &b.count, 1);
	assert_int_equal(a.count, 0);
	assert_int_equal(b.count, 1);
}

/* A moved timer fires once, at its new time, later or earlier. */
static void
test_timer_rearm(void **state)
{
	struct cs_loop *l = *state;
	struct fired t, mark, early;
	int log[4], nlog = 0;
	int64_t t0 = cs_now_ms();

	fired_init(&t, l, 1, log, &nlog);
	fired_init(&mark, l, 2, log, &nlog);
	fired_init(&early, l, 3, log, &nlog);
	cs_loop_timer_at(l, &t.t, t0 + 10);
	cs_loop_timer_at(l, &mark.t, t0 + 20);
	cs_loop_timer_at(l, &t.t, t0 + 40); /* later */
	cs_loop_timer_at(l, &early.t, t0 + 100000);
	cs_loop_timer_at(l, &early.t, t0 + 30); /* earlier */
	run_until(l, &t.count, 1);
	assert_int_equal(cs_loop_run_once(l, 0), 0);
	assert_int_equal(nlog, 3);
	assert_int_equal(log[0], 2);
	assert_int_equal(log[1], 3);
	assert_int_equal(log[2], 1);
	assert_int_equal(t.count, 1);
	assert_true(t.at >= t0 + 40);
	assert_true(early.at >= t0 + 30);
}

/* A callback re-arms its own timer; it fires once per arming. */
static void
test_timer_self_rearm(void **state)
{
	struct cs_loop *l = *state;
	struct fired f;

	fired_init(&f, l, 1, NULL, NULL);
	f.rearm = 3;
	f.rearm_due = cs_now_ms() + 5;
	cs_loop_timer_at(l, &f.t, cs_now_ms());
	run_until(l, &f.count, 4);
	assert_false(cs_timer_armed(&f.t));
	assert_int_equal(cs_loop_run_once(l, 20), 0);
	assert_int_equal(f.count, 4);
}

/* One that keeps re-arming itself for the past fires once a pass and
 * lets a later timer fire. */
static void
test_timer_no_starvation(void **state)
{
	struct cs_loop *l = *state;
	struct fired spin, later;
	int before;
	int64_t t0 = cs_now_ms();

	fired_init(&spin, l, 1, NULL, NULL);
	fired_init(&later, l, 2, NULL, NULL);
	spin.rearm = 1000000;
	spin.rearm_due = 0; /* long past */
	cs_loop_timer_at(l, &spin.t, 0);
	cs_loop_timer_at(l, &later.t, t0 + 20);
	while (!later.count) {
		assert_true(cs_now_ms() < t0 + LIMIT_MS);
		before = spin.count;
		assert_int_equal(cs_loop_run_once(l, 100), 0);
		assert_true(spin.count - before <= 1);
	}
	assert_true(spin.count >= 1);
	cs_loop_timer_cancel(l, &spin.t);
}

/* Many timers (the heap grows), moved and cancelled at random, all in the
 * past: one pass fires the rest in due order. */
static void
test_timer_heap(void **state)
{
	enum {
		N = 300
	};
	struct cs_loop *l = *state;
	static struct fired f[N];
	static int log[N];
	int64_t now = cs_now_ms(), prev;
	unsigned seed = 12345;
	int nlog = 0, want = 0, i;

	for (i = 0; i < N; i++) {
		fired_init(&f[i], l, i, log, &nlog);
		seed = seed * 1103515245 + 12345;
		cs_loop_timer_at(l, &f[i].t, now - 1 - (seed >> 16) % 1000);
	}
	for (i = 0; i < N; i += 3) {
		seed = seed * 1103515245 + 12345;
		cs_loop_timer_at(l, &f[i].t, now - 1 - (seed >> 16) % 1000);
	}
	for (i = 0; i < N; i++) {
		if (i % 7 == 0)
			cs_loop_timer_cancel(l, &f[i].t);
		else
			want++;
	}
	assert_int_equal(cs_loop_run_once(l, 0), 0);
	assert_int_equal(nlog, want);
	for (prev = INT64_MIN, i = 0; i < nlog; i++) {
		assert_true(f[log[i]].due >= prev);
		assert_int_not_equal(log[i] % 7, 0);
		assert_int_equal(f[log[i]].count, 1);
		prev = f[log[i]].due;
	}
}

/* --- watches --- */

struct io {
	struct cs_loop *l;
	struct cs_watch w;
	int fd;
	int count;
	unsigned events; /* or-ed over the calls */
};

/* Note the events; drop the watch on a hang-up (level-triggered). */
static void
on_io(void *arg, unsigned events)
{
	struct io *io = arg;

	io->count++;
	io->events |= events;
	if (events & CS_IO_HUP)
		cs_loop_unwatch(io->l, &io->w);
}

/* A non-blocking socketpair. */
static void
pair(int sv[2])
{
	assert_int_equal(socketpair(AF_UNIX,
	                     SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv),
	    0);
}

/* Readable when the peer writes, and only then. */
static void
test_watch_in(void **state)
{
	struct cs_loop *l = *state;
	struct io io;
	int sv[2];
	char c;

	pair(sv);
	memset(&io, 0, sizeof(io));
	io.l = l;
	assert_int_equal(
	    cs_loop_watch(l, &io.w, sv[0], CS_IO_IN, on_io, &io), 0);
	assert_int_equal(io.w.fd, sv[0]);
	assert_int_equal(cs_loop_run_once(l, 0), 0);
	assert_int_equal(io.count, 0);
	assert_int_equal(write(sv[1], "x", 1), 1);
	run_until(l, &io.count, 1);
	assert_int_equal(io.events, CS_IO_IN);
	assert_int_equal(read(sv[0], &c, 1), 1);
	io.count = 0;
	assert_int_equal(cs_loop_run_once(l, 0), 0);
	assert_int_equal(io.count, 0); /* read: no longer readable */
	cs_loop_unwatch(l, &io.w);
	assert_int_equal(io.w.fd, -1);
	cs_loop_unwatch(l, &io.w);
	close(sv[0]);
	close(sv[1]);
}

/* Writable when asked, not otherwise; rewatch to the same is a no-op. */
static void
test_watch_out(void **state)
{
	struct cs_loop *l = *state;
	struct io io;
	int sv[2];

	pair(sv);
	memset(&io, 0, sizeof(io));
	io.l = l;
	assert_int_equal(cs_loop_watch(l, &io.w, sv[0], 0, on_io, &io), 0);
	assert_int_equal(cs_loop_run_once(l, 0), 0);
	assert_int_equal(io.count, 0);
	assert_int_equal(cs_loop_rewatch(l, &io.w, CS_IO_OUT), 0);
	assert_int_equal(cs_loop_rewatch(l, &io.w, CS_IO_OUT), 0);
	run_until(l, &io.count, 1);
	assert_int_equal(io.events, CS_IO_OUT);
	assert_int_equal(cs_loop_rewatch(l, &io.w, 0), 0);
	io.count = 0;
	assert_int_equal(cs_loop_run_once(l, 0), 0);
	assert_int_equal(io.count, 0);
	cs_loop_unwatch(l, &io.w);
	close(sv[0]);
	close(sv[1]);
}

/* The peer closes: a hang-up, with readable, and the read sees EOF. */
static void
test_watch_hup(void **state)
{
	struct cs_loop *l = *state;
	struct io io;
	int sv[2];
	char c;

	pair(sv);
	memset(&io, 0, sizeof(io));
	io.l = l;
	assert_int_equal(
	    cs_loop_watch(l, &io.w, sv[0], CS_IO_IN, on_io, &io), 0);
	close(sv[1]);
	run_until(l, &io.count, 1);
	assert_int_equal(io.events, CS_IO_IN | CS_IO_HUP);
	assert_int_equal(read(sv[0], &c, 1), 0);
	/* Hang-up only (no events asked) is reported too. */
	pair(sv);
	memset(&io, 0, sizeof(io));
	io.l = l;
	assert_int_equal(cs_loop_watch(l, &io.w, sv[0], 0, on_io, &io), 0);
	shutdown(sv[1], SHUT_WR);
	run_until(l, &io.count, 1);
	assert_true(io.events & CS_IO_HUP);
	assert_int_equal(io.w.fd, -1); /* on_io unwatched it */
	close(sv[0]);
	close(sv[1]);
}

/* Bad fds and callbacks are refused; nothing is left watched. */
static void
test_watch_errors(void **state)
{
	struct cs_loop *l = *state;
	struct io io;
	int sv[2];

	memset(&io, 0, sizeof(io));
	assert_int_equal(cs_loop_watch(l, &io.w, -1, CS_IO_IN, on_io, &io), -1);
	assert_int_equal(errno, EINVAL);
	pair(sv);
	assert_int_equal(
	    cs_loop_watch(l, &io.w, sv[0], CS_IO_IN, NULL, &io), -1);
	assert_int_equal(errno, EINVAL);
	close(sv[0]);
	close(sv[1]);
	assert_int_equal(
	    cs_loop_watch(l, &io.w, sv[0], CS_IO_IN, on_io, &io), -1);
	assert_int_equal(errno, EBADF);
	assert_int_equal(cs_loop_rewatch(l, &io.w, CS_IO_OUT), -1);
	cs_loop_unwatch(l, &io.w); /* zeroed: not watched */
}

struct twin {
	struct cs_loop *l;
	struct cs_watch w;
	struct twin **other;
	int *calls;
	int rewatch; /* rewatch the other to 0, not free it */
};

/* Unwatch and free the other twin (reported in the same batch), or make
 * it ask for nothing. */
static void
on_twin(void *arg, unsigned events)
{
	struct twin *t = arg;

	(void)events;
	(*t->calls)++;
	if (*t->other == NULL)
		return;
	if (t->rewatch) {
		assert_int_equal(cs_loop_rewatch(t->l, &(*t->other)->w, 0), 0);
		return;
	}
	cs_loop_unwatch(t->l, &(*t->other)->w);
	free(*t->other);
	*t->other = NULL;
}

/*
 * Two readable sockets in one batch: whichever runs first frees the
 * other (ASan would see a use after free), or stops it asking for input;
 * the other is then not called.
 */
static void
twins(struct cs_loop *l, int rewatch)
{
	struct twin *tw[2];
	int sv[2][2], calls = 0, i;

	for (i = 0; i < 2; i++) {
		pair(sv[i]);
		assert_int_equal(write(sv[i][1], "x", 1), 1);
		tw[i] = calloc(1, sizeof(*tw[i]));
		assert_non_null(tw[i]);
		tw[i]->l = l;
		tw[i]->other = &tw[1 - i];
		tw[i]->calls = &calls;
		tw[i]->rewatch = rewatch;
	}
	for (i = 0; i < 2; i++)
		assert_int_equal(cs_loop_watch(l, &tw[i]->w, sv[i][0], CS_IO_IN,
		                     on_twin, tw[i]),
		    0);
	assert_int_equal(cs_loop_run_once(l, 1000), 0);
	assert_int_equal(calls, 1);
	if (!rewatch)
		assert_true((tw[0] == NULL) != (tw[1] == NULL));
	for (i = 0; i < 2; i++) {
		if (tw[i] != NULL) {
			cs_loop_unwatch(l, &tw[i]->w);
			free(tw[i]);
		}
		close(sv[i][0]);
		close(sv[i][1]);
	}
}

/* The first called of two readable watches frees the other. */
static void
test_unwatch_in_batch(void **state)
{
	twins(*state, 0);
}

/* The first called of two readable watches makes the other ask for
 * nothing: its pending readiness is not reported. */
static void
test_rewatch_in_batch(void **state)
{
	twins(*state, 1);
}

/* --- posts and stop --- */

#define NPOSTS 200

static struct {
	struct cs_loop *l;
	pthread_t loop_thread;
	int order[NPOSTS];
	int n;
	int off_thread;
} posts;

/* A posted call: note its turn and its thread. */
static void
on_post(void *arg)
{
	if (!pthread_equal(pthread_self(), posts.loop_thread))
		posts.off_thread++;
	posts.order[posts.n++] = (int)(intptr_t)arg;
}

/* Post NPOSTS calls, then stop the loop. */
static void *
poster(void *arg)
{
	int i;

	(void)arg;
	for (i = 0; i < NPOSTS; i++)
		if (cs_loop_post(posts.l, on_post, (void *)(intptr_t)i) != 0)
			return (void *)1;
	cs_loop_stop(posts.l);
	return NULL;
}

/* Posts from another thread run on the loop thread, in order, and all
 * of them before a stop posted after them ends cs_loop_run. */
static void
test_post_thread(void **state)
{
	pthread_t th;
	void *res;
	int i;

	memset(&posts, 0, sizeof(posts));
	posts.l = *state;
	posts.loop_thread = pthread_self();
	assert_int_equal(pthread_create(&th, NULL, poster, NULL), 0);
	cs_loop_run(posts.l);
	assert_int_equal(pthread_join(th, &res), 0);
	assert_null(res);
	assert_int_equal(posts.n, NPOSTS);
	assert_int_equal(posts.off_thread, 0);
	for (i = 0; i < NPOSTS; i++)
		assert_int_equal(posts.order[i], i);
}

/* Calls still queued when the loop is freed are dropped (no leak). */
static void
test_post_dropped(void **state)
{
	memset(&posts, 0, sizeof(posts));
	posts.loop_thread = pthread_self();
	assert_int_equal(cs_loop_post(*state, on_post, NULL), 0);
	assert_int_equal(cs_loop_post(*state, on_post, NULL), 0);
	assert_int_equal(posts.n, 0);
}

struct stopper {
	struct cs_loop *l;
	int go[2]; /* pipe: the loop says "now" */
	struct cs_timer t;
};

/* Wait for the loop's word, then stop it. */
static void *
stopper_main(void *arg)
{
	struct stopper *s = arg;
	char c;

	if (read(s->go[0], &c, 1) != 1)
		return (void *)1;
	cs_loop_stop(s->l);
	return NULL;
}

/* The loop is running: tell the stopper. */
static void
on_running(void *arg)
{
	struct stopper *s = arg;

	assert_int_equal(write(s->go[1], "g", 1), 1);
}

/* cs_loop_stop from another thread ends a run blocked with nothing
 * else to do; a stop before a run ends it at once. */
static void
test_stop_thread(void **state)
{
	struct stopper s;
	pthread_t th;
	void *res;

	s.l = *state;
	assert_int_equal(pipe(s.go), 0);
	cs_timer_init(&s.t, on_running, &s);
	cs_loop_timer_at(s.l, &s.t, cs_now_ms());
	assert_int_equal(pthread_create(&th, NULL, stopper_main, &s), 0);
	cs_loop_run(s.l);
	assert_int_equal(pthread_join(th, &res), 0);
	assert_null(res);
	assert_false(cs_timer_armed(&s.t));
	cs_loop_stop(s.l);
	cs_loop_run(s.l);
	close(s.go[0]);
	close(s.go[1]);
}

/* The load count. */
static void
test_load(void **state)
{
	struct cs_loop *l = *state;

	assert_int_equal(cs_loop_load(l), 0);
	cs_loop_load_add(l, 3);
	cs_loop_load_add(l, -1);
	assert_int_equal(cs_loop_load(l), 2);
}

/* --- libcurl --- */

#define RESPONSE "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello"

struct server {
	int lfd;
	int port;
	int hold;    /* answer nothing; wait for the client to go */
	int note[2]; /* pipe: a byte once the request is in */
	pthread_t th;
};

/* One connection: answer each request on it (or, holding, only note it)
 * until the client closes. */
static void *
server_main(void *arg)
{
	struct server *s = arg;
	char buf[4096];
	size_t used;
	ssize_t n;
	int fd;

	if ((fd = accept(s->lfd, NULL, NULL)) < 0)
		return (void *)1;
	for (;;) {
		used = 0;
		buf[0] = '\0';
		while (strstr(buf, "\r\n\r\n") == NULL &&
		    used < sizeof(buf) - 1 &&
		    (n = read(fd, buf + used, sizeof(buf) - 1 - used)) > 0) {
			used += (size_t)n;
			buf[used] = '\0';
		}
		if (strstr(buf, "\r\n\r\n") == NULL)
			break; /* the client left (or sent junk) */
		if (write(s->note[1], "r", 1) != 1 ||
		    (!s->hold &&
		        write(fd, RESPONSE, strlen(RESPONSE)) !=
		            (ssize_t)strlen(RESPONSE)))
			return (void *)1;
	}
	close(fd);
	return NULL;
}

/* Listen on 127.0.0.1, some free port, and serve one connection. */
static void
server_start(struct server *s, int hold)
{
	struct sockaddr_in sin;
	socklen_t len = sizeof(sin);

	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	s->hold = hold;
	assert_int_equal(pipe(s->note), 0);
	assert_true(
	    (s->lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) >= 0);
	assert_int_equal(bind(s->lfd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	assert_int_equal(listen(s->lfd, 4), 0);
	assert_int_equal(getsockname(s->lfd, (struct sockaddr *)&sin, &len), 0);
	s->port = ntohs(sin.sin_port);
	assert_int_equal(pthread_create(&s->th, NULL, server_main, s), 0);
}

/* Wait for the server to finish its connection. */
static void
server_join(struct server *s)
{
	void *res;

	assert_int_equal(pthread_join(s->th, &res), 0);
	assert_null(res);
	close(s->lfd);
	close(s->note[0]);
	close(s->note[1]);
}

struct xfer {
	struct cs_loop *l;
	struct cs_xfer_slot slot;
	CURL *easy;
	char body[64];
	size_t len;
	int done;
	CURLcode result;
	int pause; /* pause on the first chunk */
	int again; /* transfers to start from done */
	int paused;
	struct cs_timer resume;
};

/* Resume a paused transfer, from outside libcurl's callbacks. */
static void
on_resume(void *arg)
{
	struct xfer *x = arg;

	assert_int_equal(curl_easy_pause(x->easy, CURLPAUSE_CONT), CURLE_OK);
	cs_loop_xfer_kick(x->l);
}

/* CURLOPT_WRITEFUNCTION: collect the body (or pause once). */
static size_t
on_body(char *p, size_t size, size_t n, void *arg)
{
	struct xfer *x = arg;

	if (x->pause && !x->paused) {
		x->paused = 1;
		cs_loop_timer_at(x->l, &x->resume, cs_now_ms());
		return CURL_WRITEFUNC_PAUSE;
	}
	n *= size;
	if (n > sizeof(x->body) - 1 - x->len)
		return 0;
	memcpy(x->body + x->len, p, n);
	x->len += n;
	x->body[x->len] = '\0';
	return n;
}

/* cs_xfer_done_fn: note the end; start the transfer again if asked. */
static void
on_done(void *arg, CURLcode result)
{
	struct xfer *x = arg;

	x->done++;
	x->result = result;
	assert_null(x->slot.easy);
	if (x->again > 0) {
		x->again--;
		assert_int_equal(
		    cs_loop_xfer_add(x->l, &x->slot, x->easy, on_done, x), 0);
	}
}

/* An easy handle for the server's port. */
static void
xfer_init(struct xfer *x, struct cs_loop *l, const struct server *s)
{
	char url[64];

	memset(x, 0, sizeof(*x));
	x->l = l;
	cs_timer_init(&x->resume, on_resume, x);
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/", s->port);
	assert_non_null(x->easy = curl_easy_init());
	curl_easy_setopt(x->easy, CURLOPT_URL, url);
	curl_easy_setopt(x->easy, CURLOPT_NOPROXY, "*");
	curl_easy_setopt(x->easy, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(x->easy, CURLOPT_TIMEOUT_MS, (long)LIMIT_MS);
	curl_easy_setopt(x->easy, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(x->easy, CURLOPT_WRITEDATA, x);
}

/* A transfer through the loop's multi handle completes. */
static void
test_curl_transfer(void **state)
{
	struct cs_loop *l = *state;
	struct server s;
	struct xfer x;

	server_start(&s, 0);
	xfer_init(&x, l, &s);
	assert_int_equal(cs_loop_xfer_add(l, &x.slot, x.easy, on_done, &x), 0);
	assert_ptr_equal(x.slot.easy, x.easy);
	run_until(l, &x.done, 1);
	assert_int_equal(x.result, CURLE_OK);
	assert_string_equal(x.body, "hello");
	assert_int_equal(x.done, 1);
	cs_loop_xfer_remove(l, &x.slot); /* no-op: not added any more */
	curl_easy_cleanup(x.easy);
	cs_loop_free(l); /* closes the cached connection: the server ends */
	*state = NULL;
	server_join(&s);
}

/*
 * One transfer to a server thread: again (done starts the next on the
 * same slot) or pause (the write callback pauses, a timer resumes); done
 * is called ndone times, with CURLE_OK and body in all.
 */
static void
transfer_case(void **state, int again, int pause, int ndone, const char *body)
{
	struct cs_loop *l = *state;
	struct server s;
	struct xfer x;

	server_start(&s, 0);
	xfer_init(&x, l, &s);
	x.again = again;
	x.pause = pause;
	assert_int_equal(cs_loop_xfer_add(l, &x.slot, x.easy, on_done, &x), 0);
	run_until(l, &x.done, ndone);
	if (pause)
		assert_true(x.paused);
	assert_int_equal(x.result, CURLE_OK);
	assert_string_equal(x.body, body);
	curl_easy_cleanup(x.easy);
	cs_loop_free(l);
	*state = NULL;
	server_join(&s);
}

/* A done callback starts the next transfer on the same slot (libcurl
 * reuses the connection: the server serves both on one). */
static void
test_curl_chain(void **state)
{
	transfer_case(state, 1, 0, 2, "hellohello");
}

/* A transfer paused in its write callback and resumed (with a kick)
 * from a timer gets its body. */
static void
test_curl_pause(void **state)
{
	transfer_case(state, 0, 1, 1, "hello");
}

struct remover {
	struct cs_loop *l;
	struct xfer *x;
	struct cs_watch w;
	int removed;
};

/* The server has the request: take the transfer off before its end. */
static void
on_request_in(void *arg, unsigned events)
{
	struct remover *r = arg;
	char c;

	(void)events;
	assert_int_equal(read(r->w.fd, &c, 1), 1);
	cs_loop_unwatch(r->l, &r->w);
	cs_loop_xfer_remove(r->l, &r->x->slot);
	assert_null(r->x->slot.easy);
	r->removed = 1;
}

/* A transfer removed before it ends never calls done, and its
 * connection is closed (the server sees the client leave). */
static void
test_curl_remove(void **state)
{
	struct cs_loop *l = *state;
	struct remover r;
	struct server s;
	struct xfer x;
	int i;

	server_start(&s, 1);
	xfer_init(&x, l, &s);
	memset(&r, 0, sizeof(r));
	r.l = l;
	r.x = &x;
	assert_int_equal(cs_loop_xfer_add(l, &x.slot, x.easy, on_done, &x), 0);
	assert_int_equal(cs_loop_xfer_add(l, &x.slot, x.easy, on_done, &x), -1);
	assert_int_equal(errno, EBUSY);
	assert_int_equal(
	    cs_loop_watch(l, &r.w, s.note[0], CS_IO_IN, on_request_in, &r), 0);
	run_until(l, &r.removed, 1);
	server_join(&s);
	for (i = 0; i < 5; i++)
		assert_int_equal(cs_loop_run_once(l, 10), 0);
	assert_int_equal(x.done, 0);
	cs_loop_xfer_remove(l, &x.slot);
	curl_easy_cleanup(x.easy);
}

/* libcurl's global state first; every test gets its own loop. */
int
main(void)
{
	const struct CMUnitTest tests[] = {
#define T(f) cmocka_unit_test_setup_teardown(f, loop_setup, loop_teardown)
		T(test_timer_order),
		T(test_timer_cancel),
		T(test_timer_rearm),
		T(test_timer_self_rearm),
		T(test_timer_no_starvation),
		T(test_timer_heap),
		T(test_watch_in),
		T(test_watch_out),
		T(test_watch_hup),
		T(test_watch_errors),
		T(test_unwatch_in_batch),
		T(test_rewatch_in_batch),
		T(test_post_thread),
		T(test_post_dropped),
		T(test_stop_thread),
		T(test_load),
		T(test_curl_transfer),
		T(test_curl_chain),
		T(test_curl_pause),
		T(test_curl_remove),
#undef T
	};
	int r;

	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
		return 1;
	r = cmocka_run_group_tests_name("loop", tests, NULL, NULL);
	curl_global_cleanup();
	return r;
}
