/*
 * check.c — deployment self-check endpoints; see check.h.
 *
 * GET /api/check?seconds=S&interval_ms=I&pad=P streams S seconds of
 * "tick" events every I ms, each padded with P bytes so a buffering server
 * shows how much it holds back.  Nobody logs in to use it, so it is small
 * by construction: at most 60 s and 1 MiB of padding, and at most
 * CHECK_CONCURRENT at once (503 beyond).
 *
 *   id: <stream-id>:<n>
 *   event: tick
 *   data: {"seq":n,"of":N,"elapsed_ms":...,"pad":"....."}
 *
 * then the usual finish event and [DONE].  elapsed_ms is the server's send
 * time relative to its first tick; comparing it with arrival times shows
 * whether the web server in between streams.
 */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "check.h"
#include "config.h"
#include "fcgi_out.h"
#include "reqctx.h"
#include "stream.h"
#include "upstream.h"

#define CHECK_SECONDS_DEF  4
#define CHECK_SECONDS_MAX  60
#define CHECK_BYTES_MAX    (1024 * 1024) /* padding in one check */
#define CHECK_CONCURRENT   4             /* checks running at once */
#define CHECK_INTERVAL_DEF 100
#define CHECK_INTERVAL_MIN 10
#define CHECK_INTERVAL_MAX 10000
#define CHECK_PAD_DEF      512
#define CHECK_PAD_MAX      16384

/* An unauthenticated endpoint must stay small. */
static atomic_int running;

struct check_params {
	long seconds;
	long interval_ms;
	long pad;
};

/* Strict decimal in [min, max] from s[0..n). */
static int
parse_num(const char *s, size_t n, long min, long max, long *out)
{
	unsigned long long v;

	if (cs_parse_dec(s, n, (unsigned long long)max + 1, &v) != 0 ||
	    v < (unsigned long long)min || v > (unsigned long long)max)
		return -1;
	*out = (long)v;
	return 0;
}

/* Parse QUERY_STRING; unknown keys are refused so typos show. */
static int
parse_query(const char *q, struct check_params *p, char *err, size_t errlen)
{
	const char *amp, *eq;
	size_t klen, vlen;

	p->seconds = CHECK_SECONDS_DEF;
	p->interval_ms = CHECK_INTERVAL_DEF;
	p->pad = CHECK_PAD_DEF;
	for (; q != NULL && *q != '\0'; q = *amp ? amp + 1 : amp) {
		amp = q + strcspn(q, "&");
		if (amp == q)
			continue;
		eq = memchr(q, '=', (size_t)(amp - q));
		klen = eq ? (size_t)(eq - q) : (size_t)(amp - q);
		vlen = eq ? (size_t)(amp - eq - 1) : 0;
		if (klen == 7 && strncmp(q, "seconds", 7) == 0) {
			if (!eq ||
			    parse_num(eq + 1, vlen, 1, CHECK_SECONDS_MAX,
			        &p->seconds) != 0)
				goto bad;
		} else if (klen == 11 && strncmp(q, "interval_ms", 11) == 0) {
			if (!eq ||
			    parse_num(eq + 1, vlen, CHECK_INTERVAL_MIN,
			        CHECK_INTERVAL_MAX, &p->interval_ms) != 0)
				goto bad;
		} else if (klen == 3 && strncmp(q, "pad", 3) == 0) {
			if (!eq ||
			    parse_num(
			        eq + 1, vlen, 0, CHECK_PAD_MAX, &p->pad) != 0)
				goto bad;
		} else {
			snprintf(err, errlen,
			    "unknown parameter (accepted: "
			    "seconds=1..%d, interval_ms=%d..%d, pad=0..%d)",
			    CHECK_SECONDS_MAX, CHECK_INTERVAL_MIN,
			    CHECK_INTERVAL_MAX, CHECK_PAD_MAX);
			return -1;
		}
	}
	if (p->seconds * 1000 / p->interval_ms * p->pad > CHECK_BYTES_MAX) {
		snprintf(err, errlen,
		    "too much padding: seconds*1000/"
		    "interval_ms*pad must stay within %d bytes",
		    CHECK_BYTES_MAX);
		return -1;
	}
	return 0;
bad:
	snprintf(err, errlen,
	    "bad value: seconds=1..%d, interval_ms=%d..%d, "
	    "pad=0..%d",
	    CHECK_SECONDS_MAX, CHECK_INTERVAL_MIN, CHECK_INTERVAL_MAX,
	    CHECK_PAD_MAX);
	return -1;
}

/* One running check: its parameters, the next tick, its scratch. */
struct check {
	struct check_params p;
	long n, of; /* the next tick, of this many */
	int64_t t0; /* the first tick's time */
	struct cs_buf ev;
};

static void
check_free(void *arg)
{
	struct check *k = arg;

	cs_buf_free(&k->ev);
	free(k);
	atomic_fetch_sub(&running, 1);
}

/* Tick n, then the finish after the last; ticks keep their schedule
 * (t0 + (n - 1) * interval), so a late one does not push the rest back. */
static enum cs_err
check_step(void *arg, struct cs_stream *s, long *next_ms)
{
	struct check *k = arg;
	struct cs_event fin;
	enum cs_err r;
	long i;

	if (k->n == 1) {
		if ((r = cs_stream_start(s)) != CS_OK)
			return r;
		k->t0 = cs_now_ms();
	}
	if (k->n > k->of) {
		memset(&fin, 0, sizeof(fin));
		fin.type = CS_EV_FINISH;
		fin.finish_reason = fin.native_finish_reason = "stop";
		return (r = cs_stream_emit(s, &fin)) != CS_OK ? r : CS_EDONE;
	}
	cs_buf_reset(&k->ev);
	if (cs_buf_printf(&k->ev,
	        "id: %s:%lu\nevent: tick\ndata: "
	        "{\"seq\":%ld,\"of\":%ld,\"elapsed_ms\":%lld,\"pad\":\"",
	        cs_stream_id(s), cs_stream_next_seq(s), k->n, k->of,
	        (long long)(cs_now_ms() - k->t0)) != CS_OK)
		return CS_ENOMEM;
	for (i = 0; i < k->p.pad; i++)
		if (cs_buf_append(&k->ev, ".", 1) != CS_OK)
			return CS_ENOMEM;
	if (cs_buf_puts(&k->ev, "\"}\n\n") != CS_OK)
		return CS_ENOMEM;
	if ((r = cs_stream_write_raw(s, k->ev.data, k->ev.len)) != CS_OK)
		return r;
	/* The next tick on its schedule; the finish follows the last at
	 * once. */
	k->n++;
	*next_ms = k->n <= k->of ?
	    (long)(k->t0 + (k->n - 1) * k->p.interval_ms - cs_now_ms()) :
	    0;
	return CS_OK;
}

static const struct cs_source_ops check_source = {
	.step = check_step,
	.free = check_free,
};

struct cs_run *
cs_check_stream(const struct cs_config *cfg, const struct cs_reqctx *rq,
    struct cs_stream *s)
{
	struct check_params p;
	struct check *k;
	char err[160];

	if (!cfg->self_check) {
		cs_stream_fail(s, CS_FAIL_NOT_FOUND,
		    "the self-check is "
		    "disabled on this server (self_check = no)");
		return NULL;
	}
	if (parse_query(rq->query, &p, err, sizeof(err)) != 0) {
		cs_stream_fail(s, CS_FAIL_INVALID, err);
		return NULL;
	}
	if (atomic_fetch_add(&running, 1) >= CHECK_CONCURRENT) {
		atomic_fetch_sub(&running, 1);
		cs_stream_fail_retry(s, CS_FAIL_BUSY,
		    "too many self-checks "
		    "are running; try again in a minute",
		    60);
		return NULL;
	}
	if ((k = calloc(1, sizeof(*k))) == NULL) {
		atomic_fetch_sub(&running, 1);
		cs_stream_fail(s, CS_FAIL_INTERNAL, "out of memory");
		return NULL;
	}
	k->p = p;
	k->n = 1;
	k->of = p.seconds * 1000 / p.interval_ms;
	if (k->of < 1)
		k->of = 1;
	cs_buf_init(&k->ev, CHECK_PAD_MAX + 512);
	return cs_upstream_prepare_source(&check_source, k, s);
}

void
cs_check_info(const struct cs_config *cfg, const struct cs_reqctx *rq,
    struct cs_stream *s)
{
	struct json_object *o;
	const char *sw = rq->server_software, *body;

	if (!cfg->self_check) {
		cs_stream_fail(s, CS_FAIL_NOT_FOUND,
		    "the self-check is "
		    "disabled on this server (self_check = no)");
		return;
	}
	if ((o = json_object_new_object()) == NULL) {
		cs_stream_fail(s, CS_FAIL_INTERNAL, "out of memory");
		return;
	}
	json_object_object_add(
	    o, "chatstream", json_object_new_string(CS_VERSION));
	json_object_object_add(
	    o, "server_software", json_object_new_string(sw ? sw : ""));
	json_object_object_add(o, "gateway",
	    json_object_new_string(
	        cs_conn_is_fcgi(rq->conn) ? "fastcgi" : "cgi"));
	json_object_object_add(o, "keepalive_seconds",
	    json_object_new_double(cfg->keepalive_ms / 1000.0));
	json_object_object_add(
	    o, "self_check", json_object_new_boolean(cfg->self_check));
	body = json_object_to_json_string_ext(
	    o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
	cs_stream_reply(s, 200, "application/json", body, strlen(body));
	json_object_put(o);
}
