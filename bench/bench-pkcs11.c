/* bench-pkcs11 — what tessera-pkcs11.so costs an application: the same
 * SoftHSM2 token signs through the same PKCS#11 calls along three paths,
 *
 *   agent    tessera-pkcs11.so → tessera-agent → SoftHSM2
 *   softhsm  SoftHSM2 loaded directly
 *   p11-kit  p11-kit-client.so → p11-kit server (p11-kit-remote) → SoftHSM2
 *
 * warm: C_SignInit + C_Sign on a session that is open and logged in, the key
 * found once; the paths take turns in rounds and the medians are compared.
 * A fourth, reference, row signs with libtessera-client straight to the
 * agent (one SIGN request, no PKCS#11 layer): (a) minus it is what the
 * module itself costs.
 * cold: the whole life of a one-signature program, C_Initialize ...
 * C_Finalize, each time in a fresh process (this binary again, in
 * --cold-child mode). Then each remoted path runs cold twice more, with one
 * signature and with eleven, through a relay that counts its round trips.
 *
 *   bench-pkcs11 --pin PIN --tessera-module PATH --tessera-socket PATH
 *                --softhsm-module PATH --p11-kit-module PATH --p11-kit-socket PATH
 *                [--token LABEL] [--ec-key-id HEX] [--rsa-key-id HEX]
 *                [--iterations N] [--cold-runs N] [--no-count]
 *
 * bench/run-pkcs11-bench.sh sets all of this up.
 */
#include "agent-path.h"
#include "bench-error.h"
#include "bench-util.h"
#include "frame-count.h"
#include "messages.h"
#include "p11-direct.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define ROUNDS 15 /* warm: alternating rounds, as in bench-sign */

enum { PATH_AGENT, PATH_SOFTHSM, PATH_P11_KIT, N_PATHS };
#define REF_CLIENT N_PATHS /* warm only: libtessera-client → agent */
#define N_WARM (N_PATHS + 1)
enum { KEY_EC, KEY_RSA, N_KEYS };

static const char *const path_names[N_WARM] = {
  "(a) module → agent",
  "(b) SoftHSM2 direct",
  "(c) p11-kit remoting",
  "    client → agent",
};

typedef struct {
  const char *name;    /* "P-256" */
  const char *mech_arg; /* --mech of the cold child */
  CK_MECHANISM_TYPE mech;
  guint8 proto_mech; /* the same for the reference row */
  const guint8 *input;
  gsize input_len;
  gsize sig_len; /* what a signature must be */
  const char *ckaid_hex;
  GBytes *ckaid;
  guint iterations;
} KeyCase;

static guint8 digest[BENCH_SHA256_LEN], digest_info[BENCH_DIGEST_INFO_LEN];

/* The mechanisms and inputs; the key ids and counts are the caller's. */
static void key_cases(KeyCase keys[N_KEYS])
{
  bench_sign_inputs(digest, digest_info);
  keys[KEY_EC] = (KeyCase){ "P-256", "ecdsa", CKM_ECDSA, TPROTO_MECH_ECDSA, digest,
                            sizeof(digest), 64, NULL, NULL, 0 };
  keys[KEY_RSA] = (KeyCase){ "RSA-2048", "rsa", CKM_RSA_PKCS, TPROTO_MECH_RSA_PKCS, digest_info,
                             sizeof(digest_info), 256, NULL, NULL, 0 };
}

/* ---- one signature, checked ------------------------------------------ */

static gboolean sign_checked(BenchDirect *d, CK_OBJECT_HANDLE key, const KeyCase *k, guint8 *sig,
                             gsize *sig_len, GError **error)
{
  *sig_len = BENCH_MAX_SIGNATURE;
  if (!bench_direct_sign(d, key, k->mech, k->input, k->input_len, sig, sig_len, error))
    return FALSE;
  if (*sig_len != k->sig_len) {
    g_set_error(error, BENCH_ERROR, 0, "%s: a %zu-byte signature, expected %zu", k->name,
                *sig_len, k->sig_len);
    return FALSE;
  }
  return TRUE;
}

static gboolean sign_n(BenchDirect *d, CK_OBJECT_HANDLE key, const KeyCase *k, guint n,
                       GError **error)
{
  guint8 sig[BENCH_MAX_SIGNATURE];
  gsize sig_len;
  for (guint i = 0; i < n; i++)
    if (!sign_checked(d, key, k, sig, &sig_len, error))
      return FALSE;
  return TRUE;
}

/* ---- cold: the child ---------------------------------------------------- */

typedef struct {
  char *module, *token, *pin, *key_id, *mech;
  gint signs;
} ChildOptions;

/* One program's life; prints the microseconds of each step on one line:
 * load, C_Initialize..C_Login, find, the first C_SignInit + C_Sign,
 * C_CloseSession + C_Finalize. More signatures (--signs) are not timed:
 * they are there for counting round trips. */
static gboolean cold_child(const ChildOptions *o, const KeyCase *keys, GError **error)
{
  const KeyCase *k = NULL;
  for (int i = 0; i < N_KEYS; i++)
    if (strcmp(o->mech, keys[i].mech_arg) == 0)
      k = &keys[i];
  if (!k) {
    g_set_error(error, BENCH_ERROR, 0, "--mech: '%s' is neither ecdsa nor rsa", o->mech);
    return FALSE;
  }
  g_autoptr(GBytes) ckaid = bench_parse_hex("--key-id", o->key_id, error);
  if (!ckaid)
    return FALSE;

  gint64 t0 = g_get_monotonic_time();
  g_autoptr(BenchDirect) d = bench_direct_load(o->module, error);
  if (!d)
    return FALSE;
  gint64 t1 = g_get_monotonic_time();
  if (!bench_direct_start(d, o->token, o->pin, error))
    return FALSE;
  gint64 t2 = g_get_monotonic_time();
  CK_OBJECT_HANDLE key = bench_direct_find_key(d, ckaid, error);
  gint64 t3 = g_get_monotonic_time();
  gboolean ok = key != CK_INVALID_HANDLE && sign_n(d, key, k, 1, error);
  gint64 t4 = g_get_monotonic_time();
  ok = ok && (o->signs <= 1 || sign_n(d, key, k, (guint)o->signs - 1, error));
  gint64 t5 = g_get_monotonic_time();
  if (!ok) {
    bench_direct_stop(d, NULL); /* not bench_direct_free's C_Logout: see run() */
    return FALSE;
  }
  if (!bench_direct_stop(d, error))
    return FALSE;
  gint64 t6 = g_get_monotonic_time();
  printf("%" G_GINT64_FORMAT " %" G_GINT64_FORMAT " %" G_GINT64_FORMAT " %" G_GINT64_FORMAT
         " %" G_GINT64_FORMAT "\n",
         t1 - t0, t2 - t1, t3 - t2, t4 - t3, t6 - t5);
  return TRUE;
}

/* ---- cold: the parent --------------------------------------------------- */

enum { PHASE_LOAD, PHASE_START, PHASE_FIND, PHASE_SIGN, PHASE_STOP, N_PHASES };

typedef struct {
  double phase_us[N_PHASES];
  double process_us; /* spawn to exit, as the parent sees it */
} ColdRun;

typedef struct {
  char *self;
  const char *modules[N_PATHS];
  const char *token, *pin;
} ColdSetup;

/* Runs one child; envp NULL inherits this process's environment. */
static gboolean run_child(const ColdSetup *s, int path, const KeyCase *k, guint signs,
                          char **envp, ColdRun *out, GError **error)
{
  g_autofree char *signs_arg = g_strdup_printf("%u", signs);
  const char *argv[] = { s->self, "--cold-child", "--module", s->modules[path], "--token",
                         s->token, "--pin", s->pin, "--key-id", k->ckaid_hex, "--mech",
                         k->mech_arg, "--signs", signs_arg, NULL };
  g_autofree char *child_out = NULL, *child_err = NULL;
  int status = 0;
  gint64 start = g_get_monotonic_time();
  if (!g_spawn_sync(NULL, (char **)argv, envp, G_SPAWN_DEFAULT, NULL, NULL, &child_out,
                    &child_err, &status, error))
    return FALSE;
  out->process_us = (double)(g_get_monotonic_time() - start);
  if (!g_spawn_check_wait_status(status, NULL)) {
    g_set_error(error, BENCH_ERROR, 0, "cold run of %s, %s failed: %s", path_names[path],
                k->name, g_strstrip(child_err));
    return FALSE;
  }
  gint64 us[N_PHASES];
  if (sscanf(child_out,
             "%" G_GINT64_FORMAT " %" G_GINT64_FORMAT " %" G_GINT64_FORMAT " %" G_GINT64_FORMAT
             " %" G_GINT64_FORMAT,
             &us[0], &us[1], &us[2], &us[3], &us[4]) != N_PHASES) {
    g_set_error(error, BENCH_ERROR, 0, "cold run of %s: unreadable output '%s'",
                path_names[path], child_out);
    return FALSE;
  }
  for (int i = 0; i < N_PHASES; i++)
    out->phase_us[i] = (double)us[i];
  return TRUE;
}

/* Initialize..Finalize: what the issue calls the cold sequence. */
static double cold_sequence_us(const ColdRun *r)
{
  return r->phase_us[PHASE_START] + r->phase_us[PHASE_FIND] + r->phase_us[PHASE_SIGN] +
         r->phase_us[PHASE_STOP];
}

typedef struct {
  double sequence_ms, phase_ms[N_PHASES], process_ms;
} ColdResult;

/* runs children per path and key, the paths and keys taking turns so that
 * each sees the same machine; one discarded warm-up run first. */
static gboolean bench_cold(const ColdSetup *s, const KeyCase *keys, guint runs,
                           ColdResult out[N_PATHS][N_KEYS], GError **error)
{
  ColdRun *all = g_new0(ColdRun, (gsize)N_PATHS * N_KEYS * runs);
#define RUN(p, k, i) all[((gsize)(p) * N_KEYS + (k)) * runs + (i)]
  gboolean ok = TRUE;
  for (guint i = 0; ok && i <= runs; i++)
    for (int k = 0; ok && k < N_KEYS; k++)
      for (int p = 0; ok && p < N_PATHS; p++) {
        ColdRun discard;
        ok = run_child(s, p, &keys[k], 1, NULL, i == 0 ? &discard : &RUN(p, k, i - 1), error);
      }
  for (int p = 0; ok && p < N_PATHS; p++)
    for (int k = 0; k < N_KEYS; k++) {
      g_autofree double *v = g_new(double, runs);
      for (guint i = 0; i < runs; i++)
        v[i] = cold_sequence_us(&RUN(p, k, i));
      out[p][k].sequence_ms = bench_median(v, runs) / 1000;
      for (int ph = 0; ph < N_PHASES; ph++) {
        for (guint i = 0; i < runs; i++)
          v[i] = RUN(p, k, i).phase_us[ph];
        out[p][k].phase_ms[ph] = bench_median(v, runs) / 1000;
      }
      for (guint i = 0; i < runs; i++)
        v[i] = RUN(p, k, i).process_us;
      out[p][k].process_ms = bench_median(v, runs) / 1000;
    }
#undef RUN
  g_free(all);
  return ok;
}

/* ---- warm ----------------------------------------------------------------- */

typedef struct {
  double us[N_WARM];     /* median microseconds per signature */
  double a_over[N_WARM]; /* median over the rounds of (a)'s time / this row's */
} WarmResult;

/* The signers of one key: the three paths' sessions and the reference. */
typedef struct {
  BenchDirect *d[N_PATHS];
  CK_OBJECT_HANDLE key[N_PATHS];
  BenchAgent *agent;
  char *agent_key;
  const KeyCase *k;
} Signers;

static gboolean sign_warm(Signers *s, int row, guint n, guint8 *sig, gsize *sig_len,
                          GError **error)
{
  if (row < N_PATHS) {
    for (guint i = 0; i < n; i++)
      if (!sign_checked(s->d[row], s->key[row], s->k, sig, sig_len, error))
        return FALSE;
    return TRUE;
  }
  for (guint i = 0; i < n; i++) {
    *sig_len = BENCH_MAX_SIGNATURE;
    if (!bench_agent_sign(s->agent, s->agent_key, s->k->proto_mech, s->k->input,
                          s->k->input_len, sig, sig_len, error))
      return FALSE;
  }
  return TRUE;
}

static gboolean bench_warm(Signers *s, WarmResult *out, GError **error)
{
  const KeyCase *k = s->k;
  for (int p = 0; p < N_PATHS; p++) {
    s->key[p] = bench_direct_find_key(s->d[p], k->ckaid, error);
    if (s->key[p] == CK_INVALID_HANDLE) {
      g_prefix_error(error, "%s: ", path_names[p]);
      return FALSE;
    }
  }
  g_free(s->agent_key);
  s->agent_key = bench_agent_key_id(s->agent, k->ckaid, error);
  if (!s->agent_key)
    return FALSE;
  /* PKCS#1 v1.5 is deterministic: every row must give the same bytes,
   * which shows each signed with the same key what it was meant to. */
  guint8 sig[N_WARM][BENCH_MAX_SIGNATURE];
  gsize sig_len[N_WARM];
  for (int r = 0; r < N_WARM; r++)
    if (!sign_warm(s, r, 1, sig[r], &sig_len[r], error)) {
      g_prefix_error(error, "%s: ", path_names[r]);
      return FALSE;
    }
  for (int r = 1; r < N_WARM; r++)
    if (sig_len[r] != sig_len[0] ||
        (k->mech == CKM_RSA_PKCS && memcmp(sig[0], sig[r], sig_len[0]) != 0)) {
      g_set_error(error, BENCH_ERROR, 0, "%s: %s and %s signed differently", k->name,
                  path_names[0], path_names[r]);
      return FALSE;
    }

  guint per_round = MAX(k->iterations / ROUNDS, 1);
  for (int r = 0; r < N_WARM; r++)
    if (!sign_warm(s, r, MAX(per_round / 2, 5), sig[r], &sig_len[r], error))
      return FALSE;
  double us[N_WARM][ROUNDS], ratio[N_WARM][ROUNDS];
  for (guint round = 0; round < ROUNDS; round++) {
    for (int i = 0; i < N_WARM; i++) {
      int r = (int)((round + (guint)i) % N_WARM); /* each row first in turn */
      gint64 start = g_get_monotonic_time();
      if (!sign_warm(s, r, per_round, sig[r], &sig_len[r], error))
        return FALSE;
      us[r][round] = (double)(g_get_monotonic_time() - start) / per_round;
    }
    for (int r = 0; r < N_WARM; r++)
      ratio[r][round] = us[PATH_AGENT][round] / us[r][round];
  }
  for (int r = 0; r < N_WARM; r++) {
    out->us[r] = bench_median(us[r], ROUNDS);
    out->a_over[r] = bench_median(ratio[r], ROUNDS);
  }
  return TRUE;
}

/* ---- round trips ---------------------------------------------------------- */

/* The requests of one cold run through a counting relay; with signs > 1
 * the extra signatures' requests are in the counts too. */
static gboolean count_run(const ColdSetup *s, BenchRelay *relay, int path, const KeyCase *k,
                          guint signs, char **envp, BenchRelayCounts *out, GError **error)
{
  ColdRun ignored;
  BenchRelayCounts before = { 0 };
  bench_relay_take(relay, &before); /* nothing, unless a stray connection */
  bench_relay_counts_clear(&before);
  if (!run_child(s, path, k, signs, envp, &ignored, error))
    return FALSE;
  bench_relay_take(relay, out);
  return TRUE;
}

static gboolean count_path(const ColdSetup *s, int path, BenchFrames frames,
                           const char *upstream, const char *env_name, const char *env_prefix,
                           const char *dir, const KeyCase *keys, GError **error)
{
  g_autofree char *listen = g_build_filename(dir, path == PATH_AGENT ? "a.sock" : "c.sock", NULL);
  g_autoptr(BenchRelay) relay = bench_relay_start(frames, upstream, listen, error);
  if (!relay)
    return FALSE;
  g_autofree char *value = g_strconcat(env_prefix, listen, NULL);
  g_auto(GStrv) envp = g_environ_setenv(g_get_environ(), env_name, value, TRUE);
  const char *unit = frames == BENCH_FRAMES_TESSERA ? "agent requests" : "RPC round trips";
  for (int i = 0; i < N_KEYS; i++) {
    BenchRelayCounts one = { 0 }, eleven = { 0 };
    if (!count_run(s, relay, path, &keys[i], 1, envp, &one, error) ||
        !count_run(s, relay, path, &keys[i], 11, envp, &eleven, error)) {
      bench_relay_counts_clear(&one);
      return FALSE;
    }
    printf("  %s, %s: %u %s on %u connection%s", path_names[path], keys[i].name, one.requests,
           unit, one.connections, one.connections == 1 ? "" : "s");
    if (frames == BENCH_FRAMES_TESSERA)
      printf(", %u event%s", one.events, one.events == 1 ? "" : "s");
    printf("; each further C_SignInit + C_Sign: %.1f\n",
           (double)(eleven.requests - one.requests) / 10);
    printf("      %s\n", one.sequence);
    bench_relay_counts_clear(&one);
    bench_relay_counts_clear(&eleven);
  }
  return TRUE;
}

/* ---- options and output ------------------------------------------------------ */

typedef struct {
  char *modules[N_PATHS], *tessera_socket, *p11_kit_socket;
  char *token, *pin, *ec_key_id, *rsa_key_id;
  gint iterations, cold_runs;
  gboolean no_count;
  gboolean cold_child;
  ChildOptions child;
} Options;

static void options_clear(Options *o)
{
  for (int p = 0; p < N_PATHS; p++)
    g_free(o->modules[p]);
  g_free(o->tessera_socket);
  g_free(o->p11_kit_socket);
  g_free(o->token);
  if (o->pin)
    explicit_bzero(o->pin, strlen(o->pin));
  g_free(o->pin);
  g_free(o->ec_key_id);
  g_free(o->rsa_key_id);
  g_free(o->child.module);
  g_free(o->child.key_id);
  g_free(o->child.mech);
}
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(Options, options_clear)

static gboolean parse_options(int *argc, char ***argv, Options *o, GError **error)
{
  GOptionEntry entries[] = {
    { "tessera-module", 0, 0, G_OPTION_ARG_FILENAME, &o->modules[PATH_AGENT],
      "tessera-pkcs11.so (path a)", "PATH" },
    { "tessera-socket", 0, 0, G_OPTION_ARG_FILENAME, &o->tessera_socket,
      "the agent's socket, as TESSERA_SOCKET (default: the environment's)", "PATH" },
    { "softhsm-module", 0, 0, G_OPTION_ARG_FILENAME, &o->modules[PATH_SOFTHSM],
      "SoftHSM2 (path b, and behind a and c)", "PATH" },
    { "p11-kit-module", 0, 0, G_OPTION_ARG_FILENAME, &o->modules[PATH_P11_KIT],
      "p11-kit-client.so (path c)", "PATH" },
    { "p11-kit-socket", 0, 0, G_OPTION_ARG_FILENAME, &o->p11_kit_socket,
      "the socket of `p11-kit server`", "PATH" },
    { "token", 0, 0, G_OPTION_ARG_STRING, &o->token, "token label (default tessera-test-1)",
      "LABEL" },
    { "pin", 0, 0, G_OPTION_ARG_STRING, &o->pin, "user PIN of the token (required)", "PIN" },
    { "ec-key-id", 0, 0, G_OPTION_ARG_STRING, &o->ec_key_id, "CKA_ID of the P-256 key (03)",
      "HEX" },
    { "rsa-key-id", 0, 0, G_OPTION_ARG_STRING, &o->rsa_key_id,
      "CKA_ID of the RSA-2048 key (01)", "HEX" },
    { "iterations", 0, 0, G_OPTION_ARG_INT, &o->iterations,
      "warm signatures per path (default 3000 EC, 600 RSA)", "N" },
    { "cold-runs", 0, 0, G_OPTION_ARG_INT, &o->cold_runs,
      "cold processes per path and key (default 30)", "N" },
    { "no-count", 0, 0, G_OPTION_ARG_NONE, &o->no_count, "do not count round trips", NULL },
    /* The cold child: one program's life, timed. */
    { "cold-child", 0, G_OPTION_FLAG_HIDDEN, G_OPTION_ARG_NONE, &o->cold_child, NULL, NULL },
    { "module", 0, G_OPTION_FLAG_HIDDEN, G_OPTION_ARG_FILENAME, &o->child.module, NULL, NULL },
    { "key-id", 0, G_OPTION_FLAG_HIDDEN, G_OPTION_ARG_STRING, &o->child.key_id, NULL, NULL },
    { "mech", 0, G_OPTION_FLAG_HIDDEN, G_OPTION_ARG_STRING, &o->child.mech, NULL, NULL },
    { "signs", 0, G_OPTION_FLAG_HIDDEN, G_OPTION_ARG_INT, &o->child.signs, NULL, NULL },
    { NULL, 0, 0, 0, NULL, NULL, NULL },
  };
  g_autoptr(GOptionContext) ctx = g_option_context_new(
      "- sign through tessera-pkcs11.so, SoftHSM2 and p11-kit remoting, warm and cold");
  g_option_context_add_main_entries(ctx, entries, NULL);
  if (!g_option_context_parse(ctx, argc, argv, error))
    return FALSE;
  if (!o->token)
    o->token = g_strdup("tessera-test-1");
  if (!o->pin) {
    g_set_error_literal(error, BENCH_ERROR, 0, "--pin is required");
    return FALSE;
  }
  if (o->cold_child) {
    o->child.token = o->token;
    o->child.pin = o->pin;
    if (!o->child.module || !o->child.key_id || !o->child.mech || o->child.signs < 0) {
      g_set_error_literal(error, BENCH_ERROR, 0,
                          "--cold-child needs --module, --key-id and --mech");
      return FALSE;
    }
    return TRUE;
  }
  for (int p = 0; p < N_PATHS; p++)
    if (!o->modules[p]) {
      g_set_error_literal(error, BENCH_ERROR, 0,
                          "--tessera-module, --softhsm-module and --p11-kit-module are required");
      return FALSE;
    }
  if (!o->p11_kit_socket) {
    g_set_error_literal(error, BENCH_ERROR, 0, "--p11-kit-socket is required");
    return FALSE;
  }
  if (o->iterations < 0 || o->cold_runs < 0) {
    g_set_error_literal(error, BENCH_ERROR, 0, "--iterations and --cold-runs must be >= 0");
    return FALSE;
  }
  if (!o->tessera_socket && g_getenv("TESSERA_SOCKET"))
    o->tessera_socket = g_strdup(g_getenv("TESSERA_SOCKET"));
  if (!o->tessera_socket) {
    g_set_error_literal(error, BENCH_ERROR, 0, "--tessera-socket or TESSERA_SOCKET is required");
    return FALSE;
  }
  if (!o->ec_key_id)
    o->ec_key_id = g_strdup("03");
  if (!o->rsa_key_id)
    o->rsa_key_id = g_strdup("01");
  if (!o->cold_runs)
    o->cold_runs = 30;
  return TRUE;
}

static void print_verdict(const char *what, const char *target, double measured, gboolean met)
{
  printf("  %-38s %-10s measured %5.2f   %s\n", what, target, measured,
         met ? "met" : "NOT met");
}

static void print_results(const KeyCase *keys, const WarmResult warm[N_KEYS],
                          ColdResult cold[N_PATHS][N_KEYS], guint cold_runs)
{
  printf("\n%-22s %-9s %12s %12s %10s\n", "path", "key", "warm us/sig", "warm sig/s",
         "cold ms");
  for (int k = 0; k < N_KEYS; k++)
    for (int p = 0; p < N_PATHS; p++)
      /* "→" is one column but three bytes: pad by hand. */
      printf("%s%*s %-9s %12.1f %12.0f %10.2f\n", path_names[p],
             (int)(22 - g_utf8_strlen(path_names[p], -1)), "", keys[k].name, warm[k].us[p],
             1e6 / warm[k].us[p], cold[p][k].sequence_ms);
  printf("Reference, warm only: libtessera-client straight to the agent (one SIGN, no PKCS#11)\n");
  for (int k = 0; k < N_KEYS; k++)
    printf("%s%*s %-9s %12.1f %12.0f %10s   (a) minus this: %+.1f us\n",
           path_names[REF_CLIENT], (int)(22 - g_utf8_strlen(path_names[REF_CLIENT], -1)), "",
           keys[k].name, warm[k].us[REF_CLIENT], 1e6 / warm[k].us[REF_CLIENT], "",
           warm[k].us[PATH_AGENT] - warm[k].us[REF_CLIENT]);

  printf("\nTargets (warm: median of the %d rounds' ratios; cold: ratio of the medians)\n",
         ROUNDS);
  for (int k = 0; k < N_KEYS; k++) {
    double ab = warm[k].a_over[PATH_SOFTHSM], ac = warm[k].a_over[PATH_P11_KIT];
    double cold_ac = cold[PATH_AGENT][k].sequence_ms / cold[PATH_P11_KIT][k].sequence_ms;
    g_autofree char *w_ab = g_strdup_printf("warm (a)/(b), %s", keys[k].name);
    g_autofree char *w_ac = g_strdup_printf("warm (a)/(c), %s: (a) faster", keys[k].name);
    g_autofree char *c_ac = g_strdup_printf("cold (a)/(c), %s: at most half", keys[k].name);
    if (k == KEY_EC)
      print_verdict(w_ab, "<= 1.30", ab, ab <= 1.3);
    else
      printf("  %-38s %-10s measured %5.2f   (no target)\n", w_ab, "", ab);
    print_verdict(w_ac, "< 1", ac, ac < 1);
    print_verdict(c_ac, "<= 0.50", cold_ac, cold_ac <= 0.5);
  }

  static const char *const phase_names[N_PHASES] = { "load", "Init..Login", "Find", "Sign",
                                                      "Close+Fini" };
  printf("\nCold runs, medians of %u processes per row, ms: load (dlopen) is not in the cold\n"
         "figure, the process (spawn to exit, as the parent sees it) is everything\n",
         cold_runs);
  printf("%-22s %-9s", "path", "key");
  for (int ph = 0; ph < N_PHASES; ph++)
    printf(" %11s", phase_names[ph]);
  printf(" %9s\n", "process");
  for (int k = 0; k < N_KEYS; k++)
    for (int p = 0; p < N_PATHS; p++) {
      printf("%s%*s %-9s", path_names[p], (int)(22 - g_utf8_strlen(path_names[p], -1)), "",
             keys[k].name);
      for (int ph = 0; ph < N_PHASES; ph++)
        printf(" %11.2f", cold[p][k].phase_ms[ph]);
      printf(" %9.2f\n", cold[p][k].process_ms);
    }
}

static gboolean run(Options *o, GError **error)
{
  g_autoptr(GBytes) ec_id = bench_parse_hex("--ec-key-id", o->ec_key_id, error);
  if (!ec_id)
    return FALSE;
  g_autoptr(GBytes) rsa_id = bench_parse_hex("--rsa-key-id", o->rsa_key_id, error);
  if (!rsa_id)
    return FALSE;
  KeyCase keys[N_KEYS];
  key_cases(keys);
  keys[KEY_EC].ckaid_hex = o->ec_key_id;
  keys[KEY_EC].ckaid = ec_id;
  keys[KEY_EC].iterations = o->iterations ? (guint)o->iterations : 3000;
  keys[KEY_RSA].ckaid_hex = o->rsa_key_id;
  keys[KEY_RSA].ckaid = rsa_id;
  keys[KEY_RSA].iterations = o->iterations ? (guint)o->iterations : 600;
  /* Each module finds its server here; the cold children inherit it. */
  g_setenv("TESSERA_SOCKET", o->tessera_socket, TRUE);
  g_autofree char *p11_kit_address = g_strconcat("unix:path=", o->p11_kit_socket, NULL);
  g_setenv("P11_KIT_SERVER_ADDRESS", p11_kit_address, TRUE);

  printf("Token '%s', CKM_ECDSA on a SHA-256 digest and CKM_RSA_PKCS on a DigestInfo\n",
         o->token);
  printf("  (a) %s, agent at %s\n  (b) %s\n  (c) %s, p11-kit server at %s\n",
         o->modules[PATH_AGENT], o->tessera_socket, o->modules[PATH_SOFTHSM],
         o->modules[PATH_P11_KIT], o->p11_kit_socket);
  fflush(stdout);

  Signers signers = { 0 };
  WarmResult warm[N_KEYS];
  gboolean ok = TRUE;
  for (int p = 0; ok && p < N_PATHS; p++) {
    signers.d[p] = bench_direct_open(o->modules[p], o->token, o->pin, error);
    if (!signers.d[p]) {
      g_prefix_error(error, "%s: ", path_names[p]);
      ok = FALSE;
    }
  }
  if (ok)
    ok = (signers.agent = bench_agent_open(o->tessera_socket, o->token, o->pin, error)) != NULL;
  for (int k = 0; ok && k < N_KEYS; k++) {
    signers.k = &keys[k];
    ok = bench_warm(&signers, &warm[k], error);
  }
  /* No C_Logout: through the module it would log every client of the
   * agent out, the cold runs included. */
  for (int p = 0; p < N_PATHS; p++) {
    if (signers.d[p] && !bench_direct_stop(signers.d[p], ok ? error : NULL))
      ok = FALSE;
    bench_direct_free(signers.d[p]);
  }
  bench_agent_free(signers.agent);
  g_free(signers.agent_key);
  if (!ok)
    return FALSE;

  ColdSetup setup = { g_file_read_link("/proc/self/exe", error),
                      { o->modules[0], o->modules[1], o->modules[2] }, o->token, o->pin };
  if (!setup.self)
    return FALSE;
  ColdResult cold[N_PATHS][N_KEYS];
  ok = bench_cold(&setup, keys, (guint)o->cold_runs, cold, error);
  if (ok)
    print_results(keys, warm, cold, (guint)o->cold_runs);

  if (ok && !o->no_count) {
    printf("\nRound trips of one cold run (counted by a relay in front of the socket)\n");
    g_autofree char *dir = g_dir_make_tmp("bench-pkcs11.XXXXXX", error);
    ok = dir &&
         count_path(&setup, PATH_AGENT, BENCH_FRAMES_TESSERA, o->tessera_socket,
                    "TESSERA_SOCKET", "", dir, keys, error) &&
         count_path(&setup, PATH_P11_KIT, BENCH_FRAMES_P11_KIT, o->p11_kit_socket,
                    "P11_KIT_SERVER_ADDRESS", "unix:path=", dir, keys, error);
    if (dir)
      rmdir(dir);
  }
  g_free(setup.self);
  return ok;
}

int main(int argc, char **argv)
{
  g_auto(Options) options = { 0 };
  g_autoptr(GError) error = NULL;
  if (!parse_options(&argc, &argv, &options, &error)) {
    fprintf(stderr, "bench-pkcs11: %s\n", error->message);
    return 2;
  }
  gboolean ok;
  if (options.cold_child) {
    KeyCase keys[N_KEYS];
    key_cases(keys);
    if (options.child.signs == 0)
      options.child.signs = 1;
    ok = cold_child(&options.child, keys, &error);
  } else {
    ok = run(&options, &error);
  }
  if (!ok) {
    fprintf(stderr, "bench-pkcs11: %s\n", error->message);
    return 1;
  }
  return 0;
}
