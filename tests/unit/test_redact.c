/*
 * test_redact.c — API key pieces in provider error messages: the whole
 * key, a masked echo (first 8 and last 4 characters, as providers print
 * keys), a key cut short, several configured keys, short keys, and text
 * that only looks like a key.
 */
#include <string.h>

#include "buf.h"
#include "stream.h"
#include "testutil.h"

static const char *const KEYS[] = {
	"sk-bar-secret0123456789abcdef", NULL, /* an upstream without a key */
	"", "other-KEY-zyxwvuts98765", "abc",  /* shorter than CS_REDACT_RUN */
};

struct rcase {
	const char *msg;
	const char *want;
	int found;
};

static const struct rcase CASES[] = {
	{ "Incorrect API key provided: sk-bar-secret0123456789abcdef.",
	    "Incorrect API key provided: [redacted].", 1 },
	{ "Incorrect API key provided: sk-bar-s******************cdef. See "
	  "your dashboard.",
	    "Incorrect API key provided: [redacted]. See your dashboard.", 1 },
	{ "key sk-bar-s...cdef is wrong", "key [redacted] is wrong", 1 },
	{ "key sk-bar-s\xe2\x80\xa6"
	  "cdef is wrong",
	    "key [redacted] is wrong", 1 },
	/* cut by a length limit */
	{ "quota exceeded for sk-bar-secr", "quota exceeded for [redacted]",
	    1 },
	{ "tail 456789abcdef!", "tail [redacted]!", 1 },
	/* exactly CS_REDACT_RUN bytes, and one fewer */
	{ "(ecret0)", "([redacted])", 1 },
	{ "(ecret)", "(ecret)", 0 },
	{ "two: other-KEY-zyx, sk-bar-secret0", "two: [redacted], [redacted]",
	    1 },
	{ "short key abc here", "short key [redacted] here", 1 },
	{ "nothing to see here.", "nothing to see here.", 0 },
	{ "Rate limit reached for requests. Please try again in 20ms.",
	    "Rate limit reached for requests. Please try again in 20ms.", 0 },
	{ "", "", 0 },
	{ "\xc3\xa9t\xc3\xa9 sk-bar-secret \xe6\x97\xa5",
	    "\xc3\xa9t\xc3\xa9 [redacted] \xe6\x97\xa5", 1 },
};

static void
test_table(void **state)
{
	struct cs_buf out;
	size_t i;
	int found;

	(void)state;
	for (i = 0; i < CS_ARRAY_LEN(CASES); i++) {
		cs_buf_init(&out, 4096);
		assert_int_equal(
		    cs_redact_keys(KEYS, CS_ARRAY_LEN(KEYS), CASES[i].msg,
		        strlen(CASES[i].msg), &out, &found),
		    CS_OK);
		if (strcmp(out.data, CASES[i].want) != 0 ||
		    found != CASES[i].found)
			fail_msg("case %zu \"%s\": got \"%s\" (found %d), want "
			         "\"%s\" (found %d)",
			    i, CASES[i].msg, out.data, found, CASES[i].want,
			    CASES[i].found);
		cs_buf_free(&out);
	}
}

/* Redact, then cut to 400 bytes: no piece of the key survives at the cut
 * (cutting first would leave "sk-bar-se" behind). */
static void
test_before_cut(void **state)
{
	char msg[600];
	struct cs_buf out;

	(void)state;
	memset(msg, 'a', 392);
	snprintf(msg + 392, sizeof(msg) - 392, " %s and more", KEYS[0]);
	cs_buf_init(&out, 4096);
	assert_int_equal(
	    cs_redact_keys(KEYS, 1, msg, strlen(msg), &out, NULL), CS_OK);
	assert_true(out.len > 400);
	assert_null(memmem(out.data, 400, "sk-bar", 6));
	assert_non_null(memmem(out.data, 400, " [redac", 7));
	cs_buf_free(&out);
}

/* A full output buffer is an error, never a half-redacted message. */
static void
test_full(void **state)
{
	struct cs_buf out;
	const char *msg = "key: sk-bar-secret0123456789abcdef";

	(void)state;
	cs_buf_init(&out, 8);
	assert_int_equal(
	    cs_redact_keys(KEYS, 1, msg, strlen(msg), &out, NULL), CS_ETOOBIG);
	cs_buf_free(&out);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_table),
		cmocka_unit_test(test_before_cut),
		cmocka_unit_test(test_full),
	};

	return cmocka_run_group_tests_name("redact", tests, NULL, NULL);
}
