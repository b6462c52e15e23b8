/*
 * fuzz_sse_parse.c — libFuzzer harness for the upstream SSE parser.
 *
 * The parser must give the same result however the input is cut into
 * reads, so every input is parsed twice, whole and in chunks chosen by the
 * input itself, and the two runs must agree (events, retry, comments and
 * the final error).  Small limits, also chosen by the input, drive the
 * CS_ETOOBIG paths.
 *
 *   clang -std=gnu11 -D_GNU_SOURCE -g -O1 -Isrc \
 *       -fsanitize=fuzzer,address,undefined \
 *       -o build/fuzz_sse_parse tests/fuzz/fuzz_sse_parse.c \
 *       src/sse_parse.c src/buf.c src/cs.c
 *   build/fuzz_sse_parse tests/fuzz/corpus/sse
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sse_parse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct digest {
	uint64_t h;
	size_t n;
	size_t max_line;
	size_t max_event;
};

static void
mix(struct digest *d, const void *p, size_t n)
{
	const unsigned char *s = p;
	size_t i;

	/* FNV-1a; the length goes in too so boundaries count. */
	for (i = 0; i < n; i++)
		d->h = (d->h ^ s[i]) * 0x100000001b3ULL;
	for (i = 0; i < sizeof(n); i++)
		d->h = (d->h ^ ((n >> (8 * i)) & 0xff)) * 0x100000001b3ULL;
}

static enum cs_err
on_event(void *ctx, const struct cs_sse_event *ev)
{
	struct digest *d = ctx;

	/* type and data may hold NUL bytes (the spec allows them); an id
	 * with NUL is ignored, so id never does. */
	if (ev->type[ev->type_len] != '\0' || ev->data[ev->data_len] != '\0' ||
	    ev->id[ev->id_len] != '\0' || strlen(ev->id) != ev->id_len ||
	    ev->type_len == 0 || ev->data_len > d->max_event ||
	    (ev->type_len > d->max_line && strcmp(ev->type, "message") != 0) ||
	    ev->id_len > d->max_line)
		abort();
	mix(d, ev->type, ev->type_len);
	mix(d, ev->data, ev->data_len);
	mix(d, ev->id, ev->id_len);
	d->n++;
	return CS_OK;
}

/* Parse buf; chunk sizes come from seed (0: all at once). */
static void
parse(struct digest *d, const char *buf, size_t len, uint32_t seed)
{
	struct cs_sse *p;
	size_t at = 0, n;
	enum cs_err e = CS_OK;
	long retry;
	unsigned long comments;

	d->h = 0xcbf29ce484222325ULL;
	d->n = 0;
	if ((p = cs_sse_new(d->max_line, d->max_event, on_event, d)) == NULL)
		abort();
	while (at < len && e == CS_OK) {
		n = len - at;
		if (seed != 0) {
			seed = seed * 1103515245u + 12345u;
			n = 1 + (seed >> 16) % 17;
			if (n > len - at)
				n = len - at;
		}
		e = cs_sse_feed(p, buf + at, n);
		at += n;
	}
	if (e != CS_OK && cs_sse_feed(p, "\n\n", 2) != e)
		abort(); /* errors are sticky */
	cs_sse_end(p);
	retry = cs_sse_retry(p);
	comments = cs_sse_comments(p);
	mix(d, &e, sizeof(e));
	mix(d, &retry, sizeof(retry));
	mix(d, &comments, sizeof(comments));
	cs_sse_free(p);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct digest whole, cut;
	uint32_t seed;

	if (size < 3)
		return 0;
	/* Byte 0 and 1: limits, small enough to hit; byte 2: the cuts. */
	whole.max_line = data[0] < 128 ? 1 + data[0] % 32 : CS_MAX_SSE_LINE;
	whole.max_event = data[1] < 128 ? data[1] % 64 : CS_MAX_SSE_EVENT;
	seed = 1 + data[2];
	cut = whole;

	parse(&whole, (const char *)data + 3, size - 3, 0);
	parse(&cut, (const char *)data + 3, size - 3, seed);
	if (whole.h != cut.h || whole.n != cut.n)
		abort();
	return 0;
}
