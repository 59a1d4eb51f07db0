/* SUBSCRIBE: the event stream of a real agent. Logins and logouts on the
 * SoftHSM tokens; cards and readers are covered by the virtual-card tests. */
#include "harness.h"

#include <string.h>

/* The next event, within 5 s; asserts its kind and token. */
static void expect_event(tessera_client *c, uint8_t kind, const char *token_id)
{
  tessera_event e;
  int rc = tessera_next_event(c, 5000, &e);
  if (rc != TESSERA_OK)
    g_error("no %s event: %d %s", tproto_event_name(kind), rc, tessera_client_last_error(c));
  g_assert_cmpstr(tproto_event_name(e.kind), ==, tproto_event_name(kind));
  if (token_id)
    g_assert_cmpstr(e.token_id, ==, token_id);
  tessera_event_clear(&e);
}

static char *token_id(tessera_client *c, const char *label)
{
  tessera_token *t = NULL;
  size_t n = 0;
  test_assert_rc(c, tessera_list_tokens(c, &t, &n), TESSERA_OK);
  char *id = NULL;
  for (size_t i = 0; i < n; i++)
    if (strcmp(t[i].label, label) == 0)
      id = g_strdup(t[i].id);
  tessera_tokens_free(t, n);
  g_assert_nonnull(id);
  return id;
}

static void test_login_events(void)
{
  TestAgent *a = test_agent_start();
  g_autoptr(tessera_client) c = test_connect(a);
  g_autoptr(tessera_client) watcher = test_connect(a);
  g_assert_true(tessera_client_capabilities(watcher) & TPROTO_CAP_EVENTS);
  test_assert_rc(watcher, tessera_subscribe(watcher), TESSERA_OK);
  g_autofree char *t1 = token_id(c, TEST_TOKEN_1);
  g_autofree char *t2 = token_id(c, TEST_TOKEN_2);

  test_login(c, TEST_TOKEN_1);
  expect_event(watcher, TPROTO_EVENT_LOGGED_IN, t1);
  test_login(c, TEST_TOKEN_2);
  expect_event(watcher, TPROTO_EVENT_LOGGED_IN, t2);
  test_assert_rc(c, tessera_logout(c, TEST_TOKEN_1), TESSERA_OK);
  expect_event(watcher, TPROTO_EVENT_LOGGED_OUT, t1);
  /* Nothing else happened. */
  tessera_event e;
  test_assert_rc(watcher, tessera_next_event(watcher, 200, &e), TESSERA_E_TIMEOUT);

  /* The stream takes no requests: the library refuses them. */
  tessera_status st;
  test_assert_rc(watcher, tessera_status_get(watcher, &st), TESSERA_E_ARG);
  test_agent_stop(a);
}

/* Without pcscd the agent lists no readers and keeps serving. */
static void test_readers_without_pcscd(void)
{
  TestAgent *a = test_agent_start();
  g_autoptr(tessera_client) c = test_connect(a);
  tessera_reader *r = NULL;
  size_t n = 0;
  test_assert_rc(c, tessera_list_readers(c, &r, &n), TESSERA_OK);
  tessera_readers_free(r, n);
  test_login(c, TEST_TOKEN_1);
  test_sign_and_verify(c, "p256", TPROTO_MECH_ECDSA, TPROTO_HASH_SHA256);
  test_agent_stop(a);
}

int main(int argc, char **argv)
{
  harness_init(&argc, &argv);
  g_test_add_func("/events/login", test_login_events);
  g_test_add_func("/events/readers-without-pcscd", test_readers_without_pcscd);
  return harness_run();
}
