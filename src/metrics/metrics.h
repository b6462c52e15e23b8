/*
 * metrics.h — the figures GET /api/metrics shows, summed over every
 * process of the pool.
 *
 * Every process maps one file (metrics_file) MAP_SHARED: a header, a
 * slot per live process for its gauges, and a fixed table of series.  A
 * series is one family (the enum below) and its label values; a process
 * finds or claims its slot with atomic operations and adds to it with
 * atomic adds, so counting takes no lock, never blocks, and needs no
 * store: the figures of a process that died stay in the counters, and
 * its gauges drop out with it (its pid no longer runs).  Two processes
 * that claim a slot for the same series at once each keep one; the
 * exposition sums them.  A full table drops new series and counts them
 * (chatstream_metrics_dropped_series_total).
 *
 * Label values are names from the config (models, upstreams), the route
 * table, statuses and the failure table's words: bounded sets, never a
 * client's identity.  A value longer than CS_METRICS_LABEL is cut.
 *
 * Off (metrics = off, or never opened) every call here is a no-op.
 */
#ifndef CS_METRICS_H
#define CS_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "cs.h"

struct cs_access;
struct cs_config;
struct cs_reqctx;
struct cs_stream;
struct cs_worker;

#define CS_METRICS_SERIES  4096       /* series the file holds */
#define CS_METRICS_PROCS   1024       /* processes mapping it at once */
#define CS_METRICS_LABEL   128        /* bytes of one label value */
#define CS_METRICS_MAX_OUT (8u << 20) /* bytes of one exposition */

/* The families; their names, types, help and label names are one table
 * in metrics.c. */
enum cs_mfam {
	CS_M_REQUESTS,          /* counter {endpoint, status, outcome} */
	CS_M_PROMPT_TOKENS,     /* counter {model, upstream} */
	CS_M_COMPLETION_TOKENS, /* counter {model, upstream} */
	CS_M_RETRIES,           /* counter {upstream} */
	CS_M_FALLBACKS,         /* counter {upstream}: the one left */
	CS_M_REFUSED,           /* counter {reason} */
	CS_M_DEPARTURES,        /* counter {endpoint} */
	CS_M_UPSTREAM_ERRORS,   /* counter {upstream, type} */
	CS_M_TTFD,              /* histogram {model} */
	CS_M_GAP,               /* histogram {model} */
	CS_M_DURATION,          /* histogram {endpoint} */
	CS_M_UPSTREAM_TTFB,     /* histogram {upstream} */
	CS_M_ADMISSION,         /* histogram {} */
	CS_M_COUNT
};

/* The gauges each process keeps in its own slot. */
enum cs_mgauge {
	CS_G_OPEN_STREAMS,  /* requests being answered */
	CS_G_PENDING_BYTES, /* answer bytes waiting for a slow client */
	CS_G_COUNT
};

/* What an attempt of a provider request ended in, for
 * chatstream_upstream_errors_total{type}. */
enum cs_mupstream {
	CS_MU_CONNECT,      /* no connection, or it broke before a body */
	CS_MU_LOST,         /* the connection broke mid-stream */
	CS_MU_TIMEOUT,      /* first byte, idle or total timeout */
	CS_MU_RATE_LIMITED, /* 429 */
	CS_MU_SERVER,       /* 5xx, 408, 409 */
	CS_MU_AUTH,         /* 401, 403 */
	CS_MU_CLIENT,       /* another 4xx (a context too long, a 404) */
	CS_MU_STREAM,       /* an error event inside a 200 stream */
	CS_MU_COUNT
};

/* One series: a family and its label values, a slot of the file. */
struct cs_mseries;

/*
 * Map cfg->metrics_file (created 0600 when missing, made anew when it
 * holds another layout), or when that cannot be, anonymous memory
 * (this process and its children only; a warning says so).  Called
 * once at start, before any thread; a no-op when cfg->metrics is
 * "off".  CS_OK, or CS_ENOMEM.
 */
enum cs_err cs_metrics_open(const struct cs_config *cfg);
/* Unmap (for tests; the file stays).  A process that exits drops out of
 * the gauges by itself. */
void cs_metrics_close(void);
/* Is the file shared (1), this process's own memory (0), or off (-1)? */
int cs_metrics_shared(void);

/* The series of f with labels (as many as f has; NULL is ""), found or
 * claimed; NULL when off or the table is full.  Valid until close. */
struct cs_mseries *cs_metrics_series(enum cs_mfam f, const char *const *labels);
/* Add n to a counter; observe a time (microseconds) into a histogram.
 * NULL-safe. */
void cs_metrics_add(struct cs_mseries *m, uint64_t n);
void cs_metrics_observe(struct cs_mseries *m, int64_t us);
/* This process's gauge g moves by delta. */
void cs_metrics_gauge(enum cs_mgauge g, int64_t delta);

/* Shorthands: find the series and count or observe. */
void cs_metrics_count(
    enum cs_mfam f, const char *l0, const char *l1, const char *l2, uint64_t n);
void cs_metrics_time(enum cs_mfam f, const char *l0, int64_t us);
/* An attempt at upstream ended in failure kind, and the run retried it
 * (retry), moved on to the next deployment (fallback) or neither. */
void cs_metrics_upstream_fail(
    const char *upstream, enum cs_mupstream kind, int retry, int fallback);

/* A request is over: its counters and histograms from its access line
 * (endpoint, status, outcome, tokens, times). */
void cs_metrics_request(const struct cs_config *cfg, const struct cs_access *a);

/*
 * The Prometheus text format (version 0.0.4), or OpenMetrics 1.0.0
 * (openmetrics), into out: every family, the series of every process
 * summed, the gauges of the live ones; state_up (1, 0; < 0: no store)
 * as chatstream_state_store_up{backend}.  CS_OK, CS_ETOOBIG past
 * CS_METRICS_MAX_OUT, CS_ENOMEM; CS_EDONE when off.
 */
enum cs_err cs_metrics_render(
    struct cs_buf *out, int openmetrics, const char *backend, int state_up);

/* The route GET /api/metrics (routes.h's cs_serve_fn): 404 while
 * metrics = off, 403 for loopback from elsewhere (or through a proxy:
 * X-Forwarded-For, Forwarded), 401/403 for key without a key whose
 * permissions have metrics; else the exposition, OpenMetrics when the
 * Accept header prefers it. */
void cs_metrics_serve(struct cs_worker *w, const struct cs_reqctx *rq,
    struct cs_stream *s, const struct cs_buf *body, const char **model);

#endif
