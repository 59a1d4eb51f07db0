/* tessera-agent — a request that runs on a token's worker.
 *
 * The main loop builds a job from a decoded request, the worker performs
 * it and encodes the reply, and the job is handed back to the main loop,
 * which sends the reply if the client is still connected.
 */
#pragma once

#include "buf.h"
#include "key.h"
#include "secret.h"

#include <glib.h>
#include <p11-kit/pkcs11.h>
#include <stdint.h>

typedef struct TesseraConn TesseraConn;
typedef struct TesseraToken TesseraToken;
typedef struct TesseraJob TesseraJob;

typedef enum {
  JOB_SIGN,
  JOB_DECRYPT,
  JOB_DERIVE,
  JOB_LOGIN,
  JOB_LOGOUT,
  JOB_EXPIRE, /* the login timer fired: no client, no reply */
  JOB_ATTACH, /* the card is in slot: no client, no reply */
  JOB_DETACH, /* the card is gone: no client, no reply */
} TesseraJobKind;

/* Several jobs answering one request (LOGOUT of every token): the reply is
 * sent when the last finishes, and is the first error if any failed. */
typedef struct {
  GMutex lock;
  guint remaining;
  tproto_buf first_error;
} TesseraJobGroup;

struct TesseraJob {
  TesseraJobKind kind;
  TesseraConn *conn; /* NULL for JOB_EXPIRE */
  uint32_t request_id;
  guint submit_seq; /* the token's count of submitted jobs, this one included */
  TesseraToken *token; /* borrowed: tokens outlive every job */
  TesseraKey *key;     /* owned reference, NULL for LOGIN/LOGOUT */
  uint8_t mech, hash, mgf_hash;
  uint32_t salt_len;
  CK_SLOT_ID slot; /* JOB_ATTACH */
  uint8_t *data; /* digest, ciphertext or peer point: wiped on free */
  size_t data_len;
  TesseraSecret *pin; /* LOGIN: the client's PIN; NULL = the agent asks */
  uint8_t *label; /* OAEP label */
  size_t label_len;
  tproto_buf reply;
  TesseraJobGroup *group; /* NULL for a job that answers alone */
};

TesseraJob *tessera_job_new(TesseraJobKind kind, TesseraConn *conn, uint32_t request_id,
                            TesseraToken *token, TesseraKey *key);
/* Copies bytes into the job (so the request frame can be released). */
gboolean tessera_job_set_data(TesseraJob *job, const uint8_t *p, size_t n);
gboolean tessera_job_set_label(TesseraJob *job, const uint8_t *p, size_t n);
gboolean tessera_job_set_pin(TesseraJob *job, const uint8_t *p, size_t n);
void tessera_job_free(TesseraJob *job);
/* Puts jobs into one group of n; call before submitting any of them. */
void tessera_job_group(TesseraJob **jobs, guint n);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(TesseraJob, tessera_job_free)

/* Worker: encode the reply. */
void tessera_job_reply_error(TesseraJob *job, uint32_t code, const char *fmt, ...)
    G_GNUC_PRINTF(3, 4);
void tessera_job_reply_data(TesseraJob *job, const uint8_t *p, size_t n);
void tessera_job_reply_ok(TesseraJob *job);
/* Worker: whether an error reply is set. */
gboolean tessera_job_failed(const TesseraJob *job);
/* Worker: sends the reply (if the client is still there) and frees. */
void tessera_job_finish(TesseraJob *job);
