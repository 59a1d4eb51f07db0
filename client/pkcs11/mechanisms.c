/* tessera-pkcs11 — the mechanisms the module offers and what each means
 * on the wire: the agent signs digests, the module does the hashing. */
#include "p11.h"

#include <stddef.h>

#define SIGN CKF_SIGN
#define RSA TPROTO_KEY_RSA
#define EC TPROTO_KEY_EC

static const p11_mechanism mechanisms[] = {
  { CKM_RSA_PKCS, RSA, CKF_SIGN | CKF_DECRYPT, TPROTO_MECH_RSA_PKCS, TPROTO_HASH_NONE, false },
  { CKM_SHA1_RSA_PKCS, RSA, SIGN, TPROTO_MECH_RSA_PKCS, TPROTO_HASH_SHA1, false },
  { CKM_SHA224_RSA_PKCS, RSA, SIGN, TPROTO_MECH_RSA_PKCS, TPROTO_HASH_SHA224, false },
  { CKM_SHA256_RSA_PKCS, RSA, SIGN, TPROTO_MECH_RSA_PKCS, TPROTO_HASH_SHA256, false },
  { CKM_SHA384_RSA_PKCS, RSA, SIGN, TPROTO_MECH_RSA_PKCS, TPROTO_HASH_SHA384, false },
  { CKM_SHA512_RSA_PKCS, RSA, SIGN, TPROTO_MECH_RSA_PKCS, TPROTO_HASH_SHA512, false },
  { CKM_RSA_PKCS_PSS, RSA, SIGN, TPROTO_MECH_RSA_PSS, TPROTO_HASH_NONE, true },
  { CKM_SHA1_RSA_PKCS_PSS, RSA, SIGN, TPROTO_MECH_RSA_PSS, TPROTO_HASH_SHA1, true },
  { CKM_SHA224_RSA_PKCS_PSS, RSA, SIGN, TPROTO_MECH_RSA_PSS, TPROTO_HASH_SHA224, true },
  { CKM_SHA256_RSA_PKCS_PSS, RSA, SIGN, TPROTO_MECH_RSA_PSS, TPROTO_HASH_SHA256, true },
  { CKM_SHA384_RSA_PKCS_PSS, RSA, SIGN, TPROTO_MECH_RSA_PSS, TPROTO_HASH_SHA384, true },
  { CKM_SHA512_RSA_PKCS_PSS, RSA, SIGN, TPROTO_MECH_RSA_PSS, TPROTO_HASH_SHA512, true },
  { CKM_RSA_PKCS_OAEP, RSA, CKF_DECRYPT, TPROTO_MECH_RSA_OAEP, TPROTO_HASH_NONE, false },
  { CKM_ECDSA, EC, SIGN, TPROTO_MECH_ECDSA, TPROTO_HASH_NONE, false },
  { CKM_ECDSA_SHA1, EC, SIGN, TPROTO_MECH_ECDSA, TPROTO_HASH_SHA1, false },
  { CKM_ECDSA_SHA224, EC, SIGN, TPROTO_MECH_ECDSA, TPROTO_HASH_SHA224, false },
  { CKM_ECDSA_SHA256, EC, SIGN, TPROTO_MECH_ECDSA, TPROTO_HASH_SHA256, false },
  { CKM_ECDSA_SHA384, EC, SIGN, TPROTO_MECH_ECDSA, TPROTO_HASH_SHA384, false },
  { CKM_ECDSA_SHA512, EC, SIGN, TPROTO_MECH_ECDSA, TPROTO_HASH_SHA512, false },
  { CKM_ECDH1_DERIVE, EC, CKF_DERIVE, TPROTO_MECH_ECDH, TPROTO_HASH_NONE, false },
};

const p11_mechanism *p11_mechanism_find(CK_MECHANISM_TYPE type)
{
  for (size_t i = 0; i < sizeof(mechanisms) / sizeof(mechanisms[0]); i++)
    if (mechanisms[i].type == type)
      return &mechanisms[i];
  return NULL;
}

size_t p11_mechanism_list(unsigned key_types, CK_MECHANISM_TYPE *out, size_t max)
{
  size_t n = 0;
  for (size_t i = 0; i < sizeof(mechanisms) / sizeof(mechanisms[0]); i++) {
    if (!(key_types & (1u << mechanisms[i].key_type)))
      continue;
    if (out && n < max)
      out[n] = mechanisms[i].type;
    n++;
  }
  return n;
}

const char *p11_hash_name(uint8_t hash)
{
  switch (hash) {
  case TPROTO_HASH_SHA1: return "SHA1";
  case TPROTO_HASH_SHA224: return "SHA224";
  case TPROTO_HASH_SHA256: return "SHA256";
  case TPROTO_HASH_SHA384: return "SHA384";
  case TPROTO_HASH_SHA512: return "SHA512";
  default: return NULL;
  }
}

uint8_t p11_hash_from_ckm(CK_MECHANISM_TYPE m)
{
  switch (m) {
  case CKM_SHA_1: return TPROTO_HASH_SHA1;
  case CKM_SHA224: return TPROTO_HASH_SHA224;
  case CKM_SHA256: return TPROTO_HASH_SHA256;
  case CKM_SHA384: return TPROTO_HASH_SHA384;
  case CKM_SHA512: return TPROTO_HASH_SHA512;
  default: return TPROTO_HASH_NONE;
  }
}

uint8_t p11_hash_from_mgf(CK_RSA_PKCS_MGF_TYPE m)
{
  switch (m) {
  case CKG_MGF1_SHA1: return TPROTO_HASH_SHA1;
  case CKG_MGF1_SHA224: return TPROTO_HASH_SHA224;
  case CKG_MGF1_SHA256: return TPROTO_HASH_SHA256;
  case CKG_MGF1_SHA384: return TPROTO_HASH_SHA384;
  case CKG_MGF1_SHA512: return TPROTO_HASH_SHA512;
  default: return TPROTO_HASH_NONE;
  }
}
