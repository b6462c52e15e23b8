/*
 * encoder.h — downstream protocols.  An encoder turns normalized events
 * (event.h) into response bytes; one file per protocol in src/encoders/.
 * Encoders only format: the stream (stream.h) writes and flushes.
 */
#ifndef CS_ENCODER_H
#define CS_ENCODER_H

#include "buf.h"
#include "event.h"

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
	unsigned long seq;    /* events written so far */
	/* For protocols that name the response (OpenAI-compatible, AI SDK):
	 * set by the handler before the first byte. */
	const char *model;    /* the model name the client asked for */
	long long created;    /* Unix time the request arrived */
	unsigned flags;       /* CS_ENC_* */
	void *priv;           /* the encoder's own state; freed by its
	                         cleanup op */
};

#define CS_ENC_INCLUDE_USAGE  (1u << 0)  /* OpenAI stream_options */

struct cs_encoder {
	const char *name;
	/* Response header lines after Status (each ending in \r\n). */
	const char *headers;
	/* Bytes right after the headers (may write nothing). */
	enum cs_err (*prologue)(struct cs_enc *e, struct cs_buf *out);
	enum cs_err (*event)(struct cs_enc *e, const struct cs_event *ev,
	    struct cs_buf *out);
	/* Bytes that keep an idle connection alive (and probe it). */
	enum cs_err (*keepalive)(struct cs_enc *e, struct cs_buf *out);
	/* The end-of-stream marker, after a finish or error event. */
	enum cs_err (*done)(struct cs_enc *e, struct cs_buf *out);
	/* Optional: free e->priv (NULL-safe; may be NULL). */
	void (*cleanup)(struct cs_enc *e);
	/* An error before streaming began: body of an HTTP error response,
	 * and its Content-Type. */
	const char *error_content_type;
	enum cs_err (*error_body)(const char *type, const char *message,
	    struct cs_buf *out);
	/* Nothing goes out before the end: events are kept in e->priv
	 * (bounded; CS_ETOOBIG when full), keep-alives write nothing, an
	 * error is an HTTP status, and at the end the headers go out with
	 * whatever done writes (the whole answer). */
	int deferred;
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

/* The SSE keep-alive, shared by the SSE encoders: ": keep-alive\n", a
 * comment line alone (encoders/sse.c says why). */
enum cs_err cs_encoder_sse_keepalive(struct cs_enc *e, struct cs_buf *out);
/* "data: [DONE]" and the blank line: the end marker of the SSE protocols
 * (OpenAI's chunks, the AI SDK's UI stream, the native stream). */
enum cs_err cs_encoder_sse_done(struct cs_enc *e, struct cs_buf *out);

/* The token counts as the native protocol writes them (docs/protocol.md
 * "finish"): {"prompt_tokens","completion_tokens","total_tokens"} (null
 * where unknown) and "cached_tokens", "reasoning_tokens" when known; null
 * when u is NULL. */
enum cs_err cs_encoder_usage_json(const struct cs_usage *u,
    struct cs_buf *out);

/* The JSON body of an HTTP error, shared by the encoders. */
enum cs_err cs_encoder_json_error_body(const char *type, const char *message,
    struct cs_buf *out);

#endif
