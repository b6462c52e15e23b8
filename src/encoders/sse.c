/*
 * encoders/sse.c — the native protocol: Server-Sent Events carrying
 * {"content":...} deltas, "finish", "error" and a final [DONE]; every
 * event has "id: <stream-id>:<n>".  Documented in docs/protocol.md.
 */
#include <string.h>

#include <json-c/json.h>

#include "encoder.h"

static enum cs_err
put_id(struct cs_enc *e, struct cs_buf *out)
{
	enum cs_err r;

	e->seq++;
	if ((r = cs_buf_puts(out, "id: ")) != CS_OK ||
	    (r = cs_buf_puts(out, e->stream_id)) != CS_OK ||
	    (r = cs_buf_puts(out, ":")) != CS_OK ||
	    (r = cs_buf_put_ulong(out, e->seq)) != CS_OK)
		return r;
	return cs_buf_puts(out, "\n");
}

static enum cs_err
sse_prologue(struct cs_enc *e, struct cs_buf *out)
{
	return e->ops->keepalive(e, out);
}

/* A comment line alone, with no blank line after it.  A blank line ends
 * an event, and some parsers (@microsoft/fetch-event-source) hand every
 * blank line to the application as a message, even one with no data, so
 * ": keep-alive\n\n" reached their onmessage as data "" (JSON.parse
 * throws, the library re-posts the chat).  Per the WHATWG grammar a
 * comment belongs to the event after it, and every event ends with its
 * own blank line, so nothing is lost; each event is written whole, so a
 * comment never lands inside one. */
enum cs_err
cs_encoder_sse_keepalive(struct cs_enc *e, struct cs_buf *out)
{
	(void)e;
	return cs_buf_puts(out, ": keep-alive\n");
}

/* {"error":{"type":...,"message":...}}: the body of every HTTP error,
 * whatever the protocol of the stream would have been. */
enum cs_err
cs_encoder_json_error_body(const char *type, const char *message,
    struct cs_buf *out)
{
	enum cs_err r;

	if ((r = cs_buf_puts(out, "{\"error\":{\"type\":\"")) != CS_OK ||
	    (r = cs_buf_json_str(out, type, strlen(type))) != CS_OK ||
	    (r = cs_buf_puts(out, "\",\"message\":\"")) != CS_OK ||
	    (r = cs_buf_json_str(out, message, strlen(message))) != CS_OK)
		return r;
	return cs_buf_puts(out, "\"}}");
}

static enum cs_err
sse_event(struct cs_enc *e, const struct cs_event *ev, struct cs_buf *out)
{
	enum cs_err r;

	switch (ev->type) {
	case CS_EV_TEXT:
		if ((r = put_id(e, out)) != CS_OK ||
		    (r = cs_buf_puts(out, ev->kind == CS_TEXT_REFUSAL ?
		    "data: {\"refusal\":\"" : ev->kind == CS_TEXT_REASONING ?
		    "data: {\"reasoning\":\"" : "data: {\"content\":\""))
		    != CS_OK ||
		    (r = cs_buf_json_str(out, ev->text, ev->text_len)) != CS_OK)
			return r;
		return cs_buf_puts(out, "\"}\n\n");
	case CS_EV_TOOL_CALL:
		if ((r = put_id(e, out)) != CS_OK ||
		    (r = cs_buf_puts(out, "event: tool_call\ndata: {\"id\":\""))
		    != CS_OK ||
		    (r = cs_buf_json_str(out, ev->tool_id ? ev->tool_id : "",
		    ev->tool_id ? strlen(ev->tool_id) : 0)) != CS_OK ||
		    (r = cs_buf_puts(out, "\",\"name\":\"")) != CS_OK ||
		    (r = cs_buf_json_str(out, ev->tool_name ? ev->tool_name : "",
		    ev->tool_name ? strlen(ev->tool_name) : 0)) != CS_OK ||
		    (r = cs_buf_puts(out, "\",\"arguments\":\"")) != CS_OK ||
		    (r = cs_buf_json_str(out, ev->tool_args ? ev->tool_args : "",
		    ev->tool_args ? strlen(ev->tool_args) : 0)) != CS_OK)
			return r;
		return cs_buf_puts(out, "\"}\n\n");
	case CS_EV_FINISH:
		if ((r = put_id(e, out)) != CS_OK ||
		    (r = cs_buf_puts(out,
		    "event: finish\ndata: {\"finish_reason\":\"")) != CS_OK ||
		    (r = cs_buf_json_str(out, ev->finish_reason,
		    strlen(ev->finish_reason))) != CS_OK ||
		    (r = cs_buf_puts(out, "\",\"usage\":")) != CS_OK ||
		    (r = cs_encoder_usage_json(ev->tokens, out)) != CS_OK)
			return r;
		if (ev->native_finish_reason != NULL &&
		    strcmp(ev->native_finish_reason, ev->finish_reason) != 0) {
			if ((r = cs_buf_puts(out,
			    ",\"native_finish_reason\":\"")) != CS_OK ||
			    (r = cs_buf_json_str(out, ev->native_finish_reason,
			    strlen(ev->native_finish_reason))) != CS_OK ||
			    (r = cs_buf_puts(out, "\"")) != CS_OK)
				return r;
		}
		return cs_buf_puts(out, "}\n\n");
	case CS_EV_ERROR:
		if ((r = put_id(e, out)) != CS_OK ||
		    (r = cs_buf_puts(out, "event: error\ndata: ")) != CS_OK ||
		    (r = cs_encoder_json_error_body(ev->error_type,
		    ev->error_message, out))
		    != CS_OK)
			return r;
		return cs_buf_puts(out, "\n\n");
	}
	return CS_EBADINPUT;
}

static enum cs_err
sse_done(struct cs_enc *e, struct cs_buf *out)
{
	enum cs_err r;

	if ((r = put_id(e, out)) != CS_OK)
		return r;
	return cs_encoder_sse_done(e, out);
}

/* The end marker OpenAI's streams and the AI SDK's end with (and ours,
 * after its id line). */
enum cs_err
cs_encoder_sse_done(struct cs_enc *e, struct cs_buf *out)
{
	(void)e;
	return cs_buf_puts(out, "data: [DONE]\n\n");
}

const struct cs_encoder cs_encoder_sse = {
	.name = "sse",
	.headers = "Content-Type: text/event-stream; charset=utf-8\r\n" CS_STREAM_HEADERS,
	.prologue = sse_prologue,
	.event = sse_event,
	.keepalive = cs_encoder_sse_keepalive,
	.done = sse_done,
	.error_content_type = "application/json",
	.error_body = cs_encoder_json_error_body,
};

/* ,"key":N, or null when unknown (left out when optional). */
static enum cs_err
usage_count(struct cs_buf *out, const char *key, long long n, int optional)
{
	if (n == CS_USAGE_NONE)
		return optional ? CS_OK : cs_buf_printf(out, ",\"%s\":null",
		    key);
	return cs_buf_printf(out, ",\"%s\":%lld", key, n);
}

enum cs_err
cs_encoder_usage_json(const struct cs_usage *u, struct cs_buf *out)
{
	enum cs_err r;

	if (u == NULL)
		return cs_buf_puts(out, "null");
	if (u->prompt == CS_USAGE_NONE)
		r = cs_buf_puts(out, "{\"prompt_tokens\":null");
	else
		r = cs_buf_printf(out, "{\"prompt_tokens\":%lld", u->prompt);
	if (r != CS_OK ||
	    (r = usage_count(out, "completion_tokens", u->completion, 0))
	    != CS_OK ||
	    (r = usage_count(out, "total_tokens", u->total, 0)) != CS_OK ||
	    (r = usage_count(out, "cached_tokens", u->cached, 1)) != CS_OK ||
	    (r = usage_count(out, "reasoning_tokens", u->reasoning, 1))
	    != CS_OK)
		return r;
	return cs_buf_puts(out, "}");
}
