/* tessera-agent — one process_* handler per request type.
 *
 * Handlers run on the main loop. They decode, check everything that can be
 * checked without the token (so errors are precise and cheap), and either
 * answer at once or queue a job on the token's worker.
 */
#include "requests.h"

#include "events.h"
#include "job.h"
#include "operations.h"
#include "pcsc.h"
#include "registry.h"
#include "token.h"

#include <string.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

static gint64 started_at;

static void send_frame(TesseraConn *conn, uint32_t id,
                       int (*encode)(tproto_buf *, gpointer), gpointer msg)
{
  tproto_buf b;
  tproto_buf_init(&b);
  int r = encode(&b, msg);
  if (r == TPROTO_OK) {
    tessera_conn_send(conn, &b);
  } else {
    /* Every request gets an answer, even when ours cannot be encoded. */
    g_warning("cannot encode a reply for %s (%d)", conn->peer_name, r);
    tessera_conn_send_error(conn, id, TPROTO_ERR_INTERNAL,
                            r == TPROTO_E_TOO_LARGE ? "the reply is too large for one frame"
                                                    : "the reply could not be encoded");
  }
  tproto_buf_free(&b);
}

static void reply_malformed(TesseraConn *conn, const tproto_header *h)
{
  g_message("%s sent a malformed %s request", conn->peer_name, tproto_type_name(h->type));
  tessera_conn_send_error(conn, h->id, TPROTO_ERR_PROTOCOL, "malformed %s request",
                          tproto_type_name(h->type));
}

/* ---- HELLO ---- */

typedef struct {
  uint32_t id;
  tproto_hello_reply reply;
} HelloReply;

static int encode_hello_reply(tproto_buf *b, gpointer data)
{
  HelloReply *r = data;
  return tproto_enc_hello_reply(b, r->id, &r->reply);
}

static void process_hello(TesseraConn *conn, const tproto_header *h, tproto_buf *body)
{
  tproto_hello m;
  if (tproto_dec_hello(body, &m) < 0) {
    reply_malformed(conn, h);
    tessera_conn_close_after_flush(conn);
    return;
  }
  if (conn->hello_done) {
    tessera_conn_send_error(conn, h->id, TPROTO_ERR_PROTOCOL, "HELLO was already sent");
    return;
  }
  if (m.version_min > TPROTO_VERSION || m.version_max < TPROTO_VERSION) {
    tessera_conn_send_error(conn, h->id, TPROTO_ERR_VERSION,
                            "this agent speaks protocol version %d only; the client offers %u to %u",
                            TPROTO_VERSION, m.version_min, m.version_max);
    tessera_conn_close_after_flush(conn);
    return;
  }
  conn->hello_done = TRUE;
  conn->version = TPROTO_VERSION;
  conn->client_name = tproto_bytes_strdup(m.client_name);
  for (uint32_t i = 0; i < m.n_options; i++)
    g_hash_table_replace(conn->options, tproto_bytes_strdup(m.option_keys[i]),
                         tproto_bytes_strdup(m.option_values[i]));
  g_debug("%s is '%s'", conn->peer_name, conn->client_name);
  HelloReply r = { h->id,
                   { TPROTO_VERSION, tproto_str("tessera-agent " TESSERA_VERSION),
                     TPROTO_CAP_SIGN | TPROTO_CAP_DECRYPT | TPROTO_CAP_DERIVE | TPROTO_CAP_LOGIN |
                         TPROTO_CAP_PIPELINE | TPROTO_CAP_EVENTS,
                     TPROTO_MAX_FRAME } };
  send_frame(conn, h->id, encode_hello_reply, &r);
}

/* ---- STATUS ---- */

typedef struct {
  uint32_t id;
  tproto_status status;
} StatusReply;

static int encode_status(tproto_buf *b, gpointer data)
{
  StatusReply *r = data;
  return tproto_enc_status(b, r->id, &r->status);
}

static void process_status(TesseraConn *conn, const tproto_header *h, tproto_buf *body)
{
  if (tproto_dec_empty(body) < 0) {
    reply_malformed(conn, h);
    return;
  }
  StatusReply r = { h->id,
                    { tproto_str(TESSERA_VERSION), (uint32_t)getpid(),
                      (uint64_t)((g_get_monotonic_time() - started_at) / G_USEC_PER_SEC),
                      tessera_conn_count(), registry_tokens()->len, registry_key_count() } };
  send_frame(conn, h->id, encode_status, &r);
}

/* ---- LIST_TOKENS ---- */

typedef struct {
  uint32_t id;
  GArray *tokens;
} TokensReply;

static int encode_tokens(tproto_buf *b, gpointer data)
{
  TokensReply *r = data;
  return tproto_enc_tokens(b, r->id, (const tproto_token *)(void *)r->tokens->data,
                           r->tokens->len);
}

static void process_list_tokens(TesseraConn *conn, const tproto_header *h, tproto_buf *body)
{
  if (tproto_dec_empty(body) < 0) {
    reply_malformed(conn, h);
    return;
  }
  GPtrArray *all = registry_tokens();
  g_autoptr(GArray) out = g_array_new(FALSE, TRUE, sizeof(tproto_token));
  for (guint i = 0; i < all->len; i++) {
    TesseraToken *t = all->pdata[i];
    g_autoptr(GPtrArray) keys = tessera_token_keys(t);
    tproto_token e = { tproto_str(t->id), tproto_str(t->label), tproto_str(t->manufacturer),
                       tproto_str(t->model), tproto_str(t->serial), tproto_str(t->module_path),
                       tessera_token_proto_flags(t), keys->len,
                       tessera_token_login_ends_s(t) };
    g_array_append_val(out, e);
  }
  TokensReply r = { h->id, out };
  send_frame(conn, h->id, encode_tokens, &r);
}

/* ---- LIST_KEYS ---- */

/* A field over its wire limit is left out rather than failing the list. */
static tproto_bytes view_of(GBytes *b, gsize limit)
{
  gsize n = 0;
  const void *p = b ? g_bytes_get_data(b, &n) : NULL;
  return n <= limit ? tproto_mem(p, n) : tproto_mem(NULL, 0);
}

/* The entry's views point into k, which must outlive the reply. Keys of a
 * card that is out stay listed, as unavailable. */
static tproto_key key_entry(TesseraToken *t, const TesseraKey *k)
{
  uint32_t flags = tessera_token_present(t) ? k->flags : k->flags & ~(uint32_t)TPROTO_KEY_AVAILABLE;
  return (tproto_key){ tproto_str(k->id), tproto_str(k->label), tproto_str(t->id), k->key_type,
                       k->bits, k->ops, flags, view_of(k->cert, TPROTO_MAX_CERT),
                       view_of(k->spki, TPROTO_MAX_CERT) };
}

static void append_keys(GArray *out, GPtrArray *holds, TesseraToken *t)
{
  GPtrArray *keys = tessera_token_keys(t);
  g_ptr_array_add(holds, keys); /* the views below point into these keys */
  for (guint j = 0; j < keys->len; j++) {
    tproto_key e = key_entry(t, keys->pdata[j]);
    g_array_append_val(out, e);
  }
}

typedef struct {
  uint32_t id;
  GArray *keys;
} KeysReply;

static int encode_keys(tproto_buf *b, gpointer data)
{
  KeysReply *r = data;
  return tproto_enc_keys(b, r->id, (const tproto_key *)(void *)r->keys->data, r->keys->len);
}

static void process_list_keys(TesseraConn *conn, const tproto_header *h, tproto_buf *body)
{
  tproto_bytes filter;
  if (tproto_dec_list_keys(body, &filter) < 0) {
    reply_malformed(conn, h);
    return;
  }
  g_autoptr(GArray) out = g_array_new(FALSE, TRUE, sizeof(tproto_key));
  g_autoptr(GPtrArray) holds = g_ptr_array_new_with_free_func((GDestroyNotify)g_ptr_array_unref);
  if (filter.len > 0) {
    g_autofree char *name = tproto_bytes_strdup(filter);
    uint32_t code;
    g_autofree char *msg = NULL;
    TesseraToken *t = registry_find_token(name, &code, &msg);
    if (t == NULL) {
      tessera_conn_send_error(conn, h->id, code, "%s", msg);
      return;
    }
    append_keys(out, holds, t);
  } else {
    GPtrArray *all = registry_tokens();
    for (guint i = 0; i < all->len; i++)
      append_keys(out, holds, all->pdata[i]);
  }
  KeysReply r = { h->id, out };
  send_frame(conn, h->id, encode_keys, &r);
}

/* ---- FIND_KEY ---- */

/* The same resolution SIGN, DECRYPT and DERIVE apply, so a client learns
 * the type of the key it names (and thus the mechanism) from the agent. */
static void process_find_key(TesseraConn *conn, const tproto_header *h, tproto_buf *body)
{
  tproto_bytes name_view;
  if (tproto_dec_find_key(body, &name_view) < 0) {
    reply_malformed(conn, h);
    return;
  }
  g_autofree char *name = tproto_bytes_strdup(name_view);
  uint32_t code;
  g_autofree char *msg = NULL;
  TesseraToken *t = NULL;
  g_autoptr(TesseraKey) key = registry_resolve_key(name, &t, &code, &msg);
  if (key == NULL) {
    tessera_conn_send_error(conn, h->id, code, "%s", msg);
    return;
  }
  g_autoptr(GArray) out = g_array_new(FALSE, TRUE, sizeof(tproto_key));
  tproto_key e = key_entry(t, key);
  g_array_append_val(out, e);
  KeysReply r = { h->id, out };
  send_frame(conn, h->id, encode_keys, &r);
}

/* ---- SIGN, DECRYPT, DERIVE: checks shared by the key operations ---- */

/* Resolves the key and checks the operation and mechanism are its own. */
static TesseraKey *key_for_operation(TesseraConn *conn, uint32_t id, tproto_bytes name,
                                     uint32_t op, uint8_t mech, TesseraToken **token)
{
  g_autofree char *key_name = tproto_bytes_strdup(name);
  uint32_t code;
  g_autofree char *msg = NULL;
  g_autoptr(TesseraKey) key = registry_resolve_key(key_name, token, &code, &msg);
  if (key == NULL) {
    tessera_conn_send_error(conn, id, code, "%s", msg);
    return NULL;
  }
  const char *mech_name = tproto_mech_name(mech);
  gboolean rsa = key->key_type == TPROTO_KEY_RSA;
  gboolean mech_fits =
      (op == TPROTO_OP_SIGN && (rsa ? (mech == TPROTO_MECH_RSA_PKCS || mech == TPROTO_MECH_RSA_PSS)
                                    : mech == TPROTO_MECH_ECDSA)) ||
      (op == TPROTO_OP_DECRYPT && rsa &&
       (mech == TPROTO_MECH_RSA_PKCS || mech == TPROTO_MECH_RSA_OAEP)) ||
      (op == TPROTO_OP_DERIVE && !rsa && mech == TPROTO_MECH_ECDH);
  if (mech_name == NULL || !mech_fits) {
    tessera_conn_send_error(conn, id, TPROTO_ERR_MECHANISM,
                            "mechanism %s cannot be used for %s with %s key '%s'",
                            mech_name ? mech_name : "(unknown)", tessera_op_noun(op),
                            rsa ? "RSA" : "EC", key->label);
    return NULL;
  }
  if (!(key->ops & op)) {
    tessera_conn_send_error(conn, id, TPROTO_ERR_KEY_USAGE, "key '%s' does not allow %s",
                            key->label, tessera_op_noun(op));
    return NULL;
  }
  /* OAEP works on a token that only does raw RSA: the agent unpads. */
  CK_MECHANISM_TYPE ck_mech = operations_ck_mechanism(mech);
  if (!tessera_token_has_mechanism(*token, ck_mech) &&
      !(ck_mech == CKM_RSA_PKCS_OAEP && tessera_token_has_mechanism(*token, CKM_RSA_X_509))) {
    tessera_conn_send_error(conn, id, TPROTO_ERR_MECHANISM,
                            "token '%s' does not support %s", (*token)->label, mech_name);
    return NULL;
  }
  return g_steal_pointer(&key);
}

static gboolean check_hash(TesseraConn *conn, uint32_t id, uint8_t hash, const char *what)
{
  if (tproto_hash_len(hash) > 0)
    return TRUE;
  tessera_conn_send_error(conn, id, TPROTO_ERR_MECHANISM, "unknown %s hash algorithm %u", what,
                          hash);
  return FALSE;
}

static void submit(TesseraConn *conn, TesseraJob *job)
{
  tessera_token_submit(job->token, job);
}

static void process_sign(TesseraConn *conn, const tproto_header *h, tproto_buf *body)
{
  tproto_sign m;
  if (tproto_dec_sign(body, &m) < 0) {
    reply_malformed(conn, h);
    return;
  }
  TesseraToken *token;
  g_autoptr(TesseraKey) key = key_for_operation(conn, h->id, m.key, TPROTO_OP_SIGN, m.mech, &token);
  if (key == NULL)
    return;
  size_t max = m.mech == TPROTO_MECH_RSA_PKCS ? key->size_bytes - 11 : 64;
  if (m.mech == TPROTO_MECH_RSA_PSS) {
    if (!check_hash(conn, h->id, m.hash, "PSS") || !check_hash(conn, h->id, m.mgf_hash, "MGF1"))
      return;
    if (m.data.len != tproto_hash_len(m.hash)) {
      tessera_conn_send_error(conn, h->id, TPROTO_ERR_BAD_INPUT,
                              "RSA-PSS with %s needs a %zu-byte digest, got %zu bytes",
                              tproto_hash_name(m.hash), tproto_hash_len(m.hash), m.data.len);
      return;
    }
    if (m.salt_len > key->size_bytes) {
      tessera_conn_send_error(conn, h->id, TPROTO_ERR_BAD_INPUT,
                              "PSS salt of %u bytes does not fit key '%s'", m.salt_len,
                              key->label);
      return;
    }
  }
  if (m.data.len == 0 || m.data.len > max) {
    tessera_conn_send_error(conn, h->id, TPROTO_ERR_BAD_INPUT,
                            "%s with key '%s' takes 1 to %zu bytes of input (a %s), got %zu",
                            tproto_mech_name(m.mech), key->label, max,
                            m.mech == TPROTO_MECH_RSA_PKCS ? "DigestInfo" : "digest",
                            m.data.len);
    return;
  }
  TesseraJob *job = tessera_job_new(JOB_SIGN, conn, h->id, token, key);
  job->mech = m.mech;
  job->hash = m.hash;
  job->mgf_hash = m.mgf_hash;
  job->salt_len = m.salt_len;
  if (!tessera_job_set_data(job, m.data.ptr, m.data.len)) {
    tessera_conn_send_error(conn, h->id, TPROTO_ERR_INTERNAL, "out of memory");
    tessera_job_free(job);
    return;
  }
  submit(conn, job);
}

static void process_decrypt(TesseraConn *conn, const tproto_header *h, tproto_buf *body)
{
  tproto_decrypt m;
  if (tproto_dec_decrypt(body, &m) < 0) {
    reply_malformed(conn, h);
    return;
  }
  TesseraToken *token;
  g_autoptr(TesseraKey) key =
      key_for_operation(conn, h->id, m.key, TPROTO_OP_DECRYPT, m.mech, &token);
  if (key == NULL)
    return;
  if (m.mech == TPROTO_MECH_RSA_OAEP &&
      (!check_hash(conn, h->id, m.hash, "OAEP") || !check_hash(conn, h->id, m.mgf_hash, "MGF1")))
    return;
  if (m.data.len != key->size_bytes) {
    tessera_conn_send_error(conn, h->id, TPROTO_ERR_BAD_INPUT,
                            "a ciphertext for the %u-bit key '%s' is %zu bytes, got %zu",
                            key->bits, key->label, key->size_bytes, m.data.len);
    return;
  }
  TesseraJob *job = tessera_job_new(JOB_DECRYPT, conn, h->id, token, key);
  job->mech = m.mech;
  job->hash = m.hash;
  job->mgf_hash = m.mgf_hash;
  if (!tessera_job_set_data(job, m.data.ptr, m.data.len) ||
      !tessera_job_set_label(job, m.label.ptr, m.label.len)) {
    tessera_conn_send_error(conn, h->id, TPROTO_ERR_INTERNAL, "out of memory");
    tessera_job_free(job);
    return;
  }
  submit(conn, job);
}

static void process_derive(TesseraConn *conn, const tproto_header *h, tproto_buf *body)
{
  tproto_derive m;
  if (tproto_dec_derive(body, &m) < 0) {
    reply_malformed(conn, h);
    return;
  }
  TesseraToken *token;
  g_autoptr(TesseraKey) key =
      key_for_operation(conn, h->id, m.key, TPROTO_OP_DERIVE, m.mech, &token);
  if (key == NULL)
    return;
  size_t want = 1 + 2 * key->size_bytes;
  if (m.peer.len != want || m.peer.ptr[0] != 0x04) {
    tessera_conn_send_error(conn, h->id, TPROTO_ERR_BAD_INPUT,
                            "the peer key for '%s' must be an uncompressed %u-bit EC point "
                            "(%zu bytes starting with 04)",
                            key->label, key->bits, want);
    return;
  }
  TesseraJob *job = tessera_job_new(JOB_DERIVE, conn, h->id, token, key);
  job->mech = m.mech;
  if (!tessera_job_set_data(job, m.peer.ptr, m.peer.len)) {
    tessera_conn_send_error(conn, h->id, TPROTO_ERR_INTERNAL, "out of memory");
    tessera_job_free(job);
    return;
  }
  submit(conn, job);
}

/* ---- LOGIN, LOGOUT ---- */

static TesseraToken *token_for_request(TesseraConn *conn, uint32_t id, tproto_bytes name)
{
  g_autofree char *token_name = tproto_bytes_strdup(name);
  uint32_t code;
  g_autofree char *msg = NULL;
  TesseraToken *token = registry_find_token(token_name, &code, &msg);
  if (token == NULL)
    tessera_conn_send_error(conn, id, code, "%s", msg);
  return token;
}

static void process_login(TesseraConn *conn, const tproto_header *h, tproto_buf *body)
{
  tproto_login m;
  if (tproto_dec_login(body, &m) < 0) {
    reply_malformed(conn, h);
    return;
  }
  TesseraToken *token = token_for_request(conn, h->id, m.token);
  if (token == NULL)
    return;
  g_message("%s logs in to token '%s'%s", conn->peer_name, token->label,
            m.pin.len ? " with a PIN" : "");
  TesseraJob *job = tessera_job_new(JOB_LOGIN, conn, h->id, token, NULL);
  /* No PIN: the agent asks the user itself. */
  if (m.pin.len > 0 && !tessera_job_set_pin(job, m.pin.ptr, m.pin.len)) {
    tessera_conn_send_error(conn, h->id, TPROTO_ERR_INTERNAL, "out of memory");
    tessera_job_free(job);
    return;
  }
  submit(conn, job);
}

static void process_logout(TesseraConn *conn, const tproto_header *h, tproto_buf *body)
{
  tproto_bytes name;
  if (tproto_dec_logout(body, &name) < 0) {
    reply_malformed(conn, h);
    return;
  }
  GPtrArray *targets = g_ptr_array_new();
  if (name.len > 0) {
    TesseraToken *token = token_for_request(conn, h->id, name);
    if (token == NULL) {
      g_ptr_array_unref(targets);
      return;
    }
    g_ptr_array_add(targets, token);
  } else {
    g_ptr_array_extend(targets, registry_tokens(), NULL, NULL);
  }
  if (targets->len == 0) {
    g_ptr_array_unref(targets);
    tproto_buf b;
    tproto_buf_init(&b);
    if (tproto_enc_empty(&b, TPROTO_R_OK, h->id) == TPROTO_OK)
      tessera_conn_send(conn, &b);
    tproto_buf_free(&b);
    return;
  }
  g_autofree TesseraJob **jobs = g_new0(TesseraJob *, targets->len);
  for (guint i = 0; i < targets->len; i++)
    jobs[i] = tessera_job_new(JOB_LOGOUT, conn, h->id, targets->pdata[i], NULL);
  tessera_job_group(jobs, targets->len);
  for (guint i = 0; i < targets->len; i++)
    submit(conn, jobs[i]);
  g_ptr_array_unref(targets);
}

/* ---- SUBSCRIBE, LIST_READERS ---- */

static void process_subscribe(TesseraConn *conn, const tproto_header *h, tproto_buf *body)
{
  if (tproto_dec_empty(body) < 0) {
    reply_malformed(conn, h);
    return;
  }
  tproto_buf b;
  tproto_buf_init(&b);
  if (tproto_enc_empty(&b, TPROTO_R_OK, h->id) == TPROTO_OK)
    tessera_conn_send(conn, &b);
  tproto_buf_free(&b);
  conn->subscribed = TRUE;
  events_subscribe(conn, h->id);
  g_debug("%s subscribed to events", conn->peer_name);
}

typedef struct {
  uint32_t id;
  GArray *readers;
} ReadersReply;

static int encode_readers(tproto_buf *b, gpointer data)
{
  ReadersReply *r = data;
  return tproto_enc_readers(b, r->id, (const tproto_reader *)(void *)r->readers->data,
                            r->readers->len);
}

static void process_list_readers(TesseraConn *conn, const tproto_header *h, tproto_buf *body)
{
  if (tproto_dec_empty(body) < 0) {
    reply_malformed(conn, h);
    return;
  }
  g_autoptr(GPtrArray) seen = pcsc_readers();
  g_autoptr(GArray) out = g_array_new(FALSE, TRUE, sizeof(tproto_reader));
  for (guint i = 0; i < seen->len; i++) {
    PcscReader *r = seen->pdata[i];
    gsize atr_len = 0;
    const void *atr = r->atr ? g_bytes_get_data(r->atr, &atr_len) : NULL;
    tproto_reader e = { tproto_str(r->name), r->card_present ? TPROTO_READER_CARD_PRESENT : 0,
                        tproto_mem(atr, MIN(atr_len, TPROTO_MAX_ATR)) };
    g_array_append_val(out, e);
  }
  ReadersReply r = { h->id, out };
  send_frame(conn, h->id, encode_readers, &r);
}

/* ---- dispatch ---- */

typedef void (*Handler)(TesseraConn *conn, const tproto_header *h, tproto_buf *body);

static const Handler handlers[] = {
  [TPROTO_HELLO] = process_hello,         [TPROTO_STATUS] = process_status,
  [TPROTO_LIST_TOKENS] = process_list_tokens, [TPROTO_LIST_KEYS] = process_list_keys,
  [TPROTO_SIGN] = process_sign,           [TPROTO_DECRYPT] = process_decrypt,
  [TPROTO_DERIVE] = process_derive,       [TPROTO_LOGIN] = process_login,
  [TPROTO_LOGOUT] = process_logout,       [TPROTO_FIND_KEY] = process_find_key,
  [TPROTO_SUBSCRIBE] = process_subscribe, [TPROTO_LIST_READERS] = process_list_readers,
};

void requests_dispatch(TesseraConn *conn, const tproto_header *header, tproto_buf *body)
{
  Handler handler = header->type < G_N_ELEMENTS(handlers) ? handlers[header->type] : NULL;
  if (handler == NULL) {
    tessera_conn_send_error(conn, header->id, TPROTO_ERR_UNKNOWN_REQUEST,
                            "unknown request type %u", header->type);
    return;
  }
  if (conn->subscribed) {
    tessera_conn_send_error(conn, header->id, TPROTO_ERR_PROTOCOL,
                            "the connection is subscribed to events; open another one for %s",
                            tproto_type_name(header->type));
    return;
  }
  if (!conn->hello_done && header->type != TPROTO_HELLO) {
    tessera_conn_send_error(conn, header->id, TPROTO_ERR_HELLO_REQUIRED,
                            "send HELLO before %s", tproto_type_name(header->type));
    return;
  }
  handler(conn, header, body);
}

void requests_init(void)
{
  started_at = g_get_monotonic_time();
}
