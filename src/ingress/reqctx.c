/* reqctx.c — a request's parameters, read once; see reqctx.h. */
#include <stddef.h>
#include <string.h>

#include "fcgi_out.h"
#include "reqctx.h"

/* The parameters read. */
enum param {
	P_METHOD,
	P_PATH_INFO,
	P_SCRIPT_NAME,
	P_REQUEST_URI,
	P_QUERY,
	P_CONTENT_TYPE,
	P_CONTENT_LENGTH,
	P_ACCEPT,
	P_ORIGIN,
	P_HOST,
	P_FETCH_SITE,
	P_LAST_EVENT_ID,
	P_CLIENT,
	P_REMOTE_USER,
	P_SOFTWARE,
	P_ACR_METHOD,
	P_ACR_HEADERS,
	P_N
};

static const char *const names[P_N] = {
	[P_METHOD] = "REQUEST_METHOD",
	[P_PATH_INFO] = "PATH_INFO",
	[P_SCRIPT_NAME] = "SCRIPT_NAME",
	[P_REQUEST_URI] = "REQUEST_URI",
	[P_QUERY] = "QUERY_STRING",
	[P_CONTENT_TYPE] = "CONTENT_TYPE",
	[P_CONTENT_LENGTH] = "CONTENT_LENGTH",
	[P_ACCEPT] = "HTTP_ACCEPT",
	[P_ORIGIN] = "HTTP_ORIGIN",
	[P_HOST] = "HTTP_HOST",
	[P_FETCH_SITE] = "HTTP_SEC_FETCH_SITE",
	[P_LAST_EVENT_ID] = "HTTP_LAST_EVENT_ID",
	[P_CLIENT] = "REMOTE_ADDR",
	[P_REMOTE_USER] = "REMOTE_USER",
	[P_SOFTWARE] = "SERVER_SOFTWARE",
	[P_ACR_METHOD] = "HTTP_ACCESS_CONTROL_REQUEST_METHOD",
	[P_ACR_HEADERS] = "HTTP_ACCESS_CONTROL_REQUEST_HEADERS",
};

/* Strict CONTENT_LENGTH: digits only; -1 if absent, -2 if malformed. */
static long long
content_length(const char *v)
{
	unsigned long long n;

	if (v == NULL || *v == '\0')
		return -1;
	/* Past 4 x the largest body allowed it is too big anyway. */
	if (cs_parse_dec(v, strlen(v), CS_MAX_REQUEST_BODY * 4ULL, &n) != 0)
		return -2;
	return (long long)n;
}

/* One pass over env: the first "NAME=value" of each name, as
 * libfcgi and getenv would find it. */
static void
read_params(char *const *env, const char *v[P_N])
{
	size_t i, n;

	for (; env != NULL && *env != NULL; env++) {
		n = strcspn(*env, "=");
		if ((*env)[n] != '=')
			continue;
		for (i = 0; i < P_N; i++)
			if (v[i] == NULL && strlen(names[i]) == n &&
			    memcmp(*env, names[i], n) == 0) {
				v[i] = *env + n + 1;
				break;
			}
	}
}

void
cs_reqctx_init(struct cs_reqctx *rq, struct cs_conn *conn)
{
	const char *v[P_N] = { NULL };

	memset(rq, 0, sizeof(*rq));
	rq->conn = conn;
	rq->params = cs_conn_params(conn);
	read_params(rq->params, v);
	rq->method = v[P_METHOD] != NULL ? v[P_METHOD] : "";
	rq->method_bit = cs_route_method(v[P_METHOD]);
	rq->path_info = v[P_PATH_INFO];
	rq->script_name = v[P_SCRIPT_NAME];
	rq->request_uri = v[P_REQUEST_URI];
	rq->query = v[P_QUERY];
	rq->content_type = v[P_CONTENT_TYPE];
	rq->content_length = content_length(v[P_CONTENT_LENGTH]);
	rq->accept = v[P_ACCEPT];
	rq->origin = v[P_ORIGIN];
	rq->host = v[P_HOST];
	rq->fetch_site = v[P_FETCH_SITE];
	rq->acr_method = v[P_ACR_METHOD];
	rq->acr_headers = v[P_ACR_HEADERS];
	rq->last_event_id = v[P_LAST_EVENT_ID];
	rq->client = v[P_CLIENT];
	rq->remote_user = v[P_REMOTE_USER];
	rq->server_software = v[P_SOFTWARE];
	rq->route = cs_route_find(rq->path_info, rq->script_name,
	    rq->request_uri, &rq->path, rq->param);
}
