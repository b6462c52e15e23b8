/*
 * fuzz_translate.h — what the harnesses of the request translations
 * (fuzz_request_ui.c, fuzz_v1_api.c) share: the real config they
 * parse the native result with, and the check of a refusal.  Header-only,
 * included by each harness; abort() is the finding.
 */
#ifndef CS_FUZZ_TRANSLATE_H
#define CS_FUZZ_TRANSLATE_H

#include <locale.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "provider.h"
#include "request.h"

/* cfg: cs_config_defaults() + cs_config_resolve() on the demo provider,
 * max_body_bytes max_body; UTF-8 for mbstowcs().  who names the harness
 * in the message when that fails. */
static inline void
fuzz_demo_config(struct cs_config *cfg, size_t max_body, const char *who)
{
	char msg[256];

	if (setlocale(LC_CTYPE, "C.UTF-8") == NULL)
		abort();
	cs_config_defaults(cfg);
	cfg->upstreams[0].provider = cs_provider_find("demo");
	cfg->max_body_bytes = max_body;
	if (cs_config_resolve(cfg, msg, sizeof(msg)) != CS_OK) {
		fprintf(stderr, "%s: config: %s\n", who, msg);
		abort();
	}
}

/* A refusal: the failure that goes with r, a non-empty message; with
 * echo also valid UTF-8 without control characters. */
static inline void
fuzz_check_refusal(enum cs_err r, const struct cs_reqerr *err, int echo)
{
	const unsigned char *p = (const unsigned char *)err->message;
	size_t n, i;

	if (!((r == CS_EBADINPUT && err->fail == CS_FAIL_INVALID) ||
	        (r == CS_ETOOBIG && err->fail == CS_FAIL_TOO_LARGE) ||
	        ((r == CS_ENOMEM || r == CS_ECONFIG) &&
	            err->fail == CS_FAIL_INTERNAL)))
		abort();
	if ((n = strnlen(err->message, sizeof(err->message))) == 0 ||
	    n == sizeof(err->message))
		abort();
	if (!echo)
		return;
	if (mbstowcs(NULL, err->message, 0) == (size_t)-1)
		abort();
	for (i = 0; i < n; i++)
		if (p[i] < 0x20 || p[i] == 0x7f)
			abort();
}

/* A translation's native request (len bytes) through cs_request_parse():
 * accepted with a model and at least one message, or refused as
 * fuzz_check_refusal() expects. */
static inline void
fuzz_check_parse(
    const struct cs_config *cfg, const char *text, size_t len, int echo)
{
	struct cs_chat_request *req = NULL;
	struct cs_reqerr err;
	enum cs_err r;

	memset(&err, 0, sizeof(err));
	r = cs_request_parse(cfg, text, len, &req, &err);
	if (r == CS_OK) {
		if (req == NULL || req->n_messages < 1 ||
		    req->messages == NULL || req->model == NULL)
			abort();
	} else {
		if (req != NULL)
			abort();
		fuzz_check_refusal(r, &err, echo);
	}
	cs_request_free(req);
}

#endif
