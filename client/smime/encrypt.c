/* tessera smime — EnvelopedData (AES-256-CBC) or AuthEnvelopedData
 * (AES-256-GCM, RFC 8551) to the recipients' certificates: RSA key
 * transport (PKCS#1 v1.5 or OAEP) and ECDH key agreement. Public-key and
 * symmetric work only: no agent. Streamed. */
#include "smime.h"

#include <openssl/ec.h>
#include <openssl/rsa.h>

gboolean smime_encrypt_entity(const SmimeEncryptOptions *o, BIO *entity, BIO *out, GError **error)
{
  unsigned int flags = CMS_PARTIAL | CMS_STREAM | CMS_BINARY;
  EVP_CIPHER *cipher = EVP_CIPHER_fetch(o->libctx, o->gcm ? "AES-256-GCM" : "AES-256-CBC", NULL);
  gboolean ok = FALSE;
  CMS_ContentInfo *cms = cipher ? CMS_encrypt_ex(NULL, NULL, cipher, flags, o->libctx, NULL) : NULL;
  if (cms == NULL) {
    smime_set_ossl_error(error, SMIME_ERROR_CRYPTO, "cannot set up the encryption");
    goto out;
  }
  for (int i = 0; i < sk_X509_num(o->recipients); i++) {
    X509 *x = sk_X509_value(o->recipients, i);
    EVP_PKEY *pub = X509_get0_pubkey(x);
    gboolean rsa = pub && EVP_PKEY_is_a(pub, "RSA");
    gboolean ec = pub && EVP_PKEY_is_a(pub, "EC");
    unsigned int rflags = flags | ((rsa && o->oaep) || ec ? CMS_KEY_PARAM : 0);
    CMS_RecipientInfo *ri = CMS_add1_recipient_cert(cms, x, rflags);
    if (ri == NULL) {
      char subject[256];
      X509_NAME_oneline(X509_get_subject_name(x), subject, sizeof(subject));
      smime_set_ossl_error(error, SMIME_ERROR_CRYPTO, "cannot encrypt to %s", subject);
      goto out;
    }
    EVP_PKEY_CTX *pctx = CMS_RecipientInfo_get0_pkey_ctx(ri);
    if (rsa && o->oaep &&
        (pctx == NULL || EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_OAEP_PADDING) <= 0 ||
         EVP_PKEY_CTX_set_rsa_oaep_md(pctx, EVP_sha256()) <= 0 ||
         EVP_PKEY_CTX_set_rsa_mgf1_md(pctx, EVP_sha256()) <= 0)) {
      smime_set_ossl_error(error, SMIME_ERROR_CRYPTO, "cannot set up RSA-OAEP");
      goto out;
    }
    /* dhSinglePass-stdDH-sha256kdf-scheme rather than OpenSSL's SHA-1
     * default (RFC 8551 2.7.1.2 recommends SHA-256). */
    if (ec && (pctx == NULL || EVP_PKEY_CTX_set_ecdh_kdf_md(pctx, EVP_sha256()) <= 0)) {
      smime_set_ossl_error(error, SMIME_ERROR_CRYPTO, "cannot set up ECDH");
      goto out;
    }
  }
  int written = o->der ? i2d_CMS_bio_stream(out, cms, entity, flags)
                       : SMIME_write_CMS(out, cms, entity, flags);
  if (written != 1 || BIO_flush(out) != 1) {
    smime_set_ossl_error(error, SMIME_ERROR_CRYPTO, "encryption failed");
    goto out;
  }
  /* OpenSSL takes a read error for the end: never encrypt a short message. */
  if (BIO_eof(entity) != 1) {
    g_set_error(error, SMIME_ERROR, SMIME_ERROR_INPUT, "the message could not be read to its end");
    goto out;
  }
  ok = TRUE;
out:
  CMS_ContentInfo_free(cms);
  EVP_CIPHER_free(cipher);
  return ok;
}
