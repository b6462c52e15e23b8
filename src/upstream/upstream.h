/*
 * upstream.h — one provider request run on an event loop (loop.h): the
 * libcurl transfer, its body fed to the provider's adapter, keep-alives,
 * the four provider timeouts, retries of transient failures before
 * anything reached the client, back-pressure from a client that lags, and
 * a client that leaves.  Nothing here blocks the loop: every wait is a
 * timer or a watch, and the client's connection is written only when it
 * has room (stream.h: deferred writes).
 *
 * Built on any thread (cs_upstream_prepare: the provider request is made
 * from the chat request, which is no longer needed after), begun and run
 * on the loop's thread.  libcurl keeps provider connections alive in the
 * loop's multi handle, so they are reused across requests.
 */
#ifndef CS_UPSTREAM_H
#define CS_UPSTREAM_H

#include "cs.h"

struct cs_chat_request;
struct cs_loop;
struct cs_provider;
struct cs_stream;
struct cs_run;

/*
 * done(arg, r): the run is over and everything it wrote has gone to the
 * client (or the client is gone): CS_OK, CS_ECLIENTGONE, CS_EUPSTREAM,
 * CS_ETIMEOUT, CS_ESHUTDOWN, ...  Every outcome is written to the stream
 * (events, an error event and the end marker, or an HTTP error); the
 * retries made are in it (cs_stream_set_retries).  Runs on the loop.
 */
typedef void (*cs_run_done_fn)(void *arg, enum cs_err r);

/* A run of req through provider p into s (both must outlive it), with the
 * endpoint, key, headers, timeouts and retries of req->model->up.  NULL
 * when the request cannot be built: the failure is then written to s. */
struct cs_run *cs_upstream_prepare(const struct cs_provider *p,
    const struct cs_chat_request *req, struct cs_stream *s);

/* The same over the deployments of plan (route.h), in its order, each
 * with its own provider, upstream and model name; the run owns the
 * plan's open-stream slot from here (moved, then released at its end). */
struct cs_route_plan;
struct cs_run *cs_upstream_prepare_route(const struct cs_chat_request *req,
    const struct cs_route_plan *plan, struct cs_stream *s);

/*
 * An answer made on the server instead of fetched (the demo provider, the
 * self-check), paced by the loop: step writes the next event(s) to s and
 * returns CS_OK with *next_ms, when to be called again; CS_EDONE once the
 * answer is complete (its finish is written); any other error fails the
 * stream.  The first step runs at once.  While the client lags
 * (max_pending_bytes wait) no step runs.  free releases src.
 */
struct cs_source_ops {
	enum cs_err (*step)(void *src, struct cs_stream *s, long *next_ms);
	void (*free)(void *src);
};
/* A run of source src (ops->free'd with the run, or now if NULL is
 * returned: out of memory, written to s). */
struct cs_run *cs_upstream_prepare_source(
    const struct cs_source_ops *ops, void *src, struct cs_stream *s);
/* Start it on loop l (on l's thread); done is called exactly once, never
 * from within this call. */
void cs_upstream_begin(
    struct cs_run *run, struct cs_loop *l, cs_run_done_fn done, void *arg);
/* Look at the clocks again now (the shutdown deadline was set). */
void cs_upstream_poke(struct cs_run *run);
/* After done, or instead of begin.  NULL-safe. */
void cs_upstream_free(struct cs_run *run);

/* Run a prepared run on a loop of its own until it is over (plain CGI),
 * then free it. */
enum cs_err cs_upstream_run(struct cs_run *run);

#endif
