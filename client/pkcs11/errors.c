/* tessera-pkcs11 — the agent's answers as the CK_RV applications expect. */
#include "p11.h"

CK_RV p11_rv_from_tessera(int rc, p11_call_kind kind)
{
  switch (rc) {
  case TESSERA_OK: return CKR_OK;
  case TESSERA_E_NOMEM: return CKR_HOST_MEMORY;
  case TESSERA_E_ARG: return CKR_ARGUMENTS_BAD;
  /* No agent, or it went away: to the application the token is gone. */
  case TESSERA_E_CONNECT:
  case TESSERA_E_IO: return CKR_DEVICE_REMOVED;
  case TPROTO_ERR_NO_SUCH_TOKEN:
  case TPROTO_ERR_TOKEN_ABSENT:
  case TPROTO_ERR_CARD_REMOVED: return CKR_DEVICE_REMOVED;
  case TPROTO_ERR_NO_SUCH_KEY: return CKR_KEY_HANDLE_INVALID;
  case TPROTO_ERR_NOT_LOGGED_IN: return CKR_USER_NOT_LOGGED_IN;
  case TPROTO_ERR_ALREADY_LOGGED_IN: return CKR_USER_ALREADY_LOGGED_IN;
  case TPROTO_ERR_PIN_INCORRECT: return CKR_PIN_INCORRECT;
  case TPROTO_ERR_PIN_LOCKED: return CKR_PIN_LOCKED;
  case TPROTO_ERR_PIN_INVALID: return CKR_PIN_INVALID;
  case TPROTO_ERR_PIN_CANCELLED: return CKR_FUNCTION_CANCELED;
  case TPROTO_ERR_DENIED: return CKR_FUNCTION_REJECTED;
  case TPROTO_ERR_KEY_USAGE: return CKR_KEY_FUNCTION_NOT_PERMITTED;
  case TPROTO_ERR_MECHANISM: return CKR_MECHANISM_INVALID;
  case TPROTO_ERR_BAD_INPUT:
    if (kind == P11_FOR_DECRYPT)
      return CKR_ENCRYPTED_DATA_LEN_RANGE;
    if (kind == P11_FOR_DERIVE)
      return CKR_MECHANISM_PARAM_INVALID;
    return CKR_DATA_LEN_RANGE;
  case TPROTO_ERR_DECRYPT_FAILED: return CKR_ENCRYPTED_DATA_INVALID;
  case TPROTO_ERR_TOKEN_ERROR: return CKR_DEVICE_ERROR;
  default: return CKR_FUNCTION_FAILED;
  }
}
