/*
 * encoder.h — downstream protocols.  An encoder turns normalized events
 * (event.h) into response bytes; one file per protocol in src/encoders/.
 * Encoders only format: the stream (stream.h) writes and flushes.
 */
#ifndef CS_ENCODER_H
#define CS_ENCODER_H

#include "buf.h"
#include "event.h"
#include "jsonw.h"

#define CS_STREAM_ID_LEN 16

/* Header lines every streaming protocol sends after its Content-Type:
 * no caching, no buffering in nginx, no content sniffing. */
#define CS_STREAM_HEADERS \
	"Cache-Control: no-cache\r\n" \
	"X-Accel-Buffering: no\r\n" \
	"X-Content-Type-Options: nosniff\r\n"

/* Per-response encoder state. */
struct cs_enc {
	const struct cs_encoder *ops;
	char stream_id[CS_STREAM_ID_LEN + 1];
	unsigned long seq; /* events written so far */
	/* For protocols that name the response (OpenAI-compatible, AI SDK):
	 * set by the handler before the first byte. */
	const char *model; /* the model name the client asked for */
	long long created; /* Unix time the request arrived */
	unsigned flags;    /* CS_ENC_* */
	long ttfd_ms;      /* at a finish event: to the first delta (-1 none) */
	long duration_ms;  /* and since the request arrived */
	void *priv;        /* ops->state_size zeroed bytes, the encoder's
	                         own; owned by cs_enc_init/cs_enc_free */
};

#define CS_ENC_INCLUDE_USAGE (1u << 0) /* OpenAI stream_options */

/*
 * One protocol.  An op left NULL is the framework's default (encoder.c):
 * prologue: a keep-alive for SSE protocols (the headers go out with a
 * first byte), else nothing; keepalive: ": keep-alive\n" for SSE, else
 * nothing; done: "data: [DONE]\n\n" for SSE, else nothing; cleanup:
 * nothing; error_content_type "application/json" with
 * cs_encoder_json_error_body.  event is required.
 */
struct cs_encoder {
	const char *name;
	/* Response header lines after Status (each ending in \r\n). */
	const char *headers;
	int sse; /* Server-Sent Events: the SSE defaults */
	/* Nothing goes out before the end: events are kept in e->priv
	 * (bounded; CS_ETOOBIG when full), keep-alives write nothing, an
	 * error is an HTTP status, and at the end the headers go out with
	 * whatever done writes (the whole answer). */
	int deferred;
	/* e->priv: this many bytes, zeroed, before anything else is called;
	 * init (optional) sets them up (limits of kept buffers) and cannot
	 * fail; cleanup (optional) frees what the encoder allocated in them
	 * (the framework frees e->priv itself). */
	size_t state_size;
	void (*init)(struct cs_enc *e);
	void (*cleanup)(struct cs_enc *e);
	/* Bytes right after the headers. */
	enum cs_err (*prologue)(struct cs_enc *e, struct cs_buf *out);
	enum cs_err (*event)(
	    struct cs_enc *e, const struct cs_event *ev, struct cs_buf *out);
	/* Bytes that keep an idle connection alive (and probe it). */
	enum cs_err (*keepalive)(struct cs_enc *e, struct cs_buf *out);
	/* The end-of-stream marker, after a finish or error event. */
	enum cs_err (*done)(struct cs_enc *e, struct cs_buf *out);
	/* An error before streaming began: body of an HTTP error response,
	 * and its Content-Type. */
	const char *error_content_type;
	enum cs_err (*error_body)(
	    const char *type, const char *message, struct cs_buf *out);
};

/* The native protocol (docs/protocol.md). */
extern const struct cs_encoder cs_encoder_sse;
/* Plain text: the answer's text only (docs/protocol.md "Plain text"). */
extern const struct cs_encoder cs_encoder_text;
/* The AI SDK's UI message stream v1, for useChat (docs/protocol.md
 * "Vercel AI SDK (useChat)"). */
extern const struct cs_encoder cs_encoder_ui_stream;

/* OpenAI's Chat Completions: chunks (stream: true) or, deferred, one
 * chat.completion object (docs/protocol.md "OpenAI-compatible API"). */
extern const struct cs_encoder cs_encoder_openai;
extern const struct cs_encoder cs_encoder_openai_json;
/* OpenAI's errors: {"error":{"message","type","param","code"}} with
 * OpenAI's types, and the code for a native type (rate_limited is
 * rate_limit_exceeded, budget_exceeded insufficient_quota, unauthorized
 * invalid_api_key, else the native type). */
enum cs_err cs_encoder_openai_error_body(
    const char *type, const char *message, struct cs_buf *out);
const char *cs_enc_openai_code(const char *type);

/* OpenAI's Responses API: its events (stream: true) or, deferred, one
 * response object (docs/protocol.md "OpenAI Responses API"). */
extern const struct cs_encoder cs_encoder_responses;
extern const struct cs_encoder cs_encoder_responses_json;

/* Anthropic's Messages API: typed events (stream: true) or, deferred, one
 * Message object (docs/protocol.md "Anthropic Messages API"). */
extern const struct cs_encoder cs_encoder_anthropic;
extern const struct cs_encoder cs_encoder_anthropic_json;

/*
 * The framework (encoder.c), what the stream calls.  cs_enc_init makes
 * ops e's protocol: it frees the state of the previous one and allocates
 * ops's (e->stream_id is set by then; e->model may come later).
 * CS_ENOMEM when that fails: the ops below then return CS_ENOMEM too.
 * cs_enc_free releases the state (NULL-safe, again safe).  Every op
 * returns the encoder's error and then leaves out as it found it: no
 * partial frame.
 */
enum cs_err cs_enc_init(struct cs_enc *e, const struct cs_encoder *ops);
void cs_enc_free(struct cs_enc *e);
enum cs_err cs_enc_prologue(struct cs_enc *e, struct cs_buf *out);
enum cs_err
cs_enc_event(struct cs_enc *e, const struct cs_event *ev, struct cs_buf *out);
enum cs_err cs_enc_keepalive(struct cs_enc *e, struct cs_buf *out);
enum cs_err cs_enc_done(struct cs_enc *e, struct cs_buf *out);
const char *cs_enc_error_content_type(const struct cs_enc *e);
enum cs_err cs_enc_error_body(const struct cs_enc *e, const char *type,
    const char *message, struct cs_buf *out);

/* SSE framing, for the encoders: "event: NAME\n", "data: ", the blank
 * line that ends an event, and "data: [DONE]" with it (the end marker). */
void cs_enc_sse_event(struct cs_jsonw *w, const char *name);
void cs_enc_sse_data(struct cs_jsonw *w);
void cs_enc_sse_end(struct cs_jsonw *w);
void cs_enc_sse_done(struct cs_jsonw *w);

/* The token counts as the native protocol writes them (docs/protocol.md
 * "finish"): {"prompt_tokens","completion_tokens","total_tokens"} (null
 * where unknown) and "cached_tokens", "reasoning_tokens" when known; null
 * when u is NULL. */
void cs_enc_usage(struct cs_jsonw *w, const struct cs_usage *u);
enum cs_err cs_encoder_usage_json(const struct cs_usage *u, struct cs_buf *out);

/* {"error":{"type":...,"message":...}}: the body of every HTTP error
 * (the default error_body), whatever the protocol would have been. */
enum cs_err cs_encoder_json_error_body(
    const char *type, const char *message, struct cs_buf *out);
void
cs_enc_error_object(struct cs_jsonw *w, const char *type, const char *message);

#endif
