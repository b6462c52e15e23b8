/*
 * identity.h — who is asking: the client's address (through the web
 * server and any trusted proxies in front of it), the identity string a
 * per-client limit counts against, and access keys checked by SHA-256.
 *
 * Pure functions on strings the caller read from the request (REMOTE_ADDR,
 * X-Forwarded-For, REMOTE_USER, Authorization, x-api-key): no I/O but
 * cs_hash_key_main(), no allocation, no global state.  Every output is a
 * buffer the caller owns and sizes; every input is borrowed for the call.
 * A struct cs_cidrs is plain data (embed it); cs_key_find() returns a
 * pointer into the caller's own array.
 *
 * Addresses: IPv4 and IPv6 in the forms inet_pton(3) reads; an
 * IPv4-mapped IPv6 address (::ffff:1.2.3.4) is the IPv4 address
 * everywhere (in lists, in matching, in what comes out).
 */
#ifndef CS_IDENTITY_H
#define CS_IDENTITY_H

#include <stddef.h>
#include <stdio.h>

#include "cs.h"
#include "sha256.h"

#define CS_MAX_CIDRS    64  /* entries in one address list */
#define CS_MAX_ADDR     46  /* an address as text, with its NUL */
#define CS_MAX_ID_VALUE 256 /* bytes of a user, key name or header value */
#define CS_MAX_IDENTITY (4 + CS_MAX_ID_VALUE + 1) /* "hdr:" value NUL */
#define CS_MAX_SECRET   256 /* bytes of an access key's secret */
#define CS_MAX_KEY_NAME 64  /* bytes of an access key's name */

/* What a [key]'s permissions allow: the chat routes, GET /api/metrics
 * (metrics = key), the usage dashboard's data (admin = key). */
#define CS_PERM_CHAT    1u
#define CS_PERM_METRICS 2u
#define CS_PERM_ADMIN   4u

/* ---- address lists (trusted_proxies = 10.0.0.0/8 2001:db8::/32 ...) ---- */

struct cs_cidr {
	unsigned char net[16]; /* host bits zero; IPv4 in net[0..4) */
	unsigned char bits;    /* prefix length: 0..32 or 0..128 */
	unsigned char v6;      /* 1: an IPv6 network, 0: IPv4 */
};

struct cs_cidrs {
	size_t n;
	struct cs_cidr e[CS_MAX_CIDRS];
};

/*
 * Parse text: entries separated by spaces, tabs or commas, each ADDR or
 * ADDR/BITS (a bare address is /32 or /128).  Strict: BITS is decimal
 * without a leading zero and within the family's range, and the address
 * has no bit set past the prefix (10.0.0.1/8 is refused: write
 * 10.0.0.0/8 for the network, 10.0.0.1 for the host).  An IPv4 network
 * never matches an IPv6 address, nor the reverse: ::/0 is every IPv6
 * address and no IPv4 one (::ffff:a.b.c.d/N, N >= 96, is the IPv4
 * network a.b.c.d/N-96).  Empty text is an empty list.
 * CS_OK; CS_ECONFIG for a bad entry, CS_ETOOBIG past CS_MAX_CIDRS
 * entries: err then names the entry ("\"10.0.0.0/33\": ...") and *out
 * is the empty list, never a part of text.
 */
enum cs_err cs_cidr_parse_list(
    const char *text, struct cs_cidrs *out, char *err, size_t errlen);

/* 1 when addr (a whole string) is an address inside one of the
 * networks of l, else 0 (also for NULL or anything not an address). */
int cs_cidr_match(const struct cs_cidrs *l, const char *addr);

/* ---- the client's address ---- */

/*
 * The address of the client a request is from, as text into out (at
 * most CS_MAX_ADDR bytes with the NUL): REMOTE_ADDR, unless that is in
 * trusted (a proxy of ours, or the web server in front of us); then
 * X-Forwarded-For is read right to left, each trusted hop skipped, and
 * the first untrusted address is the client's (when every one is
 * trusted, the leftmost).  When REMOTE_ADDR is not trusted, or trusted
 * is NULL, x_forwarded_for is ignored: anyone can send one.
 *
 * Entries are separated by commas with optional spaces or tabs around
 * them; empty entries are skipped (list syntax, RFC 9110 5.6.1).  An
 * entry may be an address, [IPv6], [IPv6]:PORT or IPv4:PORT (some
 * proxies append the port; it is dropped).  Anything else ("unknown", an
 * obfuscated name, a hostname) ends the walk: the last good address
 * read is the client's, since what lies left of a hop that wrote garbage
 * cannot be trusted either.  So a broken proxy lumps its clients
 * together under its own address instead of letting one pick an
 * identity.  The result is canonical (inet_ntop(3)), IPv4 for mapped.
 * CS_OK; CS_EBADINPUT when remote_addr is NULL or not an address (a
 * UNIX-socket peer: REMOTE_ADDR "unix:" or empty); CS_ETOOBIG when the
 * address does not fit in outlen.
 */
enum cs_err cs_client_addr(const char *remote_addr, const char *x_forwarded_for,
    const struct cs_cidrs *trusted, char *out, size_t outlen);

/* ---- the identity a limit counts against ---- */

enum cs_id_mode {
	CS_ID_IP,          /* "ip:203.0.113.7", "ip:2001:db8:1:2::/64" */
	CS_ID_REMOTE_USER, /* "user:NAME", the web server's REMOTE_USER */
	CS_ID_KEY,         /* "key:NAME", a matched access key's name */
	CS_ID_HEADER,      /* "hdr:VALUE", a configured request header */
};

/*
 * The identity for mode from value: the client's address (cs_client_addr)
 * for CS_ID_IP, else the user, key name or header value.  An IPv4
 * address counts alone; an IPv6 one counts as its /64 (one customer's
 * network: a host can pick any address in it), written canonically
 * after masking (inet_ntop(3), "/64" appended).  Any other value must
 * be at most CS_MAX_ID_VALUE bytes of UTF-8 without a control character
 * (C0, DEL, C1, and U+2028/U+2029 and the bidi controls, which move or
 * reorder text): it goes to logs and maps as it is, so nothing else is
 * passed on.  out: at most CS_MAX_IDENTITY bytes with the NUL.
 *
 * CS_OK; CS_EDONE when value is NULL or empty: nobody to count, which
 * the caller must answer rather than count under a shared name — for
 * CS_ID_REMOTE_USER the web server authenticated nobody (401, or 403 if
 * it should have), for CS_ID_KEY no key matched (401); CS_EBADINPUT for
 * a value refused (not an address for CS_ID_IP, not UTF-8, a control
 * character); CS_ETOOBIG when it is too long or out too small.  err
 * says why (it never quotes the value).
 */
enum cs_err cs_identity(enum cs_id_mode mode, const char *value, char *out,
    size_t outlen, char *err, size_t errlen);

/* ---- access keys ---- */

/* A key the config lists: its name (what CS_ID_KEY counts and logs
 * show) and the SHA-256 of its secret, never the secret itself. */
struct cs_access_key {
	char name[CS_MAX_KEY_NAME + 1];
	unsigned char sha256[CS_SHA256_LEN];
};

/*
 * The secret a client offers, into secret (len bytes with the NUL):
 * from "Authorization: Bearer SECRET" (the scheme in any case, one or
 * more spaces after it) or from "x-api-key: SECRET".  Another scheme
 * (Basic, say, for the web server's own login) is no key offered.  A
 * secret is 1..CS_MAX_SECRET bytes of printable ASCII without spaces
 * (0x21..0x7e); nothing is trimmed.  When both headers carry one they
 * must be the same.
 * CS_OK; CS_EDONE when no key is offered (both NULL, or a non-Bearer
 * Authorization and no x-api-key); CS_EBADINPUT for an offered key that
 * is empty or has another byte, or two different keys; CS_ETOOBIG when
 * it is too long or does not fit in len.  secret is "" unless CS_OK.
 */
enum cs_err cs_key_from_headers(
    const char *authorization, const char *x_api_key, char *secret, size_t len);

/*
 * The key whose hash is SHA-256(secret), or NULL (also for an empty or
 * NULL secret).  The hash is compared with every key, in constant time
 * and without stopping at a match, so how long it takes says nothing
 * about which key, or how much of one, matched.  The first of two keys
 * with the same hash wins (the config refuses duplicates).
 */
const struct cs_access_key *
cs_key_find(const struct cs_access_key *keys, size_t n, const char *secret);

/* A "secret_sha256 = HEX" value: exactly 64 hex digits, either case,
 * nothing around them.  CS_OK, or CS_ECONFIG with err saying why. */
enum cs_err cs_key_parse_sha256(const char *text,
    unsigned char out[CS_SHA256_LEN], char *err, size_t errlen);

/*
 * chatstream --hash-key: one line from in (the secret; its "\n" or
 * "\r\n" stripped, nothing after it read), checked as
 * cs_key_from_headers checks a secret, and "secret_sha256 = HEX\n" to
 * out, the line the config takes.  Returns the exit status: 0, or 2
 * after one "chatstream: --hash-key: ..." line to errf (the secret is
 * never echoed).  The secret is wiped from memory before returning.
 */
int cs_hash_key_main(FILE *in, FILE *out, FILE *errf);

#endif
