/* tessera smime — S/MIME for mail: sign, verify, encrypt, decrypt,
 * sign-encrypt and import. The subcommands' table and usage; each is in
 * its cmd-smime-*.c, what they share in smime-cli.c, the work in
 * client/smime/. */
#include "smime-cli.h"

#include <stdio.h>
#include <string.h>

static const struct {
  const char *name;
  CliCommandFn run;
  const char *summary;
} subcommands[] = {
  { "sign", cmd_smime_sign, "sign a message (clear-signed; --opaque)" },
  { "verify", cmd_smime_verify, "verify a signed message: verdict on stderr, content on stdout" },
  { "encrypt", cmd_smime_encrypt, "encrypt a message to its recipients and to yourself" },
  { "decrypt", cmd_smime_decrypt, "decrypt a message with whichever of your keys it names" },
  { "sign-encrypt", cmd_smime_sign_encrypt, "sign, then encrypt" },
  { "import", cmd_smime_import, "add recipients' certificates to the store" },
};

static void usage(void)
{
  g_printerr("Usage: tessera smime SUBCOMMAND [OPTIONS] [FILE]\n\nSubcommands:\n");
  for (size_t i = 0; i < G_N_ELEMENTS(subcommands); i++)
    g_printerr("  %-13s %s\n", subcommands[i].name, subcommands[i].summary);
  g_printerr("\nThe message is FILE or stdin; the result goes to stdout.\n"
             "Exit status: 0 success (verify: a good signature), 1 failure (verify: a bad, "
             "untrusted, expired, revoked or mismatched signature, or no signature), 2 usage, "
             "3 the agent cannot be reached or went away during the operation.\n");
}

int cmd_smime(const CliGlobals *g, int argc, char **argv)
{
  if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
    usage();
    return argc < 2 ? CLI_EXIT_USAGE : CLI_EXIT_OK;
  }
  for (size_t i = 0; i < G_N_ELEMENTS(subcommands); i++) {
    if (strcmp(argv[1], subcommands[i].name) == 0) {
      g_autofree char *name = g_strconcat("smime ", argv[1], NULL);
      char **sub_argv = g_new0(char *, (gsize)argc);
      sub_argv[0] = name;
      for (int j = 2; j < argc; j++)
        sub_argv[j - 1] = argv[j];
      int rc = subcommands[i].run(g, argc - 1, sub_argv);
      g_free(sub_argv);
      return rc;
    }
  }
  usage();
  return cli_usage_error("smime", "unknown subcommand '%s'", argv[1]);
}
