/*
 * dashboard.c — the usage dashboard's numbers and its JSON; see
 * dashboard.h.  One struct of fixed size per request: the day series,
 * CS_DASH_TOP named entries a dimension plus "other", one histogram a
 * day.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "admit.h"
#include "config.h"
#include "dashboard.h"
#include "failure.h"
#include "jsonw.h"
#include "log.h"
#include "reqctx.h"
#include "stream.h"
#include "worker.h"

#define DAY_MS     86400000LL
#define HIST_EXACT 16 /* below it a bucket is one ms */
#define HIST_SUB   8  /* buckets a doubling above it */
#define HIST_E_MAX 47 /* the highest bit of the largest value kept */

/* The refusal reasons shown apart (failure.h's error types); any
 * other counts as "other", the last. */
static const char *const reasons[] = { "rate_limited", "budget_exceeded",
	"unauthorized", "forbidden", "model_not_allowed", "other" };
#define NREASONS (sizeof(reasons) / sizeof(reasons[0]))

/* Requests and tokens. */
struct tally {
	long long requests, prompt, completion;
};

/* A named entry of a dimension: its ranking (from cs_state_usage) and
 * its counts (from the records). */
struct entry {
	char name[CS_STATE_NAME_MAX + 1];
	long long rank_requests, rank_tokens; /* for choosing the top */
	struct tally total, day[CS_DASH_DAYS];
};

struct dim {
	struct entry top[CS_DASH_TOP];
	size_t n;
	struct entry other;
};

struct cs_dash {
	long long now_ms, first_day; /* days since the epoch */
	struct tally day[CS_DASH_DAYS];
	long long errors[CS_DASH_DAYS];
	long long refused[CS_DASH_DAYS][NREASONS];
	long long ttfd_n[CS_DASH_DAYS], ttfd_min[CS_DASH_DAYS],
	    ttfd_max[CS_DASH_DAYS];
	unsigned hist[CS_DASH_DAYS][CS_DASH_HIST];
	struct dim dim[CS_DASH_NDIM];
};

enum cs_err
cs_dash_new(long long now_ms, struct cs_dash **out)
{
	struct cs_dash *d;

	*out = NULL;
	if (now_ms / DAY_MS < CS_DASH_DAYS - 1)
		return CS_EBADINPUT;
	if ((d = calloc(1, sizeof(*d))) == NULL)
		return CS_ENOMEM;
	d->now_ms = now_ms;
	d->first_day = now_ms / DAY_MS - (CS_DASH_DAYS - 1);
	*out = d;
	return CS_OK;
}

void
cs_dash_free(struct cs_dash *d)
{
	free(d);
}

long long
cs_dash_since_ms(const struct cs_dash *d)
{
	return d->first_day * DAY_MS;
}

/* Does a (requests, tokens, name) rank above b? 0/1. */
static int
ranks_above(long long ar, long long at, const char *an, const struct entry *b)
{
	if (ar != b->rank_requests)
		return ar > b->rank_requests;
	if (at != b->rank_tokens)
		return at > b->rank_tokens;
	return strcmp(an, b->name) < 0;
}

void
cs_dash_offer(struct cs_dash *d, enum cs_dash_dim dim, const char *group,
    long long requests, long long tokens)
{
	struct dim *dm;
	size_t i;

	if ((unsigned)dim >= CS_DASH_NDIM)
		return;
	dm = &d->dim[dim];
	if (dm->n == CS_DASH_TOP &&
	    !ranks_above(requests, tokens, group, &dm->top[dm->n - 1]))
		return;
	if (dm->n < CS_DASH_TOP)
		dm->n++;
	for (i = dm->n - 1;
	     i > 0 && ranks_above(requests, tokens, group, &dm->top[i - 1]);
	     i--)
		dm->top[i] = dm->top[i - 1];
	memset(&dm->top[i], 0, sizeof(dm->top[i]));
	snprintf(dm->top[i].name, sizeof(dm->top[i].name), "%s", group);
	dm->top[i].rank_requests = requests;
	dm->top[i].rank_tokens = tokens;
}

/* What cs_state_usage's rows go to: a dimension of a dashboard. */
struct offer_to {
	struct cs_dash *d;
	enum cs_dash_dim dim;
};

/* cs_usage_row_fn: the group offered for the top. */
static void
usage_row(void *ctx, const char *group, long long requests, long long prompt,
    long long completion)
{
	const struct offer_to *o = ctx;

	cs_dash_offer(o->d, o->dim, group, requests, prompt + completion);
}

int
cs_dash_bucket(long long v)
{
	int e;

	if (v < HIST_EXACT)
		return v > 0 ? (int)v : 0;
	e = 63 - __builtin_clzll((unsigned long long)v);
	if (e > HIST_E_MAX)
		return CS_DASH_HIST - 1;
	return HIST_EXACT + (e - 4) * HIST_SUB +
	    (int)((v >> (e - 3)) & (HIST_SUB - 1));
}

long long
cs_dash_bucket_value(int b)
{
	int e, sub;

	if (b < HIST_EXACT)
		return b;
	e = 4 + (b - HIST_EXACT) / HIST_SUB;
	sub = (b - HIST_EXACT) % HIST_SUB;
	return ((long long)(HIST_SUB + sub) << (e - 3)) +
	    ((1LL << (e - 3)) - 1) / 2;
}

static void
tally_add(struct tally *t, const struct cs_ledger_rec *rec)
{
	t->requests++;
	t->prompt += rec->prompt_tokens > 0 ? rec->prompt_tokens : 0;
	t->completion += rec->completion_tokens > 0 ? rec->completion_tokens :
	                                              0;
}

/* The entry of name in dm: a top one, else "other". */
static struct entry *
entry_of(struct dim *dm, const char *name)
{
	size_t i;

	for (i = 0; i < dm->n; i++)
		if (strcmp(dm->top[i].name, name) == 0)
			return &dm->top[i];
	return &dm->other;
}

/* Is outcome one of the errors (the provider's or ours)? 0/1. */
static int
is_error(const char *outcome)
{
	return strcmp(outcome, cs_outcome_name(CS_OUTCOME_UPSTREAM_ERROR)) ==
	    0 ||
	    strcmp(outcome, cs_outcome_name(CS_OUTCOME_TIMEOUT)) == 0 ||
	    strcmp(outcome, cs_outcome_name(CS_OUTCOME_INTERNAL_ERROR)) == 0;
}

void
cs_dash_record(void *ctx, const struct cs_ledger_rec *rec)
{
	struct cs_dash *d = ctx;
	const char *names[CS_DASH_NDIM] = { rec->model, rec->key_name,
		rec->identity };
	long long i = rec->time_ms / DAY_MS - d->first_day;
	struct entry *e;
	size_t k;

	if (i < 0 || i >= CS_DASH_DAYS)
		return;
	tally_add(&d->day[i], rec);
	for (k = 0; k < CS_DASH_NDIM; k++) {
		e = entry_of(&d->dim[k], names[k] != NULL ? names[k] : "");
		tally_add(&e->total, rec);
		tally_add(&e->day[i], rec);
	}
	if (rec->outcome != NULL && is_error(rec->outcome))
		d->errors[i]++;
	if (rec->ttfd_ms < 0)
		return;
	if (d->ttfd_n[i] == 0 || rec->ttfd_ms < d->ttfd_min[i])
		d->ttfd_min[i] = rec->ttfd_ms;
	if (d->ttfd_n[i] == 0 || rec->ttfd_ms > d->ttfd_max[i])
		d->ttfd_max[i] = rec->ttfd_ms;
	d->ttfd_n[i]++;
	d->hist[i][cs_dash_bucket(rec->ttfd_ms)]++;
}

void
cs_dash_refusal(void *ctx, long long day, const char *reason, long long n)
{
	struct cs_dash *d = ctx;
	long long i = day - d->first_day;
	size_t r;

	if (i < 0 || i >= CS_DASH_DAYS || n < 0)
		return;
	for (r = 0; r + 1 < NREASONS && strcmp(reasons[r], reason) != 0; r++)
		;
	d->refused[i][r] += n;
}

enum cs_err
cs_dash_read(struct cs_dash *d, struct cs_state *st)
{
	static const char *const by[CS_DASH_NDIM] = { [CS_DASH_MODEL] = "model",
		[CS_DASH_KEY] = "key",
		[CS_DASH_IDENTITY] = "identity" };
	long long since = cs_dash_since_ms(d);
	struct offer_to o = { d, CS_DASH_MODEL };
	enum cs_err e = CS_OK;

	for (; e == CS_OK && o.dim < CS_DASH_NDIM; o.dim++)
		e = cs_state_usage(st, since, by[o.dim], usage_row, &o);
	if (e == CS_OK)
		e = cs_state_ledger_scan(st, since, cs_dash_record, d);
	if (e == CS_OK)
		e = cs_state_refusals(st, since, d->now_ms, cs_dash_refusal, d);
	return e;
}

long
cs_dash_ttfd(const struct cs_dash *d, int i, int pct)
{
	long long n, rank, seen = 0, v;
	int b;

	if (i < 0 || i >= CS_DASH_DAYS || pct < 1 || pct > 100 ||
	    (n = d->ttfd_n[i]) == 0)
		return -1;
	rank = (n * pct + 99) / 100; /* nearest rank: ceil(n * p) */
	for (b = 0; b < CS_DASH_HIST - 1; b++)
		if ((seen += d->hist[i][b]) >= rank)
			break;
	v = cs_dash_bucket_value(b);
	if (v < d->ttfd_min[i])
		v = d->ttfd_min[i];
	if (v > d->ttfd_max[i])
		v = d->ttfd_max[i];
	return (long)v;
}

/* ---- the JSON ---- */

/* A series of per-day numbers from a[i * stride]. */
static void
ints(struct cs_jsonw *w, const char *key, const long long *a, size_t stride)
{
	int i;

	cs_jsonw_key(w, key);
	cs_jsonw_arr(w);
	for (i = 0; i < CS_DASH_DAYS; i++)
		cs_jsonw_int(w, a[(size_t)i * stride]);
	cs_jsonw_arr_end(w);
}

/* A series of CS_DASH_DAYS numbers of t: requests (what 0), prompt (1)
 * or completion tokens (2). */
static void
series(struct cs_jsonw *w, const char *key, const struct tally *t, int what)
{
	long long v[CS_DASH_DAYS];
	int i;

	for (i = 0; i < CS_DASH_DAYS; i++)
		v[i] = what == 0 ? t[i].requests :
		    what == 1    ? t[i].prompt :
		                   t[i].completion;
	ints(w, key, v, 1);
}

static void
tally_members(struct cs_jsonw *w, const struct tally *t)
{
	cs_jsonw_kint(w, "requests", t->requests);
	cs_jsonw_kint(w, "prompt_tokens", t->prompt);
	cs_jsonw_kint(w, "completion_tokens", t->completion);
}

static void
entry_json(struct cs_jsonw *w, const struct entry *e, int other, int daily)
{
	cs_jsonw_obj(w);
	cs_jsonw_kstr(w, "name", other ? "" : e->name);
	cs_jsonw_key(w, "other");
	cs_jsonw_bool(w, other);
	tally_members(w, &e->total);
	if (daily) {
		cs_jsonw_key(w, "daily");
		cs_jsonw_obj(w);
		series(w, "requests", e->day, 0);
		series(w, "prompt_tokens", e->day, 1);
		series(w, "completion_tokens", e->day, 2);
		cs_jsonw_obj_end(w);
	}
	cs_jsonw_obj_end(w);
}

static void
dim_json(struct cs_jsonw *w, const char *key, const struct dim *dm, int daily)
{
	size_t i;

	cs_jsonw_key(w, key);
	cs_jsonw_arr(w);
	for (i = 0; i < dm->n; i++)
		if (dm->top[i].total.requests > 0)
			entry_json(w, &dm->top[i], 0, daily);
	if (dm->other.total.requests > 0)
		entry_json(w, &dm->other, 1, daily);
	cs_jsonw_arr_end(w);
}

static void
ttfd_json(struct cs_jsonw *w, const char *key, const struct cs_dash *d, int pct)
{
	long v;
	int i;

	cs_jsonw_key(w, key);
	cs_jsonw_arr(w);
	for (i = 0; i < CS_DASH_DAYS; i++)
		if ((v = cs_dash_ttfd(d, i, pct)) < 0)
			cs_jsonw_null(w);
		else
			cs_jsonw_int(w, v);
	cs_jsonw_arr_end(w);
}

enum cs_err
cs_dash_json(const struct cs_dash *d, struct cs_buf *out)
{
	long long refused[CS_DASH_DAYS];
	char date[16];
	struct cs_jsonw w;
	struct tm tm;
	time_t t;
	size_t r;
	int i;

	cs_jsonw_init(&w, out);
	cs_jsonw_obj(&w);
	cs_jsonw_kint(&w, "generated_ms", d->now_ms);
	cs_jsonw_kint(&w, "top", CS_DASH_TOP);
	cs_jsonw_key(&w, "days");
	cs_jsonw_arr(&w);
	for (i = 0; i < CS_DASH_DAYS; i++) {
		t = (time_t)((d->first_day + i) * 86400);
		gmtime_r(&t, &tm);
		strftime(date, sizeof(date), "%Y-%m-%d", &tm);
		cs_jsonw_str(&w, date);
	}
	cs_jsonw_arr_end(&w);
	for (i = 0; i < CS_DASH_DAYS; i++)
		for (refused[i] = 0, r = 0; r < NREASONS; r++)
			refused[i] += d->refused[i][r];
	cs_jsonw_key(&w, "daily");
	cs_jsonw_obj(&w);
	series(&w, "requests", d->day, 0);
	series(&w, "prompt_tokens", d->day, 1);
	series(&w, "completion_tokens", d->day, 2);
	ints(&w, "errors", d->errors, 1);
	ints(&w, "refused", refused, 1);
	ints(&w, "ttfd_count", d->ttfd_n, 1);
	ttfd_json(&w, "ttfd_p50_ms", d, 50);
	ttfd_json(&w, "ttfd_p99_ms", d, 99);
	cs_jsonw_obj_end(&w);
	cs_jsonw_key(&w, "refusals");
	cs_jsonw_obj(&w);
	for (r = 0; r < NREASONS; r++)
		ints(&w, reasons[r], &d->refused[0][r], NREASONS);
	cs_jsonw_obj_end(&w);
	dim_json(&w, "models", &d->dim[CS_DASH_MODEL], 1);
	dim_json(&w, "keys", &d->dim[CS_DASH_KEY], 1);
	dim_json(&w, "identities", &d->dim[CS_DASH_IDENTITY], 0);
	cs_jsonw_obj_end(&w);
	cs_jsonw_puts(&w, "\n");
	return cs_jsonw_end(&w);
}

/* ---- the endpoint ---- */

void
cs_admin_usage(struct cs_worker *w, const struct cs_reqctx *rq,
    struct cs_stream *s, const struct cs_buf *body, const char **model)
{
	const struct cs_config *cfg = w->cfg;
	struct cs_dash *d = NULL;
	struct cs_buf out;
	char err[256] = "";
	enum cs_err e;

	(void)body, (void)model;
	cs_buf_init(&out, CS_DASH_JSON_MAX);
	if (strcmp(cfg->admin, "key") != 0) {
		cs_stream_fail(s, CS_FAIL_NOT_FOUND,
		    "no such endpoint (GET /api/openapi.json lists them)");
		goto out;
	}
	if (cs_admit_permit(cfg, rq, CS_PERM_ADMIN, s) != CS_OK)
		goto out;
	if ((e = cs_dash_new(cs_wall_ms(), &d)) != CS_OK) {
		cs_stream_fail(s, CS_FAIL_INTERNAL, cs_strerror(e));
		goto out;
	}
	e = w->state != NULL ?
	    CS_OK :
	    cs_state_open(cfg->state, &w->state, err, sizeof(err));
	if (e == CS_OK)
		e = cs_dash_read(d, w->state);
	if (e != CS_OK) {
		cs_warnx("admin: the usage cannot be read from the state store "
		         "(%s%s%s)",
		    cs_strerror(e), err[0] != '\0' ? ": " : "", err);
		cs_stream_fail_retry(s, CS_FAIL_STATE,
		    "the usage cannot be read right now; retry shortly",
		    CS_ADMIT_STATE_RETRY_S);
		goto out;
	}
	if ((e = cs_dash_json(d, &out)) != CS_OK) {
		cs_stream_fail(s, CS_FAIL_INTERNAL, cs_strerror(e));
		goto out;
	}
	cs_stream_add_headers(s, "Cache-Control: no-store\r\n");
	cs_stream_reply(s, 200, "application/json", out.data, out.len);
out:
	cs_dash_free(d);
	cs_buf_free(&out);
}
