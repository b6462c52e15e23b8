/*
 * usage_cli.c — `chatstream usage`, the ledger as a table; see
 * usage_cli.h.  Reads the config for its store only: nothing here needs
 * the provider keys, so the config is loaded but not resolved.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "usage_cli.h"

#define SYNOPSIS \
	"usage: chatstream usage [--config FILE] [--since DURATION] " \
	"[--by day|model|identity|key]\n"

static const char *const bys[] = { "day", "model", "identity", "key" };

int
cs_usage_parse_since(const char *s, long long *ms)
{
	static const struct {
		char unit;
		long long ms, max;
	} units[] = {
		{ 'd', 86400000LL, CS_USAGE_SINCE_MAX_DAYS },
		{ 'h', 3600000LL, CS_USAGE_SINCE_MAX_DAYS * 24LL },
		{ 'm', 60000LL, CS_USAGE_SINCE_MAX_DAYS * 24LL * 60 },
	};
	unsigned long long v;
	size_t n = strlen(s), i;

	if (n < 2)
		return -1;
	for (i = 0; i < CS_ARRAY_LEN(units); i++) {
		if (s[n - 1] != units[i].unit)
			continue;
		/* cap max + 1: a larger value reads as it, out of range. */
		if (cs_parse_dec(s, n - 1, (unsigned long long)units[i].max + 1,
		        &v) != 0 ||
		    v < 1 || v > (unsigned long long)units[i].max)
			return -1;
		*ms = (long long)v * units[i].ms;
		return 0;
	}
	return -1;
}

int
cs_usage_parse_args(int argc, char *const argv[], const char *config_env,
    struct cs_usage_opts *o, char *err, size_t errlen)
{
	const char *since = NULL, *by = NULL, *config = NULL;
	int i;
	size_t j;

	memset(o, 0, sizeof(*o));
	for (i = 0; i < argc; i++) {
		const char **slot = strcmp(argv[i], "--config") == 0 ? &config :
		    strcmp(argv[i], "--since") == 0                  ? &since :
		    strcmp(argv[i], "--by") == 0                     ? &by :
		                                                       NULL;

		if (slot == NULL) {
			snprintf(
			    err, errlen, "unknown option \"%.60s\"", argv[i]);
			return -1;
		}
		if (i + 1 >= argc) {
			snprintf(err, errlen, "%s needs a value", argv[i]);
			return -1;
		}
		if (*slot != NULL) {
			snprintf(err, errlen, "%s is given twice", argv[i]);
			return -1;
		}
		*slot = argv[++i];
	}
	o->config = config != NULL                    ? config :
	    config_env != NULL && *config_env != '\0' ? config_env :
	                                                NULL;
	if (o->config != NULL && *o->config == '\0') {
		snprintf(err, errlen, "--config: the file name is empty");
		return -1;
	}
	o->since = since != NULL ? since : CS_USAGE_SINCE_DEFAULT;
	if (cs_usage_parse_since(o->since, &o->since_ms) != 0) {
		snprintf(err, errlen,
		    "--since: \"%.40s\" is not a duration like 7d, 12h or "
		    "30m (1..%dd)",
		    o->since, CS_USAGE_SINCE_MAX_DAYS);
		return -1;
	}
	o->by = by != NULL ? by : "day";
	for (j = 0; j < CS_ARRAY_LEN(bys); j++)
		if (strcmp(o->by, bys[j]) == 0)
			return 0;
	snprintf(err, errlen,
	    "--by: \"%.40s\" is not day, model, identity or key", o->by);
	return -1;
}

/* ---- the table ---- */

void
cs_usage_table_add(void *ctx, const char *group, long long requests,
    long long prompt_tokens, long long completion_tokens)
{
	struct cs_usage_table *t = ctx;
	struct cs_usage_row *rows;
	size_t cap;

	if (t->failed)
		return;
	if (t->n == t->cap) {
		cap = t->cap ? t->cap * 2 : 64;
		if (t->n >= (size_t)CS_USAGE_MAX_ROWS ||
		    (rows = realloc(t->rows, cap * sizeof(*rows))) == NULL) {
			t->failed = 1;
			return;
		}
		t->rows = rows;
		t->cap = cap;
	}
	if ((t->rows[t->n].group = strndup(group, 4 * CS_STATE_NAME_MAX)) ==
	    NULL) {
		t->failed = 1;
		return;
	}
	t->rows[t->n].requests = requests;
	t->rows[t->n].prompt = prompt_tokens;
	t->rows[t->n].completion = completion_tokens;
	t->n++;
}

static int
by_group(const void *a, const void *b)
{
	const struct cs_usage_row *x = a, *y = b;

	return strcmp(x->group, y->group);
}

static int
by_total(const void *a, const void *b)
{
	const struct cs_usage_row *x = a, *y = b;
	long long tx = x->prompt + x->completion,
	          ty = y->prompt + y->completion;

	if (tx != ty)
		return tx > ty ? -1 : 1;
	return strcmp(x->group, y->group);
}

void
cs_usage_table_sort(struct cs_usage_table *t, const char *by)
{
	if (t->n > 1)
		qsort(t->rows, t->n, sizeof(*t->rows),
		    strcmp(by, "day") == 0 ? by_group : by_total);
}

/* Columns a group takes on a terminal: one per UTF-8 character. */
static size_t
width(const char *s)
{
	size_t n = 0;

	for (; *s != '\0'; s++)
		n += ((unsigned char)*s & 0xC0) != 0x80;
	return n;
}

static const char *
shown(const char *group)
{
	return *group != '\0' ? group : "(none)";
}

/* The group left-aligned in w columns, control bytes as "?". */
static void
put_group(const char *g, size_t w, FILE *out)
{
	size_t n = width(g);

	for (; *g != '\0'; g++)
		fputc((unsigned char)*g < 0x20 || *g == 0x7f ? '?' : *g, out);
	for (; n < w; n++)
		fputc(' ', out);
}

/* Digits of v (>= 0), for the column widths. */
static size_t
digits(long long v)
{
	char b[24];
	int n = snprintf(b, sizeof(b), "%lld", v);

	return n > 0 ? (size_t)n : 1;
}

static void
widen(size_t *w, size_t n)
{
	if (n > *w)
		*w = n;
}

int
cs_usage_table_print(const struct cs_usage_table *t, const char *by, FILE *out)
{
	static const char *const head[] = { "requests", "prompt tokens",
		"completion tokens", "total tokens" };
	long long sum[4] = { 0, 0, 0, 0 }, v[4];
	size_t w[5], i, k, rule;

	w[0] = width(by);
	widen(&w[0], width("total"));
	for (k = 0; k < 4; k++)
		w[k + 1] = strlen(head[k]);
	for (i = 0; i <= t->n; i++) {
		if (i < t->n) {
			const struct cs_usage_row *r = &t->rows[i];

			widen(&w[0], width(shown(r->group)));
			v[0] = r->requests, v[1] = r->prompt;
			v[2] = r->completion, v[3] = r->prompt + r->completion;
			for (k = 0; k < 4; k++)
				sum[k] += v[k];
		}
		for (k = 0; k < 4; k++)
			widen(&w[k + 1], digits(i < t->n ? v[k] : sum[k]));
	}
	put_group(by, w[0], out);
	for (k = 0; k < 4; k++)
		fprintf(out, "  %*s", (int)w[k + 1], head[k]);
	fputc('\n', out);
	for (i = 0; i <= t->n; i++) {
		if (i == t->n) {
			rule = w[0] + w[1] + w[2] + w[3] + w[4] + 8;
			for (k = 0; k < rule; k++)
				fputc('-', out);
			fputc('\n', out);
			memcpy(v, sum, sizeof(v));
			put_group("total", w[0], out);
		} else {
			const struct cs_usage_row *r = &t->rows[i];

			v[0] = r->requests, v[1] = r->prompt;
			v[2] = r->completion, v[3] = r->prompt + r->completion;
			put_group(shown(r->group), w[0], out);
		}
		for (k = 0; k < 4; k++)
			fprintf(out, "  %*lld", (int)w[k + 1], v[k]);
		fputc('\n', out);
	}
	return fflush(out) == 0 && !ferror(out) ? 0 : -1;
}

void
cs_usage_table_free(struct cs_usage_table *t)
{
	size_t i;

	if (t == NULL)
		return;
	for (i = 0; i < t->n; i++)
		free(t->rows[i].group);
	free(t->rows);
	memset(t, 0, sizeof(*t));
}

/* ---- the command ---- */

/* The store of the config o names into spec: 0, or -1 with err. */
static int
store_spec(const struct cs_usage_opts *o, char *spec, size_t len, char *err,
    size_t errlen)
{
	struct cs_config *cfg;
	const char *path;
	int rc = -1;

	if (o->config == NULL) {
		snprintf(err, errlen,
		    "no config file: give --config FILE (or set "
		    "CHATSTREAM_CONFIG), the one the server reads");
		return -1;
	}
	if ((cfg = calloc(1, sizeof(*cfg))) == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	cs_config_defaults(cfg);
	if (cs_config_load(cfg, o->config, err, errlen) != CS_OK ||
	    cs_config_default_state(cfg, o->config, err, errlen) != CS_OK)
		goto out;
	if (strcmp(cfg->state, "memory") == 0) {
		snprintf(err, errlen,
		    "state = memory: the ledger lives in the server process "
		    "and cannot be read from here");
		goto out;
	}
	path = strncmp(cfg->state, "sqlite:", 7) == 0 ? cfg->state + 7 : NULL;
	if (path != NULL && access(path, F_OK) != 0) {
		snprintf(err, errlen,
		    "state %.300s: %s (no chat has been admitted there yet?)",
		    cfg->state, strerror(errno));
		goto out;
	}
	snprintf(spec, len, "%s", cfg->state);
	rc = 0;
out:
	cs_config_free(cfg);
	free(cfg);
	return rc;
}

/* The caption: since when, grouped how. */
static void
caption(const struct cs_usage_opts *o, long long since_ms, FILE *out)
{
	time_t t = (time_t)(since_ms / 1000);
	struct tm tm;
	char when[32] = "?";

	if (gmtime_r(&t, &tm) != NULL)
		strftime(when, sizeof(when), "%Y-%m-%d %H:%M UTC", &tm);
	fprintf(out, "usage since %s (the last %s), by %s\n\n", when, o->since,
	    o->by);
}

int
cs_usage_main(int argc, char *const argv[], FILE *out, FILE *errf)
{
	char err[1024] = "", spec[sizeof(((struct cs_config *)0)->state)];
	struct cs_usage_table t = { 0 };
	struct cs_usage_opts o;
	struct cs_state *st = NULL;
	long long since;
	enum cs_err r;
	int rc = 2;

	if (argc == 1 &&
	    (strcmp(argv[0], "--help") == 0 || strcmp(argv[0], "-h") == 0)) {
		fputs(SYNOPSIS, out);
		return 0;
	}
	if (cs_usage_parse_args(argc, argv, getenv("CHATSTREAM_CONFIG"), &o,
	        err, sizeof(err))) {
		fprintf(errf, "chatstream usage: %s\n" SYNOPSIS, err);
		return 2;
	}
	if (store_spec(&o, spec, sizeof(spec), err, sizeof(err)) != 0) {
		fprintf(errf, "chatstream usage: %s\n", err);
		return 2;
	}
	if ((r = cs_state_open(spec, &st, err, sizeof(err))) != CS_OK) {
		fprintf(errf, "chatstream usage: state %s: %s%s%s\n", spec,
		    cs_strerror(r), err[0] ? ": " : "", err);
		return 2;
	}
	since = cs_wall_ms() - o.since_ms;
	r = cs_state_usage(st, since, o.by, cs_usage_table_add, &t);
	if (r != CS_OK || t.failed) {
		fprintf(errf,
		    "chatstream usage: reading the ledger in %s: %s\n", spec,
		    r != CS_OK ? cs_strerror(r) : "too many groups");
		goto out;
	}
	cs_usage_table_sort(&t, o.by);
	caption(&o, since, out);
	if (cs_usage_table_print(&t, o.by, out) != 0) {
		fprintf(errf, "chatstream usage: cannot write the table\n");
		goto out;
	}
	rc = 0;
out:
	cs_usage_table_free(&t);
	cs_state_close(st);
	return rc;
}
