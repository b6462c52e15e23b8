/*
 * openai_api.h — the OpenAI-compatible API under …/v1: Chat Completions
 * and the model list, so OpenAI clients work unchanged against
 * chatstream with the server's key, aliases and caps (docs/protocol.md
 * "OpenAI-compatible API: /api/v1").
 */
#ifndef CS_OPENAI_API_H
#define CS_OPENAI_API_H

struct cs_worker;
struct cs_conn;
struct cs_stream;

/* POST …/v1/chat/completions.  *model is set to the configured name
 * served (for the access log; it points into the config). */
void cs_openai_chat(struct cs_worker *w, struct cs_conn *c,
    struct cs_stream *s, const char **model);

/* GET …/v1/models: the configured model names, nothing else. */
void cs_openai_models(struct cs_worker *w, struct cs_conn *c,
    struct cs_stream *s);

#endif
