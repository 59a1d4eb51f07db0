/* tessera CLI — status, tokens and keys. */
#include "cli.h"

#include <stdio.h>

G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(tessera_status, tessera_status_clear)

typedef struct {
  tessera_token *items;
  size_t n;
} CliTokens;

static void cli_tokens_clear(CliTokens *t)
{
  tessera_tokens_free(t->items, t->n);
}
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(CliTokens, cli_tokens_clear)

/* "logged in, ends 14:22 (in 9 min)" */
static char *token_state(const tessera_token *t)
{
  if (!(t->flags & TPROTO_TOKEN_PRESENT))
    return g_strdup("absent");
  if (!(t->flags & TPROTO_TOKEN_LOGGED_IN))
    return g_strdup("not logged in");
  if (t->login_ends_s == 0 || t->login_ends_s == G_MAXUINT32)
    return g_strdup("logged in");
  g_autoptr(GDateTime) end = g_date_time_new_now_local();
  g_autoptr(GDateTime) at = g_date_time_add_seconds(end, t->login_ends_s);
  g_autofree char *clock = g_date_time_format(at, "%H:%M:%S");
  guint32 s = t->login_ends_s;
  if (s >= 3600)
    return g_strdup_printf("logged in, ends %s (in %uh %02um)", clock, s / 3600, s % 3600 / 60);
  if (s >= 60)
    return g_strdup_printf("logged in, ends %s (in %u min)", clock, (s + 59) / 60);
  return g_strdup_printf("logged in, ends %s (in %u s)", clock, s);
}

static char *format_uptime(guint64 s)
{
  if (s >= 86400)
    return g_strdup_printf("%" G_GUINT64_FORMAT "d %02uh %02um", s / 86400,
                           (unsigned)(s % 86400 / 3600), (unsigned)(s % 3600 / 60));
  return g_strdup_printf("%02u:%02u:%02u", (unsigned)(s / 3600), (unsigned)(s % 3600 / 60),
                         (unsigned)(s % 60));
}

int cmd_status(const CliGlobals *g, int argc, char **argv)
{
  if (!cli_parse_options(&argc, &argv, "",
                         "Show the agent's version, pid, uptime and counts, and for each token "
                         "whether it is logged in and when the login ends.",
                         NULL) ||
      !cli_check_args(argc, argv, 0, 0))
    return CLI_EXIT_USAGE;
  g_autoptr(tessera_client) c = NULL;
  int exit_code = cli_connect(g, &c);
  if (exit_code != CLI_EXIT_OK)
    return exit_code;
  g_auto(tessera_status) st = { 0 };
  g_autoptr(GError) error = NULL;
  if (!cli_check(c, tessera_status_get(c, &st), &error))
    return cli_report(error);
  g_autofree char *uptime = format_uptime(st.uptime_s);
  printf("agent    %s (version %s, protocol %u)\n", tessera_client_agent_name(c),
         st.agent_version, tessera_client_version(c));
  printf("pid      %u\n", st.pid);
  printf("uptime   %s\n", uptime);
  printf("clients  %u\n", st.n_clients);
  printf("tokens   %u\n", st.n_tokens);
  printf("keys     %u\n", st.n_keys);
  g_auto(CliTokens) tokens = { 0 };
  if (!cli_check(c, tessera_list_tokens(c, &tokens.items, &tokens.n), &error))
    return cli_report(error);
  for (size_t i = 0; i < tokens.n; i++) {
    g_autofree char *state = token_state(&tokens.items[i]);
    printf("token    %s: %s\n", tokens.items[i].label, state);
  }
  return CLI_EXIT_OK;
}

/* ---- tokens ---- */

static void print_tokens_table(const tessera_token *t, size_t n)
{
  static const char *const headers[] = { "LABEL", "SERIAL", "MANUFACTURER", "MODEL", "STATE",
                                         "KEYS" };
  g_autoptr(CliTable) table = cli_table_new(G_N_ELEMENTS(headers), headers);
  for (size_t i = 0; i < n; i++) {
    g_autofree char *keys = g_strdup_printf("%u", t[i].n_keys);
    g_autofree char *state = token_state(&t[i]);
    const char *cells[] = { t[i].label, t[i].serial, t[i].manufacturer, t[i].model, state,
                            keys };
    cli_table_add(table, cells);
  }
  cli_table_print(table);
}

static void print_tokens_json(const tessera_token *t, size_t n)
{
  CliJson j;
  cli_json_init(&j);
  cli_json_begin_array(&j);
  for (size_t i = 0; i < n; i++) {
    cli_json_begin_object(&j);
    cli_json_member(&j, "id", t[i].id);
    cli_json_member(&j, "label", t[i].label);
    cli_json_member(&j, "serial", t[i].serial);
    cli_json_member(&j, "manufacturer", t[i].manufacturer);
    cli_json_member(&j, "model", t[i].model);
    cli_json_member(&j, "module", t[i].module);
    g_autofree char *state = token_state(&t[i]);
    cli_json_member(&j, "state", state);
    cli_json_key(&j, "present");
    cli_json_bool(&j, (t[i].flags & TPROTO_TOKEN_PRESENT) != 0);
    cli_json_key(&j, "logged_in");
    cli_json_bool(&j, (t[i].flags & TPROTO_TOKEN_LOGGED_IN) != 0);
    cli_json_key(&j, "keys");
    cli_json_uint(&j, t[i].n_keys);
    cli_json_key(&j, "login_ends_in_s");
    cli_json_uint(&j, t[i].login_ends_s);
    cli_json_end_object(&j);
  }
  cli_json_end_array(&j);
  cli_json_print(&j);
}


int cmd_tokens(const CliGlobals *g, int argc, char **argv)
{
  gboolean json = FALSE;
  const GOptionEntry entries[] = {
    { "json", 0, 0, G_OPTION_ARG_NONE, &json, "print JSON instead of a table", NULL },
    G_OPTION_ENTRY_NULL
  };
  if (!cli_parse_options(&argc, &argv, "", "List the tokens the agent knows.", entries) ||
      !cli_check_args(argc, argv, 0, 0))
    return CLI_EXIT_USAGE;
  g_autoptr(tessera_client) c = NULL;
  int exit_code = cli_connect(g, &c);
  if (exit_code != CLI_EXIT_OK)
    return exit_code;
  g_auto(CliTokens) tokens = { 0 };
  g_autoptr(GError) error = NULL;
  if (!cli_check(c, tessera_list_tokens(c, &tokens.items, &tokens.n), &error))
    return cli_report(error);
  if (json)
    print_tokens_json(tokens.items, tokens.n);
  else if (tokens.n == 0)
    g_printerr("the agent has no tokens: no PKCS#11 module it loaded has an initialized token "
               "(insert a card, or start the agent with --module PATH)\n");
  else
    print_tokens_table(tokens.items, tokens.n);
  return CLI_EXIT_OK;
}

/* ---- keys ---- */

static const char *const op_names[] = { "sign", "decrypt", "derive" };

/* RSA bits from the agent; the curve only the public key knows. */
static void describe_key_type(const tessera_key *k, char **type_text, char **curve)
{
  g_autoptr(EVP_PKEY) pkey = cli_key_public(k, NULL);
  *curve = cli_curve_name(pkey);
  if (k->key_type == TPROTO_KEY_RSA)
    *type_text = g_strdup_printf("RSA-%u", k->bits);
  else if (k->key_type == TPROTO_KEY_EC)
    *type_text = *curve ? g_strdup_printf("EC %s", *curve) : g_strdup_printf("EC-%u", k->bits);
  else
    *type_text = g_strdup_printf("type %u", k->key_type);
}

static char *ops_text(uint32_t ops)
{
  GString *s = g_string_new(NULL);
  for (size_t i = 0; i < G_N_ELEMENTS(op_names); i++)
    if (ops & (1u << i))
      g_string_append_printf(s, "%s%s", s->len ? "," : "", op_names[i]);
  return g_string_free(s, FALSE);
}

static void print_keys_table(const CliKeys *keys)
{
  static const char *const headers[] = { "LABEL", "TYPE", "OPS", "PIN-EVERY-USE", "STATE",
                                         "CERTIFICATE", "ID" };
  g_autoptr(CliTable) table = cli_table_new(G_N_ELEMENTS(headers), headers);
  for (size_t i = 0; i < keys->n; i++) {
    const tessera_key *k = &keys->items[i];
    g_autofree char *type = NULL, *curve = NULL;
    describe_key_type(k, &type, &curve);
    g_autofree char *ops = ops_text(k->ops);
    g_autofree char *cn = cli_cert_common_name(k);
    const char *cells[] = { k->label,
                            type,
                            ops,
                            k->flags & TPROTO_KEY_ALWAYS_AUTH ? "yes" : "no",
                            k->flags & TPROTO_KEY_AVAILABLE ? "ready" : "card out",
                            cn,
                            k->id };
    cli_table_add(table, cells);
  }
  cli_table_print(table);
}

static void print_key_json(CliJson *j, const tessera_key *k)
{
  g_autofree char *type = NULL, *curve = NULL;
  describe_key_type(k, &type, &curve);
  g_autofree char *cert = k->cert ? g_base64_encode(k->cert, k->cert_len) : NULL;
  g_autofree char *subject = cli_cert_subject(k);
  cli_json_begin_object(j);
  cli_json_member(j, "id", k->id);
  cli_json_member(j, "label", k->label);
  cli_json_member(j, "token", k->token_id);
  cli_json_member(j, "type", k->key_type == TPROTO_KEY_EC ? "EC" : "RSA");
  cli_json_key(j, "bits");
  cli_json_uint(j, k->bits);
  cli_json_member(j, "curve", curve);
  cli_json_key(j, "ops");
  cli_json_begin_array(j);
  for (size_t i = 0; i < G_N_ELEMENTS(op_names); i++)
    if (k->ops & (1u << i))
      cli_json_string(j, op_names[i]);
  cli_json_end_array(j);
  cli_json_key(j, "always_authenticate");
  cli_json_bool(j, (k->flags & TPROTO_KEY_ALWAYS_AUTH) != 0);
  cli_json_key(j, "available");
  cli_json_bool(j, (k->flags & TPROTO_KEY_AVAILABLE) != 0);
  cli_json_member(j, "certificate", cert);
  cli_json_member(j, "subject", subject);
  cli_json_end_object(j);
}

int cmd_keys(const CliGlobals *g, int argc, char **argv)
{
  gboolean json = FALSE;
  const GOptionEntry entries[] = {
    { "json", 0, 0, G_OPTION_ARG_NONE, &json, "print JSON instead of a table", NULL },
    G_OPTION_ENTRY_NULL
  };
  if (!cli_parse_options(&argc, &argv, "[TOKEN]",
                         "List private keys: of every token, or of TOKEN (URI, label or serial).",
                         entries) ||
      !cli_check_args(argc, argv, 0, 1))
    return CLI_EXIT_USAGE;
  g_autoptr(tessera_client) c = NULL;
  int exit_code = cli_connect(g, &c);
  if (exit_code != CLI_EXIT_OK)
    return exit_code;
  g_auto(CliKeys) keys = { 0 };
  g_autoptr(GError) error = NULL;
  if (!cli_list_keys(c, argc > 1 ? argv[1] : NULL, &keys, &error))
    return cli_report(error);
  if (json) {
    CliJson j;
    cli_json_init(&j);
    cli_json_begin_array(&j);
    for (size_t i = 0; i < keys.n; i++)
      print_key_json(&j, &keys.items[i]);
    cli_json_end_array(&j);
    cli_json_print(&j);
  } else if (keys.n == 0) {
    g_printerr("no keys%s%s (`tessera tokens` lists the tokens)\n", argc > 1 ? " on " : "",
               argc > 1 ? argv[1] : "");
  } else {
    print_keys_table(&keys);
  }
  return CLI_EXIT_OK;
}
