/*
 * failure.h — every way a request can end, and every way it can fail, each
 * named once.
 *
 * An outcome is what the access log records for a request (outcome=...).
 * A failure is one row of a table: the HTTP status its client gets while
 * nothing has been sent yet, the error type its JSON body or error event
 * names, and the outcome it is logged as.  Code that refuses or aborts a
 * request names the row (cs_stream_fail), never the three values.
 */
#ifndef CS_FAILURE_H
#define CS_FAILURE_H

enum cs_outcome {
	CS_OUTCOME_DONE,           /* answered in full */
	CS_OUTCOME_NO_CONTENT,     /* 204 to a reconnecting EventSource */
	CS_OUTCOME_CLIENT_GONE,    /* the client left */
	CS_OUTCOME_SLOW_CLIENT,    /* it stopped taking the answer */
	CS_OUTCOME_BAD_REQUEST,    /* refused: the request was wrong */
	CS_OUTCOME_READ_TIMEOUT,   /* the request did not arrive in time */
	CS_OUTCOME_OVERLOADED,     /* refused: no capacity */
	CS_OUTCOME_TIMEOUT,        /* the provider did not answer in time */
	CS_OUTCOME_UPSTREAM_ERROR, /* the provider failed */
	CS_OUTCOME_INTERNAL_ERROR, /* chatstream failed */
	CS_OUTCOME_SHUTDOWN,       /* the server is stopping */
	CS_OUTCOME_LIMITED,        /* refused by admission: a limit, a
	                              budget, a key (admit.h) */
};

/* The log spelling ("done", "client_gone", ...). */
const char *cs_outcome_name(enum cs_outcome o);

enum cs_fail {
	CS_FAIL_INVALID,          /* 400 invalid_request */
	CS_FAIL_TOO_LARGE,        /* 413 invalid_request */
	CS_FAIL_MEDIA_TYPE,       /* 415 invalid_request */
	CS_FAIL_METHOD,           /* 405 invalid_request (+ Allow) */
	CS_FAIL_FORBIDDEN,        /* 403 forbidden */
	CS_FAIL_NOT_FOUND,        /* 404 not_found */
	CS_FAIL_MODEL_NOT_FOUND,  /* 404 model_not_found */
	CS_FAIL_BODY_TIMEOUT,     /* 408 request_timeout */
	CS_FAIL_OVERLOADED,       /* 503 overloaded */
	CS_FAIL_BUSY,             /* 503 server_busy (a limited endpoint) */
	CS_FAIL_SHUTDOWN,         /* 503 server_shutdown */
	CS_FAIL_INTERNAL,         /* 500 internal_error */
	CS_FAIL_UPSTREAM,         /* 502 upstream_error */
	CS_FAIL_UPSTREAM_AUTH,    /* 502 upstream_auth_error */
	CS_FAIL_RATE_LIMITED,     /* 429 rate_limited */
	CS_FAIL_UPSTREAM_TIMEOUT, /* 504 upstream_timeout */
	/* admission (admit.h), logged as outcome limited */
	CS_FAIL_UNAUTHORIZED,      /* 401 unauthorized: no or a wrong key */
	CS_FAIL_MODEL_NOT_ALLOWED, /* 403 model_not_allowed for this key */
	CS_FAIL_LIMITED,           /* 429 rate_limited: rate, concurrency */
	CS_FAIL_BUDGET,            /* 429 budget_exceeded: tokens a day */
	CS_FAIL_STATE,             /* 503 state_unavailable: the store */
	CS_FAIL_COOLING, /* 503 upstream_unavailable: all cooling down */
	CS_FAIL_COUNT
};

struct cs_failure {
	int status;              /* HTTP status, before the first byte */
	const char *type;        /* error type in the body or event */
	enum cs_outcome outcome; /* for the access log */
};

/* The row of f (a value out of range gets CS_FAIL_INTERNAL's). */
const struct cs_failure *cs_failure(enum cs_fail f);

/* The failure an error event of this type stands for, where an event has
 * to become a status after all (a deferred answer): upstream_timeout is
 * CS_FAIL_UPSTREAM_TIMEOUT, any other type a provider's, CS_FAIL_UPSTREAM
 * -- an adapter reports every provider-side failure as an event. */
enum cs_fail cs_failure_of_event(const char *type);

#endif
