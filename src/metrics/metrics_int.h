/*
 * metrics_int.h — the layout of the metrics file and the family table,
 * shared by metrics.c (counting) and metrics_text.c (the exposition).
 * Private to src/metrics.
 */
#ifndef CS_METRICS_INT_H
#define CS_METRICS_INT_H

#include <stdint.h>

#include "metrics.h"

#define CS_MMAGIC    "CSMTRC01"
#define CS_MNBUCKETS 15
#define CS_MLABELS   3
#define CS_MPROBE    256 /* slots looked at for one series */

/* Upper bounds of the time buckets, microseconds. */
extern const int64_t cs_mbucket_us[CS_MNBUCKETS];

enum {
	SLOT_FREE,
	SLOT_CLAIMING,
	SLOT_READY
};
enum {
	T_COUNTER,
	T_HISTOGRAM
};

struct cs_mslot {
	uint32_t state; /* SLOT_*, atomic */
	uint32_t hash;
	uint32_t fam;
	uint32_t pad;
	char labels[CS_MLABELS][CS_METRICS_LABEL];
	/* counter: v[0]; histogram: the buckets, then count, sum (us) */
	uint64_t v[CS_MNBUCKETS + 2];
};

struct cs_mproc {
	int32_t pid; /* 0: free; atomic */
	uint32_t pad;
	uint64_t start; /* its start time, /proc/PID/stat, 0 unknown */
	int64_t g[CS_G_COUNT];
};

struct cs_mhead {
	char magic[8];
	uint32_t layout, nseries, nprocs, nbuckets;
	uint64_t dropped; /* series refused: the table was full */
	struct cs_mproc procs[CS_METRICS_PROCS];
	struct cs_mslot slots[CS_METRICS_SERIES];
};

struct cs_mfamily {
	const char *name; /* Prometheus' name, with _total for counters */
	int type;         /* T_* */
	const char *help;
	const char *labels[CS_MLABELS]; /* NULL-terminated when fewer */
};

extern const struct cs_mfamily cs_mfams[CS_M_COUNT];
/* The mapped file, NULL when off. */
extern struct cs_mhead *cs_mseg;

/* Is the process of slot p still running? */
int cs_mproc_alive(const struct cs_mproc *p);

#endif
