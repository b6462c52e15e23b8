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
#include "encoder.h"

static enum cs_err
text_event(struct cs_enc *e, const struct cs_event *ev, struct cs_buf *out)
{
	struct cs_jsonw w;

	e->seq++;
	switch (ev->type) {
	case CS_EV_TEXT:
		if (ev->kind == CS_TEXT_REASONING)
			return CS_OK;
		return cs_buf_append(out, ev->text, ev->text_len);
	case CS_EV_TOOL_CALL:
	case CS_EV_FINISH: return CS_OK;
	case CS_EV_ERROR:
		cs_jsonw_init(&w, out);
		cs_jsonw_puts(&w, "\n\n[error] ");
		cs_jsonw_puts(&w, ev->error_type);
		cs_jsonw_puts(&w, ": ");
		cs_jsonw_puts(&w, ev->error_message);
		cs_jsonw_puts(&w, "\n");
		return cs_jsonw_end(&w);
	}
	return CS_EBADINPUT;
}

/* No prologue, keep-alive or end marker: nothing but the text. */
const struct cs_encoder cs_encoder_text = {
	.name = "text",
	.headers =
	    "Content-Type: text/plain; charset=utf-8\r\n" CS_STREAM_HEADERS,
	.event = text_event,
};
