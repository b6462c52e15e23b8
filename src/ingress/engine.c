/*
 * engine.c — the loop threads; see engine.h.
 *
 * Each loop (loop.h) is one thread with its own epoll set and libcurl
 * multi handle.  A submitted run is posted to the loop with the fewest
 * open streams, or to a new loop when every started one has some and
 * more are allowed.  The loop keeps its runs on a list, touched only on
 * its own thread, so the shutdown poke can reach each of them.
 */
#include <errno.h>
#include <locale.h>
#include <malloc.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "engine.h"
#include "list.h"
#include "log.h"
#include "loop.h"
#include "stream.h"

#define LOOP_STACK    (512 * 1024)
#define MAX_LOOPS     256
#define TRIM_EVERY_MS 10000

struct eloop {
	struct cs_loop *loop;
	pthread_t thread;
	struct cs_list runs; /* of struct item; loop thread only */
};

/* One submitted run. */
struct item {
	struct cs_run *run;
	cs_run_done_fn done;
	void *arg;
	struct eloop *el;
	struct cs_link link;
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t idle = PTHREAD_COND_INITIALIZER;
static struct eloop loops[MAX_LOOPS];
static int max_loops;
static _Atomic int nloops;
static _Atomic int streams;

/*
 * json-c 0.16 switches to a "C" LC_NUMERIC around every
 * json_tokener_parse_ex() call (duplocale + newlocale + freelocale); from
 * any other locale, including the default global one, both take glibc's
 * process-wide locale write lock and allocate, so every thread that
 * parses contends on it for every provider event.  From glibc's built-in
 * C locale object all three return at once.  chatstream never calls
 * setlocale(), so nothing else changes.
 */
void
cs_c_locale_for_thread(void)
{
	locale_t c = newlocale(LC_ALL_MASK, "C", (locale_t)0);

	if (c != (locale_t)0)
		uselocale(c);
}

static void *
loop_main(void *arg)
{
	struct eloop *el = arg;

	pthread_setname_np(pthread_self(), "cs-loop");
	cs_c_locale_for_thread();
	cs_loop_run(el->loop);
	return NULL;
}

int
cs_engine_start(int n)
{
	if (n < 1 || n > MAX_LOOPS) {
		errno = EINVAL;
		return -1;
	}
	max_loops = n;
	return 0;
}

/* Start loop number i (lock held).  0 or -1. */
static int
start_loop(int i)
{
	pthread_attr_t attr;
	struct eloop *el = &loops[i];

	memset(el, 0, sizeof(*el));
	if ((el->loop = cs_loop_new()) == NULL)
		return -1;
	pthread_attr_init(&attr);
	pthread_attr_setstacksize(&attr, LOOP_STACK);
	errno = pthread_create(&el->thread, &attr, loop_main, el);
	pthread_attr_destroy(&attr);
	if (errno != 0) {
		cs_loop_free(el->loop);
		el->loop = NULL;
		return -1;
	}
	atomic_store(&nloops, i + 1);
	return 0;
}

/* The least-loaded loop; a new one when every loop has streams. */
static struct eloop *
pick(void)
{
	struct eloop *best = NULL;
	int i, n;

	pthread_mutex_lock(&lock);
	n = atomic_load(&nloops);
	for (i = 0; i < n; i++)
		if (best == NULL ||
		    cs_loop_load(loops[i].loop) < cs_loop_load(best->loop))
			best = &loops[i];
	if ((best == NULL || cs_loop_load(best->loop) > 0) && n < max_loops) {
		if (start_loop(n) == 0)
			best = &loops[n];
		else if (best == NULL)
			cs_warn("cannot start an event loop");
		else
			cs_warn("cannot start event loop %d; serving with %d",
			    n + 1, n);
		if (best != &loops[n])
			max_loops = n;
	}
	if (best != NULL)
		cs_loop_load_add(best->loop, 1);
	pthread_mutex_unlock(&lock);
	return best;
}

/*
 * Every stream has ended: hand the memory they freed back to the system.
 * glibc keeps it for reuse (after a burst of 10,000 streams, 340 MiB);
 * malloc_trim releases the free pages of every arena.  At most every
 * TRIM_EVERY_MS, so a process that serves one stream at a time does not
 * trim after each.
 */
static void
give_back(void)
{
	static _Atomic int64_t last;
	int64_t now = cs_now_ms(), then = atomic_load(&last);

	if (now - then < TRIM_EVERY_MS ||
	    !atomic_compare_exchange_strong(&last, &then, now))
		return;
	malloc_trim(0);
}

/* On the loop: the run is over. */
static void
item_done(void *arg, enum cs_err r)
{
	struct item *it = arg;
	struct eloop *el = it->el;

	/*
	 * The loop counts as free of it before done writes the request's
	 * last records: the peer may send its next request the moment they
	 * reach it, and must not find this loop busy (a web server that
	 * sends one request at a time keeps one loop).
	 */
	cs_list_remove(&el->runs, &it->link);
	cs_loop_load_add(el->loop, -1);
	atomic_fetch_sub(&streams, 1);
	it->done(it->arg, r);
	free(it);
	if (atomic_load(&streams) == 0) {
		pthread_mutex_lock(&lock);
		pthread_cond_broadcast(&idle);
		pthread_mutex_unlock(&lock);
		give_back();
	}
}

/* On the loop: begin a submitted run. */
static void
item_begin(void *arg)
{
	struct item *it = arg;

	cs_list_push_back(&it->el->runs, &it->link);
	cs_upstream_begin(it->run, it->el->loop, item_done, it);
}

int
cs_engine_submit(struct cs_run *run, cs_run_done_fn done, void *arg)
{
	struct item *it;

	if ((it = calloc(1, sizeof(*it))) == NULL)
		return -1;
	it->run = run;
	it->done = done;
	it->arg = arg;
	if ((it->el = pick()) == NULL) {
		free(it);
		return -1;
	}
	atomic_fetch_add(&streams, 1);
	if (cs_loop_post(it->el->loop, item_begin, it) != 0) {
		cs_loop_load_add(it->el->loop, -1);
		atomic_fetch_sub(&streams, 1);
		free(it);
		return -1;
	}
	return 0;
}

int
cs_engine_streams(void)
{
	return atomic_load(&streams);
}

int
cs_engine_loops(void)
{
	return atomic_load(&nloops);
}

/* On the loop: every run looks at the clocks again. */
static void
poke_runs(void *arg)
{
	struct eloop *el = arg;
	struct cs_link *l;

	for (l = el->runs.head; l != NULL; l = l->next)
		cs_upstream_poke(CS_CONTAINER(l, struct item, link)->run);
}

void
cs_engine_poke(void)
{
	int i, n = atomic_load(&nloops);

	for (i = 0; i < n; i++)
		if (cs_loop_post(loops[i].loop, poke_runs, &loops[i]) != 0)
			cs_warnx("shutdown: a loop could not be told");
}

int
cs_engine_stop(long long until_ms)
{
	struct timespec ts;
	long long left;
	int i, n, open;

	pthread_mutex_lock(&lock);
	while (
	    atomic_load(&streams) > 0 && (left = until_ms - cs_now_ms()) > 0) {
		cs_realtime_in(&ts, left);
		pthread_cond_timedwait(&idle, &lock, &ts);
	}
	open = atomic_load(&streams);
	n = atomic_load(&nloops);
	max_loops = n; /* none start any more */
	pthread_mutex_unlock(&lock);
	if (open > 0)
		return open; /* their loops still run them: leave them be */
	for (i = 0; i < n; i++)
		cs_loop_stop(loops[i].loop);
	for (i = 0; i < n; i++) {
		pthread_join(loops[i].thread, NULL);
		cs_loop_free(loops[i].loop);
		loops[i].loop = NULL;
	}
	atomic_store(&nloops, 0);
	return 0;
}
