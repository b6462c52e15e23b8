/*
 * test_usage_cli.c — `chatstream usage` (src/admission/usage_cli.c): the
 * durations --since takes (strict, bounded), the options and their
 * errors, the table (rows fed through the formatter: order, alignment,
 * the total, odd groups), and the whole command on a real SQLite ledger
 * in a mkdtemp directory, with the store's errors.
 */
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "state.h"
#include "testutil.h"
#include "usage_cli.h"

static char tmpdir[64];

static void
test_since(void **state)
{
	static const char *const bad[] = { "", "d", "7", "7x", "7D", "-1d",
		"+1d", " 7d", "7d ", "0d", "0h", "3651d", "87601h", "5256001m",
		"99999999999999999999999999d", "1.5d", "7dd" };
	long long ms = -1;
	size_t i;

	(void)state;
	assert_int_equal(cs_usage_parse_since("7d", &ms), 0);
	assert_true(ms == 7 * 86400000LL);
	assert_int_equal(cs_usage_parse_since("12h", &ms), 0);
	assert_true(ms == 12 * 3600000LL);
	assert_int_equal(cs_usage_parse_since("30m", &ms), 0);
	assert_true(ms == 30 * 60000LL);
	assert_int_equal(cs_usage_parse_since("3650d", &ms), 0);
	assert_true(ms == 3650 * 86400000LL);
	assert_int_equal(cs_usage_parse_since("87600h", &ms), 0);
	assert_int_equal(cs_usage_parse_since("5256000m", &ms), 0);
	assert_int_equal(cs_usage_parse_since("007d", &ms), 0);
	assert_true(ms == 7 * 86400000LL);
	for (i = 0; i < CS_ARRAY_LEN(bad); i++) {
		ms = 42;
		if (cs_usage_parse_since(bad[i], &ms) != -1)
			fail_msg("--since \"%s\" was taken", bad[i]);
		assert_true(ms == 42); /* unchanged */
	}
}

/* Parse the NULL-terminated options; expect rc and errsub in the error. */
static void
args_expect(
    const char *env, struct cs_usage_opts *o, int want, const char *errsub, ...)
{
	char *argv[16], err[256] = "";
	va_list ap;
	int argc = 0, rc;

	va_start(ap, errsub);
	while (argc < 16 && (argv[argc] = va_arg(ap, char *)) != NULL)
		argc++;
	va_end(ap);
	rc = cs_usage_parse_args(argc, argv, env, o, err, sizeof(err));
	if (rc != want)
		fail_msg("rc %d, want %d (%s)", rc, want, err);
	if (errsub != NULL && strstr(err, errsub) == NULL)
		fail_msg("error \"%s\" lacks \"%s\"", err, errsub);
}

static void
test_args(void **state)
{
	struct cs_usage_opts o;

	(void)state;
	args_expect(NULL, &o, 0, NULL, NULL);
	assert_null(o.config);
	assert_string_equal(o.since, "7d");
	assert_true(o.since_ms == 7 * 86400000LL);
	assert_string_equal(o.by, "day");
	args_expect("/etc/cs.conf", &o, 0, NULL, NULL);
	assert_string_equal(o.config, "/etc/cs.conf");
	args_expect("", &o, 0, NULL, NULL);
	assert_null(o.config);
	args_expect("/etc/cs.conf", &o, 0, NULL, "--by", "model", "--config",
	    "x.conf", "--since", "2h", NULL);
	assert_string_equal(o.config, "x.conf"); /* over the environment */
	assert_string_equal(o.by, "model");
	assert_true(o.since_ms == 2 * 3600000LL);
	args_expect(NULL, &o, 0, NULL, "--by", "identity", NULL);
	args_expect(NULL, &o, 0, NULL, "--by", "key", NULL);

	args_expect(NULL, &o, -1,
	    "--by: \"week\" is not day, model, "
	    "identity or key",
	    "--by", "week", NULL);
	args_expect(NULL, &o, -1, "--since: \"7\" is not a duration like 7d",
	    "--since", "7", NULL);
	args_expect(
	    NULL, &o, -1, "--since: \"9999d\"", "--since", "9999d", NULL);
	args_expect(
	    NULL, &o, -1, "unknown option \"--from\"", "--from", "x", NULL);
	args_expect(NULL, &o, -1, "unknown option \"model\"", "model", NULL);
	args_expect(NULL, &o, -1, "--by needs a value", "--by", NULL);
	args_expect(NULL, &o, -1, "--config needs a value", "--config", NULL);
	args_expect(NULL, &o, -1, "--by is given twice", "--by", "day", "--by",
	    "key", NULL);
	args_expect(NULL, &o, -1, "--config: the file name is empty",
	    "--config", "", NULL);
}

/* The table t prints for by, as a string (malloc'd). */
static char *
printed(const struct cs_usage_table *t, const char *by)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);

	assert_non_null(f);
	assert_int_equal(cs_usage_table_print(t, by, f), 0);
	fclose(f);
	return text;
}

static void
test_table(void **state)
{
	struct cs_usage_table t = { 0 };
	char *s;

	(void)state;
	/* As the store hands them: ascending by group. */
	cs_usage_table_add(&t, "gen-3", 2, 14, 6);
	cs_usage_table_add(&t, "gen-20", 1, 7, 20);
	cs_usage_table_add(&t, "gen-5", 3, 21, 15);
	cs_usage_table_sort(&t, "model");
	s = printed(&t, "model");
	assert_string_equal(s,
	    "model   requests  prompt tokens  completion tokens  total tokens\n"
	    "gen-5          3             21                 15            36\n"
	    "gen-20         1              7                 20            27\n"
	    "gen-3          2             14                  6            20\n"
	    "----------------------------------------------------------------\n"
	    "total          6             42                 41            83\n");
	free(s);
	cs_usage_table_free(&t);
	assert_int_equal(t.n, 0);

	/* Days ascending, whatever the order given; wide numbers widen
	 * their column. */
	cs_usage_table_add(&t, "2026-12-04", 1, 5, 5);
	cs_usage_table_add(&t, "2026-12-02", 123456, 1234567890123LL, 7);
	cs_usage_table_sort(&t, "day");
	s = printed(&t, "day");
	assert_string_equal(s,
	    "day         requests  prompt tokens  completion tokens   "
	    "total tokens\n"
	    "2026-12-02    123456  1234567890123                  7  "
	    "1234567890130\n"
	    "2026-12-04         1              5                  5  "
	    "           10\n"
	    "----------------------------------------------------------"
	    "-----------\n"
	    "total         123457  1234567890128                 12  "
	    "1234567890140\n");
	free(s);
	cs_usage_table_free(&t);

	/* Equal totals by group; an empty group is "(none)"; a control
	 * byte is shown as "?"; UTF-8 counts one column a character. */
	cs_usage_table_add(&t, "", 1, 1, 1);
	cs_usage_table_add(&t, "b\x1b[2J", 1, 1, 1);
	cs_usage_table_add(&t, "\xc3\xa9t\xc3\xa9", 4, 10, 0);
	cs_usage_table_sort(&t, "key");
	s = printed(&t, "key");
	assert_string_equal(s,
	    "key     requests  prompt tokens  completion tokens  total tokens\n"
	    "\xc3\xa9t\xc3\xa9            4             10                  0 "
	    "           10\n"
	    "(none)         1              1                  1             2\n"
	    "b?[2J          1              1                  1             2\n"
	    "----------------------------------------------------------------\n"
	    "total          6             12                  2            14\n");
	free(s);
	cs_usage_table_free(&t);

	/* Nothing: the header and a zero total. */
	s = printed(&t, "identity");
	assert_string_equal(s,
	    "identity  requests  prompt tokens  completion tokens  "
	    "total tokens\n"
	    "----------------------------------------------------------"
	    "--------\n"
	    "total            0              0                  0  "
	    "           0\n");
	free(s);
	cs_usage_table_free(NULL);
}

/* Run the command on argv; its exit code, stdout and stderr. */
static int
run(char **out, char **errs, ...)
{
	char *argv[16];
	size_t lo = 0, le = 0;
	FILE *fo = open_memstream(out, &lo), *fe = open_memstream(errs, &le);
	va_list ap;
	int argc = 0, rc;

	va_start(ap, errs);
	while (argc < 16 && (argv[argc] = va_arg(ap, char *)) != NULL)
		argc++;
	va_end(ap);
	rc = cs_usage_main(argc, argv, fo, fe);
	fclose(fo);
	fclose(fe);
	return rc;
}

static void
write_text(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static void
add(struct cs_state *st, long long t, const char *ident, const char *model,
    long long pt, long long ct)
{
	struct cs_ledger_rec r = { 0 };

	r.time_ms = t;
	r.request_id = "r";
	r.identity = ident;
	r.model = model;
	r.upstream = "default";
	r.outcome = "done";
	r.prompt_tokens = pt;
	r.completion_tokens = ct;
	r.generated_tokens = r.delivered_tokens = ct;
	assert_int_equal(cs_state_ledger_add(st, &r), CS_OK);
}

static void
test_command(void **state)
{
	char conf[128], spec[192], err[256], *out = NULL, *errs = NULL;
	struct cs_state *st = NULL;
	struct timespec ts;
	long long now;

	(void)state;
	unsetenv("CHATSTREAM_CONFIG");
	/* No config: nothing to read. */
	assert_int_equal(run(&out, &errs, "--by", "model", NULL), 2);
	assert_non_null(strstr(errs, "chatstream usage: no config file"));
	assert_string_equal(out, "");
	free(out), free(errs);

	/* The default store, beside the file, not there yet. */
	snprintf(conf, sizeof(conf), "%s/chatstream.conf", tmpdir);
	write_text(conf, "concurrent_streams = 2\n");
	assert_int_equal(run(&out, &errs, "--config", conf, NULL), 2);
	assert_non_null(strstr(errs, "chatstream-state.db: No such file"));
	free(out), free(errs);

	/* A ledger: two models, one record too old for --since 1d. */
	snprintf(spec, sizeof(spec), "sqlite:%s/chatstream-state.db", tmpdir);
	assert_int_equal(cs_state_open(spec, &st, err, sizeof(err)), CS_OK);
	clock_gettime(CLOCK_REALTIME, &ts);
	now = (long long)ts.tv_sec * 1000;
	add(st, now - 1000, "iph:aa", "gen-3", 7, 3);
	add(st, now - 2000, "iph:bb", "gen-3", 7, 3);
	add(st, now - 3000, "iph:aa", "gen-5", 7, 5);
	add(st, now - 3 * 86400000LL, "iph:aa", "gen-5", 100, 100);
	cs_state_close(st);

	setenv("CHATSTREAM_CONFIG", conf, 1);
	assert_int_equal(
	    run(&out, &errs, "--by", "model", "--since", "1d", NULL), 0);
	assert_string_equal(errs, "");
	assert_non_null(strstr(out,
	    "(the last 1d), by model\n\n"
	    "model  requests  prompt tokens  "
	    "completion tokens  total tokens\n"
	    "gen-3         2             14  "
	    "                6            20\n"
	    "gen-5         1              7  "
	    "                5            12\n"));
	assert_non_null(strstr(out,
	    "\ntotal         3             21  "
	    "               11            32\n"));
	free(out), free(errs);
	unsetenv("CHATSTREAM_CONFIG");

	/* The default 7d takes the old one too. */
	assert_int_equal(
	    run(&out, &errs, "--config", conf, "--by", "identity", NULL), 0);
	assert_non_null(strstr(out, "\niph:aa           3  "));
	assert_non_null(strstr(out, "\ntotal            4  "));
	free(out), free(errs);

	/* Bad options: one line, the synopsis, 2. */
	assert_int_equal(
	    run(&out, &errs, "--config", conf, "--by", "week", NULL), 2);
	assert_non_null(strstr(errs, "chatstream usage: --by: \"week\""));
	assert_string_equal(out, "");
	free(out), free(errs);
	assert_int_equal(run(&out, &errs, "--help", NULL), 0);
	assert_non_null(strstr(out, "usage: chatstream usage [--config FILE]"));
	free(out), free(errs);

	/* state = memory cannot be read from another process; a config
	 * that does not load is its file:line error. */
	write_text(conf, "state = memory\n");
	assert_int_equal(run(&out, &errs, "--config", conf, NULL), 2);
	assert_non_null(strstr(errs, "state = memory"));
	free(out), free(errs);
	write_text(conf, "\nledger_days = forever\n");
	assert_int_equal(run(&out, &errs, "--config", conf, NULL), 2);
	assert_non_null(strstr(errs, "chatstream.conf:2: ledger_days:"));
	free(out), free(errs);
}

static int
group_setup(void **state)
{
	(void)state;
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/cs_test_usage.XXXXXX");
	return mkdtemp(tmpdir) == NULL ? -1 : 0;
}

/* The files the cases leave (the store adds -wal and -shm), then the
 * directory. */
static int
group_teardown(void **state)
{
	static const char *const left[] = { "chatstream.conf",
		"chatstream-state.db", "chatstream-state.db-wal",
		"chatstream-state.db-shm" };
	char path[128];
	size_t i;

	(void)state;
	for (i = 0; i < CS_ARRAY_LEN(left); i++) {
		snprintf(path, sizeof(path), "%s/%s", tmpdir, left[i]);
		unlink(path);
	}
	return rmdir(tmpdir);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_since),
		cmocka_unit_test(test_args),
		cmocka_unit_test(test_table),
		cmocka_unit_test(test_command),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
