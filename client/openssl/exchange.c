/* ECDH by the agent: the token computes the shared x with the peer's
 * point; the X9.63 KDF that CMS key agreement asks for
 * (dhSinglePass-stdDH-sha*kdf) runs here, on the other providers. */
#include "prov.h"

#include "messages.h"

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/kdf.h>
#include <openssl/objects.h>
#include <openssl/params.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
  tprov_ctx *prov;
  tprov_key *key;      /* borrowed, as in signature.c */
  EVP_PKEY *peer;      /* the peer's public key, of another provider */
  int kdf_x963;        /* else the raw shared x is the output */
  EVP_MD *kdf_md;
  size_t kdf_outlen;
  unsigned char *ukm;  /* X9.63 SharedInfo */
  size_t ukm_len;
  int cofactor_mode;   /* -1 = the curve's default; curves of cofactor 1 only */
} tprov_ecdh;

static OSSL_FUNC_keyexch_newctx_fn ecdh_newctx;
static OSSL_FUNC_keyexch_freectx_fn ecdh_freectx;
static OSSL_FUNC_keyexch_dupctx_fn ecdh_dupctx;
static OSSL_FUNC_keyexch_init_fn ecdh_init;
static OSSL_FUNC_keyexch_set_peer_fn ecdh_set_peer;
static OSSL_FUNC_keyexch_derive_fn ecdh_derive;
static OSSL_FUNC_keyexch_set_ctx_params_fn ecdh_set_params;
static OSSL_FUNC_keyexch_settable_ctx_params_fn ecdh_settable;
static OSSL_FUNC_keyexch_get_ctx_params_fn ecdh_get_params;
static OSSL_FUNC_keyexch_gettable_ctx_params_fn ecdh_gettable;

static void *ecdh_newctx(void *provctx)
{
  tprov_ecdh *e = calloc(1, sizeof(*e));
  if (e == NULL)
    return NULL;
  e->prov = provctx;
  e->cofactor_mode = -1;
  return e;
}

static void ecdh_freectx(void *ctx)
{
  tprov_ecdh *e = ctx;
  if (e == NULL)
    return;
  EVP_PKEY_free(e->peer);
  EVP_MD_free(e->kdf_md);
  OPENSSL_free(e->ukm);
  free(e);
}

static void *ecdh_dupctx(void *ctx)
{
  const tprov_ecdh *from = ctx;
  tprov_ecdh *e = malloc(sizeof(*e));
  if (e == NULL)
    return NULL;
  *e = *from;
  e->peer = NULL;
  e->kdf_md = NULL;
  e->ukm = NULL;
  if (from->peer != NULL) {
    if (!EVP_PKEY_up_ref(from->peer))
      goto fail;
    e->peer = from->peer;
  }
  if (from->kdf_md != NULL) {
    if (!EVP_MD_up_ref(from->kdf_md))
      goto fail;
    e->kdf_md = from->kdf_md;
  }
  if (from->ukm != NULL && (e->ukm = OPENSSL_memdup(from->ukm, from->ukm_len)) == NULL)
    goto fail;
  return e;
fail:
  ecdh_freectx(e);
  return NULL;
}

static int ecdh_init(void *ctx, void *provkey, const OSSL_PARAM params[])
{
  tprov_ecdh *e = ctx;
  tprov_key *k = provkey;
  if (!tprov_key_is_agent(k))
    return 0;
  if (k->type != TPROTO_KEY_EC) {
    tprov_raise(e->prov, TPROV_R_BAD_ARGUMENT, "%s is not an EC key", k->id);
    return 0;
  }
  e->key = k;
  return ecdh_set_params(e, params);
}

/* The peer arrives as key data of our keymgmt (OpenSSL exports it to the
 * keymgmt of the exchange's provider); keep its public key. */
static int ecdh_set_peer(void *ctx, void *provkey)
{
  tprov_ecdh *e = ctx;
  tprov_key *peer = provkey;
  if (peer == NULL || peer->type != TPROTO_KEY_EC || !peer->has_pub || e->key == NULL ||
      EVP_PKEY_parameters_eq(peer->pub, e->key->pub) != 1) {
    tprov_raise(e->prov, TPROV_R_BAD_ARGUMENT, "the peer key is not on the curve of %s",
                e->key ? e->key->id : "the key");
    return 0;
  }
  if (!EVP_PKEY_up_ref(peer->pub))
    return 0;
  EVP_PKEY_free(e->peer);
  e->peer = peer->pub;
  return 1;
}

/* The peer's point, uncompressed, as the agent takes it. */
static int peer_point(tprov_ecdh *e, unsigned char **out, size_t *out_len)
{
  unsigned char *enc = NULL;
  size_t len = EVP_PKEY_get1_encoded_public_key(e->peer, &enc);
  if (len > 0 && enc[0] == POINT_CONVERSION_UNCOMPRESSED) {
    *out = enc;
    *out_len = len;
    return 1;
  }
  char group_name[64];
  EC_GROUP *group = NULL;
  EC_POINT *point = NULL;
  int ok = 0;
  if (len > 0 &&
      EVP_PKEY_get_utf8_string_param(e->peer, OSSL_PKEY_PARAM_GROUP_NAME, group_name,
                                     sizeof(group_name), NULL) &&
      (group = EC_GROUP_new_by_curve_name_ex(e->prov->libctx, TPROV_OTHERS,
                                             OBJ_sn2nid(group_name))) != NULL &&
      (point = EC_POINT_new(group)) != NULL && EC_POINT_oct2point(group, point, enc, len, NULL))
    ok = (*out_len = EC_POINT_point2buf(group, point, POINT_CONVERSION_UNCOMPRESSED, out, NULL)) > 0;
  EC_POINT_free(point);
  EC_GROUP_free(group);
  OPENSSL_free(enc);
  if (!ok)
    tprov_raise(e->prov, TPROV_R_BAD_ARGUMENT, "unusable peer point");
  return ok;
}

static int x963_kdf(tprov_ecdh *e, const uint8_t *z, size_t z_len, unsigned char *out)
{
  EVP_KDF *kdf = EVP_KDF_fetch(e->prov->libctx, OSSL_KDF_NAME_X963KDF, TPROV_OTHERS);
  EVP_KDF_CTX *kctx = kdf ? EVP_KDF_CTX_new(kdf) : NULL;
  OSSL_PARAM params[] = {
    OSSL_PARAM_utf8_string(OSSL_KDF_PARAM_DIGEST, (char *)EVP_MD_get0_name(e->kdf_md), 0),
    OSSL_PARAM_octet_string(OSSL_KDF_PARAM_KEY, (void *)z, z_len),
    OSSL_PARAM_octet_string(OSSL_KDF_PARAM_INFO, e->ukm, e->ukm_len),
    OSSL_PARAM_END,
  };
  int ok = kctx != NULL && EVP_KDF_derive(kctx, out, e->kdf_outlen, params) > 0;
  if (!ok)
    tprov_raise(e->prov, TPROV_R_INTERNAL, "X9.63 KDF failed");
  EVP_KDF_CTX_free(kctx);
  EVP_KDF_free(kdf);
  return ok;
}

static int ecdh_derive(void *ctx, unsigned char *secret, size_t *secretlen, size_t outlen)
{
  tprov_ecdh *e = ctx;
  tprov_key *k = e->key;
  if (k == NULL || e->peer == NULL) {
    tprov_raise(e->prov, TPROV_R_BAD_ARGUMENT, "no key or no peer key");
    return 0;
  }
  size_t field_len = (size_t)(EVP_PKEY_get_bits(k->pub) + 7) / 8;
  if (e->kdf_x963 && (e->kdf_md == NULL || e->kdf_outlen == 0)) {
    tprov_raise(e->prov, TPROV_R_BAD_ARGUMENT, "X9.63 KDF without digest or output length");
    return 0;
  }
  size_t len = e->kdf_x963 ? e->kdf_outlen : field_len;
  if (secret == NULL) { /* the size query: no agent request */
    *secretlen = len;
    return 1;
  }
  if (outlen < len) {
    tprov_raise(e->prov, TPROV_R_BUFFER_TOO_SMALL, "%zu bytes for %zu", outlen, len);
    return 0;
  }
  unsigned char *point = NULL;
  size_t point_len = 0;
  if (!peer_point(e, &point, &point_len))
    return 0;
  uint8_t *z = NULL;
  size_t z_len = 0;
  int rc = tessera_derive(k->client, k->id, TPROTO_MECH_ECDH, point, point_len, &z, &z_len);
  OPENSSL_free(point);
  if (rc != TESSERA_OK) {
    tprov_raise_agent(k, "derive", rc);
    return 0;
  }
  int ok;
  if (e->kdf_x963) {
    ok = x963_kdf(e, z, z_len, secret);
  } else if ((ok = z_len == field_len)) {
    memcpy(secret, z, z_len);
  } else {
    tprov_raise(e->prov, TPROV_R_AGENT, "shared secret of %zu bytes from the agent", z_len);
  }
  tessera_free_secret(z, z_len);
  if (ok)
    *secretlen = len;
  return ok;
}

static int ecdh_set_params(void *ctx, const OSSL_PARAM params[])
{
  tprov_ecdh *e = ctx;
  if (params == NULL)
    return 1;
  const OSSL_PARAM *p = OSSL_PARAM_locate_const(params, OSSL_EXCHANGE_PARAM_EC_ECDH_COFACTOR_MODE);
  if (p != NULL) {
    int mode = 0;
    if (!OSSL_PARAM_get_int(p, &mode) || mode < -1 || mode > 1)
      return 0;
    /* The curves cards have (NIST, Brainpool) have cofactor 1, where
     * cofactor ECDH is plain ECDH. */
    e->cofactor_mode = mode;
  }
  p = OSSL_PARAM_locate_const(params, OSSL_EXCHANGE_PARAM_KDF_TYPE);
  if (p != NULL) {
    char name[32], *n = name;
    if (!OSSL_PARAM_get_utf8_string(p, &n, sizeof(name)))
      return 0;
    if (name[0] == '\0') {
      e->kdf_x963 = 0;
    } else if (OPENSSL_strcasecmp(name, OSSL_KDF_NAME_X963KDF) == 0) {
      e->kdf_x963 = 1;
    } else {
      tprov_raise(e->prov, TPROV_R_UNSUPPORTED, "KDF %s", name);
      return 0;
    }
  }
  p = OSSL_PARAM_locate_const(params, OSSL_EXCHANGE_PARAM_KDF_DIGEST);
  if (p != NULL) {
    char name[80], *n = name;
    EVP_MD *md = NULL;
    if (!OSSL_PARAM_get_utf8_string(p, &n, sizeof(name)) ||
        (md = tprov_fetch_md(e->prov, name)) == NULL)
      return 0;
    EVP_MD_free(e->kdf_md);
    e->kdf_md = md;
  }
  p = OSSL_PARAM_locate_const(params, OSSL_EXCHANGE_PARAM_KDF_OUTLEN);
  if (p != NULL && !OSSL_PARAM_get_size_t(p, &e->kdf_outlen))
    return 0;
  p = OSSL_PARAM_locate_const(params, OSSL_EXCHANGE_PARAM_KDF_UKM);
  if (p != NULL) {
    void *ukm = NULL;
    size_t len = 0;
    if (!OSSL_PARAM_get_octet_string(p, &ukm, 0, &len))
      return 0;
    OPENSSL_free(e->ukm);
    e->ukm = ukm;
    e->ukm_len = len;
  }
  return 1;
}

static int ecdh_get_params(void *ctx, OSSL_PARAM params[])
{
  tprov_ecdh *e = ctx;
  OSSL_PARAM *p = OSSL_PARAM_locate(params, OSSL_EXCHANGE_PARAM_EC_ECDH_COFACTOR_MODE);
  if (p != NULL && !OSSL_PARAM_set_int(p, e->cofactor_mode < 0 ? 0 : e->cofactor_mode))
    return 0;
  p = OSSL_PARAM_locate(params, OSSL_EXCHANGE_PARAM_KDF_TYPE);
  if (p != NULL && !OSSL_PARAM_set_utf8_string(p, e->kdf_x963 ? OSSL_KDF_NAME_X963KDF : ""))
    return 0;
  p = OSSL_PARAM_locate(params, OSSL_EXCHANGE_PARAM_KDF_DIGEST);
  if (p != NULL && !OSSL_PARAM_set_utf8_string(p, e->kdf_md ? EVP_MD_get0_name(e->kdf_md) : ""))
    return 0;
  p = OSSL_PARAM_locate(params, OSSL_EXCHANGE_PARAM_KDF_OUTLEN);
  if (p != NULL && !OSSL_PARAM_set_size_t(p, e->kdf_outlen))
    return 0;
  return 1;
}

static const OSSL_PARAM *ecdh_settable(void *ctx, void *provctx)
{
  static const OSSL_PARAM params[] = {
    OSSL_PARAM_int(OSSL_EXCHANGE_PARAM_EC_ECDH_COFACTOR_MODE, NULL),
    OSSL_PARAM_utf8_string(OSSL_EXCHANGE_PARAM_KDF_TYPE, NULL, 0),
    OSSL_PARAM_utf8_string(OSSL_EXCHANGE_PARAM_KDF_DIGEST, NULL, 0),
    OSSL_PARAM_utf8_string(OSSL_EXCHANGE_PARAM_KDF_DIGEST_PROPS, NULL, 0),
    OSSL_PARAM_size_t(OSSL_EXCHANGE_PARAM_KDF_OUTLEN, NULL),
    OSSL_PARAM_octet_string(OSSL_EXCHANGE_PARAM_KDF_UKM, NULL, 0),
    OSSL_PARAM_END,
  };
  return params;
}

static const OSSL_PARAM *ecdh_gettable(void *ctx, void *provctx)
{
  static const OSSL_PARAM params[] = {
    OSSL_PARAM_int(OSSL_EXCHANGE_PARAM_EC_ECDH_COFACTOR_MODE, NULL),
    OSSL_PARAM_utf8_string(OSSL_EXCHANGE_PARAM_KDF_TYPE, NULL, 0),
    OSSL_PARAM_utf8_string(OSSL_EXCHANGE_PARAM_KDF_DIGEST, NULL, 0),
    OSSL_PARAM_size_t(OSSL_EXCHANGE_PARAM_KDF_OUTLEN, NULL),
    OSSL_PARAM_END,
  };
  return params;
}

#define FN(id, f) { id, (void (*)(void))(f) }
const OSSL_DISPATCH tprov_ecdh_exchange[] = {
  FN(OSSL_FUNC_KEYEXCH_NEWCTX, ecdh_newctx),
  FN(OSSL_FUNC_KEYEXCH_FREECTX, ecdh_freectx),
  FN(OSSL_FUNC_KEYEXCH_DUPCTX, ecdh_dupctx),
  FN(OSSL_FUNC_KEYEXCH_INIT, ecdh_init),
  FN(OSSL_FUNC_KEYEXCH_SET_PEER, ecdh_set_peer),
  FN(OSSL_FUNC_KEYEXCH_DERIVE, ecdh_derive),
  FN(OSSL_FUNC_KEYEXCH_SET_CTX_PARAMS, ecdh_set_params),
  FN(OSSL_FUNC_KEYEXCH_SETTABLE_CTX_PARAMS, ecdh_settable),
  FN(OSSL_FUNC_KEYEXCH_GET_CTX_PARAMS, ecdh_get_params),
  FN(OSSL_FUNC_KEYEXCH_GETTABLE_CTX_PARAMS, ecdh_gettable),
  { 0, NULL },
};
