/* tessera-agent — private-key operations and login (worker side). */
/* RSA_padding_check_PKCS1_OAEP_mgf1 is deprecated, but OpenSSL 3 has no
 * other way to remove OAEP padding alone. */
#define OPENSSL_SUPPRESS_DEPRECATED
#include "operations.h"

#include "ckr.h"
#include "hotplug.h"
#include "login.h"
#include "waiting.h"
#include "messages.h"
#include "objects.h"

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>
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

void operations_reply_ckr(TesseraToken *token, TesseraJob *job, CK_RV rv, const char *function)
{
  const char *key = job->key ? job->key->label : "";
  switch (rv) {
  case CKR_DEVICE_REMOVED:
  case CKR_TOKEN_NOT_PRESENT:
  case CKR_SESSION_HANDLE_INVALID:
  case CKR_SESSION_CLOSED:
  case CKR_DEVICE_ERROR:
    tessera_job_reply_error(job, TPROTO_ERR_CARD_REMOVED,
                            "the card of token '%s' was removed during the operation (%s)",
                            token->label, ckr_name(rv));
    return;
  case CKR_USER_NOT_LOGGED_IN:
    login_lost(token);
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

/* An attempt either answered the job (DONE) or found the token logged
 * out behind the agent's back (LOST), when a new login may help. */
typedef enum { ATTEMPT_DONE, ATTEMPT_LOST } Attempt;

/* Finds the key or explains why it cannot be used. */
static Attempt resolve_handle(TesseraToken *token, TesseraJob *job, CK_OBJECT_HANDLE *h)
{
  *h = private_handle(token, job);
  if (*h != CK_INVALID_HANDLE)
    return ATTEMPT_DONE;
  if (!tessera_token_logged_in(token) && !(job->key->flags & TPROTO_KEY_PRIVATE_SEEN))
    return ATTEMPT_LOST; /* hidden until login: the login is gone */
  tessera_job_reply_error(job, TPROTO_ERR_NO_SUCH_KEY,
                          "the private key '%s' is no longer on token '%s'", job->key->label,
                          token->label);
  return ATTEMPT_DONE;
}

/* Runs one C_xxxInit + single-part call, retrying once when a cached
 * handle went stale (the token was re-read). */
typedef CK_RV (*InitFn)(CK_SESSION_HANDLE, CK_MECHANISM_PTR, CK_OBJECT_HANDLE);
typedef CK_RV (*RunFn)(CK_SESSION_HANDLE, CK_BYTE_PTR, CK_ULONG, CK_BYTE_PTR, CK_ULONG_PTR);

/* What to ask a token that refuses a mechanism or its parameters, and
 * how the agent turns that output into the answer (FALSE: it cannot).
 * after_run: also when the token accepted the parameters at init and then
 * failed the operation itself (see retry_after_run). */
typedef struct {
  CK_MECHANISM mech;
  gboolean (*finish)(const TesseraJob *job, CK_BYTE *out, CK_ULONG *out_len);
  gboolean after_run;
} Fallback;

/* The single-part call and the agent's own part of the answer. */
static CK_RV run_and_finish(TesseraToken *token, TesseraJob *job, RunFn run,
                            gboolean (*finish)(const TesseraJob *, CK_BYTE *, CK_ULONG *),
                            CK_BYTE *out, CK_ULONG *out_len)
{
  CK_RV rv = run(token->session, job->data, job->data_len, out, out_len);
  /* SoftHSM answers a padding failure with CKR_GENERAL_ERROR: once init
   * accepted key and parameters, that can only be the ciphertext. */
  if (rv == CKR_GENERAL_ERROR && job->kind == JOB_DECRYPT)
    rv = CKR_ENCRYPTED_DATA_INVALID;
  /* The agent's own padding check fails as the token's would. */
  if (rv == CKR_OK && finish != NULL && !finish(job, out, out_len))
    rv = CKR_ENCRYPTED_DATA_INVALID;
  return rv;
}

/* Whether a failed single-part call is worth one more try through the
 * fallback: a token may accept parameters at init that it cannot do
 * (SoftHSM 2.6.1 takes an OAEP label and then fails C_Decrypt with
 * CKR_GENERAL_ERROR). Never for a key that needs its PIN for each
 * operation: a second try would need the PIN again. */
static gboolean retry_after_run(const TesseraJob *job, const Fallback *fallback, CK_RV rv)
{
  if (fallback == NULL || !fallback->after_run || (job->key->flags & TPROTO_KEY_ALWAYS_AUTH))
    return FALSE;
  switch (rv) {
  case CKR_MECHANISM_INVALID:
  case CKR_MECHANISM_PARAM_INVALID:
  case CKR_ARGUMENTS_BAD:
  case CKR_FUNCTION_FAILED:
  case CKR_ENCRYPTED_DATA_INVALID: /* and CKR_GENERAL_ERROR, see run_and_finish */
    return TRUE;
  default:
    return FALSE;
  }
}

static Attempt run_single_part(TesseraToken *token, TesseraJob *job, CK_MECHANISM *mech,
                               Fallback *fallback, InitFn init, const char *init_name,
                               RunFn run, const char *run_name)
{
  CK_OBJECT_HANDLE h = CK_INVALID_HANDLE;
  if (resolve_handle(token, job, &h) == ATTEMPT_LOST)
    return ATTEMPT_LOST;
  if (h == CK_INVALID_HANDLE)
    return ATTEMPT_DONE;
  CK_RV rv = init(token->session, mech, h);
  if (rv == CKR_KEY_HANDLE_INVALID || rv == CKR_OBJECT_HANDLE_INVALID) {
    tessera_token_forget_handles(token);
    if (resolve_handle(token, job, &h) == ATTEMPT_LOST)
      return ATTEMPT_LOST;
    if (h == CK_INVALID_HANDLE)
      return ATTEMPT_DONE;
    rv = init(token->session, mech, h);
  }
  /* At init, "bad arguments" can only mean the mechanism parameters:
   * SoftHSM, for one, accepts OAEP with SHA-1 only. */
  if (rv == CKR_ARGUMENTS_BAD)
    rv = CKR_MECHANISM_PARAM_INVALID;
  gboolean (*finish)(const TesseraJob *, CK_BYTE *, CK_ULONG *) = NULL;
  if (fallback != NULL && (rv == CKR_MECHANISM_INVALID || rv == CKR_MECHANISM_PARAM_INVALID)) {
    /* If that fails too, the error is the one about what was asked,
     * unless it says the login is gone. */
    CK_RV fallback_rv = init(token->session, &fallback->mech, h);
    if (fallback_rv == CKR_OK)
      finish = fallback->finish;
    if (fallback_rv == CKR_OK || fallback_rv == CKR_USER_NOT_LOGGED_IN)
      rv = fallback_rv;
  }
  if (rv == CKR_USER_NOT_LOGGED_IN)
    return ATTEMPT_LOST;
  if (rv != CKR_OK) {
    operations_reply_ckr(token, job, rv, init_name);
    return ATTEMPT_DONE;
  }
  CK_BYTE out[MAX_OUTPUT];
  CK_ULONG out_len = sizeof(out);
  if ((job->key->flags & TPROTO_KEY_ALWAYS_AUTH) && !login_context_specific(token, job)) {
    /* Ends the operation the init started; its result, if the token
     * produced one regardless, is thrown away. */
    (void)run(token->session, job->data, job->data_len, out, &out_len);
    tproto_wipe(out, sizeof(out));
    return ATTEMPT_DONE;
  }
  rv = run_and_finish(token, job, run, finish, out, &out_len);
  if (rv != CKR_OK && finish == NULL && retry_after_run(job, fallback, rv)) {
    /* The failed call ended the operation: the fallback needs its own
     * init. If the fallback cannot start, the token's error stands; if
     * the agent's padding check fails too, the ciphertext is bad. */
    tproto_wipe(out, sizeof(out));
    CK_RV fallback_rv = init(token->session, &fallback->mech, h);
    if (fallback_rv == CKR_OK) {
      out_len = sizeof(out);
      rv = run_and_finish(token, job, run, fallback->finish, out, &out_len);
    } else if (fallback_rv == CKR_USER_NOT_LOGGED_IN) {
      rv = fallback_rv;
    }
  }
  Attempt result = ATTEMPT_DONE;
  if (rv == CKR_OK)
    tessera_job_reply_data(job, out, out_len);
  else if (rv == CKR_USER_NOT_LOGGED_IN && !(job->key->flags & TPROTO_KEY_ALWAYS_AUTH))
    result = ATTEMPT_LOST;
  else
    operations_reply_ckr(token, job, rv, run_name);
  tproto_wipe(out, sizeof(out));
  return result;
}

/* PSS and OAEP both name a hash and an MGF1 hash. */
static void hash_params(const TesseraJob *job, CK_MECHANISM_TYPE *hash, CK_ULONG *mgf)
{
  CK_ULONG unused_mgf;
  CK_MECHANISM_TYPE unused_hash;
  (void)operations_hash_mechanism(job->hash, hash, &unused_mgf);
  (void)operations_hash_mechanism(job->mgf_hash, &unused_hash, mgf);
}

static Attempt attempt_sign(TesseraToken *token, TesseraJob *job)
{
  CK_MECHANISM mech = { operations_ck_mechanism(job->mech), NULL, 0 };
  CK_RSA_PKCS_PSS_PARAMS pss;
  if (job->mech == TPROTO_MECH_RSA_PSS) {
    hash_params(job, &pss.hashAlg, &pss.mgf);
    pss.sLen = job->salt_len;
    mech.pParameter = &pss;
    mech.ulParameterLen = sizeof(pss);
  }
  return run_single_part(token, job, &mech, NULL, token->module->C_SignInit, "C_SignInit",
                         token->module->C_Sign, "C_Sign");
}

/* OAEP decoding of a raw RSA result; OpenSSL's check takes the same time
 * and sets the same error whichever part of the padding is wrong. */
static gboolean oaep_unpad(const TesseraJob *job, CK_BYTE *out, CK_ULONG *out_len)
{
  const EVP_MD *md = EVP_get_digestbyname(tproto_hash_name(job->hash));
  const EVP_MD *mgf = EVP_get_digestbyname(tproto_hash_name(job->mgf_hash));
  if (md == NULL || mgf == NULL) /* NULL would mean SHA-1 to OpenSSL */
    return FALSE;
  CK_BYTE plain[MAX_OUTPUT];
  int n = RSA_padding_check_PKCS1_OAEP_mgf1(plain, sizeof(plain), out, (int)*out_len,
                                            (int)job->key->size_bytes, job->label,
                                            (int)job->label_len, md, mgf);
  ERR_clear_error();
  if (n >= 0) {
    memcpy(out, plain, (size_t)n);
    *out_len = (CK_ULONG)n;
  }
  tproto_wipe(plain, sizeof(plain));
  return n >= 0;
}

static Attempt attempt_decrypt(TesseraToken *token, TesseraJob *job)
{
  CK_MECHANISM mech = { operations_ck_mechanism(job->mech), NULL, 0 };
  CK_RSA_PKCS_OAEP_PARAMS oaep;
  /* Many tokens do OAEP with SHA-1 only, many cards raw RSA only: then
   * the card decrypts raw and the agent removes the padding. */
  Fallback raw = { { CKM_RSA_X_509, NULL, 0 }, oaep_unpad, FALSE };
  if (job->mech == TPROTO_MECH_RSA_OAEP) {
    /* Some tokens take a label at init that they cannot use. */
    raw.after_run = job->label_len > 0;
    hash_params(job, &oaep.hashAlg, &oaep.mgf);
    oaep.source = CKZ_DATA_SPECIFIED;
    oaep.pSourceData = job->label_len ? job->label : NULL;
    oaep.ulSourceDataLen = job->label_len;
    mech.pParameter = &oaep;
    mech.ulParameterLen = sizeof(oaep);
  }
  return run_single_part(token, job, &mech, job->mech == TPROTO_MECH_RSA_OAEP ? &raw : NULL,
                         token->module->C_DecryptInit, "C_DecryptInit",
                         token->module->C_Decrypt, "C_Decrypt");
}

static Attempt attempt_derive(TesseraToken *token, TesseraJob *job)
{
  CK_OBJECT_HANDLE h = CK_INVALID_HANDLE;
  if (resolve_handle(token, job, &h) == ATTEMPT_LOST)
    return ATTEMPT_LOST;
  if (h == CK_INVALID_HANDLE)
    return ATTEMPT_DONE;
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
  if (rv == CKR_USER_NOT_LOGGED_IN)
    return ATTEMPT_LOST;
  if (rv != CKR_OK) {
    operations_reply_ckr(token, job, rv, "C_DeriveKey");
    return ATTEMPT_DONE;
  }
  CK_BYTE value[MAX_OUTPUT];
  CK_ATTRIBUTE attr = { CKA_VALUE, value, sizeof(value) };
  rv = token->module->C_GetAttributeValue(token->session, secret, &attr, 1);
  token->module->C_DestroyObject(token->session, secret);
  if (rv == CKR_OK)
    tessera_job_reply_data(job, value, attr.ulValueLen);
  else
    operations_reply_ckr(token, job, rv, "C_GetAttributeValue");
  tproto_wipe(value, sizeof(value));
  return ATTEMPT_DONE;
}

typedef Attempt (*AttemptFn)(TesseraToken *token, TesseraJob *job);

/* The key as the token lists it now: a login may have revealed its
 * private object, and with it flags such as CKA_ALWAYS_AUTHENTICATE. */
static void refresh_job_key(TesseraToken *token, TesseraJob *job)
{
  g_autoptr(GPtrArray) keys = tessera_token_keys(token);
  for (guint i = 0; i < keys->len; i++) {
    TesseraKey *k = keys->pdata[i];
    if (k != job->key && g_bytes_equal(k->ckaid, job->key->ckaid)) {
      tessera_key_unref(job->key);
      job->key = tessera_key_ref(k);
      return;
    }
  }
}

/* Logs in when needed and runs the operation. If the token turns out to
 * have lost its login (another program reset the card), the user is asked
 * once more: a new PIN entry, never a PIN the agent kept and resent. */
/* FALSE when the job waits for its card. */
static gboolean run_key_operation(TesseraToken *token, TesseraJob *job, AttemptFn attempt)
{
  if (!tessera_token_present(token))
    return !waiting_park(token, job);
  for (int round = 0; round < 2; round++) {
    if (!login_prepare(token, job))
      return TRUE;
    refresh_job_key(token, job);
    if (attempt(token, job) == ATTEMPT_DONE) {
      if (!tessera_job_failed(job))
        tessera_token_touch(token);
      return TRUE;
    }
    g_message("token '%s' is no longer logged in", token->label);
    login_lost(token);
  }
  operations_reply_ckr(token, job, CKR_USER_NOT_LOGGED_IN, "C_Login");
  return TRUE;
}

gboolean operations_run(TesseraToken *token, TesseraJob *job)
{
  switch (job->kind) {
  case JOB_SIGN:
    return run_key_operation(token, job, attempt_sign);
  case JOB_DECRYPT:
    return run_key_operation(token, job, attempt_decrypt);
  case JOB_DERIVE:
    return run_key_operation(token, job, attempt_derive);
  case JOB_LOGIN:
    login_run_request(token, job);
    break;
  case JOB_LOGOUT:
    login_run_logout(token, job);
    break;
  case JOB_EXPIRE:
    login_run_expire(token);
    break;
  case JOB_ATTACH: {
    gboolean ok = tessera_token_attach(token, job->slot);
    hotplug_attached(token, ok);
    if (ok)
      waiting_resume(token);
    break;
  }
  case JOB_DETACH:
    tessera_token_detach(token);
    hotplug_detached(token);
    break;
  }
  return TRUE;
}
