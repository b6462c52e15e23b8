/*
 * identity.c — who is asking; see identity.h.  Addresses are parsed once
 * into struct ip (IPv4 in a[0..4), mapped IPv6 turned into IPv4) and
 * compared as bytes; text comes back out through inet_ntop(3) only, so
 * every output is canonical.
 */
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <arpa/inet.h>

#include "identity.h"
#include "utf8.h"

#define TOKEN_SHOWN 64 /* bytes of a bad list entry an error quotes */
#define SHOWN(n)    (int)((n) < TOKEN_SHOWN ? (n) : TOKEN_SHOWN)
#define STR_(x)     #x
#define STR(x)      STR_(x)
#define TOO_LONG    "the secret is longer than " STR(CS_MAX_SECRET) " bytes"

struct ip {
	unsigned char a[16];
	int v6;
};

static const unsigned char v4mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff,
	0xff };

/* s[0..n) as an address into *ip.  0, or -1 when it is not one. */
static int
ip_parse(const char *s, size_t n, struct ip *ip)
{
	char txt[CS_MAX_ADDR];

	if (n == 0 || n >= sizeof(txt))
		return -1;
	memcpy(txt, s, n);
	txt[n] = '\0';
	memset(ip, 0, sizeof(*ip));
	if (inet_pton(AF_INET, txt, ip->a) == 1)
		return 0;
	if (inet_pton(AF_INET6, txt, ip->a) != 1)
		return -1;
	ip->v6 = 1;
	if (memcmp(ip->a, v4mapped, sizeof(v4mapped)) == 0) {
		memmove(ip->a, ip->a + 12, 4);
		memset(ip->a + 4, 0, 12);
		ip->v6 = 0;
	}
	return 0;
}

/* *ip as text into out.  CS_OK, or CS_ETOOBIG. */
static enum cs_err
ip_format(const struct ip *ip, char *out, size_t outlen)
{
	char txt[CS_MAX_ADDR];

	if (inet_ntop(ip->v6 ? AF_INET6 : AF_INET, ip->a, txt, sizeof(txt)) ==
	        NULL ||
	    strlen(txt) >= outlen)
		return CS_ETOOBIG;
	memcpy(out, txt, strlen(txt) + 1);
	return CS_OK;
}

/* Whether the first bits bits of a and b agree (1/0). */
static int
prefix_equal(const unsigned char *a, const unsigned char *b, unsigned bits)
{
	unsigned full = bits / 8, rest = bits % 8;
	unsigned char mask;

	if (memcmp(a, b, full) != 0)
		return 0;
	if (rest == 0)
		return 1;
	mask = (unsigned char)(0xff << (8 - rest));
	return (a[full] & mask) == (b[full] & mask);
}

static int
ip_in(const struct cs_cidrs *l, const struct ip *ip)
{
	size_t i;

	for (i = 0; l != NULL && i < l->n; i++)
		if (l->e[i].v6 == ip->v6 &&
		    prefix_equal(l->e[i].net, ip->a, l->e[i].bits))
			return 1;
	return 0;
}

/* Zero every bit of a past the first bits (of 16 bytes). */
static void
mask_bits(unsigned char *a, unsigned bits)
{
	unsigned i;

	for (i = 0; i < 16; i++)
		if (bits >= 8 * (i + 1))
			continue;
		else if (bits <= 8 * i)
			a[i] = 0;
		else
			a[i] &= (unsigned char)(0xff << (8 * (i + 1) - bits));
}

/* One list entry s[0..n) into *c: 0, or -1 with err saying why. */
static int
cidr_parse(const char *s, size_t n, struct cs_cidr *c, char *err, size_t errlen)
{
	const char *slash = memchr(s, '/', n);
	size_t alen = slash ? (size_t)(slash - s) : n, blen;
	unsigned long long bits;
	unsigned max;
	struct ip ip;
	unsigned char net[16];

	if (ip_parse(s, alen, &ip) != 0) {
		snprintf(err, errlen, "\"%.*s\": not an IPv4 or IPv6 address",
		    SHOWN(n), s);
		return -1;
	}
	max = ip.v6 ? 128 : 32;
	bits = max;
	if (slash != NULL) {
		blen = n - alen - 1;
		if (blen == 0 || blen > 3 || (slash[1] == '0' && blen > 1) ||
		    cs_parse_dec(slash + 1, blen, 999, &bits) != 0) {
			snprintf(err, errlen,
			    "\"%.*s\": the prefix length must be a number "
			    "0..%u",
			    SHOWN(n), s, max);
			return -1;
		}
		/* ::ffff:a.b.c.d/N was read as IPv4: N counts from 96. */
		if (!ip.v6 && alen > 0 && memchr(s, ':', alen) != NULL) {
			if (bits < 96) {
				snprintf(err, errlen,
				    "\"%.*s\": an IPv4-mapped network needs "
				    "a prefix of 96..128",
				    SHOWN(n), s);
				return -1;
			}
			bits -= 96;
		}
		if (bits > max) {
			snprintf(err, errlen,
			    "\"%.*s\": the prefix length is over %u", SHOWN(n),
			    s, max);
			return -1;
		}
	}
	memcpy(net, ip.a, sizeof(net));
	mask_bits(net, (unsigned)bits);
	if (memcmp(net, ip.a, sizeof(net)) != 0) {
		snprintf(err, errlen,
		    "\"%.*s\": host bits are set past the /%u prefix", SHOWN(n),
		    s, (unsigned)bits);
		return -1;
	}
	memcpy(c->net, net, sizeof(c->net));
	c->bits = (unsigned char)bits;
	c->v6 = (unsigned char)ip.v6;
	return 0;
}

enum cs_err
cs_cidr_parse_list(
    const char *text, struct cs_cidrs *out, char *err, size_t errlen)
{
	static const char sep[] = " \t,";
	const char *p = text ? text : "";
	size_t n;

	out->n = 0;
	for (; *p != '\0'; p += n) {
		p += strspn(p, sep);
		if ((n = strcspn(p, sep)) == 0)
			continue;
		if (out->n == CS_ARRAY_LEN(out->e)) {
			snprintf(err, errlen, "\"%.*s\": more than %d entries",
			    SHOWN(n), p, CS_MAX_CIDRS);
			out->n = 0;
			return CS_ETOOBIG;
		}
		if (cidr_parse(p, n, &out->e[out->n], err, errlen) != 0) {
			out->n = 0;
			return CS_ECONFIG;
		}
		out->n++;
	}
	return CS_OK;
}

int
cs_cidr_match(const struct cs_cidrs *l, const char *addr)
{
	struct ip ip;

	return addr != NULL && ip_parse(addr, strlen(addr), &ip) == 0 &&
	    ip_in(l, &ip);
}

/* ":PORT" at s[0..n): 1..5 digits, at most 65535 (1/0). */
static int
is_port(const char *s, size_t n)
{
	unsigned long long v;

	return n >= 2 && n <= 6 && s[0] == ':' &&
	    cs_parse_dec(s + 1, n - 1, 65536, &v) == 0 && v <= 65535;
}

/* One X-Forwarded-For entry s[0..n) (trimmed, non-empty): ADDR,
 * [IPv6], [IPv6]:PORT or IPv4:PORT.  0, or -1. */
static int
xff_entry(const char *s, size_t n, struct ip *ip)
{
	const char *close, *colon;
	size_t a;

	if (s[0] == '[') {
		close = memchr(s, ']', n);
		if (close == NULL ||
		    ip_parse(s + 1, (size_t)(close - s - 1), ip) != 0 ||
		    memchr(s + 1, ':', (size_t)(close - s - 1)) == NULL)
			return -1;
		n -= (size_t)(close + 1 - s);
		return n == 0 || is_port(close + 1, n) ? 0 : -1;
	}
	colon = memchr(s, ':', n);
	if (colon == NULL)
		return ip_parse(s, n, ip);
	a = (size_t)(colon - s);
	if (memchr(colon + 1, ':', n - a - 1) != NULL)
		return ip_parse(s, n, ip); /* IPv6 */
	/* One colon: IPv4:PORT. */
	if (memchr(s, '.', a) == NULL || !is_port(colon, n - a) ||
	    ip_parse(s, a, ip) != 0 || ip->v6)
		return -1;
	return 0;
}

enum cs_err
cs_client_addr(const char *remote_addr, const char *x_forwarded_for,
    const struct cs_cidrs *trusted, char *out, size_t outlen)
{
	const char *xff = x_forwarded_for, *s;
	size_t start, end, n;
	struct ip cur, hop;

	if (outlen > 0)
		out[0] = '\0';
	if (remote_addr == NULL ||
	    ip_parse(remote_addr, strlen(remote_addr), &cur) != 0)
		return CS_EBADINPUT;
	if (xff == NULL || !ip_in(trusted, &cur))
		return ip_format(&cur, out, outlen);
	for (end = strlen(xff);; end = start - 1) {
		for (start = end; start > 0 && xff[start - 1] != ','; start--)
			;
		s = xff + start;
		n = end - start;
		while (n > 0 && (*s == ' ' || *s == '\t'))
			s++, n--;
		while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t'))
			n--;
		if (n > 0) {
			if (xff_entry(s, n, &hop) != 0)
				break; /* the last good one stands */
			cur = hop;
			if (!ip_in(trusted, &cur))
				break;
		}
		if (start == 0)
			break;
	}
	return ip_format(&cur, out, outlen);
}

/* Whether the UTF-8 sequence at p is a control character (C0, DEL, C1)
 * or one that moves or reorders text where it is shown: U+2028/U+2029
 * (line and paragraph separators) and the bidirectional embeddings,
 * overrides and isolates (U+202A..U+202E, U+2066..U+2069). */
static int
is_control(const unsigned char *p)
{
	if (p[0] < 0x20 || p[0] == 0x7f)
		return 1;
	if (p[0] == 0xc2)
		return p[1] >= 0x80 && p[1] <= 0x9f;
	if (p[0] == 0xe2 && p[1] == 0x80)
		return p[2] >= 0xa8 && p[2] <= 0xae;
	if (p[0] == 0xe2 && p[1] == 0x81)
		return p[2] >= 0xa6 && p[2] <= 0xa9;
	return 0;
}

/* Why value[0..n) (valid up to its NUL) may not be passed on, or NULL
 * when it may; *at is the offset of the byte at fault. */
static const char *
refuse(const char *value, size_t n, size_t *at)
{
	const unsigned char *p = (const unsigned char *)value;
	size_t i;

	if ((*at = cs_utf8_valid_len(value, n)) != n)
		return "not UTF-8";
	/* Valid UTF-8 and a NUL after it: p[i + 1], p[i + 2] are there
	 * whenever p[i] starts a sequence that long. */
	for (i = 0; i < n; i++)
		if (is_control(p + i)) {
			*at = i;
			return "a control character";
		}
	return NULL;
}

enum cs_err
cs_identity(enum cs_id_mode mode, const char *value, char *out, size_t outlen,
    char *err, size_t errlen)
{
	static const char *const prefix[] = { "ip:", "user:", "key:", "hdr:" };
	static const char *const absent[] = { "no client address",
		"no REMOTE_USER: the web server authenticated nobody",
		"no access key", "the identity header is absent" };
	char addr[CS_MAX_ADDR];
	const char *why;
	size_t n, at = 0;
	struct ip ip;
	int w;

	if (outlen > 0)
		out[0] = '\0';
	if ((unsigned)mode >= CS_ARRAY_LEN(prefix)) {
		snprintf(err, errlen, "unknown identity mode %d", (int)mode);
		return CS_EBADINPUT;
	}
	if (value == NULL || value[0] == '\0') {
		snprintf(err, errlen, "%s", absent[mode]);
		return CS_EDONE;
	}
	n = strlen(value);
	if (mode == CS_ID_IP) {
		if (ip_parse(value, n, &ip) != 0) {
			snprintf(err, errlen, "not an IP address");
			return CS_EBADINPUT;
		}
		if (ip.v6)
			mask_bits(ip.a, 64);
		if (ip_format(&ip, addr, sizeof(addr)) != CS_OK)
			return CS_ETOOBIG; /* not reached: addr fits any */
		w = snprintf(out, outlen, "ip:%s%s", addr, ip.v6 ? "/64" : "");
	} else {
		if (n > CS_MAX_ID_VALUE) {
			snprintf(err, errlen, "longer than %d bytes",
			    CS_MAX_ID_VALUE);
			return CS_ETOOBIG;
		}
		if ((why = refuse(value, n, &at)) != NULL) {
			snprintf(err, errlen, "%s at byte %zu", why, at);
			return CS_EBADINPUT;
		}
		w = snprintf(out, outlen, "%s%s", prefix[mode], value);
	}
	if (w < 0 || (size_t)w >= outlen) {
		if (outlen > 0)
			out[0] = '\0';
		snprintf(err, errlen, "the identity does not fit in %zu bytes",
		    outlen);
		return CS_ETOOBIG;
	}
	return CS_OK;
}

/* Whether s[0..n) may be a secret: CS_OK, CS_EBADINPUT (empty, or a
 * byte outside 0x21..0x7e), CS_ETOOBIG. */
static enum cs_err
secret_check(const char *s, size_t n)
{
	size_t i;

	if (n == 0)
		return CS_EBADINPUT;
	if (n > CS_MAX_SECRET)
		return CS_ETOOBIG;
	for (i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x21 || (unsigned char)s[i] > 0x7e)
			return CS_EBADINPUT;
	return CS_OK;
}

/* The secret of a Bearer Authorization value into *s, *n: CS_OK,
 * CS_EDONE (another scheme), or secret_check's answer. */
static enum cs_err
bearer(const char *auth, const char **s, size_t *n)
{
	static const char scheme[] = "Bearer";
	const char *p;

	if (strncasecmp(auth, scheme, sizeof(scheme) - 1) != 0)
		return CS_EDONE;
	p = auth + sizeof(scheme) - 1;
	if (*p != '\0' && *p != ' ')
		return CS_EDONE; /* "Bearerish": not this scheme */
	p += strspn(p, " ");
	*s = p;
	*n = strlen(p);
	return secret_check(*s, *n);
}

enum cs_err
cs_key_from_headers(
    const char *authorization, const char *x_api_key, char *secret, size_t len)
{
	const char *b = NULL, *x = x_api_key;
	size_t bn = 0, xn = 0;
	enum cs_err rc = CS_EDONE;

	if (len > 0)
		secret[0] = '\0';
	if (authorization != NULL &&
	    (rc = bearer(authorization, &b, &bn)) != CS_OK && rc != CS_EDONE)
		return rc;
	if (rc == CS_EDONE)
		b = NULL;
	if (x != NULL) {
		xn = strlen(x);
		if ((rc = secret_check(x, xn)) != CS_OK)
			return rc;
		if (b != NULL && (bn != xn || memcmp(b, x, xn) != 0))
			return CS_EBADINPUT; /* two different keys */
		b = x;
		bn = xn;
	}
	if (b == NULL)
		return CS_EDONE;
	if (bn >= len)
		return CS_ETOOBIG;
	memcpy(secret, b, bn);
	secret[bn] = '\0';
	return CS_OK;
}

const struct cs_access_key *
cs_key_find(const struct cs_access_key *keys, size_t n, const char *secret)
{
	const struct cs_access_key *found = NULL;
	unsigned char d[CS_SHA256_LEN];
	size_t i;
	int eq;

	if (secret == NULL || secret[0] == '\0')
		return NULL;
	cs_sha256(secret, strlen(secret), d);
	for (i = 0; i < n; i++) {
		eq = cs_ct_equal(d, keys[i].sha256, sizeof(d));
		if (eq && found == NULL)
			found = &keys[i];
	}
	explicit_bzero(d, sizeof(d));
	return found;
}

enum cs_err
cs_key_parse_sha256(const char *text, unsigned char out[CS_SHA256_LEN],
    char *err, size_t errlen)
{
	size_t n = text ? strlen(text) : 0, i;

	if (n != CS_SHA256_HEX) {
		snprintf(err, errlen,
		    "secret_sha256: expected %d hex digits, got %zu "
		    "characters (chatstream --hash-key prints the line)",
		    CS_SHA256_HEX, n);
		return CS_ECONFIG;
	}
	for (i = 0; i < n; i++)
		if (cs_hex_digit((unsigned char)text[i]) < 0) {
			snprintf(err, errlen,
			    "secret_sha256: character %zu is not a hex digit",
			    i + 1);
			return CS_ECONFIG;
		}
	return cs_hex_decode(text, n, out, CS_SHA256_LEN) == CS_OK ? CS_OK :
	                                                             CS_ECONFIG;
}

int
cs_hash_key_main(FILE *in, FILE *out, FILE *errf)
{
	/* The secret, its "\r\n", and one byte to see it is too long. */
	char line[CS_MAX_SECRET + 3];
	unsigned char d[CS_SHA256_LEN];
	char hex[CS_SHA256_HEX + 1];
	const char *why = NULL;
	size_t n = 0;
	int ch = EOF, rc = 2;

	while (n < sizeof(line) && (ch = getc(in)) != EOF && ch != '\n')
		line[n++] = (char)ch;
	if (ferror(in))
		why = "cannot read the secret from standard input";
	else if (ch != '\n' && ch != EOF)
		why = TOO_LONG;
	else {
		if (n > 0 && line[n - 1] == '\r')
			n--;
		switch (secret_check(line, n)) {
		case CS_OK: break;
		case CS_ETOOBIG: why = TOO_LONG; break;
		default:
			why = n == 0 ? "the secret is empty" :
			               "the secret must be printable ASCII "
			               "without spaces (it is sent as a Bearer "
			               "token)";
		}
	}
	if (why != NULL) {
		fprintf(errf, "chatstream: --hash-key: %s\n", why);
		goto out;
	}
	cs_sha256(line, n, d);
	cs_hex_encode(d, sizeof(d), hex);
	if (fprintf(out, "secret_sha256 = %s\n", hex) < 0 || fflush(out) != 0) {
		fprintf(
		    errf, "chatstream: --hash-key: cannot write the hash\n");
		goto out;
	}
	rc = 0;
out:
	explicit_bzero(line, sizeof(line));
	explicit_bzero(d, sizeof(d));
	return rc;
}
