/* tessera fuzz — `tessera smime`'s message handling against arbitrary
 * bytes (libFuzzer): GMime's parse of an RFC 5322 message, the addresses,
 * the outer headers, the canonical entity, and then everything verify and
 * decrypt do with what they find (multipart/signed, pkcs7-mime, CMS) that
 * needs no key: verification against an empty trust store, and the
 * RecipientInfo matching against no keys. Whatever the input, each step
 * must fail cleanly or succeed, never crash or leak. */
#include "fuzz-smime-common.h"

#include <openssl/err.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  static X509_STORE *store;
  if (store == NULL) {
    smime_mime_init();
    store = X509_STORE_new();
  }
  int fd = memfd_create("fuzz-smime", MFD_CLOEXEC);
  if (fd < 0)
    abort();
  if (size > 0 && write(fd, data, size) != (ssize_t)size)
    abort();
  if (lseek(fd, 0, SEEK_SET) != 0)
    abort();
  GError *error = NULL;
  SmimeMessage *m = smime_message_read_fd(fd, "fuzz input", &error);
  if (m == NULL) {
    g_clear_error(&error);
    return 0;
  }
  g_free(smime_message_from(m));
  g_ptr_array_unref(smime_message_recipients(m));
  BIO *sink = BIO_new(BIO_s_mem());
  if (!smime_write_outer_headers(m, sink, &error))
    g_clear_error(&error);

  GMimeObject *entity = g_mime_message_get_mime_part(m->msg);
  BIO *canonical = smime_entity_bio(entity, FALSE, &error);
  if (canonical)
    BIO_free(canonical);
  g_clear_error(&error);

  SmimeVerdict v;
  if (!smime_verify_message(NULL, m, store, sink, &v, &error))
    g_clear_error(&error);
  else
    smime_verdict_clear(&v);

  BIO *content = NULL;
  CMS_ContentInfo *cms = smime_read_cms_part(NULL, entity, &content, &error);
  if (cms)
    fuzz_decrypt_without_keys(cms, content, sink);
  BIO_free(content);
  g_clear_error(&error);
  BIO_free(sink);
  smime_message_free(m);
  ERR_clear_error();
  return 0;
}
