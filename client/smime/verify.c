/* tessera smime — verifying multipart/signed and opaque signed-data: the
 * signature, then the signer's chain to a local trust anchor (validity,
 * usage, CRLs), then the From address. No network. */
#include "smime.h"

#include <openssl/cms.h>
#include <openssl/err.h>
#include <string.h>

void smime_verdict_clear(SmimeVerdict *v)
{
  g_clear_pointer(&v->reason, g_free);
  g_clear_pointer(&v->from, g_free);
  g_clear_pointer(&v->signer_name, g_free);
  g_clear_pointer(&v->signer_address, g_free);
  g_clear_pointer(&v->signer_subject, g_free);
  g_clear_pointer(&v->signer_issuer, g_free);
  g_clear_pointer(&v->signer_serial, g_free);
  g_clear_pointer(&v->signed_at, g_free);
  g_clear_pointer(&v->anchor, g_free);
  g_clear_pointer(&v->chain, g_ptr_array_unref);
  g_clear_pointer(&v->signer_cert, X509_free);
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

/* The reason CMS_verify failed, from the queue (emptied). */
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

static void set_signer(SmimeVerdict *v, X509 *signer)
{
  v->signer_cert = X509_dup(signer);
  v->signer_name = common_name(signer);
  v->signer_subject = name_line(X509_get_subject_name(signer));
  v->signer_issuer = name_line(X509_get_issuer_name(signer));
  BIGNUM *bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(signer), NULL);
  char *hex = bn ? BN_bn2hex(bn) : NULL;
  v->signer_serial = g_strdup(hex);
  OPENSSL_free(hex);
  BN_free(bn);
  g_autoptr(GPtrArray) emails = smime_cert_emails(signer);
  if (v->from && smime_cert_has_email(signer, v->from))
    v->signer_address = g_strdup(v->from);
  else if (emails->len > 0)
    v->signer_address = g_strdup(emails->pdata[0]);
}

static gboolean is_signed_data(GMimeObject *o)
{
  GMimeContentType *ct = g_mime_object_get_content_type(o);
  const char *st = ct ? g_mime_content_type_get_parameter(ct, "smime-type") : NULL;
  return st == NULL || g_ascii_strcasecmp(st, "signed-data") == 0;
}

/* The verdict on a SignedData whose CMS_verify returned ok: the
 * signature, the signer's chain, then the From address (not checked when
 * v->from is NULL: a bare entity has no From, and the mail program checks
 * the sender itself). */
static void judge(CMS_ContentInfo *cms, int ok, X509_STORE *store, SmimeVerdict *v)
{
  STACK_OF(CMS_SignerInfo) *sis = CMS_get0_SignerInfos(cms);
  if (sk_CMS_SignerInfo_num(sis) < 1) {
    v->code = SMIME_VERDICT_MALFORMED;
    v->reason = g_strdup("malformed: the SignedData has no signer");
    ERR_clear_error();
    return;
  }
  CMS_SignerInfo *si = sk_CMS_SignerInfo_value(sis, 0);
  v->signed_at = signing_time(si);
  STACK_OF(X509) *signers = CMS_get0_signers(cms);
  X509 *signer = sk_X509_num(signers) > 0 ? sk_X509_value(signers, 0) : NULL;
  sk_X509_free(signers);
  if (signer)
    set_signer(v, signer);
  if (ok != 1) {
    v->code = classify_cms_failure(&v->reason);
  } else if (signer == NULL) {
    v->code = SMIME_VERDICT_UNTRUSTED;
    v->reason = g_strdup("untrusted: the signer's certificate is not in the message");
  } else {
    STACK_OF(X509) *certs = CMS_get1_certs(cms);
    g_auto(SmimeChainResult) chain = { 0 };
    smime_verify_chain(store, signer, certs, X509_PURPOSE_SMIME_SIGN, &chain);
    smime_certs_free(certs);
    v->chain = g_ptr_array_new_with_free_func(g_free);
    for (int i = 0; chain.chain && i < sk_X509_num(chain.chain); i++)
      g_ptr_array_add(v->chain, name_line(X509_get_subject_name(sk_X509_value(chain.chain, i))));
    if (chain.status == SMIME_CHAIN_OK && v->chain->len > 0)
      v->anchor = g_strdup(v->chain->pdata[v->chain->len - 1]);
    switch (chain.status) {
    case SMIME_CHAIN_OK:
      if (v->address_unchecked) {
        v->code = SMIME_VERDICT_GOOD;
      } else if (v->from == NULL || !smime_cert_has_email(signer, v->from)) {
        v->code = SMIME_VERDICT_ADDRESS_MISMATCH;
        g_autoptr(GPtrArray) emails = smime_cert_emails(signer);
        g_ptr_array_add(emails, NULL);
        g_autofree char *list = g_strjoinv(", ", (char **)emails->pdata);
        v->reason = g_strdup_printf("address mismatch: the message is from %s, the certificate "
                                    "is for %s",
                                    v->from ? v->from : "nobody (no From)",
                                    *list ? list : "no address");
      } else {
        v->code = SMIME_VERDICT_GOOD;
      }
      break;
    case SMIME_CHAIN_EXPIRED:
      v->code = SMIME_VERDICT_EXPIRED;
      v->reason = g_strdup_printf("expired: %s", chain.reason);
      break;
    case SMIME_CHAIN_NOT_YET_VALID:
      v->code = SMIME_VERDICT_EXPIRED;
      v->reason = g_strdup_printf("not valid yet: %s", chain.reason);
      break;
    case SMIME_CHAIN_REVOKED:
      v->code = SMIME_VERDICT_REVOKED;
      v->reason = g_strdup_printf("revoked: %s", chain.reason);
      break;
    case SMIME_CHAIN_USAGE:
      v->code = SMIME_VERDICT_USAGE;
      v->reason = g_strdup_printf("the certificate is not for signing mail: %s", chain.reason);
      break;
    case SMIME_CHAIN_UNTRUSTED:
      v->code = SMIME_VERDICT_UNTRUSTED;
      v->reason = g_strdup_printf("untrusted: %s", chain.reason);
      break;
    }
  }
  ERR_clear_error();
}

gboolean smime_verify_message(OSSL_LIB_CTX *libctx, SmimeMessage *m, X509_STORE *store,
                              BIO *content, SmimeVerdict *v, GError **error)
{
  memset(v, 0, sizeof(*v));
  v->from = smime_message_from(m);
  GMimeObject *entity = g_mime_message_get_mime_part(m->msg);
  g_autoptr(CMS_ContentInfo) cms = NULL;
  g_autoptr(BIO) signed_entity = NULL; /* what goes to content */
  g_autoptr(BIO) econtent = NULL;      /* opaque: the content, streamed (ber.c) */
  int ok;
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
    if (sig_der == NULL || !(signed_entity = smime_entity_bio(part, FALSE, error)))
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
    ok = CMS_verify(cms, NULL, NULL, signed_entity, NULL, CMS_BINARY | CMS_NO_SIGNER_CERT_VERIFY);
    if (BIO_seek(signed_entity, 0) < 0) {
      g_set_error(error, SMIME_ERROR, SMIME_ERROR_INPUT, "cannot rewind a temporary file");
      return FALSE;
    }
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
    ok = CMS_verify(cms, NULL, NULL, econtent, signed_entity,
                    CMS_BINARY | CMS_NO_SIGNER_CERT_VERIFY);
    if (BIO_flush(signed_entity) != 1 || BIO_seek(signed_entity, 0) < 0) {
      g_set_error(error, SMIME_ERROR, SMIME_ERROR_INPUT, "cannot rewind a temporary file");
      return FALSE;
    }
  } else {
    v->code = SMIME_VERDICT_NOT_SIGNED;
    v->reason = g_strdup(GMIME_IS_PART(entity)
                             ? "not signed: the message is encrypted, not signed: decrypt it first"
                             : "not signed: the message is not signed");
    return TRUE;
  }

  judge(cms, ok, store, v);
  ERR_clear_error();
  if (content) {
    if (!smime_write_outer_headers(m, content, error) || BIO_puts(content, "MIME-Version: 1.0\n") < 0 ||
        !smime_bio_copy(signed_entity, content, error))
      return FALSE;
  }
  return TRUE;
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
  g_autoptr(CMS_ContentInfo) cms = smime_read_cms_der(libctx, signature, NULL, error);
  if (cms == NULL) {
    v->code = SMIME_VERDICT_MALFORMED;
    v->reason = g_strdup_printf("malformed: %s", (*error)->message);
    g_clear_error(error);
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
  int ok = CMS_verify(cms, NULL, NULL, content, NULL, CMS_BINARY | CMS_NO_SIGNER_CERT_VERIFY);
  judge(cms, ok, store, v);
  return TRUE;
}

gboolean smime_verify_bare(OSSL_LIB_CTX *libctx, BIO *der, const char *from, X509_STORE *store,
                           BIO *content, SmimeVerdict *v, GError **error)
{
  verdict_init_bare(v, from);
  v->opaque = TRUE;
  ERR_clear_error();
  g_autoptr(BIO) econtent = NULL;
  g_autoptr(CMS_ContentInfo) cms = smime_read_cms_der(libctx, der, &econtent, error);
  if (cms == NULL) {
    v->code = SMIME_VERDICT_MALFORMED;
    v->reason = g_strdup_printf("malformed: %s", (*error)->message);
    g_clear_error(error);
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
  g_autoptr(BIO) sink = content ? NULL : BIO_new(BIO_s_null());
  int ok = CMS_verify(cms, NULL, NULL, econtent, content ? content : sink,
                      CMS_BINARY | CMS_NO_SIGNER_CERT_VERIFY);
  judge(cms, ok, store, v);
  if (content && BIO_flush(content) != 1) {
    g_set_error(error, SMIME_ERROR, SMIME_ERROR_INPUT, "cannot write the content");
    return FALSE;
  }
  return TRUE;
}
