/*
 * request.h — parse and validate a POSTed chat request.
 *
 * Body: {"messages":[{"role":"system|user|assistant|tool","content":...}],
 *        "model":"...", "instructions":"...", "temperature":0.7,
 *        "max_tokens":256}
 * content is a string, or an array of {"type":"text","text":"..."} parts
 * (joined); null content is accepted only for assistant messages.
 * Also accepted: "stream" (boolean, ignored), "user" (string, ignored),
 * "n" (must be 1), and on messages "name", "tool_call_id" (kept for tool
 * messages) and "tool_calls" (ignored); any other field is refused.  A
 * JSON null for an optional field means the field is absent.  The full
 * policy is at the top of request.c.
 */
#ifndef CS_REQUEST_H
#define CS_REQUEST_H

#include <stddef.h>

#include "cs.h"
#include "config.h"

enum cs_role { CS_ROLE_SYSTEM, CS_ROLE_USER, CS_ROLE_ASSISTANT, CS_ROLE_TOOL };

const char *cs_role_name(enum cs_role r);

struct cs_message {
	enum cs_role role;
	char  *content;       /* NUL-terminated UTF-8, owned by the request */
	size_t content_len;
	char  *tool_call_id;  /* tool messages: may be NULL */
};

struct cs_chat_request {
	const struct cs_model_cfg *model; /* points into the config */
	struct cs_message *messages;      /* instructions already prepended */
	size_t n_messages;
	int    has_temperature;
	double temperature;               /* 0..2 */
	long   max_tokens;                /* 0 = not set (cap applied) */
};

/* Why a request was refused: HTTP status (400, 413, ...) and a message
 * naming what and where, e.g. "messages[2].role: unknown role \"bot\"". */
struct cs_reqerr {
	int  status;
	char message[256];
};

/*
 * Parse body (len bytes, need not be NUL-terminated).  On success returns
 * CS_OK and *out, which the caller frees with cs_request_free().  On
 * invalid input returns CS_EBADINPUT (or CS_ETOOBIG for size limits,
 * status 413) and fills err; *out is NULL.  CS_ENOMEM on allocation
 * failure, CS_ECONFIG if cfg has no model to default to (both status 500,
 * err filled).  err may be NULL.  Nothing in *out points into body.
 */
enum cs_err cs_request_parse(const struct cs_config *cfg, const char *body,
    size_t len, struct cs_chat_request **out, struct cs_reqerr *err);

/* NULL-safe. */
void cs_request_free(struct cs_chat_request *r);

/* The content of the last user message, or "" if none. */
const char *cs_request_last_user(const struct cs_chat_request *r);

#endif
