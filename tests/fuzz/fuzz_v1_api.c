/*
 * fuzz_v1_api.c — libFuzzer harness for the translation of a /v1
 * request into the native one followed by the native parser, as the
 * handlers chain them: built as anthropic-api (the Messages request,
 * anthropic_api.c) and, with -DFUZZ_RESPONSES, as responses-api (the
 * Responses request, responses_api.c).
 *
 * Every input is a request body in a heap buffer of exactly its size,
 * read as the handler reads it (cs_json_strict_object; not an object:
 * nothing to translate), translated, and the native request serialised
 * and parsed with a real config (cs_config_defaults() +
 * cs_config_resolve() on the demo provider, max_body_bytes 16384; run
 * with -max_len=16384).
 *
 * CS_OK: a native object whose "messages" is an array and whose keys are
 * native ones; translating again gives the same bytes; cs_request_parse()
 * accepts it or refuses it with a status and a message.  Refused:
 * CS_EBADINPUT with CS_FAIL_INVALID (CS_ENOMEM with CS_FAIL_INTERNAL), a
 * non-empty printable UTF-8 message, *out NULL.  abort() on anything else.
 *
 * The handlers reach the stream and the chat; the harness runs only the
 * translation, so those calls stand here and abort.
 *
 *   make build/fuzz/anthropic-api && build/fuzz/anthropic-api \
 *       -max_len=16384 build/fuzz/corpus/anthropic-api
 *   (the same with responses-api)
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "anthropic_api.h"
#include "chat.h"
#include "config.h"
#include "encoder.h"
#include "json_strict.h"
#include "openai_api.h"
#include "provider.h"
#include "request.h"
#include "responses_api.h"
#include "stream.h"
#include "fuzz_translate.h"

#ifdef FUZZ_RESPONSES
#define TRANSLATE(root, out, stream, err) \
	cs_responses_translate(root, out, stream, NULL, err)
#define WHO "fuzz_v1_api (responses)"
/* The native keys the translation may write. */
static const char *const keys[] = { "model", "messages", "instructions",
	"max_tokens", "temperature", "tools", "tool_choice",
	"response_format" };
const struct cs_encoder cs_encoder_responses = { .name = "stub" };
#else
#define TRANSLATE cs_anthropic_translate
#define WHO       "fuzz_v1_api (anthropic)"
static const char *const keys[] = { "model", "messages", "max_tokens",
	"temperature", "stop", "tools", "tool_choice" };
const struct cs_encoder cs_encoder_anthropic = { .name = "stub" };
#endif

#define MAX_BODY 16384

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The handler's calls, never made by the translation. */

enum cs_err
cs_v1_check_model(
    const struct cs_config *c, struct cs_stream *s, struct json_object *root)
{
	(void)c, (void)s, (void)root;
	abort();
}

enum cs_err
cs_chat_parse(const struct cs_config *c, struct cs_stream *s, const char *body,
    size_t len, struct cs_chat_request **req)
{
	(void)c, (void)s, (void)body, (void)len, (void)req;
	abort();
}

void
cs_chat_provider(
    struct cs_worker *w, const struct cs_chat_request *req, struct cs_stream *s)
{
	(void)w, (void)req, (void)s;
	abort();
}

enum cs_err
cs_stream_fail(struct cs_stream *s, enum cs_fail f, const char *message)
{
	(void)s, (void)f, (void)message;
	abort();
}

void
cs_stream_set_model(struct cs_stream *s, const char *model)
{
	(void)s, (void)model;
	abort();
}

void
cs_stream_use(struct cs_stream *s, const struct cs_encoder *enc)
{
	(void)s, (void)enc;
	abort();
}

const char *
cs_stream_id(const struct cs_stream *s)
{
	(void)s;
	abort();
}

enum cs_err
cs_stream_add_headers(struct cs_stream *s, const char *l)
{
	(void)s, (void)l;
	abort();
}

static struct cs_config cfg;

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	fuzz_demo_config(&cfg, MAX_BODY, WHO);
	return 0;
}

/* nat's "messages" is an array and every key is one of keys. */
static void
check_native(struct json_object *nat)
{
	struct json_object *v;
	size_t i;
	int known;

	if (!json_object_object_get_ex(nat, "messages", &v) ||
	    !json_object_is_type(v, json_type_array))
		abort();
	json_object_object_foreach(nat, key, val)
	{
		(void)val;
		for (known = 0, i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
			known |= strcmp(key, keys[i]) == 0;
		if (!known)
			abort();
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct json_object *root, *nat = NULL, *again = NULL;
	struct cs_reqerr err;
	enum cs_err r;
	char *body, *text;
	int stream = -1, stream2;

	if (size > cfg.max_body_bytes)
		return 0;
	if ((body = malloc(size > 0 ? size : 1)) == NULL)
		return 0;
	if (size > 0)
		memcpy(body, data, size);
	root = cs_json_strict_object(body, size);
	free(body); /* nothing may point into it */
	if (root == NULL)
		return 0;
	memset(&err, 0, sizeof(err));
	r = TRANSLATE(root, &nat, &stream, &err);
	if (r != CS_OK) {
		if (nat != NULL)
			abort();
		fuzz_check_refusal(r, &err, 1);
		json_object_put(root);
		return 0;
	}
	if (nat == NULL || (stream != 0 && stream != 1))
		abort();
	check_native(nat);
	text = strdup(json_object_to_json_string_ext(
	    nat, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
	if (text == NULL)
		abort();
	if (TRANSLATE(root, &again, &stream2, &err) != CS_OK ||
	    stream2 != stream ||
	    strcmp(text,
	        json_object_to_json_string_ext(again,
	            JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE)) !=
	        0)
		abort();
	fuzz_check_parse(&cfg, text, strlen(text), 1);
	free(text);
	json_object_put(again);
	json_object_put(nat);
	json_object_put(root);
	return 0;
}
