/* tessera-agent — one client connection: framing, back-pressure, replies. */
#include "connection.h"

#include "messages.h"
#include "requests.h"

#include <errno.h>
#include <glib-unix.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define READ_CHUNK 65536
/* A client that pipelines more than this many requests waits: we stop
 * reading its socket until replies drain. */
#define MAX_IN_FLIGHT 64
/* A client that does not read its replies is cut off past this backlog. */
#define MAX_OUT_BACKLOG (8 * 1024 * 1024)

static GList *live_connections; /* main loop only */

static gboolean on_readable(int fd, GIOCondition cond, gpointer data);
static gboolean on_writable(int fd, GIOCondition cond, gpointer data);

/* The peer's executable as the kernel knows it (not what the client says
 * in HELLO): the name the PIN dialog shows. */
static char *peer_program(pid_t pid)
{
  if (pid <= 0)
    return g_strdup("an unknown program");
  g_autofree char *exe_link = g_strdup_printf("/proc/%d/exe", (int)pid);
  g_autofree char *exe = g_file_read_link(exe_link, NULL);
  if (exe != NULL)
    return g_path_get_basename(exe);
  g_autofree char *comm_path = g_strdup_printf("/proc/%d/comm", (int)pid);
  g_autofree char *comm = NULL;
  if (g_file_get_contents(comm_path, &comm, NULL, NULL))
    return g_strdup(g_strstrip(comm));
  return g_strdup("an unknown program");
}

TesseraConn *tessera_conn_new(int fd, pid_t pid, uid_t uid)
{
  TesseraConn *conn = g_new0(TesseraConn, 1);
  conn->refcount = 1;
  conn->fd = fd;
  conn->pid = pid;
  conn->uid = uid;
  conn->program = peer_program(pid);
  conn->peer_name = g_strdup_printf("pid %d (%s)", (int)pid, conn->program);
  conn->options = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
  g_mutex_init(&conn->out_lock);
  tproto_buf_init(&conn->in);
  tproto_buf_init(&conn->out);
  conn->in.max = TPROTO_MAX_FRAME + 4 + READ_CHUNK;
  conn->out.max = MAX_OUT_BACKLOG + TPROTO_MAX_FRAME + 4;
  conn->in_watch = g_unix_fd_add(fd, G_IO_IN, on_readable, conn);
  /* The list holds the connection's own reference until it closes. */
  live_connections = g_list_prepend(live_connections, conn);
  g_debug("client connected: %s", conn->peer_name);
  return conn;
}

TesseraConn *tessera_conn_ref(TesseraConn *conn)
{
  g_atomic_int_inc(&conn->refcount);
  return conn;
}

void tessera_conn_unref(TesseraConn *conn)
{
  if (conn == NULL || !g_atomic_int_dec_and_test(&conn->refcount))
    return;
  tproto_buf_free(&conn->in);
  tproto_buf_free(&conn->out);
  g_mutex_clear(&conn->out_lock);
  g_hash_table_unref(conn->options);
  g_free(conn->peer_name);
  g_free(conn->program);
  g_free(conn->client_name);
  g_free(conn);
}

gboolean tessera_conn_is_closed(TesseraConn *conn)
{
  g_mutex_lock(&conn->out_lock);
  gboolean closed = conn->closed;
  g_mutex_unlock(&conn->out_lock);
  return closed;
}

void tessera_conn_close(TesseraConn *conn)
{
  g_mutex_lock(&conn->out_lock);
  if (conn->closed) {
    g_mutex_unlock(&conn->out_lock);
    return;
  }
  conn->closed = TRUE;
  if (conn->out_watch)
    g_source_remove(conn->out_watch);
  conn->out_watch = 0;
  close(conn->fd);
  conn->fd = -1;
  /* Output may hold plaintext or a derived secret. */
  tproto_buf_reset(&conn->out);
  g_mutex_unlock(&conn->out_lock);

  g_debug("client disconnected: %s", conn->peer_name);
  if (conn->in_watch)
    g_source_remove(conn->in_watch);
  conn->in_watch = 0;
  tproto_buf_reset(&conn->in); /* may hold a PIN from a LOGIN */
  live_connections = g_list_remove(live_connections, conn);
  tessera_conn_unref(conn);
}

static gboolean close_on_main(gpointer data)
{
  tessera_conn_close(data);
  return G_SOURCE_REMOVE;
}

/* Closing touches main-loop state; from a worker it is deferred. */
static void request_close(TesseraConn *conn)
{
  g_idle_add_full(G_PRIORITY_DEFAULT, close_on_main, tessera_conn_ref(conn),
                             (GDestroyNotify)tessera_conn_unref);
}

/* Writes what it can now; the rest waits for the socket to drain.
 * Returns TRUE when the connection should now be closed. */
static gboolean flush_locked(TesseraConn *conn)
{
  while (tproto_buf_remaining(&conn->out) > 0) {
    ssize_t n = send(conn->fd, tproto_buf_read_ptr(&conn->out), tproto_buf_remaining(&conn->out),
                     MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      if (conn->out_watch == 0)
        conn->out_watch = g_unix_fd_add(conn->fd, G_IO_OUT, on_writable, conn);
      return FALSE;
    }
    if (n <= 0) {
      tproto_buf_reset(&conn->out);
      return TRUE;
    }
    tproto_buf_consume(&conn->out, (size_t)n);
  }
  if (conn->out_watch) {
    g_source_remove(conn->out_watch);
    conn->out_watch = 0;
  }
  return conn->close_after_flush;
}

void tessera_conn_close_after_flush(TesseraConn *conn)
{
  if (conn->in_watch) {
    g_source_remove(conn->in_watch);
    conn->in_watch = 0;
  }
  g_mutex_lock(&conn->out_lock);
  conn->close_after_flush = TRUE;
  gboolean close_now = !conn->closed && tproto_buf_remaining(&conn->out) == 0;
  g_mutex_unlock(&conn->out_lock);
  if (close_now)
    tessera_conn_close(conn);
}

void tessera_conn_send(TesseraConn *conn, const tproto_buf *frames)
{
  gboolean close = FALSE;
  g_mutex_lock(&conn->out_lock);
  if (!conn->closed) {
    if (tproto_put(&conn->out, frames->data, frames->len) < 0) {
      g_warning("%s does not read its replies; disconnecting", conn->peer_name);
      close = TRUE;
    } else {
      close = flush_locked(conn);
    }
  }
  g_mutex_unlock(&conn->out_lock);
  if (close)
    request_close(conn);
}

void tessera_conn_send_error(TesseraConn *conn, uint32_t request_id, uint32_t code,
                             const char *fmt, ...)
{
  va_list ap;
  va_start(ap, fmt);
  g_autofree char *msg = g_strdup_vprintf(fmt, ap);
  va_end(ap);
  tproto_buf b;
  tproto_buf_init(&b);
  if (tproto_enc_error(&b, request_id, code, msg) == TPROTO_OK)
    tessera_conn_send(conn, &b);
  tproto_buf_free(&b);
}

static gboolean resume_input(gpointer data);

static void schedule_resume(TesseraConn *conn)
{
  g_idle_add_full(G_PRIORITY_DEFAULT, resume_input, tessera_conn_ref(conn),
                  (GDestroyNotify)tessera_conn_unref);
}

static void pause_input(TesseraConn *conn)
{
  g_atomic_int_set(&conn->paused, 1);
  if (conn->in_watch) {
    g_source_remove(conn->in_watch);
    conn->in_watch = 0;
  }
  /* Every job may have ended between the caller's check and the flag. */
  if (g_atomic_int_get(&conn->in_flight) < MAX_IN_FLIGHT &&
      g_atomic_int_compare_and_exchange(&conn->paused, 1, 0))
    schedule_resume(conn);
}

/* Hands every whole frame in the input buffer to the dispatcher. */
static void process_input(TesseraConn *conn)
{
  while (conn->in_watch != 0) {
    if (g_atomic_int_get(&conn->in_flight) >= MAX_IN_FLIGHT) {
      pause_input(conn);
      return;
    }
    size_t frame_len = 0;
    int r = tproto_frame_peek(tproto_buf_read_ptr(&conn->in), tproto_buf_remaining(&conn->in),
                              &frame_len);
    if (r == 0)
      return;
    if (r < 0) {
      gboolean too_large = r == TPROTO_E_TOO_LARGE;
      g_message("%s sent a %s frame; disconnecting", conn->peer_name,
                too_large ? "too large" : "malformed");
      if (too_large)
        tessera_conn_send_error(conn, 0, TPROTO_ERR_FRAME_TOO_LARGE,
                                "frame larger than the maximum of %d bytes", TPROTO_MAX_FRAME);
      else
        tessera_conn_send_error(conn, 0, TPROTO_ERR_PROTOCOL,
                                "frame length shorter than a frame header");
      tessera_conn_close_after_flush(conn);
      return;
    }
    tproto_header header;
    tproto_buf body;
    if (tproto_frame_open(tproto_buf_read_ptr(&conn->in), frame_len, &header, &body) < 0) {
      tessera_conn_close(conn);
      return;
    }
    requests_dispatch(conn, &header, &body);
    /* Wipe as we go: the frame may have been a LOGIN carrying a PIN. */
    tproto_wipe(conn->in.data + conn->in.off, frame_len);
    tproto_buf_consume(&conn->in, frame_len);
  }
}

static gboolean on_readable(int fd, GIOCondition cond, gpointer data)
{
  TesseraConn *conn = data;
  uint8_t chunk[READ_CHUNK];
  ssize_t n = recv(fd, chunk, sizeof(chunk), MSG_DONTWAIT);
  if (n < 0 && (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK))
    return G_SOURCE_CONTINUE;
  G_GNUC_UNUSED g_autoptr(TesseraConn) hold = tessera_conn_ref(conn);
  if (n <= 0 || tproto_put(&conn->in, chunk, (size_t)n) < 0) {
    tproto_wipe(chunk, sizeof(chunk));
    conn->in_watch = 0;
    tessera_conn_close(conn);
    return G_SOURCE_REMOVE;
  }
  tproto_wipe(chunk, (size_t)n);
  guint watch = conn->in_watch;
  process_input(conn);
  /* process_input may have removed this very source. */
  return conn->in_watch == watch && watch != 0 ? G_SOURCE_CONTINUE : G_SOURCE_REMOVE;
}

static gboolean on_writable(int fd, GIOCondition cond, gpointer data)
{
  TesseraConn *conn = data;
  G_GNUC_UNUSED g_autoptr(TesseraConn) hold = tessera_conn_ref(conn);
  g_mutex_lock(&conn->out_lock);
  guint watch = conn->out_watch;
  gboolean close = !conn->closed && flush_locked(conn);
  gboolean keep = conn->out_watch == watch && watch != 0;
  if (!keep && conn->out_watch == watch)
    conn->out_watch = 0;
  g_mutex_unlock(&conn->out_lock);
  if (close)
    tessera_conn_close(conn);
  return keep ? G_SOURCE_CONTINUE : G_SOURCE_REMOVE;
}

static gboolean resume_input(gpointer data)
{
  TesseraConn *conn = data;
  if (tessera_conn_is_closed(conn) || conn->in_watch != 0)
    return G_SOURCE_REMOVE;
  /* Still full (a LOGOUT of every token is one job per token): pause
   * again, so the next finished job resumes us. */
  if (g_atomic_int_get(&conn->in_flight) >= MAX_IN_FLIGHT) {
    pause_input(conn);
    return G_SOURCE_REMOVE;
  }
  g_mutex_lock(&conn->out_lock);
  gboolean closing = conn->close_after_flush;
  g_mutex_unlock(&conn->out_lock);
  if (closing)
    return G_SOURCE_REMOVE;
  conn->in_watch = g_unix_fd_add(conn->fd, G_IO_IN, on_readable, conn);
  process_input(conn);
  return G_SOURCE_REMOVE;
}

void tessera_conn_job_started(TesseraConn *conn)
{
  g_atomic_int_inc(&conn->in_flight);
}

void tessera_conn_job_done(TesseraConn *conn)
{
  g_atomic_int_add(&conn->in_flight, -1);
  /* Back-pressure paused reading: resume on the main loop, never from
   * inside a dispatch that may be running now. */
  if (g_atomic_int_compare_and_exchange(&conn->paused, 1, 0))
    schedule_resume(conn);
}

guint tessera_conn_count(void)
{
  return g_list_length(live_connections);
}

void tessera_conn_close_all(void)
{
  while (live_connections != NULL)
    tessera_conn_close(live_connections->data);
}
