/* bench-sign — the cheapest possible agent: two processes bouncing one
 * byte over a Unix socket pair. No design with a socket between client and
 * token can beat this round trip on the machine at hand. */
#include "socket-floor.h"

#include "bench-error.h"

#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

static void echo_until_eof(int fd)
{
  char byte;
  while (read(fd, &byte, 1) == 1)
    if (write(fd, &byte, 1) != 1)
      break;
  _exit(0);
}

static gboolean bounce(int fd, guint n)
{
  char byte = 'x';
  for (guint i = 0; i < n; i++)
    if (write(fd, &byte, 1) != 1 || read(fd, &byte, 1) != 1)
      return FALSE;
  return TRUE;
}

gboolean bench_socket_floor(guint n, double *us_per_round_trip, GError **error)
{
  int sv[2];
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) {
    g_set_error(error, BENCH_ERROR, 0, "socketpair: %s", g_strerror(errno));
    return FALSE;
  }
  pid_t pid = fork();
  if (pid < 0) {
    g_set_error(error, BENCH_ERROR, 0, "fork: %s", g_strerror(errno));
    close(sv[0]);
    close(sv[1]);
    return FALSE;
  }
  if (pid == 0) {
    close(sv[0]);
    echo_until_eof(sv[1]);
  }
  close(sv[1]);
  gboolean ok = bounce(sv[0], MAX(n / 10, 10));
  gint64 start = g_get_monotonic_time();
  ok = ok && bounce(sv[0], n);
  *us_per_round_trip = (double)(g_get_monotonic_time() - start) / n;
  close(sv[0]);
  waitpid(pid, NULL, 0);
  if (!ok)
    g_set_error(error, BENCH_ERROR, 0, "the echo process stopped answering");
  return ok;
}
