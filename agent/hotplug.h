/* tessera-agent — cards coming and going: PC/SC events to tokens.
 *
 * A PC/SC event makes a scanner thread ask every module which tokens it
 * shows now (PKCS#11 calls, so never on the main loop). The main loop
 * compares that with the tokens it knows by module, label and serial: a
 * known card that is back is attached on its token's worker (same token,
 * same key ids), a card that is gone is detached (its login ends, its keys
 * stay listed as unavailable), and a card never seen is opened on the
 * scanner thread and added. Tokens not behind PC/SC never change.
 */
#pragma once

#include "token.h"

void hotplug_start(void);
void hotplug_stop(void);

/* Worker side, after JOB_ATTACH / JOB_DETACH. */
void hotplug_attached(TesseraToken *token, gboolean ok);
void hotplug_detached(TesseraToken *token);
