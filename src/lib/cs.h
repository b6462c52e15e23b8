/*
 * cs.h — project-wide error codes, limits and tiny helpers.
 *
 * Every module returns an enum cs_err; CS_OK is 0.  "Client gone", "bad
 * input", "upstream failed" and "system error" stay distinct so callers can
 * map each to the right HTTP status or log outcome.
 */
#ifndef CS_H
#define CS_H

#include <stddef.h>

#define CS_VERSION "0.1.0"

enum cs_err {
	CS_OK = 0,
	CS_ENOMEM,      /* allocation failed */
	CS_ETOOBIG,     /* a bounded buffer or limit was exceeded */
	CS_EBADINPUT,   /* malformed or invalid input from a peer */
	CS_ECLIENTGONE, /* the downstream client disconnected */
	CS_EUPSTREAM,   /* the provider failed or sent garbage */
	CS_ETIMEOUT,    /* a configured timeout expired */
	CS_ESHUTDOWN,   /* the server is shutting down */
	CS_ESYS,        /* a system call failed (see errno) */
	CS_ECONFIG,     /* configuration error */
	CS_EDONE,       /* not an error: a producer has no more events */
	CS_EHANDLED,    /* the callee has written the failure to the stream
	                    (an HTTP error or an error event): the caller
	                    stops and writes nothing more */
	CS_ESTATE,      /* the shared state store is unavailable (busy past
	                    its timeout, unreadable, full) */
};

const char *cs_strerror(enum cs_err e);

#define CS_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

/*
 * The one decimal parser: s[0..n) must be n >= 1 ASCII digits (no sign,
 * no space, no prefix); *out is their value, or cap when it is larger
 * (so "too big" is the caller's to name, and nothing overflows).
 * 0, or -1 when s is not such a number.
 */
int cs_parse_dec(
    const char *s, size_t n, unsigned long long cap, unsigned long long *out);
/* The wall clock (CLOCK_REALTIME) in ms since the epoch: for what is
 * kept by UTC day; intervals use the monotonic cs_now_ms. */
long long cs_wall_ms(void);
/* The monotonic clock in microseconds: for timing a step. */
long long cs_mono_us(void);
/* *ts = CLOCK_REALTIME now + ms (for pthread's timed waits). */
struct timespec;
void cs_realtime_in(struct timespec *ts, long long ms);
/* The value of hex digit ch (either case), or -1. */
int cs_hex_digit(int ch);
/* in[0..n) as 2n lowercase hex digits and a NUL: out has 2n + 1 bytes. */
void cs_hex_encode(const unsigned char *in, size_t n, char *out);
/* Exactly 2 * outlen hex digits (either case) of hex[0..hexlen) into
 * out: CS_OK, or CS_EBADINPUT for another length or a non-hex byte (out
 * is then partly written). */
enum cs_err cs_hex_decode(
    const char *hex, size_t hexlen, unsigned char *out, size_t outlen);

/* Hard limits that are not configurable (configurable ones live in config). */
#define CS_MAX_MODELS           32   /* model entries in the config */
#define CS_MAX_NAME             128  /* model names, header names, ids */
#define CS_MAX_UPSTREAMS        16   /* [upstream] sections + "default" */
#define CS_MAX_UPSTREAM_HEADERS 8    /* "header" lines per upstream */
#define CS_MAX_HEADER_LINE      1024 /* one "Name: value" header */
#define CS_MAX_INSTRUCTIONS     8192 /* a configured system prompt */
#define CS_MAX_SSE_LINE         (1024 * 1024)     /* one upstream SSE line */
#define CS_MAX_SSE_EVENT        (4 * 1024 * 1024) /* one upstream SSE event */
#define CS_MAX_UPSTREAM_ERR     (16 * 1024) /* captured provider error body */
#define CS_MAX_REQUEST_BODY     (16 * 1024 * 1024) /* ceiling for max_body_bytes */
#define CS_JSON_MAX_DEPTH       32 /* nesting accepted in client JSON */

#endif
