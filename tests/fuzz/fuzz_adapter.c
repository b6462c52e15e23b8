/*
 * fuzz_adapter.c — libFuzzer harness for one provider adapter's response
 * parser, chosen at build time by its name in cs_providers[]:
 * -DFUZZ_PROVIDER='"openai-chat"' (any HTTP provider).  `make fuzz`
 * builds it once per HTTP provider of the table.
 *
 * Input: byte 0 picks how the body is cut into adapter->feed() calls (0:
 * one call; else sizes of 1..64 bytes from a generator seeded with it, so
 * split points inside lines, UTF-8 and JSON are explored); byte 1 picks
 * whether the client goes away (high bit set: the emit callback returns
 * CS_ECLIENTGONE at event number byte1 & 0x1f); the rest is the body.
 * The seeds are the tests/fixtures/upstream/ files of the adapter's
 * format, each twice: fed whole ("\0\0" in front) and cut ("\7\0"); the
 * Makefile writes them into build/fuzz/corpus/<name>/.
 *
 * Feeding stops at the first non-CS_OK return, as upstream.c stops the
 * transfer; only a body fed to the end gets adapter->end().  Checked, with
 * abort() on violation:
 *   - no event after a finish or an error, none after CS_ECLIENTGONE;
 *   - text deltas non-empty, of a known kind; tool calls with id, name
 *     and arguments as strings; finish reasons in the native set; an
 *     error's type a non-empty string, its message a string; usage counts
 *     known and non-negative, or CS_USAGE_NONE;
 *   - the result: CS_ECLIENTGONE once the client is gone; else CS_OK
 *     with exactly one finish and no error; else CS_EUPSTREAM with
 *     exactly one error event (adapter.h: a non-CS_OK return is the
 *     emit callback's code, or CS_EUPSTREAM after an error event).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "config.h"
#include "provider.h"

#ifndef FUZZ_PROVIDER
#error "build with -DFUZZ_PROVIDER='\"NAME\"'"
#endif

#define GONE_FLAG 0x80
#define GONE_MASK 0x1f
#define MAX_CHUNK 64

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct run {
	int gone_at; /* emit number that returns CLIENTGONE; -1 never */
	int n_events;
	int n_finish;
	int n_error;
	int gone; /* CLIENTGONE was returned */
};

/* A NUL-terminated string; ASan catches a read past its end. */
static size_t
check_str(const char *s)
{
	if (s == NULL)
		abort();
	return strlen(s);
}

/* Every count is known and non-negative, or CS_USAGE_NONE. */
static void
check_usage(const struct cs_usage *u)
{
	if (u->prompt < CS_USAGE_NONE || u->completion < CS_USAGE_NONE ||
	    u->total < CS_USAGE_NONE || u->cached < CS_USAGE_NONE ||
	    u->reasoning < CS_USAGE_NONE)
		abort();
}

static void
check_finish_reason(const char *r)
{
	/* event.h's native set; "other" is what cs_finish_reason_native()
	 * gives for a reason it does not know. */
	static const char *const native[] = {
		"stop",
		"length",
		"tool_calls",
		"content_filter",
		"error",
		"unknown",
		"other",
	};
	size_t i;

	check_str(r);
	for (i = 0; i < CS_ARRAY_LEN(native); i++)
		if (strcmp(r, native[i]) == 0)
			return;
	abort();
}

static enum cs_err
on_event(void *ctx, const struct cs_event *ev)
{
	struct run *st = ctx;
	volatile char c;

	if (st->gone || st->n_finish > 0 || st->n_error > 0)
		abort();
	switch (ev->type) {
	case CS_EV_TEXT:
		if (ev->kind != CS_TEXT_CONTENT &&
		    ev->kind != CS_TEXT_REFUSAL &&
		    ev->kind != CS_TEXT_REASONING)
			abort();
		if (ev->text == NULL || ev->text_len == 0)
			abort();
		c = ev->text[0];
		c = ev->text[ev->text_len - 1];
		(void)c;
		break;
	case CS_EV_TOOL_CALL:
		check_str(ev->tool_id);
		check_str(ev->tool_name);
		check_str(ev->tool_args);
		break;
	case CS_EV_FINISH:
		check_finish_reason(ev->finish_reason);
		if (ev->native_finish_reason != NULL)
			check_str(ev->native_finish_reason);
		if (ev->tokens != NULL)
			check_usage(ev->tokens);
		st->n_finish++;
		break;
	case CS_EV_ERROR:
		/* A provider's empty message must not reach the client as
		 * "" (corpus seeds <name>/error-empty-message). */
		if (check_str(ev->error_type) == 0 ||
		    check_str(ev->error_message) == 0)
			abort();
		st->n_error++;
		break;
	default: abort();
	}
	if (st->n_events++ == st->gone_at) {
		st->gone = 1;
		return CS_ECLIENTGONE;
	}
	return CS_OK;
}

static void
check_result(const struct run *st, enum cs_err r)
{
	if (st->gone) {
		if (r != CS_ECLIENTGONE)
			abort();
	} else if (r == CS_OK) {
		if (st->n_finish != 1 || st->n_error != 0)
			abort();
	} else if (r != CS_EUPSTREAM || st->n_error != 1) {
		abort();
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const struct cs_provider *p = cs_provider_find(FUZZ_PROVIDER);
	struct cs_adapter *a;
	struct run st = { .gone_at = -1 };
	const char *body;
	size_t len, at = 0, n;
	uint32_t seed;
	enum cs_err r = CS_OK;

	if (p == NULL || p->adapter == NULL)
		abort(); /* not an HTTP provider of cs_providers[] */
	if (size < 2)
		return 0;
	seed = data[0];
	if (data[1] & GONE_FLAG)
		st.gone_at = data[1] & GONE_MASK;
	body = (const char *)data + 2;
	len = size - 2;

	if ((a = p->adapter->new (p, on_event, &st)) == NULL)
		abort();
	while (at < len && r == CS_OK) {
		n = len - at;
		if (seed != 0) {
			seed = seed * 1103515245u + 12345u;
			n = 1 + (seed >> 16) % MAX_CHUNK;
			if (n > len - at)
				n = len - at;
		}
		r = p->adapter->feed(a, body + at, n);
		at += n;
	}
	if (r == CS_OK)
		r = p->adapter->end(a);
	check_result(&st, r);
	p->adapter->free(a);
	return 0;
}
