/* tessera-agent — what the PIN and confirmation dialogs say. */
#include "dialog.h"

#include "messages.h"

#include <string.h>

static const char *action_words(DialogAction a)
{
  switch (a) {
  case DIALOG_SIGN: return "sign with";
  case DIALOG_DECRYPT: return "decrypt with";
  case DIALOG_DERIVE: return "agree on a key with";
  case DIALOG_LOGIN: break;
  }
  return "log in to";
}

static gboolean has_key(const DialogSubject *s)
{
  return s->key_label != NULL && *s->key_label != '\0' && s->action != DIALOG_LOGIN;
}

/* "the token “X” (serial N)" */
static char *token_words(const DialogSubject *s)
{
  if (s->token_serial != NULL && *s->token_serial != '\0')
    return g_strdup_printf("the token \u201c%s\u201d (serial %s)", s->token_label,
                           s->token_serial);
  return g_strdup_printf("the token \u201c%s\u201d", s->token_label);
}

/* "mutt (pid 42) asks to sign with the key “k”." */
static char *request_sentence(const DialogSubject *s)
{
  g_autofree char *token = token_words(s);
  if (has_key(s))
    return g_strdup_printf("%s (pid %d) asks to %s the key \u201c%s\u201d.", s->program,
                           (int)s->pid, action_words(s->action), s->key_label);
  return g_strdup_printf("%s (pid %d) asks to log in to %s.", s->program, (int)s->pid, token);
}

char *dialog_title(const DialogSubject *s)
{
  return g_strdup_printf("Tessera: %s", s->token_label);
}

const char *dialog_tries_note(uint32_t token_flags)
{
  if (token_flags & TPROTO_TOKEN_PIN_FINAL_TRY)
    return "Last try before the card is blocked!";
  if (token_flags & TPROTO_TOKEN_PIN_COUNT_LOW)
    return "Few tries left before the card is blocked.";
  return NULL;
}

/* Appends the tries note as a paragraph of its own. */
static char *with_tries(char *text, uint32_t token_flags)
{
  const char *note = dialog_tries_note(token_flags);
  if (note == NULL)
    return text;
  char *out = g_strdup_printf("%s\n\n%s", text, note);
  g_free(text);
  return out;
}

char *dialog_pin_description(const DialogSubject *s, gboolean every_use, uint32_t token_flags)
{
  g_autofree char *request = request_sentence(s);
  g_autofree char *token = token_words(s);
  char *text;
  if (every_use)
    text = g_strdup_printf("%s\n\nThis key needs the PIN for every use. Enter the PIN of %s.",
                           request, token);
  else
    text = g_strdup_printf("%s\n\nEnter the PIN of %s.", request, token);
  return with_tries(text, token_flags);
}

char *dialog_pinpad_description(const DialogSubject *s, uint32_t token_flags)
{
  g_autofree char *request = request_sentence(s);
  g_autofree char *token = token_words(s);
  return with_tries(
      g_strdup_printf("%s\n\nEnter the PIN of %s on the reader's keypad.", request, token),
      token_flags);
}

char *dialog_confirm_description(const DialogSubject *s)
{
  g_autofree char *request = request_sentence(s);
  g_autofree char *token = token_words(s);
  return g_strdup_printf("%s\n\nThe key is on %s. Allow this use?", request, token);
}

char *dialog_insert_description(const DialogSubject *s)
{
  g_autofree char *token = token_words(s);
  if (has_key(s))
    return g_strdup_printf("Insert the smart card %s to %s the key \u201c%s\u201d for %s (pid %d).",
                           token + strlen("the token "), action_words(s->action), s->key_label,
                           s->program, (int)s->pid);
  return g_strdup_printf("Insert the smart card %s for %s (pid %d).", token + strlen("the token "),
                         s->program, (int)s->pid);
}

char *dialog_wrong_pin_error(uint32_t token_flags)
{
  const char *note = dialog_tries_note(token_flags);
  return note ? g_strdup_printf("Wrong PIN. %s", note) : g_strdup("Wrong PIN.");
}
