/* tessera CLI — sign, decrypt and derive. */
#include "cli.h"

#include <stdio.h>

/* Missing mandatory option → usage hint; returns FALSE. */
static gboolean require(const char *command, const char *value, const char *option)
{
  if (value)
    return TRUE;
  cli_usage_error(command, "%s is required", option);
  return FALSE;
}

/* The key's type decides the mechanism. */
static gboolean lookup_key_type(tessera_client *c, const char *key, uint8_t *type, GError **error)
{
  g_auto(CliKeys) found = { 0 };
  if (!cli_find_key(c, key, &found, error))
    return FALSE;
  *type = found.items[0].key_type;
  return TRUE;
}

static int sign_file(tessera_client *c, const char *key, CliSignParams *p, const char *in,
                     const char *out)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GBytes) data = NULL;
  g_autoptr(GBytes) sig = NULL;
  if (!lookup_key_type(c, key, &p->key_type, &error) ||
      !(data = cli_read_input(in, &error)) ||
      !(sig = cli_sign_message(c, key, p, g_bytes_get_data(data, NULL), g_bytes_get_size(data),
                               &error)) ||
      !cli_write_output(out, g_bytes_get_data(sig, NULL), g_bytes_get_size(sig), FALSE, &error))
    return cli_report(error);
  return CLI_EXIT_OK;
}

int cmd_sign(const CliGlobals *g, int argc, char **argv)
{
  g_autofree char *hash = NULL, *in = NULL, *out = NULL;
  gboolean pss = FALSE;
  const GOptionEntry entries[] = {
    { "hash", 0, 0, G_OPTION_ARG_STRING, &hash, "sha256 (default), sha384 or sha512", "HASH" },
    { "pss", 0, 0, G_OPTION_ARG_NONE, &pss, "RSA-PSS (salt = hash length) instead of PKCS#1 v1.5",
      NULL },
    { "in", 'i', 0, G_OPTION_ARG_FILENAME, &in, "the data to sign ('-' = stdin)", "FILE" },
    { "out", 'o', 0, G_OPTION_ARG_FILENAME, &out, "where to write the signature ('-' = stdout)",
      "SIG" },
    G_OPTION_ENTRY_NULL
  };
  if (!cli_parse_options(&argc, &argv, "KEY",
                         "Sign a file with KEY (id, PKCS#11 URI, label or unique id prefix). The "
                         "signature verifies with `openssl dgst -verify`; ECDSA comes as DER.",
                         entries) ||
      !cli_check_args(argc, argv, 1, 1) || !require(argv[0], in, "--in") ||
      !require(argv[0], out, "--out"))
    return CLI_EXIT_USAGE;
  CliSignParams params = { .pss = pss };
  g_autoptr(GError) error = NULL;
  if (!cli_hash_lookup(hash ? hash : "sha256", FALSE, &params.hash, &error))
    return cli_usage_error(argv[0], "%s", error->message);

  g_autoptr(tessera_client) c = NULL;
  int exit_code = cli_connect(g, &c);
  if (exit_code != CLI_EXIT_OK)
    return exit_code;
  return sign_file(c, argv[1], &params, in, out);
}

int cmd_decrypt(const CliGlobals *g, int argc, char **argv)
{
  g_autofree char *hash = NULL, *label_file = NULL, *in = NULL, *out = NULL;
  gboolean oaep = FALSE;
  const GOptionEntry entries[] = {
    { "oaep", 0, 0, G_OPTION_ARG_NONE, &oaep, "RSA-OAEP instead of PKCS#1 v1.5", NULL },
    { "hash", 0, 0, G_OPTION_ARG_STRING, &hash, "OAEP and MGF1 hash: sha256 (default), sha384, "
      "sha512, sha1", "HASH" },
    { "label-file", 0, 0, G_OPTION_ARG_FILENAME, &label_file, "OAEP label (default: empty)",
      "FILE" },
    { "in", 'i', 0, G_OPTION_ARG_FILENAME, &in, "the ciphertext ('-' = stdin)", "FILE" },
    { "out", 'o', 0, G_OPTION_ARG_FILENAME, &out, "where to write the plaintext ('-' = stdout)",
      "FILE" },
    G_OPTION_ENTRY_NULL
  };
  if (!cli_parse_options(&argc, &argv, "KEY", "Decrypt an RSA ciphertext with KEY.", entries) ||
      !cli_check_args(argc, argv, 1, 1) || !require(argv[0], in, "--in") ||
      !require(argv[0], out, "--out"))
    return CLI_EXIT_USAGE;
  if (!oaep && (hash || label_file))
    return cli_usage_error(argv[0], "--hash and --label-file need --oaep");
  CliHash oaep_hash;
  g_autoptr(GError) error = NULL;
  if (oaep && !cli_hash_lookup(hash ? hash : "sha256", TRUE, &oaep_hash, &error))
    return cli_usage_error(argv[0], "%s", error->message);

  g_autoptr(tessera_client) c = NULL;
  int exit_code = cli_connect(g, &c);
  if (exit_code != CLI_EXIT_OK)
    return exit_code;
  g_autoptr(GBytes) label = NULL;
  g_autoptr(GBytes) ciphertext = NULL;
  g_auto(CliSecret) plain = { 0 };
  if ((label_file && !(label = cli_read_input(label_file, &error))) ||
      !(ciphertext = cli_read_input(in, &error)) ||
      !cli_decrypt(c, argv[1], oaep ? &oaep_hash : NULL, label, ciphertext, &plain, &error) ||
      !cli_write_output(out, plain.data, plain.len, TRUE, &error))
    return cli_report(error);
  return CLI_EXIT_OK;
}

int cmd_derive(const CliGlobals *g, int argc, char **argv)
{
  g_autofree char *peer_file = NULL, *out = NULL;
  const GOptionEntry entries[] = {
    { "peer", 'p', 0, G_OPTION_ARG_FILENAME, &peer_file,
      "the peer's EC public key or certificate, PEM or DER", "FILE" },
    { "out", 'o', 0, G_OPTION_ARG_FILENAME, &out, "where to write the shared secret ('-' = stdout)",
      "FILE" },
    G_OPTION_ENTRY_NULL
  };
  if (!cli_parse_options(&argc, &argv, "KEY",
                         "ECDH with KEY and a peer's public key; writes the raw shared secret "
                         "(the X coordinate), without any KDF.",
                         entries) ||
      !cli_check_args(argc, argv, 1, 1) || !require(argv[0], peer_file, "--peer") ||
      !require(argv[0], out, "--out"))
    return CLI_EXIT_USAGE;
  g_autoptr(GError) error = NULL;
  g_autoptr(GBytes) peer_data = cli_read_input(peer_file, &error);
  if (peer_data == NULL)
    return cli_report(error);
  g_autoptr(EVP_PKEY) peer = cli_pkey_load(g_bytes_get_data(peer_data, NULL),
                                           g_bytes_get_size(peer_data), &error);
  if (peer == NULL)
    return cli_report(error);

  g_autoptr(tessera_client) c = NULL;
  int exit_code = cli_connect(g, &c);
  if (exit_code != CLI_EXIT_OK)
    return exit_code;
  g_auto(CliSecret) secret = { 0 };
  if (!cli_derive(c, argv[1], peer, &secret, &error) ||
      !cli_write_output(out, secret.data, secret.len, TRUE, &error))
    return cli_report(error);
  return CLI_EXIT_OK;
}
