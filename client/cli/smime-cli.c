/* tessera smime — what every subcommand does the same way: parsing the
 * options, reading the input, opening the agent and the trust store,
 * writing the result, reporting errors. */
#include "smime-cli.h"

#include "agent-key.h"

#include <openssl/err.h>
#include <openssl/pem.h>
#include <stdio.h>
#include <string.h>

void smime_cli_args_clear(SmimeArgs *a)
{
  g_free(a->in), g_free(a->out), g_free(a->from), g_free(a->key), g_free(a->hash);
  g_strfreev(a->ca), g_strfreev(a->crl), g_strfreev(a->certs);
  g_free(a->store_dir), g_free(a->ldap_uri), g_free(a->ldap_base), g_free(a->ldap_filter);
  g_free(a->signature), g_free(a->signer), g_free(a->inform), g_free(a->outform);
  g_strfreev(a->extra);
}

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

gboolean smime_cli_parse_extra(int *argc, char ***argv, const char *summary,
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

gboolean smime_cli_parse(int *argc, char ***argv, const char *summary,
                         const GOptionEntry *entries, SmimeArgs *a)
{
  return smime_cli_parse_extra(argc, argv, summary, entries, a, 0);
}

int smime_cli_report(const GError *error)
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

gboolean smime_cli_check_hash(const char *command, const char *name)
{
  CliHash h;
  g_autoptr(GError) error = NULL;
  if (name == NULL || cli_hash_lookup(name, FALSE, &h, &error))
    return TRUE;
  cli_usage_error(command, "%s", error->message);
  return FALSE;
}

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

X509_STORE *smime_cli_open_store(const SmimeArgs *a, GError **error)
{
  const SmimeTrustOptions t = { a->ca, a->crl };
  return smime_trust_store(&t, error);
}

void smime_cli_input_clear(Input *in)
{
  g_clear_pointer(&in->m, smime_message_free);
  g_clear_pointer(&in->bare, BIO_free_all);
}

gboolean smime_cli_read_input(const char *path, InputKind kind, Input *in, GError **error)
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
    return smime_cli_report(error);
  }
  if (a && !(ag->store = smime_cli_open_store(a, &error)))
    return smime_cli_report(error);
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
  return smime_cli_report(error);
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
    return smime_cli_report(error);
  if (!write_headers(out, m, mime_version, &error) || !smime_bio_copy(body, out, &error)) {
    BIO_free_all(out);
    return smime_cli_report(error);
  }
  if (!smime_output_close(out, &error))
    return smime_cli_report(error);
  return CLI_EXIT_OK;
}

int smime_cli_run(const CliGlobals *g, const SmimeArgs *a, const AgentJob *job)
{
  g_autoptr(GError) error = NULL;
  g_auto(Input) in = { 0 };
  if (!smime_cli_read_input(a->in, job->input, &in, &error))
    return smime_cli_report(error);
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

gboolean smime_cli_load_certs(const char *path, STACK_OF(X509) *out, GError **error)
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

#ifdef TESSERA_SMIME_DIRECTORY
SmimeDirectory *smime_cli_open_directory(const SmimeArgs *a, GError **error)
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
