/* tessera CLI — finding a key in the agent's list and the private-key
 * operations, shared by sign/decrypt/derive and selftest. */
#include "cli.h"

#include <string.h>

gboolean cli_list_keys(tessera_client *c, const char *token, CliKeys *out, GError **error)
{
  return cli_check(c, tessera_list_keys(c, token, &out->items, &out->n), error);
}

gboolean cli_find_key(tessera_client *c, const char *name, CliKeys *out, GError **error)
{
  out->n = 0;
  if (!cli_check(c, tessera_find_key(c, name, &out->items), error))
    return FALSE;
  out->n = 1;
  return TRUE;
}

/* What goes to the agent: a DigestInfo for PKCS#1 v1.5, else the digest. */
static GBytes *sign_input(const CliSignParams *p, const uint8_t *digest, size_t len,
                          uint8_t *mech, GError **error)
{
  if (p->key_type == TPROTO_KEY_EC) {
    *mech = TPROTO_MECH_ECDSA;
    return g_bytes_new(digest, len);
  }
  if (p->pss) {
    *mech = TPROTO_MECH_RSA_PSS;
    return g_bytes_new(digest, len);
  }
  *mech = TPROTO_MECH_RSA_PKCS;
  return cli_digest_info(&p->hash, digest, len, error);
}

GBytes *cli_sign_message(tessera_client *c, const char *key, const CliSignParams *p,
                         const uint8_t *msg, size_t len, GError **error)
{
  uint8_t digest[EVP_MAX_MD_SIZE];
  size_t digest_len;
  uint8_t mech;
  if (p->pss && p->key_type == TPROTO_KEY_EC) {
    g_set_error(error, CLI_ERROR, CLI_ERROR_LOCAL, "--pss needs an RSA key; %s is an EC key", key);
    return NULL;
  }
  if (!cli_hash_data(&p->hash, msg, len, digest, &digest_len, error))
    return NULL;
  g_autoptr(GBytes) input = sign_input(p, digest, digest_len, &mech, error);
  if (input == NULL)
    return NULL;
  gsize input_len;
  const uint8_t *input_data = g_bytes_get_data(input, &input_len);
  /* PSS: MGF1 with the same hash, salt as long as the digest (what
   * openssl verifies with -sigopt rsa_pss_saltlen:-1); others send zeros. */
  gboolean pss = mech == TPROTO_MECH_RSA_PSS;
  uint8_t hash = pss ? p->hash.wire : TPROTO_HASH_NONE;
  uint32_t salt_len = pss ? (uint32_t)digest_len : 0;
  g_auto(CliSecret) sig = { 0 };
  int rc = tessera_sign(c, key, mech, hash, hash, salt_len, input_data, input_len, &sig.data,
                        &sig.len);
  if (!cli_check(c, rc, error))
    return NULL;
  if (mech == TPROTO_MECH_ECDSA)
    return cli_ecdsa_raw_to_der(sig.data, sig.len, error);
  return g_bytes_new(sig.data, sig.len);
}

gboolean cli_decrypt(tessera_client *c, const char *key, const CliHash *oaep_hash, GBytes *label,
                     GBytes *ciphertext, CliSecret *plain, GError **error)
{
  gsize label_len = 0, in_len = 0;
  const uint8_t *label_data = label ? g_bytes_get_data(label, &label_len) : NULL;
  const uint8_t *in = g_bytes_get_data(ciphertext, &in_len);
  uint8_t mech = oaep_hash ? TPROTO_MECH_RSA_OAEP : TPROTO_MECH_RSA_PKCS;
  uint8_t hash = oaep_hash ? oaep_hash->wire : TPROTO_HASH_NONE;
  int rc = tessera_decrypt(c, key, mech, hash, hash, label_data, label_len, in, in_len,
                           &plain->data, &plain->len);
  return cli_check(c, rc, error);
}

gboolean cli_derive(tessera_client *c, const char *key, EVP_PKEY *peer, CliSecret *secret,
                    GError **error)
{
  g_autoptr(GBytes) point = cli_ec_point(peer, error);
  if (point == NULL)
    return FALSE;
  gsize len;
  const uint8_t *p = g_bytes_get_data(point, &len);
  int rc = tessera_derive(c, key, TPROTO_MECH_ECDH, p, len, &secret->data, &secret->len);
  return cli_check(c, rc, error);
}
