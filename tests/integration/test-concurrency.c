/* Many clients at once: 50 threads, each with its own connection, signing
 * with keys of both tokens in turn; every signature verified. Requests
 * that need no token (STATUS) must not wait behind the busy tokens. */
#include "harness.h"

#include <string.h>

#define N_CLIENTS 50
#define MIN_OPS 10
#define STATUS_MAX_MS 2000

/* Disconnects are noticed asynchronously: polls until STATUS counts n. */
static void wait_for_clients(tessera_client *c, uint32_t n)
{
  gint64 deadline = g_get_monotonic_time() + 10 * G_USEC_PER_SEC;
  for (;;) {
    tessera_status st = { 0 };
    test_assert_rc(c, tessera_status_get(c, &st), TESSERA_OK);
    uint32_t got = st.n_clients;
    tessera_status_clear(&st);
    if (got == n)
      return;
    if (g_get_monotonic_time() > deadline)
      g_error("the agent counts %u clients, expected %u", got, n);
    g_usleep(10 * 1000);
  }
}

/* Token 1 and token 2 in turn. */
static const char *const key_cycle[] = { "rsa2048", "p256-b", "p256", "rsa2048-b", "p384",
                                         "p256-b", "rsa3072", "rsa2048-b" };

typedef struct {
  TestAgent *agent;
  gint started;  /* workers that finished their first operation */
  gint finished; /* workers done */
  gint stop;     /* set by the main thread: workers may end after MIN_OPS */
} Shared;

typedef struct {
  Shared *shared;
  guint index;
  guint ops;
} Worker;

static gpointer worker_run(gpointer data)
{
  Worker *w = data;
  g_autoptr(tessera_client) c = test_connect(w->shared->agent);
  static const uint8_t hashes[] = { TPROTO_HASH_SHA256, TPROTO_HASH_SHA384 };
  while (w->ops < MIN_OPS || !g_atomic_int_get(&w->shared->stop)) {
    const char *label = key_cycle[(w->index + w->ops) % G_N_ELEMENTS(key_cycle)];
    uint8_t mech = test_default_mech(label);
    if (mech == TPROTO_MECH_RSA_PKCS && w->ops % 3 == 2)
      mech = TPROTO_MECH_RSA_PSS;
    test_sign_and_verify(c, label, mech, hashes[w->ops % 2]);
    if (w->ops++ == 0)
      g_atomic_int_inc(&w->shared->started);
  }
  g_atomic_int_inc(&w->shared->finished);
  return NULL;
}

static void test_many_clients(void)
{
  Shared shared = { .agent = test_agent_start() };
  {
    g_autoptr(tessera_client) c = test_connect(shared.agent);
    test_login(c, TEST_TOKEN_1);
    test_login(c, TEST_TOKEN_2);
  }
  Worker workers[N_CLIENTS];
  GThread *threads[N_CLIENTS];
  for (guint i = 0; i < N_CLIENTS; i++) {
    workers[i] = (Worker){ .shared = &shared, .index = i };
    threads[i] = g_thread_new("client", worker_run, &workers[i]);
  }
  /* Wait until every client has been served once, i.e. all are busy. */
  gint64 deadline = g_get_monotonic_time() + 60 * G_USEC_PER_SEC;
  while (g_atomic_int_get(&shared.started) < N_CLIENTS) {
    g_assert_cmpint(g_get_monotonic_time(), <, deadline);
    g_usleep(1000);
  }

  /* Meanwhile, another client asks for STATUS. */
  g_autoptr(tessera_client) c = test_connect(shared.agent);
  gint64 t0 = g_get_monotonic_time();
  tessera_status st = { 0 };
  test_assert_rc(c, tessera_status_get(c, &st), TESSERA_OK);
  gint64 elapsed_ms = (g_get_monotonic_time() - t0) / 1000;
  g_test_message("STATUS under load: %" G_GINT64_FORMAT " ms, %u clients", elapsed_ms,
                 st.n_clients);
  g_assert_cmpint(g_atomic_int_get(&shared.finished), ==, 0); /* still busy */
  g_assert_cmpint(elapsed_ms, <, STATUS_MAX_MS);
  g_assert_cmpuint(st.n_clients, ==, N_CLIENTS + 1);
  g_assert_cmpuint(st.pid, ==, (uint32_t)shared.agent->pid);
  tessera_status_clear(&st);
  /* Listing needs no private-key work either. */
  tessera_token *tokens = NULL;
  size_t n = 0;
  test_assert_rc(c, tessera_list_tokens(c, &tokens, &n), TESSERA_OK);
  g_assert_cmpuint(n, ==, 2);
  tessera_tokens_free(tokens, n);

  g_atomic_int_set(&shared.stop, 1);
  guint total = 0;
  for (guint i = 0; i < N_CLIENTS; i++) {
    g_thread_join(threads[i]);
    g_assert_cmpuint(workers[i].ops, >=, MIN_OPS);
    total += workers[i].ops;
  }
  g_test_message("%u signatures verified", total);
  g_assert_cmpint(g_atomic_int_get(&shared.finished), ==, N_CLIENTS);

  /* All connections gone: the agent counts only this one. */
  wait_for_clients(c, 1);
  test_agent_stop(shared.agent);
}

/* Connections opened and closed in a storm do not leak or wedge. */
static gpointer churn_run(gpointer data)
{
  TestAgent *agent = data;
  for (int i = 0; i < 20; i++) {
    g_autoptr(tessera_client) c = test_connect(agent);
    tessera_status st = { 0 };
    test_assert_rc(c, tessera_status_get(c, &st), TESSERA_OK);
    tessera_status_clear(&st);
  }
  return NULL;
}

static void test_connection_churn(void)
{
  TestAgent *agent = test_agent_start();
  GThread *threads[16];
  for (size_t i = 0; i < G_N_ELEMENTS(threads); i++)
    threads[i] = g_thread_new("churn", churn_run, agent);
  for (size_t i = 0; i < G_N_ELEMENTS(threads); i++)
    g_thread_join(threads[i]);
  g_autoptr(tessera_client) c = test_connect(agent);
  wait_for_clients(c, 1);
  test_agent_stop(agent);
}

int main(int argc, char **argv)
{
  harness_init(&argc, &argv);
  g_test_add_func("/concurrency/many-clients", test_many_clients);
  g_test_add_func("/concurrency/connection-churn", test_connection_churn);
  return harness_run();
}
