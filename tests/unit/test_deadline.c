/*
 * test_deadline.c — the request-read watchdog on a socketpair: a blocked
 * read ends at the deadline while writes still work, disarming in time
 * leaves the socket alone, a peer that keeps sending is shut down both
 * ways a second later, and many slots fire independently.
 */
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "deadline.h"
#include "stream.h"
#include "testutil.h"

static int
setup(void **state)
{
	(void)state;
	return cs_watchdog_start();
}

static int
teardown(void **state)
{
	(void)state;
	cs_watchdog_stop();
	return 0;
}

static void
pair(int sv[2])
{
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
}

/* A blocked read returns EOF at the deadline; we can still answer. */
static void
test_fires(void **state)
{
	struct cs_deadline d;
	int sv[2];
	char c;
	long long t0, dt;

	(void)state;
	memset(&d, 0, sizeof(d));
	pair(sv);
	t0 = cs_now_ms();
	cs_deadline_arm(&d, sv[0], 200);
	assert_int_equal(read(sv[0], &c, 1), 0);
	dt = cs_now_ms() - t0;
	if (dt < 150 || dt > 2000)
		fail_msg("read ended after %lld ms, want ~200", dt);
	assert_int_equal(write(sv[0], "x", 1), 1);
	assert_int_equal(read(sv[1], &c, 1), 1);
	assert_int_equal(cs_deadline_disarm(&d), 1);
	assert_int_equal(cs_deadline_disarm(&d), 1);   /* still tells */
	close(sv[0]);
	close(sv[1]);
}

/* Disarmed before the deadline: nothing happens to the socket. */
static void
test_disarm_in_time(void **state)
{
	struct cs_deadline d;
	struct pollfd p;
	int sv[2];

	(void)state;
	memset(&d, 0, sizeof(d));
	pair(sv);
	cs_deadline_arm(&d, sv[0], 100);
	assert_int_equal(cs_deadline_disarm(&d), 0);
	p.fd = sv[0];
	p.events = POLLIN | POLLRDHUP;
	assert_int_equal(poll(&p, 1, 300), 0);   /* no EOF appeared */
	/* Re-armed, it fires again. */
	cs_deadline_arm(&d, sv[0], 50);
	assert_int_equal(poll(&p, 1, 2000), 1);
	assert_int_equal(cs_deadline_disarm(&d), 1);
	close(sv[0]);
	close(sv[1]);
}

/* Still armed CS_DEADLINE_KILL_MS after firing: shut down both ways. */
static void
test_kill(void **state)
{
	struct cs_deadline d;
	struct pollfd p;
	int sv[2];
	long long t0, dt;

	(void)state;
	memset(&d, 0, sizeof(d));
	pair(sv);
	t0 = cs_now_ms();
	cs_deadline_arm(&d, sv[0], 50);
	p.fd = sv[1];
	p.events = POLLIN | POLLRDHUP;
	assert_int_equal(poll(&p, 1, CS_DEADLINE_KILL_MS + 2000), 1);
	dt = cs_now_ms() - t0;
	if (dt < CS_DEADLINE_KILL_MS)
		fail_msg("the peer saw EOF after %lld ms, before the kill", dt);
	assert_int_equal(cs_deadline_disarm(&d), 1);
	close(sv[0]);
	close(sv[1]);
}

/* Several slots, armed out of order, each fires at its own time. */
static void
test_many(void **state)
{
	enum { N = 5 };
	struct cs_deadline d[N];
	int sv[N][2], i;
	char c;
	long long t0, dt;

	(void)state;
	memset(d, 0, sizeof(d));
	t0 = cs_now_ms();
	for (i = 0; i < N; i++) {
		pair(sv[i]);
		cs_deadline_arm(&d[i], sv[i][0], 100L * (N - i));
	}
	for (i = N - 1; i >= 0; i--) {
		assert_int_equal(read(sv[i][0], &c, 1), 0);
		dt = cs_now_ms() - t0;
		if (dt < 100L * (N - i) - 50 || dt > 100L * (N - i) + 1000)
			fail_msg("slot %d fired after %lld ms", i, dt);
	}
	for (i = 0; i < N; i++) {
		assert_int_equal(cs_deadline_disarm(&d[i]), 1);
		close(sv[i][0]);
		close(sv[i][1]);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fires),
		cmocka_unit_test(test_disarm_in_time),
		cmocka_unit_test(test_kill),
		cmocka_unit_test(test_many),
	};

	return cmocka_run_group_tests_name("deadline", tests, setup, teardown);
}
