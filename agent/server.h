/* tessera-agent — the listening socket: path, permissions, peer checks. */
#pragma once

#include <glib.h>

/* $XDG_RUNTIME_DIR/tessera/agent.sock; NULL with error when unset. */
char *server_default_socket_path(GError **error);
/* Creates the directory (0700) and the socket (0600); refuses when a live
 * agent answers there; removes a stale socket file. Socket-activated by
 * systemd, it takes the passed socket instead (which must be bound to
 * path). Call before any thread starts. */
gboolean server_listen(const char *path, GError **error);
/* Whether the socket came from systemd (then it is not removed at exit,
 * and the agent does not fork into the background). */
gboolean server_socket_activated(void);
/* Starts accepting on the default main context. */
void server_start(void);
/* Stops accepting and removes the socket file. */
void server_stop(void);
