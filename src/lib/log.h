/*
 * log.h — diagnostics and the one access-log line per request, on stderr
 * (mod_fcgid and lighttpd put a FastCGI app's stderr in the server error
 * log).  Each line is written with a single write(2) so lines from worker
 * threads never interleave.
 */
#ifndef CS_LOG_H
#define CS_LOG_H

#include <stddef.h>

/* Warning with strerror(errno) appended. */
void cs_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Warning without errno. */
void cs_warnx(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* 1 at most once a minute for *last (all threads together): for
 * warnings that could repeat on every request. */
int cs_warn_due(_Atomic long long *last);

struct cs_access {
	const char *id;       /* stream id */
	const char *client;   /* REMOTE_ADDR (untrusted: escaped) */
	const char *method;   /* untrusted: escaped */
	const char *path;     /* untrusted: escaped */
	const char *endpoint; /* the route's documented path, or NULL */
	const char *model;    /* may be NULL */
	const char *upstream; /* the deployment that served, or NULL */
	int tried;            /* deployments tried (0: none) */
	int status;
	const char *outcome; /* done, client_gone, upstream_error, ... */
	long ttfd_ms;        /* time to first delta, -1 if none */
	long duration_ms;
	unsigned long deltas;
	long prompt_tokens;     /* -1 if unknown */
	long completion_tokens; /* -1 if unknown */
	unsigned long long bytes_out;
	unsigned long long text_bytes; /* of text deltas (not logged) */
	int retries;
	long admit_us;     /* what admission took, -1 if nothing was counted */
	const char *error; /* short reason, may be NULL (escaped) */
};

void cs_log_access(const struct cs_access *a);

/* Escape untrusted bytes for a log line into dst (always terminated). */
void cs_log_escape(char *dst, size_t dstlen, const char *src);

#endif
