/*
 * request.h — parse and validate a POSTed chat request.
 *
 * Body: {"messages":[{"role":"system|developer|user|assistant|tool","content":...}],
 *        "model":"...", "instructions":"...", "temperature":0.7,
 *        "max_tokens":256}
 * content is a string, or an array of {"type":"text","text":"..."} parts
 * (joined); null content is accepted only for assistant messages.
 * "stop" is a string or an array of at most CS_STOP_MAX non-empty strings
 * of at most CS_STOP_BYTES bytes each (normalised to an array); a provider
 * whose API has no stop sequences refuses it (provider.h no_stop).
 * Also accepted: "stream" (boolean, ignored), "user" (string, ignored),
 * "n" (must be 1), "tools" and "tool_choice" (OpenAI Chat Completions
 * shape, kept; refused when the config says client_tools = no), and on
 * messages "name", "tool_call_id" (kept for tool messages) and
 * "tool_calls" (assistant messages only, kept); any other field is
 * refused.  A JSON null for an optional field means the field is absent.
 * The full policy is at the top of request.c.
 */
#ifndef CS_REQUEST_H
#define CS_REQUEST_H

#include <stddef.h>

#include "cs.h"
#include "config.h"
#include "failure.h"

struct json_object;

enum cs_role {
	CS_ROLE_SYSTEM,
	CS_ROLE_USER,
	CS_ROLE_ASSISTANT,
	CS_ROLE_TOOL
};

const char *cs_role_name(enum cs_role r);

/* One tool call an assistant message made; all strings NUL-terminated
 * UTF-8 owned by the request.  arguments is the client's JSON text as
 * given (not checked to be JSON; adapters that need an object parse it). */
struct cs_tool_call {
	char *id;
	char *name; /* 1..64 of [A-Za-z0-9_-] */
	char *arguments;
	size_t arguments_len;
};

struct cs_message {
	enum cs_role role;
	char *content; /* NUL-terminated UTF-8, owned by the request */
	size_t content_len;
	char *tool_call_id;              /* tool messages: may be NULL */
	struct cs_tool_call *tool_calls; /* assistant messages: owned */
	size_t n_tool_calls;             /* 0 = none (tool_calls NULL) */
	int developer; /* a system message the client sent with role
	                         "developer" (OpenAI's newer name for it) */
};

enum cs_tool_choice {
	CS_TOOL_CHOICE_UNSET, /* not sent: provider default */
	CS_TOOL_CHOICE_AUTO,
	CS_TOOL_CHOICE_NONE,
	CS_TOOL_CHOICE_REQUIRED,
	CS_TOOL_CHOICE_NAMED /* tool_choice_name, one of the tools */
};

struct cs_chat_request {
	const struct cs_model_cfg *model; /* points into the config */
	const char *wire_model;      /* the name the provider is sent, set per
	                           deployment (route.h); NULL: the model's */
	struct cs_message *messages; /* instructions already prepended */
	size_t n_messages;
	int has_temperature;
	double temperature; /* 0..2 */
	long max_tokens;    /* 0 = not set (cap applied) */
	/*
	 * Tools, or NULL when none were sent (an empty array counts as
	 * none).  An owned reference to a json-c array (release it with
	 * json_object_put(); cs_request_free() does) built by the parser,
	 * normalised to the OpenAI shape: every element is exactly
	 * {"type":"function","function":{"name":"...","description"?:"...",
	 * "parameters"?:{...},"strict"?:bool}} with validated types and no
	 * other or null fields.  Adapters may take references to parts of it
	 * (json_object_get) but must not modify it.
	 */
	struct json_object *tools;
	size_t n_tools;
	enum cs_tool_choice tool_choice; /* UNSET/AUTO/NONE if tools NULL */
	char *tool_choice_name;          /* NAMED: owned; else NULL */
	/*
	 * Structured output, or NULL for text: an owned json-c object in
	 * OpenAI's Chat Completions shape, {"type":"json_object"} or
	 * {"type":"json_schema","json_schema":{"name":"...",
	 * "description"?:"...","schema"?:{...},"strict"?:bool}}, validated.
	 */
	struct json_object *response_format;
	/* Stop sequences, or NULL for none: an owned json-c array of 1 to
	 * CS_STOP_MAX non-empty strings, validated. */
	struct json_object *stop;
};

#define CS_STOP_MAX   4   /* stop sequences in a request */
#define CS_STOP_BYTES 256 /* bytes in one */

/* Why a request was refused: the failure (CS_FAIL_INVALID, _TOO_LARGE,
 * _INTERNAL; failure.h gives its status) and a message
 * naming what and where, e.g. "messages[2].role: unknown role \"bot\"". */
struct cs_reqerr {
	enum cs_fail fail;
	char message[256];
};

/* v (NULL: absent) as stop sequences for the request field where: a
 * string or an array of strings (request.h "stop").  CS_OK and *out, a new
 * array the caller owns, or NULL for none (absent or []); else err filled
 * and CS_EBADINPUT (CS_ENOMEM), *out NULL. */
enum cs_err cs_request_read_stop(struct json_object *v, const char *where,
    struct json_object **out, struct cs_reqerr *err);

/*
 * Parse body (len bytes, need not be NUL-terminated).  On success returns
 * CS_OK and *out, which the caller frees with cs_request_free().  On
 * invalid input returns CS_EBADINPUT (or CS_ETOOBIG for size limits,
 * CS_FAIL_TOO_LARGE) and fills err; *out is NULL.  CS_ENOMEM on allocation
 * failure, CS_ECONFIG if cfg has no model to default to (both
 * CS_FAIL_INTERNAL, err filled).  err may be NULL.  Nothing in *out points
 * into body.
 */
enum cs_err cs_request_parse(const struct cs_config *cfg, const char *body,
    size_t len, struct cs_chat_request **out, struct cs_reqerr *err);

/*
 * Quote at most CS_ECHO_MAX bytes of a client string for an error message:
 * whole UTF-8 characters only, control bytes, quotes, backslashes and
 * invalid bytes shown as '?', "..." when cut.  dst must hold
 * CS_ECHO_MAX + 4 bytes; returns dst.
 */
#define CS_ECHO_MAX 40
const char *cs_echo(char *dst, const char *s, size_t n);

/* NULL-safe. */
void cs_request_free(struct cs_chat_request *r);

/* The model name to send the provider: wire_model, else the model's. */
const char *cs_request_wire_model(const struct cs_chat_request *r);

/* The content of the last user message, or "" if none. */
const char *cs_request_last_user(const struct cs_chat_request *r);

#endif
