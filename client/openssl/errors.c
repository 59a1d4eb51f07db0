/* Errors: raised through the core, so they carry the provider's name and
 * our reason strings ("tessera::PIN entry cancelled:..."). */
#include "prov.h"

#include "messages.h"

#include <openssl/err.h>
#include <stdarg.h>

const OSSL_ITEM tprov_reason_strings[] = {
  { TPROV_R_AGENT, "the agent refused the operation" },
  { TPROV_R_PIN_CANCELLED, "PIN entry cancelled" },
  { TPROV_R_NOT_LOGGED_IN, "token not logged in" },
  { TPROV_R_PIN, "PIN not accepted" },
  { TPROV_R_DECRYPT_FAILED, "decryption failed" },
  { TPROV_R_CONNECTION, "no connection to the agent" },
  { TPROV_R_NO_PRIVATE_KEY, "not a key of the agent" },
  { TPROV_R_UNSUPPORTED, "not supported by agent keys" },
  { TPROV_R_BAD_ARGUMENT, "invalid argument" },
  { TPROV_R_BUFFER_TOO_SMALL, "output buffer too small" },
  { TPROV_R_INTERNAL, "internal error" },
  { 0, NULL },
};

void tprov_raise_at(const tprov_ctx *p, const char *file, int line, const char *func, int reason,
                    const char *fmt, ...)
{
  va_list ap;
  va_start(ap, fmt);
  if (p != NULL) {
    p->new_error(p->handle);
    p->set_error_debug(p->handle, file, line, func);
    p->vset_error(p->handle, (uint32_t)reason, fmt, ap);
  } else { /* no provider at hand: only for arguments that are not ours */
    ERR_new();
    ERR_set_debug(file, line, func);
    ERR_vset_error(ERR_LIB_PROV, ERR_R_PASSED_INVALID_ARGUMENT, fmt, ap);
  }
  va_end(ap);
}

static int agent_reason(int rc)
{
  switch (rc) {
  case TPROTO_ERR_PIN_CANCELLED:
    return TPROV_R_PIN_CANCELLED;
  case TPROTO_ERR_NOT_LOGGED_IN:
    return TPROV_R_NOT_LOGGED_IN;
  case TPROTO_ERR_PIN_INCORRECT:
  case TPROTO_ERR_PIN_LOCKED:
  case TPROTO_ERR_PIN_INVALID:
  case TPROTO_ERR_PIN_ENTRY_FAILED:
    return TPROV_R_PIN;
  case TPROTO_ERR_DECRYPT_FAILED:
    return TPROV_R_DECRYPT_FAILED;
  case TESSERA_E_CONNECT:
  case TESSERA_E_IO:
  case TESSERA_E_PROTOCOL:
    return TPROV_R_CONNECTION;
  case TESSERA_E_NOMEM:
    return TPROV_R_INTERNAL;
  default:
    return TPROV_R_AGENT;
  }
}

void tprov_raise_agent_at(const tprov_key *k, const char *file, int line, const char *func,
                          const char *op, int rc)
{
  const char *msg = tessera_client_last_error(k->client);
  const char *code = rc > 0 ? tproto_error_name((uint32_t)rc) : NULL;
  tprov_raise_at(k->prov, file, line, func, agent_reason(rc), "%s with %s: %s%s%s%s", op, k->id,
                 msg && *msg ? msg : "failed", code ? " (" : "", code ? code : "", code ? ")" : "");
}
