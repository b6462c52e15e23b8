/*
 * providers/openai_completions.c — OpenAI legacy completions and
 * compatible servers (POST {base_url}/completions, stream:true).
 *
 * The conversation is rendered as a plain transcript ("System: ...",
 * "User: ...", "Assistant: ...") ending with "Assistant:" for the model to
 * continue.  The stream is the Chat Completions one with choices[0].text
 * for the delta, so the parser is openai_chat.c's (openai_stream.h).
 */
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>
#include <json-c/json.h>

#include "config.h"
#include "provider.h"
#include "request.h"
#include "openai_stream.h"

#define PROMPT_MAX (CS_MAX_REQUEST_BODY * 2)

/* The speaker label of a transcript turn. */
static const char *
turn_label(enum cs_role role)
{
	switch (role) {
	case CS_ROLE_SYSTEM: return "System";
	case CS_ROLE_USER: return "User";
	case CS_ROLE_ASSISTANT: return "Assistant";
	case CS_ROLE_TOOL: return "Tool";
	}
	return "User";
}

/*
 * "System: ...\n\nUser: ...\n\nAssistant: ...\n\n...Assistant:".  The
 * legacy API has no tools: the request's tools are not sent, an
 * assistant's tool calls become "Assistant called NAME(ARGUMENTS)" lines
 * after its text (an empty text is left out) and tool results "Tool: ...".
 */
static enum cs_err
render_prompt(const struct cs_chat_request *req, struct cs_buf *p)
{
	const struct cs_message *m;
	const struct cs_tool_call *tc;
	enum cs_err r;
	size_t i, j;

	for (i = 0; i < req->n_messages; i++) {
		m = &req->messages[i];
		if ((m->role != CS_ROLE_ASSISTANT || m->content_len > 0) &&
		    ((r = cs_buf_printf(p, "%s: ", turn_label(m->role))) !=
		            CS_OK ||
		        (r = cs_buf_append(p, m->content, m->content_len)) !=
		            CS_OK ||
		        (r = cs_buf_puts(p, "\n\n")) != CS_OK))
			return r;
		for (j = 0; j < m->n_tool_calls; j++) {
			tc = &m->tool_calls[j];
			if ((r = cs_buf_printf(p, "Assistant called %s(",
			         tc->name)) != CS_OK ||
			    (r = cs_buf_append(p, tc->arguments,
			         tc->arguments_len)) != CS_OK ||
			    (r = cs_buf_puts(p, ")\n\n")) != CS_OK)
				return r;
		}
	}
	return cs_buf_puts(p, "Assistant:");
}

static enum cs_err
oc_build(const struct cs_upstream_cfg *up, const struct cs_chat_request *req,
    struct cs_http_request *hr)
{
	struct json_object *root = NULL;
	struct cs_buf prompt;
	enum cs_err r = CS_ENOMEM;

	cs_buf_init(&prompt, PROMPT_MAX);
	if ((r = cs_buf_printf(&hr->url, "%s/completions", up->base_url_eff)) !=
	        CS_OK ||
	    (r = render_prompt(req, &prompt)) != CS_OK)
		goto fail;
	r = CS_ENOMEM;
	if ((root = json_object_new_object()) == NULL)
		goto fail;
	json_object_object_add(
	    root, "model", json_object_new_string(cs_request_wire_model(req)));
	json_object_object_add(root, "prompt",
	    json_object_new_string_len(prompt.data, (int)prompt.len));
	if (cs_openai_stream_options(root, req) != CS_OK)
		goto fail;
	r = cs_http_json_request(
	    hr, root, "text/event-stream", CS_OPENAI_AUTH_HEADER, up->api_key);
fail:
	cs_buf_free(&prompt);
	json_object_put(root);
	return r;
}

const struct cs_provider cs_provider_openai_completions = {
	.name = "openai-completions",
	CS_OPENAI_DEFAULTS,
	.model = "gpt-3.5-turbo-instruct",
	.build = oc_build,
	.adapter = &cs_sse_adapter,
	.sse = &cs_openai_sse,
	.no_response_format = "use a model of an upstream with provider = "
	                      "openai-chat or openai-responses",
};
