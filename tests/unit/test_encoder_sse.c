/*
 * test_encoder_sse.c — the native SSE encoder: exact bytes for each event
 * kind, JSON escaping of hostile text, ids counting up, and the buffer cap;
 * and the keep-alive every SSE encoder shares: a comment line alone, which
 * changes no event and adds no blank line.
 */
#include <string.h>

#include <json-c/json.h>

#include "buf.h"
#include "encoder.h"
#include "sse_parse.h"
#include "testutil.h"

static void
enc_init(struct cs_enc *e)
{
	memset(e, 0, sizeof(*e));
	memcpy(e->stream_id, "0123456789abcdef", CS_STREAM_ID_LEN + 1);
	assert_int_equal(cs_enc_init(e, &cs_encoder_sse), CS_OK);
}

static void
test_text_and_escaping(void **state)
{
	struct cs_enc e;
	struct cs_buf b;
	struct cs_event ev;
	const char text[] = "a\"b\\c\nd\x01\xc3\xa9</script>";

	(void)state;
	enc_init(&e);
	cs_buf_init(&b, 4096);
	memset(&ev, 0, sizeof(ev));
	ev.type = CS_EV_TEXT;
	ev.text = text;
	ev.text_len = sizeof(text) - 1;
	assert_int_equal(cs_enc_event(&e, &ev, &b), CS_OK);
	assert_string_equal(b.data,
	    "id: 0123456789abcdef:1\n"
	    "data: {\"content\":\"a\\\"b\\\\c\\nd\\u0001\xc3\xa9</script>\"}\n\n");
	cs_buf_free(&b);
}

static void
test_text_with_nul_stays_one_line(void **state)
{
	struct cs_enc e;
	struct cs_buf b;
	struct cs_event ev;
	struct json_object *o;
	const char text[] = "x\0y\r\nz";
	char *data;

	(void)state;
	enc_init(&e);
	cs_buf_init(&b, 4096);
	memset(&ev, 0, sizeof(ev));
	ev.type = CS_EV_TEXT;
	ev.text = text;
	ev.text_len = sizeof(text) - 1;
	assert_int_equal(cs_enc_event(&e, &ev, &b), CS_OK);
	/* One data line: no raw CR/LF may break the SSE framing. */
	data = strstr(b.data, "data: ") + 6;
	assert_int_equal(strcspn(data, "\r\n"), strlen(data) - 2);
	data[strlen(data) - 2] = '\0';
	o = json_tokener_parse(data);
	assert_non_null(o);
	assert_int_equal(
	    json_object_get_string_len(json_object_object_get(o, "content")),
	    6);
	json_object_put(o);
	cs_buf_free(&b);
}

static void
test_finish_error_done_sequence(void **state)
{
	struct cs_enc e;
	struct cs_buf b;
	struct cs_event ev;
	struct cs_usage u = { 3, CS_USAGE_NONE, CS_USAGE_NONE, 1,
		CS_USAGE_NONE };

	(void)state;
	enc_init(&e);
	cs_buf_init(&b, 4096);
	memset(&ev, 0, sizeof(ev));
	ev.type = CS_EV_FINISH;
	ev.finish_reason = "other";
	ev.native_finish_reason = "end_turn";
	ev.tokens = &u;
	e.ttfd_ms = 412; /* the stream's, at the finish */
	e.duration_ms = 2310;
	assert_int_equal(cs_enc_event(&e, &ev, &b), CS_OK);
	assert_int_equal(cs_enc_done(&e, &b), CS_OK);
	/* Unknown counts are null, unknown optional ones left out. */
	assert_string_equal(b.data,
	    "id: 0123456789abcdef:1\nevent: finish\n"
	    "data: {\"finish_reason\":\"other\",\"usage\":{\"prompt_tokens\":3,"
	    "\"completion_tokens\":null,\"total_tokens\":null,"
	    "\"cached_tokens\":1},"
	    "\"native_finish_reason\":\"end_turn\",\"ttfd_ms\":412,"
	    "\"duration_ms\":2310}\n\n"
	    "id: 0123456789abcdef:2\ndata: [DONE]\n\n");
	cs_buf_reset(&b);
	memset(&ev, 0, sizeof(ev));
	ev.type = CS_EV_ERROR;
	ev.error_type = "upstream_timeout";
	ev.error_message = "slow \"provider\"";
	assert_int_equal(cs_enc_event(&e, &ev, &b), CS_OK);
	assert_string_equal(b.data,
	    "id: 0123456789abcdef:3\nevent: error\n"
	    "data: {\"error\":{\"type\":\"upstream_timeout\",\"message\":"
	    "\"slow \\\"provider\\\"\"}}\n\n");
	cs_buf_free(&b);
}

static void
test_finish_without_usage(void **state)
{
	struct cs_enc e;
	struct cs_buf b;
	struct cs_event ev;

	(void)state;
	enc_init(&e);
	cs_buf_init(&b, 4096);
	memset(&ev, 0, sizeof(ev));
	ev.type = CS_EV_FINISH;
	ev.finish_reason = ev.native_finish_reason = "stop";
	e.ttfd_ms = -1; /* no delta came */
	e.duration_ms = 5;
	assert_int_equal(cs_enc_event(&e, &ev, &b), CS_OK);
	assert_string_equal(b.data,
	    "id: 0123456789abcdef:1\nevent: finish\n"
	    "data: {\"finish_reason\":\"stop\",\"usage\":null,"
	    "\"ttfd_ms\":null,\"duration_ms\":5}\n\n");
	cs_buf_free(&b);
}

static void
test_keepalive_and_error_body(void **state)
{
	struct cs_enc e;
	struct cs_buf b;

	(void)state;
	enc_init(&e);
	cs_buf_init(&b, 4096);
	assert_int_equal(cs_enc_prologue(&e, &b), CS_OK);
	assert_string_equal(b.data, ": keep-alive\n");
	assert_int_equal(e.seq, 0);
	cs_buf_reset(&b);
	assert_int_equal(
	    cs_enc_error_body(&e, "invalid_request", "bad\nthing", &b), CS_OK);
	assert_string_equal(b.data,
	    "{\"error\":{\"type\":\"invalid_request\","
	    "\"message\":\"bad\\nthing\"}}");
	cs_buf_free(&b);
}

/* Events as a WHATWG parser dispatches them: "type|data|id" lines. */
struct seen {
	struct cs_buf text;
};

static enum cs_err
seen_cb(void *ctx, const struct cs_sse_event *ev)
{
	struct seen *sn = ctx;
	enum cs_err r;

	if ((r = cs_buf_append(&sn->text, ev->type, ev->type_len)) != CS_OK ||
	    (r = cs_buf_puts(&sn->text, "|")) != CS_OK ||
	    (r = cs_buf_append(&sn->text, ev->data, ev->data_len)) != CS_OK ||
	    (r = cs_buf_puts(&sn->text, "|")) != CS_OK ||
	    (r = cs_buf_append(&sn->text, ev->id, ev->id_len)) != CS_OK)
		return r;
	return cs_buf_puts(&sn->text, "\n");
}

/* Parse a whole stream; the dispatched events in sn, comments counted. */
static unsigned long
parse_all(const struct cs_buf *b, struct seen *sn)
{
	struct cs_sse *p;
	unsigned long comments;

	cs_buf_init(&sn->text, 1 << 16);
	assert_non_null(p = cs_sse_new(4096, 1 << 16, seen_cb, sn));
	assert_int_equal(cs_sse_feed(p, b->data, b->len), CS_OK);
	assert_int_equal(cs_sse_end(p), CS_OK);
	comments = cs_sse_comments(p);
	cs_sse_free(p);
	return comments;
}

/*
 * @microsoft/fetch-event-source's rule: every blank line hands the block
 * before it to onmessage, data or not.  Each blank line must therefore
 * end a block that has a data line.  Returns the number of blank lines.
 */
static size_t
blank_lines_all_end_data(const struct cs_buf *b)
{
	const char *s = b->data, *end = b->data + b->len, *nl;
	size_t blanks = 0;
	int has_data = 0;

	for (; s < end; s = nl + 1) {
		nl = memchr(s, '\n', (size_t)(end - s));
		assert_non_null(nl); /* the stream ends with a LF */
		assert_null(memchr(s, '\r', (size_t)(nl - s)));
		if (nl == s) {
			assert_true(has_data); /* no empty message */
			has_data = 0;
			blanks++;
		} else if (nl - s >= 5 && memcmp(s, "data:", 5) == 0)
			has_data = 1;
	}
	assert_false(has_data); /* the last event ended */
	return blanks;
}

/* prologue, then a text delta, a finish and the end marker, with n
 * keep-alives before, between and after them. */
static void
play(const struct cs_encoder *ops, int n, struct cs_buf *b)
{
	struct cs_enc e;
	struct cs_event ev;
	int i, step;

	memset(&e, 0, sizeof(e));
	memcpy(e.stream_id, "0123456789abcdef", CS_STREAM_ID_LEN + 1);
	e.model = "m";
	e.created = 1767225600;
	assert_int_equal(cs_enc_init(&e, ops), CS_OK);
	cs_buf_init(b, 1 << 16);
	assert_int_equal(cs_enc_prologue(&e, b), CS_OK);
	for (step = 0; step < 3; step++) {
		for (i = 0; i < n; i++)
			assert_int_equal(cs_enc_keepalive(&e, b), CS_OK);
		memset(&ev, 0, sizeof(ev));
		if (step == 0) {
			ev.type = CS_EV_TEXT;
			ev.text = "Hel";
			ev.text_len = 3;
		} else if (step == 1) {
			ev.type = CS_EV_FINISH;
			ev.finish_reason = ev.native_finish_reason = "stop";
		} else
			break;
		assert_int_equal(cs_enc_event(&e, &ev, b), CS_OK);
	}
	assert_int_equal(cs_enc_done(&e, b), CS_OK);
	cs_enc_free(&e);
}

/* Every SSE encoder: a keep-alive is ": keep-alive\n" alone; written
 * before, between or right before events (twice in a row too) it adds no
 * blank line and leaves each event exactly as a parser saw it without. */
static void
test_keepalive_is_a_lone_comment(void **state)
{
	static const struct cs_encoder *const encs[] = {
		&cs_encoder_sse,
		&cs_encoder_openai,
		&cs_encoder_ui_stream,
	};
	struct cs_buf plain, kept;
	struct seen sp, sk;
	struct cs_enc e;
	unsigned long c0, c2;
	size_t i;

	(void)state;
	for (i = 0; i < CS_ARRAY_LEN(encs); i++) {
		memset(&e, 0, sizeof(e));
		assert_int_equal(cs_enc_init(&e, encs[i]), CS_OK);
		cs_buf_init(&kept, 64);
		assert_int_equal(cs_enc_keepalive(&e, &kept), CS_OK);
		assert_string_equal(kept.data, ": keep-alive\n");
		cs_buf_free(&kept);
		cs_enc_free(&e);

		play(encs[i], 0, &plain);
		play(encs[i], 2, &kept);
		/* 2 before the delta, 2 before finish, 2 before the end */
		assert_int_equal(kept.len, plain.len + 6 * 13);
		assert_int_equal(blank_lines_all_end_data(&kept),
		    blank_lines_all_end_data(&plain));
		c0 = parse_all(&plain, &sp);
		c2 = parse_all(&kept, &sk);
		assert_int_equal(c2, c0 + 6);
		assert_true(sp.text.len > 0);
		assert_string_equal(sk.text.data, sp.text.data);
		cs_buf_free(&sp.text);
		cs_buf_free(&sk.text);
		cs_buf_free(&plain);
		cs_buf_free(&kept);
	}
}

static void
test_buffer_cap(void **state)
{
	struct cs_enc e;
	struct cs_buf b;
	struct cs_event ev;
	char big[200];

	(void)state;
	enc_init(&e);
	cs_buf_init(&b, 64);
	memset(big, 'x', sizeof(big));
	memset(&ev, 0, sizeof(ev));
	ev.type = CS_EV_TEXT;
	ev.text = big;
	ev.text_len = sizeof(big);
	assert_int_equal(cs_enc_event(&e, &ev, &b), CS_ETOOBIG);
	assert_true(b.len <= 64);
	assert_int_equal(b.len, 0); /* no partial frame */
	cs_buf_free(&b);
}

/* The event ids' counter is formatted without printf. */
static void
test_put_ulong(void **state)
{
	static const struct {
		unsigned long v;
		const char *want;
	} cases[] = {
		{ 0, "0" },
		{ 7, "7" },
		{ 10, "10" },
		{ 4294967296UL, "4294967296" },
		{ 18446744073709551615UL, "18446744073709551615" },
	};
	struct cs_buf b;
	size_t i;

	(void)state;
	for (i = 0; i < CS_ARRAY_LEN(cases); i++) {
		cs_buf_init(&b, 64);
		assert_int_equal(cs_buf_put_ulong(&b, cases[i].v), CS_OK);
		assert_int_equal(b.len, strlen(cases[i].want));
		assert_memory_equal(b.data, cases[i].want, b.len);
		cs_buf_free(&b);
	}
	cs_buf_init(&b, 3); /* the cap holds */
	assert_int_not_equal(cs_buf_put_ulong(&b, 1234), CS_OK);
	cs_buf_free(&b);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_text_and_escaping),
		cmocka_unit_test(test_text_with_nul_stays_one_line),
		cmocka_unit_test(test_finish_error_done_sequence),
		cmocka_unit_test(test_finish_without_usage),
		cmocka_unit_test(test_keepalive_and_error_body),
		cmocka_unit_test(test_keepalive_is_a_lone_comment),
		cmocka_unit_test(test_buffer_cap),
		cmocka_unit_test(test_put_ulong),
	};

	return cmocka_run_group_tests_name("encoder_sse", tests, NULL, NULL);
}
