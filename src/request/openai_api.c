/*
 * openai_api.c — the OpenAI-compatible API; see openai_api.h.
 *
 * A Chat Completions body is nearly chatstream's native request, so a
 * small pre-pass reads what only OpenAI has and removes it, then the rest
 * goes through cs_request_parse() with all its checks and limits:
 *  - stream (boolean): true streams chunks, false or absent answers with
 *    one chat.completion object (deferred: nothing is sent before the end);
 *  - stream_options ({"include_usage": bool, "include_obfuscation": bool},
 *    the latter ignored): include_usage adds the usage chunk;
 *  - max_completion_tokens: another name for max_tokens (not both);
 *  - store, metadata, service_tier, parallel_tool_calls, seed,
 *    prompt_cache_key, safety_identifier and a false logprobs: accepted
 *    and ignored, as none of them changes what the answer is;
 *  - an unknown model is 404 model_not_found, as at OpenAI;
 *  - everything else that request.c does not know (top_p, stop,
 *    response_format, logprobs: true, ...) is refused with 400, as OpenAI
 *    refuses unknown parameters: a client must not believe an option took
 *    effect when it did not.
 * A body that is not strict JSON (json_strict.h) goes to
 * cs_request_parse() unchanged, which says precisely what is wrong with it.
 *
 * GET …/v1/models/{id} (openai models.retrieve) answers one entry of the
 * list; every other path under …/v1 is a 404 in OpenAI's error shape, so
 * an OpenAI client never has to read the native one.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <json-c/json.h>

#include "chat.h"
#include "config.h"
#include "fcgi_out.h"
#include "json_strict.h"
#include "openai_api.h"
#include "provider.h"
#include "query.h"
#include "request.h"
#include "stream.h"
#include "upstream.h"
#include "worker.h"

#define OAI_ECHO_MAX    64

static const char *const ignored_fields[] = {
	"store", "metadata", "service_tier", "parallel_tool_calls", "seed",
	"prompt_cache_key", "safety_identifier",
};

struct oai_opts {
	int stream;
	int include_usage;
};

static int
bad(struct cs_stream *s, enum cs_fail f, const char *msg)
{
	cs_stream_fail(s, f, msg);
	return -1;
}

/* A field that must be a boolean if present (null = absent); removed. */
static int
take_bool(struct cs_stream *s, struct json_object *o, const char *key,
    int *val)
{
	struct json_object *v;
	char msg[96];

	if (!json_object_object_get_ex(o, key, &v))
		return 0;
	if (v != NULL && !json_object_is_type(v, json_type_boolean)) {
		snprintf(msg, sizeof(msg), "%s: must be a boolean", key);
		return bad(s, CS_FAIL_INVALID, msg);
	}
	if (v != NULL)
		*val = json_object_get_boolean(v);
	json_object_object_del(o, key);
	return 0;
}

static int
take_stream_options(struct cs_stream *s, struct json_object *root,
    struct oai_opts *opts)
{
	struct json_object *so;
	int ignored = 0;

	if (!json_object_object_get_ex(root, "stream_options", &so))
		return 0;
	if (so != NULL && !json_object_is_type(so, json_type_object))
		return bad(s, CS_FAIL_INVALID,
		    "stream_options: must be an object");
	if (so != NULL && (take_bool(s, so, "include_usage",
	    &opts->include_usage) != 0 || take_bool(s, so,
	    "include_obfuscation", &ignored) != 0))
		return -1;
	if (so != NULL && json_object_object_length(so) > 0)
		return bad(s, CS_FAIL_INVALID, "stream_options: only "
		    "include_usage and include_obfuscation are accepted");
	json_object_object_del(root, "stream_options");
	return 0;
}

/* max_completion_tokens becomes max_tokens, which request.c checks. */
static int
take_max_completion_tokens(struct cs_stream *s, struct json_object *root)
{
	struct json_object *v, *old;

	if (!json_object_object_get_ex(root, "max_completion_tokens", &v))
		return 0;
	if (v != NULL && json_object_object_get_ex(root, "max_tokens", &old)
	    && old != NULL)
		return bad(s, CS_FAIL_INVALID, "max_completion_tokens: "
		    "send it or max_tokens, not both");
	if (v != NULL)
		json_object_object_add(root, "max_tokens", json_object_get(v));
	json_object_object_del(root, "max_completion_tokens");
	return 0;
}

static int
printable(const char *p, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (p[i] < 0x20 || p[i] > 0x7e)
			return 0;
	return 1;
}

/* An unknown model is OpenAI's 404 model_not_found. */
static int
check_model(const struct cs_config *cfg, struct cs_stream *s,
    struct json_object *root)
{
	struct json_object *v;
	const char *name;
	size_t n;
	char msg[192];

	if (!json_object_object_get_ex(root, "model", &v) ||
	    !json_object_is_type(v, json_type_string))
		return 0;   /* absent or not a string: request.c says so */
	name = json_object_get_string(v);
	n = (size_t)json_object_get_string_len(v);
	if (n == 0 || cs_config_model(cfg, name) != NULL)
		return 0;
	if (n <= OAI_ECHO_MAX && printable(name, n))
		snprintf(msg, sizeof(msg), "The model `%s` does not exist on "
		    "this server (GET /api/v1/models lists them)", name);
	else
		snprintf(msg, sizeof(msg), "The model does not exist on this "
		    "server (GET /api/v1/models lists them)");
	return bad(s, CS_FAIL_MODEL_NOT_FOUND, msg);
}

static int
drop_ignored(struct cs_stream *s, struct json_object *root)
{
	int logprobs = 0;
	size_t i;

	if (take_bool(s, root, "logprobs", &logprobs) != 0)
		return -1;
	if (logprobs)
		return bad(s, CS_FAIL_INVALID, "logprobs: not "
		    "available on this server");
	for (i = 0; i < CS_ARRAY_LEN(ignored_fields); i++)
		json_object_object_del(root, ignored_fields[i]);
	return 0;
}

/* Read and remove the OpenAI-only fields of root; -1 after a failure. */
static int
prepass(const struct cs_config *cfg, struct cs_stream *s,
    struct json_object *root, struct oai_opts *o)
{
	if (take_bool(s, root, "stream", &o->stream) != 0 ||
	    take_stream_options(s, root, o) != 0 ||
	    take_max_completion_tokens(s, root) != 0 ||
	    drop_ignored(s, root) != 0 ||
	    check_model(cfg, s, root) != 0)
		return -1;
	return 0;
}

/* Validate, pick the protocol and stream the answer. */
static void
run(struct cs_worker *w, struct cs_stream *s, const char *body, size_t len,
    const char **model)
{
	struct json_object *root = cs_json_strict_object(body, len);
	struct cs_chat_request *req = NULL;
	struct oai_opts opts = { 0, 0 };
	struct cs_reqerr rerr;
	enum cs_err r;

	memset(&rerr, 0, sizeof(rerr));
	if (root != NULL && prepass(w->cfg, s, root, &opts) != 0)
		goto out;
	if (root != NULL) {
		body = json_object_to_json_string_ext(root,
		    JSON_C_TO_STRING_PLAIN);
		len = strlen(body);
	}
	r = cs_request_parse(w->cfg, body, len, &req, &rerr);
	if (r != CS_OK) {
		bad(s, r == CS_ENOMEM || r == CS_ECONFIG ? CS_FAIL_INTERNAL :
		    rerr.fail, rerr.message[0] ? rerr.message :
		    "out of memory");
		goto out;
	}
	*model = req->model->name;
	cs_stream_set_model(s, *model);
	if (opts.stream)
		cs_stream_use(s, &cs_encoder_openai);
	if (opts.stream && opts.include_usage)
		cs_stream_set_flags(s, CS_ENC_INCLUDE_USAGE);
	cs_chat_provider(w, req, s);
out:
	cs_request_free(req);
	json_object_put(root);
}

void
cs_openai_chat(struct cs_worker *w, struct cs_conn *c, struct cs_stream *s,
    const char **model)
{
	const char *method = cs_conn_param(c, "REQUEST_METHOD");
	struct cs_buf body;
	enum cs_err r;
	char msg[96];

	cs_stream_use(s, &cs_encoder_openai_json);
	cs_buf_init(&body, w->cfg->max_body_bytes + CS_BODY_CHUNK);
	r = cs_conn_read_body(c, w->cfg->max_body_bytes, &body);
	if (method == NULL || strcmp(method, "POST") != 0) {
		cs_stream_fail_method(s, "POST", "use POST with a JSON body");
	} else if (r == CS_ECLIENTGONE)
		cs_stream_lost(s);
	else if (r == CS_ETIMEOUT)
		cs_stream_fail(s, CS_FAIL_BODY_TIMEOUT, "the request body did "
		    "not arrive within request_read_timeout_seconds");
	else if (!cs_chat_json_type(cs_conn_param(c, "CONTENT_TYPE")))
		bad(s, CS_FAIL_MEDIA_TYPE, "Content-Type must be "
		    "application/json");
	else if (r == CS_ETOOBIG) {
		snprintf(msg, sizeof(msg), "request body exceeds %zu bytes",
		    w->cfg->max_body_bytes);
		bad(s, CS_FAIL_TOO_LARGE, msg);
	} else if (r != CS_OK)
		bad(s, CS_FAIL_INTERNAL, "out of memory");
	else
		run(w, s, body.data ? body.data : "", body.len, model);
	cs_buf_free(&body);
}

/* One model object, as in the list and from GET …/v1/models/{id}. */
static struct json_object *
model_object(const struct cs_model_cfg *mc)
{
	struct json_object *m;

	if ((m = json_object_new_object()) == NULL)
		return NULL;
	json_object_object_add(m, "id", json_object_new_string(mc->name));
	json_object_object_add(m, "object", json_object_new_string("model"));
	json_object_object_add(m, "created", json_object_new_int(0));
	json_object_object_add(m, "owned_by",
	    json_object_new_string("chatstream"));
	return m;
}

static struct json_object *
model_list(const struct cs_config *cfg)
{
	struct json_object *root, *data, *m;
	size_t i;

	if ((root = json_object_new_object()) == NULL)
		return NULL;
	if ((data = json_object_new_array()) == NULL) {
		json_object_put(root);
		return NULL;
	}
	json_object_object_add(root, "object", json_object_new_string("list"));
	json_object_object_add(root, "data", data);
	for (i = 0; i < cfg->n_models; i++) {
		if ((m = model_object(&cfg->models[i])) == NULL)
			break;
		json_object_array_add(data, m);
	}
	return root;
}

/* Send obj (owned, freed here; NULL = out of memory) as a 200 JSON answer. */
static void
reply_json(struct cs_stream *s, struct json_object *obj)
{
	const char *body;

	if (obj == NULL) {
		bad(s, CS_FAIL_INTERNAL, "out of memory");
		return;
	}
	body = json_object_to_json_string_ext(obj, JSON_C_TO_STRING_PLAIN |
	    JSON_C_TO_STRING_NOSLASHESCAPE);
	cs_stream_reply(s, 200, "application/json", body, strlen(body));
	json_object_put(obj);
}

/*
 * GET …/v1/models/{id}: the model object, or OpenAI's 404.  raw_id is
 * %-decoded; a bad escape, a NUL or a name too long names no model.
 */
static void
serve_model(const struct cs_config *cfg, struct cs_stream *s,
    const char *raw_id)
{
	const struct cs_model_cfg *mc = NULL;
	struct cs_buf name;
	char echo[CS_ECHO_MAX + 4], msg[192];

	cs_buf_init(&name, CS_MAX_NAME);
	if (cs_path_decode(raw_id, strlen(raw_id), &name) == 0 &&
	    name.len > 0 && strlen(name.data) == name.len)
		mc = cs_config_model(cfg, name.data);
	if (mc != NULL)
		reply_json(s, model_object(mc));
	else {
		if (name.len > 0)
			snprintf(msg, sizeof(msg), "The model `%s` does not "
			    "exist or you do not have access to it.",
			    cs_echo(echo, name.data, name.len));
		else
			snprintf(msg, sizeof(msg), "The model does not exist "
			    "or you do not have access to it.");
		bad(s, CS_FAIL_MODEL_NOT_FOUND, msg);
	}
	cs_buf_free(&name);
}

void
cs_openai_models(struct cs_worker *w, struct cs_conn *c,
    struct cs_stream *s, const char *id)
{
	const char *method = cs_conn_param(c, "REQUEST_METHOD");

	cs_stream_use(s, &cs_encoder_openai_json);
	if (method == NULL || (strcmp(method, "GET") != 0 &&
	    !cs_stream_is_head(s))) {
		cs_stream_fail_method(s, "GET, HEAD", "use GET here");
	} else if (id != NULL)
		serve_model(w->cfg, s, id);
	else
		reply_json(s, model_list(w->cfg));
}

void
cs_openai_not_found(struct cs_conn *c, struct cs_stream *s,
    const char *path)
{
	const char *method = cs_conn_param(c, "REQUEST_METHOD");
	char em[CS_ECHO_MAX + 4], ep[CS_ECHO_MAX + 4], msg[256];

	cs_stream_use(s, &cs_encoder_openai_json);
	if (method == NULL)
		method = "";
	if (path == NULL)
		path = "";
	snprintf(msg, sizeof(msg), "Unknown request URL: %s %s (GET "
	    "/api/openapi.json lists the endpoints)",
	    cs_echo(em, method, strlen(method)),
	    cs_echo(ep, path, strcspn(path, "?#")));
	bad(s, CS_FAIL_NOT_FOUND, msg);
}
