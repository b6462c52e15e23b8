/*
 * test_openai_chat.c — golden tests for the openai-chat adapter: every
 * recorded OpenAI stream in tests/fixtures/upstream, fed whole, line by
 * line, in 7-byte pieces and byte by byte, must assemble exactly the text,
 * tool calls, finish reason and usage of its .expect.json.  Plus the
 * failure paths: truncation, in-band errors, malformed chunks.
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

static const struct cs_provider *const P = &cs_provider_openai_chat;
/* How collect() records this adapter's events (adapter_util.h). */
#define COLLECT_FLAGS (COLLECT_REASONING_AS_TEXT)

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
	snprintf(path, sizeof(path), "%s/upstream/%s.expect.json", fixdir(),
	    name);
	expjs = tu_read_file(path, &elen);
	exp = json_tokener_parse(expjs);
	assert_non_null(exp);

	for (i = 0; i < CS_ARRAY_LEN(steps); i++) {
		collected_init_flags(&c, COLLECT_FLAGS);
		assert_int_equal(feed(P, &c, body, len, steps[i]), CS_OK);
		assert_int_equal(c.n_error, 0);
		assert_int_equal(c.n_finish, 1);
		assert_int_equal(c.after_terminal, 0);
		json_object_object_get_ex(exp, "text", &v);
		assert_string_equal(c.text.data ? c.text.data : "",
		    json_object_get_string(v));
		if (json_object_object_get_ex(exp, "refusal", &v))
			assert_string_equal(c.refusal.data ?
			    c.refusal.data : "", json_object_get_string(v));
		json_object_object_get_ex(exp, "finish_reason", &v);
		assert_string_equal(c.native, json_object_get_string(v));
		json_object_object_get_ex(exp, "usage", &v);
		if (v == NULL)
			assert_null(c.usage);
		else {
			struct json_object *got = json_tokener_parse(c.usage);

			assert_true(json_object_equal(got, v));
			json_object_put(got);
		}
		json_object_object_get_ex(exp, "tool_calls", &v);
		assert_true(json_object_equal(c.tools, v));
		collected_free(&c);
	}
	json_object_put(exp);
	free(body);
	free(expjs);
}

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
	assert_int_equal(feed_str(P, &c,
	    "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hi\"}}]}"
	    "\n\n"), CS_EUPSTREAM);
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
	assert_int_equal(feed_str(P, &c,
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
	assert_int_equal(feed_str(P, &c, "data: {\"choices\":[\n\n"),
	    CS_EUPSTREAM);
	assert_int_equal(c.n_error, 1);
	collected_free(&c);
}

static void
test_choices_other_index_and_chunk_after_done(void **state)
{
	struct collected c;

	(void)state;
	collected_init_flags(&c, COLLECT_FLAGS);
	assert_int_equal(feed_str(P, &c,
	    "data: {\"choices\":[{\"index\":1,\"delta\":{\"content\":\"X\"}},"
	    "{\"index\":0,\"delta\":{\"content\":\"ok\"}}]}\n\n"
	    "data: {\"choices\":[{\"index\":0,\"delta\":{},"
	    "\"finish_reason\":\"stop\"}]}\n\n"
	    "data: {\"choices\":[],\"usage\":{\"prompt_tokens\":1}}\n\n"
	    "data: [DONE]\n\n"
	    "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"late\"}}]}"
	    "\n\n"), CS_OK);
	assert_string_equal(c.text.data, "ok");
	assert_int_equal(c.n_finish, 1);
	assert_int_equal(c.after_terminal, 0);
	assert_string_equal(c.usage, "{\"prompt_tokens\":1}");
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
	assert_int_equal(feed_str(P, &c,
	    "data: {\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,"
	    "\"id\":\"a\",\"function\":{\"name\":\"f\",\"arguments\":\"{\\\"x\\\"\"}}]}}]}\n\n"
	    "data: {\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,"
	    "\"function\":{\"arguments\":\":1}\"}}]}}]}\n\n"
	    "data: {\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,"
	    "\"id\":\"b\",\"function\":{\"name\":\"g\",\"arguments\":\"{}\"}}]}}]}\n\n"
	    "data: {\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":"
	    "\"tool_calls\"}]}\n\ndata: [DONE]\n\n"), CS_OK);
	assert_int_equal(json_object_array_length(c.tools), 2);
	t = json_object_array_get_idx(c.tools, 0);
	assert_string_equal(json_object_get_string(
	    json_object_object_get(t, "arguments")), "{\"x\":1}");
	t = json_object_array_get_idx(c.tools, 1);
	assert_string_equal(json_object_get_string(
	    json_object_object_get(t, "name")), "g");
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
	assert_int_equal(feed_str(P, &c,
	    "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"a\"}}]}\n\n"
	    "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"b\"}}]}\n\n"),
	    CS_ECLIENTGONE);
	assert_string_equal(c.text.data, "a");
	collected_free(&c);
}

/* ---- build() with tools ---- */

static void
test_build_tools(void **state)
{
	struct json_object *body;

	(void)state;
	body = tools_build(P, "{\"type\":\"function\",\"function\":{\"name\":"
	    "\"now\"}}");
	assert_json_at(body, "tools", "[{\"type\":\"function\",\"function\":{"
	    "\"name\":\"get_weather\",\"description\":\"Weather now\","
	    "\"parameters\":{\"type\":\"object\",\"properties\":{\"city\":{"
	    "\"type\":\"string\"}},\"required\":[\"city\"]},\"strict\":true}},"
	    "{\"type\":\"function\",\"function\":{\"name\":\"now\"}}]");
	assert_json_at(body, "tool_choice", "{\"type\":\"function\","
	    "\"function\":{\"name\":\"now\"}}");
	assert_json_at(body, "messages", "[{\"role\":\"user\",\"content\":"
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
		cmocka_unit_test(test_choices_other_index_and_chunk_after_done),
		cmocka_unit_test(test_parallel_tool_calls_same_index),
		cmocka_unit_test(test_client_gone_stops),
		cmocka_unit_test(test_build_tools),
	};

	return cmocka_run_group_tests_name("openai_chat", tests, NULL, NULL);
}
