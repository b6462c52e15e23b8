/*
 * responses_api.h — OpenAI's Responses API under …/v1: POST
 * …/v1/responses, so clients written for it (the openai SDKs'
 * responses.create and responses.stream, the AI SDK's default OpenAI
 * model, agent frameworks) work against chatstream with the server's key,
 * aliases, limits and ledger, whatever provider is behind the model
 * (docs/protocol.md "OpenAI Responses API").  A handler of the route
 * table (routes.h), which has checked the method and read the body; the
 * answer is encoders/responses.c's.
 */
#ifndef CS_RESPONSES_API_H
#define CS_RESPONSES_API_H

#include "routes.h"

/* POST …/v1/responses with body; *model is set to the configured name
 * served (for the access log; it points into the config). */
cs_serve_fn cs_responses_create;

#endif
