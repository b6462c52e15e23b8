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
 * Every call returns an enum cs_err: CS_OK, CS_EDONE (not an error: the
 * key is absent), CS_EBADINPUT (malformed: a bad escape, an unknown or
 * repeated key) or CS_ETOOBIG (out's limit reached).
 */

/* The decoded value of the first key in qs (NULL = empty query) into out
 * (reset first).  CS_OK if found, CS_EDONE if absent, CS_EBADINPUT for a
 * bad escape anywhere in the pairs up to it, CS_ETOOBIG. */
enum cs_err cs_query_get(const char *qs, const char *key, struct cs_buf *out);

/* CS_OK if every key in qs is one of allowed[0..n-1] and none is repeated;
 * else CS_EBADINPUT with the first offending key (decoded, truncated) in
 * bad. */
enum cs_err cs_query_check_keys(const char *qs, const char *const *allowed,
    size_t n, char *bad, size_t badlen);

/* The same strict %XX decoding for a piece of a URL path ('+' stays a
 * plus), into out (reset first).  CS_OK, CS_EBADINPUT, CS_ETOOBIG. */
enum cs_err cs_path_decode(const char *s, size_t n, struct cs_buf *out);

#endif
