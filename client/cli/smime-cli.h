/* tessera smime — what its subcommands' files (cmd-smime*.c) share: the
 * options, the input, the agent and the run around each subcommand's work
 * (smime-cli.c). Internal to those files. */
#pragma once

#include "smime.h"

#ifdef TESSERA_SMIME_DIRECTORY
#include "directory.h"
#endif

/* What every subcommand may take. */
typedef struct {
  char *in, *out, *from;
  char **ca, **crl;
  gboolean crlf, explain, json;
  /* sign */
  char *key, *hash;
  gboolean pss, opaque;
  /* encrypt */
  char **certs;
  gboolean gcm, oaep, allow_partial;
  char *store_dir, *ldap_uri, *ldap_base, *ldap_filter;
  /* verify */
  gboolean harvest, status_line;
  char *signature;
  /* bare entities and DER CMS, for mail programs' hooks */
  char *signer, *inform, *outform;
  gboolean der; /* --inform / --outform DER */
  char **extra; /* encrypt --outform DER: recipient certificate files after FILE */
} SmimeArgs;

void smime_cli_args_clear(SmimeArgs *a);
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(SmimeArgs, smime_cli_args_clear)

#define OPT_IN { "in", 'i', 0, G_OPTION_ARG_FILENAME, &a->in, "the message (default: stdin)", "FILE" }
#define OPT_OUT                                                                                  \
  { "out", 'o', 0, G_OPTION_ARG_FILENAME, &a->out, "where to write the result (default: stdout)", \
    "FILE" }
#define OPT_CRLF                                                                                 \
  { "crlf", 0, 0, G_OPTION_ARG_NONE, &a->crlf, "write CRLF line ends (default: LF, as mail on "   \
    "Unix)", NULL }
#define OPT_CA                                                                                   \
  { "ca", 0, 0, G_OPTION_ARG_FILENAME_ARRAY, &a->ca, "more trust anchors for this run "          \
    "(PEM file or directory; repeatable)", "FILE" }
#define OPT_EXPLAIN                                                                              \
  { "explain", 0, 0, G_OPTION_ARG_NONE, &a->explain, "print the candidate keys and certificates " \
    "and why each was taken or refused", NULL }
#define OPT_FROM                                                                                 \
  { "from", 0, 0, G_OPTION_ARG_STRING, &a->from, "the sender's address (default: From)", "ADDR" }
#define OPT_OUTFORM                                                                              \
  { "outform", 0, 0, G_OPTION_ARG_STRING, &a->outform, "SMIME (default): a whole message; DER: "  \
    "a bare DER CMS of the bare MIME entity FILE (mutt's smime_*_command)", "FORM" }
#define OPT_INFORM                                                                               \
  { "inform", 0, 0, G_OPTION_ARG_STRING, &a->inform, "SMIME (default): a whole message; DER: "    \
    "FILE is a bare DER (or PEM) CMS, and only its content is written", "FORM" }
#define OPTS_SIGN                                                                                \
  { "key", 'k', 0, G_OPTION_ARG_STRING, &a->key, "sign with this key (id, URI, label) instead "  \
    "of choosing one", "KEY" },                                                                  \
  { "signer", 0, 0, G_OPTION_ARG_STRING, &a->signer, "an address (its best key) or a key; of a "  \
    "path, the last part (mutt's %k)", "WHO" },                                                  \
  { "hash", 0, 0, G_OPTION_ARG_STRING, &a->hash, "sha256 (default), sha384 or sha512", "HASH" }, \
  { "pss", 0, 0, G_OPTION_ARG_NONE, &a->pss, "RSA-PSS instead of PKCS#1 v1.5", NULL },           \
  { "opaque", 0, 0, G_OPTION_ARG_NONE, &a->opaque, "application/pkcs7-mime signed-data instead " \
    "of clear-signed multipart/signed", NULL }
#define OPTS_ENCRYPT                                                                             \
  { "cert", 'c', 0, G_OPTION_ARG_FILENAME_ARRAY, &a->certs, "also encrypt to this certificate " \
    "(PEM or DER; repeatable)", "FILE" },                                                        \
  { "gcm", 0, 0, G_OPTION_ARG_NONE, &a->gcm, "AES-256-GCM AuthEnvelopedData (RFC 8551) instead " \
    "of AES-256-CBC EnvelopedData", NULL },                                                      \
  { "oaep", 0, 0, G_OPTION_ARG_NONE, &a->oaep, "RSA-OAEP (SHA-256) key transport instead of "    \
    "PKCS#1 v1.5", NULL },                                                                       \
  { "allow-partial", 0, 0, G_OPTION_ARG_NONE, &a->allow_partial, "encrypt even when some "       \
    "recipients have no certificate (they cannot read it)", NULL },                              \
  { "store", 0, 0, G_OPTION_ARG_FILENAME, &a->store_dir, "the certificate store (default: "      \
    "$XDG_DATA_HOME/tessera/certificates)", "DIR" },                                             \
  { "ldap", 0, 0, G_OPTION_ARG_STRING, &a->ldap_uri, "look recipients up in this LDAP directory " \
    "(default: ldap-uri in smime.conf)", "URI" },                                                \
  { "ldap-base", 0, 0, G_OPTION_ARG_STRING, &a->ldap_base, "the LDAP search base", "DN" },        \
  { "ldap-filter", 0, 0, G_OPTION_ARG_STRING, &a->ldap_filter, "the LDAP filter, %s the address " \
    "(default: (mail=%s))", "FILTER" }

/* Parses the options; the message may also be the one positional FILE.
 * max_extra: how many more positionals may follow it (into a->extra). */
gboolean smime_cli_parse_extra(int *argc, char ***argv, const char *summary,
                               const GOptionEntry *entries, SmimeArgs *a, int max_extra);
gboolean smime_cli_parse(int *argc, char ***argv, const char *summary,
                         const GOptionEntry *entries, SmimeArgs *a);
/* --hash, checked while the options are: a usage error. */
gboolean smime_cli_check_hash(const char *command, const char *name);

/* Reports error on stderr; the exit status it means. */
int smime_cli_report(const GError *error);

/* The agent's connection, its keys, a library context with the provider
 * and the trust store. */
typedef struct {
  tessera_client *c;
  CliKeys keys;
  OSSL_LIB_CTX *libctx;
  X509_STORE *store;
} Agent;

/* What a->in holds. */
typedef enum {
  INPUT_MESSAGE, /* an RFC 5322 message */
  INPUT_ENTITY,  /* a bare MIME entity, read with CRLF line ends */
  INPUT_CMS,     /* a bare DER (or PEM) CMS */
} InputKind;

/* The input read: a message (m), or a bare entity or CMS (bare). */
typedef struct {
  SmimeMessage *m;
  BIO *bare;
} Input;

void smime_cli_input_clear(Input *in);
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(Input, smime_cli_input_clear)

gboolean smime_cli_read_input(const char *path, InputKind kind, Input *in, GError **error);

/* A subcommand's work once its input is read and the agent is open: the
 * result, rewound, or NULL and the error. */
typedef BIO *(*AgentWorkFn)(Agent *ag, const SmimeArgs *a, Input *in, GError **error);

typedef struct {
  InputKind input;
  gboolean trust;        /* open the trust store too */
  gboolean mime_version; /* the result is a body that needs MIME-Version */
  AgentWorkFn work;
} AgentJob;

/* What every subcommand that uses the agent does around its work: read
 * the input, open the agent, then write the result or report why not. */
int smime_cli_run(const CliGlobals *g, const SmimeArgs *a, const AgentJob *job);

/* The trust store (smime_trust_store) with --ca and --crl. */
X509_STORE *smime_cli_open_store(const SmimeArgs *a, GError **error);

/* Appends the certificates of a PEM (one or more) or DER file to out. */
gboolean smime_cli_load_certs(const char *path, STACK_OF(X509) *out, GError **error);

#ifdef TESSERA_SMIME_DIRECTORY
/* smime.conf's [directory] (the admin's, then the user's), then the
 * options. */
SmimeDirectory *smime_cli_open_directory(const SmimeArgs *a, GError **error);
#endif

/* Signs the message's entity into out (the S/MIME entity, no outer
 * headers). In cmd-smime-sign.c; sign-encrypt signs with it too. */
gboolean smime_cli_sign_to(Agent *ag, const SmimeArgs *a, SmimeMessage *m, BIO *out,
                           gboolean crlf_eol, GError **error);

/* The subcommands, for cmd-smime.c's table. */
int cmd_smime_sign(const CliGlobals *g, int argc, char **argv);
int cmd_smime_verify(const CliGlobals *g, int argc, char **argv);
int cmd_smime_encrypt(const CliGlobals *g, int argc, char **argv);
int cmd_smime_sign_encrypt(const CliGlobals *g, int argc, char **argv);
int cmd_smime_decrypt(const CliGlobals *g, int argc, char **argv);
int cmd_smime_import(const CliGlobals *g, int argc, char **argv);
