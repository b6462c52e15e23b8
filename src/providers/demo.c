/*
 * providers/demo.c — the built-in offline provider.
 *
 * Streams a deterministic Markdown reply built from the user's last message,
 * one word at a time at demo_words_per_second, then a finish event with
 * usage.  It is the default when no API key is configured, so anyone can
 * check that their web server really streams without spending tokens.
 */
#include <stdio.h>
#include <string.h>

#include <json-c/json.h>

#include "config.h"
#include "provider.h"
#include "request.h"
#include "stream.h"

#define DEMO_REPLY_MAX 4096
#define DEMO_ECHO_MAX  200

static size_t
count_words(const char *s)
{
	size_t n = 0;
	int in = 0;

	for (; *s != '\0'; s++) {
		if (*s == ' ' || *s == '\n' || *s == '\t' || *s == '\r')
			in = 0;
		else if (!in) {
			in = 1;
			n++;
		}
	}
	return n;
}

/* Copy at most max bytes of s into b as one line, without cutting a UTF-8
 * sequence. */
static enum cs_err
echo_line(struct cs_buf *b, const char *s, size_t max)
{
	size_t n = strlen(s), i;
	enum cs_err r;

	if (n > max) {
		n = max;
		while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80)
			n--;
	}
	for (i = 0; i < n; i++) {
		char c = (s[i] == '\n' || s[i] == '\r') ? ' ' : s[i];

		if ((r = cs_buf_append(b, &c, 1)) != CS_OK)
			return r;
	}
	return n < strlen(s) ? cs_buf_puts(b, "…") : CS_OK;
}

static enum cs_err
demo_text(const struct cs_chat_request *req, struct cs_buf *b)
{
	const char *last = cs_request_last_user(req);
	enum cs_err r;

	if ((r = cs_buf_puts(b, "Hello! This is the **chatstream demo "
	    "provider**. No API key is configured, so this answer is made on "
	    "the server and streamed to you word by word.\n\n")) != CS_OK)
		return r;
	if (last[0] != '\0') {
		if ((r = cs_buf_puts(b, "You said: *")) != CS_OK ||
		    (r = echo_line(b, last, DEMO_ECHO_MAX)) != CS_OK ||
		    (r = cs_buf_puts(b, "*\n\n")) != CS_OK)
			return r;
	}
	return cs_buf_printf(b, "- If these words appeared one by one, "
	    "streaming works through your web server.\n"
	    "- Model: `%s`, %zu message(s) in this conversation.\n"
	    "- Set `OPENAI_API_KEY`, or `api_key_file` in chatstream.conf, to "
	    "talk to a real model.\n", req->model->name, req->n_messages);
}

static enum cs_err
demo_run(const struct cs_config *cfg, const struct cs_chat_request *req,
    struct cs_stream *s)
{
	struct json_object *usage = NULL;
	struct cs_buf text;
	struct cs_event ev;
	enum cs_err r;
	size_t i, start, prompt_words = 0, deltas = 0;
	long step_ms = 1000 / cfg->demo_words_per_second;

	cs_buf_init(&text, DEMO_REPLY_MAX);
	if ((r = demo_text(req, &text)) != CS_OK)
		goto fail;
	for (i = 0; i < req->n_messages; i++)
		prompt_words += count_words(req->messages[i].content);
	/* The model "accepted" the request: headers go out now. */
	if ((r = cs_stream_start(s)) != CS_OK)
		goto fail;
	/* One delta per word, with the whitespace after it. */
	for (start = 0; start < text.len; start = i) {
		i = start;
		while (i < text.len && (text.data[i] == ' ' ||
		    text.data[i] == '\n'))
			i++;
		while (i < text.len && text.data[i] != ' ' &&
		    text.data[i] != '\n')
			i++;
		while (i < text.len && text.data[i] == ' ')
			i++;
		if (deltas > 0 && (r = cs_stream_wait(s, step_ms)) != CS_OK)
			goto fail;
		memset(&ev, 0, sizeof(ev));
		ev.type = CS_EV_TEXT;
		ev.text = text.data + start;
		ev.text_len = i - start;
		if ((r = cs_stream_emit(s, &ev)) != CS_OK)
			goto fail;
		deltas++;
	}
	r = CS_ENOMEM;
	if ((usage = json_object_new_object()) == NULL)
		goto fail;
	json_object_object_add(usage, "prompt_tokens",
	    json_object_new_int64((int64_t)prompt_words));
	json_object_object_add(usage, "completion_tokens",
	    json_object_new_int64((int64_t)deltas));
	json_object_object_add(usage, "total_tokens",
	    json_object_new_int64((int64_t)(prompt_words + deltas)));
	r = cs_emit_finish(cs_stream_emit, s, "stop", "stop", usage);
fail:
	json_object_put(usage);
	cs_buf_free(&text);
	return r;
}

const struct cs_provider cs_provider_demo = {
	.name = "demo",
	.run = demo_run,
};
