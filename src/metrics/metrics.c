/*
 * metrics.c — the shared series table and its exposition; see metrics.h.
 *
 * The file: a header, CS_METRICS_PROCS process slots, CS_METRICS_SERIES
 * series slots.  A series slot goes free -> claiming -> ready once and
 * stays; its values only grow.  Histogram buckets are kept apart (not
 * cumulative) and summed when written out.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "log.h"
#include "metrics.h"
#include "metrics_int.h"

const int64_t cs_mbucket_us[CS_MNBUCKETS] = { 5000, 10000, 25000, 50000, 100000,
	250000, 500000, 1000000, 2500000, 5000000, 10000000, 30000000, 60000000,
	120000000, 300000000 };

const struct cs_mfamily cs_mfams[CS_M_COUNT] = {
	[CS_M_REQUESTS] = { "chatstream_requests_total", T_COUNTER,
	    "Requests answered, by endpoint, HTTP status and outcome.",
	    { "endpoint", "status", "outcome" } },
	[CS_M_PROMPT_TOKENS] = { "chatstream_prompt_tokens_total", T_COUNTER,
	    "Prompt tokens the providers counted, by model alias and "
	    "upstream.",
	    { "model", "upstream" } },
	[CS_M_COMPLETION_TOKENS] = { "chatstream_completion_tokens_total",
	    T_COUNTER,
	    "Completion tokens the providers counted, by model alias and "
	    "upstream.",
	    { "model", "upstream" } },
	[CS_M_RETRIES] = { "chatstream_upstream_retries_total", T_COUNTER,
	    "Provider requests made again on the same upstream after a "
	    "failure.",
	    { "upstream" } },
	[CS_M_FALLBACKS] = { "chatstream_upstream_fallbacks_total", T_COUNTER,
	    "Requests moved on from this upstream to the next one of their "
	    "model's chain.",
	    { "upstream" } },
	[CS_M_REFUSED] = { "chatstream_refused_requests_total", T_COUNTER,
	    "Requests refused before a provider was asked, by reason "
	    "(rate_limited, budget_exceeded, unauthorized, overloaded, ...).",
	    { "reason" } },
	[CS_M_DEPARTURES] = { "chatstream_client_departures_total", T_COUNTER,
	    "Requests whose client left before the answer was complete.",
	    { "endpoint" } },
	[CS_M_UPSTREAM_ERRORS] = { "chatstream_upstream_errors_total",
	    T_COUNTER,
	    "Failed attempts at a provider, by upstream and type (connect, "
	    "lost, timeout, rate_limited, server, auth, client, stream).",
	    { "upstream", "type" } },
	[CS_M_TTFD] = { "chatstream_time_to_first_delta_seconds", T_HISTOGRAM,
	    "Time from the request to its first text delta, by model alias.",
	    { "model" } },
	[CS_M_GAP] = { "chatstream_delta_gap_seconds", T_HISTOGRAM,
	    "Time between two text deltas of one answer, by upstream.",
	    { "upstream" } },
	[CS_M_DURATION] = { "chatstream_request_duration_seconds", T_HISTOGRAM,
	    "Time from the request to the end of its answer, by endpoint.",
	    { "endpoint" } },
	[CS_M_UPSTREAM_TTFB] = { "chatstream_upstream_time_to_first_byte_seconds",
	    T_HISTOGRAM,
	    "Time from a provider request to its response headers, by "
	    "upstream.",
	    { "upstream" } },
	[CS_M_ADMISSION] = { "chatstream_admission_duration_seconds",
	    T_HISTOGRAM,
	    "Time admission took: the key, the identity, the limits and "
	    "budgets in the state store.",
	    { NULL } },
};

static const char *const mu_names[CS_MU_COUNT] = { "connect", "lost", "timeout",
	"rate_limited", "server", "auth", "client", "stream" };

struct cs_mhead *cs_mseg;   /* NULL: off */
static int seg_shared;      /* the file (1) or anonymous memory (0) */
static struct cs_mproc *me; /* this process's slot, NULL until claimed */
static pthread_mutex_t me_lock = PTHREAD_MUTEX_INITIALIZER;

static uint32_t
layout_id(void)
{
	return (uint32_t)(sizeof(struct cs_mhead) ^
	    (sizeof(struct cs_mslot) << 20) ^ ((uint32_t)CS_M_COUNT << 26));
}

static int
head_ok(const struct cs_mhead *h)
{
	return memcmp(h->magic, CS_MMAGIC, 8) == 0 &&
	    h->layout == layout_id() && h->nseries == CS_METRICS_SERIES &&
	    h->nprocs == CS_METRICS_PROCS && h->nbuckets == CS_MNBUCKETS;
}

static void
head_init(struct cs_mhead *h)
{
	memset(h, 0, sizeof(*h));
	h->layout = layout_id();
	h->nseries = CS_METRICS_SERIES;
	h->nprocs = CS_METRICS_PROCS;
	h->nbuckets = CS_MNBUCKETS;
	memcpy(h->magic, CS_MMAGIC, 8); /* last: a reader checks it first */
}

/* The file at path, mapped and checked (made anew when it holds
 * something else), or NULL with errno. */
static struct cs_mhead *
map_file(const char *path)
{
	struct cs_mhead *h = NULL;
	struct stat st;
	int fd, locked = 0;

	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		return NULL;
	if (flock(fd, LOCK_EX) != 0 || fstat(fd, &st) != 0)
		goto out;
	locked = 1;
	if (!S_ISREG(st.st_mode)) {
		errno = EINVAL;
		goto out;
	}
	if ((size_t)st.st_size != sizeof(struct cs_mhead) &&
	    ftruncate(fd, 0) != 0)
		goto out;
	if ((size_t)st.st_size != sizeof(struct cs_mhead) &&
	    ftruncate(fd, (off_t)sizeof(struct cs_mhead)) != 0)
		goto out;
	h = mmap(NULL, sizeof(*h), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (h == MAP_FAILED) {
		h = NULL;
		goto out;
	}
	if (!head_ok(h))
		head_init(h);
out:
	if (locked)
		flock(fd, LOCK_UN);
	close(fd);
	return h;
}

static void
forget_me(void)
{
	me = NULL; /* a child claims its own slot */
}

enum cs_err
cs_metrics_open(const struct cs_config *cfg)
{
	static int atfork;
	struct cs_mhead *h = NULL;

	if (cs_mseg != NULL || strcmp(cfg->metrics, "off") == 0)
		return CS_OK;
	if (cfg->metrics_file[0] != '\0' &&
	    (h = map_file(cfg->metrics_file)) == NULL)
		cs_warn("metrics_file %s: figures are this process's only",
		    cfg->metrics_file);
	seg_shared = h != NULL;
	if (h == NULL) {
		h = mmap(NULL, sizeof(*h), PROT_READ | PROT_WRITE,
		    MAP_SHARED | MAP_ANONYMOUS, -1, 0);
		if (h == MAP_FAILED)
			return CS_ENOMEM;
		head_init(h);
	}
	if (!atfork++)
		pthread_atfork(NULL, NULL, forget_me);
	cs_mseg = h;
	return CS_OK;
}

void
cs_metrics_close(void)
{
	int i;

	if (cs_mseg == NULL)
		return;
	if (me != NULL) {
		for (i = 0; i < CS_G_COUNT; i++)
			__atomic_store_n(&me->g[i], 0, __ATOMIC_RELAXED);
		__atomic_store_n(&me->pid, 0, __ATOMIC_RELEASE);
	}
	me = NULL;
	munmap(cs_mseg, sizeof(*cs_mseg));
	cs_mseg = NULL;
}

int
cs_metrics_shared(void)
{
	return cs_mseg == NULL ? -1 : seg_shared;
}

/* ---- series ---- */

static uint32_t
fnv(uint32_t h, const char *s)
{
	for (; *s != '\0'; s++)
		h = (h ^ (unsigned char)*s) * 16777619u;
	return (h ^ 0xffu) * 16777619u; /* the end of a value */
}

static int
slot_is(const struct cs_mslot *sl, uint32_t h, enum cs_mfam f,
    const char (*l)[CS_METRICS_LABEL])
{
	int i;

	if (sl->hash != h || sl->fam != (uint32_t)f)
		return 0;
	for (i = 0; i < CS_MLABELS; i++)
		if (strncmp(sl->labels[i], l[i], CS_METRICS_LABEL) != 0)
			return 0;
	return 1;
}

struct cs_mseries *
cs_metrics_series(enum cs_mfam f, const char *const *labels)
{
	char l[CS_MLABELS][CS_METRICS_LABEL];
	uint32_t h = 2166136261u ^ (uint32_t)f, st, want;
	struct cs_mslot *sl;
	size_t i, at;

	if (cs_mseg == NULL || (unsigned)f >= CS_M_COUNT)
		return NULL;
	memset(l, 0, sizeof(l));
	for (i = 0; i < CS_MLABELS && cs_mfams[f].labels[i] != NULL; i++) {
		if (labels[i] != NULL)
			snprintf(l[i], sizeof(l[i]), "%s", labels[i]);
		h = fnv(h, l[i]);
	}
	for (i = 0; i < CS_MPROBE; i++) {
		at = (h + i) % CS_METRICS_SERIES;
		sl = &cs_mseg->slots[at];
		st = __atomic_load_n(&sl->state, __ATOMIC_ACQUIRE);
		if (st == SLOT_READY && slot_is(sl, h, f, l))
			return (struct cs_mseries *)sl;
		if (st != SLOT_FREE)
			continue;
		want = SLOT_FREE;
		if (!__atomic_compare_exchange_n(&sl->state, &want,
		        SLOT_CLAIMING, 0, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) {
			/* Another process took it: maybe for this series. */
			if (want == SLOT_READY && slot_is(sl, h, f, l))
				return (struct cs_mseries *)sl;
			continue;
		}
		sl->hash = h;
		sl->fam = (uint32_t)f;
		memcpy(sl->labels, l, sizeof(l));
		__atomic_store_n(&sl->state, SLOT_READY, __ATOMIC_RELEASE);
		return (struct cs_mseries *)sl;
	}
	__atomic_fetch_add(&cs_mseg->dropped, 1, __ATOMIC_RELAXED);
	return NULL;
}

void
cs_metrics_add(struct cs_mseries *m, uint64_t n)
{
	struct cs_mslot *sl = (struct cs_mslot *)m;

	if (sl != NULL && n > 0)
		__atomic_fetch_add(&sl->v[0], n, __ATOMIC_RELAXED);
}

void
cs_metrics_observe(struct cs_mseries *m, int64_t us)
{
	struct cs_mslot *sl = (struct cs_mslot *)m;
	size_t i;

	if (sl == NULL || cs_mfams[sl->fam % CS_M_COUNT].type != T_HISTOGRAM)
		return;
	if (us < 0)
		us = 0;
	for (i = 0; i < CS_MNBUCKETS && us > cs_mbucket_us[i]; i++)
		;
	if (i < CS_MNBUCKETS)
		__atomic_fetch_add(&sl->v[i], 1, __ATOMIC_RELAXED);
	__atomic_fetch_add(&sl->v[CS_MNBUCKETS], 1, __ATOMIC_RELAXED);
	__atomic_fetch_add(
	    &sl->v[CS_MNBUCKETS + 1], (uint64_t)us, __ATOMIC_RELAXED);
}

void
cs_metrics_count(
    enum cs_mfam f, const char *l0, const char *l1, const char *l2, uint64_t n)
{
	const char *l[CS_MLABELS] = { l0, l1, l2 };

	if (cs_mseg != NULL && n > 0)
		cs_metrics_add(cs_metrics_series(f, l), n);
}

void
cs_metrics_time(enum cs_mfam f, const char *l0, int64_t us)
{
	const char *l[CS_MLABELS] = { l0, NULL, NULL };

	if (cs_mseg != NULL)
		cs_metrics_observe(cs_metrics_series(f, l), us);
}

void
cs_metrics_upstream_fail(
    const char *upstream, enum cs_mupstream kind, int retry, int fallback)
{
	if (cs_mseg == NULL || (unsigned)kind >= CS_MU_COUNT)
		return;
	cs_metrics_count(
	    CS_M_UPSTREAM_ERRORS, upstream, mu_names[kind], NULL, 1);
	if (retry)
		cs_metrics_count(CS_M_RETRIES, upstream, NULL, NULL, 1);
	if (fallback)
		cs_metrics_count(CS_M_FALLBACKS, upstream, NULL, NULL, 1);
}

/* ---- processes and gauges ---- */

/* The start time of pid (clock ticks after boot), 0 when unknown. */
static uint64_t
proc_start(pid_t pid)
{
	char path[64], buf[1024], *p;
	unsigned long long v = 0;
	ssize_t n;
	int fd, field;

	snprintf(path, sizeof(path), "/proc/%ld/stat", (long)pid);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return 0;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return 0;
	buf[n] = '\0';
	/* Field 22; the name (2) may hold spaces, so count after its ')'. */
	if ((p = strrchr(buf, ')')) == NULL)
		return 0;
	for (field = 2; field < 22 && p != NULL; field++)
		p = strchr(p + 1, ' ');
	if (p == NULL || sscanf(p + 1, "%llu", &v) != 1)
		return 0;
	return v;
}

int
cs_mproc_alive(const struct cs_mproc *p)
{
	pid_t pid = __atomic_load_n(&p->pid, __ATOMIC_ACQUIRE);
	uint64_t start;

	if (pid <= 0 || (kill(pid, 0) != 0 && errno != EPERM))
		return 0;
	start = proc_start(pid);
	return start == 0 || p->start == 0 || start == p->start;
}

/* This process's slot, claimed on first use (NULL: all taken). */
static struct cs_mproc *
my_proc(void)
{
	struct cs_mproc *p = __atomic_load_n(&me, __ATOMIC_ACQUIRE);
	int32_t pid, was;
	size_t i;

	/* The common case, on every gauge move: no system call. */
	if (p != NULL)
		return p;
	pid = (int32_t)getpid();
	pthread_mutex_lock(&me_lock);
	for (i = 0; me == NULL && i < CS_METRICS_PROCS; i++) {
		p = &cs_mseg->procs[i];
		was = __atomic_load_n(&p->pid, __ATOMIC_ACQUIRE);
		if (was != 0 && was != pid && cs_mproc_alive(p))
			continue;
		if (!__atomic_compare_exchange_n(&p->pid, &was, pid, 0,
		        __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
			continue;
		memset(p->g, 0, sizeof(p->g));
		p->start = proc_start(pid);
		__atomic_store_n(&me, p, __ATOMIC_RELEASE);
	}
	pthread_mutex_unlock(&me_lock);
	return me;
}

void
cs_metrics_gauge(enum cs_mgauge g, int64_t delta)
{
	struct cs_mproc *p;

	if (cs_mseg == NULL || (unsigned)g >= CS_G_COUNT || delta == 0 ||
	    (p = my_proc()) == NULL)
		return;
	__atomic_fetch_add(&p->g[g], delta, __ATOMIC_RELAXED);
}

/* ---- one request's figures ---- */

/* m's name when it is one of the config's aliases, else "". */
static const char *
alias_of(const struct cs_config *cfg, const char *m)
{
	const struct cs_model_cfg *mc;

	if (cfg == NULL || m == NULL || *m == '\0' ||
	    (mc = cs_config_model(cfg, m)) == NULL || strcmp(mc->name, m) != 0)
		return "";
	return mc->name;
}

void
cs_metrics_request(const struct cs_config *cfg, const struct cs_access *a)
{
	const char *ep = a->endpoint != NULL ? a->endpoint : "other";
	const char *oc = a->outcome != NULL ? a->outcome : "";
	const char *model = alias_of(cfg, a->model);
	const char *up = a->upstream != NULL ? a->upstream : "";
	char status[16];

	if (cs_mseg == NULL)
		return;
	snprintf(status, sizeof(status), "%d", a->status);
	cs_metrics_count(CS_M_REQUESTS, ep, status, oc, 1);
	if (a->prompt_tokens > 0)
		cs_metrics_count(CS_M_PROMPT_TOKENS, model, up, NULL,
		    (uint64_t)a->prompt_tokens);
	if (a->completion_tokens > 0)
		cs_metrics_count(CS_M_COMPLETION_TOKENS, model, up, NULL,
		    (uint64_t)a->completion_tokens);
	/* Refusals carry their failure's type (failure.h): a fixed set. */
	if ((strcmp(oc, "limited") == 0 || strcmp(oc, "overloaded") == 0) &&
	    a->error != NULL)
		cs_metrics_count(CS_M_REFUSED, a->error, NULL, NULL, 1);
	if (strcmp(oc, "client_gone") == 0)
		cs_metrics_count(CS_M_DEPARTURES, ep, NULL, NULL, 1);
	if (a->ttfd_ms >= 0)
		cs_metrics_time(CS_M_TTFD, model, (int64_t)a->ttfd_ms * 1000);
	if (a->duration_ms >= 0)
		cs_metrics_time(
		    CS_M_DURATION, ep, (int64_t)a->duration_ms * 1000);
	if (a->admit_us >= 0)
		cs_metrics_time(CS_M_ADMISSION, NULL, a->admit_us);
}
