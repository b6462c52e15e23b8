/*
 * config_parse.c — the lexer of the configuration file: lines, comments,
 * quoted values, [upstream NAME] and [model NAME] headers; each
 * "key = value" goes to its row of the key table (config_keys.c).  Errors
 * name file:line through cfg_error(), the one reporter of the config.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config_int.h"

int
cfg_error(const struct pos *p, const char *fmt, ...)
{
	va_list ap;
	int n = 0;

	if (p->err == NULL || p->errlen == 0)
		return -1;
	if (p->path != NULL && p->line > 0)
		n = snprintf(p->err, p->errlen, "%s:%zu: ", p->path, p->line);
	else if (p->path != NULL)
		n = snprintf(p->err, p->errlen, "%s: ", p->path);
	if (n < 0 || (size_t)n >= p->errlen)
		return -1;
	va_start(ap, fmt);
	vsnprintf(p->err + n, p->errlen - (size_t)n, fmt, ap);
	va_end(ap);
	return -1;
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
			return cfg_error(p, "unterminated quoted value");
		if (*r == '"')
			break;
		if (*r == '\\') {
			r++;
			if (*r == '\0')
				return cfg_error(p,
				    "unterminated quoted "
				    "value");
			if (*r != '"' && *r != '\\')
				return cfg_error(p,
				    "invalid escape \"\\%c\" "
				    "in quoted value (only \\\" and \\\\)",
				    *r);
		}
		*w++ = *r++;
	}
	for (r++; is_blank(*r); r++)
		continue;
	if (*r != '\0')
		return cfg_error(p,
		    "unexpected text after the closing quote "
		    "(no comments after a value)");
	*w = '\0';
	return 0;
}

/* Where the lines being read go: the top level or a section. */
struct section {
	enum scope sc;              /* SC_TOP before the first section */
	void *base;                 /* the section's struct; NULL at top */
	size_t seen[CONF_MAX_KEYS]; /* line each key was set on */
};

static const char *
scope_name(enum scope sc)
{
	switch (sc) {
	case SC_TOP: return "the top level, before any [section]";
	case SC_UPSTREAM: return "the top level or an [upstream NAME] section";
	case SC_MODEL: return "a [model NAME] section";
	case SC_KEY: return "a [key NAME] section";
	}
	return "?";
}

/* "[key NAME]": an access key, its limits unset (the top level's). */
static int
open_key(struct cs_config *cfg, const char *name, size_t nlen,
    struct section *sec, struct pos *p)
{
	struct cs_key_cfg *k;
	size_t i;

	if (!cfg_valid_model_name(name, nlen) || nlen > CS_MAX_KEY_NAME)
		return cfg_error(p,
		    "key: \"%.80s\" is not a valid name (1..%d of "
		    "A-Z a-z 0-9 . _ : / @ + -)",
		    name, CS_MAX_KEY_NAME);
	for (i = 0; i < cfg->n_keys; i++)
		if (strcmp(cfg->access_keys[i].name, name) == 0)
			return cfg_error(p,
			    "key: \"%s\" is already defined (line "
			    "%zu)",
			    name, cfg->keys[i].line);
	if (cfg->n_keys >= CS_MAX_KEYS)
		return cfg_error(p, "key: more than %d keys", CS_MAX_KEYS);
	k = &cfg->keys[cfg->n_keys];
	memset(k, 0, sizeof(*k));
	memset(&cfg->access_keys[cfg->n_keys], 0, sizeof(cfg->access_keys[0]));
	memcpy(cfg->access_keys[cfg->n_keys].name, name, nlen);
	k->lim.rpm = k->lim.concurrent = -1;
	k->lim.tokens_per_day = -1;
	k->line = p->line;
	cfg->n_keys++;
	sec->sc = SC_KEY;
	sec->base = k;
	return 0;
}

/* "[upstream NAME]", "[model NAME]" or "[key NAME]" (s points at '['):
 * start it. */
static int
open_section(struct cs_config *cfg, char *s, struct section *sec, struct pos *p)
{
	char *kind = s + 1, *name, *end = s + strlen(s);
	size_t klen, nlen, i;

	while (end > s && is_blank(end[-1]))
		end--;
	if (end - s < 2 || end[-1] != ']')
		return cfg_error(p, "a section header must end with ']'");
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
		return cfg_error(p,
		    "expected [upstream NAME], [model NAME] or "
		    "[key NAME]");
	name[nlen] = '\0';
	memset(sec->seen, 0, sizeof(sec->seen));
	if (klen == 5 && strncmp(kind, "model", 5) == 0) {
		sec->sc = SC_MODEL;
		return (sec->base = cfg_model_new(cfg, name, nlen, p)) != NULL ?
		    0 :
		    -1;
	}
	if (klen == 3 && strncmp(kind, "key", 3) == 0)
		return open_key(cfg, name, nlen, sec, p);
	if (klen != 8 || strncmp(kind, "upstream", 8) != 0)
		return cfg_error(p,
		    "unknown section [%.*s] (expected upstream, "
		    "model or key)",
		    (int)(klen > 40 ? 40 : klen), kind);
	if (!cfg_valid_model_name(name, nlen))
		return cfg_error(p,
		    "upstream: \"%.80s\" is not a valid name "
		    "(1..%d of A-Z a-z 0-9 . _ : / @ + -)",
		    name, CS_MAX_NAME - 1);
	for (i = 0; i < cfg->n_upstreams; i++)
		if (strcmp(cfg->upstreams[i].name, name) == 0)
			return cfg_error(p, "upstream: \"%s\" is %s", name,
			    i == 0 ? "the name of the top-level upstream" :
			             "already defined");
	if (cfg->n_upstreams >= CS_MAX_UPSTREAMS)
		return cfg_error(p, "upstream: more than %d upstreams",
		    CS_MAX_UPSTREAMS - 1);
	sec->sc = SC_UPSTREAM;
	sec->base = cfg_upstream_new(cfg, name, p->line);
	return 0;
}

/* One line without its newline. */
static int
parse_line(struct cs_config *cfg, char *line, size_t len, struct section *sec,
    struct pos *p)
{
	const struct ckey *k;
	char *s = line, *eq, *end, *v;
	size_t i, klen, other;
	void *base;

	if (len > 0 && line[len - 1] == '\r') /* CRLF files */
		line[--len] = '\0';
	if (memchr(line, '\0', len) != NULL)
		return cfg_error(p, "line contains a NUL byte");
	for (i = 0; i < len; i++)
		if (((unsigned char)line[i] < ' ' && line[i] != '\t') ||
		    line[i] == 0x7f)
			return cfg_error(p,
			    "line contains a control "
			    "character");
	while (is_blank(*s))
		s++;
	if (*s == '\0' || *s == '#')
		return 0;
	if (*s == '[')
		return open_section(cfg, s, sec, p);
	if ((eq = strchr(s, '=')) == NULL)
		return cfg_error(p, "expected \"key = value\"");
	for (end = eq; end > s && is_blank(end[-1]); end--)
		continue;
	klen = (size_t)(end - s);
	if (klen == 0)
		return cfg_error(p, "missing key before '='");
	for (v = eq + 1; is_blank(*v); v++)
		continue;
	for (end = v + strlen(v); end > v && is_blank(end[-1]); end--)
		continue;
	*end = '\0';
	if (*v == '"' && unquote(v, p) != 0)
		return -1;

	/* The row for this key where we are; else where it would belong. */
	other = cfg_n_keys;
	for (i = 0; i < cfg_n_keys; i++) {
		if (strlen(cfg_keys[i].name) != klen ||
		    memcmp(cfg_keys[i].name, s, klen) != 0)
			continue;
		if (cfg_keys[i].scope == sec->sc ||
		    (sec->sc == SC_TOP && cfg_keys[i].scope == SC_UPSTREAM))
			break;
		other = i;
	}
	if (i == cfg_n_keys && other < cfg_n_keys)
		return cfg_error(p, "%s: only allowed in %s",
		    cfg_keys[other].name, scope_name(cfg_keys[other].scope));
	if (i == cfg_n_keys)
		return cfg_error(
		    p, "unknown key \"%.*s\"", (int)(klen > 80 ? 80 : klen), s);
	k = &cfg_keys[i];
	if (k->type != CT_MODEL && k->type != CT_HEADER && sec->seen[i] != 0)
		return cfg_error(
		    p, "%s: already set on line %zu", k->name, sec->seen[i]);
	sec->seen[i] = p->line;
	if (k->scope == SC_TOP)
		base = cfg;
	else if (sec->sc == SC_TOP)
		base = &cfg->upstreams[0];
	else
		base = sec->base;
	if (cfg_set_value(k, cfg, base, v, p) != 0)
		return -1;
	if (k->scope == SC_MODEL)
		cfg_model_mark_set(base, k->off);
	return 0;
}

enum cs_err
cs_config_load(
    struct cs_config *cfg, const char *path, char *err, size_t errlen)
{
	struct section *sec;
	const struct pos file = { path, 0, err, errlen }; /* "path: " */
	struct pos p = file;                              /* "path:N: " */
	enum cs_err rc = CS_ECONFIG;
	FILE *f;
	char *line = NULL;
	size_t len;
	int c;

	if ((f = fopen(path, "re")) == NULL) {
		cfg_error(&file, "%s", strerror(errno));
		return CS_ESYS;
	}
	/* +2: room for one byte too many, to detect long lines, and NUL. */
	line = malloc(CONF_MAX_LINE + 2);
	sec = calloc(1, sizeof(*sec));
	if (line == NULL || sec == NULL) {
		cfg_error(&file, "%s", strerror(ENOMEM));
		rc = CS_ENOMEM;
		goto out;
	}
	/* Read by hand, not getline(): a huge line must not grow memory. */
	for (c = 0; c != EOF;) {
		p.line++;
		len = 0;
		while ((c = getc(f)) != EOF && c != '\n') {
			if (len > CONF_MAX_LINE) {
				cfg_error(&p, "line is longer than %d bytes",
				    CONF_MAX_LINE);
				goto out;
			}
			line[len++] = (char)c;
		}
		if (c == EOF && ferror(f)) {
			cfg_error(&file, "%s", strerror(errno));
			rc = CS_ESYS;
			goto out;
		}
		if (len > CONF_MAX_LINE) {
			cfg_error(
			    &p, "line is longer than %d bytes", CONF_MAX_LINE);
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
