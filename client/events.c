/* libtessera-client — SUBSCRIBE and the event stream, LIST_READERS. */
#include "client-private.h"

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>

static int decode_ok(tproto_buf *body, void *out)
{
  return tproto_dec_empty(body);
}

int tessera_subscribe(tessera_client *c)
{
  if (c->subscription != 0)
    return tc_fail(c, TESSERA_E_ARG, "already subscribed");
  uint32_t id = tc_next_id(c);
  TC_AUTO_BUF req = { 0 };
  int r = tproto_enc_empty(&req, TPROTO_SUBSCRIBE, id);
  if (r < 0)
    return tc_encode_failed(c, r, "request");
  r = tc_transact(c, &req, id, TPROTO_R_OK, decode_ok, NULL);
  if (r == TESSERA_OK)
    c->subscription = id;
  return r;
}

static int decode_event(tproto_buf *body, void *out)
{
  tessera_event *e = out;
  tproto_event w;
  int r = tproto_dec_event(body, &w);
  if (r < 0)
    return r;
  e->kind = w.kind;
  e->reader = tproto_bytes_strdup(w.reader);
  e->token_id = tproto_bytes_strdup(w.token_id);
  e->key_id = tproto_bytes_strdup(w.key_id);
  if (e->reader == NULL || e->token_id == NULL || e->key_id == NULL) {
    tessera_event_clear(e);
    return TPROTO_E_NOMEM;
  }
  return TPROTO_OK;
}

int tessera_next_event(tessera_client *c, int timeout_ms, tessera_event *out)
{
  memset(out, 0, sizeof(*out));
  if (c->subscription == 0)
    return tc_fail(c, TESSERA_E_ARG, "not subscribed: call tessera_subscribe first");
  if (c->fd < 0)
    return tc_fail(c, TESSERA_E_IO, "the connection to the agent was closed");
  struct pollfd p = { .fd = c->fd, .events = POLLIN };
  int n;
  do
    n = poll(&p, 1, timeout_ms);
  while (n < 0 && errno == EINTR);
  if (n == 0)
    return tc_fail(c, TESSERA_E_TIMEOUT, "no event within %d ms", timeout_ms);
  if (n < 0)
    return tc_fail(c, TESSERA_E_IO, "waiting for the agent failed: %s", strerror(errno));
  return tc_read_reply(c, c->subscription, TPROTO_R_EVENT, decode_event, out);
}

void tessera_event_clear(tessera_event *e)
{
  if (e == NULL)
    return;
  free(e->reader);
  free(e->token_id);
  free(e->key_id);
  memset(e, 0, sizeof(*e));
}

/* ---- LIST_READERS ---- */

typedef struct {
  tessera_reader *items;
  size_t n;
} readers_result;

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

static int decode_readers(tproto_buf *body, void *out)
{
  readers_result *res = out;
  uint32_t n;
  int r = tproto_dec_list_count(body, TPROTO_READER_MIN_LEN, &n);
  if (r < 0)
    return r;
  tessera_reader *items = calloc(n ? n : 1, sizeof(*items));
  if (items == NULL)
    return TPROTO_E_NOMEM;
  for (uint32_t i = 0; i < n && r >= 0; i++) {
    tproto_reader w;
    r = tproto_dec_reader(body, &w);
    if (r < 0)
      break;
    items[i].name = tproto_bytes_strdup(w.name);
    items[i].flags = w.flags;
    if (items[i].name == NULL || tproto_bytes_dup(w.atr, &items[i].atr, &items[i].atr_len) < 0)
      r = TPROTO_E_NOMEM;
  }
  if (r >= 0)
    r = tproto_dec_end(body);
  if (r < 0) {
    tessera_readers_free(items, n);
    return r;
  }
  res->items = items;
  res->n = n;
  return TPROTO_OK;
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
  readers_result res = { NULL, 0 };
  r = tc_transact(c, &req, id, TPROTO_R_READERS, decode_readers, &res);
  if (r == TESSERA_OK) {
    *out = res.items;
    *n = res.n;
  }
  return r;
}
