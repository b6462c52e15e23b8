/* chat.c — the chat entry point; see chat.h. */
#include <stddef.h>
#include <string.h>
#include <strings.h>

#include "admit.h"
#include "chat.h"
#include "config.h"
#include "engine.h"
#include "provider.h"
#include "request.h"
#include "stream.h"
#include "route.h"
#include "upstream.h"
#include "worker.h"

enum cs_err
cs_chat_parse(const struct cs_config *cfg, struct cs_stream *s,
    const char *body, size_t len, struct cs_chat_request **req)
{
	struct cs_reqerr rerr;
	enum cs_err r;

	memset(&rerr, 0, sizeof(rerr));
	if ((r = cs_request_parse(cfg, body, len, req, &rerr)) == CS_OK)
		return CS_OK;
	cs_stream_fail(s,
	    r == CS_ENOMEM || r == CS_ECONFIG ? CS_FAIL_INTERNAL : rerr.fail,
	    rerr.message[0] != '\0' ? rerr.message : "out of memory");
	return CS_EHANDLED;
}

/* Drop from plan the deployments whose wire has no word for an option
 * the request uses (provider.h); when none is left, the 400 naming the
 * model, the first one's upstream and the alternative it gives: 1. */
static int
unsupported(struct cs_stream *s, const struct cs_chat_request *req,
    struct cs_route_plan *plan)
{
	const struct cs_deploy *first = &plan->rt->d[plan->order[0]];
	const struct cs_provider *p;
	const char *field = NULL, *what = NULL, *why = NULL;
	char msg[512];
	size_t i, n = 0;

	for (i = 0; i < plan->n; i++) {
		p = plan->rt->d[plan->order[i]].up->provider_eff;
		if (req->response_format != NULL &&
		    p->no_response_format != NULL) {
			if (why == NULL)
				field = "response_format",
				what = "structured output",
				why = p->no_response_format;
		} else if (req->stop != NULL && p->no_stop != NULL) {
			if (why == NULL)
				field = "stop", what = "stop sequences",
				why = p->no_stop;
		} else
			plan->order[n++] = plan->order[i];
	}
	if ((plan->n = n) > 0)
		return 0;
	snprintf(msg, sizeof(msg),
	    "%s: model \"%s\" is served by upstream \"%s\" (provider %s), "
	    "which has no %s; %s",
	    field, req->model->name, first->upstream,
	    first->up->provider_eff->name, what, why);
	cs_stream_fail(s, CS_FAIL_INVALID, msg);
	return 1;
}

/* Every deployment of the model is cooling down: 503 with Retry-After. */
static void
all_cooling(struct cs_stream *s, const struct cs_chat_request *req,
    const struct cs_route_plan *plan, long long now_ms)
{
	long long wait = (plan->cooling_until_ms - now_ms + 999) / 1000;
	char msg[256];

	snprintf(msg, sizeof(msg),
	    "every upstream of model \"%s\" failed repeatedly and is "
	    "cooling down; retry in %llds",
	    req->model->name, wait);
	cs_stream_fail_retry(s, CS_FAIL_COOLING, msg, wait > 0 ? wait : 1);
}

void
cs_chat_provider(
    struct cs_worker *w, const struct cs_chat_request *req, struct cs_stream *s)
{
	const struct cs_provider *prov = req->model->up->provider_eff;
	struct cs_route_plan plan;
	long long now;
	enum cs_err r;
	struct cs_run *run;
	void *src;

	if (cs_stream_is_head(s)) {
		/* HEAD: the stream's headers, as GET would get them after
		 * the same checks, and no model asked. */
		cs_stream_start(s);
		return;
	}
	if (w->hand_off && cs_engine_streams() >= (int)w->cfg->max_streams) {
		cs_stream_fail_retry(s, CS_FAIL_OVERLOADED,
		    "the server is at "
		    "capacity (max_streams open streams); retry shortly",
		    1);
		return;
	}
	/* Structured output and stop sequences the upstream's wire cannot
	 * carry: refused, not silently dropped (provider.h).  Only the
	 * order, no store, for that. */
	memset(&plan, 0, sizeof(plan));
	plan.rt = &req->model->route;
	for (plan.n = 0; plan.n < plan.rt->n; plan.n++)
		plan.order[plan.n] = (unsigned char)plan.n;
	if (unsupported(s, req, &plan))
		return;
	/* The limits, on this worker, before the provider is asked. */
	if (w->cfg->admission && w->rq != NULL && w->ticket != NULL) {
		r = cs_admit(w->cfg, &w->state, w->rq, req, s, w->ticket);
		cs_stream_time_admit(s, w->ticket->admit_us);
		if (r != CS_OK)
			return;
	}
	if (prov->source_new != NULL) {
		if ((src = prov->source_new(w->cfg, req)) == NULL) {
			cs_stream_fail(s, CS_FAIL_INTERNAL, "out of memory");
			return;
		}
		cs_stream_set_served(
		    s, req->model->up->name, req->model->name, 1);
		cs_chat_run(
		    w, cs_upstream_prepare_source(prov->source, src, s));
		return;
	}
	/* Which deployment, in what order, skipping those cooling down. */
	now = cs_wall_ms();
	if (cs_route_plan(w->cfg, &w->state, req->model, now, &plan) != CS_OK) {
		all_cooling(s, req, &plan, now);
		return;
	}
	if (unsupported(s, req, &plan))
		run = NULL; /* (none left after the cooling ones went) */
	else
		run = cs_upstream_prepare_route(req, &plan, s);
	cs_chat_run(w, run);
}

void
cs_chat_run(struct cs_worker *w, struct cs_run *run)
{
	if (run == NULL)
		return; /* the failure is written */
	if (w->hand_off)
		w->run = run;
	else
		cs_upstream_run(run);
}

int
cs_chat_json_type(const char *ct)
{
	static const char want[] = "application/json";
	size_t n = sizeof(want) - 1;

	if (ct == NULL || strncasecmp(ct, want, n) != 0)
		return 0;
	/* RFC 9110 8.3.1: media-type = type "/" subtype parameters, and
	 * parameters = *( OWS ";" OWS [ parameter ] ), OWS = *( SP / HTAB ). */
	ct += n + strspn(ct + n, " \t");
	return *ct == '\0' || *ct == ';';
}
