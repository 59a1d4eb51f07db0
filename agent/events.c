/* tessera-agent — the event stream of SUBSCRIBE. */
#include "events.h"

#include "messages.h"

typedef struct {
  TesseraConn *conn;
  uint32_t request_id;
} Subscriber;

static GArray *subscribers; /* of Subscriber */

void events_subscribe(TesseraConn *conn, uint32_t request_id)
{
  if (subscribers == NULL)
    subscribers = g_array_new(FALSE, FALSE, sizeof(Subscriber));
  Subscriber s = { tessera_conn_ref(conn), request_id };
  g_array_append_val(subscribers, s);
}

static void emit(uint8_t kind, const char *reader, const char *token_id, const char *key_id)
{
  for (guint i = 0; subscribers != NULL && i < subscribers->len;) {
    Subscriber *s = &g_array_index(subscribers, Subscriber, i);
    if (tessera_conn_is_closed(s->conn)) {
      tessera_conn_unref(s->conn);
      g_array_remove_index(subscribers, i);
      continue;
    }
    tproto_event e = { kind, tproto_str(reader ? reader : ""), tproto_str(token_id ? token_id : ""),
                       tproto_str(key_id ? key_id : "") };
    tproto_buf b;
    tproto_buf_init(&b);
    if (tproto_enc_event(&b, s->request_id, &e) == TPROTO_OK)
      tessera_conn_send(s->conn, &b);
    tproto_buf_free(&b);
    i++;
  }
}

void events_reader(uint8_t kind, const char *reader)
{
  emit(kind, reader, NULL, NULL);
}

void events_token_changed(TesseraToken *token, gboolean present)
{
  emit(present ? TPROTO_EVENT_TOKEN_PRESENT : TPROTO_EVENT_TOKEN_ABSENT, NULL, token->id, NULL);
  g_autoptr(GPtrArray) keys = tessera_token_keys(token);
  for (guint i = 0; i < keys->len; i++)
    emit(present ? TPROTO_EVENT_KEY_AVAILABLE : TPROTO_EVENT_KEY_UNAVAILABLE, NULL, token->id,
         ((TesseraKey *)keys->pdata[i])->id);
}

/* A copy of the id, not the token: the event may be delivered after the
 * token is gone (shutdown). */
typedef struct {
  char *token_id;
  gboolean logged_in;
} LoginChange;

static gboolean emit_login(gpointer data)
{
  LoginChange *c = data;
  emit(c->logged_in ? TPROTO_EVENT_LOGGED_IN : TPROTO_EVENT_LOGGED_OUT, NULL, c->token_id, NULL);
  return G_SOURCE_REMOVE;
}

static void login_change_free(gpointer data)
{
  LoginChange *c = data;
  g_free(c->token_id);
  g_free(c);
}

void events_login_changed(TesseraToken *token, gboolean logged_in)
{
  LoginChange *c = g_new0(LoginChange, 1);
  c->token_id = g_strdup(token->id);
  c->logged_in = logged_in;
  g_idle_add_full(G_PRIORITY_DEFAULT, emit_login, c, login_change_free);
}

void events_clear(void)
{
  for (guint i = 0; subscribers != NULL && i < subscribers->len; i++)
    tessera_conn_unref(g_array_index(subscribers, Subscriber, i).conn);
  g_clear_pointer(&subscribers, g_array_unref);
}
