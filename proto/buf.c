/* tessera — bounded byte buffer with checked reads. */
#include "buf.h"
#include "messages.h"

#include <stdlib.h>
#include <string.h>

void tproto_wipe(void *p, size_t n)
{
  if (p == NULL || n == 0)
    return;
  volatile uint8_t *v = p;
  while (n--)
    *v++ = 0;
}

void tproto_buf_init(tproto_buf *b)
{
  memset(b, 0, sizeof(*b));
}

void tproto_buf_init_const(tproto_buf *b, const void *data, size_t len)
{
  memset(b, 0, sizeof(*b));
  /* Read paths never write through data; cap 0 marks it as borrowed. */
  b->data = (uint8_t *)(uintptr_t)data;
  b->len = len;
}

void tproto_buf_free(tproto_buf *b)
{
  if (b->cap > 0) {
    tproto_wipe(b->data, b->cap);
    free(b->data);
  }
  memset(b, 0, sizeof(*b));
}

void tproto_buf_reset(tproto_buf *b)
{
  if (b->cap > 0)
    tproto_wipe(b->data, b->len);
  b->len = 0;
  b->off = 0;
}

size_t tproto_buf_remaining(const tproto_buf *b)
{
  return b->len - b->off;
}

const uint8_t *tproto_buf_read_ptr(const tproto_buf *b)
{
  /* A fresh buffer has no storage; NULL + 0 is undefined in C. */
  return b->data ? b->data + b->off : (const uint8_t *)"";
}

void tproto_buf_consume(tproto_buf *b, size_t n)
{
  if (n > tproto_buf_remaining(b))
    n = tproto_buf_remaining(b);
  b->off += n;
  if (b->cap == 0)
    return;
  size_t rest = b->len - b->off;
  memmove(b->data, b->data + b->off, rest);
  tproto_wipe(b->data + rest, b->off);
  b->len = rest;
  b->off = 0;
}

static int reserve(tproto_buf *b, size_t n)
{
  size_t max = b->max ? b->max : TPROTO_MAX_FRAME + TPROTO_HEADER_LEN;
  if (b->cap == 0 && b->data != NULL)
    return TPROTO_E_INVALID; /* borrowed, read-only */
  if (n > max || b->len > max - n)
    return TPROTO_E_TOO_LARGE;
  size_t need = b->len + n;
  if (need <= b->cap)
    return TPROTO_OK;
  size_t cap = b->cap ? b->cap : 256;
  while (cap < need)
    cap = cap > SIZE_MAX / 2 ? need : cap * 2; /* a caller-set max may be huge */
  /* Grow by copy, not realloc, so old contents can be wiped. */
  uint8_t *p = malloc(cap);
  if (p == NULL)
    return TPROTO_E_NOMEM;
  if (b->len)
    memcpy(p, b->data, b->len);
  if (b->cap) {
    tproto_wipe(b->data, b->cap);
    free(b->data);
  }
  b->data = p;
  b->cap = cap;
  return TPROTO_OK;
}

int tproto_put(tproto_buf *b, const void *p, size_t n)
{
  int r = reserve(b, n);
  if (r < 0)
    return r;
  if (n)
    memcpy(b->data + b->len, p, n);
  b->len += n;
  return TPROTO_OK;
}

int tproto_put_u8(tproto_buf *b, uint8_t v)
{
  return tproto_put(b, &v, 1);
}

int tproto_put_u32(tproto_buf *b, uint32_t v)
{
  uint8_t be[4] = { (uint8_t)(v >> 24), (uint8_t)(v >> 16), (uint8_t)(v >> 8), (uint8_t)v };
  return tproto_put(b, be, sizeof(be));
}

int tproto_put_u64(tproto_buf *b, uint64_t v)
{
  /* One put, so a failure cannot leave half the value behind. */
  uint8_t be[8];
  for (int i = 0; i < 8; i++)
    be[i] = (uint8_t)(v >> (56 - 8 * i));
  return tproto_put(b, be, sizeof(be));
}

int tproto_put_bytes(tproto_buf *b, const void *p, size_t n)
{
  if (n > UINT32_MAX || n > SIZE_MAX - 4) /* the second matters where size_t is 32 bits */
    return TPROTO_E_TOO_LARGE;
  int r = reserve(b, 4 + n);
  if (r < 0)
    return r;
  (void)tproto_put_u32(b, (uint32_t)n);
  return tproto_put(b, p, n);
}

int tproto_put_text(tproto_buf *b, const char *s)
{
  return tproto_put_bytes(b, s ? s : "", s ? strlen(s) : 0);
}

int tproto_put_view(tproto_buf *b, tproto_bytes v)
{
  return tproto_put_bytes(b, v.ptr, v.len);
}

int tproto_poke_u32(tproto_buf *b, size_t at, uint32_t v)
{
  if (b->cap == 0 || at > b->len || b->len - at < 4)
    return TPROTO_E_INVALID;
  b->data[at] = (uint8_t)(v >> 24);
  b->data[at + 1] = (uint8_t)(v >> 16);
  b->data[at + 2] = (uint8_t)(v >> 8);
  b->data[at + 3] = (uint8_t)v;
  return TPROTO_OK;
}

int tproto_get_u8(tproto_buf *b, uint8_t *v)
{
  if (tproto_buf_remaining(b) < 1)
    return TPROTO_E_TRUNCATED;
  *v = b->data[b->off++];
  return TPROTO_OK;
}

static uint32_t load_u32(const uint8_t *p)
{
  return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

int tproto_get_u32(tproto_buf *b, uint32_t *v)
{
  if (tproto_buf_remaining(b) < 4)
    return TPROTO_E_TRUNCATED;
  *v = load_u32(b->data + b->off);
  b->off += 4;
  return TPROTO_OK;
}

int tproto_get_u64(tproto_buf *b, uint64_t *v)
{
  if (tproto_buf_remaining(b) < 8)
    return TPROTO_E_TRUNCATED;
  *v = (uint64_t)load_u32(b->data + b->off) << 32 | load_u32(b->data + b->off + 4);
  b->off += 8;
  return TPROTO_OK;
}

int tproto_get_bytes(tproto_buf *b, size_t max, tproto_bytes *out)
{
  if (tproto_buf_remaining(b) < 4)
    return TPROTO_E_TRUNCATED;
  uint32_t n = load_u32(b->data + b->off);
  if (n > max)
    return TPROTO_E_TOO_LARGE;
  if (tproto_buf_remaining(b) - 4 < n)
    return TPROTO_E_TRUNCATED;
  out->ptr = n ? b->data + b->off + 4 : (const uint8_t *)"";
  out->len = n;
  b->off += 4 + (size_t)n;
  return TPROTO_OK;
}

int tproto_text_valid(const void *p, size_t n)
{
  const uint8_t *s = p;
  size_t i = 0;
  while (i < n) {
    uint8_t c = s[i];
    if (c == 0)
      return 0;
    if (c < 0x80) {
      i++;
      continue;
    }
    size_t extra;
    uint32_t cp, min;
    if ((c & 0xe0) == 0xc0) {
      extra = 1, cp = c & 0x1f, min = 0x80;
    } else if ((c & 0xf0) == 0xe0) {
      extra = 2, cp = c & 0x0f, min = 0x800;
    } else if ((c & 0xf8) == 0xf0) {
      extra = 3, cp = c & 0x07, min = 0x10000;
    } else {
      return 0;
    }
    if (n - i <= extra)
      return 0;
    for (size_t k = 1; k <= extra; k++) {
      if ((s[i + k] & 0xc0) != 0x80)
        return 0;
      cp = cp << 6 | (s[i + k] & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
      return 0;
    i += extra + 1;
  }
  return 1;
}

int tproto_get_text(tproto_buf *b, size_t max, tproto_bytes *out)
{
  size_t off = b->off;
  tproto_bytes v;
  int r = tproto_get_bytes(b, max, &v);
  if (r < 0)
    return r;
  if (!tproto_text_valid(v.ptr, v.len)) {
    b->off = off;
    return TPROTO_E_INVALID;
  }
  *out = v;
  return TPROTO_OK;
}

char *tproto_bytes_strdup(tproto_bytes v)
{
  if (v.len == SIZE_MAX)
    return NULL;
  char *s = malloc(v.len + 1);
  if (s == NULL)
    return NULL;
  if (v.len)
    memcpy(s, v.ptr, v.len);
  s[v.len] = '\0';
  return s;
}

int tproto_bytes_dup(tproto_bytes v, uint8_t **out, size_t *out_len)
{
  *out = NULL;
  *out_len = 0;
  if (v.len == 0)
    return TPROTO_OK;
  *out = malloc(v.len);
  if (*out == NULL)
    return TPROTO_E_NOMEM;
  memcpy(*out, v.ptr, v.len);
  *out_len = v.len;
  return TPROTO_OK;
}

int tproto_bytes_eq_str(tproto_bytes v, const char *s)
{
  size_t n = strlen(s);
  return v.len == n && (n == 0 || memcmp(v.ptr, s, n) == 0);
}
