/* bench-sign — what the agent costs: the same SoftHSM2 key signs directly
 * through PKCS#11 and through tessera-agent, and the two are compared.
 *
 *   bench-sign --pin PIN [--socket PATH] [--module PATH] [--token LABEL]
 *              [--ec-key-id HEX] [--rsa-key-id HEX] [--iterations N]
 *
 * It also prints the floor any agent has to stand on: one round trip
 * between two processes over a Unix socket, and the agent's STATUS.
 */
#include "agent-path.h"
#include "bench-error.h"
#include "bench-util.h"
#include "messages.h"
#include "p11-direct.h"
#include "socket-floor.h"
#include "tessera-client.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SHA256_LEN BENCH_SHA256_LEN
#define MAX_SIGNATURE BENCH_MAX_SIGNATURE

typedef struct {
  const char *name;
  GBytes *ckaid;
  CK_MECHANISM_TYPE ck_mech;
  guint8 proto_mech;
  const guint8 *input;
  gsize input_len;
  guint iterations;
} BenchCase;

typedef gboolean (*SignOnce)(gpointer ctx, guint8 *sig, gsize *sig_len, GError **error);

typedef struct {
  BenchDirect *direct;
  CK_OBJECT_HANDLE key;
  const BenchCase *bcase;
} DirectCtx;

typedef struct {
  BenchAgent *agent;
  char *key_uri;
  const BenchCase *bcase;
} AgentCtx;

static gboolean direct_sign_once(gpointer ctx, guint8 *sig, gsize *sig_len, GError **error)
{
  DirectCtx *d = ctx;
  return bench_direct_sign(d->direct, d->key, d->bcase->ck_mech, d->bcase->input,
                           d->bcase->input_len, sig, sig_len, error);
}

static gboolean agent_sign_once(gpointer ctx, guint8 *sig, gsize *sig_len, GError **error)
{
  AgentCtx *a = ctx;
  return bench_agent_sign(a->agent, a->key_uri, a->bcase->proto_mech, a->bcase->input,
                          a->bcase->input_len, sig, sig_len, error);
}

static gboolean run_n(SignOnce op, gpointer ctx, guint n, GError **error)
{
  guint8 sig[MAX_SIGNATURE];
  for (guint i = 0; i < n; i++) {
    gsize sig_len = sizeof(sig);
    if (!op(ctx, sig, &sig_len, error))
      return FALSE;
  }
  return TRUE;
}

/* Microseconds per operation over n calls. */
static gboolean time_op(SignOnce op, gpointer ctx, guint n, double *us_per_op, GError **error)
{
  gint64 start = g_get_monotonic_time();
  if (!run_n(op, ctx, n, error))
    return FALSE;
  *us_per_op = (double)(g_get_monotonic_time() - start) / n;
  return TRUE;
}

/* A shared VM drifts by tens of percent within seconds, so the two paths
 * run in alternating rounds and the medians are compared: each round sees
 * the same machine for both. */
#define ROUNDS 15

typedef struct {
  double a_us, b_us, ratio; /* medians over the rounds */
} Comparison;

/* n operations per path in all; a short warm-up first fills caches and
 * lets the agent's worker threads start. b may be NULL (a alone). */
static gboolean compare_ops(SignOnce a, gpointer a_ctx, SignOnce b, gpointer b_ctx, guint n,
                            Comparison *out, GError **error)
{
  guint per_round = MAX(n / ROUNDS, 1);
  if (!run_n(a, a_ctx, MAX(per_round / 2, 5), error) ||
      (b && !run_n(b, b_ctx, MAX(per_round / 2, 5), error)))
    return FALSE;
  double a_us[ROUNDS], b_us[ROUNDS], ratio[ROUNDS];
  for (guint r = 0; r < ROUNDS; r++) {
    if (!time_op(a, a_ctx, per_round, &a_us[r], error))
      return FALSE;
    b_us[r] = ratio[r] = 0;
    if (b && !time_op(b, b_ctx, per_round, &b_us[r], error))
      return FALSE;
    ratio[r] = b ? b_us[r] / a_us[r] : 0;
  }
  out->a_us = bench_median(a_us, ROUNDS);
  out->b_us = bench_median(b_us, ROUNDS);
  out->ratio = bench_median(ratio, ROUNDS);
  return TRUE;
}

/* PKCS#1 v1.5 is deterministic: both paths must give the same bytes, which
 * shows the agent signed what the benchmark meant it to. ECDSA is randomised,
 * so only its raw r||s length is checked. */
static gboolean cross_check(DirectCtx *dc, AgentCtx *ac, GError **error)
{
  guint8 a[MAX_SIGNATURE], b[MAX_SIGNATURE];
  gsize a_len = sizeof(a), b_len = sizeof(b);
  if (!direct_sign_once(dc, a, &a_len, error) || !agent_sign_once(ac, b, &b_len, error))
    return FALSE;
  gboolean same = dc->bcase->ck_mech == CKM_RSA_PKCS
                      ? a_len == b_len && memcmp(a, b, a_len) == 0
                      : a_len == b_len;
  if (!same)
    g_set_error(error, BENCH_ERROR, 0, "%s: the agent's signature differs from the direct one",
                dc->bcase->name);
  return same;
}

static gboolean status_once(gpointer ctx, guint8 *sig, gsize *sig_len, GError **error)
{
  return bench_agent_status(ctx, error);
}

/* The floor under every agent figure: socket, main loop, codec. */
static gboolean bench_round_trip(BenchAgent *agent, guint iterations, GError **error)
{
  Comparison c;
  if (!compare_ops(status_once, agent, NULL, NULL, iterations, &c, error))
    return FALSE;
  double floor_us;
  if (!bench_socket_floor(iterations, &floor_us, error))
    return FALSE;
  printf("%-9s two processes, one socket round trip    %7.1f us/op   (%u ops)\n", "floor",
         floor_us, iterations);
  printf("%-9s agent round trip, no token (STATUS)     %7.1f us/op   (%u ops)\n", "STATUS",
         c.a_us, iterations);
  return TRUE;
}

static gboolean bench_case(BenchDirect *direct, BenchAgent *agent, const BenchCase *bcase,
                           GError **error)
{
  DirectCtx dc = { direct, CK_INVALID_HANDLE, bcase };
  dc.key = bench_direct_find_key(direct, bcase->ckaid, error);
  if (dc.key == CK_INVALID_HANDLE)
    return FALSE;
  g_autofree char *key_id = bench_agent_key_id(agent, bcase->ckaid, error);
  if (key_id == NULL)
    return FALSE;
  AgentCtx ac = { agent, key_id, bcase };

  if (!cross_check(&dc, &ac, error))
    return FALSE;
  Comparison c;
  if (!compare_ops(direct_sign_once, &dc, agent_sign_once, &ac, bcase->iterations, &c, error))
    return FALSE;
  printf("%-9s direct %7.1f us/op   agent %7.1f us/op   ratio %.2f   (+%.1f us; %u ops each)\n",
         bcase->name, c.a_us, c.b_us, c.ratio, c.b_us - c.a_us, bcase->iterations);
  fflush(stdout);
  return TRUE;
}

typedef struct {
  char *module, *socket, *token, *pin, *ec_key_id, *rsa_key_id;
  gint iterations;
} Options;

static void options_clear(Options *o)
{
  g_free(o->module);
  g_free(o->socket);
  g_free(o->token);
  if (o->pin)
    explicit_bzero(o->pin, strlen(o->pin));
  g_free(o->pin);
  g_free(o->ec_key_id);
  g_free(o->rsa_key_id);
}
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(Options, options_clear)

static gboolean parse_options(int *argc, char ***argv, Options *o, GError **error)
{
  GOptionEntry entries[] = {
    { "module", 0, 0, G_OPTION_ARG_FILENAME, &o->module, "PKCS#11 module for the direct path",
      "PATH" },
    { "socket", 0, 0, G_OPTION_ARG_FILENAME, &o->socket, "agent socket (default: as tessera)",
      "PATH" },
    { "token", 0, 0, G_OPTION_ARG_STRING, &o->token, "token label (default tessera-test-1)",
      "LABEL" },
    { "pin", 0, 0, G_OPTION_ARG_STRING, &o->pin, "user PIN of the token (required)", "PIN" },
    { "ec-key-id", 0, 0, G_OPTION_ARG_STRING, &o->ec_key_id, "CKA_ID of the P-256 key (03)",
      "HEX" },
    { "rsa-key-id", 0, 0, G_OPTION_ARG_STRING, &o->rsa_key_id,
      "CKA_ID of the RSA-2048 key (01)", "HEX" },
    { "iterations", 0, 0, G_OPTION_ARG_INT, &o->iterations,
      "timed operations per path (default 2000 EC, 500 RSA)", "N" },
    { NULL, 0, 0, 0, NULL, NULL, NULL },
  };
  g_autoptr(GOptionContext) ctx =
      g_option_context_new("- time signatures directly through PKCS#11 and via tessera-agent");
  g_option_context_add_main_entries(ctx, entries, NULL);
  if (!g_option_context_parse(ctx, argc, argv, error))
    return FALSE;
  if (!o->pin || o->iterations < 0) {
    g_set_error_literal(error, BENCH_ERROR, 0, "--pin is required and --iterations must be >= 0");
    return FALSE;
  }
  if (!o->module)
    o->module = g_strdup(BENCH_DEFAULT_MODULE);
  if (!o->socket)
    o->socket = tessera_default_socket_path();
  if (!o->token)
    o->token = g_strdup("tessera-test-1");
  if (!o->ec_key_id)
    o->ec_key_id = g_strdup("03");
  if (!o->rsa_key_id)
    o->rsa_key_id = g_strdup("01");
  return TRUE;
}

static gboolean run(Options *o, GError **error)
{
  g_autoptr(GBytes) ec_id = bench_parse_hex("--ec-key-id", o->ec_key_id, error);
  if (!ec_id)
    return FALSE;
  g_autoptr(GBytes) rsa_id = bench_parse_hex("--rsa-key-id", o->rsa_key_id, error);
  if (!rsa_id)
    return FALSE;

  guint8 digest[SHA256_LEN], digest_info[BENCH_DIGEST_INFO_LEN];
  bench_sign_inputs(digest, digest_info);

  g_autoptr(BenchDirect) direct = bench_direct_open(o->module, o->token, o->pin, error);
  if (!direct)
    return FALSE;
  g_autoptr(BenchAgent) agent = bench_agent_open(o->socket, o->token, o->pin, error);
  if (!agent)
    return FALSE;

  const BenchCase cases[] = {
    { "P-256", ec_id, CKM_ECDSA, TPROTO_MECH_ECDSA, digest, SHA256_LEN,
      o->iterations ? (guint)o->iterations : 2000 },
    { "RSA-2048", rsa_id, CKM_RSA_PKCS, TPROTO_MECH_RSA_PKCS, digest_info, sizeof(digest_info),
      o->iterations ? (guint)o->iterations : 500 },
  };
  printf("Signing with token '%s': direct = %s in this process, agent = %s\n", o->token,
         o->module, o->socket);
  if (!bench_round_trip(agent, o->iterations ? (guint)o->iterations : 2000, error))
    return FALSE;
  for (size_t i = 0; i < G_N_ELEMENTS(cases); i++)
    if (!bench_case(direct, agent, &cases[i], error))
      return FALSE;
  return TRUE;
}

int main(int argc, char **argv)
{
  g_auto(Options) options = { 0 };
  g_autoptr(GError) error = NULL;
  if (!parse_options(&argc, &argv, &options, &error)) {
    fprintf(stderr, "bench-sign: %s\n", error->message);
    return 2;
  }
  if (!run(&options, &error)) {
    fprintf(stderr, "bench-sign: %s\n", error->message);
    return 1;
  }
  return 0;
}
