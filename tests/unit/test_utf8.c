/*
 * test_utf8.c — provider text passed on as valid UTF-8: each maximal
 * invalid subsequence becomes one U+FFFD (Unicode 15 §3.9 "U+FFFD
 * Substitution of Maximal Subparts", the WHATWG decoder's behaviour):
 * truncated sequences, overlongs, surrogates, code points past U+10FFFF,
 * bytes 0xF5..0xFF, lone continuation bytes.
 */
#include <string.h>

#include "buf.h"
#include "testutil.h"
#include "utf8.h"

#define R "\xef\xbf\xbd"

struct ucase {
	const char *in;
	size_t len; /* 0 = strlen(in) */
	const char *want;
};

static const struct ucase CASES[] = {
	{ "", 0, "" },
	{ "plain ascii", 0, "plain ascii" },
	{ "\xc3\xa9\xe6\x97\xa5\xf0\x9f\x99\x82\xf4\x8f\xbf\xbf", 0,
	    "\xc3\xa9\xe6\x97\xa5\xf0\x9f\x99\x82\xf4\x8f\xbf\xbf" },
	{ "nul\0in", 6, "nul\0in" },
	{ "a\xff"
	  "b",
	    0, "a" R "b" },
	{ "\x80\xbf", 0, R R }, /* lone continuations */
	{ "\xc0\xaf", 0, R R }, /* overlong '/' */
	{ "\xc1\xbf", 0, R R },
	{ "\xe0\x80\xaf", 0, R R R }, /* overlong, 3 bytes */
	{ "\xe0\x9f\xbf", 0, R R R },
	{ "\xf0\x8f\xbf\xbf", 0, R R R R },    /* overlong, 4 bytes */
	{ "\xed\xa0\x80", 0, R R R },          /* U+D800 */
	{ "\xed\xbf\xbf", 0, R R R },          /* U+DFFF */
	{ "\xed\x9f\xbf", 0, "\xed\x9f\xbf" }, /* U+D7FF is fine */
	{ "\xf4\x90\x80\x80", 0, R R R R },    /* U+110000 */
	{ "\xf5\x80\x80\x80", 0, R R R R },
	{ "\xf8\x88\x80\x80\x80", 0, R R R R R },
	{ "\xfe\xff", 0, R R },
	/* truncated sequences: one U+FFFD for the maximal subpart */
	{ "\xe6\x97", 0, R },
	{ "x\xe6\x97y", 0, "x" R "y" },
	{ "\xf0\x9f\x99", 0, R },
	{ "\xf0\x9f\x99"
	  "a",
	    0, R "a" },
	{ "\xc3", 0, R },
	{ "\xe6\x97\xe6\x97\xa5", 0, R "\xe6\x97\xa5" },
	{ "\xf0\x9f\xc3\xa9", 0, R "\xc3\xa9" },
	/* The Unicode standard's own example (Table 3-8). */
	{ "\x61\xf1\x80\x80\xe1\x80\xc2\x62\x80\x63\x80\xbf\x64", 0,
	    "a" R R R "b" R "c" R R "d" },
};

static void
test_table(void **state)
{
	struct cs_buf out;
	size_t i, n, wn;

	(void)state;
	for (i = 0; i < CS_ARRAY_LEN(CASES); i++) {
		n = CASES[i].len ? CASES[i].len : strlen(CASES[i].in);
		wn = CASES[i].len ? CASES[i].len : strlen(CASES[i].want);
		cs_buf_init(&out, 1024);
		assert_int_equal(cs_utf8_sanitize(CASES[i].in, n, &out), CS_OK);
		if (out.len != wn || memcmp(out.data, CASES[i].want, wn) != 0)
			fail_msg("case %zu: got %zu bytes \"%s\"", i, out.len,
			    out.data);
		/* The result is valid; valid input is reported whole. */
		assert_int_equal(cs_utf8_valid_len(out.data, out.len), out.len);
		assert_int_equal(cs_utf8_valid_len(CASES[i].in, n) == n,
		    wn == n && memcmp(CASES[i].in, CASES[i].want, n) == 0);
		cs_buf_free(&out);
	}
}

/* One well-formed sequence, or 0; and a cut that never splits one. */
static void
test_seq_and_cut(void **state)
{
	static const char s[] = "a\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80z";
	const unsigned char *p = (const unsigned char *)s;

	(void)state;
	assert_int_equal(cs_utf8_seq(p, 1), 1);     /* a */
	assert_int_equal(cs_utf8_seq(p + 1, 2), 2); /* e acute */
	assert_int_equal(cs_utf8_seq(p + 1, 1), 0); /* cut short */
	assert_int_equal(cs_utf8_seq(p + 3, 3), 3); /* euro */
	assert_int_equal(cs_utf8_seq(p + 6, 4), 4); /* emoji */
	assert_int_equal(cs_utf8_seq(p + 2, 1), 0); /* continuation */
	assert_int_equal(cs_utf8_seq((const unsigned char *)"\xc0\x80", 2),
	    0); /* overlong */
	assert_int_equal(cs_utf8_seq((const unsigned char *)"\xed\xa0\x80", 3),
	    0); /* surrogate */
	/* Keeping n bytes: never the start of a sequence without its end. */
	assert_int_equal(cs_utf8_cut(s, 1), 1);
	assert_int_equal(cs_utf8_cut(s, 2), 1);
	assert_int_equal(cs_utf8_cut(s, 3), 3);
	assert_int_equal(cs_utf8_cut(s, 5), 3);
	assert_int_equal(cs_utf8_cut(s, 8), 6);
	assert_int_equal(cs_utf8_cut(s, 10), 10);
	assert_int_equal(cs_utf8_valid_len(s, 10), 10);
	assert_int_equal(cs_utf8_valid_len(s, 8), 6);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_table),
		cmocka_unit_test(test_seq_and_cut),
	};

	return cmocka_run_group_tests_name("utf8", tests, NULL, NULL);
}
