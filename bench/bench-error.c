/* bench-sign — the GError domain shared by the benchmark's parts. */
#include "bench-error.h"

G_DEFINE_QUARK(tessera-bench-error-quark, bench_error)
