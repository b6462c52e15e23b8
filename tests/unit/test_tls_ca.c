/*
 * test_tls_ca.c — where provider TLS trust comes from (tls_ca.h) in the
 * Debian build: ca_file first (with ca_path beside it), then ca_path
 * alone, else libcurl's default; [upstream] sections inherit the
 * top-level keys and may set their own; an unreadable ca_file or ca_path
 * is a config error naming it; the options reach a curl handle.
 */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "testutil.h"
#include "tls_ca.h"

static enum cs_err
load(const char *text, struct cs_config *cfg, char *err, size_t len)
{
	char path[] = "/tmp/cs_test_tls_ca.XXXXXX";
	enum cs_err r;
	int fd = mkstemp(path);
	FILE *f;

	assert_true(fd >= 0);
	f = fdopen(fd, "w");
	fputs(text, f);
	fclose(f);
	cs_config_defaults(cfg);
	r = cs_config_load(cfg, path, err, len);
	if (r == CS_OK)
		r = cs_config_resolve(cfg, err, len);
	unlink(path);
	return r;
}

static void
test_sources(void **state)
{
	struct cs_config cfg;
	const char *path;
	char err[512], line[512];
	CURL *e;

	(void)state;
	assert_int_equal(load("provider = openai-chat\n"
	                      "base_url = https://a.test/v1\n"
	                      "ca_file = /etc/hostname\n"
	                      "[upstream b]\nprovider = openai-chat\n"
	                      "base_url = https://b.test/v1\n"
	                      "[upstream c]\nprovider = openai-chat\n"
	                      "base_url = https://c.test/v1\n"
	                      "ca_file = \"\"\nca_path = /tmp\n",
	                     &cfg, err, sizeof(err)),
	    CS_OK);
	assert_int_equal(cs_ca_portable(), 0);
	assert_int_equal(cs_ca_source(&cfg.upstreams[0], &path), CS_CA_FILE);
	assert_string_equal(path, "/etc/hostname");
	/* inherited */
	assert_int_equal(cs_ca_source(&cfg.upstreams[1], &path), CS_CA_FILE);
	assert_int_equal(cs_ca_source(&cfg.upstreams[2], &path), CS_CA_PATH);
	assert_string_equal(path, "/tmp");
	cs_ca_describe(&cfg.upstreams[2], line, sizeof(line));
	assert_string_equal(line, "ca_path /tmp");
	e = curl_easy_init();
	assert_non_null(e);
	assert_int_equal(cs_ca_apply(e, &cfg.upstreams[0]), 0);
	assert_int_equal(cs_ca_apply(e, &cfg.upstreams[2]), 0);
	curl_easy_cleanup(e);
	cs_config_free(&cfg);

	assert_int_equal(load("provider = openai-chat\n"
	                      "base_url = https://a.test/v1\n",
	                     &cfg, err, sizeof(err)),
	    CS_OK);
	assert_int_equal(cs_ca_source(&cfg.upstreams[0], &path), CS_CA_LIBCURL);
	assert_string_equal(path, "");
	cs_ca_describe(&cfg.upstreams[0], line, sizeof(line));
	assert_non_null(strstr(line, "libcurl's default"));
	cs_config_free(&cfg);
}

static void
test_unreadable(void **state)
{
	struct cs_config cfg;
	char err[512];

	(void)state;
	assert_int_equal(load("provider = openai-chat\n"
	                      "base_url = https://a.test/v1\n"
	                      "ca_file = /nonexistent/ca.pem\n",
	                     &cfg, err, sizeof(err)),
	    CS_ECONFIG);
	assert_non_null(strstr(err, "ca_file /nonexistent/ca.pem"));
	cs_config_free(&cfg);
	assert_int_equal(load("provider = openai-chat\n"
	                      "base_url = https://a.test/v1\n"
	                      "[upstream b]\nprovider = openai-chat\n"
	                      "base_url = https://b.test/v1\n"
	                      "ca_path = /nonexistent/certs\n",
	                     &cfg, err, sizeof(err)),
	    CS_ECONFIG);
	assert_non_null(strstr(err, "[upstream b]"));
	assert_non_null(strstr(err, "ca_path /nonexistent/certs"));
	cs_config_free(&cfg);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sources),
		cmocka_unit_test(test_unreadable),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
