/*
 * state_bench.c — what one admission and its settle cost in a state
 * store, by the number of reservations already live on the same
 * identity and on the site (the rows a naive store would walk).
 *
 *   build/bench/state_bench SPEC [LIVE...]     e.g. sqlite:/tmp/s.db 0 500
 *
 * One thread, no contention: the store's own work per chat.  For each
 * LIVE it opens SPEC afresh (the file should not exist), makes LIVE
 * reservations of two buckets (ip:127.0.0.1 with every limit, site with a
 * budget), then times ROUNDS admit + settle pairs, calling
 * cs_state_maintain every 100 as the settle thread does; it prints one
 * line "SPEC live=N: X us per admit+settle" per LIVE.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cs.h"
#include "state.h"

#define ROUNDS 2000
#define T0     (1767225600000LL + 10 * 3600000LL) /* 2026-01-01 10:00Z */

static int
one(const char *spec, long live)
{
	struct cs_admit_result r;
	struct cs_state *st = NULL;
	struct cs_admit a;
	char err[256];
	long long t0;
	long i;

	if (cs_state_open(spec, &st, err, sizeof(err)) != CS_OK) {
		fprintf(stderr, "state_bench: %s\n", err);
		return -1;
	}
	memset(&a, 0, sizeof(a));
	a.n = 2;
	a.b[0].name = "ip:127.0.0.1";
	a.b[0].rpm = 1000000;
	a.b[0].concurrent = 1000000;
	a.b[0].tokens_per_day = 1000000000000LL;
	a.b[1].name = "site";
	a.b[1].tokens_per_day = 1000000000000LL;
	a.reserve_tokens = 100;
	for (i = 0; i < live; i++) {
		a.now_ms = T0 + i;
		a.expire_ms = a.now_ms + 960000;
		if (cs_state_admit(st, &a, &r) != CS_OK || !r.allowed)
			goto fail;
	}
	t0 = cs_mono_us();
	for (i = 0; i < ROUNDS; i++) {
		a.now_ms = T0 + live + i;
		a.expire_ms = a.now_ms + 960000;
		if (cs_state_admit(st, &a, &r) != CS_OK || !r.allowed ||
		    cs_state_settle(st, r.id, 150, a.now_ms) != CS_OK)
			goto fail;
		if (i % 100 == 99)
			cs_state_maintain(st);
	}
	printf("%s live=%ld: %.1f us per admit+settle\n", spec, live,
	    (double)(cs_mono_us() - t0) / ROUNDS);
	cs_state_close(st);
	return 0;
fail:
	fprintf(stderr, "state_bench: %s: a call failed at %ld\n", spec, i);
	cs_state_close(st);
	return -1;
}

int
main(int argc, char *argv[])
{
	char *end;
	long live;
	int i;

	if (argc < 3) {
		fprintf(stderr, "usage: state_bench SPEC LIVE...\n");
		return 2;
	}
	for (i = 2; i < argc; i++) {
		live = strtol(argv[i], &end, 10);
		if (*end != '\0' || live < 0 || live > 100000) {
			fprintf(stderr, "state_bench: LIVE: 0..100000\n");
			return 2;
		}
		if (one(argv[1], live) != 0)
			return 1;
	}
	return 0;
}
