/*
 * test_stream.c — the response state machine (stream.c) over a CGI
 * connection whose stdout is one end of a socketpair, and the failure
 * table (failure.c).  Each case drives the stream through one path and
 * reads back exactly the bytes that went out:
 *
 *   a failure before the first byte is a whole HTTP response, and nothing
 *   follows it; a failure while streaming is one error event and the end
 *   marker, and nothing follows them; a deferred answer goes out whole at
 *   the end; HEAD gets the head only; once the connection is lost nothing
 *   more is written and the outcome stays client_gone.
 */
#include <signal.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "config.h"
#include "failure.h"
#include "log.h"
#include "stream.h"
#include "testutil.h"

#define ID "0123456789abcdef"

struct rig {
	struct cs_config cfg;
	struct cs_conn *conn;
	int peer; /* the web server's end */
	int saved_stdout;
};

/* From here until rig_end, writes to stdout go to the stream's peer. */
static void
rig_begin(struct rig *g)
{
	int sv[2];

	memset(g, 0, sizeof(*g));
	cs_config_defaults(&g->cfg);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	fflush(stdout);
	g->saved_stdout = dup(STDOUT_FILENO);
	assert_true(g->saved_stdout >= 0);
	assert_true(dup2(sv[1], STDOUT_FILENO) == STDOUT_FILENO);
	close(sv[1]);
	g->peer = sv[0];
	unsetenv("CONTENT_LENGTH");
	g->conn = cs_conn_new_cgi();
	assert_non_null(g->conn);
}

/* Restore stdout and return what the peer received (malloc'd). */
static char *
rig_end(struct rig *g)
{
	char *all = NULL;
	size_t len = 0;
	char buf[4096];
	ssize_t n;

	dup2(g->saved_stdout, STDOUT_FILENO);
	close(g->saved_stdout);
	cs_conn_free(g->conn);
	if (g->peer >= 0) {
		while ((n = read(g->peer, buf, sizeof(buf))) > 0) {
			all = realloc(all, len + (size_t)n + 1);
			assert_non_null(all);
			memcpy(all + len, buf, (size_t)n);
			len += (size_t)n;
		}
		close(g->peer);
	}
	if (all == NULL)
		all = calloc(1, 1);
	all[len] = '\0';
	cs_config_free(&g->cfg);
	return all;
}

/* Take the stream's log numbers (a may be NULL; its error string is
 * copied, as it lives in s), free it, end the rig. */
static char *
rig_close(struct rig *g, struct cs_stream *s, struct cs_access *a)
{
	static char error[160];

	if (a != NULL) {
		memset(a, 0, sizeof(*a));
		cs_stream_account(s, a);
		if (a->error != NULL) {
			snprintf(error, sizeof(error), "%s", a->error);
			a->error = error;
		}
	}
	cs_stream_free(s);
	return rig_end(g);
}

static size_t
count(const char *hay, const char *needle)
{
	size_t n = 0;

	while ((hay = strstr(hay, needle)) != NULL) {
		n++;
		hay += strlen(needle);
	}
	return n;
}

static struct cs_event
text(const char *t)
{
	struct cs_event ev;

	memset(&ev, 0, sizeof(ev));
	ev.type = CS_EV_TEXT;
	ev.text = t;
	ev.text_len = strlen(t);
	return ev;
}

static struct cs_event
finish_ev(void)
{
	struct cs_event ev;

	memset(&ev, 0, sizeof(ev));
	ev.type = CS_EV_FINISH;
	ev.finish_reason = ev.native_finish_reason = "stop";
	return ev;
}

static void
test_fail_before_first_byte(void **state)
{
	struct rig g;
	struct cs_stream *s;
	struct cs_access a;
	struct cs_event ev = text("late");
	enum cs_err r1, r2, r3;
	char *out;

	(void)state;
	rig_begin(&g);
	s = cs_stream_new(g.conn, &g.cfg, &cs_encoder_sse, ID);
	r1 = cs_stream_fail(s, CS_FAIL_TOO_LARGE, "request body exceeds 9");
	r2 = cs_stream_emit(s, &ev); /* nothing may follow */
	r3 = cs_stream_end(s);
	out = rig_close(&g, s, &a);
	assert_int_equal(r1, CS_OK);
	assert_int_equal(r2, CS_OK);
	assert_int_equal(r3, CS_OK);
	assert_true(strncmp(out, "Status: 413 ", 12) == 0);
	assert_non_null(strstr(out, "X-Request-Id: " ID "\r\n"));
	assert_non_null(strstr(out, "Content-Length: "));
	assert_non_null(strstr(out, "\"invalid_request\""));
	assert_null(strstr(out, "late"));
	assert_int_equal(count(out, "Status:"), 1);
	assert_int_equal(a.status, 413);
	assert_string_equal(a.outcome, "bad_request");
	assert_string_equal(a.error, "invalid_request");
	free(out);
}

static void
test_fail_while_streaming(void **state)
{
	struct rig g;
	struct cs_stream *s;
	struct cs_access a;
	struct cs_event hi = text("hello"), fin = finish_ev();
	enum cs_err r1, r2, r3, r4;
	char *out;

	(void)state;
	rig_begin(&g);
	s = cs_stream_new(g.conn, &g.cfg, &cs_encoder_sse, ID);
	r1 = cs_stream_emit(s, &hi);
	r2 = cs_stream_fail(s, CS_FAIL_SHUTDOWN, "the server is stopping");
	r3 = cs_stream_emit(s, &fin); /* after the end: dropped */
	r4 = cs_stream_end(s);        /* the end marker went already */
	assert_int_equal(cs_stream_finished(s), 1);
	out = rig_close(&g, s, &a);
	assert_int_equal(r1, CS_OK);
	assert_int_equal(r2, CS_OK);
	assert_int_equal(r3, CS_OK);
	assert_int_equal(r4, CS_OK);
	assert_true(strncmp(out, "Status: 200 ", 12) == 0);
	assert_non_null(strstr(out, "hello"));
	assert_int_equal(count(out, "event: error"), 1);
	assert_non_null(strstr(out, "server_shutdown"));
	assert_int_equal(count(out, "[DONE]"), 1);
	assert_null(strstr(out, "event: finish"));
	assert_int_equal(a.status, 200);
	assert_string_equal(a.outcome, "shutdown");
	assert_int_equal((int)a.deltas, 1);
	free(out);
}

static void
test_deferred_whole_at_end(void **state)
{
	struct rig g;
	struct cs_stream *s;
	struct cs_access a;
	struct cs_event hi = text("held back"), fin = finish_ev();
	size_t before;
	char *out;
	char probe;

	(void)state;
	rig_begin(&g);
	s = cs_stream_new(g.conn, &g.cfg, &cs_encoder_openai_json, ID);
	cs_stream_set_model(s, "m");
	assert_int_equal(cs_stream_emit(s, &hi), CS_OK);
	assert_int_equal(cs_stream_emit(s, &fin), CS_OK);
	assert_int_equal(cs_stream_finished(s), 1);
	/* Nothing went out yet. */
	before = (size_t)recv(g.peer, &probe, 1, MSG_DONTWAIT | MSG_PEEK);
	assert_int_equal(cs_stream_end(s), CS_OK);
	out = rig_close(&g, s, &a);
	assert_true(before == (size_t)-1);
	assert_true(strncmp(out, "Status: 200 ", 12) == 0);
	assert_non_null(strstr(out, "Content-Length: "));
	assert_non_null(strstr(out, "\"held back\""));
	assert_non_null(strstr(out, "chat.completion"));
	assert_string_equal(a.outcome, "done");
	free(out);
}

static void
test_deferred_error_is_a_status(void **state)
{
	struct rig g;
	struct cs_stream *s;
	struct cs_access a;
	struct cs_event ev;
	char *out;

	(void)state;
	rig_begin(&g);
	s = cs_stream_new(g.conn, &g.cfg, &cs_encoder_openai_json, ID);
	memset(&ev, 0, sizeof(ev));
	ev.type = CS_EV_ERROR;
	ev.error_type = "upstream_timeout";
	ev.error_message = "no first byte";
	cs_stream_emit(s, &ev);
	cs_stream_end(s);
	out = rig_close(&g, s, &a);
	assert_true(strncmp(out, "Status: 504 ", 12) == 0);
	assert_int_equal(count(out, "Status:"), 1);
	assert_string_equal(a.outcome, "timeout");
	free(out);
}

static void
test_head_gets_head_only(void **state)
{
	struct rig g;
	struct cs_stream *s;
	struct cs_event hi = text("body");
	enum cs_err r1, r2;
	char *out;

	(void)state;
	rig_begin(&g);
	s = cs_stream_new(g.conn, &g.cfg, &cs_encoder_sse, ID);
	cs_stream_set_head(s);
	r1 = cs_stream_start(s);
	r2 = cs_stream_emit(s, &hi);
	cs_stream_end(s);
	out = rig_close(&g, s, NULL);
	assert_int_equal(r1, CS_EDONE);
	assert_int_equal(r2, CS_OK);
	assert_true(strncmp(out, "Status: 200 ", 12) == 0);
	assert_non_null(strstr(out, "\r\n\r\n"));
	assert_string_equal(strstr(out, "\r\n\r\n"), "\r\n\r\n");
	free(out);
}

static void
test_lost_connection_writes_nothing(void **state)
{
	struct rig g;
	struct cs_stream *s;
	struct cs_access a;
	struct cs_event hi = text("x"), fin = finish_ev();
	enum cs_err r1, r2, r3, r4;

	(void)state;
	rig_begin(&g);
	s = cs_stream_new(g.conn, &g.cfg, &cs_encoder_sse, ID);
	close(g.peer); /* the client left */
	g.peer = -1;
	r1 = cs_stream_emit(s, &hi);
	r2 = cs_stream_emit(s, &fin);
	r3 = cs_stream_fail(s, CS_FAIL_UPSTREAM, "too late to tell");
	r4 = cs_stream_end(s);
	free(rig_close(&g, s, &a));
	assert_int_equal(r1, CS_ECLIENTGONE);
	assert_int_equal(r2, CS_ECLIENTGONE);
	assert_int_equal(r3, CS_ECLIENTGONE);
	assert_int_equal(r4, CS_ECLIENTGONE);
	assert_string_equal(a.outcome, "client_gone");
	assert_null(a.error);
}

static void
test_method_names_allow(void **state)
{
	struct rig g;
	struct cs_stream *s;
	char *out;

	(void)state;
	rig_begin(&g);
	s = cs_stream_new(g.conn, &g.cfg, &cs_encoder_sse, ID);
	cs_stream_fail_method(s, "GET, HEAD", "use GET here");
	out = rig_close(&g, s, NULL);
	assert_true(strncmp(out, "Status: 405 ", 12) == 0);
	assert_non_null(strstr(out, "\r\nAllow: GET, HEAD\r\n"));
	free(out);
}

static void
test_failure_table(void **state)
{
	const struct cs_failure *f;
	const char *names[32];
	int i, j, n = 0;

	(void)state;
	for (i = 0; i < CS_FAIL_COUNT; i++) {
		f = cs_failure((enum cs_fail)i);
		assert_true(f->status >= 400 && f->status <= 599);
		assert_non_null(f->type);
		assert_true(f->outcome != CS_OUTCOME_DONE);
	}
	/* An out-of-range value is an internal error, not a crash. */
	assert_int_equal(cs_failure((enum cs_fail)1000)->status, 500);
	assert_int_equal(
	    cs_failure_of_event("upstream_timeout"), CS_FAIL_UPSTREAM_TIMEOUT);
	assert_int_equal(
	    cs_failure_of_event("upstream_error"), CS_FAIL_UPSTREAM);
	assert_int_equal(cs_failure_of_event(NULL), CS_FAIL_UPSTREAM);
	/* Every outcome has its own spelling. */
	for (i = CS_OUTCOME_DONE; i <= CS_OUTCOME_SHUTDOWN; i++)
		names[n++] = cs_outcome_name((enum cs_outcome)i);
	for (i = 0; i < n; i++)
		for (j = i + 1; j < n; j++)
			assert_string_not_equal(names[i], names[j]);
	assert_string_equal(
	    cs_outcome_name(CS_OUTCOME_SLOW_CLIENT), "slow_client");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fail_before_first_byte),
		cmocka_unit_test(test_fail_while_streaming),
		cmocka_unit_test(test_deferred_whole_at_end),
		cmocka_unit_test(test_deferred_error_is_a_status),
		cmocka_unit_test(test_head_gets_head_only),
		cmocka_unit_test(test_lost_connection_writes_nothing),
		cmocka_unit_test(test_method_names_allow),
		cmocka_unit_test(test_failure_table),
	};

	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
