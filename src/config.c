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

#define CONF_MAX_LINE     (16 * 1024)  /* bytes in one line, without "\n" */
#define CONF_MAX_KEYFILE  4096         /* bytes in the api_key_file */
#define CONF_MAX_TOKENS   10000000LL   /* ceiling for a model's cap */
#define DEFAULT_BASE_URL  "https://api.openai.com/v1"

enum ctype {
	CT_INT,         /* decimal integer */
	CT_SIZE,        /* bytes; k/K and m/M suffixes */
	CT_DURATION,    /* seconds, up to 3 decimals; stored in ms */
	CT_BOOL,        /* yes/no, true/false, on/off, 1/0 */
	CT_STRING,      /* bounded by the field's size */
	CT_ENUM,        /* one of names[]; stored as enum cs_provider_kind */
	CT_MODEL,       /* "NAME [MAX_TOKENS]", repeatable */
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
	enum ctype   type;
	size_t       off;      /* offsetof(struct cs_config, field) */
	size_t       size;     /* sizeof the field */
	long long    min, max; /* int, size: the value; duration: ms */
	const char  *def;      /* default, as written in the file */
	const char *const *names; /* CT_ENUM: names, index = value */
	/* CT_STRING: extra rule on the value; 0 or -1 with an error set. */
	int        (*check)(const struct ckey *, const char *, struct pos *);
};

static int check_url(const struct ckey *, const char *, struct pos *);
static int check_envname(const struct ckey *, const char *, struct pos *);

/* Indexed by enum cs_provider_kind. */
static const char *const provider_names[] = {
	"auto", "demo", "openai-chat", "openai-responses",
	"openai-completions", "anthropic", "ollama", NULL
};

#define FIELD(f) offsetof(struct cs_config, f), \
	sizeof(((struct cs_config *)0)->f)

static const struct ckey keys[] = {
	{ "listen", CT_STRING, FIELD(listen), 0, 0, "", NULL, NULL },
	{ "threads", CT_INT, FIELD(threads), 1, 1024, "16", NULL, NULL },
	{ "max_body_bytes", CT_SIZE, FIELD(max_body_bytes),
	    1024, CS_MAX_REQUEST_BODY, "256k", NULL, NULL },
	{ "max_messages", CT_INT, FIELD(max_messages), 1, 10000, "256",
	    NULL, NULL },
	{ "max_message_bytes", CT_SIZE, FIELD(max_message_bytes),
	    1, CS_MAX_REQUEST_BODY, "64k", NULL, NULL },
	{ "keepalive_seconds", CT_DURATION, FIELD(keepalive_ms),
	    100, 300 * 1000, "15", NULL, NULL },
	{ "shutdown_grace_seconds", CT_DURATION, FIELD(shutdown_grace_ms),
	    0, 3600 * 1000, "30", NULL, NULL },
	{ "provider", CT_ENUM, FIELD(provider), 0, 0, "auto",
	    provider_names, NULL },
	{ "base_url", CT_STRING, FIELD(base_url), 0, 0, "", NULL,
	    check_url },
	{ "api_key_file", CT_STRING, FIELD(api_key_file), 0, 0, "", NULL,
	    NULL },
	{ "api_key_env", CT_STRING, FIELD(api_key_env), 0, 0,
	    "OPENAI_API_KEY", NULL, check_envname },
	{ "connect_timeout_seconds", CT_DURATION, FIELD(connect_timeout_ms),
	    100, 600 * 1000, "10", NULL, NULL },
	{ "first_byte_timeout_seconds", CT_DURATION,
	    FIELD(first_byte_timeout_ms), 100, 3600 * 1000, "120", NULL,
	    NULL },
	{ "idle_timeout_seconds", CT_DURATION, FIELD(idle_timeout_ms),
	    100, 3600 * 1000, "90", NULL, NULL },
	{ "total_timeout_seconds", CT_DURATION, FIELD(total_timeout_ms),
	    1000, 86400 * 1000, "900", NULL, NULL },
	{ "max_retries", CT_INT, FIELD(max_retries), 0, 5, "2", NULL, NULL },
	{ "model", CT_MODEL, FIELD(models), 0, CONF_MAX_TOKENS, NULL, NULL,
	    NULL },
	{ "default_model", CT_STRING, FIELD(default_model), 0, 0, "", NULL,
	    NULL },
	{ "client_instructions", CT_BOOL, FIELD(client_instructions), 0, 1,
	    "yes", NULL, NULL },
	{ "instructions", CT_STRING, FIELD(instructions), 0, 0, "", NULL,
	    NULL },
	{ "client_tools", CT_BOOL, FIELD(client_tools), 0, 1, "yes", NULL,
	    NULL },
	{ "demo_words_per_second", CT_INT, FIELD(demo_words_per_second),
	    1, 1000, "20", NULL, NULL },
	{ "self_check", CT_BOOL, FIELD(self_check), 0, 1, "yes", NULL, NULL },
};

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

static int
set_duration(const struct ckey *k, void *field, const char *v,
    struct pos *p)
{
	const char *dot = strchr(v, '.');
	size_t ni = dot ? (size_t)(dot - v) : strlen(v);
	size_t nf = dot ? strlen(dot + 1) : 0;
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
		return perr(p, "%s: \"%.80s\" is not a duration (seconds like "
		    "15 or 0.5, at most 3 decimals; %s..%s)", k->name, v, lo,
		    hi);
	if (rc > 0 || secs > (LLONG_MAX - 999) / 1000)
		ms = LLONG_MAX;
	else
		ms = secs * 1000 + frac;
	if (ms < k->min || ms > k->max)
		return perr(p, "%s: \"%.80s\" is out of range (%s..%s "
		    "seconds)", k->name, v, lo, hi);
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

static int
set_enum(const struct ckey *k, void *field, const char *v, struct pos *p)
{
	enum cs_provider_kind x;
	char list[128];
	size_t i, n = 0;

	for (i = 0; k->names[i] != NULL; i++) {
		if (strcmp(v, k->names[i]) == 0) {
			x = (enum cs_provider_kind)i;
			memcpy(field, &x, sizeof(x));
			return 0;
		}
	}
	list[0] = '\0';
	for (i = 0; k->names[i] != NULL && n < sizeof(list); i++)
		n += (size_t)snprintf(list + n, sizeof(list) - n, "%s%s",
		    i > 0 ? ", " : "", k->names[i]);
	return perr(p, "%s: \"%.80s\" is not one of %s", k->name, v, list);
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

/* "model = NAME [MAX_TOKENS]": append one entry to cfg->models. */
static int
set_model(const struct ckey *k, struct cs_config *cfg, const char *v,
    struct pos *p)
{
	const char *name = v, *tok, *rest;
	size_t nlen, tlen, i;
	long long max = 0;
	int rc;

	nlen = strcspn(name, " \t");
	tok = name + nlen + strspn(name + nlen, " \t");
	tlen = strcspn(tok, " \t");
	rest = tok + tlen + strspn(tok + tlen, " \t");
	if (nlen == 0 || *rest != '\0')
		return perr(p, "model: expected \"NAME [MAX_TOKENS]\"");
	if (!valid_model_name(name, nlen))
		return perr(p, "model: \"%.*s\" is not a valid model name "
		    "(1..%d of A-Z a-z 0-9 . _ : / @ + -)",
		    (int)(nlen > 80 ? 80 : nlen), name, CS_MAX_NAME - 1);
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
	for (i = 0; i < cfg->n_models; i++)
		if (strlen(cfg->models[i].name) == nlen &&
		    memcmp(cfg->models[i].name, name, nlen) == 0)
			return perr(p, "model: \"%.*s\" is listed twice",
			    (int)nlen, name);
	if (cfg->n_models >= CS_MAX_MODELS)
		return perr(p, "model: more than %d models", CS_MAX_MODELS);
	memset(&cfg->models[cfg->n_models], 0, sizeof(cfg->models[0]));
	memcpy(cfg->models[cfg->n_models].name, name, nlen);
	cfg->models[cfg->n_models].max_tokens = (long)max;
	cfg->n_models++;
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

static int
set_value(const struct ckey *k, struct cs_config *cfg, const char *v,
    struct pos *p)
{
	void *field = (char *)cfg + k->off;

	switch (k->type) {
	case CT_INT:
		return set_int(k, field, v, p);
	case CT_SIZE:
		return set_size(k, field, v, p);
	case CT_DURATION:
		return set_duration(k, field, v, p);
	case CT_BOOL:
		return set_bool(k, field, v, p);
	case CT_STRING:
		return set_string(k, field, v, p);
	case CT_ENUM:
		return set_enum(k, field, v, p);
	case CT_MODEL:
		return set_model(k, cfg, v, p);
	}
	return perr(p, "%s: internal error: bad type", k->name);
}

void
cs_config_defaults(struct cs_config *cfg)
{
	char err[256];
	struct pos p = { "config.c defaults", 0, err, sizeof(err) };
	size_t i;

	memset(cfg, 0, sizeof(*cfg));
	for (i = 0; i < CS_ARRAY_LEN(keys); i++) {
		p.line = i + 1;
		if (keys[i].def == NULL)
			continue;
		/* A default that fails its own parser is a bug in keys[]. */
		if (set_value(&keys[i], cfg, keys[i].def, &p) != 0) {
			fprintf(stderr, "chatstream: %s\n", err);
			abort();
		}
	}
	cfg->base_url_eff = DEFAULT_BASE_URL;
	cfg->provider_eff = CS_PROVIDER_DEMO;
	cfg->key_source = "none";
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

/* One line without its newline; seen[] holds the line each key was set on. */
static int
parse_line(struct cs_config *cfg, char *line, size_t len, size_t *seen,
    struct pos *p)
{
	char *s = line, *eq, *end, *v;
	size_t i, klen;

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

	for (i = 0; i < CS_ARRAY_LEN(keys); i++)
		if (strlen(keys[i].name) == klen &&
		    memcmp(keys[i].name, s, klen) == 0)
			break;
	if (i == CS_ARRAY_LEN(keys))
		return perr(p, "unknown key \"%.*s\"",
		    (int)(klen > 80 ? 80 : klen), s);
	if (keys[i].type != CT_MODEL && seen[i] != 0)
		return perr(p, "%s: already set on line %zu", keys[i].name,
		    seen[i]);
	seen[i] = p->line;
	return set_value(&keys[i], cfg, v, p);
}

enum cs_err
cs_config_load(struct cs_config *cfg, const char *path, char *err,
    size_t errlen)
{
	size_t seen[CS_ARRAY_LEN(keys)];
	struct pos p = { path, 0, err, errlen };
	enum cs_err rc = CS_ECONFIG;
	FILE *f;
	char *line = NULL;
	size_t len;
	int c;

	memset(seen, 0, sizeof(seen));
	if ((f = fopen(path, "re")) == NULL) {
		seterr(err, errlen, "%s: %s", path, strerror(errno));
		return CS_ESYS;
	}
	/* +2: room for one byte too many, to detect long lines, and NUL. */
	if ((line = malloc(CONF_MAX_LINE + 2)) == NULL) {
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
		if (parse_line(cfg, line, len, seen, &p) != 0)
			goto out;
	}
	rc = CS_OK;
out:
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

/* Read, trim and check api_key_file into cfg->api_key. */
static enum cs_err
read_key_file(struct cs_config *cfg, char *err, size_t errlen)
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
set_base_url(struct cs_config *cfg, const char *url, const char *what,
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

/*
 * What each wire format assumes when the config says nothing: where the
 * API lives, which environment variables name it and its key (as the
 * providers' own SDKs read them), and a model to offer.
 */
static const struct provider_defaults {
	enum cs_provider_kind kind;
	const char *base_url;
	const char *url_env;      /* NULL: none */
	const char *key_env;      /* replaces the default api_key_env */
	const char *model;
} provider_defaults[] = {
	{ CS_PROVIDER_OPENAI_CHAT, DEFAULT_BASE_URL, "OPENAI_BASE_URL",
	    "OPENAI_API_KEY", "gpt-4o-mini" },
	{ CS_PROVIDER_OPENAI_RESPONSES, DEFAULT_BASE_URL, "OPENAI_BASE_URL",
	    "OPENAI_API_KEY", "gpt-4o-mini" },
	{ CS_PROVIDER_OPENAI_COMPLETIONS, DEFAULT_BASE_URL, "OPENAI_BASE_URL",
	    "OPENAI_API_KEY", "gpt-3.5-turbo-instruct" },
	{ CS_PROVIDER_ANTHROPIC, "https://api.anthropic.com/v1",
	    "ANTHROPIC_BASE_URL", "ANTHROPIC_API_KEY", "claude-3-5-haiku-latest" },
	{ CS_PROVIDER_OLLAMA, "http://127.0.0.1:11434", NULL, NULL,
	    "llama3.2" },
};

static const struct provider_defaults *
defaults_for(enum cs_provider_kind k)
{
	size_t i;

	for (i = 0; i < CS_ARRAY_LEN(provider_defaults); i++)
		if (provider_defaults[i].kind == k)
			return &provider_defaults[i];
	return &provider_defaults[0];   /* auto, demo: OpenAI's */
}

const char *
cs_provider_kind_name(enum cs_provider_kind k)
{
	if ((size_t)k >= CS_ARRAY_LEN(provider_names) - 1)
		return "unknown";
	return provider_names[k];
}

enum cs_err
cs_config_resolve(struct cs_config *cfg, char *err, size_t errlen)
{
	const struct provider_defaults *pd = defaults_for(cfg->provider);
	const char *env, *name, *key_env = cfg->api_key_env;
	enum cs_err rc;
	int explicit_url = 0;
	size_t i;

	/* Resolving twice must not leak the first key. */
	cs_config_free(cfg);
	cfg->key_source = "none";

	/* The default OPENAI_API_KEY means "the provider's usual variable". */
	if (strcmp(key_env, "OPENAI_API_KEY") == 0)
		key_env = pd->key_env;
	if (cfg->api_key_file[0] != '\0') {
		if ((rc = read_key_file(cfg, err, errlen)) != CS_OK)
			return rc;
	} else if (key_env != NULL && key_env[0] != '\0' &&
	    (env = getenv(key_env)) != NULL && *env != '\0') {
		if (has_ctl(env)) {
			seterr(err, errlen, "the key in $%s contains control "
			    "characters or line breaks", key_env);
			return CS_ECONFIG;
		}
		if ((cfg->api_key = strdup(env)) == NULL) {
			seterr(err, errlen, "%s", strerror(ENOMEM));
			return CS_ENOMEM;
		}
		cfg->key_source = "env";
	}

	if (cfg->base_url[0] != '\0') {
		if ((rc = set_base_url(cfg, cfg->base_url, "base_url", err,
		    errlen)) != CS_OK)
			return rc;
		explicit_url = 1;
	} else if (pd->url_env != NULL && (env = getenv(pd->url_env)) != NULL &&
	    *env != '\0') {
		if ((rc = set_base_url(cfg, env, pd->url_env, err,
		    errlen)) != CS_OK)
			return rc;
		explicit_url = 1;
	} else
		cfg->base_url_eff = pd->base_url;

	if (cfg->provider == CS_PROVIDER_AUTO)
		/* A URL alone counts: local servers often need no key. */
		cfg->provider_eff = (cfg->api_key != NULL || explicit_url) ?
		    CS_PROVIDER_OPENAI_CHAT : CS_PROVIDER_DEMO;
	else
		cfg->provider_eff = cfg->provider;

	if (cfg->n_models == 0) {
		name = cfg->provider_eff == CS_PROVIDER_DEMO ? "demo" :
		    defaults_for(cfg->provider_eff)->model;
		memset(&cfg->models[0], 0, sizeof(cfg->models[0]));
		memcpy(cfg->models[0].name, name, strlen(name));
		cfg->n_models = 1;
	}
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

void
cs_config_free(struct cs_config *cfg)
{
	if (cfg == NULL || cfg->api_key == NULL)
		return;
	explicit_bzero(cfg->api_key, strlen(cfg->api_key));
	free(cfg->api_key);
	cfg->api_key = NULL;
}
