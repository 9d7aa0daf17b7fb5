/* gst-metered — LGPL-2.1-or-later
 *
 * The floor of bench/server-load.sh: the least a server can do for the
 * bench's traffic, to tell what a server costs from what the machine
 * costs. One thread, epoll, blocking nothing; the WebSocket handshake,
 * then welcome, subscribe (ack, then an empty presence snapshot), publish
 * (the frame built once, one write() per subscriber, no echo), send,
 * ping. No limits, no validation beyond finding the fields, no presence
 * deltas, no auth: not a server, a measuring stick. Loopback only.
 *
 *   floor-server PORT
 *
 * Built by bench/server-load.sh (cc, GLib for SHA-1 and base64).
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <glib.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_CHANNELS 64

typedef struct
{
  int fd;
  int open; /* handshake done */
  char peer[16];
  GByteArray *in;
  GByteArray *out; /* what write() did not take */
  char *channels[8];
  int n_channels;
} Conn;

typedef struct
{
  char *name;
  GPtrArray *members; /* Conn* */
} Channel;

static Channel channels[MAX_CHANNELS];
static int n_channels;
static GHashTable *peers; /* peer id -> Conn* */
static int ep, next_peer;

static Channel *
channel_get (const char *name, gboolean create)
{
  for (int i = 0; i < n_channels; i++)
    if (!strcmp (channels[i].name, name))
      return &channels[i];
  if (!create || n_channels == MAX_CHANNELS)
    return NULL;
  channels[n_channels].name = g_strdup (name);
  channels[n_channels].members = g_ptr_array_new ();
  return &channels[n_channels++];
}

static void
arm (Conn *c, gboolean want_out)
{
  struct epoll_event ev = { EPOLLIN | (want_out ? EPOLLOUT : 0), { .ptr = c } };

  epoll_ctl (ep, EPOLL_CTL_MOD, c->fd, &ev);
}

static void
put (Conn *c, const void *p, size_t len)
{
  ssize_t n = 0;

  if (c->out->len == 0) {
    n = write (c->fd, p, len);
    if (n < 0)
      n = errno == EAGAIN ? 0
                          : (ssize_t) len; /* a dead peer: its close comes */
  }
  if ((size_t) n < len) {
    gboolean was_empty = c->out->len == 0;
    g_byte_array_append (c->out, (const guint8 *) p + n, len - n);
    if (was_empty)
      arm (c, TRUE);
  }
}

/* A server text frame: unmasked header + payload, built once. */
static GByteArray *
text_frame (const char *text, size_t len)
{
  GByteArray *f = g_byte_array_sized_new (len + 10);
  guint8 h[10];
  size_t hl;

  h[0] = 0x81;
  if (len < 126) {
    h[1] = len;
    hl = 2;
  } else if (len < 65536) {
    h[1] = 126;
    h[2] = len >> 8;
    h[3] = len & 0xff;
    hl = 4;
  } else {
    h[1] = 127;
    for (int i = 0; i < 8; i++)
      h[2 + i] = (guint64) len >> (56 - 8 * i);
    hl = 10;
  }
  g_byte_array_append (f, h, hl);
  g_byte_array_append (f, (const guint8 *) text, len);
  return f;
}

static void
put_text (Conn *c, const char *text)
{
  GByteArray *f = text_frame (text, strlen (text));

  put (c, f->data, f->len);
  g_byte_array_unref (f);
}

/* The string value of "key":"…" (no escapes in what the bench sends). */
static char *
field_str (const char *p, const char *end, const char *key)
{
  const char *k = g_strstr_len (p, end - p, key), *q;

  if (!k)
    return NULL;
  k += strlen (key);
  q = memchr (k, '"', end - k);
  return q ? g_strndup (k, q - k) : NULL;
}

/* The extent of the JSON value after key: an object or array (to its
 * matching close), a string, or a scalar. */
static gboolean
field_value (const char *p, const char *end, const char *key, const char **v,
    size_t *vlen)
{
  const char *k = g_strstr_len (p, end - p, key), *q;
  int depth = 0, in_str = 0;

  if (!k)
    return FALSE;
  q = *v = k + strlen (key);
  if (q < end && (*q == '{' || *q == '[')) {
    for (; q < end; q++) {
      if (in_str) {
        if (*q == '\\')
          q++;
        else if (*q == '"')
          in_str = 0;
      } else if (*q == '"') {
        in_str = 1;
      } else if (*q == '{' || *q == '[') {
        depth++;
      } else if ((*q == '}' || *q == ']') && --depth == 0) {
        q++;
        break;
      }
    }
  } else if (q < end && *q == '"') {
    for (q++; q < end && *q != '"'; q++)
      if (*q == '\\')
        q++;
    q++;
  } else {
    while (q < end && *q != ',' && *q != '}')
      q++;
  }
  if (q > end || depth != 0)
    return FALSE;
  *vlen = q - *v;
  return TRUE;
}

static void
ack (Conn *c, const char *p, const char *end)
{
  g_autofree char *rid = field_str (p, end, "\"requestId\":\"");
  g_autofree char *a = NULL;

  if (!rid)
    return;
  a = g_strdup_printf ("{\"type\":\"ack\",\"requestId\":\"%s\"}", rid);
  put_text (c, a);
}

static void
on_text (Conn *c, const char *p, size_t len)
{
  const char *end = p + len, *v;
  size_t vlen;
  g_autofree char *type = field_str (p, end, "\"type\":\"");
  g_autofree char *ch = field_str (p, end, "\"channel\":\"");

  if (!type)
    return;
  if (!strcmp (type, "ping")) {
    put_text (c, "{\"type\":\"pong\"}");
  } else if (!strcmp (type, "subscribe") && ch) {
    Channel *chan = channel_get (ch, TRUE);
    g_autofree char *snap = g_strdup_printf (
        "{\"type\":\"presence\",\"channel\":\"%s\",\"joined\":[],\"left\":[]}",
        ch);
    ack (c, p, end);
    if (chan && c->n_channels < 8) {
      g_ptr_array_add (chan->members, c);
      c->channels[c->n_channels++] = chan->name;
    }
    put_text (c, snap);
  } else if (!strcmp (type, "publish") && ch &&
             field_value (p, end, "\"data\":", &v, &vlen)) {
    Channel *chan = channel_get (ch, FALSE);
    GString *m = g_string_new (NULL);
    GByteArray *f;
    g_string_append_printf (m,
        "{\"type\":\"message\",\"channel\":\"%s\",\"from\":\"%s\",\"data\":",
        ch, c->peer);
    g_string_append_len (m, v, vlen);
    g_string_append_c (m, '}');
    f = text_frame (m->str, m->len);
    for (guint i = 0; chan && i < chan->members->len; i++)
      if (chan->members->pdata[i] != c)
        put (chan->members->pdata[i], f->data, f->len);
    g_byte_array_unref (f);
    g_string_free (m, TRUE);
    ack (c, p, end);
  } else if (!strcmp (type, "send") &&
             field_value (p, end, "\"data\":", &v, &vlen)) {
    g_autofree char *to = field_str (p, end, "\"to\":\"");
    Conn *t = to ? g_hash_table_lookup (peers, to) : NULL;
    if (t) {
      GString *m = g_string_new (NULL);
      g_string_append_printf (
          m, "{\"type\":\"direct\",\"from\":\"%s\",\"data\":", c->peer);
      g_string_append_len (m, v, vlen);
      g_string_append_c (m, '}');
      put_text (t, m->str);
      g_string_free (m, TRUE);
    }
    ack (c, p, end);
  }
}

static void
conn_close (Conn *c)
{
  for (int i = 0; i < c->n_channels; i++) {
    Channel *chan = channel_get (c->channels[i], FALSE);
    if (chan)
      g_ptr_array_remove_fast (chan->members, c);
  }
  g_hash_table_remove (peers, c->peer);
  epoll_ctl (ep, EPOLL_CTL_DEL, c->fd, NULL);
  close (c->fd);
  g_byte_array_unref (c->in);
  g_byte_array_unref (c->out);
  g_free (c);
}

static gboolean
handshake (Conn *c)
{
  const char *req = (const char *) c->in->data, *k, *e;
  static const char guid[] = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
  guint8 digest[20];
  gsize dlen = sizeof digest;
  g_autofree char *key = NULL, *acc = NULL, *resp = NULL, *welcome = NULL;
  GChecksum *sha;

  if (!g_strstr_len (req, c->in->len, "\r\n\r\n"))
    return TRUE; /* more to come */
  k = g_strstr_len (req, c->in->len, "Sec-WebSocket-Key: ");
  if (!k)
    return FALSE;
  k += 19;
  e = strstr (k, "\r\n");
  key = g_strndup (k, e - k);
  sha = g_checksum_new (G_CHECKSUM_SHA1);
  g_checksum_update (sha, (const guchar *) key, strlen (key));
  g_checksum_update (sha, (const guchar *) guid, strlen (guid));
  g_checksum_get_digest (sha, digest, &dlen);
  g_checksum_free (sha);
  acc = g_base64_encode (digest, dlen);
  resp = g_strdup_printf ("HTTP/1.1 101 Switching Protocols\r\n"
                          "Upgrade: websocket\r\nConnection: Upgrade\r\n"
                          "Sec-WebSocket-Accept: %s\r\n\r\n",
      acc);
  g_byte_array_set_size (c->in, 0);
  c->open = 1;
  put (c, resp, strlen (resp));
  g_snprintf (c->peer, sizeof c->peer, "p%d", next_peer++);
  g_hash_table_insert (peers, c->peer, c);
  welcome = g_strdup_printf ("{\"type\":\"welcome\",\"peerId\":\"%s\","
                             "\"expiresAt\":null,\"serverTime\":%ld,"
                             "\"maxMessageSize\":65536}",
      c->peer, (long) time (NULL));
  put_text (c, welcome);
  return TRUE;
}

/* Client frames are masked; text frames go to on_text, close ends. */
static gboolean
frames (Conn *c)
{
  guint8 *d = c->in->data;
  size_t have = c->in->len, off = 0;

  for (;;) {
    size_t hl = 2, len;
    guint8 *mask, *pl;
    if (have - off < 2)
      break;
    len = d[off + 1] & 0x7f;
    if (len == 126) {
      if (have - off < 4)
        break;
      len = (d[off + 2] << 8) | d[off + 3];
      hl = 4;
    } else if (len == 127) {
      return FALSE; /* the bench never sends that much */
    }
    if (have - off < hl + 4 + len)
      break;
    mask = d + off + hl;
    pl = mask + 4;
    for (size_t i = 0; i < len; i++)
      pl[i] ^= mask[i & 3];
    if ((d[off] & 0x0f) == 0x8)
      return FALSE;
    if ((d[off] & 0x0f) == 0x1)
      on_text (c, (const char *) pl, len);
    off += hl + 4 + len;
  }
  g_byte_array_remove_range (c->in, 0, off);
  return TRUE;
}

static void
on_event (Conn *c, guint32 events)
{
  guint8 buf[65536];
  ssize_t n;

  if (events & EPOLLOUT && c->out->len) {
    n = write (c->fd, c->out->data, c->out->len);
    if (n > 0)
      g_byte_array_remove_range (c->out, 0, n);
    if (c->out->len == 0)
      arm (c, FALSE);
  }
  if (!(events & (EPOLLIN | EPOLLHUP | EPOLLERR)))
    return;
  while ((n = read (c->fd, buf, sizeof buf)) > 0)
    g_byte_array_append (c->in, buf, n);
  if (n == 0 || (n < 0 && errno != EAGAIN) ||
      !(c->open ? frames (c) : handshake (c)))
    conn_close (c);
}

int
main (int argc, char **argv)
{
  struct sockaddr_in sa = { .sin_family = AF_INET };
  int one = 1, lfd = socket (AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
  struct epoll_event ev = { EPOLLIN, { .ptr = NULL } }, evs[256];

  if (argc != 2)
    return 2;
  sa.sin_port = htons (atoi (argv[1]));
  sa.sin_addr.s_addr = htonl (INADDR_LOOPBACK);
  setsockopt (lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (bind (lfd, (struct sockaddr *) &sa, sizeof sa) || listen (lfd, 4096)) {
    perror ("floor-server");
    return 1;
  }
  peers = g_hash_table_new (g_str_hash, g_str_equal);
  ep = epoll_create1 (0);
  epoll_ctl (ep, EPOLL_CTL_ADD, lfd, &ev);
  printf ("floor listening on ws://127.0.0.1:%s/v1\n", argv[1]);
  fflush (stdout);
  for (;;) {
    int n = epoll_wait (ep, evs, 256, -1);
    for (int i = 0; i < n; i++) {
      if (evs[i].data.ptr == NULL) {
        int fd;
        while ((fd = accept4 (lfd, NULL, NULL, SOCK_NONBLOCK)) >= 0) {
          Conn *c = g_new0 (Conn, 1);
          struct epoll_event cev = { EPOLLIN, { .ptr = c } };
          c->fd = fd;
          c->in = g_byte_array_new ();
          c->out = g_byte_array_new ();
          setsockopt (fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
          epoll_ctl (ep, EPOLL_CTL_ADD, fd, &cev);
        }
      } else {
        on_event (evs[i].data.ptr, evs[i].events);
      }
    }
  }
}
