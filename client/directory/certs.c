/* Certificate helpers: fingerprints, the addresses a certificate names,
 * decoding what a directory publishes. */
#include "directory-certs.h"

#include <openssl/evp.h>
#include <openssl/pkcs7.h>
#include <openssl/x509v3.h>
#include <string.h>

char *smime_cert_fingerprint(X509 *cert) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (!X509_digest(cert, EVP_sha256(), md, &len))
    return NULL;
  GString *hex = g_string_sized_new(2 * len);
  for (unsigned int i = 0; i < len; i++)
    g_string_append_printf(hex, "%02x", md[i]);
  return g_string_free(hex, FALSE);
}

gboolean smime_cert_equal(X509 *a, X509 *b) {
  return X509_cmp(a, b) == 0;
}

/* Addresses are compared without regard to case everywhere (the store, LDAP's
 * mail matching rule), so they are kept lower-cased; only well-formed ASCII
 * addresses count, a NUL inside one would let a CA-signed name lie. */
static void add_address(GPtrArray *list, const unsigned char *data, int length) {
  if (!data || length <= 0 || memchr(data, '\0', (size_t)length))
    return;
  g_autofree char *raw = g_strndup((const char *)data, (gsize)length);
  if (!g_str_is_ascii(raw) || !strchr(raw, '@'))
    return;
  g_autofree char *lower = g_ascii_strdown(raw, -1);
  for (guint i = 0; i < list->len; i++)
    if (strcmp(g_ptr_array_index(list, i), lower) == 0)
      return;
  g_ptr_array_add(list, g_steal_pointer(&lower));
}

GPtrArray *smime_cert_addresses(X509 *cert) {
  GPtrArray *list = g_ptr_array_new_with_free_func(g_free);

  GENERAL_NAMES *names = X509_get_ext_d2i(cert, NID_subject_alt_name, NULL, NULL);
  for (int i = 0; names && i < sk_GENERAL_NAME_num(names); i++) {
    const GENERAL_NAME *name = sk_GENERAL_NAME_value(names, i);
    if (name->type == GEN_EMAIL)
      add_address(list, ASN1_STRING_get0_data(name->d.rfc822Name),
                  ASN1_STRING_length(name->d.rfc822Name));
  }
  GENERAL_NAMES_free(names);

  const X509_NAME *subject = X509_get_subject_name(cert);
  int pos = -1;
  while ((pos = X509_NAME_get_index_by_NID(subject, NID_pkcs9_emailAddress, pos)) >= 0) {
    const ASN1_STRING *value = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(subject, pos));
    add_address(list, ASN1_STRING_get0_data(value), ASN1_STRING_length(value));
  }
  return list;
}

guint smime_certs_from_der(const guchar *der, gsize length, GPtrArray *out) {
  if (length == 0 || length > G_MAXLONG)
    return 0;

  const unsigned char *p = der;
  X509 *cert = d2i_X509(NULL, &p, (long)length);
  if (cert && p == der + length) {
    g_ptr_array_add(out, cert);
    return 1;
  }
  X509_free(cert);

  p = der;
  PKCS7 *p7 = d2i_PKCS7(NULL, &p, (long)length);
  if (!p7 || p != der + length || !PKCS7_type_is_signed(p7) || !p7->d.sign) {
    PKCS7_free(p7);
    return 0;
  }
  guint added = 0;
  STACK_OF(X509) *certs = p7->d.sign->cert;
  for (int i = 0; certs && i < sk_X509_num(certs); i++) {
    X509 *c = sk_X509_value(certs, i);
    if (X509_check_ca(c) == 1) /* basicConstraints cA: part of the chain */
      continue;
    if (X509_up_ref(c)) {
      g_ptr_array_add(out, c);
      added++;
    }
  }
  PKCS7_free(p7);
  return added;
}
