/* tessera-pkcs11 — signing. The module hashes (CKM_SHA256_RSA_PKCS, ...,
 * single- and multi-part) and the agent signs the digest: one request per
 * signature, made with the module's lock released so other threads go on
 * while the user answers the PIN dialog. */
#include "p11.h"

#include "digest-info.h"

#include <openssl/evp.h>
#include <openssl/objects.h>
#include <stdlib.h>
#include <string.h>

#define MAX_RAW_INPUT 8192 /* CKM_RSA_PKCS / CKM_ECDSA input: a digest or DigestInfo */

static size_t signature_size(const p11_op *op)
{
  size_t bytes = (op->bits + 7) / 8;
  return op->mech->key_type == TPROTO_KEY_EC ? 2 * bytes : bytes;
}

static size_t hash_size(uint8_t hash)
{
  const EVP_MD *md = EVP_get_digestbyname(p11_hash_name(hash));
  return md ? (size_t)EVP_MD_get_size(md) : 0;
}

static CK_RV pss_params(p11_op *op, const CK_MECHANISM *mech)
{
  const CK_RSA_PKCS_PSS_PARAMS *p = mech->pParameter;
  if (p == NULL || mech->ulParameterLen != sizeof(*p))
    return CKR_MECHANISM_PARAM_INVALID;
  op->pss_hash = p11_hash_from_ckm(p->hashAlg);
  op->mgf_hash = p11_hash_from_mgf(p->mgf);
  op->salt_len = (uint32_t)p->sLen;
  if (op->pss_hash == TPROTO_HASH_NONE || op->mgf_hash == TPROTO_HASH_NONE ||
      p->sLen > 1024 || (op->mech->hash != TPROTO_HASH_NONE && op->mech->hash != op->pss_hash))
    return CKR_MECHANISM_PARAM_INVALID;
  return CKR_OK;
}

/* PSS parameters, and the hash of the hashing mechanisms started. */
static CK_RV sign_setup(p11_op *op, const CK_MECHANISM *mech)
{
  CK_RV rv = op->mech->pss ? pss_params(op, mech) : CKR_OK;
  if (rv == CKR_OK && op->mech->hash != TPROTO_HASH_NONE) {
    op->md_ctx = EVP_MD_CTX_new();
    const EVP_MD *md = EVP_get_digestbyname(p11_hash_name(op->mech->hash));
    if (op->md_ctx == NULL || md == NULL || !EVP_DigestInit_ex(op->md_ctx, md, NULL))
      rv = CKR_HOST_MEMORY;
  }
  return rv;
}

CK_RV C_SignInit(CK_SESSION_HANDLE h, CK_MECHANISM_PTR mech, CK_OBJECT_HANDLE key)
{
  return p11_op_init(h, mech, key, P11_OP_SIGN, sign_setup);
}

/* Lock held. Hashing mechanisms digest as data comes; the others collect
 * their (short) input. */
static CK_RV add_input(p11_op *op, const uint8_t *data, size_t len)
{
  if (len == 0)
    return CKR_OK;
  if (op->md_ctx)
    return EVP_DigestUpdate(op->md_ctx, data, len) ? CKR_OK : CKR_FUNCTION_FAILED;
  if (op->data_len + len > MAX_RAW_INPUT)
    return CKR_DATA_LEN_RANGE;
  return p11_op_collect(op, data, len);
}

typedef struct {
  const char *key;
  uint8_t wire, hash, mgf_hash;
  uint32_t salt_len;
  const uint8_t *in;
  size_t in_len;
  uint8_t *sig;
  size_t sig_len;
} sign_request;

static int sign_call(tessera_client *c, void *ctx)
{
  sign_request *r = ctx;
  return tessera_sign(c, r->key, r->wire, r->hash, r->mgf_hash, r->salt_len, r->in, r->in_len,
                      &r->sig, &r->sig_len);
}

/* Lock held: what the agent signs. *input points into op or into *owned. */
static CK_RV sign_input(p11_op *op, const uint8_t **input, size_t *len, uint8_t **owned)
{
  *owned = NULL;
  if (op->md_ctx == NULL) {
    *input = op->data ? op->data : (const uint8_t *)"";
    *len = op->data_len;
    if (op->mech->pss && *len != hash_size(op->pss_hash))
      return CKR_DATA_LEN_RANGE;
    if (op->mech->wire == TPROTO_MECH_RSA_PKCS && *len + 11 > signature_size(op))
      return CKR_DATA_LEN_RANGE;
    return CKR_OK;
  }
  uint8_t digest[EVP_MAX_MD_SIZE];
  unsigned int digest_len = 0;
  if (!EVP_DigestFinal_ex(op->md_ctx, digest, &digest_len))
    return CKR_FUNCTION_FAILED;
  if (op->mech->wire == TPROTO_MECH_RSA_PKCS) {
    const EVP_MD *md = EVP_get_digestbyname(p11_hash_name(op->mech->hash));
    int n = md ? digest_info_encode(EVP_MD_get_type(md), digest, digest_len, owned) : -1;
    if (n < 0)
      return CKR_HOST_MEMORY;
    *len = (size_t)n;
  } else {
    *owned = OPENSSL_malloc(digest_len);
    if (*owned == NULL)
      return CKR_HOST_MEMORY;
    memcpy(*owned, digest, digest_len);
    *len = digest_len;
  }
  *input = *owned;
  return CKR_OK;
}

/* C_Sign and C_SignFinal. Ends the operation unless the caller only asked
 * for the length or gave too small a buffer. */
static CK_RV finish(CK_SESSION_HANDLE h, bool single, const uint8_t *data, size_t data_len,
                    CK_BYTE_PTR out, CK_ULONG_PTR out_len)
{
  if (out_len == NULL || (single && data == NULL && data_len > 0))
    return CKR_ARGUMENTS_BAD;
  p11_session *s;
  CK_RV rv = p11_enter_op(h, P11_OP_SIGN, &s);
  if (rv != CKR_OK)
    return rv;
  p11_op *op = &s->op;
  if (!p11_output_fits(out, out_len, signature_size(op), &rv)) {
    p11_leave();
    return rv;
  }
  rv = single ? add_input(op, data, data_len) : CKR_OK;
  sign_request r = { .wire = op->mech->wire, .hash = op->pss_hash, .mgf_hash = op->mgf_hash,
                     .salt_len = op->salt_len };
  uint8_t *owned = NULL;
  if (rv == CKR_OK)
    rv = sign_input(op, &r.in, &r.in_len, &owned);
  char *key = rv == CKR_OK ? strdup(op->key_id) : NULL;
  uint8_t *input = NULL;
  if (key && r.in_len) {
    input = malloc(r.in_len);
    if (input)
      memcpy(input, r.in, r.in_len);
  }
  if (rv == CKR_OK && (key == NULL || (r.in_len && input == NULL)))
    rv = CKR_HOST_MEMORY;
  OPENSSL_free(owned);
  /* The operation ends here whatever the agent answers. */
  p11_op_clear(op);
  p11_leave();
  if (rv != CKR_OK) {
    free(key);
    free(input);
    return rv;
  }
  r.key = key;
  r.in = input ? input : (const uint8_t *)"";
  int rc = p11_link_run(sign_call, &r);
  free(key);
  free(input);
  rv = p11_rv_from_tessera(rc, P11_FOR_SIGN);
  if (rv == CKR_OK && r.sig_len > *out_len)
    rv = CKR_GENERAL_ERROR; /* the agent broke its word on the size */
  if (rv == CKR_OK) {
    memcpy(out, r.sig, r.sig_len);
    *out_len = r.sig_len;
  }
  free(r.sig);
  return rv;
}

CK_RV C_Sign(CK_SESSION_HANDLE h, CK_BYTE_PTR data, CK_ULONG len, CK_BYTE_PTR sig,
             CK_ULONG_PTR sig_len)
{
  return finish(h, true, data, len, sig, sig_len);
}

CK_RV C_SignFinal(CK_SESSION_HANDLE h, CK_BYTE_PTR sig, CK_ULONG_PTR sig_len)
{
  return finish(h, false, NULL, 0, sig, sig_len);
}

CK_RV C_SignUpdate(CK_SESSION_HANDLE h, CK_BYTE_PTR data, CK_ULONG len)
{
  if (data == NULL && len > 0)
    return CKR_ARGUMENTS_BAD;
  p11_session *s;
  CK_RV rv = p11_enter_op(h, P11_OP_SIGN, &s);
  if (rv != CKR_OK)
    return rv;
  rv = add_input(&s->op, data, len);
  if (rv != CKR_OK)
    p11_op_clear(&s->op);
  p11_leave();
  return rv;
}
