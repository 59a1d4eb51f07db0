/* tessera-pkcs11 — the one signing or decryption a session may have
 * running: its start, the input collected by Update, the output handed
 * out, its end. sign.c and decrypt.c say what differs. */
#include "p11.h"

#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>

void p11_op_clear(p11_op *op)
{
  free(op->key_id);
  free(op->oaep_label);
  EVP_MD_CTX_free(op->md_ctx);
  if (op->data)
    explicit_bzero(op->data, op->data_len);
  free(op->data);
  if (op->result)
    explicit_bzero(op->result, op->result_len);
  free(op->result);
  memset(op, 0, sizeof(*op));
}

/* Lock held: checks no operation runs and the key allows use with mech,
 * then records mechanism and key. */
static CK_RV op_begin(p11_session *s, const CK_MECHANISM *mech, CK_OBJECT_HANDLE key,
                      CK_FLAGS use)
{
  p11_op *op = &s->op;
  if (op->kind != P11_OP_NONE)
    return CKR_OPERATION_ACTIVE;
  const p11_object *o = NULL;
  const p11_mechanism *m = p11_mechanism_find(mech->mechanism);
  CK_RV rv = p11_key_for(s, key, m, use, &o);
  if (rv != CKR_OK)
    return rv;
  p11_op_clear(op); /* leftovers of an operation that ended while unlocked */
  op->mech = m;
  op->bits = o->bits;
  op->key_id = strdup(o->key_id);
  return op->key_id ? CKR_OK : CKR_HOST_MEMORY;
}

CK_RV p11_op_init(CK_SESSION_HANDLE h, const CK_MECHANISM *mech, CK_OBJECT_HANDLE key,
                  p11_op_kind kind, p11_op_setup setup)
{
  if (mech == NULL)
    return CKR_ARGUMENTS_BAD;
  p11_session *s;
  CK_RV rv = p11_enter_session(h, &s);
  if (rv != CKR_OK)
    return rv;
  p11_op *op = &s->op;
  CK_RV begun = rv = op_begin(s, mech, key, kind == P11_OP_SIGN ? CKF_SIGN : CKF_DECRYPT);
  if (rv == CKR_OK)
    rv = setup(op, mech);
  if (rv == CKR_OK)
    op->kind = kind;
  else if (begun == CKR_OK)
    p11_op_clear(op);
  p11_leave();
  return rv;
}

CK_RV p11_enter_op(CK_SESSION_HANDLE h, p11_op_kind kind, p11_session **out)
{
  CK_RV rv = p11_enter_session(h, out);
  if (rv != CKR_OK)
    return rv;
  if ((*out)->op.kind != kind) {
    p11_leave();
    return CKR_OPERATION_NOT_INITIALIZED;
  }
  return CKR_OK;
}

CK_RV p11_op_collect(p11_op *op, const uint8_t *data, size_t len)
{
  if (len == 0)
    return CKR_OK;
  uint8_t *grown = realloc(op->data, op->data_len + len);
  if (grown == NULL)
    return CKR_HOST_MEMORY;
  memcpy(grown + op->data_len, data, len);
  op->data = grown;
  op->data_len += len;
  return CKR_OK;
}

bool p11_output_fits(const CK_BYTE *out, CK_ULONG_PTR out_len, size_t size, CK_RV *rv)
{
  if (out != NULL && *out_len >= size)
    return true;
  *rv = out == NULL ? CKR_OK : CKR_BUFFER_TOO_SMALL;
  *out_len = size;
  return false;
}
