/* bench-sign — signing straight through a PKCS#11 module, the baseline the
 * agent's overhead is measured against. */
#pragma once

#include <glib.h>
#include <p11-kit/pkcs11.h>

typedef struct BenchDirect BenchDirect;

/* Loads the module, opens a session on the token with this label and logs
 * the user in. */
BenchDirect *bench_direct_open(const char *module_path, const char *token_label, const char *pin,
                               GError **error);
void bench_direct_free(BenchDirect *d);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(BenchDirect, bench_direct_free)

/* The private key with this CKA_ID, or CK_INVALID_HANDLE (error set). */
CK_OBJECT_HANDLE bench_direct_find_key(BenchDirect *d, GBytes *ckaid, GError **error);

/* One C_SignInit + C_Sign; sig must hold *sig_len bytes, which is updated. */
gboolean bench_direct_sign(BenchDirect *d, CK_OBJECT_HANDLE key, CK_MECHANISM_TYPE mech,
                           const guint8 *in, gsize in_len, guint8 *sig, gsize *sig_len,
                           GError **error);
