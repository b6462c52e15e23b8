/*
 * test_request.c — the chat request parser: good requests come out exactly
 * as sent (instructions prepended, parts joined, defaults applied), and
 * every record of tests/fixtures/requests/hostile.txt is refused with the
 * right status and a message naming what and where (or, for "=== OK"
 * records, accepted).  Bodies are copied into exact-size heap buffers so
 * ASan catches any read past len; run under ASan or valgrind for leaks.
 */
#include <glob.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "config.h"
#include "request.h"
#include "request_int.h"
#include "cs.h"
#include "testutil.h"

#define HOSTILE_MIN 40

static void
test_config(struct cs_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->max_body_bytes = 262144;
	cfg->max_messages = 256;
	cfg->max_message_bytes = 65536;
	memcpy(cfg->models[0].name, "gpt-4o-mini", sizeof("gpt-4o-mini"));
	cfg->models[0].max_tokens = 0;
	memcpy(cfg->models[1].name, "capped", sizeof("capped"));
	cfg->models[1].max_tokens = 4096;
	cfg->n_models = 2;
	memcpy(cfg->default_model, "gpt-4o-mini", sizeof("gpt-4o-mini"));
	cfg->client_instructions = 1;
	cfg->client_tools = 1;
	cfg->instructions[0] = '\0';
}

static const char *
fixtures(void)
{
	const char *d = getenv("CS_FIXTURES");

	return d != NULL && *d != '\0' ? d : "tests/fixtures";
}

/* Parse a copy of exactly len bytes, so over-reads hit a redzone. */
static enum cs_err
parse_exact(const struct cs_config *cfg, const char *body, size_t len,
    struct cs_chat_request **out, struct cs_reqerr *err)
{
	char *copy;
	enum cs_err r;

	copy = malloc(len > 0 ? len : 1);
	assert_non_null(copy);
	if (len > 0)
		memcpy(copy, body, len);
	r = cs_request_parse(cfg, copy, len, out, err);
	free(copy);
	return r;
}

static struct cs_chat_request *
parse_ok(const struct cs_config *cfg, const char *body)
{
	struct cs_chat_request *req = NULL;
	struct cs_reqerr err;
	enum cs_err r;

	r = parse_exact(cfg, body, strlen(body), &req, &err);
	if (r != CS_OK)
		fail_msg("refused (%d): %s\nbody: %s",
		    cs_failure(err.fail)->status, err.message, body);
	assert_non_null(req);
	return req;
}

static void
expect_refused(
    const struct cs_config *cfg, const char *body, int status, const char *msg)
{
	struct cs_chat_request *req = (struct cs_chat_request *)1;
	struct cs_reqerr err;
	enum cs_err r;

	r = parse_exact(cfg, body, strlen(body), &req, &err);
	assert_int_equal(r, status == 413 ? CS_ETOOBIG : CS_EBADINPUT);
	assert_null(req);
	assert_int_equal(cs_failure(err.fail)->status, status);
	if (strstr(err.message, msg) == NULL)
		fail_msg("message \"%s\" lacks \"%s\"", err.message, msg);
}

static void
assert_msg(const struct cs_message *m, enum cs_role role, const char *text)
{
	assert_int_equal(m->role, role);
	assert_int_equal(m->content_len, strlen(text));
	assert_memory_equal(m->content, text, m->content_len + 1);
}

static void
test_minimal(void **state)
{
	struct cs_config cfg;
	struct cs_chat_request *req;

	(void)state;
	test_config(&cfg);
	req = parse_ok(&cfg,
	    "{\"messages\":[{\"role\":\"user\","
	    "\"content\":\"Hi\"}]}");
	assert_int_equal(req->n_messages, 1);
	assert_msg(&req->messages[0], CS_ROLE_USER, "Hi");
	assert_null(req->messages[0].tool_call_id);
	assert_ptr_equal(req->model, &cfg.models[0]);
	assert_int_equal(req->has_temperature, 0);
	assert_int_equal(req->max_tokens, 0);
	assert_string_equal(cs_request_last_user(req), "Hi");
	cs_request_free(req);
}

static void
test_all_fields(void **state)
{
	struct cs_config cfg;
	struct cs_chat_request *req;

	(void)state;
	test_config(&cfg);
	req = parse_ok(&cfg,
	    "{\"model\":\"capped\",\"instructions\":\"Be "
	    "brief.\",\"temperature\":0.25,\"max_tokens\":100,"
	    "\"stream\":true,\"n\":1,\"user\":\"u-1\",\"messages\":["
	    "{\"role\":\"system\",\"content\":\"S\"},"
	    "{\"role\":\"user\",\"content\":\"caf\\u00e9 \\ud83d\\ude00\","
	    "\"name\":\"ann\"},"
	    "{\"role\":\"assistant\",\"content\":\"A\",\"tool_calls\":"
	    "[{\"id\":\"c1\",\"type\":\"function\",\"function\":{\"name\":"
	    "\"f\",\"arguments\":\"{}\"}}]},"
	    "{\"role\":\"tool\",\"content\":\"42\",\"tool_call_id\":\"c1\"},"
	    "{\"role\":\"user\",\"content\":\"again\",\"tool_call_id\":"
	    "\"ignored\"}]}");
	assert_ptr_equal(req->model, &cfg.models[1]);
	assert_int_equal(req->has_temperature, 1);
	assert_true(req->temperature == 0.25);
	assert_int_equal(req->max_tokens, 100);
	assert_int_equal(req->n_messages, 6);
	assert_msg(&req->messages[0], CS_ROLE_SYSTEM, "Be brief.");
	assert_msg(&req->messages[1], CS_ROLE_SYSTEM, "S");
	assert_msg(
	    &req->messages[2], CS_ROLE_USER, "caf\xc3\xa9 \xf0\x9f\x98\x80");
	assert_msg(&req->messages[3], CS_ROLE_ASSISTANT, "A");
	assert_msg(&req->messages[4], CS_ROLE_TOOL, "42");
	assert_string_equal(req->messages[4].tool_call_id, "c1");
	/* Only tool messages carry their id upstream. */
	assert_null(req->messages[5].tool_call_id);
	assert_string_equal(cs_request_last_user(req), "again");
	cs_request_free(req);
}

static void
test_content_parts(void **state)
{
	struct cs_config cfg;
	struct cs_chat_request *req;

	(void)state;
	test_config(&cfg);
	req = parse_ok(&cfg,
	    "{\"messages\":[{\"role\":\"user\",\"content\":["
	    "{\"type\":\"text\",\"text\":\"Hello, \"},"
	    "{\"text\":\"\",\"type\":\"text\"},"
	    "{\"type\":\"text\",\"text\":\"world\"}]},"
	    "{\"role\":\"assistant\",\"content\":[]}]}");
	assert_int_equal(req->n_messages, 2);
	assert_msg(&req->messages[0], CS_ROLE_USER, "Hello, world");
	assert_msg(&req->messages[1], CS_ROLE_ASSISTANT, "");
	cs_request_free(req);
}

static void
test_instructions_prepended(void **state)
{
	struct cs_config cfg;
	struct cs_chat_request *req;
	const char both[] = "{\"instructions\":\"CLIENT\",\"messages\":"
	                    "[{\"role\":\"user\",\"content\":\"u\"}]}";
	const char empty[] = "{\"instructions\":\"\",\"messages\":"
	                     "[{\"role\":\"user\",\"content\":\"u\"}]}";

	(void)state;
	test_config(&cfg);
	memcpy(cfg.instructions, "SERVER", sizeof("SERVER"));
	req = parse_ok(&cfg, both);
	assert_int_equal(req->n_messages, 3);
	assert_msg(&req->messages[0], CS_ROLE_SYSTEM, "SERVER");
	assert_msg(&req->messages[1], CS_ROLE_SYSTEM, "CLIENT");
	assert_msg(&req->messages[2], CS_ROLE_USER, "u");
	cs_request_free(req);

	/* Empty client instructions add nothing. */
	req = parse_ok(&cfg, empty);
	assert_int_equal(req->n_messages, 2);
	assert_msg(&req->messages[0], CS_ROLE_SYSTEM, "SERVER");
	assert_msg(&req->messages[1], CS_ROLE_USER, "u");
	cs_request_free(req);

	/* A server that refuses client instructions still takes "". */
	cfg.client_instructions = 0;
	req = parse_ok(&cfg, empty);
	assert_int_equal(req->n_messages, 2);
	cs_request_free(req);
	expect_refused(
	    &cfg, both, 400, "instructions: not allowed by this server");

	/* Client only. */
	cfg.client_instructions = 1;
	cfg.instructions[0] = '\0';
	req = parse_ok(&cfg, both);
	assert_int_equal(req->n_messages, 2);
	assert_msg(&req->messages[0], CS_ROLE_SYSTEM, "CLIENT");
	cs_request_free(req);
}

static void
test_assistant_null_content(void **state)
{
	struct cs_config cfg;
	struct cs_chat_request *req;

	(void)state;
	test_config(&cfg);
	req = parse_ok(&cfg,
	    "{\"messages\":[{\"role\":\"user\",\"content\":"
	    "\"q\"},{\"role\":\"assistant\",\"content\":null,\"tool_calls\":"
	    "[]}]}");
	assert_int_equal(req->n_messages, 2);
	assert_msg(&req->messages[1], CS_ROLE_ASSISTANT, "");
	cs_request_free(req);
	expect_refused(&cfg,
	    "{\"messages\":[{\"role\":\"tool\",\"content\":"
	    "null}]}",
	    400,
	    "messages[0].content: null is allowed only for "
	    "assistant messages");
}

static void
test_tools(void **state)
{
	static const char body[] =
	    "{\"tools\":[{\"type\":\"function\","
	    "\"function\":{\"name\":\"get_weather\",\"description\":\"Weather"
	    "\",\"parameters\":{\"type\":\"object\",\"properties\":{\"city\":"
	    "{\"type\":\"string\"}}},\"strict\":true}},{\"type\":\"function\","
	    "\"function\":{\"name\":\"now\",\"description\":null}}],"
	    "\"tool_choice\":{\"type\":\"function\",\"function\":{\"name\":"
	    "\"now\"}},\"messages\":[{\"role\":\"user\",\"content\":\"w?\"},"
	    "{\"role\":\"assistant\",\"content\":null,\"tool_calls\":[{\"id\":"
	    "\"call_1\",\"type\":\"function\",\"function\":{\"name\":"
	    "\"get_weather\",\"arguments\":\"{\\\"city\\\":\\\"Paris\\\"}\"}},"
	    "{\"id\":\"call_2\",\"type\":\"function\",\"function\":{\"name\":"
	    "\"now\",\"arguments\":\"\"}}]},{\"role\":\"tool\",\"tool_call_id\":"
	    "\"call_1\",\"content\":\"18C\"}]}";
	static const char want[] =
	    "[{\"type\":\"function\",\"function\":{"
	    "\"name\":\"get_weather\",\"description\":\"Weather\",\"parameters"
	    "\":{\"type\":\"object\",\"properties\":{\"city\":{\"type\":"
	    "\"string\"}}},\"strict\":true}},{\"type\":\"function\",\"function"
	    "\":{\"name\":\"now\"}}]";
	static const char nocfg[] =
	    "{\"tools\":[{\"type\":\"function\","
	    "\"function\":{\"name\":\"f\"}}],\"messages\":[{\"role\":\"user\","
	    "\"content\":\"x\"}]}";
	struct cs_config cfg;
	struct cs_chat_request *req;
	struct json_object *exp;
	const struct cs_message *m;
	char *big, *p;
	size_t i, cap;

	(void)state;
	test_config(&cfg);
	req = parse_ok(&cfg, body);
	assert_int_equal(req->n_tools, 2);
	exp = json_tokener_parse(want);
	assert_non_null(exp);
	assert_true(json_object_equal(req->tools, exp));
	json_object_put(exp);
	assert_int_equal(req->tool_choice, CS_TOOL_CHOICE_NAMED);
	assert_string_equal(req->tool_choice_name, "now");
	assert_int_equal(req->n_messages, 3);
	m = &req->messages[1];
	assert_msg(m, CS_ROLE_ASSISTANT, "");
	assert_int_equal(m->n_tool_calls, 2);
	assert_string_equal(m->tool_calls[0].id, "call_1");
	assert_string_equal(m->tool_calls[0].name, "get_weather");
	assert_string_equal(m->tool_calls[0].arguments, "{\"city\":\"Paris\"}");
	assert_int_equal(m->tool_calls[0].arguments_len, 16);
	assert_string_equal(m->tool_calls[1].arguments, "");
	assert_null(req->messages[0].tool_calls);
	assert_string_equal(req->messages[2].tool_call_id, "call_1");
	cs_request_free(req);

	/* Choices without tools: "auto" and "none" dropped. */
	req = parse_ok(&cfg,
	    "{\"tool_choice\":\"none\",\"tools\":[],"
	    "\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]}");
	assert_null(req->tools);
	assert_int_equal(req->n_tools, 0);
	assert_int_equal(req->tool_choice, CS_TOOL_CHOICE_UNSET);
	cs_request_free(req);
	req = parse_ok(&cfg,
	    "{\"tool_choice\":\"required\",\"tools\":[{"
	    "\"type\":\"function\",\"function\":{\"name\":\"f\"}}],"
	    "\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]}");
	assert_int_equal(req->tool_choice, CS_TOOL_CHOICE_REQUIRED);
	assert_null(req->tool_choice_name);
	cs_request_free(req);

	/* client_tools = no: non-empty tools refused, [] still taken. */
	cfg.client_tools = 0;
	expect_refused(&cfg, nocfg, 400, "tools: not allowed by this server");
	req = parse_ok(&cfg,
	    "{\"tools\":[],\"messages\":[{\"role\":\"user\","
	    "\"content\":\"x\"}]}");
	assert_null(req->tools);
	cs_request_free(req);
	expect_refused(&cfg,
	    "{\"tool_choice\":\"required\",\"messages\":[{"
	    "\"role\":\"user\",\"content\":\"x\"}]}",
	    400, "tool_choice: \"required\" needs tools");
	cfg.client_tools = 1;

	/* 64 distinct tools: the limit. */
	cap = 64 * 64 + 128;
	big = malloc(cap);
	assert_non_null(big);
	p = big;
	p += snprintf(p, cap, "{\"tools\":[");
	for (i = 0; i < 64; i++)
		p += snprintf(p, cap - (size_t)(p - big),
		    "%s{\"type\":"
		    "\"function\",\"function\":{\"name\":\"t%zu\"}}",
		    i > 0 ? "," : "", i);
	snprintf(p, cap - (size_t)(p - big),
	    "],\"tool_choice\":{\"type\":"
	    "\"function\",\"function\":{\"name\":\"t63\"}},\"messages\":[{"
	    "\"role\":\"user\",\"content\":\"x\"}]}");
	req = parse_ok(&cfg, big);
	assert_int_equal(req->n_tools, 64);
	assert_string_equal(req->tool_choice_name, "t63");
	cs_request_free(req);
	free(big);
}

static void
test_max_tokens(void **state)
{
	struct cs_config cfg;
	struct cs_chat_request *req;

	(void)state;
	test_config(&cfg);
	/* Absent: the model's cap, or 0 when it has none. */
	req = parse_ok(&cfg,
	    "{\"model\":\"capped\",\"messages\":[{\"role\":"
	    "\"user\",\"content\":\"x\"}]}");
	assert_int_equal(req->max_tokens, 4096);
	cs_request_free(req);
	req = parse_ok(&cfg,
	    "{\"model\":null,\"max_tokens\":null,"
	    "\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]}");
	assert_ptr_equal(req->model, &cfg.models[0]);
	assert_int_equal(req->max_tokens, 0);
	cs_request_free(req);
	/* At the cap and at the hard ceiling. */
	req = parse_ok(&cfg,
	    "{\"model\":\"capped\",\"max_tokens\":4096,"
	    "\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]}");
	assert_int_equal(req->max_tokens, 4096);
	cs_request_free(req);
	req = parse_ok(&cfg,
	    "{\"max_tokens\":10000000,"
	    "\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]}");
	assert_int_equal(req->max_tokens, 10000000);
	cs_request_free(req);
	expect_refused(&cfg,
	    "{\"model\":\"capped\",\"max_tokens\":4097,"
	    "\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]}",
	    400, "max_tokens: 4097 exceeds this model's limit of 4096");
}

static void
test_default_model_is_first_when_unset(void **state)
{
	struct cs_config cfg;
	struct cs_chat_request *req;

	(void)state;
	test_config(&cfg);
	memcpy(cfg.default_model, "capped", sizeof("capped"));
	req = parse_ok(&cfg,
	    "{\"messages\":[{\"role\":\"user\","
	    "\"content\":\"x\"}]}");
	assert_ptr_equal(req->model, &cfg.models[1]);
	assert_int_equal(req->max_tokens, 4096);
	cs_request_free(req);
}

static void
test_limits_exact(void **state)
{
	struct cs_config cfg;
	struct cs_chat_request *req = NULL;
	struct cs_reqerr err;
	char *body;
	size_t len;

	(void)state;
	test_config(&cfg);
	/* Exactly max_body_bytes: accepted; one more: 413 before parsing. */
	len = cfg.max_body_bytes;
	body = malloc(len + 1);
	assert_non_null(body);
	memset(body, ' ', len + 1);
	memcpy(
	    body, "{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]}", 44);
	assert_int_equal(cs_request_parse(&cfg, body, len, &req, &err), CS_OK);
	cs_request_free(req);
	assert_int_equal(
	    cs_request_parse(&cfg, body, len + 1, &req, &err), CS_ETOOBIG);
	assert_null(req);
	assert_int_equal(cs_failure(err.fail)->status, 413);
	assert_string_equal(err.message,
	    "body: 262145 bytes exceeds the limit of 262144 bytes");
	free(body);
}

static void
test_not_nul_terminated(void **state)
{
	struct cs_config cfg;
	struct cs_chat_request *req = NULL;
	struct cs_reqerr err;
	const char body[] = "{\"messages\":[{\"role\":\"user\","
	                    "\"content\":\"x\"}]}GARBAGE";

	(void)state;
	test_config(&cfg);
	assert_int_equal(
	    parse_exact(&cfg, body, sizeof(body) - 8, &req, &err), CS_OK);
	assert_string_equal(cs_request_last_user(req), "x");
	cs_request_free(req);
	/* Cut inside: incomplete, not read past len. */
	assert_int_equal(parse_exact(&cfg, body, 20, &req, &err), CS_EBADINPUT);
	assert_null(req);
	assert_string_equal(
	    err.message, "invalid JSON at byte 20: unexpected end of input");
}

static void
test_messages_exact(void **state)
{
	struct cs_config cfg;

	(void)state;
	test_config(&cfg);
	expect_refused(&cfg,
	    "{\"messages\":[{\"role\":\"user\",\"content\":"
	    "\"a\"},{\"role\":\"assistant\",\"content\":\"b\"},{\"role\":"
	    "\"bot\",\"content\":\"c\"}]}",
	    400,
	    "messages[2].role: unknown "
	    "role \"bot\" (expected system, developer, user, assistant or "
	    "tool)");
	expect_refused(&cfg, "{\"model\":\"gpt-5\",\"messages\":[]}", 400,
	    "model: \"gpt-5\" is not available on this server (available: "
	    "gpt-4o-mini, capped)");
	expect_refused(&cfg,
	    "{\"messages\":[{\"role\":\"user\",\"content\":"
	    "[{\"type\":\"text\",\"text\":\"a\"},{\"type\":\"image_url\","
	    "\"image_url\":{\"url\":\"x\"}}]}]}",
	    400,
	    "messages[0].content[1].type: unsupported part type "
	    "\"image_url\" (only \"text\")");
}

/* Every byte of s is well-formed UTF-8 without control characters. */
static int
clean_utf8(const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t n;

	while (*p != '\0') {
		if (*p < 0x20 || *p == 0x7f)
			return 0;
		if (*p < 0x80)
			n = 1;
		else if (*p >= 0xc2 && *p <= 0xdf)
			n = 2;
		else if (*p >= 0xe0 && *p <= 0xef)
			n = 3;
		else if (*p >= 0xf0 && *p <= 0xf4)
			n = 4;
		else
			return 0;
		while (--n > 0)
			if ((*++p & 0xc0) != 0x80)
				return 0;
		p++;
	}
	return 1;
}

static void
test_model_list_truncated(void **state)
{
	struct cs_config cfg;
	struct cs_chat_request *req = NULL;
	struct cs_reqerr err;
	const char body[] = "{\"model\":\"nope\",\"messages\":[]}";
	size_t i, j;

	(void)state;
	test_config(&cfg);
	/* 32 long names with multibyte characters cannot all fit. */
	for (i = 0; i < CS_MAX_MODELS; i++) {
		for (j = 0; j + 2 < 60; j += 2)
			memcpy(cfg.models[i].name + j, "\xc3\xa9", 2);
		cfg.models[i].name[j] = (char)('a' + i % 26);
		cfg.models[i].name[j + 1] = '\0';
	}
	cfg.n_models = CS_MAX_MODELS;
	assert_int_equal(parse_exact(&cfg, body, sizeof(body) - 1, &req, &err),
	    CS_EBADINPUT);
	assert_true(strlen(err.message) < sizeof(err.message));
	assert_true(clean_utf8(err.message));
	assert_non_null(strstr(err.message, "(available: "));
	assert_non_null(strstr(err.message, "...)"));
}

/*
 * The "(accepted: ...)" list of an unknown-field refusal is the table the
 * parser reads: every field, each once, in its shown order.
 */
static void
expect_accepted_list(const struct cs_config *cfg, const char *body,
    const char *prefix, const struct cs_req_field *table, size_t n)
{
	struct cs_chat_request *req = NULL;
	struct cs_reqerr err;
	char want[256];
	const char *list;
	size_t s, k, len, hits;

	len = (size_t)snprintf(want, sizeof(want), "%s", prefix);
	for (s = 0; s < n; s++) {
		for (k = 0, hits = 0; k < n; k++)
			if (table[k].shown == s) {
				hits++;
				len += (size_t)snprintf(want + len,
				    sizeof(want) - len, "%s%s",
				    s > 0 ? ", " : "", table[k].name);
			}
		/* shown numbers the fields 0..n-1, each once. */
		assert_int_equal(hits, 1);
	}
	snprintf(want + len, sizeof(want) - len, ")");
	assert_int_equal(
	    parse_exact(cfg, body, strlen(body), &req, &err), CS_EBADINPUT);
	assert_string_equal(err.message, want);
	/* And, read back item by item, it names every field of the table. */
	list = strstr(err.message, "(accepted: ") + 11;
	for (hits = 0; *list != '\0' && *list != ')'; hits++) {
		len = strcspn(list, ",)");
		for (k = 0; k < n; k++)
			if (strlen(table[k].name) == len &&
			    memcmp(table[k].name, list, len) == 0)
				break;
		if (k == n)
			fail_msg("\"%s\": %.*s is no field", err.message,
			    (int)len, list);
		list += len + (list[len] == ',' ? 2 : 0);
	}
	assert_int_equal(hits, n);
}

static void
test_accepted_lists(void **state)
{
	struct cs_config cfg;

	(void)state;
	test_config(&cfg);
	expect_accepted_list(&cfg, "{\"max_token\":5,\"messages\":[]}",
	    "unknown field \"max_token\" (accepted: ", cs_req_top_fields,
	    cs_req_n_top_fields);
	expect_accepted_list(&cfg,
	    "{\"messages\":[{\"role\":\"user\","
	    "\"content\":\"a\"},{\"rol\":\"user\"}]}",
	    "messages[1]: "
	    "unknown field \"rol\" (accepted: ",
	    cs_req_msg_fields, cs_req_n_msg_fields);
	/* The text as it has always read (tests/fixtures, docs). */
	expect_refused(&cfg, "{\"max_token\":5}", 400,
	    "unknown field "
	    "\"max_token\" (accepted: messages, model, instructions, "
	    "temperature, max_tokens, stream, n, user, tools, tool_choice, "
	    "response_format, stop)");
	expect_refused(&cfg, "{\"messages\":[{\"x\":1}]}", 400,
	    "messages[0]: unknown field \"x\" (accepted: role, content, "
	    "name, tool_call_id, tool_calls)");
	expect_refused(&cfg, "{\"messages\":[{\"role\":\"bot\"}]}", 400,
	    "messages[0].role: unknown role \"bot\" (expected system, "
	    "developer, user, assistant or tool)");
	expect_refused(&cfg,
	    "{\"messages\":[{\"role\":\"user\","
	    "\"content\":[{\"type\":\"image\"}]}]}",
	    400,
	    "messages[0].content[0].type: unsupported part type \"image\" "
	    "(only \"text\")");
	expect_refused(&cfg, "{\"tool_choice\":\"any\"}", 400,
	    "tool_choice: must be \"auto\", \"none\", \"required\" or "
	    "{\"type\":\"function\",\"function\":{\"name\":...}}");
	assert_string_equal(cs_role_name(CS_ROLE_SYSTEM), "system");
	assert_string_equal(cs_role_name(CS_ROLE_TOOL), "tool");
	assert_string_equal(cs_role_name((enum cs_role)99), "unknown");
}

/* "stop": a string or up to 4 non-empty strings of at most 256 bytes,
 * kept as an array; [] and null are none. */
static void
test_stop(void **state)
{
	struct cs_config cfg;
	struct cs_chat_request *req;
	char body[1024], big[300];

	(void)state;
	test_config(&cfg);
	req = parse_ok(&cfg,
	    "{\"messages\":[{\"role\":\"user\",\"content\":\"a\"}],\"stop\":\"END\"}");
	assert_non_null(req->stop);
	assert_string_equal(
	    json_object_to_json_string_ext(req->stop, JSON_C_TO_STRING_PLAIN),
	    "[\"END\"]");
	cs_request_free(req);
	req = parse_ok(&cfg,
	    "{\"messages\":[{\"role\":\"user\",\"content\":\"a\"}],\"stop\":[\"a\",\"b\",\"c\",\"d\"]}");
	assert_int_equal(json_object_array_length(req->stop), 4);
	cs_request_free(req);
	req = parse_ok(&cfg,
	    "{\"messages\":[{\"role\":\"user\",\"content\":\"a\"}],\"stop\":[]}");
	assert_null(req->stop);
	cs_request_free(req);
	req = parse_ok(&cfg,
	    "{\"messages\":[{\"role\":\"user\",\"content\":\"a\"}],\"stop\":null}");
	assert_null(req->stop);
	cs_request_free(req);
	expect_refused(&cfg, "{\"stop\":[\"a\",\"b\",\"c\",\"d\",\"e\"]}", 400,
	    "stop: at most 4 stop sequences");
	expect_refused(
	    &cfg, "{\"stop\":[\"a\",\"\"]}", 400, "stop[1]: must not be empty");
	expect_refused(&cfg, "{\"stop\":\"\"}", 400, "stop: must not be empty");
	expect_refused(
	    &cfg, "{\"stop\":[\"a\",7]}", 400, "stop[1]: must be a string");
	expect_refused(&cfg, "{\"stop\":{}}", 400,
	    "stop: must be a string or an array of strings");
	memset(big, 'x', 257);
	big[257] = '\0';
	snprintf(body, sizeof(body), "{\"stop\":[\"%s\"]}", big);
	expect_refused(&cfg, body, 400, "stop[0]: longer than 256 bytes");
	big[256] = '\0';
	snprintf(body, sizeof(body),
	    "{\"messages\":[{\"role\":\"user\",\"content\":\"a\"}],\"stop\":[\"%s\"]}",
	    big);
	cs_request_free(parse_ok(&cfg, body));
}

static void
test_echo_is_bounded(void **state)
{
	struct cs_config cfg;
	struct cs_chat_request *req = NULL;
	struct cs_reqerr err;
	char body[1024];
	int n;

	(void)state;
	test_config(&cfg);
	/* A long role full of multibyte characters and escapes. */
	n = snprintf(body, sizeof(body),
	    "{\"messages\":[{\"role\":\"%s\","
	    "\"content\":\"x\"}]}",
	    "\\u0007\\\"\\\\\xe2\x82\xac\xe2\x82\xac"
	    "\xe2\x82\xac\xe2\x82\xac\xe2\x82\xac\xe2\x82\xac\xe2\x82\xac"
	    "\xe2\x82\xac\xe2\x82\xac\xe2\x82\xac\xe2\x82\xac\xe2\x82\xac"
	    "\xe2\x82\xac\xe2\x82\xac\xe2\x82\xac\xe2\x82\xac\xe2\x82\xac");
	assert_true(n > 0 && (size_t)n < sizeof(body));
	assert_int_equal(
	    parse_exact(&cfg, body, (size_t)n, &req, &err), CS_EBADINPUT);
	assert_true(clean_utf8(err.message));
	assert_non_null(strstr(err.message, "unknown role \"???\xe2\x82\xac"));
	assert_non_null(strstr(err.message, "\xe2\x82\xac...\""));
}

static void
test_err_optional_and_roles(void **state)
{
	struct cs_config cfg;
	struct cs_chat_request *req = NULL;

	(void)state;
	test_config(&cfg);
	assert_int_equal(
	    cs_request_parse(&cfg, "{}", 2, &req, NULL), CS_EBADINPUT);
	assert_null(req);
	cs_request_free(NULL);
	assert_string_equal(cs_request_last_user(NULL), "");
	req = parse_ok(&cfg,
	    "{\"messages\":[{\"role\":\"system\","
	    "\"content\":\"s\"}]}");
	assert_string_equal(cs_request_last_user(req), "");
	cs_request_free(req);
	assert_string_equal(cs_role_name(CS_ROLE_SYSTEM), "system");
	assert_string_equal(cs_role_name(CS_ROLE_USER), "user");
	assert_string_equal(cs_role_name(CS_ROLE_ASSISTANT), "assistant");
	assert_string_equal(cs_role_name(CS_ROLE_TOOL), "tool");
	assert_string_equal(cs_role_name((enum cs_role)99), "unknown");
}

/* "developer" is a system message under the same rules; the adapter
 * learns it was written "developer" (m->developer). */
static void
test_developer_role(void **state)
{
	static const char body[] =
	    "{\"messages\":[{\"role\":\"developer\","
	    "\"content\":\"Be brief.\"},{\"role\":\"system\",\"content\":"
	    "\"S\"},{\"role\":\"user\",\"content\":\"u\"}]}";
	struct cs_config cfg;
	struct cs_chat_request *req;

	(void)state;
	test_config(&cfg);
	req = parse_ok(&cfg, body);
	assert_int_equal(req->n_messages, 3);
	assert_msg(&req->messages[0], CS_ROLE_SYSTEM, "Be brief.");
	assert_int_equal(req->messages[0].developer, 1);
	assert_msg(&req->messages[1], CS_ROLE_SYSTEM, "S");
	assert_int_equal(req->messages[1].developer, 0);
	assert_int_equal(req->messages[2].developer, 0);
	cs_request_free(req);

	/* Fixed instructions refuse it as they refuse "system". */
	cfg.client_instructions = 0;
	expect_refused(&cfg, body, 400,
	    "messages[0].role: developer messages "
	    "are not allowed by this server (its instructions are fixed)");
	/* Exact and case-sensitive, like the other roles. */
	cfg.client_instructions = 1;
	expect_refused(&cfg,
	    "{\"messages\":[{\"role\":\"Developer\","
	    "\"content\":\"x\"}]}",
	    400,
	    "messages[0].role: unknown role "
	    "\"Developer\"");
}

static void
test_good_fixtures(void **state)
{
	struct cs_config cfg;
	struct cs_chat_request *req;
	struct cs_reqerr err;
	char pattern[512], *body;
	glob_t g;
	size_t i, len;

	(void)state;
	test_config(&cfg);
	snprintf(
	    pattern, sizeof(pattern), "%s/requests/good-*.json", fixtures());
	assert_int_equal(glob(pattern, 0, NULL, &g), 0);
	assert_true(g.gl_pathc >= 3);
	for (i = 0; i < g.gl_pathc; i++) {
		body = tu_read_file(g.gl_pathv[i], &len);
		req = NULL;
		if (parse_exact(&cfg, body, len, &req, &err) != CS_OK)
			fail_msg("%s: refused: %s", g.gl_pathv[i], err.message);
		assert_true(req->n_messages >= 1);
		cs_request_free(req);
		free(body);
	}
	globfree(&g);
}

/*
 * The hostile file.  Format (also at the top of the file): lines starting
 * with '#' are comments; "=== <status> <substring>" or "=== OK" starts a
 * record whose body is every following line up to the next "===" or end of
 * file, joined with '\n', without the last newline.  In a body,
 * <<hex:HHHH>> stands for raw bytes and <<repeat:N:TEXT>> for N copies of
 * TEXT.
 */
struct hcase {
	int line;
	int status; /* 0 = must be accepted */
	char expect[256];
	char *body;
	size_t len, cap;
};

static void
hc_append(struct hcase *c, const char *p, size_t n)
{
	char *nb;

	if (c->len + n + 1 > c->cap) {
		c->cap = (c->len + n + 1) * 2;
		nb = realloc(c->body, c->cap);
		assert_non_null(nb);
		c->body = nb;
	}
	memcpy(c->body + c->len, p, n);
	c->len += n;
}

/* Append one body line (without its newline), expanding << >> forms. */
static void
hc_line(struct hcase *c, const char *s, size_t n)
{
	const char *e = s + n, *open, *close, *colon;
	unsigned long count, k;
	char byte, *endp;

	while (s < e) {
		if ((open = memmem(s, (size_t)(e - s), "<<", 2)) == NULL) {
			hc_append(c, s, (size_t)(e - s));
			return;
		}
		hc_append(c, s, (size_t)(open - s));
		if ((close = memmem(open, (size_t)(e - open), ">>", 2)) == NULL)
			fail_msg("hostile.txt:%d: unclosed <<", c->line);
		if (strncmp(open, "<<hex:", 6) == 0) {
			for (s = open + 6; s + 1 < close; s += 2) {
				if (cs_hex_digit((unsigned char)s[0]) < 0 ||
				    cs_hex_digit((unsigned char)s[1]) < 0)
					fail_msg(
					    "hostile.txt:%d: bad hex", c->line);
				byte = (char)(cs_hex_digit(
				                  (unsigned char)s[0]) *
				        16 +
				    cs_hex_digit((unsigned char)s[1]));
				hc_append(c, &byte, 1);
			}
		} else if (strncmp(open, "<<repeat:", 9) == 0) {
			count = strtoul(open + 9, &endp, 10);
			colon = endp;
			if (colon >= close || *colon != ':')
				fail_msg("hostile.txt:%d: bad repeat", c->line);
			for (k = 0; k < count; k++)
				hc_append(
				    c, colon + 1, (size_t)(close - colon - 1));
		} else
			fail_msg("hostile.txt:%d: unknown << form", c->line);
		s = close + 2;
	}
}

/* Run one record; returns 1 if it behaved as expected. */
static int
hc_run(const struct cs_config *cfg, const struct hcase *c)
{
	struct cs_chat_request *req = (struct cs_chat_request *)1;
	struct cs_reqerr err;
	enum cs_err r, want;

	r = parse_exact(
	    cfg, c->body != NULL ? c->body : "", c->len, &req, &err);
	if (c->status == 0) {
		cs_request_free(r == CS_OK ? req : NULL);
		if (r == CS_OK)
			return 1;
		print_error("hostile.txt:%d: refused (%d %s), expected OK\n",
		    c->line, cs_failure(err.fail)->status, err.message);
		return 0;
	}
	want = c->status == 413 ? CS_ETOOBIG : CS_EBADINPUT;
	if (r == CS_OK)
		cs_request_free(req);
	if (r != want || cs_failure(err.fail)->status != c->status ||
	    req != NULL || strstr(err.message, c->expect) == NULL ||
	    !clean_utf8(err.message)) {
		print_error("hostile.txt:%d: got %s, %d \"%s\"; expected %d "
		            "\"%s\"\n",
		    c->line, cs_strerror(r), cs_failure(err.fail)->status,
		    err.message, c->status, c->expect);
		return 0;
	}
	return 1;
}

/* Run a finished record and count it. */
static void
hc_finish(
    const struct cs_config *cfg, struct hcase *c, int *cases, int *ok, int *bad)
{
	/* Every body line added a newline; the last one is not data. */
	if (c->len > 0)
		c->len--;
	(*cases)++;
	if (c->status == 0)
		(*ok)++;
	*bad += !hc_run(cfg, c);
	free(c->body);
	memset(c, 0, sizeof(*c));
}

static void
test_hostile(void **state)
{
	struct cs_config cfg;
	struct hcase c;
	char path[512], *file, *p, *nl, *end;
	size_t flen, n;
	int line = 0, have = 0, cases = 0, bad = 0, ok = 0;

	(void)state;
	test_config(&cfg);
	snprintf(path, sizeof(path), "%s/requests/hostile.txt", fixtures());
	file = tu_read_file(path, &flen);
	memset(&c, 0, sizeof(c));
	end = file + flen;
	for (p = file; p < end; p = nl + 1) {
		line++;
		if ((nl = memchr(p, '\n', (size_t)(end - p))) == NULL)
			nl = end;
		n = (size_t)(nl - p);
		if (n > 0 && p[0] == '#')
			continue;
		if (n >= 3 && strncmp(p, "===", 3) == 0) {
			if (have)
				hc_finish(&cfg, &c, &cases, &ok, &bad);
			c.line = line;
			have = 1;
			if (n == 6 && strncmp(p, "=== OK", 6) == 0)
				c.status = 0;
			else if (n > 8 &&
			    sscanf(p, "=== %d ", &c.status) == 1 &&
			    c.status >= 400 && n - 8 < sizeof(c.expect)) {
				memcpy(c.expect, p + 8, n - 8);
				c.expect[n - 8] = '\0';
			} else
				fail_msg("hostile.txt:%d: bad header", line);
			continue;
		}
		if (!have) {
			if (n == 0)
				continue;
			fail_msg("hostile.txt:%d: text before the first record",
			    line);
		}
		hc_line(&c, p, n);
		hc_append(&c, "\n", 1);
	}
	if (have)
		hc_finish(&cfg, &c, &cases, &ok, &bad);
	free(file);
	print_message("hostile.txt: %d records (%d refused, %d accepted), "
	              "%d failed\n",
	    cases, cases - ok, ok, bad);
	assert_int_equal(bad, 0);
	assert_true(cases - ok >= HOSTILE_MIN);
}

/* response_format: text is none; json_object; json_schema normalised
 * (unknown keys, bad names and types refused, naming the field). */
static void
test_response_format(void **state)
{
	struct cs_config cfg;
	struct cs_chat_request *req;
	const char *m = "\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]";
	char body[1024];
	size_t i;
	static const struct {
		const char *rf, *msg;
	} bad[] = {
		{ "\"json\"", "response_format: must be an object" },
		{ "{\"type\":\"yaml\"}", "unsupported \"yaml\"" },
		{ "{}", "response_format.type: missing" },
		{ "{\"type\":\"json_object\",\"x\":1}", "unknown field \"x\"" },
		{ "{\"type\":\"json_object\",\"json_schema\":{}}",
		    "only with type \"json_schema\"" },
		{ "{\"type\":\"json_schema\"}", "json_schema: missing" },
		{ "{\"type\":\"json_schema\",\"json_schema\":{\"schema\":{}}}",
		    "json_schema.name: missing" },
		{ "{\"type\":\"json_schema\",\"json_schema\":{\"name\":\"a b\"}}",
		    "other than A-Z" },
		{ "{\"type\":\"json_schema\",\"json_schema\":{\"name\":\"a\","
		  "\"schema\":[]}}",
		    "schema: must be a JSON schema object" },
		{ "{\"type\":\"json_schema\",\"json_schema\":{\"name\":\"a\","
		  "\"strict\":1}}",
		    "strict: must be true or false" },
		{ "{\"type\":\"json_schema\",\"json_schema\":{\"name\":\"a\","
		  "\"format\":1}}",
		    "json_schema: unknown field \"format\"" },
	};

	(void)state;
	test_config(&cfg);
	snprintf(body, sizeof(body),
	    "{%s,\"response_format\":{\"type\":"
	    "\"text\"}}",
	    m);
	req = parse_ok(&cfg, body);
	assert_null(req->response_format);
	cs_request_free(req);
	snprintf(body, sizeof(body),
	    "{%s,\"response_format\":{\"type\":\"json_schema\","
	    "\"json_schema\":{\"strict\":false,\"name\":\"n-1\","
	    "\"description\":\"d\",\"schema\":{\"type\":\"object\"}}}}",
	    m);
	req = parse_ok(&cfg, body);
	assert_non_null(req->response_format);
	assert_string_equal(json_object_to_json_string_ext(
	                        req->response_format, JSON_C_TO_STRING_PLAIN),
	    "{\"type\":\"json_schema\",\"json_schema\":{\"name\":\"n-1\","
	    "\"description\":\"d\",\"schema\":{\"type\":\"object\"},"
	    "\"strict\":false}}");
	cs_request_free(req);
	for (i = 0; i < CS_ARRAY_LEN(bad); i++) {
		snprintf(body, sizeof(body), "{%s,\"response_format\":%s}", m,
		    bad[i].rf);
		expect_refused(&cfg, body, 400, bad[i].msg);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_minimal),
		cmocka_unit_test(test_all_fields),
		cmocka_unit_test(test_content_parts),
		cmocka_unit_test(test_instructions_prepended),
		cmocka_unit_test(test_assistant_null_content),
		cmocka_unit_test(test_tools),
		cmocka_unit_test(test_max_tokens),
		cmocka_unit_test(test_default_model_is_first_when_unset),
		cmocka_unit_test(test_limits_exact),
		cmocka_unit_test(test_not_nul_terminated),
		cmocka_unit_test(test_messages_exact),
		cmocka_unit_test(test_model_list_truncated),
		cmocka_unit_test(test_stop),
		cmocka_unit_test(test_echo_is_bounded),
		cmocka_unit_test(test_accepted_lists),
		cmocka_unit_test(test_response_format),
		cmocka_unit_test(test_err_optional_and_roles),
		cmocka_unit_test(test_developer_role),
		cmocka_unit_test(test_good_fixtures),
		cmocka_unit_test(test_hostile),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
