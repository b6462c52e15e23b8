/*
 * native_api.h — the native chat endpoint, /api/chat (docs/protocol.md):
 * POST a JSON body (chatstream's own request, or the AI SDK's useChat
 * body, translated), or GET ?prompt=...[&model=...] for EventSource;
 * answered as native SSE, plain text (?format=text, or Accept: text/plain)
 * or the AI SDK's UI message stream.  Handlers of the route table
 * (routes.h).
 */
#ifndef CS_NATIVE_API_H
#define CS_NATIVE_API_H

#include "cs.h"

struct cs_buf;
struct cs_reqctx;
struct cs_stream;
struct cs_worker;

/* The protocol of the answer: ?format=text or ?format=sse if given, else
 * plain text when the client accepts text/plain but not
 * text/event-stream, else the native SSE.  CS_OK, or CS_EHANDLED after a
 * 400 for an unknown format. */
enum cs_err cs_native_encoder(const struct cs_reqctx *rq,
    struct cs_stream *s);

/* POST (body: the JSON read by the route's policy) or GET/HEAD (body
 * NULL) /api/chat.  *model is set to the configured name served. */
void cs_native_chat(struct cs_worker *w, const struct cs_reqctx *rq,
    struct cs_stream *s, const struct cs_buf *body, const char **model);

#endif
