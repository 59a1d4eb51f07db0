/* tessera-agent — watching smart-card readers through pcsc-lite. */
#include "pcsc.h"

#include <PCSC/winscard.h>
#include <PCSC/wintypes.h>
#include <string.h>

#define PNP_READER "\\\\?PnP?\\Notification"
#define MAX_READERS 32
#define RETRY_MIN_MS 200
/* libpcsclite turns INFINITE into 60 s and then renews the wait with two
 * round trips to pcscd: a wake-up a minute. A day, as given, is none. */
#define WAIT_MS (24u * 3600u * 1000u)
#define RETRY_MAX_MS 5000

typedef struct {
  char *name;
  DWORD state; /* last dwEventState, SCARD_STATE_CHANGED cleared */
  guint8 atr[MAX_ATR_SIZE];
  DWORD atr_len;
} Known;

static struct {
  GThread *thread;
  PcscEventFn fn;
  gpointer data;
  GMutex lock; /* guards the fields below */
  GCond wake;
  gboolean stopping;
  gboolean exited;
  gboolean have_context;
  SCARDCONTEXT context;
  GPtrArray *snapshot; /* of PcscReader, for pcsc_readers() */
} w;

/* ---- events to the main loop ---- */

typedef struct {
  PcscEventKind kind;
  char *reader;
} Queued;

static gboolean deliver(gpointer data)
{
  Queued *q = data;
  PcscEvent e = { q->kind, q->reader };
  if (w.fn)
    w.fn(&e, w.data);
  return G_SOURCE_REMOVE;
}

static void queued_free(gpointer data)
{
  Queued *q = data;
  g_free(q->reader);
  g_free(q);
}

static void emit(PcscEventKind kind, const char *reader)
{
  Queued *q = g_new0(Queued, 1);
  q->kind = kind;
  q->reader = g_strdup(reader);
  g_idle_add_full(G_PRIORITY_DEFAULT, deliver, q, queued_free);
}

/* ---- the readers as seen ---- */

static void reader_free(gpointer data)
{
  PcscReader *r = data;
  g_free(r->name);
  if (r->atr)
    g_bytes_unref(r->atr);
  g_free(r);
}

static void known_free(gpointer data)
{
  Known *k = data;
  g_free(k->name);
  g_free(k);
}

static gboolean is_present(DWORD state)
{
  return (state & SCARD_STATE_PRESENT) && !(state & SCARD_STATE_MUTE);
}

static void publish(GPtrArray *known)
{
  GPtrArray *snap = g_ptr_array_new_with_free_func(reader_free);
  for (guint i = 0; i < known->len; i++) {
    Known *k = known->pdata[i];
    PcscReader *r = g_new0(PcscReader, 1);
    r->name = g_strdup(k->name);
    r->card_present = is_present(k->state);
    r->atr = r->card_present ? g_bytes_new(k->atr, k->atr_len) : NULL;
    g_ptr_array_add(snap, r);
  }
  g_mutex_lock(&w.lock);
  GPtrArray *old = w.snapshot;
  w.snapshot = snap;
  g_mutex_unlock(&w.lock);
  if (old)
    g_ptr_array_unref(old);
}

GPtrArray *pcsc_readers(void)
{
  g_mutex_lock(&w.lock);
  GPtrArray *snap = w.snapshot ? g_ptr_array_ref(w.snapshot) : NULL;
  g_mutex_unlock(&w.lock);
  return snap ? snap : g_ptr_array_new_with_free_func(reader_free);
}

static Known *find_known(GPtrArray *known, const char *name)
{
  for (guint i = 0; i < known->len; i++)
    if (strcmp(((Known *)known->pdata[i])->name, name) == 0)
      return known->pdata[i];
  return NULL;
}

/* Every reader gone: pcscd stopped. */
static void forget_all(GPtrArray *known)
{
  for (guint i = 0; i < known->len; i++) {
    Known *k = known->pdata[i];
    if (is_present(k->state))
      emit(PCSC_CARD_REMOVED, k->name);
    emit(PCSC_READER_REMOVED, k->name);
  }
  g_ptr_array_set_size(known, 0);
  publish(known);
}

/* Brings the list of readers up to date; FALSE when pcscd is gone. */
static gboolean list_readers(SCARDCONTEXT ctx, GPtrArray *known)
{
  DWORD len = 0;
  LONG rv = SCardListReaders(ctx, NULL, NULL, &len);
  g_autofree char *names = NULL;
  if (rv == SCARD_S_SUCCESS) {
    names = g_malloc0(len + 1);
    rv = SCardListReaders(ctx, NULL, names, &len);
  }
  if (rv == SCARD_E_NO_SERVICE || rv == SCARD_E_SERVICE_STOPPED || rv == SCARD_E_INVALID_HANDLE)
    return FALSE;
  if (rv != SCARD_S_SUCCESS && rv != SCARD_E_NO_READERS_AVAILABLE) {
    g_warning("PC/SC: cannot list the readers: %s", pcsc_stringify_error(rv));
    names = NULL;
  }
  /* Gone readers first, then new ones. */
  for (guint i = known->len; i-- > 0;) {
    Known *k = known->pdata[i];
    gboolean still = FALSE;
    for (const char *n = names; n && *n; n += strlen(n) + 1)
      still = still || strcmp(n, k->name) == 0;
    if (!still) {
      if (is_present(k->state))
        emit(PCSC_CARD_REMOVED, k->name);
      emit(PCSC_READER_REMOVED, k->name);
      g_ptr_array_remove_index(known, i);
    }
  }
  for (const char *n = names; n && *n && known->len < MAX_READERS; n += strlen(n) + 1) {
    if (find_known(known, n) != NULL)
      continue;
    Known *k = g_new0(Known, 1);
    k->name = g_strdup(n);
    k->state = SCARD_STATE_UNAWARE;
    g_ptr_array_add(known, k);
    emit(PCSC_READER_ADDED, n);
  }
  return TRUE;
}

/* One reader's new state: card in, card out, or both (a quick swap shows
 * only in the event counter in the high word). */
static void note_state(Known *k, const SCARD_READERSTATE *st)
{
  DWORD now = st->dwEventState & ~(DWORD)SCARD_STATE_CHANGED;
  gboolean was = is_present(k->state), is = is_present(now);
  gboolean swapped = was && is && (k->state >> 16) != (now >> 16) && k->state != SCARD_STATE_UNAWARE;
  memcpy(k->atr, st->rgbAtr, MIN(st->cbAtr, sizeof(k->atr)));
  k->atr_len = MIN(st->cbAtr, sizeof(k->atr));
  k->state = now;
  if (was && (!is || swapped))
    emit(PCSC_CARD_REMOVED, k->name);
  if (is && (!was || swapped))
    emit(PCSC_CARD_INSERTED, k->name);
}

/* Waits for the next change; FALSE when pcscd is gone or we stop. */
static gboolean wait_for_change(SCARDCONTEXT ctx, GPtrArray *known)
{
  SCARD_READERSTATE st[MAX_READERS + 1];
  memset(st, 0, sizeof(st));
  for (guint i = 0; i < known->len; i++) {
    Known *k = known->pdata[i];
    st[i].szReader = k->name;
    st[i].dwCurrentState = k->state;
  }
  /* pcsc-lite wakes the PnP entry when the reader count differs from the
   * high word. */
  st[known->len].szReader = PNP_READER;
  st[known->len].dwCurrentState = (DWORD)known->len << 16;
  LONG rv = SCardGetStatusChange(ctx, WAIT_MS, st, known->len + 1);
  if (rv == SCARD_E_CANCELLED)
    return FALSE;
  if (rv == SCARD_E_NO_SERVICE || rv == SCARD_E_SERVICE_STOPPED || rv == SCARD_E_INVALID_HANDLE)
    return FALSE;
  if (rv != SCARD_S_SUCCESS) {
    /* SCARD_E_UNKNOWN_READER: one went away; the list is read again. */
    if (rv != SCARD_E_UNKNOWN_READER && rv != SCARD_E_TIMEOUT)
      g_debug("PC/SC: SCardGetStatusChange: %s", pcsc_stringify_error(rv));
    return TRUE;
  }
  for (guint i = 0; i < known->len; i++)
    if (st[i].dwEventState & SCARD_STATE_CHANGED)
      note_state(known->pdata[i], &st[i]);
  publish(known);
  return TRUE;
}

static gboolean stopping(void)
{
  g_mutex_lock(&w.lock);
  gboolean s = w.stopping;
  g_mutex_unlock(&w.lock);
  return s;
}

/* Sleeps ms unless told to stop; FALSE when stopping. */
static gboolean pause_ms(guint ms)
{
  gint64 until = g_get_monotonic_time() + (gint64)ms * 1000;
  g_mutex_lock(&w.lock);
  while (!w.stopping && g_cond_wait_until(&w.wake, &w.lock, until))
    ;
  gboolean go_on = !w.stopping;
  g_mutex_unlock(&w.lock);
  return go_on;
}

static gpointer watch_main(gpointer data)
{
  g_autoptr(GPtrArray) known = g_ptr_array_new_with_free_func(known_free);
  guint retry_ms = RETRY_MIN_MS;
  gboolean lost_logged = FALSE;
  while (!stopping()) {
    SCARDCONTEXT ctx;
    LONG rv = SCardEstablishContext(SCARD_SCOPE_SYSTEM, NULL, NULL, &ctx);
    if (rv != SCARD_S_SUCCESS) {
      if (!lost_logged)
        g_message("PC/SC: no smart-card service (%s); waiting for pcscd",
                  pcsc_stringify_error(rv));
      lost_logged = TRUE;
      if (!pause_ms(retry_ms))
        break;
      retry_ms = MIN(retry_ms * 2, RETRY_MAX_MS);
      continue;
    }
    if (lost_logged)
      g_message("PC/SC: the smart-card service is back");
    lost_logged = FALSE;
    retry_ms = RETRY_MIN_MS;
    g_mutex_lock(&w.lock);
    w.context = ctx;
    w.have_context = !w.stopping;
    g_mutex_unlock(&w.lock);
    while (!stopping() && list_readers(ctx, known) && wait_for_change(ctx, known))
      ;
    g_mutex_lock(&w.lock);
    w.have_context = FALSE;
    g_mutex_unlock(&w.lock);
    SCardReleaseContext(ctx);
    if (!stopping()) {
      g_message("PC/SC: lost the smart-card service");
      lost_logged = TRUE;
      forget_all(known);
      if (!pause_ms(RETRY_MIN_MS))
        break;
    }
  }
  g_mutex_lock(&w.lock);
  w.exited = TRUE;
  g_cond_broadcast(&w.wake);
  g_mutex_unlock(&w.lock);
  return NULL;
}

void pcsc_watch_start(PcscEventFn fn, gpointer data)
{
  if (w.thread != NULL)
    return;
  g_mutex_init(&w.lock);
  g_cond_init(&w.wake);
  w.fn = fn;
  w.data = data;
  w.stopping = FALSE;
  w.exited = FALSE;
  w.thread = g_thread_new("pcsc watch", watch_main, NULL);
}

void pcsc_watch_stop(void)
{
  if (w.thread == NULL)
    return;
  /* A cancel only ends a wait already under way: repeat it until the
   * thread is out, in case it was between two waits. */
  g_mutex_lock(&w.lock);
  w.stopping = TRUE;
  while (!w.exited) {
    if (w.have_context)
      SCardCancel(w.context);
    g_cond_broadcast(&w.wake);
    g_cond_wait_until(&w.wake, &w.lock, g_get_monotonic_time() + 50 * 1000);
  }
  g_mutex_unlock(&w.lock);
  g_thread_join(w.thread);
  w.thread = NULL;
  w.fn = NULL;
  g_mutex_lock(&w.lock);
  g_clear_pointer(&w.snapshot, g_ptr_array_unref);
  g_mutex_unlock(&w.lock);
}
