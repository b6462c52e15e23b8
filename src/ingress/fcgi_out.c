/* fcgi_out.c — FastCGI / CGI connection I/O; see fcgi_out.h. */
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <stdint.h>
#include <unistd.h>

#include <linux/sock_diag.h>

#include <fcgiapp.h>

#include "buf.h"
#include "deadline.h"
#include "fcgi_out.h"

#define BODY_DRAIN_MAX (64ULL * 1024 * 1024) /* then give up */

extern char **environ;

struct cs_conn {
	FCGX_Request *req; /* NULL in CGI mode */
	int gone;
	unsigned long long bytes_out;
	unsigned long long body_left; /* CGI: CONTENT_LENGTH not yet read */
	struct cs_deadline *deadline; /* armed while the request is read */
	int timed_out;                /* it fired */
	struct cs_deadline *watch;    /* the same slot: bounds each write */
};

struct cs_conn *
cs_conn_new_fcgi(FCGX_Request *req)
{
	struct cs_conn *c;

	if ((c = calloc(1, sizeof(*c))) == NULL)
		return NULL;
	c->req = req;
	return c;
}

/*
 * RFC 3875: a CGI reads exactly CONTENT_LENGTH bytes; the server need not
 * signal end of input after them.  No (or a malformed) CONTENT_LENGTH
 * means no body.
 */
struct cs_conn *
cs_conn_new_cgi(void)
{
	struct cs_conn *c;
	const char *v = getenv("CONTENT_LENGTH");
	unsigned long long n;

	if ((c = calloc(1, sizeof(*c))) == NULL)
		return NULL;
	/* Past ULLONG_MAX / 10 it is not a length anybody sends. */
	if (v != NULL && cs_parse_dec(v, strlen(v), ULLONG_MAX / 10, &n) == 0 &&
	    n < ULLONG_MAX / 10)
		c->body_left = n;
	return c;
}

void
cs_conn_set_deadline(struct cs_conn *c, struct cs_deadline *d)
{
	c->deadline = c->watch = d;
}

int
cs_conn_slow(const struct cs_conn *c)
{
	return cs_deadline_was_cut(c->watch);
}

/* The request has been read (or the answer begun): stop its deadline. */
static void
end_read_phase(struct cs_conn *c)
{
	if (c->deadline == NULL)
		return;
	if (cs_deadline_disarm(c->deadline))
		c->timed_out = 1;
	c->deadline = NULL;
}

void
cs_conn_free(struct cs_conn *c)
{
	free(c);
}

const char *
cs_conn_param(struct cs_conn *c, const char *name)
{
	if (c->req != NULL)
		return FCGX_GetParam(name, c->req->envp);
	return getenv(name);
}

char *const *
cs_conn_params(const struct cs_conn *c)
{
	return c->req != NULL ? c->req->envp : environ;
}

ssize_t
cs_conn_read(struct cs_conn *c, char *buf, size_t len)
{
	ssize_t n;

	if (len > INT_MAX)
		len = INT_MAX;
	if (c->req != NULL) {
		n = FCGX_GetStr(buf, (int)len, c->req->in);
		if (n == 0 && FCGX_GetError(c->req->in) != 0)
			return -1;
		return n;
	}
	if (len > c->body_left)
		len = (size_t)c->body_left;
	if (len == 0)
		return 0;
	do
		n = read(STDIN_FILENO, buf, len);
	while (n < 0 && errno == EINTR);
	if (n > 0)
		c->body_left -= (unsigned long long)n;
	return n;
}

static enum cs_err
write_fd(int fd, const char *p, size_t n)
{
	ssize_t w;

	while (n > 0) {
		w = write(fd, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return CS_ECLIENTGONE;
		p += w;
		n -= (size_t)w;
	}
	return CS_OK;
}

enum cs_err
cs_conn_write(struct cs_conn *c, const char *p, size_t n)
{
	int failed;

	if (c->gone)
		return CS_ECLIENTGONE;
	end_read_phase(c);
	if (c->req != NULL) {
		/*
		 * libfcgi reports a dead peer only on the first failing
		 * flush; the stream's error flag is what stays set.  The
		 * watchdog bounds how long the blocking write may take.
		 */
		cs_deadline_write_begin(c->watch);
		failed = (n > 0 &&
		             FCGX_PutStr(p, (int)n, c->req->out) != (int)n) ||
		    FCGX_FFlush(c->req->out) != 0 ||
		    FCGX_GetError(c->req->out) != 0;
		(void)cs_deadline_write_end(c->watch); /* cs_conn_slow asks */
		if (failed) {
			c->gone = 1;
			return CS_ECLIENTGONE;
		}
	} else if (write_fd(STDOUT_FILENO, p, n) != CS_OK) {
		c->gone = 1;
		return CS_ECLIENTGONE;
	}
	c->bytes_out += n;
	return CS_OK;
}

long
cs_conn_room(const struct cs_conn *c)
{
	uint32_t mem[SK_MEMINFO_VARS];
	socklen_t len = sizeof(mem);
	long used;

	if (c->req == NULL || c->req->ipcFd < 0 ||
	    getsockopt(c->req->ipcFd, SOL_SOCKET, SO_MEMINFO, mem, &len) != 0 ||
	    len < (socklen_t)sizeof(mem))
		return -1;
	/* A unix socket counts what waits in wmem_alloc, TCP in
	 * wmem_queued; either blocks a write once it reaches sndbuf.  Half
	 * of what is left covers the overhead of small writes. */
	used = (long)(mem[SK_MEMINFO_WMEM_ALLOC] > mem[SK_MEMINFO_WMEM_QUEUED] ?
	        mem[SK_MEMINFO_WMEM_ALLOC] :
	        mem[SK_MEMINFO_WMEM_QUEUED]);
	return used >= (long)mem[SK_MEMINFO_SNDBUF] ?
	    0 :
	    ((long)mem[SK_MEMINFO_SNDBUF] - used) / 2;
}

int
cs_conn_fd(const struct cs_conn *c)
{
	/* A CGI stdout pipe cannot be waited on for hang-up with POLLIN. */
	return c->req != NULL ? c->req->ipcFd : -1;
}

enum cs_err
cs_conn_check(struct cs_conn *c)
{
	struct pollfd pfd;
	char byte;
	ssize_t n;

	if (c->gone)
		return CS_ECLIENTGONE;
	pfd.fd = c->req != NULL ? c->req->ipcFd : STDOUT_FILENO;
	if (pfd.fd < 0)
		return CS_OK;
	/*
	 * FastCGI: after the request body the server sends nothing more, so
	 * readability means EOF (the server closed the connection because
	 * its client left) or an abort record.  CGI: POLLERR on our stdout
	 * pipe means the reader went away.
	 */
	pfd.events = c->req != NULL ? POLLIN | POLLRDHUP : 0;
	pfd.revents = 0;
	if (poll(&pfd, 1, 0) <= 0)
		return CS_OK;
	if (pfd.revents & (POLLERR | POLLHUP | POLLRDHUP | POLLNVAL)) {
		c->gone = 1;
		return CS_ECLIENTGONE;
	}
	if (pfd.revents & POLLIN) {
		do
			n = recv(pfd.fd, &byte, 1, MSG_PEEK | MSG_DONTWAIT);
		while (n < 0 && errno == EINTR);
		if (n == 0 || (n < 0 && errno != EAGAIN)) {
			c->gone = 1;
			return CS_ECLIENTGONE;
		}
		/* Data after the body: FCGI_ABORT_REQUEST or similar. */
		c->gone = 1;
		return CS_ECLIENTGONE;
	}
	return CS_OK;
}

int
cs_conn_is_fcgi(const struct cs_conn *c)
{
	return c->req != NULL;
}

unsigned long long
cs_conn_bytes_out(const struct cs_conn *c)
{
	return c->bytes_out;
}

/*
 * Read the whole body to EOF, keeping at most max bytes.  Always drain it,
 * even when the answer will be an error: a CGI that exits with unread
 * input makes mod_cgid reset the connection before the answer is sent, and
 * under FastCGI a drained stdin means a later readable socket can only be
 * hang-up.  Draining stops after BODY_DRAIN_MAX bytes.  The request's
 * deadline ends here; if it fired (even just as the body completed: the
 * socket is shut for reading, so hang-up could no longer be told) the
 * answer is CS_ETIMEOUT.
 */
enum cs_err
cs_conn_read_body(struct cs_conn *c, size_t max, struct cs_buf *b)
{
	char chunk[CS_BODY_CHUNK];
	unsigned long long total = 0;
	ssize_t n;
	int over = 0;
	enum cs_err r;

	for (;;) {
		n = cs_conn_read(c, chunk, sizeof(chunk));
		if (n < 0) {
			r = CS_ECLIENTGONE;
			break;
		}
		if (n == 0) {
			r = over || b->len > max ? CS_ETOOBIG : CS_OK;
			break;
		}
		total += (unsigned long long)n;
		if (total > BODY_DRAIN_MAX) {
			r = CS_ETOOBIG;
			break;
		}
		if (!over && cs_buf_append(b, chunk, (size_t)n) != CS_OK)
			over = 1; /* keep draining, store nothing more */
	}
	end_read_phase(c);
	return c->timed_out ? CS_ETIMEOUT : r;
}
