/*
 * providers/openai_completions.c — OpenAI legacy completions and
 * compatible servers (POST {base_url}/completions, stream:true).
 *
 * The conversation is rendered as a plain transcript ("System: ...",
 * "User: ...", "Assistant: ...") ending with "Assistant:" for the model to
 * continue.  The body is SSE; each data event is a chunk object whose
 * choices[0].text is a text delta.  The finish event waits for [DONE] so
 * it can carry the usage chunk that arrives after the finish reason.  EOF
 * before [DONE] is a truncated stream.
 */
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>
#include <json-c/json.h>

#include "config.h"
#include "provider.h"
#include "request.h"
#include "sse_parse.h"

#define PROMPT_MAX  (CS_MAX_REQUEST_BODY * 2)

struct cs_adapter {
	cs_emit_fn emit;
	void *ctx;
	struct cs_sse *sse;
	struct json_tokener *tok;
	int done;                       /* [DONE] seen */
	int failed;                     /* error event emitted */
	char finish[64];                /* provider's finish_reason */
	struct json_object *usage;      /* owned reference or NULL */
};

static enum cs_err
emit_error(struct cs_adapter *a, const char *type, const char *msg)
{
	struct cs_event ev;
	enum cs_err r;

	memset(&ev, 0, sizeof(ev));
	ev.type = CS_EV_ERROR;
	ev.error_type = type;
	ev.error_message = msg;
	a->failed = 1;
	r = a->emit(a->ctx, &ev);
	return r != CS_OK ? r : CS_EUPSTREAM;
}

static enum cs_err
emit_text(struct cs_adapter *a, struct json_object *v)
{
	struct cs_event ev;
	size_t len;

	if (v == NULL || !json_object_is_type(v, json_type_string))
		return CS_OK;
	len = (size_t)json_object_get_string_len(v);
	if (len == 0)
		return CS_OK;
	memset(&ev, 0, sizeof(ev));
	ev.type = CS_EV_TEXT;
	ev.kind = CS_TEXT_CONTENT;
	ev.text = json_object_get_string(v);
	ev.text_len = len;
	return a->emit(a->ctx, &ev);
}

static void
copy_str(char *dst, size_t dstlen, struct json_object *v)
{
	const char *s;
	size_t n;

	if (v == NULL || !json_object_is_type(v, json_type_string))
		return;
	s = json_object_get_string(v);
	n = strlen(s);
	if (n >= dstlen)
		n = dstlen - 1;
	memcpy(dst, s, n);
	dst[n] = '\0';
}

static enum cs_err
handle_choice(struct cs_adapter *a, struct json_object *choice)
{
	struct json_object *v = NULL, *fr = NULL;
	enum cs_err r;

	json_object_object_get_ex(choice, "text", &v);
	if ((r = emit_text(a, v)) != CS_OK)
		return r;
	if (json_object_object_get_ex(choice, "finish_reason", &fr) &&
	    json_object_is_type(fr, json_type_string))
		copy_str(a->finish, sizeof(a->finish), fr);
	return CS_OK;
}

static enum cs_err
emit_finish(struct cs_adapter *a)
{
	struct cs_event ev;

	memset(&ev, 0, sizeof(ev));
	ev.type = CS_EV_FINISH;
	ev.native_finish_reason = a->finish[0] ? a->finish : NULL;
	ev.finish_reason = cs_finish_reason_native(ev.native_finish_reason);
	ev.usage = a->usage;
	return a->emit(a->ctx, &ev);
}

static enum cs_err
in_band_error(struct cs_adapter *a, struct json_object *err)
{
	struct json_object *m = NULL;
	const char *msg = "the provider reported an error";

	if (json_object_is_type(err, json_type_object) &&
	    json_object_object_get_ex(err, "message", &m) &&
	    json_object_is_type(m, json_type_string))
		msg = json_object_get_string(m);
	else if (json_object_is_type(err, json_type_string))
		msg = json_object_get_string(err);
	return emit_error(a, "upstream_error", msg);
}

static enum cs_err
on_sse(void *ctx, const struct cs_sse_event *sev)
{
	struct cs_adapter *a = ctx;
	struct json_object *chunk = NULL, *v, *choice, *idx;
	enum cs_err r = CS_OK;
	size_t i, n;

	if (a->done || a->failed)
		return CS_OK;      /* nothing counts after [DONE] */
	if (strcmp(sev->data, "[DONE]") == 0) {
		a->done = 1;
		return emit_finish(a);
	}
	json_tokener_reset(a->tok);
	chunk = json_tokener_parse_ex(a->tok, sev->data, (int)sev->data_len);
	if (chunk == NULL || !json_object_is_type(chunk, json_type_object)) {
		r = emit_error(a, "upstream_error",
		    "the provider sent a malformed stream chunk");
		goto out;
	}
	if (json_object_object_get_ex(chunk, "error", &v) && v != NULL) {
		r = in_band_error(a, v);
		goto out;
	}
	if (strcmp(sev->type, "error") == 0) {
		r = emit_error(a, "upstream_error",
		    "the provider reported an error");
		goto out;
	}
	if (json_object_object_get_ex(chunk, "usage", &v) &&
	    json_object_is_type(v, json_type_object)) {
		json_object_put(a->usage);
		a->usage = json_object_get(v);
	}
	if (json_object_object_get_ex(chunk, "choices", &v) &&
	    json_object_is_type(v, json_type_array)) {
		n = json_object_array_length(v);
		for (i = 0; i < n; i++) {
			choice = json_object_array_get_idx(v, i);
			idx = NULL;
			/* With n > 1 only choice 0 is streamed. */
			if (!json_object_is_type(choice, json_type_object) ||
			    (json_object_object_get_ex(choice, "index", &idx) &&
			    json_object_get_int(idx) != 0))
				continue;
			if ((r = handle_choice(a, choice)) != CS_OK)
				goto out;
		}
	}
out:
	json_object_put(chunk);
	return r;
}

static struct cs_adapter *
oc_new(cs_emit_fn emit, void *ctx)
{
	struct cs_adapter *a;

	if ((a = calloc(1, sizeof(*a))) == NULL)
		return NULL;
	a->emit = emit;
	a->ctx = ctx;
	a->sse = cs_sse_new(CS_MAX_SSE_LINE, CS_MAX_SSE_EVENT, on_sse, a);
	a->tok = json_tokener_new_ex(64);
	if (a->sse == NULL || a->tok == NULL) {
		cs_sse_free(a->sse);
		if (a->tok != NULL)
			json_tokener_free(a->tok);
		free(a);
		return NULL;
	}
	return a;
}

static enum cs_err
oc_feed(struct cs_adapter *a, const char *buf, size_t len)
{
	enum cs_err r;

	if (a->failed)
		return CS_EUPSTREAM;
	r = cs_sse_feed(a->sse, buf, len);
	if (r == CS_ETOOBIG)
		return emit_error(a, "upstream_error",
		    "the provider sent an oversized stream event");
	return r;
}

static enum cs_err
oc_end(struct cs_adapter *a)
{
	cs_sse_end(a->sse);
	if (a->done || a->failed)
		return CS_OK;
	return emit_error(a, "upstream_error",
	    "the provider's stream ended before [DONE] (truncated)");
}

static void
oc_free(struct cs_adapter *a)
{
	if (a == NULL)
		return;
	json_object_put(a->usage);
	json_tokener_free(a->tok);
	cs_sse_free(a->sse);
	free(a);
}

static enum cs_err
add_header(struct cs_http_request *hr, const char *h)
{
	struct curl_slist *n;

	if ((n = curl_slist_append(hr->headers, h)) == NULL)
		return CS_ENOMEM;
	hr->headers = n;
	return CS_OK;
}

/* The speaker label of a transcript turn. */
static const char *
turn_label(enum cs_role role)
{
	switch (role) {
	case CS_ROLE_SYSTEM:
		return "System";
	case CS_ROLE_USER:
		return "User";
	case CS_ROLE_ASSISTANT:
		return "Assistant";
	case CS_ROLE_TOOL:
		return "Tool";
	}
	return "User";
}

/*
 * "System: ...\n\nUser: ...\n\nAssistant: ...\n\n...Assistant:".  The
 * legacy API has no tools: the request's tools are not sent, an
 * assistant's tool calls become "Assistant called NAME(ARGUMENTS)" lines
 * after its text (an empty text is left out) and tool results "Tool: ...".
 */
static enum cs_err
render_prompt(const struct cs_chat_request *req, struct cs_buf *p)
{
	const struct cs_message *m;
	const struct cs_tool_call *tc;
	enum cs_err r;
	size_t i, j;

	for (i = 0; i < req->n_messages; i++) {
		m = &req->messages[i];
		if ((m->role != CS_ROLE_ASSISTANT || m->content_len > 0) &&
		    ((r = cs_buf_printf(p, "%s: ", turn_label(m->role)))
		    != CS_OK ||
		    (r = cs_buf_append(p, m->content, m->content_len))
		    != CS_OK ||
		    (r = cs_buf_puts(p, "\n\n")) != CS_OK))
			return r;
		for (j = 0; j < m->n_tool_calls; j++) {
			tc = &m->tool_calls[j];
			if ((r = cs_buf_printf(p, "Assistant called %s(",
			    tc->name)) != CS_OK ||
			    (r = cs_buf_append(p, tc->arguments,
			    tc->arguments_len)) != CS_OK ||
			    (r = cs_buf_puts(p, ")\n\n")) != CS_OK)
				return r;
		}
	}
	return cs_buf_puts(p, "Assistant:");
}

static enum cs_err
oc_build(const struct cs_config *cfg, const struct cs_chat_request *req,
    struct cs_http_request *hr)
{
	struct json_object *root = NULL, *so;
	struct cs_buf auth, prompt;
	enum cs_err r = CS_ENOMEM;
	const char *s;

	cs_buf_init(&auth, 8192);
	cs_buf_init(&prompt, PROMPT_MAX);
	if ((r = cs_buf_printf(&hr->url, "%s/completions",
	    cfg->base_url_eff)) != CS_OK ||
	    (r = render_prompt(req, &prompt)) != CS_OK)
		goto fail;
	r = CS_ENOMEM;
	if ((root = json_object_new_object()) == NULL)
		goto fail;
	json_object_object_add(root, "model",
	    json_object_new_string(req->model->name));
	json_object_object_add(root, "prompt", json_object_new_string_len(
	    prompt.data, (int)prompt.len));
	json_object_object_add(root, "stream", json_object_new_boolean(1));
	if ((so = json_object_new_object()) == NULL)
		goto fail;
	json_object_object_add(so, "include_usage",
	    json_object_new_boolean(1));
	json_object_object_add(root, "stream_options", so);
	if (req->has_temperature)
		json_object_object_add(root, "temperature",
		    json_object_new_double(req->temperature));
	if (req->max_tokens > 0)
		json_object_object_add(root, "max_tokens",
		    json_object_new_int64(req->max_tokens));
	s = json_object_to_json_string_ext(root, JSON_C_TO_STRING_PLAIN |
	    JSON_C_TO_STRING_NOSLASHESCAPE);
	if (s == NULL || (r = cs_buf_puts(&hr->body, s)) != CS_OK)
		goto fail;
	if ((r = add_header(hr, "Content-Type: application/json")) != CS_OK ||
	    (r = add_header(hr, "Accept: text/event-stream")) != CS_OK)
		goto fail;
	if (cfg->api_key != NULL) {
		if ((r = cs_buf_printf(&auth, "Authorization: Bearer %s",
		    cfg->api_key)) != CS_OK ||
		    (r = add_header(hr, auth.data)) != CS_OK)
			goto fail;
	}
	r = CS_OK;
fail:
	if (auth.data != NULL)
		explicit_bzero(auth.data, auth.len);
	cs_buf_free(&auth);
	cs_buf_free(&prompt);
	json_object_put(root);
	return r;
}

const struct cs_provider cs_provider_openai_completions = {
	.name = "openai-completions",
	.build = oc_build,
	.adapter_new = oc_new,
	.adapter_feed = oc_feed,
	.adapter_end = oc_end,
	.adapter_free = oc_free,
};
