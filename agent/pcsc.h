/* tessera-agent — watching smart-card readers through pcsc-lite.
 *
 * One thread blocks in SCardGetStatusChange on every reader plus
 * \\?PnP?\Notification, so readers and cards coming and going wake it and
 * nothing else does: an idle agent does not poll. When pcscd stops the
 * thread reports every reader gone and tries again, backing off from
 * 0.2 s to 5 s, until pcscd is back. Events reach the main loop.
 */
#pragma once

#include <glib.h>

typedef enum {
  PCSC_READER_ADDED,
  PCSC_READER_REMOVED,
  PCSC_CARD_INSERTED,
  PCSC_CARD_REMOVED,
} PcscEventKind;

typedef struct {
  PcscEventKind kind;
  const char *reader;
} PcscEvent;

/* Called on the main loop, in the order things happened. */
typedef void (*PcscEventFn)(const PcscEvent *event, gpointer data);

/* Starts the watcher thread (once). */
void pcsc_watch_start(PcscEventFn fn, gpointer data);
/* Ends the wait (SCardCancel) and joins the thread. */
void pcsc_watch_stop(void);

typedef struct {
  char *name;
  gboolean card_present;
  GBytes *atr; /* NULL without a card */
} PcscReader;

/* The readers as last seen (main loop); free with g_ptr_array_unref. */
GPtrArray *pcsc_readers(void);
