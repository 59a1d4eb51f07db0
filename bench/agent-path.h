/* bench-sign — signing through tessera-agent with libtessera-client. */
#pragma once

#include <glib.h>

typedef struct BenchAgent BenchAgent;

/* Connects to the agent and logs in to the token (an existing login is fine). */
BenchAgent *bench_agent_open(const char *socket_path, const char *token_label, const char *pin,
                             GError **error);
void bench_agent_free(BenchAgent *a);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(BenchAgent, bench_agent_free)

/* The agent's id of the key with this CKA_ID on the benchmark's token. */
char *bench_agent_key_id(BenchAgent *a, GBytes *ckaid, GError **error);

/* One STATUS request: a round trip that never reaches a token. */
gboolean bench_agent_status(BenchAgent *a, GError **error);

/* One SIGN request (mech: TPROTO_MECH_*); sig must hold *sig_len bytes. */
gboolean bench_agent_sign(BenchAgent *a, const char *key_uri, guint8 mech, const guint8 *in,
                          gsize in_len, guint8 *sig, gsize *sig_len, GError **error);
