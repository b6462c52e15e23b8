/*
 * openai_api.h — the OpenAI-compatible API under …/v1: Chat Completions,
 * so OpenAI clients work unchanged against chatstream with the server's
 * key, aliases and caps (docs/protocol.md "OpenAI-compatible API:
 * /api/v1"); the model list is models.h's.  Handlers of the route table
 * (routes.h), which has checked the method and read the body.
 */
#ifndef CS_OPENAI_API_H
#define CS_OPENAI_API_H

#include "routes.h"

/* POST …/v1/chat/completions with body (the JSON read by the route's
 * policy).  *model is set to the configured name served (for the access
 * log; it points into the config). */
cs_serve_fn cs_openai_chat;

/* Any other path under …/v1: 404 in OpenAI's error shape, naming the
 * method and rq->path (without query). */
cs_serve_fn cs_openai_not_found;

#endif
