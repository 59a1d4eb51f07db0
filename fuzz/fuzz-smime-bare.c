/* tessera fuzz — the bare input of mail programs' hooks (client/smime/
 * bare.c; mutt's smime_*_command) against arbitrary bytes (libFuzzer):
 * the input as a bare DER or PEM CMS (verify --inform DER, decrypt
 * --inform DER), as a detached signature over a fixed entity (verify
 * --signature), and as a bare entity to canonicalise and check a fixed
 * signature against. No keys and an empty trust store: each step must
 * fail cleanly or succeed, never crash or leak. */
#include "fuzz-smime-common.h"

#include <openssl/err.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int memfd_with(const void *data, size_t size)
{
  int fd = memfd_create("fuzz-smime-bare", MFD_CLOEXEC);
  if (fd < 0 || (size > 0 && write(fd, data, size) != (ssize_t)size) ||
      lseek(fd, 0, SEEK_SET) != 0)
    abort();
  return fd;
}

/* The input as the CLI opens it (smime_open_input: a buffered file BIO);
 * *fd is closed by the caller. */
static BIO *bio_with(const void *data, size_t size, int *fd)
{
  *fd = memfd_with(data, size);
  g_autofree char *path = g_strdup_printf("/proc/self/fd/%d", *fd);
  GError *error = NULL;
  BIO *b = smime_open_input(path, &error);
  if (b == NULL)
    abort();
  return b;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  static X509_STORE *store;
  if (store == NULL)
    store = X509_STORE_new();
  static const char entity[] = "Content-Type: text/plain\r\n\r\nbare entity\r\n";
  GError *error = NULL;
  SmimeVerdict v;
  BIO *sink = BIO_new(BIO_s_mem());

  int fd1, fd2, fd3, fd4;
  BIO *der = bio_with(data, size, &fd1);
  if (smime_verify_bare(NULL, der, NULL, store, sink, &v, &error))
    smime_verdict_clear(&v);
  g_clear_error(&error);
  BIO_free(der);

  der = bio_with(data, size, &fd2);
  BIO *content = NULL;
  CMS_ContentInfo *cms = smime_read_cms_der(NULL, der, &content, &error);
  if (cms)
    fuzz_decrypt_without_keys(cms, content, sink);
  BIO_free(content);
  g_clear_error(&error);
  BIO_free(der);

  BIO *sig = bio_with(data, size, &fd3);
  BIO *fixed = bio_with(entity, sizeof(entity) - 1, &fd4);
  if (smime_verify_detached(NULL, sig, fixed, "a@example.org", store, &v, &error))
    smime_verdict_clear(&v);
  g_clear_error(&error);
  BIO_free(sig);
  BIO_free(fixed);
  close(fd1), close(fd2), close(fd3), close(fd4);

  /* The input as the entity: its canonical form (read by path, as the
   * hooks give it). */
  int fd = memfd_with(data, size);
  char *path = g_strdup_printf("/proc/self/fd/%d", fd);
  BIO *canonical = smime_canonical_input(path, &error);
  BIO_free(canonical);
  g_clear_error(&error);
  g_free(path);
  close(fd);

  BIO_free(sink);
  ERR_clear_error();
  return 0;
}
