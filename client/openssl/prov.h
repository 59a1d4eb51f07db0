/* The tessera OpenSSL provider: shared types of its parts. */
#pragma once

#include "agent-key.h"

#include <openssl/core.h>
#include <openssl/core_dispatch.h>
#include <stdint.h>

#define TPROV_NAME "tessera"
/* Properties of our algorithms, and the query that finds everybody
 * else's: public keys, digests and KDFs come from the other providers. */
#define TPROV_PROPS "provider=tessera"
#define TPROV_OTHERS "provider!=tessera"
/* Names exactly as the default provider registers them: a different
 * alias set for the same name would be a conflict in the namemap. */
#define TPROV_NAMES_RSA "RSA:rsaEncryption:1.2.840.113549.1.1.1"
#define TPROV_NAMES_EC "EC:id-ecPublicKey:1.2.840.10045.2.1"

/* Import parameter carrying a tprov_key_ref pointer (octet string of the
 * pointer's bytes, the convention of OSSL_OBJECT_PARAM_REFERENCE). */
#define TPROV_PARAM_REF "tessera-agent-key"
#define TPROV_REF_MAGIC 0x54534b31u /* "TSK1" */

typedef struct {
  uint32_t magic;
  tessera_client *client;
  const tessera_key *key;
} tprov_key_ref;

typedef struct {
  const OSSL_CORE_HANDLE *handle;
  OSSL_LIB_CTX *libctx;
  OSSL_FUNC_core_new_error_fn *new_error;
  OSSL_FUNC_core_set_error_debug_fn *set_error_debug;
  OSSL_FUNC_core_vset_error_fn *vset_error;
} tprov_ctx;

/* Key data of our keymgmt. pub is a key of another provider with the
 * public parts (or only the domain parameters); id and client are set
 * for agent keys only: without them the key is public and cannot sign. */
typedef struct {
  tprov_ctx *prov;
  uint8_t type; /* TPROTO_KEY_RSA / TPROTO_KEY_EC */
  EVP_PKEY *pub;
  int has_pub;
  tessera_client *client;
  char *id;
} tprov_key;

/* Reasons of our errors (provider-errors.c has the strings). */
enum {
  TPROV_R_AGENT = 1,
  TPROV_R_PIN_CANCELLED,
  TPROV_R_NOT_LOGGED_IN,
  TPROV_R_PIN,
  TPROV_R_DECRYPT_FAILED,
  TPROV_R_CONNECTION,
  TPROV_R_NO_PRIVATE_KEY,
  TPROV_R_UNSUPPORTED,
  TPROV_R_BAD_ARGUMENT,
  TPROV_R_BUFFER_TOO_SMALL,
  TPROV_R_INTERNAL,
};
extern const OSSL_ITEM tprov_reason_strings[];

void tprov_raise_at(const tprov_ctx *p, const char *file, int line, const char *func, int reason,
                    const char *fmt, ...)
#if defined(__GNUC__)
  __attribute__((format(printf, 6, 7)))
#endif
  ;
/* fmt is the first of the variadic arguments, so none may be empty. */
#define tprov_raise(p, reason, ...) \
  tprov_raise_at((p), __FILE__, __LINE__, __func__, (reason), __VA_ARGS__)
/* The agent's answer rc (not TESSERA_OK) to op on key, with its message. */
void tprov_raise_agent_at(const tprov_key *k, const char *file, int line, const char *func,
                          const char *op, int rc);
#define tprov_raise_agent(k, op, rc) \
  tprov_raise_agent_at((k), __FILE__, __LINE__, __func__, (op), (rc))

/* Our keys that can do private-key operations; raises if not. */
int tprov_key_is_agent(const tprov_key *k);
/* The digest for name (NULL = none), from the other providers. */
EVP_MD *tprov_fetch_md(const tprov_ctx *p, const char *name);
/* TPROTO_HASH_* for md, or TPROTO_HASH_NONE if the agent has no such hash. */
uint8_t tprov_md_hash(const EVP_MD *md);
/* Digest by its output length (a bare digest handed to sign). */
const char *tprov_md_name_for_len(size_t len);

extern const OSSL_DISPATCH tprov_rsa_keymgmt[];
extern const OSSL_DISPATCH tprov_ec_keymgmt[];
extern const OSSL_DISPATCH tprov_rsa_signature[];
extern const OSSL_DISPATCH tprov_ecdsa_signature[];
extern const OSSL_DISPATCH tprov_rsa_cipher[];
extern const OSSL_DISPATCH tprov_ecdh_exchange[];
