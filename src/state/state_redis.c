/*
 * state_redis.c — the "redis://HOST:PORT[/DB]" and
 * "redis+unix:///PATH[?db=N]" backends: every process on every host that
 * names the same Redis shares the counters.  One synchronous hiredis
 * connection per handle, every call bounded by CS_STATE_BUSY_MS (connect,
 * read and write); a connection that fails or times out is dropped, the
 * call is CS_ESTATE, and the next call connects again.  The process must
 * ignore SIGPIPE (chatstream does) as hiredis writes with write(2).
 *
 * Atomicity: each admit and settle is one Lua script (EVALSHA, loaded at
 * connect and again on NOSCRIPT) that reads, judges and writes every
 * bucket; the arithmetic is cs_state_judge()'s, written again in Lua
 * (tests/unit/test_state.c runs the same cases on every backend).  Time
 * is the caller's now_ms, passed in ARGV.  A standalone Redis (or one
 * primary): settle reaches the keys its reservation names, which Redis
 * Cluster would not route.
 *
 * Keys, all under "cs:" and all expiring:
 *   cs:r:NAME        rate bucket (hash l = level, t = last_ms), expires
 *                    when it would be full again;
 *   cs:h:NAME        live reservations (sorted set of "ID:DAY:RESERVED"
 *                    by expire_ms), expires with the last of them;
 *   cs:b:DAY:NAME    settled tokens of UTC day DAY (days since the
 *                    epoch), expires 2 days after its last settle;
 *   cs:t:DAY:NAME    tokens the live reservations of day DAY hold (the
 *                    sum over cs:h:NAME, kept as reservations come and
 *                    go, so an admission reads one number instead of
 *                    every reservation), expires 2 days after the last;
 *   cs:id:ID         one reservation (its keys), expires at expire_ms;
 *   cs:ledger:YYYY-MM-DD  that UTC day's ledger records (a list), and
 *   cs:ledger:days   the days that have one (sorted set), both expiring
 *                    RD_LEDGER_DAYS after their last record;
 *   cs:rt:d:NAME     a deployment's failures (hash w = window end, f =
 *                    failures in it, c = cooldown end; state_route.h),
 *                    expires when both the window and the cooldown end;
 *   cs:rt:s:NAME     its open streams (sorted set of IDs by expire_ms),
 *                    expires with the last of them;
 *   cs:refused:DAY   the refusals of UTC day DAY (hash: reason -> count;
 *                    state_scan.h), expires RD_LEDGER_DAYS after its
 *                    last count and goes with that day's ledger.
 * NAME is the name as given, passed as a key, never in a script's text;
 * the fixed prefixes differ, so no two families share a key.  Routing's
 * four calls are a script each too (read, fail, open, close), fail's
 * arithmetic cs_state_route_failed()'s again in Lua.
 */
#include <errno.h>
#include <fcntl.h>
#include <hiredis/hiredis.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include "log.h"
#include "state.h"
#include "state_int.h"
#include "state_route.h"
#include "state_scan.h"

#define RD_HOST_MAX    253    /* a DNS name */
#define RD_PASS_MAX    512    /* bytes of a password file */
#define RD_LEDGER_DAYS 400    /* ledger retention; days cs_state_usage reads */
#define RD_PAGE        1000   /* ledger records read at a time */
#define RD_GROUPS_MAX  100000 /* groups one cs_state_usage may return */
#define RD_KEY_MAX     (CS_STATE_NAME_MAX + 64)
#define RD_FIELDS      14 /* of a ledger record (13 before tried) */
#define RD_ARGS        48 /* of one command */

/* What both scripts know of cs:t:DAY:NAME, the tokens the live
 * reservations of a bucket hold (bk: the bucket's cs:b:DAY:NAME): its
 * key for day d, and unheld(bk, m), which takes reservation member m's
 * tokens off it as m leaves the bucket's set. */
#define HELD_LUA \
	"local function tkey(bk, d)\n" \
	"  local name = string.match(bk, '^cs:b:%d+:(.*)$')\n" \
	"  return 'cs:t:' .. d .. ':' .. name\n" \
	"end\n" \
	"local function unheld(bk, m)\n" \
	"  local d, t = string.match(m, ':(%d+):(%d+)$')\n" \
	"  if not d or tonumber(t) == 0 then return end\n" \
	"  local k = tkey(bk, d)\n" \
	"  if redis.call('EXISTS', k) == 1 then redis.call('DECRBY', k, t) end\n" \
	"end\n"

/* The reply of the admit script: allowed, refused, why, kind, retry,
 * limit, remaining, reset; KEYS: cs:id:ID, then rate, holds and budget
 * key of each bucket; ARGV: now, expire, reserve, id, day, n, then rpm,
 * concurrent and tokens_per_day of each bucket. */
static const char admit_lua[] =
    "local now, exp, rsv = tonumber(ARGV[1]), tonumber(ARGV[2]),"
    " tonumber(ARGV[3])\n"
    "local id, day, n = ARGV[4], ARGV[5], tonumber(ARGV[6])\n"
    "local best, res, lvl = 2, {1, 0, 0, 0, 0, 0, 0, 0}, {}\n"
    "local function up(x, y) return math.floor((x + y - 1) / y) end\n"
    "local function int(x) return string.format('%d', x) end\n"
    "local function limit(i, kind, ok, lim, rem, reset, retry)\n"
    "  local frac = -1\n"
    "  if ok then frac = rem / lim end\n"
    "  if frac >= best then return false end\n"
    "  best = frac\n"
    "  res = {1, i - 1, 0, kind, 0, lim, rem, reset}\n"
    "  if ok then return false end\n"
    "  res[1], res[3], res[5] = 0, kind, retry\n"
    "  return true\n"
    "end\n" HELD_LUA
    "local midnight = (math.floor(now / 86400000) + 1) * 86400000 - now\n"
    "for i = 1, n do\n"
    "  local rpm, conc, tpd = tonumber(ARGV[4 + 3 * i]),"
    " tonumber(ARGV[5 + 3 * i]), tonumber(ARGV[6 + 3 * i])\n"
    "  local rk, hk, bk = KEYS[3 * i - 1], KEYS[3 * i], KEYS[3 * i + 1]\n"
    "  if rpm > 0 then\n"
    "    local cap = rpm * 60000\n"
    "    local level, r = cap, redis.call('HMGET', rk, 'l', 't')\n"
    "    if r[1] then\n"
    "      local dt = now - tonumber(r[2])\n"
    "      if dt < 0 then dt = 0 elseif dt > 60000 then dt = 60000 end\n"
    "      level = tonumber(r[1]) + dt * rpm\n"
    "      if level > cap then level = cap elseif level < 0 then level = 0"
    " end\n"
    "    end\n"
    "    local ok = level >= 60000\n"
    "    if ok then lvl[i] = level - 60000 else lvl[i] = level end\n"
    "    if limit(i, 1, ok, rpm, math.floor(lvl[i] / 60000),"
    " up(cap - lvl[i], rpm), up(60000 - level, rpm)) then return res end\n"
    "  end\n"
    "  local gone = redis.call('ZRANGEBYSCORE', hk, '-inf', int(now))\n"
    "  for _, m in ipairs(gone) do unheld(bk, m) end\n"
    "  if #gone > 0 then\n"
    "    redis.call('ZREMRANGEBYSCORE', hk, '-inf', int(now))\n"
    "  end\n"
    "  local live, held = redis.call('ZCARD', hk), 0\n"
    "  if conc > 0 then\n"
    "    local ok, rem = live < conc, 0\n"
    "    if ok then rem = conc - live - 1 end\n"
    "    if limit(i, 2, ok, conc, rem, 1000, 1000) then return res end\n"
    "  end\n"
    "  if tpd > 0 then\n"
    "    held = math.max(0, tonumber(redis.call('GET', tkey(bk, day))"
    " or '0'))\n"
    "    local left = tpd - tonumber(redis.call('GET', bk) or '0') - held\n"
    "    local ok, rem = left > 0 and rsv <= left, 0\n"
    "    if ok then rem = left - rsv elseif left > 0 then rem = left end\n"
    "    if limit(i, 3, ok, tpd, rem, midnight, midnight) then return res"
    " end\n"
    "  end\n"
    "end\n"
    "if n == 0 then return res end\n"
    "local hold = {'n', int(n), 'e', int(exp)}\n"
    "for i = 1, n do\n"
    "  local rpm, tpd = tonumber(ARGV[4 + 3 * i]), tonumber(ARGV[6 + 3 * i])\n"
    "  local rk, hk, bk = KEYS[3 * i - 1], KEYS[3 * i], KEYS[3 * i + 1]\n"
    "  if rpm > 0 then\n"
    "    local last = tonumber(redis.call('HGET', rk, 't') or '0')\n"
    "    if last < now then last = now end\n"
    "    redis.call('HSET', rk, 'l', int(lvl[i]), 't', int(last))\n"
    "    redis.call('PEXPIRE', rk,"
    " int(math.max(1, up(rpm * 60000 - lvl[i], rpm))))\n"
    "  end\n"
    "  local m = id .. ':' .. day .. ':0'\n"
    "  if tpd > 0 then\n"
    "    m = id .. ':' .. day .. ':' .. int(rsv)\n"
    "    hold[#hold + 1], hold[#hold + 2] = 'b' .. i, bk\n"
    "    if rsv > 0 then\n"
    "      redis.call('INCRBY', tkey(bk, day), int(rsv))\n"
    "      redis.call('PEXPIRE', tkey(bk, day), 172800000)\n"
    "    end\n"
    "  end\n"
    "  redis.call('ZADD', hk, int(exp), m)\n"
    "  if redis.call('PTTL', hk) < exp - now then\n"
    "    redis.call('PEXPIRE', hk, int(exp - now))\n"
    "  end\n"
    "  hold[#hold + 1], hold[#hold + 2] = 'h' .. i, hk\n"
    "  hold[#hold + 1], hold[#hold + 2] = 'm' .. i, m\n"
    "end\n"
    "redis.call('HSET', KEYS[1], unpack(hold))\n"
    "redis.call('PEXPIRE', KEYS[1], int(exp - now))\n"
    "return res\n";

/* KEYS: cs:id:ID; ARGV: used_tokens, now.  An expired reservation is
 * dropped and adds nothing. */
static const char settle_lua[] = HELD_LUA
    "local h = redis.call('HGETALL', KEYS[1])\n"
    "if #h == 0 then return 0 end\n"
    "local f = {}\n"
    "for i = 1, #h, 2 do f[h[i]] = h[i + 1] end\n"
    "redis.call('DEL', KEYS[1])\n"
    "local live = tonumber(f.e) > tonumber(ARGV[2])\n"
    "for i = 1, tonumber(f.n) do\n"
    "  local bk = f['b' .. i]\n"
    "  if redis.call('ZREM', f['h' .. i], f['m' .. i]) == 1 and bk then\n"
    "    unheld(bk, f['m' .. i])\n"
    "  end\n"
    "  if live and bk then\n"
    "    local used = tonumber(redis.call('GET', bk) or '0') +"
    " tonumber(ARGV[1])\n"
    "    if used > 1000000000000000 then used = 1000000000000000 end\n"
    "    redis.call('SET', bk, string.format('%d', used), 'PX', 172800000)\n"
    "  end\n"
    "end\n"
    "return 1\n";

/* KEYS: the day's list, cs:ledger:days; ARGV: record, date, day, ttl,
 * the oldest day the index keeps. */
static const char ledger_lua[] =
    "redis.call('RPUSH', KEYS[1], ARGV[1])\n"
    "redis.call('PEXPIRE', KEYS[1], ARGV[4])\n"
    "redis.call('ZADD', KEYS[2], ARGV[3], ARGV[2])\n"
    "redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', '(' .. ARGV[5])\n"
    "redis.call('PEXPIRE', KEYS[2], ARGV[4])\n"
    "return 1\n";

/* KEYS: cs:ledger:days; ARGV: the last day to drop.  The refusals of
 * the RD_LEDGER_DAYS days up to it go too. */
static const char purge_lua[] =
    "local ds = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])\n"
    "for _, d in ipairs(ds) do redis.call('DEL', 'cs:ledger:' .. d) end\n"
    "redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])\n"
    "local last = tonumber(ARGV[1])\n"
    "for d = last - 400, last do redis.call('DEL', 'cs:refused:' .. d) end\n"
    "return #ds\n";

/* KEYS: cs:refused:DAY; ARGV: reason, ttl. */
static const char refusal_lua[] =
    "redis.call('HINCRBY', KEYS[1], ARGV[1], ARGV[3])\n"
    "redis.call('PEXPIRE', KEYS[1], ARGV[2])\n"
    "return 1\n";

/* KEYS: cs:rt:d:NAME and cs:rt:s:NAME of each name; ARGV: now.  The
 * reply: cooled_until, fails and busy of each.  Writes nothing. */
static const char route_read_lua[] =
    "local now, res = tonumber(ARGV[1]), {}\n"
    "for i = 1, #KEYS, 2 do\n"
    "  local r = redis.call('HMGET', KEYS[i], 'w', 'f', 'c')\n"
    "  local w, f, c = tonumber(r[1] or '0'), tonumber(r[2] or '0'),"
    " tonumber(r[3] or '0')\n"
    "  if c <= now then c = 0 end\n"
    "  if w <= now then f = 0 end\n"
    "  res[#res + 1], res[#res + 2] = c, f\n"
    "  res[#res + 1] = redis.call('ZCOUNT', KEYS[i + 1], '(' .. ARGV[1],"
    " '+inf')\n"
    "end\n"
    "return res\n";

/* KEYS: cs:rt:d:NAME; ARGV: allowed_fails, window_ms, cooldown_ms, now.
 * The reply: the cooldown's end it began or found, else 0. */
static const char route_fail_lua[] =
    "local allowed, win, cool, now = tonumber(ARGV[1]), tonumber(ARGV[2]),"
    " tonumber(ARGV[3]), tonumber(ARGV[4])\n"
    "local function int(x) return string.format('%d', x) end\n"
    "local r = redis.call('HMGET', KEYS[1], 'w', 'f', 'c')\n"
    "local w, f, c = tonumber(r[1] or '0'), tonumber(r[2] or '0'),"
    " tonumber(r[3] or '0')\n"
    "if c > now then return c end\n"
    "if w <= now then w, f = now + win, 0 end\n"
    "f = f + 1\n"
    "if f >= allowed then w, f, c = 0, 0, now + cool end\n"
    "redis.call('HSET', KEYS[1], 'w', int(w), 'f', int(f), 'c', int(c))\n"
    "redis.call('PEXPIRE', KEYS[1], int(math.max(w, c) - now))\n"
    "if c > now then return c end\n"
    "return 0\n";

/* KEYS: cs:rt:s:NAME; ARGV: id, expire_ms, now.  The expired streams go
 * first. */
static const char route_open_lua[] =
    "local exp, now = tonumber(ARGV[2]), tonumber(ARGV[3])\n"
    "redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[3])\n"
    "redis.call('ZADD', KEYS[1], ARGV[2], ARGV[1])\n"
    "if redis.call('PTTL', KEYS[1]) < exp - now then\n"
    "  redis.call('PEXPIRE', KEYS[1], string.format('%d', exp - now))\n"
    "end\n"
    "return 1\n";

/* KEYS: cs:rt:s:NAME; ARGV: id.  The last member gone, Redis drops the
 * key. */
static const char route_close_lua[] =
    "return redis.call('ZREM', KEYS[1], ARGV[1])\n";

enum {
	S_ADMIT,
	S_SETTLE,
	S_LEDGER,
	S_PURGE,
	S_REFUSAL,
	S_RT_READ,
	S_RT_FAIL,
	S_RT_OPEN,
	S_RT_CLOSE,
	S_N
};

static const char *const scripts[S_N] = {
	[S_ADMIT] = admit_lua,
	[S_SETTLE] = settle_lua,
	[S_LEDGER] = ledger_lua,
	[S_PURGE] = purge_lua,
	[S_REFUSAL] = refusal_lua,
	[S_RT_READ] = route_read_lua,
	[S_RT_FAIL] = route_fail_lua,
	[S_RT_OPEN] = route_open_lua,
	[S_RT_CLOSE] = route_close_lua,
};

#define RD_DAYS_KEY "cs:ledger:days"

struct rd {
	redisContext *c;            /* NULL: connect on the next call */
	char host[RD_HOST_MAX + 1]; /* "" for a unix socket */
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	int port, db;
	char pass[RD_PASS_MAX + 1]; /* never logged */
	size_t passlen;
	char where[RD_HOST_MAX + sizeof(((struct sockaddr_un *)0)->sun_path) +
	    32]; /* "redis at HOST:PORT db N" */
	char sha[S_N][41];
};

/* 0/1: s[0..n) is a decimal in lo..hi, into *out. */
static int
rd_num(const char *s, size_t n, unsigned long long lo, unsigned long long hi,
    int *out)
{
	unsigned long long v;

	if (cs_parse_dec(s, n, hi + 1, &v) != 0 || v < lo || v > hi)
		return 0;
	*out = (int)v;
	return 1;
}

/* Reads the password once: a regular file only its owner may read (group
 * or other access is an error, not a warning: the file is a secret), one
 * line of 1..RD_PASS_MAX bytes, a final newline dropped. */
static int
rd_password(
    struct rd *r, const char *file, const char *spec, char *err, size_t errlen)
{
	struct stat sb;
	ssize_t n;
	size_t got = 0;
	int fd, rc = -1;

	if ((fd = open(file, O_RDONLY | O_CLOEXEC | O_NOCTTY)) < 0) {
		cs_state_errf(err, errlen,
		    "state store \"%.*s\": password_file %s: %s",
		    CS_STATE_NAME_MAX, spec, file, strerror(errno));
		return -1;
	}
	if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
		cs_state_errf(err, errlen,
		    "state store \"%.*s\": password_file %s: not a regular file",
		    CS_STATE_NAME_MAX, spec, file);
		goto out;
	}
	if ((sb.st_mode & 077) != 0) {
		cs_state_errf(err, errlen,
		    "state store \"%.*s\": password_file %s: group or others"
		    " may access it (mode %03o; chmod 600 it)",
		    CS_STATE_NAME_MAX, spec, file,
		    (unsigned)(sb.st_mode & 0777));
		goto out;
	}
	while (got < sizeof(r->pass)) {
		n = read(fd, r->pass + got, sizeof(r->pass) - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	if (got > 0 && r->pass[got - 1] == '\n')
		got--;
	if (got > 0 && r->pass[got - 1] == '\r')
		got--;
	if (got == 0 || got > RD_PASS_MAX) {
		cs_state_errf(err, errlen,
		    "state store \"%.*s\": password_file %s: want one line of"
		    " 1 to %d bytes",
		    CS_STATE_NAME_MAX, spec, file, RD_PASS_MAX);
		explicit_bzero(r->pass, sizeof(r->pass));
		goto out;
	}
	r->pass[got] = '\0';
	r->passlen = got;
	rc = 0;
out:
	close(fd);
	return rc;
}

/* The query after '?': "db=N" (when db_ok) and "password_file=PATH",
 * '&' between them, each at most once; PATH is taken as it is (no
 * percent-decoding, so it cannot hold '&'). */
static int
rd_query(struct rd *r, const char *q, int db_ok, const char *spec, char *err,
    size_t errlen)
{
	char file[PATH_MAX];
	int seen_db = 0, seen_pass = 0;
	const char *end;
	size_t n;

	file[0] = '\0';
	if (*q == '\0')
		goto bad;
	for (; *q != '\0'; q = *end == '&' ? end + 1 : end) {
		end = q + strcspn(q, "&");
		n = (size_t)(end - q);
		if (db_ok && !seen_db && n > 3 && strncmp(q, "db=", 3) == 0) {
			seen_db = 1;
			if (!rd_num(q + 3, n - 3, 0, 15, &r->db))
				goto bad;
		} else if (!seen_pass && n > 14 && n - 14 < sizeof(file) &&
		    strncmp(q, "password_file=", 14) == 0) {
			seen_pass = 1;
			snprintf(
			    file, sizeof(file), "%.*s", (int)(n - 14), q + 14);
		} else
			goto bad;
		if (*end == '&' && end[1] == '\0')
			goto bad;
	}
	if (file[0] != '\0')
		return rd_password(r, file, spec, err, errlen);
	return 0;
bad:
	cs_state_errf(err, errlen,
	    "state store \"%.*s\": want ?%spassword_file=PATH, each once",
	    CS_STATE_NAME_MAX, spec, db_ok ? "db=0..15&" : "");
	return -1;
}

/* "HOST:PORT[/DB][?query]" after "redis://"; HOST a name, an IPv4
 * address or "[IPv6]". */
static int
rd_parse_tcp(
    struct rd *r, const char *arg, const char *spec, char *err, size_t errlen)
{
	const char *h = arg, *p, *e;
	size_t hn;

	if (*h == '[') {
		h++;
		hn = strcspn(h, "]");
		p = h + hn + (h[hn] == ']');
		if (h[hn] != ']' || *p != ':' ||
		    strspn(h, "0123456789abcdefABCDEF:.") != hn)
			goto bad;
	} else {
		hn = strspn(h,
		    "abcdefghijklmnopqrstuvwxyz"
		    "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-_");
		p = h + hn;
	}
	if (hn == 0 || hn > RD_HOST_MAX || *p != ':')
		goto bad;
	memcpy(r->host, h, hn);
	r->host[hn] = '\0';
	p++;
	e = p + strspn(p, "0123456789");
	if (!rd_num(p, (size_t)(e - p), 1, 65535, &r->port))
		goto bad;
	if (*e == '/') {
		p = e + 1;
		e = p + strspn(p, "0123456789");
		if (!rd_num(p, (size_t)(e - p), 0, 15, &r->db))
			goto bad;
	}
	if (*e == '?')
		return rd_query(r, e + 1, 0, spec, err, errlen);
	if (*e == '\0')
		return 0;
bad:
	cs_state_errf(err, errlen,
	    "state store \"%.*s\": want redis://HOST:PORT[/DB] (port 1..65535,"
	    " DB 0..15)[?password_file=PATH]",
	    CS_STATE_NAME_MAX, spec);
	return -1;
}

/* "/PATH[?query]" after "redis+unix://". */
static int
rd_parse_unix(
    struct rd *r, const char *arg, const char *spec, char *err, size_t errlen)
{
	size_t n = strcspn(arg, "?");

	if (arg[0] != '/' || n < 2 || n >= sizeof(r->path)) {
		cs_state_errf(err, errlen,
		    "state store \"%.*s\": want redis+unix:///PATH"
		    "[?db=N&password_file=PATH], PATH absolute, at most %zu"
		    " bytes",
		    CS_STATE_NAME_MAX, spec, sizeof(r->path) - 1);
		return -1;
	}
	memcpy(r->path, arg, n);
	r->path[n] = '\0';
	if (arg[n] == '?')
		return rd_query(r, arg + n + 1, 1, spec, err, errlen);
	return 0;
}

/* Parses spec (after its prefix arg) into r: 0, or -1 with err filled. */
static int
rd_parse(
    struct rd *r, int unix_socket, const char *arg, char *err, size_t errlen)
{
	char spec[CS_STATE_NAME_MAX + 1];
	int rc;

	snprintf(spec, sizeof(spec), "%s%s",
	    unix_socket ? "redis+unix://" : "redis://", arg);
	rc = unix_socket ? rd_parse_unix(r, arg, spec, err, errlen) :
	                   rd_parse_tcp(r, arg, spec, err, errlen);
	if (rc != 0)
		return rc;
	if (unix_socket)
		snprintf(r->where, sizeof(r->where), "redis at %s db %d",
		    r->path, r->db);
	else
		snprintf(r->where, sizeof(r->where), "redis at %s:%d db %d",
		    r->host, r->port, r->db);
	return 0;
}

static void
rd_drop(struct rd *r)
{
	if (r->c != NULL)
		redisFree(r->c);
	r->c = NULL;
}

/* One command on r->c: its reply (freed by the caller), or NULL with the
 * connection dropped and why in err.  An error reply is returned. */
static redisReply *
rd_cmd(struct rd *r, int argc, const char **argv, const size_t *len, char *err,
    size_t errlen)
{
	redisReply *rep;

	rep = redisCommandArgv(r->c, argc, argv, len);
	if (rep == NULL) {
		cs_state_errf(err, errlen, "%s: %s", argv[0],
		    r->c->err != 0 ? r->c->errstr : "no reply");
		rd_drop(r);
	}
	return rep;
}

/* A command whose reply must be a status or a string (copied into out,
 * when out is not NULL); -1 with err filled otherwise. */
static int
rd_simple(struct rd *r, int argc, const char **argv, const size_t *len,
    char *out, size_t outlen, char *err, size_t errlen)
{
	redisReply *rep;
	int rc = -1;

	if ((rep = rd_cmd(r, argc, argv, len, err, errlen)) == NULL)
		return -1;
	if (rep->type == REDIS_REPLY_ERROR)
		cs_state_errf(
		    err, errlen, "%s refused: %.200s", argv[0], rep->str);
	else if (rep->type != REDIS_REPLY_STATUS &&
	    rep->type != REDIS_REPLY_STRING)
		cs_state_errf(err, errlen, "%s: unexpected reply", argv[0]);
	else {
		if (out != NULL)
			snprintf(out, outlen, "%s", rep->str);
		rc = 0;
	}
	freeReplyObject(rep);
	return rc;
}

static int
rd_load(struct rd *r, int s, char *err, size_t errlen)
{
	const char *argv[] = { "SCRIPT", "LOAD", scripts[s] };
	size_t len[] = { 6, 4, strlen(scripts[s]) };

	return rd_simple(
	    r, 3, argv, len, r->sha[s], sizeof(r->sha[s]), err, errlen);
}

/* Connects, authenticates, selects the DB and (when scripts) loads the
 * scripts: 0, or -1 with why in err and no connection. */
static int
rd_connect(struct rd *r, int with_scripts, char *err, size_t errlen)
{
	struct timeval tv = { 0, CS_STATE_BUSY_MS * 1000 };
	const char *argv[2];
	size_t len[2];
	char db[4];
	int s;

	r->c = r->host[0] != '\0' ?
	    redisConnectWithTimeout(r->host, r->port, tv) :
	    redisConnectUnixWithTimeout(r->path, tv);
	if (r->c == NULL || r->c->err != 0) {
		cs_state_errf(err, errlen, "cannot connect: %s",
		    r->c != NULL ? r->c->errstr : "out of memory");
		goto fail;
	}
	if (redisSetTimeout(r->c, tv) != REDIS_OK) {
		cs_state_errf(
		    err, errlen, "cannot set a timeout: %s", r->c->errstr);
		goto fail;
	}
	if (r->passlen > 0) {
		argv[0] = "AUTH";
		argv[1] = r->pass;
		len[0] = 4;
		len[1] = r->passlen;
		if (rd_simple(r, 2, argv, len, NULL, 0, err, errlen) != 0)
			goto fail;
	}
	if (r->db != 0) {
		snprintf(db, sizeof(db), "%d", r->db);
		argv[0] = "SELECT";
		argv[1] = db;
		len[0] = 6;
		len[1] = strlen(db);
		if (rd_simple(r, 2, argv, len, NULL, 0, err, errlen) != 0)
			goto fail;
	}
	for (s = 0; with_scripts && s < S_N; s++)
		if (rd_load(r, s, err, errlen) != 0)
			goto fail;
	return 0;
fail:
	rd_drop(r);
	return -1;
}

/* Logs a failure once, here: everything is CS_ESTATE. */
static enum cs_err
rd_fail(struct rd *r, const char *what, const char *why)
{
	cs_warnx("state store %s: %s: %s", r->where, what, why);
	return CS_ESTATE;
}

/*
 * Script s with nkeys keys and then the arguments in argv[0..argc):
 * its reply (freed by the caller), or NULL, the failure logged.
 * Connects first when there is no connection; loads the script again
 * when Redis has forgotten it (a restart, SCRIPT FLUSH).  A script that
 * may run twice (again: settle, purge) is sent once more on a new
 * connection when a reused one fails (the server restarted since); the
 * others are not, as the lost reply may follow a run that took effect.
 */
static redisReply *
rd_eval(struct rd *r, int s, int again, int nkeys, int argc, const char **argv,
    const size_t *len, const char *what)
{
	const char *av[RD_ARGS];
	size_t al[RD_ARGS];
	char why[256], nk[16];
	redisReply *rep = NULL;
	int i, tries, fresh = 0;

	if (argc + 3 > RD_ARGS)
		return NULL;
	snprintf(nk, sizeof(nk), "%d", nkeys);
	av[0] = "EVALSHA";
	al[0] = 7;
	av[2] = nk;
	al[2] = strlen(nk);
	for (i = 0; i < argc; i++) {
		av[i + 3] = argv[i];
		al[i + 3] = len != NULL ? len[i] : strlen(argv[i]);
	}
	for (tries = 0; tries < 3; tries++) {
		if (r->c == NULL) {
			if (rd_connect(r, 1, why, sizeof(why)) != 0)
				break;
			fresh = 1;
		}
		av[1] = r->sha[s];
		al[1] = strlen(r->sha[s]);
		rep = rd_cmd(r, argc + 3, av, al, why, sizeof(why));
		if (rep == NULL && again && !fresh)
			continue; /* connects again at the top */
		if (rep == NULL)
			break;
		if (rep->type != REDIS_REPLY_ERROR)
			return rep;
		snprintf(why, sizeof(why), "%.200s", rep->str);
		freeReplyObject(rep);
		rep = NULL;
		if (strncmp(why, "NOSCRIPT", 8) != 0 ||
		    rd_load(r, s, why, sizeof(why)) != 0)
			break;
	}
	rd_fail(r, what, why);
	return NULL;
}

static void
rd_close(struct cs_state *st)
{
	struct rd *r = st->be;

	if (r == NULL)
		return;
	rd_drop(r);
	explicit_bzero(r->pass, sizeof(r->pass));
	free(r);
	st->be = NULL;
}

/* Parses and connects: the handle is usable at once (or the open fails,
 * CS_ECONFIG for the spec, CS_ESTATE for the server). */
static enum cs_err
rd_open_as(struct cs_state *st, int unix_socket, const char *arg, char *err,
    size_t errlen)
{
	char why[256];
	struct rd *r;

	if ((r = calloc(1, sizeof(*r))) == NULL) {
		cs_state_errf(err, errlen, "state store: out of memory");
		return CS_ENOMEM;
	}
	st->be = r;
	if (rd_parse(r, unix_socket, arg, err, errlen) != 0) {
		rd_close(st);
		return CS_ECONFIG;
	}
	if (rd_connect(r, 1, why, sizeof(why)) != 0) {
		cs_state_errf(err, errlen, "state store %s: %s", r->where, why);
		rd_close(st);
		return CS_ESTATE;
	}
	return CS_OK;
}

static enum cs_err
rd_open_tcp(struct cs_state *st, const char *arg, char *err, size_t errlen)
{
	return rd_open_as(st, 0, arg, err, errlen);
}

static enum cs_err
rd_open_unix(struct cs_state *st, const char *arg, char *err, size_t errlen)
{
	return rd_open_as(st, 1, arg, err, errlen);
}

/* --check-config: connect, PING, and say where. */
static enum cs_err
rd_check_as(int unix_socket, const char *arg, char *msg, size_t len)
{
	const char *argv[] = { "PING" };
	size_t alen[] = { 4 };
	enum cs_err e = CS_ESTATE;
	char why[256];
	struct rd *r;

	if ((r = calloc(1, sizeof(*r))) == NULL)
		return CS_ENOMEM;
	if (rd_parse(r, unix_socket, arg, msg, len) != 0) {
		e = CS_ECONFIG;
		goto out;
	}
	if (rd_connect(r, 0, why, sizeof(why)) != 0 ||
	    rd_simple(r, 1, argv, alen, NULL, 0, why, sizeof(why)) != 0) {
		cs_state_errf(msg, len, "state store %s: %s", r->where, why);
		goto out;
	}
	cs_state_errf(msg, len, "state store %s: reachable", r->where);
	e = CS_OK;
out:
	rd_drop(r);
	explicit_bzero(r->pass, sizeof(r->pass));
	free(r);
	return e;
}

/* The spec alone: parsed (the password file read) and wiped. */
static enum cs_err
rd_syntax_as(int unix_socket, const char *arg, char *err, size_t errlen)
{
	struct rd *r;
	int rc;

	if ((r = calloc(1, sizeof(*r))) == NULL)
		return CS_ENOMEM;
	rc = rd_parse(r, unix_socket, arg, err, errlen);
	explicit_bzero(r->pass, sizeof(r->pass));
	free(r);
	return rc == 0 ? CS_OK : CS_ECONFIG;
}

static enum cs_err
rd_syntax_tcp(const char *arg, char *err, size_t errlen)
{
	return rd_syntax_as(0, arg, err, errlen);
}

static enum cs_err
rd_syntax_unix(const char *arg, char *err, size_t errlen)
{
	return rd_syntax_as(1, arg, err, errlen);
}

static enum cs_err
rd_check_tcp(const char *arg, char *msg, size_t len)
{
	return rd_check_as(0, arg, msg, len);
}

static enum cs_err
rd_check_unix(const char *arg, char *msg, size_t len)
{
	return rd_check_as(1, arg, msg, len);
}

/* 0/1: rep is an array of n integers. */
static int
rd_ints(const redisReply *rep, size_t n)
{
	size_t i;

	if (rep->type != REDIS_REPLY_ARRAY || rep->elements != n)
		return 0;
	for (i = 0; i < n; i++)
		if (rep->element[i]->type != REDIS_REPLY_INTEGER)
			return 0;
	return 1;
}

static enum cs_err
rd_admit(struct cs_state *st, const struct cs_admit *a, const char *id,
    struct cs_admit_result *res)
{
	char keys[1 + 3 * CS_STATE_MAX_BUCKETS][RD_KEY_MAX];
	char nums[6 + 3 * CS_STATE_MAX_BUCKETS][24];
	const char *argv[RD_ARGS];
	long long day = a->now_ms / CS_STATE_DAY_MS, *v[8];
	struct rd *r = st->be;
	redisReply *rep;
	size_t i, k = 0, m = 0;

	snprintf(keys[m], sizeof(keys[m]), "cs:id:%s", id);
	argv[k++] = keys[m++];
	for (i = 0; i < a->n; i++) {
		snprintf(keys[m], sizeof(keys[m]), "cs:r:%s", a->b[i].name);
		argv[k++] = keys[m++];
		snprintf(keys[m], sizeof(keys[m]), "cs:h:%s", a->b[i].name);
		argv[k++] = keys[m++];
		snprintf(keys[m], sizeof(keys[m]), "cs:b:%lld:%s", day,
		    a->b[i].name);
		argv[k++] = keys[m++];
	}
	m = 0;
	snprintf(nums[m++], sizeof(nums[0]), "%lld", a->now_ms);
	snprintf(nums[m++], sizeof(nums[0]), "%lld", a->expire_ms);
	snprintf(nums[m++], sizeof(nums[0]), "%lld", a->reserve_tokens);
	m++; /* the id, in argv directly */
	snprintf(nums[m++], sizeof(nums[0]), "%lld", day);
	snprintf(nums[m++], sizeof(nums[0]), "%zu", a->n);
	for (i = 0; i < a->n; i++) {
		snprintf(nums[m++], sizeof(nums[0]), "%ld", a->b[i].rpm);
		snprintf(nums[m++], sizeof(nums[0]), "%ld", a->b[i].concurrent);
		snprintf(
		    nums[m++], sizeof(nums[0]), "%lld", a->b[i].tokens_per_day);
	}
	for (i = 0; i < m; i++)
		argv[k + i] = i == 3 ? id : nums[i];
	rep = rd_eval(r, S_ADMIT, 0, (int)k, (int)(k + m), argv, NULL, "admit");
	if (rep == NULL)
		return CS_ESTATE;
	if (!rd_ints(rep, 8)) {
		freeReplyObject(rep);
		return rd_fail(r, "admit", "unexpected reply");
	}
	v[0] = &res->retry_after_ms;
	v[1] = &res->limit;
	v[2] = &res->remaining;
	v[3] = &res->reset_ms;
	res->allowed = rep->element[0]->integer != 0;
	res->refused = (size_t)rep->element[1]->integer;
	res->why = (int)rep->element[2]->integer;
	res->kind = (int)rep->element[3]->integer;
	for (i = 0; i < 4; i++)
		*v[i] = rep->element[4 + i]->integer;
	freeReplyObject(rep);
	return CS_OK;
}

static enum cs_err
rd_settle(struct cs_state *st, const char *id, long long used_tokens,
    long long now_ms)
{
	char key[RD_KEY_MAX], used[24], now[24];
	const char *argv[] = { key, used, now };
	redisReply *rep;

	snprintf(key, sizeof(key), "cs:id:%s", id);
	snprintf(used, sizeof(used), "%lld", used_tokens);
	snprintf(now, sizeof(now), "%lld", now_ms);
	rep = rd_eval(st->be, S_SETTLE, 1, 1, 3, argv, NULL, "settle");
	if (rep == NULL)
		return CS_ESTATE;
	freeReplyObject(rep);
	return CS_OK;
}

/* The UTC date of day (days since the epoch) into date[11]. */
static void
rd_date(long long day, char *date)
{
	struct cs_ledger_rec rec;
	char key[CS_STATE_NAME_MAX + 1];

	memset(&rec, 0, sizeof(rec));
	rec.time_ms = day * CS_STATE_DAY_MS;
	cs_state_usage_key(&rec, CS_BY_DAY, key); /* "YYYY-MM-DD" */
	memcpy(date, key, 10);
	date[10] = '\0';
}

/* A record: its RD_FIELDS fields, NUL between them (no field holds one). */
static enum cs_err
rd_ledger_add(struct cs_state *st, const struct cs_ledger_rec *rec)
{
	const char *s[] = { rec->request_id, rec->identity, rec->key_name,
		rec->model, rec->upstream, rec->outcome };
	long long n[] = { rec->prompt_tokens, rec->completion_tokens,
		rec->generated_tokens, rec->delivered_tokens, rec->ttfd_ms,
		rec->duration_ms, rec->tried };
	char buf[RD_FIELDS * (CS_STATE_NAME_MAX + 24)], key[32], date[11];
	char day[24], ttl[24], oldest[24];
	const char *argv[] = { key, RD_DAYS_KEY, buf, date, day, ttl, oldest };
	size_t len[CS_ARRAY_LEN(argv)], used, i;
	long long d = rec->time_ms / CS_STATE_DAY_MS;
	redisReply *rep;

	used = (size_t)snprintf(buf, sizeof(buf), "%lld", rec->time_ms) + 1;
	for (i = 0; i < CS_ARRAY_LEN(s); i++)
		used += (size_t)snprintf(buf + used, sizeof(buf) - used, "%s",
		            s[i] != NULL ? s[i] : "") +
		    1;
	for (i = 0; i < CS_ARRAY_LEN(n); i++)
		used += (size_t)snprintf(
		            buf + used, sizeof(buf) - used, "%lld", n[i]) +
		    1;
	rd_date(d, date);
	snprintf(key, sizeof(key), "cs:ledger:%s", date);
	snprintf(day, sizeof(day), "%lld", d);
	snprintf(ttl, sizeof(ttl), "%lld", RD_LEDGER_DAYS * CS_STATE_DAY_MS);
	snprintf(oldest, sizeof(oldest), "%lld", d - RD_LEDGER_DAYS);
	for (i = 0; i < CS_ARRAY_LEN(argv); i++)
		len[i] = strlen(argv[i]);
	len[2] = used - 1; /* no NUL after the last field */
	rep = rd_eval(st->be, S_LEDGER, 0, 2, (int)CS_ARRAY_LEN(argv), argv,
	    len, "add to the ledger");
	if (rep == NULL)
		return CS_ESTATE;
	freeReplyObject(rep);
	return CS_OK;
}

/* Whole days: the days that end at or before before_ms. */
static enum cs_err
rd_ledger_purge(struct cs_state *st, long long before_ms)
{
	char last[24];
	const char *argv[] = { RD_DAYS_KEY, last };
	redisReply *rep;

	snprintf(last, sizeof(last), "%lld", before_ms / CS_STATE_DAY_MS - 1);
	rep = rd_eval(st->be, S_PURGE, 1, 1, 2, argv, NULL, "purge the ledger");
	if (rep == NULL)
		return CS_ESTATE;
	freeReplyObject(rep);
	return CS_OK;
}

struct group {
	char key[CS_STATE_NAME_MAX + 1];
	long long requests, prompt, completion;
};

struct groups {
	struct group *g;
	size_t n, cap;
};

/* The group of key in gs, made when new (gs stays sorted); NULL past
 * RD_GROUPS_MAX or out of memory. */
static struct group *
group_of(struct groups *gs, const char *key)
{
	size_t lo = 0, hi = gs->n, mid;
	struct group *ng;
	int c;

	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		if ((c = strcmp(gs->g[mid].key, key)) == 0)
			return &gs->g[mid];
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (gs->n == RD_GROUPS_MAX)
		return NULL;
	if (gs->n == gs->cap) {
		gs->cap = gs->cap != 0 ? gs->cap * 2 : 64;
		if ((ng = realloc(gs->g, gs->cap * sizeof(*ng))) == NULL)
			return NULL;
		gs->g = ng;
	}
	memmove(&gs->g[lo + 1], &gs->g[lo], (gs->n - lo) * sizeof(*gs->g));
	gs->n++;
	memset(&gs->g[lo], 0, sizeof(*gs->g));
	snprintf(gs->g[lo].key, sizeof(gs->g[lo].key), "%s", key);
	return &gs->g[lo];
}

/* A signed field: "-1" or digits, into *v; 0/1. */
static int
rd_field_num(const char *s, size_t n, long long *v)
{
	unsigned long long u;

	if (n == 2 && s[0] == '-' && s[1] == '1') {
		*v = -1;
		return 1;
	}
	if (cs_parse_dec(s, n, CS_STATE_TOKENS_MAX + 1ULL, &u) != 0 ||
	    u > CS_STATE_TOKENS_MAX)
		return 0;
	*v = (long long)u;
	return 1;
}

/* Parses a stored record into rec (strings into text); 0/1. */
static int
rd_parse_rec(const char *s, size_t n, struct cs_ledger_rec *rec,
    char text[6][CS_STATE_NAME_MAX + 1])
{
	const char **str[] = { &rec->request_id, &rec->identity, &rec->key_name,
		&rec->model, &rec->upstream, &rec->outcome };
	long long num[RD_FIELDS - 7] = { 0 };
	const char *f = s, *end = s + n, *z;
	size_t i, fl;

	memset(rec, 0, sizeof(*rec));
	for (i = 0; i < RD_FIELDS; i++, f = z + 1) {
		if (f > end)
			return 0;
		z = memchr(f, '\0', (size_t)(end - f));
		z = z != NULL ? z : end;
		/* A record written before "tried" ends a field early. */
		if ((z == end) != (i == RD_FIELDS - 1) &&
		    !(z == end && i == RD_FIELDS - 2))
			return 0;
		fl = (size_t)(z - f);
		if (i == 0) {
			if (!rd_field_num(f, fl, &rec->time_ms))
				return 0;
		} else if (i <= 6) {
			if (fl > CS_STATE_NAME_MAX)
				return 0;
			memcpy(text[i - 1], f, fl);
			text[i - 1][fl] = '\0';
			*str[i - 1] = text[i - 1];
		} else if (!rd_field_num(f, fl, &num[i - 7]))
			return 0;
		if (z == end)
			break;
	}
	rec->prompt_tokens = num[0];
	rec->completion_tokens = num[1];
	rec->generated_tokens = num[2];
	rec->delivered_tokens = num[3];
	rec->ttfd_ms = (long)num[4];
	rec->duration_ms = (long)num[5];
	rec->tried = num[6] >= 0 && num[6] <= CS_STATE_ROUTE_MAX ? (int)num[6] :
	                                                           0;
	return 1;
}

/* fn for each record of one day's list since since_ms, a page at a
 * time. */
static enum cs_err
rd_scan_day(struct rd *r, const char *date, long long since_ms, cs_ledger_fn fn,
    void *ctx)
{
	char key[32], from[24], to[24], why[256],
	    text[6][CS_STATE_NAME_MAX + 1];
	const char *argv[] = { "LRANGE", key, from, to };
	struct cs_ledger_rec rec;
	redisReply *rep, *el;
	long long off = 0;
	size_t i, n;

	snprintf(key, sizeof(key), "cs:ledger:%s", date);
	do {
		snprintf(from, sizeof(from), "%lld", off);
		snprintf(to, sizeof(to), "%lld", off + RD_PAGE - 1);
		rep = rd_cmd(r, 4, argv, NULL, why, sizeof(why));
		if (rep == NULL)
			return rd_fail(r, "usage", why);
		if (rep->type != REDIS_REPLY_ARRAY) {
			freeReplyObject(rep);
			return rd_fail(r, "usage", "unexpected reply");
		}
		for (i = 0; i < rep->elements; i++) {
			el = rep->element[i];
			if (el->type != REDIS_REPLY_STRING ||
			    !rd_parse_rec(el->str, el->len, &rec, text)) {
				freeReplyObject(rep);
				return rd_fail(
				    r, "usage", "a ledger record is malformed");
			}
			if (rec.time_ms >= since_ms)
				fn(ctx, &rec);
		}
		n = rep->elements;
		freeReplyObject(rep);
		off += RD_PAGE;
	} while (n == RD_PAGE);
	return CS_OK;
}

/* fn for each record of the days since since_ms that have records (the
 * latest RD_LEDGER_DAYS), read a page at a time. */
static enum cs_err
rd_scan(struct rd *r, long long since_ms, cs_ledger_fn fn, void *ctx)
{
	char lo[24], why[256], lim[24];
	const char *argv[] = { "ZREVRANGEBYSCORE", RD_DAYS_KEY, "+inf", lo,
		"LIMIT", "0", lim };
	redisReply *days = NULL;
	enum cs_err e = CS_OK;
	size_t i;

	if (r->c == NULL && rd_connect(r, 1, why, sizeof(why)) != 0)
		return rd_fail(r, "usage", why);
	snprintf(lo, sizeof(lo), "%lld", since_ms / CS_STATE_DAY_MS);
	snprintf(lim, sizeof(lim), "%d", RD_LEDGER_DAYS);
	days = rd_cmd(r, (int)CS_ARRAY_LEN(argv), argv, NULL, why, sizeof(why));
	if (days == NULL) {
		e = rd_fail(r, "usage", why);
		goto out;
	}
	if (days->type != REDIS_REPLY_ARRAY) {
		e = rd_fail(r, "usage", "unexpected reply");
		goto out;
	}
	for (i = 0; i < days->elements && e == CS_OK; i++) {
		if (days->element[i]->type != REDIS_REPLY_STRING ||
		    days->element[i]->len != 10) {
			e = rd_fail(r, "usage", "unexpected reply");
			break;
		}
		e = rd_scan_day(r, days->element[i]->str, since_ms, fn, ctx);
	}
out:
	if (days != NULL)
		freeReplyObject(days);
	return e;
}

/* What rd_usage's scan adds up. */
struct usage_scan {
	struct groups gs;
	enum cs_usage_by by;
	int full; /* past RD_GROUPS_MAX (or out of memory) */
};

static void
usage_add(void *ctx, const struct cs_ledger_rec *rec)
{
	struct usage_scan *u = ctx;
	char gkey[CS_STATE_NAME_MAX + 1];
	struct group *g;

	cs_state_usage_key(rec, u->by, gkey);
	if (u->full || (g = group_of(&u->gs, gkey)) == NULL) {
		u->full = 1;
		return;
	}
	g->requests++;
	g->prompt += cs_state_count(rec->prompt_tokens);
	g->completion += cs_state_count(rec->completion_tokens);
}

/* The scan grouped here; fn runs after the last read. */
static enum cs_err
rd_usage(struct cs_state *st, long long since_ms, enum cs_usage_by by,
    cs_usage_row_fn fn, void *ctx)
{
	struct usage_scan u = { { NULL, 0, 0 }, by, 0 };
	struct rd *r = st->be;
	enum cs_err e;
	size_t i;

	e = rd_scan(r, since_ms, usage_add, &u);
	if (e == CS_OK && u.full)
		e = rd_fail(r, "usage", "too many groups");
	for (i = 0; e == CS_OK && i < u.gs.n; i++)
		fn(ctx, u.gs.g[i].key, u.gs.g[i].requests, u.gs.g[i].prompt,
		    u.gs.g[i].completion);
	free(u.gs.g);
	return e;
}

static enum cs_err
rd_ledger_scan(
    struct cs_state *st, long long since_ms, cs_ledger_fn fn, void *ctx)
{
	return rd_scan(st->be, since_ms, fn, ctx);
}

static enum cs_err
rd_refusal_add(
    struct cs_state *st, const char *reason, long n, long long now_ms)
{
	char key[48], ttl[24], num[24];
	const char *argv[] = { key, reason, ttl, num };
	redisReply *rep;

	snprintf(key, sizeof(key), "cs:refused:%lld", now_ms / CS_STATE_DAY_MS);
	snprintf(ttl, sizeof(ttl), "%lld", RD_LEDGER_DAYS * CS_STATE_DAY_MS);
	snprintf(num, sizeof(num), "%ld", n);
	rep = rd_eval(
	    st->be, S_REFUSAL, 0, 1, 4, argv, NULL, "count a refusal");
	if (rep == NULL)
		return CS_ESTATE;
	freeReplyObject(rep);
	return CS_OK;
}

/* One HGETALL a day (reason, count pairs); counts parsed strictly. */
static enum cs_err
rd_refusals(struct cs_state *st, long long since_ms, long long until_ms,
    cs_refusal_fn fn, void *ctx)
{
	char key[48], why[256];
	const char *argv[] = { "HGETALL", key };
	struct rd *r = st->be;
	redisReply *rep;
	unsigned long long n;
	long long d;
	size_t i;

	if (r->c == NULL && rd_connect(r, 1, why, sizeof(why)) != 0)
		return rd_fail(r, "refusals", why);
	for (d = since_ms / CS_STATE_DAY_MS; d <= until_ms / CS_STATE_DAY_MS;
	     d++) {
		snprintf(key, sizeof(key), "cs:refused:%lld", d);
		if ((rep = rd_cmd(r, 2, argv, NULL, why, sizeof(why))) == NULL)
			return rd_fail(r, "refusals", why);
		for (i = 0;
		     rep->type == REDIS_REPLY_ARRAY && i + 1 < rep->elements;
		     i += 2) {
			if (rep->element[i]->type != REDIS_REPLY_STRING ||
			    rep->element[i + 1]->type != REDIS_REPLY_STRING ||
			    cs_parse_dec(rep->element[i + 1]->str,
			        rep->element[i + 1]->len, CS_STATE_TOKENS_MAX,
			        &n) != 0)
				break;
			fn(ctx, d, rep->element[i]->str, (long long)n);
		}
		if (rep->type != REDIS_REPLY_ARRAY || i < rep->elements) {
			freeReplyObject(rep);
			return rd_fail(r, "refusals", "unexpected reply");
		}
		freeReplyObject(rep);
	}
	return CS_OK;
}

/* The key of deployment name in family fam ('d' or 's') into key. */
static void
rd_route_key(char *key, size_t len, char fam, const char *name)
{
	snprintf(key, len, "cs:rt:%c:%s", fam, name);
}

static enum cs_err
rd_route_read(struct cs_state *st, const char *const *names, size_t n,
    long long now_ms, struct cs_route_seen *seen)
{
	char keys[2 * CS_STATE_ROUTE_MAX][RD_KEY_MAX], now[24];
	const char *argv[2 * CS_STATE_ROUTE_MAX + 1];
	struct rd *r = st->be;
	enum cs_err e = CS_OK;
	redisReply *rep;
	long long v;
	size_t i;

	for (i = 0; i < n; i++) {
		rd_route_key(keys[2 * i], sizeof(keys[0]), 'd', names[i]);
		rd_route_key(keys[2 * i + 1], sizeof(keys[0]), 's', names[i]);
		argv[2 * i] = keys[2 * i];
		argv[2 * i + 1] = keys[2 * i + 1];
	}
	snprintf(now, sizeof(now), "%lld", now_ms);
	argv[2 * n] = now;
	rep = rd_eval(r, S_RT_READ, 1, (int)(2 * n), (int)(2 * n + 1), argv,
	    NULL, "read deployments");
	if (rep == NULL)
		return CS_ESTATE;
	if (!rd_ints(rep, 3 * n)) {
		e = rd_fail(r, "read deployments", "unexpected reply");
		goto out;
	}
	for (i = 0; i < 3 * n; i++)
		if (rep->element[i]->integer < 0) {
			e = rd_fail(r, "read deployments", "a negative count");
			goto out;
		}
	for (i = 0; i < n; i++) {
		v = rep->element[3 * i]->integer;
		seen[i].cooled_until_ms = v > now_ms ? v : 0;
		seen[i].fails = rep->element[3 * i + 1]->integer;
		seen[i].busy = rep->element[3 * i + 2]->integer;
	}
out:
	freeReplyObject(rep);
	return e;
}

/* Not sent again on a new connection: a lost reply may follow a
 * failure that counted. */
static enum cs_err
rd_route_fail(struct cs_state *st, const char *name, long allowed_fails,
    long long window_ms, long long cooldown_ms, long long now_ms,
    long long *cooled_until_ms)
{
	char key[RD_KEY_MAX], nums[4][24];
	const char *argv[] = { key, nums[0], nums[1], nums[2], nums[3] };
	struct rd *r = st->be;
	enum cs_err e = CS_OK;
	redisReply *rep;

	rd_route_key(key, sizeof(key), 'd', name);
	snprintf(nums[0], sizeof(nums[0]), "%ld", allowed_fails);
	snprintf(nums[1], sizeof(nums[1]), "%lld", window_ms);
	snprintf(nums[2], sizeof(nums[2]), "%lld", cooldown_ms);
	snprintf(nums[3], sizeof(nums[3]), "%lld", now_ms);
	rep = rd_eval(r, S_RT_FAIL, 0, 1, (int)CS_ARRAY_LEN(argv), argv, NULL,
	    "count a failure");
	if (rep == NULL)
		return CS_ESTATE;
	if (rep->type != REDIS_REPLY_INTEGER || rep->integer < 0 ||
	    (rep->integer != 0 && rep->integer <= now_ms))
		e = rd_fail(r, "count a failure", "unexpected reply");
	else
		*cooled_until_ms = rep->integer;
	freeReplyObject(rep);
	return e;
}

/* Sent again when a reused connection fails: the same id twice is one
 * stream. */
static enum cs_err
rd_route_open(struct cs_state *st, const char *name, long long now_ms,
    long long expire_ms, const char *id)
{
	char key[RD_KEY_MAX], exp[24], now[24];
	const char *argv[] = { key, id, exp, now };
	redisReply *rep;

	rd_route_key(key, sizeof(key), 's', name);
	snprintf(exp, sizeof(exp), "%lld", expire_ms);
	snprintf(now, sizeof(now), "%lld", now_ms);
	rep = rd_eval(st->be, S_RT_OPEN, 1, 1, (int)CS_ARRAY_LEN(argv), argv,
	    NULL, "open a stream");
	if (rep == NULL)
		return CS_ESTATE;
	freeReplyObject(rep);
	return CS_OK;
}

static enum cs_err
rd_route_close(
    struct cs_state *st, const char *name, const char *id, long long now_ms)
{
	char key[RD_KEY_MAX];
	const char *argv[] = { key, id };
	redisReply *rep;

	(void)now_ms;
	rd_route_key(key, sizeof(key), 's', name);
	rep = rd_eval(st->be, S_RT_CLOSE, 1, 1, (int)CS_ARRAY_LEN(argv), argv,
	    NULL, "close a stream");
	if (rep == NULL)
		return CS_ESTATE;
	freeReplyObject(rep);
	return CS_OK;
}

const struct cs_state_ops cs_state_redis_ops = {
	.prefix = "redis://",
	.open = rd_open_tcp,
	.close = rd_close,
	.check = rd_check_tcp,
	.syntax = rd_syntax_tcp,
	.admit = rd_admit,
	.settle = rd_settle,
	.ledger_add = rd_ledger_add,
	.ledger_purge = rd_ledger_purge,
	.usage = rd_usage,
	.ledger_scan = rd_ledger_scan,
	.refusal_add = rd_refusal_add,
	.refusals = rd_refusals,
	.route_read = rd_route_read,
	.route_fail = rd_route_fail,
	.route_open = rd_route_open,
	.route_close = rd_route_close,
};

const struct cs_state_ops cs_state_redis_unix_ops = {
	.prefix = "redis+unix://",
	.open = rd_open_unix,
	.close = rd_close,
	.check = rd_check_unix,
	.syntax = rd_syntax_unix,
	.admit = rd_admit,
	.settle = rd_settle,
	.ledger_add = rd_ledger_add,
	.ledger_purge = rd_ledger_purge,
	.usage = rd_usage,
	.ledger_scan = rd_ledger_scan,
	.refusal_add = rd_refusal_add,
	.refusals = rd_refusals,
	.route_read = rd_route_read,
	.route_fail = rd_route_fail,
	.route_open = rd_route_open,
	.route_close = rd_route_close,
};
