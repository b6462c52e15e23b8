/*
 * test_json_strict.c — the one reader of client JSON (json_strict.h):
 * what the pre-scan refuses and at which byte (NUL, invalid UTF-8, raw
 * control characters, NaN, "1.", single quotes, a byte order mark), the
 * depth limit, data after the object, and what json-c's one flag set
 * makes of what passes (a repeated key keeps its last value, numbers).
 * Inputs are copied into exact-size heap buffers, without a NUL after
 * them, so ASan catches any read past len.
 */
#include <string.h>

#include <json-c/json.h>

#include "json_strict.h"
#include "testutil.h"

struct jcase {
	const char *in;
	size_t len;       /* 0 = strlen(in) */
	const char *want; /* NULL = accepted, else the whole message */
};

static const struct jcase CASES[] = {
	{ "{}", 0, NULL },
	{ " \t\r\n{\"a\":[1,\"x\",true,false,null,{}]} \n", 0, NULL },
	{ "{\"a\":\"\xc3\xa9\xf0\x9f\x99\x82\"}", 0, NULL },
	{ "{\"a\":\"\\u00e9\\ud83d\\ude42\\n\\\"\"}", 0, NULL },
	/* What json-c 0.16 lets through even in strict mode. */
	{ "{\"a\":\"x\ty\"}", 0,
	    "invalid JSON at byte 7: unescaped control "
	    "character 0x09 in a string" },
	{ "{\"a\":\"\\u0000\"}", 0,
	    "invalid JSON at byte 6: \\u0000 (NUL) "
	    "is not allowed in strings" },
	{ "{\"a\\u0000b\":1}", 0,
	    "invalid JSON at byte 3: \\u0000 (NUL) is "
	    "not allowed in strings" },
	{ "{\"a\":NaN}", 0,
	    "invalid JSON at byte 5: unexpected character "
	    "'N'" },
	{ "{\"a\":-Infinity}", 0,
	    "invalid JSON at byte 6: unexpected "
	    "character 'I'" },
	{ "{\"a\":1.}", 0,
	    "invalid JSON at byte 6: unexpected character "
	    "'.'" },
	{ "{'a':1}", 0, "invalid JSON at byte 1: unexpected character '''" },
	{ "\xef\xbb\xbf{}", 0,
	    "body: starts with a byte order mark (not "
	    "allowed)" },
	/* NUL bytes, inside and outside strings. */
	{ "{\"a\":\"x\0\"}", 10,
	    "invalid JSON at byte 7: unescaped control "
	    "character 0x00 in a string" },
	{ "{}\0", 3, "invalid JSON at byte 2: unexpected byte 0x00" },
	{ "\0{}", 3, "invalid JSON at byte 0: unexpected byte 0x00" },
	/* Invalid UTF-8, at its first byte, in and out of strings. */
	{ "{\"a\":\"\xff\"}", 0, "body: invalid UTF-8 at byte 6" },
	{ "{\"a\":\"ok\xc3\"}", 0, "body: invalid UTF-8 at byte 8" },
	{ "{\"a\":\"\xc0\xaf\"}", 0, "body: invalid UTF-8 at byte 6" },
	{ "{\"a\":\"\xed\xa0\x80\"}", 0, "body: invalid UTF-8 at byte 6" },
	{ "{\"a\":\"\xf4\x90\x80\x80\"}", 0,
	    "body: invalid UTF-8 at "
	    "byte 6" },
	{ "{\"\xc3\xa9\":1,\"b\":\"\xe2\x82\"}", 0,
	    "body: invalid UTF-8 at "
	    "byte 13" },
	{ "{\"a\":1}\xc3\xa9", 0,
	    "invalid JSON at byte 7: unexpected byte "
	    "0xc3" },
	/* Shape. */
	{ "", 0, "body: empty (expected a JSON object)" },
	{ " \n", 0, "body: empty (expected a JSON object)" },
	{ "[]", 0, "body: must be a JSON object" },
	{ "\"x\"", 0, "body: must be a JSON object" },
	{ "1", 0, "body: must be a JSON object" },
	{ "{", 0, "invalid JSON at byte 1: unexpected end of input" },
	{ "{\"a\":\"b", 0, "invalid JSON at byte 7: unexpected end of input" },
	{ "{\"a\":1,}", 0, "invalid JSON at byte 7: unexpected character" },
	{ "{\"a\":01}", 0, "invalid JSON at byte 7: number expected" },
	{ "{\"a\":tru}", 0, "invalid JSON at byte 8: boolean expected" },
	/* Exactly one object: only whitespace may follow it. */
	{ "{\"a\":[1,2]} x", 0,
	    "invalid JSON at byte 12: unexpected "
	    "character 'x'" },
	{ "{\"a\":1}{}", 0, "invalid JSON at byte 7: unexpected character" },
	{ "{\"a\":1} 2", 0, "invalid JSON at byte 8: unexpected character" },
};

/* Parse a copy of exactly len bytes; returns the result, *out, msg. */
static enum cs_err
parse_exact(const char *in, size_t len, struct json_object **out, char *msg,
    size_t size)
{
	char *copy = malloc(len > 0 ? len : 1);
	enum cs_err r;

	assert_non_null(copy);
	if (len > 0)
		memcpy(copy, in, len);
	r = cs_json_strict_parse(copy, len, out, msg, size);
	free(copy);
	return r;
}

static void
test_cases(void **state)
{
	struct json_object *o;
	char msg[256];
	size_t i, len;
	enum cs_err r;

	(void)state;
	for (i = 0; i < CS_ARRAY_LEN(CASES); i++) {
		len = CASES[i].len ? CASES[i].len : strlen(CASES[i].in);
		msg[0] = '\0';
		o = (struct json_object *)1;
		r = parse_exact(CASES[i].in, len, &o, msg, sizeof(msg));
		if (CASES[i].want == NULL) {
			if (r != CS_OK)
				fail_msg("case %zu refused: %s", i, msg);
			assert_true(json_object_is_type(o, json_type_object));
			json_object_put(o);
			continue;
		}
		assert_null(o);
		if (r != CS_EBADINPUT || strcmp(msg, CASES[i].want) != 0)
			fail_msg("case %zu: %d \"%s\", want \"%s\"", i, r, msg,
			    CASES[i].want);
	}
}

/* "{"a":" n times, 1, "}" n times. */
static char *
nested(int n, size_t *len)
{
	char *s = malloc((size_t)n * 6 + 2);
	size_t k = 0;
	int i;

	assert_non_null(s);
	for (i = 0; i < n; i++) {
		memcpy(s + k, "{\"a\":", 5);
		k += 5;
	}
	s[k++] = '1';
	for (i = 0; i < n; i++)
		s[k++] = '}';
	s[k] = '\0';
	*len = k;
	return s;
}

static void
test_depth(void **state)
{
	struct json_object *o;
	char msg[256], *s;
	size_t len;

	(void)state;
	s = nested(CS_JSON_MAX_DEPTH - 1, &len);
	assert_int_equal(parse_exact(s, len, &o, msg, sizeof(msg)), CS_OK);
	json_object_put(o);
	free(s);

	s = nested(CS_JSON_MAX_DEPTH, &len);
	assert_int_equal(
	    parse_exact(s, len, &o, msg, sizeof(msg)), CS_EBADINPUT);
	assert_null(o);
	assert_string_equal(msg,
	    "invalid JSON at byte 160: nested deeper "
	    "than 32 levels");
	free(s);

	/* Arrays count as objects do. */
	s = malloc(CS_JSON_MAX_DEPTH + 8);
	assert_non_null(s);
	memset(s, '[', CS_JSON_MAX_DEPTH + 8);
	s[0] = '{';
	s[1] = '"';
	s[2] = '"';
	s[3] = ':';
	assert_int_equal(
	    parse_exact(s, CS_JSON_MAX_DEPTH + 8, &o, msg, sizeof(msg)),
	    CS_EBADINPUT);
	assert_non_null(strstr(msg, "nested deeper than 32 levels"));
	free(s);
}

/* The one flag set: what json-c makes of what passes the pre-scan. */
static void
test_values(void **state)
{
	static const char in[] =
	    "{\"k\":1,\"k\":2,\"big\":99999999999999999999,"
	    "\"neg\":-99999999999999999999,\"d\":1.5e-3,\"z\":-0,"
	    "\"inf\":1e400,\"e\":1E5,\"s\":\"\\ud800\"}";
	struct json_object *o, *v;
	char msg[256];

	(void)state;
	assert_int_equal(
	    parse_exact(in, sizeof(in) - 1, &o, msg, sizeof(msg)), CS_OK);
	/* A repeated key keeps its last value, and is there once. */
	assert_true(json_object_object_get_ex(o, "k", &v));
	assert_int_equal(json_object_get_int64(v), 2);
	assert_int_equal(json_object_object_length(o), 8);
	/* Integers past int64 saturate (the parsers range-check them). */
	json_object_object_get_ex(o, "big", &v);
	assert_true(json_object_is_type(v, json_type_int));
	assert_true(json_object_get_int64(v) == INT64_MAX);
	json_object_object_get_ex(o, "neg", &v);
	assert_true(json_object_get_int64(v) == INT64_MIN);
	json_object_object_get_ex(o, "d", &v);
	assert_true(json_object_is_type(v, json_type_double));
	assert_true(json_object_get_double(v) == 1.5e-3);
	json_object_object_get_ex(o, "z", &v);
	assert_true(json_object_is_type(v, json_type_int));
	assert_int_equal(json_object_get_int64(v), 0);
	/* Out of double range: infinite (the parsers check isfinite). */
	json_object_object_get_ex(o, "inf", &v);
	assert_true(json_object_is_type(v, json_type_double));
	assert_true(json_object_get_double(v) > 1e308);
	json_object_object_get_ex(o, "e", &v);
	assert_true(json_object_get_double(v) == 1e5);
	/* A lone surrogate escape becomes U+FFFD. */
	json_object_object_get_ex(o, "s", &v);
	assert_string_equal(json_object_get_string(v), "\xef\xbf\xbd");
	json_object_put(o);
}

/* No message wanted, a small one, and the entry point without one. */
static void
test_msg_and_object(void **state)
{
	struct json_object *o;
	char small[12];

	(void)state;
	assert_int_equal(
	    cs_json_strict_parse("[", 1, &o, NULL, 0), CS_EBADINPUT);
	assert_null(o);
	memset(small, 'x', sizeof(small));
	assert_int_equal(
	    cs_json_strict_parse("{\"a\":NaN}", 9, &o, small, sizeof(small)),
	    CS_EBADINPUT);
	assert_string_equal(small, "invalid JSO");

	assert_null(cs_json_strict_object("{\"a\":1} x", 9));
	assert_null(cs_json_strict_object("[1]", 3));
	assert_null(cs_json_strict_object("", 0));
	assert_null(cs_json_strict_object("{\"a\":\"\t\"}", 9));
	/* Tool call arguments: a range of a larger buffer. */
	o = cs_json_strict_object("{\"city\":\"Paris\"}trailing", 16);
	assert_non_null(o);
	assert_int_equal(json_object_object_length(o), 1);
	json_object_put(o);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cases),
		cmocka_unit_test(test_depth),
		cmocka_unit_test(test_values),
		cmocka_unit_test(test_msg_and_object),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
