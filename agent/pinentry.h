/* tessera-agent — asking the user through a pinentry program.
 *
 * Each call starts a pinentry (pinentry-curses, -gnome3, -qt, ...), talks
 * Assuan to it over a socket on its stdin and stdout, and ends it again:
 * the child is always reaped before a call returns. The calls block, so
 * they belong on a worker thread, never on the main loop. The PIN only
 * ever lives in a TesseraSecret; debug logs show commands but never data
 * lines.
 */
#pragma once

#include "secret.h"

#include <gio/gio.h>

/* Capacity of the PIN a GETPIN returns; a longer answer fails. */
#define PINENTRY_PIN_MAX 2048

typedef struct {
  const char *program; /* NULL = "pinentry" from PATH */
  /* "KEY=VALUE" entries (NULL-terminated) added to, or overriding, the
   * agent's environment for the child: DISPLAY, WAYLAND_DISPLAY,
   * XAUTHORITY, DBUS_SESSION_BUS_ADDRESS, GPG_TTY... NULL = none. */
  const char *const *env;
  /* OPTION ttyname=..., the terminal to ask on; NULL = not sent. Text-mode
   * pinentries (-curses, -tty, and the graphical ones without a display)
   * need it: the agent has no terminal of its own. */
  const char *ttyname;
  const char *ttytype; /* OPTION ttytype=..., its TERM; NULL = not sent */
  /* Dialog texts, sent escaped and cut to fit a line; NULL = not sent. */
  const char *title, *description, *prompt, *error, *ok_label, *cancel_label;
  guint timeout_s; /* SETTIMEOUT: pinentry gives up after this long; 0 = never */
  /* Cancelled from another thread: the dialog is closed (the pinentry
   * killed) and the call returns PINENTRY_ABORTED at once. May be NULL. */
  GCancellable *cancellable;
} PinentryRequest;

typedef enum {
  PINENTRY_OK,
  PINENTRY_CANCELLED, /* the user cancelled (or, to CONFIRM, said no) */
  PINENTRY_TIMEOUT,   /* nobody answered within timeout_s */
  PINENTRY_ABORTED,   /* the request's cancellable was cancelled */
  PINENTRY_FAILED,    /* no answer to be had; the only result with a GError */
} PinentryResult;

/* The GError of PINENTRY_FAILED is in G_IO_ERROR: NOT_FOUND (the program
 * could not be started), CONNECTION_CLOSED (it exited or hung up),
 * INVALID_DATA (it broke the protocol), TIMED_OUT (it got stuck before
 * showing the dialog), INVALID_ARGUMENT (the request cannot be sent) or
 * FAILED (it refused a command). */

/* GETPIN. On PINENTRY_OK *pin is the PIN as typed (UTF-8, possibly
 * empty), to be freed with tessera_secret_free; otherwise *pin is NULL. */
PinentryResult pinentry_get_pin(const PinentryRequest *r, TesseraSecret **pin, GError **error);

/* CONFIRM: PINENTRY_OK = confirmed, PINENTRY_CANCELLED = the user said no. */
PinentryResult pinentry_confirm(const PinentryRequest *r, GError **error);

/* A message that stays up while the caller works (PIN-pad readers: "enter
 * the PIN on the reader's keypad"). Open sets the dialog up and sends
 * MESSAGE, then returns without waiting for the user (NULL with error if
 * the pinentry failed before that, G_IO_ERROR_CANCELLED when cancelled).
 * Close takes the message down, ends the pinentry (SIGTERM) and reaps it;
 * it accepts NULL. The request's cancellable only matters while opening. */
typedef struct PinentryMessage PinentryMessage;
PinentryMessage *pinentry_message_open(const PinentryRequest *r, GError **error);
void pinentry_message_close(PinentryMessage *m);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(PinentryMessage, pinentry_message_close)
