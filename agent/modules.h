/* tessera-agent — loading PKCS#11 modules: p11-kit's registry and paths. */
#pragma once

#include <glib.h>
#include <p11-kit/pkcs11.h>

/* Loads p11-kit's registered modules (when use_registry) and the given
 * paths, skipping p11-kit's trust module and Tessera's own PKCS#11 shim,
 * then opens every present token into the registry. Failures of single
 * modules are logged, not fatal. */
void modules_load(gboolean use_registry, char **paths);
/* Frees the tokens and finalizes every module. */
void modules_unload(void);

/* A token a module shows now: what identifies a card across slots. */
typedef struct {
  CK_FUNCTION_LIST *module;
  const char *module_path; /* owned by the module list */
  CK_SLOT_ID slot;
  char *label, *serial;
  char *reader; /* slot description: for OpenSC the PC/SC reader name */
} ModuleSlot;

/* What every module shows now, for the hot-plug scan (any thread: only
 * C_GetSlotList and C_GetTokenInfo). Modules whose slot list cannot be
 * read go to *failed (CK_FUNCTION_LIST pointers) and must not be taken as
 * having no tokens. */
GPtrArray *modules_scan(GPtrArray *failed);
void module_slot_free(ModuleSlot *s);
/* CK_TOKEN_INFO text without its blank padding, valid UTF-8. */
char *modules_padded_string(const CK_UTF8CHAR *p, gsize n);
