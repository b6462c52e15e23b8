/*
 * test_identity.c — who is asking (identity.h): address lists parsed
 * strictly (every error names its entry), matched across IPv4, IPv6 and
 * IPv4-mapped forms; the client address through trusted proxies
 * (X-Forwarded-For walks: untrusted peers, several hops, all trusted,
 * garbage, spaces, ports and brackets); identity strings (IPv6 per /64,
 * values refused); access keys (extraction, lookup, the hash parser) and
 * --hash-key's input rules.
 */
#include <string.h>

#include "identity.h"
#include "testutil.h"

static void
list_ok(const char *text, size_t want_n, struct cs_cidrs *l)
{
	char err[200] = "";

	if (cs_cidr_parse_list(text, l, err, sizeof(err)) != CS_OK)
		fail_msg("\"%s\": %s", text, err);
	if (l->n != want_n)
		fail_msg("\"%s\": %zu entries, want %zu", text, l->n, want_n);
}

/* text is refused with rc, err quoting "token" (with its quotes). */
static void
list_bad(const char *text, enum cs_err rc, const char *token)
{
	char err[200] = "", quoted[100];
	struct cs_cidrs l;

	l.n = 99;
	if (cs_cidr_parse_list(text, &l, err, sizeof(err)) != rc)
		fail_msg("\"%s\": accepted or wrong code (%s)", text, err);
	snprintf(quoted, sizeof(quoted), "\"%s\"", token);
	if (strstr(err, quoted) == NULL)
		fail_msg(
		    "\"%s\": error \"%s\" does not name %s", text, err, quoted);
	assert_int_equal(l.n, 0);
}

static void
test_cidr_parse(void **state)
{
	struct cs_cidrs l;
	char big[64 * 16 + 20];
	size_t i;

	(void)state;
	list_ok("10.0.0.0/8 2001:db8::/32 127.0.0.1", 3, &l);
	assert_int_equal(l.e[0].bits, 8);
	assert_int_equal(l.e[0].v6, 0);
	assert_int_equal(l.e[1].bits, 32);
	assert_int_equal(l.e[1].v6, 1);
	assert_int_equal(l.e[2].bits, 32); /* a bare address is a host */
	list_ok("::1", 1, &l);
	assert_int_equal(l.e[0].bits, 128);
	list_ok("10.0.0.0/8,192.168.0.0/16 ,\t::1,", 3, &l);
	list_ok("0.0.0.0/0 ::/0 192.168.1.128/25 2001:db8::/29", 4, &l);
	list_ok("", 0, &l);
	list_ok(" , ,\t", 0, &l);
	list_ok("::ffff:10.0.0.0/104", 1, &l); /* mapped: IPv4 10/8 */
	assert_int_equal(l.e[0].v6, 0);
	assert_int_equal(l.e[0].bits, 8);
	assert_int_equal(cs_cidr_parse_list(NULL, &l, big, 10), CS_OK);
	assert_int_equal(l.n, 0);
	/* The cap: 64 entries fit, the 65th is named. */
	big[0] = '\0';
	for (i = 0; i < 64; i++)
		sprintf(big + strlen(big), "10.0.%zu.0/24 ", i);
	list_ok(big, 64, &l);
	strcat(big, "10.1.0.0/16");
	list_bad(big, CS_ETOOBIG, "10.1.0.0/16");

	list_bad("10.0.0.0/33", CS_ECONFIG, "10.0.0.0/33");
	list_bad("2001:db8::/129", CS_ECONFIG, "2001:db8::/129");
	list_bad("10.0.0.1/8", CS_ECONFIG, "10.0.0.1/8"); /* host bits */
	list_bad("2001:db8::1/32", CS_ECONFIG, "2001:db8::1/32");
	list_bad("192.168.1.129/25", CS_ECONFIG, "192.168.1.129/25");
	list_bad("10.0.0.0/", CS_ECONFIG, "10.0.0.0/");
	list_bad("10.0.0.0/08", CS_ECONFIG, "10.0.0.0/08");
	list_bad("10.0.0.0/-1", CS_ECONFIG, "10.0.0.0/-1");
	list_bad("10.0.0.0/+8", CS_ECONFIG, "10.0.0.0/+8");
	list_bad("10.0.0.0/8/8", CS_ECONFIG, "10.0.0.0/8/8");
	list_bad("10.0.0.0/0x8", CS_ECONFIG, "10.0.0.0/0x8");
	list_bad("10.0.0.0/1000", CS_ECONFIG, "10.0.0.0/1000");
	list_bad("::ffff:10.0.0.0/80", CS_ECONFIG, "::ffff:10.0.0.0/80");
	list_bad("junk", CS_ECONFIG, "junk");
	list_bad("/8", CS_ECONFIG, "/8");
	list_bad("10.0.0", CS_ECONFIG, "10.0.0");
	list_bad("10.0.0.256", CS_ECONFIG, "10.0.0.256");
	list_bad("010.0.0.1", CS_ECONFIG, "010.0.0.1");
	list_bad("1.2.3.4.5", CS_ECONFIG, "1.2.3.4.5");
	list_bad("fe80::1%eth0", CS_ECONFIG, "fe80::1%eth0");
	list_bad("[::1]", CS_ECONFIG, "[::1]");
	list_bad("2001:db8::/32x", CS_ECONFIG, "2001:db8::/32x");
	list_bad("localhost", CS_ECONFIG, "localhost");
	/* The bad one is named, not the good one before it; nothing of
	 * the list is kept. */
	list_bad("10.0.0.0/8 bogus 127.0.0.1", CS_ECONFIG, "bogus");
	list_bad("10.0.0.0/8;127.0.0.1", CS_ECONFIG, "10.0.0.0/8;127.0.0.1");
}

static void
test_cidr_match(void **state)
{
	static const struct {
		const char *addr;
		int want;
	} cases[] = {
		{ "10.1.2.3", 1 },
		{ "10.255.255.255", 1 },
		{ "11.0.0.1", 0 },
		{ "9.255.255.255", 0 },
		{ "127.0.0.1", 1 },
		{ "127.0.0.2", 0 },
		{ "192.168.1.128", 1 },
		{ "192.168.1.255", 1 },
		{ "192.168.1.127", 0 },
		{ "2001:db8::1", 1 },
		{ "2001:DB8:FFFF::1", 1 },
		{ "2001:db9::1", 0 },
		{ "::ffff:10.9.9.9", 1 }, /* mapped is IPv4 */
		{ "::FFFF:127.0.0.1", 1 },
		{ "::ffff:11.0.0.1", 0 },
		{ "::a09:909", 0 }, /* IPv4-compatible is not mapped */
		{ "", 0 },
		{ "junk", 0 },
		{ "10.1.2.3 ", 0 },
		{ "10.1.2.3/32", 0 },
	};
	struct cs_cidrs l, any4, any6, odd;
	size_t i;

	(void)state;
	list_ok("10.0.0.0/8 2001:db8::/32 127.0.0.1 192.168.1.128/25", 4, &l);
	for (i = 0; i < CS_ARRAY_LEN(cases); i++)
		if (cs_cidr_match(&l, cases[i].addr) != cases[i].want)
			fail_msg("%s: match %d, want %d", cases[i].addr,
			    !cases[i].want, cases[i].want);
	assert_int_equal(cs_cidr_match(&l, NULL), 0);
	assert_int_equal(cs_cidr_match(NULL, "10.1.2.3"), 0);
	/* The families stay apart. */
	list_ok("0.0.0.0/0", 1, &any4);
	list_ok("::/0", 1, &any6);
	assert_int_equal(cs_cidr_match(&any4, "203.0.113.1"), 1);
	assert_int_equal(cs_cidr_match(&any4, "::ffff:203.0.113.1"), 1);
	assert_int_equal(cs_cidr_match(&any4, "::1"), 0);
	assert_int_equal(cs_cidr_match(&any6, "::1"), 1);
	assert_int_equal(cs_cidr_match(&any6, "203.0.113.1"), 0);
	assert_int_equal(cs_cidr_match(&any6, "::ffff:203.0.113.1"), 0);
	/* A prefix off a byte boundary: /29 is 2001:db8:: ..
	 * 2001:dbf:ffff:... */
	list_ok("2001:db8::/29 172.16.0.0/12", 2, &odd);
	assert_int_equal(cs_cidr_match(&odd, "2001:dbf:ffff::1"), 1);
	assert_int_equal(cs_cidr_match(&odd, "2001:dc0::"), 0);
	assert_int_equal(cs_cidr_match(&odd, "2001:db7:ffff::"), 0);
	assert_int_equal(cs_cidr_match(&odd, "172.31.255.255"), 1);
	assert_int_equal(cs_cidr_match(&odd, "172.32.0.0"), 0);
}

static void
test_client_addr(void **state)
{
	/* Trusted: 10.0.0.0/8 127.0.0.1 2001:db8:ff::/48. */
	static const struct {
		const char *remote, *xff;
		enum cs_err rc;
		const char *want;
	} cases[] = {
		/* An untrusted peer: its X-Forwarded-For means nothing. */
		{ "203.0.113.7", "1.2.3.4", CS_OK, "203.0.113.7" },
		{ "203.0.113.7", NULL, CS_OK, "203.0.113.7" },
		{ "2001:DB8:0:0::5", "1.2.3.4", CS_OK, "2001:db8::5" },
		{ "::ffff:203.0.113.7", NULL, CS_OK, "203.0.113.7" },
		/* A trusted one: right to left, past the trusted hops
		 * (198.51.100.1: whatever the client claimed). */
		{ "127.0.0.1", NULL, CS_OK, "127.0.0.1" },
		{ "127.0.0.1", "", CS_OK, "127.0.0.1" },
		{ "127.0.0.1", "203.0.113.7", CS_OK, "203.0.113.7" },
		{ "127.0.0.1", "198.51.100.1, 203.0.113.7, 10.0.0.2", CS_OK,
		    "203.0.113.7" },
		{ "10.9.9.9", "203.0.113.7,10.0.0.3,10.0.0.2", CS_OK,
		    "203.0.113.7" },
		/* All trusted: the leftmost. */
		{ "127.0.0.1", "10.0.0.3, 10.0.0.2", CS_OK, "10.0.0.3" },
		/* Garbage ends the walk at the last good address. */
		{ "127.0.0.1", "203.0.113.7, unknown, 10.0.0.2", CS_OK,
		    "10.0.0.2" },
		{ "127.0.0.1", "203.0.113.7, garbage", CS_OK, "127.0.0.1" },
		{ "127.0.0.1", "203.0.113.7, example.com", CS_OK, "127.0.0.1" },
		{ "127.0.0.1", "203.0.113.7, 1.2.3.4:99999", CS_OK,
		    "127.0.0.1" },
		{ "127.0.0.1", "[1.2.3.4]", CS_OK, "127.0.0.1" },
		{ "127.0.0.1", "[2001:db8::1", CS_OK, "127.0.0.1" },
		{ "127.0.0.1", "[2001:db8::1]x", CS_OK, "127.0.0.1" },
		{ "127.0.0.1", "1.2.3.4:", CS_OK, "127.0.0.1" },
		{ "127.0.0.1", "1.2.3.4 5.6.7.8", CS_OK, "127.0.0.1" },
		/* Spaces, tabs and empty entries. */
		{ "127.0.0.1", " 203.0.113.7 ,\t, 10.0.0.2 ,", CS_OK,
		    "203.0.113.7" },
		{ "127.0.0.1", ",,,", CS_OK, "127.0.0.1" },
		/* Ports and brackets. */
		{ "127.0.0.1", "203.0.113.7:4711", CS_OK, "203.0.113.7" },
		{ "127.0.0.1", "[2001:db8::1]:443", CS_OK, "2001:db8::1" },
		{ "127.0.0.1", "[2001:db8::1]", CS_OK, "2001:db8::1" },
		{ "127.0.0.1", "2001:0DB8::0001", CS_OK, "2001:db8::1" },
		/* Mapped, in REMOTE_ADDR and in the list; IPv6 hops. */
		{ "::ffff:127.0.0.1", "::ffff:203.0.113.9", CS_OK,
		    "203.0.113.9" },
		{ "2001:db8:ff::1", "203.0.113.7, 2001:db8:ff:1::9", CS_OK,
		    "203.0.113.7" },
		/* No address to start from. */
		{ "unix:", "203.0.113.7", CS_EBADINPUT, "" },
		{ "", NULL, CS_EBADINPUT, "" },
		{ NULL, "203.0.113.7", CS_EBADINPUT, "" },
	};
	struct cs_cidrs proxies;
	char out[CS_MAX_ADDR], small[8];
	enum cs_err rc;
	size_t i;

	(void)state;
	list_ok("10.0.0.0/8 127.0.0.1 2001:db8:ff::/48", 3, &proxies);
	for (i = 0; i < CS_ARRAY_LEN(cases); i++) {
		rc = cs_client_addr(
		    cases[i].remote, cases[i].xff, &proxies, out, sizeof(out));
		if (rc != cases[i].rc || strcmp(out, cases[i].want) != 0)
			fail_msg("REMOTE_ADDR %s, XFF \"%s\": %d \"%s\", want "
			         "%d \"%s\"",
			    cases[i].remote ? cases[i].remote : "(null)",
			    cases[i].xff ? cases[i].xff : "(null)", rc, out,
			    cases[i].rc, cases[i].want);
	}
	/* No trusted list: REMOTE_ADDR; room in out. */
	assert_int_equal(
	    cs_client_addr("1.2.3.4", "5.6.7.8", NULL, small, sizeof(small)),
	    CS_OK);
	assert_string_equal(small, "1.2.3.4");
	assert_int_equal(cs_client_addr("127.0.0.1", "203.0.113.7", &proxies,
	                     small, sizeof(small)),
	    CS_ETOOBIG);
}

static void
id_expect(enum cs_id_mode mode, const char *value, enum cs_err want_rc,
    const char *want)
{
	char out[CS_MAX_IDENTITY], err[200] = "";
	enum cs_err rc;

	memset(out, 'x', sizeof(out));
	rc = cs_identity(mode, value, out, sizeof(out), err, sizeof(err));
	if (rc != want_rc)
		fail_msg("\"%s\": rc %d (%s), want %d",
		    value ? value : "(null)", rc, err, want_rc);
	if (rc == CS_OK && want != NULL && strcmp(out, want) != 0)
		fail_msg("\"%s\": \"%s\", want \"%s\"", value, out, want);
	if (rc != CS_OK) {
		assert_string_equal(out, "");
		assert_true(err[0] != '\0');
		/* A refused value is never quoted back. */
		if (value != NULL && strlen(value) > 3)
			assert_null(strstr(err, value));
	}
}

static void
test_identity(void **state)
{
	char v[CS_MAX_ID_VALUE + 2], hv[CS_MAX_IDENTITY + 2], out[16], err[200];

	(void)state;
	id_expect(CS_ID_IP, "203.0.113.7", CS_OK, "ip:203.0.113.7");
	id_expect(CS_ID_IP, "::ffff:203.0.113.7", CS_OK, "ip:203.0.113.7");
	id_expect(
	    CS_ID_IP, "2001:db8:1:2:3:4:5:6", CS_OK, "ip:2001:db8:1:2::/64");
	id_expect(CS_ID_IP, "2001:0DB8:0001:0002:ffff::1", CS_OK,
	    "ip:2001:db8:1:2::/64");
	id_expect(CS_ID_IP, "2001:db8::1", CS_OK, "ip:2001:db8::/64");
	id_expect(CS_ID_IP, "2001:db8:0:0:1::", CS_OK, "ip:2001:db8::/64");
	id_expect(CS_ID_IP, "fe80::1", CS_OK, "ip:fe80::/64");
	id_expect(CS_ID_IP, "::1", CS_OK, "ip:::/64");
	id_expect(CS_ID_IP, "junk", CS_EBADINPUT, NULL);
	id_expect(CS_ID_IP, "10.0.0.1/8", CS_EBADINPUT, NULL);
	id_expect(CS_ID_IP, NULL, CS_EDONE, NULL);
	id_expect(CS_ID_REMOTE_USER, "alice", CS_OK, "user:alice");
	id_expect(CS_ID_REMOTE_USER, "alice@example.com", CS_OK,
	    "user:alice@example.com");
	id_expect(CS_ID_KEY, "team-a", CS_OK, "key:team-a");
	id_expect(CS_ID_HEADER, "Team A \xc3\xa9\xe2\x82\xac", CS_OK,
	    "hdr:Team A \xc3\xa9\xe2\x82\xac");
	/* Nobody: the caller answers 401/403. */
	id_expect(CS_ID_REMOTE_USER, NULL, CS_EDONE, NULL);
	id_expect(CS_ID_REMOTE_USER, "", CS_EDONE, NULL);
	id_expect(CS_ID_KEY, "", CS_EDONE, NULL);
	id_expect(CS_ID_HEADER, NULL, CS_EDONE, NULL);
	assert_int_equal(cs_identity(CS_ID_REMOTE_USER, NULL, out, sizeof(out),
	                     err, sizeof(err)),
	    CS_EDONE);
	assert_non_null(strstr(err, "REMOTE_USER"));
	/* Control bytes, C0, DEL and C1, anywhere. */
	id_expect(CS_ID_REMOTE_USER, "ali\tce", CS_EBADINPUT, NULL);
	id_expect(CS_ID_HEADER, "team\x1b[31m", CS_EBADINPUT, NULL);
	id_expect(CS_ID_HEADER, "team\r\nX-Injected: 1", CS_EBADINPUT, NULL);
	id_expect(CS_ID_HEADER, "team\x7f", CS_EBADINPUT, NULL);
	id_expect(CS_ID_HEADER, "team\xc2\x85", CS_EBADINPUT, NULL); /* NEL */
	id_expect(CS_ID_KEY, "\x01team", CS_EBADINPUT, NULL);
	id_expect(CS_ID_HEADER, "team\xe2\x80\xa8x", CS_EBADINPUT, NULL);
	id_expect(CS_ID_HEADER, "team\xe2\x80\xaex", CS_EBADINPUT, NULL);
	id_expect(CS_ID_HEADER, "team\xe2\x81\xa6x", CS_EBADINPUT, NULL);
	/* Their neighbours pass: U+2027, U+202F, U+2065, U+206A. */
	id_expect(CS_ID_HEADER, "a\xe2\x80\xa7\xe2\x80\xaf", CS_OK,
	    "hdr:a\xe2\x80\xa7\xe2\x80\xaf");
	id_expect(CS_ID_HEADER, "a\xe2\x81\xa5\xe2\x81\xaa", CS_OK,
	    "hdr:a\xe2\x81\xa5\xe2\x81\xaa");
	id_expect(CS_ID_HEADER, "\xc2\xa0\xc2\x7f", CS_EBADINPUT, NULL);
	assert_int_equal(cs_identity(CS_ID_HEADER, "ab\x1b", out, sizeof(out),
	                     err, sizeof(err)),
	    CS_EBADINPUT);
	assert_non_null(strstr(err, "byte 2"));
	/* Not UTF-8. */
	id_expect(CS_ID_HEADER, "team\xff", CS_EBADINPUT, NULL);
	id_expect(CS_ID_HEADER, "team\xc3", CS_EBADINPUT, NULL);
	id_expect(CS_ID_HEADER, "team\xc0\xaf", CS_EBADINPUT, NULL);
	id_expect(CS_ID_HEADER, "team\xed\xa0\x80", CS_EBADINPUT, NULL);
	/* Length: 256 bytes pass, 257 do not. */
	memset(v, 'u', CS_MAX_ID_VALUE);
	v[CS_MAX_ID_VALUE] = '\0';
	snprintf(hv, sizeof(hv), "hdr:%s", v);
	id_expect(CS_ID_HEADER, v, CS_OK, hv);
	v[CS_MAX_ID_VALUE] = 'u';
	v[CS_MAX_ID_VALUE + 1] = '\0';
	id_expect(CS_ID_HEADER, v, CS_ETOOBIG, NULL);
	/* Room in out. */
	assert_int_equal(cs_identity(CS_ID_REMOTE_USER, "a-long-name", out,
	                     sizeof(out), err, sizeof(err)),
	    CS_ETOOBIG);
	assert_string_equal(out, "");
	assert_int_equal(cs_identity(CS_ID_IP, "2001:db8:1:2::9", out,
	                     sizeof(out), err, sizeof(err)),
	    CS_ETOOBIG);
	assert_int_equal(cs_identity((enum cs_id_mode)9, "x", out, sizeof(out),
	                     err, sizeof(err)),
	    CS_EBADINPUT);
}

static void
key_expect(
    const char *auth, const char *xkey, enum cs_err want_rc, const char *want)
{
	char secret[CS_MAX_SECRET + 1];
	enum cs_err rc;

	memset(secret, 'x', sizeof(secret));
	rc = cs_key_from_headers(auth, xkey, secret, sizeof(secret));
	if (rc != want_rc || strcmp(secret, want) != 0)
		fail_msg("Authorization \"%s\", x-api-key \"%s\": %d \"%s\", "
		         "want %d \"%s\"",
		    auth ? auth : "(null)", xkey ? xkey : "(null)", rc, secret,
		    want_rc, want);
}

static void
test_key_from_headers(void **state)
{
	char longest[CS_MAX_SECRET + 2], auth[CS_MAX_SECRET + 16], small[4];

	(void)state;
	key_expect("Bearer sk-abc123", NULL, CS_OK, "sk-abc123");
	key_expect("bearer sk-abc123", NULL, CS_OK, "sk-abc123");
	key_expect("BEARER    sk-abc123", NULL, CS_OK, "sk-abc123");
	key_expect("Bearer a~!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}", NULL, CS_OK,
	    "a~!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}");
	key_expect(NULL, "sk-abc123", CS_OK, "sk-abc123");
	/* Both: the same key, or a refusal. */
	key_expect("Bearer sk-abc123", "sk-abc123", CS_OK, "sk-abc123");
	key_expect("Bearer sk-abc123", "sk-abc124", CS_EBADINPUT, "");
	/* Another scheme is no key (it may be the web server's login). */
	key_expect("Basic dXNlcjpwYXNz", NULL, CS_EDONE, "");
	key_expect("Basic dXNlcjpwYXNz", "sk-abc123", CS_OK, "sk-abc123");
	key_expect("Bearerish sk-abc123", NULL, CS_EDONE, "");
	key_expect("Bearer\tsk-abc123", NULL, CS_EDONE, "");
	key_expect("", NULL, CS_EDONE, "");
	key_expect(NULL, NULL, CS_EDONE, "");
	/* Offered but empty or malformed. */
	key_expect("Bearer", NULL, CS_EBADINPUT, "");
	key_expect("Bearer ", NULL, CS_EBADINPUT, "");
	key_expect("Bearer    ", NULL, CS_EBADINPUT, "");
	key_expect("Bearer sk abc", NULL, CS_EBADINPUT, "");
	key_expect("Bearer sk-abc ", NULL, CS_EBADINPUT, "");
	key_expect("Bearer sk-\x01", NULL, CS_EBADINPUT, "");
	key_expect("Bearer sk-\x7f", NULL, CS_EBADINPUT, "");
	key_expect("Bearer sk-\xc3\xa9", NULL, CS_EBADINPUT, "");
	key_expect(NULL, "", CS_EBADINPUT, "");
	key_expect(NULL, " sk-abc", CS_EBADINPUT, "");
	key_expect(NULL, "sk-abc\t", CS_EBADINPUT, "");
	key_expect("Bearer sk-abc123", "bad key", CS_EBADINPUT, "");
	key_expect("Bearer bad\x02", "sk-abc123", CS_EBADINPUT, "");
	/* Length: CS_MAX_SECRET bytes pass, one more does not. */
	memset(longest, 'k', CS_MAX_SECRET);
	longest[CS_MAX_SECRET] = '\0';
	snprintf(auth, sizeof(auth), "Bearer %s", longest);
	key_expect(auth, NULL, CS_OK, longest);
	key_expect(NULL, longest, CS_OK, longest);
	strcat(auth, "k");
	key_expect(auth, NULL, CS_ETOOBIG, "");
	longest[CS_MAX_SECRET] = 'k';
	longest[CS_MAX_SECRET + 1] = '\0';
	key_expect(NULL, longest, CS_ETOOBIG, "");
	/* Room in secret. */
	assert_int_equal(
	    cs_key_from_headers("Bearer abcd", NULL, small, sizeof(small)),
	    CS_ETOOBIG);
	assert_string_equal(small, "");
	assert_int_equal(
	    cs_key_from_headers("Bearer abc", NULL, small, sizeof(small)),
	    CS_OK);
	assert_string_equal(small, "abc");
}

static void
test_key_find(void **state)
{
	struct cs_access_key keys[3];
	char err[200] = "";

	(void)state;
	memset(keys, 0, sizeof(keys));
	strcpy(keys[0].name, "alice");
	/* sha256("s3cret-alice"), as hashlib computes it. */
	assert_int_equal(cs_key_parse_sha256("9788c3e78b4a24850f34cd3df989e95c"
	                                     "0d0df9e9b3c59f192d821047557e75ea",
	                     keys[0].sha256, err, sizeof(err)),
	    CS_OK);
	strcpy(keys[1].name, "bob");
	cs_sha256("s3cret-bob", 10, keys[1].sha256);
	strcpy(keys[2].name, "alice-again");
	memcpy(keys[2].sha256, keys[0].sha256, CS_SHA256_LEN);

	assert_ptr_equal(cs_key_find(keys, 2, "s3cret-alice"), &keys[0]);
	assert_ptr_equal(cs_key_find(keys, 2, "s3cret-bob"), &keys[1]);
	/* The first of two with one hash. */
	assert_ptr_equal(cs_key_find(keys, 3, "s3cret-alice"), &keys[0]);
	assert_null(cs_key_find(keys, 2, "nope"));
	/* Near misses. */
	assert_null(cs_key_find(keys, 2, "s3cret-alic"));
	assert_null(cs_key_find(keys, 2, "s3cret-alicE"));
	assert_null(cs_key_find(keys, 2, "s3cret-alice "));
	assert_null(cs_key_find(keys, 2, "s3cret-alicee"));
	assert_null(cs_key_find(keys, 2, "S3cret-alice"));
	assert_null(cs_key_find(keys, 1, "s3cret-bob"));
	assert_null(cs_key_find(keys, 0, "s3cret-alice"));
	assert_null(cs_key_find(keys, 2, ""));
	assert_null(cs_key_find(keys, 2, NULL));
	/* Even a key configured with the hash of "" never matches. */
	cs_sha256("", 0, keys[1].sha256);
	assert_null(cs_key_find(keys, 2, ""));
}

static void
test_key_parse_sha256(void **state)
{
	static const char good[] =
	    "9788C3E78B4A24850F34CD3DF989E95C0D0DF9E9B3C59F192D821047557E75EA";
	unsigned char d[CS_SHA256_LEN], want[CS_SHA256_LEN];
	char err[200], bad[CS_SHA256_HEX + 2];

	(void)state;
	cs_sha256("s3cret-alice", 12, want);
	assert_int_equal(cs_key_parse_sha256(good, d, err, sizeof(err)), CS_OK);
	assert_memory_equal(d, want, CS_SHA256_LEN);
	/* 63 and 65 digits. */
	memcpy(bad, good, CS_SHA256_HEX - 1);
	bad[CS_SHA256_HEX - 1] = '\0';
	assert_int_equal(
	    cs_key_parse_sha256(bad, d, err, sizeof(err)), CS_ECONFIG);
	assert_non_null(strstr(err, "got 63"));
	memcpy(bad, good, CS_SHA256_HEX);
	strcpy(bad + CS_SHA256_HEX, "0");
	assert_int_equal(
	    cs_key_parse_sha256(bad, d, err, sizeof(err)), CS_ECONFIG);
	memcpy(bad, good, CS_SHA256_HEX + 1);
	bad[10] = 'g';
	assert_int_equal(
	    cs_key_parse_sha256(bad, d, err, sizeof(err)), CS_ECONFIG);
	assert_non_null(strstr(err, "character 11"));
	bad[10] = ' ';
	assert_int_equal(
	    cs_key_parse_sha256(bad, d, err, sizeof(err)), CS_ECONFIG);
	assert_int_equal(
	    cs_key_parse_sha256("", d, err, sizeof(err)), CS_ECONFIG);
	assert_int_equal(
	    cs_key_parse_sha256(NULL, d, err, sizeof(err)), CS_ECONFIG);
}

/* cs_hash_key_main with input in[0..n): its status, what it printed to
 * out and to errf. */
static int
hash_key(const char *in, size_t n, char **out, char **errs)
{
	size_t olen, elen;
	FILE *fi, *fo, *fe;
	int rc;

	fi = n > 0 ? fmemopen((void *)(uintptr_t)in, n, "r") :
	             fopen("/dev/null", "r");
	assert_non_null(fi);
	assert_non_null(fo = open_memstream(out, &olen));
	assert_non_null(fe = open_memstream(errs, &elen));
	rc = cs_hash_key_main(fi, fo, fe);
	fclose(fi);
	fclose(fo);
	fclose(fe);
	return rc;
}

static void
hash_key_expect(const char *in, size_t n, int want_rc, const char *want)
{
	char *out = NULL, *errs = NULL;
	int rc = hash_key(in, n, &out, &errs);

	if (rc != want_rc || strcmp(want_rc == 0 ? out : errs, want) != 0)
		fail_msg("%zu bytes in: %d \"%s\" \"%s\", want %d \"%s\"", n,
		    rc, out, errs, want_rc, want);
	if (rc == 0)
		assert_string_equal(errs, "");
	else
		assert_string_equal(out, "");
	free(out);
	free(errs);
}

#define ABC_LINE \
	"secret_sha256 = " \
	"ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad\n"
#define HK "chatstream: --hash-key: "

static void
test_hash_key(void **state)
{
	char big[CS_MAX_SECRET + 8], hex[CS_SHA256_HEX + 1], want[100];
	unsigned char d[CS_SHA256_LEN];

	(void)state;
	hash_key_expect("abc\n", 4, 0, ABC_LINE);
	hash_key_expect("abc", 3, 0, ABC_LINE);
	hash_key_expect("abc\r\n", 5, 0, ABC_LINE);
	hash_key_expect("abc\nsecond line", 15, 0, ABC_LINE);
	hash_key_expect("", 0, 2, HK "the secret is empty\n");
	hash_key_expect("\n", 1, 2, HK "the secret is empty\n");
	hash_key_expect("\r\n", 2, 2, HK "the secret is empty\n");
	hash_key_expect("a b\n", 4, 2,
	    HK "the secret must be printable ASCII without spaces (it is "
	       "sent as a Bearer token)\n");
	hash_key_expect("ab\x01\n", 4, 2,
	    HK "the secret must be printable ASCII without spaces (it is "
	       "sent as a Bearer token)\n");
	hash_key_expect("ab\0c\n", 5, 2,
	    HK "the secret must be printable ASCII without spaces (it is "
	       "sent as a Bearer token)\n");
	hash_key_expect("ab\r\r\n", 5, 2,
	    HK "the secret must be printable ASCII without spaces (it is "
	       "sent as a Bearer token)\n");
	/* 256 bytes, with "\n", "\r\n" or neither; then 257, and more. */
	memset(big, 'k', sizeof(big));
	cs_sha256(big, CS_MAX_SECRET, d);
	cs_hex_encode(d, sizeof(d), hex);
	snprintf(want, sizeof(want), "secret_sha256 = %s\n", hex);
	big[CS_MAX_SECRET] = '\n';
	hash_key_expect(big, CS_MAX_SECRET + 1, 0, want);
	hash_key_expect(big, CS_MAX_SECRET, 0, want);
	big[CS_MAX_SECRET] = '\r';
	big[CS_MAX_SECRET + 1] = '\n';
	hash_key_expect(big, CS_MAX_SECRET + 2, 0, want);
	big[CS_MAX_SECRET] = 'k';
	hash_key_expect(big, CS_MAX_SECRET + 2, 2,
	    HK "the secret is longer than 256 bytes\n");
	hash_key_expect(big, CS_MAX_SECRET + 1, 2,
	    HK "the secret is longer than 256 bytes\n");
	hash_key_expect(
	    big, sizeof(big), 2, HK "the secret is longer than 256 bytes\n");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cidr_parse),
		cmocka_unit_test(test_cidr_match),
		cmocka_unit_test(test_client_addr),
		cmocka_unit_test(test_identity),
		cmocka_unit_test(test_key_from_headers),
		cmocka_unit_test(test_key_find),
		cmocka_unit_test(test_key_parse_sha256),
		cmocka_unit_test(test_hash_key),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
