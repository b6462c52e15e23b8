/*
 * adapter_util.h — shared helpers for the provider-adapter unit tests
 * (test_openai_chat.c, test_openai_completions.c, test_openai_responses.c,
 * test_anthropic.c, test_ollama.c): a cs_emit_fn that collects what an
 * adapter emits, feeding a stream to an adapter whole / per line / in
 * N-byte pieces, the fixture directory, and the request-build() helpers.
 * Everything is static inline, so a test file that does not use a helper
 * does not warn about it.
 */
#ifndef CS_ADAPTER_UTIL_H
#define CS_ADAPTER_UTIL_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>
#include <json-c/json.h>

#include "buf.h"
#include "config.h"
#include "encoder.h"
#include "event.h"
#include "provider.h"
#include "request.h"
#include "testutil.h"

/* The provider called name in cs_providers[]; fails the test if none. */
static inline const struct cs_provider *
provider_named(const char *name)
{
	const struct cs_provider *p = cs_provider_find(name);

	if (p == NULL)
		fail_msg("no provider \"%s\" in cs_providers[]", name);
	return p;
}

/*
 * How collect() records what it gets; the adapters' tests differ here, so
 * each passes its own flags to collected_init_flags() (0 = collected_init):
 *   COLLECT_REASONING_AS_TEXT  reasoning deltas go to text, not reasoning
 *   COLLECT_NO_REFUSAL         a refusal delta fails the test
 *   COLLECT_TOOL_ARGS_JSON     tool calls recorded as in ollama's
 *                              .expect.json: id null when empty, arguments
 *                              parsed back to JSON; raw strings in raw_args
 */
enum {
	COLLECT_REASONING_AS_TEXT = 1 << 0,
	COLLECT_NO_REFUSAL = 1 << 1,
	COLLECT_TOOL_ARGS_JSON = 1 << 2,
};

struct collected {
	unsigned flags; /* COLLECT_* */
	struct cs_buf text;
	struct cs_buf refusal;
	struct cs_buf reasoning;
	struct json_object *tools;    /* array of {id,name,arguments} */
	struct json_object *raw_args; /* the tool_args strings */
	char finish[64];
	char native[64];
	char *usage; /* native usage JSON text or NULL */
	int n_finish;
	int n_error;
	char error_type[64];
	char error_message[256];
	int after_terminal;  /* events after finish/error */
	int stop_after_text; /* return CLIENTGONE at this delta */
	int texts;
};

static inline enum cs_err
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
		if (c->flags & COLLECT_NO_REFUSAL)
			assert_true(ev->kind == CS_TEXT_CONTENT ||
			    ev->kind == CS_TEXT_REASONING);
		if (ev->kind == CS_TEXT_REFUSAL)
			b = &c->refusal;
		else if (ev->kind == CS_TEXT_REASONING &&
		    !(c->flags & COLLECT_REASONING_AS_TEXT))
			b = &c->reasoning;
		else
			b = &c->text;
		cs_buf_append(b, ev->text, ev->text_len);
		if (c->stop_after_text && c->texts == c->stop_after_text)
			return CS_ECLIENTGONE;
		break;
	case CS_EV_TOOL_CALL:
		t = json_object_new_object();
		if (c->flags & COLLECT_TOOL_ARGS_JSON) {
			/* As in .expect.json: id null when not sent, arguments
			 * parsed back to an object (null when there were
			 * none). */
			assert_non_null(ev->tool_id);
			assert_non_null(ev->tool_args);
			json_object_object_add(t, "id",
			    ev->tool_id[0] ?
			        json_object_new_string(ev->tool_id) :
			        NULL);
			json_object_object_add(
			    t, "name", json_object_new_string(ev->tool_name));
			json_object_object_add(
			    t, "arguments", json_tokener_parse(ev->tool_args));
			json_object_array_add(
			    c->raw_args, json_object_new_string(ev->tool_args));
		} else {
			json_object_object_add(
			    t, "id", json_object_new_string(ev->tool_id));
			json_object_object_add(
			    t, "name", json_object_new_string(ev->tool_name));
			json_object_object_add(t, "arguments",
			    json_object_new_string(ev->tool_args));
		}
		json_object_array_add(c->tools, t);
		break;
	case CS_EV_FINISH:
		c->n_finish++;
		snprintf(c->finish, sizeof(c->finish), "%s", ev->finish_reason);
		snprintf(c->native, sizeof(c->native), "%s",
		    ev->native_finish_reason ? ev->native_finish_reason : "");
		free(c->usage);
		c->usage = NULL;
		if (ev->tokens != NULL) {
			struct cs_buf u;

			cs_buf_init(&u, 1024);
			assert_int_equal(
			    cs_encoder_usage_json(ev->tokens, &u), CS_OK);
			c->usage = strdup(u.data);
			cs_buf_free(&u);
		}
		break;
	case CS_EV_ERROR:
		c->n_error++;
		snprintf(
		    c->error_type, sizeof(c->error_type), "%s", ev->error_type);
		snprintf(c->error_message, sizeof(c->error_message), "%s",
		    ev->error_message ? ev->error_message : "");
		break;
	}
	return CS_OK;
}

static inline void
collected_init_flags(struct collected *c, unsigned flags)
{
	memset(c, 0, sizeof(*c));
	c->flags = flags;
	cs_buf_init(&c->text, 1 << 20);
	cs_buf_init(&c->refusal, 1 << 20);
	cs_buf_init(&c->reasoning, 1 << 20);
	c->tools = json_object_new_array();
	c->raw_args = json_object_new_array();
}

static inline void
collected_init(struct collected *c)
{
	collected_init_flags(c, 0);
}

static inline void
collected_free(struct collected *c)
{
	cs_buf_free(&c->text);
	cs_buf_free(&c->refusal);
	cs_buf_free(&c->reasoning);
	json_object_put(c->tools);
	json_object_put(c->raw_args);
	free(c->usage);
}

static inline const char *
str_or_empty(const struct cs_buf *b)
{
	return b->data ? b->data : "";
}

/* Feed buf to a new adapter of p in pieces of size step (0 = split after
 * every LF, (size_t)-1 = whole), then adapter->end unless a feed failed. */
static inline enum cs_err
feed(const struct cs_provider *p, struct collected *c, const char *buf,
    size_t len, size_t step)
{
	struct cs_adapter *a = p->adapter->new (p, collect, c);
	size_t off = 0, n;
	enum cs_err r = CS_OK;

	assert_non_null(a);
	while (off < len) {
		if (step == 0) {
			const char *nl = memchr(buf + off, '\n', len - off);
			n = nl ? (size_t)(nl - (buf + off)) + 1 : len - off;
		} else
			n = len - off < step ? len - off : step;
		if ((r = p->adapter->feed(a, buf + off, n)) != CS_OK)
			break;
		off += n;
	}
	if (r == CS_OK)
		r = p->adapter->end(a);
	p->adapter->free(a);
	return r;
}

static inline enum cs_err
feed_str(const struct cs_provider *p, struct collected *c, const char *s)
{
	return feed(p, c, s, strlen(s), (size_t)-1);
}

static inline const char *
fixdir(void)
{
	const char *d = getenv("CS_FIXTURES");

	return d != NULL ? d : "tests/fixtures";
}

/* want[key], or want[sub][key], if a count; else -1. */
static inline long long
usage_count_of(struct json_object *want, const char *sub, const char *key)
{
	struct json_object *v;

	if (sub != NULL && !json_object_object_get_ex(want, sub, &want))
		return -1;
	if (!json_object_object_get_ex(want, key, &v) ||
	    !json_object_is_type(v, json_type_int))
		return -1;
	return json_object_get_int64(v);
}

/*
 * The native usage got (JSON text) must be the provider's usage object
 * want read as docs/protocol.md "finish" says (want NULL: got NULL).
 * Written from the table there, apart from the adapters' own code.
 */
static inline void
assert_usage(const char *got, struct json_object *want)
{
	struct json_object *g, *w;
	long long p, c, t, cached, reasoning, cr, cw;

	if (want == NULL || json_object_is_type(want, json_type_null)) {
		assert_null(got);
		return;
	}
	assert_non_null(got);
	p = usage_count_of(want, NULL, "prompt_tokens");
	if (p < 0)
		p = usage_count_of(want, NULL, "input_tokens");
	if (p < 0)
		p = usage_count_of(want, NULL, "prompt_eval_count");
	c = usage_count_of(want, NULL, "completion_tokens");
	if (c < 0)
		c = usage_count_of(want, NULL, "output_tokens");
	if (c < 0)
		c = usage_count_of(want, NULL, "eval_count");
	cr = usage_count_of(want, NULL, "cache_read_input_tokens");
	cw = usage_count_of(want, NULL, "cache_creation_input_tokens");
	if (p >= 0)
		p += (cr > 0 ? cr : 0) + (cw > 0 ? cw : 0);
	cached = cr >= 0 ?
	    cr :
	    usage_count_of(want, "prompt_tokens_details", "cached_tokens");
	if (cached < 0)
		cached = usage_count_of(
		    want, "input_tokens_details", "cached_tokens");
	reasoning = usage_count_of(
	    want, "completion_tokens_details", "reasoning_tokens");
	if (reasoning < 0)
		reasoning = usage_count_of(
		    want, "output_tokens_details", "reasoning_tokens");
	t = usage_count_of(want, NULL, "total_tokens");
	if (t < 0 && p >= 0 && c >= 0)
		t = p + c;
	w = json_object_new_object();
	json_object_object_add(
	    w, "prompt_tokens", p < 0 ? NULL : json_object_new_int64(p));
	json_object_object_add(
	    w, "completion_tokens", c < 0 ? NULL : json_object_new_int64(c));
	json_object_object_add(
	    w, "total_tokens", t < 0 ? NULL : json_object_new_int64(t));
	if (cached >= 0)
		json_object_object_add(
		    w, "cached_tokens", json_object_new_int64(cached));
	if (reasoning >= 0)
		json_object_object_add(
		    w, "reasoning_tokens", json_object_new_int64(reasoning));
	g = json_tokener_parse(got);
	if (!json_object_equal(g, w))
		fail_msg("usage %s != %s (from %s)", got,
		    json_object_to_json_string(w),
		    json_object_to_json_string(want));
	json_object_put(g);
	json_object_put(w);
}

/*
 * The golden test (openai-chat, anthropic, ollama): upstream/<name>.<ext> fed through p
 * whole, per line, in 7-byte pieces and byte by byte must give exactly
 * the text, reasoning, tool calls, finish reason and usage of
 * upstream/<name>.expect.json; an expected error (or a null
 * finish_reason, a cut stream) must end in one error and no finish.
 */
static inline void
check_fixture_ext(const struct cs_provider *p, unsigned flags, const char *name,
    const char *ext)
{
	static const size_t steps[] = { (size_t)-1, 0, 7, 1 };
	char path[512];
	struct json_object *exp, *v, *err = NULL;
	struct collected c;
	char *body, *expjs;
	size_t len = 0, elen = 0, i;

	snprintf(path, sizeof(path), "%s/upstream/%s.%s", fixdir(), name, ext);
	body = tu_read_file(path, &len);
	snprintf(
	    path, sizeof(path), "%s/upstream/%s.expect.json", fixdir(), name);
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
		collected_init_flags(&c, flags);
		if (err != NULL) {
			assert_int_equal(
			    feed(p, &c, body, len, steps[i]), CS_EUPSTREAM);
			assert_int_equal(c.n_error, 1);
			assert_int_equal(c.n_finish, 0);
			assert_string_equal(c.error_type, "upstream_error");
		} else {
			assert_int_equal(
			    feed(p, &c, body, len, steps[i]), CS_OK);
			assert_int_equal(c.n_error, 0);
			assert_int_equal(c.n_finish, 1);
			json_object_object_get_ex(exp, "finish_reason", &v);
			assert_string_equal(
			    c.native, v ? json_object_get_string(v) : "");
			json_object_object_get_ex(exp, "usage", &v);
			assert_usage(c.usage, v);
		}
		assert_int_equal(c.after_terminal, 0);
		json_object_object_get_ex(exp, "text", &v);
		assert_string_equal(
		    c.text.data ? c.text.data : "", json_object_get_string(v));
		if (json_object_object_get_ex(exp, "reasoning", &v))
			assert_string_equal(
			    c.reasoning.data ? c.reasoning.data : "",
			    json_object_get_string(v));
		if (json_object_object_get_ex(exp, "refusal", &v))
			assert_string_equal(str_or_empty(&c.refusal),
			    json_object_get_string(v));
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

/* ---- hostile streams ---- */

/* Exactly one error event, of type upstream_error, whose message contains
 * want (NULL: any); no finish and nothing after the error. */
static inline void
assert_one_error(const struct collected *c, const char *want)
{
	assert_int_equal(c->n_error, 1);
	assert_int_equal(c->n_finish, 0);
	assert_int_equal(c->after_terminal, 0);
	assert_string_equal(c->error_type, "upstream_error");
	if (want != NULL && strstr(c->error_message, want) == NULL)
		fail_msg("error \"%s\" lacks \"%s\"", c->error_message, want);
}

/* Stream s, fed whole and line by line, must end in one error whose
 * message contains want_msg, after exactly the text want_text. */
static inline void
check_error_stream(const struct cs_provider *p, unsigned flags, const char *s,
    const char *want_text, const char *want_msg)
{
	struct collected c;
	int mode;

	for (mode = 0; mode < 2; mode++) {
		collected_init_flags(&c, flags);
		assert_int_equal(
		    feed(p, &c, s, strlen(s), mode == 0 ? (size_t)-1 : 0),
		    CS_EUPSTREAM);
		assert_string_equal(str_or_empty(&c.text), want_text);
		assert_one_error(&c, want_msg);
		collected_free(&c);
	}
}

/* Stream s, fed whole and byte by byte, must finish without error with
 * exactly the text want_text and finish reason want_native. */
static inline void
check_ok_stream(const struct cs_provider *p, unsigned flags, const char *s,
    const char *want_text, const char *want_native)
{
	struct collected c;
	int mode;

	for (mode = 0; mode < 2; mode++) {
		collected_init_flags(&c, flags);
		assert_int_equal(
		    feed(p, &c, s, strlen(s), mode == 0 ? (size_t)-1 : 1),
		    CS_OK);
		assert_string_equal(str_or_empty(&c.text), want_text);
		assert_int_equal(c.n_error, 0);
		assert_int_equal(c.n_finish, 1);
		assert_int_equal(c.after_terminal, 0);
		assert_string_equal(c.native, want_native);
		collected_free(&c);
	}
}

/* Feed s to a new adapter of p cut inside every UTF-8 sequence (before
 * each continuation byte) and right after every backslash, so each
 * escape sequence and multi-byte character straddles two feeds. */
static inline enum cs_err
feed_split_escapes(
    const struct cs_provider *p, struct collected *c, const char *s)
{
	struct cs_adapter *a = p->adapter->new (p, collect, c);
	size_t len = strlen(s), start = 0, i;
	enum cs_err r = CS_OK;

	assert_non_null(a);
	for (i = 1; i <= len && r == CS_OK; i++) {
		if (i < len && ((unsigned char)s[i] & 0xc0) != 0x80 &&
		    s[i - 1] != '\\')
			continue;
		r = p->adapter->feed(a, s + start, i - start);
		start = i;
	}
	if (r == CS_OK)
		r = p->adapter->end(a);
	p->adapter->free(a);
	return r;
}

/*
 * Tool-call arguments built from two fragments that split an escape
 * (SPLIT_FRAG1 ends inside the arguments' own \u00e9, between "\" and
 * "u00e9") and carry characters the stream writes as \u escapes, a
 * surrogate pair and raw 2- and 4-byte UTF-8; assembled, they must be
 * SPLIT_ARGS byte for byte.  Both fragments are JSON string contents.
 */
#define SPLIT_FRAG1 "{\\\"s\\\":\\\"caf\\\\"
#define SPLIT_FRAG2 \
	"u00e9 \\u00e9 \xc3\xa9 \\ud83d\\ude00 \xf0\x9f\x98\x80\\\"}"
#define SPLIT_ARGS \
	"{\"s\":\"caf\\u00e9 \xc3\xa9 \xc3\xa9 \xf0\x9f\x98\x80 \xf0\x9f\x98\x80\"}"

/*
 * Stream s, fed whole, byte by byte and by feed_split_escapes(), must
 * finish without error, with text want_text (NULL: not checked) and, if
 * want_args is not NULL, exactly one tool call whose arguments are
 * want_args byte for byte.
 */
static inline void
check_split(const struct cs_provider *p, unsigned flags, const char *s,
    const char *want_text, const char *want_args)
{
	struct json_object *args;
	struct collected c;
	int mode;

	for (mode = 0; mode < 3; mode++) {
		collected_init_flags(&c, flags);
		assert_int_equal(mode == 2 ?
		        feed_split_escapes(p, &c, s) :
		        feed(p, &c, s, strlen(s), mode == 0 ? (size_t)-1 : 1),
		    CS_OK);
		assert_int_equal(c.n_error, 0);
		assert_int_equal(c.n_finish, 1);
		if (want_text != NULL)
			assert_string_equal(str_or_empty(&c.text), want_text);
		if (want_args != NULL) {
			assert_int_equal(json_object_array_length(c.tools), 1);
			args = (flags & COLLECT_TOOL_ARGS_JSON) ?
			    json_object_array_get_idx(c.raw_args, 0) :
			    json_object_object_get(
			        json_object_array_get_idx(c.tools, 0),
			        "arguments");
			assert_string_equal(
			    json_object_get_string(args), want_args);
		}
		collected_free(&c);
	}
}

/*
 * An SSE event too big to hold must end in one "oversized" error and no
 * crash: one data line past CS_MAX_SSE_LINE, and an event of many
 * shorter lines past CS_MAX_SSE_EVENT.  prefix (e.g. an event: line)
 * goes before the data.
 */
static inline void
check_sse_oversized(
    const struct cs_provider *p, unsigned flags, const char *prefix)
{
	size_t plen = strlen(prefix), line = CS_MAX_SSE_LINE / 2;
	size_t n = plen + CS_MAX_SSE_EVENT + 2 * line, off;
	struct collected c;
	char *big = malloc(n + 1);
	int mode;

	assert_non_null(big);
	for (mode = 0; mode < 2; mode++) {
		memcpy(big, prefix, plen);
		off = plen;
		if (mode == 0) {
			/* one line: "data: xxx..." */
			memcpy(big + off, "data: ", 6);
			memset(big + off + 6, 'x', CS_MAX_SSE_LINE + 16);
			off += 6 + CS_MAX_SSE_LINE + 16;
		} else {
			/* many lines of line bytes each */
			while (off + line + 7 < n) {
				memcpy(big + off, "data: ", 6);
				memset(big + off + 6, 'x', line);
				big[off + 6 + line] = '\n';
				off += line + 7;
			}
		}
		collected_init_flags(&c, flags);
		assert_int_equal(feed(p, &c, big, off, 4096), CS_EUPSTREAM);
		assert_one_error(&c, "oversized");
		collected_free(&c);
	}
	free(big);
}

/* ---- build() ---- */

static inline char *
headers_text(const struct curl_slist *h)
{
	struct cs_buf b;

	cs_buf_init(&b, 1 << 16);
	for (; h != NULL; h = h->next) {
		cs_buf_puts(&b, h->data);
		cs_buf_puts(&b, "\n");
	}
	return b.data; /* malloc'd by cs_buf */
}

static inline int
has_header(const struct curl_slist *h, const char *want)
{
	for (; h != NULL; h = h->next)
		if (strcmp(h->data, want) == 0)
			return 1;
	return 0;
}

static inline int
has_header_prefix(const struct curl_slist *h, const char *prefix)
{
	for (; h != NULL; h = h->next)
		if (strncasecmp(h->data, prefix, strlen(prefix)) == 0)
			return 1;
	return 0;
}

static inline const char *
jstr(struct json_object *o, const char *key)
{
	struct json_object *v = NULL;

	assert_true(json_object_object_get_ex(o, key, &v));
	return json_object_get_string(v);
}

struct build_fixture {
	struct cs_config cfg;
	struct cs_model_cfg model;
	struct cs_message msgs[8];
	struct cs_chat_request req;
	char key[32];
};

static inline void
msg(struct build_fixture *f, enum cs_role role, const char *content,
    const char *tool_call_id)
{
	struct cs_message *m = &f->msgs[f->req.n_messages++];

	m->role = role;
	m->content = (char *)(uintptr_t)content;
	m->content_len = strlen(content);
	m->tool_call_id = (char *)(uintptr_t)tool_call_id;
}

static inline void
build_fixture_init(struct build_fixture *f)
{
	memset(f, 0, sizeof(*f));
	f->cfg.upstreams[0].base_url_eff = "https://api.example.test/v1";
	snprintf(f->model.name, sizeof(f->model.name), "gpt-4o");
	f->req.model = &f->model;
	f->req.messages = f->msgs;
}

static inline struct json_object *
build_json(const struct cs_provider *p, struct build_fixture *f,
    struct cs_http_request *hr)
{
	struct json_object *body;

	cs_http_request_init(hr);
	assert_int_equal(p->build(&f->cfg.upstreams[0], &f->req, hr), CS_OK);
	body = json_tokener_parse(hr->body.data);
	assert_non_null(body);
	return body;
}

/* ---- build() with tools ---- */

/* A tool round trip with two tools; %s is the tool_choice value. */
static const char tools_body_fmt[] __attribute__((unused)) =
    "{\"tools\":[{\"type\":\"function\","
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

/* Build a tool round trip with two tools and tool_choice choice (JSON
 * text) through p and return the upstream body as sent (malloc'd, the
 * caller frees it); fails the test if anything goes wrong. */
static inline char *
tools_build_text(const struct cs_provider *p, const char *choice)
{
	static struct cs_config cfg;
	struct cs_chat_request *req = NULL;
	struct cs_http_request hr;
	struct cs_reqerr err;
	char text[4096], *body;
	int n;

	cs_config_defaults(&cfg);
	cfg.upstreams[0].base_url_eff = "https://api.example.test/v1";
	snprintf(cfg.models[0].name, sizeof(cfg.models[0].name), "m1");
	cfg.n_models = 1;
	n = snprintf(text, sizeof(text), tools_body_fmt, choice);
	assert_true(n > 0 && (size_t)n < sizeof(text));
	if (cs_request_parse(&cfg, text, (size_t)n, &req, &err) != CS_OK)
		fail_msg("refused: %s", err.message);
	cs_http_request_init(&hr);
	assert_int_equal(p->build(&cfg.upstreams[0], req, &hr), CS_OK);
	assert_non_null(hr.body.data);
	body = strdup(hr.body.data);
	assert_non_null(body);
	cs_http_request_free(&hr);
	cs_request_free(req);
	return body;
}

/* A one-message request with key set to val (JSON text) built by p: the
 * upstream body, parsed. */
static inline struct json_object *
option_build(const struct cs_provider *p, const char *key, const char *val)
{
	static struct cs_config cfg;
	struct cs_chat_request *req = NULL;
	struct json_object *body;
	struct cs_http_request hr;
	struct cs_reqerr err;
	char text[2048];
	int n;

	cs_config_defaults(&cfg);
	cfg.upstreams[0].base_url_eff = "https://api.example.test/v1";
	snprintf(cfg.models[0].name, sizeof(cfg.models[0].name), "m1");
	cfg.n_models = 1;
	n = snprintf(text, sizeof(text),
	    "{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],"
	    "\"%s\":%s}",
	    key, val);
	assert_true(n > 0 && (size_t)n < sizeof(text));
	if (cs_request_parse(&cfg, text, (size_t)n, &req, &err) != CS_OK)
		fail_msg("refused: %s", err.message);
	cs_http_request_init(&hr);
	assert_int_equal(p->build(&cfg.upstreams[0], req, &hr), CS_OK);
	body = json_tokener_parse(hr.body.data);
	assert_non_null(body);
	cs_http_request_free(&hr);
	cs_request_free(req);
	return body;
}

/* A one-message request with response_format rf (JSON text). */
static inline struct json_object *
format_build(const struct cs_provider *p, const char *rf)
{
	return option_build(p, "response_format", rf);
}

/* A JSON schema response_format as the SDKs send it. */
#define FORMAT_SCHEMA \
	"{\"type\":\"json_schema\",\"json_schema\":{\"name\":\"city\"," \
	"\"schema\":{\"type\":\"object\",\"properties\":{\"name\":{" \
	"\"type\":\"string\"}},\"required\":[\"name\"]},\"strict\":true}}"
#define FORMAT_SCHEMA_ONLY \
	"{\"type\":\"object\",\"properties\":{\"name\":{\"type\":" \
	"\"string\"}},\"required\":[\"name\"]}"

/* tools_build_text(), parsed. */
static inline struct json_object *
tools_build(const struct cs_provider *p, const char *choice)
{
	struct json_object *body;
	char *text = tools_build_text(p, choice);

	body = json_tokener_parse(text);
	assert_non_null(body);
	free(text);
	return body;
}

/* The body tools_build_text() gets must be want, to the byte: the keys in
 * their order, the numbers and escapes as json-c writes them. */
static inline void
assert_tools_body(
    const struct cs_provider *p, const char *choice, const char *want)
{
	char *got = tools_build_text(p, choice);

	assert_string_equal(got, want);
	free(got);
}

/* body[key] (key NULL: body itself) must equal the JSON text want. */
static inline void
assert_json_at(struct json_object *body, const char *key, const char *want)
{
	struct json_object *v = body, *exp;

	if (key != NULL && !json_object_object_get_ex(body, key, &v))
		fail_msg(
		    "no \"%s\" in %s", key, json_object_to_json_string(body));
	exp = json_tokener_parse(want);
	assert_non_null(exp);
	if (!json_object_equal(v, exp))
		fail_msg("%s:\n got  %s\n want %s", key ? key : "body",
		    json_object_to_json_string_ext(v, JSON_C_TO_STRING_PLAIN),
		    json_object_to_json_string_ext(
		        exp, JSON_C_TO_STRING_PLAIN));
	json_object_put(exp);
}

#endif
