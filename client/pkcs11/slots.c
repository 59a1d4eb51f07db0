/* tessera-pkcs11 — slots and their tokens, as the agent reports them.
 *
 * The module keeps what the agent listed (tokens, keys as objects) and a
 * connection subscribed to the agent's events. Entry points that read the
 * list first drain that connection without blocking; only when an event
 * came (or the agent came back) is the list asked for again, so a warm
 * C_SignInit + C_Sign costs the agent one request. Slot ids follow the
 * token URI: a token that comes back, after its card was out or the agent
 * restarted, gets its old slot.
 */
#include "p11.h"

#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define RECONNECT_INTERVAL_MS 200 /* no agent: try again at most this often */

p11_slot *p11_slot_find(CK_SLOT_ID id)
{
  for (size_t i = 0; i < p11_state.n_slots; i++)
    if (p11_state.slots[i].id == id)
      return &p11_state.slots[i];
  return NULL;
}

static bool slot_has_token(const p11_slot *s)
{
  return s->known && (s->info.flags & TPROTO_TOKEN_PRESENT);
}

p11_slot *p11_slot_present(CK_SLOT_ID id)
{
  p11_slot *s = p11_slot_find(id);
  return s && slot_has_token(s) ? s : NULL;
}

CK_RV p11_enter_slot(CK_SLOT_ID id, bool token, p11_slot **out)
{
  CK_RV rv = p11_enter();
  if (rv != CKR_OK)
    return rv;
  p11_sync();
  *out = p11_slot_find(id);
  rv = *out == NULL ? CKR_SLOT_ID_INVALID
       : token && !slot_has_token(*out) ? CKR_TOKEN_NOT_PRESENT : CKR_OK;
  if (rv != CKR_OK)
    p11_leave();
  return rv;
}

static p11_slot *slot_for_token(const char *token_id)
{
  for (size_t i = 0; i < p11_state.n_slots; i++)
    if (strcmp(p11_state.slots[i].token_id, token_id) == 0)
      return &p11_state.slots[i];
  return NULL;
}

static void token_clear(tessera_token *t)
{
  tessera_token *copy = malloc(sizeof(*copy));
  if (copy) {
    *copy = *t;
    tessera_tokens_free(copy, 1);
  }
  memset(t, 0, sizeof(*t));
}

/* The card went away (or the agent did): what was open on it is gone. */
static void slot_lost(p11_slot *s)
{
  p11_sessions_close_slot(s->id);
  s->event = true;
}

/* ---- the event connection --------------------------------------------- */

static void retire_events(void)
{
  if (p11_state.events == NULL)
    return;
  /* A thread in C_WaitForSlotEvent may be polling its fd right now. */
  if (p11_state.waiters > 0) {
    tessera_client **r =
      realloc(p11_state.retired, (p11_state.n_retired + 1) * sizeof(*r));
    if (r) {
      p11_state.retired = r;
      r[p11_state.n_retired++] = p11_state.events;
      p11_state.events = NULL;
      return;
    }
  }
  tessera_client_free(p11_state.events);
  p11_state.events = NULL;
}

void p11_events_close(void)
{
  if (p11_state.waiters == 0) {
    for (size_t i = 0; i < p11_state.n_retired; i++)
      tessera_client_free(p11_state.retired[i]);
    free(p11_state.retired);
    p11_state.retired = NULL;
    p11_state.n_retired = 0;
  }
  retire_events();
}

static void connect_events(void)
{
  if (p11_state.events != NULL)
    return;
  uint64_t now = p11_now_ms();
  if (p11_state.last_connect_ms && now - p11_state.last_connect_ms < RECONNECT_INTERVAL_MS)
    return;
  p11_state.last_connect_ms = now;
  tessera_client *c = NULL;
  if (tessera_client_connect(NULL, "tessera-pkcs11 events", &c, NULL) != TESSERA_OK)
    return;
  if (tessera_subscribe(c) != TESSERA_OK) {
    tessera_client_free(c);
    return;
  }
  p11_state.events = c;
  p11_state.stale = true;
}

static void drain_events(void)
{
  while (p11_state.events) {
    struct pollfd p = { .fd = tessera_client_fd(p11_state.events), .events = POLLIN };
    if (p.fd < 0 || poll(&p, 1, 0) <= 0) {
      if (p.fd < 0)
        retire_events();
      return;
    }
    tessera_event ev;
    int rc = tessera_next_event(p11_state.events, 0, &ev);
    if (rc == TESSERA_E_TIMEOUT)
      return;
    p11_state.stale = true;
    if (rc != TESSERA_OK) { /* the agent went away */
      retire_events();
      return;
    }
    /* Seen at once, so a card pulled and put back between two calls
     * still ends the sessions that were open on it. */
    if (ev.kind == TPROTO_EVENT_TOKEN_ABSENT && ev.token_id) {
      p11_slot *s = slot_for_token(ev.token_id);
      if (s)
        slot_lost(s);
    }
    tessera_event_clear(&ev);
  }
}

/* ---- refreshing tokens and objects ------------------------------------- */

typedef struct {
  tessera_token *tokens;
  size_t n_tokens;
  tessera_key *keys;
  size_t n_keys;
} listing;

static int list_everything(tessera_client *c, void *ctx)
{
  listing *l = ctx;
  int rc = tessera_list_tokens(c, &l->tokens, &l->n_tokens);
  if (rc != TESSERA_OK)
    return rc;
  rc = tessera_list_keys(c, NULL, &l->keys, &l->n_keys);
  if (rc != TESSERA_OK) {
    tessera_tokens_free(l->tokens, l->n_tokens);
    l->tokens = NULL;
    l->n_tokens = 0;
  }
  return rc;
}

static p11_slot *slot_add(const char *token_id)
{
  p11_slot *slots = realloc(p11_state.slots, (p11_state.n_slots + 1) * sizeof(*slots));
  if (slots == NULL)
    return NULL;
  p11_state.slots = slots;
  p11_slot *s = &slots[p11_state.n_slots];
  memset(s, 0, sizeof(*s));
  s->token_id = strdup(token_id);
  if (s->token_id == NULL)
    return NULL;
  s->id = p11_state.next_slot_id++;
  p11_state.n_slots++;
  return s;
}

static void update_slots(listing *l)
{
  bool *had = calloc(p11_state.n_slots + 1, sizeof(*had));
  for (size_t i = 0; i < p11_state.n_slots; i++) {
    if (had)
      had[i] = slot_has_token(&p11_state.slots[i]);
    p11_state.slots[i].known = false;
  }
  size_t n_before = p11_state.n_slots;
  for (size_t i = 0; i < l->n_tokens; i++) {
    p11_slot *s = slot_for_token(l->tokens[i].id);
    if (s == NULL && (s = slot_add(l->tokens[i].id)) == NULL)
      continue;
    token_clear(&s->info);
    s->info = l->tokens[i]; /* moved: the listing no longer owns it */
    memset(&l->tokens[i], 0, sizeof(l->tokens[i]));
    s->known = true;
    s->key_types = 0;
  }
  for (size_t i = 0; i < p11_state.n_slots; i++) {
    p11_slot *s = &p11_state.slots[i];
    bool was = i < n_before && had && had[i];
    if (!s->known)
      token_clear(&s->info);
    if (!(s->info.flags & TPROTO_TOKEN_LOGGED_IN))
      s->app_logged_in = false;
    if (was && !slot_has_token(s))
      slot_lost(s);
    else if (was != slot_has_token(s))
      s->event = true;
  }
  free(had);
}

static void trim_label(char *label)
{
  size_t n = strlen(label);
  while (n && (label[n - 1] == ' ' || label[n - 1] == '\t'))
    label[--n] = '\0';
}

/* A label no other key of the token has: NSS shows "token:label". */
static char *unique_label(const tessera_key *keys, size_t n, size_t index)
{
  const tessera_key *k = &keys[index];
  char *base = strdup(k->label && *k->label ? k->label : "key");
  if (base == NULL)
    return NULL;
  trim_label(base);
  unsigned same = 0;
  for (size_t j = 0; j < index; j++) {
    if (strcmp(keys[j].token_id, k->token_id) != 0 || keys[j].label == NULL)
      continue;
    char *other = strdup(keys[j].label);
    if (other) {
      trim_label(other);
      same += strcmp(other, base) == 0;
      free(other);
    }
  }
  if (same == 0)
    return base;
  char *label = NULL;
  if (asprintf(&label, "%s (%u)", base, same + 1) < 0)
    label = NULL;
  free(base);
  return label;
}

/* The token's own CKA_ID when no other key of the token shares it, else
 * the SHA-1 of the public key. */
static uint8_t *unique_ckaid(const tessera_key *keys, size_t n, size_t index, size_t *len)
{
  const tessera_key *k = &keys[index];
  uint8_t *id = p11_ckaid_from_uri(k->id, len);
  for (size_t j = 0; id && j < n; j++) {
    if (j == index || strcmp(keys[j].token_id, k->token_id) != 0)
      continue;
    size_t other_len;
    uint8_t *other = p11_ckaid_from_uri(keys[j].id, &other_len);
    bool clash = other && other_len == *len && memcmp(other, id, *len) == 0;
    free(other);
    if (clash) {
      free(id);
      id = NULL;
    }
  }
  if (id)
    return id;
  id = malloc(20);
  if (id && p11_ckaid_from_spki(k, id)) {
    *len = 20;
    return id;
  }
  free(id);
  return NULL;
}

static const p11_object *old_token_object(const char *key_id, CK_OBJECT_CLASS klass)
{
  for (size_t i = 0; i < p11_state.n_objects; i++) {
    const p11_object *o = p11_state.objects[i];
    if (o->session == 0 && o->klass == klass && strcmp(o->key_id, key_id) == 0)
      return o;
  }
  return NULL;
}

static void update_objects(const listing *l)
{
  p11_object **fresh = calloc(l->n_keys * 3 + 1, sizeof(*fresh));
  size_t n_fresh = 0;
  if (fresh == NULL)
    return;
  for (size_t i = 0; i < l->n_keys; i++) {
    const tessera_key *k = &l->keys[i];
    p11_slot *s = slot_for_token(k->token_id);
    if (s == NULL || (k->key_type != TPROTO_KEY_RSA && k->key_type != TPROTO_KEY_EC))
      continue;
    size_t ckaid_len = 0;
    uint8_t *ckaid = unique_ckaid(l->keys, l->n_keys, i, &ckaid_len);
    char *label = unique_label(l->keys, l->n_keys, i);
    p11_object *made[3];
    size_t n_made = ckaid && label ? p11_objects_for_key(k, s->id, ckaid, ckaid_len, label, made)
                                   : 0;
    free(ckaid);
    free(label);
    for (size_t j = 0; j < n_made; j++) {
      const p11_object *old = old_token_object(made[j]->key_id, made[j]->klass);
      made[j]->handle = old ? old->handle : 0;
      fresh[n_fresh++] = made[j];
    }
    if (n_made)
      s->key_types |= 1u << k->key_type;
  }
  p11_objects_free_where(CK_UNAVAILABLE_INFORMATION, 0, true);
  for (size_t i = 0; i < n_fresh; i++)
    if (!p11_object_add(fresh[i]))
      p11_object_free(fresh[i]);
  free(fresh);
}

static void refresh(void)
{
  listing l = { 0 };
  int rc = p11_link_run(list_everything, &l);
  /* No answer: as far as the application can tell, every token is gone. */
  update_slots(&l);
  update_objects(&l);
  tessera_tokens_free(l.tokens, l.n_tokens);
  tessera_keys_free(l.keys, l.n_keys);
  p11_state.stale = rc != TESSERA_OK && p11_state.events != NULL;
  p11_state.listed = true;
}

void p11_sync(void)
{
  connect_events();
  drain_events();
  if (p11_state.stale || !p11_state.listed)
    refresh();
}

void p11_slots_free(void)
{
  for (size_t i = 0; i < p11_state.n_slots; i++) {
    token_clear(&p11_state.slots[i].info);
    free(p11_state.slots[i].token_id);
  }
  free(p11_state.slots);
  p11_state.slots = NULL;
  p11_state.n_slots = 0;
}
