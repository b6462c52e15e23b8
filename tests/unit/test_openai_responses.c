/*
 * test_openai_responses.c — golden tests for the openai-responses adapter:
 * every recorded Responses API stream in tests/fixtures/upstream, fed
 * whole, line by line, in 7-byte pieces and byte by byte, must assemble
 * exactly the text, tool calls, finish reason and usage of its
 * .expect.json.  Plus the failure paths (truncation, error events,
 * response.failed, malformed events), response.incomplete, and the request
 * build() produces.
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

#define P provider_named("openai-responses")

/* finish: the normalized reason expected besides the native one. */
static void
check_fixture(const char *name, const char *finish)
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
		if (json_object_object_get_ex(exp, "refusal", &v))
			assert_string_equal(str_or_empty(&c.refusal),
			    json_object_get_string(v));
		json_object_object_get_ex(exp, "finish_reason", &v);
		assert_string_equal(c.native, json_object_get_string(v));
		assert_string_equal(c.finish, finish);
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
	check_fixture("openai-responses-text", "stop");
}

static void
test_function_call(void **state)
{
	(void)state;
	check_fixture("openai-responses-function-call", "tool_calls");
}

/* Event helpers for hand-written streams. */
#define EV(type, json) \
	"event: " type "\ndata: {\"type\":\"" type "\"" json "}\n\n"
#define TEXT(s) \
	EV("response.output_text.delta", \
	    ",\"output_index\":0,\"content_index\":0,\"delta\":\"" s "\"")
#define COMPLETED \
	EV("response.completed", \
	    ",\"response\":{\"status\":" \
	    "\"completed\",\"usage\":{\"input_tokens\":3,\"output_tokens\":2}}")

static void
test_truncated(void **state)
{
	struct collected c;

	(void)state;
	collected_init(&c);
	assert_int_equal(feed_str(P, &c, TEXT("Hi")), CS_EUPSTREAM);
	assert_string_equal(c.text.data, "Hi");
	assert_int_equal(c.n_error, 1);
	assert_int_equal(c.n_finish, 0);
	assert_string_equal(c.error_type, "upstream_error");
	assert_non_null(strstr(c.error_message, "truncated"));
	collected_free(&c);
}

static void
test_truncated_inside_terminal_event(void **state)
{
	struct collected c;
	char buf[512];

	(void)state;
	/* The completed event without its blank line is never dispatched. */
	snprintf(buf, sizeof(buf), "%s%s", TEXT("Hi"), COMPLETED);
	buf[strlen(buf) - 2] = '\0';
	collected_init(&c);
	assert_int_equal(feed_str(P, &c, buf), CS_EUPSTREAM);
	assert_int_equal(c.n_error, 1);
	assert_int_equal(c.n_finish, 0);
	collected_free(&c);
}

static void
test_done_before_terminal_is_truncated(void **state)
{
	struct collected c;

	(void)state;
	collected_init(&c);
	assert_int_equal(
	    feed_str(P, &c, TEXT("Hi") "data: [DONE]\n\n"), CS_EUPSTREAM);
	assert_int_equal(c.n_error, 1);
	assert_int_equal(c.n_finish, 0);
	collected_free(&c);
}

static void
test_error_event(void **state)
{
	struct collected c;

	(void)state;
	collected_init(&c);
	assert_int_equal(
	    feed_str(P, &c,
	        TEXT("a") EV("error",
	            ",\"code\":\"server_error\",\"message\":\"overloaded\","
	            "\"param\":null,\"sequence_number\":3") TEXT("b")
	            COMPLETED),
	    CS_EUPSTREAM);
	assert_string_equal(c.text.data, "a");
	assert_int_equal(c.n_error, 1);
	assert_int_equal(c.n_finish, 0);
	assert_int_equal(c.after_terminal, 0);
	assert_string_equal(c.error_type, "upstream_error");
	assert_string_equal(c.error_message, "overloaded");
	collected_free(&c);
}

static void
test_error_event_nested(void **state)
{
	struct collected c;

	(void)state;
	collected_init(&c);
	assert_int_equal(
	    feed_str(P, &c,
	        EV("error",
	            ",\"error\":{\"type\":\"invalid_request_error\","
	            "\"message\":\"bad model\"}")),
	    CS_EUPSTREAM);
	assert_int_equal(c.n_error, 1);
	assert_string_equal(c.error_message, "bad model");
	collected_free(&c);
}

static void
test_failed(void **state)
{
	struct collected c;

	(void)state;
	collected_init(&c);
	assert_int_equal(
	    feed_str(P, &c,
	        TEXT("partial") EV("response.failed",
	            ",\"response\":{\"status\":\"failed\","
	            "\"error\":{\"code\":\"server_error\",\"message\":\"The model "
	            "failed\"},\"usage\":null}")),
	    CS_EUPSTREAM);
	assert_string_equal(c.text.data, "partial");
	assert_int_equal(c.n_error, 1);
	assert_int_equal(c.n_finish, 0);
	assert_string_equal(c.error_type, "upstream_error");
	assert_string_equal(c.error_message, "The model failed");
	collected_free(&c);
}

static void
test_failed_without_message(void **state)
{
	struct collected c;

	(void)state;
	collected_init(&c);
	assert_int_equal(
	    feed_str(P, &c,
	        EV("response.failed",
	            ",\"response\":{\"status\":\"failed\",\"error\":null}")),
	    CS_EUPSTREAM);
	assert_int_equal(c.n_error, 1);
	assert_true(c.error_message[0] != '\0');
	collected_free(&c);
}

static void
test_incomplete_max_tokens(void **state)
{
	struct collected c;

	(void)state;
	collected_init(&c);
	assert_int_equal(
	    feed_str(P, &c,
	        TEXT("The") EV("response.incomplete",
	            ",\"response\":{\"status\":"
	            "\"incomplete\",\"incomplete_details\":{\"reason\":"
	            "\"max_output_tokens\"},\"usage\":{\"output_tokens\":1}}")),
	    CS_OK);
	assert_string_equal(c.text.data, "The");
	assert_int_equal(c.n_finish, 1);
	assert_string_equal(c.native, "incomplete");
	assert_string_equal(c.finish, "length");
	assert_string_equal(c.usage,
	    "{\"prompt_tokens\":null,"
	    "\"completion_tokens\":1,\"total_tokens\":null}");
	collected_free(&c);
}

static void
test_incomplete_content_filter_and_other(void **state)
{
	struct collected c;

	(void)state;
	collected_init(&c);
	assert_int_equal(
	    feed_str(P, &c,
	        EV("response.incomplete",
	            ",\"response\":{\"status\":\"incomplete\",\"incomplete_details\":"
	            "{\"reason\":\"content_filter\"}}")),
	    CS_OK);
	assert_string_equal(c.native, "incomplete");
	assert_string_equal(c.finish, "content_filter");
	assert_null(c.usage);
	collected_free(&c);

	collected_init(&c);
	assert_int_equal(
	    feed_str(P, &c,
	        EV("response.incomplete",
	            ",\"response\":{\"incomplete_details\":null}")),
	    CS_OK);
	assert_string_equal(c.native, "incomplete");
	assert_string_equal(c.finish, "other");
	collected_free(&c);
}

static void
test_malformed_event(void **state)
{
	struct collected c;

	(void)state;
	collected_init(&c);
	assert_int_equal(
	    feed_str(P, &c,
	        "event: response.output_text.delta\n"
	        "data: {\"type\":\"response.output_text.delta\",\"delta\":\n\n" COMPLETED),
	    CS_EUPSTREAM);
	assert_int_equal(c.n_error, 1);
	assert_int_equal(c.n_finish, 0);
	assert_int_equal(c.after_terminal, 0);
	collected_free(&c);

	collected_init(&c);
	assert_int_equal(feed_str(P, &c, "data: [1,2]\n\n"), CS_EUPSTREAM);
	assert_int_equal(c.n_error, 1);
	collected_free(&c);
}

static void
test_refusal_and_reasoning(void **state)
{
	struct collected c;

	(void)state;
	collected_init(&c);
	assert_int_equal(
	    feed_str(P, &c,
	        EV("response.reasoning_summary_text.delta",
	            ",\"output_index\":0,\"summary_index\":0,\"delta\":\"think \"")
	            EV("response.reasoning_text.delta",
	                ",\"output_index\":0,\"content_index\":0,\"delta\":\"more\"")
	                EV("response.refusal.delta",
	                    ",\"output_index\":1,\"content_index\":0,\"delta\":\"I can't\"")
	                    EV("response.refusal.done",
	                        ",\"output_index\":1,\"content_index\":0,\"refusal\":\"I can't\"")
	                        EV("response.output_text.done",
	                            ",\"output_index\":1,\"content_index\":0,\"text\":\"ignored\"")
	                            COMPLETED),
	    CS_OK);
	assert_string_equal(str_or_empty(&c.text), "");
	assert_string_equal(c.refusal.data, "I can't");
	assert_string_equal(c.reasoning.data, "think more");
	assert_string_equal(c.finish, "stop");
	assert_string_equal(c.native, "completed");
	collected_free(&c);
}

static void
test_nothing_after_completed(void **state)
{
	struct collected c;

	(void)state;
	collected_init(&c);
	assert_int_equal(
	    feed_str(P, &c,
	        TEXT("ok") COMPLETED TEXT(
	            "late") "data: [DONE]\n\ndata: not json\n\n" EV("error",
	            ",\"message\":\"late\"")),
	    CS_OK);
	assert_string_equal(c.text.data, "ok");
	assert_int_equal(c.n_finish, 1);
	assert_int_equal(c.n_error, 0);
	assert_int_equal(c.after_terminal, 0);
	assert_string_equal(c.usage,
	    "{\"prompt_tokens\":3,\"completion_tokens\":2,"
	    "\"total_tokens\":5}");
	collected_free(&c);
}

#define ADDED(idx, call, name) \
	EV("response.output_item.added", \
	    ",\"output_index\":" idx ",\"item\":{\"type\":\"function_call\"," \
	    "\"id\":\"fc_" idx "\",\"call_id\":\"" call "\",\"name\":\"" name \
	    "\",\"arguments\":\"\",\"status\":\"in_progress\"}")
#define ARGS_DELTA(idx, d) \
	EV("response.function_call_arguments.delta", \
	    ",\"item_id\":\"fc_" idx "\",\"output_index\":" idx \
	    ",\"delta\":\"" d "\"")

static void
test_parallel_calls_interleaved(void **state)
{
	struct collected c;
	struct json_object *exp;

	(void)state;
	collected_init(&c);
	assert_int_equal(
	    feed_str(P, &c,
	        ADDED("0", "call_a", "f") ADDED("1", "call_b", "g")
	            ARGS_DELTA("1", "{\\\"y\\\"")
	                ARGS_DELTA("0", "{\\\"x\\\":1}") ARGS_DELTA("1", ":2}")
	        /* b completes first; its done has no arguments field. */
	        EV("response.function_call_arguments.done",
	            ",\"item_id\":\"fc_1\",\"output_index\":1")
	            EV("response.output_item.done",
	                ",\"output_index\":1,\"item\":"
	                "{\"type\":\"function_call\",\"call_id\":\"call_b\",\"name\":\"g\","
	                "\"arguments\":\"{\\\"y\\\":2}\"}")
	        /* a's output_item.done alone ends it, with the full arguments. */
	        EV("response.output_item.done",
	            ",\"output_index\":0,\"item\":"
	            "{\"type\":\"function_call\",\"call_id\":\"call_a\",\"name\":\"f\","
	            "\"arguments\":\"{\\\"x\\\":1}\"}") COMPLETED),
	    CS_OK);
	exp = json_tokener_parse(
	    "[{\"id\":\"call_b\",\"name\":\"g\","
	    "\"arguments\":\"{\\\"y\\\":2}\"},{\"id\":\"call_a\",\"name\":"
	    "\"f\",\"arguments\":\"{\\\"x\\\":1}\"}]");
	assert_true(json_object_equal(c.tools, exp));
	assert_string_equal(c.finish, "tool_calls");
	assert_string_equal(c.native, "completed");
	json_object_put(exp);
	collected_free(&c);
}

static void
test_done_arguments_win(void **state)
{
	struct collected c;
	struct json_object *t;

	(void)state;
	collected_init(&c);
	assert_int_equal(
	    feed_str(P, &c,
	        ADDED("0", "call_a", "f") ARGS_DELTA("0", "{\\\"x\\\":")
	            EV("response.function_call_arguments.done",
	                ",\"output_index\":0,\"arguments\":\"{\\\"x\\\":42}\"")
	                COMPLETED),
	    CS_OK);
	assert_int_equal(json_object_array_length(c.tools), 1);
	t = json_object_array_get_idx(c.tools, 0);
	assert_string_equal(
	    json_object_get_string(json_object_object_get(t, "arguments")),
	    "{\"x\":42}");
	collected_free(&c);
}

static void
test_call_never_done_flushed_at_finish(void **state)
{
	struct collected c;
	struct json_object *t;

	(void)state;
	collected_init(&c);
	assert_int_equal(feed_str(P, &c,
	                     TEXT("Let me check.") ADDED("1", "call_z",
	                         "lookup") ARGS_DELTA("1", "{}") COMPLETED),
	    CS_OK);
	assert_string_equal(c.text.data, "Let me check.");
	assert_int_equal(json_object_array_length(c.tools), 1);
	t = json_object_array_get_idx(c.tools, 0);
	assert_string_equal(
	    json_object_get_string(json_object_object_get(t, "id")), "call_z");
	assert_string_equal(
	    json_object_get_string(json_object_object_get(t, "name")),
	    "lookup");
	assert_string_equal(
	    json_object_get_string(json_object_object_get(t, "arguments")),
	    "{}");
	assert_string_equal(c.finish, "tool_calls");
	assert_int_equal(c.after_terminal, 0);
	collected_free(&c);
}

static void
test_non_function_items_ignored(void **state)
{
	struct collected c;

	(void)state;
	collected_init(&c);
	assert_int_equal(
	    feed_str(P, &c,
	        EV("response.output_item.added",
	            ",\"output_index\":0,\"item\":{\"type\":\"web_search_call\","
	            "\"id\":\"ws_1\"}") EV("response.output_item.done",
	            ",\"output_index\":0,\"item\":{\"type\":\"web_search_call\","
	            "\"id\":\"ws_1\"}") EV("response.output_item.added",
	            ",\"output_index\":1,\"item\":{\"type\":\"message\"}")
	            TEXT("x") COMPLETED),
	    CS_OK);
	assert_int_equal(json_object_array_length(c.tools), 0);
	assert_string_equal(c.text.data, "x");
	assert_string_equal(c.finish, "stop");
	collected_free(&c);
}

static void
test_malformed_trailing_garbage(void **state)
{
	(void)state;
	check_error_stream(P, 0,
	    TEXT(
	        "a") "event: response.output_text.delta\ndata: {\"type\":"
	             "\"response.output_text.delta\",\"delta\":\"b\"} x\n\n" COMPLETED,
	    "a", "malformed");
}

static void
test_unknown_events_ignored(void **state)
{
	(void)state;
	check_ok_stream(P, 0,
	    EV("response.future_feature.delta",
	        ",\"delta\":\"nope\"") "event: keepalive\ndata: {}\n\n"
	                               "event: response.output_text.delta\ndata: {\"type\":"
	                               "\"response.brand_new\",\"delta\":\"hidden\"}\n\n" TEXT(
	                                   "ok") COMPLETED,
	    "ok", "completed");
}

static void
test_oversized(void **state)
{
	(void)state;
	check_sse_oversized(
	    P, 0, "event: response.function_call_arguments.delta\n");
}

static void
test_split_tool_args(void **state)
{
	(void)state;
	check_split(P, 0,
	    TEXT("caf\\u00e9 \xf0\x9f\x98\x80") EV("response.output_item.added",
	        ",\"output_index\":1,\"item\":{"
	        "\"type\":\"function_call\",\"id\":\"fc_1\",\"call_id\":\"call_1\","
	        "\"name\":\"f\",\"arguments\":\"\"}")
	        EV("response.function_call_arguments.delta",
	            ",\"output_index\":1,"
	            "\"item_id\":\"fc_1\",\"delta\":\"" SPLIT_FRAG1 "\"")
	            EV("response.function_call_arguments.delta",
	                ",\"output_index\":1,"
	                "\"item_id\":\"fc_1\",\"delta\":\"" SPLIT_FRAG2 "\"")
	                COMPLETED,
	    "caf\xc3\xa9 \xf0\x9f\x98\x80", SPLIT_ARGS);
}

static void
test_client_gone_stops(void **state)
{
	struct collected c;

	(void)state;
	collected_init(&c);
	c.stop_after_text = 1;
	assert_int_equal(
	    feed_str(P, &c, TEXT("a") TEXT("b") COMPLETED), CS_ECLIENTGONE);
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
	msg(&f, CS_ROLE_SYSTEM, "Answer in French.", NULL);
	msg(&f, CS_ROLE_USER, "Capital of France?", NULL);
	msg(&f, CS_ROLE_ASSISTANT, "", NULL); /* tool calls only: dropped */
	msg(&f, CS_ROLE_TOOL, "Paris", "call_1");
	msg(&f, CS_ROLE_ASSISTANT, "Paris.", NULL);
	msg(&f, CS_ROLE_USER, "And \"Spain\"?", NULL);
	f.req.max_tokens = 128;
	f.req.has_temperature = 1;
	f.req.temperature = 0.5;
	body = build_json(P, &f, &hr);
	assert_string_equal(
	    hr.url.data, "https://api.example.test/v1/responses");
	h = headers_text(hr.headers);
	assert_string_equal(h,
	    "Content-Type: application/json\n"
	    "Accept: text/event-stream\nAuthorization: Bearer sk-test\n");
	free(h);
	exp = json_tokener_parse(
	    "{\"model\":\"gpt-4o\",\"stream\":true,"
	    "\"instructions\":\"Be brief.\\n\\nAnswer in French.\","
	    "\"input\":[{\"role\":\"user\",\"content\":\"Capital of France?\"},"
	    "{\"type\":\"function_call_output\",\"call_id\":\"call_1\","
	    "\"output\":\"Paris\"},"
	    "{\"role\":\"assistant\",\"content\":\"Paris.\"},"
	    "{\"role\":\"user\",\"content\":\"And \\\"Spain\\\"?\"}],"
	    "\"max_output_tokens\":128,\"temperature\":0.5}");
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
	/* No key, no Authorization header. */
	assert_string_equal(h,
	    "Content-Type: application/json\n"
	    "Accept: text/event-stream\n");
	free(h);
	/* No system message: no instructions; unset limits are left out. */
	exp = json_tokener_parse(
	    "{\"model\":\"gpt-4o\",\"stream\":true,"
	    "\"input\":[{\"role\":\"user\",\"content\":\"hi\"}]}");
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
	/* The whole body, to the byte: what goes upstream, key order
	 * included. */
	assert_tools_body(P,
	    "{\"type\":\"function\",\"function\":{\"name\":\"now\"}}",
	    "{\"model\":\"m1\",\"stream\":true,\"input\":[{\"role\":\"user\","
	    "\"content\":\"w?\"},{\"type\":\"function_call\","
	    "\"call_id\":\"call_1\",\"name\":\"get_weather\","
	    "\"arguments\":\"{\\\"city\\\":\\\"Paris\\\"}\"},"
	    "{\"type\":\"function_call\",\"call_id\":\"call_2\","
	    "\"name\":\"now\",\"arguments\":\"not json\"},{\"type\":\"functio"
	    "n_call_output\",\"call_id\":\"call_1\",\"output\":\"18C\"},"
	    "{\"type\":\"function_call_output\",\"call_id\":\"call_2\","
	    "\"output\":\"noon\"},{\"role\":\"assistant\",\"content\":\"Sunny"
	    ".\"},{\"type\":\"function_call\",\"call_id\":\"call_3\","
	    "\"name\":\"now\",\"arguments\":\"{}\"},{\"role\":\"user\","
	    "\"content\":\"thanks\"}],\"tools\":[{\"type\":\"function\","
	    "\"name\":\"get_weather\",\"description\":\"Weather now\","
	    "\"parameters\":{\"type\":\"object\",\"properties\":{\"city\":{\""
	    "type\":\"string\"}},\"required\":[\"city\"]},\"strict\":true},"
	    "{\"type\":\"function\",\"name\":\"now\"}],\"tool_choice\":{\"typ"
	    "e\":\"function\",\"name\":\"now\"}}");
	body = tools_build(P,
	    "{\"type\":\"function\",\"function\":{\"name\":"
	    "\"now\"}}");
	assert_json_at(body, "tools",
	    "[{\"type\":\"function\",\"name\":"
	    "\"get_weather\",\"description\":\"Weather now\",\"parameters\":{"
	    "\"type\":\"object\",\"properties\":{\"city\":{\"type\":\"string\""
	    "}},\"required\":[\"city\"]},\"strict\":true},{\"type\":"
	    "\"function\",\"name\":\"now\"}]");
	assert_json_at(body, "tool_choice",
	    "{\"type\":\"function\","
	    "\"name\":\"now\"}");
	assert_json_at(body, "input",
	    "[{\"role\":\"user\",\"content\":"
	    "\"w?\"},{\"type\":\"function_call\",\"call_id\":\"call_1\","
	    "\"name\":\"get_weather\",\"arguments\":\"{\\\"city\\\":"
	    "\\\"Paris\\\"}\"},{\"type\":\"function_call\",\"call_id\":"
	    "\"call_2\",\"name\":\"now\",\"arguments\":\"not json\"},{\"type\":"
	    "\"function_call_output\",\"call_id\":\"call_1\",\"output\":"
	    "\"18C\"},{\"type\":\"function_call_output\",\"call_id\":\"call_2\","
	    "\"output\":\"noon\"},{\"role\":\"assistant\",\"content\":"
	    "\"Sunny.\"},{\"type\":\"function_call\",\"call_id\":\"call_3\","
	    "\"name\":\"now\",\"arguments\":\"{}\"},{\"role\":\"user\","
	    "\"content\":\"thanks\"}]");
	json_object_put(body);

	body = tools_build(P, "\"auto\"");
	assert_json_at(body, "tool_choice", "\"auto\"");
	json_object_put(body);
	body = tools_build(P, "\"none\"");
	assert_json_at(body, "tool_choice", "\"none\"");
	json_object_put(body);
	body = tools_build(P, "\"required\"");
	assert_json_at(body, "tool_choice", "\"required\"");
	json_object_put(body);
	body = tools_build(P, "null");
	assert_false(json_object_object_get_ex(body, "tool_choice", NULL));
	json_object_put(body);
}

/* ---- build() with response_format: text.format, flattened ---- */

static void
test_build_format(void **state)
{
	struct json_object *body;

	(void)state;
	body = format_build(P, FORMAT_SCHEMA);
	assert_json_at(body, "text",
	    "{\"format\":{\"type\":\"json_schema\",\"name\":\"city\","
	    "\"schema\":" FORMAT_SCHEMA_ONLY ",\"strict\":true}}");
	assert_false(json_object_object_get_ex(body, "response_format", NULL));
	json_object_put(body);
	body = format_build(P, "{\"type\":\"json_object\"}");
	assert_json_at(body, "text", "{\"format\":{\"type\":\"json_object\"}}");
	json_object_put(body);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_text),
		cmocka_unit_test(test_function_call),
		cmocka_unit_test(test_truncated),
		cmocka_unit_test(test_truncated_inside_terminal_event),
		cmocka_unit_test(test_done_before_terminal_is_truncated),
		cmocka_unit_test(test_error_event),
		cmocka_unit_test(test_error_event_nested),
		cmocka_unit_test(test_failed),
		cmocka_unit_test(test_failed_without_message),
		cmocka_unit_test(test_incomplete_max_tokens),
		cmocka_unit_test(test_incomplete_content_filter_and_other),
		cmocka_unit_test(test_malformed_event),
		cmocka_unit_test(test_malformed_trailing_garbage),
		cmocka_unit_test(test_unknown_events_ignored),
		cmocka_unit_test(test_oversized),
		cmocka_unit_test(test_split_tool_args),
		cmocka_unit_test(test_refusal_and_reasoning),
		cmocka_unit_test(test_nothing_after_completed),
		cmocka_unit_test(test_parallel_calls_interleaved),
		cmocka_unit_test(test_done_arguments_win),
		cmocka_unit_test(test_call_never_done_flushed_at_finish),
		cmocka_unit_test(test_non_function_items_ignored),
		cmocka_unit_test(test_client_gone_stops),
		cmocka_unit_test(test_build_full),
		cmocka_unit_test(test_build_minimal),
		cmocka_unit_test(test_build_tools),
		cmocka_unit_test(test_build_format),
	};

	return cmocka_run_group_tests_name(
	    "openai_responses", tests, NULL, NULL);
}
