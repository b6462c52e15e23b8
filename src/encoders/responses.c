/*
 * encoders/responses.c — OpenAI's Responses API, so that clients written
 * for it (the openai SDKs' responses.create and responses.stream, the AI
 * SDK's default OpenAI model, agent frameworks) work unchanged
 * (docs/protocol.md "OpenAI Responses API").
 *
 * The answer is a list of output items: a message (parts output_text and
 * refusal), a reasoning item (a reasoning_text part) and a function_call
 * per tool call.  Text of one kind goes on in the open part; text of
 * another kind closes it (and the item, if the kind belongs to another
 * item type) and opens the next.  A tool call is one whole function_call
 * item: added, its arguments as one delta, done.
 *
 * cs_encoder_responses (stream: true): every event is "event: TYPE" and
 * "data: {"type":TYPE,"sequence_number":N,...}" with N counting from 0:
 * response.created and response.in_progress as the prologue, then per
 * item output_item.added, content_part.added, the deltas, the .done
 * events, output_item.done, and at the finish response.completed (or
 * response.incomplete with the reason: max_output_tokens for a finish of
 * length, content_filter) carrying every item and the usage.  An error
 * after the start is an "error" event (the SDKs throw on it) followed by
 * response.failed with the error and the items so far.  Keep-alives are
 * SSE comments; there is no [DONE] (OpenAI sends none here).
 *
 * cs_encoder_responses_json (stream false or absent): deferred; the same
 * state is kept without writing events, and done writes the response
 * object response.completed would carry.
 *
 * Everything kept is bounded (RESP_KEEP_MAX each) and appended only, so a
 * frame that fails is undone by restoring the scalars and the lengths.
 */
#include <stdio.h>
#include <string.h>

#include "encoder.h"

#define RESP_KEEP_MAX (4 * 1024 * 1024)
#define RESP_ID_MAX   (4 + CS_STREAM_ID_LEN + 1 + 20 + 1)

enum item {
	IT_NONE,
	IT_MESSAGE,
	IT_REASONING
};
enum part {
	P_NONE,
	P_TEXT,
	P_REFUSAL,
	P_REASONING
};

struct resp {
	unsigned long seq;     /* the next sequence_number */
	unsigned n_items;      /* items opened: the next output_index */
	enum item item;        /* the open item */
	enum part part;        /* the open part of the open item */
	unsigned n_parts;      /* parts opened in the open item */
	size_t text_at;        /* the open part's text starts here in text */
	size_t parts_at;       /* the open item's closed parts start here */
	const char *status;    /* of the response at the finish */
	const char *reason;    /* incomplete_details.reason, or NULL */
	struct cs_usage usage; /* from the finish */
	struct cs_buf text;    /* every part's text, in order */
	struct cs_buf parts;   /* closed parts' JSON, comma-separated */
	struct cs_buf output;  /* closed items' JSON, comma-separated */
	struct cs_buf scratch; /* a deferred answer's unsent events */
};

/* What an event may change, to undo a frame that failed. */
struct resp_mark {
	struct resp r;
	size_t text, parts, output;
};

static void
resp_init(struct cs_enc *e)
{
	struct resp *r = e->priv;

	cs_buf_init(&r->text, RESP_KEEP_MAX);
	cs_buf_init(&r->parts, RESP_KEEP_MAX);
	cs_buf_init(&r->output, RESP_KEEP_MAX);
	cs_buf_init(&r->scratch, RESP_KEEP_MAX + 4096);
	r->status = "completed";
	r->usage.prompt = r->usage.completion = CS_USAGE_NONE;
	r->usage.cached = r->usage.reasoning = CS_USAGE_NONE;
}

static void
resp_cleanup(struct cs_enc *e)
{
	struct resp *r = e->priv;

	cs_buf_free(&r->text);
	cs_buf_free(&r->parts);
	cs_buf_free(&r->output);
	cs_buf_free(&r->scratch);
}

static void
mark(const struct resp *r, struct resp_mark *m)
{
	m->r = *r;
	m->text = r->text.len;
	m->parts = r->parts.len;
	m->output = r->output.len;
}

static void
undo(struct resp *r, const struct resp_mark *m)
{
	struct cs_buf text = r->text, parts = r->parts, output = r->output;
	struct cs_buf scratch = r->scratch;

	*r = m->r;
	r->text = text, r->parts = parts, r->output = output;
	r->scratch = scratch;
	cs_buf_cut(&r->text, m->text);
	cs_buf_cut(&r->parts, m->parts);
	cs_buf_cut(&r->output, m->output);
}

/* The id of output item index: msg_, rs_ or fc_, the stream id, index. */
static void
item_id(const struct cs_enc *e, const char *prefix, unsigned index,
    char id[RESP_ID_MAX])
{
	snprintf(id, RESP_ID_MAX, "%s%s_%u", prefix, e->stream_id, index);
}

static const char *
item_prefix(enum item it)
{
	return it == IT_REASONING ? "rs_" : "msg_";
}

/* "event: TYPE\ndata: {"type":TYPE,"sequence_number":N (the caller
 * writes the rest and calls ev_end) */
static void
ev_begin(struct resp *r, struct cs_jsonw *w, const char *type)
{
	cs_enc_sse_event(w, type);
	cs_enc_sse_data(w);
	cs_jsonw_obj(w);
	cs_jsonw_kstr(w, "type", type);
	cs_jsonw_kint(w, "sequence_number", (long long)r->seq++);
}

static void
ev_end(struct cs_jsonw *w)
{
	cs_jsonw_obj_end(w);
	cs_enc_sse_end(w);
}

/* "item_id","output_index"[,"content_index"] of the open item and part */
static void
put_where(const struct cs_enc *e, const struct resp *r, struct cs_jsonw *w,
    int with_part)
{
	char id[RESP_ID_MAX];

	item_id(e, item_prefix(r->item), r->n_items - 1, id);
	cs_jsonw_kstr(w, "item_id", id);
	cs_jsonw_kint(w, "output_index", (long long)(r->n_items - 1));
	if (with_part)
		cs_jsonw_kint(w, "content_index", (long long)(r->n_parts - 1));
}

/* A content part of kind p holding text (n bytes). */
static void
put_part(struct cs_jsonw *w, enum part p, const char *text, size_t n)
{
	cs_jsonw_obj(w);
	if (p == P_REFUSAL) {
		cs_jsonw_kstr(w, "type", "refusal");
		cs_jsonw_key(w, "refusal");
		cs_jsonw_strn(w, text, n);
	} else {
		cs_jsonw_kstr(w, "type",
		    p == P_REASONING ? "reasoning_text" : "output_text");
		cs_jsonw_key(w, "text");
		cs_jsonw_strn(w, text, n);
	}
	if (p == P_TEXT) {
		cs_jsonw_key(w, "annotations");
		cs_jsonw_arr(w);
		cs_jsonw_arr_end(w);
		cs_jsonw_key(w, "logprobs");
		cs_jsonw_arr(w);
		cs_jsonw_arr_end(w);
	}
	cs_jsonw_obj_end(w);
}

static const char *
open_text(const struct resp *r, size_t *n)
{
	*n = r->text.len - r->text_at;
	return r->text.data != NULL ? r->text.data + r->text_at : "";
}

/* The open item whole, in status: its closed parts and the open one. */
static void
put_open_item(const struct cs_enc *e, const struct resp *r, struct cs_jsonw *w,
    const char *status)
{
	char id[RESP_ID_MAX];
	const char *t;
	size_t n;

	item_id(e, item_prefix(r->item), r->n_items - 1, id);
	cs_jsonw_obj(w);
	cs_jsonw_kstr(w, "id", id);
	cs_jsonw_kstr(
	    w, "type", r->item == IT_REASONING ? "reasoning" : "message");
	cs_jsonw_kstr(w, "status", status);
	if (r->item == IT_REASONING) {
		cs_jsonw_key(w, "summary");
		cs_jsonw_arr(w);
		cs_jsonw_arr_end(w);
	} else
		cs_jsonw_kstr(w, "role", "assistant");
	cs_jsonw_key(w, "content");
	cs_jsonw_arr(w);
	if (r->parts.len > r->parts_at) /* jsonw puts the commas */
		cs_jsonw_raw(
		    w, r->parts.data + r->parts_at, r->parts.len - r->parts_at);
	if (r->part != P_NONE) {
		t = open_text(r, &n);
		put_part(w, r->part, t, n);
	}
	cs_jsonw_arr_end(w);
	cs_jsonw_obj_end(w);
}

/* A function_call item for a tool-call event. */
static void
put_call_item(struct cs_jsonw *w, const char *id, const struct cs_event *ev,
    const char *args, const char *status)
{
	cs_jsonw_obj(w);
	cs_jsonw_kstr(w, "id", id);
	cs_jsonw_kstr(w, "type", "function_call");
	cs_jsonw_kstr(w, "status", status);
	cs_jsonw_kstr(w, "arguments", args);
	cs_jsonw_kstr(w, "call_id", ev->tool_id);
	cs_jsonw_kstr(w, "name", ev->tool_name);
	cs_jsonw_obj_end(w);
}

/* Start w appending to b, after a comma when b holds anything past from:
 * a closed part or item, kept for what carries them whole. */
static void
keep_begin(struct cs_buf *b, size_t from, struct cs_jsonw *w)
{
	cs_jsonw_init(w, b);
	if (b->len > from)
		cs_jsonw_put(w, ",", 1);
}

/* Close the open part: its .done and content_part.done; kept in parts. */
static enum cs_err
close_part(struct cs_enc *e, struct resp *r, struct cs_jsonw *w)
{
	static const char *const done[] = { NULL, "response.output_text.done",
		"response.refusal.done", "response.reasoning_text.done" };
	struct cs_jsonw k;
	const char *t;
	size_t n;

	if (r->part == P_NONE)
		return CS_OK;
	t = open_text(r, &n);
	ev_begin(r, w, done[r->part]);
	put_where(e, r, w, 1);
	cs_jsonw_key(w, r->part == P_REFUSAL ? "refusal" : "text");
	cs_jsonw_strn(w, t, n);
	if (r->part == P_TEXT) {
		cs_jsonw_key(w, "logprobs");
		cs_jsonw_arr(w);
		cs_jsonw_arr_end(w);
	}
	ev_end(w);
	ev_begin(r, w, "response.content_part.done");
	put_where(e, r, w, 1);
	cs_jsonw_key(w, "part");
	put_part(w, r->part, t, n);
	ev_end(w);
	keep_begin(&r->parts, r->parts_at, &k);
	put_part(&k, r->part, t, n);
	r->part = P_NONE;
	return cs_jsonw_end(&k);
}

/* Close the open item: output_item.done; kept in output. */
static enum cs_err
close_item(struct cs_enc *e, struct resp *r, struct cs_jsonw *w)
{
	struct cs_jsonw k;
	enum cs_err rc;

	if (r->item == IT_NONE)
		return CS_OK;
	if ((rc = close_part(e, r, w)) != CS_OK)
		return rc;
	ev_begin(r, w, "response.output_item.done");
	cs_jsonw_kint(w, "output_index", (long long)(r->n_items - 1));
	cs_jsonw_key(w, "item");
	put_open_item(e, r, w, "completed");
	ev_end(w);
	keep_begin(&r->output, 0, &k);
	put_open_item(e, r, &k, "completed");
	r->item = IT_NONE;
	r->parts_at = r->parts.len;
	return cs_jsonw_end(&k);
}

/* Open an item of kind it: output_item.added with it empty. */
static void
open_item(struct cs_enc *e, struct resp *r, enum item it, struct cs_jsonw *w)
{
	r->item = it;
	r->n_items++;
	r->n_parts = 0;
	r->parts_at = r->parts.len;
	ev_begin(r, w, "response.output_item.added");
	cs_jsonw_kint(w, "output_index", (long long)(r->n_items - 1));
	cs_jsonw_key(w, "item");
	put_open_item(e, r, w, "in_progress");
	ev_end(w);
}

static void
open_part(struct cs_enc *e, struct resp *r, enum part p, struct cs_jsonw *w)
{
	r->part = p;
	r->n_parts++;
	r->text_at = r->text.len;
	ev_begin(r, w, "response.content_part.added");
	put_where(e, r, w, 1);
	cs_jsonw_key(w, "part");
	put_part(w, p, "", 0);
	ev_end(w);
}

static enum cs_err
on_text(struct cs_enc *e, struct resp *r, const struct cs_event *ev,
    struct cs_jsonw *w)
{
	static const char *const delta[] = { NULL, "response.output_text.delta",
		"response.refusal.delta", "response.reasoning_text.delta" };
	enum part p = ev->kind == CS_TEXT_REFUSAL ? P_REFUSAL :
	    ev->kind == CS_TEXT_REASONING         ? P_REASONING :
	                                            P_TEXT;
	enum item it = p == P_REASONING ? IT_REASONING : IT_MESSAGE;
	enum cs_err rc;

	if (r->item != it && (rc = close_item(e, r, w)) != CS_OK)
		return rc;
	if (r->item == it && r->part != p &&
	    (rc = close_part(e, r, w)) != CS_OK)
		return rc;
	if (r->item == IT_NONE)
		open_item(e, r, it, w);
	if (r->part == P_NONE)
		open_part(e, r, p, w);
	if ((rc = cs_buf_append(&r->text, ev->text, ev->text_len)) != CS_OK)
		return rc;
	ev_begin(r, w, delta[p]);
	put_where(e, r, w, 1);
	cs_jsonw_key(w, "delta");
	cs_jsonw_strn(w, ev->text, ev->text_len);
	if (p == P_TEXT) {
		cs_jsonw_key(w, "logprobs");
		cs_jsonw_arr(w);
		cs_jsonw_arr_end(w);
	}
	ev_end(w);
	return CS_OK;
}

static enum cs_err
on_tool_call(struct cs_enc *e, struct resp *r, const struct cs_event *ev,
    struct cs_jsonw *w)
{
	const char *args = ev->tool_args != NULL ? ev->tool_args : "";
	char id[RESP_ID_MAX];
	struct cs_jsonw k;
	enum cs_err rc;
	unsigned at;

	if ((rc = close_item(e, r, w)) != CS_OK)
		return rc;
	at = r->n_items++;
	item_id(e, "fc_", at, id);
	ev_begin(r, w, "response.output_item.added");
	cs_jsonw_kint(w, "output_index", (long long)at);
	cs_jsonw_key(w, "item");
	put_call_item(w, id, ev, "", "in_progress");
	ev_end(w);
	ev_begin(r, w, "response.function_call_arguments.delta");
	cs_jsonw_kstr(w, "item_id", id);
	cs_jsonw_kint(w, "output_index", (long long)at);
	cs_jsonw_kstr(w, "delta", args);
	ev_end(w);
	ev_begin(r, w, "response.function_call_arguments.done");
	cs_jsonw_kstr(w, "item_id", id);
	cs_jsonw_kint(w, "output_index", (long long)at);
	cs_jsonw_kstr(w, "name", ev->tool_name);
	cs_jsonw_kstr(w, "arguments", args);
	ev_end(w);
	ev_begin(r, w, "response.output_item.done");
	cs_jsonw_kint(w, "output_index", (long long)at);
	cs_jsonw_key(w, "item");
	put_call_item(w, id, ev, args, "completed");
	ev_end(w);
	keep_begin(&r->output, 0, &k);
	put_call_item(&k, id, ev, args, "completed");
	return cs_jsonw_end(&k);
}

/* "usage":{input_tokens, input_tokens_details, output_tokens,
 * output_tokens_details, total_tokens}, or null when nothing is known. */
static void
put_usage(struct cs_jsonw *w, const struct cs_usage *u)
{
	long long in = u->prompt, out = u->completion;

	cs_jsonw_key(w, "usage");
	if (in < 0 && out < 0) {
		cs_jsonw_null(w);
		return;
	}
	in = in < 0 ? 0 : in;
	out = out < 0 ? 0 : out;
	cs_jsonw_obj(w);
	cs_jsonw_kint(w, "input_tokens", in);
	cs_jsonw_key(w, "input_tokens_details");
	cs_jsonw_obj(w);
	cs_jsonw_kint(w, "cached_tokens", u->cached < 0 ? 0 : u->cached);
	cs_jsonw_obj_end(w);
	cs_jsonw_kint(w, "output_tokens", out);
	cs_jsonw_key(w, "output_tokens_details");
	cs_jsonw_obj(w);
	cs_jsonw_kint(
	    w, "reasoning_tokens", u->reasoning < 0 ? 0 : u->reasoning);
	cs_jsonw_obj_end(w);
	cs_jsonw_kint(w, "total_tokens", in + out);
	cs_jsonw_obj_end(w);
}

/* What the response says beside its output. */
struct resp_end {
	const char *status;
	const char *reason;     /* incomplete_details.reason, or NULL */
	const char *error_type; /* a native type (failed), or NULL */
	const char *error_message;
	int with_open; /* the open item goes into output, incomplete */
};

/* The response object. */
static void
put_response(const struct cs_enc *e, const struct resp *r, struct cs_jsonw *w,
    const struct resp_end *end)
{
	char id[sizeof("resp_") + CS_STREAM_ID_LEN];

	snprintf(id, sizeof(id), "resp_%s", e->stream_id);
	cs_jsonw_obj(w);
	cs_jsonw_kstr(w, "id", id);
	cs_jsonw_kstr(w, "object", "response");
	cs_jsonw_kint(w, "created_at", e->created);
	cs_jsonw_kstr(w, "status", end->status);
	cs_jsonw_key(w, "error");
	if (end->error_type != NULL) {
		cs_jsonw_obj(w);
		cs_jsonw_kstr(w, "code", cs_enc_openai_code(end->error_type));
		cs_jsonw_kstr(w, "message", end->error_message);
		cs_jsonw_obj_end(w);
	} else
		cs_jsonw_null(w);
	cs_jsonw_key(w, "incomplete_details");
	if (end->reason != NULL) {
		cs_jsonw_obj(w);
		cs_jsonw_kstr(w, "reason", end->reason);
		cs_jsonw_obj_end(w);
	} else
		cs_jsonw_null(w);
	cs_jsonw_kstr(w, "model", e->model != NULL ? e->model : "");
	cs_jsonw_key(w, "output");
	cs_jsonw_arr(w);
	if (r->output.len > 0)
		cs_jsonw_raw(w, r->output.data, r->output.len);
	if (end->with_open && r->item != IT_NONE)
		put_open_item(e, r, w, "incomplete");
	cs_jsonw_arr_end(w);
	cs_jsonw_key(w, "parallel_tool_calls");
	cs_jsonw_bool(w, 1);
	cs_jsonw_kstr(w, "tool_choice", "auto");
	cs_jsonw_key(w, "tools");
	cs_jsonw_arr(w);
	cs_jsonw_arr_end(w);
	cs_jsonw_key(w, "store");
	cs_jsonw_bool(w, 0);
	cs_jsonw_key(w, "metadata");
	cs_jsonw_obj(w);
	cs_jsonw_obj_end(w);
	put_usage(w, &r->usage);
	cs_jsonw_obj_end(w);
}

/* A lifecycle event: {"type","sequence_number","response":{...}}. */
static void
put_lifecycle(const struct cs_enc *e, struct resp *r, struct cs_jsonw *w,
    const char *type, const struct resp_end *end)
{
	ev_begin(r, w, type);
	cs_jsonw_key(w, "response");
	put_response(e, r, w, end);
	ev_end(w);
}

static enum cs_err
resp_prologue(struct cs_enc *e, struct cs_buf *out)
{
	static const struct resp_end going = { "in_progress", NULL, NULL, NULL,
		0 };
	struct resp *r = e->priv;
	struct cs_jsonw w;

	cs_jsonw_init(&w, out);
	put_lifecycle(e, r, &w, "response.created", &going);
	put_lifecycle(e, r, &w, "response.in_progress", &going);
	return cs_jsonw_end(&w);
}

static enum cs_err
on_finish(struct cs_enc *e, struct resp *r, const struct cs_event *ev,
    struct cs_jsonw *w)
{
	struct resp_end end = { "completed", NULL, NULL, NULL, 0 };
	const char *f = ev->finish_reason != NULL ? ev->finish_reason : "";
	enum cs_err rc;

	if ((rc = close_item(e, r, w)) != CS_OK)
		return rc;
	if (strcmp(f, "length") == 0)
		end.reason = "max_output_tokens";
	else if (strcmp(f, "content_filter") == 0)
		end.reason = "content_filter";
	if (end.reason != NULL)
		end.status = "incomplete";
	r->status = end.status;
	r->reason = end.reason;
	if (ev->tokens != NULL)
		r->usage = *ev->tokens;
	put_lifecycle(e, r, w,
	    end.reason != NULL ? "response.incomplete" : "response.completed",
	    &end);
	return CS_OK;
}

/* An error after the start: "error", then response.failed. */
static void
on_error(struct cs_enc *e, struct resp *r, const struct cs_event *ev,
    struct cs_jsonw *w)
{
	struct resp_end end = { "failed", NULL, ev->error_type,
		ev->error_message, 1 };

	ev_begin(r, w, "error");
	cs_jsonw_kstr(w, "code", cs_enc_openai_code(ev->error_type));
	cs_jsonw_kstr(w, "message", ev->error_message);
	cs_jsonw_key(w, "param");
	cs_jsonw_null(w);
	ev_end(w);
	put_lifecycle(e, r, w, "response.failed", &end);
}

static enum cs_err
resp_event(struct cs_enc *e, const struct cs_event *ev, struct cs_buf *out)
{
	struct resp *r = e->priv;
	struct resp_mark m;
	struct cs_jsonw w;
	enum cs_err rc = CS_OK;

	if (ev->type > CS_EV_ERROR)
		return CS_EBADINPUT;
	if (e->ops->deferred && ev->type == CS_EV_ERROR)
		return CS_OK; /* stream.c makes it an HTTP status */
	mark(r, &m);
	if (e->ops->deferred) { /* the JSON answer: no events written */
		cs_buf_reset(&r->scratch);
		out = &r->scratch;
	}
	e->seq++;
	cs_jsonw_init(&w, out);
	switch (ev->type) {
	case CS_EV_TEXT: rc = on_text(e, r, ev, &w); break;
	case CS_EV_TOOL_CALL: rc = on_tool_call(e, r, ev, &w); break;
	case CS_EV_FINISH: rc = on_finish(e, r, ev, &w); break;
	case CS_EV_ERROR: on_error(e, r, ev, &w); break;
	}
	if (rc == CS_OK)
		rc = cs_jsonw_end(&w);
	else
		(void)cs_jsonw_end(&w);
	if (rc != CS_OK)
		undo(r, &m);
	return rc;
}

/* Nothing marks the end but response.completed (or .incomplete, .failed). */
static enum cs_err
resp_done(struct cs_enc *e, struct cs_buf *out)
{
	(void)e, (void)out;
	return CS_OK;
}

/* The deferred answer: the response object. */
static enum cs_err
resp_json_done(struct cs_enc *e, struct cs_buf *out)
{
	struct resp *r = e->priv;
	struct resp_end end = { r->status, r->reason, NULL, NULL, 0 };
	struct cs_jsonw w;

	cs_jsonw_init(&w, out);
	put_response(e, r, &w, &end);
	cs_jsonw_put(&w, "\n", 1);
	return cs_jsonw_end(&w);
}

const struct cs_encoder cs_encoder_responses = {
	.name = "responses",
	.headers =
	    "Content-Type: text/event-stream; charset=utf-8\r\n" CS_STREAM_HEADERS,
	.sse = 1,
	.state_size = sizeof(struct resp),
	.init = resp_init,
	.cleanup = resp_cleanup,
	.prologue = resp_prologue,
	.event = resp_event,
	.done = resp_done,
	.error_body = cs_encoder_openai_error_body,
};

const struct cs_encoder cs_encoder_responses_json = {
	.name = "responses-json",
	.headers = "Content-Type: application/json\r\n"
	           "Cache-Control: no-store\r\n"
	           "X-Content-Type-Options: nosniff\r\n",
	.deferred = 1,
	.state_size = sizeof(struct resp),
	.init = resp_init,
	.cleanup = resp_cleanup,
	.event = resp_event,
	.done = resp_json_done,
	.error_body = cs_encoder_openai_error_body,
};
