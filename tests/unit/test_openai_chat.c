/*
 * test_openai_chat.c — golden tests for the openai-chat adapter: every
 * recorded OpenAI stream in tests/fixtures/upstream, fed whole, line by
 * line, in 7-byte pieces and byte by byte, must assemble exactly the text,
 * tool calls, finish reason and usage of its .expect.json; the
 * hand-made openai-compat-* streams prove the quirks of compatible
 * servers (docs/protocol.md).  Plus the failure paths and hostile
 * streams: truncation, in-band errors, malformed, unknown and oversized
 * chunks, tool-call arguments split inside escapes and characters.
 */
#include <stdio.h>
#include <string.h>

#include <json-c/json.h>

#include "buf.h"
#include "event.h"
#include "config.h"
#include "provider.h"
#include "request.h"
#include "adapter_util.h"

#define P provider_named("openai-chat")
/* How collect() records this adapter's events (adapter_util.h). */
#define COLLECT_FLAGS 0

/* name is the fixture file name without .sse. */
static void
check_fixture(const char *name)
{
	check_fixture_ext(P, COLLECT_FLAGS, name, "sse");
}

/* One chunk with a content delta t, one with finish reason r. */
#define OA_TEXT(t) \
	"data: {\"choices\":[{\"index\":0,\"delta\":{" \
	"\"content\":\"" t "\"}}]}\n\n"
#define OA_FINISH(r) \
	"data: {\"choices\":[{\"index\":0,\"delta\":{}," \
	"\"finish_reason\":\"" r "\"}]}\n\n"

static void
test_text_usage(void **state)
{
	(void)state;
	check_fixture("openai-chat-text-usage");
}

static void
test_tool_call(void **state)
{
	(void)state;
	check_fixture("openai-chat-tool-call");
}

static void
test_finish_length(void **state)
{
	(void)state;
	check_fixture("openai-chat-finish-length");
}

static void
test_refusal(void **state)
{
	(void)state;
	check_fixture("openai-chat-refusal");
}

static void
test_openrouter_comment(void **state)
{
	(void)state;
	check_fixture("openai-compat-openrouter-comment");
}

static void
test_truncated(void **state)
{
	struct collected c;

	(void)state;
	collected_init_flags(&c, COLLECT_FLAGS);
	assert_int_equal(
	    feed_str(P, &c,
	        "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hi\"}}]}"
	        "\n\n"),
	    CS_EUPSTREAM);
	assert_string_equal(c.text.data, "Hi");
	assert_int_equal(c.n_error, 1);
	assert_int_equal(c.n_finish, 0);
	assert_string_equal(c.error_type, "upstream_error");
	collected_free(&c);
}

static void
test_in_band_error(void **state)
{
	struct collected c;

	(void)state;
	collected_init_flags(&c, COLLECT_FLAGS);
	assert_int_equal(
	    feed_str(P, &c,
	        "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"a\"}}]}"
	        "\n\ndata: {\"error\":{\"message\":\"overloaded\",\"type\":"
	        "\"server_error\"}}\n\ndata: {\"choices\":[{\"index\":0,"
	        "\"delta\":{\"content\":\"b\"}}]}\n\ndata: [DONE]\n\n"),
	    CS_EUPSTREAM);
	assert_string_equal(c.text.data, "a");
	assert_int_equal(c.n_error, 1);
	assert_int_equal(c.after_terminal, 0);
	collected_free(&c);
}

static void
test_malformed_chunk(void **state)
{
	struct collected c;

	(void)state;
	collected_init_flags(&c, COLLECT_FLAGS);
	assert_int_equal(
	    feed_str(P, &c, "data: {\"choices\":[\n\n"), CS_EUPSTREAM);
	assert_one_error(&c, "malformed");
	collected_free(&c);
}

static void
test_malformed_among_good(void **state)
{
	static const char *const bad[] = {
		"data: {\"choices\":[]}}\n\n",   /* trailing garbage */
		"data: {\"choices\":[]} {}\n\n", /* two values */
		"data: [1,2]\n\n",
		"data: \"text\"\n\n",
	};
	struct collected c;
	struct cs_buf s;
	size_t i;

	(void)state;
	for (i = 0; i < CS_ARRAY_LEN(bad); i++) {
		cs_buf_init(&s, 4096);
		assert_int_equal(
		    cs_buf_printf(&s, "%s%s%s", OA_TEXT("a"), bad[i],
		        OA_TEXT("b") OA_FINISH("stop") "data: [DONE]\n\n"),
		    CS_OK);
		check_error_stream(P, COLLECT_FLAGS, s.data, "a", "malformed");
		cs_buf_free(&s);
	}
	/* Whitespace after the value is fine. */
	collected_init_flags(&c, COLLECT_FLAGS);
	assert_int_equal(feed_str(P, &c,
	                     "data: {\"choices\":[]}  \t\n\n" OA_TEXT("a")
	                         OA_FINISH("stop") "data: [DONE]\n\n"),
	    CS_OK);
	assert_int_equal(c.n_finish, 1);
	collected_free(&c);
}

static void
test_choices_other_index_and_chunk_after_done(void **state)
{
	struct collected c;

	(void)state;
	collected_init_flags(&c, COLLECT_FLAGS);
	assert_int_equal(
	    feed_str(P, &c,
	        "data: {\"choices\":[{\"index\":1,\"delta\":{\"content\":\"X\"}},"
	        "{\"index\":0,\"delta\":{\"content\":\"ok\"}}]}\n\n"
	        "data: {\"choices\":[{\"index\":0,\"delta\":{},"
	        "\"finish_reason\":\"stop\"}]}\n\n"
	        "data: {\"choices\":[],\"usage\":{\"prompt_tokens\":1}}\n\n"
	        "data: [DONE]\n\n"
	        "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"late\"}}]}"
	        "\n\n"),
	    CS_OK);
	assert_string_equal(c.text.data, "ok");
	assert_int_equal(c.n_finish, 1);
	assert_int_equal(c.after_terminal, 0);
	assert_string_equal(c.usage,
	    "{\"prompt_tokens\":1,"
	    "\"completion_tokens\":null,\"total_tokens\":null}");
	collected_free(&c);
}

static void
test_parallel_tool_calls_same_index(void **state)
{
	struct collected c;
	struct json_object *t;

	(void)state;
	collected_init_flags(&c, COLLECT_FLAGS);
	/* Some servers send every parallel call with index 0. */
	assert_int_equal(
	    feed_str(P, &c,
	        "data: {\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,"
	        "\"id\":\"a\",\"function\":{\"name\":\"f\",\"arguments\":\"{\\\"x\\\"\"}}]}}]}\n\n"
	        "data: {\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,"
	        "\"function\":{\"arguments\":\":1}\"}}]}}]}\n\n"
	        "data: {\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,"
	        "\"id\":\"b\",\"function\":{\"name\":\"g\",\"arguments\":\"{}\"}}]}}]}\n\n"
	        "data: {\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":"
	        "\"tool_calls\"}]}\n\ndata: [DONE]\n\n"),
	    CS_OK);
	assert_int_equal(json_object_array_length(c.tools), 2);
	t = json_object_array_get_idx(c.tools, 0);
	assert_string_equal(
	    json_object_get_string(json_object_object_get(t, "arguments")),
	    "{\"x\":1}");
	t = json_object_array_get_idx(c.tools, 1);
	assert_string_equal(
	    json_object_get_string(json_object_object_get(t, "name")), "g");
	assert_string_equal(c.finish, "tool_calls");
	collected_free(&c);
}

static void
test_client_gone_stops(void **state)
{
	struct collected c;

	(void)state;
	collected_init_flags(&c, COLLECT_FLAGS);
	c.stop_after_text = 1;
	assert_int_equal(
	    feed_str(P, &c,
	        "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"a\"}}]}\n\n"
	        "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"b\"}}]}\n\n"),
	    CS_ECLIENTGONE);
	assert_string_equal(c.text.data, "a");
	collected_free(&c);
}

/* The hand-made streams of OpenAI-compatible servers' quirks
 * (docs/protocol.md, "OpenAI-compatible servers: quirks handled"). */
static void
test_compat_reasoning_content(void **state)
{
	(void)state;
	check_fixture("openai-compat-reasoning-content");
}

static void
test_compat_reasoning_field(void **state)
{
	(void)state;
	check_fixture("openai-compat-reasoning-field");
}

static void
test_compat_azure_empty_choices(void **state)
{
	(void)state;
	check_fixture("openai-compat-azure-empty-choices");
}

static void
test_compat_crlf_nospace(void **state)
{
	(void)state;
	check_fixture("openai-compat-crlf-nospace");
}

static void
test_compat_n2(void **state)
{
	(void)state;
	check_fixture("openai-compat-n2");
}

static void
test_in_band_error_shapes(void **state)
{
	static const struct {
		const char *ev, *msg;
	} cases[] = {
		/* event: error, the fields at the top level */
		{ "event: error\ndata: {\"message\":\"rate limited\","
		  "\"code\":429}\n\n",
		    "rate limited" },
		/* error as a plain string */
		{ "data: {\"error\":\"boom\"}\n\n", "boom" },
		/* error object without a message */
		{ "data: {\"error\":{\"code\":500}}\n\n",
		    "the provider reported an error" },
		/* event: error whose data is not JSON */
		{ "event: error\ndata: upstream timeout\n\n", "malformed" },
	};
	struct collected c;
	struct cs_buf s;
	size_t i;

	(void)state;
	for (i = 0; i < CS_ARRAY_LEN(cases); i++) {
		cs_buf_init(&s, 4096);
		/* A tool call in progress must not be emitted. */
		assert_int_equal(
		    cs_buf_printf(&s, "%s%s%s%s", OA_TEXT("a"),
		        "data: {\"choices\":[{\"index\":0,\"delta\":{"
		        "\"tool_calls\":[{\"index\":0,\"id\":\"c1\",\"function\":"
		        "{\"name\":\"f\",\"arguments\":\"{\"}}]}}]}\n\n",
		        cases[i].ev, OA_FINISH("stop") "data: [DONE]\n\n"),
		    CS_OK);
		collected_init_flags(&c, COLLECT_FLAGS);
		assert_int_equal(feed(P, &c, s.data, s.len, 1), CS_EUPSTREAM);
		assert_string_equal(c.text.data, "a");
		assert_int_equal(json_object_array_length(c.tools), 0);
		assert_one_error(&c, cases[i].msg);
		collected_free(&c);
		cs_buf_free(&s);
	}
}

static void
test_unknown_events_ignored(void **state)
{
	(void)state;
	check_ok_stream(P, COLLECT_FLAGS,
	    "event: ping\ndata: {}\n\n"
	    "event: future.thing\ndata: {\"choices\":[]}\n\n"
	    "data: {\"object\":\"chat.completion.keepalive\"}\n\n"
	    "id: 7\nretry: 10\nfoo: bar\n\n"
	    "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"ok\","
	    "\"audio\":{\"id\":\"x\"},\"annotations\":[]},\"extra\":1}]}\n\n" OA_FINISH(
	        "stop") "data: [DONE]\n\n",
	    "ok", "stop");
}

static void
test_oversized(void **state)
{
	(void)state;
	check_sse_oversized(P, COLLECT_FLAGS, "");
}

static void
test_split_tool_args(void **state)
{
	(void)state;
	check_split(P, COLLECT_FLAGS,
	    OA_TEXT(
	        "caf\\u00e9 \xc3\xa9 \xf0\x9f\x98\x80") "data: {\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{"
	                                                "\"index\":0,\"id\":\"c1\",\"type\":\"function\",\"function\":{"
	                                                "\"name\":\"f\",\"arguments\":\"" SPLIT_FRAG1
	                                                "\"}}]}}]}\n\n"
	                                                "data: {\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{"
	                                                "\"index\":0,\"function\":{\"arguments\":\"" SPLIT_FRAG2
	                                                "\"}}]}}]}\n\n" OA_FINISH(
	                                                    "tool_calls") "data: [DONE]\n\n",
	    "caf\xc3\xa9 \xc3\xa9 \xf0\x9f\x98\x80", SPLIT_ARGS);
}

/* ---- build(): the developer role ---- */

/* A client's "developer" message goes on as "developer" only where the
 * upstream knows the role; the server's own prompt stays "system". */
static void
test_build_developer(void **state)
{
	struct build_fixture f;
	struct cs_http_request hr;
	struct json_object *body;

	(void)state;
	build_fixture_init(&f);
	msg(&f, CS_ROLE_SYSTEM, "SERVER", NULL);
	msg(&f, CS_ROLE_SYSTEM, "Be brief.", NULL);
	f.msgs[1].developer = 1;
	msg(&f, CS_ROLE_USER, "hi", NULL);
	body = build_json(P, &f, &hr);
	assert_json_at(body, "messages",
	    "[{\"role\":\"system\",\"content\":"
	    "\"SERVER\"},{\"role\":\"system\",\"content\":\"Be brief.\"},"
	    "{\"role\":\"user\",\"content\":\"hi\"}]");
	json_object_put(body);
	cs_http_request_free(&hr);

	f.cfg.upstreams[0].developer_role = 1;
	body = build_json(P, &f, &hr);
	assert_json_at(body, "messages",
	    "[{\"role\":\"system\",\"content\":"
	    "\"SERVER\"},{\"role\":\"developer\",\"content\":\"Be brief.\"},"
	    "{\"role\":\"user\",\"content\":\"hi\"}]");
	json_object_put(body);
	cs_http_request_free(&hr);
}

/* ---- build() with tools ---- */

static void
test_build_tools(void **state)
{
	struct json_object *body;

	(void)state;
	/* The whole body, to the byte: what goes upstream, key order
	 * included. */
	assert_tools_body(P,
	    "{\"type\":\"function\",\"function\":{\"name\":\"now\"}}",
	    "{\"model\":\"m1\",\"messages\":[{\"role\":\"user\","
	    "\"content\":\"w?\"},{\"role\":\"assistant\",\"content\":null,"
	    "\"tool_calls\":[{\"id\":\"call_1\",\"type\":\"function\","
	    "\"function\":{\"name\":\"get_weather\",\"arguments\":\"{\\\"city"
	    "\\\":\\\"Paris\\\"}\"}},{\"id\":\"call_2\",\"type\":\"function\""
	    ",\"function\":{\"name\":\"now\",\"arguments\":\"not json\"}}]},"
	    "{\"role\":\"tool\",\"content\":\"18C\",\"tool_call_id\":\"call_1"
	    "\"},{\"role\":\"tool\",\"content\":\"noon\",\"tool_call_id\":\"c"
	    "all_2\"},{\"role\":\"assistant\",\"content\":\"Sunny.\","
	    "\"tool_calls\":[{\"id\":\"call_3\",\"type\":\"function\","
	    "\"function\":{\"name\":\"now\",\"arguments\":\"{}\"}}]},"
	    "{\"role\":\"user\",\"content\":\"thanks\"}],\"stream\":true,"
	    "\"stream_options\":{\"include_usage\":true},\"tools\":[{\"type\""
	    ":\"function\",\"function\":{\"name\":\"get_weather\","
	    "\"description\":\"Weather now\",\"parameters\":{\"type\":\"objec"
	    "t\",\"properties\":{\"city\":{\"type\":\"string\"}},"
	    "\"required\":[\"city\"]},\"strict\":true}},{\"type\":\"function\""
	    ",\"function\":{\"name\":\"now\"}}],\"tool_choice\":{\"type\":\"f"
	    "unction\",\"function\":{\"name\":\"now\"}}}");
	body = tools_build(P,
	    "{\"type\":\"function\",\"function\":{\"name\":"
	    "\"now\"}}");
	assert_json_at(body, "tools",
	    "[{\"type\":\"function\",\"function\":{"
	    "\"name\":\"get_weather\",\"description\":\"Weather now\","
	    "\"parameters\":{\"type\":\"object\",\"properties\":{\"city\":{"
	    "\"type\":\"string\"}},\"required\":[\"city\"]},\"strict\":true}},"
	    "{\"type\":\"function\",\"function\":{\"name\":\"now\"}}]");
	assert_json_at(body, "tool_choice",
	    "{\"type\":\"function\","
	    "\"function\":{\"name\":\"now\"}}");
	assert_json_at(body, "messages",
	    "[{\"role\":\"user\",\"content\":"
	    "\"w?\"},{\"role\":\"assistant\",\"content\":null,\"tool_calls\":["
	    "{\"id\":\"call_1\",\"type\":\"function\",\"function\":{\"name\":"
	    "\"get_weather\",\"arguments\":\"{\\\"city\\\":\\\"Paris\\\"}\"}},"
	    "{\"id\":\"call_2\",\"type\":\"function\",\"function\":{\"name\":"
	    "\"now\",\"arguments\":\"not json\"}}]},{\"role\":\"tool\","
	    "\"content\":\"18C\",\"tool_call_id\":\"call_1\"},{\"role\":"
	    "\"tool\",\"content\":\"noon\",\"tool_call_id\":\"call_2\"},{"
	    "\"role\":\"assistant\",\"content\":\"Sunny.\",\"tool_calls\":[{"
	    "\"id\":\"call_3\",\"type\":\"function\",\"function\":{\"name\":"
	    "\"now\",\"arguments\":\"{}\"}}]},{\"role\":\"user\",\"content\":"
	    "\"thanks\"}]");
	json_object_put(body);

	body = tools_build(P, "\"required\"");
	assert_json_at(body, "tool_choice", "\"required\"");
	json_object_put(body);
	body = tools_build(P, "null");
	assert_false(json_object_object_get_ex(body, "tool_choice", NULL));
	assert_true(json_object_object_get_ex(body, "tools", NULL));
	json_object_put(body);
}

/* ---- build() with response_format: passed on as sent ---- */

static void
test_build_format(void **state)
{
	struct json_object *body;

	(void)state;
	body = format_build(P, FORMAT_SCHEMA);
	assert_json_at(body, "response_format", FORMAT_SCHEMA);
	json_object_put(body);
	body = format_build(P, "{\"type\":\"json_object\"}");
	assert_json_at(body, "response_format", "{\"type\":\"json_object\"}");
	json_object_put(body);
	body = format_build(P, "{\"type\":\"text\"}"); /* the default */
	assert_false(json_object_object_get_ex(body, "response_format", NULL));
	json_object_put(body);
}

/* ---- build() with stop: "stop", an array ---- */

static void
test_build_stop(void **state)
{
	struct json_object *body;

	(void)state;
	body = option_build(P, "stop", "\"END\"");
	assert_json_at(body, "stop", "[\"END\"]");
	json_object_put(body);
	body = option_build(P, "stop", "[\"a\",\"b\"]");
	assert_json_at(body, "stop", "[\"a\",\"b\"]");
	json_object_put(body);
	body = option_build(P, "stop", "[]");
	assert_false(json_object_object_get_ex(body, "stop", NULL));
	json_object_put(body);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_text_usage),
		cmocka_unit_test(test_tool_call),
		cmocka_unit_test(test_finish_length),
		cmocka_unit_test(test_refusal),
		cmocka_unit_test(test_openrouter_comment),
		cmocka_unit_test(test_truncated),
		cmocka_unit_test(test_in_band_error),
		cmocka_unit_test(test_malformed_chunk),
		cmocka_unit_test(test_malformed_among_good),
		cmocka_unit_test(test_compat_reasoning_content),
		cmocka_unit_test(test_compat_reasoning_field),
		cmocka_unit_test(test_compat_azure_empty_choices),
		cmocka_unit_test(test_compat_crlf_nospace),
		cmocka_unit_test(test_compat_n2),
		cmocka_unit_test(test_in_band_error_shapes),
		cmocka_unit_test(test_unknown_events_ignored),
		cmocka_unit_test(test_oversized),
		cmocka_unit_test(test_split_tool_args),
		cmocka_unit_test(test_choices_other_index_and_chunk_after_done),
		cmocka_unit_test(test_parallel_tool_calls_same_index),
		cmocka_unit_test(test_client_gone_stops),
		cmocka_unit_test(test_build_developer),
		cmocka_unit_test(test_build_tools),
		cmocka_unit_test(test_build_format),
		cmocka_unit_test(test_build_stop),
	};

	return cmocka_run_group_tests_name("openai_chat", tests, NULL, NULL);
}
