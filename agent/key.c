/* tessera-agent — a key as the agent lists it. */
#include "key.h"

#include "messages.h"

TesseraKey *tessera_key_new(void)
{
  return g_rc_box_new0(TesseraKey);
}

TesseraKey *tessera_key_ref(TesseraKey *key)
{
  return g_rc_box_acquire(key);
}

static void key_clear(gpointer data)
{
  TesseraKey *key = data;
  g_free(key->id);
  g_free(key->label);
  g_clear_pointer(&key->ckaid, g_bytes_unref);
  g_clear_pointer(&key->cert, g_bytes_unref);
  g_clear_pointer(&key->spki, g_bytes_unref);
}

void tessera_key_unref(TesseraKey *key)
{
  if (key != NULL)
    g_rc_box_release_full(key, key_clear);
}

const char *tessera_op_noun(uint32_t op)
{
  switch (op) {
  case TPROTO_OP_SIGN:
    return "signing";
  case TPROTO_OP_DECRYPT:
    return "decryption";
  case TPROTO_OP_DERIVE:
    return "key agreement";
  default:
    return "this operation";
  }
}
