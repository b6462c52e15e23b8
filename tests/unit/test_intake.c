/*
 * test_intake.c — the waiting room for requests still arriving: the
 * FastCGI scan that decides when a request is in, and the intake thread
 * on socketpairs (a parked connection is handed over when its request
 * completes, when its peer hangs up after sending something, or at its
 * deadline, and not before; one that hangs up silently is closed; nothing
 * it peeked at is consumed).
 */
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "intake.h"
#include "stream.h"
#include "testutil.h"

#define READ_MS 300

/* One record: version 1, type, request id 1, content, padding. */
static size_t
rec(unsigned char *p, int type, const char *content, size_t n, int pad)
{
	p[0] = 1;
	p[1] = (unsigned char)type;
	p[2] = 0;
	p[3] = 1;
	p[4] = (unsigned char)(n >> 8);
	p[5] = (unsigned char)n;
	p[6] = (unsigned char)pad;
	p[7] = 0;
	memcpy(p + 8, content, n);
	memset(p + 8 + n, 0, (size_t)pad);
	return 8 + n + (size_t)pad;
}

/* begin, params "AB", end of params, stdin "{}"; the end of STDIN is
 * not included.  Returns the length. */
static size_t
partial_request(unsigned char *p)
{
	size_t n = 0;

	n += rec(p + n, 1, "\0\1\0\0\0\0\0\0", 8, 0);
	n += rec(p + n, 4, "\1\1AB", 4, 4);
	n += rec(p + n, 4, "", 0, 0);
	n += rec(p + n, 5, "{}", 2, 6);
	return n;
}

static void
test_scan(void **state)
{
	unsigned char buf[256], big[CS_INTAKE_READY_BYTES];
	size_t n, need = 0, i;

	(void)state;
	n = partial_request(buf);
	/* Every prefix of the request is "not yet". */
	for (i = 0; i <= n; i++)
		assert_int_equal(cs_fcgi_scan(buf, i, &need), 0);
	/* With nothing cut, the next header is what it waits for. */
	assert_int_equal(need, n + 8);
	/* Half a header of the end record: still not. */
	n += rec(buf + n, 5, "", 0, 0);
	assert_int_equal(cs_fcgi_scan(buf, n - 4, &need), 0);
	assert_int_equal(cs_fcgi_scan(buf, n, &need), 1);
	/* In the middle of a record's content, it needs the record's end. */
	assert_int_equal(cs_fcgi_scan(buf, 16 + 8 + 2, &need), 0);
	assert_int_equal(need, 16 + 8 + 4 + 4 + 8);
	/* Not FastCGI: libfcgi's to refuse. */
	buf[0] = 'G';
	assert_int_equal(cs_fcgi_scan(buf, 8, &need), 1);
	/* Enough bytes waiting: a worker may read the rest. */
	memset(big, 0, sizeof(big));
	big[0] = 1;
	big[1] = 5;
	big[4] = 0xff;
	big[5] = 0xff;
	assert_int_equal(cs_fcgi_scan(big, sizeof(big) - 1, &need), 0);
	assert_int_equal(cs_fcgi_scan(big, sizeof(big), &need), 1);
}

static int
setup(void **state)
{
	(void)state;
	return cs_intake_start(READ_MS, 4);
}

static int
teardown(void **state)
{
	(void)state;
	cs_intake_stop();
	return 0;
}

/* Wait up to ms for a ready connection; its fd or -1. */
static int
take_within(int ms, long long *t0)
{
	struct pollfd pfd;

	pfd.fd = cs_intake_fd();
	pfd.events = POLLIN;
	if (poll(&pfd, 1, ms) != 1)
		return -1;
	return cs_intake_take(t0);
}

static void
test_handed_over_when_complete(void **state)
{
	unsigned char buf[256], got[256];
	long long t0 = 0, now = cs_now_ms();
	size_t n;
	int sv[2];

	(void)state;
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	n = partial_request(buf);
	assert_int_equal(write(sv[1], buf, n), (ssize_t)n);
	assert_int_equal(cs_intake_ready(sv[0]), 0);
	assert_int_equal(cs_intake_park(sv[0], now), 0);
	/* Not complete: nothing to take (well within the deadline). */
	assert_int_equal(take_within(50, &t0), -1);
	n += rec(buf + n, 5, "", 0, 0);
	assert_int_equal(write(sv[1], buf + n - 8, 8), 8);
	assert_int_equal(take_within(READ_MS / 2, &t0), sv[0]);
	assert_true(t0 == now);
	/* Every byte is still there for libfcgi. */
	assert_int_equal(read(sv[0], got, sizeof(got)), (ssize_t)n);
	assert_memory_equal(got, buf, n);
	assert_int_equal(cs_intake_take(&t0), -1);
	close(sv[0]);
	close(sv[1]);
}

static void
test_hang_up_and_deadline(void **state)
{
	long long t0 = 0, start = cs_now_ms(), took;
	int a[2], b[2], fd;

	(void)state;
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, a), 0);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, b), 0);
	assert_int_equal(cs_intake_park(a[0], start), 0);
	assert_int_equal(cs_intake_park(b[0], start), 0);
	/* The peer of a sends a byte and leaves: handed over at once,
	 * before the deadline. */
	assert_int_equal(write(a[1], "\1", 1), 1);
	close(a[1]);
	assert_int_equal(take_within(READ_MS / 2, &t0), a[0]);
	/* b says nothing: handed over at its deadline. */
	fd = take_within(READ_MS * 3, &t0);
	took = cs_now_ms() - start;
	assert_int_equal(fd, b[0]);
	assert_true(took >= READ_MS - 5);
	close(a[0]);
	close(b[0]);
	close(b[1]);
}

static void
test_silent_hang_up_dropped(void **state)
{
	struct pollfd pfd;
	long long t0;
	char c;
	int sv[2];

	(void)state;
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	assert_int_equal(cs_intake_park(sv[0], cs_now_ms()), 0);
	/* A port probe: connects, sends nothing, hangs up (half-close, so
	 * we can see the intake close its end). */
	shutdown(sv[1], SHUT_WR);
	pfd.fd = sv[1];
	pfd.events = POLLIN;
	assert_int_equal(poll(&pfd, 1, READ_MS / 2), 1);
	assert_int_equal(read(sv[1], &c, 1), 0);   /* closed by the intake */
	assert_int_equal(cs_intake_take(&t0), -1); /* no worker bothered */
	close(sv[1]);
}

static void
test_full(void **state)
{
	int sv[5][2], i;

	(void)state;
	for (i = 0; i < 5; i++)
		assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv[i]), 0);
	for (i = 0; i < 4; i++)
		assert_int_equal(cs_intake_park(sv[i][0], cs_now_ms()), 0);
	/* Room for 4: the caller serves the fifth itself. */
	assert_int_equal(cs_intake_park(sv[4][0], cs_now_ms()), -1);
	close(sv[4][0]);
	for (i = 0; i < 5; i++)
		close(sv[i][1]);
	/* The parked four are closed by cs_intake_stop (teardown). */
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_scan),
		cmocka_unit_test_setup_teardown(
		    test_handed_over_when_complete, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_hang_up_and_deadline, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_silent_hang_up_dropped, setup, teardown),
		cmocka_unit_test_setup_teardown(test_full, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
