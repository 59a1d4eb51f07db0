/* tessera CLI — the hashes the CLI offers, digests and DigestInfo. */
#include "cli.h"

#include <openssl/objects.h>
#include <string.h>

gboolean cli_hash_lookup(const char *name, gboolean allow_sha1, CliHash *out, GError **error)
{
  static const char *const offered[] = { "sha256", "sha384", "sha512", "sha1" };
  size_t n_offered = G_N_ELEMENTS(offered) - (allow_sha1 ? 0 : 1);
  for (size_t i = 0; i < n_offered; i++) {
    if (g_ascii_strcasecmp(name, offered[i]) != 0)
      continue;
    out->name = offered[i];
    out->wire = (uint8_t)tproto_hash_from_name(offered[i]);
    out->md = EVP_get_digestbyname(offered[i]);
    if (out->md == NULL)
      break;
    return TRUE;
  }
  g_set_error(error, CLI_ERROR, CLI_ERROR_LOCAL, "unsupported hash '%s' (use sha256, sha384%s",
              name, allow_sha1 ? ", sha512 or sha1)" : " or sha512)");
  return FALSE;
}

gboolean cli_hash_data(const CliHash *h, const uint8_t *data, size_t len, uint8_t *out,
                       size_t *out_len, GError **error)
{
  unsigned int n = 0;
  if (!EVP_Digest(data, len, out, &n, h->md, NULL)) {
    g_set_error(error, CLI_ERROR, CLI_ERROR_LOCAL, "hashing with %s failed", h->name);
    return FALSE;
  }
  *out_len = n;
  return TRUE;
}

/* DigestInfo ::= SEQUENCE { AlgorithmIdentifier (OID, NULL), OCTET STRING },
 * the structure X509_SIG encodes (RFC 8017, 9.2). */
GBytes *cli_digest_info(const CliHash *h, const uint8_t *digest, size_t len, GError **error)
{
  X509_SIG *sig = X509_SIG_new();
  X509_ALGOR *alg = NULL;
  ASN1_OCTET_STRING *octets = NULL;
  GBytes *result = NULL;
  unsigned char *der = NULL;
  if (sig == NULL)
    goto out;
  X509_SIG_getm(sig, &alg, &octets);
  if (!X509_ALGOR_set0(alg, OBJ_nid2obj(EVP_MD_get_type(h->md)), V_ASN1_NULL, NULL) ||
      !ASN1_OCTET_STRING_set(octets, digest, (int)len))
    goto out;
  int der_len = i2d_X509_SIG(sig, &der);
  if (der_len > 0)
    result = g_bytes_new(der, (gsize)der_len);
out:
  OPENSSL_free(der);
  X509_SIG_free(sig);
  if (result == NULL)
    g_set_error(error, CLI_ERROR, CLI_ERROR_LOCAL, "building the %s DigestInfo failed", h->name);
  return result;
}
