/* bench-sign — signing straight through a PKCS#11 module. */
#include "p11-direct.h"

#include "bench-error.h"

#include <p11-kit/p11-kit.h>
#include <string.h>

struct BenchDirect {
  CK_FUNCTION_LIST *module;
  gboolean initialized;
  CK_SESSION_HANDLE session;
  gboolean logged_in;
};

static gboolean check_rv(CK_RV rv, const char *function, GError **error)
{
  if (rv == CKR_OK)
    return TRUE;
  g_set_error(error, BENCH_ERROR, 0, "%s failed: %s (0x%lx)", function, p11_kit_strerror(rv),
              (unsigned long)rv);
  return FALSE;
}

void bench_direct_free(BenchDirect *d)
{
  if (!d)
    return;
  if (d->logged_in)
    d->module->C_Logout(d->session);
  if (d->session != CK_INVALID_HANDLE)
    d->module->C_CloseSession(d->session);
  if (d->initialized)
    p11_kit_module_finalize(d->module);
  if (d->module)
    p11_kit_module_release(d->module);
  g_free(d);
}

/* Token labels are fixed-size and blank-padded. */
static gboolean label_matches(const CK_UTF8CHAR label[32], const char *wanted)
{
  size_t len = 32;
  while (len > 0 && label[len - 1] == ' ')
    len--;
  return strlen(wanted) == len && memcmp(label, wanted, len) == 0;
}

static gboolean find_slot(BenchDirect *d, const char *token_label, CK_SLOT_ID *slot,
                          GError **error)
{
  CK_ULONG n = 0;
  if (!check_rv(d->module->C_GetSlotList(CK_TRUE, NULL, &n), "C_GetSlotList", error))
    return FALSE;
  g_autofree CK_SLOT_ID *slots = g_new0(CK_SLOT_ID, n ? n : 1);
  if (!check_rv(d->module->C_GetSlotList(CK_TRUE, slots, &n), "C_GetSlotList", error))
    return FALSE;
  for (CK_ULONG i = 0; i < n; i++) {
    CK_TOKEN_INFO info;
    if (d->module->C_GetTokenInfo(slots[i], &info) == CKR_OK &&
        label_matches(info.label, token_label)) {
      *slot = slots[i];
      return TRUE;
    }
  }
  g_set_error(error, BENCH_ERROR, 0, "no token labelled '%s' in the module", token_label);
  return FALSE;
}

BenchDirect *bench_direct_load(const char *module_path, GError **error)
{
  g_autoptr(BenchDirect) d = g_new0(BenchDirect, 1);
  d->session = CK_INVALID_HANDLE;
  /* Unmanaged: the module's own function list, no p11-kit layer in between. */
  d->module = p11_kit_module_load(module_path, P11_KIT_MODULE_UNMANAGED);
  if (!d->module) {
    const char *why = p11_kit_message();
    g_set_error(error, BENCH_ERROR, 0, "cannot load PKCS#11 module %s: %s", module_path,
                why ? why : "unknown error");
    return NULL;
  }
  return g_steal_pointer(&d);
}

gboolean bench_direct_start(BenchDirect *d, const char *token_label, const char *pin,
                            GError **error)
{
  g_return_val_if_fail(!d->initialized, FALSE);
  if (!check_rv(p11_kit_module_initialize(d->module), "C_Initialize", error))
    return FALSE;
  d->initialized = TRUE;

  CK_SLOT_ID slot;
  if (!find_slot(d, token_label, &slot, error))
    return FALSE;
  if (!check_rv(d->module->C_OpenSession(slot, CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL,
                                         &d->session),
                "C_OpenSession", error))
    return FALSE;
  CK_RV rv = d->module->C_Login(d->session, CKU_USER, (CK_UTF8CHAR *)pin, strlen(pin));
  if (rv != CKR_USER_ALREADY_LOGGED_IN && !check_rv(rv, "C_Login", error))
    return FALSE;
  d->logged_in = TRUE;
  return TRUE;
}

gboolean bench_direct_stop(BenchDirect *d, GError **error)
{
  d->logged_in = FALSE; /* left as it is: no C_Logout */
  CK_SESSION_HANDLE session = d->session;
  d->session = CK_INVALID_HANDLE;
  if (session != CK_INVALID_HANDLE &&
      !check_rv(d->module->C_CloseSession(session), "C_CloseSession", error))
    return FALSE;
  if (!d->initialized)
    return TRUE;
  d->initialized = FALSE;
  return check_rv(p11_kit_module_finalize(d->module), "C_Finalize", error);
}

BenchDirect *bench_direct_open(const char *module_path, const char *token_label, const char *pin,
                               GError **error)
{
  g_autoptr(BenchDirect) d = bench_direct_load(module_path, error);
  if (!d || !bench_direct_start(d, token_label, pin, error))
    return NULL;
  return g_steal_pointer(&d);
}

CK_OBJECT_HANDLE bench_direct_find_key(BenchDirect *d, GBytes *ckaid, GError **error)
{
  CK_OBJECT_CLASS cls = CKO_PRIVATE_KEY;
  gsize id_len;
  const void *id = g_bytes_get_data(ckaid, &id_len);
  CK_ATTRIBUTE tmpl[] = {
    { CKA_CLASS, &cls, sizeof(cls) },
    { CKA_ID, (void *)id, id_len },
  };
  if (!check_rv(d->module->C_FindObjectsInit(d->session, tmpl, G_N_ELEMENTS(tmpl)),
                "C_FindObjectsInit", error))
    return CK_INVALID_HANDLE;
  CK_OBJECT_HANDLE key = CK_INVALID_HANDLE;
  CK_ULONG found = 0;
  CK_RV rv = d->module->C_FindObjects(d->session, &key, 1, &found);
  d->module->C_FindObjectsFinal(d->session);
  if (!check_rv(rv, "C_FindObjects", error))
    return CK_INVALID_HANDLE;
  if (found == 0) {
    g_set_error_literal(error, BENCH_ERROR, 0, "no private key with that CKA_ID on the token");
    return CK_INVALID_HANDLE;
  }
  return key;
}

gboolean bench_direct_sign(BenchDirect *d, CK_OBJECT_HANDLE key, CK_MECHANISM_TYPE mech,
                           const guint8 *in, gsize in_len, guint8 *sig, gsize *sig_len,
                           GError **error)
{
  CK_MECHANISM m = { mech, NULL, 0 };
  if (!check_rv(d->module->C_SignInit(d->session, &m, key), "C_SignInit", error))
    return FALSE;
  CK_ULONG len = *sig_len;
  if (!check_rv(d->module->C_Sign(d->session, (CK_BYTE *)in, in_len, sig, &len), "C_Sign",
                error))
    return FALSE;
  *sig_len = len;
  return TRUE;
}
