/*
 * test_query.c — strict query-string decoding for GET /api/chat: escapes,
 * '+', bad escapes anywhere, absent and empty values, the buffer limit, and
 * the key check (unknown, repeated, malformed); path pieces ('+' kept).
 * Every call answers an enum cs_err (query.h): CS_OK, CS_EDONE for an
 * absent key (not an error, and not the same as an empty value),
 * CS_EBADINPUT, CS_ETOOBIG.
 */
#include <string.h>

#include "buf.h"
#include "query.h"
#include "testutil.h"

/* cs_query_get(qs, key) with a limit of max bytes: rc and value. */
static void
get_expect(const char *qs, const char *key, size_t max, enum cs_err want_rc,
    const char *want)
{
	struct cs_buf b;
	enum cs_err rc;

	cs_buf_init(&b, max);
	rc = cs_query_get(qs, key, &b);
	if (rc != want_rc)
		fail_msg("\"%s\" [%s]: rc %d, want %d", qs ? qs : "(null)", key,
		    rc, want_rc);
	if (want != NULL &&
	    (b.len != strlen(want) ||
	        (b.len > 0 && memcmp(b.data, want, b.len) != 0)))
		fail_msg("\"%s\" [%s]: got \"%.*s\", want \"%s\"", qs, key,
		    (int)b.len, b.data ? b.data : "", want);
	cs_buf_free(&b);
}

static void
test_get(void **state)
{
	(void)state;
	get_expect(
	    "prompt=hello+world&model=m1", "prompt", 100, CS_OK, "hello world");
	get_expect("prompt=hello+world&model=m1", "model", 100, CS_OK, "m1");
	get_expect("prompt=%C3%A9t%c3%a9%20%2B1%26", "prompt", 100, CS_OK,
	    "\xc3\xa9t\xc3\xa9 +1&");
	get_expect("prompt=", "prompt", 100, CS_OK, "");
	get_expect("prompt", "prompt", 100, CS_OK, "");
	get_expect("&&prompt=a&&", "prompt", 100, CS_OK, "a");
	get_expect("model=m1", "prompt", 100, CS_EDONE, "");
	get_expect("", "prompt", 100, CS_EDONE, "");
	get_expect(NULL, "prompt", 100, CS_EDONE, "");
	get_expect("pr%6Fmpt=x", "prompt", 100, CS_OK, "x"); /* escaped key */
	get_expect("prompt=a=b", "prompt", 100, CS_OK, "a=b");
	get_expect("prompt=first&prompt=second", "prompt", 100, CS_OK, "first");
	/* A bad escape in the value or in any key before it. */
	get_expect("prompt=%zz", "prompt", 100, CS_EBADINPUT, NULL);
	get_expect("prompt=%4", "prompt", 100, CS_EBADINPUT, NULL);
	get_expect("prompt=abc%", "prompt", 100, CS_EBADINPUT, NULL);
	get_expect("x%g1=1&prompt=a", "prompt", 100, CS_EBADINPUT, NULL);
	/* The limit: exactly max bytes fit, one more does not. */
	get_expect("prompt=abcd", "prompt", 4, CS_OK, "abcd");
	get_expect("prompt=abcde", "prompt", 4, CS_ETOOBIG, NULL);
	get_expect("prompt=%41%41%41%41%41", "prompt", 4, CS_ETOOBIG, NULL);
	/* Found or absent is decided before anything after the key is
	 * read; only the pairs up to the key must be well formed. */
	get_expect("prompt=a&x=%zz", "prompt", 100, CS_OK, "a");
	get_expect("x=%zz&prompt=a", "prompt", 100, CS_OK, "a");
	get_expect("x%zz&prompt=a", "prompt", 100, CS_EBADINPUT, NULL);
	get_expect("model=a", "prompt", 0, CS_EDONE, "");
	get_expect("prompt=", "prompt", 0, CS_OK, "");
	get_expect("prompt=a", "prompt", 0, CS_ETOOBIG, NULL);
}

static void
check_keys(const char *qs, enum cs_err want_rc, const char *want_bad)
{
	static const char *const allowed[] = { "prompt", "model", "format" };
	char bad[80] = "";
	enum cs_err rc;

	rc = cs_query_check_keys(
	    qs, allowed, CS_ARRAY_LEN(allowed), bad, sizeof(bad));
	if (rc != want_rc)
		fail_msg(
		    "\"%s\": rc %d, want %d", qs ? qs : "(null)", rc, want_rc);
	if (want_bad != NULL && strcmp(bad, want_bad) != 0)
		fail_msg("\"%s\": bad \"%s\", want \"%s\"", qs, bad, want_bad);
}

static void
test_keys(void **state)
{
	(void)state;
	check_keys(NULL, CS_OK, NULL);
	check_keys("", CS_OK, NULL);
	check_keys("prompt=a&model=b&format=text", CS_OK, NULL);
	check_keys("prompt=a&colour=red", CS_EBADINPUT, "colour");
	check_keys("prompt=a&prompt=b", CS_EBADINPUT, "prompt");
	check_keys("prompt=a&pr%6Fmpt=b", CS_EBADINPUT, "prompt");
	check_keys("prompt=a&x%zz=1", CS_EBADINPUT, NULL);
	check_keys("=a", CS_EBADINPUT, "");
	check_keys("&&prompt=a&&", CS_OK, NULL);
	check_keys("prompt=%zz", CS_OK, NULL); /* values are not read */
}

/* cs_path_decode: '+' stays, %2F becomes '/', bad escapes and the limit. */
static void
test_path(void **state)
{
	static const struct {
		const char *in;
		size_t max;
		enum cs_err rc;
		const char *want;
	} cases[] = {
		{ "gpt-4o", 100, CS_OK, "gpt-4o" },
		{ "a+b@c:d", 100, CS_OK, "a+b@c:d" },
		{ "org%2Fname%3av1", 100, CS_OK, "org/name:v1" },
		{ "org/name", 100, CS_OK, "org/name" },
		{ "", 100, CS_OK, "" },
		{ "%zz", 100, CS_EBADINPUT, NULL },
		{ "ab%4", 100, CS_EBADINPUT, NULL },
		{ "ab%", 100, CS_EBADINPUT, NULL },
		{ "abcd", 4, CS_OK, "abcd" },
		{ "abcde", 4, CS_ETOOBIG, NULL },
		{ "%41%41%41%41%41", 4, CS_ETOOBIG, NULL },
	};
	struct cs_buf b;
	size_t i;
	enum cs_err rc;

	(void)state;
	for (i = 0; i < CS_ARRAY_LEN(cases); i++) {
		cs_buf_init(&b, cases[i].max);
		rc = cs_path_decode(cases[i].in, strlen(cases[i].in), &b);
		if (rc != cases[i].rc)
			fail_msg("\"%s\": rc %d, want %d", cases[i].in, rc,
			    cases[i].rc);
		if (cases[i].want != NULL &&
		    (b.len != strlen(cases[i].want) ||
		        (b.len > 0 &&
		            memcmp(b.data, cases[i].want, b.len) != 0)))
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
