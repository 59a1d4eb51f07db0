/* tessera-agent — ends token logins on time (idle and lifetime limits). */
#include "expiry.h"

#include "job.h"
#include "registry.h"
#include "token.h"

static guint timer_id; /* main loop only */

static gboolean on_timer(gpointer data);

/* Queues the expired, re-arms for the rest. */
static void check_deadlines(void)
{
  gint64 now = g_get_monotonic_time();
  gint64 next = G_MAXINT64;
  GPtrArray *tokens = registry_tokens();
  for (guint i = 0; i < tokens->len; i++) {
    TesseraToken *t = tokens->pdata[i];
    gint64 deadline = tessera_token_login_deadline(t);
    if (deadline == 0 || deadline == G_MAXINT64)
      continue;
    if (deadline <= now)
      tessera_token_submit(t, tessera_job_new(JOB_EXPIRE, NULL, 0, t, NULL));
    else
      next = MIN(next, deadline);
  }
  if (timer_id != 0)
    g_source_remove(timer_id);
  timer_id = 0;
  if (next != G_MAXINT64) {
    /* Rounded up, so the timer never fires just before the deadline. */
    gint64 ms = (next - now + 999) / 1000;
    timer_id = g_timeout_add_full(G_PRIORITY_DEFAULT, (guint)MIN(ms, G_MAXUINT), on_timer, NULL,
                                  NULL);
  }
}

static gboolean on_timer(gpointer data)
{
  timer_id = 0;
  check_deadlines();
  return G_SOURCE_REMOVE;
}

static gboolean schedule_on_main(gpointer data)
{
  check_deadlines();
  return G_SOURCE_REMOVE;
}

/* Always queued, never run on the calling thread: a worker calling this
 * during shutdown must not walk a registry that is being freed. */
void expiry_schedule(void)
{
  g_idle_add_full(G_PRIORITY_DEFAULT, schedule_on_main, NULL, NULL);
}

void expiry_stop(void)
{
  if (timer_id != 0)
    g_source_remove(timer_id);
  timer_id = 0;
}
