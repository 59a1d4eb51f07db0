/* bench — small helpers shared by the benchmarks. */
#include "bench-util.h"

#include "bench-error.h"

#include <stdlib.h>
#include <string.h>

static int compare_doubles(const void *a, const void *b)
{
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

double bench_median(double *v, size_t n)
{
  qsort(v, n, sizeof(*v), compare_doubles);
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

GBytes *bench_parse_hex(const char *option, const char *hex, GError **error)
{
  size_t n = strlen(hex);
  if (n == 0 || n % 2 != 0) {
    g_set_error(error, BENCH_ERROR, 0, "%s: '%s' is not an even number of hex digits", option,
                hex);
    return NULL;
  }
  g_autofree guint8 *bytes = g_malloc(n / 2);
  for (size_t i = 0; i < n / 2; i++) {
    int hi = g_ascii_xdigit_value(hex[2 * i]), lo = g_ascii_xdigit_value(hex[2 * i + 1]);
    if (hi < 0 || lo < 0) {
      g_set_error(error, BENCH_ERROR, 0, "%s: '%s' is not hex", option, hex);
      return NULL;
    }
    bytes[i] = (guint8)(hi << 4 | lo);
  }
  return g_bytes_new_take(g_steal_pointer(&bytes), n / 2);
}

/* DER prefix of a SHA-256 DigestInfo (RFC 8017, section 9.2, note 1). */
static const guint8 sha256_digest_info_prefix[BENCH_DIGEST_INFO_LEN - BENCH_SHA256_LEN] = {
  0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01,
  0x65, 0x03, 0x04, 0x02, 0x01, 0x05, 0x00, 0x04, 0x20,
};

void bench_sign_inputs(guint8 digest[BENCH_SHA256_LEN], guint8 digest_info[BENCH_DIGEST_INFO_LEN])
{
  static const char message[] = "tessera benchmark message";
  gsize digest_len = BENCH_SHA256_LEN;
  g_autoptr(GChecksum) sha256 = g_checksum_new(G_CHECKSUM_SHA256);
  g_checksum_update(sha256, (const guchar *)message, sizeof(message) - 1);
  g_checksum_get_digest(sha256, digest, &digest_len);
  memcpy(digest_info, sha256_digest_info_prefix, sizeof(sha256_digest_info_prefix));
  memcpy(digest_info + sizeof(sha256_digest_info_prefix), digest, BENCH_SHA256_LEN);
}
