/* keymgmt for RSA and EC: our key data is a public key of another
 * provider plus, for agent keys, the key id and connection. Everything
 * public is delegated to that public key. */
#include "prov.h"

#include "messages.h"

#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/params.h>
#include <openssl/x509.h>
#include <stdlib.h>
#include <string.h>

#define SELECT_PARAMS OSSL_KEYMGMT_SELECT_ALL_PARAMETERS
#define SELECT_PUBLIC OSSL_KEYMGMT_SELECT_PUBLIC_KEY
#define SELECT_PRIVATE OSSL_KEYMGMT_SELECT_PRIVATE_KEY

static const char *type_name(uint8_t type)
{
  return type == TPROTO_KEY_RSA ? "RSA" : "EC";
}

static tprov_key *key_new(tprov_ctx *prov, uint8_t type)
{
  tprov_key *k = calloc(1, sizeof(*k));
  if (k == NULL) {
    tprov_raise(prov, TPROV_R_INTERNAL, "out of memory");
    return NULL;
  }
  k->prov = prov;
  k->type = type;
  return k;
}

static OSSL_FUNC_keymgmt_new_fn rsa_new, ec_new;
static OSSL_FUNC_keymgmt_free_fn key_free;
static OSSL_FUNC_keymgmt_has_fn key_has;
static OSSL_FUNC_keymgmt_match_fn key_match;
static OSSL_FUNC_keymgmt_validate_fn key_validate;
static OSSL_FUNC_keymgmt_import_fn key_import;
static OSSL_FUNC_keymgmt_import_types_fn rsa_import_types, ec_import_types;
static OSSL_FUNC_keymgmt_export_fn key_export;
static OSSL_FUNC_keymgmt_get_params_fn key_get_params;
static OSSL_FUNC_keymgmt_gettable_params_fn rsa_gettable_params, ec_gettable_params;
static OSSL_FUNC_keymgmt_set_params_fn ec_set_params;
static OSSL_FUNC_keymgmt_settable_params_fn ec_settable_params;
static OSSL_FUNC_keymgmt_dup_fn key_dup;
static OSSL_FUNC_keymgmt_query_operation_name_fn rsa_operation, ec_operation;

static void *rsa_new(void *provctx)
{
  return key_new(provctx, TPROTO_KEY_RSA);
}

static void *ec_new(void *provctx)
{
  return key_new(provctx, TPROTO_KEY_EC);
}

static void key_free(void *keydata)
{
  tprov_key *k = keydata;
  if (k == NULL)
    return;
  EVP_PKEY_free(k->pub);
  free(k->id);
  free(k);
}

static int key_has(const void *keydata, int selection)
{
  const tprov_key *k = keydata;
  if (k == NULL)
    return 0;
  int ok = 1;
  if (selection & SELECT_PRIVATE)
    ok = ok && k->id != NULL;
  if (selection & SELECT_PUBLIC)
    ok = ok && k->has_pub;
  if (selection & SELECT_PARAMS) /* RSA has none, so it always has them */
    ok = ok && (k->type == TPROTO_KEY_RSA || k->pub != NULL);
  return ok;
}

static int key_match(const void *keydata1, const void *keydata2, int selection)
{
  const tprov_key *a = keydata1, *b = keydata2;
  if (a->type != b->type)
    return 0;
  if (selection & OSSL_KEYMGMT_SELECT_KEYPAIR) {
    if (a->has_pub && b->has_pub)
      return EVP_PKEY_eq(a->pub, b->pub) == 1;
    return a->id != NULL && b->id != NULL && strcmp(a->id, b->id) == 0;
  }
  if ((selection & SELECT_PARAMS) && a->type == TPROTO_KEY_EC)
    return a->pub != NULL && b->pub != NULL && EVP_PKEY_parameters_eq(a->pub, b->pub) == 1;
  return 1;
}

/* The token holds the private key; what we can check is the public one. */
static int key_validate(const void *keydata, int selection, int checktype)
{
  const tprov_key *k = keydata;
  if ((selection & SELECT_PRIVATE) && k->id == NULL)
    return 0;
  if (!(selection & (SELECT_PUBLIC | SELECT_PARAMS)))
    return 1;
  if (k->pub == NULL)
    return k->type == TPROTO_KEY_RSA && !(selection & SELECT_PUBLIC);
  if ((selection & SELECT_PUBLIC) && !k->has_pub)
    return 0;
  EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_pkey(k->prov->libctx, k->pub, TPROV_OTHERS);
  int ok = ctx != NULL && ((selection & SELECT_PUBLIC) ? EVP_PKEY_public_check(ctx)
                                                        : EVP_PKEY_param_check(ctx)) > 0;
  EVP_PKEY_CTX_free(ctx);
  return ok;
}

/* The agent key tessera_ossl_key passes by reference. */
static int import_ref(tprov_key *k, const OSSL_PARAM *p)
{
  const tprov_key_ref *ref = NULL;
  if (p->data_type == OSSL_PARAM_OCTET_STRING && p->data_size == sizeof(ref))
    memcpy(&ref, p->data, sizeof(ref));
  if (ref == NULL || ref->magic != TPROV_REF_MAGIC || ref->key == NULL || ref->client == NULL ||
      ref->key->id == NULL || ref->key->spki == NULL) {
    tprov_raise(k->prov, TPROV_R_BAD_ARGUMENT, "malformed %s", TPROV_PARAM_REF);
    return 0;
  }
  const tessera_key *tk = ref->key;
  if (tk->key_type != k->type) {
    tprov_raise(k->prov, TPROV_R_BAD_ARGUMENT, "%s is not an %s key", tk->id, type_name(k->type));
    return 0;
  }
  const unsigned char *der = tk->spki;
  EVP_PKEY *pub = d2i_PUBKEY_ex(NULL, &der, (long)tk->spki_len, k->prov->libctx, TPROV_OTHERS);
  char *id = strdup(tk->id);
  if (pub == NULL || der != tk->spki + tk->spki_len || !EVP_PKEY_is_a(pub, type_name(k->type)) ||
      id == NULL) {
    tprov_raise(k->prov, TPROV_R_BAD_ARGUMENT, "unusable public key of %s", tk->id);
    EVP_PKEY_free(pub);
    free(id);
    return 0;
  }
  EVP_PKEY_free(k->pub);
  free(k->id);
  k->pub = pub;
  k->has_pub = 1;
  k->id = id;
  k->client = ref->client;
  return 1;
}

/* Public keys and domain parameters (a certificate's key compared with
 * ours, a peer key for ECDH): held by another provider. Private parts
 * given to us are ignored: we hold no secrets. */
static int key_import(void *keydata, int selection, const OSSL_PARAM params[])
{
  tprov_key *k = keydata;
  if (k == NULL || params == NULL)
    return 0;
  const OSSL_PARAM *ref = OSSL_PARAM_locate_const(params, TPROV_PARAM_REF);
  if (ref != NULL)
    return (selection & SELECT_PRIVATE) && import_ref(k, ref);
  const char *pub_name = k->type == TPROTO_KEY_RSA ? OSSL_PKEY_PARAM_RSA_N : OSSL_PKEY_PARAM_PUB_KEY;
  int with_pub = (selection & SELECT_PUBLIC) && OSSL_PARAM_locate_const(params, pub_name) != NULL;
  if (!with_pub && !(selection & SELECT_PARAMS))
    return 0;
  EVP_PKEY *pub = NULL;
  EVP_PKEY_CTX *ctx =
    EVP_PKEY_CTX_new_from_name(k->prov->libctx, type_name(k->type), TPROV_OTHERS);
  int ok = ctx != NULL && EVP_PKEY_fromdata_init(ctx) > 0 &&
           EVP_PKEY_fromdata(ctx, &pub, with_pub ? EVP_PKEY_PUBLIC_KEY : EVP_PKEY_KEY_PARAMETERS,
                             (OSSL_PARAM *)params) > 0;
  EVP_PKEY_CTX_free(ctx);
  if (!ok)
    return 0;
  EVP_PKEY_free(k->pub);
  k->pub = pub;
  k->has_pub = with_pub;
  return 1;
}

/* Refusing the private part makes OpenSSL do private-key operations
 * here: it first tries the operation of whichever provider it finds,
 * exporting the key there, and only when that export fails takes the
 * operation of the key's own provider. */
static int key_export(void *keydata, int selection, OSSL_CALLBACK *cb, void *cbarg)
{
  tprov_key *k = keydata;
  if (k == NULL || k->pub == NULL || ((selection & SELECT_PRIVATE) && k->id != NULL))
    return 0;
  return EVP_PKEY_export(k->pub, selection, cb, cbarg);
}

static const OSSL_PARAM *rsa_import_types(int selection)
{
  static const OSSL_PARAM types[] = {
    OSSL_PARAM_BN(OSSL_PKEY_PARAM_RSA_N, NULL, 0),
    OSSL_PARAM_BN(OSSL_PKEY_PARAM_RSA_E, NULL, 0),
    OSSL_PARAM_END,
  };
  return types;
}

static const OSSL_PARAM *ec_import_types(int selection)
{
  static const OSSL_PARAM types[] = {
    OSSL_PARAM_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, NULL, 0),
    OSSL_PARAM_utf8_string(OSSL_PKEY_PARAM_EC_ENCODING, NULL, 0),
    OSSL_PARAM_utf8_string(OSSL_PKEY_PARAM_EC_POINT_CONVERSION_FORMAT, NULL, 0),
    OSSL_PARAM_octet_string(OSSL_PKEY_PARAM_PUB_KEY, NULL, 0),
    OSSL_PARAM_END,
  };
  return types;
}

/* bits, max-size, default digest, n, group name, ...: the public key's. */
static int key_get_params(void *keydata, OSSL_PARAM params[])
{
  tprov_key *k = keydata;
  if (k == NULL)
    return 0;
  return k->pub == NULL || EVP_PKEY_get_params(k->pub, params);
}

static const OSSL_PARAM *rsa_gettable_params(void *provctx)
{
  static const OSSL_PARAM params[] = {
    OSSL_PARAM_int(OSSL_PKEY_PARAM_BITS, NULL),
    OSSL_PARAM_int(OSSL_PKEY_PARAM_SECURITY_BITS, NULL),
    OSSL_PARAM_int(OSSL_PKEY_PARAM_MAX_SIZE, NULL),
    OSSL_PARAM_utf8_string(OSSL_PKEY_PARAM_DEFAULT_DIGEST, NULL, 0),
    OSSL_PARAM_BN(OSSL_PKEY_PARAM_RSA_N, NULL, 0),
    OSSL_PARAM_BN(OSSL_PKEY_PARAM_RSA_E, NULL, 0),
    OSSL_PARAM_END,
  };
  return params;
}

static const OSSL_PARAM *ec_gettable_params(void *provctx)
{
  static const OSSL_PARAM params[] = {
    OSSL_PARAM_int(OSSL_PKEY_PARAM_BITS, NULL),
    OSSL_PARAM_int(OSSL_PKEY_PARAM_SECURITY_BITS, NULL),
    OSSL_PARAM_int(OSSL_PKEY_PARAM_MAX_SIZE, NULL),
    OSSL_PARAM_utf8_string(OSSL_PKEY_PARAM_DEFAULT_DIGEST, NULL, 0),
    OSSL_PARAM_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, NULL, 0),
    OSSL_PARAM_octet_string(OSSL_PKEY_PARAM_PUB_KEY, NULL, 0),
    OSSL_PARAM_octet_string(OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY, NULL, 0),
    OSSL_PARAM_END,
  };
  return params;
}

/* EVP_PKEY_set1_encoded_public_key: how CMS gives a peer's point to a key
 * made with EVP_PKEY_copy_parameters from ours. An agent key's public
 * key is the token's and stays. */
static int ec_set_params(void *keydata, const OSSL_PARAM params[])
{
  tprov_key *k = keydata;
  const OSSL_PARAM *p = OSSL_PARAM_locate_const(params, OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY);
  if (p == NULL)
    return 1;
  if (k->id != NULL || k->pub == NULL) {
    tprov_raise(k->prov, TPROV_R_UNSUPPORTED, "cannot replace the public key of this key");
    return 0;
  }
  if (p->data_type != OSSL_PARAM_OCTET_STRING ||
      EVP_PKEY_set1_encoded_public_key(k->pub, p->data, p->data_size) <= 0)
    return 0;
  k->has_pub = 1;
  return 1;
}

static const OSSL_PARAM *ec_settable_params(void *provctx)
{
  static const OSSL_PARAM params[] = {
    OSSL_PARAM_octet_string(OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY, NULL, 0),
    OSSL_PARAM_END,
  };
  return params;
}

/* EVP_PKEY_dup, and EVP_PKEY_copy_parameters into an empty key. */
static void *key_dup(const void *keydata_from, int selection)
{
  const tprov_key *from = keydata_from;
  tprov_key *k = key_new(from->prov, from->type);
  if (k == NULL)
    return NULL;
  int ok = 1;
  if ((selection & SELECT_PUBLIC) && from->has_pub) {
    ok = (k->pub = EVP_PKEY_dup(from->pub)) != NULL;
    k->has_pub = ok;
  } else if ((selection & SELECT_PARAMS) && from->pub != NULL && from->type == TPROTO_KEY_EC) {
    ok = (k->pub = EVP_PKEY_new()) != NULL && EVP_PKEY_copy_parameters(k->pub, from->pub) > 0;
  }
  if (ok && (selection & SELECT_PRIVATE) && from->id != NULL) {
    ok = (k->id = strdup(from->id)) != NULL;
    k->client = from->client;
  }
  if (!ok) {
    tprov_raise(from->prov, TPROV_R_INTERNAL, "cannot copy the key");
    key_free(k);
    return NULL;
  }
  return k;
}

static const char *rsa_operation(int operation_id)
{
  return "RSA";
}

/* The names our EC signature and key exchange are registered under. */
static const char *ec_operation(int operation_id)
{
  switch (operation_id) {
  case OSSL_OP_SIGNATURE:
    return "ECDSA";
  case OSSL_OP_KEYEXCH:
    return "ECDH";
  default:
    return NULL;
  }
}

#define FN(id, f) { id, (void (*)(void))(f) }
const OSSL_DISPATCH tprov_rsa_keymgmt[] = {
  FN(OSSL_FUNC_KEYMGMT_NEW, rsa_new),
  FN(OSSL_FUNC_KEYMGMT_FREE, key_free),
  FN(OSSL_FUNC_KEYMGMT_HAS, key_has),
  FN(OSSL_FUNC_KEYMGMT_MATCH, key_match),
  FN(OSSL_FUNC_KEYMGMT_VALIDATE, key_validate),
  FN(OSSL_FUNC_KEYMGMT_IMPORT, key_import),
  FN(OSSL_FUNC_KEYMGMT_IMPORT_TYPES, rsa_import_types),
  FN(OSSL_FUNC_KEYMGMT_EXPORT, key_export),
  FN(OSSL_FUNC_KEYMGMT_EXPORT_TYPES, rsa_import_types),
  FN(OSSL_FUNC_KEYMGMT_GET_PARAMS, key_get_params),
  FN(OSSL_FUNC_KEYMGMT_GETTABLE_PARAMS, rsa_gettable_params),
  FN(OSSL_FUNC_KEYMGMT_DUP, key_dup),
  FN(OSSL_FUNC_KEYMGMT_QUERY_OPERATION_NAME, rsa_operation),
  { 0, NULL },
};

const OSSL_DISPATCH tprov_ec_keymgmt[] = {
  FN(OSSL_FUNC_KEYMGMT_NEW, ec_new),
  FN(OSSL_FUNC_KEYMGMT_FREE, key_free),
  FN(OSSL_FUNC_KEYMGMT_HAS, key_has),
  FN(OSSL_FUNC_KEYMGMT_MATCH, key_match),
  FN(OSSL_FUNC_KEYMGMT_VALIDATE, key_validate),
  FN(OSSL_FUNC_KEYMGMT_IMPORT, key_import),
  FN(OSSL_FUNC_KEYMGMT_IMPORT_TYPES, ec_import_types),
  FN(OSSL_FUNC_KEYMGMT_EXPORT, key_export),
  FN(OSSL_FUNC_KEYMGMT_EXPORT_TYPES, ec_import_types),
  FN(OSSL_FUNC_KEYMGMT_GET_PARAMS, key_get_params),
  FN(OSSL_FUNC_KEYMGMT_GETTABLE_PARAMS, ec_gettable_params),
  FN(OSSL_FUNC_KEYMGMT_SET_PARAMS, ec_set_params),
  FN(OSSL_FUNC_KEYMGMT_SETTABLE_PARAMS, ec_settable_params),
  FN(OSSL_FUNC_KEYMGMT_DUP, key_dup),
  FN(OSSL_FUNC_KEYMGMT_QUERY_OPERATION_NAME, ec_operation),
  { 0, NULL },
};
