/* tessera-agent — one PKCS#11 token and the worker thread that owns it. */
#include "token.h"

#include "ckr.h"
#include "events.h"
#include "expiry.h"
#include "job.h"
#include "login.h"
#include "modules.h"
#include "messages.h"
#include "objects.h"
#include "operations.h"
#include "uri.h"
#include "waiting.h"

#include <gio/gio.h>
#include <sched.h>
#include <string.h>

/* After a job the worker spins this long for the next before it sleeps:
 * waking a sleeping thread costs 20-40 us on a VM, more than a fast
 * token's signature, and a client signing in a loop sends its next
 * request within that time. An idle agent still sleeps. */
#define SPIN_USEC 50

/* Pushed by tessera_token_free: the worker ends after the jobs before it. */
static TesseraJob stop_marker;

static TesseraJob *next_job(GAsyncQueue *queue)
{
  TesseraJob *job = g_async_queue_try_pop(queue);
  if (job != NULL)
    return job;
  gint64 deadline = g_get_monotonic_time() + SPIN_USEC;
  do {
    sched_yield();
    job = g_async_queue_try_pop(queue);
  } while (job == NULL && g_get_monotonic_time() < deadline);
  return job != NULL ? job : g_async_queue_pop(queue);
}

static gpointer worker_main(gpointer data)
{
  TesseraToken *token = data;
  for (;;) {
    /* Requests waiting for the card give up on time. */
    gint64 deadline = waiting_next_deadline(token);
    TesseraJob *job = deadline == 0 ? next_job(token->queue)
                                    : g_async_queue_timeout_pop(
                                          token->queue, MAX(deadline - g_get_monotonic_time(), 0));
    if (job == NULL) {
      waiting_expire(token);
      continue;
    }
    if (job == &stop_marker)
      return NULL;
    if (operations_run(token, job))
      tessera_job_finish(job);
  }
}

static gboolean read_mechanisms(TesseraToken *token)
{
  CK_ULONG n = 0;
  if (token->module->C_GetMechanismList(token->slot, NULL, &n) != CKR_OK)
    return FALSE;
  token->mechanisms = g_new0(CK_MECHANISM_TYPE, n ? n : 1);
  if (token->module->C_GetMechanismList(token->slot, token->mechanisms, &n) != CKR_OK)
    return FALSE;
  token->n_mechanisms = n;
  return TRUE;
}

TesseraToken *tessera_token_open(CK_FUNCTION_LIST *module, const char *module_path,
                                 CK_SLOT_ID slot, GError **error)
{
  CK_TOKEN_INFO info;
  CK_RV rv = module->C_GetTokenInfo(slot, &info);
  if (rv != CKR_OK) {
    g_set_error(error, G_IO_ERROR, G_IO_ERROR_FAILED, "C_GetTokenInfo failed: %s", ckr_name(rv));
    return NULL;
  }
  if (!(info.flags & CKF_TOKEN_INITIALIZED)) {
    g_set_error(error, G_IO_ERROR, G_IO_ERROR_NOT_INITIALIZED, "token is not initialized");
    return NULL;
  }
  TesseraToken *token = g_new0(TesseraToken, 1);
  g_mutex_init(&token->lock);
  token->module = module;
  token->module_path = g_strdup(module_path);
  token->slot = slot;
  token->label = modules_padded_string(info.label, sizeof(info.label));
  token->manufacturer = modules_padded_string(info.manufacturerID, sizeof(info.manufacturerID));
  token->model = modules_padded_string(info.model, sizeof(info.model));
  token->serial = modules_padded_string(info.serialNumber, sizeof(info.serialNumber));
  token->id = uri_for_token(token->label, token->serial);
  token->policy = config_token_policy(config_active(), token->label, token->serial);
  token->shutdown = g_cancellable_new();
  token->login = login_state_new();
  token->waiting = waiting_new();
  token->present = TRUE;
  token->expected_present = TRUE;
  token->expected_slot = slot;
  token->token_flags = info.flags;
  token->keys = g_ptr_array_new_with_free_func((GDestroyNotify)tessera_key_unref);
  token->private_handles =
      g_hash_table_new_full(g_bytes_hash, g_bytes_equal, (GDestroyNotify)g_bytes_unref, NULL);

  rv = module->C_OpenSession(slot, CKF_SERIAL_SESSION, NULL, NULL, &token->session);
  if (rv != CKR_OK) {
    g_set_error(error, G_IO_ERROR, G_IO_ERROR_FAILED, "cannot open a session on token '%s': %s",
                token->label, ckr_name(rv));
    tessera_token_free(token);
    return NULL;
  }
  if (!read_mechanisms(token))
    g_warning("token '%s': cannot read its mechanism list", token->label);
  /* The first scan runs here, before the worker exists, so listing works
   * the moment the agent accepts clients. */
  tessera_token_refresh(token);

  token->queue = g_async_queue_new();
  g_autofree char *name = g_strdup_printf("token %lu", (unsigned long)slot);
  token->worker = g_thread_try_new(name, worker_main, token, error);
  if (token->worker == NULL) {
    tessera_token_free(token);
    return NULL;
  }
  return token;
}

void tessera_token_free(TesseraToken *token)
{
  if (token == NULL)
    return;
  if (token->worker != NULL) {
    /* An open PIN dialog would hold up the join for as long as the user
     * ignores it. */
    g_cancellable_cancel(token->shutdown);
    g_mutex_lock(&token->lock);
    if (token->dialog != NULL)
      g_cancellable_cancel(token->dialog);
    g_mutex_unlock(&token->lock);
    g_async_queue_push(token->queue, &stop_marker);
    g_thread_join(token->worker);
  }
  g_clear_pointer(&token->queue, g_async_queue_unref);
  if (token->session != CK_INVALID_HANDLE) {
    /* Shutting down ends the login: the next agent asks again. */
    token->module->C_Logout(token->session);
    token->module->C_CloseSession(token->session);
  }
  waiting_free(token->waiting);
  login_state_free(token->login);
  g_clear_object(&token->shutdown);
  g_hash_table_unref(token->private_handles);
  g_ptr_array_unref(token->keys);
  g_free(token->mechanisms);
  g_free(token->module_path);
  g_free(token->expected_reader);
  g_free(token->id);
  g_free(token->label);
  g_free(token->manufacturer);
  g_free(token->model);
  g_free(token->serial);
  g_mutex_clear(&token->lock);
  g_free(token);
}

void tessera_token_submit(TesseraToken *token, TesseraJob *job)
{
  job->submit_seq = (guint)g_atomic_int_add(&token->submitted, 1) + 1;
  g_async_queue_push(token->queue, job);
}

GPtrArray *tessera_token_keys(TesseraToken *token)
{
  g_mutex_lock(&token->lock);
  GPtrArray *keys = g_ptr_array_ref(token->keys);
  g_mutex_unlock(&token->lock);
  return keys;
}

gboolean tessera_token_present(TesseraToken *token)
{
  g_mutex_lock(&token->lock);
  gboolean v = token->present;
  g_mutex_unlock(&token->lock);
  return v;
}

gboolean tessera_token_logged_in(TesseraToken *token)
{
  g_mutex_lock(&token->lock);
  gboolean v = token->logged_in;
  g_mutex_unlock(&token->lock);
  return v;
}

static gint64 deadline_locked(TesseraToken *token)
{
  if (!token->logged_in)
    return 0;
  gint64 deadline = G_MAXINT64;
  if (token->policy.max_lifetime_s > 0)
    deadline = MIN(deadline, token->login_started_us +
                                 (gint64)token->policy.max_lifetime_s * G_USEC_PER_SEC);
  if (token->policy.idle_timeout_s > 0)
    deadline = MIN(deadline, token->last_used_us +
                                 (gint64)token->policy.idle_timeout_s * G_USEC_PER_SEC);
  return deadline;
}

gint64 tessera_token_login_deadline(TesseraToken *token)
{
  g_mutex_lock(&token->lock);
  gint64 deadline = deadline_locked(token);
  g_mutex_unlock(&token->lock);
  return deadline;
}

guint32 tessera_token_login_ends_s(TesseraToken *token)
{
  gint64 deadline = tessera_token_login_deadline(token);
  if (deadline == 0)
    return 0;
  if (deadline == G_MAXINT64)
    return G_MAXUINT32;
  gint64 left = deadline - g_get_monotonic_time();
  /* Rounded up: a login that ends in 0.4 s has not ended yet. */
  return left <= 0 ? 1 : (guint32)MIN((left + G_USEC_PER_SEC - 1) / G_USEC_PER_SEC, G_MAXUINT32);
}

void tessera_token_set_logged_in(TesseraToken *token, gboolean logged_in)
{
  gint64 now = g_get_monotonic_time();
  g_mutex_lock(&token->lock);
  gboolean changed = logged_in != token->logged_in;
  token->logged_in = logged_in;
  if (changed && logged_in)
    token->login_started_us = token->last_used_us = now;
  g_mutex_unlock(&token->lock);
  if (changed && logged_in)
    expiry_schedule();
  if (changed)
    events_login_changed(token, logged_in);
}

void tessera_token_touch(TesseraToken *token)
{
  gint64 now = g_get_monotonic_time();
  g_mutex_lock(&token->lock);
  token->last_used_us = now;
  g_mutex_unlock(&token->lock);
}

void tessera_token_refresh_flags(TesseraToken *token)
{
  CK_TOKEN_INFO info;
  if (token->module->C_GetTokenInfo(token->slot, &info) != CKR_OK)
    return;
  g_mutex_lock(&token->lock);
  token->token_flags = info.flags;
  g_mutex_unlock(&token->lock);
}

uint32_t tessera_token_proto_flags(TesseraToken *token)
{
  g_mutex_lock(&token->lock);
  CK_FLAGS f = token->token_flags;
  gboolean logged_in = token->logged_in;
  gboolean present = token->present;
  g_mutex_unlock(&token->lock);
  uint32_t flags = present ? TPROTO_TOKEN_PRESENT : 0;
  if (logged_in)
    flags |= TPROTO_TOKEN_LOGGED_IN;
  if (f & CKF_LOGIN_REQUIRED)
    flags |= TPROTO_TOKEN_LOGIN_REQUIRED;
  if (f & CKF_PROTECTED_AUTHENTICATION_PATH)
    flags |= TPROTO_TOKEN_PROTECTED_AUTH;
  if (f & CKF_USER_PIN_COUNT_LOW)
    flags |= TPROTO_TOKEN_PIN_COUNT_LOW;
  if (f & CKF_USER_PIN_FINAL_TRY)
    flags |= TPROTO_TOKEN_PIN_FINAL_TRY;
  if (f & CKF_USER_PIN_LOCKED)
    flags |= TPROTO_TOKEN_PIN_LOCKED;
  return flags;
}

gboolean tessera_token_has_mechanism(const TesseraToken *token, CK_MECHANISM_TYPE mech)
{
  for (CK_ULONG i = 0; i < token->n_mechanisms; i++)
    if (token->mechanisms[i] == mech)
      return TRUE;
  return FALSE;
}

static gboolean session_logged_in(TesseraToken *token)
{
  CK_SESSION_INFO si;
  if (token->module->C_GetSessionInfo(token->session, &si) != CKR_OK)
    return FALSE;
  return si.state == CKS_RO_USER_FUNCTIONS || si.state == CKS_RW_USER_FUNCTIONS;
}

void tessera_token_refresh(TesseraToken *token)
{
  CK_TOKEN_INFO info;
  gboolean have_info = token->module->C_GetTokenInfo(token->slot, &info) == CKR_OK;
  gboolean logged_in = session_logged_in(token);
  GPtrArray *keys = objects_scan(token);
  g_mutex_lock(&token->lock);
  if (have_info)
    token->token_flags = info.flags;
  GPtrArray *old = token->keys;
  token->keys = keys;
  g_mutex_unlock(&token->lock);
  tessera_token_set_logged_in(token, logged_in);
  g_ptr_array_unref(old);
  tessera_token_forget_handles(token);
}

void tessera_token_forget_handles(TesseraToken *token)
{
  g_hash_table_remove_all(token->private_handles);
}

gboolean tessera_token_attach(TesseraToken *token, CK_SLOT_ID slot)
{
  if (token->session != CK_INVALID_HANDLE)
    (void)token->module->C_CloseSession(token->session);
  token->session = CK_INVALID_HANDLE;
  token->slot = slot;
  CK_RV rv = token->module->C_OpenSession(slot, CKF_SERIAL_SESSION, NULL, NULL, &token->session);
  if (rv != CKR_OK) {
    token->session = CK_INVALID_HANDLE;
    g_message("token '%s' is back but cannot be used: %s", token->label, ckr_name(rv));
    return FALSE;
  }
  login_forget_outcome(token);
  /* Present only once its keys are read: a listing must not show the
   * old list as available meanwhile. */
  tessera_token_refresh(token);
  /* Pulled again while being read: it stays out, a new scan decides. */
  CK_SESSION_INFO si;
  rv = token->module->C_GetSessionInfo(token->session, &si);
  if (rv != CKR_OK) {
    (void)token->module->C_CloseSession(token->session);
    token->session = CK_INVALID_HANDLE;
    g_message("token '%s' went again while it was being read: %s", token->label, ckr_name(rv));
    return FALSE;
  }
  g_mutex_lock(&token->lock);
  token->present = TRUE;
  g_mutex_unlock(&token->lock);
  g_message("token '%s' (serial %s) is back", token->label, token->serial);
  return TRUE;
}

void tessera_token_detach(TesseraToken *token)
{
  if (token->session != CK_INVALID_HANDLE)
    (void)token->module->C_CloseSession(token->session);
  token->session = CK_INVALID_HANDLE;
  login_lost(token);
  login_forget_outcome(token);
  g_mutex_lock(&token->lock);
  token->present = FALSE;
  token->removing = FALSE;
  g_mutex_unlock(&token->lock);
  g_message("token '%s' (serial %s) was removed", token->label, token->serial);
}

void tessera_token_begin_removal(TesseraToken *token)
{
  g_mutex_lock(&token->lock);
  token->removing = TRUE;
  if (token->dialog != NULL)
    g_cancellable_cancel(token->dialog);
  g_mutex_unlock(&token->lock);
}

GCancellable *tessera_token_dialog_begin(TesseraToken *token)
{
  GCancellable *dialog = g_cancellable_new();
  g_mutex_lock(&token->lock);
  if (token->removing || g_cancellable_is_cancelled(token->shutdown))
    g_cancellable_cancel(dialog);
  token->dialog = dialog;
  g_mutex_unlock(&token->lock);
  return dialog;
}

void tessera_token_dialog_end(TesseraToken *token, GCancellable *dialog)
{
  g_mutex_lock(&token->lock);
  if (token->dialog == dialog)
    token->dialog = NULL;
  g_mutex_unlock(&token->lock);
  g_object_unref(dialog);
}

gboolean tessera_token_removing(TesseraToken *token)
{
  g_mutex_lock(&token->lock);
  gboolean v = token->removing;
  g_mutex_unlock(&token->lock);
  return v;
}
