/* tessera-agent — private-key operations and login (worker side). */
#include "operations.h"

#include "ckr.h"
#include "messages.h"
#include "objects.h"

#include <string.h>

#define MAX_OUTPUT 2048 /* RSA-16384 signatures; anything larger is refused */

gboolean operations_hash_mechanism(uint8_t hash, CK_MECHANISM_TYPE *mech, CK_ULONG *mgf)
{
  switch (hash) {
  case TPROTO_HASH_SHA1:
    *mech = CKM_SHA_1, *mgf = CKG_MGF1_SHA1;
    return TRUE;
  case TPROTO_HASH_SHA224:
    *mech = CKM_SHA224, *mgf = CKG_MGF1_SHA224;
    return TRUE;
  case TPROTO_HASH_SHA256:
    *mech = CKM_SHA256, *mgf = CKG_MGF1_SHA256;
    return TRUE;
  case TPROTO_HASH_SHA384:
    *mech = CKM_SHA384, *mgf = CKG_MGF1_SHA384;
    return TRUE;
  case TPROTO_HASH_SHA512:
    *mech = CKM_SHA512, *mgf = CKG_MGF1_SHA512;
    return TRUE;
  default:
    return FALSE;
  }
}

CK_MECHANISM_TYPE operations_ck_mechanism(uint8_t mech)
{
  switch (mech) {
  case TPROTO_MECH_RSA_PKCS:
    return CKM_RSA_PKCS;
  case TPROTO_MECH_RSA_PSS:
    return CKM_RSA_PKCS_PSS;
  case TPROTO_MECH_ECDSA:
    return CKM_ECDSA;
  case TPROTO_MECH_RSA_OAEP:
    return CKM_RSA_PKCS_OAEP;
  case TPROTO_MECH_ECDH:
    return CKM_ECDH1_DERIVE;
  default:
    return CK_UNAVAILABLE_INFORMATION;
  }
}

static void mark_logged_out(TesseraToken *token)
{
  g_mutex_lock(&token->lock);
  token->logged_in = FALSE;
  g_mutex_unlock(&token->lock);
  tessera_token_forget_handles(token);
}

/* Turns a token's refusal into words that say what to do next. */
static void reply_ckr(TesseraToken *token, TesseraJob *job, CK_RV rv, const char *function)
{
  const char *key = job->key ? job->key->label : "";
  switch (rv) {
  case CKR_USER_NOT_LOGGED_IN:
    mark_logged_out(token);
    tessera_job_reply_error(job, TPROTO_ERR_NOT_LOGGED_IN,
                            "token '%s' is not logged in; log in with `tessera login %s`",
                            token->label, token->label);
    return;
  case CKR_KEY_FUNCTION_NOT_PERMITTED:
    tessera_job_reply_error(job, TPROTO_ERR_KEY_USAGE, "key '%s' does not allow this operation",
                            key);
    return;
  case CKR_MECHANISM_INVALID:
  case CKR_MECHANISM_PARAM_INVALID:
    tessera_job_reply_error(job, TPROTO_ERR_MECHANISM,
                            "token '%s' does not support this mechanism or its parameters "
                            "for key '%s' (%s)",
                            token->label, key, ckr_name(rv));
    return;
  case CKR_DATA_LEN_RANGE:
  case CKR_DATA_INVALID:
    tessera_job_reply_error(job, TPROTO_ERR_BAD_INPUT,
                            "token '%s' rejected the input for key '%s' (%s)", token->label, key,
                            ckr_name(rv));
    return;
  case CKR_ENCRYPTED_DATA_INVALID:
  case CKR_ENCRYPTED_DATA_LEN_RANGE:
    tessera_job_reply_error(job, TPROTO_ERR_DECRYPT_FAILED,
                            "key '%s' could not decrypt the data: it was not encrypted to this "
                            "key, or with other padding, or it is corrupt",
                            key);
    return;
  default:
    tessera_job_reply_error(job, ckr_to_error(rv), "token '%s' failed in %s: %s", token->label,
                            function, ckr_name(rv));
  }
}

static CK_OBJECT_HANDLE private_handle(TesseraToken *token, TesseraJob *job)
{
  gpointer cached;
  if (g_hash_table_lookup_extended(token->private_handles, job->key->ckaid, NULL, &cached))
    return (CK_OBJECT_HANDLE)GPOINTER_TO_SIZE(cached);
  CK_OBJECT_HANDLE h = objects_find_private_key(token, job->key->ckaid);
  if (h != CK_INVALID_HANDLE)
    g_hash_table_insert(token->private_handles, g_bytes_ref(job->key->ckaid),
                        GSIZE_TO_POINTER((gsize)h));
  return h;
}

/* Finds the key or explains why it cannot be used. */
static gboolean resolve_handle(TesseraToken *token, TesseraJob *job, CK_OBJECT_HANDLE *h)
{
  *h = private_handle(token, job);
  if (*h != CK_INVALID_HANDLE)
    return TRUE;
  if (!tessera_token_logged_in(token) && !(job->key->flags & TPROTO_KEY_PRIVATE_SEEN)) {
    reply_ckr(token, job, CKR_USER_NOT_LOGGED_IN, "C_FindObjects");
    return FALSE;
  }
  tessera_job_reply_error(job, TPROTO_ERR_NO_SUCH_KEY,
                          "the private key '%s' is no longer on token '%s'", job->key->label,
                          token->label);
  return FALSE;
}

/* Runs one C_xxxInit + single-part call, retrying once when a cached
 * handle went stale (the token was re-read). */
typedef CK_RV (*InitFn)(CK_SESSION_HANDLE, CK_MECHANISM_PTR, CK_OBJECT_HANDLE);
typedef CK_RV (*RunFn)(CK_SESSION_HANDLE, CK_BYTE_PTR, CK_ULONG, CK_BYTE_PTR, CK_ULONG_PTR);

static void run_single_part(TesseraToken *token, TesseraJob *job, CK_MECHANISM *mech,
                            InitFn init, const char *init_name, RunFn run, const char *run_name)
{
  CK_OBJECT_HANDLE h;
  if (!resolve_handle(token, job, &h))
    return;
  CK_RV rv = init(token->session, mech, h);
  if (rv == CKR_KEY_HANDLE_INVALID || rv == CKR_OBJECT_HANDLE_INVALID) {
    tessera_token_forget_handles(token);
    if (!resolve_handle(token, job, &h))
      return;
    rv = init(token->session, mech, h);
  }
  /* At init, "bad arguments" can only mean the mechanism parameters:
   * SoftHSM, for one, accepts OAEP with SHA-1 only. */
  if (rv == CKR_ARGUMENTS_BAD)
    rv = CKR_MECHANISM_PARAM_INVALID;
  if (rv != CKR_OK) {
    reply_ckr(token, job, rv, init_name);
    return;
  }
  CK_BYTE out[MAX_OUTPUT];
  CK_ULONG out_len = sizeof(out);
  rv = run(token->session, job->data, job->data_len, out, &out_len);
  /* SoftHSM answers a padding failure with CKR_GENERAL_ERROR: once init
   * accepted key and parameters, that can only be the ciphertext. */
  if (rv == CKR_GENERAL_ERROR && job->kind == JOB_DECRYPT)
    rv = CKR_ENCRYPTED_DATA_INVALID;
  if (rv == CKR_OK)
    tessera_job_reply_data(job, out, out_len);
  else
    reply_ckr(token, job, rv, run_name);
  tproto_wipe(out, sizeof(out));
}

/* PSS and OAEP both name a hash and an MGF1 hash. */
static void hash_params(const TesseraJob *job, CK_MECHANISM_TYPE *hash, CK_ULONG *mgf)
{
  CK_ULONG unused_mgf;
  CK_MECHANISM_TYPE unused_hash;
  (void)operations_hash_mechanism(job->hash, hash, &unused_mgf);
  (void)operations_hash_mechanism(job->mgf_hash, &unused_hash, mgf);
}

static void run_sign(TesseraToken *token, TesseraJob *job)
{
  CK_MECHANISM mech = { operations_ck_mechanism(job->mech), NULL, 0 };
  CK_RSA_PKCS_PSS_PARAMS pss;
  if (job->mech == TPROTO_MECH_RSA_PSS) {
    hash_params(job, &pss.hashAlg, &pss.mgf);
    pss.sLen = job->salt_len;
    mech.pParameter = &pss;
    mech.ulParameterLen = sizeof(pss);
  }
  run_single_part(token, job, &mech, token->module->C_SignInit, "C_SignInit",
                  token->module->C_Sign, "C_Sign");
}

static void run_decrypt(TesseraToken *token, TesseraJob *job)
{
  CK_MECHANISM mech = { operations_ck_mechanism(job->mech), NULL, 0 };
  CK_RSA_PKCS_OAEP_PARAMS oaep;
  if (job->mech == TPROTO_MECH_RSA_OAEP) {
    hash_params(job, &oaep.hashAlg, &oaep.mgf);
    oaep.source = CKZ_DATA_SPECIFIED;
    oaep.pSourceData = job->label_len ? job->label : NULL;
    oaep.ulSourceDataLen = job->label_len;
    mech.pParameter = &oaep;
    mech.ulParameterLen = sizeof(oaep);
  }
  run_single_part(token, job, &mech, token->module->C_DecryptInit, "C_DecryptInit",
                  token->module->C_Decrypt, "C_Decrypt");
}

static void run_derive(TesseraToken *token, TesseraJob *job)
{
  CK_OBJECT_HANDLE h;
  if (!resolve_handle(token, job, &h))
    return;
  CK_ECDH1_DERIVE_PARAMS params = { CKD_NULL, 0, NULL, job->data_len, job->data };
  CK_MECHANISM mech = { CKM_ECDH1_DERIVE, &params, sizeof(params) };
  CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
  CK_KEY_TYPE type = CKK_GENERIC_SECRET;
  CK_BBOOL yes = CK_TRUE, no = CK_FALSE;
  CK_ULONG value_len = job->key->size_bytes;
  /* A session object the agent can read once and destroy at once. */
  CK_ATTRIBUTE tmpl[] = {
    { CKA_CLASS, &cls, sizeof(cls) },         { CKA_KEY_TYPE, &type, sizeof(type) },
    { CKA_TOKEN, &no, sizeof(no) },           { CKA_SENSITIVE, &no, sizeof(no) },
    { CKA_EXTRACTABLE, &yes, sizeof(yes) },   { CKA_VALUE_LEN, &value_len, sizeof(value_len) },
  };
  CK_OBJECT_HANDLE secret = CK_INVALID_HANDLE;
  CK_RV rv = token->module->C_DeriveKey(token->session, &mech, h, tmpl, G_N_ELEMENTS(tmpl),
                                        &secret);
  if (rv != CKR_OK) {
    reply_ckr(token, job, rv, "C_DeriveKey");
    return;
  }
  CK_BYTE value[MAX_OUTPUT];
  CK_ATTRIBUTE attr = { CKA_VALUE, value, sizeof(value) };
  rv = token->module->C_GetAttributeValue(token->session, secret, &attr, 1);
  token->module->C_DestroyObject(token->session, secret);
  if (rv == CKR_OK)
    tessera_job_reply_data(job, value, attr.ulValueLen);
  else
    reply_ckr(token, job, rv, "C_GetAttributeValue");
  tproto_wipe(value, sizeof(value));
}

static void refresh_token_flags(TesseraToken *token)
{
  CK_TOKEN_INFO info;
  if (token->module->C_GetTokenInfo(token->slot, &info) != CKR_OK)
    return;
  g_mutex_lock(&token->lock);
  token->token_flags = info.flags;
  g_mutex_unlock(&token->lock);
}

static void reply_wrong_pin(TesseraToken *token, TesseraJob *job)
{
  refresh_token_flags(token);
  uint32_t flags = tessera_token_proto_flags(token);
  const char *tries = "";
  if (flags & TPROTO_TOKEN_PIN_LOCKED)
    tries = "; the PIN is now blocked: unblock it with its PUK";
  else if (flags & TPROTO_TOKEN_PIN_FINAL_TRY)
    tries = "; one try left before the PIN is blocked";
  else if (flags & TPROTO_TOKEN_PIN_COUNT_LOW)
    tries = "; few tries left before the PIN is blocked";
  tessera_job_reply_error(job, TPROTO_ERR_PIN_INCORRECT, "wrong PIN for token '%s'%s",
                          token->label, tries);
}

static void run_login(TesseraToken *token, TesseraJob *job)
{
  CK_RV rv = token->module->C_Login(token->session, CKU_USER, job->data, job->data_len);
  switch (rv) {
  case CKR_OK:
    g_message("logged in to token '%s'", token->label);
    tessera_token_refresh(token);
    tessera_job_reply_ok(job);
    return;
  case CKR_USER_ALREADY_LOGGED_IN:
    /* The token did not look at this PIN: success would vouch for it. */
    tessera_job_reply_error(job, TPROTO_ERR_ALREADY_LOGGED_IN,
                            "token '%s' is already logged in (the PIN was not checked); "
                            "`tessera logout %s` first to log in again",
                            token->label, token->label);
    return;
  case CKR_PIN_INCORRECT:
    g_message("wrong PIN for token '%s'", token->label);
    reply_wrong_pin(token, job);
    return;
  case CKR_PIN_LOCKED:
    refresh_token_flags(token);
    tessera_job_reply_error(job, TPROTO_ERR_PIN_LOCKED,
                            "the PIN of token '%s' is blocked; unblock it with its PUK",
                            token->label);
    return;
  case CKR_PIN_LEN_RANGE:
  case CKR_PIN_INVALID:
    tessera_job_reply_error(job, TPROTO_ERR_PIN_INVALID,
                            "token '%s' does not accept a PIN of this length or form",
                            token->label);
    return;
  default:
    reply_ckr(token, job, rv, "C_Login");
  }
}

static void run_logout(TesseraToken *token, TesseraJob *job)
{
  CK_RV rv = token->module->C_Logout(token->session);
  if (rv != CKR_OK && rv != CKR_USER_NOT_LOGGED_IN) {
    reply_ckr(token, job, rv, "C_Logout");
    return;
  }
  g_message("logged out of token '%s'", token->label);
  tessera_token_refresh(token);
  tessera_job_reply_ok(job);
}

void operations_run(TesseraToken *token, TesseraJob *job)
{
  switch (job->kind) {
  case JOB_SIGN:
    run_sign(token, job);
    break;
  case JOB_DECRYPT:
    run_decrypt(token, job);
    break;
  case JOB_DERIVE:
    run_derive(token, job);
    break;
  case JOB_LOGIN:
    run_login(token, job);
    break;
  case JOB_LOGOUT:
    run_logout(token, job);
    break;
  }
}
