/* tessera-pkcs11 — RSA decryption (PKCS#1 v1.5 and OAEP) on the card. */
#include "p11.h"

#include <stdlib.h>
#include <string.h>

static CK_RV oaep_params(p11_op *op, const CK_MECHANISM *mech)
{
  const CK_RSA_PKCS_OAEP_PARAMS *p = mech->pParameter;
  if (p == NULL || mech->ulParameterLen != sizeof(*p))
    return CKR_MECHANISM_PARAM_INVALID;
  op->pss_hash = p11_hash_from_ckm(p->hashAlg);
  op->mgf_hash = p11_hash_from_mgf(p->mgf);
  if (op->pss_hash == TPROTO_HASH_NONE || op->mgf_hash == TPROTO_HASH_NONE)
    return CKR_MECHANISM_PARAM_INVALID;
  if (p->ulSourceDataLen == 0)
    return CKR_OK;
  if (p->source != CKZ_DATA_SPECIFIED || p->pSourceData == NULL || p->ulSourceDataLen > 4096)
    return CKR_MECHANISM_PARAM_INVALID;
  op->oaep_label = malloc(p->ulSourceDataLen);
  if (op->oaep_label == NULL)
    return CKR_HOST_MEMORY;
  memcpy(op->oaep_label, p->pSourceData, p->ulSourceDataLen);
  op->oaep_label_len = p->ulSourceDataLen;
  return CKR_OK;
}

static CK_RV decrypt_setup(p11_op *op, const CK_MECHANISM *mech)
{
  return op->mech->wire == TPROTO_MECH_RSA_OAEP ? oaep_params(op, mech) : CKR_OK;
}

CK_RV C_DecryptInit(CK_SESSION_HANDLE h, CK_MECHANISM_PTR mech, CK_OBJECT_HANDLE key)
{
  return p11_op_init(h, mech, key, P11_OP_DECRYPT, decrypt_setup);
}

typedef struct {
  const char *key;
  uint8_t wire, hash, mgf_hash;
  const uint8_t *label, *in;
  size_t label_len, in_len;
  uint8_t *out;
  size_t out_len;
} decrypt_request;

static int decrypt_call(tessera_client *c, void *ctx)
{
  decrypt_request *r = ctx;
  return tessera_decrypt(c, r->key, r->wire, r->hash, r->mgf_hash, r->label, r->label_len,
                         r->in, r->in_len, &r->out, &r->out_len);
}

/* Lock held: hands out a plaintext kept from a call whose buffer was too
 * small; the operation ends once it fits. */
static CK_RV give_result(p11_op *op, CK_BYTE_PTR out, CK_ULONG_PTR out_len)
{
  CK_RV rv;
  if (!p11_output_fits(out, out_len, op->result_len, &rv))
    return rv;
  memcpy(out, op->result, op->result_len);
  *out_len = op->result_len;
  p11_op_clear(op);
  return CKR_OK;
}

/* What C_Decrypt, C_DecryptUpdate and C_DecryptFinal check first: lock
 * held on CKR_OK. */
static CK_RV enter(CK_SESSION_HANDLE h, const uint8_t *in, size_t in_len,
                   const CK_ULONG *out_len, p11_session **s)
{
  if (out_len == NULL || (in == NULL && in_len > 0))
    return CKR_ARGUMENTS_BAD;
  return p11_enter_op(h, P11_OP_DECRYPT, s);
}

/* C_Decrypt (input given) and C_DecryptFinal (input collected by
 * C_DecryptUpdate). */
static CK_RV finish(CK_SESSION_HANDLE h, bool single, const uint8_t *in, size_t in_len,
                    CK_BYTE_PTR out, CK_ULONG_PTR out_len)
{
  p11_session *s;
  CK_RV rv = enter(h, in, in_len, out_len, &s);
  if (rv != CKR_OK)
    return rv;
  p11_op *op = &s->op;
  size_t modulus = (op->bits + 7) / 8;
  /* Freed here either way: C_Decrypt after C_DecryptUpdate decrypts its
   * own input, and what Update collected goes. */
  uint8_t *collected = op->data;
  if (!single) {
    in = collected;
    in_len = op->data_len;
  }
  if (op->result) {
    rv = give_result(op, out, out_len);
  } else if (out == NULL) {
    *out_len = modulus; /* the plaintext is never longer */
  } else if (in_len != modulus) {
    p11_op_clear(op);
    rv = CKR_ENCRYPTED_DATA_LEN_RANGE;
  } else {
    decrypt_request r = { .wire = op->mech->wire, .hash = op->pss_hash,
                          .mgf_hash = op->mgf_hash, .in = in, .in_len = in_len };
    char *key = strdup(op->key_id);
    uint8_t *label = NULL;
    if (op->oaep_label_len && (label = malloc(op->oaep_label_len)) != NULL)
      memcpy(label, op->oaep_label, op->oaep_label_len);
    bool copied = key && (label || op->oaep_label_len == 0);
    r.key = key;
    r.label = label;
    r.label_len = label ? op->oaep_label_len : 0;
    op->data = NULL; /* ours now: the session may be closed meanwhile */
    op->data_len = 0;
    op->kind = P11_OP_NONE; /* no second C_Decrypt while this one runs */
    p11_leave();
    int rc = copied ? p11_link_run(decrypt_call, &r) : TESSERA_E_NOMEM;
    free(key);
    free(label);
    free(collected);
    rv = p11_rv_from_tessera(rc, P11_FOR_DECRYPT);
    if (p11_enter_session(h, &s) != CKR_OK) {
      tessera_free_secret(r.out, r.out_len);
      return rv == CKR_OK ? CKR_SESSION_HANDLE_INVALID : rv;
    }
    op = &s->op;
    if (op->kind != P11_OP_NONE) {
      /* Another thread began an operation on this session meanwhile: that
       * one stays, and this plaintext goes straight out or nowhere. */
      if (rv == CKR_OK && r.out_len <= *out_len) {
        memcpy(out, r.out, r.out_len);
        *out_len = r.out_len;
      } else if (rv == CKR_OK) {
        rv = CKR_FUNCTION_CANCELED; /* it cannot wait for a larger buffer */
      }
      tessera_free_secret(r.out, r.out_len);
    } else if (rv == CKR_OK) {
      op->kind = P11_OP_DECRYPT;
      op->result = r.out;
      op->result_len = r.out_len;
      rv = give_result(op, out, out_len);
    } else {
      p11_op_clear(op);
    }
  }
  p11_leave();
  return rv;
}

CK_RV C_Decrypt(CK_SESSION_HANDLE h, CK_BYTE_PTR in, CK_ULONG in_len, CK_BYTE_PTR out,
                CK_ULONG_PTR out_len)
{
  return finish(h, true, in, in_len, out, out_len);
}

/* RSA is single-part, but some programs (pkcs11-tool for OAEP) feed the
 * ciphertext through C_DecryptUpdate: collect it, decrypt at the end. */
CK_RV C_DecryptUpdate(CK_SESSION_HANDLE h, CK_BYTE_PTR in, CK_ULONG in_len, CK_BYTE_PTR out,
                      CK_ULONG_PTR out_len)
{
  p11_session *s;
  CK_RV rv = enter(h, in, in_len, out_len, &s);
  if (rv != CKR_OK)
    return rv;
  p11_op *op = &s->op;
  if (op->result) {
    rv = CKR_OPERATION_NOT_INITIALIZED; /* decrypted: the plaintext waits to be fetched */
  } else if (op->data_len + in_len > (op->bits + 7) / 8) {
    p11_op_clear(op);
    rv = CKR_ENCRYPTED_DATA_LEN_RANGE;
  } else {
    rv = p11_op_collect(op, in, in_len);
  }
  if (rv == CKR_OK)
    *out_len = 0;
  p11_leave();
  return rv;
}

CK_RV C_DecryptFinal(CK_SESSION_HANDLE h, CK_BYTE_PTR out, CK_ULONG_PTR out_len)
{
  return finish(h, false, NULL, 0, out, out_len);
}
