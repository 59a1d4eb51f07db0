/* tessera-agent — one dialog for one request. */
#include "prompt.h"

#include "config.h"
#include "connection.h"

#include <string.h>

static DialogAction action_of(const TesseraJob *job)
{
  switch (job->kind) {
  case JOB_SIGN: return DIALOG_SIGN;
  case JOB_DECRYPT: return DIALOG_DECRYPT;
  case JOB_DERIVE: return DIALOG_DERIVE;
  default: return DIALOG_LOGIN;
  }
}

const char *prompt_client_option(const TesseraJob *job, const char *key)
{
  return job->conn ? g_hash_table_lookup(job->conn->options, key) : NULL;
}

void prompt_init(Prompt *p, TesseraToken *token, const TesseraJob *job)
{
  static const char *const env_keys[] = { "DISPLAY", "WAYLAND_DISPLAY", "XAUTHORITY",
                                          "DBUS_SESSION_BUS_ADDRESS" };
  const TesseraConfig *cfg = config_active();
  memset(p, 0, sizeof(*p));
  p->env = g_ptr_array_new_with_free_func(g_free);
  for (gsize i = 0; i < G_N_ELEMENTS(env_keys); i++) {
    const char *v = prompt_client_option(job, env_keys[i]);
    if (v != NULL && *v != '\0')
      g_ptr_array_add(p->env, g_strdup_printf("%s=%s", env_keys[i], v));
  }
  /* The client's terminal, else the agent's own (started by hand):
   * a text pinentry without one would draw on its Assuan socket. */
  const char *tty = prompt_client_option(job, "TTY");
  const char *term = prompt_client_option(job, "TERM");
  if (tty == NULL || *tty == '\0') {
    tty = g_getenv("GPG_TTY");
    term = g_getenv("TERM");
  }
  if (tty != NULL && *tty != '\0')
    g_ptr_array_add(p->env, g_strdup_printf("GPG_TTY=%s", tty));
  g_ptr_array_add(p->env, NULL);
  p->req.program = cfg->pinentry_program;
  p->req.env = (const char *const *)p->env->pdata;
  p->req.ttyname = tty != NULL && *tty != '\0' ? tty : NULL;
  p->req.ttytype = term;
  p->req.timeout_s = cfg->pinentry_timeout_s;
  p->token = token;
  p->req.cancellable = tessera_token_dialog_begin(token);
  p->subject = (DialogSubject){ job->conn ? job->conn->program : "tessera-agent",
                                job->conn ? job->conn->pid : 0,
                                token->label,
                                token->serial,
                                job->key ? job->key->label : NULL,
                                action_of(job) };
  p->title = dialog_title(&p->subject);
  p->req.title = p->title;
}

void prompt_clear(Prompt *p)
{
  if (p->req.cancellable != NULL)
    tessera_token_dialog_end(p->token, p->req.cancellable);
  p->req.cancellable = NULL;
  g_clear_pointer(&p->env, g_ptr_array_unref);
  g_clear_pointer(&p->title, g_free);
  g_clear_pointer(&p->description, g_free);
  g_clear_pointer(&p->error, g_free);
}

void prompt_set_description(Prompt *p, char *description)
{
  g_free(p->description);
  p->description = description;
  p->req.description = description;
}

void prompt_set_error(Prompt *p, char *error)
{
  g_free(p->error);
  p->error = error;
  p->req.error = error;
}
