/* tessera-agent — settings from the command line and agent.conf. */
#pragma once

#include <glib.h>

typedef struct {
  char *socket_path;
  char **modules;
  gboolean use_p11_kit;
  gboolean foreground;
  gboolean debug;
} TesseraConfig;

/* Reads path (or $XDG_CONFIG_HOME/tessera/agent.conf when NULL; a missing
 * default file is fine) into cfg; command-line values set earlier win. */
gboolean config_load(TesseraConfig *cfg, const char *path, GError **error);
void config_clear(TesseraConfig *cfg);
