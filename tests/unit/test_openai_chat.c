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
#include "testutil.h"

struct collected {
	struct cs_buf text;
	struct cs_buf refusal;
	struct json_object *tools;   /* array of {id,name,arguments} */
	char finish[64];
	char native[64];
	char *usage;                 /* JSON text or NULL */
	int n_finish;
	int n_error;
	char error_type[64];
	int after_terminal;          /* events after finish/error */
	int stop_after_text;         /* return CLIENTGONE at this delta */
	int texts;
};

static enum cs_err
collect(void *ctx, const struct cs_event *ev)
{
	struct collected *c = ctx;
	struct json_object *t;

	if (c->n_finish || c->n_error)
		c->after_terminal++;
	switch (ev->type) {
	case CS_EV_TEXT:
		c->texts++;
		cs_buf_append(ev->kind == CS_TEXT_REFUSAL ? &c->refusal :
		    &c->text, ev->text, ev->text_len);
		if (c->stop_after_text && c->texts == c->stop_after_text)
			return CS_ECLIENTGONE;
		break;
	case CS_EV_TOOL_CALL:
		t = json_object_new_object();
		json_object_object_add(t, "id",
		    json_object_new_string(ev->tool_id));
		json_object_object_add(t, "name",
		    json_object_new_string(ev->tool_name));
		json_object_object_add(t, "arguments",
		    json_object_new_string(ev->tool_args));
		json_object_array_add(c->tools, t);
		break;
	case CS_EV_FINISH:
		c->n_finish++;
		snprintf(c->finish, sizeof(c->finish), "%s", ev->finish_reason);
		snprintf(c->native, sizeof(c->native), "%s",
		    ev->native_finish_reason ? ev->native_finish_reason : "");
		free(c->usage);
		c->usage = ev->usage ? strdup(json_object_to_json_string_ext(
		    ev->usage, JSON_C_TO_STRING_PLAIN)) : NULL;
		break;
	case CS_EV_ERROR:
		c->n_error++;
		snprintf(c->error_type, sizeof(c->error_type), "%s",
		    ev->error_type);
		break;
	}
	return CS_OK;
}

static void
collected_init(struct collected *c)
{
	memset(c, 0, sizeof(*c));
	cs_buf_init(&c->text, 1 << 20);
	cs_buf_init(&c->refusal, 1 << 20);
	c->tools = json_object_new_array();
}

static void
collected_free(struct collected *c)
{
	cs_buf_free(&c->text);
	cs_buf_free(&c->refusal);
	json_object_put(c->tools);
	free(c->usage);
}

/* Feed buf in pieces of size step (0 = split after every LF). */
static enum cs_err
feed(struct collected *c, const char *buf, size_t len, size_t step)
{
	const struct cs_provider *p = &cs_provider_openai_chat;
	struct cs_adapter *a = p->adapter_new(collect, c);
	size_t off = 0, n;
	enum cs_err r = CS_OK;

	assert_non_null(a);
	while (off < len) {
		if (step == 0) {
			const char *nl = memchr(buf + off, '\n', len - off);
			n = nl ? (size_t)(nl - (buf + off)) + 1 : len - off;
		} else
			n = len - off < step ? len - off : step;
		if ((r = p->adapter_feed(a, buf + off, n)) != CS_OK)
			break;
		off += n;
	}
	if (r == CS_OK)
		r = p->adapter_end(a);
	p->adapter_free(a);
	return r;
}

static const char *
fixdir(void)
{
	const char *d = getenv("CS_FIXTURES");

	return d != NULL ? d : "tests/fixtures";
}

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
		collected_init(&c);
		assert_int_equal(feed(&c, body, len, steps[i]), CS_OK);
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

static enum cs_err
feed_str(struct collected *c, const char *s)
{
	return feed(c, s, strlen(s), (size_t)-1);
}

static void
test_truncated(void **state)
{
	struct collected c;

	(void)state;
	collected_init(&c);
	assert_int_equal(feed_str(&c,
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
	collected_init(&c);
	assert_int_equal(feed_str(&c,
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
	collected_init(&c);
	assert_int_equal(feed_str(&c, "data: {\"choices\":[\n\n"),
	    CS_EUPSTREAM);
	assert_int_equal(c.n_error, 1);
	collected_free(&c);
}

static void
test_choices_other_index_and_chunk_after_done(void **state)
{
	struct collected c;

	(void)state;
	collected_init(&c);
	assert_int_equal(feed_str(&c,
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
	collected_init(&c);
	/* Some servers send every parallel call with index 0. */
	assert_int_equal(feed_str(&c,
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
	collected_init(&c);
	c.stop_after_text = 1;
	assert_int_equal(feed_str(&c,
	    "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"a\"}}]}\n\n"
	    "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"b\"}}]}\n\n"),
	    CS_ECLIENTGONE);
	assert_string_equal(c.text.data, "a");
	collected_free(&c);
}

#define TOOLS_PROVIDER (&cs_provider_openai_chat)

/* ---- build() with tools ---- */

/* A tool round trip with two tools; %s is the tool_choice value. */
static const char tools_body_fmt[] = "{\"tools\":[{\"type\":\"function\","
    "\"function\":{\"name\":\"get_weather\",\"description\":\"Weather now\","
    "\"parameters\":{\"type\":\"object\",\"properties\":{\"city\":{\"type\":"
    "\"string\"}},\"required\":[\"city\"]},\"strict\":true}},{\"type\":"
    "\"function\",\"function\":{\"name\":\"now\"}}],\"tool_choice\":%s,"
    "\"messages\":[{\"role\":\"user\",\"content\":\"w?\"},{\"role\":"
    "\"assistant\",\"content\":null,\"tool_calls\":[{\"id\":\"call_1\","
    "\"type\":\"function\",\"function\":{\"name\":\"get_weather\","
    "\"arguments\":\"{\\\"city\\\":\\\"Paris\\\"}\"}},{\"id\":\"call_2\","
    "\"type\":\"function\",\"function\":{\"name\":\"now\",\"arguments\":"
    "\"not json\"}}]},{\"role\":\"tool\",\"tool_call_id\":\"call_1\","
    "\"content\":\"18C\"},{\"role\":\"tool\",\"tool_call_id\":\"call_2\","
    "\"content\":\"noon\"},{\"role\":\"assistant\",\"content\":\"Sunny.\","
    "\"tool_calls\":[{\"id\":\"call_3\",\"type\":\"function\",\"function\":"
    "{\"name\":\"now\",\"arguments\":\"{}\"}}]},{\"role\":\"user\","
    "\"content\":\"thanks\"}]}";

/* Build the round trip with tool_choice choice (JSON text) and return the
 * upstream body, parsed; fails the test if anything goes wrong. */
static struct json_object *
tools_build(const char *choice)
{
	static struct cs_config cfg;
	struct cs_chat_request *req = NULL;
	struct cs_http_request hr;
	struct cs_reqerr err;
	struct json_object *body;
	char text[4096];
	int n;

	cs_config_defaults(&cfg);
	cfg.base_url_eff = "https://api.example.test/v1";
	snprintf(cfg.models[0].name, sizeof(cfg.models[0].name), "m1");
	cfg.n_models = 1;
	n = snprintf(text, sizeof(text), tools_body_fmt, choice);
	assert_true(n > 0 && (size_t)n < sizeof(text));
	if (cs_request_parse(&cfg, text, (size_t)n, &req, &err) != CS_OK)
		fail_msg("refused: %s", err.message);
	cs_http_request_init(&hr);
	assert_int_equal(TOOLS_PROVIDER->build(&cfg, req, &hr), CS_OK);
	body = json_tokener_parse(hr.body.data);
	assert_non_null(body);
	cs_http_request_free(&hr);
	cs_request_free(req);
	return body;
}

/* body[key] (key NULL: body itself) must equal the JSON text want. */
static void
assert_json_at(struct json_object *body, const char *key, const char *want)
{
	struct json_object *v = body, *exp;

	if (key != NULL && !json_object_object_get_ex(body, key, &v))
		fail_msg("no \"%s\" in %s", key, json_object_to_json_string(
		    body));
	exp = json_tokener_parse(want);
	assert_non_null(exp);
	if (!json_object_equal(v, exp))
		fail_msg("%s:\n got  %s\n want %s", key ? key : "body",
		    json_object_to_json_string_ext(v, JSON_C_TO_STRING_PLAIN),
		    json_object_to_json_string_ext(exp,
		    JSON_C_TO_STRING_PLAIN));
	json_object_put(exp);
}

static void
test_build_tools(void **state)
{
	struct json_object *body;

	(void)state;
	body = tools_build("{\"type\":\"function\",\"function\":{\"name\":"
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

	body = tools_build("\"required\"");
	assert_json_at(body, "tool_choice", "\"required\"");
	json_object_put(body);
	body = tools_build("null");
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
