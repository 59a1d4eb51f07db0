/* tessera tests — the canonical entity (client/smime/canonical.c).
 *
 * smime_entity_bio makes the CRLF entity that is signed while it is read
 * (the fast path) when the entity's leaves are parts stored as they are
 * sent, and otherwise has GMime write it through a CRLF stream into a
 * temporary file (smime_canonical_by_gmime). A signature over the fast
 * path's bytes is only checkable by other programs if those bytes are
 * exactly what GMime writes, so each case parses a message twice and
 * compares the fast BIO, read in 64 KB blocks, 1000-byte blocks, 100-byte
 * BIO_gets pieces and again after BIO_seek(b, 0), with the fallback's
 * bytes. Each case also checks which path was taken: the fast BIO has no
 * fd. Hand-written edge cases, ~200 seeded random MIME trees
 * (TESSERA_CANON_SEED and TESSERA_CANON_TREES override seed and count) and
 * the .eml files of fuzz/corpus-smime and tests/data/smime.
 */
#include "streams.h"

#include <glib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

typedef enum { PATH_FAST, PATH_FALLBACK, PATH_ANY } ExpectPath;

static guint comparisons;
/* The case being compared, for the messages of a failed assertion. */
static const char *checking;

#define check_that(cond)                                                    \
  do {                                                                      \
    if (!(cond)) {                                                          \
      g_printerr("%s: failed: %s\n", checking, #cond);                      \
      g_assert_not_reached();                                               \
    }                                                                       \
  } while (0)

static SmimeMessage *parse(const char *data, size_t len)
{
  int fd = memfd_create("test-canonical", MFD_CLOEXEC);
  g_assert_cmpint(fd, >=, 0);
  g_assert_cmpint(write(fd, data, len), ==, (ssize_t)len);
  g_assert_cmpint(lseek(fd, 0, SEEK_SET), ==, 0);
  return smime_message_read_fd(fd, "test input", NULL); /* owns fd */
}

/* Reads b to its end in blocks of block bytes. */
static GByteArray *read_blocks(BIO *b, int block)
{
  GByteArray *out = g_byte_array_new();
  g_autofree char *buf = g_malloc(block);
  int n;
  while ((n = BIO_read(b, buf, block)) > 0) {
    check_that(n <= block);
    g_byte_array_append(out, (guint8 *)buf, (guint)n);
  }
  check_that(n == 0); /* the end, not an error */
  return out;
}

/* Reads b to its end with BIO_gets: a line, or 99 bytes of a longer one. */
static GByteArray *read_lines(BIO *b)
{
  GByteArray *out = g_byte_array_new();
  char buf[100];
  int n;
  while ((n = BIO_gets(b, buf, sizeof(buf))) > 0) {
    check_that(n < (int)sizeof(buf) && buf[n] == '\0');
    /* One line at most: an LF only at the end. */
    check_that(memchr(buf, '\n', (size_t)n - 1) == NULL);
    /* A piece ends in LF unless the buffer was full or the entity ended. */
    if (buf[n - 1] != '\n' && n != (int)sizeof(buf) - 1)
      check_that(BIO_eof(b) == 1);
    g_byte_array_append(out, (guint8 *)buf, (guint)n);
  }
  check_that(n == 0);
  return out;
}

static void dump_hex(const char *label, const guint8 *p, size_t n)
{
  g_printerr("%s (%zu bytes):\n", label, n);
  for (size_t i = 0; i < n; i++)
    g_printerr("%02x%s", p[i], (i + 1) % 32 == 0 || i + 1 == n ? "\n" : "");
}

/* Fails the test, saying where got and want first differ, for what. */
static void compare(const char *what, const char *how, const GByteArray *got,
                    const GByteArray *want, const char *input, size_t input_len)
{
  if (got->len == want->len && memcmp(got->data, want->data, got->len) == 0)
    return;
  size_t at = 0;
  while (at < got->len && at < want->len && got->data[at] == want->data[at])
    at++;
  g_printerr("%s: the fast path (%s) differs from GMime's entity at byte %zu "
             "(fast %u bytes, GMime %u bytes)\n",
             what, how, at, got->len, want->len);
  size_t from = at > 64 ? at - 64 : 0;
  dump_hex("fast, from 64 bytes before", got->data + from, MIN(got->len - from, (size_t)160));
  dump_hex("GMime, from 64 bytes before", want->data + from, MIN(want->len - from, (size_t)160));
  if (input_len <= 4096)
    dump_hex("input", (const guint8 *)input, input_len);
  g_assert_cmpmem(got->data, got->len, want->data, want->len);
}

/* Parses data twice and compares the fast path's entity, read every way,
 * with GMime's. Returns whether the fast path was taken. */
static gboolean check_entity(const char *what, const char *data, size_t len, ExpectPath expect)
{
  g_autoptr(GError) error = NULL;
  checking = what;

  g_autoptr(SmimeMessage) mg = parse(data, len);
  g_assert_nonnull(mg);
  g_autoptr(BIO) gb = smime_canonical_by_gmime(g_mime_message_get_mime_part(mg->msg), &error);
  g_assert_no_error(error);
  g_assert_nonnull(gb);
  g_autoptr(GByteArray) want = read_blocks(gb, 64 * 1024);

  g_autoptr(SmimeMessage) mf = parse(data, len);
  g_assert_nonnull(mf);
  g_autoptr(BIO) fb = smime_entity_bio(g_mime_message_get_mime_part(mf->msg), FALSE, &error);
  g_assert_no_error(error);
  g_assert_nonnull(fb);
  gboolean fast = BIO_get_fd(fb, NULL) < 0;
  if (expect != PATH_ANY && fast != (expect == PATH_FAST)) {
    g_printerr("%s: expected the %s path\n", what, expect == PATH_FAST ? "fast" : "fallback");
    g_assert_cmpint(fast, ==, expect == PATH_FAST);
  }

  g_autoptr(GByteArray) big = read_blocks(fb, 64 * 1024);
  compare(what, "64 KB reads", big, want, data, len);
  check_that(BIO_seek(fb, 0) >= 0);
  g_autoptr(GByteArray) small = read_blocks(fb, 1000);
  compare(what, "1000-byte reads", small, want, data, len);
  check_that(BIO_seek(fb, 0) >= 0);
  g_autoptr(GByteArray) lines = read_lines(fb);
  compare(what, "BIO_gets", lines, want, data, len);
  check_that(BIO_seek(fb, 0) >= 0);
  g_autoptr(GByteArray) again = read_blocks(fb, 64 * 1024);
  compare(what, "reread after BIO_seek", again, want, data, len);

  /* The parse the fast path used still writes what it did (the contents
   * were put back after the markers). */
  g_autoptr(BIO) after = smime_canonical_by_gmime(g_mime_message_get_mime_part(mf->msg), &error);
  g_assert_no_error(error);
  g_autoptr(GByteArray) rewritten = read_blocks(after, 64 * 1024);
  compare(what, "GMime after the fast path", rewritten, want, data, len);

  comparisons++;
  return fast;
}

static void check_str(const char *what, const char *msg, ExpectPath expect)
{
  check_entity(what, msg, strlen(msg), expect);
}

/* A message: headers (LF) and body as given. */
static char *message(const char *part_headers, const char *body)
{
  return g_strconcat("From: a@example.org\nTo: b@example.org\nSubject: t\n"
                     "MIME-Version: 1.0\n",
                     part_headers, "\n", body, NULL);
}

static void check_text(const char *what, const char *body, ExpectPath expect)
{
  g_autofree char *m = message("Content-Type: text/plain; charset=us-ascii\n", body);
  check_str(what, m, expect);
}

/* ---- single parts ---- */

static void test_text_lf(void)
{
  check_text("LF", "one\ntwo\n\nthree\n", PATH_FAST);
}

static void test_text_crlf(void)
{
  check_str("CRLF",
            "From: a@example.org\r\nTo: b@example.org\r\nSubject: t\r\nMIME-Version: 1.0\r\n"
            "Content-Type: text/plain\r\n\r\none\r\ntwo\r\n\r\nthree\r\n",
            PATH_FAST);
}

static void test_text_mixed(void)
{
  check_text("mixed line ends", "one\r\ntwo\nthree\r\n\nfour\n\r\nfive\n", PATH_FAST);
  check_str("mixed header line ends",
            "From: a@example.org\r\nTo: b@example.org\nMIME-Version: 1.0\r\n"
            "Content-Type: text/plain\n\r\none\r\ntwo\n",
            PATH_FAST);
}

static void test_text_no_final_newline(void)
{
  check_text("no final newline", "one\ntwo", PATH_FAST);
  check_text("no final newline, CRLF before", "one\r\ntwo", PATH_FAST);
  check_text("one byte", "x", PATH_FAST);
  check_text("only LF", "\n", PATH_FAST);
  check_text("only CRLF", "\r\n", PATH_FAST);
  check_text("only LFs", "\n\n\n", PATH_FAST);
}

static void test_text_lone_cr(void)
{
  check_text("lone CR", "one\rtwo\nthree\r four\n", PATH_FAST);
  check_text("CR at a line's start", "\rone\n\r\n\rtwo\n", PATH_FAST);
  check_text("CR then no newline", "one\rtwo", PATH_FAST);
}

static void test_text_cr_cr_lf(void)
{
  check_text("CR CR LF", "one\r\r\ntwo\r\r\r\nthree\n", PATH_FAST);
  check_text("CR CR LF at the start", "\r\r\none\n", PATH_FAST);
  check_text("CR CR LF at the end", "one\r\r\n", PATH_FAST);
  check_text("CR LF LF CR CR LF", "a\r\n\n\r\r\nb\n", PATH_FAST);
}

/* Content ending in CR is left to GMime (the newline filter holds it). */
static void test_text_final_cr(void)
{
  check_text("final CR", "one\ntwo\r", PATH_FALLBACK);
  check_text("final CR CR", "one\r\r", PATH_FALLBACK);
}

static void test_quoted_printable(void)
{
  g_autofree char *m = message("Content-Type: text/plain; charset=utf-8\n"
                               "Content-Transfer-Encoding: quoted-printable\n",
                               "caf=C3=A9 soft=\nbreak=20\n=3D=0D=0A\r\nlast=");
  check_str("quoted-printable", m, PATH_FAST);
}

static void test_base64(void)
{
  g_autofree char *m = message("Content-Type: application/octet-stream\n"
                               "Content-Transfer-Encoding: base64\n",
                               "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8gISIjJCUmJygpKissLS4v\n"
                               "MDEyMzQ1Njc4OTo7PD0+P0BBQkNERUZHSElKS0xNTk9QUVJTVFVWV1hZWltcXV5f\r\n"
                               "YGFi\n");
  check_str("base64", m, PATH_FAST);
  g_autofree char *bad = message("Content-Type: application/octet-stream\n"
                                 "Content-Transfer-Encoding: base64\n",
                                 "not base64 at all\r\r\n--\n==\n");
  check_str("base64 that is not", bad, PATH_FAST);
}

/* Nothing to stream: GMime writes it. */
static void test_empty_body(void)
{
  check_text("empty body", "", PATH_FALLBACK);
  check_str("no blank line, no body",
            "From: a@example.org\nMIME-Version: 1.0\nContent-Type: text/plain\n", PATH_ANY);
}

/* ---- multiparts ---- */

static void test_multipart_mixed(void)
{
  g_autofree char *m = message(
    "Content-Type: multipart/mixed; boundary=\"=-b1\"\n",
    "--=-b1\n"
    "Content-Type: text/plain\n"
    "\n"
    "hello\n"
    "--=-b1\n"
    "Content-Type: application/octet-stream; name=a.bin\n"
    "Content-Disposition: attachment; filename=a.bin\n"
    "Content-Transfer-Encoding: base64\n"
    "\n"
    "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\n"
    "--=-b1--\n");
  check_str("multipart/mixed", m, PATH_FAST);
}

static void test_multipart_nested(void)
{
  g_autofree char *m = message(
    "Content-Type: multipart/mixed; boundary=outer\n",
    "--outer\n"
    "Content-Type: multipart/alternative; boundary=inner\n"
    "\n"
    "--inner\n"
    "Content-Type: text/plain\n"
    "\n"
    "plain\n"
    "--inner\n"
    "Content-Type: text/html\n"
    "Content-Transfer-Encoding: quoted-printable\n"
    "\n"
    "<p>html=3D</p>\n"
    "--inner--\n"
    "--outer\n"
    "Content-Type: text/plain\n"
    "\n"
    "after\n"
    "--outer--\n");
  check_str("nested multipart/alternative", m, PATH_FAST);
  /* GMime ends a part before the LF of "\n--boundary", so in an LF
   * message a CR LF there leaves content ending in CR: GMime's to write. */
  g_autofree char *cr = message("Content-Type: multipart/mixed; boundary=b\n",
                                "--b\nContent-Type: text/plain\n\nplain\r\n--b--\n");
  check_str("CR LF before a boundary", cr, PATH_ANY);
}

static void test_preamble_epilogue(void)
{
  g_autofree char *m = message(
    "Content-Type: multipart/mixed; boundary=b\n",
    "This is a preamble.\r\nSecond line\n"
    "\n"
    "--b\n"
    "Content-Type: text/plain\n"
    "\n"
    "body\n"
    "--b--\n"
    "epilogue\nmore\r\n");
  check_str("preamble and epilogue", m, PATH_FAST);
  g_autofree char *noend = message(
    "Content-Type: multipart/mixed; boundary=b\n",
    "--b\n"
    "Content-Type: text/plain\n"
    "\n"
    "body without a closing boundary");
  check_str("no closing boundary", noend, PATH_ANY);
}

static void test_boundary_like_line(void)
{
  g_autofree char *m = message(
    "Content-Type: multipart/mixed; boundary=bound\n",
    "--bound\n"
    "Content-Type: text/plain\n"
    "\n"
    "--boun\n"
    "-- bound\n"
    "--boundary-not\n"
    "---bound\n"
    "--bound-- not yet?\n"
    "--bound\n"
    "Content-Type: text/plain\n"
    "\n"
    "x\n"
    "--bound--\n");
  check_str("boundary-like lines", m, PATH_ANY);
}

/* The markers are a random nonce, "-", the leaf's index and "."; a body
 * that looks like one must not confuse the split. */
static void test_marker_lookalike(void)
{
  g_autofree char *m = message(
    "Content-Type: multipart/mixed; boundary=b\n",
    "--b\n"
    "Content-Type: text/plain\n"
    "\n"
    "0123456789abcdef0123456789abcdef-0.\n"
    "deadbeefdeadbeefdeadbeefdeadbeef-1.\n"
    "00000000000000000000000000000000-\n"
    "--b\n"
    "Content-Type: text/plain\n"
    "\n"
    "ffffffffffffffffffffffffffffffff-1.\n"
    "--b--\n");
  check_str("marker lookalike", m, PATH_FAST);
}

/* A part without content next to one with: the empty one is GMime's. */
static void test_empty_leaf(void)
{
  g_autofree char *m = message(
    "Content-Type: multipart/mixed; boundary=b\n",
    "--b\n"
    "Content-Type: text/plain\n"
    "\n"
    "--b\n"
    "Content-Type: text/plain\n"
    "\n"
    "x\n"
    "--b\n"
    "Content-Type: text/plain\n"
    "--b--\n");
  check_str("empty leaves", m, PATH_FAST);
}

/* ---- what must fall back ---- */

static void test_message_rfc822(void)
{
  g_autofree char *m = message(
    "Content-Type: multipart/mixed; boundary=b\n",
    "--b\n"
    "Content-Type: text/plain\n"
    "\n"
    "see attached\n"
    "--b\n"
    "Content-Type: message/rfc822\n"
    "\n"
    "From: c@example.org\n"
    "Subject: inner\n"
    "Content-Type: text/plain\n"
    "\n"
    "inner body\n"
    "--b--\n");
  check_str("message/rfc822", m, PATH_FALLBACK);
  g_autofree char *top = message("Content-Type: message/rfc822\n",
                                 "From: c@example.org\nSubject: inner\n\ninner\r\nbody\n");
  check_str("message/rfc822 alone", top, PATH_FALLBACK);
}

static void test_binary(void)
{
  g_autofree char *m = message("Content-Type: application/octet-stream\n"
                               "Content-Transfer-Encoding: binary\n",
                               "\x01\x02\r\n\xff\xfe\nend\n");
  check_str("binary", m, PATH_FALLBACK);
}

/* 8bit is stored as it is sent: the fast path takes it (only binary is
 * left to GMime). */
static void test_8bit(void)
{
  g_autofree char *m = message("Content-Type: text/plain; charset=utf-8\n"
                               "Content-Transfer-Encoding: 8bit\n",
                               "caf\xc3\xa9\r\n\xe2\x82\xac\n");
  check_str("8bit", m, PATH_FAST);
}

/* ---- size ---- */

static void test_long_lines(void)
{
  g_autoptr(GString) body = g_string_new(NULL);
  for (int i = 0; i < 3000; i++)
    g_string_append_c(body, (char)('a' + i % 26));
  g_string_append(body, "\n");
  for (int i = 0; i < 1500; i++)
    g_string_append(body, i % 100 == 99 ? "\r" : "xy");
  g_string_append(body, "\r\n");
  for (int i = 0; i < 1200; i++)
    g_string_append_c(body, '-');
  check_text("long lines", body->str, PATH_FAST);
}

/* 3 MB crosses the 64 KB buffers many times, a CR LF at some boundaries. */
static void test_large(void)
{
  g_autoptr(GString) body = g_string_sized_new(3u << 20);
  for (guint i = 0; body->len < (3u << 20); i++)
    g_string_append_printf(body, "%07u abcdefghijklmnopqrstuvwxyz0123456789 %s", i,
                           i % 3 == 0 ? "\r\n" : i % 3 == 1 ? "\n" : "\r\r\n");
  g_string_append(body, "last\n"); /* an LF, not CR LF, before the boundary */
  g_autofree char *parts = g_strconcat("--b\nContent-Type: text/plain\n\n", body->str,
                                       "--b\nContent-Type: text/plain\n\nend\n--b--\n", NULL);
  g_autofree char *m = message("Content-Type: multipart/mixed; boundary=b\n", parts);
  check_str("3 MB part", m, PATH_FAST);
  g_autofree char *single = message("Content-Type: text/plain\n", body->str);
  check_str("3 MB single part", single, PATH_FAST);

  /* 9 bytes a period, so that block boundaries, at whatever multiple of a
   * power of two, fall between CR and CR, CR and LF, CR CR and LF. */
  g_autoptr(GString) dense = g_string_sized_new(3u << 20);
  while (dense->len < (3u << 20))
    g_string_append(dense, "x\r\r\ny\r\nz\n");
  g_autofree char *dm = message("Content-Type: text/plain\n", dense->str);
  check_str("3 MB of CR CR LF and CR LF", dm, PATH_FAST);
}

/* ---- random MIME trees ---- */

static const char *const encodings[] = { NULL, "7bit", "quoted-printable", "base64" };

static void random_text(GRand *r, GString *out, guint max)
{
  static const char alphabet[] = "ab \t\r\n-=.";
  guint n = (guint)g_rand_int_range(r, 0, (gint32)max + 1);
  for (guint i = 0; i < n; i++)
    g_string_append_c(out, alphabet[g_rand_int_range(r, 0, sizeof(alphabet) - 1)]);
}

static const char *random_eol(GRand *r)
{
  return g_rand_int_range(r, 0, 4) == 0 ? "\r\n" : "\n";
}

static void random_body(GRand *r, GString *out, const char *enc, GPtrArray *boundaries)
{
  int kind = g_rand_int_range(r, 0, 6);
  if (enc && strcmp(enc, "base64") == 0 && kind < 3) {
    /* Real base64 of random bytes, in lines. */
    guint n = (guint)g_rand_int_range(r, 0, 400);
    g_autofree guchar *raw = g_malloc(n + 1);
    for (guint i = 0; i < n; i++)
      raw[i] = (guchar)g_rand_int_range(r, 0, 256);
    g_autofree char *b64 = g_base64_encode(raw, n);
    int width = g_rand_boolean(r) ? 76 : 64;
    for (size_t i = 0, len = strlen(b64); i < len; i += (size_t)width) {
      g_string_append_len(out, b64 + i, (gssize)MIN((size_t)width, len - i));
      g_string_append(out, random_eol(r));
    }
  } else if (kind == 3) {
    /* Lines, some of which look like a boundary. */
    int lines = g_rand_int_range(r, 0, 6);
    for (int i = 0; i < lines; i++) {
      if (boundaries->len > 0 && g_rand_int_range(r, 0, 4) == 0) {
        g_string_append(out, "--");
        g_string_append(out, boundaries->pdata[g_rand_int_range(r, 0, (gint32)boundaries->len)]);
        g_string_append(out, g_rand_boolean(r) ? "x" : " ");
      }
      random_text(r, out, 20);
      g_string_append(out, random_eol(r));
    }
  } else {
    random_text(r, out, kind == 5 ? 2000 : 60);
  }
  /* Ending in a newline or not. */
  if (g_rand_boolean(r))
    g_string_append(out, random_eol(r));
}

static void random_entity(GRand *r, GString *out, int depth, GPtrArray *boundaries, guint *serial)
{
  const char *eol = random_eol(r);
  if (depth < 3 && g_rand_int_range(r, 0, 3) == 0) {
    g_autofree char *boundary = g_strdup_printf("=_b%u", (*serial)++);
    g_string_append_printf(out, "Content-Type: multipart/%s; boundary=\"%s\"%s%s",
                           g_rand_boolean(r) ? "mixed" : "alternative", boundary, eol, eol);
    if (g_rand_boolean(r)) /* preamble */
      random_body(r, out, NULL, boundaries);
    g_ptr_array_add(boundaries, boundary);
    int children = g_rand_int_range(r, 1, 5);
    for (int i = 0; i < children; i++) {
      g_string_append_printf(out, "%s--%s%s", i == 0 && g_rand_boolean(r) ? "" : eol, boundary,
                             random_eol(r));
      random_entity(r, out, depth + 1, boundaries, serial);
    }
    g_ptr_array_remove_index(boundaries, boundaries->len - 1);
    if (g_rand_int_range(r, 0, 8) != 0) { /* sometimes no closing boundary */
      g_string_append_printf(out, "%s--%s--", eol, boundary);
      if (g_rand_boolean(r)) {
        g_string_append(out, random_eol(r));
        if (g_rand_boolean(r)) /* epilogue */
          random_body(r, out, NULL, boundaries);
      }
    }
    return;
  }
  const char *enc = encodings[g_rand_int_range(r, 0, G_N_ELEMENTS(encodings))];
  g_string_append_printf(out, "Content-Type: text/plain%s", eol);
  if (enc)
    g_string_append_printf(out, "Content-Transfer-Encoding: %s%s", enc, eol);
  g_string_append(out, random_eol(r));
  random_body(r, out, enc, boundaries);
}

static guint env_uint(const char *name, guint dflt)
{
  const char *v = g_getenv(name);
  return v && *v ? (guint)g_ascii_strtoull(v, NULL, 0) : dflt;
}

static void test_random_trees(void)
{
  guint32 seed = env_uint("TESSERA_CANON_SEED", 0x7e55e7a);
  guint trees = env_uint("TESSERA_CANON_TREES", 200);
  g_autoptr(GRand) r = g_rand_new_with_seed(seed);
  guint fast = 0;
  for (guint t = 0; t < trees; t++) {
    g_autoptr(GString) m = g_string_new("From: a@example.org\nTo: b@example.org\n"
                                        "MIME-Version: 1.0\n");
    g_autoptr(GPtrArray) boundaries = g_ptr_array_new();
    guint serial = 0;
    random_entity(r, m, 0, boundaries, &serial);
    g_autofree char *what = g_strdup_printf("random tree %u of seed 0x%x "
                                            "(TESSERA_CANON_SEED=0x%x)",
                                            t, seed, seed);
    fast += check_entity(what, m->str, m->len, PATH_ANY);
  }
  g_test_message("%u random trees with seed 0x%x, %u by the fast path", trees, seed, fast);
  /* Most trees are plain parts: the comparison is of something. */
  g_assert_cmpuint(fast, >=, trees / 2);
}

/* ---- committed messages ---- */

static void check_dir(const char *dir, guint *files, guint *fast)
{
  g_autoptr(GDir) d = g_dir_open(dir, 0, NULL);
  g_assert_nonnull(d);
  const char *name;
  while ((name = g_dir_read_name(d)) != NULL) {
    g_autofree char *path = g_build_filename(dir, name, NULL);
    if (g_file_test(path, G_FILE_TEST_IS_DIR)) {
      check_dir(path, files, fast);
      continue;
    }
    if (!g_str_has_suffix(name, ".eml"))
      continue;
    g_autofree char *data = NULL;
    gsize len = 0;
    g_assert_true(g_file_get_contents(path, &data, &len, NULL));
    g_autoptr(SmimeMessage) probe = parse(data, len);
    if (probe == NULL) /* not a message */
      continue;
    *fast += check_entity(path, data, len, PATH_ANY);
    (*files)++;
  }
}

static void test_corpus(void)
{
  guint files = 0, fast = 0;
  check_dir(TESSERA_SOURCE_ROOT "/fuzz/corpus-smime", &files, &fast);
  check_dir(TESSERA_SOURCE_ROOT "/tests/data/smime", &files, &fast);
  g_test_message("%u committed messages, %u by the fast path", files, fast);
  g_assert_cmpuint(files, >, 0);
}

int main(int argc, char **argv)
{
  g_test_init(&argc, &argv, NULL);
  smime_mime_init();
  g_test_add_func("/canonical/text/lf", test_text_lf);
  g_test_add_func("/canonical/text/crlf", test_text_crlf);
  g_test_add_func("/canonical/text/mixed", test_text_mixed);
  g_test_add_func("/canonical/text/no-final-newline", test_text_no_final_newline);
  g_test_add_func("/canonical/text/lone-cr", test_text_lone_cr);
  g_test_add_func("/canonical/text/cr-cr-lf", test_text_cr_cr_lf);
  g_test_add_func("/canonical/text/final-cr", test_text_final_cr);
  g_test_add_func("/canonical/encoding/quoted-printable", test_quoted_printable);
  g_test_add_func("/canonical/encoding/base64", test_base64);
  g_test_add_func("/canonical/text/empty", test_empty_body);
  g_test_add_func("/canonical/multipart/mixed", test_multipart_mixed);
  g_test_add_func("/canonical/multipart/nested", test_multipart_nested);
  g_test_add_func("/canonical/multipart/preamble-epilogue", test_preamble_epilogue);
  g_test_add_func("/canonical/multipart/boundary-like", test_boundary_like_line);
  g_test_add_func("/canonical/multipart/marker-lookalike", test_marker_lookalike);
  g_test_add_func("/canonical/multipart/empty-leaf", test_empty_leaf);
  g_test_add_func("/canonical/fallback/message-rfc822", test_message_rfc822);
  g_test_add_func("/canonical/fallback/binary", test_binary);
  g_test_add_func("/canonical/encoding/8bit", test_8bit);
  g_test_add_func("/canonical/size/long-lines", test_long_lines);
  g_test_add_func("/canonical/size/3mb", test_large);
  g_test_add_func("/canonical/random", test_random_trees);
  g_test_add_func("/canonical/corpus", test_corpus);
  int rc = g_test_run();
  g_printerr("# %u entities compared\n", comparisons);
  return rc;
}
