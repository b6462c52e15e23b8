/*
 * test_ollama.c — golden tests for the ollama (native /api/chat NDJSON)
 * adapter: every recorded Ollama stream in tests/fixtures/upstream, fed
 * whole, line by line, in 7-byte pieces and byte by byte, must assemble
 * exactly the text, tool calls (arguments compared as JSON objects),
 * finish reason and usage of its .expect.json.  Plus the failure paths
 * (truncation, in-band error, malformed and oversized lines) and the
 * request build().
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

#define P provider_named("ollama")
/* How collect() records this adapter's events (adapter_util.h). */
#define COLLECT_FLAGS (COLLECT_NO_REFUSAL | COLLECT_TOOL_ARGS_JSON)

/* name is the fixture file name without .ndjson. */
static void
check_fixture(const char *name)
{
	check_fixture_ext(P, COLLECT_FLAGS, name, "ndjson");
}

/* The i-th tool call's arguments as the adapter sent them. */
static const char *
raw_arg(const struct collected *c, size_t i)
{
	return json_object_get_string(
	    json_object_array_get_idx(c->raw_args, i));
}

static void
test_chat_stream(void **state)
{
	(void)state;
	check_fixture("ollama-chat-stream");
}

static void
test_tool_calls(void **state)
{
	struct collected c;
	char path[512];
	char *body;
	size_t len;

	(void)state;
	check_fixture("ollama-chat-tool-calls");
	/* The event's arguments are serialized objects; none is "". */
	snprintf(path, sizeof(path),
	    "%s/upstream/ollama-chat-tool-calls.ndjson", fixdir());
	body = tu_read_file(path, &len);
	collected_init_flags(&c, COLLECT_FLAGS);
	assert_int_equal(feed(P, &c, body, len, (size_t)-1), CS_OK);
	assert_int_equal(json_object_array_length(c.raw_args), 5);
	assert_string_equal(raw_arg(&c, 0), "{\"location\":\"Boston, MA\"}");
	assert_string_equal(raw_arg(&c, 3), "");
	/* Ollama says "stop" after tool calls; the mapped reason says so. */
	assert_string_equal(c.native, "stop");
	assert_string_equal(c.finish, "tool_calls");
	collected_free(&c);
	free(body);
}

/* Every ollama-*.ndjson with an .expect.json, including ones added later. */
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
		if (strncmp(de->d_name, "ollama-", 7) != 0 || n < 8 ||
		    n - 7 >= sizeof(name) ||
		    strcmp(de->d_name + n - 7, ".ndjson") != 0)
			continue;
		memcpy(name, de->d_name, n - 7);
		name[n - 7] = '\0';
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

#define LINE(content) \
	"{\"model\":\"m\",\"message\":{\"role\":\"assistant\",\"content\":\"" content \
	"\"},\"done\":false}\n"
#define DONE(reason) \
	"{\"model\":\"m\",\"message\":{\"role\":\"assistant\",\"content\":\"\"}," \
	"\"done_reason\":\"" reason \
	"\",\"done\":true,\"prompt_eval_count\":3," \
	"\"eval_count\":4,\"eval_duration\":99}"

static void
test_truncated(void **state)
{
	struct collected c;

	(void)state;
	collected_init_flags(&c, COLLECT_FLAGS);
	assert_int_equal(feed_str(P, &c, LINE("Hi") LINE("!")), CS_EUPSTREAM);
	assert_string_equal(c.text.data, "Hi!");
	assert_int_equal(c.n_error, 1);
	assert_int_equal(c.n_finish, 0);
	assert_string_equal(c.error_type, "upstream_error");
	collected_free(&c);

	/* Cut inside the done line: malformed at EOF, still one error. */
	collected_init_flags(&c, COLLECT_FLAGS);
	assert_int_equal(
	    feed_str(P, &c, LINE("Hi") "{\"done\":tr"), CS_EUPSTREAM);
	assert_int_equal(c.n_error, 1);
	assert_int_equal(c.n_finish, 0);
	collected_free(&c);

	/* Empty body. */
	collected_init_flags(&c, COLLECT_FLAGS);
	assert_int_equal(feed_str(P, &c, ""), CS_EUPSTREAM);
	assert_int_equal(c.n_error, 1);
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
	        LINE("a") "{\"error\":\"model runner has unexpectedly stopped\"}\n" LINE(
	            "b") DONE("stop") "\n"),
	    CS_EUPSTREAM);
	assert_string_equal(c.text.data, "a");
	assert_int_equal(c.n_error, 1);
	assert_int_equal(c.n_finish, 0);
	assert_int_equal(c.after_terminal, 0);
	assert_string_equal(c.error_type, "upstream_error");
	assert_string_equal(
	    c.error_message, "model runner has unexpectedly stopped");
	collected_free(&c);

	/* An error object with a message, at EOF without LF. */
	collected_init_flags(&c, COLLECT_FLAGS);
	assert_int_equal(feed_str(P, &c, "{\"error\":{\"message\":\"boom\"}}"),
	    CS_EUPSTREAM);
	assert_int_equal(c.n_error, 1);
	assert_string_equal(c.error_message, "boom");
	collected_free(&c);
}

static void
test_malformed(void **state)
{
	static const char *const bad[] = {
		LINE("a") "{\"message\":\n" DONE("stop") "\n",
		LINE("a") "[1,2]\n" DONE("stop") "\n",
		LINE("a") "{\"done\":false} trailing\n" DONE("stop") "\n",
		LINE("a") "data: {\"done\":true}\n",
	};
	struct collected c;
	size_t i;

	(void)state;
	for (i = 0; i < CS_ARRAY_LEN(bad); i++) {
		collected_init_flags(&c, COLLECT_FLAGS);
		assert_int_equal(
		    feed(P, &c, bad[i], strlen(bad[i]), 5), CS_EUPSTREAM);
		assert_string_equal(c.text.data, "a");
		assert_int_equal(c.n_error, 1);
		assert_int_equal(c.n_finish, 0);
		assert_int_equal(c.after_terminal, 0);
		collected_free(&c);
	}
}

static void
test_oversized(void **state)
{
	struct collected c;
	size_t n = CS_MAX_SSE_LINE + 16;
	char *big = malloc(n + 1);

	(void)state;
	assert_non_null(big);
	memset(big, ' ', n);
	big[0] = '{';
	big[n] = '\0';
	collected_init_flags(&c, COLLECT_FLAGS);
	assert_int_equal(feed(P, &c, big, n, 4096), CS_EUPSTREAM);
	assert_int_equal(c.n_error, 1);
	assert_int_equal(c.n_finish, 0);
	assert_string_equal(c.error_type, "upstream_error");
	assert_non_null(strstr(c.error_message, "oversized"));
	collected_free(&c);
	/* Also when the line arrives in one piece with its LF. */
	big[n - 1] = '\n';
	collected_init_flags(&c, COLLECT_FLAGS);
	assert_int_equal(feed(P, &c, big, n, (size_t)-1), CS_EUPSTREAM);
	assert_int_equal(c.n_error, 1);
	assert_non_null(strstr(c.error_message, "oversized"));
	collected_free(&c);
	free(big);
}

static void
test_last_line_without_lf_and_crlf(void **state)
{
	struct collected c;

	(void)state;
	collected_init_flags(&c, COLLECT_FLAGS);
	assert_int_equal(
	    feed_str(P, &c, LINE("x") "\r\n\n" LINE("y") DONE("length")),
	    CS_OK);
	assert_string_equal(c.text.data, "xy");
	assert_int_equal(c.n_finish, 1);
	assert_string_equal(c.native, "length");
	assert_string_equal(c.finish, "length");
	assert_string_equal(c.usage,
	    "{\"prompt_tokens\":3,"
	    "\"completion_tokens\":4,\"total_tokens\":7}");
	collected_free(&c);

	collected_init_flags(&c, COLLECT_FLAGS);
	assert_int_equal(
	    feed_str(P, &c,
	        "{\"message\":{\"content\":\"z\"},\"done\":false}\r\n"
	        "{\"done\":true,\"done_reason\":\"unload\"}\r\n" LINE(
	            "late") "garbage\n"),
	    CS_OK);
	assert_string_equal(c.text.data, "z");
	assert_string_equal(c.finish, "other");
	assert_string_equal(c.native, "unload");
	assert_null(c.usage);
	assert_int_equal(c.after_terminal, 0);
	collected_free(&c);

	collected_init_flags(&c, COLLECT_FLAGS);
	assert_int_equal(feed_str(P, &c, "{\"done\":true}\n"), CS_OK);
	assert_string_equal(c.finish, "unknown");
	assert_string_equal(c.native, "");
	collected_free(&c);
}

static void
test_thinking_and_streamed_tool_calls(void **state)
{
	static const char body[] =
	    "{\"message\":{\"role\":\"assistant\",\"content\":\"\","
	    "\"thinking\":\"let me see\"},\"done\":false}\n"
	    "{\"message\":{\"role\":\"assistant\",\"content\":\"ok\","
	    "\"tool_calls\":[{\"id\":\"call_1\",\"function\":{\"index\":0,"
	    "\"name\":\"f\",\"arguments\":{\"a\":[1,{\"b\":\"/x\"}]}}},"
	    "{\"function\":{\"name\":\"g\",\"arguments\":\"{\\\"s\\\":1}\"}}]},"
	    "\"done\":false}\n" DONE("stop") "\n";
	struct collected c;

	(void)state;
	collected_init_flags(&c, COLLECT_FLAGS);
	assert_int_equal(feed(P, &c, body, sizeof(body) - 1, 3), CS_OK);
	assert_string_equal(c.reasoning.data, "let me see");
	assert_string_equal(c.text.data, "ok");
	assert_int_equal(json_object_array_length(c.tools), 2);
	assert_string_equal(json_object_get_string(json_object_object_get(
	                        json_object_array_get_idx(c.tools, 0), "id")),
	    "call_1");
	assert_string_equal(raw_arg(&c, 0), "{\"a\":[1,{\"b\":\"/x\"}]}");
	assert_string_equal(raw_arg(&c, 1), "{\"s\":1}");
	assert_string_equal(c.finish, "tool_calls");
	collected_free(&c);
}

static void
test_unknown_lines_ignored(void **state)
{
	(void)state;
	check_ok_stream(P, COLLECT_FLAGS,
	    "{\"status\":\"loading model\"}\n"
	    "{\"model\":\"m\",\"future\":{\"x\":1},\"done\":false}\n"
	    "{\"model\":\"m\",\"message\":{\"role\":\"assistant\","
	    "\"content\":\"ok\",\"images\":null,\"new_field\":[1]},"
	    "\"done\":false}\n" DONE("stop") "\n",
	    "ok", "stop");
}

/* Ollama sends arguments as an object: it goes out re-serialized, the
 * escapes decoded and the characters as raw UTF-8.  A proxy's string
 * arguments go out as they are. */
#define TOOL_LINE(args) \
	"{\"model\":\"m\",\"message\":{\"role\":\"assistant\",\"content\":" \
	"\"caf\\u00e9 \xf0\x9f\x98\x80\",\"tool_calls\":[{\"function\":{" \
	"\"name\":\"f\",\"arguments\":" args "}}]},\"done\":false}\n"

static void
test_split_tool_args(void **state)
{
	(void)state;
	check_split(P, COLLECT_FLAGS,
	    TOOL_LINE(
	        "{\"s\":\"caf\\u00e9 \xc3\xa9 "
	        "\\ud83d\\ude00 \xf0\x9f\x98\x80\",\"q\":\"a\\\"b\\\\c\"}")
	        DONE("stop") "\n",
	    "caf\xc3\xa9 \xf0\x9f\x98\x80",
	    "{\"s\":\"caf\xc3\xa9 \xc3\xa9 \xf0\x9f\x98\x80 \xf0\x9f\x98\x80\","
	    "\"q\":\"a\\\"b\\\\c\"}");
	check_split(P, COLLECT_FLAGS,
	    TOOL_LINE("\"" SPLIT_FRAG1 SPLIT_FRAG2 "\"") DONE("stop") "\n",
	    "caf\xc3\xa9 \xf0\x9f\x98\x80", SPLIT_ARGS);
}

static void
test_client_gone_stops(void **state)
{
	struct collected c;

	(void)state;
	collected_init_flags(&c, COLLECT_FLAGS);
	c.stop_after_text = 1;
	assert_int_equal(feed_str(P, &c, LINE("a") LINE("b") DONE("stop") "\n"),
	    CS_ECLIENTGONE);
	assert_string_equal(c.text.data, "a");
	assert_int_equal(c.n_error, 0);
	assert_int_equal(c.n_finish, 0);
	collected_free(&c);
}

/* ---- build() ---- */

static void
test_build(void **state)
{
	static struct cs_config cfg;
	struct cs_model_cfg model;
	char key[] = "proxy-key";
	char s1[] = "Be brief.", u1[] = "hi", a1[] = "hello", t1[] = "42",
	     tid[] = "c1";
	struct cs_message msgs[] = {
		{ CS_ROLE_SYSTEM, s1, sizeof(s1) - 1, NULL },
		{ CS_ROLE_USER, u1, sizeof(u1) - 1, NULL },
		{ CS_ROLE_ASSISTANT, a1, sizeof(a1) - 1, NULL },
		{ CS_ROLE_TOOL, t1, sizeof(t1) - 1, tid },
	};
	static const char *const roles[] = {
		"system",
		"user",
		"assistant",
		"tool",
	};
	struct cs_chat_request req;
	struct cs_http_request hr;
	struct json_object *body, *v, *o;
	size_t i;

	(void)state;
	cs_config_defaults(&cfg);
	cfg.upstreams[0].base_url_eff = "http://127.0.0.1:11434";
	cfg.upstreams[0].api_key = NULL;
	memset(&model, 0, sizeof(model));
	snprintf(model.name, sizeof(model.name), "gemma3:1b");
	memset(&req, 0, sizeof(req));
	req.model = &model;
	req.messages = msgs;
	req.n_messages = CS_ARRAY_LEN(msgs);

	cs_http_request_init(&hr);
	assert_int_equal(P->build(&cfg.upstreams[0], &req, &hr), CS_OK);
	assert_string_equal(hr.url.data, "http://127.0.0.1:11434/api/chat");
	assert_true(
	    has_header_prefix(hr.headers, "content-type: application/json"));
	assert_false(has_header_prefix(hr.headers, "authorization:"));
	body = json_tokener_parse(hr.body.data);
	assert_non_null(body);
	assert_string_equal(jstr(body, "model"), "gemma3:1b");
	assert_true(json_object_object_get_ex(body, "stream", &v));
	assert_true(json_object_get_boolean(v));
	assert_false(json_object_object_get_ex(body, "options", NULL));
	assert_true(json_object_object_get_ex(body, "messages", &v));
	assert_int_equal(json_object_array_length(v), 4);
	for (i = 0; i < 4; i++) {
		o = json_object_array_get_idx(v, i);
		assert_string_equal(jstr(o, "role"), roles[i]);
		assert_string_equal(jstr(o, "content"), msgs[i].content);
	}
	json_object_put(body);
	cs_http_request_free(&hr);

	/* Key (for a proxy), temperature and max_tokens -> options. */
	cfg.upstreams[0].api_key = key;
	req.has_temperature = 1;
	req.temperature = 0.25;
	req.max_tokens = 50;
	cs_http_request_init(&hr);
	assert_int_equal(P->build(&cfg.upstreams[0], &req, &hr), CS_OK);
	assert_true(has_header(hr.headers, "Authorization: Bearer proxy-key"));
	body = json_tokener_parse(hr.body.data);
	assert_non_null(body);
	assert_true(json_object_object_get_ex(body, "options", &o));
	assert_true(json_object_object_get_ex(o, "temperature", &v));
	assert_true(json_object_get_double(v) == 0.25);
	assert_true(json_object_object_get_ex(o, "num_predict", &v));
	assert_int_equal(json_object_get_int64(v), 50);
	json_object_put(body);
	cs_http_request_free(&hr);

	/* Only max_tokens. */
	cfg.upstreams[0].api_key = NULL;
	req.has_temperature = 0;
	cs_http_request_init(&hr);
	assert_int_equal(P->build(&cfg.upstreams[0], &req, &hr), CS_OK);
	body = json_tokener_parse(hr.body.data);
	assert_non_null(body);
	assert_true(json_object_object_get_ex(body, "options", &o));
	assert_false(json_object_object_get_ex(o, "temperature", NULL));
	assert_true(json_object_object_get_ex(o, "num_predict", NULL));
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
	    "\"content\":\"w?\"},{\"role\":\"assistant\",\"content\":\"\","
	    "\"tool_calls\":[{\"function\":{\"name\":\"get_weather\","
	    "\"arguments\":{\"city\":\"Paris\"}}},{\"function\":{\"name\":\"n"
	    "ow\",\"arguments\":{}}}]},{\"role\":\"tool\",\"content\":\"18C\""
	    "},{\"role\":\"tool\",\"content\":\"noon\"},{\"role\":\"assistant"
	    "\",\"content\":\"Sunny.\",\"tool_calls\":[{\"function\":{\"name\""
	    ":\"now\",\"arguments\":{}}}]},{\"role\":\"user\","
	    "\"content\":\"thanks\"}],\"tools\":[{\"type\":\"function\","
	    "\"function\":{\"name\":\"get_weather\",\"description\":\"Weather"
	    " now\",\"parameters\":{\"type\":\"object\",\"properties\":{\"cit"
	    "y\":{\"type\":\"string\"}},\"required\":[\"city\"]}}},"
	    "{\"type\":\"function\",\"function\":{\"name\":\"now\"}}],"
	    "\"stream\":true}");
	body = tools_build(P, "\"required\"");
	assert_json_at(body, "tools",
	    "[{\"type\":\"function\",\"function\":{"
	    "\"name\":\"get_weather\",\"description\":\"Weather now\","
	    "\"parameters\":{\"type\":\"object\",\"properties\":{\"city\":{"
	    "\"type\":\"string\"}},\"required\":[\"city\"]}}},{\"type\":"
	    "\"function\",\"function\":{\"name\":\"now\"}}]");
	/* Ollama has no tool_choice. */
	assert_false(json_object_object_get_ex(body, "tool_choice", NULL));
	assert_json_at(body, "messages",
	    "[{\"role\":\"user\",\"content\":"
	    "\"w?\"},{\"role\":\"assistant\",\"content\":\"\",\"tool_calls\":["
	    "{\"function\":{\"name\":\"get_weather\",\"arguments\":{\"city\":"
	    "\"Paris\"}}},{\"function\":{\"name\":\"now\",\"arguments\":{}}}]},"
	    "{\"role\":\"tool\",\"content\":\"18C\"},{\"role\":\"tool\","
	    "\"content\":\"noon\"},{\"role\":\"assistant\",\"content\":"
	    "\"Sunny.\",\"tool_calls\":[{\"function\":{\"name\":\"now\","
	    "\"arguments\":{}}}]},{\"role\":\"user\",\"content\":\"thanks\"}]");
	json_object_put(body);
}

/* ---- build() with response_format: Ollama's "format" ---- */

static void
test_build_format(void **state)
{
	struct json_object *body;

	(void)state;
	body = format_build(P, FORMAT_SCHEMA); /* the schema itself */
	assert_json_at(body, "format", FORMAT_SCHEMA_ONLY);
	assert_false(json_object_object_get_ex(body, "response_format", NULL));
	json_object_put(body);
	body = format_build(P, "{\"type\":\"json_object\"}");
	assert_json_at(body, "format", "\"json\"");
	json_object_put(body);
	body = format_build(P,
	    "{\"type\":\"json_schema\",\"json_schema\":{"
	    "\"name\":\"any\"}}"); /* no schema: JSON */
	assert_json_at(body, "format", "\"json\"");
	json_object_put(body);
}

/* ---- build() with stop: options.stop ---- */

static void
test_build_stop(void **state)
{
	struct json_object *body, *opts = NULL;

	(void)state;
	body = option_build(P, "stop", "[\"a\",\"b\"]");
	assert_true(json_object_object_get_ex(body, "options", &opts));
	assert_json_at(opts, "stop", "[\"a\",\"b\"]");
	assert_false(json_object_object_get_ex(body, "stop", NULL));
	json_object_put(body);
	body = option_build(P, "stop", "null");
	assert_false(json_object_object_get_ex(body, "options", NULL));
	json_object_put(body);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_chat_stream),
		cmocka_unit_test(test_tool_calls),
		cmocka_unit_test(test_all_fixtures),
		cmocka_unit_test(test_truncated),
		cmocka_unit_test(test_in_band_error),
		cmocka_unit_test(test_malformed),
		cmocka_unit_test(test_unknown_lines_ignored),
		cmocka_unit_test(test_split_tool_args),
		cmocka_unit_test(test_oversized),
		cmocka_unit_test(test_last_line_without_lf_and_crlf),
		cmocka_unit_test(test_thinking_and_streamed_tool_calls),
		cmocka_unit_test(test_client_gone_stops),
		cmocka_unit_test(test_build),
		cmocka_unit_test(test_build_tools),
		cmocka_unit_test(test_build_format),
		cmocka_unit_test(test_build_stop),
	};

	return cmocka_run_group_tests_name("ollama", tests, NULL, NULL);
}
