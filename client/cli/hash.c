/* tessera CLI — the hashes the CLI offers, digests and DigestInfo. */
#include "cli.h"
#include "digest-info.h"

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

GBytes *cli_digest_info(const CliHash *h, const uint8_t *digest, size_t len, GError **error)
{
  uint8_t *der = NULL;
  int der_len = digest_info_encode(EVP_MD_get_type(h->md), digest, len, &der);
  if (der_len < 0) {
    g_set_error(error, CLI_ERROR, CLI_ERROR_LOCAL, "building the %s DigestInfo failed", h->name);
    return NULL;
  }
  GBytes *result = g_bytes_new(der, (gsize)der_len);
  OPENSSL_free(der);
  return result;
}
