/* tessera-agent — reading a token's keys and certificates (worker side). */
#include "objects.h"

#include "config.h"
#include "messages.h"
#include "pubkey.h"
#include "uri.h"

#include <string.h>

#define MAX_OBJECTS 1024 /* a token with more keys than this is not a card */

GBytes *objects_get_attribute(TesseraToken *token, CK_OBJECT_HANDLE obj, CK_ATTRIBUTE_TYPE type)
{
  CK_ATTRIBUTE attr = { type, NULL, 0 };
  CK_RV rv = token->module->C_GetAttributeValue(token->session, obj, &attr, 1);
  if (rv != CKR_OK || attr.ulValueLen == CK_UNAVAILABLE_INFORMATION)
    return NULL;
  if (attr.ulValueLen == 0)
    return g_bytes_new(NULL, 0);
  attr.pValue = g_malloc(attr.ulValueLen);
  rv = token->module->C_GetAttributeValue(token->session, obj, &attr, 1);
  if (rv != CKR_OK || attr.ulValueLen == CK_UNAVAILABLE_INFORMATION) {
    g_free(attr.pValue);
    return NULL;
  }
  return g_bytes_new_take(attr.pValue, attr.ulValueLen);
}

static gboolean get_bool(TesseraToken *token, CK_OBJECT_HANDLE obj, CK_ATTRIBUTE_TYPE type)
{
  CK_BBOOL v = CK_FALSE;
  CK_ATTRIBUTE attr = { type, &v, sizeof(v) };
  return token->module->C_GetAttributeValue(token->session, obj, &attr, 1) == CKR_OK &&
         v == CK_TRUE;
}

static GArray *find_objects(TesseraToken *token, CK_ATTRIBUTE *tmpl, CK_ULONG n, GBytes *ckaid)
{
  GArray *out = g_array_new(FALSE, FALSE, sizeof(CK_OBJECT_HANDLE));
  CK_ATTRIBUTE full[4];
  memcpy(full, tmpl, n * sizeof(*tmpl));
  if (ckaid != NULL) {
    gsize len;
    full[n].type = CKA_ID;
    full[n].pValue = (void *)g_bytes_get_data(ckaid, &len);
    full[n].ulValueLen = len;
    n++;
  }
  if (token->module->C_FindObjectsInit(token->session, full, n) != CKR_OK)
    return out;
  CK_OBJECT_HANDLE batch[64];
  CK_ULONG got = 0;
  while (out->len < MAX_OBJECTS &&
         token->module->C_FindObjects(token->session, batch, G_N_ELEMENTS(batch), &got) ==
             CKR_OK &&
         got > 0)
    g_array_append_vals(out, batch, got);
  token->module->C_FindObjectsFinal(token->session);
  return out;
}

CK_OBJECT_HANDLE objects_find_private_key(TesseraToken *token, GBytes *ckaid)
{
  CK_OBJECT_CLASS cls = CKO_PRIVATE_KEY;
  CK_ATTRIBUTE tmpl[] = { { CKA_CLASS, &cls, sizeof(cls) } };
  g_autoptr(GArray) found = find_objects(token, tmpl, 1, ckaid);
  return found->len > 0 ? g_array_index(found, CK_OBJECT_HANDLE, 0) : CK_INVALID_HANDLE;
}

/* What is known about one CKA_ID while pairing objects. */
typedef struct {
  GBytes *ckaid;
  char *label;
  int label_rank; /* of the object it came from; see label_rank() */
  gboolean have_private, have_public;
  uint32_t private_ops, public_ops;
  gboolean always_auth;
  GBytes *spki;
  GBytes *cert;
} Identity;

static void identity_free(Identity *id)
{
  g_bytes_unref(id->ckaid);
  g_free(id->label);
  g_clear_pointer(&id->spki, g_bytes_unref);
  g_clear_pointer(&id->cert, g_bytes_unref);
  g_free(id);
}

static Identity *identity_for(GHashTable *by_id, GPtrArray *order, GBytes *ckaid)
{
  Identity *id = g_hash_table_lookup(by_id, ckaid);
  if (id == NULL) {
    id = g_new0(Identity, 1);
    id->ckaid = g_bytes_ref(ckaid);
    g_hash_table_insert(by_id, id->ckaid, id);
    g_ptr_array_add(order, id);
  }
  return id;
}

static char *label_of(TesseraToken *token, CK_OBJECT_HANDLE obj)
{
  g_autoptr(GBytes) v = objects_get_attribute(token, obj, CKA_LABEL);
  if (v == NULL || g_bytes_get_size(v) == 0)
    return NULL;
  gsize n;
  const char *p = g_bytes_get_data(v, &n);
  if (!g_utf8_validate(p, (gssize)n, NULL) || memchr(p, 0, n) != NULL)
    return NULL;
  return g_strndup(p, n);
}

static GBytes *spki_of_key_object(TesseraToken *token, CK_OBJECT_HANDLE obj)
{
  CK_KEY_TYPE type = CK_UNAVAILABLE_INFORMATION;
  CK_ATTRIBUTE attr = { CKA_KEY_TYPE, &type, sizeof(type) };
  if (token->module->C_GetAttributeValue(token->session, obj, &attr, 1) != CKR_OK)
    return NULL;
  if (type == CKK_RSA) {
    g_autoptr(GBytes) n = objects_get_attribute(token, obj, CKA_MODULUS);
    g_autoptr(GBytes) e = objects_get_attribute(token, obj, CKA_PUBLIC_EXPONENT);
    return n && e ? pubkey_spki_from_rsa(n, e) : NULL;
  }
  if (type == CKK_EC) {
    g_autoptr(GBytes) params = objects_get_attribute(token, obj, CKA_EC_PARAMS);
    g_autoptr(GBytes) point = objects_get_attribute(token, obj, CKA_EC_POINT);
    return params && point ? pubkey_spki_from_ec(params, point) : NULL;
  }
  return NULL;
}

static uint32_t ops_of(TesseraToken *token, CK_OBJECT_HANDLE obj, gboolean is_private)
{
  uint32_t ops = 0;
  if (get_bool(token, obj, is_private ? CKA_SIGN : CKA_VERIFY))
    ops |= TPROTO_OP_SIGN;
  if (get_bool(token, obj, is_private ? CKA_DECRYPT : CKA_ENCRYPT))
    ops |= TPROTO_OP_DECRYPT;
  if (get_bool(token, obj, CKA_DERIVE))
    ops |= TPROTO_OP_DERIVE;
  return ops;
}

/* The label comes from an object every session sees, public key first,
 * then certificate: a card's private key is often hidden until login and
 * labelled differently ("PIV AUTH key" / "PIV AUTH pubkey"), and a key's
 * name must not change when the user logs in. Lower is better. */
static int label_rank(CK_OBJECT_CLASS cls)
{
  return cls == CKO_PUBLIC_KEY ? 0 : cls == CKO_CERTIFICATE ? 1 : 2;
}

static void collect_class(TesseraToken *token, CK_OBJECT_CLASS cls, GHashTable *by_id,
                          GPtrArray *order)
{
  CK_ATTRIBUTE tmpl[2] = { { CKA_CLASS, &cls, sizeof(cls) } };
  CK_ULONG n = 1;
  CK_CERTIFICATE_TYPE x509 = CKC_X_509;
  if (cls == CKO_CERTIFICATE) {
    tmpl[1] = (CK_ATTRIBUTE){ CKA_CERTIFICATE_TYPE, &x509, sizeof(x509) };
    n = 2;
  }
  g_autoptr(GArray) objs = find_objects(token, tmpl, n, NULL);
  for (guint i = 0; i < objs->len; i++) {
    CK_OBJECT_HANDLE obj = g_array_index(objs, CK_OBJECT_HANDLE, i);
    g_autoptr(GBytes) ckaid = objects_get_attribute(token, obj, CKA_ID);
    if (ckaid == NULL)
      ckaid = g_bytes_new(NULL, 0);
    /* Certificates only attach to keys; a lone CA cert is not a key. */
    if (cls == CKO_CERTIFICATE && !g_hash_table_contains(by_id, ckaid))
      continue;
    Identity *id = identity_for(by_id, order, ckaid);
    if (id->label == NULL || label_rank(cls) < id->label_rank) {
      char *label = label_of(token, obj);
      if (label != NULL) {
        g_free(id->label);
        id->label = label;
        id->label_rank = label_rank(cls);
      }
    }
    if (cls == CKO_PRIVATE_KEY) {
      id->have_private = TRUE;
      id->private_ops = ops_of(token, obj, TRUE);
      id->always_auth = get_bool(token, obj, CKA_ALWAYS_AUTHENTICATE);
      if (id->spki == NULL)
        id->spki = spki_of_key_object(token, obj);
    } else if (cls == CKO_PUBLIC_KEY) {
      id->have_public = TRUE;
      id->public_ops = ops_of(token, obj, FALSE);
      g_clear_pointer(&id->spki, g_bytes_unref); /* the public object is authoritative */
      id->spki = spki_of_key_object(token, obj);
    } else if (id->cert == NULL) {
      id->cert = objects_get_attribute(token, obj, CKA_VALUE);
    }
  }
}

static TesseraKey *key_from_identity(TesseraToken *token, Identity *id)
{
  if (id->spki == NULL && id->cert != NULL)
    id->spki = pubkey_spki_from_cert(id->cert);
  g_autoptr(TesseraKey) key = tessera_key_new();
  if (id->spki == NULL ||
      !pubkey_describe(id->spki, &key->key_type, &key->bits, &key->size_bytes)) {
    g_debug("token %s: skipping object without a usable RSA or EC public key", token->label);
    return NULL;
  }
  key->ckaid = g_bytes_ref(id->ckaid);
  key->label = g_strdup(id->label ? id->label : "");
  key->id = uri_for_key(token->id, id->ckaid, id->label);
  key->spki = g_bytes_ref(id->spki);
  key->cert = id->cert ? g_bytes_ref(id->cert) : NULL;
  /* Before login a hidden private key is inferred from its public half. */
  key->ops = id->have_private ? id->private_ops : id->public_ops;
  if (key->key_type == TPROTO_KEY_RSA)
    key->ops &= TPROTO_OP_SIGN | TPROTO_OP_DECRYPT;
  else
    key->ops &= TPROTO_OP_SIGN | TPROTO_OP_DERIVE;
  key->flags = TPROTO_KEY_AVAILABLE;
  if (id->have_private)
    key->flags |= TPROTO_KEY_PRIVATE_SEEN;
  if (id->always_auth)
    key->flags |= TPROTO_KEY_ALWAYS_AUTH;
  if (id->cert != NULL)
    key->flags |= TPROTO_KEY_HAS_CERT;
  /* Looked up once here, not on every signature. */
  key->confirm = config_key_confirm(config_active(), key->label, key->id);
  return g_steal_pointer(&key);
}

GPtrArray *objects_scan(TesseraToken *token)
{
  g_autoptr(GHashTable) by_id = g_hash_table_new(g_bytes_hash, g_bytes_equal);
  g_autoptr(GPtrArray) order = g_ptr_array_new_with_free_func((GDestroyNotify)identity_free);
  collect_class(token, CKO_PRIVATE_KEY, by_id, order);
  collect_class(token, CKO_PUBLIC_KEY, by_id, order);
  collect_class(token, CKO_CERTIFICATE, by_id, order);

  GPtrArray *keys = g_ptr_array_new_with_free_func((GDestroyNotify)tessera_key_unref);
  for (guint i = 0; i < order->len; i++) {
    TesseraKey *key = key_from_identity(token, order->pdata[i]);
    if (key != NULL)
      g_ptr_array_add(keys, key);
  }
  return keys;
}
