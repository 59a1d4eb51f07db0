/* tessera smime — verifying multipart/signed and opaque signed-data, every
 * signer on its own: the signature, then the signer's chain to a local
 * trust anchor (validity, usage, CRLs), then the From address; the content
 * is read once for all of them. No network. */
#include "smime.h"

#include <openssl/cms.h>
#include <openssl/err.h>
#include <string.h>

void smime_signer_verdict_free(SmimeSignerVerdict *s)
{
  if (s == NULL)
    return;
  g_free(s->reason);
  g_free(s->signer_name);
  g_free(s->signer_address);
  g_free(s->signer_subject);
  g_free(s->signer_issuer);
  g_free(s->signer_serial);
  g_free(s->signed_at);
  g_free(s->anchor);
  if (s->chain)
    g_ptr_array_unref(s->chain);
  X509_free(s->signer_cert);
  g_free(s);
}

void smime_verdict_clear(SmimeVerdict *v)
{
  g_clear_pointer(&v->reason, g_free);
  g_clear_pointer(&v->from, g_free);
  v->signer = NULL;
  g_clear_pointer(&v->signers, g_ptr_array_unref);
}

const char *smime_verdict_name(SmimeVerdictCode c)
{
  switch (c) {
  case SMIME_VERDICT_GOOD: return "good";
  case SMIME_VERDICT_BAD_SIGNATURE: return "bad-signature";
  case SMIME_VERDICT_UNTRUSTED: return "untrusted";
  case SMIME_VERDICT_EXPIRED: return "expired";
  case SMIME_VERDICT_REVOKED: return "revoked";
  case SMIME_VERDICT_ADDRESS_MISMATCH: return "address-mismatch";
  case SMIME_VERDICT_USAGE: return "wrong-key-usage";
  case SMIME_VERDICT_NOT_SIGNED: return "not-signed";
  case SMIME_VERDICT_MALFORMED: return "malformed";
  }
  return "?";
}

static char *name_line(const X509_NAME *n)
{
  BIO *b = BIO_new(BIO_s_mem());
  X509_NAME_print_ex(b, n, 0, XN_FLAG_RFC2253 & ~ASN1_STRFLGS_ESC_MSB);
  char *data = NULL;
  long len = BIO_get_mem_data(b, &data);
  char *s = g_strndup(data, (gsize)(len > 0 ? len : 0));
  BIO_free(b);
  return s;
}

static char *common_name(X509 *x)
{
  X509_NAME *n = X509_get_subject_name(x);
  int i = X509_NAME_get_index_by_NID(n, NID_commonName, -1);
  if (i < 0)
    return NULL;
  unsigned char *utf8 = NULL;
  int len = ASN1_STRING_to_UTF8(&utf8, X509_NAME_ENTRY_get_data(X509_NAME_get_entry(n, i)));
  char *s = len >= 0 ? g_strndup((const char *)utf8, (gsize)len) : NULL;
  OPENSSL_free(utf8);
  return s;
}

static char *signing_time(CMS_SignerInfo *si)
{
  int i = CMS_signed_get_attr_by_NID(si, NID_pkcs9_signingTime, -1);
  if (i < 0)
    return NULL;
  ASN1_TYPE *t = X509_ATTRIBUTE_get0_type(CMS_signed_get_attr(si, i), 0);
  if (t == NULL || (t->type != V_ASN1_UTCTIME && t->type != V_ASN1_GENERALIZEDTIME))
    return NULL;
  struct tm tm;
  if (ASN1_TIME_to_tm((ASN1_TIME *)t->value.asn1_string, &tm) != 1)
    return NULL;
  char buf[64];
  strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
  return g_strdup(buf);
}

/* Why a signer's signature did not verify, from the queue (emptied). */
static SmimeVerdictCode classify_cms_failure(char **reason)
{
  unsigned long first = ERR_peek_error();
  SmimeVerdictCode code = SMIME_VERDICT_MALFORMED;
  unsigned long e;
  while ((e = ERR_get_error()) != 0) {
    if (ERR_GET_LIB(e) == ERR_LIB_CMS) {
      int r = ERR_GET_REASON(e);
      if (r == CMS_R_VERIFICATION_FAILURE || r == CMS_R_CONTENT_VERIFY_ERROR)
        code = SMIME_VERDICT_BAD_SIGNATURE;
      else if (r == CMS_R_SIGNER_CERTIFICATE_NOT_FOUND)
        code = SMIME_VERDICT_UNTRUSTED;
    }
  }
  const char *r = first ? ERR_reason_error_string(first) : NULL;
  if (code == SMIME_VERDICT_BAD_SIGNATURE)
    *reason = g_strdup_printf("bad signature: the message was changed after it was signed, or "
                              "the signature is not the certificate's (%s)",
                              r ? r : "verification failure");
  else if (code == SMIME_VERDICT_UNTRUSTED)
    *reason = g_strdup("untrusted: the signer's certificate is not in the message");
  else
    *reason = g_strdup_printf("malformed: the signature cannot be checked: %s",
                              r ? r : "invalid CMS");
  return code;
}

static void set_signer(SmimeSignerVerdict *s, X509 *signer, const char *from)
{
  if (X509_up_ref(signer))
    s->signer_cert = signer;
  s->signer_name = common_name(signer);
  s->signer_subject = name_line(X509_get_subject_name(signer));
  s->signer_issuer = name_line(X509_get_issuer_name(signer));
  BIGNUM *bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(signer), NULL);
  char *hex = bn ? BN_bn2hex(bn) : NULL;
  s->signer_serial = g_strdup(hex);
  OPENSSL_free(hex);
  BN_free(bn);
  g_autoptr(GPtrArray) emails = smime_cert_emails(signer);
  if (from && smime_cert_has_email(signer, from))
    s->signer_address = g_strdup(from);
  else if (emails->len > 0)
    s->signer_address = g_strdup(emails->pdata[0]);
}

static gboolean is_signed_data(GMimeObject *o)
{
  GMimeContentType *ct = g_mime_object_get_content_type(o);
  const char *st = ct ? g_mime_content_type_get_parameter(ct, "smime-type") : NULL;
  return st == NULL || g_ascii_strcasecmp(st, "signed-data") == 0;
}

/* A signer whose signature verified: its chain (the message's certificates
 * as intermediates), then the From address (not checked when
 * address_unchecked: a bare entity has no From, and the mail program checks
 * the sender itself). */
static void judge_chain(SmimeSignerVerdict *s, X509 *signer, STACK_OF(X509) *certs,
                        X509_STORE *store, const char *from, gboolean address_unchecked)
{
  g_auto(SmimeChainResult) chain = { 0 };
  smime_verify_chain(store, signer, certs, X509_PURPOSE_SMIME_SIGN, &chain);
  s->chain = g_ptr_array_new_with_free_func(g_free);
  for (int i = 0; chain.chain && i < sk_X509_num(chain.chain); i++)
    g_ptr_array_add(s->chain, name_line(X509_get_subject_name(sk_X509_value(chain.chain, i))));
  if (chain.status == SMIME_CHAIN_OK && s->chain->len > 0)
    s->anchor = g_strdup(s->chain->pdata[s->chain->len - 1]);
  switch (chain.status) {
  case SMIME_CHAIN_OK:
    if (address_unchecked) {
      s->code = SMIME_VERDICT_GOOD;
    } else if (from == NULL || !smime_cert_has_email(signer, from)) {
      s->code = SMIME_VERDICT_ADDRESS_MISMATCH;
      g_autoptr(GPtrArray) emails = smime_cert_emails(signer);
      g_ptr_array_add(emails, NULL);
      g_autofree char *list = g_strjoinv(", ", (char **)emails->pdata);
      s->reason = g_strdup_printf("address mismatch: the message is from %s, the certificate "
                                  "is for %s",
                                  from ? from : "nobody (no From)", *list ? list : "no address");
    } else {
      s->code = SMIME_VERDICT_GOOD;
    }
    break;
  case SMIME_CHAIN_EXPIRED:
    s->code = SMIME_VERDICT_EXPIRED;
    s->reason = g_strdup_printf("expired: %s", chain.reason);
    break;
  case SMIME_CHAIN_NOT_YET_VALID:
    s->code = SMIME_VERDICT_EXPIRED;
    s->reason = g_strdup_printf("not valid yet: %s", chain.reason);
    break;
  case SMIME_CHAIN_REVOKED:
    s->code = SMIME_VERDICT_REVOKED;
    s->reason = g_strdup_printf("revoked: %s", chain.reason);
    break;
  case SMIME_CHAIN_USAGE:
    s->code = SMIME_VERDICT_USAGE;
    s->reason = g_strdup_printf("the certificate is not for signing mail: %s", chain.reason);
    break;
  case SMIME_CHAIN_UNTRUSTED:
    s->code = SMIME_VERDICT_UNTRUSTED;
    s->reason = g_strdup_printf("untrusted: %s", chain.reason);
    break;
  }
  ERR_clear_error();
}

/* Frees the BIOs in front of keep (CMS_dataInit's digest BIOs), not keep
 * itself; keep NULL: the whole chain. */
static void free_bios_before(BIO *b, BIO *keep)
{
  while (b != NULL && b != keep) {
    BIO *next = BIO_pop(b);
    BIO_free(b);
    b = next;
  }
}

/* Reads the content once through the digest BIOs of every digest
 * algorithm of the SignedData, copying it to out (NULL: nowhere), in
 * blocks: memory stays bounded. Returns the chain (for
 * CMS_SignerInfo_verify_content), or NULL with *reason (unreadable content)
 * or with error (out cannot be written). */
static BIO *digest_content(CMS_ContentInfo *cms, BIO *dcont, BIO *out, char **reason,
                           GError **error)
{
  ERR_clear_error();
  BIO *chain = CMS_dataInit(cms, dcont);
  if (chain == NULL) {
    unsigned long e = ERR_peek_error();
    *reason = g_strdup_printf("malformed: the signature cannot be checked: %s",
                              e ? ERR_reason_error_string(e) : "invalid CMS");
    ERR_clear_error();
    return NULL;
  }
  char buf[16384];
  for (;;) {
    int n = BIO_read(chain, buf, (int)sizeof(buf));
    if (n == 0)
      break;
    if (n < 0) {
      unsigned long e = ERR_peek_error();
      *reason = g_strdup_printf("malformed: the signed content cannot be read: %s",
                                e ? ERR_reason_error_string(e) : "read error");
      ERR_clear_error();
      free_bios_before(chain, dcont);
      return NULL;
    }
    if (out && BIO_write(out, buf, n) != n) {
      g_set_error(error, SMIME_ERROR, SMIME_ERROR_INPUT, "cannot write the content");
      free_bios_before(chain, dcont);
      return NULL;
    }
  }
  return chain;
}

/* The signer the verdict is about (see SmimeVerdict), and its verdict. */
static void choose_signer(SmimeVerdict *v)
{
  guint pick = 0;
  gboolean bad = FALSE;
  /* A signature that fails, or that cannot be checked (an unknown digest
   * algorithm, a missing messageDigest: fields the signature does not
   * cover), blocks the verdict: else a good signer added to changed
   * content would pass with the original signer merely "malformed". */
  for (guint i = 0; i < v->signers->len && !bad; i++)
    if (((SmimeSignerVerdict *)v->signers->pdata[i])->code == SMIME_VERDICT_BAD_SIGNATURE)
      pick = i, bad = TRUE;
  for (guint i = 0; i < v->signers->len && !bad; i++)
    if (((SmimeSignerVerdict *)v->signers->pdata[i])->code == SMIME_VERDICT_MALFORMED)
      pick = i, bad = TRUE;
  for (guint i = 0; i < v->signers->len && !bad; i++)
    if (((SmimeSignerVerdict *)v->signers->pdata[i])->code == SMIME_VERDICT_GOOD) {
      pick = i;
      break;
    }
  const SmimeSignerVerdict *s = v->signers->pdata[pick];
  v->signer = s;
  v->code = s->code;
  v->reason = g_strdup(s->reason);
}

/* The verdict on a SignedData, every SignerInfo on its own: its
 * certificate (from the message), the signature over its signed
 * attributes, the content's digest (the content read once, from dcont or,
 * when NULL, encapsulated, and copied to out), then its chain and the From
 * address (v->from; not checked when v->address_unchecked). FALSE only when
 * out cannot be written (error). */
static gboolean verify_signed_data(CMS_ContentInfo *cms, BIO *dcont, BIO *out, X509_STORE *store,
                                   SmimeVerdict *v, GError **error)
{
  STACK_OF(CMS_SignerInfo) *sis = CMS_get0_SignerInfos(cms);
  int n = sk_CMS_SignerInfo_num(sis);
  if (n < 1) {
    v->code = SMIME_VERDICT_MALFORMED;
    v->reason = g_strdup("malformed: the SignedData has no signer");
    ERR_clear_error();
    return TRUE;
  }
  if (dcont == NULL && CMS_is_detached(cms)) {
    v->code = SMIME_VERDICT_MALFORMED;
    v->reason = g_strdup("malformed: the SignedData has no content (a detached signature)");
    return TRUE;
  }
  ERR_clear_error();
  CMS_set1_signers_certs(cms, NULL, 0); /* each signer's certificate, from the message's */
  ERR_clear_error();
  v->signers = g_ptr_array_new_full((guint)n, (GDestroyNotify)smime_signer_verdict_free);
  g_autofree gboolean *pending = g_new0(gboolean, n); /* the content's digest to check */
  gboolean any_pending = FALSE;
  for (int i = 0; i < n; i++) {
    CMS_SignerInfo *si = sk_CMS_SignerInfo_value(sis, i);
    SmimeSignerVerdict *s = g_new0(SmimeSignerVerdict, 1);
    g_ptr_array_add(v->signers, s);
    s->signed_at = signing_time(si);
    X509 *signer = NULL;
    CMS_SignerInfo_get0_algs(si, NULL, &signer, NULL, NULL);
    if (signer == NULL) {
      s->code = SMIME_VERDICT_UNTRUSTED;
      s->reason = g_strdup("untrusted: the signer's certificate is not in the message");
      continue;
    }
    set_signer(s, signer, v->from);
    ERR_clear_error();
    if (CMS_signed_get_attr_count(si) >= 0 && CMS_SignerInfo_verify(si) <= 0) {
      s->code = classify_cms_failure(&s->reason);
      continue;
    }
    pending[i] = any_pending = TRUE;
  }

  /* The content, read once even when no digest is left to check: out
   * gets it whatever the verdict, as a clear-signed message shows it. */
  g_autofree char *unreadable = NULL;
  BIO *chain = digest_content(cms, dcont, out, &unreadable, error);
  if (chain == NULL && unreadable == NULL)
    return FALSE;
  STACK_OF(X509) *certs = any_pending ? CMS_get1_certs(cms) : NULL;
  for (int i = 0; i < n; i++) {
    if (!pending[i])
      continue;
    CMS_SignerInfo *si = sk_CMS_SignerInfo_value(sis, i);
    SmimeSignerVerdict *s = v->signers->pdata[i];
    if (chain == NULL) {
      s->code = SMIME_VERDICT_MALFORMED;
      s->reason = g_strdup(unreadable);
      continue;
    }
    ERR_clear_error();
    if (CMS_SignerInfo_verify_content(si, chain) <= 0) {
      s->code = classify_cms_failure(&s->reason);
      continue;
    }
    judge_chain(s, s->signer_cert, certs, store, v->from, v->address_unchecked);
  }
  smime_certs_free(certs);
  free_bios_before(chain, dcont);
  choose_signer(v);
  ERR_clear_error();
  return TRUE;
}

static gboolean verify_message(OSSL_LIB_CTX *libctx, SmimeMessage *m, X509_STORE *store,
                               BIO *content, SmimeVerdict *v, GError **error)
{
  memset(v, 0, sizeof(*v));
  v->from = smime_message_from(m);
  GMimeObject *entity = g_mime_message_get_mime_part(m->msg);
  g_autoptr(CMS_ContentInfo) cms = NULL;
  g_autoptr(BIO) signed_entity = NULL; /* what goes to content */
  g_autoptr(BIO) econtent = NULL;      /* opaque: the content, streamed (ber.c) */
  ERR_clear_error();
  if (GMIME_IS_MULTIPART_SIGNED(entity)) {
    GMimeMultipart *mp = GMIME_MULTIPART(entity);
    if (g_mime_multipart_get_count(mp) != 2 ||
        !GMIME_IS_PART(g_mime_multipart_get_part(mp, GMIME_MULTIPART_SIGNED_SIGNATURE))) {
      v->code = SMIME_VERDICT_MALFORMED;
      v->reason = g_strdup("malformed: multipart/signed needs exactly two parts, the second the signature");
      return TRUE;
    }
    GMimeObject *part = g_mime_multipart_get_part(mp, GMIME_MULTIPART_SIGNED_CONTENT);
    GMimePart *sig = GMIME_PART(g_mime_multipart_get_part(mp, GMIME_MULTIPART_SIGNED_SIGNATURE));
    g_autoptr(BIO) sig_der = smime_part_content_bio(sig, error);
    g_autoptr(BIO) canonical = sig_der ? smime_entity_bio(part, FALSE, error) : NULL;
    if (canonical == NULL)
      return FALSE;
    cms = CMS_ContentInfo_new_ex(libctx, NULL);
    if (d2i_CMS_bio(sig_der, &cms) == NULL) {
      v->code = SMIME_VERDICT_MALFORMED;
      v->reason = g_strdup("malformed: the signature part is not valid CMS (truncated or damaged)");
      ERR_clear_error();
      return TRUE;
    }
    if (OBJ_obj2nid(CMS_get0_type(cms)) != NID_pkcs7_signed) {
      v->code = SMIME_VERDICT_MALFORMED;
      v->reason = g_strdup("malformed: the signature part is not CMS SignedData");
      return TRUE;
    }
    /* What is printed is the copy made while it was digested, not a second
     * read of the message's file (which may have changed meanwhile). */
    if (content && !(signed_entity = smime_tmp_bio(error)))
      return FALSE;
    if (!verify_signed_data(cms, canonical, signed_entity, store, v, error))
      return FALSE;
    if (signed_entity && !smime_rewind(signed_entity, error))
      return FALSE;
  } else if (GMIME_IS_PART(entity) && is_signed_data(entity)) {
    GError *local = NULL;
    cms = smime_read_cms_part(libctx, entity, &econtent, &local);
    if (cms == NULL) {
      gboolean not_smime = strstr(local->message, "not S/MIME") != NULL;
      v->code = not_smime ? SMIME_VERDICT_NOT_SIGNED : SMIME_VERDICT_MALFORMED;
      v->reason = not_smime ? g_strdup("not signed: the message is not signed")
                            : g_strdup_printf("malformed: %s", local->message);
      g_error_free(local);
      return TRUE;
    }
    if (OBJ_obj2nid(CMS_get0_type(cms)) != NID_pkcs7_signed) {
      v->code = SMIME_VERDICT_NOT_SIGNED;
      v->reason = g_strdup("not signed: the message is encrypted, not signed: decrypt it first");
      return TRUE;
    }
    v->opaque = TRUE;
    if (!(signed_entity = smime_tmp_bio(error)))
      return FALSE;
    if (!verify_signed_data(cms, econtent, signed_entity, store, v, error))
      return FALSE;
    if (!smime_rewind(signed_entity, error))
      return FALSE;
  } else {
    v->code = SMIME_VERDICT_NOT_SIGNED;
    v->reason = g_strdup(GMIME_IS_PART(entity)
                             ? "not signed: the message is encrypted, not signed: decrypt it first"
                             : "not signed: the message is not signed");
    return TRUE;
  }

  ERR_clear_error();
  if (content) {
    if (!smime_write_outer_headers(m, content, error) || BIO_puts(content, "MIME-Version: 1.0\n") < 0 ||
        !smime_bio_copy(signed_entity, content, error))
      return FALSE;
  }
  return TRUE;
}

/* Input that cannot be read leaves no verdict to free. */
static gboolean verdict_unless_failed(gboolean ok, SmimeVerdict *v)
{
  if (!ok)
    smime_verdict_clear(v);
  return ok;
}

gboolean smime_verify_message(OSSL_LIB_CTX *libctx, SmimeMessage *m, X509_STORE *store,
                              BIO *content, SmimeVerdict *v, GError **error)
{
  return verdict_unless_failed(verify_message(libctx, m, store, content, v, error), v);
}

/* A bare entity's verdict starts from the address given, if any. */
static void verdict_init_bare(SmimeVerdict *v, const char *from)
{
  memset(v, 0, sizeof(*v));
  v->from = from ? g_ascii_strdown(from, -1) : NULL;
  v->address_unchecked = from == NULL;
}

gboolean smime_verify_detached(OSSL_LIB_CTX *libctx, BIO *signature, BIO *content,
                               const char *from, X509_STORE *store, SmimeVerdict *v,
                               GError **error)
{
  verdict_init_bare(v, from);
  ERR_clear_error();
  g_autoptr(GError) local = NULL;
  g_autoptr(CMS_ContentInfo) cms = smime_read_cms_der(libctx, signature, NULL, &local);
  if (cms == NULL) {
    v->code = SMIME_VERDICT_MALFORMED;
    v->reason = g_strdup_printf("malformed: %s", local->message);
    return TRUE;
  }
  if (OBJ_obj2nid(CMS_get0_type(cms)) != NID_pkcs7_signed) {
    v->code = SMIME_VERDICT_MALFORMED;
    v->reason = g_strdup("malformed: the signature is not CMS SignedData");
    return TRUE;
  }
  if (!CMS_is_detached(cms)) {
    v->code = SMIME_VERDICT_MALFORMED;
    v->reason = g_strdup("malformed: the signature holds its own content, not a detached "
                         "signature of the file (verify it without --signature)");
    return TRUE;
  }
  return verdict_unless_failed(verify_signed_data(cms, content, NULL, store, v, error), v);
}

gboolean smime_verify_bare(OSSL_LIB_CTX *libctx, BIO *der, const char *from, X509_STORE *store,
                           BIO *content, SmimeVerdict *v, GError **error)
{
  verdict_init_bare(v, from);
  v->opaque = TRUE;
  ERR_clear_error();
  g_autoptr(BIO) econtent = NULL;
  g_autoptr(GError) local = NULL;
  g_autoptr(CMS_ContentInfo) cms = smime_read_cms_der(libctx, der, &econtent, &local);
  if (cms == NULL) {
    v->code = SMIME_VERDICT_MALFORMED;
    v->reason = g_strdup_printf("malformed: %s", local->message);
    return TRUE;
  }
  if (OBJ_obj2nid(CMS_get0_type(cms)) != NID_pkcs7_signed) {
    v->code = SMIME_VERDICT_NOT_SIGNED;
    v->reason = g_strdup("not signed: the CMS is not SignedData (encrypted? decrypt it first)");
    return TRUE;
  }
  if (econtent == NULL && CMS_is_detached(cms)) {
    v->code = SMIME_VERDICT_MALFORMED;
    v->reason = g_strdup("malformed: a detached signature without its content (give the content "
                         "as FILE and the signature with --signature)");
    return TRUE;
  }
  if (!verify_signed_data(cms, econtent, content, store, v, error))
    return verdict_unless_failed(FALSE, v);
  if (content && BIO_flush(content) != 1) {
    g_set_error(error, SMIME_ERROR, SMIME_ERROR_INPUT, "cannot write the content");
    return verdict_unless_failed(FALSE, v);
  }
  return TRUE;
}
