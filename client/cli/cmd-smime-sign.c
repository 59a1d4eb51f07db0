/* tessera smime sign — choosing the signing key (or --key), its chain and
 * the encryption certificate it names, and signing a message or, for mail
 * programs, a bare entity. */
#include "smime-cli.h"

#include <openssl/err.h>
#include <openssl/x509v3.h>
#include <string.h>

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

gboolean smime_cli_sign_to(Agent *ag, const SmimeArgs *a, SmimeMessage *m, BIO *out,
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
  if (signed_entity == NULL || !smime_cli_sign_to(ag, a, in->m, signed_entity, FALSE, error) ||
      !smime_rewind(signed_entity, error))
    return NULL;
  return g_steal_pointer(&signed_entity);
}

int cmd_smime_sign(const CliGlobals *g, int argc, char **argv)
{
  g_auto(SmimeArgs) args = { 0 };
  SmimeArgs *a = &args;
  const GOptionEntry entries[] = { OPT_IN, OPT_OUT, OPTS_SIGN, OPT_FROM, OPT_CA, OPT_EXPLAIN,
                                   OPT_CRLF, OPT_OUTFORM, G_OPTION_ENTRY_NULL };
  if (!smime_cli_parse(&argc, &argv,
                       "Sign an RFC 5322 message (clear-signed multipart/signed by default). "
                       "The key is the best one whose certificate is for the From address.",
                       entries, a) ||
      !smime_cli_check_hash(argv[0], a->hash))
    return CLI_EXIT_USAGE;
  if (a->der && a->from == NULL && a->key == NULL)
    return cli_usage_error(argv[0], "--outform DER signs a bare entity, which has no From: "
                                    "give --signer, --from or --key");
  if (a->der)
    return smime_cli_run(g, a, &(const AgentJob){ .input = INPUT_ENTITY, .trust = TRUE,
                                                  .work = sign_bare });
  return smime_cli_run(g, a, &(const AgentJob){ .input = INPUT_MESSAGE, .trust = TRUE,
                                                .work = sign_message });
}
