/*
 * test_openai_fastpath.c — the plain text-delta reader of
 * providers/openai_fastpath.c: the chunk shapes it takes, with the bytes
 * it decodes, and a long list of near misses it must leave to json-c
 * (return 0).  That the adapter emits the same events either way is
 * test_openai_chat.c's job (its fixtures go through the fast path) and
 * the differential fuzzer's (tests/fuzz/fuzz_openai_fastpath.c).
 */
#include <string.h>

#include "testutil.h"

#include "buf.h"
#include "openai_fastpath.h"

#define HEAD \
	"\"id\":\"chatcmpl-x\",\"object\":\"chat.completion.chunk\"," \
	"\"created\":1712345678,\"model\":\"gpt-4o-mini\"," \
	"\"system_fingerprint\":\"fp_1\","
/* A chunk whose choice 0 has delta d (the inside of the braces). */
#define CHUNK(d) \
	"{" HEAD "\"choices\":[{\"index\":0,\"delta\":{" d "}," \
	"\"logprobs\":null,\"finish_reason\":null}]}"

struct accepted {
	const char *json;
	const char *content;
};

static const struct accepted accepted[] = {
	{ CHUNK("\"content\":\"Hel\""), "Hel" },
	{ CHUNK("\"role\":\"assistant\",\"content\":\"\",\"refusal\":null"),
	    "" },
	{ CHUNK("\"role\":\"assistant\""), "" },
	{ CHUNK("\"content\":null"), "" },
	{ CHUNK(""), "" },
	{ CHUNK("\"content\":\"a\\\"b\\\\c\\/d\\be\\ff\\ng\\rh\\ti\""),
	    "a\"b\\c/d\be\ff\ng\rh\ti" },
	{ CHUNK("\"content\":\"caf\\u00e9 \\u00E9\""), "caf\xc3\xa9 \xc3\xa9" },
	{ CHUNK("\"content\":\"\\u0041\\u07ff\\u0800\\uffff\""),
	    "A\xdf\xbf\xe0\xa0\x80\xef\xbf\xbf" },
	{ CHUNK("\"content\":\"\xf0\x9f\x98\x80 \xe2\x82\xac \xc3\xa9\""),
	    "\xf0\x9f\x98\x80 \xe2\x82\xac \xc3\xa9" },
	{ CHUNK("\"content\":\"\xf4\x8f\xbf\xbf\xed\x9f\xbf\""),
	    "\xf4\x8f\xbf\xbf\xed\x9f\xbf" },
	{ "{" HEAD "\"service_tier\":\"default\",\"obfuscation\":\"abc\","
	  "\"usage\":null,\"choices\":[{\"index\":0,\"delta\":{\"content\":"
	  "\"x\"},\"logprobs\":null,\"finish_reason\":null}]}",
	    "x" },
	{ " \t\r\n{ \"choices\" : [ { \"delta\" : { \"content\" : \"y\" } ,"
	  " \"index\" : 0 } ] , \"id\" : null , \"created\" : -0.5e+3 }"
	  " \n\r\t",
	    "y" },
	{ "{\"choices\":[{\"delta\":{\"content\":\"z\"}}]}", "z" },
	{ "{\"created\":0,\"choices\":[{\"delta\":{}}]}", "" },
	{ "{\"created\":1E9,\"choices\":[{\"delta\":{}}]}", "" },
	{ "{\"created\":10.25,\"choices\":[{\"delta\":{}}]}", "" },
};

static const char *const rejected[] = {
	/* Extra keys, at each level. */
	"{" HEAD "\"x\":1,\"choices\":[{\"delta\":{}}]}",
	"{\"choices\":[{\"delta\":{},\"x\":null}]}",
	"{\"choices\":[{\"delta\":{\"x\":null}}]}",
	"{\"error\":null,\"choices\":[{\"delta\":{}}]}",
	CHUNK("\"content\":\"a\",\"tool_calls\":[]"),
	CHUNK("\"reasoning_content\":\"think\""),
	CHUNK("\"reasoning\":\"think\""),
	"{\"choices\":[{\"text\":\"a\",\"delta\":{}}]}",
	/* Duplicate keys. */
	"{\"id\":\"a\",\"id\":\"b\",\"choices\":[{\"delta\":{}}]}",
	"{\"choices\":[{\"delta\":{}}],\"choices\":[{\"delta\":{}}]}",
	"{\"choices\":[{\"index\":0,\"index\":0,\"delta\":{}}]}",
	CHUNK("\"content\":\"a\",\"content\":\"b\""),
	/* Values off the shape. */
	"{\"choices\":[{\"index\":1,\"delta\":{}}]}",
	"{\"choices\":[{\"index\":0.0,\"delta\":{}}]}",
	"{\"choices\":[{\"index\":-0,\"delta\":{}}]}",
	"{\"choices\":[{\"index\":00,\"delta\":{}}]}",
	"{\"choices\":[{\"index\":null,\"delta\":{}}]}",
	"{\"choices\":[{\"delta\":{},\"finish_reason\":\"stop\"}]}",
	"{\"choices\":[{\"delta\":{},\"finish_reason\":\"\"}]}",
	"{\"choices\":[{\"delta\":{},\"logprobs\":{}}]}",
	"{\"usage\":{\"total_tokens\":3},\"choices\":[{\"delta\":{}}]}",
	"{\"choices\":[{\"delta\":{\"refusal\":\"no\"}}]}",
	"{\"choices\":[{\"delta\":{\"content\":1}}]}",
	"{\"choices\":[{\"delta\":{\"content\":true}}]}",
	"{\"choices\":[{\"delta\":null}]}",
	"{\"choices\":[{\"delta\":[]}]}",
	"{\"id\":1,\"choices\":[{\"delta\":{}}]}",
	"{\"created\":\"1\",\"choices\":[{\"delta\":{}}]}",
	"{\"created\":null,\"choices\":[{\"delta\":{}}]}",
	/* Missing or wrongly counted parts. */
	"{}",
	"{\"id\":\"a\"}",
	"{\"choices\":[]}",
	"{\"choices\":[{}]}",
	"{\"choices\":[{\"index\":0}]}",
	"{\"choices\":[{\"delta\":{}},{\"delta\":{}}]}",
	"{\"choices\":{\"delta\":{}}}",
	/* Strings json-c is the reference for. */
	CHUNK("\"content\":\"\\ud83d\\ude00\""),
	CHUNK("\"content\":\"\\udc00\""),
	CHUNK("\"content\":\"a\tb\""),
	CHUNK("\"content\":\"a\nb\""),
	CHUNK("\"content\":\"\x1f\""),
	CHUNK("\"content\":\"\xff\""),
	CHUNK("\"content\":\"\xc3\""),
	CHUNK("\"content\":\"\xc0\xaf\""),
	CHUNK("\"content\":\"\xe0\x80\xaf\""),
	CHUNK("\"content\":\"\xed\xa0\x80\""),
	CHUNK("\"content\":\"\xf4\x90\x80\x80\""),
	CHUNK("\"content\":\"\xf5\x80\x80\x80\""),
	CHUNK("\"content\":\"\x80\""),
	CHUNK("\"content\":\"\\x41\""),
	CHUNK("\"content\":\"\\u00g0\""),
	CHUNK("\"content\":\"\\u00\""),
	CHUNK("\"content\":\"\\'\""),
	"{\"choices\":[{\"delta\":{\"cont\\u0065nt\":\"a\"}}]}",
	"{'choices':[{'delta':{}}]}",
	/* Numbers off the JSON grammar. */
	"{\"created\":0123,\"choices\":[{\"delta\":{}}]}",
	"{\"created\":-,\"choices\":[{\"delta\":{}}]}",
	"{\"created\":1.,\"choices\":[{\"delta\":{}}]}",
	"{\"created\":.5,\"choices\":[{\"delta\":{}}]}",
	"{\"created\":1e,\"choices\":[{\"delta\":{}}]}",
	"{\"created\":1e+,\"choices\":[{\"delta\":{}}]}",
	"{\"created\":+1,\"choices\":[{\"delta\":{}}]}",
	"{\"created\":0x10,\"choices\":[{\"delta\":{}}]}",
	"{\"created\":NaN,\"choices\":[{\"delta\":{}}]}",
	"{\"created\":Infinity,\"choices\":[{\"delta\":{}}]}",
	/* Literals. */
	"{\"usage\":nul,\"choices\":[{\"delta\":{}}]}",
	"{\"usage\":nullx,\"choices\":[{\"delta\":{}}]}",
	"{\"usage\":NULL,\"choices\":[{\"delta\":{}}]}",
	/* Framing. */
	CHUNK("\"content\":\"a\"") "x",
	CHUNK("\"content\":\"a\"") CHUNK("\"content\":\"b\""),
	CHUNK("\"content\":\"a\"") ",",
	"{\"choices\":[{\"delta\":{}}],}",
	"{\"choices\":[{\"delta\":{},}]}",
	"{,\"choices\":[{\"delta\":{}}]}",
	"{\"choices\" [{\"delta\":{}}]}",
	"{\"choices\":[{\"delta\":{}}]",
	"{\"choices\":[{\"delta\":{\"content\":\"abc",
	"{\"choices\":[{\"delta\":{\"content\":\"abc\\",
	"{\"choices\":[{\"delta\":{\"content\":\"abc\\u00",
	"{\"choices\":[{\"delta\":{\"cont",
	"{\"choices\":[{\"delta\":{}}]}\f",
	"\f{\"choices\":[{\"delta\":{}}]}",
	"",
	" ",
	"[DONE]",
	"[]",
	"\"content\"",
	"null",
	"{",
};

static void
test_accepted(void **state)
{
	struct cs_buf b;
	size_t i;

	(void)state;
	cs_buf_init(&b, 1024);
	for (i = 0; i < sizeof(accepted) / sizeof(accepted[0]); i++) {
		if (cs_openai_fast_delta(
		        accepted[i].json, strlen(accepted[i].json), &b) != 1)
			fail_msg("not accepted: %s", accepted[i].json);
		assert_int_equal(b.len, strlen(accepted[i].content));
		assert_memory_equal(
		    b.len ? b.data : "", accepted[i].content, b.len);
	}
	cs_buf_free(&b);
}

static void
test_rejected(void **state)
{
	struct cs_buf b;
	size_t i;

	(void)state;
	cs_buf_init(&b, 1024);
	for (i = 0; i < sizeof(rejected) / sizeof(rejected[0]); i++)
		if (cs_openai_fast_delta(
		        rejected[i], strlen(rejected[i]), &b) != 0)
			fail_msg("accepted: %s", rejected[i]);
	cs_buf_free(&b);
}

/* NUL bytes count by length: inside a string they are controls, outside
 * they are not whitespace. */
static void
test_nul_bytes(void **state)
{
	static const char in_str[] = CHUNK("\"content\":\"a\0b\"");
	static const char after[] = CHUNK("\"content\":\"a\"") "\0";
	static const char escaped[] = CHUNK("\"content\":\"a\\u0000b\"");
	struct cs_buf b;

	(void)state;
	cs_buf_init(&b, 1024);
	assert_int_equal(
	    cs_openai_fast_delta(in_str, sizeof(in_str) - 1, &b), 0);
	assert_int_equal(cs_openai_fast_delta(after, sizeof(after) - 1, &b), 0);
	assert_int_equal(
	    cs_openai_fast_delta(escaped, sizeof(escaped) - 1, &b), 1);
	assert_int_equal(b.len, 3);
	assert_memory_equal(b.data, "a\0b", 3);
	/* The length bounds the read: a prefix is a truncated chunk. */
	assert_int_equal(
	    cs_openai_fast_delta(escaped, sizeof(escaped) - 2, &b), 0);
	cs_buf_free(&b);
}

/* The buffer's limit: content that fits is taken, one byte more is "not
 * sure", and the buffer is reset on every call. */
static void
test_limit(void **state)
{
	static const char *const json = CHUNK("\"content\":\"abc\\u00e9\"");
	struct cs_buf b;

	(void)state;
	cs_buf_init(&b, 5);
	assert_int_equal(cs_openai_fast_delta(json, strlen(json), &b), 1);
	assert_int_equal(b.len, 5);
	assert_int_equal(cs_openai_fast_delta(json, strlen(json), &b), 1);
	assert_int_equal(b.len, 5);
	cs_buf_free(&b);
	cs_buf_init(&b, 4);
	assert_int_equal(cs_openai_fast_delta(json, strlen(json), &b), 0);
	cs_buf_free(&b);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_accepted),
		cmocka_unit_test(test_rejected),
		cmocka_unit_test(test_nul_bytes),
		cmocka_unit_test(test_limit),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
