/* tessera CLI — selftest: every operation a key allows, checked against its
 * public key with OpenSSL. */
#include "cli.h"

#include <openssl/rand.h>
#include <openssl/rsa.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
  tessera_client *c;
  const char *key; /* the key's full id */
  EVP_PKEY *pub;
  int failures;
  GError *first_failure; /* for a hint at the end */
} Selftest;

/* A mechanism the token lacks says nothing about the key: SKIP, not FAIL. */
static gboolean token_lacks_mechanism(const GError *error)
{
  return error->domain == CLI_ERROR && error->code == TPROTO_ERR_MECHANISM;
}

static void report(Selftest *t, const char *check, const GError *error)
{
  if (error == NULL) {
    printf("PASS  %s\n", check);
  } else if (token_lacks_mechanism(error)) {
    printf("SKIP  %s (%s)\n", check, error->message);
  } else {
    printf("FAIL  %s (%s)\n", check, error->message);
    t->failures++;
    if (t->first_failure == NULL)
      t->first_failure = g_error_copy(error);
  }
}

static gboolean random_bytes(uint8_t *p, size_t n, GError **error)
{
  if (RAND_bytes(p, (int)n) == 1)
    return TRUE;
  g_set_error(error, CLI_ERROR, CLI_ERROR_LOCAL, "no random bytes");
  return FALSE;
}

static gboolean openssl_failed(const char *what, GError **error)
{
  g_set_error(error, CLI_ERROR, CLI_ERROR_LOCAL, "OpenSSL: %s failed", what);
  return FALSE;
}

/* RSA padding for verify/encrypt: PKCS#1 v1.5, PSS (salt = digest) or OAEP. */
static gboolean set_rsa_padding(EVP_PKEY_CTX *ctx, int padding, const EVP_MD *md)
{
  if (EVP_PKEY_CTX_set_rsa_padding(ctx, padding) <= 0)
    return FALSE;
  if (padding == RSA_PKCS1_PSS_PADDING)
    return EVP_PKEY_CTX_set_rsa_pss_saltlen(ctx, RSA_PSS_SALTLEN_DIGEST) > 0 &&
           EVP_PKEY_CTX_set_rsa_mgf1_md(ctx, md) > 0;
  if (padding == RSA_PKCS1_OAEP_PADDING)
    return EVP_PKEY_CTX_set_rsa_oaep_md(ctx, md) > 0 && EVP_PKEY_CTX_set_rsa_mgf1_md(ctx, md) > 0;
  return TRUE;
}

static gboolean verify(EVP_PKEY *pub, const CliSignParams *p, const uint8_t *msg, size_t len,
                       GBytes *sig, GError **error)
{
  g_autoptr(EVP_MD_CTX) md_ctx = EVP_MD_CTX_new();
  EVP_PKEY_CTX *pctx = NULL; /* owned by md_ctx */
  if (md_ctx == NULL || EVP_DigestVerifyInit(md_ctx, &pctx, p->hash.md, NULL, pub) != 1)
    return openssl_failed("verify setup", error);
  if (p->key_type == TPROTO_KEY_RSA &&
      !set_rsa_padding(pctx, p->pss ? RSA_PKCS1_PSS_PADDING : RSA_PKCS1_PADDING, p->hash.md))
    return openssl_failed("setting the RSA padding", error);
  gsize sig_len;
  const uint8_t *sig_data = g_bytes_get_data(sig, &sig_len);
  if (EVP_DigestVerify(md_ctx, sig_data, sig_len, msg, len) != 1) {
    g_set_error(error, CLI_ERROR, CLI_ERROR_LOCAL, "the signature does not verify");
    return FALSE;
  }
  return TRUE;
}

static void check_sign(Selftest *t, uint8_t key_type, gboolean pss)
{
  CliSignParams p = { .key_type = key_type, .pss = pss };
  g_autoptr(GError) error = NULL;
  uint8_t msg[64];
  (void)cli_hash_lookup("sha256", FALSE, &p.hash, NULL);
  const char *mech = key_type == TPROTO_KEY_EC ? "ecdsa" : pss ? "rsa-pss" : "rsa-pkcs1";
  g_autofree char *name = g_strdup_printf("sign %s %s", mech, p.hash.name);
  g_autoptr(GBytes) sig = NULL;
  if (random_bytes(msg, sizeof(msg), &error) &&
      (sig = cli_sign_message(t->c, t->key, &p, msg, sizeof(msg), &error)))
    verify(t->pub, &p, msg, sizeof(msg), sig, &error);
  report(t, name, error);
}

static GBytes *encrypt_to(EVP_PKEY *pub, const CliHash *oaep, const uint8_t *plain, size_t len,
                          GError **error)
{
  g_autoptr(EVP_PKEY_CTX) ctx = EVP_PKEY_CTX_new(pub, NULL);
  size_t out_len = 0;
  if (ctx == NULL || EVP_PKEY_encrypt_init(ctx) <= 0 ||
      !set_rsa_padding(ctx, oaep ? RSA_PKCS1_OAEP_PADDING : RSA_PKCS1_PADDING,
                       oaep ? oaep->md : NULL) ||
      EVP_PKEY_encrypt(ctx, NULL, &out_len, plain, len) <= 0) {
    openssl_failed("encryption setup", error);
    return NULL;
  }
  g_autofree uint8_t *out = g_malloc(out_len);
  if (EVP_PKEY_encrypt(ctx, out, &out_len, plain, len) <= 0) {
    openssl_failed("encryption", error);
    return NULL;
  }
  return g_bytes_new(out, out_len);
}

static gboolean same_bytes(const uint8_t *a, size_t a_len, const uint8_t *b, size_t b_len,
                           const char *what, GError **error)
{
  if (a_len == b_len && memcmp(a, b, a_len) == 0)
    return TRUE;
  g_set_error(error, CLI_ERROR, CLI_ERROR_LOCAL, "%s differs", what);
  return FALSE;
}

/* oaep_hash NULL = PKCS#1 v1.5. */
static void check_decrypt(Selftest *t, const char *oaep_hash)
{
  CliHash hash;
  gboolean oaep = oaep_hash != NULL;
  if (oaep)
    (void)cli_hash_lookup(oaep_hash, TRUE, &hash, NULL);
  g_autofree char *name =
      oaep ? g_strdup_printf("decrypt rsa-oaep %s", hash.name) : g_strdup("decrypt rsa-pkcs1");
  g_autoptr(GError) error = NULL;
  uint8_t plain[32];
  g_autoptr(GBytes) ciphertext = NULL;
  g_auto(CliSecret) decrypted = { 0 };
  if (random_bytes(plain, sizeof(plain), &error) &&
      (ciphertext = encrypt_to(t->pub, oaep ? &hash : NULL, plain, sizeof(plain), &error)) &&
      cli_decrypt(t->c, t->key, oaep ? &hash : NULL, NULL, ciphertext, &decrypted, &error))
    same_bytes(decrypted.data, decrypted.len, plain, sizeof(plain), "the plaintext", &error);
  report(t, name, error);
}

/* The same secret OpenSSL computes from the ephemeral private key. */
static gboolean openssl_derive(EVP_PKEY *priv, EVP_PKEY *peer, CliSecret *out, GError **error)
{
  g_autoptr(EVP_PKEY_CTX) ctx = EVP_PKEY_CTX_new(priv, NULL);
  if (ctx == NULL || EVP_PKEY_derive_init(ctx) <= 0 || EVP_PKEY_derive_set_peer(ctx, peer) <= 0 ||
      EVP_PKEY_derive(ctx, NULL, &out->len) <= 0)
    return openssl_failed("ECDH setup", error);
  out->data = malloc(out->len); /* freed by tessera_free_secret */
  if (out->data == NULL || EVP_PKEY_derive(ctx, out->data, &out->len) <= 0)
    return openssl_failed("ECDH", error);
  return TRUE;
}

static void check_derive(Selftest *t)
{
  g_autoptr(GError) error = NULL;
  char group[80];
  g_autoptr(EVP_PKEY) ephemeral = NULL;
  g_auto(CliSecret) ours = { 0 };
  g_auto(CliSecret) theirs = { 0 };
  if (!EVP_PKEY_get_group_name(t->pub, group, sizeof(group), NULL) ||
      !(ephemeral = EVP_PKEY_Q_keygen(NULL, NULL, "EC", group)))
    openssl_failed("generating an ephemeral key", &error);
  else if (cli_derive(t->c, t->key, ephemeral, &theirs, &error) &&
           openssl_derive(ephemeral, t->pub, &ours, &error))
    same_bytes(theirs.data, theirs.len, ours.data, ours.len, "the shared secret", &error);
  report(t, "derive ecdh", error);
}

static void run_checks(Selftest *t, const tessera_key *k)
{
  gboolean rsa = k->key_type == TPROTO_KEY_RSA;
  if (k->ops & TPROTO_OP_SIGN) {
    check_sign(t, k->key_type, FALSE);
    if (rsa)
      check_sign(t, k->key_type, TRUE);
  }
  if (rsa && (k->ops & TPROTO_OP_DECRYPT)) {
    check_decrypt(t, NULL);
    check_decrypt(t, "sha256");
    check_decrypt(t, "sha1"); /* the only OAEP hash of some tokens (SoftHSM2) */
  }
  if (!rsa && (k->ops & TPROTO_OP_DERIVE))
    check_derive(t);
}

int cmd_selftest(const CliGlobals *g, int argc, char **argv)
{
  if (!cli_parse_options(&argc, &argv, "KEY",
                         "Check every operation KEY allows against its public key: signatures "
                         "verify, decryption and ECDH agree with OpenSSL. Exits 4 if a check "
                         "fails.",
                         NULL) ||
      !cli_check_args(argc, argv, 1, 1))
    return CLI_EXIT_USAGE;
  g_autoptr(tessera_client) c = NULL;
  int exit_code = cli_connect(g, &c);
  if (exit_code != CLI_EXIT_OK)
    return exit_code;
  g_auto(CliKeys) found = { 0 };
  g_autoptr(GError) error = NULL;
  if (!cli_find_key(c, argv[1], &found, &error))
    return cli_report(error);
  const tessera_key *k = &found.items[0];
  g_autoptr(EVP_PKEY) pub = cli_key_public(k, &error);
  if (pub == NULL)
    return cli_report(error);

  Selftest t = { .c = c, .key = k->id, .pub = pub };
  printf("key   %s\n", k->id);
  run_checks(&t, k);
  if (t.failures == 0)
    return CLI_EXIT_OK;
  cli_print_hint(t.first_failure);
  g_error_free(t.first_failure);
  return CLI_EXIT_SELFTEST;
}
