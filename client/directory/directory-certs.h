/* DER/PKCS#7 decoding shared by the store and the LDAP lookup. Private to
 * the directory library. */
#pragma once

#include <glib.h>
#include <openssl/bio.h>
#include <openssl/x509.h>

G_DEFINE_AUTOPTR_CLEANUP_FUNC(X509, X509_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC(BIO, BIO_free)

/* Lower-case hex SHA-256 of cert's DER: its name in the store. */
char *smime_cert_fingerprint(X509 *cert);

/* Whether a and b are the same certificate (same DER). */
gboolean smime_cert_equal(X509 *a, X509 *b);

/* The email addresses cert is for (char*, owned): its subjectAltName
 * rfc822Names and emailAddress in its subject, lower-cased, each once. */
GPtrArray *smime_cert_addresses(X509 *cert);

/* Appends to out the certificates in der: one DER certificate, or a PKCS#7
 * SignedData (certs-only or not) from which the certificates that are not
 * CAs are taken, since a chain's CA certificates are not recipients.
 * Returns how many were appended; 0 when der is neither. */
guint smime_certs_from_der(const guchar *der, gsize length, GPtrArray *out);
