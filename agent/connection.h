/* tessera-agent — one client connection: framing, back-pressure, replies.
 *
 * Reading, dispatch and closing happen on the main loop. Replies may be
 * sent from a token's worker the moment its job is done, without a detour
 * through the main loop (a thread hop costs tens of microseconds, as much
 * as a fast signature): the output side and the reference count are
 * therefore thread-safe. A closed connection drops late replies.
 */
#pragma once

#include "buf.h"

#include <glib.h>
#include <sys/types.h>

typedef struct TesseraConn TesseraConn;

struct TesseraConn {
  gint refcount;  /* atomic */
  gint in_flight; /* atomic: jobs queued or running */
  gint paused;    /* atomic: reading stopped for back-pressure */
  int fd;
  guint in_watch; /* main loop only */
  tproto_buf in;  /* main loop only */

  GMutex out_lock; /* guards the fields below */
  gboolean closed;
  gboolean close_after_flush;
  guint out_watch;
  tproto_buf out;

  /* peer, set once at accept */
  pid_t pid;
  uid_t uid;
  char *program;   /* executable name from /proc, e.g. "mutt" */
  char *peer_name; /* "pid 123 (mutt)" for logs */
  /* set by HELLO on the main loop and never changed after it, so workers
   * may read them for the PIN dialog */
  gboolean hello_done;
  gboolean subscribed; /* SUBSCRIBE: an event stream from now on */
  uint32_t version;
  char *client_name;
  GHashTable *options; /* HELLO context: DISPLAY, TERM, ... */
};

/* Takes ownership of fd (already accepted and checked). */
TesseraConn *tessera_conn_new(int fd, pid_t pid, uid_t uid);
TesseraConn *tessera_conn_ref(TesseraConn *conn);
void tessera_conn_unref(TesseraConn *conn);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(TesseraConn, tessera_conn_unref)

/* Queues encoded frames for sending; any thread. */
void tessera_conn_send(TesseraConn *conn, const tproto_buf *frames);
void tessera_conn_send_error(TesseraConn *conn, uint32_t request_id, uint32_t code,
                             const char *fmt, ...) G_GNUC_PRINTF(4, 5);
/* Sends what is queued, then closes (protocol violations). */
void tessera_conn_close_after_flush(TesseraConn *conn);
void tessera_conn_close(TesseraConn *conn);
gboolean tessera_conn_is_closed(TesseraConn *conn);

/* A job of this connection was queued; any thread. */
void tessera_conn_job_started(TesseraConn *conn);
/* A job of this connection ended (resumes reading if it was paused);
 * any thread. */
void tessera_conn_job_done(TesseraConn *conn);

/* Number of live connections (for STATUS). */
guint tessera_conn_count(void);
/* Closes every connection (shutdown). */
void tessera_conn_close_all(void);
