/* bench-sign — the round-trip floor of this machine. */
#pragma once

#include <glib.h>

/* Microseconds per one-byte round trip between two processes. */
gboolean bench_socket_floor(guint n, double *us_per_round_trip, GError **error);
