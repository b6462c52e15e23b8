/*
 * deadline.h — a watchdog that cuts off a FastCGI connection whose request
 * (params and body) does not arrive in time, or whose answer is not taken.
 *
 * One thread serves every armed deadline.  At the deadline it calls
 * shutdown(fd, SHUT_RD): a read blocked on the connection (in libfcgi)
 * returns end-of-file, while writes still work, so the request can be
 * answered (408).  A peer that keeps trickling bytes past that gets
 * CS_DEADLINE_KILL_MS more, then shutdown(fd, SHUT_RDWR).
 *
 * The same thread bounds how long one write of the answer may block (a
 * client that stops reading, or trickles): while a slot is watched, every
 * write is bracketed by cs_deadline_write_begin/_end (two atomic stores,
 * no system call), and a write still in progress after the watch's limit
 * gets shutdown(fd, SHUT_RDWR), which makes the blocked write() fail.
 *
 * The fd is the caller's own descriptor for the connection and must stay
 * open while the deadline is armed or the slot watched: disarm and unwatch
 * first, then close it, so the watchdog never touches a number the kernel
 * has handed out again.
 */
#ifndef CS_DEADLINE_H
#define CS_DEADLINE_H

#include <stdatomic.h>

#include "list.h"

#define CS_DEADLINE_KILL_MS 1000 /* after the deadline, before SHUT_RDWR */

/* One slot, owned by the caller (e.g. on a worker's stack); zero it
 * before first use.  Fields are the watchdog's. */
struct cs_deadline {
	int linked; /* armed: in the watchdog's list */
	int fd;
	long long at_ms;     /* next action, CLOCK_MONOTONIC ms */
	int stage;           /* 0 armed, 1 SHUT_RD done, 2 SHUT_RDWR */
	int fired;           /* stage > 0 was reached since arming */
	struct cs_link link; /* on the armed list */
	/* write watch */
	int watched; /* in the watchdog's list of writers */
	long write_ms;
	_Atomic long long write_since; /* ms; 0 = no write in progress */
	_Atomic int cut;      /* a write overran: the fd was shut down */
	struct cs_link wlink; /* on the list of watched writers */
};

/* Start the watchdog thread.  0, or -1 (errno set). */
int cs_watchdog_start(void);
/* Stop and join it.  Deadlines armed later never fire.  Idempotent. */
void cs_watchdog_stop(void);

/* Arm d for fd, firing ms from now.  d must not be armed. */
void cs_deadline_arm(struct cs_deadline *d, int fd, long ms);
/* Disarm d (no-op if not armed).  Returns 1 if it fired since it was
 * last armed (the connection was shut down for reading), else 0; so a
 * second disarm still tells.  After it returns the watchdog no longer
 * touches d->fd. */
int cs_deadline_disarm(struct cs_deadline *d);
/* From now on act on fd, another descriptor of the same connection, with
 * d's time, stage and fired flag as they are (armed or not): the one d
 * held may be closed once this returns. */
void cs_deadline_move(struct cs_deadline *d, int fd);

/* Watch d's writes on the fd d was last armed for: from now on a write
 * (between write_begin and write_end) may take at most ms.  Clears the cut
 * flag.  NULL-safe. */
void cs_deadline_watch(struct cs_deadline *d, long ms);
/* Stop watching (no-op if not watched).  After it returns the watchdog no
 * longer touches the fd.  NULL-safe. */
void cs_deadline_unwatch(struct cs_deadline *d);
/* A write to the watched fd starts / has returned.  write_end returns 1 if
 * the watchdog cut the connection since the watch began (the write failed,
 * or the next will), else 0.  No locks, no system calls; NULL-safe. */
void cs_deadline_write_begin(struct cs_deadline *d);
int cs_deadline_write_end(struct cs_deadline *d);
/* 1 if the watchdog cut the connection since the watch began, else 0 (it
 * may cut just as a write completes; the next write or probe then fails).
 * NULL-safe. */
int cs_deadline_was_cut(struct cs_deadline *d);

#endif
