/* Signature context parameters: digest, RSA padding, PSS salt length and
 * MGF1 digest (as EVP_PKEY_CTX_set_rsa_* send them, as integers or as
 * strings), and the AlgorithmIdentifier CMS and X.509 signing ask for. */
#include "sig.h"

#include "messages.h"

#include <openssl/core_names.h>
#include <openssl/params.h>
#include <openssl/rsa.h>
#include <stdlib.h>
#include <string.h>

static const struct {
  const char *name;
  int pad;
} pads[] = {
  { OSSL_PKEY_RSA_PAD_MODE_PKCSV15, RSA_PKCS1_PADDING },
  { OSSL_PKEY_RSA_PAD_MODE_PSS, RSA_PKCS1_PSS_PADDING },
};

static const struct {
  const char *name;
  int len;
} salts[] = {
  { OSSL_PKEY_RSA_PSS_SALT_LEN_DIGEST, RSA_PSS_SALTLEN_DIGEST },
  { OSSL_PKEY_RSA_PSS_SALT_LEN_MAX, RSA_PSS_SALTLEN_MAX },
  { OSSL_PKEY_RSA_PSS_SALT_LEN_AUTO, RSA_PSS_SALTLEN_AUTO },
};

#define N_OF(a) (sizeof(a) / sizeof((a)[0]))

static int get_name(const OSSL_PARAM *p, char *buf, size_t size)
{
  char *b = buf;
  return OSSL_PARAM_get_utf8_string(p, &b, size);
}

static int set_md(tprov_sig *s, EVP_MD **slot, const OSSL_PARAM *p)
{
  char name[80];
  if (!get_name(p, name, sizeof(name)))
    return 0;
  /* The local hash of digest_sign has started with the digest it has. */
  if (slot == &s->md && s->mdctx != NULL && !(s->md && EVP_MD_is_a(s->md, name))) {
    tprov_raise(s->prov, TPROV_R_UNSUPPORTED, "changing the digest of a digest-sign");
    return 0;
  }
  EVP_MD *md = tprov_fetch_md(s->prov, name);
  if (md == NULL)
    return 0;
  EVP_MD_free(*slot);
  *slot = md;
  return 1;
}

static int set_pad(tprov_sig *s, const OSSL_PARAM *p)
{
  int pad = 0;
  if (p->data_type == OSSL_PARAM_UTF8_STRING) {
    for (size_t i = 0; i < N_OF(pads); i++)
      if (strcmp(p->data, pads[i].name) == 0)
        pad = pads[i].pad;
  } else if (!OSSL_PARAM_get_int(p, &pad)) {
    return 0;
  }
  if (pad != RSA_PKCS1_PADDING && pad != RSA_PKCS1_PSS_PADDING) {
    tprov_raise(s->prov, TPROV_R_UNSUPPORTED, "RSA signature padding");
    return 0;
  }
  s->pad = pad;
  return 1;
}

static int set_salt(tprov_sig *s, const OSSL_PARAM *p)
{
  int len = 0;
  if (p->data_type == OSSL_PARAM_UTF8_STRING) {
    size_t i = 0;
    while (i < N_OF(salts) && strcmp(p->data, salts[i].name) != 0)
      i++;
    if (i < N_OF(salts)) {
      len = salts[i].len;
    } else {
      char *end = NULL;
      long v = strtol(p->data, &end, 10);
      if (end == p->data || *end != '\0' || v < 0 || v > 65536)
        return 0;
      len = (int)v;
    }
  } else if (!OSSL_PARAM_get_int(p, &len)) {
    return 0;
  }
  if (len < RSA_PSS_SALTLEN_MAX) {
    tprov_raise(s->prov, TPROV_R_UNSUPPORTED, "PSS salt length %d", len);
    return 0;
  }
  s->saltlen = len;
  return 1;
}

int tprov_sig_set_params(tprov_sig *s, const OSSL_PARAM params[])
{
  if (params == NULL)
    return 1;
  const OSSL_PARAM *p = OSSL_PARAM_locate_const(params, OSSL_SIGNATURE_PARAM_DIGEST);
  if (p != NULL && !set_md(s, &s->md, p))
    return 0;
  if (s->type != TPROTO_KEY_RSA)
    return 1;
  p = OSSL_PARAM_locate_const(params, OSSL_SIGNATURE_PARAM_PAD_MODE);
  if (p != NULL && !set_pad(s, p))
    return 0;
  p = OSSL_PARAM_locate_const(params, OSSL_SIGNATURE_PARAM_PSS_SALTLEN);
  if (p != NULL && !set_salt(s, p))
    return 0;
  p = OSSL_PARAM_locate_const(params, OSSL_SIGNATURE_PARAM_MGF1_DIGEST);
  if (p != NULL && !set_md(s, &s->mgf1, p))
    return 0;
  return 1;
}

static int get_algorithm_id(const tprov_sig *s, OSSL_PARAM *p)
{
  if (s->md == NULL)
    return 1; /* not known before the digest is */
  unsigned char *der = NULL;
  int len = tprov_sig_algorithm_id(s, &der);
  int ok = len > 0 && OSSL_PARAM_set_octet_string(p, der, (size_t)len);
  OPENSSL_free(der);
  if (!ok)
    tprov_raise(s->prov, TPROV_R_INTERNAL, "no AlgorithmIdentifier for this signature");
  return ok;
}

static int get_pad(const tprov_sig *s, OSSL_PARAM *p)
{
  if (p->data_type != OSSL_PARAM_UTF8_STRING)
    return OSSL_PARAM_set_int(p, s->pad);
  for (size_t i = 0; i < N_OF(pads); i++)
    if (pads[i].pad == s->pad)
      return OSSL_PARAM_set_utf8_string(p, pads[i].name);
  return 0;
}

static int get_salt(const tprov_sig *s, OSSL_PARAM *p)
{
  if (p->data_type != OSSL_PARAM_UTF8_STRING)
    return OSSL_PARAM_set_int(p, s->saltlen);
  for (size_t i = 0; i < N_OF(salts); i++)
    if (salts[i].len == s->saltlen)
      return OSSL_PARAM_set_utf8_string(p, salts[i].name);
  char num[16];
  snprintf(num, sizeof(num), "%d", s->saltlen);
  return OSSL_PARAM_set_utf8_string(p, num);
}

int tprov_sig_get_params(tprov_sig *s, OSSL_PARAM params[])
{
  OSSL_PARAM *p = OSSL_PARAM_locate(params, OSSL_SIGNATURE_PARAM_ALGORITHM_ID);
  if (p != NULL && !get_algorithm_id(s, p))
    return 0;
  p = OSSL_PARAM_locate(params, OSSL_SIGNATURE_PARAM_DIGEST);
  if (p != NULL && s->md != NULL && !OSSL_PARAM_set_utf8_string(p, EVP_MD_get0_name(s->md)))
    return 0;
  if (s->type != TPROTO_KEY_RSA)
    return 1;
  p = OSSL_PARAM_locate(params, OSSL_SIGNATURE_PARAM_PAD_MODE);
  if (p != NULL && !get_pad(s, p))
    return 0;
  p = OSSL_PARAM_locate(params, OSSL_SIGNATURE_PARAM_PSS_SALTLEN);
  if (p != NULL && !get_salt(s, p))
    return 0;
  p = OSSL_PARAM_locate(params, OSSL_SIGNATURE_PARAM_MGF1_DIGEST);
  const EVP_MD *mgf1 = s->mgf1 ? s->mgf1 : s->md;
  if (p != NULL && mgf1 != NULL && !OSSL_PARAM_set_utf8_string(p, EVP_MD_get0_name(mgf1)))
    return 0;
  return 1;
}

static const OSSL_PARAM rsa_settable[] = {
  OSSL_PARAM_utf8_string(OSSL_SIGNATURE_PARAM_DIGEST, NULL, 0),
  OSSL_PARAM_utf8_string(OSSL_SIGNATURE_PARAM_PROPERTIES, NULL, 0),
  OSSL_PARAM_utf8_string(OSSL_SIGNATURE_PARAM_PAD_MODE, NULL, 0),
  OSSL_PARAM_utf8_string(OSSL_SIGNATURE_PARAM_PSS_SALTLEN, NULL, 0),
  OSSL_PARAM_utf8_string(OSSL_SIGNATURE_PARAM_MGF1_DIGEST, NULL, 0),
  OSSL_PARAM_utf8_string(OSSL_SIGNATURE_PARAM_MGF1_PROPERTIES, NULL, 0),
  OSSL_PARAM_END,
};
static const OSSL_PARAM ecdsa_settable[] = {
  OSSL_PARAM_utf8_string(OSSL_SIGNATURE_PARAM_DIGEST, NULL, 0),
  OSSL_PARAM_utf8_string(OSSL_SIGNATURE_PARAM_PROPERTIES, NULL, 0),
  OSSL_PARAM_END,
};
static const OSSL_PARAM rsa_gettable[] = {
  OSSL_PARAM_octet_string(OSSL_SIGNATURE_PARAM_ALGORITHM_ID, NULL, 0),
  OSSL_PARAM_utf8_string(OSSL_SIGNATURE_PARAM_DIGEST, NULL, 0),
  OSSL_PARAM_utf8_string(OSSL_SIGNATURE_PARAM_PAD_MODE, NULL, 0),
  OSSL_PARAM_utf8_string(OSSL_SIGNATURE_PARAM_PSS_SALTLEN, NULL, 0),
  OSSL_PARAM_utf8_string(OSSL_SIGNATURE_PARAM_MGF1_DIGEST, NULL, 0),
  OSSL_PARAM_END,
};
static const OSSL_PARAM ecdsa_gettable[] = {
  OSSL_PARAM_octet_string(OSSL_SIGNATURE_PARAM_ALGORITHM_ID, NULL, 0),
  OSSL_PARAM_utf8_string(OSSL_SIGNATURE_PARAM_DIGEST, NULL, 0),
  OSSL_PARAM_END,
};

const OSSL_PARAM *tprov_sig_settable(uint8_t type)
{
  return type == TPROTO_KEY_RSA ? rsa_settable : ecdsa_settable;
}

const OSSL_PARAM *tprov_sig_gettable(uint8_t type)
{
  return type == TPROTO_KEY_RSA ? rsa_gettable : ecdsa_gettable;
}
