/*
 * event.h — the normalized event stream every provider adapter produces and
 * every downstream encoder consumes.
 *
 * All pointers in an event are borrowed: valid only for the duration of the
 * emit call.
 */
#ifndef CS_EVENT_H
#define CS_EVENT_H

#include <stddef.h>

#include "cs.h"

struct json_object;

/*
 * Token counts from the provider's usage report, the same whatever the
 * provider (docs/protocol.md "finish"): CS_USAGE_NONE where it did not
 * say.  prompt counts every input token, cached ones included; completion
 * every output token, reasoning included; total is their sum unless the
 * provider said otherwise.
 */
#define CS_USAGE_NONE (-1LL)
struct cs_usage {
	long long prompt;
	long long completion;
	long long total;
	long long cached;    /* of prompt: read from the provider's cache */
	long long reasoning; /* of completion: spent on reasoning */
};

enum cs_event_type {
	CS_EV_TEXT,      /* a text delta */
	CS_EV_TOOL_CALL, /* a complete tool call */
	CS_EV_FINISH,    /* the model finished; always last but for errors */
	CS_EV_ERROR,     /* the stream failed; nothing follows */
};

struct cs_event {
	enum cs_event_type type;
	/* CS_EV_TEXT: kind says which channel the text belongs to */
	enum {
		CS_TEXT_CONTENT,
		CS_TEXT_REFUSAL,
		CS_TEXT_REASONING
	} kind;
	const char *text;
	size_t text_len;
	/* CS_EV_TOOL_CALL */
	const char *tool_id;
	const char *tool_name;
	const char *tool_args;
	/* CS_EV_FINISH: reason in the native set (stop, length, tool_calls,
	 * content_filter, other, unknown), the provider's own spelling, and
	 * the token counts (NULL when the provider reported none). */
	const char *finish_reason;
	const char *native_finish_reason;
	const struct cs_usage *tokens;
	/* CS_EV_ERROR */
	const char *error_type;
	const char *error_message;
};

/* Adapters call this for each event.  A non-CS_OK return (e.g.
 * CS_ECLIENTGONE) means stop producing and return that value. */
typedef enum cs_err (*cs_emit_fn)(void *ctx, const struct cs_event *ev);

#endif
