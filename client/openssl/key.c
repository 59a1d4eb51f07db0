/* tessera_ossl_key: an EVP_PKEY of our keymgmt made with EVP_PKEY_fromdata,
 * the agent key handed over by reference (see TPROV_PARAM_REF). */
#include "prov.h"

#include "messages.h"

#include <openssl/err.h>
#include <openssl/params.h>

EVP_PKEY *tessera_ossl_key(OSSL_LIB_CTX *libctx, tessera_client *c, const tessera_key *key)
{
  if (c == NULL || key == NULL || key->id == NULL || key->spki == NULL || key->spki_len == 0) {
    ERR_raise_data(ERR_LIB_EVP, ERR_R_PASSED_INVALID_ARGUMENT,
                   "tessera_ossl_key: no client, key id or public key");
    return NULL;
  }
  const char *type = key->key_type == TPROTO_KEY_RSA ? "RSA"
                     : key->key_type == TPROTO_KEY_EC ? "EC"
                                                      : NULL;
  if (type == NULL) {
    ERR_raise_data(ERR_LIB_EVP, ERR_R_UNSUPPORTED, "tessera_ossl_key: key type %u",
                   (unsigned)key->key_type);
    return NULL;
  }
  const tprov_key_ref ref = { TPROV_REF_MAGIC, c, key };
  const tprov_key_ref *refp = &ref;
  OSSL_PARAM params[] = {
    OSSL_PARAM_octet_string(TPROV_PARAM_REF, (void *)&refp, sizeof(refp)),
    OSSL_PARAM_END,
  };
  EVP_PKEY *pkey = NULL;
  EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(libctx, type, TPROV_PROPS);
  if (ctx == NULL || EVP_PKEY_fromdata_init(ctx) <= 0 ||
      EVP_PKEY_fromdata(ctx, &pkey, EVP_PKEY_KEYPAIR, params) <= 0) {
    ERR_raise_data(ERR_LIB_EVP, ERR_R_OPERATION_FAIL,
                   "tessera_ossl_key: %s (is the provider loaded? tessera_ossl_load)", key->id);
    pkey = NULL;
  }
  EVP_PKEY_CTX_free(ctx);
  return pkey;
}
