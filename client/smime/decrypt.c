/* tessera smime — EnvelopedData / AuthEnvelopedData: the key is found among
 * all of the user's keys (old ones too) by the RecipientInfos' issuer and
 * serial or subjectKeyIdentifier; RSA decryption or ECDH derivation runs
 * on the card, the content decryption here. */
#include "smime.h"

#include "agent-key.h"

#include <openssl/err.h>
#include <openssl/pem.h>
#include <string.h>

static gboolean is_pkcs7_mime(GMimeObject *o)
{
  GMimeContentType *ct = g_mime_object_get_content_type(o);
  if (ct == NULL)
    return FALSE;
  const char *type = g_mime_content_type_get_media_type(ct);
  const char *sub = g_mime_content_type_get_media_subtype(ct);
  if (type == NULL || sub == NULL || g_ascii_strcasecmp(type, "application") != 0)
    return FALSE;
  if (g_ascii_strcasecmp(sub, "pkcs7-mime") == 0 || g_ascii_strcasecmp(sub, "x-pkcs7-mime") == 0)
    return TRUE;
  const char *name = g_mime_content_type_get_parameter(ct, "name");
  return g_ascii_strcasecmp(sub, "octet-stream") == 0 && name && g_str_has_suffix(name, ".p7m");
}

CMS_ContentInfo *smime_read_cms_part(OSSL_LIB_CTX *libctx, GMimeObject *entity, BIO **content,
                                     GError **error)
{
  if (content)
    *content = NULL;
  if (!GMIME_IS_PART(entity) || !is_pkcs7_mime(entity)) {
    g_set_error(error, SMIME_ERROR, SMIME_ERROR_INPUT,
                "the message is not S/MIME (its body is not application/pkcs7-mime)");
    return NULL;
  }
  g_autoptr(BIO) der = smime_part_content_bio(GMIME_PART(entity), error);
  if (der == NULL)
    return NULL;
  CMS_ContentInfo *cms = smime_read_cms_der(libctx, der, content, error);
  if (cms == NULL)
    g_prefix_error(error, "the S/MIME part: ");
  return cms;
}

CMS_ContentInfo *smime_read_cms_der(OSSL_LIB_CTX *libctx, BIO *der, BIO **content,
                                    GError **error)
{
  if (content)
    *content = NULL;
  if (content) {
    CMS_ContentInfo *split = smime_split_content(libctx, der, content);
    if (split)
      return split;
    ERR_clear_error();
  }
  /* DER, else PEM (openssl cms -outform PEM); the split moved the offset. */
  CMS_ContentInfo *cms = CMS_ContentInfo_new_ex(libctx, NULL);
  if (cms && BIO_seek(der, 0) >= 0 && d2i_CMS_bio(der, &cms) != NULL)
    return cms;
  if (cms && BIO_seek(der, 0) >= 0 && PEM_read_bio_CMS(der, &cms, NULL, NULL) != NULL) {
    ERR_clear_error();
    return cms;
  }
  CMS_ContentInfo_free(cms);
  smime_set_ossl_error(error, SMIME_ERROR_INPUT, "not valid CMS (truncated or damaged)");
  return NULL;
}

static gboolean ri_matches(CMS_RecipientInfo *ri, X509 *cert)
{
  switch (CMS_RecipientInfo_type(ri)) {
  case CMS_RECIPINFO_TRANS: return CMS_RecipientInfo_ktri_cert_cmp(ri, cert) == 0;
  case CMS_RECIPINFO_AGREE: {
    STACK_OF(CMS_RecipientEncryptedKey) *reks = CMS_RecipientInfo_kari_get0_reks(ri);
    for (int i = 0; i < sk_CMS_RecipientEncryptedKey_num(reks); i++)
      if (CMS_RecipientEncryptedKey_cert_cmp(sk_CMS_RecipientEncryptedKey_value(reks, i), cert) == 0)
        return TRUE;
    return FALSE;
  }
  default: return FALSE;
  }
}

static char *describe_id(ASN1_OCTET_STRING *keyid, X509_NAME *issuer, ASN1_INTEGER *serial)
{
  if (issuer && serial) {
    char name[256];
    X509_NAME_oneline(issuer, name, sizeof(name));
    BIGNUM *bn = ASN1_INTEGER_to_BN(serial, NULL);
    char *hex = bn ? BN_bn2hex(bn) : NULL;
    char *s = g_strdup_printf("issuer %s serial %s", name, hex ? hex : "?");
    OPENSSL_free(hex);
    BN_free(bn);
    return s;
  }
  if (keyid) {
    GString *s = g_string_new("subjectKeyIdentifier ");
    for (int i = 0; i < ASN1_STRING_length(keyid); i++)
      g_string_append_printf(s, "%02X", ASN1_STRING_get0_data(keyid)[i]);
    return g_string_free(s, FALSE);
  }
  return g_strdup("an unnamed recipient");
}

/* "issuer ... serial ...; ..." for the error when no key matches. */
static char *describe_recipients(CMS_ContentInfo *cms)
{
  STACK_OF(CMS_RecipientInfo) *ris = CMS_get0_RecipientInfos(cms);
  GString *s = g_string_new(NULL);
  for (int i = 0; i < sk_CMS_RecipientInfo_num(ris); i++) {
    CMS_RecipientInfo *ri = sk_CMS_RecipientInfo_value(ris, i);
    ASN1_OCTET_STRING *keyid = NULL;
    X509_NAME *issuer = NULL;
    ASN1_INTEGER *serial = NULL;
    int type = CMS_RecipientInfo_type(ri);
    if (type == CMS_RECIPINFO_TRANS) {
      if (CMS_RecipientInfo_ktri_get0_signer_id(ri, &keyid, &issuer, &serial) == 1) {
        g_autofree char *d = describe_id(keyid, issuer, serial);
        g_string_append_printf(s, "%s%s (key transport)", s->len ? "; " : "", d);
      }
    } else if (type == CMS_RECIPINFO_AGREE) {
      STACK_OF(CMS_RecipientEncryptedKey) *reks = CMS_RecipientInfo_kari_get0_reks(ri);
      for (int j = 0; j < sk_CMS_RecipientEncryptedKey_num(reks); j++) {
        keyid = NULL, issuer = NULL, serial = NULL;
        if (CMS_RecipientEncryptedKey_get0_id(sk_CMS_RecipientEncryptedKey_value(reks, j), &keyid,
                                              NULL, NULL, &issuer, &serial) == 1) {
          g_autofree char *d = describe_id(keyid, issuer, serial);
          g_string_append_printf(s, "%s%s (key agreement)", s->len ? "; " : "", d);
        }
      }
    } else {
      g_string_append_printf(s, "%sa recipient of another kind (password or KEK)",
                             s->len ? "; " : "");
    }
  }
  return g_string_free(s, FALSE);
}

gboolean smime_decrypt_cms(OSSL_LIB_CTX *libctx, tessera_client *c, const CliKeys *keys,
                           CMS_ContentInfo *cms, BIO *dcont, BIO *out, char **used_key,
                           GError **error)
{
  int type = OBJ_obj2nid(CMS_get0_type(cms));
  if (type != NID_pkcs7_enveloped && type != NID_id_smime_ct_authEnvelopedData) {
    g_set_error(error, SMIME_ERROR, SMIME_ERROR_INPUT,
                "the message is not encrypted (its CMS content is %s)",
                OBJ_nid2ln(type) ? OBJ_nid2ln(type) : "unknown");
    return FALSE;
  }
  STACK_OF(CMS_RecipientInfo) *ris = CMS_get0_RecipientInfos(cms);
  /* Present cards first, then the rest (the agent asks for the card). */
  for (int pass = 0; pass < 2; pass++) {
    for (size_t i = 0; i < keys->n; i++) {
      const tessera_key *k = &keys->items[i];
      gboolean present = (k->flags & TPROTO_KEY_AVAILABLE) != 0;
      if (k->cert == NULL || present != (pass == 0))
        continue;
      const unsigned char *p = k->cert;
      X509 *cert = d2i_X509(NULL, &p, (long)k->cert_len);
      if (cert == NULL) {
        ERR_clear_error();
        continue;
      }
      gboolean match = FALSE;
      for (int j = 0; j < sk_CMS_RecipientInfo_num(ris) && !match; j++)
        match = ri_matches(sk_CMS_RecipientInfo_value(ris, j), cert);
      if (!match) {
        X509_free(cert);
        continue;
      }
      EVP_PKEY *pkey = tessera_ossl_key(libctx, c, k);
      gboolean ok = pkey && CMS_decrypt(cms, pkey, cert, dcont, out,
                                        CMS_BINARY | CMS_DEBUG_DECRYPT) == 1;
      EVP_PKEY_free(pkey);
      X509_free(cert);
      if (!ok) {
        smime_set_ossl_error(error, SMIME_ERROR_CRYPTO, "decryption with %s failed", k->label);
        return FALSE;
      }
      if (used_key)
        *used_key = g_strdup(k->label);
      return TRUE;
    }
  }
  g_autofree char *who = describe_recipients(cms);
  g_set_error(error, SMIME_ERROR, SMIME_ERROR_NOT_RECIPIENT,
              "the message is not encrypted to any of your keys; it is encrypted to: %s",
              who && *who ? who : "nobody");
  return FALSE;
}
