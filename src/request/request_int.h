/*
 * request_int.h — private to the request parser: what request.c (the
 * top level and the shared checks), request_messages.c (messages[] and
 * their content), request_tools.c (tools, tool_choice, tool_calls) and
 * request_ui.c share.  Other modules include request.h only.
 *
 * A JSON object the parser reads is a table of cs_req_field: the keys it
 * accepts, each with its reader.  Any other key is refused with a message
 * that lists the table ("accepted: ..."), so the list cannot drift from
 * what is read.  Every function here that refuses fills err and returns
 * CS_EBADINPUT, CS_ETOOBIG (a size limit, 413) or CS_ENOMEM.
 */
#ifndef CS_REQUEST_INT_H
#define CS_REQUEST_INT_H

#include <stddef.h>

#include "cs.h"
#include "config.h"
#include "failure.h"
#include "request.h"

struct json_object;

#define MAX_TOOLID_BYTES 128 /* messages[].tool_call_id, tool call ids */
#define ECHO_MAX         CS_ECHO_MAX /* client bytes quoted in a message */
#define WHERE_MAX        96          /* "messages[N].content[M].type" */

/* err's failure and message (printf; cut to whole UTF-8 characters).
 * NULL-safe. */
void cs_reqerr_set(struct cs_reqerr *err, enum cs_fail fail, const char *fmt,
    ...) __attribute__((format(printf, 3, 4)));
/* The two refusals: a wrong request (400), one over a size limit (413). */
#define refuse(err, ...)      cs_reqerr_set(err, CS_FAIL_INVALID, __VA_ARGS__)
#define refuse_size(err, ...) cs_reqerr_set(err, CS_FAIL_TOO_LARGE, __VA_ARGS__)
/* refuse() that returns CS_EBADINPUT, for `return cs_req_refuse(...)`. */
enum cs_err cs_req_refuse(struct cs_reqerr *err, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* "out of memory" (500) into err; returns CS_ENOMEM. */
enum cs_err cs_reqerr_nomem(struct cs_reqerr *err);
/* Append s to err's message if it fits whole with reserve bytes to spare;
 * 0 if it did not. */
int cs_reqerr_append(struct cs_reqerr *err, const char *s, size_t reserve);
/* Append item k of a list of n, quoted by q: after ", " or, for the last
 * one, after last (" or "). */
void cs_reqerr_item(struct cs_reqerr *err, const char *q, const char *name,
    size_t k, size_t n, const char *last);

/* Is s one of the n strings of list? */
int cs_str_in_list(const char *s, const char *const *list, size_t n);
/* The value of key in o, or NULL when absent or JSON null. */
struct json_object *cs_json_opt_field(struct json_object *o, const char *key);
/* A copy of s[0..n) with a NUL after it (malloc), or NULL. */
char *cs_req_dupmem(const char *s, size_t n);
/*
 * v must be a string of at most max bytes without NUL: *s, *n are its
 * bytes (borrowed from v).  NULL (absent, or JSON null) is "<where>:
 * missing"; over max is 413 when toobig is set (content), else 400
 * (names, ids).  where names v in the message.
 */
enum cs_err cs_req_check_str(struct json_object *v, const char *where,
    size_t max, int toobig, const char **s, size_t *n, struct cs_reqerr *err);
/* Refuse the first key of o not among the n of list; where names o. */
enum cs_err cs_req_check_fields(struct json_object *o, const char *const *list,
    size_t n, const char *where, struct cs_reqerr *err);

/* What a field reader works on. */
struct cs_req_ctx {
	const struct cs_config *cfg;
	struct cs_chat_request *req; /* being built */
	struct json_object *obj;     /* the object whose fields are read */
	const char *instr;           /* top level: the client's */
	size_t instr_len;            /*   instructions, borrowed */
	size_t i;                    /* messages[i]: its index, */
	struct cs_message *m;        /*   the message being filled */
};

/*
 * One accepted key of an object.  read gets its value, NULL when absent
 * or JSON null (ctx->obj tells the two apart where that matters).  A
 * table is in reading order (a field may depend on one read before it);
 * shown is the field's place in the "accepted: ..." list.
 */
struct cs_req_field {
	const char *name;
	unsigned shown;
	enum cs_err (*read)(struct cs_req_ctx *ctx, struct json_object *v,
	    struct cs_reqerr *err);
};

/*
 * Refuse a key of ctx->obj not in the table ("<where>: unknown field \"x\"
 * (accepted: a, b, c)"; where "" at the top level), then read every
 * field of the table in order; stops at the first refusal.
 */
enum cs_err
cs_req_read_fields(struct cs_req_ctx *ctx, const struct cs_req_field *table,
    size_t n, const char *where, struct cs_reqerr *err);

/* The tables (exported for the unit test that checks the lists). */
extern const struct cs_req_field cs_req_top_fields[];
extern const size_t cs_req_n_top_fields;
extern const struct cs_req_field cs_req_msg_fields[];
extern const size_t cs_req_n_msg_fields;

/* request_messages.c: "messages", after the model and instructions. */
enum cs_err cs_req_read_messages(
    struct cs_req_ctx *ctx, struct json_object *v, struct cs_reqerr *err);

/* request_tools.c: "tools"; "tool_choice", after the tools; and
 * messages[i].tool_calls, after the role. */
enum cs_err cs_req_read_tools(
    struct cs_req_ctx *ctx, struct json_object *v, struct cs_reqerr *err);
enum cs_err cs_req_read_tool_choice(
    struct cs_req_ctx *ctx, struct json_object *v, struct cs_reqerr *err);
enum cs_err cs_req_read_response_format(
    struct cs_req_ctx *ctx, struct json_object *v, struct cs_reqerr *err);
enum cs_err cs_req_read_tool_calls(
    struct cs_req_ctx *ctx, struct json_object *v, struct cs_reqerr *err);

#endif
