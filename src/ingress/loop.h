/*
 * loop.h — one event loop: an epoll set over file descriptors, a heap of
 * timers, a libcurl multi handle driven through its socket and timer
 * callbacks, and a queue other threads post work to.  One thread runs a
 * loop (cs_loop_run); every call below except cs_loop_post, cs_loop_stop
 * and cs_loop_load is made on that thread, from the callbacks it runs.
 *
 * Nothing here blocks but the one wait in cs_loop_run_once.  Watches and
 * timers are embedded in their owner's struct (no allocation); the owner
 * keeps them alive while they are armed and may cancel, re-arm or free
 * them from any callback, including their own.
 */
#ifndef CS_LOOP_H
#define CS_LOOP_H

#include <stddef.h>
#include <stdint.h>

#include <curl/curl.h>

#include "cs.h"

struct cs_loop;

/* Events of a watch (a mask). */
#define CS_IO_IN  1u /* readable, or the peer hung up (read to see) */
#define CS_IO_OUT 2u /* writable */
#define CS_IO_HUP \
	4u /* the peer closed or shut down its side
                            (EPOLLRDHUP / EPOLLHUP / EPOLLERR); reported,
                            never asked for: it always is */

typedef void (*cs_io_fn)(void *arg, unsigned events);
typedef void (*cs_timer_fn)(void *arg);
typedef void (*cs_post_fn)(void *arg);
/* A transfer of the loop's multi handle ended (CURLMSG_DONE). */
typedef void (*cs_xfer_done_fn)(void *arg, CURLcode result);

/* A file descriptor watched for events (level-triggered).  Fields are
 * the loop's; zero it before first use. */
struct cs_watch {
	int fd;          /* -1 while not watched */
	unsigned events; /* what is asked for */
	cs_io_fn fn;
	void *arg;
};

/* A one-shot timer.  Fields are the loop's; cs_timer_init before use. */
struct cs_timer {
	int64_t due; /* cs_now_ms() time */
	size_t slot; /* index in the heap + 1; 0 = not armed */
	cs_timer_fn fn;
	void *arg;
};

/* A libcurl easy handle run by the loop's multi.  Fields are the loop's. */
struct cs_xfer_slot {
	CURL *easy; /* NULL while not added */
	cs_xfer_done_fn done;
	void *arg;
};

/* NULL when out of memory (or epoll/eventfd/curl_multi_init failed). */
struct cs_loop *cs_loop_new(void);
/* Every watch, timer and transfer must be gone.  NULL-safe. */
void cs_loop_free(struct cs_loop *l);

/* Watch fd for events (CS_IO_IN | CS_IO_OUT, may be 0: hang-up only).
 * fn(arg, events) runs on the loop thread for each readiness.  0, or -1
 * (errno set). */
int cs_loop_watch(struct cs_loop *l, struct cs_watch *w, int fd,
    unsigned events, cs_io_fn fn, void *arg);
/* Change what w asks for; a no-op when it is the same.  0 or -1. */
int cs_loop_rewatch(struct cs_loop *l, struct cs_watch *w, unsigned events);
/* Stop watching (no-op if not watched).  Call before closing the fd. */
void cs_loop_unwatch(struct cs_loop *l, struct cs_watch *w);

void cs_timer_init(struct cs_timer *t, cs_timer_fn fn, void *arg);
/* Arm t for due (cs_now_ms() time; the past means the next pass); an
 * armed timer moves. */
void cs_loop_timer_at(struct cs_loop *l, struct cs_timer *t, int64_t due);
/* Disarm (no-op if not armed). */
void cs_loop_timer_cancel(struct cs_loop *l, struct cs_timer *t);
int cs_timer_armed(const struct cs_timer *t);

/*
 * Run easy on the loop's multi handle.  done(arg, result) runs once, on
 * the loop thread, when it ends, unless it is removed first.  0, or -1.
 */
int cs_loop_xfer_add(struct cs_loop *l, struct cs_xfer_slot *x, CURL *easy,
    cs_xfer_done_fn done, void *arg);
/* Take the transfer off the multi handle (closing its connection if it is
 * unfinished); done is not called.  No-op if not added. */
void cs_loop_xfer_remove(struct cs_loop *l, struct cs_xfer_slot *x);
/* After curl_easy_pause(CURLPAUSE_CONT) on a transfer: let libcurl
 * deliver what it holds, on the next pass. */
void cs_loop_xfer_kick(struct cs_loop *l);

/*
 * From any thread: run fn(arg) on the loop thread soon (FIFO).  0, or -1
 * when out of memory.  The loop runs every posted call before it stops.
 */
int cs_loop_post(struct cs_loop *l, cs_post_fn fn, void *arg);

/* Wait for at most max_ms (-1: no limit) and run what is ready: I/O
 * callbacks, libcurl, due timers, posted calls.  0, or -1 (errno set) if
 * the wait failed. */
int cs_loop_run_once(struct cs_loop *l, long max_ms);
/* Run until cs_loop_stop (from any thread, or a callback). */
void cs_loop_run(struct cs_loop *l);
void cs_loop_stop(struct cs_loop *l);

/* A count the owner keeps (open streams), readable from any thread, for
 * choosing the least-loaded loop. */
void cs_loop_load_add(struct cs_loop *l, int delta);
int cs_loop_load(const struct cs_loop *l);

#endif
