/* libtessera-client — internals shared by the library's source files. */
#pragma once

#include "messages.h"
#include "tessera-client.h"

#include <stdarg.h>

/* Big enough for any agent message (MAX_TEXT) plus our own prefix. */
#define TC_ERROR_SIZE (TPROTO_MAX_TEXT + 256)

struct tessera_client {
  int fd; /* -1 once the connection is unusable */
  uint32_t next_id;
  uint32_t version;
  uint32_t capabilities;
  uint32_t max_frame; /* largest frame length the agent accepts */
  uint32_t subscription; /* id of the SUBSCRIBE request; 0 = not subscribed */
  char *agent_name;
  char last_error[TC_ERROR_SIZE];
};

/* Frees and wipes a tproto_buf at scope exit (request frames may hold a PIN). */
#define TC_AUTO_BUF __attribute__((cleanup(tproto_buf_free))) tproto_buf

/* One reply frame read from the socket; wiped when freed (plaintext). */
typedef struct {
  uint8_t *data;
  size_t len;
} tc_frame;

void tc_frame_free(tc_frame *f);
#define TC_AUTO_FRAME __attribute__((cleanup(tc_frame_free))) tc_frame

/* socket.c: blocking Unix-socket I/O. Each returns TESSERA_OK or a
 * negative TESSERA_E_* and describes failures into err (err_size bytes). */
int tc_socket_connect(const char *path, int *fd, char *err, size_t err_size);
int tc_socket_send_all(int fd, const uint8_t *p, size_t n, char *err, size_t err_size);
int tc_socket_read_frame(int fd, tc_frame *out, char *err, size_t err_size);

/* context.c: HELLO options from this process's environment (DISPLAY,
 * WAYLAND_DISPLAY, XAUTHORITY, DBUS_SESSION_BUS_ADDRESS, TERM, TTY), leaving
 * out keys the caller gives itself; at most max. Values point into the
 * environment or tty_buf. */
size_t tc_context_options(const tessera_option *given, size_t n_given, tessera_option *out,
                          size_t max, char *tty_buf, size_t tty_size);

/* client.c: error bookkeeping and the request/reply round trip. */
__attribute__((format(printf, 3, 4))) int tc_fail(tessera_client *c, int code, const char *fmt,
                                                  ...);
/* Maps a TPROTO_E_* from an encoder to a TESSERA_E_* with a message. */
int tc_encode_failed(tessera_client *c, int tproto_rc, const char *what);
uint32_t tc_next_id(tessera_client *c);

/* Decodes a reply body into caller-owned memory (copies, never views). */
typedef int (*tc_decode_fn)(tproto_buf *body, void *out);

/* Sends the encoded request (frame with id), reads the reply with the same
 * id and hands its body to decode when its type is reply_type. Agent
 * R_ERROR → its positive code; anything unexpected → TESSERA_E_PROTOCOL and
 * the connection is closed. */
int tc_transact(tessera_client *c, const tproto_buf *request, uint32_t id, uint8_t reply_type,
                tc_decode_fn decode, void *out);
/* Reads one frame: the reply to id of type reply_type (or an R_ERROR). */
int tc_read_reply(tessera_client *c, uint32_t id, uint8_t reply_type, tc_decode_fn decode,
                  void *out);
