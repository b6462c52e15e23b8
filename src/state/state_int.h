/*
 * state_int.h — what src/state/ shares inside: the backend ops table and
 * the arithmetic every backend uses, so a backend only reads and writes
 * counters (a Redis one is one more file and one more table row).
 *
 * state.c validates every argument before an op runs, makes reservation
 * ids and owns struct cs_state; a backend owns what it hangs off be.
 */
#ifndef CS_STATE_INT_H
#define CS_STATE_INT_H

#include <stddef.h>

#include "cs.h"
#include "state.h"
#include "state_route.h"
#include "state_scan.h"

#define CS_STATE_DAY_MS  86400000LL
#define CS_STATE_TOKEN   60000LL /* one rate token in level units */
#define CS_STATE_RATE_MS 60000LL /* an idle bucket is full after this */

enum cs_usage_by {
	CS_BY_DAY,
	CS_BY_MODEL,
	CS_BY_IDENTITY,
	CS_BY_KEY
};

struct cs_state_ops {
	const char
	    *prefix; /* the spec: "memory", or "sqlite:" etc. + argument */
	/* arg: the spec after prefix; fills err once on failure. */
	enum cs_err (*open)(
	    struct cs_state *st, const char *arg, char *err, size_t errlen);
	void (*close)(struct cs_state *st);
	enum cs_err (*check)(const char *arg, char *msg, size_t len);
	/* arg well-formed? fills err on failure; NULL: any arg is. */
	enum cs_err (*syntax)(const char *arg, char *err, size_t errlen);
	/* a is valid; id is the new reservation's, kept only if allowed. */
	enum cs_err (*admit)(struct cs_state *st, const struct cs_admit *a,
	    const char *id, struct cs_admit_result *res);
	enum cs_err (*settle)(struct cs_state *st, const char *id,
	    long long used_tokens, long long now_ms);
	enum cs_err (*ledger_add)(
	    struct cs_state *st, const struct cs_ledger_rec *rec);
	enum cs_err (*ledger_purge)(struct cs_state *st, long long before_ms);
	enum cs_err (*usage)(struct cs_state *st, long long since_ms,
	    enum cs_usage_by by, cs_usage_row_fn fn, void *ctx);
	/* state_scan.h, arguments valid: the days of refusals are
	 * since_ms / CS_STATE_DAY_MS ... until_ms / CS_STATE_DAY_MS. */
	enum cs_err (*ledger_scan)(struct cs_state *st, long long since_ms,
	    cs_ledger_fn fn, void *ctx);
	enum cs_err (*refusal_add)(
	    struct cs_state *st, const char *reason, long n, long long now_ms);
	enum cs_err (*refusals)(struct cs_state *st, long long since_ms,
	    long long until_ms, cs_refusal_fn fn, void *ctx);
	/* cs_state_maintain's work; NULL: there is none. */
	enum cs_err (*maintain)(struct cs_state *st);
	/* state_route.h, arguments valid; seen[0..n) and *cooled_until_ms
	 * are 0 on entry; id is the new stream's (open). */
	enum cs_err (*route_read)(struct cs_state *st, const char *const *names,
	    size_t n, long long now_ms, struct cs_route_seen *seen);
	enum cs_err (*route_fail)(struct cs_state *st, const char *name,
	    long allowed_fails, long long window_ms, long long cooldown_ms,
	    long long now_ms, long long *cooled_until_ms);
	enum cs_err (*route_open)(struct cs_state *st, const char *name,
	    long long now_ms, long long expire_ms, const char *id);
	enum cs_err (*route_close)(struct cs_state *st, const char *name,
	    const char *id, long long now_ms);
};

struct cs_state {
	const struct cs_state_ops *ops;
	void *be; /* the backend's, freed by ops->close */
};

extern const struct cs_state_ops cs_state_memory_ops;
extern const struct cs_state_ops cs_state_sqlite_ops;
extern const struct cs_state_ops cs_state_redis_ops;      /* redis:// */
extern const struct cs_state_ops cs_state_redis_unix_ops; /* redis+unix:// */

/*
 * What a backend read for one bucket, inside its transaction.  Rate level
 * is in CS_STATE_TOKEN units a token; have_rate 0 means no row (full).
 */
struct cs_bucket_seen {
	int have_rate;
	long long level, last_ms; /* as stored */
	long long live;           /* unexpired reservations */
	long long used, reserved; /* today's settled and held tokens */
};

/* The rate level of a bucket at now_ms (refilled, capped at burst). */
long long
cs_state_rate_level(const struct cs_bucket_seen *s, long rpm, long long now_ms);

/*
 * The verdict over a->b[0..n) from seen[0..n): fills res (all but id).
 * On allowed, new_level[i] is what bucket i's rate level becomes (for
 * rpm 0 buckets it is unused).
 */
void cs_state_judge(const struct cs_admit *a, const struct cs_bucket_seen *seen,
    long long *new_level, struct cs_admit_result *res);

/* What a backend keeps for one deployment (state_route.h); all 0 when
 * it keeps nothing.  The window is open while now_ms < win_end_ms. */
struct cs_route_dep {
	long long win_end_ms, fails, cooled_until_ms;
};

/*
 * One failure at now_ms applied to d (arguments as cs_state_route_fail
 * takes them): 1 when d changed, 0 when it is cooling (and stays as it
 * was).  *cooled_until_ms: the cooldown's end it began or found, else 0.
 */
int cs_state_route_failed(struct cs_route_dep *d, long allowed_fails,
    long long window_ms, long long cooldown_ms, long long now_ms,
    long long *cooled_until_ms);

/* What read says of d at now_ms, with busy open streams, into seen. */
void cs_state_route_seen(const struct cs_route_dep *d, long long busy,
    long long now_ms, struct cs_route_seen *seen);

/* The ledger group key of rec by by into key[CS_STATE_NAME_MAX + 1]. */
void cs_state_usage_key(
    const struct cs_ledger_rec *rec, enum cs_usage_by by, char *key);

/* x for a sum: -1 (unknown) and below count as 0. */
static inline long long
cs_state_count(long long x)
{
	return x > 0 ? x : 0;
}

/* snprintf into err when err is not NULL. */
void cs_state_errf(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
