/*
 * route_cfg.c — a model's deployments as the config gives them: the lists
 * of its [model] section split into a chain and checked, and the chain
 * as --check-config prints it; see route.h.  (route.c has the plans.)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "provider.h"
#include "route.h"
#include "sha256.h"

/* Item i of a "a, b, c" list (checked when read) into out; 0 if there
 * is none. */
static int
list_item(const char *v, size_t i, char *out, size_t len)
{
	size_t n;

	for (;; i--) {
		v += strspn(v, " \t");
		n = strcspn(v, ",");
		if (i == 0)
			break;
		if (v[n] == '\0')
			return 0;
		v += n + 1;
	}
	while (n > 0 && (v[n - 1] == ' ' || v[n - 1] == '\t'))
		n--;
	if (n == 0 || n >= len)
		return 0;
	memcpy(out, v, n);
	out[n] = '\0';
	return 1;
}

static size_t
list_len(const char *v)
{
	size_t n = 0;

	if (v[strspn(v, " \t")] == '\0')
		return 0;
	for (n = 1; (v = strchr(v, ',')) != NULL; v++)
		n++;
	return n;
}

/* The store's name of d: "rt:UPSTREAM/MODEL", or its hash when long. */
static void
deploy_key(struct cs_deploy *d)
{
	unsigned char h[CS_SHA256_LEN];
	char full[2 * CS_MAX_NAME + 8];
	int n;

	n = snprintf(full, sizeof(full), "rt:%s/%s", d->upstream, d->model);
	if (n >= 0 && (size_t)n <= CS_ROUTE_STATE_NAME) {
		memcpy(d->key, full, (size_t)n + 1);
		return;
	}
	cs_sha256(full, strlen(full), h);
	memcpy(d->key, "rt:h:", 5);
	cs_hex_encode(h, CS_SHA256_LEN, d->key + 5);
}

enum cs_err
cs_route_resolve(const struct cs_config *cfg, struct cs_model_cfg *m, char *err,
    size_t errlen)
{
	struct cs_route_cfg *rt = &m->route;
	size_t nu = list_len(rt->upstreams), nm = list_len(rt->models),
	       nw = list_len(rt->weights), i;
	char w[16];
	struct cs_deploy *d;

	rt->n = nu > 0 ? nu : 1;
	if ((nm > 1 && nm != rt->n) || (nw > 0 && nw != rt->n)) {
		snprintf(err, errlen,
		    "[model %s] (line %zu): %s lists %zu names but upstream "
		    "lists %zu (give one per upstream%s)",
		    m->name, m->line,
		    nm > 1 && nm != rt->n ? "upstream_model" : "weights",
		    nm > 1 && nm != rt->n ? nm : nw, rt->n,
		    nm > 1 && nm != rt->n ? ", or one for all" : "");
		return CS_ECONFIG;
	}
	for (i = 0; i < rt->n; i++) {
		d = &rt->d[i];
		if (nu == 0)
			snprintf(d->upstream, sizeof(d->upstream), "default");
		else
			list_item(
			    rt->upstreams, i, d->upstream, sizeof(d->upstream));
		if (nm == 0 ||
		    !list_item(rt->models, nm == 1 ? 0 : i, d->model,
		        sizeof(d->model)))
			snprintf(d->model, sizeof(d->model), "%s", m->name);
		d->weight = 1;
		if (nw > 0 && list_item(rt->weights, i, w, sizeof(w)))
			d->weight = strtol(w, NULL, 10); /* checked: 1..1000 */
		if ((d->up = cs_config_upstream(cfg, d->upstream)) == NULL) {
			snprintf(err, errlen,
			    "[model %s] (line %zu): upstream \"%s\" is not "
			    "defined (add an [upstream %s] section)",
			    m->name, m->line, d->upstream, d->upstream);
			return CS_ECONFIG;
		}
		if (rt->n > 1 && d->up->provider_eff->source_new != NULL) {
			snprintf(err, errlen,
			    "[model %s] (line %zu): upstream \"%s\" (provider "
			    "%s) answers on this server and cannot be one of "
			    "several upstreams",
			    m->name, m->line, d->upstream,
			    d->up->provider_eff->name);
			return CS_ECONFIG;
		}
		deploy_key(d);
	}
	rt->mode = strcmp(rt->balance, "weighted") == 0 ? CS_BALANCE_WEIGHTED :
	    strcmp(rt->balance, "least-busy") == 0 ? CS_BALANCE_LEAST_BUSY :
	                                             CS_BALANCE_ORDERED;
	if (!rt->has_allowed_fails)
		rt->allowed_fails = rt->n > 1 ? CS_ROUTE_ALLOWED_FAILS : 0;
	if (rt->fail_window_ms == 0)
		rt->fail_window_ms = CS_ROUTE_WINDOW_MS;
	if (rt->cooldown_ms == 0)
		rt->cooldown_ms = CS_ROUTE_COOLDOWN_MS;
	rt->stateful = rt->allowed_fails > 0 ||
	    rt->mode == CS_BALANCE_LEAST_BUSY;
	m->up = rt->d[0].up;
	snprintf(m->upstream_model, sizeof(m->upstream_model), "%s",
	    strcmp(rt->d[0].model, m->name) == 0 ? "" : rt->d[0].model);
	return CS_OK;
}

void
cs_route_describe(const struct cs_model_cfg *m, char *out, size_t len)
{
	static const char *const mode[] = { "ordered", "weighted",
		"least-busy" };
	const struct cs_route_cfg *rt = &m->route;
	const struct cs_deploy *d;
	size_t i, at = 0;
	char w[32];
	int n;

	out[0] = '\0';
	for (i = 0; i < rt->n && at < len; i++) {
		d = &rt->d[i];
		snprintf(w, sizeof(w), ", weight %ld", d->weight);
		n = snprintf(out + at, len - at,
		    "%s%s (%s, key from %s, model %s%s)", i ? " -> " : "",
		    d->upstream, d->up->provider_eff->name, d->up->key_source,
		    d->model, rt->mode == CS_BALANCE_WEIGHTED ? w : "");
		at += n > 0 ? (size_t)n : 0;
	}
	if (at >= len)
		return;
	if (rt->allowed_fails > 0)
		snprintf(out + at, len - at,
		    "; balance %s; cooldown %lds after %ld failures in %lds",
		    mode[rt->mode], rt->cooldown_ms / 1000, rt->allowed_fails,
		    rt->fail_window_ms / 1000);
	else
		snprintf(out + at, len - at, "; balance %s; cooldown off",
		    mode[rt->mode]);
}
