/*
 * config_keys.c — the keys of the configuration file, one row each.
 *
 * Every key is one row of cfg_keys[] below: name, type, where it lives in
 * struct cs_config, its bounds and its default written as it would appear
 * in the file.  One parser per type turns text into the field, so the file,
 * the defaults and the error messages cannot drift apart.
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "config_int.h"
#include "identity.h"
#include "provider.h"
#include "state.h"

static int check_url(const struct ckey *, const char *, struct pos *);
static int check_envname(const struct ckey *, const char *, struct pos *);
static int check_token(const struct ckey *, const char *, struct pos *);
static int check_state(const struct ckey *, const char *, struct pos *);
static int check_word(const struct ckey *, const char *, struct pos *);
static int check_list(const struct ckey *, const char *, struct pos *);
static int check_weights(const struct ckey *, const char *, struct pos *);
static int check_balance(const struct ckey *, const char *, struct pos *);
static int check_client_id(const struct ckey *, const char *, struct pos *);
static int check_cidrs(const struct ckey *, const char *, struct pos *);
static int check_sha256(const struct ckey *, const char *, struct pos *);
static int check_names(const struct ckey *, const char *, struct pos *);
static int check_origins(const struct ckey *, const char *, struct pos *);
static int check_expose(const struct ckey *, const char *, struct pos *);
static int check_perms(const struct ckey *, const char *, struct pos *);

#define FIELD_OF(type, f) offsetof(type, f), sizeof(((type *)0)->f)
#define TOP(f)            SC_TOP, FIELD_OF(struct cs_config, f)
#define UP(f)             SC_UPSTREAM, FIELD_OF(struct cs_upstream_cfg, f)
#define MOD(f)            SC_MODEL, FIELD_OF(struct cs_model_cfg, f)
#define KEY(f)            SC_KEY, FIELD_OF(struct cs_key_cfg, f)

/* A row: name, where the field is, its type, then what applies of
 * .min/.max (bounds), .def (default as written in the file; none = zero
 * or set by the section's initialiser), .check, .inherit. */
#define ROW(n, where, t) \
	{ \
		n, where, t
const struct ckey
    cfg_keys[] = { ROW("listen", TOP(listen), CT_STRING), .def = "" },
    ROW("threads", TOP(threads), CT_INT), .min = 1, .max = 1024, .def = "16"
}
, ROW("loops", TOP(loops), CT_INT), .min = 0, .max = 256, .def = "0"
}
, ROW("max_streams", TOP(max_streams), CT_INT), .min = 0, .max = 1000000,
                                                .def = "0"
}
, ROW("max_body_bytes", TOP(max_body_bytes), CT_SIZE),
    .min = 1024, .max = CS_MAX_REQUEST_BODY, .def = "256k"
}
, ROW("max_messages", TOP(max_messages), CT_INT), .min = 1, .max = 10000,
                                                  .def = "256"
}
, ROW("max_message_bytes", TOP(max_message_bytes), CT_SIZE),
    .min = 1, .max = CS_MAX_REQUEST_BODY, .def = "64k"
}
,
    ROW("request_read_timeout_seconds", TOP(request_read_timeout_ms),
        CT_DURATION),
    .min = 100, .max = 600 * 1000, .def = "10"
}
, ROW("max_tokens_cap", TOP(max_tokens_cap), CT_INT),
    .min = 0, .max = CONF_MAX_TOKENS, .def = "4096"
}
, ROW("keepalive_seconds", TOP(keepalive_ms), CT_DURATION),
    .min = 100, .max = 300 * 1000, .def = "15"
}
, ROW("shutdown_grace_seconds", TOP(shutdown_grace_ms), CT_DURATION),
    .min = 0, .max = 3600 * 1000, .def = "30"
}
, ROW("write_timeout_seconds", TOP(write_timeout_ms), CT_DURATION),
    .min = 100, .max = 3600 * 1000, .def = "30"
}
, ROW("max_pending_bytes", TOP(max_pending_bytes), CT_SIZE),
    .min = 16 * 1024, .max = 64 * 1024 * 1024, .def = "1m"
}
,
    /* upstream: top level for "default", or in [upstream NAME] */
    ROW("provider", UP(provider), CT_PROVIDER), .def = AUTO
}
, ROW("base_url", UP(base_url), CT_STRING), .def = "", .check = check_url
}
, ROW("api_key_file", UP(api_key_file), CT_STRING), .def = ""
}
, ROW("api_key_env", UP(api_key_env), CT_STRING), .def = "OPENAI_API_KEY",
                                                  .check = check_envname
}
, ROW("api_version", UP(api_version), CT_STRING), .def = "",
                                                  .check = check_token
}
, ROW("ca_file", UP(ca_file), CT_STRING), .def = "", .inherit = 1
}
, ROW("ca_path", UP(ca_path), CT_STRING), .def = "", .inherit = 1
}
, ROW("header", UP(headers), CT_HEADER), .def = NULL
}
, ROW("connect_timeout_seconds", UP(connect_timeout_ms), CT_DURATION),
    .min = 100, .max = 600 * 1000, .def = "10", .inherit = 1
}
, ROW("first_byte_timeout_seconds", UP(first_byte_timeout_ms), CT_DURATION),
    .min = 100, .max = 3600 * 1000, .def = "120", .inherit = 1
}
, ROW("idle_timeout_seconds", UP(idle_timeout_ms), CT_DURATION),
    .min = 100, .max = 3600 * 1000, .def = "90", .inherit = 1
}
, ROW("total_timeout_seconds", UP(total_timeout_ms), CT_DURATION),
    .min = 1000, .max = 86400 * 1000, .def = "900", .inherit = 1
}
, ROW("max_retries", UP(max_retries), CT_INT), .min = 0, .max = 5, .def = "2",
                                               .inherit = 1
}
,
    /* models */
    ROW("model", TOP(models), CT_MODEL), .min = 0, .max = CONF_MAX_TOKENS
}
, ROW("default_model", TOP(default_model), CT_STRING), .def = ""
}
, ROW("client_instructions", TOP(client_instructions), CT_BOOL),
    .min = 0, .max = 1, .def = "yes"
}
, ROW("instructions", TOP(instructions), CT_STRING), .def = ""
}
, ROW("client_tools", TOP(client_tools), CT_BOOL), .min = 0, .max = 1,
                                                   .def = "yes"
}
, ROW("chat_get", TOP(chat_get), CT_BOOL), .min = 0, .max = 1, .def = "yes"
}
, ROW("demo_words_per_second", TOP(demo_words_per_second), CT_INT),
    .min = 1, .max = 1000, .def = "20"
}
, ROW("self_check", TOP(self_check), CT_BOOL), .min = 0, .max = 1, .def = "yes"
}
, ROW("cors_origins", TOP(cors_origins), CT_STRING), .def = "",
                                                     .check = check_origins
}
,
    /* [model ALIAS] sections */
    ROW("upstream", MOD(route.upstreams), CT_STRING), .def = "",
                                                      .check = check_list
}
, ROW("upstream_model", MOD(route.models), CT_STRING), .def = "",
                                                       .check = check_list
}
, ROW("weights", MOD(route.weights), CT_STRING), .def = "",
                                                 .check = check_weights
}
, ROW("balance", MOD(route.balance), CT_STRING), .def = "ordered",
                                                 .check = check_balance
}
, ROW("allowed_fails", MOD(route.allowed_fails), CT_INT), .min = 0, .max = 1000
}
, ROW("fail_window_seconds", MOD(route.fail_window_ms), CT_DURATION),
    .min = 1000, .max = 86400 * 1000
}
, ROW("cooldown_seconds", MOD(route.cooldown_ms), CT_DURATION),
    .min = 1000, .max = 86400 * 1000
}
, ROW("description", MOD(description), CT_STRING), .def = ""
}
, ROW("max_tokens", MOD(max_tokens), CT_INT), .min = 0, .max = CONF_MAX_TOKENS,
                                              .def = "0"
}
, ROW("temperature", MOD(temperature_milli), CT_DECIMAL), .min = 0, .max = 2000
}
, ROW("instructions", MOD(instructions), CT_STRING), .def = ""
}
, ROW("client_instructions", MOD(client_instructions), CT_BOOL), .min = 0,
                                                                 .max = 1
}
, ROW("requests_per_minute", MOD(lim.rpm), CT_INT), .max = CONF_MAX_RATE
}
, ROW("concurrent_streams", MOD(lim.concurrent), CT_INT), .max = CONF_MAX_RATE
}
, ROW("tokens_per_day", MOD(lim.tokens_per_day), CT_INT), .max = CONF_MAX_DAY
}
,
    /* admission: the store, who is asking, the limits (admit.h) */
    ROW("state", TOP(state), CT_STRING), .def = "", .check = check_state
}
, ROW("state_fail", TOP(state_fail), CT_STRING), .def = "closed",
                                                 .check = check_word
}
, ROW("client_id", TOP(client_id), CT_STRING), .def = "ip",
                                               .check = check_client_id
}
, ROW("trusted_proxies", TOP(trusted_proxies_text), CT_STRING),
    .def = "", .check = check_cidrs
}
, ROW("requests_per_minute", TOP(lim.rpm), CT_INT), .max = CONF_MAX_RATE,
                                                    .def = "20"
}
, ROW("concurrent_streams", TOP(lim.concurrent), CT_INT), .max = CONF_MAX_RATE,
                                                          .def = "3"
}
, ROW("tokens_per_day", TOP(lim.tokens_per_day), CT_INT), .max = CONF_MAX_DAY,
                                                          .def = "200000"
}
, ROW("global_tokens_per_day", TOP(global_tokens_per_day), CT_INT),
    .max = CONF_MAX_DAY, .def = "2000000"
}
, ROW("api_v1_auth", TOP(api_v1_auth), CT_STRING), .def = "key",
                                                   .check = check_word
}
, ROW("ledger_days", TOP(ledger_days), CT_INT),
    .min = 0, .max = CONF_MAX_LEDGER_DAYS, .def = "90"
}
, ROW("ledger_raw_ip", TOP(ledger_raw_ip), CT_BOOL), .min = 0, .max = 1,
                                                     .def = "no"
}
, ROW("metrics", TOP(metrics), CT_STRING), .def = "off", .check = check_expose
}
, ROW("metrics_file", TOP(metrics_file), CT_STRING), .def = ""
}
, ROW("admin", TOP(admin), CT_STRING), .def = "off", .check = check_expose
}
,
    /* [key NAME] sections */
    ROW("secret_sha256", KEY(secret_sha256), CT_STRING), .check = check_sha256
}
, ROW("permissions", KEY(permissions), CT_STRING), .check = check_perms
}
, ROW("models", KEY(models), CT_STRING), .check = check_names
}
, ROW("requests_per_minute", KEY(lim.rpm), CT_INT), .max = CONF_MAX_RATE
}
, ROW("concurrent_streams", KEY(lim.concurrent), CT_INT), .max = CONF_MAX_RATE
}
, ROW("tokens_per_day", KEY(lim.tokens_per_day), CT_INT), .max = CONF_MAX_DAY
}
,
}
;
#undef ROW

_Static_assert(CS_ARRAY_LEN(cfg_keys) <= CONF_MAX_KEYS,
    "the key table outgrew CONF_MAX_KEYS");
const size_t cfg_n_keys = CS_ARRAY_LEN(cfg_keys);

/*
 * The n bytes at s as a non-negative decimal: digits only (no sign, space
 * or base prefix; leading zeros are fine and do not mean octal).
 * Returns 0, -1 if not all digits (or none), 1 if it overflows.
 */
static int
parse_dec(const char *s, size_t n, long long *out)
{
	unsigned long long v;

	/* Capped one above LLONG_MAX, so "too big" is still told apart. */
	if (cs_parse_dec(s, n, (unsigned long long)LLONG_MAX + 1, &v) != 0)
		return -1;
	if (v > (unsigned long long)LLONG_MAX)
		return 1;
	*out = (long long)v;
	return 0;
}

/* Milliseconds as seconds the way a user writes them: "0.1", "2.25". */
static const char *
fmt_secs(char *buf, size_t len, long long ms)
{
	char frac[8];
	size_t n;

	if (ms % 1000 == 0) {
		snprintf(buf, len, "%lld", ms / 1000);
		return buf;
	}
	snprintf(frac, sizeof(frac), "%03lld", ms % 1000);
	for (n = strlen(frac); n > 0 && frac[n - 1] == '0'; n--)
		frac[n - 1] = '\0';
	snprintf(buf, len, "%lld.%s", ms / 1000, frac);
	return buf;
}

/* Store v into an int- or long-sized field (size_t fields are long-sized). */
static int
store_int(const struct ckey *k, void *field, long long v, struct pos *p)
{
	if (k->size == sizeof(int)) {
		int x = (int)v;

		memcpy(field, &x, sizeof(x));
	} else if (k->size == sizeof(long long)) {
		memcpy(field, &v, sizeof(v));
	} else
		return cfg_error(p, "%s: internal error: field has %zu bytes",
		    k->name, k->size);
	return 0;
}

static int
set_int(const struct ckey *k, void *field, const char *v, struct pos *p)
{
	const char *s = v;
	long long x;
	int rc;

	if (*s == '-')
		s++;
	if ((rc = parse_dec(s, strlen(s), &x)) < 0)
		return cfg_error(p,
		    "%s: \"%.80s\" is not an integer "
		    "(%lld..%lld)",
		    k->name, v, k->min, k->max);
	if (s != v)
		x = -x;
	if (rc > 0 || x < k->min || x > k->max)
		return cfg_error(p,
		    "%s: \"%.80s\" is out of range "
		    "(%lld..%lld)",
		    k->name, v, k->min, k->max);
	return store_int(k, field, x, p);
}

static int
set_size(const struct ckey *k, void *field, const char *v, struct pos *p)
{
	size_t n = strlen(v);
	long long x, mult = 1;
	int rc;

	if (n > 0 && (v[n - 1] == 'k' || v[n - 1] == 'K')) {
		mult = 1024;
		n--;
	} else if (n > 0 && (v[n - 1] == 'm' || v[n - 1] == 'M')) {
		mult = 1024 * 1024;
		n--;
	}
	if ((rc = parse_dec(v, n, &x)) < 0)
		return cfg_error(p,
		    "%s: \"%.80s\" is not a size (bytes, or "
		    "with suffix k or m; %lld..%lld)",
		    k->name, v, k->min, k->max);
	if (rc > 0 || x > LLONG_MAX / mult || x * mult < k->min ||
	    x * mult > k->max)
		return cfg_error(p,
		    "%s: \"%.80s\" is out of range (%lld..%lld "
		    "bytes)",
		    k->name, v, k->min, k->max);
	return store_int(k, field, x * mult, p);
}

/* CT_DURATION (seconds, stored in ms) and CT_DECIMAL (stored x1000). */
static int
set_duration(const struct ckey *k, void *field, const char *v, struct pos *p)
{
	const char *dot = strchr(v, '.');
	size_t ni = dot ? (size_t)(dot - v) : strlen(v);
	size_t nf = dot ? strlen(dot + 1) : 0;
	int secs_unit = k->type == CT_DURATION;
	long long secs, frac = 0, ms;
	char lo[32], hi[32];
	int rc;

	rc = parse_dec(v, ni, &secs);
	if (rc == 0 && dot != NULL) {
		if (nf < 1 || nf > 3 || parse_dec(dot + 1, nf, &frac) != 0)
			rc = -1;
		for (; nf < 3; nf++)
			frac *= 10;
	}
	fmt_secs(lo, sizeof(lo), k->min);
	fmt_secs(hi, sizeof(hi), k->max);
	if (rc < 0)
		return cfg_error(p,
		    "%s: \"%.80s\" is not a %s (%s, at most 3 "
		    "decimals; %s..%s)",
		    k->name, v, secs_unit ? "duration" : "number",
		    secs_unit ? "seconds like 15 or 0.5" : "like 1 or 0.7", lo,
		    hi);
	if (rc > 0 || secs > (LLONG_MAX - 999) / 1000)
		ms = LLONG_MAX;
	else
		ms = secs * 1000 + frac;
	if (ms < k->min || ms > k->max)
		return cfg_error(p, "%s: \"%.80s\" is out of range (%s..%s%s)",
		    k->name, v, lo, hi, secs_unit ? " seconds" : "");
	return store_int(k, field, ms, p);
}

static int
set_bool(const struct ckey *k, void *field, const char *v, struct pos *p)
{
	static const char *const yes[] = { "yes", "true", "on", "1" };
	static const char *const no[] = { "no", "false", "off", "0" };
	size_t i;

	for (i = 0; i < CS_ARRAY_LEN(yes); i++) {
		if (strcasecmp(v, yes[i]) == 0)
			return store_int(k, field, 1, p);
		if (strcasecmp(v, no[i]) == 0)
			return store_int(k, field, 0, p);
	}
	return cfg_error(p,
	    "%s: \"%.80s\" is not a boolean (yes/no, "
	    "true/false, on/off, 1/0)",
	    k->name, v);
}

static int
set_string(const struct ckey *k, void *field, const char *v, struct pos *p)
{
	size_t n = strlen(v);

	if (n >= k->size)
		return cfg_error(p, "%s: value is too long (at most %zu bytes)",
		    k->name, k->size - 1);
	if (k->check != NULL && k->check(k, v, p) != 0)
		return -1;
	/* Clear the tail too, so equal settings compare equal bytewise. */
	memset(field, 0, k->size);
	memcpy(field, v, n);
	return 0;
}

/* auto (stored as NULL) or the name of one of cs_providers[]. */
static int
set_provider(const struct ckey *k, void *field, const char *v, struct pos *p)
{
	const struct cs_provider *x = NULL;
	char list[256];
	size_t i, n;

	if (strcmp(v, AUTO) != 0 && (x = cs_provider_find(v)) == NULL) {
		n = (size_t)snprintf(list, sizeof(list), "%s", AUTO);
		for (i = 0; cs_providers[i] != NULL && n < sizeof(list); i++)
			n += (size_t)snprintf(list + n, sizeof(list) - n,
			    ", %s", cs_providers[i]->name);
		return cfg_error(
		    p, "%s: \"%.80s\" is not one of %s", k->name, v, list);
	}
	memcpy(field, &x, sizeof(x));
	return 0;
}

/* Model names travel in JSON, logs and upstream requests: keep them tame. */
int
cfg_valid_model_name(const char *s, size_t n)
{
	size_t i;

	if (n == 0 || n >= CS_MAX_NAME)
		return 0;
	for (i = 0; i < n; i++) {
		char c = s[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		        (c >= '0' && c <= '9') || strchr("._:/@+-", c) != NULL))
			return 0;
	}
	return 1;
}

/* The [model] keys that override a top-level setting only when set. */
void
cfg_model_mark_set(struct cs_model_cfg *m, size_t off)
{
	if (off == offsetof(struct cs_model_cfg, instructions))
		m->has_instructions = 1;
	else if (off == offsetof(struct cs_model_cfg, client_instructions))
		m->has_client_instructions = 1;
	else if (off == offsetof(struct cs_model_cfg, temperature_milli))
		m->has_temperature = 1;
	else if (off == offsetof(struct cs_model_cfg, route.allowed_fails))
		m->route.has_allowed_fails = 1;
}

/* Append a model called name (nlen bytes) to cfg, or fail with why. */
struct cs_model_cfg *
cfg_model_new(
    struct cs_config *cfg, const char *name, size_t nlen, struct pos *p)
{
	struct cs_model_cfg *m;
	size_t i;

	if (!cfg_valid_model_name(name, nlen)) {
		cfg_error(p,
		    "model: \"%.*s\" is not a valid model name "
		    "(1..%d of A-Z a-z 0-9 . _ : / @ + -)",
		    (int)(nlen > 80 ? 80 : nlen), name, CS_MAX_NAME - 1);
		return NULL;
	}
	for (i = 0; i < cfg->n_models; i++)
		if (strlen(cfg->models[i].name) == nlen &&
		    memcmp(cfg->models[i].name, name, nlen) == 0) {
			cfg_error(p,
			    "model: \"%.*s\" is listed twice (first "
			    "on line %zu)",
			    (int)nlen, name, cfg->models[i].line);
			return NULL;
		}
	if (cfg->n_models >= CS_MAX_MODELS) {
		cfg_error(p, "model: more than %d models", CS_MAX_MODELS);
		return NULL;
	}
	m = &cfg->models[cfg->n_models++];
	model_init(m, p->line);
	memcpy(m->name, name, nlen);
	return m;
}

/* "model = NAME [MAX_TOKENS]": append one entry to cfg->models. */
static int
set_model(
    const struct ckey *k, struct cs_config *cfg, const char *v, struct pos *p)
{
	const char *name = v, *tok, *rest;
	struct cs_model_cfg *m;
	size_t nlen, tlen;
	long long max = 0;
	int rc;

	nlen = strcspn(name, " \t");
	tok = name + nlen + strspn(name + nlen, " \t");
	tlen = strcspn(tok, " \t");
	rest = tok + tlen + strspn(tok + tlen, " \t");
	if (nlen == 0 || *rest != '\0')
		return cfg_error(p, "model: expected \"NAME [MAX_TOKENS]\"");
	if (tlen > 0) {
		rc = parse_dec(tok, tlen, &max);
		if (rc < 0)
			return cfg_error(p,
			    "model: max_tokens \"%.*s\" is not "
			    "an integer (%lld..%lld, 0 = no cap)",
			    (int)(tlen > 80 ? 80 : tlen), tok, k->min, k->max);
		if (rc > 0 || max > k->max)
			return cfg_error(p,
			    "model: max_tokens \"%.*s\" is out "
			    "of range (%lld..%lld, 0 = no cap)",
			    (int)(tlen > 80 ? 80 : tlen), tok, k->min, k->max);
	}
	if ((m = cfg_model_new(cfg, name, nlen, p)) == NULL)
		return -1;
	m->max_tokens = (long)max;
	return 0;
}

/* RFC 9110 token characters (header names). */
static int
is_tchar(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9') ||
	    (c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

/*
 * "header = Name: value": one more request header for an upstream.  The
 * headers chatstream sets itself, and the key's, are refused: the key
 * belongs in api_key_file / api_key_env, where it is kept out of logs.
 */
static int
set_header(const struct ckey *k, struct cs_upstream_cfg *u, const char *v,
    struct pos *p)
{
	static const char *const own[] = { "host", "content-length",
		"content-type", "transfer-encoding", "connection", "accept",
		"authorization", "x-api-key", "api-key", "expect" };
	size_t n = strlen(v), nlen, i;
	const char *colon = strchr(v, ':');

	for (nlen = 0; nlen < n && is_tchar(v[nlen]); nlen++)
		continue;
	if (nlen == 0 || colon != v + nlen)
		return cfg_error(p,
		    "%s: expected \"Name: value\" (a header "
		    "name of letters, digits and !#$%%&'*+-.^_`|~, then ':')",
		    k->name);
	for (i = 0; i < CS_ARRAY_LEN(own); i++)
		if (strlen(own[i]) == nlen && strncasecmp(v, own[i], nlen) == 0)
			return cfg_error(p,
			    "%s: %.*s is set by chatstream "
			    "itself%s",
			    k->name, (int)nlen, v,
			    i >= 6 ?
			        " (put the key in api_key_file or api_key_env)" :
			        "");
	if (n >= sizeof(u->headers[0]))
		return cfg_error(p, "%s: value is too long (at most %zu bytes)",
		    k->name, sizeof(u->headers[0]) - 1);
	if (u->n_headers >= CS_ARRAY_LEN(u->headers))
		return cfg_error(p, "%s: more than %zu headers", k->name,
		    CS_ARRAY_LEN(u->headers));
	memset(u->headers[u->n_headers], 0, sizeof(u->headers[0]));
	memcpy(u->headers[u->n_headers], v, n);
	u->n_headers++;
	return 0;
}

/* http:// or https:// and something after it; no spaces or controls. */
int
cfg_url_ok(const char *v)
{
	size_t plen, i;

	if (strncmp(v, "http://", 7) == 0)
		plen = 7;
	else if (strncmp(v, "https://", 8) == 0)
		plen = 8;
	else
		return 0;
	if (v[plen] == '\0' || v[plen] == '/')
		return 0;
	for (i = plen; v[i] != '\0'; i++)
		if ((unsigned char)v[i] <= ' ' || v[i] == 0x7f)
			return 0;
	return 1;
}

static int
check_url(const struct ckey *k, const char *v, struct pos *p)
{
	if (*v == '\0' || cfg_url_ok(v))
		return 0;
	return cfg_error(p,
	    "%s: \"%.80s\" must start with http:// or https:// "
	    "followed by a host",
	    k->name, v);
}

static int
check_envname(const struct ckey *k, const char *v, struct pos *p)
{
	const char *s;

	for (s = v; *s != '\0'; s++)
		if (!(*s == '_' || (*s >= 'A' && *s <= 'Z') ||
		        (*s >= 'a' && *s <= 'z') ||
		        (s != v && *s >= '0' && *s <= '9')))
			break;
	if (*v != '\0' && *s == '\0')
		return 0;
	return cfg_error(
	    p, "%s: \"%.80s\" is not an environment variable name", k->name, v);
}

/* A value that goes into a URL query as is. */
static int
check_token(const struct ckey *k, const char *v, struct pos *p)
{
	const char *s;

	for (s = v; *s != '\0'; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
		        (*s >= '0' && *s <= '9') || *s == '-' || *s == '.' ||
		        *s == '_'))
			return cfg_error(p,
			    "%s: \"%.80s\" may only contain "
			    "A-Z a-z 0-9 - . _",
			    k->name, v);
	return 0;
}

/* A store spec one of state.h's backends reads (empty: the default). */
static int
check_state(const struct ckey *k, const char *v, struct pos *p)
{
	char why[256];

	if (*v == '\0' || cs_state_spec_check(v, why, sizeof(why)) == CS_OK)
		return 0;
	return cfg_error(p, "%s: %s", k->name, why);
}

/* The keys that take one of two words. */
static int
check_word(const struct ckey *k, const char *v, struct pos *p)
{
	int fail = strcmp(k->name, "state_fail") == 0;
	const char *a = fail ? "closed" : "open", *b = fail ? "open" : "key";

	if (strcmp(v, a) == 0 || strcmp(v, b) == 0)
		return 0;
	return cfg_error(p, "%s: \"%.80s\" is not %s or %s", k->name, v, a, b);
}

/* metrics = off | loopback | key; admin = off | key. */
static int
check_expose(const struct ckey *k, const char *v, struct pos *p)
{
	int metrics = strcmp(k->name, "metrics") == 0;

	if (strcmp(v, "off") == 0 || strcmp(v, "key") == 0 ||
	    (metrics && strcmp(v, "loopback") == 0))
		return 0;
	return cfg_error(p, "%s: \"%.80s\" is not %s", k->name, v,
	    metrics ? "off, loopback or key" : "off or key");
}

int
cfg_parse_perms(const char *v, unsigned *out)
{
	static const struct {
		const char *w;
		unsigned bit;
	} words[] = { { "chat", CS_PERM_CHAT }, { "metrics", CS_PERM_METRICS },
		{ "admin", CS_PERM_ADMIN } };
	size_t n, i;

	*out = 0;
	for (v += strspn(v, " \t,"); *v != '\0'; v += strspn(v, " \t,")) {
		n = strcspn(v, " \t,");
		for (i = 0; i < CS_ARRAY_LEN(words); i++)
			if (strlen(words[i].w) == n &&
			    memcmp(words[i].w, v, n) == 0)
				break;
		if (i == CS_ARRAY_LEN(words))
			return -1;
		*out |= words[i].bit;
		v += n;
	}
	return *out == 0 ? -1 : 0;
}

/* permissions = chat metrics admin, any of them (spaces or commas). */
static int
check_perms(const struct ckey *k, const char *v, struct pos *p)
{
	unsigned perms;

	if (cfg_parse_perms(v, &perms) == 0)
		return 0;
	return cfg_error(p,
	    "%s: \"%.80s\" is not a list of chat, metrics and admin", k->name,
	    v);
}

/* Up to CS_MAX_DEPLOY names split by ",": upstreams, or their models. */
static int
check_list(const struct ckey *k, const char *v, struct pos *p)
{
	size_t n, i = 0;

	if (*v == '\0')
		return 0;
	for (;; v++) {
		v += strspn(v, " \t");
		n = strcspn(v, ",");
		while (n > 0 && (v[n - 1] == ' ' || v[n - 1] == '\t'))
			n--;
		if (!cfg_valid_model_name(v, n))
			return cfg_error(p,
			    "%s: \"%.*s\" is not a valid name (a list is "
			    "NAME, NAME, ...: 1..%d of A-Z a-z 0-9 . _ : / @ "
			    "+ - each)",
			    k->name, (int)(n > 80 ? 80 : n), v,
			    CS_MAX_NAME - 1);
		if (++i > CS_MAX_DEPLOY)
			return cfg_error(p, "%s: more than %d names", k->name,
			    CS_MAX_DEPLOY);
		v += strcspn(v, ",");
		if (*v == '\0')
			return 0;
	}
}

/* Integers 1..1000 split by ",", one per upstream. */
static int
check_weights(const struct ckey *k, const char *v, struct pos *p)
{
	const char *all = v;
	long long w;
	size_t n, i = 0;

	if (*v == '\0')
		return 0;
	for (;; v++) {
		v += strspn(v, " \t");
		n = strspn(v, "0123456789");
		if (parse_dec(v, n, &w) != 0 || w < 1 || w > 1000)
			break;
		v += n + strspn(v + n, " \t");
		if ((*v != ',' && *v != '\0') || ++i > CS_MAX_DEPLOY)
			break;
		if (*v == '\0')
			return 0;
	}
	return cfg_error(p,
	    "%s: \"%.80s\" is not a list of at most %d integers 1..1000 "
	    "split by \",\", one per upstream",
	    k->name, all, CS_MAX_DEPLOY);
}

static int
check_balance(const struct ckey *k, const char *v, struct pos *p)
{
	if (strcmp(v, "ordered") == 0 || strcmp(v, "weighted") == 0 ||
	    strcmp(v, "least-busy") == 0)
		return 0;
	return cfg_error(p,
	    "%s: \"%.80s\" is not ordered, weighted or least-busy", k->name, v);
}

/* ip | remote_user | key | header:NAME (a request header's name). */
static int
check_client_id(const struct ckey *k, const char *v, struct pos *p)
{
	const char *s;

	if (strcmp(v, "ip") == 0 || strcmp(v, "remote_user") == 0 ||
	    strcmp(v, "key") == 0)
		return 0;
	if (strncmp(v, "header:", 7) == 0 && v[7] != '\0' &&
	    strlen(v + 7) < CS_MAX_NAME) {
		for (s = v + 7; *s != '\0' && is_tchar(*s); s++)
			continue;
		if (*s == '\0')
			return 0;
	}
	return cfg_error(p,
	    "%s: \"%.80s\" is not ip, remote_user, key or "
	    "header:NAME (NAME a request header, e.g. header:X-User)",
	    k->name, v);
}

static int
check_cidrs(const struct ckey *k, const char *v, struct pos *p)
{
	struct cs_cidrs l;
	char why[256];

	if (cs_cidr_parse_list(v, &l, why, sizeof(why)) == CS_OK)
		return 0;
	return cfg_error(p, "%s: %s", k->name, why);
}

/* 0/1: o[0..n) is scheme://host[:port] for http or https, nothing else
 * (no path, no user, no "*"), in the characters a host may have. */
static int
origin_ok(const char *o, size_t n)
{
	size_t i, at;

	if (n > 7 && strncmp(o, "http://", 7) == 0)
		at = 7;
	else if (n > 8 && strncmp(o, "https://", 8) == 0)
		at = 8;
	else
		return 0;
	for (i = at; i < n; i++)
		if (!((o[i] >= 'a' && o[i] <= 'z') ||
		        (o[i] >= 'A' && o[i] <= 'Z') ||
		        (o[i] >= '0' && o[i] <= '9') || o[i] == '.' ||
		        o[i] == '-' || o[i] == ':' || o[i] == '[' ||
		        o[i] == ']'))
			return 0;
	return o[n - 1] != ':' && o[at] != ':';
}

/* cors_origins: origins separated by spaces or commas (cors.h). */
static int
check_origins(const struct ckey *k, const char *v, struct pos *p)
{
	const char *sep = " \t,";
	size_t n;

	for (v += strspn(v, sep); *v != '\0'; v += n, v += strspn(v, sep)) {
		n = strcspn(v, sep);
		if (!origin_ok(v, n))
			return cfg_error(p,
			    "%s: \"%.*s\" is not an origin: write "
			    "scheme://host[:port] (http or https, no path, no "
			    "\"*\"), e.g. https://app.example.org",
			    k->name, (int)(n > 200 ? 200 : n), v);
	}
	return 0;
}

static int
check_sha256(const struct ckey *k, const char *v, struct pos *p)
{
	unsigned char h[CS_SHA256_LEN];
	char why[256];

	if (cs_key_parse_sha256(v, h, why, sizeof(why)) == CS_OK)
		return 0;
	return cfg_error(p,
	    "%s: %s (chatstream --hash-key prints the line "
	    "for a secret)",
	    k->name, why);
}

/* A list of model aliases; that each exists is checked at resolve. */
static int
check_names(const struct ckey *k, const char *v, struct pos *p)
{
	size_t n;

	for (v += strspn(v, " \t"); *v != '\0'; v += strspn(v, " \t")) {
		n = strcspn(v, " \t");
		if (!cfg_valid_model_name(v, n))
			return cfg_error(p,
			    "%s: \"%.*s\" is not a valid model "
			    "name",
			    k->name, (int)(n > 80 ? 80 : n), v);
		v += n;
	}
	return 0;
}

/* base: the struct k->scope names (cfg itself for SC_TOP). */
int
cfg_set_value(const struct ckey *k, struct cs_config *cfg, void *base,
    const char *v, struct pos *p)
{
	void *field = (char *)base + k->off;

	switch (k->type) {
	case CT_INT: return set_int(k, field, v, p);
	case CT_SIZE: return set_size(k, field, v, p);
	case CT_DURATION:
	case CT_DECIMAL: return set_duration(k, field, v, p);
	case CT_BOOL: return set_bool(k, field, v, p);
	case CT_STRING: return set_string(k, field, v, p);
	case CT_PROVIDER: return set_provider(k, field, v, p);
	case CT_MODEL: return set_model(k, cfg, v, p);
	case CT_HEADER: return set_header(k, base, v, p);
	}
	return cfg_error(p, "%s: internal error: bad type", k->name);
}

/*
 * Set every key of scope sc in base to its default; with from (an
 * upstream), the .inherit keys are copied from it instead.
 */
static void
scope_defaults(
    struct cs_config *cfg, enum scope sc, void *base, const void *from)
{
	char err[256];
	struct pos p = { "config.c defaults", 0, err, sizeof(err) };
	const struct ckey *k;
	size_t i;

	for (i = 0; i < CS_ARRAY_LEN(cfg_keys); i++) {
		k = &cfg_keys[i];
		p.line = i + 1;
		if (k->scope != sc)
			continue;
		if (from != NULL && k->inherit) {
			memcpy((char *)base + k->off,
			    (const char *)from + k->off, k->size);
			continue;
		}
		if (k->def == NULL)
			continue;
		/* A default that fails its parser is a bug in cfg_keys[]. */
		if (cfg_set_value(k, cfg, base, k->def, &p) != 0) {
			fprintf(stderr, "chatstream: %s\n", err);
			abort();
		}
	}
}

/* Open upstream name (defined on line) with its defaults; for sections,
 * the timeouts and retries start as the top-level ones. */
struct cs_upstream_cfg *
cfg_upstream_new(struct cs_config *cfg, const char *name, size_t line)
{
	struct cs_upstream_cfg *u = &cfg->upstreams[cfg->n_upstreams++];

	memset(u, 0, sizeof(*u));
	memcpy(u->name, name, strnlen(name, sizeof(u->name) - 1));
	u->line = line;
	scope_defaults(cfg, SC_UPSTREAM, u,
	    cfg->n_upstreams > 1 ? &cfg->upstreams[0] : NULL);
	u->base_url_eff = cs_provider_find(AUTO_REMOTE)->base_url;
	u->provider_eff = cs_provider_find(AUTO_LOCAL);
	u->key_source = "none";
	return u;
}

void
cs_config_defaults(struct cs_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	scope_defaults(cfg, SC_TOP, cfg, NULL);
	cfg_upstream_new(cfg, "default", 0);
}
