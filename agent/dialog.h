/* tessera-agent — what the PIN and confirmation dialogs say.
 *
 * Every dialog names who asks (the program and pid the kernel reports for
 * the client, not what the client claims), what for, and on which token,
 * so the user can refuse a request they did not expect.
 */
#pragma once

#include <glib.h>
#include <stdint.h>
#include <sys/types.h>

typedef enum {
  DIALOG_LOGIN,
  DIALOG_SIGN,
  DIALOG_DECRYPT,
  DIALOG_DERIVE,
} DialogAction;

typedef struct {
  const char *program; /* "mutt" */
  pid_t pid;
  const char *token_label;
  const char *token_serial; /* may be empty */
  const char *key_label;    /* NULL or empty for a plain login */
  DialogAction action;
} DialogSubject;

char *dialog_title(const DialogSubject *s);
/* The PIN dialog; every_use for keys that need the PIN for each use.
 * token_flags (TPROTO_TOKEN_*) add what is known about the tries left. */
char *dialog_pin_description(const DialogSubject *s, gboolean every_use, uint32_t token_flags);
/* The message while the user types the PIN on the reader. */
char *dialog_pinpad_description(const DialogSubject *s, uint32_t token_flags);
/* The question before each use of a key configured with confirm = true. */
char *dialog_confirm_description(const DialogSubject *s);
/* The message while a request waits for its card to be inserted. */
char *dialog_insert_description(const DialogSubject *s);
/* The error line after a PIN the token rejected. */
char *dialog_wrong_pin_error(uint32_t token_flags);
/* "Last try before the card is blocked!" etc., or NULL if nothing is known. */
const char *dialog_tries_note(uint32_t token_flags);
