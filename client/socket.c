/* libtessera-client — blocking Unix-socket transport.
 *
 * Every call restarts after EINTR and loops over short reads and writes;
 * sends use MSG_NOSIGNAL so a vanished agent is an error, not a SIGPIPE
 * that kills the host program.
 */
#include "client-private.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

/* connect() interrupted by a signal keeps going in the background: wait
 * for it instead of calling connect() again (which would say EALREADY). */
static int finish_interrupted_connect(int fd)
{
  struct pollfd p = { .fd = fd, .events = POLLOUT };
  int r;
  do {
    r = poll(&p, 1, -1);
  } while (r < 0 && errno == EINTR);
  if (r < 0)
    return -1;
  int soerr = 0;
  socklen_t len = sizeof(soerr);
  if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &len) < 0)
    return -1;
  errno = soerr;
  return soerr == 0 ? 0 : -1;
}

int tc_socket_connect(const char *path, int *fd, char *err, size_t err_size)
{
  struct sockaddr_un addr = { .sun_family = AF_UNIX };
  *fd = -1;
  if (strlen(path) >= sizeof(addr.sun_path)) {
    snprintf(err, err_size, "socket path is longer than %zu bytes", sizeof(addr.sun_path) - 1);
    return TESSERA_E_CONNECT;
  }
  memcpy(addr.sun_path, path, strlen(path) + 1);

  int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (s < 0) {
    snprintf(err, err_size, "socket: %s", strerror(errno));
    return TESSERA_E_CONNECT;
  }
  int r = connect(s, (const struct sockaddr *)&addr, sizeof(addr));
  if (r < 0 && errno == EINTR)
    r = finish_interrupted_connect(s);
  if (r < 0) {
    snprintf(err, err_size, "%s", strerror(errno));
    close(s);
    return TESSERA_E_CONNECT;
  }
  *fd = s;
  return TESSERA_OK;
}

int tc_socket_send_all(int fd, const uint8_t *p, size_t n, char *err, size_t err_size)
{
  while (n > 0) {
    ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
    if (w < 0 && errno == EINTR)
      continue;
    if (w < 0) {
      snprintf(err, err_size, "sending to the agent failed: %s", strerror(errno));
      return TESSERA_E_IO;
    }
    p += w;
    n -= (size_t)w;
  }
  return TESSERA_OK;
}

static int read_exact(int fd, uint8_t *p, size_t n, char *err, size_t err_size)
{
  while (n > 0) {
    ssize_t r = recv(fd, p, n, 0);
    if (r < 0 && errno == EINTR)
      continue;
    if (r < 0) {
      snprintf(err, err_size, "reading from the agent failed: %s", strerror(errno));
      return TESSERA_E_IO;
    }
    if (r == 0) {
      snprintf(err, err_size, "the agent closed the connection");
      return TESSERA_E_IO;
    }
    p += r;
    n -= (size_t)r;
  }
  return TESSERA_OK;
}

void tc_frame_free(tc_frame *f)
{
  if (f->data) {
    tproto_wipe(f->data, f->len);
    free(f->data);
  }
  f->data = NULL;
  f->len = 0;
}

/* Reads the length prefix first and checks it before allocating, so a
 * corrupt or hostile length never sizes a buffer. */
int tc_socket_read_frame(int fd, tc_frame *out, char *err, size_t err_size)
{
  uint8_t prefix[4];
  out->data = NULL;
  out->len = 0;
  int r = read_exact(fd, prefix, sizeof(prefix), err, err_size);
  if (r < 0)
    return r;

  tproto_buf view;
  uint32_t length;
  size_t whole_len;
  tproto_buf_init_const(&view, prefix, sizeof(prefix));
  (void)tproto_get_u32(&view, &length);
  if (tproto_frame_peek(prefix, sizeof(prefix), &whole_len) < 0) { /* over max or under header */
    snprintf(err, err_size, "the agent sent a frame of invalid length %u", length);
    return TESSERA_E_PROTOCOL;
  }
  size_t frame_len = sizeof(prefix) + (size_t)length;

  uint8_t *data = malloc(frame_len);
  if (data == NULL) {
    snprintf(err, err_size, "out of memory");
    return TESSERA_E_NOMEM;
  }
  memcpy(data, prefix, sizeof(prefix));
  out->data = data;
  out->len = frame_len;
  r = read_exact(fd, data + sizeof(prefix), frame_len - sizeof(prefix), err, err_size);
  if (r < 0)
    tc_frame_free(out);
  return r;
}
