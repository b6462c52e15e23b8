/*
 * test_chat.c — what a chat body must be sent as: application/json in any
 * case, with or without parameters, optional whitespace (space or tab)
 * before them; nothing else.  The native and the OpenAI-compatible
 * endpoints disagreed on the tab before they shared this check.
 */
#include "chat.h"
#include "cs.h"
#include "testutil.h"

static void
test_json_types(void **state)
{
	static const struct {
		const char *ct;
		int ok;
	} cases[] = {
		{ "application/json", 1 },
		{ "Application/JSON", 1 },
		{ "application/json;charset=utf-8", 1 },
		{ "application/json; charset=utf-8", 1 },
		{ "application/json ; charset=utf-8", 1 },
		{ "application/json\t; charset=utf-8", 1 },
		{ "application/jsonx", 0 },
		{ "application/json-patch+json", 0 },
		{ "application/jso", 0 },
		{ "text/json", 0 },
		{ "text/plain", 0 },
		{ " application/json", 0 },
		{ "", 0 },
	};
	size_t i;

	(void)state;
	for (i = 0; i < CS_ARRAY_LEN(cases); i++)
		if (cs_chat_json_type(cases[i].ct) != cases[i].ok)
			fail_msg("\"%s\": want %d", cases[i].ct, cases[i].ok);
	assert_int_equal(cs_chat_json_type(NULL), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_json_types),
	};

	return cmocka_run_group_tests_name("chat", tests, NULL, NULL);
}
