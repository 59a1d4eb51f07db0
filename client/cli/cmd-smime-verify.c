/* tessera smime verify — the verdict on a signed message, a bare entity
 * with its detached signature or a bare CMS: as text (what mutt reads) or
 * JSON, and --harvest of a good signer's certificate. */
#include "smime-cli.h"

#include <stdio.h>

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

int cmd_smime_verify(const CliGlobals *g, int argc, char **argv)
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
  if (!smime_cli_parse(&argc, &argv,
                       "Verify a signed message: the verdict on stderr (--json: stdout), the "
                       "content on stdout. Exit status 0 only for a good signature.",
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
    return smime_cli_report(error);
  g_auto(Input) in = { 0 };
  InputKind kind = a->signature ? INPUT_ENTITY : a->der ? INPUT_CMS : INPUT_MESSAGE;
  if (!smime_cli_read_input(a->in, kind, &in, &error))
    return smime_cli_report(error);
  g_autoptr(X509_STORE) store = smime_cli_open_store(a, &error);
  if (store == NULL)
    return smime_cli_report(error);
  BIO *out = NULL; /* the content: none for a detached signature */
  if ((!a->json || a->out) && !a->signature) {
    out = smime_output_open(a->out, a->crlf, &error);
    if (out == NULL)
      return smime_cli_report(error);
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
    return smime_cli_report(error);
  if (a->json)
    print_verdict_json(&v);
  else
    print_verdict_text(&v, a->status_line);
#ifdef TESSERA_SMIME_DIRECTORY
  if (a->harvest && v.code == SMIME_VERDICT_GOOD) {
    g_autoptr(SmimeDirectory) d = smime_cli_open_directory(a, &error);
    if (d == NULL || !smime_directory_import(d, v.signer->signer_cert, &error))
      return smime_cli_report(error);
    if (!a->json)
      g_printerr("  added the signer's certificate to the certificate store\n");
  }
#endif
  (void)g;
  return v.code == SMIME_VERDICT_GOOD ? CLI_EXIT_OK : CLI_EXIT_FAILED;
}
