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

/* OpenAI's own API, the default of its wire formats. */
#define CS_OPENAI_BASE_URL "https://api.openai.com/v1"

/* The chunk parser, for cs_sse_adapter (adapter.h). */
extern const struct cs_sse_format cs_openai_sse;

/* The Chat Completions request for the URL already in hr->url, the key
 * sent as auth_header+key (cs_http_json_request()). */
enum cs_err cs_openai_chat_request(const struct cs_upstream_cfg *up,
    const struct cs_chat_request *req, struct cs_http_request *hr,
    const char *auth_header);

#endif
