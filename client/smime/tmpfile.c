/* tessera smime — temporary files: an fd BIO with a buffer.
 * OpenSSL's streaming code reads its input 1 KB at a time and writes its
 * output in 4 KB pieces; on a plain fd BIO each is a system call. This one
 * reads ahead and collects writes in SMIME_BUF_SIZE. It flushes before it
 * seeks, reports the logical position to BIO_tell and syncs the fd before
 * BIO_get_fd hands it out, so it can stand in for BIO_new_fd. */

#include "streams.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

int smime_tmp_fd(GError **error)
{
  g_autofree char *path = NULL;
  int fd = g_file_open_tmp("tessera-smime-XXXXXX", &path, error);
  if (fd < 0)
    return -1;
  unlink(path); /* gone when closed */
  return fd;
}

typedef enum { FB_IDLE, FB_READING, FB_WRITING } FileBufMode;

typedef struct {
  int fd;
  FileBufMode mode;
  gboolean eof;
  size_t len; /* bytes in buf: read ahead, or waiting to be written */
  size_t off; /* reading: the next byte of buf */
  char buf[SMIME_BUF_SIZE];
} FileBuf;

static gboolean write_all(int fd, const char *data, size_t len)
{
  while (len > 0) {
    ssize_t w = write(fd, data, len);
    if (w < 0 && errno == EINTR)
      continue;
    if (w <= 0)
      return FALSE;
    data += w;
    len -= (size_t)w;
  }
  return TRUE;
}

static ssize_t read_some(int fd, char *data, size_t len)
{
  ssize_t n;
  do
    n = read(fd, data, len);
  while (n < 0 && errno == EINTR);
  return n;
}

/* Writes out what is waiting, or gives back what was read ahead (the fd
 * is then where the BIO's user thinks it is). */
static gboolean fb_sync(FileBuf *f)
{
  gboolean ok = TRUE;
  if (f->mode == FB_WRITING)
    ok = write_all(f->fd, f->buf, f->len);
  else if (f->mode == FB_READING && f->off < f->len)
    ok = lseek(f->fd, -(off_t)(f->len - f->off), SEEK_CUR) >= 0;
  f->mode = FB_IDLE;
  f->len = f->off = 0;
  return ok;
}

static int fb_write(BIO *b, const char *data, int len)
{
  FileBuf *f = BIO_get_data(b);
  if (len < 0)
    return -1;
  if (f->mode != FB_WRITING) {
    if (!fb_sync(f))
      return -1;
    f->mode = FB_WRITING;
  }
  size_t n = (size_t)len;
  if (f->len + n > sizeof(f->buf)) {
    if (!write_all(f->fd, f->buf, f->len))
      return -1;
    f->len = 0;
  }
  if (n >= sizeof(f->buf))
    return write_all(f->fd, data, n) ? len : -1;
  memcpy(f->buf + f->len, data, n);
  f->len += n;
  return len;
}

/* Makes sure buf holds unread bytes: FALSE at the end or on an error
 * (*err). */
static gboolean fb_fill(FileBuf *f, gboolean *err)
{
  *err = FALSE;
  if (f->mode == FB_READING && f->off < f->len)
    return TRUE;
  if (f->mode != FB_READING && !fb_sync(f)) {
    *err = TRUE;
    return FALSE;
  }
  f->mode = FB_READING;
  f->len = f->off = 0;
  ssize_t n = read_some(f->fd, f->buf, sizeof(f->buf));
  if (n <= 0) {
    *err = n < 0;
    f->eof = n == 0;
    return FALSE;
  }
  f->len = (size_t)n;
  return TRUE;
}

static int fb_read(BIO *b, char *data, int len)
{
  FileBuf *f = BIO_get_data(b);
  if (len <= 0)
    return 0;
  size_t want = (size_t)len;
  if ((f->mode != FB_READING || f->off == f->len) && want >= sizeof(f->buf)) {
    /* Large reads go straight into the caller's buffer. */
    if (!fb_sync(f))
      return -1;
    ssize_t n = read_some(f->fd, data, want);
    f->eof = n == 0;
    return (int)n;
  }
  gboolean err;
  if (!fb_fill(f, &err))
    return err ? -1 : 0;
  size_t n = MIN(want, f->len - f->off);
  memcpy(data, f->buf + f->off, n);
  f->off += n;
  return (int)n;
}

static gboolean fb_peek(void *src, const char **p, size_t *n, gboolean *err)
{
  FileBuf *f = src;
  if (!fb_fill(f, err))
    return FALSE;
  *p = f->buf + f->off;
  *n = f->len - f->off;
  return TRUE;
}

static void fb_consume(void *src, size_t n)
{
  ((FileBuf *)src)->off += n;
}

static int fb_gets(BIO *b, char *data, int size)
{
  return smime_gets_line(BIO_get_data(b), fb_peek, fb_consume, data, size);
}

static int fb_puts(BIO *b, const char *s)
{
  return fb_write(b, s, (int)strlen(s));
}

static long fb_ctrl(BIO *b, int cmd, long num, void *ptr)
{
  FileBuf *f = BIO_get_data(b);
  switch (cmd) {
  case BIO_CTRL_FLUSH:
    return f->mode == FB_WRITING ? fb_sync(f) : 1;
  case BIO_CTRL_RESET:
    num = 0;
    /* fall through */
  case BIO_C_FILE_SEEK:
    if (!fb_sync(f))
      return -1;
    f->eof = FALSE;
    return (long)lseek(f->fd, (off_t)num, SEEK_SET);
  case BIO_C_FILE_TELL:
  case BIO_CTRL_INFO: {
    off_t at = lseek(f->fd, 0, SEEK_CUR);
    if (at < 0)
      return -1;
    if (f->mode == FB_WRITING)
      return (long)(at + (off_t)f->len);
    return (long)(at - (off_t)(f->len - f->off));
  }
  case BIO_CTRL_EOF:
    return f->eof && !(f->mode == FB_READING && f->off < f->len);
  case BIO_C_GET_FD:
    if (!fb_sync(f))
      return -1;
    if (ptr)
      *(int *)ptr = f->fd;
    return f->fd;
  case BIO_CTRL_GET_CLOSE:
    return BIO_get_shutdown(b);
  case BIO_CTRL_SET_CLOSE:
    BIO_set_shutdown(b, (int)num);
    return 1;
  case BIO_CTRL_PENDING:
    return f->mode == FB_READING ? (long)(f->len - f->off) : 0;
  case BIO_CTRL_WPENDING:
    return f->mode == FB_WRITING ? (long)f->len : 0;
  default:
    return 0;
  }
}

static int fb_create(BIO *b)
{
  FileBuf *f = g_new(FileBuf, 1);
  f->fd = -1;
  f->mode = FB_IDLE;
  f->eof = FALSE;
  f->len = f->off = 0;
  BIO_set_data(b, f);
  return 1;
}

static int fb_destroy(BIO *b)
{
  FileBuf *f = BIO_get_data(b);
  if (f == NULL)
    return 1;
  if (f->fd >= 0) {
    (void)fb_sync(f);
    if (BIO_get_shutdown(b))
      close(f->fd);
  }
  g_free(f);
  BIO_set_data(b, NULL);
  BIO_set_init(b, 0);
  return 1;
}

static SmimeBioKind fb_kind = {
  .type = BIO_TYPE_SOURCE_SINK,
  .name = "tessera buffered file",
  .write = fb_write,
  .read = fb_read,
  .gets = fb_gets,
  .puts = fb_puts,
  .ctrl = fb_ctrl,
  .create = fb_create,
  .destroy = fb_destroy,
};

/* A buffered BIO on fd, which it closes when freed (NULL: fd closed). */
static BIO *file_bio_new(int fd, GError **error)
{
  BIO *b = BIO_new(smime_bio_method(&fb_kind));
  if (b == NULL) {
    close(fd);
    smime_set_ossl_error(error, SMIME_ERROR_CRYPTO, "cannot make a BIO");
    return NULL;
  }
  FileBuf *f = BIO_get_data(b);
  f->fd = fd;
  BIO_set_shutdown(b, BIO_CLOSE);
  BIO_set_init(b, 1);
  return b;
}

BIO *smime_tmp_bio(GError **error)
{
  int fd = smime_tmp_fd(error);
  return fd < 0 ? NULL : file_bio_new(fd, error);
}

gboolean smime_rewind(BIO *b, GError **error)
{
  if (BIO_flush(b) != 1 || BIO_seek(b, 0) < 0) {
    g_set_error(error, SMIME_ERROR, SMIME_ERROR_INPUT, "cannot rewind a temporary file");
    return FALSE;
  }
  return TRUE;
}

gboolean smime_copy_fd(int from, int to, GError **error)
{
  char buf[65536];
  for (;;) {
    ssize_t n = read(from, buf, sizeof(buf));
    if (n == 0)
      return TRUE;
    if (n < 0) {
      if (errno == EINTR)
        continue;
      g_set_error(error, G_FILE_ERROR, g_file_error_from_errno(errno), "reading the message: %s",
                  g_strerror(errno));
      return FALSE;
    }
    for (ssize_t off = 0; off < n;) {
      ssize_t w = write(to, buf + off, (size_t)(n - off));
      if (w < 0 && errno == EINTR)
        continue;
      if (w < 0) {
        g_set_error(error, G_FILE_ERROR, g_file_error_from_errno(errno),
                    "spooling the message: %s", g_strerror(errno));
        return FALSE;
      }
      off += w;
    }
  }
}
