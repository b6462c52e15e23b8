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
#include "testutil.h"

static const struct cs_provider *const P = &cs_provider_ollama;

struct collected {
	struct cs_buf text;
	struct cs_buf reasoning;
	struct json_object *tools;   /* array of {id,name,arguments} */
	struct json_object *raw_args; /* the tool_args strings */
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

	if (c->n_finish || c->n_error)
		c->after_terminal++;
	switch (ev->type) {
	case CS_EV_TEXT:
		c->texts++;
		assert_true(ev->kind == CS_TEXT_CONTENT ||
		    ev->kind == CS_TEXT_REASONING);
		cs_buf_append(ev->kind == CS_TEXT_REASONING ? &c->reasoning :
		    &c->text, ev->text, ev->text_len);
		if (c->stop_after_text && c->texts == c->stop_after_text)
			return CS_ECLIENTGONE;
		break;
	case CS_EV_TOOL_CALL:
		t = json_object_new_object();
		/* As in .expect.json: id null when not sent, arguments
		 * parsed back to an object (null when there were none). */
		assert_non_null(ev->tool_id);
		assert_non_null(ev->tool_args);
		json_object_object_add(t, "id", ev->tool_id[0] ?
		    json_object_new_string(ev->tool_id) : NULL);
		json_object_object_add(t, "name",
		    json_object_new_string(ev->tool_name));
		json_object_object_add(t, "arguments",
		    json_tokener_parse(ev->tool_args));
		json_object_array_add(c->raw_args,
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
		    ev->error_message);
		break;
	}
	return CS_OK;
}

static void
collected_init(struct collected *c)
{
	memset(c, 0, sizeof(*c));
	cs_buf_init(&c->text, 1 << 20);
	cs_buf_init(&c->reasoning, 1 << 20);
	c->tools = json_object_new_array();
	c->raw_args = json_object_new_array();
}

static void
collected_free(struct collected *c)
{
	cs_buf_free(&c->text);
	cs_buf_free(&c->reasoning);
	json_object_put(c->tools);
	json_object_put(c->raw_args);
	free(c->usage);
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
assert_usage(const char *got, struct json_object *want)
{
	struct json_object *g;

	if (want == NULL) {
		assert_null(got);
		return;
	}
	assert_non_null(got);
	g = json_tokener_parse(got);
	if (!json_object_equal(g, want))
		fail_msg("usage %s != %s", got,
		    json_object_to_json_string(want));
	json_object_put(g);
}

/* name is the fixture file name without .ndjson. */
static void
check_fixture(const char *name)
{
	static const size_t steps[] = { (size_t)-1, 0, 7, 1 };
	char path[512];
	struct json_object *exp, *v, *err = NULL;
	struct collected c;
	char *body, *expjs;
	size_t len = 0, elen = 0, i;

	snprintf(path, sizeof(path), "%s/upstream/%s.ndjson", fixdir(), name);
	body = tu_read_file(path, &len);
	snprintf(path, sizeof(path), "%s/upstream/%s.expect.json", fixdir(),
	    name);
	expjs = tu_read_file(path, &elen);
	exp = json_tokener_parse(expjs);
	assert_non_null(exp);
	/* An in-band error, or no finish_reason at all (a cut stream),
	 * must end in one error event and no finish. */
	if (!json_object_object_get_ex(exp, "error", &err) || err == NULL) {
		err = NULL;
		if (json_object_object_get_ex(exp, "finish_reason", &v) &&
		    v == NULL)
			err = exp;
	}

	for (i = 0; i < CS_ARRAY_LEN(steps); i++) {
		collected_init(&c);
		if (err != NULL) {
			assert_int_equal(feed(&c, body, len, steps[i]),
			    CS_EUPSTREAM);
			assert_int_equal(c.n_error, 1);
			assert_int_equal(c.n_finish, 0);
			assert_string_equal(c.error_type, "upstream_error");
		} else {
			assert_int_equal(feed(&c, body, len, steps[i]), CS_OK);
			assert_int_equal(c.n_error, 0);
			assert_int_equal(c.n_finish, 1);
			json_object_object_get_ex(exp, "finish_reason", &v);
			assert_string_equal(c.native, v ?
			    json_object_get_string(v) : "");
			json_object_object_get_ex(exp, "usage", &v);
			assert_usage(c.usage, v);
		}
		assert_int_equal(c.after_terminal, 0);
		json_object_object_get_ex(exp, "text", &v);
		assert_string_equal(c.text.data ? c.text.data : "",
		    json_object_get_string(v));
		if (json_object_object_get_ex(exp, "reasoning", &v))
			assert_string_equal(c.reasoning.data ?
			    c.reasoning.data : "", json_object_get_string(v));
		json_object_object_get_ex(exp, "tool_calls", &v);
		if (!json_object_equal(c.tools, v))
			fail_msg("%s: tool calls %s != %s", name,
			    json_object_to_json_string(c.tools),
			    json_object_to_json_string(v));
		collected_free(&c);
	}
	json_object_put(exp);
	free(body);
	free(expjs);
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
	snprintf(path, sizeof(path), "%s/upstream/ollama-chat-tool-calls.ndjson",
	    fixdir());
	body = tu_read_file(path, &len);
	collected_init(&c);
	assert_int_equal(feed(&c, body, len, (size_t)-1), CS_OK);
	assert_int_equal(json_object_array_length(c.raw_args), 5);
	assert_string_equal(json_object_get_string(json_object_array_get_idx(
	    c.raw_args, 0)), "{\"location\":\"Boston, MA\"}");
	assert_string_equal(json_object_get_string(json_object_array_get_idx(
	    c.raw_args, 3)), "");
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
	"{\"model\":\"m\",\"message\":{\"role\":\"assistant\",\"content\":\"" \
	content "\"},\"done\":false}\n"
#define DONE(reason) \
	"{\"model\":\"m\",\"message\":{\"role\":\"assistant\",\"content\":\"\"}," \
	"\"done_reason\":\"" reason "\",\"done\":true,\"prompt_eval_count\":3," \
	"\"eval_count\":4,\"eval_duration\":99}"

static void
test_truncated(void **state)
{
	struct collected c;

	(void)state;
	collected_init(&c);
	assert_int_equal(feed_str(&c, LINE("Hi") LINE("!")), CS_EUPSTREAM);
	assert_string_equal(c.text.data, "Hi!");
	assert_int_equal(c.n_error, 1);
	assert_int_equal(c.n_finish, 0);
	assert_string_equal(c.error_type, "upstream_error");
	collected_free(&c);

	/* Cut inside the done line: malformed at EOF, still one error. */
	collected_init(&c);
	assert_int_equal(feed_str(&c, LINE("Hi") "{\"done\":tr"),
	    CS_EUPSTREAM);
	assert_int_equal(c.n_error, 1);
	assert_int_equal(c.n_finish, 0);
	collected_free(&c);

	/* Empty body. */
	collected_init(&c);
	assert_int_equal(feed_str(&c, ""), CS_EUPSTREAM);
	assert_int_equal(c.n_error, 1);
	collected_free(&c);
}

static void
test_in_band_error(void **state)
{
	struct collected c;

	(void)state;
	collected_init(&c);
	assert_int_equal(feed_str(&c, LINE("a")
	    "{\"error\":\"model runner has unexpectedly stopped\"}\n"
	    LINE("b") DONE("stop") "\n"), CS_EUPSTREAM);
	assert_string_equal(c.text.data, "a");
	assert_int_equal(c.n_error, 1);
	assert_int_equal(c.n_finish, 0);
	assert_int_equal(c.after_terminal, 0);
	assert_string_equal(c.error_type, "upstream_error");
	assert_string_equal(c.error_message,
	    "model runner has unexpectedly stopped");
	collected_free(&c);

	/* An error object with a message, at EOF without LF. */
	collected_init(&c);
	assert_int_equal(feed_str(&c, "{\"error\":{\"message\":\"boom\"}}"),
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
		collected_init(&c);
		assert_int_equal(feed(&c, bad[i], strlen(bad[i]), 5),
		    CS_EUPSTREAM);
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
	collected_init(&c);
	assert_int_equal(feed(&c, big, n, 4096), CS_EUPSTREAM);
	assert_int_equal(c.n_error, 1);
	assert_int_equal(c.n_finish, 0);
	assert_string_equal(c.error_type, "upstream_error");
	assert_non_null(strstr(c.error_message, "oversized"));
	collected_free(&c);
	/* Also when the line arrives in one piece with its LF. */
	big[n - 1] = '\n';
	collected_init(&c);
	assert_int_equal(feed(&c, big, n, (size_t)-1), CS_EUPSTREAM);
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
	collected_init(&c);
	assert_int_equal(feed_str(&c, LINE("x") "\r\n\n" LINE("y") DONE("length")),
	    CS_OK);
	assert_string_equal(c.text.data, "xy");
	assert_int_equal(c.n_finish, 1);
	assert_string_equal(c.native, "length");
	assert_string_equal(c.finish, "length");
	assert_string_equal(c.usage, "{\"prompt_eval_count\":3,\"eval_count\":4}");
	collected_free(&c);

	collected_init(&c);
	assert_int_equal(feed_str(&c,
	    "{\"message\":{\"content\":\"z\"},\"done\":false}\r\n"
	    "{\"done\":true,\"done_reason\":\"unload\"}\r\n"
	    LINE("late") "garbage\n"), CS_OK);
	assert_string_equal(c.text.data, "z");
	assert_string_equal(c.finish, "other");
	assert_string_equal(c.native, "unload");
	assert_null(c.usage);
	assert_int_equal(c.after_terminal, 0);
	collected_free(&c);

	collected_init(&c);
	assert_int_equal(feed_str(&c, "{\"done\":true}\n"), CS_OK);
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
	collected_init(&c);
	assert_int_equal(feed(&c, body, sizeof(body) - 1, 3), CS_OK);
	assert_string_equal(c.reasoning.data, "let me see");
	assert_string_equal(c.text.data, "ok");
	assert_int_equal(json_object_array_length(c.tools), 2);
	assert_string_equal(json_object_get_string(json_object_object_get(
	    json_object_array_get_idx(c.tools, 0), "id")), "call_1");
	assert_string_equal(json_object_get_string(json_object_array_get_idx(
	    c.raw_args, 0)), "{\"a\":[1,{\"b\":\"/x\"}]}");
	assert_string_equal(json_object_get_string(json_object_array_get_idx(
	    c.raw_args, 1)), "{\"s\":1}");
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
	assert_int_equal(feed_str(&c, LINE("a") LINE("b") DONE("stop") "\n"),
	    CS_ECLIENTGONE);
	assert_string_equal(c.text.data, "a");
	assert_int_equal(c.n_error, 0);
	assert_int_equal(c.n_finish, 0);
	collected_free(&c);
}

/* ---- build() ---- */

static int
has_header(const struct curl_slist *h, const char *want)
{
	for (; h != NULL; h = h->next)
		if (strcmp(h->data, want) == 0)
			return 1;
	return 0;
}

static int
has_header_prefix(const struct curl_slist *h, const char *prefix)
{
	for (; h != NULL; h = h->next)
		if (strncasecmp(h->data, prefix, strlen(prefix)) == 0)
			return 1;
	return 0;
}

static const char *
jstr(struct json_object *o, const char *key)
{
	struct json_object *v = NULL;

	assert_true(json_object_object_get_ex(o, key, &v));
	return json_object_get_string(v);
}

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
		"system", "user", "assistant", "tool",
	};
	struct cs_chat_request req;
	struct cs_http_request hr;
	struct json_object *body, *v, *o;
	size_t i;

	(void)state;
	cs_config_defaults(&cfg);
	cfg.base_url_eff = "http://127.0.0.1:11434";
	cfg.api_key = NULL;
	memset(&model, 0, sizeof(model));
	snprintf(model.name, sizeof(model.name), "gemma3:1b");
	memset(&req, 0, sizeof(req));
	req.model = &model;
	req.messages = msgs;
	req.n_messages = CS_ARRAY_LEN(msgs);

	cs_http_request_init(&hr);
	assert_int_equal(P->build(&cfg, &req, &hr), CS_OK);
	assert_string_equal(hr.url.data, "http://127.0.0.1:11434/api/chat");
	assert_true(has_header_prefix(hr.headers,
	    "content-type: application/json"));
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
	cfg.api_key = key;
	req.has_temperature = 1;
	req.temperature = 0.25;
	req.max_tokens = 50;
	cs_http_request_init(&hr);
	assert_int_equal(P->build(&cfg, &req, &hr), CS_OK);
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
	cfg.api_key = NULL;
	req.has_temperature = 0;
	cs_http_request_init(&hr);
	assert_int_equal(P->build(&cfg, &req, &hr), CS_OK);
	body = json_tokener_parse(hr.body.data);
	assert_non_null(body);
	assert_true(json_object_object_get_ex(body, "options", &o));
	assert_false(json_object_object_get_ex(o, "temperature", NULL));
	assert_true(json_object_object_get_ex(o, "num_predict", NULL));
	json_object_put(body);
	cs_http_request_free(&hr);
}

#define TOOLS_PROVIDER (&cs_provider_ollama)

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
	assert_json_at(body, "tools", "[{\"type\":\"function\",\"function\":{"
	    "\"name\":\"get_weather\",\"description\":\"Weather now\","
	    "\"parameters\":{\"type\":\"object\",\"properties\":{\"city\":{"
	    "\"type\":\"string\"}},\"required\":[\"city\"]}}},{\"type\":"
	    "\"function\",\"function\":{\"name\":\"now\"}}]");
	/* Ollama has no tool_choice. */
	assert_false(json_object_object_get_ex(body, "tool_choice", NULL));
	assert_json_at(body, "messages", "[{\"role\":\"user\",\"content\":"
	    "\"w?\"},{\"role\":\"assistant\",\"content\":\"\",\"tool_calls\":["
	    "{\"function\":{\"name\":\"get_weather\",\"arguments\":{\"city\":"
	    "\"Paris\"}}},{\"function\":{\"name\":\"now\",\"arguments\":{}}}]},"
	    "{\"role\":\"tool\",\"content\":\"18C\"},{\"role\":\"tool\","
	    "\"content\":\"noon\"},{\"role\":\"assistant\",\"content\":"
	    "\"Sunny.\",\"tool_calls\":[{\"function\":{\"name\":\"now\","
	    "\"arguments\":{}}}]},{\"role\":\"user\",\"content\":\"thanks\"}]");
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
		cmocka_unit_test(test_oversized),
		cmocka_unit_test(test_last_line_without_lf_and_crlf),
		cmocka_unit_test(test_thinking_and_streamed_tool_calls),
		cmocka_unit_test(test_client_gone_stops),
		cmocka_unit_test(test_build),
		cmocka_unit_test(test_build_tools),
	};

	return cmocka_run_group_tests_name("ollama", tests, NULL, NULL);
}
