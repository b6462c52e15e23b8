/*
 * test_query.c — strict query-string decoding for GET /api/chat: escapes,
 * '+', bad escapes anywhere, absent and empty values, the buffer limit, and
 * the key check (unknown, repeated, malformed); path pieces ('+' kept).
 */
#include <string.h>

#include "buf.h"
#include "query.h"
#include "testutil.h"

/* cs_query_get(qs, key) with a limit of max bytes: rc and value. */
static void
get_expect(const char *qs, const char *key, size_t max, int want_rc,
    const char *want)
{
	struct cs_buf b;
	int rc;

	cs_buf_init(&b, max);
	rc = cs_query_get(qs, key, &b);
	if (rc != want_rc)
		fail_msg("\"%s\" [%s]: rc %d, want %d", qs ? qs : "(null)", key,
		    rc, want_rc);
	if (want != NULL && (b.len != strlen(want) ||
	    (b.len > 0 && memcmp(b.data, want, b.len) != 0)))
		fail_msg("\"%s\" [%s]: got \"%.*s\", want \"%s\"", qs, key,
		    (int)b.len, b.data ? b.data : "", want);
	cs_buf_free(&b);
}

static void
test_get(void **state)
{
	(void)state;
	get_expect("prompt=hello+world&model=m1", "prompt", 100, 1,
	    "hello world");
	get_expect("prompt=hello+world&model=m1", "model", 100, 1, "m1");
	get_expect("prompt=%C3%A9t%c3%a9%20%2B1%26", "prompt", 100, 1,
	    "\xc3\xa9t\xc3\xa9 +1&");
	get_expect("prompt=", "prompt", 100, 1, "");
	get_expect("prompt", "prompt", 100, 1, "");
	get_expect("&&prompt=a&&", "prompt", 100, 1, "a");
	get_expect("model=m1", "prompt", 100, 0, "");
	get_expect("", "prompt", 100, 0, "");
	get_expect(NULL, "prompt", 100, 0, "");
	get_expect("pr%6Fmpt=x", "prompt", 100, 1, "x");   /* escaped key */
	get_expect("prompt=a=b", "prompt", 100, 1, "a=b");
	get_expect("prompt=first&prompt=second", "prompt", 100, 1, "first");
	/* A bad escape in the value or in any key before it. */
	get_expect("prompt=%zz", "prompt", 100, -1, NULL);
	get_expect("prompt=%4", "prompt", 100, -1, NULL);
	get_expect("prompt=abc%", "prompt", 100, -1, NULL);
	get_expect("x%g1=1&prompt=a", "prompt", 100, -1, NULL);
	/* The limit: exactly max bytes fit, one more does not. */
	get_expect("prompt=abcd", "prompt", 4, 1, "abcd");
	get_expect("prompt=abcde", "prompt", 4, -2, NULL);
	get_expect("prompt=%41%41%41%41%41", "prompt", 4, -2, NULL);
}

static void
check_keys(const char *qs, int want_rc, const char *want_bad)
{
	static const char *const allowed[] = { "prompt", "model", "format" };
	char bad[80] = "";
	int rc;

	rc = cs_query_check_keys(qs, allowed, CS_ARRAY_LEN(allowed), bad,
	    sizeof(bad));
	if (rc != want_rc)
		fail_msg("\"%s\": rc %d, want %d", qs ? qs : "(null)", rc,
		    want_rc);
	if (want_bad != NULL && strcmp(bad, want_bad) != 0)
		fail_msg("\"%s\": bad \"%s\", want \"%s\"", qs, bad, want_bad);
}

static void
test_keys(void **state)
{
	(void)state;
	check_keys(NULL, 0, NULL);
	check_keys("", 0, NULL);
	check_keys("prompt=a&model=b&format=text", 0, NULL);
	check_keys("prompt=a&colour=red", -1, "colour");
	check_keys("prompt=a&prompt=b", -1, "prompt");
	check_keys("prompt=a&pr%6Fmpt=b", -1, "prompt");
	check_keys("prompt=a&x%zz=1", -1, NULL);
	check_keys("=a", -1, "");
}

/* cs_path_decode: '+' stays, %2F becomes '/', bad escapes and the limit. */
static void
test_path(void **state)
{
	static const struct {
		const char *in;
		size_t max;
		int rc;
		const char *want;
	} cases[] = {
		{ "gpt-4o", 100, 0, "gpt-4o" },
		{ "a+b@c:d", 100, 0, "a+b@c:d" },
		{ "org%2Fname%3av1", 100, 0, "org/name:v1" },
		{ "org/name", 100, 0, "org/name" },
		{ "", 100, 0, "" },
		{ "%zz", 100, -1, NULL },
		{ "ab%4", 100, -1, NULL },
		{ "ab%", 100, -1, NULL },
		{ "abcd", 4, 0, "abcd" },
		{ "abcde", 4, -2, NULL },
		{ "%41%41%41%41%41", 4, -2, NULL },
	};
	struct cs_buf b;
	size_t i;
	int rc;

	(void)state;
	for (i = 0; i < CS_ARRAY_LEN(cases); i++) {
		cs_buf_init(&b, cases[i].max);
		rc = cs_path_decode(cases[i].in, strlen(cases[i].in), &b);
		if (rc != cases[i].rc)
			fail_msg("\"%s\": rc %d, want %d", cases[i].in, rc,
			    cases[i].rc);
		if (cases[i].want != NULL && (b.len != strlen(cases[i].want) ||
		    (b.len > 0 && memcmp(b.data, cases[i].want, b.len) != 0)))
			fail_msg("\"%s\": got \"%.*s\", want \"%s\"",
			    cases[i].in, (int)b.len, b.data ? b.data : "",
			    cases[i].want);
		cs_buf_free(&b);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_get),
		cmocka_unit_test(test_keys),
		cmocka_unit_test(test_path),
	};

	return cmocka_run_group_tests_name("query", tests, NULL, NULL);
}
