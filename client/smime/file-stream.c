/* tessera smime — the message file as a GMime stream.
 * GMime's fs stream seeks before every read and reads what it is asked
 * for (the parser: 4 KB), so a 100 MB message costs 50,000 system calls to
 * parse and as many again to write out. This stream reads with pread
 * (no seeks) and reads ahead SMIME_BUF_SIZE. The parser's substreams (the
 * parts' contents, by offset) share the fd; each reads ahead only while it
 * is being read and frees its buffer at its end. */

#include "streams.h"

#include <errno.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

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
    if (len >= SMIME_BUF_SIZE) { /* straight into the caller's buffer */
      ssize_t n = pread_some(fs->fd, data, len, pos);
      if (n > 0)
        stream->position += n;
      fs->eof = n == 0;
      return n;
    }
    size_t ahead = SMIME_BUF_SIZE;
    if (stream->bound_end != -1)
      ahead = (size_t)MIN((gint64)ahead, stream->bound_end - pos);
    if (fs->buf == NULL)
      fs->buf = g_malloc(SMIME_BUF_SIZE);
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

GMimeStream *smime_file_stream_new(int fd)
{
  SmimeFileStream *fs = g_object_new(smime_file_stream_get_type(), NULL);
  fs->fd = fd;
  off_t at = lseek(fd, 0, SEEK_CUR);
  g_mime_stream_construct(&fs->parent, at < 0 ? 0 : (gint64)at, -1);
  return &fs->parent;
}
