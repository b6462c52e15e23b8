/*
 * encoders/sse.c — the native protocol: Server-Sent Events carrying
 * {"content":...} deltas, "finish", "error" and a final [DONE]; every
 * event has "id: <stream-id>:<n>".  Documented in docs/protocol.md.
 */
#include <string.h>

#include "encoder.h"

/* id: <stream-id>:<n> */
static void
put_id(struct cs_enc *e, struct cs_jsonw *w)
{
	e->seq++;
	cs_jsonw_put(w, "id: ", 4);
	cs_jsonw_puts(w, e->stream_id);
	cs_jsonw_put(w, ":", 1);
	cs_jsonw_int(w, (long long)e->seq);
	cs_jsonw_put(w, "\n", 1);
}

/* The event's data: one JSON object. */
static void
put_data(const struct cs_enc *e, const struct cs_event *ev, struct cs_jsonw *w)
{
	if (ev->type == CS_EV_ERROR) {
		cs_enc_error_object(w, ev->error_type, ev->error_message);
		return;
	}
	cs_jsonw_obj(w);
	if (ev->type == CS_EV_TEXT) {
		cs_jsonw_key(w,
		    ev->kind == CS_TEXT_REFUSAL       ? "refusal" :
		        ev->kind == CS_TEXT_REASONING ? "reasoning" :
		                                        "content");
		cs_jsonw_strn(w, ev->text, ev->text_len);
	} else if (ev->type == CS_EV_TOOL_CALL) {
		cs_jsonw_kstr(w, "id", ev->tool_id);
		cs_jsonw_kstr(w, "name", ev->tool_name);
		cs_jsonw_kstr(w, "arguments", ev->tool_args);
	} else {
		cs_jsonw_kstr(w, "finish_reason", ev->finish_reason);
		cs_jsonw_key(w, "usage");
		cs_enc_usage(w, ev->tokens);
		if (ev->native_finish_reason != NULL &&
		    strcmp(ev->native_finish_reason, ev->finish_reason) != 0)
			cs_jsonw_kstr(w, "native_finish_reason",
			    ev->native_finish_reason);
		if (e->model != NULL) /* the model that answered */
			cs_jsonw_kstr(w, "model", e->model);
		cs_jsonw_key(w, "ttfd_ms");
		if (e->ttfd_ms >= 0)
			cs_jsonw_int(w, e->ttfd_ms);
		else
			cs_jsonw_null(w);
		cs_jsonw_key(w, "duration_ms");
		cs_jsonw_int(w, e->duration_ms);
	}
	cs_jsonw_obj_end(w);
}

static enum cs_err
sse_event(struct cs_enc *e, const struct cs_event *ev, struct cs_buf *out)
{
	/* The SSE event type; text is the default "message". */
	static const char *const name[] = {
		[CS_EV_TOOL_CALL] = "tool_call",
		[CS_EV_FINISH] = "finish",
		[CS_EV_ERROR] = "error",
	};
	struct cs_jsonw w;

	if ((size_t)ev->type >= CS_ARRAY_LEN(name))
		return CS_EBADINPUT;
	cs_jsonw_init(&w, out);
	put_id(e, &w);
	if (name[ev->type] != NULL)
		cs_enc_sse_event(&w, name[ev->type]);
	cs_enc_sse_data(&w);
	put_data(e, ev, &w);
	cs_enc_sse_end(&w);
	return cs_jsonw_end(&w);
}

static enum cs_err
sse_done(struct cs_enc *e, struct cs_buf *out)
{
	struct cs_jsonw w;

	cs_jsonw_init(&w, out);
	put_id(e, &w);
	cs_enc_sse_done(&w);
	return cs_jsonw_end(&w);
}

const struct cs_encoder cs_encoder_sse = {
	.name = "sse",
	.headers =
	    "Content-Type: text/event-stream; charset=utf-8\r\n" CS_STREAM_HEADERS,
	.sse = 1,
	.event = sse_event,
	.done = sse_done,
};
