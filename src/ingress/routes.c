/*
 * routes.c — the endpoint table and the matching of a request path against
 * it; see routes.h.
 *
 * A row matches the path's tail, not its whole: chatstream answers
 * wherever it is mounted (/api/chat, /cgi-bin/chatstream.fcgi/chat, ...).
 * Earlier rows win, so the longer OpenAI-compatible tails come before the
 * native ones they end with.
 */
#include <stdio.h>
#include <string.h>

#include "anthropic_api.h"
#include "chat.h"
#include "check.h"
#include "config.h"
#include "dashboard.h"
#include "encoder.h"
#include "metrics.h"
#include "models.h"
#include "native_api.h"
#include "openai_api.h"
#include "reqctx.h"
#include "responses_api.h"
#include "routes.h"
#include "stream.h"
#include "worker.h"

/* docs/openapi.json, embedded at build time (src/embed.py). */
extern const char cs_openapi_json[];
extern const size_t cs_openapi_json_len;

#define USE_GET  "use GET here"
#define USE_POST "use POST with a JSON body"

static void
serve_openapi(struct cs_worker *w, const struct cs_reqctx *rq,
    struct cs_stream *s, const struct cs_buf *body, const char **model)
{
	(void)w, (void)rq, (void)body, (void)model;
	cs_stream_reply(
	    s, 200, "application/json", cs_openapi_json, cs_openapi_json_len);
}

static void
serve_info(struct cs_worker *w, const struct cs_reqctx *rq, struct cs_stream *s,
    const struct cs_buf *body, const char **model)
{
	(void)body, (void)model;
	cs_check_info(w->cfg, rq, s);
}

static void
serve_check(struct cs_worker *w, const struct cs_reqctx *rq,
    struct cs_stream *s, const struct cs_buf *body, const char **model)
{
	(void)body, (void)model;
	cs_chat_run(w, cs_check_stream(w->cfg, rq, s));
}

static void
serve_not_found(struct cs_worker *w, const struct cs_reqctx *rq,
    struct cs_stream *s, const struct cs_buf *body, const char **model)
{
	(void)w, (void)rq, (void)body, (void)model;
	cs_stream_fail(s, CS_FAIL_NOT_FOUND,
	    "no such endpoint "
	    "(GET /api/openapi.json lists them)");
}

const struct cs_route cs_routes[] = {
	{ "/v1/models/{model}", "v1/models/", CS_MATCH_PARAM, CS_M_GET, 0,
	    CS_BODY_NONE, &cs_encoder_openai_json, NULL, cs_models_openai_one,
	    USE_GET, NULL },
	{ "/v1/chat/completions", "v1/chat/completions", CS_MATCH_TAIL,
	    CS_M_POST, 0, CS_BODY_JSON, &cs_encoder_openai_json, NULL,
	    cs_openai_chat, USE_POST, NULL },
	{ "/v1/responses", "v1/responses", CS_MATCH_TAIL, CS_M_POST, 0,
	    CS_BODY_JSON, &cs_encoder_responses_json, NULL, cs_responses_create,
	    USE_POST, NULL },
	{ "/v1/messages", "v1/messages", CS_MATCH_TAIL, CS_M_POST, 0,
	    CS_BODY_JSON, &cs_encoder_anthropic_json, NULL,
	    cs_anthropic_messages, USE_POST, NULL },
	{ "/v1/models", "v1/models", CS_MATCH_TAIL, CS_M_GET, 0, CS_BODY_NONE,
	    &cs_encoder_openai_json, NULL, cs_models_openai, USE_GET, NULL },
	{ "/admin/usage", "admin/usage", CS_MATCH_TAIL, CS_M_GET, 0,
	    CS_BODY_NONE, &cs_encoder_sse, NULL, cs_admin_usage, USE_GET,
	    NULL },
	{ "/chat", "chat", CS_MATCH_TAIL, CS_M_GET | CS_M_POST, CS_M_GET,
	    CS_BODY_JSON, &cs_encoder_sse, cs_native_encoder, cs_native_chat,
	    USE_POST,
	    "GET /api/chat is disabled on this server; POST a JSON "
	    "body" },
	{ "/models", "models", CS_MATCH_TAIL, CS_M_GET, 0, CS_BODY_NONE,
	    &cs_encoder_sse, NULL, cs_models_native, USE_GET, NULL },
	{ "/info", "info", CS_MATCH_TAIL, CS_M_GET, 0, CS_BODY_NONE,
	    &cs_encoder_sse, NULL, serve_info, USE_GET, NULL },
	{ "/check", "check", CS_MATCH_TAIL, CS_M_GET, 0, CS_BODY_NONE,
	    &cs_encoder_sse, NULL, serve_check, USE_GET, NULL },
	{ "/openapi.json", "openapi.json", CS_MATCH_TAIL, CS_M_GET, 0,
	    CS_BODY_NONE, &cs_encoder_sse, NULL, serve_openapi, USE_GET, NULL },
	{ "/metrics", "metrics", CS_MATCH_TAIL, CS_M_GET, 0, CS_BODY_NONE,
	    &cs_encoder_sse, NULL, cs_metrics_serve, USE_GET, NULL },
	/* Anything else under …/v1 is OpenAI's 404, so an OpenAI client
	 * never has to read the native one. */
	{ NULL, "v1", CS_MATCH_SEGMENT, CS_M_ANY, 0, CS_BODY_NONE,
	    &cs_encoder_openai_json, NULL, cs_openai_not_found, NULL, NULL },
	{ NULL, NULL, CS_MATCH_ANY, CS_M_ANY, 0, CS_BODY_NONE, &cs_encoder_sse,
	    NULL, serve_not_found, NULL, NULL },
};

const size_t cs_n_routes = CS_ARRAY_LEN(cs_routes);

/* The end of p's path: before '?' or '#', without trailing slashes. */
static size_t
path_end(const char *p)
{
	size_t end = strcspn(p, "?#");

	while (end > 0 && p[end - 1] == '/')
		end--;
	return end;
}

/*
 * Where pat first stands in p[0..end) at the start of a segment, or -1.
 * With whole, it must also end one (be followed by '/' or the end).
 */
static long
find_segment(const char *p, size_t end, const char *pat, int whole)
{
	size_t n = strlen(pat), at;
	const char *q;

	for (q = p;
	     (q = strstr(q, pat)) != NULL && (at = (size_t)(q - p)) < end;
	     q++) {
		if (at > 0 && p[at - 1] != '/')
			continue;
		if (!whole || at + n == end ||
		    (at + n < end && p[at + n] == '/'))
			return (long)at;
	}
	return -1;
}

/*
 * The offset in p of r's parameter (what follows the first segment-aligned
 * pattern, to the end of the path: an id may hold '/', decoded by the
 * server or still %2F), or 0 if p has none.
 */
static size_t
param_at(const struct cs_route *r, const char *p, size_t end)
{
	long at = find_segment(p, end, r->pattern, 0);
	size_t after;

	if (at < 0)
		return 0;
	after = (size_t)at + strlen(r->pattern);
	return after < end ? after : 0;
}

static int
tail_is(const char *p, size_t end, const char *pat)
{
	size_t n = strlen(pat);

	return end >= n && memcmp(p + end - n, pat, n) == 0 &&
	    (end == n || p[end - n - 1] == '/');
}

/* The endpoint row p names (fallbacks aside), or NULL. */
static const struct cs_route *
match_path(const char *p)
{
	const struct cs_route *r;
	size_t end;

	if (p == NULL || *p == '\0')
		return NULL;
	end = path_end(p);
	for (r = cs_routes; r < cs_routes + cs_n_routes; r++)
		if ((r->match == CS_MATCH_PARAM && param_at(r, p, end) != 0) ||
		    (r->match == CS_MATCH_TAIL && tail_is(p, end, r->pattern)))
			return r;
	return NULL;
}

/* r's parameter in p into param; "" if none or too long. */
static void
copy_param(
    const struct cs_route *r, const char *p, char param[CS_ROUTE_ID_MAX + 1])
{
	size_t end, at;

	param[0] = '\0';
	if (r->match != CS_MATCH_PARAM || p == NULL ||
	    (at = param_at(r, p, end = path_end(p))) == 0 ||
	    end - at > CS_ROUTE_ID_MAX)
		return;
	memcpy(param, p + at, end - at);
	param[end - at] = '\0';
}

/* The first fallback row for path (may be NULL). */
static const struct cs_route *
fallback(const char *path)
{
	const struct cs_route *r;

	for (r = cs_routes; r < cs_routes + cs_n_routes; r++)
		if (r->match == CS_MATCH_ANY ||
		    (r->match == CS_MATCH_SEGMENT && path != NULL &&
		        find_segment(path, path_end(path), r->pattern, 1) >= 0))
			return r;
	return &cs_routes[cs_n_routes - 1];
}

const struct cs_route *
cs_route_find(const char *path_info, const char *script_name,
    const char *request_uri, const char **path, char param[CS_ROUTE_ID_MAX + 1])
{
	const char *vars[] = { path_info, script_name, request_uri };
	const struct cs_route *r;
	const char *m;
	char full[1024];
	size_t i;

	*path = request_uri;
	param[0] = '\0';
	for (i = 0; i < CS_ARRAY_LEN(vars); i++) {
		if ((m = vars[i]) == NULL)
			continue;
		/* PATH_INFO as the tail of SCRIPT_NAME: lighttpd may split
		 * /api/v1/models into "/api/v1" + "/models". */
		if (i == 0) {
			if (snprintf(full, sizeof(full), "%s%s",
			        script_name ? script_name : "",
			        path_info) >= (int)sizeof(full))
				snprintf(full, sizeof(full), "%s", path_info);
			m = full;
		}
		if ((r = match_path(m)) == NULL)
			continue;
		copy_param(r, m, param);
		if (match_path(request_uri) == r)
			copy_param(r, request_uri, param);
		if (*path == NULL)
			*path = vars[i];
		return r;
	}
	if (*path == NULL)
		*path = script_name;
	return fallback(*path);
}

unsigned
cs_route_method(const char *method)
{
	if (method == NULL)
		return CS_M_OTHER;
	if (strcmp(method, "GET") == 0)
		return CS_M_GET;
	if (strcmp(method, "HEAD") == 0)
		return CS_M_HEAD;
	if (strcmp(method, "POST") == 0)
		return CS_M_POST;
	return CS_M_OTHER;
}

int
cs_route_v1(const struct cs_route *r)
{
	if (r->path != NULL)
		return strncmp(r->path, "/v1/", 4) == 0;
	return r->pattern != NULL && strcmp(r->pattern, "v1") == 0;
}

unsigned
cs_route_allowed(const struct cs_route *r, const struct cs_config *cfg)
{
	unsigned m = r->methods;

	if (!cfg->chat_get)
		m &= ~r->gated;
	if (m & CS_M_GET)
		m |= CS_M_HEAD;
	return m;
}

void
cs_route_allow(unsigned methods, char *buf, size_t len)
{
	snprintf(buf, len, "%s%s%s%s%s", methods & CS_M_GET ? "GET" : "",
	    methods & CS_M_GET && methods & (CS_M_HEAD | CS_M_POST) ? ", " : "",
	    methods & CS_M_HEAD ? "HEAD" : "",
	    methods & CS_M_HEAD && methods & CS_M_POST ? ", " : "",
	    methods & CS_M_POST ? "POST" : "");
}

void
cs_routes_print(FILE *f)
{
	const struct cs_route *r;

	for (r = cs_routes; r < cs_routes + cs_n_routes; r++) {
		if (r->path == NULL)
			continue;
		if (r->methods & CS_M_GET)
			fprintf(f, "GET %s\n", r->path);
		if (r->methods & CS_M_POST)
			fprintf(f, "POST %s\n", r->path);
		if (cs_route_v1(r)) /* answered by cs_cors() */
			fprintf(f, "OPTIONS %s\n", r->path);
	}
}
