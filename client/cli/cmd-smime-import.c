/* tessera smime import — recipients' certificates into the store that
 * encrypt finds them in. */
#include "smime-cli.h"

#include <stdio.h>

int cmd_smime_import(const CliGlobals *g, int argc, char **argv)
{
  g_auto(SmimeArgs) args = { 0 };
  SmimeArgs *a = &args;
  const GOptionEntry entries[] = {
    { "store", 0, 0, G_OPTION_ARG_FILENAME, &a->store_dir, "the certificate store (default: "
      "$XDG_DATA_HOME/tessera/certificates)", "DIR" },
    G_OPTION_ENTRY_NULL
  };
  if (!cli_parse_options(&argc, &argv, "FILE…",
                         "Add certificates (PEM or DER) to the store recipients are found in.",
                         entries) ||
      !cli_check_args(argc, argv, 1, G_MAXINT))
    return CLI_EXIT_USAGE;
  (void)g;
#ifdef TESSERA_SMIME_DIRECTORY
  g_autoptr(GError) error = NULL;
  g_autoptr(SmimeDirectory) d = smime_cli_open_directory(a, &error);
  if (d == NULL)
    return smime_cli_report(error);
  for (int i = 1; i < argc; i++) {
    STACK_OF(X509) *certs = sk_X509_new_null();
    gboolean ok = smime_cli_load_certs(argv[i], certs, &error);
    for (int j = 0; ok && j < sk_X509_num(certs); j++)
      ok = smime_directory_import(d, sk_X509_value(certs, j), &error);
    smime_certs_free(certs);
    if (!ok)
      return smime_cli_report(error);
  }
  return CLI_EXIT_OK;
#else
  g_printerr("tessera smime import: this build has no certificate store (client/directory)\n");
  return CLI_EXIT_FAILED;
#endif
}
