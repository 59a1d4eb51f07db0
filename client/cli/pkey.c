/* tessera CLI — OpenSSL views of public keys, certificates and ECDSA
 * signatures. */
#include "cli.h"

#include <openssl/bio.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/pem.h>

static X509 *cert_from_der(const uint8_t *der, size_t len)
{
  const unsigned char *p = der;
  return der && len ? d2i_X509(NULL, &p, (long)len) : NULL;
}

static EVP_PKEY *pkey_from_spki(const uint8_t *der, size_t len)
{
  const unsigned char *p = der;
  return der && len ? d2i_PUBKEY(NULL, &p, (long)len) : NULL;
}

static EVP_PKEY *pkey_from_cert(X509 *cert)
{
  return cert ? X509_get_pubkey(cert) : NULL;
}

static EVP_PKEY *pkey_from_pem(const uint8_t *data, size_t len)
{
  BIO *bio = BIO_new_mem_buf(data, (int)len);
  if (bio == NULL)
    return NULL;
  EVP_PKEY *pkey = PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL);
  if (pkey == NULL) {
    (void)BIO_reset(bio);
    g_autoptr(X509) cert = PEM_read_bio_X509(bio, NULL, NULL, NULL);
    pkey = pkey_from_cert(cert);
  }
  BIO_free(bio);
  return pkey;
}

EVP_PKEY *cli_pkey_load(const uint8_t *data, size_t len, GError **error)
{
  EVP_PKEY *pkey = NULL;
  if (len <= G_MAXINT)
    pkey = pkey_from_pem(data, len);
  if (pkey == NULL)
    pkey = pkey_from_spki(data, len);
  if (pkey == NULL) {
    g_autoptr(X509) cert = cert_from_der(data, len);
    pkey = pkey_from_cert(cert);
  }
  ERR_clear_error(); /* the failed attempts leave errors behind */
  if (pkey == NULL)
    g_set_error(error, CLI_ERROR, CLI_ERROR_LOCAL,
                "not a public key or certificate (PEM or DER)");
  return pkey;
}

EVP_PKEY *cli_key_public(const tessera_key *k, GError **error)
{
  EVP_PKEY *pkey = pkey_from_spki(k->spki, k->spki_len);
  if (pkey == NULL) {
    g_autoptr(X509) cert = cert_from_der(k->cert, k->cert_len);
    pkey = pkey_from_cert(cert);
  }
  ERR_clear_error();
  if (pkey == NULL)
    g_set_error(error, CLI_ERROR, CLI_ERROR_LOCAL,
                "the agent knows no public key or certificate for %s", k->id);
  return pkey;
}

char *cli_curve_name(EVP_PKEY *pkey)
{
  char group[80];
  if (pkey == NULL || !EVP_PKEY_is_a(pkey, "EC") ||
      !EVP_PKEY_get_group_name(pkey, group, sizeof(group), NULL))
    return NULL;
  const char *nist = EC_curve_nid2nist(OBJ_sn2nid(group));
  return g_strdup(nist ? nist : group);
}

static char *bio_to_string(BIO *bio)
{
  char *p = NULL;
  long n = BIO_get_mem_data(bio, &p);
  return n > 0 ? g_strndup(p, (gsize)n) : NULL;
}

char *cli_cert_subject(const tessera_key *k)
{
  g_autoptr(X509) cert = cert_from_der(k->cert, k->cert_len);
  BIO *bio = cert ? BIO_new(BIO_s_mem()) : NULL;
  if (bio == NULL)
    return NULL;
  char *s = NULL;
  /* RFC 2253 order, but keep UTF-8 as is instead of \XX escapes. */
  if (X509_NAME_print_ex(bio, X509_get_subject_name(cert), 0,
                         XN_FLAG_RFC2253 & ~ASN1_STRFLGS_ESC_MSB) >= 0)
    s = bio_to_string(bio);
  BIO_free(bio);
  return s;
}

char *cli_cert_common_name(const tessera_key *k)
{
  g_autoptr(X509) cert = cert_from_der(k->cert, k->cert_len);
  if (cert == NULL)
    return NULL;
  const X509_NAME *name = X509_get_subject_name(cert);
  int at = X509_NAME_get_index_by_NID(name, NID_commonName, -1);
  if (at < 0)
    return NULL;
  unsigned char *utf8 = NULL;
  int n = ASN1_STRING_to_UTF8(&utf8, X509_NAME_ENTRY_get_data(X509_NAME_get_entry(name, at)));
  char *cn = n >= 0 ? g_strndup((const char *)utf8, (gsize)n) : NULL;
  OPENSSL_free(utf8);
  return cn;
}

GBytes *cli_ec_point(EVP_PKEY *pkey, GError **error)
{
  unsigned char *point = NULL;
  size_t len = 0;
  /* A key read from a file may carry a compressed point: ask for 04||X||Y. */
  if (EVP_PKEY_is_a(pkey, "EC") &&
      EVP_PKEY_set_utf8_string_param(pkey, OSSL_PKEY_PARAM_EC_POINT_CONVERSION_FORMAT,
                                     OSSL_PKEY_EC_POINT_CONVERSION_FORMAT_UNCOMPRESSED))
    len = EVP_PKEY_get1_encoded_public_key(pkey, &point);
  if (len == 0 || point[0] != 0x04) {
    OPENSSL_free(point);
    g_set_error(error, CLI_ERROR, CLI_ERROR_LOCAL, "not an EC public key");
    return NULL;
  }
  GBytes *b = g_bytes_new(point, len);
  OPENSSL_free(point);
  return b;
}

GBytes *cli_ecdsa_raw_to_der(const uint8_t *raw, size_t len, GError **error)
{
  GBytes *result = NULL;
  unsigned char *der = NULL;
  ECDSA_SIG *sig = ECDSA_SIG_new();
  BIGNUM *r = BN_bin2bn(raw, (int)(len / 2), NULL);
  BIGNUM *s = BN_bin2bn(raw + len / 2, (int)(len / 2), NULL);
  if (len == 0 || len % 2 != 0 || sig == NULL || r == NULL || s == NULL)
    goto out;
  ECDSA_SIG_set0(sig, r, s); /* sig owns r and s now */
  r = s = NULL;
  int der_len = i2d_ECDSA_SIG(sig, &der);
  if (der_len > 0)
    result = g_bytes_new(der, (gsize)der_len);
out:
  BN_free(r);
  BN_free(s);
  ECDSA_SIG_free(sig);
  OPENSSL_free(der);
  if (result == NULL)
    g_set_error(error, CLI_ERROR, CLI_ERROR_LOCAL,
                "cannot convert a %zu-byte ECDSA signature to DER", len);
  return result;
}
