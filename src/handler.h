/*
 * handler.h — one HTTP request: route it, check method, content type and
 * size, read and validate the body, run the provider, log one line.
 */
#ifndef CS_HANDLER_H
#define CS_HANDLER_H

struct cs_config;
struct cs_conn;
struct cs_upstream;

/* Per-thread context (all borrowed). */
struct cs_worker {
	const struct cs_config *cfg;
	struct cs_upstream *up;
	int overloaded;     /* every worker is busy: answer 503 + Retry-After
	                       (logged overloaded), serve nothing */
};

/* Serve the request on conn completely (response written, line logged). */
void cs_handle(struct cs_worker *w, struct cs_conn *conn);

#endif
