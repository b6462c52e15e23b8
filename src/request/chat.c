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

/* An option the upstream has no word for (why not NULL: it has one):
 * 400 naming the model, the upstream and the alternative why gives; 1 if
 * refused. */
static int
unsupported(struct cs_stream *s, const struct cs_chat_request *req,
    const char *field, const char *what, const char *why)
{
	const struct cs_upstream_cfg *up = req->model->up;
	char msg[512];

	if (why == NULL)
		return 0;
	snprintf(msg, sizeof(msg),
	    "%s: model \"%s\" is served by upstream \"%s\" (provider %s), "
	    "which has no %s; %s",
	    field, req->model->name, up->name, up->provider_eff->name, what,
	    why);
	cs_stream_fail(s, CS_FAIL_INVALID, msg);
	return 1;
}

void
cs_chat_provider(
    struct cs_worker *w, const struct cs_chat_request *req, struct cs_stream *s)
{
	const struct cs_provider *prov = req->model->up->provider_eff;
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
	 * carry: refused, not silently dropped (provider.h). */
	if ((req->response_format != NULL &&
	        unsupported(s, req, "response_format", "structured output",
	            prov->no_response_format)) ||
	    (req->stop != NULL &&
	        unsupported(s, req, "stop", "stop sequences", prov->no_stop)))
		return;
	/* The limits, on this worker, before the provider is asked. */
	if (w->cfg->admission && w->rq != NULL && w->ticket != NULL &&
	    cs_admit(w->cfg, &w->state, w->rq, req, s, w->ticket) != CS_OK)
		return;
	if (prov->source_new == NULL)
		run = cs_upstream_prepare(prov, req, s);
	else if ((src = prov->source_new(w->cfg, req)) == NULL) {
		cs_stream_fail(s, CS_FAIL_INTERNAL, "out of memory");
		return;
	} else
		run = cs_upstream_prepare_source(prov->source, src, s);
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
