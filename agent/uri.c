/* tessera-agent — RFC 7512 PKCS#11 URIs for tokens and keys. */
#include "uri.h"

#include <string.h>

/* RFC 7512 path attribute values: unreserved characters and a few
 * sub-delims stay literal; everything else is percent-encoded. */
static void append_value(GString *s, const guint8 *p, gsize n, gboolean encode_all)
{
  static const char literal[] = "-._~!$&'()*+=:@";
  for (gsize i = 0; i < n; i++) {
    guint8 c = p[i];
    if (!encode_all && (g_ascii_isalnum(c) || (c != 0 && strchr(literal, c) != NULL)))
      g_string_append_c(s, (char)c);
    else
      g_string_append_printf(s, "%%%02X", c);
  }
}

char *uri_for_token(const char *label, const char *serial)
{
  GString *s = g_string_new("pkcs11:token=");
  append_value(s, (const guint8 *)label, strlen(label), FALSE);
  if (serial != NULL && *serial != '\0') {
    g_string_append(s, ";serial=");
    append_value(s, (const guint8 *)serial, strlen(serial), FALSE);
  }
  return g_string_free(s, FALSE);
}

char *uri_for_key(const char *token_uri, GBytes *ckaid, const char *label)
{
  GString *s = g_string_new(token_uri);
  gsize n = 0;
  const guint8 *id = ckaid ? g_bytes_get_data(ckaid, &n) : NULL;
  if (n > 0) {
    g_string_append(s, ";id=");
    append_value(s, id, n, TRUE);
  } else if (label != NULL) {
    g_string_append(s, ";object=");
    append_value(s, (const guint8 *)label, strlen(label), FALSE);
  }
  g_string_append(s, ";type=private");
  return g_string_free(s, FALSE);
}
