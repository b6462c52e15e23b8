/*
 * test_anthropic.c — golden tests for the anthropic (Messages API)
 * adapter: every recorded Anthropic stream in tests/fixtures/upstream, fed
 * whole, line by line, in 7-byte pieces and byte by byte, must assemble
 * exactly the text, tool calls, finish reason and usage of its
 * .expect.json.  Plus the failure paths (truncation, in-band error,
 * malformed and oversized events) and the request build().
 */
#include <dirent.h>
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

#define P provider_named("anthropic")
/* How collect() records this adapter's events (adapter_util.h). */
#define COLLECT_FLAGS (COLLECT_NO_REFUSAL)

/* name is the fixture file name without .sse. */
static void
check_fixture(const char *name)
{
	check_fixture_ext(P, COLLECT_FLAGS, name, "sse");
}

static void
test_text(void **state)
{
	(void)state;
	check_fixture("anthropic-text");
}

static void
test_tool_use(void **state)
{
	(void)state;
	check_fixture("anthropic-tool-use");
}

/* Every anthropic-*.sse with an .expect.json, including ones added later. */
static void
test_all_fixtures(void **state)
{
	char dir[512], name[256], path[800];
	struct dirent *de;
	DIR *d;
	size_t n, count = 0;
	FILE *f;

	(void)state;
	snprintf(dir, sizeof(dir), "%s/upstream", fixdir());
	assert_non_null(d = opendir(dir));
	while ((de = readdir(d)) != NULL) {
		n = strlen(de->d_name);
		if (strncmp(de->d_name, "anthropic-", 10) != 0 || n < 5 ||
		    n - 4 >= sizeof(name) ||
		    strcmp(de->d_name + n - 4, ".sse") != 0)
			continue;
		memcpy(name, de->d_name, n - 4);
		name[n - 4] = '\0';
		snprintf(path, sizeof(path), "%s/%s.expect.json", dir, name);
		if ((f = fopen(path, "r")) == NULL)
			continue;
		fclose(f);
		check_fixture(name);
		count++;
	}
	closedir(d);
	assert_true(count >= 2);
}

#define START \
	"event: message_start\ndata: {\"type\":\"message_start\",\"message\":" \
	"{\"id\":\"msg_1\",\"usage\":{\"input_tokens\":10," \
	"\"cache_read_input_tokens\":5,\"output_tokens\":1}}}\n\n"
#define TEXT_BLOCK \
	"event: content_block_start\ndata: {\"type\":\"content_block_start\"," \
	"\"index\":0,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n"
#define DELTA(s) \
	"event: content_block_delta\ndata: {\"type\":\"content_block_delta\"," \
	"\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"" s \
	"\"}}\n\n"
#define STOP_BLOCK(i) \
	"event: content_block_stop\ndata: {\"type\":\"content_block_stop\"," \
	"\"index\":" #i "}\n\n"
#define MDELTA(reason) \
	"event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":" \
	"{\"stop_reason\":\"" reason "\"},\"usage\":{\"output_tokens\":7," \
	"\"cache_read_input_tokens\":null}}\n\n"
#define MSTOP "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n"

static void
test_truncated(void **state)
{
	struct collected c;

	(void)state;
	collected_init_flags(&c, COLLECT_FLAGS);
	assert_int_equal(
	    feed_str(P, &c, START TEXT_BLOCK DELTA("Hi")), CS_EUPSTREAM);
	assert_string_equal(c.text.data, "Hi");
	assert_int_equal(c.n_error, 1);
	assert_int_equal(c.n_finish, 0);
	assert_string_equal(c.error_type, "upstream_error");
	collected_free(&c);

	/* message_delta alone is not the end either. */
	collected_init_flags(&c, COLLECT_FLAGS);
	assert_int_equal(
	    feed_str(P, &c,
	        START TEXT_BLOCK DELTA("Hi") STOP_BLOCK(0) MDELTA("end_turn")),
	    CS_EUPSTREAM);
	assert_int_equal(c.n_error, 1);
	assert_int_equal(c.n_finish, 0);
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
	        START TEXT_BLOCK DELTA(
	            "a") "event: error\ndata: {\"type\": \"error\", \"error\": {\"details\":"
	                 " null, \"type\": \"overloaded_error\", \"message\": \"Overloaded\"}"
	                 "}\n\n" DELTA("b") MSTOP),
	    CS_EUPSTREAM);
	assert_string_equal(c.text.data, "a");
	assert_int_equal(c.n_error, 1);
	assert_int_equal(c.n_finish, 0);
	assert_int_equal(c.after_terminal, 0);
	assert_string_equal(c.error_type, "upstream_error");
	assert_string_equal(c.error_message, "Overloaded");
	collected_free(&c);

	/* An error event whose data is not JSON still fails cleanly. */
	collected_init_flags(&c, COLLECT_FLAGS);
	assert_int_equal(
	    feed_str(P, &c, "event: error\ndata: oops\n\n"), CS_EUPSTREAM);
	assert_int_equal(c.n_error, 1);
	collected_free(&c);
}

static void
test_malformed(void **state)
{
	struct collected c;

	(void)state;
	collected_init_flags(&c, COLLECT_FLAGS);
	assert_int_equal(
	    feed_str(P, &c,
	        START "event: content_block_delta\ndata: {\"type\":\n\n" MSTOP),
	    CS_EUPSTREAM);
	assert_int_equal(c.n_error, 1);
	assert_int_equal(c.n_finish, 0);
	assert_int_equal(c.after_terminal, 0);
	collected_free(&c);
}

static void
test_oversized(void **state)
{
	(void)state;
	check_sse_oversized(P, COLLECT_FLAGS, "event: content_block_delta\n");
}

static void
test_usage_merge_and_finish_map(void **state)
{
	static const struct {
		const char *native, *mapped;
	} m[] = {
		{ "end_turn", "stop" },
		{ "stop_sequence", "stop" },
		{ "max_tokens", "length" },
		{ "tool_use", "tool_calls" },
		{ "refusal", "content_filter" },
		{ "pause_turn", "other" },
	};
	struct collected c;
	struct cs_buf s;
	size_t i;

	(void)state;
	for (i = 0; i < CS_ARRAY_LEN(m); i++) {
		cs_buf_init(&s, 1 << 16);
		assert_int_equal(
		    cs_buf_printf(&s,
		        "%s%s%s"
		        "event: message_delta\ndata: {\"type\":\"message_delta\","
		        "\"delta\":{\"stop_reason\":\"%s\"},\"usage\":{"
		        "\"output_tokens\":7,\"cache_read_input_tokens\":null}}\n\n"
		        "%s",
		        START, TEXT_BLOCK, DELTA("x"), m[i].native, MSTOP),
		    CS_OK);
		collected_init_flags(&c, COLLECT_FLAGS);
		assert_int_equal(feed(P, &c, s.data, s.len, 3), CS_OK);
		assert_string_equal(c.native, m[i].native);
		assert_string_equal(c.finish, m[i].mapped);
		/* output_tokens overridden, null leaves the start value;
		 * cache reads count in the prompt. */
		assert_string_equal(c.usage,
		    "{\"prompt_tokens\":15,"
		    "\"completion_tokens\":7,\"total_tokens\":22,"
		    "\"cached_tokens\":5}");
		collected_free(&c);
		cs_buf_free(&s);
	}

	/* No message_delta at all: reason unknown, usage from the start. */
	collected_init_flags(&c, COLLECT_FLAGS);
	assert_int_equal(feed_str(P, &c, START MSTOP), CS_OK);
	assert_string_equal(c.finish, "unknown");
	assert_string_equal(c.native, "");
	assert_non_null(c.usage);
	collected_free(&c);

	/* No usage anywhere: NULL. */
	collected_init_flags(&c, COLLECT_FLAGS);
	assert_int_equal(feed_str(P, &c, MSTOP), CS_OK);
	assert_null(c.usage);
	collected_free(&c);

	/* Counts no model reaches (that would overflow once added up) are
	 * not believed: the prompt sum stays the real input_tokens. */
	collected_init_flags(&c, COLLECT_FLAGS);
	assert_int_equal(feed_str(P, &c,
	                     "event: message_start\ndata: {\"type\":"
	                     "\"message_start\",\"message\":{\"usage\":{"
	                     "\"input_tokens\":10,"
	                     "\"cache_read_input_tokens\":9223372036854775807,"
	                     "\"cache_creation_input_tokens\":"
	                     "9223372036854775807,\"output_tokens\":"
	                     "9223372036854775807}}}\n\n" MSTOP),
	    CS_OK);
	assert_string_equal(c.usage,
	    "{\"prompt_tokens\":10,\"completion_tokens\":null,"
	    "\"total_tokens\":null}");
	collected_free(&c);
}

static void
test_thinking_and_tools(void **state)
{
	struct collected c;
	struct json_object *t;

	(void)state;
	collected_init_flags(&c, COLLECT_FLAGS);
	assert_int_equal(
	    feed_str(P, &c,
	        START
	        "event: content_block_start\ndata: {\"type\":\"content_block_start\","
	        "\"index\":0,\"content_block\":{\"type\":\"thinking\","
	        "\"thinking\":\"\"}}\n\n"
	        "event: content_block_delta\ndata: {\"type\":\"content_block_delta\","
	        "\"index\":0,\"delta\":{\"type\":\"thinking_delta\",\"thinking\":"
	        "\"hmm\"}}\n\n"
	        "event: content_block_delta\ndata: {\"type\":\"content_block_delta\","
	        "\"index\":0,\"delta\":{\"type\":\"signature_delta\",\"signature\":"
	        "\"abc\"}}\n\n" STOP_BLOCK(0)
	        /* Two tool_use blocks; the second never gets its stop. */
	        "event: content_block_start\ndata: {\"type\":\"content_block_start\","
	        "\"index\":1,\"content_block\":{\"type\":\"tool_use\",\"id\":\"t1\","
	        "\"name\":\"f\",\"input\":{}}}\n\n"
	        "event: content_block_start\ndata: {\"type\":\"content_block_start\","
	        "\"index\":2,\"content_block\":{\"type\":\"tool_use\",\"id\":\"t2\","
	        "\"name\":\"g\",\"input\":{}}}\n\n"
	        "event: content_block_delta\ndata: {\"type\":\"content_block_delta\","
	        "\"index\":2,\"delta\":{\"type\":\"input_json_delta\","
	        "\"partial_json\":\"{\\\"b\\\":\"}}\n\n"
	        "event: content_block_delta\ndata: {\"type\":\"content_block_delta\","
	        "\"index\":1,\"delta\":{\"type\":\"input_json_delta\","
	        "\"partial_json\":\"{\\\"a\\\":1}\"}}\n\n" STOP_BLOCK(1)
	        /* A tool_use with its input inline and no deltas. */
	        "event: content_block_start\ndata: {\"type\":\"content_block_start\","
	        "\"index\":3,\"content_block\":{\"type\":\"tool_use\",\"id\":\"t3\","
	        "\"name\":\"h\",\"input\":{\"z\":true}}}\n\n" STOP_BLOCK(
	            3) "event: ping\ndata: {\"type\": \"ping\"}\n\n" MDELTA("max_tokens")
	            MSTOP),
	    CS_OK);
	assert_string_equal(c.reasoning.data, "hmm");
	assert_null(c.text.data);
	assert_int_equal(json_object_array_length(c.tools), 3);
	t = json_object_array_get_idx(c.tools, 0);
	assert_string_equal(
	    json_object_get_string(json_object_object_get(t, "id")), "t1");
	assert_string_equal(
	    json_object_get_string(json_object_object_get(t, "arguments")),
	    "{\"a\":1}");
	t = json_object_array_get_idx(c.tools, 1);
	assert_string_equal(
	    json_object_get_string(json_object_object_get(t, "id")), "t3");
	assert_string_equal(
	    json_object_get_string(json_object_object_get(t, "arguments")),
	    "{\"z\":true}");
	/* Emitted before the finish although never stopped, truncated. */
	t = json_object_array_get_idx(c.tools, 2);
	assert_string_equal(
	    json_object_get_string(json_object_object_get(t, "name")), "g");
	assert_string_equal(
	    json_object_get_string(json_object_object_get(t, "arguments")),
	    "{\"b\":");
	assert_string_equal(c.finish, "length");
	assert_int_equal(c.n_finish, 1);
	collected_free(&c);
}

static void
test_after_stop_ignored(void **state)
{
	struct collected c;

	(void)state;
	collected_init_flags(&c, COLLECT_FLAGS);
	assert_int_equal(
	    feed_str(P, &c,
	        START TEXT_BLOCK DELTA("ok") STOP_BLOCK(0) MDELTA("end_turn")
	            MSTOP DELTA("late") MSTOP
	        "event: error\ndata: {\"type\":\"error\",\"error\":{}}\n\n"),
	    CS_OK);
	assert_string_equal(c.text.data, "ok");
	assert_int_equal(c.n_finish, 1);
	assert_int_equal(c.n_error, 0);
	assert_int_equal(c.after_terminal, 0);
	collected_free(&c);
}

static void
test_malformed_trailing_garbage(void **state)
{
	(void)state;
	check_error_stream(P, COLLECT_FLAGS,
	    START TEXT_BLOCK DELTA(
	        "a") "event: content_block_delta\ndata: {\"type\":\"content_block_delta\","
	             "\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"b\"}}}\n\n" STOP_BLOCK(
	                 0) MSTOP,
	    "a", "malformed");
}

static void
test_unknown_events_ignored(void **state)
{
	(void)state;
	/* A server tool block and an unknown delta: no tool call. */
	check_ok_stream(P, COLLECT_FLAGS,
	    START
	    "event: future_event\ndata: {\"type\":\"future_event\",\"x\":1}\n\n"
	    "event: content_block_start\ndata: {\"type\":\"content_block_start\","
	    "\"index\":0,\"content_block\":{\"type\":\"server_tool_use\","
	    "\"id\":\"s1\",\"name\":\"web_search\",\"input\":{}}}\n\n"
	    "event: content_block_delta\ndata: {\"type\":\"content_block_delta\","
	    "\"index\":0,\"delta\":{\"type\":\"brand_new_delta\",\"v\":2}}\n\n" STOP_BLOCK(
	        0) "event: content_block_start\ndata: {\"type\":\"content_block_start\","
	           "\"index\":1,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n"
	           "event: content_block_delta\ndata: {\"type\":\"content_block_delta\","
	           "\"index\":1,\"delta\":{\"type\":\"text_delta\",\"text\":\"ok\"}}\n\n" STOP_BLOCK(
	               1) MDELTA("end_turn") MSTOP,
	    "ok", "end_turn");
}

static void
test_split_tool_args(void **state)
{
	(void)state;
	check_split(P, COLLECT_FLAGS,
	    START TEXT_BLOCK DELTA("caf\\u00e9 "
	                           "\xf0\x9f\x98\x80")
	        STOP_BLOCK(
	            0) "event: content_block_start\ndata: {\"type\":\"content_block_start\","
	               "\"index\":1,\"content_block\":{\"type\":\"tool_use\",\"id\":\"t1\","
	               "\"name\":\"f\",\"input\":{}}}\n\n"
	               "event: content_block_delta\ndata: {\"type\":\"content_block_delta\","
	               "\"index\":1,\"delta\":{\"type\":\"input_json_delta\","
	               "\"partial_json\":\"" SPLIT_FRAG1 "\"}}\n\n"
	               "event: content_block_delta\ndata: {\"type\":\"content_block_delta\","
	               "\"index\":1,\"delta\":{\"type\":\"input_json_delta\","
	               "\"partial_json\":\"" SPLIT_FRAG2
	               "\"}}\n\n" STOP_BLOCK(1) MDELTA("tool_use") MSTOP,
	    "caf\xc3\xa9 \xf0\x9f\x98\x80", SPLIT_ARGS);
}

static void
test_client_gone_stops(void **state)
{
	struct collected c;

	(void)state;
	collected_init_flags(&c, COLLECT_FLAGS);
	c.stop_after_text = 1;
	assert_int_equal(
	    feed_str(P, &c, START TEXT_BLOCK DELTA("a") DELTA("b")),
	    CS_ECLIENTGONE);
	assert_string_equal(c.text.data, "a");
	assert_int_equal(c.n_error, 0);
	collected_free(&c);
}

/* ---- build() ---- */

static void
test_build(void **state)
{
	static struct cs_config cfg;
	struct cs_model_cfg model;
	char key[] = "sk-ant-test";
	char s1[] = "Be brief.", s2[] = "Be kind.", u1[] = "hi", a1[] = "hello",
	     t1[] = "42", u2[] = "thanks", tid[] = "toolu_9";
	struct cs_message msgs[] = {
		{ CS_ROLE_SYSTEM, s1, sizeof(s1) - 1, NULL },
		{ CS_ROLE_USER, u1, sizeof(u1) - 1, NULL },
		{ CS_ROLE_SYSTEM, s2, sizeof(s2) - 1, NULL },
		{ CS_ROLE_ASSISTANT, a1, sizeof(a1) - 1, NULL },
		{ CS_ROLE_TOOL, t1, sizeof(t1) - 1, tid },
		{ CS_ROLE_USER, u2, sizeof(u2) - 1, NULL },
	};
	struct cs_chat_request req;
	struct cs_http_request hr;
	struct json_object *body, *v, *m, *p;

	(void)state;
	cs_config_defaults(&cfg);
	cfg.upstreams[0].base_url_eff = "https://api.anthropic.com/v1";
	cfg.upstreams[0].api_key = key;
	memset(&model, 0, sizeof(model));
	snprintf(model.name, sizeof(model.name), "claude-sonnet-4-5");
	memset(&req, 0, sizeof(req));
	req.model = &model;
	req.messages = msgs;
	req.n_messages = CS_ARRAY_LEN(msgs);
	req.has_temperature = 1;
	req.temperature = 0.5;

	cs_http_request_init(&hr);
	assert_int_equal(P->build(&cfg.upstreams[0], &req, &hr), CS_OK);
	assert_string_equal(
	    hr.url.data, "https://api.anthropic.com/v1/messages");
	assert_true(has_header(hr.headers, "x-api-key: sk-ant-test"));
	assert_true(has_header(hr.headers, "anthropic-version: 2023-06-01"));
	assert_true(
	    has_header_prefix(hr.headers, "content-type: application/json"));
	assert_true(has_header_prefix(hr.headers, "accept: text/event-stream"));
	assert_false(has_header_prefix(hr.headers, "authorization:"));
	body = json_tokener_parse(hr.body.data);
	assert_non_null(body);
	assert_string_equal(jstr(body, "model"), "claude-sonnet-4-5");
	assert_true(json_object_object_get_ex(body, "max_tokens", &v));
	assert_int_equal(json_object_get_int64(v), 4096);
	assert_true(json_object_object_get_ex(body, "stream", &v));
	assert_true(json_object_get_boolean(v));
	assert_string_equal(jstr(body, "system"), "Be brief.\n\nBe kind.");
	assert_true(json_object_object_get_ex(body, "temperature", &v));
	assert_true(json_object_get_double(v) == 0.5);
	assert_true(json_object_object_get_ex(body, "messages", &v));
	assert_int_equal(json_object_array_length(v), 4);
	m = json_object_array_get_idx(v, 0);
	assert_string_equal(jstr(m, "role"), "user");
	assert_string_equal(jstr(m, "content"), "hi");
	m = json_object_array_get_idx(v, 1);
	assert_string_equal(jstr(m, "role"), "assistant");
	assert_string_equal(jstr(m, "content"), "hello");
	m = json_object_array_get_idx(v, 2);
	assert_string_equal(jstr(m, "role"), "user");
	assert_true(json_object_object_get_ex(m, "content", &p));
	assert_true(json_object_is_type(p, json_type_array));
	assert_int_equal(json_object_array_length(p), 1);
	p = json_object_array_get_idx(p, 0);
	assert_string_equal(jstr(p, "type"), "tool_result");
	assert_string_equal(jstr(p, "tool_use_id"), "toolu_9");
	assert_string_equal(jstr(p, "content"), "42");
	m = json_object_array_get_idx(v, 3);
	assert_string_equal(jstr(m, "role"), "user");
	assert_string_equal(jstr(m, "content"), "thanks");
	json_object_put(body);
	cs_http_request_free(&hr);

	/* No key, no system, no temperature, explicit max_tokens. */
	cfg.upstreams[0].api_key = NULL;
	req.messages = msgs + 1;
	req.n_messages = 1;
	req.has_temperature = 0;
	req.max_tokens = 100;
	cs_http_request_init(&hr);
	assert_int_equal(P->build(&cfg.upstreams[0], &req, &hr), CS_OK);
	assert_false(has_header_prefix(hr.headers, "x-api-key:"));
	assert_true(has_header(hr.headers, "anthropic-version: 2023-06-01"));
	body = json_tokener_parse(hr.body.data);
	assert_non_null(body);
	assert_false(json_object_object_get_ex(body, "system", NULL));
	assert_false(json_object_object_get_ex(body, "temperature", NULL));
	assert_true(json_object_object_get_ex(body, "max_tokens", &v));
	assert_int_equal(json_object_get_int64(v), 100);
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
	    "{\"model\":\"m1\",\"max_tokens\":4096,\"stream\":true,"
	    "\"messages\":[{\"role\":\"user\",\"content\":\"w?\"},"
	    "{\"role\":\"assistant\",\"content\":[{\"type\":\"tool_use\","
	    "\"id\":\"call_1\",\"name\":\"get_weather\",\"input\":{\"city\":\""
	    "Paris\"}},{\"type\":\"tool_use\",\"id\":\"call_2\","
	    "\"name\":\"now\",\"input\":{}}]},{\"role\":\"user\","
	    "\"content\":[{\"type\":\"tool_result\",\"tool_use_id\":\"call_1\""
	    ",\"content\":\"18C\"}]},{\"role\":\"user\",\"content\":[{\"type\""
	    ":\"tool_result\",\"tool_use_id\":\"call_2\",\"content\":\"noon\""
	    "}]},{\"role\":\"assistant\",\"content\":[{\"type\":\"text\","
	    "\"text\":\"Sunny.\"},{\"type\":\"tool_use\",\"id\":\"call_3\","
	    "\"name\":\"now\",\"input\":{}}]},{\"role\":\"user\","
	    "\"content\":\"thanks\"}],\"tools\":[{\"name\":\"get_weather\","
	    "\"description\":\"Weather now\",\"input_schema\":{\"type\":\"obj"
	    "ect\",\"properties\":{\"city\":{\"type\":\"string\"}},"
	    "\"required\":[\"city\"]}},{\"name\":\"now\",\"input_schema\":{\""
	    "type\":\"object\",\"properties\":{}}}],\"tool_choice\":{\"type\""
	    ":\"tool\",\"name\":\"now\"}}");
	body = tools_build(P,
	    "{\"type\":\"function\",\"function\":{\"name\":"
	    "\"now\"}}");
	assert_json_at(body, "tools",
	    "[{\"name\":\"get_weather\","
	    "\"description\":\"Weather now\",\"input_schema\":{\"type\":"
	    "\"object\",\"properties\":{\"city\":{\"type\":\"string\"}},"
	    "\"required\":[\"city\"]}},{\"name\":\"now\",\"input_schema\":{"
	    "\"type\":\"object\",\"properties\":{}}}]");
	assert_json_at(body, "tool_choice",
	    "{\"type\":\"tool\",\"name\":"
	    "\"now\"}");
	assert_json_at(body, "messages",
	    "[{\"role\":\"user\",\"content\":"
	    "\"w?\"},{\"role\":\"assistant\",\"content\":[{\"type\":"
	    "\"tool_use\",\"id\":\"call_1\",\"name\":\"get_weather\",\"input\":"
	    "{\"city\":\"Paris\"}},{\"type\":\"tool_use\",\"id\":\"call_2\","
	    "\"name\":\"now\",\"input\":{}}]},{\"role\":\"user\",\"content\":[{"
	    "\"type\":\"tool_result\",\"tool_use_id\":\"call_1\",\"content\":"
	    "\"18C\"}]},{\"role\":\"user\",\"content\":[{\"type\":"
	    "\"tool_result\",\"tool_use_id\":\"call_2\",\"content\":\"noon\"}]},"
	    "{\"role\":\"assistant\",\"content\":[{\"type\":\"text\",\"text\":"
	    "\"Sunny.\"},{\"type\":\"tool_use\",\"id\":\"call_3\",\"name\":"
	    "\"now\",\"input\":{}}]},{\"role\":\"user\",\"content\":"
	    "\"thanks\"}]");
	json_object_put(body);

	body = tools_build(P, "\"auto\"");
	assert_json_at(body, "tool_choice", "{\"type\":\"auto\"}");
	json_object_put(body);
	body = tools_build(P, "\"required\"");
	assert_json_at(body, "tool_choice", "{\"type\":\"any\"}");
	json_object_put(body);
	body = tools_build(P, "\"none\"");
	assert_json_at(body, "tool_choice", "{\"type\":\"none\"}");
	assert_true(json_object_object_get_ex(body, "tools", NULL));
	json_object_put(body);
	body = tools_build(P, "null");
	assert_false(json_object_object_get_ex(body, "tool_choice", NULL));
	json_object_put(body);
}

/* ---- build() with stop: "stop_sequences" ---- */

static void
test_build_stop(void **state)
{
	struct json_object *body;

	(void)state;
	body = option_build(P, "stop", "\"END\"");
	assert_json_at(body, "stop_sequences", "[\"END\"]");
	assert_false(json_object_object_get_ex(body, "stop", NULL));
	json_object_put(body);
	body = option_build(P, "stop", "[]");
	assert_false(json_object_object_get_ex(body, "stop_sequences", NULL));
	json_object_put(body);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_text),
		cmocka_unit_test(test_tool_use),
		cmocka_unit_test(test_all_fixtures),
		cmocka_unit_test(test_truncated),
		cmocka_unit_test(test_in_band_error),
		cmocka_unit_test(test_malformed),
		cmocka_unit_test(test_malformed_trailing_garbage),
		cmocka_unit_test(test_unknown_events_ignored),
		cmocka_unit_test(test_split_tool_args),
		cmocka_unit_test(test_oversized),
		cmocka_unit_test(test_usage_merge_and_finish_map),
		cmocka_unit_test(test_thinking_and_tools),
		cmocka_unit_test(test_after_stop_ignored),
		cmocka_unit_test(test_client_gone_stops),
		cmocka_unit_test(test_build),
		cmocka_unit_test(test_build_tools),
		cmocka_unit_test(test_build_stop),
	};

	return cmocka_run_group_tests_name("anthropic", tests, NULL, NULL);
}
