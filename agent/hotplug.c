/* tessera-agent — cards coming and going: PC/SC events to tokens. */
#include "hotplug.h"

#include "events.h"
#include "job.h"
#include "messages.h"
#include "modules.h"
#include "pcsc.h"
#include "registry.h"

#include <gio/gio.h>
#include <string.h>

typedef enum { TASK_SCAN, TASK_OPEN } TaskKind;

typedef struct {
  TaskKind kind;
  CK_FUNCTION_LIST *module; /* TASK_OPEN */
  char *module_path;
  CK_SLOT_ID slot;
  char *identity;
} Task;

static GThreadPool *scanner; /* one thread: scans and opens in order */
static gboolean scan_queued; /* main loop only: coalesces bursts of events */
static GPtrArray *opening;   /* main loop only: "label\nserial" being opened */
/* main loop only: readers whose card was out since the last scan was
 * applied; a card seen there again may be another session's worth of
 * card (pulled and put back between two scans) and is attached anew */
static GHashTable *churned;
/* main loop only: readers PC/SC reported gone (unplugged, or pcscd
 * stopped) and not back since. A module may still show a card in one:
 * OpenSC's first call after pcscd went down can meet the closing socket
 * and get an error it does not take for "no service" (e.g.
 * SCARD_W_SECURITY_VIOLATION); it then keeps the cards it knew until a
 * later call finds pcscd gone. Such a slot is not believed, and the
 * modules are asked again, backing off, until they agree with PC/SC. */
static GHashTable *gone;
/* main loop only: "module slot" -> reader, as the slot was last described.
 * In that same moment OpenSC fails C_GetSlotInfo, and the slot must still
 * be known as the gone reader's. */
static GHashTable *slot_readers;
static guint recheck_source;
static guint recheck_tries;
#define RECHECK_FIRST_MS 100
#define RECHECK_MAX_MS 5000
#define RECHECK_TRIES 12

static void task_free(Task *t)
{
  g_free(t->module_path);
  g_free(t->identity);
  g_free(t);
}

static char *identity(const char *label, const char *serial)
{
  return g_strdup_printf("%s\n%s", label, serial);
}

static gboolean same_card(const TesseraToken *t, const ModuleSlot *s)
{
  return t->module == s->module && strcmp(t->label, s->label) == 0 &&
         strcmp(t->serial, s->serial) == 0;
}

static gboolean in_gone_reader(const ModuleSlot *s)
{
  return s->reader[0] != '\0' && g_hash_table_contains(gone, s->reader);
}

/* Fills in the reader of a slot whose description could not be read from
 * what it was before, and notes it otherwise. */
static void know_reader(ModuleSlot *s)
{
  char *key = g_strdup_printf("%p %lu", (void *)s->module, (unsigned long)s->slot);
  if (s->reader[0] != '\0') {
    g_hash_table_replace(slot_readers, key, g_strdup(s->reader));
    return;
  }
  const char *was = g_hash_table_lookup(slot_readers, key);
  if (was != NULL) {
    g_free(s->reader);
    s->reader = g_strdup(was);
  }
  g_free(key);
}

static gboolean module_failed(GPtrArray *failed, CK_FUNCTION_LIST *module)
{
  for (guint i = 0; i < failed->len; i++)
    if (failed->pdata[i] == module)
      return TRUE;
  return FALSE;
}

static gboolean being_opened(const ModuleSlot *s)
{
  g_autofree char *id = identity(s->label, s->serial);
  for (guint i = 0; i < opening->len; i++)
    if (strcmp(opening->pdata[i], id) == 0)
      return TRUE;
  return FALSE;
}

static void submit_card_job(TesseraToken *t, TesseraJobKind kind, CK_SLOT_ID slot)
{
  TesseraJob *job = tessera_job_new(kind, NULL, 0, t, NULL);
  job->slot = slot;
  tessera_token_submit(t, job);
}

/* Compared with what was last asked of the worker, not with what it has
 * done yet: its queue may still hold an ATTACH or DETACH. */
static void expect_absent(TesseraToken *t)
{
  tessera_token_begin_removal(t);
  submit_card_job(t, JOB_DETACH, 0);
  t->expected_present = FALSE;
}

static void expect_present(TesseraToken *t, const ModuleSlot *where)
{
  submit_card_job(t, JOB_ATTACH, where->slot);
  t->expected_present = TRUE;
  t->expected_slot = where->slot;
  g_free(t->expected_reader);
  t->expected_reader = g_strdup(where->reader);
}

static void schedule_scan(void);

static gboolean recheck(gpointer data)
{
  recheck_source = 0;
  schedule_scan();
  return G_SOURCE_REMOVE;
}

/* A scan showed a card in a reader PC/SC says is gone: ask again later
 * (0.1 s, 0.2 s, ... 5 s; about half a minute in all). */
static void schedule_recheck(void)
{
  if (recheck_source != 0 || recheck_tries > RECHECK_TRIES)
    return;
  if (recheck_tries++ == RECHECK_TRIES) {
    g_message("a module still shows cards in readers PC/SC says are gone; they stay absent");
    return;
  }
  guint ms = MIN(RECHECK_FIRST_MS << MIN(recheck_tries - 1, 6u), RECHECK_MAX_MS);
  recheck_source = g_timeout_add(ms, recheck, NULL);
}

/* ---- results on the main loop ---- */

typedef struct {
  GPtrArray *seen;   /* of ModuleSlot */
  GPtrArray *failed; /* of CK_FUNCTION_LIST */
} ScanResult;

static void scan_result_free(ScanResult *r)
{
  g_ptr_array_unref(r->seen);
  g_ptr_array_unref(r->failed);
  g_free(r);
}

static gboolean apply_scan(gpointer data)
{
  ScanResult *r = data;
  if (scanner == NULL) /* shutting down */
    return G_SOURCE_REMOVE;
  /* What a module shows in a reader that is gone is what it saw last,
   * not what is there: such slots are left out. */
  gboolean stale = FALSE;
  for (guint j = r->seen->len; j-- > 0;) {
    ModuleSlot *s = r->seen->pdata[j];
    know_reader(s);
    if (!in_gone_reader(s))
      continue;
    g_debug("%s still shows '%s' in '%s', which is gone: asking again", s->module_path, s->label,
            s->reader);
    g_ptr_array_remove_index(r->seen, j);
    stale = TRUE;
  }
  if (stale)
    schedule_recheck();
  else
    recheck_tries = 0;
  GPtrArray *tokens = registry_tokens();
  for (guint i = 0; i < tokens->len; i++) {
    TesseraToken *t = tokens->pdata[i];
    if (module_failed(r->failed, t->module))
      continue;
    const ModuleSlot *where = NULL;
    for (guint j = 0; j < r->seen->len && where == NULL; j++)
      if (same_card(t, r->seen->pdata[j]))
        where = r->seen->pdata[j];
    if (where == NULL) {
      if (t->expected_present)
        expect_absent(t);
      continue;
    }
    gboolean moved = t->expected_present && where->slot != t->expected_slot;
    gboolean swapped = t->expected_present && g_hash_table_contains(churned, where->reader);
    if (moved || swapped)
      expect_absent(t);
    if (!t->expected_present)
      expect_present(t, where);
  }
  g_hash_table_remove_all(churned);
  for (guint j = 0; j < r->seen->len; j++) {
    const ModuleSlot *s = r->seen->pdata[j];
    gboolean known = FALSE;
    for (guint i = 0; i < tokens->len && !known; i++)
      known = same_card(tokens->pdata[i], s);
    if (known || being_opened(s))
      continue;
    Task *t = g_new0(Task, 1);
    t->kind = TASK_OPEN;
    t->module = s->module;
    t->module_path = g_strdup(s->module_path);
    t->slot = s->slot;
    t->identity = identity(s->label, s->serial);
    g_ptr_array_add(opening, g_strdup(t->identity));
    g_thread_pool_push(scanner, t, NULL);
  }
  return G_SOURCE_REMOVE;
}

typedef struct {
  TesseraToken *token; /* NULL: the open failed */
  char *identity;
} Opened;

static gboolean add_opened(gpointer data)
{
  Opened *o = data;
  if (scanner == NULL) { /* shutting down: the registry is gone */
    tessera_token_free(o->token);
    g_free(o->identity);
    g_free(o);
    return G_SOURCE_REMOVE;
  }
  for (guint i = 0; i < opening->len; i++)
    if (strcmp(opening->pdata[i], o->identity) == 0) {
      g_ptr_array_remove_index(opening, i);
      break;
    }
  if (o->token != NULL) {
    registry_add(o->token);
    events_token_changed(o->token, TRUE);
  }
  g_free(o->identity);
  g_free(o);
  return G_SOURCE_REMOVE;
}

/* ---- the scanner thread ---- */

static gboolean scan_started(gpointer data)
{
  scan_queued = FALSE;
  return G_SOURCE_REMOVE;
}

static void run_task(gpointer data, gpointer user_data)
{
  Task *t = data;
  if (t->kind == TASK_SCAN) {
    /* From here on an event queues the next scan: this one may be too
     * early to see it. */
    g_idle_add_full(G_PRIORITY_DEFAULT, scan_started, NULL, NULL);
    ScanResult *r = g_new0(ScanResult, 1);
    r->failed = g_ptr_array_new();
    r->seen = modules_scan(r->failed);
    g_idle_add_full(G_PRIORITY_DEFAULT, apply_scan, r,
                               (GDestroyNotify)scan_result_free);
  } else {
    g_autoptr(GError) error = NULL;
    Opened *o = g_new0(Opened, 1);
    o->identity = g_steal_pointer(&t->identity);
    o->token = tessera_token_open(t->module, t->module_path, t->slot, &error);
    if (o->token == NULL)
      g_message("a new card in slot %lu of %s cannot be used: %s", (unsigned long)t->slot,
                t->module_path, error->message);
    else
      g_message("new token '%s' (serial %s) from %s", o->token->label, o->token->serial,
                t->module_path);
    g_idle_add_full(G_PRIORITY_DEFAULT, add_opened, o, NULL);
  }
  task_free(t);
}

static void schedule_scan(void)
{
  if (scan_queued || scanner == NULL)
    return;
  scan_queued = TRUE;
  Task *t = g_new0(Task, 1);
  t->kind = TASK_SCAN;
  g_thread_pool_push(scanner, t, NULL);
}

static void on_pcsc_event(const PcscEvent *e, gpointer data)
{
  static const uint8_t kinds[] = {
    [PCSC_READER_ADDED] = TPROTO_EVENT_READER_ADDED,
    [PCSC_READER_REMOVED] = TPROTO_EVENT_READER_REMOVED,
    [PCSC_CARD_INSERTED] = TPROTO_EVENT_CARD_INSERTED,
    [PCSC_CARD_REMOVED] = TPROTO_EVENT_CARD_REMOVED,
  };
  g_debug("PC/SC: %s: %s", tproto_event_name(kinds[e->kind]), e->reader);
  if (e->kind == PCSC_CARD_REMOVED)
    g_hash_table_add(churned, g_strdup(e->reader));
  if (e->kind == PCSC_READER_REMOVED)
    g_hash_table_add(gone, g_strdup(e->reader));
  if (e->kind == PCSC_READER_ADDED)
    g_hash_table_remove(gone, e->reader);
  events_reader(kinds[e->kind], e->reader);
  schedule_scan();
}

void hotplug_start(void)
{
  opening = g_ptr_array_new_with_free_func(g_free);
  churned = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
  gone = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
  slot_readers = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
  recheck_tries = 0;
  scanner = g_thread_pool_new(run_task, NULL, 1, TRUE, NULL);
  pcsc_watch_start(on_pcsc_event, NULL);
}

void hotplug_stop(void)
{
  pcsc_watch_stop();
  /* Queued scans and opens run to the end; their results find the
   * scanner gone and are dropped. */
  GThreadPool *pool = scanner;
  scanner = NULL;
  if (pool != NULL)
    g_thread_pool_free(pool, FALSE, TRUE);
  g_clear_pointer(&opening, g_ptr_array_unref);
  g_clear_pointer(&churned, g_hash_table_unref);
  g_clear_handle_id(&recheck_source, g_source_remove);
  g_clear_pointer(&gone, g_hash_table_unref);
  g_clear_pointer(&slot_readers, g_hash_table_unref);
}

/* ---- results from the workers ---- */

typedef struct {
  TesseraToken *token;
  gboolean present;
  gboolean attach_failed;
} Presence;

static gboolean announce(gpointer data)
{
  Presence *p = data;
  /* At shutdown the token may be freed before this runs. */
  if (!registry_contains(p->token))
    return G_SOURCE_REMOVE;
  if (p->attach_failed) {
    /* The card went again while it was read: look again. */
    p->token->expected_present = FALSE;
    schedule_scan();
    return G_SOURCE_REMOVE;
  }
  events_token_changed(p->token, p->present);
  return G_SOURCE_REMOVE;
}

static void announce_later(TesseraToken *token, gboolean present, gboolean attach_failed)
{
  Presence *p = g_new0(Presence, 1);
  p->token = token;
  p->present = present;
  p->attach_failed = attach_failed;
  g_idle_add_full(G_PRIORITY_DEFAULT, announce, p, g_free);
}

void hotplug_attached(TesseraToken *token, gboolean ok)
{
  announce_later(token, ok, !ok);
}

void hotplug_detached(TesseraToken *token)
{
  announce_later(token, FALSE, FALSE);
}
