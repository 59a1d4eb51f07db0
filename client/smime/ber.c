/* tessera smime — EnvelopedData / AuthEnvelopedData split into a small
 * CMS structure (everything but the encrypted content) and a BIO that
 * streams the encrypted content from the file, so that OpenSSL decrypts
 * it as detached content and memory stays bounded whatever the message
 * size (d2i_CMS_bio would read all of it). BER as senders write it:
 * definite or indefinite lengths, primitive or chunked content. */
#include "streams.h"

#include <string.h>
#include <unistd.h>

#define MAX_SMALL (16u << 20) /* any element but the content */

typedef struct {
  int fd;
  off_t size;
} Src;

/* Reads a tag and length at *pos; *pos moves past them. */
static gboolean read_tl(const Src *s, off_t *pos, guint8 *tag, gboolean *indef, guint64 *len)
{
  guint8 b[2];
  if (*pos + 2 > s->size || pread(s->fd, b, 2, *pos) != 2)
    return FALSE;
  if ((b[0] & 0x1f) == 0x1f)
    return FALSE; /* high tag numbers: not in CMS */
  *tag = b[0];
  off_t hl = 2;
  *indef = FALSE;
  if (b[1] < 0x80) {
    *len = b[1];
  } else if (b[1] == 0x80) {
    if (!(b[0] & 0x20))
      return FALSE; /* indefinite primitive */
    *indef = TRUE;
    *len = 0;
  } else {
    unsigned n = b[1] & 0x7f;
    guint8 l[8];
    if (n > 8 || pread(s->fd, l, n, *pos + 2) != (ssize_t)n)
      return FALSE;
    *len = 0;
    for (unsigned i = 0; i < n; i++)
      *len = (*len << 8) | l[i];
    hl += n;
  }
  *pos += hl;
  if (!*indef && *len > (guint64)(s->size - *pos))
    return FALSE;
  return TRUE;
}

/* Moves *pos past one element (indefinite ones by their contents). */
static gboolean skip_element(const Src *s, off_t *pos, int depth)
{
  guint8 tag;
  gboolean indef;
  guint64 len;
  if (depth > 64 || !read_tl(s, pos, &tag, &indef, &len))
    return FALSE;
  if (!indef) {
    *pos += (off_t)len;
    return TRUE;
  }
  for (;;) {
    off_t at = *pos;
    guint8 t2;
    gboolean i2;
    guint64 l2;
    if (!read_tl(s, &at, &t2, &i2, &l2))
      return FALSE;
    if (t2 == 0 && l2 == 0 && !i2) {
      *pos = at;
      return TRUE;
    }
    if (!skip_element(s, pos, depth + 1))
      return FALSE;
  }
}

/* Appends one whole element (at most MAX_SMALL bytes) to out. */
static gboolean copy_element(const Src *s, off_t *pos, GByteArray *out)
{
  off_t start = *pos;
  if (!skip_element(s, pos, 0) || *pos - start > (off_t)MAX_SMALL)
    return FALSE;
  guint old = out->len;
  g_byte_array_set_size(out, old + (guint)(*pos - start));
  return pread(s->fd, out->data + old, (size_t)(*pos - start), start) == *pos - start;
}

static gboolean at_eoc(const Src *s, off_t pos)
{
  guint8 b[2];
  return pread(s->fd, b, 2, pos) == 2 && b[0] == 0 && b[1] == 0;
}

static void append_tl(GByteArray *out, guint8 tag, gsize len)
{
  guint8 h[10];
  gsize n = 0;
  h[n++] = tag;
  if (len < 0x80) {
    h[n++] = (guint8)len;
  } else {
    guint8 tmp[8];
    int k = 0;
    for (gsize v = len; v; v >>= 8)
      tmp[k++] = (guint8)v;
    h[n++] = (guint8)(0x80 | k);
    while (k)
      h[n++] = tmp[--k];
  }
  g_byte_array_append(out, h, (guint)n);
}

static void append_wrapped(GByteArray *out, guint8 tag, const GByteArray *body)
{
  append_tl(out, tag, body->len);
  g_byte_array_append(out, body->data, body->len);
}

/* ---- the content BIO ---- */

typedef struct {
  Src src;
  off_t pos;
  guint64 left;      /* bytes left in the current chunk */
  gboolean chunked;  /* constructed [0]: OCTET STRING chunks */
  off_t end;         /* chunked, definite: where the chunks end; -1 = indefinite */
  int depth;         /* nested indefinite constructed OCTET STRINGs */
  gboolean done;
} ContentState;

static int content_read(BIO *b, char *buf, int size)
{
  ContentState *st = BIO_get_data(b);
  BIO_clear_retry_flags(b);
  while (!st->done && st->left == 0) {
    if (!st->chunked || (st->end >= 0 && st->pos >= st->end)) {
      st->done = TRUE;
      break;
    }
    guint8 tag;
    gboolean indef;
    guint64 len;
    if (!read_tl(&st->src, &st->pos, &tag, &indef, &len))
      return -1;
    if (tag == 0 && len == 0 && !indef) {
      if (st->depth == 0)
        st->done = TRUE;
      else
        st->depth--;
    } else if (tag == 0x04) {
      st->left = len;
    } else if (tag == 0x24) {
      if (indef)
        st->depth++;
    } else {
      return -1;
    }
  }
  if (st->done || size <= 0)
    return 0;
  size_t want = st->left < (guint64)size ? (size_t)st->left : (size_t)size;
  ssize_t n = pread(st->src.fd, buf, want, st->pos);
  if (n <= 0)
    return -1;
  st->pos += n;
  st->left -= (guint64)n;
  return (int)n;
}

static long content_ctrl(BIO *b, int cmd, long num, void *ptr)
{
  ContentState *st = BIO_get_data(b);
  switch (cmd) {
  case BIO_CTRL_EOF: return st->done;
  case BIO_CTRL_FLUSH: return 1;
  default: return 0;
  }
}

static int content_create(BIO *b)
{
  BIO_set_data(b, NULL);
  BIO_set_init(b, 1);
  return 1;
}

static int content_destroy(BIO *b)
{
  ContentState *st = BIO_get_data(b);
  if (st && st->src.fd >= 0)
    close(st->src.fd);
  g_free(st);
  BIO_set_data(b, NULL);
  return 1;
}

static SmimeBioKind content_kind = {
  .type = BIO_TYPE_SOURCE_SINK,
  .name = "tessera CMS content",
  .read = content_read,
  .ctrl = content_ctrl,
  .create = content_create,
  .destroy = content_destroy,
};

/* ---- the split ---- */

/* ContentInfo { oid, [0] EnvelopedData { before, SEQ { eci }, after } },
 * definite lengths (the parts inside may stay BER). */
static GByteArray *build_detached(const GByteArray *oid, const GByteArray *before,
                                  const GByteArray *eci, const GByteArray *after)
{
  g_autoptr(GByteArray) eci_seq = g_byte_array_new();
  append_wrapped(eci_seq, 0x30, eci);
  g_autoptr(GByteArray) ed_body = g_byte_array_new();
  g_byte_array_append(ed_body, before->data, before->len);
  g_byte_array_append(ed_body, eci_seq->data, eci_seq->len);
  g_byte_array_append(ed_body, after->data, after->len);
  g_autoptr(GByteArray) ed = g_byte_array_new();
  append_wrapped(ed, 0x30, ed_body);
  g_autoptr(GByteArray) ci_body = g_byte_array_new();
  g_byte_array_append(ci_body, oid->data, oid->len);
  append_wrapped(ci_body, 0xa0, ed);
  GByteArray *ci = g_byte_array_new();
  append_wrapped(ci, 0x30, ci_body);
  return ci;
}

static const guint8 oid_enveloped[] = { 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x07, 0x03 };
static const guint8 oid_auth_enveloped[] = { 0x06, 0x0b, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d,
                                             0x01, 0x09, 0x10, 0x01, 0x17 };

static const guint8 oid_signed[] = { 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x07, 0x02 };

static gboolean oid_is(const GByteArray *oid, const guint8 *want, size_t len)
{
  return oid->len == len && memcmp(oid->data, want, len) == 0;
}

CMS_ContentInfo *smime_split_content(OSSL_LIB_CTX *libctx, BIO *der, BIO **content)
{
  *content = NULL;
  Src s = { -1, 0 };
  if (BIO_get_fd(der, &s.fd) < 0 || (s.size = lseek(s.fd, 0, SEEK_END)) < 0)
    return NULL;
  off_t pos = 0;
  guint8 tag;
  gboolean indef;
  guint64 len;
  g_autoptr(GByteArray) oid = g_byte_array_new();
  g_autoptr(GByteArray) before = g_byte_array_new(); /* EnvelopedData up to the content info */
  g_autoptr(GByteArray) eci = g_byte_array_new();    /* contentType, algorithm */
  g_autoptr(GByteArray) after = g_byte_array_new();  /* what follows the content info */
  if (!read_tl(&s, &pos, &tag, &indef, &len) || tag != 0x30 || !copy_element(&s, &pos, oid))
    return NULL;
  /* SignedData: encapContentInfo { eContentType, [0] { OCTET STRING } };
   * (Auth)EnvelopedData: (auth)encryptedContentInfo { contentType,
   * algorithm, [0] IMPLICIT OCTET STRING }. Either after the first SET
   * (digestAlgorithms / recipientInfos). */
  gboolean is_signed = oid_is(oid, oid_signed, sizeof(oid_signed));
  if (!is_signed && !oid_is(oid, oid_enveloped, sizeof(oid_enveloped)) &&
      !oid_is(oid, oid_auth_enveloped, sizeof(oid_auth_enveloped)))
    return NULL;
  if (!read_tl(&s, &pos, &tag, &indef, &len) || tag != 0xa0)
    return NULL;
  gboolean ed_indef;
  guint64 ed_len;
  if (!read_tl(&s, &pos, &tag, &ed_indef, &ed_len) || tag != 0x30)
    return NULL;
  off_t ed_end = ed_indef ? -1 : pos + (off_t)ed_len;
  gboolean seen_ris = FALSE, seen_eci = FALSE;
  ContentState *st = g_new0(ContentState, 1);
  st->src = s;
  for (;;) {
    if ((ed_end >= 0 && pos >= ed_end) || (ed_end < 0 && at_eoc(&s, pos)))
      break;
    off_t at = pos;
    if (!read_tl(&s, &at, &tag, &indef, &len))
      goto fail;
    if (tag == 0x31)
      seen_ris = TRUE;
    if (tag == 0x30 && seen_ris && !seen_eci) {
      seen_eci = TRUE;
      gboolean eci_indef = indef;
      off_t eci_end = indef ? -1 : at + (off_t)len;
      pos = at;
      if (!copy_element(&s, &pos, eci) || (!is_signed && !copy_element(&s, &pos, eci)))
        goto fail; /* contentType (and contentEncryptionAlgorithm) */
      off_t c = pos;
      if ((eci_end >= 0 && c >= eci_end) || (eci_end < 0 && at_eoc(&s, c)))
        goto fail; /* already detached */
      gboolean wrap_indef = FALSE;
      if (is_signed) { /* [0] EXPLICIT around the OCTET STRING */
        if (!read_tl(&s, &c, &tag, &wrap_indef, &len) || tag != 0xa0)
          goto fail;
      }
      off_t elem = c; /* the content's own header */
      if (!read_tl(&s, &c, &tag, &indef, &len))
        goto fail;
      if (is_signed && (tag == 0x04 || tag == 0x24))
        tag = tag == 0x04 ? 0x80 : 0xa0; /* the same content, universal tag */
      if (tag == 0x80) {
        st->pos = c;
        st->left = len;
        pos = c + (off_t)len;
        if (len == 0)
          st->done = TRUE;
      } else if (tag == 0xa0) {
        st->chunked = TRUE;
        st->pos = c;
        st->end = indef ? -1 : c + (off_t)len;
        pos = elem;
        if (!skip_element(&s, &pos, 0))
          goto fail;
      } else {
        goto fail;
      }
      if (wrap_indef) {
        if (!at_eoc(&s, pos))
          goto fail;
        pos += 2;
      }
      if (eci_indef) {
        if (!at_eoc(&s, pos))
          goto fail;
        pos += 2;
      } else if (pos != eci_end) {
        goto fail;
      }
      continue;
    }
    if (!copy_element(&s, &pos, seen_eci ? after : before))
      goto fail;
  }
  if (!seen_eci)
    goto fail;
  GByteArray *ci = build_detached(oid, before, eci, after);
  CMS_ContentInfo *cms = CMS_ContentInfo_new_ex(libctx, NULL);
  const unsigned char *p = ci->data;
  gboolean parsed = cms && d2i_CMS_ContentInfo(&cms, &p, (long)ci->len) != NULL;
  g_byte_array_unref(ci);
  if (!parsed) {
    CMS_ContentInfo_free(cms);
    goto fail;
  }
  BIO *b = BIO_new(smime_bio_method(&content_kind));
  st->src.fd = dup(s.fd); /* the BIO outlives der */
  if (b == NULL || st->src.fd < 0) {
    if (st->src.fd >= 0)
      close(st->src.fd);
    BIO_free(b);
    CMS_ContentInfo_free(cms);
    goto fail;
  }
  BIO_set_data(b, st);
  *content = b;
  return cms;
fail:
  g_free(st);
  return NULL;
}
