/* tessera CLI — readers and the live event stream. */
#include "cli.h"

#include <stdio.h>

static char *hex(const uint8_t *p, size_t n)
{
  GString *s = g_string_new(NULL);
  for (size_t i = 0; i < n; i++)
    g_string_append_printf(s, "%02X", p[i]);
  return g_string_free(s, FALSE);
}

typedef struct {
  tessera_reader *items;
  size_t n;
} CliReaders;

static void cli_readers_clear(CliReaders *r)
{
  tessera_readers_free(r->items, r->n);
}
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(CliReaders, cli_readers_clear)

int cmd_readers(const CliGlobals *g, int argc, char **argv)
{
  gboolean json = FALSE;
  const GOptionEntry entries[] = {
    { "json", 0, 0, G_OPTION_ARG_NONE, &json, "print JSON instead of a table", NULL },
    G_OPTION_ENTRY_NULL
  };
  if (!cli_parse_options(&argc, &argv, "", "List the smart-card readers and their cards.",
                         entries) ||
      !cli_check_args(argc, argv, 0, 0))
    return CLI_EXIT_USAGE;
  g_autoptr(tessera_client) c = NULL;
  int exit_code = cli_connect(g, &c);
  if (exit_code != CLI_EXIT_OK)
    return exit_code;
  g_auto(CliReaders) readers = { 0 };
  g_autoptr(GError) error = NULL;
  if (!cli_check(c, tessera_list_readers(c, &readers.items, &readers.n), &error))
    return cli_report(error);
  if (json) {
    CliJson j;
    cli_json_init(&j);
    cli_json_begin_array(&j);
    for (size_t i = 0; i < readers.n; i++) {
      g_autofree char *atr = hex(readers.items[i].atr, readers.items[i].atr_len);
      cli_json_begin_object(&j);
      cli_json_member(&j, "name", readers.items[i].name);
      cli_json_key(&j, "card");
      cli_json_bool(&j, (readers.items[i].flags & TPROTO_READER_CARD_PRESENT) != 0);
      cli_json_member(&j, "atr", *atr ? atr : NULL);
      cli_json_end_object(&j);
    }
    cli_json_end_array(&j);
    cli_json_print(&j);
    return CLI_EXIT_OK;
  }
  if (readers.n == 0) {
    g_printerr("no smart-card readers (is pcscd running, and a reader plugged in?)\n");
    return CLI_EXIT_OK;
  }
  static const char *const headers[] = { "READER", "CARD", "ATR" };
  g_autoptr(CliTable) table = cli_table_new(G_N_ELEMENTS(headers), headers);
  for (size_t i = 0; i < readers.n; i++) {
    g_autofree char *atr = hex(readers.items[i].atr, readers.items[i].atr_len);
    gboolean card = (readers.items[i].flags & TPROTO_READER_CARD_PRESENT) != 0;
    const char *cells[] = { readers.items[i].name, card ? "inserted" : "none",
                            *atr ? atr : NULL };
    cli_table_add(table, cells);
  }
  cli_table_print(table);
  return CLI_EXIT_OK;
}

static void print_event(const tessera_event *e, gboolean json)
{
  const char *name = tproto_event_name(e->kind);
  g_autoptr(GDateTime) now = g_date_time_new_now_local();
  g_autofree char *when = g_date_time_format(now, "%H:%M:%S");
  if (json) {
    CliJson j;
    cli_json_init(&j);
    j.compact = TRUE; /* one object per line for scripts */
    cli_json_begin_object(&j);
    cli_json_member(&j, "event", name ? name : "unknown");
    cli_json_member(&j, "reader", *e->reader ? e->reader : NULL);
    cli_json_member(&j, "token", *e->token_id ? e->token_id : NULL);
    cli_json_member(&j, "key", *e->key_id ? e->key_id : NULL);
    cli_json_end_object(&j);
    cli_json_print(&j);
    fflush(stdout);
    return;
  }
  const char *what = *e->key_id ? e->key_id : *e->token_id ? e->token_id : e->reader;
  printf("%s  %-16s %s\n", when, name ? name : "unknown", what);
  fflush(stdout);
}

int cmd_watch(const CliGlobals *g, int argc, char **argv)
{
  gboolean json = FALSE;
  const GOptionEntry entries[] = {
    { "json", 0, 0, G_OPTION_ARG_NONE, &json, "one JSON object per event and line", NULL },
    G_OPTION_ENTRY_NULL
  };
  if (!cli_parse_options(&argc, &argv, "",
                         "Print readers, cards, tokens, logins and keys as they come and go, "
                         "until interrupted.",
                         entries) ||
      !cli_check_args(argc, argv, 0, 0))
    return CLI_EXIT_USAGE;
  g_autoptr(tessera_client) c = NULL;
  int exit_code = cli_connect(g, &c);
  if (exit_code != CLI_EXIT_OK)
    return exit_code;
  g_autoptr(GError) error = NULL;
  if (!cli_check(c, tessera_subscribe(c), &error))
    return cli_report(error);
  if (!json)
    g_printerr("watching tessera-agent's events (Ctrl-C to stop)\n");
  for (;;) {
    tessera_event e;
    int rc = tessera_next_event(c, -1, &e);
    if (!cli_check(c, rc, &error))
      return cli_report(error);
    print_event(&e, json);
    tessera_event_clear(&e);
  }
}
