/* bench-pkcs11 — a relay that counts the messages between a PKCS#11
 * module and the process it remotes to: it listens on a socket of its own,
 * forwards every connection to the real socket and counts the frames of
 * the protocol on the way. Only for counting: it adds a hop, so nothing
 * timed goes through it. */
#pragma once

#include <glib.h>

typedef enum {
  BENCH_FRAMES_TESSERA, /* the agent's protocol: u32 length, u8 type, u32 id */
  BENCH_FRAMES_P11_KIT, /* p11-kit's RPC: one byte each way, then u32 code, u32 options
                           length, u32 data length */
} BenchFrames;

typedef struct BenchRelay BenchRelay;

typedef struct {
  guint connections;
  guint requests; /* frames from the client: one round trip each */
  guint replies;  /* frames from the server, events not included */
  guint events;   /* R_EVENT frames (tessera only) */
  char *sequence; /* the requests in order: "HELLO SUBSCRIBE ..." (tessera message types,
                     p11-kit call names) */
} BenchRelayCounts;

/* Listens on listen_path (which must not exist) in a thread of its own. */
BenchRelay *bench_relay_start(BenchFrames frames, const char *upstream_path,
                              const char *listen_path, GError **error);
/* Stops the thread, closes every connection and removes the socket. */
void bench_relay_free(BenchRelay *r);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(BenchRelay, bench_relay_free)

/* The counts since the last reset (or the start); resets them. */
void bench_relay_take(BenchRelay *r, BenchRelayCounts *out);
void bench_relay_counts_clear(BenchRelayCounts *c);
