/*
 * test_sse_parse.c — the upstream SSE parser against the conformance
 * fixtures (tests/fixtures/sse, see SOURCES.md there) and a table of our own
 * cases.  Every input is replayed whole, split in two at every byte offset,
 * byte by byte and in random chunks: the parser must not care where the
 * reads fall.
 */
#include <dirent.h>
#include <string.h>

#include <json-c/json.h>

#include "sse_parse.h"
#include "testutil.h"

/* What one run of the parser produced. */
struct rec_ev {
	char *type;
	size_t type_len;
	char *data;
	size_t data_len;
	char *id;
	size_t id_len;
};

struct outcome {
	struct rec_ev *ev;
	size_t n;
	size_t cap;
	size_t stop_at; /* 1-based event to fail; 0 never */
	enum cs_err stop_code;
	enum cs_err err; /* first non-OK feed result */
	long retry;
	unsigned long comments;
};

static char *
dup_bytes(const char *s, size_t n)
{
	char *p;

	p = malloc(n + 1);
	assert_non_null(p);
	memcpy(p, s, n);
	p[n] = '\0';
	return p;
}

static enum cs_err
record(void *ctx, const struct cs_sse_event *ev)
{
	struct outcome *o = ctx;
	struct rec_ev *e;

	/* The interface promises NUL-terminated strings. */
	assert_non_null(ev->type);
	assert_non_null(ev->data);
	assert_non_null(ev->id);
	assert_int_equal(ev->type[ev->type_len], '\0');
	assert_int_equal(ev->data[ev->data_len], '\0');
	assert_int_equal(ev->id[ev->id_len], '\0');
	/* An id with NUL is ignored, so id never holds one. */
	assert_int_equal(strlen(ev->id), ev->id_len);

	if (o->n == o->cap) {
		o->cap = o->cap ? o->cap * 2 : 8;
		o->ev = realloc(o->ev, o->cap * sizeof(*o->ev));
		assert_non_null(o->ev);
	}
	e = &o->ev[o->n++];
	e->type = dup_bytes(ev->type, ev->type_len);
	e->type_len = ev->type_len;
	e->data = dup_bytes(ev->data, ev->data_len);
	e->data_len = ev->data_len;
	e->id = dup_bytes(ev->id, ev->id_len);
	e->id_len = ev->id_len;
	if (o->stop_at != 0 && o->n == o->stop_at)
		return o->stop_code;
	return CS_OK;
}

static void
outcome_free(struct outcome *o)
{
	size_t i;

	for (i = 0; i < o->n; i++) {
		free(o->ev[i].type);
		free(o->ev[i].data);
		free(o->ev[i].id);
	}
	free(o->ev);
	o->ev = NULL;
	o->n = o->cap = 0;
}

/*
 * Feed in[0..len) cut at the ascending offsets cuts[0..ncuts), then end the
 * stream.  Errors must be sticky and must silence the callback.
 */
static void
run(const char *in, size_t len, const size_t *cuts, size_t ncuts,
    size_t max_line, size_t max_event, struct outcome *o)
{
	struct cs_sse *p;
	size_t i, from = 0, to, before;
	enum cs_err e;

	o->err = CS_OK;
	p = cs_sse_new(max_line, max_event, record, o);
	assert_non_null(p);
	for (i = 0; i <= ncuts; i++) {
		to = i < ncuts ? cuts[i] : len;
		assert_true(from <= to && to <= len);
		before = o->n;
		e = cs_sse_feed(p, in + from, to - from);
		if (o->err != CS_OK) {
			assert_int_equal(e, o->err);
			assert_int_equal(o->n, before);
		} else
			o->err = e;
		from = to;
	}
	assert_int_equal(cs_sse_end(p), CS_OK);
	o->retry = cs_sse_retry(p);
	o->comments = cs_sse_comments(p);
	cs_sse_free(p);
}

/* Deterministic PRNG (xorshift64) so failures reproduce. */
static unsigned long long
rnd(unsigned long long *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

/* Random ascending cuts, often tiny pieces; returns how many. */
static size_t
random_cuts(size_t len, size_t *cuts, unsigned long long *seed)
{
	size_t n = 0, at = 0;

	for (;;) {
		at += 1 + (size_t)(rnd(seed) % (rnd(seed) % 2 ? 4 : 64));
		if (at >= len)
			return n;
		cuts[n++] = at;
	}
}

/*
 * Calls check(c, mode, o) for one run per way of cutting the input: as
 * given (base cuts), whole, two feeds at every offset, byte by byte, and
 * random chunks.  Also asserts every run saw the same comments and retry.
 */
typedef void (*check_fn)(
    const void *c, const char *mode, const struct outcome *o);

static void
all_cuttings(const char *in, size_t len, const size_t *base, size_t nbase,
    size_t max_line, size_t max_event, size_t stop_at, enum cs_err stop_code,
    const void *c, check_fn check)
{
	struct outcome o;
	size_t *cuts, i, k, n;
	unsigned long comments;
	long retry;
	unsigned long long seed = 0x9e3779b97f4a7c15ULL + len;

	memset(&o, 0, sizeof(o));
	o.stop_at = stop_at;
	o.stop_code = stop_code;
	cuts = calloc(len + 1, sizeof(*cuts));
	assert_non_null(cuts);

	run(in, len, base, nbase, max_line, max_event, &o);
	check(c, "as given", &o);
	comments = o.comments;
	retry = o.retry;
	outcome_free(&o);

	run(in, len, NULL, 0, max_line, max_event, &o);
	check(c, "whole", &o);
	assert_int_equal(o.comments, comments);
	assert_int_equal(o.retry, retry);
	outcome_free(&o);

	for (k = 0; k <= len; k++) {
		cuts[0] = k;
		run(in, len, cuts, 1, max_line, max_event, &o);
		check(c, "split in two", &o);
		assert_int_equal(o.comments, comments);
		assert_int_equal(o.retry, retry);
		outcome_free(&o);
	}

	for (i = 1; i < len; i++)
		cuts[i - 1] = i;
	run(in, len, cuts, len > 0 ? len - 1 : 0, max_line, max_event, &o);
	check(c, "byte by byte", &o);
	assert_int_equal(o.comments, comments);
	assert_int_equal(o.retry, retry);
	outcome_free(&o);

	for (i = 0; i < 20; i++) {
		n = random_cuts(len, cuts, &seed);
		run(in, len, cuts, n, max_line, max_event, &o);
		check(c, "random chunks", &o);
		assert_int_equal(o.comments, comments);
		assert_int_equal(o.retry, retry);
		outcome_free(&o);
	}
	free(cuts);
}

/* ---- conformance fixtures ---------------------------------------------- */

struct fx_case {
	char *name;
	char *input;
	size_t len;
	struct json_object *expect;
	long retry;     /* -1: the stream sets none */
	size_t *bounds; /* the source test's read boundaries */
	size_t nbounds;
};

struct fx_set {
	struct fx_case *c;
	size_t n;
};

static void
fx_path(char *buf, size_t sz, const char *file)
{
	const char *root = getenv("CS_FIXTURES");
	int n;

	if (root == NULL || *root == '\0')
		root = "tests/fixtures";
	n = snprintf(buf, sz, "%s/sse/%s", root, file);
	assert_true(n > 0 && (size_t)n < sz);
}

static const char *
js_str(struct json_object *o, const char *key)
{
	struct json_object *v;

	if (!json_object_object_get_ex(o, key, &v) ||
	    !json_object_is_type(v, json_type_string))
		fail_msg("fixture manifest: missing string \"%s\"", key);
	return json_object_get_string(v);
}

static void
fx_load(struct fx_set *set)
{
	struct json_object *man, *c, *v;
	struct fx_case *fc;
	char path[4096];
	size_t i, j;

	fx_path(path, sizeof(path), "cases.json");
	man = json_object_from_file(path);
	if (man == NULL || !json_object_is_type(man, json_type_array))
		fail_msg("cannot load %s (run from the repo root or set "
		         "CS_FIXTURES)",
		    path);
	set->n = json_object_array_length(man);
	/* SOURCES.md promises 21 cases; do not let them vanish silently. */
	assert_true(set->n >= 21);
	set->c = calloc(set->n, sizeof(*set->c));
	assert_non_null(set->c);

	for (i = 0; i < set->n; i++) {
		c = json_object_array_get_idx(man, i);
		fc = &set->c[i];
		fc->name = strdup(js_str(c, "name"));
		assert_non_null(fc->name);

		fx_path(path, sizeof(path), js_str(c, "input"));
		fc->input = tu_read_file(path, &fc->len);
		if (json_object_object_get_ex(c, "bytes", &v))
			assert_int_equal(json_object_get_int64(v), fc->len);

		fx_path(path, sizeof(path), js_str(c, "expect"));
		fc->expect = json_object_from_file(path);
		if (fc->expect == NULL ||
		    !json_object_is_type(fc->expect, json_type_array))
			fail_msg("cannot load %s", path);

		fc->retry = -1;
		if (json_object_object_get_ex(c, "retry_ms_after_stream", &v) &&
		    v != NULL)
			fc->retry = (long)json_object_get_int64(v);

		if (json_object_object_get_ex(c, "chunk_boundaries", &v) &&
		    json_object_is_type(v, json_type_array)) {
			fc->nbounds = json_object_array_length(v);
			fc->bounds = calloc(
			    fc->nbounds + 1, sizeof(*fc->bounds));
			assert_non_null(fc->bounds);
			for (j = 0; j < fc->nbounds; j++)
				fc->bounds[j] = (size_t)json_object_get_int64(
				    json_object_array_get_idx(v, j));
		}
	}
	json_object_put(man);
}

static void
fx_free(struct fx_set *set)
{
	size_t i;

	for (i = 0; i < set->n; i++) {
		free(set->c[i].name);
		free(set->c[i].input);
		json_object_put(set->c[i].expect);
		free(set->c[i].bounds);
	}
	free(set->c);
}

static void
fx_check(const void *arg, const char *mode, const struct outcome *o)
{
	const struct fx_case *c = arg;
	struct json_object *x, *v;
	const struct rec_ev *e;
	size_t i, n, len;

	if (o->err != CS_OK)
		fail_msg("%s (%s): feed failed: %s", c->name, mode,
		    cs_strerror(o->err));
	n = json_object_array_length(c->expect);
	if (o->n != n)
		fail_msg("%s (%s): %zu events, expected %zu", c->name, mode,
		    o->n, n);
	for (i = 0; i < n; i++) {
		x = json_object_array_get_idx(c->expect, i);
		e = &o->ev[i];

		json_object_object_get_ex(x, "event", &v);
		len = (size_t)json_object_get_string_len(v);
		if (e->type_len != len ||
		    memcmp(e->type, json_object_get_string(v), len) != 0)
			fail_msg("%s (%s): event %zu: type \"%s\"", c->name,
			    mode, i, e->type);

		json_object_object_get_ex(x, "data", &v);
		len = (size_t)json_object_get_string_len(v);
		if (e->data_len != len ||
		    memcmp(e->data, json_object_get_string(v), len) != 0)
			fail_msg("%s (%s): event %zu: data \"%s\" (%zu bytes)",
			    c->name, mode, i, e->data, e->data_len);

		json_object_object_get_ex(x, "id", &v);
		len = (size_t)json_object_get_string_len(v);
		if (e->id_len != len ||
		    memcmp(e->id, json_object_get_string(v), len) != 0)
			fail_msg("%s (%s): event %zu: id \"%s\"", c->name, mode,
			    i, e->id);
	}
	if (o->retry != c->retry)
		fail_msg("%s (%s): retry %ld, expected %ld", c->name, mode,
		    o->retry, c->retry);
}

static void
test_fixtures(void **state)
{
	struct fx_set set;
	size_t i;

	(void)state;
	fx_load(&set);
	for (i = 0; i < set.n; i++)
		all_cuttings(set.c[i].input, set.c[i].len, set.c[i].bounds,
		    set.c[i].nbounds, CS_MAX_SSE_LINE, CS_MAX_SSE_EVENT, 0,
		    CS_OK, &set.c[i], fx_check);
	fx_free(&set);
}

/* Every *.input in the directory must be in the manifest, so none is
 * silently skipped. */
static void
test_fixtures_all_listed(void **state)
{
	struct fx_set set;
	struct dirent *d;
	DIR *dir;
	char path[4096], name[256];
	size_t i, n, seen = 0;

	(void)state;
	fx_load(&set);
	fx_path(path, sizeof(path), ".");
	dir = opendir(path);
	assert_non_null(dir);
	while ((d = readdir(dir)) != NULL) {
		n = strlen(d->d_name);
		if (n <= 6 || strcmp(d->d_name + n - 6, ".input") != 0)
			continue;
		assert_true(n - 6 < sizeof(name));
		memcpy(name, d->d_name, n - 6);
		name[n - 6] = '\0';
		for (i = 0; i < set.n; i++)
			if (strcmp(set.c[i].name, name) == 0)
				break;
		if (i == set.n)
			fail_msg("%s is not listed in cases.json", d->d_name);
		seen++;
	}
	closedir(dir);
	assert_int_equal(seen, set.n);
	fx_free(&set);
}

/* ---- our own cases ------------------------------------------------------ */

struct chunk {
	const char *s;
	size_t n;
};

struct xev {
	const char *type;
	const char *data;
	size_t data_len;
	const char *id;
};

/* String literals may hold NUL: take their length from sizeof. */
#define C(lit) \
	{ \
		(lit), sizeof(lit) - 1 \
	}
#define EV(t, d, i) \
	{ \
		(t), (d), sizeof(d) - 1, (i) \
	}

struct tcase {
	const char *name;
	struct chunk in[8]; /* ends at s == NULL */
	struct xev ev[8];
	size_t nev;
	long retry;
	long comments;    /* -1: not checked */
	size_t max_line;  /* 0: CS_MAX_SSE_LINE */
	size_t max_event; /* 0: CS_MAX_SSE_EVENT */
	size_t stop_at;   /* callback fails on this event */
	enum cs_err stop_code;
	enum cs_err want; /* what feeding ends with */
};

#define OAI_1 \
	"{\"id\":\"chatcmpl-1\",\"object\":\"chat.completion.chunk\"," \
	"\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\"," \
	"\"content\":\"\"}}]}"
#define OAI_2 \
	"{\"id\":\"chatcmpl-1\",\"object\":\"chat.completion.chunk\"," \
	"\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hel\"}}]}"
#define OAI_3 \
	"{\"id\":\"chatcmpl-1\",\"object\":\"chat.completion.chunk\"," \
	"\"choices\":[{\"index\":0,\"delta\":{\"content\":\"lo \\u00e9\\n\"}," \
	"\"finish_reason\":null}]}"
#define OAI_4 \
	"{\"id\":\"chatcmpl-1\",\"object\":\"chat.completion.chunk\"," \
	"\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}"

#define ANT_START \
	"{\"type\":\"message_start\",\"message\":{\"id\":" \
	"\"msg_1\",\"type\":\"message\",\"role\":\"assistant\"," \
	"\"content\":[],\"usage\":{\"input_tokens\":25,\"output_tokens\":1}}}"
#define ANT_BSTART \
	"{\"type\":\"content_block_start\",\"index\":0," \
	"\"content_block\":{\"type\":\"text\",\"text\":\"\"}}"
#define ANT_PING "{\"type\": \"ping\"}"
#define ANT_DELTA \
	"{\"type\":\"content_block_delta\",\"index\":0," \
	"\"delta\":{\"type\":\"text_delta\",\"text\":\"Hi\"}}"
#define ANT_STOP "{\"type\":\"message_stop\"}"

static const struct tcase tcases[] = {
	{ "CRLF split between feeds",
	    { C("data: a\r"), C("\ndata: b\r"), C("\n\r"), C("\n") },
	    { EV("message", "a\nb", "") }, 1, -1, 0 },
	{ "CR at end of feed then an empty feed then LF",
	    { C("data: a\r"), C(""), C("\ndata: b\n\n") },
	    { EV("message", "a\nb", "") }, 1, -1, 0 },
	{ "CR at end of feed not followed by LF",
	    { C("data: a\r"), C("data: b\r"), C("\r") },
	    { EV("message", "a\nb", "") }, 1, -1, 0 },
	{ "CR CR is two line ends, not CRLF",
	    { C("data: a\r"), C("\rdata: b\r\r") },
	    { EV("message", "a", ""), EV("message", "b", "") }, 2, -1, 0 },
	{ "LF CR is two line ends", { C("data: a\n\rdata: b\n\n") },
	    { EV("message", "a", ""), EV("message", "b", "") }, 2, -1, 0 },
	{ "BOM split across three feeds",
	    { C("\xEF"), C("\xBB"),
	        C("\xBF"
	          "data: x\n\n") },
	    { EV("message", "x", "") }, 1, -1, 0 },
	{ "only one BOM is stripped",
	    { C("\xEF\xBB\xBF\xEF\xBB\xBF"
	        "data: x\n\ndata: y\n\n") },
	    { EV("message", "y", "") }, 1, -1, 0 },
	{ "a BOM on a later line is an unknown field",
	    { C("data: a\n\n\xEF\xBB\xBF"
	        "data: x\n\ndata: b\n\n") },
	    { EV("message", "a", ""), EV("message", "b", "") }, 2, -1, 0 },
	{ "BOM alone then the stream",
	    { C("\xEF\xBB\xBF"), C(""), C("data: x\n\n") },
	    { EV("message", "x", "") }, 1, -1, 0 },
	/* A partial BOM is kept as input: here it makes the line too long. */
	{ "partial BOM bytes are replayed as input",
	    { C("\xEF\xBB"), C("ab\n") }, { { NULL } }, 0, -1, 0, 3, 0, 0,
	    CS_OK, CS_ETOOBIG },
	{ "a stripped BOM does not count against max_line",
	    { C("\xEF\xBB\xBF"), C("abc\n") }, { { NULL } }, 0, -1, 0, 3 },
	{ "id persists across events and a bare id resets it",
	    { C("id: 7\ndata: a\n\ndata: b\n\nid\ndata: c\n\n") },
	    { EV("message", "a", "7"), EV("message", "b", "7"),
	        EV("message", "c", "") },
	    3, -1, 0 },
	{ "id containing NUL is ignored", { C("id: 1\nid: a\0b\ndata: x\n\n") },
	    { EV("message", "x", "1") }, 1, -1, 0 },
	{ "id from a block without data persists",
	    { C("id: 5\n\ndata: x\n\n") }, { EV("message", "x", "5") }, 1, -1,
	    0 },
	{ "retry with leading zeros", { C("retry: 03000\n") }, { { NULL } }, 0,
	    3000, 0 },
	{ "retry zero", { C("retry:0\n") }, { { NULL } }, 0, 0, 0 },
	{ "retry with trailing garbage", { C("retry: 1x\n") }, { { NULL } }, 0,
	    -1, 0 },
	{ "retry empty", { C("retry:\nretry\n") }, { { NULL } }, 0, -1, 0 },
	{ "retry signed", { C("retry: -1\nretry: +5\n") }, { { NULL } }, 0, -1,
	    0 },
	{ "retry with two spaces", { C("retry:  5\n") }, { { NULL } }, 0, -1,
	    0 },
	{ "retry with trailing space", { C("retry: 5 \n") }, { { NULL } }, 0,
	    -1, 0 },
	{ "retry overflowing a long is ignored",
	    { C("retry: 99999999999999999999999999\n") }, { { NULL } }, 0, -1,
	    0 },
	{ "an invalid retry keeps the last valid one",
	    { C("retry: 10\nretry: 1.5\nretry: 20\nretry: x\n") }, { { NULL } },
	    0, 20, 0 },
	{ "an unterminated retry line is discarded", { C("retry: 42") },
	    { { NULL } }, 0, -1, 0 },
	{ "retry applies at its line end", { C("retry: 42\n") }, { { NULL } },
	    0, 42, 0 },
	{ "comments are counted, keep-alives dispatch nothing",
	    { C(": ping\n\n:\n: x\r\n:\rdata: a\n"), C(":split "),
	        C("comment\n\n") },
	    { EV("message", "a", "") }, 1, -1, 5 },
	{ "line of exactly max_line bytes", { C("data: 12\n\n") },
	    { EV("message", "12", "") }, 1, -1, 0, 8 },
	{ "line over max_line in one feed", { C("data: 123\n\n") },
	    { { NULL } }, 0, -1, 0, 8, 0, 0, CS_OK, CS_ETOOBIG },
	{ "unterminated line over max_line", { C("data: 1"), C("23") },
	    { { NULL } }, 0, -1, 0, 8, 0, 0, CS_OK, CS_ETOOBIG },
	{ "comment over max_line", { C("data: a\n\n: 3456789\n") },
	    { EV("message", "a", "") }, 1, -1, 0, 8, 0, 0, CS_OK, CS_ETOOBIG },
	{ "data of exactly max_event bytes", { C("data: 12\ndata: 4\n\n") },
	    { EV("message", "12\n4", "") }, 1, -1, 0, 0, 4 },
	{ "data over max_event over two lines", { C("data: 12\ndata: 45\n\n") },
	    { { NULL } }, 0, -1, 0, 0, 4, 0, CS_OK, CS_ETOOBIG },
	{ "data over max_event on one line",
	    { C("data: ok\n\ndata: 12345\n\n") }, { EV("message", "ok", "") },
	    1, -1, 0, 0, 4, 0, CS_OK, CS_ETOOBIG },
	{ "data limit is per event", { C("data: 1234\n\ndata: 5678\n\n") },
	    { EV("message", "1234", ""), EV("message", "5678", "") }, 2, -1, 0,
	    0, 4 },
	{ "callback stops the feed mid-read",
	    { C("data: 1\n\ndata: 2\n\nretry: 5\ndata: 3\n\n"),
	        C("data: 4\n\n") },
	    { EV("message", "1", ""), EV("message", "2", "") }, 2, -1, 0, 0, 0,
	    2, CS_ECLIENTGONE, CS_ECLIENTGONE },
	{ "callback stops on the first event", { C("event: x\ndata: 1\n\n") },
	    { EV("x", "1", "") }, 1, -1, 0, 0, 0, 1, CS_EDONE, CS_EDONE },
	{ "unterminated event is discarded at end",
	    { C("data: a\n\nevent: x\ndata: b\n") }, { EV("message", "a", "") },
	    1, -1, 0 },
	{ "data with embedded NUL", { C("data: a\0b\n\n") },
	    { EV("message", "a\0b", "") }, 1, -1, 0 },
	{ "event type does not leak into the next event",
	    { C("event: a\ndata: 1\n\ndata: 2\n\nevent: b\n\ndata: 3\n\n") },
	    { EV("a", "1", ""), EV("message", "2", ""),
	        EV("message", "3", "") },
	    3, -1, 0 },
	{ "last event field wins, space handling",
	    { C("event:a\nevent:  b\ndata:x\n\n") }, { EV(" b", "x", "") }, 1,
	    -1, 0 },
	{ "field names are case sensitive",
	    { C("Data: x\nDATA: y\ndata : z\ndata:w\n\n") },
	    { EV("message", "w", "") }, 1, -1, 0 },
	{ "colon in the value", { C("data: a: b:c\n\n") },
	    { EV("message", "a: b:c", "") }, 1, -1, 0 },
	{ "UTF-8 passed through as bytes",
	    { C("event: \xc3\xa9v\ndata: \xf0\x9f\xa7\xb9 \xe6\x88\x91\n\n") },
	    { EV("\xc3\xa9v", "\xf0\x9f\xa7\xb9 \xe6\x88\x91", "") }, 1, -1,
	    0 },
	{ "OpenAI-style chat stream",
	    { C("data: " OAI_1 "\n\n"
	        "data: " OAI_2 "\n\n"
	        ": OPENROUTER PROCESSING\n\n"
	        "data: " OAI_3 "\n\n"
	        "data: " OAI_4 "\n\n"
	        "data: [DONE]\n\n") },
	    { EV("message", OAI_1, ""), EV("message", OAI_2, ""),
	        EV("message", OAI_3, ""), EV("message", OAI_4, ""),
	        EV("message", "[DONE]", "") },
	    5, -1, 1 },
	{ "Anthropic-style event stream",
	    { C("event: message_start\r\ndata: " ANT_START "\r\n\r\n"
	        "event: content_block_start\r\ndata: " ANT_BSTART "\r\n\r\n"
	        "event: ping\r\ndata: " ANT_PING "\r\n\r\n"
	        "event: content_block_delta\r\ndata: " ANT_DELTA "\r\n\r\n"
	        "event: message_stop\r\ndata: " ANT_STOP "\r\n\r\n") },
	    { EV("message_start", ANT_START, ""),
	        EV("content_block_start", ANT_BSTART, ""),
	        EV("ping", ANT_PING, ""),
	        EV("content_block_delta", ANT_DELTA, ""),
	        EV("message_stop", ANT_STOP, "") },
	    5, -1, 0 },
};

static void
tc_check(const void *arg, const char *mode, const struct outcome *o)
{
	const struct tcase *t = arg;
	const struct rec_ev *e;
	const struct xev *x;
	size_t i;

	if (o->err != t->want)
		fail_msg("%s (%s): feed returned \"%s\", expected \"%s\"",
		    t->name, mode, cs_strerror(o->err), cs_strerror(t->want));
	if (o->n != t->nev)
		fail_msg("%s (%s): %zu events, expected %zu", t->name, mode,
		    o->n, t->nev);
	for (i = 0; i < t->nev; i++) {
		e = &o->ev[i];
		x = &t->ev[i];
		if (strcmp(e->type, x->type) != 0)
			fail_msg("%s (%s): event %zu: type \"%s\"", t->name,
			    mode, i, e->type);
		if (e->data_len != x->data_len ||
		    memcmp(e->data, x->data, x->data_len) != 0)
			fail_msg("%s (%s): event %zu: data \"%s\" (%zu bytes)",
			    t->name, mode, i, e->data, e->data_len);
		if (strcmp(e->id, x->id) != 0)
			fail_msg("%s (%s): event %zu: id \"%s\"", t->name, mode,
			    i, e->id);
	}
	if (o->retry != t->retry)
		fail_msg("%s (%s): retry %ld, expected %ld", t->name, mode,
		    o->retry, t->retry);
	if (t->comments >= 0 && o->comments != (unsigned long)t->comments)
		fail_msg("%s (%s): %lu comments, expected %ld", t->name, mode,
		    o->comments, t->comments);
}

static void
test_table(void **state)
{
	const struct tcase *t;
	char *in;
	size_t i, j, len, cuts[8], ncuts;

	(void)state;
	for (i = 0; i < CS_ARRAY_LEN(tcases); i++) {
		t = &tcases[i];
		len = 0;
		for (j = 0; t->in[j].s != NULL; j++)
			len += t->in[j].n;
		in = malloc(len + 1);
		assert_non_null(in);
		len = ncuts = 0;
		for (j = 0; t->in[j].s != NULL; j++) {
			if (j > 0)
				cuts[ncuts++] = len;
			memcpy(in + len, t->in[j].s, t->in[j].n);
			len += t->in[j].n;
		}
		all_cuttings(in, len, cuts, ncuts,
		    t->max_line ? t->max_line : CS_MAX_SSE_LINE,
		    t->max_event ? t->max_event : CS_MAX_SSE_EVENT, t->stop_at,
		    t->stop_code, t, tc_check);
		free(in);
	}
}

/* The OpenAI chunks must come out as parseable JSON, byte for byte. */
static void
test_openai_json_roundtrip(void **state)
{
	static const char in[] = "data: " OAI_3 "\n\ndata: [DONE]\n\n";
	struct outcome o;
	struct json_object *j, *v;

	(void)state;
	memset(&o, 0, sizeof(o));
	run(in, sizeof(in) - 1, NULL, 0, CS_MAX_SSE_LINE, CS_MAX_SSE_EVENT, &o);
	assert_int_equal(o.err, CS_OK);
	assert_int_equal(o.n, 2);
	j = json_tokener_parse(o.ev[0].data);
	assert_non_null(j);
	assert_true(json_object_object_get_ex(j, "choices", &v));
	v = json_object_array_get_idx(v, 0);
	assert_true(json_object_object_get_ex(v, "delta", &v));
	assert_true(json_object_object_get_ex(v, "content", &v));
	assert_string_equal(json_object_get_string(v), "lo \xc3\xa9\n");
	json_object_put(j);
	assert_string_equal(o.ev[1].data, "[DONE]");
	outcome_free(&o);
}

/* After cs_sse_end the parser takes a new stream: BOM re-armed, the
 * partial event gone, the last event ID and retry kept. */
static void
test_end_then_reconnect(void **state)
{
	static const char s1[] = "id: 9\nretry: 250\ndata: a\n\ndata: lost";
	static const char s2[] = "\xEF\xBB\xBF"
	                         "data: b\n\n";
	struct outcome o;
	struct cs_sse *p;

	(void)state;
	memset(&o, 0, sizeof(o));
	p = cs_sse_new(64, 64, record, &o);
	assert_non_null(p);
	assert_int_equal(cs_sse_feed(p, s1, sizeof(s1) - 1), CS_OK);
	assert_int_equal(o.n, 1);
	assert_int_equal(cs_sse_end(p), CS_OK);
	assert_int_equal(cs_sse_feed(p, s2, sizeof(s2) - 1), CS_OK);
	assert_int_equal(o.n, 2);
	assert_string_equal(o.ev[1].data, "b");
	assert_string_equal(o.ev[1].id, "9");
	assert_int_equal(cs_sse_retry(p), 250);
	/* A CR ending the old stream must not eat the new stream's LF. */
	assert_int_equal(cs_sse_feed(p, "data: c\r", 8), CS_OK);
	assert_int_equal(cs_sse_end(p), CS_OK);
	assert_int_equal(cs_sse_feed(p, "\ndata: d\n\n", 11), CS_OK);
	assert_int_equal(o.n, 3);
	assert_string_equal(o.ev[2].data, "d");
	assert_int_equal(cs_sse_end(p), CS_OK);
	cs_sse_free(p);
	outcome_free(&o);
}

/* A long stream, one event per token as LLM providers send them, in
 * random reads: every event arrives, in order, intact. */
static void
test_many_events(void **state)
{
	enum {
		N = 20000
	};
	struct outcome o;
	char *in, line[64];
	size_t *cuts, len = 0, ncuts, i;
	unsigned long long seed = 42;
	int n;

	(void)state;
	in = malloc((size_t)N * 64);
	assert_non_null(in);
	for (i = 0; i < N; i++) {
		n = snprintf(line, sizeof(line), "%sdata: {\"t\":%zu}\n\n",
		    i % 100 == 0 ? ": keep-alive\r\n" : "", i);
		assert_true(n > 0 && (size_t)n < sizeof(line));
		memcpy(in + len, line, (size_t)n);
		len += (size_t)n;
	}
	cuts = calloc(len, sizeof(*cuts));
	assert_non_null(cuts);
	ncuts = random_cuts(len, cuts, &seed);

	memset(&o, 0, sizeof(o));
	run(in, len, cuts, ncuts, 256, 256, &o);
	assert_int_equal(o.err, CS_OK);
	assert_int_equal(o.n, N);
	assert_int_equal(o.comments, N / 100);
	for (i = 0; i < N; i++) {
		n = snprintf(line, sizeof(line), "{\"t\":%zu}", i);
		assert_int_equal(o.ev[i].data_len, (size_t)n);
		assert_memory_equal(o.ev[i].data, line, (size_t)n);
	}
	outcome_free(&o);
	free(cuts);
	free(in);
}

static void
test_misc_api(void **state)
{
	struct cs_sse *p;

	(void)state;
	cs_sse_free(NULL);

	/* A fresh parser: no retry, no comments; end on nothing is fine. */
	p = cs_sse_new(16, 16, record, NULL);
	assert_non_null(p);
	assert_int_equal(cs_sse_retry(p), -1);
	assert_int_equal(cs_sse_comments(p), 0);
	assert_int_equal(cs_sse_feed(p, "", 0), CS_OK);
	assert_int_equal(cs_sse_end(p), CS_OK);
	cs_sse_free(p);

	/* Once too big, always too big, even for harmless input. */
	p = cs_sse_new(4, 16, record, NULL);
	assert_non_null(p);
	assert_int_equal(cs_sse_feed(p, "12345", 5), CS_ETOOBIG);
	assert_int_equal(cs_sse_feed(p, "\n", 1), CS_ETOOBIG);
	assert_int_equal(cs_sse_end(p), CS_OK);
	assert_int_equal(cs_sse_feed(p, "", 0), CS_ETOOBIG);
	cs_sse_free(p);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fixtures),
		cmocka_unit_test(test_fixtures_all_listed),
		cmocka_unit_test(test_table),
		cmocka_unit_test(test_openai_json_roundtrip),
		cmocka_unit_test(test_end_then_reconnect),
		cmocka_unit_test(test_many_events),
		cmocka_unit_test(test_misc_api),
	};

	return cmocka_run_group_tests_name("sse_parse", tests, NULL, NULL);
}
