/*
 * route.c — a model's deployments at run time: the order one request
 * tries them in, and what the shared store learns of their failures and
 * open streams; see route.h (route_cfg.c reads the chains).
 */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "admit.h"
#include "config.h"
#include "log.h"
#include "route.h"
#include "state_route.h"

_Static_assert(CS_MAX_DEPLOY == CS_STATE_ROUTE_MAX, "a read sees a chain");
_Static_assert(CS_ROUTE_STATE_NAME == CS_STATE_NAME_MAX, "keys fit a name");

/* ---- one request's plan ---- */

/* A uniform draw from [0, n). */
static unsigned long
draw(unsigned long n)
{
	unsigned long long r = 0;

	if (getrandom(&r, sizeof(r), GRND_NONBLOCK) != sizeof(r))
		r = (unsigned long long)cs_mono_us() * 6364136223846793005ULL;
	return n > 0 ? (unsigned long)(r % n) : 0;
}

/* Move the entry of idx[k..n) drawn by weight to idx[k]. */
static void
pick_weighted(
    const struct cs_route_cfg *rt, unsigned char *idx, size_t k, size_t n)
{
	unsigned long total = 0, at;
	unsigned char t;
	size_t i;

	for (i = k; i < n; i++)
		total += (unsigned long)rt->d[idx[i]].weight;
	at = draw(total);
	for (i = k; i + 1 < n; i++) {
		if (at < (unsigned long)rt->d[idx[i]].weight)
			break;
		at -= (unsigned long)rt->d[idx[i]].weight;
	}
	t = idx[k], idx[k] = idx[i], idx[i] = t;
}

/* Order idx[0..n) by busy, fewest first; equals in a random order. */
static void
sort_least_busy(unsigned char *idx, size_t n, const struct cs_route_seen *seen)
{
	unsigned char t;
	size_t i, j;

	for (i = n; i > 1; i--) { /* shuffle, then a stable sort */
		j = draw(i);
		t = idx[i - 1], idx[i - 1] = idx[j], idx[j] = t;
	}
	for (i = 1; i < n; i++)
		for (j = i; j > 0 && seen[idx[j - 1]].busy > seen[idx[j]].busy;
		     j--)
			t = idx[j], idx[j] = idx[j - 1], idx[j - 1] = t;
}

/* Open the plan's stream slot on order[0] (least-busy). */
static void
hold_slot(struct cs_state *st, struct cs_route_plan *plan, long long now_ms)
{
	const struct cs_deploy *d = &plan->rt->d[plan->order[0]];
	unsigned char rnd[16];

	if (getrandom(rnd, sizeof(rnd), GRND_NONBLOCK) != sizeof(rnd))
		return;
	cs_hex_encode(rnd, sizeof(rnd), plan->busy_id);
	if (cs_state_route_open(st, d->key, plan->busy_id, now_ms,
	        now_ms + d->up->total_timeout_ms + CS_ADMIT_EXPIRY_MARGIN_MS) ==
	    CS_OK) {
		plan->busy = 1;
		plan->busy_at = plan->order[0];
	}
}

enum cs_err
cs_route_plan(const struct cs_config *cfg, struct cs_state **st,
    const struct cs_model_cfg *m, long long now_ms, struct cs_route_plan *plan)
{
	static atomic_llong warned;
	const struct cs_route_cfg *rt = &m->route;
	struct cs_route_seen seen[CS_MAX_DEPLOY];
	const char *names[CS_MAX_DEPLOY];
	char err[256] = "";
	enum cs_err r = CS_OK;
	size_t i, k;

	memset(plan, 0, sizeof(*plan));
	memset(seen, 0, sizeof(seen));
	plan->cfg = cfg;
	plan->rt = rt;
	if (rt->stateful) {
		for (i = 0; i < rt->n; i++)
			names[i] = rt->d[i].key;
		if (*st == NULL)
			r = cs_state_open(cfg->state, st, err, sizeof(err));
		if (r == CS_OK)
			r = cs_state_route_read(
			    *st, names, rt->n, now_ms, seen);
		if (r != CS_OK) {
			memset(seen, 0, sizeof(seen));
			if (cs_warn_due(&warned))
				cs_warnx("routing: the state store %s failed "
				         "(%s%s%s); routing without cooldowns "
				         "or open-stream counts",
				    cfg->state, cs_strerror(r),
				    err[0] ? ": " : "", err);
		}
	}
	for (i = 0; i < rt->n; i++) {
		if (seen[i].cooled_until_ms > now_ms) {
			if (plan->cooling_until_ms == 0 ||
			    seen[i].cooled_until_ms < plan->cooling_until_ms)
				plan->cooling_until_ms =
				    seen[i].cooled_until_ms;
			continue;
		}
		plan->order[plan->n++] = (unsigned char)i;
	}
	if (plan->n == 0)
		return CS_EUPSTREAM;
	plan->cooling_until_ms = 0;
	if (rt->mode == CS_BALANCE_WEIGHTED)
		for (k = 0; k + 1 < plan->n; k++)
			pick_weighted(rt, plan->order, k, plan->n);
	else if (rt->mode == CS_BALANCE_LEAST_BUSY) {
		sort_least_busy(plan->order, plan->n, seen);
		if (r == CS_OK)
			hold_slot(*st, plan, now_ms);
	}
	return CS_OK;
}

/* ---- what the loops report (queued for the settle thread) ---- */

struct route_job {
	char key[CS_ROUTE_STATE_NAME + 1], to[CS_ROUTE_STATE_NAME + 1];
	char id[33];
	long allowed_fails;
	long long window_ms, cooldown_ms, now_ms, expire_ms;
	int kind; /* JOB_* */
};

enum {
	JOB_FAIL,
	JOB_MOVE, /* close id on key; open it on to unless to is "" */
};

static void
route_job_run(struct cs_state *st, const void *data)
{
	static atomic_llong warned;
	const struct route_job *j = data;
	long long until;
	enum cs_err r;

	if (j->kind == JOB_FAIL)
		r = cs_state_route_fail(st, j->key, j->allowed_fails,
		    j->window_ms, j->cooldown_ms, j->now_ms, &until);
	else if ((r = cs_state_route_close(st, j->key, j->id, j->now_ms)) ==
	        CS_OK &&
	    j->to[0] != '\0')
		r = cs_state_route_open(
		    st, j->to, j->id, j->now_ms, j->expire_ms);
	if (r != CS_OK && cs_warn_due(&warned))
		cs_warnx("routing: the state store failed (%s); a "
		         "deployment's failure or open stream was not counted",
		    cs_strerror(r));
}

void
cs_route_failed(const struct cs_route_plan *plan, size_t i, long long now_ms)
{
	const struct cs_route_cfg *rt = plan->rt;
	struct route_job j;

	if (rt == NULL || rt->allowed_fails <= 0 || i >= rt->n)
		return;
	memset(&j, 0, sizeof(j));
	j.kind = JOB_FAIL;
	memcpy(j.key, rt->d[i].key, sizeof(j.key));
	j.allowed_fails = rt->allowed_fails;
	j.window_ms = rt->fail_window_ms;
	j.cooldown_ms = rt->cooldown_ms;
	j.now_ms = now_ms;
	cs_admit_defer(plan->cfg, route_job_run, &j, sizeof(j));
}

void
cs_route_moved(struct cs_route_plan *plan, int to, long long now_ms)
{
	const struct cs_route_cfg *rt = plan->rt;
	struct route_job j;

	if (rt == NULL || !plan->busy)
		return;
	memset(&j, 0, sizeof(j));
	j.kind = JOB_MOVE;
	memcpy(j.key, rt->d[plan->busy_at].key, sizeof(j.key));
	memcpy(j.id, plan->busy_id, sizeof(j.id));
	j.now_ms = now_ms;
	if (to >= 0 && (size_t)to < rt->n) {
		memcpy(j.to, rt->d[to].key, sizeof(j.to));
		j.expire_ms = now_ms + rt->d[to].up->total_timeout_ms +
		    CS_ADMIT_EXPIRY_MARGIN_MS;
		plan->busy_at = (unsigned char)to;
	} else
		plan->busy = 0;
	cs_admit_defer(plan->cfg, route_job_run, &j, sizeof(j));
}
