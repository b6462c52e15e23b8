/*
 * test_state.c — the admission state (src/state/) on every backend: the
 * memory one, SQLite in a mkdtemp directory and a real redis-server on a
 * unix socket in one (started per case, no TCP port; the redis cases fail
 * when redis-server is missing): rate, concurrency and budget limits
 * against a clock the test sets; all-or-nothing over several buckets; the
 * ledger and usage; hostile arguments changing nothing; names that are
 * no keys.  SQLite and Redis: four processes racing for ten slots.
 * SQLite only: a store locked by another connection, and open errors
 * naming the path.  Redis only: the server killed and started again, bad
 * specs, and a password file.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
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
#include "state_scan.h"
#include "testutil.h"

#define T0             (1767225600000LL + 10 * 3600000LL) /* 2026-01-01 10:00Z */
#define DAY_MS         86400000LL
#define REDIS_PASSWORD "pw-Zq81-not-logged"

enum {
	MEMORY,
	SQLITE,
	REDIS,
	REDIS_AUTH
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
		    "--dir", f->dir,
		    f->kind == REDIS_AUTH ? "--requirepass" : (char *)NULL,
		    REDIS_PASSWORD, (char *)NULL);
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
static int kinds[] = { MEMORY, SQLITE, REDIS, REDIS_AUTH };

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
	if (kind == REDIS || kind == REDIS_AUTH) {
		snprintf(f->path, sizeof(f->path), "%s/redis.sock", f->dir);
		snprintf(
		    f->spec, sizeof(f->spec), "redis+unix://%s?db=3", f->path);
		redis_start(f);
	}
	if (kind == REDIS_AUTH)
		return 0; /* the test opens it, with its password file */
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

/* An admission of one bucket at now. */
static struct cs_admit
one(const char *name, long rpm, long conc, long long tpd, long long now)
{
	struct cs_admit a;

	memset(&a, 0, sizeof(a));
	a.b[0].name = name;
	a.b[0].rpm = rpm;
	a.b[0].concurrent = conc;
	a.b[0].tokens_per_day = tpd;
	a.n = 1;
	a.now_ms = now;
	a.expire_ms = now + 600000;
	return a;
}

static int
admit(struct fx *f, const struct cs_admit *a, struct cs_admit_result *r)
{
	assert_int_equal(cs_state_admit(f->st, a, r), CS_OK);
	if (r->allowed)
		assert_int_equal(strlen(r->id), CS_STATE_ID_LEN);
	else
		assert_string_equal(r->id, "");
	return r->allowed;
}

static void
test_rate(void **state)
{
	struct fx *f = *state;
	struct cs_admit a = one("ip:203.0.113.0/64", 3, 0, 0, T0);
	struct cs_admit_result r;
	int i;

	for (i = 0; i < 3; i++) {
		assert_true(admit(f, &a, &r));
		assert_int_equal(r.kind, CS_REFUSE_RATE);
		assert_int_equal(r.limit, 3);
		assert_int_equal(r.remaining, 2 - i);
	}
	assert_false(admit(f, &a, &r));
	assert_int_equal(r.why, CS_REFUSE_RATE);
	assert_int_equal(r.refused, 0);
	assert_int_equal(r.retry_after_ms, 20000);
	assert_int_equal(r.remaining, 0);
	a.now_ms += 19999;
	a.expire_ms = a.now_ms + 1000;
	assert_false(admit(f, &a, &r));
	assert_int_equal(r.retry_after_ms, 1);
	a.now_ms += 1;
	assert_true(admit(f, &a, &r));
	assert_false(admit(f, &a, &r));
	a.now_ms += 60000; /* full again, no more */
	a.expire_ms = a.now_ms + 1000;
	for (i = 0; i < 3; i++)
		assert_true(admit(f, &a, &r));
	assert_false(admit(f, &a, &r));
}

static void
test_concurrency(void **state)
{
	struct fx *f = *state;
	struct cs_admit a = one("key:k1", 0, 2, 0, T0);
	struct cs_admit_result r1, r2, r;

	assert_true(admit(f, &a, &r1));
	assert_int_equal(r1.remaining, 1);
	a.expire_ms = T0 + 5000;
	assert_true(admit(f, &a, &r2));
	assert_int_equal(r2.remaining, 0);
	assert_string_not_equal(r1.id, r2.id);
	assert_false(admit(f, &a, &r));
	assert_int_equal(r.why, CS_REFUSE_CONCURRENT);
	assert_int_equal(r.retry_after_ms, CS_STATE_RETRY_CONCURRENT_MS);
	assert_int_equal(cs_state_settle(f->st, r1.id, 0, T0 + 1), CS_OK);
	assert_int_equal(cs_state_settle(f->st, r1.id, 0, T0 + 1), CS_OK);
	a.now_ms = T0 + 2;
	a.expire_ms = T0 + 600000;
	assert_true(admit(f, &a, &r1));
	assert_false(admit(f, &a, &r));
	/* r2 is never settled: past its expiry it holds no slot. */
	a.now_ms = T0 + 5000;
	assert_true(admit(f, &a, &r));
	assert_false(admit(f, &a, &r));
	assert_int_equal(cs_state_settle(f->st, r2.id, 0, T0 + 5000), CS_OK);
	assert_false(admit(f, &a, &r));
}

static void
test_budget(void **state)
{
	struct fx *f = *state;
	struct cs_admit a = one("site", 0, 0, 100, T0);
	struct cs_admit_result r1, r;

	a.reserve_tokens = 60;
	assert_true(admit(f, &a, &r1));
	assert_int_equal(r1.kind, CS_REFUSE_BUDGET);
	assert_int_equal(r1.remaining, 40);
	assert_int_equal(r1.reset_ms, 14 * 3600000LL);
	assert_false(admit(f, &a, &r));
	assert_int_equal(r.why, CS_REFUSE_BUDGET);
	assert_int_equal(r.retry_after_ms, 14 * 3600000LL);
	assert_int_equal(r.remaining, 40);
	assert_int_equal(cs_state_settle(f->st, r1.id, 10, T0 + 1), CS_OK);
	assert_int_equal(cs_state_settle(f->st, r1.id, 50, T0 + 2), CS_OK);
	assert_true(admit(f, &a, &r)); /* 10 used + 60 held */
	assert_int_equal(r.remaining, 30);
	a.reserve_tokens = 31;
	assert_false(admit(f, &a, &r));
	a.reserve_tokens = 30;
	assert_true(admit(f, &a, &r)); /* exactly full */
	a.reserve_tokens = 0;
	assert_false(admit(f, &a, &r)); /* nothing left */
	/* The next UTC day starts fresh: yesterday's use counts for nothing. */
	a.now_ms = T0 + 14 * 3600000LL;
	a.expire_ms = a.now_ms + 600000;
	a.reserve_tokens = 100;
	assert_true(admit(f, &a, &r1));
	assert_int_equal(r1.reset_ms, DAY_MS);
	assert_int_equal(cs_state_settle(f->st, r1.id, 100, a.now_ms), CS_OK);
	a.reserve_tokens = 0;
	assert_false(admit(f, &a, &r));
	/* An expired reservation holds no tokens, and its late settle
	 * charges none. */
	a = one("key:b2", 0, 0, 100, T0);
	a.reserve_tokens = 80;
	a.expire_ms = T0 + 1000;
	assert_true(admit(f, &a, &r1));
	a.reserve_tokens = 30;
	a.now_ms = T0 + 500;
	assert_false(admit(f, &a, &r));
	a.now_ms = T0 + 1000;
	a.expire_ms = T0 + 600000;
	assert_true(admit(f, &a, &r));
	assert_int_equal(r.remaining, 70);
	assert_int_equal(cs_state_settle(f->st, r1.id, 80, T0 + 1001), CS_OK);
	a.now_ms = T0 + 1002;
	a.reserve_tokens = 70;
	assert_true(admit(f, &a, &r)); /* 30 + 70 held, nothing used */
	a.reserve_tokens = 1;
	assert_false(admit(f, &a, &r));
}

/* The second bucket refuses: the first keeps its token and its slot. */
static void
test_all_or_nothing(void **state)
{
	struct fx *f = *state;
	struct cs_admit a = one("model:b", 0, 1, 0, T0), ab;
	struct cs_admit_result r;

	assert_true(admit(f, &a, &r));
	ab = one("ip:a", 1, 1, 10, T0);
	ab.reserve_tokens = 10;
	ab.b[1] = a.b[0];
	ab.n = 2;
	assert_false(admit(f, &ab, &r));
	assert_int_equal(r.refused, 1);
	assert_int_equal(r.why, CS_REFUSE_CONCURRENT);
	a = one("ip:a", 1, 1, 10, T0);
	a.reserve_tokens = 10;
	assert_true(admit(f, &a, &r)); /* token, slot and budget all there */
	a.b[0].concurrent = 0;
	a.b[0].tokens_per_day = 0;
	assert_false(admit(f, &a, &r));
	assert_int_equal(r.why, CS_REFUSE_RATE);
}

/* Handles of one store see the same counts. */
static void
test_shared_handles(void **state)
{
	struct fx *f = *state;
	struct cs_admit a = one("id:u", 0, 1, 0, T0);
	struct cs_admit_result r;
	struct cs_state *st2 = NULL;
	char err[256];

	assert_int_equal(cs_state_open(f->spec, &st2, err, sizeof(err)), CS_OK);
	assert_true(admit(f, &a, &r));
	assert_int_equal(cs_state_admit(st2, &a, &r), CS_OK);
	assert_false(r.allowed);
	cs_state_close(st2);
	assert_false(admit(f, &a, &r));
}

/* Unlimited buckets: allowed, with no limit to report. */
static void
test_unlimited(void **state)
{
	struct fx *f = *state;
	struct cs_admit a = one("any", 0, 0, 0, T0);
	struct cs_admit_result r;

	assert_true(admit(f, &a, &r));
	assert_int_equal(r.kind, 0);
	assert_int_equal(r.limit, 0);
	a.n = 0;
	assert_true(admit(f, &a, &r));
	assert_int_equal(cs_state_settle(f->st, r.id, 5, T0), CS_OK);
}

/* Every bad argument is CS_EBADINPUT and takes nothing: bucket "h" has
 * one rate token, still there at the end. */
static void
test_hostile(void **state)
{
	struct fx *f = *state;
	struct cs_admit good = one("h", 1, 1, 10, T0), a;
	struct cs_ledger_rec rec;
	struct cs_admit_result r;
	char longname[CS_STATE_NAME_MAX + 2];
	int i;

	memset(longname, 'x', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = '\0';
	good.b[1] = good.b[0];
	good.b[1].name = "h2";
	good.n = 2;
	for (i = 0; i < 11; i++) {
		a = good;
		switch (i) {
		case 0: a.b[1].name = longname; break;
		case 1: a.n = CS_STATE_MAX_BUCKETS + 1; break;
		case 2: a.b[1].rpm = -1; break;
		case 3: a.b[1].concurrent = -5; break;
		case 4: a.b[1].tokens_per_day = -1; break;
		case 5: a.reserve_tokens = -1; break;
		case 6: a.expire_ms = a.now_ms; break;
		case 7: a.b[1].name = "h"; break; /* twice */
		case 8: a.b[1].name = NULL; break;
		case 9: a.b[1].name = ""; break;
		case 10: a.now_ms = -1; break;
		}
		assert_int_equal(cs_state_admit(f->st, &a, &r), CS_EBADINPUT);
		assert_false(r.allowed);
	}
	assert_int_equal(cs_state_settle(f->st, "xyz", 1, T0), CS_EBADINPUT);
	assert_int_equal(
	    cs_state_settle(f->st, "0123456789abcdef0123456789abcdeF", 1, T0),
	    CS_EBADINPUT);
	assert_int_equal(
	    cs_state_settle(f->st, "0123456789abcdef0123456789abcdef0", 1, T0),
	    CS_EBADINPUT);
	assert_int_equal(
	    cs_state_settle(f->st, "0123456789abcdef0123456789abcdef", -1, T0),
	    CS_EBADINPUT);
	assert_int_equal(
	    cs_state_settle(f->st, "0123456789abcdef0123456789abcdef", 1, T0),
	    CS_OK); /* unknown: nothing to do */
	memset(&rec, 0, sizeof(rec));
	rec.time_ms = T0;
	rec.model = longname;
	assert_int_equal(cs_state_ledger_add(f->st, &rec), CS_EBADINPUT);
	rec.model = "m";
	rec.prompt_tokens = -2;
	assert_int_equal(cs_state_ledger_add(f->st, &rec), CS_EBADINPUT);
	assert_int_equal(
	    cs_state_usage(f->st, 0, "bogus", NULL, NULL), CS_EBADINPUT);
	assert_int_equal(cs_state_ledger_purge(f->st, -1), CS_EBADINPUT);
	a = good;
	a.reserve_tokens = 10;
	assert_true(admit(f, &a, &r));
	a.reserve_tokens = 0;
	a.b[0].concurrent = 0;
	assert_false(admit(f, &a, &r));
	assert_int_equal(r.why, CS_REFUSE_RATE);
}

/* Names are data, never syntax: spaces, newlines, braces, a colon and
 * what looks like another key are all distinct buckets. */
static void
test_names(void **state)
{
	static const char *const names[] = { "a b", "a\nb", "{a}", "a", "a:b",
		"cs:r:a", "ip:\"x\" \t{}*?[]" };
	struct fx *f = *state;
	struct cs_admit a;
	struct cs_admit_result r;
	size_t i;

	for (i = 0; i < CS_ARRAY_LEN(names); i++) {
		a = one(names[i], 1, 1, 5, T0);
		a.reserve_tokens = 5;
		assert_true(admit(f, &a, &r));
	}
	for (i = 0; i < CS_ARRAY_LEN(names); i++) {
		a = one(names[i], 0, 0, 5, T0);
		assert_false(admit(f, &a, &r));
		assert_int_equal(r.why, CS_REFUSE_BUDGET);
		a = one(names[i], 1, 0, 0, T0);
		assert_false(admit(f, &a, &r));
		assert_int_equal(r.why, CS_REFUSE_RATE);
	}
}

struct rows {
	size_t n;
	struct {
		char g[32];
		long long req, prompt, completion;
	} r[8];
};

static void
collect(void *ctx, const char *group, long long requests, long long prompt,
    long long completion)
{
	struct rows *rows = ctx;

	assert_true(rows->n < 8);
	snprintf(rows->r[rows->n].g, sizeof(rows->r[0].g), "%s", group);
	rows->r[rows->n].req = requests;
	rows->r[rows->n].prompt = prompt;
	rows->r[rows->n].completion = completion;
	rows->n++;
}

static void
assert_row(const struct rows *rows, size_t i, const char *g, long long req,
    long long prompt, long long completion)
{
	assert_true(i < rows->n);
	assert_string_equal(rows->r[i].g, g);
	assert_int_equal(rows->r[i].req, req);
	assert_int_equal(rows->r[i].prompt, prompt);
	assert_int_equal(rows->r[i].completion, completion);
}

/* The usage by by since since into rows, which must be n. */
static void
usage(
    struct fx *f, long long since, const char *by, struct rows *rows, size_t n)
{
	memset(rows, 0, sizeof(*rows));
	assert_int_equal(
	    cs_state_usage(f->st, since, by, collect, rows), CS_OK);
	assert_int_equal(rows->n, n);
}

static void
test_ledger(void **state)
{
	struct fx *f = *state;
	static const struct {
		long long t;
		const char *model, *identity;
		long long p, c;
	} in[] = {
		{ T0, "gpt-b", "ip:1", 10, 1 },
		{ T0 + 1, "gpt-a", "ip:1", 20, 2 },
		{ T0 + DAY_MS, "gpt-b", NULL, 30, -1 },
		{ T0 + DAY_MS + 5, "gpt-b", "ip:2", -1, 4 },
	};
	struct cs_ledger_rec rec;
	struct rows rows;
	size_t i;

	for (i = 0; i < CS_ARRAY_LEN(in); i++) {
		memset(&rec, 0, sizeof(rec));
		rec.time_ms = in[i].t;
		rec.request_id = "req";
		rec.model = in[i].model;
		rec.identity = in[i].identity;
		rec.outcome = "done";
		rec.prompt_tokens = in[i].p;
		rec.completion_tokens = in[i].c;
		rec.generated_tokens = rec.delivered_tokens = -1;
		rec.ttfd_ms = -1;
		rec.duration_ms = 12;
		assert_int_equal(cs_state_ledger_add(f->st, &rec), CS_OK);
	}
	usage(f, 0, "model", &rows, 2);
	assert_row(&rows, 0, "gpt-a", 1, 20, 2);
	assert_row(&rows, 1, "gpt-b", 3, 40, 5);
	usage(f, 0, "day", &rows, 2);
	assert_row(&rows, 0, "2026-01-01", 2, 30, 3);
	assert_row(&rows, 1, "2026-01-02", 2, 30, 4);
	usage(f, T0 + 1, "identity", &rows, 3);
	assert_row(&rows, 0, "", 1, 30, 0);
	assert_row(&rows, 1, "ip:1", 1, 20, 2);
	assert_row(&rows, 2, "ip:2", 1, 0, 4);
	usage(f, 0, "key", &rows, 1);
	assert_row(&rows, 0, "", 4, 60, 7);
	assert_int_equal(cs_state_ledger_purge(f->st, T0 + DAY_MS), CS_OK);
	usage(f, 0, "day", &rows, 1);
	assert_row(&rows, 0, "2026-01-02", 2, 30, 4);
}

/* What a scan saw: records by request id, with their numbers. */
struct seen {
	size_t n;
	struct {
		char id[16], model[16], key[16], outcome[24];
		long long t, p, c;
		long ttfd, dur;
		int tried;
	} r[8];
};

static void
scan_collect(void *ctx, const struct cs_ledger_rec *rec)
{
	struct seen *s = ctx;
	size_t i;

	assert_true(s->n < 8);
	assert_non_null(rec->identity); /* never NULL, "" when empty */
	for (i = s->n++; i > 0 && strcmp(s->r[i - 1].id, rec->request_id) > 0;
	     i--)
		s->r[i] = s->r[i - 1]; /* kept sorted by id */
	snprintf(s->r[i].id, sizeof(s->r[i].id), "%s", rec->request_id);
	snprintf(s->r[i].model, sizeof(s->r[i].model), "%s", rec->model);
	snprintf(s->r[i].key, sizeof(s->r[i].key), "%s", rec->key_name);
	snprintf(s->r[i].outcome, sizeof(s->r[i].outcome), "%s", rec->outcome);
	s->r[i].t = rec->time_ms;
	s->r[i].p = rec->prompt_tokens;
	s->r[i].c = rec->completion_tokens;
	s->r[i].ttfd = rec->ttfd_ms;
	s->r[i].dur = rec->duration_ms;
	s->r[i].tried = rec->tried;
}

/* Every field of every record since a time comes back as written
 * (strings never NULL), and purged days are gone. */
static void
test_ledger_scan(void **state)
{
	struct fx *f = *state;
#define REC(id_, t_, model_, key_, outcome_, p_, c_, ttfd_, tried_) \
	{ \
		.time_ms = (t_), .request_id = (id_), .identity = "iph:00", \
		.model = (model_), .key_name = (key_), .outcome = (outcome_), \
		.prompt_tokens = (p_), .completion_tokens = (c_), \
		.generated_tokens = -1, .delivered_tokens = -1, \
		.ttfd_ms = (ttfd_), .duration_ms = 77, .tried = (tried_) \
	}
	static const struct cs_ledger_rec in[] = {
		REC("r1", T0, "gpt-a", "alice", "done", 10, 1, 120, 1),
		REC("r2", T0 + 5, "gpt-b", NULL, "upstream_error", -1, -1, -1,
		    2),
		REC("r3", T0 + DAY_MS, "gpt-a", "bob", "done", 30, 3, 45, 0),
	};
#undef REC
	struct seen s;
	size_t i;

	for (i = 0; i < CS_ARRAY_LEN(in); i++)
		assert_int_equal(cs_state_ledger_add(f->st, &in[i]), CS_OK);
	memset(&s, 0, sizeof(s));
	assert_int_equal(
	    cs_state_ledger_scan(f->st, 0, scan_collect, &s), CS_OK);
	assert_int_equal(s.n, 3);
	for (i = 0; i < 3; i++) {
		assert_string_equal(s.r[i].id, in[i].request_id);
		assert_int_equal(s.r[i].t, in[i].time_ms);
		assert_string_equal(s.r[i].model, in[i].model);
		assert_string_equal(
		    s.r[i].key, in[i].key_name ? in[i].key_name : "");
		assert_string_equal(s.r[i].outcome, in[i].outcome);
		assert_int_equal(s.r[i].p, in[i].prompt_tokens);
		assert_int_equal(s.r[i].c, in[i].completion_tokens);
		assert_int_equal(s.r[i].ttfd, in[i].ttfd_ms);
		assert_int_equal(s.r[i].dur, 77);
		assert_int_equal(s.r[i].tried, in[i].tried);
	}
	memset(&s, 0, sizeof(s));
	assert_int_equal(
	    cs_state_ledger_scan(f->st, T0 + 1, scan_collect, &s), CS_OK);
	assert_int_equal(s.n, 2); /* r1 is before since */
	assert_string_equal(s.r[0].id, "r2");
	assert_int_equal(cs_state_ledger_purge(f->st, T0 + DAY_MS), CS_OK);
	memset(&s, 0, sizeof(s));
	assert_int_equal(
	    cs_state_ledger_scan(f->st, 0, scan_collect, &s), CS_OK);
	assert_int_equal(s.n, 1);
	assert_string_equal(s.r[0].id, "r3");
	assert_int_equal(
	    cs_state_ledger_scan(f->st, -1, scan_collect, &s), CS_EBADINPUT);
	assert_int_equal(
	    cs_state_ledger_scan(f->st, 0, NULL, &s), CS_EBADINPUT);
}

/* Refusal counters by day and reason. */
struct refusals {
	long long n[3][3]; /* day T0, +1, +2 by reason below */
	size_t calls;
};

static const char *const reasons3[] = { "rate_limited", "unauthorized",
	"budget_exceeded" };

static void
refusal_collect(void *ctx, long long day, const char *reason, long long n)
{
	struct refusals *r = ctx;
	long long i = day - T0 / DAY_MS;
	size_t k;

	assert_true(i >= 0 && i < 3);
	for (k = 0; k < 3 && strcmp(reasons3[k], reason) != 0; k++)
		;
	assert_true(k < 3);
	r->n[i][k] += n;
	r->calls++;
}

static void
test_refusals(void **state)
{
	struct fx *f = *state;
	struct refusals r;
	int i;

	for (i = 0; i < 3; i++)
		assert_int_equal(
		    cs_state_refusal_add(f->st, "rate_limited", 1, T0 + i),
		    CS_OK);
	assert_int_equal(
	    cs_state_refusal_add(f->st, "unauthorized", 1, T0 + DAY_MS), CS_OK);
	assert_int_equal(
	    cs_state_refusal_add(f->st, "budget_exceeded", 1, T0 + 2 * DAY_MS),
	    CS_OK);
	/* Several at once (the worker's counts, flushed together). */
	assert_int_equal(
	    cs_state_refusal_add(f->st, "rate_limited", 40, T0 + 5), CS_OK);
	memset(&r, 0, sizeof(r));
	assert_int_equal(
	    cs_state_refusals(f->st, T0, T0 + 2 * DAY_MS, refusal_collect, &r),
	    CS_OK);
	assert_int_equal(r.n[0][0], 43);
	assert_int_equal(r.n[1][1], 1);
	assert_int_equal(r.n[2][2], 1);
	assert_int_equal(r.calls, 3); /* one counter per day and reason */
	memset(&r, 0, sizeof(r));
	assert_int_equal(cs_state_refusals(f->st, T0 + DAY_MS, T0 + DAY_MS,
	                     refusal_collect, &r),
	    CS_OK);
	assert_int_equal(r.calls, 1); /* that day only */
	assert_int_equal(r.n[1][1], 1);
	/* Hostile: nothing counted. */
	assert_int_equal(
	    cs_state_refusal_add(f->st, "Rate-Limited", 1, T0), CS_EBADINPUT);
	assert_int_equal(cs_state_refusal_add(f->st, "", 1, T0), CS_EBADINPUT);
	assert_int_equal(
	    cs_state_refusal_add(f->st, "rate_limited", 0, T0), CS_EBADINPUT);
	assert_int_equal(
	    cs_state_refusal_add(f->st, "rate_limited", -1, T0), CS_EBADINPUT);
	assert_int_equal(cs_state_refusal_add(f->st,
	                     "a_reason_that_is_longer_than_32_bytes", 1, T0),
	    CS_EBADINPUT);
	assert_int_equal(cs_state_refusals(
	                     f->st, T0, T0 + 400 * DAY_MS, refusal_collect, &r),
	    CS_EBADINPUT);
	assert_int_equal(
	    cs_state_refusals(f->st, T0 + 1, T0, refusal_collect, &r),
	    CS_EBADINPUT);
	/* The ledger's purge takes the days it drops. */
	assert_int_equal(cs_state_ledger_purge(f->st, T0 + DAY_MS), CS_OK);
	memset(&r, 0, sizeof(r));
	assert_int_equal(
	    cs_state_refusals(f->st, T0, T0 + 2 * DAY_MS, refusal_collect, &r),
	    CS_OK);
	assert_int_equal(r.n[0][0], 0);
	assert_int_equal(r.n[1][1], 1);
	assert_int_equal(r.n[2][2], 1);
}

/* A store of schema version 3 (no refusal table) gets one at open. */
static void
test_sqlite_migrate_3(void **state)
{
	struct fx *f = *state;
	struct refusals r;
	char err[256];
	sqlite3 *db = NULL;
	sqlite3_stmt *q;

	cs_state_close(f->st);
	f->st = NULL;
	assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
	assert_int_equal(
	    sqlite3_exec(db, "DROP TABLE refusal; PRAGMA user_version = 3",
	        NULL, NULL, NULL),
	    SQLITE_OK);
	sqlite3_close(db);
	assert_int_equal(
	    cs_state_open(f->spec, &f->st, err, sizeof(err)), CS_OK);
	assert_int_equal(
	    cs_state_refusal_add(f->st, "rate_limited", 1, T0), CS_OK);
	memset(&r, 0, sizeof(r));
	assert_int_equal(
	    cs_state_refusals(f->st, T0, T0, refusal_collect, &r), CS_OK);
	assert_int_equal(r.n[0][0], 1);
	assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
	assert_int_equal(
	    sqlite3_prepare_v2(db,
	        "SELECT user_version FROM pragma_user_version", -1, &q, NULL),
	    SQLITE_OK);
	assert_int_equal(sqlite3_step(q), SQLITE_ROW);
	assert_int_equal(sqlite3_column_int64(q, 0), 4);
	sqlite3_finalize(q);
	sqlite3_close(db);
}

/* The memory backend keeps CS_STATE_MEM_REFUSALS counters: a new one
 * when full takes an oldest day's place. */
static void
test_memory_refusals_bounded(void **state)
{
	struct fx *f = *state;
	struct refusals r;
	long long d;

	for (d = 0; d < CS_STATE_MEM_REFUSALS; d++)
		assert_int_equal(cs_state_refusal_add(f->st, "rate_limited", 1,
		                     T0 - (d + 3) * DAY_MS),
		    CS_OK);
	assert_int_equal(
	    cs_state_refusal_add(f->st, "unauthorized", 1, T0 + DAY_MS), CS_OK);
	memset(&r, 0, sizeof(r));
	assert_int_equal(
	    cs_state_refusals(f->st, T0, T0 + 2 * DAY_MS, refusal_collect, &r),
	    CS_OK);
	assert_int_equal(r.n[1][1], 1);
	assert_int_equal(r.calls, 1);
}

/* A child: its own handle, 25 admits, as many allowed as its status. */
static void
race_child(const char *spec, int go)
{
	struct cs_admit a = one("site", 0, 10, 0, T0);
	struct cs_admit_result r;
	struct cs_state *st = NULL;
	int i, tries, allowed = 0;
	enum cs_err e;
	char c;

	if (cs_state_open(spec, &st, NULL, 0) != CS_OK)
		_exit(100);
	if (read(go, &c, 1) != 0)
		_exit(101);
	for (i = 0; i < 25; i++) {
		tries = 0;
		while ((e = cs_state_admit(st, &a, &r)) == CS_ESTATE &&
		    ++tries < 100)
			;
		if (e != CS_OK)
			_exit(102);
		allowed += r.allowed;
	}
	cs_state_close(st);
	_exit(allowed);
}

/* Four processes (as many hosts: each its own handle), 25 admits each,
 * ten slots: exactly ten allowed. */
static void
test_processes(void **state)
{
	struct fx *f = *state;
	int go[2], status, total = 0, i;
	pid_t pid[4];

	assert_int_equal(pipe(go), 0);
	for (i = 0; i < 4; i++) {
		pid[i] = fork();
		assert_true(pid[i] >= 0);
		if (pid[i] == 0) {
			close(go[1]);
			race_child(f->spec, go[0]);
		}
	}
	close(go[0]);
	close(go[1]); /* all start at once */
	for (i = 0; i < 4; i++) {
		assert_int_equal(waitpid(pid[i], &status, 0), pid[i]);
		assert_true(WIFEXITED(status));
		assert_true(WEXITSTATUS(status) <= 10);
		total += WEXITSTATUS(status);
	}
	assert_int_equal(total, 10);
}

/* Another connection holds the write lock: an error soon, not a hang. */
static void
test_sqlite_busy(void **state)
{
	struct fx *f = *state;
	struct cs_admit a = one("site", 1, 1, 0, T0);
	struct cs_admit_result r;
	sqlite3 *db = NULL;
	long long t;

	assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
	assert_int_equal(
	    sqlite3_exec(db, "BEGIN EXCLUSIVE", NULL, NULL, NULL), SQLITE_OK);
	t = mono_ms();
	assert_int_equal(cs_state_admit(f->st, &a, &r), CS_ESTATE);
	assert_false(r.allowed);
	assert_int_equal(
	    cs_state_settle(f->st, "0123456789abcdef0123456789abcdef", 1, T0),
	    CS_ESTATE);
	assert_true(mono_ms() - t < 5000);
	assert_int_equal(
	    sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
	assert_true(admit(f, &a, &r)); /* and nothing was half taken */
	assert_false(admit(f, &a, &r));
}

/* A store of schema version 1 (no held counters) is brought up to date
 * when opened: the reservations it holds still count, and settle. */
static void
test_sqlite_migrate(void **state)
{
	struct fx *f = *state;
	struct cs_admit a = one("ip:mig", 0, 2, 1000, T0);
	struct cs_admit_result r;
	char err[256], msg[512], id[CS_STATE_ID_LEN + 1];
	sqlite3 *db = NULL;
	long long used = -1;
	sqlite3_stmt *q;

	a.reserve_tokens = 300;
	assert_true(admit(f, &a, &r));
	memcpy(id, r.id, sizeof(id));
	assert_true(admit(f, &a, &r));
	cs_state_close(f->st);
	f->st = NULL;
	/* As chatstream 1a7bd42 left it. */
	assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
	assert_int_equal(
	    sqlite3_exec(db,
	        "DROP TABLE held; DROP TABLE route_dep; DROP TABLE route_busy;"
	        " DROP TABLE refusal;"
	        " ALTER TABLE ledger DROP COLUMN tried; PRAGMA user_version = 1",
	        NULL, NULL, NULL),
	    SQLITE_OK);
	sqlite3_close(db);
	assert_int_equal(cs_state_check(f->spec, msg, sizeof(msg)), CS_OK);
	assert_non_null(strstr(msg, "schema version 1 (brought up to date"));
	assert_int_equal(
	    cs_state_open(f->spec, &f->st, err, sizeof(err)), CS_OK);
	assert_false(admit(f, &a, &r)); /* two streams still open */
	assert_int_equal(r.why, CS_REFUSE_CONCURRENT);
	assert_int_equal(cs_state_settle(f->st, id, 100, T0 + 1), CS_OK);
	assert_true(admit(f, &a, &r)); /* a slot and 600 tokens left */
	assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
	assert_int_equal(
	    sqlite3_prepare_v2(db,
	        "SELECT (SELECT user_version FROM pragma_user_version)"
	        ", (SELECT SUM(reserved) FROM held)",
	        -1, &q, NULL),
	    SQLITE_OK);
	assert_int_equal(sqlite3_step(q), SQLITE_ROW);
	assert_int_equal(sqlite3_column_int64(q, 0), 4);
	used = sqlite3_column_int64(q, 1);
	sqlite3_finalize(q);
	sqlite3_close(db);
	assert_int_equal(used, 600); /* the two live reservations */
}

/* Rows of table (a name from the test itself). */
static long long
count_rows(sqlite3 *db, const char *table)
{
	char sql[64];
	sqlite3_stmt *q = NULL;
	long long n;

	snprintf(sql, sizeof(sql), "SELECT COUNT(*) FROM %s", table);
	assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &q, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(q), SQLITE_ROW);
	n = sqlite3_column_int64(q, 0);
	sqlite3_finalize(q);
	return n;
}

/* File size, 0 when missing. */
static long long
size_of(const char *path)
{
	struct stat sb;

	return stat(path, &sb) == 0 ? (long long)sb.st_size : 0;
}

/* Admissions never checkpoint the WAL (more frames than SQLite's own
 * 1000-page trigger pile up and the database file stays as it was);
 * cs_state_maintain copies them all back. */
static void
test_sqlite_maintain(void **state)
{
	struct fx *f = *state;
	struct cs_admit_result r;
	struct cs_admit a;
	char name[32], wal[160], err[256];
	struct cs_state *st2 = NULL;
	long long before;
	sqlite3 *db = NULL;
	int i, log = -1, done = -1;

	snprintf(wal, sizeof(wal), "%s-wal", f->path);
	assert_int_equal(cs_state_maintain(f->st), CS_OK);
	before = size_of(f->path);
	for (i = 0; i < 800; i++) {
		snprintf(name, sizeof(name), "m%d", i);
		a = one(name, 1000, 0, 0, T0 + i);
		assert_true(admit(f, &a, &r));
	}
	assert_true(size_of(wal) > 1000LL * 4096);
	assert_int_equal(size_of(f->path), before);
	/* Another handle (as the settle thread's is): its first call also
	 * tidies up, which a handle does at most once a minute. */
	assert_int_equal(cs_state_open(f->spec, &st2, err, sizeof(err)), CS_OK);
	assert_int_equal(cs_state_maintain(st2), CS_OK);
	cs_state_close(st2);
	assert_true(size_of(f->path) > before);
	/* Nothing is left to copy. */
	assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_wal_checkpoint_v2(
	                     db, NULL, SQLITE_CHECKPOINT_PASSIVE, &log, &done),
	    SQLITE_OK);
	assert_int_equal(log, done);
	/* The tidy-up ran too: the rate buckets of T0 (long full by the
	 * wall clock) are gone, the live reservations are not. */
	assert_int_equal(count_rows(db, "rate"), 0);
	assert_int_equal(count_rows(db, "hold"), 800);
	assert_int_equal(count_rows(db, "held"), 800);
	sqlite3_close(db);
}

static unsigned long
rnd(unsigned long *x)
{
	*x = *x * 6364136223846793005UL + 1442695040888963407UL;
	return *x >> 33;
}

/* One admission of 1..3 of names, random limits, on all three stores:
 * every field of the results agrees (the id aside); the ids of allowed
 * ones into ids[*n] while there is room. */
static void
agree_admit(struct cs_state **st, unsigned long *x, long long now,
    char ids[][3][CS_STATE_ID_LEN + 1], size_t *n)
{
	static const char *const names[] = { "n0", "n1", "n2" };
	struct cs_admit_result r[3];
	struct cs_admit a;
	size_t i, k, first = rnd(x) % 3;

	memset(&a, 0, sizeof(a));
	a.n = 1 + rnd(x) % 3;
	for (i = 0; i < a.n; i++) {
		a.b[i].name = names[(first + i) % 3];
		a.b[i].rpm = (long)(rnd(x) % 4);
		a.b[i].concurrent = (long)(rnd(x) % 4);
		a.b[i].tokens_per_day = (long long)(rnd(x) % 2) * 300;
	}
	a.reserve_tokens = (long long)(rnd(x) % 60);
	a.now_ms = now;
	a.expire_ms = now + 60000 + (long long)(rnd(x) % 60000);
	for (k = 0; k < 3; k++)
		assert_int_equal(cs_state_admit(st[k], &a, &r[k]), CS_OK);
	for (k = 1; k < 3; k++) {
		assert_int_equal(r[k].allowed, r[0].allowed);
		assert_int_equal(r[k].refused, r[0].refused);
		assert_int_equal(r[k].why, r[0].why);
		assert_int_equal(r[k].kind, r[0].kind);
		assert_int_equal(r[k].retry_after_ms, r[0].retry_after_ms);
		assert_int_equal(r[k].limit, r[0].limit);
		assert_int_equal(r[k].remaining, r[0].remaining);
		assert_int_equal(r[k].reset_ms, r[0].reset_ms);
	}
	if (!r[0].allowed || *n == 64)
		return;
	for (k = 0; k < 3; k++)
		memcpy(ids[*n][k], r[k].id, sizeof(r[k].id));
	(*n)++;
}

/* The memory, SQLite and Redis (Lua) arithmetic agree: 600 random
 * admissions and settles over three names, the clock moving on. */
static void
test_agree(void **state)
{
	static char ids[64][3][CS_STATE_ID_LEN + 1];
	struct cs_state *st[3] = { NULL, NULL, NULL };
	struct fx *f = *state;
	unsigned long x = 20260101;
	long long now = T0, used;
	size_t n = 0, j, k;
	char spec[256];
	int op;

	snprintf(spec, sizeof(spec), "sqlite:%s/agree.db", f->dir);
	assert_int_equal(cs_state_open("memory", &st[0], NULL, 0), CS_OK);
	assert_int_equal(cs_state_open(spec, &st[1], NULL, 0), CS_OK);
	st[2] = f->st;
	for (op = 0; op < 600; op++) {
		now += (long long)(rnd(&x) % 3000);
		if (n == 0 || rnd(&x) % 3 != 0) {
			agree_admit(st, &x, now, ids, &n);
			continue;
		}
		j = rnd(&x) % n;
		used = (long long)(rnd(&x) % 80);
		for (k = 0; k < 3; k++)
			assert_int_equal(
			    cs_state_settle(st[k], ids[j][k], used, now),
			    CS_OK);
		memmove(ids[j], ids[j + 1], (n - j - 1) * sizeof(ids[0]));
		n--;
	}
	cs_state_close(st[0]);
	cs_state_close(st[1]);
}

/* The server dies mid-run: CS_ESTATE soon, never a hang; started again
 * on the same socket, the next call connects again. */
static void
test_redis_down(void **state)
{
	struct fx *f = *state;
	struct cs_admit a = one("site", 0, 1, 0, T0);
	struct cs_admit_result r, r1;
	struct rows rows = { 0 };
	char msg[512];
	long long t;

	assert_true(admit(f, &a, &r));
	redis_stop(f);
	t = mono_ms();
	assert_int_equal(cs_state_admit(f->st, &a, &r), CS_ESTATE);
	assert_false(r.allowed);
	assert_int_equal(cs_state_admit(f->st, &a, &r), CS_ESTATE);
	assert_int_equal(
	    cs_state_settle(f->st, "0123456789abcdef0123456789abcdef", 1, T0),
	    CS_ESTATE);
	assert_int_equal(
	    cs_state_usage(f->st, 0, "day", collect, &rows), CS_ESTATE);
	assert_int_equal(rows.n, 0);
	assert_int_equal(cs_state_check(f->spec, msg, sizeof(msg)), CS_ESTATE);
	assert_non_null(strstr(msg, f->path));
	assert_true(mono_ms() - t < 5000);
	redis_start(f);
	assert_true(admit(f, &a, &r1)); /* a new server: nothing held */
	assert_false(admit(f, &a, &r));
	assert_int_equal(cs_state_settle(f->st, r1.id, 0, T0 + 1), CS_OK);
	a.now_ms = T0 + 2;
	assert_true(admit(f, &a, &r));
	/* Restarted between two calls: a settle (safe to send twice) goes
	 * through on a new connection at once; an admit may not. */
	redis_stop(f);
	redis_start(f);
	assert_int_equal(cs_state_settle(f->st, r.id, 0, T0 + 3), CS_OK);
	redis_stop(f);
	redis_start(f);
	assert_int_equal(cs_state_admit(f->st, &a, &r), CS_ESTATE);
	assert_true(admit(f, &a, &r));
}

/* spec fails to open, with a message naming want. */
static void
assert_open_fails(const char *spec, enum cs_err want, const char *in_msg)
{
	struct cs_state *st = (struct cs_state *)&st; /* must become NULL */
	char err[512] = "";

	assert_int_equal(cs_state_open(spec, &st, err, sizeof(err)), want);
	assert_null(st);
	if (strstr(err, in_msg) == NULL)
		fail_msg(
		    "open %s: \"%s\" does not say \"%s\"", spec, err, in_msg);
}

static void
test_sqlite_open_errors(void **state)
{
	struct fx *f = *state;
	char spec[256], path[200], msg[512];
	int fd;

	snprintf(path, sizeof(path), "%s/missing/s.db", f->dir);
	snprintf(spec, sizeof(spec), "sqlite:%s", path);
	assert_open_fails(spec, CS_ESTATE, path);
	assert_open_fails(spec, CS_ESTATE, "does not exist");
	assert_int_equal(cs_state_check(spec, msg, sizeof(msg)), CS_ESTATE);
	assert_non_null(strstr(msg, path));
	/* The parent is a regular file. */
	snprintf(path, sizeof(path), "%s/file", f->dir);
	fd = open(path, O_CREAT | O_WRONLY, 0600);
	assert_true(fd >= 0);
	close(fd);
	snprintf(path, sizeof(path), "%s/file/s.db", f->dir);
	snprintf(spec, sizeof(spec), "sqlite:%s", path);
	assert_open_fails(spec, CS_ESTATE, path);
	assert_open_fails(spec, CS_ESTATE, "not a directory");
	/* The path is a directory. */
	snprintf(spec, sizeof(spec), "sqlite:%s", f->dir);
	assert_open_fails(spec, CS_ESTATE, "is a directory");
	/* A directory nobody, root included, may create files in. */
	assert_open_fails("sqlite:/proc/cs-state-test.db", CS_ESTATE,
	    "/proc/cs-state-test.db");
	assert_int_equal(
	    cs_state_check("sqlite:/proc/cs-state-test.db", msg, sizeof(msg)),
	    CS_ESTATE);
	assert_non_null(strstr(msg, "/proc/cs-state-test.db"));
	assert_open_fails("sqlite:", CS_ESTATE, "sqlite:PATH");
	assert_open_fails("redis://x", CS_ECONFIG, "\"redis://x\"");
	assert_open_fails("memoryx", CS_ECONFIG, "memory");
	assert_open_fails("", CS_ECONFIG, "sqlite:PATH");
}

/* Entries in dir, . and .. aside. */
static int
count_entries(const char *dir)
{
	struct dirent *e;
	DIR *d = opendir(dir);
	int n = 0;

	assert_non_null(d);
	while ((e = readdir(d)) != NULL)
		n += strcmp(e->d_name, ".") != 0 &&
		    strcmp(e->d_name, "..") != 0;
	closedir(d);
	return n;
}

/* --check-config: where, and writable; a missing file is not made. */
static void
test_sqlite_check(void **state)
{
	struct fx *f = *state;
	char spec[256], path[200], msg[512];
	sqlite3 *db = NULL;
	struct stat sb;
	int before;

	assert_int_equal(cs_state_check(f->spec, msg, sizeof(msg)), CS_OK);
	assert_non_null(strstr(msg, f->path));
	assert_non_null(strstr(msg, "writable, schema version 4"));
	snprintf(path, sizeof(path), "%s/new.db", f->dir);
	snprintf(spec, sizeof(spec), "sqlite:%s", path);
	before = count_entries(f->dir);
	assert_int_equal(cs_state_check(spec, msg, sizeof(msg)), CS_OK);
	assert_non_null(strstr(msg, "writable, not made yet"));
	assert_int_equal(stat(path, &sb), -1); /* a check makes nothing */
	assert_int_equal(errno, ENOENT);
	assert_int_equal(count_entries(f->dir), before); /* nor leaves any */
	/* An empty file (made by hand, or by a start that was killed). */
	assert_int_equal(close(open(path, O_CREAT | O_WRONLY, 0600)), 0);
	assert_int_equal(cs_state_check(spec, msg, sizeof(msg)), CS_OK);
	assert_non_null(strstr(msg, "writable, no tables yet"));
	assert_int_equal(stat(path, &sb), 0);
	assert_int_equal(sb.st_size, 0);
	/* A store from a later chatstream is not touched. */
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	assert_int_equal(
	    sqlite3_exec(db, "PRAGMA user_version = 5", NULL, NULL, NULL),
	    SQLITE_OK);
	sqlite3_close(db);
	assert_open_fails(spec, CS_ESTATE, "schema version 5 is newer");
	assert_int_equal(cs_state_check(spec, msg, sizeof(msg)), CS_ESTATE);
	assert_non_null(strstr(msg, "schema version 5 is newer"));
	assert_int_equal(cs_state_check("memory", msg, sizeof(msg)), CS_OK);
	assert_non_null(strstr(msg, "memory"));
	assert_int_equal(cs_state_check("mem", msg, sizeof(msg)), CS_ECONFIG);
}

/* Bad specs are CS_ECONFIG naming the spec and what is wanted; a spec
 * that parses but names no server is CS_ESTATE. */
static void
test_redis_specs(void **state)
{
	static const struct {
		const char *spec, *msg;
	} bad[] = {
		{ "redis://", "redis://HOST:PORT[/DB]" },
		{ "redis://host", "port 1..65535" },
		{ "redis://host:", "\"redis://host:\"" },
		{ "redis://host:0", "port 1..65535" },
		{ "redis://host:65536", "port 1..65535" },
		{ "redis://host:+1", "port 1..65535" },
		{ "redis://host:6379/16", "DB 0..15" },
		{ "redis://host:6379/", "DB 0..15" },
		{ "redis://host:6379/1x", "DB 0..15" },
		{ "redis://ho st:6379", "redis://HOST:PORT" },
		{ "redis://[::1:6379", "redis://HOST:PORT" },
		{ "redis://host:6379?db=1", "?password_file=PATH" },
		{ "redis://host:6379?", "?password_file=PATH" },
		{ "redis://host:6379?x=1", "?password_file=PATH" },
		{ "redis+unix://relative.sock", "PATH absolute" },
		{ "redis+unix://", "redis+unix:///PATH" },
		{ "redis+unix:///s?db=16", "db=0..15" },
		{ "redis+unix:///s?db=", "db=0..15" },
		{ "redis+unix:///s?db=1&db=2", "each once" },
		{ "redis+unix:///s?db=1&", "each once" },
		{ "redis+unix:///s?password_file=", "password_file=PATH" },
		{ "redis+unix:///s?password_file=/nonexistent/pw",
		    "/nonexistent/pw: No such file" },
	};
	struct fx *f = *state;
	char spec[512], msg[512];
	size_t i;

	for (i = 0; i < CS_ARRAY_LEN(bad); i++) {
		assert_open_fails(bad[i].spec, CS_ECONFIG, bad[i].msg);
		assert_int_equal(
		    cs_state_check(bad[i].spec, msg, sizeof(msg)), CS_ECONFIG);
	}
	snprintf(spec, sizeof(spec), "redis+unix:///%0200d.sock", 0);
	assert_open_fails(spec, CS_ECONFIG, "at most 107 bytes");
	snprintf(spec, sizeof(spec), "redis+unix://%s/none.sock", f->dir);
	assert_open_fails(spec, CS_ESTATE, "cannot connect");
	assert_open_fails(spec, CS_ESTATE, "/none.sock db 0");
	assert_int_equal(cs_state_check(spec, msg, sizeof(msg)), CS_ESTATE);
	assert_non_null(strstr(msg, "cannot connect"));
	assert_int_equal(cs_state_check(f->spec, msg, sizeof(msg)), CS_OK);
	snprintf(spec, sizeof(spec), "state store redis at %s db 3: reachable",
	    f->path);
	assert_string_equal(msg, spec);
	/* TCP: parsed, then refused by a port nothing listens on. */
	assert_open_fails("redis://127.0.0.1:1/2", CS_ESTATE,
	    "redis at 127.0.0.1:1 db 2: cannot connect");
	assert_open_fails("redis://[::1]:1", CS_ESTATE, "redis at ::1:1 db 0");
}

/* Writes text into f->dir/name with mode. */
static void
write_file(struct fx *f, const char *name, const char *text, mode_t mode,
    char *path, size_t len)
{
	int fd;

	snprintf(path, len, "%s/%s", f->dir, name);
	fd = open(path, O_CREAT | O_WRONLY | O_TRUNC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	assert_int_equal(fchmod(fd, mode), 0);
	close(fd);
}

/* requirepass: the right file opens it; a wrong one is CS_ESTATE with a
 * message naming neither password; a file others may read is refused. */
static void
test_redis_password(void **state)
{
	struct fx *f = *state;
	struct cs_admit a = one("site", 0, 1, 0, T0);
	struct cs_admit_result r;
	struct cs_state *st2 = NULL;
	char spec[512], path[256], err[512];

	write_file(f, "pw", REDIS_PASSWORD "\n", 0600, path, sizeof(path));
	snprintf(spec, sizeof(spec), "redis+unix://%s?db=1&password_file=%s",
	    f->path, path);
	if (cs_state_open(spec, &f->st, err, sizeof(err)) != CS_OK)
		fail_msg("open %s: %s", spec, err);
	assert_true(admit(f, &a, &r));
	assert_false(admit(f, &a, &r));
	assert_int_equal(cs_state_check(spec, err, sizeof(err)), CS_OK);
	write_file(f, "bad", "wrong-Pw-77\n", 0400, path, sizeof(path));
	snprintf(spec, sizeof(spec), "redis+unix://%s?password_file=%s",
	    f->path, path);
	assert_open_fails(spec, CS_ESTATE, "AUTH refused");
	assert_int_equal(
	    cs_state_open(spec, &st2, err, sizeof(err)), CS_ESTATE);
	assert_null(st2);
	assert_null(strstr(err, "wrong-Pw-77"));
	assert_null(strstr(err, REDIS_PASSWORD));
	assert_int_equal(cs_state_check(spec, err, sizeof(err)), CS_ESTATE);
	assert_null(strstr(err, "wrong-Pw-77"));
	write_file(f, "open", REDIS_PASSWORD, 0640, path, sizeof(path));
	snprintf(spec, sizeof(spec), "redis+unix://%s?password_file=%s",
	    f->path, path);
	assert_open_fails(spec, CS_ECONFIG, "group or others");
	write_file(f, "empty", "\n", 0600, path, sizeof(path));
	snprintf(spec, sizeof(spec), "redis+unix://%s?password_file=%s",
	    f->path, path);
	assert_open_fails(spec, CS_ECONFIG, "one line of 1 to 512 bytes");
	snprintf(spec, sizeof(spec), "redis+unix://%s", f->path);
	assert_open_fails(spec, CS_ESTATE, "NOAUTH");
}

/* The memory store keeps CS_STATE_MEM_BUCKETS names: the oldest goes. */
/* Every backend takes the call; only SQLite has work in it. */
static void
test_maintain_noop(void **state)
{
	struct fx *f = *state;

	assert_int_equal(cs_state_maintain(f->st), CS_OK);
	assert_int_equal(cs_state_maintain(f->st), CS_OK);
}

static void
test_memory_bounded(void **state)
{
	struct fx *f = *state;
	struct cs_admit a = one("first", 1, 0, 0, T0);
	struct cs_admit_result r;
	char name[32];
	int i;

	assert_true(admit(f, &a, &r));
	assert_int_equal(cs_state_settle(f->st, r.id, 0, T0), CS_OK);
	assert_false(admit(f, &a, &r));
	for (i = 0; i < CS_STATE_MEM_BUCKETS; i++) {
		snprintf(name, sizeof(name), "n%d", i);
		a.b[0].name = name;
		assert_true(admit(f, &a, &r));
		assert_int_equal(cs_state_settle(f->st, r.id, 0, T0), CS_OK);
	}
	a.b[0].name = "first";
	assert_true(admit(f, &a, &r)); /* forgotten: a full bucket again */
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
		ALL(test_rate),
		ALL(test_concurrency),
		ALL(test_budget),
		ALL(test_all_or_nothing),
		ALL(test_shared_handles),
		ALL(test_unlimited),
		ALL(test_hostile),
		ALL(test_ledger),
		ALL(test_ledger_scan),
		ALL(test_refusals),
		ON(SQLITE, "sqlite", test_sqlite_migrate_3),
		ON(MEMORY, "memory", test_memory_refusals_bounded),
		ALL(test_names),
		ON(SQLITE, "sqlite", test_processes),
		ON(REDIS, "redis", test_processes),
		ON(REDIS, "redis", test_agree),
		ON(REDIS, "redis", test_redis_down),
		ON(REDIS, "redis", test_redis_specs),
		ON(REDIS_AUTH, "redis", test_redis_password),
		ON(SQLITE, "sqlite", test_sqlite_busy),
		ON(SQLITE, "sqlite", test_sqlite_open_errors),
		ON(SQLITE, "sqlite", test_sqlite_check),
		ON(SQLITE, "sqlite", test_sqlite_maintain),
		ON(SQLITE, "sqlite", test_sqlite_migrate),
		ALL(test_maintain_noop),
		ON(MEMORY, "memory", test_memory_bounded),
	};

	signal(SIGPIPE, SIG_IGN); /* as chatstream: a dead server is EPIPE */
	return cmocka_run_group_tests_name("state", tests, NULL, NULL);
}
