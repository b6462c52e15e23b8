/*
 * test_encoder_sse.c — the native SSE encoder: exact bytes for each event
 * kind, JSON escaping of hostile text, ids counting up, and the buffer cap.
 */
#include <string.h>

#include <json-c/json.h>

#include "buf.h"
#include "encoder.h"
#include "testutil.h"

static void
enc_init(struct cs_enc *e)
{
	memset(e, 0, sizeof(*e));
	e->ops = &cs_encoder_sse;
	memcpy(e->stream_id, "0123456789abcdef", CS_STREAM_ID_LEN + 1);
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
	assert_int_equal(e.ops->event(&e, &ev, &b), CS_OK);
	assert_string_equal(b.data, "id: 0123456789abcdef:1\n"
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
	assert_int_equal(e.ops->event(&e, &ev, &b), CS_OK);
	/* One data line: no raw CR/LF may break the SSE framing. */
	data = strstr(b.data, "data: ") + 6;
	assert_int_equal(strcspn(data, "\r\n"), strlen(data) - 2);
	data[strlen(data) - 2] = '\0';
	o = json_tokener_parse(data);
	assert_non_null(o);
	assert_int_equal(json_object_get_string_len(
	    json_object_object_get(o, "content")), 6);
	json_object_put(o);
	cs_buf_free(&b);
}

static void
test_finish_error_done_sequence(void **state)
{
	struct cs_enc e;
	struct cs_buf b;
	struct cs_event ev;
	struct json_object *usage;

	(void)state;
	enc_init(&e);
	cs_buf_init(&b, 4096);
	usage = json_tokener_parse("{\"prompt_tokens\":3}");
	memset(&ev, 0, sizeof(ev));
	ev.type = CS_EV_FINISH;
	ev.finish_reason = "other";
	ev.native_finish_reason = "end_turn";
	ev.usage = usage;
	assert_int_equal(e.ops->event(&e, &ev, &b), CS_OK);
	assert_int_equal(e.ops->done(&e, &b), CS_OK);
	assert_string_equal(b.data, "id: 0123456789abcdef:1\nevent: finish\n"
	    "data: {\"finish_reason\":\"other\",\"usage\":{\"prompt_tokens\":3},"
	    "\"native_finish_reason\":\"end_turn\"}\n\n"
	    "id: 0123456789abcdef:2\ndata: [DONE]\n\n");
	cs_buf_reset(&b);
	memset(&ev, 0, sizeof(ev));
	ev.type = CS_EV_ERROR;
	ev.error_type = "upstream_timeout";
	ev.error_message = "slow \"provider\"";
	assert_int_equal(e.ops->event(&e, &ev, &b), CS_OK);
	assert_string_equal(b.data, "id: 0123456789abcdef:3\nevent: error\n"
	    "data: {\"error\":{\"type\":\"upstream_timeout\",\"message\":"
	    "\"slow \\\"provider\\\"\"}}\n\n");
	json_object_put(usage);
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
	assert_int_equal(e.ops->event(&e, &ev, &b), CS_OK);
	assert_string_equal(b.data, "id: 0123456789abcdef:1\nevent: finish\n"
	    "data: {\"finish_reason\":\"stop\",\"usage\":null}\n\n");
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
	assert_int_equal(e.ops->prologue(&e, &b), CS_OK);
	assert_string_equal(b.data, ": keep-alive\n\n");
	assert_int_equal(e.seq, 0);
	cs_buf_reset(&b);
	assert_int_equal(e.ops->error_body("invalid_request", "bad\nthing",
	    &b), CS_OK);
	assert_string_equal(b.data, "{\"error\":{\"type\":\"invalid_request\","
	    "\"message\":\"bad\\nthing\"}}");
	cs_buf_free(&b);
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
	assert_int_equal(e.ops->event(&e, &ev, &b), CS_ETOOBIG);
	assert_true(b.len <= 64);
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
		{ 0, "0" }, { 7, "7" }, { 10, "10" }, { 4294967296UL,
		    "4294967296" }, { 18446744073709551615UL,
		    "18446744073709551615" },
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
	cs_buf_init(&b, 3);    /* the cap holds */
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
		cmocka_unit_test(test_buffer_cap),
		cmocka_unit_test(test_put_ulong),
	};

	return cmocka_run_group_tests_name("encoder_sse", tests, NULL, NULL);
}
