/*
 * anthropic_api.h — Anthropic's Messages API under …/v1/messages, so
 * Anthropic clients work unchanged against chatstream with the server's
 * key, aliases and caps, whatever upstream serves the model
 * (docs/protocol.md "Anthropic Messages API: /api/v1/messages").  The
 * body is translated into the native request (request.h), which then
 * goes the way of every chat (chat.h).
 */
#ifndef CS_ANTHROPIC_API_H
#define CS_ANTHROPIC_API_H

#include "cs.h"
#include "routes.h"

struct cs_reqerr;
struct json_object;

/* POST …/v1/messages with body (the JSON read by the route's policy): a
 * Message object (deferred) or, with "stream": true, Anthropic's events.
 * *model is set to the configured name served (for the access log; it
 * points into the config). */
cs_serve_fn cs_anthropic_messages;

/*
 * Translate root (a Messages request, a JSON object; borrowed, not
 * changed) into a new native request object *out, the caller's
 * (json_object_put()); *stream is set from "stream" (0 when absent).
 * CS_OK; CS_EBADINPUT with err filled (CS_FAIL_INVALID and a message
 * naming the field by its index path, e.g. "messages[1].content[0].type:
 * ..."), or CS_ENOMEM; *out is then NULL.  What the native parser checks
 * (the model, the lengths, the tool names) is left to it.
 */
enum cs_err cs_anthropic_translate(struct json_object *root,
    struct json_object **out, int *stream, struct cs_reqerr *err);

#endif
