/* cs.c — errors, strict numbers, hex and the wall clock; see cs.h. */
#include <time.h>

#include "cs.h"

int
cs_parse_dec(
    const char *s, size_t n, unsigned long long cap, unsigned long long *out)
{
	unsigned long long v = 0;
	unsigned d;
	size_t i;

	if (n == 0)
		return -1;
	for (i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		d = (unsigned)(s[i] - '0');
		v = v > (cap - d) / 10 ? cap : v * 10 + d;
	}
	*out = v;
	return 0;
}

const char *
cs_strerror(enum cs_err e)
{
	switch (e) {
	case CS_OK: return "success";
	case CS_ENOMEM: return "out of memory";
	case CS_ETOOBIG: return "size limit exceeded";
	case CS_EBADINPUT: return "invalid input";
	case CS_ECLIENTGONE: return "client disconnected";
	case CS_EUPSTREAM: return "upstream provider failed";
	case CS_ETIMEOUT: return "timed out";
	case CS_ESHUTDOWN: return "server shutting down";
	case CS_ESYS: return "system error";
	case CS_ECONFIG: return "configuration error";
	case CS_EDONE: return "no more events";
	case CS_EHANDLED: return "failure already answered";
	case CS_ESTATE: return "state store unavailable";
	}
	return "unknown error";
}

int
cs_hex_digit(int ch)
{
	if (ch >= '0' && ch <= '9')
		return ch - '0';
	if (ch >= 'a' && ch <= 'f')
		return ch - 'a' + 10;
	if (ch >= 'A' && ch <= 'F')
		return ch - 'A' + 10;
	return -1;
}

void
cs_hex_encode(const unsigned char *in, size_t n, char *out)
{
	static const char digits[] = "0123456789abcdef";
	size_t i;

	for (i = 0; i < n; i++) {
		out[2 * i] = digits[in[i] >> 4];
		out[2 * i + 1] = digits[in[i] & 15];
	}
	out[2 * n] = '\0';
}

enum cs_err
cs_hex_decode(const char *hex, size_t hexlen, unsigned char *out, size_t outlen)
{
	int hi, lo;
	size_t i;

	if (outlen > (size_t)-1 / 2 || hexlen != 2 * outlen)
		return CS_EBADINPUT;
	for (i = 0; i < outlen; i++) {
		hi = cs_hex_digit((unsigned char)hex[2 * i]);
		lo = cs_hex_digit((unsigned char)hex[2 * i + 1]);
		if (hi < 0 || lo < 0)
			return CS_EBADINPUT;
		out[i] = (unsigned char)(hi << 4 | lo);
	}
	return CS_OK;
}

long long
cs_mono_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

void
cs_realtime_in(struct timespec *ts, long long ms)
{
	clock_gettime(CLOCK_REALTIME, ts);
	ts->tv_sec += (time_t)(ms / 1000);
	ts->tv_nsec += (long)(ms % 1000) * 1000000L;
	if (ts->tv_nsec >= 1000000000L) {
		ts->tv_sec++;
		ts->tv_nsec -= 1000000000L;
	}
}

long long
cs_wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}
