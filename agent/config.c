/* tessera-agent — settings from the command line and agent.conf. */
#include "config.h"

#define GROUP "agent"

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
  g_auto(GStrv) modules = g_key_file_get_string_list(kf, GROUP, "modules", NULL, NULL);
  if (modules != NULL) {
    /* Config modules come after command-line ones. */
    g_autoptr(GStrvBuilder) all = g_strv_builder_new();
    if (cfg->modules)
      g_strv_builder_addv(all, (const char **)cfg->modules);
    g_strv_builder_addv(all, (const char **)modules);
    g_strfreev(cfg->modules);
    cfg->modules = g_strv_builder_end(all);
  }
  if (g_key_file_has_key(kf, GROUP, "p11-kit", NULL)) {
    gboolean v = g_key_file_get_boolean(kf, GROUP, "p11-kit", &local);
    if (local != NULL) {
      g_propagate_prefixed_error(error, g_steal_pointer(&local), "%s: ", path);
      return FALSE;
    }
    cfg->use_p11_kit = cfg->use_p11_kit && v;
  }
  return TRUE;
}

void config_clear(TesseraConfig *cfg)
{
  g_free(cfg->socket_path);
  g_strfreev(cfg->modules);
  cfg->socket_path = NULL;
  cfg->modules = NULL;
}
