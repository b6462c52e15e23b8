/* log.c — stderr diagnostics and the access line; see log.h. */
#include <errno.h>
#include <stdatomic.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cs.h"
#include "log.h"

#define LOG_LINE_MAX 2048

static void
emit(const char *buf, size_t len)
{
	ssize_t n;

	/* Best effort: a failing log write must not fail the request. */
	while (len > 0) {
		n = write(STDERR_FILENO, buf, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return;
		buf += n;
		len -= (size_t)n;
	}
}

static void
vwarn(int with_errno, const char *fmt, va_list ap)
{
	char line[LOG_LINE_MAX];
	int saved = errno;
	int n, m;

	n = snprintf(line, sizeof(line), "chatstream: ");
	m = vsnprintf(line + n, sizeof(line) - (size_t)n, fmt, ap);
	if (m < 0)
		m = 0;
	n += m;
	if ((size_t)n > sizeof(line) - 2)
		n = (int)sizeof(line) - 2;
	if (with_errno) {
		m = snprintf(line + n, sizeof(line) - (size_t)n, ": %s",
		    strerror(saved));
		n += m > 0 ? m : 0;
		if ((size_t)n > sizeof(line) - 2)
			n = (int)sizeof(line) - 2;
	}
	line[n++] = '\n';
	emit(line, (size_t)n);
	errno = saved;
}

void
cs_warn(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vwarn(1, fmt, ap);
	va_end(ap);
}

void
cs_warnx(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vwarn(0, fmt, ap);
	va_end(ap);
}

int
cs_warn_due(_Atomic long long *last)
{
	long long now = cs_wall_ms(), prev = atomic_load(last);

	return now - prev >= 60000 &&
	    atomic_compare_exchange_strong(last, &prev, now);
}

void
cs_log_escape(char *dst, size_t dstlen, const char *src)
{
	static const char hex[] = "0123456789abcdef";
	size_t o = 0;

	if (dstlen == 0)
		return;
	if (src == NULL || *src == '\0') {
		snprintf(dst, dstlen, "-");
		return;
	}
	for (; *src != '\0' && o + 5 < dstlen; src++) {
		unsigned char c = (unsigned char)*src;

		/* Keep lines one line and splittable on spaces. */
		if (c <= 0x20 || c >= 0x7f || c == '"' || c == '\\' ||
		    c == '=') {
			dst[o++] = '\\';
			dst[o++] = 'x';
			dst[o++] = hex[c >> 4];
			dst[o++] = hex[c & 15];
		} else
			dst[o++] = (char)c;
	}
	dst[o] = '\0';
}

void
cs_log_access(const struct cs_access *a)
{
	char client[64], method[32], path[256], model[160], up[160], err[256];
	char line[LOG_LINE_MAX];
	int n;

	cs_log_escape(client, sizeof(client), a->client);
	cs_log_escape(method, sizeof(method), a->method);
	cs_log_escape(path, sizeof(path), a->path);
	cs_log_escape(model, sizeof(model), a->model);
	cs_log_escape(up, sizeof(up), a->upstream);
	cs_log_escape(err, sizeof(err), a->error);
	n = snprintf(line, sizeof(line),
	    "chatstream: id=%s client=%s method=%s path=%s model=%s "
	    "upstream=%s tried=%d status=%d outcome=%s ttfd_ms=%ld duration_ms=%ld deltas=%lu "
	    "prompt_tokens=%ld completion_tokens=%ld bytes_out=%llu "
	    "retries=%d admit_us=%ld error=%s\n",
	    a->id, client, method, path, model, up, a->tried, a->status,
	    a->outcome, a->ttfd_ms, a->duration_ms, a->deltas, a->prompt_tokens,
	    a->completion_tokens, a->bytes_out, a->retries, a->admit_us, err);
	if (n < 0)
		return;
	if ((size_t)n >= sizeof(line)) {
		n = sizeof(line) - 1;
		line[n - 1] = '\n';
	}
	emit(line, (size_t)n);
}
