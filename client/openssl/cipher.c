/* RSA decryption by the agent: PKCS#1 v1.5 and OAEP (digest, MGF1
 * digest, label). Encryption needs only the public key and is left to
 * the other providers. */
#include "prov.h"

#include "messages.h"

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/params.h>
#include <openssl/rsa.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
  tprov_ctx *prov;
  tprov_key *key; /* borrowed, as in signature.c */
  int pad;        /* RSA_PKCS1_PADDING or RSA_PKCS1_OAEP_PADDING */
  EVP_MD *oaep_md, *mgf1; /* NULL = SHA-1, and = oaep_md */
  unsigned char *label;
  size_t label_len;
} tprov_cipher;

static OSSL_FUNC_asym_cipher_newctx_fn cipher_newctx;
static OSSL_FUNC_asym_cipher_freectx_fn cipher_freectx;
static OSSL_FUNC_asym_cipher_dupctx_fn cipher_dupctx;
static OSSL_FUNC_asym_cipher_decrypt_init_fn cipher_decrypt_init;
static OSSL_FUNC_asym_cipher_decrypt_fn cipher_decrypt;
static OSSL_FUNC_asym_cipher_get_ctx_params_fn cipher_get_params;
static OSSL_FUNC_asym_cipher_gettable_ctx_params_fn cipher_gettable;
static OSSL_FUNC_asym_cipher_set_ctx_params_fn cipher_set_params;
static OSSL_FUNC_asym_cipher_settable_ctx_params_fn cipher_settable;

static void *cipher_newctx(void *provctx)
{
  tprov_cipher *c = calloc(1, sizeof(*c));
  if (c == NULL)
    return NULL;
  c->prov = provctx;
  c->pad = RSA_PKCS1_PADDING;
  return c;
}

static void cipher_freectx(void *ctx)
{
  tprov_cipher *c = ctx;
  if (c == NULL)
    return;
  EVP_MD_free(c->oaep_md);
  EVP_MD_free(c->mgf1);
  OPENSSL_free(c->label);
  free(c);
}

static void *cipher_dupctx(void *ctx)
{
  const tprov_cipher *from = ctx;
  tprov_cipher *c = malloc(sizeof(*c));
  if (c == NULL)
    return NULL;
  *c = *from;
  c->oaep_md = c->mgf1 = NULL;
  c->label = NULL;
  if (from->oaep_md != NULL) {
    if (!EVP_MD_up_ref(from->oaep_md))
      goto fail;
    c->oaep_md = from->oaep_md;
  }
  if (from->mgf1 != NULL) {
    if (!EVP_MD_up_ref(from->mgf1))
      goto fail;
    c->mgf1 = from->mgf1;
  }
  if (from->label != NULL && (c->label = OPENSSL_memdup(from->label, from->label_len)) == NULL)
    goto fail;
  return c;
fail:
  cipher_freectx(c);
  return NULL;
}

static int cipher_decrypt_init(void *ctx, void *provkey, const OSSL_PARAM params[])
{
  tprov_cipher *c = ctx;
  tprov_key *k = provkey;
  if (!tprov_key_is_agent(k))
    return 0;
  if (k->type != TPROTO_KEY_RSA) {
    tprov_raise(c->prov, TPROV_R_BAD_ARGUMENT, "%s is not an RSA key", k->id);
    return 0;
  }
  c->key = k;
  return cipher_set_params(c, params);
}

static int cipher_decrypt(void *ctx, unsigned char *out, size_t *outlen, size_t outsize,
                          const unsigned char *in, size_t inlen)
{
  tprov_cipher *c = ctx;
  tprov_key *k = c->key;
  if (k == NULL)
    return 0;
  if (out == NULL) { /* the size query: no agent request */
    *outlen = (size_t)EVP_PKEY_get_size(k->pub);
    return 1;
  }
  uint8_t mech = TPROTO_MECH_RSA_PKCS, hash = 0, mgf = 0;
  if (c->pad == RSA_PKCS1_OAEP_PADDING) {
    mech = TPROTO_MECH_RSA_OAEP;
    hash = c->oaep_md ? tprov_md_hash(c->oaep_md) : TPROTO_HASH_SHA1;
    mgf = c->mgf1 ? tprov_md_hash(c->mgf1) : hash;
    if (hash == TPROTO_HASH_NONE || mgf == TPROTO_HASH_NONE) {
      tprov_raise(c->prov, TPROV_R_UNSUPPORTED, "OAEP with this digest");
      return 0;
    }
  }
  uint8_t *plain = NULL;
  size_t plain_len = 0;
  int rc = tessera_decrypt(k->client, k->id, mech, hash, mgf, c->label, c->label_len, in, inlen,
                           &plain, &plain_len);
  if (rc != TESSERA_OK) {
    tprov_raise_agent(k, "decrypt", rc);
    return 0;
  }
  int ok = plain_len <= outsize;
  if (ok) {
    memcpy(out, plain, plain_len);
    *outlen = plain_len;
  } else {
    tprov_raise(c->prov, TPROV_R_BUFFER_TOO_SMALL, "%zu bytes for %zu", outsize, plain_len);
  }
  tessera_free_secret(plain, plain_len);
  return ok;
}

static int set_md(tprov_cipher *c, EVP_MD **slot, const OSSL_PARAM *p)
{
  char name[80], *n = name;
  if (!OSSL_PARAM_get_utf8_string(p, &n, sizeof(name)))
    return 0;
  EVP_MD *md = tprov_fetch_md(c->prov, name);
  if (md == NULL)
    return 0;
  EVP_MD_free(*slot);
  *slot = md;
  return 1;
}

static int cipher_set_params(void *ctx, const OSSL_PARAM params[])
{
  tprov_cipher *c = ctx;
  if (params == NULL)
    return 1;
  const OSSL_PARAM *p = OSSL_PARAM_locate_const(params, OSSL_ASYM_CIPHER_PARAM_PAD_MODE);
  if (p != NULL) {
    int pad = 0;
    if (p->data_type == OSSL_PARAM_UTF8_STRING)
      pad = strcmp(p->data, OSSL_PKEY_RSA_PAD_MODE_PKCSV15) == 0 ? RSA_PKCS1_PADDING
            : strcmp(p->data, OSSL_PKEY_RSA_PAD_MODE_OAEP) == 0  ? RSA_PKCS1_OAEP_PADDING
                                                                 : 0;
    else if (!OSSL_PARAM_get_int(p, &pad))
      return 0;
    if (pad != RSA_PKCS1_PADDING && pad != RSA_PKCS1_OAEP_PADDING) {
      tprov_raise(c->prov, TPROV_R_UNSUPPORTED, "RSA decryption padding");
      return 0;
    }
    c->pad = pad;
  }
  p = OSSL_PARAM_locate_const(params, OSSL_ASYM_CIPHER_PARAM_OAEP_DIGEST);
  if (p != NULL && !set_md(c, &c->oaep_md, p))
    return 0;
  p = OSSL_PARAM_locate_const(params, OSSL_ASYM_CIPHER_PARAM_MGF1_DIGEST);
  if (p != NULL && !set_md(c, &c->mgf1, p))
    return 0;
  p = OSSL_PARAM_locate_const(params, OSSL_ASYM_CIPHER_PARAM_OAEP_LABEL);
  if (p != NULL) {
    void *label = NULL;
    size_t len = 0;
    if (!OSSL_PARAM_get_octet_string(p, &label, 0, &len))
      return 0;
    OPENSSL_free(c->label);
    c->label = label;
    c->label_len = len;
  }
  return 1;
}

static int cipher_get_params(void *ctx, OSSL_PARAM params[])
{
  tprov_cipher *c = ctx;
  OSSL_PARAM *p = OSSL_PARAM_locate(params, OSSL_ASYM_CIPHER_PARAM_PAD_MODE);
  if (p != NULL) {
    int oaep = c->pad == RSA_PKCS1_OAEP_PADDING;
    if (!(p->data_type == OSSL_PARAM_UTF8_STRING
            ? OSSL_PARAM_set_utf8_string(p, oaep ? OSSL_PKEY_RSA_PAD_MODE_OAEP
                                                 : OSSL_PKEY_RSA_PAD_MODE_PKCSV15)
            : OSSL_PARAM_set_int(p, c->pad)))
      return 0;
  }
  p = OSSL_PARAM_locate(params, OSSL_ASYM_CIPHER_PARAM_OAEP_DIGEST);
  if (p != NULL &&
      !OSSL_PARAM_set_utf8_string(p, c->oaep_md ? EVP_MD_get0_name(c->oaep_md) : "SHA1"))
    return 0;
  p = OSSL_PARAM_locate(params, OSSL_ASYM_CIPHER_PARAM_MGF1_DIGEST);
  const EVP_MD *mgf1 = c->mgf1 ? c->mgf1 : c->oaep_md;
  if (p != NULL && !OSSL_PARAM_set_utf8_string(p, mgf1 ? EVP_MD_get0_name(mgf1) : "SHA1"))
    return 0;
  p = OSSL_PARAM_locate(params, OSSL_ASYM_CIPHER_PARAM_OAEP_LABEL);
  if (p != NULL && !OSSL_PARAM_set_octet_ptr(p, c->label, c->label_len))
    return 0;
  return 1;
}

static const OSSL_PARAM *cipher_settable(void *ctx, void *provctx)
{
  static const OSSL_PARAM params[] = {
    OSSL_PARAM_utf8_string(OSSL_ASYM_CIPHER_PARAM_PAD_MODE, NULL, 0),
    OSSL_PARAM_utf8_string(OSSL_ASYM_CIPHER_PARAM_OAEP_DIGEST, NULL, 0),
    OSSL_PARAM_utf8_string(OSSL_ASYM_CIPHER_PARAM_MGF1_DIGEST, NULL, 0),
    OSSL_PARAM_octet_string(OSSL_ASYM_CIPHER_PARAM_OAEP_LABEL, NULL, 0),
    OSSL_PARAM_END,
  };
  return params;
}

static const OSSL_PARAM *cipher_gettable(void *ctx, void *provctx)
{
  static const OSSL_PARAM params[] = {
    OSSL_PARAM_utf8_string(OSSL_ASYM_CIPHER_PARAM_PAD_MODE, NULL, 0),
    OSSL_PARAM_utf8_string(OSSL_ASYM_CIPHER_PARAM_OAEP_DIGEST, NULL, 0),
    OSSL_PARAM_utf8_string(OSSL_ASYM_CIPHER_PARAM_MGF1_DIGEST, NULL, 0),
    OSSL_PARAM_octet_ptr(OSSL_ASYM_CIPHER_PARAM_OAEP_LABEL, NULL, 0),
    OSSL_PARAM_END,
  };
  return params;
}

#define FN(id, f) { id, (void (*)(void))(f) }
const OSSL_DISPATCH tprov_rsa_cipher[] = {
  FN(OSSL_FUNC_ASYM_CIPHER_NEWCTX, cipher_newctx),
  FN(OSSL_FUNC_ASYM_CIPHER_FREECTX, cipher_freectx),
  FN(OSSL_FUNC_ASYM_CIPHER_DUPCTX, cipher_dupctx),
  FN(OSSL_FUNC_ASYM_CIPHER_DECRYPT_INIT, cipher_decrypt_init),
  FN(OSSL_FUNC_ASYM_CIPHER_DECRYPT, cipher_decrypt),
  FN(OSSL_FUNC_ASYM_CIPHER_GET_CTX_PARAMS, cipher_get_params),
  FN(OSSL_FUNC_ASYM_CIPHER_GETTABLE_CTX_PARAMS, cipher_gettable),
  FN(OSSL_FUNC_ASYM_CIPHER_SET_CTX_PARAMS, cipher_set_params),
  FN(OSSL_FUNC_ASYM_CIPHER_SETTABLE_CTX_PARAMS, cipher_settable),
  { 0, NULL },
};
