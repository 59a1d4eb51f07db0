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
 * 1, or 0 with an OpenSSL error queued. A second call does nothing. */
int tessera_ossl_load(OSSL_LIB_CTX *libctx);
/* Drops what tessera_ossl_load took, after the last use of its keys and
 * before OSSL_LIB_CTX_free: OpenSSL 3.0 never frees a provider loaded
 * with OSSL_PROVIDER_load whose handle is not unloaded, not even with
 * its context. */
void tessera_ossl_unload(OSSL_LIB_CTX *libctx);

/* An RSA or EC EVP_PKEY for key (its public parts from key->spki) whose
 * private-key operations go to the agent over c with key->id. The key
 * keeps its own copy of key's fields but only borrows c: the caller keeps
 * c alive as long as the key (and any EVP_PKEY_CTX of it) and uses them
 * from one thread. NULL with an OpenSSL error queued on failure. */
EVP_PKEY *tessera_ossl_key(OSSL_LIB_CTX *libctx, tessera_client *c, const tessera_key *key);

#ifdef __cplusplus
}
#endif
