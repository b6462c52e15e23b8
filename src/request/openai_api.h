/*
 * openai_api.h — the OpenAI-compatible API under …/v1: Chat Completions,
 * the model list and each model, so OpenAI clients work unchanged against
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

/* GET (or HEAD) …/v1/models: the configured model names, nothing else;
 * with id (the raw, still %-encoded path after …/v1/models/, borrowed) the
 * one model object, or OpenAI's 404 model_not_found. */
void cs_openai_models(struct cs_worker *w, struct cs_conn *c,
    struct cs_stream *s, const char *id);

/* Any other path under …/v1: 404 in OpenAI's error shape, naming the
 * method and path (without query; borrowed, may be NULL). */
void cs_openai_not_found(struct cs_conn *c, struct cs_stream *s,
    const char *path);

#endif
