/*
 * providers/openai_stream.h — what openai_chat.c shares with the other
 * OpenAI wire formats: the streaming-chunk parser (SSE "data: {chunk}"
 * events, choices[0].delta or choices[0].text, finish reason, usage
 * chunk, in-band errors, [DONE]) that the legacy Completions and Azure
 * OpenAI adapters reuse, and the Chat Completions request Azure OpenAI
 * sends to its own URL.  The parser has the contract of the adapter_*
 * members of struct cs_provider.
 */
#ifndef CS_OPENAI_STREAM_H
#define CS_OPENAI_STREAM_H

#include "provider.h"

/* OpenAI's own API, the default of its wire formats. */
#define CS_OPENAI_BASE_URL "https://api.openai.com/v1"

struct cs_adapter *cs_openai_stream_new(cs_emit_fn emit, void *ctx);
enum cs_err cs_openai_stream_feed(struct cs_adapter *a, const char *buf,
    size_t len);
enum cs_err cs_openai_stream_end(struct cs_adapter *a);
void cs_openai_stream_free(struct cs_adapter *a);

/* The Chat Completions request for the URL already in hr->url, the key
 * sent as auth_header+key (cs_http_json_request()). */
enum cs_err cs_openai_chat_request(const struct cs_upstream_cfg *up,
    const struct cs_chat_request *req, struct cs_http_request *hr,
    const char *auth_header);

#endif
