/* tessera tests — any wire message as one tagged value. */
#include "any-message.h"

#include <stdlib.h>
#include <string.h>

const uint8_t any_message_types[] = {
  TPROTO_HELLO,   TPROTO_STATUS,  TPROTO_LIST_TOKENS, TPROTO_LIST_KEYS, TPROTO_SIGN,
  TPROTO_DECRYPT, TPROTO_DERIVE,  TPROTO_LOGIN,       TPROTO_LOGOUT,    TPROTO_R_ERROR,
  TPROTO_R_HELLO, TPROTO_R_STATUS, TPROTO_R_TOKENS,   TPROTO_R_KEYS,    TPROTO_R_DATA,
  TPROTO_R_OK,    TPROTO_FIND_KEY, TPROTO_SUBSCRIBE, TPROTO_LIST_READERS, TPROTO_R_READERS,
  TPROTO_R_EVENT,
};
const size_t any_message_n_types = sizeof(any_message_types) / sizeof(any_message_types[0]);

static int decode_tokens(tproto_buf *body, any_message *m)
{
  uint32_t n;
  int r = tproto_dec_list_count(body, TPROTO_TOKEN_MIN_LEN, &n);
  if (r < 0)
    return r;
  tproto_token *items = calloc(n ? n : 1, sizeof(*items));
  if (items == NULL)
    return TPROTO_E_NOMEM;
  for (uint32_t i = 0; i < n && r == TPROTO_OK; i++)
    r = tproto_dec_token(body, &items[i]);
  if (r == TPROTO_OK)
    r = tproto_dec_end(body);
  if (r < 0) {
    free(items);
    return r;
  }
  m->u.tokens.items = items;
  m->u.tokens.n = n;
  return TPROTO_OK;
}

static int decode_keys(tproto_buf *body, any_message *m)
{
  uint32_t n;
  int r = tproto_dec_list_count(body, TPROTO_KEY_MIN_LEN, &n);
  if (r < 0)
    return r;
  tproto_key *items = calloc(n ? n : 1, sizeof(*items));
  if (items == NULL)
    return TPROTO_E_NOMEM;
  for (uint32_t i = 0; i < n && r == TPROTO_OK; i++)
    r = tproto_dec_key(body, &items[i]);
  if (r == TPROTO_OK)
    r = tproto_dec_end(body);
  if (r < 0) {
    free(items);
    return r;
  }
  m->u.keys.items = items;
  m->u.keys.n = n;
  return TPROTO_OK;
}

static int decode_readers(tproto_buf *body, any_message *m)
{
  uint32_t n;
  int r = tproto_dec_list_count(body, TPROTO_READER_MIN_LEN, &n);
  if (r < 0)
    return r;
  tproto_reader *items = calloc(n ? n : 1, sizeof(*items));
  if (items == NULL)
    return TPROTO_E_NOMEM;
  for (uint32_t i = 0; i < n && r == TPROTO_OK; i++)
    r = tproto_dec_reader(body, &items[i]);
  if (r == TPROTO_OK)
    r = tproto_dec_end(body);
  if (r < 0) {
    free(items);
    return r;
  }
  m->u.readers.items = items;
  m->u.readers.n = n;
  return TPROTO_OK;
}

int any_message_decode(uint8_t type, tproto_buf *body, any_message *m)
{
  memset(&m->u, 0, sizeof(m->u));
  m->header.type = type;
  switch (type) {
  case TPROTO_HELLO: return tproto_dec_hello(body, &m->u.hello);
  case TPROTO_STATUS:
  case TPROTO_LIST_TOKENS:
  case TPROTO_SUBSCRIBE:
  case TPROTO_LIST_READERS:
  case TPROTO_R_OK: return tproto_dec_empty(body);
  case TPROTO_LIST_KEYS: return tproto_dec_list_keys(body, &m->u.token);
  case TPROTO_SIGN: return tproto_dec_sign(body, &m->u.sign);
  case TPROTO_DECRYPT: return tproto_dec_decrypt(body, &m->u.decrypt);
  case TPROTO_DERIVE: return tproto_dec_derive(body, &m->u.derive);
  case TPROTO_LOGIN: return tproto_dec_login(body, &m->u.login);
  case TPROTO_LOGOUT: return tproto_dec_logout(body, &m->u.token);
  case TPROTO_FIND_KEY: return tproto_dec_find_key(body, &m->u.token);
  case TPROTO_R_ERROR: return tproto_dec_error(body, &m->u.error);
  case TPROTO_R_HELLO: return tproto_dec_hello_reply(body, &m->u.hello_reply);
  case TPROTO_R_STATUS: return tproto_dec_status(body, &m->u.status);
  case TPROTO_R_TOKENS: return decode_tokens(body, m);
  case TPROTO_R_KEYS: return decode_keys(body, m);
  case TPROTO_R_READERS: return decode_readers(body, m);
  case TPROTO_R_EVENT: return tproto_dec_event(body, &m->u.event);
  case TPROTO_R_DATA: return tproto_dec_data(body, &m->u.data);
  default: return TPROTO_E_INVALID;
  }
}

static int encode_error(tproto_buf *b, const any_message *m)
{
  /* enc_error takes a C string; decoded text never holds NUL, so this is
   * the same message. */
  char *message = tproto_bytes_strdup(m->u.error.message);
  if (message == NULL)
    return TPROTO_E_NOMEM;
  int r = tproto_enc_error(b, m->header.id, m->u.error.code, message);
  free(message);
  return r;
}

int any_message_encode(tproto_buf *b, const any_message *m)
{
  uint32_t id = m->header.id;
  switch (m->header.type) {
  case TPROTO_HELLO: return tproto_enc_hello(b, id, &m->u.hello);
  case TPROTO_STATUS:
  case TPROTO_LIST_TOKENS:
  case TPROTO_SUBSCRIBE:
  case TPROTO_LIST_READERS:
  case TPROTO_R_OK: return tproto_enc_empty(b, m->header.type, id);
  case TPROTO_LIST_KEYS: return tproto_enc_list_keys(b, id, m->u.token);
  case TPROTO_SIGN: return tproto_enc_sign(b, id, &m->u.sign);
  case TPROTO_DECRYPT: return tproto_enc_decrypt(b, id, &m->u.decrypt);
  case TPROTO_DERIVE: return tproto_enc_derive(b, id, &m->u.derive);
  case TPROTO_LOGIN: return tproto_enc_login(b, id, &m->u.login);
  case TPROTO_LOGOUT: return tproto_enc_logout(b, id, m->u.token);
  case TPROTO_FIND_KEY: return tproto_enc_find_key(b, id, m->u.token);
  case TPROTO_R_ERROR: return encode_error(b, m);
  case TPROTO_R_HELLO: return tproto_enc_hello_reply(b, id, &m->u.hello_reply);
  case TPROTO_R_STATUS: return tproto_enc_status(b, id, &m->u.status);
  case TPROTO_R_TOKENS: return tproto_enc_tokens(b, id, m->u.tokens.items, m->u.tokens.n);
  case TPROTO_R_KEYS: return tproto_enc_keys(b, id, m->u.keys.items, m->u.keys.n);
  case TPROTO_R_READERS: return tproto_enc_readers(b, id, m->u.readers.items, m->u.readers.n);
  case TPROTO_R_EVENT: return tproto_enc_event(b, id, &m->u.event);
  case TPROTO_R_DATA: return tproto_enc_data(b, id, m->u.data);
  default: return TPROTO_E_INVALID;
  }
}

static bool bytes_equal(tproto_bytes a, tproto_bytes b)
{
  return a.len == b.len && (a.len == 0 || memcmp(a.ptr, b.ptr, a.len) == 0);
}

static bool hello_equal(const tproto_hello *a, const tproto_hello *b)
{
  if (a->version_min != b->version_min || a->version_max != b->version_max ||
      !bytes_equal(a->client_name, b->client_name) || a->n_options != b->n_options)
    return false;
  for (uint32_t i = 0; i < a->n_options && i < TPROTO_MAX_HELLO_OPTIONS; i++)
    if (!bytes_equal(a->option_keys[i], b->option_keys[i]) ||
        !bytes_equal(a->option_values[i], b->option_values[i]))
      return false;
  return true;
}

static bool token_equal(const tproto_token *a, const tproto_token *b)
{
  return bytes_equal(a->id, b->id) && bytes_equal(a->label, b->label) &&
         bytes_equal(a->manufacturer, b->manufacturer) && bytes_equal(a->model, b->model) &&
         bytes_equal(a->serial, b->serial) && bytes_equal(a->module, b->module) &&
         a->flags == b->flags && a->n_keys == b->n_keys &&
         a->login_ends_s == b->login_ends_s;
}

static bool key_equal(const tproto_key *a, const tproto_key *b)
{
  return bytes_equal(a->id, b->id) && bytes_equal(a->label, b->label) &&
         bytes_equal(a->token_id, b->token_id) && a->key_type == b->key_type &&
         a->bits == b->bits && a->ops == b->ops && a->flags == b->flags &&
         bytes_equal(a->cert, b->cert) && bytes_equal(a->spki, b->spki);
}

static bool body_equal(const any_message *a, const any_message *b)
{
  switch (a->header.type) {
  case TPROTO_HELLO: return hello_equal(&a->u.hello, &b->u.hello);
  case TPROTO_STATUS:
  case TPROTO_LIST_TOKENS:
  case TPROTO_SUBSCRIBE:
  case TPROTO_LIST_READERS:
  case TPROTO_R_OK: return true;
  case TPROTO_LIST_KEYS:
  case TPROTO_FIND_KEY:
  case TPROTO_LOGOUT: return bytes_equal(a->u.token, b->u.token);
  case TPROTO_SIGN:
    return bytes_equal(a->u.sign.key, b->u.sign.key) && a->u.sign.mech == b->u.sign.mech &&
           a->u.sign.hash == b->u.sign.hash && a->u.sign.mgf_hash == b->u.sign.mgf_hash &&
           a->u.sign.salt_len == b->u.sign.salt_len && bytes_equal(a->u.sign.data, b->u.sign.data);
  case TPROTO_DECRYPT:
    return bytes_equal(a->u.decrypt.key, b->u.decrypt.key) &&
           a->u.decrypt.mech == b->u.decrypt.mech && a->u.decrypt.hash == b->u.decrypt.hash &&
           a->u.decrypt.mgf_hash == b->u.decrypt.mgf_hash &&
           bytes_equal(a->u.decrypt.label, b->u.decrypt.label) &&
           bytes_equal(a->u.decrypt.data, b->u.decrypt.data);
  case TPROTO_DERIVE:
    return bytes_equal(a->u.derive.key, b->u.derive.key) &&
           a->u.derive.mech == b->u.derive.mech && bytes_equal(a->u.derive.peer, b->u.derive.peer);
  case TPROTO_LOGIN:
    return bytes_equal(a->u.login.token, b->u.login.token) &&
           bytes_equal(a->u.login.pin, b->u.login.pin);
  case TPROTO_R_ERROR:
    return a->u.error.code == b->u.error.code &&
           bytes_equal(a->u.error.message, b->u.error.message);
  case TPROTO_R_HELLO:
    return a->u.hello_reply.version == b->u.hello_reply.version &&
           bytes_equal(a->u.hello_reply.agent_name, b->u.hello_reply.agent_name) &&
           a->u.hello_reply.capabilities == b->u.hello_reply.capabilities &&
           a->u.hello_reply.max_frame == b->u.hello_reply.max_frame;
  case TPROTO_R_STATUS:
    return bytes_equal(a->u.status.agent_version, b->u.status.agent_version) &&
           a->u.status.pid == b->u.status.pid && a->u.status.uptime_s == b->u.status.uptime_s &&
           a->u.status.n_clients == b->u.status.n_clients &&
           a->u.status.n_tokens == b->u.status.n_tokens && a->u.status.n_keys == b->u.status.n_keys;
  case TPROTO_R_TOKENS:
    if (a->u.tokens.n != b->u.tokens.n)
      return false;
    for (uint32_t i = 0; i < a->u.tokens.n; i++)
      if (!token_equal(&a->u.tokens.items[i], &b->u.tokens.items[i]))
        return false;
    return true;
  case TPROTO_R_KEYS:
    if (a->u.keys.n != b->u.keys.n)
      return false;
    for (uint32_t i = 0; i < a->u.keys.n; i++)
      if (!key_equal(&a->u.keys.items[i], &b->u.keys.items[i]))
        return false;
    return true;
  case TPROTO_R_READERS:
    if (a->u.readers.n != b->u.readers.n)
      return false;
    for (uint32_t i = 0; i < a->u.readers.n; i++) {
      const tproto_reader *x = &a->u.readers.items[i], *y = &b->u.readers.items[i];
      if (!bytes_equal(x->name, y->name) || x->flags != y->flags || !bytes_equal(x->atr, y->atr))
        return false;
    }
    return true;
  case TPROTO_R_EVENT:
    return a->u.event.kind == b->u.event.kind && bytes_equal(a->u.event.reader, b->u.event.reader) &&
           bytes_equal(a->u.event.token_id, b->u.event.token_id) &&
           bytes_equal(a->u.event.key_id, b->u.event.key_id);
  case TPROTO_R_DATA: return bytes_equal(a->u.data, b->u.data);
  default: return false;
  }
}

bool any_message_equal(const any_message *a, const any_message *b)
{
  return a->header.type == b->header.type && a->header.id == b->header.id && body_equal(a, b);
}

void any_message_clear(any_message *m)
{
  if (m->header.type == TPROTO_R_TOKENS)
    free(m->u.tokens.items);
  else if (m->header.type == TPROTO_R_KEYS)
    free(m->u.keys.items);
  else if (m->header.type == TPROTO_R_READERS)
    free(m->u.readers.items);
  memset(&m->u, 0, sizeof(m->u));
}
