/* tessera-agent — the listening socket: path, permissions, peer checks. */
#include "server.h"

#include "activation.h"
#include "connection.h"
#include "messages.h"

#include <errno.h>
#include <gio/gio.h>
#include <glib-unix.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

static int listen_fd = -1;
static gboolean activated; /* the socket came from systemd */
static guint listen_watch;
static char *socket_path;

char *server_default_socket_path(GError **error)
{
  const char *runtime = g_getenv("XDG_RUNTIME_DIR");
  if (runtime == NULL || *runtime == '\0') {
    g_set_error(error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND,
                "XDG_RUNTIME_DIR is not set; pass --socket PATH");
    return NULL;
  }
  return g_build_filename(runtime, "tessera", "agent.sock", NULL);
}

static gboolean fill_address(const char *path, struct sockaddr_un *addr, GError **error)
{
  memset(addr, 0, sizeof(*addr));
  addr->sun_family = AF_UNIX;
  if (strlen(path) >= sizeof(addr->sun_path)) {
    g_set_error(error, G_IO_ERROR, G_IO_ERROR_FILENAME_TOO_LONG,
                "socket path %s is longer than %zu bytes", path, sizeof(addr->sun_path) - 1);
    return FALSE;
  }
  memcpy(addr->sun_path, path, strlen(path));
  return TRUE;
}

/* The directory holds the socket: ours alone. */
static gboolean prepare_directory(const char *path, GError **error)
{
  g_autofree char *dir = g_path_get_dirname(path);
  if (mkdir(dir, 0700) == 0)
    return TRUE;
  if (errno != EEXIST) {
    g_set_error(error, G_IO_ERROR, g_io_error_from_errno(errno), "cannot create %s: %s", dir,
                g_strerror(errno));
    return FALSE;
  }
  struct stat st;
  if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
    g_set_error(error, G_IO_ERROR, G_IO_ERROR_NOT_DIRECTORY, "%s is not a directory", dir);
    return FALSE;
  }
  if (st.st_uid != getuid()) {
    g_set_error(error, G_IO_ERROR, G_IO_ERROR_PERMISSION_DENIED,
                "%s belongs to uid %u, not to this user; choose another --socket", dir,
                (unsigned)st.st_uid);
    return FALSE;
  }
  if ((st.st_mode & 077) != 0)
    g_warning("%s is accessible to other users; the socket itself is 0600 and every peer's "
              "uid is checked",
              dir);
  return TRUE;
}

/* A socket file with nobody answering is left over from a crash. */
static gboolean clear_stale_socket(const char *path, const struct sockaddr_un *addr,
                                   GError **error)
{
  struct stat st;
  if (lstat(path, &st) != 0)
    return TRUE;
  if (!S_ISSOCK(st.st_mode)) {
    g_set_error(error, G_IO_ERROR, G_IO_ERROR_EXISTS, "%s exists and is not a socket", path);
    return FALSE;
  }
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0)
    return TRUE;
  int r = connect(fd, (const struct sockaddr *)addr, sizeof(*addr));
  int err = errno;
  close(fd);
  if (r == 0) {
    g_set_error(error, G_IO_ERROR, G_IO_ERROR_ADDRESS_IN_USE,
                "another tessera-agent is already running on %s", path);
    return FALSE;
  }
  if (err != ECONNREFUSED) {
    g_set_error(error, G_IO_ERROR, g_io_error_from_errno(err), "cannot check %s: %s", path,
                g_strerror(err));
    return FALSE;
  }
  g_message("removing stale socket %s", path);
  unlink(path);
  return TRUE;
}

gboolean server_socket_activated(void)
{
  return activated;
}

gboolean server_listen(const char *path, GError **error)
{
  /* Socket activation: systemd made the socket and keeps it; the agent
   * neither checks for a live agent on it (that would be itself) nor
   * removes it at exit. */
  GError *local = NULL;
  int passed = activation_listen_fd(path, &local);
  if (local != NULL) {
    g_propagate_error(error, local);
    return FALSE;
  }
  if (passed >= 0) {
    listen_fd = passed;
    activated = TRUE;
    return TRUE;
  }
  struct sockaddr_un addr;
  if (!fill_address(path, &addr, error) || !prepare_directory(path, error) ||
      !clear_stale_socket(path, &addr, error))
    return FALSE;
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) {
    g_set_error(error, G_IO_ERROR, g_io_error_from_errno(errno), "socket: %s", g_strerror(errno));
    return FALSE;
  }
  /* The umask makes the socket 0600 from birth: no window where it is
   * open to others. */
  mode_t old = umask(0177);
  int r = bind(fd, (const struct sockaddr *)&addr, sizeof(addr));
  int err = errno;
  umask(old);
  if (r != 0 || listen(fd, 128) != 0) {
    if (r == 0)
      err = errno;
    close(fd);
    g_set_error(error, G_IO_ERROR, g_io_error_from_errno(err), "cannot listen on %s: %s", path,
                g_strerror(err));
    return FALSE;
  }
  listen_fd = fd;
  socket_path = g_strdup(path);
  return TRUE;
}

/* Tells a refused peer why, without waiting on it. */
static void refuse(int fd, const char *why)
{
  tproto_buf b;
  tproto_buf_init(&b);
  if (tproto_enc_error(&b, 0, TPROTO_ERR_PROTOCOL, why) == TPROTO_OK)
    (void)send(fd, b.data, b.len, MSG_NOSIGNAL | MSG_DONTWAIT);
  tproto_buf_free(&b);
  close(fd);
}

static gboolean on_accept(int fd, GIOCondition cond, gpointer data)
{
  for (;;) {
    int cfd = accept4(fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
    if (cfd < 0) {
      if (errno == EINTR)
        continue;
      if (errno != EAGAIN && errno != EWOULDBLOCK)
        g_warning("accept: %s", g_strerror(errno));
      return G_SOURCE_CONTINUE;
    }
    struct ucred cred;
    socklen_t len = sizeof(cred);
    if (getsockopt(cfd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0) {
      g_warning("cannot identify a connecting peer: %s; refusing it", g_strerror(errno));
      refuse(cfd, "peer credentials unavailable");
      continue;
    }
    if (cred.uid != getuid()) {
      g_warning("refused a connection from uid %u (pid %d): this agent serves uid %u only",
                (unsigned)cred.uid, (int)cred.pid, (unsigned)getuid());
      refuse(cfd, "this agent serves its own user only");
      continue;
    }
    (void)tessera_conn_new(cfd, cred.pid, cred.uid);
  }
}

void server_start(void)
{
  listen_watch = g_unix_fd_add(listen_fd, G_IO_IN, on_accept, NULL);
}

void server_stop(void)
{
  if (listen_watch)
    g_source_remove(listen_watch);
  listen_watch = 0;
  if (listen_fd >= 0) {
    close(listen_fd);
    listen_fd = -1;
  }
  if (socket_path != NULL) {
    unlink(socket_path);
    g_clear_pointer(&socket_path, g_free);
  }
}
