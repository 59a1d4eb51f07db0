/* tessera-agent — logging in to a token: asking the user, once, safely
 * (worker side). */
#include "login.h"

#include "ckr.h"
#include "config.h"
#include "connection.h"
#include "dialog.h"
#include "expiry.h"
#include "messages.h"
#include "operations.h"
#include "pinentry.h"
#include "prompt.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <string.h>

#define PIN_TAG_LEN 32  /* HMAC-SHA256 */
#define MAX_REJECTED 16 /* far more than any card's retry counter */

struct TesseraLoginState {
  /* Tags of PINs the token refused. A keyed hash, so the short PINs
   * cannot be recovered from the agent's memory by trying them all. */
  guint8 tag_key[32];
  GPtrArray *rejected; /* of GBytes */
  /* The last dialog that failed: requests submitted up to outcome_seq
   * waited for it and get its answer. */
  guint outcome_seq;
  uint32_t outcome_code;
  char *outcome_message;
  TesseraSecret *cached_pin; /* always-authenticate = cache only */
};

TesseraLoginState *login_state_new(void)
{
  TesseraLoginState *s = g_new0(TesseraLoginState, 1);
  if (RAND_bytes(s->tag_key, sizeof(s->tag_key)) != 1)
    g_error("no random bytes for the PIN tags");
  s->rejected = g_ptr_array_new_with_free_func((GDestroyNotify)g_bytes_unref);
  return s;
}

void login_state_free(TesseraLoginState *s)
{
  if (s == NULL)
    return;
  explicit_bzero(s->tag_key, sizeof(s->tag_key));
  g_ptr_array_unref(s->rejected);
  g_free(s->outcome_message);
  tessera_secret_free(s->cached_pin);
  g_free(s);
}

/* ---- rejected PINs ---- */

static GBytes *pin_tag(const TesseraLoginState *s, const TesseraSecret *pin)
{
  guint8 tag[PIN_TAG_LEN];
  unsigned int len = sizeof(tag);
  if (HMAC(EVP_sha256(), s->tag_key, sizeof(s->tag_key), pin->data, pin->len, tag, &len) == NULL)
    return NULL;
  return g_bytes_new(tag, len);
}

static gboolean was_rejected(const TesseraLoginState *s, const TesseraSecret *pin)
{
  g_autoptr(GBytes) tag = pin_tag(s, pin);
  for (guint i = 0; tag != NULL && i < s->rejected->len; i++)
    if (g_bytes_equal(tag, s->rejected->pdata[i]))
      return TRUE;
  return FALSE;
}

static void remember_rejected(TesseraLoginState *s, const TesseraSecret *pin)
{
  GBytes *tag = pin_tag(s, pin);
  if (tag == NULL)
    return;
  if (s->rejected->len >= MAX_REJECTED)
    g_ptr_array_remove_index(s->rejected, 0);
  g_ptr_array_add(s->rejected, tag);
}

/* ---- state changes ---- */

static gboolean token_has_always_auth_key(TesseraToken *token)
{
  g_autoptr(GPtrArray) keys = tessera_token_keys(token);
  for (guint i = 0; i < keys->len; i++)
    if (((TesseraKey *)keys->pdata[i])->flags & TPROTO_KEY_ALWAYS_AUTH)
      return TRUE;
  return FALSE;
}

static void logged_in(TesseraToken *token, const TesseraSecret *pin, const char *how)
{
  TesseraLoginState *s = token->login;
  /* A PIN that failed before may be right after a PIN change elsewhere. */
  g_ptr_array_set_size(s->rejected, 0);
  g_clear_pointer(&s->cached_pin, tessera_secret_free);
  g_clear_pointer(&s->outcome_message, g_free);
  s->outcome_code = 0;
  /* Private objects become visible: the key list is read again. */
  tessera_token_refresh(token);
  if (pin != NULL && token->policy.cache_always_auth && token_has_always_auth_key(token))
    s->cached_pin = tessera_secret_new_from(pin->data, pin->len);
  tessera_token_set_logged_in(token, TRUE);
  g_message("logged in to token '%s' (%s)", token->label, how);
}

static void logged_out(TesseraToken *token, const char *why)
{
  g_clear_pointer(&token->login->cached_pin, tessera_secret_free);
  tessera_token_refresh(token);
  tessera_token_set_logged_in(token, FALSE);
  g_message("logged out of token '%s': %s", token->label, why);
}

void login_forget_outcome(TesseraToken *token)
{
  g_clear_pointer(&token->login->outcome_message, g_free);
  token->login->outcome_code = 0;
}

void login_lost(TesseraToken *token)
{
  g_clear_pointer(&token->login->cached_pin, tessera_secret_free);
  tessera_token_set_logged_in(token, FALSE);
  tessera_token_forget_handles(token);
}

static CK_RV call_login(TesseraToken *token, CK_USER_TYPE user, const TesseraSecret *pin)
{
  return token->module->C_Login(token->session, user, pin ? pin->data : NULL,
                                pin ? pin->len : 0);
}

/* Fails this job and every job that was queued while the dialog was open. */
static void fail_shared(TesseraToken *token, TesseraJob *job, uint32_t code, const char *fmt,
                        ...) G_GNUC_PRINTF(4, 5);
static void fail_shared(TesseraToken *token, TesseraJob *job, uint32_t code, const char *fmt, ...)
{
  va_list ap;
  va_start(ap, fmt);
  g_autofree char *msg = g_strdup_vprintf(fmt, ap);
  va_end(ap);
  TesseraLoginState *s = token->login;
  s->outcome_seq = (guint)g_atomic_int_get(&token->submitted);
  s->outcome_code = code;
  g_free(s->outcome_message);
  s->outcome_message = g_strdup(msg);
  tessera_job_reply_error(job, code, "%s", msg);
}

static void reply_locked(TesseraToken *token, TesseraJob *job)
{
  fail_shared(token, job, TPROTO_ERR_PIN_LOCKED,
              "the PIN of token '%s' is blocked; unblock it with its PUK (SO PIN)",
              token->label);
}

/* ---- the dialog ---- */

/* PINENTRY_* other than OK as this job's answer; shared tells whether the
 * jobs queued meanwhile get it too. */
static void reply_dialog_failure(TesseraToken *token, TesseraJob *job, PinentryResult r,
                                 const GError *error, gboolean shared)
{
  uint32_t code;
  g_autofree char *msg = NULL;
  switch (r) {
  case PINENTRY_CANCELLED:
  case PINENTRY_TIMEOUT:
    code = TPROTO_ERR_PIN_CANCELLED;
    msg = g_strdup_printf("PIN entry for token '%s' was %s", token->label,
                          r == PINENTRY_TIMEOUT ? "not answered in time" : "cancelled");
    break;
  case PINENTRY_ABORTED:
    if (tessera_token_removing(token)) {
      code = TPROTO_ERR_CARD_REMOVED;
      msg = g_strdup_printf("the card of token '%s' was removed", token->label);
      break;
    }
    tessera_job_reply_error(job, TPROTO_ERR_PIN_CANCELLED,
                            "PIN entry for token '%s' was closed: the agent is shutting down",
                            token->label);
    return;
  default:
    code = TPROTO_ERR_PIN_ENTRY_FAILED;
    msg = g_strdup_printf("cannot ask for the PIN of token '%s': %s (set pinentry-program in "
                          "agent.conf, or log in with `tessera login --pin-stdin`)",
                          token->label, error ? error->message : "pinentry failed");
    break;
  }
  if (shared)
    fail_shared(token, job, code, "%s", msg);
  else
    tessera_job_reply_error(job, code, "%s", msg);
}

/* ---- login with the user's PIN ---- */

/* A reader with a PIN pad: the user types on the reader; a message-only
 * dialog says so while C_Login waits for the card. */
static gboolean login_on_pinpad(TesseraToken *token, TesseraJob *job)
{
  g_auto(Prompt) d;
  prompt_init(&d, token, job);
  const DialogSubject subject = d.subject;
  for (guint attempt = 0; attempt < config_active()->max_prompts; attempt++) {
    tessera_token_refresh_flags(token);
    uint32_t flags = tessera_token_proto_flags(token);
    if (flags & TPROTO_TOKEN_PIN_LOCKED) {
      reply_locked(token, job);
      return FALSE;
    }
    prompt_set_description(&d, dialog_pinpad_description(&subject, flags));
    g_autoptr(GError) error = NULL;
    PinentryMessage *message = pinentry_message_open(&d.req, &error);
    if (message == NULL)
      g_message("token '%s': no message for the PIN pad (%s); waiting for the reader anyway",
                token->label, error->message);
    CK_RV rv = call_login(token, CKU_USER, NULL);
    pinentry_message_close(message);
    switch (rv) {
    case CKR_OK:
    case CKR_USER_ALREADY_LOGGED_IN:
      logged_in(token, NULL, "PIN pad");
      return TRUE;
    case CKR_PIN_INCORRECT:
      tessera_token_refresh_flags(token);
      prompt_set_error(&d, dialog_wrong_pin_error(tessera_token_proto_flags(token)));
      continue;
    case CKR_PIN_LOCKED:
      reply_locked(token, job);
      return FALSE;
    case CKR_FUNCTION_CANCELED:
      fail_shared(token, job, TPROTO_ERR_PIN_CANCELLED,
                  "PIN entry on the reader of token '%s' was cancelled", token->label);
      return FALSE;
    default:
      operations_reply_ckr(token, job, rv, "C_Login");
      return FALSE;
    }
  }
  fail_shared(token, job, TPROTO_ERR_PIN_INCORRECT, "wrong PIN for token '%s', %u times",
              token->label, config_active()->max_prompts);
  return FALSE;
}

/* Asks until the token accepts a PIN for user (CKU_USER, or
 * CKU_CONTEXT_SPECIFIC for a key's every use), the user gives up, or
 * max-prompts. On success *accepted (if not NULL) gets the PIN. Failures of
 * the token login are shared with the requests that waited for it; a
 * per-use dialog belongs to its request alone. */
static gboolean ask_until_accepted(TesseraToken *token, TesseraJob *job, CK_USER_TYPE user,
                                   TesseraSecret **accepted)
{
  TesseraLoginState *s = token->login;
  gboolean every_use = user == CKU_CONTEXT_SPECIFIC;
  g_auto(Prompt) d;
  prompt_init(&d, token, job);
  const DialogSubject subject = d.subject;
  guint max = config_active()->max_prompts;
  for (guint attempt = 0; attempt < max; attempt++) {
    tessera_token_refresh_flags(token);
    uint32_t flags = tessera_token_proto_flags(token);
    if (flags & TPROTO_TOKEN_PIN_LOCKED) {
      reply_locked(token, job);
      return FALSE;
    }
    prompt_set_description(&d, dialog_pin_description(&subject, every_use, flags));
    g_autoptr(TesseraSecret) pin = NULL;
    g_autoptr(GError) error = NULL;
    g_message("asking for the PIN of token '%s' for %s", token->label,
              job->conn ? job->conn->peer_name : "the agent");
    PinentryResult r = pinentry_get_pin(&d.req, &pin, &error);
    if (r != PINENTRY_OK) {
      reply_dialog_failure(token, job, r, error, !every_use);
      return FALSE;
    }
    if (pin->len == 0) {
      prompt_set_error(&d, g_strdup("The PIN is empty."));
      continue;
    }
    if (was_rejected(s, pin)) {
      /* Costs the user a prompt, never the card a try. */
      g_message("token '%s': a PIN it rejected before was entered again; not sent",
                token->label);
      prompt_set_error(&d, g_strdup("The card rejected this PIN before; it was not sent again."));
      continue;
    }
    CK_RV rv = call_login(token, user, pin);
    switch (rv) {
    case CKR_OK:
      if (accepted != NULL)
        *accepted = g_steal_pointer(&pin);
      return TRUE;
    case CKR_USER_ALREADY_LOGGED_IN:
      /* The token did not look at this PIN: it is neither vouched for
       * nor kept. */
      return TRUE;
    case CKR_PIN_INCORRECT:
      g_message("wrong PIN for token '%s'", token->label);
      remember_rejected(s, pin);
      tessera_token_refresh_flags(token);
      prompt_set_error(&d, dialog_wrong_pin_error(tessera_token_proto_flags(token)));
      continue;
    case CKR_PIN_LOCKED:
      reply_locked(token, job);
      return FALSE;
    case CKR_PIN_LEN_RANGE:
    case CKR_PIN_INVALID:
      prompt_set_error(&d, g_strdup("The card does not accept a PIN of this length or form."));
      continue;
    default:
      operations_reply_ckr(token, job, rv, every_use ? "C_Login (context specific)" : "C_Login");
      return FALSE;
    }
  }
  tessera_token_refresh_flags(token);
  const char *note = dialog_tries_note(tessera_token_proto_flags(token));
  g_autofree char *msg = g_strdup_printf("no correct PIN for token '%s' in %u tries%s%s",
                                         token->label, max, note ? "; " : "", note ? note : "");
  if (every_use)
    tessera_job_reply_error(job, TPROTO_ERR_PIN_INCORRECT, "%s", msg);
  else
    fail_shared(token, job, TPROTO_ERR_PIN_INCORRECT, "%s", msg);
  return FALSE;
}

static gboolean login_with_dialog(TesseraToken *token, TesseraJob *job)
{
  g_autoptr(TesseraSecret) pin = NULL;
  if (!ask_until_accepted(token, job, CKU_USER, &pin))
    return FALSE;
  logged_in(token, pin, "PIN dialog");
  return TRUE;
}

static gboolean needs_login(TesseraToken *token)
{
  uint32_t flags = tessera_token_proto_flags(token);
  return (flags & TPROTO_TOKEN_LOGIN_REQUIRED) && !(flags & TPROTO_TOKEN_LOGGED_IN);
}

/* Logs in by asking the user, unless this job waited for a dialog that
 * failed: then it gets that dialog's answer. */
static gboolean login_asking_user(TesseraToken *token, TesseraJob *job)
{
  TesseraLoginState *s = token->login;
  /* HELLO option PROMPT=no: a script that must not hang on a dialog.
   * A LOGIN without PIN asks for the dialog explicitly. */
  const char *prompt = prompt_client_option(job, "PROMPT");
  if (job->conn == NULL ||
      (job->kind != JOB_LOGIN && prompt != NULL && g_ascii_strcasecmp(prompt, "no") == 0)) {
    tessera_job_reply_error(job, TPROTO_ERR_NOT_LOGGED_IN,
                            "token '%s' is not logged in (and this client asked for no PIN "
                            "dialog); log in with `tessera login %s`",
                            token->label, token->label);
    return FALSE;
  }
  if (s->outcome_code != 0 && job->submit_seq <= s->outcome_seq) {
    tessera_job_reply_error(job, s->outcome_code, "%s", s->outcome_message);
    return FALSE;
  }
  if (tessera_token_proto_flags(token) & TPROTO_TOKEN_PROTECTED_AUTH)
    return login_on_pinpad(token, job);
  return login_with_dialog(token, job);
}

/* ---- confirmation ---- */

static gboolean confirm_use(TesseraToken *token, TesseraJob *job)
{
  if (!job->key->confirm)
    return TRUE;
  g_auto(Prompt) d;
  prompt_init(&d, token, job);
  const DialogSubject subject = d.subject;
  prompt_set_description(&d, dialog_confirm_description(&subject));
  g_autoptr(GError) error = NULL;
  PinentryResult r = pinentry_confirm(&d.req, &error);
  if (r == PINENTRY_OK)
    return TRUE;
  if (r == PINENTRY_CANCELLED || r == PINENTRY_TIMEOUT || r == PINENTRY_ABORTED) {
    g_message("%s: use of key '%s' not confirmed", job->conn->peer_name, job->key->label);
    tessera_job_reply_error(job, TPROTO_ERR_DENIED, "the use of key '%s' was not confirmed",
                            job->key->label);
    return FALSE;
  }
  reply_dialog_failure(token, job, r, error, FALSE);
  return FALSE;
}

/* ---- entry points ---- */

/* Logs out when the idle or lifetime limit has passed. */
static gboolean end_if_expired(TesseraToken *token)
{
  gint64 deadline = tessera_token_login_deadline(token);
  if (deadline == 0 || deadline == G_MAXINT64 || deadline > g_get_monotonic_time())
    return FALSE;
  token->module->C_Logout(token->session);
  logged_out(token, "its login time is up");
  return TRUE;
}

gboolean login_prepare(TesseraToken *token, TesseraJob *job)
{
  end_if_expired(token);
  if (!confirm_use(token, job))
    return FALSE;
  if (!needs_login(token))
    return TRUE;
  return login_asking_user(token, job);
}

gboolean login_context_specific(TesseraToken *token, TesseraJob *job)
{
  TesseraLoginState *s = token->login;
  if (s->cached_pin != NULL) {
    CK_RV rv = call_login(token, CKU_CONTEXT_SPECIFIC, s->cached_pin);
    if (rv == CKR_OK)
      return TRUE;
    /* Never a second try with a PIN the token refused. */
    if (rv == CKR_PIN_INCORRECT) {
      g_message("token '%s' refused the cached PIN; asking the user", token->label);
      remember_rejected(s, s->cached_pin);
    }
    g_clear_pointer(&s->cached_pin, tessera_secret_free);
  }
  return ask_until_accepted(token, job, CKU_CONTEXT_SPECIFIC, NULL);
}

void login_run_request(TesseraToken *token, TesseraJob *job)
{
  if (!tessera_token_present(token)) {
    tessera_job_reply_error(job, TPROTO_ERR_TOKEN_ABSENT,
                            "the card of token '%s' (serial %s) is not inserted", token->label,
                            token->serial);
    return;
  }
  end_if_expired(token);
  if (tessera_token_logged_in(token)) {
    /* The token would not look at a PIN now: success would vouch for it. */
    tessera_job_reply_error(job, TPROTO_ERR_ALREADY_LOGGED_IN,
                            "token '%s' is already logged in%s; `tessera logout %s` first to log "
                            "in again",
                            token->label, job->pin ? " (the PIN was not checked)" : "",
                            token->label);
    return;
  }
  if (job->pin == NULL) {
    if (login_asking_user(token, job))
      tessera_job_reply_ok(job);
    return;
  }
  if (was_rejected(token->login, job->pin)) {
    tessera_job_reply_error(job, TPROTO_ERR_PIN_INCORRECT,
                            "token '%s' rejected this PIN before; it was not sent again",
                            token->label);
    return;
  }
  CK_RV rv = call_login(token, CKU_USER, job->pin);
  switch (rv) {
  case CKR_OK:
    logged_in(token, job->pin, "PIN from the client");
    tessera_job_reply_ok(job);
    return;
  case CKR_USER_ALREADY_LOGGED_IN:
    logged_in(token, NULL, "it already was");
    tessera_job_reply_error(job, TPROTO_ERR_ALREADY_LOGGED_IN,
                            "token '%s' is already logged in (the PIN was not checked)",
                            token->label);
    return;
  case CKR_PIN_INCORRECT: {
    g_message("wrong PIN for token '%s'", token->label);
    remember_rejected(token->login, job->pin);
    tessera_token_refresh_flags(token);
    uint32_t flags = tessera_token_proto_flags(token);
    const char *note = dialog_tries_note(flags);
    tessera_job_reply_error(job, TPROTO_ERR_PIN_INCORRECT, "wrong PIN for token '%s'%s%s",
                            token->label, note ? "; " : "", note ? note : "");
    return;
  }
  case CKR_PIN_LOCKED:
    tessera_token_refresh_flags(token);
    tessera_job_reply_error(job, TPROTO_ERR_PIN_LOCKED,
                            "the PIN of token '%s' is blocked; unblock it with its PUK (SO PIN)",
                            token->label);
    return;
  case CKR_PIN_LEN_RANGE:
  case CKR_PIN_INVALID:
    tessera_job_reply_error(job, TPROTO_ERR_PIN_INVALID,
                            "token '%s' does not accept a PIN of this length or form",
                            token->label);
    return;
  default:
    operations_reply_ckr(token, job, rv, "C_Login");
  }
}

void login_run_logout(TesseraToken *token, TesseraJob *job)
{
  /* A card that is out has no session and no login left to end. */
  if (token->session == CK_INVALID_HANDLE) {
    tessera_job_reply_ok(job);
    return;
  }
  CK_RV rv = token->module->C_Logout(token->session);
  if (rv != CKR_OK && rv != CKR_USER_NOT_LOGGED_IN) {
    operations_reply_ckr(token, job, rv, "C_Logout");
    return;
  }
  logged_out(token, job->conn ? job->conn->peer_name : "request");
  tessera_job_reply_ok(job);
}

void login_run_expire(TesseraToken *token)
{
  end_if_expired(token);
  /* The key may have been used since the timer was set. */
  expiry_schedule();
}
