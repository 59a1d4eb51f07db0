/* Unit tests: taking over a socket from systemd, activation faked in-process. */
#include "activation.h"

#include <fcntl.h>
#include <gio/gio.h>
#include <glib/gstdio.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

typedef struct {
  char *dir;
  char *path;
} Fixture;

static void fixture_setup(Fixture *f, gconstpointer data)
{
  GError *error = NULL;
  f->dir = g_dir_make_tmp("test-activation-XXXXXX", &error);
  g_assert_no_error(error);
  f->path = g_build_filename(f->dir, "agent.sock", NULL);
  /* What systemd leaves when it starts us: fd 3 free for its socket. */
  g_assert_cmpint(fcntl(3, F_GETFD), ==, -1);
}

static void fixture_teardown(Fixture *f, gconstpointer data)
{
  close(3);
  g_unsetenv("LISTEN_PID");
  g_unsetenv("LISTEN_FDS");
  g_unsetenv("LISTEN_FDNAMES");
  g_unlink(f->path);
  g_rmdir(f->dir);
  g_free(f->path);
  g_free(f->dir);
}

/* Puts fd on target (the lowest free fd may be target itself). */
static void move_fd(int fd, int target)
{
  if (fd == target)
    return;
  g_assert_cmpint(dup2(fd, target), ==, target);
  close(fd);
}

/* A Unix socket of this type bound to path (unless NULL), listening when
 * asked, placed on fd target as systemd would: inheritable, blocking. */
static void place_unix_socket(int target, int type, const char *path, gboolean listening)
{
  int fd = socket(AF_UNIX, type, 0);
  g_assert_cmpint(fd, >=, 0);
  if (path != NULL) {
    struct sockaddr_un addr = { .sun_family = AF_UNIX };
    g_assert_cmpuint(strlen(path), <, sizeof(addr.sun_path));
    memcpy(addr.sun_path, path, strlen(path));
    g_assert_cmpint(bind(fd, (struct sockaddr *)&addr, sizeof(addr)), ==, 0);
  }
  if (listening)
    g_assert_cmpint(listen(fd, 8), ==, 0);
  move_fd(fd, target);
}

static void set_listen_env(pid_t pid, int n)
{
  char buf[32];
  snprintf(buf, sizeof(buf), "%d", (int)pid);
  g_setenv("LISTEN_PID", buf, TRUE);
  snprintf(buf, sizeof(buf), "%d", n);
  g_setenv("LISTEN_FDS", buf, TRUE);
  g_setenv("LISTEN_FDNAMES", "tessera-agent.socket", TRUE);
}

static void assert_environment_cleared(void)
{
  g_assert_null(g_getenv("LISTEN_PID"));
  g_assert_null(g_getenv("LISTEN_FDS"));
  g_assert_null(g_getenv("LISTEN_FDNAMES"));
}

/* Asserts a G_IO_ERROR with this code whose message contains part. */
static void assert_error(GError *error, int code, const char *part)
{
  g_assert_error(error, G_IO_ERROR, code);
  if (strstr(error->message, part) == NULL)
    g_error("message \"%s\" lacks \"%s\"", error->message, part);
}

static void test_activated(Fixture *f, gconstpointer data)
{
  place_unix_socket(3, SOCK_STREAM, f->path, TRUE);
  set_listen_env(getpid(), 1);
  GError *error = NULL;
  int fd = activation_listen_fd(f->path, &error);
  g_assert_no_error(error);
  g_assert_cmpint(fd, ==, 3);
  assert_environment_cleared();
  g_assert_cmpint(fcntl(3, F_GETFD) & FD_CLOEXEC, !=, 0);
  g_assert_cmpint(fcntl(3, F_GETFL) & O_NONBLOCK, !=, 0);
  /* Still the same listening socket: a client gets through. */
  int c = socket(AF_UNIX, SOCK_STREAM, 0);
  struct sockaddr_un addr = { .sun_family = AF_UNIX };
  memcpy(addr.sun_path, f->path, strlen(f->path));
  g_assert_cmpint(connect(c, (struct sockaddr *)&addr, sizeof(addr)), ==, 0);
  int s = accept(3, NULL, NULL);
  g_assert_cmpint(s, >=, 0);
  close(s);
  close(c);
}

static void test_any_path_when_none_expected(Fixture *f, gconstpointer data)
{
  place_unix_socket(3, SOCK_STREAM, f->path, TRUE);
  set_listen_env(getpid(), 1);
  GError *error = NULL;
  int fd = activation_listen_fd(NULL, &error);
  g_assert_no_error(error);
  g_assert_cmpint(fd, ==, 3);
}

/* The same socket named through a symlinked directory is still ours. */
static void test_same_socket_other_spelling(Fixture *f, gconstpointer data)
{
  place_unix_socket(3, SOCK_STREAM, f->path, TRUE);
  g_autofree char *link = g_strconcat(f->dir, "-link", NULL);
  g_assert_cmpint(symlink(f->dir, link), ==, 0);
  g_autofree char *other = g_build_filename(link, "agent.sock", NULL);
  set_listen_env(getpid(), 1);
  GError *error = NULL;
  int fd = activation_listen_fd(other, &error);
  g_unlink(link);
  g_assert_no_error(error);
  g_assert_cmpint(fd, ==, 3);
}

static void test_not_activated(Fixture *f, gconstpointer data)
{
  GError *error = NULL;
  g_assert_cmpint(activation_listen_fd(f->path, &error), ==, -1);
  g_assert_no_error(error);
}

/* Variables inherited from a socket-activated parent: not for us, and
 * not passed on either. */
static void test_other_process(Fixture *f, gconstpointer data)
{
  place_unix_socket(3, SOCK_STREAM, f->path, TRUE);
  set_listen_env(getppid(), 1);
  GError *error = NULL;
  g_assert_cmpint(activation_listen_fd(f->path, &error), ==, -1);
  g_assert_no_error(error);
  assert_environment_cleared();
  /* The fd is left alone: it is not ours to change. */
  g_assert_cmpint(fcntl(3, F_GETFD) & FD_CLOEXEC, ==, 0);
}

static void test_datagram(Fixture *f, gconstpointer data)
{
  place_unix_socket(3, SOCK_DGRAM, f->path, FALSE);
  set_listen_env(getpid(), 1);
  GError *error = NULL;
  g_assert_cmpint(activation_listen_fd(f->path, &error), ==, -1);
  assert_error(error, G_IO_ERROR_NOT_SUPPORTED, "datagram");
  g_error_free(error);
  assert_environment_cleared();
  g_assert_cmpint(fcntl(3, F_GETFD) & FD_CLOEXEC, !=, 0);
}

static void test_two_fds(Fixture *f, gconstpointer data)
{
  g_assert_cmpint(fcntl(4, F_GETFD), ==, -1);
  place_unix_socket(3, SOCK_STREAM, f->path, TRUE);
  g_autofree char *second = g_build_filename(f->dir, "second.sock", NULL);
  place_unix_socket(4, SOCK_STREAM, second, TRUE);
  set_listen_env(getpid(), 2);
  GError *error = NULL;
  g_assert_cmpint(activation_listen_fd(f->path, &error), ==, -1);
  assert_error(error, G_IO_ERROR_INVALID_ARGUMENT, "passed 2 sockets");
  g_error_free(error);
  assert_environment_cleared();
  /* Neither leaks into children while the agent reports the error. */
  g_assert_cmpint(fcntl(3, F_GETFD) & FD_CLOEXEC, !=, 0);
  g_assert_cmpint(fcntl(4, F_GETFD) & FD_CLOEXEC, !=, 0);
  close(4);
  g_unlink(second);
}

static void test_not_listening(Fixture *f, gconstpointer data)
{
  place_unix_socket(3, SOCK_STREAM, f->path, FALSE);
  set_listen_env(getpid(), 1);
  GError *error = NULL;
  g_assert_cmpint(activation_listen_fd(f->path, &error), ==, -1);
  assert_error(error, G_IO_ERROR_NOT_SUPPORTED, "not listening");
  g_error_free(error);
}

static void test_wrong_path(Fixture *f, gconstpointer data)
{
  place_unix_socket(3, SOCK_STREAM, f->path, TRUE);
  set_listen_env(getpid(), 1);
  g_autofree char *expected = g_build_filename(f->dir, "other.sock", NULL);
  GError *error = NULL;
  g_assert_cmpint(activation_listen_fd(expected, &error), ==, -1);
  assert_error(error, G_IO_ERROR_INVALID_ARGUMENT, f->path);
  g_assert_nonnull(strstr(error->message, expected));
  g_error_free(error);
}

static void test_not_a_socket(Fixture *f, gconstpointer data)
{
  int p[2];
  g_assert_cmpint(pipe(p), ==, 0);
  close(p[1]);
  move_fd(p[0], 3);
  set_listen_env(getpid(), 1);
  GError *error = NULL;
  g_assert_cmpint(activation_listen_fd(f->path, &error), ==, -1);
  assert_error(error, G_IO_ERROR_INVALID_ARGUMENT, "not a socket");
  g_error_free(error);
}

static void test_fd_not_open(Fixture *f, gconstpointer data)
{
  set_listen_env(getpid(), 1);
  GError *error = NULL;
  g_assert_cmpint(activation_listen_fd(f->path, &error), ==, -1);
  assert_error(error, G_IO_ERROR_INVALID_ARGUMENT, "not open");
  g_error_free(error);
}

static void test_inet_socket(Fixture *f, gconstpointer data)
{
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  g_assert_cmpint(fd, >=, 0);
  struct sockaddr_in addr = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
  g_assert_cmpint(bind(fd, (struct sockaddr *)&addr, sizeof(addr)), ==, 0);
  g_assert_cmpint(listen(fd, 1), ==, 0);
  move_fd(fd, 3);
  set_listen_env(getpid(), 1);
  GError *error = NULL;
  g_assert_cmpint(activation_listen_fd(f->path, &error), ==, -1);
  assert_error(error, G_IO_ERROR_NOT_SUPPORTED, "Unix socket only");
  g_error_free(error);
}

static void test_garbage_values(Fixture *f, gconstpointer data)
{
  GError *error = NULL;
  g_setenv("LISTEN_PID", "12ab", TRUE);
  g_setenv("LISTEN_FDS", "1", TRUE);
  g_assert_cmpint(activation_listen_fd(f->path, &error), ==, -1);
  assert_error(error, G_IO_ERROR_INVALID_ARGUMENT, "LISTEN_PID=12ab");
  g_clear_error(&error);
  assert_environment_cleared();

  set_listen_env(getpid(), 1);
  g_setenv("LISTEN_FDS", "-1", TRUE);
  g_assert_cmpint(activation_listen_fd(f->path, &error), ==, -1);
  assert_error(error, G_IO_ERROR_INVALID_ARGUMENT, "LISTEN_FDS=-1");
  g_clear_error(&error);

  set_listen_env(getpid(), 0);
  g_assert_cmpint(activation_listen_fd(f->path, &error), ==, -1);
  assert_error(error, G_IO_ERROR_INVALID_ARGUMENT, "passed 0 sockets");
  g_clear_error(&error);
}

int main(int argc, char **argv)
{
  g_test_init(&argc, &argv, NULL);
#define ADD(name, fn) g_test_add(name, Fixture, NULL, fixture_setup, fn, fixture_teardown)
  ADD("/activation/activated", test_activated);
  ADD("/activation/any-path", test_any_path_when_none_expected);
  ADD("/activation/same-socket-other-spelling", test_same_socket_other_spelling);
  ADD("/activation/not-activated", test_not_activated);
  ADD("/activation/other-process", test_other_process);
  ADD("/activation/datagram", test_datagram);
  ADD("/activation/two-fds", test_two_fds);
  ADD("/activation/not-listening", test_not_listening);
  ADD("/activation/wrong-path", test_wrong_path);
  ADD("/activation/not-a-socket", test_not_a_socket);
  ADD("/activation/fd-not-open", test_fd_not_open);
  ADD("/activation/inet-socket", test_inet_socket);
  ADD("/activation/garbage-values", test_garbage_values);
#undef ADD
  return g_test_run();
}
