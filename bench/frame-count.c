/* bench-pkcs11 — a relay that counts the messages between a PKCS#11
 * module and the process it remotes to. */
#include "frame-count.h"

#include "bench-error.h"
#include "messages.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#define TESSERA_HEADER 9  /* u32 length (5 + payload), u8 type, u32 request id */
#define P11_KIT_HEADER 12 /* u32 code, u32 options length, u32 data length */

/* One direction of one connection. */
typedef struct {
  gsize skip;     /* bytes before the first frame (p11-kit's credentials byte) */
  guint8 header[P11_KIT_HEADER];
  gsize have;     /* header bytes so far */
  guint64 body;   /* bytes of the current frame still to come */
  guint64 offset; /* of the next byte in the current frame's body */
  guint64 call_at; /* p11-kit: the body offset of the call id (after the options) */
  guint8 call[4];
} Parser;

typedef struct {
  int fd[2]; /* 0: the client, 1: upstream */
  Parser from[2];
} Link;

struct BenchRelay {
  BenchFrames frames;
  char *upstream, *path;
  int listen_fd;
  int wake[2];
  GThread *thread;
  GPtrArray *links; /* the relay thread's */

  GMutex lock; /* the counts */
  guint connections, requests, replies, events;
  GString *sequence;
};

static guint32 be32(const guint8 *p)
{
  return (guint32)p[0] << 24 | (guint32)p[1] << 16 | (guint32)p[2] << 8 | p[3];
}

/* p11-kit's RPC call ids (p11-kit/rpc-message.h) of the calls this
 * benchmark makes; others are shown by number. */
static const char *p11_kit_call_name(guint32 id)
{
  switch (id) {
  case 1: return "Initialize";
  case 2: return "Finalize";
  case 3: return "GetInfo";
  case 4: return "GetSlotList";
  case 5: return "GetSlotInfo";
  case 6: return "GetTokenInfo";
  case 7: return "GetMechanismList";
  case 8: return "GetMechanismInfo";
  case 10: return "OpenSession";
  case 11: return "CloseSession";
  case 13: return "GetSessionInfo";
  case 18: return "Login";
  case 19: return "Logout";
  case 24: return "GetAttributeValue";
  case 26: return "FindObjectsInit";
  case 27: return "FindObjects";
  case 28: return "FindObjectsFinal";
  case 42: return "SignInit";
  case 43: return "Sign";
  default: return NULL;
  }
}

/* Lock held. */
static void note_request(BenchRelay *r, const char *name, guint32 number)
{
  r->requests++;
  if (r->sequence->len)
    g_string_append(r->sequence, " ");
  if (name)
    g_string_append(r->sequence, name);
  else
    g_string_append_printf(r->sequence, "#%u", number);
}

static void header_done(BenchRelay *r, Parser *p, gboolean from_client)
{
  p->have = 0;
  p->offset = 0;
  if (r->frames == BENCH_FRAMES_TESSERA) {
    guint32 length = be32(p->header);
    guint8 type = p->header[4];
    p->body = length >= 5 ? length - 5 : 0;
    g_mutex_lock(&r->lock);
    if (from_client)
      note_request(r, tproto_type_name(type), type);
    else if (type == TPROTO_R_EVENT)
      r->events++;
    else
      r->replies++;
    g_mutex_unlock(&r->lock);
    return;
  }
  guint64 options = be32(p->header + 4), data = be32(p->header + 8);
  p->body = options + data;
  p->call_at = options;
  if (!from_client) {
    g_mutex_lock(&r->lock);
    r->replies++;
    g_mutex_unlock(&r->lock);
  }
  /* A request is counted once its call id (the first u32 of the data) is in. */
  if (from_client && data < 4) {
    g_mutex_lock(&r->lock);
    note_request(r, NULL, 0);
    g_mutex_unlock(&r->lock);
  }
}

/* Counts the frames in bytes read from one side, before they are passed on. */
static void parse(BenchRelay *r, Parser *p, gboolean from_client, const guint8 *data, gsize n)
{
  gsize header_size = r->frames == BENCH_FRAMES_TESSERA ? TESSERA_HEADER : P11_KIT_HEADER;
  while (n > 0) {
    if (p->skip) {
      gsize k = MIN(p->skip, n);
      p->skip -= k, data += k, n -= k;
    } else if (p->body) {
      gsize k = (gsize)MIN(p->body, (guint64)n);
      /* p11-kit requests: pick the call id out of the data as it passes. */
      if (from_client && r->frames == BENCH_FRAMES_P11_KIT) {
        for (gsize i = 0; i < k; i++) {
          guint64 at = p->offset + i;
          if (at >= p->call_at && at < p->call_at + 4)
            p->call[at - p->call_at] = data[i];
          if (at == p->call_at + 3) {
            guint32 id = be32(p->call);
            g_mutex_lock(&r->lock);
            note_request(r, p11_kit_call_name(id), id);
            g_mutex_unlock(&r->lock);
          }
        }
      }
      p->body -= k, p->offset += k, data += k, n -= k;
    } else {
      gsize k = MIN(header_size - p->have, n);
      memcpy(p->header + p->have, data, k);
      p->have += k, data += k, n -= k;
      if (p->have == header_size)
        header_done(r, p, from_client);
    }
  }
}

static gboolean send_all(int fd, const guint8 *data, gsize n)
{
  while (n > 0) {
    ssize_t k = send(fd, data, n, MSG_NOSIGNAL);
    if (k < 0 && errno == EINTR)
      continue;
    if (k <= 0)
      return FALSE;
    data += k, n -= (gsize)k;
  }
  return TRUE;
}

static gboolean unix_address(const char *path, struct sockaddr_un *sa, GError **error)
{
  memset(sa, 0, sizeof(*sa));
  sa->sun_family = AF_UNIX;
  if (strlen(path) >= sizeof(sa->sun_path)) {
    g_set_error(error, BENCH_ERROR, 0, "socket path too long: %s", path);
    return FALSE;
  }
  strcpy(sa->sun_path, path);
  return TRUE;
}

static int connect_upstream(const char *path)
{
  struct sockaddr_un sa;
  if (!unix_address(path, &sa, NULL))
    return -1;
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
    close(fd);
    fd = -1;
  }
  return fd;
}

static void link_free(gpointer data)
{
  Link *l = data;
  for (int i = 0; i < 2; i++)
    if (l->fd[i] >= 0)
      close(l->fd[i]);
  g_free(l);
}

static void accept_one(BenchRelay *r)
{
  int client = accept4(r->listen_fd, NULL, NULL, SOCK_CLOEXEC);
  if (client < 0)
    return;
  int upstream = connect_upstream(r->upstream);
  if (upstream < 0) {
    close(client);
    return;
  }
  Link *l = g_new0(Link, 1);
  l->fd[0] = client;
  l->fd[1] = upstream;
  gsize skip = r->frames == BENCH_FRAMES_P11_KIT ? 1 : 0;
  l->from[0].skip = l->from[1].skip = skip;
  g_ptr_array_add(r->links, l);
  g_mutex_lock(&r->lock);
  r->connections++;
  g_mutex_unlock(&r->lock);
}

/* False when the link is done with (either side closed). */
static gboolean forward(BenchRelay *r, Link *l, int from)
{
  guint8 buf[65536];
  ssize_t n;
  do
    n = read(l->fd[from], buf, sizeof(buf));
  while (n < 0 && errno == EINTR);
  if (n <= 0)
    return FALSE;
  parse(r, &l->from[from], from == 0, buf, (gsize)n);
  return send_all(l->fd[1 - from], buf, (gsize)n);
}

static gpointer relay_thread(gpointer data)
{
  BenchRelay *r = data;
  for (;;) {
    guint n_links = r->links->len;
    g_autofree struct pollfd *p = g_new0(struct pollfd, 2 + 2 * n_links);
    p[0] = (struct pollfd){ .fd = r->wake[0], .events = POLLIN };
    p[1] = (struct pollfd){ .fd = r->listen_fd, .events = POLLIN };
    for (guint i = 0; i < n_links; i++) {
      Link *l = r->links->pdata[i];
      for (int side = 0; side < 2; side++)
        p[2 + 2 * i + side] = (struct pollfd){ .fd = l->fd[side], .events = POLLIN };
    }
    if (poll(p, 2 + 2 * n_links, -1) < 0) {
      if (errno == EINTR)
        continue;
      break;
    }
    if (p[0].revents)
      break;
    for (guint i = n_links; i-- > 0;) {
      Link *l = r->links->pdata[i];
      gboolean alive = TRUE;
      for (int side = 0; side < 2 && alive; side++)
        if (p[2 + 2 * i + side].revents)
          alive = forward(r, l, side);
      if (!alive)
        g_ptr_array_remove_index(r->links, i);
    }
    if (p[1].revents & POLLIN)
      accept_one(r);
  }
  return NULL;
}

BenchRelay *bench_relay_start(BenchFrames frames, const char *upstream_path,
                              const char *listen_path, GError **error)
{
  struct sockaddr_un sa;
  if (!unix_address(listen_path, &sa, error))
    return NULL;
  BenchRelay *r = g_new0(BenchRelay, 1);
  r->frames = frames;
  r->upstream = g_strdup(upstream_path);
  r->listen_fd = -1;
  r->wake[0] = r->wake[1] = -1;
  r->links = g_ptr_array_new_with_free_func(link_free);
  r->sequence = g_string_new(NULL);
  g_mutex_init(&r->lock);
  r->listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (r->listen_fd < 0 || bind(r->listen_fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 ||
      listen(r->listen_fd, 16) != 0 || pipe2(r->wake, O_CLOEXEC) != 0) {
    g_set_error(error, BENCH_ERROR, 0, "cannot listen on %s: %s", listen_path,
                g_strerror(errno));
    bench_relay_free(r);
    return NULL;
  }
  r->path = g_strdup(listen_path);
  r->thread = g_thread_new("frame-count", relay_thread, r);
  return r;
}

void bench_relay_free(BenchRelay *r)
{
  if (!r)
    return;
  if (r->thread) {
    if (write(r->wake[1], "x", 1) < 0) {
      /* cannot happen: an empty pipe */
    }
    g_thread_join(r->thread);
  }
  g_ptr_array_unref(r->links);
  for (int i = 0; i < 2; i++)
    if (r->wake[i] >= 0)
      close(r->wake[i]);
  if (r->listen_fd >= 0)
    close(r->listen_fd);
  if (r->path)
    unlink(r->path);
  g_free(r->path);
  g_free(r->upstream);
  g_string_free(r->sequence, TRUE);
  g_mutex_clear(&r->lock);
  g_free(r);
}

void bench_relay_take(BenchRelay *r, BenchRelayCounts *out)
{
  g_mutex_lock(&r->lock);
  out->connections = r->connections;
  out->requests = r->requests;
  out->replies = r->replies;
  out->events = r->events;
  out->sequence = g_strdup(r->sequence->str);
  r->connections = r->requests = r->replies = r->events = 0;
  g_string_truncate(r->sequence, 0);
  g_mutex_unlock(&r->lock);
}

void bench_relay_counts_clear(BenchRelayCounts *c)
{
  g_free(c->sequence);
  memset(c, 0, sizeof(*c));
}
