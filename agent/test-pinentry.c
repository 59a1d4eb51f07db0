/* Unit tests: the pinentry client against tests/pinentry/fake-pinentry.
 *
 * Each test gets its own script and log in a temporary directory, handed
 * to the fake through the request's environment. Every fake process logs
 * its pid; after each test all of them must be gone, reaped included.
 */
#include "pinentry.h"

#include "assuan.h"

#include <errno.h>
#include <glib/gstdio.h>
#include <signal.h>
#include <string.h>

/* Inherited by every child unless a request overrides it. */
#define AGENT_DISPLAY ":1"

typedef struct {
  char *dir, *script, *log;
  char *env_script, *env_log;
  const char *env[12];
  PinentryRequest req;
} Fixture;

static void set_script(Fixture *f, const char *text)
{
  g_assert_true(g_file_set_contents(f->script, text, -1, NULL));
}

static void fixture_setup(Fixture *f, gconstpointer data)
{
  f->dir = g_dir_make_tmp("test-pinentry-XXXXXX", NULL);
  g_assert_nonnull(f->dir);
  f->script = g_build_filename(f->dir, "script", NULL);
  f->log = g_build_filename(f->dir, "log", NULL);
  f->env_script = g_strconcat("FAKE_PINENTRY_SCRIPT=", f->script, NULL);
  f->env_log = g_strconcat("FAKE_PINENTRY_LOG=", f->log, NULL);
  f->env[0] = f->env_script;
  f->env[1] = f->env_log;
  f->req = (PinentryRequest){
    .program = g_getenv("FAKE_PINENTRY"),
    .env = f->env,
    .description = "Enter the PIN",
  };
  set_script(f, "");
}

static char **log_lines(Fixture *f)
{
  g_autofree char *text = NULL;
  if (!g_file_get_contents(f->log, &text, NULL, NULL))
    return g_new0(char *, 1);
  return g_strsplit(text, "\n", -1);
}

/* Whether some process logged exactly this line. */
static gboolean log_has(Fixture *f, const char *line)
{
  g_auto(GStrv) lines = log_lines(f);
  for (char **l = lines; *l != NULL; l++) {
    const char *space = strchr(*l, ' ');
    if (space != NULL && strcmp(space + 1, line) == 0)
      return TRUE;
  }
  return FALSE;
}

static void assert_logged(Fixture *f, const char *line)
{
  if (!log_has(f, line))
    g_error("not in the fake's log: '%s'", line);
}

/* The pids of all fake processes of this test, in start order. */
static GArray *fake_pids(Fixture *f)
{
  GArray *pids = g_array_new(FALSE, FALSE, sizeof(int));
  g_auto(GStrv) lines = log_lines(f);
  for (char **l = lines; *l != NULL; l++) {
    int pid = 0;
    if (strstr(*l, " ARGV ") != NULL && sscanf(*l, "%d", &pid) == 1)
      g_array_append_val(pids, pid);
  }
  return pids;
}

static void assert_gone(int pid)
{
  /* A zombie still takes signals: this fails for unreaped children too. */
  g_assert_cmpint(kill(pid, 0), ==, -1);
  g_assert_cmpint(errno, ==, ESRCH);
}

static void fixture_teardown(Fixture *f, gconstpointer data)
{
  g_autoptr(GArray) pids = fake_pids(f);
  for (guint i = 0; i < pids->len; i++)
    assert_gone(g_array_index(pids, int, i));
  g_autofree char *pos = g_strconcat(f->script, ".pos", NULL);
  (void)g_unlink(pos);
  (void)g_unlink(f->script);
  (void)g_unlink(f->log);
  g_assert_cmpint(g_rmdir(f->dir), ==, 0);
  g_free(f->dir);
  g_free(f->script);
  g_free(f->log);
  g_free(f->env_script);
  g_free(f->env_log);
}

static void assert_pin(TesseraSecret *pin, const char *expected, size_t len)
{
  g_assert_nonnull(pin);
  g_assert_cmpmem(pin->data, pin->len, expected, len);
}

static void test_get_pin(Fixture *f, gconstpointer data)
{
  set_script(f, "pin 123456\n");
  f->req.title = "Tessera";
  f->req.description = "PIN for \"My Token\"\n100% yours";
  f->req.prompt = "PIN:";
  f->req.error = "Wrong PIN";
  f->req.ok_label = "_Unlock";
  f->req.cancel_label = "_Cancel";
  g_autoptr(TesseraSecret) pin = NULL;
  g_autoptr(GError) error = NULL;
  g_assert_cmpint(pinentry_get_pin(&f->req, &pin, &error), ==, PINENTRY_OK);
  g_assert_no_error(error);
  assert_pin(pin, "123456", 6);
  assert_logged(f, "SETTITLE Tessera");
  assert_logged(f, "SETDESC PIN for \"My Token\"%0A100%25 yours");
  assert_logged(f, "SETPROMPT PIN:");
  assert_logged(f, "SETERROR Wrong PIN");
  assert_logged(f, "SETOK _Unlock");
  assert_logged(f, "SETCANCEL _Cancel");
  assert_logged(f, "GETPIN");
  assert_logged(f, "BYE");
  g_assert_false(log_has(f, "SETTIMEOUT 0"));
  g_autoptr(GArray) pids = fake_pids(f);
  g_assert_cmpuint(pids->len, ==, 1);
}

static void test_pin_bytes(Fixture *f, gconstpointer data)
{
  /* %, a space at each end, backslash, non-ASCII; then one over several
   * D lines (escapes near the line ends), then one as long as allowed. */
  const char odd[] = " 12%34\\x \xc3\xa9\xe2\x82\xac%25 ";
  g_autoptr(GString) longer = g_string_new(NULL);
  for (int i = 0; i < 700; i++)
    g_string_append(longer, i % 3 ? "a" : "%");
  g_autofree char *longest = g_strnfill(PINENTRY_PIN_MAX, 'z');
  g_autofree char *script = g_strdup_printf("pin %s\npin %s\npin %s\n", odd, longer->str, longest);
  set_script(f, script);
  const char *expected[] = { odd, longer->str, longest };
  for (size_t i = 0; i < G_N_ELEMENTS(expected); i++) {
    g_autoptr(TesseraSecret) pin = NULL;
    g_autoptr(GError) error = NULL;
    g_assert_cmpint(pinentry_get_pin(&f->req, &pin, &error), ==, PINENTRY_OK);
    g_assert_no_error(error);
    assert_pin(pin, expected[i], strlen(expected[i]));
  }
}

static void test_pin_too_long(Fixture *f, gconstpointer data)
{
  g_autofree char *huge = g_strnfill(PINENTRY_PIN_MAX + 1, 'z');
  g_autofree char *script = g_strdup_printf("pin %s\n", huge);
  set_script(f, script);
  g_autoptr(TesseraSecret) pin = NULL;
  g_autoptr(GError) error = NULL;
  g_assert_cmpint(pinentry_get_pin(&f->req, &pin, &error), ==, PINENTRY_FAILED);
  g_assert_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA);
  g_assert_null(pin);
}

static void test_empty_pin(Fixture *f, gconstpointer data)
{
  set_script(f, "pin\n");
  g_autoptr(TesseraSecret) pin = NULL;
  g_assert_cmpint(pinentry_get_pin(&f->req, &pin, NULL), ==, PINENTRY_OK);
  assert_pin(pin, "", 0);
}

static void test_status_and_comments(Fixture *f, gconstpointer data)
{
  set_script(f, "raw S PROGRESS 1\\n# a comment\\nS PASSWORD_FROM_CACHE\\nD 4%252\\nD \\xc3\\xa9\\nOK\n");
  g_autoptr(TesseraSecret) pin = NULL;
  g_autoptr(GError) error = NULL;
  g_assert_cmpint(pinentry_get_pin(&f->req, &pin, &error), ==, PINENTRY_OK);
  g_assert_no_error(error);
  assert_pin(pin, "4%2\xc3\xa9", 5);
}

static void test_cancel(Fixture *f, gconstpointer data)
{
  set_script(f, "cancel\n");
  g_autoptr(TesseraSecret) pin = NULL;
  g_autoptr(GError) error = NULL;
  g_assert_cmpint(pinentry_get_pin(&f->req, &pin, &error), ==, PINENTRY_CANCELLED);
  g_assert_no_error(error);
  g_assert_null(pin);
  assert_logged(f, "BYE");
}

static void test_timeout(Fixture *f, gconstpointer data)
{
  set_script(f, "timeout\n");
  f->req.timeout_s = 30;
  g_autoptr(TesseraSecret) pin = NULL;
  g_autoptr(GError) error = NULL;
  g_assert_cmpint(pinentry_get_pin(&f->req, &pin, &error), ==, PINENTRY_TIMEOUT);
  g_assert_no_error(error);
  g_assert_null(pin);
  assert_logged(f, "SETTIMEOUT 30");
}

/* A pinentry that ignores its timeout is given up on a little later. */
static void test_timeout_unanswered(Fixture *f, gconstpointer data)
{
  set_script(f, "hang\n");
  f->req.timeout_s = 1;
  g_autoptr(TesseraSecret) pin = NULL;
  gint64 start = g_get_monotonic_time();
  g_assert_cmpint(pinentry_get_pin(&f->req, &pin, NULL), ==, PINENTRY_TIMEOUT);
  gint64 took_ms = (g_get_monotonic_time() - start) / 1000;
  g_assert_cmpint(took_ms, >=, 1000);
  g_assert_cmpint(took_ms, <, 8000);
  g_assert_null(pin);
}

static void test_confirm(Fixture *f, gconstpointer data)
{
  set_script(f, "confirm\ndeny\ncancel\n");
  f->req.description = "Allow signing?";
  g_autoptr(GError) error = NULL;
  g_assert_cmpint(pinentry_confirm(&f->req, &error), ==, PINENTRY_OK);
  g_assert_cmpint(pinentry_confirm(&f->req, &error), ==, PINENTRY_CANCELLED);
  g_assert_cmpint(pinentry_confirm(&f->req, &error), ==, PINENTRY_CANCELLED);
  g_assert_no_error(error);
  assert_logged(f, "SETDESC Allow signing?");
  assert_logged(f, "CONFIRM");
}

static void test_confirm_with_data(Fixture *f, gconstpointer data)
{
  set_script(f, "raw D 1\\nOK\n");
  g_autoptr(GError) error = NULL;
  g_assert_cmpint(pinentry_confirm(&f->req, &error), ==, PINENTRY_FAILED);
  g_assert_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA);
}

static void wait_for_log(Fixture *f, const char *line)
{
  gint64 deadline = g_get_monotonic_time() + 10 * G_USEC_PER_SEC;
  while (!log_has(f, line)) {
    g_assert_cmpint(g_get_monotonic_time(), <, deadline);
    g_usleep(10000);
  }
}

static void test_message(Fixture *f, gconstpointer data)
{
  set_script(f, "pin 1\n");
  f->req.description = "Enter the PIN on the reader's keypad";
  g_autoptr(GError) error = NULL;
  PinentryMessage *m = pinentry_message_open(&f->req, &error);
  g_assert_no_error(error);
  g_assert_nonnull(m);
  wait_for_log(f, "MESSAGE");
  assert_logged(f, "SETDESC Enter the PIN on the reader's keypad");
  g_autoptr(GArray) pids = fake_pids(f);
  g_assert_cmpuint(pids->len, ==, 1);
  int pid = g_array_index(pids, int, 0);
  g_assert_cmpint(kill(pid, 0), ==, 0); /* still up while the caller works */
  pinentry_message_close(m);
  assert_gone(pid);
  /* The message took no script line. */
  g_autoptr(TesseraSecret) pin = NULL;
  g_assert_cmpint(pinentry_get_pin(&f->req, &pin, NULL), ==, PINENTRY_OK);
  assert_pin(pin, "1", 1);
  pinentry_message_close(NULL);
}

static void test_message_fails(Fixture *f, gconstpointer data)
{
  f->req.program = "tessera-no-such-pinentry";
  g_autoptr(GError) error = NULL;
  g_assert_null(pinentry_message_open(&f->req, &error));
  g_assert_error(error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND);

  g_autoptr(GCancellable) cancellable = g_cancellable_new();
  g_cancellable_cancel(cancellable);
  f->req.cancellable = cancellable;
  g_clear_error(&error);
  g_assert_null(pinentry_message_open(&f->req, &error));
  g_assert_error(error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
}

typedef struct {
  Fixture *f;
  GCancellable *cancellable;
  gint64 cancelled_at;
} Canceller;

static gpointer cancel_when_asked(gpointer data)
{
  Canceller *c = data;
  wait_for_log(c->f, "GETPIN");
  g_usleep(100000);
  c->cancelled_at = g_get_monotonic_time();
  g_cancellable_cancel(c->cancellable);
  return NULL;
}

static void test_abort(Fixture *f, gconstpointer data)
{
  set_script(f, "hang\n");
  g_autoptr(GCancellable) cancellable = g_cancellable_new();
  f->req.cancellable = cancellable;
  Canceller c = { f, cancellable, 0 };
  GThread *thread = g_thread_new("canceller", cancel_when_asked, &c);
  g_autoptr(TesseraSecret) pin = NULL;
  g_autoptr(GError) error = NULL;
  g_assert_cmpint(pinentry_get_pin(&f->req, &pin, &error), ==, PINENTRY_ABORTED);
  gint64 took_ms = (g_get_monotonic_time() - c.cancelled_at) / 1000;
  g_thread_join(thread);
  g_assert_no_error(error);
  g_assert_null(pin);
  /* Ended by SIGTERM, not by the SIGKILL a second later. */
  g_assert_cmpint(took_ms, <, 900);
}

static void test_abort_before_start(Fixture *f, gconstpointer data)
{
  g_autoptr(GCancellable) cancellable = g_cancellable_new();
  g_cancellable_cancel(cancellable);
  f->req.cancellable = cancellable;
  g_autoptr(TesseraSecret) pin = NULL;
  g_assert_cmpint(pinentry_get_pin(&f->req, &pin, NULL), ==, PINENTRY_ABORTED);
  g_assert_cmpint(pinentry_confirm(&f->req, NULL), ==, PINENTRY_ABORTED);
  g_assert_false(g_file_test(f->log, G_FILE_TEST_EXISTS)); /* nothing started */
}

static void assert_failed(Fixture *f, gint code, const char *message_part)
{
  g_autoptr(TesseraSecret) pin = NULL;
  g_autoptr(GError) error = NULL;
  g_assert_cmpint(pinentry_get_pin(&f->req, &pin, &error), ==, PINENTRY_FAILED);
  g_assert_error(error, G_IO_ERROR, code);
  if (strstr(error->message, message_part) == NULL)
    g_error("'%s' not in the error '%s'", message_part, error->message);
  g_assert_null(pin);
}

static void test_missing_program(Fixture *f, gconstpointer data)
{
  f->req.program = "tessera-no-such-pinentry";
  assert_failed(f, G_IO_ERROR_NOT_FOUND,
                "pinentry program 'tessera-no-such-pinentry' could not be started: ");
  f->req.program = "/nonexistent/pinentry";
  assert_failed(f, G_IO_ERROR_NOT_FOUND, "could not be started");
}

static void test_exits_at_once(Fixture *f, gconstpointer data)
{
  f->req.program = "true";
  assert_failed(f, G_IO_ERROR_CONNECTION_CLOSED,
                "pinentry program 'true' closed the connection during the greeting (exit status 0)");
}

static void test_exits_during_getpin(Fixture *f, gconstpointer data)
{
  set_script(f, "exit\n");
  assert_failed(f, G_IO_ERROR_CONNECTION_CLOSED,
                "closed the connection during GETPIN (exit status 2)");
}

static void test_garbage(Fixture *f, gconstpointer data)
{
  set_script(f, "garbage\n");
  assert_failed(f, G_IO_ERROR_INVALID_DATA, "sent a bad line during GETPIN");
}

static void test_bad_escape(Fixture *f, gconstpointer data)
{
  set_script(f, "raw D 12%G4\\nOK\n");
  assert_failed(f, G_IO_ERROR_INVALID_DATA, "invalid %-escape");
}

static void test_line_limit(Fixture *f, gconstpointer data)
{
  /* The longest line accepted (1002 bytes with the LF), then one longer. */
  g_autofree char *longest = g_strnfill(ASSUAN_RECV_LINE_MAX - 3, 'y');
  g_autofree char *over = g_strnfill(ASSUAN_RECV_LINE_MAX, 'y');
  g_autofree char *script = g_strdup_printf("raw D %s\\nOK\nraw OK %s\n", longest, over);
  set_script(f, script);
  g_autoptr(TesseraSecret) pin = NULL;
  g_assert_cmpint(pinentry_get_pin(&f->req, &pin, NULL), ==, PINENTRY_OK);
  assert_pin(pin, longest, strlen(longest));
  assert_failed(f, G_IO_ERROR_INVALID_DATA, "sent a line longer than 1002 bytes during GETPIN");
}

static void test_inquire_declined(Fixture *f, gconstpointer data)
{
  /* After CAN the fake fails GETPIN with "Unknown IPC command". */
  set_script(f, "raw INQUIRE QUALITY 1234\n");
  assert_failed(f, G_IO_ERROR_FAILED, "refused GETPIN: Unknown IPC command <Pinentry> (error 83886355)");
  assert_logged(f, "CAN");
}

static void test_bad_request(Fixture *f, gconstpointer data)
{
  f->req.ttyname = "/dev/pts/1\nGETPIN";
  assert_failed(f, G_IO_ERROR_INVALID_ARGUMENT, "cannot pass ttyname");
  f->req.ttyname = NULL;
  f->env[2] = "NOT-AN-ASSIGNMENT";
  assert_failed(f, G_IO_ERROR_INVALID_ARGUMENT, "'NOT-AN-ASSIGNMENT' for the pinentry is not KEY=VALUE");
  g_assert_false(g_file_test(f->log, G_FILE_TEST_EXISTS)); /* nothing started */
}

/* Whether process pid logged exactly this line. */
static gboolean pid_logged(Fixture *f, int pid, const char *line)
{
  g_autofree char *want = g_strdup_printf("%d %s", pid, line);
  g_auto(GStrv) lines = log_lines(f);
  return g_strv_contains((const char *const *)lines, want);
}

static void test_env_and_tty(Fixture *f, gconstpointer data)
{
  set_script(f, "pin 1\npin 2\n");
  /* Nothing in the request: the agent's own environment, no tty. */
  g_autoptr(TesseraSecret) a = NULL, b = NULL;
  g_assert_cmpint(pinentry_get_pin(&f->req, &a, NULL), ==, PINENTRY_OK);

  const char *client_env[] = {
    "DISPLAY=:77",
    "WAYLAND_DISPLAY=wayland-9",
    "XAUTHORITY=/tmp/xauth-test",
    "DBUS_SESSION_BUS_ADDRESS=unix:path=/run/user/1000/bus",
    "GPG_TTY=/dev/pts/99",
  };
  for (size_t i = 0; i < G_N_ELEMENTS(client_env); i++)
    f->env[2 + i] = client_env[i];
  f->req.ttyname = "/dev/pts/99";
  f->req.ttytype = "xterm-256color";
  g_assert_cmpint(pinentry_get_pin(&f->req, &b, NULL), ==, PINENTRY_OK);

  g_autoptr(GArray) pids = fake_pids(f);
  g_assert_cmpuint(pids->len, ==, 2);
  int first = g_array_index(pids, int, 0), second = g_array_index(pids, int, 1);
  g_assert_true(pid_logged(f, first, "ENV DISPLAY=" AGENT_DISPLAY));
  g_assert_false(pid_logged(f, first, "ENV GPG_TTY=/dev/pts/99"));
  g_assert_false(pid_logged(f, first, "OPTION ttyname=/dev/pts/99"));
  g_assert_false(pid_logged(f, second, "ENV DISPLAY=" AGENT_DISPLAY));
  for (size_t i = 0; i < G_N_ELEMENTS(client_env); i++) {
    g_autofree char *line = g_strconcat("ENV ", client_env[i], NULL);
    g_assert_true(pid_logged(f, second, line));
  }
  g_assert_true(pid_logged(f, second, "OPTION ttyname=/dev/pts/99"));
  g_assert_true(pid_logged(f, second, "OPTION ttytype=xterm-256color"));
  g_autofree char *argv_line = g_strconcat("ARGV ", f->req.program, NULL);
  g_assert_true(pid_logged(f, second, argv_line));
}

static void test_sequence(Fixture *f, gconstpointer data)
{
  set_script(f, "# comments and blank lines are skipped\n\ncancel\npin 1\nconfirm\npin 2\n");
  g_autoptr(TesseraSecret) a = NULL, b = NULL, c = NULL;
  g_assert_cmpint(pinentry_get_pin(&f->req, &a, NULL), ==, PINENTRY_CANCELLED);
  g_assert_cmpint(pinentry_get_pin(&f->req, &a, NULL), ==, PINENTRY_OK);
  g_assert_cmpint(pinentry_confirm(&f->req, NULL), ==, PINENTRY_OK);
  g_assert_cmpint(pinentry_get_pin(&f->req, &b, NULL), ==, PINENTRY_OK);
  /* Used up: every further answer is cancel. */
  g_assert_cmpint(pinentry_get_pin(&f->req, &c, NULL), ==, PINENTRY_CANCELLED);
  assert_pin(a, "1", 1);
  assert_pin(b, "2", 1);
  g_assert_null(c);
  g_autoptr(GArray) pids = fake_pids(f);
  g_assert_cmpuint(pids->len, ==, 5); /* one process per prompt */
}

static gpointer get_pin_thread(gpointer data)
{
  Fixture *f = data;
  TesseraSecret *pin = NULL;
  g_assert_cmpint(pinentry_get_pin(&f->req, &pin, NULL), ==, PINENTRY_OK);
  return pin;
}

static void test_concurrent(Fixture *f, gconstpointer data)
{
  set_script(f, "pin a\npin b\npin c\npin d\n");
  GThread *threads[4];
  for (size_t i = 0; i < G_N_ELEMENTS(threads); i++)
    threads[i] = g_thread_new("prompt", get_pin_thread, f);
  char seen[5] = "";
  for (size_t i = 0; i < G_N_ELEMENTS(threads); i++) {
    TesseraSecret *pin = g_thread_join(threads[i]);
    g_assert_cmpuint(pin->len, ==, 1);
    seen[i] = (char)pin->data[0];
    tessera_secret_free(pin);
  }
  /* Each process took a line of its own. */
  for (const char *want = "abcd"; *want != '\0'; want++)
    g_assert_nonnull(strchr(seen, *want));
}

/* Open fds but GLib's anonymous-inode ones: its worker thread closes the
 * child watch's pidfd and the wait context's eventfd a moment after a call
 * returns, which would make the count race. Ours are sockets. */
static guint count_fds(void)
{
  g_autoptr(GDir) dir = g_dir_open("/proc/self/fd", 0, NULL);
  g_assert_nonnull(dir);
  guint n = 0;
  const char *name;
  while ((name = g_dir_read_name(dir)) != NULL) {
    g_autofree char *path = g_build_filename("/proc/self/fd", name, NULL);
    g_autofree char *target = g_file_read_link(path, NULL);
    if (target != NULL && !g_str_has_prefix(target, "anon_inode:"))
      n++;
  }
  return n;
}

/* Every way a call can end closes what it opened. */
static void test_no_fd_leak(Fixture *f, gconstpointer data)
{
  set_script(f, "pin 1\npin 2\ncancel\ngarbage\nexit\nconfirm\nhang\n");
  g_autoptr(TesseraSecret) warm = NULL;
  g_assert_cmpint(pinentry_get_pin(&f->req, &warm, NULL), ==, PINENTRY_OK);
  guint before = count_fds();

  g_autoptr(TesseraSecret) pin = NULL;
  g_assert_cmpint(pinentry_get_pin(&f->req, &pin, NULL), ==, PINENTRY_OK);
  g_clear_pointer(&pin, tessera_secret_free);
  g_assert_cmpint(pinentry_get_pin(&f->req, &pin, NULL), ==, PINENTRY_CANCELLED);
  g_assert_cmpint(pinentry_get_pin(&f->req, &pin, NULL), ==, PINENTRY_FAILED);
  g_assert_cmpint(pinentry_get_pin(&f->req, &pin, NULL), ==, PINENTRY_FAILED);
  g_assert_cmpint(pinentry_confirm(&f->req, NULL), ==, PINENTRY_OK);
  PinentryMessage *m = pinentry_message_open(&f->req, NULL);
  g_assert_nonnull(m);
  pinentry_message_close(m);
  g_autoptr(GCancellable) cancellable = g_cancellable_new();
  f->req.cancellable = cancellable;
  Canceller c = { f, cancellable, 0 };
  GThread *thread = g_thread_new("canceller", cancel_when_asked, &c);
  g_assert_cmpint(pinentry_get_pin(&f->req, &pin, NULL), ==, PINENTRY_ABORTED);
  g_thread_join(thread);
  f->req.cancellable = NULL;
  f->req.program = "tessera-no-such-pinentry";
  g_assert_cmpint(pinentry_get_pin(&f->req, &pin, NULL), ==, PINENTRY_FAILED);
  f->req.program = "true";
  g_assert_cmpint(pinentry_get_pin(&f->req, &pin, NULL), ==, PINENTRY_FAILED);

  g_assert_cmpuint(count_fds(), ==, before);
}

/* Messages logged while capturing, debug ones included. */
static GMutex captured_lock;
static GPtrArray *captured;

static GLogWriterOutput capture_writer(GLogLevelFlags level, const GLogField *fields,
                                       gsize n_fields, gpointer data)
{
  g_mutex_lock(&captured_lock);
  if (captured != NULL)
    for (gsize i = 0; i < n_fields; i++)
      if (strcmp(fields[i].key, "MESSAGE") == 0)
        g_ptr_array_add(captured, g_strdup(fields[i].value));
  g_mutex_unlock(&captured_lock);
  return g_log_writer_default(level, fields, n_fields, data);
}

static void test_pin_not_logged(Fixture *f, gconstpointer data)
{
  set_script(f, "pin s3cr3t-PIN\n");
  g_mutex_lock(&captured_lock);
  captured = g_ptr_array_new_with_free_func(g_free);
  g_mutex_unlock(&captured_lock);
  g_autoptr(TesseraSecret) pin = NULL;
  g_assert_cmpint(pinentry_get_pin(&f->req, &pin, NULL), ==, PINENTRY_OK);
  g_mutex_lock(&captured_lock);
  g_autoptr(GPtrArray) messages = g_steal_pointer(&captured);
  g_mutex_unlock(&captured_lock);
  gboolean hidden = FALSE, command = FALSE;
  for (guint i = 0; i < messages->len; i++) {
    const char *m = g_ptr_array_index(messages, i);
    g_assert_null(strstr(m, "s3cr3t"));
    hidden = hidden || strstr(m, "-> D [hidden]") != NULL;
    command = command || strstr(m, "<- GETPIN") != NULL;
  }
  g_assert_true(hidden);
  g_assert_true(command);
}

static void add(const char *path, void (*fn)(Fixture *, gconstpointer))
{
  g_test_add(path, Fixture, NULL, fixture_setup, fn, fixture_teardown);
}

int main(int argc, char **argv)
{
  g_setenv("DISPLAY", AGENT_DISPLAY, TRUE);
  g_test_init(&argc, &argv, NULL);
  g_log_set_writer_func(capture_writer, NULL, NULL);
  if (g_getenv("FAKE_PINENTRY") == NULL) {
    g_test_message("FAKE_PINENTRY is not set (meson test sets it)");
    return 77;
  }
  add("/pinentry/get-pin", test_get_pin);
  add("/pinentry/pin-bytes", test_pin_bytes);
  add("/pinentry/pin-too-long", test_pin_too_long);
  add("/pinentry/empty-pin", test_empty_pin);
  add("/pinentry/status-and-comments", test_status_and_comments);
  add("/pinentry/cancel", test_cancel);
  add("/pinentry/timeout", test_timeout);
  add("/pinentry/timeout-unanswered", test_timeout_unanswered);
  add("/pinentry/confirm", test_confirm);
  add("/pinentry/confirm-with-data", test_confirm_with_data);
  add("/pinentry/message", test_message);
  add("/pinentry/message-fails", test_message_fails);
  add("/pinentry/abort", test_abort);
  add("/pinentry/abort-before-start", test_abort_before_start);
  add("/pinentry/missing-program", test_missing_program);
  add("/pinentry/exits-at-once", test_exits_at_once);
  add("/pinentry/exits-during-getpin", test_exits_during_getpin);
  add("/pinentry/garbage", test_garbage);
  add("/pinentry/bad-escape", test_bad_escape);
  add("/pinentry/line-limit", test_line_limit);
  add("/pinentry/inquire-declined", test_inquire_declined);
  add("/pinentry/bad-request", test_bad_request);
  add("/pinentry/env-and-tty", test_env_and_tty);
  add("/pinentry/sequence", test_sequence);
  add("/pinentry/concurrent", test_concurrent);
  add("/pinentry/no-fd-leak", test_no_fd_leak);
  add("/pinentry/pin-not-logged", test_pin_not_logged);
  return g_test_run();
}
