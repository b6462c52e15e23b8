/*
 * providers/build.h — helpers for building a provider's upstream request
 * (struct cs_provider's build), shared so that each provider file writes
 * only its own wire format: the HTTP request it asks for, the JSON body's
 * finishing touches, the parts several formats spell alike.
 *
 * Nothing here keeps a pointer into the chat request but the counted
 * references to parts of req->tools that cs_build_tools() adds to the
 * body (request.h allows them); every json_object returned is a new
 * reference the caller owns (or adds to its body).
 */
#ifndef CS_BUILD_H
#define CS_BUILD_H

#include <stddef.h>

#include "buf.h"
#include "cs.h"

struct curl_slist;
struct cs_chat_request;
struct cs_message;
struct json_object;

/* The upstream HTTP request an adapter asks for.  Owned by the caller;
 * release with cs_http_request_free(). */
struct cs_http_request {
	struct cs_buf url;
	struct cs_buf body;
	struct curl_slist *headers;
};

void cs_http_request_init(struct cs_http_request *hr);
/* Frees hr's parts, wiping the headers (they hold the key). */
void cs_http_request_free(struct cs_http_request *hr);
/* Append one "Name: value" header to hr. */
enum cs_err cs_http_add_header(struct cs_http_request *hr, const char *h);
/* Finish a JSON request: body serialized into hr->body, Content-Type,
 * Accept, and when key is non-NULL the header key_header+key (e.g.
 * "Authorization: Bearer "); the scratch copy of the key is wiped. */
enum cs_err
cs_http_json_request(struct cs_http_request *hr, struct json_object *body,
    const char *accept, const char *key_header, const char *key);

/*
 * How a wire format spells tool_choice: the client's "auto", "none" and
 * "required" become "auto", "none" and required_word — bare strings, or
 * {"type": word} when wrapped — and a named function becomes
 * {"type": named_type, "name": NAME}, or with named_in
 * {"type": named_type, named_in: {"name": NAME}}.
 */
struct cs_tool_choice_shape {
	const char *required_word;
	int wrapped;
	const char *named_type;
	const char *named_in; /* NULL: the name at the top */
};

/* req's tool_choice in shape sh; NULL when it is unset or out of memory
 * (callers ask only when it is set). */
struct json_object *cs_build_tool_choice(
    const struct cs_chat_request *req, const struct cs_tool_choice_shape *sh);

/*
 * How a wire format spells the tools array, from req->tools (request.h:
 * each {"type":"function","function":{...}}).  With verbatim, the
 * request's array as it is (the format's own shape).  Otherwise each tool
 * is {"type": type} (no "type" when type is NULL) with its function's
 * "name", "description", "parameters" and, with strict, "strict", in that
 * order and each when the tool has it: at the top, or with nested_in in
 * {nested_in: {...}}.  "parameters" is spelt params_key (NULL: as is);
 * with params_default a tool without them gets {"type":"object",
 * "properties":{}}.  The tool_choice follows, in shape choice, when the
 * request sets one; choice NULL: the format has none.
 */
struct cs_tools_shape {
	int verbatim;
	const char *type;
	const char *nested_in; /* NULL: the members at the top */
	const char *params_key;
	int params_default;
	int strict;
	const struct cs_tool_choice_shape *choice;
};

/* req's tools added to root as "tools" in shape sh, then its
 * "tool_choice"; nothing when req has no tools.  CS_ENOMEM (root may then
 * hold part of them: the caller puts root). */
enum cs_err cs_build_tools(struct json_object *root,
    const struct cs_chat_request *req, const struct cs_tools_shape *sh);

/*
 * How a wire format spells an assistant message's tool calls: one object
 * per call, {"type": type, id_key: ID, "name": NAME, args_key: ARGS}, or
 * with nested_in {id_key: ID, "type": type, nested_in: {"name": NAME,
 * args_key: ARGS}} (the id first, as OpenAI has it); "type" is left out
 * when type is NULL, the id when id_key is.  ARGS is the client's text,
 * or with args_object that text parsed: the value if it is one JSON object
 * and nothing else, else {}.
 */
struct cs_tool_calls_shape {
	const char *type;
	const char *id_key;
	const char *nested_in; /* NULL: name and arguments at the top */
	const char *args_key;
	int args_object;
};

/* msg's tool calls in shape sh appended to arr (a JSON array), one object
 * each.  CS_ENOMEM (arr may then hold some of them: the caller puts it,
 * or what holds it). */
enum cs_err cs_build_tool_calls(struct json_object *arr,
    const struct cs_message *msg, const struct cs_tool_calls_shape *sh);

/*
 * How a format of the OpenAI chat family (Chat Completions, Ollama's
 * /api/chat) spells its body's messages: one {"role", "content",
 * "tool_calls"?, "tool_call_id"?} each, in that order.  The role is
 * cs_role_name()'s, but a client's "developer" message stays one where
 * the upstream knows the role; with null_content an assistant message
 * that only calls tools has "content": null; the tool calls are spelt
 * calls; with tool_call_id a tool result names its call.
 */
struct cs_chat_shape {
	int null_content;
	const struct cs_tool_calls_shape *calls;
	int tool_call_id;
};

/* A new body {"model": req's wire name, "messages": [...]} in shape sh
 * into *out, which the caller owns (json_object_put()); developer: the
 * upstream knows the "developer" role.  CS_ENOMEM, *out then NULL. */
enum cs_err cs_build_chat_body(const struct cs_chat_request *req,
    const struct cs_chat_shape *sh, int developer, struct json_object **out);

/*
 * The contents of req's system messages appended to out, a blank line
 * between two; *n gets how many there were.  The blank line is left out
 * while out is still empty, unless blank_after_empty (an empty first
 * message then still counts as a part).
 */
enum cs_err cs_build_join_system(const struct cs_chat_request *req,
    struct cs_buf *out, int blank_after_empty, size_t *n);

/* req's temperature and max_tokens (the latter as max_key) added to o,
 * each when the request has it. */
void cs_build_sampling(struct json_object *o, const struct cs_chat_request *req,
    const char *max_key);

/* req's stop sequences (request.h: an array) added to o as key, when the
 * request has them. */
void cs_build_stop(
    struct json_object *o, const struct cs_chat_request *req, const char *key);

/* The index of the first byte of s (len bytes) at or after i that is not
 * JSON whitespace. */
size_t cs_json_ws_end(const char *s, size_t i, size_t len);

#endif
