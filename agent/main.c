/* tessera-agent — entry point: options, hardening, main loop, shutdown. */
#include "config.h"
#include "connection.h"
#include "events.h"
#include "expiry.h"
#include "hotplug.h"
#include "modules.h"
#include "requests.h"
#include "server.h"

#include <fcntl.h>
#include <glib-unix.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <unistd.h>

/* No core dumps, no ptrace by other processes of this user: the agent's
 * memory holds PINs and session state. */
static void harden_process(void)
{
  struct rlimit none = { 0, 0 };
  if (setrlimit(RLIMIT_CORE, &none) != 0)
    g_warning("cannot disable core dumps: %s", g_strerror(errno));
  if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0)
    g_warning("cannot make the agent non-dumpable: %s", g_strerror(errno));
}

static gboolean on_signal(gpointer loop)
{
  g_message("shutting down");
  g_main_loop_quit(loop);
  return G_SOURCE_CONTINUE;
}

static GLogWriterOutput write_log(GLogLevelFlags level, const GLogField *fields, gsize n,
                                  gpointer data)
{
  /* In the background stderr goes nowhere: prefer the journal. */
  if (g_log_writer_journald(level, fields, n, data) == G_LOG_WRITER_HANDLED)
    return G_LOG_WRITER_HANDLED;
  return g_log_writer_default(level, fields, n, data);
}

/* Like ssh-agent: the parent prints how to reach the child and exits. */
static gboolean daemonize(const char *socket_path)
{
  fflush(NULL);
  pid_t pid = fork();
  if (pid < 0) {
    g_printerr("tessera-agent: fork: %s\n", g_strerror(errno));
    return FALSE;
  }
  if (pid > 0) {
    g_autofree char *quoted = g_shell_quote(socket_path);
    printf("TESSERA_SOCKET=%s; export TESSERA_SOCKET;\necho Agent pid %d;\n", quoted, (int)pid);
    fflush(stdout);
    _exit(0);
  }
  setsid();
  int null = open("/dev/null", O_RDWR | O_CLOEXEC);
  if (null >= 0) {
    dup2(null, 0);
    dup2(null, 1);
    dup2(null, 2);
    if (null > 2)
      close(null);
  }
  g_log_set_writer_func(write_log, NULL, NULL);
  return TRUE;
}

typedef struct {
  TesseraConfig cfg;
  char *config_path;
  gboolean no_p11_kit;
  gboolean version;
} Options;

static void options_clear(Options *o)
{
  config_clear(&o->cfg);
  g_clear_pointer(&o->config_path, g_free);
}
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(Options, options_clear)

static gboolean parse_options(int *argc, char ***argv, Options *o, GError **error)
{
  const GOptionEntry entries[] = {
    { "socket", 's', 0, G_OPTION_ARG_FILENAME, &o->cfg.socket_path,
      "Listen on PATH (default $XDG_RUNTIME_DIR/tessera/agent.sock)", "PATH" },
    { "module", 'm', 0, G_OPTION_ARG_FILENAME_ARRAY, &o->cfg.modules,
      "Also load this PKCS#11 module (repeatable)", "PATH" },
    { "no-p11-kit", 0, 0, G_OPTION_ARG_NONE, &o->no_p11_kit,
      "Do not load the modules registered with p11-kit", NULL },
    { "pinentry", 'p', 0, G_OPTION_ARG_FILENAME, &o->cfg.pinentry_program,
      "Ask for PINs with this pinentry program (default: pinentry-program from the config, "
      "else pinentry)",
      "PATH" },
    { "config", 'c', 0, G_OPTION_ARG_FILENAME, &o->config_path,
      "Read settings from FILE (default $XDG_CONFIG_HOME/tessera/agent.conf)", "FILE" },
    { "foreground", 'f', 0, G_OPTION_ARG_NONE, &o->cfg.foreground,
      "Stay in the foreground, log to stderr", NULL },
    { "debug", 'd', 0, G_OPTION_ARG_NONE, &o->cfg.debug, "Log debug messages (never PINs)",
      NULL },
    { "version", 'V', 0, G_OPTION_ARG_NONE, &o->version, "Print the version and exit", NULL },
    G_OPTION_ENTRY_NULL,
  };
  g_autoptr(GOptionContext) ctx = g_option_context_new("- Tessera smart-card signing agent");
  g_option_context_set_description(
      ctx, "Serves private-key operations of PKCS#11 tokens to the user's programs over a Unix "
           "socket.\nClients find it through TESSERA_SOCKET or the default path.");
  g_option_context_add_main_entries(ctx, entries, NULL);
  if (!g_option_context_parse(ctx, argc, argv, error))
    return FALSE;
  if (*argc > 1) {
    g_set_error(error, G_OPTION_ERROR, G_OPTION_ERROR_FAILED, "unexpected argument '%s'",
                (*argv)[1]);
    return FALSE;
  }
  o->cfg.use_p11_kit = !o->no_p11_kit;
  return TRUE;
}

int main(int argc, char **argv)
{
  harden_process();
  /* Every log line to stderr: stdout is for the shell lines of daemonize. */
  g_log_writer_default_set_use_stderr(TRUE);
  g_auto(Options) o = { 0 };
  config_init(&o.cfg);
  g_autoptr(GError) error = NULL;
  if (!parse_options(&argc, &argv, &o, &error)) {
    g_printerr("tessera-agent: %s\nTry 'tessera-agent --help'.\n", error->message);
    return 2;
  }
  if (o.version) {
    printf("tessera-agent %s\n", TESSERA_VERSION);
    return 0;
  }
  if (!config_load(&o.cfg, o.config_path, &error)) {
    g_printerr("tessera-agent: %s\n", error->message);
    return 1;
  }
  config_set_active(&o.cfg);
  if (o.cfg.debug)
    g_log_set_debug_enabled(TRUE);
  if (o.cfg.socket_path == NULL && (o.cfg.socket_path = server_default_socket_path(&error)) == NULL) {
    g_printerr("tessera-agent: %s\n", error->message);
    return 1;
  }
  if (!server_listen(o.cfg.socket_path, &error)) {
    g_printerr("tessera-agent: %s\n", error->message);
    return 1;
  }
  /* Fork before any module starts threads of its own. */
  /* Under systemd the service is the foreground process. */
  if (!o.cfg.foreground && !server_socket_activated() && !daemonize(o.cfg.socket_path)) {
    server_stop();
    return 1;
  }

  g_autoptr(GMainLoop) loop = g_main_loop_new(NULL, FALSE);
  g_unix_signal_add(SIGTERM, on_signal, loop);
  g_unix_signal_add(SIGINT, on_signal, loop);
  g_unix_signal_add(SIGHUP, on_signal, loop);

  modules_load(o.cfg.use_p11_kit, o.cfg.modules);
  hotplug_start();
  requests_init();
  server_start();
  g_message("tessera-agent %s listening on %s%s", TESSERA_VERSION, o.cfg.socket_path,
            server_socket_activated() ? " (socket from systemd)" : "");
  g_main_loop_run(loop);

  server_stop();
  expiry_stop();
  hotplug_stop();
  events_clear();
  tessera_conn_close_all();
  modules_unload();
  /* Replies of jobs that finished during shutdown are still queued. */
  while (g_main_context_iteration(NULL, FALSE))
    ;
  return 0;
}
