/* tessera-agent — settings from the command line and agent.conf. */
#include "config.h"

#include <gio/gio.h>
#include <string.h>

#define GROUP "agent"

static const TesseraConfig *active;

void config_init(TesseraConfig *cfg)
{
  memset(cfg, 0, sizeof(*cfg));
  cfg->use_p11_kit = TRUE;
  cfg->max_prompts = CONFIG_DEFAULT_MAX_PROMPTS;
  cfg->policy.idle_timeout_s = CONFIG_DEFAULT_IDLE_TIMEOUT;
  cfg->policy.max_lifetime_s = CONFIG_DEFAULT_MAX_LIFETIME;
}

static gboolean fail_at(GError **error, const char *path, const char *group, const char *key,
                        const char *what)
{
  g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA, "%s: [%s] %s: %s", path, group, key,
              what);
  return FALSE;
}

/* A non-negative integer setting; absent leaves *out as it is. */
static gboolean read_uint(GKeyFile *kf, const char *path, const char *group, const char *key,
                          guint *out, GError **error)
{
  if (!g_key_file_has_key(kf, group, key, NULL))
    return TRUE;
  g_autoptr(GError) local = NULL;
  gint v = g_key_file_get_integer(kf, group, key, &local);
  if (local != NULL || v < 0)
    return fail_at(error, path, group, key, "expected a whole number of 0 or more");
  *out = (guint)v;
  return TRUE;
}

static gboolean read_bool(GKeyFile *kf, const char *path, const char *group, const char *key,
                          gboolean *out, GError **error)
{
  if (!g_key_file_has_key(kf, group, key, NULL))
    return TRUE;
  g_autoptr(GError) local = NULL;
  gboolean v = g_key_file_get_boolean(kf, group, key, &local);
  if (local != NULL)
    return fail_at(error, path, group, key, "expected true or false");
  *out = v;
  return TRUE;
}

/* always-authenticate = prompt | cache */
static gboolean read_always_auth(GKeyFile *kf, const char *path, const char *group,
                                 gboolean *cache, GError **error)
{
  g_autofree char *v = g_key_file_get_string(kf, group, "always-authenticate", NULL);
  if (v == NULL)
    return TRUE;
  g_strstrip(v);
  if (strcmp(v, "prompt") == 0)
    *cache = FALSE;
  else if (strcmp(v, "cache") == 0)
    *cache = TRUE;
  else
    return fail_at(error, path, group, "always-authenticate", "expected prompt or cache");
  return TRUE;
}

static gboolean read_policy(GKeyFile *kf, const char *path, const char *group,
                            TesseraLoginPolicy *p, GError **error)
{
  return read_uint(kf, path, group, "idle-timeout", &p->idle_timeout_s, error) &&
         read_uint(kf, path, group, "max-lifetime", &p->max_lifetime_s, error) &&
         read_always_auth(kf, path, group, &p->cache_always_auth, error);
}

/* Every [token ...] and [key ...] group must parse now: a typo found at
 * the first card insertion would be found too late. */
static gboolean check_groups(GKeyFile *kf, const char *path, const TesseraLoginPolicy *defaults,
                             GError **error)
{
  g_auto(GStrv) groups = g_key_file_get_groups(kf, NULL);
  for (char **g = groups; *g != NULL; g++) {
    if (strcmp(*g, GROUP) == 0)
      continue;
    if (g_str_has_prefix(*g, "token ")) {
      TesseraLoginPolicy p = *defaults;
      if (!read_policy(kf, path, *g, &p, error))
        return FALSE;
    } else if (g_str_has_prefix(*g, "key ")) {
      gboolean confirm = FALSE;
      if (!read_bool(kf, path, *g, "confirm", &confirm, error))
        return FALSE;
    } else {
      g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                  "%s: unknown group [%s]; expected [agent], [token NAME] or [key NAME]", path,
                  *g);
      return FALSE;
    }
  }
  return TRUE;
}

static void add_config_modules(TesseraConfig *cfg, GKeyFile *kf)
{
  g_auto(GStrv) modules = g_key_file_get_string_list(kf, GROUP, "modules", NULL, NULL);
  if (modules == NULL)
    return;
  /* Config modules come after command-line ones. */
  g_autoptr(GStrvBuilder) all = g_strv_builder_new();
  if (cfg->modules)
    g_strv_builder_addv(all, (const char **)cfg->modules);
  g_strv_builder_addv(all, (const char **)modules);
  g_strfreev(cfg->modules);
  cfg->modules = g_strv_builder_end(all);
}

gboolean config_load(TesseraConfig *cfg, const char *path, GError **error)
{
  g_autofree char *default_path = NULL;
  if (path == NULL)
    path = default_path = g_build_filename(g_get_user_config_dir(), "tessera", "agent.conf", NULL);
  g_autoptr(GKeyFile) kf = g_key_file_new();
  g_autoptr(GError) local = NULL;
  if (!g_key_file_load_from_file(kf, path, G_KEY_FILE_NONE, &local)) {
    if (default_path != NULL && g_error_matches(local, G_FILE_ERROR, G_FILE_ERROR_NOENT))
      return TRUE;
    g_propagate_prefixed_error(error, g_steal_pointer(&local), "%s: ", path);
    return FALSE;
  }
  if (cfg->socket_path == NULL)
    cfg->socket_path = g_key_file_get_string(kf, GROUP, "socket", NULL);
  if (cfg->pinentry_program == NULL)
    cfg->pinentry_program = g_key_file_get_string(kf, GROUP, "pinentry-program", NULL);
  add_config_modules(cfg, kf);
  gboolean p11_kit = TRUE;
  if (!read_bool(kf, path, GROUP, "p11-kit", &p11_kit, error) ||
      !read_uint(kf, path, GROUP, "max-prompts", &cfg->max_prompts, error) ||
      !read_uint(kf, path, GROUP, "pinentry-timeout", &cfg->pinentry_timeout_s, error) ||
      !read_policy(kf, path, GROUP, &cfg->policy, error) ||
      !check_groups(kf, path, &cfg->policy, error))
    return FALSE;
  cfg->use_p11_kit = cfg->use_p11_kit && p11_kit;
  if (cfg->max_prompts == 0)
    return fail_at(error, path, GROUP, "max-prompts", "must be at least 1");
  cfg->file = g_steal_pointer(&kf);
  return TRUE;
}

void config_clear(TesseraConfig *cfg)
{
  if (active == cfg)
    active = NULL;
  g_clear_pointer(&cfg->socket_path, g_free);
  g_clear_pointer(&cfg->modules, g_strfreev);
  g_clear_pointer(&cfg->pinentry_program, g_free);
  g_clear_pointer(&cfg->file, g_key_file_unref);
}

void config_set_active(const TesseraConfig *cfg)
{
  active = cfg;
}

const TesseraConfig *config_active(void)
{
  static TesseraConfig defaults;
  static gsize init;
  if (active != NULL)
    return active;
  /* Units used without main() (tests) get the documented defaults. */
  if (g_once_init_enter(&init)) {
    config_init(&defaults);
    g_once_init_leave(&init, 1);
  }
  return &defaults;
}

/* The first of the groups "PREFIX a", "PREFIX b" that exists. */
static char *find_group(GKeyFile *kf, const char *prefix, const char *a, const char *b)
{
  const char *names[] = { a, b };
  for (gsize i = 0; i < G_N_ELEMENTS(names); i++) {
    if (names[i] == NULL || *names[i] == '\0')
      continue;
    g_autofree char *group = g_strdup_printf("%s %s", prefix, names[i]);
    if (g_key_file_has_group(kf, group))
      return g_steal_pointer(&group);
  }
  return NULL;
}

TesseraLoginPolicy config_token_policy(const TesseraConfig *cfg, const char *label,
                                       const char *serial)
{
  TesseraLoginPolicy p = cfg->policy;
  g_autofree char *group = cfg->file ? find_group(cfg->file, "token", label, serial) : NULL;
  /* Checked at load: cannot fail here. */
  if (group != NULL)
    (void)read_policy(cfg->file, "agent.conf", group, &p, NULL);
  return p;
}

gboolean config_key_confirm(const TesseraConfig *cfg, const char *label, const char *id)
{
  gboolean confirm = FALSE;
  g_autofree char *group = cfg->file ? find_group(cfg->file, "key", label, id) : NULL;
  if (group != NULL)
    (void)read_bool(cfg->file, "agent.conf", group, "confirm", &confirm, NULL);
  return confirm;
}
