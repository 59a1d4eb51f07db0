/* Throwaway certificates for the directory tests: EC P-256 keys, a CA and
 * leaves with email addresses in subjectAltName and/or the subject. */
#pragma once

#include <glib.h>
#include <openssl/x509.h>

G_DEFINE_AUTOPTR_CLEANUP_FUNC(X509, X509_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC(EVP_PKEY, EVP_PKEY_free)

typedef struct {
  X509 *cert;
  EVP_PKEY *key;
} TestCa;

TestCa test_ca_new(void);
void test_ca_clear(TestCa *ca);

/* A leaf signed by ca (ca NULL: self-signed). san: "email:a@x,email:b@y"
 * or NULL; subject_email: emailAddress in the subject, or NULL. */
X509 *test_leaf_new(const TestCa *ca, const char *cn, const char *san, const char *subject_email);

/* DER of cert, base64 (for LDIF "attr:: ..."). */
char *test_cert_der_base64(X509 *cert);

/* A certs-only PKCS#7 SignedData holding certs (NULL-terminated), base64. */
char *test_pkcs7_base64(X509 *const *certs);

/* Lower-case hex SHA-256 of cert's DER, computed independently of the
 * library under test. */
char *test_cert_sha256(X509 *cert);
