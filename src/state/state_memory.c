/*
 * state_memory.c — the "memory" backend: one store per process, shared by
 * every handle and guarded by one mutex (the one piece of global state in
 * src/state/, as a per-handle store would not limit anything across
 * threads).  It lives while a handle is open: the last close frees it.
 *
 * Bounds: CS_STATE_MEM_BUCKETS names in a hash table with an LRU list;
 * a new name when full evicts the least recently used one that no
 * reservation holds (losing its counts), and names idle for two days go
 * first.  CS_STATE_MEM_HOLDS reservations in a dense array, scanned on
 * each admit (the live ones only: as many as streams in flight).  The
 * ledger is a ring of CS_STATE_MEM_LEDGER records; the oldest is
 * overwritten.  A name keeps one day of settled tokens: settling a
 * reservation of yesterday after today's first settle adds nothing.
 *
 * Routing (state_route.h) has a table of its own, so a deployment and a
 * bucket of the same name never meet: CS_STATE_ROUTE_MEM_NAMES
 * deployments in slots hashed by name (a new one when full takes the
 * slot of an idle one, found by a scan, else CS_ESTATE) and
 * CS_STATE_ROUTE_MEM_OPEN open streams in a dense array, its expired
 * entries dropped on each read and open.
 *
 * Refusal counters (state_scan.h): CS_STATE_MEM_REFUSALS (day, reason)
 * pairs in a dense array; a new pair when full takes the place of one of
 * the oldest day.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "list.h"
#include "state.h"
#include "state_int.h"
#include "state_route.h"
#include "state_scan.h"

#define HASH_SIZE  131072 /* a power of two */
#define ROUTE_HASH 8192   /* a power of two, at most HASH_SIZE */
#define EVICT_SCAN 64     /* LRU entries looked at for one to evict */
#define IDLE_MS    (2 * CS_STATE_DAY_MS)

struct bucket {
	struct bucket *hnext;       /* hash chain */
	struct cs_link lru;         /* mem.lru; head: most recent */
	struct cs_bucket_seen rate; /* have_rate, level, last_ms */
	long long day, used;        /* settled tokens of that day */
	long long touched_ms;
	long holds; /* reservations naming it: never evicted while > 0 */
	char name[CS_STATE_NAME_MAX + 1];
};

struct hold {
	char id[CS_STATE_ID_LEN + 1];
	long long day, reserved, expire_ms;
	struct bucket *b[CS_STATE_MAX_BUCKETS];
	int metered[CS_STATE_MAX_BUCKETS];
	size_t n;
};

struct route_dep {
	struct route_dep *hnext; /* hash chain, or the free list */
	struct cs_route_dep d;
	long open; /* streams naming it: never evicted while > 0 */
	char name[CS_STATE_NAME_MAX + 1]; /* "" when the slot is free */
};

struct route_stream {
	char id[CS_STATE_ID_LEN + 1];
	struct route_dep *dep;
	long long expire_ms;
};

struct ledger_slot {
	int live;
	struct cs_ledger_rec rec; /* strings point into text */
	char *text;
};

struct refusal {
	long long day, n;
	char reason[CS_STATE_REASON_MAX + 1];
};

static struct {
	pthread_mutex_t mu;
	long refs;
	struct bucket **hash;
	struct cs_list lru;
	size_t nbuckets;
	struct hold *holds;
	size_t nholds;
	struct ledger_slot *ledger;
	size_t ledger_next;
	struct route_dep *rdeps, **rhash, *rfree;
	size_t rmade; /* rdeps[0..rmade) have been used */
	struct route_stream *rstreams;
	size_t nrstreams;
	struct refusal rf[CS_STATE_MEM_REFUSALS];
	size_t nrf;
} mem = { .mu = PTHREAD_MUTEX_INITIALIZER };

static size_t
hash_of(const char *s)
{
	unsigned long h = 2166136261u;

	for (; *s != '\0'; s++)
		h = (h ^ (unsigned char)*s) * 16777619u;
	return h & (HASH_SIZE - 1);
}

/* b (on the LRU list) to its front, touched at now_ms. */
static void
lru_front(struct bucket *b, long long now_ms)
{
	cs_list_remove(&mem.lru, &b->lru);
	cs_list_push_front(&mem.lru, &b->lru);
	if (now_ms > b->touched_ms)
		b->touched_ms = now_ms;
}

static struct bucket *
lru_bucket(struct cs_link *l)
{
	return l != NULL ? CS_CONTAINER(l, struct bucket, lru) : NULL;
}

static void
bucket_free(struct bucket *b)
{
	struct bucket **pp = &mem.hash[hash_of(b->name)];

	while (*pp != b)
		pp = &(*pp)->hnext;
	*pp = b->hnext;
	cs_list_remove(&mem.lru, &b->lru);
	free(b);
	mem.nbuckets--;
}

/* Frees names idle since before now - IDLE_MS, then, when still full,
 * one of the least recently used ones.  0, or -1 when all are held. */
static int
make_room(long long now_ms)
{
	struct bucket *b, *prev;
	int i;

	while ((b = lru_bucket(mem.lru.tail)) != NULL && b->holds == 0 &&
	    b->touched_ms < now_ms - IDLE_MS)
		bucket_free(b);
	if (mem.nbuckets < CS_STATE_MEM_BUCKETS)
		return 0;
	for (b = lru_bucket(mem.lru.tail), i = 0; b != NULL && i < EVICT_SCAN;
	     b = prev, i++) {
		prev = lru_bucket(b->lru.prev);
		if (b->holds == 0) {
			bucket_free(b);
			return 0;
		}
	}
	return -1;
}

/* The bucket of name, created when create; NULL when absent or full. */
static struct bucket *
bucket_get(const char *name, int create, long long now_ms)
{
	size_t h = hash_of(name);
	struct bucket *b;

	for (b = mem.hash[h]; b != NULL; b = b->hnext)
		if (strcmp(b->name, name) == 0)
			return b;
	if (!create || make_room(now_ms) != 0 ||
	    (b = calloc(1, sizeof(*b))) == NULL)
		return NULL;
	snprintf(b->name, sizeof(b->name), "%s", name);
	b->hnext = mem.hash[h];
	mem.hash[h] = b;
	b->touched_ms = now_ms;
	cs_list_push_front(&mem.lru, &b->lru);
	mem.nbuckets++;
	return b;
}

static void
hold_remove(size_t i)
{
	size_t k;

	for (k = 0; k < mem.holds[i].n; k++)
		mem.holds[i].b[k]->holds--;
	mem.holds[i] = mem.holds[--mem.nholds];
}

static void
ledger_clear(struct ledger_slot *s)
{
	free(s->text);
	memset(s, 0, sizeof(*s));
}

static void
mem_free_all(void)
{
	size_t i;

	while (mem.nholds > 0)
		hold_remove(mem.nholds - 1);
	while (mem.lru.head != NULL)
		bucket_free(lru_bucket(mem.lru.head));
	for (i = 0; mem.ledger != NULL && i < CS_STATE_MEM_LEDGER; i++)
		ledger_clear(&mem.ledger[i]);
	free(mem.ledger);
	free(mem.holds);
	free(mem.hash);
	free(mem.rdeps);
	free(mem.rhash);
	free(mem.rstreams);
	mem.ledger = NULL;
	mem.holds = NULL;
	mem.hash = NULL;
	mem.ledger_next = 0;
	mem.rdeps = mem.rfree = NULL;
	mem.rhash = NULL;
	mem.rstreams = NULL;
	mem.rmade = mem.nrstreams = 0;
	mem.nrf = 0;
}

static enum cs_err
mem_open(struct cs_state *st, const char *arg, char *err, size_t errlen)
{
	enum cs_err e = CS_OK;

	(void)arg;
	pthread_mutex_lock(&mem.mu);
	if (mem.refs == 0) {
		mem.hash = calloc(HASH_SIZE, sizeof(*mem.hash));
		mem.holds = calloc(CS_STATE_MEM_HOLDS, sizeof(*mem.holds));
		mem.ledger = calloc(CS_STATE_MEM_LEDGER, sizeof(*mem.ledger));
		mem.rdeps = calloc(
		    CS_STATE_ROUTE_MEM_NAMES, sizeof(*mem.rdeps));
		mem.rhash = calloc(ROUTE_HASH, sizeof(*mem.rhash));
		mem.rstreams = calloc(
		    CS_STATE_ROUTE_MEM_OPEN, sizeof(*mem.rstreams));
		if (mem.hash == NULL || mem.holds == NULL ||
		    mem.ledger == NULL || mem.rdeps == NULL ||
		    mem.rhash == NULL || mem.rstreams == NULL) {
			mem_free_all();
			cs_state_errf(
			    err, errlen, "state store memory: out of memory");
			e = CS_ENOMEM;
			goto out;
		}
	}
	mem.refs++;
	st->be = &mem;
out:
	pthread_mutex_unlock(&mem.mu);
	return e;
}

static void
mem_close(struct cs_state *st)
{
	(void)st;
	pthread_mutex_lock(&mem.mu);
	if (--mem.refs == 0)
		mem_free_all();
	pthread_mutex_unlock(&mem.mu);
}

static enum cs_err
mem_check(const char *arg, char *msg, size_t len)
{
	(void)arg;
	cs_state_errf(msg, len,
	    "state store memory: in this process only (limits are per "
	    "process, not shared between processes)");
	return CS_OK;
}

/* What the store holds for a's buckets at a->now_ms; drops expired
 * reservations on the way. */
static void
mem_seen(
    const struct cs_admit *a, struct bucket **b, struct cs_bucket_seen *seen)
{
	long long day = a->now_ms / CS_STATE_DAY_MS;
	struct hold *h;
	size_t i = 0, j, k;

	while (i < mem.nholds) {
		h = &mem.holds[i];
		if (h->expire_ms <= a->now_ms) {
			hold_remove(i);
			continue;
		}
		for (k = 0; k < h->n; k++)
			for (j = 0; j < a->n; j++) {
				if (h->b[k] != b[j])
					continue;
				seen[j].live++;
				if (h->metered[k] && h->day == day)
					seen[j].reserved += h->reserved;
			}
		i++;
	}
	for (j = 0; j < a->n; j++) {
		seen[j].have_rate = b[j]->rate.have_rate;
		seen[j].level = b[j]->rate.level;
		seen[j].last_ms = b[j]->rate.last_ms;
		seen[j].used = b[j]->day == day ? b[j]->used : 0;
	}
}

static enum cs_err
mem_admit(struct cs_state *st, const struct cs_admit *a, const char *id,
    struct cs_admit_result *res)
{
	struct cs_bucket_seen seen[CS_STATE_MAX_BUCKETS];
	struct bucket *b[CS_STATE_MAX_BUCKETS];
	long long new_level[CS_STATE_MAX_BUCKETS];
	enum cs_err e = CS_OK;
	struct hold *h;
	size_t i;

	(void)st;
	memset(seen, 0, sizeof(seen));
	pthread_mutex_lock(&mem.mu);
	for (i = 0; i < a->n; i++) {
		b[i] = bucket_get(a->b[i].name, 1, a->now_ms);
		if (b[i] == NULL) {
			e = CS_ESTATE; /* every name held by a reservation */
			goto out;
		}
		b[i]->holds++; /* pinned while the others are found */
	}
	mem_seen(a, b, seen);
	cs_state_judge(a, seen, new_level, res);
	if (!res->allowed)
		goto out;
	if (mem.nholds == CS_STATE_MEM_HOLDS) {
		e = CS_ESTATE;
		goto out;
	}
	h = &mem.holds[mem.nholds++];
	memset(h, 0, sizeof(*h));
	memcpy(h->id, id, sizeof(h->id));
	h->day = a->now_ms / CS_STATE_DAY_MS;
	h->reserved = a->reserve_tokens;
	h->expire_ms = a->expire_ms;
	h->n = a->n;
	for (i = 0; i < a->n; i++) {
		h->b[i] = b[i];
		b[i]->holds++;
		h->metered[i] = a->b[i].tokens_per_day > 0;
		if (a->b[i].rpm > 0) {
			b[i]->rate.have_rate = 1;
			b[i]->rate.level = new_level[i];
			if (a->now_ms > b[i]->rate.last_ms)
				b[i]->rate.last_ms = a->now_ms;
		}
		lru_front(b[i], a->now_ms);
	}
out:
	while (i-- > 0)
		b[i]->holds--;
	pthread_mutex_unlock(&mem.mu);
	return e;
}

static enum cs_err
mem_settle(struct cs_state *st, const char *id, long long used_tokens,
    long long now_ms)
{
	struct bucket *b;
	struct hold *h;
	size_t i, k;

	(void)st;
	pthread_mutex_lock(&mem.mu);
	for (i = 0; i < mem.nholds; i++)
		if (strcmp(mem.holds[i].id, id) == 0)
			break;
	if (i == mem.nholds || mem.holds[i].expire_ms <= now_ms)
		goto out; /* unknown, or expired: nothing to do */
	h = &mem.holds[i];
	for (k = 0; k < h->n; k++) {
		if (!h->metered[k])
			continue;
		b = h->b[k];
		if (b->day < h->day) {
			b->day = h->day;
			b->used = 0;
		}
		if (b->day == h->day) {
			b->used += used_tokens;
			if (b->used > CS_STATE_TOKENS_MAX)
				b->used = CS_STATE_TOKENS_MAX;
		}
	}
	hold_remove(i);
out:
	pthread_mutex_unlock(&mem.mu);
	return CS_OK;
}

static enum cs_err
mem_ledger_add(struct cs_state *st, const struct cs_ledger_rec *rec)
{
	const char *in[] = { rec->request_id, rec->identity, rec->key_name,
		rec->model, rec->upstream, rec->outcome };
	const char **out[CS_ARRAY_LEN(in)];
	struct ledger_slot slot;
	size_t i, len[CS_ARRAY_LEN(in)], total = 0;
	char *p;

	(void)st;
	memset(&slot, 0, sizeof(slot));
	slot.rec = *rec;
	out[0] = &slot.rec.request_id;
	out[1] = &slot.rec.identity;
	out[2] = &slot.rec.key_name;
	out[3] = &slot.rec.model;
	out[4] = &slot.rec.upstream;
	out[5] = &slot.rec.outcome;
	for (i = 0; i < CS_ARRAY_LEN(in); i++)
		total += (len[i] = in[i] != NULL ? strlen(in[i]) : 0) + 1;
	if ((slot.text = malloc(total)) == NULL)
		return CS_ENOMEM;
	for (p = slot.text, i = 0; i < CS_ARRAY_LEN(in); i++) {
		memcpy(p, in[i] != NULL ? in[i] : "", len[i] + 1);
		*out[i] = p;
		p += len[i] + 1;
	}
	slot.live = 1;
	pthread_mutex_lock(&mem.mu);
	ledger_clear(&mem.ledger[mem.ledger_next]);
	mem.ledger[mem.ledger_next] = slot;
	mem.ledger_next = (mem.ledger_next + 1) % CS_STATE_MEM_LEDGER;
	pthread_mutex_unlock(&mem.mu);
	return CS_OK;
}

static enum cs_err
mem_ledger_purge(struct cs_state *st, long long before_ms)
{
	size_t i;

	(void)st;
	pthread_mutex_lock(&mem.mu);
	for (i = 0; i < CS_STATE_MEM_LEDGER; i++)
		if (mem.ledger[i].live && mem.ledger[i].rec.time_ms < before_ms)
			ledger_clear(&mem.ledger[i]);
	for (i = 0; i < mem.nrf;)
		if (mem.rf[i].day < before_ms / CS_STATE_DAY_MS)
			mem.rf[i] = mem.rf[--mem.nrf];
		else
			i++;
	pthread_mutex_unlock(&mem.mu);
	return CS_OK;
}

/* fn under the lock: the records are the store's own, not copies. */
static enum cs_err
mem_ledger_scan(
    struct cs_state *st, long long since_ms, cs_ledger_fn fn, void *ctx)
{
	size_t i;

	(void)st;
	pthread_mutex_lock(&mem.mu);
	for (i = 0; i < CS_STATE_MEM_LEDGER; i++)
		if (mem.ledger[i].live && mem.ledger[i].rec.time_ms >= since_ms)
			fn(ctx, &mem.ledger[i].rec);
	pthread_mutex_unlock(&mem.mu);
	return CS_OK;
}

static enum cs_err
mem_refusal_add(
    struct cs_state *st, const char *reason, long n, long long now_ms)
{
	long long day = now_ms / CS_STATE_DAY_MS;
	struct refusal *r = NULL;
	size_t i;

	(void)st;
	pthread_mutex_lock(&mem.mu);
	for (i = 0; i < mem.nrf && r == NULL; i++)
		if (mem.rf[i].day == day &&
		    strcmp(mem.rf[i].reason, reason) == 0)
			r = &mem.rf[i];
	if (r == NULL && mem.nrf < CS_STATE_MEM_REFUSALS)
		r = &mem.rf[mem.nrf++];
	else if (r == NULL) { /* full: one of the oldest day goes */
		r = &mem.rf[0];
		for (i = 1; i < mem.nrf; i++)
			if (mem.rf[i].day < r->day)
				r = &mem.rf[i];
	}
	if (r->day != day || strcmp(r->reason, reason) != 0) {
		r->day = day;
		r->n = 0;
		snprintf(r->reason, sizeof(r->reason), "%s", reason);
	}
	r->n += n;
	pthread_mutex_unlock(&mem.mu);
	return CS_OK;
}

/* Copied out under the lock, then fn without it. */
static enum cs_err
mem_refusals(struct cs_state *st, long long since_ms, long long until_ms,
    cs_refusal_fn fn, void *ctx)
{
	long long lo = since_ms / CS_STATE_DAY_MS,
	          hi = until_ms / CS_STATE_DAY_MS;
	struct refusal *out;
	size_t i, n = 0;

	(void)st;
	if ((out = malloc(sizeof(mem.rf))) == NULL)
		return CS_ENOMEM;
	pthread_mutex_lock(&mem.mu);
	for (i = 0; i < mem.nrf; i++)
		if (mem.rf[i].day >= lo && mem.rf[i].day <= hi)
			out[n++] = mem.rf[i];
	pthread_mutex_unlock(&mem.mu);
	for (i = 0; i < n; i++)
		fn(ctx, out[i].day, out[i].reason, out[i].n);
	free(out);
	return CS_OK;
}

struct usage_row {
	char key[CS_STATE_NAME_MAX + 1];
	long long prompt, completion;
};

static int
usage_cmp(const void *x, const void *y)
{
	return strcmp(((const struct usage_row *)x)->key,
	    ((const struct usage_row *)y)->key);
}

/* Copies the matching records out under the lock, then groups them
 * without it, so fn may take its time (or call back into the store). */
static enum cs_err
mem_usage(struct cs_state *st, long long since_ms, enum cs_usage_by by,
    cs_usage_row_fn fn, void *ctx)
{
	struct usage_row *rows = NULL;
	const struct cs_ledger_rec *r;
	long long n, prompt, completion;
	size_t i, j, nrows = 0;

	(void)st;
	if ((rows = malloc(CS_STATE_MEM_LEDGER * sizeof(*rows))) == NULL)
		return CS_ENOMEM;
	pthread_mutex_lock(&mem.mu);
	for (i = 0; i < CS_STATE_MEM_LEDGER; i++) {
		r = &mem.ledger[i].rec;
		if (!mem.ledger[i].live || r->time_ms < since_ms)
			continue;
		cs_state_usage_key(r, by, rows[nrows].key);
		rows[nrows].prompt = cs_state_count(r->prompt_tokens);
		rows[nrows].completion = cs_state_count(r->completion_tokens);
		nrows++;
	}
	pthread_mutex_unlock(&mem.mu);
	qsort(rows, nrows, sizeof(*rows), usage_cmp);
	for (i = 0; i < nrows; i = j) {
		n = prompt = completion = 0;
		for (j = i; j < nrows && strcmp(rows[j].key, rows[i].key) == 0;
		     j++) {
			n++;
			prompt += rows[j].prompt;
			completion += rows[j].completion;
		}
		fn(ctx, rows[i].key, n, prompt, completion);
	}
	free(rows);
	return CS_OK;
}

/* Drops the streams expired at now_ms. */
static void
route_sweep(long long now_ms)
{
	size_t i = 0;

	while (i < mem.nrstreams) {
		if (mem.rstreams[i].expire_ms > now_ms) {
			i++;
			continue;
		}
		mem.rstreams[i].dep->open--;
		mem.rstreams[i] = mem.rstreams[--mem.nrstreams];
	}
}

/* The deployment called name; NULL when the store has none. */
static struct route_dep *
route_find(const char *name)
{
	struct route_dep *r;

	for (r = mem.rhash[hash_of(name) & (ROUTE_HASH - 1)]; r != NULL;
	     r = r->hnext)
		if (strcmp(r->name, name) == 0)
			return r;
	return NULL;
}

/* Frees the slot of one idle deployment (state_route.h) at now_ms (the
 * expired streams swept): 0, or -1 when none is idle. */
static int
route_evict(long long now_ms)
{
	struct route_dep *r, **pp;
	size_t i;

	for (i = 0; i < mem.rmade; i++) {
		r = &mem.rdeps[i];
		if (r->name[0] != '\0' && r->open == 0 &&
		    r->d.cooled_until_ms <= now_ms && r->d.win_end_ms <= now_ms)
			break;
	}
	if (i == mem.rmade)
		return -1;
	for (pp = &mem.rhash[hash_of(r->name) & (ROUTE_HASH - 1)]; *pp != r;
	     pp = &(*pp)->hnext)
		;
	*pp = r->hnext;
	memset(r, 0, sizeof(*r));
	r->hnext = mem.rfree;
	mem.rfree = r;
	return 0;
}

/* The deployment called name, made when absent; NULL when full. */
static struct route_dep *
route_get(const char *name, long long now_ms)
{
	struct route_dep *r, **head;

	if ((r = route_find(name)) != NULL)
		return r;
	if (mem.rfree == NULL && mem.rmade == CS_STATE_ROUTE_MEM_NAMES &&
	    route_evict(now_ms) != 0)
		return NULL;
	if (mem.rfree != NULL) {
		r = mem.rfree;
		mem.rfree = r->hnext;
	} else
		r = &mem.rdeps[mem.rmade++];
	memset(r, 0, sizeof(*r));
	snprintf(r->name, sizeof(r->name), "%s", name);
	head = &mem.rhash[hash_of(name) & (ROUTE_HASH - 1)];
	r->hnext = *head;
	*head = r;
	return r;
}

static enum cs_err
mem_route_read(struct cs_state *st, const char *const *names, size_t n,
    long long now_ms, struct cs_route_seen *seen)
{
	static const struct cs_route_dep none;
	struct route_dep *r;
	size_t i;

	(void)st;
	pthread_mutex_lock(&mem.mu);
	route_sweep(now_ms);
	for (i = 0; i < n; i++) {
		r = route_find(names[i]);
		cs_state_route_seen(r != NULL ? &r->d : &none,
		    r != NULL ? r->open : 0, now_ms, &seen[i]);
	}
	pthread_mutex_unlock(&mem.mu);
	return CS_OK;
}

static enum cs_err
mem_route_fail(struct cs_state *st, const char *name, long allowed_fails,
    long long window_ms, long long cooldown_ms, long long now_ms,
    long long *cooled_until_ms)
{
	struct cs_route_dep d = { 0, 0, 0 };
	struct route_dep *r;
	enum cs_err e = CS_OK;

	(void)st;
	pthread_mutex_lock(&mem.mu);
	if ((r = route_find(name)) != NULL)
		d = r->d;
	if (!cs_state_route_failed(&d, allowed_fails, window_ms, cooldown_ms,
	        now_ms, cooled_until_ms))
		goto out; /* cooling: nothing changes */
	if (r == NULL) {
		route_sweep(now_ms); /* an idle name may be one to evict */
		r = route_get(name, now_ms);
	}
	if (r == NULL) {
		*cooled_until_ms = 0;
		e = CS_ESTATE; /* every name cooling, counting or open */
		goto out;
	}
	r->d = d;
out:
	pthread_mutex_unlock(&mem.mu);
	return e;
}

static enum cs_err
mem_route_open(struct cs_state *st, const char *name, long long now_ms,
    long long expire_ms, const char *id)
{
	struct route_stream *s;
	struct route_dep *r;
	enum cs_err e = CS_OK;
	size_t i;

	(void)st;
	pthread_mutex_lock(&mem.mu);
	route_sweep(now_ms);
	for (i = 0; i < mem.nrstreams; i++)
		if (strcmp(mem.rstreams[i].id, id) == 0 &&
		    strcmp(mem.rstreams[i].dep->name, name) == 0) {
			mem.rstreams[i].expire_ms = expire_ms; /* renewed */
			goto out;
		}
	if (mem.nrstreams == CS_STATE_ROUTE_MEM_OPEN ||
	    (r = route_get(name, now_ms)) == NULL) {
		e = CS_ESTATE;
		goto out;
	}
	s = &mem.rstreams[mem.nrstreams++];
	memcpy(s->id, id, sizeof(s->id));
	s->dep = r;
	s->expire_ms = expire_ms;
	r->open++;
out:
	pthread_mutex_unlock(&mem.mu);
	return e;
}

/* An expired stream goes too: it counted for nothing already. */
static enum cs_err
mem_route_close(
    struct cs_state *st, const char *name, const char *id, long long now_ms)
{
	size_t i;

	(void)st;
	(void)now_ms;
	pthread_mutex_lock(&mem.mu);
	for (i = 0; i < mem.nrstreams; i++)
		if (strcmp(mem.rstreams[i].id, id) == 0 &&
		    strcmp(mem.rstreams[i].dep->name, name) == 0)
			break;
	if (i < mem.nrstreams) {
		mem.rstreams[i].dep->open--;
		mem.rstreams[i] = mem.rstreams[--mem.nrstreams];
	}
	pthread_mutex_unlock(&mem.mu);
	return CS_OK;
}

const struct cs_state_ops cs_state_memory_ops = {
	.prefix = "memory",
	.open = mem_open,
	.close = mem_close,
	.check = mem_check,
	.admit = mem_admit,
	.settle = mem_settle,
	.ledger_add = mem_ledger_add,
	.ledger_purge = mem_ledger_purge,
	.usage = mem_usage,
	.ledger_scan = mem_ledger_scan,
	.refusal_add = mem_refusal_add,
	.refusals = mem_refusals,
	.route_read = mem_route_read,
	.route_fail = mem_route_fail,
	.route_open = mem_route_open,
	.route_close = mem_route_close,
};
