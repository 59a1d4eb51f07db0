/* OpenSSL 3 keys whose private half stays with tessera-agent.
 *
 * A small provider ("tessera") gives OpenSSL RSA and EC EVP_PKEYs whose
 * sign, decrypt and derive go to the agent; everything public (import,
 * export, comparison, verification by other code) is done by the other
 * providers of the library context. libc, libtessera-client and OpenSSL
 * only: usable from any program.
 */
#pragma once

#include "tessera-client.h"

#include <openssl/evp.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Registers the provider in libctx (NULL = the default context) and loads
 * it, together with "default", which supplies everything public. Returns
 * 1, or 0 with an OpenSSL error queued. Call once per context; the
 * providers stay loaded until the context is freed. */
int tessera_ossl_load(OSSL_LIB_CTX *libctx);

/* An RSA or EC EVP_PKEY for key (its public parts from key->spki) whose
 * private-key operations go to the agent over c with key->id. The key
 * keeps its own copy of key's fields but only borrows c: the caller keeps
 * c alive as long as the key (and any EVP_PKEY_CTX of it) and uses them
 * from one thread. NULL with an OpenSSL error queued on failure. */
EVP_PKEY *tessera_ossl_key(OSSL_LIB_CTX *libctx, tessera_client *c, const tessera_key *key);

#ifdef __cplusplus
}
#endif
