/* tessera CLI — login and logout. The PIN never comes from argv: the
 * process list would show it. */
#include "cli.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* Reads the PIN line and logs in; the PIN is wiped before returning. */
static gboolean login_with_pin_from(tessera_client *c, const char *token, int fd, GError **error)
{
  char pin[TPROTO_MAX_PIN + 1];
  size_t len = 0;
  gboolean ok = cli_read_pin_line(fd, pin, &len, error);
  if (ok && len == 0) {
    g_set_error(error, CLI_ERROR, CLI_ERROR_LOCAL, "the PIN is empty");
    ok = FALSE;
  }
  if (ok)
    ok = cli_check(c, tessera_login(c, token, pin, len), error);
  explicit_bzero(pin, sizeof(pin));
  return ok;
}

int cmd_login(const CliGlobals *g, int argc, char **argv)
{
  gboolean pin_stdin = FALSE;
  int pin_fd = -1;
  const GOptionEntry entries[] = {
    { "pin-stdin", 0, 0, G_OPTION_ARG_NONE, &pin_stdin, "read the PIN from the first line of stdin",
      NULL },
    { "pin-fd", 0, 0, G_OPTION_ARG_INT, &pin_fd, "read the PIN from the first line of fd N", "N" },
    G_OPTION_ENTRY_NULL
  };
  if (!cli_parse_options(&argc, &argv, "TOKEN",
                         "Log in to TOKEN (URI, label or serial). Without --pin-stdin or "
                         "--pin-fd the agent asks for the PIN in its PIN dialog (or on the "
                         "reader's keypad). Every client of the agent can then use the token's "
                         "keys until the login ends (`tessera logout`, `tessera lock`, idle or "
                         "maximum time).",
                         entries) ||
      !cli_check_args(argc, argv, 1, 1))
    return CLI_EXIT_USAGE;
  if (pin_stdin && pin_fd >= 0)
    return cli_usage_error(argv[0], "use either --pin-stdin or --pin-fd, not both");
  g_autoptr(tessera_client) c = NULL;
  int exit_code = cli_connect(g, &c);
  if (exit_code != CLI_EXIT_OK)
    return exit_code;
  g_autoptr(GError) error = NULL;
  gboolean prompt = !pin_stdin && pin_fd < 0;
  gboolean ok = prompt ? cli_check(c, tessera_login_prompt(c, argv[1]), &error)
                       : login_with_pin_from(c, argv[1], pin_stdin ? STDIN_FILENO : pin_fd,
                                             &error);
  /* Asked to make sure the token is logged in, and it is. */
  if (!ok && prompt && g_error_matches(error, CLI_ERROR, TPROTO_ERR_ALREADY_LOGGED_IN)) {
    printf("%s is already logged in\n", argv[1]);
    return CLI_EXIT_OK;
  }
  if (!ok)
    return cli_report(error);
  printf("logged in to %s\n", argv[1]);
  return CLI_EXIT_OK;
}

/* token NULL: every token. */
static int logout_tokens(const CliGlobals *g, const char *token)
{
  g_autoptr(tessera_client) c = NULL;
  int exit_code = cli_connect(g, &c);
  if (exit_code != CLI_EXIT_OK)
    return exit_code;
  g_autoptr(GError) error = NULL;
  if (!cli_check(c, tessera_logout(c, token), &error))
    return cli_report(error);
  printf("logged out of %s\n", token ? token : "every token");
  return CLI_EXIT_OK;
}

int cmd_lock(const CliGlobals *g, int argc, char **argv)
{
  if (!cli_parse_options(&argc, &argv, "",
                         "Log out of every token at once (for when you leave the computer).",
                         NULL) ||
      !cli_check_args(argc, argv, 0, 0))
    return CLI_EXIT_USAGE;
  return logout_tokens(g, NULL);
}

int cmd_logout(const CliGlobals *g, int argc, char **argv)
{
  if (!cli_parse_options(&argc, &argv, "[TOKEN]",
                         "Log out of TOKEN (URI, label or serial), or of every token.", NULL) ||
      !cli_check_args(argc, argv, 0, 1))
    return CLI_EXIT_USAGE;
  return logout_tokens(g, argc > 1 ? argv[1] : NULL);
}
