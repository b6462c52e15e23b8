/*
 * json_strict.h — the one reader of client JSON: a request body, or a
 * JSON text a client sent inside one (tool call arguments).
 *
 * json-c 0.16, even with JSON_TOKENER_STRICT, accepts raw control
 * characters in strings, NaN, Infinity, "1." and single-quoted strings,
 * and cuts object keys at an escaped NUL.  A lexical pre-scan refuses all
 * of that (and a byte order mark, \u0000 anywhere, invalid UTF-8) where
 * the byte offset is known; then json-c parses with one flag set
 * (JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8) nested at most
 * CS_JSON_MAX_DEPTH deep, and only whitespace may follow the object.
 * What passes is RFC 8259 JSON, read as json-c reads it: a key sent
 * twice keeps its last value; integers beyond int64 saturate (json-c
 * marks them, the parsers range-check them); "\ud800" (a lone surrogate
 * escape) becomes U+FFFD.
 *
 * json-c switches LC_NUMERIC around every parse; threads that parse a lot
 * run in the built-in C locale object so that costs nothing (engine.h).
 */
#ifndef CS_JSON_STRICT_H
#define CS_JSON_STRICT_H

#include <stddef.h>

#include "cs.h"

struct json_object;

/*
 * Parse s (len bytes, need not be NUL-terminated) as exactly one JSON
 * object with optional whitespace around it.  CS_OK: *out is the object,
 * the caller's (json_object_put()).  Otherwise *out is NULL and msg (size
 * bytes, ASCII, NUL-terminated; may be NULL with size 0) says what is
 * wrong, naming the input "body" and the byte where known, e.g. "invalid
 * JSON at byte 12: unexpected character 'x'", "body: invalid UTF-8 at
 * byte 3", "invalid JSON at byte 40: nested deeper than 32 levels":
 * CS_EBADINPUT (not one strict JSON object), CS_ETOOBIG (len > INT_MAX,
 * more than json-c takes) or CS_ENOMEM.  Nothing in *out points into s.
 */
enum cs_err cs_json_strict_parse(const char *s, size_t len,
    struct json_object **out, char *msg, size_t size);

/* The same for a caller that needs no reason: the object (the caller's),
 * or NULL when s is not exactly one strict JSON object. */
struct json_object *cs_json_strict_object(const char *s, size_t len);

#endif
