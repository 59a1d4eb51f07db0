/* bench-sign — signing through tessera-agent with libtessera-client. */
#include "agent-path.h"

#include "bench-error.h"
#include "messages.h"
#include "tessera-client.h"

#include <stdlib.h>
#include <string.h>

struct BenchAgent {
  tessera_client *client;
  char *token_label;
};

void bench_agent_free(BenchAgent *a)
{
  if (!a)
    return;
  if (a->client)
    tessera_client_free(a->client);
  g_free(a->token_label);
  g_free(a);
}

static void set_client_error(GError **error, tessera_client *c, const char *what, int rc)
{
  const char *name = rc > 0 ? tproto_error_name((uint32_t)rc) : NULL;
  g_set_error(error, BENCH_ERROR, 0, "%s failed (%s): %s", what, name ? name : "local error",
              tessera_client_last_error(c));
}

BenchAgent *bench_agent_open(const char *socket_path, const char *token_label, const char *pin,
                             GError **error)
{
  g_autoptr(BenchAgent) a = g_new0(BenchAgent, 1);
  char *why = NULL;
  if (tessera_client_connect(socket_path, "bench-sign", &a->client, &why) != TESSERA_OK) {
    g_set_error(error, BENCH_ERROR, 0, "cannot reach the agent: %s", why ? why : "unknown");
    free(why);
    return NULL;
  }
  a->token_label = g_strdup(token_label);
  int rc = tessera_login(a->client, token_label, pin, strlen(pin));
  if (rc != TESSERA_OK && rc != TPROTO_ERR_ALREADY_LOGGED_IN) {
    set_client_error(error, a->client, "login", rc);
    return NULL;
  }
  return g_steal_pointer(&a);
}

/* RFC 7512 values: everything but unreserved characters percent-encoded. */
static void append_pct(GString *s, const guint8 *p, gsize n, gboolean keep_unreserved)
{
  for (gsize i = 0; i < n; i++) {
    if (keep_unreserved && (g_ascii_isalnum(p[i]) || strchr("-._~", p[i])) && p[i] != '\0')
      g_string_append_c(s, (char)p[i]);
    else
      g_string_append_printf(s, "%%%02X", p[i]);
  }
}

char *bench_agent_key_id(BenchAgent *a, GBytes *ckaid, GError **error)
{
  GString *uri = g_string_new("pkcs11:token=");
  append_pct(uri, (const guint8 *)a->token_label, strlen(a->token_label), TRUE);
  g_string_append(uri, ";id=");
  gsize n;
  const guint8 *id = g_bytes_get_data(ckaid, &n);
  append_pct(uri, id, n, FALSE);
  g_autofree char *name = g_string_free(uri, FALSE);
  /* Clients name keys by the agent's id, as the CLI does after FIND_KEY. */
  tessera_key *k = NULL;
  int rc = tessera_find_key(a->client, name, &k);
  if (rc != TESSERA_OK) {
    set_client_error(error, a->client, "FIND_KEY", rc);
    return NULL;
  }
  char *key_id = g_strdup(k->id);
  tessera_keys_free(k, 1);
  return key_id;
}

gboolean bench_agent_status(BenchAgent *a, GError **error)
{
  tessera_status st;
  int rc = tessera_status_get(a->client, &st);
  if (rc != TESSERA_OK) {
    set_client_error(error, a->client, "STATUS", rc);
    return FALSE;
  }
  tessera_status_clear(&st);
  return TRUE;
}

gboolean bench_agent_sign(BenchAgent *a, const char *key_uri, guint8 mech, const guint8 *in,
                          gsize in_len, guint8 *sig, gsize *sig_len, GError **error)
{
  uint8_t *out = NULL;
  size_t out_len = 0;
  int rc = tessera_sign(a->client, key_uri, mech, TPROTO_HASH_NONE, TPROTO_HASH_NONE, 0, in,
                        in_len, &out, &out_len);
  if (rc != TESSERA_OK) {
    set_client_error(error, a->client, "SIGN", rc);
    return FALSE;
  }
  gboolean fits = out_len <= *sig_len;
  if (fits) {
    memcpy(sig, out, out_len);
    *sig_len = out_len;
  } else {
    g_set_error(error, BENCH_ERROR, 0, "signature of %zu bytes does not fit", out_len);
  }
  free(out);
  return fits;
}
