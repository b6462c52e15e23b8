/*
 * metrics_text.c — the exposition: Prometheus' text format 0.0.4 and
 * OpenMetrics 1.0.0, from the shared table (metrics_int.h).
 *
 * The ready series are gathered, sorted by family and labels, and those
 * with the same key (two processes that claimed a slot for one series at
 * once) summed.  Values are read with relaxed atomic loads: a scrape
 * taken while requests count may see a histogram's count one ahead of
 * its buckets, never a value that goes down.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "metrics.h"
#include "metrics_int.h"

struct acc {
	const struct cs_mslot *sl; /* the first slot of the key */
	uint64_t v[CS_MNBUCKETS + 2];
};

static int
cmp_slot(const void *a, const void *b)
{
	const struct cs_mslot *x = *(const struct cs_mslot *const *)a;
	const struct cs_mslot *y = *(const struct cs_mslot *const *)b;
	int i, c;

	if (x->fam != y->fam)
		return x->fam < y->fam ? -1 : 1;
	for (i = 0; i < CS_MLABELS; i++)
		if ((c = strncmp(
		         x->labels[i], y->labels[i], CS_METRICS_LABEL)) != 0)
			return c;
	return 0;
}

/* A label value or help text, escaped as both formats want: \\, \n, and
 * for label values \". */
static enum cs_err
put_escaped(struct cs_buf *out, const char *s, size_t max, int quote)
{
	enum cs_err r = CS_OK;
	size_t i;

	for (i = 0; i < max && s[i] != '\0' && r == CS_OK; i++)
		if (s[i] == '\\')
			r = cs_buf_puts(out, "\\\\");
		else if (s[i] == '\n')
			r = cs_buf_puts(out, "\\n");
		else if (s[i] == '"' && quote)
			r = cs_buf_puts(out, "\\\"");
		else
			r = cs_buf_append(out, &s[i], 1);
	return r;
}

/* name{labels[,le="X"]} */
static enum cs_err
put_sample_name(struct cs_buf *out, const char *name, const char *suffix,
    const struct cs_mfamily *f, const struct cs_mslot *sl, const char *le)
{
	enum cs_err r;
	int i, n = 0;

	r = cs_buf_printf(out, "%s%s", name, suffix);
	for (i = 0; i < CS_MLABELS && f->labels[i] != NULL && r == CS_OK; i++) {
		r = cs_buf_printf(
		    out, "%s%s=\"", n++ ? "," : "{", f->labels[i]);
		if (r == CS_OK)
			r = put_escaped(
			    out, sl->labels[i], CS_METRICS_LABEL - 1, 1);
		if (r == CS_OK)
			r = cs_buf_puts(out, "\"");
	}
	if (le != NULL && r == CS_OK)
		r = cs_buf_printf(out, "%sle=\"%s\"", n++ ? "," : "{", le);
	if (n > 0 && r == CS_OK)
		r = cs_buf_puts(out, "}");
	return r;
}

/* The family's name in OpenMetrics: a counter's without _total. */
static void
om_name(const char *name, int counter, char *out, size_t len)
{
	size_t n = strlen(name);

	if (counter && n > 6 && strcmp(name + n - 6, "_total") == 0)
		n -= 6;
	snprintf(out, len, "%.*s", (int)n, name);
}

static enum cs_err
put_meta(struct cs_buf *out, const char *name, const char *type,
    const char *help, const char *unit, int om)
{
	enum cs_err r;

	r = cs_buf_printf(out, "# HELP %s ", name);
	if (r == CS_OK)
		r = put_escaped(out, help, (size_t)-1, 0);
	if (r == CS_OK)
		r = cs_buf_printf(out, "\n# TYPE %s %s\n", name, type);
	if (r == CS_OK && om && unit != NULL)
		r = cs_buf_printf(out, "# UNIT %s %s\n", name, unit);
	return r;
}

static void
fmt_secs(char *buf, size_t len, uint64_t us)
{
	snprintf(buf, len, "%llu.%06llu", (unsigned long long)(us / 1000000),
	    (unsigned long long)(us % 1000000));
}

static enum cs_err
put_series(struct cs_buf *out, const char *name, const struct cs_mfamily *f,
    const struct acc *a, int om)
{
	char le[32];
	uint64_t cum = 0;
	enum cs_err r = CS_OK;
	int i;

	if (f->type == T_COUNTER) {
		r = put_sample_name(
		    out, name, om ? "_total" : "", f, a->sl, NULL);
		return r != CS_OK ?
		    r :
		    cs_buf_printf(out, " %llu\n", (unsigned long long)a->v[0]);
	}
	for (i = 0; i <= CS_MNBUCKETS && r == CS_OK; i++) {
		if (i < CS_MNBUCKETS) {
			cum += a->v[i];
			fmt_secs(le, sizeof(le), (uint64_t)cs_mbucket_us[i]);
			/* 0.005000 -> 0.005: the shortest exact form */
			while (le[strlen(le) - 1] == '0')
				le[strlen(le) - 1] = '\0';
			if (le[strlen(le) - 1] == '.')
				strcat(le, "0");
		} else {
			cum = a->v[CS_MNBUCKETS];
			strcpy(le, "+Inf");
		}
		r = put_sample_name(out, name, "_bucket", f, a->sl, le);
		if (r == CS_OK)
			r = cs_buf_printf(
			    out, " %llu\n", (unsigned long long)cum);
	}
	fmt_secs(le, sizeof(le), a->v[CS_MNBUCKETS + 1]);
	if (r == CS_OK)
		r = put_sample_name(out, name, "_sum", f, a->sl, NULL);
	if (r == CS_OK)
		r = cs_buf_printf(out, " %s\n", le);
	if (r == CS_OK)
		r = put_sample_name(out, name, "_count", f, a->sl, NULL);
	if (r == CS_OK)
		r = cs_buf_printf(
		    out, " %llu\n", (unsigned long long)a->v[CS_MNBUCKETS]);
	return r;
}

/* Every family, its series summed over equal keys. */
static enum cs_err
put_families(struct cs_buf *out, const struct cs_mslot **v, size_t n, int om)
{
	const struct cs_mfamily *f;
	struct acc a;
	char name[96];
	enum cs_err r = CS_OK;
	size_t i = 0, fam, j;

	for (fam = 0; fam < CS_M_COUNT && r == CS_OK; fam++) {
		f = &cs_mfams[fam];
		if (om)
			om_name(
			    f->name, f->type == T_COUNTER, name, sizeof(name));
		else
			snprintf(name, sizeof(name), "%s", f->name);
		r = put_meta(out, name,
		    f->type == T_COUNTER ? "counter" : "histogram", f->help,
		    f->type == T_HISTOGRAM ? "seconds" : NULL, om);
		while (r == CS_OK && i < n && v[i]->fam == fam) {
			memset(&a, 0, sizeof(a));
			a.sl = v[i];
			for (; i < n && cmp_slot(&v[i], &a.sl) == 0; i++)
				for (j = 0; j < CS_MNBUCKETS + 2; j++)
					a.v[j] += __atomic_load_n(
					    &v[i]->v[j], __ATOMIC_RELAXED);
			r = put_series(out, name, f, &a, om);
		}
	}
	return r;
}

/* The gauges of the live processes, and the table's own figures. */
static enum cs_err
put_gauges(struct cs_buf *out, int om, const char *backend, int state_up)
{
	static const char *const gname[CS_G_COUNT] = {
		"chatstream_open_streams", "chatstream_pending_output_bytes"
	};
	static const char *const ghelp[CS_G_COUNT] = {
		"Requests being answered now.",
		"Answer bytes waiting for clients that read slowly."
	};
	int64_t g[CS_G_COUNT] = { 0 };
	long procs = 0;
	enum cs_err r = CS_OK;
	size_t i, k;

	for (i = 0; i < CS_METRICS_PROCS; i++) {
		if (__atomic_load_n(&cs_mseg->procs[i].pid, __ATOMIC_ACQUIRE) ==
		        0 ||
		    !cs_mproc_alive(&cs_mseg->procs[i]))
			continue;
		procs++;
		for (k = 0; k < CS_G_COUNT; k++)
			g[k] += __atomic_load_n(
			    &cs_mseg->procs[i].g[k], __ATOMIC_RELAXED);
	}
	for (k = 0; k < CS_G_COUNT && r == CS_OK; k++) {
		r = put_meta(out, gname[k], "gauge", ghelp[k],
		    k == CS_G_PENDING_BYTES ? "bytes" : NULL, om);
		if (r == CS_OK)
			r = cs_buf_printf(out, "%s %lld\n", gname[k],
			    (long long)(g[k] < 0 ? 0 : g[k]));
	}
	if (r == CS_OK)
		r = put_meta(out, "chatstream_processes", "gauge",
		    "Processes of the pool that count into these figures now.",
		    NULL, om);
	if (r == CS_OK)
		r = cs_buf_printf(out, "chatstream_processes %ld\n", procs);
	if (r == CS_OK && state_up >= 0) {
		r = put_meta(out, "chatstream_state_store_up", "gauge",
		    "Whether the state store (limits, budgets, ledger, "
		    "cooldowns) answered a check during this scrape.",
		    NULL, om);
		if (r == CS_OK)
			r = cs_buf_printf(out,
			    "chatstream_state_store_up{backend=\"%s\"} %d\n",
			    backend, state_up);
	}
	if (r == CS_OK)
		r = put_meta(out,
		    om ? "chatstream_metrics_dropped_series" :
		         "chatstream_metrics_dropped_series_total",
		    "counter",
		    "Series not counted because the metrics table was full.",
		    NULL, om);
	if (r == CS_OK)
		r = cs_buf_printf(out,
		    "chatstream_metrics_dropped_series_total %llu\n",
		    (unsigned long long)__atomic_load_n(
		        &cs_mseg->dropped, __ATOMIC_RELAXED));
	if (r == CS_OK)
		r = put_meta(out,
		    om ? "chatstream_build" : "chatstream_build_info",
		    om ? "info" : "gauge",
		    "The version of chatstream, and whether the figures are "
		    "shared by the pool (a metrics_file).",
		    NULL, om);
	if (r == CS_OK)
		r = cs_buf_printf(out,
		    "chatstream_build_info{version=\"%s\",shared=\"%s\"} 1\n",
		    CS_VERSION, cs_metrics_shared() == 1 ? "yes" : "no");
	return r;
}

enum cs_err
cs_metrics_render(
    struct cs_buf *out, int openmetrics, const char *backend, int state_up)
{
	const struct cs_mslot **v;
	enum cs_err r;
	size_t i, n = 0;

	if (cs_mseg == NULL)
		return CS_EDONE;
	if ((v = calloc(CS_METRICS_SERIES, sizeof(*v))) == NULL)
		return CS_ENOMEM;
	for (i = 0; i < CS_METRICS_SERIES; i++) {
		const struct cs_mslot *sl = &cs_mseg->slots[i];

		if (__atomic_load_n(&sl->state, __ATOMIC_ACQUIRE) !=
		        SLOT_READY ||
		    sl->fam >= CS_M_COUNT)
			continue;
		v[n++] = sl;
	}
	qsort(v, n, sizeof(*v), cmp_slot);
	r = put_families(out, v, n, openmetrics);
	if (r == CS_OK)
		r = put_gauges(out, openmetrics, backend, state_up);
	if (r == CS_OK && openmetrics)
		r = cs_buf_puts(out, "# EOF\n");
	free(v);
	return r;
}
