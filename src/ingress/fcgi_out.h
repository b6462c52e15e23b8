/*
 * fcgi_out.h — one request's connection to the web server: CGI parameters,
 * the request body, and response bytes written and flushed at once.
 *
 * Two transports share this interface: a libfcgi request (FastCGI on an
 * inherited or --listen socket) and plain CGI (environment, stdin, stdout).
 * A failed write means the client (or the server on its behalf) is gone;
 * so does hang-up on the connection while we wait for the upstream.
 */
#ifndef CS_FCGI_OUT_H
#define CS_FCGI_OUT_H

#include <stddef.h>
#include <sys/types.h>

#include "cs.h"

struct FCGX_Request;
struct cs_conn;

/* Wrap an accepted libfcgi request (borrowed; must outlive the conn). */
struct cs_conn *cs_conn_new_fcgi(struct FCGX_Request *req);
/* Plain CGI on this process's environment, stdin and stdout. */
struct cs_conn *cs_conn_new_cgi(void);
/* Attach the deadline armed for reading this request (borrowed; see
 * deadline.h).  The conn disarms it once the body has been read or the
 * first response byte is written. */
struct cs_deadline;
void cs_conn_set_deadline(struct cs_conn *c, struct cs_deadline *d);
/* Every write is bracketed for the write watch of that slot, if its owner
 * watches it (cs_deadline_watch): a write still blocked at the limit has
 * the connection shut down, and it and every later write fail with
 * CS_ECLIENTGONE.  Did that happen (rather than the peer leaving)?  Asked
 * while the slot is watched (the watch's own cut flag). */
int cs_conn_slow(const struct cs_conn *c);
/* NULL-safe.  Does not finish the FastCGI request. */
void cs_conn_free(struct cs_conn *c);

/* A CGI/FastCGI parameter, or NULL. */
const char *cs_conn_param(struct cs_conn *c, const char *name);
/* All of them, "NAME=value" strings up to a NULL (the FastCGI request's
 * or, under CGI, the environment; borrowed, live as long as c). */
char *const *cs_conn_params(const struct cs_conn *c);

/* Read up to len body bytes; returns bytes read, 0 at end, -1 on error.
 * Under CGI the body ends after CONTENT_LENGTH bytes (RFC 3875). */
ssize_t cs_conn_read(struct cs_conn *c, char *buf, size_t len);

/* Write n bytes and flush them to the server.  CS_ECLIENTGONE once the
 * peer is gone (and on every later call). */
enum cs_err cs_conn_write(struct cs_conn *c, const char *p, size_t n);

/* Non-blocking check whether the server closed the connection (client
 * gone).  CS_OK or CS_ECLIENTGONE. */
enum cs_err cs_conn_check(struct cs_conn *c);

/* File descriptor that turns readable when the server hangs up (see
 * cs_conn_check), or -1 when there is none to wait on (CGI): then poll
 * cs_conn_check() instead. */
int cs_conn_fd(const struct cs_conn *c);

/* Bytes a write can surely hand to the kernel now without blocking (from
 * the socket's send buffer: SO_MEMINFO), or -1 when unknown (CGI). */
long cs_conn_room(const struct cs_conn *c);

/* 1 for FastCGI, 0 for plain CGI. */
int cs_conn_is_fcgi(const struct cs_conn *c);

/* Total body bytes written so far. */
unsigned long long cs_conn_bytes_out(const struct cs_conn *c);

/*
 * Read the whole request body to EOF, keeping what fits in b (its limit
 * should be max plus a chunk, so "too big" shows).  Always drains it, even
 * when the answer will be an error: a CGI that exits with unread input
 * makes mod_cgid reset the connection before the answer is sent, and under
 * FastCGI a drained stdin means a later readable socket can only be a
 * hang-up.  CS_ETOOBIG if more than max bytes came (or more than 64 MiB:
 * draining stops there), CS_ECLIENTGONE if the connection failed,
 * CS_ETIMEOUT if the request's read deadline fired (answer 408).
 */
#define CS_BODY_CHUNK 16384 /* one read */
struct cs_buf;
enum cs_err cs_conn_read_body(struct cs_conn *c, size_t max, struct cs_buf *b);

#endif
