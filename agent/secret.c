/* tessera-agent — memory for PINs: locked, kept out of core dumps, wiped. */
#include "secret.h"

#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

/* The header lives in the mapping too, so one munmap frees all. */
typedef struct {
  TesseraSecret pub;
  size_t map_len;
  gboolean locked;
} SecretMapping;

static size_t page_size(void)
{
  long n = sysconf(_SC_PAGESIZE);
  return n > 0 ? (size_t)n : 4096;
}

TesseraSecret *tessera_secret_new(size_t cap)
{
  size_t page = page_size();
  size_t need = sizeof(SecretMapping) + cap + 1;
  size_t map_len = (need + page - 1) / page * page;
  void *p = mmap(NULL, map_len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED)
    return NULL;
  SecretMapping *m = p;
  (void)madvise(p, map_len, MADV_DONTDUMP);
  m->locked = mlock(p, map_len) == 0;
  if (!m->locked) {
    static gsize warned;
    if (g_once_init_enter(&warned)) {
      g_warning("cannot lock memory for PINs (RLIMIT_MEMLOCK?): they might be swapped out");
      g_once_init_leave(&warned, 1);
    }
  }
  m->map_len = map_len;
  m->pub.data = (uint8_t *)(m + 1);
  m->pub.len = 0;
  m->pub.cap = cap;
  return &m->pub;
}

TesseraSecret *tessera_secret_new_from(const void *p, size_t n)
{
  TesseraSecret *s = tessera_secret_new(n);
  if (s != NULL && n > 0)
    (void)tessera_secret_append(s, p, n);
  return s;
}

gboolean tessera_secret_append(TesseraSecret *s, const void *p, size_t n)
{
  if (n > s->cap - s->len)
    return FALSE;
  memcpy(s->data + s->len, p, n);
  s->len += n;
  s->data[s->len] = '\0';
  return TRUE;
}

gboolean tessera_secret_equal(const TesseraSecret *a, const TesseraSecret *b)
{
  if (a->len != b->len)
    return FALSE;
  /* Constant time: no early exit on the first difference. */
  uint8_t diff = 0;
  for (size_t i = 0; i < a->len; i++)
    diff |= a->data[i] ^ b->data[i];
  return diff == 0;
}

gboolean tessera_secret_is_locked(const TesseraSecret *s)
{
  return ((const SecretMapping *)(const void *)s)->locked;
}

void tessera_secret_free(TesseraSecret *s)
{
  if (s == NULL)
    return;
  SecretMapping *m = (SecretMapping *)(void *)s;
  size_t map_len = m->map_len;
  gboolean locked = m->locked;
  explicit_bzero(m, map_len);
  if (locked)
    (void)munlock(m, map_len);
  munmap(m, map_len);
}
