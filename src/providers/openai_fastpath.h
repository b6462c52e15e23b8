/*
 * providers/openai_fastpath.h — an allocation-free reader for the one chunk
 * shape that makes up almost all of an OpenAI-compatible chat stream: a
 * plain text delta of choice 0 with nothing else going on.  json-c costs
 * about twice the per-delta budget on such a chunk; this costs a fraction.
 *
 * It only says yes when it is sure: anything else (other keys, a finish
 * reason, usage, tool calls, surrogate escapes, invalid UTF-8, a number
 * off the JSON grammar) is "not sure" and goes to the json-c path, which
 * stays the reference for what a chunk means.
 */
#ifndef CS_OPENAI_FASTPATH_H
#define CS_OPENAI_FASTPATH_H

#include <stddef.h>

#include "buf.h"

/*
 * 1 if json (len bytes, need not be NUL-terminated) is exactly one chunk
 * object of the plain shape, with JSON whitespace allowed around tokens:
 *   top level: id, object, model, system_fingerprint, service_tier,
 *     obfuscation (string or null), created (number), usage (null),
 *     choices (required): an array of exactly one object of
 *   index (0), delta (required), logprobs (null), finish_reason (null),
 *   delta: role (string or null), content (string or null), refusal (null);
 * no key twice in an object.  content is reset and then holds the decoded
 * delta.content (empty when null or absent).  0 otherwise, and also when
 * content's limit is hit; content's bytes are then unspecified.  The
 * caller owns content; it may allocate on first use, then not again.
 */
int cs_openai_fast_delta(const char *json, size_t len, struct cs_buf *content);

#endif
