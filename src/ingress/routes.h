/*
 * routes.h — every endpoint as one row of a table: the path it answers
 * (as docs/openapi.json names it under /api), how the request path
 * matches it, its methods, the body it reads, the protocol of its answers
 * and errors, and its handler.  cs_handle (handler.c) derives the rest
 * from the row: 405 with its Allow header, HEAD (GET without the body
 * wherever GET is), the body policy, the 404 shape (native, or OpenAI's
 * under …/v1).  `chatstream --list-routes` prints the documented rows
 * (tests/e2e/test_openapi.py compares them with docs/openapi.json).
 *
 * The table is static and read-only; nothing here allocates.
 */
#ifndef CS_ROUTES_H
#define CS_ROUTES_H

#include <stdio.h>

#include "cs.h"

struct cs_buf;
struct cs_config;
struct cs_encoder;
struct cs_reqctx;
struct cs_stream;
struct cs_worker;

/* Methods, as bits.  HEAD goes wherever GET does: no row names it. */
#define CS_M_GET   1u
#define CS_M_HEAD  2u
#define CS_M_POST  4u
#define CS_M_OTHER 8u /* any other method */
#define CS_M_ANY   (CS_M_GET | CS_M_HEAD | CS_M_POST | CS_M_OTHER)

/* The raw (still %-encoded) parameter of a path (…/v1/models/{id}):
 * room for a CS_MAX_NAME name with every byte escaped. */
#define CS_ROUTE_ID_MAX (3 * CS_MAX_NAME)

enum cs_match {
	CS_MATCH_TAIL,    /* the path's last segments are the pattern */
	CS_MATCH_PARAM,   /* the pattern starts a segment; the rest of the
	                      path (not empty) is the parameter */
	CS_MATCH_SEGMENT, /* fallback: no endpoint matched, and a segment of
	                      the path is the pattern */
	CS_MATCH_ANY,     /* fallback: the last row */
};

enum cs_body_policy {
	CS_BODY_NONE, /* drained unread */
	CS_BODY_JSON, /* a POST's body: application/json (chat.h),
	                      within max_body_bytes, read whole */
};

/* A handler: everything it answers or fails is written to s.  body is the
 * POST body read by the row's policy (NULL when it reads none); *model may
 * be set to the configured model served (the access log; points into the
 * config). */
typedef void cs_serve_fn(struct cs_worker *w, const struct cs_reqctx *rq,
    struct cs_stream *s, const struct cs_buf *body, const char **model);
/* Pick the protocol of this request's answer (cs_stream_use), before the
 * method check: CS_OK, or CS_EHANDLED once a 400 is written. */
typedef enum cs_err
cs_choose_fn(const struct cs_reqctx *rq, struct cs_stream *s);

struct cs_route {
	const char *path;    /* documented path under /api; NULL for a
	                              fallback */
	const char *pattern; /* matched as match says */
	enum cs_match match;
	unsigned methods; /* CS_M_* allowed (GET brings HEAD) */
	unsigned gated;   /* of those, allowed only while the
	                              config's chat_get is on */
	enum cs_body_policy body;
	const struct cs_encoder *enc; /* the protocol of answers and errors */
	cs_choose_fn *choose; /* NULL, or another protocol per request */
	cs_serve_fn *serve;
	const char *use;       /* 405 message: how to call it */
	const char *gated_use; /* 405 message for a gated method */
};

extern const struct cs_route cs_routes[];
extern const size_t cs_n_routes;

/*
 * The row for a request.  Servers name the endpoint differently: lighttpd
 * puts the whole path in SCRIPT_NAME, Apache's ScriptAlias splits it into
 * SCRIPT_NAME + PATH_INFO, a rewrite to a .fcgi file leaves it only in
 * REQUEST_URI; the first that names an endpoint wins (any may be NULL).
 * Never NULL: the fallbacks match anything.  *path is the path to log and
 * echo (REQUEST_URI, else the variable that matched, else SCRIPT_NAME;
 * borrowed, may be NULL, may hold the query).  param is the raw parameter
 * of a CS_MATCH_PARAM row, from REQUEST_URI when it names the same row
 * (the URL as sent, so an id the client %-encoded arrives intact); "" if
 * none or longer than CS_ROUTE_ID_MAX.
 */
const struct cs_route *cs_route_find(const char *path_info,
    const char *script_name, const char *request_uri, const char **path,
    char param[CS_ROUTE_ID_MAX + 1]);

/* The CS_M_* bit of a REQUEST_METHOD (NULL or unknown: CS_M_OTHER). */
unsigned cs_route_method(const char *method);

/* The methods r allows under cfg, HEAD included where GET is. */
unsigned
cs_route_allowed(const struct cs_route *r, const struct cs_config *cfg);

/* 1 when r answers under …/v1, the OpenAI-compatible API (a documented
 * row, or the 404 for any other path there), else 0. */
int cs_route_v1(const struct cs_route *r);

/* methods as an Allow header value ("GET, HEAD, POST"), into buf. */
void cs_route_allow(unsigned methods, char *buf, size_t len);

/* "METHOD /path" for each documented row and method (HEAD left out: it
 * goes with GET; OPTIONS for the /v1 rows, which answer it: cors.h), one
 * a line, in table order. */
void cs_routes_print(FILE *f);

#endif
