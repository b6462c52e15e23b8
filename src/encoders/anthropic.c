/*
 * encoders/anthropic.c — Anthropic's Messages API, so that Anthropic
 * clients work unchanged whatever the upstream (docs/protocol.md
 * "Anthropic Messages API: /api/v1/messages").
 *
 * cs_encoder_anthropic (stream: true): typed SSE events, each
 * "event: NAME\ndata: {"type":"NAME",...}".  The prologue is
 * message_start (an empty message, usage 0); text goes into a "text"
 * content block (a refusal too), reasoning into a "thinking" block, and a
 * block is opened with content_block_start and closed with
 * content_block_stop when the kind changes or at the end; a tool call,
 * which arrives whole, is a tool_use block with one input_json_delta of
 * all its arguments.  The finish is message_delta (stop_reason, the
 * cumulative usage) and message_stop; nothing follows (no [DONE]).  An
 * error after the start is "event: error" with the error object (the SDK
 * throws APIError on it).  Keep-alives are Anthropic's ping event.
 *
 * cs_encoder_anthropic_json (stream false or absent): deferred; the
 * content blocks are kept (at most ANT_KEEP_MAX bytes) and done writes one
 * Message object.
 *
 * Errors are {"type":"error","error":{"type","message"}} with Anthropic's
 * types (ant_error_type); the status is the failure table's.
 */
#include <string.h>

#include <json-c/json.h>

#include "encoder.h"
#include "json_strict.h"

#define ANT_KEEP_MAX (4 * 1024 * 1024) /* a deferred answer's blocks */

enum ant_block {
	BLK_NONE,
	BLK_TEXT,
	BLK_THINKING
};

/* Which block is open, and its index (the next one's when none is). */
struct ant {
	enum ant_block open;
	unsigned long index;
};

/* The deferred encoder's: the blocks closed so far (comma-separated JSON),
 * the open block's text, the finish. */
struct ant_kept {
	struct ant a;
	struct cs_buf blocks;
	struct cs_buf cur;
	const char *stop_reason; /* static */
	struct cs_usage usage;
	int has_usage;
};

/* Anthropic's error type for a native one. */
static const char *
ant_error_type(const char *type)
{
	static const struct {
		const char *native, *ant;
	} map[] = {
		{ "invalid_request", "invalid_request_error" },
		{ "unauthorized", "authentication_error" },
		{ "forbidden", "permission_error" },
		{ "model_not_allowed", "permission_error" },
		{ "not_found", "not_found_error" },
		{ "model_not_found", "not_found_error" },
		{ "rate_limited", "rate_limit_error" },
		{ "budget_exceeded", "rate_limit_error" },
		{ "overloaded", "overloaded_error" },
		{ "server_busy", "overloaded_error" },
		{ "server_shutdown", "overloaded_error" },
		{ "state_unavailable", "overloaded_error" },
		{ "upstream_unavailable", "overloaded_error" },
		{ "upstream_timeout", "timeout_error" },
	};
	size_t i;

	for (i = 0; type != NULL && i < CS_ARRAY_LEN(map); i++)
		if (strcmp(type, map[i].native) == 0)
			return map[i].ant;
	return "api_error";
}

/* {"type":"error","error":{"type","message"}} */
static void
put_error(struct cs_jsonw *w, const char *type, const char *message)
{
	cs_jsonw_obj(w);
	cs_jsonw_kstr(w, "type", "error");
	cs_jsonw_key(w, "error");
	cs_jsonw_obj(w);
	cs_jsonw_kstr(w, "type", ant_error_type(type));
	cs_jsonw_kstr(w, "message", message);
	cs_jsonw_obj_end(w);
	cs_jsonw_obj_end(w);
}

static enum cs_err
ant_error_body(const char *type, const char *message, struct cs_buf *out)
{
	struct cs_jsonw w;

	cs_jsonw_init(&w, out);
	put_error(&w, type, message);
	return cs_jsonw_end(&w);
}

/* Native finish reasons onto Anthropic's stop_reason. */
static const char *
ant_stop_reason(const struct cs_event *ev)
{
	static const struct {
		const char *native, *ant;
	} map[] = {
		{ "length", "max_tokens" },
		{ "tool_calls", "tool_use" },
		{ "content_filter", "refusal" },
	};
	size_t i;

	if (ev->native_finish_reason != NULL &&
	    strcmp(ev->native_finish_reason, "stop_sequence") == 0)
		return "stop_sequence";
	for (i = 0; ev->finish_reason != NULL && i < CS_ARRAY_LEN(map); i++)
		if (strcmp(ev->finish_reason, map[i].native) == 0)
			return map[i].ant;
	return "end_turn";
}

/* "usage":{"input_tokens","output_tokens","cache_read_input_tokens"?}:
 * Anthropic counts cache reads apart from input_tokens; an unknown count
 * is 0, the cache reads are left out when unknown. */
static void
put_usage(struct cs_jsonw *w, const struct cs_usage *u)
{
	long long in = 0, out = 0, cached = CS_USAGE_NONE;

	if (u != NULL) {
		cached = u->cached;
		if (u->prompt >= 0)
			in = u->prompt - (cached > 0 ? cached : 0);
		if (in < 0)
			in = 0;
		if (u->completion >= 0)
			out = u->completion;
	}
	cs_jsonw_key(w, "usage");
	cs_jsonw_obj(w);
	cs_jsonw_kint(w, "input_tokens", in);
	cs_jsonw_kint(w, "output_tokens", out);
	if (cached >= 0)
		cs_jsonw_kint(w, "cache_read_input_tokens", cached);
	cs_jsonw_obj_end(w);
}

/* {"id":"msg_<stream id>","type":"message","role":"assistant","model"
 * (the caller goes on and closes the object) */
static void
put_message_head(const struct cs_enc *e, struct cs_jsonw *w)
{
	char id[sizeof("msg_") + CS_STREAM_ID_LEN];
	size_t n = strlen(e->stream_id);

	memcpy(id, "msg_", 4);
	memcpy(id + 4, e->stream_id, n + 1);
	cs_jsonw_obj(w);
	cs_jsonw_kstr(w, "id", id);
	cs_jsonw_kstr(w, "type", "message");
	cs_jsonw_kstr(w, "role", "assistant");
	cs_jsonw_kstr(w, "model", e->model != NULL ? e->model : "");
}

/* "event: NAME\ndata: {"type":"NAME"" (the caller closes it with
 * end_event) */
static void
begin_event(struct cs_jsonw *w, const char *name)
{
	cs_enc_sse_event(w, name);
	cs_enc_sse_data(w);
	cs_jsonw_obj(w);
	cs_jsonw_kstr(w, "type", name);
}

static void
end_event(struct cs_jsonw *w)
{
	cs_jsonw_obj_end(w);
	cs_enc_sse_end(w);
}

static enum cs_err
ant_prologue(struct cs_enc *e, struct cs_buf *out)
{
	struct cs_jsonw w;

	cs_jsonw_init(&w, out);
	begin_event(&w, "message_start");
	cs_jsonw_key(&w, "message");
	put_message_head(e, &w);
	cs_jsonw_key(&w, "content");
	cs_jsonw_arr(&w);
	cs_jsonw_arr_end(&w);
	cs_jsonw_key(&w, "stop_reason");
	cs_jsonw_null(&w);
	cs_jsonw_key(&w, "stop_sequence");
	cs_jsonw_null(&w);
	put_usage(&w, NULL);
	cs_jsonw_obj_end(&w);
	end_event(&w);
	return cs_jsonw_end(&w);
}

static enum cs_err
ant_ping(struct cs_enc *e, struct cs_buf *out)
{
	(void)e;
	return cs_buf_puts(out, "event: ping\ndata: {\"type\": \"ping\"}\n\n");
}

/* The stream ends with message_stop (or the error event): no marker. */
static enum cs_err
ant_done(struct cs_enc *e, struct cs_buf *out)
{
	(void)e, (void)out;
	return CS_OK;
}

/* event: NAME with "index" (content_block_start/_delta/_stop) */
static void
begin_block_event(struct cs_jsonw *w, const char *name, unsigned long index)
{
	begin_event(w, name);
	cs_jsonw_kint(w, "index", (long long)index);
}

/* content_block_stop of block a->index: the next is a new one. */
static void
stop_block(struct ant *a, struct cs_jsonw *w)
{
	begin_block_event(w, "content_block_stop", a->index);
	end_event(w);
	a->open = BLK_NONE;
	a->index++;
}

/* The open block's stop, if one is open. */
static void
close_block(struct ant *a, struct cs_jsonw *w)
{
	if (a->open != BLK_NONE)
		stop_block(a, w);
}

/* A text delta into the block of its kind, opened if another is. */
static void
put_text(struct ant *a, const struct cs_event *ev, struct cs_jsonw *w)
{
	enum ant_block want = ev->kind == CS_TEXT_REASONING ? BLK_THINKING :
	                                                      BLK_TEXT;
	const char *key = want == BLK_THINKING ? "thinking" : "text";

	if (a->open != want) {
		close_block(a, w);
		begin_block_event(w, "content_block_start", a->index);
		cs_jsonw_key(w, "content_block");
		cs_jsonw_obj(w);
		cs_jsonw_kstr(w, "type", key);
		cs_jsonw_kstr(w, key, "");
		if (want == BLK_THINKING)
			cs_jsonw_kstr(w, "signature", "");
		cs_jsonw_obj_end(w);
		end_event(w);
		a->open = want;
	}
	begin_block_event(w, "content_block_delta", a->index);
	cs_jsonw_key(w, "delta");
	cs_jsonw_obj(w);
	cs_jsonw_kstr(
	    w, "type", want == BLK_THINKING ? "thinking_delta" : "text_delta");
	cs_jsonw_key(w, key);
	cs_jsonw_strn(w, ev->text, ev->text_len);
	cs_jsonw_obj_end(w);
	end_event(w);
}

/* A whole tool call: a tool_use block of its own, opened and closed. */
static void
put_tool_use(struct ant *a, const struct cs_event *ev, struct cs_jsonw *w)
{
	close_block(a, w);
	begin_block_event(w, "content_block_start", a->index);
	cs_jsonw_key(w, "content_block");
	cs_jsonw_obj(w);
	cs_jsonw_kstr(w, "type", "tool_use");
	cs_jsonw_kstr(w, "id", ev->tool_id);
	cs_jsonw_kstr(w, "name", ev->tool_name);
	cs_jsonw_key(w, "input");
	cs_jsonw_obj(w);
	cs_jsonw_obj_end(w);
	cs_jsonw_obj_end(w);
	end_event(w);
	begin_block_event(w, "content_block_delta", a->index);
	cs_jsonw_key(w, "delta");
	cs_jsonw_obj(w);
	cs_jsonw_kstr(w, "type", "input_json_delta");
	cs_jsonw_kstr(w, "partial_json", ev->tool_args);
	cs_jsonw_obj_end(w);
	end_event(w);
	stop_block(a, w);
}

static void
put_finish(struct ant *a, const struct cs_event *ev, struct cs_jsonw *w)
{
	close_block(a, w);
	begin_event(w, "message_delta");
	cs_jsonw_key(w, "delta");
	cs_jsonw_obj(w);
	cs_jsonw_kstr(w, "stop_reason", ant_stop_reason(ev));
	cs_jsonw_key(w, "stop_sequence");
	cs_jsonw_null(w);
	cs_jsonw_obj_end(w);
	put_usage(w, ev->tokens);
	end_event(w);
	begin_event(w, "message_stop");
	end_event(w);
}

/* The open block as the client saw it: unchanged when the frame failed. */
static enum cs_err
ant_event(struct cs_enc *e, const struct cs_event *ev, struct cs_buf *out)
{
	struct ant *a = e->priv, was = *a;
	struct cs_jsonw w;
	enum cs_err r;

	cs_jsonw_init(&w, out);
	e->seq++;
	switch (ev->type) {
	case CS_EV_TEXT: put_text(a, ev, &w); break;
	case CS_EV_TOOL_CALL: put_tool_use(a, ev, &w); break;
	case CS_EV_FINISH: put_finish(a, ev, &w); break;
	case CS_EV_ERROR:
		cs_enc_sse_event(&w, "error");
		cs_enc_sse_data(&w);
		put_error(&w, ev->error_type, ev->error_message);
		cs_enc_sse_end(&w);
		break;
	default: return CS_EBADINPUT;
	}
	if ((r = cs_jsonw_end(&w)) != CS_OK)
		*a = was;
	return r;
}

static void
ant_kept_init(struct cs_enc *e)
{
	struct ant_kept *k = e->priv;

	cs_buf_init(&k->blocks, ANT_KEEP_MAX);
	cs_buf_init(&k->cur, ANT_KEEP_MAX);
}

static void
ant_kept_cleanup(struct cs_enc *e)
{
	struct ant_kept *k = e->priv;

	cs_buf_free(&k->blocks);
	cs_buf_free(&k->cur);
}

/* A new element of the kept blocks: the comma before it. */
static void
next_block(struct ant_kept *k, struct cs_jsonw *w)
{
	if (k->blocks.len > 0)
		cs_jsonw_put(w, ",", 1);
}

/* The open text or thinking block into the kept ones. */
static enum cs_err
keep_close(struct ant_kept *k)
{
	const char *key = k->a.open == BLK_THINKING ? "thinking" : "text";
	struct cs_jsonw w;
	enum cs_err r;

	if (k->a.open == BLK_NONE)
		return CS_OK;
	cs_jsonw_init(&w, &k->blocks);
	next_block(k, &w);
	cs_jsonw_obj(&w);
	cs_jsonw_kstr(&w, "type", key);
	cs_jsonw_key(&w, key);
	cs_jsonw_strn(&w, k->cur.data ? k->cur.data : "", k->cur.len);
	if (k->a.open == BLK_THINKING)
		cs_jsonw_kstr(&w, "signature", "");
	cs_jsonw_obj_end(&w);
	if ((r = cs_jsonw_end(&w)) != CS_OK)
		return r;
	cs_buf_reset(&k->cur);
	k->a.open = BLK_NONE;
	return CS_OK;
}

/* A kept tool_use block; its input is the arguments when they are one
 * JSON object (as Anthropic's always is), else {}. */
static enum cs_err
keep_tool_use(struct ant_kept *k, const struct cs_event *ev)
{
	const char *args = ev->tool_args != NULL ? ev->tool_args : "";
	struct json_object *o;
	struct cs_jsonw w;

	o = cs_json_strict_object(args, strlen(args));
	cs_jsonw_init(&w, &k->blocks);
	next_block(k, &w);
	cs_jsonw_obj(&w);
	cs_jsonw_kstr(&w, "type", "tool_use");
	cs_jsonw_kstr(&w, "id", ev->tool_id);
	cs_jsonw_kstr(&w, "name", ev->tool_name);
	cs_jsonw_key(&w, "input");
	if (o != NULL)
		cs_jsonw_raw(&w, args, strlen(args));
	else {
		cs_jsonw_obj(&w);
		cs_jsonw_obj_end(&w);
	}
	cs_jsonw_obj_end(&w);
	json_object_put(o);
	return cs_jsonw_end(&w);
}

/* Deferred: keep the event; errors never get here (stream.c turns them
 * into HTTP statuses). */
static enum cs_err
ant_keep(struct cs_enc *e, const struct cs_event *ev, struct cs_buf *out)
{
	struct ant_kept *k = e->priv;
	enum ant_block want;
	enum cs_err r;

	(void)out;
	e->seq++;
	switch (ev->type) {
	case CS_EV_TEXT:
		want = ev->kind == CS_TEXT_REASONING ? BLK_THINKING : BLK_TEXT;
		if (k->a.open != want && (r = keep_close(k)) != CS_OK)
			return r;
		k->a.open = want;
		return cs_buf_append(&k->cur, ev->text, ev->text_len);
	case CS_EV_TOOL_CALL:
		if ((r = keep_close(k)) != CS_OK)
			return r;
		return keep_tool_use(k, ev);
	case CS_EV_FINISH:
		if ((r = keep_close(k)) != CS_OK)
			return r;
		k->stop_reason = ant_stop_reason(ev);
		if ((k->has_usage = ev->tokens != NULL))
			k->usage = *ev->tokens;
		return CS_OK;
	case CS_EV_ERROR: return CS_OK;
	}
	return CS_EBADINPUT;
}

static enum cs_err
ant_message(struct cs_enc *e, struct cs_buf *out)
{
	struct ant_kept *k = e->priv;
	struct cs_jsonw w;
	enum cs_err r;

	if ((r = keep_close(k)) != CS_OK)
		return r;
	cs_jsonw_init(&w, out);
	put_message_head(e, &w);
	cs_jsonw_key(&w, "content");
	cs_jsonw_arr(&w);
	cs_jsonw_raw(&w, k->blocks.data ? k->blocks.data : "", k->blocks.len);
	cs_jsonw_arr_end(&w);
	cs_jsonw_kstr(&w, "stop_reason",
	    k->stop_reason != NULL ? k->stop_reason : "end_turn");
	cs_jsonw_key(&w, "stop_sequence");
	cs_jsonw_null(&w);
	put_usage(&w, k->has_usage ? &k->usage : NULL);
	cs_jsonw_obj_end(&w);
	cs_jsonw_put(&w, "\n", 1);
	return cs_jsonw_end(&w);
}

const struct cs_encoder cs_encoder_anthropic = {
	.name = "anthropic",
	.headers =
	    "Content-Type: text/event-stream; charset=utf-8\r\n" CS_STREAM_HEADERS,
	.sse = 1,
	.state_size = sizeof(struct ant),
	.prologue = ant_prologue,
	.event = ant_event,
	.keepalive = ant_ping,
	.done = ant_done,
	.error_body = ant_error_body,
};

const struct cs_encoder cs_encoder_anthropic_json = {
	.name = "anthropic-json",
	.headers = "Content-Type: application/json\r\n"
	           "Cache-Control: no-store\r\n"
	           "X-Content-Type-Options: nosniff\r\n",
	.deferred = 1,
	.state_size = sizeof(struct ant_kept),
	.init = ant_kept_init,
	.cleanup = ant_kept_cleanup,
	.event = ant_keep,
	.done = ant_message,
	.error_body = ant_error_body,
};
