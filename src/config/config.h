/*
 * config.h — the one configuration, read at start-up and read-only after.
 *
 * conf/chatstream.conf is a list of "key = value" lines; '#' starts a
 * comment at the beginning of a line; values may be double-quoted (then \"
 * and \\ are the only escapes).  Every key is one row of a table in
 * config_keys.c (name, type, bounds, default), so errors name file:line.
 * Repeatable keys: "model", "header".  After the top-level keys come
 * optional sections: [upstream NAME] (another provider endpoint),
 * [model ALIAS] (a model clients may choose, on any upstream, with its own
 * caps, instructions and limits) and [key NAME] (an access key, by the
 * SHA-256 of its secret, with its models and limits).
 */
#ifndef CS_CONFIG_H
#define CS_CONFIG_H

#include <stddef.h>

#include "cs.h"
#include "identity.h"
#include "route.h"

#define CS_MAX_KEYS 64 /* [key] sections */

struct cs_provider; /* provider.h: one per wire format */

/* One provider endpoint: the top-level keys describe upstream "default";
 * each [upstream NAME] section adds another. */
struct cs_upstream_cfg {
	char name[CS_MAX_NAME];
	/* NULL = auto: openai-chat with a key or base_url, else demo */
	const struct cs_provider *provider;
	char base_url[512];     /* "" = the provider's env var or default */
	char api_key_file[512]; /* "" = none */
	char api_key_env[64];   /* env var with the key; the default
	                         OPENAI_API_KEY: the provider's usual one */
	char api_version[64];   /* azure-openai: api-version, or "v1" */
	char ca_file[512], ca_path[512]; /* TLS trust (tls_ca.h); "" = none */
	char headers[CS_MAX_UPSTREAM_HEADERS][CS_MAX_HEADER_LINE];
	size_t n_headers; /* extra "Name: value" request headers */
	long connect_timeout_ms;
	long first_byte_timeout_ms;
	long idle_timeout_ms;
	long total_timeout_ms;
	int max_retries; /* 0..5, default 2 */
	size_t line;     /* where the section starts; 0 = top */

	/* Filled by cs_config_resolve(), not from the file: */
	char *api_key;            /* secret; NULL if none; wiped on free */
	const char *base_url_eff; /* base_url to use, never NULL */
	char base_url_buf[512];   /* base_url_eff, trailing '/' removed */
	const struct cs_provider *provider_eff; /* never NULL */
	const char *key_source; /* "file", "env", or "none" (for logs) */
	int developer_role;     /* the upstream knows the "developer"
	                                role (the provider's resolve) */
};

/* Admission limits: 0 = unlimited; in a [key], -1 = the top level's. */
struct cs_limits {
	long rpm;                 /* requests_per_minute */
	long concurrent;          /* concurrent_streams */
	long long tokens_per_day; /* tokens_per_day (UTC day) */
};

/* A [key NAME] section; its name and hash are access_keys[same index]. */
struct cs_key_cfg {
	char secret_sha256[65], models[512], permissions[64]; /* as written */
	struct cs_limits lim;
	size_t line;
	unsigned long models_mask; /* resolved: bit i = models[i] allowed */
	unsigned perms;            /* resolved: CS_PERM_* (identity.h) */
};

/*
 * A model clients may choose: a "model = NAME [MAX_TOKENS]" line (on the
 * default upstream, under its own name) or a [model ALIAS] section.
 */
struct cs_model_cfg {
	char name[CS_MAX_NAME];    /* what clients send and see */
	struct cs_route_cfg route; /* its deployments (route.h) */
	char description[256];     /* shown in GET /api/models; "" = none */
	long max_tokens;           /* cap on a request's max_tokens; 0 = none */
	/* Each has_X says X was set in the section; else the top-level
	 * setting applies (temperature: the provider's default). */
	int has_temperature;
	long temperature_milli; /* default temperature x1000 */
	int has_client_instructions;
	int client_instructions;
	int has_instructions;
	char instructions[CS_MAX_INSTRUCTIONS]; /* replaces the top-level */
	struct cs_limits lim; /* per identity on this model; 0 = none */
	size_t line;          /* where it was defined */

	/* Filled by cs_config_resolve(): the first deployment's */
	const struct cs_upstream_cfg *up;
	char upstream_model[CS_MAX_NAME]; /* "" = name */
};

struct cs_config {
	/* process */
	char listen[256]; /* --listen default; "" = inherit fd 0 */
	int threads;      /* worker threads, 1..1024: they read
	                                requests and answer the short ones */
	int loops;        /* event-loop threads for provider
	                                streams; 0 = one per CPU */
	int max_streams;  /* open provider streams per process;
	                                0 = from the open-file limit */
	/* request limits */
	size_t max_body_bytes;        /* POST body */
	size_t max_messages;          /* entries in messages[] */
	size_t max_message_bytes;     /* one message's content */
	long request_read_timeout_ms; /* params + body must arrive within */
	long max_tokens_cap;          /* cap for models without their own
	                                max_tokens; 0 = none */
	/* streaming */
	long keepalive_ms;        /* keepalive_seconds */
	long shutdown_grace_ms;   /* SIGTERM: let streams finish this long */
	long write_timeout_ms;    /* one write to the server may take this
	                                long, then the stream ends slow_client */
	size_t max_pending_bytes; /* answer bytes kept while the client
	                                does not read; the provider is paused
	                                there */
	/* upstreams: [0] is "default", from the top-level keys */
	struct cs_upstream_cfg upstreams[CS_MAX_UPSTREAMS];
	size_t n_upstreams;
	/* models */
	struct cs_model_cfg models[CS_MAX_MODELS];
	size_t n_models;
	char default_model[CS_MAX_NAME]; /* "" = the first model */
	/* instructions (system prompt) */
	int client_instructions; /* may clients send "instructions"? */
	char instructions[CS_MAX_INSTRUCTIONS]; /* server system prompt */
	/* tools */
	int client_tools;          /* may clients send "tools"? */
	int chat_get;              /* GET /api/chat?prompt=... (EventSource) */
	int demo_words_per_second; /* demo provider */
	int self_check;            /* GET /api/check, the self-check stream */
	char cors_origins[1024];   /* origins /api/v1 answers (cors.h) */
	/* admission (admit.h): the store, who is asking, the limits */
	char state[512];    /* "memory", "sqlite:PATH"; "" = default */
	char state_fail[8]; /* closed | open */
	char client_id[CS_MAX_NAME + 8]; /* ip|remote_user|key|header:NAME */
	char trusted_proxies_text[2048];
	struct cs_limits lim; /* per identity */
	long long global_tokens_per_day;
	long ledger_days;    /* 0 = keep the ledger forever */
	int ledger_raw_ip;   /* yes: addresses in it as they are */
	char api_v1_auth[8]; /* open | key */
	/* GET /api/metrics (off|loopback|key), /api/admin (off|key), and the
	 * pool's shared metrics segment (metrics.h; "" = beside the store) */
	char metrics[12], admin[8], metrics_file[512];
	struct cs_key_cfg keys[CS_MAX_KEYS];
	struct cs_access_key access_keys[CS_MAX_KEYS]; /* same index */
	size_t n_keys;
	/* Filled by cs_config_resolve(): */
	int admission; /* a limit, a key or api_v1_auth = key is set */
	int state_fail_open, api_v1_key, counted; /* ..., a limit or [key] */
	int routed; /* a model's route keeps state (route.h) */
	enum cs_id_mode id_mode;
	char id_param[CS_MAX_NAME + 8]; /* header:NAME as its CGI name */
	struct cs_cidrs trusted_proxies;
};

/* Every field to its default (as documented in conf/chatstream.conf). */
void cs_config_defaults(struct cs_config *cfg);

/*
 * Read path over the defaults already in cfg.  On error returns
 * CS_ECONFIG (or CS_ESYS if the file cannot be read) and writes a message
 * "path:line: what is wrong" into err.
 */
enum cs_err cs_config_load(
    struct cs_config *cfg, const char *path, char *err, size_t errlen);

/* state unset: "sqlite:DIR/chatstream-state.db", metrics_file unset:
 * DIR/chatstream-metrics; DIR $STATE_DIRECTORY or the directory of path
 * (a loaded file, may be NULL: then nothing is set).  Between
 * cs_config_load and cs_config_resolve. */
enum cs_err cs_config_default_state(
    struct cs_config *cfg, const char *path, char *err, size_t errlen);

/*
 * For every upstream: apply the environment (api_key_env, OPENAI_BASE_URL
 * when base_url is unset), read the key file (warning on stderr when it is
 * readable by group or others), pick provider_eff.  Then tie each model to
 * its upstream and check cross-field rules (default_model is one of the
 * models, ...).  Returns CS_ECONFIG with a message in err.
 */
enum cs_err cs_config_resolve(struct cs_config *cfg, char *err, size_t errlen);

/* Model by name, or NULL; name NULL or "" = the default model. */
const struct cs_model_cfg *
cs_config_model(const struct cs_config *cfg, const char *name);

/* The upstream called name ("" = "default"), or NULL. */
const struct cs_upstream_cfg *
cs_config_upstream(const struct cs_config *cfg, const char *name);

/* The instructions and client_instructions that apply to model m. */
const char *cs_model_instructions(
    const struct cs_config *cfg, const struct cs_model_cfg *m);
int cs_model_client_instructions(
    const struct cs_config *cfg, const struct cs_model_cfg *m);

/* The name to send the provider for m: upstream_model, else the name. */
const char *cs_model_wire_name(const struct cs_model_cfg *m);
/* Wipe and free the keys.  NULL-safe. */
void cs_config_free(struct cs_config *cfg);

#endif
