/*
 * sha256.h — SHA-256 (FIPS 180-4), hex encoding and a constant-time
 * comparison: what access keys are stored and checked with.
 *
 * Nothing here allocates: every output is a buffer the caller owns and
 * sizes (32 bytes for a digest, 2n + 1 for the hex of n bytes).  The
 * streaming context is plain data the caller embeds; it holds a copy of
 * the last partial block, so cs_sha256_final() wipes it.
 */
#ifndef CS_SHA256_H
#define CS_SHA256_H

#include <stddef.h>
#include <stdint.h>

#include "cs.h"

#define CS_SHA256_LEN 32 /* bytes in a digest */
#define CS_SHA256_HEX 64 /* hex digits in a digest */

struct cs_sha256 {
	uint32_t h[8];
	uint64_t bytes; /* message length so far */
	unsigned char block[64];
	size_t used; /* bytes of block filled */
};

void cs_sha256_init(struct cs_sha256 *c);
void cs_sha256_update(struct cs_sha256 *c, const void *data, size_t n);
/* The digest of everything updated; c is wiped and must be
 * initialised again before reuse. */
void cs_sha256_final(struct cs_sha256 *c, unsigned char out[CS_SHA256_LEN]);
/* The digest of data[0..n) in one call. */
void cs_sha256(const void *data, size_t n, unsigned char out[CS_SHA256_LEN]);

/* 1 when a[0..n) equals b[0..n), else 0, in a time that depends on n
 * only (no early exit on the first difference). */
int cs_ct_equal(const void *a, const void *b, size_t n);

#endif
