/* tessera-agent — PKCS#11 return values as protocol errors and words. */
#include "ckr.h"

#include "messages.h"

#include <stdio.h>

uint32_t ckr_to_error(CK_RV rv)
{
  switch (rv) {
  case CKR_USER_NOT_LOGGED_IN:
    return TPROTO_ERR_NOT_LOGGED_IN;
  case CKR_PIN_INCORRECT:
    return TPROTO_ERR_PIN_INCORRECT;
  case CKR_PIN_LOCKED:
    return TPROTO_ERR_PIN_LOCKED;
  case CKR_PIN_LEN_RANGE:
  case CKR_PIN_INVALID:
    return TPROTO_ERR_PIN_INVALID;
  case CKR_KEY_FUNCTION_NOT_PERMITTED:
  case CKR_KEY_TYPE_INCONSISTENT:
    return TPROTO_ERR_KEY_USAGE;
  case CKR_MECHANISM_INVALID:
  case CKR_MECHANISM_PARAM_INVALID:
    return TPROTO_ERR_MECHANISM;
  case CKR_DATA_LEN_RANGE:
  case CKR_DATA_INVALID:
  case CKR_ARGUMENTS_BAD:
  case CKR_DOMAIN_PARAMS_INVALID:
    return TPROTO_ERR_BAD_INPUT;
  case CKR_ENCRYPTED_DATA_INVALID:
  case CKR_ENCRYPTED_DATA_LEN_RANGE:
    return TPROTO_ERR_DECRYPT_FAILED;
  case CKR_TOKEN_NOT_PRESENT:
  case CKR_DEVICE_REMOVED:
  case CKR_SLOT_ID_INVALID:
    return TPROTO_ERR_TOKEN_ABSENT;
  case CKR_FUNCTION_CANCELED:
    return TPROTO_ERR_PIN_CANCELLED;
  case CKR_USER_ALREADY_LOGGED_IN:
    return TPROTO_ERR_ALREADY_LOGGED_IN;
  default:
    return TPROTO_ERR_TOKEN_ERROR;
  }
}

const char *ckr_name(CK_RV rv)
{
  switch (rv) {
#define N(x)                                                                                       \
  case x:                                                                                          \
    return #x
    N(CKR_OK);
    N(CKR_CANCEL);
    N(CKR_HOST_MEMORY);
    N(CKR_SLOT_ID_INVALID);
    N(CKR_GENERAL_ERROR);
    N(CKR_FUNCTION_FAILED);
    N(CKR_ARGUMENTS_BAD);
    N(CKR_ATTRIBUTE_TYPE_INVALID);
    N(CKR_ATTRIBUTE_SENSITIVE);
    N(CKR_DATA_INVALID);
    N(CKR_DATA_LEN_RANGE);
    N(CKR_DEVICE_ERROR);
    N(CKR_DEVICE_MEMORY);
    N(CKR_DEVICE_REMOVED);
    N(CKR_ENCRYPTED_DATA_INVALID);
    N(CKR_ENCRYPTED_DATA_LEN_RANGE);
    N(CKR_FUNCTION_CANCELED);
    N(CKR_FUNCTION_NOT_SUPPORTED);
    N(CKR_KEY_HANDLE_INVALID);
    N(CKR_KEY_TYPE_INCONSISTENT);
    N(CKR_KEY_FUNCTION_NOT_PERMITTED);
    N(CKR_MECHANISM_INVALID);
    N(CKR_MECHANISM_PARAM_INVALID);
    N(CKR_OBJECT_HANDLE_INVALID);
    N(CKR_OPERATION_ACTIVE);
    N(CKR_OPERATION_NOT_INITIALIZED);
    N(CKR_PIN_INCORRECT);
    N(CKR_PIN_INVALID);
    N(CKR_PIN_LEN_RANGE);
    N(CKR_PIN_EXPIRED);
    N(CKR_PIN_LOCKED);
    N(CKR_SESSION_CLOSED);
    N(CKR_SESSION_HANDLE_INVALID);
    N(CKR_TOKEN_NOT_PRESENT);
    N(CKR_TOKEN_NOT_RECOGNIZED);
    N(CKR_USER_ALREADY_LOGGED_IN);
    N(CKR_USER_NOT_LOGGED_IN);
    N(CKR_USER_PIN_NOT_INITIALIZED);
    N(CKR_USER_TYPE_INVALID);
    N(CKR_BUFFER_TOO_SMALL);
    N(CKR_CRYPTOKI_NOT_INITIALIZED);
#undef N
  default: {
    static _Thread_local char buf[32];
    snprintf(buf, sizeof(buf), "CKR_0x%08lx", (unsigned long)rv);
    return buf;
  }
  }
}
