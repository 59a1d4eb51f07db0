/* tessera smime — S/MIME for mail: sign, verify, encrypt, decrypt,
 * sign-encrypt and import. Options, dispatch and what the user sees; the
 * work is in client/smime/. */
#include "smime.h"

#include "agent-key.h"

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <string.h>

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

static void args_clear(SmimeArgs *a)
{
  g_free(a->in), g_free(a->out), g_free(a->from), g_free(a->key), g_free(a->hash);
  g_strfreev(a->ca), g_strfreev(a->crl), g_strfreev(a->certs);
  g_free(a->store_dir), g_free(a->ldap_uri), g_free(a->ldap_base), g_free(a->ldap_filter);
  g_free(a->signature), g_free(a->signer), g_free(a->inform), g_free(a->outform);
  g_strfreev(a->extra);
}
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(SmimeArgs, args_clear)

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

/* FORM of --inform / --outform: SMIME or DER. */
static gboolean parse_form(const char *command, const char *option, const char *form,
                           gboolean *der)
{
  if (form == NULL || g_ascii_strcasecmp(form, "smime") == 0)
    return TRUE;
  if (g_ascii_strcasecmp(form, "der") == 0) {
    *der = TRUE;
    return TRUE;
  }
  cli_usage_error(command, "%s %s: the forms are SMIME and DER", option, form);
  return FALSE;
}

/* --signer: mutt's %k is $smime_keys/$smime_default_key. */
static gboolean apply_signer(const char *command, SmimeArgs *a)
{
  if (a->signer == NULL)
    return TRUE;
  if (a->key || a->from) {
    cli_usage_error(command, "--signer is --from ADDR or --key KEY: give one of them");
    return FALSE;
  }
  const char *who = a->signer[0] == '/' ? strrchr(a->signer, '/') + 1 : a->signer;
  if (*who == '\0') {
    cli_usage_error(command, "--signer %s names no address or key (is $smime_default_key set?)",
                    a->signer);
    return FALSE;
  }
  gboolean address = strchr(who, '@') && !g_str_has_prefix(who, "pkcs11:");
  *(address ? &a->from : &a->key) = g_strdup(who);
  return TRUE;
}

/* Parses the options; the message may also be the one positional FILE.
 * max_extra: how many more positionals may follow it (into a->extra). */
static gboolean parse_extra(int *argc, char ***argv, const char *summary,
                            const GOptionEntry *entries, SmimeArgs *a, int max_extra)
{
  if (!cli_parse_options(argc, argv, max_extra ? "[FILE [CERT…]]" : "[FILE]", summary,
                         entries) ||
      !cli_check_args(*argc, *argv, 0, 1 + max_extra) ||
      !parse_form((*argv)[0], "--inform", a->inform, &a->der) ||
      !parse_form((*argv)[0], "--outform", a->outform, &a->der))
    return FALSE;
  if (*argc > 2) {
    a->extra = g_new0(char *, (gsize)*argc - 1);
    for (int i = 2; i < *argc; i++)
      a->extra[i - 2] = g_strdup((*argv)[i]);
  }
  if (!apply_signer((*argv)[0], a))
    return FALSE;
  if (*argc >= 2) {
    if (a->in) {
      cli_usage_error((*argv)[0], "the message given twice (FILE and --in)");
      return FALSE;
    }
    a->in = g_strdup((*argv)[1]);
  }
  if (a->in == NULL)
    a->in = g_strdup("-");
  return TRUE;
}

static gboolean parse(int *argc, char ***argv, const char *summary, const GOptionEntry *entries,
                      SmimeArgs *a)
{
  return parse_extra(argc, argv, summary, entries, a, 0);
}

static int smime_report(const GError *error)
{
  if (error->domain == SMIME_ERROR && error->code == SMIME_ERROR_UNREACHABLE) {
    g_printerr("tessera smime: %s\n", error->message);
    return CLI_EXIT_UNREACHABLE;
  }
  if (error->domain == CLI_ERROR)
    return cli_report(error);
  g_printerr("tessera smime: %s\n", error->message);
  return CLI_EXIT_FAILED;
}

/* The agent's connection, its keys, a library context with the provider
 * and the trust store. */
typedef struct {
  tessera_client *c;
  CliKeys keys;
  OSSL_LIB_CTX *libctx;
  X509_STORE *store;
} Agent;

static void agent_clear(Agent *ag)
{
  cli_keys_clear(&ag->keys);
  if (ag->store)
    X509_STORE_free(ag->store);
  if (ag->libctx) {
    tessera_ossl_unload(ag->libctx);
    OSSL_LIB_CTX_free(ag->libctx);
  }
  if (ag->c)
    tessera_client_free(ag->c);
  memset(ag, 0, sizeof(*ag));
}
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(Agent, agent_clear)

static X509_STORE *open_store(const SmimeArgs *a, GError **error)
{
  const SmimeTrustOptions t = { a->ca, a->crl };
  return smime_trust_store(&t, error);
}

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

static void input_clear(Input *in)
{
  g_clear_pointer(&in->m, smime_message_free);
  g_clear_pointer(&in->bare, BIO_free_all);
}
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(Input, input_clear)

static gboolean read_input(const char *path, InputKind kind, Input *in, GError **error)
{
  switch (kind) {
  case INPUT_MESSAGE: return (in->m = smime_message_read(path, error)) != NULL;
  case INPUT_ENTITY: return (in->bare = smime_canonical_input(path, error)) != NULL;
  case INPUT_CMS: return (in->bare = smime_open_input(path, error)) != NULL;
  }
  g_assert_not_reached();
}

/* Connects, lists the keys, loads the provider and (with a) opens the
 * trust store. */
static int agent_open(const CliGlobals *g, const SmimeArgs *a, Agent *ag)
{
  int rc = cli_connect(g, &ag->c);
  if (rc != CLI_EXIT_OK)
    return rc;
  g_autoptr(GError) error = NULL;
  if (!cli_list_keys(ag->c, NULL, &ag->keys, &error))
    return cli_report(error);
  ag->libctx = OSSL_LIB_CTX_new();
  if (ag->libctx == NULL || tessera_ossl_load(ag->libctx) != 1) {
    smime_set_ossl_error(&error, SMIME_ERROR_CRYPTO, "cannot load the tessera OpenSSL provider");
    return smime_report(error);
  }
  if (a && !(ag->store = open_store(a, &error)))
    return smime_report(error);
  return CLI_EXIT_OK;
}

/* An error after the agent was reached: a connection the client library
 * closed means the agent went away mid-operation (exit status 3). */
static int agent_report(const Agent *ag, const GError *error)
{
  if (ag->c && tessera_client_fd(ag->c) < 0) {
    g_printerr("tessera smime: lost the connection to tessera-agent: %s\n", error->message);
    return CLI_EXIT_UNREACHABLE;
  }
  return smime_report(error);
}

/* m's outer headers (none without m), and MIME-Version if asked. */
static gboolean write_headers(BIO *out, SmimeMessage *m, gboolean mime_version, GError **error)
{
  if (m == NULL)
    return TRUE;
  if (!smime_write_outer_headers(m, out, error))
    return FALSE;
  if (mime_version && BIO_puts(out, "MIME-Version: 1.0\n") < 0) {
    smime_set_ossl_error(error, SMIME_ERROR_INPUT, "cannot write the output");
    return FALSE;
  }
  return TRUE;
}

/* Writes the result, made in full first so that a failure leaves no
 * partial output: m's outer headers (none for bare input), with
 * MIME-Version when the body is a bare entity, then body (rewound). raw:
 * the bytes as they are (DER, a bare entity), else LF line ends unless
 * --crlf. */
static int write_result(const SmimeArgs *a, SmimeMessage *m, gboolean mime_version, BIO *body,
                        gboolean raw)
{
  g_autoptr(GError) error = NULL;
  BIO *out = smime_output_open(a->out, raw || a->crlf, &error);
  if (out == NULL)
    return smime_report(error);
  if (!write_headers(out, m, mime_version, &error) || !smime_bio_copy(body, out, &error)) {
    BIO_free_all(out);
    return smime_report(error);
  }
  if (!smime_output_close(out, &error))
    return smime_report(error);
  return CLI_EXIT_OK;
}

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
static int run_with_agent(const CliGlobals *g, const SmimeArgs *a, const AgentJob *job)
{
  g_autoptr(GError) error = NULL;
  g_auto(Input) in = { 0 };
  if (!read_input(a->in, job->input, &in, &error))
    return smime_report(error);
  g_auto(Agent) ag = { 0 };
  int rc = agent_open(g, job->trust ? a : NULL, &ag);
  if (rc != CLI_EXIT_OK)
    return rc;
  g_autoptr(BIO) result = job->work(&ag, a, &in, &error);
  if (result == NULL)
    return agent_report(&ag, error);
  /* Bare input gives bare output, written as it is. */
  return write_result(a, in.m, job->mime_version, result, in.m == NULL);
}

/* ---- sign ---- */

static gboolean check_hash(const char *command, const char *name)
{
  CliHash h;
  g_autoptr(GError) error = NULL;
  if (name == NULL || cli_hash_lookup(name, FALSE, &h, &error))
    return TRUE;
  cli_usage_error(command, "%s", error->message);
  return FALSE;
}

typedef struct {
  SmimeCandidate *chosen;
  GPtrArray *candidates;
  X509 *cert;              /* borrowed from chosen / the --key lookup */
  CliKeys override;        /* --key */
  STACK_OF(X509) *chain;
  SmimeCandidate *enc;     /* encryption certificate, for the preference attribute */
  GPtrArray *enc_candidates;
  X509 *own_cert;
} Signer;

static void signer_clear(Signer *s)
{
  g_clear_pointer(&s->candidates, g_ptr_array_unref);
  g_clear_pointer(&s->enc_candidates, g_ptr_array_unref);
  cli_keys_clear(&s->override);
  if (s->chain)
    smime_certs_free(s->chain);
  X509_free(s->own_cert);
  memset(s, 0, sizeof(*s));
}
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(Signer, signer_clear)

static gboolean choose_signer(Agent *ag, const SmimeArgs *a, const char *from, Signer *s,
                              const tessera_key **key, GError **error)
{
  X509_STORE *store = ag->store;
  if (a->key) {
    if (!cli_find_key(ag->c, a->key, &s->override, error))
      return FALSE;
    *key = &s->override.items[0];
    const unsigned char *p = (*key)->cert;
    if ((*key)->cert == NULL || !(s->own_cert = d2i_X509(NULL, &p, (long)(*key)->cert_len))) {
      ERR_clear_error();
      g_set_error(error, SMIME_ERROR, SMIME_ERROR_NO_CERT,
                  "the key %s has no certificate on its token: S/MIME needs one", a->key);
      return FALSE;
    }
    s->cert = s->own_cert;
  } else {
    s->chosen = smime_select_key(&ag->keys, store, from, SMIME_USE_SIGN, &s->candidates);
    if (a->explain)
      smime_explain("signing", from, s->candidates, s->chosen);
    if (s->chosen == NULL) {
      g_set_error(error, SMIME_ERROR, SMIME_ERROR_NO_CERT,
                  "no key of yours can sign mail from %s (run with --explain to see why; "
                  "--key KEY chooses one)",
                  from);
      return FALSE;
    }
    *key = s->chosen->key;
    s->cert = s->chosen->cert;
  }
  g_auto(SmimeChainResult) chain = { 0 };
  smime_verify_chain(store, s->cert, NULL, X509_PURPOSE_SMIME_SIGN, &chain);
  s->chain = g_steal_pointer(&chain.chain);
  if (from) {
    s->enc = smime_select_key(&ag->keys, store, from, SMIME_USE_ENCRYPT, &s->enc_candidates);
    if (a->explain)
      smime_explain("encryption", from, s->enc_candidates, s->enc);
  }
  return TRUE;
}

static const EVP_MD *hash_md(const char *name, GError **error)
{
  CliHash h;
  if (!cli_hash_lookup(name ? name : "sha256", FALSE, &h, error))
    return NULL;
  return h.md;
}

/* Signs the canonical entity into out with the key for from (or --key).
 * crlf_eol: CRLF headers too (for encrypting it next); der: a bare DER
 * SignedData. */
static gboolean sign_entity(Agent *ag, const SmimeArgs *a, const char *from, BIO *entity,
                            BIO *out, gboolean crlf_eol, gboolean der, GError **error)
{
  const EVP_MD *md = hash_md(a->hash, error);
  if (md == NULL)
    return FALSE;
  g_auto(Signer) s = { 0 };
  const tessera_key *key = NULL;
  if (!choose_signer(ag, a, from, &s, &key, error))
    return FALSE;
  SmimeSignOptions o = {
    .libctx = ag->libctx,
    .c = ag->c,
    .key = key,
    .cert = s.cert,
    .chain = s.chain,
    .encryption_cert = s.enc ? s.enc->cert : NULL,
    .md = md,
    .pss = a->pss,
    .opaque = a->opaque,
    .crlf_eol = crlf_eol,
    .der = der,
  };
  return smime_sign_entity(&o, entity, out, error);
}

/* Signs the message's entity into out (the S/MIME entity, no outer
 * headers). */
static gboolean sign_to(Agent *ag, const SmimeArgs *a, SmimeMessage *m, BIO *out,
                        gboolean crlf_eol, GError **error)
{
  g_autofree char *from = a->from ? g_ascii_strdown(a->from, -1) : smime_message_from(m);
  if (from == NULL && a->key == NULL) {
    g_set_error(error, SMIME_ERROR, SMIME_ERROR_INPUT,
                "the message has no From address: give --from ADDR or --key KEY");
    return FALSE;
  }
  g_autoptr(BIO) entity = smime_entity_bio(g_mime_message_get_mime_part(m->msg), TRUE, error);
  return entity && sign_entity(ag, a, from, entity, out, crlf_eol, FALSE, error);
}

/* --outform DER: a detached (--opaque: encapsulating) DER SignedData of
 * the bare entity, signed as it is (line ends made CRLF), written as it
 * comes. Silent on success: mutt shows any stderr output as an error. */
static BIO *sign_bare(Agent *ag, const SmimeArgs *a, Input *in, GError **error)
{
  g_autofree char *from = a->from ? g_ascii_strdown(a->from, -1) : NULL;
  g_autoptr(BIO) signature = smime_tmp_bio(error);
  if (signature == NULL ||
      !sign_entity(ag, a, from, in->bare, signature, FALSE, TRUE, error) ||
      !smime_rewind(signature, error))
    return NULL;
  return g_steal_pointer(&signature);
}

static BIO *sign_message(Agent *ag, const SmimeArgs *a, Input *in, GError **error)
{
  g_autoptr(BIO) signed_entity = smime_tmp_bio(error);
  if (signed_entity == NULL || !sign_to(ag, a, in->m, signed_entity, FALSE, error) ||
      !smime_rewind(signed_entity, error))
    return NULL;
  return g_steal_pointer(&signed_entity);
}

static int cmd_smime_sign(const CliGlobals *g, int argc, char **argv)
{
  g_auto(SmimeArgs) args = { 0 };
  SmimeArgs *a = &args;
  const GOptionEntry entries[] = { OPT_IN, OPT_OUT, OPTS_SIGN, OPT_FROM, OPT_CA, OPT_EXPLAIN,
                                   OPT_CRLF, OPT_OUTFORM, G_OPTION_ENTRY_NULL };
  if (!parse(&argc, &argv,
             "Sign an RFC 5322 message (clear-signed multipart/signed by default). The key is "
             "the best one whose certificate is for the From address.",
             entries, a) ||
      !check_hash(argv[0], a->hash))
    return CLI_EXIT_USAGE;
  if (a->der && a->from == NULL && a->key == NULL)
    return cli_usage_error(argv[0], "--outform DER signs a bare entity, which has no From: "
                                    "give --signer, --from or --key");
  if (a->der)
    return run_with_agent(g, a, &(const AgentJob){ .input = INPUT_ENTITY, .trust = TRUE,
                                                   .work = sign_bare });
  return run_with_agent(g, a, &(const AgentJob){ .input = INPUT_MESSAGE, .trust = TRUE,
                                                 .work = sign_message });
}

/* ---- verify ---- */

/* "NAME <address>" of a signer. */
static char *signer_line(const SmimeSignerVerdict *s)
{
  const char *name = s->signer_name ? s->signer_name : s->signer_subject;
  if (name == NULL)
    return g_strdup("a signer without a certificate");
  return s->signer_address ? g_strdup_printf("%s <%s>", name, s->signer_address) : g_strdup(name);
}

static void print_verdict_text(const SmimeVerdict *v, gboolean status_line)
{
  const SmimeSignerVerdict *s = v->signer;
  if (status_line)
    g_printerr("%s\n", v->code == SMIME_VERDICT_GOOD ? "Verification successful"
                                                      : "Verification failure");
  if (v->code == SMIME_VERDICT_GOOD) {
    g_autofree char *who = signer_line(s);
    g_printerr("tessera smime: good signature from %s\n", who);
    g_printerr("  signed at: %s\n", s->signed_at ? s->signed_at : "(no signing time)");
    g_autoptr(GString) chain = g_string_new(NULL);
    for (guint i = 0; s->chain && i < s->chain->len; i++)
      g_string_append_printf(chain, "%s%s", i ? " -> " : "", (char *)s->chain->pdata[i]);
    g_printerr("  certificate chain: %s\n", chain->str);
    g_printerr("  trust anchor: %s\n", s->anchor ? s->anchor : "?");
    if (v->address_unchecked)
      g_printerr("  address: not checked (a bare entity has no From; --from ADDR checks it)\n");
  } else {
    g_printerr("tessera smime: %s\n", v->reason);
    if (s && s->signer_subject)
      g_printerr("  signer: %s%s%s%s\n", s->signer_subject, s->signer_address ? " <" : "",
                 s->signer_address ? s->signer_address : "", s->signer_address ? ">" : "");
    if (s && s->signed_at)
      g_printerr("  signed at: %s\n", s->signed_at);
  }
  /* The other signers, one line each. */
  for (guint i = 0; v->signers && i < v->signers->len; i++) {
    const SmimeSignerVerdict *o = v->signers->pdata[i];
    if (o == s)
      continue;
    g_autofree char *who = signer_line(o);
    g_printerr("  also signed by %s: %s\n", who,
               o->code == SMIME_VERDICT_GOOD ? smime_verdict_name(o->code) : o->reason);
  }
}

/* A signer's certificate fields. */
static void print_signer_json(CliJson *j, const SmimeSignerVerdict *s)
{
  cli_json_member(j, "name", s->signer_name);
  cli_json_member(j, "address", s->signer_address);
  cli_json_member(j, "subject", s->signer_subject);
  cli_json_member(j, "issuer", s->signer_issuer);
  cli_json_member(j, "serial", s->signer_serial);
}

static void print_chain_json(CliJson *j, const GPtrArray *chain)
{
  cli_json_key(j, "chain");
  cli_json_begin_array(j);
  for (guint i = 0; chain && i < chain->len; i++)
    cli_json_string(j, chain->pdata[i]);
  cli_json_end_array(j);
}

static void print_verdict_json(const SmimeVerdict *v)
{
  const SmimeSignerVerdict *s = v->signer;
  CliJson j;
  cli_json_init(&j);
  cli_json_begin_object(&j);
  cli_json_member(&j, "verdict", smime_verdict_name(v->code));
  cli_json_key(&j, "good");
  cli_json_bool(&j, v->code == SMIME_VERDICT_GOOD);
  cli_json_member(&j, "reason", v->reason);
  cli_json_member(&j, "from", v->from);
  cli_json_key(&j, "address_checked");
  cli_json_bool(&j, !v->address_unchecked);
  cli_json_member(&j, "format", v->opaque ? "opaque" : "multipart/signed");
  cli_json_key(&j, "signer");
  if (s && s->signer_subject) {
    cli_json_begin_object(&j);
    print_signer_json(&j, s);
    cli_json_end_object(&j);
  } else {
    cli_json_string(&j, NULL);
  }
  cli_json_member(&j, "signed_at", s ? s->signed_at : NULL);
  cli_json_member(&j, "anchor", s ? s->anchor : NULL);
  print_chain_json(&j, s ? s->chain : NULL);
  /* Every SignerInfo, in the message's order. */
  cli_json_key(&j, "signers");
  cli_json_begin_array(&j);
  for (guint i = 0; v->signers && i < v->signers->len; i++) {
    const SmimeSignerVerdict *o = v->signers->pdata[i];
    cli_json_begin_object(&j);
    cli_json_member(&j, "verdict", smime_verdict_name(o->code));
    cli_json_key(&j, "good");
    cli_json_bool(&j, o->code == SMIME_VERDICT_GOOD);
    cli_json_member(&j, "reason", o->reason);
    print_signer_json(&j, o);
    cli_json_member(&j, "signed_at", o->signed_at);
    cli_json_member(&j, "anchor", o->anchor);
    print_chain_json(&j, o->chain);
    cli_json_end_object(&j);
  }
  cli_json_end_array(&j);
  cli_json_end_object(&j);
  cli_json_print(&j);
}

#ifdef TESSERA_SMIME_DIRECTORY
/* smime.conf's [directory] (the admin's, then the user's), then the
 * options. */
static SmimeDirectory *open_directory(const SmimeArgs *a, GError **error)
{
  g_auto(SmimeDirectorySettings) set = { 0 };
  if (!smime_directory_settings_load(&set, error))
    return NULL;
  /* --ldap names another server: the configured base and filter are its own. */
  gboolean other_server = a->ldap_uri && g_strcmp0(a->ldap_uri, set.ldap_uri) != 0;
  const SmimeDirectoryConfig cfg = {
    .store_dir = a->store_dir ? a->store_dir : set.store_dir,
    .ldap_uri = a->ldap_uri ? a->ldap_uri : set.ldap_uri,
    .ldap_base = a->ldap_base ? a->ldap_base : other_server ? NULL : set.ldap_base,
    .ldap_filter = a->ldap_filter ? a->ldap_filter : other_server ? NULL : set.ldap_filter,
    .ldap_timeout_s = set.ldap_timeout_s,
  };
  return smime_directory_new(&cfg, error);
}
#endif

static int cmd_smime_verify(const CliGlobals *g, int argc, char **argv)
{
  g_auto(SmimeArgs) args = { 0 };
  SmimeArgs *a = &args;
  const GOptionEntry entries[] = {
    OPT_IN, OPT_OUT, OPT_CA,
    { "crl", 0, 0, G_OPTION_ARG_FILENAME_ARRAY, &a->crl, "check revocation against this CRL "
      "(PEM or DER), or every CRL in this directory; repeatable (also $TESSERA_SMIME_CRL and "
      "$XDG_CONFIG_HOME/tessera/smime-crl/)", "FILE|DIR" },
    { "json", 0, 0, G_OPTION_ARG_NONE, &a->json, "the verdict as JSON on stdout (the content "
      "then goes only to --out)", NULL },
    { "harvest", 0, 0, G_OPTION_ARG_NONE, &a->harvest, "add a good signer's certificate to the "
      "certificate store", NULL },
    { "store", 0, 0, G_OPTION_ARG_FILENAME, &a->store_dir, "the certificate store for --harvest",
      "DIR" },
    { "signature", 0, 0, G_OPTION_ARG_FILENAME, &a->signature, "FILE is a bare MIME entity and "
      "this its detached DER (or PEM) signature (mutt's smime_verify_command)", "SIG" },
    { "status-line", 0, 0, G_OPTION_ARG_NONE, &a->status_line, "begin the verdict with "
      "OpenSSL's \"Verification successful\" or \"Verification failure\" (what mutt looks for)",
      NULL },
    OPT_INFORM, OPT_FROM, OPT_CRLF, G_OPTION_ENTRY_NULL
  };
  if (!parse(&argc, &argv,
             "Verify a signed message: the verdict on stderr (--json: stdout), the content on "
             "stdout. Exit status 0 only for a good signature.",
             entries, a))
    return CLI_EXIT_USAGE;
  if (a->signature && a->der)
    return cli_usage_error("smime verify", "--signature and --inform DER: a detached signature "
                                           "is always DER or PEM, and FILE the bare entity");
  if (a->from && !a->signature && !a->der)
    return cli_usage_error("smime verify", "--from is for bare entities (--signature, --inform "
                                           "DER): a message's own From is checked");
#ifndef TESSERA_SMIME_DIRECTORY
  if (a->harvest)
    return cli_usage_error("smime verify", "--harvest needs the certificate store, which this "
                                           "build lacks");
#endif
  g_autoptr(GError) error = NULL;
  g_autoptr(BIO) sig = NULL; /* --signature: a->in is the signed entity */
  if (a->signature && !(sig = smime_open_input(a->signature, &error)))
    return smime_report(error);
  g_auto(Input) in = { 0 };
  InputKind kind = a->signature ? INPUT_ENTITY : a->der ? INPUT_CMS : INPUT_MESSAGE;
  if (!read_input(a->in, kind, &in, &error))
    return smime_report(error);
  g_autoptr(X509_STORE) store = open_store(a, &error);
  if (store == NULL)
    return smime_report(error);
  BIO *out = NULL; /* the content: none for a detached signature */
  if ((!a->json || a->out) && !a->signature) {
    out = smime_output_open(a->out, a->crlf, &error);
    if (out == NULL)
      return smime_report(error);
  }
  g_auto(SmimeVerdict) v = { 0 };
  gboolean ok;
  if (sig)
    ok = smime_verify_detached(NULL, sig, in.bare, a->from, store, &v, &error);
  else if (in.bare)
    ok = smime_verify_bare(NULL, in.bare, a->from, store, out, &v, &error);
  else
    ok = smime_verify_message(NULL, in.m, store, out, &v, &error);
  if (out && !smime_output_close(out, ok ? &error : NULL))
    ok = FALSE;
  if (!ok)
    return smime_report(error);
  if (a->json)
    print_verdict_json(&v);
  else
    print_verdict_text(&v, a->status_line);
#ifdef TESSERA_SMIME_DIRECTORY
  if (a->harvest && v.code == SMIME_VERDICT_GOOD) {
    g_autoptr(SmimeDirectory) d = open_directory(a, &error);
    if (d == NULL || !smime_directory_import(d, v.signer->signer_cert, &error))
      return smime_report(error);
    if (!a->json)
      g_printerr("  added the signer's certificate to the certificate store\n");
  }
#endif
  (void)g;
  return v.code == SMIME_VERDICT_GOOD ? CLI_EXIT_OK : CLI_EXIT_FAILED;
}

/* ---- encrypt ---- */

static gboolean load_certs(const char *path, STACK_OF(X509) *out, GError **error)
{
  g_autoptr(BIO) in = BIO_new_file(path, "rb");
  if (in == NULL) {
    smime_set_ossl_error(error, SMIME_ERROR_INPUT, "cannot read %s", path);
    return FALSE;
  }
  int n = 0;
  X509 *x;
  while ((x = PEM_read_bio_X509(in, NULL, NULL, NULL)) != NULL) {
    sk_X509_push(out, x);
    n++;
  }
  ERR_clear_error();
  if (n == 0) {
    BIO_reset(in);
    x = d2i_X509_bio(in, NULL);
    if (x) {
      sk_X509_push(out, x);
      n++;
    }
  }
  if (n == 0) {
    smime_set_ossl_error(error, SMIME_ERROR_INPUT, "%s holds no certificate", path);
    return FALSE;
  }
  return TRUE;
}

/* Why cert cannot be encrypted to (NULL: it can). */
static char *recipient_refusal(X509 *cert, X509_STORE *store, gboolean need_trust)
{
  EVP_PKEY *pub = X509_get0_pubkey(cert);
  gboolean rsa = pub && EVP_PKEY_is_a(pub, "RSA");
  if (pub == NULL || (!rsa && !EVP_PKEY_is_a(pub, "EC")))
    return g_strdup("its key is neither RSA nor EC");
  uint32_t ku = X509_get_key_usage(cert);
  if (ku != UINT32_MAX && !(ku & (rsa ? KU_KEY_ENCIPHERMENT : KU_KEY_AGREEMENT)))
    return g_strdup(rsa ? "keyUsage does not allow keyEncipherment"
                        : "keyUsage does not allow keyAgreement");
  uint32_t xku = X509_get_extended_key_usage(cert);
  if (xku != UINT32_MAX && !(xku & (XKU_SMIME | XKU_ANYEKU)))
    return g_strdup("extendedKeyUsage lacks emailProtection");
  if (X509_cmp_current_time(X509_get0_notAfter(cert)) <= 0)
    return g_strdup("the certificate has expired");
  if (X509_cmp_current_time(X509_get0_notBefore(cert)) >= 0)
    return g_strdup("the certificate is not valid yet");
  if (need_trust) {
    g_auto(SmimeChainResult) chain = { 0 };
    smime_verify_chain(store, cert, NULL, X509_PURPOSE_ANY, &chain);
    if (chain.status != SMIME_CHAIN_OK)
      return g_strdup_printf("untrusted: %s", chain.reason);
  }
  return NULL;
}

/* A certificate given by the user (--cert, bare recipients): usable, or an
 * error naming it. */
static gboolean check_given(X509 *x, X509_STORE *store, GError **error)
{
  g_autofree char *why = recipient_refusal(x, store, FALSE);
  if (why == NULL)
    return TRUE;
  char subject[256];
  X509_NAME_oneline(X509_get_subject_name(x), subject, sizeof(subject));
  g_set_error(error, SMIME_ERROR, SMIME_ERROR_NO_CERT, "cannot encrypt to %s: %s", subject, why);
  return FALSE;
}

static gboolean already_in(STACK_OF(X509) *sk, X509 *x)
{
  for (int i = 0; i < sk_X509_num(sk); i++)
    if (X509_cmp(sk_X509_value(sk, i), x) == 0)
      return TRUE;
  return FALSE;
}

/* The recipients' certificates: --cert files, then the store and the
 * directory for each To/Cc/Bcc address, then the user's own encryption
 * certificate. */
static STACK_OF(X509) *collect_recipients(Agent *ag, const SmimeArgs *a, SmimeMessage *m,
                                          GError **error)
{
  X509_STORE *store = ag->store;
  STACK_OF(X509) *recips = sk_X509_new_null();
  STACK_OF(X509) *given = sk_X509_new_null();
  g_autofree char *from = a->from ? g_ascii_strdown(a->from, -1) : smime_message_from(m);
  g_autoptr(GPtrArray) cands = NULL;
#ifdef TESSERA_SMIME_DIRECTORY
  g_autoptr(SmimeDirectory) dir = NULL;
#endif
  g_autoptr(GPtrArray) addresses = smime_message_recipients(m);
  g_autoptr(GPtrArray) missing = g_ptr_array_new_with_free_func(g_free);
  for (char **p = a->certs; p && *p; p++) {
    if (!load_certs(*p, given, error))
      goto fail;
  }
  for (int i = 0; i < sk_X509_num(given); i++) {
    X509 *x = sk_X509_value(given, i);
    if (!check_given(x, store, error))
      goto fail;
    if (!already_in(recips, x)) {
      X509_up_ref(x);
      sk_X509_push(recips, x);
    }
  }
#ifdef TESSERA_SMIME_DIRECTORY
  dir = addresses->len ? open_directory(a, error) : NULL;
  if (addresses->len && dir == NULL)
    goto fail;
#endif
  for (guint i = 0; i < addresses->len; i++) {
    const char *addr = addresses->pdata[i];
    gboolean covered = FALSE;
    for (int j = 0; j < sk_X509_num(recips) && !covered; j++)
      covered = smime_cert_has_email(sk_X509_value(recips, j), addr);
#ifdef TESSERA_SMIME_DIRECTORY
    if (!covered) {
      GError *local = NULL;
      g_autoptr(GPtrArray) found = smime_directory_lookup(dir, addr, &local);
      if (found == NULL) {
        g_printerr("tessera smime: looking up %s: %s\n", addr, local->message);
        g_error_free(local);
      }
      X509 *best = NULL;
      for (guint j = 0; found && j < found->len; j++) {
        X509 *x = found->pdata[j];
        g_autofree char *why = recipient_refusal(x, store, TRUE);
        if (why) {
          if (a->explain)
            g_printerr("tessera smime: %s: a certificate refused: %s\n", addr, why);
          continue;
        }
        if (best == NULL ||
            ASN1_TIME_compare(X509_get0_notAfter(x), X509_get0_notAfter(best)) > 0)
          best = x;
      }
      if (best) {
        X509_up_ref(best);
        sk_X509_push(recips, best);
        covered = TRUE;
      }
    }
#endif
    if (!covered)
      g_ptr_array_add(missing, g_strdup(addr));
  }
  int others = sk_X509_num(recips);
  if (missing->len > 0) {
    g_ptr_array_add(missing, NULL);
    g_autofree char *list = g_strjoinv(", ", (char **)missing->pdata);
    if (others == 0) {
      g_set_error(error, SMIME_ERROR, SMIME_ERROR_NO_CERT,
                  "no recipient has a usable certificate: %s (give --cert FILE%s)", list,
#ifdef TESSERA_SMIME_DIRECTORY
                  ", or import theirs with `tessera smime import`"
#else
                  ""
#endif
      );
      goto fail;
    }
    if (!a->allow_partial) {
      g_set_error(error, SMIME_ERROR, SMIME_ERROR_NO_CERT,
                  "no usable certificate for %s (--allow-partial encrypts to the others, "
                  "and these cannot read the message)",
                  list);
      goto fail;
    }
    g_printerr("tessera smime: warning: not encrypted to %s, who have no usable certificate\n",
               list);
  } else if (others == 0) {
    g_set_error(error, SMIME_ERROR, SMIME_ERROR_NO_CERT,
                "no recipients: the message has no To, Cc or Bcc, and no --cert was given");
    goto fail;
  }
  /* Encryption to self: sent mail stays readable. */
  SmimeCandidate *self = smime_select_key(&ag->keys, store, from, SMIME_USE_ENCRYPT, &cands);
  if (a->explain)
    smime_explain("encryption to self", from, cands, self);
  if (self) {
    if (!already_in(recips, self->cert)) {
      X509_up_ref(self->cert);
      sk_X509_push(recips, self->cert);
    }
  } else {
    g_printerr("tessera smime: warning: no encryption certificate of yours for %s: you will "
               "not be able to read this message (--explain shows why)\n",
               from ? from : "the sender");
  }
  smime_certs_free(given);
  return recips;
fail:
  smime_certs_free(given);
  smime_certs_free(recips);
  return NULL;
}

/* A recipient argument of encrypt --outform DER: a certificate file, or,
 * naming no file, an address of yours (mutt's $smime_self_encrypt gives
 * $smime_certificates/$smime_default_key). */
static gboolean add_bare_recipient(Agent *ag, const char *arg, STACK_OF(X509) *recips,
                                   GError **error)
{
  const char *base = strrchr(arg, '/') ? strrchr(arg, '/') + 1 : arg;
  if (g_file_test(arg, G_FILE_TEST_EXISTS) || strchr(base, '@') == NULL)
    return load_certs(arg, recips, error);
  g_autofree char *address = g_ascii_strdown(base, -1);
  g_autoptr(GPtrArray) cands = NULL;
  SmimeCandidate *own = smime_select_key(&ag->keys, ag->store, address, SMIME_USE_ENCRYPT, &cands);
  if (own == NULL) {
    g_set_error(error, SMIME_ERROR, SMIME_ERROR_NO_CERT,
                "%s: no such file, and no encryption certificate of yours for %s", arg, address);
    return FALSE;
  }
  X509_up_ref(own->cert);
  sk_X509_push(recips, own->cert);
  return TRUE;
}

/* --outform DER: a bare DER EnvelopedData of the bare entity FILE, to the
 * certificates given (--cert, and the arguments after FILE: mutt's %c) and
 * to the --from address's own encryption certificate. */
static BIO *encrypt_bare(Agent *ag, const SmimeArgs *a, Input *in, GError **error)
{
  STACK_OF(X509) *recips = sk_X509_new_null();
  gboolean ok = TRUE;
  for (char **p = a->certs; ok && p && *p; p++)
    ok = load_certs(*p, recips, error);
  for (char **p = a->extra; ok && p && *p; p++)
    ok = add_bare_recipient(ag, *p, recips, error);
  if (ok && a->from)
    ok = add_bare_recipient(ag, a->from, recips, error);
  for (int i = 0; ok && i < sk_X509_num(recips); i++)
    ok = check_given(sk_X509_value(recips, i), ag->store, error);
  /* Each source gives a certificate or an error (encrypt_command checked
   * that there is one). */
  g_assert(!ok || sk_X509_num(recips) > 0);
  g_autoptr(BIO) sealed = ok ? smime_tmp_bio(error) : NULL;
  SmimeEncryptOptions o = { .libctx = ag->libctx, .recipients = recips, .gcm = a->gcm,
                            .oaep = a->oaep, .der = TRUE };
  ok = sealed && smime_encrypt_entity(&o, in->bare, sealed, error) && smime_rewind(sealed, error);
  smime_certs_free(recips);
  return ok ? g_steal_pointer(&sealed) : NULL;
}

/* The message's entity (sign: signed first) encrypted to its recipients. */
static BIO *seal_message(Agent *ag, const SmimeArgs *a, SmimeMessage *m, gboolean sign,
                         GError **error)
{
  STACK_OF(X509) *recips = collect_recipients(ag, a, m, error);
  if (recips == NULL)
    return NULL;
  g_autoptr(BIO) entity = NULL;
  gboolean ok;
  if (sign) {
    ok = (entity = smime_tmp_bio(error)) && sign_to(ag, a, m, entity, TRUE, error) &&
         smime_rewind(entity, error);
  } else {
    ok = (entity = smime_entity_bio(g_mime_message_get_mime_part(m->msg), TRUE, error)) != NULL;
  }
  g_autoptr(BIO) sealed = ok ? smime_tmp_bio(error) : NULL;
  SmimeEncryptOptions o = { .libctx = ag->libctx, .recipients = recips, .gcm = a->gcm,
                            .oaep = a->oaep };
  ok = ok && sealed && smime_encrypt_entity(&o, entity, sealed, error) &&
       smime_rewind(sealed, error);
  smime_certs_free(recips);
  return ok ? g_steal_pointer(&sealed) : NULL;
}

static BIO *encrypt_message(Agent *ag, const SmimeArgs *a, Input *in, GError **error)
{
  return seal_message(ag, a, in->m, FALSE, error);
}

static BIO *sign_encrypt_message(Agent *ag, const SmimeArgs *a, Input *in, GError **error)
{
  return seal_message(ag, a, in->m, TRUE, error);
}

static int encrypt_command(const CliGlobals *g, int argc, char **argv, gboolean sign)
{
  g_auto(SmimeArgs) args = { 0 };
  SmimeArgs *a = &args;
  const GOptionEntry sign_entries[] = { OPT_IN, OPT_OUT, OPTS_SIGN, OPTS_ENCRYPT, OPT_FROM,
                                        OPT_CA, OPT_EXPLAIN, OPT_CRLF, G_OPTION_ENTRY_NULL };
  const GOptionEntry entries[] = { OPT_IN, OPT_OUT, OPTS_ENCRYPT, OPT_FROM, OPT_CA,
                                   OPT_EXPLAIN, OPT_CRLF, OPT_OUTFORM, G_OPTION_ENTRY_NULL };
  if (!parse_extra(&argc, &argv,
                   sign ? "Sign a message, then encrypt it to its recipients and to yourself."
                        : "Encrypt a message to its To/Cc/Bcc recipients, every --cert and "
                          "yourself. With --outform DER, FILE is a bare entity and CERT… its "
                          "recipients.",
                   sign ? sign_entries : entries, a, sign ? 0 : G_MAXINT - 1) ||
      !check_hash(argv[0], a->hash))
    return CLI_EXIT_USAGE;
  if (a->der && !a->certs && !a->extra && !a->from)
    return cli_usage_error(argv[0], "--outform DER needs recipients: certificate files after "
                                    "FILE, --cert FILE or --from ADDR");
  if (a->der)
    return run_with_agent(g, a, &(const AgentJob){ .input = INPUT_ENTITY, .trust = TRUE,
                                                   .work = encrypt_bare });
  if (a->extra)
    return cli_usage_error(argv[0], "unexpected argument '%s' (certificates after FILE go with "
                                    "--outform DER; otherwise use --cert)", a->extra[0]);
  return run_with_agent(g, a, &(const AgentJob){
    .input = INPUT_MESSAGE, .trust = TRUE, .work = sign ? sign_encrypt_message : encrypt_message });
}

static int cmd_smime_encrypt(const CliGlobals *g, int argc, char **argv)
{
  return encrypt_command(g, argc, argv, FALSE);
}

static int cmd_smime_sign_encrypt(const CliGlobals *g, int argc, char **argv)
{
  return encrypt_command(g, argc, argv, TRUE);
}

/* ---- decrypt ---- */

/* Decrypts with whichever key the message is encrypted to, and says which. */
static BIO *decrypt_input(Agent *ag, const SmimeArgs *a, Input *in, GError **error)
{
  g_autoptr(CMS_ContentInfo) cms = NULL;
  g_autoptr(BIO) content = NULL; /* the encrypted content, streamed */
  cms = in->bare ? smime_read_cms_der(ag->libctx, in->bare, &content, error)
                 : smime_read_cms_part(ag->libctx, g_mime_message_get_mime_part(in->m->msg),
                                       &content, error);
  if (cms == NULL)
    return NULL;
  g_autoptr(BIO) plain = smime_tmp_bio(error);
  g_autofree char *used = NULL;
  if (plain == NULL ||
      !smime_decrypt_cms(ag->libctx, ag->c, &ag->keys, cms, content, plain, &used, error) ||
      !smime_rewind(plain, error))
    return NULL;
  g_printerr("tessera smime: decrypted with %s\n", used);
  return g_steal_pointer(&plain);
}

static int cmd_smime_decrypt(const CliGlobals *g, int argc, char **argv)
{
  g_auto(SmimeArgs) args = { 0 };
  SmimeArgs *a = &args;
  const GOptionEntry entries[] = { OPT_IN, OPT_OUT, OPT_CRLF, OPT_INFORM, G_OPTION_ENTRY_NULL };
  if (!parse(&argc, &argv,
             "Decrypt a message with whichever of your keys (old ones too) it is encrypted to; "
             "the decrypted message on stdout. With --inform DER, FILE is a bare CMS and only "
             "the decrypted entity is written.",
             entries, a))
    return CLI_EXIT_USAGE;
  return run_with_agent(g, a, &(const AgentJob){ .input = a->der ? INPUT_CMS : INPUT_MESSAGE,
                                                 .mime_version = TRUE, .work = decrypt_input });
}

/* ---- import ---- */

static int cmd_smime_import(const CliGlobals *g, int argc, char **argv)
{
  g_auto(SmimeArgs) args = { 0 };
  SmimeArgs *a = &args;
  const GOptionEntry entries[] = {
    { "store", 0, 0, G_OPTION_ARG_FILENAME, &a->store_dir, "the certificate store (default: "
      "$XDG_DATA_HOME/tessera/certificates)", "DIR" },
    G_OPTION_ENTRY_NULL
  };
  if (!cli_parse_options(&argc, &argv, "FILE…",
                         "Add certificates (PEM or DER) to the store recipients are found in.",
                         entries) ||
      !cli_check_args(argc, argv, 1, G_MAXINT))
    return CLI_EXIT_USAGE;
  (void)g;
#ifdef TESSERA_SMIME_DIRECTORY
  g_autoptr(GError) error = NULL;
  g_autoptr(SmimeDirectory) d = open_directory(a, &error);
  if (d == NULL)
    return smime_report(error);
  for (int i = 1; i < argc; i++) {
    STACK_OF(X509) *certs = sk_X509_new_null();
    gboolean ok = load_certs(argv[i], certs, &error);
    for (int j = 0; ok && j < sk_X509_num(certs); j++)
      ok = smime_directory_import(d, sk_X509_value(certs, j), &error);
    smime_certs_free(certs);
    if (!ok)
      return smime_report(error);
  }
  return CLI_EXIT_OK;
#else
  g_printerr("tessera smime import: this build has no certificate store (client/directory)\n");
  return CLI_EXIT_FAILED;
#endif
}

/* ---- dispatch ---- */

static const struct {
  const char *name;
  CliCommandFn run;
  const char *summary;
} subcommands[] = {
  { "sign", cmd_smime_sign, "sign a message (clear-signed; --opaque)" },
  { "verify", cmd_smime_verify, "verify a signed message: verdict on stderr, content on stdout" },
  { "encrypt", cmd_smime_encrypt, "encrypt a message to its recipients and to yourself" },
  { "decrypt", cmd_smime_decrypt, "decrypt a message with whichever of your keys it names" },
  { "sign-encrypt", cmd_smime_sign_encrypt, "sign, then encrypt" },
  { "import", cmd_smime_import, "add recipients' certificates to the store" },
};

static void usage(void)
{
  g_printerr("Usage: tessera smime SUBCOMMAND [OPTIONS] [FILE]\n\nSubcommands:\n");
  for (size_t i = 0; i < G_N_ELEMENTS(subcommands); i++)
    g_printerr("  %-13s %s\n", subcommands[i].name, subcommands[i].summary);
  g_printerr("\nThe message is FILE or stdin; the result goes to stdout.\n"
             "Exit status: 0 success (verify: a good signature), 1 failure (verify: a bad, "
             "untrusted, expired, revoked or mismatched signature, or no signature), 2 usage, "
             "3 the agent cannot be reached or went away during the operation.\n");
}

int cmd_smime(const CliGlobals *g, int argc, char **argv)
{
  if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
    usage();
    return argc < 2 ? CLI_EXIT_USAGE : CLI_EXIT_OK;
  }
  for (size_t i = 0; i < G_N_ELEMENTS(subcommands); i++) {
    if (strcmp(argv[1], subcommands[i].name) == 0) {
      g_autofree char *name = g_strconcat("smime ", argv[1], NULL);
      char **sub_argv = g_new0(char *, (gsize)argc);
      sub_argv[0] = name;
      for (int j = 2; j < argc; j++)
        sub_argv[j - 1] = argv[j];
      int rc = subcommands[i].run(g, argc - 1, sub_argv);
      g_free(sub_argv);
      return rc;
    }
  }
  usage();
  return cli_usage_error("smime", "unknown subcommand '%s'", argv[1]);
}
