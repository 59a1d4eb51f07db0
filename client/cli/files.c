/* tessera CLI — reading inputs, writing outputs, reading a PIN line. */
#include "cli.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static GBytes *read_stdin(GError **error)
{
  g_autoptr(GByteArray) data = g_byte_array_new();
  guint8 chunk[65536];
  for (;;) {
    ssize_t n = read(STDIN_FILENO, chunk, sizeof(chunk));
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0) {
      g_set_error(error, CLI_ERROR, CLI_ERROR_LOCAL, "reading stdin: %s", g_strerror(errno));
      return NULL;
    }
    if (n == 0)
      break;
    g_byte_array_append(data, chunk, (guint)n);
  }
  return g_byte_array_free_to_bytes(g_steal_pointer(&data));
}

GBytes *cli_read_input(const char *path, GError **error)
{
  if (strcmp(path, "-") == 0)
    return read_stdin(error);
  char *contents = NULL;
  gsize len = 0;
  if (!g_file_get_contents(path, &contents, &len, error))
    return NULL;
  return g_bytes_new_take(contents, len);
}

gboolean cli_write_output(const char *path, const uint8_t *data, size_t len, gboolean secret,
                          GError **error)
{
  if (strcmp(path, "-") == 0) {
    if (fwrite(data, 1, len, stdout) != len || fflush(stdout) != 0) {
      g_set_error(error, CLI_ERROR, CLI_ERROR_LOCAL, "writing stdout: %s", g_strerror(errno));
      return FALSE;
    }
    return TRUE;
  }
  /* Written whole or not at all; secrets never exist with a wider mode. */
  return g_file_set_contents_full(path, (const char *)data, (gssize)len,
                                  G_FILE_SET_CONTENTS_CONSISTENT, secret ? 0600 : 0666, error);
}

/* Byte by byte: reading ahead from a shared fd would eat what follows the
 * PIN line, and the PIN must not linger in stdio buffers. */
gboolean cli_read_pin_line(int fd, char *pin, size_t *pin_len, GError **error)
{
  size_t n = 0;
  for (;;) {
    char c;
    ssize_t r = read(fd, &c, 1);
    if (r < 0 && errno == EINTR)
      continue;
    if (r < 0) {
      g_set_error(error, CLI_ERROR, CLI_ERROR_LOCAL, "reading the PIN from fd %d: %s", fd,
                  g_strerror(errno));
      return FALSE;
    }
    if (r == 0 || c == '\n')
      break;
    if (n == TPROTO_MAX_PIN) {
      g_set_error(error, CLI_ERROR, CLI_ERROR_LOCAL, "the PIN is longer than %d bytes",
                  TPROTO_MAX_PIN);
      return FALSE;
    }
    pin[n++] = c;
  }
  if (n > 0 && pin[n - 1] == '\r')
    n--;
  pin[n] = '\0';
  *pin_len = n;
  return TRUE;
}
