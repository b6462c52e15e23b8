/*
 * providers/openai_stream.h — what openai_chat.c shares with the other
 * OpenAI wire formats: the streaming-chunk parser (SSE "data: {chunk}"
 * events, choices[0].delta or choices[0].text, finish reason, usage
 * chunk, in-band errors, [DONE]) that the legacy Completions and Azure
 * OpenAI adapters reuse, and the Chat Completions request Azure OpenAI
 * sends to its own URL.
 */
#ifndef CS_OPENAI_STREAM_H
#define CS_OPENAI_STREAM_H

#include "provider.h"

/* OpenAI's own API, what its wire formats' descriptors assume. */
#define CS_OPENAI_AUTH_HEADER "Authorization: Bearer "
#define CS_OPENAI_DEFAULTS \
	.base_url = "https://api.openai.com/v1", \
	.base_url_env = "OPENAI_BASE_URL", .key_env = "OPENAI_API_KEY", \
	.auth_header = CS_OPENAI_AUTH_HEADER

/* The chunk parser, for cs_sse_adapter (adapter.h). */
extern const struct cs_sse_format cs_openai_sse;

/* stream:true with the usage chunk asked for, temperature and
 * max_tokens: what the Chat and legacy Completions bodies share. */
enum cs_err cs_openai_stream_options(
    struct json_object *root, const struct cs_chat_request *req);

/* The Chat Completions request for the URL already in hr->url, the key
 * sent as auth_header+key (cs_http_json_request()). */
enum cs_err cs_openai_chat_request(const struct cs_upstream_cfg *up,
    const struct cs_chat_request *req, struct cs_http_request *hr,
    const char *auth_header);

#endif
