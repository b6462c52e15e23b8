/*
 * state_sqlite.c — the "sqlite:PATH" backend: every process on the host
 * opens the same file.  WAL mode, so readers never wait for the writer;
 * a busy wait of at most CS_STATE_BUSY_MS, so a store another process
 * keeps locked is CS_ESTATE, never a hang; one BEGIN IMMEDIATE
 * transaction per admit and settle, so two processes never both take
 * the last slot.  The threads of one process take turns at writing on a
 * mutex, which wakes the next at once, and only wait on SQLite's lock
 * for other processes, in steps of 50 us to 1 ms (SQLite's own busy
 * timeout sleeps 1, 2, 5, 10 ms..., which was the tail admission added
 * to the first delta).  Nor does an admission checkpoint the WAL (the
 * copy back into the database, with its fsyncs, took admission's p99
 * to 7-10 ms at 500 a second): cs_state_maintain does, from the settle
 * thread.
 *
 * Tables (schema version SCHEMA in PRAGMA user_version): rate (a token
 * bucket per name), budget (settled tokens per name and UTC day), hold
 * (one row per reservation and name), held (per name and day, the count
 * of its hold rows and the tokens they reserve, kept with them so an
 * admission reads one or two rows, not every live reservation of its
 * identity and of the site) and ledger.  Every admission first drops the
 * expired holds (from held too); full rate buckets, budgets older than
 * yesterday and emptied held rows are deleted by cs_state_maintain, at
 * most once a minute.
 *
 * Routing (state_route.h, schema version 3): route_dep (a deployment's
 * failure window and cooldown) and route_busy (one row per open stream,
 * by id).  A read is one deferred transaction (a snapshot: WAL readers
 * wait for no writer, and take no write turn); fail, open and close are
 * BEGIN IMMEDIATE ones.  Open drops the expired streams first; idle
 * deployments and expired streams left behind go in cs_state_maintain's
 * tidy-up.
 *
 * Refusals (state_scan.h, schema version 4): refusal, one counter per
 * UTC day and reason, dropped with the ledger's days by
 * cs_state_ledger_purge.
 */
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "state.h"
#include "state_int.h"
#include "state_route.h"
#include "state_scan.h"

#define SCHEMA 4
/* WAL pages after which a commit checkpoints, when the settle thread has
 * not (SQLite's default is 1000, about 4 MB). */
#define CS_SQ_WAL_PAGES "20000"
/* cs_state_maintain's tidy-up, at most this often. */
#define CS_SQ_TIDY_MS 60000LL

#define HELD_SQL \
	"CREATE TABLE IF NOT EXISTS held(name TEXT NOT NULL," \
	" day INTEGER NOT NULL, live INTEGER NOT NULL," \
	" reserved INTEGER NOT NULL, PRIMARY KEY(name, day)) WITHOUT ROWID;"

/* Version 3: routing's tables. */
#define ROUTE_SQL \
	"CREATE TABLE IF NOT EXISTS route_dep(name TEXT PRIMARY KEY," \
	" win_end INTEGER NOT NULL, fails INTEGER NOT NULL," \
	" cooled_until INTEGER NOT NULL) WITHOUT ROWID;" \
	"CREATE TABLE IF NOT EXISTS route_busy(id TEXT PRIMARY KEY," \
	" name TEXT NOT NULL, expire_ms INTEGER NOT NULL) WITHOUT ROWID;" \
	"CREATE INDEX IF NOT EXISTS route_busy_name ON" \
	" route_busy(name, expire_ms);" \
	"CREATE INDEX IF NOT EXISTS route_busy_expire ON" \
	" route_busy(expire_ms);"

/* Version 4: the refusal counters. */
#define REFUSAL_SQL \
	"CREATE TABLE IF NOT EXISTS refusal(day INTEGER NOT NULL," \
	" reason TEXT NOT NULL, n INTEGER NOT NULL," \
	" PRIMARY KEY(day, reason)) WITHOUT ROWID;"
#define VERSION_SQL "PRAGMA user_version = 4;"

static const char schema_sql[] =
    "CREATE TABLE IF NOT EXISTS rate(name TEXT PRIMARY KEY,"
    " level INTEGER NOT NULL, last_ms INTEGER NOT NULL) WITHOUT ROWID;"
    "CREATE INDEX IF NOT EXISTS rate_last ON rate(last_ms);"
    "CREATE TABLE IF NOT EXISTS budget(name TEXT NOT NULL,"
    " day INTEGER NOT NULL, used INTEGER NOT NULL,"
    " PRIMARY KEY(name, day)) WITHOUT ROWID;"
    "CREATE TABLE IF NOT EXISTS hold(id TEXT NOT NULL, name TEXT NOT NULL,"
    " day INTEGER NOT NULL, metered INTEGER NOT NULL,"
    " reserved INTEGER NOT NULL, expire_ms INTEGER NOT NULL,"
    " PRIMARY KEY(id, name)) WITHOUT ROWID;"
    "CREATE INDEX IF NOT EXISTS hold_name ON hold(name, expire_ms);"
    "CREATE INDEX IF NOT EXISTS hold_expire ON hold(expire_ms);"
    "CREATE TABLE IF NOT EXISTS ledger(time_ms INTEGER NOT NULL,"
    " request_id TEXT, identity TEXT, key_name TEXT, model TEXT,"
    " upstream TEXT, outcome TEXT, prompt_tokens INTEGER,"
    " completion_tokens INTEGER, generated_tokens INTEGER,"
    " delivered_tokens INTEGER, ttfd_ms INTEGER, duration_ms INTEGER,"
    " tried INTEGER);"
    "CREATE INDEX IF NOT EXISTS ledger_time ON ledger(time_ms);" HELD_SQL
        ROUTE_SQL REFUSAL_SQL VERSION_SQL;

/* Versions 1 and 2 to 4: the ledger's tried (route.h). */
#define TRIED_SQL "ALTER TABLE ledger ADD COLUMN tried INTEGER;"

/* Version 1 to 4: the held counters, from the holds there are,
 * routing's tables and the refusals. */
static const char migrate_1_sql[] = HELD_SQL
    "INSERT INTO held SELECT name, day, COUNT(*), SUM(CASE WHEN metered"
    " THEN reserved ELSE 0 END) FROM hold GROUP BY name, day;" ROUTE_SQL
        TRIED_SQL REFUSAL_SQL VERSION_SQL;

/* Version 2 to 4: routing's tables, how many deployments a chat tried,
 * and the refusals. */
static const char migrate_2_sql[] = ROUTE_SQL TRIED_SQL REFUSAL_SQL VERSION_SQL;

/* Version 3 to 4: the refusals. */
static const char migrate_3_sql[] = REFUSAL_SQL VERSION_SQL;

/* What brings a store of version v (the index) to SCHEMA. */
static const char *const migrate_sql[SCHEMA] = {
	schema_sql,
	migrate_1_sql,
	migrate_2_sql,
	migrate_3_sql,
};

/* The statements a handle prepares once. */
enum {
	Q_BEGIN,
	Q_COMMIT,
	Q_ROLLBACK,
	Q_PURGE_HOLD,
	Q_PURGE_RATE,
	Q_PURGE_BUDGET,
	Q_RATE_GET,
	Q_RATE_PUT,
	Q_HOLD_COUNT,
	Q_BUDGET_GET,
	Q_HOLD_PUT,
	Q_HOLD_GET,
	Q_HOLD_DEL,
	Q_HELD_ADD,
	Q_UNHOLD_EXPIRED,
	Q_UNHOLD_ONE,
	Q_EXPIRED_ANY,
	Q_PURGE_HELD,
	Q_BUDGET_ADD,
	Q_LEDGER_PUT,
	Q_LEDGER_PURGE,
	Q_BEGIN_READ,
	Q_RT_DEP_GET,
	Q_RT_DEP_PUT,
	Q_RT_BUSY_COUNT,
	Q_RT_BUSY_PUT,
	Q_RT_BUSY_DEL,
	Q_RT_BUSY_PURGE,
	Q_RT_DEP_PURGE,
	Q_REFUSAL_ADD,
	Q_REFUSAL_PURGE,
	Q_N
};

static const char *const query_sql[Q_N] = {
	[Q_BEGIN] = "BEGIN IMMEDIATE",
	[Q_COMMIT] = "COMMIT",
	[Q_ROLLBACK] = "ROLLBACK",
	[Q_PURGE_HOLD] = "DELETE FROM hold WHERE expire_ms <= ?1",
	[Q_PURGE_RATE] = "DELETE FROM rate WHERE last_ms < ?1",
	[Q_PURGE_BUDGET] = "DELETE FROM budget WHERE day < ?1",
	[Q_RATE_GET] = "SELECT level, last_ms FROM rate WHERE name = ?1",
	[Q_RATE_PUT] =
	    "INSERT INTO rate(name, level, last_ms) VALUES(?1, ?2, ?3)"
	    " ON CONFLICT(name) DO UPDATE SET level = excluded.level,"
	    " last_ms = MAX(last_ms, excluded.last_ms)",
	[Q_HOLD_COUNT] = "SELECT COALESCE(SUM(live), 0), COALESCE(SUM(CASE"
	                 " WHEN day = ?2 THEN reserved ELSE 0 END), 0)"
	                 " FROM held WHERE name = ?1",
	[Q_BUDGET_GET] = "SELECT used FROM budget WHERE name = ?1 AND day = ?2",
	[Q_HOLD_PUT] = "INSERT INTO hold(id, name, day, metered, reserved,"
	               " expire_ms) VALUES(?1, ?2, ?3, ?4, ?5, ?6)",
	[Q_HOLD_GET] = "SELECT name, day, metered, reserved, expire_ms FROM"
	               " hold WHERE id = ?1",
	[Q_HOLD_DEL] = "DELETE FROM hold WHERE id = ?1",
	[Q_HELD_ADD] =
	    "INSERT INTO held(name, day, live, reserved) VALUES(?1, ?2, 1, ?3)"
	    " ON CONFLICT(name, day) DO UPDATE SET live = live + 1,"
	    " reserved = reserved + excluded.reserved",
	/* Before the holds go: what they counted leaves held.  By expiry's
	 * index: left to itself the planner walks every hold in hold_name's
	 * order for the GROUP BY. */
	[Q_UNHOLD_EXPIRED] = "UPDATE held SET live = held.live - x.n,"
	                     " reserved = held.reserved - x.r FROM (SELECT"
	                     " name, day, COUNT(*) AS n, SUM(CASE WHEN"
	                     " metered THEN reserved ELSE 0 END) AS r FROM"
	                     " hold INDEXED BY hold_expire WHERE expire_ms <="
	                     " ?1 GROUP BY name, day)"
	                     " AS x WHERE held.name = x.name AND"
	                     " held.day = x.day",
	[Q_UNHOLD_ONE] = "UPDATE held SET live = live - 1, reserved ="
	                 " reserved - ?3 WHERE name = ?1 AND day = ?2",
	[Q_EXPIRED_ANY] = "SELECT 1 FROM hold INDEXED BY hold_expire WHERE"
	                  " expire_ms <= ?1 LIMIT 1",
	[Q_PURGE_HELD] = "DELETE FROM held WHERE live <= 0",
	[Q_BUDGET_ADD] =
	    "INSERT INTO budget(name, day, used) VALUES(?1, ?2, ?3)"
	    " ON CONFLICT(name, day) DO UPDATE SET"
	    " used = MIN(used + excluded.used, 1000000000000000)",
	[Q_LEDGER_PUT] = "INSERT INTO ledger VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7,"
	                 " ?8, ?9, ?10, ?11, ?12, ?13, ?14)",
	[Q_LEDGER_PURGE] = "DELETE FROM ledger WHERE time_ms < ?1",
	[Q_BEGIN_READ] = "BEGIN",
	[Q_RT_DEP_GET] = "SELECT win_end, fails, cooled_until FROM route_dep"
	                 " WHERE name = ?1",
	[Q_RT_DEP_PUT] =
	    "INSERT INTO route_dep(name, win_end, fails, cooled_until)"
	    " VALUES(?1, ?2, ?3, ?4) ON CONFLICT(name) DO UPDATE SET"
	    " win_end = excluded.win_end, fails = excluded.fails,"
	    " cooled_until = excluded.cooled_until",
	[Q_RT_BUSY_COUNT] = "SELECT COUNT(*) FROM route_busy WHERE name = ?1"
	                    " AND expire_ms > ?2",
	[Q_RT_BUSY_PUT] =
	    "INSERT OR REPLACE INTO route_busy(id, name, expire_ms)"
	    " VALUES(?1, ?2, ?3)",
	[Q_RT_BUSY_DEL] = "DELETE FROM route_busy WHERE id = ?1 AND name = ?2",
	[Q_RT_BUSY_PURGE] = "DELETE FROM route_busy INDEXED BY"
	                    " route_busy_expire WHERE expire_ms <= ?1",
	[Q_RT_DEP_PURGE] = "DELETE FROM route_dep WHERE cooled_until <= ?1"
	                   " AND win_end <= ?1",
	[Q_REFUSAL_ADD] =
	    "INSERT INTO refusal(day, reason, n) VALUES(?1, ?2, ?3)"
	    " ON CONFLICT(day, reason) DO UPDATE SET n = n + ?3",
	[Q_REFUSAL_PURGE] = "DELETE FROM refusal WHERE day < ?1",
};

/* cs_state_usage's grouping, by enum cs_usage_by (never from input). */
static const char *const usage_sql[] = {
	[CS_BY_DAY] = "strftime('%Y-%m-%d', time_ms / 1000, 'unixepoch')",
	[CS_BY_MODEL] = "COALESCE(model, '')",
	[CS_BY_IDENTITY] = "COALESCE(identity, '')",
	[CS_BY_KEY] = "COALESCE(key_name, '')",
};

struct sq {
	sqlite3 *db;
	sqlite3_stmt *q[Q_N];
	long long busy_since_us; /* the current busy wait's start */
	long long purged_ms;     /* wall clock of the last tidy-up */
	char path[PATH_MAX];
};

/* One writer per process at a time (see the top). */
static pthread_mutex_t sq_writer = PTHREAD_MUTEX_INITIALIZER;

/* sqlite3_busy_handler: another process writes; retry after a short
 * sleep, growing from 50 us to 1 ms, for CS_STATE_BUSY_MS in all. */
static int
sq_busy(void *arg, int n)
{
	struct sq *s = arg;
	long long now = cs_mono_us();
	struct timespec ts = { 0, 50000L << (n < 4 ? n : 4) };

	if (n == 0)
		s->busy_since_us = now;
	else if (now - s->busy_since_us >= CS_STATE_BUSY_MS * 1000LL)
		return 0;
	if (ts.tv_nsec > 1000000L)
		ts.tv_nsec = 1000000L;
	nanosleep(&ts, NULL);
	return 1;
}

/* Logs the failure once, here, and maps it: everything is CS_ESTATE. */
static enum cs_err
sq_fail(struct sq *s, const char *what)
{
	cs_warnx("state store sqlite:%s: %s: %s", s->path, what,
	    sqlite3_errmsg(s->db));
	return CS_ESTATE;
}

/* Reset q, bind the integers and texts of fmt ('i' long long, 's' text),
 * and step once: SQLITE_ROW, SQLITE_DONE or an error code. */
static int
sq_run(struct sq *s, int q, const char *fmt, ...)
{
	sqlite3_stmt *st = s->q[q];
	const char *t;
	va_list ap;
	int i, rc = SQLITE_OK;

	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	va_start(ap, fmt);
	for (i = 0; fmt[i] != '\0' && rc == SQLITE_OK; i++) {
		if (fmt[i] == 'i') {
			rc = sqlite3_bind_int64(
			    st, i + 1, va_arg(ap, long long));
		} else {
			t = va_arg(ap, const char *);
			rc = t != NULL ? sqlite3_bind_text(st, i + 1, t, -1,
			                     SQLITE_TRANSIENT) :
			                 sqlite3_bind_null(st, i + 1);
		}
	}
	va_end(ap);
	return rc != SQLITE_OK ? rc : sqlite3_step(st);
}

/* The spec alone: a path of 1 to PATH_MAX - 1 bytes. */
static enum cs_err
sq_syntax(const char *path, char *err, size_t errlen)
{
	if (path[0] != '\0' && strlen(path) < PATH_MAX)
		return CS_OK;
	cs_state_errf(err, errlen,
	    "state store sqlite:%.*s: want sqlite:PATH with a path of 1 to %d "
	    "bytes",
	    CS_STATE_NAME_MAX, path, PATH_MAX - 1);
	return CS_ECONFIG;
}

/* The directory path is in ("." for a bare name). */
static void
dir_of(const char *path, char *dir, size_t len)
{
	const char *slash = strrchr(path, '/');

	if (slash == NULL)
		snprintf(dir, len, ".");
	else
		snprintf(dir, len, "%.*s",
		    (int)(slash == path ? 1 : slash - path), path);
}

/* 0 when path may name a store file (its folder exists, it is not a
 * folder); else -1 with err filled. */
static int
path_ok(const char *path, char *err, size_t errlen)
{
	char dir[PATH_MAX];
	struct stat sb;

	if (sq_syntax(path, err, errlen) != CS_OK)
		return -1;
	dir_of(path, dir, sizeof(dir));
	if (stat(dir, &sb) != 0) {
		cs_state_errf(err, errlen, "state store sqlite:%s: %s %s", path,
		    dir, errno == ENOENT ? "does not exist" : strerror(errno));
		return -1;
	}
	if (!S_ISDIR(sb.st_mode)) {
		cs_state_errf(err, errlen,
		    "state store sqlite:%s: %s is not a directory", path, dir);
		return -1;
	}
	if (stat(path, &sb) == 0 && S_ISDIR(sb.st_mode)) {
		cs_state_errf(err, errlen,
		    "state store sqlite:%s: is a directory, not a file", path);
		return -1;
	}
	return 0;
}

/* Opens the connection with the busy timeout set; NULL with err filled. */
static sqlite3 *
sq_connect(const char *path, char *err, size_t errlen)
{
	sqlite3 *db = NULL;
	int rc, sys;

	if (path_ok(path, err, errlen) != 0)
		return NULL;
	rc = sqlite3_open_v2(path, &db,
	    SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
	    NULL);
	if (rc != SQLITE_OK) {
		sys = db != NULL ? sqlite3_system_errno(db) : 0;
		cs_state_errf(err, errlen,
		    "state store sqlite:%s: cannot open: %s (%s)", path,
		    db != NULL ? sqlite3_errmsg(db) : sqlite3_errstr(rc),
		    sys != 0 ? strerror(sys) : "no system error");
		sqlite3_close(db);
		return NULL;
	}
	sqlite3_busy_timeout(db, CS_STATE_BUSY_MS);
	sqlite3_extended_result_codes(db, 0);
	return db;
}

/* The single integer or text a pragma answers into *n / txt. */
static int
pragma_get(sqlite3 *db, const char *sql, long long *n, char *txt, size_t len)
{
	sqlite3_stmt *st = NULL;
	const unsigned char *t;
	int rc;

	if ((rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL)) != SQLITE_OK)
		goto out;
	if ((rc = sqlite3_step(st)) != SQLITE_ROW)
		goto out;
	rc = SQLITE_OK;
	if (n != NULL)
		*n = sqlite3_column_int64(st, 0);
	if (txt != NULL) {
		t = sqlite3_column_text(st, 0);
		snprintf(txt, len, "%s", t != NULL ? (const char *)t : "");
	}
out:
	sqlite3_finalize(st);
	return rc;
}

/* WAL, then the tables when the file has none, in one transaction. */
static enum cs_err
sq_init(struct sq *s, char *err, size_t errlen)
{
	const char *what = "cannot set WAL mode";
	long long version = 0;
	char mode[16] = "";
	int in_tx = 0, rc, tries;

	/* Switching a new file to WAL takes an exclusive lock, and SQLite
	 * answers SQLITE_BUSY without its busy handler while another
	 * process of a pool starting at the same moment reads it: try
	 * again a few times (at most about 1 s in all). */
	for (tries = 0;; tries++) {
		rc = pragma_get(s->db, "PRAGMA journal_mode = WAL", NULL, mode,
		    sizeof(mode));
		if ((rc != SQLITE_BUSY && rc != SQLITE_LOCKED) || tries >= 20)
			break;
		usleep(10000 + 2000 * (useconds_t)tries);
	}
	if (rc != SQLITE_OK)
		goto fail;
	if (strcmp(mode, "wal") != 0) {
		cs_state_errf(err, errlen,
		    "state store sqlite:%s: journal mode is %s, not wal",
		    s->path, mode);
		return CS_ESTATE;
	}
	what = "cannot create the tables";
	/* No admission checkpoints (cs_state_maintain does, in the settle
	 * thread); past CS_SQ_WAL_PAGES, as a backstop, any writer does. */
	if (sqlite3_exec(s->db,
	        "PRAGMA synchronous = NORMAL;"
	        " PRAGMA wal_autocheckpoint = " CS_SQ_WAL_PAGES ";"
	        " BEGIN IMMEDIATE",
	        NULL, NULL, NULL) != SQLITE_OK)
		goto fail;
	in_tx = 1;
	if (pragma_get(s->db, "PRAGMA user_version", &version, NULL, 0) !=
	    SQLITE_OK)
		goto fail;
	if (version > SCHEMA) {
		sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
		cs_state_errf(err, errlen,
		    "state store sqlite:%s: schema version %lld is newer than"
		    " this chatstream's (%d)",
		    s->path, version, SCHEMA);
		return CS_ESTATE;
	}
	if (version < SCHEMA && version >= 0 &&
	    sqlite3_exec(s->db, migrate_sql[version], NULL, NULL, NULL) !=
	        SQLITE_OK)
		goto fail;
	if (sqlite3_exec(s->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK)
		goto fail;
	return CS_OK;
fail:
	cs_state_errf(err, errlen, "state store sqlite:%s: %s: %s", s->path,
	    what, sqlite3_errmsg(s->db));
	if (in_tx)
		sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
	return CS_ESTATE;
}

static void
sq_close(struct cs_state *st)
{
	struct sq *s = st->be;
	size_t i;

	if (s == NULL)
		return;
	for (i = 0; i < Q_N; i++)
		sqlite3_finalize(s->q[i]);
	sqlite3_close(s->db);
	free(s);
	st->be = NULL;
}

static enum cs_err
sq_open(struct cs_state *st, const char *arg, char *err, size_t errlen)
{
	enum cs_err e;
	struct sq *s;
	size_t i;

	if ((s = calloc(1, sizeof(*s))) == NULL) {
		cs_state_errf(err, errlen, "state store: out of memory");
		return CS_ENOMEM;
	}
	st->be = s;
	if ((s->db = sq_connect(arg, err, errlen)) == NULL) {
		e = CS_ESTATE;
		goto out;
	}
	snprintf(s->path, sizeof(s->path), "%s", arg);
	sqlite3_busy_handler(s->db, sq_busy, s);
	if ((e = sq_init(s, err, errlen)) != CS_OK)
		goto out;
	for (i = 0; i < Q_N; i++)
		if (sqlite3_prepare_v3(s->db, query_sql[i], -1,
		        SQLITE_PREPARE_PERSISTENT, &s->q[i],
		        NULL) != SQLITE_OK) {
			cs_state_errf(err, errlen, "state store sqlite:%s: %s",
			    s->path, sqlite3_errmsg(s->db));
			e = CS_ESTATE;
			goto out;
		}
	return CS_OK;
out:
	sq_close(st);
	return e;
}

static enum cs_err
sq_check(const char *arg, char *msg, size_t len)
{
	enum cs_err e = CS_ESTATE;
	long long version = 0;
	char dir[PATH_MAX], probe[PATH_MAX];
	sqlite3 *db;
	int fd, n;

	if (path_ok(arg, msg, len) != 0)
		return CS_ESTATE;
	/* A check makes nothing: a missing file is one its directory lets
	 * this user create (and WAL's -wal and -shm beside it). */
	if (access(arg, F_OK) != 0 && errno == ENOENT) {
		dir_of(arg, dir, sizeof(dir));
		/* access() would say yes to root everywhere: try it. */
		n = snprintf(
		    probe, sizeof(probe), "%s/.chatstream-check-XXXXXX", dir);
		if (n < 0 || (size_t)n >= sizeof(probe) ||
		    (fd = mkstemp(probe)) < 0) {
			cs_state_errf(msg, len,
			    "state store sqlite:%s: does not exist and this "
			    "user cannot create files in %s (%s)",
			    arg, dir,
			    n < 0 || (size_t)n >= sizeof(probe) ?
			        "path too long" :
			        strerror(errno));
			return CS_ESTATE;
		}
		close(fd);
		unlink(probe);
		cs_state_errf(msg, len,
		    "state store sqlite:%s: writable, not made yet (made at "
		    "start)",
		    arg);
		return CS_OK;
	}
	if ((db = sq_connect(arg, msg, len)) == NULL)
		return CS_ESTATE;
	if (sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL) !=
	        SQLITE_OK ||
	    pragma_get(db, "PRAGMA user_version", &version, NULL, 0) !=
	        SQLITE_OK) {
		cs_state_errf(msg, len, "state store sqlite:%s: not usable: %s",
		    arg, sqlite3_errmsg(db));
		goto out;
	}
	if (sqlite3_db_readonly(db, "main") == 1) {
		cs_state_errf(
		    msg, len, "state store sqlite:%s: read-only", arg);
		goto out;
	}
	if (version > SCHEMA) {
		cs_state_errf(msg, len,
		    "state store sqlite:%s: schema version %lld is newer than"
		    " this chatstream's (%d)",
		    arg, version, SCHEMA);
		goto out;
	}
	if (version == 0)
		cs_state_errf(msg, len,
		    "state store sqlite:%s: writable, no tables yet (made at "
		    "start)",
		    arg);
	else
		cs_state_errf(msg, len,
		    "state store sqlite:%s: writable, schema version %lld%s",
		    arg, version,
		    version < SCHEMA ? " (brought up to date at start)" : "");
	e = CS_OK;
out:
	sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
	sqlite3_close(db);
	return e;
}

/* A write transaction: the process's write turn (waited for
 * CS_STATE_BUSY_MS at most), then BEGIN IMMEDIATE.  CS_OK, or CS_ESTATE
 * logged, holding nothing. */
static enum cs_err
sq_begin(struct sq *s)
{
	struct timespec until;
	int rc;

	cs_realtime_in(&until, CS_STATE_BUSY_MS);
	if ((rc = pthread_mutex_timedlock(&sq_writer, &until)) != 0) {
		cs_warnx("state store sqlite:%s: no turn to write within %d "
		         "ms: %s",
		    s->path, CS_STATE_BUSY_MS, strerror(rc));
		return CS_ESTATE;
	}
	if (sq_run(s, Q_BEGIN, "") == SQLITE_DONE)
		return CS_OK;
	sqlite3_reset(s->q[Q_BEGIN]);
	pthread_mutex_unlock(&sq_writer);
	return sq_fail(s, "begin");
}

/* A read transaction: BEGIN (deferred: a snapshot of every table as one
 * commit left them), without the write turn.  CS_OK, or CS_ESTATE
 * logged. */
static enum cs_err
sq_begin_read(struct sq *s)
{
	if (sq_run(s, Q_BEGIN_READ, "") == SQLITE_DONE)
		return CS_OK;
	sqlite3_reset(s->q[Q_BEGIN_READ]);
	return sq_fail(s, "begin");
}

/* Ends a transaction: COMMIT when e is CS_OK, else ROLLBACK. */
static enum cs_err
sq_finish(struct sq *s, enum cs_err e)
{
	size_t i;

	for (i = 0; i < Q_N; i++) /* no statement keeps a read open */
		if (i != Q_COMMIT && i != Q_ROLLBACK)
			sqlite3_reset(s->q[i]);
	if (e == CS_OK && sq_run(s, Q_COMMIT, "") != SQLITE_DONE)
		e = sq_fail(s, "commit");
	if (e != CS_OK)
		sq_run(s, Q_ROLLBACK, "");
	sqlite3_reset(s->q[Q_COMMIT]);
	sqlite3_reset(s->q[Q_ROLLBACK]);
	return e;
}

/* Ends sq_begin's transaction (sq_finish); then the write turn goes to
 * the next thread. */
static enum cs_err
sq_end(struct sq *s, enum cs_err e)
{
	e = sq_finish(s, e);
	pthread_mutex_unlock(&sq_writer);
	return e;
}

/* Reads what the store has for bucket name into seen. */
static enum cs_err
sq_seen(struct sq *s, const char *name, long long now_ms,
    struct cs_bucket_seen *seen)
{
	long long day = now_ms / CS_STATE_DAY_MS;
	sqlite3_stmt *q;
	int rc;

	memset(seen, 0, sizeof(*seen));
	q = s->q[Q_RATE_GET];
	if ((rc = sq_run(s, Q_RATE_GET, "s", name)) == SQLITE_ROW) {
		seen->have_rate = 1;
		seen->level = sqlite3_column_int64(q, 0);
		seen->last_ms = sqlite3_column_int64(q, 1);
	} else if (rc != SQLITE_DONE)
		return sq_fail(s, "read a rate");
	q = s->q[Q_HOLD_COUNT];
	if (sq_run(s, Q_HOLD_COUNT, "si", name, day) != SQLITE_ROW)
		return sq_fail(s, "count reservations");
	seen->live = sqlite3_column_int64(q, 0);
	seen->reserved = sqlite3_column_int64(q, 1);
	q = s->q[Q_BUDGET_GET];
	if ((rc = sq_run(s, Q_BUDGET_GET, "si", name, day)) == SQLITE_ROW)
		seen->used = sqlite3_column_int64(q, 0);
	else if (rc != SQLITE_DONE)
		return sq_fail(s, "read a budget");
	return CS_OK;
}

static enum cs_err
sq_admit(struct cs_state *st, const struct cs_admit *a, const char *id,
    struct cs_admit_result *res)
{
	struct cs_bucket_seen seen[CS_STATE_MAX_BUCKETS];
	long long new_level[CS_STATE_MAX_BUCKETS];
	long long day = a->now_ms / CS_STATE_DAY_MS;
	const struct cs_bucket_req *b;
	struct sq *s = st->be;
	enum cs_err e = CS_OK;
	size_t i;
	int rc;

	if (sq_begin(s) != CS_OK)
		return CS_ESTATE;
	/* The expired holds go first, so held counts the live ones; one
	 * step of expire_ms's index says whether there are any. */
	if ((rc = sq_run(s, Q_EXPIRED_ANY, "i", a->now_ms)) == SQLITE_ROW &&
	    (sq_run(s, Q_UNHOLD_EXPIRED, "i", a->now_ms) != SQLITE_DONE ||
	        sq_run(s, Q_PURGE_HOLD, "i", a->now_ms) != SQLITE_DONE))
		rc = SQLITE_ERROR;
	if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
		e = sq_fail(s, "drop expired reservations");
		goto out;
	}
	for (i = 0; i < a->n && e == CS_OK; i++)
		e = sq_seen(s, a->b[i].name, a->now_ms, &seen[i]);
	if (e != CS_OK)
		goto out;
	cs_state_judge(a, seen, new_level, res);
	if (!res->allowed)
		goto out;
	for (i = 0; i < a->n; i++) {
		b = &a->b[i];
		if (b->rpm > 0 &&
		    sq_run(s, Q_RATE_PUT, "sii", b->name, new_level[i],
		        a->now_ms) != SQLITE_DONE) {
			e = sq_fail(s, "take a rate token");
			goto out;
		}
		if (sq_run(s, Q_HOLD_PUT, "ssiiii", id, b->name, day,
		        (long long)(b->tokens_per_day > 0),
		        b->tokens_per_day > 0 ? a->reserve_tokens : 0LL,
		        a->expire_ms) != SQLITE_DONE ||
		    sq_run(s, Q_HELD_ADD, "sii", b->name, day,
		        b->tokens_per_day > 0 ? a->reserve_tokens : 0LL) !=
		        SQLITE_DONE) {
			e = sq_fail(s, "reserve");
			goto out;
		}
	}
out:
	return sq_end(s, e);
}

static enum cs_err
sq_settle(struct cs_state *st, const char *id, long long used_tokens,
    long long now_ms)
{
	struct {
		char name[CS_STATE_NAME_MAX + 1];
		long long day, reserved;
		int live; /* metered and unexpired: its budget is charged */
	} h[CS_STATE_MAX_BUCKETS];
	struct sq *s = st->be;
	sqlite3_stmt *q = s->q[Q_HOLD_GET];
	const unsigned char *t;
	enum cs_err e = CS_OK;
	size_t i, n = 0;
	int rc, metered;

	if (sq_begin(s) != CS_OK)
		return CS_ESTATE;
	for (rc = sq_run(s, Q_HOLD_GET, "s", id);
	     rc == SQLITE_ROW && n < CS_STATE_MAX_BUCKETS;
	     rc = sqlite3_step(q)) {
		t = sqlite3_column_text(q, 0);
		snprintf(h[n].name, sizeof(h[n].name), "%s",
		    t != NULL ? (const char *)t : "");
		h[n].day = sqlite3_column_int64(q, 1);
		metered = sqlite3_column_int64(q, 2) != 0;
		h[n].reserved = metered ? sqlite3_column_int64(q, 3) : 0;
		h[n].live = metered && sqlite3_column_int64(q, 4) > now_ms;
		n++;
	}
	if (rc != SQLITE_DONE && rc != SQLITE_ROW) {
		e = sq_fail(s, "read a reservation");
		goto out;
	}
	/* An expired reservation is dropped uncharged, as if its process
	 * had died; held forgets every one. */
	for (i = 0; i < n; i++)
		if ((h[i].live &&
		        sq_run(s, Q_BUDGET_ADD, "sii", h[i].name, h[i].day,
		            used_tokens) != SQLITE_DONE) ||
		    sq_run(s, Q_UNHOLD_ONE, "sii", h[i].name, h[i].day,
		        h[i].reserved) != SQLITE_DONE) {
			e = sq_fail(s, "settle a budget");
			goto out;
		}
	if (sq_run(s, Q_HOLD_DEL, "s", id) != SQLITE_DONE)
		e = sq_fail(s, "drop a reservation");
out:
	return sq_end(s, e);
}

static enum cs_err
sq_ledger_add(struct cs_state *st, const struct cs_ledger_rec *r)
{
	struct sq *s = st->be;
	enum cs_err e = CS_OK;

	if (sq_begin(s) != CS_OK)
		return CS_ESTATE;
	if (sq_run(s, Q_LEDGER_PUT, "issssssiiiiiii", r->time_ms, r->request_id,
	        r->identity, r->key_name, r->model, r->upstream, r->outcome,
	        r->prompt_tokens, r->completion_tokens, r->generated_tokens,
	        r->delivered_tokens, (long long)r->ttfd_ms,
	        (long long)r->duration_ms, (long long)r->tried) != SQLITE_DONE)
		e = sq_fail(s, "add to the ledger");
	return sq_end(s, e);
}

static enum cs_err
sq_ledger_purge(struct cs_state *st, long long before_ms)
{
	struct sq *s = st->be;
	enum cs_err e = CS_OK;

	if (sq_begin(s) != CS_OK)
		return CS_ESTATE;
	if (sq_run(s, Q_LEDGER_PURGE, "i", before_ms) != SQLITE_DONE ||
	    sq_run(s, Q_REFUSAL_PURGE, "i", before_ms / CS_STATE_DAY_MS) !=
	        SQLITE_DONE)
		e = sq_fail(s, "purge the ledger");
	return sq_end(s, e);
}

/* What no admission needs any more: full rate buckets, budgets before
 * yesterday, emptied held rows, expired streams and idle deployments
 * (scans of whole tables, done here rather
 * than in every admission). */
static enum cs_err
sq_tidy(struct sq *s, long long now_ms)
{
	enum cs_err e = CS_OK;

	if (sq_begin(s) != CS_OK)
		return CS_ESTATE;
	if (sq_run(s, Q_PURGE_RATE, "i", now_ms - CS_STATE_RATE_MS) !=
	        SQLITE_DONE ||
	    sq_run(s, Q_PURGE_BUDGET, "i", now_ms / CS_STATE_DAY_MS - 1) !=
	        SQLITE_DONE ||
	    sq_run(s, Q_PURGE_HELD, "") != SQLITE_DONE ||
	    sq_run(s, Q_RT_BUSY_PURGE, "i", now_ms) != SQLITE_DONE ||
	    sq_run(s, Q_RT_DEP_PURGE, "i", now_ms) != SQLITE_DONE)
		e = sq_fail(s, "tidy up");
	return sq_end(s, e);
}

/* The tidy-up at most every CS_SQ_TIDY_MS, then a passive checkpoint,
 * which never waits for a lock and never blocks a writer. */
static enum cs_err
sq_maintain(struct cs_state *st)
{
	struct sq *s = st->be;
	long long now = cs_wall_ms();
	enum cs_err e = CS_OK;
	int rc;

	if (now - s->purged_ms >= CS_SQ_TIDY_MS) {
		s->purged_ms = now;
		e = sq_tidy(s, now);
	}
	rc = sqlite3_wal_checkpoint_v2(
	    s->db, NULL, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
	if (rc != SQLITE_OK && rc != SQLITE_BUSY)
		return sq_fail(s, "checkpoint");
	return e;
}

/* fn runs while the query steps: it must not use this handle. */
static enum cs_err
sq_usage(struct cs_state *st, long long since_ms, enum cs_usage_by by,
    cs_usage_row_fn fn, void *ctx)
{
	struct sq *s = st->be;
	sqlite3_stmt *q = NULL;
	const unsigned char *g;
	enum cs_err e = CS_OK;
	char sql[512];
	int rc;

	snprintf(sql, sizeof(sql),
	    "SELECT %s, COUNT(*), SUM(MAX(COALESCE(prompt_tokens, 0), 0)),"
	    " SUM(MAX(COALESCE(completion_tokens, 0), 0)) FROM ledger"
	    " WHERE time_ms >= ?1 GROUP BY 1 ORDER BY 1",
	    usage_sql[by]);
	if (sqlite3_prepare_v2(s->db, sql, -1, &q, NULL) != SQLITE_OK ||
	    sqlite3_bind_int64(q, 1, since_ms) != SQLITE_OK) {
		e = sq_fail(s, "usage");
		goto out;
	}
	while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
		g = sqlite3_column_text(q, 0);
		fn(ctx, g != NULL ? (const char *)g : "",
		    sqlite3_column_int64(q, 1), sqlite3_column_int64(q, 2),
		    sqlite3_column_int64(q, 3));
	}
	if (rc != SQLITE_DONE)
		e = sq_fail(s, "usage");
out:
	sqlite3_finalize(q);
	return e;
}

/* fn runs while the query steps: it must not use this handle. */
static enum cs_err
sq_ledger_scan(
    struct cs_state *st, long long since_ms, cs_ledger_fn fn, void *ctx)
{
	struct sq *s = st->be;
	const char **str[6];
	struct cs_ledger_rec rec;
	sqlite3_stmt *q = NULL;
	const unsigned char *t;
	enum cs_err e = CS_OK;
	int rc, i;

	if (sqlite3_prepare_v2(s->db,
	        "SELECT time_ms, request_id, identity, key_name, model,"
	        " upstream, outcome, COALESCE(prompt_tokens, -1),"
	        " COALESCE(completion_tokens, -1),"
	        " COALESCE(generated_tokens, -1),"
	        " COALESCE(delivered_tokens, -1), COALESCE(ttfd_ms, -1),"
	        " COALESCE(duration_ms, -1), COALESCE(tried, 0) FROM ledger"
	        " WHERE time_ms >= ?1",
	        -1, &q, NULL) != SQLITE_OK ||
	    sqlite3_bind_int64(q, 1, since_ms) != SQLITE_OK) {
		e = sq_fail(s, "scan the ledger");
		goto out;
	}
	str[0] = &rec.request_id, str[1] = &rec.identity;
	str[2] = &rec.key_name, str[3] = &rec.model;
	str[4] = &rec.upstream, str[5] = &rec.outcome;
	while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
		memset(&rec, 0, sizeof(rec));
		rec.time_ms = sqlite3_column_int64(q, 0);
		for (i = 0; i < 6; i++) {
			t = sqlite3_column_text(q, i + 1);
			*str[i] = t != NULL ? (const char *)t : "";
		}
		rec.prompt_tokens = sqlite3_column_int64(q, 7);
		rec.completion_tokens = sqlite3_column_int64(q, 8);
		rec.generated_tokens = sqlite3_column_int64(q, 9);
		rec.delivered_tokens = sqlite3_column_int64(q, 10);
		rec.ttfd_ms = (long)sqlite3_column_int64(q, 11);
		rec.duration_ms = (long)sqlite3_column_int64(q, 12);
		rec.tried = (int)sqlite3_column_int64(q, 13);
		fn(ctx, &rec);
	}
	if (rc != SQLITE_DONE)
		e = sq_fail(s, "scan the ledger");
out:
	sqlite3_finalize(q);
	return e;
}

static enum cs_err
sq_refusal_add(
    struct cs_state *st, const char *reason, long n, long long now_ms)
{
	struct sq *s = st->be;
	enum cs_err e = CS_OK;

	if (sq_begin(s) != CS_OK)
		return CS_ESTATE;
	if (sq_run(s, Q_REFUSAL_ADD, "isi", now_ms / CS_STATE_DAY_MS, reason,
	        (long long)n) != SQLITE_DONE)
		e = sq_fail(s, "count a refusal");
	return sq_end(s, e);
}

/* fn runs while the query steps: it must not use this handle. */
static enum cs_err
sq_refusals(struct cs_state *st, long long since_ms, long long until_ms,
    cs_refusal_fn fn, void *ctx)
{
	struct sq *s = st->be;
	sqlite3_stmt *q = NULL;
	const unsigned char *t;
	enum cs_err e = CS_OK;
	int rc;

	if (sqlite3_prepare_v2(s->db,
	        "SELECT day, reason, n FROM refusal WHERE day BETWEEN ?1"
	        " AND ?2",
	        -1, &q, NULL) != SQLITE_OK ||
	    sqlite3_bind_int64(q, 1, since_ms / CS_STATE_DAY_MS) != SQLITE_OK ||
	    sqlite3_bind_int64(q, 2, until_ms / CS_STATE_DAY_MS) != SQLITE_OK) {
		e = sq_fail(s, "read the refusals");
		goto out;
	}
	while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
		t = sqlite3_column_text(q, 1);
		fn(ctx, sqlite3_column_int64(q, 0),
		    t != NULL ? (const char *)t : "",
		    sqlite3_column_int64(q, 2));
	}
	if (rc != SQLITE_DONE)
		e = sq_fail(s, "read the refusals");
out:
	sqlite3_finalize(q);
	return e;
}

/* The row of deployment name into d (all 0 when it has none). */
static enum cs_err
sq_route_dep(struct sq *s, const char *name, struct cs_route_dep *d)
{
	sqlite3_stmt *q = s->q[Q_RT_DEP_GET];
	int rc;

	memset(d, 0, sizeof(*d));
	if ((rc = sq_run(s, Q_RT_DEP_GET, "s", name)) == SQLITE_ROW) {
		d->win_end_ms = sqlite3_column_int64(q, 0);
		d->fails = sqlite3_column_int64(q, 1);
		d->cooled_until_ms = sqlite3_column_int64(q, 2);
	} else if (rc != SQLITE_DONE)
		return sq_fail(s, "read a deployment");
	sqlite3_reset(q);
	return CS_OK;
}

static enum cs_err
sq_route_read(struct cs_state *st, const char *const *names, size_t n,
    long long now_ms, struct cs_route_seen *seen)
{
	struct sq *s = st->be;
	struct cs_route_dep d;
	enum cs_err e = CS_OK;
	size_t i;

	if (sq_begin_read(s) != CS_OK)
		return CS_ESTATE;
	for (i = 0; i < n; i++) {
		if ((e = sq_route_dep(s, names[i], &d)) != CS_OK)
			goto out;
		if (sq_run(s, Q_RT_BUSY_COUNT, "si", names[i], now_ms) !=
		    SQLITE_ROW) {
			e = sq_fail(s, "count open streams");
			goto out;
		}
		cs_state_route_seen(&d,
		    sqlite3_column_int64(s->q[Q_RT_BUSY_COUNT], 0), now_ms,
		    &seen[i]);
	}
out:
	return sq_finish(s, e);
}

static enum cs_err
sq_route_fail(struct cs_state *st, const char *name, long allowed_fails,
    long long window_ms, long long cooldown_ms, long long now_ms,
    long long *cooled_until_ms)
{
	struct sq *s = st->be;
	struct cs_route_dep d;
	enum cs_err e;

	if (sq_begin(s) != CS_OK)
		return CS_ESTATE;
	if ((e = sq_route_dep(s, name, &d)) != CS_OK)
		goto out;
	if (cs_state_route_failed(&d, allowed_fails, window_ms, cooldown_ms,
	        now_ms, cooled_until_ms) &&
	    sq_run(s, Q_RT_DEP_PUT, "siii", name, d.win_end_ms, d.fails,
	        d.cooled_until_ms) != SQLITE_DONE)
		e = sq_fail(s, "count a failure");
out:
	return sq_end(s, e);
}

static enum cs_err
sq_route_open(struct cs_state *st, const char *name, long long now_ms,
    long long expire_ms, const char *id)
{
	struct sq *s = st->be;
	enum cs_err e = CS_OK;

	if (sq_begin(s) != CS_OK)
		return CS_ESTATE;
	if (sq_run(s, Q_RT_BUSY_PURGE, "i", now_ms) != SQLITE_DONE ||
	    sq_run(s, Q_RT_BUSY_PUT, "ssi", id, name, expire_ms) != SQLITE_DONE)
		e = sq_fail(s, "open a stream");
	return sq_end(s, e);
}

static enum cs_err
sq_route_close(
    struct cs_state *st, const char *name, const char *id, long long now_ms)
{
	struct sq *s = st->be;
	enum cs_err e = CS_OK;

	(void)now_ms;
	if (sq_begin(s) != CS_OK)
		return CS_ESTATE;
	if (sq_run(s, Q_RT_BUSY_DEL, "ss", id, name) != SQLITE_DONE)
		e = sq_fail(s, "close a stream");
	return sq_end(s, e);
}

const struct cs_state_ops cs_state_sqlite_ops = {
	.prefix = "sqlite:",
	.open = sq_open,
	.close = sq_close,
	.check = sq_check,
	.syntax = sq_syntax,
	.admit = sq_admit,
	.settle = sq_settle,
	.ledger_add = sq_ledger_add,
	.ledger_purge = sq_ledger_purge,
	.usage = sq_usage,
	.ledger_scan = sq_ledger_scan,
	.refusal_add = sq_refusal_add,
	.refusals = sq_refusals,
	.maintain = sq_maintain,
	.route_read = sq_route_read,
	.route_fail = sq_route_fail,
	.route_open = sq_route_open,
	.route_close = sq_route_close,
};
