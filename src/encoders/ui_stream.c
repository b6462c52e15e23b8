/*
 * encoders/ui_stream.c — the AI SDK's UI message stream, protocol v1, for
 * useChat (docs/protocol.md, "Vercel AI SDK (useChat)").
 *
 * One SSE event per chunk, "data: {json}\n\n", then "data: [DONE]":
 *   start {messageId}, start-step,
 *   text-start {id}, text-delta {id, delta}..., text-end {id}
 *   (reasoning the same as reasoning-start/-delta/-end),
 *   tool-input-start + tool-input-available {toolCallId, toolName, input}
 *   per tool call, finish-step, finish {messageMetadata}
 * or, on a failure after the start, error {errorText}.
 *
 * Only the fields of ai@5.0.0's schema go out: its chunks are strict
 * objects, and it has no finish.finishReason (added in 5.0.92), so the
 * finish reason and usage travel in finish.messageMetadata.  A text or
 * reasoning block is closed before anything else follows it.
 */
#include <stdio.h>
#include <string.h>

#include <json-c/json.h>

#include "encoder.h"

enum block {
	NONE,
	TEXT,
	REASONING
};
enum block_chunk {
	START,
	DELTA,
	END
};

struct ui_state {
	enum block open;      /* the block a delta goes to */
	unsigned long blocks; /* blocks opened so far: ids t0, r1, ... */
	char id[24];          /* the open block's */
};

/* data: {"type":"TYPE"  (the caller adds members and chunk_end) */
static void
chunk_begin(struct cs_enc *e, struct cs_jsonw *w, const char *type)
{
	e->seq++;
	cs_enc_sse_data(w);
	cs_jsonw_obj(w);
	cs_jsonw_kstr(w, "type", type);
}

static void
chunk_end(struct cs_jsonw *w)
{
	cs_jsonw_obj_end(w);
	cs_enc_sse_end(w);
}

/* A chunk that names the open block: text-start, reasoning-end, ... */
static void
block_chunk(struct cs_enc *e, struct ui_state *st, struct cs_jsonw *w,
    enum block_chunk what)
{
	static const char *const type[2][3] = {
		{ "text-start", "text-delta", "text-end" },
		{ "reasoning-start", "reasoning-delta", "reasoning-end" },
	};

	chunk_begin(e, w, type[st->open == REASONING][what]);
	cs_jsonw_kstr(w, "id", st->id);
}

static void
close_block(struct cs_enc *e, struct ui_state *st, struct cs_jsonw *w)
{
	if (st->open == NONE)
		return;
	block_chunk(e, st, w, END);
	chunk_end(w);
	st->open = NONE;
}

/* A delta into a block of kind want, opening it first if needed. */
static void
delta(struct cs_enc *e, struct ui_state *st, enum block want,
    const struct cs_event *ev, struct cs_jsonw *w)
{
	if (st->open != want) {
		close_block(e, st, w);
		st->open = want;
		st->blocks++;
		snprintf(st->id, sizeof(st->id), "%c%lu",
		    want == TEXT ? 't' : 'r', st->blocks);
		block_chunk(e, st, w, START);
		chunk_end(w);
	}
	block_chunk(e, st, w, DELTA);
	cs_jsonw_key(w, "delta");
	cs_jsonw_strn(w, ev->text, ev->text_len);
	chunk_end(w);
}

/* The call's input: its arguments parsed, {} when empty, else the text
 * as given (input may be any JSON value). */
static void
put_input(struct cs_jsonw *w, const char *args)
{
	struct json_object *o;
	const char *js;

	if (args == NULL || args[strspn(args, " \t\r\n")] == '\0') {
		cs_jsonw_key(w, "input");
		cs_jsonw_obj(w);
		cs_jsonw_obj_end(w);
		return;
	}
	if ((o = json_tokener_parse(args)) == NULL) {
		cs_jsonw_kstr(w, "input", args);
		return;
	}
	js = json_object_to_json_string_ext(
	    o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
	cs_jsonw_key(w, "input");
	cs_jsonw_raw(w, js, strlen(js));
	json_object_put(o);
}

/* tool-input-start / tool-input-available: toolCallId, toolName */
static void
tool_chunk(struct cs_enc *e, const struct cs_event *ev, struct cs_jsonw *w,
    const char *type)
{
	chunk_begin(e, w, type);
	cs_jsonw_kstr(w, "toolCallId", ev->tool_id);
	cs_jsonw_kstr(w, "toolName", ev->tool_name);
}

static void
tool_call(struct cs_enc *e, const struct cs_event *ev, struct cs_jsonw *w)
{
	tool_chunk(e, ev, w, "tool-input-start");
	chunk_end(w);
	tool_chunk(e, ev, w, "tool-input-available");
	put_input(w, ev->tool_args);
	chunk_end(w);
}

/* finish-step, then finish {"messageMetadata":{"finishReason","usage"?}} */
static void
finish(struct cs_enc *e, const struct cs_event *ev, struct cs_jsonw *w)
{
	chunk_begin(e, w, "finish-step");
	chunk_end(w);
	chunk_begin(e, w, "finish");
	cs_jsonw_key(w, "messageMetadata");
	cs_jsonw_obj(w);
	cs_jsonw_kstr(w, "finishReason", ev->finish_reason);
	if (ev->tokens != NULL) {
		cs_jsonw_key(w, "usage");
		cs_enc_usage(w, ev->tokens);
	}
	cs_jsonw_obj_end(w);
	chunk_end(w);
}

static void
put_event(struct cs_enc *e, struct ui_state *st, const struct cs_event *ev,
    struct cs_jsonw *w)
{
	if (ev->type == CS_EV_TEXT) {
		delta(e, st, ev->kind == CS_TEXT_REASONING ? REASONING : TEXT,
		    ev, w);
		return;
	}
	close_block(e, st, w);
	if (ev->type == CS_EV_TOOL_CALL)
		tool_call(e, ev, w);
	else if (ev->type == CS_EV_FINISH)
		finish(e, ev, w);
	else {
		chunk_begin(e, w, "error");
		cs_jsonw_kstr(w, "errorText", ev->error_message);
		chunk_end(w);
	}
}

/* The blocks as the client saw them: unchanged when the frame failed. */
static enum cs_err
ui_event(struct cs_enc *e, const struct cs_event *ev, struct cs_buf *out)
{
	struct ui_state *st = e->priv, was = *st;
	struct cs_jsonw w;
	enum cs_err r;

	if (ev->type > CS_EV_ERROR)
		return CS_EBADINPUT;
	cs_jsonw_init(&w, out);
	put_event(e, st, ev, &w);
	if ((r = cs_jsonw_end(&w)) != CS_OK)
		*st = was;
	return r;
}

/* start {messageId}, start-step: sent with the headers. */
static enum cs_err
ui_prologue(struct cs_enc *e, struct cs_buf *out)
{
	char id[sizeof("msg-") + CS_STREAM_ID_LEN];
	struct cs_jsonw w;

	memcpy(id, "msg-", 4);
	memcpy(id + 4, e->stream_id, strlen(e->stream_id) + 1);
	cs_jsonw_init(&w, out);
	chunk_begin(e, &w, "start");
	cs_jsonw_kstr(&w, "messageId", id);
	chunk_end(&w);
	chunk_begin(e, &w, "start-step");
	chunk_end(&w);
	return cs_jsonw_end(&w);
}

/* The SSE defaults: keep-alive comments (the SDK's parser skips them),
 * "data: [DONE]" at the end. */
const struct cs_encoder cs_encoder_ui_stream = {
	.name = "ui-message-stream",
	.headers = "Content-Type: text/event-stream\r\n"
	           "x-vercel-ai-ui-message-stream: v1\r\n" CS_STREAM_HEADERS,
	.sse = 1,
	.state_size = sizeof(struct ui_state),
	.prologue = ui_prologue,
	.event = ui_event,
};
