/* provider.c — helpers shared by the provider adapters. */
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>
#include <json-c/json.h>

#include "config.h"
#include "provider.h"

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

const struct cs_provider *
cs_provider_for(int kind)
{
	switch ((enum cs_provider_kind)kind) {
	case CS_PROVIDER_OPENAI_CHAT:        return &cs_provider_openai_chat;
	case CS_PROVIDER_OPENAI_RESPONSES:   return &cs_provider_openai_responses;
	case CS_PROVIDER_OPENAI_COMPLETIONS: return &cs_provider_openai_completions;
	case CS_PROVIDER_ANTHROPIC:          return &cs_provider_anthropic;
	case CS_PROVIDER_OLLAMA:             return &cs_provider_ollama;
	case CS_PROVIDER_DEMO:
	case CS_PROVIDER_AUTO:
		break;
	}
	return &cs_provider_demo;
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
		i = json_tokener_get_parse_end(tok);
		while (i < len && (s[i] == ' ' || s[i] == '\t' ||
		    s[i] == '\n' || s[i] == '\r'))
			i++;
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
