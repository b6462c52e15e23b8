/*
 * fuzz_request_ui.c — libFuzzer harness for useChat's request translation
 * (request_ui.c) followed by the native parser, as serve_ui_chat() and
 * run_chat() in handler.c chain them.
 *
 * Every input is a request body in a heap buffer of exactly its size,
 * translated into a buffer of 2 * max_body_bytes (the handler's bound),
 * with a real config: cs_config_defaults() + cs_config_resolve() on the
 * demo provider, max_body_bytes 16384 (bodies above it are what the
 * handler refuses before translating; run with -max_len=16384).
 *
 * CS_EDONE: out untouched.  CS_OK: out is one strict JSON object whose
 * "messages" is an array and without id, trigger or messageId; the same
 * body translates to the same bytes with err NULL and exactly out.len of
 * room, and one byte less is CS_ETOOBIG (413); cs_request_parse() then
 * accepts it with at least one message or refuses it as fuzz_request.c
 * expects.  Refused: status 400 (CS_EBADINPUT), 413 (CS_ETOOBIG) or 500
 * (CS_ENOMEM), a non-empty message; with CHECK_ECHO also valid UTF-8
 * without control characters, as request.c's echo() makes its own.
 * abort() on anything else.
 *
 *   make build/fuzz/request-ui && build/fuzz/request-ui -max_len=16384 \
 *       build/fuzz/corpus/request-ui
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "config.h"
#include "provider.h"
#include "request.h"
#include "request_ui.h"
#include "fuzz_translate.h"

#define MAX_BODY 16384

/*
 * 0 for now: request_ui.c quotes client strings (part types, states,
 * message keys) into its errors with "%.40s", raw — control characters
 * included, and a cut UTF-8 sequence when byte 40 falls inside one.  Set
 * to 1 once they go through an echo() like request.c's.
 */
#ifndef CHECK_ECHO
#define CHECK_ECHO 1
#endif

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct cs_config cfg;

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	fuzz_demo_config(&cfg, MAX_BODY, "fuzz_request_ui");
	return 0;
}

/* A refusal (fuzz_translate.h), its message checked with CHECK_ECHO. */
static void
check_err(enum cs_err r, const struct cs_reqerr *err)
{
	fuzz_check_refusal(r, err, CHECK_ECHO);
}

/* out: one strict JSON object, "messages" an array, the UI keys gone. */
static void
check_native(const struct cs_buf *out)
{
	struct json_tokener *tok;
	struct json_object *o, *v;

	if ((tok = json_tokener_new_ex(CS_JSON_MAX_DEPTH + 8)) == NULL)
		abort();
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT);
	o = json_tokener_parse_ex(tok, out->data, (int)out->len);
	if (o == NULL || json_tokener_get_parse_end(tok) != out->len ||
	    !json_object_is_type(o, json_type_object) ||
	    !json_object_object_get_ex(o, "messages", &v) ||
	    !json_object_is_type(v, json_type_array) ||
	    json_object_object_get_ex(o, "id", NULL) ||
	    json_object_object_get_ex(o, "trigger", NULL) ||
	    json_object_object_get_ex(o, "messageId", NULL))
		abort();
	json_object_put(o);
	json_tokener_free(tok);
}

/* The same body again into exactly out->len bytes, then one less. */
static void
check_bounds(const char *body, size_t size, const struct cs_buf *out)
{
	struct cs_buf b;
	struct cs_reqerr err;
	enum cs_err r;

	cs_buf_init(&b, out->len);
	if (cs_ui_request_translate(body, size, &b, NULL) != CS_OK ||
	    b.len != out->len || memcmp(b.data, out->data, b.len) != 0)
		abort();
	cs_buf_free(&b);
	cs_buf_init(&b, out->len - 1);
	memset(&err, 0, sizeof(err));
	r = cs_ui_request_translate(body, size, &b, &err);
	if (r != CS_ETOOBIG)
		abort();
	check_err(r, &err);
	cs_buf_free(&b);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct cs_buf out;
	struct cs_reqerr err;
	enum cs_err r;
	char *body;

	/* The handler refuses bigger bodies before translating (413). */
	if (size > cfg.max_body_bytes)
		return 0;
	if ((body = malloc(size > 0 ? size : 1)) == NULL)
		return 0;
	if (size > 0)
		memcpy(body, data, size);

	memset(&err, 0, sizeof(err));
	cs_buf_init(&out, 2 * cfg.max_body_bytes);
	r = cs_ui_request_translate(body, size, &out, &err);
	switch (r) {
	case CS_EDONE:
		if (out.len != 0)
			abort();
		break;
	case CS_OK:
		check_native(&out);
		check_bounds(body, size, &out);
		fuzz_check_parse(&cfg, out.data, out.len, CHECK_ECHO);
		break;
	case CS_EBADINPUT:
	case CS_ETOOBIG:
	case CS_ENOMEM: check_err(r, &err); break;
	default: abort();
	}
	cs_buf_free(&out);
	free(body);
	return 0;
}
