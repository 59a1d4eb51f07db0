/* The provider itself: what it offers, and registration in a library
 * context. Built in (OSSL_PROVIDER_add_builtin), not loaded from a file:
 * the keys borrow the caller's tessera_client. */
#include "prov.h"

#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/params.h>
#include <openssl/provider.h>
#include <stdlib.h>
#include <string.h>

static const OSSL_ALGORITHM keymgmt_algs[] = {
  { TPROV_NAMES_RSA, TPROV_PROPS, tprov_rsa_keymgmt, "RSA key held by tessera-agent" },
  { TPROV_NAMES_EC, TPROV_PROPS, tprov_ec_keymgmt, "EC key held by tessera-agent" },
  { NULL, NULL, NULL, NULL },
};
static const OSSL_ALGORITHM signature_algs[] = {
  { TPROV_NAMES_RSA, TPROV_PROPS, tprov_rsa_signature, "RSA signature by tessera-agent" },
  { "ECDSA", TPROV_PROPS, tprov_ecdsa_signature, "ECDSA by tessera-agent" },
  { NULL, NULL, NULL, NULL },
};
static const OSSL_ALGORITHM cipher_algs[] = {
  { TPROV_NAMES_RSA, TPROV_PROPS, tprov_rsa_cipher, "RSA decryption by tessera-agent" },
  { NULL, NULL, NULL, NULL },
};
static const OSSL_ALGORITHM exchange_algs[] = {
  { "ECDH", TPROV_PROPS, tprov_ecdh_exchange, "ECDH by tessera-agent" },
  { NULL, NULL, NULL, NULL },
};

static OSSL_FUNC_provider_query_operation_fn tprov_query;
static OSSL_FUNC_provider_teardown_fn tprov_teardown;
static OSSL_FUNC_provider_get_reason_strings_fn tprov_reasons;
static OSSL_FUNC_provider_gettable_params_fn tprov_gettable_params;
static OSSL_FUNC_provider_get_params_fn tprov_get_params;

static const OSSL_ALGORITHM *tprov_query(void *provctx, int operation_id, int *no_cache)
{
  *no_cache = 0;
  switch (operation_id) {
  case OSSL_OP_KEYMGMT:
    return keymgmt_algs;
  case OSSL_OP_SIGNATURE:
    return signature_algs;
  case OSSL_OP_ASYM_CIPHER:
    return cipher_algs;
  case OSSL_OP_KEYEXCH:
    return exchange_algs;
  default:
    return NULL;
  }
}

static void tprov_teardown(void *provctx)
{
  free(provctx);
}

static const OSSL_ITEM *tprov_reasons(void *provctx)
{
  return tprov_reason_strings;
}

static const OSSL_PARAM *tprov_gettable_params(void *provctx)
{
  static const OSSL_PARAM params[] = {
    OSSL_PARAM_utf8_ptr(OSSL_PROV_PARAM_NAME, NULL, 0),
    OSSL_PARAM_utf8_ptr(OSSL_PROV_PARAM_VERSION, NULL, 0),
    OSSL_PARAM_int(OSSL_PROV_PARAM_STATUS, NULL),
    OSSL_PARAM_END,
  };
  return params;
}

static int tprov_get_params(void *provctx, OSSL_PARAM params[])
{
  OSSL_PARAM *p = OSSL_PARAM_locate(params, OSSL_PROV_PARAM_NAME);
  if (p != NULL && !OSSL_PARAM_set_utf8_ptr(p, "Tessera agent keys"))
    return 0;
  p = OSSL_PARAM_locate(params, OSSL_PROV_PARAM_VERSION);
  if (p != NULL && !OSSL_PARAM_set_utf8_ptr(p, TESSERA_VERSION))
    return 0;
  p = OSSL_PARAM_locate(params, OSSL_PROV_PARAM_STATUS);
  if (p != NULL && !OSSL_PARAM_set_int(p, 1))
    return 0;
  return 1;
}

static const OSSL_DISPATCH tprov_dispatch[] = {
  { OSSL_FUNC_PROVIDER_TEARDOWN, (void (*)(void))tprov_teardown },
  { OSSL_FUNC_PROVIDER_QUERY_OPERATION, (void (*)(void))tprov_query },
  { OSSL_FUNC_PROVIDER_GET_REASON_STRINGS, (void (*)(void))tprov_reasons },
  { OSSL_FUNC_PROVIDER_GETTABLE_PARAMS, (void (*)(void))tprov_gettable_params },
  { OSSL_FUNC_PROVIDER_GET_PARAMS, (void (*)(void))tprov_get_params },
  { 0, NULL },
};

static int tprov_init(const OSSL_CORE_HANDLE *handle, const OSSL_DISPATCH *in,
                      const OSSL_DISPATCH **out, void **provctx)
{
  tprov_ctx *p = calloc(1, sizeof(*p));
  if (p == NULL)
    return 0;
  OSSL_FUNC_core_get_libctx_fn *get_libctx = NULL;
  for (; in->function_id != 0; in++) {
    switch (in->function_id) {
    case OSSL_FUNC_CORE_GET_LIBCTX:
      get_libctx = OSSL_FUNC_core_get_libctx(in);
      break;
    case OSSL_FUNC_CORE_NEW_ERROR:
      p->new_error = OSSL_FUNC_core_new_error(in);
      break;
    case OSSL_FUNC_CORE_SET_ERROR_DEBUG:
      p->set_error_debug = OSSL_FUNC_core_set_error_debug(in);
      break;
    case OSSL_FUNC_CORE_VSET_ERROR:
      p->vset_error = OSSL_FUNC_core_vset_error(in);
      break;
    default:
      break;
    }
  }
  if (get_libctx == NULL || p->new_error == NULL || p->set_error_debug == NULL ||
      p->vset_error == NULL) {
    free(p);
    return 0;
  }
  p->handle = handle;
  /* A built-in provider shares libcrypto with its core, so the core's
   * context is the OSSL_LIB_CTX itself (as for OpenSSL's own providers). */
  p->libctx = (OSSL_LIB_CTX *)get_libctx(handle);
  *out = tprov_dispatch;
  *provctx = p;
  return 1;
}

int tessera_ossl_load(OSSL_LIB_CTX *libctx)
{
  if (OSSL_PROVIDER_available(libctx, TPROV_NAME))
    return 1; /* a second add_builtin of the name would fail */
  /* Default first: fetches without a property query take the first
   * provider's implementation, and every public operation must go to
   * default, not to us. */
  OSSL_PROVIDER *def = OSSL_PROVIDER_load(libctx, "default");
  if (def == NULL)
    return 0;
  if (!OSSL_PROVIDER_add_builtin(libctx, TPROV_NAME, tprov_init)) {
    OSSL_PROVIDER_unload(def);
    return 0;
  }
  OSSL_PROVIDER *ours = OSSL_PROVIDER_load(libctx, TPROV_NAME);
  if (ours == NULL) {
    OSSL_PROVIDER_unload(def);
    return 0;
  }
  /* The handles are references tessera_ossl_unload drops again. */
  return 1;
}

typedef struct {
  OSSL_PROVIDER *ours, *def;
} loaded;

static int find_loaded(OSSL_PROVIDER *prov, void *arg)
{
  loaded *l = arg;
  const char *name = OSSL_PROVIDER_get0_name(prov);
  if (strcmp(name, TPROV_NAME) == 0)
    l->ours = prov;
  else if (strcmp(name, "default") == 0)
    l->def = prov;
  return 1;
}

void tessera_ossl_unload(OSSL_LIB_CTX *libctx)
{
  loaded l = { NULL, NULL };
  OSSL_PROVIDER_do_all(libctx, find_loaded, &l);
  if (l.ours == NULL)
    return; /* not loaded by tessera_ossl_load */
  /* The store holds its own references: these drop only ours. */
  OSSL_PROVIDER_unload(l.ours);
  if (l.def != NULL)
    OSSL_PROVIDER_unload(l.def);
}
