/* tessera-pkcs11 — the module's life: C_Initialize, C_Finalize, C_GetInfo,
 * the function list, and the check every entry point makes first. */
#include "p11.h"

#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

p11_module p11_state = {
  .lock = PTHREAD_MUTEX_INITIALIZER,
  .waiters_gone = PTHREAD_COND_INITIALIZER,
  .wake = { -1, -1 },
};

uint64_t p11_now_ms(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void close_wake_pipe(void)
{
  for (int i = 0; i < 2; i++) {
    if (p11_state.wake[i] >= 0)
      close(p11_state.wake[i]);
    p11_state.wake[i] = -1;
  }
}

static bool open_wake_pipe(void)
{
  close_wake_pipe();
  return pipe2(p11_state.wake, O_CLOEXEC | O_NONBLOCK) == 0;
}

/* A child of fork() must never speak on its parent's connections: it drops
 * them (closing only its own copies) and connects anew on first use. Its
 * sessions and objects stay, so a child may go on signing. */
static void adopt_after_fork(void)
{
  p11_state.waiters = 0; /* the waiting threads stayed in the parent */
  p11_events_close();
  p11_link_reset();
  open_wake_pipe();
  p11_state.pid = getpid();
  p11_state.last_connect_ms = 0;
  p11_state.stale = true;
}

CK_RV p11_enter(void)
{
  pthread_mutex_lock(&p11_state.lock);
  if (!p11_state.initialized) {
    pthread_mutex_unlock(&p11_state.lock);
    return CKR_CRYPTOKI_NOT_INITIALIZED;
  }
  if (p11_state.pid != getpid())
    adopt_after_fork();
  return CKR_OK;
}

void p11_leave(void)
{
  pthread_mutex_unlock(&p11_state.lock);
}

static void free_state(void)
{
  p11_sessions_free();
  for (size_t i = 0; i < p11_state.n_objects; i++)
    p11_object_free(p11_state.objects[i]);
  free(p11_state.objects);
  p11_state.objects = NULL;
  p11_state.n_objects = 0;
  p11_slots_free();
  p11_events_close();
  p11_link_reset();
  close_wake_pipe();
}

CK_RV C_Initialize(CK_VOID_PTR init_args)
{
  const CK_C_INITIALIZE_ARGS *args = init_args;
  if (args) {
    if (args->pReserved != NULL)
      return CKR_ARGUMENTS_BAD;
    int given = (args->CreateMutex != NULL) + (args->DestroyMutex != NULL) +
                (args->LockMutex != NULL) + (args->UnlockMutex != NULL);
    if (given != 0 && given != 4)
      return CKR_ARGUMENTS_BAD;
    /* We lock with pthreads; an application that forbids them cannot use us. */
    if (given == 4 && !(args->flags & CKF_OS_LOCKING_OK))
      return CKR_CANT_LOCK;
  }
  pthread_mutex_lock(&p11_state.lock);
  if (p11_state.initialized && p11_state.pid == getpid()) {
    pthread_mutex_unlock(&p11_state.lock);
    return CKR_CRYPTOKI_ALREADY_INITIALIZED;
  }
  if (p11_state.initialized) { /* a forked child starting over */
    p11_state.waiters = 0;
    free_state();
  }
  CK_RV rv = CKR_OK;
  if (!open_wake_pipe()) {
    rv = CKR_FUNCTION_FAILED;
  } else {
    p11_state.initialized = true;
    p11_state.pid = getpid();
    p11_state.next_slot_id = 1;
    p11_state.next_handle = 1;
    p11_state.next_session = 1;
    p11_state.last_connect_ms = 0;
    p11_state.stale = false;
    p11_state.listed = false;
  }
  pthread_mutex_unlock(&p11_state.lock);
  return rv;
}

CK_RV C_Finalize(CK_VOID_PTR reserved)
{
  if (reserved != NULL)
    return CKR_ARGUMENTS_BAD;
  CK_RV rv = p11_enter();
  if (rv != CKR_OK)
    return rv;
  p11_state.initialized = false;
  /* Release C_WaitForSlotEvent callers before their connection goes. */
  if (write(p11_state.wake[1], "x", 1) < 0) {
    /* full pipe: already signalled */
  }
  while (p11_state.waiters > 0)
    pthread_cond_wait(&p11_state.waiters_gone, &p11_state.lock);
  free_state();
  p11_leave();
  return CKR_OK;
}

CK_RV C_GetInfo(CK_INFO_PTR info)
{
  if (info == NULL)
    return CKR_ARGUMENTS_BAD;
  /* Answered before C_Initialize too: the agent asks, to refuse this module. */
  memset(info, ' ', sizeof(*info));
  info->cryptokiVersion.major = 2;
  info->cryptokiVersion.minor = 40;
  info->flags = 0;
  memcpy(info->manufacturerID, P11_MANUFACTURER, strlen(P11_MANUFACTURER));
  memcpy(info->libraryDescription, P11_LIBRARY_DESCRIPTION, strlen(P11_LIBRARY_DESCRIPTION));
  info->libraryVersion.major = 0;
  info->libraryVersion.minor = 1;
  return CKR_OK;
}

#define F(name) .C_##name = C_##name

static CK_FUNCTION_LIST function_list = {
  .version = { 2, 40 },
  F(Initialize), F(Finalize), F(GetInfo), F(GetFunctionList), F(GetSlotList),
  F(GetSlotInfo), F(GetTokenInfo), F(GetMechanismList), F(GetMechanismInfo), F(InitToken),
  F(InitPIN), F(SetPIN), F(OpenSession), F(CloseSession), F(CloseAllSessions),
  F(GetSessionInfo), F(GetOperationState), F(SetOperationState), F(Login), F(Logout),
  F(CreateObject), F(CopyObject), F(DestroyObject), F(GetObjectSize), F(GetAttributeValue),
  F(SetAttributeValue), F(FindObjectsInit), F(FindObjects), F(FindObjectsFinal),
  F(EncryptInit), F(Encrypt), F(EncryptUpdate), F(EncryptFinal), F(DecryptInit), F(Decrypt),
  F(DecryptUpdate), F(DecryptFinal), F(DigestInit), F(Digest), F(DigestUpdate), F(DigestKey),
  F(DigestFinal), F(SignInit), F(Sign), F(SignUpdate), F(SignFinal), F(SignRecoverInit),
  F(SignRecover), F(VerifyInit), F(Verify), F(VerifyUpdate), F(VerifyFinal),
  F(VerifyRecoverInit), F(VerifyRecover), F(DigestEncryptUpdate), F(DecryptDigestUpdate),
  F(SignEncryptUpdate), F(DecryptVerifyUpdate), F(GenerateKey), F(GenerateKeyPair),
  F(WrapKey), F(UnwrapKey), F(DeriveKey), F(SeedRandom), F(GenerateRandom),
  F(GetFunctionStatus), F(CancelFunction), F(WaitForSlotEvent),
};

CK_RV C_GetFunctionList(CK_FUNCTION_LIST_PTR_PTR list)
{
  if (list == NULL)
    return CKR_ARGUMENTS_BAD;
  *list = &function_list;
  return CKR_OK;
}
