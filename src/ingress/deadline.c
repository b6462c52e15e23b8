/* deadline.c — the request-read and answer-write watchdog; see deadline.h. */
#include <errno.h>
#include <pthread.h>
#include <sys/socket.h>
#include <time.h>

#include "deadline.h"
#include "stream.h" /* cs_now_ms: the monotonic clock */

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t wake;
static struct cs_list armed;   /* armed slots (link), under lock */
static struct cs_list writers; /* watched slots (wlink), under lock */
static pthread_t thread;
static int running, stop;
/* While the watchdog waits: when it will look again (-1: not before it is
 * signalled).  Others read it under lock, when it can only be waiting (or
 * not yet started: 0, it looks anyway), and signal only for an earlier
 * time -- so an ordinary request costs no wake-up. */
static long long wake_at;

static void
unlink_slot(struct cs_deadline *d)
{
	cs_list_remove(&armed, &d->link);
	d->linked = 0;
}

/* Act on every slot that is due; return the next due time, or -1. */
static long long
fire_due(long long now)
{
	struct cs_deadline *d;
	struct cs_link *l;
	long long next = -1;

	for (l = armed.head; l != NULL; l = l->next) {
		d = CS_CONTAINER(l, struct cs_deadline, link);
		if (d->stage < 2 && d->at_ms <= now) {
			/* Errors are harmless: the peer may be gone already. */
			if (d->stage == 0) {
				shutdown(d->fd, SHUT_RD);
				d->at_ms = now + CS_DEADLINE_KILL_MS;
			} else
				shutdown(d->fd, SHUT_RDWR);
			d->stage++;
			d->fired = 1;
		}
		if (d->stage < 2 && (next < 0 || d->at_ms < next))
			next = d->at_ms;
	}
	return next;
}

/*
 * Cut every watched write that has run past its limit; return the next time
 * one could (a write in progress: when it overruns; none: a write that
 * starts now could overrun write_ms from now), or -1 with nothing watched.
 */
static long long
cut_slow(long long now)
{
	struct cs_deadline *d;
	struct cs_link *l;
	long long next = -1, since, due;

	for (l = writers.head; l != NULL; l = l->next) {
		d = CS_CONTAINER(l, struct cs_deadline, wlink);
		if (atomic_load(&d->cut))
			continue;
		since = atomic_load(&d->write_since);
		due = (since != 0 ? since : now) + d->write_ms;
		if (since != 0 && due <= now) {
			/*
			 * Mark before cutting: the blocked write fails the
			 * moment shutdown() returns, and its writer must then
			 * see the mark (it reads it in cs_deadline_write_end).
			 */
			atomic_store(&d->cut, 1);
			shutdown(d->fd, SHUT_RDWR);
			continue;
		}
		if (next < 0 || due < next)
			next = due;
	}
	return next;
}

/* Wake the watchdog if it would look later than at_ms (under lock). */
static void
wake_for(long long at_ms)
{
	if (running && wake_at != 0 && (wake_at < 0 || at_ms < wake_at))
		pthread_cond_signal(&wake);
}

static void *
watchdog(void *arg)
{
	struct timespec ts;
	long long now, next, wnext;

	pthread_setname_np(pthread_self(), "cs-watchdog");

	(void)arg;
	pthread_mutex_lock(&lock);
	while (!stop) {
		now = cs_now_ms();
		next = fire_due(now);
		wnext = cut_slow(now);
		if (next < 0 || (wnext >= 0 && wnext < next))
			next = wnext;
		wake_at = next;
		if (next < 0) {
			pthread_cond_wait(&wake, &lock);
			wake_at = 0;
			continue;
		}
		ts.tv_sec = (time_t)(next / 1000);
		ts.tv_nsec = (long)(next % 1000) * 1000000L;
		pthread_cond_timedwait(&wake, &lock, &ts);
		wake_at = 0;
	}
	pthread_mutex_unlock(&lock);
	return NULL;
}

int
cs_watchdog_start(void)
{
	pthread_condattr_t ca;
	int e;

	if (running)
		return 0;
	if ((e = pthread_condattr_init(&ca)) != 0 ||
	    (e = pthread_condattr_setclock(&ca, CLOCK_MONOTONIC)) != 0 ||
	    (e = pthread_cond_init(&wake, &ca)) != 0) {
		errno = e;
		return -1;
	}
	pthread_condattr_destroy(&ca);
	stop = 0;
	wake_at = 0;
	if ((e = pthread_create(&thread, NULL, watchdog, NULL)) != 0) {
		pthread_cond_destroy(&wake);
		errno = e;
		return -1;
	}
	running = 1;
	return 0;
}

void
cs_watchdog_stop(void)
{
	if (!running)
		return;
	pthread_mutex_lock(&lock);
	stop = 1;
	pthread_cond_signal(&wake);
	pthread_mutex_unlock(&lock);
	pthread_join(thread, NULL);
	running = 0;
}

void
cs_deadline_arm(struct cs_deadline *d, int fd, long ms)
{
	pthread_mutex_lock(&lock);
	if (d->linked)
		unlink_slot(d);
	d->linked = 1;
	d->fd = fd;
	d->at_ms = cs_now_ms() + ms;
	d->stage = 0;
	d->fired = 0;
	cs_list_push_front(&armed, &d->link);
	wake_for(d->at_ms);
	pthread_mutex_unlock(&lock);
}

int
cs_deadline_disarm(struct cs_deadline *d)
{
	int fired;

	pthread_mutex_lock(&lock);
	if (d->linked)
		unlink_slot(d);
	fired = d->fired;
	pthread_mutex_unlock(&lock);
	return fired;
}

void
cs_deadline_move(struct cs_deadline *d, int fd)
{
	pthread_mutex_lock(&lock);
	d->fd = fd;
	pthread_mutex_unlock(&lock);
}

void
cs_deadline_watch(struct cs_deadline *d, long ms)
{
	if (d == NULL)
		return;
	pthread_mutex_lock(&lock);
	if (!d->watched) {
		d->watched = 1;
		cs_list_push_front(&writers, &d->wlink);
	}
	d->write_ms = ms;
	atomic_store(&d->write_since, 0);
	atomic_store(&d->cut, 0);
	/* A write that starts now could overrun at now + ms (cut_slow). */
	wake_for(cs_now_ms() + ms);
	pthread_mutex_unlock(&lock);
}

void
cs_deadline_unwatch(struct cs_deadline *d)
{
	if (d == NULL)
		return;
	pthread_mutex_lock(&lock);
	if (d->watched) {
		cs_list_remove(&writers, &d->wlink);
		d->watched = 0;
	}
	atomic_store(&d->write_since, 0);
	pthread_mutex_unlock(&lock);
}

/*
 * No signal to the watchdog: it already sleeps at most write_ms past any
 * instant (see cut_slow), so a write that starts now is looked at by the
 * time it could overrun.  Clamp 0 (the clock's epoch) to 1: 0 means idle.
 */
void
cs_deadline_write_begin(struct cs_deadline *d)
{
	long long now;

	if (d == NULL || !d->watched)
		return;
	now = cs_now_ms();
	atomic_store(&d->write_since, now != 0 ? now : 1);
}

int
cs_deadline_write_end(struct cs_deadline *d)
{
	if (d == NULL || !d->watched)
		return 0;
	atomic_store(&d->write_since, 0);
	return atomic_load(&d->cut);
}

int
cs_deadline_was_cut(struct cs_deadline *d)
{
	return d != NULL && d->watched && atomic_load(&d->cut);
}
