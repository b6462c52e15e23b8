/*
 * route.h — which deployment serves a model: a [model ALIAS] names one or
 * more upstreams in order ("upstream = primary, backup"), each with its
 * own model name and weight; routing orders them for one request
 * (balance), skips the ones cooling down after repeated failures, and
 * remembers failures and open streams in the shared store (state_route.h)
 * so that every process and host of the site sees the same.
 *
 * The config keeps a struct cs_route_cfg in each model (config.h); the
 * worker calls cs_route_plan() before the provider is asked (it may
 * block briefly on the store), the run (upstream.c) walks the plan's
 * order and, from its event loop, reports each failed deployment and the
 * end of the stream with cs_route_failed() and cs_route_closed(), which
 * only queue (admit.h: the settle thread talks to the store).
 */
#ifndef CS_ROUTE_H
#define CS_ROUTE_H

#include <stddef.h>

#include "cs.h"

struct cs_config;
struct cs_model_cfg;
struct cs_state;
struct cs_upstream_cfg;

#define CS_MAX_DEPLOY 8 /* deployments of one model */
/* Defaults of a chain (two or more deployments): */
#define CS_ROUTE_ALLOWED_FAILS 3
#define CS_ROUTE_WINDOW_MS     60000L
#define CS_ROUTE_COOLDOWN_MS   30000L
#define CS_ROUTE_STATE_NAME    160 /* = CS_STATE_NAME_MAX */

enum cs_balance {
	CS_BALANCE_ORDERED,    /* the first that is not cooling */
	CS_BALANCE_WEIGHTED,   /* the first drawn by weight, then in order */
	CS_BALANCE_LEAST_BUSY, /* fewest open streams first (shared) */
};

/* One deployment: an upstream and the model name it is sent. */
struct cs_deploy {
	char upstream[CS_MAX_NAME];
	char model[CS_MAX_NAME]; /* the wire name; the alias when unset */
	long weight;             /* 1..1000, default 1 */
	/* Filled at resolve: */
	const struct cs_upstream_cfg *up;
	char key[CS_ROUTE_STATE_NAME + 1]; /* its name in the store */
};

struct cs_route_cfg {
	/* As written in the [model] section (lists split by ","): */
	char upstreams[1024];  /* upstream; "" = "default" */
	char models[1536];     /* upstream_model: one name for all, or one
	                           per upstream; "" = the alias */
	char weights[256];     /* weights: one per upstream; "" = all 1 */
	char balance[16];      /* ordered | weighted | least-busy */
	long allowed_fails;    /* 0 = no cooldowns */
	int has_allowed_fails; /* set; else CS_ROUTE_ALLOWED_FAILS on a
	                           chain, 0 alone */
	long fail_window_ms;   /* fail_window_seconds; 0 = default */
	long cooldown_ms;      /* cooldown_seconds; 0 = default */
	/* Filled at resolve: */
	struct cs_deploy d[CS_MAX_DEPLOY];
	size_t n;
	enum cs_balance mode;
	int stateful; /* cooldowns or least-busy: the store is used */
};

/* Split and check m's route (config resolve): every upstream defined,
 * the lists of matching lengths, names valid, at most CS_MAX_DEPLOY.
 * CS_ECONFIG with "what is wrong" in err. */
enum cs_err cs_route_resolve(const struct cs_config *cfg,
    struct cs_model_cfg *m, char *err, size_t errlen);

/* One request's order over its model's deployments. */
struct cs_route_plan {
	const struct cs_config *cfg;
	const struct cs_route_cfg *rt;
	unsigned char order[CS_MAX_DEPLOY]; /* indexes into rt->d */
	size_t n;                           /* 1..rt->n */
	int busy;                           /* an open-stream slot is held */
	unsigned char busy_at;              /* on this deployment */
	char busy_id[33];                   /* its id in the store */
	long long cooling_until_ms;         /* n = 0: all cool until then */
};

/*
 * The plan for m, with the worker's store handle *st (opened here on
 * first use; only when m's route is stateful).  CS_OK: plan->n >= 1.
 * CS_EUPSTREAM: every deployment is cooling (plan->cooling_until_ms says
 * until when).  A store that fails is logged (once a minute) and the
 * plan is made without it.  now_ms: CLOCK_REALTIME.
 */
enum cs_err cs_route_plan(const struct cs_config *cfg, struct cs_state **st,
    const struct cs_model_cfg *m, long long now_ms, struct cs_route_plan *plan);

/* From a loop (only queues): deployment index i of plan failed at
 * now_ms (counts toward its cooldown); the stream moved from the slot
 * it held to deployment j (least-busy; j = -1: it ended). */
void
cs_route_failed(const struct cs_route_plan *plan, size_t i, long long now_ms);
void cs_route_moved(struct cs_route_plan *plan, int j, long long now_ms);

/* The chain of m as --check-config prints it ("a (gpt-4o) -> b (x)"). */
void cs_route_describe(const struct cs_model_cfg *m, char *out, size_t len);

#endif
