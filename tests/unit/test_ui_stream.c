/*
 * test_ui_stream.c — the AI SDK's useChat: request translation (table: UI
 * body in, native JSON or refusal out) and the UI message stream encoder
 * (events in, exact bytes out).  Bodies are copied into exact-size heap
 * buffers so ASan catches any read past len.
 */
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "encoder.h"
#include "request_ui.h"
#include "testutil.h"

struct tcase {
	const char *in;
	enum cs_err want;
	const char *out; /* native JSON, or a part of the refusal */
};

static const struct tcase cases[] = {
	/* native bodies pass through untouched */
	{ "{\"messages\":[{\"role\":\"user\",\"content\":\"parts\"}]}",
	    CS_EDONE, NULL },
	{ "{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}", CS_EDONE,
	    NULL },
	{ "{\"trigger\":", CS_EDONE, NULL },
	/* text, extra top-level fields kept, reasoning dropped */
	{ "{\"id\":\"c\",\"trigger\":\"submit-message\",\"model\":\"m\","
	  "\"messages\":[{\"id\":\"u\",\"role\":\"user\",\"parts\":["
	  "{\"type\":\"text\",\"text\":\"a\"},{\"type\":\"data-x\",\"data\":1},"
	  "{\"type\":\"text\",\"text\":\"b\"}]}]}",
	    CS_OK,
	    "{\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"text\","
	    "\"text\":\"a\"},{\"type\":\"text\",\"text\":\"b\"}]}],"
	    "\"model\":\"m\"}" },
	/* assistant blocks, tool calls and results */
	{ "{\"messages\":[{\"id\":\"a\",\"role\":\"assistant\",\"parts\":["
	  "{\"type\":\"step-start\"},{\"type\":\"reasoning\",\"text\":\"r\"},"
	  "{\"type\":\"tool-f\",\"toolCallId\":\"c1\",\"state\":"
	  "\"output-available\",\"input\":{\"x\":1},\"output\":\"ok\"},"
	  "{\"type\":\"step-start\"},{\"type\":\"text\",\"text\":\"done\"}]}]}",
	    CS_OK,
	    "{\"messages\":[{\"role\":\"assistant\",\"content\":null,"
	    "\"tool_calls\":[{\"id\":\"c1\",\"type\":\"function\",\"function\":"
	    "{\"name\":\"f\",\"arguments\":\"{\\\"x\\\":1}\"}}]},{\"role\":\"tool\","
	    "\"content\":\"ok\",\"tool_call_id\":\"c1\"},{\"role\":\"assistant\","
	    "\"content\":[{\"type\":\"text\",\"text\":\"done\"}]}]}" },
	/* refusals */
	{ "{\"messages\":[{\"role\":\"user\",\"parts\":[{\"type\":\"file\","
	  "\"url\":\"data:,\",\"mediaType\":\"text/plain\"}]}]}",
	    CS_EBADINPUT,
	    "messages[0].parts[0]: file parts are not supported" },
	{ "{\"messages\":[{\"role\":\"user\",\"parts\":[{\"type\":\"tool-f\"}]}]}",
	    CS_EBADINPUT, "unsupported part type \"tool-f\"" },
	{ "{\"messages\":[{\"role\":\"tool\",\"parts\":[]}]}", CS_EBADINPUT,
	    "messages[0].role" },
	{ "{\"messages\":[{\"role\":\"user\",\"parts\":[],\"x\":1}]}",
	    CS_EBADINPUT, "messages[0]: unknown field \"x\"" },
	{ "{\"trigger\":\"resume\",\"messages\":[]}", CS_EBADINPUT, "trigger" },
	{ "{\"trigger\":\"submit-message\",\"id\":1,\"messages\":[]}",
	    CS_EBADINPUT, "id: must be a string" },
	{ "{\"trigger\":\"submit-message\"}", CS_EBADINPUT, "messages:" },
	{ "{\"messages\":[{\"role\":\"assistant\",\"parts\":[{\"type\":"
	  "\"dynamic-tool\",\"toolName\":\"g\",\"toolCallId\":\"c\",\"state\":"
	  "\"input-streaming\"}]}]}",
	    CS_EBADINPUT, "has no tool result" },
	{ "{\"messages\":[{\"role\":\"assistant\",\"parts\":[{\"type\":"
	  "\"tool-g\",\"state\":\"output-error\",\"errorText\":\"e\"}]}]}",
	    CS_EBADINPUT, "toolCallId: must be a string" },
};

static void
test_translate(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < CS_ARRAY_LEN(cases); i++) {
		const struct tcase *c = &cases[i];
		size_t len = strlen(c->in);
		char *copy = malloc(len);
		struct cs_reqerr err;
		struct cs_buf out;
		enum cs_err r;

		assert_non_null(copy);
		memcpy(copy, c->in, len);
		memset(&err, 0, sizeof(err));
		cs_buf_init(&out, 4096);
		r = cs_ui_request_translate(copy, len, &out, &err);
		if (r != c->want)
			fail_msg("case %zu: got %d (%s), want %d", i, r,
			    err.message, c->want);
		if (r == CS_OK)
			assert_string_equal(out.data, c->out);
		if (r == CS_EBADINPUT) {
			assert_int_equal(cs_failure(err.fail)->status, 400);
			if (strstr(err.message, c->out) == NULL)
				fail_msg("case %zu: \"%s\" lacks \"%s\"", i,
				    err.message, c->out);
		}
		cs_buf_free(&out);
		free(copy);
	}
}

static void
test_translate_too_big(void **state)
{
	static const char in[] =
	    "{\"messages\":[{\"role\":\"user\","
	    "\"parts\":[{\"type\":\"text\",\"text\":\"0123456789\"}]}]}";
	struct cs_reqerr err;
	struct cs_buf out;

	(void)state;
	cs_buf_init(&out, 20);
	assert_int_equal(
	    cs_ui_request_translate(in, sizeof(in) - 1, &out, &err),
	    CS_ETOOBIG);
	assert_int_equal(cs_failure(err.fail)->status, 413);
	cs_buf_free(&out);
}

static void
emit(struct cs_enc *e, struct cs_buf *out, const struct cs_event *ev)
{
	assert_int_equal(cs_enc_event(e, ev, out), CS_OK);
}

static void
enc_init(struct cs_enc *e, struct cs_buf *out)
{
	memset(e, 0, sizeof(*e));
	memcpy(e->stream_id, "0123456789abcdef", CS_STREAM_ID_LEN);
	assert_int_equal(cs_enc_init(e, &cs_encoder_ui_stream), CS_OK);
	cs_buf_init(out, 65536);
}

/* A text event of kind with text (a literal). */
static void
text_ev(struct cs_event *ev, int kind, const char *text)
{
	memset(ev, 0, sizeof(*ev));
	ev->type = CS_EV_TEXT;
	ev->kind = kind;
	ev->text = text;
	ev->text_len = strlen(text);
}

static void
test_encoder(void **state)
{
	struct cs_enc e;
	struct cs_buf out;
	struct cs_event ev;

	(void)state;
	enc_init(&e, &out);
	assert_int_equal(cs_enc_prologue(&e, &out), CS_OK);
	text_ev(&ev, CS_TEXT_REASONING, "hm");
	emit(&e, &out, &ev);
	text_ev(&ev, CS_TEXT_CONTENT, "a\"b");
	emit(&e, &out, &ev);
	emit(&e, &out, &ev);
	memset(&ev, 0, sizeof(ev));
	ev.type = CS_EV_TOOL_CALL;
	ev.tool_id = "c1";
	ev.tool_name = "f";
	ev.tool_args = "{\"x\": [1]}";
	emit(&e, &out, &ev);
	ev.tool_args = "not json";
	emit(&e, &out, &ev);
	memset(&ev, 0, sizeof(ev));
	ev.type = CS_EV_FINISH;
	ev.finish_reason = "tool_calls";
	emit(&e, &out, &ev);
	assert_int_equal(cs_enc_done(&e, &out), CS_OK);
	assert_string_equal(out.data,
	    "data: {\"type\":\"start\",\"messageId\":\"msg-0123456789abcdef\"}\n\n"
	    "data: {\"type\":\"start-step\"}\n\n"
	    "data: {\"type\":\"reasoning-start\",\"id\":\"r1\"}\n\n"
	    "data: {\"type\":\"reasoning-delta\",\"id\":\"r1\",\"delta\":\"hm\"}\n\n"
	    "data: {\"type\":\"reasoning-end\",\"id\":\"r1\"}\n\n"
	    "data: {\"type\":\"text-start\",\"id\":\"t2\"}\n\n"
	    "data: {\"type\":\"text-delta\",\"id\":\"t2\",\"delta\":\"a\\\"b\"}\n\n"
	    "data: {\"type\":\"text-delta\",\"id\":\"t2\",\"delta\":\"a\\\"b\"}\n\n"
	    "data: {\"type\":\"text-end\",\"id\":\"t2\"}\n\n"
	    "data: {\"type\":\"tool-input-start\",\"toolCallId\":\"c1\",\"toolName\":\"f\"}\n\n"
	    "data: {\"type\":\"tool-input-available\",\"toolCallId\":\"c1\",\"toolName\":\"f\",\"input\":{\"x\":[1]}}\n\n"
	    "data: {\"type\":\"tool-input-start\",\"toolCallId\":\"c1\",\"toolName\":\"f\"}\n\n"
	    "data: {\"type\":\"tool-input-available\",\"toolCallId\":\"c1\",\"toolName\":\"f\",\"input\":\"not json\"}\n\n"
	    "data: {\"type\":\"finish-step\"}\n\n"
	    "data: {\"type\":\"finish\",\"messageMetadata\":{\"finishReason\":\"tool_calls\"}}\n\n"
	    "data: [DONE]\n\n");
	cs_enc_free(&e);
	assert_null(e.priv);
	cs_buf_free(&out);
}

static void
test_encoder_error(void **state)
{
	struct cs_enc e;
	struct cs_buf out;
	struct cs_event ev;

	(void)state;
	enc_init(&e, &out);
	text_ev(&ev, CS_TEXT_CONTENT, "x");
	emit(&e, &out, &ev);
	memset(&ev, 0, sizeof(ev));
	ev.type = CS_EV_ERROR;
	ev.error_type = "upstream_error";
	ev.error_message = "gone";
	emit(&e, &out, &ev);
	assert_string_equal(out.data,
	    "data: {\"type\":\"text-start\",\"id\":\"t1\"}\n\n"
	    "data: {\"type\":\"text-delta\",\"id\":\"t1\",\"delta\":\"x\"}\n\n"
	    "data: {\"type\":\"text-end\",\"id\":\"t1\"}\n\n"
	    "data: {\"type\":\"error\",\"errorText\":\"gone\"}\n\n");
	cs_enc_free(&e);
	cs_buf_free(&out);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_translate),
		cmocka_unit_test(test_translate_too_big),
		cmocka_unit_test(test_encoder),
		cmocka_unit_test(test_encoder_error),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
