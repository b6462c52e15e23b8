/* handler.c — one request through the route table; see handler.h. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "admit.h"
#include "buf.h"
#include "chat.h"
#include "config.h"
#include "cors.h"
#include "engine.h"
#include "fcgi_out.h"
#include "handler.h"
#include "log.h"
#include "metrics.h"
#include "reqctx.h"
#include "routes.h"
#include "stream.h"
#include "upstream.h"

static void
new_stream_id(char id[CS_STREAM_ID_LEN + 1])
{
	unsigned char rnd[CS_STREAM_ID_LEN / 2];

	if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd))
		memset(rnd, 0, sizeof(rnd));
	cs_hex_encode(rnd, sizeof(rnd), id);
}

/*
 * The body policy CS_BODY_JSON: the whole body within max_body_bytes, sent
 * as application/json with a well-formed Content-Length.  CS_OK, or
 * CS_EHANDLED once the failure is written to s.
 */
static enum cs_err
read_json_body(const struct cs_config *cfg, const struct cs_reqctx *rq,
    struct cs_stream *s, struct cs_buf *body)
{
	char msg[128];
	enum cs_err r;

	r = cs_conn_read_body(rq->conn, cfg->max_body_bytes, body);
	if (r == CS_ECLIENTGONE)
		cs_stream_lost(s);
	else if (r == CS_ETIMEOUT)
		cs_stream_fail(s, CS_FAIL_BODY_TIMEOUT,
		    "the request body "
		    "did not arrive within request_read_timeout_seconds");
	else if (!cs_chat_json_type(rq->content_type))
		cs_stream_fail(s, CS_FAIL_MEDIA_TYPE,
		    "Content-Type must "
		    "be application/json");
	else if (rq->content_length == -2)
		cs_stream_fail(s, CS_FAIL_INVALID, "malformed Content-Length");
	else if (r == CS_ETOOBIG ||
	    rq->content_length > (long long)cfg->max_body_bytes) {
		snprintf(msg, sizeof(msg), "request body exceeds %zu bytes",
		    cfg->max_body_bytes);
		cs_stream_fail(s, CS_FAIL_TOO_LARGE, msg);
	} else if (r != CS_OK)
		cs_stream_fail(s, CS_FAIL_INTERNAL, "out of memory");
	else
		return CS_OK;
	return CS_EHANDLED;
}

/* 405 for a method the row does not allow, with the Allow header it
 * gives; a method it allows only while chat_get is on has its own word. */
static void
fail_method(const struct cs_config *cfg, const struct cs_reqctx *rq,
    struct cs_stream *s)
{
	const struct cs_route *rt = rq->route;
	unsigned gated = rt->gated & CS_M_GET ? rt->gated | CS_M_HEAD :
	                                        rt->gated;
	char allow[32];

	cs_route_allow(cs_route_allowed(rt, cfg), allow, sizeof(allow));
	cs_stream_fail_method(s, allow,
	    !cfg->chat_get && (gated & rq->method_bit) &&
	            rt->gated_use != NULL ?
	        rt->gated_use :
	        rt->use);
}

/*
 * Serve rq: 503 when overloaded; else the row's protocol, its method
 * check (405), its body policy, its handler.  Every answer is written to
 * s; *model as the handler set it.
 */
static void
serve(struct cs_worker *w, const struct cs_reqctx *rq, struct cs_stream *s,
    const char **model)
{
	const struct cs_config *cfg = w->cfg;
	const struct cs_route *rt = rq->route;
	struct cs_buf body;
	int reads = !w->overloaded && rt->body == CS_BODY_JSON &&
	    rq->method_bit == CS_M_POST;

	/* The buffer may grow one chunk past the limit so "too big" can be
	 * told apart from "exactly the limit". */
	cs_buf_init(&body, reads ? cfg->max_body_bytes + CS_BODY_CHUNK : 0);
	/* Only a body the row reads is kept; every other answer drains it. */
	if (!reads)
		cs_conn_read_body(rq->conn, 0, &body);
	cs_stream_use(s, rt->enc);
	if (w->overloaded)
		cs_stream_fail_retry(s, CS_FAIL_OVERLOADED,
		    "the server is at "
		    "capacity (every worker is busy); retry shortly",
		    1);
	else if (rt->choose != NULL && rt->choose(rq, s) != CS_OK)
		; /* the chooser wrote its 400 */
	else if (cs_cors(cfg, rq, s) != CS_OK)
		; /* OPTIONS, answered */
	else if (!(cs_route_allowed(rt, cfg) & rq->method_bit))
		fail_method(cfg, rq, s);
	else if (!reads || read_json_body(cfg, rq, s, &body) == CS_OK)
		rt->serve(w, rq, s, reads ? &body : NULL, model);
	cs_buf_free(&body);
}

/* A request whose stream went to a loop: what its access line needs. */
struct pass {
	struct cs_stream *s;
	struct cs_run *run;
	struct cs_access a;
	/* Admission's, settled at the end: NULL unless it admitted this
	 * chat; then it follows the struct in the same allocation, so a
	 * stream without admission carries none of it. */
	struct cs_ticket *ticket;
	const struct cs_config *cfg;
	char id[CS_STREAM_ID_LEN + 1];
	char path[256];
	cs_over_fn over;
	void *over_arg;
};
_Static_assert(_Alignof(struct pass) >= _Alignof(struct cs_ticket),
    "a ticket right after a pass is aligned");

/* On the loop: the handed-over stream is over. */
static void
pass_done(void *arg, enum cs_err r)
{
	struct pass *p = arg;
	int lost = cs_stream_is_lost(p->s);

	(void)r;
	cs_stream_account(p->s, &p->a);
	cs_log_access(&p->a);
	cs_metrics_request(p->cfg, &p->a);
	cs_admit_end(p->cfg, NULL, p->ticket, &p->a); /* only queues */
	cs_stream_free(p->s);
	cs_upstream_free(p->run);
	p->over(p->over_arg, lost);
	free(p);
}

/* Hand the prepared run w->run over to a loop, with the access line a
 * (its strings copied or outliving the request).  CS_OK, or CS_EHANDLED:
 * the 503 is written to s, s is still ours and the run is freed. */
static enum cs_err
hand_off(struct cs_worker *w, struct cs_stream *s, const struct cs_access *a,
    cs_over_fn over, void *arg)
{
	int ticket = w->ticket->on;
	struct pass *p;

	if ((p = calloc(1, sizeof(*p) + (ticket ? sizeof(*w->ticket) : 0))) ==
	    NULL)
		goto fail;
	p->s = s;
	p->run = w->run;
	p->a = *a;
	if (ticket) {
		p->ticket = (struct cs_ticket *)(p + 1);
		*p->ticket = *w->ticket;
	}
	p->cfg = w->cfg;
	snprintf(p->id, sizeof(p->id), "%s", a->id);
	p->a.id = p->id;
	if (a->path != NULL) {
		snprintf(p->path, sizeof(p->path), "%s", a->path);
		p->a.path = p->path;
	}
	p->over = over;
	p->over_arg = arg;
	if (cs_engine_submit(w->run, pass_done, p) != 0)
		goto fail;
	w->run = NULL;
	w->rq = NULL;
	w->ticket = NULL;
	return CS_OK;
fail:
	free(p);
	cs_upstream_free(w->run);
	w->run = NULL;
	cs_stream_fail_retry(s, CS_FAIL_OVERLOADED,
	    "the server is at "
	    "capacity (no event loop could take the stream); retry shortly",
	    1);
	return CS_EHANDLED;
}

int
cs_handle(struct cs_worker *w, struct cs_conn *c, cs_over_fn over, void *arg)
{
	struct cs_stream *s;
	struct cs_reqctx rq;
	struct cs_access a;
	struct cs_ticket ticket;
	const char *model = NULL;
	char id[CS_STREAM_ID_LEN + 1], logpath[256];

	new_stream_id(id);
	w->run = NULL;
	if ((s = cs_stream_new(c, w->cfg, &cs_encoder_sse, id)) == NULL) {
		cs_warnx("%s: out of memory for a stream", id);
		return 0; /* the web server answers 502 */
	}
	cs_reqctx_init(&rq, c);
	memset(&ticket, 0, sizeof(ticket));
	ticket.admit_us = -1;
	w->rq = &rq;
	w->ticket = &ticket;
	/* HEAD is GET without the body (stream.h), wherever GET is. */
	if (rq.method_bit == CS_M_HEAD)
		cs_stream_set_head(s);
	serve(w, &rq, s, &model);

	memset(&a, 0, sizeof(a));
	a.id = id;
	a.client = rq.client;
	a.method = rq.method;
	a.endpoint = rq.route->path != NULL ? rq.route->path :
	    rq.route->pattern != NULL       ? "/v1/*" :
	                                      NULL;
	/* Log the path without its query string. */
	if (rq.path != NULL) {
		snprintf(logpath, sizeof(logpath), "%.*s",
		    (int)strcspn(rq.path, "?"), rq.path);
		a.path = logpath;
	}
	a.model = model;
	a.admit_us = ticket.admit_us;
	if (w->run != NULL && hand_off(w, s, &a, over, arg) == CS_OK)
		return 1;
	w->rq = NULL;
	w->ticket = NULL;
	cs_stream_account(s, &a);
	cs_log_access(&a);
	cs_metrics_request(w->cfg, &a);
	cs_admit_end(w->cfg, &w->state, &ticket, &a);
	cs_stream_free(s);
	return 0;
}
