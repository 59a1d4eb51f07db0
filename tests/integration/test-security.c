/* The agent's local security: socket and directory modes, one agent per
 * socket, stale sockets, peers of another uid, and process hardening.
 * Needs root (to run an agent as uid 65534 with setpriv). */
#include "harness.h"

#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#define NOBODY 65534

static void assert_mode(const char *path, mode_t type, mode_t perms)
{
  struct stat st;
  if (lstat(path, &st) != 0)
    g_error("%s: %s", path, g_strerror(errno));
  g_assert_cmpuint(st.st_mode & S_IFMT, ==, type);
  g_assert_cmpuint(st.st_mode & 07777, ==, perms);
  g_assert_cmpuint(st.st_uid, ==, geteuid());
}

static void assert_serves(const TestAgent *agent)
{
  g_autoptr(tessera_client) c = test_connect(agent);
  tessera_status st = { 0 };
  test_assert_rc(c, tessera_status_get(c, &st), TESSERA_OK);
  g_assert_cmpuint(st.pid, ==, (uint32_t)agent->pid);
  g_assert_cmpuint(st.n_tokens, ==, 2);
  tessera_status_clear(&st);
  test_login(c, TEST_TOKEN_1);
  test_sign_and_verify(c, "p256", TPROTO_MECH_ECDSA, TPROTO_HASH_SHA256);
}

static void test_socket_modes(void)
{
  g_autofree char *base = harness_mkdtemp("modes");
  g_autofree char *dir = g_build_filename(base, "sub", NULL);
  g_autofree char *path = g_build_filename(dir, "agent.sock", NULL);
  const TestAgentOptions o = { .socket_path = path };
  TestAgent *agent = test_agent_start_full(&o);
  assert_mode(dir, S_IFDIR, 0700);
  assert_mode(path, S_IFSOCK, 0600);
  assert_serves(agent);
  test_agent_stop(agent);
}

static void test_default_path(void)
{
  g_autofree char *runtime = harness_mkdtemp("runtime");
  g_assert_cmpint(chmod(runtime, 0700), ==, 0);
  const TestAgentOptions o = { .default_socket = TRUE, .xdg_runtime_dir = runtime };
  TestAgent *agent = test_agent_start_full(&o);
  g_autofree char *dir = g_build_filename(runtime, "tessera", NULL);
  assert_mode(dir, S_IFDIR, 0700);
  assert_mode(agent->socket_path, S_IFSOCK, 0600);
  /* Clients find it the same way. */
  g_setenv("XDG_RUNTIME_DIR", runtime, TRUE);
  g_unsetenv("TESSERA_SOCKET");
  g_autofree char *client_path = tessera_default_socket_path();
  g_assert_cmpstr(client_path, ==, agent->socket_path);
  assert_serves(agent);
  test_agent_stop(agent);
}

static void test_second_agent(void)
{
  TestAgent *first = test_agent_start();
  const TestAgentOptions o = { 0 };
  GPid second = test_agent_spawn(&o, first->socket_path);
  int status = test_wait_pid(second, 10000);
  if (status == -1) {
    kill(second, SIGKILL);
    test_wait_pid(second, 10000);
    g_error("a second agent on a live socket kept running");
  }
  g_assert_true(WIFEXITED(status));
  g_assert_cmpint(WEXITSTATUS(status), !=, 0);
  /* The first one still owns the socket and serves. */
  g_assert_true(g_file_test(first->socket_path, G_FILE_TEST_EXISTS));
  assert_serves(first);
  test_agent_stop(first);
}

static void test_stale_socket(void)
{
  g_autofree char *dir = harness_mkdtemp("stale");
  g_autofree char *path = g_build_filename(dir, "agent.sock", NULL);
  /* A socket file nobody listens on, as a crashed agent leaves it. */
  int fd = socket(AF_UNIX, SOCK_STREAM, 0);
  struct sockaddr_un sa = { .sun_family = AF_UNIX };
  g_strlcpy(sa.sun_path, path, sizeof(sa.sun_path));
  g_assert_cmpint(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), ==, 0);
  close(fd);
  struct stat st;
  g_assert_cmpint(lstat(path, &st), ==, 0);
  g_assert_true(S_ISSOCK(st.st_mode));
  g_assert_cmpint(test_socket_connect(path), ==, -1);

  const TestAgentOptions o = { .socket_path = path };
  TestAgent *agent = test_agent_start_full(&o);
  assert_mode(path, S_IFSOCK, 0600);
  assert_serves(agent);
  test_agent_stop(agent);
}

static char *read_proc(GPid pid, const char *what)
{
  g_autofree char *path = g_strdup_printf("/proc/%d/%s", (int)pid, what);
  char *text = NULL;
  g_autoptr(GError) error = NULL;
  if (!g_file_get_contents(path, &text, NULL, &error))
    g_error("%s", error->message);
  return text;
}

/* "Max core file size        0                    0                    bytes" */
static void assert_no_core_dumps(GPid pid)
{
  g_autofree char *limits = read_proc(pid, "limits");
  const char *line = strstr(limits, "Max core file size");
  g_assert_nonnull(line);
  g_auto(GStrv) fields = g_strsplit_set(line + strlen("Max core file size"), " \n", -1);
  const char *values[2] = { NULL, NULL };
  for (int i = 0, n = 0; fields[i] && n < 2; i++)
    if (*fields[i])
      values[n++] = fields[i];
  g_assert_cmpstr(values[0], ==, "0");
  g_assert_cmpstr(values[1], ==, "0");
}

static void test_hardening(void)
{
  TestAgent *agent = test_agent_start();
  assert_no_core_dumps(agent->pid);
  test_agent_stop(agent);
}

static int run_as_nobody(const char *const *argv)
{
  const char *prefix[] = { "setpriv", "--reuid=65534", "--regid=65534", "--clear-groups" };
  g_autoptr(GPtrArray) full = g_ptr_array_new();
  for (size_t i = 0; i < G_N_ELEMENTS(prefix); i++)
    g_ptr_array_add(full, (char *)prefix[i]);
  for (const char *const *a = argv; *a; a++)
    g_ptr_array_add(full, (char *)*a);
  g_ptr_array_add(full, NULL);
  int status = 0;
  g_autoptr(GError) error = NULL;
  g_autofree char *out = NULL, *err = NULL;
  if (!g_spawn_sync(NULL, (char **)full->pdata, NULL, G_SPAWN_SEARCH_PATH, NULL, NULL, &out, &err,
                    &status, &error))
    g_error("setpriv: %s", error->message);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
    g_test_message("as uid %d: %s%s", NOBODY, out, err);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* A copy of file as dir/name that uid 65534 can read and run. */
static char *copy_for_nobody(const char *file, const char *dir, const char *name)
{
  g_autofree char *contents = NULL;
  gsize len = 0;
  g_autoptr(GError) error = NULL;
  g_file_get_contents(file, &contents, &len, &error);
  g_assert_no_error(error);
  char *path = g_build_filename(dir, name, NULL);
  g_file_set_contents_full(path, contents, (gssize)len, G_FILE_SET_CONTENTS_NONE, 0755, &error);
  g_assert_no_error(error);
  g_assert_cmpint(chmod(path, 0755), ==, 0);
  return path;
}

static void test_other_uid(void)
{
  if (geteuid() != 0) {
    g_test_skip("needs root to run an agent as another uid");
    return;
  }
  /* Outside the (root-only) harness dir, so uid 65534 can reach it. */
  g_autoptr(GError) error = NULL;
  g_autofree char *dir = g_dir_make_tmp("tessera-nobody-XXXXXX", &error);
  g_assert_no_error(error);
  g_assert_cmpint(chown(dir, NOBODY, NOBODY), ==, 0);
  g_autofree char *path = g_build_filename(dir, "agent.sock", NULL);
  const char *prefix[] = { "setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", NULL };
  const TestAgentOptions o = {
    .socket_path = path, .no_modules = TRUE, .prefix = prefix, .config_home = dir,
  };
  TestAgent *agent = test_agent_start_full(&o);

  g_autofree char *status = read_proc(agent->pid, "status");
  g_assert_nonnull(strstr(status, "\nUid:\t65534\t65534\t65534\t65534\n"));

  /* Root is another uid: no HELLO reply, an error or a closed connection. */
  tessera_client *c = NULL;
  g_autofree char *msg = NULL;
  int rc = tessera_client_connect(path, "intruder", &c, &msg);
  g_test_message("connect as root: %d %s", rc, msg ? msg : "");
  g_assert_null(c);
  g_assert_true(rc > 0 || rc == TESSERA_E_IO || rc == TESSERA_E_PROTOCOL);
  g_assert_cmpint(rc, !=, TESSERA_E_CONNECT);

  /* Same with a request sent at once without waiting for HELLO's reply:
   * nothing but an R_ERROR may come back. */
  int fd = test_socket_connect(path);
  g_assert_cmpint(fd, >=, 0);
  static const guint8 status_req[] = { 0, 0, 0, 5, TPROTO_STATUS, 0, 0, 0, 1 };
  (void)!send(fd, status_req, sizeof(status_req), MSG_NOSIGNAL);
  guint8 reply[16];
  struct timeval tv = { .tv_sec = 10 };
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  ssize_t n = recv(fd, reply, sizeof(reply), MSG_WAITALL);
  if (n >= 5)
    g_assert_cmpuint(reply[4], ==, TPROTO_R_ERROR);
  else
    g_assert_cmpint(n, <=, 0);
  close(fd);

  /* Its own uid is served: the refusal above is about the uid. The CLI
   * and its library are copied beside the socket: the source tree may be
   * in a directory only root can read, and the library is found through
   * $ORIGIN. */
  const char *built_cli = g_getenv("TESSERA_CLI");
  if (built_cli != NULL) {
    g_autofree char *cli_path = copy_for_nobody(built_cli, dir, "tessera");
    g_autofree char *built_dir = g_path_get_dirname(built_cli);
    g_autofree char *built_lib = g_build_filename(built_dir, "libtessera-client.so.0", NULL);
    g_autofree char *lib_path = copy_for_nobody(built_lib, dir, "libtessera-client.so.0");
    const char *cli[] = { cli_path, "--socket", path, "status", NULL };
    g_assert_cmpint(run_as_nobody(cli), ==, 0);
    g_assert_cmpint(unlink(cli_path), ==, 0);
    g_assert_cmpint(unlink(lib_path), ==, 0);
  }

  /* PR_SET_DUMPABLE 0: the files in /proc/PID belong to root, not to the agent's
   * uid, so other processes of that uid cannot read its memory. */
  g_autofree char *environ_path = g_strdup_printf("/proc/%d/environ", (int)agent->pid);
  struct stat st;
  g_assert_cmpint(stat(environ_path, &st), ==, 0);
  g_assert_cmpuint(st.st_uid, ==, 0);
  const char *cat[] = { "cat", environ_path, NULL };
  g_assert_cmpint(run_as_nobody(cat), !=, 0);
  assert_no_core_dumps(agent->pid);

  test_agent_stop(agent);
  g_assert_cmpint(rmdir(dir), ==, 0);
}

int main(int argc, char **argv)
{
  harness_init(&argc, &argv);
  g_test_add_func("/security/socket-modes", test_socket_modes);
  g_test_add_func("/security/default-path", test_default_path);
  g_test_add_func("/security/second-agent", test_second_agent);
  g_test_add_func("/security/stale-socket", test_stale_socket);
  g_test_add_func("/security/hardening", test_hardening);
  g_test_add_func("/security/other-uid", test_other_uid);
  return harness_run();
}
