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
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "list.h"
#include "state.h"
#include "state_int.h"

#define HASH_SIZE  131072 /* a power of two */
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

struct ledger_slot {
	int live;
	struct cs_ledger_rec rec; /* strings point into text */
	char *text;
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
	mem.ledger = NULL;
	mem.holds = NULL;
	mem.hash = NULL;
	mem.ledger_next = 0;
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
		if (mem.hash == NULL || mem.holds == NULL ||
		    mem.ledger == NULL) {
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
	pthread_mutex_unlock(&mem.mu);
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
};
