/* bench — small helpers shared by the benchmarks. */
#pragma once

#include <glib.h>

#define BENCH_SHA256_LEN 32
/* A SHA-256 DigestInfo: 19 bytes of DER prefix, then the digest. */
#define BENCH_DIGEST_INFO_LEN (19 + BENCH_SHA256_LEN)
#define BENCH_MAX_SIGNATURE 1024 /* RSA-8192 */

/* The median of v[0..n) (n > 0); sorts v. */
double bench_median(double *v, size_t n);

/* Bytes from an even number of hex digits; option names the source in
 * the error. */
GBytes *bench_parse_hex(const char *option, const char *hex, GError **error);

/* What the benchmarks sign: the SHA-256 digest of a fixed message (the
 * CKM_ECDSA input) and its DigestInfo (the CKM_RSA_PKCS input);
 * digest_info ends with digest. */
void bench_sign_inputs(guint8 digest[BENCH_SHA256_LEN],
                       guint8 digest_info[BENCH_DIGEST_INFO_LEN]);
