/*
 * test_upstream.c — one provider stream on an event loop (upstream.c),
 * through its public calls, against a scripted HTTP/1.1 server in a
 * thread (http_stub.h), with the openai-chat adapter and a CGI client
 * whose stdout is one end of a socketpair:
 *
 *   429, 5xx, a refused connection and an empty reply are retried before
 *   the first byte, max_retries times and no more, after Retry-After (or
 *   retry-after-ms) when the provider says; a 4xx is not retried; a body
 *   cut after the first byte is an error event, never a retry; the
 *   first-byte and idle timeouts end the stream and close the provider's
 *   connection; a client that leaves cancels the transfer; two streams in
 *   a row on one loop share one TCP connection.
 *
 * Waits are on events: the loop watches the stub's note pipe and the
 * client's socket, so each pass ends when something happened; every case
 * has a deadline (LIMIT_MS) and an alarm behind it, so a hang fails.
 */
#include <signal.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <curl/curl.h>

#include "config.h"
#include "log.h"
#include "loop.h"
#include "provider.h"
#include "request.h"
#include "stream.h"
#include "upstream.h"
#include "testutil.h"
#include "http_stub.h"

#define ID       "0123456789abcdef"
#define LIMIT_MS 8000 /* what no case may take */
#define ALARM_S  30   /* behind it: SIGALRM ends a hung process */
#define BODY     "{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}"

/* An OpenAI chat stream: "Hello" then the finish. */
#define SSE_HELLO \
	"data: {\"choices\":[{\"index\":0,\"delta\":" \
	"{\"content\":\"Hello\"},\"finish_reason\":null}]}\n\n"
#define SSE_END \
	"data: {\"choices\":[{\"index\":0,\"delta\":{}," \
	"\"finish_reason\":\"stop\"}]}\n\ndata: [DONE]\n\n"
#define SSE_HEAD "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
#define LEN(s)   (sizeof(s) - 1)

/* A whole 200 answer (Content-Length, so the connection is kept). */
static char ok_reply[512];

#define SEND(s) \
	{ \
		STUB_SEND, (s), 0 \
	}
#define GO(n) \
	{ \
		STUB_WAIT_GO, NULL, (n) \
	}
#define CUT \
	{ \
		STUB_CUT, NULL, 0 \
	}
#define HANG \
	{ \
		STUB_HANG, NULL, 0 \
	}
#define STATUS(line, extra) \
	"HTTP/1.1 " line "\r\n" extra "Content-Length: 0\r\n\r\n"

struct rig {
	struct cs_config cfg;
	struct cs_loop *l;
	struct http_stub st;
	struct cs_conn *conn;
	struct cs_stream *s;
	struct cs_chat_request *req;
	struct cs_run *run;
	struct cs_watch note_w, peer_w;
	int peer; /* the web server's end of stdout */
	int saved_stdout;
	char out[65536]; /* what the client got so far */
	size_t out_len;
	int done;
	enum cs_err result;
	struct cs_access a;
	char error[160];
	int64_t t0;
};

/* The stub changed something: drain its note (the pass then ends). */
static void
on_note(void *arg, unsigned events)
{
	struct rig *g = arg;
	char buf[64];

	(void)events;
	while (read(g->st.note[0], buf, sizeof(buf)) > 0)
		;
}

/* The client's side has bytes (or the stream closed): keep them. */
static void
on_peer(void *arg, unsigned events)
{
	struct rig *g = arg;
	ssize_t n;

	(void)events;
	n = read(g->peer, g->out + g->out_len, sizeof(g->out) - 1 - g->out_len);
	if (n <= 0) {
		cs_loop_unwatch(g->l, &g->peer_w);
		return;
	}
	g->out_len += (size_t)n;
	g->out[g->out_len] = '\0';
}

/* The config for the stub's port: openai-chat at http://127.0.0.1:PORT
 * (or port), with max_retries and the two timeouts (ms; 0 = default). */
static void
config_for(
    struct rig *g, int port, int retries, long first_byte_ms, long idle_ms)
{
	struct cs_upstream_cfg *u = &g->cfg.upstreams[0];
	char err[256];

	cs_config_defaults(&g->cfg);
	u->provider = cs_provider_find("openai-chat");
	snprintf(
	    u->base_url, sizeof(u->base_url), "http://127.0.0.1:%d/v1", port);
	u->max_retries = retries;
	if (first_byte_ms > 0)
		u->first_byte_timeout_ms = first_byte_ms;
	if (idle_ms > 0)
		u->idle_timeout_ms = idle_ms;
	u->api_key_env[0] = '\0'; /* no key from the environment */
	err[0] = '\0';
	if (cs_config_resolve(&g->cfg, err, sizeof(err)) != CS_OK)
		fail_msg("resolve: %s", err);
}

/* A stub playing replies, a loop watching it, and the config for it. */
static void
rig_init(struct rig *g, const struct stub_reply *replies, size_t n, int retries,
    long first_byte_ms, long idle_ms)
{
	memset(g, 0, sizeof(*g));
	g->peer = -1;
	g->saved_stdout = -1;
	g->note_w.fd = g->peer_w.fd = -1;
	alarm(ALARM_S);
	stub_start(&g->st, replies, n);
	config_for(g, g->st.port, retries, first_byte_ms, idle_ms);
	assert_non_null(g->l = cs_loop_new());
	assert_int_equal(cs_loop_watch(g->l, &g->note_w, g->st.note[0],
	                     CS_IO_IN, on_note, g),
	    0);
}

static void
on_done(void *arg, enum cs_err r)
{
	struct rig *g = arg;

	g->done++;
	g->result = r;
}

/* A stream to a fresh CGI client (stdout = a socketpair) and its run,
 * begun on the rig's loop. */
static void
stream_begin(struct rig *g)
{
	struct cs_reqerr err;
	int sv[2];

	g->out_len = 0;
	g->out[0] = '\0';
	g->done = 0;
	assert_int_equal(
	    socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	fflush(stdout);
	assert_true((g->saved_stdout = dup(STDOUT_FILENO)) >= 0);
	assert_true(dup2(sv[1], STDOUT_FILENO) == STDOUT_FILENO);
	close(sv[1]);
	g->peer = sv[0];
	unsetenv("CONTENT_LENGTH");
	assert_non_null(g->conn = cs_conn_new_cgi());
	assert_non_null(
	    g->s = cs_stream_new(g->conn, &g->cfg, &cs_encoder_sse, ID));
	assert_int_equal(
	    cs_request_parse(&g->cfg, BODY, LEN(BODY), &g->req, &err), CS_OK);
	assert_non_null(g->run = cs_upstream_prepare(
	                    cs_provider_find("openai-chat"), g->req, g->s));
	assert_int_equal(
	    cs_loop_watch(g->l, &g->peer_w, g->peer, CS_IO_IN, on_peer, g), 0);
	g->t0 = cs_now_ms();
	cs_upstream_begin(g->run, g->l, on_done, g);
}

/* Run the loop until pred(g) holds; fail after LIMIT_MS. */
static void
run_until(struct rig *g, int (*pred)(struct rig *), const char *what)
{
	int64_t end = cs_now_ms() + LIMIT_MS, now;

	while (!pred(g)) {
		if ((now = cs_now_ms()) >= end)
			fail_msg("no %s in %d ms", what, LIMIT_MS);
		assert_int_equal(cs_loop_run_once(g->l, (long)(end - now)), 0);
	}
}

static int
is_done(struct rig *g)
{
	return g->done > 0;
}

static int
client_has_hello(struct rig *g)
{
	return strstr(g->out, "Hello") != NULL;
}

/* After done: free the run and the stream (taking its log numbers),
 * restore stdout and read the rest of what the client got. */
static void
stream_end(struct rig *g)
{
	ssize_t n;

	assert_int_equal(g->done, 1);
	cs_upstream_free(g->run);
	g->run = NULL;
	memset(&g->a, 0, sizeof(g->a));
	cs_stream_account(g->s, &g->a);
	if (g->a.error != NULL) {
		snprintf(g->error, sizeof(g->error), "%s", g->a.error);
		g->a.error = g->error;
	}
	cs_stream_free(g->s);
	g->s = NULL;
	cs_request_free(g->req);
	g->req = NULL;
	dup2(g->saved_stdout, STDOUT_FILENO);
	close(g->saved_stdout);
	g->saved_stdout = -1;
	cs_conn_free(g->conn);
	g->conn = NULL;
	cs_loop_unwatch(g->l, &g->peer_w);
	if (g->peer >= 0) {
		while ((n = read(g->peer, g->out + g->out_len,
		            sizeof(g->out) - 1 - g->out_len)) > 0)
			g->out_len += (size_t)n;
		g->out[g->out_len] = '\0';
		close(g->peer);
		g->peer = -1;
	}
}

/* A stream from begin to end. */
static void
stream_run(struct rig *g)
{
	stream_begin(g);
	run_until(g, is_done, "end of the run");
	stream_end(g);
}

static void
rig_free(struct rig *g)
{
	cs_loop_unwatch(g->l, &g->note_w);
	cs_loop_free(g->l); /* closes libcurl's kept connections */
	stub_stop(&g->st);
	cs_config_free(&g->cfg);
	alarm(0);
}

/* Does needle occur in hay exactly once? */
static int
once(const char *hay, const char *needle)
{
	const char *p = strstr(hay, needle);

	return p != NULL && strstr(p + strlen(needle), needle) == NULL;
}

/* The client got one whole answer: "Hello", the finish, one head. */
static void
assert_answer(const struct rig *g)
{
	assert_int_equal(g->result, CS_OK);
	assert_true(strncmp(g->out, "Status: 200 ", 12) == 0);
	assert_true(once(g->out, "Status:"));
	assert_true(once(g->out, "Hello"));
	assert_non_null(strstr(g->out, "event: finish"));
	assert_null(strstr(g->out, "event: error"));
	assert_string_equal(g->a.outcome, "done");
}

/* A 200 whose body says "Hello" and then nothing more, with
 * max_retries 2 and idle_ms (0 = the default): begun, and run until the
 * client has the "Hello". */
static void
begin_hello_then_hang(struct rig *g, long idle_ms)
{
	static const struct stub_reply replies[] = {
		{ { SEND(SSE_HEAD "Content-Length: 10000\r\n\r\n" SSE_HELLO),
		    HANG } },
	};

	rig_init(g, replies, 1, 2, 0, idle_ms);
	stream_begin(g);
	run_until(g, client_has_hello, "Hello at the client");
}

/* --- retries before the first byte --- */

/* 503, then 502 (retry-after-ms: 20), then the answer: three requests,
 * two retries, and the client sees only the answer. */
static void
test_retry_5xx(void **state)
{
	const struct stub_reply replies[] = {
		{ { SEND(STATUS(
		    "503 Service Unavailable", "Retry-After-Ms: 20\r\n")) } },
		{ { SEND(
		    STATUS("502 Bad Gateway", "retry-after-ms: 20\r\n")) } },
		{ { SEND(ok_reply) } },
	};
	struct rig g;

	(void)state;
	rig_init(&g, replies, CS_ARRAY_LEN(replies), 2, 0, 0);
	stream_run(&g);
	assert_answer(&g);
	assert_int_equal(stub_count(&g.st, &g.st.requests), 3);
	assert_int_equal(g.a.retries, 2);
	assert_string_equal(g.st.first_line,
	    "POST /v1/chat/completions "
	    "HTTP/1.1");
	rig_free(&g);
}

/* Always 500: max_retries 0 makes one request, 3 makes four, and then
 * the client gets the provider's failure (502) with its message. */
static void
test_retry_count(void **state)
{
	static const int counts[] = { 0, 3 };
	const struct stub_reply replies[] = {
		{ { SEND(
		    "HTTP/1.1 500 Internal Server Error\r\n"
		    "retry-after-ms: 10\r\nContent-Type: application/json\r\n"
		    "Content-Length: 28\r\n\r\n"
		    "{\"error\":{\"message\":\"boom\"}}") } },
	};
	struct rig g;
	size_t i;

	(void)state;
	for (i = 0; i < CS_ARRAY_LEN(counts); i++) {
		rig_init(&g, replies, 1, counts[i], 0, 0);
		stream_run(&g);
		assert_int_equal(g.result, CS_EUPSTREAM);
		assert_int_equal(
		    stub_count(&g.st, &g.st.requests), counts[i] + 1);
		assert_int_equal(g.a.retries, counts[i]);
		assert_true(strncmp(g.out, "Status: 502 ", 12) == 0);
		assert_non_null(strstr(g.out,
		    "the provider failed (HTTP 500)"
		    ": boom"));
		assert_string_equal(g.a.outcome, "upstream_error");
		rig_free(&g);
	}
}

/* 429 with Retry-After: 1 waits a second before the retry; when the
 * retries are spent the client gets the 429 and the Retry-After. */
static void
test_retry_after_429(void **state)
{
	const struct stub_reply replies[] = {
		{ { SEND(
		    STATUS("429 Too Many Requests", "Retry-After: 1\r\n")) } },
	};
	struct rig g;
	int64_t gap;

	(void)state;
	rig_init(&g, replies, 1, 1, 0, 0);
	stream_run(&g);
	assert_int_equal(g.result, CS_EUPSTREAM);
	assert_int_equal(stub_count(&g.st, &g.st.requests), 2);
	gap = g.st.req_at[1] - g.st.req_at[0];
	assert_true(gap >= 1000);
	assert_true(gap < LIMIT_MS);
	assert_true(strncmp(g.out, "Status: 429 ", 12) == 0);
	assert_non_null(strstr(g.out, "\r\nRetry-After: 1\r\n"));
	assert_int_equal(g.a.retries, 1);
	rig_free(&g);
}

/* A 400 is the request's fault: not retried. */
static void
test_no_retry_4xx(void **state)
{
	const struct stub_reply replies[] = {
		{ { SEND(
		    STATUS("400 Bad Request", "retry-after-ms: 10\r\n")) } },
		{ { SEND(ok_reply) } },
	};
	struct rig g;

	(void)state;
	rig_init(&g, replies, CS_ARRAY_LEN(replies), 2, 0, 0);
	stream_run(&g);
	assert_int_equal(g.result, CS_EUPSTREAM);
	assert_int_equal(stub_count(&g.st, &g.st.requests), 1);
	assert_true(strncmp(g.out, "Status: 502 ", 12) == 0);
	assert_non_null(strstr(g.out, "rejected the request (HTTP 400)"));
	assert_int_equal(g.a.retries, 0);
	rig_free(&g);
}

/* Nothing listens (a bound socket that never listens refuses, and keeps
 * the port from anyone else): max_retries 2 = three attempts, with the
 * backoff between them (0.5 s and 1 s, less up to a quarter). */
static void
test_retry_connect_refused(void **state)
{
	const struct stub_reply replies[] = { { { SEND(ok_reply) } } };
	struct sockaddr_in sin;
	socklen_t len = sizeof(sin);
	struct rig g;
	int fd;

	(void)state;
	rig_init(&g, replies, 1, 2, 0, 0);
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_true((fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) >= 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&sin, &len), 0);
	cs_config_free(&g.cfg);
	config_for(&g, ntohs(sin.sin_port), 2, 0, 0);
	stream_run(&g);
	close(fd);
	assert_int_equal(g.result, CS_EUPSTREAM);
	assert_int_equal(g.a.retries, 2);
	assert_true(cs_now_ms() - g.t0 >= 375 + 750);
	assert_true(strncmp(g.out, "Status: 502 ", 12) == 0);
	assert_non_null(strstr(g.out, "could not reach the provider"));
	assert_int_equal(stub_count(&g.st, &g.st.accepts), 0);
	rig_free(&g);
}

/* The provider takes the request and closes without a byte: retried,
 * on a new connection, and the second attempt is answered. */
static void
test_retry_empty_reply(void **state)
{
	const struct stub_reply replies[] = {
		{ { CUT } },
		{ { SEND(ok_reply) } },
	};
	struct rig g;

	(void)state;
	rig_init(&g, replies, CS_ARRAY_LEN(replies), 1, 0, 0);
	stream_run(&g);
	assert_answer(&g);
	assert_int_equal(stub_count(&g.st, &g.st.requests), 2);
	assert_int_equal(stub_count(&g.st, &g.st.accepts), 2);
	assert_int_equal(g.a.retries, 1);
	rig_free(&g);
}

/* --- after the first byte --- */

/* The body is cut once "Hello" has reached the client: no retry (it
 * would repeat it); the stream ends with an error event. */
static void
test_no_retry_after_first_byte(void **state)
{
	const struct stub_reply replies[] = {
		{ { SEND(SSE_HEAD "Content-Length: 10000\r\n\r\n" SSE_HELLO),
		    GO(1), CUT } },
		{ { SEND(ok_reply) } },
	};
	struct rig g;

	(void)state;
	rig_init(&g, replies, CS_ARRAY_LEN(replies), 2, 0, 0);
	stream_begin(&g);
	run_until(&g, client_has_hello, "Hello at the client");
	stub_go(&g.st);
	run_until(&g, is_done, "end of the run");
	stream_end(&g);
	assert_int_equal(g.result, CS_EUPSTREAM);
	assert_int_equal(stub_count(&g.st, &g.st.requests), 1);
	assert_int_equal(g.a.retries, 0);
	assert_true(strncmp(g.out, "Status: 200 ", 12) == 0);
	assert_true(once(g.out, "Hello"));
	assert_true(once(g.out, "event: error"));
	assert_non_null(strstr(g.out, "lost mid-stream"));
	assert_non_null(strstr(g.out, "[DONE]"));
	assert_string_equal(g.a.outcome, "upstream_error");
	rig_free(&g);
}

/* --- timeouts --- */

/* The provider takes the request and never answers: after
 * first_byte_timeout (0.3 s) the client gets a 504, the provider's
 * connection is closed, and there is no retry. */
static void
test_first_byte_timeout(void **state)
{
	const struct stub_reply replies[] = { { { HANG } } };
	struct rig g;
	int64_t took;

	(void)state;
	rig_init(&g, replies, 1, 2, 300, 0);
	stream_run(&g);
	took = cs_now_ms() - g.t0;
	assert_int_equal(g.result, CS_ETIMEOUT);
	assert_true(took >= 300);
	assert_true(took < LIMIT_MS);
	assert_true(strncmp(g.out, "Status: 504 ", 12) == 0);
	assert_non_null(strstr(g.out, "first_byte_timeout"));
	assert_true(stub_wait(&g.st, &g.st.hangups, 1, LIMIT_MS));
	assert_int_equal(stub_count(&g.st, &g.st.requests), 1);
	assert_string_equal(g.a.outcome, "timeout");
	rig_free(&g);
}

/* "Hello", then silence: after idle_timeout (0.3 s) an error event ends
 * the stream and the provider's connection is closed. */
static void
test_idle_timeout(void **state)
{
	struct rig g;

	(void)state;
	begin_hello_then_hang(&g, 300);
	run_until(&g, is_done, "end of the run");
	assert_true(cs_now_ms() - g.t0 >= 300);
	stream_end(&g);
	assert_int_equal(g.result, CS_ETIMEOUT);
	assert_true(strncmp(g.out, "Status: 200 ", 12) == 0);
	assert_true(once(g.out, "Hello"));
	assert_true(once(g.out, "event: error"));
	assert_non_null(strstr(g.out, "idle_timeout"));
	assert_true(stub_wait(&g.st, &g.st.hangups, 1, LIMIT_MS));
	assert_int_equal(stub_count(&g.st, &g.st.requests), 1);
	rig_free(&g);
}

/* --- the client --- */

/* The client leaves mid-answer: the run ends client_gone and the
 * provider's connection is closed (generation stops there). */
static void
test_client_gone_cancels(void **state)
{
	struct rig g;

	(void)state;
	begin_hello_then_hang(&g, 0);
	cs_loop_unwatch(g.l, &g.peer_w);
	close(g.peer);
	g.peer = -1;
	run_until(&g, is_done, "end of the run");
	assert_int_equal(g.result, CS_ECLIENTGONE);
	assert_true(stub_wait(&g.st, &g.st.hangups, 1, LIMIT_MS));
	stream_end(&g);
	assert_string_equal(g.a.outcome, "client_gone");
	assert_int_equal(stub_count(&g.st, &g.st.requests), 1);
	assert_int_equal(g.a.retries, 0);
	rig_free(&g);
}

/* --- connections --- */

/* Two streams in a row on one loop: two requests on one connection. */
static void
test_keepalive_reuse(void **state)
{
	const struct stub_reply replies[] = { { { SEND(ok_reply) } } };
	struct rig g;

	(void)state;
	rig_init(&g, replies, 1, 0, 0, 0);
	stream_run(&g);
	assert_answer(&g);
	stream_run(&g);
	assert_answer(&g);
	assert_int_equal(stub_count(&g.st, &g.st.requests), 2);
	assert_int_equal(stub_count(&g.st, &g.st.accepts), 1);
	rig_free(&g);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_retry_5xx),
		cmocka_unit_test(test_retry_count),
		cmocka_unit_test(test_retry_after_429),
		cmocka_unit_test(test_no_retry_4xx),
		cmocka_unit_test(test_retry_connect_refused),
		cmocka_unit_test(test_retry_empty_reply),
		cmocka_unit_test(test_no_retry_after_first_byte),
		cmocka_unit_test(test_first_byte_timeout),
		cmocka_unit_test(test_idle_timeout),
		cmocka_unit_test(test_client_gone_cancels),
		cmocka_unit_test(test_keepalive_reuse),
	};
	int r;

	signal(SIGPIPE, SIG_IGN);
	/* Straight to 127.0.0.1, whatever proxy the environment names. */
	unsetenv("http_proxy");
	unsetenv("HTTP_PROXY");
	unsetenv("all_proxy");
	unsetenv("ALL_PROXY");
	setenv("no_proxy", "*", 1);
	snprintf(ok_reply, sizeof(ok_reply),
	    "%sContent-Length: %zu\r\n\r\n"
	    "%s%s",
	    SSE_HEAD, LEN(SSE_HELLO SSE_END), SSE_HELLO, SSE_END);
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
		return 1;
	r = cmocka_run_group_tests_name("upstream", tests, NULL, NULL);
	curl_global_cleanup();
	return r;
}
