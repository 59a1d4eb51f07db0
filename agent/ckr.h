/* tessera-agent — PKCS#11 return values as protocol errors and words. */
#pragma once

#include <p11-kit/pkcs11.h>
#include <stdint.h>

/* Stable protocol error code (enum tproto_error_code) for a CK_RV. */
uint32_t ckr_to_error(CK_RV rv);
/* "CKR_PIN_INCORRECT" etc.; a hex number for unknown values. */
const char *ckr_name(CK_RV rv);
