/* tessera smime — RFC 5322 messages: reading them with GMime, their
 * addresses and outer headers, a part's decoded content; the module's
 * errors. The canonical entity is canonical.c's, output output.c's. */
#include "streams.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/err.h>
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

SmimeMessage *smime_message_read(const char *path, GError **error)
{
  smime_mime_init();
  int fd;
  if (strcmp(path, "-") == 0) {
    fd = smime_tmp_fd(error);
    if (fd < 0)
      return NULL;
    if (!smime_copy_fd(STDIN_FILENO, fd, error) || lseek(fd, 0, SEEK_SET) < 0) {
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
  GMimeStream *stream = smime_file_stream_new(fd); /* owns fd */
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

BIO *smime_part_content_bio(GMimePart *part, GError **error)
{
  GMimeDataWrapper *dw = g_mime_part_get_content(part);
  if (dw == NULL) {
    g_set_error(error, SMIME_ERROR, SMIME_ERROR_INPUT, "the %s part has no content",
                "S/MIME");
    return NULL;
  }
  int fd = smime_tmp_fd(error);
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
