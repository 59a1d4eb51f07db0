/* tessera-pkcs11 — connections to the agent for requests.
 *
 * A request may wait minutes for the user (PIN dialog, insert the card), so
 * each runs on a connection of its own: idle connections wait in a small
 * pool and a thread that finds none opens another. Connections belong to
 * the process that opened them: after fork() the child drops the parent's
 * without sending a byte on them.
 */
#include "p11.h"

#include <stdlib.h>
#include <unistd.h>

#define POOL_MAX 8 /* idle connections kept; more threads just connect */

static pthread_mutex_t pool_lock = PTHREAD_MUTEX_INITIALIZER;
static tessera_client *pool[POOL_MAX];
static size_t pool_n;
static pid_t pool_pid;

/* Our own fds, never used again; in a child they only close its copies. */
static void drop_all_locked(void)
{
  while (pool_n)
    tessera_client_free(pool[--pool_n]);
}

tessera_client *p11_link_acquire(void)
{
  tessera_client *c = NULL;
  pthread_mutex_lock(&pool_lock);
  if (pool_pid != getpid()) {
    drop_all_locked();
    pool_pid = getpid();
  }
  if (pool_n)
    c = pool[--pool_n];
  pthread_mutex_unlock(&pool_lock);
  if (c)
    return c;
  if (tessera_client_connect(NULL, "tessera-pkcs11", &c, NULL) != TESSERA_OK)
    return NULL;
  return c;
}

void p11_link_release(tessera_client *c)
{
  if (c == NULL)
    return;
  pthread_mutex_lock(&pool_lock);
  bool keep = tessera_client_fd(c) >= 0 && pool_pid == getpid() && pool_n < POOL_MAX;
  if (keep)
    pool[pool_n++] = c;
  pthread_mutex_unlock(&pool_lock);
  if (!keep)
    tessera_client_free(c);
}

void p11_link_reset(void)
{
  pthread_mutex_lock(&pool_lock);
  drop_all_locked();
  pool_pid = getpid();
  pthread_mutex_unlock(&pool_lock);
}

int p11_link_run(p11_link_call call, void *ctx)
{
  for (int attempt = 0;; attempt++) {
    tessera_client *c = p11_link_acquire();
    if (c == NULL)
      return TESSERA_E_CONNECT;
    int rc = call(c, ctx);
    bool dead = tessera_client_fd(c) < 0;
    p11_link_release(c);
    /* A pooled connection found dead: the agent restarted since. */
    if (!(dead && rc == TESSERA_E_IO && attempt == 0))
      return rc;
  }
}
