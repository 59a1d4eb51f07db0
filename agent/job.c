/* tessera-agent — a request that runs on a token's worker. */
#include "job.h"

#include "connection.h"
#include "messages.h"

#include <string.h>

TesseraJob *tessera_job_new(TesseraJobKind kind, TesseraConn *conn, uint32_t request_id,
                            TesseraToken *token, TesseraKey *key)
{
  TesseraJob *job = g_new0(TesseraJob, 1);
  job->kind = kind;
  if (conn != NULL) {
    job->conn = tessera_conn_ref(conn);
    tessera_conn_job_started(conn);
  }
  job->request_id = request_id;
  job->token = token;
  job->key = key ? tessera_key_ref(key) : NULL;
  tproto_buf_init(&job->reply);
  return job;
}

static gboolean copy_bytes(uint8_t **dst, size_t *dst_len, const uint8_t *p, size_t n)
{
  tproto_bytes v = tproto_mem(p, n);
  return tproto_bytes_dup(v, dst, dst_len) == TPROTO_OK;
}

gboolean tessera_job_set_data(TesseraJob *job, const uint8_t *p, size_t n)
{
  return copy_bytes(&job->data, &job->data_len, p, n);
}

gboolean tessera_job_set_label(TesseraJob *job, const uint8_t *p, size_t n)
{
  return copy_bytes(&job->label, &job->label_len, p, n);
}

gboolean tessera_job_set_pin(TesseraJob *job, const uint8_t *p, size_t n)
{
  job->pin = tessera_secret_new_from(p, n);
  return job->pin != NULL;
}

void tessera_job_group(TesseraJob **jobs, guint n)
{
  TesseraJobGroup *group = g_new0(TesseraJobGroup, 1);
  g_mutex_init(&group->lock);
  group->remaining = n;
  tproto_buf_init(&group->first_error);
  for (guint i = 0; i < n; i++)
    jobs[i]->group = group;
}

void tessera_job_free(TesseraJob *job)
{
  if (job == NULL)
    return;
  if (job->data)
    tproto_wipe(job->data, job->data_len);
  g_free(job->data);
  g_free(job->label);
  tessera_secret_free(job->pin);
  tproto_buf_free(&job->reply);
  tessera_key_unref(job->key);
  if (job->conn != NULL) {
    tessera_conn_job_done(job->conn);
    tessera_conn_unref(job->conn);
  }
  g_free(job);
}

void tessera_job_reply_error(TesseraJob *job, uint32_t code, const char *fmt, ...)
{
  va_list ap;
  va_start(ap, fmt);
  g_autofree char *msg = g_strdup_vprintf(fmt, ap);
  va_end(ap);
  tproto_buf_reset(&job->reply);
  if (tproto_enc_error(&job->reply, job->request_id, code, msg) < 0)
    g_warning("cannot encode an error reply");
}

void tessera_job_reply_data(TesseraJob *job, const uint8_t *p, size_t n)
{
  tproto_buf_reset(&job->reply);
  if (tproto_enc_data(&job->reply, job->request_id, tproto_mem(p, n)) < 0)
    tessera_job_reply_error(job, TPROTO_ERR_INTERNAL, "the result is too large to send");
}

void tessera_job_reply_ok(TesseraJob *job)
{
  tproto_buf_reset(&job->reply);
  (void)tproto_enc_empty(&job->reply, TPROTO_R_OK, job->request_id);
}

static gboolean is_error_reply(const tproto_buf *reply)
{
  return reply->len > 4 && reply->data[4] == TPROTO_R_ERROR;
}

gboolean tessera_job_failed(const TesseraJob *job)
{
  return is_error_reply(&job->reply);
}

/* Folds a grouped job's reply into its group's; TRUE for the last job,
 * which then carries the group's answer. */
static gboolean group_settle(TesseraJob *job)
{
  TesseraJobGroup *group = job->group;
  g_mutex_lock(&group->lock);
  if (is_error_reply(&job->reply) && group->first_error.len == 0)
    (void)tproto_put(&group->first_error, job->reply.data, job->reply.len);
  gboolean last = --group->remaining == 0;
  g_mutex_unlock(&group->lock);
  if (!last)
    return FALSE;
  if (group->first_error.len > 0) {
    tproto_buf_reset(&job->reply);
    (void)tproto_put(&job->reply, group->first_error.data, group->first_error.len);
  }
  tproto_buf_free(&group->first_error);
  g_mutex_clear(&group->lock);
  g_free(group);
  return TRUE;
}

void tessera_job_finish(TesseraJob *job)
{
  G_GNUC_UNUSED g_autoptr(TesseraJob) owned = job;
  if (job->conn == NULL)
    return;
  if (job->group != NULL && !group_settle(job))
    return;
  if (job->reply.len == 0)
    tessera_job_reply_error(job, TPROTO_ERR_INTERNAL, "the request produced no answer");
  /* Straight from the worker: the client is not kept waiting for a main
   * loop wake-up. */
  tessera_conn_send(job->conn, &job->reply);
}
