/* tessera — bounded byte buffer with checked reads (libc only).
 *
 * Every get_* returns 0 on success or a negative TPROTO_E* value and never
 * reads past the end; on failure the read offset is left unchanged, so a
 * caller can report the error without worrying about partial state.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

#define TPROTO_OK 0
#define TPROTO_E_TRUNCATED (-1)   /* fewer bytes than the field needs */
#define TPROTO_E_TOO_LARGE (-2)   /* a length exceeds an explicit limit */
#define TPROTO_E_NOMEM (-3)
#define TPROTO_E_INVALID (-4)     /* bytes present but not acceptable */

typedef struct {
  uint8_t *data;
  size_t len; /* bytes written */
  size_t off; /* read offset */
  size_t cap;
  size_t max; /* hard limit on len; 0 = one whole frame (TPROTO_MAX_FRAME + header) */
} tproto_buf;

/* A borrowed view into a buffer; valid while the buffer is unchanged. */
typedef struct {
  const uint8_t *ptr;
  size_t len;
} tproto_bytes;

void tproto_buf_init(tproto_buf *b);
/* Read-only view of existing bytes: no copy, never freed by buf. */
void tproto_buf_init_const(tproto_buf *b, const void *data, size_t len);
/* Frees and wipes (the buffer may have carried a PIN or plaintext). */
void tproto_buf_free(tproto_buf *b);
void tproto_buf_reset(tproto_buf *b);
size_t tproto_buf_remaining(const tproto_buf *b);
const uint8_t *tproto_buf_read_ptr(const tproto_buf *b);
/* Drops already-read bytes from the front (for stream reassembly). */
void tproto_buf_consume(tproto_buf *b, size_t n);

int tproto_put(tproto_buf *b, const void *p, size_t n);
int tproto_put_u8(tproto_buf *b, uint8_t v);
int tproto_put_u32(tproto_buf *b, uint32_t v);
int tproto_put_u64(tproto_buf *b, uint64_t v);
int tproto_put_bytes(tproto_buf *b, const void *p, size_t n); /* u32 length + bytes */
int tproto_put_text(tproto_buf *b, const char *s);            /* NULL = "" */
int tproto_put_view(tproto_buf *b, tproto_bytes v);
/* Writes a u32 at absolute offset (length back-patching). */
int tproto_poke_u32(tproto_buf *b, size_t at, uint32_t v);

int tproto_get_u8(tproto_buf *b, uint8_t *v);
int tproto_get_u32(tproto_buf *b, uint32_t *v);
int tproto_get_u64(tproto_buf *b, uint64_t *v);
/* u32 length + bytes, at most max bytes; view points into b. */
int tproto_get_bytes(tproto_buf *b, size_t max, tproto_bytes *out);
/* Like get_bytes but rejects embedded NUL bytes and invalid UTF-8. */
int tproto_get_text(tproto_buf *b, size_t max, tproto_bytes *out);
/* 1 when p holds strict UTF-8 without NUL (no overlongs, surrogates or
 * code points past U+10FFFF): what a text field may carry. */
int tproto_text_valid(const void *p, size_t n);

/* Copies a view into a fresh NUL-terminated heap string (NULL on OOM). */
char *tproto_bytes_strdup(tproto_bytes v);
/* Copies a view into fresh heap memory; *out NULL when v is empty. */
int tproto_bytes_dup(tproto_bytes v, uint8_t **out, size_t *out_len);
int tproto_bytes_eq_str(tproto_bytes v, const char *s);

/* Wipes memory in a way the compiler may not elide. */
void tproto_wipe(void *p, size_t n);
