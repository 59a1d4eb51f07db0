/* libtessera-client — STATUS, private-key operations, LOGIN and LOGOUT. */
#include "client-private.h"

#include <stdlib.h>
#include <string.h>

static int check_key_arg(tessera_client *c, const char *key)
{
  if (key == NULL || *key == '\0')
    return tc_fail(c, TESSERA_E_ARG, "no key given");
  return TESSERA_OK;
}

/* ---- STATUS ---- */

static int decode_status(tproto_buf *body, void *out)
{
  tessera_status *s = out;
  tproto_status m;
  int r = tproto_dec_status(body, &m);
  if (r < 0)
    return r;
  s->agent_version = tproto_bytes_strdup(m.agent_version);
  if (s->agent_version == NULL)
    return TPROTO_E_NOMEM;
  s->pid = m.pid;
  s->uptime_s = m.uptime_s;
  s->n_clients = m.n_clients;
  s->n_tokens = m.n_tokens;
  s->n_keys = m.n_keys;
  return TPROTO_OK;
}

int tessera_status_get(tessera_client *c, tessera_status *out)
{
  memset(out, 0, sizeof(*out));
  uint32_t id = tc_next_id(c);
  TC_AUTO_BUF req = { 0 };
  int r = tproto_enc_empty(&req, TPROTO_STATUS, id);
  if (r < 0)
    return tc_encode_failed(c, r, "request");
  return tc_transact(c, &req, id, TPROTO_R_STATUS, decode_status, out);
}

void tessera_status_clear(tessera_status *s)
{
  if (s == NULL)
    return;
  free(s->agent_version);
  memset(s, 0, sizeof(*s));
}

/* ---- SIGN / DECRYPT / DERIVE: all answered by R_DATA ---- */

typedef struct {
  uint8_t *data;
  size_t len;
} data_result;

/* Plaintext and shared secrets pass through here: the copy is the caller's
 * to wipe (tessera_free_secret); the frame is wiped by the transport. */
static int decode_data(tproto_buf *body, void *out)
{
  data_result *res = out;
  tproto_bytes v;
  int r = tproto_dec_data(body, &v);
  if (r < 0)
    return r;
  res->data = malloc(v.len ? v.len : 1); /* never NULL on success, even if empty */
  if (res->data == NULL)
    return TPROTO_E_NOMEM;
  if (v.len)
    memcpy(res->data, v.ptr, v.len);
  res->len = v.len;
  return TPROTO_OK;
}

static int transact_data(tessera_client *c, const tproto_buf *req, uint32_t id, uint8_t **out,
                         size_t *out_len)
{
  data_result res = { 0 };
  int r = tc_transact(c, req, id, TPROTO_R_DATA, decode_data, &res);
  if (r != TESSERA_OK)
    return r;
  *out = res.data;
  *out_len = res.len;
  return TESSERA_OK;
}

static void clear_output(uint8_t **out, size_t *out_len)
{
  *out = NULL;
  *out_len = 0;
}

int tessera_sign(tessera_client *c, const char *key, uint8_t mech, uint8_t hash, uint8_t mgf_hash,
                 uint32_t salt_len, const uint8_t *data, size_t data_len, uint8_t **sig,
                 size_t *sig_len)
{
  clear_output(sig, sig_len);
  int r = check_key_arg(c, key);
  if (r < 0)
    return r;
  tproto_sign m = { .key = tproto_str(key), .mech = mech, .hash = hash, .mgf_hash = mgf_hash,
                    .salt_len = salt_len, .data = tproto_mem(data, data_len) };
  uint32_t id = tc_next_id(c);
  TC_AUTO_BUF req = { 0 };
  r = tproto_enc_sign(&req, id, &m);
  if (r < 0)
    return tc_encode_failed(c, r, "key or data");
  return transact_data(c, &req, id, sig, sig_len);
}

int tessera_decrypt(tessera_client *c, const char *key, uint8_t mech, uint8_t hash,
                    uint8_t mgf_hash, const uint8_t *label, size_t label_len, const uint8_t *in,
                    size_t in_len, uint8_t **out, size_t *out_len)
{
  clear_output(out, out_len);
  int r = check_key_arg(c, key);
  if (r < 0)
    return r;
  tproto_decrypt m = { .key = tproto_str(key), .mech = mech, .hash = hash, .mgf_hash = mgf_hash,
                       .label = tproto_mem(label, label_len), .data = tproto_mem(in, in_len) };
  uint32_t id = tc_next_id(c);
  TC_AUTO_BUF req = { 0 };
  r = tproto_enc_decrypt(&req, id, &m);
  if (r < 0)
    return tc_encode_failed(c, r, "key, label or ciphertext");
  return transact_data(c, &req, id, out, out_len);
}

int tessera_derive(tessera_client *c, const char *key, uint8_t mech, const uint8_t *peer,
                   size_t peer_len, uint8_t **out, size_t *out_len)
{
  clear_output(out, out_len);
  int r = check_key_arg(c, key);
  if (r < 0)
    return r;
  tproto_derive m = { .key = tproto_str(key), .mech = mech, .peer = tproto_mem(peer, peer_len) };
  uint32_t id = tc_next_id(c);
  TC_AUTO_BUF req = { 0 };
  r = tproto_enc_derive(&req, id, &m);
  if (r < 0)
    return tc_encode_failed(c, r, "key or peer point");
  return transact_data(c, &req, id, out, out_len);
}

/* ---- LOGIN / LOGOUT: answered by R_OK ---- */

static int decode_ok(tproto_buf *body, void *out)
{
  (void)out;
  return tproto_dec_empty(body);
}

/* An empty PIN on the wire asks the agent to get it from the user. */
static int send_login(tessera_client *c, const char *token, const char *pin, size_t pin_len)
{
  if (token == NULL || *token == '\0')
    return tc_fail(c, TESSERA_E_ARG, "no token given");
  tproto_login m = { .token = tproto_str(token), .pin = tproto_mem(pin, pin_len) };
  uint32_t id = tc_next_id(c);
  TC_AUTO_BUF req = { 0 }; /* holds the PIN: wiped by tproto_buf_free */
  int r = tproto_enc_login(&req, id, &m);
  if (r < 0)
    return tc_encode_failed(c, r, "token or PIN");
  return tc_transact(c, &req, id, TPROTO_R_OK, decode_ok, NULL);
}

int tessera_login(tessera_client *c, const char *token, const char *pin, size_t pin_len)
{
  if (pin == NULL || pin_len == 0)
    return tc_fail(c, TESSERA_E_ARG, "empty PIN");
  return send_login(c, token, pin, pin_len);
}

int tessera_login_prompt(tessera_client *c, const char *token)
{
  return send_login(c, token, NULL, 0);
}

int tessera_logout(tessera_client *c, const char *token)
{
  uint32_t id = tc_next_id(c);
  TC_AUTO_BUF req = { 0 };
  int r = tproto_enc_logout(&req, id, tproto_str(token));
  if (r < 0)
    return tc_encode_failed(c, r, "token");
  return tc_transact(c, &req, id, TPROTO_R_OK, decode_ok, NULL);
}
