/* tessera-agent — one PKCS#11 token and the worker thread that owns it.
 *
 * Every PKCS#11 call for a token runs on that token's single worker, so
 * calls are serialised per token while different tokens run in parallel,
 * and the main loop never waits on a card. Fields above "worker only" are
 * immutable after tessera_token_open(); the rest of the shared state is
 * read through the accessors, which take the lock.
 */
#pragma once

#include "config.h"
#include "key.h"

#include <gio/gio.h>
#include <glib.h>
#include <p11-kit/pkcs11.h>

typedef struct TesseraJob TesseraJob;
typedef struct TesseraLoginState TesseraLoginState;
typedef struct TesseraWaiting TesseraWaiting;

typedef struct TesseraToken {
  CK_FUNCTION_LIST *module;
  char *module_path;
  CK_SLOT_ID slot; /* worker only once the worker runs: a card may come back elsewhere */
  char *id; /* token URI */
  char *label, *manufacturer, *model, *serial;
  CK_MECHANISM_TYPE *mechanisms;
  CK_ULONG n_mechanisms;
  TesseraLoginPolicy policy;
  /* main loop only (hotplug.c): where the card is, as far as the jobs
   * already submitted go */
  gboolean expected_present;
  CK_SLOT_ID expected_slot;
  char *expected_reader; /* the slot's description: the PC/SC reader for OpenSC */
  GCancellable *shutdown; /* cancelled first at shutdown: closes an open PIN dialog */

  GMutex lock;
  GPtrArray *keys; /* of TesseraKey; replaced whole, never edited */
  gboolean present; /* the card is in (always for tokens not behind PC/SC) */
  GCancellable *dialog; /* the open PIN dialog's, or NULL */
  gboolean removing;    /* a detach is on its way: the dialog was closed for it */
  gboolean logged_in;
  gint64 login_started_us, last_used_us; /* monotonic; meaningful while logged in */
  CK_FLAGS token_flags;

  GAsyncQueue *queue; /* of TesseraJob */
  gint submitted;     /* atomic: jobs submitted so far */
  GThread *worker;
  /* worker only */
  CK_SESSION_HANDLE session;
  GHashTable *private_handles; /* CKA_ID (GBytes) -> CK_OBJECT_HANDLE */
  TesseraLoginState *login;    /* PIN dialogs, rejected PINs, cached PIN */
  TesseraWaiting *waiting;     /* requests waiting for the card */
} TesseraToken;

TesseraToken *tessera_token_open(CK_FUNCTION_LIST *module, const char *module_path,
                                 CK_SLOT_ID slot, GError **error);
/* Waits for queued work, logs out, closes the session. */
void tessera_token_free(TesseraToken *token);

/* Queues a job on the token's worker; the job delivers its own reply. */
void tessera_token_submit(TesseraToken *token, TesseraJob *job);

/* A new reference to the current key list (never NULL). */
GPtrArray *tessera_token_keys(TesseraToken *token);
gboolean tessera_token_logged_in(TesseraToken *token);
gboolean tessera_token_present(TesseraToken *token);
/* Seconds until the login ends by the idle or lifetime limit; 0 when not
 * logged in. */
guint32 tessera_token_login_ends_s(TesseraToken *token);
/* Monotonic time the login ends, G_MAXINT64 for never, 0 if not logged in. */
gint64 tessera_token_login_deadline(TesseraToken *token);
/* TPROTO_TOKEN_* flags for listing. */
uint32_t tessera_token_proto_flags(TesseraToken *token);
gboolean tessera_token_has_mechanism(const TesseraToken *token, CK_MECHANISM_TYPE mech);

/* Worker side: refreshes login state, token flags and the key list. */
void tessera_token_refresh(TesseraToken *token);
/* Worker side: forgets cached private-key handles (after logout). */
void tessera_token_forget_handles(TesseraToken *token);
/* Worker side: the login state changed (TRUE: starts now) or a key was
 * used (tessera_token_touch). */
void tessera_token_set_logged_in(TesseraToken *token, gboolean logged_in);
void tessera_token_touch(TesseraToken *token);
/* Worker side: re-reads the token flags (PIN counters). */
void tessera_token_refresh_flags(TesseraToken *token);

/* Worker side: the card is (back) in slot: a new session, keys read
 * again. FALSE if the card cannot be used (it went again). */
gboolean tessera_token_attach(TesseraToken *token, CK_SLOT_ID slot);
/* Worker side: the card is gone: the session and the login end; the keys
 * stay known, listed as unavailable. */
void tessera_token_detach(TesseraToken *token);

/* Main loop: a detach follows; closes the PIN dialog open for the token
 * so the worker gets to it. */
void tessera_token_begin_removal(TesseraToken *token);
/* Worker side, around a PIN dialog: the cancellable to give it (closed by
 * a removal or the shutdown); end clears it. */
GCancellable *tessera_token_dialog_begin(TesseraToken *token);
void tessera_token_dialog_end(TesseraToken *token, GCancellable *dialog);
/* Worker side: whether the last closed dialog was closed by a removal. */
gboolean tessera_token_removing(TesseraToken *token);
