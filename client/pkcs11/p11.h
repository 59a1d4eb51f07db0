/* tessera-pkcs11 — internals shared by the module's source files.
 *
 * The module is loaded into other programs: libc, the client library and
 * OpenSSL only, no threads of its own. All state lives in one struct
 * guarded by one mutex; requests to the agent that may block on the user
 * (login, sign, decrypt, derive) run with the mutex released, each on a
 * connection of its own from a small pool (link.c).
 */
#pragma once

#include <p11-kit/pkcs11.h>

#include "messages.h"
#include "tessera-client.h"

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "identity.h"

/* ---- attributes.c: a list of attributes owning their values ---------- */

typedef struct {
  CK_ATTRIBUTE *items;
  size_t n;
} p11_attrs;

bool p11_attrs_add(p11_attrs *a, CK_ATTRIBUTE_TYPE type, const void *value, size_t len);
bool p11_attrs_add_bool(p11_attrs *a, CK_ATTRIBUTE_TYPE type, bool value);
bool p11_attrs_add_ulong(p11_attrs *a, CK_ATTRIBUTE_TYPE type, CK_ULONG value);
const CK_ATTRIBUTE *p11_attrs_find(const p11_attrs *a, CK_ATTRIBUTE_TYPE type);
/* True when every attribute of the template is present with equal bytes. */
bool p11_attrs_match(const p11_attrs *a, const CK_ATTRIBUTE *tmpl, CK_ULONG n);
/* C_GetAttributeValue semantics over a (sensitive: types never revealed). */
CK_RV p11_attrs_get(const p11_attrs *a, CK_ATTRIBUTE *tmpl, CK_ULONG n,
                    const CK_ATTRIBUTE_TYPE *sensitive, size_t n_sensitive);
/* Frees every value; values that may be secret are wiped first. */
void p11_attrs_clear(p11_attrs *a);
/* Template lookups: false when absent or of the wrong size. */
bool p11_template_bool(const CK_ATTRIBUTE *tmpl, CK_ULONG n, CK_ATTRIBUTE_TYPE type, bool *out);
bool p11_template_ulong(const CK_ATTRIBUTE *tmpl, CK_ULONG n, CK_ATTRIBUTE_TYPE type,
                        CK_ULONG *out);

/* ---- objects.c: certificates and keys as PKCS#11 objects -------------- */

typedef struct {
  CK_OBJECT_HANDLE handle;
  CK_SLOT_ID slot;
  CK_SESSION_HANDLE session; /* 0 for token objects; else the owner */
  CK_OBJECT_CLASS klass;
  char *key_id; /* the agent's key id (token objects) */
  uint8_t key_type; /* TPROTO_KEY_* */
  uint32_t bits, ops, flags; /* from the agent */
  p11_attrs attrs;
} p11_object;

void p11_object_free(p11_object *o);
/* The certificate, public-key and private-key objects of one agent key.
 * ckaid/label are the token-unique values chosen by slots.c. Returns the
 * number of objects written to out (at most 3); 0 on failure. */
size_t p11_objects_for_key(const tessera_key *k, CK_SLOT_ID slot, const uint8_t *ckaid,
                           size_t ckaid_len, const char *label, p11_object *out[3]);
/* The CKA_ID the token gave the key, from the id= of its URI; malloc'd,
 * NULL when the URI has none. */
uint8_t *p11_ckaid_from_uri(const char *uri, size_t *len);
/* SHA-1 of the public key value (RSA modulus or EC point), NSS's own
 * choice of CKA_ID; false when the key has no public key. */
bool p11_ckaid_from_spki(const tessera_key *k, uint8_t out[20]);

/* ---- mechanisms.c ------------------------------------------------------ */

typedef struct {
  CK_MECHANISM_TYPE type;
  uint8_t key_type;  /* TPROTO_KEY_* */
  CK_FLAGS flags;    /* CKF_SIGN / CKF_DECRYPT / CKF_DERIVE */
  uint8_t wire;      /* TPROTO_MECH_* */
  uint8_t hash;      /* TPROTO_HASH_* hashed in the module; NONE = raw input */
  bool pss;
} p11_mechanism;

const p11_mechanism *p11_mechanism_find(CK_MECHANISM_TYPE type);
/* All mechanisms for the key types in key_types (bit 1 << TPROTO_KEY_*). */
size_t p11_mechanism_list(unsigned key_types, CK_MECHANISM_TYPE *out, size_t max);
/* OpenSSL digest name for a TPROTO_HASH_* ("SHA256"), NULL for NONE. */
const char *p11_hash_name(uint8_t hash);
/* TPROTO_HASH_* for CKM_SHA* / CKG_MGF1_SHA*; NONE when unknown. */
uint8_t p11_hash_from_ckm(CK_MECHANISM_TYPE m);
uint8_t p11_hash_from_mgf(CK_RSA_PKCS_MGF_TYPE m);

/* ---- errors.c ---------------------------------------------------------- */

typedef enum { P11_FOR_SIGN, P11_FOR_DECRYPT, P11_FOR_DERIVE, P11_FOR_LOGIN } p11_call_kind;
/* A libtessera-client result as the CK_RV an application expects. */
CK_RV p11_rv_from_tessera(int rc, p11_call_kind kind);

/* ---- link.c: connections to the agent --------------------------------- */

/* A connection for one request, from the pool or new; NULL when no agent
 * answers. Never shared: the caller owns it until p11_link_release. */
tessera_client *p11_link_acquire(void);
void p11_link_release(tessera_client *c);
/* Forgets every pooled connection without using it (after fork, at
 * C_Finalize). */
void p11_link_reset(void);
/* Runs call on a pooled connection; when the connection turns out to be
 * dead (the agent restarted) runs it once more on a fresh one. */
typedef int (*p11_link_call)(tessera_client *c, void *ctx);
int p11_link_run(p11_link_call call, void *ctx);

/* ---- sessions ----------------------------------------------------------- */

typedef enum { P11_OP_NONE, P11_OP_SIGN, P11_OP_DECRYPT } p11_op_kind;

typedef struct {
  p11_op_kind kind;
  const p11_mechanism *mech;
  char *key_id;
  uint32_t bits;
  uint8_t pss_hash, mgf_hash;
  uint32_t salt_len;
  uint8_t *oaep_label;
  size_t oaep_label_len;
  void *md_ctx;         /* EVP_MD_CTX for the hashing mechanisms */
  uint8_t *data;        /* raw input collected by Update */
  size_t data_len;
  uint8_t *result;      /* output kept after CKR_BUFFER_TOO_SMALL */
  size_t result_len;
} p11_op;

typedef struct {
  CK_SESSION_HANDLE handle;
  CK_SLOT_ID slot;
  CK_FLAGS flags;
  CK_OBJECT_HANDLE *found;
  size_t n_found, next_found;
  bool finding;
  p11_op op;
} p11_session;

/* operation.c (lock held unless said) */
void p11_op_clear(p11_op *op);
/* Checks the mechanism parameters of an operation being started (mechanism
 * and key recorded), keeping what it needs in op. */
typedef CK_RV (*p11_op_setup)(p11_op *op, const CK_MECHANISM *mech);
/* C_SignInit / C_DecryptInit, lock not held: checks no operation runs and
 * the key allows kind with mech, records them, runs setup; the operation
 * starts only when all of that passed. */
CK_RV p11_op_init(CK_SESSION_HANDLE h, const CK_MECHANISM *mech, CK_OBJECT_HANDLE key,
                  p11_op_kind kind, p11_op_setup setup);
/* Looks up a session whose operation of kind goes on (Update, Final):
 * CKR_OPERATION_NOT_INITIALIZED when none runs; lock held on CKR_OK. */
CK_RV p11_enter_op(CK_SESSION_HANDLE h, p11_op_kind kind, p11_session **out);
/* Appends input to op->data; the caller checks its length. */
CK_RV p11_op_collect(p11_op *op, const uint8_t *data, size_t len);
/* PKCS#11's output convention for size bytes: false, with *out_len = size,
 * when out is NULL (a length query: *rv CKR_OK) or *out_len is too small
 * (*rv CKR_BUFFER_TOO_SMALL). Either way the operation goes on. */
bool p11_output_fits(const CK_BYTE *out, CK_ULONG_PTR out_len, size_t size, CK_RV *rv);

/* ---- slots ------------------------------------------------------------- */

typedef struct {
  CK_SLOT_ID id;
  char *token_id;
  tessera_token info; /* the agent's last word on the token */
  bool known;         /* the agent lists it now */
  unsigned key_types; /* 1 << TPROTO_KEY_* of its keys */
  bool event;         /* changed since the last C_WaitForSlotEvent */
  bool app_logged_in; /* this process called C_Login (the agent may have been
                         logged in already, by another program) */
} p11_slot;

/* ---- the module's state (module.c) ------------------------------------ */

typedef struct {
  pthread_mutex_t lock;
  pthread_cond_t waiters_gone;
  bool initialized;
  pid_t pid;     /* the process that initialized; a child starts afresh */
  int wake[2];   /* written by C_Finalize to release C_WaitForSlotEvent */
  unsigned waiters;

  tessera_client *events;  /* subscribed connection; NULL when no agent */
  tessera_client **retired; /* dead event connections a waiter may poll */
  size_t n_retired;
  uint64_t last_connect_ms;
  bool stale;  /* the agent reported a change since the last refresh */
  bool listed; /* asked the agent at least once */

  p11_slot *slots;
  size_t n_slots;
  CK_SLOT_ID next_slot_id;

  p11_object **objects;
  size_t n_objects;
  CK_OBJECT_HANDLE next_handle;

  p11_session **sessions;
  size_t n_sessions;
  CK_SESSION_HANDLE next_session;
} p11_module;

extern p11_module p11_state;

/* Takes the lock and checks the module is initialized in this process;
 * CKR_OK with the lock held, else the error and the lock released. */
CK_RV p11_enter(void);
void p11_leave(void);
uint64_t p11_now_ms(void);

/* slots.c (lock held) */
/* Reads pending agent events and refreshes tokens and objects when
 * something changed or nothing is known yet. */
void p11_sync(void);
p11_slot *p11_slot_find(CK_SLOT_ID id);
/* The slot when it exists and its token is present. */
p11_slot *p11_slot_present(CK_SLOT_ID id);
/* Looks up a slot for an entry point (with its token present when token):
 * CKR_SLOT_ID_INVALID or CKR_TOKEN_NOT_PRESENT, else CKR_OK with the lock
 * held. Takes the lock itself. */
CK_RV p11_enter_slot(CK_SLOT_ID id, bool token, p11_slot **out);
void p11_slots_free(void);
void p11_events_close(void);

/* objects.c (lock held) */
p11_object *p11_object_find(CK_OBJECT_HANDLE h);
bool p11_object_add(p11_object *o);
void p11_objects_free_where(CK_SLOT_ID slot, CK_SESSION_HANDLE session, bool token_objects);

/* find.c (lock held): the private key for an operation with m, or the
 * error C_SignInit / C_DecryptInit / C_DeriveKey return. */
CK_RV p11_key_for(const p11_session *s, CK_OBJECT_HANDLE key, const p11_mechanism *m,
                  CK_FLAGS use, const p11_object **out);

/* sessions.c (lock held) */
p11_session *p11_session_find(CK_SESSION_HANDLE h);
/* Closes every session on slot (its card went away or changed). */
void p11_sessions_close_slot(CK_SLOT_ID slot);
void p11_sessions_free(void);
/* Looks up a session for an entry point: lock held on CKR_OK. */
CK_RV p11_enter_session(CK_SESSION_HANDLE h, p11_session **out);
