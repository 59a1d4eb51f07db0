/* tessera smime — choosing the user's certificate among all the agent's
 * keys: address, key usage, extended key usage, validity, trust; then a
 * present card, then the latest notAfter. */
#include "smime.h"

#include <openssl/err.h>
#include <openssl/x509v3.h>
#include <string.h>

static void candidate_free(gpointer p)
{
  SmimeCandidate *c = p;
  X509_free(c->cert);
  g_free(c->refusal);
  g_free(c);
}

GPtrArray *smime_candidates_new(void)
{
  return g_ptr_array_new_with_free_func(candidate_free);
}

char *smime_cert_refusal(X509 *cert, SmimeUse use, gboolean rsa)
{
  uint32_t ku = X509_get_key_usage(cert);
  if (use == SMIME_USE_SIGN && ku != UINT32_MAX &&
      !(ku & (KU_DIGITAL_SIGNATURE | KU_NON_REPUDIATION)))
    return g_strdup("keyUsage allows neither digitalSignature nor nonRepudiation");
  if (use == SMIME_USE_ENCRYPT && ku != UINT32_MAX &&
      !(ku & (rsa ? KU_KEY_ENCIPHERMENT : KU_KEY_AGREEMENT)))
    return g_strdup(rsa ? "keyUsage does not allow keyEncipherment"
                        : "keyUsage does not allow keyAgreement");
  uint32_t xku = X509_get_extended_key_usage(cert);
  if (xku != UINT32_MAX && !(xku & (XKU_SMIME | XKU_ANYEKU)))
    return g_strdup("extendedKeyUsage lacks emailProtection");
  if (X509_cmp_current_time(X509_get0_notBefore(cert)) >= 0)
    return g_strdup("its certificate is not valid yet");
  if (X509_cmp_current_time(X509_get0_notAfter(cert)) <= 0)
    return g_strdup("its certificate has expired");
  return NULL;
}

static char *refusal_for(const tessera_key *k, X509 *cert, X509_STORE *store, const char *address,
                         SmimeUse use)
{
  if (address && !smime_cert_has_email(cert, address)) {
    g_autoptr(GPtrArray) emails = smime_cert_emails(cert);
    if (emails->len == 0)
      return g_strdup("its certificate names no email address");
    g_ptr_array_add(emails, NULL);
    g_autofree char *list = g_strjoinv(", ", (char **)emails->pdata);
    return g_strdup_printf("its certificate is for %s, not %s", list, address);
  }
  gboolean rsa = k->key_type == TPROTO_KEY_RSA;
  if (use == SMIME_USE_SIGN && !(k->ops & TPROTO_OP_SIGN))
    return g_strdup("the token does not let it sign");
  if (use == SMIME_USE_ENCRYPT && !(k->ops & (rsa ? TPROTO_OP_DECRYPT : TPROTO_OP_DERIVE)))
    return g_strdup(rsa ? "the token does not let it decrypt"
                        : "the token does not let it derive (ECDH)");
  char *why = smime_cert_refusal(cert, use, rsa);
  if (why)
    return why;
  g_auto(SmimeChainResult) chain = { 0 };
  smime_verify_chain(store, cert, NULL,
                     use == SMIME_USE_SIGN ? X509_PURPOSE_SMIME_SIGN : X509_PURPOSE_ANY,
                     &chain);
  if (chain.status != SMIME_CHAIN_OK)
    return g_strdup_printf("its certificate does not chain to a trust anchor: %s", chain.reason);
  return NULL;
}

/* TRUE when a is the better choice. */
static gboolean better(const SmimeCandidate *a, const SmimeCandidate *b)
{
  gboolean a_present = (a->key->flags & TPROTO_KEY_AVAILABLE) != 0;
  gboolean b_present = (b->key->flags & TPROTO_KEY_AVAILABLE) != 0;
  if (a_present != b_present)
    return a_present;
  return ASN1_TIME_compare(X509_get0_notAfter(a->cert), X509_get0_notAfter(b->cert)) > 0;
}

SmimeCandidate *smime_select_key(const CliKeys *keys, X509_STORE *store, const char *address,
                                 SmimeUse use, GPtrArray **candidates)
{
  GPtrArray *all = smime_candidates_new();
  SmimeCandidate *best = NULL;
  for (size_t i = 0; i < keys->n; i++) {
    const tessera_key *k = &keys->items[i];
    if (k->cert == NULL)
      continue;
    const unsigned char *p = k->cert;
    X509 *cert = d2i_X509(NULL, &p, (long)k->cert_len);
    if (cert == NULL) {
      ERR_clear_error();
      continue;
    }
    SmimeCandidate *c = g_new0(SmimeCandidate, 1);
    c->key = k;
    c->cert = cert;
    c->refusal = refusal_for(k, cert, store, address, use);
    g_ptr_array_add(all, c);
    if (c->refusal == NULL && (best == NULL || better(c, best)))
      best = c;
  }
  *candidates = all;
  return best;
}

void smime_explain(const char *what, const char *address, GPtrArray *candidates,
                   const SmimeCandidate *chosen)
{
  g_printerr("%s key for %s: %u candidate%s with a certificate\n", what,
             address ? address : "any address", candidates->len, candidates->len == 1 ? "" : "s");
  for (guint i = 0; i < candidates->len; i++) {
    const SmimeCandidate *c = candidates->pdata[i];
    char subject[256];
    X509_NAME_oneline(X509_get_subject_name(c->cert), subject, sizeof(subject));
    char until[64] = "";
    BIO *b = BIO_new(BIO_s_mem());
    if (b && ASN1_TIME_print(b, X509_get0_notAfter(c->cert)) > 0) {
      int n = BIO_read(b, until, sizeof(until) - 1);
      until[n > 0 ? n : 0] = '\0';
    }
    BIO_free(b);
    const char *card = (c->key->flags & TPROTO_KEY_AVAILABLE) ? "card present" : "card absent";
    if (c == chosen)
      g_printerr("  chosen:  %s (%s, until %s, %s)\n", c->key->label, subject, until, card);
    else if (c->refusal)
      g_printerr("  refused: %s (%s): %s\n", c->key->label, subject, c->refusal);
    else
      g_printerr("  passed over: %s (%s, until %s, %s): usable, but %s\n", c->key->label,
                 subject, until, card, "the chosen one has a present card or a later notAfter");
  }
  if (chosen == NULL)
    g_printerr("  no usable key\n");
}
