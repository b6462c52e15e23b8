/*
 * test_route.c — one request's plan over a model's deployments (route.h)
 * on the memory store, with the store's clock set by the test: the
 * configured order; a deployment cooled by its failures is skipped until
 * the cooldown ends; every one cooling is CS_EUPSTREAM with the first end;
 * weighted draws follow the weights (4000 plans, within 4 standard
 * deviations); least-busy takes the deployment with fewer open streams,
 * and a slot moved or released by the run counts where it went; no store
 * is opened for a model that needs none.
 */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "route.h"
#include "state_route.h"
#include "testutil.h"

#define T0 1767225600000LL /* 2026-01-01Z */

static struct cs_config cfg;
static struct cs_state *st;

#define CONF \
	"provider = openai-chat\nbase_url = http://a.test/v1\nstate = memory\n" \
	"[upstream b]\nprovider = openai-chat\nbase_url = http://b.test/v1\n" \
	"[upstream c]\nprovider = openai-chat\nbase_url = http://c.test/v1\n" \
	"[model ord]\nupstream = default, b, c\nupstream_model = m\n" \
	"allowed_fails = 2\ncooldown_seconds = 10\n" \
	"[model w]\nupstream = default, b\nupstream_model = w\n" \
	"balance = weighted\nweights = 3, 1\nallowed_fails = 0\n" \
	"[model lb]\nupstream = default, b\nupstream_model = lb\n" \
	"balance = least-busy\nallowed_fails = 0\n" \
	"[model one]\nupstream = c\n"

static int
setup(void **state)
{
	char path[] = "/tmp/cs_test_route.XXXXXX", err[512] = "";
	int fd = mkstemp(path);

	(void)state;
	if (fd < 0 || write(fd, CONF, strlen(CONF)) != (ssize_t)strlen(CONF))
		return -1;
	close(fd);
	cs_config_defaults(&cfg);
	if (cs_config_load(&cfg, path, err, sizeof(err)) != CS_OK ||
	    cs_config_resolve(&cfg, err, sizeof(err)) != CS_OK) {
		fprintf(stderr, "config: %s\n", err);
		unlink(path);
		return -1;
	}
	unlink(path);
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	cs_state_close(st);
	st = NULL;
	cs_config_free(&cfg);
	return 0;
}

static const struct cs_model_cfg *
model(const char *name)
{
	const struct cs_model_cfg *m = cs_config_model(&cfg, name);

	assert_non_null(m);
	return m;
}

/* The plan's order as upstream names, "a,b,c". */
static const char *
order(const struct cs_route_plan *p)
{
	static char out[256];
	size_t i, at = 0;

	out[0] = '\0';
	for (i = 0; i < p->n; i++)
		at += (size_t)snprintf(out + at, sizeof(out) - at, "%s%s",
		    i ? "," : "", p->rt->d[p->order[i]].upstream);
	return out;
}

static void
fail_dep(const struct cs_model_cfg *m, size_t i, long long now)
{
	struct cs_route_plan p;

	memset(&p, 0, sizeof(p));
	p.cfg = &cfg;
	p.rt = &m->route;
	cs_route_failed(&p, i, now); /* no settle thread: done at once */
}

static void
test_ordered_and_cooldown(void **state)
{
	const struct cs_model_cfg *m = model("ord");
	struct cs_route_plan p;

	(void)state;
	assert_int_equal(cs_route_plan(&cfg, &st, m, T0, &p), CS_OK);
	assert_string_equal(order(&p), "default,b,c");
	assert_non_null(st); /* opened for a model that keeps state */
	fail_dep(m, 0, T0);
	assert_int_equal(cs_route_plan(&cfg, &st, m, T0 + 1, &p), CS_OK);
	assert_string_equal(order(&p), "default,b,c"); /* one of two */
	fail_dep(m, 0, T0 + 2);
	assert_int_equal(cs_route_plan(&cfg, &st, m, T0 + 3, &p), CS_OK);
	assert_string_equal(order(&p), "b,c");
	/* b and c too: none is left, and the first cooldown to end says
	 * when. */
	fail_dep(m, 1, T0 + 1000);
	fail_dep(m, 1, T0 + 1000);
	fail_dep(m, 2, T0 + 2000);
	fail_dep(m, 2, T0 + 2000);
	assert_int_equal(
	    cs_route_plan(&cfg, &st, m, T0 + 3000, &p), CS_EUPSTREAM);
	assert_int_equal(p.n, 0);
	assert_true(p.cooling_until_ms == T0 + 2 + 10000);
	/* Each comes back when its cooldown ends. */
	assert_int_equal(cs_route_plan(&cfg, &st, m, T0 + 10002, &p), CS_OK);
	assert_string_equal(order(&p), "default");
	assert_int_equal(cs_route_plan(&cfg, &st, m, T0 + 12000, &p), CS_OK);
	assert_string_equal(order(&p), "default,b,c");
}

static void
test_weighted(void **state)
{
	const struct cs_model_cfg *m = model("w");
	struct cs_route_plan p;
	int i, first = 0;

	(void)state;
	for (i = 0; i < 4000; i++) {
		assert_int_equal(cs_route_plan(&cfg, &st, m, T0, &p), CS_OK);
		assert_int_equal(p.n, 2); /* both, the other one next */
		assert_true(p.order[0] != p.order[1]);
		first += p.order[0] == 0;
	}
	/* Binomial(4000, 0.75): mean 3000, sd 27.4. */
	if (first < 3000 - 110 || first > 3000 + 110)
		fail_msg("weights 3:1 drew the first %d times of 4000", first);
}

static void
test_least_busy(void **state)
{
	const struct cs_model_cfg *m = model("lb");
	struct cs_route_plan a, b, c;
	const char *names[2];
	struct cs_route_seen seen[2];

	(void)state;
	assert_int_equal(cs_route_plan(&cfg, &st, m, T0, &a), CS_OK);
	assert_true(a.busy);
	assert_int_equal(cs_route_plan(&cfg, &st, m, T0, &b), CS_OK);
	assert_true(b.busy);
	assert_true(a.order[0] != b.order[0]); /* the idle one */
	names[0] = m->route.d[0].key;
	names[1] = m->route.d[1].key;
	assert_int_equal(cs_state_route_read(st, names, 2, T0, seen), CS_OK);
	assert_int_equal(seen[0].busy, 1);
	assert_int_equal(seen[1].busy, 1);
	/* a falls back to b's deployment: two there, none on its own. */
	cs_route_moved(&a, b.order[0], T0);
	assert_int_equal(cs_state_route_read(st, names, 2, T0, seen), CS_OK);
	assert_int_equal(seen[a.order[0]].busy, 0);
	assert_int_equal(seen[b.order[0]].busy, 2);
	assert_int_equal(cs_route_plan(&cfg, &st, m, T0, &c), CS_OK);
	assert_int_equal(c.order[0], a.order[0]);
	/* Ends release the slots. */
	cs_route_moved(&a, -1, T0);
	cs_route_moved(&b, -1, T0);
	cs_route_moved(&c, -1, T0);
	assert_false(a.busy || b.busy || c.busy);
	assert_int_equal(cs_state_route_read(st, names, 2, T0, seen), CS_OK);
	assert_int_equal(seen[0].busy + seen[1].busy, 0);
}

static void
test_stateless(void **state)
{
	struct cs_state *none = NULL;
	struct cs_route_plan p;

	(void)state;
	assert_int_equal(
	    cs_route_plan(&cfg, &none, model("one"), T0, &p), CS_OK);
	assert_string_equal(order(&p), "c");
	assert_null(none);
	assert_int_equal(cs_route_plan(&cfg, &none, model("w"), T0, &p), CS_OK);
	assert_null(none); /* weighted without cooldowns needs no store */
	assert_false(p.busy);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ordered_and_cooldown),
		cmocka_unit_test(test_weighted),
		cmocka_unit_test(test_least_busy),
		cmocka_unit_test(test_stateless),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
