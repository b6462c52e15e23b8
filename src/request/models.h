/*
 * models.h — the configured models, answered in two shapes from one
 * builder: GET /api/models (the native list: each model's description,
 * cap and instructions policy, the default, the body limit) and GET
 * …/v1/models and …/v1/models/{id} (OpenAI's list and model object: the
 * names, nothing else).  Handlers of the route table (routes.h).
 */
#ifndef CS_MODELS_H
#define CS_MODELS_H

#include "routes.h"

/* GET /api/models. */
cs_serve_fn cs_models_native;

/* GET …/v1/models. */
cs_serve_fn cs_models_openai;

/* GET …/v1/models/{id}: rq->param is the raw, still %-encoded id; the
 * model object, or OpenAI's 404 model_not_found. */
cs_serve_fn cs_models_openai_one;

#endif
