/*
 * test_openai_completions.c — golden tests for the openai-completions
 * (legacy /completions) adapter: every recorded completions stream in
 * tests/fixtures/upstream, fed whole, line by line, in 7-byte pieces and
 * byte by byte, must assemble exactly the text, finish reason and usage of
 * its .expect.json.  Plus the failure paths (truncation, in-band errors,
 * malformed chunks) and the request build() produces (the transcript
 * prompt).
 */
#include <stdio.h>
#include <string.h>

#include <curl/curl.h>
#include <json-c/json.h>

#include "buf.h"
#include "config.h"
#include "event.h"
#include "provider.h"
#include "request.h"
#include "adapter_util.h"

#define P provider_named("openai-completions")

static void
check_fixture(const char *name)
{
	static const size_t steps[] = { (size_t)-1, 0, 7, 1 };
	char path[512];
	struct json_object *exp, *v;
	struct collected c;
	char *body, *expjs;
	size_t len = 0, elen = 0, i;

	snprintf(path, sizeof(path), "%s/upstream/%s.sse", fixdir(), name);
	body = tu_read_file(path, &len);
	snprintf(
	    path, sizeof(path), "%s/upstream/%s.expect.json", fixdir(), name);
	expjs = tu_read_file(path, &elen);
	exp = json_tokener_parse(expjs);
	assert_non_null(exp);

	for (i = 0; i < CS_ARRAY_LEN(steps); i++) {
		collected_init(&c);
		assert_int_equal(feed(P, &c, body, len, steps[i]), CS_OK);
		assert_int_equal(c.n_error, 0);
		assert_int_equal(c.n_finish, 1);
		assert_int_equal(c.after_terminal, 0);
		json_object_object_get_ex(exp, "text", &v);
		assert_string_equal(
		    str_or_empty(&c.text), json_object_get_string(v));
		json_object_object_get_ex(exp, "finish_reason", &v);
		assert_string_equal(c.native, json_object_get_string(v));
		assert_string_equal(c.finish, json_object_get_string(v));
		json_object_object_get_ex(exp, "usage", &v);
		assert_usage(c.usage, v);
		json_object_object_get_ex(exp, "tool_calls", &v);
		assert_true(json_object_equal(c.tools, v));
		collected_free(&c);
	}
	json_object_put(exp);
	free(body);
	free(expjs);
}

static void
test_text(void **state)
{
	(void)state;
	check_fixture("openai-completions-text");
}

#define CHUNK(t) \
	"data: {\"object\":\"text_completion\",\"choices\":[{\"text\":" \
	"\"" t "\",\"index\":0,\"logprobs\":null,\"finish_reason\":null}]," \
	"\"usage\":null}\n\n"
#define FINISH(r) \
	"data: {\"choices\":[{\"text\":\"\",\"index\":0," \
	"\"finish_reason\":\"" r "\"}],\"usage\":null}\n\n"
#define USAGE \
	"data: {\"choices\":[],\"usage\":{\"prompt_tokens\":4," \
	"\"completion_tokens\":2,\"total_tokens\":6}}\n\n"
#define DONE "data: [DONE]\n\n"

static void
test_stop_usage_and_chunk_after_done(void **state)
{
	struct collected c;

	(void)state;
	collected_init(&c);
	assert_int_equal(feed_str(P, &c,
	                     CHUNK("Hello") CHUNK(" world") FINISH("stop")
	                         USAGE DONE CHUNK("late") "data: junk\n\n"),
	    CS_OK);
	assert_string_equal(c.text.data, "Hello world");
	assert_int_equal(c.n_finish, 1);
	assert_int_equal(c.n_error, 0);
	assert_int_equal(c.after_terminal, 0);
	assert_string_equal(c.finish, "stop");
	assert_string_equal(c.native, "stop");
	assert_string_equal(c.usage,
	    "{\"prompt_tokens\":4,"
	    "\"completion_tokens\":2,\"total_tokens\":6}");
	assert_int_equal(json_object_array_length(c.tools), 0);
	collected_free(&c);
}

static void
test_no_usage_no_finish_reason(void **state)
{
	struct collected c;

	(void)state;
	collected_init(&c);
	assert_int_equal(feed_str(P, &c, CHUNK("x") DONE), CS_OK);
	assert_int_equal(c.n_finish, 1);
	assert_null(c.usage);
	assert_string_equal(c.native, "");
	assert_string_equal(c.finish, "unknown");
	collected_free(&c);
}

static void
test_other_choice_index_ignored(void **state)
{
	struct collected c;

	(void)state;
	collected_init(&c);
	assert_int_equal(
	    feed_str(P, &c,
	        "data: {\"choices\":[{\"text\":\"X\","
	        "\"index\":1},{\"text\":\"ok\",\"index\":0}]}\n\n"
	        "data: {\"choices\":[{\"text\":\"\",\"index\":1,\"finish_reason\":"
	        "\"length\"},{\"text\":\"\",\"index\":0,\"finish_reason\":"
	        "\"content_filter\"}]}\n\n" DONE),
	    CS_OK);
	assert_string_equal(c.text.data, "ok");
	assert_string_equal(c.finish, "content_filter");
	collected_free(&c);
}

static void
test_truncated(void **state)
{
	struct collected c;

	(void)state;
	collected_init(&c);
	assert_int_equal(
	    feed_str(P, &c, CHUNK("Hi") FINISH("stop") USAGE), CS_EUPSTREAM);
	assert_string_equal(c.text.data, "Hi");
	assert_int_equal(c.n_error, 1);
	assert_int_equal(c.n_finish, 0);
	assert_string_equal(c.error_type, "upstream_error");
	assert_non_null(strstr(c.error_message, "truncated"));
	collected_free(&c);

	/* [DONE] without its blank line is never dispatched. */
	collected_init(&c);
	assert_int_equal(
	    feed_str(P, &c, CHUNK("Hi") "data: [DONE]\n"), CS_EUPSTREAM);
	assert_int_equal(c.n_error, 1);
	assert_int_equal(c.n_finish, 0);
	collected_free(&c);
}

static void
test_in_band_error(void **state)
{
	struct collected c;

	(void)state;
	collected_init(&c);
	assert_int_equal(
	    feed_str(P, &c,
	        CHUNK(
	            "a") "data: {\"error\":{\"message\":\"overloaded\",\"type\":"
	                 "\"server_error\"}}\n\n" CHUNK("b") DONE),
	    CS_EUPSTREAM);
	assert_string_equal(c.text.data, "a");
	assert_int_equal(c.n_error, 1);
	assert_int_equal(c.n_finish, 0);
	assert_int_equal(c.after_terminal, 0);
	assert_string_equal(c.error_message, "overloaded");
	collected_free(&c);

	collected_init(&c);
	assert_int_equal(
	    feed_str(P, &c, "event: error\ndata: {\"detail\":1}\n\n"),
	    CS_EUPSTREAM);
	assert_int_equal(c.n_error, 1);
	collected_free(&c);
}

static void
test_malformed_chunk(void **state)
{
	struct collected c;

	(void)state;
	collected_init(&c);
	assert_int_equal(
	    feed_str(P, &c, CHUNK("a") "data: {\"choices\":[\n\n" DONE),
	    CS_EUPSTREAM);
	assert_string_equal(c.text.data, "a");
	assert_int_equal(c.n_error, 1);
	assert_int_equal(c.n_finish, 0);
	assert_int_equal(c.after_terminal, 0);
	collected_free(&c);
}

static void
test_malformed_trailing_garbage(void **state)
{
	(void)state;
	check_error_stream(P, 0,
	    CHUNK("a") "data: {\"choices\":[]}]\n\n" CHUNK("b") DONE, "a",
	    "malformed");
}

static void
test_unknown_events_ignored(void **state)
{
	(void)state;
	check_ok_stream(P, 0,
	    ": keep-alive\n\n"
	    "event: ping\ndata: {}\n\n"
	    "data: {\"object\":\"text_completion.future\",\"warning\":\"x\"}\n\n" CHUNK(
	        "ok") FINISH("stop") DONE,
	    "ok", "stop");
}

static void
test_oversized(void **state)
{
	(void)state;
	check_sse_oversized(P, 0, "");
}

/* No tool calls in this API: the text carries the split escapes and
 * characters instead. */
static void
test_split_escapes_and_utf8(void **state)
{
	(void)state;
	check_split(P, 0,
	    CHUNK("caf\\u00e9 \\\\u00e9") CHUNK(
	        "\xc3\xa9 \\ud83d\\ude00 \xf0\x9f\x98\x80") FINISH("stop") DONE,
	    "caf\xc3\xa9 \\u00e9\xc3\xa9 \xf0\x9f\x98\x80 \xf0\x9f\x98\x80",
	    NULL);
}

static void
test_client_gone_stops(void **state)
{
	struct collected c;

	(void)state;
	collected_init(&c);
	c.stop_after_text = 1;
	assert_int_equal(
	    feed_str(P, &c, CHUNK("a") CHUNK("b") DONE), CS_ECLIENTGONE);
	assert_string_equal(c.text.data, "a");
	assert_int_equal(c.n_finish, 0);
	collected_free(&c);
}

/* build() */

static void
test_build_full(void **state)
{
	struct build_fixture f;
	struct cs_http_request hr;
	struct json_object *body, *exp;
	char *h;

	(void)state;
	build_fixture_init(&f);
	snprintf(f.key, sizeof(f.key), "sk-test");
	f.cfg.upstreams[0].api_key = f.key;
	msg(&f, CS_ROLE_SYSTEM, "Be brief.", NULL);
	msg(&f, CS_ROLE_USER, "Capital of France?", NULL);
	msg(&f, CS_ROLE_ASSISTANT, "", NULL); /* tool calls only: dropped */
	msg(&f, CS_ROLE_TOOL, "Paris", "call_1");
	msg(&f, CS_ROLE_ASSISTANT, "Paris.", NULL);
	msg(&f, CS_ROLE_USER, "And \"Spain\"?", NULL);
	f.req.max_tokens = 16;
	f.req.has_temperature = 1;
	f.req.temperature = 0.25;
	body = build_json(P, &f, &hr);
	assert_string_equal(
	    hr.url.data, "https://api.example.test/v1/completions");
	h = headers_text(hr.headers);
	assert_string_equal(h,
	    "Content-Type: application/json\n"
	    "Accept: text/event-stream\nAuthorization: Bearer sk-test\n");
	free(h);
	exp = json_tokener_parse(
	    "{\"model\":\"gpt-4o\",\"prompt\":"
	    "\"System: Be brief.\\n\\nUser: Capital of France?\\n\\n"
	    "Tool: Paris\\n\\nAssistant: Paris.\\n\\nUser: And \\\"Spain\\\"?"
	    "\\n\\nAssistant:\",\"stream\":true,\"stream_options\":"
	    "{\"include_usage\":true},\"temperature\":0.25,\"max_tokens\":16}");
	assert_non_null(exp);
	assert_true(json_object_equal(body, exp));
	json_object_put(exp);
	json_object_put(body);
	cs_http_request_free(&hr);
}

static void
test_build_minimal(void **state)
{
	struct build_fixture f;
	struct cs_http_request hr;
	struct json_object *body, *exp;
	char *h;

	(void)state;
	build_fixture_init(&f);
	msg(&f, CS_ROLE_USER, "hi", NULL);
	body = build_json(P, &f, &hr);
	h = headers_text(hr.headers);
	assert_string_equal(h,
	    "Content-Type: application/json\n"
	    "Accept: text/event-stream\n");
	free(h);
	exp = json_tokener_parse(
	    "{\"model\":\"gpt-4o\",\"prompt\":"
	    "\"User: hi\\n\\nAssistant:\",\"stream\":true,\"stream_options\":"
	    "{\"include_usage\":true}}");
	assert_true(json_object_equal(body, exp));
	json_object_put(exp);
	json_object_put(body);
	cs_http_request_free(&hr);
}

/* ---- build() with tools ---- */

static void
test_build_tools(void **state)
{
	struct json_object *body;

	(void)state;
	body = tools_build(P, "\"required\"");
	/* No tools in the legacy API: the transcript tells the story. */
	assert_false(json_object_object_get_ex(body, "tools", NULL));
	assert_false(json_object_object_get_ex(body, "tool_choice", NULL));
	assert_json_at(body, "prompt",
	    "\"User: w?\\n\\nAssistant called "
	    "get_weather({\\\"city\\\":\\\"Paris\\\"})\\n\\nAssistant called "
	    "now(not json)\\n\\nTool: 18C\\n\\nTool: noon\\n\\nAssistant: "
	    "Sunny.\\n\\nAssistant called now({})\\n\\nUser: thanks\\n\\n"
	    "Assistant:\"");
	json_object_put(body);
}

/* ---- build() with stop: "stop", as Chat Completions ---- */

static void
test_build_stop(void **state)
{
	struct json_object *body;

	(void)state;
	body = option_build(P, "stop", "[\"\\n\\n\",\"Human:\"]");
	assert_json_at(body, "stop", "[\"\\n\\n\",\"Human:\"]");
	json_object_put(body);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_build_stop),
		cmocka_unit_test(test_text),
		cmocka_unit_test(test_stop_usage_and_chunk_after_done),
		cmocka_unit_test(test_no_usage_no_finish_reason),
		cmocka_unit_test(test_other_choice_index_ignored),
		cmocka_unit_test(test_truncated),
		cmocka_unit_test(test_in_band_error),
		cmocka_unit_test(test_malformed_chunk),
		cmocka_unit_test(test_malformed_trailing_garbage),
		cmocka_unit_test(test_unknown_events_ignored),
		cmocka_unit_test(test_oversized),
		cmocka_unit_test(test_split_escapes_and_utf8),
		cmocka_unit_test(test_client_gone_stops),
		cmocka_unit_test(test_build_full),
		cmocka_unit_test(test_build_minimal),
		cmocka_unit_test(test_build_tools),
	};

	return cmocka_run_group_tests_name(
	    "openai_completions", tests, NULL, NULL);
}
