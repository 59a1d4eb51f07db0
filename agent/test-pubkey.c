/* Unit tests: SPKI built from PKCS#11 attributes matches OpenSSL's. */
#include "messages.h"
#include "pubkey.h"

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>
#include <openssl/ec.h>
#include <openssl/x509.h>

G_DEFINE_AUTOPTR_CLEANUP_FUNC(EVP_PKEY, EVP_PKEY_free)

static GBytes *spki_of(EVP_PKEY *pkey)
{
  unsigned char *der = NULL;
  int n = i2d_PUBKEY(pkey, &der);
  g_assert_cmpint(n, >, 0);
  GBytes *b = g_bytes_new(der, (gsize)n);
  OPENSSL_free(der);
  return b;
}

static GBytes *bn_param(EVP_PKEY *pkey, const char *name)
{
  BIGNUM *bn = NULL;
  g_assert_true(EVP_PKEY_get_bn_param(pkey, name, &bn));
  gsize n = (gsize)BN_num_bytes(bn);
  guint8 *buf = g_malloc(n);
  BN_bn2bin(bn, buf);
  BN_free(bn);
  return g_bytes_new_take(buf, n);
}

/* The SPKI built from attributes is OpenSSL's own, and describes itself. */
static void assert_same_key(GBytes *built, EVP_PKEY *pkey, uint8_t want_type, uint32_t want_bits)
{
  g_autoptr(GBytes) expected = spki_of(pkey);
  g_assert_nonnull(built);
  g_assert_true(g_bytes_equal(built, expected));
  uint8_t type;
  uint32_t bits;
  gsize size;
  g_assert_true(pubkey_describe(built, &type, &bits, &size));
  g_assert_cmpuint(type, ==, want_type);
  g_assert_cmpuint(bits, ==, want_bits);
  g_assert_cmpuint(size, ==, (want_bits + 7) / 8);
}

static void test_rsa_from_attributes(void)
{
  g_autoptr(EVP_PKEY) pkey = EVP_RSA_gen(2048);
  g_autoptr(GBytes) n = bn_param(pkey, OSSL_PKEY_PARAM_RSA_N);
  g_autoptr(GBytes) e = bn_param(pkey, OSSL_PKEY_PARAM_RSA_E);
  g_autoptr(GBytes) built = pubkey_spki_from_rsa(n, e);
  assert_same_key(built, pkey, TPROTO_KEY_RSA, 2048);
}

/* CKA_EC_POINT comes DER-wrapped (the spec) or raw (some modules). */
static void check_ec(gboolean wrapped)
{
  g_autoptr(EVP_PKEY) pkey = EVP_EC_gen("P-384");
  guint8 point[200];
  size_t plen = 0;
  g_assert_true(EVP_PKEY_get_octet_string_param(pkey, OSSL_PKEY_PARAM_PUB_KEY, point + 2,
                                                sizeof(point) - 2, &plen));
  point[0] = 0x04; /* OCTET STRING */
  point[1] = (guint8)plen;
  static const guint8 secp384r1[] = { 0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x22 };
  g_autoptr(GBytes) params = g_bytes_new_static(secp384r1, sizeof(secp384r1));
  g_autoptr(GBytes) q = wrapped ? g_bytes_new(point, plen + 2) : g_bytes_new(point + 2, plen);
  g_autoptr(GBytes) built = pubkey_spki_from_ec(params, q);
  assert_same_key(built, pkey, TPROTO_KEY_EC, 384);
}

static void test_ec_wrapped_point(void)
{
  check_ec(TRUE);
}

static void test_ec_raw_point(void)
{
  check_ec(FALSE);
}

static void test_garbage_is_refused(void)
{
  static const guint8 junk[] = { 0x30, 0x03, 0x02, 0x01, 0x01 };
  g_autoptr(GBytes) b = g_bytes_new_static(junk, sizeof(junk));
  g_assert_null(pubkey_spki_from_cert(b));
  g_assert_null(pubkey_spki_from_ec(b, b));
  uint8_t type;
  uint32_t bits;
  gsize size;
  g_assert_false(pubkey_describe(b, &type, &bits, &size));
}

int main(int argc, char **argv)
{
  g_test_init(&argc, &argv, NULL);
  g_test_add_func("/pubkey/rsa", test_rsa_from_attributes);
  g_test_add_func("/pubkey/ec-wrapped-point", test_ec_wrapped_point);
  g_test_add_func("/pubkey/ec-raw-point", test_ec_raw_point);
  g_test_add_func("/pubkey/garbage", test_garbage_is_refused);
  return g_test_run();
}
