/*
 * handler.h — one HTTP request: route it, check method, content type and
 * size, read and validate the body, run the provider, log one line.
 */
#ifndef CS_HANDLER_H
#define CS_HANDLER_H

struct cs_chat_request;
struct cs_config;
struct cs_conn;
struct cs_run;
struct cs_stream;

/* Per-thread context (all borrowed). */
struct cs_worker {
	const struct cs_config *cfg;
	int overloaded;     /* every worker is busy: answer 503 + Retry-After
	                       (logged overloaded), serve nothing */
	int hand_off;       /* provider streams go to the loops (engine.h) */
	struct cs_run *run; /* the request's run, prepared to hand over */
};

/* The connection a handed-over stream used may be finished now; lost:
 * it failed (the client left or did not read), so nothing more can go
 * out on it. */
typedef void (*cs_over_fn)(void *arg, int lost);

/*
 * Serve the request on conn.  0: it is complete (response written, line
 * logged).  1: its provider stream went to an event loop, which writes
 * the rest and the log line, then calls over(arg, lost) on its thread;
 * conn must live until then.
 */
int cs_handle(struct cs_worker *w, struct cs_conn *conn, cs_over_fn over,
    void *arg);

/* Run req through its provider into s (for the request handlers): here,
 * or prepared as w->run for a loop when w->hand_off (past max_streams:
 * 503). */
void cs_handle_provider(struct cs_worker *w,
    const struct cs_chat_request *req, struct cs_stream *s);
/* Run a prepared run (upstream.h; NULL: its failure is written): handed
 * to a loop when w->hand_off, else here until it is over. */
void cs_handle_run(struct cs_worker *w, struct cs_run *run);

#endif
