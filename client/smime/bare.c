/* tessera smime — bare input for mail programs' hooks: mutt's
 * smime_*_command give a MIME entity without the message's headers, or a
 * DER CMS, in a file, and pass a passphrase on stdin that is not ours to
 * read. */
#include "smime.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

BIO *smime_open_input(const char *path, GError **error)
{
  if (strcmp(path, "-") == 0) {
    g_autoptr(BIO) spool = smime_tmp_bio(error);
    g_autoptr(BIO) in = BIO_new_fd(STDIN_FILENO, BIO_NOCLOSE);
    if (spool == NULL || in == NULL || !smime_bio_copy(in, spool, error) ||
        BIO_flush(spool) != 1 || BIO_seek(spool, 0) < 0) {
      if (error && *error == NULL)
        g_set_error(error, SMIME_ERROR, SMIME_ERROR_INPUT, "cannot spool the input");
      return NULL;
    }
    return g_steal_pointer(&spool);
  }
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    g_set_error(error, G_FILE_ERROR, g_file_error_from_errno(errno), "cannot open %s: %s", path,
                g_strerror(errno));
    return NULL;
  }
  BIO *b = BIO_new_fd(fd, BIO_CLOSE);
  if (b == NULL) {
    close(fd);
    smime_set_ossl_error(error, SMIME_ERROR_CRYPTO, "cannot make a BIO");
  }
  return b;
}

/* Appends to out what data[0..len) becomes with every bare LF made CRLF;
 * *cr: the previous block ended in CR. */
static void add_crlf(GByteArray *out, const guint8 *data, size_t len, gboolean *cr)
{
  size_t start = 0;
  for (size_t i = 0; i < len; i++) {
    if (data[i] == '\n' && !(i == 0 ? *cr : data[i - 1] == '\r')) {
      g_byte_array_append(out, data + start, (guint)(i - start));
      g_byte_array_append(out, (const guint8 *)"\r", 1);
      start = i;
    }
  }
  g_byte_array_append(out, data + start, (guint)(len - start));
  if (len > 0)
    *cr = data[len - 1] == '\r';
}

BIO *smime_canonical_input(const char *path, GError **error)
{
  g_autoptr(BIO) in = smime_open_input(path, error);
  g_autoptr(BIO) out = in ? smime_tmp_bio(error) : NULL;
  if (out == NULL)
    return NULL;
  guint8 buf[65536];
  g_autoptr(GByteArray) canon = g_byte_array_sized_new(2 * sizeof(buf));
  gboolean cr = FALSE;
  int n;
  while ((n = BIO_read(in, buf, sizeof(buf))) > 0) {
    g_byte_array_set_size(canon, 0);
    add_crlf(canon, buf, (size_t)n, &cr);
    if (BIO_write(out, canon->data, (int)canon->len) != (int)canon->len) {
      g_set_error(error, SMIME_ERROR, SMIME_ERROR_INPUT, "cannot write a temporary file");
      return NULL;
    }
  }
  if (n < 0 || BIO_flush(out) != 1 || BIO_seek(out, 0) < 0) {
    g_set_error(error, SMIME_ERROR, SMIME_ERROR_INPUT, "cannot read %s",
                strcmp(path, "-") == 0 ? "the input" : path);
    return NULL;
  }
  return g_steal_pointer(&out);
}
