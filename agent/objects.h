/* tessera-agent — reading a token's keys and certificates (worker side). */
#pragma once

#include "token.h"

#include <glib.h>

/* Pairs private keys, public keys and X.509 certificates by CKA_ID into a
 * fresh key list. Works without login (private keys may then be hidden; a
 * public key or certificate stands for them). */
GPtrArray *objects_scan(TesseraToken *token);
/* Handle of the private key with this CKA_ID, or CK_INVALID_HANDLE. */
CK_OBJECT_HANDLE objects_find_private_key(TesseraToken *token, GBytes *ckaid);
/* One attribute's value (NULL when absent or unreadable). */
GBytes *objects_get_attribute(TesseraToken *token, CK_OBJECT_HANDLE obj, CK_ATTRIBUTE_TYPE type);
