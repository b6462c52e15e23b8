/*
 * deadline.h — a watchdog that cuts off a FastCGI connection whose request
 * (params and body) does not arrive in time.
 *
 * One thread serves every armed deadline.  At the deadline it calls
 * shutdown(fd, SHUT_RD): a read blocked on the connection (in libfcgi)
 * returns end-of-file, while writes still work, so the request can be
 * answered (408).  A peer that keeps trickling bytes past that gets
 * CS_DEADLINE_KILL_MS more, then shutdown(fd, SHUT_RDWR).
 *
 * The fd is the caller's own descriptor for the connection and must stay
 * open while the deadline is armed: disarm first, then close it, so the
 * watchdog never touches a number the kernel has handed out again.
 */
#ifndef CS_DEADLINE_H
#define CS_DEADLINE_H

#define CS_DEADLINE_KILL_MS 1000   /* after the deadline, before SHUT_RDWR */

/* One slot, owned by the caller (e.g. on a worker's stack); zero it
 * before first use.  Fields are the watchdog's. */
struct cs_deadline {
	int linked;                /* armed: in the watchdog's list */
	int fd;
	long long at_ms;           /* next action, CLOCK_MONOTONIC ms */
	int stage;                 /* 0 armed, 1 SHUT_RD done, 2 SHUT_RDWR */
	int fired;                 /* stage > 0 was reached since arming */
	struct cs_deadline *prev, *next;
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

#endif
