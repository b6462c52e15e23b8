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

struct cs_config;
struct json_object;

/* The "model" of a /v1 body (root, a JSON object) when it is a string
 * that names no configured model: 404 model_not_found written to s (in
 * the stream's protocol) and CS_EHANDLED; else CS_OK (absent, not a
 * string or empty: the native parser says what is wrong). */
enum cs_err cs_v1_check_model(
    const struct cs_config *cfg, struct cs_stream *s, struct json_object *root);

/* POST …/v1/chat/completions with body (the JSON read by the route's
 * policy).  *model is set to the configured name served (for the access
 * log; it points into the config). */
cs_serve_fn cs_openai_chat;

/* Any other path under …/v1: 404 in OpenAI's error shape, naming the
 * method and rq->path (without query). */
cs_serve_fn cs_openai_not_found;

#endif
