/* tessera fuzz — writes the seed corpus for fuzz-decode.
 *
 * Run once and commit the output (fuzz/corpus/): one valid frame of every
 * message type, a pipelined stream, and a few frames each refused for a
 * different reason, so the fuzzer starts next to every decoder path.
 *   make-corpus DIR
 */
#include "messages.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define KEY_ID "pkcs11:token=tessera-test-1;serial=9f3c2a;id=%01;type=private"
#define TOKEN_ID "pkcs11:token=tessera-test-1;serial=9f3c2a"

static const char *out_dir;

static void die(const char *what)
{
  fprintf(stderr, "make-corpus: %s\n", what);
  exit(1);
}

static void must(int r, const char *what)
{
  if (r < 0)
    die(what);
}

/* Writes b as DIR/name and empties b for the next seed. */
static void save(const char *name, tproto_buf *b)
{
  char path[4096];
  if (snprintf(path, sizeof(path), "%s/%s", out_dir, name) >= (int)sizeof(path))
    die("path too long");
  FILE *f = fopen(path, "wb");
  if (f == NULL)
    die(path);
  if (b->len > 0 && fwrite(b->data, 1, b->len, f) != b->len)
    die(path);
  if (fclose(f) != 0)
    die(path);
  tproto_buf_reset(b);
}

static void valid_requests(tproto_buf *b)
{
  tproto_hello hello = { .version_min = 1, .version_max = 1,
                         .client_name = tproto_str("tessera-cli"), .n_options = 2 };
  hello.option_keys[0] = tproto_str("DISPLAY");
  hello.option_values[0] = tproto_str(":0");
  hello.option_keys[1] = tproto_str("TERM");
  hello.option_values[1] = tproto_str("xterm-256color");
  must(tproto_enc_hello(b, 1, &hello), "hello");
  save("req-hello", b);
  must(tproto_enc_empty(b, TPROTO_STATUS, 2), "status");
  save("req-status", b);
  must(tproto_enc_empty(b, TPROTO_LIST_TOKENS, 3), "list tokens");
  save("req-list-tokens", b);
  must(tproto_enc_list_keys(b, 4, tproto_str(TOKEN_ID)), "list keys");
  save("req-list-keys", b);

  static const uint8_t digest[32] = { 0xe3, 0xb0, 0xc4, 0x42, 0x98, 0xfc, 0x1c, 0x14 };
  tproto_sign pss = { .key = tproto_str(KEY_ID), .mech = TPROTO_MECH_RSA_PSS,
                      .hash = TPROTO_HASH_SHA256, .mgf_hash = TPROTO_HASH_SHA256,
                      .salt_len = 32, .data = tproto_mem(digest, sizeof(digest)) };
  must(tproto_enc_sign(b, 5, &pss), "sign");
  save("req-sign-pss", b);

  uint8_t ciphertext[256];
  memset(ciphertext, 0x5c, sizeof(ciphertext));
  tproto_decrypt oaep = { .key = tproto_str("rsa2048"), .mech = TPROTO_MECH_RSA_OAEP,
                          .hash = TPROTO_HASH_SHA256, .mgf_hash = TPROTO_HASH_SHA256,
                          .label = tproto_mem("label", 5),
                          .data = tproto_mem(ciphertext, sizeof(ciphertext)) };
  must(tproto_enc_decrypt(b, 6, &oaep), "decrypt");
  save("req-decrypt-oaep", b);

  uint8_t point[65] = { 0x04 };
  memset(point + 1, 0x11, sizeof(point) - 1);
  tproto_derive ecdh = { .key = tproto_str("p256"), .mech = TPROTO_MECH_ECDH,
                         .peer = tproto_mem(point, sizeof(point)) };
  must(tproto_enc_derive(b, 7, &ecdh), "derive");
  save("req-derive", b);

  tproto_login login = { .token = tproto_str("tessera-test-1"), .pin = tproto_mem("123456", 6) };
  must(tproto_enc_login(b, 8, &login), "login");
  save("req-login", b);
  must(tproto_enc_logout(b, 9, tproto_str("")), "logout");
  save("req-logout", b);
  must(tproto_enc_find_key(b, 10, tproto_str("pkcs11:token=tessera-test-1;id=%03")), "find key");
  save("req-find-key", b);
  must(tproto_enc_empty(b, TPROTO_SUBSCRIBE, 11), "subscribe");
  save("req-subscribe", b);
  must(tproto_enc_empty(b, TPROTO_LIST_READERS, 12), "list readers");
  save("req-list-readers", b);
}

static void valid_replies(tproto_buf *b)
{
  must(tproto_enc_error(b, 1, TPROTO_ERR_NO_SUCH_KEY, "no key matches \"x\""), "error");
  save("rep-error", b);
  tproto_hello_reply hello = { .version = 1, .agent_name = tproto_str("tessera-agent 0.1.0"),
                               .capabilities = 0x1f, .max_frame = TPROTO_MAX_FRAME };
  must(tproto_enc_hello_reply(b, 1, &hello), "hello reply");
  save("rep-hello", b);
  tproto_status status = { .agent_version = tproto_str("0.1.0"), .pid = 4242, .uptime_s = 86400,
                           .n_clients = 1, .n_tokens = 2, .n_keys = 6 };
  must(tproto_enc_status(b, 2, &status), "status");
  save("rep-status", b);

  tproto_token tokens[2] = {
    { .id = tproto_str(TOKEN_ID), .label = tproto_str("tessera-test-1"),
      .manufacturer = tproto_str("SoftHSM project"), .model = tproto_str("SoftHSM v2"),
      .serial = tproto_str("9f3c2a"), .module = tproto_str("/usr/lib/softhsm/libsofthsm2.so"),
      .flags = TPROTO_TOKEN_PRESENT | TPROTO_TOKEN_LOGIN_REQUIRED | TPROTO_TOKEN_LOGGED_IN,
      .n_keys = 4, .login_ends_s = 600 },
    { .id = tproto_str("pkcs11:token=b"), .label = tproto_str("b") },
  };
  must(tproto_enc_tokens(b, 3, tokens, 2), "tokens");
  save("rep-tokens", b);

  static const uint8_t cert[] = { 0x30, 0x82, 0x01, 0x0a, 0x02, 0x01, 0x01 };
  tproto_key keys[2] = {
    { .id = tproto_str(KEY_ID), .label = tproto_str("rsa2048"), .token_id = tproto_str(TOKEN_ID),
      .key_type = TPROTO_KEY_RSA, .bits = 2048, .ops = TPROTO_OP_SIGN | TPROTO_OP_DECRYPT,
      .flags = TPROTO_KEY_HAS_CERT | TPROTO_KEY_AVAILABLE, .cert = tproto_mem(cert, sizeof(cert)),
      .spki = tproto_mem(cert, 4) },
    { .id = tproto_str(TOKEN_ID ";id=%03;type=private"), .label = tproto_str("p256"),
      .token_id = tproto_str(TOKEN_ID), .key_type = TPROTO_KEY_EC, .bits = 256,
      .ops = TPROTO_OP_SIGN | TPROTO_OP_DERIVE },
  };
  must(tproto_enc_keys(b, 4, keys, 2), "keys");
  save("rep-keys", b);

  uint8_t sig[64];
  memset(sig, 0xa5, sizeof(sig));
  must(tproto_enc_data(b, 5, tproto_mem(sig, sizeof(sig))), "data");
  save("rep-data", b);

  static const uint8_t atr[] = { 0x3b, 0x8f, 0x80, 0x01, 0x80, 0x4f, 0x0c };
  tproto_reader readers[2] = {
    { tproto_str("Virtual PCD 00 00"), TPROTO_READER_CARD_PRESENT, tproto_mem(atr, sizeof(atr)) },
    { tproto_str("Virtual PCD 00 01"), 0, tproto_mem(NULL, 0) },
  };
  must(tproto_enc_readers(b, 12, readers, 2), "readers");
  save("rep-readers", b);
  tproto_event ev = { TPROTO_EVENT_KEY_AVAILABLE, tproto_str(""), tproto_str(TOKEN_ID),
                      tproto_str(TOKEN_ID ";id=%01;type=private") };
  must(tproto_enc_event(b, 11, &ev), "event");
  save("rep-event", b);
  must(tproto_enc_empty(b, TPROTO_R_OK, 6), "ok");
  save("rep-ok", b);
}

static void invalid_frames(tproto_buf *b)
{
  /* Several requests back to back, as a pipelining client sends them. */
  must(tproto_enc_empty(b, TPROTO_STATUS, 10), "pipelined");
  must(tproto_enc_list_keys(b, 11, tproto_str("")), "pipelined");
  must(tproto_enc_empty(b, TPROTO_LIST_TOKENS, 12), "pipelined");
  save("stream-pipelined", b);

  must(tproto_put_u32(b, TPROTO_MAX_FRAME + 1), "oversized");
  must(tproto_put_u8(b, TPROTO_SIGN), "oversized");
  save("bad-oversized-length", b);

  must(tproto_put_u32(b, 3), "short");
  must(tproto_put(b, "\x02\0\0", 3), "short");
  save("bad-short-length", b);

  must(tproto_enc_list_keys(b, 13, tproto_str("abc")), "truncated");
  b->len -= 2;
  save("bad-truncated", b);

  must(tproto_enc_empty(b, TPROTO_STATUS, 14), "trailing");
  must(tproto_put_u8(b, 0), "trailing");
  must(tproto_poke_u32(b, 0, (uint32_t)(b->len - 4)), "trailing");
  save("bad-trailing-byte", b);

  size_t start;
  must(tproto_frame_begin(b, TPROTO_LIST_KEYS, 15, &start), "utf8");
  must(tproto_put_bytes(b, "\xc0\xaf\xed\xa0\x80", 5), "utf8");
  must(tproto_frame_end(b, start), "utf8");
  save("bad-utf8", b);

  must(tproto_frame_begin(b, TPROTO_R_TOKENS, 16, &start), "count");
  must(tproto_put_u32(b, 0xffffffff), "count");
  must(tproto_put(b, "\0\0\0\0", 4), "count");
  must(tproto_frame_end(b, start), "count");
  save("bad-list-count", b);

  must(tproto_frame_begin(b, TPROTO_HELLO, 17, &start), "options");
  must(tproto_put_u32(b, 1), "options");
  must(tproto_put_u32(b, 1), "options");
  must(tproto_put_text(b, "c"), "options");
  must(tproto_put_u32(b, TPROTO_MAX_HELLO_OPTIONS + 1), "options");
  must(tproto_frame_end(b, start), "options");
  save("bad-hello-options", b);
}

int main(int argc, char **argv)
{
  if (argc != 2) {
    fprintf(stderr, "usage: make-corpus DIR\n");
    return 2;
  }
  out_dir = argv[1];
  tproto_buf b;
  tproto_buf_init(&b);
  valid_requests(&b);
  valid_replies(&b);
  invalid_frames(&b);
  tproto_buf_free(&b);
  return 0;
}
