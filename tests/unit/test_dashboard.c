/*
 * test_dashboard.c — the usage dashboard's numbers (src/admin/
 * dashboard.c): the ttfd histogram's buckets and the percentiles read
 * from it against the exact nearest-rank ones, records put on their UTC
 * day (the first and last ms of a day, before the window and after now
 * left out), the top CS_DASH_TOP names a dimension with the rest in
 * "other", errors and refusals by reason, the JSON, and the whole read
 * from a memory store (ledger and refusal counters).
 */
#include <json-c/json.h>
#include <string.h>

#include "dashboard.h"
#include "state.h"
#include "state_scan.h"
#include "testutil.h"

#define DAY_MS 86400000LL
/* 2026-01-30 15:00Z: the window is 2026-01-01 .. 2026-01-30. */
#define NOW  (1767225600000LL + 29 * DAY_MS + 15 * 3600000LL)
#define DAY0 (1767225600000LL) /* 2026-01-01 00:00Z, the first day */

static struct cs_ledger_rec
rec_at(long long t, const char *model, const char *key, long ttfd)
{
	struct cs_ledger_rec r;

	memset(&r, 0, sizeof(r));
	r.time_ms = t;
	r.request_id = "req";
	r.identity = "iph:0";
	r.model = model;
	r.key_name = key;
	r.upstream = "up";
	r.outcome = "done";
	r.prompt_tokens = 7;
	r.completion_tokens = 3;
	r.generated_tokens = r.delivered_tokens = -1;
	r.ttfd_ms = ttfd;
	r.duration_ms = 100;
	return r;
}

static struct cs_dash *
dash(void)
{
	struct cs_dash *d = NULL;

	assert_int_equal(cs_dash_new(NOW, &d), CS_OK);
	assert_int_equal(cs_dash_since_ms(d), DAY0);
	return d;
}

/* The answer, parsed. */
static struct json_object *
json_of(const struct cs_dash *d)
{
	struct json_object *o;
	struct cs_buf b;

	cs_buf_init(&b, CS_DASH_JSON_MAX);
	assert_int_equal(cs_dash_json(d, &b), CS_OK);
	o = json_tokener_parse(b.data);
	assert_non_null(o);
	cs_buf_free(&b);
	return o;
}

static struct json_object *
at(struct json_object *o, const char *path)
{
	char key[64];
	const char *p = path, *dot;
	struct json_object *v = o;

	while (v != NULL && *p != '\0') {
		dot = strchr(p, '.');
		snprintf(key, sizeof(key), "%.*s",
		    (int)(dot ? (size_t)(dot - p) : strlen(p)), p);
		if (json_object_is_type(v, json_type_array))
			v = json_object_array_get_idx(v, atoi(key));
		else if (!json_object_object_get_ex(v, key, &v))
			v = NULL;
		p = dot ? dot + 1 : p + strlen(p);
	}
	if (v == NULL)
		fail_msg("no %s in the JSON", path);
	return v;
}

static long long
num(struct json_object *o, const char *path)
{
	return json_object_get_int64(at(o, path));
}

static void
test_buckets(void **state)
{
	long long v, mid;
	int b, last = -1;

	(void)state;
	for (v = 0; v < 16; v++) {
		assert_int_equal(cs_dash_bucket(v), v);
		assert_int_equal(cs_dash_bucket_value((int)v), v);
	}
	assert_int_equal(cs_dash_bucket(-5), 0);
	for (v = 16; v < 100000000LL; v += v / 37 + 1) {
		b = cs_dash_bucket(v);
		assert_true(b >= last && b < CS_DASH_HIST);
		last = b;
		mid = cs_dash_bucket_value(b);
		/* Within 1/16 of the value: 8 buckets a doubling. */
		if (llabs(mid - v) * 16 > v)
			fail_msg("%lld: bucket %d stands for %lld", v, b, mid);
	}
	assert_true(cs_dash_bucket(CS_STATE_TIME_MAX) < CS_DASH_HIST);
	assert_int_equal(cs_dash_bucket(1LL << 62), CS_DASH_HIST - 1);
}

/* The exact nearest-rank percentile of a sorted array. */
static long long
exact(const long *v, size_t n, int pct)
{
	size_t rank = (n * (size_t)pct + 99) / 100;

	return v[rank > 0 ? rank - 1 : 0];
}

static void
test_percentiles(void **state)
{
	static long v[200];
	struct cs_dash *d = dash();
	struct cs_ledger_rec r;
	size_t i;
	long got;

	(void)state;
	assert_int_equal(cs_dash_ttfd(d, 29, 50), -1); /* none yet */
	for (i = 0; i < CS_ARRAY_LEN(v); i++) {
		v[i] = (long)(i * i / 7 + 3); /* 3 .. 5660 ms, sorted */
		r = rec_at(NOW - 1000, "m", "k", v[i]);
		cs_dash_record(d, &r);
	}
	r = rec_at(NOW - 1000, "m", "k", -1); /* no delta: not counted */
	cs_dash_record(d, &r);
	for (i = 1; i <= 100; i++) {
		got = cs_dash_ttfd(d, 29, (int)i);
		if (llabs(got - exact(v, CS_ARRAY_LEN(v), (int)i)) * 16 >
		    exact(v, CS_ARRAY_LEN(v), (int)i))
			fail_msg("p%zu: %ld, exact %lld", i, got,
			    exact(v, CS_ARRAY_LEN(v), (int)i));
	}
	assert_int_equal(
	    cs_dash_ttfd(d, 29, 100), v[199]); /* the max, clamped */
	assert_int_equal(cs_dash_ttfd(d, 29, 1), 3);
	assert_int_equal(cs_dash_ttfd(d, 28, 50), -1); /* another day */
	assert_int_equal(cs_dash_ttfd(d, 29, 0), -1);
	assert_int_equal(cs_dash_ttfd(d, 30, 50), -1);
	cs_dash_free(d);
	/* One value: every percentile is it, exactly. */
	d = dash();
	r = rec_at(NOW, "m", "k", 1234);
	cs_dash_record(d, &r);
	assert_int_equal(cs_dash_ttfd(d, 29, 50), 1234);
	assert_int_equal(cs_dash_ttfd(d, 29, 99), 1234);
	cs_dash_free(d);
}

static void
test_days(void **state)
{
	struct cs_dash *d = dash();
	struct json_object *o;
	struct cs_ledger_rec r;
	static const long long t[] = {
		DAY0 - 1,          /* before the window */
		DAY0,              /* day 0 */
		DAY0 + DAY_MS - 1, /* day 0, its last ms */
		DAY0 + DAY_MS,     /* day 1 */
		NOW,               /* today (29) */
		DAY0 + 30 * DAY_MS /* tomorrow: after now */
	};
	size_t i;

	(void)state;
	for (i = 0; i < CS_ARRAY_LEN(t); i++) {
		r = rec_at(t[i], "m", "k", 10);
		cs_dash_record(d, &r);
	}
	o = json_of(d);
	assert_int_equal(json_object_array_length(at(o, "days")), CS_DASH_DAYS);
	assert_string_equal(
	    json_object_get_string(at(o, "days.0")), "2026-01-01");
	assert_string_equal(
	    json_object_get_string(at(o, "days.29")), "2026-01-30");
	assert_int_equal(num(o, "daily.requests.0"), 2);
	assert_int_equal(num(o, "daily.requests.1"), 1);
	assert_int_equal(num(o, "daily.requests.29"), 1);
	assert_int_equal(num(o, "daily.prompt_tokens.0"), 14);
	assert_int_equal(num(o, "daily.completion_tokens.0"), 6);
	assert_int_equal(num(o, "daily.ttfd_count.0"), 2);
	/* null: a day without a ttfd */
	assert_null(json_object_array_get_idx(at(o, "daily.ttfd_p50_ms"), 2));
	assert_int_equal(num(o, "daily.ttfd_p99_ms.29"), 10);
	assert_int_equal(num(o, "generated_ms"), NOW);
	json_object_put(o);
	cs_dash_free(d);
	assert_int_equal(cs_dash_new(DAY_MS, &d), CS_EBADINPUT);
	assert_null(d);
}

static void
test_caps(void **state)
{
	struct cs_dash *d = dash();
	struct json_object *o, *m;
	struct cs_ledger_rec r;
	char name[16];
	int i, j;

	(void)state;
	/* 15 models, mN with N + 1 requests: m14 .. m5 are the top ten. */
	for (i = 0; i < 15; i++) {
		snprintf(name, sizeof(name), "m%d", i);
		cs_dash_offer(d, CS_DASH_MODEL, name, i + 1, 0);
	}
	cs_dash_offer(d, CS_DASH_KEY, "k", 1, 0);
	cs_dash_offer(d, CS_DASH_NDIM, "x", 1, 0); /* no such dimension */
	for (i = 0; i < 15; i++)
		for (j = 0; j <= i; j++) {
			snprintf(name, sizeof(name), "m%d", i);
			r = rec_at(NOW, name, i % 2 ? "k" : "", 5);
			cs_dash_record(d, &r);
		}
	o = json_of(d);
	m = at(o, "models");
	assert_int_equal(json_object_array_length(m), CS_DASH_TOP + 1);
	for (i = 0; i < CS_DASH_TOP; i++) {
		assert_false(json_object_get_boolean(
		    at(json_object_array_get_idx(m, (size_t)i), "other")));
		assert_int_equal(
		    json_object_get_int64(at(
		        json_object_array_get_idx(m, (size_t)i), "requests")),
		    15 - i);
	}
	assert_string_equal(
	    json_object_get_string(at(o, "models.0.name")), "m14");
	assert_true(json_object_get_boolean(at(o, "models.10.other")));
	assert_string_equal(
	    json_object_get_string(at(o, "models.10.name")), "");
	assert_int_equal(num(o, "models.10.requests"), 1 + 2 + 3 + 4 + 5);
	assert_int_equal(num(o, "models.10.daily.requests.29"), 15);
	assert_int_equal(num(o, "models.10.prompt_tokens"), 15 * 7);
	/* keys: "k" named, the records without a key are "other". */
	assert_string_equal(json_object_get_string(at(o, "keys.0.name")), "k");
	assert_int_equal(
	    num(o, "keys.0.requests"), 2 + 4 + 6 + 8 + 10 + 12 + 14);
	assert_true(json_object_get_boolean(at(o, "keys.1.other")));
	assert_int_equal(json_object_array_length(at(o, "identities")), 1);
	assert_true(json_object_get_boolean(at(o, "identities.0.other")));
	assert_null(json_object_object_get(
	    json_object_array_get_idx(at(o, "identities"), 0), "daily"));
	json_object_put(o);
	cs_dash_free(d);
}

static void
test_errors_refusals(void **state)
{
	static const char *const outcomes[] = { "done", "upstream_error",
		"timeout", "internal_error", "client_gone", "slow_client" };
	struct cs_dash *d = dash();
	struct json_object *o;
	struct cs_ledger_rec r;
	size_t i;

	(void)state;
	for (i = 0; i < CS_ARRAY_LEN(outcomes); i++) {
		r = rec_at(NOW, "m", "k", 5);
		r.outcome = outcomes[i];
		cs_dash_record(d, &r);
	}
	cs_dash_refusal(d, NOW / DAY_MS, "rate_limited", 4);
	cs_dash_refusal(d, NOW / DAY_MS, "budget_exceeded", 1);
	cs_dash_refusal(d, NOW / DAY_MS, "unauthorized", 2);
	cs_dash_refusal(d, NOW / DAY_MS, "something_new", 3);
	cs_dash_refusal(d, DAY0 / DAY_MS - 1, "rate_limited", 9); /* before */
	cs_dash_refusal(d, NOW / DAY_MS + 1, "rate_limited", 9);  /* after */
	o = json_of(d);
	assert_int_equal(num(o, "daily.errors.29"), 3);
	assert_int_equal(num(o, "daily.requests.29"), 6);
	assert_int_equal(num(o, "refusals.rate_limited.29"), 4);
	assert_int_equal(num(o, "refusals.budget_exceeded.29"), 1);
	assert_int_equal(num(o, "refusals.unauthorized.29"), 2);
	assert_int_equal(num(o, "refusals.other.29"), 3);
	assert_int_equal(num(o, "refusals.forbidden.29"), 0);
	assert_int_equal(num(o, "daily.refused.29"), 10);
	assert_int_equal(num(o, "daily.refused.0"), 0);
	json_object_put(o);
	cs_dash_free(d);
}

/* The whole read, from a memory store. */
static void
test_read_memory(void **state)
{
	struct cs_state *st = NULL;
	struct cs_dash *d = dash();
	struct json_object *o;
	struct cs_ledger_rec r;
	int i;

	(void)state;
	assert_int_equal(cs_state_open("memory", &st, NULL, 0), CS_OK);
	for (i = 0; i < 3; i++) {
		r = rec_at(
		    NOW - i * DAY_MS, i ? "gpt-b" : "gpt-a", "alice", 100 + i);
		assert_int_equal(cs_state_ledger_add(st, &r), CS_OK);
	}
	r = rec_at(DAY0 - DAY_MS, "gpt-old", "alice", 5); /* before */
	assert_int_equal(cs_state_ledger_add(st, &r), CS_OK);
	assert_int_equal(
	    cs_state_refusal_add(st, "rate_limited", 1, NOW), CS_OK);
	assert_int_equal(cs_dash_read(d, st), CS_OK);
	o = json_of(d);
	assert_int_equal(num(o, "daily.requests.29"), 1);
	assert_int_equal(num(o, "daily.requests.28"), 1);
	assert_int_equal(num(o, "daily.requests.27"), 1);
	assert_int_equal(json_object_array_length(at(o, "models")), 2);
	assert_string_equal(
	    json_object_get_string(at(o, "models.0.name")), "gpt-b");
	assert_int_equal(num(o, "models.0.requests"), 2);
	assert_string_equal(
	    json_object_get_string(at(o, "keys.0.name")), "alice");
	assert_int_equal(num(o, "keys.0.requests"), 3);
	assert_int_equal(num(o, "refusals.rate_limited.29"), 1);
	assert_int_equal(num(o, "daily.ttfd_p50_ms.28"), 101);
	json_object_put(o);
	cs_dash_free(d);
	cs_state_close(st);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_buckets),
		cmocka_unit_test(test_percentiles),
		cmocka_unit_test(test_days),
		cmocka_unit_test(test_caps),
		cmocka_unit_test(test_errors_refusals),
		cmocka_unit_test(test_read_memory),
	};

	return cmocka_run_group_tests_name("dashboard", tests, NULL, NULL);
}
