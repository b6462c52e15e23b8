/*
 * provider.h — what a provider is: one descriptor per wire format, one
 * file each in src/providers/, all listed in cs_providers[] (registry.c).
 *
 * A descriptor says what the config assumes for it (config.c reads these
 * when it resolves an upstream), how its HTTP request is built and how
 * its response body becomes normalized events (event.h); upstream.c runs
 * the transfer.  A local provider (demo) produces events itself.
 * Descriptors are constant: the table, not the providers, is the list.
 */
#ifndef CS_PROVIDER_H
#define CS_PROVIDER_H

#include <stddef.h>

#include "buf.h"
#include "event.h"
#include "sse_parse.h"
#include "utf8.h"

struct curl_slist;
struct cs_config;
struct cs_upstream_cfg;
struct cs_chat_request;
struct cs_stream;

/* The upstream HTTP request an adapter asks for.  Owned by the caller;
 * release with cs_http_request_free(). */
struct cs_http_request {
	struct cs_buf url;
	struct cs_buf body;
	struct curl_slist *headers;
};

void cs_http_request_init(struct cs_http_request *hr);
void cs_http_request_free(struct cs_http_request *hr);

struct cs_adapter;   /* per-transfer parser state, provider-specific */

struct cs_provider {
	const char *name;            /* the config word: provider = NAME */
	/* What an upstream assumes when the config says nothing: */
	const char *base_url;        /* NULL: must be configured */
	const char *base_url_env;    /* read when base_url is unset; or NULL */
	const char *key_env;         /* the key's variable, when api_key_env
	                                is left at its default; or NULL */
	const char *model;           /* offered when no model is configured */
	const char *auth_header;     /* the key goes out as auth_header+key,
	                                e.g. "Authorization: Bearer " */
	/* Settle the provider's own settings of up once its base URL is
	 * known (developer_role, api_version); NULL: nothing to settle. */
	void (*resolve)(struct cs_upstream_cfg *up);
	/* NULL when wire (a model's upstream name) suits up, else why not
	 * ("is not ..."); NULL: every name does. */
	const char *(*check_model)(const struct cs_upstream_cfg *up,
	    const char *wire);
	/* HTTP providers. */
	enum cs_err (*build)(const struct cs_upstream_cfg *up,
	    const struct cs_chat_request *req, struct cs_http_request *hr);
	struct cs_adapter *(*adapter_new)(cs_emit_fn emit, void *ctx);
	/* Feed response body bytes; emits events.  A non-CS_OK return stops
	 * the transfer (the emit callback's code, or CS_EUPSTREAM after an
	 * error event was emitted). */
	enum cs_err (*adapter_feed)(struct cs_adapter *a, const char *buf,
	    size_t len);
	/* The body ended: emits the finish, or an error if it was cut. */
	enum cs_err (*adapter_end)(struct cs_adapter *a);
	void (*adapter_free)(struct cs_adapter *a);
	/* Local providers: the answer is made here, a step at a time
	 * (upstream.h: struct cs_source_ops); NULL when out of memory. */
	void *(*source_new)(const struct cs_config *cfg,
	    const struct cs_chat_request *req);
	const struct cs_source_ops *source;
};

/* Every provider, in the order "provider =" lists them; NULL-terminated.
 * Adding one: its file, and its line here (registry.c). */
extern const struct cs_provider *const cs_providers[];

/* The provider whose config word is name, or NULL. */
const struct cs_provider *cs_provider_find(const char *name);

/* Helpers the adapters share.  cs_emit_error, cs_emit_text and
 * cs_emit_tool_call pass the provider's strings on as valid UTF-8
 * (cs_utf8_sanitize). */
/* Emit an error event; returns the emit's failure, else CS_EUPSTREAM (so
 * the caller stops the transfer). */
enum cs_err cs_emit_error(cs_emit_fn emit, void *ctx, const char *type,
    const char *msg);
/* Emit v as a text delta of that kind if it is a non-empty string. */
enum cs_err cs_emit_text(cs_emit_fn emit, void *ctx, int kind,
    struct json_object *v);
/* Emit one complete tool call (borrowed strings). */
enum cs_err cs_emit_tool_call(cs_emit_fn emit, void *ctx, const char *id,
    const char *name, const char *args);
/* Emit the finish: reason in the native set, the provider's own word
 * (or NULL), the token counts the adapter read (borrowed, or NULL).  The
 * finish carries no usage when neither prompt nor completion is known;
 * an unknown total becomes their sum. */
enum cs_err cs_emit_finish(cs_emit_fn emit, void *ctx, const char *reason,
    const char *native, const struct cs_usage *usage);
/* o[key] if it is a non-negative integer, else CS_USAGE_NONE (also when
 * o is NULL or not an object): how adapters read their token counts. */
long long cs_json_count(struct json_object *o, const char *key);
/* Copy string v into dst (truncated, terminated); no-op if not a string. */
void cs_json_copy_str(char *dst, size_t dstlen, struct json_object *v);
/* Append one "Name: value" header to hr. */
enum cs_err cs_http_add_header(struct cs_http_request *hr, const char *h);
/* Finish a JSON request: body serialized into hr->body, Content-Type,
 * Accept, and when key is non-NULL the header key_header+key (e.g.
 * "Authorization: Bearer "); the scratch copy of the key is wiped. */
enum cs_err cs_http_json_request(struct cs_http_request *hr,
    struct json_object *body, const char *accept, const char *key_header,
    const char *key);

/*
 * The head shared by the SSE-based adapters (openai_chat/completions,
 * openai_responses, anthropic): each embeds it as the first member of its
 * struct cs_adapter and passes its own event callback to init.  Once an
 * error event went out (failed) feed refuses more input; nothing is
 * dispatched after done (the adapter's terminal event) or failed.
 */
struct cs_sse_adapter_base {
	cs_emit_fn emit;
	void *ctx;
	struct cs_sse *sse;             /* owned */
	struct json_tokener *tok;       /* owned, one per adapter */
	int done;                       /* terminal event seen */
	int failed;                     /* error event emitted */
};

/* Set up b; on_event gets cb_ctx (the adapter).  CS_ENOMEM leaves
 * nothing allocated. */
enum cs_err cs_sse_base_init(struct cs_sse_adapter_base *b, cs_emit_fn emit,
    void *ctx, cs_sse_cb on_event, void *cb_ctx);
/* Feed body bytes to the SSE parser; an oversized event becomes an error
 * event.  After a failure returns CS_EUPSTREAM without parsing. */
enum cs_err cs_sse_base_feed(struct cs_sse_adapter_base *b, const char *buf,
    size_t len);
/* The body ended: CS_OK if done or failed, else the error event
 * truncated_msg (the stream was cut). */
enum cs_err cs_sse_base_end(struct cs_sse_adapter_base *b,
    const char *truncated_msg);
/* Free what init allocated (not b itself); NULL-safe members. */
void cs_sse_base_cleanup(struct cs_sse_adapter_base *b);
/* cs_emit_error() that also marks b failed. */
enum cs_err cs_sse_base_fail(struct cs_sse_adapter_base *b, const char *type,
    const char *msg);
/* The event's data parsed as JSON: a new reference the caller puts, or
 * NULL when it is not exactly one JSON value (whitespace may follow). */
struct json_object *cs_sse_base_parse(struct cs_sse_adapter_base *b,
    const struct cs_sse_event *ev);

/*
 * Room for element n (0-based) in the growable array whose pointer is at
 * arrp (e.g. &a->calls) with capacity *cap elements of elem bytes: grows it
 * (doubling, new elements zeroed) when n == *cap.  CS_ETOOBIG when n has
 * reached max, CS_ENOMEM when out of memory (the array is left as it was).
 * Adapters keep per-stream arrays small this way instead of sizing them
 * for the worst case.
 */
enum cs_err cs_array_reserve(void *arrp, size_t *cap, size_t n, size_t elem,
    size_t max);

/*
 * Tool-call arguments (JSON text from the client, len bytes) as a new
 * JSON object for the providers that want an object rather than text: the
 * parsed value if it is one object and nothing else, else an empty
 * object.  NULL only when out of memory.  Shared by anthropic and ollama.
 */
struct json_object;
struct json_object *cs_json_args_object(const char *s, size_t len);

/* Map an OpenAI-style finish reason onto the native set. */
const char *cs_finish_reason_native(const char *provider_reason);

#endif
