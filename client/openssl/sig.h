/* The signature context, shared by signature.c (operations),
 * sig-params.c (ctx parameters) and sig-algid.c (AlgorithmIdentifier). */
#pragma once

#include "prov.h"

typedef struct {
  tprov_ctx *prov;
  uint8_t type;       /* TPROTO_KEY_RSA (RSA signature) or TPROTO_KEY_EC (ECDSA) */
  tprov_key *key;     /* borrowed: the EVP_PKEY_CTX holds the EVP_PKEY */
  int pad;            /* RSA: RSA_PKCS1_PADDING or RSA_PKCS1_PSS_PADDING */
  EVP_MD *md;         /* NULL until set */
  EVP_MD *mgf1;       /* PSS; NULL = md */
  int saltlen;        /* PSS: bytes, or RSA_PSS_SALTLEN_DIGEST/_AUTO/_MAX */
  EVP_MD_CTX *mdctx;  /* digest_sign_*: the local hash */
} tprov_sig;

int tprov_sig_set_params(tprov_sig *s, const OSSL_PARAM params[]);
int tprov_sig_get_params(tprov_sig *s, OSSL_PARAM params[]);
const OSSL_PARAM *tprov_sig_settable(uint8_t type);
const OSSL_PARAM *tprov_sig_gettable(uint8_t type);

/* The digest a bare digest of tbslen bytes was made with: s->md, else
 * guessed from the length. NULL with an error raised. */
const EVP_MD *tprov_sig_md(tprov_sig *s, size_t tbslen);
/* PSS salt length in bytes for md and the key, from s->saltlen; -1 with
 * an error raised if impossible. */
int tprov_sig_pss_salt(const tprov_sig *s, const EVP_MD *md);
/* DER AlgorithmIdentifier of the signature s makes; its length and
 * *der (OPENSSL_free), or -1 (nothing raised: the caller decides). */
int tprov_sig_algorithm_id(const tprov_sig *s, unsigned char **der);
