/* tessera-agent — the tokens the agent serves and how names find them. */
#include "registry.h"

#include "messages.h"

#include <p11-kit/uri.h>
#include <string.h>

G_DEFINE_AUTOPTR_CLEANUP_FUNC(P11KitUri, p11_kit_uri_free)

static GPtrArray *tokens;

void registry_add(TesseraToken *token)
{
  if (tokens == NULL)
    tokens = g_ptr_array_new();
  g_ptr_array_add(tokens, token);
}

GPtrArray *registry_tokens(void)
{
  if (tokens == NULL)
    tokens = g_ptr_array_new();
  return tokens;
}

void registry_clear(void)
{
  g_clear_pointer(&tokens, g_ptr_array_unref);
}

gboolean registry_contains(const TesseraToken *token)
{
  GPtrArray *all = registry_tokens();
  for (guint i = 0; i < all->len; i++)
    if (all->pdata[i] == token)
      return TRUE;
  return FALSE;
}

guint registry_key_count(void)
{
  guint n = 0;
  GPtrArray *all = registry_tokens();
  for (guint i = 0; i < all->len; i++) {
    g_autoptr(GPtrArray) keys = tessera_token_keys(all->pdata[i]);
    n += keys->len;
  }
  return n;
}

TesseraToken *registry_find_token(const char *name, uint32_t *code, char **message)
{
  GPtrArray *all = registry_tokens();
  TesseraToken *found = NULL;
  guint matches = 0;
  for (guint i = 0; i < all->len; i++) {
    TesseraToken *t = all->pdata[i];
    if (g_strcmp0(t->id, name) == 0)
      return t;
    if (g_strcmp0(t->label, name) == 0 || (*t->serial && g_strcmp0(t->serial, name) == 0)) {
      found = t;
      matches++;
    }
  }
  if (matches == 1)
    return found;
  *code = matches ? TPROTO_ERR_AMBIGUOUS : TPROTO_ERR_NO_SUCH_TOKEN;
  *message = matches ? g_strdup_printf("%u tokens are called '%s'; use the token's URI from "
                                       "`tessera tokens`",
                                       matches, name)
                     : g_strdup_printf("no token '%s'; `tessera tokens` lists the tokens", name);
  return NULL;
}

/* The facts a PKCS#11 URI can constrain, for p11-kit's matcher. */
static gboolean uri_matches(P11KitUri *uri, TesseraToken *token, TesseraKey *key)
{
  CK_TOKEN_INFO info;
  memset(&info, ' ', sizeof(info));
  memcpy(info.label, token->label, MIN(strlen(token->label), sizeof(info.label)));
  memcpy(info.serialNumber, token->serial, MIN(strlen(token->serial), sizeof(info.serialNumber)));
  memcpy(info.manufacturerID, token->manufacturer,
         MIN(strlen(token->manufacturer), sizeof(info.manufacturerID)));
  memcpy(info.model, token->model, MIN(strlen(token->model), sizeof(info.model)));
  if (!p11_kit_uri_match_token_info(uri, &info))
    return FALSE;
  CK_OBJECT_CLASS cls = CKO_PRIVATE_KEY;
  gsize id_len;
  const void *id = g_bytes_get_data(key->ckaid, &id_len);
  CK_ATTRIBUTE attrs[] = {
    { CKA_CLASS, &cls, sizeof(cls) },
    { CKA_ID, (void *)id, id_len },
    { CKA_LABEL, key->label, strlen(key->label) },
  };
  return p11_kit_uri_match_attributes(uri, attrs, G_N_ELEMENTS(attrs));
}

typedef gboolean (*KeyMatch)(TesseraToken *token, TesseraKey *key, const char *name,
                             gpointer data);

static gboolean match_id(TesseraToken *t, TesseraKey *k, const char *name, gpointer data)
{
  return strcmp(k->id, name) == 0;
}

static gboolean match_uri(TesseraToken *t, TesseraKey *k, const char *name, gpointer uri)
{
  return uri != NULL && uri_matches(uri, t, k);
}

static gboolean match_label(TesseraToken *t, TesseraKey *k, const char *name, gpointer data)
{
  return *k->label && strcmp(k->label, name) == 0;
}

static gboolean match_prefix(TesseraToken *t, TesseraKey *k, const char *name, gpointer data)
{
  return g_str_has_prefix(k->id, name);
}

/* Collects the keys a rule matches; returns how many. */
static guint find_keys(KeyMatch match, const char *name, gpointer data, TesseraKey **first,
                       TesseraToken **first_token)
{
  GPtrArray *all = registry_tokens();
  guint n = 0;
  for (guint i = 0; i < all->len; i++) {
    TesseraToken *t = all->pdata[i];
    g_autoptr(GPtrArray) keys = tessera_token_keys(t);
    for (guint j = 0; j < keys->len; j++) {
      TesseraKey *k = keys->pdata[j];
      if (!match(t, k, name, data))
        continue;
      if (n++ == 0) {
        *first = tessera_key_ref(k);
        *first_token = t;
      }
    }
  }
  return n;
}

TesseraKey *registry_resolve_key(const char *name, TesseraToken **token, uint32_t *code,
                                 char **message)
{
  g_autoptr(P11KitUri) uri = NULL;
  if (g_str_has_prefix(name, "pkcs11:")) {
    uri = p11_kit_uri_new();
    if (p11_kit_uri_parse(name, P11_KIT_URI_FOR_ANY, uri) != P11_KIT_URI_OK) {
      *code = TPROTO_ERR_BAD_INPUT;
      *message = g_strdup_printf("'%s' is not a valid PKCS#11 URI", name);
      return NULL;
    }
  }
  /* Most specific rule first; the first rule that matches decides. */
  const KeyMatch rules[] = { match_id, match_uri, match_label, match_prefix };
  for (gsize r = 0; r < G_N_ELEMENTS(rules); r++) {
    TesseraKey *first = NULL;
    guint n = find_keys(rules[r], name, uri, &first, token);
    if (n == 1)
      return first;
    tessera_key_unref(first);
    if (n > 1) {
      *code = TPROTO_ERR_AMBIGUOUS;
      *message = g_strdup_printf("'%s' matches %u keys; use the full key id from "
                                 "`tessera keys`",
                                 name, n);
      return NULL;
    }
  }
  *code = TPROTO_ERR_NO_SUCH_KEY;
  *message = g_strdup_printf("no key '%s'; `tessera keys` lists the keys", name);
  return NULL;
}
