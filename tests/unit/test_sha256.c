/*
 * test_sha256.c — SHA-256 against the FIPS 180-4 / NIST example vectors
 * (one-shot and fed in uneven pieces), the padding boundaries, hex in
 * both directions (strict length and digits) and the constant-time
 * comparison's answers.
 */
#include <string.h>

#include "sha256.h"
#include "testutil.h"

static void
expect_hex(
    const unsigned char d[CS_SHA256_LEN], const char *want, const char *what)
{
	char hex[CS_SHA256_HEX + 1];

	cs_hex_encode(d, CS_SHA256_LEN, hex);
	if (strcmp(hex, want) != 0)
		fail_msg("%s: got %s, want %s", what, hex, want);
}

/* The digest of msg in one call and fed step bytes at a time. */
static void
expect_digest(const char *msg, const char *want)
{
	static const size_t steps[] = { 1, 3, 63, 64, 65 };
	unsigned char d[CS_SHA256_LEN];
	struct cs_sha256 c;
	size_t n = strlen(msg), i, off, k;

	cs_sha256(msg, n, d);
	expect_hex(d, want, msg);
	for (i = 0; i < CS_ARRAY_LEN(steps); i++) {
		cs_sha256_init(&c);
		for (off = 0; off < n; off += k) {
			k = n - off < steps[i] ? n - off : steps[i];
			cs_sha256_update(&c, msg + off, k);
		}
		cs_sha256_final(&c, d);
		expect_hex(d, want, msg);
	}
}

static void
test_vectors(void **state)
{
	(void)state;
	expect_digest("",
	    "e3b0c44298fc1c149afbf4c8996fb924"
	    "27ae41e4649b934ca495991b7852b855");
	expect_digest("abc",
	    "ba7816bf8f01cfea414140de5dae2223"
	    "b00361a396177a9cb410ff61f20015ad");
	/* 448 bits: the padding needs a second block. */
	expect_digest(
	    "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
	    "248d6a61d20638b8e5c026930c3e6039"
	    "a33ce45964ff2167f6ecedd419db06c1");
	/* 896 bits. */
	expect_digest(
	    "abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmn"
	    "hijklmnoijklmnopjklmnopqklmnopqrlmnopqrsmnopqrstnopqrstu",
	    "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1");
	/* Known answers either side of the 55/56/64-byte boundaries. */
	expect_digest("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
	    "9f4390f8d30c2dd92ec9f095b65e2b9ae9b0a925a5258e241c9f1e910f734318");
	expect_digest(
	    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
	    "b35439a4ac6f0948b6d6f9e3c6af0f5f590ce20f1bde7090ef7970686ec6738a");
	expect_digest(
	    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	    "aaa",
	    "ffe054fe7ae0cb6dc65c3af9b61d5209f439851db43d0ba5997337df154668eb");
}

static void
test_million_a(void **state)
{
	static char chunk[1000];
	unsigned char d[CS_SHA256_LEN];
	struct cs_sha256 c;
	char *all;
	int i;

	(void)state;
	memset(chunk, 'a', sizeof(chunk));
	cs_sha256_init(&c);
	for (i = 0; i < 1000; i++)
		cs_sha256_update(&c, chunk, sizeof(chunk));
	cs_sha256_final(&c, d);
	expect_hex(d,
	    "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0",
	    "a million a, in pieces");
	assert_non_null(all = malloc(1000000));
	memset(all, 'a', 1000000);
	cs_sha256(all, 1000000, d);
	free(all);
	expect_hex(d,
	    "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0",
	    "a million a, at once");
}

static void
test_hex(void **state)
{
	static const unsigned char bytes[] = { 0x00, 0x7f, 0x80, 0xff, 0x5a };
	unsigned char out[5];
	char hex[11];

	(void)state;
	assert_int_equal(cs_hex_digit('0'), 0);
	assert_int_equal(cs_hex_digit('9'), 9);
	assert_int_equal(cs_hex_digit('a'), 10);
	assert_int_equal(cs_hex_digit('F'), 15);
	assert_int_equal(cs_hex_digit('g'), -1);
	assert_int_equal(cs_hex_digit('/'), -1);
	assert_int_equal(cs_hex_digit(0xc6), -1);
	cs_hex_encode(bytes, sizeof(bytes), hex);
	assert_string_equal(hex, "007f80ff5a");
	assert_int_equal(cs_hex_decode("007F80fF5a", 10, out, 5), CS_OK);
	assert_memory_equal(out, bytes, 5);
	cs_hex_encode(bytes, 0, hex);
	assert_string_equal(hex, "");
	assert_int_equal(cs_hex_decode("", 0, out, 0), CS_OK);
	/* Exactly twice the length; hex digits only. */
	assert_int_equal(cs_hex_decode("007f80ff5", 9, out, 5), CS_EBADINPUT);
	assert_int_equal(
	    cs_hex_decode("007f80ff5a00", 12, out, 5), CS_EBADINPUT);
	assert_int_equal(cs_hex_decode("007f80ff5g", 10, out, 5), CS_EBADINPUT);
	assert_int_equal(cs_hex_decode("0x7f80ff5a", 10, out, 5), CS_EBADINPUT);
	assert_int_equal(cs_hex_decode(" 07f80ff5a", 10, out, 5), CS_EBADINPUT);
	assert_int_equal(
	    cs_hex_decode("007f80ff5\0", 10, out, 5), CS_EBADINPUT);
}

static void
test_ct_equal(void **state)
{
	unsigned char a[32], b[32];
	size_t i;

	(void)state;
	memset(a, 0x55, sizeof(a));
	memcpy(b, a, sizeof(b));
	assert_int_equal(cs_ct_equal(a, b, sizeof(a)), 1);
	assert_int_equal(cs_ct_equal(a, b, 0), 1);
	/* A difference in any byte, of any bit, is seen. */
	for (i = 0; i < sizeof(a); i++) {
		b[i] ^= (unsigned char)(1u << (i % 8));
		assert_int_equal(cs_ct_equal(a, b, sizeof(a)), 0);
		assert_int_equal(cs_ct_equal(a, b, i), 1);
		b[i] = a[i];
	}
	b[31] = 0xaa; /* every bit of the last byte */
	assert_int_equal(cs_ct_equal(a, b, sizeof(a)), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_vectors),
		cmocka_unit_test(test_million_a),
		cmocka_unit_test(test_hex),
		cmocka_unit_test(test_ct_equal),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
