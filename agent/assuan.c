/* tessera-agent — Assuan command lines and response parsing (no I/O). */
#include "assuan.h"

#include <gio/gio.h>
#include <string.h>

#define ELLIPSIS "\xe2\x80\xa6" /* U+2026, marks a cut text */

/* Bytes that would break or change the line; the rest of the text, UTF-8
 * included, goes as it is. Every backslash is escaped so that none can end
 * up as the last byte, which Assuan reserves for line continuation. */
static gboolean needs_escape(guchar c)
{
  return c < 0x20 || c == 0x7f || c == '%' || c == '\\';
}

/* Appends valid UTF-8 text, escaped, while the line stays within max
 * bytes; FALSE when not all of it fitted. Stops before the first character
 * that does not fit, so neither a UTF-8 sequence nor a %XX is ever cut. */
static gboolean append_escaped(GString *line, const char *text, gsize max)
{
  for (const char *p = text; *p != '\0';) {
    const char *next = g_utf8_next_char(p);
    gsize n = (gsize)(next - p);
    gboolean escape = n == 1 && needs_escape((guchar)*p);
    gsize need = escape ? 3 : n;
    if (need > max - line->len)
      return FALSE;
    if (escape)
      g_string_append_printf(line, "%%%02X", (guchar)*p);
    else
      g_string_append_len(line, p, (gssize)n);
    p = next;
  }
  return TRUE;
}

char *assuan_command_with_text(const char *verb, const char *text)
{
  gsize max = ASSUAN_LINE_MAX - 1; /* room for the LF */
  g_return_val_if_fail(strlen(verb) + 1 + strlen(ELLIPSIS) <= max, NULL);
  GString *line = g_string_new(verb);
  if (text == NULL || *text == '\0')
    return g_string_free(line, FALSE);
  g_autofree char *valid = g_utf8_make_valid(text, -1);
  g_string_append_c(line, ' ');
  gsize start = line->len;
  if (!append_escaped(line, valid, max)) {
    g_string_truncate(line, start);
    (void)append_escaped(line, valid, max - strlen(ELLIPSIS));
    g_string_append(line, ELLIPSIS);
  }
  return g_string_free(line, FALSE);
}

char *assuan_option(const char *name, const char *value)
{
  size_t n = strlen(value);
  /* The server strips blanks around the value and refuses an empty one. */
  if (n == 0 || value[0] == ' ' || value[n - 1] == ' ' || !g_utf8_validate(value, -1, NULL))
    return NULL;
  for (const char *p = value; *p != '\0'; p++)
    if ((guchar)*p < 0x20 || *p == 0x7f)
      return NULL;
  char *line = g_strdup_printf("OPTION %s=%s", name, value);
  if (strlen(line) + 1 > ASSUAN_LINE_MAX) {
    g_free(line);
    return NULL;
  }
  return line;
}

static gboolean refuse(GError **error, const char *why)
{
  g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA, "malformed Assuan line: %s", why);
  return FALSE;
}

static int hex_value(char c)
{
  if (c >= '0' && c <= '9')
    return c - '0';
  if (c >= 'A' && c <= 'F')
    return c - 'A' + 10;
  if (c >= 'a' && c <= 'f')
    return c - 'a' + 10;
  return -1;
}

/* Checks every %XX of escaped data and counts the bytes it decodes to. */
static gboolean scan_data(const char *p, size_t n, size_t *decoded)
{
  size_t out = 0;
  for (size_t i = 0; i < n; out++) {
    if (p[i] != '%') {
      i++;
      continue;
    }
    if (n - i < 3 || hex_value(p[i + 1]) < 0 || hex_value(p[i + 2]) < 0)
      return FALSE;
    i += 3;
  }
  *decoded = out;
  return TRUE;
}

/* Appends data that scan_data accepted: literal runs at once, each escape
 * as its byte. */
static void append_data(TesseraSecret *s, const char *p, size_t n)
{
  uint8_t byte = 0;
  size_t i = 0;
  while (i < n) {
    size_t run = i;
    while (run < n && p[run] != '%')
      run++;
    if (run > i)
      (void)tessera_secret_append(s, p + i, run - i);
    if (run == n)
      break;
    byte = (uint8_t)(hex_value(p[run + 1]) << 4 | hex_value(p[run + 2]));
    (void)tessera_secret_append(s, &byte, 1);
    i = run + 3;
  }
  explicit_bzero(&byte, sizeof byte); /* a byte of the PIN */
}

/* Decimal uint32 filling all of p[0..n). */
static gboolean parse_code(const char *p, size_t n, uint32_t *code)
{
  if (n == 0 || n > 10)
    return FALSE;
  uint64_t v = 0;
  for (size_t i = 0; i < n; i++) {
    if (p[i] < '0' || p[i] > '9')
      return FALSE;
    v = v * 10 + (uint64_t)(p[i] - '0');
  }
  if (v > UINT32_MAX)
    return FALSE;
  *code = (uint32_t)v;
  return TRUE;
}

/* Status and inquiry keywords start with a letter or an underscore. */
static gboolean is_keyword_start(const char *p, size_t n)
{
  return n > 0 && (g_ascii_isalpha(p[0]) || p[0] == '_');
}

static gboolean verb_is(const char *line, size_t verb_len, const char *verb)
{
  return verb_len == strlen(verb) && memcmp(line, verb, verb_len) == 0;
}

gboolean assuan_parse_response(const char *line, size_t len, TesseraSecret *data,
                               AssuanResponse *response, GError **error)
{
  if (len > ASSUAN_RECV_LINE_MAX - 1)
    return refuse(error, "line too long");
  if (len > 0 && line[len - 1] == '\r')
    len--;
  if (len == 0)
    return refuse(error, "empty line");
  if (memchr(line, '\0', len) != NULL)
    return refuse(error, "NUL byte");
  if (memchr(line, '\r', len) != NULL)
    return refuse(error, "CR inside the line");

  if (line[0] == '#') {
    size_t skip = len > 1 && line[1] == ' ' ? 2 : 1;
    *response = (AssuanResponse){ ASSUAN_RESPONSE_COMMENT, 0, line + skip, len - skip };
    return TRUE;
  }

  const char *space = memchr(line, ' ', len);
  size_t verb_len = space != NULL ? (size_t)(space - line) : len;
  const char *rest = space != NULL ? space + 1 : line + len;
  size_t rest_len = len - (size_t)(rest - line);
  AssuanResponse r = { .text = rest, .text_len = rest_len };

  if (verb_is(line, verb_len, "OK")) {
    r.kind = ASSUAN_RESPONSE_OK;
  } else if (verb_is(line, verb_len, "ERR")) {
    const char *end = memchr(rest, ' ', rest_len);
    size_t code_len = end != NULL ? (size_t)(end - rest) : rest_len;
    if (!parse_code(rest, code_len, &r.code))
      return refuse(error, "ERR without a valid error code");
    r.kind = ASSUAN_RESPONSE_ERR;
    r.text = end != NULL ? end + 1 : rest + rest_len;
    r.text_len = rest_len - (size_t)(r.text - rest);
  } else if (verb_is(line, verb_len, "D")) {
    if (space == NULL)
      return refuse(error, "D without its space");
    size_t decoded = 0;
    if (!scan_data(rest, rest_len, &decoded))
      return refuse(error, "invalid %-escape in data");
    if (data != NULL && decoded > data->cap - data->len)
      return refuse(error, "more data than expected");
    if (data != NULL)
      append_data(data, rest, rest_len);
    r.kind = ASSUAN_RESPONSE_DATA;
  } else if (verb_is(line, verb_len, "S")) {
    if (!is_keyword_start(rest, rest_len))
      return refuse(error, "status line without a keyword");
    r.kind = ASSUAN_RESPONSE_STATUS;
  } else if (verb_is(line, verb_len, "INQUIRE")) {
    if (!is_keyword_start(rest, rest_len))
      return refuse(error, "INQUIRE without a keyword");
    r.kind = ASSUAN_RESPONSE_INQUIRE;
  } else {
    return refuse(error, "unknown response");
  }
  *response = r;
  return TRUE;
}

char *assuan_text_for_display(const char *text, size_t len)
{
  /* With a length, make_valid also replaces NUL bytes. */
  char *s = g_utf8_make_valid(text, (gssize)len);
  for (char *p = s; *p != '\0'; p++)
    if ((guchar)*p < 0x20 || *p == 0x7f)
      *p = '?';
  return s;
}
