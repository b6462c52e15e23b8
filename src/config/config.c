/*
 * config.c — the configuration file; see config.h and conf/chatstream.conf.
 *
 * Every key is one row of keys[] below: name, type, where it lives in
 * struct cs_config, its bounds and its default written as it would appear
 * in the file.  One parser per type turns text into the field, so the file,
 * the defaults and the error messages cannot drift apart.
 */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "config.h"
#include "provider.h"

#define CONF_MAX_LINE     (16 * 1024)  /* bytes in one line, without "\n" */
#define CONF_MAX_KEYFILE  4096         /* bytes in the api_key_file */
#define CONF_MAX_TOKENS   10000000LL   /* ceiling for a model's cap */
/* provider = auto: AUTO_REMOTE when a key or a base URL is configured,
 * else AUTO_LOCAL; it reads the variables AUTO_REMOTE reads. */
#define AUTO              "auto"
#define AUTO_REMOTE       "openai-chat"
#define AUTO_LOCAL        "demo"

enum ctype {
	CT_INT,         /* decimal integer */
	CT_SIZE,        /* bytes; k/K and m/M suffixes */
	CT_DURATION,    /* seconds, up to 3 decimals; stored in ms */
	CT_DECIMAL,     /* a number, up to 3 decimals; stored x1000 */
	CT_BOOL,        /* yes/no, true/false, on/off, 1/0 */
	CT_STRING,      /* bounded by the field's size */
	CT_PROVIDER,    /* auto or a provider's name; stored as const struct
	                   cs_provider * (NULL: auto) */
	CT_MODEL,       /* "NAME [MAX_TOKENS]", repeatable */
	CT_HEADER,      /* "Name: value", repeatable */
};

/* Which struct a key's field lives in, i.e. where the key may appear. */
enum scope {
	SC_TOP,         /* struct cs_config: top level only */
	SC_UPSTREAM,    /* struct cs_upstream_cfg: top level (for "default")
	                   or an [upstream] section */
	SC_MODEL,       /* struct cs_model_cfg: a [model] section */
};

/* Where an error is reported: "path:line: ". */
struct pos {
	const char *path;
	size_t      line;
	char       *err;
	size_t      errlen;
};

struct ckey {
	const char  *name;
	enum scope   scope;
	size_t       off;      /* offsetof(the scope's struct, field) */
	size_t       size;     /* sizeof the field */
	enum ctype   type;
	long long    min, max; /* int, size: the value; duration: ms */
	const char  *def;      /* default, as written in the file */
	/* CT_STRING: extra rule on the value; 0 or -1 with an error set. */
	int        (*check)(const struct ckey *, const char *, struct pos *);
	int          inherit;  /* SC_UPSTREAM: an [upstream] section starts
	                          with the top-level value, not def */
};

static int check_url(const struct ckey *, const char *, struct pos *);
static int check_envname(const struct ckey *, const char *, struct pos *);
static int check_name(const struct ckey *, const char *, struct pos *);
static int check_token(const struct ckey *, const char *, struct pos *);

#define FIELD_OF(type, f) offsetof(type, f), sizeof(((type *)0)->f)
#define TOP(f)  SC_TOP, FIELD_OF(struct cs_config, f)
#define UP(f)   SC_UPSTREAM, FIELD_OF(struct cs_upstream_cfg, f)
#define MOD(f)  SC_MODEL, FIELD_OF(struct cs_model_cfg, f)

/* A row: name, where the field is, its type, then what applies of
 * .min/.max (bounds), .def (default as written in the file; none = zero
 * or set by the section's initialiser), .check, .inherit. */
#define ROW(n, where, t) { n, where, t
static const struct ckey keys[] = {
	ROW("listen", TOP(listen), CT_STRING), .def = "" },
	ROW("threads", TOP(threads), CT_INT), .min = 1, .max = 1024,
	    .def = "16" },
	ROW("loops", TOP(loops), CT_INT), .min = 0, .max = 256, .def = "0" },
	ROW("max_streams", TOP(max_streams), CT_INT), .min = 0,
	    .max = 1000000, .def = "0" },
	ROW("max_body_bytes", TOP(max_body_bytes), CT_SIZE), .min = 1024,
	    .max = CS_MAX_REQUEST_BODY, .def = "256k" },
	ROW("max_messages", TOP(max_messages), CT_INT), .min = 1,
	    .max = 10000, .def = "256" },
	ROW("max_message_bytes", TOP(max_message_bytes), CT_SIZE), .min = 1,
	    .max = CS_MAX_REQUEST_BODY, .def = "64k" },
	ROW("request_read_timeout_seconds", TOP(request_read_timeout_ms),
	    CT_DURATION), .min = 100, .max = 600 * 1000, .def = "10" },
	ROW("max_tokens_cap", TOP(max_tokens_cap), CT_INT), .min = 0,
	    .max = CONF_MAX_TOKENS, .def = "4096" },
	ROW("keepalive_seconds", TOP(keepalive_ms), CT_DURATION), .min = 100,
	    .max = 300 * 1000, .def = "15" },
	ROW("shutdown_grace_seconds", TOP(shutdown_grace_ms), CT_DURATION),
	    .min = 0, .max = 3600 * 1000, .def = "30" },
	ROW("write_timeout_seconds", TOP(write_timeout_ms), CT_DURATION),
	    .min = 100, .max = 3600 * 1000, .def = "30" },
	ROW("max_pending_bytes", TOP(max_pending_bytes), CT_SIZE),
	    .min = 16 * 1024, .max = 64 * 1024 * 1024, .def = "1m" },
	/* upstream: top level for "default", or in [upstream NAME] */
	ROW("provider", UP(provider), CT_PROVIDER), .def = AUTO },
	ROW("base_url", UP(base_url), CT_STRING), .def = "",
	    .check = check_url },
	ROW("api_key_file", UP(api_key_file), CT_STRING), .def = "" },
	ROW("api_key_env", UP(api_key_env), CT_STRING),
	    .def = "OPENAI_API_KEY", .check = check_envname },
	ROW("api_version", UP(api_version), CT_STRING), .def = "",
	    .check = check_token },
	ROW("header", UP(headers), CT_HEADER), .def = NULL },
	ROW("connect_timeout_seconds", UP(connect_timeout_ms), CT_DURATION),
	    .min = 100, .max = 600 * 1000, .def = "10", .inherit = 1 },
	ROW("first_byte_timeout_seconds", UP(first_byte_timeout_ms),
	    CT_DURATION), .min = 100, .max = 3600 * 1000, .def = "120",
	    .inherit = 1 },
	ROW("idle_timeout_seconds", UP(idle_timeout_ms), CT_DURATION),
	    .min = 100, .max = 3600 * 1000, .def = "90", .inherit = 1 },
	ROW("total_timeout_seconds", UP(total_timeout_ms), CT_DURATION),
	    .min = 1000, .max = 86400 * 1000, .def = "900", .inherit = 1 },
	ROW("max_retries", UP(max_retries), CT_INT), .min = 0, .max = 5,
	    .def = "2", .inherit = 1 },
	/* models */
	ROW("model", TOP(models), CT_MODEL), .min = 0,
	    .max = CONF_MAX_TOKENS },
	ROW("default_model", TOP(default_model), CT_STRING), .def = "" },
	ROW("client_instructions", TOP(client_instructions), CT_BOOL),
	    .min = 0, .max = 1, .def = "yes" },
	ROW("instructions", TOP(instructions), CT_STRING), .def = "" },
	ROW("client_tools", TOP(client_tools), CT_BOOL), .min = 0, .max = 1,
	    .def = "yes" },
	ROW("chat_get", TOP(chat_get), CT_BOOL), .min = 0, .max = 1,
	    .def = "yes" },
	ROW("demo_words_per_second", TOP(demo_words_per_second), CT_INT),
	    .min = 1, .max = 1000, .def = "20" },
	ROW("self_check", TOP(self_check), CT_BOOL), .min = 0, .max = 1,
	    .def = "yes" },
	/* [model ALIAS] sections */
	ROW("upstream", MOD(upstream), CT_STRING), .def = "",
	    .check = check_name },
	ROW("upstream_model", MOD(upstream_model), CT_STRING), .def = "",
	    .check = check_name },
	ROW("description", MOD(description), CT_STRING), .def = "" },
	ROW("max_tokens", MOD(max_tokens), CT_INT), .min = 0,
	    .max = CONF_MAX_TOKENS, .def = "0" },
	ROW("temperature", MOD(temperature_milli), CT_DECIMAL), .min = 0,
	    .max = 2000 },
	ROW("instructions", MOD(instructions), CT_STRING), .def = "" },
	ROW("client_instructions", MOD(client_instructions), CT_BOOL),
	    .min = 0, .max = 1 },
};
#undef ROW

static void
seterr(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
seterr(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (err == NULL || errlen == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

static int
perr(struct pos *p, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Write "path:line: message" into p->err; returns -1 for "return perr()". */
static int
perr(struct pos *p, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (p->err == NULL || p->errlen == 0)
		return -1;
	n = snprintf(p->err, p->errlen, "%s:%zu: ", p->path, p->line);
	if (n < 0 || (size_t)n >= p->errlen)
		return -1;
	va_start(ap, fmt);
	vsnprintf(p->err + n, p->errlen - (size_t)n, fmt, ap);
	va_end(ap);
	return -1;
}

/*
 * The n bytes at s as a non-negative decimal: digits only (no sign, space
 * or base prefix; leading zeros are fine and do not mean octal).
 * Returns 0, -1 if not all digits (or none), 1 if it overflows.
 */
static int
parse_dec(const char *s, size_t n, long long *out)
{
	char tmp[24];
	char *end;
	size_t i;
	long long v;

	if (n == 0)
		return -1;
	for (i = 0; i < n; i++)
		if (s[i] < '0' || s[i] > '9')
			return -1;
	/* Drop leading zeros so a long "000…1" is not mistaken for huge. */
	while (n > 1 && *s == '0') {
		s++;
		n--;
	}
	if (n >= sizeof(tmp))
		return 1;
	memcpy(tmp, s, n);
	tmp[n] = '\0';
	errno = 0;
	v = strtoll(tmp, &end, 10);
	if (errno == ERANGE)
		return 1;
	if (errno != 0 || *end != '\0')
		return -1;
	*out = v;
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
		return perr(p, "%s: internal error: field has %zu bytes",
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
		return perr(p, "%s: \"%.80s\" is not an integer (%lld..%lld)",
		    k->name, v, k->min, k->max);
	if (s != v)
		x = -x;
	if (rc > 0 || x < k->min || x > k->max)
		return perr(p, "%s: \"%.80s\" is out of range (%lld..%lld)",
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
		return perr(p, "%s: \"%.80s\" is not a size (bytes, or with "
		    "suffix k or m; %lld..%lld)", k->name, v, k->min, k->max);
	if (rc > 0 || x > LLONG_MAX / mult || x * mult < k->min ||
	    x * mult > k->max)
		return perr(p, "%s: \"%.80s\" is out of range (%lld..%lld "
		    "bytes)", k->name, v, k->min, k->max);
	return store_int(k, field, x * mult, p);
}

/* CT_DURATION (seconds, stored in ms) and CT_DECIMAL (stored x1000). */
static int
set_duration(const struct ckey *k, void *field, const char *v,
    struct pos *p)
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
		return perr(p, "%s: \"%.80s\" is not a %s (%s, at most 3 "
		    "decimals; %s..%s)", k->name, v,
		    secs_unit ? "duration" : "number",
		    secs_unit ? "seconds like 15 or 0.5" : "like 1 or 0.7",
		    lo, hi);
	if (rc > 0 || secs > (LLONG_MAX - 999) / 1000)
		ms = LLONG_MAX;
	else
		ms = secs * 1000 + frac;
	if (ms < k->min || ms > k->max)
		return perr(p, "%s: \"%.80s\" is out of range (%s..%s%s)",
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
	return perr(p, "%s: \"%.80s\" is not a boolean (yes/no, true/false, "
	    "on/off, 1/0)", k->name, v);
}

static int
set_string(const struct ckey *k, void *field, const char *v, struct pos *p)
{
	size_t n = strlen(v);

	if (n >= k->size)
		return perr(p, "%s: value is too long (at most %zu bytes)",
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
set_provider(const struct ckey *k, void *field, const char *v,
    struct pos *p)
{
	const struct cs_provider *x = NULL;
	char list[256];
	size_t i, n;

	if (strcmp(v, AUTO) != 0 && (x = cs_provider_find(v)) == NULL) {
		n = (size_t)snprintf(list, sizeof(list), "%s", AUTO);
		for (i = 0; cs_providers[i] != NULL && n < sizeof(list); i++)
			n += (size_t)snprintf(list + n, sizeof(list) - n,
			    ", %s", cs_providers[i]->name);
		return perr(p, "%s: \"%.80s\" is not one of %s", k->name, v,
		    list);
	}
	memcpy(field, &x, sizeof(x));
	return 0;
}

/* Model names travel in JSON, logs and upstream requests: keep them tame. */
static int
valid_model_name(const char *s, size_t n)
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

/* A model with every section key at its default (= not set). */
static void
model_init(struct cs_model_cfg *m, size_t line)
{
	memset(m, 0, sizeof(*m));
	m->line = line;
}

/* The [model] keys that override a top-level setting only when set. */
static void
model_mark_set(struct cs_model_cfg *m, size_t off)
{
	if (off == offsetof(struct cs_model_cfg, instructions))
		m->has_instructions = 1;
	else if (off == offsetof(struct cs_model_cfg, client_instructions))
		m->has_client_instructions = 1;
	else if (off == offsetof(struct cs_model_cfg, temperature_milli))
		m->has_temperature = 1;
}

/* Append a model called name (nlen bytes) to cfg, or fail with why. */
static struct cs_model_cfg *
model_new(struct cs_config *cfg, const char *name, size_t nlen,
    struct pos *p)
{
	struct cs_model_cfg *m;
	size_t i;

	if (!valid_model_name(name, nlen)) {
		perr(p, "model: \"%.*s\" is not a valid model name "
		    "(1..%d of A-Z a-z 0-9 . _ : / @ + -)",
		    (int)(nlen > 80 ? 80 : nlen), name, CS_MAX_NAME - 1);
		return NULL;
	}
	for (i = 0; i < cfg->n_models; i++)
		if (strlen(cfg->models[i].name) == nlen &&
		    memcmp(cfg->models[i].name, name, nlen) == 0) {
			perr(p, "model: \"%.*s\" is listed twice (first on "
			    "line %zu)", (int)nlen, name, cfg->models[i].line);
			return NULL;
		}
	if (cfg->n_models >= CS_MAX_MODELS) {
		perr(p, "model: more than %d models", CS_MAX_MODELS);
		return NULL;
	}
	m = &cfg->models[cfg->n_models++];
	model_init(m, p->line);
	memcpy(m->name, name, nlen);
	return m;
}

/* "model = NAME [MAX_TOKENS]": append one entry to cfg->models. */
static int
set_model(const struct ckey *k, struct cs_config *cfg, const char *v,
    struct pos *p)
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
		return perr(p, "model: expected \"NAME [MAX_TOKENS]\"");
	if (tlen > 0) {
		rc = parse_dec(tok, tlen, &max);
		if (rc < 0)
			return perr(p, "model: max_tokens \"%.*s\" is not an "
			    "integer (%lld..%lld, 0 = no cap)",
			    (int)(tlen > 80 ? 80 : tlen), tok, k->min,
			    k->max);
		if (rc > 0 || max > k->max)
			return perr(p, "model: max_tokens \"%.*s\" is out of "
			    "range (%lld..%lld, 0 = no cap)",
			    (int)(tlen > 80 ? 80 : tlen), tok, k->min,
			    k->max);
	}
	if ((m = model_new(cfg, name, nlen, p)) == NULL)
		return -1;
	m->max_tokens = (long)max;
	return 0;
}

/* RFC 9110 token characters (header names). */
static int
is_tchar(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9') || (c != '\0' &&
	    strchr("!#$%&'*+-.^_`|~", c) != NULL);
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
		return perr(p, "%s: expected \"Name: value\" (a header name "
		    "of letters, digits and !#$%%&'*+-.^_`|~, then ':')",
		    k->name);
	for (i = 0; i < CS_ARRAY_LEN(own); i++)
		if (strlen(own[i]) == nlen && strncasecmp(v, own[i], nlen) == 0)
			return perr(p, "%s: %.*s is set by chatstream itself%s",
			    k->name, (int)nlen, v, i >= 6 ? " (put the key "
			    "in api_key_file or api_key_env)" : "");
	if (n >= sizeof(u->headers[0]))
		return perr(p, "%s: value is too long (at most %zu bytes)",
		    k->name, sizeof(u->headers[0]) - 1);
	if (u->n_headers >= CS_ARRAY_LEN(u->headers))
		return perr(p, "%s: more than %zu headers", k->name,
		    CS_ARRAY_LEN(u->headers));
	memset(u->headers[u->n_headers], 0, sizeof(u->headers[0]));
	memcpy(u->headers[u->n_headers], v, n);
	u->n_headers++;
	return 0;
}

/* http:// or https:// and something after it; no spaces or controls. */
static int
url_ok(const char *v)
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
	if (*v == '\0' || url_ok(v))
		return 0;
	return perr(p, "%s: \"%.80s\" must start with http:// or https:// "
	    "followed by a host", k->name, v);
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
	return perr(p, "%s: \"%.80s\" is not an environment variable name",
	    k->name, v);
}

/* Section and upstream names: the same tame characters as model names. */
static int
check_name(const struct ckey *k, const char *v, struct pos *p)
{
	if (*v == '\0' || valid_model_name(v, strlen(v)))
		return 0;
	return perr(p, "%s: \"%.80s\" is not a valid name (1..%d of A-Z a-z "
	    "0-9 . _ : / @ + -)", k->name, v, CS_MAX_NAME - 1);
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
			return perr(p, "%s: \"%.80s\" may only contain A-Z a-z "
			    "0-9 - . _", k->name, v);
	return 0;
}

/* base: the struct k->scope names (cfg itself for SC_TOP). */
static int
set_value(const struct ckey *k, struct cs_config *cfg, void *base,
    const char *v, struct pos *p)
{
	void *field = (char *)base + k->off;

	switch (k->type) {
	case CT_INT:
		return set_int(k, field, v, p);
	case CT_SIZE:
		return set_size(k, field, v, p);
	case CT_DURATION:
	case CT_DECIMAL:
		return set_duration(k, field, v, p);
	case CT_BOOL:
		return set_bool(k, field, v, p);
	case CT_STRING:
		return set_string(k, field, v, p);
	case CT_PROVIDER:
		return set_provider(k, field, v, p);
	case CT_MODEL:
		return set_model(k, cfg, v, p);
	case CT_HEADER:
		return set_header(k, base, v, p);
	}
	return perr(p, "%s: internal error: bad type", k->name);
}

/*
 * Set every key of scope sc in base to its default; with from (an
 * upstream), the .inherit keys are copied from it instead.
 */
static void
scope_defaults(struct cs_config *cfg, enum scope sc, void *base,
    const void *from)
{
	char err[256];
	struct pos p = { "config.c defaults", 0, err, sizeof(err) };
	const struct ckey *k;
	size_t i;

	for (i = 0; i < CS_ARRAY_LEN(keys); i++) {
		k = &keys[i];
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
		/* A default that fails its own parser is a bug in keys[]. */
		if (set_value(k, cfg, base, k->def, &p) != 0) {
			fprintf(stderr, "chatstream: %s\n", err);
			abort();
		}
	}
}

/* Open upstream name (defined on line) with its defaults; for sections,
 * the timeouts and retries start as the top-level ones. */
static struct cs_upstream_cfg *
upstream_new(struct cs_config *cfg, const char *name, size_t line)
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
	upstream_new(cfg, "default", 0);
}

static int
is_blank(char c)
{
	return c == ' ' || c == '\t';
}

/*
 * Undo the quoting of a value that starts with '"', in place (the result
 * is never longer).  After the closing quote only blanks may follow.
 */
static int
unquote(char *v, struct pos *p)
{
	char *r = v + 1, *w = v;

	for (;;) {
		if (*r == '\0')
			return perr(p, "unterminated quoted value");
		if (*r == '"')
			break;
		if (*r == '\\') {
			r++;
			if (*r == '\0')
				return perr(p, "unterminated quoted value");
			if (*r != '"' && *r != '\\')
				return perr(p, "invalid escape \"\\%c\" in "
				    "quoted value (only \\\" and \\\\)", *r);
		}
		*w++ = *r++;
	}
	for (r++; is_blank(*r); r++)
		continue;
	if (*r != '\0')
		return perr(p, "unexpected text after the closing quote "
		    "(no comments after a value)");
	*w = '\0';
	return 0;
}

/* Where the lines being read go: the top level or a section. */
struct section {
	enum scope sc;          /* SC_TOP before the first section */
	void      *base;        /* the section's struct; NULL at top */
	size_t     seen[CS_ARRAY_LEN(keys)]; /* line each key was set on */
};

static const char *
scope_name(enum scope sc)
{
	switch (sc) {
	case SC_TOP:
		return "the top level, before any [section]";
	case SC_UPSTREAM:
		return "the top level or an [upstream NAME] section";
	case SC_MODEL:
		return "a [model NAME] section";
	}
	return "?";
}

/* "[upstream NAME]" or "[model NAME]" (s points at '['): start it. */
static int
open_section(struct cs_config *cfg, char *s, struct section *sec,
    struct pos *p)
{
	char *kind = s + 1, *name, *end = s + strlen(s);
	size_t klen, nlen, i;

	while (end > s && is_blank(end[-1]))
		end--;
	if (end - s < 2 || end[-1] != ']')
		return perr(p, "a section header must end with ']'");
	*--end = '\0';
	while (is_blank(*kind))
		kind++;
	klen = strcspn(kind, " \t");
	for (name = kind + klen; is_blank(*name); name++)
		continue;
	nlen = strcspn(name, " \t");
	for (i = nlen; is_blank(name[i]); i++)
		continue;
	if (name[i] != '\0' || nlen == 0)
		return perr(p, "expected [upstream NAME] or [model NAME]");
	name[nlen] = '\0';
	memset(sec->seen, 0, sizeof(sec->seen));
	if (klen == 5 && strncmp(kind, "model", 5) == 0) {
		sec->sc = SC_MODEL;
		return (sec->base = model_new(cfg, name, nlen, p)) != NULL ?
		    0 : -1;
	}
	if (klen != 8 || strncmp(kind, "upstream", 8) != 0)
		return perr(p, "unknown section [%.*s] (expected upstream or "
		    "model)", (int)(klen > 40 ? 40 : klen), kind);
	if (!valid_model_name(name, nlen))
		return perr(p, "upstream: \"%.80s\" is not a valid name "
		    "(1..%d of A-Z a-z 0-9 . _ : / @ + -)", name,
		    CS_MAX_NAME - 1);
	for (i = 0; i < cfg->n_upstreams; i++)
		if (strcmp(cfg->upstreams[i].name, name) == 0)
			return perr(p, "upstream: \"%s\" is %s", name,
			    i == 0 ? "the name of the top-level upstream" :
			    "already defined");
	if (cfg->n_upstreams >= CS_MAX_UPSTREAMS)
		return perr(p, "upstream: more than %d upstreams",
		    CS_MAX_UPSTREAMS - 1);
	sec->sc = SC_UPSTREAM;
	sec->base = upstream_new(cfg, name, p->line);
	return 0;
}

/* One line without its newline. */
static int
parse_line(struct cs_config *cfg, char *line, size_t len,
    struct section *sec, struct pos *p)
{
	const struct ckey *k;
	char *s = line, *eq, *end, *v;
	size_t i, klen, other;
	void *base;

	if (len > 0 && line[len - 1] == '\r')  /* CRLF files */
		line[--len] = '\0';
	if (memchr(line, '\0', len) != NULL)
		return perr(p, "line contains a NUL byte");
	for (i = 0; i < len; i++)
		if (((unsigned char)line[i] < ' ' && line[i] != '\t') ||
		    line[i] == 0x7f)
			return perr(p, "line contains a control character");
	while (is_blank(*s))
		s++;
	if (*s == '\0' || *s == '#')
		return 0;
	if (*s == '[')
		return open_section(cfg, s, sec, p);
	if ((eq = strchr(s, '=')) == NULL)
		return perr(p, "expected \"key = value\"");
	for (end = eq; end > s && is_blank(end[-1]); end--)
		continue;
	klen = (size_t)(end - s);
	if (klen == 0)
		return perr(p, "missing key before '='");
	for (v = eq + 1; is_blank(*v); v++)
		continue;
	for (end = v + strlen(v); end > v && is_blank(end[-1]); end--)
		continue;
	*end = '\0';
	if (*v == '"' && unquote(v, p) != 0)
		return -1;

	/* The row for this key where we are; else where it would belong. */
	other = CS_ARRAY_LEN(keys);
	for (i = 0; i < CS_ARRAY_LEN(keys); i++) {
		if (strlen(keys[i].name) != klen ||
		    memcmp(keys[i].name, s, klen) != 0)
			continue;
		if (keys[i].scope == sec->sc || (sec->sc == SC_TOP &&
		    keys[i].scope == SC_UPSTREAM))
			break;
		other = i;
	}
	if (i == CS_ARRAY_LEN(keys) && other < CS_ARRAY_LEN(keys))
		return perr(p, "%s: only allowed in %s", keys[other].name,
		    scope_name(keys[other].scope));
	if (i == CS_ARRAY_LEN(keys))
		return perr(p, "unknown key \"%.*s\"",
		    (int)(klen > 80 ? 80 : klen), s);
	k = &keys[i];
	if (k->type != CT_MODEL && k->type != CT_HEADER && sec->seen[i] != 0)
		return perr(p, "%s: already set on line %zu", k->name,
		    sec->seen[i]);
	sec->seen[i] = p->line;
	if (k->scope == SC_TOP)
		base = cfg;
	else if (sec->sc == SC_TOP)
		base = &cfg->upstreams[0];
	else
		base = sec->base;
	if (set_value(k, cfg, base, v, p) != 0)
		return -1;
	if (k->scope == SC_MODEL)
		model_mark_set(base, k->off);
	return 0;
}

enum cs_err
cs_config_load(struct cs_config *cfg, const char *path, char *err,
    size_t errlen)
{
	struct section *sec;
	struct pos p = { path, 0, err, errlen };
	enum cs_err rc = CS_ECONFIG;
	FILE *f;
	char *line = NULL;
	size_t len;
	int c;

	if ((f = fopen(path, "re")) == NULL) {
		seterr(err, errlen, "%s: %s", path, strerror(errno));
		return CS_ESYS;
	}
	/* +2: room for one byte too many, to detect long lines, and NUL. */
	line = malloc(CONF_MAX_LINE + 2);
	sec = calloc(1, sizeof(*sec));
	if (line == NULL || sec == NULL) {
		seterr(err, errlen, "%s: %s", path, strerror(ENOMEM));
		rc = CS_ENOMEM;
		goto out;
	}
	/* Read by hand, not getline(): a huge line must not grow memory. */
	for (c = 0; c != EOF;) {
		p.line++;
		len = 0;
		while ((c = getc(f)) != EOF && c != '\n') {
			if (len > CONF_MAX_LINE) {
				perr(&p, "line is longer than %d bytes",
				    CONF_MAX_LINE);
				goto out;
			}
			line[len++] = (char)c;
		}
		if (c == EOF && ferror(f)) {
			seterr(err, errlen, "%s: %s", path, strerror(errno));
			rc = CS_ESYS;
			goto out;
		}
		if (len > CONF_MAX_LINE) {
			perr(&p, "line is longer than %d bytes",
			    CONF_MAX_LINE);
			goto out;
		}
		line[len] = '\0';
		/* Editors on Windows like to start files with a BOM. */
		if (p.line == 1 && len >= 3 &&
		    memcmp(line, "\xef\xbb\xbf", 3) == 0) {
			memmove(line, line + 3, len - 2);
			len -= 3;
		}
		if (parse_line(cfg, line, len, sec, &p) != 0)
			goto out;
	}
	rc = CS_OK;
out:
	free(sec);
	free(line);
	fclose(f);
	return rc;
}

/* Bytes that must not reach an HTTP header. */
static int
has_ctl(const char *s)
{
	for (; *s != '\0'; s++)
		if ((unsigned char)*s < ' ' || *s == 0x7f)
			return 1;
	return 0;
}

/* Read, trim and check api_key_file into u->api_key. */
static enum cs_err
read_key_file(struct cs_upstream_cfg *cfg, char *err, size_t errlen)
{
	const char *path = cfg->api_key_file;
	char buf[CONF_MAX_KEYFILE + 1];
	enum cs_err rc = CS_ECONFIG;
	struct stat st;
	size_t len = 0, start = 0;
	ssize_t n;
	int fd;

	/* O_NONBLOCK: a FIFO given by mistake must not hang start-up. */
	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK)) == -1) {
		seterr(err, errlen, "api_key_file %s: %s", path,
		    strerror(errno));
		return CS_ECONFIG;
	}
	if (fstat(fd, &st) == -1) {
		seterr(err, errlen, "api_key_file %s: %s", path,
		    strerror(errno));
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		seterr(err, errlen, "api_key_file %s: not a regular file",
		    path);
		goto out;
	}
	if (st.st_mode & 077)
		fprintf(stderr, "chatstream: warning: key file %s is %s by "
		    "group/others (mode %04o); chmod 600 it\n", path,
		    (st.st_mode & 044) ? "readable" : "accessible",
		    (unsigned)(st.st_mode & 07777));
	while (len < sizeof(buf)) {
		n = read(fd, buf + len, sizeof(buf) - len);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1) {
			seterr(err, errlen, "api_key_file %s: %s", path,
			    strerror(errno));
			goto out;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	if (len > CONF_MAX_KEYFILE) {
		seterr(err, errlen, "api_key_file %s: key file is larger "
		    "than %d bytes", path, CONF_MAX_KEYFILE);
		goto out;
	}
	while (len > 0 && (buf[len - 1] == ' ' || buf[len - 1] == '\t' ||
	    buf[len - 1] == '\r' || buf[len - 1] == '\n'))
		len--;
	while (start < len && (buf[start] == ' ' || buf[start] == '\t'))
		start++;
	buf[len] = '\0';
	if (start == len) {
		seterr(err, errlen, "api_key_file %s: key file is empty",
		    path);
		goto out;
	}
	if (memchr(buf + start, '\0', len - start) != NULL ||
	    has_ctl(buf + start)) {
		seterr(err, errlen, "api_key_file %s: the key contains "
		    "control characters or line breaks", path);
		goto out;
	}
	if ((cfg->api_key = strdup(buf + start)) == NULL) {
		seterr(err, errlen, "api_key_file %s: %s", path,
		    strerror(ENOMEM));
		rc = CS_ENOMEM;
		goto out;
	}
	cfg->key_source = "file";
	rc = CS_OK;
out:
	explicit_bzero(buf, sizeof(buf));
	close(fd);
	return rc;
}

/* Validate url and store it without trailing slashes as base_url_eff. */
static enum cs_err
set_base_url(struct cs_upstream_cfg *cfg, const char *url, const char *what,
    char *err, size_t errlen)
{
	size_t n = strlen(url);

	/* Not echoed: an environment URL may carry credentials. */
	if (!url_ok(url)) {
		seterr(err, errlen, "%s must start with http:// or https:// "
		    "followed by a host", what);
		return CS_ECONFIG;
	}
	while (n > 0 && url[n - 1] == '/')
		n--;
	if (n >= sizeof(cfg->base_url_buf)) {
		seterr(err, errlen, "%s is too long (at most %zu bytes)", what,
		    sizeof(cfg->base_url_buf) - 1);
		return CS_ECONFIG;
	}
	memset(cfg->base_url_buf, 0, sizeof(cfg->base_url_buf));
	memcpy(cfg->base_url_buf, url, n);
	cfg->base_url_eff = cfg->base_url_buf;
	return CS_OK;
}

/* The key, base URL and provider of one upstream.  Errors name a
 * section's upstream as "[upstream NAME] (line N): ...". */
static enum cs_err
resolve_upstream(struct cs_upstream_cfg *u, char *err, size_t errlen)
{
	/* auto, and a local provider, read what auto's remote one reads. */
	const struct cs_provider *pd = u->provider != NULL &&
	    u->provider->build != NULL ? u->provider :
	    cs_provider_find(AUTO_REMOTE);
	const char *env, *key_env = u->api_key_env;
	char where[CS_MAX_NAME + 48], msg[512];
	enum cs_err rc = CS_ECONFIG;
	int explicit_url = 0;

	where[0] = '\0';
	if (u->line > 0)
		snprintf(where, sizeof(where), "[upstream %s] (line %zu): ",
		    u->name, u->line);
	msg[0] = '\0';
	u->key_source = "none";

	/* The default OPENAI_API_KEY means "the provider's usual variable". */
	if (strcmp(key_env, "OPENAI_API_KEY") == 0)
		key_env = pd->key_env;
	if (u->api_key_file[0] != '\0') {
		if ((rc = read_key_file(u, msg, sizeof(msg))) != CS_OK)
			goto out;
	} else if (key_env != NULL && key_env[0] != '\0' &&
	    (env = getenv(key_env)) != NULL && *env != '\0') {
		if (has_ctl(env)) {
			snprintf(msg, sizeof(msg), "the key in $%s contains "
			    "control characters or line breaks", key_env);
			goto out;
		}
		if ((u->api_key = strdup(env)) == NULL) {
			snprintf(msg, sizeof(msg), "%s", strerror(ENOMEM));
			rc = CS_ENOMEM;
			goto out;
		}
		u->key_source = "env";
	}

	if (u->base_url[0] != '\0') {
		if ((rc = set_base_url(u, u->base_url, "base_url", msg,
		    sizeof(msg))) != CS_OK)
			goto out;
		explicit_url = 1;
	} else if (pd->base_url_env != NULL &&
	    (env = getenv(pd->base_url_env)) != NULL && *env != '\0') {
		if ((rc = set_base_url(u, env, pd->base_url_env, msg,
		    sizeof(msg))) != CS_OK)
			goto out;
		explicit_url = 1;
	} else if (pd->base_url != NULL)
		u->base_url_eff = pd->base_url;
	else {
		snprintf(msg, sizeof(msg), "provider %s needs base_url (or "
		    "$%s), e.g. https://RESOURCE.openai.azure.com",
		    pd->name, pd->base_url_env);
		rc = CS_ECONFIG;
		goto out;
	}

	if (u->provider == NULL)
		/* A URL alone counts: local servers often need no key. */
		u->provider_eff = cs_provider_find(u->api_key != NULL ||
		    explicit_url ? AUTO_REMOTE : AUTO_LOCAL);
	else
		u->provider_eff = u->provider;
	u->developer_role = 0;
	if (u->provider_eff->resolve != NULL)
		u->provider_eff->resolve(u);
	rc = CS_OK;
out:
	if (rc != CS_OK)
		seterr(err, errlen, "%s%s", where, msg);
	return rc;
}

/* Tie model m to its upstream. */
static enum cs_err
resolve_model(struct cs_config *cfg, struct cs_model_cfg *m, char *err,
    size_t errlen)
{
	const char *why;

	if ((m->up = cs_config_upstream(cfg, m->upstream)) == NULL) {
		seterr(err, errlen, "[model %s] (line %zu): upstream \"%s\" "
		    "is not defined (add an [upstream %s] section)", m->name,
		    m->line, m->upstream, m->upstream);
		return CS_ECONFIG;
	}
	/* The cost cap: a model without its own max_tokens gets
	 * max_tokens_cap, as its limit and as what is sent by default. */
	if (m->max_tokens == 0)
		m->max_tokens = cfg->max_tokens_cap;
	/* The provider's own rule, e.g. Azure's deployment names. */
	if (m->up->provider_eff->check_model != NULL && (why =
	    m->up->provider_eff->check_model(m->up, cs_model_wire_name(m)))
	    != NULL) {
		seterr(err, errlen, "model %s: \"%s\" %s", m->name,
		    cs_model_wire_name(m), why);
		return CS_ECONFIG;
	}
	return CS_OK;
}

enum cs_err
cs_config_resolve(struct cs_config *cfg, char *err, size_t errlen)
{
	const struct cs_upstream_cfg *u0 = &cfg->upstreams[0];
	const char *name;
	enum cs_err rc;
	size_t i;

	/* Resolving twice must not leak the first keys. */
	cs_config_free(cfg);
	for (i = 0; i < cfg->n_upstreams; i++)
		if ((rc = resolve_upstream(&cfg->upstreams[i], err,
		    errlen)) != CS_OK)
			return rc;

	if (cfg->n_models == 0) {
		name = u0->provider_eff->model;
		model_init(&cfg->models[0], 0);
		memcpy(cfg->models[0].name, name, strlen(name));
		cfg->n_models = 1;
	}
	for (i = 0; i < cfg->n_models; i++)
		if ((rc = resolve_model(cfg, &cfg->models[i], err,
		    errlen)) != CS_OK)
			return rc;
	if (cfg->default_model[0] == '\0') {
		memcpy(cfg->default_model, cfg->models[0].name,
		    sizeof(cfg->default_model));
		return CS_OK;
	}
	for (i = 0; i < cfg->n_models; i++)
		if (strcmp(cfg->models[i].name, cfg->default_model) == 0)
			return CS_OK;
	seterr(err, errlen, "default_model \"%.*s\" is not one of the "
	    "configured models", 80, cfg->default_model);
	return CS_ECONFIG;
}

const struct cs_model_cfg *
cs_config_model(const struct cs_config *cfg, const char *name)
{
	size_t i;

	if (cfg->n_models == 0)
		return NULL;
	if (name == NULL || *name == '\0') {
		if (cfg->default_model[0] == '\0')
			return &cfg->models[0];
		name = cfg->default_model;
	}
	for (i = 0; i < cfg->n_models; i++)
		if (strcmp(cfg->models[i].name, name) == 0)
			return &cfg->models[i];
	return NULL;
}

const struct cs_upstream_cfg *
cs_config_upstream(const struct cs_config *cfg, const char *name)
{
	size_t i;

	if (name == NULL || *name == '\0')
		name = "default";
	for (i = 0; i < cfg->n_upstreams; i++)
		if (strcmp(cfg->upstreams[i].name, name) == 0)
			return &cfg->upstreams[i];
	return NULL;
}

const char *
cs_model_wire_name(const struct cs_model_cfg *m)
{
	return m->upstream_model[0] != '\0' ? m->upstream_model : m->name;
}

const char *
cs_model_instructions(const struct cs_config *cfg,
    const struct cs_model_cfg *m)
{
	return m->has_instructions ? m->instructions : cfg->instructions;
}

int
cs_model_client_instructions(const struct cs_config *cfg,
    const struct cs_model_cfg *m)
{
	return m->has_client_instructions ? m->client_instructions :
	    cfg->client_instructions;
}

void
cs_config_free(struct cs_config *cfg)
{
	struct cs_upstream_cfg *u;
	size_t i;

	if (cfg == NULL)
		return;
	for (i = 0; i < cfg->n_upstreams; i++) {
		u = &cfg->upstreams[i];
		if (u->api_key == NULL)
			continue;
		explicit_bzero(u->api_key, strlen(u->api_key));
		free(u->api_key);
		u->api_key = NULL;
	}
}
