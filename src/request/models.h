/*
 * models.h — the configured models, answered in two shapes from one
 * builder: GET /api/models (the native list: each model's description,
 * cap and instructions policy, the default, the body limit) and GET
 * …/v1/models and …/v1/models/{id} (OpenAI's list and model object: the
 * names, nothing else).  Handlers of the route table (routes.h).
 */
#ifndef CS_MODELS_H
#define CS_MODELS_H

struct cs_buf;
struct cs_reqctx;
struct cs_stream;
struct cs_worker;

/* GET /api/models. */
void cs_models_native(struct cs_worker *w, const struct cs_reqctx *rq,
    struct cs_stream *s, const struct cs_buf *body, const char **model);

/* GET …/v1/models. */
void cs_models_openai(struct cs_worker *w, const struct cs_reqctx *rq,
    struct cs_stream *s, const struct cs_buf *body, const char **model);

/* GET …/v1/models/{id}: rq->param is the raw, still %-encoded id; the
 * model object, or OpenAI's 404 model_not_found. */
void cs_models_openai_one(struct cs_worker *w, const struct cs_reqctx *rq,
    struct cs_stream *s, const struct cs_buf *body, const char **model);

#endif
