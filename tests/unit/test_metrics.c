/*
 * test_metrics.c — the shared metrics table (metrics.h): counters and
 * histograms written out in Prometheus' text format (cumulative buckets,
 * seconds, escaped labels) and in OpenMetrics; a second process that maps
 * the same file adds to the same series, and its gauges drop out once it
 * is gone; a file of another layout is made anew; a path that cannot be
 * a file falls back to this process's memory; a full table drops new
 * series and says so; off, nothing is kept; a request's access line
 * counts a model label only for a configured alias.
 */
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "config.h"
#include "log.h"
#include "metrics.h"
#include "testutil.h"

static struct cs_config cfg;
static char path[64];

static void
open_at(const char *file)
{
	cs_config_defaults(&cfg);
	snprintf(cfg.metrics, sizeof(cfg.metrics), "loopback");
	snprintf(cfg.metrics_file, sizeof(cfg.metrics_file), "%s", file);
	assert_int_equal(cs_metrics_open(&cfg), CS_OK);
}

static int
setup(void **state)
{
	int fd;

	(void)state;
	snprintf(path, sizeof(path), "/tmp/cs_test_metrics.XXXXXX");
	if ((fd = mkstemp(path)) < 0)
		return -1;
	close(fd);
	unlink(path); /* open makes it */
	open_at(path);
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	cs_metrics_close();
	unlink(path);
	return 0;
}

/* The exposition, NUL-terminated, in a static buffer. */
static const char *
render(int om)
{
	static struct cs_buf b;

	cs_buf_free(&b);
	cs_buf_init(&b, CS_METRICS_MAX_OUT);
	assert_int_equal(cs_metrics_render(&b, om, "sqlite", 1), CS_OK);
	assert_int_equal(cs_buf_append(&b, "", 1), CS_OK);
	return b.data;
}

static void
has(const char *text, const char *line)
{
	if (strstr(text, line) == NULL)
		fail_msg("missing %s in:\n%s", line, text);
}

static void
test_text_format(void **state)
{
	const char *t;

	(void)state;
	cs_metrics_count(CS_M_REQUESTS, "/chat", "200", "done", 2);
	cs_metrics_count(CS_M_REQUESTS, "/chat", "200", "done", 1);
	cs_metrics_count(CS_M_REQUESTS, "/chat", "429", "limited", 1);
	cs_metrics_time(CS_M_TTFD, "fast", 3000);      /* 0.003 s */
	cs_metrics_time(CS_M_TTFD, "fast", 100000);    /* 0.1 s */
	cs_metrics_time(CS_M_TTFD, "fast", 999000000); /* past 300 s */
	cs_metrics_gauge(CS_G_OPEN_STREAMS, 3);
	cs_metrics_gauge(CS_G_OPEN_STREAMS, -1);
	t = render(0);
	has(t, "# TYPE chatstream_requests_total counter\n");
	has(t,
	    "chatstream_requests_total{endpoint=\"/chat\",status=\"200\","
	    "outcome=\"done\"} 3\n");
	has(t,
	    "chatstream_requests_total{endpoint=\"/chat\",status=\"429\","
	    "outcome=\"limited\"} 1\n");
	has(t, "# TYPE chatstream_time_to_first_delta_seconds histogram\n");
	has(t,
	    "chatstream_time_to_first_delta_seconds_bucket{model=\"fast\","
	    "le=\"0.005\"} 1\n");
	has(t,
	    "chatstream_time_to_first_delta_seconds_bucket{model=\"fast\","
	    "le=\"0.05\"} 1\n");
	has(t,
	    "chatstream_time_to_first_delta_seconds_bucket{model=\"fast\","
	    "le=\"0.1\"} 2\n");
	has(t,
	    "chatstream_time_to_first_delta_seconds_bucket{model=\"fast\","
	    "le=\"300.0\"} 2\n");
	has(t,
	    "chatstream_time_to_first_delta_seconds_bucket{model=\"fast\","
	    "le=\"+Inf\"} 3\n");
	has(t,
	    "chatstream_time_to_first_delta_seconds_sum{model=\"fast\"} "
	    "999.103000\n");
	has(t,
	    "chatstream_time_to_first_delta_seconds_count{model=\"fast\"} "
	    "3\n");
	has(t, "chatstream_open_streams 2\n");
	has(t, "chatstream_processes 1\n");
	has(t, "chatstream_state_store_up{backend=\"sqlite\"} 1\n");
	has(t,
	    "chatstream_build_info{version=\"" CS_VERSION
	    "\",shared=\"yes\"} 1\n");
	assert_null(strstr(t, "# EOF"));
}

static void
test_openmetrics(void **state)
{
	const char *t;
	size_t n;

	(void)state;
	cs_metrics_count(CS_M_RETRIES, "default", NULL, NULL, 2);
	t = render(1);
	has(t, "# TYPE chatstream_upstream_retries counter\n");
	has(t, "chatstream_upstream_retries_total{upstream=\"default\"} 2\n");
	has(t, "# UNIT chatstream_request_duration_seconds seconds\n");
	has(t, "# TYPE chatstream_build info\n");
	n = strlen(t);
	assert_true(n > 6 && strcmp(t + n - 6, "# EOF\n") == 0);
}

static void
test_escaping(void **state)
{
	(void)state;
	cs_metrics_count(CS_M_REFUSED, "a\"b\\c\nd", NULL, NULL, 1);
	has(render(0),
	    "chatstream_refused_requests_total{reason="
	    "\"a\\\"b\\\\c\\nd\"} 1\n");
}

/* Another process maps the file itself (not the inherited mapping). */
static void
test_two_processes(void **state)
{
	int up[2], down[2], status;
	char c;
	pid_t pid;

	(void)state;
	cs_metrics_count(CS_M_FALLBACKS, "a", NULL, NULL, 1);
	cs_metrics_gauge(CS_G_PENDING_BYTES, 100);
	assert_int_equal(pipe(up), 0);
	assert_int_equal(pipe(down), 0);
	if ((pid = fork()) == 0) {
		cs_metrics_close();
		open_at(path);
		cs_metrics_count(CS_M_FALLBACKS, "a", NULL, NULL, 4);
		cs_metrics_gauge(CS_G_PENDING_BYTES, 50);
		if (write(up[1], "x", 1) != 1)
			_exit(1);
		if (read(down[0], &c, 1) != 1) /* until the parent looked */
			_exit(1);
		_exit(0);
	}
	assert_true(pid > 0);
	assert_int_equal(read(up[0], &c, 1), 1);
	has(render(0),
	    "chatstream_upstream_fallbacks_total{upstream=\"a\"} 5\n");
	has(render(0), "chatstream_pending_output_bytes 150\n");
	has(render(0), "chatstream_processes 2\n");
	assert_int_equal(write(down[1], "x", 1), 1);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	/* Its counts stay; its gauge went with it. */
	has(render(0),
	    "chatstream_upstream_fallbacks_total{upstream=\"a\"} 5\n");
	has(render(0), "chatstream_pending_output_bytes 100\n");
	has(render(0), "chatstream_processes 1\n");
	close(up[0]);
	close(up[1]);
	close(down[0]);
	close(down[1]);
}

static void
test_other_layout(void **state)
{
	int fd;

	(void)state;
	cs_metrics_count(CS_M_DEPARTURES, "/chat", NULL, NULL, 7);
	cs_metrics_close();
	/* An older file: another size, other bytes. */
	fd = open(path, O_WRONLY | O_TRUNC);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "CSMTRC00 something else", 23), 23);
	close(fd);
	open_at(path);
	assert_int_equal(cs_metrics_shared(), 1);
	assert_null(strstr(render(0), "chatstream_client_departures_total{"));
	cs_metrics_count(CS_M_DEPARTURES, "/chat", NULL, NULL, 1);
	has(render(0),
	    "chatstream_client_departures_total{endpoint=\"/chat\"} 1\n");
}

static void
test_not_a_file(void **state)
{
	(void)state;
	cs_metrics_close();
	open_at("/tmp"); /* a directory */
	assert_int_equal(cs_metrics_shared(), 0);
	cs_metrics_count(CS_M_REQUESTS, "/info", "200", "done", 1);
	has(render(0), "shared=\"no\"");
	has(render(0), "chatstream_requests_total{endpoint=\"/info\"");
	cs_metrics_close();
	open_at(path);
}

static void
test_full_table(void **state)
{
	char name[32];
	const char *l[1] = { name };
	const char *t;
	int i;

	(void)state;
	cs_metrics_count(CS_M_RETRIES, "kept", NULL, NULL, 1);
	for (i = 0; i < CS_METRICS_SERIES + 100; i++) {
		snprintf(name, sizeof(name), "u%d", i);
		cs_metrics_add(cs_metrics_series(CS_M_RETRIES, l), 1);
	}
	cs_metrics_count(CS_M_RETRIES, "kept", NULL, NULL, 1);
	t = render(0);
	has(t, "chatstream_upstream_retries_total{upstream=\"kept\"} 2\n");
	assert_null(strstr(t, "chatstream_metrics_dropped_series_total 0\n"));
	assert_non_null(strstr(t, "chatstream_metrics_dropped_series_total "));
}

static void
test_request_line(void **state)
{
	struct cs_access a;
	const char *t;

	(void)state;
	cs_metrics_close();
	unlink(path);
	cs_config_defaults(&cfg);
	snprintf(cfg.models[0].name, sizeof(cfg.models[0].name), "fast");
	cfg.n_models = 1;
	snprintf(cfg.metrics, sizeof(cfg.metrics), "key");
	snprintf(cfg.metrics_file, sizeof(cfg.metrics_file), "%s", path);
	assert_int_equal(cs_metrics_open(&cfg), CS_OK);
	memset(&a, 0, sizeof(a));
	a.endpoint = "/chat";
	a.status = 200;
	a.outcome = "done";
	a.model = "fast";
	a.upstream = "default";
	a.ttfd_ms = 40;
	a.duration_ms = 900;
	a.prompt_tokens = 11;
	a.completion_tokens = 5;
	a.admit_us = 120;
	cs_metrics_request(&cfg, &a);
	a.model = "203.0.113.7"; /* not an alias: no label of it */
	a.outcome = "limited";
	a.status = 429;
	a.error = "budget_exceeded";
	a.ttfd_ms = -1;
	a.prompt_tokens = a.completion_tokens = -1;
	cs_metrics_request(&cfg, &a);
	t = render(0);
	has(t,
	    "chatstream_prompt_tokens_total{model=\"fast\","
	    "upstream=\"default\"} 11\n");
	has(t,
	    "chatstream_completion_tokens_total{model=\"fast\","
	    "upstream=\"default\"} 5\n");
	has(t,
	    "chatstream_refused_requests_total{reason=\"budget_exceeded\"} "
	    "1\n");
	has(t,
	    "chatstream_request_duration_seconds_count{endpoint=\"/chat\"} "
	    "2\n");
	has(t, "chatstream_admission_duration_seconds_count 2\n");
	has(t,
	    "chatstream_time_to_first_delta_seconds_count{model=\"fast\"} "
	    "1\n");
	assert_null(strstr(t, "203.0.113.7"));
}

static void
test_off(void **state)
{
	struct cs_buf b;
	const char *l[3] = { "/chat", "200", "done" };

	(void)state;
	cs_metrics_close();
	cs_config_defaults(&cfg); /* metrics = off */
	assert_int_equal(cs_metrics_open(&cfg), CS_OK);
	assert_int_equal(cs_metrics_shared(), -1);
	assert_null(cs_metrics_series(CS_M_REQUESTS, l));
	cs_metrics_gauge(CS_G_OPEN_STREAMS, 1); /* a no-op */
	cs_buf_init(&b, 1024);
	assert_int_equal(cs_metrics_render(&b, 0, "memory", -1), CS_EDONE);
	cs_buf_free(&b);
	open_at(path);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(
		    test_text_format, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_openmetrics, setup, teardown),
		cmocka_unit_test_setup_teardown(test_escaping, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_two_processes, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_other_layout, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_not_a_file, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_full_table, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_request_line, setup, teardown),
		cmocka_unit_test_setup_teardown(test_off, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
