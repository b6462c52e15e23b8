/* provider.c — helpers shared by the provider adapters. */
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>
#include <json-c/json.h>

#include "config.h"
#include "provider.h"
#include "utf8.h"

#define URL_MAX  4096
#define BODY_MAX (CS_MAX_REQUEST_BODY * 2)
#define SSE_JSON_DEPTH 64  /* nesting limit for one stream event */

void
cs_http_request_init(struct cs_http_request *hr)
{
	cs_buf_init(&hr->url, URL_MAX);
	cs_buf_init(&hr->body, BODY_MAX);
	hr->headers = NULL;
}

void
cs_http_request_free(struct cs_http_request *hr)
{
	cs_buf_free(&hr->url);
	/* The body may hold the conversation: no secret, but be tidy. */
	cs_buf_free(&hr->body);
	if (hr->headers != NULL) {
		/* Header values hold the API key: wipe before freeing. */
		struct curl_slist *h;

		for (h = hr->headers; h != NULL; h = h->next)
			explicit_bzero(h->data, strlen(h->data));
		curl_slist_free_all(hr->headers);
		hr->headers = NULL;
	}
}

const char *
cs_finish_reason_native(const char *r)
{
	static const char *const known[] = {
		"stop", "length", "tool_calls", "content_filter",
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

/* The index of the first byte at or after i that is not JSON whitespace. */
static size_t
skip_json_ws(const char *s, size_t i, size_t len)
{
	while (i < len && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' ||
	    s[i] == '\r'))
		i++;
	return i;
}

struct json_object *
cs_json_args_object(const char *s, size_t len)
{
	struct json_tokener *tok;
	struct json_object *o = NULL;
	size_t i;

	if (len <= INT_MAX &&
	    (tok = json_tokener_new_ex(CS_JSON_MAX_DEPTH)) != NULL) {
		json_tokener_set_flags(tok, JSON_TOKENER_STRICT);
		o = json_tokener_parse_ex(tok, s, (int)len);
		i = skip_json_ws(s, json_tokener_get_parse_end(tok), len);
		if (o != NULL && (i != len ||
		    !json_object_is_type(o, json_type_object))) {
			json_object_put(o);
			o = NULL;
		}
		json_tokener_free(tok);
	}
	if (o == NULL)
		o = json_object_new_object();
	return o;
}

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
#define UTF8_TMP_MAX(n) ((n) * 3 + 1)

enum cs_err
cs_emit_error(cs_emit_fn emit, void *ctx, const char *type, const char *msg)
{
	struct cs_event ev;
	struct cs_buf tmp;
	enum cs_err r;

	memset(&ev, 0, sizeof(ev));
	ev.type = CS_EV_ERROR;
	ev.error_type = type;
	cs_buf_init(&tmp, msg != NULL ? UTF8_TMP_MAX(strlen(msg)) : 0);
	if (msg != NULL && (msg = valid_utf8(msg, strlen(msg), &tmp, NULL))
	    == NULL)
		msg = "the provider reported an error (its message could not "
		    "be decoded)";
	/* Providers do send {"error":""}: the client still gets a sentence. */
	ev.error_message = msg != NULL && *msg != '\0' ? msg :
	    "the provider reported an error without a message";
	r = emit(ctx, &ev);
	cs_buf_free(&tmp);
	return r != CS_OK ? r : CS_EUPSTREAM;
}

enum cs_err
cs_emit_tool_call(cs_emit_fn emit, void *ctx, const char *id,
    const char *name, const char *args)
{
	struct cs_event ev;
	struct cs_buf t_id, t_name, t_args;
	enum cs_err r = CS_ENOMEM;

	cs_buf_init(&t_id, id != NULL ? UTF8_TMP_MAX(strlen(id)) : 0);
	cs_buf_init(&t_name, name != NULL ? UTF8_TMP_MAX(strlen(name)) : 0);
	cs_buf_init(&t_args, args != NULL ? UTF8_TMP_MAX(strlen(args)) : 0);
	memset(&ev, 0, sizeof(ev));
	ev.type = CS_EV_TOOL_CALL;
	if ((ev.tool_id = valid_utf8(id, id ? strlen(id) : 0, &t_id, NULL))
	    == NULL && id != NULL)
		goto out;
	if ((ev.tool_name = valid_utf8(name, name ? strlen(name) : 0,
	    &t_name, NULL)) == NULL && name != NULL)
		goto out;
	if ((ev.tool_args = valid_utf8(args, args ? strlen(args) : 0,
	    &t_args, NULL)) == NULL && args != NULL)
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

	if (!json_object_is_type(o, json_type_object) ||
	    !json_object_object_get_ex(o, key, &v) ||
	    !json_object_is_type(v, json_type_int) ||
	    json_object_get_int64(v) < 0)
		return CS_USAGE_NONE;
	return json_object_get_int64(v);
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
	if (usage != NULL && (usage->prompt != CS_USAGE_NONE ||
	    usage->completion != CS_USAGE_NONE)) {
		u = *usage;
		if (u.total == CS_USAGE_NONE && u.prompt != CS_USAGE_NONE &&
		    u.completion != CS_USAGE_NONE)
			u.total = u.prompt + u.completion;
		ev.tokens = &u;
	}
	return emit(ctx, &ev);
}

enum cs_err
cs_emit_text(cs_emit_fn emit, void *ctx, int kind, struct json_object *v)
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
	if ((ev.text = valid_utf8(json_object_get_string(v), len, &tmp,
	    &ev.text_len)) != NULL)
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

enum cs_err
cs_http_add_header(struct cs_http_request *hr, const char *h)
{
	struct curl_slist *n;

	if ((n = curl_slist_append(hr->headers, h)) == NULL)
		return CS_ENOMEM;
	hr->headers = n;
	return CS_OK;
}

enum cs_err
cs_http_json_request(struct cs_http_request *hr, struct json_object *body,
    const char *accept, const char *key_header, const char *key)
{
	struct cs_buf h;
	const char *json;
	enum cs_err r;

	cs_buf_init(&h, 8192);
	json = json_object_to_json_string_ext(body, JSON_C_TO_STRING_PLAIN |
	    JSON_C_TO_STRING_NOSLASHESCAPE);
	if (json == NULL) {
		r = CS_ENOMEM;
		goto out;
	}
	if ((r = cs_buf_puts(&hr->body, json)) != CS_OK ||
	    (r = cs_http_add_header(hr, "Content-Type: application/json"))
	    != CS_OK ||
	    (r = cs_buf_printf(&h, "Accept: %s", accept)) != CS_OK ||
	    (r = cs_http_add_header(hr, h.data)) != CS_OK)
		goto out;
	if (key != NULL) {
		cs_buf_reset(&h);
		if ((r = cs_buf_printf(&h, "%s%s", key_header, key)) != CS_OK ||
		    (r = cs_http_add_header(hr, h.data)) != CS_OK)
			goto out;
	}
out:
	/* The buffer may have held the key. */
	if (h.data != NULL)
		explicit_bzero(h.data, h.cap);
	cs_buf_free(&h);
	return r;
}

enum cs_err
cs_sse_base_init(struct cs_sse_adapter_base *b, cs_emit_fn emit, void *ctx,
    cs_sse_cb on_event, void *cb_ctx)
{
	memset(b, 0, sizeof(*b));
	b->emit = emit;
	b->ctx = ctx;
	b->sse = cs_sse_new(CS_MAX_SSE_LINE, CS_MAX_SSE_EVENT, on_event,
	    cb_ctx);
	b->tok = json_tokener_new_ex(SSE_JSON_DEPTH);
	if (b->sse == NULL || b->tok == NULL) {
		cs_sse_base_cleanup(b);
		return CS_ENOMEM;
	}
	return CS_OK;
}

enum cs_err
cs_sse_base_fail(struct cs_sse_adapter_base *b, const char *type,
    const char *msg)
{
	b->failed = 1;
	return cs_emit_error(b->emit, b->ctx, type, msg);
}

enum cs_err
cs_sse_base_feed(struct cs_sse_adapter_base *b, const char *buf, size_t len)
{
	enum cs_err r;

	if (b->failed)
		return CS_EUPSTREAM;
	r = cs_sse_feed(b->sse, buf, len);
	if (r == CS_ETOOBIG && !b->failed)
		return cs_sse_base_fail(b, "upstream_error",
		    "the provider sent an oversized stream event");
	return r;
}

enum cs_err
cs_sse_base_end(struct cs_sse_adapter_base *b, const char *truncated_msg)
{
	cs_sse_end(b->sse);
	if (b->done || b->failed)
		return CS_OK;
	return cs_sse_base_fail(b, "upstream_error", truncated_msg);
}

void
cs_sse_base_cleanup(struct cs_sse_adapter_base *b)
{
	if (b->tok != NULL)
		json_tokener_free(b->tok);
	b->tok = NULL;
	cs_sse_free(b->sse);
	b->sse = NULL;
}

struct json_object *
cs_sse_base_parse(struct cs_sse_adapter_base *b, const struct cs_sse_event *ev)
{
	struct json_object *o;
	size_t i;

	json_tokener_reset(b->tok);
	o = json_tokener_parse_ex(b->tok, ev->data, (int)ev->data_len);
	if (o == NULL)
		return NULL;
	/* One value and nothing else: "{...}garbage" is not a chunk. */
	i = skip_json_ws(ev->data, json_tokener_get_parse_end(b->tok),
	    ev->data_len);
	if (i != ev->data_len) {
		json_object_put(o);
		return NULL;
	}
	return o;
}
