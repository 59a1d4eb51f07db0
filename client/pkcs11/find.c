/* tessera-pkcs11 — finding objects and reading their attributes, answered
 * from the module's copy of the agent's key list: no round trip. */
#include "p11.h"

#include <stdlib.h>

/* Lock held: the object when this session may see it. */
static p11_object *visible_object(const p11_session *s, CK_OBJECT_HANDLE h)
{
  p11_object *o = p11_object_find(h);
  if (o == NULL || o->slot != s->slot || (o->session != 0 && o->session != s->handle))
    return NULL;
  return o;
}

/* Session and object for an entry point: lock held on CKR_OK. */
static CK_RV enter_object(CK_SESSION_HANDLE h, CK_OBJECT_HANDLE obj, p11_object **out)
{
  p11_session *s;
  CK_RV rv = p11_enter_session(h, &s);
  if (rv != CKR_OK)
    return rv;
  *out = visible_object(s, obj);
  if (*out == NULL) {
    p11_leave();
    return CKR_OBJECT_HANDLE_INVALID;
  }
  return CKR_OK;
}

CK_RV C_FindObjectsInit(CK_SESSION_HANDLE h, CK_ATTRIBUTE_PTR tmpl, CK_ULONG n)
{
  if (tmpl == NULL && n > 0)
    return CKR_ARGUMENTS_BAD;
  p11_session *s;
  CK_RV rv = p11_enter_session(h, &s);
  if (rv != CKR_OK)
    return rv;
  if (s->finding) {
    p11_leave();
    return CKR_OPERATION_ACTIVE;
  }
  CK_OBJECT_HANDLE *found = calloc(p11_state.n_objects + 1, sizeof(*found));
  if (found == NULL) {
    p11_leave();
    return CKR_HOST_MEMORY;
  }
  size_t n_found = 0;
  for (size_t i = 0; i < p11_state.n_objects; i++) {
    p11_object *o = p11_state.objects[i];
    if (visible_object(s, o->handle) && p11_attrs_match(&o->attrs, tmpl, n))
      found[n_found++] = o->handle;
  }
  free(s->found);
  s->found = found;
  s->n_found = n_found;
  s->next_found = 0;
  s->finding = true;
  p11_leave();
  return CKR_OK;
}

CK_RV C_FindObjects(CK_SESSION_HANDLE h, CK_OBJECT_HANDLE_PTR out, CK_ULONG max, CK_ULONG_PTR n)
{
  if (out == NULL || n == NULL)
    return CKR_ARGUMENTS_BAD;
  p11_session *s;
  CK_RV rv = p11_enter_session(h, &s);
  if (rv != CKR_OK)
    return rv;
  if (!s->finding) {
    p11_leave();
    return CKR_OPERATION_NOT_INITIALIZED;
  }
  CK_ULONG count = 0;
  while (count < max && s->next_found < s->n_found)
    out[count++] = s->found[s->next_found++];
  *n = count;
  p11_leave();
  return CKR_OK;
}

CK_RV C_FindObjectsFinal(CK_SESSION_HANDLE h)
{
  p11_session *s;
  CK_RV rv = p11_enter_session(h, &s);
  if (rv != CKR_OK)
    return rv;
  rv = s->finding ? CKR_OK : CKR_OPERATION_NOT_INITIALIZED;
  free(s->found);
  s->found = NULL;
  s->n_found = s->next_found = 0;
  s->finding = false;
  p11_leave();
  return rv;
}

/* A derived secret stays in the module unless its template let it out. */
static bool value_is_sensitive(const p11_object *o)
{
  if (o->klass != CKO_SECRET_KEY)
    return false;
  const CK_ATTRIBUTE *sensitive = p11_attrs_find(&o->attrs, CKA_SENSITIVE);
  const CK_ATTRIBUTE *extractable = p11_attrs_find(&o->attrs, CKA_EXTRACTABLE);
  return (sensitive && *(CK_BBOOL *)sensitive->pValue) ||
         (extractable && !*(CK_BBOOL *)extractable->pValue);
}

CK_RV C_GetAttributeValue(CK_SESSION_HANDLE h, CK_OBJECT_HANDLE obj, CK_ATTRIBUTE_PTR tmpl,
                          CK_ULONG n)
{
  if (tmpl == NULL && n > 0)
    return CKR_ARGUMENTS_BAD;
  p11_object *o;
  CK_RV rv = enter_object(h, obj, &o);
  if (rv != CKR_OK)
    return rv;
  static const CK_ATTRIBUTE_TYPE secret[] = { CKA_VALUE };
  rv = p11_attrs_get(&o->attrs, tmpl, n, secret, value_is_sensitive(o) ? 1 : 0);
  p11_leave();
  return rv;
}

CK_RV C_GetObjectSize(CK_SESSION_HANDLE h, CK_OBJECT_HANDLE obj, CK_ULONG_PTR size)
{
  if (size == NULL)
    return CKR_ARGUMENTS_BAD;
  p11_object *o;
  CK_RV rv = enter_object(h, obj, &o);
  if (rv != CKR_OK)
    return rv;
  CK_ULONG total = 0;
  for (size_t i = 0; i < o->attrs.n; i++)
    total += o->attrs.items[i].ulValueLen;
  *size = total;
  p11_leave();
  return CKR_OK;
}

CK_RV C_DestroyObject(CK_SESSION_HANDLE h, CK_OBJECT_HANDLE obj)
{
  p11_object *o;
  CK_RV rv = enter_object(h, obj, &o);
  if (rv != CKR_OK)
    return rv;
  if (o->session == 0) {
    rv = CKR_ACTION_PROHIBITED; /* the card's objects are not ours to delete */
  } else {
    size_t kept = 0;
    for (size_t i = 0; i < p11_state.n_objects; i++) {
      if (p11_state.objects[i] == o)
        p11_object_free(o);
      else
        p11_state.objects[kept++] = p11_state.objects[i];
    }
    p11_state.n_objects = kept;
  }
  p11_leave();
  return rv;
}

CK_RV p11_key_for(const p11_session *s, CK_OBJECT_HANDLE key, const p11_mechanism *m,
                  CK_FLAGS use, const p11_object **out)
{
  const p11_object *o = visible_object(s, key);
  if (o == NULL || o->klass != CKO_PRIVATE_KEY || o->session != 0)
    return CKR_KEY_HANDLE_INVALID;
  if (m == NULL || !(m->flags & use))
    return CKR_MECHANISM_INVALID;
  if (o->key_type != m->key_type)
    return CKR_KEY_TYPE_INCONSISTENT;
  uint32_t op = use == CKF_SIGN ? TPROTO_OP_SIGN
                : use == CKF_DECRYPT ? TPROTO_OP_DECRYPT : TPROTO_OP_DERIVE;
  if (!(o->ops & op))
    return CKR_KEY_FUNCTION_NOT_PERMITTED;
  *out = o;
  return CKR_OK;
}
