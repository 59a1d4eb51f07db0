/* tessera CLI — declarations shared by the command files. */
#pragma once

#include "messages.h"
#include "tessera-client.h"

#include <glib.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

enum {
  CLI_EXIT_OK = 0,
  CLI_EXIT_FAILED = 1,      /* the agent or a local step refused */
  CLI_EXIT_USAGE = 2,
  CLI_EXIT_UNREACHABLE = 3, /* no agent, or the connection broke */
  CLI_EXIT_SELFTEST = 4,
};

typedef struct {
  const char *socket_path; /* --socket, or NULL for the default */
  gboolean no_prompt;      /* --no-prompt: fail instead of a PIN dialog */
  const char *card_timeout; /* --card-timeout: seconds to wait for an absent card */
} CliGlobals;

typedef int (*CliCommandFn)(const CliGlobals *g, int argc, char **argv);

G_DEFINE_AUTOPTR_CLEANUP_FUNC(tessera_client, tessera_client_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC(EVP_PKEY, EVP_PKEY_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC(EVP_PKEY_CTX, EVP_PKEY_CTX_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC(EVP_MD_CTX, EVP_MD_CTX_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC(X509, X509_free)

/* Bytes that may be secret (plaintext, shared secrets): wiped on clear. */
typedef struct {
  uint8_t *data;
  size_t len;
} CliSecret;
void cli_secret_clear(CliSecret *s);
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(CliSecret, cli_secret_clear)

/* The key list from LIST_KEYS. */
typedef struct {
  tessera_key *items;
  size_t n;
} CliKeys;
void cli_keys_clear(CliKeys *k);
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(CliKeys, cli_keys_clear)

/* ---- common.c: options, connection, errors ---- */

/* GError codes in CLI_ERROR are the library's return codes (negative local,
 * positive agent codes), or CLI_ERROR_LOCAL for failures in the CLI itself. */
#define CLI_ERROR (cli_error_quark())
#define CLI_ERROR_LOCAL 100000
GQuark cli_error_quark(void);

/* Parses a command's options; positional arguments stay in argv (argv[0] =
 * command). Returns FALSE after printing a usage hint. */
gboolean cli_parse_options(int *argc, char ***argv, const char *params, const char *summary,
                           const GOptionEntry *entries);
/* Positional arguments after argv[0] must number min..max; else a hint. */
gboolean cli_check_args(int argc, char **argv, int min, int max);
/* Prints "tessera COMMAND: message" and a pointer to --help; returns 2. */
G_GNUC_PRINTF(2, 3) int cli_usage_error(const char *command, const char *fmt, ...);
/* Connects or prints why not; returns an exit code. */
int cli_connect(const CliGlobals *g, tessera_client **out);
/* Turns a library return code into a GError (FALSE) or TRUE on success. */
gboolean cli_check(tessera_client *c, int rc, GError **error);
/* Prints the error with a hint that helps, returns the exit code. */
int cli_report(const GError *error);
/* Just the hint line, if one helps. */
void cli_print_hint(const GError *error);

/* ---- files.c ---- */

/* path "-" = stdin / stdout. Secret outputs are created mode 0600. */
GBytes *cli_read_input(const char *path, GError **error);
gboolean cli_write_output(const char *path, const uint8_t *data, size_t len, gboolean secret,
                          GError **error);
/* First line of fd without its line end, at most TPROTO_MAX_PIN bytes, into
 * pin (size TPROTO_MAX_PIN + 1); the caller wipes it. */
gboolean cli_read_pin_line(int fd, char *pin, size_t *pin_len, GError **error);

/* ---- hash.c ---- */

typedef struct {
  const char *name;
  uint8_t wire; /* TPROTO_HASH_* */
  const EVP_MD *md;
} CliHash;

/* sha256, sha384 or sha512; sha1 too where allowed (OAEP: some tokens
 * support no other). */
gboolean cli_hash_lookup(const char *name, gboolean allow_sha1, CliHash *out, GError **error);
/* out must hold EVP_MAX_MD_SIZE bytes. */
gboolean cli_hash_data(const CliHash *h, const uint8_t *data, size_t len, uint8_t *out,
                       size_t *out_len, GError **error);
/* DER DigestInfo { algorithm, digest } for PKCS#1 v1.5 signing. */
GBytes *cli_digest_info(const CliHash *h, const uint8_t *digest, size_t len, GError **error);

/* ---- pkey.c: OpenSSL views of keys and certificates ---- */

/* PEM or DER, public key or certificate. */
EVP_PKEY *cli_pkey_load(const uint8_t *data, size_t len, GError **error);
/* The key entry's public key: its SPKI, else its certificate's key. */
EVP_PKEY *cli_key_public(const tessera_key *k, GError **error);
/* "P-256" for NIST curves, else OpenSSL's group name; NULL if not EC. */
char *cli_curve_name(EVP_PKEY *pkey);
/* Certificate subject as one RFC 2253 line / its common name; NULL if none. */
char *cli_cert_subject(const tessera_key *k);
char *cli_cert_common_name(const tessera_key *k);
/* Uncompressed point 04||X||Y of an EC key. */
GBytes *cli_ec_point(EVP_PKEY *pkey, GError **error);
/* Raw r||s (PKCS#11) to DER ECDSA-Sig-Value (X.509). */
GBytes *cli_ecdsa_raw_to_der(const uint8_t *raw, size_t len, GError **error);

/* ---- keyops.c: key lookup and the operations sign/decrypt/derive share
 * with selftest ---- */

/* The one key the user means (id, URI, label or unique id prefix), as
 * the agent resolves it: out->items[0]. */
gboolean cli_find_key(tessera_client *c, const char *name, CliKeys *out, GError **error);
gboolean cli_list_keys(tessera_client *c, const char *token, CliKeys *out, GError **error);

typedef struct {
  uint8_t key_type; /* TPROTO_KEY_*: decides the mechanism */
  gboolean pss;
  CliHash hash;
} CliSignParams;

/* Hashes msg and signs it; the signature is in the format openssl verifies
 * (DER for ECDSA). */
GBytes *cli_sign_message(tessera_client *c, const char *key, const CliSignParams *p,
                         const uint8_t *msg, size_t len, GError **error);
/* oaep_hash NULL = PKCS#1 v1.5. */
gboolean cli_decrypt(tessera_client *c, const char *key, const CliHash *oaep_hash,
                     GBytes *label, GBytes *ciphertext, CliSecret *plain, GError **error);
gboolean cli_derive(tessera_client *c, const char *key, EVP_PKEY *peer, CliSecret *secret,
                    GError **error);

/* ---- output.c ---- */

typedef struct CliTable CliTable;
CliTable *cli_table_new(guint n_columns, const char *const *headers);
/* Takes n_columns strings (NULL prints "-"). */
void cli_table_add(CliTable *t, const char *const *cells);
void cli_table_print(const CliTable *t);
void cli_table_free(CliTable *t);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(CliTable, cli_table_free)

/* A small JSON writer: members and array elements get commas and
 * indentation automatically. */
typedef struct {
  GString *out;
  guint depth;
  gboolean need_comma;
  gboolean after_key;
  gboolean compact; /* all on one line */
} CliJson;
void cli_json_init(CliJson *j);
void cli_json_begin_object(CliJson *j);
void cli_json_end_object(CliJson *j);
void cli_json_begin_array(CliJson *j);
void cli_json_end_array(CliJson *j);
void cli_json_key(CliJson *j, const char *name);
void cli_json_string(CliJson *j, const char *s); /* NULL = null */
/* A "name": "value" member; value NULL = null. */
void cli_json_member(CliJson *j, const char *name, const char *value);
void cli_json_uint(CliJson *j, guint64 v);
void cli_json_bool(CliJson *j, gboolean v);
/* Prints the document with a final newline and frees it. */
void cli_json_print(CliJson *j);

/* ---- commands ---- */
int cmd_status(const CliGlobals *g, int argc, char **argv);
int cmd_tokens(const CliGlobals *g, int argc, char **argv);
int cmd_keys(const CliGlobals *g, int argc, char **argv);
int cmd_login(const CliGlobals *g, int argc, char **argv);
int cmd_logout(const CliGlobals *g, int argc, char **argv);
int cmd_lock(const CliGlobals *g, int argc, char **argv);
int cmd_sign(const CliGlobals *g, int argc, char **argv);
int cmd_decrypt(const CliGlobals *g, int argc, char **argv);
int cmd_derive(const CliGlobals *g, int argc, char **argv);
int cmd_selftest(const CliGlobals *g, int argc, char **argv);
int cmd_readers(const CliGlobals *g, int argc, char **argv);
int cmd_watch(const CliGlobals *g, int argc, char **argv);
int cmd_smime(const CliGlobals *g, int argc, char **argv);
