/* libtessera-client — SUBSCRIBE and the event stream. */
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
