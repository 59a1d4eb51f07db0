/* tessera smime — the canonical (CRLF) MIME entity that is signed and
 * encrypted: GMime writes it, bare LF become CRLF. */

#include "streams.h"

#include <errno.h>
#include <string.h>

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
  char *in;             /* SMIME_BUF_SIZE */
  char *out;            /* 2 * SMIME_BUF_SIZE: canonical, not yet read */
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
                                                : g_mime_stream_read(s->content, c->in, SMIME_BUF_SIZE);
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
  return smime_gets_line(BIO_get_data(b), cp_peek, cp_consume, data, size);
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
  c->in = g_malloc(SMIME_BUF_SIZE);
  c->out = g_malloc(2 * SMIME_BUF_SIZE);
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

static SmimeBioKind cp_kind = {
  .type = BIO_TYPE_SOURCE_SINK,
  .name = "tessera canonical entity",
  .write = cp_write,
  .read = cp_read,
  .gets = cp_gets,
  .ctrl = cp_ctrl,
  .create = cp_create,
  .destroy = cp_destroy,
};

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
  g_autoptr(BIO) b = layout ? BIO_new(smime_bio_method(&cp_kind)) : NULL;
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
BIO *smime_canonical_by_gmime(GMimeObject *obj, GError **error)
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
  return b || !fallback ? b : smime_canonical_by_gmime(entity, error);
}
