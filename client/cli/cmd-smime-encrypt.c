/* tessera smime encrypt and sign-encrypt — whom a message is encrypted to
 * (--cert, the store and the directory for each To/Cc/Bcc address, and
 * yourself) and why a certificate is refused; --outform DER for mail
 * programs. */
#include "smime-cli.h"

#include <stdio.h>
#include <string.h>

/* Why cert cannot be encrypted to (NULL: it can). */
static char *recipient_refusal(X509 *cert, X509_STORE *store, gboolean need_trust)
{
  EVP_PKEY *pub = X509_get0_pubkey(cert);
  gboolean rsa = pub && EVP_PKEY_is_a(pub, "RSA");
  if (pub == NULL || (!rsa && !EVP_PKEY_is_a(pub, "EC")))
    return g_strdup("its key is neither RSA nor EC");
  char *why = smime_cert_refusal(cert, SMIME_USE_ENCRYPT, rsa);
  if (why || !need_trust)
    return why;
  g_auto(SmimeChainResult) chain = { 0 };
  smime_verify_chain(store, cert, NULL, X509_PURPOSE_ANY, &chain);
  return chain.status == SMIME_CHAIN_OK ? NULL : g_strdup_printf("untrusted: %s", chain.reason);
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
    if (!smime_cli_load_certs(*p, given, error))
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
  dir = addresses->len ? smime_cli_open_directory(a, error) : NULL;
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
    return smime_cli_load_certs(arg, recips, error);
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
    ok = smime_cli_load_certs(*p, recips, error);
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
    ok = (entity = smime_tmp_bio(error)) && smime_cli_sign_to(ag, a, m, entity, TRUE, error) &&
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
  if (!smime_cli_parse_extra(&argc, &argv,
                             sign ? "Sign a message, then encrypt it to its recipients and to "
                                    "yourself."
                                  : "Encrypt a message to its To/Cc/Bcc recipients, every "
                                    "--cert and yourself. With --outform DER, FILE is a bare "
                                    "entity and CERT… its recipients.",
                             sign ? sign_entries : entries, a, sign ? 0 : G_MAXINT - 1) ||
      !smime_cli_check_hash(argv[0], a->hash))
    return CLI_EXIT_USAGE;
  if (a->der && !a->certs && !a->extra && !a->from)
    return cli_usage_error(argv[0], "--outform DER needs recipients: certificate files after "
                                    "FILE, --cert FILE or --from ADDR");
  if (a->der)
    return smime_cli_run(g, a, &(const AgentJob){ .input = INPUT_ENTITY, .trust = TRUE,
                                                  .work = encrypt_bare });
  if (a->extra)
    return cli_usage_error(argv[0], "unexpected argument '%s' (certificates after FILE go with "
                                    "--outform DER; otherwise use --cert)", a->extra[0]);
  return smime_cli_run(g, a, &(const AgentJob){
    .input = INPUT_MESSAGE, .trust = TRUE, .work = sign ? sign_encrypt_message : encrypt_message });
}

int cmd_smime_encrypt(const CliGlobals *g, int argc, char **argv)
{
  return encrypt_command(g, argc, argv, FALSE);
}

int cmd_smime_sign_encrypt(const CliGlobals *g, int argc, char **argv)
{
  return encrypt_command(g, argc, argv, TRUE);
}
