/*
 * encoders/encoder.c — what every encoder shares: the state the table
 * sizes, the default ops (encoder.h says which), the SSE framing, the
 * native usage object and the JSON error body.
 */
#include <stdlib.h>

#include "encoder.h"

enum cs_err
cs_enc_init(struct cs_enc *e, const struct cs_encoder *ops)
{
	cs_enc_free(e);
	e->ops = ops;
	if (ops->state_size == 0)
		return CS_OK;
	if ((e->priv = calloc(1, ops->state_size)) == NULL)
		return CS_ENOMEM;
	if (ops->init != NULL)
		ops->init(e);
	return CS_OK;
}

void
cs_enc_free(struct cs_enc *e)
{
	if (e == NULL || e->priv == NULL)
		return;
	if (e->ops->cleanup != NULL)
		e->ops->cleanup(e);
	free(e->priv);
	e->priv = NULL;
}

/* CS_ENOMEM when the state the encoder needs could not be made. */
static enum cs_err
ready(const struct cs_enc *e)
{
	return e->ops->state_size > 0 && e->priv == NULL ? CS_ENOMEM : CS_OK;
}

/* After a failed op: out and the event count as they were before it (no
 * partial frame). */
static enum cs_err
undo(struct cs_enc *e, unsigned long seq, struct cs_buf *out, size_t len,
    enum cs_err r)
{
	if (r != CS_OK) {
		e->seq = seq;
		cs_buf_cut(out, len);
	}
	return r;
}

void
cs_enc_sse_event(struct cs_jsonw *w, const char *name)
{
	cs_jsonw_put(w, "event: ", 7);
	cs_jsonw_puts(w, name);
	cs_jsonw_put(w, "\n", 1);
}

void
cs_enc_sse_data(struct cs_jsonw *w)
{
	cs_jsonw_put(w, "data: ", 6);
}

void
cs_enc_sse_end(struct cs_jsonw *w)
{
	cs_jsonw_put(w, "\n\n", 2);
}

/* The end marker of the SSE protocols: OpenAI's chunks and the AI SDK's
 * UI stream end with it, the native stream after its id line. */
void
cs_enc_sse_done(struct cs_jsonw *w)
{
	cs_enc_sse_data(w);
	cs_jsonw_put(w, "[DONE]", 6);
	cs_enc_sse_end(w);
}

/*
 * The SSE keep-alive: a comment line alone, with no blank line after it.
 * A blank line ends an event, and some parsers
 * (@microsoft/fetch-event-source) hand every blank line to the
 * application as a message, even one with no data, so ": keep-alive\n\n"
 * reached their onmessage as data "" (JSON.parse throws, the library
 * re-posts the chat).  Per the WHATWG grammar a comment belongs to the
 * event after it, and every event ends with its own blank line, so
 * nothing is lost; each event is written whole, so a comment never lands
 * inside one.
 */
static enum cs_err
default_keepalive(struct cs_enc *e, struct cs_buf *out)
{
	return e->ops->sse ? cs_buf_puts(out, ": keep-alive\n") : CS_OK;
}

static enum cs_err
default_done(struct cs_enc *e, struct cs_buf *out)
{
	struct cs_jsonw w;

	if (!e->ops->sse)
		return CS_OK;
	cs_jsonw_init(&w, out);
	cs_enc_sse_done(&w);
	return cs_jsonw_end(&w);
}

typedef enum cs_err (*out_op)(struct cs_enc *e, struct cs_buf *out);

/* op, or dflt when the encoder has none. */
static enum cs_err
run(struct cs_enc *e, out_op op, out_op dflt, struct cs_buf *out)
{
	unsigned long seq = e->seq;
	size_t len = out->len;
	enum cs_err r;

	if ((r = ready(e)) != CS_OK)
		return r;
	return undo(e, seq, out, len, (op != NULL ? op : dflt)(e, out));
}

/* The default prologue is a keep-alive too: with SSE the headers go out
 * with a first byte. */
enum cs_err
cs_enc_prologue(struct cs_enc *e, struct cs_buf *out)
{
	return run(e, e->ops->prologue, default_keepalive, out);
}

enum cs_err
cs_enc_keepalive(struct cs_enc *e, struct cs_buf *out)
{
	return run(e, e->ops->keepalive, default_keepalive, out);
}

enum cs_err
cs_enc_done(struct cs_enc *e, struct cs_buf *out)
{
	return run(e, e->ops->done, default_done, out);
}

enum cs_err
cs_enc_event(struct cs_enc *e, const struct cs_event *ev, struct cs_buf *out)
{
	unsigned long seq = e->seq;
	size_t len = out->len;
	enum cs_err r;

	if ((r = ready(e)) != CS_OK)
		return r;
	return undo(e, seq, out, len, e->ops->event(e, ev, out));
}

const char *
cs_enc_error_content_type(const struct cs_enc *e)
{
	return e->ops->error_content_type != NULL ? e->ops->error_content_type :
	                                            "application/json";
}

enum cs_err
cs_enc_error_body(const struct cs_enc *e, const char *type, const char *message,
    struct cs_buf *out)
{
	size_t len = out->len;
	enum cs_err r;

	r = (e->ops->error_body != NULL ?
	        e->ops->error_body :
	        cs_encoder_json_error_body)(type, message, out);
	if (r != CS_OK)
		cs_buf_cut(out, len);
	return r;
}

void
cs_enc_error_object(struct cs_jsonw *w, const char *type, const char *message)
{
	cs_jsonw_obj(w);
	cs_jsonw_key(w, "error");
	cs_jsonw_obj(w);
	cs_jsonw_kstr(w, "type", type);
	cs_jsonw_kstr(w, "message", message);
	cs_jsonw_obj_end(w);
	cs_jsonw_obj_end(w);
}

enum cs_err
cs_encoder_json_error_body(
    const char *type, const char *message, struct cs_buf *out)
{
	struct cs_jsonw w;

	cs_jsonw_init(&w, out);
	cs_enc_error_object(&w, type, message);
	return cs_jsonw_end(&w);
}

/* "key":N, or null when unknown (left out when optional). */
static void
usage_count(struct cs_jsonw *w, const char *key, long long n, int optional)
{
	if (n == CS_USAGE_NONE && optional)
		return;
	cs_jsonw_key(w, key);
	if (n == CS_USAGE_NONE)
		cs_jsonw_null(w);
	else
		cs_jsonw_int(w, n);
}

void
cs_enc_usage(struct cs_jsonw *w, const struct cs_usage *u)
{
	if (u == NULL) {
		cs_jsonw_null(w);
		return;
	}
	cs_jsonw_obj(w);
	usage_count(w, "prompt_tokens", u->prompt, 0);
	usage_count(w, "completion_tokens", u->completion, 0);
	usage_count(w, "total_tokens", u->total, 0);
	usage_count(w, "cached_tokens", u->cached, 1);
	usage_count(w, "reasoning_tokens", u->reasoning, 1);
	cs_jsonw_obj_end(w);
}

enum cs_err
cs_encoder_usage_json(const struct cs_usage *u, struct cs_buf *out)
{
	struct cs_jsonw w;

	cs_jsonw_init(&w, out);
	cs_enc_usage(&w, u);
	return cs_jsonw_end(&w);
}
