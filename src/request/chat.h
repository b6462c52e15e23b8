/*
 * chat.h — the one way every protocol's chat request reaches its provider
 * (native, GET, AI SDK, OpenAI-compatible), and what a chat body must be
 * sent as.
 */
#ifndef CS_CHAT_H
#define CS_CHAT_H

struct cs_chat_request;
struct cs_run;
struct cs_stream;
struct cs_worker;

/*
 * Run req through its provider into s: prepared as w->run for a loop when
 * w->hand_off (past max_streams: 503 + Retry-After), else here until it is
 * over (plain CGI).  Every failure is written to s.
 */
void cs_chat_provider(struct cs_worker *w, const struct cs_chat_request *req,
    struct cs_stream *s);

/* The same for a prepared run (upstream.h; NULL: its failure is written). */
void cs_chat_run(struct cs_worker *w, struct cs_run *run);

/* Is ct (a Content-Type value, may be NULL) application/json, with or
 * without parameters (";", or optional whitespace first)? */
int cs_chat_json_type(const char *ct);

#endif
