/*
 * query.h — the query string of a GET request (application/x-www-form-
 * urlencoded: key=value pairs joined by '&', '+' for space, %XX escapes),
 * decoded strictly: a '%' not followed by two hex digits is an error, not
 * passed through.  Also a path piece's %XX escapes (cs_path_decode).
 */
#ifndef CS_QUERY_H
#define CS_QUERY_H

#include "buf.h"

/*
 * The decoded value of the first key in qs (NULL = empty query) into out
 * (reset first).  Returns 1 if found, 0 if absent, -1 if qs is malformed
 * (bad escape anywhere in the pair), -2 if out's limit was reached.
 */
int cs_query_get(const char *qs, const char *key, struct cs_buf *out);

/*
 * 0 if every key in qs is one of allowed[0..n-1] and none is repeated;
 * else -1 with the first offending key (decoded, truncated) in bad.
 */
int cs_query_check_keys(const char *qs, const char *const *allowed, size_t n,
    char *bad, size_t badlen);

/* The same strict %XX decoding for a piece of a URL path ('+' stays a
 * plus), into out (reset first).  0, -1 for a bad escape, -2 when out's
 * limit was reached. */
int cs_path_decode(const char *s, size_t n, struct cs_buf *out);

#endif
