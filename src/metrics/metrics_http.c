/*
 * metrics_http.c — GET /api/metrics: who may read it (metrics = off |
 * loopback | key), which format they get, and the state store's check.
 */
#include <arpa/inet.h>
#include <string.h>
#include <strings.h>

#include "admit.h"
#include "config.h"
#include "fcgi_out.h"
#include "metrics.h"
#include "reqctx.h"
#include "state.h"
#include "stream.h"
#include "worker.h"

/* Is addr a loopback address (127.0.0.0/8, ::1, ::ffff:127.x.y.z)? */
static int
is_loopback(const char *addr)
{
	unsigned char a[16];

	if (addr == NULL)
		return 0;
	if (inet_pton(AF_INET, addr, a) == 1)
		return a[0] == 127;
	if (inet_pton(AF_INET6, addr, a) != 1)
		return 0;
	if (memcmp(a, "\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\1", 16) == 0)
		return 1;
	return memcmp(a, "\0\0\0\0\0\0\0\0\0\0\xff\xff", 12) == 0 &&
	    a[12] == 127;
}

/* Does the client's Accept ask for OpenMetrics (before the text
 * format, or without it)? */
static int
wants_openmetrics(const char *accept)
{
	const char *om, *text;

	if (accept == NULL ||
	    (om = strcasestr(accept, "application/openmetrics-text")) == NULL)
		return 0;
	text = strcasestr(accept, "text/plain");
	return text == NULL || om < text;
}

/* The store's backend name for the gauge, and whether it answers now:
 * -1 when no store is in use. */
static int
state_up(const struct cs_config *cfg, const char **backend)
{
	char msg[256];

	*backend = strncmp(cfg->state, "sqlite:", 7) == 0 ? "sqlite" :
	    strncmp(cfg->state, "redis", 5) == 0          ? "redis" :
	                                                    "memory";
	if (!cfg->admission && !cfg->routed)
		return -1;
	return cs_state_check(cfg->state, msg, sizeof(msg)) == CS_OK;
}

void
cs_metrics_serve(struct cs_worker *w, const struct cs_reqctx *rq,
    struct cs_stream *s, const struct cs_buf *body, const char **model)
{
	const struct cs_config *cfg = w->cfg;
	const char *backend;
	struct cs_buf out;
	int om, up;
	enum cs_err r;

	(void)body, (void)model;
	if (strcmp(cfg->metrics, "off") == 0 || cs_metrics_shared() < 0) {
		cs_stream_fail(s, CS_FAIL_NOT_FOUND,
		    "no such endpoint (metrics = off in the config)");
		return;
	}
	if (strcmp(cfg->metrics, "loopback") == 0 &&
	    (!is_loopback(rq->client) ||
	        cs_conn_param(rq->conn, "HTTP_X_FORWARDED_FOR") != NULL ||
	        cs_conn_param(rq->conn, "HTTP_FORWARDED") != NULL)) {
		cs_stream_fail(s, CS_FAIL_FORBIDDEN,
		    "metrics = loopback: only a client on this host, not "
		    "through a proxy, may read the metrics");
		return;
	}
	if (strcmp(cfg->metrics, "key") == 0 &&
	    cs_admit_permit(cfg, rq, CS_PERM_METRICS, s) != CS_OK)
		return;
	om = wants_openmetrics(rq->accept);
	up = state_up(cfg, &backend);
	cs_buf_init(&out, CS_METRICS_MAX_OUT);
	r = cs_metrics_render(&out, om, backend, up);
	if (r != CS_OK) {
		cs_stream_fail(s, CS_FAIL_INTERNAL, cs_strerror(r));
		goto out;
	}
	cs_stream_reply(s, 200,
	    om ? "application/openmetrics-text; version=1.0.0; charset=utf-8" :
	         "text/plain; version=0.0.4; charset=utf-8",
	    out.data, out.len);
out:
	cs_buf_free(&out);
}
