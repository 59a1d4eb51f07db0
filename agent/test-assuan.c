/* Unit tests: Assuan command lines and response parsing. */
#include "assuan.h"

#include <gio/gio.h>
#include <string.h>

#define ELLIPSIS "\xe2\x80\xa6"

/* The escaped text of a command line, decoded as D data: what the server
 * gets. */
static TesseraSecret *decode_text(const char *line)
{
  const char *space = strchr(line, ' ');
  g_assert_nonnull(space);
  g_autofree char *as_data = g_strconcat("D ", space + 1, NULL);
  TesseraSecret *out = tessera_secret_new(4 * ASSUAN_LINE_MAX);
  AssuanResponse r;
  g_autoptr(GError) error = NULL;
  g_assert_true(assuan_parse_response(as_data, strlen(as_data), out, &r, &error));
  g_assert_no_error(error);
  g_assert_cmpint(r.kind, ==, ASSUAN_RESPONSE_DATA);
  return out;
}

static void assert_fits_line(const char *line)
{
  g_assert_cmpuint(strlen(line) + 1, <=, ASSUAN_LINE_MAX);
  g_assert_true(g_utf8_validate(line, -1, NULL));
  for (const char *p = line; *p != '\0'; p++)
    g_assert_cmpint((guchar)*p, >=, 0x20);
}

static void test_escape(void)
{
  static const struct {
    const char *text, *line;
  } cases[] = {
    { "Enter the PIN", "SETDESC Enter the PIN" },
    { "100%", "SETDESC 100%25" },
    { "line 1\nline 2\r\n", "SETDESC line 1%0Aline 2%0D%0A" },
    { "tab\there\x01\x1f\x7f", "SETDESC tab%09here%01%1F%7F" },
    { "back\\slash\\", "SETDESC back%5Cslash%5C" },
    { "Gr\xc3\xbc\xc3\x9f \xe2\x82\xac", "SETDESC Gr\xc3\xbc\xc3\x9f \xe2\x82\xac" },
    { "%25", "SETDESC %2525" },
  };
  for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
    g_autofree char *line = assuan_command_with_text("SETDESC", cases[i].text);
    g_assert_cmpstr(line, ==, cases[i].line);
  }
  g_autofree char *bare = assuan_command_with_text("SETDESC", NULL);
  g_assert_cmpstr(bare, ==, "SETDESC");
  g_autofree char *empty = assuan_command_with_text("SETPROMPT", "");
  g_assert_cmpstr(empty, ==, "SETPROMPT");
}

static void test_escape_round_trip(void)
{
  g_autoptr(GString) all = g_string_new(NULL);
  for (int c = 1; c < 0x80; c++)
    g_string_append_c(all, (char)c);
  g_string_append(all, "\xc3\xa9\xe2\x82\xac\xf0\x9f\x94\x91"); /* é € 🔑 */
  const char *texts[] = { "PIN for \"My Token\" (serial 0042)", "%%%\n\n\r%0A", all->str };
  for (size_t i = 0; i < G_N_ELEMENTS(texts); i++) {
    g_autofree char *line = assuan_command_with_text("SETDESC", texts[i]);
    assert_fits_line(line);
    g_autoptr(TesseraSecret) back = decode_text(line);
    g_assert_cmpmem(back->data, back->len, texts[i], strlen(texts[i]));
  }
}

static void test_invalid_utf8_is_replaced(void)
{
  g_autofree char *line = assuan_command_with_text("SETDESC", "a\xff\xfe" "b\xc3");
  assert_fits_line(line);
  g_assert_true(g_str_has_prefix(line, "SETDESC a"));
}

/* Cut texts: within the limit, at a character boundary, marked. */
static void check_cut(const char *unit, size_t repeat)
{
  g_autoptr(GString) text = g_string_new(NULL);
  for (size_t i = 0; i < repeat; i++)
    g_string_append(text, unit);
  g_autofree char *line = assuan_command_with_text("SETDESC", text->str);
  assert_fits_line(line);
  g_assert_true(g_str_has_suffix(line, ELLIPSIS));
  /* What is left decodes to a prefix of the text. */
  g_autoptr(TesseraSecret) back = decode_text(line);
  size_t kept = back->len - strlen(ELLIPSIS);
  g_assert_cmpmem(back->data, kept, text->str, kept);
  g_assert_true(g_utf8_validate((const char *)back->data, (gssize)kept, NULL));
  if (g_utf8_strlen(unit, -1) == 1) {
    /* Whole characters, and none dropped that would have fitted. */
    g_assert_cmpuint(kept % strlen(unit), ==, 0);
    g_autofree char *unit_line = assuan_command_with_text("X", unit);
    size_t unit_escaped = strlen(unit_line) - 2;
    g_assert_cmpuint(strlen(line) + 1 + unit_escaped, >, ASSUAN_LINE_MAX);
  }
}

static void test_line_limit(void)
{
  check_cut("a", 5000);
  check_cut("\xc3\xa9", 1000);         /* 2-byte characters */
  check_cut("\xe2\x82\xac", 1000);     /* 3-byte */
  check_cut("\xf0\x9f\x94\x91", 1000); /* 4-byte */
  check_cut("%", 1000);                /* every byte escaped */
  check_cut("a\n", 1000);

  /* Exactly at the limit: whole, no mark. One byte more: cut. */
  size_t room = ASSUAN_LINE_MAX - 1 - strlen("SETDESC ");
  g_autofree char *fits = g_strnfill(room, 'x');
  g_autofree char *line = assuan_command_with_text("SETDESC", fits);
  g_assert_cmpuint(strlen(line) + 1, ==, ASSUAN_LINE_MAX);
  g_assert_false(g_str_has_suffix(line, ELLIPSIS));
  g_autofree char *over = g_strnfill(room + 1, 'x');
  g_autofree char *cut = assuan_command_with_text("SETDESC", over);
  g_assert_true(g_str_has_suffix(cut, ELLIPSIS));
  assert_fits_line(cut);
}

static void test_option(void)
{
  g_autofree char *tty = assuan_option("ttyname", "/dev/pts/3");
  g_assert_cmpstr(tty, ==, "OPTION ttyname=/dev/pts/3");
  g_autofree char *term = assuan_option("ttytype", "xterm-256color");
  g_assert_cmpstr(term, ==, "OPTION ttytype=xterm-256color");
  g_assert_null(assuan_option("ttyname", ""));
  g_assert_null(assuan_option("ttyname", "/dev/pts/3\nGETPIN"));
  g_assert_null(assuan_option("ttyname", "/dev/pts/3\r"));
  g_assert_null(assuan_option("ttyname", " /dev/pts/3"));
  g_assert_null(assuan_option("ttyname", "\xff"));
  g_autofree char *huge = g_strnfill(ASSUAN_LINE_MAX, 'x');
  g_assert_null(assuan_option("ttyname", huge));
}

static AssuanResponse parse_ok(const char *line, TesseraSecret *data)
{
  AssuanResponse r;
  g_autoptr(GError) error = NULL;
  gboolean ok = assuan_parse_response(line, strlen(line), data, &r, &error);
  g_assert_no_error(error);
  g_assert_true(ok);
  return r;
}

static void assert_text(const AssuanResponse *r, const char *text)
{
  g_assert_cmpmem(r->text, r->text_len, text, strlen(text));
}

static void test_parse_responses(void)
{
  AssuanResponse r = parse_ok("OK", NULL);
  g_assert_cmpint(r.kind, ==, ASSUAN_RESPONSE_OK);
  assert_text(&r, "");
  r = parse_ok("OK Pleased to meet you", NULL);
  g_assert_cmpint(r.kind, ==, ASSUAN_RESPONSE_OK);
  assert_text(&r, "Pleased to meet you");
  r = parse_ok("OK\r", NULL);
  g_assert_cmpint(r.kind, ==, ASSUAN_RESPONSE_OK);

  r = parse_ok("ERR 83886179 Operation cancelled <Pinentry>", NULL);
  g_assert_cmpint(r.kind, ==, ASSUAN_RESPONSE_ERR);
  g_assert_cmpuint(r.code, ==, 83886179);
  g_assert_cmpuint(ASSUAN_GPG_ERR_CODE(r.code), ==, ASSUAN_GPG_ERR_CANCELED);
  assert_text(&r, "Operation cancelled <Pinentry>");
  r = parse_ok("ERR 83886142", NULL);
  g_assert_cmpuint(ASSUAN_GPG_ERR_CODE(r.code), ==, ASSUAN_GPG_ERR_TIMEOUT);
  assert_text(&r, "");
  r = parse_ok("ERR 4294967295 max", NULL);
  g_assert_cmpuint(r.code, ==, 4294967295u);
  /* Another error source, same code. */
  r = parse_ok("ERR 67108978 Not confirmed", NULL);
  g_assert_cmpuint(ASSUAN_GPG_ERR_CODE(r.code), ==, ASSUAN_GPG_ERR_NOT_CONFIRMED);

  r = parse_ok("S PASSWORD_FROM_CACHE", NULL);
  g_assert_cmpint(r.kind, ==, ASSUAN_RESPONSE_STATUS);
  assert_text(&r, "PASSWORD_FROM_CACHE");
  r = parse_ok("S _X 1 2", NULL);
  g_assert_cmpint(r.kind, ==, ASSUAN_RESPONSE_STATUS);
  r = parse_ok("# a comment", NULL);
  g_assert_cmpint(r.kind, ==, ASSUAN_RESPONSE_COMMENT);
  assert_text(&r, "a comment");
  r = parse_ok("#", NULL);
  g_assert_cmpint(r.kind, ==, ASSUAN_RESPONSE_COMMENT);
  r = parse_ok("INQUIRE QUALITY 1234", NULL);
  g_assert_cmpint(r.kind, ==, ASSUAN_RESPONSE_INQUIRE);
  assert_text(&r, "QUALITY 1234");
}

static void test_parse_data(void)
{
  g_autoptr(TesseraSecret) pin = tessera_secret_new(64);
  AssuanResponse r = parse_ok("D 12%2534", pin);
  g_assert_cmpint(r.kind, ==, ASSUAN_RESPONSE_DATA);
  g_assert_cmpmem(pin->data, pin->len, "12%34", 5);
  /* Further lines append; escapes in either case; raw non-ASCII. */
  parse_ok("D %0a%0D\xc3\xa9", pin);
  parse_ok("D ", pin);
  parse_ok("D %00", pin);
  g_assert_cmpmem(pin->data, pin->len, "12%34\n\r\xc3\xa9\0", 10);
  g_assert_cmpint(pin->data[pin->len], ==, 0);

  /* Without a buffer the line is still checked. */
  r = parse_ok("D %41", NULL);
  g_assert_cmpint(r.kind, ==, ASSUAN_RESPONSE_DATA);
  assert_text(&r, "%41");
}

static void assert_refused(const char *line, size_t len)
{
  g_autoptr(TesseraSecret) data = tessera_secret_new(8);
  (void)tessera_secret_append(data, "ab", 2);
  AssuanResponse r = { .kind = ASSUAN_RESPONSE_OK, .text = NULL };
  g_autoptr(GError) error = NULL;
  if (assuan_parse_response(line, len, data, &r, &error))
    g_error("accepted: %.*s", (int)MIN(len, 80), line);
  g_assert_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA);
  /* Nothing appended, nothing returned. */
  g_assert_cmpmem(data->data, data->len, "ab", 2);
  g_assert_null(r.text);
}

static void test_parse_malformed(void)
{
  static const char *const lines[] = {
    "", "\r", "O", "OKAY", "ok", " OK", "OK\rX", "\rOK", "ERR", "ERR ", "ERR x", "ERR 12x",
    "ERR -1", "ERR 4294967296", "ERR 99999999999 big", "ERR  83886179", "D", "Dx", "D %",
    "D %4", "D 12%", "D %G0", "D %0G", "D %%41", "D 123456789", /* over the capacity */
    "S", "S ", "S 1BAD", "INQUIRE", "INQUIRE ", "INQUIRE 9", "END", "BYE", "PIN 1234",
    "\xff\xfe", "\x01OK",
  };
  for (size_t i = 0; i < G_N_ELEMENTS(lines); i++)
    assert_refused(lines[i], strlen(lines[i]));
  /* NUL bytes, wherever they are. */
  assert_refused("OK\0", 3);
  assert_refused("D 12\0" "34", 7);
  assert_refused("\0", 1);
}

static void test_parse_line_limit(void)
{
  /* A data line of the largest accepted length, LF included. */
  size_t max = ASSUAN_RECV_LINE_MAX - 1;
  g_autofree char *line = g_malloc(max + 2);
  memcpy(line, "D ", 2);
  memset(line + 2, 'x', max);
  g_autoptr(TesseraSecret) data = tessera_secret_new(2 * max);
  AssuanResponse r;
  g_assert_true(assuan_parse_response(line, max, data, &r, NULL));
  g_assert_cmpuint(data->len, ==, max - 2);
  /* One byte more is refused, also as a comment or an OK. */
  assert_refused(line, max + 1);
  line[0] = '#';
  assert_refused(line, max + 1);
  memcpy(line, "OK ", 3);
  assert_refused(line, max + 1);
}

static void test_text_for_display(void)
{
  g_autofree char *a = assuan_text_for_display("Timeout <Pinentry>", 18);
  g_assert_cmpstr(a, ==, "Timeout <Pinentry>");
  g_autofree char *b = assuan_text_for_display("bad\x1b[31m\x7f\xff\0x", 12);
  g_assert_true(g_utf8_validate(b, -1, NULL));
  for (const char *p = b; *p != '\0'; p++)
    g_assert_cmpint((guchar)*p, >=, 0x20);
  g_assert_true(g_str_has_prefix(b, "bad?[31m?"));
  g_autofree char *c = assuan_text_for_display("", 0);
  g_assert_cmpstr(c, ==, "");
}

int main(int argc, char **argv)
{
  g_test_init(&argc, &argv, NULL);
  g_test_add_func("/assuan/escape", test_escape);
  g_test_add_func("/assuan/escape-round-trip", test_escape_round_trip);
  g_test_add_func("/assuan/invalid-utf8", test_invalid_utf8_is_replaced);
  g_test_add_func("/assuan/line-limit", test_line_limit);
  g_test_add_func("/assuan/option", test_option);
  g_test_add_func("/assuan/parse", test_parse_responses);
  g_test_add_func("/assuan/parse-data", test_parse_data);
  g_test_add_func("/assuan/parse-malformed", test_parse_malformed);
  g_test_add_func("/assuan/parse-line-limit", test_parse_line_limit);
  g_test_add_func("/assuan/text-for-display", test_text_for_display);
  return g_test_run();
}
