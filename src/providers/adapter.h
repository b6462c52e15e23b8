/*
 * providers/adapter.h — the adapter runtime: what turns a provider's
 * response body into normalized events (event.h), shared by every wire
 * format so each provider file holds only its own format.
 *
 * An adapter is a struct cs_adapter_ops (new, feed, end, free).  Every
 * wire format on SSE uses the one generic adapter, cs_sse_adapter: the
 * provider names a struct cs_sse_format (the size of its state, an event
 * handler, a cleanup, its truncation message) and the runtime does the
 * rest — the SSE parser, the limits, failure and truncation.  Its state
 * begins with a struct cs_adapter_base, which the helpers below take.
 *
 * The emit helpers pass the provider's strings on as valid UTF-8
 * (cs_utf8_sanitize); every pointer they are given is borrowed.
 */
#ifndef CS_ADAPTER_H
#define CS_ADAPTER_H

#include <stddef.h>

#include "cs.h"
#include "event.h"
#include "sse_parse.h"
#include "toolcalls.h"

struct cs_adapter; /* per-transfer state, the format's own */
struct cs_provider;
struct json_object;
struct json_tokener;

/* A stream parser.  Same contract for every wire format. */
struct cs_adapter_ops {
	/* A new parser for one transfer of p; NULL when out of memory. */
	struct cs_adapter *(*new)(
	    const struct cs_provider *p, cs_emit_fn emit, void *ctx);
	/* Feed response body bytes; emits events.  A non-CS_OK return stops
	 * the transfer (the emit callback's code, or CS_EUPSTREAM after an
	 * error event was emitted). */
	enum cs_err (*feed)(struct cs_adapter *a, const char *buf, size_t len);
	/* The body ended: emits the finish, or an error if it was cut. */
	enum cs_err (*end)(struct cs_adapter *a);
	void (*free)(struct cs_adapter *a); /* NULL-safe */
};

/*
 * The head of every adapter's state.  Once an error event went out
 * (failed) nothing more is parsed; nothing is dispatched after done (the
 * format's terminal event) or failed.  calls is there for the formats
 * whose tool calls arrive in pieces (toolcalls.h); what a call's index
 * means is the format's own.
 */
struct cs_adapter_base {
	cs_emit_fn emit;
	void *ctx;
	struct json_tokener *tok;        /* owned, one per adapter */
	struct cs_sse *sse;              /* owned; SSE formats only */
	const struct cs_sse_format *fmt; /* SSE formats only */
	int done;                        /* terminal event seen */
	int failed;                      /* error event emitted */
	struct cs_toolcalls calls;       /* owned; empty until one opens */
};

/* A wire format on SSE, for cs_sse_adapter (provider.h: .sse). */
struct cs_sse_format {
	/* The state: a struct whose first member is struct
	 * cs_adapter_base, allocated zeroed. */
	size_t size;
	/* Set up what zero does not (NULL: nothing); CS_ENOMEM fails new. */
	enum cs_err (*init)(void *state);
	/* One SSE event (ctx: the state); never called after done or
	 * failed.  Returns as feed does. */
	cs_sse_cb on_event;
	/* Free what the state owns (NULL: nothing); the runtime frees the
	 * rest. */
	void (*cleanup)(void *state);
	/* The error when the body ends before done. */
	const char *truncated;
};

/* The generic SSE adapter: new reads p->sse. */
extern const struct cs_adapter_ops cs_sse_adapter;

/* Set b up with a tokenizer (no SSE parser); CS_ENOMEM leaves nothing
 * allocated.  For adapters that are not on SSE (ollama). */
enum cs_err
cs_adapter_base_init(struct cs_adapter_base *b, cs_emit_fn emit, void *ctx);
/* Free what the base owns (not b itself). */
void cs_adapter_base_cleanup(struct cs_adapter_base *b);

/* Emit an error event and mark b failed; returns the emit's failure,
 * else CS_EUPSTREAM (so the caller stops the transfer). */
enum cs_err
cs_adapter_fail(struct cs_adapter_base *b, const char *type, const char *msg);
/* cs_adapter_fail() with the provider's in-band error err: its string
 * "message" if it is an object, err itself if a string, else a sentence
 * of ours. */
enum cs_err
cs_adapter_error(struct cs_adapter_base *b, struct json_object *err);
/* Emit v as a text delta of that kind if it is a non-empty string. */
enum cs_err
cs_adapter_text(struct cs_adapter_base *b, int kind, struct json_object *v);
/* The terminal event: b is done, the finish goes out (cs_emit_finish()).
 * Tool calls still pending must be emitted first. */
enum cs_err cs_adapter_finish(struct cs_adapter_base *b, const char *reason,
    const char *native, const struct cs_usage *usage);
/* The SSE event's data parsed as JSON: a new reference the caller puts,
 * or NULL when it is not exactly one JSON value (whitespace may follow). */
struct json_object *
cs_adapter_parse(struct cs_adapter_base *b, const struct cs_sse_event *ev);

/* Emit one complete tool call. */
enum cs_err cs_emit_tool_call(cs_emit_fn emit, void *ctx, const char *id,
    const char *name, const char *args);
/* Emit the finish: reason in the native set, the provider's own word
 * (or NULL), the token counts the adapter read (or NULL).  The finish
 * carries no usage when neither prompt nor completion is known; an
 * unknown total becomes their sum. */
enum cs_err cs_emit_finish(cs_emit_fn emit, void *ctx, const char *reason,
    const char *native, const struct cs_usage *usage);

/* The largest token count believed: a peer that claims more (up to
 * 2^63 - 1, where sums of counts would overflow) is treated as not
 * having said. */
#define CS_USAGE_MAX 1000000000000000LL

/* o[key] if it is an integer from 0 to CS_USAGE_MAX, else CS_USAGE_NONE
 * (also when o is NULL or not an object): how adapters read their token
 * counts, so that adding a few of them cannot overflow. */
long long cs_json_count(struct json_object *o, const char *key);
/* Copy string v into dst (truncated, terminated); no-op if not a string. */
void cs_json_copy_str(char *dst, size_t dstlen, struct json_object *v);
/* Map an OpenAI-style finish reason onto the native set. */
const char *cs_finish_reason_native(const char *provider_reason);

/*
 * Room for element n (0-based) in the growable array whose pointer is at
 * arrp (e.g. &a->calls) with capacity *cap elements of elem bytes: grows it
 * (doubling, new elements zeroed) when n == *cap.  CS_ETOOBIG when n has
 * reached max, CS_ENOMEM when out of memory (the array is left as it was).
 * Adapters keep per-stream arrays small this way instead of sizing them
 * for the worst case.
 */
enum cs_err
cs_array_reserve(void *arrp, size_t *cap, size_t n, size_t elem, size_t max);

#endif
