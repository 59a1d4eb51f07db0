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
