/* tessera-agent — settings from the command line and agent.conf.
 *
 * agent.conf is a GLib key file:
 *   [agent]          socket, modules, p11-kit, pinentry-program, max-prompts,
 *                    pinentry-timeout, idle-timeout, max-lifetime,
 *                    always-authenticate
 *   [token NAME]     idle-timeout, max-lifetime, always-authenticate for the
 *                    token whose label or serial is NAME
 *   [key NAME]       confirm = true: ask before each use of the key whose
 *                    label or id is NAME
 * The configuration is read once at start and immutable afterwards, so any
 * thread may read it through config_active().
 */
#pragma once

#include <glib.h>

/* How long a token login lasts, and what PIN-for-every-use keys do. */
typedef struct {
  guint idle_timeout_s; /* since the last use; 0 = no idle limit */
  guint max_lifetime_s; /* since the login; 0 = no limit */
  gboolean cache_always_auth; /* reuse the login PIN for CKA_ALWAYS_AUTHENTICATE keys */
} TesseraLoginPolicy;

typedef struct {
  char *socket_path;
  char **modules;
  gboolean use_p11_kit;
  gboolean foreground;
  gboolean debug;
  char *pinentry_program; /* NULL = "pinentry" from PATH */
  guint max_prompts;      /* PIN dialogs per request */
  guint pinentry_timeout_s; /* 0 = a dialog waits for the user forever */
  TesseraLoginPolicy policy; /* defaults for every token */
  GKeyFile *file; /* the [token ...] and [key ...] groups; NULL without a file */
} TesseraConfig;

#define CONFIG_DEFAULT_MAX_PROMPTS 3
#define CONFIG_DEFAULT_IDLE_TIMEOUT 600
#define CONFIG_DEFAULT_MAX_LIFETIME 7200

/* Sets the defaults; call before parsing the command line. */
void config_init(TesseraConfig *cfg);
/* Reads path (or $XDG_CONFIG_HOME/tessera/agent.conf when NULL; a missing
 * default file is fine) into cfg; command-line values set earlier win. A
 * value of the wrong type is an error naming the file, group and key. */
gboolean config_load(TesseraConfig *cfg, const char *path, GError **error);
void config_clear(TesseraConfig *cfg);

/* The configuration the agent runs with (set once in main). */
void config_set_active(const TesseraConfig *cfg);
const TesseraConfig *config_active(void);

/* The policy for a token: [token LABEL] or [token SERIAL] over [agent]. */
TesseraLoginPolicy config_token_policy(const TesseraConfig *cfg, const char *label,
                                       const char *serial);
/* Whether [key LABEL] or [key ID] asks for confirmation before each use. */
gboolean config_key_confirm(const TesseraConfig *cfg, const char *label, const char *id);
