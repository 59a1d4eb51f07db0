/* tessera-agent — the pinentry client: one dialog, one pinentry process.
 *
 * The child's stdin and stdout are one end of a socket pair rather than
 * two pipes: the agent writes with MSG_NOSIGNAL, so a pinentry that dies
 * cannot take the agent down with SIGPIPE. Waits poll the socket together
 * with the request's cancellable, so another thread can end a dialog at
 * any moment. GSubprocess reaps the child; we wait for that before
 * returning, so no call leaves a process behind.
 */
#include "pinentry.h"

#include "assuan.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* Answers that need no user (greeting, SET*, OPTION): a pinentry that
 * takes longer than this is stuck. */
#define SETUP_TIMEOUT_MS 30000
/* After SETTIMEOUT n the pinentry ends the dialog itself; one that has
 * not answered n + this many seconds later never will. */
#define TIMEOUT_SLACK_S 3
/* From BYE, EOF or SIGTERM to SIGKILL. */
#define EXIT_GRACE_MS 1000

typedef struct {
  char *program;
  GSubprocess *proc;
  int fd; /* our end of the socket pair, non-blocking; -1 once closed */
  GCancellable *cancellable;
  GPollFD cancel_pfd;
  gboolean has_cancel_pfd;
  guint timeout_s;
  /* Received bytes not yet parsed; may hold a PIN line, hence a secret. */
  TesseraSecret *in;
  size_t consumed; /* bytes of in taken by the line read last */
  /* The conversation cannot go on (stuck, cancelled, garbage): end the
   * process with a signal instead of BYE. */
  gboolean broken;
  gboolean reaped;
} Session;

struct PinentryMessage {
  Session *session;
};

typedef enum { WAIT_READY, WAIT_CANCELLED, WAIT_EXPIRED } WaitStatus;

static gint64 deadline_in_ms(gint64 ms)
{
  return g_get_monotonic_time() + ms * 1000;
}

/* Until fd has events, the cancellable fires or the deadline (-1: none)
 * passes. Socket errors count as ready: the read or write reports them. */
static WaitStatus wait_for(Session *s, short events, gint64 deadline)
{
  for (;;) {
    if (g_cancellable_is_cancelled(s->cancellable))
      return WAIT_CANCELLED;
    int timeout = -1;
    if (deadline >= 0) {
      gint64 left = deadline - g_get_monotonic_time();
      if (left <= 0)
        return WAIT_EXPIRED;
      timeout = (int)MIN((left + 999) / 1000, G_MAXINT);
    }
    struct pollfd pfd[2] = { { .fd = s->fd, .events = events } };
    nfds_t n = 1;
    if (s->has_cancel_pfd)
      pfd[n++] = (struct pollfd){ .fd = s->cancel_pfd.fd, .events = POLLIN };
    int rc = poll(pfd, n, timeout);
    if (rc < 0 && errno != EINTR)
      return WAIT_READY;
    if (rc > 0 && pfd[0].revents != 0 && !g_cancellable_is_cancelled(s->cancellable))
      return WAIT_READY;
  }
}

static void on_exited(GObject *source, GAsyncResult *result, gpointer data)
{
  (void)g_subprocess_wait_finish(G_SUBPROCESS(source), result, NULL);
  *(gboolean *)data = TRUE;
}

static gboolean on_grace_over(gpointer proc)
{
  g_subprocess_force_exit(proc);
  return G_SOURCE_REMOVE;
}

/* Waits until the child has exited and GLib has reaped it, sending SIGKILL
 * after EXIT_GRACE_MS. The private main context keeps this off any loop
 * the calling thread may run. */
static void reap(Session *s)
{
  if (s->proc == NULL || s->reaped)
    return;
  GMainContext *ctx = g_main_context_new();
  g_main_context_push_thread_default(ctx);
  gboolean exited = FALSE;
  g_subprocess_wait_async(s->proc, NULL, on_exited, &exited);
  GSource *grace = g_timeout_source_new(EXIT_GRACE_MS);
  g_source_set_callback(grace, on_grace_over, s->proc, NULL);
  g_source_attach(grace, ctx);
  while (!exited)
    g_main_context_iteration(ctx, TRUE);
  g_source_destroy(grace);
  g_source_unref(grace);
  g_main_context_pop_thread_default(ctx);
  g_main_context_unref(ctx);
  s->reaped = TRUE;
}

static char *describe_exit(GSubprocess *proc)
{
  if (g_subprocess_get_if_exited(proc))
    return g_strdup_printf("exit status %d", g_subprocess_get_exit_status(proc));
  if (g_subprocess_get_if_signaled(proc)) {
    int sig = g_subprocess_get_term_sig(proc);
    return g_strdup_printf("killed by signal %d, %s", sig, g_strsignal(sig));
  }
  return g_strdup("it did not exit");
}

static void close_fd(Session *s)
{
  if (s->fd >= 0)
    (void)close(s->fd);
  s->fd = -1;
}

/* Ends the conversation and the process: BYE when it can still listen,
 * SIGTERM when not; SIGKILL if it lingers. Frees the session. */
static void session_end(Session *s)
{
  if (s == NULL)
    return;
  if (s->proc != NULL && !s->reaped) {
    if (!s->broken && s->fd >= 0) {
      static const char bye[] = "BYE\n";
      g_debug("pinentry '%s' <- BYE", s->program);
      /* Wait for its OK before hanging up, so it does not die of SIGPIPE. */
      if (send(s->fd, bye, sizeof bye - 1, MSG_NOSIGNAL) == (ssize_t)(sizeof bye - 1))
        (void)wait_for(s, POLLIN, deadline_in_ms(EXIT_GRACE_MS));
    }
    close_fd(s);
    if (s->broken)
      g_subprocess_send_signal(s->proc, SIGTERM);
    reap(s);
  }
  close_fd(s);
  if (s->has_cancel_pfd)
    g_cancellable_release_fd(s->cancellable);
  g_clear_object(&s->cancellable);
  g_clear_object(&s->proc);
  g_clear_pointer(&s->in, tessera_secret_free);
  g_free(s->program);
  g_free(s);
}

/* A wait that did not end in WAIT_READY, as the call's result. During a
 * dialog, the deadline is the dialog's timeout; otherwise it means stuck. */
static PinentryResult wait_failed(Session *s, WaitStatus w, gboolean dialog, const char *during,
                                  GError **error)
{
  s->broken = TRUE;
  if (w == WAIT_CANCELLED)
    return PINENTRY_ABORTED;
  if (dialog)
    return PINENTRY_TIMEOUT;
  g_set_error(error, G_IO_ERROR, G_IO_ERROR_TIMED_OUT,
              "pinentry program '%s' is stuck: nothing during %s for %d s", s->program, during,
              SETUP_TIMEOUT_MS / 1000);
  return PINENTRY_FAILED;
}

/* The other end is gone: says how the process ended. */
static PinentryResult connection_lost(Session *s, int err, const char *during, GError **error)
{
  s->broken = TRUE;
  close_fd(s);
  reap(s);
  g_autofree char *how = describe_exit(s->proc);
  if (err != 0)
    g_set_error(error, G_IO_ERROR, G_IO_ERROR_CONNECTION_CLOSED,
                "pinentry program '%s' closed the connection during %s (%s; %s)", s->program,
                during, g_strerror(err), how);
  else
    g_set_error(error, G_IO_ERROR, G_IO_ERROR_CONNECTION_CLOSED,
                "pinentry program '%s' closed the connection during %s (%s)", s->program, during,
                how);
  return PINENTRY_FAILED;
}

static PinentryResult send_line(Session *s, const char *line, const char *during, GError **error)
{
  g_debug("pinentry '%s' <- %s", s->program, line);
  g_autofree char *buf = g_strconcat(line, "\n", NULL);
  size_t n = strlen(buf), off = 0;
  gint64 deadline = deadline_in_ms(SETUP_TIMEOUT_MS);
  while (off < n) {
    ssize_t k = send(s->fd, buf + off, n - off, MSG_NOSIGNAL);
    if (k >= 0) {
      off += (size_t)k;
    } else if (errno == EAGAIN || errno == EWOULDBLOCK) {
      WaitStatus w = wait_for(s, POLLOUT, deadline);
      if (w != WAIT_READY)
        return wait_failed(s, w, FALSE, during, error);
    } else if (errno != EINTR) {
      return connection_lost(s, errno, during, error);
    }
  }
  return PINENTRY_OK;
}

/* Forgets the line read last, wiping its bytes. */
static void drop_consumed(Session *s)
{
  TesseraSecret *in = s->in;
  size_t rest = in->len - s->consumed;
  memmove(in->data, in->data + s->consumed, rest);
  explicit_bzero(in->data + rest, s->consumed);
  in->len = rest;
  s->consumed = 0;
}

/* The next line, without its LF, valid until the next call. The buffer
 * holds ASSUAN_RECV_LINE_MAX bytes, so a line without an LF within them
 * is over the limit. */
static PinentryResult read_line(Session *s, gint64 deadline, gboolean dialog, const char *during,
                                const char **line, size_t *len, GError **error)
{
  drop_consumed(s);
  TesseraSecret *in = s->in;
  for (;;) {
    const uint8_t *lf = memchr(in->data, '\n', in->len);
    if (lf != NULL) {
      *line = (const char *)in->data;
      *len = (size_t)(lf - in->data);
      s->consumed = *len + 1;
      return PINENTRY_OK;
    }
    if (in->len == in->cap) {
      s->broken = TRUE;
      g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                  "pinentry program '%s' sent a line longer than %d bytes during %s; "
                  "is it a pinentry?",
                  s->program, ASSUAN_RECV_LINE_MAX, during);
      return PINENTRY_FAILED;
    }
    WaitStatus w = wait_for(s, POLLIN, deadline);
    if (w != WAIT_READY)
      return wait_failed(s, w, dialog, during, error);
    ssize_t k = recv(s->fd, in->data + in->len, in->cap - in->len, 0);
    if (k > 0) {
      in->len += (size_t)k;
      in->data[in->len] = '\0';
    } else if (k == 0) {
      return connection_lost(s, 0, during, error);
    } else if (errno != EINTR && errno != EAGAIN && errno != EWOULDBLOCK) {
      return connection_lost(s, errno, during, error);
    }
  }
}

static void log_response(Session *s, const AssuanResponse *r, const char *line, size_t len)
{
  if (r->kind == ASSUAN_RESPONSE_DATA) {
    g_debug("pinentry '%s' -> D [hidden]", s->program);
    return;
  }
  g_autofree char *shown = assuan_text_for_display(line, len);
  g_debug("pinentry '%s' -> %s", s->program, shown);
}

static PinentryResult refused(Session *s, const AssuanResponse *r, const char *during,
                              GError **error)
{
  switch (ASSUAN_GPG_ERR_CODE(r->code)) {
  case ASSUAN_GPG_ERR_CANCELED:
  case ASSUAN_GPG_ERR_FULLY_CANCELED:
  case ASSUAN_GPG_ERR_NOT_CONFIRMED:
    return PINENTRY_CANCELLED;
  case ASSUAN_GPG_ERR_TIMEOUT:
    return PINENTRY_TIMEOUT;
  default:
    break;
  }
  g_autofree char *text = assuan_text_for_display(r->text, r->text_len);
  g_set_error(error, G_IO_ERROR, G_IO_ERROR_FAILED,
              "pinentry program '%s' refused %s: %s (error %" G_GUINT32_FORMAT ")", s->program,
              during, *text != '\0' ? text : "no reason given", r->code);
  return PINENTRY_FAILED;
}

/* Sends command (NULL: none, for the greeting) and reads the answer up to
 * its OK or ERR. D lines go to data; with data NULL they are an error. A
 * dialog command waits for the user (up to the timeout, if any). */
static PinentryResult transact(Session *s, const char *command, TesseraSecret *data,
                               gboolean dialog, GError **error)
{
  g_autofree char *during = command != NULL
                                ? g_strndup(command, strcspn(command, " "))
                                : g_strdup("the greeting");
  if (command != NULL) {
    PinentryResult sent = send_line(s, command, during, error);
    if (sent != PINENTRY_OK)
      return sent;
  }
  gint64 deadline = deadline_in_ms(SETUP_TIMEOUT_MS);
  if (dialog)
    deadline = s->timeout_s > 0 ? deadline_in_ms(((gint64)s->timeout_s + TIMEOUT_SLACK_S) * 1000)
                                : -1;
  for (;;) {
    const char *line = NULL;
    size_t len = 0;
    PinentryResult got = read_line(s, deadline, dialog, during, &line, &len, error);
    if (got != PINENTRY_OK)
      return got;
    AssuanResponse r;
    g_autoptr(GError) local = NULL;
    if (!assuan_parse_response(line, len, data, &r, &local)) {
      /* Not quoted: it may be a data line with a PIN in it. */
      s->broken = TRUE;
      g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                  "pinentry program '%s' sent a bad line during %s (%s); is it a pinentry?",
                  s->program, during, local->message);
      return PINENTRY_FAILED;
    }
    log_response(s, &r, line, len);
    switch (r.kind) {
    case ASSUAN_RESPONSE_OK:
      return PINENTRY_OK;
    case ASSUAN_RESPONSE_ERR:
      return refused(s, &r, during, error);
    case ASSUAN_RESPONSE_DATA:
      if (data == NULL) {
        s->broken = TRUE;
        g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                    "pinentry program '%s' sent data during %s, which has none", s->program,
                    during);
        return PINENTRY_FAILED;
      }
      break;
    case ASSUAN_RESPONSE_INQUIRE: {
      /* We enable nothing pinentry inquires about (quality bar, PIN
       * generation): decline, and it goes on without. */
      PinentryResult sent = send_line(s, "CAN", during, error);
      if (sent != PINENTRY_OK)
        return sent;
      break;
    }
    case ASSUAN_RESPONSE_STATUS:
    case ASSUAN_RESPONSE_COMMENT:
      break;
    }
  }
}

static gboolean check_env(const char *const *env, GError **error)
{
  for (const char *const *e = env; e != NULL && *e != NULL; e++) {
    const char *eq = strchr(*e, '=');
    if (eq == NULL || eq == *e) {
      g_autofree char *shown = assuan_text_for_display(*e, strlen(*e));
      g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                  "environment entry '%s' for the pinentry is not KEY=VALUE", shown);
      return FALSE;
    }
  }
  return TRUE;
}

static gboolean add_option(GPtrArray *lines, const char *name, const char *value, GError **error)
{
  if (value == NULL)
    return TRUE;
  char *line = assuan_option(name, value);
  if (line == NULL) {
    g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                "cannot pass %s to the pinentry: empty, too long, or has control characters",
                name);
    return FALSE;
  }
  g_ptr_array_add(lines, line);
  return TRUE;
}

/* The commands that set the dialog up, in order, checked before anything
 * is started. */
static GPtrArray *setup_commands(const PinentryRequest *r, GError **error)
{
  g_autoptr(GPtrArray) lines = g_ptr_array_new_with_free_func(g_free);
  if (!check_env(r->env, error) || !add_option(lines, "ttyname", r->ttyname, error) ||
      !add_option(lines, "ttytype", r->ttytype, error))
    return NULL;
  const char *const texts[][2] = {
    { "SETTITLE", r->title },   { "SETDESC", r->description }, { "SETPROMPT", r->prompt },
    { "SETERROR", r->error },   { "SETOK", r->ok_label },      { "SETCANCEL", r->cancel_label },
  };
  for (size_t i = 0; i < G_N_ELEMENTS(texts); i++)
    if (texts[i][1] != NULL)
      g_ptr_array_add(lines, assuan_command_with_text(texts[i][0], texts[i][1]));
  if (r->timeout_s > 0)
    g_ptr_array_add(lines, g_strdup_printf("SETTIMEOUT %u", r->timeout_s));
  return g_steal_pointer(&lines);
}

static PinentryResult spawn(Session *s, const PinentryRequest *r, GError **error)
{
  g_autoptr(GSubprocessLauncher) launcher = g_subprocess_launcher_new(G_SUBPROCESS_FLAGS_NONE);
  for (const char *const *e = r->env; e != NULL && *e != NULL; e++) {
    const char *eq = strchr(*e, '=');
    g_autofree char *key = g_strndup(*e, (gsize)(eq - *e));
    g_subprocess_launcher_setenv(launcher, key, eq + 1, TRUE);
  }
  int sv[2];
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) {
    int err = errno;
    g_set_error(error, G_IO_ERROR, g_io_error_from_errno(err),
                "cannot create a socket pair for the pinentry: %s", g_strerror(err));
    return PINENTRY_FAILED;
  }
  s->fd = sv[0];
  int child_out = fcntl(sv[1], F_DUPFD_CLOEXEC, 3);
  if (child_out < 0 || fcntl(s->fd, F_SETFL, O_NONBLOCK) != 0) {
    int err = errno;
    if (child_out >= 0)
      (void)close(child_out);
    (void)close(sv[1]);
    g_set_error(error, G_IO_ERROR, g_io_error_from_errno(err),
                "cannot set up the pinentry's socket: %s", g_strerror(err));
    return PINENTRY_FAILED;
  }
  g_subprocess_launcher_take_stdin_fd(launcher, sv[1]);
  g_subprocess_launcher_take_stdout_fd(launcher, child_out);
  const char *argv[] = { s->program, NULL };
  g_autoptr(GError) local = NULL;
  s->proc = g_subprocess_launcher_spawnv(launcher, argv, &local);
  /* Close the child's ends now: its exit must read as EOF here. */
  g_subprocess_launcher_close(launcher);
  if (s->proc == NULL) {
    g_set_error(error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND,
                "pinentry program '%s' could not be started: %s. Install one (Debian: "
                "pinentry-gnome3, pinentry-qt or pinentry-curses) or configure the path of one",
                s->program, local->message);
    return PINENTRY_FAILED;
  }
  g_debug("pinentry '%s' started, pid %s", s->program, g_subprocess_get_identifier(s->proc));
  return PINENTRY_OK;
}

/* Starts the pinentry and sets the dialog up, up to the command that
 * shows it. */
static PinentryResult session_open(const PinentryRequest *r, Session **out, GError **error)
{
  *out = NULL;
  if (g_cancellable_is_cancelled(r->cancellable))
    return PINENTRY_ABORTED;
  g_autoptr(GPtrArray) setup = setup_commands(r, error);
  if (setup == NULL)
    return PINENTRY_FAILED;

  Session *s = g_new0(Session, 1);
  s->fd = -1;
  s->program = g_strdup(r->program != NULL ? r->program : "pinentry");
  s->timeout_s = r->timeout_s;
  if (r->cancellable != NULL) {
    s->cancellable = g_object_ref(r->cancellable);
    s->has_cancel_pfd = g_cancellable_make_pollfd(s->cancellable, &s->cancel_pfd);
  }
  s->in = tessera_secret_new(ASSUAN_RECV_LINE_MAX);
  PinentryResult res = PINENTRY_OK;
  if (s->in == NULL) {
    g_set_error(error, G_IO_ERROR, G_IO_ERROR_NO_SPACE, "no memory for the pinentry's answers");
    res = PINENTRY_FAILED;
  }
  if (res == PINENTRY_OK)
    res = spawn(s, r, error);
  if (res == PINENTRY_OK)
    res = transact(s, NULL, NULL, FALSE, error);
  for (guint i = 0; res == PINENTRY_OK && i < setup->len; i++)
    res = transact(s, g_ptr_array_index(setup, i), NULL, FALSE, error);
  if (res != PINENTRY_OK) {
    session_end(s);
    return res;
  }
  *out = s;
  return PINENTRY_OK;
}

PinentryResult pinentry_get_pin(const PinentryRequest *r, TesseraSecret **pin, GError **error)
{
  g_return_val_if_fail(r != NULL && pin != NULL, PINENTRY_FAILED);
  *pin = NULL;
  g_autoptr(TesseraSecret) secret = tessera_secret_new(PINENTRY_PIN_MAX);
  if (secret == NULL) {
    g_set_error(error, G_IO_ERROR, G_IO_ERROR_NO_SPACE, "no memory for a PIN");
    return PINENTRY_FAILED;
  }
  Session *s = NULL;
  PinentryResult res = session_open(r, &s, error);
  if (res != PINENTRY_OK)
    return res;
  res = transact(s, "GETPIN", secret, TRUE, error);
  session_end(s);
  if (res == PINENTRY_OK)
    *pin = g_steal_pointer(&secret);
  return res;
}

PinentryResult pinentry_confirm(const PinentryRequest *r, GError **error)
{
  g_return_val_if_fail(r != NULL, PINENTRY_FAILED);
  Session *s = NULL;
  PinentryResult res = session_open(r, &s, error);
  if (res != PINENTRY_OK)
    return res;
  res = transact(s, "CONFIRM", NULL, TRUE, error);
  session_end(s);
  return res;
}

PinentryMessage *pinentry_message_open(const PinentryRequest *r, GError **error)
{
  g_return_val_if_fail(r != NULL, NULL);
  Session *s = NULL;
  g_autoptr(GError) local = NULL;
  PinentryResult res = session_open(r, &s, &local);
  if (res == PINENTRY_OK)
    res = send_line(s, "MESSAGE", "MESSAGE", &local);
  if (res != PINENTRY_OK) {
    session_end(s);
    if (local != NULL)
      g_propagate_error(error, g_steal_pointer(&local));
    else
      g_set_error(error, G_IO_ERROR, G_IO_ERROR_CANCELLED,
                  res == PINENTRY_ABORTED ? "the message was cancelled before it was shown"
                                          : "the pinentry ended the message before it was shown");
    return NULL;
  }
  /* The answer comes when the user dismisses the message, if ever: the
   * process is ended with a signal, not with BYE. */
  s->broken = TRUE;
  PinentryMessage *m = g_new0(PinentryMessage, 1);
  m->session = s;
  return m;
}

void pinentry_message_close(PinentryMessage *m)
{
  if (m == NULL)
    return;
  session_end(m->session);
  g_free(m);
}
