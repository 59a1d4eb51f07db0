/* tessera-agent — requests that wait for their card (worker side). */
#include "waiting.h"

#include "connection.h"
#include "messages.h"
#include "operations.h"
#include "prompt.h"

#include <stdlib.h>

#define DEFAULT_CARD_TIMEOUT_S 60
#define MAX_CARD_TIMEOUT_S 3600

struct TesseraWaiting {
  GQueue jobs;                /* of TesseraJob, oldest first */
  PinentryMessage *message;   /* "insert the card", while anyone waits */
};

/* The job's deadline lives beside it: jobs wait rarely, and a field in
 * every job for it would be noise. */
typedef struct {
  TesseraJob *job;
  gint64 deadline;
} Waiter;

TesseraWaiting *waiting_new(void)
{
  TesseraWaiting *w = g_new0(TesseraWaiting, 1);
  g_queue_init(&w->jobs);
  return w;
}


static void close_message(TesseraWaiting *w)
{
  pinentry_message_close(w->message);
  w->message = NULL;
}

void waiting_free(TesseraWaiting *w)
{
  if (w == NULL)
    return;
  Waiter *x;
  while ((x = g_queue_pop_head(&w->jobs)) != NULL) {
    tessera_job_reply_error(x->job, TPROTO_ERR_TOKEN_ABSENT,
                            "the agent is shutting down; the card was not inserted");
    tessera_job_finish(x->job);
    g_free(x);
  }
  close_message(w);
  g_free(w);
}

static guint card_timeout_s(const TesseraJob *job)
{
  const char *v = prompt_client_option(job, "CARD_TIMEOUT");
  if (v == NULL || *v == '\0')
    return DEFAULT_CARD_TIMEOUT_S;
  char *end = NULL;
  unsigned long s = strtoul(v, &end, 10);
  if (end == v || *end != '\0')
    return DEFAULT_CARD_TIMEOUT_S;
  return (guint)MIN(s, MAX_CARD_TIMEOUT_S);
}

/* One message for everyone waiting: the first request names the use. */
static void show_message(TesseraToken *token, TesseraJob *job)
{
  TesseraWaiting *w = token->waiting;
  if (w->message != NULL)
    return;
  g_auto(Prompt) p;
  prompt_init(&p, token, job);
  prompt_set_description(&p, dialog_insert_description(&p.subject));
  g_autoptr(GError) error = NULL;
  w->message = pinentry_message_open(&p.req, &error);
  if (w->message == NULL)
    g_message("token '%s': cannot ask for the card (%s); waiting anyway", token->label,
              error->message);
}

gboolean waiting_park(TesseraToken *token, TesseraJob *job)
{
  guint timeout = card_timeout_s(job);
  if (timeout == 0 || job->conn == NULL) {
    tessera_job_reply_error(job, TPROTO_ERR_TOKEN_ABSENT,
                            "the card of token '%s' (serial %s) is not inserted; insert it and "
                            "try again",
                            token->label, token->serial);
    return FALSE;
  }
  Waiter *x = g_new0(Waiter, 1);
  x->job = job;
  x->deadline = g_get_monotonic_time() + (gint64)timeout * G_USEC_PER_SEC;
  g_queue_push_tail(&token->waiting->jobs, x);
  g_message("%s waits up to %u s for the card of token '%s'", job->conn->peer_name, timeout,
            token->label);
  show_message(token, job);
  return TRUE;
}

gint64 waiting_next_deadline(TesseraToken *token)
{
  gint64 next = 0;
  for (GList *l = token->waiting->jobs.head; l != NULL; l = l->next) {
    Waiter *x = l->data;
    if (next == 0 || x->deadline < next)
      next = x->deadline;
  }
  return next;
}

void waiting_expire(TesseraToken *token)
{
  TesseraWaiting *w = token->waiting;
  gint64 now = g_get_monotonic_time();
  for (GList *l = w->jobs.head; l != NULL;) {
    GList *next = l->next;
    Waiter *x = l->data;
    if (x->deadline <= now) {
      g_queue_delete_link(&w->jobs, l);
      tessera_job_reply_error(x->job, TPROTO_ERR_TOKEN_ABSENT,
                              "the card of token '%s' (serial %s) was not inserted in time",
                              token->label, token->serial);
      tessera_job_finish(x->job);
      g_free(x);
    }
    l = next;
  }
  if (g_queue_is_empty(&w->jobs))
    close_message(w);
}

void waiting_resume(TesseraToken *token)
{
  TesseraWaiting *w = token->waiting;
  close_message(w);
  /* Each runs now; one that finds the card gone again waits anew. */
  GQueue now = w->jobs;
  g_queue_init(&w->jobs);
  Waiter *x;
  while ((x = g_queue_pop_head(&now)) != NULL) {
    TesseraJob *job = x->job;
    g_free(x);
    if (operations_run(token, job))
      tessera_job_finish(job);
  }
}
