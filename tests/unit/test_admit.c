/*
 * test_admit.c — admission on the memory store, through a CGI connection
 * whose stdout is one end of a socketpair (the request's parameters are
 * the environment): off without limits (no store opened); the 429 of a
 * rate, with Retry-After and the RateLimit headers; a concurrency slot
 * freed by the settle; keys wrong (401, the secret never echoed), right,
 * a model the key may not use (403); /api/v1 closed by api_v1_auth = key
 * in OpenAI's shape; a control byte in a header identity (400);
 * X-Forwarded-For only through a trusted proxy; remote_user with nobody
 * logged in (401).
 */
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "admit.h"
#include "config.h"
#include "log.h"
#include "reqctx.h"
#include "request.h"
#include "stream.h"
#include "testutil.h"

#define ID     "0123456789abcdef"
#define SECRET "sk-test-admit-0123456789"
/* SHA-256 of SECRET */
static char secret_hex[65];

static struct cs_config cfg;
static struct cs_state *st;

/* Config: text loaded over the defaults and resolved. */
static void
configure(const char *text)
{
	char path[] = "/tmp/cs_test_admit.XXXXXX", err[512] = "";
	int fd = mkstemp(path);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
	cs_config_free(&cfg);
	cs_config_defaults(&cfg);
	assert_int_equal(cs_config_load(&cfg, path, err, sizeof(err)), CS_OK);
	if (cs_config_resolve(&cfg, err, sizeof(err)) != CS_OK)
		fail_msg("resolve: %s", err);
	unlink(path);
}

/*
 * One chat for model through cs_admit from addr, on path (a chat route),
 * with the given Authorization (NULL: none): its return code, *t, and
 * what the client got into out.
 */
static enum cs_err
admit(const char *path, const char *addr, const char *auth, const char *model,
    struct cs_ticket *t, char *out, size_t outlen)
{
	char body[256];
	struct cs_chat_request *req = NULL;
	struct cs_reqerr rerr;
	struct cs_stream *s;
	struct cs_reqctx rq;
	struct cs_conn *conn;
	int sv[2], saved;
	enum cs_err r;
	ssize_t n;

	setenv("REQUEST_METHOD", "POST", 1);
	setenv("SCRIPT_NAME", path, 1);
	setenv("REMOTE_ADDR", addr, 1);
	if (auth != NULL)
		setenv("HTTP_AUTHORIZATION", auth, 1);
	else
		unsetenv("HTTP_AUTHORIZATION");
	unsetenv("CONTENT_LENGTH");
	snprintf(body, sizeof(body),
	    "{\"model\":\"%s\",\"max_tokens\":10,\"messages\":[{\"role\":"
	    "\"user\",\"content\":\"hello\"}]}",
	    model);
	assert_int_equal(
	    cs_request_parse(&cfg, body, strlen(body), &req, &rerr), CS_OK);

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	fflush(stdout);
	saved = dup(STDOUT_FILENO);
	assert_true(dup2(sv[1], STDOUT_FILENO) == STDOUT_FILENO);
	close(sv[1]);
	assert_non_null(conn = cs_conn_new_cgi());
	cs_reqctx_init(&rq, conn);
	assert_non_null(s = cs_stream_new(conn, &cfg, rq.route->enc, ID));
	r = cs_admit(&cfg, &st, &rq, req, s, t);
	cs_stream_free(s);
	cs_conn_free(conn);
	fflush(stdout);
	dup2(saved, STDOUT_FILENO);
	close(saved);
	n = read(sv[0], out, outlen - 1);
	out[n > 0 ? n : 0] = '\0';
	close(sv[0]);
	cs_request_free(req);
	return r;
}

static void
end(struct cs_ticket *t)
{
	struct cs_access a;

	memset(&a, 0, sizeof(a));
	a.prompt_tokens = 7, a.completion_tokens = 3;
	cs_admit_end(&cfg, &st, t, &a); /* no settle thread: here */
}

/* cs_usage_row_fn: the groups, space separated, into ctx. */
static void
collect(void *ctx, const char *group, long long requests, long long prompt,
    long long completion)
{
	char *all = ctx;
	size_t n = strlen(all);

	snprintf(all + n, 2048 - n, "%s=%lld/%lld/%lld ", group, requests,
	    prompt, completion);
}

static void
test_off(void **state)
{
	struct cs_ticket t;
	char out[4096];

	(void)state;
	configure("provider = demo\napi_v1_auth = open\n"
	          "requests_per_minute = 0\nconcurrent_streams = 0\n"
	          "tokens_per_day = 0\nglobal_tokens_per_day = 0\n");
	assert_int_equal(cfg.admission, 0);
	assert_int_equal(
	    admit("/api/chat", "192.0.2.1", NULL, "demo", &t, out, sizeof(out)),
	    CS_OK);
	assert_int_equal(t.on, 0);
	assert_null(st); /* no store opened */
	assert_string_equal(out, "");
}

/* The defaults: /api/v1 chats need a key, and with no [key] section
 * every one gets 401 saying how to add one; /api/chat is served and
 * counted per visitor: the fourth stream at once is refused. */
static void
test_defaults(void **state)
{
	struct cs_ticket t[4];
	char out[4096];
	int i;

	(void)state;
	configure("provider = demo\nstate = memory\n");
	assert_int_equal(admit("/api/v1/chat/completions", "192.0.2.1", NULL,
	                     "demo", &t[0], out, sizeof(out)),
	    CS_EHANDLED);
	assert_non_null(strstr(out, "Status: 401"));
	assert_non_null(strstr(out, "--hash-key"));
	assert_int_equal(
	    admit("/api/v1/chat/completions", "192.0.2.1", "Bearer sk-anything",
	        "demo", &t[0], out, sizeof(out)),
	    CS_EHANDLED);
	assert_non_null(strstr(out, "Status: 401"));
	for (i = 0; i < 3; i++) {
		assert_int_equal(admit("/api/chat", "192.0.2.1", NULL, "demo",
		                     &t[i], out, sizeof(out)),
		    CS_OK);
		assert_int_equal(t[i].on, 1);
		assert_string_equal(out, "");
	}
	assert_int_equal(admit("/api/chat", "192.0.2.1", NULL, "demo", &t[3],
	                     out, sizeof(out)),
	    CS_EHANDLED);
	assert_non_null(strstr(out, "Status: 429"));
	assert_non_null(strstr(out, "RateLimit-Policy: \"concurrency\";q=3;"));
	for (i = 0; i < 3; i++)
		end(&t[i]);
}

static void
test_rate(void **state)
{
	struct cs_ticket t;
	char out[4096];
	int i;

	(void)state;
	configure("provider = demo\nstate = memory\nrequests_per_minute = 2\n");
	for (i = 0; i < 2; i++) {
		assert_int_equal(admit("/api/chat", "192.0.2.2", NULL, "demo",
		                     &t, out, sizeof(out)),
		    CS_OK);
		assert_int_equal(t.on, 1);
		assert_int_equal(strlen(t.id), CS_STATE_ID_LEN);
		assert_string_equal(t.identity, "ip:192.0.2.2");
		end(&t);
	}
	assert_int_equal(
	    admit("/api/chat", "192.0.2.2", NULL, "demo", &t, out, sizeof(out)),
	    CS_EHANDLED);
	assert_non_null(strstr(out, "Status: 429"));
	assert_non_null(strstr(out, "Retry-After: 30\r\n"));
	assert_non_null(strstr(out,
	    "RateLimit-Policy: \"requests\";q=2;w=60;qu=\"requests\"\r\n"));
	assert_non_null(strstr(out, "RateLimit: \"requests\";r=0;t="));
	assert_non_null(strstr(out, "\"type\":\"rate_limited\""));
	assert_null(strstr(out, "x-ratelimit")); /* native: not OpenAI's */
	/* Another client has its own bucket. */
	assert_int_equal(
	    admit("/api/chat", "192.0.2.3", NULL, "demo", &t, out, sizeof(out)),
	    CS_OK);
	end(&t);
}

static void
test_concurrent_settle(void **state)
{
	struct cs_ticket t, t2;
	char out[4096];

	(void)state;
	configure("provider = demo\nstate = memory\nconcurrent_streams = 1\n");
	assert_int_equal(
	    admit("/api/chat", "192.0.2.4", NULL, "demo", &t, out, sizeof(out)),
	    CS_OK);
	assert_int_equal(admit("/api/chat", "192.0.2.4", NULL, "demo", &t2, out,
	                     sizeof(out)),
	    CS_EHANDLED);
	assert_non_null(strstr(out, "RateLimit-Policy: \"concurrency\";q=1;"));
	end(&t); /* the slot comes back */
	assert_int_equal(admit("/api/chat", "192.0.2.4", NULL, "demo", &t2, out,
	                     sizeof(out)),
	    CS_OK);
	end(&t2);
}

/* The chats the ledger holds for model demo: requests, prompt and
 * completion tokens (the memory store is the process's: earlier cases
 * count too). */
static void
demo_usage(long long n[3])
{
	char all[2048] = "";
	const char *p;

	n[0] = n[1] = n[2] = 0;
	assert_int_equal(cs_state_usage(st, 0, "model", collect, all), CS_OK);
	if ((p = strstr(all, "demo=")) != NULL)
		assert_int_equal(
		    sscanf(p, "demo=%lld/%lld/%lld", &n[0], &n[1], &n[2]), 3);
}

/* The end of a chat writes one ledger record with the numbers of its
 * access line, under the model alias and the hashed address. */
static void
test_ledger(void **state)
{
	struct cs_ticket t;
	char out[4096], all[2048] = "";
	long long before[3], after[3];

	(void)state;
	configure("provider = demo\nstate = memory\nconcurrent_streams = 5\n");
	assert_int_equal(
	    admit("/api/chat", "192.0.2.9", NULL, "demo", &t, out, sizeof(out)),
	    CS_OK);
	demo_usage(before);
	end(&t);
	demo_usage(after);
	assert_int_equal(after[0], before[0] + 1);
	assert_int_equal(after[1], before[1] + 7);
	assert_int_equal(after[2], before[2] + 3);
	assert_int_equal(
	    cs_state_usage(st, 0, "identity", collect, all), CS_OK);
	assert_null(strstr(all, "192.0.2.9"));
}

static void
test_keys(void **state)
{
	char text[1024], out[4096];
	struct cs_ticket t;

	(void)state;
	snprintf(text, sizeof(text),
	    "provider = demo\nstate = memory\napi_v1_auth = key\n"
	    "model = a\nmodel = b\n"
	    "[key alice]\nsecret_sha256 = %s\nmodels = a\n",
	    secret_hex);
	configure(text);
	/* /api/chat stays open without a key. */
	assert_int_equal(
	    admit("/api/chat", "192.0.2.5", NULL, "a", &t, out, sizeof(out)),
	    CS_OK);
	assert_int_equal(admit("/api/chat", "192.0.2.5", "Bearer " SECRET "x",
	                     "a", &t, out, sizeof(out)),
	    CS_EHANDLED);
	assert_non_null(strstr(out, "Status: 401"));
	assert_non_null(strstr(out, "\"type\":\"unauthorized\""));
	assert_null(strstr(out, SECRET));
	assert_int_equal(admit("/api/chat", "192.0.2.5", "Bearer " SECRET, "a",
	                     &t, out, sizeof(out)),
	    CS_OK);
	assert_string_equal(t.key, "alice");
	assert_int_equal(admit("/api/chat", "192.0.2.5", "Bearer " SECRET, "b",
	                     &t, out, sizeof(out)),
	    CS_EHANDLED);
	assert_non_null(strstr(out, "Status: 403"));
	assert_non_null(strstr(out, "model_not_allowed"));
	/* /api/v1: closed without a key, in OpenAI's shape. */
	assert_int_equal(admit("/api/v1/chat/completions", "192.0.2.5", NULL,
	                     "a", &t, out, sizeof(out)),
	    CS_EHANDLED);
	assert_non_null(strstr(out, "Status: 401"));
	assert_non_null(strstr(out, "\"code\":\"invalid_api_key\""));
	assert_non_null(strstr(out, "[key NAME]"));
	assert_int_equal(admit("/api/v1/chat/completions", "192.0.2.5",
	                     "Bearer " SECRET, "a", &t, out, sizeof(out)),
	    CS_OK);
}

static void
test_identity_refused(void **state)
{
	struct cs_ticket t;
	char out[4096];

	(void)state;
	configure("provider = demo\nstate = memory\nconcurrent_streams = 5\n"
	          "client_id = header:X-User\n");
	setenv("HTTP_X_USER", "bob\x01", 1);
	assert_int_equal(
	    admit("/api/chat", "192.0.2.6", NULL, "demo", &t, out, sizeof(out)),
	    CS_EHANDLED);
	assert_non_null(strstr(out, "Status: 400"));
	unsetenv("HTTP_X_USER");
	assert_int_equal(
	    admit("/api/chat", "192.0.2.6", NULL, "demo", &t, out, sizeof(out)),
	    CS_EHANDLED);
	assert_non_null(strstr(out, "does not carry this header"));
	setenv("HTTP_X_USER", "bob", 1);
	assert_int_equal(
	    admit("/api/chat", "192.0.2.6", NULL, "demo", &t, out, sizeof(out)),
	    CS_OK);
	assert_string_equal(t.identity, "hdr:bob");
	end(&t);
	unsetenv("HTTP_X_USER");
}

static void
test_proxies_remote_user(void **state)
{
	struct cs_ticket t;
	char out[4096];

	(void)state;
	configure("provider = demo\nstate = memory\nconcurrent_streams = 5\n"
	          "trusted_proxies = 127.0.0.0/8\n");
	setenv("HTTP_X_FORWARDED_FOR", "198.51.100.7, 203.0.113.9", 1);
	assert_int_equal(
	    admit("/api/chat", "127.0.0.1", NULL, "demo", &t, out, sizeof(out)),
	    CS_OK);
	assert_string_equal(t.identity, "ip:203.0.113.9");
	end(&t);
	/* From anywhere else X-Forwarded-For is anyone's to write. */
	assert_int_equal(
	    admit("/api/chat", "192.0.2.7", NULL, "demo", &t, out, sizeof(out)),
	    CS_OK);
	assert_string_equal(t.identity, "ip:192.0.2.7");
	end(&t);
	unsetenv("HTTP_X_FORWARDED_FOR");

	configure("provider = demo\nstate = memory\nconcurrent_streams = 5\n"
	          "client_id = remote_user\n");
	unsetenv("REMOTE_USER");
	assert_int_equal(
	    admit("/api/chat", "192.0.2.8", NULL, "demo", &t, out, sizeof(out)),
	    CS_EHANDLED);
	assert_non_null(strstr(out, "Status: 401"));
	assert_non_null(strstr(out, "REMOTE_USER is unset"));
	setenv("REMOTE_USER", "carol", 1);
	assert_int_equal(
	    admit("/api/chat", "192.0.2.8", NULL, "demo", &t, out, sizeof(out)),
	    CS_OK);
	assert_string_equal(t.identity, "user:carol");
	end(&t);
	unsetenv("REMOTE_USER");
}

static int
teardown(void **state)
{
	(void)state;
	cs_state_close(st);
	cs_config_free(&cfg);
	return 0;
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_off),
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_rate),
		cmocka_unit_test(test_concurrent_settle),
		cmocka_unit_test(test_ledger),
		cmocka_unit_test(test_keys),
		cmocka_unit_test(test_identity_refused),
		cmocka_unit_test(test_proxies_remote_user),
	};
	unsigned char h[CS_SHA256_LEN];
	size_t i;

	cs_sha256(SECRET, strlen(SECRET), h);
	for (i = 0; i < CS_SHA256_LEN; i++)
		snprintf(secret_hex + 2 * i, 3, "%02x", h[i]);
	return cmocka_run_group_tests_name("admit", tests, NULL, teardown);
}
