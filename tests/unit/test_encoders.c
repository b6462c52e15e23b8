/*
 * test_encoders.c — every encoder through the framework (encoder.h), as
 * the stream drives it: prologue, events, end marker.  One fixed event
 * sequence each (text with escapes, refusal, reasoning, a tool call, the
 * finish with usage; a finish without usage; an error), compared with the
 * exact bytes docs/protocol.md describes.  Then the failures: a frame
 * that does not fit, or state that could not be allocated, is an error
 * and leaves the output as it was.
 */
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "encoder.h"
#include "testutil.h"

#define SID "9f2c4e1a7b3d5c60"

static const struct cs_usage usage = { 9, 2, 11, 4, 1 };

/* text (with a quote and a newline), refusal, reasoning, a tool call,
 * the finish with every count */
static const struct cs_event full[] = {
	{ .type = CS_EV_TEXT, .text = "Hel", .text_len = 3 },
	{ .type = CS_EV_TEXT, .text = "lo\"\n", .text_len = 4 },
	{ .type = CS_EV_TEXT,
	    .kind = CS_TEXT_REFUSAL,
	    .text = "no",
	    .text_len = 2 },
	{ .type = CS_EV_TEXT,
	    .kind = CS_TEXT_REASONING,
	    .text = "hm",
	    .text_len = 2 },
	{ .type = CS_EV_TOOL_CALL,
	    .tool_id = "call_1",
	    .tool_name = "get_weather",
	    .tool_args = "{\"city\":\"Paris\"}" },
	{ .type = CS_EV_FINISH,
	    .finish_reason = "tool_calls",
	    .native_finish_reason = "tool_use",
	    .tokens = &usage },
};

/* a finish the provider counted nothing for, in a word of its own */
static const struct cs_event bare[] = {
	{ .type = CS_EV_TEXT, .text = "x", .text_len = 1 },
	{ .type = CS_EV_FINISH,
	    .finish_reason = "other",
	    .native_finish_reason = "end_turn" },
};

/* a failure after the start */
static const struct cs_event failed[] = {
	{ .type = CS_EV_TEXT, .text = "x", .text_len = 1 },
	{ .type = CS_EV_ERROR,
	    .error_type = "upstream_timeout",
	    .error_message = "slow" },
};

/* The encoders that write as they go. */
static const struct cs_encoder *const streaming[] = {
	&cs_encoder_sse,
	&cs_encoder_text,
	&cs_encoder_openai,
	&cs_encoder_ui_stream,
	&cs_encoder_anthropic,
};

#define PLAY(ops, flags, evs, want) \
	play(ops, flags, evs, CS_ARRAY_LEN(evs), want)

/* A fresh encoder state as the stream makes it. */
static void
enc_new(struct cs_enc *e, const struct cs_encoder *ops, unsigned flags)
{
	memset(e, 0, sizeof(*e));
	memcpy(e->stream_id, SID, CS_STREAM_ID_LEN + 1);
	e->model = "fast";
	e->ttfd_ms = 412;
	e->duration_ms = 2310;
	e->created = 1767225600;
	e->flags = flags;
	assert_int_equal(cs_enc_init(e, ops), CS_OK);
}

/* prologue, the n events, the end marker: the bytes must be want. */
static void
play(const struct cs_encoder *ops, unsigned flags, const struct cs_event *evs,
    size_t n, const char *want)
{
	struct cs_enc e;
	struct cs_buf out;
	size_t i;

	enc_new(&e, ops, flags);
	cs_buf_init(&out, 1 << 16);
	assert_int_equal(cs_buf_puts(&out, ""), CS_OK);
	assert_int_equal(cs_enc_prologue(&e, &out), CS_OK);
	for (i = 0; i < n; i++)
		assert_int_equal(cs_enc_event(&e, &evs[i], &out), CS_OK);
	assert_int_equal(cs_enc_done(&e, &out), CS_OK);
	assert_string_equal(out.data, want);
	assert_int_equal(out.len, strlen(want));
	cs_enc_free(&e);
	assert_null(e.priv);
	cs_buf_free(&out);
}

static void
test_sse(void **state)
{
	(void)state;
	PLAY(&cs_encoder_sse, 0, full,
	    ": keep-alive\n"
	    "id: " SID ":1\ndata: {\"content\":\"Hel\"}\n\n"
	    "id: " SID ":2\ndata: {\"content\":\"lo\\\"\\n\"}\n\n"
	    "id: " SID ":3\ndata: {\"refusal\":\"no\"}\n\n"
	    "id: " SID ":4\ndata: {\"reasoning\":\"hm\"}\n\n"
	    "id: " SID ":5\nevent: tool_call\ndata: {\"id\":\"call_1\","
	    "\"name\":\"get_weather\","
	    "\"arguments\":\"{\\\"city\\\":\\\"Paris\\\"}\"}\n\n"
	    "id: " SID ":6\nevent: finish\ndata: {\"finish_reason\":"
	    "\"tool_calls\",\"usage\":{\"prompt_tokens\":9,"
	    "\"completion_tokens\":2,\"total_tokens\":11,\"cached_tokens\":4,"
	    "\"reasoning_tokens\":1},\"native_finish_reason\":\"tool_use\","
	    "\"model\":\"fast\",\"ttfd_ms\":412,\"duration_ms\":2310}\n\n"
	    "id: " SID ":7\ndata: [DONE]\n\n");
	PLAY(&cs_encoder_sse, 0, bare,
	    ": keep-alive\n"
	    "id: " SID ":1\ndata: {\"content\":\"x\"}\n\n"
	    "id: " SID ":2\nevent: finish\ndata: {\"finish_reason\":\"other\","
	    "\"usage\":null,\"native_finish_reason\":\"end_turn\","
	    "\"model\":\"fast\",\"ttfd_ms\":412,\"duration_ms\":2310}\n\n"
	    "id: " SID ":3\ndata: [DONE]\n\n");
	PLAY(&cs_encoder_sse, 0, failed,
	    ": keep-alive\n"
	    "id: " SID ":1\ndata: {\"content\":\"x\"}\n\n"
	    "id: " SID ":2\nevent: error\ndata: {\"error\":{\"type\":"
	    "\"upstream_timeout\",\"message\":\"slow\"}}\n\n"
	    "id: " SID ":3\ndata: [DONE]\n\n");
}

/* Text and refusal as they are; nothing else, no framing at all. */
static void
test_text(void **state)
{
	(void)state;
	PLAY(&cs_encoder_text, 0, full, "Hello\"\nno");
	PLAY(&cs_encoder_text, 0, bare, "x");
	PLAY(&cs_encoder_text, 0, failed,
	    "x\n\n[error] upstream_timeout: slow\n");
}

#define OAI_HEAD \
	"{\"id\":\"chatcmpl-" SID "\",\"object\":" \
	"\"chat.completion.chunk\",\"created\":1767225600,\"model\":\"fast\","
#define OAI_CHUNK(delta, finish) \
	"data: " OAI_HEAD "\"choices\":[{" \
	"\"index\":0,\"delta\":{" delta "},\"logprobs\":null," \
	"\"finish_reason\":" finish "}]}\n\n"

static void
test_openai_chunks(void **state)
{
	static const char head[] = ": keep-alive\n" OAI_CHUNK(
	    "\"role\":\"assistant\",\"content\":\"Hel\"",
	    "null") OAI_CHUNK("\"content\":\"lo\\\"\\n\"",
	    "null") OAI_CHUNK("\"refusal\":\"no\"", "null")
	    OAI_CHUNK("\"reasoning_content\":\"hm\"", "null") OAI_CHUNK(
	        "\"tool_calls\":[{\"index\":0,\"id\":\"call_1\","
	        "\"type\":\"function\",\"function\":{\"name\":\"get_weather\","
	        "\"arguments\":\"{\\\"city\\\":\\\"Paris\\\"}\"}}]",
	        "null") OAI_CHUNK("", "\"tool_calls\"");
	char want[4096];

	(void)state;
	/* without include_usage: no usage chunk */
	snprintf(want, sizeof(want), "%sdata: [DONE]\n\n", head);
	PLAY(&cs_encoder_openai, 0, full, want);
	/* with it: "choices":[] and usage, the total the sum */
	snprintf(want, sizeof(want),
	    "%sdata: " OAI_HEAD "\"choices\":[],"
	    "\"usage\":{\"prompt_tokens\":9,\"completion_tokens\":2,"
	    "\"total_tokens\":11}}\n\ndata: [DONE]\n\n",
	    head);
	PLAY(&cs_encoder_openai, CS_ENC_INCLUDE_USAGE, full, want);
	/* other is stop; no counts is usage null */
	PLAY(&cs_encoder_openai, CS_ENC_INCLUDE_USAGE, bare,
	    ": keep-alive\n" OAI_CHUNK(
	        "\"role\":\"assistant\",\"content\":\"x\"", "null")
	        OAI_CHUNK("", "\"stop\"") "data: " OAI_HEAD
	                                  "\"choices\":[],\"usage\":null}\n\n"
	                                  "data: [DONE]\n\n");
	PLAY(&cs_encoder_openai, 0, failed,
	    ": keep-alive\n" OAI_CHUNK(
	        "\"role\":\"assistant\",\"content\":\"x\"",
	        "null") "data: {\"error\":{\"message\":\"slow\",\"type\":\"api_error\","
	                "\"param\":null,\"code\":\"upstream_timeout\"}}\n\n"
	                "data: [DONE]\n\n");
}

#define OAI_OBJECT(message, finish, usage_json) \
	"{\"id\":\"chatcmpl-" SID \
	"\",\"object\":\"chat.completion\",\"created\":1767225600," \
	"\"model\":\"fast\",\"choices\":[{\"index\":0,\"message\":{" \
	"\"role\":\"assistant\"," message "},\"logprobs\":null," \
	"\"finish_reason\":\"" finish "\"}],\"usage\":" usage_json "}\n"

/* Deferred: nothing until done, then one chat.completion. */
static void
test_openai_json(void **state)
{
	static const struct cs_usage prompt_only = { 5, CS_USAGE_NONE,
		CS_USAGE_NONE, CS_USAGE_NONE, CS_USAGE_NONE };
	static const struct cs_event counted[] = {
		{ .type = CS_EV_FINISH,
		    .finish_reason = "length",
		    .tokens = &prompt_only },
	};

	(void)state;
	PLAY(&cs_encoder_openai_json, 0, full,
	    OAI_OBJECT(
	        "\"content\":\"Hello\\\"\\n\",\"refusal\":\"no\","
	        "\"reasoning_content\":\"hm\",\"tool_calls\":[{\"id\":\"call_1\","
	        "\"type\":\"function\",\"function\":{\"name\":\"get_weather\","
	        "\"arguments\":\"{\\\"city\\\":\\\"Paris\\\"}\"}}]",
	        "tool_calls",
	        "{\"prompt_tokens\":9,\"completion_tokens\":2,"
	        "\"total_tokens\":11}"));
	PLAY(&cs_encoder_openai_json, 0, bare,
	    OAI_OBJECT("\"content\":\"x\",\"refusal\":null", "stop", "null"));
	/* a count left out is 0 once the other is known */
	PLAY(&cs_encoder_openai_json, 0, counted,
	    OAI_OBJECT("\"content\":null,\"refusal\":null", "length",
	        "{\"prompt_tokens\":5,\"completion_tokens\":0,"
	        "\"total_tokens\":5}"));
}

/* e's error body for a native type and the message m" (in out). */
static const char *
error_body(struct cs_enc *e, const char *type, struct cs_buf *out)
{
	cs_buf_reset(out);
	assert_int_equal(cs_enc_error_body(e, type, "m\"", out), CS_OK);
	return out->data;
}

static void
test_openai_error_bodies(void **state)
{
	static const struct {
		const char *type, *want_type, *want_code;
	} cases[] = {
		{ "invalid_request", "invalid_request_error",
		    "invalid_request" },
		{ "model_not_found", "invalid_request_error",
		    "model_not_found" },
		{ "not_found", "invalid_request_error", "not_found" },
		{ "rate_limited", "rate_limit_exceeded",
		    "rate_limit_exceeded" },
		{ "internal_error", "server_error", "internal_error" },
		{ "overloaded", "api_error", "overloaded" },
	};
	struct cs_enc e;
	struct cs_buf out;
	char want[256];
	size_t i;

	(void)state;
	enc_new(&e, &cs_encoder_openai_json, 0);
	cs_buf_init(&out, 1024);
	assert_string_equal(cs_enc_error_content_type(&e), "application/json");
	for (i = 0; i < CS_ARRAY_LEN(cases); i++) {
		snprintf(want, sizeof(want),
		    "{\"error\":{\"message\":\"m\\\"\","
		    "\"type\":\"%s\",\"param\":null,\"code\":\"%s\"}}",
		    cases[i].want_type, cases[i].want_code);
		assert_string_equal(error_body(&e, cases[i].type, &out), want);
	}
	cs_enc_free(&e);
	/* the others: the native body by default */
	enc_new(&e, &cs_encoder_text, 0);
	cs_buf_reset(&out);
	assert_int_equal(
	    cs_enc_error_body(&e, "rate_limited", "m", &out), CS_OK);
	assert_string_equal(out.data,
	    "{\"error\":{\"type\":\"rate_limited\",\"message\":\"m\"}}");
	assert_string_equal(cs_enc_error_content_type(&e), "application/json");
	cs_enc_free(&e);
	cs_buf_free(&out);
}

/* event: NAME, data: {"type":"NAME"...} */
#define ANT(name, json) \
	"event: " name "\ndata: {\"type\":\"" name "\"" json "}\n\n"
#define ANT_HEAD \
	"{\"id\":\"msg_" SID "\",\"type\":\"message\",\"role\":" \
	"\"assistant\",\"model\":\"fast\","
#define ANT_START \
	ANT("message_start", \
	    ",\"message\":" ANT_HEAD "\"content\":[],\"stop_reason\":null," \
	    "\"stop_sequence\":null,\"usage\":{\"input_tokens\":0," \
	    "\"output_tokens\":0}}")
#define ANT_TEXT_START(i) \
	ANT("content_block_start", \
	    ",\"index\":" i ",\"content_block\":{\"type\":\"text\"," \
	    "\"text\":\"\"}")
#define ANT_DELTA(i, type, key, text) \
	ANT("content_block_delta", \
	    ",\"index\":" i ",\"delta\":{\"type\":\"" type "\",\"" key \
	    "\":" text "}")
#define ANT_STOP(i) ANT("content_block_stop", ",\"index\":" i)

/* Blocks as the kind changes (a refusal is text), a tool call a block of
 * its own with all its arguments in one delta, the finish with the
 * cumulative usage (cache reads apart from input_tokens), no end marker. */
static void
test_anthropic_stream(void **state)
{
	(void)state;
	PLAY(&cs_encoder_anthropic, 0, full,
	    ANT_START ANT_TEXT_START("0") ANT_DELTA("0", "text_delta", "text",
	        "\"Hel\"") ANT_DELTA("0", "text_delta", "text", "\"lo\\\"\\n\"")
	        ANT_DELTA("0", "text_delta", "text", "\"no\"") ANT_STOP("0")
	            ANT("content_block_start",
	                ",\"index\":1,\"content_block\":{\"type\":"
	                "\"thinking\",\"thinking\":\"\",\"signature\":\"\"}")
	                ANT_DELTA("1", "thinking_delta", "thinking", "\"hm\"")
	                    ANT_STOP("1") ANT("content_block_start",
	                        ",\"index\":2,\"content_block\":{\"type\":"
	                        "\"tool_use\",\"id\":\"call_1\",\"name\":"
	                        "\"get_weather\",\"input\":{}}") ANT_DELTA("2",
	                        "input_json_delta", "partial_json",
	                        "\"{\\\"city\\\":\\\"Paris\\\"}\"")
	                        ANT_STOP("2") ANT("message_delta",
	                            ",\"delta\":{\"stop_reason\":"
	                            "\"tool_use\",\"stop_sequence\":null},"
	                            "\"usage\":{\"input_tokens\":5,"
	                            "\"output_tokens\":2,"
	                            "\"cache_read_input_tokens\":4}")
	                            ANT("message_stop", ""));
	/* other is end_turn; no counts are 0 */
	PLAY(&cs_encoder_anthropic, 0, bare,
	    ANT_START ANT_TEXT_START("0") ANT_DELTA("0", "text_delta", "text",
	        "\"x\"") ANT_STOP("0") ANT("message_delta",
	        ",\"delta\":{\"stop_reason\":\"end_turn\","
	        "\"stop_sequence\":null},\"usage\":{"
	        "\"input_tokens\":0,\"output_tokens\":0}")
	        ANT("message_stop", ""));
	/* an error after the start: the error event, nothing after it */
	PLAY(&cs_encoder_anthropic, 0, failed,
	    ANT_START ANT_TEXT_START("0") ANT_DELTA("0", "text_delta", "text",
	        "\"x\"") "event: error\ndata: "
	                 "{\"type\":\"error\","
	                 "\"error\":{\"type\":"
	                 "\"timeout_error\","
	                 "\"message\":\"slow\"}}\n\n");
}

/* The stop reasons: a stop sequence (the provider's word) is one. */
static void
test_anthropic_stop_reasons(void **state)
{
	static const struct {
		const char *finish, *native, *want;
	} cases[] = {
		{ "stop", "end_turn", "end_turn" },
		{ "stop", "stop_sequence", "stop_sequence" },
		{ "length", "length", "max_tokens" },
		{ "tool_calls", NULL, "tool_use" },
		{ "content_filter", "content_filter", "refusal" },
		{ "unknown", NULL, "end_turn" },
	};
	struct cs_event ev;
	struct cs_enc e;
	struct cs_buf out;
	char want[128];
	size_t i;

	(void)state;
	for (i = 0; i < CS_ARRAY_LEN(cases); i++) {
		enc_new(&e, &cs_encoder_anthropic, 0);
		cs_buf_init(&out, 1024);
		memset(&ev, 0, sizeof(ev));
		ev.type = CS_EV_FINISH;
		ev.finish_reason = cases[i].finish;
		ev.native_finish_reason = cases[i].native;
		assert_int_equal(cs_enc_event(&e, &ev, &out), CS_OK);
		snprintf(want, sizeof(want), "{\"stop_reason\":\"%s\"",
		    cases[i].want);
		if (strstr(out.data, want) == NULL)
			fail_msg("%s: %s", cases[i].finish, out.data);
		cs_enc_free(&e);
		cs_buf_free(&out);
	}
}

/* Deferred: nothing until done, then one Message with its blocks. */
static void
test_anthropic_json(void **state)
{
	(void)state;
	PLAY(&cs_encoder_anthropic_json, 0, full,
	    ANT_HEAD "\"content\":[{\"type\":\"text\",\"text\":"
	             "\"Hello\\\"\\nno\"},{\"type\":\"thinking\",\"thinking\":"
	             "\"hm\",\"signature\":\"\"},{\"type\":\"tool_use\","
	             "\"id\":\"call_1\",\"name\":\"get_weather\",\"input\":"
	             "{\"city\":\"Paris\"}}],\"stop_reason\":\"tool_use\","
	             "\"stop_sequence\":null,\"usage\":{\"input_tokens\":5,"
	             "\"output_tokens\":2,\"cache_read_input_tokens\":4}}\n");
	PLAY(&cs_encoder_anthropic_json, 0, bare,
	    ANT_HEAD "\"content\":[{\"type\":\"text\",\"text\":\"x\"}],"
	             "\"stop_reason\":\"end_turn\",\"stop_sequence\":null,"
	             "\"usage\":{\"input_tokens\":0,\"output_tokens\":0}}\n");
}

/* Anthropic's error types for the native ones; the keep-alive is its
 * ping event. */
static void
test_anthropic_errors(void **state)
{
	static const struct {
		const char *type, *want;
	} cases[] = {
		{ "invalid_request", "invalid_request_error" },
		{ "unauthorized", "authentication_error" },
		{ "forbidden", "permission_error" },
		{ "model_not_allowed", "permission_error" },
		{ "not_found", "not_found_error" },
		{ "model_not_found", "not_found_error" },
		{ "rate_limited", "rate_limit_error" },
		{ "budget_exceeded", "rate_limit_error" },
		{ "overloaded", "overloaded_error" },
		{ "server_busy", "overloaded_error" },
		{ "server_shutdown", "overloaded_error" },
		{ "state_unavailable", "overloaded_error" },
		{ "upstream_timeout", "timeout_error" },
		{ "upstream_error", "api_error" },
		{ "internal_error", "api_error" },
	};
	struct cs_enc e;
	struct cs_buf out;
	char want[256];
	size_t i;

	(void)state;
	enc_new(&e, &cs_encoder_anthropic_json, 0);
	cs_buf_init(&out, 1024);
	for (i = 0; i < CS_ARRAY_LEN(cases); i++) {
		snprintf(want, sizeof(want),
		    "{\"type\":\"error\",\"error\":{\"type\":\"%s\","
		    "\"message\":\"m\\\"\"}}",
		    cases[i].want);
		assert_string_equal(error_body(&e, cases[i].type, &out), want);
	}
	cs_enc_free(&e);
	enc_new(&e, &cs_encoder_anthropic, 0);
	cs_buf_reset(&out);
	assert_int_equal(cs_enc_keepalive(&e, &out), CS_OK);
	assert_string_equal(
	    out.data, "event: ping\ndata: {\"type\": \"ping\"}\n\n");
	cs_enc_free(&e);
	cs_buf_free(&out);
}

#define UI(json) "data: {\"type\":" json "}\n\n"

static void
test_ui_stream(void **state)
{
	(void)state;
	/* a refusal is text; reasoning a block of its own */
	PLAY(&cs_encoder_ui_stream, 0, full,
	    UI("\"start\",\"messageId\":\"msg-" SID "\"") UI(
	        "\"start-step\"") UI("\"text-start\",\"id\":\"t1\"")
	        UI("\"text-delta\",\"id\":\"t1\",\"delta\":\"Hel\"") UI(
	            "\"text-delta\",\"id\":\"t1\",\"delta\":\"lo\\\"\\n\"")
	            UI("\"text-delta\",\"id\":\"t1\",\"delta\":\"no\"") UI(
	                "\"text-end\",\"id\":\"t1\"")
	                UI("\"reasoning-start\",\"id\":\"r2\"") UI(
	                    "\"reasoning-delta\",\"id\":\"r2\",\"delta\":\"hm\"")
	                    UI("\"reasoning-end\",\"id\":\"r2\"") UI(
	                        "\"tool-input-start\",\"toolCallId\":\"call_1\","
	                        "\"toolName\":\"get_weather\"")
	                        UI("\"tool-input-available\",\"toolCallId\":\"call_1\","
	                           "\"toolName\":\"get_weather\",\"input\":{\"city\":\"Paris\"}")
	                            UI("\"finish-step\"") UI(
	                                "\"finish\",\"messageMetadata\":{\"finishReason\":\"tool_calls\","
	                                "\"usage\":{\"prompt_tokens\":9,\"completion_tokens\":2,"
	                                "\"total_tokens\":11,\"cached_tokens\":4,\"reasoning_tokens\":1}}") "data: [DONE]\n\n");
	/* no usage: messageMetadata without it */
	PLAY(&cs_encoder_ui_stream, 0, bare,
	    UI("\"start\",\"messageId\":\"msg-" SID "\"") UI(
	        "\"start-step\"") UI("\"text-start\",\"id\":\"t1\"")
	        UI("\"text-delta\",\"id\":\"t1\",\"delta\":\"x\"") UI(
	            "\"text-end\",\"id\":\"t1\"") UI("\"finish-step\"")
	            UI("\"finish\",\"messageMetadata\":{\"finishReason\":\"other\"}") "data: [DONE]\n\n");
	PLAY(&cs_encoder_ui_stream, 0, failed,
	    UI("\"start\",\"messageId\":\"msg-" SID "\"") UI("\"start-step\"")
	        UI("\"text-start\",\"id\":\"t1\"") UI(
	            "\"text-delta\",\"id\":\"t1\",\"delta\":\"x\"")
	            UI("\"text-end\",\"id\":\"t1\"") UI(
	                "\"error\",\"errorText\":\"slow\"") "data: [DONE]\n\n");
}

/* The keep-alive: an SSE comment for the SSE protocols, nothing for the
 * others (plain text; deferred). */
static void
test_keepalives(void **state)
{
	static const struct {
		const struct cs_encoder *ops;
		const char *want;
	} cases[] = {
		{ &cs_encoder_sse, ": keep-alive\n" },
		{ &cs_encoder_openai, ": keep-alive\n" },
		{ &cs_encoder_ui_stream, ": keep-alive\n" },
		{ &cs_encoder_text, "" },
		{ &cs_encoder_openai_json, "" },
		{ &cs_encoder_anthropic_json, "" },
	};
	struct cs_enc e;
	struct cs_buf out;
	size_t i;

	(void)state;
	for (i = 0; i < CS_ARRAY_LEN(cases); i++) {
		enc_new(&e, cases[i].ops, 0);
		cs_buf_init(&out, 64);
		assert_int_equal(cs_buf_puts(&out, ""), CS_OK);
		assert_int_equal(cs_enc_keepalive(&e, &out), CS_OK);
		assert_string_equal(out.data, cases[i].want);
		cs_enc_free(&e);
		cs_buf_free(&out);
	}
}

/* Every event into a buffer too small for its frame: CS_ETOOBIG, and the
 * buffer holds what it held before, whatever the cap; the encoder too
 * (event count, open block, role sent), so the next frame is as if the
 * failed one had never been tried. */
static void
test_too_big_leaves_no_partial_frame(void **state)
{
	const struct cs_encoder *const *encs = streaming;
	static const struct cs_event big[] = {
		{ .type = CS_EV_TEXT,
		    .kind = CS_TEXT_REASONING,
		    .text = "0123456789",
		    .text_len = 10 },
		{ .type = CS_EV_TEXT, .text = "0123456789", .text_len = 10 },
		{ .type = CS_EV_TOOL_CALL,
		    .tool_id = "call_1",
		    .tool_name = "f",
		    .tool_args = "{\"a\":1}" },
		{ .type = CS_EV_FINISH,
		    .finish_reason = "stop",
		    .tokens = &usage },
		{ .type = CS_EV_ERROR,
		    .error_type = "upstream_error",
		    .error_message = "gone" },
	};
	struct cs_enc e, fresh;
	struct cs_buf out, want;
	size_t i, j, max;
	enum cs_err r;

	(void)state;
	for (i = 0; i < CS_ARRAY_LEN(streaming); i++)
		for (j = 0; j < CS_ARRAY_LEN(big); j++)
			for (max = 4; max < 48; max++) {
				enc_new(&e, encs[i], CS_ENC_INCLUDE_USAGE);
				cs_buf_init(&out, max);
				assert_int_equal(
				    cs_buf_puts(&out, "keep"), CS_OK);
				r = cs_enc_event(&e, &big[j], &out);
				if (r == CS_OK) { /* the frame fitted */
					assert_memory_equal(
					    out.data, "keep", 4);
					assert_true(out.len <= max);
					cs_enc_free(&e);
					cs_buf_free(&out);
					continue;
				}
				assert_int_equal(r, CS_ETOOBIG);
				assert_string_equal(out.data, "keep");
				cs_buf_free(&out);
				/* the same event again, room enough: the
				 * bytes a fresh encoder writes */
				enc_new(&fresh, encs[i], CS_ENC_INCLUDE_USAGE);
				cs_buf_init(&out, 4096);
				cs_buf_init(&want, 4096);
				assert_int_equal(
				    cs_enc_event(&e, &big[j], &out), CS_OK);
				assert_int_equal(
				    cs_enc_event(&fresh, &big[j], &want),
				    CS_OK);
				assert_string_equal(out.data, want.data);
				assert_int_equal(e.seq, fresh.seq);
				cs_enc_free(&e);
				cs_enc_free(&fresh);
				cs_buf_free(&out);
				cs_buf_free(&want);
			}
}

/* The end marker and the prologue the same way (plain text has none). */
static void
test_too_big_marker(void **state)
{
	struct cs_enc e;
	struct cs_buf out;
	size_t i;
	int none;

	(void)state;
	for (i = 0; i < CS_ARRAY_LEN(streaming); i++) {
		/* plain text has neither, Anthropic's stream no end marker */
		none = streaming[i] == &cs_encoder_text;
		if (streaming[i] == &cs_encoder_anthropic) {
			enc_new(&e, streaming[i], 0);
			cs_buf_init(&out, 12);
			assert_int_equal(cs_buf_puts(&out, "keep"), CS_OK);
			assert_int_equal(cs_enc_done(&e, &out), CS_OK);
			assert_int_equal(cs_enc_prologue(&e, &out), CS_ETOOBIG);
			assert_string_equal(out.data, "keep");
			cs_enc_free(&e);
			cs_buf_free(&out);
			continue;
		}
		enc_new(&e, streaming[i], 0);
		cs_buf_init(&out, 12);
		assert_int_equal(cs_buf_puts(&out, "keep"), CS_OK);
		assert_int_equal(
		    cs_enc_done(&e, &out), none ? CS_OK : CS_ETOOBIG);
		assert_int_equal(
		    cs_enc_prologue(&e, &out), none ? CS_OK : CS_ETOOBIG);
		assert_int_equal(e.seq, 0);
		assert_string_equal(out.data, "keep");
		cs_enc_free(&e);
		cs_buf_free(&out);
	}
}

/* The deferred answer is bounded: a text past the limit is CS_ETOOBIG
 * (the stream then answers 502), and what was kept stays whole. */
static void
test_deferred_limit(void **state)
{
	const size_t limit = 4 * 1024 * 1024;
	struct cs_event ev;
	struct cs_enc e;
	struct cs_buf out;
	char *text;

	(void)state;
	assert_non_null(text = malloc(limit));
	memset(text, 'a', limit);
	enc_new(&e, &cs_encoder_openai_json, 0);
	cs_buf_init(&out, 2 * limit);
	memset(&ev, 0, sizeof(ev));
	ev.type = CS_EV_TEXT;
	ev.text = text;
	ev.text_len = limit - 1;
	assert_int_equal(cs_enc_event(&e, &ev, &out), CS_OK);
	ev.text_len = 2;
	assert_int_equal(cs_enc_event(&e, &ev, &out), CS_ETOOBIG);
	ev.text_len = 1;
	assert_int_equal(cs_enc_event(&e, &ev, &out), CS_OK);
	ev.kind = CS_TEXT_REASONING; /* each kind has its own limit */
	assert_int_equal(cs_enc_event(&e, &ev, &out), CS_OK);
	assert_int_equal(out.len, 0);
	assert_int_equal(cs_enc_done(&e, &out), CS_OK);
	assert_non_null(strstr(out.data, "\"reasoning_content\":\"a\""));
	assert_true(out.len > limit);
	cs_enc_free(&e);
	/* Anthropic's blocks the same way: the open one, then all */
	enc_new(&e, &cs_encoder_anthropic_json, 0);
	ev.kind = CS_TEXT_CONTENT;
	ev.text_len = limit;
	assert_int_equal(cs_enc_event(&e, &ev, &out), CS_OK);
	ev.text_len = 1;
	assert_int_equal(cs_enc_event(&e, &ev, &out), CS_ETOOBIG);
	ev.kind = CS_TEXT_REASONING; /* closing the text: too big escaped */
	assert_int_equal(cs_enc_event(&e, &ev, &out), CS_ETOOBIG);
	cs_enc_free(&e);
	cs_buf_free(&out);
	free(text);
}

/* What cs_enc_init leaves when its allocation fails (priv NULL): every
 * op says CS_ENOMEM and writes nothing; freeing is still safe. */
static void
test_no_state_is_enomem(void **state)
{
	static const struct cs_encoder *const encs[] = {
		&cs_encoder_openai,
		&cs_encoder_openai_json,
		&cs_encoder_ui_stream,
		&cs_encoder_anthropic,
		&cs_encoder_anthropic_json,
	};
	struct cs_enc e;
	struct cs_buf out;
	size_t i;

	(void)state;
	for (i = 0; i < CS_ARRAY_LEN(encs); i++) {
		enc_new(&e, encs[i], 0);
		assert_non_null(e.priv);
		free(e.priv);
		e.priv = NULL;
		cs_buf_init(&out, 1024);
		assert_int_equal(cs_enc_prologue(&e, &out), CS_ENOMEM);
		assert_int_equal(cs_enc_event(&e, &full[0], &out), CS_ENOMEM);
		assert_int_equal(cs_enc_keepalive(&e, &out), CS_ENOMEM);
		assert_int_equal(cs_enc_done(&e, &out), CS_ENOMEM);
		assert_int_equal(out.len, 0);
		cs_enc_free(&e);
		cs_buf_free(&out);
	}
}

/* Switching protocols (cs_stream_use) frees the old state and makes the
 * new one; the stateless encoders have none. */
static void
test_switch_and_free(void **state)
{
	struct cs_enc e;

	(void)state;
	enc_new(&e, &cs_encoder_sse, 0);
	assert_null(e.priv);
	assert_int_equal(cs_enc_init(&e, &cs_encoder_ui_stream), CS_OK);
	assert_non_null(e.priv);
	assert_int_equal(cs_enc_init(&e, &cs_encoder_openai_json), CS_OK);
	assert_non_null(e.priv);
	assert_int_equal(cs_enc_init(&e, &cs_encoder_text), CS_OK);
	assert_null(e.priv);
	cs_enc_free(&e);
	cs_enc_free(&e);
	cs_enc_free(NULL);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sse),
		cmocka_unit_test(test_text),
		cmocka_unit_test(test_openai_chunks),
		cmocka_unit_test(test_openai_json),
		cmocka_unit_test(test_openai_error_bodies),
		cmocka_unit_test(test_anthropic_stream),
		cmocka_unit_test(test_anthropic_stop_reasons),
		cmocka_unit_test(test_anthropic_json),
		cmocka_unit_test(test_anthropic_errors),
		cmocka_unit_test(test_ui_stream),
		cmocka_unit_test(test_keepalives),
		cmocka_unit_test(test_too_big_leaves_no_partial_frame),
		cmocka_unit_test(test_too_big_marker),
		cmocka_unit_test(test_deferred_limit),
		cmocka_unit_test(test_no_state_is_enomem),
		cmocka_unit_test(test_switch_and_free),
	};

	return cmocka_run_group_tests_name("encoders", tests, NULL, NULL);
}
