/* tessera-agent — one dialog for one request: where it appears (the
 * client's display and terminal from HELLO, else the agent's own), who it
 * names, and the texts, ready for pinentry.c (worker side). */
#pragma once

#include "dialog.h"
#include "job.h"
#include "pinentry.h"
#include "token.h"

typedef struct {
  PinentryRequest req;
  DialogSubject subject;
  TesseraToken *token;
  GPtrArray *env;
  char *title, *description, *error;
} Prompt;

/* The request's cancellable closes the dialog on the card's removal or
 * the agent's shutdown. */
void prompt_init(Prompt *p, TesseraToken *token, const TesseraJob *job);
void prompt_clear(Prompt *p);
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(Prompt, prompt_clear)
/* Take ownership of the text. */
void prompt_set_description(Prompt *p, char *description);
void prompt_set_error(Prompt *p, char *error);

/* A HELLO option of the job's client, or NULL. */
const char *prompt_client_option(const TesseraJob *job, const char *key);
