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

#include "routes.h"

/* The protocol of the answer: ?format=text or ?format=sse if given, else
 * plain text when the client accepts text/plain but not
 * text/event-stream, else the native SSE.  CS_OK, or CS_EHANDLED after a
 * 400 for an unknown format. */
cs_choose_fn cs_native_encoder;

/* POST (body: the JSON read by the route's policy) or GET/HEAD (body
 * NULL) /api/chat.  *model is set to the configured name served. */
cs_serve_fn cs_native_chat;

#endif
