/* tessera-agent — one client connection: framing, back-pressure, replies.
 *
 * Lives on the main loop only. A connection is reference counted because
 * jobs on token workers may outlive it; a closed connection silently drops
 * their late replies.
 */
#pragma once

#include "buf.h"

#include <glib.h>
#include <sys/types.h>

typedef struct TesseraConn TesseraConn;

struct TesseraConn {
  gint refcount;
  int fd;
  gboolean closed;
  gboolean close_after_flush;
  guint in_watch, out_watch;
  tproto_buf in, out;
  guint in_flight;
  /* peer */
  pid_t pid;
  uid_t uid;
  char *peer_name; /* "pid 123 (mutt)" for logs */
  /* after HELLO */
  gboolean hello_done;
  uint32_t version;
  char *client_name;
  GHashTable *options; /* HELLO context: DISPLAY, TERM, ... */
};

/* Takes ownership of fd (already accepted and checked). */
TesseraConn *tessera_conn_new(int fd, pid_t pid, uid_t uid);
TesseraConn *tessera_conn_ref(TesseraConn *conn);
void tessera_conn_unref(TesseraConn *conn);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(TesseraConn, tessera_conn_unref)

/* Queues one encoded frame (or several) for sending. */
void tessera_conn_send(TesseraConn *conn, const tproto_buf *frames);
void tessera_conn_send_error(TesseraConn *conn, uint32_t request_id, uint32_t code,
                             const char *fmt, ...) G_GNUC_PRINTF(4, 5);
/* Sends what is queued, then closes (protocol violations). */
void tessera_conn_close_after_flush(TesseraConn *conn);
void tessera_conn_close(TesseraConn *conn);

/* A job of this connection ended (resumes reading if it was paused). */
void tessera_conn_job_done(TesseraConn *conn);

/* Number of live connections (for STATUS). */
guint tessera_conn_count(void);
/* Closes every connection (shutdown). */
void tessera_conn_close_all(void);
