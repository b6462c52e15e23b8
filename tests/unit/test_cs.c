/*
 * test_cs.c — the one decimal parser: digits only, never an overflow
 * (values past the cap come back as the cap), nothing else accepted.
 */
#include <limits.h>
#include <string.h>

#include "cs.h"
#include "testutil.h"

static void
test_parse_dec(void **state)
{
	static const struct {
		const char *s;
		unsigned long long cap, want;
		int rc;
	} cases[] = {
		{ "0", 10, 0, 0 },
		{ "7", 10, 7, 0 },
		{ "10", 10, 10, 0 },
		{ "11", 10, 10, 0 },   /* past the cap: the cap */
		{ "0008", 100, 8, 0 }, /* decimal, not octal */
		{ "18446744073709551615", ULLONG_MAX, ULLONG_MAX, 0 },
		{ "99999999999999999999999", ULLONG_MAX, ULLONG_MAX, 0 },
		{ "123456789012", 1000000, 1000000, 0 },
		{ "", 10, 0, -1 },
		{ "-1", 10, 0, -1 },
		{ "+1", 10, 0, -1 },
		{ " 1", 10, 0, -1 },
		{ "1 ", 10, 0, -1 },
		{ "0x10", 100, 0, -1 },
		{ "1.5", 10, 0, -1 },
	};
	unsigned long long v;
	size_t i;

	(void)state;
	for (i = 0; i < CS_ARRAY_LEN(cases); i++) {
		v = 12345;
		if (cs_parse_dec(cases[i].s, strlen(cases[i].s), cases[i].cap,
		        &v) != cases[i].rc)
			fail_msg("\"%s\": want rc %d", cases[i].s, cases[i].rc);
		if (cases[i].rc == 0 && v != cases[i].want)
			fail_msg("\"%s\": got %llu, want %llu", cases[i].s, v,
			    cases[i].want);
	}
	/* Only the n bytes given count. */
	assert_int_equal(cs_parse_dec("12x", 2, 100, &v), 0);
	assert_int_equal(v, 12);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_dec),
	};

	return cmocka_run_group_tests_name("cs", tests, NULL, NULL);
}
