/* tessera-agent — memory for PINs: locked, kept out of core dumps, wiped.
 *
 * A secret is a fixed-capacity byte buffer in pages of its own that are
 * mlock()ed (never swapped) and marked MADV_DONTDUMP. Freeing wipes the
 * whole capacity with explicit_bzero before the pages are unmapped.
 */
#pragma once

#include <glib.h>
#include <stddef.h>
#include <stdint.h>

typedef struct {
  uint8_t *data; /* len bytes used, always NUL-terminated within cap */
  size_t len;
  size_t cap; /* usable bytes, the terminating NUL not counted */
} TesseraSecret;

/* An empty secret holding up to cap bytes; NULL only if mmap fails. When
 * the pages cannot be locked (RLIMIT_MEMLOCK) the agent warns once and
 * goes on: refusing every PIN would lock the user out. */
TesseraSecret *tessera_secret_new(size_t cap);
TesseraSecret *tessera_secret_new_from(const void *p, size_t n);
/* FALSE (and nothing appended) when it would exceed the capacity. */
gboolean tessera_secret_append(TesseraSecret *s, const void *p, size_t n);
gboolean tessera_secret_equal(const TesseraSecret *a, const TesseraSecret *b);
void tessera_secret_free(TesseraSecret *s);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(TesseraSecret, tessera_secret_free)

/* Whether the last tessera_secret_new() got locked pages (for tests). */
gboolean tessera_secret_is_locked(const TesseraSecret *s);
