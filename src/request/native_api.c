/* native_api.c — /api/chat; see native_api.h. */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <json-c/json.h>

#include "buf.h"
#include "chat.h"
#include "config.h"
#include "native_api.h"
#include "query.h"
#include "reqctx.h"
#include "request.h"
#include "request_ui.h"
#include "stream.h"
#include "worker.h"

/* Validate the JSON request body (len bytes) and stream the answer. */
static void
run_chat(struct cs_worker *w, struct cs_stream *s, const char *body, size_t len,
    const char **model)
{
	struct cs_chat_request *req = NULL;

	if (cs_chat_parse(w->cfg, s, body, len, &req) != CS_OK)
		return;
	/* *model points into the config, not into req; a prepared run
	 * holds nothing of req. */
	*model = req->model->name;
	cs_chat_provider(w, req, s);
	cs_request_free(req);
}

/*
 * Is this GET allowed to spend the site's tokens?  Browsers mark every
 * request with Sec-Fetch-Site, and cross-origin ones with Origin: a page
 * elsewhere that points an <img> or EventSource here is refused, so a GET
 * endpoint is no way around the same-origin rule that protects POST (whose
 * JSON body needs a CORS preflight).  Clients that are not browsers send
 * neither header and pass, as they could POST anyway.
 */
static int
same_site(const struct cs_reqctx *rq)
{
	const char *o;

	if (rq->fetch_site != NULL &&
	    strcmp(rq->fetch_site, "same-origin") != 0 &&
	    strcmp(rq->fetch_site, "none") != 0)
		return 0;
	if (rq->origin == NULL)
		return 1;
	/* Origin is scheme://host[:port]; compare that part with Host. */
	if ((o = strstr(rq->origin, "://")) == NULL || rq->host == NULL)
		return 0;
	return strcasecmp(o + 3, rq->host) == 0;
}

/* The JSON a POST would carry for one user message prompt, and model
 * when given (owned by the caller); NULL: out of memory. */
static struct json_object *
get_request(const struct cs_buf *prompt, const struct cs_buf *name)
{
	struct json_object *root, *msgs, *m;

	if ((root = json_object_new_object()) == NULL)
		return NULL;
	if ((msgs = json_object_new_array()) == NULL) {
		json_object_put(root);
		return NULL;
	}
	json_object_object_add(root, "messages", msgs);
	if ((m = json_object_new_object()) == NULL) {
		json_object_put(root);
		return NULL;
	}
	json_object_array_add(msgs, m);
	json_object_object_add(m, "role", json_object_new_string("user"));
	json_object_object_add(m, "content",
	    json_object_new_string_len(prompt->data, (int)prompt->len));
	if (name != NULL)
		json_object_object_add(root, "model",
		    json_object_new_string_len(name->data, (int)name->len));
	return root;
}

/*
 * GET /api/chat?prompt=...[&model=...][&format=text]: one user message,
 * for EventSource.  The request is built as the JSON a POST would carry and
 * goes through the same validation and limits.
 */
static void
serve_chat_get(struct cs_worker *w, const struct cs_reqctx *rq,
    struct cs_stream *s, const char **model)
{
	static const char *const keys[] = { "prompt", "model", "format" };
	const struct cs_config *cfg = w->cfg;
	struct json_object *root = NULL;
	struct cs_buf prompt, name;
	const char *json;
	char bad[80], msg[160];
	enum cs_err r;

	cs_buf_init(&prompt, cfg->max_message_bytes);
	cs_buf_init(&name, CS_MAX_NAME);
	if (!same_site(rq)) {
		cs_stream_fail(s, CS_FAIL_FORBIDDEN,
		    "cross-site GET requests "
		    "are refused; POST from your own page instead");
		goto out;
	}
	/* EventSource reconnecting after the stream ended: a 204 makes it
	 * stop instead of asking the model again. */
	if (rq->last_event_id != NULL) {
		cs_stream_no_content(s);
		goto out;
	}
	if (cs_query_check_keys(rq->query, keys, CS_ARRAY_LEN(keys), bad,
	        sizeof(bad)) != CS_OK) {
		snprintf(msg, sizeof(msg),
		    "query: unknown, repeated or "
		    "malformed parameter \"%.60s\" (accepted: prompt, model, "
		    "format)",
		    bad);
		cs_stream_fail(s, CS_FAIL_INVALID, msg);
		goto out;
	}
	r = cs_query_get(rq->query, "prompt", &prompt);
	if (r == CS_ETOOBIG) {
		snprintf(msg, sizeof(msg), "prompt: longer than %zu bytes",
		    cfg->max_message_bytes);
		cs_stream_fail(s, CS_FAIL_TOO_LARGE, msg);
		goto out;
	}
	if (r != CS_OK || prompt.len == 0) {
		cs_stream_fail(s, CS_FAIL_INVALID,
		    r == CS_EBADINPUT ? "prompt: malformed %-escape" :
		                        "prompt: missing or empty "
		                        "(GET /api/chat?prompt=...)");
		goto out;
	}
	if ((r = cs_query_get(rq->query, "model", &name)) != CS_OK &&
	    r != CS_EDONE) {
		cs_stream_fail(s, CS_FAIL_INVALID,
		    "model: malformed "
		    "or too long");
		goto out;
	}
	if ((root = get_request(&prompt, r == CS_OK ? &name : NULL)) == NULL) {
		cs_stream_fail(s, CS_FAIL_INTERNAL, "out of memory");
		goto out;
	}
	json = json_object_to_json_string_ext(root, JSON_C_TO_STRING_PLAIN);
	run_chat(w, s, json, strlen(json), model);
out:
	json_object_put(root);
	cs_buf_free(&prompt);
	cs_buf_free(&name);
}

enum cs_err
cs_native_encoder(const struct cs_reqctx *rq, struct cs_stream *s)
{
	struct cs_buf fmt;
	enum cs_err r;
	int bad = 0;

	cs_buf_init(&fmt, 16);
	r = cs_query_get(rq->query, "format", &fmt);
	if (r == CS_OK && fmt.len == 4 && memcmp(fmt.data, "text", 4) == 0)
		cs_stream_use(s, &cs_encoder_text);
	else if (r == CS_OK)
		bad = !(fmt.len == 3 && memcmp(fmt.data, "sse", 3) == 0);
	else if (r != CS_EDONE)
		bad = 1;
	else if (rq->accept != NULL &&
	    strstr(rq->accept, "text/event-stream") == NULL &&
	    strstr(rq->accept, "text/plain") != NULL)
		cs_stream_use(s, &cs_encoder_text);
	cs_buf_free(&fmt);
	if (!bad)
		return CS_OK;
	cs_stream_fail(s, CS_FAIL_INVALID, "format: must be text or sse");
	return CS_EHANDLED;
}

/*
 * The AI SDK's useChat request (request_ui.h): translated to the native
 * request, which then goes through the same validation and limits, and
 * answered as a UI message stream.  CS_EDONE when body is not useChat's.
 */
static enum cs_err
serve_ui_chat(struct cs_worker *w, struct cs_stream *s,
    const struct cs_buf *body, const char **model)
{
	struct cs_buf native;
	struct cs_reqerr rerr;
	enum cs_err r;

	memset(&rerr, 0, sizeof(rerr));
	cs_buf_init(&native, 2 * w->cfg->max_body_bytes);
	r = cs_ui_request_translate(
	    body->data ? body->data : "", body->len, &native, &rerr);
	if (r != CS_EDONE)
		cs_stream_use(s, &cs_encoder_ui_stream);
	if (r == CS_OK)
		run_chat(w, s, native.data, native.len, model);
	else if (r != CS_EDONE)
		cs_stream_fail(s, r == CS_ENOMEM ? CS_FAIL_INTERNAL : rerr.fail,
		    rerr.message);
	cs_buf_free(&native);
	return r;
}

void
cs_native_chat(struct cs_worker *w, const struct cs_reqctx *rq,
    struct cs_stream *s, const struct cs_buf *body, const char **model)
{
	if (body == NULL)
		serve_chat_get(w, rq, s, model);
	else if (serve_ui_chat(w, s, body, model) == CS_EDONE)
		run_chat(w, s, body->data ? body->data : "", body->len, model);
}
