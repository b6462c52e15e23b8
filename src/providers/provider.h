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

#include "adapter.h"
#include "build.h"
#include "cs.h"

struct cs_config;
struct cs_upstream_cfg;
struct cs_chat_request;
struct cs_source_ops;

struct cs_provider {
	const char *name; /* the config word: provider = NAME */
	/* What an upstream assumes when the config says nothing: */
	const char *base_url;     /* NULL: must be configured */
	const char *base_url_env; /* read when base_url is unset; or NULL */
	const char *key_env;      /* the key's variable, when api_key_env
	                                is left at its default; or NULL */
	const char *model;        /* offered when no model is configured */
	const char *auth_header;  /* the key goes out as auth_header+key,
	                                e.g. "Authorization: Bearer " */
	/* Settle the provider's own settings of up once its base URL is
	 * known (developer_role, api_version); NULL: nothing to settle. */
	void (*resolve)(struct cs_upstream_cfg *up);
	/* NULL when wire (a model's upstream name) suits up, else why not
	 * ("is not ..."); NULL: every name does. */
	const char *(*check_model)(
	    const struct cs_upstream_cfg *up, const char *wire);
	/* HTTP providers: the request, and the parser of the response
	 * (adapter.h); on SSE, adapter is cs_sse_adapter and sse the
	 * format. */
	enum cs_err (*build)(const struct cs_upstream_cfg *up,
	    const struct cs_chat_request *req, struct cs_http_request *hr);
	const struct cs_adapter_ops *adapter;
	const struct cs_sse_format *sse;
	/* NULL: a request's response_format reaches the provider in its
	 * own terms; else the wire has none, and this says what to use
	 * instead (the 400 a request with one gets names the upstream). */
	const char *no_response_format;
	/* The same for stop sequences (request.h "stop"). */
	const char *no_stop;
	/* Local providers: the answer is made here, a step at a time
	 * (upstream.h: struct cs_source_ops); NULL when out of memory. */
	void *(*source_new)(
	    const struct cs_config *cfg, const struct cs_chat_request *req);
	const struct cs_source_ops *source;
};

/* Every provider, in the order "provider =" lists them; NULL-terminated.
 * Adding one: its file, and its line here (registry.c). */
extern const struct cs_provider *const cs_providers[];

/* The provider whose config word is name, or NULL. */
const struct cs_provider *cs_provider_find(const char *name);

#endif
