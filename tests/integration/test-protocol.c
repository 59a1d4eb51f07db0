/* The agent's side of the wire protocol, spoken by raw socket clients:
 * framing limits, HELLO rules, unknown and malformed requests, random
 * frames, vanishing clients and pipelining. After each case a fresh,
 * well-behaved client must still be served correctly. */
#include "harness.h"

#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define IO_TIMEOUT_S 10

typedef struct {
  TestAgent *agent;
} Fixture;

typedef struct {
  uint8_t type;
  uint32_t id;
  GBytes *body; /* payload after the header */
} Frame;

static void frame_clear(Frame *f)
{
  g_clear_pointer(&f->body, g_bytes_unref);
}
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(Frame, frame_clear)
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(tproto_buf, tproto_buf_free)

static void setup(Fixture *f, gconstpointer data)
{
  f->agent = test_agent_start();
  /* Login state is the agent's: the health checks can sign from now on. */
  g_autoptr(tessera_client) c = test_connect(f->agent);
  test_login(c, TEST_TOKEN_1);
  test_login(c, TEST_TOKEN_2);
}

/* A fresh well-behaved client gets a correct STATUS and signature. */
static void assert_healthy(Fixture *f)
{
  g_autoptr(tessera_client) c = test_connect(f->agent);
  tessera_status st = { 0 };
  test_assert_rc(c, tessera_status_get(c, &st), TESSERA_OK);
  g_assert_cmpuint(st.pid, ==, (uint32_t)f->agent->pid);
  g_assert_cmpuint(st.n_tokens, ==, 2);
  g_assert_cmpuint(st.n_keys, ==, TEST_N_KEYS);
  tessera_status_clear(&st);
  test_sign_and_verify(c, "rsa2048", TPROTO_MECH_RSA_PKCS, TPROTO_HASH_SHA256);
  test_sign_and_verify(c, "p256-b", TPROTO_MECH_ECDSA, TPROTO_HASH_SHA256);
}

static void teardown(Fixture *f, gconstpointer data)
{
  assert_healthy(f);
  test_agent_stop(f->agent);
}

static int raw_connect(Fixture *f)
{
  int fd = test_socket_connect(f->agent->socket_path);
  g_assert_cmpint(fd, >=, 0);
  struct timeval tv = { .tv_sec = IO_TIMEOUT_S };
  g_assert_cmpint(setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)), ==, 0);
  return fd;
}

static void send_all(int fd, const void *p, size_t n)
{
  const guint8 *b = p;
  while (n > 0) {
    ssize_t w = send(fd, b, n, MSG_NOSIGNAL);
    if (w < 0 && errno == EINTR)
      continue;
    if (w < 0)
      g_error("send: %s", g_strerror(errno));
    b += w;
    n -= (size_t)w;
  }
}

static void send_buf(int fd, const tproto_buf *b)
{
  send_all(fd, b->data, b->len);
}

/* Reads n bytes; FALSE on a clean EOF or reset before the first byte. */
static gboolean read_exact(int fd, void *p, size_t n)
{
  guint8 *b = p;
  size_t got = 0;
  while (got < n) {
    ssize_t r = recv(fd, b + got, n - got, 0);
    if (r < 0 && errno == EINTR)
      continue;
    if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
      g_error("no reply from the agent within %d s", IO_TIMEOUT_S);
    if (r <= 0 && got == 0)
      return FALSE;
    if (r < 0)
      g_error("recv: %s", g_strerror(errno));
    if (r == 0)
      g_error("the agent closed the connection in the middle of a frame");
    got += (size_t)r;
  }
  return TRUE;
}

static gboolean read_frame(int fd, Frame *out)
{
  guint8 hdr[TPROTO_HEADER_LEN];
  if (!read_exact(fd, hdr, 4))
    return FALSE;
  g_assert_true(read_exact(fd, hdr + 4, TPROTO_HEADER_LEN - 4));
  uint32_t length = (uint32_t)hdr[0] << 24 | (uint32_t)hdr[1] << 16 | (uint32_t)hdr[2] << 8 | hdr[3];
  g_assert_cmpuint(length, >=, TPROTO_HEADER_LEN - 4);
  g_assert_cmpuint(length, <=, TPROTO_MAX_FRAME);
  size_t frame_len = 4 + (size_t)length;
  guint8 *frame = g_malloc(frame_len);
  memcpy(frame, hdr, sizeof(hdr));
  g_assert_true(read_exact(fd, frame + sizeof(hdr), frame_len - sizeof(hdr)));
  tproto_header h;
  tproto_buf body;
  g_assert_cmpint(tproto_frame_open(frame, frame_len, &h, &body), ==, TPROTO_OK);
  out->type = h.type;
  out->id = h.id;
  out->body = g_bytes_new(tproto_buf_read_ptr(&body), tproto_buf_remaining(&body));
  g_free(frame);
  return TRUE;
}

static void expect_frame(int fd, Frame *out)
{
  if (!read_frame(fd, out))
    g_error("the agent closed the connection instead of replying");
}

static void body_buf(const Frame *f, tproto_buf *b)
{
  gsize n = 0;
  const guint8 *p = g_bytes_get_data(f->body, &n);
  tproto_buf_init_const(b, p, n);
}

static void expect_error(int fd, uint32_t id, uint32_t code)
{
  g_auto(Frame) f = { 0 };
  expect_frame(fd, &f);
  g_assert_cmpuint(f.id, ==, id);
  if (f.type != TPROTO_R_ERROR)
    g_error("expected R_ERROR %s, got %s", tproto_error_name(code), tproto_type_name(f.type));
  tproto_buf b;
  body_buf(&f, &b);
  tproto_error e;
  g_assert_cmpint(tproto_dec_error(&b, &e), ==, TPROTO_OK);
  if (e.code != code)
    g_error("expected error %s, got %u (%s): %.*s", tproto_error_name(code), e.code,
            tproto_error_name(e.code), (int)e.message.len, (const char *)e.message.ptr);
  g_assert_cmpuint(e.message.len, >, 0);
}

static void expect_closed(int fd)
{
  g_auto(Frame) f = { 0 };
  if (read_frame(fd, &f))
    g_error("expected the agent to close the connection, got %s id %u",
            tproto_type_name(f.type), f.id);
}

static void send_hello_range(int fd, uint32_t id, uint32_t vmin, uint32_t vmax)
{
  /* By hand: the encoder refuses the malformed ranges tested here. */
  g_auto(tproto_buf) b;
  tproto_buf_init(&b);
  size_t start = 0;
  g_assert_cmpint(tproto_frame_begin(&b, TPROTO_HELLO, id, &start), ==, TPROTO_OK);
  g_assert_cmpint(tproto_put_u32(&b, vmin), ==, TPROTO_OK);
  g_assert_cmpint(tproto_put_u32(&b, vmax), ==, TPROTO_OK);
  g_assert_cmpint(tproto_put_text(&b, "raw-test"), ==, TPROTO_OK);
  g_assert_cmpint(tproto_put_u32(&b, 0), ==, TPROTO_OK); /* no options */
  g_assert_cmpint(tproto_frame_end(&b, start), ==, TPROTO_OK);
  send_buf(fd, &b);
}

static void expect_hello_reply(int fd, uint32_t id)
{
  g_auto(Frame) f = { 0 };
  expect_frame(fd, &f);
  g_assert_cmpuint(f.id, ==, id);
  g_assert_cmpuint(f.type, ==, TPROTO_R_HELLO);
  tproto_buf b;
  body_buf(&f, &b);
  tproto_hello_reply r;
  g_assert_cmpint(tproto_dec_hello_reply(&b, &r), ==, TPROTO_OK);
  g_assert_cmpuint(r.version, ==, TPROTO_VERSION);
  g_assert_cmpuint(r.max_frame, ==, TPROTO_MAX_FRAME);
  g_assert_true(r.capabilities & TPROTO_CAP_PIPELINE);
  g_assert_true(r.capabilities & TPROTO_CAP_SIGN);
}

/* A raw connection after a successful HELLO. */
static int raw_session(Fixture *f)
{
  int fd = raw_connect(f);
  send_hello_range(fd, 1, 1, 1);
  expect_hello_reply(fd, 1);
  return fd;
}

static void send_empty(int fd, uint8_t type, uint32_t id)
{
  g_auto(tproto_buf) b;
  tproto_buf_init(&b);
  g_assert_cmpint(tproto_enc_empty(&b, type, id), ==, TPROTO_OK);
  send_buf(fd, &b);
}

static void expect_status(int fd, uint32_t id, Fixture *f)
{
  g_auto(Frame) fr = { 0 };
  expect_frame(fd, &fr);
  g_assert_cmpuint(fr.id, ==, id);
  g_assert_cmpuint(fr.type, ==, TPROTO_R_STATUS);
  tproto_buf b;
  body_buf(&fr, &b);
  tproto_status st;
  g_assert_cmpint(tproto_dec_status(&b, &st), ==, TPROTO_OK);
  g_assert_cmpuint(st.pid, ==, (uint32_t)f->agent->pid);
}

/* A raw frame header: length, type, id. */
static void put_header(tproto_buf *b, uint32_t length, uint8_t type, uint32_t id)
{
  g_assert_cmpint(tproto_put_u32(b, length), ==, TPROTO_OK);
  g_assert_cmpint(tproto_put_u8(b, type), ==, TPROTO_OK);
  g_assert_cmpint(tproto_put_u32(b, id), ==, TPROTO_OK);
}

static void test_truncated(Fixture *f, gconstpointer data)
{
  /* Header promising 100 bytes, 20 sent, then gone; before and after HELLO. */
  for (int hello = 0; hello < 2; hello++) {
    int fd = hello ? raw_session(f) : raw_connect(f);
    g_auto(tproto_buf) b;
    tproto_buf_init(&b);
    put_header(&b, 100, TPROTO_SIGN, 5);
    guint8 junk[11] = { 0 };
    g_assert_cmpint(tproto_put(&b, junk, sizeof(junk)), ==, TPROTO_OK);
    send_buf(fd, &b);
    close(fd);
  }
  /* Half a length field. */
  int fd = raw_session(f);
  send_all(fd, "\0\0", 2);
  close(fd);
}

static void test_too_large(Fixture *f, gconstpointer data)
{
  int fd = raw_session(f);
  g_auto(tproto_buf) b;
  tproto_buf_init(&b);
  put_header(&b, TPROTO_MAX_FRAME + 1, TPROTO_SIGN, 9);
  send_buf(fd, &b);
  expect_error(fd, 0, TPROTO_ERR_FRAME_TOO_LARGE);
  expect_closed(fd);
  close(fd);

  /* Also before HELLO, with the largest possible length. */
  fd = raw_connect(f);
  tproto_buf_reset(&b);
  put_header(&b, UINT32_MAX, TPROTO_HELLO, 1);
  send_buf(fd, &b);
  expect_error(fd, 0, TPROTO_ERR_FRAME_TOO_LARGE);
  expect_closed(fd);
  close(fd);

  /* A length below the header size. */
  fd = raw_session(f);
  tproto_buf_reset(&b);
  put_header(&b, 4, TPROTO_STATUS, 2);
  send_buf(fd, &b);
  expect_error(fd, 0, TPROTO_ERR_PROTOCOL);
  expect_closed(fd);
  close(fd);
}

static void test_max_frame_ok(Fixture *f, gconstpointer data)
{
  /* A frame of exactly MAX_FRAME is read whole (its payload is malformed:
   * STATUS has none), answered, and the connection stays usable. */
  int fd = raw_session(f);
  g_auto(tproto_buf) b;
  tproto_buf_init(&b);
  put_header(&b, TPROTO_MAX_FRAME, TPROTO_STATUS, 3);
  send_buf(fd, &b);
  guint8 *zeros = g_malloc0(TPROTO_MAX_FRAME - 5);
  send_all(fd, zeros, TPROTO_MAX_FRAME - 5);
  g_free(zeros);
  expect_error(fd, 3, TPROTO_ERR_PROTOCOL);
  send_empty(fd, TPROTO_STATUS, 4);
  expect_status(fd, 4, f);
  close(fd);
}

static void test_unknown_request(Fixture *f, gconstpointer data)
{
  int fd = raw_session(f);
  const uint8_t types[] = { 0, 13, 42, 0x7f, TPROTO_R_DATA, TPROTO_R_ERROR, 0xff };
  for (size_t i = 0; i < G_N_ELEMENTS(types); i++) {
    g_auto(tproto_buf) b;
    tproto_buf_init(&b);
    put_header(&b, 5 + 3, types[i], 100 + (uint32_t)i);
    g_assert_cmpint(tproto_put(&b, "abc", 3), ==, TPROTO_OK);
    send_buf(fd, &b);
    expect_error(fd, 100 + (uint32_t)i, TPROTO_ERR_UNKNOWN_REQUEST);
  }
  /* The connection stays usable. */
  send_empty(fd, TPROTO_STATUS, 200);
  expect_status(fd, 200, f);
  close(fd);
}

static void test_malformed_payload(Fixture *f, gconstpointer data)
{
  int fd = raw_session(f);
  g_auto(tproto_buf) b;
  tproto_buf_init(&b);
  /* STATUS with a trailing byte. */
  put_header(&b, 6, TPROTO_STATUS, 7);
  g_assert_cmpint(tproto_put_u8(&b, 0), ==, TPROTO_OK);
  /* SIGN whose key text claims more bytes than the frame holds. */
  put_header(&b, 5 + 4, TPROTO_SIGN, 8);
  g_assert_cmpint(tproto_put_u32(&b, 1000), ==, TPROTO_OK);
  /* LIST_KEYS with a NUL inside its text. */
  put_header(&b, 5 + 4 + 3, TPROTO_LIST_KEYS, 9);
  g_assert_cmpint(tproto_put_bytes(&b, "a\0b", 3), ==, TPROTO_OK);
  send_buf(fd, &b);
  for (uint32_t id = 7; id <= 9; id++)
    expect_error(fd, id, TPROTO_ERR_PROTOCOL);
  send_empty(fd, TPROTO_STATUS, 10);
  expect_status(fd, 10, f);
  close(fd);
}

static void test_hello_required(Fixture *f, gconstpointer data)
{
  int fd = raw_connect(f);
  send_empty(fd, TPROTO_STATUS, 3);
  expect_error(fd, 3, TPROTO_ERR_HELLO_REQUIRED);
  send_empty(fd, TPROTO_LIST_TOKENS, 4);
  expect_error(fd, 4, TPROTO_ERR_HELLO_REQUIRED);
  /* Not carried out: a LOGOUT before HELLO leaves the tokens logged in. */
  g_auto(tproto_buf) b;
  tproto_buf_init(&b);
  g_assert_cmpint(tproto_enc_logout(&b, 5, tproto_str("")), ==, TPROTO_OK);
  send_buf(fd, &b);
  expect_error(fd, 5, TPROTO_ERR_HELLO_REQUIRED);
  /* The connection stays open for HELLO. */
  send_hello_range(fd, 6, 1, 1);
  expect_hello_reply(fd, 6);
  send_empty(fd, TPROTO_STATUS, 7);
  expect_status(fd, 7, f);
  close(fd);
  assert_healthy(f); /* still logged in: signs without a login */
}

static void test_version(Fixture *f, gconstpointer data)
{
  int fd = raw_connect(f);
  send_hello_range(fd, 1, 2, 5);
  expect_error(fd, 1, TPROTO_ERR_VERSION);
  expect_closed(fd);
  close(fd);

  /* min > max is malformed: PROTOCOL, then closed. */
  fd = raw_connect(f);
  send_hello_range(fd, 1, 3, 1);
  expect_error(fd, 1, TPROTO_ERR_PROTOCOL);
  expect_closed(fd);
  close(fd);

  /* A range including 1 chooses 1; a second HELLO is refused, the
   * session goes on. */
  fd = raw_connect(f);
  send_hello_range(fd, 1, 0, 5);
  expect_hello_reply(fd, 1);
  send_hello_range(fd, 2, 1, 1);
  expect_error(fd, 2, TPROTO_ERR_PROTOCOL);
  send_empty(fd, TPROTO_STATUS, 3);
  expect_status(fd, 3, f);
  close(fd);
}

/* The success reply of each request type. */
static uint8_t success_type(uint8_t request)
{
  switch (request) {
  case TPROTO_HELLO:
    return TPROTO_R_HELLO;
  case TPROTO_STATUS:
    return TPROTO_R_STATUS;
  case TPROTO_LIST_TOKENS:
    return TPROTO_R_TOKENS;
  case TPROTO_LIST_KEYS:
    return TPROTO_R_KEYS;
  case TPROTO_SIGN:
  case TPROTO_DECRYPT:
  case TPROTO_DERIVE:
    return TPROTO_R_DATA;
  case TPROTO_LOGIN:
  case TPROTO_LOGOUT:
    return TPROTO_R_OK;
  default:
    return TPROTO_R_ERROR;
  }
}

static void test_random_frames(Fixture *f, gconstpointer data)
{
  g_autoptr(GRand) rng = g_rand_new_with_seed(20240611);
  /* Well-framed requests with random types and payloads: each gets
   * exactly one reply with its id, R_ERROR or the type's success reply. */
  int fd = raw_session(f);
  for (uint32_t i = 0; i < 200; i++) {
    uint8_t type = g_rand_boolean(rng) ? (uint8_t)g_rand_int_range(rng, 2, 10)
                                       : (uint8_t)g_rand_int_range(rng, 0, 256);
    guint8 payload[64];
    size_t n = (size_t)g_rand_int_range(rng, 0, sizeof(payload) + 1);
    for (size_t j = 0; j < n; j++)
      payload[j] = (guint8)g_rand_int_range(rng, 0, 256);
    /* Sometimes a plausible start: a short text length. */
    if (n >= 4 && g_rand_boolean(rng))
      payload[0] = payload[1] = payload[2] = 0;
    uint32_t id = 1000 + i;
    g_auto(tproto_buf) b;
    tproto_buf_init(&b);
    put_header(&b, 5 + (uint32_t)n, type, id);
    g_assert_cmpint(tproto_put(&b, payload, n), ==, TPROTO_OK);
    send_buf(fd, &b);
    g_auto(Frame) reply = { 0 };
    expect_frame(fd, &reply);
    g_assert_cmpuint(reply.id, ==, id);
    if (reply.type != TPROTO_R_ERROR && reply.type != success_type(type))
      g_error("frame %u (type %u): reply %s", i, type, tproto_type_name(reply.type));
  }
  send_empty(fd, TPROTO_STATUS, 1);
  expect_status(fd, 1, f);
  close(fd);

  /* Random bytes, framing included, each on a fresh connection; the agent
   * answers or hangs up as it likes, but must survive. */
  for (int i = 0; i < 50; i++) {
    fd = raw_connect(f);
    guint8 junk[256];
    size_t n = (size_t)g_rand_int_range(rng, 1, sizeof(junk) + 1);
    for (size_t j = 0; j < n; j++)
      junk[j] = (guint8)g_rand_int_range(rng, 0, 256);
    if (i % 2)
      junk[0] = 0; /* lengths below 16 MiB: more frames get past the length check */
    send_all(fd, junk, n);
    close(fd);
  }
  /* Make sure the agent has handled them all before the health check. */
  fd = raw_session(f);
  send_empty(fd, TPROTO_STATUS, 2);
  expect_status(fd, 2, f);
  close(fd);
}

static void encode_sign(tproto_buf *b, uint32_t id, const char *key, GBytes *digest_info)
{
  tproto_sign s = {
    .key = tproto_str(key),
    .mech = TPROTO_MECH_RSA_PKCS,
    .data = tproto_mem(g_bytes_get_data(digest_info, NULL), g_bytes_get_size(digest_info)),
  };
  g_assert_cmpint(tproto_enc_sign(b, id, &s), ==, TPROTO_OK);
}

static void test_vanishing_client(Fixture *f, gconstpointer data)
{
  g_autoptr(GBytes) digest = test_digest(TPROTO_HASH_SHA256, "gone", 4);
  g_autoptr(GBytes) info = test_digest_info(TPROTO_HASH_SHA256, digest);
  for (int i = 0; i < 20; i++) {
    int fd = raw_session(f);
    g_auto(tproto_buf) b;
    tproto_buf_init(&b);
    /* Several slow signatures queued, then the client is gone. */
    for (uint32_t id = 1; id <= 4; id++)
      encode_sign(&b, id, i % 2 ? "rsa3072" : "rsa2048-b", info);
    send_buf(fd, &b);
    if (i % 4 == 0)
      shutdown(fd, SHUT_WR);
    close(fd);
  }
}

static void test_pipelining(Fixture *f, gconstpointer data)
{
  g_autoptr(GBytes) digest = test_digest(TPROTO_HASH_SHA256, "pipelined", 9);
  g_autoptr(GBytes) info = test_digest_info(TPROTO_HASH_SHA256, digest);
  int fd = raw_session(f);
  g_auto(tproto_buf) b;
  tproto_buf_init(&b);
  encode_sign(&b, 11, "rsa3072", info);
  g_assert_cmpint(tproto_enc_empty(&b, TPROTO_STATUS, 12), ==, TPROTO_OK);
  g_assert_cmpint(tproto_enc_empty(&b, TPROTO_LIST_TOKENS, 13), ==, TPROTO_OK);
  send_buf(fd, &b); /* one write: all three back to back */

  gboolean seen[3] = { FALSE, FALSE, FALSE };
  for (int i = 0; i < 3; i++) {
    g_auto(Frame) r = { 0 };
    expect_frame(fd, &r);
    g_assert_cmpuint(r.id, >=, 11);
    g_assert_cmpuint(r.id, <=, 13);
    g_assert_false(seen[r.id - 11]);
    seen[r.id - 11] = TRUE;
    tproto_buf body;
    body_buf(&r, &body);
    if (r.id == 11) {
      g_assert_cmpuint(r.type, ==, TPROTO_R_DATA);
      tproto_bytes sig;
      g_assert_cmpint(tproto_dec_data(&body, &sig), ==, TPROTO_OK);
      g_autoptr(EVP_PKEY) pub = test_cert_pubkey("rsa3072");
      g_assert_true(test_verify(pub, TPROTO_MECH_RSA_PKCS, TPROTO_HASH_SHA256, digest, sig.ptr,
                                sig.len));
    } else if (r.id == 12) {
      g_assert_cmpuint(r.type, ==, TPROTO_R_STATUS);
      tproto_status st;
      g_assert_cmpint(tproto_dec_status(&body, &st), ==, TPROTO_OK);
      g_assert_cmpuint(st.n_keys, ==, TEST_N_KEYS);
    } else {
      g_assert_cmpuint(r.type, ==, TPROTO_R_TOKENS);
      uint32_t n = 0;
      g_assert_cmpint(tproto_dec_list_count(&body, TPROTO_TOKEN_MIN_LEN, &n), ==, TPROTO_OK);
      g_assert_cmpuint(n, ==, 2);
    }
  }

  /* Many requests over both tokens at once: every id answered once. */
  enum { N = 64 };
  tproto_buf_reset(&b);
  for (uint32_t id = 1; id <= N; id++)
    encode_sign(&b, id, id % 2 ? "rsa2048" : "rsa2048-b", info);
  send_buf(fd, &b);
  g_autoptr(EVP_PKEY) pub1 = test_cert_pubkey("rsa2048");
  g_autoptr(EVP_PKEY) pub2 = test_cert_pubkey("rsa2048-b");
  gboolean answered[N + 1] = { FALSE };
  for (int i = 0; i < N; i++) {
    g_auto(Frame) r = { 0 };
    expect_frame(fd, &r);
    g_assert_cmpuint(r.id, >=, 1);
    g_assert_cmpuint(r.id, <=, N);
    g_assert_false(answered[r.id]);
    answered[r.id] = TRUE;
    g_assert_cmpuint(r.type, ==, TPROTO_R_DATA);
    tproto_buf body;
    body_buf(&r, &body);
    tproto_bytes sig;
    g_assert_cmpint(tproto_dec_data(&body, &sig), ==, TPROTO_OK);
    g_assert_true(test_verify(r.id % 2 ? pub1 : pub2, TPROTO_MECH_RSA_PKCS, TPROTO_HASH_SHA256,
                              digest, sig.ptr, sig.len));
  }
  close(fd);
}

/* LOGOUT of every token is one job per token, so a pipelined burst puts a
 * connection past its in-flight limit often; reading must resume each time
 * (it once stalled for good after 33 of these). */
static void test_pipelined_logout_all(Fixture *f, gconstpointer data)
{
  enum { N = 400 };
  int fd = raw_session(f);
  g_auto(tproto_buf) b;
  tproto_buf_init(&b);
  for (uint32_t id = 1; id <= N; id++)
    g_assert_cmpint(tproto_enc_logout(&b, id, tproto_str("")), ==, TPROTO_OK);
  send_buf(fd, &b);
  gboolean answered[N + 1] = { FALSE };
  for (int i = 0; i < N; i++) {
    g_auto(Frame) r = { 0 };
    expect_frame(fd, &r);
    g_assert_cmpuint(r.type, ==, TPROTO_R_OK);
    g_assert_cmpuint(r.id, >=, 1);
    g_assert_cmpuint(r.id, <=, N);
    g_assert_false(answered[r.id]);
    answered[r.id] = TRUE;
  }
  close(fd);
  /* The health check at teardown signs. */
  g_autoptr(tessera_client) c = test_connect(f->agent);
  test_login(c, TEST_TOKEN_1);
  test_login(c, TEST_TOKEN_2);
}

int main(int argc, char **argv)
{
  harness_init(&argc, &argv);
#define ADD(path, fn) g_test_add("/protocol/" path, Fixture, NULL, setup, fn, teardown)
  ADD("truncated", test_truncated);
  ADD("too-large", test_too_large);
  ADD("max-frame", test_max_frame_ok);
  ADD("unknown-request", test_unknown_request);
  ADD("malformed-payload", test_malformed_payload);
  ADD("hello-required", test_hello_required);
  ADD("version", test_version);
  ADD("random-frames", test_random_frames);
  ADD("vanishing-client", test_vanishing_client);
  ADD("pipelining", test_pipelining);
  ADD("pipelined-logout-all", test_pipelined_logout_all);
  return harness_run();
}
