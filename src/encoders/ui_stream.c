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
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "encoder.h"

enum block { NONE, TEXT, REASONING };

struct ui_state {
	enum block open;        /* the block a delta goes to */
	unsigned long blocks;   /* blocks opened so far: ids t0, r1, ... */
};

static struct ui_state *
state(struct cs_enc *e)
{
	if (e->priv == NULL)
		e->priv = calloc(1, sizeof(struct ui_state));
	return e->priv;
}

static void
ui_cleanup(struct cs_enc *e)
{
	free(e->priv);
	e->priv = NULL;
}

/* data: {"type":"TYPE"  (the caller adds fields and chunk_end) */
static enum cs_err
chunk_begin(struct cs_enc *e, struct cs_buf *out, const char *type)
{
	enum cs_err r;

	e->seq++;
	if ((r = cs_buf_puts(out, "data: {\"type\":\"")) != CS_OK ||
	    (r = cs_buf_puts(out, type)) != CS_OK)
		return r;
	return cs_buf_puts(out, "\"");
}

static enum cs_err
chunk_end(struct cs_buf *out)
{
	return cs_buf_puts(out, "}\n\n");
}

/* ,"key":"s" */
static enum cs_err
str_field(struct cs_buf *out, const char *key, const char *s, size_t n)
{
	enum cs_err r;

	if ((r = cs_buf_puts(out, ",\"")) != CS_OK ||
	    (r = cs_buf_puts(out, key)) != CS_OK ||
	    (r = cs_buf_puts(out, "\":\"")) != CS_OK ||
	    (r = cs_buf_json_str(out, s ? s : "", s ? n : 0)) != CS_OK)
		return r;
	return cs_buf_puts(out, "\"");
}

/* ,"id":"t3" (or r3) for the open block */
static enum cs_err
block_id(struct ui_state *st, struct cs_buf *out)
{
	enum cs_err r;

	if ((r = cs_buf_puts(out, st->open == TEXT ? ",\"id\":\"t" :
	    ",\"id\":\"r")) != CS_OK ||
	    (r = cs_buf_put_ulong(out, st->blocks)) != CS_OK)
		return r;
	return cs_buf_puts(out, "\"");
}

/* A chunk that names the open block: text-start, reasoning-end, ... */
static enum cs_err
block_chunk(struct cs_enc *e, struct ui_state *st, struct cs_buf *out,
    const char *what)
{
	enum cs_err r;

	e->seq++;
	if ((r = cs_buf_puts(out, st->open == TEXT ?
	    "data: {\"type\":\"text-" : "data: {\"type\":\"reasoning-"))
	    != CS_OK ||
	    (r = cs_buf_puts(out, what)) != CS_OK ||
	    (r = cs_buf_puts(out, "\"")) != CS_OK)
		return r;
	return block_id(st, out);
}

static enum cs_err
close_block(struct cs_enc *e, struct ui_state *st, struct cs_buf *out)
{
	enum cs_err r;

	if (st->open == NONE)
		return CS_OK;
	if ((r = block_chunk(e, st, out, "end")) != CS_OK ||
	    (r = chunk_end(out)) != CS_OK)
		return r;
	st->open = NONE;
	return CS_OK;
}

/* A delta into a block of kind want, opening it first if needed. */
static enum cs_err
delta(struct cs_enc *e, struct ui_state *st, enum block want,
    const struct cs_event *ev, struct cs_buf *out)
{
	enum cs_err r;

	if (st->open != want) {
		if ((r = close_block(e, st, out)) != CS_OK)
			return r;
		st->open = want;
		st->blocks++;
		if ((r = block_chunk(e, st, out, "start")) != CS_OK ||
		    (r = chunk_end(out)) != CS_OK)
			return r;
	}
	if ((r = block_chunk(e, st, out, "delta")) != CS_OK ||
	    (r = str_field(out, "delta", ev->text, ev->text_len)) != CS_OK)
		return r;
	return chunk_end(out);
}

/* The call's input: its arguments parsed, {} when empty, else the text
 * as given (input may be any JSON value). */
static enum cs_err
put_input(struct cs_buf *out, const char *args)
{
	struct json_object *o;
	enum cs_err r;

	if (args == NULL || args[strspn(args, " \t\r\n")] == '\0')
		return cs_buf_puts(out, ",\"input\":{}");
	if ((o = json_tokener_parse(args)) == NULL)
		return str_field(out, "input", args, strlen(args));
	if ((r = cs_buf_puts(out, ",\"input\":")) == CS_OK)
		r = cs_buf_puts(out, json_object_to_json_string_ext(o,
		    JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(o);
	return r;
}

/* tool-input-start / tool-input-available: toolCallId, toolName */
static enum cs_err
tool_chunk(struct cs_enc *e, const struct cs_event *ev, struct cs_buf *out,
    const char *type)
{
	enum cs_err r;

	if ((r = chunk_begin(e, out, type)) != CS_OK ||
	    (r = str_field(out, "toolCallId", ev->tool_id, ev->tool_id ?
	    strlen(ev->tool_id) : 0)) != CS_OK)
		return r;
	return str_field(out, "toolName", ev->tool_name, ev->tool_name ?
	    strlen(ev->tool_name) : 0);
}

static enum cs_err
tool_call(struct cs_enc *e, const struct cs_event *ev, struct cs_buf *out)
{
	enum cs_err r;

	if ((r = tool_chunk(e, ev, out, "tool-input-start")) != CS_OK ||
	    (r = chunk_end(out)) != CS_OK ||
	    (r = tool_chunk(e, ev, out, "tool-input-available")) != CS_OK ||
	    (r = put_input(out, ev->tool_args)) != CS_OK)
		return r;
	return chunk_end(out);
}

/* finish-step, then finish {"messageMetadata":{"finishReason","usage"?}} */
static enum cs_err
finish(struct cs_enc *e, const struct cs_event *ev, struct cs_buf *out)
{
	enum cs_err r;

	if ((r = chunk_begin(e, out, "finish-step")) != CS_OK ||
	    (r = chunk_end(out)) != CS_OK ||
	    (r = chunk_begin(e, out, "finish")) != CS_OK ||
	    (r = cs_buf_puts(out, ",\"messageMetadata\":{\"finishReason\":\""))
	    != CS_OK ||
	    (r = cs_buf_json_str(out, ev->finish_reason,
	    strlen(ev->finish_reason))) != CS_OK ||
	    (r = cs_buf_puts(out, "\"")) != CS_OK)
		return r;
	if (ev->tokens != NULL &&
	    ((r = cs_buf_puts(out, ",\"usage\":")) != CS_OK ||
	    (r = cs_encoder_usage_json(ev->tokens, out)) != CS_OK))
		return r;
	if ((r = cs_buf_puts(out, "}")) != CS_OK)
		return r;
	return chunk_end(out);
}

static enum cs_err
ui_event(struct cs_enc *e, const struct cs_event *ev, struct cs_buf *out)
{
	struct ui_state *st = state(e);
	enum cs_err r;

	if (st == NULL)
		return CS_ENOMEM;
	if (ev->type == CS_EV_TEXT)
		return delta(e, st, ev->kind == CS_TEXT_REASONING ?
		    REASONING : TEXT, ev, out);
	if ((r = close_block(e, st, out)) != CS_OK)
		return r;
	switch (ev->type) {
	case CS_EV_TOOL_CALL:
		return tool_call(e, ev, out);
	case CS_EV_FINISH:
		return finish(e, ev, out);
	case CS_EV_ERROR:
		if ((r = chunk_begin(e, out, "error")) != CS_OK ||
		    (r = str_field(out, "errorText", ev->error_message,
		    strlen(ev->error_message))) != CS_OK)
			return r;
		return chunk_end(out);
	case CS_EV_TEXT:
		break;
	}
	return CS_EBADINPUT;
}

/* start {messageId}, start-step: sent with the headers. */
static enum cs_err
ui_prologue(struct cs_enc *e, struct cs_buf *out)
{
	enum cs_err r;

	if ((r = chunk_begin(e, out, "start")) != CS_OK ||
	    (r = cs_buf_puts(out, ",\"messageId\":\"msg-")) != CS_OK ||
	    (r = cs_buf_puts(out, e->stream_id)) != CS_OK ||
	    (r = cs_buf_puts(out, "\"")) != CS_OK ||
	    (r = chunk_end(out)) != CS_OK ||
	    (r = chunk_begin(e, out, "start-step")) != CS_OK)
		return r;
	return chunk_end(out);
}

const struct cs_encoder cs_encoder_ui_stream = {
	.name = "ui-message-stream",
	.headers = "Content-Type: text/event-stream\r\n"
	    "x-vercel-ai-ui-message-stream: v1\r\n" CS_STREAM_HEADERS,
	.prologue = ui_prologue,
	.event = ui_event,
	.keepalive = cs_encoder_sse_keepalive,   /* the SDK's parser skips it */
	.done = cs_encoder_sse_done,
	.cleanup = ui_cleanup,
	.error_content_type = "application/json",
	.error_body = cs_encoder_json_error_body,
};
