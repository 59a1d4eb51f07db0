/* tessera-pkcs11 — C_GetSlotList, slot and token info, mechanisms. */
#include "p11.h"

#include <stdio.h>
#include <string.h>

/* PKCS#11 strings: blank-padded, not terminated; cut on a UTF-8 boundary. */
static void pad_copy(CK_UTF8CHAR *dst, size_t size, const char *src)
{
  memset(dst, ' ', size);
  size_t n = src ? strlen(src) : 0;
  if (n > size) {
    n = size;
    while (n > 0 && ((unsigned char)src[n] & 0xC0) == 0x80)
      n--;
  }
  if (n)
    memcpy(dst, src, n);
}

CK_RV C_GetSlotList(CK_BBOOL token_present, CK_SLOT_ID_PTR list, CK_ULONG_PTR count)
{
  if (count == NULL)
    return CKR_ARGUMENTS_BAD;
  CK_RV rv = p11_enter();
  if (rv != CKR_OK)
    return rv;
  p11_sync();
  CK_ULONG n = 0;
  for (size_t i = 0; i < p11_state.n_slots; i++) {
    const p11_slot *s = &p11_state.slots[i];
    if (token_present && !p11_slot_present(s->id))
      continue;
    if (list && n < *count)
      list[n] = s->id;
    n++;
  }
  rv = list && n > *count ? CKR_BUFFER_TOO_SMALL : CKR_OK;
  *count = n;
  p11_leave();
  return rv;
}

CK_RV C_GetSlotInfo(CK_SLOT_ID id, CK_SLOT_INFO_PTR info)
{
  if (info == NULL)
    return CKR_ARGUMENTS_BAD;
  p11_slot *s;
  CK_RV rv = p11_enter_slot(id, false, &s);
  if (rv != CKR_OK)
    return rv;
  memset(info, 0, sizeof(*info));
  char description[80];
  snprintf(description, sizeof(description), "Tessera agent: %s",
           s->info.label ? s->info.label : "(token gone)");
  pad_copy(info->slotDescription, sizeof(info->slotDescription), description);
  pad_copy(info->manufacturerID, sizeof(info->manufacturerID), P11_MANUFACTURER);
  info->flags = CKF_REMOVABLE_DEVICE | (p11_slot_present(id) ? CKF_TOKEN_PRESENT : 0);
  info->hardwareVersion.major = 0;
  info->firmwareVersion.major = 0;
  p11_leave();
  return CKR_OK;
}

static CK_ULONG sessions_on(CK_SLOT_ID slot, bool rw_only)
{
  CK_ULONG n = 0;
  for (size_t i = 0; i < p11_state.n_sessions; i++)
    if (p11_state.sessions[i]->slot == slot &&
        (!rw_only || (p11_state.sessions[i]->flags & CKF_RW_SESSION)))
      n++;
  return n;
}

CK_RV C_GetTokenInfo(CK_SLOT_ID id, CK_TOKEN_INFO_PTR info)
{
  if (info == NULL)
    return CKR_ARGUMENTS_BAD;
  p11_slot *s;
  CK_RV rv = p11_enter_slot(id, true, &s);
  if (rv != CKR_OK)
    return rv;
  const tessera_token *t = &s->info;
  memset(info, 0, sizeof(*info));
  pad_copy(info->label, sizeof(info->label), t->label);
  pad_copy(info->manufacturerID, sizeof(info->manufacturerID), t->manufacturer);
  pad_copy(info->model, sizeof(info->model), t->model);
  pad_copy(info->serialNumber, sizeof(info->serialNumber), t->serial);
  /* The agent asks for the PIN itself: programs must not. */
  info->flags = CKF_TOKEN_INITIALIZED | CKF_USER_PIN_INITIALIZED | CKF_WRITE_PROTECTED |
                CKF_PROTECTED_AUTHENTICATION_PATH;
  if (t->flags & TPROTO_TOKEN_LOGIN_REQUIRED)
    info->flags |= CKF_LOGIN_REQUIRED;
  if (t->flags & TPROTO_TOKEN_PIN_COUNT_LOW)
    info->flags |= CKF_USER_PIN_COUNT_LOW;
  if (t->flags & TPROTO_TOKEN_PIN_FINAL_TRY)
    info->flags |= CKF_USER_PIN_FINAL_TRY;
  if (t->flags & TPROTO_TOKEN_PIN_LOCKED)
    info->flags |= CKF_USER_PIN_LOCKED;
  info->ulMaxSessionCount = CK_EFFECTIVELY_INFINITE;
  info->ulSessionCount = sessions_on(id, false);
  info->ulMaxRwSessionCount = CK_EFFECTIVELY_INFINITE;
  info->ulRwSessionCount = sessions_on(id, true);
  info->ulMaxPinLen = 64;
  info->ulMinPinLen = 4;
  info->ulTotalPublicMemory = CK_UNAVAILABLE_INFORMATION;
  info->ulFreePublicMemory = CK_UNAVAILABLE_INFORMATION;
  info->ulTotalPrivateMemory = CK_UNAVAILABLE_INFORMATION;
  info->ulFreePrivateMemory = CK_UNAVAILABLE_INFORMATION;
  memset(info->utcTime, ' ', sizeof(info->utcTime));
  p11_leave();
  return CKR_OK;
}

CK_RV C_GetMechanismList(CK_SLOT_ID id, CK_MECHANISM_TYPE_PTR list, CK_ULONG_PTR count)
{
  if (count == NULL)
    return CKR_ARGUMENTS_BAD;
  p11_slot *s;
  CK_RV rv = p11_enter_slot(id, true, &s);
  if (rv != CKR_OK)
    return rv;
  size_t n = p11_mechanism_list(s->key_types, list, list ? *count : 0);
  rv = list && n > *count ? CKR_BUFFER_TOO_SMALL : CKR_OK;
  *count = n;
  p11_leave();
  return rv;
}

CK_RV C_GetMechanismInfo(CK_SLOT_ID id, CK_MECHANISM_TYPE type, CK_MECHANISM_INFO_PTR info)
{
  if (info == NULL)
    return CKR_ARGUMENTS_BAD;
  p11_slot *s;
  CK_RV rv = p11_enter_slot(id, true, &s);
  if (rv != CKR_OK)
    return rv;
  const p11_mechanism *m = p11_mechanism_find(type);
  if (m == NULL || !(s->key_types & (1u << m->key_type))) {
    rv = CKR_MECHANISM_INVALID;
  } else {
    /* Sizes of the keys this token holds; the card does the work. */
    CK_ULONG min = 0, max = 0;
    for (size_t i = 0; i < p11_state.n_objects; i++) {
      const p11_object *o = p11_state.objects[i];
      if (o->slot != id || o->klass != CKO_PRIVATE_KEY || o->key_type != m->key_type)
        continue;
      if (min == 0 || o->bits < min)
        min = o->bits;
      if (o->bits > max)
        max = o->bits;
    }
    info->ulMinKeySize = min;
    info->ulMaxKeySize = max;
    info->flags = m->flags;
    if (m->key_type == TPROTO_KEY_EC)
      info->flags |= CKF_EC_F_P | CKF_EC_NAMEDCURVE | CKF_EC_UNCOMPRESS;
  }
  p11_leave();
  return rv;
}
