/* tessera CLI — option parsing, connecting and error reporting. */
#include "cli.h"

#include <stdio.h>
#include <string.h>

G_DEFINE_QUARK(tessera-cli-error-quark, cli_error)

void cli_secret_clear(CliSecret *s)
{
  tessera_free_secret(s->data, s->len);
  s->data = NULL;
  s->len = 0;
}

void cli_keys_clear(CliKeys *k)
{
  tessera_keys_free(k->items, k->n);
  k->items = NULL;
  k->n = 0;
}

int cli_usage_error(const char *command, const char *fmt, ...)
{
  va_list ap;
  va_start(ap, fmt);
  g_autofree char *msg = g_strdup_vprintf(fmt, ap);
  va_end(ap);
  g_printerr("tessera %s: %s (see `tessera %s --help`)\n", command, msg, command);
  return CLI_EXIT_USAGE;
}

gboolean cli_parse_options(int *argc, char ***argv, const char *params, const char *summary,
                           const GOptionEntry *entries)
{
  const char *command = (*argv)[0];
  g_autofree char *prgname = g_strconcat("tessera ", command, NULL);
  g_set_prgname(prgname); /* "Usage: tessera sign ..." in --help */
  g_autoptr(GOptionContext) ctx = g_option_context_new(params);
  g_option_context_set_summary(ctx, summary);
  if (entries)
    g_option_context_add_main_entries(ctx, entries, NULL);
  g_autoptr(GError) error = NULL;
  if (!g_option_context_parse(ctx, argc, argv, &error)) {
    cli_usage_error(command, "%s", error->message);
    return FALSE;
  }
  return TRUE;
}

/* Positional arguments beyond the command name must be within [min, max]. */
gboolean cli_check_args(int argc, char **argv, int min, int max)
{
  int n = argc - 1;
  if (n < min) {
    cli_usage_error(argv[0], "missing argument");
    return FALSE;
  }
  if (n > max) {
    cli_usage_error(argv[0], "unexpected argument '%s'", argv[max + 1]);
    return FALSE;
  }
  return TRUE;
}

static int unreachable(const char *path, const char *reason)
{
  g_printerr("tessera: cannot reach tessera-agent at %s: %s — is it running? start it with "
             "`tessera-agent`\n",
             path, reason);
  return CLI_EXIT_UNREACHABLE;
}

int cli_connect(const CliGlobals *g, tessera_client **out)
{
  g_autofree char *path = g->socket_path ? g_strdup(g->socket_path) : NULL;
  if (path == NULL) {
    char *def = tessera_default_socket_path(); /* malloc'd: copy into GLib's heap */
    path = g_strdup(def);
    free(def);
  }
  if (path == NULL) {
    g_printerr("tessera: cannot find tessera-agent: neither TESSERA_SOCKET nor XDG_RUNTIME_DIR "
               "is set; use --socket PATH\n");
    return CLI_EXIT_UNREACHABLE;
  }
  /* The library adds this terminal and display for the PIN dialog. */
  tessera_option opts[2];
  size_t n_opts = 0;
  if (g->no_prompt)
    opts[n_opts++] = (tessera_option){ "PROMPT", "no" };
  if (g->card_timeout)
    opts[n_opts++] = (tessera_option){ "CARD_TIMEOUT", g->card_timeout };
  char *err_msg = NULL;
  int rc = tessera_client_connect_with_options(path, "tessera", opts, n_opts, out, &err_msg);
  g_autofree char *msg = g_strdup(err_msg ? err_msg : "unknown error");
  free(err_msg);
  if (rc == TESSERA_OK)
    return CLI_EXIT_OK;
  if (rc == TESSERA_E_CONNECT || rc == TESSERA_E_IO)
    return unreachable(path, msg);
  g_autoptr(GError) error = g_error_new_literal(CLI_ERROR, rc, msg);
  return cli_report(error);
}

gboolean cli_check(tessera_client *c, int rc, GError **error)
{
  if (rc == TESSERA_OK)
    return TRUE;
  g_set_error_literal(error, CLI_ERROR, rc, tessera_client_last_error(c));
  return FALSE;
}

static const char *hint_for(int code)
{
  switch (code) {
  case TPROTO_ERR_NOT_LOGGED_IN: return "run `tessera login TOKEN`";
  case TPROTO_ERR_NO_SUCH_KEY: return "run `tessera keys`";
  case TPROTO_ERR_NO_SUCH_TOKEN: return "run `tessera tokens`";
  case TPROTO_ERR_AMBIGUOUS: return "use the full key id (see `tessera keys`)";
  case TPROTO_ERR_KEY_USAGE: return "`tessera keys` shows the operations each key allows";
  case TPROTO_ERR_PIN_LOCKED: return "unblock the PIN with the SO PIN (e.g. pkcs11-tool --unlock-pin)";
  case TPROTO_ERR_TOKEN_ABSENT: return "insert the token and try again";
  default: return NULL;
  }
}

void cli_print_hint(const GError *error)
{
  const char *hint = error->domain == CLI_ERROR ? hint_for(error->code) : NULL;
  /* The agent's own message may already name the command to run. */
  if (hint && strstr(error->message, "`tessera ") == NULL)
    g_printerr("hint: %s\n", hint);
}

int cli_report(const GError *error)
{
  if (error->domain == CLI_ERROR && error->code == TESSERA_E_IO) {
    g_printerr("tessera: lost the connection to tessera-agent: %s\n", error->message);
    return CLI_EXIT_UNREACHABLE;
  }
  g_printerr("tessera: %s\n", error->message);
  cli_print_hint(error);
  return CLI_EXIT_FAILED;
}
