/* tessera fuzz — what the two S/MIME fuzz targets (fuzz-smime.c,
 * fuzz-smime-bare.c) both do with a CMS they managed to read. */
#pragma once

#include "smime.h"

#include <openssl/err.h>

/* Matches cms's RecipientInfos against no keys (the decryption must fail
 * cleanly or succeed), frees cms, then reads content to its end as the
 * decryption would have. */
static inline void fuzz_decrypt_without_keys(CMS_ContentInfo *cms, BIO *content, BIO *sink)
{
  GError *error = NULL;
  const CliKeys none = { NULL, 0 };
  if (!smime_decrypt_cms(NULL, NULL, &none, cms, content, sink, NULL, &error))
    g_clear_error(&error);
  CMS_ContentInfo_free(cms);
  char buf[4096];
  while (content && BIO_read(content, buf, sizeof(buf)) > 0)
    ;
}
