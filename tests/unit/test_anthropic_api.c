/*
 * test_anthropic_api.c — the Messages request translated into the native
 * one (anthropic_api.h): each accepted field's native form, to the byte;
 * a tool round trip; every refusal naming its field by its index path.
 */
#include <stdio.h>
#include <string.h>

#include <json-c/json.h>

#include "anthropic_api.h"
#include "json_strict.h"
#include "request.h"
#include "testutil.h"

/* body translated: the native request as json-c writes it (the caller
 * frees it), *stream set. */
static char *
translate(const char *body, int *stream)
{
	struct json_object *root, *nat = NULL;
	struct cs_reqerr err;
	char *text;

	assert_non_null(root = cs_json_strict_object(body, strlen(body)));
	memset(&err, 0, sizeof(err));
	if (cs_anthropic_translate(root, &nat, stream, &err) != CS_OK)
		fail_msg("refused: %s\nbody: %s", err.message, body);
	text = strdup(json_object_to_json_string_ext(
	    nat, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
	assert_non_null(text);
	json_object_put(nat);
	json_object_put(root);
	return text;
}

static void
expect_native(const char *body, const char *want)
{
	int stream = -1;
	char *got = translate(body, &stream);

	assert_string_equal(got, want);
	free(got);
}

static void
expect_refused(const char *body, const char *msg)
{
	struct json_object *root, *nat = (struct json_object *)1;
	struct cs_reqerr err;
	int stream;

	assert_non_null(root = cs_json_strict_object(body, strlen(body)));
	memset(&err, 0, sizeof(err));
	assert_int_equal(
	    cs_anthropic_translate(root, &nat, &stream, &err), CS_EBADINPUT);
	assert_null(nat);
	assert_int_equal(err.fail, CS_FAIL_INVALID);
	if (strstr(err.message, msg) == NULL)
		fail_msg("message \"%s\" lacks \"%s\"", err.message, msg);
	json_object_put(root);
}

#define HEAD "{\"model\":\"m\",\"max_tokens\":64,"

/* The options, system (string or blocks, cache_control ignored), a
 * string turn; stream read, metadata dropped. */
static void
test_options(void **state)
{
	int stream = 0;
	char *got;

	(void)state;
	expect_native(HEAD "\"system\":\"Be brief.\",\"temperature\":0.5,"
	                   "\"stop_sequences\":[\"END\"],\"metadata\":{"
	                   "\"user_id\":\"u\"},\"messages\":[{\"role\":"
	                   "\"user\",\"content\":\"hi\"}]}",
	    "{\"model\":\"m\",\"messages\":[{\"role\":\"system\",\"content\":"
	    "\"Be brief.\"},{\"role\":\"user\",\"content\":\"hi\"}],"
	    "\"max_tokens\":64,\"temperature\":0.5,\"stop\":[\"END\"]}");
	expect_native(HEAD "\"system\":[{\"type\":\"text\",\"text\":\"A\","
	                   "\"cache_control\":{\"type\":\"ephemeral\"}}],"
	                   "\"messages\":[]}",
	    "{\"model\":\"m\",\"messages\":[{\"role\":\"system\",\"content\":"
	    "[{\"type\":\"text\",\"text\":\"A\"}]}],\"max_tokens\":64}");
	got = translate(HEAD "\"stream\":true,\"messages\":[]}", &stream);
	assert_int_equal(stream, 1);
	free(got);
	got = translate(HEAD "\"stream\":false,\"messages\":[]}", &stream);
	assert_int_equal(stream, 0);
	free(got);
}

/* A tool round trip: tools and tool_choice in the native shape, the
 * assistant's tool_use as tool_calls (thinking dropped), the user's
 * tool_result as a tool message before the turn's text; is_error says
 * so in the text. */
static void
test_tool_round_trip(void **state)
{
	(void)state;
	expect_native(HEAD
	    "\"tools\":[{\"name\":\"get_weather\",\"description\":\"Now\","
	    "\"input_schema\":{\"type\":\"object\"}},{\"type\":\"custom\","
	    "\"name\":\"now\"}],\"tool_choice\":{\"type\":\"tool\",\"name\":"
	    "\"now\",\"disable_parallel_tool_use\":true},\"messages\":["
	    "{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":"
	    "\"w?\"}]},{\"role\":\"assistant\",\"content\":[{\"type\":"
	    "\"thinking\",\"thinking\":\"hm\",\"signature\":\"s\"},{\"type\":"
	    "\"text\",\"text\":\"Let me see.\"},{\"type\":\"tool_use\",\"id\":"
	    "\"toolu_1\",\"name\":\"get_weather\",\"input\":{\"city\":"
	    "\"Paris\"}}]},{\"role\":\"user\",\"content\":[{\"type\":"
	    "\"tool_result\",\"tool_use_id\":\"toolu_1\",\"content\":\"18C\"},"
	    "{\"type\":\"tool_result\",\"tool_use_id\":\"toolu_2\",\"content\":"
	    "[{\"type\":\"text\",\"text\":\"down\"}],\"is_error\":true},"
	    "{\"type\":\"text\",\"text\":\"thanks\"}]},{\"role\":\"assistant\","
	    "\"content\":[{\"type\":\"tool_use\",\"id\":\"toolu_3\",\"name\":"
	    "\"now\",\"input\":{}}]}]}",
	    "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":"
	    "[{\"type\":\"text\",\"text\":\"w?\"}]},{\"role\":\"assistant\","
	    "\"content\":[{\"type\":\"text\",\"text\":\"Let me see.\"}],"
	    "\"tool_calls\":[{\"id\":\"toolu_1\",\"type\":\"function\","
	    "\"function\":{\"name\":\"get_weather\",\"arguments\":"
	    "\"{\\\"city\\\":\\\"Paris\\\"}\"}}]},{\"role\":\"tool\","
	    "\"tool_call_id\":\"toolu_1\",\"content\":\"18C\"},{\"role\":"
	    "\"tool\",\"tool_call_id\":\"toolu_2\",\"content\":[{\"type\":"
	    "\"text\",\"text\":\"Error: \"},{\"type\":\"text\",\"text\":"
	    "\"down\"}]},{\"role\":\"user\",\"content\":[{\"type\":\"text\","
	    "\"text\":\"thanks\"}]},{\"role\":\"assistant\",\"content\":null,"
	    "\"tool_calls\":[{\"id\":\"toolu_3\",\"type\":\"function\","
	    "\"function\":{\"name\":\"now\",\"arguments\":\"{}\"}}]}],"
	    "\"max_tokens\":64,\"tools\":[{\"type\":\"function\",\"function\":"
	    "{\"name\":\"get_weather\",\"description\":\"Now\",\"parameters\":"
	    "{\"type\":\"object\"}}},{\"type\":\"function\",\"function\":{"
	    "\"name\":\"now\"}}],\"tool_choice\":{\"type\":\"function\","
	    "\"function\":{\"name\":\"now\"}}}");
	/* results alone: no empty user message after them */
	expect_native(HEAD "\"messages\":[{\"role\":\"user\",\"content\":[{"
	                   "\"type\":\"tool_result\",\"tool_use_id\":\"t\"}]}],"
	                   "\"tool_choice\":{\"type\":\"any\"}}",
	    "{\"model\":\"m\",\"messages\":[{\"role\":\"tool\",\"tool_call_id\":"
	    "\"t\",\"content\":\"\"}],\"max_tokens\":64,\"tool_choice\":"
	    "\"required\"}");
}

/* Every refusal names the field, with its index path. */
static void
test_refusals(void **state)
{
	(void)state;
	expect_refused(
	    "{\"model\":\"m\",\"messages\":[]}", "max_tokens: required");
	expect_refused(HEAD "\"max_tokens\":0,\"messages\":[]}",
	    "max_tokens: must be a positive integer");
	expect_refused(HEAD "\"top_k\":5,\"messages\":[]}",
	    "top_k: not supported by this server (accepted: model");
	expect_refused(HEAD "\"thinking\":{\"type\":\"enabled\"}}",
	    "thinking: not supported");
	expect_refused(HEAD "\"temperature\":1.5,\"messages\":[]}",
	    "temperature: must be a number from 0 to 1");
	expect_refused(HEAD "\"stop_sequences\":\"END\",\"messages\":[]}",
	    "stop_sequences: must be an array of strings");
	expect_refused(HEAD "\"stop_sequences\":[\"a\",\"\"],\"messages\":[]}",
	    "stop_sequences[1]: must not be empty");
	expect_refused(HEAD "\"messages\":[{\"role\":\"user\",\"content\":"
	                    "\"a\"},{\"role\":\"user\",\"content\":[{\"type\":"
	                    "\"image\",\"source\":{}}]}]}",
	    "messages[1].content[0].type: \"image\" blocks are not supported");
	expect_refused(HEAD "\"messages\":[{\"role\":\"user\",\"content\":[{"
	                    "\"type\":\"tool_use\",\"id\":\"a\",\"name\":\"f\","
	                    "\"input\":{}}]}]}",
	    "messages[0].content[0].type: \"tool_use\" blocks are not "
	    "supported in user turns");
	expect_refused(HEAD "\"messages\":[{\"role\":\"assistant\",\"content\":"
	                    "[{\"type\":\"tool_use\",\"id\":\"a\",\"name\":"
	                    "\"f\",\"input\":[]}]}]}",
	    "messages[0].content[0].input: must be an object");
	expect_refused(HEAD "\"messages\":[{\"role\":\"user\",\"content\":[{"
	                    "\"type\":\"tool_result\",\"tool_use_id\":\"t\","
	                    "\"content\":[{\"type\":\"image\"}]}]}]}",
	    "messages[0].content[0].content[0].type: only \"text\"");
	expect_refused(HEAD "\"messages\":[{\"role\":\"system\",\"content\":"
	                    "\"a\"}]}",
	    "messages[0].role: must be \"user\" or \"assistant\"");
	expect_refused(HEAD "\"messages\":[{\"role\":\"user\",\"content\":[{"
	                    "\"type\":\"text\",\"text\":\"a\",\"citations\":"
	                    "[]}]}]}",
	    "messages[0].content[0].citations: not supported");
	expect_refused(HEAD
	    "\"messages\":[],\"tools\":[{\"type\":"
	    "\"web_search_20250305\",\"name\":\"web_search\"}]}",
	    "tools[0].type: \"web_search_20250305\" is a server tool");
	expect_refused(HEAD "\"messages\":[],\"tool_choice\":{\"type\":"
	                    "\"required\"}}",
	    "tool_choice.type: must be \"auto\", \"any\", \"tool\" or "
	    "\"none\"");
	expect_refused(HEAD "\"messages\":{}}", "messages: must be an array");
	/* a wrong id after a good one: nothing borrowed is released (the
	 * fuzzer's first find) */
	expect_refused(HEAD "\"messages\":[{\"role\":\"assistant\",\"content\":"
	                    "[{\"type\":\"tool_use\",\"id\":true}]}]}",
	    "messages[0].content[0].id: must be a string");
	expect_refused(HEAD
	    "\"messages\":[{\"role\":\"assistant\",\"content\":"
	    "[{\"type\":\"tool_use\",\"id\":\"a\",\"name\":7}]}]}",
	    "messages[0].content[0].name: must be a string");
	expect_refused(HEAD "\"messages\":[{\"role\":\"user\",\"content\":[{"
	                    "\"type\":\"tool_result\",\"tool_use_id\":1}]}]}",
	    "messages[0].content[0].tool_use_id: must be a string");
	expect_refused(HEAD
	    "\"system\":[{\"type\":\"image\"}],\"messages\":[]}",
	    "system[0].type: only \"text\"");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_options),
		cmocka_unit_test(test_tool_round_trip),
		cmocka_unit_test(test_refusals),
	};

	return cmocka_run_group_tests_name("anthropic_api", tests, NULL, NULL);
}
