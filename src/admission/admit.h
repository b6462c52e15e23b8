/*
 * admit.h — admission for the chat routes: who is asking (identity.h),
 * whether they may (an access key, the models it allows, api_v1_auth),
 * and whether every limit that applies has room (state.h: requests a
 * minute, concurrent streams, tokens a day); then, when the stream is
 * over, the settle of its reservation and one ledger record.
 *
 * cs_admit() runs on a worker thread, after the body is parsed and
 * before the provider is asked; it may block briefly on the store (the
 * worker's own handle, opened on first use).  The end of a stream comes
 * on an event loop, which must never block: cs_admit_end() there only
 * queues the settle for the settle thread (cs_admit_start()); a full
 * queue drops it, and the reservation then expires by itself.
 *
 * Nothing here runs, and no store is opened, while cfg->admission is 0
 * (no limit, no [key], api_v1_auth = open).
 *
 * Ownership: a struct cs_ticket is plain data the caller embeds and
 * copies; the store handle *st is the caller's (one per thread), opened
 * here, closed with cs_state_close().  The settle thread and its queue
 * live from cs_admit_start() to cs_admit_stop().
 */
#ifndef CS_ADMIT_H
#define CS_ADMIT_H

#include "config.h"
#include "identity.h"
#include "state.h"

struct cs_access;
struct cs_chat_request;
struct cs_reqctx;
struct cs_stream;

/* What an admitted request carries to its end. */
struct cs_ticket {
	int on;                         /* admitted: settle and ledger */
	char id[CS_STATE_ID_LEN + 1];   /* the reservation, or "" */
	char identity[CS_MAX_IDENTITY]; /* as counted (IPs: see below) */
	char key[CS_MAX_KEY_NAME + 1];  /* the access key's name, or "" */
	char model[CS_MAX_NAME];        /* the alias */
	char upstream[CS_MAX_NAME];     /* its upstream */
	long long prompt_est;           /* tokens, for a missing usage */
	long long reserved;             /* tokens held */
	long long t0_ms;                /* CLOCK_REALTIME at admission */
	long admit_us; /* what cs_admit took, -1 when it counted nothing */
};

/* Bytes a token is taken to be, where no usage says otherwise. */
#define CS_ADMIT_BYTES_PER_TOKEN 4
/* Added to a reservation's expiry past the upstream's total timeout. */
#define CS_ADMIT_EXPIRY_MARGIN_MS 60000
/* Retry-After on 503 state_unavailable. */
#define CS_ADMIT_STATE_RETRY_S 2
/* The settle thread drops ledger records older than ledger_days at
 * most this often (cs_state_ledger_purge). */
#define CS_ADMIT_PURGE_EVERY_MS 3600000LL
/* Settles waiting for the settle thread, at most. */
#define CS_ADMIT_QUEUE 2048

/*
 * Admit req (parsed, its model chosen) from the request rq into t, with
 * the worker's store handle *st (opened here on first use).  CS_OK: go
 * on (t->on says whether a settle is owed).  CS_EHANDLED: the refusal is
 * written to s: 401 unauthorized (a wrong or missing key, or no identity
 * to count), 403 model_not_allowed, 400 (an identity refused), 429
 * rate_limited or budget_exceeded with Retry-After, RateLimit-Policy and
 * RateLimit (and OpenAI's x-ratelimit-* on /api/v1), 503
 * state_unavailable (the store failed and state_fail = closed).
 */
enum cs_err cs_admit(const struct cs_config *cfg, struct cs_state **st,
    const struct cs_reqctx *rq, const struct cs_chat_request *req,
    struct cs_stream *s, struct cs_ticket *t);

/*
 * For an endpoint a key permission guards (GET /api/metrics with
 * metrics = key, the dashboard's data with admin = key): CS_OK when rq
 * offers a [key] whose permissions have perm; else CS_EHANDLED after
 * 401 unauthorized (no key, a malformed or unknown one) or 403
 * forbidden (the key lacks perm).  Never counts anything.
 */
enum cs_err cs_admit_permit(const struct cs_config *cfg,
    const struct cs_reqctx *rq, unsigned perm, struct cs_stream *s);

/*
 * The stream of t is over, with the numbers of its access line a: settle
 * the reservation with the provider's usage (prompt + completion) or,
 * without one, t->prompt_est + the delivered text bytes / 4, and add
 * one ledger record (time, request id, identity -- an address as a keyed
 * hash unless ledger_raw_ip --, key, model, upstream, tokens, outcome,
 * ttfd, duration).  With the settle thread running this only queues
 * (never blocks: for the loops); else (CGI) it is done here with *st
 * (st NULL: dropped).  A no-op unless t->on.
 */
void cs_admit_end(const struct cs_config *cfg, struct cs_state **st,
    const struct cs_ticket *t, const struct cs_access *a);

/*
 * Run fn(st, data) on the settle thread with its store handle st (data:
 * len <= CS_ADMIT_JOB_DATA bytes, copied), for a loop's write that must
 * not block it (route.h: a deployment's failure).  Without
 * cs_admit_start (CGI) it runs now, on a handle of its own; a full queue,
 * or a thread that could not start, drops it.  1 when queued or run, 0
 * when dropped.
 */
#define CS_ADMIT_JOB_DATA 512
typedef void (*cs_store_fn)(struct cs_state *st, const void *data);
int cs_admit_defer(
    const struct cs_config *cfg, cs_store_fn fn, const void *data, size_t len);

/* Start the settle thread (main.c, when cfg->admission or cfg->routed): 0, or -1 with
 * a warning logged (cs_admit_end then drops what loops hand it).  cfg
 * must outlive cs_admit_stop(). */
int cs_admit_start(const struct cs_config *cfg);
/* Settle what is queued (for at most drain_ms) and stop the thread. */
void cs_admit_stop(long drain_ms);

#endif
