/* tessera-agent — RFC 7512 PKCS#11 URIs for tokens and keys. */
#pragma once

#include <glib.h>

char *uri_for_token(const char *label, const char *serial);
/* Stable key id: the token URI plus the object's CKA_ID (or, lacking one,
 * its label). */
char *uri_for_key(const char *token_uri, GBytes *ckaid, const char *label);
