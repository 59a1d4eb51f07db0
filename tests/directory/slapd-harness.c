/* The slapd harness: write slapd.conf, slapadd the entries offline, start
 * slapd in the foreground (-d 0) so its pid is ours to kill. */
#include "slapd-harness.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <glib/gstdio.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#define PORT_FIRST 36400
#define PORT_COUNT 100
#define START_TIMEOUT_US (10 * G_USEC_PER_SEC)

static const char *env_or(const char *name, const char *fallback) {
  const char *value = g_getenv(name);
  return value && *value ? value : fallback;
}

static int bound_socket(guint port) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0)
    return -1;
  struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (bind(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

int slapd_reserve_port(gboolean listen_too, guint *port) {
  guint start = (guint)g_random_int_range(0, PORT_COUNT);
  for (guint i = 0; i < PORT_COUNT; i++) {
    guint p = PORT_FIRST + (start + i) % PORT_COUNT;
    int fd = bound_socket(p);
    if (fd < 0)
      continue;
    if (listen_too && listen(fd, 8) != 0) {
      close(fd);
      continue;
    }
    *port = p;
    return fd;
  }
  return -1;
}

static gboolean port_accepts(guint port) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0)
    return FALSE;
  struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  gboolean ok = connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0;
  close(fd);
  return ok;
}

static char *write_config(const char *dir) {
  const char *schema = env_or("LDAP_SCHEMA_DIR", "/etc/ldap/schema");
  g_autofree char *conf = g_strdup_printf(
      "include %s/core.schema\n"
      "include %s/cosine.schema\n"
      "include %s/inetorgperson.schema\n"
      "modulepath %s\n"
      "moduleload back_mdb\n"
      "pidfile %s/slapd.pid\n"
      "database mdb\n"
      "maxsize 16777216\n"
      "suffix \"" SLAPD_SUFFIX "\"\n"
      "rootdn \"cn=admin," SLAPD_SUFFIX "\"\n"
      "directory %s/db\n"
      "access to * by * read\n",
      schema, schema, schema, env_or("SLAPD_MODULE_DIR", "/usr/lib/ldap"), dir, dir);
  char *path = g_build_filename(dir, "slapd.conf", NULL);
  if (!g_file_set_contents(path, conf, -1, NULL))
    g_clear_pointer(&path, g_free);
  return path;
}

static gboolean run_slapadd(const char *conf, const char *ldif_path, GError **error) {
  const char *argv[] = {env_or("SLAPADD", "/usr/sbin/slapadd"), "-f", conf, "-l", ldif_path, NULL};
  g_autofree char *err = NULL;
  int status = 0;
  if (!g_spawn_sync(NULL, (char **)argv, NULL, G_SPAWN_STDOUT_TO_DEV_NULL, NULL, NULL, NULL, &err,
                    &status, error))
    return FALSE;
  if (!g_spawn_check_wait_status(status, error)) {
    g_prefix_error(error, "slapadd: %s: ", err ? err : "");
    return FALSE;
  }
  return TRUE;
}

/* Runs in the child: slapd goes when the test does, however it ends. */
static void die_with_parent(gpointer data) {
  prctl(PR_SET_PDEATHSIG, SIGKILL);
}

static gboolean spawn_slapd(Slapd *s, const char *conf, guint port, GError **error) {
  g_autofree char *listen = g_strdup_printf("ldap://127.0.0.1:%u/", port);
  const char *argv[] = {env_or("SLAPD", "/usr/sbin/slapd"), "-f", conf, "-h", listen, "-d", "0",
                        NULL};
  g_autofree char *log = g_build_filename(s->dir, "slapd.log", NULL);
  int log_fd = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
  if (log_fd < 0) {
    g_set_error(error, G_FILE_ERROR, g_file_error_from_errno(errno), "%s: %s", log,
                g_strerror(errno));
    return FALSE;
  }
  gboolean ok = g_spawn_async_with_fds(NULL, (char **)argv, NULL, G_SPAWN_DO_NOT_REAP_CHILD,
                                       die_with_parent, NULL, &s->pid, -1, log_fd, log_fd, error);
  close(log_fd);
  return ok;
}

/* TRUE once slapd accepts connections; FALSE when it exited (the port was
 * taken after all) or took too long. */
static gboolean wait_ready(Slapd *s, guint port) {
  gint64 deadline = g_get_monotonic_time() + START_TIMEOUT_US;
  while (g_get_monotonic_time() < deadline) {
    int status = 0;
    if (waitpid(s->pid, &status, WNOHANG) == s->pid) {
      g_spawn_close_pid(s->pid);
      s->pid = 0;
      return FALSE;
    }
    if (port_accepts(port))
      return TRUE;
    g_usleep(50 * 1000);
  }
  return FALSE;
}

char *test_make_dir(const char *parent, const char *prefix) {
  g_autofree char *name = g_strconcat(prefix, "-XXXXXX", NULL);
  char *path = g_build_filename(parent, name, NULL);
  if (!g_mkdtemp_full(path, 0700))
    g_clear_pointer(&path, g_free);
  return path;
}

gboolean slapd_start(Slapd *s, const char *parent, const char *ldif, GError **error) {
  *s = (Slapd){0};
  s->dir = test_make_dir(parent, "slapd");
  if (!s->dir) {
    g_set_error(error, G_FILE_ERROR, g_file_error_from_errno(errno), "mkdtemp in %s: %s", parent,
                g_strerror(errno));
    return FALSE;
  }
  g_autofree char *db = g_build_filename(s->dir, "db", NULL);
  g_autofree char *ldif_path = g_build_filename(s->dir, "data.ldif", NULL);
  g_autofree char *conf = write_config(s->dir);
  if (!conf || g_mkdir(db, 0700) != 0 || !g_file_set_contents(ldif_path, ldif, -1, error) ||
      !run_slapadd(conf, ldif_path, error)) {
    if (error && !*error)
      g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_FAILED, "cannot set up %s", s->dir);
    return FALSE;
  }

  for (int attempt = 0; attempt < 10; attempt++) {
    guint port = 0;
    int fd = slapd_reserve_port(FALSE, &port);
    if (fd < 0)
      break;
    close(fd); /* free a moment ago; slapd exits if someone took it since */
    if (!spawn_slapd(s, conf, port, error))
      return FALSE;
    if (wait_ready(s, port)) {
      s->port = port;
      s->uri = g_strdup_printf("ldap://127.0.0.1:%u", port);
      return TRUE;
    }
    if (s->pid) { /* alive but not listening: give up on it */
      kill(s->pid, SIGKILL);
      waitpid(s->pid, NULL, 0);
      g_spawn_close_pid(s->pid);
      s->pid = 0;
    }
  }
  g_autofree char *log = g_build_filename(s->dir, "slapd.log", NULL);
  g_autofree char *text = NULL;
  g_file_get_contents(log, &text, NULL, NULL);
  g_set_error(error, G_SPAWN_ERROR, G_SPAWN_ERROR_FAILED, "slapd did not start on any port: %s",
              text ? text : "");
  return FALSE;
}

void test_remove_tree(const char *path) {
  g_autoptr(GDir) dir = g_dir_open(path, 0, NULL);
  const char *name;
  while (dir && (name = g_dir_read_name(dir))) {
    g_autofree char *child = g_build_filename(path, name, NULL);
    if (g_file_test(child, G_FILE_TEST_IS_DIR) && !g_file_test(child, G_FILE_TEST_IS_SYMLINK))
      test_remove_tree(child);
    else
      g_unlink(child);
  }
  g_rmdir(path);
}

void slapd_stop(Slapd *s) {
  if (s->pid) {
    kill(s->pid, SIGTERM);
    gint64 deadline = g_get_monotonic_time() + 5 * G_USEC_PER_SEC;
    while (waitpid(s->pid, NULL, WNOHANG) == 0) {
      if (g_get_monotonic_time() > deadline) {
        kill(s->pid, SIGKILL);
        waitpid(s->pid, NULL, 0);
        break;
      }
      g_usleep(20 * 1000);
    }
    g_spawn_close_pid(s->pid);
  }
  if (s->dir)
    test_remove_tree(s->dir);
  g_free(s->dir);
  g_free(s->uri);
  *s = (Slapd){0};
}
