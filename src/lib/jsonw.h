/*
 * jsonw.h — a small JSON writer over a cs_buf, for the encoders.
 *
 * Commas between members and elements are the writer's: the caller only
 * opens, names and closes.  The first failure (the buffer's cap, memory,
 * a nesting deeper than CS_JSONW_DEPTH, a close with nothing open) is
 * remembered and every later call does nothing, so a whole frame is
 * written without a check per call and checked once with cs_jsonw_end().
 * On failure cs_jsonw_end() cuts the buffer back to the length it had at
 * cs_jsonw_init(): a failed frame leaves no partial bytes behind.
 *
 * The writer borrows the buffer and holds no memory of its own (it lives
 * on the caller's stack).  Strings are escaped here and only here:
 * ", \, \n, \r, \t as two characters, the other C0 controls and DEL as
 * \u00XX, every other byte (UTF-8, U+2028/U+2029, '/') as is.
 */
#ifndef CS_JSONW_H
#define CS_JSONW_H

#include <stddef.h>

#include "buf.h"
#include "cs.h"

#define CS_JSONW_DEPTH 16 /* objects and arrays open at once */

struct cs_jsonw {
	struct cs_buf *out; /* borrowed */
	size_t start;       /* out->len at init: where a failure cuts */
	enum cs_err err;    /* the first failure, CS_OK until then */
	int depth;          /* containers open */
	int after_key;      /* a key was written: its value comes next */
	unsigned char level[CS_JSONW_DEPTH]; /* per open container: JW_* */
};

/* Start writing at the end of out. */
void cs_jsonw_init(struct cs_jsonw *w, struct cs_buf *out);
/* The first failure, or CS_EBADINPUT when a container is still open, or
 * CS_OK.  On failure out is cut back to its length at cs_jsonw_init(). */
enum cs_err cs_jsonw_end(struct cs_jsonw *w);

void cs_jsonw_obj(struct cs_jsonw *w);     /* { */
void cs_jsonw_obj_end(struct cs_jsonw *w); /* } */
void cs_jsonw_arr(struct cs_jsonw *w);     /* [ */
void cs_jsonw_arr_end(struct cs_jsonw *w); /* ] */
/* A member's name in the open object; its value is the next call.  The
 * name is the code's own (no quote, backslash or control character in
 * it): it is written as is. */
void cs_jsonw_key(struct cs_jsonw *w, const char *key);

/* Values (a member's after cs_jsonw_key, or an array's element). */
void cs_jsonw_strn(struct cs_jsonw *w, const char *s, size_t n);
/* s NUL-terminated; NULL is written as "" (an absent id or name). */
void cs_jsonw_str(struct cs_jsonw *w, const char *s);
void cs_jsonw_int(struct cs_jsonw *w, long long v);
void cs_jsonw_bool(struct cs_jsonw *w, int v);
void cs_jsonw_null(struct cs_jsonw *w);
/* A value already encoded as JSON (n bytes), written as is. */
void cs_jsonw_raw(struct cs_jsonw *w, const char *json, size_t n);

/* key and value in one call. */
void cs_jsonw_kstr(struct cs_jsonw *w, const char *key, const char *s);
void cs_jsonw_kint(struct cs_jsonw *w, const char *key, long long v);

/* Bytes around the JSON (the protocol's framing: "data: ", "\n\n"),
 * written as they are: no escaping, no comma, no effect on nesting. */
void cs_jsonw_put(struct cs_jsonw *w, const char *p, size_t n);
void cs_jsonw_puts(struct cs_jsonw *w, const char *s);

#endif
