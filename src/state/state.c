/*
 * state.c — the front of the state module: picks the backend from the
 * spec, validates every argument before a backend sees it (state.h and
 * state_route.h), makes reservation ids, and holds the rate, concurrency,
 * budget and failure-window arithmetic the backends share (state_int.h).
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "state.h"
#include "state_int.h"
#include "state_route.h"

static const struct cs_state_ops *const backends[] = {
	&cs_state_memory_ops,
	&cs_state_sqlite_ops,
	&cs_state_redis_ops,
	&cs_state_redis_unix_ops,
};

void
cs_state_errf(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (err == NULL || errlen == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

/* The backend of spec, and in *arg what follows its prefix; NULL if none. */
static const struct cs_state_ops *
backend_of(const char *spec, const char **arg, char *err, size_t errlen)
{
	size_t i, n;

	for (i = 0; spec != NULL && i < CS_ARRAY_LEN(backends); i++) {
		n = strlen(backends[i]->prefix);
		if (strncmp(spec, backends[i]->prefix, n) != 0)
			continue;
		if (strchr(backends[i]->prefix, ':') == NULL && spec[n] != '\0')
			continue; /* a bare word ("memory") is the whole spec */
		*arg = spec + n;
		return backends[i];
	}
	cs_state_errf(err, errlen,
	    "state store \"%.*s\": want \"memory\", \"sqlite:PATH\","
	    " \"redis://HOST:PORT[/DB]\" or \"redis+unix:///PATH\"",
	    CS_STATE_NAME_MAX, spec != NULL ? spec : "");
	return NULL;
}

enum cs_err
cs_state_open(const char *spec, struct cs_state **out, char *err, size_t errlen)
{
	const struct cs_state_ops *ops;
	struct cs_state *st = NULL;
	const char *arg;
	enum cs_err e;

	*out = NULL;
	if ((ops = backend_of(spec, &arg, err, errlen)) == NULL)
		return CS_ECONFIG;
	if ((st = calloc(1, sizeof(*st))) == NULL) {
		cs_state_errf(err, errlen, "state store: out of memory");
		return CS_ENOMEM;
	}
	st->ops = ops;
	if ((e = ops->open(st, arg, err, errlen)) != CS_OK) {
		free(st);
		return e;
	}
	*out = st;
	return CS_OK;
}

void
cs_state_close(struct cs_state *st)
{
	if (st == NULL)
		return;
	st->ops->close(st);
	free(st);
}

enum cs_err
cs_state_check(const char *spec, char *msg, size_t len)
{
	const struct cs_state_ops *ops;
	const char *arg;

	if ((ops = backend_of(spec, &arg, msg, len)) == NULL)
		return CS_ECONFIG;
	return ops->check(arg, msg, len);
}

enum cs_err
cs_state_spec_check(const char *spec, char *err, size_t errlen)
{
	const struct cs_state_ops *ops;
	const char *arg;

	if ((ops = backend_of(spec, &arg, err, errlen)) == NULL)
		return CS_ECONFIG;
	return ops->syntax != NULL ? ops->syntax(arg, err, errlen) : CS_OK;
}

static int
in_range(long long v, long long lo, long long hi)
{
	return v >= lo && v <= hi;
}

/* A bucket or ledger name: 1..CS_STATE_NAME_MAX bytes. 0/1. */
static int
name_ok(const char *s, int may_be_null)
{
	if (s == NULL)
		return may_be_null;
	return strnlen(s, CS_STATE_NAME_MAX + 1) <= CS_STATE_NAME_MAX &&
	    (may_be_null || s[0] != '\0');
}

/* 0/1: a is something a backend may be given. */
static int
admit_ok(const struct cs_admit *a)
{
	size_t i, j;

	if (a->n > CS_STATE_MAX_BUCKETS ||
	    !in_range(a->reserve_tokens, 0, CS_STATE_TOKENS_MAX) ||
	    !in_range(a->now_ms, 0, CS_STATE_TIME_MAX) ||
	    !in_range(a->expire_ms, a->now_ms + 1, CS_STATE_TIME_MAX))
		return 0;
	for (i = 0; i < a->n; i++) {
		if (!name_ok(a->b[i].name, 0) ||
		    !in_range(a->b[i].rpm, 0, CS_STATE_LIMIT_MAX) ||
		    !in_range(a->b[i].concurrent, 0, CS_STATE_LIMIT_MAX) ||
		    !in_range(a->b[i].tokens_per_day, 0, CS_STATE_TOKENS_MAX))
			return 0;
		for (j = 0; j < i; j++)
			if (strcmp(a->b[i].name, a->b[j].name) == 0)
				return 0;
	}
	return 1;
}

/* 0/1: id is CS_STATE_ID_LEN lowercase hex digits, as make_id makes. */
static int
id_ok(const char *id)
{
	size_t i;

	if (id == NULL)
		return 0;
	for (i = 0; i < CS_STATE_ID_LEN; i++)
		if (strchr("0123456789abcdef", id[i]) == NULL || id[i] == '\0')
			return 0;
	return id[CS_STATE_ID_LEN] == '\0';
}

/* CS_STATE_ID_LEN random hex digits into id. */
static enum cs_err
make_id(char id[CS_STATE_ID_LEN + 1])
{
	unsigned char r[CS_STATE_ID_LEN / 2];
	size_t got = 0;
	ssize_t n;

	while (got < sizeof(r)) {
		n = getrandom(r + got, sizeof(r) - got, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return CS_ESYS;
		got += (size_t)n;
	}
	cs_hex_encode(r, sizeof(r), id);
	return CS_OK;
}

enum cs_err
cs_state_admit(
    struct cs_state *st, const struct cs_admit *a, struct cs_admit_result *res)
{
	char id[CS_STATE_ID_LEN + 1];
	enum cs_err e;

	memset(res, 0, sizeof(*res));
	if (!admit_ok(a))
		return CS_EBADINPUT;
	if ((e = make_id(id)) != CS_OK)
		return e;
	if ((e = st->ops->admit(st, a, id, res)) != CS_OK) {
		memset(res, 0, sizeof(*res));
		return e;
	}
	if (res->allowed)
		memcpy(res->id, id, sizeof(id));
	return CS_OK;
}

enum cs_err
cs_state_settle(struct cs_state *st, const char *id, long long used_tokens,
    long long now_ms)
{
	if (!id_ok(id) || !in_range(used_tokens, 0, CS_STATE_TOKENS_MAX) ||
	    !in_range(now_ms, 0, CS_STATE_TIME_MAX))
		return CS_EBADINPUT;
	return st->ops->settle(st, id, used_tokens, now_ms);
}

enum cs_err
cs_state_route_read(struct cs_state *st, const char *const *names, size_t n,
    long long now_ms, struct cs_route_seen *seen)
{
	enum cs_err e;
	size_t i;

	if (names == NULL || seen == NULL || n == 0 || n > CS_STATE_ROUTE_MAX ||
	    !in_range(now_ms, 0, CS_STATE_TIME_MAX))
		return CS_EBADINPUT;
	memset(seen, 0, n * sizeof(*seen));
	for (i = 0; i < n; i++)
		if (!name_ok(names[i], 0))
			return CS_EBADINPUT;
	if ((e = st->ops->route_read(st, names, n, now_ms, seen)) != CS_OK)
		memset(seen, 0, n * sizeof(*seen));
	return e;
}

enum cs_err
cs_state_route_fail(struct cs_state *st, const char *name, long allowed_fails,
    long long window_ms, long long cooldown_ms, long long now_ms,
    long long *cooled_until_ms)
{
	enum cs_err e;

	if (cooled_until_ms == NULL)
		return CS_EBADINPUT;
	*cooled_until_ms = 0;
	if (!name_ok(name, 0) ||
	    !in_range(allowed_fails, 1, CS_STATE_ROUTE_FAILS_MAX) ||
	    !in_range(window_ms, 1, CS_STATE_ROUTE_SPAN_MAX) ||
	    !in_range(cooldown_ms, 1, CS_STATE_ROUTE_SPAN_MAX) ||
	    !in_range(now_ms, 0, CS_STATE_TIME_MAX))
		return CS_EBADINPUT;
	e = st->ops->route_fail(st, name, allowed_fails, window_ms, cooldown_ms,
	    now_ms, cooled_until_ms);
	if (e != CS_OK)
		*cooled_until_ms = 0;
	return e;
}

enum cs_err
cs_state_route_open(struct cs_state *st, const char *name, const char *id,
    long long now_ms, long long expire_ms)
{
	if (!name_ok(name, 0) || !id_ok(id) ||
	    !in_range(now_ms, 0, CS_STATE_TIME_MAX) ||
	    !in_range(expire_ms, now_ms + 1, CS_STATE_TIME_MAX))
		return CS_EBADINPUT;
	return st->ops->route_open(st, name, now_ms, expire_ms, id);
}

enum cs_err
cs_state_route_close(
    struct cs_state *st, const char *name, const char *id, long long now_ms)
{
	if (!name_ok(name, 0) || !id_ok(id) ||
	    !in_range(now_ms, 0, CS_STATE_TIME_MAX))
		return CS_EBADINPUT;
	return st->ops->route_close(st, name, id, now_ms);
}

int
cs_state_route_failed(struct cs_route_dep *d, long allowed_fails,
    long long window_ms, long long cooldown_ms, long long now_ms,
    long long *cooled_until_ms)
{
	if (d->cooled_until_ms > now_ms) {
		*cooled_until_ms = d->cooled_until_ms;
		return 0;
	}
	*cooled_until_ms = 0;
	if (d->win_end_ms <= now_ms) { /* the first of a new window */
		d->win_end_ms = now_ms + window_ms;
		d->fails = 0;
	}
	if (++d->fails >= allowed_fails) {
		d->cooled_until_ms = *cooled_until_ms = now_ms + cooldown_ms;
		d->fails = 0;
		d->win_end_ms = 0;
	}
	return 1;
}

void
cs_state_route_seen(const struct cs_route_dep *d, long long busy,
    long long now_ms, struct cs_route_seen *seen)
{
	seen->cooled_until_ms = d->cooled_until_ms > now_ms ?
	    d->cooled_until_ms :
	    0;
	seen->fails = d->win_end_ms > now_ms ? d->fails : 0;
	seen->busy = busy > 0 ? busy : 0;
}

enum cs_err
cs_state_ledger_add(struct cs_state *st, const struct cs_ledger_rec *rec)
{
	const char *s[] = { rec->request_id, rec->identity, rec->key_name,
		rec->model, rec->upstream, rec->outcome };
	size_t i;

	for (i = 0; i < CS_ARRAY_LEN(s); i++)
		if (!name_ok(s[i], 1))
			return CS_EBADINPUT;
	if (!in_range(rec->time_ms, 0, CS_STATE_TIME_MAX) ||
	    !in_range(rec->prompt_tokens, -1, CS_STATE_TOKENS_MAX) ||
	    !in_range(rec->completion_tokens, -1, CS_STATE_TOKENS_MAX) ||
	    !in_range(rec->generated_tokens, -1, CS_STATE_TOKENS_MAX) ||
	    !in_range(rec->delivered_tokens, -1, CS_STATE_TOKENS_MAX) ||
	    !in_range(rec->ttfd_ms, -1, CS_STATE_TIME_MAX) ||
	    !in_range(rec->duration_ms, -1, CS_STATE_TIME_MAX) ||
	    !in_range(rec->tried, 0, CS_STATE_ROUTE_MAX))
		return CS_EBADINPUT;
	return st->ops->ledger_add(st, rec);
}

enum cs_err
cs_state_ledger_purge(struct cs_state *st, long long before_ms)
{
	if (!in_range(before_ms, 0, CS_STATE_TIME_MAX + 1))
		return CS_EBADINPUT;
	return st->ops->ledger_purge(st, before_ms);
}

enum cs_err
cs_state_maintain(struct cs_state *st)
{
	return st->ops->maintain != NULL ? st->ops->maintain(st) : CS_OK;
}

enum cs_err
cs_state_usage(struct cs_state *st, long long since_ms, const char *by,
    cs_usage_row_fn fn, void *ctx)
{
	static const char *const names[] = { [CS_BY_DAY] = "day",
		[CS_BY_MODEL] = "model",
		[CS_BY_IDENTITY] = "identity",
		[CS_BY_KEY] = "key" };
	size_t i;

	if (by == NULL || fn == NULL ||
	    !in_range(since_ms, 0, CS_STATE_TIME_MAX))
		return CS_EBADINPUT;
	for (i = 0; i < CS_ARRAY_LEN(names); i++)
		if (strcmp(by, names[i]) == 0)
			return st->ops->usage(
			    st, since_ms, (enum cs_usage_by)i, fn, ctx);
	return CS_EBADINPUT;
}

enum cs_err
cs_state_ledger_scan(
    struct cs_state *st, long long since_ms, cs_ledger_fn fn, void *ctx)
{
	if (fn == NULL || !in_range(since_ms, 0, CS_STATE_TIME_MAX))
		return CS_EBADINPUT;
	return st->ops->ledger_scan(st, since_ms, fn, ctx);
}

/* A refusal reason: 1..CS_STATE_REASON_MAX bytes of [a-z_]. 0/1. */
static int
reason_ok(const char *s)
{
	size_t n = s != NULL ? strlen(s) : 0;

	return n > 0 && n <= CS_STATE_REASON_MAX &&
	    strspn(s, "abcdefghijklmnopqrstuvwxyz_") == n;
}

enum cs_err
cs_state_refusal_add(
    struct cs_state *st, const char *reason, long n, long long now_ms)
{
	if (!reason_ok(reason) || !in_range(now_ms, 0, CS_STATE_TIME_MAX) ||
	    !in_range(n, 1, CS_STATE_LIMIT_MAX))
		return CS_EBADINPUT;
	return st->ops->refusal_add(st, reason, n, now_ms);
}

enum cs_err
cs_state_refusals(struct cs_state *st, long long since_ms, long long until_ms,
    cs_refusal_fn fn, void *ctx)
{
	if (fn == NULL || !in_range(since_ms, 0, CS_STATE_TIME_MAX) ||
	    !in_range(until_ms, since_ms, CS_STATE_TIME_MAX) ||
	    until_ms / CS_STATE_DAY_MS - since_ms / CS_STATE_DAY_MS >=
	        CS_STATE_REFUSAL_DAYS)
		return CS_EBADINPUT;
	return st->ops->refusals(st, since_ms, until_ms, fn, ctx);
}

void
cs_state_usage_key(
    const struct cs_ledger_rec *rec, enum cs_usage_by by, char *key)
{
	const char *s = NULL;
	struct tm tm;
	time_t t;

	switch (by) {
	case CS_BY_DAY:
		t = (time_t)(rec->time_ms / 1000);
		gmtime_r(&t, &tm);
		strftime(key, CS_STATE_NAME_MAX + 1, "%Y-%m-%d", &tm);
		return;
	case CS_BY_MODEL: s = rec->model; break;
	case CS_BY_IDENTITY: s = rec->identity; break;
	case CS_BY_KEY: s = rec->key_name; break;
	}
	snprintf(key, CS_STATE_NAME_MAX + 1, "%s", s != NULL ? s : "");
}

long long
cs_state_rate_level(const struct cs_bucket_seen *s, long rpm, long long now_ms)
{
	long long cap = (long long)rpm * CS_STATE_TOKEN, dt, level;

	if (!s->have_rate)
		return cap;
	dt = now_ms - s->last_ms;
	dt = dt < 0 ? 0 : dt > CS_STATE_RATE_MS ? CS_STATE_RATE_MS : dt;
	level = s->level + dt * rpm;
	return level > cap ? cap : level < 0 ? 0 : level;
}

/* ceil(a / b) for a >= 0, b > 0. */
static long long
div_up(long long a, long long b)
{
	return (a + b - 1) / b;
}

/* One limit of one bucket: what it says for this request. */
struct verdict {
	int kind, ok;
	long long limit, remaining, reset_ms, retry_ms;
};

/* The limits of bucket i (up to three) into v; their number. */
static size_t
limits_of(const struct cs_admit *a, size_t i, const struct cs_bucket_seen *s,
    long long *new_level, struct verdict *v)
{
	const struct cs_bucket_req *b = &a->b[i];
	long long level, left, midnight;
	size_t n = 0;

	midnight = (a->now_ms / CS_STATE_DAY_MS + 1) * CS_STATE_DAY_MS -
	    a->now_ms;
	if (b->rpm > 0) {
		level = cs_state_rate_level(s, b->rpm, a->now_ms);
		v[n].kind = CS_REFUSE_RATE;
		v[n].ok = level >= CS_STATE_TOKEN;
		v[n].limit = b->rpm;
		new_level[i] = v[n].ok ? level - CS_STATE_TOKEN : level;
		v[n].remaining = new_level[i] / CS_STATE_TOKEN;
		v[n].reset_ms = div_up(
		    (long long)b->rpm * CS_STATE_TOKEN - new_level[i], b->rpm);
		v[n].retry_ms = div_up(CS_STATE_TOKEN - level, b->rpm);
		n++;
	}
	if (b->concurrent > 0) {
		v[n].kind = CS_REFUSE_CONCURRENT;
		v[n].ok = s->live < b->concurrent;
		v[n].limit = b->concurrent;
		v[n].remaining = v[n].ok ? b->concurrent - s->live - 1 : 0;
		v[n].reset_ms = v[n].retry_ms = CS_STATE_RETRY_CONCURRENT_MS;
		n++;
	}
	if (b->tokens_per_day > 0) {
		left = b->tokens_per_day - s->used - s->reserved;
		v[n].kind = CS_REFUSE_BUDGET;
		v[n].ok = left > 0 && a->reserve_tokens <= left;
		v[n].limit = b->tokens_per_day;
		v[n].remaining = v[n].ok ? left - a->reserve_tokens :
		                           (left > 0 ? left : 0);
		v[n].reset_ms = v[n].retry_ms = midnight;
		n++;
	}
	return n;
}

void
cs_state_judge(const struct cs_admit *a, const struct cs_bucket_seen *seen,
    long long *new_level, struct cs_admit_result *res)
{
	struct verdict v[3];
	double frac, best = 2.0;
	size_t i, k, n;

	memset(res, 0, sizeof(*res));
	res->allowed = 1;
	for (i = 0; i < a->n; i++) {
		n = limits_of(a, i, &seen[i], new_level, v);
		for (k = 0; k < n; k++) {
			frac = (double)v[k].remaining / (double)v[k].limit;
			if (!v[k].ok)
				frac = -1.0;
			if (frac >= best)
				continue;
			best = frac;
			res->refused = i;
			res->kind = v[k].kind;
			res->limit = v[k].limit;
			res->remaining = v[k].remaining;
			res->reset_ms = v[k].reset_ms;
			if (!v[k].ok) {
				res->allowed = 0;
				res->why = v[k].kind;
				res->retry_after_ms = v[k].retry_ms;
				return;
			}
		}
	}
}
