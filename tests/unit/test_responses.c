/*
 * test_responses.c — the Responses API encoders (encoders/responses.c)
 * through the framework, as the stream drives them.  The SSE output is
 * read back event by event with json-c: every event's "event:" line and
 * "type" agree, sequence numbers count from 0 without a gap, items and
 * parts open and close in order with consistent ids and indexes, the
 * .done events carry the whole text, and the terminal response holds
 * every item as output_item.done gave it, with the usage.  Then the
 * endings (length is incomplete, an error is "error" + response.failed),
 * the deferred object, and a frame that does not fit, which leaves output
 * and encoder as they were.
 */
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "buf.h"
#include "encoder.h"
#include "testutil.h"

#define SID "9f2c4e1a7b3d5c60"

static const struct cs_usage usage = { 9, 2, 11, 4, 1 };

static const struct cs_event full[] = {
	{ .type = CS_EV_TEXT,
	    .kind = CS_TEXT_REASONING,
	    .text = "hm",
	    .text_len = 2 },
	{ .type = CS_EV_TEXT, .text = "Hel", .text_len = 3 },
	{ .type = CS_EV_TEXT, .text = "lo\"\n", .text_len = 4 },
	{ .type = CS_EV_TEXT,
	    .kind = CS_TEXT_REFUSAL,
	    .text = "no",
	    .text_len = 2 },
	{ .type = CS_EV_TOOL_CALL,
	    .tool_id = "call_1",
	    .tool_name = "get_weather",
	    .tool_args = "{\"city\":\"Paris\"}" },
	{ .type = CS_EV_FINISH,
	    .finish_reason = "tool_calls",
	    .native_finish_reason = "tool_use",
	    .tokens = &usage },
};

static void
enc_new(struct cs_enc *e, const struct cs_encoder *ops)
{
	memset(e, 0, sizeof(*e));
	memcpy(e->stream_id, SID, CS_STREAM_ID_LEN + 1);
	e->model = "fast";
	e->created = 1767225600;
	assert_int_equal(cs_enc_init(e, ops), CS_OK);
}

/* prologue, the events, done, into a new string (free it). */
static char *
play(const struct cs_encoder *ops, const struct cs_event *evs, size_t n)
{
	struct cs_enc e;
	struct cs_buf out;
	size_t i;
	char *s;

	enc_new(&e, ops);
	cs_buf_init(&out, 1 << 20);
	assert_int_equal(cs_buf_puts(&out, ""), CS_OK);
	assert_int_equal(cs_enc_prologue(&e, &out), CS_OK);
	for (i = 0; i < n; i++)
		assert_int_equal(cs_enc_event(&e, &evs[i], &out), CS_OK);
	assert_int_equal(cs_enc_done(&e, &out), CS_OK);
	s = strdup(out.data);
	cs_enc_free(&e);
	cs_buf_free(&out);
	return s;
}

/* The SSE events of s as a json-c array of their data objects; each
 * "event: T" line must equal the data's type and be followed by one data
 * line and a blank line, and their sequence numbers must be 0, 1, ... */
static struct json_object *
events_of(const char *s)
{
	struct json_object *arr = json_object_new_array(), *o, *t, *q;
	const char *p = s, *nl;
	char name[96], *d;
	size_t n = 0;

	while (*p != '\0') {
		assert_memory_equal(p, "event: ", 7);
		nl = strchr(p, '\n');
		assert_non_null(nl);
		assert_true((size_t)(nl - p - 7) < sizeof(name));
		memcpy(name, p + 7, (size_t)(nl - p - 7));
		name[nl - p - 7] = '\0';
		p = nl + 1;
		assert_memory_equal(p, "data: ", 6);
		nl = strstr(p, "\n\n");
		assert_non_null(nl);
		d = strndup(p + 6, (size_t)(nl - p - 6));
		o = json_tokener_parse(d);
		free(d);
		assert_non_null(o);
		assert_true(json_object_object_get_ex(o, "type", &t));
		assert_string_equal(json_object_get_string(t), name);
		assert_true(
		    json_object_object_get_ex(o, "sequence_number", &q));
		assert_int_equal(json_object_get_int64(q), (int64_t)n);
		json_object_array_add(arr, o);
		n++;
		p = nl + 2;
	}
	return arr;
}

static const char *
type_at(struct json_object *evs, size_t i)
{
	struct json_object *t;

	json_object_object_get_ex(
	    json_object_array_get_idx(evs, i), "type", &t);
	return json_object_get_string(t);
}

/* evs[i]'s member path a.b.c as a string ("" if absent). */
static const char *
get(struct json_object *o, const char *path)
{
	char key[64];
	const char *dot;
	size_t n;

	while (o != NULL && *path != '\0') {
		dot = strchr(path, '.');
		n = dot ? (size_t)(dot - path) : strlen(path);
		memcpy(key, path, n);
		key[n] = '\0';
		if (key[0] >= '0' && key[0] <= '9')
			o = json_object_array_get_idx(o, (size_t)atoi(key));
		else if (!json_object_object_get_ex(o, key, &o))
			o = NULL;
		path += n + (dot != NULL);
	}
	return o != NULL ? json_object_get_string(o) : "";
}

static const char *
ev_get(struct json_object *evs, size_t i, const char *path)
{
	return get(json_object_array_get_idx(evs, i), path);
}

static void
test_stream_full(void **state)
{
	static const char *const want[] = {
		"response.created",
		"response.in_progress",
		/* the reasoning item */
		"response.output_item.added",
		"response.content_part.added",
		"response.reasoning_text.delta",
		"response.reasoning_text.done",
		"response.content_part.done",
		"response.output_item.done",
		/* the message: text in two deltas, then a refusal part */
		"response.output_item.added",
		"response.content_part.added",
		"response.output_text.delta",
		"response.output_text.delta",
		"response.output_text.done",
		"response.content_part.done",
		"response.content_part.added",
		"response.refusal.delta",
		"response.refusal.done",
		"response.content_part.done",
		"response.output_item.done",
		/* the call */
		"response.output_item.added",
		"response.function_call_arguments.delta",
		"response.function_call_arguments.done",
		"response.output_item.done",
		"response.completed",
	};
	char *s = play(&cs_encoder_responses, full, CS_ARRAY_LEN(full));
	struct json_object *evs = events_of(s), *out, *done;
	size_t i;

	(void)state;
	assert_int_equal(json_object_array_length(evs), CS_ARRAY_LEN(want));
	for (i = 0; i < CS_ARRAY_LEN(want); i++)
		assert_string_equal(type_at(evs, i), want[i]);
	assert_string_equal(ev_get(evs, 0, "response.id"), "resp_" SID);
	assert_string_equal(ev_get(evs, 0, "response.status"), "in_progress");
	assert_string_equal(ev_get(evs, 0, "response.model"), "fast");
	assert_string_equal(
	    ev_get(evs, 0, "response.created_at"), "1767225600");
	assert_string_equal(ev_get(evs, 2, "item.id"), "rs_" SID "_0");
	assert_string_equal(ev_get(evs, 5, "text"), "hm");
	assert_string_equal(ev_get(evs, 8, "item.id"), "msg_" SID "_1");
	assert_string_equal(ev_get(evs, 8, "item.status"), "in_progress");
	assert_string_equal(ev_get(evs, 10, "item_id"), "msg_" SID "_1");
	assert_string_equal(ev_get(evs, 10, "output_index"), "1");
	assert_string_equal(ev_get(evs, 10, "content_index"), "0");
	assert_string_equal(ev_get(evs, 12, "text"), "Hello\"\n");
	assert_string_equal(ev_get(evs, 14, "content_index"), "1");
	assert_string_equal(ev_get(evs, 16, "refusal"), "no");
	assert_string_equal(
	    ev_get(evs, 18, "item.content.0.text"), "Hello\"\n");
	assert_string_equal(ev_get(evs, 18, "item.content.1.type"), "refusal");
	assert_string_equal(ev_get(evs, 18, "item.status"), "completed");
	assert_string_equal(ev_get(evs, 19, "item.id"), "fc_" SID "_2");
	assert_string_equal(ev_get(evs, 19, "item.call_id"), "call_1");
	assert_string_equal(ev_get(evs, 19, "item.arguments"), "");
	assert_string_equal(ev_get(evs, 20, "delta"), "{\"city\":\"Paris\"}");
	assert_string_equal(ev_get(evs, 21, "name"), "get_weather");
	/* the terminal response carries every item as its .done gave it */
	assert_string_equal(ev_get(evs, 23, "response.status"), "completed");
	json_object_object_get_ex(
	    json_object_array_get_idx(evs, 23), "response", &out);
	json_object_object_get_ex(out, "output", &out);
	assert_int_equal(json_object_array_length(out), 3);
	for (i = 0; i < 3; i++) {
		json_object_object_get_ex(json_object_array_get_idx(evs,
		                              i == 0     ? 7 :
		                                  i == 1 ? 18 :
		                                           22),
		    "item", &done);
		assert_true(
		    json_object_equal(json_object_array_get_idx(out, i), done));
	}
	assert_string_equal(
	    ev_get(evs, 23, "response.usage.input_tokens"), "9");
	assert_string_equal(
	    ev_get(evs, 23, "response.usage.output_tokens"), "2");
	assert_string_equal(
	    ev_get(evs, 23, "response.usage.total_tokens"), "11");
	assert_string_equal(
	    ev_get(
	        evs, 23, "response.usage.input_tokens_details.cached_tokens"),
	    "4");
	assert_string_equal(
	    ev_get(evs, 23,
	        "response.usage.output_tokens_details.reasoning_tokens"),
	    "1");
	assert_null(strstr(s, "[DONE]"));
	json_object_put(evs);
	free(s);
}

/* length is response.incomplete (max_output_tokens); an error is "error"
 * then response.failed holding the open item as it stood. */
static void
test_stream_endings(void **state)
{
	static const struct cs_event cut[] = {
		{ .type = CS_EV_TEXT, .text = "x", .text_len = 1 },
		{ .type = CS_EV_FINISH, .finish_reason = "length" },
	};
	static const struct cs_event failed[] = {
		{ .type = CS_EV_TEXT, .text = "ab", .text_len = 2 },
		{ .type = CS_EV_ERROR,
		    .error_type = "upstream_timeout",
		    .error_message = "slow" },
	};
	char *s = play(&cs_encoder_responses, cut, CS_ARRAY_LEN(cut));
	struct json_object *evs = events_of(s);
	size_t n = json_object_array_length(evs);

	(void)state;
	assert_string_equal(type_at(evs, n - 1), "response.incomplete");
	assert_string_equal(
	    ev_get(evs, n - 1, "response.status"), "incomplete");
	assert_string_equal(
	    ev_get(evs, n - 1, "response.incomplete_details.reason"),
	    "max_output_tokens");
	assert_string_equal(ev_get(evs, n - 1, "response.usage"), "");
	json_object_put(evs);
	free(s);

	s = play(&cs_encoder_responses, failed, CS_ARRAY_LEN(failed));
	evs = events_of(s);
	n = json_object_array_length(evs);
	assert_string_equal(type_at(evs, n - 2), "error");
	assert_string_equal(ev_get(evs, n - 2, "code"), "upstream_timeout");
	assert_string_equal(ev_get(evs, n - 2, "message"), "slow");
	assert_string_equal(type_at(evs, n - 1), "response.failed");
	assert_string_equal(ev_get(evs, n - 1, "response.status"), "failed");
	assert_string_equal(
	    ev_get(evs, n - 1, "response.error.code"), "upstream_timeout");
	assert_string_equal(
	    ev_get(evs, n - 1, "response.output.0.status"), "incomplete");
	assert_string_equal(
	    ev_get(evs, n - 1, "response.output.0.content.0.text"), "ab");
	json_object_put(evs);
	free(s);
}

/* Deferred: no events, one response object equal to what the stream's
 * response.completed carries. */
static void
test_json(void **state)
{
	char *s = play(&cs_encoder_responses_json, full, CS_ARRAY_LEN(full));
	char *t = play(&cs_encoder_responses, full, CS_ARRAY_LEN(full));
	struct json_object *o = json_tokener_parse(s), *evs = events_of(t), *c;

	(void)state;
	assert_non_null(o);
	assert_int_equal(s[strlen(s) - 1], '\n');
	json_object_object_get_ex(
	    json_object_array_get_idx(evs, json_object_array_length(evs) - 1),
	    "response", &c);
	assert_true(json_object_equal(o, c));
	assert_string_equal(get(o, "object"), "response");
	assert_string_equal(get(o, "output.1.content.0.text"), "Hello\"\n");
	json_object_put(o);
	json_object_put(evs);
	free(s);
	free(t);
}

/* A frame that does not fit: CS_ETOOBIG, output as it was, and the same
 * event again with room writes what a fresh encoder at that point would. */
static void
test_too_big(void **state)
{
	struct cs_enc e, fresh;
	struct cs_buf out, want;
	size_t j, k, max;
	enum cs_err r;

	(void)state;
	for (j = 0; j < CS_ARRAY_LEN(full); j++)
		for (max = 64; max < 4096; max += 97) {
			enc_new(&e, &cs_encoder_responses);
			enc_new(&fresh, &cs_encoder_responses);
			cs_buf_init(&out, 1 << 16);
			cs_buf_init(&want, 1 << 16);
			for (k = 0; k < j; k++) {
				assert_int_equal(
				    cs_enc_event(&e, &full[k], &out), CS_OK);
				assert_int_equal(
				    cs_enc_event(&fresh, &full[k], &want),
				    CS_OK);
			}
			cs_buf_free(&out);
			cs_buf_init(&out, max);
			assert_int_equal(cs_buf_puts(&out, "keep"), CS_OK);
			r = cs_enc_event(&e, &full[j], &out);
			if (r != CS_OK) {
				assert_int_equal(r, CS_ETOOBIG);
				assert_string_equal(out.data, "keep");
			}
			cs_buf_free(&out);
			cs_buf_init(&out, 1 << 16);
			cs_buf_reset(&want);
			if (r != CS_OK)
				assert_int_equal(
				    cs_enc_event(&e, &full[j], &out), CS_OK);
			assert_int_equal(
			    cs_enc_event(&fresh, &full[j], &want), CS_OK);
			if (r != CS_OK)
				assert_string_equal(out.data, want.data);
			cs_enc_free(&e);
			cs_enc_free(&fresh);
			cs_buf_free(&out);
			cs_buf_free(&want);
		}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_stream_full),
		cmocka_unit_test(test_stream_endings),
		cmocka_unit_test(test_json),
		cmocka_unit_test(test_too_big),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
