/* tessera fuzz — the wire codec against arbitrary bytes (libFuzzer).
 *
 * The input is read three ways: as a stream of frames (what the agent and
 * client do with a socket), as one whole frame, and as a bare message body.
 * Every body goes through every decoder, not only the one its type names,
 * so each decoder sees the widest input. Whatever decodes must encode back
 * to exactly the same bytes: the encoding is canonical, so any difference
 * is an encoder/decoder asymmetry.
 */
#include "any-message.h"
#include "messages.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A broken invariant must crash, so libFuzzer keeps the input. */
#define CHECK(cond)                                                                                \
  do {                                                                                             \
    if (!(cond)) {                                                                                 \
      fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond);                     \
      abort();                                                                                     \
    }                                                                                              \
  } while (0)

/* The small lookups callers make on decoded values: bounded and total. */
static void look_up_names(const any_message *m)
{
  (void)tproto_type_name(m->header.type);
  switch (m->header.type) {
  case TPROTO_SIGN:
    (void)tproto_mech_name(m->u.sign.mech);
    (void)tproto_hash_name(m->u.sign.hash);
    (void)tproto_hash_len(m->u.sign.mgf_hash);
    break;
  case TPROTO_DECRYPT:
    (void)tproto_mech_name(m->u.decrypt.mech);
    (void)tproto_hash_len(m->u.decrypt.hash);
    break;
  case TPROTO_R_ERROR: (void)tproto_error_name(m->u.error.code); break;
  default: break;
  }
}

/* m was decoded from payload; it must encode back to the same frame. */
static void check_reencoding(const uint8_t *payload, size_t n, const any_message *m)
{
  tproto_buf out;
  tproto_buf_init(&out);
  CHECK(any_message_encode(&out, m) == TPROTO_OK);
  CHECK(out.len == TPROTO_HEADER_LEN + n);
  CHECK(n == 0 || memcmp(out.data + TPROTO_HEADER_LEN, payload, n) == 0);

  /* And the new frame reads back as the same message. */
  any_message again;
  tproto_buf body;
  CHECK(tproto_frame_open(out.data, out.len, &again.header, &body) == TPROTO_OK);
  CHECK(again.header.type == m->header.type && again.header.id == m->header.id);
  CHECK(any_message_decode(m->header.type, &body, &again) == TPROTO_OK);
  CHECK(any_message_equal(&again, m));
  any_message_clear(&again);
  tproto_buf_free(&out);
}

static void decode_as(uint8_t type, uint32_t id, const uint8_t *payload, size_t n)
{
  tproto_buf body;
  tproto_buf_init_const(&body, payload, n);
  any_message m = { .header = { type, id } };
  int r = any_message_decode(type, &body, &m);
  if (r != TPROTO_OK) {
    CHECK(r == TPROTO_E_TRUNCATED || r == TPROTO_E_TOO_LARGE || r == TPROTO_E_INVALID);
    return;
  }
  CHECK(tproto_buf_remaining(&body) == 0);
  look_up_names(&m);
  check_reencoding(payload, n, &m);
  any_message_clear(&m);
}

static void decode_every_way(uint32_t id, const uint8_t *payload, size_t n)
{
  for (size_t t = 0; t < any_message_n_types; t++)
    decode_as(any_message_types[t], id, payload, n);
}

/* One whole frame, as framing hands it over. */
static void fuzz_frame(const uint8_t *frame, size_t len)
{
  tproto_header h;
  tproto_buf body;
  CHECK(tproto_frame_open(frame, len, &h, &body) == TPROTO_OK);
  CHECK(body.off == TPROTO_HEADER_LEN && tproto_buf_remaining(&body) == len - TPROTO_HEADER_LEN);
  CHECK(tproto_buf_read_ptr(&body) == frame + TPROTO_HEADER_LEN);

  /* The decoder the header asks for, on frame_open's own body view. */
  any_message m = { .header = h };
  if (any_message_decode(h.type, &body, &m) == TPROTO_OK)
    any_message_clear(&m);

  decode_every_way(h.id, frame + TPROTO_HEADER_LEN, len - TPROTO_HEADER_LEN);
}

/* Splits the input into frames like a socket reader; returns how many. */
static size_t fuzz_stream(const uint8_t *data, size_t size)
{
  size_t off = 0, frames = 0;
  for (;;) {
    size_t frame_len = 0;
    int r = tproto_frame_peek(data + off, size - off, &frame_len);
    if (r != 1) {
      CHECK(r == 0 || r == TPROTO_E_TOO_LARGE || r == TPROTO_E_INVALID);
      return frames;
    }
    CHECK(frame_len >= TPROTO_HEADER_LEN && frame_len <= size - off);
    fuzz_frame(data + off, frame_len);
    off += frame_len;
    frames++;
  }
}

/* The same stream fed through a growing buffer in small reads, as the
 * agent's connection does: must find the same frames. */
static void fuzz_reassembly(const uint8_t *data, size_t size, size_t expect_frames)
{
  size_t chunk = size ? 1 + data[0] % 64 : 1;
  tproto_buf in;
  tproto_buf_init(&in);
  in.max = TPROTO_MAX_FRAME + 4 + 64; /* room for a whole frame plus one read */
  size_t fed = 0, frames = 0;
  for (;;) {
    size_t frame_len = 0;
    int r = tproto_frame_peek(tproto_buf_read_ptr(&in), tproto_buf_remaining(&in), &frame_len);
    if (r == 1) {
      tproto_header h;
      tproto_buf body;
      CHECK(tproto_frame_open(tproto_buf_read_ptr(&in), frame_len, &h, &body) == TPROTO_OK);
      tproto_buf_consume(&in, frame_len);
      frames++;
      continue;
    }
    if (r < 0 || fed == size)
      break;
    size_t k = size - fed < chunk ? size - fed : chunk;
    CHECK(tproto_put(&in, data + fed, k) == TPROTO_OK);
    fed += k;
  }
  CHECK(frames == expect_frames);
  tproto_buf_free(&in);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  size_t frames = fuzz_stream(data, size);
  fuzz_reassembly(data, size, frames);

  /* The whole input as exactly one frame (trailing bytes refused). */
  tproto_header h;
  tproto_buf body;
  int r = tproto_frame_open(data, size, &h, &body);
  CHECK(r <= 0);
  if (r == TPROTO_OK)
    CHECK(frames >= 1);

  /* The whole input as a bare body, so mutations need not keep a header. */
  decode_every_way(0, data, size);
  return 0;
}
