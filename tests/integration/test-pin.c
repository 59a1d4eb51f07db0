/* The agent asks for PINs itself: through the real pinentry protocol (the
 * scripted tests/pinentry/fake-pinentry records every command it got), one
 * dialog per token, never a PIN the token rejected, the login's end on
 * time, confirmation, and no PIN in the agent's own logs. */
#include "harness.h"

#include <string.h>
#include <unistd.h>

static int sign_ec(tessera_client *c, const char *key)
{
  g_autoptr(GBytes) digest = test_digest(TPROTO_HASH_SHA256, "pin test", 8);
  uint8_t *sig = NULL;
  size_t sig_len = 0;
  int rc = tessera_sign(c, key, TPROTO_MECH_ECDSA, 0, 0, 0, g_bytes_get_data(digest, NULL),
                        g_bytes_get_size(digest), &sig, &sig_len);
  if (rc == TESSERA_OK) {
    g_autoptr(EVP_PKEY) pub = test_cert_pubkey(key);
    g_assert_true(test_verify(pub, TPROTO_MECH_ECDSA, TPROTO_HASH_SHA256, digest, sig, sig_len));
  }
  free(sig);
  return rc;
}

static guint count_in_log(const TestAgent *a, const char *needle)
{
  g_autofree char *log = test_pinentry_log(a);
  return test_count_lines(log, needle);
}

static void assert_log_has(const TestAgent *a, const char *needle)
{
  g_autofree char *log = test_pinentry_log(a);
  if (strstr(log, needle) == NULL)
    g_error("the PIN dialog never got \"%s\"; it got:\n%s", needle, log);
}

static gboolean token_logged_in(tessera_client *c, const char *label, guint32 *ends_s)
{
  tessera_token *t = NULL;
  size_t n = 0;
  test_assert_rc(c, tessera_list_tokens(c, &t, &n), TESSERA_OK);
  gboolean found = FALSE, in = FALSE;
  for (size_t i = 0; i < n; i++) {
    if (strcmp(t[i].label, label) != 0)
      continue;
    found = TRUE;
    in = (t[i].flags & TPROTO_TOKEN_LOGGED_IN) != 0;
    if (ends_s)
      *ends_s = t[i].login_ends_s;
  }
  tessera_tokens_free(t, n);
  g_assert_true(found);
  return in;
}

/* A signature on a token that is not logged in opens the dialog, which
 * says who asks for what; the login then serves every client. */
static void test_prompt_on_sign(void)
{
  TestAgent *a = test_agent_start();
  test_pinentry_answers(a, "pin " TEST_PIN "\n");
  g_autoptr(tessera_client) c = test_connect_prompting(a);
  test_assert_rc(c, sign_ec(c, "p256"), TESSERA_OK);
  g_assert_cmpuint(count_in_log(a, " GETPIN"), ==, 1);
  g_autofree char *who = g_strdup_printf("test-pin (pid %d)", (int)getpid());
  assert_log_has(a, who);
  assert_log_has(a, "sign with the key");
  assert_log_has(a, "p256");
  assert_log_has(a, TEST_TOKEN_1);
  assert_log_has(a, "(serial ");
  assert_log_has(a, "SETTITLE Tessera: " TEST_TOKEN_1);

  /* Logged in: no second dialog, for this client or another. */
  test_assert_rc(c, sign_ec(c, "p256"), TESSERA_OK);
  g_autoptr(tessera_client) other = test_connect_prompting(a);
  test_assert_rc(other, sign_ec(other, "p256"), TESSERA_OK);
  g_assert_cmpuint(count_in_log(a, " GETPIN"), ==, 1);
  guint32 ends = 0;
  g_assert_true(token_logged_in(c, TEST_TOKEN_1, &ends));
  g_assert_cmpuint(ends, >, 0);
  g_assert_cmpuint(ends, <=, 600);
  /* The other token is not affected. */
  g_assert_false(token_logged_in(c, TEST_TOKEN_2, NULL));
  test_agent_stop(a);
}

/* The client's display and terminal reach the pinentry. */
static void test_client_context(void)
{
  TestAgent *a = test_agent_start();
  test_pinentry_answers(a, "pin " TEST_PIN "\n");
  const tessera_option opts[] = { { "DISPLAY", ":42" }, { "TTY", "/dev/pts/77" },
                                  { "TERM", "vt220" } };
  g_autoptr(tessera_client) c = test_connect_with(a, opts, G_N_ELEMENTS(opts));
  test_assert_rc(c, tessera_login_prompt(c, TEST_TOKEN_1), TESSERA_OK);
  assert_log_has(a, "DISPLAY=:42");
  assert_log_has(a, "OPTION ttyname=/dev/pts/77");
  assert_log_has(a, "OPTION ttytype=vt220");
  assert_log_has(a, "asks to log in to the token");
  /* Asking again for a token that is logged in: no dialog. */
  test_assert_rc(c, tessera_login_prompt(c, TEST_TOKEN_1), TPROTO_ERR_ALREADY_LOGGED_IN);
  g_assert_cmpuint(count_in_log(a, " GETPIN"), ==, 1);
  test_agent_stop(a);
}

static void test_cancel(void)
{
  TestAgent *a = test_agent_start();
  test_pinentry_answers(a, "cancel\n");
  g_autoptr(tessera_client) c = test_connect_prompting(a);
  test_assert_rc(c, sign_ec(c, "p256"), TPROTO_ERR_PIN_CANCELLED);
  g_assert_nonnull(strstr(tessera_client_last_error(c), TEST_TOKEN_1));
  /* Nothing else is affected: the other token, and the connection. */
  test_login(c, TEST_TOKEN_2);
  test_sign_and_verify(c, "p256-b", TPROTO_MECH_ECDSA, TPROTO_HASH_SHA256);
  /* A later request asks again. */
  test_pinentry_answers(a, "pin " TEST_PIN "\n");
  test_assert_rc(c, sign_ec(c, "p256"), TESSERA_OK);
  g_assert_cmpuint(count_in_log(a, " GETPIN"), ==, 2);
  test_agent_stop(a);
}

/* Every PIN the user types costs the token at most one try, and a PIN the
 * token rejected never reaches it again: OpenSC's pkcs11-spy between the
 * agent and SoftHSM counts the C_Login calls. */
static void test_wrong_pin_never_resent(void)
{
  g_autofree char *spy = harness_file("spy-wrong-pin.log");
  g_autofree char *debug = harness_file("debug-wrong-pin.log");
  TestAgentOptions o = { .spy_log = spy, .debug_log = debug };
  TestAgent *a = test_agent_start_full(&o);
  test_pinentry_answers(a, "pin 999999\npin 999999\npin " TEST_PIN "\n");
  g_autoptr(tessera_client) c = test_connect_prompting(a);
  test_assert_rc(c, sign_ec(c, "p256"), TESSERA_OK);
  g_assert_cmpuint(count_in_log(a, " GETPIN"), ==, 3);
  assert_log_has(a, "SETERROR Wrong PIN.");
  assert_log_has(a, "SETERROR The card rejected this PIN before; it was not sent again.");
  test_agent_stop(a);

  g_autofree char *calls = NULL;
  g_assert_true(g_file_get_contents(spy, &calls, NULL, NULL));
  /* 999999 once, then the right PIN: the repeated 999999 never went out. */
  g_assert_cmpuint(test_count_lines(calls, "C_Login"), ==, 2);

  /* The agent's debug log holds neither PIN. */
  g_autofree char *agent_log = NULL;
  g_assert_true(g_file_get_contents(debug, &agent_log, NULL, NULL));
  g_assert_nonnull(strstr(agent_log, "wrong PIN for token"));
  g_assert_null(strstr(agent_log, "999999"));
  g_assert_null(strstr(agent_log, TEST_PIN));
}

/* A client's own PIN that the token rejected is not sent a second time. */
static void test_client_pin_never_resent(void)
{
  g_autofree char *spy = harness_file("spy-client-pin.log");
  TestAgentOptions o = { .spy_log = spy };
  TestAgent *a = test_agent_start_full(&o);
  g_autoptr(tessera_client) c = test_connect(a);
  test_assert_rc(c, tessera_login(c, TEST_TOKEN_1, "999999", 6), TPROTO_ERR_PIN_INCORRECT);
  test_assert_rc(c, tessera_login(c, TEST_TOKEN_1, "999999", 6), TPROTO_ERR_PIN_INCORRECT);
  g_assert_nonnull(strstr(tessera_client_last_error(c), "not sent again"));
  test_login(c, TEST_TOKEN_1);
  test_agent_stop(a);
  g_autofree char *calls = NULL;
  g_assert_true(g_file_get_contents(spy, &calls, NULL, NULL));
  g_assert_cmpuint(test_count_lines(calls, "C_Login"), ==, 2);
}

static void test_max_prompts(void)
{
  TestAgent *a = test_agent_start();
  test_pinentry_answers(a, "pin 111111\npin 222222\npin 333333\npin " TEST_PIN "\n");
  g_autoptr(tessera_client) c = test_connect_prompting(a);
  test_assert_rc(c, sign_ec(c, "p256"), TPROTO_ERR_PIN_INCORRECT);
  g_assert_cmpuint(count_in_log(a, " GETPIN"), ==, 3); /* max-prompts defaults to 3 */
  test_agent_stop(a);
}

typedef struct {
  const TestAgent *agent;
  tessera_client *c;
  GMutex *lock;
  GCond *cond;
  gboolean *go;
  int rc;
} Racer;

static gpointer race_sign(gpointer data)
{
  Racer *r = data;
  g_mutex_lock(r->lock);
  while (!*r->go)
    g_cond_wait(r->cond, r->lock);
  g_mutex_unlock(r->lock);
  r->rc = sign_ec(r->c, "p256");
  return NULL;
}

#define RACERS 20

/* 20 requests at once for a token that is not logged in: one dialog; all
 * of them get its outcome. */
static void race(const TestAgent *a, int *results)
{
  GMutex lock;
  GCond cond;
  gboolean go = FALSE;
  g_mutex_init(&lock);
  g_cond_init(&cond);
  Racer racers[RACERS];
  GThread *threads[RACERS];
  for (int i = 0; i < RACERS; i++) {
    racers[i] = (Racer){ a, test_connect_prompting(a), &lock, &cond, &go, -1 };
    threads[i] = g_thread_new("racer", race_sign, &racers[i]);
  }
  g_mutex_lock(&lock);
  go = TRUE;
  g_cond_broadcast(&cond);
  g_mutex_unlock(&lock);
  for (int i = 0; i < RACERS; i++) {
    g_thread_join(threads[i]);
    results[i] = racers[i].rc;
    tessera_client_free(racers[i].c);
  }
  g_cond_clear(&cond);
  g_mutex_clear(&lock);
}

static void test_one_dialog_for_many_requests(void)
{
  TestAgent *a = test_agent_start();
  /* The dialog stays open long enough for every request to queue. */
  test_pinentry_answers(a, "slow pin " TEST_PIN "\n");
  int rc[RACERS];
  race(a, rc);
  for (int i = 0; i < RACERS; i++)
    g_assert_cmpint(rc[i], ==, TESSERA_OK);
  g_assert_cmpuint(count_in_log(a, " GETPIN"), ==, 1);

  /* Cancelled: every waiting request fails alike, and a later one asks. */
  g_autoptr(tessera_client) c = test_connect(a);
  test_assert_rc(c, tessera_logout(c, TEST_TOKEN_1), TESSERA_OK);
  test_pinentry_answers(a, "slow cancel\n");
  race(a, rc);
  for (int i = 0; i < RACERS; i++)
    g_assert_cmpint(rc[i], ==, TPROTO_ERR_PIN_CANCELLED);
  g_assert_cmpuint(count_in_log(a, " GETPIN"), ==, 2);
  test_pinentry_answers(a, "pin " TEST_PIN "\n");
  g_autoptr(tessera_client) later = test_connect_prompting(a);
  test_assert_rc(later, sign_ec(later, "p256"), TESSERA_OK);
  g_assert_cmpuint(count_in_log(a, " GETPIN"), ==, 3);
  test_agent_stop(a);
}

/* Waits up to timeout_ms for the token's login to end; FALSE if it did not. */
static gboolean wait_logged_out(tessera_client *c, const char *label, guint timeout_ms)
{
  gint64 deadline = g_get_monotonic_time() + (gint64)timeout_ms * 1000;
  while (token_logged_in(c, label, NULL)) {
    if (g_get_monotonic_time() > deadline)
      return FALSE;
    g_usleep(50 * 1000);
  }
  return TRUE;
}

static void test_idle_timeout(void)
{
  TestAgentOptions o = { .config = "[agent]\nidle-timeout=1\nmax-lifetime=0\n" };
  TestAgent *a = test_agent_start_full(&o);
  g_autoptr(tessera_client) c = test_connect(a);
  test_login(c, TEST_TOKEN_1);
  guint32 ends = 0;
  g_assert_true(token_logged_in(c, TEST_TOKEN_1, &ends));
  g_assert_cmpuint(ends, <=, 1);
  /* The agent's own timer ends it, with no request to notice. */
  g_assert_true(wait_logged_out(c, TEST_TOKEN_1, 5000));
  test_assert_rc(c, sign_ec(c, "p256"), TPROTO_ERR_NOT_LOGGED_IN);
  test_agent_stop(a);
}

static void test_max_lifetime(void)
{
  /* Use keeps a login alive against the idle limit, not past its lifetime. */
  TestAgentOptions o = { .config = "[agent]\nidle-timeout=600\n"
                                   "[token " TEST_TOKEN_1 "]\nmax-lifetime=2\n" };
  TestAgent *a = test_agent_start_full(&o);
  g_autoptr(tessera_client) c = test_connect(a);
  test_login(c, TEST_TOKEN_1);
  test_login(c, TEST_TOKEN_2);
  gint64 until = g_get_monotonic_time() + 4 * G_USEC_PER_SEC;
  gboolean ended = FALSE;
  while (!ended && g_get_monotonic_time() < until) {
    ended = sign_ec(c, "p256") == TPROTO_ERR_NOT_LOGGED_IN;
    g_usleep(100 * 1000);
  }
  g_assert_true(ended);
  /* [token ...] applied to that token alone. */
  guint32 ends = 0;
  g_assert_true(token_logged_in(c, TEST_TOKEN_2, &ends));
  g_assert_cmpuint(ends, >, 500);
  test_agent_stop(a);
}

static void test_lock(void)
{
  TestAgent *a = test_agent_start();
  g_autoptr(tessera_client) c = test_connect(a);
  test_login(c, TEST_TOKEN_1);
  test_login(c, TEST_TOKEN_2);
  test_assert_rc(c, tessera_logout(c, NULL), TESSERA_OK);
  g_assert_false(token_logged_in(c, TEST_TOKEN_1, NULL));
  g_assert_false(token_logged_in(c, TEST_TOKEN_2, NULL));
  test_agent_stop(a);
}

static void test_confirm(void)
{
  TestAgentOptions o = { .config = "[key p256]\nconfirm=true\n" };
  TestAgent *a = test_agent_start_full(&o);
  g_autoptr(tessera_client) c = test_connect_prompting(a);
  test_login(c, TEST_TOKEN_1);
  test_pinentry_answers(a, "confirm\ndeny\n");
  test_assert_rc(c, sign_ec(c, "p256"), TESSERA_OK);
  test_assert_rc(c, sign_ec(c, "p256"), TPROTO_ERR_DENIED);
  g_assert_cmpuint(count_in_log(a, " CONFIRM"), ==, 2);
  g_autofree char *who = g_strdup_printf("test-pin (pid %d) asks to sign with the key", (int)getpid());
  assert_log_has(a, who);
  /* Other keys are not asked about. */
  test_assert_rc(c, sign_ec(c, "p384"), TESSERA_OK);
  g_assert_cmpuint(count_in_log(a, " CONFIRM"), ==, 2);
  test_agent_stop(a);
}

static void test_no_pinentry(void)
{
  TestAgentOptions o = { .pinentry = "/nonexistent/pinentry" };
  TestAgent *a = test_agent_start_full(&o);
  g_autoptr(tessera_client) c = test_connect_prompting(a);
  test_assert_rc(c, sign_ec(c, "p256"), TPROTO_ERR_PIN_ENTRY_FAILED);
  g_assert_nonnull(strstr(tessera_client_last_error(c), "/nonexistent/pinentry"));
  /* A PIN from the client still works. */
  test_login(c, TEST_TOKEN_1);
  test_assert_rc(c, sign_ec(c, "p256"), TESSERA_OK);
  test_agent_stop(a);
}

static gpointer sign_in_thread(gpointer c)
{
  return GINT_TO_POINTER(sign_ec(c, "p256"));
}

/* A dialog nobody answers holds up neither the other tokens nor the
 * agent's shutdown. */
static void test_shutdown_during_dialog(void)
{
  TestAgent *a = test_agent_start();
  test_pinentry_answers(a, "hang\n");
  g_autoptr(tessera_client) c = test_connect_prompting(a);
  GThread *t = g_thread_new("signer", sign_in_thread, c);
  gint64 deadline = g_get_monotonic_time() + 10 * G_USEC_PER_SEC;
  while (count_in_log(a, " GETPIN") == 0 && g_get_monotonic_time() < deadline)
    g_usleep(20 * 1000);
  g_assert_cmpuint(count_in_log(a, " GETPIN"), ==, 1);
  /* Meanwhile the other token and the agent itself serve as usual. */
  g_autoptr(tessera_client) other = test_connect(a);
  test_login(other, TEST_TOKEN_2);
  test_sign_and_verify(other, "p256-b", TPROTO_MECH_ECDSA, TPROTO_HASH_SHA256);
  tessera_status st;
  test_assert_rc(other, tessera_status_get(other, &st), TESSERA_OK);
  tessera_status_clear(&st);
  test_agent_stop(a); /* asserts a clean exit within 10 s */
  int rc = GPOINTER_TO_INT(g_thread_join(t));
  if (rc != TESSERA_E_IO && rc != TPROTO_ERR_PIN_CANCELLED)
    g_error("a request whose dialog was closed by the shutdown got %d", rc);
}

/* A key that needs the PIN for every use (CKA_ALWAYS_AUTHENTICATE, like a
 * PIV card's signature key): a dialog for each signature after the token
 * login, or none with always-authenticate = cache. */
static void test_always_authenticate(void)
{
  g_autofree char *spy = harness_file("spy-always-auth.log");
  TestAgentOptions o = { .spy_log = spy };
  TestAgent *a = test_agent_start_full(&o);
  g_autoptr(tessera_client) c = test_connect_prompting(a);
  test_pinentry_answers(a, "pin " TEST_PIN "\npin " TEST_PIN "\npin " TEST_PIN "\n");
  test_assert_rc(c, sign_ec(c, "p256-aa"), TESSERA_OK);
  /* SoftHSM shows the private key, and so the flag, after the login. */
  tessera_key *k = NULL;
  test_assert_rc(c, tessera_find_key(c, "p256-aa", &k), TESSERA_OK);
  g_assert_true(k->flags & TPROTO_KEY_ALWAYS_AUTH);
  tessera_keys_free(k, 1);
  /* The token login, then the context-specific one. */
  g_assert_cmpuint(count_in_log(a, " GETPIN"), ==, 2);
  assert_log_has(a, "This key needs the PIN for every use.");
  test_assert_rc(c, sign_ec(c, "p256-aa"), TESSERA_OK);
  g_assert_cmpuint(count_in_log(a, " GETPIN"), ==, 3);
  /* Cancelling the per-use dialog fails that signature alone. */
  test_pinentry_answers(a, "cancel\n");
  test_assert_rc(c, sign_ec(c, "p256-aa"), TPROTO_ERR_PIN_CANCELLED);
  test_agent_stop(a);
  g_autofree char *calls = NULL;
  g_assert_true(g_file_get_contents(spy, &calls, NULL, NULL));
  g_assert_cmpuint(test_count_lines(calls, "C_Login"), ==, 3);
  g_assert_cmpuint(test_count_lines(calls, "CKU_CONTEXT_SPECIFIC"), >=, 2);

  /* Opt-in cache: the login's PIN serves each use, no more dialogs. */
  TestAgentOptions cached = { .config = "[token tessera-test-3]\nalways-authenticate=cache\n" };
  a = test_agent_start_full(&cached);
  g_autoptr(tessera_client) c2 = test_connect_prompting(a);
  test_pinentry_answers(a, "pin " TEST_PIN "\n");
  for (int i = 0; i < 3; i++)
    test_assert_rc(c2, sign_ec(c2, "p256-aa"), TESSERA_OK);
  g_assert_cmpuint(count_in_log(a, " GETPIN"), ==, 1);
  test_agent_stop(a);
}

int main(int argc, char **argv)
{
  harness_init_with(&argc, &argv, "--always-auth-token");
  g_test_add_func("/pin/prompt-on-sign", test_prompt_on_sign);
  g_test_add_func("/pin/client-context", test_client_context);
  g_test_add_func("/pin/cancel", test_cancel);
  g_test_add_func("/pin/wrong-pin-never-resent", test_wrong_pin_never_resent);
  g_test_add_func("/pin/client-pin-never-resent", test_client_pin_never_resent);
  g_test_add_func("/pin/max-prompts", test_max_prompts);
  g_test_add_func("/pin/one-dialog-for-many", test_one_dialog_for_many_requests);
  g_test_add_func("/pin/idle-timeout", test_idle_timeout);
  g_test_add_func("/pin/max-lifetime", test_max_lifetime);
  g_test_add_func("/pin/lock", test_lock);
  g_test_add_func("/pin/confirm", test_confirm);
  g_test_add_func("/pin/no-pinentry", test_no_pinentry);
  g_test_add_func("/pin/shutdown-during-dialog", test_shutdown_during_dialog);
  g_test_add_func("/pin/always-authenticate", test_always_authenticate);
  return harness_run();
}
