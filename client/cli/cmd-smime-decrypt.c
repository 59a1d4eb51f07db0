/* tessera smime decrypt — with whichever of your keys a message or a bare
 * CMS is encrypted to. */
#include "smime-cli.h"

#include <stdio.h>

/* Decrypts with whichever key the message is encrypted to, and says which. */
static BIO *decrypt_input(Agent *ag, const SmimeArgs *a, Input *in, GError **error)
{
  g_autoptr(CMS_ContentInfo) cms = NULL;
  g_autoptr(BIO) content = NULL; /* the encrypted content, streamed */
  cms = in->bare ? smime_read_cms_der(ag->libctx, in->bare, &content, error)
                 : smime_read_cms_part(ag->libctx, g_mime_message_get_mime_part(in->m->msg),
                                       &content, error);
  if (cms == NULL)
    return NULL;
  g_autoptr(BIO) plain = smime_tmp_bio(error);
  g_autofree char *used = NULL;
  if (plain == NULL ||
      !smime_decrypt_cms(ag->libctx, ag->c, &ag->keys, cms, content, plain, &used, error) ||
      !smime_rewind(plain, error))
    return NULL;
  g_printerr("tessera smime: decrypted with %s\n", used);
  return g_steal_pointer(&plain);
}

int cmd_smime_decrypt(const CliGlobals *g, int argc, char **argv)
{
  g_auto(SmimeArgs) args = { 0 };
  SmimeArgs *a = &args;
  const GOptionEntry entries[] = { OPT_IN, OPT_OUT, OPT_CRLF, OPT_INFORM, G_OPTION_ENTRY_NULL };
  if (!smime_cli_parse(&argc, &argv,
                       "Decrypt a message with whichever of your keys (old ones too) it is "
                       "encrypted to; the decrypted message on stdout. With --inform DER, FILE "
                       "is a bare CMS and only the decrypted entity is written.",
                       entries, a))
    return CLI_EXIT_USAGE;
  return smime_cli_run(g, a, &(const AgentJob){ .input = a->der ? INPUT_CMS : INPUT_MESSAGE,
                                                .mime_version = TRUE, .work = decrypt_input });
}
