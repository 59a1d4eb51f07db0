/* tessera-agent — private-key operations (worker side).
 *
 * Requests are checked against the key on the main loop before they get
 * here; this file only talks to the token and turns its answers into
 * replies a user can act on.
 */
#pragma once

#include "job.h"
#include "token.h"

#include <p11-kit/pkcs11.h>

/* Performs job on token's session and encodes its reply. FALSE when the
 * job now waits for its card (waiting.c finishes it later). */
gboolean operations_run(TesseraToken *token, TesseraJob *job);
/* A token's refusal as an error reply that says what to do next. */
void operations_reply_ckr(TesseraToken *token, TesseraJob *job, CK_RV rv, const char *function);

/* PKCS#11 mechanism for a protocol mechanism/hash; FALSE if none. */
gboolean operations_hash_mechanism(uint8_t hash, CK_MECHANISM_TYPE *mech, CK_ULONG *mgf);
CK_MECHANISM_TYPE operations_ck_mechanism(uint8_t mech);
