/* chat.c — the chat entry point; see chat.h. */
#include <stddef.h>
#include <strings.h>

#include "chat.h"
#include "config.h"
#include "engine.h"
#include "provider.h"
#include "request.h"
#include "stream.h"
#include "upstream.h"
#include "worker.h"

void
cs_chat_provider(struct cs_worker *w, const struct cs_chat_request *req,
    struct cs_stream *s)
{
	const struct cs_provider *prov = req->model->up->provider_eff;
	struct cs_run *run;
	void *src;

	if (w->hand_off && cs_engine_streams() >= (int)w->cfg->max_streams) {
		cs_stream_fail_retry(s, CS_FAIL_OVERLOADED, "the server is at "
		    "capacity (max_streams open streams); retry shortly", 1);
		return;
	}
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
		return;   /* the failure is written */
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
	return ct[n] == '\0' || ct[n] == ';' || ct[n] == ' ' || ct[n] == '\t';
}
