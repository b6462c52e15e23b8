/*
 * check.h — the deployment self-check endpoints behind www/check.html.
 *
 *   GET /api/info   what is serving: chatstream version, the web server's
 *                   SERVER_SOFTWARE, FastCGI or CGI, keepalive interval.
 *                   Nothing secret.
 *   GET /api/check  a short stream of timed "tick" events (never calls the
 *                   provider), so a page can tell streaming from buffering.
 */
#ifndef CS_CHECK_H
#define CS_CHECK_H

struct cs_config;
struct cs_reqctx;
struct cs_run;
struct cs_stream;

/* rq: the request's parameters (reqctx.h). */
void cs_check_info(const struct cs_config *cfg, const struct cs_reqctx *rq,
    struct cs_stream *s);
/* The tick stream, prepared to run (upstream.h), or NULL when it is
 * refused (the error is written to s). */
struct cs_run *cs_check_stream(const struct cs_config *cfg,
    const struct cs_reqctx *rq, struct cs_stream *s);

#endif
