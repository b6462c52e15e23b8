/*
 * test_config.c — the config file: every bad fixture fails on the right
 * line with the right message, the shipped sample equals the defaults, each
 * value type's edge cases, and cs_config_resolve(): key file and its
 * permission warning (never showing the key), environment, provider choice
 * and model rules.
 */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "provider.h"
#include "testutil.h"

#define SAMPLE_CONF "conf/chatstream.conf"

static char tmpdir[64];

/* tests/fixtures/config/NAME, honouring $CS_FIXTURES. */
static const char *
fixture(const char *name)
{
	static char path[512];
	const char *dir = getenv("CS_FIXTURES");

	snprintf(path, sizeof(path), "%s/config/%s",
	    dir != NULL && *dir != '\0' ? dir : "tests/fixtures", name);
	return path;
}

/* Write n bytes to TMPDIR/name with the given mode; returns the path. */
static const char *
write_tmp(const char *name, const char *data, size_t n, mode_t mode)
{
	static char path[256];
	int fd;

	snprintf(path, sizeof(path), "%s/%s", tmpdir, name);
	unlink(path);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, data, n), (ssize_t)n);
	assert_int_equal(fchmod(fd, mode), 0);
	close(fd);
	return path;
}

static const char *
write_conf(const char *text)
{
	return write_tmp("t.conf", text, strlen(text), 0600);
}

static void
clear_env(void)
{
	unsetenv("OPENAI_API_KEY");
	unsetenv("OPENAI_BASE_URL");
	unsetenv("CS_TEST_KEY");
	unsetenv("STATE_DIRECTORY");
}

static int
group_setup(void **state)
{
	(void)state;
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/cs_test_config.XXXXXX");
	if (mkdtemp(tmpdir) == NULL)
		return -1;
	clear_env();
	return 0;
}

static int
group_teardown(void **state)
{
	char cmd[128];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	return system(cmd) == 0 ? 0 : -1;
}

/* Load path over the defaults; expect rc and, on error, errsub in err. */
static void
load_expect(struct cs_config *cfg, const char *path, enum cs_err want,
    const char *errsub)
{
	char err[1024] = "";
	enum cs_err rc;

	cs_config_defaults(cfg);
	rc = cs_config_load(cfg, path, err, sizeof(err));
	if (rc != want)
		fail_msg(
		    "%s: rc %d, want %d (err \"%s\")", path, rc, want, err);
	if (errsub != NULL && strstr(err, errsub) == NULL)
		fail_msg("%s: error \"%s\" lacks \"%s\"", path, err, errsub);
}

/* ---- defaults and the shipped sample ---------------------------------- */

static void
test_defaults(void **state)
{
	struct cs_config c;

	(void)state;
	cs_config_defaults(&c);
	assert_string_equal(c.listen, "");
	assert_int_equal(c.loops, 0);
	assert_int_equal(c.max_streams, 0);
	assert_int_equal(c.threads, 16);
	assert_int_equal(c.max_body_bytes, 262144);
	assert_int_equal(c.max_messages, 256);
	assert_int_equal(c.max_message_bytes, 65536);
	assert_int_equal(c.keepalive_ms, 15000);
	assert_int_equal(c.shutdown_grace_ms, 30000);
	assert_null(c.upstreams[0].provider);
	assert_string_equal(c.upstreams[0].base_url, "");
	assert_string_equal(c.upstreams[0].api_key_file, "");
	assert_string_equal(c.upstreams[0].api_key_env, "OPENAI_API_KEY");
	assert_int_equal(c.upstreams[0].connect_timeout_ms, 10000);
	assert_int_equal(c.upstreams[0].first_byte_timeout_ms, 120000);
	assert_int_equal(c.upstreams[0].idle_timeout_ms, 90000);
	assert_int_equal(c.upstreams[0].total_timeout_ms, 900000);
	assert_int_equal(c.upstreams[0].max_retries, 2);
	assert_int_equal(c.n_models, 0);
	assert_string_equal(c.default_model, "");
	assert_int_equal(c.client_instructions, 1);
	assert_string_equal(c.instructions, "");
	assert_int_equal(c.client_tools, 1);
	assert_int_equal(c.demo_words_per_second, 20);
	assert_int_equal(c.self_check, 1);
	assert_null(c.upstreams[0].api_key);
	assert_string_equal(
	    c.upstreams[0].base_url_eff, "https://api.openai.com/v1");
	assert_string_equal(c.upstreams[0].key_source, "none");
}

static void
test_sample_equals_defaults(void **state)
{
	static const char *const names[] = {
		"listen",
		"threads",
		"loops",
		"max_streams",
		"max_body_bytes",
		"max_messages",
		"max_message_bytes",
		"keepalive_seconds",
		"shutdown_grace_seconds",
		"write_timeout_seconds",
		"max_pending_bytes",
		"provider",
		"base_url",
		"api_key_file",
		"api_key_env",
		"connect_timeout_seconds",
		"first_byte_timeout_seconds",
		"idle_timeout_seconds",
		"total_timeout_seconds",
		"max_retries",
		"default_model",
		"client_instructions",
		"instructions",
		"client_tools",
		"demo_words_per_second",
		"self_check",
	};
	struct cs_config def, c;
	char *text, pat[64];
	size_t i;

	(void)state;
	cs_config_defaults(&def);
	load_expect(&c, SAMPLE_CONF, CS_OK, NULL);
	assert_memory_equal(&c, &def, sizeof(c));

	/* Every key is shown, as a live line, and the model line too. */
	text = tu_read_file(SAMPLE_CONF, NULL);
	for (i = 0; i < CS_ARRAY_LEN(names); i++) {
		snprintf(pat, sizeof(pat), "\n%s = ", names[i]);
		if (strstr(text, pat) == NULL)
			fail_msg(
			    "%s does not show key %s", SAMPLE_CONF, names[i]);
	}
	assert_non_null(strstr(text, "\n#model = "));
	free(text);
}

static void
test_empty_file(void **state)
{
	struct cs_config def, c;

	(void)state;
	cs_config_defaults(&def);
	load_expect(&c, write_conf(""), CS_OK, NULL);
	assert_memory_equal(&c, &def, sizeof(c));
	load_expect(
	    &c, write_conf("\n\n  \n\t# only comments\n#x=y"), CS_OK, NULL);
	assert_memory_equal(&c, &def, sizeof(c));
}

/* ---- bad files --------------------------------------------------------- */

static void
test_bad_fixtures(void **state)
{
	static const struct {
		const char *file;
		const char *want;
	} bad[] = {
		{ "bad_unknown_key.conf",
		    "bad_unknown_key.conf:4: unknown key \"colour\"" },
		{ "bad_no_equals.conf",
		    "bad_no_equals.conf:2: expected \"key = value\"" },
		{ "bad_empty_key.conf",
		    "bad_empty_key.conf:3: missing key before '='" },
		{ "bad_duplicate.conf",
		    "bad_duplicate.conf:5: threads: already set on line 2" },
		{ "bad_int.conf",
		    "bad_int.conf:3: threads: \"abc\" is not an "
		    "integer (1..1024)" },
		{ "bad_int_range.conf",
		    "bad_int_range.conf:1: threads: \"0\" "
		    "is out of range (1..1024)" },
		{ "bad_int_plus.conf",
		    "bad_int_plus.conf:2: threads: \"+5\" "
		    "is not an integer (1..1024)" },
		{ "bad_int_overflow.conf",
		    "bad_int_overflow.conf:2: "
		    "max_messages: \"99999999999999999999999\" is out of "
		    "range (1..10000)" },
		{ "bad_int_trailing_comment.conf",
		    "bad_int_trailing_comment.conf:2: threads: \"4 # four\" "
		    "is not an integer" },
		{ "bad_size.conf",
		    "bad_size.conf:2: max_body_bytes: \"64x\" "
		    "is not a size" },
		{ "bad_size_range.conf",
		    "bad_size_range.conf:4: "
		    "max_body_bytes: \"512\" is out of range "
		    "(1024..16777216 bytes)" },
		{ "bad_size_ceiling.conf",
		    "bad_size_ceiling.conf:2: "
		    "max_body_bytes: \"17m\" is out of range" },
		{ "bad_duration_exp.conf",
		    "bad_duration_exp.conf:2: "
		    "keepalive_seconds: \"1e3\" is not a duration" },
		{ "bad_duration_frac.conf",
		    "bad_duration_frac.conf:2: "
		    "idle_timeout_seconds: \"1.2345\" is not a duration" },
		{ "bad_duration_neg.conf",
		    "bad_duration_neg.conf:2: "
		    "shutdown_grace_seconds: \"-1\" is not a duration" },
		{ "bad_duration_range.conf",
		    "bad_duration_range.conf:2: "
		    "keepalive_seconds: \"0.05\" is out of range (0.1..300 "
		    "seconds)" },
		{ "bad_bool_value.conf",
		    "bad_bool_value.conf:2: "
		    "client_instructions: \"maybe\" is not a boolean" },
		{ "bad_enum.conf",
		    "bad_enum.conf:2: provider: \"bedrock\" "
		    "is not one of auto, demo, openai-chat, openai-responses, "
		    "openai-completions, anthropic, ollama" },
		{ "bad_base_url.conf",
		    "bad_base_url.conf:2: base_url: "
		    "\"ftp://example.com/v1\" must start with http:// or "
		    "https://" },
		{ "bad_base_url_nohost.conf",
		    "bad_base_url_nohost.conf:1: "
		    "base_url: \"https://\" must start with" },
		{ "bad_api_key_env.conf",
		    "bad_api_key_env.conf:2: "
		    "api_key_env: \"1BAD-NAME\" is not an environment "
		    "variable name" },
		{ "bad_string_long.conf",
		    "bad_string_long.conf:2: listen: "
		    "value is too long (at most 255 bytes)" },
		{ "bad_quote_unterminated.conf",
		    "bad_quote_unterminated.conf:2: unterminated quoted "
		    "value" },
		{ "bad_quote_escape.conf",
		    "bad_quote_escape.conf:2: invalid "
		    "escape \"\\n\" in quoted value" },
		{ "bad_quote_trailing.conf",
		    "bad_quote_trailing.conf:2: "
		    "unexpected text after the closing quote" },
		{ "bad_model_name.conf",
		    "bad_model_name.conf:3: model: "
		    "\"bad!name\" is not a valid model name" },
		{ "bad_model_dup.conf",
		    "bad_model_dup.conf:3: model: "
		    "\"gpt-4o\" is listed twice" },
		{ "bad_model_tokens.conf",
		    "bad_model_tokens.conf:2: model: "
		    "max_tokens \"10000001\" is out of range (0..10000000" },
		{ "bad_model_tokens_neg.conf",
		    "bad_model_tokens_neg.conf:2: "
		    "model: max_tokens \"-5\" is not an integer" },
		{ "bad_model_fields.conf",
		    "bad_model_fields.conf:2: model: "
		    "expected \"NAME [MAX_TOKENS]\"" },
		{ "bad_model_empty.conf",
		    "bad_model_empty.conf:2: model: "
		    "expected \"NAME [MAX_TOKENS]\"" },
		{ "bad_too_many_models.conf",
		    "bad_too_many_models.conf:34: "
		    "model: more than 32 models" },
		{ "bad_section_header.conf",
		    "bad_section_header.conf:2: a "
		    "section header must end with ']'" },
		{ "bad_section_kind.conf",
		    "bad_section_kind.conf:1: unknown "
		    "section [provider] (expected upstream, model or key)" },
		{ "bad_section_noname.conf",
		    "bad_section_noname.conf:2: "
		    "expected [upstream NAME], [model NAME] or [key NAME]" },
		{ "bad_section_top_key.conf",
		    "bad_section_top_key.conf:2: "
		    "threads: only allowed in the top level, before any "
		    "[section]" },
		{ "bad_section_wrong_scope.conf",
		    "bad_section_wrong_scope.conf:3: max_tokens: only allowed "
		    "in a [model NAME] section" },
		{ "bad_upstream_dup.conf",
		    "bad_upstream_dup.conf:2: upstream: "
		    "\"a\" is already defined" },
		{ "bad_upstream_default.conf",
		    "bad_upstream_default.conf:1: "
		    "upstream: \"default\" is the name of the top-level "
		    "upstream" },
		{ "bad_model_section_dup.conf",
		    "bad_model_section_dup.conf:2: "
		    "model: \"fast\" is listed twice (first on line 1)" },
		{ "bad_header.conf",
		    "bad_header.conf:1: header: expected "
		    "\"Name: value\"" },
		{ "bad_header_own.conf",
		    "bad_header_own.conf:2: header: "
		    "Content-Type is set by chatstream itself" },
		{ "bad_too_many_headers.conf",
		    "bad_too_many_headers.conf:9: "
		    "header: more than 8 headers" },
		{ "bad_temperature.conf",
		    "bad_temperature.conf:2: "
		    "temperature: \"2.5\" is out of range (0..2)" },
		{ "bad_api_version.conf",
		    "bad_api_version.conf:3: "
		    "api_version: \"2024/10\" may only contain" },
		{ "bad_model_key_twice.conf",
		    "bad_model_key_twice.conf:3: "
		    "max_tokens: already set on line 2" },
	};
	struct cs_config c;
	size_t i;

	(void)state;
	for (i = 0; i < CS_ARRAY_LEN(bad); i++)
		load_expect(&c, fixture(bad[i].file), CS_ECONFIG, bad[i].want);
}

static void
test_unreadable(void **state)
{
	struct cs_config c;
	char want[1024];

	(void)state;
	load_expect(&c, fixture("no_such_file.conf"), CS_ESYS, NULL);
	snprintf(want, sizeof(want), "%s: No such file or directory",
	    fixture("no_such_file.conf"));
	load_expect(&c, fixture("no_such_file.conf"), CS_ESYS, want);
	snprintf(want, sizeof(want), "%s: Is a directory", tmpdir);
	load_expect(&c, tmpdir, CS_ESYS, want);
}

/* NUL, control characters, over-long lines: written here, not in git. */
static void
test_bad_bytes(void **state)
{
	struct cs_config c;
	char *big;
	size_t n = 16 * 1024;

	(void)state;
	load_expect(&c,
	    write_tmp("t.conf", "threads = 4\nlisten = a\0b\n", 25, 0600),
	    CS_ECONFIG, "t.conf:2: line contains a NUL byte");
	load_expect(&c, write_conf("# ok\n\ninstructions = a\x01z\n"),
	    CS_ECONFIG, "t.conf:3: line contains a control character");
	load_expect(&c, write_conf("instructions = \"a\tb\"\n"), CS_OK, NULL);
	assert_string_equal(c.instructions, "a\tb");

	/* Exactly the cap is fine (a comment), one byte more is not. */
	big = malloc(n + 3);
	assert_non_null(big);
	memset(big, 'x', n + 2);
	big[0] = '#';
	big[n] = '\n';
	load_expect(&c, write_tmp("t.conf", big, n + 1, 0600), CS_OK, NULL);
	big[n] = 'x';
	big[n + 1] = '\n';
	load_expect(&c, write_tmp("t.conf", big, n + 2, 0600), CS_ECONFIG,
	    "t.conf:1: line is longer than 16384 bytes");
	/* Also without a final newline, and on a later line. */
	memset(big, 'x', n + 3);
	memcpy(big, "\n\n#", 3);
	load_expect(&c, write_tmp("t.conf", big, n + 3, 0600), CS_ECONFIG,
	    "t.conf:3: line is longer than 16384 bytes");
	free(big);
}

/* ---- good files ------------------------------------------------------- */

static void
test_good_full(void **state)
{
	struct cs_config c;

	(void)state;
	load_expect(&c, fixture("good_full.conf"), CS_OK, NULL);
	assert_string_equal(c.listen, "127.0.0.1:9000");
	assert_int_equal(c.threads, 4);
	assert_int_equal(c.max_body_bytes, 1024 * 1024);
	assert_int_equal(c.max_messages, 50);
	assert_int_equal(c.max_message_bytes, 4096);
	assert_int_equal(c.keepalive_ms, 500);
	assert_int_equal(c.shutdown_grace_ms, 0);
	assert_ptr_equal(
	    c.upstreams[0].provider, cs_provider_find("openai-chat"));
	assert_string_equal(
	    c.upstreams[0].base_url, "http://127.0.0.1:11434/v1/");
	assert_string_equal(c.upstreams[0].api_key_file, "/nonexistent/key");
	assert_string_equal(c.upstreams[0].api_key_env, "MY_KEY_VAR");
	assert_int_equal(c.upstreams[0].connect_timeout_ms, 2250);
	assert_int_equal(c.upstreams[0].first_byte_timeout_ms, 60000);
	assert_int_equal(c.upstreams[0].idle_timeout_ms, 30125);
	assert_int_equal(c.upstreams[0].total_timeout_ms, 86400000);
	assert_int_equal(c.upstreams[0].max_retries, 0);
	assert_int_equal(c.n_models, 3);
	assert_string_equal(c.models[0].name, "gpt-4o-mini");
	assert_int_equal(c.models[0].max_tokens, 4096);
	assert_string_equal(c.models[1].name, "llama3.1:8b");
	assert_int_equal(c.models[1].max_tokens, 0);
	assert_string_equal(c.models[2].name, "org/model@v1+x_y");
	assert_int_equal(c.models[2].max_tokens, 0);
	assert_string_equal(c.default_model, "llama3.1:8b");
	assert_int_equal(c.client_instructions, 0);
	assert_string_equal(c.instructions, "Be brief.");
	assert_int_equal(c.demo_words_per_second, 1000);
}

static void
test_quoted(void **state)
{
	struct cs_config c;

	(void)state;
	load_expect(&c, fixture("good_quoted.conf"), CS_OK, NULL);
	assert_string_equal(c.listen, "  spaced  ");
	assert_string_equal(
	    c.instructions, "You are \"helpful\" \\ and # not a comment");
	assert_string_equal(c.upstreams[0].api_key_env, "CHATSTREAM_KEY");
	/* Unquoted: '#' inside a value is literal. */
	assert_string_equal(
	    c.upstreams[0].base_url, "https://example.com/v1#frag");
	assert_string_equal(c.default_model, "");

	load_expect(&c, write_conf("instructions = \"\"\n"), CS_OK, NULL);
	assert_string_equal(c.instructions, "");
	load_expect(&c, write_conf("instructions = \"\\\\\"\n"), CS_OK, NULL);
	assert_string_equal(c.instructions, "\\");
	load_expect(&c, write_conf("instructions = a \"b\" c\n"), CS_OK, NULL);
	assert_string_equal(c.instructions, "a \"b\" c");
	load_expect(&c, write_conf("instructions = \"ab\\\"\n"), CS_ECONFIG,
	    "t.conf:1: unterminated quoted value");
	load_expect(&c, write_conf("instructions = \"ab\\"), CS_ECONFIG,
	    "t.conf:1: unterminated quoted value");
	/* Quoted numbers are numbers; quoting does not hide spaces. */
	load_expect(&c, write_conf("threads = \"8\"\n"), CS_OK, NULL);
	assert_int_equal(c.threads, 8);
	load_expect(&c, write_conf("keepalive_seconds = \" 5\"\n"), CS_ECONFIG,
	    "keepalive_seconds: \" 5\" is not a duration");
}

static void
test_crlf_bom(void **state)
{
	struct cs_config c;

	(void)state;
	load_expect(&c,
	    write_conf("\xef\xbb\xbfthreads = 3\r\n"
	               "instructions = \"hi\"\r\n\r\n# c\r\n"),
	    CS_OK, NULL);
	assert_int_equal(c.threads, 3);
	assert_string_equal(c.instructions, "hi");
}

static void
test_string_bounds(void **state)
{
	struct cs_config c;
	char line[9000];
	int n;

	(void)state;
	n = snprintf(line, sizeof(line), "listen = %0255d\n", 0);
	load_expect(
	    &c, write_tmp("t.conf", line, (size_t)n, 0600), CS_OK, NULL);
	assert_int_equal(strlen(c.listen), 255);
	n = snprintf(line, sizeof(line), "instructions = \"%08191d\"\n", 0);
	load_expect(
	    &c, write_tmp("t.conf", line, (size_t)n, 0600), CS_OK, NULL);
	assert_int_equal(strlen(c.instructions), 8191);
	n = snprintf(line, sizeof(line), "instructions = %08192d\n", 0);
	load_expect(&c, write_tmp("t.conf", line, (size_t)n, 0600), CS_ECONFIG,
	    "t.conf:1: instructions: value is too long (at most "
	    "8191 bytes)");
	n = snprintf(line, sizeof(line), "model = %0127d\n", 0);
	load_expect(
	    &c, write_tmp("t.conf", line, (size_t)n, 0600), CS_OK, NULL);
	n = snprintf(line, sizeof(line), "model = %0128d\n", 0);
	load_expect(&c, write_tmp("t.conf", line, (size_t)n, 0600), CS_ECONFIG,
	    "is not a valid model name");
}

/* ---- one table per value type ------------------------------------------ */

struct edge {
	const char *line;
	long long want;     /* value of the field when ok */
	const char *errsub; /* NULL = must load */
};

typedef long long (*getter)(const struct cs_config *);

static void
run_edges(const struct edge *e, size_t n, getter get)
{
	struct cs_config c;
	char text[256];
	size_t i;

	for (i = 0; i < n; i++) {
		snprintf(text, sizeof(text), "%s\n", e[i].line);
		load_expect(&c, write_conf(text),
		    e[i].errsub ? CS_ECONFIG : CS_OK, e[i].errsub);
		if (e[i].errsub == NULL && get(&c) != e[i].want)
			fail_msg("\"%s\": got %lld, want %lld", e[i].line,
			    get(&c), e[i].want);
	}
}

static long long
get_threads(const struct cs_config *c)
{
	return c->threads;
}

static long long
get_max_messages(const struct cs_config *c)
{
	return (long long)c->max_messages;
}

static long long
get_loops(const struct cs_config *c)
{
	return c->loops;
}

static long long
get_max_streams(const struct cs_config *c)
{
	return c->max_streams;
}

static long long
get_max_retries(const struct cs_config *c)
{
	return c->upstreams[0].max_retries;
}

static long long
get_body(const struct cs_config *c)
{
	return (long long)c->max_body_bytes;
}

static long long
get_msg_bytes(const struct cs_config *c)
{
	return (long long)c->max_message_bytes;
}

static long long
get_keepalive(const struct cs_config *c)
{
	return c->keepalive_ms;
}

static long long
get_grace(const struct cs_config *c)
{
	return c->shutdown_grace_ms;
}

static long long
get_total(const struct cs_config *c)
{
	return c->upstreams[0].total_timeout_ms;
}

static long long
get_ci(const struct cs_config *c)
{
	return c->client_instructions;
}

static long long
get_ct(const struct cs_config *c)
{
	return c->client_tools;
}

/* 0 for auto, else 1 + the provider's place in cs_providers[]. */
static long long
get_provider(const struct cs_config *c)
{
	long long i;

	for (i = 0; c->upstreams[0].provider != NULL && cs_providers[i] != NULL;
	     i++)
		if (cs_providers[i] == c->upstreams[0].provider)
			return i + 1;
	return 0;
}


static void
test_int_edges(void **state)
{
	/* Leading zeros are decimal ("08" is 8, not an octal error). */
	static const struct edge threads[] = {
		{ "threads = 1", 1, NULL },
		{ "threads = 1024", 1024, NULL },
		{ "threads = 08", 8, NULL },
		{ "threads = 0000000000000000000000000000007", 7, NULL },
		{ "threads = 1025", 0, "\"1025\" is out of range (1..1024)" },
		{ "threads = -1", 0, "\"-1\" is out of range (1..1024)" },
		{ "threads = -0", 0, "\"-0\" is out of range" },
		{ "threads = +5", 0, "\"+5\" is not an integer" },
		{ "threads = 0x10", 0, "\"0x10\" is not an integer" },
		{ "threads = 1 6", 0, "\"1 6\" is not an integer" },
		{ "threads = 16.0", 0, "\"16.0\" is not an integer" },
		{ "threads = -", 0, "\"-\" is not an integer" },
		{ "threads = --1", 0, "\"--1\" is not an integer" },
		{ "threads =", 0, "\"\" is not an integer" },
		{ "threads = 9223372036854775807", 0, "is out of range" },
		{ "threads = 9223372036854775808", 0, "is out of range" },
		{ "threads = -9223372036854775809", 0, "is out of range" },
		/* parse_dec's cap is LLONG_MAX + 1: both sides of it. */
		{ "threads = -9223372036854775808", 0, "is out of range" },
		{ "threads = -9223372036854775807", 0, "is out of range" },
		{ "threads = 18446744073709551616", 0, "is out of range" },
		{ "threads = -00", 0, "\"-00\" is out of range (1..1024)" },
		{ "threads = -08", 0, "\"-08\" is out of range (1..1024)" },
		{ "threads = - 1", 0, "\"- 1\" is not an integer" },
		{ "threads = 1-", 0, "\"1-\" is not an integer" },
		{ "threads = 4294967312", 0, "is out of range" },
	};
	static const struct edge msgs[] = {
		{ "max_messages = 10000", 10000, NULL },
		{ "max_messages = 10001", 0, "out of range (1..10000)" },
	};
	static const struct edge retries[] = {
		{ "max_retries = 0", 0, NULL },
		{ "max_retries = 5", 5, NULL },
		{ "max_retries = 6", 0, "out of range (0..5)" },
	};
	/* 0: one per CPU / from the open-file limit (resolved at start). */
	static const struct edge loops[] = {
		{ "loops = 0", 0, NULL },
		{ "loops = 256", 256, NULL },
		{ "loops = 257", 0, "out of range (0..256)" },
		{ "loops = -1", 0, "out of range (0..256)" },
	};
	static const struct edge streams[] = {
		{ "max_streams = 0", 0, NULL },
		{ "max_streams = 1000000", 1000000, NULL },
		{ "max_streams = 1000001", 0, "out of range (0..1000000)" },
		{ "max_streams = 1k", 0, "\"1k\" is not an integer" },
	};

	(void)state;
	run_edges(threads, CS_ARRAY_LEN(threads), get_threads);
	run_edges(msgs, CS_ARRAY_LEN(msgs), get_max_messages);
	run_edges(retries, CS_ARRAY_LEN(retries), get_max_retries);
	run_edges(loops, CS_ARRAY_LEN(loops), get_loops);
	run_edges(streams, CS_ARRAY_LEN(streams), get_max_streams);
}

static void
test_size_edges(void **state)
{
	static const struct edge body[] = {
		{ "max_body_bytes = 1024", 1024, NULL },
		{ "max_body_bytes = 1k", 1024, NULL },
		{ "max_body_bytes = 64k", 65536, NULL },
		{ "max_body_bytes = 64K", 65536, NULL },
		{ "max_body_bytes = 2m", 2097152, NULL },
		{ "max_body_bytes = 16M", 16777216, NULL },
		{ "max_body_bytes = 16384k", 16777216, NULL },
		{ "max_body_bytes = 16777217", 0, "out of range" },
		{ "max_body_bytes = 1023", 0, "out of range" },
		{ "max_body_bytes = 0k", 0, "out of range" },
		{ "max_body_bytes = k", 0, "\"k\" is not a size" },
		{ "max_body_bytes = 64 k", 0, "is not a size" },
		{ "max_body_bytes = 64kb", 0, "is not a size" },
		{ "max_body_bytes = 64g", 0, "is not a size" },
		{ "max_body_bytes = -64k", 0, "is not a size" },
		{ "max_body_bytes = 1.5m", 0, "is not a size" },
		{ "max_body_bytes = 9999999999999999m", 0, "out of range" },
		{ "max_body_bytes = 99999999999999999999999k", 0,
		    "out of range" },
	};
	static const struct edge msg[] = {
		{ "max_message_bytes = 1", 1, NULL },
		{ "max_message_bytes = 0", 0, "out of range (1..16777216" },
	};

	(void)state;
	run_edges(body, CS_ARRAY_LEN(body), get_body);
	run_edges(msg, CS_ARRAY_LEN(msg), get_msg_bytes);
}

static void
test_duration_edges(void **state)
{
	static const struct edge ka[] = {
		{ "keepalive_seconds = 0.5", 500, NULL },
		{ "keepalive_seconds = 2.25", 2250, NULL },
		{ "keepalive_seconds = 0.1", 100, NULL },
		{ "keepalive_seconds = 0.100", 100, NULL },
		{ "keepalive_seconds = 300", 300000, NULL },
		{ "keepalive_seconds = 300.000", 300000, NULL },
		{ "keepalive_seconds = 007", 7000, NULL },
		{ "keepalive_seconds = 300.001", 0,
		    "\"300.001\" is out of range (0.1..300 seconds)" },
		{ "keepalive_seconds = 0.099", 0, "out of range" },
		{ "keepalive_seconds = 0", 0, "out of range" },
		{ "keepalive_seconds = 1.2345", 0, "is not a duration" },
		{ "keepalive_seconds = -1", 0, "is not a duration" },
		{ "keepalive_seconds = 1e3", 0, "is not a duration" },
		{ "keepalive_seconds = 1E3", 0, "is not a duration" },
		{ "keepalive_seconds =", 0, "\"\" is not a duration" },
		{ "keepalive_seconds = 5.", 0, "is not a duration" },
		{ "keepalive_seconds = .5", 0, "is not a duration" },
		{ "keepalive_seconds = 1.2.3", 0, "is not a duration" },
		{ "keepalive_seconds = +5", 0, "is not a duration" },
		{ "keepalive_seconds = 5s", 0, "is not a duration" },
		{ "keepalive_seconds = 0x10", 0, "is not a duration" },
		{ "keepalive_seconds = 1.-5", 0, "is not a duration" },
		{ "keepalive_seconds = 99999999999999999999", 0,
		    "out of range" },
		{ "keepalive_seconds = 9223372036854775.807", 0,
		    "out of range" },
	};
	static const struct edge grace[] = {
		{ "shutdown_grace_seconds = 0", 0, NULL },
		{ "shutdown_grace_seconds = 0.001", 1, NULL },
		{ "shutdown_grace_seconds = 3600", 3600000, NULL },
		{ "shutdown_grace_seconds = 3600.5", 0,
		    "out of range (0..3600 seconds)" },
	};
	static const struct edge total[] = {
		{ "total_timeout_seconds = 86400", 86400000, NULL },
		{ "total_timeout_seconds = 0.999", 0,
		    "out of range (1..86400 seconds)" },
	};

	(void)state;
	run_edges(ka, CS_ARRAY_LEN(ka), get_keepalive);
	run_edges(grace, CS_ARRAY_LEN(grace), get_grace);
	run_edges(total, CS_ARRAY_LEN(total), get_total);
}

static void
test_bool_enum_edges(void **state)
{
	static const struct edge ci[] = {
		{ "client_instructions = yes", 1, NULL },
		{ "client_instructions = no", 0, NULL },
		{ "client_instructions = true", 1, NULL },
		{ "client_instructions = false", 0, NULL },
		{ "client_instructions = on", 1, NULL },
		{ "client_instructions = off", 0, NULL },
		{ "client_instructions = 1", 1, NULL },
		{ "client_instructions = 0", 0, NULL },
		{ "client_instructions = YES", 1, NULL },
		{ "client_instructions = Off", 0, NULL },
		{ "client_instructions = 2", 0, "is not a boolean" },
		{ "client_instructions = y", 0, "is not a boolean" },
		{ "client_instructions =", 0, "is not a boolean" },
	};
	static const struct edge ct[] = {
		{ "client_tools = yes", 1, NULL },
		{ "client_tools = no", 0, NULL },
		{ "client_tools = off", 0, NULL },
		{ "client_tools = maybe", 0, "is not a boolean" },
	};
	static const struct edge prov[] = {
		{ "provider = auto", 0, NULL },
		{ "provider = demo", 1, NULL },
		{ "provider = openai-chat", 2, NULL },
		{ "provider = openai-responses", 3, NULL },
		{ "provider = openai-completions", 4, NULL },
		{ "provider = anthropic", 5, NULL },
		{ "provider = ollama", 6, NULL },
		{ "provider = Demo", 0,
		    "is not one of auto, demo, "
		    "openai-chat" },
		{ "provider = openai", 0, "is not one of" },
		{ "provider =", 0, "is not one of" },
	};

	(void)state;
	run_edges(ci, CS_ARRAY_LEN(ci), get_ci);
	run_edges(ct, CS_ARRAY_LEN(ct), get_ct);
	run_edges(prov, CS_ARRAY_LEN(prov), get_provider);
}

static void
test_models(void **state)
{
	struct cs_config c;

	(void)state;
	load_expect(&c,
	    write_conf("model = a\nmodel =  b \t 10000000\n"
	               "model = \"c 0\"\n"),
	    CS_OK, NULL);
	assert_int_equal(c.n_models, 3);
	assert_string_equal(c.models[0].name, "a");
	assert_int_equal(c.models[0].max_tokens, 0);
	assert_string_equal(c.models[1].name, "b");
	assert_int_equal(c.models[1].max_tokens, 10000000);
	assert_string_equal(c.models[2].name, "c");
	assert_int_equal(c.models[2].max_tokens, 0);
	load_expect(&c, write_conf("model = a 1x\n"), CS_ECONFIG,
	    "t.conf:1: model: max_tokens \"1x\" is not an integer");
	load_expect(
	    &c, write_conf("model = a +1\n"), CS_ECONFIG, "is not an integer");
	load_expect(&c, write_conf("model = a 99999999999999999999\n"),
	    CS_ECONFIG, "is out of range");
	load_expect(&c, write_conf("model = caf\xc3\xa9\n"), CS_ECONFIG,
	    "is not a valid model name");
	/* Names differing only in case are different models. */
	load_expect(&c, write_conf("model = A\nmodel = a\n"), CS_OK, NULL);
	assert_int_equal(c.n_models, 2);
}

static void
test_duplicates(void **state)
{
	struct cs_config c;

	(void)state;
	load_expect(&c, write_conf("provider = demo\n\nprovider = demo\n"),
	    CS_ECONFIG, "t.conf:3: provider: already set on line 1");
	load_expect(&c, write_conf("listen = a\nlisten = a\n"), CS_ECONFIG,
	    "t.conf:2: listen: already set on line 1");
	/* Keys are case-sensitive and must not have a '=' in them. */
	load_expect(&c, write_conf("Threads = 4\n"), CS_ECONFIG,
	    "unknown key \"Threads\"");
	load_expect(&c, write_conf("max retries = 4\n"), CS_ECONFIG,
	    "unknown key \"max retries\"");
	/* '=' inside a value is part of the value. */
	load_expect(&c, write_conf("instructions = a=b\n"), CS_OK, NULL);
	assert_string_equal(c.instructions, "a=b");
}

/* ---- resolve ------------------------------------------------------------ */

/* Run resolve with stderr in a file; returns what was written there. */
static char *
resolve_capture(struct cs_config *c, enum cs_err want, const char *errsub)
{
	char err[1024] = "", path[256];
	enum cs_err rc;
	int fd, saved;

	snprintf(path, sizeof(path), "%s/stderr", tmpdir);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	assert_true(fd >= 0);
	fflush(stderr);
	saved = dup(2);
	assert_true(saved >= 0);
	assert_int_equal(dup2(fd, 2), 2);
	close(fd);
	rc = cs_config_resolve(c, err, sizeof(err));
	fflush(stderr);
	dup2(saved, 2);
	close(saved);
	if (rc != want)
		fail_msg("resolve: rc %d, want %d (err \"%s\")", rc, want, err);
	if (errsub != NULL && strstr(err, errsub) == NULL)
		fail_msg("resolve: error \"%s\" lacks \"%s\"", err, errsub);
	return tu_read_file(path, NULL);
}

static void
resolve_quiet(struct cs_config *c, enum cs_err want, const char *errsub)
{
	char *out = resolve_capture(c, want, errsub);

	if (*out != '\0')
		fail_msg("unexpected stderr: %s", out);
	free(out);
}

static void
set_key_file(struct cs_config *c, const char *path)
{
	assert_true(strlen(path) < sizeof(c->upstreams[0].api_key_file));
	snprintf(c->upstreams[0].api_key_file,
	    sizeof(c->upstreams[0].api_key_file), "%s", path);
}

/* max_tokens_cap caps every model without its own cap; 0 = none. */
static void
test_max_tokens_cap(void **state)
{
	struct cs_config c;

	(void)state;
	load_expect(&c, write_conf("model = a\nmodel = b 9000\n"), CS_OK, NULL);
	resolve_quiet(&c, CS_OK, NULL);
	assert_int_equal(c.models[0].max_tokens, 4096);
	assert_int_equal(c.models[1].max_tokens, 9000);
	cs_config_free(&c);
	load_expect(
	    &c, write_conf("max_tokens_cap = 0\nmodel = a\n"), CS_OK, NULL);
	resolve_quiet(&c, CS_OK, NULL);
	assert_int_equal(c.models[0].max_tokens, 0);
	cs_config_free(&c);
	load_expect(
	    &c, write_conf("max_tokens_cap = 100\nmodel = a\n"), CS_OK, NULL);
	resolve_quiet(&c, CS_OK, NULL);
	assert_int_equal(c.models[0].max_tokens, 100);
	cs_config_free(&c);
}

static void
test_resolve_defaults(void **state)
{
	struct cs_config c;

	(void)state;
	clear_env();
	cs_config_defaults(&c);
	resolve_quiet(&c, CS_OK, NULL);
	assert_ptr_equal(c.upstreams[0].provider_eff, cs_provider_find("demo"));
	assert_null(c.upstreams[0].api_key);
	assert_string_equal(c.upstreams[0].key_source, "none");
	assert_string_equal(
	    c.upstreams[0].base_url_eff, "https://api.openai.com/v1");
	assert_int_equal(c.n_models, 1);
	assert_string_equal(c.models[0].name, "demo");
	assert_int_equal(c.models[0].max_tokens, 4096); /* max_tokens_cap */
	assert_string_equal(cs_config_model(&c, NULL)->name, "demo");
	assert_string_equal(cs_config_model(&c, "")->name, "demo");
	assert_ptr_equal(cs_config_model(&c, "demo"), &c.models[0]);
	assert_null(cs_config_model(&c, "gpt-4o-mini"));
	/* A second resolve changes nothing. */
	resolve_quiet(&c, CS_OK, NULL);
	assert_int_equal(c.n_models, 1);
	cs_config_free(&c);

	/* The sample resolves to the same thing. */
	load_expect(&c, SAMPLE_CONF, CS_OK, NULL);
	resolve_quiet(&c, CS_OK, NULL);
	assert_ptr_equal(c.upstreams[0].provider_eff, cs_provider_find("demo"));
	assert_string_equal(cs_config_model(&c, NULL)->name, "demo");
	cs_config_free(&c);
}

static void
test_resolve_env_key(void **state)
{
	struct cs_config c;

	(void)state;
	clear_env();
	setenv("OPENAI_API_KEY", "sk-env-123", 1);
	cs_config_defaults(&c);
	resolve_quiet(&c, CS_OK, NULL);
	assert_string_equal(c.upstreams[0].api_key, "sk-env-123");
	assert_string_equal(c.upstreams[0].key_source, "env");
	assert_ptr_equal(
	    c.upstreams[0].provider_eff, cs_provider_find("openai-chat"));
	assert_string_equal(c.models[0].name, "gpt-4o-mini");
	assert_string_equal(cs_config_model(&c, NULL)->name, "gpt-4o-mini");
	cs_config_free(&c);
	assert_null(c.upstreams[0].api_key);
	cs_config_free(&c); /* twice is fine */
	cs_config_free(NULL);

	/* An empty variable is no key. */
	setenv("OPENAI_API_KEY", "", 1);
	cs_config_defaults(&c);
	resolve_quiet(&c, CS_OK, NULL);
	assert_null(c.upstreams[0].api_key);
	assert_ptr_equal(c.upstreams[0].provider_eff, cs_provider_find("demo"));

	/* api_key_env names another variable. */
	setenv("OPENAI_API_KEY", "sk-not-this-one", 1);
	setenv("CS_TEST_KEY", "sk-other", 1);
	cs_config_defaults(&c);
	snprintf(c.upstreams[0].api_key_env, sizeof(c.upstreams[0].api_key_env),
	    "CS_TEST_KEY");
	resolve_quiet(&c, CS_OK, NULL);
	assert_string_equal(c.upstreams[0].api_key, "sk-other");
	cs_config_free(&c);

	/* A key with a line break is refused without being shown. */
	setenv("CS_TEST_KEY", "sk-sec\r\nX-Evil: 1", 1);
	cs_config_defaults(&c);
	snprintf(c.upstreams[0].api_key_env, sizeof(c.upstreams[0].api_key_env),
	    "CS_TEST_KEY");
	{
		char err[512] = "";

		assert_int_equal(
		    cs_config_resolve(&c, err, sizeof(err)), CS_ECONFIG);
		assert_non_null(strstr(err, "$CS_TEST_KEY contains control"));
		assert_null(strstr(err, "sk-sec"));
	}
	assert_null(c.upstreams[0].api_key);
	clear_env();
}

static void
test_resolve_key_file(void **state)
{
	static const char secret[] = "sk-file-SECRET-42";
	struct cs_config c;
	char *out;

	(void)state;
	clear_env();
	/* The file wins over the environment. */
	setenv("OPENAI_API_KEY", "sk-env-loses", 1);

	/* 0600: silent. Trailing newline and blanks are dropped. */
	cs_config_defaults(&c);
	set_key_file(
	    &c, write_tmp("key600", "sk-file-SECRET-42 \r\n\n", 21, 0600));
	resolve_quiet(&c, CS_OK, NULL);
	assert_string_equal(c.upstreams[0].api_key, secret);
	assert_string_equal(c.upstreams[0].key_source, "file");
	assert_ptr_equal(
	    c.upstreams[0].provider_eff, cs_provider_find("openai-chat"));
	cs_config_free(&c);

	/* 0644: works, warns, and the warning does not contain the key. */
	cs_config_defaults(&c);
	set_key_file(&c, write_tmp("key644", secret, sizeof(secret) - 1, 0644));
	out = resolve_capture(&c, CS_OK, NULL);
	assert_string_equal(c.upstreams[0].api_key, secret);
	assert_non_null(strstr(out, "chatstream: warning: key file "));
	assert_non_null(strstr(out, "/key644 is readable by group/others"));
	assert_non_null(strstr(out, "chmod 600"));
	assert_null(strstr(out, "SECRET"));
	free(out);
	cs_config_free(&c);

	/* 0620: not readable by others, still worth a warning. */
	cs_config_defaults(&c);
	set_key_file(&c, write_tmp("key620", secret, sizeof(secret) - 1, 0620));
	out = resolve_capture(&c, CS_OK, NULL);
	assert_non_null(strstr(out, "/key620 is accessible by group/others"));
	assert_null(strstr(out, "SECRET"));
	free(out);
	cs_config_free(&c);
	clear_env();
}

static void
test_resolve_key_file_errors(void **state)
{
	struct cs_config c;
	char big[5000];
	char *out;

	(void)state;
	clear_env();
	cs_config_defaults(&c);
	set_key_file(&c, write_tmp("empty", " \n\t\r\n", 5, 0600));
	resolve_quiet(&c, CS_ECONFIG, "/empty: key file is empty");
	assert_null(c.upstreams[0].api_key);

	cs_config_defaults(&c);
	set_key_file(&c, "/nonexistent/chatstream.key");
	resolve_quiet(&c, CS_ECONFIG,
	    "/nonexistent/chatstream.key: No such file or directory");

	cs_config_defaults(&c);
	set_key_file(&c, tmpdir);
	resolve_quiet(&c, CS_ECONFIG, "not a regular file");

	cs_config_defaults(&c);
	set_key_file(&c, write_tmp("twoline", "sk-SECRET-a\nsk-b\n", 17, 0600));
	out = resolve_capture(&c, CS_ECONFIG, "control characters");
	assert_null(strstr(out, "SECRET"));
	free(out);
	assert_null(c.upstreams[0].api_key);

	memset(big, 'k', sizeof(big));
	cs_config_defaults(&c);
	set_key_file(&c, write_tmp("big", big, 4097, 0600));
	resolve_quiet(&c, CS_ECONFIG, "larger than 4096 bytes");
	cs_config_defaults(&c);
	set_key_file(&c, write_tmp("big", big, 4096, 0600));
	resolve_quiet(&c, CS_OK, NULL);
	assert_int_equal(strlen(c.upstreams[0].api_key), 4096);
	cs_config_free(&c);
}

static void
test_resolve_base_url(void **state)
{
	struct cs_config c;

	(void)state;
	clear_env();
	/* auto + OPENAI_BASE_URL and no key: a keyless local server. */
	setenv("OPENAI_BASE_URL", "http://127.0.0.1:8000/v1//", 1);
	cs_config_defaults(&c);
	resolve_quiet(&c, CS_OK, NULL);
	assert_ptr_equal(
	    c.upstreams[0].provider_eff, cs_provider_find("openai-chat"));
	assert_null(c.upstreams[0].api_key);
	assert_string_equal(c.upstreams[0].key_source, "none");
	assert_string_equal(
	    c.upstreams[0].base_url_eff, "http://127.0.0.1:8000/v1");
	assert_string_equal(c.models[0].name, "gpt-4o-mini");

	/* The config's base_url wins over the environment. */
	cs_config_defaults(&c);
	snprintf(c.upstreams[0].base_url, sizeof(c.upstreams[0].base_url),
	    "https://example.com/");
	resolve_quiet(&c, CS_OK, NULL);
	assert_string_equal(c.upstreams[0].base_url_eff, "https://example.com");
	assert_string_equal(c.upstreams[0].base_url, "https://example.com/");

	/* A bad OPENAI_BASE_URL is an error, and is not echoed. */
	setenv("OPENAI_BASE_URL", "localhost:8000", 1);
	cs_config_defaults(&c);
	resolve_quiet(&c, CS_ECONFIG,
	    "OPENAI_BASE_URL must start with http:// or https://");
	setenv("OPENAI_BASE_URL", "", 1);
	cs_config_defaults(&c);
	resolve_quiet(&c, CS_OK, NULL);
	assert_string_equal(
	    c.upstreams[0].base_url_eff, "https://api.openai.com/v1");
	assert_ptr_equal(c.upstreams[0].provider_eff, cs_provider_find("demo"));

	/* base_url from a file: auto picks openai-chat. */
	unsetenv("OPENAI_BASE_URL");
	load_expect(&c, write_conf("base_url = http://h:1/v1\n"), CS_OK, NULL);
	resolve_quiet(&c, CS_OK, NULL);
	assert_ptr_equal(
	    c.upstreams[0].provider_eff, cs_provider_find("openai-chat"));
	assert_string_equal(c.upstreams[0].base_url_eff, "http://h:1/v1");
	clear_env();
}

/* Which upstreams are sent the "developer" role: OpenAI's own API and
 * Azure OpenAI; any other OpenAI-compatible URL gets "system". */
static void
test_resolve_developer_role(void **state)
{
	static const struct {
		const char *conf;
		int want;
	} cases[] = {
		{ "provider = openai-chat\napi_key_env = CS_T_KEY\n", 1 },
		{ "base_url = https://API.openai.com:443/v1\n", 1 },
		{ "base_url = https://res.openai.azure.com/openai/v1\n", 1 },
		{ "provider = azure-openai\nbase_url = https://res.example\n",
		    1 },
		{ "base_url = http://api.openai.com/v1\n", 0 },
		{ "base_url = https://api.openai.com.example/v1\n", 0 },
		{ "base_url = https://openai.azure.com.example/v1\n", 0 },
		{ "base_url = https://.openai.azure.com/v1\n", 0 },
		{ "base_url = http://127.0.0.1:8000/v1\n", 0 },
		{ "provider = openai-responses\napi_key_env = CS_T_KEY\n", 0 },
		{ "provider = anthropic\napi_key_env = CS_T_KEY\n", 0 },
		{ "", 0 }, /* demo */
	};
	struct cs_config c;
	size_t i;

	(void)state;
	clear_env();
	setenv("CS_T_KEY", "sk-x", 1);
	for (i = 0; i < CS_ARRAY_LEN(cases); i++) {
		load_expect(&c, write_conf(cases[i].conf), CS_OK, NULL);
		resolve_quiet(&c, CS_OK, NULL);
		if (c.upstreams[0].developer_role != cases[i].want)
			fail_msg("case %zu (%s): developer_role %d", i,
			    cases[i].conf, c.upstreams[0].developer_role);
		cs_config_free(&c);
	}
	unsetenv("CS_T_KEY");
	clear_env();
}

/* Each wire format brings its own default URL, key variable and model;
 * an explicit api_key_env still wins. */
static void
test_resolve_provider_defaults(void **state)
{
	struct cs_config c;

	(void)state;
	clear_env();
	setenv("ANTHROPIC_API_KEY", "sk-ant-test", 1);
	setenv("OPENAI_API_KEY", "sk-openai-test", 1);
	load_expect(&c, write_conf("provider = anthropic\n"), CS_OK, NULL);
	resolve_quiet(&c, CS_OK, NULL);
	assert_ptr_equal(
	    c.upstreams[0].provider_eff, cs_provider_find("anthropic"));
	assert_string_equal(
	    c.upstreams[0].base_url_eff, "https://api.anthropic.com/v1");
	assert_string_equal(c.upstreams[0].api_key, "sk-ant-test");
	assert_string_equal(
	    cs_config_model(&c, NULL)->name, "claude-3-5-haiku-latest");
	cs_config_free(&c);

	setenv("ANTHROPIC_BASE_URL", "http://127.0.0.1:9/v1/", 1);
	load_expect(&c,
	    write_conf("provider = anthropic\n"
	               "api_key_env = CS_TEST_KEY\n"),
	    CS_OK, NULL);
	setenv("CS_TEST_KEY", "sk-explicit", 1);
	resolve_quiet(&c, CS_OK, NULL);
	assert_string_equal(c.upstreams[0].api_key, "sk-explicit");
	assert_string_equal(
	    c.upstreams[0].base_url_eff, "http://127.0.0.1:9/v1");
	cs_config_free(&c);
	unsetenv("ANTHROPIC_BASE_URL");

	load_expect(&c, write_conf("provider = ollama\n"), CS_OK, NULL);
	resolve_quiet(&c, CS_OK, NULL);
	assert_ptr_equal(
	    c.upstreams[0].provider_eff, cs_provider_find("ollama"));
	assert_string_equal(
	    c.upstreams[0].base_url_eff, "http://127.0.0.1:11434");
	assert_null(
	    c.upstreams[0].api_key); /* not OPENAI_API_KEY: Ollama needs none */
	assert_string_equal(c.upstreams[0].provider_eff->name, "ollama");
	cs_config_free(&c);

	load_expect(
	    &c, write_conf("provider = openai-responses\n"), CS_OK, NULL);
	resolve_quiet(&c, CS_OK, NULL);
	assert_string_equal(c.upstreams[0].api_key, "sk-openai-test");
	assert_string_equal(
	    c.upstreams[0].base_url_eff, "https://api.openai.com/v1");
	cs_config_free(&c);
	unsetenv("ANTHROPIC_API_KEY");
	clear_env();
}

static void
test_resolve_provider(void **state)
{
	struct cs_config c;

	(void)state;
	clear_env();
	/* openai-chat without a key is allowed (the provider will say 401). */
	load_expect(&c, write_conf("provider = openai-chat\n"), CS_OK, NULL);
	resolve_quiet(&c, CS_OK, NULL);
	assert_ptr_equal(
	    c.upstreams[0].provider_eff, cs_provider_find("openai-chat"));
	assert_string_equal(cs_config_model(&c, NULL)->name, "gpt-4o-mini");

	/* demo even with a key. */
	setenv("OPENAI_API_KEY", "sk-x", 1);
	load_expect(&c, write_conf("provider = demo\n"), CS_OK, NULL);
	resolve_quiet(&c, CS_OK, NULL);
	assert_ptr_equal(c.upstreams[0].provider_eff, cs_provider_find("demo"));
	assert_string_equal(cs_config_model(&c, NULL)->name, "demo");
	assert_string_equal(c.upstreams[0].key_source, "env");
	cs_config_free(&c);
	clear_env();
}

static void
test_resolve_models(void **state)
{
	struct cs_config c;
	const struct cs_model_cfg *m;

	(void)state;
	clear_env();
	load_expect(&c, fixture("good_models.conf"), CS_OK, NULL);
	resolve_quiet(&c, CS_OK, NULL);
	assert_int_equal(c.n_models, 2);
	assert_string_equal(cs_config_model(&c, NULL)->name, "demo-fast");
	m = cs_config_model(&c, "demo-fast");
	assert_non_null(m);
	assert_int_equal(m->max_tokens, 256);
	assert_string_equal(cs_config_model(&c, "demo")->name, "demo");
	assert_null(cs_config_model(&c, "DEMO"));
	assert_null(cs_config_model(&c, "demo-"));

	/* Configured models are kept as they are, even for demo. */
	load_expect(&c, write_conf("model = x\nmodel = y 9\n"), CS_OK, NULL);
	resolve_quiet(&c, CS_OK, NULL);
	assert_int_equal(c.n_models, 2);
	assert_string_equal(cs_config_model(&c, NULL)->name, "x");
	assert_string_equal(c.default_model, "x");

	load_expect(
	    &c, fixture("good_default_model_missing.conf"), CS_OK, NULL);
	resolve_quiet(&c, CS_ECONFIG,
	    "default_model \"c\" is not one of the configured models");

	/* default_model must match a model even when the list is implied. */
	load_expect(&c, write_conf("default_model = gpt-4o\n"), CS_OK, NULL);
	resolve_quiet(&c, CS_ECONFIG,
	    "default_model \"gpt-4o\" is not one of the configured models");
	load_expect(&c, write_conf("default_model = demo\n"), CS_OK, NULL);
	resolve_quiet(&c, CS_OK, NULL);
}

/* ---- [upstream] and [model] sections ---------------------------------- */

static void
test_sections(void **state)
{
	static struct cs_config c;
	const struct cs_upstream_cfg *u, *claude, *azure;
	const struct cs_model_cfg *m;
	char err[512] = "";

	(void)state;
	setenv("CS_TEST_KEY", "sk-ant-from-env", 1);
	load_expect(&c, fixture("good_sections.conf"), CS_OK, NULL);
	assert_int_equal(cs_config_resolve(&c, err, sizeof(err)), CS_OK);
	assert_int_equal(c.n_upstreams, 3);
	assert_int_equal(c.n_models, 3);

	u = cs_config_upstream(&c, "");
	assert_ptr_equal(u, &c.upstreams[0]);
	assert_ptr_equal(cs_config_upstream(&c, "default"), u);
	assert_null(cs_config_upstream(&c, "nope"));
	assert_int_equal(u->n_headers, 1);
	assert_string_equal(u->headers[0], "OpenAI-Organization: org-test");

	/* A section starts from the top-level timeouts and retries, not
	 * from the built-in defaults; identity keys start fresh. */
	claude = cs_config_upstream(&c, "claude");
	assert_non_null(claude);
	assert_ptr_equal(claude->provider_eff, cs_provider_find("anthropic"));
	assert_int_equal(claude->idle_timeout_ms, 30000);
	assert_int_equal(claude->max_retries, 1);
	assert_int_equal(claude->connect_timeout_ms, 3000);
	assert_int_equal(u->connect_timeout_ms, 10000);
	assert_string_equal(
	    claude->base_url_eff, "https://api.anthropic.com/v1");
	assert_string_equal(claude->api_key, "sk-ant-from-env");
	assert_string_equal(claude->key_source, "env");
	assert_int_equal(claude->n_headers, 2);
	assert_string_equal(claude->headers[1], "X-Trace: on");

	azure = cs_config_upstream(&c, "azure");
	assert_non_null(azure);
	assert_ptr_equal(azure->provider_eff, cs_provider_find("azure-openai"));
	assert_string_equal(
	    azure->base_url_eff, "https://example.openai.azure.com");
	assert_string_equal(azure->api_version, "v1");
	assert_int_equal(azure->n_headers, 0);

	m = cs_config_model(&c, NULL); /* the first: a plain line */
	assert_string_equal(m->name, "gpt-4o-mini");
	assert_ptr_equal(m->up, u);
	assert_int_equal(m->max_tokens, 1000);
	assert_string_equal(cs_model_instructions(&c, m), "Top rules.");
	assert_true(cs_model_client_instructions(&c, m));
	assert_false(m->has_temperature);

	m = cs_config_model(&c, "fast");
	assert_non_null(m);
	assert_ptr_equal(m->up, u);
	assert_string_equal(cs_model_wire_name(m), "gpt-4o-mini");
	assert_string_equal(m->description, "Fast and cheap");
	assert_int_equal(m->max_tokens, 512);
	assert_true(m->has_temperature);
	assert_int_equal(m->temperature_milli, 250);

	m = cs_config_model(&c, "smart");
	assert_non_null(m);
	assert_ptr_equal(m->up, claude);
	assert_string_equal(cs_model_wire_name(m), "claude-sonnet-4-5");
	assert_string_equal(cs_model_instructions(&c, m), "Smart rules.");
	assert_false(cs_model_client_instructions(&c, m));
	assert_null(cs_config_model(&c, "claude-sonnet-4-5"));
	cs_config_free(&c);
	unsetenv("CS_TEST_KEY");
}

/* Write text to a file in tmpdir, load and resolve it: resolve's error. */
static void
resolve_expect(const char *text, const char *errsub)
{
	static struct cs_config c;
	char err[512] = "";

	load_expect(&c, write_conf(text), CS_OK, NULL);
	assert_int_equal(cs_config_resolve(&c, err, sizeof(err)), CS_ECONFIG);
	if (strstr(err, errsub) == NULL)
		fail_msg("error \"%s\" lacks \"%s\"", err, errsub);
	cs_config_free(&c);
}

static void
test_sections_resolve_errors(void **state)
{
	(void)state;
	resolve_expect("provider = demo\n[model x]\nupstream = nope\n",
	    "[model x] (line 2): upstream \"nope\" is not defined");
	resolve_expect("[upstream az]\nprovider = azure-openai\n",
	    "[upstream az] (line 1): provider azure-openai needs base_url "
	    "(or $AZURE_OPENAI_ENDPOINT)");
	resolve_expect("[upstream az]\nprovider = azure-openai\nbase_url = "
	               "https://r.openai.azure.com\n[model x]\nupstream = az\n"
	               "upstream_model = gpt/4o\n",
	    "model x: \"gpt/4o\" is not an Azure deployment name");
	resolve_expect("[upstream k]\nprovider = openai-chat\napi_key_file = "
	               "/nonexistent/key\n",
	    "[upstream k] (line 1): api_key_file "
	    "/nonexistent/key: No such file");
}

/* ---- admission keys (issue 14) ---------------------------------------- */

#define HASH_A \
	"2bb80d537b1da3e38bd30361aa855686bde0eacd7162fef6a25fe97bf527a25b"
#define HASH_B \
	"2BB80D537B1DA3E38BD30361AA855686BDE0EACD7162FEF6A25FE97BF527A25C"

static void
test_admission_defaults(void **state)
{
	static struct cs_config c;
	char err[512] = "";

	(void)state;
	cs_config_defaults(&c);
	assert_string_equal(c.state, "");
	assert_string_equal(c.state_fail, "closed");
	assert_string_equal(c.client_id, "ip");
	assert_string_equal(c.api_v1_auth, "key");
	/* A public install is limited per visitor out of the box. */
	assert_int_equal(c.lim.rpm, 20);
	assert_int_equal(c.lim.concurrent, 3);
	assert_int_equal(c.lim.tokens_per_day, 200000);
	assert_int_equal(c.global_tokens_per_day, 2000000);
	assert_int_equal(c.ledger_days, 90);
	assert_int_equal(c.ledger_raw_ip, 0);
	assert_int_equal(c.n_keys, 0);
	assert_int_equal(cs_config_resolve(&c, err, sizeof(err)), CS_OK);
	/* /api/v1 is shut until a [key] exists; /api/chat is counted, with
	 * no config file and no STATE_DIRECTORY in this process. */
	assert_int_equal(c.admission, 1);
	assert_int_equal(c.api_v1_key, 1);
	assert_int_equal(c.counted, 1);
	assert_string_equal(c.state, "memory");
	assert_int_equal(c.id_mode, CS_ID_IP);
	assert_int_equal(c.trusted_proxies.n, 0);
	cs_config_free(&c);

	/* Every limit 0 and no [key]: nothing is counted, no store. */
	cs_config_defaults(&c);
	c.lim.rpm = c.lim.concurrent = c.lim.tokens_per_day = 0;
	c.global_tokens_per_day = 0;
	assert_int_equal(cs_config_resolve(&c, err, sizeof(err)), CS_OK);
	assert_int_equal(c.admission, 1);
	assert_int_equal(c.counted, 0);
	cs_config_free(&c);
}

/* The default store's directory: systemd's StateDirectory= (the first
 * of a list, trailing slashes dropped), else the config file's, else
 * none (memory); a state the file sets is kept. */
static void
test_default_state_dir(void **state)
{
	static struct cs_config c;
	char err[512] = "", want[600];
	const char *path;

	(void)state;
	path = write_conf("provider = demo\n");
	cs_config_defaults(&c);
	assert_int_equal(setenv("STATE_DIRECTORY", "/var/lib/cs//:/x", 1), 0);
	assert_int_equal(
	    cs_config_default_state(&c, path, err, sizeof(err)), CS_OK);
	assert_string_equal(c.state, "sqlite:/var/lib/cs/chatstream-state.db");
	cs_config_free(&c);

	cs_config_defaults(&c);
	assert_int_equal(
	    cs_config_default_state(&c, NULL, err, sizeof(err)), CS_OK);
	assert_string_equal(c.state, "sqlite:/var/lib/cs/chatstream-state.db");
	cs_config_free(&c);

	/* Relative (not from a service manager): ignored. */
	assert_int_equal(setenv("STATE_DIRECTORY", "rel", 1), 0);
	cs_config_defaults(&c);
	assert_int_equal(
	    cs_config_default_state(&c, path, err, sizeof(err)), CS_OK);
	snprintf(want, sizeof(want), "sqlite:%s/chatstream-state.db", tmpdir);
	assert_string_equal(c.state, want);
	cs_config_free(&c);

	assert_int_equal(unsetenv("STATE_DIRECTORY"), 0);
	cs_config_defaults(&c);
	assert_int_equal(
	    cs_config_default_state(&c, NULL, err, sizeof(err)), CS_OK);
	assert_string_equal(c.state, "");
	cs_config_free(&c);

	path = write_conf("state = memory\n");
	assert_int_equal(setenv("STATE_DIRECTORY", "/var/lib/cs", 1), 0);
	load_expect(&c, path, CS_OK, NULL);
	assert_int_equal(
	    cs_config_default_state(&c, path, err, sizeof(err)), CS_OK);
	assert_string_equal(c.state, "memory");
	assert_int_equal(unsetenv("STATE_DIRECTORY"), 0);
	cs_config_free(&c);
}

static void
test_admission_keys(void **state)
{
	static struct cs_config c;
	char err[512] = "", want[600];
	const char *path;

	(void)state;
	path = write_conf("provider = demo\n"
	                  "state = sqlite:/tmp/x.db\n"
	                  "state_fail = open\n"
	                  "client_id = header:X-User-Id\n"
	                  "trusted_proxies = 10.0.0.0/8, ::1\n"
	                  "requests_per_minute = 60\n"
	                  "concurrent_streams = 3\n"
	                  "tokens_per_day = 100000\n"
	                  "global_tokens_per_day = 5000000\n"
	                  "api_v1_auth = key\n"
	                  "ledger_days = 0\n"
	                  "ledger_raw_ip = yes\n"
	                  "model = a\nmodel = b\n"
	                  "[model c]\nrequests_per_minute = 5\n"
	                  "[key alice]\nsecret_sha256 = " HASH_A "\n"
	                  "models = a c\ntokens_per_day = 7\n"
	                  "[key bob]\nsecret_sha256 = " HASH_B "\n");
	load_expect(&c, path, CS_OK, NULL);
	assert_int_equal(cs_config_resolve(&c, err, sizeof(err)), CS_OK);
	assert_int_equal(c.admission, 1);
	assert_int_equal(c.state_fail_open, 1);
	assert_int_equal(c.api_v1_key, 1);
	assert_int_equal(c.id_mode, CS_ID_HEADER);
	assert_string_equal(c.id_param, "HTTP_X_USER_ID");
	assert_int_equal(c.trusted_proxies.n, 2);
	assert_int_equal(c.lim.rpm, 60);
	assert_int_equal(c.lim.concurrent, 3);
	assert_int_equal(c.lim.tokens_per_day, 100000);
	assert_int_equal(c.global_tokens_per_day, 5000000);
	assert_int_equal(c.ledger_days, 0);
	assert_int_equal(c.ledger_raw_ip, 1);
	assert_int_equal(c.models[2].lim.rpm, 5);
	assert_int_equal(c.n_keys, 2);
	assert_string_equal(c.access_keys[0].name, "alice");
	assert_int_equal(c.access_keys[0].sha256[0], 0x2b);
	assert_int_equal(c.keys[0].models_mask, 5UL); /* a and c */
	assert_int_equal(c.keys[0].lim.tokens_per_day, 7);
	assert_int_equal(c.keys[0].lim.rpm, -1); /* the top level's */
	assert_int_equal(c.keys[1].models_mask, ~0UL);
	cs_config_free(&c);

	/* The default store: beside the config file, absolute. */
	path = write_conf("concurrent_streams = 1\n");
	load_expect(&c, path, CS_OK, NULL);
	assert_int_equal(
	    cs_config_default_state(&c, path, err, sizeof(err)), CS_OK);
	snprintf(want, sizeof(want), "sqlite:%s/chatstream-state.db", tmpdir);
	assert_string_equal(c.state, want);
	assert_int_equal(cs_config_resolve(&c, err, sizeof(err)), CS_OK);
	assert_int_equal(c.admission, 1);
	assert_string_equal(c.state, want);
	cs_config_free(&c);
}

/* A bad value fails at its line, naming the key. */
static void
bad_line(const char *text, const char *errsub)
{
	static struct cs_config c;

	load_expect(&c, write_conf(text), CS_ECONFIG, errsub);
}

static void
test_admission_bad(void **state)
{
	(void)state;
	bad_line("state = redis\n",
	    "t.conf:1: state: state store \"redis\": want \"memory\", "
	    "\"sqlite:PATH\", \"redis://HOST:PORT[/DB]\" or");
	bad_line("state = sqlite:\n",
	    "t.conf:1: state: state store sqlite:: want sqlite:PATH");
	bad_line("state = redis://h:99999\n",
	    "t.conf:1: state: state store \"redis://h:99999\": want "
	    "redis://HOST:PORT[/DB] (port 1..65535");
	bad_line("\nstate_fail = maybe\n",
	    "t.conf:2: state_fail: \"maybe\" is not closed or open");
	bad_line("api_v1_auth = yes\n",
	    "t.conf:1: api_v1_auth: \"yes\" is not open or key");
	bad_line("client_id = cookie\n",
	    "t.conf:1: client_id: \"cookie\" is not ip, remote_user, key "
	    "or header:NAME");
	bad_line("client_id = header:X User\n", "t.conf:1: client_id:");
	bad_line("client_id = header:\n", "t.conf:1: client_id:");
	bad_line("\n\ntrusted_proxies = 10.0.0.1/8\n",
	    "t.conf:3: trusted_proxies: \"10.0.0.1/8\"");
	bad_line("trusted_proxies = 10.0.0.0/33\n",
	    "t.conf:1: trusted_proxies: \"10.0.0.0/33\"");
	bad_line("trusted_proxies = example.org\n",
	    "t.conf:1: trusted_proxies: \"example.org\"");
	bad_line("requests_per_minute = -1\n",
	    "t.conf:1: requests_per_minute: \"-1\" is out of range "
	    "(0..1000000000)");
	bad_line("concurrent_streams = lots\n",
	    "t.conf:1: concurrent_streams: \"lots\" is not an integer");
	bad_line("tokens_per_day = 1000000000000001\n",
	    "t.conf:1: tokens_per_day: \"1000000000000001\" is out of range");
	bad_line("\nledger_days = 3651\n",
	    "t.conf:2: ledger_days: \"3651\" is out of range (0..3650)");
	bad_line("ledger_days = 7d\n",
	    "t.conf:1: ledger_days: \"7d\" is not an integer");
	bad_line("ledger_raw_ip = maybe\n",
	    "t.conf:1: ledger_raw_ip: \"maybe\" is not a boolean");
	bad_line("[key k]\nledger_days = 5\n",
	    "t.conf:2: ledger_days: only allowed in the top level");
	bad_line("[model m]\nglobal_tokens_per_day = 5\n",
	    "t.conf:2: global_tokens_per_day: only allowed in the top level");
	bad_line("[key k]\nsecret_sha256 = abc\n", "t.conf:2: secret_sha256: ");
	bad_line("[key k]\nsecret_sha256 = " HASH_A "\nsecret_sha256 = " HASH_A
	         "\n",
	    "t.conf:3: secret_sha256: already set on line 2");
	bad_line("[key k]\nmodels = a,b\n",
	    "t.conf:2: models: \"a,b\" is not a valid model name");
	bad_line("[key k]\nmax_tokens = 5\n",
	    "t.conf:2: max_tokens: only allowed in a [model NAME] section");
	bad_line("[key k]\n[key k]\n",
	    "t.conf:2: key: \"k\" is already defined (line 1)");
	bad_line("[key a b]\n", "t.conf:1: expected [upstream NAME]");
	bad_line("[key "
	         "x123456789012345678901234567890123456789012345678901234567890"
	         "12345]\n",
	    "t.conf:1: key: \"x1234");
	bad_line("[key \xc3\xa9]\n", "t.conf:1: key: ");
}

static void
test_admission_too_many_keys(void **state)
{
	static char text[64 * 120];
	static struct cs_config c;
	size_t i, n = 0;

	(void)state;
	for (i = 0; i <= CS_MAX_KEYS; i++)
		n += (size_t)snprintf(text + n, sizeof(text) - n,
		    "[key k%zu]\nsecret_sha256 = %064zx\n", i, i);
	load_expect(&c, write_conf(text), CS_ECONFIG,
	    "t.conf:129: key: more than 64 keys");
}

static void
test_admission_resolve_errors(void **state)
{
	(void)state;
	resolve_expect("[key k]\nmodels = a\n",
	    "[key k] (line 1): secret_sha256 is required");
	resolve_expect("model = a\n[key k]\nsecret_sha256 = " HASH_A
	               "\nmodels = a nope\n",
	    "[key k] (line 2): models: \"nope\" is not one of the "
	    "configured models");
	resolve_expect("[key k]\nsecret_sha256 = " HASH_A "\n[key j]\n"
	               "secret_sha256 = " HASH_A "\n",
	    "[key j] (line 3): the same secret_sha256 as [key k] (line 1)");
	resolve_expect("client_id = key\n",
	    "client_id = key needs at least one [key NAME] section");
}

/* ---- chains of upstreams (issue 16) ----------------------------------- */

/* Write text to tmpdir, load it and resolve it into c (CS_OK). */
static void
resolve_ok(struct cs_config *c, const char *text)
{
	char err[512] = "";

	load_expect(c, write_conf(text), CS_OK, NULL);
	if (cs_config_resolve(c, err, sizeof(err)) != CS_OK)
		fail_msg("resolve: %s", err);
}

#define TWO_UPSTREAMS \
	"provider = demo\n" \
	"[upstream a]\nprovider = openai-chat\nbase_url = http://a.test/v1\n" \
	"[upstream b]\nprovider = anthropic\nbase_url = http://b.test/v1\n"

static void
test_chains(void **state)
{
	static struct cs_config c;
	const struct cs_model_cfg *m;
	const struct cs_route_cfg *rt;
	char line[1024];

	(void)state;
	resolve_ok(&c,
	    TWO_UPSTREAMS "[model one]\nupstream_model = x\n"
	                  "[model chain]\nupstream = a ,b\n"
	                  "upstream_model = gpt-4o, claude-x\n"
	                  "[model same]\nupstream = a, b\nupstream_model = m1\n"
	                  "[model w]\nupstream = b, a\nbalance = weighted\n"
	                  "weights = 3,1\nallowed_fails = 0\n"
	                  "[model lb]\nupstream = a\nbalance = least-busy\n"
	                  "allowed_fails = 5\nfail_window_seconds = 10\n"
	                  "cooldown_seconds = 2.5\n");
	/* One deployment: the default upstream, no cooldowns, no store. */
	m = cs_config_model(&c, "one");
	rt = &m->route;
	assert_int_equal(rt->n, 1);
	assert_string_equal(rt->d[0].upstream, "default");
	assert_string_equal(rt->d[0].model, "x");
	assert_int_equal(rt->allowed_fails, 0);
	assert_false(rt->stateful);
	/* Two, each its own model name; a chain cools by default. */
	m = cs_config_model(&c, "chain");
	rt = &m->route;
	assert_int_equal(rt->n, 2);
	assert_ptr_equal(rt->d[0].up, cs_config_upstream(&c, "a"));
	assert_ptr_equal(rt->d[1].up, cs_config_upstream(&c, "b"));
	assert_ptr_equal(m->up, rt->d[0].up);
	assert_string_equal(rt->d[0].model, "gpt-4o");
	assert_string_equal(rt->d[1].model, "claude-x");
	assert_string_equal(cs_model_wire_name(m), "gpt-4o");
	assert_string_equal(rt->d[1].key, "rt:b/claude-x");
	assert_int_equal(rt->mode, CS_BALANCE_ORDERED);
	assert_int_equal(rt->allowed_fails, CS_ROUTE_ALLOWED_FAILS);
	assert_int_equal(rt->fail_window_ms, CS_ROUTE_WINDOW_MS);
	assert_int_equal(rt->cooldown_ms, CS_ROUTE_COOLDOWN_MS);
	assert_true(rt->stateful);
	assert_true(c.routed);
	/* One model name for all. */
	rt = &cs_config_model(&c, "same")->route;
	assert_string_equal(rt->d[0].model, "m1");
	assert_string_equal(rt->d[1].model, "m1");
	/* Weights in the upstreams' order; cooldowns off: no store. */
	m = cs_config_model(&c, "w");
	rt = &m->route;
	assert_int_equal(rt->mode, CS_BALANCE_WEIGHTED);
	assert_int_equal(rt->d[0].weight, 3);
	assert_int_equal(rt->d[1].weight, 1);
	assert_string_equal(rt->d[0].model, "w");
	assert_false(rt->stateful);
	cs_route_describe(m, line, sizeof(line));
	assert_string_equal(line,
	    "b (anthropic, key from none, model w, weight 3) -> a "
	    "(openai-chat, key from none, model w, weight 1); balance "
	    "weighted; cooldown off");
	/* Least-busy keeps state even alone; its own cooldown. */
	rt = &cs_config_model(&c, "lb")->route;
	assert_int_equal(rt->mode, CS_BALANCE_LEAST_BUSY);
	assert_int_equal(rt->allowed_fails, 5);
	assert_int_equal(rt->fail_window_ms, 10000);
	assert_int_equal(rt->cooldown_ms, 2500);
	assert_true(rt->stateful);
	cs_config_free(&c);

	/* A plain config keeps no routing state. */
	resolve_ok(&c, TWO_UPSTREAMS "[model x]\nupstream = b\n");
	assert_false(c.routed);
	cs_config_free(&c);
}

static void
test_chain_errors(void **state)
{
	(void)state;
	resolve_expect(TWO_UPSTREAMS "[model x]\nupstream = a, nope\n",
	    "[model x] (line 8): upstream \"nope\" is not defined");
	resolve_expect(TWO_UPSTREAMS "[model x]\nupstream = a, b\n"
	                             "upstream_model = m1, m2, m3\n",
	    "upstream_model lists 3 names but upstream lists 2");
	resolve_expect(TWO_UPSTREAMS "[model x]\nupstream = a, b\n"
	                             "weights = 1\n",
	    "weights lists 1 names but upstream lists 2");
	resolve_expect(TWO_UPSTREAMS "[model x]\nupstream = a, default\n",
	    "upstream \"default\" (provider demo) answers on this server");
	bad_line(TWO_UPSTREAMS "[model x]\nupstream = a,,b\n",
	    "t.conf:9: upstream: \"\" is not a valid name");
	bad_line(TWO_UPSTREAMS "[model x]\nupstream = a, b c\n",
	    "t.conf:9: upstream: \"b c\" is not a valid name");
	bad_line(TWO_UPSTREAMS "[model x]\nupstream = a,a,a,a,a,a,a,a,a\n",
	    "t.conf:9: upstream: more than 8 names");
	bad_line(TWO_UPSTREAMS "[model x]\nweights = 1, 0\n",
	    "t.conf:9: weights: \"1, 0\" is not a list");
	bad_line(TWO_UPSTREAMS "[model x]\nweights = 1001\n",
	    "t.conf:9: weights: \"1001\" is not a list");
	bad_line(TWO_UPSTREAMS "[model x]\nweights = 2,\n",
	    "weights: \"2,\" is not a list");
	bad_line(TWO_UPSTREAMS "[model x]\nweights = 2 3\n",
	    "weights: \"2 3\" is not a list");
	bad_line(TWO_UPSTREAMS "[model x]\nbalance = random\n",
	    "balance: \"random\" is not ordered, weighted or least-busy");
	bad_line(
	    TWO_UPSTREAMS "[model x]\nallowed_fails = -1\n", "allowed_fails");
	bad_line(TWO_UPSTREAMS "[model x]\ncooldown_seconds = 0.5\n",
	    "cooldown_seconds");
	bad_line("balance = weighted\n",
	    "balance: only allowed in a [model NAME] section");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_sample_equals_defaults),
		cmocka_unit_test(test_empty_file),
		cmocka_unit_test(test_bad_fixtures),
		cmocka_unit_test(test_sections),
		cmocka_unit_test(test_sections_resolve_errors),
		cmocka_unit_test(test_chains),
		cmocka_unit_test(test_chain_errors),
		cmocka_unit_test(test_unreadable),
		cmocka_unit_test(test_bad_bytes),
		cmocka_unit_test(test_good_full),
		cmocka_unit_test(test_quoted),
		cmocka_unit_test(test_crlf_bom),
		cmocka_unit_test(test_string_bounds),
		cmocka_unit_test(test_int_edges),
		cmocka_unit_test(test_size_edges),
		cmocka_unit_test(test_duration_edges),
		cmocka_unit_test(test_bool_enum_edges),
		cmocka_unit_test(test_models),
		cmocka_unit_test(test_duplicates),
		cmocka_unit_test(test_resolve_defaults),
		cmocka_unit_test(test_max_tokens_cap),
		cmocka_unit_test(test_resolve_env_key),
		cmocka_unit_test(test_resolve_key_file),
		cmocka_unit_test(test_resolve_key_file_errors),
		cmocka_unit_test(test_resolve_base_url),
		cmocka_unit_test(test_resolve_developer_role),
		cmocka_unit_test(test_resolve_provider),
		cmocka_unit_test(test_resolve_provider_defaults),
		cmocka_unit_test(test_resolve_models),
		cmocka_unit_test(test_admission_defaults),
		cmocka_unit_test(test_default_state_dir),
		cmocka_unit_test(test_admission_keys),
		cmocka_unit_test(test_admission_bad),
		cmocka_unit_test(test_admission_too_many_keys),
		cmocka_unit_test(test_admission_resolve_errors),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
