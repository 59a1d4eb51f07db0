/* Signatures by the agent: RSA PKCS#1 v1.5 (DigestInfo built here),
 * RSA-PSS and ECDSA (raw r||s from the token, DER-encoded here). Either
 * on a digest (sign_init/sign) or on data hashed here first
 * (digest_sign_*). Verification is left to the other providers, which
 * get the public key from our export. */
#include "sig.h"

#include "digest-info.h"
#include "messages.h"

#include <openssl/ec.h>
#include <openssl/rsa.h>
#include <stdlib.h>
#include <string.h>

static OSSL_FUNC_signature_newctx_fn rsa_newctx, ecdsa_newctx;
static OSSL_FUNC_signature_freectx_fn sig_freectx;
static OSSL_FUNC_signature_dupctx_fn sig_dupctx;
static OSSL_FUNC_signature_sign_init_fn sig_sign_init;
static OSSL_FUNC_signature_sign_fn sig_sign;
static OSSL_FUNC_signature_digest_sign_init_fn sig_digest_init;
static OSSL_FUNC_signature_digest_sign_update_fn sig_digest_update;
static OSSL_FUNC_signature_digest_sign_final_fn sig_digest_final;
static OSSL_FUNC_signature_get_ctx_params_fn sig_get_params;
static OSSL_FUNC_signature_gettable_ctx_params_fn rsa_gettable, ecdsa_gettable;
static OSSL_FUNC_signature_set_ctx_params_fn sig_set_params;
static OSSL_FUNC_signature_settable_ctx_params_fn rsa_settable, ecdsa_settable;

static tprov_sig *sig_new(tprov_ctx *prov, uint8_t type)
{
  tprov_sig *s = calloc(1, sizeof(*s));
  if (s == NULL) {
    tprov_raise(prov, TPROV_R_INTERNAL, "out of memory");
    return NULL;
  }
  s->prov = prov;
  s->type = type;
  s->pad = RSA_PKCS1_PADDING;
  /* sLen = hLen, not OpenSSL's "max": what cards commonly support, and
   * what RFC 4055 recommends; verifiers with "auto" accept any. */
  s->saltlen = RSA_PSS_SALTLEN_DIGEST;
  return s;
}

static void *rsa_newctx(void *provctx, const char *propq)
{
  return sig_new(provctx, TPROTO_KEY_RSA);
}

static void *ecdsa_newctx(void *provctx, const char *propq)
{
  return sig_new(provctx, TPROTO_KEY_EC);
}

static void sig_freectx(void *ctx)
{
  tprov_sig *s = ctx;
  if (s == NULL)
    return;
  EVP_MD_free(s->md);
  EVP_MD_free(s->mgf1);
  EVP_MD_CTX_free(s->mdctx);
  free(s);
}

/* EVP_DigestSignFinal signs with a copy of the context. */
static void *sig_dupctx(void *ctx)
{
  const tprov_sig *from = ctx;
  tprov_sig *s = malloc(sizeof(*s));
  if (s == NULL)
    return NULL;
  *s = *from;
  s->md = s->mgf1 = NULL;
  s->mdctx = NULL;
  if (from->md != NULL) {
    if (!EVP_MD_up_ref(from->md))
      goto fail;
    s->md = from->md;
  }
  if (from->mgf1 != NULL) {
    if (!EVP_MD_up_ref(from->mgf1))
      goto fail;
    s->mgf1 = from->mgf1;
  }
  if (from->mdctx != NULL &&
      ((s->mdctx = EVP_MD_CTX_new()) == NULL || !EVP_MD_CTX_copy_ex(s->mdctx, from->mdctx)))
    goto fail;
  return s;
fail:
  sig_freectx(s);
  return NULL;
}

static int sig_sign_init(void *ctx, void *provkey, const OSSL_PARAM params[])
{
  tprov_sig *s = ctx;
  tprov_key *k = provkey;
  if (!tprov_key_is_agent(k))
    return 0;
  if (k->type != s->type) {
    tprov_raise(s->prov, TPROV_R_BAD_ARGUMENT, "%s: wrong key type for this signature", k->id);
    return 0;
  }
  s->key = k;
  return tprov_sig_set_params(s, params);
}

static int ecdsa_to_der(tprov_sig *s, const uint8_t *raw, size_t len, unsigned char *sig,
                        size_t *siglen, size_t sigsize)
{
  ECDSA_SIG *es = ECDSA_SIG_new();
  BIGNUM *r = BN_bin2bn(raw, (int)(len / 2), NULL);
  BIGNUM *sv = BN_bin2bn(raw + len / 2, (int)(len / 2), NULL);
  int ok = 0;
  if (es != NULL && r != NULL && sv != NULL && len % 2 == 0 && len > 0 &&
      ECDSA_SIG_set0(es, r, sv)) {
    r = sv = NULL; /* es owns them now */
    int n = i2d_ECDSA_SIG(es, NULL);
    unsigned char *p = sig;
    if (n > 0 && (size_t)n <= sigsize && i2d_ECDSA_SIG(es, &p) == n) {
      *siglen = (size_t)n;
      ok = 1;
    }
  }
  if (!ok)
    tprov_raise(s->prov, TPROV_R_INTERNAL, "cannot encode the ECDSA signature of %s", s->key->id);
  BN_free(r);
  BN_free(sv);
  ECDSA_SIG_free(es);
  return ok;
}

/* The agent signs the digest tbs. */
static int sign_digest(tprov_sig *s, unsigned char *sig, size_t *siglen, size_t sigsize,
                       const unsigned char *tbs, size_t tbslen)
{
  tprov_key *k = s->key;
  uint8_t mech = TPROTO_MECH_ECDSA, hash = 0, mgf = 0;
  uint32_t salt = 0;
  const uint8_t *data = tbs;
  size_t data_len = tbslen;
  uint8_t *info = NULL;

  if (s->type == TPROTO_KEY_RSA) {
    if (sigsize < (size_t)EVP_PKEY_get_size(k->pub)) {
      tprov_raise(s->prov, TPROV_R_BUFFER_TOO_SMALL, "%zu bytes for an RSA signature", sigsize);
      return 0;
    }
    if (s->pad == RSA_PKCS1_PSS_PADDING) {
      const EVP_MD *md = tprov_sig_md(s, tbslen);
      int salt_len = md ? tprov_sig_pss_salt(s, md) : -1;
      if (salt_len < 0)
        return 0;
      mech = TPROTO_MECH_RSA_PSS;
      hash = tprov_md_hash(md);
      mgf = tprov_md_hash(s->mgf1 ? s->mgf1 : md);
      salt = (uint32_t)salt_len;
      if (hash == TPROTO_HASH_NONE || mgf == TPROTO_HASH_NONE) {
        tprov_raise(s->prov, TPROV_R_UNSUPPORTED, "PSS with this digest");
        return 0;
      }
    } else {
      mech = TPROTO_MECH_RSA_PKCS;
      /* Without a digest set, tbs is what gets padded (as in OpenSSL). */
      if (s->md != NULL) {
        const EVP_MD *md = tprov_sig_md(s, tbslen);
        int n = md ? digest_info_encode(EVP_MD_get_type(md), tbs, tbslen, &info) : -1;
        if (n < 0) {
          tprov_raise(s->prov, TPROV_R_INTERNAL, "cannot encode the DigestInfo");
          return 0;
        }
        data = info;
        data_len = (size_t)n;
      }
    }
  } else if (s->md != NULL && tprov_sig_md(s, tbslen) == NULL) {
    return 0;
  }

  uint8_t *out = NULL;
  size_t out_len = 0;
  int rc = tessera_sign(k->client, k->id, mech, hash, mgf, salt, data, data_len, &out, &out_len);
  OPENSSL_free(info);
  if (rc != TESSERA_OK) {
    tprov_raise_agent(k, "sign", rc);
    return 0;
  }
  int ok;
  if (mech == TPROTO_MECH_ECDSA) {
    ok = ecdsa_to_der(s, out, out_len, sig, siglen, sigsize);
  } else if ((ok = out_len <= sigsize)) {
    memcpy(sig, out, out_len);
    *siglen = out_len;
  } else {
    tprov_raise(s->prov, TPROV_R_BUFFER_TOO_SMALL, "%zu bytes for a signature of %zu", sigsize,
                out_len);
  }
  free(out);
  return ok;
}

static int sig_sign(void *ctx, unsigned char *sig, size_t *siglen, size_t sigsize,
                    const unsigned char *tbs, size_t tbslen)
{
  tprov_sig *s = ctx;
  if (s->key == NULL)
    return 0;
  if (sig == NULL) { /* the size query: no agent request */
    *siglen = (size_t)EVP_PKEY_get_size(s->key->pub);
    return 1;
  }
  return sign_digest(s, sig, siglen, sigsize, tbs, tbslen);
}

static int sig_digest_init(void *ctx, const char *mdname, void *provkey,
                           const OSSL_PARAM params[])
{
  tprov_sig *s = ctx;
  if (!sig_sign_init(ctx, provkey, NULL))
    return 0;
  EVP_MD *md = tprov_fetch_md(s->prov, mdname ? mdname : "SHA2-256");
  if (md == NULL)
    return 0;
  EVP_MD_free(s->md);
  s->md = md;
  if (s->mdctx == NULL && (s->mdctx = EVP_MD_CTX_new()) == NULL)
    return 0;
  if (!EVP_DigestInit_ex2(s->mdctx, md, NULL))
    return 0;
  return tprov_sig_set_params(s, params);
}

static int sig_digest_update(void *ctx, const unsigned char *data, size_t datalen)
{
  tprov_sig *s = ctx;
  return s->mdctx != NULL && EVP_DigestUpdate(s->mdctx, data, datalen);
}

static int sig_digest_final(void *ctx, unsigned char *sig, size_t *siglen, size_t sigsize)
{
  tprov_sig *s = ctx;
  if (s->mdctx == NULL || s->key == NULL)
    return 0;
  if (sig == NULL) {
    *siglen = (size_t)EVP_PKEY_get_size(s->key->pub);
    return 1;
  }
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (!EVP_DigestFinal_ex(s->mdctx, digest, &len))
    return 0;
  return sign_digest(s, sig, siglen, sigsize, digest, len);
}

static int sig_get_params(void *ctx, OSSL_PARAM params[])
{
  return tprov_sig_get_params(ctx, params);
}

static int sig_set_params(void *ctx, const OSSL_PARAM params[])
{
  return tprov_sig_set_params(ctx, params);
}

static const OSSL_PARAM *rsa_gettable(void *ctx, void *provctx)
{
  return tprov_sig_gettable(TPROTO_KEY_RSA);
}

static const OSSL_PARAM *ecdsa_gettable(void *ctx, void *provctx)
{
  return tprov_sig_gettable(TPROTO_KEY_EC);
}

static const OSSL_PARAM *rsa_settable(void *ctx, void *provctx)
{
  return tprov_sig_settable(TPROTO_KEY_RSA);
}

static const OSSL_PARAM *ecdsa_settable(void *ctx, void *provctx)
{
  return tprov_sig_settable(TPROTO_KEY_EC);
}

#define FN(id, f) { id, (void (*)(void))(f) }
#define COMMON_FNS                                                  \
  FN(OSSL_FUNC_SIGNATURE_FREECTX, sig_freectx),                     \
    FN(OSSL_FUNC_SIGNATURE_DUPCTX, sig_dupctx),                     \
    FN(OSSL_FUNC_SIGNATURE_SIGN_INIT, sig_sign_init),               \
    FN(OSSL_FUNC_SIGNATURE_SIGN, sig_sign),                         \
    FN(OSSL_FUNC_SIGNATURE_DIGEST_SIGN_INIT, sig_digest_init),      \
    FN(OSSL_FUNC_SIGNATURE_DIGEST_SIGN_UPDATE, sig_digest_update),  \
    FN(OSSL_FUNC_SIGNATURE_DIGEST_SIGN_FINAL, sig_digest_final),    \
    FN(OSSL_FUNC_SIGNATURE_GET_CTX_PARAMS, sig_get_params),         \
    FN(OSSL_FUNC_SIGNATURE_SET_CTX_PARAMS, sig_set_params)

const OSSL_DISPATCH tprov_rsa_signature[] = {
  FN(OSSL_FUNC_SIGNATURE_NEWCTX, rsa_newctx),
  COMMON_FNS,
  FN(OSSL_FUNC_SIGNATURE_GETTABLE_CTX_PARAMS, rsa_gettable),
  FN(OSSL_FUNC_SIGNATURE_SETTABLE_CTX_PARAMS, rsa_settable),
  { 0, NULL },
};

const OSSL_DISPATCH tprov_ecdsa_signature[] = {
  FN(OSSL_FUNC_SIGNATURE_NEWCTX, ecdsa_newctx),
  COMMON_FNS,
  FN(OSSL_FUNC_SIGNATURE_GETTABLE_CTX_PARAMS, ecdsa_gettable),
  FN(OSSL_FUNC_SIGNATURE_SETTABLE_CTX_PARAMS, ecdsa_settable),
  { 0, NULL },
};
