/*
 * state.h — shared admission state: per-name request rates, concurrent
 * streams and daily token budgets, and the usage ledger.
 *
 * Backends (the spec given to cs_state_open()):
 *   "memory"       this process only: every handle of the process shares
 *                  one mutex-protected store (at most CS_STATE_MEM_BUCKETS
 *                  names, least recently used idle names evicted; ledger a
 *                  ring of CS_STATE_MEM_LEDGER records);
 *   "sqlite:PATH"  every process on the host: one SQLite file in WAL mode,
 *                  one BEGIN IMMEDIATE transaction per admit and settle, so
 *                  each is atomic across processes; a store that stays
 *                  locked past its busy timeout (CS_STATE_BUSY_MS) is
 *                  CS_ESTATE, never a hang;
 *   "redis://HOST:PORT[/DB][?password_file=PATH]",
 *   "redis+unix:///PATH[?db=N][&password_file=PATH]"
 *                  every process on every host naming it: one standalone
 *                  Redis (not Cluster), one Lua script per admit and
 *                  settle, so each is atomic across hosts; every call
 *                  times out after CS_STATE_BUSY_MS (CS_ESTATE), and a
 *                  failed connection is made again on the next call.
 *                  PORT 1..65535, DB (N) 0..15, default 0; the password
 *                  is read once at open from a file that group and others
 *                  may not access (else CS_ECONFIG), one line, never
 *                  logged.  Keys are "cs:..." and all expire (a dead
 *                  process's reservations at expire_ms, on Redis' clock:
 *                  keep the hosts' clocks in step).  The ledger keeps 400
 *                  days, and purge drops whole UTC days: those ending at
 *                  or before before_ms.
 *
 * A handle is for one thread at a time (SQLite: one connection per handle);
 * open one per thread.  Nothing here reads a clock: every call takes
 * now_ms (CLOCK_REALTIME in ms), so tests control time and the UTC day.
 *
 * Ownership: struct cs_state is opaque, owned by the caller of
 * cs_state_open() and freed with cs_state_close().  Every string passed in
 * is borrowed for the call and copied when kept.  Results are filled into
 * the caller's structs; strings given to a cs_usage_row_fn are borrowed for
 * that call.
 *
 * Errors: CS_EBADINPUT for invalid arguments (a name empty or longer than
 * CS_STATE_NAME_MAX, n > CS_STATE_MAX_BUCKETS, a number out of range) and
 * then nothing has changed; CS_ECONFIG for a spec that names no backend
 * or does not parse (a redis one, its password file);
 * CS_ESTATE when the store cannot be used (busy past the timeout, I/O,
 * full).  A refusal is not an error: CS_OK with allowed = 0.
 */
#ifndef CS_STATE_H
#define CS_STATE_H

#include <stddef.h>

#include "cs.h"

struct cs_state;

#define CS_STATE_MAX_BUCKETS         4 /* buckets one admission counts against */
#define CS_STATE_NAME_MAX            160 /* bytes of a bucket name or ledger string */
#define CS_STATE_ID_LEN              32   /* hex digits of a reservation id */
#define CS_STATE_BUSY_MS             200  /* SQLite busy_timeout, Redis I/O */
#define CS_STATE_RETRY_CONCURRENT_MS 1000 /* retry hint when streams are full */
#define CS_STATE_MEM_BUCKETS         100000 /* names the memory backend keeps */
#define CS_STATE_MEM_HOLDS           65536 /* live reservations, memory backend */
#define CS_STATE_MEM_LEDGER          10000 /* ledger ring, memory backend */

/* Largest accepted values: counts, tokens and times beyond are invalid. */
#define CS_STATE_LIMIT_MAX  1000000000L        /* rpm, concurrent */
#define CS_STATE_TOKENS_MAX 1000000000000000LL /* 10^15 tokens */
#define CS_STATE_TIME_MAX   253402300799999LL  /* 9999-12-31, ms */

enum cs_err cs_state_open(
    const char *spec, struct cs_state **out, char *err, size_t errlen);
/* NULL-safe. */
void cs_state_close(struct cs_state *st);

/*
 * For --check-config: one line in msg saying where the store is and
 * whether it is writable (redis: reachable, after AUTH and a PING).  CS_OK
 * when it is usable.  No side effects: for sqlite a missing PATH is one
 * its directory lets this user create (tried with a temporary file,
 * removed), an existing one takes an empty write transaction, rolled
 * back; no file or table is left behind.
 */
enum cs_err cs_state_check(const char *spec, char *msg, size_t len);
/* Is spec well-formed (a backend, and its argument as that backend
 * reads it)?  No connection and no file is opened, but a redis
 * password_file is read.  CS_OK, or CS_ECONFIG with the reason in err. */
enum cs_err cs_state_spec_check(const char *spec, char *err, size_t errlen);

struct cs_bucket_req {
	const char *name; /* e.g. "ip:203.0.113.0/64"; borrowed */
	long rpm;         /* requests a minute, token bucket, burst = rpm;
	                     0 = unlimited */
	long concurrent;  /* live reservations at once; 0 = unlimited */
	long long tokens_per_day; /* UTC day; 0 = unlimited */
};

struct cs_admit {
	struct cs_bucket_req b[CS_STATE_MAX_BUCKETS];
	size_t n;                 /* names must differ */
	long long reserve_tokens; /* held against every tokens_per_day bucket */
	long long now_ms;         /* CLOCK_REALTIME, ms */
	long long expire_ms;      /* > now_ms: after it the reservation counts
	                             for nothing (a process that died) */
};

/* why (a refusal) and kind (the limit the numbers describe). */
#define CS_REFUSE_RATE       1
#define CS_REFUSE_CONCURRENT 2
#define CS_REFUSE_BUDGET     3

struct cs_admit_result {
	int allowed;
	size_t refused;           /* refusing bucket (allowed: the tightest) */
	int why;                  /* CS_REFUSE_*, 0 when allowed */
	int kind;                 /* CS_REFUSE_* of limit/remaining/reset_ms;
	                             0: no bucket had a limit (all three 0) */
	long long retry_after_ms; /* refused: until that bucket has room */
	long long limit;          /* for RateLimit / x-ratelimit-* headers: */
	long long remaining;      /* after this request when allowed */
	long long reset_ms;       /* rate: until full; budget: until UTC
	                             midnight; concurrent: the retry hint */
	char id[CS_STATE_ID_LEN + 1]; /* the reservation, when allowed */
};

/*
 * Admission, all or nothing: every bucket's rate token, concurrency slot
 * and budget is checked, and only when all allow is a rate token taken
 * from each rated bucket and one reservation recorded (id, buckets,
 * reserve_tokens against each budgeted one, expiry).  A budget refuses
 * when used + reserved + reserve_tokens would pass tokens_per_day, or
 * when nothing is left.
 */
enum cs_err cs_state_admit(
    struct cs_state *st, const struct cs_admit *a, struct cs_admit_result *res);

/*
 * Ends reservation id: its concurrency slot is freed and used_tokens
 * (0..CS_STATE_TOKENS_MAX) replace its reserved tokens in each budgeted
 * bucket, for the UTC day of the admission.  An unknown or expired id is
 * CS_OK and changes nothing (settle is idempotent); an id that is not
 * CS_STATE_ID_LEN hex digits is CS_EBADINPUT.
 */
enum cs_err cs_state_settle(struct cs_state *st, const char *id,
    long long used_tokens, long long now_ms);

/* One finished request.  Strings may be NULL (stored as ""); token counts
 * and times are -1 when unknown (counted as 0 in usage). */
struct cs_ledger_rec {
	long long time_ms;
	const char *request_id, *identity, *key_name, *model, *upstream,
	    *outcome;
	long long prompt_tokens, completion_tokens, generated_tokens,
	    delivered_tokens;
	long ttfd_ms, duration_ms;
	int tried; /* deployments tried (route.h); 0 unknown */
};

enum cs_err
cs_state_ledger_add(struct cs_state *st, const struct cs_ledger_rec *rec);
/* Upkeep off the admissions' path, for the settle thread to run every
 * CS_STATE_MAINTAIN_MS while it writes: SQLite copies its WAL back into
 * the database (a checkpoint, with its fsyncs, which admissions no
 * longer run).  A no-op for the other backends. */
#define CS_STATE_MAINTAIN_MS 250
enum cs_err cs_state_maintain(struct cs_state *st);
/* Drops every record with time_ms < before_ms (redis: whole UTC days
 * only, so records of before_ms's own day stay until a later purge). */
enum cs_err cs_state_ledger_purge(struct cs_state *st, long long before_ms);

/* One group of cs_state_usage(); group is borrowed for the call. */
typedef void (*cs_usage_row_fn)(void *ctx, const char *group,
    long long requests, long long prompt_tokens, long long completion_tokens);

/*
 * The ledger since since_ms, grouped by "day" (UTC, "YYYY-MM-DD"),
 * "model", "identity" or "key": fn once per group, in ascending order of
 * group.  Another by is CS_EBADINPUT.  fn must not call into st (SQLite
 * calls it while the query runs).  Redis reads the latest 400 days that
 * have records, a page at a time, and groups them here (at most 100000
 * groups, else CS_ESTATE).
 */
enum cs_err cs_state_usage(struct cs_state *st, long long since_ms,
    const char *by, cs_usage_row_fn fn, void *ctx);

#endif
