/*
 * state_route.h — what upstream routing keeps in the shared store
 * (state.h): each deployment's recent failures and its cooldown, and its
 * open streams, so every process of the pool (and, on Redis, every host)
 * skips a deployment that is down and sees how busy each one is.
 *
 * A deployment is named by the caller ("ALIAS#INDEX:UPSTREAM" or the
 * like: 1..CS_STATE_NAME_MAX bytes, any bytes but NUL).  The same rules
 * as state.h: one handle per thread, no clock read here (now_ms is
 * CLOCK_REALTIME in ms, the caller's), strings borrowed for the call,
 * CS_EBADINPUT for invalid arguments (then nothing changed), CS_ESTATE
 * when the store cannot be used.
 *
 * Backends: memory (this process: at most CS_STATE_ROUTE_MEM_NAMES
 * names, an idle one evicted for a new one, and CS_STATE_ROUTE_MEM_OPEN
 * open streams; else CS_ESTATE), SQLite (its own tables in the same
 * file, one transaction per call), Redis (keys "cs:rt:...", one script
 * per call, all expiring).  A name is idle when it is not cooling, has
 * no open window and no open stream: forgetting it changes nothing.
 */
#ifndef CS_STATE_ROUTE_H
#define CS_STATE_ROUTE_H

#include <stddef.h>

#include "cs.h"
#include "state.h"

#define CS_STATE_ROUTE_MAX 8 /* deployments one read looks at */
/* Largest accepted allowed_fails and window / cooldown lengths. */
#define CS_STATE_ROUTE_FAILS_MAX 1000000L
#define CS_STATE_ROUTE_SPAN_MAX  (7 * 86400000LL) /* a week, ms */
#define CS_STATE_ROUTE_MEM_NAMES 4096  /* names the memory backend keeps */
#define CS_STATE_ROUTE_MEM_OPEN  16384 /* open streams, memory backend */

/* One deployment as read at now_ms. */
struct cs_route_seen {
	long long cooled_until_ms; /* > now_ms: cooling until then; else 0 */
	long long fails;           /* failures in the current window */
	long long busy;            /* open, unexpired streams */
};

/*
 * The state of names[0..n) (n 1..CS_STATE_ROUTE_MAX, names may repeat)
 * at now_ms into seen[0..n).  Read only.
 */
enum cs_err cs_state_route_read(struct cs_state *st, const char *const *names,
    size_t n, long long now_ms, struct cs_route_seen *seen);

/*
 * One failure of name at now_ms.  Failures are counted in a fixed window
 * that opens at the first failure after the previous window closed and
 * lasts window_ms (open while now_ms < its start + window_ms); when the
 * count reaches allowed_fails (1..FAILS_MAX) the deployment cools until
 * now_ms + cooldown_ms and the count starts over: that window closes,
 * and the next failure after the cooldown opens a new one.  A failure
 * while cooling (now_ms < the cooldown's end) counts nothing and changes
 * nothing.
 * *cooled_until_ms: the end of the cooldown this call began or found,
 * else 0.  window_ms and cooldown_ms: 1..CS_STATE_ROUTE_SPAN_MAX.
 */
enum cs_err cs_state_route_fail(struct cs_state *st, const char *name,
    long allowed_fails, long long window_ms, long long cooldown_ms,
    long long now_ms, long long *cooled_until_ms);

/*
 * A stream opened on name, with the caller's id (CS_STATE_ID_LEN hex
 * digits, random, unique per stream: it may be closed on one name and
 * then opened on another): counted in busy until cs_state_route_close of
 * that id on that name, or until expire_ms (now_ms + 1 ..
 * CS_STATE_TIME_MAX; a process that died).  Opening an id already open on
 * name renews it.  Close of an unknown or expired id is CS_OK and changes
 * nothing (another name does not know the id); an id that is not
 * CS_STATE_ID_LEN hex digits is CS_EBADINPUT.
 */
enum cs_err cs_state_route_open(struct cs_state *st, const char *name,
    const char *id, long long now_ms, long long expire_ms);
enum cs_err cs_state_route_close(
    struct cs_state *st, const char *name, const char *id, long long now_ms);

#endif
