/*
 * admit.c — admission for the chat routes and the settle thread; see
 * admit.h.  The settle queue is the one piece of process state here: the
 * loops hand it finished streams, the settle thread alone talks to the
 * store for them.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "admit.h"
#include "fcgi_out.h"
#include "log.h"
#include "reqctx.h"
#include "request.h"
#include "routes.h"
#include "sha256.h"
#include "state_scan.h"
#include "stream.h"

_Static_assert(CS_MAX_KEY_NAME + 1 <= CS_MAX_NAME, "key names fit");

/* A bucket name for the store: name itself when it fits, else
 * "h:" + its SHA-256 in hex (a long header identity, say). */
static void
bucket_name(char out[CS_STATE_NAME_MAX + 1], const char *name)
{
	unsigned char h[CS_SHA256_LEN];
	size_t n = strlen(name);

	if (n <= CS_STATE_NAME_MAX) {
		memcpy(out, name, n + 1);
		return;
	}
	cs_sha256(name, n, h);
	out[0] = 'h', out[1] = ':';
	cs_hex_encode(h, CS_SHA256_LEN, out + 2);
}

/* ---- who is asking ---- */

/*
 * The [key] the request offers (Authorization: Bearer or x-api-key):
 * CS_OK with *key (NULL when it matches none), CS_EDONE when none is
 * offered or no [key] is configured (an SDK's dummy Bearer token is then
 * nobody's business), else cs_key_from_headers' refusal.  The secret is
 * wiped before returning.
 */
static enum cs_err
offered_key(const struct cs_config *cfg, const struct cs_reqctx *rq,
    const struct cs_access_key **key)
{
	char secret[CS_MAX_SECRET + 1];
	enum cs_err r = CS_EDONE;

	*key = NULL;
	if (cfg->n_keys > 0)
		r = cs_key_from_headers(
		    cs_conn_param(rq->conn, "HTTP_AUTHORIZATION"),
		    cs_conn_param(rq->conn, "HTTP_X_API_KEY"), secret,
		    sizeof(secret));
	if (r == CS_OK)
		*key = cs_key_find(cfg->access_keys, cfg->n_keys, secret);
	explicit_bzero(secret, sizeof(secret));
	return r;
}

/* The access key offered, checked: CS_OK with *key (NULL: none offered
 * and none needed), or CS_EHANDLED after the 401/403. */
static enum cs_err
check_key(const struct cs_config *cfg, const struct cs_reqctx *rq, int v1,
    const struct cs_chat_request *req, struct cs_stream *s,
    const struct cs_access_key **key)
{
	char msg[256];
	enum cs_err r = offered_key(cfg, rq, key);
	size_t i;

	if (r == CS_EDONE && v1 && cfg->api_v1_key) {
		cs_stream_fail(s, CS_FAIL_UNAUTHORIZED,
		    "this API needs an access key: send it as "
		    "\"Authorization: Bearer KEY\" (the site's owner adds a "
		    "[key NAME] section with the secret_sha256 line "
		    "`chatstream --hash-key` prints for it)");
		return CS_EHANDLED;
	}
	if (r == CS_EDONE)
		return CS_OK;
	if (r != CS_OK || *key == NULL) {
		cs_stream_fail(s, CS_FAIL_UNAUTHORIZED,
		    r != CS_OK ? "the access key is malformed (Bearer, or "
		                 "x-api-key: 1..256 printable characters)" :
		                 "the access key is not valid");
		return CS_EHANDLED;
	}
	i = (size_t)(*key - cfg->access_keys);
	if (!(cfg->keys[i].perms & CS_PERM_CHAT)) {
		cs_stream_fail(s, CS_FAIL_FORBIDDEN,
		    "this access key may not chat (its permissions do not "
		    "list chat)");
		return CS_EHANDLED;
	}
	if (!(cfg->keys[i].models_mask &
	        (1UL << (size_t)(req->model - cfg->models)))) {
		snprintf(msg, sizeof(msg),
		    "this access key may not use model %s", req->model->name);
		cs_stream_fail(s, CS_FAIL_MODEL_NOT_ALLOWED, msg);
		return CS_EHANDLED;
	}
	return CS_OK;
}

enum cs_err
cs_admit_permit(const struct cs_config *cfg, const struct cs_reqctx *rq,
    unsigned perm, struct cs_stream *s)
{
	const struct cs_access_key *key;
	enum cs_err r = offered_key(cfg, rq, &key);

	if (key == NULL) {
		cs_stream_fail(s, CS_FAIL_UNAUTHORIZED,
		    r == CS_EDONE  ? "this endpoint needs an access key: send "
		                     "it as \"Authorization: Bearer KEY\"" :
		        r != CS_OK ? "the access key is malformed" :
		                     "the access key is not valid");
		return CS_EHANDLED;
	}
	if (!(cfg->keys[key - cfg->access_keys].perms & perm)) {
		cs_stream_fail(s, CS_FAIL_FORBIDDEN,
		    "this access key's permissions do not allow this endpoint");
		return CS_EHANDLED;
	}
	return CS_OK;
}

/* The identity of the request into out, per client_id: CS_OK, or
 * CS_EHANDLED after the 401 or 400. */
static enum cs_err
identify(const struct cs_config *cfg, const struct cs_reqctx *rq,
    const struct cs_access_key *key, struct cs_stream *s, char *out)
{
	char addr[CS_MAX_ADDR], why[160], msg[CS_MAX_NAME + 8 + 200];
	const char *value = NULL;
	enum cs_err r;

	switch (cfg->id_mode) {
	case CS_ID_IP:
		/* No usable REMOTE_ADDR (a UNIX socket): one shared name. */
		if (cs_client_addr(rq->client,
		        cs_conn_param(rq->conn, "HTTP_X_FORWARDED_FOR"),
		        cfg->trusted_proxies.n > 0 ? &cfg->trusted_proxies :
		                                     NULL,
		        addr, sizeof(addr)) != CS_OK) {
			memcpy(out, "ip:unknown", sizeof("ip:unknown"));
			return CS_OK;
		}
		value = addr;
		break;
	case CS_ID_REMOTE_USER: value = rq->remote_user; break;
	case CS_ID_KEY: value = key != NULL ? key->name : NULL; break;
	case CS_ID_HEADER:
		value = cs_conn_param(rq->conn, cfg->id_param);
		break;
	}
	r = cs_identity(
	    cfg->id_mode, value, out, CS_MAX_IDENTITY, why, sizeof(why));
	if (r == CS_OK)
		return CS_OK;
	if (r == CS_EDONE && cfg->id_mode != CS_ID_HEADER) {
		cs_stream_fail(s, CS_FAIL_UNAUTHORIZED,
		    cfg->id_mode == CS_ID_KEY ?
		        "client_id = key: send an access key as "
		        "\"Authorization: Bearer KEY\"" :
		        "client_id = remote_user, and the web server "
		        "authenticated nobody (REMOTE_USER is unset): this URL "
		        "needs the server's login");
		return CS_EHANDLED;
	}
	snprintf(msg, sizeof(msg), "%s: %s", cfg->client_id,
	    r == CS_EDONE ? "the request does not carry this header" : why);
	cs_stream_fail(s, CS_FAIL_INVALID, msg);
	return CS_EHANDLED;
}

/* ---- the limits ---- */

/* One limit of the identity: the key's when it sets it, else the top
 * level's. */
static long long
pick(long long key_value, long long top)
{
	return key_value >= 0 ? key_value : top;
}

/* The buckets that apply into a (names in names[]); returns their number. */
static size_t
buckets(const struct cs_config *cfg, const struct cs_key_cfg *kc,
    const struct cs_model_cfg *m, const char *identity, struct cs_admit *a,
    char names[][CS_STATE_NAME_MAX + 1])
{
	char joined[CS_MAX_NAME + CS_MAX_IDENTITY + 4];
	struct cs_bucket_req *b;
	size_t n = 0;

	b = &a->b[n];
	b->rpm = kc ? pick(kc->lim.rpm, cfg->lim.rpm) : cfg->lim.rpm;
	b->concurrent = kc ? pick(kc->lim.concurrent, cfg->lim.concurrent) :
	                     cfg->lim.concurrent;
	b->tokens_per_day = kc ?
	    pick(kc->lim.tokens_per_day, cfg->lim.tokens_per_day) :
	    cfg->lim.tokens_per_day;
	if (b->rpm > 0 || b->concurrent > 0 || b->tokens_per_day > 0) {
		bucket_name(names[n], identity);
		b->name = names[n++];
	}
	if (m->lim.rpm > 0 || m->lim.concurrent > 0 ||
	    m->lim.tokens_per_day > 0) {
		b = &a->b[n];
		b->rpm = m->lim.rpm;
		b->concurrent = m->lim.concurrent;
		b->tokens_per_day = m->lim.tokens_per_day;
		snprintf(
		    joined, sizeof(joined), "model:%s|%s", m->name, identity);
		bucket_name(names[n], joined);
		b->name = names[n++];
	}
	if (cfg->global_tokens_per_day > 0) {
		b = &a->b[n];
		memset(b, 0, sizeof(*b));
		b->tokens_per_day = cfg->global_tokens_per_day;
		b->name = "site";
		n++;
	}
	return n;
}

/* Whole seconds, rounded up, at least 1. */
static long long
ceil_s(long long ms)
{
	return ms <= 1000 ? 1 : (ms + 999) / 1000;
}

/* The RateLimit-Policy and RateLimit lines (IETF httpapi draft) of the
 * limit res describes, kind CS_REFUSE_*, with retry_s as Retry-After
 * when > 0, and on /api/v1 OpenAI's x-ratelimit-* trio: into h. */
static void
limit_headers(const struct cs_admit_result *res, int kind, int v1,
    long long retry_s, char *h, size_t len)
{
	static const char *const policy[] = { "", "requests", "concurrency",
		"tokens" };
	static const char *const param[] = { "", ";w=60;qu=\"requests\"",
		";qu=\"concurrent-requests\"", ";w=86400;qu=\"tokens\"" };
	const char *trio = kind == CS_REFUSE_BUDGET ? "tokens" : "requests";
	long long reset = ceil_s(res->reset_ms);
	int n = 0;

	h[0] = '\0';
	if (retry_s > 0)
		n = snprintf(h, len, "Retry-After: %lld\r\n", retry_s);
	if (n >= 0 && (size_t)n < len)
		n += snprintf(h + n, len - (size_t)n,
		    "RateLimit-Policy: \"%s\";q=%lld%s\r\n"
		    "RateLimit: \"%s\";r=%lld;t=%lld\r\n",
		    policy[kind], res->limit, param[kind], policy[kind],
		    res->remaining, reset);
	if (v1 && n >= 0 && (size_t)n < len)
		snprintf(h + n, len - (size_t)n,
		    "x-ratelimit-limit-%s: %lld\r\n"
		    "x-ratelimit-remaining-%s: %lld\r\n"
		    "x-ratelimit-reset-%s: %llds\r\n",
		    trio, res->limit, trio, res->remaining, trio, reset);
}

/* 429 for the refusal res of the buckets in a: the headers, then the
 * error in the route's shape. */
static void
refuse(const struct cs_admit *a, const struct cs_admit_result *res, int v1,
    struct cs_stream *s)
{
	int kind = res->why >= CS_REFUSE_RATE && res->why <= CS_REFUSE_BUDGET ?
	    res->why :
	    CS_REFUSE_RATE;
	long long retry = ceil_s(res->retry_after_ms);
	long long reset = ceil_s(res->reset_ms);
	int site = strcmp(a->b[res->refused].name, "site") == 0;
	char h[CS_STREAM_EXTRA], msg[256];

	limit_headers(res, kind, v1, retry, h, sizeof(h));
	cs_stream_add_headers(s, h);
	if (kind == CS_REFUSE_RATE)
		snprintf(msg, sizeof(msg),
		    "too many requests: at most %lld a minute; retry in "
		    "%lld s",
		    res->limit, retry);
	else if (kind == CS_REFUSE_CONCURRENT)
		snprintf(msg, sizeof(msg),
		    "too many streams at once: at most %lld; retry when "
		    "one has ended",
		    res->limit);
	else
		snprintf(msg, sizeof(msg),
		    "%s daily token budget (%lld) is used up; it renews at "
		    "00:00 UTC, in %lld s",
		    site ? "the site's" : "your", res->limit, reset);
	cs_stream_fail(s,
	    kind == CS_REFUSE_BUDGET ? CS_FAIL_BUDGET : CS_FAIL_LIMITED, msg);
}

/* Tokens of the prompt, estimated from its bytes. */
static long long
prompt_tokens(const struct cs_chat_request *req)
{
	unsigned long long bytes = 0;
	size_t i, j;

	for (i = 0; i < req->n_messages; i++) {
		bytes += req->messages[i].content_len + 16;
		for (j = 0; j < req->messages[i].n_tool_calls; j++)
			bytes += req->messages[i].tool_calls[j].arguments_len;
	}
	return (long long)(bytes / CS_ADMIT_BYTES_PER_TOKEN) + 1;
}

static enum cs_err
admit(const struct cs_config *cfg, struct cs_state **st,
    const struct cs_reqctx *rq, const struct cs_chat_request *req,
    struct cs_stream *s, struct cs_ticket *t)
{
	static atomic_llong warned;
	char names[CS_STATE_MAX_BUCKETS][CS_STATE_NAME_MAX + 1], err[256];
	char h[CS_STREAM_EXTRA];
	int v1 = cs_route_v1(rq->route);
	const struct cs_access_key *key;
	const struct cs_key_cfg *kc = NULL;
	const struct cs_model_cfg *m = req->model;
	struct cs_admit_result res;
	struct cs_admit a;
	enum cs_err r;
	long long max_tokens;

	memset(t, 0, sizeof(*t));
	if (!cfg->admission)
		return CS_OK;
	if (check_key(cfg, rq, v1, req, s, &key) != CS_OK)
		return CS_EHANDLED;
	if (!cfg->counted)
		return CS_OK; /* api_v1_auth = key alone: no store, no ledger */
	if (identify(cfg, rq, key, s, t->identity) != CS_OK)
		return CS_EHANDLED;
	if (key != NULL) {
		kc = &cfg->keys[key - cfg->access_keys];
		snprintf(t->key, sizeof(t->key), "%s", key->name);
	}
	snprintf(t->model, sizeof(t->model), "%s", m->name);
	snprintf(t->upstream, sizeof(t->upstream), "%s", m->up->name);
	t->prompt_est = prompt_tokens(req);
	t->t0_ms = cs_wall_ms();
	t->on = 1;

	memset(&a, 0, sizeof(a));
	if ((a.n = buckets(cfg, kc, m, t->identity, &a, names)) == 0)
		return CS_OK; /* a key, no limit: the ledger only */
	/* What the provider may spend: the prompt and max_tokens as sent
	 * (the model's cap when the client sent none). */
	max_tokens = req->max_tokens > 0 ? req->max_tokens : m->max_tokens;
	a.reserve_tokens = t->prompt_est + max_tokens;
	a.now_ms = t->t0_ms;
	a.expire_ms = a.now_ms + m->up->total_timeout_ms +
	    CS_ADMIT_EXPIRY_MARGIN_MS;
	err[0] = '\0';
	r = *st != NULL ? CS_OK :
	                  cs_state_open(cfg->state, st, err, sizeof(err));
	if (r == CS_OK)
		r = cs_state_admit(*st, &a, &res);
	if (r != CS_OK) {
		if (cs_warn_due(&warned))
			cs_warnx(
			    "admission: the state store %s failed (%s%s%s); "
			    "%s",
			    cfg->state, cs_strerror(r), err[0] ? ": " : "", err,
			    cfg->state_fail_open ? "serving without limits "
			                           "(state_fail = open)" :
			                           "refusing chats (state_fail "
			                           "= closed)");
		if (cfg->state_fail_open)
			return CS_OK;
		t->on = 0;
		cs_stream_fail_retry(s, CS_FAIL_STATE,
		    "the limits cannot be checked right now; retry shortly",
		    CS_ADMIT_STATE_RETRY_S);
		return CS_EHANDLED;
	}
	if (!res.allowed) {
		t->on = 0;
		refuse(&a, &res, v1, s);
		return CS_EHANDLED;
	}
	memcpy(t->id, res.id, sizeof(t->id));
	t->reserved = a.reserve_tokens;
	/* An answer tells what is left of its tightest limit, as the 429
	 * would, so a client can pace itself before it is refused. */
	if (res.kind >= CS_REFUSE_RATE && res.kind <= CS_REFUSE_BUDGET) {
		limit_headers(&res, res.kind, v1, 0, h, sizeof(h));
		cs_stream_add_headers(s, h);
	}
	return CS_OK;
}

/*
 * Refusals the dashboard counts (state_scan.h), added up here per reason
 * until the settle thread writes them: at most one job for them waits in
 * its queue at a time, so a flood of 429s is a few store writes a
 * second, and never crowds the settles out of the queue.
 */
static const char *const refusal_reasons[] = { "rate_limited",
	"budget_exceeded", "unauthorized", "forbidden", "model_not_allowed" };
static atomic_long refusals_owed[CS_ARRAY_LEN(refusal_reasons)];
static atomic_int refusals_queued;

/* cs_store_fn, on the settle thread: every count owed, one write a
 * reason. */
static void
write_refusals(struct cs_state *st, const void *data)
{
	static atomic_llong warned;
	enum cs_err e;
	long n;
	size_t i;

	(void)data;
	atomic_store(&refusals_queued, 0); /* a later one queues again */
	for (i = 0; i < CS_ARRAY_LEN(refusal_reasons); i++) {
		if ((n = atomic_exchange(&refusals_owed[i], 0)) <= 0)
			continue;
		if (n > CS_STATE_LIMIT_MAX)
			n = CS_STATE_LIMIT_MAX;
		if ((e = cs_state_refusal_add(
		         st, refusal_reasons[i], n, cs_wall_ms())) != CS_OK &&
		    cs_warn_due(&warned))
			cs_warnx("admission: %ld refusal(s) (%s) were not "
			         "counted: %s",
			    n, refusal_reasons[i], cs_strerror(e));
	}
}

/* The refusal s was answered with, if it is one the dashboard counts
 * (401, 403 and 429: never a ledger record): owed, and the job that
 * writes them queued unless one waits already. */
static void
refused(const struct cs_config *cfg, const struct cs_stream *s)
{
	struct cs_access acc;
	size_t i;

	memset(&acc, 0, sizeof(acc));
	cs_stream_account(s, &acc);
	if ((acc.status != 401 && acc.status != 403 && acc.status != 429) ||
	    acc.error == NULL)
		return;
	for (i = 0; i < CS_ARRAY_LEN(refusal_reasons); i++)
		if (strcmp(acc.error, refusal_reasons[i]) == 0)
			break;
	if (i == CS_ARRAY_LEN(refusal_reasons))
		return;
	atomic_fetch_add(&refusals_owed[i], 1);
	if (atomic_exchange(&refusals_queued, 1) == 0 &&
	    !cs_admit_defer(cfg, write_refusals, NULL, 0))
		atomic_store(&refusals_queued, 0); /* dropped: the next tries */
}

enum cs_err
cs_admit(const struct cs_config *cfg, struct cs_state **st,
    const struct cs_reqctx *rq, const struct cs_chat_request *req,
    struct cs_stream *s, struct cs_ticket *t)
{
	long long t0 = cs_mono_us();
	enum cs_err r = admit(cfg, st, rq, req, s, t);


	/* The access line's admit_us: the check, the store and the
	 * refusal, when something is counted. */
	t->admit_us = cfg->counted ? (long)(cs_mono_us() - t0) : -1;
	if (r == CS_EHANDLED)
		refused(cfg, s);
	return r;
}

/* ---- the settle ---- */

/* One finished stream: its settle and its ledger record. */
struct job {
	char id[CS_STATE_ID_LEN + 1];
	long long used;
	char request_id[CS_STREAM_ID_LEN + 1];
	char identity[CS_MAX_IDENTITY];
	char key[CS_MAX_KEY_NAME + 1];
	char model[CS_MAX_NAME], upstream[CS_MAX_NAME];
	char outcome[24];
	long long time_ms, prompt, completion, delivered;
	long ttfd_ms, duration_ms;
	int tried;
	/* Instead of a settle: fn(the store, data) (cs_admit_defer). */
	cs_store_fn fn;
	unsigned char data[CS_ADMIT_JOB_DATA];
};

static struct {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct job *q; /* a ring of CS_ADMIT_QUEUE */
	size_t head, n;
	int running, stop;
	int wanted; /* cs_admit_start was called: a server with loops */
	long long drain_until; /* wall ms; while stopping */
	pthread_t th;
	const struct cs_config *cfg;
} sq = { PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER };

/* Tokens the stream used: the provider's, else the estimate. */
static long long
used_tokens(const struct cs_ticket *t, const struct cs_access *a)
{
	if (a->prompt_tokens >= 0 && a->completion_tokens >= 0 &&
	    a->prompt_tokens + a->completion_tokens > 0)
		return a->prompt_tokens + a->completion_tokens;
	return t->prompt_est +
	    (long long)(a->text_bytes / CS_ADMIT_BYTES_PER_TOKEN);
}

/*
 * The identity as the ledger keeps it: an address as a keyed hash
 * ("iph:" and 32 hex digits), so the ledger can group a client's
 * requests without holding where they came from.  The key is derived
 * from the provider key and the store's name, the same in every process
 * of the site and unknown to its clients.  ledger_raw_ip = yes keeps
 * the address as it was counted ("ip:203.0.113.7").
 */
static void
ledger_identity(const struct cs_config *cfg, const char *id, char *out)
{
	const char *key = cfg->upstreams[0].api_key;
	unsigned char h[CS_SHA256_LEN];
	struct cs_sha256 c;

	if (strncmp(id, "ip:", 3) != 0 || cfg->ledger_raw_ip) {
		snprintf(out, CS_MAX_IDENTITY, "%s", id);
		return;
	}
	cs_sha256_init(&c);
	cs_sha256_update(&c, "chatstream ledger", 18);
	if (key != NULL)
		cs_sha256_update(&c, key, strlen(key) + 1);
	cs_sha256_update(&c, cfg->state, strlen(cfg->state) + 1);
	cs_sha256_update(&c, id, strlen(id));
	cs_sha256_final(&c, h);
	memcpy(out, "iph:", 4);
	cs_hex_encode(h, 16, out + 4);
}

/* Do job j with the store *st (opened on first use): the settle, then
 * the ledger record. */
static void
settle(const struct cs_config *cfg, struct cs_state **st, const struct job *j)
{
	static atomic_llong warned;
	char err[256] = "", ident[CS_MAX_IDENTITY];
	struct cs_ledger_rec rec;
	enum cs_err r = CS_OK;

	if (*st == NULL)
		r = cs_state_open(cfg->state, st, err, sizeof(err));
	if (j->fn != NULL) {
		if (r == CS_OK)
			j->fn(*st, j->data);
		else if (cs_warn_due(&warned))
			cs_warnx("routing: the state store %s failed (%s%s%s)",
			    cfg->state, cs_strerror(r), err[0] ? ": " : "",
			    err);
		return;
	}
	if (r == CS_OK && j->id[0] != '\0')
		r = cs_state_settle(*st, j->id, j->used, cs_wall_ms());
	if (r == CS_OK) {
		ledger_identity(cfg, j->identity, ident);
		memset(&rec, 0, sizeof(rec));
		rec.time_ms = j->time_ms;
		rec.request_id = j->request_id;
		rec.identity = ident;
		rec.key_name = j->key;
		rec.model = j->model;
		rec.upstream = j->upstream;
		rec.tried = j->tried;
		rec.outcome = j->outcome;
		rec.prompt_tokens = j->prompt;
		rec.completion_tokens = j->completion;
		rec.generated_tokens = j->completion;
		rec.delivered_tokens = j->delivered;
		rec.ttfd_ms = j->ttfd_ms;
		rec.duration_ms = j->duration_ms;
		r = cs_state_ledger_add(*st, &rec);
	}
	if (r != CS_OK && cs_warn_due(&warned))
		cs_warnx("admission: settle in %s failed (%s%s%s); the "
		         "reservation expires by itself",
		    cfg->state, cs_strerror(r), err[0] ? ": " : "", err);
}

/* Retention: at most once an hour, drop the records older than
 * ledger_days (0: keep them all).  *last is when it was last done. */
static void
purge_due(const struct cs_config *cfg, struct cs_state *st, long long *last)
{
	static atomic_llong warned;
	long long now = cs_wall_ms();
	enum cs_err r;

	if (st == NULL || cfg->ledger_days <= 0 ||
	    now - *last < CS_ADMIT_PURGE_EVERY_MS)
		return;
	*last = now;
	r = cs_state_ledger_purge(st, now - cfg->ledger_days * 86400000LL);
	if (r != CS_OK && cs_warn_due(&warned))
		cs_warnx("admission: purging the ledger in %s failed (%s); "
		         "tried again in an hour",
		    cfg->state, cs_strerror(r));
}

/* The store's upkeep (cs_state_maintain) after writes (*dirty), once
 * CS_STATE_MAINTAIN_MS has passed since *last, or now when idle. */
static void
maintain_due(struct cs_state *st, long long *last, int *dirty, int idle)
{
	long long now = cs_mono_us() / 1000;

	if (st == NULL || !*dirty ||
	    (!idle && now - *last < CS_STATE_MAINTAIN_MS))
		return;
	*last = now;
	*dirty = 0;
	cs_state_maintain(st); /* a failure is logged by the backend */
}

static void *
settle_thread(void *arg)
{
	struct cs_state *st = NULL;
	long long purged = 0, maintained = 0;
	struct timespec until;
	struct job j;
	int dirty = 0;

	(void)arg;
	pthread_setname_np(pthread_self(), "cs-settle");
	pthread_mutex_lock(&sq.mu);
	for (;;) {
		while (sq.n == 0 && !sq.stop) {
			if (!dirty) {
				pthread_cond_wait(&sq.cv, &sq.mu);
				continue;
			}
			/* Idle after writes: the upkeep is still owed. */
			cs_realtime_in(&until, CS_STATE_MAINTAIN_MS);
			if (pthread_cond_timedwait(&sq.cv, &sq.mu, &until) ==
			    ETIMEDOUT) {
				pthread_mutex_unlock(&sq.mu);
				maintain_due(st, &maintained, &dirty, 1);
				pthread_mutex_lock(&sq.mu);
			}
		}
		if (sq.n == 0 || (sq.stop && cs_wall_ms() > sq.drain_until))
			break;
		j = sq.q[sq.head];
		sq.head = (sq.head + 1) % CS_ADMIT_QUEUE;
		sq.n--;
		/* The store is used unlocked: a loop never waits on it. */
		pthread_mutex_unlock(&sq.mu);
		settle(sq.cfg, &st, &j);
		dirty = 1;
		purge_due(sq.cfg, st, &purged);
		maintain_due(st, &maintained, &dirty, 0);
		pthread_mutex_lock(&sq.mu);
	}
	if (sq.n > 0)
		cs_warnx("admission: %zu settle(s) left at exit; their "
		         "reservations expire by themselves",
		    sq.n);
	pthread_mutex_unlock(&sq.mu);
	cs_state_close(st);
	return NULL;
}

/* Put j on the settle queue: 1, or 0 when it is full or no thread
 * runs (*running says which). */
static int
queue(const struct job *j, int *running)
{
	int queued = 0;

	pthread_mutex_lock(&sq.mu);
	*running = sq.running && !sq.stop;
	if (*running && sq.n < CS_ADMIT_QUEUE) {
		sq.q[(sq.head + sq.n) % CS_ADMIT_QUEUE] = *j;
		sq.n++;
		queued = 1;
		pthread_cond_signal(&sq.cv);
	}
	pthread_mutex_unlock(&sq.mu);
	return queued;
}

void
cs_admit_end(const struct cs_config *cfg, struct cs_state **st,
    const struct cs_ticket *t, const struct cs_access *a)
{
	static atomic_llong warned;
	struct job j;
	int queued = 0, running;

	if (t == NULL || !t->on)
		return;
	memset(&j, 0, sizeof(j));
	memcpy(j.id, t->id, sizeof(j.id));
	j.used = used_tokens(t, a);
	snprintf(j.request_id, sizeof(j.request_id), "%s", a->id ? a->id : "");
	memcpy(j.identity, t->identity, sizeof(j.identity));
	memcpy(j.key, t->key, sizeof(j.key));
	memcpy(j.model, t->model, sizeof(j.model));
	snprintf(j.upstream, sizeof(j.upstream), "%s",
	    a->upstream != NULL ? a->upstream : t->upstream);
	j.tried = a->tried;
	snprintf(
	    j.outcome, sizeof(j.outcome), "%s", a->outcome ? a->outcome : "");
	j.time_ms = t->t0_ms;
	j.prompt = a->prompt_tokens;
	j.completion = a->completion_tokens;
	j.delivered = (long long)(a->text_bytes / CS_ADMIT_BYTES_PER_TOKEN);
	j.ttfd_ms = a->ttfd_ms;
	j.duration_ms = a->duration_ms;
	if ((queued = queue(&j, &running)) != 0)
		return;
	if (!running && st != NULL) {
		settle(cfg, st, &j); /* CGI, or a worker: may block */
		if (*st != NULL)
			cs_state_maintain(*st); /* no settle thread does */
		return;
	}
	if (cs_warn_due(&warned))
		cs_warnx("admission: the settle queue is %s; reservation %s "
		         "expires by itself",
		    running ? "full" : "not running", j.id);
}

int
cs_admit_defer(
    const struct cs_config *cfg, cs_store_fn fn, const void *data, size_t len)
{
	static atomic_llong warned;
	struct cs_state *st = NULL;
	struct job *j;
	int running, done = 1;

	if (len > CS_ADMIT_JOB_DATA || (j = calloc(1, sizeof(*j))) == NULL)
		return 0;
	j->fn = fn;
	if (len > 0)
		memcpy(j->data, data, len);
	if (!queue(j, &running)) {
		if (!running && !sq.wanted)
			settle(cfg, &st, j); /* CGI: no loop waits on it */
		else {
			done = 0;
			if (cs_warn_due(&warned))
				cs_warnx("admission: the settle queue is "
				         "full; a store write was dropped");
		}
		cs_state_close(st);
	}
	free(j);
	return done;
}

int
cs_admit_start(const struct cs_config *cfg)
{
	/* Before the loops start: from now on one may ask, never block it
	 * (cs_admit_defer drops what it cannot queue). */
	sq.wanted = 1;
	if ((sq.q = calloc(CS_ADMIT_QUEUE, sizeof(*sq.q))) == NULL) {
		cs_warnx("admission: out of memory for the settle queue");
		return -1;
	}
	sq.cfg = cfg;
	if ((errno = pthread_create(&sq.th, NULL, settle_thread, NULL)) != 0) {
		cs_warn("admission: cannot start the settle thread");
		free(sq.q);
		sq.q = NULL;
		return -1;
	}
	pthread_mutex_lock(&sq.mu);
	sq.running = 1;
	pthread_mutex_unlock(&sq.mu);
	return 0;
}

void
cs_admit_stop(long drain_ms)
{
	pthread_mutex_lock(&sq.mu);
	if (!sq.running) {
		pthread_mutex_unlock(&sq.mu);
		return;
	}
	sq.stop = 1;
	sq.drain_until = cs_wall_ms() + drain_ms;
	pthread_cond_signal(&sq.cv);
	pthread_mutex_unlock(&sq.mu);
	pthread_join(sq.th, NULL);
	pthread_mutex_lock(&sq.mu);
	sq.running = 0;
	pthread_mutex_unlock(&sq.mu);
	free(sq.q);
	sq.q = NULL;
}
