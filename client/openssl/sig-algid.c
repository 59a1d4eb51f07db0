/* What a signature context signs with: its digest, the PSS salt length,
 * and the DER AlgorithmIdentifier naming it all (RFC 3279, RFC 4055). */
#include "sig.h"

#include "messages.h"

#include <openssl/objects.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

const EVP_MD *tprov_sig_md(tprov_sig *s, size_t tbslen)
{
  if (s->md == NULL) {
    const char *name = tprov_md_name_for_len(tbslen);
    if (name == NULL) {
      tprov_raise(s->prov, TPROV_R_BAD_ARGUMENT, "%zu bytes are no digest", tbslen);
      return NULL;
    }
    s->md = tprov_fetch_md(s->prov, name);
  } else if ((size_t)EVP_MD_get_size(s->md) != tbslen) {
    tprov_raise(s->prov, TPROV_R_BAD_ARGUMENT, "%zu bytes are no %s digest", tbslen,
                EVP_MD_get0_name(s->md));
    return NULL;
  }
  return s->md;
}

int tprov_sig_pss_salt(const tprov_sig *s, const EVP_MD *md)
{
  int hlen = EVP_MD_get_size(md);
  int em_len = (EVP_PKEY_get_bits(s->key->pub) - 1 + 7) / 8;
  int max = em_len - hlen - 2;
  int salt = s->saltlen;
  if (salt == RSA_PSS_SALTLEN_DIGEST)
    salt = hlen;
  else if (salt == RSA_PSS_SALTLEN_MAX || salt == RSA_PSS_SALTLEN_AUTO)
    salt = max;
  if (hlen <= 0 || salt < 0 || salt > max) {
    tprov_raise(s->prov, TPROV_R_BAD_ARGUMENT, "PSS salt length %d for this key", salt);
    return -1;
  }
  return salt;
}

static X509_ALGOR *md_algor(const EVP_MD *md)
{
  X509_ALGOR *a = X509_ALGOR_new();
  if (a != NULL)
    X509_ALGOR_set_md(a, md);
  return a;
}

/* RSASSA-PSS-params, defaults (SHA-1, MGF1 with SHA-1, 20) left out. */
static ASN1_STRING *pss_params(const tprov_sig *s)
{
  const EVP_MD *mgf1 = s->mgf1 ? s->mgf1 : s->md;
  int salt = tprov_sig_pss_salt(s, s->md);
  RSA_PSS_PARAMS *pss = RSA_PSS_PARAMS_new();
  X509_ALGOR *mgf1_md = NULL;
  ASN1_STRING *mgf1_der = NULL, *out = NULL;
  if (pss == NULL || salt < 0)
    goto done;
  if (!EVP_MD_is_a(s->md, "SHA1") && (pss->hashAlgorithm = md_algor(s->md)) == NULL)
    goto done;
  if (!EVP_MD_is_a(mgf1, "SHA1")) {
    if ((mgf1_md = md_algor(mgf1)) == NULL ||
        (mgf1_der = ASN1_item_pack(mgf1_md, ASN1_ITEM_rptr(X509_ALGOR), NULL)) == NULL ||
        (pss->maskGenAlgorithm = X509_ALGOR_new()) == NULL ||
        !X509_ALGOR_set0(pss->maskGenAlgorithm, OBJ_nid2obj(NID_mgf1), V_ASN1_SEQUENCE,
                         mgf1_der))
      goto done;
    mgf1_der = NULL; /* owned by the AlgorithmIdentifier */
  }
  if (salt != 20 && ((pss->saltLength = ASN1_INTEGER_new()) == NULL ||
                     !ASN1_INTEGER_set(pss->saltLength, salt)))
    goto done;
  out = ASN1_item_pack(pss, ASN1_ITEM_rptr(RSA_PSS_PARAMS), NULL);
done:
  ASN1_STRING_free(mgf1_der);
  X509_ALGOR_free(mgf1_md);
  RSA_PSS_PARAMS_free(pss);
  return out;
}

int tprov_sig_algorithm_id(const tprov_sig *s, unsigned char **der)
{
  *der = NULL;
  X509_ALGOR *alg = X509_ALGOR_new();
  int ok = 0, len = -1;
  if (alg == NULL || s->md == NULL)
    goto done;
  if (s->type == TPROTO_KEY_RSA && s->pad == RSA_PKCS1_PSS_PADDING) {
    ASN1_STRING *params = pss_params(s);
    ok = params != NULL && X509_ALGOR_set0(alg, OBJ_nid2obj(NID_rsassaPss), V_ASN1_SEQUENCE, params);
    if (!ok)
      ASN1_STRING_free(params);
  } else {
    int pk_nid = s->type == TPROTO_KEY_RSA ? NID_rsaEncryption : NID_X9_62_id_ecPublicKey;
    int sig_nid = NID_undef;
    /* RFC 3279: NULL parameters for RSA, none for ECDSA. */
    ok = OBJ_find_sigid_by_algs(&sig_nid, EVP_MD_get_type(s->md), pk_nid) &&
         X509_ALGOR_set0(alg, OBJ_nid2obj(sig_nid),
                         s->type == TPROTO_KEY_RSA ? V_ASN1_NULL : V_ASN1_UNDEF, NULL);
  }
  if (ok)
    len = i2d_X509_ALGOR(alg, der);
done:
  X509_ALGOR_free(alg);
  return len > 0 ? len : -1;
}
