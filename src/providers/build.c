/* providers/build.c — helpers for building upstream requests; see
 * build.h. */
#include <limits.h>
#include <string.h>

#include <curl/curl.h>
#include <json-c/json.h>

#include "build.h"
#include "config.h"
#include "request.h"

#define URL_MAX  4096
#define BODY_MAX (CS_MAX_REQUEST_BODY * 2)

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
	json = json_object_to_json_string_ext(
	    body, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
	if (json == NULL) {
		r = CS_ENOMEM;
		goto out;
	}
	if ((r = cs_buf_puts(&hr->body, json)) != CS_OK ||
	    (r = cs_http_add_header(hr, "Content-Type: application/json")) !=
	        CS_OK ||
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

size_t
cs_json_ws_end(const char *s, size_t i, size_t len)
{
	while (i < len &&
	    (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r'))
		i++;
	return i;
}

/* Tool-call arguments (the client's JSON text, len bytes) as a new JSON
 * object, for the formats that want one: the parsed value if it is one
 * object and nothing else, else {}.  NULL only when out of memory. */
static struct json_object *
args_object(const char *s, size_t len)
{
	struct json_tokener *tok;
	struct json_object *o = NULL;
	size_t i;

	if (len <= INT_MAX &&
	    (tok = json_tokener_new_ex(CS_JSON_MAX_DEPTH)) != NULL) {
		json_tokener_set_flags(tok, JSON_TOKENER_STRICT);
		o = json_tokener_parse_ex(tok, s, (int)len);
		i = cs_json_ws_end(s, json_tokener_get_parse_end(tok), len);
		if (o != NULL &&
		    (i != len || !json_object_is_type(o, json_type_object))) {
			json_object_put(o);
			o = NULL;
		}
		json_tokener_free(tok);
	}
	if (o == NULL)
		o = json_object_new_object();
	return o;
}


/* {"type": type}, plus {"name": name} in it or in its member in. */
static struct json_object *
typed_object(const char *type, const char *in, const char *name)
{
	struct json_object *o, *n;

	if ((o = json_object_new_object()) == NULL)
		return NULL;
	json_object_object_add(o, "type", json_object_new_string(type));
	if (name == NULL)
		return o;
	n = o;
	if (in != NULL) {
		if ((n = json_object_new_object()) == NULL) {
			json_object_put(o);
			return NULL;
		}
		json_object_object_add(o, in, n);
	}
	json_object_object_add(n, "name", json_object_new_string(name));
	return o;
}

struct json_object *
cs_build_tool_choice(
    const struct cs_chat_request *req, const struct cs_tool_choice_shape *sh)
{
	const char *word;

	switch (req->tool_choice) {
	case CS_TOOL_CHOICE_UNSET: return NULL;
	case CS_TOOL_CHOICE_NAMED:
		return typed_object(
		    sh->named_type, sh->named_in, req->tool_choice_name);
	case CS_TOOL_CHOICE_NONE: word = "none"; break;
	case CS_TOOL_CHOICE_REQUIRED: word = sh->required_word; break;
	default: word = "auto"; break;
	}
	if (sh->wrapped)
		return typed_object(word, NULL, NULL);
	return json_object_new_string(word);
}

/* A new object appended to arr (an array); NULL when out of memory. */
static struct json_object *
new_item(struct json_object *arr)
{
	struct json_object *o;

	if ((o = json_object_new_object()) != NULL &&
	    json_object_array_add(arr, o) != 0) {
		json_object_put(o);
		o = NULL;
	}
	return o;
}

/* from[key], when from has it, added to to as to_key (a new reference). */
static void
copy_member(struct json_object *to, const char *to_key,
    struct json_object *from, const char *key)
{
	struct json_object *v;

	if (json_object_object_get_ex(from, key, &v))
		json_object_object_add(to, to_key, json_object_get(v));
}

/* The members of one tool's function fn that shape sh sends, added to t. */
static enum cs_err
tool_members(struct json_object *t, struct json_object *fn,
    const struct cs_tools_shape *sh)
{
	const char *params = sh->params_key ? sh->params_key : "parameters";
	struct json_object *v;

	copy_member(t, "name", fn, "name");
	copy_member(t, "description", fn, "description");
	if (json_object_object_get_ex(fn, "parameters", &v))
		json_object_object_add(t, params, json_object_get(v));
	else if (sh->params_default) {
		if ((v = json_object_new_object()) == NULL)
			return CS_ENOMEM;
		json_object_object_add(t, params, v);
		json_object_object_add(
		    v, "type", json_object_new_string("object"));
		json_object_object_add(
		    v, "properties", json_object_new_object());
	}
	if (sh->strict)
		copy_member(t, "strict", fn, "strict");
	return CS_OK;
}

/* req's tools rebuilt in shape sh, added to tools (an array). */
static enum cs_err
tools_array(struct json_object *tools, const struct cs_chat_request *req,
    const struct cs_tools_shape *sh)
{
	struct json_object *t, *in, *fn;
	enum cs_err r;
	size_t k;

	for (k = 0; k < req->n_tools; k++) {
		fn = json_object_object_get(
		    json_object_array_get_idx(req->tools, k), "function");
		if ((t = new_item(tools)) == NULL)
			return CS_ENOMEM;
		if (sh->type != NULL)
			json_object_object_add(
			    t, "type", json_object_new_string(sh->type));
		in = t;
		if (sh->nested_in != NULL) {
			if ((in = json_object_new_object()) == NULL)
				return CS_ENOMEM;
			json_object_object_add(t, sh->nested_in, in);
		}
		if ((r = tool_members(in, fn, sh)) != CS_OK)
			return r;
	}
	return CS_OK;
}

enum cs_err
cs_build_tools(struct json_object *root, const struct cs_chat_request *req,
    const struct cs_tools_shape *sh)
{
	struct json_object *v;
	enum cs_err r;

	if (req->tools == NULL)
		return CS_OK;
	if (sh->verbatim)
		json_object_object_add(
		    root, "tools", json_object_get(req->tools));
	else {
		if ((v = json_object_new_array()) == NULL)
			return CS_ENOMEM;
		json_object_object_add(root, "tools", v);
		if ((r = tools_array(v, req, sh)) != CS_OK)
			return r;
	}
	if (sh->choice == NULL || req->tool_choice == CS_TOOL_CHOICE_UNSET)
		return CS_OK;
	if ((v = cs_build_tool_choice(req, sh->choice)) == NULL)
		return CS_ENOMEM;
	json_object_object_add(root, "tool_choice", v);
	return CS_OK;
}

enum cs_err
cs_build_tool_calls(struct json_object *arr, const struct cs_message *msg,
    const struct cs_tool_calls_shape *sh)
{
	const struct cs_tool_call *tc;
	struct json_object *o, *in, *args;
	size_t j;

	for (j = 0; j < msg->n_tool_calls; j++) {
		tc = &msg->tool_calls[j];
		if ((o = new_item(arr)) == NULL)
			return CS_ENOMEM;
		if (sh->type != NULL && sh->nested_in == NULL)
			json_object_object_add(
			    o, "type", json_object_new_string(sh->type));
		if (sh->id_key != NULL)
			json_object_object_add(
			    o, sh->id_key, json_object_new_string(tc->id));
		in = o;
		if (sh->nested_in != NULL) {
			if (sh->type != NULL)
				json_object_object_add(o, "type",
				    json_object_new_string(sh->type));
			if ((in = json_object_new_object()) == NULL)
				return CS_ENOMEM;
			json_object_object_add(o, sh->nested_in, in);
		}
		json_object_object_add(
		    in, "name", json_object_new_string(tc->name));
		args = sh->args_object ?
		    args_object(tc->arguments, tc->arguments_len) :
		    json_object_new_string_len(
		        tc->arguments, (int)tc->arguments_len);
		json_object_object_add(in, sh->args_key, args);
	}
	return CS_OK;
}

/* Message m in shape sh (cs_build_chat_body), added to o. */
static enum cs_err
chat_message(struct json_object *o, const struct cs_message *m,
    const struct cs_chat_shape *sh, int developer)
{
	struct json_object *v;

	json_object_object_add(o, "role",
	    json_object_new_string(m->developer && developer ?
	            "developer" :
	            cs_role_name(m->role)));
	if (sh->null_content && m->n_tool_calls > 0 && m->content_len == 0)
		json_object_object_add(o, "content", NULL);
	else
		json_object_object_add(o, "content",
		    json_object_new_string_len(
		        m->content, (int)m->content_len));
	if (m->n_tool_calls > 0) {
		if ((v = json_object_new_array()) == NULL)
			return CS_ENOMEM;
		json_object_object_add(o, "tool_calls", v);
		if (cs_build_tool_calls(v, m, sh->calls) != CS_OK)
			return CS_ENOMEM;
	}
	if (sh->tool_call_id && m->tool_call_id != NULL)
		json_object_object_add(
		    o, "tool_call_id", json_object_new_string(m->tool_call_id));
	return CS_OK;
}

enum cs_err
cs_build_chat_body(const struct cs_chat_request *req,
    const struct cs_chat_shape *sh, int developer, struct json_object **out)
{
	struct json_object *root, *msgs, *o;
	size_t i;

	*out = NULL;
	if ((root = json_object_new_object()) == NULL)
		return CS_ENOMEM;
	json_object_object_add(
	    root, "model", json_object_new_string(cs_request_wire_model(req)));
	if ((msgs = json_object_new_array()) == NULL)
		goto fail;
	json_object_object_add(root, "messages", msgs);
	for (i = 0; i < req->n_messages; i++)
		if ((o = new_item(msgs)) == NULL ||
		    chat_message(o, &req->messages[i], sh, developer) != CS_OK)
			goto fail;
	*out = root;
	return CS_OK;
fail:
	json_object_put(root);
	return CS_ENOMEM;
}

enum cs_err
cs_build_join_system(const struct cs_chat_request *req, struct cs_buf *out,
    int blank_after_empty, size_t *n)
{
	const struct cs_message *m;
	enum cs_err r;
	size_t i;

	*n = 0;
	for (i = 0; i < req->n_messages; i++) {
		m = &req->messages[i];
		if (m->role != CS_ROLE_SYSTEM)
			continue;
		if ((out->len > 0 || (blank_after_empty && *n > 0)) &&
		    (r = cs_buf_puts(out, "\n\n")) != CS_OK)
			return r;
		if ((r = cs_buf_append(out, m->content, m->content_len)) !=
		    CS_OK)
			return r;
		(*n)++;
	}
	return CS_OK;
}

void
cs_build_sampling(struct json_object *o, const struct cs_chat_request *req,
    const char *max_key)
{
	if (req->has_temperature)
		json_object_object_add(
		    o, "temperature", json_object_new_double(req->temperature));
	if (req->max_tokens > 0)
		json_object_object_add(
		    o, max_key, json_object_new_int64(req->max_tokens));
}

void
cs_build_stop(
    struct json_object *o, const struct cs_chat_request *req, const char *key)
{
	if (req->stop != NULL)
		json_object_object_add(o, key, json_object_get(req->stop));
}
