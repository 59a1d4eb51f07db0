/* DigestInfo, the input of an RSA PKCS#1 v1.5 signature (RFC 8017, 9.2).
 * libc + OpenSSL only: the CLI and the PKCS#11 module share it. */
#pragma once

#include <stddef.h>
#include <stdint.h>

/* DER DigestInfo for a digest made with the OpenSSL digest md_nid
 * (NID_sha256, ...). Returns its length and sets *der (free with
 * OPENSSL_free), or -1. */
int digest_info_encode(int md_nid, const uint8_t *digest, size_t len, uint8_t **der);
