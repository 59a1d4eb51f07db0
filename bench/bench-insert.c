/* bench-insert — how long after a card goes in its key can be used: the
 * virtual card (tests/vcard/virtual-piv --control) is removed and inserted
 * again, and each round times the insertion to
 *   (a) a subscribed client receiving KEY_AVAILABLE for the card's key, and
 *   (b) LIST_KEYS on another connection showing that key available.
 *
 *   bench-insert --control PATH (--key ID | --serial SERIAL)
 *                [--socket PATH] [--rounds N]
 *
 * Run it with bench/run-card-bench.sh, which sets up pcscd, the card and
 * the agent.
 */
#include "bench-error.h"
#include "messages.h"
#include "tessera-client.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

/* Removal and insertion take well under a second; this only stops a
 * benchmark whose card or agent hangs. */
#define STEP_TIMEOUT_US (30 * G_USEC_PER_SEC)
/* LIST_KEYS is asked this often while the key is not listed yet: the
 * resolution of (b). Each poll costs the agent one request (tens of us). */
#define LIST_POLL_MS 1
/* pcscd looks for vpcd's cards every 400 ms. Inserting right after the
 * removal has been announced would always land at the same point of that
 * cycle (the removal was seen at a poll, the agent answers a fixed time
 * later), so every round would measure the same share of the poll wait.
 * A random pause of up to one whole cycle and then some spreads the
 * insertions over the cycle, as a hand inserting a card does. */
#define PAUSE_MIN_MS 100
#define PAUSE_SPREAD_MS 500

G_DEFINE_AUTOPTR_CLEANUP_FUNC(tessera_client, tessera_client_free)

static tessera_client *connect_agent(const char *path, const char *name, GError **error)
{
  tessera_client *c = NULL;
  char *msg = NULL;
  int r = tessera_client_connect(path, name, &c, &msg);
  if (r != TESSERA_OK) {
    g_set_error(error, BENCH_ERROR, 0, "cannot connect to the agent at %s: %s", path,
                msg ? msg : "?");
    free(msg);
    return NULL;
  }
  return c;
}

static gboolean agent_ok(tessera_client *c, int r, const char *what, GError **error)
{
  if (r == TESSERA_OK)
    return TRUE;
  g_set_error(error, BENCH_ERROR, 0, "%s: %s", what, tessera_client_last_error(c));
  return FALSE;
}

/* ---- the card's control socket ---- */

/* Sends one command line and reads the card's one-line answer ("ok {...}").
 * *sent_at (may be NULL) is when the command went out: for "insert" that
 * is the moment of insertion. */
static gboolean card_command(const char *path, const char *cmd, gint64 *sent_at, GError **error)
{
  struct sockaddr_un addr = { .sun_family = AF_UNIX };
  if (strlen(path) >= sizeof(addr.sun_path)) {
    g_set_error(error, BENCH_ERROR, 0, "%s: path too long for a Unix socket", path);
    return FALSE;
  }
  strcpy(addr.sun_path, path);
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0 || connect(fd, (struct sockaddr *)&addr, sizeof(addr)) != 0) {
    g_set_error(error, BENCH_ERROR, 0, "card control socket %s: %s", path, g_strerror(errno));
    if (fd >= 0)
      close(fd);
    return FALSE;
  }
  g_autofree char *line = g_strdup_printf("%s\n", cmd);
  if (sent_at)
    *sent_at = g_get_monotonic_time();
  gboolean ok = send(fd, line, strlen(line), MSG_NOSIGNAL) == (ssize_t)strlen(line);
  char reply[4096];
  size_t got = 0;
  while (ok && got < sizeof(reply) - 1 && memchr(reply, '\n', got) == NULL) {
    ssize_t n = read(fd, reply + got, sizeof(reply) - 1 - got);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      ok = FALSE;
    else
      got += (size_t)n;
  }
  int saved = errno;
  close(fd);
  reply[got] = '\0';
  if (!ok) {
    g_set_error(error, BENCH_ERROR, 0, "card control socket %s: %s: no answer (%s)", path, cmd,
                g_strerror(saved));
    return FALSE;
  }
  if (strncmp(reply, "ok", 2) != 0) {
    g_strchomp(reply);
    g_set_error(error, BENCH_ERROR, 0, "the card refused '%s': %s", cmd, reply);
    return FALSE;
  }
  return TRUE;
}

/* ---- the key ---- */

/* The key's LIST_KEYS flags, or -1 when it is not listed at all. */
static gboolean key_flags(tessera_client *c, const char *token_id, const char *key_id,
                          gint64 *flags, GError **error)
{
  tessera_key *keys = NULL;
  size_t n = 0;
  if (!agent_ok(c, tessera_list_keys(c, token_id, &keys, &n), "LIST_KEYS", error))
    return FALSE;
  *flags = -1;
  for (size_t i = 0; i < n; i++)
    if (strcmp(keys[i].id, key_id) == 0)
      *flags = keys[i].flags;
  tessera_keys_free(keys, n);
  return TRUE;
}

static gboolean listed_available(tessera_client *c, const char *token_id, const char *key_id,
                                 gboolean *available, GError **error)
{
  gint64 flags;
  if (!key_flags(c, token_id, key_id, &flags, error))
    return FALSE;
  *available = flags >= 0 && (flags & TPROTO_KEY_AVAILABLE);
  return TRUE;
}

/* The key --key names (resolved by the agent), or the first key of the
 * token whose serial is --serial. Sets the key's and its token's ids. */
static gboolean choose_key(tessera_client *c, const char *name, const char *serial,
                           char **key_id, char **token_id, GError **error)
{
  if (name) {
    tessera_key *k = NULL;
    if (!agent_ok(c, tessera_find_key(c, name, &k), name, error))
      return FALSE;
    *key_id = g_strdup(k->id);
    *token_id = g_strdup(k->token_id);
    tessera_keys_free(k, 1);
    return TRUE;
  }
  tessera_token *tokens = NULL;
  size_t n_tokens = 0;
  if (!agent_ok(c, tessera_list_tokens(c, &tokens, &n_tokens), "LIST_TOKENS", error))
    return FALSE;
  g_autofree char *tid = NULL;
  for (size_t i = 0; i < n_tokens && tid == NULL; i++)
    if (g_ascii_strcasecmp(tokens[i].serial, serial) == 0)
      tid = g_strdup(tokens[i].id);
  tessera_tokens_free(tokens, n_tokens);
  if (tid == NULL) {
    g_set_error(error, BENCH_ERROR, 0, "the agent has no token with serial %s", serial);
    return FALSE;
  }
  tessera_key *keys = NULL;
  size_t n = 0;
  if (!agent_ok(c, tessera_list_keys(c, tid, &keys, &n), "LIST_KEYS", error))
    return FALSE;
  if (n == 0) {
    g_set_error(error, BENCH_ERROR, 0, "token %s has no keys", tid);
    return FALSE;
  }
  *key_id = g_strdup(keys[0].id);
  *token_id = g_steal_pointer(&tid);
  tessera_keys_free(keys, n);
  return TRUE;
}

/* ---- one round ---- */

typedef struct {
  tessera_client *events; /* subscribed */
  tessera_client *lists;  /* LIST_KEYS */
  const char *control;
  const char *key_id, *token_id;
} Bench;

typedef struct {
  double card_ms;  /* insert → CARD_INSERTED event (pcscd noticed the card) */
  double event_ms; /* (a) insert → KEY_AVAILABLE event */
  double list_ms;  /* (b) insert → LIST_KEYS shows the key available */
} Round;

/* One event, or none within timeout_ms: *got tells. */
static gboolean next_event(Bench *b, int timeout_ms, tessera_event *e, gboolean *got,
                           GError **error)
{
  int r = tessera_next_event(b->events, timeout_ms, e);
  *got = r == TESSERA_OK;
  return r == TESSERA_OK || r == TESSERA_E_TIMEOUT ||
         agent_ok(b->events, r, "waiting for events", error);
}

static gboolean is_key_event(const Bench *b, const tessera_event *e, uint8_t kind)
{
  return e->kind == kind && strcmp(e->key_id, b->key_id) == 0;
}

/* Removes the card, waits until the agent says so on both connections,
 * then pauses (see PAUSE_MIN_MS), reading the events that still come. */
static gboolean remove_card(Bench *b, GError **error)
{
  if (!card_command(b->control, "remove", NULL, error))
    return FALSE;
  gint64 deadline = g_get_monotonic_time() + STEP_TIMEOUT_US;
  gboolean gone = FALSE;
  while (!gone) {
    int left_ms = (int)((deadline - g_get_monotonic_time()) / 1000);
    if (left_ms <= 0) {
      g_set_error_literal(error, BENCH_ERROR, 0, "no KEY_UNAVAILABLE within 30 s of the removal");
      return FALSE;
    }
    tessera_event e;
    gboolean got;
    if (!next_event(b, left_ms, &e, &got, error))
      return FALSE;
    gone = got && is_key_event(b, &e, TPROTO_EVENT_KEY_UNAVAILABLE);
    tessera_event_clear(&e);
  }
  gboolean available = TRUE;
  while (available) {
    if (!listed_available(b->lists, b->token_id, b->key_id, &available, error))
      return FALSE;
    if (available && g_get_monotonic_time() > deadline) {
      g_set_error_literal(error, BENCH_ERROR, 0,
                          "LIST_KEYS still shows the key available 30 s after the removal");
      return FALSE;
    }
    if (available)
      g_usleep(LIST_POLL_MS * 1000);
  }
  gint64 until = g_get_monotonic_time() +
                 (PAUSE_MIN_MS + g_random_int_range(0, PAUSE_SPREAD_MS)) * 1000;
  for (gint64 now; (now = g_get_monotonic_time()) < until;) {
    tessera_event e;
    gboolean got;
    if (!next_event(b, (int)((until - now + 999) / 1000), &e, &got, error))
      return FALSE;
    tessera_event_clear(&e);
  }
  return TRUE;
}

/* Inserts the card and waits for (a) and (b) at once, on one thread: the
 * event socket is polled between LIST_KEYS requests, so neither waits for
 * the other longer than one LIST_KEYS round trip. */
static gboolean insert_card(Bench *b, Round *out, GError **error)
{
  gint64 t0;
  if (!card_command(b->control, "insert", &t0, error))
    return FALSE;
  gint64 card_at = 0, event_at = 0, list_at = 0;
  gint64 deadline = t0 + STEP_TIMEOUT_US;
  while (event_at == 0 || list_at == 0) {
    gint64 now = g_get_monotonic_time();
    if (now > deadline) {
      g_set_error(error, BENCH_ERROR, 0, "30 s after the insertion: %s",
                  event_at == 0 ? "no KEY_AVAILABLE event" : "LIST_KEYS still without the key");
      return FALSE;
    }
    if (event_at == 0) {
      int wait_ms = list_at == 0 ? LIST_POLL_MS : (int)((deadline - now) / 1000) + 1;
      tessera_event e;
      gboolean got;
      if (!next_event(b, wait_ms, &e, &got, error))
        return FALSE;
      gint64 at = g_get_monotonic_time();
      if (got && e.kind == TPROTO_EVENT_CARD_INSERTED && card_at == 0)
        card_at = at;
      if (got && is_key_event(b, &e, TPROTO_EVENT_KEY_AVAILABLE))
        event_at = at;
      tessera_event_clear(&e);
    }
    if (list_at == 0) {
      gboolean available;
      if (!listed_available(b->lists, b->token_id, b->key_id, &available, error))
        return FALSE;
      if (available)
        list_at = g_get_monotonic_time();
      else if (event_at != 0)
        g_usleep(LIST_POLL_MS * 1000);
    }
  }
  out->card_ms = card_at ? (double)(card_at - t0) / 1000 : -1;
  out->event_ms = (double)(event_at - t0) / 1000;
  out->list_ms = (double)(list_at - t0) / 1000;
  return TRUE;
}

/* ---- figures ---- */

static int compare_doubles(const void *a, const void *b)
{
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

static void summary(const char *what, double *v, size_t n)
{
  qsort(v, n, sizeof(*v), compare_doubles);
  double median = n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
  printf("%s: median %.1f ms, max %.1f ms (%zu rounds)\n", what, median, v[n - 1], n);
}

typedef struct {
  char *socket, *control, *key, *serial;
  gint rounds;
} Options;

static void options_clear(Options *o)
{
  g_free(o->socket);
  g_free(o->control);
  g_free(o->key);
  g_free(o->serial);
}
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(Options, options_clear)

static gboolean parse_options(int *argc, char ***argv, Options *o, GError **error)
{
  o->rounds = 20;
  GOptionEntry entries[] = {
    { "socket", 0, 0, G_OPTION_ARG_FILENAME, &o->socket, "agent socket (default: as tessera)",
      "PATH" },
    { "control", 0, 0, G_OPTION_ARG_FILENAME, &o->control,
      "the virtual card's control socket (virtual-piv --control; required)", "PATH" },
    { "key", 0, 0, G_OPTION_ARG_STRING, &o->key, "a key of that card (id, URI, label)", "ID" },
    { "serial", 0, 0, G_OPTION_ARG_STRING, &o->serial,
      "without --key: the first key of the token with this serial", "SERIAL" },
    { "rounds", 0, 0, G_OPTION_ARG_INT, &o->rounds, "removals and insertions (default 20)", "N" },
    { NULL, 0, 0, 0, NULL, NULL, NULL },
  };
  g_autoptr(GOptionContext) ctx =
      g_option_context_new("- time a card's insertion until its key is available");
  g_option_context_add_main_entries(ctx, entries, NULL);
  if (!g_option_context_parse(ctx, argc, argv, error))
    return FALSE;
  if (!o->control || (!o->key && !o->serial) || o->rounds < 1) {
    g_set_error_literal(error, BENCH_ERROR, 0,
                        "--control and --key or --serial are required, --rounds must be >= 1");
    return FALSE;
  }
  if (!o->socket)
    o->socket = tessera_default_socket_path();
  if (!o->socket) {
    g_set_error_literal(error, BENCH_ERROR, 0,
                        "no --socket, and neither TESSERA_SOCKET nor XDG_RUNTIME_DIR is set");
    return FALSE;
  }
  return TRUE;
}

static gboolean run(const Options *o, GError **error)
{
  g_autoptr(tessera_client) events = connect_agent(o->socket, "bench-insert events", error);
  if (!events)
    return FALSE;
  g_autoptr(tessera_client) lists = connect_agent(o->socket, "bench-insert lists", error);
  if (!lists)
    return FALSE;
  g_autofree char *key_id = NULL, *token_id = NULL;
  if (!agent_ok(events, tessera_subscribe(events), "SUBSCRIBE", error) ||
      !choose_key(lists, o->key, o->serial, &key_id, &token_id, error))
    return FALSE;
  Bench b = { events, lists, o->control, key_id, token_id };
  gboolean available;
  if (!listed_available(lists, token_id, key_id, &available, error))
    return FALSE;
  if (!available) {
    g_set_error(error, BENCH_ERROR, 0, "%s is not available: is its card in?", key_id);
    return FALSE;
  }
  printf("Key %s\n", key_id);
  g_autofree double *card_ms = g_new(double, o->rounds);
  g_autofree double *event_ms = g_new(double, o->rounds);
  g_autofree double *list_ms = g_new(double, o->rounds);
  /* From the card-inserted event on the time is the agent's (and
   * OpenSC's); before it, pcscd's polling of the reader. */
  g_autofree double *agent_ms = g_new(double, o->rounds);
  size_t n_card = 0;
  for (gint i = 0; i < o->rounds; i++) {
    Round r;
    if (!remove_card(&b, error) || !insert_card(&b, &r, error))
      return FALSE;
    if (r.card_ms >= 0) {
      agent_ms[n_card] = r.event_ms - r.card_ms;
      card_ms[n_card++] = r.card_ms;
    }
    event_ms[i] = r.event_ms;
    list_ms[i] = r.list_ms;
    printf("round %2d: card-inserted event %7.1f ms   key-available event %7.1f ms   "
           "LIST_KEYS available %7.1f ms\n",
           i + 1, r.card_ms, r.event_ms, r.list_ms);
    fflush(stdout);
  }
  if (n_card > 0)
    summary("insert → card-inserted event", card_ms, n_card);
  summary("insert → key-available event", event_ms, (size_t)o->rounds);
  summary("insert → LIST_KEYS available", list_ms, (size_t)o->rounds);
  if (n_card > 0)
    summary("card-inserted → key-available event", agent_ms, n_card);
  return TRUE;
}

int main(int argc, char **argv)
{
  g_auto(Options) options = { 0 };
  g_autoptr(GError) error = NULL;
  if (!parse_options(&argc, &argv, &options, &error)) {
    fprintf(stderr, "bench-insert: %s\n", error->message);
    return 2;
  }
  if (!run(&options, &error)) {
    fprintf(stderr, "bench-insert: %s\n", error->message);
    return 1;
  }
  return 0;
}
