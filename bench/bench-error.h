/* bench-sign — the GError domain shared by the benchmark's parts. */
#pragma once

#include <glib.h>

#define BENCH_ERROR (bench_error_quark())
GQuark bench_error_quark(void);
