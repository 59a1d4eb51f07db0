/* tessera fuzz — the Assuan parser and line builder against arbitrary
 * bytes (libFuzzer).
 *
 * The input is split at LF as the pinentry client splits what a pinentry
 * sends, and each line is parsed, data lines decoding into one secret as
 * during a GETPIN. Every line is parsed a second time without a secret:
 * the verdict must not depend on it. Then the input is taken as dialog
 * text and as an option value: what is built from it must fit one line,
 * carry no control bytes, and decode back to (a prefix of) the text.
 */
#include "assuan.h"

#include <gio/gio.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A broken invariant must crash, so libFuzzer keeps the input. */
#define CHECK(cond)                                                                                \
  do {                                                                                             \
    if (!(cond)) {                                                                                 \
      fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond);                     \
      abort();                                                                                     \
    }                                                                                              \
  } while (0)

#define ELLIPSIS "\xe2\x80\xa6"

/* Mapped once: a fresh secret per input would be an mmap per run. */
static TesseraSecret *pin, *decoded;

static void reset(TesseraSecret *s)
{
  s->len = 0;
  s->data[0] = '\0';
}

static void check_line_fits(const char *line)
{
  CHECK(strlen(line) + 1 <= ASSUAN_LINE_MAX);
  CHECK(g_utf8_validate(line, -1, NULL));
  for (const char *p = line; *p != '\0'; p++)
    CHECK((unsigned char)*p >= 0x20 && *p != 0x7f);
}

static void parse_line(const char *line, size_t len)
{
  size_t before = pin->len;
  AssuanResponse r = { 0 }, bare = { 0 };
  GError *error = NULL, *bare_error = NULL;
  gboolean ok = assuan_parse_response(line, len, pin, &r, &error);
  gboolean bare_ok = assuan_parse_response(line, len, NULL, &bare, &bare_error);
  CHECK(ok == (error == NULL));
  CHECK(bare_ok == (bare_error == NULL));
  CHECK(pin->data[pin->len] == '\0');
  if (!ok) {
    CHECK(g_error_matches(error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA));
    CHECK(pin->len == before);
    /* Only a full secret may refuse what is fine without one. */
    CHECK(!bare_ok || bare.kind == ASSUAN_RESPONSE_DATA);
    g_error_free(error);
    g_clear_error(&bare_error);
    return;
  }
  CHECK(bare_ok && bare.kind == r.kind && bare.code == r.code && bare.text == r.text &&
        bare.text_len == r.text_len);
  CHECK(r.kind >= ASSUAN_RESPONSE_OK && r.kind <= ASSUAN_RESPONSE_INQUIRE);
  CHECK(r.text >= line && r.text_len <= len && r.text <= line + len - r.text_len);
  if (r.kind == ASSUAN_RESPONSE_DATA)
    CHECK(pin->len >= before && pin->len - before <= r.text_len);
  else
    CHECK(pin->len == before);
  char *shown = assuan_text_for_display(r.text, r.text_len);
  CHECK(g_utf8_validate(shown, -1, NULL));
  g_free(shown);
}

/* The whole input as SETDESC text: it decodes back to itself, or to a
 * prefix of itself marked as cut. */
static void build_command(const char *text)
{
  char *line = assuan_command_with_text("SETDESC", text);
  check_line_fits(line);
  char *valid = g_utf8_make_valid(text, -1);
  if (*valid == '\0') {
    CHECK(strcmp(line, "SETDESC") == 0);
  } else {
    CHECK(strncmp(line, "SETDESC ", 8) == 0);
    char *as_data = g_strconcat("D ", line + 8, NULL);
    AssuanResponse r;
    reset(decoded);
    CHECK(assuan_parse_response(as_data, strlen(as_data), decoded, &r, NULL));
    size_t n = decoded->len, whole = strlen(valid);
    if (n != whole || memcmp(decoded->data, valid, n) != 0) {
      CHECK(g_str_has_suffix(line, ELLIPSIS));
      n -= strlen(ELLIPSIS);
      CHECK(n < whole && memcmp(decoded->data, valid, n) == 0);
      CHECK(g_utf8_validate((const char *)decoded->data, (gssize)n, NULL));
    }
    g_free(as_data);
  }
  g_free(valid);
  g_free(line);

  /* As an option value: sent exactly as it is, or refused. */
  char *option = assuan_option("ttyname", text);
  if (option != NULL) {
    check_line_fits(option);
    CHECK(strncmp(option, "OPTION ttyname=", 15) == 0 && strcmp(option + 15, text) == 0);
    g_free(option);
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  if (pin == NULL) {
    pin = tessera_secret_new(4096);
    decoded = tessera_secret_new(4 * ASSUAN_LINE_MAX);
    CHECK(pin != NULL && decoded != NULL);
  }
  reset(pin);
  const char *p = (const char *)data, *end = p + size;
  while (p < end) {
    const char *lf = memchr(p, '\n', (size_t)(end - p));
    size_t len = lf != NULL ? (size_t)(lf - p) : (size_t)(end - p);
    parse_line(p, len);
    p += len + (lf != NULL);
  }

  char *text = g_strndup((const char *)data, size); /* up to a NUL */
  build_command(text);
  g_free(text);
  return 0;
}
