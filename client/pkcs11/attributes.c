/* tessera-pkcs11 — attribute lists: building, matching, C_GetAttributeValue. */
#include "p11.h"

#include <stdlib.h>
#include <string.h>

bool p11_attrs_add(p11_attrs *a, CK_ATTRIBUTE_TYPE type, const void *value, size_t len)
{
  CK_ATTRIBUTE *items = realloc(a->items, (a->n + 1) * sizeof(*items));
  if (items == NULL)
    return false;
  a->items = items;
  void *copy = malloc(len ? len : 1);
  if (copy == NULL)
    return false;
  if (len)
    memcpy(copy, value, len);
  a->items[a->n++] = (CK_ATTRIBUTE){ .type = type, .pValue = copy, .ulValueLen = len };
  return true;
}

bool p11_attrs_add_bool(p11_attrs *a, CK_ATTRIBUTE_TYPE type, bool value)
{
  CK_BBOOL b = value ? CK_TRUE : CK_FALSE;
  return p11_attrs_add(a, type, &b, sizeof(b));
}

bool p11_attrs_add_ulong(p11_attrs *a, CK_ATTRIBUTE_TYPE type, CK_ULONG value)
{
  return p11_attrs_add(a, type, &value, sizeof(value));
}

const CK_ATTRIBUTE *p11_attrs_find(const p11_attrs *a, CK_ATTRIBUTE_TYPE type)
{
  for (size_t i = 0; i < a->n; i++)
    if (a->items[i].type == type)
      return &a->items[i];
  return NULL;
}

bool p11_attrs_match(const p11_attrs *a, const CK_ATTRIBUTE *tmpl, CK_ULONG n)
{
  for (CK_ULONG i = 0; i < n; i++) {
    const CK_ATTRIBUTE *have = p11_attrs_find(a, tmpl[i].type);
    if (have == NULL || have->ulValueLen != tmpl[i].ulValueLen)
      return false;
    if (have->ulValueLen && (tmpl[i].pValue == NULL ||
                             memcmp(have->pValue, tmpl[i].pValue, have->ulValueLen) != 0))
      return false;
  }
  return true;
}

static bool is_sensitive(CK_ATTRIBUTE_TYPE type, const CK_ATTRIBUTE_TYPE *sensitive, size_t n)
{
  for (size_t i = 0; i < n; i++)
    if (sensitive[i] == type)
      return true;
  return false;
}

/* Every entry of the template is answered; the return value is the last
 * problem seen, as PKCS#11 v2.40 section 5.7.5 asks. */
CK_RV p11_attrs_get(const p11_attrs *a, CK_ATTRIBUTE *tmpl, CK_ULONG n,
                    const CK_ATTRIBUTE_TYPE *sensitive, size_t n_sensitive)
{
  CK_RV rv = CKR_OK;
  for (CK_ULONG i = 0; i < n; i++) {
    const CK_ATTRIBUTE *have = p11_attrs_find(a, tmpl[i].type);
    if (is_sensitive(tmpl[i].type, sensitive, n_sensitive)) {
      tmpl[i].ulValueLen = CK_UNAVAILABLE_INFORMATION;
      rv = CKR_ATTRIBUTE_SENSITIVE;
    } else if (have == NULL) {
      tmpl[i].ulValueLen = CK_UNAVAILABLE_INFORMATION;
      rv = CKR_ATTRIBUTE_TYPE_INVALID;
    } else if (tmpl[i].pValue == NULL) {
      tmpl[i].ulValueLen = have->ulValueLen;
    } else if (tmpl[i].ulValueLen < have->ulValueLen) {
      tmpl[i].ulValueLen = CK_UNAVAILABLE_INFORMATION;
      rv = CKR_BUFFER_TOO_SMALL;
    } else {
      memcpy(tmpl[i].pValue, have->pValue, have->ulValueLen);
      tmpl[i].ulValueLen = have->ulValueLen;
    }
  }
  return rv;
}

void p11_attrs_clear(p11_attrs *a)
{
  for (size_t i = 0; i < a->n; i++) {
    /* Derived secret keys keep their value here. */
    explicit_bzero(a->items[i].pValue, a->items[i].ulValueLen);
    free(a->items[i].pValue);
  }
  free(a->items);
  a->items = NULL;
  a->n = 0;
}

static const CK_ATTRIBUTE *template_find(const CK_ATTRIBUTE *tmpl, CK_ULONG n,
                                         CK_ATTRIBUTE_TYPE type, size_t size)
{
  if (tmpl == NULL)
    return NULL;
  for (CK_ULONG i = 0; i < n; i++)
    if (tmpl[i].type == type && tmpl[i].pValue != NULL && tmpl[i].ulValueLen == size)
      return &tmpl[i];
  return NULL;
}

bool p11_template_bool(const CK_ATTRIBUTE *tmpl, CK_ULONG n, CK_ATTRIBUTE_TYPE type, bool *out)
{
  const CK_ATTRIBUTE *a = template_find(tmpl, n, type, sizeof(CK_BBOOL));
  if (a == NULL)
    return false;
  *out = *(const CK_BBOOL *)a->pValue != CK_FALSE;
  return true;
}

bool p11_template_ulong(const CK_ATTRIBUTE *tmpl, CK_ULONG n, CK_ATTRIBUTE_TYPE type,
                        CK_ULONG *out)
{
  const CK_ATTRIBUTE *a = template_find(tmpl, n, type, sizeof(CK_ULONG));
  if (a == NULL)
    return false;
  memcpy(out, a->pValue, sizeof(*out));
  return true;
}
