/* tessera tests — any wire message as one tagged value.
 *
 * The codec has one encoder and one decoder per message type; the unit
 * tests and the fuzzer both need to treat all types alike (decode a body as
 * type T, compare two messages, encode one back), so that dispatch lives
 * here once. libc + proto only, so the fuzzer can use it without GLib.
 */
#pragma once

#include "messages.h"

#include <stdbool.h>
#include <stddef.h>

typedef struct {
  tproto_header header;
  union {
    tproto_hello hello;
    tproto_bytes token; /* LIST_KEYS, LOGOUT: empty = all */
    tproto_sign sign;
    tproto_decrypt decrypt;
    tproto_derive derive;
    tproto_login login;
    tproto_error error;
    tproto_hello_reply hello_reply;
    tproto_status status;
    struct {
      tproto_token *items;
      uint32_t n;
    } tokens;
    struct {
      tproto_key *items;
      uint32_t n;
    } keys;
    struct {
      tproto_reader *items;
      uint32_t n;
    } readers;
    tproto_event event;
    tproto_bytes data;
  } u;
} any_message;

/* Every message type the protocol defines, requests first. */
extern const uint8_t any_message_types[];
extern const size_t any_message_n_types;

/* Decodes body as `type`, whatever its frame header said; m->header.type
 * is set to type, m->header.id is left as the caller set it. Views point
 * into the body; lists are heap arrays (any_message_clear frees them).
 * On failure m holds nothing that needs freeing. */
int any_message_decode(uint8_t type, tproto_buf *body, any_message *m);
/* Appends m as one frame with the matching tproto_enc_* function. */
int any_message_encode(tproto_buf *b, const any_message *m);
bool any_message_equal(const any_message *a, const any_message *b);
/* Frees the lists of a message filled by any_message_decode (not of one
 * the caller built from its own arrays). */
void any_message_clear(any_message *m);
