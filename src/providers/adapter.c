/* providers/adapter.c — the adapter runtime; see adapter.h. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "adapter.h"
#include "build.h"
#include "provider.h"
#include "utf8.h"

#define SSE_JSON_DEPTH 64 /* nesting limit for one stream event */

/*
 * s as valid UTF-8: s itself, or its repaired copy in tmp (which the
 * caller frees).  NULL when the copy could not be made.  *len (may be
 * NULL) gets the length.
 */
static const char *
valid_utf8(const char *s, size_t n, struct cs_buf *tmp, size_t *len)
{
	if (len != NULL)
		*len = n;
	if (s == NULL || cs_utf8_valid_len(s, n) == n)
		return s;
	if (cs_utf8_sanitize(s, n, tmp) != CS_OK)
		return NULL;
	if (len != NULL)
		*len = tmp->len;
	return tmp->data;
}

/* Room for the repaired copy of n bytes: a bad byte becomes 3. */
#define UTF8_TMP_MAX(n) ((n)*3 + 1)

static enum cs_err
emit_error(cs_emit_fn emit, void *ctx, const char *type, const char *msg)
{
	struct cs_event ev;
	struct cs_buf tmp;
	enum cs_err r;

	memset(&ev, 0, sizeof(ev));
	ev.type = CS_EV_ERROR;
	ev.error_type = type;
	cs_buf_init(&tmp, msg != NULL ? UTF8_TMP_MAX(strlen(msg)) : 0);
	if (msg != NULL &&
	    (msg = valid_utf8(msg, strlen(msg), &tmp, NULL)) == NULL)
		msg = "the provider reported an error (its message could not "
		      "be decoded)";
	/* Providers do send {"error":""}: the client still gets a sentence. */
	ev.error_message = msg != NULL && *msg != '\0' ?
	    msg :
	    "the provider reported an error without a message";
	r = emit(ctx, &ev);
	cs_buf_free(&tmp);
	return r != CS_OK ? r : CS_EUPSTREAM;
}

enum cs_err
cs_emit_tool_call(cs_emit_fn emit, void *ctx, const char *id, const char *name,
    const char *args)
{
	struct cs_event ev;
	struct cs_buf t_id, t_name, t_args;
	enum cs_err r = CS_ENOMEM;

	cs_buf_init(&t_id, id != NULL ? UTF8_TMP_MAX(strlen(id)) : 0);
	cs_buf_init(&t_name, name != NULL ? UTF8_TMP_MAX(strlen(name)) : 0);
	cs_buf_init(&t_args, args != NULL ? UTF8_TMP_MAX(strlen(args)) : 0);
	memset(&ev, 0, sizeof(ev));
	ev.type = CS_EV_TOOL_CALL;
	if ((ev.tool_id = valid_utf8(id, id ? strlen(id) : 0, &t_id, NULL)) ==
	        NULL &&
	    id != NULL)
		goto out;
	if ((ev.tool_name = valid_utf8(
	         name, name ? strlen(name) : 0, &t_name, NULL)) == NULL &&
	    name != NULL)
		goto out;
	if ((ev.tool_args = valid_utf8(
	         args, args ? strlen(args) : 0, &t_args, NULL)) == NULL &&
	    args != NULL)
		goto out;
	r = emit(ctx, &ev);
out:
	cs_buf_free(&t_id);
	cs_buf_free(&t_name);
	cs_buf_free(&t_args);
	return r;
}

long long
cs_json_count(struct json_object *o, const char *key)
{
	struct json_object *v;
	int64_t n;

	if (!json_object_is_type(o, json_type_object) ||
	    !json_object_object_get_ex(o, key, &v) ||
	    !json_object_is_type(v, json_type_int))
		return CS_USAGE_NONE;
	n = json_object_get_int64(v);
	return n >= 0 && n <= CS_USAGE_MAX ? (long long)n : CS_USAGE_NONE;
}

enum cs_err
cs_emit_finish(cs_emit_fn emit, void *ctx, const char *reason,
    const char *native, const struct cs_usage *usage)
{
	struct cs_event ev;
	struct cs_usage u;

	memset(&ev, 0, sizeof(ev));
	ev.type = CS_EV_FINISH;
	ev.finish_reason = reason;
	ev.native_finish_reason = native;
	if (usage != NULL &&
	    (usage->prompt != CS_USAGE_NONE ||
	        usage->completion != CS_USAGE_NONE)) {
		u = *usage;
		if (u.total == CS_USAGE_NONE && u.prompt != CS_USAGE_NONE &&
		    u.completion != CS_USAGE_NONE)
			u.total = u.prompt + u.completion;
		ev.tokens = &u;
	}
	return emit(ctx, &ev);
}

static enum cs_err
emit_text(cs_emit_fn emit, void *ctx, int kind, struct json_object *v)
{
	struct cs_event ev;
	struct cs_buf tmp;
	size_t len;
	enum cs_err r = CS_ENOMEM;

	if (v == NULL || !json_object_is_type(v, json_type_string))
		return CS_OK;
	len = (size_t)json_object_get_string_len(v);
	if (len == 0)
		return CS_OK;
	memset(&ev, 0, sizeof(ev));
	ev.type = CS_EV_TEXT;
	ev.kind = kind;
	/* json-c passes invalid UTF-8 in a string through as it came. */
	cs_buf_init(&tmp, UTF8_TMP_MAX(len));
	if ((ev.text = valid_utf8(
	         json_object_get_string(v), len, &tmp, &ev.text_len)) != NULL)
		r = emit(ctx, &ev);
	cs_buf_free(&tmp);
	return r;
}

void
cs_json_copy_str(char *dst, size_t dstlen, struct json_object *v)
{
	const char *s;
	size_t n;

	if (v == NULL || !json_object_is_type(v, json_type_string))
		return;
	s = json_object_get_string(v);
	n = strlen(s);
	if (n >= dstlen)
		n = dstlen - 1;
	memcpy(dst, s, n);
	dst[n] = '\0';
}

const char *
cs_finish_reason_native(const char *r)
{
	static const char *const known[] = {
		"stop",
		"length",
		"tool_calls",
		"content_filter",
	};
	size_t i;

	if (r == NULL)
		return "unknown";
	for (i = 0; i < CS_ARRAY_LEN(known); i++)
		if (strcmp(r, known[i]) == 0)
			return known[i];
	if (strcmp(r, "function_call") == 0)
		return "tool_calls";
	return "other";
}

enum cs_err
cs_array_reserve(void *arrp, size_t *cap, size_t n, size_t elem, size_t max)
{
	void *old, *p;
	size_t ncap;

	if (n < *cap)
		return CS_OK;
	if (n >= max)
		return CS_ETOOBIG;
	ncap = *cap == 0 ? 4 : *cap * 2;
	if (ncap > max)
		ncap = max;
	/* The pointer is copied as bytes: arrp points at a T *, not a
	 * void *. */
	memcpy(&old, arrp, sizeof(old));
	if ((p = realloc(old, ncap * elem)) == NULL)
		return CS_ENOMEM;
	memset((char *)p + *cap * elem, 0, (ncap - *cap) * elem);
	memcpy(arrp, &p, sizeof(p));
	*cap = ncap;
	return CS_OK;
}

enum cs_err
cs_adapter_base_init(struct cs_adapter_base *b, cs_emit_fn emit, void *ctx)
{
	b->emit = emit;
	b->ctx = ctx;
	if ((b->tok = json_tokener_new_ex(SSE_JSON_DEPTH)) == NULL)
		return CS_ENOMEM;
	return CS_OK;
}

void
cs_adapter_base_cleanup(struct cs_adapter_base *b)
{
	if (b->tok != NULL)
		json_tokener_free(b->tok);
	b->tok = NULL;
	cs_sse_free(b->sse);
	b->sse = NULL;
	cs_toolcalls_free(&b->calls);
}

enum cs_err
cs_adapter_fail(struct cs_adapter_base *b, const char *type, const char *msg)
{
	b->failed = 1;
	return emit_error(b->emit, b->ctx, type, msg);
}

enum cs_err
cs_adapter_error(struct cs_adapter_base *b, struct json_object *err)
{
	struct json_object *m = NULL;
	const char *msg = "the provider reported an error";

	if (json_object_is_type(err, json_type_object) &&
	    json_object_object_get_ex(err, "message", &m) &&
	    json_object_is_type(m, json_type_string))
		msg = json_object_get_string(m);
	else if (json_object_is_type(err, json_type_string))
		msg = json_object_get_string(err);
	return cs_adapter_fail(b, "upstream_error", msg);
}

enum cs_err
cs_adapter_text(struct cs_adapter_base *b, int kind, struct json_object *v)
{
	return emit_text(b->emit, b->ctx, kind, v);
}

enum cs_err
cs_adapter_finish(struct cs_adapter_base *b, const char *reason,
    const char *native, const struct cs_usage *usage)
{
	b->done = 1;
	return cs_emit_finish(b->emit, b->ctx, reason, native, usage);
}

struct json_object *
cs_adapter_parse(struct cs_adapter_base *b, const struct cs_sse_event *ev)
{
	struct json_object *o;
	size_t i;

	json_tokener_reset(b->tok);
	o = json_tokener_parse_ex(b->tok, ev->data, (int)ev->data_len);
	if (o == NULL)
		return NULL;
	/* One value and nothing else: "{...}garbage" is not a chunk. */
	i = cs_json_ws_end(
	    ev->data, json_tokener_get_parse_end(b->tok), ev->data_len);
	if (i != ev->data_len) {
		json_object_put(o);
		return NULL;
	}
	return o;
}

/* The SSE parser's callback: the format's handler, until the end. */
static enum cs_err
sse_dispatch(void *ctx, const struct cs_sse_event *ev)
{
	struct cs_adapter_base *b = ctx;

	if (b->done || b->failed)
		return CS_OK; /* e.g. a moderation chunk after [DONE] */
	return b->fmt->on_event(b, ev);
}

static void
sse_free(struct cs_adapter *a)
{
	struct cs_adapter_base *b = (struct cs_adapter_base *)a;

	if (b == NULL)
		return;
	if (b->fmt->cleanup != NULL)
		b->fmt->cleanup(b);
	cs_adapter_base_cleanup(b);
	free(b);
}

static struct cs_adapter *
sse_new(const struct cs_provider *p, cs_emit_fn emit, void *ctx)
{
	const struct cs_sse_format *fmt = p->sse;
	struct cs_adapter_base *b;

	if ((b = calloc(1, fmt->size)) == NULL)
		return NULL;
	b->fmt = fmt;
	if (cs_adapter_base_init(b, emit, ctx) != CS_OK ||
	    (b->sse = cs_sse_new(
	         CS_MAX_SSE_LINE, CS_MAX_SSE_EVENT, sse_dispatch, b)) == NULL ||
	    (fmt->init != NULL && fmt->init(b) != CS_OK)) {
		sse_free((struct cs_adapter *)b);
		return NULL;
	}
	return (struct cs_adapter *)b;
}

static enum cs_err
sse_feed(struct cs_adapter *a, const char *buf, size_t len)
{
	struct cs_adapter_base *b = (struct cs_adapter_base *)a;
	enum cs_err r;

	if (b->failed)
		return CS_EUPSTREAM;
	r = cs_sse_feed(b->sse, buf, len);
	if (r == CS_ETOOBIG && !b->failed)
		return cs_adapter_fail(b, "upstream_error",
		    "the provider sent an oversized stream event");
	return r;
}

static enum cs_err
sse_end(struct cs_adapter *a)
{
	struct cs_adapter_base *b = (struct cs_adapter_base *)a;

	cs_sse_end(b->sse);
	if (b->done || b->failed)
		return CS_OK;
	return cs_adapter_fail(b, "upstream_error", b->fmt->truncated);
}

const struct cs_adapter_ops cs_sse_adapter = {
	.new = sse_new,
	.feed = sse_feed,
	.end = sse_end,
	.free = sse_free,
};
