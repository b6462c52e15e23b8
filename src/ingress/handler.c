/* handler.c — route, check and serve one request; see handler.h. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>

#include <json-c/json.h>

#include "chat.h"
#include "check.h"
#include "config.h"
#include "engine.h"
#include "fcgi_out.h"
#include "handler.h"
#include "log.h"
#include "openai_api.h"
#include "provider.h"
#include "query.h"
#include "request.h"
#include "request_ui.h"
#include "stream.h"
#include "upstream.h"

enum route { ROUTE_NONE, ROUTE_CHAT, ROUTE_MODELS, ROUTE_INFO, ROUTE_CHECK,
    ROUTE_V1_CHAT, ROUTE_V1_MODELS, ROUTE_V1_MODEL, ROUTE_V1_OTHER,
    ROUTE_OPENAPI };

/* The raw (still %-encoded) model id of …/v1/models/{id}: room for a
 * CS_MAX_NAME name with every byte escaped. */
#define ROUTE_ID_MAX (3 * CS_MAX_NAME)

/* docs/openapi.json, embedded at build time (src/embed.py). */
extern const char cs_openapi_json[];
extern const size_t cs_openapi_json_len;


static void
new_stream_id(char id[CS_STREAM_ID_LEN + 1])
{
	static const char hex[] = "0123456789abcdef";
	unsigned char rnd[CS_STREAM_ID_LEN / 2];
	size_t i;

	if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd))
		memset(rnd, 0, sizeof(rnd));
	for (i = 0; i < sizeof(rnd); i++) {
		id[2 * i] = hex[rnd[i] >> 4];
		id[2 * i + 1] = hex[rnd[i] & 15];
	}
	id[CS_STREAM_ID_LEN] = '\0';
}

/* Is p[start..end) the segment name? */
static int
seg_is(const char *p, size_t start, size_t end, const char *name)
{
	return end - start == strlen(name) &&
	    strncmp(p + start, name, end - start) == 0;
}

/* Step [*start, *end) back to the segment before it; 0 if none. */
static int
prev_seg(const char *p, size_t *start, size_t *end)
{
	if (*start == 0)
		return 0;
	*end = *start - 1;
	*start = *end;
	while (*start > 0 && p[*start - 1] != '/')
		(*start)--;
	return 1;
}

/* …/v1/models and …/v1/chat/completions (OpenAI-compatible); s..e is
 * the last segment. */
static enum route
match_v1(const char *p, size_t s, size_t e)
{
	if (seg_is(p, s, e, "models"))
		return prev_seg(p, &s, &e) && seg_is(p, s, e, "v1") ?
		    ROUTE_V1_MODELS : ROUTE_MODELS;
	if (seg_is(p, s, e, "completions") && prev_seg(p, &s, &e) &&
	    seg_is(p, s, e, "chat") && prev_seg(p, &s, &e) &&
	    seg_is(p, s, e, "v1"))
		return ROUTE_V1_CHAT;
	return ROUTE_NONE;
}

/* The end of p's path: before '?' or '#', without trailing slashes. */
static size_t
path_end(const char *p)
{
	size_t end = strcspn(p, "?#");

	while (end > 0 && p[end - 1] == '/')
		end--;
	return end;
}

/*
 * …/v1/models/{id}: the id (what follows the first "v1/models/" that
 * starts a segment, to the end of the path) as an offset into p, or 0 if
 * p names no model.  An id may hold '/' (organisation/model), decoded by
 * the web server or still %2F: either way it is the whole rest.
 */
static size_t
v1_model_id(const char *p, size_t end)
{
	static const char seg[] = "v1/models/";
	const char *q;

	for (q = p; (q = strstr(q, seg)) != NULL && (size_t)(q - p) < end;
	    q++) {
		if (q != p && q[-1] != '/')
			continue;
		q += sizeof(seg) - 1;
		return (size_t)(q - p) < end ? (size_t)(q - p) : 0;
	}
	return 0;
}

/* Does p's path have a segment "v1" (an OpenAI-compatible path)? */
static int
has_v1_segment(const char *p)
{
	size_t end, start;

	if (p == NULL)
		return 0;
	end = path_end(p);
	for (start = 0; start < end; start++)
		if ((start == 0 || p[start - 1] == '/') &&
		    strncmp(p + start, "v1", 2) == 0 && (start + 2 == end ||
		    p[start + 2] == '/'))
			return 1;
	return 0;
}

/* The last path segment of p (up to '?'), without trailing slashes (the
 * last three for the OpenAI-compatible routes); a model id after
 * …/v1/models/ first. */
static enum route
match_route(const char *p)
{
	size_t end, start;
	enum route rt;

	if (p == NULL || *p == '\0')
		return ROUTE_NONE;
	end = path_end(p);
	if (v1_model_id(p, end) != 0)
		return ROUTE_V1_MODEL;
	start = end;
	while (start > 0 && p[start - 1] != '/')
		start--;
	if ((rt = match_v1(p, start, end)) != ROUTE_NONE)
		return rt;
	if (end - start == 4 && strncmp(p + start, "chat", 4) == 0)
		return ROUTE_CHAT;
	if (end - start == 4 && strncmp(p + start, "info", 4) == 0)
		return ROUTE_INFO;
	if (end - start == 5 && strncmp(p + start, "check", 5) == 0)
		return ROUTE_CHECK;
	if (seg_is(p, start, end, "openapi.json"))
		return ROUTE_OPENAPI;
	return ROUTE_NONE;
}

/* Copy the model id of path p (see v1_model_id) into id; "" if p names
 * none or the id is too long to be a model name. */
static void
copy_model_id(const char *p, char id[ROUTE_ID_MAX + 1])
{
	size_t end, at;

	id[0] = '\0';
	if (p == NULL || (at = v1_model_id(p, end = path_end(p))) == 0 ||
	    end - at > ROUTE_ID_MAX)
		return;
	memcpy(id, p + at, end - at);
	id[end - at] = '\0';
}

/* PATH_INFO as the tail of SCRIPT_NAME: lighttpd may split /api/v1/models
 * into "/api/v1" + "/models", so the v1 routes need both. */
static enum route
match_path_info(struct cs_conn *c, char id[ROUTE_ID_MAX + 1])
{
	const char *sn = cs_conn_param(c, "SCRIPT_NAME");
	const char *pi = cs_conn_param(c, "PATH_INFO");
	char full[1024];
	enum route rt;

	if (pi == NULL)
		return ROUTE_NONE;
	if (snprintf(full, sizeof(full), "%s%s", sn ? sn : "", pi) >=
	    (int)sizeof(full))
		snprintf(full, sizeof(full), "%s", pi);
	if ((rt = match_route(full)) == ROUTE_V1_MODEL)
		copy_model_id(full, id);
	return rt;
}

/*
 * Servers name the endpoint differently: lighttpd puts the whole path in
 * SCRIPT_NAME, Apache's ScriptAlias splits it into SCRIPT_NAME + PATH_INFO,
 * a rewrite to a .fcgi file leaves it only in REQUEST_URI.  Take the first
 * that names an endpoint, so chatstream works wherever it is mounted.
 *
 * A model id is taken from REQUEST_URI when it has one: that is the URL as
 * sent, so an id the client %-encoded (the openai SDK sends "org/model" as
 * org%2Fmodel) arrives intact whatever the server decodes; ids never hold
 * '%', so decoding it once more is harmless where another variable had it.
 * Any other path with a "v1" segment is ROUTE_V1_OTHER, answered in
 * OpenAI's error shape.
 */
static enum route
find_route(struct cs_conn *c, const char **path, char id[ROUTE_ID_MAX + 1])
{
	static const char *const vars[] = { "PATH_INFO", "SCRIPT_NAME",
	    "REQUEST_URI" };
	enum route rt;
	const char *v, *uri = cs_conn_param(c, "REQUEST_URI");
	size_t i;

	*path = uri;
	id[0] = '\0';
	for (i = 0; i < CS_ARRAY_LEN(vars); i++) {
		v = cs_conn_param(c, vars[i]);
		rt = i == 0 ? match_path_info(c, id) : match_route(v);
		if (rt == ROUTE_V1_MODEL && i > 0)
			copy_model_id(v, id);
		if (rt == ROUTE_V1_MODEL && match_route(uri) == ROUTE_V1_MODEL)
			copy_model_id(uri, id);
		if (rt != ROUTE_NONE) {
			if (*path == NULL)
				*path = v;
			return rt;
		}
	}
	if (*path == NULL)
		*path = cs_conn_param(c, "SCRIPT_NAME");
	return has_v1_segment(*path) ? ROUTE_V1_OTHER : ROUTE_NONE;
}

/* Strict CONTENT_LENGTH: digits only; -1 if absent, -2 if malformed. */
static long long
content_length(const char *v)
{
	unsigned long long n;

	if (v == NULL || *v == '\0')
		return -1;
	/* Past 4 x the largest body allowed it is too big anyway. */
	if (cs_parse_dec(v, strlen(v), CS_MAX_REQUEST_BODY * 4ULL, &n) != 0)
		return -2;
	return (long long)n;
}

/* Read and discard the body of a request we answer without it. */
static void
drain_body(struct cs_conn *c)
{
	struct cs_buf none;

	cs_buf_init(&none, 0);
	cs_conn_read_body(c, 0, &none);
	cs_buf_free(&none);
}

static void
serve_models(const struct cs_config *cfg, struct cs_stream *s)
{
	const struct cs_model_cfg *mc;
	struct json_object *root, *data, *m;
	const char *body;
	size_t i;

	root = json_object_new_object();
	data = json_object_new_array();
	if (root == NULL || data == NULL) {
		json_object_put(root);
		json_object_put(data);
		cs_stream_fail(s, CS_FAIL_INTERNAL, "out of memory");
		return;
	}
	json_object_object_add(root, "object", json_object_new_string("list"));
	json_object_object_add(root, "data", data);
	for (i = 0; i < cfg->n_models; i++) {
		mc = &cfg->models[i];
		if ((m = json_object_new_object()) == NULL)
			break;
		json_object_object_add(m, "id",
		    json_object_new_string(mc->name));
		json_object_object_add(m, "object",
		    json_object_new_string("model"));
		json_object_object_add(m, "owned_by",
		    json_object_new_string(mc->up->provider_eff->source !=
		    NULL ? mc->up->provider_eff->name : "chatstream"));
		if (mc->description[0] != '\0')
			json_object_object_add(m, "description",
			    json_object_new_string(mc->description));
		if (mc->max_tokens > 0)
			json_object_object_add(m, "max_tokens",
			    json_object_new_int64(mc->max_tokens));
		json_object_object_add(m, "instructions_allowed",
		    json_object_new_boolean(
		    cs_model_client_instructions(cfg, mc)));
		json_object_array_add(data, m);
	}
	json_object_object_add(root, "default", json_object_new_string(
	    cs_config_model(cfg, NULL)->name));
	/* The default model's; each entry has its own. */
	json_object_object_add(root, "instructions_allowed",
	    json_object_new_boolean(cs_model_client_instructions(cfg,
	    cs_config_model(cfg, NULL))));
	json_object_object_add(root, "tools_allowed",
	    json_object_new_boolean(cfg->client_tools));
	/* So a client can trim long histories to what will be accepted. */
	json_object_object_add(root, "max_body_bytes",
	    json_object_new_int64((int64_t)cfg->max_body_bytes));
	body = json_object_to_json_string_ext(root, JSON_C_TO_STRING_PLAIN |
	    JSON_C_TO_STRING_NOSLASHESCAPE);
	cs_stream_reply(s, 200, "application/json", body, strlen(body));
	json_object_put(root);
}

/* Validate the JSON request body (len bytes) and stream the answer. */
static void
run_chat(struct cs_worker *w, struct cs_stream *s, const char *body,
    size_t len, const char **model)
{
	const struct cs_config *cfg = w->cfg;
	struct cs_chat_request *req = NULL;
	struct cs_reqerr rerr;
	enum cs_err r;

	memset(&rerr, 0, sizeof(rerr));
	r = cs_request_parse(cfg, body, len, &req, &rerr);
	if (r == CS_ENOMEM) {
		cs_stream_fail(s, CS_FAIL_INTERNAL, "out of memory");
		goto out;
	}
	if (r != CS_OK) {
		cs_stream_fail(s, rerr.fail, rerr.message);
		goto out;
	}
	*model = req->model->name;
	if (cs_stream_is_head(s)) {
		/* HEAD: the stream's headers, as GET would get them after
		 * the same checks, and no model asked. */
		cs_stream_start(s);
		goto out;
	}
	cs_chat_provider(w, req, s);
out:
	/* *model points into the config, not into req; a prepared run
	 * holds nothing of req. */
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
same_site(struct cs_conn *c)
{
	const char *site = cs_conn_param(c, "HTTP_SEC_FETCH_SITE");
	const char *origin = cs_conn_param(c, "HTTP_ORIGIN");
	const char *host = cs_conn_param(c, "HTTP_HOST");
	const char *o;

	if (site != NULL && strcmp(site, "same-origin") != 0 &&
	    strcmp(site, "none") != 0)
		return 0;
	if (origin == NULL)
		return 1;
	/* Origin is scheme://host[:port]; compare that part with Host. */
	if ((o = strstr(origin, "://")) == NULL || host == NULL)
		return 0;
	return strcasecmp(o + 3, host) == 0;
}

/*
 * GET /api/chat?prompt=...[&model=...][&format=text]: one user message,
 * for EventSource.  The request is built as the JSON a POST would carry and
 * goes through the same validation and limits.
 */
static void
serve_chat_get(struct cs_worker *w, struct cs_conn *c, struct cs_stream *s,
    const char **model)
{
	static const char *const keys[] = { "prompt", "model", "format" };
	const struct cs_config *cfg = w->cfg;
	const char *qs = cs_conn_param(c, "QUERY_STRING");
	struct json_object *root = NULL, *msgs, *m;
	struct cs_buf prompt, name;
	const char *json;
	char bad[80], msg[160];
	int r;

	cs_buf_init(&prompt, cfg->max_message_bytes);
	cs_buf_init(&name, CS_MAX_NAME);
	if (!cfg->chat_get) {
		cs_stream_fail_method(s, "POST", "GET /api/chat is "
		    "disabled on this server; POST a JSON body");
		goto out;
	}
	if (!same_site(c)) {
		cs_stream_fail(s, CS_FAIL_FORBIDDEN, "cross-site GET requests "
		    "are refused; POST from your own page instead");
		goto out;
	}
	/* EventSource reconnecting after the stream ended: a 204 makes it
	 * stop instead of asking the model again. */
	if (cs_conn_param(c, "HTTP_LAST_EVENT_ID") != NULL) {
		cs_stream_no_content(s);
		goto out;
	}
	if (cs_query_check_keys(qs, keys, CS_ARRAY_LEN(keys), bad,
	    sizeof(bad)) != 0) {
		snprintf(msg, sizeof(msg), "query: unknown, repeated or "
		    "malformed parameter \"%.60s\" (accepted: prompt, model, "
		    "format)", bad);
		cs_stream_fail(s, CS_FAIL_INVALID, msg);
		goto out;
	}
	r = cs_query_get(qs, "prompt", &prompt);
	if (r == -2) {
		snprintf(msg, sizeof(msg), "prompt: longer than %zu bytes",
		    cfg->max_message_bytes);
		cs_stream_fail(s, CS_FAIL_TOO_LARGE, msg);
		goto out;
	}
	if (r != 1 || prompt.len == 0) {
		cs_stream_fail(s, CS_FAIL_INVALID, r == -1 ?
		    "prompt: malformed %-escape" : "prompt: missing or empty "
		    "(GET /api/chat?prompt=...)");
		goto out;
	}
	if ((r = cs_query_get(qs, "model", &name)) < 0) {
		cs_stream_fail(s, CS_FAIL_INVALID, "model: malformed "
		    "or too long");
		goto out;
	}
	if ((root = json_object_new_object()) == NULL ||
	    (msgs = json_object_new_array()) == NULL) {
		cs_stream_fail(s, CS_FAIL_INTERNAL, "out of memory");
		goto out;
	}
	json_object_object_add(root, "messages", msgs);
	if ((m = json_object_new_object()) == NULL) {
		cs_stream_fail(s, CS_FAIL_INTERNAL, "out of memory");
		goto out;
	}
	json_object_array_add(msgs, m);
	json_object_object_add(m, "role", json_object_new_string("user"));
	json_object_object_add(m, "content", json_object_new_string_len(
	    prompt.data, (int)prompt.len));
	if (r == 1)
		json_object_object_add(root, "model",
		    json_object_new_string_len(name.data, (int)name.len));
	json = json_object_to_json_string_ext(root, JSON_C_TO_STRING_PLAIN);
	run_chat(w, s, json, strlen(json), model);
out:
	json_object_put(root);
	cs_buf_free(&prompt);
	cs_buf_free(&name);
}

/*
 * The protocol of the answer: ?format=text or ?format=sse if given, else
 * plain text when the client accepts text/plain but not text/event-stream
 * (curl -H 'Accept: text/plain'), else the native SSE.  0, or -1 for an
 * unknown format.
 */
static int
choose_encoder(struct cs_conn *c, struct cs_stream *s)
{
	const char *accept = cs_conn_param(c, "HTTP_ACCEPT");
	struct cs_buf fmt;
	int r;

	cs_buf_init(&fmt, 16);
	r = cs_query_get(cs_conn_param(c, "QUERY_STRING"), "format", &fmt);
	if (r == 1 && fmt.len == 4 && memcmp(fmt.data, "text", 4) == 0)
		cs_stream_use(s, &cs_encoder_text);
	else if (r == 1 && !(fmt.len == 3 && memcmp(fmt.data, "sse", 3) == 0))
		r = -1;
	else if (r == 0 && accept != NULL &&
	    strstr(accept, "text/event-stream") == NULL &&
	    strstr(accept, "text/plain") != NULL)
		cs_stream_use(s, &cs_encoder_text);
	cs_buf_free(&fmt);
	return r < 0 ? -1 : 0;
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
	r = cs_ui_request_translate(body->data ? body->data : "", body->len,
	    &native, &rerr);
	if (r != CS_EDONE)
		cs_stream_use(s, &cs_encoder_ui_stream);
	if (r == CS_OK)
		run_chat(w, s, native.data, native.len, model);
	else if (r != CS_EDONE)
		cs_stream_fail(s, r == CS_ENOMEM ? CS_FAIL_INTERNAL :
		    rerr.fail, rerr.message);
	cs_buf_free(&native);
	return r;
}

static void
serve_chat(struct cs_worker *w, struct cs_conn *c, struct cs_stream *s,
    const char **model)
{
	const struct cs_config *cfg = w->cfg;
	struct cs_buf body;
	long long clen;
	char msg[128];
	enum cs_err r = CS_OK;

	/* The buffer may grow one chunk past the limit so "too big" can be
	 * told apart from "exactly the limit". */
	cs_buf_init(&body, cfg->max_body_bytes + CS_BODY_CHUNK);
	r = cs_conn_read_body(c, cfg->max_body_bytes, &body);
	if (r == CS_ECLIENTGONE) {
		cs_stream_lost(s);
		goto out;
	}
	if (r == CS_ETIMEOUT) {
		cs_stream_fail(s, CS_FAIL_BODY_TIMEOUT, "the request body "
		    "did not arrive within request_read_timeout_seconds");
		goto out;
	}
	if (!cs_chat_json_type(cs_conn_param(c, "CONTENT_TYPE"))) {
		cs_stream_fail(s, CS_FAIL_MEDIA_TYPE, "Content-Type must "
		    "be application/json");
		goto out;
	}
	clen = content_length(cs_conn_param(c, "CONTENT_LENGTH"));
	if (clen == -2) {
		cs_stream_fail(s, CS_FAIL_INVALID,
		    "malformed Content-Length");
		goto out;
	}
	if (r == CS_ETOOBIG || clen > (long long)cfg->max_body_bytes) {
		snprintf(msg, sizeof(msg), "request body exceeds %zu bytes",
		    cfg->max_body_bytes);
		cs_stream_fail(s, CS_FAIL_TOO_LARGE, msg);
		goto out;
	}
	if (serve_ui_chat(w, s, &body, model) != CS_EDONE)
		goto out;
	run_chat(w, s, body.data ? body.data : "", body.len, model);
out:
	cs_buf_free(&body);
}

/* A request whose stream went to a loop: what its access line needs. */
struct pass {
	struct cs_stream *s;
	struct cs_run *run;
	struct cs_access a;
	char id[CS_STREAM_ID_LEN + 1];
	char path[256];
	cs_over_fn over;
	void *over_arg;
};

/* On the loop: the handed-over stream is over. */
static void
pass_done(void *arg, enum cs_err r)
{
	struct pass *p = arg;
	int lost = cs_stream_is_lost(p->s);

	(void)r;
	cs_stream_account(p->s, &p->a);
	cs_log_access(&p->a);
	cs_stream_free(p->s);
	cs_upstream_free(p->run);
	p->over(p->over_arg, lost);
	free(p);
}

/* Hand the prepared run w->run over to a loop, with the access line a
 * (its strings copied or outliving the request).  0, or -1: s and the
 * run are still ours (and the run is freed). */
static int
hand_off(struct cs_worker *w, struct cs_stream *s, const struct cs_access *a,
    cs_over_fn over, void *arg)
{
	struct pass *p;

	if ((p = calloc(1, sizeof(*p))) == NULL)
		goto fail;
	p->s = s;
	p->run = w->run;
	p->a = *a;
	snprintf(p->id, sizeof(p->id), "%s", a->id);
	p->a.id = p->id;
	if (a->path != NULL) {
		snprintf(p->path, sizeof(p->path), "%s", a->path);
		p->a.path = p->path;
	}
	p->over = over;
	p->over_arg = arg;
	if (cs_engine_submit(w->run, pass_done, p) != 0)
		goto fail;
	w->run = NULL;
	return 0;
fail:
	free(p);
	cs_upstream_free(w->run);
	w->run = NULL;
	cs_stream_fail_retry(s, CS_FAIL_OVERLOADED, "the server is at "
	    "capacity (no event loop could take the stream); retry shortly",
	    1);
	return -1;
}

int
cs_handle(struct cs_worker *w, struct cs_conn *c, cs_over_fn over, void *arg)
{
	struct cs_stream *s;
	struct cs_access a;
	const char *method, *path = NULL, *model = NULL;
	char id[CS_STREAM_ID_LEN + 1], logpath[256];
	char model_id[ROUTE_ID_MAX + 1];
	enum route rt;
	int get;

	new_stream_id(id);
	w->run = NULL;
	if ((s = cs_stream_new(c, w->cfg, &cs_encoder_sse, id)) == NULL) {
		cs_warnx("%s: out of memory for a stream", id);
		return 0;   /* the web server answers 502 */
	}
	method = cs_conn_param(c, "REQUEST_METHOD");
	if (method == NULL)
		method = "";
	/* HEAD is GET without the body (stream.h), wherever GET is. */
	if (strcmp(method, "HEAD") == 0)
		cs_stream_set_head(s);
	get = cs_stream_is_head(s) || strcmp(method, "GET") == 0;
	rt = find_route(c, &path, model_id);
	/* Only the chat endpoints read a body; every other answer drains it. */
	if (w->overloaded || (rt != ROUTE_V1_CHAT &&
	    (rt != ROUTE_CHAT || strcmp(method, "POST") != 0)))
		drain_body(c);
	if (w->overloaded) {
		if (rt == ROUTE_V1_CHAT || rt == ROUTE_V1_MODELS ||
		    rt == ROUTE_V1_MODEL || rt == ROUTE_V1_OTHER)
			cs_stream_use(s, &cs_encoder_openai_json);
		cs_stream_fail_retry(s, CS_FAIL_OVERLOADED, "the server is at "
		    "capacity (every worker is busy); retry shortly", 1);
	} else if (rt == ROUTE_NONE)
		cs_stream_fail(s, CS_FAIL_NOT_FOUND, "no such endpoint "
		    "(GET /api/openapi.json lists them)");
	else if (rt == ROUTE_V1_OTHER)
		cs_openai_not_found(c, s, path);
	else if (rt == ROUTE_V1_CHAT)
		cs_openai_chat(w, c, s, &model);
	else if (rt == ROUTE_V1_MODELS || rt == ROUTE_V1_MODEL)
		cs_openai_models(w, c, s, rt == ROUTE_V1_MODEL ? model_id :
		    NULL);
	else if (rt != ROUTE_CHAT && !get)
		cs_stream_fail_method(s, "GET, HEAD", "use GET here");
	else if (rt == ROUTE_MODELS)
		serve_models(w->cfg, s);
	else if (rt == ROUTE_OPENAPI)
		cs_stream_reply(s, 200, "application/json", cs_openapi_json,
		    cs_openapi_json_len);
	else if (rt == ROUTE_INFO)
		cs_check_info(w->cfg, c, s);
	else if (rt == ROUTE_CHECK)
		cs_chat_run(w, cs_check_stream(w->cfg, c, s));
	else if (choose_encoder(c, s) != 0)
		cs_stream_fail(s, CS_FAIL_INVALID, "format: must be "
		    "text or sse");
	else if (get)
		serve_chat_get(w, c, s, &model);
	else if (strcmp(method, "POST") != 0)
		cs_stream_fail_method(s, w->cfg->chat_get ? "GET, HEAD, POST" :
		    "POST", "use POST with a JSON body");
	else
		serve_chat(w, c, s, &model);

	memset(&a, 0, sizeof(a));
	/* Log the path without its query string. */
	if (path != NULL) {
		snprintf(logpath, sizeof(logpath), "%.*s",
		    (int)strcspn(path, "?"), path);
		path = logpath;
	}
	a.id = id;
	a.client = cs_conn_param(c, "REMOTE_ADDR");
	a.method = method;
	a.path = path;
	a.model = model;
	if (w->run != NULL && hand_off(w, s, &a, over, arg) == 0)
		return 1;
	cs_stream_account(s, &a);
	cs_log_access(&a);
	cs_stream_free(s);
	return 0;
}
