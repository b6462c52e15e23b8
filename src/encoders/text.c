/*
 * encoders/text.c — plain text: only the answer's text, as it arrives.
 *
 * For clients that just print what they get (`curl -N`, a fetch() reader
 * appending to a <pre>).  Text and refusal deltas are written as is;
 * reasoning, tool calls and the finish carry nothing.  A failure after the
 * start is appended as one marked line, "\n\n[error] TYPE: MESSAGE\n", the
 * only way left to say it once the status was sent.  Keep-alives write
 * nothing: any byte would become part of the answer.  Errors before the
 * start are HTTP statuses with the usual JSON body.  Documented in
 * docs/protocol.md ("Plain text").
 */
#include <string.h>

#include "encoder.h"

static enum cs_err
text_nothing(struct cs_enc *e, struct cs_buf *out)
{
	(void)e;
	(void)out;
	return CS_OK;
}

static enum cs_err
text_event(struct cs_enc *e, const struct cs_event *ev, struct cs_buf *out)
{
	enum cs_err r;

	e->seq++;
	switch (ev->type) {
	case CS_EV_TEXT:
		if (ev->kind == CS_TEXT_REASONING)
			return CS_OK;
		return cs_buf_append(out, ev->text, ev->text_len);
	case CS_EV_TOOL_CALL:
	case CS_EV_FINISH:
		return CS_OK;
	case CS_EV_ERROR:
		if ((r = cs_buf_puts(out, "\n\n[error] ")) != CS_OK ||
		    (r = cs_buf_puts(out, ev->error_type)) != CS_OK ||
		    (r = cs_buf_puts(out, ": ")) != CS_OK ||
		    (r = cs_buf_puts(out, ev->error_message)) != CS_OK)
			return r;
		return cs_buf_puts(out, "\n");
	}
	return CS_EBADINPUT;
}

const struct cs_encoder cs_encoder_text = {
	.name = "text",
	.headers = "Content-Type: text/plain; charset=utf-8\r\n" CS_STREAM_HEADERS,
	.prologue = text_nothing,
	.event = text_event,
	.keepalive = text_nothing,
	.done = text_nothing,
	.error_content_type = "application/json",
	.error_body = cs_encoder_json_error_body,
};
