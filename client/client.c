/* libtessera-client — connection, HELLO and the request/reply round trip. */
#include "client-private.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

char *tessera_default_socket_path(void)
{
  const char *env = getenv("TESSERA_SOCKET");
  if (env && *env)
    return strdup(env);
  const char *runtime = getenv("XDG_RUNTIME_DIR");
  if (runtime == NULL || *runtime == '\0')
    return NULL;
  char *path = NULL;
  if (asprintf(&path, "%s/tessera/agent.sock", runtime) < 0)
    return NULL;
  return path;
}

int tc_fail(tessera_client *c, int code, const char *fmt, ...)
{
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(c->last_error, sizeof(c->last_error), fmt, ap);
  va_end(ap);
  return code;
}

int tc_encode_failed(tessera_client *c, int tproto_rc, const char *what)
{
  if (tproto_rc == TPROTO_E_NOMEM)
    return tc_fail(c, TESSERA_E_NOMEM, "out of memory");
  return tc_fail(c, TESSERA_E_ARG, "%s is too long or not valid UTF-8", what);
}

uint32_t tc_next_id(tessera_client *c)
{
  /* Id 0 is reserved for the agent's connection-level errors. */
  if (c->next_id == 0)
    c->next_id = 1;
  return c->next_id++;
}

/* After an I/O or protocol error the stream position is unknown: close, so
 * later calls fail cleanly instead of reading a stale reply. */
static int break_connection(tessera_client *c, int code)
{
  if (c->fd >= 0)
    close(c->fd);
  c->fd = -1;
  return code;
}

static int agent_error(tessera_client *c, tproto_buf *body)
{
  tproto_error e;
  if (tproto_dec_error(body, &e) < 0)
    return break_connection(c, tc_fail(c, TESSERA_E_PROTOCOL, "malformed error reply"));
  const char *name = tproto_error_name(e.code);
  if (e.message.len > 0)
    tc_fail(c, 0, "%.*s", (int)e.message.len, (const char *)e.message.ptr);
  else if (name)
    tc_fail(c, 0, "%s", name);
  else
    tc_fail(c, 0, "agent error %u", e.code);
  /* Code 0 would read as success; codes are small, INT_MAX is far away. */
  if (e.code == 0 || e.code > INT_MAX)
    return break_connection(c, TESSERA_E_PROTOCOL);
  return (int)e.code;
}

int tc_read_reply(tessera_client *c, uint32_t id, uint8_t reply_type, tc_decode_fn decode,
                  void *out)
{
  TC_AUTO_FRAME frame = { 0 };
  int r = tc_socket_read_frame(c->fd, &frame, c->last_error, sizeof(c->last_error));
  if (r < 0)
    return break_connection(c, r);

  tproto_header h;
  tproto_buf body;
  if (tproto_frame_open(frame.data, frame.len, &h, &body) < 0)
    return break_connection(c, tc_fail(c, TESSERA_E_PROTOCOL, "malformed reply frame"));
  if (h.type == TPROTO_R_ERROR && h.id == 0) {
    /* A connection-level error: the agent closes after sending it. */
    r = agent_error(c, &body);
    break_connection(c, r);
    return r;
  }
  if (h.id != id)
    return break_connection(
        c, tc_fail(c, TESSERA_E_PROTOCOL, "reply for request %u while waiting for %u", h.id, id));
  if (h.type == TPROTO_R_ERROR)
    return agent_error(c, &body);
  if (h.type != reply_type) {
    const char *got = tproto_type_name(h.type);
    return break_connection(c, tc_fail(c, TESSERA_E_PROTOCOL, "unexpected reply %s (0x%02x)",
                                       got ? got : "unknown", h.type));
  }
  r = decode(&body, out);
  if (r == TPROTO_E_NOMEM)
    return tc_fail(c, TESSERA_E_NOMEM, "out of memory");
  if (r < 0)
    return break_connection(c, tc_fail(c, TESSERA_E_PROTOCOL, "malformed %s reply",
                                       tproto_type_name(reply_type)));
  return TESSERA_OK;
}

int tc_transact(tessera_client *c, const tproto_buf *request, uint32_t id, uint8_t reply_type,
                tc_decode_fn decode, void *out)
{
  if (c->fd < 0)
    return tc_fail(c, TESSERA_E_IO, "the connection to the agent was closed after an error");
  if (c->subscription != 0)
    return tc_fail(c, TESSERA_E_ARG,
                   "this connection is subscribed to events; use another one for requests");
  if (request->len - 4 > c->max_frame)
    return tc_fail(c, TESSERA_E_ARG, "request larger than the agent accepts (%u bytes)",
                   c->max_frame);
  int r = tc_socket_send_all(c->fd, request->data, request->len, c->last_error,
                             sizeof(c->last_error));
  if (r < 0)
    return break_connection(c, r);
  r = tc_read_reply(c, id, reply_type, decode, out);
  if (r == TESSERA_OK)
    c->last_error[0] = '\0';
  return r;
}

/* ---- HELLO ---- */

typedef struct {
  uint32_t version, capabilities, max_frame;
  char *agent_name;
} hello_result;

static int decode_hello_reply(tproto_buf *body, void *out)
{
  hello_result *res = out;
  tproto_hello_reply m;
  int r = tproto_dec_hello_reply(body, &m);
  if (r < 0)
    return r;
  res->agent_name = tproto_bytes_strdup(m.agent_name);
  if (res->agent_name == NULL)
    return TPROTO_E_NOMEM;
  res->version = m.version;
  res->capabilities = m.capabilities;
  res->max_frame = m.max_frame;
  return TPROTO_OK;
}

static int check_options(tessera_client *c, const tessera_option *options, size_t n)
{
  if (n > TPROTO_MAX_HELLO_OPTIONS)
    return tc_fail(c, TESSERA_E_ARG, "at most %d HELLO options", TPROTO_MAX_HELLO_OPTIONS);
  if (n > 0 && options == NULL)
    return tc_fail(c, TESSERA_E_ARG, "options is NULL");
  for (size_t i = 0; i < n; i++)
    if (options[i].key == NULL || options[i].key[0] == '\0')
      return tc_fail(c, TESSERA_E_ARG, "option %zu has no key", i);
  return TESSERA_OK;
}

static int send_hello(tessera_client *c, const char *client_name, const tessera_option *options,
                      size_t n_options)
{
  int r = check_options(c, options, n_options);
  if (r < 0)
    return r;
  /* The caller's own options win: the environment fills what is left. */
  tessera_option context[TPROTO_MAX_HELLO_OPTIONS];
  char tty[256];
  size_t n_context = tc_context_options(options, n_options, context,
                                        TPROTO_MAX_HELLO_OPTIONS - n_options, tty, sizeof(tty));
  tproto_hello m = {
    .version_min = TPROTO_VERSION,
    .version_max = TPROTO_VERSION,
    .client_name = tproto_str(client_name ? client_name : "libtessera-client"),
    .n_options = (uint32_t)(n_context + n_options),
  };
  for (size_t i = 0; i < n_context; i++) {
    m.option_keys[i] = tproto_str(context[i].key);
    m.option_values[i] = tproto_str(context[i].value);
  }
  for (size_t i = 0; i < n_options; i++) {
    m.option_keys[n_context + i] = tproto_str(options[i].key);
    m.option_values[n_context + i] = tproto_str(options[i].value); /* NULL = "" */
  }
  uint32_t id = tc_next_id(c);
  TC_AUTO_BUF req = { 0 };
  r = tproto_enc_hello(&req, id, &m);
  if (r < 0)
    return tc_encode_failed(c, r, "client name or option");

  hello_result reply = { 0 };
  r = tc_transact(c, &req, id, TPROTO_R_HELLO, decode_hello_reply, &reply);
  if (r != TESSERA_OK)
    return r;
  c->agent_name = reply.agent_name;
  if (reply.version != TPROTO_VERSION)
    return break_connection(
        c, tc_fail(c, TESSERA_E_PROTOCOL, "the agent chose protocol version %u", reply.version));
  if (reply.max_frame < TPROTO_HEADER_LEN)
    return break_connection(
        c, tc_fail(c, TESSERA_E_PROTOCOL, "the agent's max frame %u is too small", reply.max_frame));
  c->version = reply.version;
  c->capabilities = reply.capabilities;
  c->max_frame = reply.max_frame < TPROTO_MAX_FRAME ? reply.max_frame : TPROTO_MAX_FRAME;
  return TESSERA_OK;
}

static int fail_connect(tessera_client *c, int code, char **err_msg)
{
  if (err_msg)
    *err_msg = strdup(c->last_error);
  tessera_client_free(c);
  return code;
}

int tessera_client_connect_with_options(const char *path, const char *client_name,
                                        const tessera_option *options, size_t n_options,
                                        tessera_client **out, char **err_msg)
{
  if (err_msg)
    *err_msg = NULL;
  if (out == NULL)
    return TESSERA_E_ARG;
  *out = NULL;
  tessera_client *c = calloc(1, sizeof(*c));
  if (c == NULL) {
    if (err_msg)
      *err_msg = strdup("out of memory");
    return TESSERA_E_NOMEM;
  }
  c->fd = -1;
  c->max_frame = TPROTO_MAX_FRAME;

  char *default_path = path ? NULL : tessera_default_socket_path();
  const char *where = path ? path : default_path;
  int r;
  if (where == NULL)
    r = tc_fail(c, TESSERA_E_CONNECT, "no socket path: set TESSERA_SOCKET or XDG_RUNTIME_DIR");
  else
    r = tc_socket_connect(where, &c->fd, c->last_error, sizeof(c->last_error));
  free(default_path);
  if (r == TESSERA_OK)
    r = send_hello(c, client_name, options, n_options);
  if (r != TESSERA_OK)
    return fail_connect(c, r, err_msg);
  *out = c;
  return TESSERA_OK;
}

int tessera_client_connect(const char *path, const char *client_name, tessera_client **out,
                           char **err_msg)
{
  return tessera_client_connect_with_options(path, client_name, NULL, 0, out, err_msg);
}

int tessera_client_fd(const tessera_client *c)
{
  return c->fd;
}

void tessera_client_free(tessera_client *c)
{
  if (c == NULL)
    return;
  break_connection(c, 0);
  free(c->agent_name);
  tproto_wipe(c->last_error, sizeof(c->last_error));
  free(c);
}

const char *tessera_client_last_error(const tessera_client *c)
{
  return c ? c->last_error : "no client";
}

uint32_t tessera_client_version(const tessera_client *c)
{
  return c->version;
}

const char *tessera_client_agent_name(const tessera_client *c)
{
  return c->agent_name ? c->agent_name : "";
}

uint32_t tessera_client_capabilities(const tessera_client *c)
{
  return c->capabilities;
}

void tessera_free_secret(void *p, size_t len)
{
  if (p == NULL)
    return;
  tproto_wipe(p, len);
  free(p);
}
