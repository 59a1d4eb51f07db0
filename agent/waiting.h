/* tessera-agent — requests that wait for their card (worker side).
 *
 * A SIGN, DECRYPT or DERIVE for a key whose card is out waits, up to the
 * client's CARD_TIMEOUT (HELLO option, seconds; default 60, 0 = fail at
 * once), while a message asks the user to insert the card. The worker
 * keeps serving its queue meanwhile (it must: the card's return is a job
 * too); when the card is back the waiting requests run in order, and when
 * their time is up they fail with TOKEN_ABSENT.
 */
#pragma once

#include "job.h"
#include "token.h"

typedef struct TesseraWaiting TesseraWaiting;

TesseraWaiting *waiting_new(void);
/* Fails what still waits (the agent is shutting down) and frees. */
void waiting_free(TesseraWaiting *w);

/* TRUE: the job waits (do not finish it); FALSE: it was answered. */
gboolean waiting_park(TesseraToken *token, TesseraJob *job);
/* Monotonic time the next waiting request gives up; 0 when none waits. */
gint64 waiting_next_deadline(TesseraToken *token);
/* Fails the requests whose time is up. */
void waiting_expire(TesseraToken *token);
/* The card is back: runs every waiting request. */
void waiting_resume(TesseraToken *token);
