/* smime.conf's [directory] group: where `tessera smime` finds recipients'
 * certificates, set by the admin ($XDG_CONFIG_DIRS, e.g. /etc/xdg) and the
 * user ($XDG_CONFIG_HOME). A file only replaces the keys it names. */
#include "directory.h"

#include <stdlib.h>
#include <string.h>

#define GROUP "directory"
#define MAX_TIMEOUT_S 300

void smime_directory_settings_clear(SmimeDirectorySettings *s)
{
  g_clear_pointer(&s->store_dir, g_free);
  g_clear_pointer(&s->ldap_uri, g_free);
  g_clear_pointer(&s->ldap_base, g_free);
  g_clear_pointer(&s->ldap_filter, g_free);
  s->ldap_timeout_s = 0;
}

static gboolean config_error(GError **error, const char *path, const char *fmt, ...)
    G_GNUC_PRINTF(3, 4);
static gboolean config_error(GError **error, const char *path, const char *fmt, ...)
{
  va_list ap;
  va_start(ap, fmt);
  g_autofree char *msg = g_strdup_vprintf(fmt, ap);
  va_end(ap);
  g_set_error(error, SMIME_DIRECTORY_ERROR, SMIME_DIRECTORY_ERROR_CONFIG, "%s: %s", path, msg);
  return FALSE;
}

/* "~/x" is the user's x, as in the other tessera configuration files. */
static char *expand_home(const char *value)
{
  if (g_str_has_prefix(value, "~/"))
    return g_build_filename(g_get_home_dir(), value + 2, NULL);
  return g_strdup(value);
}

static gboolean read_string(GKeyFile *kf, const char *path, const char *key, char **field,
                            GError **error)
{
  if (!g_key_file_has_key(kf, GROUP, key, NULL))
    return TRUE;
  g_autoptr(GError) local = NULL;
  g_autofree char *value = g_key_file_get_string(kf, GROUP, key, &local);
  if (value == NULL)
    return config_error(error, path, "%s: %s", key, local->message);
  g_strstrip(value);
  if (*value == '\0')
    return config_error(error, path, "%s is empty", key);
  g_free(*field);
  *field = expand_home(value);
  return TRUE;
}

gboolean smime_directory_settings_read(SmimeDirectorySettings *s, const char *path,
                                       GError **error)
{
  g_autoptr(GKeyFile) kf = g_key_file_new();
  g_autoptr(GError) local = NULL;
  if (!g_key_file_load_from_file(kf, path, G_KEY_FILE_NONE, &local)) {
    if (g_error_matches(local, G_FILE_ERROR, G_FILE_ERROR_NOENT))
      return TRUE;
    return config_error(error, path, "%s", local->message);
  }
  static const char *const keys[] = { "store", "ldap-uri", "ldap-base", "ldap-filter",
                                      "ldap-timeout", NULL };
  g_auto(GStrv) groups = g_key_file_get_groups(kf, NULL);
  for (char **g = groups; *g; g++) {
    if (strcmp(*g, GROUP) != 0)
      return config_error(error, path, "unknown group [%s] (known: [" GROUP "])", *g);
    g_auto(GStrv) names = g_key_file_get_keys(kf, GROUP, NULL, NULL);
    for (char **k = names; k && *k; k++)
      if (!g_strv_contains(keys, *k))
        return config_error(error, path,
                            "unknown key '%s' in [" GROUP "] (known: store, ldap-uri, "
                            "ldap-base, ldap-filter, ldap-timeout)",
                            *k);
  }
  if (!read_string(kf, path, "store", &s->store_dir, error) ||
      !read_string(kf, path, "ldap-uri", &s->ldap_uri, error) ||
      !read_string(kf, path, "ldap-base", &s->ldap_base, error) ||
      !read_string(kf, path, "ldap-filter", &s->ldap_filter, error))
    return FALSE;
  if (g_key_file_has_key(kf, GROUP, "ldap-timeout", NULL)) {
    g_autofree char *value = g_key_file_get_string(kf, GROUP, "ldap-timeout", NULL);
    char *end = NULL;
    long t = value ? strtol(value, &end, 10) : 0;
    if (value == NULL || end == value || *end != '\0' || t < 1 || t > MAX_TIMEOUT_S)
      return config_error(error, path, "ldap-timeout must be a number of seconds, 1 to %d",
                          MAX_TIMEOUT_S);
    s->ldap_timeout_s = (guint)t;
  }
  return TRUE;
}

gboolean smime_directory_settings_load(SmimeDirectorySettings *s, GError **error)
{
  /* The least important system directory first: later files win. */
  const char *const *system = g_get_system_config_dirs();
  guint n = g_strv_length((char **)system);
  for (guint i = n; i > 0; i--) {
    g_autofree char *path = g_build_filename(system[i - 1], "tessera", "smime.conf", NULL);
    if (!smime_directory_settings_read(s, path, error))
      return FALSE;
  }
  g_autofree char *user = g_build_filename(g_get_user_config_dir(), "tessera", "smime.conf",
                                           NULL);
  return smime_directory_settings_read(s, user, error);
}
