/* tessera smime — output: stdout or a file, through a CRLF → LF filter.
 * The filter collects its output in a buffer (so that the sink sees large writes);
 * a CR at the end of one write waits for the next. */

#include "streams.h"

#include <stdio.h>
#include <string.h>

typedef struct {
  gboolean pending_cr;
  size_t used;
  char buf[SMIME_BUF_SIZE];
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

static SmimeBioKind lf_kind = {
  .type = BIO_TYPE_FILTER,
  .name = "tessera CRLF to LF",
  .write = lf_write,
  .puts = lf_puts,
  .ctrl = lf_ctrl,
  .create = lf_create,
  .destroy = lf_destroy,
};

BIO *smime_lf_filter_new(void)
{
  return BIO_new(smime_bio_method(&lf_kind));
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
