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
 * are kept (at most OAI_KEEP_MAX bytes) and done writes one
 * chat.completion object.
 *
 * Errors are {"error":{"message","type","param","code"}} with OpenAI's
 * types; the native type becomes the code (rate_limited is
 * rate_limit_exceeded).
 */
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "encoder.h"

#define OAI_KEEP_MAX  (4 * 1024 * 1024)  /* a deferred answer's text */
#define OAI_HEAD_MAX  (CS_MAX_NAME * 6 + 128)

struct oai {
	struct cs_buf head;      /* "id":...,"object":...,"created","model" */
	int    role_sent;
	unsigned long n_tools;
	/* deferred only */
	struct cs_buf content, refusal, reasoning, tools;
	const char *finish;      /* OpenAI's spelling, static */
	struct cs_usage usage;   /* prompt and completion read */
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
	    strcmp(type, "not_found") == 0 || strcmp(type, "forbidden") == 0)
		return "invalid_request_error";
	if (strcmp(type, "rate_limited") == 0)
		return "rate_limit_exceeded";
	if (strcmp(type, "internal_error") == 0)
		return "server_error";
	return "api_error";
}

/* The code: the native type, in OpenAI's words where it has them. */
static const char *
oai_error_code(const char *type)
{
	return strcmp(type, "rate_limited") == 0 ? "rate_limit_exceeded" :
	    type;
}

static enum cs_err
oai_error_body(const char *type, const char *message, struct cs_buf *out)
{
	enum cs_err r;

	if ((r = cs_buf_puts(out, "{\"error\":{\"message\":\"")) != CS_OK ||
	    (r = cs_buf_json_str(out, message, strlen(message))) != CS_OK ||
	    (r = cs_buf_puts(out, "\",\"type\":\"")) != CS_OK ||
	    (r = cs_buf_puts(out, oai_error_type(type))) != CS_OK ||
	    (r = cs_buf_puts(out, "\",\"param\":null,\"code\":\"")) != CS_OK ||
	    (r = cs_buf_puts(out, oai_error_code(type))) != CS_OK)
		return r;
	return cs_buf_puts(out, "\"}}");
}

static void
oai_cleanup(struct cs_enc *e)
{
	struct oai *o = e->priv;

	if (o == NULL)
		return;
	cs_buf_free(&o->head);
	cs_buf_free(&o->content);
	cs_buf_free(&o->refusal);
	cs_buf_free(&o->reasoning);
	cs_buf_free(&o->tools);
	free(o);
	e->priv = NULL;
}

/* The state, made on first use with the fields every object starts with. */
static struct oai *
oai_state(struct cs_enc *e, const char *object)
{
	struct oai *o = e->priv;
	const char *model = e->model ? e->model : "";

	if (o != NULL)
		return o;
	if ((o = calloc(1, sizeof(*o))) == NULL)
		return NULL;
	cs_buf_init(&o->head, OAI_HEAD_MAX);
	cs_buf_init(&o->content, OAI_KEEP_MAX);
	cs_buf_init(&o->refusal, OAI_KEEP_MAX);
	cs_buf_init(&o->reasoning, OAI_KEEP_MAX);
	cs_buf_init(&o->tools, OAI_KEEP_MAX);
	o->usage.prompt = o->usage.completion = CS_USAGE_NONE;
	e->priv = o;
	if (cs_buf_printf(&o->head, "\"id\":\"chatcmpl-%s\",\"object\":\"%s\","
	    "\"created\":%lld,\"model\":\"", e->stream_id, object,
	    e->created) != CS_OK ||
	    cs_buf_json_str(&o->head, model, strlen(model)) != CS_OK ||
	    cs_buf_puts(&o->head, "\"") != CS_OK) {
		oai_cleanup(e);
		return NULL;
	}
	return o;
}

/* "key":"escaped s" (s NULL → "") */
static enum cs_err
put_kv(struct cs_buf *out, const char *key, const char *s, size_t n)
{
	enum cs_err r;

	if ((r = cs_buf_printf(out, "\"%s\":\"", key)) != CS_OK ||
	    (r = cs_buf_json_str(out, s ? s : "", s ? n : 0)) != CS_OK)
		return r;
	return cs_buf_puts(out, "\"");
}

/* {"index":N,"id":...,"type":"function","function":{name,arguments}};
 * without index (index < 0) in a chat.completion message. */
static enum cs_err
put_tool_call(struct cs_buf *out, long index, const struct cs_event *ev)
{
	enum cs_err r;

	if ((r = index < 0 ? cs_buf_puts(out, "{") : cs_buf_printf(out,
	    "{\"index\":%ld,", index)) != CS_OK ||
	    (r = put_kv(out, "id", ev->tool_id, ev->tool_id ?
	    strlen(ev->tool_id) : 0)) != CS_OK ||
	    (r = cs_buf_puts(out, ",\"type\":\"function\",\"function\":{"))
	    != CS_OK ||
	    (r = put_kv(out, "name", ev->tool_name, ev->tool_name ?
	    strlen(ev->tool_name) : 0)) != CS_OK ||
	    (r = cs_buf_puts(out, ",")) != CS_OK ||
	    (r = put_kv(out, "arguments", ev->tool_args, ev->tool_args ?
	    strlen(ev->tool_args) : 0)) != CS_OK)
		return r;
	return cs_buf_puts(out, "}}");
}

/* "usage":{...} or "usage":null; total is the sum, as OpenAI's. */
static enum cs_err
put_usage(struct cs_buf *out, const struct cs_usage *u)
{
	long long prompt, completion;

	prompt = u == NULL ? CS_USAGE_NONE : u->prompt;
	completion = u == NULL ? CS_USAGE_NONE : u->completion;
	if (prompt < 0 && completion < 0)
		return cs_buf_puts(out, "\"usage\":null");
	if (prompt < 0)
		prompt = 0;
	if (completion < 0)
		completion = 0;
	return cs_buf_printf(out, "\"usage\":{\"prompt_tokens\":%lld,"
	    "\"completion_tokens\":%lld,\"total_tokens\":%lld}", prompt,
	    completion, prompt + completion);
}

static const char *
text_key(const struct cs_event *ev)
{
	if (ev->kind == CS_TEXT_REFUSAL)
		return "refusal";
	return ev->kind == CS_TEXT_REASONING ? "reasoning_content" : "content";
}

/* The delta's members for a text or tool-call event. */
static enum cs_err
put_delta(struct oai *o, const struct cs_event *ev, struct cs_buf *out)
{
	enum cs_err r;

	if (!o->role_sent) {
		o->role_sent = 1;
		if ((r = cs_buf_puts(out, "\"role\":\"assistant\",")) != CS_OK)
			return r;
	}
	if (ev->type == CS_EV_TEXT)
		return put_kv(out, text_key(ev), ev->text, ev->text_len);
	if ((r = cs_buf_puts(out, "\"tool_calls\":[")) != CS_OK ||
	    (r = put_tool_call(out, (long)o->n_tools++, ev)) != CS_OK)
		return r;
	return cs_buf_puts(out, "]");
}

static enum cs_err
chunk_event(struct cs_enc *e, struct oai *o, const struct cs_event *ev,
    struct cs_buf *out)
{
	enum cs_err r;

	if (ev->type == CS_EV_ERROR) {
		if ((r = cs_buf_puts(out, "data: ")) != CS_OK ||
		    (r = oai_error_body(ev->error_type, ev->error_message,
		    out)) != CS_OK)
			return r;
		return cs_buf_puts(out, "\n\n");
	}
	if ((r = cs_buf_puts(out, "data: {")) != CS_OK ||
	    (r = cs_buf_append(out, o->head.data, o->head.len)) != CS_OK ||
	    (r = cs_buf_puts(out, ",\"choices\":[{\"index\":0,\"delta\":{"))
	    != CS_OK)
		return r;
	if (ev->type != CS_EV_FINISH && (r = put_delta(o, ev, out)) != CS_OK)
		return r;
	if ((r = cs_buf_printf(out, "},\"logprobs\":null,\"finish_reason\":"
	    "%s%s%s}]}\n\n", ev->type == CS_EV_FINISH ? "\"" : "",
	    ev->type == CS_EV_FINISH ? oai_finish(ev->finish_reason) : "null",
	    ev->type == CS_EV_FINISH ? "\"" : "")) != CS_OK)
		return r;
	if (ev->type != CS_EV_FINISH || !(e->flags & CS_ENC_INCLUDE_USAGE))
		return CS_OK;
	if ((r = cs_buf_puts(out, "data: {")) != CS_OK ||
	    (r = cs_buf_append(out, o->head.data, o->head.len)) != CS_OK ||
	    (r = cs_buf_puts(out, ",\"choices\":[],")) != CS_OK ||
	    (r = put_usage(out, ev->tokens)) != CS_OK)
		return r;
	return cs_buf_puts(out, "}\n\n");
}

static enum cs_err
oai_chunk(struct cs_enc *e, const struct cs_event *ev, struct cs_buf *out)
{
	struct oai *o = oai_state(e, "chat.completion.chunk");

	if (o == NULL)
		return CS_ENOMEM;
	e->seq++;
	return chunk_event(e, o, ev, out);
}

static enum cs_err
oai_nothing(struct cs_enc *e, struct cs_buf *out)
{
	(void)e;
	(void)out;
	return CS_OK;
}

/* Deferred: keep the event in o; errors never get here (stream.c turns
 * them into HTTP statuses). */
static enum cs_err
oai_keep(struct cs_enc *e, const struct cs_event *ev, struct cs_buf *out)
{
	struct oai *o = oai_state(e, "chat.completion");
	struct cs_buf *b;
	enum cs_err r;

	(void)out;
	if (o == NULL)
		return CS_ENOMEM;
	e->seq++;
	switch (ev->type) {
	case CS_EV_TEXT:
		b = ev->kind == CS_TEXT_REFUSAL ? &o->refusal :
		    ev->kind == CS_TEXT_REASONING ? &o->reasoning : &o->content;
		return cs_buf_append(b, ev->text, ev->text_len);
	case CS_EV_TOOL_CALL:
		if (o->n_tools > 0 && (r = cs_buf_puts(&o->tools, ","))
		    != CS_OK)
			return r;
		o->n_tools++;
		return put_tool_call(&o->tools, -1, ev);
	case CS_EV_FINISH:
		o->finish = oai_finish(ev->finish_reason);
		if (ev->tokens != NULL)
			o->usage = *ev->tokens;
		return CS_OK;
	case CS_EV_ERROR:
		return CS_OK;
	}
	return CS_EBADINPUT;
}

/* "key":"text" if any was kept, else "key":null */
static enum cs_err
put_kept(struct cs_buf *out, const char *key, const struct cs_buf *b)
{
	if (b->len == 0)
		return cs_buf_printf(out, "\"%s\":null", key);
	return put_kv(out, key, b->data, b->len);
}

static enum cs_err
oai_completion(struct cs_enc *e, struct cs_buf *out)
{
	struct oai *o = oai_state(e, "chat.completion");
	enum cs_err r;

	if (o == NULL)
		return CS_ENOMEM;
	if ((r = cs_buf_puts(out, "{")) != CS_OK ||
	    (r = cs_buf_append(out, o->head.data, o->head.len)) != CS_OK ||
	    (r = cs_buf_puts(out, ",\"choices\":[{\"index\":0,\"message\":"
	    "{\"role\":\"assistant\",")) != CS_OK ||
	    (r = put_kept(out, "content", &o->content)) != CS_OK ||
	    (r = cs_buf_puts(out, ",")) != CS_OK ||
	    (r = put_kept(out, "refusal", &o->refusal)) != CS_OK)
		return r;
	if (o->reasoning.len > 0 && ((r = cs_buf_puts(out, ",")) != CS_OK ||
	    (r = put_kept(out, "reasoning_content", &o->reasoning)) != CS_OK))
		return r;
	if (o->n_tools > 0 && ((r = cs_buf_puts(out, ",\"tool_calls\":["))
	    != CS_OK || (r = cs_buf_append(out, o->tools.data,
	    o->tools.len)) != CS_OK || (r = cs_buf_puts(out, "]")) != CS_OK))
		return r;
	if ((r = cs_buf_printf(out, "},\"logprobs\":null,\"finish_reason\":"
	    "\"%s\"}],", o->finish ? o->finish : "stop")) != CS_OK ||
	    (r = put_usage(out, &o->usage))
	    != CS_OK)
		return r;
	return cs_buf_puts(out, "}\n");
}

const struct cs_encoder cs_encoder_openai = {
	.name = "openai",
	.headers = "Content-Type: text/event-stream; charset=utf-8\r\n"
	    CS_STREAM_HEADERS,
	.prologue = cs_encoder_sse_keepalive,  /* the headers go out */
	.event = oai_chunk,
	.keepalive = cs_encoder_sse_keepalive,
	.done = cs_encoder_sse_done,
	.cleanup = oai_cleanup,
	.error_content_type = "application/json",
	.error_body = oai_error_body,
};

const struct cs_encoder cs_encoder_openai_json = {
	.name = "openai-json",
	.headers = "Content-Type: application/json\r\n"
	    "Cache-Control: no-store\r\n"
	    "X-Content-Type-Options: nosniff\r\n",
	.prologue = oai_nothing,
	.event = oai_keep,
	.keepalive = oai_nothing,
	.done = oai_completion,
	.cleanup = oai_cleanup,
	.error_content_type = "application/json",
	.error_body = oai_error_body,
	.deferred = 1,
};
