/* failure.c — outcomes and the failure table; see failure.h. */
#include <string.h>

#include "cs.h"
#include "failure.h"

static const char *const outcome_names[] = {
	[CS_OUTCOME_DONE] = "done",
	[CS_OUTCOME_NO_CONTENT] = "no_content",
	[CS_OUTCOME_CLIENT_GONE] = "client_gone",
	[CS_OUTCOME_SLOW_CLIENT] = "slow_client",
	[CS_OUTCOME_BAD_REQUEST] = "bad_request",
	[CS_OUTCOME_READ_TIMEOUT] = "read_timeout",
	[CS_OUTCOME_OVERLOADED] = "overloaded",
	[CS_OUTCOME_TIMEOUT] = "timeout",
	[CS_OUTCOME_UPSTREAM_ERROR] = "upstream_error",
	[CS_OUTCOME_INTERNAL_ERROR] = "internal_error",
	[CS_OUTCOME_SHUTDOWN] = "shutdown",
	[CS_OUTCOME_LIMITED] = "limited",
};

static const struct cs_failure failures[CS_FAIL_COUNT] = {
	[CS_FAIL_INVALID] = { 400, "invalid_request", CS_OUTCOME_BAD_REQUEST },
	[CS_FAIL_TOO_LARGE] = { 413, "invalid_request",
	    CS_OUTCOME_BAD_REQUEST },
	[CS_FAIL_MEDIA_TYPE] = { 415, "invalid_request",
	    CS_OUTCOME_BAD_REQUEST },
	[CS_FAIL_METHOD] = { 405, "invalid_request", CS_OUTCOME_BAD_REQUEST },
	[CS_FAIL_FORBIDDEN] = { 403, "forbidden", CS_OUTCOME_BAD_REQUEST },
	[CS_FAIL_NOT_FOUND] = { 404, "not_found", CS_OUTCOME_BAD_REQUEST },
	[CS_FAIL_MODEL_NOT_FOUND] = { 404, "model_not_found",
	    CS_OUTCOME_BAD_REQUEST },
	[CS_FAIL_BODY_TIMEOUT] = { 408, "request_timeout",
	    CS_OUTCOME_READ_TIMEOUT },
	[CS_FAIL_OVERLOADED] = { 503, "overloaded", CS_OUTCOME_OVERLOADED },
	[CS_FAIL_BUSY] = { 503, "server_busy", CS_OUTCOME_OVERLOADED },
	[CS_FAIL_SHUTDOWN] = { 503, "server_shutdown", CS_OUTCOME_SHUTDOWN },
	[CS_FAIL_INTERNAL] = { 500, "internal_error",
	    CS_OUTCOME_INTERNAL_ERROR },
	[CS_FAIL_UPSTREAM] = { 502, "upstream_error",
	    CS_OUTCOME_UPSTREAM_ERROR },
	[CS_FAIL_UPSTREAM_AUTH] = { 502, "upstream_auth_error",
	    CS_OUTCOME_UPSTREAM_ERROR },
	[CS_FAIL_RATE_LIMITED] = { 429, "rate_limited",
	    CS_OUTCOME_UPSTREAM_ERROR },
	[CS_FAIL_UPSTREAM_TIMEOUT] = { 504, "upstream_timeout",
	    CS_OUTCOME_TIMEOUT },
	[CS_FAIL_UNAUTHORIZED] = { 401, "unauthorized", CS_OUTCOME_LIMITED },
	[CS_FAIL_MODEL_NOT_ALLOWED] = { 403, "model_not_allowed",
	    CS_OUTCOME_LIMITED },
	[CS_FAIL_LIMITED] = { 429, "rate_limited", CS_OUTCOME_LIMITED },
	[CS_FAIL_BUDGET] = { 429, "budget_exceeded", CS_OUTCOME_LIMITED },
	[CS_FAIL_STATE] = { 503, "state_unavailable", CS_OUTCOME_LIMITED },
	[CS_FAIL_COOLING] = { 503, "upstream_unavailable",
	    CS_OUTCOME_UPSTREAM_ERROR },
};

const char *
cs_outcome_name(enum cs_outcome o)
{
	if ((unsigned)o >= CS_ARRAY_LEN(outcome_names) ||
	    outcome_names[o] == NULL)
		return "internal_error";
	return outcome_names[o];
}

const struct cs_failure *
cs_failure(enum cs_fail f)
{
	if ((unsigned)f >= CS_FAIL_COUNT)
		f = CS_FAIL_INTERNAL;
	return &failures[f];
}

enum cs_fail
cs_failure_of_event(const char *type)
{
	return type != NULL &&
	        strcmp(type, failures[CS_FAIL_UPSTREAM_TIMEOUT].type) == 0 ?
	    CS_FAIL_UPSTREAM_TIMEOUT :
	    CS_FAIL_UPSTREAM;
}
