/* tessera-pkcs11 — sessions and login. The agent owns the login: C_Login
 * without a PIN lets it ask the user (the token has a protected
 * authentication path), and the session state shows the agent's real
 * login state, whoever logged in. */
#include "p11.h"

#include <stdlib.h>
#include <string.h>

p11_session *p11_session_find(CK_SESSION_HANDLE h)
{
  for (size_t i = 0; i < p11_state.n_sessions; i++)
    if (p11_state.sessions[i]->handle == h)
      return p11_state.sessions[i];
  return NULL;
}

static void session_free(p11_session *s)
{
  p11_objects_free_where(CK_UNAVAILABLE_INFORMATION, s->handle, false);
  p11_op_clear(&s->op);
  free(s->found);
  free(s);
}

static void close_where(bool all, CK_SLOT_ID slot, CK_SESSION_HANDLE handle)
{
  size_t kept = 0;
  for (size_t i = 0; i < p11_state.n_sessions; i++) {
    p11_session *s = p11_state.sessions[i];
    if (all || (handle ? s->handle == handle : s->slot == slot))
      session_free(s);
    else
      p11_state.sessions[kept++] = s;
  }
  p11_state.n_sessions = kept;
}

void p11_sessions_close_slot(CK_SLOT_ID slot)
{
  close_where(false, slot, 0);
}

void p11_sessions_free(void)
{
  close_where(true, 0, 0);
  free(p11_state.sessions);
  p11_state.sessions = NULL;
}

CK_RV p11_enter_session(CK_SESSION_HANDLE h, p11_session **out)
{
  CK_RV rv = p11_enter();
  if (rv != CKR_OK)
    return rv;
  /* Cheap unless the agent reported something: then a card that went
   * away has closed this session already. */
  p11_sync();
  *out = p11_session_find(h);
  if (*out == NULL) {
    p11_leave();
    return CKR_SESSION_HANDLE_INVALID;
  }
  return CKR_OK;
}

CK_RV C_OpenSession(CK_SLOT_ID id, CK_FLAGS flags, CK_VOID_PTR app, CK_NOTIFY notify,
                    CK_SESSION_HANDLE_PTR out)
{
  if (out == NULL)
    return CKR_ARGUMENTS_BAD;
  if (!(flags & CKF_SERIAL_SESSION))
    return CKR_SESSION_PARALLEL_NOT_SUPPORTED;
  p11_slot *slot;
  CK_RV rv = p11_enter_slot(id, true, &slot);
  if (rv != CKR_OK)
    return rv;
  p11_session *s = calloc(1, sizeof(*s));
  p11_session **sessions =
    s ? realloc(p11_state.sessions, (p11_state.n_sessions + 1) * sizeof(*sessions)) : NULL;
  if (sessions == NULL) {
    free(s);
    rv = CKR_HOST_MEMORY;
  } else {
    p11_state.sessions = sessions;
    s->handle = p11_state.next_session++;
    s->slot = id;
    s->flags = flags & (CKF_SERIAL_SESSION | CKF_RW_SESSION);
    sessions[p11_state.n_sessions++] = s;
    *out = s->handle;
  }
  p11_leave();
  return rv;
}

CK_RV C_CloseSession(CK_SESSION_HANDLE h)
{
  p11_session *s;
  CK_RV rv = p11_enter_session(h, &s);
  if (rv != CKR_OK)
    return rv;
  close_where(false, 0, h);
  p11_leave();
  return CKR_OK;
}

CK_RV C_CloseAllSessions(CK_SLOT_ID id)
{
  CK_RV rv = p11_enter();
  if (rv != CKR_OK)
    return rv;
  if (p11_slot_find(id) == NULL)
    rv = CKR_SLOT_ID_INVALID;
  else
    p11_sessions_close_slot(id);
  p11_leave();
  return rv;
}

static bool slot_logged_in(CK_SLOT_ID id)
{
  const p11_slot *s = p11_slot_present(id);
  return s && (s->info.flags & TPROTO_TOKEN_LOGGED_IN);
}

CK_RV C_GetSessionInfo(CK_SESSION_HANDLE h, CK_SESSION_INFO_PTR info)
{
  if (info == NULL)
    return CKR_ARGUMENTS_BAD;
  p11_session *s;
  CK_RV rv = p11_enter_session(h, &s);
  if (rv != CKR_OK)
    return rv;
  bool rw = s->flags & CKF_RW_SESSION;
  info->slotID = s->slot;
  info->flags = s->flags;
  info->ulDeviceError = 0;
  if (slot_logged_in(s->slot))
    info->state = rw ? CKS_RW_USER_FUNCTIONS : CKS_RO_USER_FUNCTIONS;
  else
    info->state = rw ? CKS_RW_PUBLIC_SESSION : CKS_RO_PUBLIC_SESSION;
  p11_leave();
  return CKR_OK;
}

/* ---- login ------------------------------------------------------------- */

typedef struct {
  const char *token;
  const char *pin; /* NULL: the agent asks the user */
  size_t pin_len;
  bool logout;
} login_request;

static int login_call(tessera_client *c, void *ctx)
{
  const login_request *r = ctx;
  if (r->logout)
    return tessera_logout(c, r->token);
  if (r->pin == NULL)
    return tessera_login_prompt(c, r->token);
  return tessera_login(c, r->token, r->pin, r->pin_len);
}

/* After the agent answered: record the new state at once rather than wait
 * for its event. */
static void note_login(const char *token, bool logged_in)
{
  if (p11_enter() != CKR_OK)
    return;
  /* A login shows private objects (and flags such as
   * CKA_ALWAYS_AUTHENTICATE that only they carry): the agent read them
   * before it answered, so the next call asks for the list again rather
   * than wait for the event. */
  p11_state.stale = true;
  for (size_t i = 0; i < p11_state.n_slots; i++) {
    p11_slot *s = &p11_state.slots[i];
    if (s->known && strcmp(s->token_id, token) == 0) {
      if (logged_in)
        s->info.flags |= TPROTO_TOKEN_LOGGED_IN;
      else
        s->info.flags &= ~(uint32_t)TPROTO_TOKEN_LOGGED_IN;
      s->app_logged_in = logged_in;
    }
  }
  p11_leave();
}

static CK_RV run_login(CK_SESSION_HANDLE h, login_request *r, bool logged_in_after)
{
  p11_session *s;
  CK_RV rv = p11_enter_session(h, &s);
  if (rv != CKR_OK)
    return rv;
  const p11_slot *slot = p11_slot_present(s->slot);
  char *token = slot ? strdup(slot->token_id) : NULL;
  bool was_logged_in = slot_logged_in(s->slot);
  bool we_logged_in = slot && slot->app_logged_in;
  p11_leave();
  if (token == NULL)
    return slot ? CKR_HOST_MEMORY : CKR_DEVICE_REMOVED;
  /* Already logged in (by another program, through the agent): a login
   * without PIN has nothing to do, as on a card of this program's own; a
   * PIN it cannot check is not reported as correct. */
  CK_RV early = CKR_OK;
  bool done = false;
  if (r->logout && !was_logged_in)
    early = CKR_USER_NOT_LOGGED_IN;
  else if (!r->logout && was_logged_in && (we_logged_in || r->pin != NULL))
    early = CKR_USER_ALREADY_LOGGED_IN;
  else if (!r->logout && was_logged_in)
    done = true;
  if (early != CKR_OK || done) {
    if (done)
      note_login(token, true);
    free(token);
    return early;
  }
  r->token = token;
  int rc = p11_link_run(login_call, r);
  if (rc == TPROTO_ERR_ALREADY_LOGGED_IN && r->pin == NULL)
    rc = TESSERA_OK; /* someone logged in meanwhile */
  if (rc == TESSERA_OK)
    note_login(token, logged_in_after);
  free(token);
  return p11_rv_from_tessera(rc, P11_FOR_LOGIN);
}

CK_RV C_Login(CK_SESSION_HANDLE h, CK_USER_TYPE user, CK_UTF8CHAR_PTR pin, CK_ULONG pin_len)
{
  if (user == CKU_CONTEXT_SPECIFIC) {
    /* The agent asks for the PIN of a PIN-for-every-use key at the
     * signature itself; here only the order of calls is checked. */
    p11_session *s;
    CK_RV rv = p11_enter_session(h, &s);
    if (rv != CKR_OK)
      return rv;
    rv = s->op.kind == P11_OP_NONE ? CKR_OPERATION_NOT_INITIALIZED : CKR_OK;
    p11_leave();
    return rv;
  }
  if (user == CKU_SO)
    return CKR_USER_TYPE_INVALID; /* no administration through the agent */
  if (user != CKU_USER)
    return CKR_USER_TYPE_INVALID;
  login_request r = { .pin = pin_len && pin ? (const char *)pin : NULL, .pin_len = pin_len };
  return run_login(h, &r, true);
}

CK_RV C_Logout(CK_SESSION_HANDLE h)
{
  login_request r = { .logout = true };
  return run_login(h, &r, false);
}
