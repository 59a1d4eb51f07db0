/* tessera-agent — a key as the agent lists it: immutable once published.
 *
 * Keys are reference counted (g_rc_box) so a request can hold the key it
 * resolved while the token's worker publishes a fresh list after a login.
 */
#pragma once

#include <glib.h>
#include <p11-kit/pkcs11.h>
#include <stdint.h>

typedef struct {
  char *id;     /* RFC 7512 URI: stable across restarts and re-insertion */
  char *label;
  GBytes *ckaid;
  uint8_t key_type; /* TPROTO_KEY_* */
  uint32_t bits;
  uint32_t ops;   /* TPROTO_OP_* */
  uint32_t flags; /* TPROTO_KEY_* */
  gsize size_bytes; /* RSA: modulus bytes; EC: field element bytes */
  GBytes *cert; /* X.509 DER or NULL */
  GBytes *spki; /* SubjectPublicKeyInfo DER or NULL */
  gboolean confirm; /* agent.conf [key NAME] confirm = true */
} TesseraKey;

TesseraKey *tessera_key_new(void);
TesseraKey *tessera_key_ref(TesseraKey *key);
void tessera_key_unref(TesseraKey *key);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(TesseraKey, tessera_key_unref)

/* Words for messages: "decryption", "signing", "key agreement". */
const char *tessera_op_noun(uint32_t op);
