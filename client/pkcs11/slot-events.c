/* tessera-pkcs11 — C_WaitForSlotEvent: the agent's card events as slot
 * events. A blocked caller sleeps in poll() on the event connection with
 * the lock released; C_Finalize wakes it through a pipe and it returns
 * CKR_CRYPTOKI_NOT_INITIALIZED (NSS's way of stopping its event thread). */
#include "p11.h"

#include <poll.h>

#define NO_AGENT_POLL_MS 250 /* no agent: look for one this often */

static bool take_event(CK_SLOT_ID *slot)
{
  for (size_t i = 0; i < p11_state.n_slots; i++) {
    if (p11_state.slots[i].event) {
      p11_state.slots[i].event = false;
      *slot = p11_state.slots[i].id;
      return true;
    }
  }
  return false;
}

CK_RV C_WaitForSlotEvent(CK_FLAGS flags, CK_SLOT_ID_PTR slot, CK_VOID_PTR reserved)
{
  if (slot == NULL || reserved != NULL)
    return CKR_ARGUMENTS_BAD;
  CK_RV rv = p11_enter();
  if (rv != CKR_OK)
    return rv;
  for (;;) {
    p11_sync();
    if (take_event(slot))
      break;
    if (flags & CKF_DONT_BLOCK) {
      rv = CKR_NO_EVENT;
      break;
    }
    int events_fd = p11_state.events ? tessera_client_fd(p11_state.events) : -1;
    struct pollfd p[2] = { { .fd = p11_state.wake[0], .events = POLLIN },
                           { .fd = events_fd, .events = POLLIN } };
    p11_state.waiters++;
    p11_leave();
    poll(p, events_fd >= 0 ? 2 : 1, events_fd >= 0 ? -1 : NO_AGENT_POLL_MS);
    pthread_mutex_lock(&p11_state.lock);
    p11_state.waiters--;
    if (!p11_state.initialized) {
      if (p11_state.waiters == 0)
        pthread_cond_broadcast(&p11_state.waiters_gone);
      pthread_mutex_unlock(&p11_state.lock);
      return CKR_CRYPTOKI_NOT_INITIALIZED;
    }
  }
  p11_leave();
  return rv;
}
