/*
 * utf8.h — UTF-8 (RFC 3629: no overlong forms, no surrogates, nothing
 * above U+10FFFF) checked and repaired in one place, for the request
 * parser, the provider adapters and every message that quotes them.
 */
#ifndef CS_UTF8_H
#define CS_UTF8_H

#include <stddef.h>

#include "cs.h"

struct cs_buf;

/* Bytes one step of a decoder takes at p (avail >= 1 of them): the
 * well-formed sequence there (*ok = 1), or its maximal invalid subpart
 * (*ok = 0; at least 1 byte, as Unicode's U+FFFD rule counts). */
size_t cs_utf8_step(const unsigned char *p, size_t avail, int *ok);
/* The length of the well-formed sequence at p, or 0. */
size_t cs_utf8_seq(const unsigned char *p, size_t avail);
/* Length of the longest valid UTF-8 prefix of s (n when all of it is). */
size_t cs_utf8_valid_len(const char *s, size_t n);
/* Append s (n bytes) to out as valid UTF-8: each maximal invalid
 * subsequence (Unicode's "maximal subpart" practice, as WHATWG decoders
 * do) becomes one U+FFFD.  Returns out's error; out->data is never NULL
 * after CS_OK. */
enum cs_err cs_utf8_sanitize(const char *s, size_t n, struct cs_buf *out);
/* Keeping the first n bytes of s (which holds more than n): n moved back
 * to the start of the sequence s[n] continues, so none is cut. */
size_t cs_utf8_cut(const char *s, size_t n);

#endif
