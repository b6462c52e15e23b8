/*
 * config_int.h — what the three files of the config share; not for the
 * rest of chatstream (that is config.h).
 *
 *   config_parse.c  the lexer: lines, quoting, [sections], cs_config_load
 *                   and the one error reporter, cfg_error();
 *   config_keys.c   the key table (one row per key), the parser of each
 *                   value type, the defaults (which must parse);
 *   config.c        resolution (environment, key files, provider
 *                   defaults, models to upstreams) and the lookups.
 *
 * Errors: every function that reports one writes it through cfg_error()
 * into the struct pos it was given, then returns -1 (the value parsers)
 * or a CS_E* code (the public entry points).  Nothing here keeps state:
 * all of it works on the struct cs_config the caller passes.
 */
#ifndef CS_CONFIG_INT_H
#define CS_CONFIG_INT_H

#include <stddef.h>
#include <string.h>

#include "config.h"

#define CONF_MAX_LINE        (16 * 1024)  /* bytes in one line, without "\n" */
#define CONF_MAX_KEYFILE     4096         /* bytes in the api_key_file */
#define CONF_MAX_TOKENS      10000000LL   /* ceiling for a model's cap */
#define CONF_MAX_KEYS        80           /* rows of the key table */
#define CONF_MAX_RATE        1000000000LL /* rpm, concurrent streams */
#define CONF_MAX_DAY         1000000000000000LL /* tokens per day */
#define CONF_MAX_LEDGER_DAYS 3650               /* ledger_days: ten years */
/* provider = auto: AUTO_REMOTE when a key or a base URL is configured,
 * else AUTO_LOCAL; it reads the variables AUTO_REMOTE reads. */
#define AUTO        "auto"
#define AUTO_REMOTE "openai-chat"
#define AUTO_LOCAL  "demo"

enum ctype {
	CT_INT,      /* decimal integer */
	CT_SIZE,     /* bytes; k/K and m/M suffixes */
	CT_DURATION, /* seconds, up to 3 decimals; stored in ms */
	CT_DECIMAL,  /* a number, up to 3 decimals; stored x1000 */
	CT_BOOL,     /* yes/no, true/false, on/off, 1/0 */
	CT_STRING,   /* bounded by the field's size */
	CT_PROVIDER, /* auto or a provider's name; stored as const struct
	                   cs_provider * (NULL: auto) */
	CT_MODEL,    /* "NAME [MAX_TOKENS]", repeatable */
	CT_HEADER,   /* "Name: value", repeatable */
};

/* Which struct a key's field lives in, i.e. where the key may appear. */
enum scope {
	SC_TOP,      /* struct cs_config: top level only */
	SC_UPSTREAM, /* struct cs_upstream_cfg: top level (for "default")
	                   or an [upstream] section */
	SC_MODEL,    /* struct cs_model_cfg: a [model] section */
	SC_KEY,      /* struct cs_key_cfg: a [key] section */
};

/*
 * Where an error is reported and what goes in front of it:
 * "path:line: ", "path: " when line is 0, nothing when path is NULL.
 * err (errlen bytes) is the caller's buffer; NULL or 0 = drop messages.
 */
struct pos {
	const char *path;
	size_t line;
	char *err;
	size_t errlen;
};

struct ckey {
	const char *name;
	enum scope scope;
	size_t off;  /* offsetof(the scope's struct, field) */
	size_t size; /* sizeof the field */
	enum ctype type;
	long long min, max; /* int, size: the value; duration: ms */
	const char *def;    /* default, as written in the file */
	/* CT_STRING: extra rule on the value; 0 or -1 with an error set. */
	int (*check)(const struct ckey *, const char *, struct pos *);
	int inherit; /* SC_UPSTREAM: an [upstream] section starts
	                          with the top-level value, not def */
};

/* config_parse.c */
/* The one error reporter: the message, after p's prefix, into p->err.
 * Returns -1, for "return cfg_error(p, ...)". */
int cfg_error(const struct pos *p, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* config_keys.c */
extern const struct ckey cfg_keys[]; /* cfg_n_keys rows, <= CONF_MAX_KEYS */
extern const size_t cfg_n_keys;
/* Parse v into key k's field of base (the struct k->scope names; cfg
 * itself for SC_TOP).  0, or -1 with the error in p. */
int cfg_set_value(const struct ckey *k, struct cs_config *cfg, void *base,
    const char *v, struct pos *p);
/* Append a model called name (nlen bytes) to cfg, or NULL with why in p. */
struct cs_model_cfg *cfg_model_new(
    struct cs_config *cfg, const char *name, size_t nlen, struct pos *p);
/* Note that a [model] key at offset off was set in the section. */
void cfg_model_mark_set(struct cs_model_cfg *m, size_t off);
/* Append upstream name (defined on line) with its defaults; the caller
 * checks cfg->n_upstreams < CS_MAX_UPSTREAMS first. */
struct cs_upstream_cfg *
cfg_upstream_new(struct cs_config *cfg, const char *name, size_t line);
/* Model, upstream and section names: 1..CS_MAX_NAME-1 tame bytes. */
int cfg_valid_model_name(const char *s, size_t n);
/* A permissions value into CS_PERM_* bits: 0, or -1 (none, or a word
 * that is none of chat, metrics, admin). */
int cfg_parse_perms(const char *v, unsigned *out);
/* http:// or https:// and a host; no spaces or controls. */
int cfg_url_ok(const char *v);


/* A model with every section key at its default (= not set). */
static inline void
model_init(struct cs_model_cfg *m, size_t line)
{
	memset(m, 0, sizeof(*m));
	m->line = line;
}

#endif
