/*
 * test_state_route.c — routing's shared state (src/state/state_route.h)
 * on every backend, with test_state.c's fixture (the memory store,
 * SQLite in a mkdtemp directory, a real redis-server on a unix socket in
 * one, started per case): failures counted in a fixed window, the
 * cooldown they start and what a failure while cooling does not do; open
 * streams, their expiry and close; hostile arguments changing nothing;
 * names that are no keys; two handles and four processes sharing one
 * store.  SQLite only: the tables reached from schema version 2, the
 * tidy-up and a locked store.  Redis only: a dead server, and every key
 * expiring.  Memory only: its bounds.
 */
#include <errno.h>
#include <fcntl.h>
#include <hiredis/hiredis.h>
#include <poll.h>
#include <signal.h>
#include <sqlite3.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "state.h"
#include "state_route.h"
#include "testutil.h"

#define T0   (1767225600000LL + 10 * 3600000LL) /* 2026-01-01 10:00Z */
#define WEEK CS_STATE_ROUTE_SPAN_MAX

enum {
	MEMORY,
	SQLITE,
	REDIS
};

struct fx {
	char dir[64], path[128], spec[256];
	struct cs_state *st;
	int kind;
	pid_t redis; /* its process group, 0 when none runs */
};

static long long
mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void redis_stop(struct fx *f);

/* Closes the handle, stops the server and removes f->dir (one level: the
 * test makes no more); again is a no-op.  Setups call it before failing,
 * as cmocka runs no teardown after a failed setup. */
static void
fx_cleanup(struct fx *f)
{
	char cmd[128];

	cs_state_close(f->st);
	f->st = NULL;
	redis_stop(f);
	if (f->dir[0] != '\0') {
		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
		assert_int_equal(system(cmd), 0);
		f->dir[0] = '\0';
	}
}

/* Starts redis-server on f->path (a unix socket, no TCP port, nothing on
 * disk) in a process group of its own, and returns once the socket
 * accepts; fails the test when it does not start within 10 s. */
static void
redis_start(struct fx *f)
{
	struct sockaddr_un sa;
	long long deadline;
	int fd, status;
	pid_t pid;

	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		setpgid(0, 0);
		fd = open("/dev/null", O_RDWR);
		dup2(fd, 0);
		dup2(fd, 1);
		dup2(fd, 2);
		execlp("redis-server", "redis-server", "--port", "0",
		    "--unixsocket", f->path, "--save", "", "--appendonly", "no",
		    "--dir", f->dir, (char *)NULL);
		_exit(127);
	}
	setpgid(pid, pid);
	f->redis = pid;
	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%.100s", f->path);
	for (deadline = mono_ms() + 10000;; poll(NULL, 0, 5)) {
		fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		assert_true(fd >= 0);
		if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0) {
			close(fd);
			return;
		}
		close(fd);
		if (waitpid(pid, &status, WNOHANG) == pid) {
			f->redis = 0;
			fx_cleanup(f);
			fail_msg("redis-server did not start (exit %d; is it"
			         " installed? make test installs it)",
			    WIFEXITED(status) ? WEXITSTATUS(status) : -1);
		}
		if (mono_ms() > deadline) {
			fx_cleanup(f);
			fail_msg("redis-server: %s never accepted", f->path);
		}
	}
}

/* Kills the redis-server group (no orphans) and reaps it. */
static void
redis_stop(struct fx *f)
{
	if (f->redis <= 0)
		return;
	kill(-f->redis, SIGKILL);
	waitpid(f->redis, NULL, 0);
	f->redis = 0;
}

/* The one setup: *state is the backend's entry of kinds[] (the table's
 * initial state), and becomes the fixture. */
static int kinds[] = { MEMORY, SQLITE, REDIS };

static int
setup(void **state)
{
	int kind = *(int *)*state;
	char err[512] = "";
	struct fx *f;

	f = calloc(1, sizeof(*f));
	assert_non_null(f);
	f->kind = kind;
	*state = f;
	snprintf(f->spec, sizeof(f->spec), "memory");
	if (kind != MEMORY) {
		snprintf(f->dir, sizeof(f->dir), "/tmp/cs_state_XXXXXX");
		assert_non_null(mkdtemp(f->dir));
	}
	if (kind == SQLITE) {
		snprintf(f->path, sizeof(f->path), "%s/state.db", f->dir);
		snprintf(f->spec, sizeof(f->spec), "sqlite:%s", f->path);
	}
	if (kind == REDIS) {
		snprintf(f->path, sizeof(f->path), "%s/redis.sock", f->dir);
		snprintf(
		    f->spec, sizeof(f->spec), "redis+unix://%s?db=3", f->path);
		redis_start(f);
	}
	if (cs_state_open(f->spec, &f->st, err, sizeof(err)) != CS_OK) {
		fx_cleanup(f);
		fail_msg("open %s: %s", f->spec, err);
	}
	return 0;
}

static int
teardown(void **state)
{
	struct fx *f = *state;

	fx_cleanup(f);
	free(f);
	return 0;
}

/* Asserts what a read of name at now says, through st. */
static void
assert_seen(struct cs_state *st, const char *name, long long now,
    long long cooled, long long fails, long long busy)
{
	struct cs_route_seen s;

	memset(&s, 0xa5, sizeof(s));
	assert_int_equal(cs_state_route_read(st, &name, 1, now, &s), CS_OK);
	assert_int_equal(s.cooled_until_ms, cooled);
	assert_int_equal(s.fails, fails);
	assert_int_equal(s.busy, busy);
}

/* One failure of name at now through st: the cooldown it reports. */
static long long
failure(struct cs_state *st, const char *name, long allowed, long long window,
    long long cooldown, long long now)
{
	long long cooled = -1;

	assert_int_equal(cs_state_route_fail(
	                     st, name, allowed, window, cooldown, now, &cooled),
	    CS_OK);
	return cooled;
}

#define VALID_ID "0123456789abcdef0123456789abcdef"

/* A new stream id into id: the caller makes it (route.h: random). */
static void
new_id(char *id)
{
	static unsigned long n;

	snprintf(id, CS_STATE_ID_LEN + 1, "%016lx%016lx",
	    (unsigned long)getpid(), ++n);
}

/* A stream opened on name at now through st, its new id into id. */
static void
open_stream(struct cs_state *st, const char *name, long long now,
    long long expire, char *id)
{
	new_id(id);
	assert_int_equal(cs_state_route_open(st, name, id, now, expire), CS_OK);
}

/* Below allowed_fails nothing cools; the failure that reaches it cools
 * until now + cooldown, read during it and not after. */
static void
test_cooldown(void **state)
{
	struct fx *f = *state;
	struct cs_state *st = f->st;

	assert_seen(st, "dep#0:a", T0, 0, 0, 0); /* never seen */
	assert_int_equal(failure(st, "dep#0:a", 3, 60000, 30000, T0), 0);
	assert_int_equal(failure(st, "dep#0:a", 3, 60000, 30000, T0 + 1), 0);
	assert_seen(st, "dep#0:a", T0 + 2, 0, 2, 0);
	assert_int_equal(
	    failure(st, "dep#0:a", 3, 60000, 30000, T0 + 2), T0 + 30002);
	assert_seen(st, "dep#0:a", T0 + 2, T0 + 30002, 0, 0);
	assert_seen(st, "dep#0:a", T0 + 30001, T0 + 30002, 0, 0);
	assert_seen(st, "dep#0:a", T0 + 30002, 0, 0, 0); /* over */
	assert_seen(st, "dep#0:b", T0 + 2, 0, 0, 0);     /* another name */
	/* After it the count started over, in a window of its own. */
	assert_int_equal(
	    failure(st, "dep#0:a", 3, 60000, 30000, T0 + 30002), 0);
	assert_seen(st, "dep#0:a", T0 + 30003, 0, 1, 0);
	/* ...which opened at T0 + 30002, not with the first (T0 + 60000). */
	assert_seen(st, "dep#0:a", T0 + 60001, 0, 1, 0);
	assert_seen(st, "dep#0:a", T0 + 90002, 0, 0, 0);
	/* allowed_fails 1: the first failure cools. */
	assert_int_equal(failure(st, "dep#1:a", 1, 1, WEEK, T0), T0 + WEEK);
	assert_seen(st, "dep#1:a", T0 + WEEK - 1, T0 + WEEK, 0, 0);
}

/* A failure while cooling counts nothing and changes nothing, whatever
 * its arguments: it reports the cooldown it found. */
static void
test_cooling_changes_nothing(void **state)
{
	struct fx *f = *state;
	struct cs_state *st = f->st;
	int i;

	assert_int_equal(failure(st, "d", 2, 60000, 10000, T0), 0);
	assert_int_equal(failure(st, "d", 2, 60000, 10000, T0 + 1), T0 + 10001);
	for (i = 0; i < 5; i++) {
		assert_int_equal(
		    failure(st, "d", 1, WEEK, WEEK, T0 + 2 + i), T0 + 10001);
		assert_int_equal(
		    failure(st, "d", 2, 60000, 10000, T0 + 10000), T0 + 10001);
	}
	assert_seen(st, "d", T0 + 10000, T0 + 10001, 0, 0);
	/* Had those counted, this one (one of two) would cool again. */
	assert_int_equal(failure(st, "d", 2, 60000, 10000, T0 + 10001), 0);
	assert_seen(st, "d", T0 + 10001, 0, 1, 0);
	assert_int_equal(
	    failure(st, "d", 2, 60000, 10000, T0 + 10002), T0 + 20002);
}

/* The window is fixed: it opens at a failure and closes window_ms
 * later, whatever came in it, and the count goes with it. */
static void
test_window(void **state)
{
	struct fx *f = *state;
	struct cs_state *st = f->st;

	assert_int_equal(failure(st, "w", 3, 1000, 5000, T0), 0);
	assert_int_equal(failure(st, "w", 3, 1000, 5000, T0 + 500), 0);
	assert_seen(st, "w", T0 + 999, 0, 2, 0);
	assert_seen(st, "w", T0 + 1000, 0, 0, 0); /* closed */
	assert_int_equal(failure(st, "w", 3, 1000, 5000, T0 + 1000), 0);
	assert_int_equal(failure(st, "w", 3, 1000, 5000, T0 + 1999), 0);
	assert_seen(st, "w", T0 + 1999, 0, 2, 0);
	/* Not a sliding one: T0 + 1999 does not keep it open. */
	assert_int_equal(failure(st, "w", 3, 1000, 5000, T0 + 2000), 0);
	assert_seen(st, "w", T0 + 2000, 0, 1, 0);
	assert_int_equal(failure(st, "w", 3, 1000, 5000, T0 + 2001), 0);
	assert_int_equal(failure(st, "w", 3, 1000, 5000, T0 + 2999), T0 + 7999);
}

/* busy counts the open streams: close frees one, expiry too; closing
 * one again, an unknown id or under another name changes nothing. */
static void
test_busy(void **state)
{
	struct fx *f = *state;
	struct cs_state *st = f->st;
	char a[CS_STATE_ID_LEN + 1], b[CS_STATE_ID_LEN + 1];
	char c[CS_STATE_ID_LEN + 1];
	const char *names[] = { "up", "up", "other" };
	struct cs_route_seen s[3];

	open_stream(st, "up", T0, T0 + 1000, a);
	open_stream(st, "up", T0, T0 + 600000, b);
	assert_string_not_equal(a, b);
	assert_seen(st, "up", T0, 0, 0, 2);
	assert_seen(st, "up", T0 + 999, 0, 0, 2);
	assert_seen(st, "up", T0 + 1000, 0, 0, 1); /* a expired */
	assert_int_equal(cs_state_route_close(st, "up", a, T0 + 1001), CS_OK);
	assert_int_equal(cs_state_route_close(st, "other", b, T0 + 1001),
	    CS_OK); /* not its name */
	assert_seen(st, "up", T0 + 1001, 0, 0, 1);
	assert_int_equal(cs_state_route_close(st, "up", b, T0 + 1001), CS_OK);
	assert_seen(st, "up", T0 + 1001, 0, 0, 0);
	assert_int_equal(cs_state_route_close(st, "up", b, T0 + 1002), CS_OK);
	assert_int_equal(cs_state_route_close(st, "up",
	                     "0123456789abcdef0123456789abcdef", T0 + 1002),
	    CS_OK);
	/* Busy and failures side by side; names may repeat in a read. */
	open_stream(st, "up", T0 + 2000, T0 + 9000, c);
	assert_int_equal(failure(st, "up", 5, 60000, 1000, T0 + 2000), 0);
	memset(s, 0xa5, sizeof(s));
	assert_int_equal(
	    cs_state_route_read(st, names, 3, T0 + 2001, s), CS_OK);
	assert_int_equal(s[0].busy, 1);
	assert_int_equal(s[0].fails, 1);
	assert_int_equal(s[1].busy, 1);
	assert_int_equal(s[1].fails, 1);
	assert_int_equal(s[2].busy, 0);
	assert_int_equal(s[2].fails, 0);
	assert_int_equal(s[2].cooled_until_ms, 0);
	/* Bad ids: CS_EBADINPUT, and the stream stays open. */
	assert_int_equal(
	    cs_state_route_close(st, "up", "xyz", T0 + 2001), CS_EBADINPUT);
	assert_int_equal(
	    cs_state_route_close(st, "up", NULL, T0), CS_EBADINPUT);
	assert_int_equal(cs_state_route_close(st, "up",
	                     "0123456789abcdef0123456789abcdeF", T0 + 2001),
	    CS_EBADINPUT);
	assert_int_equal(cs_state_route_close(st, "up",
	                     "0123456789abcdef0123456789abcdef0", T0 + 2001),
	    CS_EBADINPUT);
	c[CS_STATE_ID_LEN - 1] = '\0';
	assert_int_equal(
	    cs_state_route_close(st, "up", c, T0 + 2001), CS_EBADINPUT);
	assert_seen(st, "up", T0 + 2001, 0, 1, 1);
}

/* Every bad argument is CS_EBADINPUT, clears the outputs and changes
 * nothing: "h" keeps its one failure and its one stream. */
static void
test_route_hostile(void **state)
{
	struct fx *f = *state;
	struct cs_state *st = f->st;
	char longname[CS_STATE_NAME_MAX + 2], id[CS_STATE_ID_LEN + 1];
	char name_max[CS_STATE_NAME_MAX + 1];
	const char *names[CS_STATE_ROUTE_MAX + 1], *bad;
	struct cs_route_seen s[CS_STATE_ROUTE_MAX + 1];
	long long cooled;
	size_t i;

	memset(longname, 'x', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = '\0';
	memcpy(name_max, longname, sizeof(name_max) - 1);
	name_max[sizeof(name_max) - 1] = '\0';
	for (i = 0; i < CS_ARRAY_LEN(names); i++)
		names[i] = "h";
	assert_int_equal(failure(st, "h", 2, 60000, 60000, T0), 0);
	open_stream(st, "h", T0, T0 + 60000, id);
	/* read */
	assert_int_equal(
	    cs_state_route_read(st, names, 0, T0, s), CS_EBADINPUT);
	assert_int_equal(
	    cs_state_route_read(st, names, CS_STATE_ROUTE_MAX + 1, T0, s),
	    CS_EBADINPUT);
	assert_int_equal(cs_state_route_read(st, NULL, 1, T0, s), CS_EBADINPUT);
	assert_int_equal(
	    cs_state_route_read(st, names, 1, T0, NULL), CS_EBADINPUT);
	assert_int_equal(
	    cs_state_route_read(st, names, 1, -1, s), CS_EBADINPUT);
	assert_int_equal(
	    cs_state_route_read(st, names, 1, CS_STATE_TIME_MAX + 1, s),
	    CS_EBADINPUT);
	for (i = 0; i < 3; i++) {
		bad = i == 0 ? NULL : i == 1 ? "" : longname;
		names[2] = bad;
		memset(s, 0xa5, sizeof(s));
		assert_int_equal(
		    cs_state_route_read(st, names, 3, T0, s), CS_EBADINPUT);
		assert_int_equal(s[0].fails, 0);
		assert_int_equal(s[0].busy, 0);
		/* fail */
		cooled = -1;
		assert_int_equal(
		    cs_state_route_fail(st, bad, 2, 60000, 60000, T0, &cooled),
		    CS_EBADINPUT);
		assert_int_equal(cooled, 0);
		/* open and close */
		assert_int_equal(
		    cs_state_route_open(st, bad, VALID_ID, T0, T0 + 1),
		    CS_EBADINPUT);
		assert_int_equal(cs_state_route_close(st, bad,
		                     "0123456789abcdef0123456789abcdef", T0),
		    CS_EBADINPUT);
	}
	names[2] = "h";
	{
		static const struct {
			long allowed;
			long long window, cooldown, now;
		} bads[] = {
			{ 0, 60000, 60000, T0 },
			{ -1, 60000, 60000, T0 },
			{ CS_STATE_ROUTE_FAILS_MAX + 1, 60000, 60000, T0 },
			{ 1, 0, 60000, T0 },
			{ 1, -5, 60000, T0 },
			{ 1, WEEK + 1, 60000, T0 },
			{ 1, 60000, 0, T0 },
			{ 1, 60000, WEEK + 1, T0 },
			{ 1, 60000, 60000, -1 },
			{ 1, 60000, 60000, CS_STATE_TIME_MAX + 1 },
		};
		for (i = 0; i < CS_ARRAY_LEN(bads); i++) {
			cooled = -1;
			assert_int_equal(
			    cs_state_route_fail(st, "h", bads[i].allowed,
			        bads[i].window, bads[i].cooldown, bads[i].now,
			        &cooled),
			    CS_EBADINPUT);
			assert_int_equal(cooled, 0);
		}
	}
	assert_int_equal(
	    cs_state_route_fail(st, "h", 1, 60000, 60000, T0, NULL),
	    CS_EBADINPUT);
	assert_int_equal(
	    cs_state_route_open(st, "h", VALID_ID, T0, T0), CS_EBADINPUT);
	assert_int_equal(
	    cs_state_route_open(st, "h", VALID_ID, T0, T0 - 1), CS_EBADINPUT);
	assert_int_equal(
	    cs_state_route_open(st, "h", VALID_ID, -1, T0), CS_EBADINPUT);
	assert_int_equal(
	    cs_state_route_open(st, "h", VALID_ID, T0, CS_STATE_TIME_MAX + 1),
	    CS_EBADINPUT);
	assert_int_equal(
	    cs_state_route_open(st, "h", NULL, T0, T0 + 1), CS_EBADINPUT);
	assert_int_equal(cs_state_route_open(st, "h",
	                     "0123456789ABCDEF0123456789abcdef", T0, T0 + 1),
	    CS_EBADINPUT);
	assert_int_equal(
	    cs_state_route_open(st, "h", "0123", T0, T0 + 1), CS_EBADINPUT);
	assert_int_equal(cs_state_route_close(
	                     st, "h", "0123456789abcdef0123456789abcdef", -1),
	    CS_EBADINPUT);
	assert_seen(st, "h", T0 + 1, 0, 1, 1);
	memset(s, 0, sizeof(s));
	assert_int_equal(
	    cs_state_route_read(st, names, CS_STATE_ROUTE_MAX, T0 + 1, s),
	    CS_OK);
	assert_int_equal(s[CS_STATE_ROUTE_MAX - 1].busy, 1);
	/* The limits themselves are valid. */
	assert_int_equal(
	    failure(st, name_max, CS_STATE_ROUTE_FAILS_MAX, WEEK, WEEK, T0), 0);
	assert_seen(st, name_max, T0 + WEEK - 1, 0, 1, 0);
	assert_int_equal(failure(st, "edge", 1, 1, 1, CS_STATE_TIME_MAX),
	    CS_STATE_TIME_MAX + 1);
	open_stream(st, "edge", CS_STATE_TIME_MAX - 1, CS_STATE_TIME_MAX, id);
	assert_seen(st, "edge", CS_STATE_TIME_MAX, CS_STATE_TIME_MAX + 1, 0, 0);
}

/* Names are data, never syntax: each its own deployment, apart from the
 * buckets of state.h of the same name. */
static void
test_route_names(void **state)
{
	static const char *const names[] = { "a b", "a\nb", "{a}", "a", "a:b",
		"cs:rt:d:a", "cs:rt:s:a", "ip:\"x\" \t{}*?[]" };
	struct fx *f = *state;
	struct cs_route_seen s[CS_ARRAY_LEN(names)];
	char id[CS_STATE_ID_LEN + 1];
	struct cs_admit_result r;
	struct cs_admit a;
	size_t i, k;

	for (i = 0; i < CS_ARRAY_LEN(names); i++) {
		for (k = 0; k <= i; k++)
			assert_int_equal(
			    failure(f->st, names[i], 100, 60000, 1000, T0), 0);
		for (k = 0; k < CS_ARRAY_LEN(names) - i; k++)
			open_stream(f->st, names[i], T0, T0 + 60000, id);
	}
	assert_int_equal(
	    cs_state_route_read(f->st, names, CS_ARRAY_LEN(names), T0 + 1, s),
	    CS_OK);
	for (i = 0; i < CS_ARRAY_LEN(names); i++) {
		assert_int_equal(s[i].fails, (long long)i + 1);
		assert_int_equal(
		    s[i].busy, (long long)(CS_ARRAY_LEN(names) - i));
		assert_int_equal(s[i].cooled_until_ms, 0);
	}
	/* A bucket "a" with one slot is still free. */
	memset(&a, 0, sizeof(a));
	a.b[0].name = "a";
	a.b[0].concurrent = 1;
	a.n = 1;
	a.now_ms = T0;
	a.expire_ms = T0 + 1000;
	assert_int_equal(cs_state_admit(f->st, &a, &r), CS_OK);
	assert_true(r.allowed);
}

/* Two handles of one store (two processes' on SQLite and Redis) see
 * each other's cooldowns and streams. */
static void
test_route_shared(void **state)
{
	struct fx *f = *state;
	char id[CS_STATE_ID_LEN + 1], err[256];
	struct cs_state *st2 = NULL;

	assert_int_equal(cs_state_open(f->spec, &st2, err, sizeof(err)), CS_OK);
	assert_int_equal(failure(f->st, "s", 2, 60000, 5000, T0), 0);
	assert_seen(st2, "s", T0, 0, 1, 0);
	assert_int_equal(failure(st2, "s", 2, 60000, 5000, T0 + 1), T0 + 5001);
	assert_seen(f->st, "s", T0 + 2, T0 + 5001, 0, 0);
	assert_int_equal(
	    failure(f->st, "s", 2, 60000, 5000, T0 + 3), T0 + 5001);
	open_stream(st2, "s", T0, T0 + 60000, id);
	assert_seen(f->st, "s", T0 + 4, T0 + 5001, 0, 1);
	assert_int_equal(cs_state_route_close(f->st, "s", id, T0 + 5), CS_OK);
	assert_seen(st2, "s", T0 + 6, T0 + 5001, 0, 0);
	cs_state_close(st2);
}

/* A child: its own handle, 25 failures and 5 streams left open. */
static void
route_child(const char *spec, int go)
{
	char id[CS_STATE_ID_LEN + 1];
	struct cs_state *st = NULL;
	long long cooled;
	int i, tries;
	enum cs_err e;
	char c;

	if (cs_state_open(spec, &st, NULL, 0) != CS_OK)
		_exit(100);
	if (read(go, &c, 1) != 0)
		_exit(101);
	for (i = 0; i < 30; i++) {
		tries = 0;
		do
			e = i < 25 ? cs_state_route_fail(st, "p", 1000, WEEK,
			                 1000, T0 + i, &cooled) :
			             (new_id(id),
			                 cs_state_route_open(
			                     st, "p", id, T0, T0 + 60000));
		while (e == CS_ESTATE && ++tries < 100);
		if (e != CS_OK)
			_exit(102);
	}
	cs_state_close(st);
	_exit(0);
}

/* Four processes at once: every failure and every stream counted. */
static void
test_route_processes(void **state)
{
	struct fx *f = *state;
	int go[2], status, i;
	pid_t pid[4];

	assert_int_equal(pipe(go), 0);
	for (i = 0; i < 4; i++) {
		pid[i] = fork();
		assert_true(pid[i] >= 0);
		if (pid[i] == 0) {
			close(go[1]);
			route_child(f->spec, go[0]);
		}
	}
	close(go[0]);
	close(go[1]); /* all start at once */
	for (i = 0; i < 4; i++) {
		assert_int_equal(waitpid(pid[i], &status, 0), pid[i]);
		assert_true(WIFEXITED(status));
		assert_int_equal(WEXITSTATUS(status), 0);
	}
	assert_seen(f->st, "p", T0 + 30, 0, 100, 20);
}

static long long
wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Rows of table (a name from the test itself). */
static long long
count_rows(const char *path, const char *table)
{
	sqlite3_stmt *q = NULL;
	sqlite3 *db = NULL;
	char sql[64];
	long long n;

	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	snprintf(sql, sizeof(sql), "SELECT COUNT(*) FROM %s", table);
	assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &q, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(q), SQLITE_ROW);
	n = sqlite3_column_int64(q, 0);
	sqlite3_finalize(q);
	sqlite3_close(db);
	return n;
}

/* A store of schema version 2 (no routing tables) gets them when
 * opened, its buckets kept; the tidy-up drops idle deployments and
 * expired streams (by the wall clock), not the others. */
static void
test_sqlite_route_schema(void **state)
{
	struct fx *f = *state;
	struct cs_admit a;
	struct cs_admit_result r;
	char err[256], msg[512], id[CS_STATE_ID_LEN + 1];
	long long now = wall_ms();
	sqlite3 *db = NULL;

	memset(&a, 0, sizeof(a));
	a.b[0].name = "ip:v2";
	a.b[0].concurrent = 1;
	a.n = 1;
	a.now_ms = T0;
	a.expire_ms = CS_STATE_TIME_MAX;
	assert_int_equal(cs_state_admit(f->st, &a, &r), CS_OK);
	assert_true(r.allowed);
	cs_state_close(f->st);
	f->st = NULL;
	assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db,
	                     "DROP TABLE route_dep; DROP TABLE route_busy;"
	                     " ALTER TABLE ledger DROP COLUMN tried;"
	                     " PRAGMA user_version = 2",
	                     NULL, NULL, NULL),
	    SQLITE_OK);
	sqlite3_close(db);
	assert_int_equal(cs_state_check(f->spec, msg, sizeof(msg)), CS_OK);
	assert_non_null(strstr(msg, "schema version 2 (brought up to date"));
	assert_int_equal(
	    cs_state_open(f->spec, &f->st, err, sizeof(err)), CS_OK);
	assert_int_equal(cs_state_check(f->spec, msg, sizeof(msg)), CS_OK);
	assert_non_null(strstr(msg, "schema version 4"));
	assert_int_equal(cs_state_admit(f->st, &a, &r), CS_OK);
	assert_false(r.allowed); /* its stream still open */
	/* Old and idle by the wall clock, or live. */
	assert_int_equal(failure(f->st, "old", 1, 1000, 1000, T0), T0 + 1000);
	assert_int_equal(failure(f->st, "counting", 5, 3600000, 1000, now), 0);
	assert_int_equal(
	    failure(f->st, "cooling", 1, 1000, 3600000, now), now + 3600000);
	open_stream(f->st, "old", T0, T0 + 1000, id);
	open_stream(f->st, "live", now, now + 3600000, id);
	assert_int_equal(count_rows(f->path, "route_dep"), 3);
	assert_int_equal(cs_state_maintain(f->st), CS_OK);
	assert_int_equal(count_rows(f->path, "route_dep"), 2);
	assert_int_equal(count_rows(f->path, "route_busy"), 1);
	assert_seen(f->st, "counting", now, 0, 1, 0);
	assert_seen(f->st, "cooling", now, now + 3600000, 0, 0);
	assert_seen(f->st, "live", now, 0, 0, 1);
}

/* Another connection holds the write lock: an error soon, not a hang,
 * and nothing half done. */
static void
test_sqlite_route_busy(void **state)
{
	struct fx *f = *state;
	sqlite3 *db = NULL;
	long long cooled = -1, t;

	assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
	assert_int_equal(
	    sqlite3_exec(db, "BEGIN EXCLUSIVE", NULL, NULL, NULL), SQLITE_OK);
	t = mono_ms();
	assert_int_equal(
	    cs_state_route_fail(f->st, "b", 1, 1000, 1000, T0, &cooled),
	    CS_ESTATE);
	assert_int_equal(cooled, 0);
	assert_int_equal(
	    cs_state_route_open(f->st, "b", VALID_ID, T0, T0 + 1000),
	    CS_ESTATE);
	assert_int_equal(cs_state_route_close(f->st, "b",
	                     "0123456789abcdef0123456789abcdef", T0),
	    CS_ESTATE);
	assert_true(mono_ms() - t < 5000);
	assert_int_equal(
	    sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
	assert_seen(f->st, "b", T0, 0, 0, 0);
}

/* A dead server is CS_ESTATE with the outputs cleared; once it is back
 * the next call connects again. */
static void
test_redis_route_down(void **state)
{
	struct fx *f = *state;
	const char *name = "r";
	char id[CS_STATE_ID_LEN + 1];
	struct cs_route_seen s;
	long long cooled = -1;

	assert_int_equal(failure(f->st, "r", 1, 1000, 1000, T0), T0 + 1000);
	redis_stop(f);
	memset(&s, 0xa5, sizeof(s));
	assert_int_equal(
	    cs_state_route_read(f->st, &name, 1, T0, &s), CS_ESTATE);
	assert_int_equal(s.cooled_until_ms, 0);
	assert_int_equal(
	    cs_state_route_fail(f->st, "r", 1, 1000, 1000, T0, &cooled),
	    CS_ESTATE);
	assert_int_equal(cooled, 0);
	assert_int_equal(
	    cs_state_route_open(f->st, "r", VALID_ID, T0, T0 + 1000),
	    CS_ESTATE);
	redis_start(f); /* empty: nothing was saved */
	assert_seen(f->st, "r", T0, 0, 0, 0);
	open_stream(f->st, "r", T0, T0 + 1000, id);
	assert_seen(f->st, "r", T0, 0, 0, 1);
}

/* Every key routing writes is under cs:rt: and expires: the failure
 * window's, the cooldown's and the last stream's end (TTLs relative to
 * the caller's now_ms). */
static void
test_redis_route_expiry(void **state)
{
	static const struct {
		const char *key;
		long long ttl_max, ttl_min;
	} want[] = {
		{ "cs:rt:d:counting", 60000, 59000 },
		{ "cs:rt:d:cooling", 3600000, 3599000 },
		{ "cs:rt:s:open", 7200000, 7199000 },
	};
	struct fx *f = *state;
	char id[CS_STATE_ID_LEN + 1];
	redisContext *c;
	redisReply *rep;
	size_t i;

	assert_int_equal(failure(f->st, "counting", 5, 60000, 1000, T0), 0);
	assert_int_equal(
	    failure(f->st, "cooling", 1, 60000, 3600000, T0), T0 + 3600000);
	open_stream(f->st, "open", T0, T0 + 1000, id);
	open_stream(f->st, "open", T0, T0 + 7200000, id);
	open_stream(f->st, "gone", T0, T0 + 1000, id);
	assert_int_equal(cs_state_route_close(f->st, "gone", id, T0), CS_OK);
	c = redisConnectUnix(f->path);
	assert_non_null(c);
	assert_int_equal(c->err, 0);
	rep = redisCommand(c, "SELECT 3");
	assert_non_null(rep);
	freeReplyObject(rep);
	rep = redisCommand(c, "KEYS *");
	assert_non_null(rep);
	assert_int_equal(rep->type, REDIS_REPLY_ARRAY);
	assert_int_equal(rep->elements, CS_ARRAY_LEN(want)); /* not "gone" */
	freeReplyObject(rep);
	for (i = 0; i < CS_ARRAY_LEN(want); i++) {
		rep = redisCommand(c, "PTTL %s", want[i].key);
		assert_non_null(rep);
		assert_int_equal(rep->type, REDIS_REPLY_INTEGER);
		assert_true(rep->integer <= want[i].ttl_max);
		assert_true(rep->integer >= want[i].ttl_min);
		freeReplyObject(rep);
	}
	redisFree(c);
}

/* The memory store keeps CS_STATE_ROUTE_MEM_NAMES deployments and
 * CS_STATE_ROUTE_MEM_OPEN streams: past them CS_ESTATE, until one is
 * idle or expired. */
static void
test_memory_route_bounded(void **state)
{
	struct fx *f = *state;
	char name[32], id[CS_STATE_ID_LEN + 1], first[CS_STATE_ID_LEN + 1];
	long long cooled = -1;
	int i;

	for (i = 0; i < CS_STATE_ROUTE_MEM_NAMES; i++) {
		snprintf(name, sizeof(name), "n%d", i);
		open_stream(f->st, name, T0, T0 + 1000, i == 0 ? first : id);
	}
	assert_int_equal(
	    cs_state_route_fail(f->st, "new", 1, 1000, 1000, T0, &cooled),
	    CS_ESTATE);
	assert_int_equal(cooled, 0);
	new_id(id);
	assert_int_equal(
	    cs_state_route_open(f->st, "new", id, T0, T0 + 1000), CS_ESTATE);
	assert_seen(f->st, "new", T0, 0, 0, 0);
	/* n0 idle: its slot is the new name's. */
	assert_int_equal(cs_state_route_close(f->st, "n0", first, T0), CS_OK);
	assert_int_equal(failure(f->st, "new", 1, 1000, 1000, T0), T0 + 1000);
	assert_int_equal(
	    cs_state_route_fail(f->st, "n0", 1, 1000, 1000, T0, &cooled),
	    CS_ESTATE); /* "new" cools: not idle */
	assert_seen(f->st, "new", T0, T0 + 1000, 0, 0);
	assert_seen(f->st, "n1", T0, 0, 0, 1);
	/* Past the streams' expiry every other name is idle. */
	assert_int_equal(failure(f->st, "n0", 2, 1000, 1000, T0 + 1000), 0);
	assert_seen(f->st, "n0", T0 + 1000, 0, 1, 0);
	for (i = 0; i < CS_STATE_ROUTE_MEM_OPEN; i++)
		open_stream(f->st, "many", T0 + 1000, T0 + 2000, id);
	new_id(id);
	assert_int_equal(
	    cs_state_route_open(f->st, "many", id, T0 + 1000, T0 + 2000),
	    CS_ESTATE);
	assert_seen(f->st, "many", T0 + 1999, 0, 0, CS_STATE_ROUTE_MEM_OPEN);
	open_stream(f->st, "many", T0 + 2000, T0 + 3000, id);
	assert_seen(f->st, "many", T0 + 2000, 0, 0, 1);
}

/* Test fn on backend kind (MEMORY ...), named "prefix_fn". */
#define ON(kind, prefix, fn) \
	{ \
		prefix "_" #fn, fn, setup, teardown, &kinds[kind] \
	}
#define ALL(fn) \
	ON(MEMORY, "memory", fn), ON(SQLITE, "sqlite", fn), \
	    ON(REDIS, "redis", fn)

int
main(void)
{
	const struct CMUnitTest tests[] = {
		ALL(test_cooldown),
		ALL(test_cooling_changes_nothing),
		ALL(test_window),
		ALL(test_busy),
		ALL(test_route_hostile),
		ALL(test_route_names),
		ALL(test_route_shared),
		ON(SQLITE, "sqlite", test_route_processes),
		ON(REDIS, "redis", test_route_processes),
		ON(SQLITE, "sqlite", test_sqlite_route_schema),
		ON(SQLITE, "sqlite", test_sqlite_route_busy),
		ON(REDIS, "redis", test_redis_route_down),
		ON(REDIS, "redis", test_redis_route_expiry),
		ON(MEMORY, "memory", test_memory_route_bounded),
	};

	signal(SIGPIPE, SIG_IGN); /* as chatstream: a dead server is EPIPE */
	return cmocka_run_group_tests_name("state_route", tests, NULL, NULL);
}
