/*
 * providers/openai_stream.h — the OpenAI streaming-chunk parser shared by
 * the Chat Completions and legacy Completions adapters (defined in
 * openai_chat.c): SSE "data: {chunk}" events, choices[0].delta or
 * choices[0].text, finish reason, usage chunk, in-band errors, [DONE].
 * Same contract as the adapter_* members of struct cs_provider.
 */
#ifndef CS_OPENAI_STREAM_H
#define CS_OPENAI_STREAM_H

#include "provider.h"

struct cs_adapter *cs_openai_stream_new(cs_emit_fn emit, void *ctx);
enum cs_err cs_openai_stream_feed(struct cs_adapter *a, const char *buf,
    size_t len);
enum cs_err cs_openai_stream_end(struct cs_adapter *a);
void cs_openai_stream_free(struct cs_adapter *a);

#endif
