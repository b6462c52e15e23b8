/*
 * fuzz_openai_fastpath.c — differential libFuzzer harness for the plain
 * text-delta reader (providers/openai_fastpath.c) against json-c.
 *
 * The input is one SSE data payload.  Whenever the fast path says yes,
 * json-c must agree: the same bytes parse as exactly one JSON object
 * (whitespace may follow, as in cs_adapter_parse()) whose
 * choices[0].delta.content is a string equal byte for byte to what the
 * fast path decoded, or null/absent when that is empty.  Checked twice:
 * with JSON_TOKENER_STRICT and with the default flags, which are what
 * cs_adapter_parse() uses.  abort() on any disagreement.  A tight
 * buffer limit must turn a yes into a "not sure", never a short read.
 *
 * Seeds: the data lines of tests/fixtures/upstream/openai-*.sse, one per
 * file (the Makefile writes them into build/fuzz/corpus/openai-fastpath/).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "buf.h"
#include "openai_fastpath.h"

#define JSON_DEPTH  64 /* adapter.c's SSE_JSON_DEPTH */
#define CONTENT_MAX (1 << 20)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* cs_adapter_parse()'s rule: only JSON whitespace after the value. */
static int
ws_only(const char *s, size_t i, size_t len)
{
	for (; i < len; i++)
		if (memchr(" \t\n\r", s[i], 4) == NULL)
			return 0;
	return 1;
}

/* choices[0].delta.content of o, or NULL when null or absent. */
static struct json_object *
content_of(struct json_object *o)
{
	struct json_object *v = NULL;

	if (!json_object_is_type(o, json_type_object) ||
	    !json_object_object_get_ex(o, "choices", &v) ||
	    !json_object_is_type(v, json_type_array) ||
	    json_object_array_length(v) != 1)
		abort();
	o = json_object_array_get_idx(v, 0);
	if (!json_object_is_type(o, json_type_object) ||
	    !json_object_object_get_ex(o, "delta", &v) ||
	    !json_object_is_type(v, json_type_object))
		abort();
	if (!json_object_object_get_ex(v, "content", &o) ||
	    json_object_is_type(o, json_type_null))
		return NULL;
	if (!json_object_is_type(o, json_type_string))
		abort();
	return o;
}

/* json-c with these tokener flags must read what the fast path read. */
static void
check_json_c(const char *s, size_t len, int flags, const struct cs_buf *b)
{
	struct json_tokener *tok;
	struct json_object *o, *c;
	size_t n;

	if ((tok = json_tokener_new_ex(JSON_DEPTH)) == NULL)
		abort();
	json_tokener_set_flags(tok, flags);
	o = json_tokener_parse_ex(tok, s, (int)len);
	if (o == NULL || !ws_only(s, json_tokener_get_parse_end(tok), len))
		abort();
	c = content_of(o);
	n = c ? (size_t)json_object_get_string_len(c) : 0;
	if (n != b->len ||
	    (n > 0 && memcmp(json_object_get_string(c), b->data, n) != 0))
		abort();
	json_object_put(o);
	json_tokener_free(tok);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *s = (const char *)data;
	struct cs_buf b, tight;

	cs_buf_init(&b, CONTENT_MAX);
	if (size < CONTENT_MAX && cs_openai_fast_delta(s, size, &b) == 1) {
		check_json_c(s, size, JSON_TOKENER_STRICT, &b);
		check_json_c(s, size, 0, &b);
		/* Exactly the content's size fits; one byte less does not. */
		cs_buf_init(&tight, b.len);
		if (cs_openai_fast_delta(s, size, &tight) != 1 ||
		    tight.len != b.len)
			abort();
		cs_buf_free(&tight);
		cs_buf_init(&tight, b.len - 1);
		if (b.len > 0 && cs_openai_fast_delta(s, size, &tight) != 0)
			abort();
		cs_buf_free(&tight);
	}
	cs_buf_free(&b);
	return 0;
}
