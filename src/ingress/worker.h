/*
 * worker.h — what a worker thread hands down while it serves one request
 * (main.c owns it; the request handlers read it and leave a prepared
 * stream in it for main.c to hand to a loop).
 */
#ifndef CS_WORKER_H
#define CS_WORKER_H

struct cs_config;
struct cs_reqctx;
struct cs_run;
struct cs_state;
struct cs_ticket;

/* Per-thread context (all borrowed). */
struct cs_worker {
	const struct cs_config *cfg;
	int overloaded;     /* every worker is busy: answer 503 + Retry-After
	                       (logged overloaded), serve nothing */
	int hand_off;       /* streams go to the loops (engine.h) */
	struct cs_run *run; /* the request's run, prepared to hand over */
	/* Admission (admit.h): the request, its ticket (owned by
	 * cs_handle), and this thread's store, opened on first use. */
	const struct cs_reqctx *rq;
	struct cs_ticket *ticket;
	struct cs_state *state;
};

#endif
