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

#include "cs.h"
#include "routes.h"

struct cs_reqerr;
struct json_object;

/* POST …/v1/responses with body; *model is set to the configured name
 * served (for the access log; it points into the config). */
cs_serve_fn cs_responses_create;

/*
 * Translate root (a Responses request, a JSON object; borrowed, not
 * changed) into a new native request object *out, the caller's
 * (json_object_put()); *stream is set from "stream" (0 when absent);
 * *map (map may be NULL), the caller's too: for each native message the
 * input items it came from, to name them in the parser's refusals.
 * CS_OK; CS_EBADINPUT with err filled (CS_FAIL_INVALID and a message
 * naming the field by its index path, e.g. "input[1].content[0].type:
 * ..."), or CS_ENOMEM; *out is then NULL.  What the native parser checks
 * (the model, the lengths, the tool names, the schema) is left to it.
 */
enum cs_err
cs_responses_translate(struct json_object *root, struct json_object **out,
    int *stream, struct json_object **map, struct cs_reqerr *err);

#endif
