/* libtessera-client — where the client runs: its display and terminal,
 * sent in HELLO so the agent's PIN dialog appears in front of the user of
 * this program rather than wherever the agent was started. */
#include "client-private.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *const env_keys[] = { "DISPLAY", "WAYLAND_DISPLAY", "XAUTHORITY",
                                        "DBUS_SESSION_BUS_ADDRESS", "TERM" };

static int given(const tessera_option *options, size_t n, const char *key)
{
  for (size_t i = 0; i < n; i++)
    if (strcmp(options[i].key, key) == 0)
      return 1;
  return 0;
}

/* A value HELLO can carry; anything else is left out rather than failing
 * the connection. */
static int usable(const char *v)
{
  size_t n = v ? strlen(v) : 0;
  return n > 0 && n <= TPROTO_MAX_TEXT && tproto_text_valid(v, n);
}

/* GPG_TTY if set (gpg's convention), else the terminal on stdin, stdout
 * or stderr. */
static const char *terminal(char *buf, size_t size)
{
  const char *tty = getenv("GPG_TTY");
  if (tty != NULL && *tty != '\0')
    return tty;
  for (int fd = 0; fd <= 2; fd++)
    if (isatty(fd) && ttyname_r(fd, buf, size) == 0)
      return buf;
  return NULL;
}

size_t tc_context_options(const tessera_option *given_options, size_t n_given,
                          tessera_option *out, size_t max, char *tty_buf, size_t tty_size)
{
  size_t n = 0;
  for (size_t i = 0; i < sizeof(env_keys) / sizeof(env_keys[0]) && n < max; i++) {
    const char *v = getenv(env_keys[i]);
    if (usable(v) && !given(given_options, n_given, env_keys[i]))
      out[n++] = (tessera_option){ env_keys[i], v };
  }
  const char *tty = terminal(tty_buf, tty_size);
  if (usable(tty) && n < max && !given(given_options, n_given, "TTY"))
    out[n++] = (tessera_option){ "TTY", tty };
  return n;
}
