/* tessera-agent — the tokens the agent serves and how names find them. */
#pragma once

#include "key.h"
#include "token.h"

#include <glib.h>

void registry_add(TesseraToken *token);
/* Tokens in a stable order; borrowed array. */
GPtrArray *registry_tokens(void);
void registry_clear(void);
guint registry_key_count(void);
/* Whether token is (still) one of the registry's. */
gboolean registry_contains(const TesseraToken *token);

/* Finds a token by URI, exact label or serial. On failure returns NULL,
 * sets *code (TPROTO_ERR_*) and *message (free with g_free). */
TesseraToken *registry_find_token(const char *name, uint32_t *code, char **message);
/* Resolves a key by id, PKCS#11 URI, exact label or unique id prefix.
 * Returns a new reference and the token that holds it. */
TesseraKey *registry_resolve_key(const char *name, TesseraToken **token, uint32_t *code,
                                 char **message);
