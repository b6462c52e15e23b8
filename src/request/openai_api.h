/*
 * openai_api.h — the OpenAI-compatible API under …/v1: Chat Completions,
 * so OpenAI clients work unchanged against chatstream with the server's
 * key, aliases and caps (docs/protocol.md "OpenAI-compatible API:
 * /api/v1"); the model list is models.h's.  Handlers of the route table
 * (routes.h), which has checked the method and read the body.
 */
#ifndef CS_OPENAI_API_H
#define CS_OPENAI_API_H

struct cs_buf;
struct cs_reqctx;
struct cs_stream;
struct cs_worker;

/* POST …/v1/chat/completions with body (the JSON read by the route's
 * policy).  *model is set to the configured name served (for the access
 * log; it points into the config). */
void cs_openai_chat(struct cs_worker *w, const struct cs_reqctx *rq,
    struct cs_stream *s, const struct cs_buf *body, const char **model);

/* Any other path under …/v1: 404 in OpenAI's error shape, naming the
 * method and rq->path (without query). */
void cs_openai_not_found(struct cs_worker *w, const struct cs_reqctx *rq,
    struct cs_stream *s, const struct cs_buf *body, const char **model);

#endif
