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
 *  - everything else that request.c does not know (top_p,
 *    logprobs: true, ...) is refused with 400, as OpenAI
 *    refuses unknown parameters: a client must not believe an option took
 *    effect when it did not.
 * A body that is not strict JSON (json_strict.h) goes to
 * cs_request_parse() unchanged, which says precisely what is wrong with it.
 *
 * The model list and GET …/v1/models/{id} are models.c's; every other
 * path under …/v1 is a 404 in OpenAI's error shape, so an OpenAI client
 * never has to read the native one.  The route table (routes.h) checks
 * the method and reads the body.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <json-c/json.h>

#include "buf.h"
#include "chat.h"
#include "config.h"
#include "json_strict.h"
#include "openai_api.h"
#include "reqctx.h"
#include "request.h"
#include "stream.h"
#include "worker.h"

#define OAI_ECHO_MAX 64

static const char *const ignored_fields[] = {
	"store",
	"metadata",
	"service_tier",
	"parallel_tool_calls",
	"seed",
	"prompt_cache_key",
	"safety_identifier",
};

struct oai_opts {
	int stream;
	int include_usage;
};

/* Every pre-pass step returns CS_OK or, once the refusal is written to s,
 * CS_EHANDLED. */
static enum cs_err
bad(struct cs_stream *s, enum cs_fail f, const char *msg)
{
	cs_stream_fail(s, f, msg);
	return CS_EHANDLED;
}

/* A field that must be a boolean if present (null = absent); removed. */
static enum cs_err
take_bool(struct cs_stream *s, struct json_object *o, const char *key, int *val)
{
	struct json_object *v;
	char msg[96];

	if (!json_object_object_get_ex(o, key, &v))
		return CS_OK;
	if (v != NULL && !json_object_is_type(v, json_type_boolean)) {
		snprintf(msg, sizeof(msg), "%s: must be a boolean", key);
		return bad(s, CS_FAIL_INVALID, msg);
	}
	if (v != NULL)
		*val = json_object_get_boolean(v);
	json_object_object_del(o, key);
	return CS_OK;
}

static enum cs_err
take_stream_options(
    struct cs_stream *s, struct json_object *root, struct oai_opts *opts)
{
	struct json_object *so;
	int ignored = 0;

	if (!json_object_object_get_ex(root, "stream_options", &so))
		return CS_OK;
	if (so != NULL && !json_object_is_type(so, json_type_object))
		return bad(
		    s, CS_FAIL_INVALID, "stream_options: must be an object");
	if (so != NULL &&
	    (take_bool(s, so, "include_usage", &opts->include_usage) != 0 ||
	        take_bool(s, so, "include_obfuscation", &ignored) != 0))
		return CS_EHANDLED;
	if (so != NULL && json_object_object_length(so) > 0)
		return bad(s, CS_FAIL_INVALID,
		    "stream_options: only "
		    "include_usage and include_obfuscation are accepted");
	json_object_object_del(root, "stream_options");
	return CS_OK;
}

/* max_completion_tokens becomes max_tokens, which request.c checks. */
static enum cs_err
take_max_completion_tokens(struct cs_stream *s, struct json_object *root)
{
	struct json_object *v, *old;

	if (!json_object_object_get_ex(root, "max_completion_tokens", &v))
		return CS_OK;
	if (v != NULL && json_object_object_get_ex(root, "max_tokens", &old) &&
	    old != NULL)
		return bad(s, CS_FAIL_INVALID,
		    "max_completion_tokens: "
		    "send it or max_tokens, not both");
	if (v != NULL)
		json_object_object_add(root, "max_tokens", json_object_get(v));
	json_object_object_del(root, "max_completion_tokens");
	return CS_OK;
}

static int
printable(const char *p, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (p[i] < 0x20 || p[i] > 0x7e)
			return CS_OK;
	return 1;
}

enum cs_err
cs_v1_check_model(
    const struct cs_config *cfg, struct cs_stream *s, struct json_object *root)
{
	struct json_object *v;
	const char *name;
	size_t n;
	char msg[192];

	if (!json_object_object_get_ex(root, "model", &v) ||
	    !json_object_is_type(v, json_type_string))
		return CS_OK; /* absent or not a string: request.c says so */
	name = json_object_get_string(v);
	n = (size_t)json_object_get_string_len(v);
	if (n == 0 || cs_config_model(cfg, name) != NULL)
		return CS_OK;
	if (n <= OAI_ECHO_MAX && printable(name, n))
		snprintf(msg, sizeof(msg),
		    "The model `%s` does not exist on "
		    "this server (GET /api/v1/models lists them)",
		    name);
	else
		snprintf(msg, sizeof(msg),
		    "The model does not exist on this "
		    "server (GET /api/v1/models lists them)");
	return bad(s, CS_FAIL_MODEL_NOT_FOUND, msg);
}

static enum cs_err
drop_ignored(struct cs_stream *s, struct json_object *root)
{
	int logprobs = 0;
	size_t i;

	if (take_bool(s, root, "logprobs", &logprobs) != 0)
		return CS_EHANDLED;
	if (logprobs)
		return bad(s, CS_FAIL_INVALID,
		    "logprobs: not "
		    "available on this server");
	for (i = 0; i < CS_ARRAY_LEN(ignored_fields); i++)
		json_object_object_del(root, ignored_fields[i]);
	return CS_OK;
}

/* Read and remove the OpenAI-only fields of root. */
static enum cs_err
prepass(const struct cs_config *cfg, struct cs_stream *s,
    struct json_object *root, struct oai_opts *o)
{
	if (take_bool(s, root, "stream", &o->stream) != 0 ||
	    take_stream_options(s, root, o) != 0 ||
	    take_max_completion_tokens(s, root) != 0 ||
	    drop_ignored(s, root) != 0 || cs_v1_check_model(cfg, s, root) != 0)
		return CS_EHANDLED;
	return CS_OK;
}

/* Validate, pick the protocol and stream the answer. */
static void
run(struct cs_worker *w, struct cs_stream *s, const char *body, size_t len,
    const char **model)
{
	struct json_object *root = cs_json_strict_object(body, len);
	struct cs_chat_request *req = NULL;
	struct oai_opts opts = { 0, 0 };

	if (root != NULL && prepass(w->cfg, s, root, &opts) != CS_OK)
		goto out;
	if (root != NULL) {
		body = json_object_to_json_string_ext(
		    root, JSON_C_TO_STRING_PLAIN);
		len = strlen(body);
	}
	if (cs_chat_parse(w->cfg, s, body, len, &req) != CS_OK)
		goto out;
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
cs_openai_chat(struct cs_worker *w, const struct cs_reqctx *rq,
    struct cs_stream *s, const struct cs_buf *body, const char **model)
{
	(void)rq;
	run(w, s, body->data ? body->data : "", body->len, model);
}

void
cs_openai_not_found(struct cs_worker *w, const struct cs_reqctx *rq,
    struct cs_stream *s, const struct cs_buf *body, const char **model)
{
	const char *method = rq->method, *path = rq->path;
	char em[CS_ECHO_MAX + 4], ep[CS_ECHO_MAX + 4], msg[256];

	(void)w, (void)body, (void)model;
	if (path == NULL)
		path = "";
	snprintf(msg, sizeof(msg),
	    "Unknown request URL: %s %s (GET "
	    "/api/openapi.json lists the endpoints)",
	    cs_echo(em, method, strlen(method)),
	    cs_echo(ep, path, strcspn(path, "?#")));
	bad(s, CS_FAIL_NOT_FOUND, msg);
}
