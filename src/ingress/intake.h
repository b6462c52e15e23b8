/*
 * intake.h — the waiting room: a FastCGI connection whose request has not
 * fully arrived waits here, watched by one thread with epoll, instead of
 * holding a worker in a blocking read.
 *
 * A web server that streams request bodies (Apache mod_proxy_fcgi) passes
 * a client's trickle on byte by byte; so can any peer of --listen.  Such a
 * connection costs a parked entry here, not a thread: a worker takes it
 * only when its whole request is in the socket buffer (the record that
 * ends FCGI_STDIN has arrived), when CS_INTAKE_READY_BYTES are waiting (a
 * fast sender of a large body: a worker reads the rest, under its read
 * deadline), when the peer hung up after sending something (one that
 * sent nothing is just closed), or when request_read_timeout_seconds
 * since the accept have passed (the worker then gets no time left: its
 * deadline fires at once, deadline.h).
 *
 * Nothing is read here: the bytes are only peeked at (MSG_PEEK), and
 * libfcgi reads them in the worker as before.
 */
#ifndef CS_INTAKE_H
#define CS_INTAKE_H

#include <stddef.h>

#define CS_INTAKE_READY_BYTES (32 * 1024)

/*
 * Scan the first n bytes of a FastCGI connection.  1: a worker can take it
 * now (the empty FCGI_STDIN record that ends the request is within them,
 * n reached CS_INTAKE_READY_BYTES, or the bytes are not FastCGI records,
 * which libfcgi will refuse).  0: not yet; *need is the byte count at
 * which there is something new to look at (the end of the next record
 * header).
 */
int cs_fcgi_scan(const unsigned char *p, size_t n, size_t *need);

/* Start the intake thread.  read_ms: request_read_timeout_seconds in ms;
 * max_parked: connections it holds at most.  0, or -1 (errno set). */
int cs_intake_start(long read_ms, size_t max_parked);
/* Stop it and close every connection still waiting.  Idempotent. */
void cs_intake_stop(void);

/* Can a worker take accepted connection fd now (cs_fcgi_scan on what has
 * arrived; no wait)?  1 or 0. */
int cs_intake_ready(int fd);

/* Hand over fd, accepted at t0_ms (monotonic), to wait for its request.
 * 0: parked (fd is the intake's until it is taken).  -1: not running or
 * full; the caller serves fd itself. */
int cs_intake_park(int fd, long long t0_ms);

/* A connection whose wait is over: its fd (and accept time in *t0_ms), or
 * -1 when none is ready. */
int cs_intake_take(long long *t0_ms);

/* Readable (POLLIN) while a connection is ready to take; -1 when the
 * intake is not running. */
int cs_intake_fd(void);

#endif
