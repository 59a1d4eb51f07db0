/* tessera-agent — public keys: SPKI from PKCS#11 attributes or a cert. */
#pragma once

#include <glib.h>
#include <stdint.h>

GBytes *pubkey_spki_from_rsa(GBytes *modulus, GBytes *exponent);
/* params: DER OID (CKA_EC_PARAMS); point: CKA_EC_POINT (DER OCTET STRING
 * or raw, both seen in the wild). */
GBytes *pubkey_spki_from_ec(GBytes *params, GBytes *point);
GBytes *pubkey_spki_from_cert(GBytes *cert);
/* Key type (TPROTO_KEY_*), size in bits and in bytes (RSA modulus, EC
 * field element). FALSE when the SPKI is not RSA or EC. */
gboolean pubkey_describe(GBytes *spki, uint8_t *key_type, uint32_t *bits, gsize *size_bytes);
