/* tessera-agent — logging in to a token: asking the user, once, safely
 * (worker side).
 *
 * Rules this file keeps:
 * - a PIN the token rejected is never sent to it again (an HMAC of it is
 *   remembered per token), and no PIN is ever retried on the agent's own:
 *   each PIN the user types costs at most one try;
 * - one dialog per token: requests that were queued while it was open
 *   share its outcome instead of each opening a dialog of their own;
 * - at most max-prompts dialogs per request; a locked PIN gets none.
 * Every function that returns FALSE has set the job's error reply.
 */
#pragma once

#include "job.h"
#include "token.h"

TesseraLoginState *login_state_new(void);
void login_state_free(TesseraLoginState *s);

/* Before a SIGN, DECRYPT or DERIVE: ends an expired login, asks for
 * confirmation when the key is configured so, and logs in (asking the
 * user) when the token needs it. */
gboolean login_prepare(TesseraToken *token, TesseraJob *job);
/* After C_SignInit/C_DecryptInit of a CKA_ALWAYS_AUTHENTICATE key: the
 * context-specific login, asking the user (or from the cached PIN). */
gboolean login_context_specific(TesseraToken *token, TesseraJob *job);
/* The token said CKR_USER_NOT_LOGGED_IN: another program or a reset ended
 * the login behind the agent's back. */
void login_lost(TesseraToken *token);
/* The card went or came: a failed dialog's outcome no longer applies to
 * the requests queued since. */
void login_forget_outcome(TesseraToken *token);

/* The LOGIN request: with the client's PIN, or asking the user. */
void login_run_request(TesseraToken *token, TesseraJob *job);
/* The LOGOUT request. */
void login_run_logout(TesseraToken *token, TesseraJob *job);
/* JOB_EXPIRE: logs out if the login's time is up. */
void login_run_expire(TesseraToken *token);
