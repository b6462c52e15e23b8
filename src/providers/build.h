/*
 * providers/build.h — helpers for building a provider's upstream request
 * (struct cs_provider's build), shared so that each provider file writes
 * only its own wire format: the HTTP request it asks for, the JSON body's
 * finishing touches, the parts several formats spell alike.
 *
 * Nothing here keeps a reference to the chat request; every json_object
 * returned is a new reference the caller owns (or adds to its body).
 */
#ifndef CS_BUILD_H
#define CS_BUILD_H

#include <stddef.h>

#include "buf.h"
#include "cs.h"

struct curl_slist;
struct cs_chat_request;
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

/*
 * Tool-call arguments (JSON text from the client, len bytes) as a new
 * JSON object for the providers that want an object rather than text: the
 * parsed value if it is one object and nothing else, else an empty
 * object.  NULL only when out of memory.  Shared by anthropic and ollama.
 */
struct json_object *cs_json_args_object(const char *s, size_t len);

/* The index of the first byte of s (len bytes) at or after i that is not
 * JSON whitespace. */
size_t cs_json_ws_end(const char *s, size_t i, size_t len);

#endif
