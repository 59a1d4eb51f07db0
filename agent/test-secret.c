/* Unit tests: locked secret buffers. */
#include "secret.h"

#include <string.h>

static void test_append_within_capacity(void)
{
  g_autoptr(TesseraSecret) s = tessera_secret_new(8);
  g_assert_nonnull(s);
  g_assert_true(tessera_secret_append(s, "1234", 4));
  g_assert_true(tessera_secret_append(s, "5678", 4));
  g_assert_cmpmem(s->data, s->len, "12345678", 8);
  g_assert_cmpint(s->data[s->len], ==, 0);
  /* Full: nothing more goes in, and what is there stays. */
  g_assert_false(tessera_secret_append(s, "9", 1));
  g_assert_cmpuint(s->len, ==, 8);
}

static void test_large_secret_spans_pages(void)
{
  g_autoptr(TesseraSecret) s = tessera_secret_new(10000);
  g_autofree guint8 *fill = g_malloc(10000);
  memset(fill, 0x5a, 10000);
  g_assert_true(tessera_secret_append(s, fill, 10000));
  g_assert_cmpmem(s->data, s->len, fill, 10000);
}

static void test_equal_compares_length_and_bytes(void)
{
  g_autoptr(TesseraSecret) a = tessera_secret_new_from("123456", 6);
  g_autoptr(TesseraSecret) b = tessera_secret_new_from("123456", 6);
  g_autoptr(TesseraSecret) c = tessera_secret_new_from("123457", 6);
  g_autoptr(TesseraSecret) d = tessera_secret_new_from("12345", 5);
  g_assert_true(tessera_secret_equal(a, b));
  g_assert_false(tessera_secret_equal(a, c));
  g_assert_false(tessera_secret_equal(a, d));
}

static void test_pages_are_locked(void)
{
  /* Root in CI, and RLIMIT_MEMLOCK allows a page for everyone else. */
  g_autoptr(TesseraSecret) s = tessera_secret_new(64);
  g_assert_true(tessera_secret_is_locked(s));
}

int main(int argc, char **argv)
{
  g_test_init(&argc, &argv, NULL);
  g_test_add_func("/secret/append", test_append_within_capacity);
  g_test_add_func("/secret/large", test_large_secret_spans_pages);
  g_test_add_func("/secret/equal", test_equal_compares_length_and_bytes);
  g_test_add_func("/secret/locked", test_pages_are_locked);
  return g_test_run();
}
