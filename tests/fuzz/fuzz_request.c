/*
 * fuzz_request.c — libFuzzer harness for the chat request parser.
 *
 * Every input is a request body, copied into a heap buffer of exactly its
 * size so ASan sees any read past len, and freed before the result is
 * looked at, so nothing in the request may point into it.  The config is
 * the one of tests/unit/test_request.c with small limits (4096-byte body,
 * 16 messages, 512 bytes a message) so the CS_ETOOBIG and "too many"
 * paths are reached; run with -max_len above the body limit.  Each input
 * is parsed twice, with and without err, and the results must agree.
 *
 * Accepted: at least one message, each with a role, valid UTF-8 content
 * without NUL within max_message_bytes, a configured model, temperature
 * in 0..2, max_tokens within the model's cap.  Refused: *out NULL, status
 * 400 (CS_EBADINPUT), 413 (CS_ETOOBIG) or 500 (CS_ENOMEM, CS_ECONFIG) and
 * a non-empty message in valid UTF-8 without control characters.
 *
 *   clang -std=gnu11 -D_GNU_SOURCE -g -O1 \
 *       -fsanitize=fuzzer,address,undefined -Isrc \
 *       -o build/fuzz_request tests/fuzz/fuzz_request.c \
 *       src/request.c src/config.c src/buf.c src/cs.c -ljson-c
 *   build/fuzz_request -max_len=8192 tests/fuzz/corpus/request
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "request.h"

#define MAX_TOKENS_CEIL  10000000L /* as in request.c */
#define MAX_TOOLID_BYTES 128

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct cs_config cfg;

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	cs_config_defaults(&cfg);
	cfg.max_body_bytes = 4096;
	cfg.max_messages = 16;
	cfg.max_message_bytes = 512;
	memcpy(cfg.models[0].name, "gpt-4o-mini", sizeof("gpt-4o-mini"));
	cfg.models[0].max_tokens = 0;
	memcpy(cfg.models[1].name, "capped", sizeof("capped"));
	cfg.models[1].max_tokens = 4096;
	cfg.n_models = 2;
	memcpy(cfg.default_model, "gpt-4o-mini", sizeof("gpt-4o-mini"));
	cfg.client_instructions = 1;
	cfg.instructions[0] = '\0';
	return 0;
}

/* Well-formed UTF-8 (RFC 3629: no overlongs, surrogates, > U+10FFFF). */
static int
valid_utf8(const char *s, size_t n)
{
	const unsigned char *p = (const unsigned char *)s;
	unsigned char lo, hi;
	size_t i = 0, l, k;

	while (i < n) {
		lo = 0x80;
		hi = 0xbf;
		if (p[i] < 0x80)
			l = 1;
		else if (p[i] >= 0xc2 && p[i] <= 0xdf)
			l = 2;
		else if (p[i] >= 0xe0 && p[i] <= 0xef) {
			l = 3;
			if (p[i] == 0xe0)
				lo = 0xa0;
			else if (p[i] == 0xed)
				hi = 0x9f;
		} else if (p[i] >= 0xf0 && p[i] <= 0xf4) {
			l = 4;
			if (p[i] == 0xf0)
				lo = 0x90;
			else if (p[i] == 0xf4)
				hi = 0x8f;
		} else
			return 0;
		if (n - i < l)
			return 0;
		if (l > 1 && (p[i + 1] < lo || p[i + 1] > hi))
			return 0;
		for (k = 2; k < l; k++)
			if (p[i + k] < 0x80 || p[i + k] > 0xbf)
				return 0;
		i += l;
	}
	return 1;
}

/* A NUL-terminated string of n bytes, valid UTF-8, no NUL inside. */
static void
check_text(const char *s, size_t n)
{
	if (s == NULL || strlen(s) != n || !valid_utf8(s, n))
		abort();
}

static void
check_ok(const struct cs_chat_request *req, const struct cs_reqerr *err)
{
	const struct cs_message *m;
	size_t i;

	if (req == NULL || err->fail != CS_FAIL_INVALID ||
	    err->message[0] != '\0')
		abort();
	/* Client instructions may add one; the server prompt is "". */
	if (req->n_messages < 1 || req->n_messages > cfg.max_messages + 1 ||
	    req->messages == NULL)
		abort();
	for (i = 0; i < req->n_messages; i++) {
		m = &req->messages[i];
		if ((unsigned)m->role > CS_ROLE_TOOL)
			abort();
		check_text(m->content, m->content_len);
		if (m->content_len > cfg.max_message_bytes)
			abort();
		if (m->tool_call_id != NULL) {
			if (m->role != CS_ROLE_TOOL)
				abort();
			check_text(m->tool_call_id, strlen(m->tool_call_id));
			if (strlen(m->tool_call_id) > MAX_TOOLID_BYTES)
				abort();
		}
	}
	if (req->model != &cfg.models[0] && req->model != &cfg.models[1])
		abort();
	if (req->has_temperature &&
	    !(req->temperature >= 0.0 && req->temperature <= 2.0))
		abort();
	if (req->max_tokens < 0 || req->max_tokens > MAX_TOKENS_CEIL)
		abort();
	if (strcmp(req->model->name, "capped") == 0 &&
	    (req->max_tokens < 1 || req->max_tokens > 4096))
		abort();
}

static void
check_refused(enum cs_err r, const struct cs_chat_request *req,
    const struct cs_reqerr *err)
{
	const unsigned char *p = (const unsigned char *)err->message;
	size_t n, i;

	if (req != NULL)
		abort();
	switch (r) {
	case CS_EBADINPUT:
		if (err->fail != CS_FAIL_INVALID)
			abort();
		break;
	case CS_ETOOBIG:
		if (err->fail != CS_FAIL_TOO_LARGE)
			abort();
		break;
	case CS_ENOMEM:
	case CS_ECONFIG:
		if (err->fail != CS_FAIL_INTERNAL)
			abort();
		break;
	default: abort();
	}
	if ((n = strnlen(err->message, sizeof(err->message))) == 0 ||
	    n == sizeof(err->message) || !valid_utf8(err->message, n))
		abort();
	for (i = 0; i < n; i++)
		if (p[i] < 0x20 || p[i] == 0x7f)
			abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct cs_chat_request *req, *req2;
	struct cs_reqerr err;
	enum cs_err r, r2;
	char *body;

	/* Exactly size bytes (malloc(0) may be NULL; the parser must not
	 * read an empty body anyway). */
	if ((body = malloc(size > 0 ? size : 1)) == NULL)
		return 0;
	if (size > 0)
		memcpy(body, data, size);

	/* Garbage in the outputs: the parser must set them. */
	memset(&err, 0xff, sizeof(err));
	req = (struct cs_chat_request *)&err;
	r = cs_request_parse(&cfg, body, size, &req, &err);
	req2 = (struct cs_chat_request *)&err;
	r2 = cs_request_parse(&cfg, body, size, &req2, NULL);
	free(body);

	if (r != r2 || (req == NULL) != (req2 == NULL))
		abort();
	if (r == CS_OK)
		check_ok(req, &err);
	else
		check_refused(r, req, &err);
	cs_request_free(req);
	cs_request_free(req2);
	return 0;
}
