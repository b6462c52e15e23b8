/*
 * chat.h — the one way every protocol's chat request reaches its provider
 * (native, GET, AI SDK, OpenAI-compatible), and what a chat body must be
 * sent as.
 */
#ifndef CS_CHAT_H
#define CS_CHAT_H

#include <stddef.h>

#include "cs.h"

struct cs_chat_request;
struct cs_config;
struct cs_run;
struct cs_stream;
struct cs_worker;

/*
 * Parse body (len bytes) as a native chat request (request.h): CS_OK and
 * *req (the caller frees it with cs_request_free), or CS_EHANDLED once the
 * refusal is written to s (the same status and message for every
 * protocol).
 */
enum cs_err cs_chat_parse(const struct cs_config *cfg, struct cs_stream *s,
    const char *body, size_t len, struct cs_chat_request **req);

/*
 * Run req through its provider into s: prepared as w->run for a loop when
 * w->hand_off (past max_streams: 503 + Retry-After), else here until it is
 * over (plain CGI); under HEAD only the stream's head, no provider asked.
 * Every failure is written to s.  Retries are counted by the run
 * (upstream.h), the same for every protocol.
 */
void cs_chat_provider(struct cs_worker *w, const struct cs_chat_request *req,
    struct cs_stream *s);

/* The same for a prepared run (upstream.h; NULL: its failure is written). */
void cs_chat_run(struct cs_worker *w, struct cs_run *run);

/* Is ct (a Content-Type value, may be NULL) application/json?  RFC 9110
 * media-type: type and subtype in any case, then optional whitespace (SP
 * or HTAB), then the end or ";" and parameters (not checked). */
int cs_chat_json_type(const char *ct);

#endif
