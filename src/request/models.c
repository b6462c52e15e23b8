/* models.c — the model list in its two shapes; see models.h. */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <json-c/json.h>

#include "config.h"
#include "models.h"
#include "provider.h"
#include "query.h"
#include "reqctx.h"
#include "request.h"
#include "stream.h"
#include "worker.h"

enum shape {
	NATIVE,
	OPENAI
};

/* One model object; OpenAI's has the id and nothing chatstream adds. */
static struct json_object *
model_object(
    const struct cs_config *cfg, const struct cs_model_cfg *mc, enum shape sh)
{
	struct json_object *m;

	if ((m = json_object_new_object()) == NULL)
		return NULL;
	json_object_object_add(m, "id", json_object_new_string(mc->name));
	json_object_object_add(m, "object", json_object_new_string("model"));
	if (sh == OPENAI)
		json_object_object_add(m, "created", json_object_new_int(0));
	json_object_object_add(m, "owned_by",
	    json_object_new_string(
	        sh == NATIVE && mc->up->provider_eff->source != NULL ?
	            mc->up->provider_eff->name :
	            "chatstream"));
	if (sh == OPENAI)
		return m;
	if (mc->description[0] != '\0')
		json_object_object_add(
		    m, "description", json_object_new_string(mc->description));
	if (mc->max_tokens > 0)
		json_object_object_add(
		    m, "max_tokens", json_object_new_int64(mc->max_tokens));
	json_object_object_add(m, "instructions_allowed",
	    json_object_new_boolean(cs_model_client_instructions(cfg, mc)));
	return m;
}

/* {"object":"list","data":[...]}, and for the native shape what a client
 * needs to build a request: the default model, its instructions policy,
 * whether tools are accepted, the body limit.  NULL: out of memory. */
static struct json_object *
model_list(const struct cs_config *cfg, enum shape sh)
{
	const struct cs_model_cfg *def = cs_config_model(cfg, NULL);
	struct json_object *root, *data, *m;
	size_t i;

	root = json_object_new_object();
	data = json_object_new_array();
	if (root == NULL || data == NULL) {
		json_object_put(root);
		json_object_put(data);
		return NULL;
	}
	json_object_object_add(root, "object", json_object_new_string("list"));
	json_object_object_add(root, "data", data);
	for (i = 0; i < cfg->n_models; i++) {
		if ((m = model_object(cfg, &cfg->models[i], sh)) == NULL)
			break;
		json_object_array_add(data, m);
	}
	if (sh == OPENAI)
		return root;
	json_object_object_add(
	    root, "default", json_object_new_string(def->name));
	/* The default model's; each entry has its own. */
	json_object_object_add(root, "instructions_allowed",
	    json_object_new_boolean(cs_model_client_instructions(cfg, def)));
	json_object_object_add(
	    root, "tools_allowed", json_object_new_boolean(cfg->client_tools));
	/* So a client can trim long histories to what will be accepted. */
	json_object_object_add(root, "max_body_bytes",
	    json_object_new_int64((int64_t)cfg->max_body_bytes));
	return root;
}

/* Send obj (owned, freed here; NULL = out of memory) as a 200 JSON answer. */
static void
reply_json(struct cs_stream *s, struct json_object *obj)
{
	const char *body;

	if (obj == NULL) {
		cs_stream_fail(s, CS_FAIL_INTERNAL, "out of memory");
		return;
	}
	body = json_object_to_json_string_ext(
	    obj, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
	cs_stream_reply(s, 200, "application/json", body, strlen(body));
	json_object_put(obj);
}

void
cs_models_native(struct cs_worker *w, const struct cs_reqctx *rq,
    struct cs_stream *s, const struct cs_buf *body, const char **model)
{
	(void)rq, (void)body, (void)model;
	reply_json(s, model_list(w->cfg, NATIVE));
}

void
cs_models_openai(struct cs_worker *w, const struct cs_reqctx *rq,
    struct cs_stream *s, const struct cs_buf *body, const char **model)
{
	(void)rq, (void)body, (void)model;
	reply_json(s, model_list(w->cfg, OPENAI));
}

/* The id is %-decoded; a bad escape, a NUL or a name too long names no
 * model. */
void
cs_models_openai_one(struct cs_worker *w, const struct cs_reqctx *rq,
    struct cs_stream *s, const struct cs_buf *body, const char **model)
{
	const struct cs_model_cfg *mc = NULL;
	struct cs_buf name;
	char echo[CS_ECHO_MAX + 4], msg[192];

	(void)body, (void)model;
	cs_buf_init(&name, CS_MAX_NAME);
	if (cs_path_decode(rq->param, strlen(rq->param), &name) == CS_OK &&
	    name.len > 0 && strlen(name.data) == name.len)
		mc = cs_config_model(w->cfg, name.data);
	if (mc != NULL)
		reply_json(s, model_object(w->cfg, mc, OPENAI));
	else {
		if (name.len > 0)
			snprintf(msg, sizeof(msg),
			    "The model `%s` does not "
			    "exist or you do not have access to it.",
			    cs_echo(echo, name.data, name.len));
		else
			snprintf(msg, sizeof(msg),
			    "The model does not exist "
			    "or you do not have access to it.");
		cs_stream_fail(s, CS_FAIL_MODEL_NOT_FOUND, msg);
	}
	cs_buf_free(&name);
}
