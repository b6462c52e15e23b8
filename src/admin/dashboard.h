/*
 * dashboard.h — the usage dashboard's data (GET /api/admin/usage, the
 * page in www/admin/): the ledger of the last CS_DASH_DAYS UTC days
 * (today included) added up per day, per model and per key, the top
 * identities, the error and refusal counts and the time to first delta
 * per day, as one JSON object (docs/protocol.md).
 *
 * Bounded memory, whatever the ledger holds: per day a log-bucket
 * histogram of ttfd (CS_DASH_HIST buckets: exact below 16 ms, then 8 a
 * doubling, so a percentile is within 1/16 of the truth, and clamped to
 * the day's exact minimum and maximum); at most CS_DASH_TOP models,
 * keys and identities by name (those with the most requests, chosen
 * from cs_state_usage's groups), every other one added up into one
 * "other" entry.  Only names the ledger keeps go out (keys by their
 * [key] name, identities as the ledger keeps them: keyed hashes unless
 * ledger_raw_ip), never a secret.
 *
 * Ownership: struct cs_dash is opaque, made by cs_dash_new() and freed
 * with cs_dash_free() (NULL-safe).  Strings passed in are copied.
 */
#ifndef CS_DASHBOARD_H
#define CS_DASHBOARD_H

#include "buf.h"
#include "cs.h"
#include "state.h"
#include "state_scan.h"

struct cs_buf;
struct cs_reqctx;
struct cs_stream;
struct cs_worker;

#define CS_DASH_DAYS     30           /* UTC days, today the last */
#define CS_DASH_TOP      10           /* models, keys, identities named */
#define CS_DASH_HIST     368          /* ttfd buckets: ms up to 2^48 */
#define CS_DASH_JSON_MAX (256 * 1024) /* bytes of the answer */

/* Dimensions a name is kept for. */
enum cs_dash_dim {
	CS_DASH_MODEL,
	CS_DASH_KEY,
	CS_DASH_IDENTITY,
	CS_DASH_NDIM
};

struct cs_dash;

/* An empty dashboard of the CS_DASH_DAYS UTC days ending with now_ms's.
 * CS_OK, CS_ENOMEM or CS_EBADINPUT (now_ms before day CS_DASH_DAYS). */
enum cs_err cs_dash_new(long long now_ms, struct cs_dash **out);
void cs_dash_free(struct cs_dash *d);
/* The start of the first day, in ms: what the reads below read since. */
long long cs_dash_since_ms(const struct cs_dash *d);

/* A name offered for dim's top CS_DASH_TOP, ranked by requests, then
 * tokens, then name (cs_dash_read offers cs_state_usage's groups).  Only
 * the choice uses these numbers: the counts are the records'. */
void cs_dash_offer(struct cs_dash *d, enum cs_dash_dim dim, const char *group,
    long long requests, long long tokens);

/* A ledger record (cs_ledger_fn): counted on its day, under its names
 * when they are among the top ones (else under "other").  A record
 * outside the days is left out.  Call after the *_row offers. */
void cs_dash_record(void *d, const struct cs_ledger_rec *rec);
/* A refusal counter (cs_refusal_fn). */
void cs_dash_refusal(void *d, long long day, const char *reason, long long n);

/* The store reads in order: the three groupings (offered), the
 * ledger, the refusals.  The first failure's code (CS_ESTATE, ...). */
enum cs_err cs_dash_read(struct cs_dash *d, struct cs_state *st);

/* Percentile pct (1..100, nearest rank) of the ttfd of day index i
 * (0..CS_DASH_DAYS-1) in ms, or -1 when that day has none. */
long cs_dash_ttfd(const struct cs_dash *d, int i, int pct);
/* The histogram bucket of v ms (0..CS_DASH_HIST-1), and the value a
 * bucket stands for (its middle). */
int cs_dash_bucket(long long v);
long long cs_dash_bucket_value(int b);

/* The JSON (docs/protocol.md) appended to out: CS_OK or out's error. */
enum cs_err cs_dash_json(const struct cs_dash *d, struct cs_buf *out);

/*
 * GET /api/admin/usage (routes.h's handler shape): 404 not_found while
 * admin = off, as for an unknown endpoint; else cs_admit_permit's 401 or
 * 403 unless the request carries a [key] with the admin permission; then
 * the JSON with Cache-Control: no-store, read with the worker's store
 * handle (opened here on first use); 503 state_unavailable when the
 * store cannot be read.
 */
void cs_admin_usage(struct cs_worker *w, const struct cs_reqctx *rq,
    struct cs_stream *s, const struct cs_buf *body, const char **model);

#endif
