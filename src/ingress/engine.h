/*
 * engine.h — the event-loop threads that run provider streams.  A worker
 * thread reads and checks a request, prepares its provider run
 * (upstream.h) and hands it over here; the run then lives on the
 * least-loaded loop until its answer is out, and the worker goes on to
 * the next connection.  Loops start as they are needed, up to the number
 * asked for: a process that serves one stream at a time (mod_fcgid) keeps
 * one.
 */
#ifndef CS_ENGINE_H
#define CS_ENGINE_H

#include "upstream.h"

/* Run this thread in glibc's built-in "C" locale object, so json-c does
 * not take glibc's locale lock on every parse (see engine.c).  Workers
 * and loops call it first. */
void cs_c_locale_for_thread(void);

/* Allow up to nloops loops (none start yet).  0, or -1 (errno set). */
int cs_engine_start(int nloops);

/*
 * Run run on a loop; done(arg, r) is called there when it is over (see
 * cs_run_done_fn) and must free run.  0, or -1 when no loop could be had
 * (run is then untouched and still the caller's).
 */
int cs_engine_submit(struct cs_run *run, cs_run_done_fn done, void *arg);

/* Streams on the loops now (submitted, not yet done). */
int cs_engine_streams(void);
/* Loops started so far. */
int cs_engine_loops(void);

/* The shutdown deadline was set (stream.h): every run looks at it. */
void cs_engine_poke(void);

/* Wait until every stream is done or until_ms (cs_now_ms() time) passes,
 * then stop and join the loops.  Returns the streams still open. */
int cs_engine_stop(long long until_ms);

#endif
