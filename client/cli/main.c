/* tessera — command-line client of tessera-agent: global options and
 * dispatch to one command. */
#include "cli.h"

#include <locale.h>
#include <stdio.h>
#include <string.h>

typedef struct {
  const char *name;
  CliCommandFn run;
  const char *summary;
} CliCommand;

static const CliCommand commands[] = {
  { "status", cmd_status, "show the agent's version, pid, uptime and counts" },
  { "tokens", cmd_tokens, "list the tokens the agent knows" },
  { "keys", cmd_keys, "list private keys, of all tokens or of one" },
  { "login", cmd_login, "log in to a token (the agent asks for the PIN)" },
  { "logout", cmd_logout, "log out of one token or of all" },
  { "lock", cmd_lock, "log out of every token" },
  { "sign", cmd_sign, "sign a file with a key on a token" },
  { "decrypt", cmd_decrypt, "decrypt an RSA ciphertext with a key on a token" },
  { "derive", cmd_derive, "ECDH: derive a shared secret with a peer's public key" },
  { "selftest", cmd_selftest, "check a key's operations against its public key" },
  { "readers", cmd_readers, "list smart-card readers and their cards" },
  { "watch", cmd_watch, "print readers, cards, tokens and keys as they come and go" },
  { "smime", cmd_smime, "S/MIME mail: sign, verify, encrypt, decrypt, sign-encrypt, import" },
};

static char *commands_description(void)
{
  GString *s = g_string_new("Commands:\n");
  for (size_t i = 0; i < G_N_ELEMENTS(commands); i++)
    g_string_append_printf(s, "  %-10s %s\n", commands[i].name, commands[i].summary);
  g_string_append(s, "\n`tessera COMMAND --help` describes a command's options.\n"
                     "The agent's socket: --socket, else $TESSERA_SOCKET, else "
                     "$XDG_RUNTIME_DIR/tessera/agent.sock.");
  return g_string_free(s, FALSE);
}

static const CliCommand *find_command(const char *name)
{
  for (size_t i = 0; i < G_N_ELEMENTS(commands); i++)
    if (strcmp(commands[i].name, name) == 0)
      return &commands[i];
  return NULL;
}

int main(int argc, char **argv)
{
  setlocale(LC_ALL, "");
  g_set_prgname("tessera");
  g_autofree char *socket_path = NULL;
  gboolean version = FALSE;
  gboolean no_prompt = FALSE;
  gint card_timeout = -1;
  const GOptionEntry entries[] = {
    { "socket", 's', 0, G_OPTION_ARG_FILENAME, &socket_path, "the agent's socket", "PATH" },
    { "no-prompt", 'n', 0, G_OPTION_ARG_NONE, &no_prompt,
      "never make the agent show a PIN dialog: fail when a token is not logged in (scripts)",
      NULL },
    { "card-timeout", 't', 0, G_OPTION_ARG_INT, &card_timeout,
      "seconds to wait for a key's card to be inserted (default 60, 0 = fail at once)", "S" },
    { "version", 0, 0, G_OPTION_ARG_NONE, &version, "print the version and exit", NULL },
    G_OPTION_ENTRY_NULL
  };
  g_autoptr(GOptionContext) ctx = g_option_context_new("COMMAND [ARGS…]");
  g_autofree char *description = commands_description();
  g_option_context_set_summary(ctx, "Use the keys held by tessera-agent.");
  g_option_context_set_description(ctx, description);
  g_option_context_add_main_entries(ctx, entries, NULL);
  g_option_context_set_strict_posix(ctx, TRUE); /* stop at the command name */
  g_autoptr(GError) error = NULL;
  if (!g_option_context_parse(ctx, &argc, &argv, &error)) {
    g_printerr("tessera: %s (see `tessera --help`)\n", error->message);
    return CLI_EXIT_USAGE;
  }
  if (version) {
    printf("tessera %s\n", TESSERA_VERSION);
    return CLI_EXIT_OK;
  }
  if (argc < 2) {
    g_printerr("tessera: no command given (see `tessera --help`)\n");
    return CLI_EXIT_USAGE;
  }
  const CliCommand *cmd = find_command(argv[1]);
  if (cmd == NULL) {
    g_printerr("tessera: unknown command '%s' (see `tessera --help`)\n", argv[1]);
    return CLI_EXIT_USAGE;
  }
  g_autofree char *card_timeout_text =
      card_timeout >= 0 ? g_strdup_printf("%d", card_timeout) : NULL;
  const CliGlobals globals = { socket_path, no_prompt, card_timeout_text };
  return cmd->run(&globals, argc - 1, argv + 1);
}
