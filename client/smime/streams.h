/* tessera smime — internal to client/smime: what its own BIOs and GMime
 * streams share (bio.c, tmpfile.c, file-stream.c). */
#pragma once

#include "smime.h"

/* How much the temporary files, the message file and the output filter
 * read ahead or collect before a system call. */
#define SMIME_BUF_SIZE (64 * 1024)

/* A BIO type: its functions (NULL: not set) and, made from them once by
 * smime_bio_method (thread-safe), its BIO_METHOD. */
typedef struct {
  int type; /* BIO_TYPE_SOURCE_SINK or BIO_TYPE_FILTER */
  const char *name;
  int (*write)(BIO *b, const char *data, int len);
  int (*read)(BIO *b, char *data, int len);
  int (*gets)(BIO *b, char *data, int size);
  int (*puts)(BIO *b, const char *s);
  long (*ctrl)(BIO *b, int cmd, long num, void *ptr);
  int (*create)(BIO *b);
  int (*destroy)(BIO *b);
  gsize once;
  BIO_METHOD *method;
} SmimeBioKind;
BIO_METHOD *smime_bio_method(SmimeBioKind *kind);

/* BIO_gets over a source read through peek (the next unread bytes, FALSE
 * at the end or on an error) and consume: one line, or size - 1 bytes. */
typedef gboolean (*SmimePeekFn)(void *src, const char **p, size_t *n, gboolean *err);
typedef void (*SmimeConsumeFn)(void *src, size_t n);
int smime_gets_line(void *src, SmimePeekFn peek, SmimeConsumeFn consume, char *data, int size);

/* An unlinked temporary file, read/write. */
int smime_tmp_fd(GError **error);
/* Copies from to to, to the end of from (spooling stdin). */
gboolean smime_copy_fd(int from, int to, GError **error);
/* A read-only GMime stream on fd (which it owns) from its current offset. */
GMimeStream *smime_file_stream_new(int fd);

/* canonical.c: the canonical entity as GMime writes it through a CRLF
 * stream into a temporary file BIO (smime_entity_bio's fallback); not
 * static so that tests/smime/test-canonical.c can compare the fast path
 * with it. */
BIO *smime_canonical_by_gmime(GMimeObject *entity, GError **error);
