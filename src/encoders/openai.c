/*
 * encoders/openai.c — OpenAI's Chat Completions, so that OpenAI clients
 * work unchanged (docs/protocol.md "OpenAI-compatible API: /api/v1").
 *
 * cs_encoder_openai (stream: true): every event is one SSE
 * "data: {chat.completion.chunk}"; the first carries delta.role; a tool
 * call is one chunk with the complete call; the finish is a chunk with an
 * empty delta and finish_reason; with CS_ENC_INCLUDE_USAGE a chunk with
 * "choices":[] and usage follows; then "data: [DONE]".  An error after
 * the start is "data: {"error":{...}}" (the openai SDKs throw APIError on
 * it), then [DONE].  Keep-alives are SSE comments.
 *
 * cs_encoder_openai_json (stream false or absent): deferred; the events
 * are kept (at most OAI_KEEP_MAX bytes of each kind) and done writes one
 * chat.completion object.
 *
 * Errors are {"error":{"message","type","param","code"}} with OpenAI's
 * types; the native type becomes the code (rate_limited is
 * rate_limit_exceeded, budget_exceeded insufficient_quota, unauthorized
 * invalid_api_key).
 */
#include <string.h>

#include "encoder.h"

#define OAI_KEEP_MAX (4 * 1024 * 1024) /* a deferred answer's text */

struct oai {
	int role_sent;
	unsigned long n_tools;
};

/* The deferred encoder's: the answer kept until done. */
struct oai_kept {
	struct oai o;
	struct cs_buf content, refusal, reasoning;
	struct cs_buf tools;   /* the tool calls, comma-separated */
	const char *finish;    /* OpenAI's spelling, static */
	struct cs_usage usage; /* prompt and completion read */
};

/* Native finish reasons onto OpenAI's; other and unknown become stop,
 * the only one that promises nothing more. */
static const char *
oai_finish(const char *native)
{
	static const char *const same[] = { "stop", "length", "tool_calls",
		"content_filter" };
	size_t i;

	for (i = 0; native != NULL && i < CS_ARRAY_LEN(same); i++)
		if (strcmp(native, same[i]) == 0)
			return same[i];
	return "stop";
}

/* OpenAI's error type for a native one. */
static const char *
oai_error_type(const char *type)
{
	if (strcmp(type, "invalid_request") == 0 ||
	    strcmp(type, "model_not_found") == 0 ||
	    strcmp(type, "not_found") == 0 || strcmp(type, "forbidden") == 0 ||
	    strcmp(type, "unauthorized") == 0 ||
	    strcmp(type, "model_not_allowed") == 0)
		return "invalid_request_error";
	if (strcmp(type, "rate_limited") == 0)
		return "rate_limit_exceeded";
	if (strcmp(type, "budget_exceeded") == 0)
		return "insufficient_quota";
	if (strcmp(type, "internal_error") == 0)
		return "server_error";
	return "api_error";
}

const char *
cs_enc_openai_code(const char *type)
{
	if (strcmp(type, "unauthorized") == 0)
		return "invalid_api_key";
	if (strcmp(type, "budget_exceeded") == 0)
		return "insufficient_quota";
	return strcmp(type, "rate_limited") == 0 ? "rate_limit_exceeded" : type;
}

static void
put_error(struct cs_jsonw *w, const char *type, const char *message)
{
	cs_jsonw_obj(w);
	cs_jsonw_key(w, "error");
	cs_jsonw_obj(w);
	cs_jsonw_kstr(w, "message", message);
	cs_jsonw_kstr(w, "type", oai_error_type(type));
	cs_jsonw_key(w, "param");
	cs_jsonw_null(w);
	cs_jsonw_kstr(w, "code", cs_enc_openai_code(type));
	cs_jsonw_obj_end(w);
	cs_jsonw_obj_end(w);
}

enum cs_err
cs_encoder_openai_error_body(
    const char *type, const char *message, struct cs_buf *out)
{
	struct cs_jsonw w;

	cs_jsonw_init(&w, out);
	put_error(&w, type, message);
	return cs_jsonw_end(&w);
}

/* {"id","object","created","model" (the caller closes the object) */
static void
put_head(const struct cs_enc *e, struct cs_jsonw *w, const char *object)
{
	char id[sizeof("chatcmpl-") + CS_STREAM_ID_LEN];
	size_t n = strlen(e->stream_id);

	memcpy(id, "chatcmpl-", 9);
	memcpy(id + 9, e->stream_id, n + 1);
	cs_jsonw_obj(w);
	cs_jsonw_kstr(w, "id", id);
	cs_jsonw_kstr(w, "object", object);
	cs_jsonw_kint(w, "created", e->created);
	cs_jsonw_kstr(w, "model", e->model);
}

/* {"index":N,"id":...,"type":"function","function":{name,arguments}};
 * without index (index < 0) in a chat.completion message. */
static void
put_tool_call(struct cs_jsonw *w, long index, const struct cs_event *ev)
{
	cs_jsonw_obj(w);
	if (index >= 0)
		cs_jsonw_kint(w, "index", index);
	cs_jsonw_kstr(w, "id", ev->tool_id);
	cs_jsonw_kstr(w, "type", "function");
	cs_jsonw_key(w, "function");
	cs_jsonw_obj(w);
	cs_jsonw_kstr(w, "name", ev->tool_name);
	cs_jsonw_kstr(w, "arguments", ev->tool_args);
	cs_jsonw_obj_end(w);
	cs_jsonw_obj_end(w);
}

/* "usage":{...} or "usage":null; total is the sum, as OpenAI's. */
static void
put_usage(struct cs_jsonw *w, const struct cs_usage *u)
{
	long long prompt, completion;

	prompt = u == NULL ? CS_USAGE_NONE : u->prompt;
	completion = u == NULL ? CS_USAGE_NONE : u->completion;
	cs_jsonw_key(w, "usage");
	if (prompt < 0 && completion < 0) {
		cs_jsonw_null(w);
		return;
	}
	if (prompt < 0)
		prompt = 0;
	if (completion < 0)
		completion = 0;
	cs_jsonw_obj(w);
	cs_jsonw_kint(w, "prompt_tokens", prompt);
	cs_jsonw_kint(w, "completion_tokens", completion);
	cs_jsonw_kint(w, "total_tokens", prompt + completion);
	cs_jsonw_obj_end(w);
}

static const char *
text_key(const struct cs_event *ev)
{
	if (ev->kind == CS_TEXT_REFUSAL)
		return "refusal";
	return ev->kind == CS_TEXT_REASONING ? "reasoning_content" : "content";
}

/* The delta's members for a text or tool-call event. */
static void
put_delta(struct oai *o, const struct cs_event *ev, struct cs_jsonw *w)
{
	if (!o->role_sent) {
		o->role_sent = 1;
		cs_jsonw_kstr(w, "role", "assistant");
	}
	if (ev->type == CS_EV_TEXT) {
		cs_jsonw_key(w, text_key(ev));
		cs_jsonw_strn(w, ev->text, ev->text_len);
		return;
	}
	cs_jsonw_key(w, "tool_calls");
	cs_jsonw_arr(w);
	put_tool_call(w, (long)o->n_tools++, ev);
	cs_jsonw_arr_end(w);
}

/* data: {chunk}, and after the finish the usage chunk if asked for. */
static void
put_chunk(struct cs_enc *e, struct oai *o, const struct cs_event *ev,
    struct cs_jsonw *w)
{
	cs_enc_sse_data(w);
	put_head(e, w, "chat.completion.chunk");
	cs_jsonw_key(w, "choices");
	cs_jsonw_arr(w);
	cs_jsonw_obj(w);
	cs_jsonw_kint(w, "index", 0);
	cs_jsonw_key(w, "delta");
	cs_jsonw_obj(w);
	if (ev->type != CS_EV_FINISH)
		put_delta(o, ev, w);
	cs_jsonw_obj_end(w);
	cs_jsonw_key(w, "logprobs");
	cs_jsonw_null(w);
	cs_jsonw_key(w, "finish_reason");
	if (ev->type == CS_EV_FINISH)
		cs_jsonw_str(w, oai_finish(ev->finish_reason));
	else
		cs_jsonw_null(w);
	cs_jsonw_obj_end(w);
	cs_jsonw_arr_end(w);
	cs_jsonw_obj_end(w);
	cs_enc_sse_end(w);
	if (ev->type != CS_EV_FINISH || !(e->flags & CS_ENC_INCLUDE_USAGE))
		return;
	cs_enc_sse_data(w);
	put_head(e, w, "chat.completion.chunk");
	cs_jsonw_key(w, "choices");
	cs_jsonw_arr(w);
	cs_jsonw_arr_end(w);
	put_usage(w, ev->tokens);
	cs_jsonw_obj_end(w);
	cs_enc_sse_end(w);
}

/* The role and the tool index as the client saw them: unchanged when the
 * frame failed. */
static enum cs_err
oai_chunk(struct cs_enc *e, const struct cs_event *ev, struct cs_buf *out)
{
	struct oai *o = e->priv, was = *o;
	struct cs_jsonw w;
	enum cs_err r;

	if (ev->type > CS_EV_ERROR)
		return CS_EBADINPUT;
	e->seq++;
	cs_jsonw_init(&w, out);
	if (ev->type == CS_EV_ERROR) {
		cs_enc_sse_data(&w);
		put_error(&w, ev->error_type, ev->error_message);
		cs_enc_sse_end(&w);
	} else
		put_chunk(e, o, ev, &w);
	if ((r = cs_jsonw_end(&w)) != CS_OK)
		*o = was;
	return r;
}

static void
oai_kept_init(struct cs_enc *e)
{
	struct oai_kept *k = e->priv;

	cs_buf_init(&k->content, OAI_KEEP_MAX);
	cs_buf_init(&k->refusal, OAI_KEEP_MAX);
	cs_buf_init(&k->reasoning, OAI_KEEP_MAX);
	cs_buf_init(&k->tools, OAI_KEEP_MAX);
	k->usage.prompt = k->usage.completion = CS_USAGE_NONE;
}

static void
oai_kept_cleanup(struct cs_enc *e)
{
	struct oai_kept *k = e->priv;

	cs_buf_free(&k->content);
	cs_buf_free(&k->refusal);
	cs_buf_free(&k->reasoning);
	cs_buf_free(&k->tools);
}

/* Deferred: keep the event; errors never get here (stream.c turns them
 * into HTTP statuses). */
static enum cs_err
oai_keep(struct cs_enc *e, const struct cs_event *ev, struct cs_buf *out)
{
	struct oai_kept *k = e->priv;
	struct cs_jsonw w;
	enum cs_err r;

	(void)out;
	e->seq++;
	switch (ev->type) {
	case CS_EV_TEXT:
		return cs_buf_append(ev->kind == CS_TEXT_REFUSAL ? &k->refusal :
		        ev->kind == CS_TEXT_REASONING ? &k->reasoning :
		                                        &k->content,
		    ev->text, ev->text_len);
	case CS_EV_TOOL_CALL:
		cs_jsonw_init(&w, &k->tools);
		if (k->o.n_tools > 0)
			cs_jsonw_put(&w, ",", 1);
		put_tool_call(&w, -1, ev);
		if ((r = cs_jsonw_end(&w)) == CS_OK)
			k->o.n_tools++;
		return r;
	case CS_EV_FINISH:
		k->finish = oai_finish(ev->finish_reason);
		if (ev->tokens != NULL)
			k->usage = *ev->tokens;
		return CS_OK;
	case CS_EV_ERROR: return CS_OK;
	}
	return CS_EBADINPUT;
}

/* "key":"text" if any was kept, else "key":null */
static void
put_kept(struct cs_jsonw *w, const char *key, const struct cs_buf *b)
{
	cs_jsonw_key(w, key);
	if (b->len == 0)
		cs_jsonw_null(w);
	else
		cs_jsonw_strn(w, b->data, b->len);
}

static enum cs_err
oai_completion(struct cs_enc *e, struct cs_buf *out)
{
	struct oai_kept *k = e->priv;
	struct cs_jsonw w;

	cs_jsonw_init(&w, out);
	put_head(e, &w, "chat.completion");
	cs_jsonw_key(&w, "choices");
	cs_jsonw_arr(&w);
	cs_jsonw_obj(&w);
	cs_jsonw_kint(&w, "index", 0);
	cs_jsonw_key(&w, "message");
	cs_jsonw_obj(&w);
	cs_jsonw_kstr(&w, "role", "assistant");
	put_kept(&w, "content", &k->content);
	put_kept(&w, "refusal", &k->refusal);
	if (k->reasoning.len > 0)
		put_kept(&w, "reasoning_content", &k->reasoning);
	if (k->o.n_tools > 0) {
		cs_jsonw_key(&w, "tool_calls");
		cs_jsonw_arr(&w);
		cs_jsonw_raw(&w, k->tools.data, k->tools.len);
		cs_jsonw_arr_end(&w);
	}
	cs_jsonw_obj_end(&w);
	cs_jsonw_key(&w, "logprobs");
	cs_jsonw_null(&w);
	cs_jsonw_kstr(&w, "finish_reason", k->finish ? k->finish : "stop");
	cs_jsonw_obj_end(&w);
	cs_jsonw_arr_end(&w);
	put_usage(&w, &k->usage);
	cs_jsonw_obj_end(&w);
	cs_jsonw_put(&w, "\n", 1);
	return cs_jsonw_end(&w);
}

const struct cs_encoder cs_encoder_openai = {
	.name = "openai",
	.headers =
	    "Content-Type: text/event-stream; charset=utf-8\r\n" CS_STREAM_HEADERS,
	.sse = 1,
	.state_size = sizeof(struct oai),
	.event = oai_chunk,
	.error_body = cs_encoder_openai_error_body,
};

const struct cs_encoder cs_encoder_openai_json = {
	.name = "openai-json",
	.headers = "Content-Type: application/json\r\n"
	           "Cache-Control: no-store\r\n"
	           "X-Content-Type-Options: nosniff\r\n",
	.deferred = 1,
	.state_size = sizeof(struct oai_kept),
	.init = oai_kept_init,
	.cleanup = oai_kept_cleanup,
	.event = oai_keep,
	.done = oai_completion,
	.error_body = cs_encoder_openai_error_body,
};
