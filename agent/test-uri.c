/* Unit tests: RFC 7512 URIs for tokens and keys. */
#include "uri.h"

static void test_token_uri_escapes(void)
{
  g_autofree char *uri = uri_for_token("My Card;1", "00A1");
  g_assert_cmpstr(uri, ==, "pkcs11:token=My%20Card%3B1;serial=00A1");
}

static void test_token_uri_without_serial(void)
{
  g_autofree char *uri = uri_for_token("t", "");
  g_assert_cmpstr(uri, ==, "pkcs11:token=t");
}

static void test_key_uri_encodes_every_id_byte(void)
{
  const guint8 id[] = { 0x01, 0x41, 0xff };
  g_autoptr(GBytes) ckaid = g_bytes_new(id, sizeof(id));
  g_autofree char *uri = uri_for_key("pkcs11:token=t", ckaid, "label");
  g_assert_cmpstr(uri, ==, "pkcs11:token=t;id=%01%41%FF;type=private");
}

static void test_key_uri_falls_back_to_label(void)
{
  g_autoptr(GBytes) empty = g_bytes_new(NULL, 0);
  g_autofree char *uri = uri_for_key("pkcs11:token=t", empty, "sign key/1");
  g_assert_cmpstr(uri, ==, "pkcs11:token=t;object=sign%20key%2F1;type=private");
}

int main(int argc, char **argv)
{
  g_test_init(&argc, &argv, NULL);
  g_test_add_func("/uri/token-escapes", test_token_uri_escapes);
  g_test_add_func("/uri/token-without-serial", test_token_uri_without_serial);
  g_test_add_func("/uri/key-id-bytes", test_key_uri_encodes_every_id_byte);
  g_test_add_func("/uri/key-label-fallback", test_key_uri_falls_back_to_label);
  return g_test_run();
}
