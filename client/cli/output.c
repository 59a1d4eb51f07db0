/* tessera CLI — aligned tables and a small JSON writer. */
#include "cli.h"

#include <stdio.h>

struct CliTable {
  guint n_columns;
  GPtrArray *rows; /* of GStrv, the header first */
};

CliTable *cli_table_new(guint n_columns, const char *const *headers)
{
  CliTable *t = g_new0(CliTable, 1);
  t->n_columns = n_columns;
  t->rows = g_ptr_array_new_with_free_func((GDestroyNotify)g_strfreev);
  cli_table_add(t, headers);
  return t;
}

void cli_table_add(CliTable *t, const char *const *cells)
{
  char **row = g_new0(char *, t->n_columns + 1);
  for (guint i = 0; i < t->n_columns; i++)
    row[i] = g_strdup(cells[i] && *cells[i] ? cells[i] : "-");
  g_ptr_array_add(t->rows, row);
}

void cli_table_print(const CliTable *t)
{
  g_autofree glong *width = g_new0(glong, t->n_columns);
  for (guint r = 0; r < t->rows->len; r++) {
    char **row = t->rows->pdata[r];
    for (guint i = 0; i < t->n_columns; i++)
      width[i] = MAX(width[i], g_utf8_strlen(row[i], -1));
  }
  for (guint r = 0; r < t->rows->len; r++) {
    char **row = t->rows->pdata[r];
    for (guint i = 0; i < t->n_columns; i++) {
      gboolean last = i + 1 == t->n_columns;
      /* Pad by characters, not bytes: labels may be UTF-8. */
      glong pad = last ? 0 : width[i] - g_utf8_strlen(row[i], -1) + 2;
      printf("%s%*s", row[i], (int)pad, "");
    }
    putchar('\n');
  }
}

void cli_table_free(CliTable *t)
{
  if (t == NULL)
    return;
  g_ptr_array_unref(t->rows);
  g_free(t);
}

/* ---- JSON ---- */

void cli_json_init(CliJson *j)
{
  *j = (CliJson){ .out = g_string_new(NULL) };
}

/* Before every value or key: a comma after a sibling, then a new line. */
static void begin_value(CliJson *j)
{
  if (j->after_key) {
    j->after_key = FALSE;
    return;
  }
  if (j->need_comma)
    g_string_append(j->out, j->compact ? ", " : ",");
  if (j->depth > 0 && !j->compact) {
    g_string_append_c(j->out, '\n');
    for (guint i = 0; i < j->depth; i++)
      g_string_append(j->out, "  ");
  }
}

static void open_container(CliJson *j, char bracket)
{
  begin_value(j);
  g_string_append_c(j->out, bracket);
  j->depth++;
  j->need_comma = FALSE;
}

static void close_container(CliJson *j, char bracket)
{
  gboolean empty = !j->need_comma;
  j->depth--;
  if (!empty && !j->compact) {
    g_string_append_c(j->out, '\n');
    for (guint i = 0; i < j->depth; i++)
      g_string_append(j->out, "  ");
  }
  g_string_append_c(j->out, bracket);
  j->need_comma = TRUE;
}

void cli_json_begin_object(CliJson *j)
{
  open_container(j, '{');
}

void cli_json_end_object(CliJson *j)
{
  close_container(j, '}');
}

void cli_json_begin_array(CliJson *j)
{
  open_container(j, '[');
}

void cli_json_end_array(CliJson *j)
{
  close_container(j, ']');
}

static void append_escaped(GString *out, const char *s)
{
  g_string_append_c(out, '"');
  for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
    switch (*p) {
    case '"': g_string_append(out, "\\\""); break;
    case '\\': g_string_append(out, "\\\\"); break;
    case '\n': g_string_append(out, "\\n"); break;
    case '\r': g_string_append(out, "\\r"); break;
    case '\t': g_string_append(out, "\\t"); break;
    default:
      if (*p < 0x20 || *p == 0x7f)
        g_string_append_printf(out, "\\u%04x", *p);
      else
        g_string_append_c(out, (char)*p); /* UTF-8 passes through */
    }
  }
  g_string_append_c(out, '"');
}

void cli_json_key(CliJson *j, const char *name)
{
  begin_value(j);
  append_escaped(j->out, name);
  g_string_append(j->out, ": ");
  j->after_key = TRUE;
}

void cli_json_string(CliJson *j, const char *s)
{
  begin_value(j);
  if (s)
    append_escaped(j->out, s);
  else
    g_string_append(j->out, "null");
  j->need_comma = TRUE;
}

void cli_json_member(CliJson *j, const char *name, const char *value)
{
  cli_json_key(j, name);
  cli_json_string(j, value);
}

void cli_json_uint(CliJson *j, guint64 v)
{
  begin_value(j);
  g_string_append_printf(j->out, "%" G_GUINT64_FORMAT, v);
  j->need_comma = TRUE;
}

void cli_json_bool(CliJson *j, gboolean v)
{
  begin_value(j);
  g_string_append(j->out, v ? "true" : "false");
  j->need_comma = TRUE;
}

void cli_json_print(CliJson *j)
{
  fputs(j->out->str, stdout);
  putchar('\n');
  g_string_free(j->out, TRUE);
  j->out = NULL;
}
