/*
 * providers/demo.c — the built-in offline provider.
 *
 * Streams a deterministic Markdown reply built from the user's last message,
 * one word at a time at demo_words_per_second, then a finish event with
 * usage.  It is the default when no API key is configured, so anyone can
 * check that their web server really streams without spending tokens.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "provider.h"
#include "request.h"
#include "stream.h"
#include "upstream.h"
#include "utf8.h"

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

	if (n > max)
		n = cs_utf8_cut(s, max);
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

	if ((r = cs_buf_puts(b,
	         "Hello! This is the **chatstream demo "
	         "provider**. No API key is configured, so this answer is made on "
	         "the server and streamed to you word by word.\n\n")) != CS_OK)
		return r;
	if (last[0] != '\0') {
		if ((r = cs_buf_puts(b, "You said: *")) != CS_OK ||
		    (r = echo_line(b, last, DEMO_ECHO_MAX)) != CS_OK ||
		    (r = cs_buf_puts(b, "*\n\n")) != CS_OK)
			return r;
	}
	return cs_buf_printf(b,
	    "- If these words appeared one by one, "
	    "streaming works through your web server.\n"
	    "- Model: `%s`, %zu message(s) in this conversation.\n"
	    "- Set `OPENAI_API_KEY`, or `api_key_file` in chatstream.conf, to "
	    "talk to a real model.\n",
	    req->model->name, req->n_messages);
}

/* One demo answer: its text, how far it has gone out, its numbers. */
struct demo {
	struct cs_buf text;
	size_t at; /* next byte of text to send */
	size_t prompt_words;
	size_t deltas;
	long step_ms;
	int started;
};

static void
demo_free(void *p)
{
	struct demo *d = p;

	if (d == NULL)
		return;
	cs_buf_free(&d->text);
	free(d);
}

static void *
demo_new(const struct cs_config *cfg, const struct cs_chat_request *req)
{
	struct demo *d;
	size_t i;

	if ((d = calloc(1, sizeof(*d))) == NULL)
		return NULL;
	cs_buf_init(&d->text, DEMO_REPLY_MAX);
	if (demo_text(req, &d->text) != CS_OK) {
		demo_free(d);
		return NULL;
	}
	for (i = 0; i < req->n_messages; i++)
		d->prompt_words += count_words(req->messages[i].content);
	d->step_ms = 1000 / cfg->demo_words_per_second;
	return d;
}

/* The finish, with usage counted in words. */
static enum cs_err
demo_finish(struct demo *d, struct cs_stream *s)
{
	struct cs_usage u = {
		.prompt = (long long)d->prompt_words,
		.completion = (long long)d->deltas,
		.total = (long long)(d->prompt_words + d->deltas),
		.cached = CS_USAGE_NONE,
		.reasoning = CS_USAGE_NONE,
	};
	enum cs_err r;

	r = cs_emit_finish(cs_stream_emit, s, "stop", "stop", &u);
	return r != CS_OK ? r : CS_EDONE;
}

/* One delta per word, with the whitespace after it, a step apart. */
static enum cs_err
demo_step(void *p, struct cs_stream *s, long *next_ms)
{
	struct demo *d = p;
	struct cs_event ev;
	size_t i = d->at;
	enum cs_err r;

	/* The model "accepted" the request: headers go out now. */
	if (!d->started && (r = cs_stream_start(s)) != CS_OK)
		return r;
	d->started = 1;
	if (d->at >= d->text.len)
		return demo_finish(d, s);
	while (i < d->text.len &&
	    (d->text.data[i] == ' ' || d->text.data[i] == '\n'))
		i++;
	while (i < d->text.len && d->text.data[i] != ' ' &&
	    d->text.data[i] != '\n')
		i++;
	while (i < d->text.len && d->text.data[i] == ' ')
		i++;
	memset(&ev, 0, sizeof(ev));
	ev.type = CS_EV_TEXT;
	ev.text = d->text.data + d->at;
	ev.text_len = i - d->at;
	d->at = i;
	if ((r = cs_stream_emit(s, &ev)) != CS_OK)
		return r;
	d->deltas++;
	/* The finish follows the last word at once. */
	if (d->at >= d->text.len)
		return demo_finish(d, s);
	*next_ms = d->step_ms;
	return CS_OK;
}

static const struct cs_source_ops demo_source = {
	.step = demo_step,
	.free = demo_free,
};

const struct cs_provider cs_provider_demo = {
	.name = "demo",
	.model = "demo",
	.source_new = demo_new,
	.source = &demo_source,
	.no_response_format = "the demo writes sample text; configure a "
	                      "provider for structured output",
	.no_stop = "the demo writes sample text; configure a provider for "
	           "stop sequences",
};
