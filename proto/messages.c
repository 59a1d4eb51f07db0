/* tessera — wire message codec. See PROTOCOL.md. */
#include "messages.h"

#include <string.h>

#define TRY(expr)                                                                                  \
  do {                                                                                             \
    int try_r_ = (expr);                                                                           \
    if (try_r_ < 0)                                                                                \
      return try_r_;                                                                               \
  } while (0)

tproto_bytes tproto_str(const char *s)
{
  tproto_bytes v = { (const uint8_t *)(s ? s : ""), s ? strlen(s) : 0 };
  return v;
}

tproto_bytes tproto_mem(const void *p, size_t n)
{
  tproto_bytes v = { p ? p : (const uint8_t *)"", p ? n : 0 };
  return v;
}

/* ---- framing ---- */

int tproto_frame_peek(const uint8_t *p, size_t avail, size_t *frame_len)
{
  if (avail < 4)
    return 0;
  uint32_t n = (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
  if (n > TPROTO_MAX_FRAME)
    return TPROTO_E_TOO_LARGE;
  if (n < TPROTO_HEADER_LEN - 4)
    return TPROTO_E_INVALID;
  if (avail - 4 < n)
    return 0;
  *frame_len = 4 + (size_t)n;
  return 1;
}

int tproto_frame_open(const uint8_t *frame, size_t len, tproto_header *h, tproto_buf *body)
{
  size_t flen;
  int r = tproto_frame_peek(frame, len, &flen);
  if (r < 0)
    return r;
  if (r == 0)
    return TPROTO_E_TRUNCATED;
  if (flen != len)
    return TPROTO_E_INVALID; /* bytes after the frame */
  tproto_buf_init_const(body, frame, len);
  body->off = 4;
  TRY(tproto_get_u8(body, &h->type));
  TRY(tproto_get_u32(body, &h->id));
  return TPROTO_OK;
}

/* Cuts b back to start, wiping the tail: a dropped frame may hold a PIN. */
static void drop_from(tproto_buf *b, size_t start)
{
  if (b->cap == 0 || start >= b->len)
    return;
  tproto_wipe(b->data + start, b->len - start);
  b->len = start;
}

int tproto_frame_begin(tproto_buf *b, uint8_t type, uint32_t id, size_t *start)
{
  /* One put, so a failure leaves no partial header behind. */
  uint8_t header[TPROTO_HEADER_LEN] = { 0, 0, 0, 0, type, (uint8_t)(id >> 24), (uint8_t)(id >> 16),
                                        (uint8_t)(id >> 8), (uint8_t)id };
  *start = b->len;
  return tproto_put(b, header, sizeof(header));
}

int tproto_frame_end(tproto_buf *b, size_t start)
{
  if (start > b->len || b->len - start < TPROTO_HEADER_LEN)
    return TPROTO_E_INVALID; /* not a frame started by tproto_frame_begin */
  size_t n = b->len - start - 4;
  if (n > TPROTO_MAX_FRAME) {
    drop_from(b, start); /* drop the oversized frame whole */
    return TPROTO_E_TOO_LARGE;
  }
  return tproto_poke_u32(b, start, (uint32_t)n);
}

/* Encoders apply the decoders' limits, so a frame that encodes is a frame
 * the peer accepts: failing here names the culprit, failing there would
 * only say PROTOCOL. */
static int put_text(tproto_buf *b, tproto_bytes v, size_t max)
{
  if (v.len > max)
    return TPROTO_E_TOO_LARGE;
  size_t at = b->len;
  TRY(tproto_put_view(b, v));
  /* Re-read the field with the decoder's own check (UTF-8, no NUL). */
  tproto_buf written;
  tproto_bytes unused;
  tproto_buf_init_const(&written, b->data + at, b->len - at);
  int r = tproto_get_text(&written, max, &unused);
  if (r < 0)
    drop_from(b, at);
  return r;
}

static int put_data(tproto_buf *b, tproto_bytes v, size_t max)
{
  if (v.len > max)
    return TPROTO_E_TOO_LARGE;
  return tproto_put_view(b, v);
}

/* Encoders share one shape: begin, fields, end; a failed field drops the
 * partial frame so the buffer never holds half a message. */
#define ENCODE(b, type, id, fields)                                                                \
  do {                                                                                             \
    size_t start_;                                                                                 \
    int r_ = tproto_frame_begin((b), (type), (id), &start_);                                       \
    if (r_ >= 0) {                                                                                 \
      r_ = (fields);                                                                               \
      if (r_ >= 0)                                                                                 \
        r_ = tproto_frame_end((b), start_);                                                        \
    }                                                                                              \
    if (r_ < 0)                                                                                    \
      drop_from((b), start_);                                                                      \
    return r_;                                                                                     \
  } while (0)

static int put_hello(tproto_buf *b, const tproto_hello *m)
{
  if (m->n_options > TPROTO_MAX_HELLO_OPTIONS)
    return TPROTO_E_TOO_LARGE;
  if (m->version_min > m->version_max)
    return TPROTO_E_INVALID;
  TRY(tproto_put_u32(b, m->version_min));
  TRY(tproto_put_u32(b, m->version_max));
  TRY(put_text(b, m->client_name, TPROTO_MAX_TEXT));
  TRY(tproto_put_u32(b, m->n_options));
  for (uint32_t i = 0; i < m->n_options; i++) {
    TRY(put_text(b, m->option_keys[i], TPROTO_MAX_TEXT));
    TRY(put_text(b, m->option_values[i], TPROTO_MAX_TEXT));
  }
  return TPROTO_OK;
}

int tproto_enc_hello(tproto_buf *b, uint32_t id, const tproto_hello *m)
{
  ENCODE(b, TPROTO_HELLO, id, put_hello(b, m));
}

int tproto_enc_empty(tproto_buf *b, uint8_t type, uint32_t id)
{
  ENCODE(b, type, id, TPROTO_OK);
}

int tproto_enc_list_keys(tproto_buf *b, uint32_t id, tproto_bytes token)
{
  ENCODE(b, TPROTO_LIST_KEYS, id, put_text(b, token, TPROTO_MAX_TEXT));
}

static int put_sign(tproto_buf *b, const tproto_sign *m)
{
  TRY(put_text(b, m->key, TPROTO_MAX_TEXT));
  TRY(tproto_put_u8(b, m->mech));
  TRY(tproto_put_u8(b, m->hash));
  TRY(tproto_put_u8(b, m->mgf_hash));
  TRY(tproto_put_u32(b, m->salt_len));
  return put_data(b, m->data, TPROTO_MAX_DATA);
}

int tproto_enc_sign(tproto_buf *b, uint32_t id, const tproto_sign *m)
{
  ENCODE(b, TPROTO_SIGN, id, put_sign(b, m));
}

static int put_decrypt(tproto_buf *b, const tproto_decrypt *m)
{
  TRY(put_text(b, m->key, TPROTO_MAX_TEXT));
  TRY(tproto_put_u8(b, m->mech));
  TRY(tproto_put_u8(b, m->hash));
  TRY(tproto_put_u8(b, m->mgf_hash));
  TRY(put_data(b, m->label, TPROTO_MAX_DATA));
  return put_data(b, m->data, TPROTO_MAX_DATA);
}

int tproto_enc_decrypt(tproto_buf *b, uint32_t id, const tproto_decrypt *m)
{
  ENCODE(b, TPROTO_DECRYPT, id, put_decrypt(b, m));
}

static int put_derive(tproto_buf *b, const tproto_derive *m)
{
  TRY(put_text(b, m->key, TPROTO_MAX_TEXT));
  TRY(tproto_put_u8(b, m->mech));
  return put_data(b, m->peer, TPROTO_MAX_DATA);
}

int tproto_enc_derive(tproto_buf *b, uint32_t id, const tproto_derive *m)
{
  ENCODE(b, TPROTO_DERIVE, id, put_derive(b, m));
}

static int put_login(tproto_buf *b, const tproto_login *m)
{
  TRY(put_text(b, m->token, TPROTO_MAX_TEXT));
  return put_data(b, m->pin, TPROTO_MAX_PIN);
}

int tproto_enc_login(tproto_buf *b, uint32_t id, const tproto_login *m)
{
  ENCODE(b, TPROTO_LOGIN, id, put_login(b, m));
}

int tproto_enc_logout(tproto_buf *b, uint32_t id, tproto_bytes token)
{
  ENCODE(b, TPROTO_LOGOUT, id, put_text(b, token, TPROTO_MAX_TEXT));
}

int tproto_enc_find_key(tproto_buf *b, uint32_t id, tproto_bytes key)
{
  ENCODE(b, TPROTO_FIND_KEY, id, put_text(b, key, TPROTO_MAX_TEXT));
}

static int put_error(tproto_buf *b, uint32_t code, const char *message)
{
  TRY(tproto_put_u32(b, code));
  /* Messages are advisory: shorten or drop them rather than fail. */
  tproto_bytes m = tproto_str(message);
  if (m.len > TPROTO_MAX_TEXT) {
    m.len = TPROTO_MAX_TEXT;
    while (m.len > 0 && (m.ptr[m.len] & 0xc0) == 0x80)
      m.len--; /* cut before the character that does not fit, not inside it */
  }
  int r = put_text(b, m, TPROTO_MAX_TEXT);
  return r == TPROTO_E_INVALID ? tproto_put_view(b, tproto_str("")) : r;
}

int tproto_enc_error(tproto_buf *b, uint32_t id, uint32_t code, const char *message)
{
  ENCODE(b, TPROTO_R_ERROR, id, put_error(b, code, message));
}

static int put_hello_reply(tproto_buf *b, const tproto_hello_reply *m)
{
  TRY(tproto_put_u32(b, m->version));
  TRY(put_text(b, m->agent_name, TPROTO_MAX_TEXT));
  TRY(tproto_put_u32(b, m->capabilities));
  return tproto_put_u32(b, m->max_frame);
}

int tproto_enc_hello_reply(tproto_buf *b, uint32_t id, const tproto_hello_reply *m)
{
  ENCODE(b, TPROTO_R_HELLO, id, put_hello_reply(b, m));
}

static int put_status(tproto_buf *b, const tproto_status *m)
{
  TRY(put_text(b, m->agent_version, TPROTO_MAX_TEXT));
  TRY(tproto_put_u32(b, m->pid));
  TRY(tproto_put_u64(b, m->uptime_s));
  TRY(tproto_put_u32(b, m->n_clients));
  TRY(tproto_put_u32(b, m->n_tokens));
  return tproto_put_u32(b, m->n_keys);
}

int tproto_enc_status(tproto_buf *b, uint32_t id, const tproto_status *m)
{
  ENCODE(b, TPROTO_R_STATUS, id, put_status(b, m));
}

static int put_token(tproto_buf *b, const tproto_token *t)
{
  TRY(put_text(b, t->id, TPROTO_MAX_TEXT));
  TRY(put_text(b, t->label, TPROTO_MAX_TEXT));
  TRY(put_text(b, t->manufacturer, TPROTO_MAX_TEXT));
  TRY(put_text(b, t->model, TPROTO_MAX_TEXT));
  TRY(put_text(b, t->serial, TPROTO_MAX_TEXT));
  TRY(put_text(b, t->module, TPROTO_MAX_TEXT));
  TRY(tproto_put_u32(b, t->flags));
  TRY(tproto_put_u32(b, t->n_keys));
  return tproto_put_u32(b, t->login_ends_s);
}

static int put_tokens(tproto_buf *b, const tproto_token *t, size_t n)
{
  if (n > UINT32_MAX)
    return TPROTO_E_TOO_LARGE;
  TRY(tproto_put_u32(b, (uint32_t)n));
  for (size_t i = 0; i < n; i++)
    TRY(put_token(b, &t[i]));
  return TPROTO_OK;
}

int tproto_enc_tokens(tproto_buf *b, uint32_t id, const tproto_token *t, size_t n)
{
  ENCODE(b, TPROTO_R_TOKENS, id, put_tokens(b, t, n));
}

static int put_key(tproto_buf *b, const tproto_key *k)
{
  TRY(put_text(b, k->id, TPROTO_MAX_TEXT));
  TRY(put_text(b, k->label, TPROTO_MAX_TEXT));
  TRY(put_text(b, k->token_id, TPROTO_MAX_TEXT));
  TRY(tproto_put_u8(b, k->key_type));
  TRY(tproto_put_u32(b, k->bits));
  TRY(tproto_put_u32(b, k->ops));
  TRY(tproto_put_u32(b, k->flags));
  TRY(put_data(b, k->cert, TPROTO_MAX_CERT));
  return put_data(b, k->spki, TPROTO_MAX_CERT);
}

static int put_keys(tproto_buf *b, const tproto_key *k, size_t n)
{
  if (n > UINT32_MAX)
    return TPROTO_E_TOO_LARGE;
  TRY(tproto_put_u32(b, (uint32_t)n));
  for (size_t i = 0; i < n; i++)
    TRY(put_key(b, &k[i]));
  return TPROTO_OK;
}

int tproto_enc_keys(tproto_buf *b, uint32_t id, const tproto_key *k, size_t n)
{
  ENCODE(b, TPROTO_R_KEYS, id, put_keys(b, k, n));
}

int tproto_enc_data(tproto_buf *b, uint32_t id, tproto_bytes data)
{
  ENCODE(b, TPROTO_R_DATA, id, put_data(b, data, TPROTO_MAX_DATA));
}

static int put_reader(tproto_buf *b, const tproto_reader *r)
{
  TRY(put_text(b, r->name, TPROTO_MAX_TEXT));
  TRY(tproto_put_u32(b, r->flags));
  return put_data(b, r->atr, TPROTO_MAX_ATR);
}

static int put_readers(tproto_buf *b, const tproto_reader *r, size_t n)
{
  if (n > UINT32_MAX)
    return TPROTO_E_TOO_LARGE;
  TRY(tproto_put_u32(b, (uint32_t)n));
  for (size_t i = 0; i < n; i++)
    TRY(put_reader(b, &r[i]));
  return TPROTO_OK;
}

int tproto_enc_readers(tproto_buf *b, uint32_t id, const tproto_reader *r, size_t n)
{
  ENCODE(b, TPROTO_R_READERS, id, put_readers(b, r, n));
}

static int put_event(tproto_buf *b, const tproto_event *e)
{
  TRY(tproto_put_u8(b, e->kind));
  TRY(put_text(b, e->reader, TPROTO_MAX_TEXT));
  TRY(put_text(b, e->token_id, TPROTO_MAX_TEXT));
  return put_text(b, e->key_id, TPROTO_MAX_TEXT);
}

int tproto_enc_event(tproto_buf *b, uint32_t id, const tproto_event *e)
{
  ENCODE(b, TPROTO_R_EVENT, id, put_event(b, e));
}

/* ---- decoders ---- */

int tproto_dec_end(tproto_buf *body)
{
  return tproto_buf_remaining(body) == 0 ? TPROTO_OK : TPROTO_E_INVALID;
}

int tproto_dec_hello(tproto_buf *body, tproto_hello *m)
{
  memset(m, 0, sizeof(*m));
  TRY(tproto_get_u32(body, &m->version_min));
  TRY(tproto_get_u32(body, &m->version_max));
  if (m->version_min > m->version_max)
    return TPROTO_E_INVALID;
  TRY(tproto_get_text(body, TPROTO_MAX_TEXT, &m->client_name));
  TRY(tproto_get_u32(body, &m->n_options));
  if (m->n_options > TPROTO_MAX_HELLO_OPTIONS)
    return TPROTO_E_TOO_LARGE;
  for (uint32_t i = 0; i < m->n_options; i++) {
    TRY(tproto_get_text(body, TPROTO_MAX_TEXT, &m->option_keys[i]));
    TRY(tproto_get_text(body, TPROTO_MAX_TEXT, &m->option_values[i]));
  }
  return tproto_dec_end(body);
}

int tproto_dec_empty(tproto_buf *body)
{
  return tproto_dec_end(body);
}

int tproto_dec_list_keys(tproto_buf *body, tproto_bytes *token)
{
  TRY(tproto_get_text(body, TPROTO_MAX_TEXT, token));
  return tproto_dec_end(body);
}

int tproto_dec_sign(tproto_buf *body, tproto_sign *m)
{
  memset(m, 0, sizeof(*m));
  TRY(tproto_get_text(body, TPROTO_MAX_TEXT, &m->key));
  TRY(tproto_get_u8(body, &m->mech));
  TRY(tproto_get_u8(body, &m->hash));
  TRY(tproto_get_u8(body, &m->mgf_hash));
  TRY(tproto_get_u32(body, &m->salt_len));
  TRY(tproto_get_bytes(body, TPROTO_MAX_DATA, &m->data));
  return tproto_dec_end(body);
}

int tproto_dec_decrypt(tproto_buf *body, tproto_decrypt *m)
{
  memset(m, 0, sizeof(*m));
  TRY(tproto_get_text(body, TPROTO_MAX_TEXT, &m->key));
  TRY(tproto_get_u8(body, &m->mech));
  TRY(tproto_get_u8(body, &m->hash));
  TRY(tproto_get_u8(body, &m->mgf_hash));
  TRY(tproto_get_bytes(body, TPROTO_MAX_DATA, &m->label));
  TRY(tproto_get_bytes(body, TPROTO_MAX_DATA, &m->data));
  return tproto_dec_end(body);
}

int tproto_dec_derive(tproto_buf *body, tproto_derive *m)
{
  memset(m, 0, sizeof(*m));
  TRY(tproto_get_text(body, TPROTO_MAX_TEXT, &m->key));
  TRY(tproto_get_u8(body, &m->mech));
  TRY(tproto_get_bytes(body, TPROTO_MAX_DATA, &m->peer));
  return tproto_dec_end(body);
}

int tproto_dec_login(tproto_buf *body, tproto_login *m)
{
  memset(m, 0, sizeof(*m));
  TRY(tproto_get_text(body, TPROTO_MAX_TEXT, &m->token));
  TRY(tproto_get_bytes(body, TPROTO_MAX_PIN, &m->pin));
  return tproto_dec_end(body);
}

int tproto_dec_logout(tproto_buf *body, tproto_bytes *token)
{
  return tproto_dec_list_keys(body, token);
}

int tproto_dec_find_key(tproto_buf *body, tproto_bytes *key)
{
  return tproto_dec_list_keys(body, key);
}

int tproto_dec_error(tproto_buf *body, tproto_error *m)
{
  memset(m, 0, sizeof(*m));
  TRY(tproto_get_u32(body, &m->code));
  TRY(tproto_get_text(body, TPROTO_MAX_TEXT, &m->message));
  return tproto_dec_end(body);
}

int tproto_dec_hello_reply(tproto_buf *body, tproto_hello_reply *m)
{
  memset(m, 0, sizeof(*m));
  TRY(tproto_get_u32(body, &m->version));
  TRY(tproto_get_text(body, TPROTO_MAX_TEXT, &m->agent_name));
  TRY(tproto_get_u32(body, &m->capabilities));
  TRY(tproto_get_u32(body, &m->max_frame));
  return tproto_dec_end(body);
}

int tproto_dec_status(tproto_buf *body, tproto_status *m)
{
  memset(m, 0, sizeof(*m));
  TRY(tproto_get_text(body, TPROTO_MAX_TEXT, &m->agent_version));
  TRY(tproto_get_u32(body, &m->pid));
  TRY(tproto_get_u64(body, &m->uptime_s));
  TRY(tproto_get_u32(body, &m->n_clients));
  TRY(tproto_get_u32(body, &m->n_tokens));
  TRY(tproto_get_u32(body, &m->n_keys));
  return tproto_dec_end(body);
}

int tproto_dec_list_count(tproto_buf *body, size_t min_entry, uint32_t *n)
{
  TRY(tproto_get_u32(body, n));
  /* A count the remaining bytes cannot hold is a lie: reject it before any
   * caller sizes an allocation by it. */
  if (min_entry == 0)
    min_entry = 1;
  if (*n > tproto_buf_remaining(body) / min_entry)
    return TPROTO_E_INVALID;
  return TPROTO_OK;
}

int tproto_dec_token(tproto_buf *body, tproto_token *t)
{
  memset(t, 0, sizeof(*t));
  TRY(tproto_get_text(body, TPROTO_MAX_TEXT, &t->id));
  TRY(tproto_get_text(body, TPROTO_MAX_TEXT, &t->label));
  TRY(tproto_get_text(body, TPROTO_MAX_TEXT, &t->manufacturer));
  TRY(tproto_get_text(body, TPROTO_MAX_TEXT, &t->model));
  TRY(tproto_get_text(body, TPROTO_MAX_TEXT, &t->serial));
  TRY(tproto_get_text(body, TPROTO_MAX_TEXT, &t->module));
  TRY(tproto_get_u32(body, &t->flags));
  TRY(tproto_get_u32(body, &t->n_keys));
  return tproto_get_u32(body, &t->login_ends_s);
}

int tproto_dec_reader(tproto_buf *body, tproto_reader *r)
{
  memset(r, 0, sizeof(*r));
  TRY(tproto_get_text(body, TPROTO_MAX_TEXT, &r->name));
  TRY(tproto_get_u32(body, &r->flags));
  return tproto_get_bytes(body, TPROTO_MAX_ATR, &r->atr);
}

int tproto_dec_event(tproto_buf *body, tproto_event *e)
{
  memset(e, 0, sizeof(*e));
  TRY(tproto_get_u8(body, &e->kind));
  TRY(tproto_get_text(body, TPROTO_MAX_TEXT, &e->reader));
  TRY(tproto_get_text(body, TPROTO_MAX_TEXT, &e->token_id));
  TRY(tproto_get_text(body, TPROTO_MAX_TEXT, &e->key_id));
  return tproto_dec_end(body);
}

int tproto_dec_key(tproto_buf *body, tproto_key *k)
{
  memset(k, 0, sizeof(*k));
  TRY(tproto_get_text(body, TPROTO_MAX_TEXT, &k->id));
  TRY(tproto_get_text(body, TPROTO_MAX_TEXT, &k->label));
  TRY(tproto_get_text(body, TPROTO_MAX_TEXT, &k->token_id));
  TRY(tproto_get_u8(body, &k->key_type));
  TRY(tproto_get_u32(body, &k->bits));
  TRY(tproto_get_u32(body, &k->ops));
  TRY(tproto_get_u32(body, &k->flags));
  TRY(tproto_get_bytes(body, TPROTO_MAX_CERT, &k->cert));
  return tproto_get_bytes(body, TPROTO_MAX_CERT, &k->spki);
}

int tproto_dec_data(tproto_buf *body, tproto_bytes *data)
{
  TRY(tproto_get_bytes(body, TPROTO_MAX_DATA, data));
  return tproto_dec_end(body);
}

/* ---- names ---- */

const char *tproto_type_name(uint8_t type)
{
  switch (type) {
  case TPROTO_HELLO: return "HELLO";
  case TPROTO_STATUS: return "STATUS";
  case TPROTO_LIST_TOKENS: return "LIST_TOKENS";
  case TPROTO_LIST_KEYS: return "LIST_KEYS";
  case TPROTO_SIGN: return "SIGN";
  case TPROTO_DECRYPT: return "DECRYPT";
  case TPROTO_DERIVE: return "DERIVE";
  case TPROTO_LOGIN: return "LOGIN";
  case TPROTO_LOGOUT: return "LOGOUT";
  case TPROTO_FIND_KEY: return "FIND_KEY";
  case TPROTO_SUBSCRIBE: return "SUBSCRIBE";
  case TPROTO_LIST_READERS: return "LIST_READERS";
  case TPROTO_R_READERS: return "READERS";
  case TPROTO_R_EVENT: return "EVENT";
  case TPROTO_R_ERROR: return "ERROR";
  case TPROTO_R_HELLO: return "HELLO_REPLY";
  case TPROTO_R_STATUS: return "STATUS_REPLY";
  case TPROTO_R_TOKENS: return "TOKENS";
  case TPROTO_R_KEYS: return "KEYS";
  case TPROTO_R_DATA: return "DATA";
  case TPROTO_R_OK: return "OK";
  default: return NULL;
  }
}

const char *tproto_error_name(uint32_t code)
{
  switch (code) {
  case TPROTO_ERR_PROTOCOL: return "PROTOCOL";
  case TPROTO_ERR_VERSION: return "VERSION";
  case TPROTO_ERR_UNKNOWN_REQUEST: return "UNKNOWN_REQUEST";
  case TPROTO_ERR_FRAME_TOO_LARGE: return "FRAME_TOO_LARGE";
  case TPROTO_ERR_HELLO_REQUIRED: return "HELLO_REQUIRED";
  case TPROTO_ERR_NO_SUCH_TOKEN: return "NO_SUCH_TOKEN";
  case TPROTO_ERR_NO_SUCH_KEY: return "NO_SUCH_KEY";
  case TPROTO_ERR_AMBIGUOUS: return "AMBIGUOUS";
  case TPROTO_ERR_NOT_LOGGED_IN: return "NOT_LOGGED_IN";
  case TPROTO_ERR_PIN_INCORRECT: return "PIN_INCORRECT";
  case TPROTO_ERR_PIN_LOCKED: return "PIN_LOCKED";
  case TPROTO_ERR_PIN_INVALID: return "PIN_INVALID";
  case TPROTO_ERR_KEY_USAGE: return "KEY_USAGE";
  case TPROTO_ERR_MECHANISM: return "MECHANISM";
  case TPROTO_ERR_BAD_INPUT: return "BAD_INPUT";
  case TPROTO_ERR_TOKEN_ERROR: return "TOKEN_ERROR";
  case TPROTO_ERR_TOKEN_ABSENT: return "TOKEN_ABSENT";
  case TPROTO_ERR_INTERNAL: return "INTERNAL";
  case TPROTO_ERR_PIN_CANCELLED: return "PIN_CANCELLED";
  case TPROTO_ERR_CARD_REMOVED: return "CARD_REMOVED";
  case TPROTO_ERR_BUSY: return "BUSY";
  case TPROTO_ERR_DECRYPT_FAILED: return "DECRYPT_FAILED";
  case TPROTO_ERR_ALREADY_LOGGED_IN: return "ALREADY_LOGGED_IN";
  case TPROTO_ERR_PIN_ENTRY_FAILED: return "PIN_ENTRY_FAILED";
  case TPROTO_ERR_DENIED: return "DENIED";
  default: return NULL;
  }
}

static const struct {
  uint8_t id;
  const char *name;
  size_t len;
} hashes[] = {
  { TPROTO_HASH_SHA1, "sha1", 20 },     { TPROTO_HASH_SHA224, "sha224", 28 },
  { TPROTO_HASH_SHA256, "sha256", 32 }, { TPROTO_HASH_SHA384, "sha384", 48 },
  { TPROTO_HASH_SHA512, "sha512", 64 },
};

const char *tproto_hash_name(uint8_t hash)
{
  for (size_t i = 0; i < sizeof(hashes) / sizeof(hashes[0]); i++)
    if (hashes[i].id == hash)
      return hashes[i].name;
  return NULL;
}

int tproto_hash_from_name(const char *name)
{
  if (name == NULL)
    return -1;
  for (size_t i = 0; i < sizeof(hashes) / sizeof(hashes[0]); i++)
    if (strcmp(hashes[i].name, name) == 0)
      return hashes[i].id;
  return -1;
}

size_t tproto_hash_len(uint8_t hash)
{
  for (size_t i = 0; i < sizeof(hashes) / sizeof(hashes[0]); i++)
    if (hashes[i].id == hash)
      return hashes[i].len;
  return 0;
}

const char *tproto_mech_name(uint8_t mech)
{
  switch (mech) {
  case TPROTO_MECH_RSA_PKCS: return "rsa-pkcs1";
  case TPROTO_MECH_RSA_PSS: return "rsa-pss";
  case TPROTO_MECH_ECDSA: return "ecdsa";
  case TPROTO_MECH_RSA_OAEP: return "rsa-oaep";
  case TPROTO_MECH_ECDH: return "ecdh";
  default: return NULL;
  }
}

const char *tproto_event_name(uint8_t kind)
{
  switch (kind) {
  case TPROTO_EVENT_READER_ADDED: return "reader-added";
  case TPROTO_EVENT_READER_REMOVED: return "reader-removed";
  case TPROTO_EVENT_CARD_INSERTED: return "card-inserted";
  case TPROTO_EVENT_CARD_REMOVED: return "card-removed";
  case TPROTO_EVENT_TOKEN_PRESENT: return "token-present";
  case TPROTO_EVENT_TOKEN_ABSENT: return "token-absent";
  case TPROTO_EVENT_LOGGED_IN: return "logged-in";
  case TPROTO_EVENT_LOGGED_OUT: return "logged-out";
  case TPROTO_EVENT_KEY_AVAILABLE: return "key-available";
  case TPROTO_EVENT_KEY_UNAVAILABLE: return "key-unavailable";
  default: return NULL;
  }
}
