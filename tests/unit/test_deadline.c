/*
 * test_deadline.c — the request-read watchdog on a socketpair: a blocked
 * read ends at the deadline while writes still work, disarming in time
 * leaves the socket alone, a peer that keeps sending is shut down both
 * ways a second later, a deadline moved to another descriptor of the
 * connection keeps its time and its fired flag, and many slots fire
 * independently.  The write watch:
 * a write blocked on a peer that reads nothing, or only a trickle, fails
 * at its limit; writes that complete in time leave the socket alone.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
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
	assert_int_equal(cs_deadline_disarm(&d), 1); /* still tells */
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
	assert_int_equal(poll(&p, 1, 300), 0); /* no EOF appeared */
	/* Re-armed, it fires again. */
	cs_deadline_arm(&d, sv[0], 50);
	assert_int_equal(poll(&p, 1, 2000), 1);
	assert_int_equal(cs_deadline_disarm(&d), 1);
	close(sv[0]);
	close(sv[1]);
}

/*
 * Moved to another descriptor of the connection after it fired: it still
 * tells that it fired (a body read that then sees end-of-file is a
 * timeout, not a client that left), and what is left of it acts on the
 * new descriptor once the old one is closed.
 */
static void
test_move_keeps_fired(void **state)
{
	struct cs_deadline d;
	struct pollfd p;
	int sv[2], dup_fd;
	char c;

	(void)state;
	memset(&d, 0, sizeof(d));
	pair(sv);
	assert_true((dup_fd = dup(sv[0])) >= 0);
	cs_deadline_arm(&d, sv[0], 50);
	assert_int_equal(read(sv[0], &c, 1), 0); /* fired: shut for reading */
	cs_deadline_move(&d, dup_fd);
	close(sv[0]);
	assert_int_equal(read(dup_fd, &c, 1), 0);
	/* Still armed: the kill stage reaches the peer through dup_fd. */
	p.fd = sv[1];
	p.events = POLLIN | POLLRDHUP;
	assert_int_equal(poll(&p, 1, CS_DEADLINE_KILL_MS + 2000), 1);
	assert_int_equal(cs_deadline_disarm(&d), 1);
	close(dup_fd);
	close(sv[1]);
}

/* Moved before it fired: it fires at its time, on the new descriptor. */
static void
test_move_in_time(void **state)
{
	struct cs_deadline d;
	int sv[2], dup_fd;
	char c;
	long long t0, dt;

	(void)state;
	memset(&d, 0, sizeof(d));
	pair(sv);
	assert_true((dup_fd = dup(sv[0])) >= 0);
	t0 = cs_now_ms();
	cs_deadline_arm(&d, sv[0], 200);
	cs_deadline_move(&d, dup_fd);
	close(sv[0]);
	assert_int_equal(read(dup_fd, &c, 1), 0);
	dt = cs_now_ms() - t0;
	if (dt < 150 || dt > 2000)
		fail_msg("read ended after %lld ms, want ~200", dt);
	assert_int_equal(cs_deadline_disarm(&d), 1);
	close(dup_fd);
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
	enum {
		N = 5
	};
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

/* Fill sv[0]'s send path until a write would block; leave it blocking. */
static void
fill(int fd)
{
	char buf[4096];
	int fl = fcntl(fd, F_GETFL);

	memset(buf, 'x', sizeof(buf));
	assert_int_equal(fcntl(fd, F_SETFL, fl | O_NONBLOCK), 0);
	while (write(fd, buf, sizeof(buf)) > 0)
		;
	assert_int_equal(errno, EAGAIN);
	assert_int_equal(fcntl(fd, F_SETFL, fl), 0);
}

/* Watch sv[0] with a limit of ms (the watch uses the armed fd). */
static void
watch(struct cs_deadline *d, int fd, long ms)
{
	memset(d, 0, sizeof(*d));
	cs_deadline_arm(d, fd, 600000);
	cs_deadline_disarm(d);
	cs_deadline_watch(d, ms);
}

/* One blocked write of size n; returns how long it took, *res its result. */
static long long
timed_write(struct cs_deadline *d, int fd, size_t n, ssize_t *res)
{
	static char buf[1 << 20];
	long long t0 = cs_now_ms();

	cs_deadline_write_begin(d);
	*res = write(fd, buf, n);
	(void)cs_deadline_write_end(d);
	return cs_now_ms() - t0;
}

/* A peer that reads nothing: the blocked write fails at the limit. */
static void
test_write_stalled(void **state)
{
	struct cs_deadline d;
	int sv[2];
	ssize_t res;
	long long dt;

	(void)state;
	pair(sv);
	watch(&d, sv[0], 200);
	fill(sv[0]);
	dt = timed_write(&d, sv[0], 1024, &res);
	assert_int_equal(res, -1);
	if (dt < 150 || dt > 2000)
		fail_msg("write failed after %lld ms, want ~200", dt);
	assert_int_equal(cs_deadline_write_end(&d), 1);
	cs_deadline_unwatch(&d);
	close(sv[0]);
	close(sv[1]);
}

static _Atomic int trickle_stop;

static void *
trickle(void *arg)
{
	int fd = *(int *)arg;
	char c;

	/* A byte every 20 ms (there is always one: the writer filled the
	 * buffer) until told to stop. */
	while (!atomic_load(&trickle_stop) && read(fd, &c, 1) == 1)
		poll(NULL, 0, 20);
	return NULL;
}

/* A peer that keeps taking a byte now and then does not reset the limit:
 * it bounds the whole write, not the time without progress. */
static void
test_write_trickled(void **state)
{
	struct cs_deadline d;
	pthread_t th;
	int sv[2];
	ssize_t res;
	long long dt;

	(void)state;
	pair(sv);
	watch(&d, sv[0], 300);
	fill(sv[0]);
	assert_int_equal(pthread_create(&th, NULL, trickle, &sv[1]), 0);
	dt = timed_write(&d, sv[0], 1 << 20, &res);
	atomic_store(&trickle_stop, 1);
	if (res == 1 << 20)
		fail_msg("a trickling peer took the whole write");
	if (dt < 250 || dt > 2000)
		fail_msg("write ended after %lld ms, want ~300", dt);
	assert_int_equal(cs_deadline_write_end(&d), 1);
	pthread_join(th, NULL);
	cs_deadline_unwatch(&d);
	close(sv[0]);
	close(sv[1]);
}

/* Writes that complete leave the socket alone, however long the stream. */
static void
test_write_in_time(void **state)
{
	struct cs_deadline d;
	int sv[2], i;
	char c;

	(void)state;
	pair(sv);
	watch(&d, sv[0], 100);
	for (i = 0; i < 10; i++) {
		cs_deadline_write_begin(&d);
		assert_int_equal(write(sv[0], "x", 1), 1);
		assert_int_equal(cs_deadline_write_end(&d), 0);
		assert_int_equal(read(sv[1], &c, 1), 1);
		poll(NULL, 0, 40); /* 400 ms in all, 4 limits */
	}
	cs_deadline_unwatch(&d);
	assert_int_equal(write(sv[0], "x", 1), 1);
	assert_int_equal(read(sv[1], &c, 1), 1);
	close(sv[0]);
	close(sv[1]);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fires),
		cmocka_unit_test(test_disarm_in_time),
		cmocka_unit_test(test_kill),
		cmocka_unit_test(test_move_keeps_fired),
		cmocka_unit_test(test_move_in_time),
		cmocka_unit_test(test_many),
		cmocka_unit_test(test_write_stalled),
		cmocka_unit_test(test_write_trickled),
		cmocka_unit_test(test_write_in_time),
	};

	return cmocka_run_group_tests_name("deadline", tests, setup, teardown);
}
