/* Certificates built with the OpenSSL API, so the tests need no openssl
 * command or files. */
#include "test-certs.h"

#include <openssl/evp.h>
#include <openssl/pkcs7.h>
#include <openssl/x509v3.h>

static void add_ext(X509 *cert, X509 *issuer, int nid, const char *value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer, cert, NULL, NULL, 0);
  X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
  g_assert_nonnull(ext);
  g_assert_true(X509_add_ext(cert, ext, -1));
  X509_EXTENSION_free(ext);
}

static X509 *new_cert(const char *cn, const char *subject_email, EVP_PKEY *key) {
  static long serial = 1;
  X509 *cert = X509_new();
  g_assert_nonnull(cert);
  g_assert_true(X509_set_version(cert, X509_VERSION_3));
  ASN1_INTEGER_set(X509_get_serialNumber(cert), serial++);
  X509_gmtime_adj(X509_getm_notBefore(cert), -3600);
  X509_gmtime_adj(X509_getm_notAfter(cert), 30L * 24 * 3600);
  X509_NAME *name = X509_get_subject_name(cert);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8, (const unsigned char *)cn, -1, -1, 0);
  if (subject_email)
    X509_NAME_add_entry_by_NID(name, NID_pkcs9_emailAddress, MBSTRING_ASC,
                               (const unsigned char *)subject_email, -1, -1, 0);
  g_assert_true(X509_set_pubkey(cert, key));
  return cert;
}

TestCa test_ca_new(void) {
  TestCa ca = {.key = EVP_EC_gen("P-256")};
  g_assert_nonnull(ca.key);
  ca.cert = new_cert("Tessera Test CA", NULL, ca.key);
  X509_set_issuer_name(ca.cert, X509_get_subject_name(ca.cert));
  add_ext(ca.cert, ca.cert, NID_basic_constraints, "critical,CA:TRUE");
  add_ext(ca.cert, ca.cert, NID_key_usage, "critical,keyCertSign,cRLSign");
  g_assert_cmpint(X509_sign(ca.cert, ca.key, EVP_sha256()), >, 0);
  return ca;
}

void test_ca_clear(TestCa *ca) {
  X509_free(ca->cert);
  EVP_PKEY_free(ca->key);
  *ca = (TestCa){0};
}

X509 *test_leaf_new(const TestCa *ca, const char *cn, const char *san, const char *subject_email) {
  g_autoptr(EVP_PKEY) key = EVP_EC_gen("P-256");
  g_assert_nonnull(key);
  X509 *cert = new_cert(cn, subject_email, key);
  X509 *issuer = ca ? ca->cert : cert;
  X509_set_issuer_name(cert, X509_get_subject_name(issuer));
  add_ext(cert, issuer, NID_basic_constraints, "critical,CA:FALSE");
  add_ext(cert, issuer, NID_key_usage, "critical,digitalSignature,keyAgreement");
  add_ext(cert, issuer, NID_ext_key_usage, "emailProtection");
  if (san)
    add_ext(cert, issuer, NID_subject_alt_name, san);
  g_assert_cmpint(X509_sign(cert, ca ? ca->key : key, EVP_sha256()), >, 0);
  return cert;
}

char *test_cert_der_base64(X509 *cert) {
  unsigned char *der = NULL;
  int len = i2d_X509(cert, &der);
  g_assert_cmpint(len, >, 0);
  char *b64 = g_base64_encode(der, (gsize)len);
  OPENSSL_free(der);
  return b64;
}

char *test_pkcs7_base64(X509 *const *certs) {
  PKCS7 *p7 = PKCS7_new();
  g_assert_nonnull(p7);
  g_assert_true(PKCS7_set_type(p7, NID_pkcs7_signed));
  g_assert_true(PKCS7_content_new(p7, NID_pkcs7_data));
  for (X509 *const *c = certs; *c; c++)
    g_assert_true(PKCS7_add_certificate(p7, *c));
  unsigned char *der = NULL;
  int len = i2d_PKCS7(p7, &der);
  g_assert_cmpint(len, >, 0);
  char *b64 = g_base64_encode(der, (gsize)len);
  OPENSSL_free(der);
  PKCS7_free(p7);
  return b64;
}

char *test_cert_sha256(X509 *cert) {
  unsigned char *der = NULL;
  int len = i2d_X509(cert, &der);
  g_assert_cmpint(len, >, 0);
  char *hex = g_compute_checksum_for_data(G_CHECKSUM_SHA256, der, (gsize)len);
  OPENSSL_free(der);
  return hex;
}
