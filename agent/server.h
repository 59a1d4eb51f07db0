/* tessera-agent — the listening socket: path, permissions, peer checks. */
#pragma once

#include <glib.h>

/* $XDG_RUNTIME_DIR/tessera/agent.sock; NULL with error when unset. */
char *server_default_socket_path(GError **error);
/* Creates the directory (0700) and the socket (0600); refuses when a live
 * agent answers there; removes a stale socket file. */
gboolean server_listen(const char *path, GError **error);
/* Starts accepting on the default main context. */
void server_start(void);
/* Stops accepting and removes the socket file. */
void server_stop(void);
