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
#include "testutil.h"

static const struct cs_provider *const P = &cs_provider_openai_completions;

struct collected {
	struct cs_buf text;
	struct cs_buf refusal;
	struct cs_buf reasoning;
	struct json_object *tools;   /* array of {id,name,arguments} */
	char finish[64];
	char native[64];
	char *usage;                 /* JSON text or NULL */
	int n_finish;
	int n_error;
	char error_type[64];
	char error_message[256];
	int after_terminal;          /* events after finish/error */
	int stop_after_text;         /* return CLIENTGONE at this delta */
	int texts;
};

static enum cs_err
collect(void *ctx, const struct cs_event *ev)
{
	struct collected *c = ctx;
	struct json_object *t;
	struct cs_buf *b;

	if (c->n_finish || c->n_error)
		c->after_terminal++;
	switch (ev->type) {
	case CS_EV_TEXT:
		c->texts++;
		b = ev->kind == CS_TEXT_REFUSAL ? &c->refusal :
		    ev->kind == CS_TEXT_REASONING ? &c->reasoning : &c->text;
		cs_buf_append(b, ev->text, ev->text_len);
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
		snprintf(c->error_message, sizeof(c->error_message), "%s",
		    ev->error_message ? ev->error_message : "");
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
	cs_buf_init(&c->reasoning, 1 << 20);
	c->tools = json_object_new_array();
}

static void
collected_free(struct collected *c)
{
	cs_buf_free(&c->text);
	cs_buf_free(&c->refusal);
	cs_buf_free(&c->reasoning);
	json_object_put(c->tools);
	free(c->usage);
}

static const char *
str_or_empty(const struct cs_buf *b)
{
	return b->data ? b->data : "";
}

/* Feed buf in pieces of size step (0 = split after every LF). */
static enum cs_err
feed(struct collected *c, const char *buf, size_t len, size_t step)
{
	struct cs_adapter *a = P->adapter_new(collect, c);
	size_t off = 0, n;
	enum cs_err r = CS_OK;

	assert_non_null(a);
	while (off < len) {
		if (step == 0) {
			const char *nl = memchr(buf + off, '\n', len - off);
			n = nl ? (size_t)(nl - (buf + off)) + 1 : len - off;
		} else
			n = len - off < step ? len - off : step;
		if ((r = P->adapter_feed(a, buf + off, n)) != CS_OK)
			break;
		off += n;
	}
	if (r == CS_OK)
		r = P->adapter_end(a);
	P->adapter_free(a);
	return r;
}

static enum cs_err
feed_str(struct collected *c, const char *s)
{
	return feed(c, s, strlen(s), (size_t)-1);
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
		assert_string_equal(str_or_empty(&c.text),
		    json_object_get_string(v));
		json_object_object_get_ex(exp, "finish_reason", &v);
		assert_string_equal(c.native, json_object_get_string(v));
		assert_string_equal(c.finish, json_object_get_string(v));
		json_object_object_get_ex(exp, "usage", &v);
		if (v == NULL)
			assert_null(c.usage);
		else {
			struct json_object *got = json_tokener_parse(c.usage);

			assert_non_null(got);
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
test_text(void **state)
{
	(void)state;
	check_fixture("openai-completions-text");
}

#define CHUNK(t) "data: {\"object\":\"text_completion\",\"choices\":[{\"text\":" \
	"\"" t "\",\"index\":0,\"logprobs\":null,\"finish_reason\":null}]," \
	"\"usage\":null}\n\n"
#define FINISH(r) "data: {\"choices\":[{\"text\":\"\",\"index\":0," \
	"\"finish_reason\":\"" r "\"}],\"usage\":null}\n\n"
#define USAGE "data: {\"choices\":[],\"usage\":{\"prompt_tokens\":4," \
	"\"completion_tokens\":2,\"total_tokens\":6}}\n\n"
#define DONE "data: [DONE]\n\n"

static void
test_stop_usage_and_chunk_after_done(void **state)
{
	struct collected c;

	(void)state;
	collected_init(&c);
	assert_int_equal(feed_str(&c, CHUNK("Hello") CHUNK(" world")
	    FINISH("stop") USAGE DONE CHUNK("late") "data: junk\n\n"), CS_OK);
	assert_string_equal(c.text.data, "Hello world");
	assert_int_equal(c.n_finish, 1);
	assert_int_equal(c.n_error, 0);
	assert_int_equal(c.after_terminal, 0);
	assert_string_equal(c.finish, "stop");
	assert_string_equal(c.native, "stop");
	assert_string_equal(c.usage, "{\"prompt_tokens\":4,"
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
	assert_int_equal(feed_str(&c, CHUNK("x") DONE), CS_OK);
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
	assert_int_equal(feed_str(&c, "data: {\"choices\":[{\"text\":\"X\","
	    "\"index\":1},{\"text\":\"ok\",\"index\":0}]}\n\n"
	    "data: {\"choices\":[{\"text\":\"\",\"index\":1,\"finish_reason\":"
	    "\"length\"},{\"text\":\"\",\"index\":0,\"finish_reason\":"
	    "\"content_filter\"}]}\n\n" DONE), CS_OK);
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
	assert_int_equal(feed_str(&c, CHUNK("Hi") FINISH("stop") USAGE),
	    CS_EUPSTREAM);
	assert_string_equal(c.text.data, "Hi");
	assert_int_equal(c.n_error, 1);
	assert_int_equal(c.n_finish, 0);
	assert_string_equal(c.error_type, "upstream_error");
	assert_non_null(strstr(c.error_message, "truncated"));
	collected_free(&c);

	/* [DONE] without its blank line is never dispatched. */
	collected_init(&c);
	assert_int_equal(feed_str(&c, CHUNK("Hi") "data: [DONE]\n"),
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
	collected_init(&c);
	assert_int_equal(feed_str(&c, CHUNK("a")
	    "data: {\"error\":{\"message\":\"overloaded\",\"type\":"
	    "\"server_error\"}}\n\n" CHUNK("b") DONE), CS_EUPSTREAM);
	assert_string_equal(c.text.data, "a");
	assert_int_equal(c.n_error, 1);
	assert_int_equal(c.n_finish, 0);
	assert_int_equal(c.after_terminal, 0);
	assert_string_equal(c.error_message, "overloaded");
	collected_free(&c);

	collected_init(&c);
	assert_int_equal(feed_str(&c, "event: error\ndata: {\"detail\":1}\n\n"),
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
	assert_int_equal(feed_str(&c, CHUNK("a") "data: {\"choices\":[\n\n"
	    DONE), CS_EUPSTREAM);
	assert_string_equal(c.text.data, "a");
	assert_int_equal(c.n_error, 1);
	assert_int_equal(c.n_finish, 0);
	assert_int_equal(c.after_terminal, 0);
	collected_free(&c);
}

static void
test_client_gone_stops(void **state)
{
	struct collected c;

	(void)state;
	collected_init(&c);
	c.stop_after_text = 1;
	assert_int_equal(feed_str(&c, CHUNK("a") CHUNK("b") DONE),
	    CS_ECLIENTGONE);
	assert_string_equal(c.text.data, "a");
	assert_int_equal(c.n_finish, 0);
	collected_free(&c);
}

/* build() */

static char *
headers_text(const struct curl_slist *h)
{
	struct cs_buf b;

	cs_buf_init(&b, 1 << 16);
	for (; h != NULL; h = h->next) {
		cs_buf_puts(&b, h->data);
		cs_buf_puts(&b, "\n");
	}
	return b.data;   /* malloc'd by cs_buf */
}

struct build_fixture {
	struct cs_config cfg;
	struct cs_model_cfg model;
	struct cs_message msgs[8];
	struct cs_chat_request req;
	char key[32];
};

static void
msg(struct build_fixture *f, enum cs_role role, const char *content,
    const char *tool_call_id)
{
	struct cs_message *m = &f->msgs[f->req.n_messages++];

	m->role = role;
	m->content = (char *)(uintptr_t)content;
	m->content_len = strlen(content);
	m->tool_call_id = (char *)(uintptr_t)tool_call_id;
}

static void
build_fixture_init(struct build_fixture *f)
{
	memset(f, 0, sizeof(*f));
	f->cfg.base_url_eff = "https://api.example.test/v1";
	snprintf(f->model.name, sizeof(f->model.name), "gpt-4o");
	f->req.model = &f->model;
	f->req.messages = f->msgs;
}

static struct json_object *
build_json(struct build_fixture *f, struct cs_http_request *hr)
{
	struct json_object *body;

	cs_http_request_init(hr);
	assert_int_equal(P->build(&f->cfg, &f->req, hr), CS_OK);
	body = json_tokener_parse(hr->body.data);
	assert_non_null(body);
	return body;
}

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
	f.cfg.api_key = f.key;
	msg(&f, CS_ROLE_SYSTEM, "Be brief.", NULL);
	msg(&f, CS_ROLE_USER, "Capital of France?", NULL);
	msg(&f, CS_ROLE_ASSISTANT, "", NULL);   /* tool calls only: dropped */
	msg(&f, CS_ROLE_TOOL, "Paris", "call_1");
	msg(&f, CS_ROLE_ASSISTANT, "Paris.", NULL);
	msg(&f, CS_ROLE_USER, "And \"Spain\"?", NULL);
	f.req.max_tokens = 16;
	f.req.has_temperature = 1;
	f.req.temperature = 0.25;
	body = build_json(&f, &hr);
	assert_string_equal(hr.url.data,
	    "https://api.example.test/v1/completions");
	h = headers_text(hr.headers);
	assert_string_equal(h, "Content-Type: application/json\n"
	    "Accept: text/event-stream\nAuthorization: Bearer sk-test\n");
	free(h);
	exp = json_tokener_parse("{\"model\":\"gpt-4o\",\"prompt\":"
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
	body = build_json(&f, &hr);
	h = headers_text(hr.headers);
	assert_string_equal(h, "Content-Type: application/json\n"
	    "Accept: text/event-stream\n");
	free(h);
	exp = json_tokener_parse("{\"model\":\"gpt-4o\",\"prompt\":"
	    "\"User: hi\\n\\nAssistant:\",\"stream\":true,\"stream_options\":"
	    "{\"include_usage\":true}}");
	assert_true(json_object_equal(body, exp));
	json_object_put(exp);
	json_object_put(body);
	cs_http_request_free(&hr);
}

#define TOOLS_PROVIDER (&cs_provider_openai_completions)

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
	body = tools_build("\"required\"");
	/* No tools in the legacy API: the transcript tells the story. */
	assert_false(json_object_object_get_ex(body, "tools", NULL));
	assert_false(json_object_object_get_ex(body, "tool_choice", NULL));
	assert_json_at(body, "prompt", "\"User: w?\\n\\nAssistant called "
	    "get_weather({\\\"city\\\":\\\"Paris\\\"})\\n\\nAssistant called "
	    "now(not json)\\n\\nTool: 18C\\n\\nTool: noon\\n\\nAssistant: "
	    "Sunny.\\n\\nAssistant called now({})\\n\\nUser: thanks\\n\\n"
	    "Assistant:\"");
	json_object_put(body);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_text),
		cmocka_unit_test(test_stop_usage_and_chunk_after_done),
		cmocka_unit_test(test_no_usage_no_finish_reason),
		cmocka_unit_test(test_other_choice_index_ignored),
		cmocka_unit_test(test_truncated),
		cmocka_unit_test(test_in_band_error),
		cmocka_unit_test(test_malformed_chunk),
		cmocka_unit_test(test_client_gone_stops),
		cmocka_unit_test(test_build_full),
		cmocka_unit_test(test_build_minimal),
		cmocka_unit_test(test_build_tools),
	};

	return cmocka_run_group_tests_name("openai_completions", tests, NULL,
	    NULL);
}
