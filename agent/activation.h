/* tessera-agent — takes over the listening socket that systemd passes
 * (socket activation, sd_listen_fds(3) protocol), without libsystemd. */
#pragma once

#include <glib.h>

/* The listening socket systemd passed to this process: fd 3 when
 * LISTEN_PID is our pid and LISTEN_FDS is 1, checked to be a listening
 * AF_UNIX SOCK_STREAM socket, and bound to expected_path unless that is
 * NULL. The fd is made close-on-exec and non-blocking (the accept loop
 * drains it until EAGAIN). LISTEN_PID, LISTEN_FDS and LISTEN_FDNAMES are
 * removed from the environment in every case, so that children (pinentry)
 * never take them for their own; call it before any thread starts.
 *
 * Returns -1 without an error when the agent was not socket-activated
 * (no LISTEN_PID, or one of another process), and -1 with an error that
 * says what is wrong when systemd passed something unusable. */
int activation_listen_fd(const char *expected_path, GError **error);
