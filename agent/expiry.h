/* tessera-agent — ends token logins on time (idle and lifetime limits).
 *
 * One main-loop timer, armed for the earliest login deadline of all
 * tokens: an agent without logins never wakes up. When it fires it queues
 * a JOB_EXPIRE on each token whose deadline has passed; the worker checks
 * again (the key may have been used meanwhile) and logs out.
 */
#pragma once

/* Re-arms the timer after a login began or ended; any thread. */
void expiry_schedule(void);
/* Removes the timer (shutdown). */
void expiry_stop(void);
