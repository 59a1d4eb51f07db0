/* DigestInfo ::= SEQUENCE { AlgorithmIdentifier (OID, NULL), OCTET STRING },
 * the structure X509_SIG encodes. */
#include "digest-info.h"

#include <openssl/objects.h>
#include <openssl/x509.h>

int digest_info_encode(int md_nid, const uint8_t *digest, size_t len, uint8_t **der)
{
  *der = NULL;
  X509_SIG *sig = X509_SIG_new();
  X509_ALGOR *alg = NULL;
  ASN1_OCTET_STRING *octets = NULL;
  int der_len = -1;
  if (sig == NULL)
    return -1;
  X509_SIG_getm(sig, &alg, &octets);
  if (X509_ALGOR_set0(alg, OBJ_nid2obj(md_nid), V_ASN1_NULL, NULL) &&
      ASN1_OCTET_STRING_set(octets, digest, (int)len)) {
    unsigned char *out = NULL;
    der_len = i2d_X509_SIG(sig, &out);
    *der = der_len > 0 ? out : NULL;
    if (der_len <= 0)
      der_len = -1;
  }
  X509_SIG_free(sig);
  return der_len;
}
