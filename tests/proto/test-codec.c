/* tessera tests — bounded buffer and wire codec (proto/).
 *
 * Every message type is encoded, framed, decoded and compared field by
 * field, then encoded again from the decoded views and compared byte for
 * byte. The malformed-input cases check that the decoders refuse, never
 * read out of bounds (run under ASan in CI) and leave state as documented.
 */
#include "any-message.h"
#include "messages.h"

#include <glib.h>
#include <string.h>

/* ---- helpers ---- */

static void assert_bytes_eq(tproto_bytes v, const void *p, size_t n)
{
  g_assert_cmpmem(v.ptr, v.len, p, n);
}

/* Opens the single frame b holds, checking peek and header. */
static void open_single(const tproto_buf *b, tproto_header *h, tproto_buf *body)
{
  size_t frame_len = 0;
  g_assert_cmpint(tproto_frame_peek(b->data, b->len, &frame_len), ==, 1);
  g_assert_cmpuint(frame_len, ==, b->len);
  g_assert_cmpint(tproto_frame_open(b->data, b->len, h, body), ==, TPROTO_OK);
}

/* Decodes a frame as the type its header names. */
static int decode_frame(const uint8_t *frame, size_t len, any_message *m)
{
  tproto_buf body;
  int r = tproto_frame_open(frame, len, &m->header, &body);
  if (r < 0)
    return r;
  return any_message_decode(m->header.type, &body, m);
}

/* Builds a frame around a hand-made body (for input encoders refuse). */
static void frame_raw(tproto_buf *out, uint8_t type, uint32_t id, const tproto_buf *body)
{
  size_t start;
  g_assert_cmpint(tproto_frame_begin(out, type, id, &start), ==, TPROTO_OK);
  g_assert_cmpint(tproto_put(out, body->data, body->len), ==, TPROTO_OK);
  g_assert_cmpint(tproto_frame_end(out, start), ==, TPROTO_OK);
}

static int decode_raw(uint8_t type, const tproto_buf *body)
{
  tproto_buf frame;
  tproto_buf_init(&frame);
  frame_raw(&frame, type, 7, body);
  any_message m;
  int r = decode_frame(frame.data, frame.len, &m);
  if (r == TPROTO_OK)
    any_message_clear(&m);
  tproto_buf_free(&frame);
  return r;
}

/* Encoding must fail with `expect` and leave b byte-for-byte as it was. */
static void assert_encode_fails_unchanged(tproto_buf *b, const any_message *m, int expect)
{
  size_t len = b->len;
  g_autofree uint8_t *before = g_memdup2(b->data, len);
  g_assert_cmpint(any_message_encode(b, m), ==, expect);
  g_assert_cmpmem(b->data, b->len, before, len);
}

/* ---- sample messages, one or more per type ---- */

static const uint8_t digest32[32] = { 0x9f, 0x86, 0xd0, 0x81, 0x88, 0x4c, 0x7d, 0x65,
                                      0x9a, 0x2f, 0xea, 0xa0, 0xc5, 0x5a, 0xd0, 0x15,
                                      0xa3, 0xbf, 0x4f, 0x1b, 0x2b, 0x0b, 0x82, 0x2c,
                                      0xd1, 0x5d, 0x6c, 0x15, 0xb0, 0xf0, 0x0a, 0x08 };
static uint8_t blob256[256];
static uint8_t point65[65];
static const uint8_t pin_bytes[] = "123456";

static tproto_token sample_tokens[2];
static tproto_key sample_keys[2];

#define KEY_URI "pkcs11:token=tessera-test-1;serial=9f3c2a;id=%01;type=private"
#define TOKEN_URI "pkcs11:token=tessera-test-1;serial=9f3c2a"

static void init_sample_data(void)
{
  for (size_t i = 0; i < sizeof(blob256); i++)
    blob256[i] = (uint8_t)(255 - i);
  point65[0] = 0x04;
  for (size_t i = 1; i < sizeof(point65); i++)
    point65[i] = (uint8_t)(i * 7);

  sample_tokens[0] = (tproto_token){ .id = tproto_str(TOKEN_URI),
                                     .label = tproto_str("tessera-test-1"),
                                     .manufacturer = tproto_str("SoftHSM project"),
                                     .model = tproto_str("SoftHSM v2"),
                                     .serial = tproto_str("9f3c2a"),
                                     .module = tproto_str("/usr/lib/softhsm/libsofthsm2.so"),
                                     .flags = TPROTO_TOKEN_PRESENT | TPROTO_TOKEN_LOGIN_REQUIRED |
                                              TPROTO_TOKEN_LOGGED_IN,
                                     .n_keys = 4, .login_ends_s = 600 };
  sample_tokens[1] = (tproto_token){ .id = tproto_str("pkcs11:token=Karte%20%C3%A4"),
                                     .label = tproto_str("Karte \xc3\xa4"),
                                     .flags = TPROTO_TOKEN_PIN_LOCKED,
                                     .n_keys = 0 };
  sample_keys[0] = (tproto_key){ .id = tproto_str(KEY_URI),
                                 .label = tproto_str("rsa2048"),
                                 .token_id = tproto_str(TOKEN_URI),
                                 .key_type = TPROTO_KEY_RSA,
                                 .bits = 2048,
                                 .ops = TPROTO_OP_SIGN | TPROTO_OP_DECRYPT,
                                 .flags = TPROTO_KEY_HAS_CERT | TPROTO_KEY_AVAILABLE,
                                 .cert = tproto_mem(blob256, sizeof(blob256)),
                                 .spki = tproto_mem(blob256, 128) };
  sample_keys[1] = (tproto_key){ .id = tproto_str(TOKEN_URI ";id=%03;type=private"),
                                 .label = tproto_str("p256 \xf0\x9f\x94\x91"),
                                 .token_id = tproto_str(TOKEN_URI),
                                 .key_type = TPROTO_KEY_EC,
                                 .bits = 256,
                                 .ops = TPROTO_OP_SIGN | TPROTO_OP_DERIVE,
                                 .flags = TPROTO_KEY_ALWAYS_AUTH };
}

/* Fills out[] with samples covering every type; returns how many. */
static size_t make_samples(any_message *out, size_t max)
{
  size_t n = 0;
  any_message m;

#define ADD(type_, id_)                                                                            \
  do {                                                                                             \
    m.header.type = (type_);                                                                       \
    m.header.id = (id_);                                                                           \
    g_assert_cmpuint(n, <, max);                                                                   \
    out[n++] = m;                                                                                  \
    memset(&m, 0, sizeof(m));                                                                      \
  } while (0)

  memset(&m, 0, sizeof(m));
  m.u.hello = (tproto_hello){ .version_min = 1, .version_max = 3,
                              .client_name = tproto_str("tessera \xe2\x9c\x93"), .n_options = 3 };
  m.u.hello.option_keys[0] = tproto_str("DISPLAY");
  m.u.hello.option_values[0] = tproto_str(":0");
  m.u.hello.option_keys[1] = tproto_str("TERM");
  m.u.hello.option_values[1] = tproto_str("xterm-256color");
  m.u.hello.option_keys[2] = tproto_str("EMPTY");
  m.u.hello.option_values[2] = tproto_str("");
  ADD(TPROTO_HELLO, 0);
  m.u.hello = (tproto_hello){ .version_min = 1, .version_max = 1 };
  ADD(TPROTO_HELLO, 1);
  ADD(TPROTO_STATUS, 2);
  ADD(TPROTO_LIST_TOKENS, 3);
  m.u.token = tproto_str(TOKEN_URI);
  ADD(TPROTO_LIST_KEYS, 4);
  m.u.token = tproto_str("");
  ADD(TPROTO_LIST_KEYS, 5);
  m.u.sign = (tproto_sign){ .key = tproto_str(KEY_URI), .mech = TPROTO_MECH_RSA_PSS,
                            .hash = TPROTO_HASH_SHA256, .mgf_hash = TPROTO_HASH_SHA256,
                            .salt_len = 32, .data = tproto_mem(digest32, sizeof(digest32)) };
  ADD(TPROTO_SIGN, 6);
  m.u.sign = (tproto_sign){ .key = tproto_str("p256"), .mech = TPROTO_MECH_ECDSA,
                            .data = tproto_mem(digest32, sizeof(digest32)) };
  ADD(TPROTO_SIGN, 0x7fffffff);
  m.u.decrypt = (tproto_decrypt){ .key = tproto_str("rsa2048"), .mech = TPROTO_MECH_RSA_OAEP,
                                  .hash = TPROTO_HASH_SHA384, .mgf_hash = TPROTO_HASH_SHA1,
                                  .label = tproto_mem("label", 5),
                                  .data = tproto_mem(blob256, sizeof(blob256)) };
  ADD(TPROTO_DECRYPT, 8);
  m.u.derive = (tproto_derive){ .key = tproto_str("p256"), .mech = TPROTO_MECH_ECDH,
                                .peer = tproto_mem(point65, sizeof(point65)) };
  ADD(TPROTO_DERIVE, 9);
  m.u.login = (tproto_login){ .token = tproto_str("tessera-test-1"),
                              .pin = tproto_mem(pin_bytes, sizeof(pin_bytes) - 1) };
  ADD(TPROTO_LOGIN, 10);
  m.u.token = tproto_str("");
  ADD(TPROTO_LOGOUT, 11);
  m.u.token = tproto_str("9f3c2a");
  ADD(TPROTO_LOGOUT, 12);
  m.u.token = tproto_str("pkcs11:token=tessera-test-1;id=%03");
  ADD(TPROTO_FIND_KEY, 23);
  ADD(TPROTO_SUBSCRIBE, 24);
  ADD(TPROTO_LIST_READERS, 25);
  static const uint8_t atr[] = { 0x3b, 0x8f, 0x80, 0x01, 0x80, 0x4f, 0x0c, 0xa0 };
  static tproto_reader readers[2];
  readers[0] = (tproto_reader){ tproto_str("Virtual PCD 00 00"), TPROTO_READER_CARD_PRESENT,
                                tproto_mem(atr, sizeof(atr)) };
  readers[1] = (tproto_reader){ tproto_str("Virtual PCD 00 01"), 0, tproto_mem(NULL, 0) };
  m.u.readers.items = readers;
  m.u.readers.n = 2;
  ADD(TPROTO_R_READERS, 26);
  m.u.event = (tproto_event){ TPROTO_EVENT_KEY_AVAILABLE, tproto_str(""), tproto_str(TOKEN_URI),
                              tproto_str(KEY_URI) };
  ADD(TPROTO_R_EVENT, 24);
  m.u.event = (tproto_event){ TPROTO_EVENT_CARD_INSERTED, tproto_str("Virtual PCD 00 00"),
                              tproto_str(""), tproto_str("") };
  ADD(TPROTO_R_EVENT, 24);
  m.u.error = (tproto_error){ .code = TPROTO_ERR_NO_SUCH_KEY,
                              .message = tproto_str("no key matches \"nope\"") };
  ADD(TPROTO_R_ERROR, 13);
  m.u.error = (tproto_error){ .code = 0xdeadbeef, .message = tproto_str("") };
  ADD(TPROTO_R_ERROR, 14);
  m.u.hello_reply = (tproto_hello_reply){ .version = 1, .agent_name = tproto_str("tessera-agent 0.1.0"),
                                          .capabilities = TPROTO_CAP_SIGN | TPROTO_CAP_PIPELINE,
                                          .max_frame = TPROTO_MAX_FRAME };
  ADD(TPROTO_R_HELLO, 15);
  m.u.status = (tproto_status){ .agent_version = tproto_str("0.1.0"), .pid = 4242,
                                .uptime_s = ((uint64_t)1 << 40) + 5, .n_clients = 3,
                                .n_tokens = 2, .n_keys = 6 };
  ADD(TPROTO_R_STATUS, 16);
  m.u.tokens.items = sample_tokens;
  m.u.tokens.n = 2;
  ADD(TPROTO_R_TOKENS, 17);
  ADD(TPROTO_R_TOKENS, 18); /* empty list */
  m.u.keys.items = sample_keys;
  m.u.keys.n = 2;
  ADD(TPROTO_R_KEYS, 19);
  ADD(TPROTO_R_KEYS, 20);
  m.u.data = tproto_mem(blob256, sizeof(blob256));
  ADD(TPROTO_R_DATA, 21);
  m.u.data = tproto_mem(NULL, 0);
  ADD(TPROTO_R_DATA, 22);
  ADD(TPROTO_R_OK, UINT32_MAX);
#undef ADD
  return n;
}

#define MAX_SAMPLES 40

/* Encodes sample i alone into a fresh buffer. */
static void encode_sample(const any_message *m, tproto_buf *b)
{
  tproto_buf_init(b);
  g_assert_cmpint(any_message_encode(b, m), ==, TPROTO_OK);
}

/* ---- buffer ---- */

static void test_buf_put_get(void)
{
  tproto_buf b;
  tproto_buf_init(&b);
  g_assert_cmpint(tproto_put_u8(&b, 0xab), ==, TPROTO_OK);
  g_assert_cmpint(tproto_put_u32(&b, 0x01020304), ==, TPROTO_OK);
  g_assert_cmpint(tproto_put_u64(&b, 0x1122334455667788ull), ==, TPROTO_OK);
  g_assert_cmpint(tproto_put_bytes(&b, "xyz", 3), ==, TPROTO_OK);
  g_assert_cmpint(tproto_put_text(&b, NULL), ==, TPROTO_OK);
  g_assert_cmpint(tproto_put_view(&b, tproto_str("h\xc3\xa9")), ==, TPROTO_OK);

  static const uint8_t expect[] = { 0xab, 1, 2, 3, 4, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77,
                                    0x88, 0, 0, 0, 3, 'x', 'y', 'z', 0, 0, 0, 0, 0, 0, 0, 3,
                                    'h', 0xc3, 0xa9 };
  g_assert_cmpmem(b.data, b.len, expect, sizeof(expect)); /* big-endian everywhere */

  uint8_t u8;
  uint32_t u32;
  uint64_t u64;
  tproto_bytes v;
  g_assert_cmpint(tproto_get_u8(&b, &u8), ==, TPROTO_OK);
  g_assert_cmpuint(u8, ==, 0xab);
  g_assert_cmpint(tproto_get_u32(&b, &u32), ==, TPROTO_OK);
  g_assert_cmphex(u32, ==, 0x01020304);
  g_assert_cmpint(tproto_get_u64(&b, &u64), ==, TPROTO_OK);
  g_assert_cmphex(u64, ==, 0x1122334455667788ull);
  g_assert_cmpint(tproto_get_bytes(&b, 3, &v), ==, TPROTO_OK);
  assert_bytes_eq(v, "xyz", 3);
  g_assert_cmpint(tproto_get_text(&b, 0, &v), ==, TPROTO_OK);
  g_assert_nonnull(v.ptr); /* empty views still point somewhere */
  g_assert_cmpuint(v.len, ==, 0);
  g_assert_cmpint(tproto_get_text(&b, 16, &v), ==, TPROTO_OK);
  assert_bytes_eq(v, "h\xc3\xa9", 3);
  g_assert_cmpuint(tproto_buf_remaining(&b), ==, 0);
  tproto_buf_free(&b);
  g_assert_null(b.data);
}

static void test_buf_get_past_end(void)
{
  static const uint8_t data[] = { 0, 0, 0, 5, 'a', 'b', 'c' };
  tproto_buf b;
  uint8_t u8;
  uint32_t u32;
  uint64_t u64;
  tproto_bytes v;
  for (size_t len = 0; len <= sizeof(data); len++) {
    tproto_buf_init_const(&b, data, len);
    if (len < 8) {
      g_assert_cmpint(tproto_get_u64(&b, &u64), ==, TPROTO_E_TRUNCATED);
      g_assert_cmpuint(b.off, ==, 0);
    }
    if (len < 4) {
      g_assert_cmpint(tproto_get_u32(&b, &u32), ==, TPROTO_E_TRUNCATED);
      g_assert_cmpuint(b.off, ==, 0);
    }
    /* The length prefix promises 5 bytes; 3 are there at most. */
    g_assert_cmpint(tproto_get_bytes(&b, 100, &v), ==, TPROTO_E_TRUNCATED);
    g_assert_cmpuint(b.off, ==, 0);
    g_assert_cmpint(tproto_get_text(&b, 100, &v), ==, TPROTO_E_TRUNCATED);
    g_assert_cmpuint(b.off, ==, 0);
  }
  tproto_buf_init_const(&b, data, 0);
  g_assert_cmpint(tproto_get_u8(&b, &u8), ==, TPROTO_E_TRUNCATED);

  /* Over the caller's limit: refused before looking at the bytes. */
  tproto_buf_init_const(&b, data, sizeof(data));
  g_assert_cmpint(tproto_get_bytes(&b, 4, &v), ==, TPROTO_E_TOO_LARGE);
  g_assert_cmpuint(b.off, ==, 0);

  static const uint8_t huge[] = { 0xff, 0xff, 0xff, 0xff, 'a' };
  tproto_buf_init_const(&b, huge, sizeof(huge));
  g_assert_cmpint(tproto_get_bytes(&b, SIZE_MAX, &v), ==, TPROTO_E_TRUNCATED);
  g_assert_cmpuint(b.off, ==, 0);
}

static void test_buf_limit(void)
{
  tproto_buf b;
  tproto_buf_init(&b);
  b.max = 12;
  g_assert_cmpint(tproto_put(&b, "0123456789", 10), ==, TPROTO_OK);
  /* Each failing put leaves the buffer exactly as it was. */
  g_assert_cmpint(tproto_put(&b, "abc", 3), ==, TPROTO_E_TOO_LARGE);
  g_assert_cmpint(tproto_put_u32(&b, 1), ==, TPROTO_E_TOO_LARGE);
  g_assert_cmpint(tproto_put_u64(&b, 1), ==, TPROTO_E_TOO_LARGE);
  g_assert_cmpint(tproto_put_bytes(&b, "", 0), ==, TPROTO_E_TOO_LARGE);
  g_assert_cmpint(tproto_put(&b, "x", SIZE_MAX), ==, TPROTO_E_TOO_LARGE);
  g_assert_cmpmem(b.data, b.len, "0123456789", 10);
  g_assert_cmpint(tproto_put(&b, "ab", 2), ==, TPROTO_OK);
  g_assert_cmpuint(b.len, ==, 12);
  tproto_buf_free(&b);

  /* A u64 that only half fits is not half written. */
  tproto_buf_init(&b);
  b.max = 12;
  g_assert_cmpint(tproto_put(&b, "012345", 6), ==, TPROTO_OK);
  g_assert_cmpint(tproto_put_u64(&b, UINT64_MAX), ==, TPROTO_E_TOO_LARGE);
  g_assert_cmpuint(b.len, ==, 6);
  tproto_buf_free(&b);

  /* Default limit: one maximal frame. */
  tproto_buf_init(&b);
  g_assert_cmpint(tproto_put_bytes(&b, NULL, (size_t)UINT32_MAX + 1), ==, TPROTO_E_TOO_LARGE);
  g_assert_cmpuint(b.len, ==, 0);
  tproto_buf_free(&b);
}

static void test_buf_growth(void)
{
  tproto_buf b;
  tproto_buf_init(&b);
  for (uint32_t i = 0; i < 5000; i++)
    g_assert_cmpint(tproto_put_u32(&b, i), ==, TPROTO_OK);
  g_assert_cmpuint(b.len, ==, 20000);
  g_assert_cmpuint(b.cap, >=, b.len);
  for (uint32_t i = 0; i < 5000; i++) {
    uint32_t v;
    g_assert_cmpint(tproto_get_u32(&b, &v), ==, TPROTO_OK);
    g_assert_cmpuint(v, ==, i);
  }
  tproto_buf_free(&b);
}

static void test_buf_borrowed(void)
{
  static const uint8_t data[] = { 1, 2, 3, 4, 5, 6 };
  tproto_buf b;
  tproto_buf_init_const(&b, data, sizeof(data));
  g_assert_cmpint(tproto_put_u8(&b, 9), ==, TPROTO_E_INVALID);
  g_assert_cmpint(tproto_poke_u32(&b, 0, 9), ==, TPROTO_E_INVALID);
  size_t start;
  g_assert_cmpint(tproto_frame_begin(&b, TPROTO_R_OK, 1, &start), ==, TPROTO_E_INVALID);
  g_assert_cmpuint(b.len, ==, sizeof(data));
  g_assert_true(tproto_buf_read_ptr(&b) == data);
  tproto_buf_consume(&b, 2); /* borrowed: only the offset moves */
  g_assert_true(tproto_buf_read_ptr(&b) == data + 2);
  g_assert_cmpuint(tproto_buf_remaining(&b), ==, 4);
  tproto_buf_free(&b); /* must not free the borrowed bytes */
  g_assert_null(b.data);
  g_assert_cmpmem(data, 2, "\x01\x02", 2);
}

static void test_buf_consume(void)
{
  tproto_buf b;
  tproto_buf_init(&b);
  g_assert_nonnull(tproto_buf_read_ptr(&b));
  g_assert_cmpuint(tproto_buf_remaining(&b), ==, 0);
  tproto_buf_consume(&b, 5); /* nothing there: a no-op */
  g_assert_cmpuint(b.len, ==, 0);

  g_assert_cmpint(tproto_put(&b, "abcdefgh", 8), ==, TPROTO_OK);
  uint8_t c;
  g_assert_cmpint(tproto_get_u8(&b, &c), ==, TPROTO_OK);
  /* Drops the byte read plus the two skipped ones, and wipes the tail. */
  tproto_buf_consume(&b, 2);
  g_assert_cmpuint(b.off, ==, 0);
  g_assert_cmpmem(b.data, b.len, "defgh", 5);
  for (size_t i = b.len; i < 8; i++)
    g_assert_cmpuint(b.data[i], ==, 0);
  g_assert_cmpmem(tproto_buf_read_ptr(&b), tproto_buf_remaining(&b), "defgh", 5);

  tproto_buf_consume(&b, 100); /* more than there is: empties it */
  g_assert_cmpuint(b.len, ==, 0);
  g_assert_cmpuint(b.off, ==, 0);
  g_assert_cmpint(tproto_put(&b, "z", 1), ==, TPROTO_OK);
  g_assert_cmpmem(b.data, b.len, "z", 1);

  tproto_buf_reset(&b);
  g_assert_cmpuint(b.len, ==, 0);
  g_assert_cmpuint(b.data[0], ==, 0); /* reset wipes */
  tproto_buf_free(&b);
}

static void test_buf_poke(void)
{
  tproto_buf b;
  tproto_buf_init(&b);
  g_assert_cmpint(tproto_poke_u32(&b, 0, 1), ==, TPROTO_E_INVALID);
  g_assert_cmpint(tproto_put(&b, "\0\0\0\0\0\0", 6), ==, TPROTO_OK);
  g_assert_cmpint(tproto_poke_u32(&b, 2, 0xa1b2c3d4), ==, TPROTO_OK);
  g_assert_cmpmem(b.data, b.len, "\0\0\xa1\xb2\xc3\xd4", 6);
  g_assert_cmpint(tproto_poke_u32(&b, 0, 0x01020304), ==, TPROTO_OK);
  g_assert_cmpmem(b.data, b.len, "\x01\x02\x03\x04\xc3\xd4", 6);
  /* Pokes never write past len, whatever the capacity. */
  g_assert_cmpint(tproto_poke_u32(&b, 3, 0), ==, TPROTO_E_INVALID);
  g_assert_cmpint(tproto_poke_u32(&b, 6, 0), ==, TPROTO_E_INVALID);
  g_assert_cmpint(tproto_poke_u32(&b, 7, 0), ==, TPROTO_E_INVALID);
  g_assert_cmpint(tproto_poke_u32(&b, SIZE_MAX, 0), ==, TPROTO_E_INVALID);
  g_assert_cmpint(tproto_poke_u32(&b, SIZE_MAX - 2, 0), ==, TPROTO_E_INVALID);
  g_assert_cmpmem(b.data, b.len, "\x01\x02\x03\x04\xc3\xd4", 6);
  tproto_buf_free(&b);
}

static int get_text_of(const char *s, size_t n)
{
  tproto_buf b;
  tproto_buf_init(&b);
  g_assert_cmpint(tproto_put_bytes(&b, s, n), ==, TPROTO_OK);
  tproto_bytes v;
  int r = tproto_get_text(&b, 64, &v);
  if (r == TPROTO_OK)
    assert_bytes_eq(v, s, n);
  else
    g_assert_cmpuint(b.off, ==, 0);
  tproto_buf_free(&b);
  return r;
}

static void test_buf_text(void)
{
  static const char *valid[] = {
    "", "plain ascii", "\xc2\x80", "\xdf\xbf", "\xe0\xa0\x80", "\xed\x9f\xbf", "\xee\x80\x80",
    "\xef\xbf\xbf", "\xf0\x90\x80\x80", "\xf4\x8f\xbf\xbf", "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x94\x91",
  };
  for (size_t i = 0; i < G_N_ELEMENTS(valid); i++)
    g_assert_cmpint(get_text_of(valid[i], strlen(valid[i])), ==, TPROTO_OK);

  static const struct {
    const char *s;
    size_t n;
  } invalid[] = {
    { "a\0b", 3 },                /* embedded NUL */
    { "\0", 1 },
    { "\x80", 1 },                /* lone continuation */
    { "\xc3", 1 },                /* sequence cut short */
    { "\xe2\x82", 2 },
    { "\xf0\x9f\x94", 3 },
    { "\xc3\x28", 2 },            /* bad continuation */
    { "\xc0\x80", 2 },            /* overlong NUL */
    { "\xc1\xbf", 2 },            /* overlong */
    { "\xe0\x9f\xbf", 3 },
    { "\xf0\x8f\xbf\xbf", 4 },
    { "\xed\xa0\x80", 3 },        /* surrogates */
    { "\xed\xbf\xbf", 3 },
    { "\xf4\x90\x80\x80", 4 },    /* past U+10FFFF */
    { "\xf5\x80\x80\x80", 4 },
    { "\xf8\x88\x80\x80\x80", 5 },
    { "\xfe", 1 },
    { "\xff", 1 },
    { "ok\xe2\x82", 4 },          /* cut at the end of otherwise good text */
  };
  for (size_t i = 0; i < G_N_ELEMENTS(invalid); i++)
    g_assert_cmpint(get_text_of(invalid[i].s, invalid[i].n), ==, TPROTO_E_INVALID);
}

static void test_buf_views(void)
{
  tproto_bytes v = tproto_str(NULL);
  g_assert_nonnull(v.ptr);
  g_assert_cmpuint(v.len, ==, 0);
  v = tproto_mem(NULL, 9);
  g_assert_nonnull(v.ptr);
  g_assert_cmpuint(v.len, ==, 0);

  v = tproto_mem("ab\0cd", 5);
  g_autofree char *s = tproto_bytes_strdup(v);
  g_assert_cmpmem(s, 6, "ab\0cd\0", 6);
  g_assert_true(tproto_bytes_eq_str(tproto_str("abc"), "abc"));
  g_assert_false(tproto_bytes_eq_str(tproto_str("abc"), "ab"));
  g_assert_false(tproto_bytes_eq_str(tproto_str("ab"), "abc"));
  g_assert_true(tproto_bytes_eq_str(tproto_str(""), ""));

  static uint8_t sentinel[1];
  uint8_t *copy = sentinel;
  size_t copy_len = 99;
  g_assert_cmpint(tproto_bytes_dup(tproto_str(""), &copy, &copy_len), ==, TPROTO_OK);
  g_assert_null(copy);
  g_assert_cmpuint(copy_len, ==, 0);
  g_assert_cmpint(tproto_bytes_dup(tproto_mem("\x01\x00\x02", 3), &copy, &copy_len), ==, TPROTO_OK);
  g_assert_cmpmem(copy, copy_len, "\x01\x00\x02", 3);
  g_free(copy);

  uint8_t secret[5] = { 1, 2, 3, 4, 5 };
  tproto_wipe(secret, sizeof(secret));
  g_assert_cmpmem(secret, 5, "\0\0\0\0\0", 5);
  tproto_wipe(NULL, 3);
}

/* ---- codec: round trips ---- */

static void test_roundtrip(void)
{
  any_message samples[MAX_SAMPLES];
  size_t n = make_samples(samples, MAX_SAMPLES);
  bool seen[256] = { false };
  for (size_t i = 0; i < n; i++) {
    const any_message *m = &samples[i];
    g_test_message("sample %zu: %s", i, tproto_type_name(m->header.type));
    tproto_buf b;
    encode_sample(m, &b);

    tproto_header h;
    tproto_buf body;
    open_single(&b, &h, &body);
    g_assert_cmpuint(h.type, ==, m->header.type);
    g_assert_cmpuint(h.id, ==, m->header.id);
    g_assert_cmpuint(body.off, ==, TPROTO_HEADER_LEN);

    any_message got = { .header = h };
    g_assert_cmpint(any_message_decode(h.type, &body, &got), ==, TPROTO_OK);
    g_assert_true(any_message_equal(&got, m));

    /* And back: the decoded views encode to the very same bytes. */
    tproto_buf again;
    encode_sample(&got, &again);
    g_assert_cmpmem(again.data, again.len, b.data, b.len);

    seen[m->header.type] = true;
    any_message_clear(&got);
    tproto_buf_free(&again);
    tproto_buf_free(&b);
  }
  for (size_t t = 0; t < any_message_n_types; t++)
    g_assert_true(seen[any_message_types[t]]);
}

static void test_frame_layout(void)
{
  tproto_buf b;
  tproto_buf_init(&b);
  g_assert_cmpint(tproto_enc_empty(&b, TPROTO_STATUS, 0x01020304), ==, TPROTO_OK);
  g_assert_cmpmem(b.data, b.len, "\0\0\0\x05\x02\x01\x02\x03\x04", 9);
  tproto_buf_reset(&b);

  g_assert_cmpint(tproto_enc_error(&b, 7, TPROTO_ERR_BUSY, "hi"), ==, TPROTO_OK);
  g_assert_cmpmem(b.data, b.len, "\0\0\0\x0f\x80\0\0\0\x07\0\0\0\x19\0\0\0\x02hi", 19);
  tproto_buf_reset(&b);

  tproto_sign s = { .key = tproto_str("k"), .mech = TPROTO_MECH_RSA_PSS, .hash = TPROTO_HASH_SHA256,
                    .mgf_hash = TPROTO_HASH_SHA256, .salt_len = 32, .data = tproto_mem("\xaa", 1) };
  g_assert_cmpint(tproto_enc_sign(&b, 9, &s), ==, TPROTO_OK);
  static const uint8_t sign_frame[] = { 0, 0, 0, 22, 5, 0, 0, 0, 9, 0, 0, 0, 1, 'k', 2, 3, 3,
                                        0, 0, 0, 32, 0, 0, 0, 1, 0xaa };
  g_assert_cmpmem(b.data, b.len, sign_frame, sizeof(sign_frame));
  tproto_buf_free(&b);
}

/* Frames queued back to back (pipelining) come apart one by one, in order,
 * each with its own id, however the stream is split into reads. */
static void test_stream(void)
{
  any_message samples[MAX_SAMPLES];
  size_t n = make_samples(samples, MAX_SAMPLES);
  tproto_buf all;
  tproto_buf_init(&all);
  for (size_t i = 0; i < n; i++)
    g_assert_cmpint(any_message_encode(&all, &samples[i]), ==, TPROTO_OK);

  static const size_t chunks[] = { 1, 3, 9, 64, 1000, 100000 };
  for (size_t c = 0; c < G_N_ELEMENTS(chunks); c++) {
    tproto_buf in;
    tproto_buf_init(&in);
    size_t fed = 0, next = 0;
    while (next < n) {
      size_t frame_len;
      int r = tproto_frame_peek(tproto_buf_read_ptr(&in), tproto_buf_remaining(&in), &frame_len);
      g_assert_cmpint(r, >=, 0);
      if (r == 0) {
        g_assert_cmpuint(fed, <, all.len);
        size_t k = MIN(chunks[c], all.len - fed);
        g_assert_cmpint(tproto_put(&in, all.data + fed, k), ==, TPROTO_OK);
        fed += k;
        continue;
      }
      any_message got;
      g_assert_cmpint(decode_frame(tproto_buf_read_ptr(&in), frame_len, &got), ==, TPROTO_OK);
      g_assert_true(any_message_equal(&got, &samples[next]));
      any_message_clear(&got);
      tproto_buf_consume(&in, frame_len);
      next++;
    }
    g_assert_cmpuint(fed, ==, all.len);
    g_assert_cmpuint(tproto_buf_remaining(&in), ==, 0);
    tproto_buf_free(&in);
  }
  tproto_buf_free(&all);
}

/* ---- codec: malformed input ---- */

static void test_truncated_stream(void)
{
  any_message samples[MAX_SAMPLES];
  size_t n = make_samples(samples, MAX_SAMPLES);
  for (size_t i = 0; i < n; i++) {
    tproto_buf b;
    encode_sample(&samples[i], &b);
    for (size_t cut = 0; cut < b.len; cut++) {
      size_t frame_len = 12345;
      g_assert_cmpint(tproto_frame_peek(b.data, cut, &frame_len), ==, 0);
      g_assert_cmpuint(frame_len, ==, 12345);
      tproto_header h;
      tproto_buf body;
      g_assert_cmpint(tproto_frame_open(b.data, cut, &h, &body), ==, TPROTO_E_TRUNCATED);
    }
    tproto_buf_free(&b);
  }
}

/* The frame is whole but its body stops short at every possible byte: a
 * length-prefixed encoding has no valid proper prefix, so all must fail. */
static void test_truncated_body(void)
{
  any_message samples[MAX_SAMPLES];
  size_t n = make_samples(samples, MAX_SAMPLES);
  for (size_t i = 0; i < n; i++) {
    tproto_buf b;
    encode_sample(&samples[i], &b);
    for (size_t cut = TPROTO_HEADER_LEN; cut < b.len; cut++) {
      g_autofree uint8_t *frame = g_memdup2(b.data, cut);
      frame[0] = (uint8_t)((cut - 4) >> 24);
      frame[1] = (uint8_t)((cut - 4) >> 16);
      frame[2] = (uint8_t)((cut - 4) >> 8);
      frame[3] = (uint8_t)(cut - 4);
      any_message got;
      int r = decode_frame(frame, cut, &got);
      g_assert_cmpint(r, <, 0);
      g_assert_cmpint(r, !=, TPROTO_E_NOMEM);
    }
    tproto_buf_free(&b);
  }
}

static void test_trailing_bytes(void)
{
  any_message samples[MAX_SAMPLES];
  size_t n = make_samples(samples, MAX_SAMPLES);
  for (size_t i = 0; i < n; i++) {
    tproto_buf b;
    encode_sample(&samples[i], &b);
    /* A byte after the frame: frame_open refuses a second frame's start. */
    g_assert_cmpint(tproto_put_u8(&b, 0), ==, TPROTO_OK);
    tproto_header h;
    tproto_buf body;
    g_assert_cmpint(tproto_frame_open(b.data, b.len, &h, &body), ==, TPROTO_E_INVALID);
    /* The same byte inside the frame: the decoder refuses it. */
    g_assert_cmpint(tproto_poke_u32(&b, 0, (uint32_t)(b.len - 4)), ==, TPROTO_OK);
    any_message got;
    g_assert_cmpint(decode_frame(b.data, b.len, &got), ==, TPROTO_E_INVALID);
    tproto_buf_free(&b);
  }
}

static void test_frame_length(void)
{
  uint8_t frame[16] = { 0 };
  size_t frame_len = 0;
  tproto_header h;
  tproto_buf body;
  /* Shorter than type + request id. */
  for (uint32_t n = 0; n < TPROTO_HEADER_LEN - 4; n++) {
    frame[3] = (uint8_t)n;
    g_assert_cmpint(tproto_frame_peek(frame, sizeof(frame), &frame_len), ==, TPROTO_E_INVALID);
    g_assert_cmpint(tproto_frame_open(frame, 4 + n, &h, &body), ==, TPROTO_E_INVALID);
  }
  frame[3] = TPROTO_HEADER_LEN - 4;
  g_assert_cmpint(tproto_frame_peek(frame, sizeof(frame), &frame_len), ==, 1);
  g_assert_cmpuint(frame_len, ==, TPROTO_HEADER_LEN);

  /* Over the limit: known from the 4 length bytes alone. */
  static const uint32_t too_big[] = { TPROTO_MAX_FRAME + 1, 0x7fffffff, 0x80000000, UINT32_MAX };
  for (size_t i = 0; i < G_N_ELEMENTS(too_big); i++) {
    frame[0] = (uint8_t)(too_big[i] >> 24);
    frame[1] = (uint8_t)(too_big[i] >> 16);
    frame[2] = (uint8_t)(too_big[i] >> 8);
    frame[3] = (uint8_t)too_big[i];
    g_assert_cmpint(tproto_frame_peek(frame, 4, &frame_len), ==, TPROTO_E_TOO_LARGE);
    g_assert_cmpint(tproto_frame_open(frame, sizeof(frame), &h, &body), ==, TPROTO_E_TOO_LARGE);
  }
  /* Exactly the limit is fine; it just needs the bytes. */
  frame[0] = 0, frame[1] = 0x10, frame[2] = 0, frame[3] = 0;
  g_assert_cmpint(tproto_frame_peek(frame, sizeof(frame), &frame_len), ==, 0);
}

static void test_unknown_type(void)
{
  tproto_buf b;
  tproto_buf_init(&b);
  g_assert_cmpint(tproto_enc_empty(&b, 0x42, 5), ==, TPROTO_OK);
  tproto_header h;
  tproto_buf body;
  open_single(&b, &h, &body);
  g_assert_cmpuint(h.type, ==, 0x42); /* framing is type-agnostic ... */
  g_assert_null(tproto_type_name(h.type)); /* ... the agent answers UNKNOWN_REQUEST */
  tproto_buf_free(&b);
}

/* An expression, unlike g_assert_cmpint, so a body reads as one line. */
static int put_ok(int r)
{
  g_assert_cmpint(r, ==, TPROTO_OK);
  return r;
}

/* Hand-built bodies with one bad field each; every one must be refused. */
static void test_bad_text_fields(void)
{
  static const struct {
    const char *s;
    size_t n;
  } bad[] = { { "a\0b", 3 }, { "\xc0\xaf", 2 }, { "\xed\xa0\x80", 3 }, { "\xff", 1 } };
  for (size_t i = 0; i < G_N_ELEMENTS(bad); i++) {
    tproto_buf body;
    tproto_buf_init(&body);
#define BAD_TEXT() put_ok(tproto_put_bytes(&body, bad[i].s, bad[i].n))
#define GOOD_TEXT(text) put_ok(tproto_put_text(&body, (text)))
#define U8(v) put_ok(tproto_put_u8(&body, (v)))
#define U32(v) put_ok(tproto_put_u32(&body, (v)))
#define EXPECT_BAD(type)                                                                           \
  do {                                                                                             \
    g_assert_cmpint(decode_raw((type), &body), ==, TPROTO_E_INVALID);                              \
    tproto_buf_reset(&body);                                                                       \
  } while (0)

    U32(1), U32(1), BAD_TEXT(), U32(0);
    EXPECT_BAD(TPROTO_HELLO); /* client name */
    U32(1), U32(1), GOOD_TEXT("c"), U32(1), BAD_TEXT(), GOOD_TEXT("v");
    EXPECT_BAD(TPROTO_HELLO); /* option key */
    U32(1), U32(1), GOOD_TEXT("c"), U32(1), GOOD_TEXT("k"), BAD_TEXT();
    EXPECT_BAD(TPROTO_HELLO); /* option value */
    BAD_TEXT();
    EXPECT_BAD(TPROTO_LIST_KEYS);
    BAD_TEXT();
    EXPECT_BAD(TPROTO_LOGOUT);
    BAD_TEXT();
    EXPECT_BAD(TPROTO_FIND_KEY);
    U32(1), BAD_TEXT(), U32(0), GOOD_TEXT("");
    EXPECT_BAD(TPROTO_R_READERS);
    U8(1), BAD_TEXT(), GOOD_TEXT(""), GOOD_TEXT("");
    EXPECT_BAD(TPROTO_R_EVENT);
    BAD_TEXT(), U8(1), U8(0), U8(0), U32(0), GOOD_TEXT("d");
    EXPECT_BAD(TPROTO_SIGN);
    BAD_TEXT(), U8(1), U8(0), U8(0), GOOD_TEXT(""), GOOD_TEXT("d");
    EXPECT_BAD(TPROTO_DECRYPT);
    BAD_TEXT(), U8(5), GOOD_TEXT("p");
    EXPECT_BAD(TPROTO_DERIVE);
    BAD_TEXT(), GOOD_TEXT("1234");
    EXPECT_BAD(TPROTO_LOGIN);
    U32(1), BAD_TEXT();
    EXPECT_BAD(TPROTO_R_ERROR);
    U32(1), BAD_TEXT(), U32(0), U32(0);
    EXPECT_BAD(TPROTO_R_HELLO);
    BAD_TEXT(), U32(1), U32(0), U32(0), U32(0), U32(0), U32(0);
    EXPECT_BAD(TPROTO_R_STATUS);
    for (int field = 0; field < 6; field++) {
      U32(1);
      for (int f = 0; f < 6; f++) {
        if (f == field)
          BAD_TEXT();
        else
          GOOD_TEXT("t");
      }
      U32(0), U32(0);
      EXPECT_BAD(TPROTO_R_TOKENS);
    }
    for (int field = 0; field < 3; field++) {
      U32(1);
      for (int f = 0; f < 3; f++) {
        if (f == field)
          BAD_TEXT();
        else
          GOOD_TEXT("k");
      }
      U8(1), U32(2048), U32(1), U32(0), GOOD_TEXT(""), GOOD_TEXT("");
      EXPECT_BAD(TPROTO_R_KEYS);
    }
#undef BAD_TEXT
#undef GOOD_TEXT
#undef U8
#undef U32
#undef EXPECT_BAD
    tproto_buf_free(&body);
  }
}

/* Binary fields are bytes, not text: NUL and non-UTF-8 are fine there. */
static void test_binary_fields_any_bytes(void)
{
  static const uint8_t odd[] = { 0, 0xff, 0xc0, 0x80 };
  any_message m = { .header = { TPROTO_LOGIN, 3 } };
  m.u.login.token = tproto_str("t");
  m.u.login.pin = tproto_mem(odd, sizeof(odd));
  tproto_buf b;
  encode_sample(&m, &b);
  any_message got;
  g_assert_cmpint(decode_frame(b.data, b.len, &got), ==, TPROTO_OK);
  g_assert_true(any_message_equal(&got, &m));
  tproto_buf_free(&b);
}

static void test_encoder_rejects_bad_text(void)
{
  tproto_buf b;
  tproto_buf_init(&b);
  g_assert_cmpint(tproto_enc_empty(&b, TPROTO_R_OK, 1), ==, TPROTO_OK);

  any_message m = { .header = { TPROTO_SIGN, 2 } };
  m.u.sign.key = tproto_mem("k\0ey", 4);
  assert_encode_fails_unchanged(&b, &m, TPROTO_E_INVALID);
  m = (any_message){ .header = { TPROTO_LIST_KEYS, 2 } };
  m.u.token = tproto_mem("\xe2\x82", 2);
  assert_encode_fails_unchanged(&b, &m, TPROTO_E_INVALID);
  m = (any_message){ .header = { TPROTO_HELLO, 2 } };
  m.u.hello = (tproto_hello){ .version_min = 1, .version_max = 1, .n_options = 1 };
  m.u.hello.option_keys[0] = tproto_str("K");
  m.u.hello.option_values[0] = tproto_mem("\xed\xb0\x80", 3);
  assert_encode_fails_unchanged(&b, &m, TPROTO_E_INVALID);

  tproto_token bad_token = sample_tokens[0];
  bad_token.model = tproto_mem("\x80", 1);
  m = (any_message){ .header = { TPROTO_R_TOKENS, 2 } };
  m.u.tokens.items = &bad_token;
  m.u.tokens.n = 1;
  assert_encode_fails_unchanged(&b, &m, TPROTO_E_INVALID);

  /* An error reply still goes out, minus the unusable message. */
  g_assert_cmpint(tproto_enc_error(&b, 3, TPROTO_ERR_TOKEN_ERROR, "bad \xff label"), ==, TPROTO_OK);
  tproto_buf_consume(&b, TPROTO_HEADER_LEN); /* skip the R_OK frame */
  any_message got;
  g_assert_cmpint(decode_frame(b.data, b.len, &got), ==, TPROTO_OK);
  g_assert_cmpuint(got.u.error.code, ==, TPROTO_ERR_TOKEN_ERROR);
  g_assert_cmpuint(got.u.error.message.len, ==, 0);
  tproto_buf_free(&b);
}

static void test_error_message_cut(void)
{
  /* 4095 ASCII bytes then a 3-byte character: the limit falls inside it. */
  GString *s = g_string_new(NULL);
  for (int i = 0; i < TPROTO_MAX_TEXT - 1; i++)
    g_string_append_c(s, 'a');
  g_string_append(s, "\xe2\x82\xac tail");
  tproto_buf b;
  tproto_buf_init(&b);
  g_assert_cmpint(tproto_enc_error(&b, 1, TPROTO_ERR_INTERNAL, s->str), ==, TPROTO_OK);
  any_message got;
  g_assert_cmpint(decode_frame(b.data, b.len, &got), ==, TPROTO_OK);
  g_assert_cmpmem(got.u.error.message.ptr, got.u.error.message.len, s->str, TPROTO_MAX_TEXT - 1);
  tproto_buf_reset(&b);

  /* ASCII only: cut exactly at the limit. */
  g_string_truncate(s, 0);
  for (int i = 0; i < TPROTO_MAX_TEXT + 10; i++)
    g_string_append_c(s, 'b');
  g_assert_cmpint(tproto_enc_error(&b, 1, TPROTO_ERR_INTERNAL, s->str), ==, TPROTO_OK);
  g_assert_cmpint(decode_frame(b.data, b.len, &got), ==, TPROTO_OK);
  g_assert_cmpuint(got.u.error.message.len, ==, TPROTO_MAX_TEXT);
  tproto_buf_reset(&b);

  g_assert_cmpint(tproto_enc_error(&b, 1, TPROTO_ERR_INTERNAL, NULL), ==, TPROTO_OK);
  g_assert_cmpint(decode_frame(b.data, b.len, &got), ==, TPROTO_OK);
  g_assert_cmpuint(got.u.error.message.len, ==, 0);
  tproto_buf_free(&b);
  g_string_free(s, TRUE);
}

static void test_list_count_lies(void)
{
  tproto_buf body;
  tproto_buf_init(&body);
  /* Counts the remaining bytes could never hold, refused up front. */
  static const uint32_t counts[] = { 2, 1000, 0x10000000, UINT32_MAX };
  for (size_t i = 0; i < G_N_ELEMENTS(counts); i++) {
    g_assert_cmpint(tproto_put_u32(&body, counts[i]), ==, TPROTO_OK);
    for (int f = 0; f < 6; f++)
      g_assert_cmpint(tproto_put_text(&body, ""), ==, TPROTO_OK);
    g_assert_cmpint(tproto_put_u64(&body, 0), ==, TPROTO_OK);
    g_assert_cmpint(decode_raw(TPROTO_R_TOKENS, &body), ==, TPROTO_E_INVALID);
    tproto_buf_reset(&body);
  }
  g_assert_cmpint(tproto_put_u32(&body, 5), ==, TPROTO_OK);
  g_assert_cmpint(decode_raw(TPROTO_R_KEYS, &body), ==, TPROTO_E_INVALID);
  tproto_buf_reset(&body);

  /* A count that fits the bytes but the entries run out. */
  g_assert_cmpint(tproto_put_u32(&body, 2), ==, TPROTO_OK);
  for (int f = 0; f < 6; f++)
    g_assert_cmpint(tproto_put_text(&body, "a label long enough for two"), ==, TPROTO_OK);
  g_assert_cmpint(tproto_put_u64(&body, 0), ==, TPROTO_OK);
  g_assert_cmpint(decode_raw(TPROTO_R_TOKENS, &body), ==, TPROTO_E_TRUNCATED);
  tproto_buf_reset(&body);

  /* Fewer than announced, and the rest is one extra byte. */
  g_assert_cmpint(tproto_put_u32(&body, 0), ==, TPROTO_OK);
  g_assert_cmpint(tproto_put_u8(&body, 0), ==, TPROTO_OK);
  g_assert_cmpint(decode_raw(TPROTO_R_KEYS, &body), ==, TPROTO_E_INVALID);

  /* list_count itself treats a zero entry size as one byte. */
  tproto_buf_reset(&body);
  g_assert_cmpint(tproto_put_u32(&body, 3), ==, TPROTO_OK);
  g_assert_cmpint(tproto_put(&body, "xyz", 3), ==, TPROTO_OK);
  uint32_t n;
  g_assert_cmpint(tproto_dec_list_count(&body, 0, &n), ==, TPROTO_OK);
  g_assert_cmpuint(n, ==, 3);
  body.off = 0;
  g_assert_cmpint(tproto_dec_list_count(&body, 2, &n), ==, TPROTO_E_INVALID);
  tproto_buf_free(&body);
}

static void test_hello_options(void)
{
  any_message m = { .header = { TPROTO_HELLO, 1 } };
  m.u.hello = (tproto_hello){ .version_min = 1, .version_max = 1,
                              .client_name = tproto_str("c"),
                              .n_options = TPROTO_MAX_HELLO_OPTIONS };
  char keys[TPROTO_MAX_HELLO_OPTIONS][8];
  for (int i = 0; i < TPROTO_MAX_HELLO_OPTIONS; i++) {
    g_snprintf(keys[i], sizeof(keys[i]), "K%d", i);
    m.u.hello.option_keys[i] = tproto_str(keys[i]);
    m.u.hello.option_values[i] = tproto_str("v");
  }
  tproto_buf b;
  encode_sample(&m, &b);
  any_message got;
  g_assert_cmpint(decode_frame(b.data, b.len, &got), ==, TPROTO_OK);
  g_assert_true(any_message_equal(&got, &m));

  /* One more: the encoder refuses, and so does the decoder. */
  m.u.hello.n_options = TPROTO_MAX_HELLO_OPTIONS + 1;
  assert_encode_fails_unchanged(&b, &m, TPROTO_E_TOO_LARGE);
  tproto_buf body;
  tproto_buf_init(&body);
  g_assert_cmpint(tproto_put_u32(&body, 1), ==, TPROTO_OK);
  g_assert_cmpint(tproto_put_u32(&body, 1), ==, TPROTO_OK);
  g_assert_cmpint(tproto_put_text(&body, "c"), ==, TPROTO_OK);
  g_assert_cmpint(tproto_put_u32(&body, TPROTO_MAX_HELLO_OPTIONS + 1), ==, TPROTO_OK);
  for (int i = 0; i <= TPROTO_MAX_HELLO_OPTIONS; i++) {
    g_assert_cmpint(tproto_put_text(&body, "k"), ==, TPROTO_OK);
    g_assert_cmpint(tproto_put_text(&body, "v"), ==, TPROTO_OK);
  }
  g_assert_cmpint(decode_raw(TPROTO_HELLO, &body), ==, TPROTO_E_TOO_LARGE);
  tproto_buf_reset(&body);
  g_assert_cmpint(tproto_put_u32(&body, 1), ==, TPROTO_OK);
  g_assert_cmpint(tproto_put_u32(&body, 1), ==, TPROTO_OK);
  g_assert_cmpint(tproto_put_text(&body, "c"), ==, TPROTO_OK);
  g_assert_cmpint(tproto_put_u32(&body, UINT32_MAX), ==, TPROTO_OK);
  g_assert_cmpint(decode_raw(TPROTO_HELLO, &body), ==, TPROTO_E_TOO_LARGE);

  /* A version range that is empty. */
  m.u.hello = (tproto_hello){ .version_min = 2, .version_max = 1 };
  assert_encode_fails_unchanged(&b, &m, TPROTO_E_INVALID);
  tproto_buf_reset(&body);
  g_assert_cmpint(tproto_put_u32(&body, 2), ==, TPROTO_OK);
  g_assert_cmpint(tproto_put_u32(&body, 1), ==, TPROTO_OK);
  g_assert_cmpint(tproto_put_text(&body, "c"), ==, TPROTO_OK);
  g_assert_cmpint(tproto_put_u32(&body, 0), ==, TPROTO_OK);
  g_assert_cmpint(decode_raw(TPROTO_HELLO, &body), ==, TPROTO_E_INVALID);
  tproto_buf_free(&body);
  tproto_buf_free(&b);
}

/* One field at its limit encodes and decodes; one byte more fails both
 * ways, the encoder leaving the buffer untouched. */
static void check_field_limit(any_message *m, tproto_bytes *field, size_t limit)
{
  g_autofree uint8_t *fill = g_malloc(limit + 1);
  memset(fill, 'x', limit + 1);
  tproto_bytes saved = *field;

  *field = tproto_mem(fill, limit);
  tproto_buf ok;
  encode_sample(m, &ok);
  any_message got;
  g_assert_cmpint(decode_frame(ok.data, ok.len, &got), ==, TPROTO_OK);
  g_assert_true(any_message_equal(&got, m));
  any_message_clear(&got);

  *field = tproto_mem(fill, limit + 1);
  tproto_buf b;
  tproto_buf_init(&b);
  g_assert_cmpint(tproto_enc_empty(&b, TPROTO_R_OK, 1), ==, TPROTO_OK);
  assert_encode_fails_unchanged(&b, m, TPROTO_E_TOO_LARGE);

  /* Hand-made frame: the valid one with the field's length and data grown. */
  const uint8_t *pos = memmem(ok.data, ok.len, fill, limit);
  g_assert_nonnull(pos);
  size_t at = (size_t)(pos - ok.data);
  tproto_buf bad;
  tproto_buf_init(&bad);
  g_assert_cmpint(tproto_put(&bad, ok.data, at - 4), ==, TPROTO_OK);
  g_assert_cmpint(tproto_put_bytes(&bad, fill, limit + 1), ==, TPROTO_OK);
  g_assert_cmpint(tproto_put(&bad, ok.data + at + limit, ok.len - at - limit), ==, TPROTO_OK);
  g_assert_cmpint(tproto_poke_u32(&bad, 0, (uint32_t)(bad.len - 4)), ==, TPROTO_OK);
  g_assert_cmpint(decode_frame(bad.data, bad.len, &got), ==, TPROTO_E_TOO_LARGE);

  *field = saved; /* fill is about to go */
  tproto_buf_free(&bad);
  tproto_buf_free(&b);
  tproto_buf_free(&ok);
}

static void test_field_limits(void)
{
  any_message m = { .header = { TPROTO_HELLO, 1 } };
  m.u.hello = (tproto_hello){ .version_min = 1, .version_max = 1, .n_options = 1 };
  m.u.hello.option_keys[0] = tproto_str("K");
  check_field_limit(&m, &m.u.hello.client_name, TPROTO_MAX_TEXT);
  m.u.hello.client_name = tproto_str("c");
  check_field_limit(&m, &m.u.hello.option_values[0], TPROTO_MAX_TEXT);

  m = (any_message){ .header = { TPROTO_LIST_KEYS, 1 } };
  check_field_limit(&m, &m.u.token, TPROTO_MAX_TEXT);

  m = (any_message){ .header = { TPROTO_SIGN, 1 } };
  m.u.sign.key = tproto_str("k");
  check_field_limit(&m, &m.u.sign.data, TPROTO_MAX_DATA);
  check_field_limit(&m, &m.u.sign.key, TPROTO_MAX_TEXT);

  m = (any_message){ .header = { TPROTO_DECRYPT, 1 } };
  m.u.decrypt.key = tproto_str("k");
  check_field_limit(&m, &m.u.decrypt.label, TPROTO_MAX_DATA);
  m.u.decrypt.label = tproto_str("L");
  check_field_limit(&m, &m.u.decrypt.data, TPROTO_MAX_DATA);

  m = (any_message){ .header = { TPROTO_DERIVE, 1 } };
  m.u.derive.key = tproto_str("k");
  check_field_limit(&m, &m.u.derive.peer, TPROTO_MAX_DATA);

  m = (any_message){ .header = { TPROTO_LOGIN, 1 } };
  m.u.login.token = tproto_str("t");
  check_field_limit(&m, &m.u.login.pin, TPROTO_MAX_PIN);

  m = (any_message){ .header = { TPROTO_R_HELLO, 1 } };
  check_field_limit(&m, &m.u.hello_reply.agent_name, TPROTO_MAX_TEXT);

  m = (any_message){ .header = { TPROTO_R_STATUS, 1 } };
  check_field_limit(&m, &m.u.status.agent_version, TPROTO_MAX_TEXT);

  tproto_token token = { .label = tproto_str("l") };
  m = (any_message){ .header = { TPROTO_R_TOKENS, 1 } };
  m.u.tokens.items = &token;
  m.u.tokens.n = 1;
  check_field_limit(&m, &token.module, TPROTO_MAX_TEXT);

  tproto_key key = { .label = tproto_str("l") };
  m = (any_message){ .header = { TPROTO_R_KEYS, 1 } };
  m.u.keys.items = &key;
  m.u.keys.n = 1;
  check_field_limit(&m, &key.id, TPROTO_MAX_TEXT);
  key.id = tproto_str("i");
  check_field_limit(&m, &key.cert, TPROTO_MAX_CERT);
  key.cert = tproto_str("c");
  check_field_limit(&m, &key.spki, TPROTO_MAX_CERT);

  m = (any_message){ .header = { TPROTO_R_DATA, 1 } };
  check_field_limit(&m, &m.u.data, TPROTO_MAX_DATA);

  /* R_ERROR messages are cut, not refused, when encoding; see
   * test_error_message_cut. Decoding still enforces the limit. */
  g_autofree char *long_text = g_strnfill(TPROTO_MAX_TEXT + 1, 'm');
  tproto_buf body;
  tproto_buf_init(&body);
  g_assert_cmpint(tproto_put_u32(&body, 1), ==, TPROTO_OK);
  g_assert_cmpint(tproto_put_text(&body, long_text), ==, TPROTO_OK);
  g_assert_cmpint(decode_raw(TPROTO_R_ERROR, &body), ==, TPROTO_E_TOO_LARGE);
  tproto_buf_free(&body);
}

/* Keys with empty texts and large blobs adding up to a frame whose length
 * field is exactly TPROTO_MAX_FRAME + extra. */
static size_t make_big_keys(tproto_key *keys, size_t max_keys, const uint8_t *fill, size_t extra)
{
  size_t need = TPROTO_MAX_FRAME + extra - (TPROTO_HEADER_LEN - 4) - 4; /* minus type, id, count */
  size_t n = 0;
  while (need > 0) {
    g_assert_cmpuint(n, <, max_keys);
    g_assert_cmpuint(need, >=, TPROTO_KEY_MIN_LEN);
    size_t payload = MIN(need - TPROTO_KEY_MIN_LEN, 2 * (size_t)TPROTO_MAX_CERT);
    size_t cert = MIN(payload, (size_t)TPROTO_MAX_CERT);
    keys[n++] = (tproto_key){ .cert = tproto_mem(fill, cert),
                              .spki = tproto_mem(fill, payload - cert) };
    need -= TPROTO_KEY_MIN_LEN + payload;
  }
  return n;
}

static void test_max_frame(void)
{
  g_autofree uint8_t *fill = g_malloc(TPROTO_MAX_CERT);
  memset(fill, 0x5a, TPROTO_MAX_CERT);
  tproto_key keys[40];
  any_message m = { .header = { TPROTO_R_KEYS, 77 } };
  m.u.keys.items = keys;

  /* Exactly the maximum: fine, both ways. */
  m.u.keys.n = (uint32_t)make_big_keys(keys, G_N_ELEMENTS(keys), fill, 0);
  tproto_buf b;
  encode_sample(&m, &b);
  g_assert_cmpuint(b.len, ==, 4 + (size_t)TPROTO_MAX_FRAME);
  any_message got;
  g_assert_cmpint(decode_frame(b.data, b.len, &got), ==, TPROTO_OK);
  g_assert_true(any_message_equal(&got, &m));
  any_message_clear(&got);
  tproto_buf_free(&b);

  /* One byte over, and far over: refused; the buffer is as before, both
   * when empty and when it already holds a frame. */
  static const size_t extra[] = { 1, 4, 5, 6, 300000 };
  for (size_t i = 0; i < G_N_ELEMENTS(extra); i++) {
    m.u.keys.n = (uint32_t)make_big_keys(keys, G_N_ELEMENTS(keys), fill, extra[i]);
    tproto_buf_init(&b);
    assert_encode_fails_unchanged(&b, &m, TPROTO_E_TOO_LARGE);
    g_assert_cmpuint(b.len, ==, 0);
    g_assert_cmpint(tproto_enc_error(&b, 1, TPROTO_ERR_BUSY, "queued"), ==, TPROTO_OK);
    assert_encode_fails_unchanged(&b, &m, TPROTO_E_TOO_LARGE);
    /* A buffer allowed to hold more still refuses an oversized frame. */
    b.max = 8 * (size_t)TPROTO_MAX_FRAME;
    assert_encode_fails_unchanged(&b, &m, TPROTO_E_TOO_LARGE);
    tproto_buf_free(&b);
  }
}

static void test_frame_begin_end(void)
{
  tproto_buf b;
  tproto_buf_init(&b);
  size_t start;
  g_assert_cmpint(tproto_frame_end(&b, 0), ==, TPROTO_E_INVALID);
  g_assert_cmpint(tproto_put(&b, "abc", 3), ==, TPROTO_OK);
  g_assert_cmpint(tproto_frame_end(&b, 0), ==, TPROTO_E_INVALID); /* no header there */
  g_assert_cmpint(tproto_frame_end(&b, 7), ==, TPROTO_E_INVALID); /* past the end */
  g_assert_cmpint(tproto_frame_end(&b, SIZE_MAX), ==, TPROTO_E_INVALID);
  g_assert_cmpmem(b.data, b.len, "abc", 3);

  g_assert_cmpint(tproto_frame_begin(&b, TPROTO_R_DATA, 0xa0b0c0d0, &start), ==, TPROTO_OK);
  g_assert_cmpuint(start, ==, 3);
  g_assert_cmpint(tproto_put_bytes(&b, "sig", 3), ==, TPROTO_OK);
  g_assert_cmpint(tproto_frame_end(&b, start), ==, TPROTO_OK);
  any_message got;
  g_assert_cmpint(decode_frame(b.data + 3, b.len - 3, &got), ==, TPROTO_OK);
  g_assert_cmpuint(got.header.id, ==, 0xa0b0c0d0);
  assert_bytes_eq(got.u.data, "sig", 3);

  /* A header that does not fit the buffer's limit is not half written. */
  tproto_buf small;
  tproto_buf_init(&small);
  small.max = TPROTO_HEADER_LEN - 1;
  g_assert_cmpint(tproto_frame_begin(&small, TPROTO_R_OK, 1, &start), ==, TPROTO_E_TOO_LARGE);
  g_assert_cmpuint(small.len, ==, 0);
  tproto_buf_free(&small);
  tproto_buf_free(&b);
}

/* Every type decoded with every other type's decoder must come back with
 * an error, never a crash (and the decoders leave no allocations). */
static void test_cross_decode(void)
{
  any_message samples[MAX_SAMPLES];
  size_t n = make_samples(samples, MAX_SAMPLES);
  for (size_t i = 0; i < n; i++) {
    tproto_buf b;
    encode_sample(&samples[i], &b);
    for (size_t t = 0; t < any_message_n_types; t++) {
      tproto_header h;
      tproto_buf body;
      g_assert_cmpint(tproto_frame_open(b.data, b.len, &h, &body), ==, TPROTO_OK);
      any_message got = { .header = h };
      int r = any_message_decode(any_message_types[t], &body, &got);
      if (r == TPROTO_OK) {
        /* Possible only when the shapes agree; it must then re-encode. */
        tproto_buf again;
        encode_sample(&got, &again);
        again.data[4] = h.type;
        g_assert_cmpmem(again.data, again.len, b.data, b.len);
        tproto_buf_free(&again);
        any_message_clear(&got);
      }
    }
    tproto_buf_free(&b);
  }
}

/* ---- names ---- */

static void test_names(void)
{
  for (size_t t = 0; t < any_message_n_types; t++)
    g_assert_nonnull(tproto_type_name(any_message_types[t]));
  g_assert_null(tproto_type_name(0));
  g_assert_null(tproto_type_name(13));
  g_assert_null(tproto_type_name(0xff));

  static const uint32_t codes[] = { 1, 2, 3, 4, 5, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20,
                                    21, 22, 23, 24, 25, 26, 27, 28, 29 };
  for (size_t i = 0; i < G_N_ELEMENTS(codes); i++)
    g_assert_nonnull(tproto_error_name(codes[i]));
  g_assert_cmpstr(tproto_error_name(TPROTO_ERR_NO_SUCH_KEY), ==, "NO_SUCH_KEY");
  g_assert_null(tproto_error_name(0));
  g_assert_null(tproto_error_name(6));
  g_assert_null(tproto_error_name(UINT32_MAX));

  static const struct {
    uint8_t id;
    const char *name;
    size_t len;
  } hashes[] = { { TPROTO_HASH_SHA1, "sha1", 20 },     { TPROTO_HASH_SHA224, "sha224", 28 },
                 { TPROTO_HASH_SHA256, "sha256", 32 }, { TPROTO_HASH_SHA384, "sha384", 48 },
                 { TPROTO_HASH_SHA512, "sha512", 64 } };
  for (size_t i = 0; i < G_N_ELEMENTS(hashes); i++) {
    g_assert_cmpstr(tproto_hash_name(hashes[i].id), ==, hashes[i].name);
    g_assert_cmpint(tproto_hash_from_name(hashes[i].name), ==, hashes[i].id);
    g_assert_cmpuint(tproto_hash_len(hashes[i].id), ==, hashes[i].len);
  }
  g_assert_null(tproto_hash_name(TPROTO_HASH_NONE));
  g_assert_cmpuint(tproto_hash_len(TPROTO_HASH_NONE), ==, 0);
  g_assert_cmpint(tproto_hash_from_name("md5"), ==, -1);
  g_assert_cmpint(tproto_hash_from_name(NULL), ==, -1);

  for (uint8_t mech = TPROTO_MECH_RSA_PKCS; mech <= TPROTO_MECH_ECDH; mech++)
    g_assert_nonnull(tproto_mech_name(mech));
  g_assert_null(tproto_mech_name(0));
  g_assert_null(tproto_mech_name(6));
}

int main(int argc, char **argv)
{
  g_test_init(&argc, &argv, NULL);
  init_sample_data();

  g_test_add_func("/buf/put-get", test_buf_put_get);
  g_test_add_func("/buf/get-past-end", test_buf_get_past_end);
  g_test_add_func("/buf/limit", test_buf_limit);
  g_test_add_func("/buf/growth", test_buf_growth);
  g_test_add_func("/buf/borrowed", test_buf_borrowed);
  g_test_add_func("/buf/consume", test_buf_consume);
  g_test_add_func("/buf/poke", test_buf_poke);
  g_test_add_func("/buf/text", test_buf_text);
  g_test_add_func("/buf/views", test_buf_views);

  g_test_add_func("/codec/roundtrip", test_roundtrip);
  g_test_add_func("/codec/frame-layout", test_frame_layout);
  g_test_add_func("/codec/stream", test_stream);
  g_test_add_func("/codec/truncated-stream", test_truncated_stream);
  g_test_add_func("/codec/truncated-body", test_truncated_body);
  g_test_add_func("/codec/trailing-bytes", test_trailing_bytes);
  g_test_add_func("/codec/frame-length", test_frame_length);
  g_test_add_func("/codec/unknown-type", test_unknown_type);
  g_test_add_func("/codec/bad-text-fields", test_bad_text_fields);
  g_test_add_func("/codec/binary-fields", test_binary_fields_any_bytes);
  g_test_add_func("/codec/encoder-rejects-bad-text", test_encoder_rejects_bad_text);
  g_test_add_func("/codec/error-message-cut", test_error_message_cut);
  g_test_add_func("/codec/list-count-lies", test_list_count_lies);
  g_test_add_func("/codec/hello-options", test_hello_options);
  g_test_add_func("/codec/field-limits", test_field_limits);
  g_test_add_func("/codec/max-frame", test_max_frame);
  g_test_add_func("/codec/frame-begin-end", test_frame_begin_end);
  g_test_add_func("/codec/cross-decode", test_cross_decode);
  g_test_add_func("/codec/names", test_names);
  return g_test_run();
}
