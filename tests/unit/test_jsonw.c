/*
 * test_jsonw.c — the JSON writer: escaping of every byte value,
 * UTF-8 (U+2028/U+2029 too) passed through, commas and nesting, numbers,
 * framing bytes that leave the JSON alone, and the sticky error (a full
 * buffer, a nesting too deep, a misuse) that cuts the buffer back.
 */
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "buf.h"
#include "jsonw.h"
#include "testutil.h"

/* The expected escape of byte c inside a JSON string, by the rule the
 * writer documents (jsonw.h), written out independently of buf.c. */
static void
want_escape(unsigned char c, char *want, size_t n)
{
	if (c == '"')
		snprintf(want, n, "\\\"");
	else if (c == '\\')
		snprintf(want, n, "\\\\");
	else if (c == '\n')
		snprintf(want, n, "\\n");
	else if (c == '\r')
		snprintf(want, n, "\\r");
	else if (c == '\t')
		snprintf(want, n, "\\t");
	else if (c < 0x20 || c == 0x7f)
		snprintf(want, n, "\\u%04x", c);
	else
		snprintf(want, n, "%c", c);
}

static void
test_every_byte(void **state)
{
	struct cs_jsonw w;
	struct cs_buf b;
	char in, want[16], quoted[24];
	unsigned c;

	(void)state;
	for (c = 0; c < 0x100; c++) {
		cs_buf_init(&b, 64);
		cs_jsonw_init(&w, &b);
		in = (char)c;
		cs_jsonw_strn(&w, &in, 1);
		assert_int_equal(cs_jsonw_end(&w), CS_OK);
		want_escape((unsigned char)c, want, sizeof(want));
		snprintf(quoted, sizeof(quoted), "\"%s\"", want);
		assert_int_equal(b.len, strlen(quoted));
		assert_memory_equal(b.data, quoted, b.len);
		cs_buf_free(&b);
	}
}

static void
test_utf8_passes_through(void **state)
{
	/* é, U+2028, U+2029, an emoji, '/', and bytes that are not UTF-8:
	 * the writer escapes ASCII controls only, it does not validate. */
	static const char s[] = "\xc3\xa9 \xe2\x80\xa8\xe2\x80\xa9 "
	                        "\xf0\x9f\x98\x80 </script> \x80\xff";
	struct cs_jsonw w;
	struct cs_buf b;

	(void)state;
	cs_buf_init(&b, 256);
	cs_jsonw_init(&w, &b);
	cs_jsonw_str(&w, s);
	assert_int_equal(cs_jsonw_end(&w), CS_OK);
	assert_int_equal(b.len, sizeof(s) - 1 + 2);
	assert_memory_equal(b.data + 1, s, sizeof(s) - 1);
	cs_buf_free(&b);
}

static void
test_nesting_and_commas(void **state)
{
	struct cs_jsonw w;
	struct cs_buf b;

	(void)state;
	cs_buf_init(&b, 1024);
	cs_jsonw_init(&w, &b);
	cs_jsonw_obj(&w);
	cs_jsonw_kint(&w, "a", 1);
	cs_jsonw_key(&w, "b");
	cs_jsonw_arr(&w);
	cs_jsonw_int(&w, 1);
	cs_jsonw_int(&w, 2);
	cs_jsonw_obj(&w);
	cs_jsonw_key(&w, "c");
	cs_jsonw_null(&w);
	cs_jsonw_obj_end(&w);
	cs_jsonw_arr(&w);
	cs_jsonw_arr_end(&w);
	cs_jsonw_arr(&w);
	cs_jsonw_arr(&w);
	cs_jsonw_str(&w, NULL);
	cs_jsonw_arr_end(&w);
	cs_jsonw_arr_end(&w);
	cs_jsonw_arr_end(&w);
	cs_jsonw_key(&w, "d");
	cs_jsonw_obj(&w);
	cs_jsonw_obj_end(&w);
	cs_jsonw_key(&w, "t");
	cs_jsonw_bool(&w, 1);
	cs_jsonw_key(&w, "f");
	cs_jsonw_bool(&w, 0);
	cs_jsonw_kstr(&w, "s", "x\"y");
	cs_jsonw_key(&w, "r");
	cs_jsonw_raw(&w, "{\"k\":[1,2]}", 11);
	cs_jsonw_key(&w, "q");
	cs_jsonw_strn(&w, "a\0b", 3);
	cs_jsonw_obj_end(&w);
	assert_int_equal(cs_jsonw_end(&w), CS_OK);
	assert_string_equal(b.data,
	    "{\"a\":1,\"b\":[1,2,{\"c\":null},[],"
	    "[[\"\"]]],\"d\":{},\"t\":true,\"f\":false,\"s\":\"x\\\"y\","
	    "\"r\":{\"k\":[1,2]},\"q\":\"a\\u0000b\"}");
	cs_buf_free(&b);
}

/* Framing bytes go between values without commas; top-level values
 * never get one. */
static void
test_framing(void **state)
{
	struct cs_jsonw w;
	struct cs_buf b;
	int i;

	(void)state;
	cs_buf_init(&b, 1024);
	assert_int_equal(cs_buf_puts(&b, ": before\n"), CS_OK);
	cs_jsonw_init(&w, &b);
	for (i = 0; i < 2; i++) {
		cs_jsonw_puts(&w, "data: ");
		cs_jsonw_obj(&w);
		cs_jsonw_kint(&w, "n", i);
		cs_jsonw_puts(&w, "");
		cs_jsonw_kint(&w, "m", -i);
		cs_jsonw_obj_end(&w);
		cs_jsonw_put(&w, "\n\n", 2);
	}
	cs_jsonw_int(&w, 7);
	cs_jsonw_str(&w, "z");
	assert_int_equal(cs_jsonw_end(&w), CS_OK);
	assert_string_equal(b.data,
	    ": before\ndata: {\"n\":0,\"m\":0}\n\n"
	    "data: {\"n\":1,\"m\":-1}\n\n7\"z\"");
	cs_buf_free(&b);
}

static void
test_integers(void **state)
{
	static const struct {
		long long v;
		const char *want;
	} cases[] = {
		{ 0, "0" },
		{ 9, "9" },
		{ 10, "10" },
		{ -1, "-1" },
		{ 1767225600, "1767225600" },
		{ LLONG_MAX, "9223372036854775807" },
		{ LLONG_MIN, "-9223372036854775808" },
	};
	struct cs_jsonw w;
	struct cs_buf b;
	size_t i;

	(void)state;
	for (i = 0; i < CS_ARRAY_LEN(cases); i++) {
		cs_buf_init(&b, 64);
		cs_jsonw_init(&w, &b);
		cs_jsonw_int(&w, cases[i].v);
		assert_int_equal(cs_jsonw_end(&w), CS_OK);
		assert_string_equal(b.data, cases[i].want);
		cs_buf_free(&b);
	}
}

/* The buffer's cap: the first failure sticks, nothing after it is
 * written (not even what would fit), and end cuts back to the start. */
static void
test_sticky_error_at_the_cap(void **state)
{
	struct cs_jsonw w;
	struct cs_buf b;
	size_t max;

	(void)state;
	for (max = 5; max < 40; max++) {
		cs_buf_init(&b, max);
		assert_int_equal(cs_buf_puts(&b, "keep"), CS_OK);
		cs_jsonw_init(&w, &b);
		cs_jsonw_obj(&w);
		cs_jsonw_kstr(&w, "text", "0123456789abcdefghij\n");
		cs_jsonw_obj_end(&w);
		if (w.err == CS_OK) { /* keep{"text":"...\n"} fitted */
			assert_int_equal(max, 37);
			assert_int_equal(cs_jsonw_end(&w), CS_OK);
			assert_int_equal(b.len, 37);
			cs_buf_free(&b);
			break;
		}
		assert_int_equal(w.err, CS_ETOOBIG);
		cs_jsonw_puts(&w, "x"); /* would fit: still nothing */
		cs_jsonw_int(&w, 1);
		assert_int_equal(cs_jsonw_end(&w), CS_ETOOBIG);
		assert_string_equal(b.data, "keep");
		assert_int_equal(cs_jsonw_end(&w), CS_ETOOBIG);
		cs_buf_free(&b);
	}
	assert_int_equal(max, 37);
	cs_buf_init(&b, 32); /* exactly at the cap: fine */
	cs_jsonw_init(&w, &b);
	cs_jsonw_puts(&w, "0123456789012345678901234567890");
	cs_jsonw_str(&w, NULL);
	assert_int_equal(cs_jsonw_end(&w), CS_ETOOBIG);
	assert_int_equal(b.len, 0);
	cs_jsonw_init(&w, &b);
	cs_jsonw_puts(&w, "012345678901234567890123456789");
	cs_jsonw_str(&w, NULL);
	assert_int_equal(cs_jsonw_end(&w), CS_OK);
	assert_int_equal(b.len, 32);
	cs_buf_free(&b);
}

static void
test_nesting_overflow(void **state)
{
	struct cs_jsonw w;
	struct cs_buf b;
	int i;

	(void)state;
	cs_buf_init(&b, 1024);
	cs_jsonw_init(&w, &b);
	for (i = 0; i < CS_JSONW_DEPTH; i++)
		cs_jsonw_arr(&w);
	for (i = 0; i < CS_JSONW_DEPTH; i++)
		cs_jsonw_arr_end(&w);
	assert_int_equal(cs_jsonw_end(&w), CS_OK);
	assert_int_equal(b.len, 2 * CS_JSONW_DEPTH);
	cs_buf_reset(&b);
	cs_jsonw_init(&w, &b);
	for (i = 0; i <= CS_JSONW_DEPTH; i++)
		cs_jsonw_arr(&w);
	assert_int_equal(w.err, CS_ETOOBIG);
	for (i = 0; i <= CS_JSONW_DEPTH; i++)
		cs_jsonw_arr_end(&w);
	assert_int_equal(cs_jsonw_end(&w), CS_ETOOBIG);
	assert_int_equal(b.len, 0);
	cs_buf_free(&b);
}

/* Unbalanced or misplaced calls are errors too, and cut back. */
static void
test_misuse(void **state)
{
	struct cs_jsonw w;
	struct cs_buf b;
	int i;

	(void)state;
	cs_buf_init(&b, 1024);
	for (i = 0; i < 6; i++) {
		cs_jsonw_init(&w, &b);
		switch (i) {
		case 0: /* still open */ cs_jsonw_obj(&w); break;
		case 1: /* nothing open */ cs_jsonw_obj_end(&w); break;
		case 2: /* the wrong close */
			cs_jsonw_arr(&w);
			cs_jsonw_obj_end(&w);
			break;
		case 3: /* a key in an array */
			cs_jsonw_arr(&w);
			cs_jsonw_key(&w, "k");
			break;
		case 4: /* a key without its value */
			cs_jsonw_obj(&w);
			cs_jsonw_key(&w, "k");
			cs_jsonw_obj_end(&w);
			break;
		case 5: /* a key at the top */ cs_jsonw_key(&w, "k"); break;
		}
		assert_int_equal(cs_jsonw_end(&w), CS_EBADINPUT);
		assert_int_equal(b.len, 0);
	}
	cs_buf_free(&b);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_every_byte),
		cmocka_unit_test(test_utf8_passes_through),
		cmocka_unit_test(test_nesting_and_commas),
		cmocka_unit_test(test_framing),
		cmocka_unit_test(test_integers),
		cmocka_unit_test(test_sticky_error_at_the_cap),
		cmocka_unit_test(test_nesting_overflow),
		cmocka_unit_test(test_misuse),
	};

	return cmocka_run_group_tests_name("jsonw", tests, NULL, NULL);
}
