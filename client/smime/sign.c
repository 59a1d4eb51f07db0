/* tessera smime — SignedData over a canonical MIME entity, the private-key
 * operation through the agent; multipart/signed (detached) or opaque
 * application/pkcs7-mime, streamed: the entity goes through the digest
 * and out in one pass. */
#include "smime.h"

#include "agent-key.h"

#include <openssl/err.h>
#include <openssl/rsa.h>
#include <string.h>

/* SMIMEEncryptionKeyPreference (RFC 8551 2.5.3) as issuerAndSerialNumber
 * [0] IMPLICIT: the certificate others should encrypt to. */
static gboolean add_encryption_key_preference(CMS_SignerInfo *si, X509 *enc, GError **error)
{
  unsigned char *name = NULL, *serial = NULL;
  int name_len = i2d_X509_NAME(X509_get_issuer_name(enc), &name);
  int serial_len = i2d_ASN1_INTEGER(X509_get0_serialNumber(enc), &serial);
  gboolean ok = FALSE;
  if (name_len > 0 && serial_len > 0) {
    size_t body = (size_t)name_len + (size_t)serial_len;
    GByteArray *der = g_byte_array_new();
    guint8 tag = 0xa0;
    g_byte_array_append(der, &tag, 1);
    guint8 len[5];
    size_t n = 0;
    if (body < 0x80) {
      len[n++] = (guint8)body;
    } else if (body < 0x100) {
      len[n++] = 0x81;
      len[n++] = (guint8)body;
    } else {
      len[n++] = 0x82;
      len[n++] = (guint8)(body >> 8);
      len[n++] = (guint8)body;
    }
    g_byte_array_append(der, len, (guint)n);
    g_byte_array_append(der, name, (guint)name_len);
    g_byte_array_append(der, serial, (guint)serial_len);
    ASN1_OBJECT *oid = OBJ_txt2obj("1.2.840.113549.1.9.16.2.11", 1);
    ok = oid && CMS_signed_add1_attr_by_OBJ(si, oid, V_ASN1_SEQUENCE, der->data, (int)der->len) == 1;
    ASN1_OBJECT_free(oid);
    g_byte_array_unref(der);
  }
  OPENSSL_free(name);
  OPENSSL_free(serial);
  if (!ok)
    smime_set_ossl_error(error, SMIME_ERROR_CRYPTO, "cannot add SMIMEEncryptionKeyPreference");
  return ok;
}

/* What we can decrypt, strongest first (RFC 8551 2.5.2). */
static gboolean add_capabilities(CMS_SignerInfo *si, GError **error)
{
  STACK_OF(X509_ALGOR) *caps = NULL;
  static const int nids[] = { NID_aes_256_gcm, NID_aes_128_gcm, NID_aes_256_cbc,
                              NID_aes_192_cbc, NID_aes_128_cbc };
  gboolean ok = TRUE;
  for (size_t i = 0; i < G_N_ELEMENTS(nids) && ok; i++)
    ok = CMS_add_simple_smimecap(&caps, nids[i], -1) == 1;
  ok = ok && CMS_add_smimecap(si, caps) == 1;
  sk_X509_ALGOR_pop_free(caps, X509_ALGOR_free);
  if (!ok)
    smime_set_ossl_error(error, SMIME_ERROR_CRYPTO, "cannot add SMIMECapabilities");
  return ok;
}

gboolean smime_sign_entity(const SmimeSignOptions *o, BIO *entity, BIO *out, GError **error)
{
  EVP_PKEY *pkey = tessera_ossl_key(o->libctx, o->c, o->key);
  if (pkey == NULL) {
    smime_set_ossl_error(error, SMIME_ERROR_CRYPTO, "cannot use the key %s", o->key->label);
    return FALSE;
  }
  if (o->pss && !EVP_PKEY_is_a(pkey, "RSA")) {
    EVP_PKEY_free(pkey);
    g_set_error(error, SMIME_ERROR, SMIME_ERROR_NO_CERT, "--pss needs an RSA key; %s is not one",
                o->key->label);
    return FALSE;
  }
  unsigned int flags = CMS_PARTIAL | CMS_STREAM | CMS_BINARY | CMS_NOSMIMECAP |
                       (o->opaque ? 0 : CMS_DETACHED);
  gboolean ok = FALSE;
  CMS_ContentInfo *cms = CMS_sign_ex(NULL, NULL, NULL, NULL, flags, o->libctx, NULL);
  CMS_SignerInfo *si = NULL;
  if (cms)
    si = CMS_add1_signer(cms, o->cert, pkey, o->md, flags | (o->pss ? CMS_KEY_PARAM : 0));
  if (si == NULL) {
    smime_set_ossl_error(error, SMIME_ERROR_CRYPTO, "cannot set up the signature");
    goto out;
  }
  if (o->pss) {
    EVP_PKEY_CTX *pctx = CMS_SignerInfo_get0_pkey_ctx(si);
    if (pctx == NULL || EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) <= 0 ||
        EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_DIGEST) <= 0 ||
        EVP_PKEY_CTX_set_rsa_mgf1_md(pctx, o->md) <= 0) {
      smime_set_ossl_error(error, SMIME_ERROR_CRYPTO, "cannot set up RSA-PSS");
      goto out;
    }
  }
  if (!add_capabilities(si, error))
    goto out;
  if (o->encryption_cert && !add_encryption_key_preference(si, o->encryption_cert, error))
    goto out;
  for (int i = 0; o->chain && i < sk_X509_num(o->chain); i++) {
    X509 *x = sk_X509_value(o->chain, i);
    /* The anchor itself is no help to the recipient. */
    if (X509_check_issued(x, x) == X509_V_OK || X509_cmp(x, o->cert) == 0)
      continue;
    if (CMS_add1_cert(cms, x) != 1) {
      smime_set_ossl_error(error, SMIME_ERROR_CRYPTO, "cannot add the chain");
      goto out;
    }
  }
  if (o->encryption_cert && X509_cmp(o->encryption_cert, o->cert) != 0 &&
      CMS_add1_cert(cms, o->encryption_cert) != 1) {
    smime_set_ossl_error(error, SMIME_ERROR_CRYPTO, "cannot add the encryption certificate");
    goto out;
  }
  /* The entity is signed while it is written (CMS_STREAM). */
  int written;
  if (!o->der)
    written = SMIME_write_CMS(out, cms, entity, flags | (o->crlf_eol ? CMS_CRLFEOL : 0));
  else if (o->opaque)
    written = i2d_CMS_bio_stream(out, cms, entity, flags);
  else /* streamed DER would carry the content; detached, it is only digested */
    written = CMS_final(cms, entity, NULL, flags) == 1 && i2d_CMS_bio(out, cms) == 1;
  if (written != 1 || BIO_flush(out) != 1) {
    smime_set_ossl_error(error, SMIME_ERROR_CRYPTO, "signing with %s failed", o->key->label);
    goto out;
  }
  /* OpenSSL takes a read error for the end: never sign a short message. */
  if (BIO_eof(entity) != 1) {
    g_set_error(error, SMIME_ERROR, SMIME_ERROR_INPUT, "the message could not be read to its end");
    goto out;
  }
  ok = TRUE;
out:
  CMS_ContentInfo_free(cms);
  EVP_PKEY_free(pkey);
  return ok;
}
