/*
 * cors.c — CORS for /api/v1; see cors.h.
 */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "config.h"
#include "cors.h"
#include "failure.h"
#include "reqctx.h"
#include "routes.h"
#include "stream.h"

#define SEP " \t,"

/* Headers the SDKs and fetch() send that a preflight may ask for; every
 * x-stainless-* (the openai and anthropic SDKs' telemetry) besides. */
static const char *const allowed_headers[] = {
	"authorization",
	"content-type",
	"x-api-key",
	"anthropic-version",
	"anthropic-beta",
	"anthropic-dangerous-direct-browser-access",
	"openai-organization",
	"openai-project",
	"openai-beta",
	"x-request-id",
	"last-event-id",
	"accept",
	"accept-language",
	"content-language",
};

static const char expose[] =
    "Access-Control-Expose-Headers: X-Request-Id, request-id, Retry-After, "
    "RateLimit, RateLimit-Policy, x-ratelimit-limit-requests, "
    "x-ratelimit-remaining-requests, x-ratelimit-reset-requests, "
    "x-ratelimit-limit-tokens, x-ratelimit-remaining-tokens, "
    "x-ratelimit-reset-tokens\r\n";

/* 0/1: origin is one of the list (ASCII case-insensitively). */
static int
listed(const char *list, const char *origin)
{
	size_t n, len = strlen(origin);
	const char *p = list;

	for (p += strspn(p, SEP); *p != '\0'; p += n, p += strspn(p, SEP)) {
		n = strcspn(p, SEP);
		if (n == len && strncasecmp(p, origin, n) == 0)
			return 1;
	}
	return 0;
}

/* 0/1: header name h[0..n) may be asked for. */
static int
header_ok(const char *h, size_t n)
{
	size_t i;

	if (n > 12 && strncasecmp(h, "x-stainless-", 12) == 0)
		return 1;
	for (i = 0; i < CS_ARRAY_LEN(allowed_headers); i++)
		if (strlen(allowed_headers[i]) == n &&
		    strncasecmp(allowed_headers[i], h, n) == 0)
			return 1;
	return 0;
}

/* The requested headers, each allowed, lowercased into out; -1 naming
 * the first that is not (or "too long") in bad. */
static int
request_headers(
    const char *req, char *out, size_t len, char *bad, size_t badlen)
{
	size_t n, o = 0, i;
	const char *p = req;

	out[0] = '\0';
	if (strlen(req) > CS_CORS_MAX_REQUEST_HEADERS) {
		snprintf(bad, badlen, "more than %d bytes of them",
		    CS_CORS_MAX_REQUEST_HEADERS);
		return -1;
	}
	for (p += strspn(p, SEP); *p != '\0'; p += n, p += strspn(p, SEP)) {
		n = strcspn(p, SEP);
		if (!header_ok(p, n) || o + n + 3 > len) {
			snprintf(
			    bad, badlen, "\"%.*s\"", (int)(n > 64 ? 64 : n), p);
			return -1;
		}
		if (o > 0) {
			out[o++] = ',';
			out[o++] = ' ';
		}
		for (i = 0; i < n; i++)
			out[o++] = (char)(p[i] >= 'A' && p[i] <= 'Z' ?
			        p[i] + 32 :
			        p[i]);
		out[o] = '\0';
	}
	return 0;
}

enum cs_err
cs_cors(const struct cs_config *cfg, const struct cs_reqctx *rq,
    struct cs_stream *s)
{
	const struct cs_route *rt = rq->route;
	const char *acrm, *acrh;
	char h[CS_STREAM_EXTRA], allow[32], names[CS_CORS_MAX_REQUEST_HEADERS];
	char bad[96], msg[320];
	/* The 404 for any other path under …/v1 is readable by a listed
	 * page too, and answers OPTIONS itself. */
	int v1_404 = rt->path == NULL;
	int ok, options = strcmp(rq->method, "OPTIONS") == 0;

	if (!cs_route_v1(rt))
		return CS_OK;
	ok = rq->origin != NULL && listed(cfg->cors_origins, rq->origin);
	if (ok) {
		snprintf(h, sizeof(h), "Access-Control-Allow-Origin: %s\r\n%s",
		    rq->origin, options && !v1_404 ? "" : expose);
		cs_stream_add_headers(s, h);
	}
	if (cfg->cors_origins[0] != '\0' || (options && !v1_404))
		cs_stream_add_headers(s,
		    options && !v1_404 ?
		        "Vary: Origin, Access-Control-Request-Method, "
		        "Access-Control-Request-Headers\r\n" :
		        "Vary: Origin\r\n");
	if (!options || v1_404)
		return CS_OK;
	cs_route_allow(cs_route_allowed(rt, cfg), allow, sizeof(allow));
	acrm = rq->acr_method;
	if (rq->origin == NULL || acrm == NULL) {
		/* Not a preflight: what the resource allows (RFC 9110). */
		snprintf(h, sizeof(h), "Allow: %s, OPTIONS\r\n", allow);
		cs_stream_add_headers(s, h);
		cs_stream_no_content(s);
		return CS_EHANDLED;
	}
	acrh = rq->acr_headers;
	if (!ok) {
		snprintf(msg, sizeof(msg),
		    "this API does not answer pages of %.120s; to let them "
		    "call it, add that origin to cors_origins in "
		    "chatstream.conf",
		    rq->origin);
		cs_stream_fail(s, CS_FAIL_FORBIDDEN, msg);
		return CS_EHANDLED;
	}
	if (request_headers(acrh != NULL ? acrh : "", names, sizeof(names), bad,
	        sizeof(bad)) != 0) {
		snprintf(msg, sizeof(msg),
		    "a cross-origin request may not send the header %s", bad);
		cs_stream_fail(s, CS_FAIL_FORBIDDEN, msg);
		return CS_EHANDLED;
	}
	snprintf(h, sizeof(h),
	    "Access-Control-Allow-Methods: %s\r\n"
	    "%s%s%s"
	    "Access-Control-Max-Age: %d\r\n",
	    allow, names[0] != '\0' ? "Access-Control-Allow-Headers: " : "",
	    names, names[0] != '\0' ? "\r\n" : "", CS_CORS_MAX_AGE);
	cs_stream_add_headers(s, h);
	cs_stream_no_content(s);
	return CS_EHANDLED;
}
