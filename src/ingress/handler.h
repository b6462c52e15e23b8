/*
 * handler.h — one HTTP request: route it, check method, content type and
 * size, read and validate the body, run the provider, log one line.
 */
#ifndef CS_HANDLER_H
#define CS_HANDLER_H

#include "worker.h"

struct cs_conn;

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
int cs_handle(
    struct cs_worker *w, struct cs_conn *conn, cs_over_fn over, void *arg);

#endif
