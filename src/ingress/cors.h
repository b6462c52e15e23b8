/*
 * cors.h — cross-origin access to the API a browser app on another site
 * calls (every route under /api/v1; the native /api/chat stays the
 * bundled page's, same-origin).  The config's cors_origins lists the
 * origins allowed ("https://app.example https://b.example:8443"), none by
 * default.  For a listed Origin an answer carries Access-Control-Allow-
 * Origin with that origin (never "*": an access key travels with the
 * request), Access-Control-Expose-Headers for the headers SDKs read, and
 * Vary: Origin; a preflight (OPTIONS with Access-Control-Request-Method)
 * gets 204 with the route's methods, the requested headers when each is
 * one an SDK sends, and Access-Control-Max-Age.  An unlisted origin's
 * preflight, or one asking for another header, gets 403 in the route's
 * error shape, saying what to set.  A plain OPTIONS gets 204 with Allow.
 */
#ifndef CS_CORS_H
#define CS_CORS_H

#include "cs.h"

struct cs_config;
struct cs_reqctx;
struct cs_stream;

/* Longest Access-Control-Request-Headers value read; longer is 403. */
#define CS_CORS_MAX_REQUEST_HEADERS 1024
/* Seconds a browser may keep a preflight's answer. */
#define CS_CORS_MAX_AGE 600

/*
 * Before the route's method check: the CORS headers of rq's answer go
 * onto s; an OPTIONS request is answered here.  CS_OK: serve on;
 * CS_EHANDLED: s is answered.
 */
enum cs_err cs_cors(const struct cs_config *cfg, const struct cs_reqctx *rq,
    struct cs_stream *s);

#endif
