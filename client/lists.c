/* libtessera-client — LIST_TOKENS, LIST_KEYS and LIST_READERS: decoding into owned
 * copies. */
#include "client-private.h"

#include <stdlib.h>
#include <string.h>

/* Copies a text view; *ok drops to 0 on allocation failure. */
static char *dup_text(tproto_bytes v, int *ok)
{
  char *s = tproto_bytes_strdup(v);
  if (s == NULL)
    *ok = 0;
  return s;
}

static int copy_token(const tproto_token *w, tessera_token *t)
{
  int ok = 1;
  t->id = dup_text(w->id, &ok);
  t->label = dup_text(w->label, &ok);
  t->manufacturer = dup_text(w->manufacturer, &ok);
  t->model = dup_text(w->model, &ok);
  t->serial = dup_text(w->serial, &ok);
  t->module = dup_text(w->module, &ok);
  t->flags = w->flags;
  t->n_keys = w->n_keys;
  t->login_ends_s = w->login_ends_s;
  return ok ? TPROTO_OK : TPROTO_E_NOMEM;
}

static int copy_key(const tproto_key *w, tessera_key *k)
{
  int ok = 1;
  k->id = dup_text(w->id, &ok);
  k->label = dup_text(w->label, &ok);
  k->token_id = dup_text(w->token_id, &ok);
  k->key_type = w->key_type;
  k->bits = w->bits;
  k->ops = w->ops;
  k->flags = w->flags;
  if (tproto_bytes_dup(w->cert, &k->cert, &k->cert_len) < 0)
    ok = 0;
  if (tproto_bytes_dup(w->spki, &k->spki, &k->spki_len) < 0)
    ok = 0;
  return ok ? TPROTO_OK : TPROTO_E_NOMEM;
}

void tessera_tokens_free(tessera_token *t, size_t n)
{
  if (t == NULL)
    return;
  for (size_t i = 0; i < n; i++) {
    free(t[i].id);
    free(t[i].label);
    free(t[i].manufacturer);
    free(t[i].model);
    free(t[i].serial);
    free(t[i].module);
  }
  free(t);
}

void tessera_keys_free(tessera_key *k, size_t n)
{
  if (k == NULL)
    return;
  for (size_t i = 0; i < n; i++) {
    free(k[i].id);
    free(k[i].label);
    free(k[i].token_id);
    free(k[i].cert);
    free(k[i].spki);
  }
  free(k);
}

void tessera_readers_free(tessera_reader *r, size_t n)
{
  if (r == NULL)
    return;
  for (size_t i = 0; i < n; i++) {
    free(r[i].name);
    free(r[i].atr);
  }
  free(r);
}

static int copy_reader(const tproto_reader *w, tessera_reader *r)
{
  int ok = 1;
  r->name = dup_text(w->name, &ok);
  r->flags = w->flags;
  if (tproto_bytes_dup(w->atr, &r->atr, &r->atr_len) < 0)
    ok = 0;
  return ok ? TPROTO_OK : TPROTO_E_NOMEM;
}

/* R_TOKENS, R_KEYS and R_READERS share one shape: a count, then entries. */
typedef struct {
  size_t min_entry; /* smallest wire size of one entry */
  size_t entry_size;
  int (*decode_entry)(tproto_buf *body, void *entry); /* decodes and copies */
  void (*free_list)(void *items, size_t n);
} list_kind;

static int decode_token_entry(tproto_buf *body, void *entry)
{
  tproto_token w;
  int r = tproto_dec_token(body, &w);
  return r < 0 ? r : copy_token(&w, entry);
}

static int decode_key_entry(tproto_buf *body, void *entry)
{
  tproto_key w;
  int r = tproto_dec_key(body, &w);
  return r < 0 ? r : copy_key(&w, entry);
}

static int decode_reader_entry(tproto_buf *body, void *entry)
{
  tproto_reader w;
  int r = tproto_dec_reader(body, &w);
  return r < 0 ? r : copy_reader(&w, entry);
}

static void free_readers(void *items, size_t n)
{
  tessera_readers_free(items, n);
}

static void free_tokens(void *items, size_t n)
{
  tessera_tokens_free(items, n);
}

static void free_keys(void *items, size_t n)
{
  tessera_keys_free(items, n);
}

static const list_kind token_list = { TPROTO_TOKEN_MIN_LEN, sizeof(tessera_token),
                                      decode_token_entry, free_tokens };
static const list_kind key_list = { TPROTO_KEY_MIN_LEN, sizeof(tessera_key), decode_key_entry,
                                    free_keys };
static const list_kind reader_list = { TPROTO_READER_MIN_LEN, sizeof(tessera_reader),
                                       decode_reader_entry, free_readers };

typedef struct {
  const list_kind *kind;
  void *items;
  size_t n;
} list_result;

static int decode_list(tproto_buf *body, void *out)
{
  list_result *res = out;
  const list_kind *kind = res->kind;
  uint32_t n;
  int r = tproto_dec_list_count(body, kind->min_entry, &n);
  if (r < 0)
    return r;
  /* calloc: a half-copied list is freed entry by entry, NULL fields included. */
  uint8_t *items = calloc(n ? n : 1, kind->entry_size);
  if (items == NULL)
    return TPROTO_E_NOMEM;
  for (uint32_t i = 0; i < n && r >= 0; i++)
    r = kind->decode_entry(body, items + (size_t)i * kind->entry_size);
  if (r >= 0)
    r = tproto_dec_end(body);
  if (r < 0) {
    kind->free_list(items, n);
    return r;
  }
  res->items = items;
  res->n = n;
  return TPROTO_OK;
}

static int list_request(tessera_client *c, const tproto_buf *req, uint32_t id, uint8_t reply_type,
                        const list_kind *kind, void **out, size_t *n)
{
  list_result res = { kind, NULL, 0 };
  int r = tc_transact(c, req, id, reply_type, decode_list, &res);
  if (r != TESSERA_OK)
    return r;
  *out = res.items;
  *n = res.n;
  return TESSERA_OK;
}

int tessera_list_tokens(tessera_client *c, tessera_token **out, size_t *n)
{
  *out = NULL;
  *n = 0;
  uint32_t id = tc_next_id(c);
  TC_AUTO_BUF req = { 0 };
  int r = tproto_enc_empty(&req, TPROTO_LIST_TOKENS, id);
  if (r < 0)
    return tc_encode_failed(c, r, "request");
  void *items = NULL;
  r = list_request(c, &req, id, TPROTO_R_TOKENS, &token_list, &items, n);
  *out = items;
  return r;
}

int tessera_find_key(tessera_client *c, const char *name, tessera_key **out)
{
  *out = NULL;
  uint32_t id = tc_next_id(c);
  TC_AUTO_BUF req = { 0 };
  int r = tproto_enc_find_key(&req, id, tproto_str(name));
  if (r < 0)
    return tc_encode_failed(c, r, "key");
  void *items = NULL;
  size_t n = 0;
  r = list_request(c, &req, id, TPROTO_R_KEYS, &key_list, &items, &n);
  if (r == TESSERA_OK && n != 1) {
    tessera_keys_free(items, n);
    return tc_fail(c, TESSERA_E_PROTOCOL, "the agent answered FIND_KEY with %zu keys", n);
  }
  *out = items;
  return r;
}

int tessera_list_keys(tessera_client *c, const char *token_filter, tessera_key **out, size_t *n)
{
  *out = NULL;
  *n = 0;
  uint32_t id = tc_next_id(c);
  TC_AUTO_BUF req = { 0 };
  int r = tproto_enc_list_keys(&req, id, tproto_str(token_filter));
  if (r < 0)
    return tc_encode_failed(c, r, "token");
  void *items = NULL;
  r = list_request(c, &req, id, TPROTO_R_KEYS, &key_list, &items, n);
  *out = items;
  return r;
}

int tessera_list_readers(tessera_client *c, tessera_reader **out, size_t *n)
{
  *out = NULL;
  *n = 0;
  uint32_t id = tc_next_id(c);
  TC_AUTO_BUF req = { 0 };
  int r = tproto_enc_empty(&req, TPROTO_LIST_READERS, id);
  if (r < 0)
    return tc_encode_failed(c, r, "request");
  void *items = NULL;
  r = list_request(c, &req, id, TPROTO_R_READERS, &reader_list, &items, n);
  *out = items;
  return r;
}
