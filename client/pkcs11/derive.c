/* tessera-pkcs11 — ECDH key agreement (CKM_ECDH1_DERIVE): the card computes
 * the shared secret, the module applies the KDF and keeps the result as a
 * session object of the calling session. */
#include "p11.h"

#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>

#define MAX_DERIVED 1024

/* The peer's point, raw (04 || x || y) or in a DER OCTET STRING as some
 * applications send it; field_len is the size of one coordinate. */
static bool peer_point(const CK_ECDH1_DERIVE_PARAMS *p, size_t field_len, const uint8_t **point,
                       size_t *len)
{
  const uint8_t *d = p->pPublicData;
  size_t n = p->ulPublicDataLen, raw = 2 * field_len + 1;
  if (d == NULL || n == 0)
    return false;
  if (n == raw && d[0] == 0x04) {
    *point = d;
    *len = n;
    return true;
  }
  if (n == raw + 2 && d[0] == 0x04 && d[1] == raw && raw < 128) {
    *point = d + 2;
    *len = raw;
    return true;
  }
  if (n == raw + 3 && d[0] == 0x04 && d[1] == 0x81 && d[2] == raw) {
    *point = d + 3;
    *len = raw;
    return true;
  }
  return false;
}

static const char *kdf_hash(CK_ULONG kdf)
{
  switch (kdf) {
  case CKD_SHA1_KDF: return "SHA1";
  case CKD_SHA224_KDF: return "SHA224";
  case CKD_SHA256_KDF: return "SHA256";
  case CKD_SHA384_KDF: return "SHA384";
  case CKD_SHA512_KDF: return "SHA512";
  default: return NULL;
  }
}

/* ANSI X9.63 KDF: Hash(Z || counter || SharedInfo), counter from 1. */
static bool x963_kdf(const char *hash, const uint8_t *z, size_t z_len, const uint8_t *info,
                     size_t info_len, uint8_t *out, size_t out_len)
{
  const EVP_MD *md = EVP_get_digestbyname(hash);
  EVP_MD_CTX *ctx = EVP_MD_CTX_new();
  bool ok = md && ctx;
  for (uint32_t counter = 1; ok && out_len > 0; counter++) {
    uint8_t be[4] = { (uint8_t)(counter >> 24), (uint8_t)(counter >> 16), (uint8_t)(counter >> 8),
                      (uint8_t)counter };
    uint8_t block[EVP_MAX_MD_SIZE];
    unsigned int block_len = 0;
    ok = EVP_DigestInit_ex(ctx, md, NULL) && EVP_DigestUpdate(ctx, z, z_len) &&
         EVP_DigestUpdate(ctx, be, sizeof(be)) && (info_len == 0 || EVP_DigestUpdate(ctx, info, info_len)) &&
         EVP_DigestFinal_ex(ctx, block, &block_len);
    size_t take = block_len < out_len ? block_len : out_len;
    if (ok)
      memcpy(out, block, take);
    explicit_bzero(block, sizeof(block));
    out += take;
    out_len -= take;
  }
  EVP_MD_CTX_free(ctx);
  return ok;
}

typedef struct {
  const char *key;
  const uint8_t *peer;
  size_t peer_len;
  uint8_t *secret;
  size_t secret_len;
} derive_request;

static int derive_call(tessera_client *c, void *ctx)
{
  derive_request *r = ctx;
  return tessera_derive(c, r->key, TPROTO_MECH_ECDH, r->peer, r->peer_len, &r->secret,
                        &r->secret_len);
}

static bool template_flag(const CK_ATTRIBUTE *t, CK_ULONG n, CK_ATTRIBUTE_TYPE type, bool dflt)
{
  bool value = dflt;
  p11_template_bool(t, n, type, &value);
  return value;
}

/* The secret key object: what the template asked for, within reason. */
static p11_object *secret_object(CK_SLOT_ID slot, CK_SESSION_HANDLE owner, const CK_ATTRIBUTE *t,
                                 CK_ULONG n, const uint8_t *value, size_t len)
{
  p11_object *o = calloc(1, sizeof(*o));
  if (o == NULL)
    return NULL;
  o->slot = slot;
  o->session = owner;
  o->klass = CKO_SECRET_KEY;
  o->key_id = strdup("");
  CK_ULONG key_type = CKK_GENERIC_SECRET;
  p11_template_ulong(t, n, CKA_KEY_TYPE, &key_type);
  bool sensitive = template_flag(t, n, CKA_SENSITIVE, false);
  bool extractable = template_flag(t, n, CKA_EXTRACTABLE, true);
  p11_attrs *a = &o->attrs;
  bool ok = o->key_id && p11_attrs_add_ulong(a, CKA_CLASS, CKO_SECRET_KEY) &&
            p11_attrs_add_ulong(a, CKA_KEY_TYPE, key_type) &&
            p11_attrs_add_bool(a, CKA_TOKEN, false) &&
            p11_attrs_add_bool(a, CKA_PRIVATE, template_flag(t, n, CKA_PRIVATE, true)) &&
            p11_attrs_add_bool(a, CKA_MODIFIABLE, false) &&
            p11_attrs_add_bool(a, CKA_LOCAL, false) &&
            p11_attrs_add_bool(a, CKA_SENSITIVE, sensitive) &&
            p11_attrs_add_bool(a, CKA_ALWAYS_SENSITIVE, false) &&
            p11_attrs_add_bool(a, CKA_EXTRACTABLE, extractable) &&
            p11_attrs_add_bool(a, CKA_NEVER_EXTRACTABLE, false) &&
            p11_attrs_add_bool(a, CKA_ENCRYPT, template_flag(t, n, CKA_ENCRYPT, false)) &&
            p11_attrs_add_bool(a, CKA_DECRYPT, template_flag(t, n, CKA_DECRYPT, false)) &&
            p11_attrs_add_bool(a, CKA_WRAP, template_flag(t, n, CKA_WRAP, false)) &&
            p11_attrs_add_bool(a, CKA_UNWRAP, template_flag(t, n, CKA_UNWRAP, false)) &&
            p11_attrs_add_bool(a, CKA_SIGN, template_flag(t, n, CKA_SIGN, false)) &&
            p11_attrs_add_bool(a, CKA_VERIFY, template_flag(t, n, CKA_VERIFY, false)) &&
            p11_attrs_add_bool(a, CKA_DERIVE, false) &&
            p11_attrs_add_ulong(a, CKA_VALUE_LEN, len) && p11_attrs_add(a, CKA_VALUE, value, len);
  for (CK_ULONG i = 0; ok && t && i < n; i++)
    if ((t[i].type == CKA_LABEL || t[i].type == CKA_ID) && t[i].pValue)
      ok = p11_attrs_add(a, t[i].type, t[i].pValue, t[i].ulValueLen);
  if (!ok) {
    p11_object_free(o);
    return NULL;
  }
  return o;
}

static CK_RV check_template(const CK_ATTRIBUTE *t, CK_ULONG n, size_t *value_len)
{
  CK_ULONG klass = CKO_SECRET_KEY, len = 0;
  bool token = false;
  if (p11_template_ulong(t, n, CKA_CLASS, &klass) && klass != CKO_SECRET_KEY)
    return CKR_TEMPLATE_INCONSISTENT;
  if (p11_template_bool(t, n, CKA_TOKEN, &token) && token)
    return CKR_TOKEN_WRITE_PROTECTED; /* nothing is stored on the card */
  if (p11_template_ulong(t, n, CKA_VALUE_LEN, &len) && (len == 0 || len > MAX_DERIVED))
    return CKR_ATTRIBUTE_VALUE_INVALID;
  *value_len = len;
  return CKR_OK;
}

CK_RV C_DeriveKey(CK_SESSION_HANDLE h, CK_MECHANISM_PTR mech, CK_OBJECT_HANDLE base,
                  CK_ATTRIBUTE_PTR tmpl, CK_ULONG n, CK_OBJECT_HANDLE_PTR out)
{
  if (mech == NULL || out == NULL || (tmpl == NULL && n > 0))
    return CKR_ARGUMENTS_BAD;
  size_t wanted = 0;
  CK_RV rv = check_template(tmpl, n, &wanted);
  if (rv != CKR_OK)
    return rv;
  const CK_ECDH1_DERIVE_PARAMS *p = mech->pParameter;
  if (mech->mechanism == CKM_ECDH1_DERIVE &&
      (p == NULL || mech->ulParameterLen != sizeof(*p) ||
       (p->kdf != CKD_NULL && kdf_hash(p->kdf) == NULL) ||
       (p->kdf == CKD_NULL && p->ulSharedDataLen != 0) ||
       (p->ulSharedDataLen && p->pSharedData == NULL)))
    return CKR_MECHANISM_PARAM_INVALID;
  p11_session *s;
  rv = p11_enter_session(h, &s);
  if (rv != CKR_OK)
    return rv;
  const p11_object *key = NULL;
  rv = p11_key_for(s, base, p11_mechanism_find(mech->mechanism), CKF_DERIVE, &key);
  derive_request r = { 0 };
  char *key_id = NULL;
  CK_SLOT_ID slot = s->slot;
  if (rv == CKR_OK && !peer_point(p, (key->bits + 7) / 8, &r.peer, &r.peer_len))
    rv = CKR_MECHANISM_PARAM_INVALID;
  if (rv == CKR_OK && (key_id = strdup(key->key_id)) == NULL)
    rv = CKR_HOST_MEMORY;
  p11_leave();
  if (rv != CKR_OK)
    return rv;
  r.key = key_id;
  int rc = p11_link_run(derive_call, &r);
  free(key_id);
  rv = p11_rv_from_tessera(rc, P11_FOR_DERIVE);
  size_t len = wanted ? wanted : r.secret_len;
  uint8_t *value = NULL;
  if (rv == CKR_OK && p->kdf == CKD_NULL && len > r.secret_len)
    rv = CKR_TEMPLATE_INCONSISTENT;
  if (rv == CKR_OK && (value = malloc(len)) == NULL)
    rv = CKR_HOST_MEMORY;
  if (rv == CKR_OK && p->kdf == CKD_NULL)
    memcpy(value, r.secret, len);
  else if (rv == CKR_OK && !x963_kdf(kdf_hash(p->kdf), r.secret, r.secret_len, p->pSharedData,
                                     p->ulSharedDataLen, value, len))
    rv = CKR_FUNCTION_FAILED;
  tessera_free_secret(r.secret, r.secret_len);
  if (rv == CKR_OK) {
    rv = p11_enter_session(h, &s);
    if (rv == CKR_OK) {
      p11_object *o = secret_object(slot, h, tmpl, n, value, len);
      if (o && p11_object_add(o)) {
        *out = o->handle;
      } else {
        p11_object_free(o);
        rv = CKR_HOST_MEMORY;
      }
      p11_leave();
    }
  }
  tessera_free_secret(value, len);
  return rv;
}
