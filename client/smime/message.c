/* tessera smime — RFC 5322 messages: reading them with GMime, the outer
 * headers, the canonical (CRLF) MIME entity, temporary files and output. */
#include "smime.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/err.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

G_DEFINE_QUARK(tessera-smime-error-quark, smime_error)

void smime_set_ossl_error(GError **error, int code, const char *fmt, ...)
{
  va_list ap;
  va_start(ap, fmt);
  g_autofree char *msg = g_strdup_vprintf(fmt, ap);
  va_end(ap);
  GString *s = g_string_new(msg);
  unsigned long e;
  const char *data = NULL;
  int flags = 0;
  gboolean first = TRUE;
  while ((e = ERR_get_error_all(NULL, NULL, NULL, &data, &flags)) != 0) {
    char buf[256];
    ERR_error_string_n(e, buf, sizeof(buf));
    /* "error:XXXXXXXX:lib:func:reason" — keep the reason. */
    const char *reason = strrchr(buf, ':');
    g_string_append(s, first ? ": " : "; ");
    g_string_append(s, reason ? reason + 1 : buf);
    if (data && (flags & ERR_TXT_STRING) && *data)
      g_string_append_printf(s, " (%s)", data);
    first = FALSE;
  }
  g_set_error_literal(error, SMIME_ERROR, code, s->str);
  g_string_free(s, TRUE);
}

void smime_mime_init(void)
{
  static gsize once = 0;
  if (g_once_init_enter(&once)) {
    g_mime_init();
    g_once_init_leave(&once, 1);
  }
}

static int tmp_fd(GError **error)
{
  g_autofree char *path = NULL;
  int fd = g_file_open_tmp("tessera-smime-XXXXXX", &path, error);
  if (fd < 0)
    return -1;
  unlink(path); /* gone when closed */
  return fd;
}

/* ---- temporary files: an fd BIO with a buffer ----
 * OpenSSL's streaming code reads its input 1 KB at a time and writes its
 * output in 4 KB pieces; on a plain fd BIO each is a system call. This one
 * reads ahead and collects writes in FILE_BUF_SIZE. It flushes before it
 * seeks, reports the logical position to BIO_tell and syncs the fd before
 * BIO_get_fd hands it out, so it can stand in for BIO_new_fd. */

#define FILE_BUF_SIZE (64 * 1024)

typedef enum { FB_IDLE, FB_READING, FB_WRITING } FileBufMode;

typedef struct {
  int fd;
  FileBufMode mode;
  gboolean eof;
  size_t len; /* bytes in buf: read ahead, or waiting to be written */
  size_t off; /* reading: the next byte of buf */
  char buf[FILE_BUF_SIZE];
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

/* BIO_gets over a source read through peek (the next unread bytes, FALSE
 * at the end or on an error) and consume: one line, or size - 1 bytes. */
typedef gboolean (*PeekFn)(void *src, const char **p, size_t *n, gboolean *err);
typedef void (*ConsumeFn)(void *src, size_t n);
static int gets_line(void *src, PeekFn peek, ConsumeFn consume, char *data, int size)
{
  if (size <= 0)
    return 0;
  size_t used = 0, room = (size_t)size - 1;
  const char *p;
  size_t n;
  gboolean err = FALSE;
  while (used < room && peek(src, &p, &n, &err)) {
    n = MIN(n, room - used);
    const char *nl = memchr(p, '\n', n);
    if (nl)
      n = (size_t)(nl - p) + 1;
    memcpy(data + used, p, n);
    consume(src, n);
    used += n;
    if (nl)
      break;
  }
  data[used] = '\0';
  return used == 0 && err ? -1 : (int)used;
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
  return gets_line(BIO_get_data(b), fb_peek, fb_consume, data, size);
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

static BIO_METHOD *fb_method(void)
{
  static gsize once = 0;
  static BIO_METHOD *m = NULL;
  if (g_once_init_enter(&once)) {
    m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "tessera buffered file");
    BIO_meth_set_write(m, fb_write);
    BIO_meth_set_read(m, fb_read);
    BIO_meth_set_gets(m, fb_gets);
    BIO_meth_set_puts(m, fb_puts);
    BIO_meth_set_ctrl(m, fb_ctrl);
    BIO_meth_set_create(m, fb_create);
    BIO_meth_set_destroy(m, fb_destroy);
    g_once_init_leave(&once, 1);
  }
  return m;
}

/* A buffered BIO on fd, which it closes when freed (NULL: fd closed). */
static BIO *file_bio_new(int fd, GError **error)
{
  BIO *b = BIO_new(fb_method());
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
  int fd = tmp_fd(error);
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

static gboolean copy_fd(int from, int to, GError **error)
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

/* ---- the message file as a GMime stream ----
 * GMime's fs stream seeks before every read and reads what it is asked
 * for (the parser: 4 KB), so a 100 MB message costs 50,000 system calls to
 * parse and as many again to write out. This stream reads with pread
 * (no seeks) and reads ahead FILE_BUF_SIZE. The parser's substreams (the
 * parts' contents, by offset) share the fd; each reads ahead only while it
 * is being read and frees its buffer at its end. */

typedef struct {
  GMimeStream parent;
  GMimeStream *owner; /* the stream that owns fd; NULL: this one */
  int fd;
  gboolean eof;
  char *buf; /* read ahead: bytes [buf_at, buf_at + buf_len) of the file */
  gint64 buf_at;
  size_t buf_len;
} SmimeFileStream;

typedef struct {
  GMimeStreamClass parent_class;
} SmimeFileStreamClass;

GType smime_file_stream_get_type(void);
G_DEFINE_TYPE(SmimeFileStream, smime_file_stream, GMIME_TYPE_STREAM)

static void drop_buffer(SmimeFileStream *fs)
{
  g_clear_pointer(&fs->buf, g_free);
  fs->buf_len = 0;
}

static ssize_t pread_some(int fd, char *data, size_t len, gint64 at)
{
  ssize_t n;
  do
    n = pread(fd, data, len, (off_t)at);
  while (n < 0 && errno == EINTR);
  return n;
}

static ssize_t file_stream_read(GMimeStream *stream, char *data, size_t len)
{
  SmimeFileStream *fs = (SmimeFileStream *)stream;
  gint64 pos = stream->position;
  if (stream->bound_end != -1) {
    if (pos >= stream->bound_end)
      return 0;
    len = (size_t)MIN((gint64)len, stream->bound_end - pos);
  }
  if (len == 0)
    return 0;
  if (fs->buf == NULL || pos < fs->buf_at || pos >= fs->buf_at + (gint64)fs->buf_len) {
    if (len >= FILE_BUF_SIZE) { /* straight into the caller's buffer */
      ssize_t n = pread_some(fs->fd, data, len, pos);
      if (n > 0)
        stream->position += n;
      fs->eof = n == 0;
      return n;
    }
    size_t ahead = FILE_BUF_SIZE;
    if (stream->bound_end != -1)
      ahead = (size_t)MIN((gint64)ahead, stream->bound_end - pos);
    if (fs->buf == NULL)
      fs->buf = g_malloc(FILE_BUF_SIZE);
    ssize_t n = pread_some(fs->fd, fs->buf, ahead, pos);
    if (n <= 0) {
      drop_buffer(fs);
      fs->eof = n == 0;
      return n;
    }
    fs->buf_at = pos;
    fs->buf_len = (size_t)n;
  }
  size_t n = MIN(len, (size_t)(fs->buf_at + (gint64)fs->buf_len - pos));
  memcpy(data, fs->buf + (pos - fs->buf_at), n);
  stream->position += (gint64)n;
  if (stream->bound_end != -1 && stream->position >= stream->bound_end)
    drop_buffer(fs); /* read to its end: likely not read again */
  return (ssize_t)n;
}

static ssize_t file_stream_write(GMimeStream *stream, const char *data, size_t len)
{
  errno = EBADF;
  return -1;
}

static int file_stream_flush(GMimeStream *stream)
{
  return 0;
}

static int file_stream_close(GMimeStream *stream)
{
  SmimeFileStream *fs = (SmimeFileStream *)stream;
  drop_buffer(fs);
  if (fs->owner == NULL && fs->fd >= 0)
    close(fs->fd);
  fs->fd = -1;
  return 0;
}

static gboolean file_stream_eos(GMimeStream *stream)
{
  SmimeFileStream *fs = (SmimeFileStream *)stream;
  if (stream->bound_end != -1)
    return stream->position >= stream->bound_end;
  return fs->eof;
}

static int file_stream_reset(GMimeStream *stream)
{
  ((SmimeFileStream *)stream)->eof = FALSE;
  stream->position = stream->bound_start;
  return 0;
}

static gint64 file_end(SmimeFileStream *fs)
{
  GMimeStream *stream = &fs->parent;
  if (stream->bound_end != -1)
    return stream->bound_end;
  struct stat st;
  return fstat(fs->fd, &st) < 0 ? -1 : (gint64)st.st_size;
}

static gint64 file_stream_seek(GMimeStream *stream, gint64 offset, GMimeSeekWhence whence)
{
  SmimeFileStream *fs = (SmimeFileStream *)stream;
  gint64 to;
  switch (whence) {
  case GMIME_STREAM_SEEK_SET: to = offset; break;
  case GMIME_STREAM_SEEK_CUR: to = stream->position + offset; break;
  case GMIME_STREAM_SEEK_END: {
    gint64 end = file_end(fs);
    if (end < 0)
      return -1;
    to = end + offset;
    break;
  }
  default: errno = EINVAL; return -1;
  }
  if (to < stream->bound_start || (stream->bound_end != -1 && to > stream->bound_end)) {
    errno = EINVAL;
    return -1;
  }
  stream->position = to;
  fs->eof = FALSE;
  return to;
}

static gint64 file_stream_tell(GMimeStream *stream)
{
  return stream->position;
}

static gint64 file_stream_length(GMimeStream *stream)
{
  gint64 end = file_end((SmimeFileStream *)stream);
  return end < 0 ? -1 : end - stream->bound_start;
}

static GMimeStream *file_stream_substream(GMimeStream *stream, gint64 start, gint64 end)
{
  SmimeFileStream *fs = (SmimeFileStream *)stream;
  SmimeFileStream *sub = g_object_new(smime_file_stream_get_type(), NULL);
  sub->owner = g_object_ref(fs->owner ? fs->owner : stream);
  sub->fd = fs->fd;
  g_mime_stream_construct(&sub->parent, start, end);
  return &sub->parent;
}

static void smime_file_stream_finalize(GObject *object)
{
  SmimeFileStream *fs = (SmimeFileStream *)object;
  file_stream_close(&fs->parent);
  g_clear_object(&fs->owner);
  G_OBJECT_CLASS(smime_file_stream_parent_class)->finalize(object);
}

static void smime_file_stream_class_init(SmimeFileStreamClass *klass)
{
  GMimeStreamClass *sc = GMIME_STREAM_CLASS(klass);
  G_OBJECT_CLASS(klass)->finalize = smime_file_stream_finalize;
  sc->read = file_stream_read;
  sc->write = file_stream_write;
  sc->flush = file_stream_flush;
  sc->close = file_stream_close;
  sc->eos = file_stream_eos;
  sc->reset = file_stream_reset;
  sc->seek = file_stream_seek;
  sc->tell = file_stream_tell;
  sc->length = file_stream_length;
  sc->substream = file_stream_substream;
}

static void smime_file_stream_init(SmimeFileStream *fs)
{
  fs->fd = -1;
}

/* A read-only stream on fd (which it owns) from its current offset. */
static GMimeStream *file_stream_new(int fd)
{
  SmimeFileStream *fs = g_object_new(smime_file_stream_get_type(), NULL);
  fs->fd = fd;
  off_t at = lseek(fd, 0, SEEK_CUR);
  g_mime_stream_construct(&fs->parent, at < 0 ? 0 : (gint64)at, -1);
  return &fs->parent;
}

SmimeMessage *smime_message_read(const char *path, GError **error)
{
  smime_mime_init();
  int fd;
  if (strcmp(path, "-") == 0) {
    fd = tmp_fd(error);
    if (fd < 0)
      return NULL;
    if (!copy_fd(STDIN_FILENO, fd, error) || lseek(fd, 0, SEEK_SET) < 0) {
      close(fd);
      return NULL;
    }
  } else {
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
      g_set_error(error, G_FILE_ERROR, g_file_error_from_errno(errno), "cannot open %s: %s",
                  path, g_strerror(errno));
      return NULL;
    }
  }
  return smime_message_read_fd(fd, strcmp(path, "-") == 0 ? "the input" : path, error);
}

SmimeMessage *smime_message_read_fd(int fd, const char *name, GError **error)
{
  smime_mime_init();
  GMimeStream *stream = file_stream_new(fd); /* owns fd */
  GMimeParser *parser = g_mime_parser_new_with_stream(stream);
  g_mime_parser_set_persist_stream(parser, TRUE); /* offsets, not copies */
  g_mime_parser_set_format(parser, GMIME_FORMAT_MESSAGE);
  GMimeMessage *msg = g_mime_parser_construct_message(parser, NULL);
  g_object_unref(parser);
  if (msg == NULL || g_mime_message_get_mime_part(msg) == NULL) {
    g_clear_object(&msg);
    g_object_unref(stream);
    g_set_error(error, SMIME_ERROR, SMIME_ERROR_INPUT,
                "%s is not an RFC 5322 message (no headers or no body)",
                name);
    return NULL;
  }
  SmimeMessage *m = g_new0(SmimeMessage, 1);
  m->msg = msg;
  m->stream = stream;
  return m;
}

void smime_message_free(SmimeMessage *m)
{
  if (m == NULL)
    return;
  g_clear_object(&m->msg);
  g_clear_object(&m->stream);
  g_free(m);
}

static void add_addresses(InternetAddressList *list, GPtrArray *out)
{
  int n = list ? internet_address_list_length(list) : 0;
  for (int i = 0; i < n; i++) {
    InternetAddress *ia = internet_address_list_get_address(list, i);
    if (INTERNET_ADDRESS_IS_GROUP(ia)) {
      add_addresses(internet_address_group_get_members(INTERNET_ADDRESS_GROUP(ia)), out);
    } else if (INTERNET_ADDRESS_IS_MAILBOX(ia)) {
      const char *addr = internet_address_mailbox_get_addr(INTERNET_ADDRESS_MAILBOX(ia));
      if (addr && *addr) {
        char *lower = g_ascii_strdown(addr, -1);
        gboolean dup = FALSE;
        for (guint j = 0; j < out->len && !dup; j++)
          dup = strcmp(out->pdata[j], lower) == 0;
        if (dup)
          g_free(lower);
        else
          g_ptr_array_add(out, lower);
      }
    }
  }
}

char *smime_message_from(SmimeMessage *m)
{
  g_autoptr(GPtrArray) from = g_ptr_array_new_with_free_func(g_free);
  add_addresses(g_mime_message_get_from(m->msg), from);
  return from->len > 0 ? g_strdup(from->pdata[0]) : NULL;
}

GPtrArray *smime_message_recipients(SmimeMessage *m)
{
  GPtrArray *out = g_ptr_array_new_with_free_func(g_free);
  add_addresses(g_mime_message_get_addresses(m->msg, GMIME_ADDRESS_TYPE_TO), out);
  add_addresses(g_mime_message_get_addresses(m->msg, GMIME_ADDRESS_TYPE_CC), out);
  add_addresses(g_mime_message_get_addresses(m->msg, GMIME_ADDRESS_TYPE_BCC), out);
  return out;
}

static gboolean is_mime_header(const char *name)
{
  return g_ascii_strncasecmp(name, "Content-", 8) == 0 ||
         g_ascii_strcasecmp(name, "MIME-Version") == 0;
}

gboolean smime_write_outer_headers(SmimeMessage *m, BIO *out, GError **error)
{
  GMimeHeaderList *hl = g_mime_object_get_header_list(GMIME_OBJECT(m->msg));
  int n = g_mime_header_list_get_count(hl);
  for (int i = 0; i < n; i++) {
    GMimeHeader *h = g_mime_header_list_get_header_at(hl, i);
    const char *name = g_mime_header_get_name(h);
    if (is_mime_header(name))
      continue;
    const char *raw = g_mime_header_get_raw_value(h);
    g_autofree char *line = NULL;
    if (raw)
      line = g_strdup_printf("%s:%s%s", name, raw,
                             *raw && raw[strlen(raw) - 1] == '\n' ? "" : "\n");
    else
      line = g_strdup_printf("%s: %s\n", name, g_mime_header_get_value(h));
    if (BIO_puts(out, line) < 0) {
      smime_set_ossl_error(error, SMIME_ERROR_INPUT, "cannot write the headers");
      return FALSE;
    }
  }
  return TRUE;
}

/* ---- the canonical entity: GMime writes it, bare LF become CRLF ---- */

/* Appends to out what in[0..len) becomes with every LF not after a CR made
 * CRLF (out has room for 2 * len); *cr: the byte before in was CR. Returns
 * the bytes written. */
static size_t to_crlf(const char *in, size_t len, char *out, gboolean *cr)
{
  size_t o = 0;
  const char *end = in + len;
  while (in < end) {
    const char *nl = memchr(in, '\n', (size_t)(end - in));
    size_t seg = (size_t)((nl ? nl : end) - in);
    memcpy(out + o, in, seg);
    o += seg;
    if (seg > 0)
      *cr = in[seg - 1] == '\r';
    if (nl == NULL)
      break;
    if (!*cr)
      out[o++] = '\r';
    out[o++] = '\n';
    *cr = FALSE;
    in = nl + 1;
  }
  return o;
}

#define CRLF_CHUNK (32 * 1024)

/* A write-only GMime stream into a BIO, through to_crlf. */
typedef struct {
  GMimeStream parent;
  BIO *out; /* borrowed */
  gboolean cr;
  char *conv; /* 2 * CRLF_CHUNK */
} SmimeCrlfStream;

typedef struct {
  GMimeStreamClass parent_class;
} SmimeCrlfStreamClass;

GType smime_crlf_stream_get_type(void);
G_DEFINE_TYPE(SmimeCrlfStream, smime_crlf_stream, GMIME_TYPE_STREAM)

static ssize_t crlf_stream_write(GMimeStream *stream, const char *data, size_t len)
{
  SmimeCrlfStream *cs = (SmimeCrlfStream *)stream;
  for (size_t done = 0; done < len;) {
    size_t n = MIN(len - done, (size_t)CRLF_CHUNK);
    size_t o = to_crlf(data + done, n, cs->conv, &cs->cr);
    if (o > 0 && BIO_write(cs->out, cs->conv, (int)o) != (int)o) {
      errno = EIO;
      return -1;
    }
    done += n;
  }
  stream->position += (gint64)len;
  return (ssize_t)len;
}

static ssize_t crlf_stream_read(GMimeStream *stream, char *data, size_t len)
{
  errno = EBADF;
  return -1;
}

static int crlf_stream_flush(GMimeStream *stream)
{
  return BIO_flush(((SmimeCrlfStream *)stream)->out) == 1 ? 0 : -1;
}

static int crlf_stream_close(GMimeStream *stream)
{
  return 0;
}

static gboolean crlf_stream_eos(GMimeStream *stream)
{
  return FALSE;
}

static int crlf_stream_reset(GMimeStream *stream)
{
  return -1;
}

static gint64 crlf_stream_seek(GMimeStream *stream, gint64 offset, GMimeSeekWhence whence)
{
  return -1;
}

static gint64 crlf_stream_tell(GMimeStream *stream)
{
  return stream->position;
}

static gint64 crlf_stream_length(GMimeStream *stream)
{
  return -1;
}

static GMimeStream *crlf_stream_substream(GMimeStream *stream, gint64 start, gint64 end)
{
  return NULL;
}

static void smime_crlf_stream_finalize(GObject *object)
{
  g_free(((SmimeCrlfStream *)object)->conv);
  G_OBJECT_CLASS(smime_crlf_stream_parent_class)->finalize(object);
}

static void smime_crlf_stream_class_init(SmimeCrlfStreamClass *klass)
{
  GMimeStreamClass *sc = GMIME_STREAM_CLASS(klass);
  G_OBJECT_CLASS(klass)->finalize = smime_crlf_stream_finalize;
  sc->read = crlf_stream_read;
  sc->write = crlf_stream_write;
  sc->flush = crlf_stream_flush;
  sc->close = crlf_stream_close;
  sc->eos = crlf_stream_eos;
  sc->reset = crlf_stream_reset;
  sc->seek = crlf_stream_seek;
  sc->tell = crlf_stream_tell;
  sc->length = crlf_stream_length;
  sc->substream = crlf_stream_substream;
}

static void smime_crlf_stream_init(SmimeCrlfStream *cs)
{
  cs->conv = g_malloc(2 * CRLF_CHUNK);
}

/* What GMime's content newline filter (CRLF to LF, for its default
 * format) and then to_crlf make of a part's content, in one pass: CR LF
 * and bare LF become CR LF, and of a run of CRs before LF one is dropped
 * (the filter takes CR LF as the line end). */
typedef struct {
  gboolean held_cr;    /* a CR not yet written: dropped if LF follows */
  gboolean written_cr; /* the last byte written was CR */
} ContentCrlf;

static size_t content_to_crlf(ContentCrlf *st, const char *in, size_t len, char *out)
{
  size_t o = 0;
  const char *end = in + len;
  while (in < end) {
    const char *nl = memchr(in, '\n', (size_t)(end - in));
    size_t seg = (size_t)((nl ? nl : end) - in);
    if (seg > 0) {
      if (st->held_cr) {
        out[o++] = '\r';
        st->written_cr = TRUE;
      }
      st->held_cr = in[seg - 1] == '\r';
      size_t n = st->held_cr ? seg - 1 : seg;
      memcpy(out + o, in, n);
      o += n;
      if (n > 0)
        st->written_cr = in[n - 1] == '\r';
    }
    if (nl == NULL)
      break;
    st->held_cr = FALSE;
    if (!st->written_cr)
      out[o++] = '\r';
    out[o++] = '\n';
    st->written_cr = FALSE;
    in = nl + 1;
  }
  return o;
}

/* Writes obj, every bare LF made CRLF, to b. */
static gboolean write_crlf(GMimeObject *obj, BIO *b)
{
  SmimeCrlfStream *cs = g_object_new(smime_crlf_stream_get_type(), NULL);
  cs->out = b;
  g_mime_stream_construct(&cs->parent, 0, -1);
  gboolean ok = g_mime_object_write_to_stream(obj, NULL, &cs->parent) >= 0 &&
                g_mime_stream_flush(&cs->parent) == 0;
  g_object_unref(cs);
  return ok;
}

/* ---- the canonical entity, made while it is read ----
 * A leaf part whose content is stored in the encoding it is sent in is
 * written by GMime as its headers, a blank line and the content through a
 * byte-at-a-time newline filter; of content that does not end in CR,
 * content_to_crlf makes what that filter and to_crlf make. When every leaf
 * with content is such a part (a single part, or multiparts of them),
 * GMime writes the entity once with each of those contents replaced by a
 * marker (ending in LF if the content does). What it writes around them
 * (headers, boundaries, prologue, epilogue: GMime's own bytes) is kept in
 * memory, CRLF, and the contents are read from the message and made
 * canonical block by block where the markers were, so the entity is
 * neither copied to a temporary file nor held in memory. A marker must be
 * found exactly once, in order, after an LF; otherwise, and for any other
 * entity (a part to re-encode, binary, an embedded message), GMime writes
 * the entity into a temporary file. The BIO can be rewound (BIO_seek(b,
 * 0), BIO_reset); it has no fd. */

typedef struct {
  GMimeDataWrapper *dw; /* borrowed: the part's */
  GMimeStream *content; /* a reference: the part's content */
  gboolean ends_in_lf;
} PlainLeaf;

static void plain_leaf_clear(void *p)
{
  g_clear_object(&((PlainLeaf *)p)->content);
}

static gboolean same_writer(GMimeObject *obj, GType type)
{
  GMimeObjectClass *klass = g_type_class_ref(type);
  gboolean same = GMIME_OBJECT_GET_CLASS(obj)->write_to_stream == klass->write_to_stream;
  g_type_class_unref(klass);
  return same;
}

/* The last byte of a seekable stream, -1 if none; leaves it at its start. */
static int last_byte(GMimeStream *stream)
{
  unsigned char last = 0;
  gboolean ok = g_mime_stream_seek(stream, -1, GMIME_STREAM_SEEK_END) >= 0 &&
                g_mime_stream_read(stream, (char *)&last, 1) == 1;
  return g_mime_stream_reset(stream) == 0 && ok ? last : -1;
}

/* Adds obj's leaves with content to leaves; FALSE if one is not a plain
 * part (see above) or obj is neither a part nor a multipart. Leaves with
 * no content are left to GMime. */
static gboolean collect_leaves(GMimeObject *obj, GArray *leaves)
{
  if (GMIME_IS_MULTIPART(obj)) {
    if (!same_writer(obj, GMIME_TYPE_MULTIPART))
      return FALSE;
    GMimeMultipart *mp = GMIME_MULTIPART(obj);
    int n = g_mime_multipart_get_count(mp);
    for (int i = 0; i < n; i++)
      if (!collect_leaves(g_mime_multipart_get_part(mp, i), leaves))
        return FALSE;
    return TRUE;
  }
  if (!GMIME_IS_PART(obj) || !same_writer(obj, GMIME_TYPE_PART))
    return FALSE;
  GMimePart *part = GMIME_PART(obj);
  GMimeDataWrapper *dw = g_mime_part_get_content(part);
  GMimeStream *content = dw ? g_mime_data_wrapper_get_stream(dw) : NULL;
  gint64 len = content ? g_mime_stream_length(content) : 0;
  if (len == 0)
    return TRUE;
  GMimeContentEncoding enc = g_mime_part_get_content_encoding(part);
  int last = len > 0 ? last_byte(content) : -1;
  if (last < 0 || last == '\r' || enc != g_mime_data_wrapper_get_encoding(dw) ||
      enc == GMIME_CONTENT_ENCODING_BINARY)
    return FALSE;
  PlainLeaf leaf = { dw, g_object_ref(content), last == '\n' };
  g_array_append_val(leaves, leaf);
  return TRUE;
}

typedef struct {
  size_t text_end;      /* before the content: text[previous text_end, text_end) */
  GMimeStream *content; /* a reference; NULL: the last segment */
} CanonSeg;

static void canon_seg_clear(void *p)
{
  g_clear_object(&((CanonSeg *)p)->content);
}

typedef struct {
  GByteArray *text;     /* all but the contents, CRLF */
  GArray *segs;         /* CanonSeg */
  guint seg;            /* the segment being read */
  size_t text_off;      /* the next byte of text */
  gboolean in_content;  /* reading seg's content */
  ContentCrlf st;
  gboolean done;        /* that content read to its end */
  char *in;             /* FILE_BUF_SIZE */
  char *out;            /* 2 * FILE_BUF_SIZE: canonical, not yet read */
  size_t out_len, out_off;
} CanonEntity;

/* The next unread bytes (*n > 0) or FALSE at the end or on an error
 * (*err). */
static gboolean cp_peek(void *src, const char **p, size_t *n, gboolean *err)
{
  CanonEntity *c = src;
  *err = FALSE;
  for (;;) {
    const CanonSeg *s = &g_array_index(c->segs, CanonSeg, c->seg);
    if (!c->in_content) {
      if (c->text_off < s->text_end) {
        *p = (const char *)c->text->data + c->text_off;
        *n = s->text_end - c->text_off;
        return TRUE;
      }
      if (s->content == NULL)
        return FALSE;
      if (g_mime_stream_reset(s->content) != 0) {
        *err = TRUE;
        return FALSE;
      }
      c->in_content = TRUE;
      c->st = (ContentCrlf){ FALSE, FALSE };
      c->done = FALSE;
      c->out_len = c->out_off = 0;
    }
    if (c->out_off < c->out_len) {
      *p = c->out + c->out_off;
      *n = c->out_len - c->out_off;
      return TRUE;
    }
    if (c->done) {
      c->in_content = FALSE;
      c->seg++;
      continue;
    }
    c->out_len = c->out_off = 0;
    ssize_t got = g_mime_stream_eos(s->content) ? 0
                                                : g_mime_stream_read(s->content, c->in, FILE_BUF_SIZE);
    if (got < 0) {
      *err = TRUE;
      return FALSE;
    }
    if (got == 0) {
      c->done = TRUE;
      if (c->st.held_cr) { /* not for content that ends in LF; for completeness */
        c->out[c->out_len++] = '\r';
        c->st.held_cr = FALSE;
      }
    } else {
      c->out_len = content_to_crlf(&c->st, c->in, (size_t)got, c->out);
    }
  }
}

static void cp_consume(void *src, size_t n)
{
  CanonEntity *c = src;
  if (c->in_content)
    c->out_off += n;
  else
    c->text_off += n;
}

static int cp_read(BIO *b, char *data, int len)
{
  CanonEntity *c = BIO_get_data(b);
  size_t done = 0;
  const char *p;
  size_t n;
  gboolean err = FALSE;
  while (done < (size_t)MAX(len, 0) && cp_peek(c, &p, &n, &err)) {
    n = MIN(n, (size_t)len - done);
    memcpy(data + done, p, n);
    cp_consume(c, n);
    done += n;
  }
  return done == 0 && err ? -1 : (int)done;
}

static int cp_gets(BIO *b, char *data, int size)
{
  return gets_line(BIO_get_data(b), cp_peek, cp_consume, data, size);
}

static int cp_write(BIO *b, const char *data, int len)
{
  return -1;
}

static long cp_ctrl(BIO *b, int cmd, long num, void *ptr)
{
  CanonEntity *c = BIO_get_data(b);
  const CanonSeg *s = &g_array_index(c->segs, CanonSeg, c->seg);
  switch (cmd) {
  case BIO_CTRL_RESET:
    num = 0;
    /* fall through */
  case BIO_C_FILE_SEEK:
    if (num != 0)
      return -1;
    c->seg = 0;
    c->text_off = 0;
    c->in_content = FALSE;
    c->out_len = c->out_off = 0;
    return 0;
  case BIO_CTRL_EOF:
    return !c->in_content && s->content == NULL && c->text_off == s->text_end;
  case BIO_CTRL_PENDING:
    return (long)(c->in_content ? c->out_len - c->out_off : s->text_end - c->text_off);
  case BIO_CTRL_FLUSH:
    return 1;
  case BIO_C_GET_FD:
    return -1;
  default:
    return 0;
  }
}

static int cp_create(BIO *b)
{
  CanonEntity *c = g_new0(CanonEntity, 1);
  c->text = g_byte_array_new();
  c->segs = g_array_new(FALSE, FALSE, sizeof(CanonSeg));
  g_array_set_clear_func(c->segs, canon_seg_clear);
  c->in = g_malloc(FILE_BUF_SIZE);
  c->out = g_malloc(2 * FILE_BUF_SIZE);
  BIO_set_data(b, c);
  return 1;
}

static int cp_destroy(BIO *b)
{
  CanonEntity *c = BIO_get_data(b);
  if (c == NULL)
    return 1;
  g_byte_array_unref(c->text);
  g_array_unref(c->segs);
  g_free(c->in);
  g_free(c->out);
  g_free(c);
  BIO_set_data(b, NULL);
  BIO_set_init(b, 0);
  return 1;
}

static BIO_METHOD *cp_method(void)
{
  static gsize once = 0;
  static BIO_METHOD *m = NULL;
  if (g_once_init_enter(&once)) {
    m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "tessera canonical entity");
    BIO_meth_set_write(m, cp_write);
    BIO_meth_set_read(m, cp_read);
    BIO_meth_set_gets(m, cp_gets);
    BIO_meth_set_ctrl(m, cp_ctrl);
    BIO_meth_set_create(m, cp_create);
    BIO_meth_set_destroy(m, cp_destroy);
    g_once_init_leave(&once, 1);
  }
  return m;
}

/* The first needle[0, m) in hay[0, n), or NULL. */
static const char *find_bytes(const char *hay, size_t n, const char *needle, size_t m)
{
  const char *end = hay + n;
  for (const char *p = hay; m > 0 && (size_t)(end - p) >= m; p++) {
    p = memchr(p, needle[0], (size_t)(end - p) - m + 1);
    if (p == NULL)
      return NULL;
    if (memcmp(p, needle, m) == 0)
      return p;
  }
  return NULL;
}

#define NONCE_LEN 32

/* Splits layout (the entity with markers) into b's text and segments;
 * FALSE if the markers are not where they must be. */
static gboolean split_layout(CanonEntity *c, const char *data, size_t len, const char *nonce,
                             GArray *leaves)
{
  size_t from = 0;
  for (guint i = 0; i < leaves->len; i++) {
    PlainLeaf *l = &g_array_index(leaves, PlainLeaf, i);
    g_autofree char *marker = g_strdup_printf("%s-%u.%s", nonce, i, l->ends_in_lf ? "\r\n" : "");
    size_t mlen = strlen(marker);
    const char *at = find_bytes(data + from, len - from, nonce, NONCE_LEN);
    if (at == NULL || at == data || at[-1] != '\n' || (size_t)(data + len - at) < mlen ||
        memcmp(at, marker, mlen) != 0)
      return FALSE;
    g_byte_array_append(c->text, (const guint8 *)data + from, (guint)((size_t)(at - data) - from));
    CanonSeg seg = { c->text->len, g_object_ref(l->content) };
    g_array_append_val(c->segs, seg);
    from = (size_t)(at - data) + mlen;
  }
  if (find_bytes(data + from, len - from, nonce, NONCE_LEN) != NULL)
    return FALSE;
  g_byte_array_append(c->text, (const guint8 *)data + from, (guint)(len - from));
  CanonSeg last = { c->text->len, NULL };
  g_array_append_val(c->segs, last);
  return TRUE;
}

/* The canonical entity as a BIO that makes it while it is read; NULL and
 * *fallback if the entity is not made of plain parts (see above). */
static BIO *canon_entity_bio(GMimeObject *entity, gboolean *fallback, GError **error)
{
  *fallback = TRUE;
  g_autoptr(GArray) leaves = g_array_new(FALSE, FALSE, sizeof(PlainLeaf));
  g_array_set_clear_func(leaves, plain_leaf_clear);
  if (!collect_leaves(entity, leaves) || leaves->len == 0)
    return NULL;
  g_autoptr(BIO) layout = BIO_new(BIO_s_mem());
  g_autoptr(BIO) b = layout ? BIO_new(cp_method()) : NULL;
  if (b == NULL) {
    *fallback = FALSE;
    smime_set_ossl_error(error, SMIME_ERROR_CRYPTO, "cannot make a BIO");
    return NULL;
  }
  /* Any nonce does: one that is in the message is found too often. */
  char nonce[NONCE_LEN + 1];
  for (int i = 0; i < NONCE_LEN / 8; i++)
    g_snprintf(nonce + 8 * i, 9, "%08" G_GINT32_MODIFIER "x", g_random_int());
  for (guint i = 0; i < leaves->len; i++) {
    PlainLeaf *l = &g_array_index(leaves, PlainLeaf, i);
    g_autofree char *marker = g_strdup_printf("%s-%u.%s", nonce, i, l->ends_in_lf ? "\n" : "");
    GMimeStream *mem = g_mime_stream_mem_new_with_buffer(marker, strlen(marker));
    g_mime_data_wrapper_set_stream(l->dw, mem);
    g_object_unref(mem);
  }
  gboolean ok = write_crlf(entity, layout);
  for (guint i = 0; i < leaves->len; i++) {
    PlainLeaf *l = &g_array_index(leaves, PlainLeaf, i);
    g_mime_data_wrapper_set_stream(l->dw, l->content);
  }
  if (!ok) {
    *fallback = FALSE;
    g_set_error(error, SMIME_ERROR, SMIME_ERROR_INPUT, "cannot write the MIME entity");
    return NULL;
  }
  char *data = NULL;
  long len = BIO_get_mem_data(layout, &data);
  if (!split_layout(BIO_get_data(b), data, (size_t)MAX(len, 0), nonce, leaves))
    return NULL;
  BIO_set_init(b, 1);
  *fallback = FALSE;
  return g_steal_pointer(&b);
}

/* Writes obj with CRLF line ends into a fresh temporary BIO. */
static BIO *write_canonical(GMimeObject *obj, GError **error)
{
  g_autoptr(BIO) b = smime_tmp_bio(error);
  if (b == NULL)
    return NULL;
  if (!write_crlf(obj, b)) {
    g_set_error(error, SMIME_ERROR, SMIME_ERROR_INPUT, "cannot write the MIME entity");
    return NULL;
  }
  return smime_rewind(b, error) ? g_steal_pointer(&b) : NULL;
}

BIO *smime_entity_bio(GMimeObject *entity, gboolean encode_7bit, GError **error)
{
  if (encode_7bit)
    g_mime_object_encode(entity, GMIME_ENCODING_CONSTRAINT_7BIT);
  gboolean fallback;
  BIO *b = canon_entity_bio(entity, &fallback, error);
  return b || !fallback ? b : write_canonical(entity, error);
}

BIO *smime_part_content_bio(GMimePart *part, GError **error)
{
  GMimeDataWrapper *dw = g_mime_part_get_content(part);
  if (dw == NULL) {
    g_set_error(error, SMIME_ERROR, SMIME_ERROR_INPUT, "the %s part has no content",
                "S/MIME");
    return NULL;
  }
  int fd = tmp_fd(error);
  if (fd < 0)
    return NULL;
  GMimeStream *fs = g_mime_stream_fs_new(fd);
  g_mime_stream_fs_set_owner(GMIME_STREAM_FS(fs), FALSE);
  gboolean ok = g_mime_data_wrapper_write_to_stream(dw, fs) >= 0 && g_mime_stream_flush(fs) == 0;
  g_object_unref(fs);
  if (!ok) {
    close(fd);
    g_set_error(error, SMIME_ERROR, SMIME_ERROR_INPUT, "cannot decode the S/MIME part");
    return NULL;
  }
  BIO *b = BIO_new_fd(fd, BIO_CLOSE);
  if (b == NULL || !smime_rewind(b, error)) {
    if (b)
      BIO_free(b);
    else
      close(fd);
    return NULL;
  }
  return b;
}

/* ---- CRLF → LF output filter ----
 * Collects its output in a buffer (so that the sink sees large writes);
 * a CR at the end of one write waits for the next. */

typedef struct {
  gboolean pending_cr;
  size_t used;
  char buf[FILE_BUF_SIZE];
} LfState;

static gboolean lf_drain(BIO *b, LfState *st)
{
  BIO *next = BIO_next(b);
  if (st->used > 0 && (next == NULL || BIO_write(next, st->buf, (int)st->used) != (int)st->used))
    return FALSE;
  st->used = 0;
  return TRUE;
}

static gboolean lf_put(BIO *b, LfState *st, const char *data, size_t len)
{
  while (len > 0) {
    if (st->used == sizeof(st->buf) && !lf_drain(b, st))
      return FALSE;
    size_t n = MIN(len, sizeof(st->buf) - st->used);
    memcpy(st->buf + st->used, data, n);
    st->used += n;
    data += n;
    len -= n;
  }
  return TRUE;
}

static int lf_write(BIO *b, const char *data, int len)
{
  LfState *st = BIO_get_data(b);
  if (BIO_next(b) == NULL || len < 0)
    return -1;
  const char *p = data, *end = data + len;
  if (st->pending_cr && p < end) {
    st->pending_cr = FALSE;
    if (*p != '\n' && !lf_put(b, st, "\r", 1))
      return -1;
  }
  while (p < end) {
    const char *cr = memchr(p, '\r', (size_t)(end - p));
    if (!lf_put(b, st, p, (size_t)((cr ? cr : end) - p)))
      return -1;
    if (cr == NULL)
      break;
    if (cr + 1 == end) {
      st->pending_cr = TRUE;
    } else if (cr[1] != '\n' && !lf_put(b, st, "\r", 1)) {
      return -1;
    }
    p = cr + 1;
  }
  return len;
}

static int lf_puts(BIO *b, const char *s)
{
  return lf_write(b, s, (int)strlen(s));
}

static long lf_ctrl(BIO *b, int cmd, long num, void *ptr)
{
  BIO *next = BIO_next(b);
  if (next == NULL)
    return 0;
  if (cmd == BIO_CTRL_FLUSH && !lf_drain(b, BIO_get_data(b)))
    return 0;
  if (cmd == BIO_CTRL_WPENDING)
    return (long)((LfState *)BIO_get_data(b))->used + BIO_ctrl(next, cmd, num, ptr);
  return BIO_ctrl(next, cmd, num, ptr);
}

static int lf_create(BIO *b)
{
  LfState *st = g_new(LfState, 1);
  st->pending_cr = FALSE;
  st->used = 0;
  BIO_set_data(b, st);
  BIO_set_init(b, 1);
  return 1;
}

static int lf_destroy(BIO *b)
{
  LfState *st = BIO_get_data(b);
  if (st && BIO_next(b)) {
    (void)lf_drain(b, st);
    if (st->pending_cr)
      BIO_write(BIO_next(b), "\r", 1);
  }
  g_free(st);
  BIO_set_data(b, NULL);
  return 1;
}

static BIO_METHOD *lf_method(void)
{
  static BIO_METHOD *m = NULL;
  if (m == NULL) {
    m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_FILTER, "tessera CRLF to LF");
    BIO_meth_set_write(m, lf_write);
    BIO_meth_set_puts(m, lf_puts);
    BIO_meth_set_ctrl(m, lf_ctrl);
    BIO_meth_set_create(m, lf_create);
    BIO_meth_set_destroy(m, lf_destroy);
  }
  return m;
}

BIO *smime_lf_filter_new(void)
{
  return BIO_new(lf_method());
}

BIO *smime_output_open(const char *path, gboolean crlf, GError **error)
{
  BIO *sink = path == NULL || strcmp(path, "-") == 0 ? BIO_new_fp(stdout, BIO_NOCLOSE)
                                                      : BIO_new_file(path, "wb");
  if (sink == NULL) {
    smime_set_ossl_error(error, SMIME_ERROR_INPUT, "cannot open %s for writing", path);
    return NULL;
  }
  if (crlf)
    return sink;
  return BIO_push(smime_lf_filter_new(), sink);
}

gboolean smime_output_close(BIO *out, GError **error)
{
  gboolean ok = BIO_flush(out) == 1;
  BIO_free_all(out);
  if (fflush(stdout) != 0)
    ok = FALSE;
  if (!ok)
    g_set_error(error, SMIME_ERROR, SMIME_ERROR_INPUT, "cannot write the output");
  return ok;
}

gboolean smime_bio_copy(BIO *in, BIO *out, GError **error)
{
  char buf[65536];
  int n;
  while ((n = BIO_read(in, buf, sizeof(buf))) > 0) {
    if (BIO_write(out, buf, n) != n) {
      smime_set_ossl_error(error, SMIME_ERROR_INPUT, "cannot write the output");
      return FALSE;
    }
  }
  /* A read error is not the end: the copy would be short. (An empty
   * memory BIO says "retry".) */
  if (n < 0 && !BIO_should_retry(in)) {
    smime_set_ossl_error(error, SMIME_ERROR_INPUT, "cannot read the input");
    return FALSE;
  }
  return TRUE;
}

GPtrArray *smime_cert_emails(X509 *cert)
{
  GPtrArray *out = g_ptr_array_new_with_free_func(g_free);
  STACK_OF(OPENSSL_STRING) *emails = X509_get1_email(cert);
  for (int i = 0; i < sk_OPENSSL_STRING_num(emails); i++)
    g_ptr_array_add(out, g_ascii_strdown(sk_OPENSSL_STRING_value(emails, i), -1));
  X509_email_free(emails);
  return out;
}

gboolean smime_cert_has_email(X509 *cert, const char *address)
{
  if (address == NULL)
    return FALSE;
  g_autoptr(GPtrArray) emails = smime_cert_emails(cert);
  for (guint i = 0; i < emails->len; i++)
    if (g_ascii_strcasecmp(emails->pdata[i], address) == 0)
      return TRUE;
  return FALSE;
}
