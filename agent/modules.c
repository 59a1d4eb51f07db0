/* tessera-agent — loading PKCS#11 modules: p11-kit's registry and paths. */
#include "modules.h"

#include "ckr.h"
#include "identity.h"
#include "registry.h"
#include "token.h"

#include <gio/gio.h>
#include <p11-kit/p11-kit.h>
#include <stdlib.h>
#include <string.h>

#define MAX_SLOTS 64

static CK_FUNCTION_LIST **registered; /* from p11-kit, finalized together */
static GPtrArray *explicit_modules;   /* loaded by path, finalized one by one */
static GPtrArray *loaded_paths;       /* canonical paths, to load each once */
static GPtrArray *served;             /* the modules in use, index-aligned with served_paths */
static GPtrArray *served_paths;

/* Never serve p11-kit's trust store (no keys) nor Tessera's own shim,
 * which forwards to this very agent and would loop. */
static gboolean must_skip(const char *path)
{
  g_autofree char *base = g_path_get_basename(path);
  return strstr(base, "p11-kit-trust") != NULL || strstr(base, "tessera-pkcs11") != NULL;
}

/* A copy under another name still says who it is. */
static gboolean is_tessera_module(CK_FUNCTION_LIST *module)
{
  CK_INFO info;
  if (module->C_GetInfo(&info) != CKR_OK)
    return FALSE;
  return memcmp(info.libraryDescription, P11_LIBRARY_DESCRIPTION,
                strlen(P11_LIBRARY_DESCRIPTION)) == 0 &&
         memcmp(info.manufacturerID, P11_MANUFACTURER, strlen(P11_MANUFACTURER)) == 0;
}

static char *canonical(const char *path)
{
  char *real = realpath(path, NULL);
  char *out = g_strdup(real ? real : path);
  free(real);
  return out;
}

static gboolean already_loaded(const char *path)
{
  for (guint i = 0; i < loaded_paths->len; i++)
    if (strcmp(loaded_paths->pdata[i], path) == 0)
      return TRUE;
  return FALSE;
}

static void open_tokens(CK_FUNCTION_LIST *module, const char *path)
{
  g_ptr_array_add(served, module);
  g_ptr_array_add(served_paths, g_strdup(path));
  CK_SLOT_ID slots[MAX_SLOTS];
  CK_ULONG n = G_N_ELEMENTS(slots);
  CK_RV rv = module->C_GetSlotList(CK_TRUE, slots, &n);
  if (rv != CKR_OK) {
    g_warning("module %s: cannot list its slots: %s", path, ckr_name(rv));
    return;
  }
  for (CK_ULONG i = 0; i < n; i++) {
    g_autoptr(GError) error = NULL;
    TesseraToken *token = tessera_token_open(module, path, slots[i], &error);
    if (g_error_matches(error, G_IO_ERROR, G_IO_ERROR_NOT_INITIALIZED)) {
      g_debug("module %s, slot %lu: empty (uninitialized) token", path, (unsigned long)slots[i]);
      continue;
    }
    if (token == NULL) {
      g_warning("module %s, slot %lu: %s", path, (unsigned long)slots[i], error->message);
      continue;
    }
    g_autoptr(GPtrArray) keys = tessera_token_keys(token);
    g_message("token '%s' (serial %s) from %s: %u keys", token->label, token->serial, path,
              keys->len);
    registry_add(token);
  }
}

static void load_registered(void)
{
  registered = p11_kit_modules_load_and_initialize(0);
  if (registered == NULL) {
    g_warning("p11-kit could not load its registered modules: %s", p11_kit_message());
    return;
  }
  for (CK_FUNCTION_LIST **m = registered; *m != NULL; m++) {
    char *raw = p11_kit_module_get_filename(*m);
    g_autofree char *path = canonical(raw ? raw : "(unknown)");
    free(raw);
    if (must_skip(path) || already_loaded(path)) {
      g_debug("skipping module %s", path);
      continue;
    }
    g_ptr_array_add(loaded_paths, g_strdup(path));
    open_tokens(*m, path);
  }
}

static void load_path(const char *given)
{
  g_autofree char *path = canonical(given);
  if (must_skip(path)) {
    g_warning("not loading %s: Tessera never loads its own PKCS#11 module or p11-kit's trust "
              "module",
              given);
    return;
  }
  if (already_loaded(path))
    return;
  CK_FUNCTION_LIST *module = p11_kit_module_load(path, 0);
  if (module == NULL) {
    g_warning("cannot load PKCS#11 module %s: %s", given, p11_kit_message());
    return;
  }
  CK_RV rv = p11_kit_module_initialize(module);
  if (rv != CKR_OK) {
    g_warning("cannot initialize PKCS#11 module %s: %s", given, ckr_name(rv));
    p11_kit_module_release(module);
    return;
  }
  if (is_tessera_module(module)) {
    g_warning("not loading %s: it is Tessera's own PKCS#11 module (renamed); the agent would "
              "talk to itself",
              given);
    p11_kit_module_finalize(module);
    p11_kit_module_release(module);
    return;
  }
  g_ptr_array_add(loaded_paths, g_strdup(path));
  g_ptr_array_add(explicit_modules, module);
  open_tokens(module, path);
}

void modules_load(gboolean use_registry, char **paths)
{
  loaded_paths = g_ptr_array_new_with_free_func(g_free);
  explicit_modules = g_ptr_array_new();
  served = g_ptr_array_new();
  served_paths = g_ptr_array_new_with_free_func(g_free);
  /* Explicit paths first, so a module given twice is served as asked. */
  for (char **p = paths; p != NULL && *p != NULL; p++)
    load_path(*p);
  if (use_registry)
    load_registered();
}

void modules_unload(void)
{
  GPtrArray *tokens = registry_tokens();
  for (guint i = 0; i < tokens->len; i++)
    tessera_token_free(tokens->pdata[i]);
  registry_clear();
  for (guint i = 0; explicit_modules && i < explicit_modules->len; i++) {
    p11_kit_module_finalize(explicit_modules->pdata[i]);
    p11_kit_module_release(explicit_modules->pdata[i]);
  }
  g_clear_pointer(&explicit_modules, g_ptr_array_unref);
  if (registered != NULL)
    p11_kit_modules_finalize_and_release(registered);
  registered = NULL;
  g_clear_pointer(&loaded_paths, g_ptr_array_unref);
  g_clear_pointer(&served, g_ptr_array_unref);
  g_clear_pointer(&served_paths, g_ptr_array_unref);
}

char *modules_padded_string(const CK_UTF8CHAR *p, gsize n)
{
  while (n > 0 && (p[n - 1] == ' ' || p[n - 1] == '\0'))
    n--;
  char *s = g_strndup((const char *)p, n);
  if (!g_utf8_validate(s, -1, NULL)) {
    char *fixed = g_utf8_make_valid(s, -1);
    g_free(s);
    s = fixed;
  }
  return s;
}

void module_slot_free(ModuleSlot *s)
{
  g_free(s->reader);
  g_free(s->label);
  g_free(s->serial);
  g_free(s);
}

GPtrArray *modules_scan(GPtrArray *failed)
{
  GPtrArray *seen = g_ptr_array_new_with_free_func((GDestroyNotify)module_slot_free);
  for (guint m = 0; served != NULL && m < served->len; m++) {
    CK_FUNCTION_LIST *module = served->pdata[m];
    CK_SLOT_ID slots[MAX_SLOTS];
    /* A NULL list first: OpenSC looks for new readers only then. */
    CK_ULONG n = 0;
    CK_RV rv = module->C_GetSlotList(CK_TRUE, NULL, &n);
    n = G_N_ELEMENTS(slots);
    if (rv == CKR_OK)
      rv = module->C_GetSlotList(CK_TRUE, slots, &n);
    if (rv != CKR_OK) {
      g_debug("module %s: cannot list its slots: %s", (char *)served_paths->pdata[m],
              ckr_name(rv));
      g_ptr_array_add(failed, module);
      continue;
    }
    for (CK_ULONG i = 0; i < n; i++) {
      CK_TOKEN_INFO info;
      if (module->C_GetTokenInfo(slots[i], &info) != CKR_OK ||
          !(info.flags & CKF_TOKEN_INITIALIZED))
        continue;
      ModuleSlot *s = g_new0(ModuleSlot, 1);
      s->module = module;
      s->module_path = served_paths->pdata[m];
      s->slot = slots[i];
      s->label = modules_padded_string(info.label, sizeof(info.label));
      s->serial = modules_padded_string(info.serialNumber, sizeof(info.serialNumber));
      CK_SLOT_INFO slot_info;
      s->reader = module->C_GetSlotInfo(slots[i], &slot_info) == CKR_OK
                      ? modules_padded_string(slot_info.slotDescription,
                                              sizeof(slot_info.slotDescription))
                      : g_strdup("");
      g_ptr_array_add(seen, s);
    }
  }
  return seen;
}
