/* bench-sign — signing straight through a PKCS#11 module, the baseline the
 * agent's overhead is measured against. */
#pragma once

#include <glib.h>
#include <p11-kit/pkcs11.h>

typedef struct BenchDirect BenchDirect;

/* Loads the module, opens a session on the token with this label and logs
 * the user in: bench_direct_load, then bench_direct_start. */
BenchDirect *bench_direct_open(const char *module_path, const char *token_label, const char *pin,
                               GError **error);

/* The steps of bench_direct_open, for timing them apart. Loading is
 * p11_kit_module_load (dlopen, C_GetFunctionList) and nothing more; start
 * is C_Initialize, C_GetSlotList and C_GetTokenInfo until the label
 * matches, C_OpenSession and C_Login (CKU_USER; already logged in is fine). */
BenchDirect *bench_direct_load(const char *module_path, GError **error);
gboolean bench_direct_start(BenchDirect *d, const char *token_label, const char *pin,
                            GError **error);
/* C_CloseSession and C_Finalize, without C_Logout: a module whose login
 * outlives the process (tessera-pkcs11.so's is the agent's, shared by every
 * client) stays logged in. The module stays loaded until bench_direct_free. */
gboolean bench_direct_stop(BenchDirect *d, GError **error);

/* Logs out (unless bench_direct_stop ran), closes, finalizes, unloads. */
void bench_direct_free(BenchDirect *d);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(BenchDirect, bench_direct_free)

/* The private key with this CKA_ID, or CK_INVALID_HANDLE (error set). */
CK_OBJECT_HANDLE bench_direct_find_key(BenchDirect *d, GBytes *ckaid, GError **error);

/* One C_SignInit + C_Sign; sig must hold *sig_len bytes, which is updated. */
gboolean bench_direct_sign(BenchDirect *d, CK_OBJECT_HANDLE key, CK_MECHANISM_TYPE mech,
                           const guint8 *in, gsize in_len, guint8 *sig, gsize *sig_len,
                           GError **error);
