/* tessera smime — what its OpenSSL BIOs share: their methods, line reads,
 * and copying one BIO into another. */
#include "streams.h"

#include <string.h>

BIO_METHOD *smime_bio_method(SmimeBioKind *kind)
{
  if (g_once_init_enter(&kind->once)) {
    BIO_METHOD *m = BIO_meth_new(BIO_get_new_index() | kind->type, kind->name);
    if (m && kind->write)
      BIO_meth_set_write(m, kind->write);
    if (m && kind->read)
      BIO_meth_set_read(m, kind->read);
    if (m && kind->gets)
      BIO_meth_set_gets(m, kind->gets);
    if (m && kind->puts)
      BIO_meth_set_puts(m, kind->puts);
    if (m && kind->ctrl)
      BIO_meth_set_ctrl(m, kind->ctrl);
    if (m && kind->create)
      BIO_meth_set_create(m, kind->create);
    if (m && kind->destroy)
      BIO_meth_set_destroy(m, kind->destroy);
    kind->method = m;
    g_once_init_leave(&kind->once, 1);
  }
  return kind->method;
}

int smime_gets_line(void *src, SmimePeekFn peek, SmimeConsumeFn consume, char *data, int size)
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

