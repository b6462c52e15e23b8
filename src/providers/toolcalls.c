/* providers/toolcalls.c — tool calls gathered until whole; see toolcalls.h. */
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "adapter.h"
#include "toolcalls.h"

enum cs_err
cs_toolcalls_open(struct cs_toolcalls *t, long index, struct cs_toolcall **out)
{
	struct cs_toolcall *c;
	enum cs_err r;

	if ((r = cs_array_reserve(&t->v, &t->cap, t->n, sizeof(*t->v),
	         CS_TOOL_CALLS_MAX)) != CS_OK)
		return r;
	c = &t->v[t->n++];
	memset(c, 0, sizeof(*c));
	c->index = index;
	cs_buf_init(&c->args, CS_TOOL_ARGS_MAX);
	*out = c;
	return CS_OK;
}

struct cs_toolcall *
cs_toolcalls_find(struct cs_toolcalls *t, long index, int open_only)
{
	size_t i;

	for (i = t->n; i > 0; i--)
		if (t->v[i - 1].index == index &&
		    (!open_only || !t->v[i - 1].emitted))
			return &t->v[i - 1];
	return NULL;
}

enum cs_err
cs_toolcall_emit(struct cs_toolcall *c, cs_emit_fn emit, void *ctx)
{
	const char *args = c->args.data ? c->args.data : "";

	if (c->emitted)
		return CS_OK;
	c->emitted = 1;
	/* No argument text at all: the call's own input object, when it is
	 * not the usual empty placeholder. */
	if (c->args.len == 0 && c->input != NULL &&
	    json_object_is_type(c->input, json_type_object) &&
	    json_object_object_length(c->input) > 0)
		args = json_object_to_json_string_ext(c->input,
		    JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
	return cs_emit_tool_call(emit, ctx, c->id, c->name, args);
}

enum cs_err
cs_toolcalls_emit_all(struct cs_toolcalls *t, cs_emit_fn emit, void *ctx)
{
	enum cs_err r;
	size_t i;

	for (i = 0; i < t->n; i++)
		if ((r = cs_toolcall_emit(&t->v[i], emit, ctx)) != CS_OK)
			return r;
	return CS_OK;
}

size_t
cs_toolcalls_emitted(const struct cs_toolcalls *t)
{
	size_t i, n = 0;

	for (i = 0; i < t->n; i++)
		n += t->v[i].emitted != 0;
	return n;
}

void
cs_toolcalls_free(struct cs_toolcalls *t)
{
	size_t i;

	for (i = 0; i < t->n; i++) {
		cs_buf_free(&t->v[i].args);
		json_object_put(t->v[i].input);
	}
	free(t->v);
	memset(t, 0, sizeof(*t));
}
