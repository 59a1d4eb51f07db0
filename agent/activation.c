/* tessera-agent — takes over the listening socket that systemd passes
 * (socket activation, sd_listen_fds(3) protocol), without libsystemd. */
#include "activation.h"

#include <errno.h>
#include <fcntl.h>
#include <gio/gio.h>
#include <stddef.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

/* sd_listen_fds(3): passed descriptors start right after stdin/out/err. */
#define LISTEN_FDS_START 3

static void clear_environment(void)
{
  g_unsetenv("LISTEN_PID");
  g_unsetenv("LISTEN_FDS");
  g_unsetenv("LISTEN_FDNAMES");
}

static const char *type_name(int type)
{
  switch (type) {
  case SOCK_DGRAM:
    return "a datagram (SOCK_DGRAM) socket";
  case SOCK_SEQPACKET:
    return "a SOCK_SEQPACKET socket";
  default:
    return "a socket that is not SOCK_STREAM";
  }
}

static gboolean set_fd_flag(int fd, int get, int set, int flag)
{
  int flags = fcntl(fd, get);
  return flags >= 0 && ((flags & flag) != 0 || fcntl(fd, set, flags | flag) == 0);
}

/* True when the socket's own address names expected_path: the same string,
 * or (written differently, e.g. with a symlinked directory) the same inode. */
static gboolean bound_to(const struct sockaddr_un *addr, socklen_t len, const char *expected_path,
                         char **bound_out)
{
  size_t max = len > offsetof(struct sockaddr_un, sun_path)
                   ? (size_t)len - offsetof(struct sockaddr_un, sun_path)
                   : 0;
  if (max > sizeof(addr->sun_path))
    max = sizeof(addr->sun_path);
  if (max == 0 || addr->sun_path[0] == '\0') {
    *bound_out = g_strdup(max == 0 ? "(unnamed)" : "(an abstract address)");
    return FALSE;
  }
  *bound_out = g_strndup(addr->sun_path, strnlen(addr->sun_path, max));
  if (strcmp(*bound_out, expected_path) == 0)
    return TRUE;
  struct stat a, b;
  return stat(*bound_out, &a) == 0 && stat(expected_path, &b) == 0 && a.st_dev == b.st_dev &&
         a.st_ino == b.st_ino;
}

static int take_fd(int fd, const char *expected_path, GError **error)
{
  struct stat st;
  if (fstat(fd, &st) != 0) {
    g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                "systemd announced a socket on fd %d, but it is not open: %s", fd,
                g_strerror(errno));
    return -1;
  }
  if (!S_ISSOCK(st.st_mode)) {
    g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                "systemd passed fd %d, which is not a socket", fd);
    return -1;
  }
  int domain = 0, type = 0, listening = 0;
  socklen_t len = sizeof(int);
  if (getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &domain, &len) != 0 ||
      (len = sizeof(int), getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len)) != 0 ||
      (len = sizeof(int), getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &len)) != 0) {
    g_set_error(error, G_IO_ERROR, g_io_error_from_errno(errno),
                "cannot inspect the socket systemd passed on fd %d: %s", fd, g_strerror(errno));
    return -1;
  }
  if (domain != AF_UNIX) {
    g_set_error(error, G_IO_ERROR, G_IO_ERROR_NOT_SUPPORTED,
                "systemd passed a socket of address family %d on fd %d; the agent listens on "
                "a Unix socket only (ListenStream=%%t/tessera/agent.sock)",
                domain, fd);
    return -1;
  }
  if (type != SOCK_STREAM) {
    g_set_error(error, G_IO_ERROR, G_IO_ERROR_NOT_SUPPORTED,
                "systemd passed %s on fd %d; the socket unit must use ListenStream=",
                type_name(type), fd);
    return -1;
  }
  /* A connected socket here would mean Accept=yes: one agent per client,
   * none of which would share logins. */
  if (!listening) {
    g_set_error(error, G_IO_ERROR, G_IO_ERROR_NOT_SUPPORTED,
                "the socket systemd passed on fd %d is not listening (Accept=yes?); the agent "
                "needs the listening socket itself (Accept=no)",
                fd);
    return -1;
  }
  if (expected_path != NULL) {
    struct sockaddr_un addr;
    socklen_t alen = sizeof(addr);
    memset(&addr, 0, sizeof(addr));
    if (getsockname(fd, (struct sockaddr *)&addr, &alen) != 0) {
      g_set_error(error, G_IO_ERROR, g_io_error_from_errno(errno),
                  "cannot read the address of the socket systemd passed: %s", g_strerror(errno));
      return -1;
    }
    g_autofree char *bound = NULL;
    /* Clients look for expected_path: serving another path would leave
     * them without an agent while this one runs. */
    if (!bound_to(&addr, alen, expected_path, &bound)) {
      g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                  "systemd passed a socket on %s, but the agent is configured for %s "
                  "(--socket or socket= in agent.conf); make them agree",
                  bound, expected_path);
      return -1;
    }
  }
  /* server.c accepts until EAGAIN, which needs a non-blocking socket;
   * systemd passes it blocking unless the unit says NonBlocking=yes. */
  if (!set_fd_flag(fd, F_GETFL, F_SETFL, O_NONBLOCK)) {
    g_set_error(error, G_IO_ERROR, g_io_error_from_errno(errno),
                "cannot set the flags of the socket systemd passed: %s", g_strerror(errno));
    return -1;
  }
  return fd;
}

int activation_listen_fd(const char *expected_path, GError **error)
{
  g_return_val_if_fail(error == NULL || *error == NULL, -1);
  g_autofree char *pid_s = g_strdup(g_getenv("LISTEN_PID"));
  g_autofree char *fds_s = g_strdup(g_getenv("LISTEN_FDS"));
  /* Whatever happens below, the variables were meant for this process
   * (or inherited by mistake): no child may see them. */
  clear_environment();

  guint64 pid = 0;
  if (pid_s == NULL)
    return -1;
  if (!g_ascii_string_to_unsigned(pid_s, 10, 1, G_MAXINT, &pid, NULL)) {
    g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                "LISTEN_PID=%s is not a process id", pid_s);
    return -1;
  }
  /* Inherited from a socket-activated parent (a shell started by one):
   * those sockets are not ours. */
  if ((pid_t)pid != getpid())
    return -1;
  guint64 n = 0;
  if (fds_s == NULL)
    return -1;
  if (!g_ascii_string_to_unsigned(fds_s, 10, 0, G_MAXINT - LISTEN_FDS_START, &n, NULL)) {
    g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                "LISTEN_FDS=%s is not a number of file descriptors", fds_s);
    return -1;
  }
  /* systemd passes the sockets inheritable: none of them may leak into
   * pinentry children, whether or not the agent can use them. A closed
   * fd fails here and is reported by take_fd(); none can be open at or
   * above the fd limit, which bounds the loop for a bogus huge count. */
  long limit = sysconf(_SC_OPEN_MAX);
  for (long fd = LISTEN_FDS_START; fd < LISTEN_FDS_START + (long)n && (limit < 0 || fd < limit);
       fd++)
    (void)set_fd_flag((int)fd, F_GETFD, F_SETFD, FD_CLOEXEC);
  if (n != 1) {
    g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                "systemd passed %u sockets; the agent takes exactly one (one ListenStream= in "
                "tessera-agent.socket)",
                (unsigned)n);
    return -1;
  }
  return take_fd(LISTEN_FDS_START, expected_path, error);
}
