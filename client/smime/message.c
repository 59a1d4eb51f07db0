/* tessera smime — RFC 5322 messages: reading them with GMime, the outer
 * headers, the canonical (CRLF) MIME entity, temporary files and output. */
#include "smime.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/err.h>
#include <stdio.h>
#include <string.h>
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

BIO *smime_tmp_bio(GError **error)
{
  int fd = tmp_fd(error);
  if (fd < 0)
    return NULL;
  BIO *b = BIO_new_fd(fd, BIO_CLOSE);
  if (b == NULL) {
    close(fd);
    smime_set_ossl_error(error, SMIME_ERROR_CRYPTO, "cannot make a BIO");
  }
  return b;
}

/* Rewinds a temporary BIO for reading. */
static gboolean rewind_bio(BIO *b, GError **error)
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
  GMimeStream *stream = g_mime_stream_fs_new(fd); /* owns fd */
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

/* Writes obj through a unix2dos filter into a fresh temporary BIO. */
static BIO *write_canonical(GMimeObject *obj, GError **error)
{
  int fd = tmp_fd(error);
  if (fd < 0)
    return NULL;
  GMimeStream *fs = g_mime_stream_fs_new(fd);
  g_mime_stream_fs_set_owner(GMIME_STREAM_FS(fs), FALSE);
  GMimeStream *filtered = g_mime_stream_filter_new(fs);
  GMimeFilter *crlf = g_mime_filter_unix2dos_new(FALSE);
  g_mime_stream_filter_add(GMIME_STREAM_FILTER(filtered), crlf);
  g_object_unref(crlf);
  gssize n = g_mime_object_write_to_stream(obj, NULL, filtered);
  gboolean ok = n >= 0 && g_mime_stream_flush(filtered) == 0;
  g_object_unref(filtered);
  g_object_unref(fs);
  if (!ok) {
    close(fd);
    g_set_error(error, SMIME_ERROR, SMIME_ERROR_INPUT, "cannot write the MIME entity");
    return NULL;
  }
  BIO *b = BIO_new_fd(fd, BIO_CLOSE);
  if (b == NULL || !rewind_bio(b, error)) {
    if (b)
      BIO_free(b);
    else
      close(fd);
    return NULL;
  }
  return b;
}

BIO *smime_entity_bio(GMimeObject *entity, gboolean encode_7bit, GError **error)
{
  if (encode_7bit)
    g_mime_object_encode(entity, GMIME_ENCODING_CONSTRAINT_7BIT);
  return write_canonical(entity, error);
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
  if (b == NULL || !rewind_bio(b, error)) {
    if (b)
      BIO_free(b);
    else
      close(fd);
    return NULL;
  }
  return b;
}

/* ---- CRLF → LF output filter ---- */

typedef struct {
  gboolean pending_cr;
} LfState;

static int lf_write(BIO *b, const char *data, int len)
{
  LfState *st = BIO_get_data(b);
  BIO *next = BIO_next(b);
  if (next == NULL || len < 0)
    return -1;
  char buf[8192];
  int used = 0;
  for (int i = 0; i < len; i++) {
    char ch = data[i];
    if (st->pending_cr) {
      st->pending_cr = FALSE;
      if (ch != '\n')
        buf[used++] = '\r';
    }
    if (ch == '\r') {
      st->pending_cr = TRUE;
    } else {
      buf[used++] = ch;
    }
    if (used >= (int)sizeof(buf) - 2 || i == len - 1) {
      if (used > 0 && BIO_write(next, buf, used) != used)
        return -1;
      used = 0;
    }
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
  return next ? BIO_ctrl(next, cmd, num, ptr) : 0;
}

static int lf_create(BIO *b)
{
  BIO_set_data(b, g_new0(LfState, 1));
  BIO_set_init(b, 1);
  return 1;
}

static int lf_destroy(BIO *b)
{
  LfState *st = BIO_get_data(b);
  if (st && st->pending_cr && BIO_next(b))
    BIO_write(BIO_next(b), "\r", 1);
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
