/* tessera-agent — public keys: SPKI from PKCS#11 attributes or a cert. */
#include "pubkey.h"

#include "messages.h"

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/param_build.h>
#include <openssl/x509.h>

G_DEFINE_AUTOPTR_CLEANUP_FUNC(EVP_PKEY, EVP_PKEY_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC(EVP_PKEY_CTX, EVP_PKEY_CTX_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC(OSSL_PARAM_BLD, OSSL_PARAM_BLD_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC(OSSL_PARAM, OSSL_PARAM_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC(BIGNUM, BN_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC(X509, X509_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC(ASN1_OBJECT, ASN1_OBJECT_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC(ASN1_OCTET_STRING, ASN1_OCTET_STRING_free)

static GBytes *spki_of(EVP_PKEY *pkey)
{
  unsigned char *der = NULL;
  int n = i2d_PUBKEY(pkey, &der);
  if (n <= 0)
    return NULL;
  GBytes *out = g_bytes_new(der, (gsize)n);
  OPENSSL_free(der);
  return out;
}

static GBytes *spki_from_params(const char *type, OSSL_PARAM_BLD *bld)
{
  g_autoptr(OSSL_PARAM) params = OSSL_PARAM_BLD_to_param(bld);
  g_autoptr(EVP_PKEY_CTX) ctx = EVP_PKEY_CTX_new_from_name(NULL, type, NULL);
  g_autoptr(EVP_PKEY) pkey = NULL;
  if (params == NULL || ctx == NULL || EVP_PKEY_fromdata_init(ctx) <= 0 ||
      EVP_PKEY_fromdata(ctx, &pkey, EVP_PKEY_PUBLIC_KEY, params) <= 0)
    return NULL;
  return spki_of(pkey);
}

GBytes *pubkey_spki_from_rsa(GBytes *modulus, GBytes *exponent)
{
  gsize nlen, elen;
  const guint8 *n = g_bytes_get_data(modulus, &nlen);
  const guint8 *e = g_bytes_get_data(exponent, &elen);
  if (nlen == 0 || elen == 0)
    return NULL;
  g_autoptr(BIGNUM) bn_n = BN_bin2bn(n, (int)nlen, NULL);
  g_autoptr(BIGNUM) bn_e = BN_bin2bn(e, (int)elen, NULL);
  g_autoptr(OSSL_PARAM_BLD) bld = OSSL_PARAM_BLD_new();
  if (bn_n == NULL || bn_e == NULL || bld == NULL ||
      !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, bn_n) ||
      !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, bn_e))
    return NULL;
  return spki_from_params("RSA", bld);
}

GBytes *pubkey_spki_from_ec(GBytes *params, GBytes *point)
{
  gsize plen, qlen;
  const guint8 *p = g_bytes_get_data(params, &plen);
  const guint8 *q = g_bytes_get_data(point, &qlen);
  const unsigned char *cur = p;
  g_autoptr(ASN1_OBJECT) oid = d2i_ASN1_OBJECT(NULL, &cur, (long)plen);
  if (oid == NULL)
    return NULL; /* named curves only: explicit parameters are not used */
  const char *group = OBJ_nid2sn(OBJ_obj2nid(oid));
  if (group == NULL)
    return NULL;
  /* CKA_EC_POINT should be a DER OCTET STRING; some modules give it raw. */
  cur = q;
  g_autoptr(ASN1_OCTET_STRING) os = d2i_ASN1_OCTET_STRING(NULL, &cur, (long)qlen);
  const guint8 *raw = q;
  gsize raw_len = qlen;
  if (os != NULL && cur == q + qlen) {
    raw = ASN1_STRING_get0_data(os);
    raw_len = (gsize)ASN1_STRING_length(os);
  }
  g_autoptr(OSSL_PARAM_BLD) bld = OSSL_PARAM_BLD_new();
  if (bld == NULL ||
      !OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME, group, 0) ||
      !OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, raw, raw_len))
    return NULL;
  return spki_from_params("EC", bld);
}

GBytes *pubkey_spki_from_cert(GBytes *cert)
{
  gsize len;
  const unsigned char *p = g_bytes_get_data(cert, &len);
  g_autoptr(X509) x = d2i_X509(NULL, &p, (long)len);
  if (x == NULL)
    return NULL;
  EVP_PKEY *pkey = X509_get0_pubkey(x);
  return pkey ? spki_of(pkey) : NULL;
}

gboolean pubkey_describe(GBytes *spki, uint8_t *key_type, uint32_t *bits, gsize *size_bytes)
{
  gsize len;
  const unsigned char *p = g_bytes_get_data(spki, &len);
  g_autoptr(EVP_PKEY) pkey = d2i_PUBKEY(NULL, &p, (long)len);
  if (pkey == NULL)
    return FALSE;
  int b = EVP_PKEY_get_bits(pkey);
  if (b <= 0)
    return FALSE;
  *bits = (uint32_t)b;
  *size_bytes = ((gsize)b + 7) / 8;
  if (EVP_PKEY_is_a(pkey, "RSA")) {
    *key_type = TPROTO_KEY_RSA;
  } else if (EVP_PKEY_is_a(pkey, "EC")) {
    *key_type = TPROTO_KEY_EC;
  } else {
    return FALSE;
  }
  return TRUE;
}
