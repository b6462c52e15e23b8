/*
 * providers/toolcalls.h — the tool calls an adapter gathers from a
 * provider's stream until they are whole: one per call the provider
 * opened, its id, name and arguments (a JSON text, as it arrives), each
 * emitted once (cs_emit_tool_call).  How fragments find their call is the
 * wire format's own (index, block, output item): the adapter looks them
 * up with cs_toolcalls_find or walks v itself.
 */
#ifndef CS_TOOLCALLS_H
#define CS_TOOLCALLS_H

#include <stddef.h>

#include "buf.h"
#include "cs.h"
#include "event.h"

#define CS_TOOL_CALLS_MAX 64            /* calls in one answer */
#define CS_TOOL_ARGS_MAX  (1024 * 1024) /* one call's arguments */
#define CS_TOOL_FIELD_MAX 256           /* its id, its name */

struct json_object;

struct cs_toolcall {
	long index; /* the wire format's position */
	int emitted;
	char id[CS_TOOL_FIELD_MAX];
	char name[CS_TOOL_FIELD_MAX];
	struct cs_buf args;        /* at most CS_TOOL_ARGS_MAX */
	struct json_object *input; /* owned, or NULL: the arguments as an
	                                object, used when args stayed empty */
};

/* Zero it to start; grown as calls open. */
struct cs_toolcalls {
	struct cs_toolcall *v;
	size_t n, cap;
};

/* Open a new call at index: *out.  CS_ETOOBIG past CS_TOOL_CALLS_MAX,
 * CS_ENOMEM. */
enum cs_err
cs_toolcalls_open(struct cs_toolcalls *t, long index, struct cs_toolcall **out);
/* The newest call at index (when open_only, the newest not yet emitted),
 * or NULL. */
struct cs_toolcall *
cs_toolcalls_find(struct cs_toolcalls *t, long index, int open_only);
/* Emit c (once: a call already emitted is skipped). */
enum cs_err cs_toolcall_emit(struct cs_toolcall *c, cs_emit_fn emit, void *ctx);
/* Emit every call not yet emitted, in the order they opened. */
enum cs_err
cs_toolcalls_emit_all(struct cs_toolcalls *t, cs_emit_fn emit, void *ctx);
/* Calls emitted so far. */
size_t cs_toolcalls_emitted(const struct cs_toolcalls *t);
void cs_toolcalls_free(struct cs_toolcalls *t);

#endif
