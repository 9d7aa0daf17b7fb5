/* gst-metered
 * Copyright (C) 2026 gst-metered authors
 *
 * This library is free software; you can redistribute it and/or
 * modify it under the terms of the GNU Library General Public
 * License as published by the Free Software Foundation; either
 * version 2.1 of the License, or (at your option) any later version.
 *
 * This library is distributed in the hope that it will be useful,
 * but WITHOUT ANY WARRANTY; without even the implied warranty of
 * MERCHANTABILITY or FITNESS FOR A PARTICULAR PURPOSE.  See the GNU
 * Library General Public License for more details.
 *
 * You should have received a copy of the GNU Library General Public
 * License along with this library; if not, see <https://www.gnu.org/licenses/>.
 */

/*
 * server-load: a load client for metered-server (or anything speaking the
 * same wire protocol) over loopback. One thread, epoll, raw sockets and a
 * minimal RFC 6455 client, so that the client costs as little CPU as
 * possible next to the server on a small box. Plain libc: bench/server-load.sh
 * builds it with `cc`, the meson test with the project.
 *
 * Scenarios (--scenario):
 *   fanout  S subscribers on one channel, P publishers (not subscribed) each
 *           publishing R msg/s, evenly spread in time; every message carries
 *           its publisher, sequence number and send time (CLOCK_MONOTONIC).
 *           Every subscriber must get every message exactly once, in order.
 *   direct  N clients in pairs, each `send`ing R msg/s to its partner.
 *   idle    N clients, each subscribed to one of N/10 channels, one ping
 *           each, then held open: the server's RSS per connection.
 *
 * Every loop is bounded in count and in time: connecting, subscribing,
 * the run (--duration, at most 60 s) and the drain (--drain) all end at a
 * deadline whatever the server does.
 *
 * Output: a human summary on stderr and one line on stdout:
 *   RESULT key=value ...
 * Exit status: 0 when --check passes (or is not asked), 1 when it fails,
 * 2 on usage or setup errors.
 */

#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_DURATION_S 60
#define HIST_US 2000000 /* 1 µs buckets up to 2 s, then one overflow bucket */
#define IN_CAP (256 * 1024)

enum
{
  ROLE_SUB,
  ROLE_PUB,
  ROLE_PAIR,
  ROLE_IDLE
};

enum
{
  ST_CONNECTING,
  ST_OPEN,
  ST_CLOSED
};

typedef struct
{
  int fd;
  int role;
  int idx;
  int state;
  int welcomed;
  int acked;
  int snapshot;
  int stalled; /* stops reading once subscribed (slow-consumer runs) */
  int close_code;
  char peer_id[80];
  int partner;
  unsigned char *in;
  size_t in_len;
  /* Per publisher: the next sequence number this client expects. */
  uint32_t *next_seq;
  uint64_t sent;
  uint64_t delivered;
  uint64_t out_of_order;
  double next_due; /* seconds since the run start */
  /* storm: when to reconnect (0: not scheduled), going_away's delay */
  double reconnect_at;
  int retry_ms;
  int reconnects;
} Client;

static struct
{
  const char *host;
  int port;
  const char *key;
  const char *scenario;
  int subs;
  int pubs;
  int clients;
  double rate;
  double duration;
  double drain;
  int payload;
  int stall;
  int server_pid;
  int batch;
  int check;
  const char *label;
  const char *channel;
} opt = { "127.0.0.1", 0, "pk_dev_local", "fanout", 50, 5, 100, 80, 5, 2, 64, 0,
  0, 64, 0, "server", "bench" };

static Client *clients;
static int n_clients;
static int ep;
static uint32_t *hist;
static uint64_t hist_over, hist_n;
static uint64_t n_errors, n_closed, n_handshake_failed, n_acks, n_published;
static uint64_t n_delivered_in_window;
/* fanout: per message (publisher, sequence) the latency of its first and
 * last delivery, µs (-1: none yet), to tell the path to the first
 * subscriber from the spread of one fan-out over all of them. */
static int64_t *burst_first, *burst_last;
static uint64_t burst_seqs;
static double t0;
/* storm: set once the server is being restarted */
static int storm_phase;
static double storm_first_close, storm_last_back;
static uint64_t n_429, n_refused;

static double
now_s (void)
{
  struct timespec ts;

  clock_gettime (CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int64_t
now_ns (void)
{
  struct timespec ts;

  clock_gettime (CLOCK_MONOTONIC, &ts);
  return (int64_t) ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void
die (const char *fmt, ...)
{
  va_list ap;

  va_start (ap, fmt);
  fprintf (stderr, "server-load: ");
  vfprintf (stderr, fmt, ap);
  fprintf (stderr, "\n");
  va_end (ap);
  exit (2);
}

/* One masked client frame, written whole (small frames; the socket is
 * blocking for writes so that a full send buffer throttles the client
 * rather than losing bytes). */
static int
ws_send (Client *c, int opcode, const char *data, size_t len)
{
  unsigned char hdr[14];
  unsigned char buf[512];
  size_t h = 0, off = 0;
  int spins = 0;
  static const unsigned char mask[4] = { 0x12, 0x34, 0x56, 0x78 };

  if (c->state != ST_OPEN || len + 14 > sizeof buf)
    return -1;
  hdr[h++] = 0x80 | opcode;
  if (len < 126) {
    hdr[h++] = 0x80 | len;
  } else {
    hdr[h++] = 0x80 | 126;
    hdr[h++] = len >> 8;
    hdr[h++] = len & 0xff;
  }
  memcpy (hdr + h, mask, 4);
  h += 4;
  memcpy (buf, hdr, h);
  for (size_t i = 0; i < len; i++)
    buf[h + i] = data[i] ^ mask[i & 3];
  len += h;
  while (off < len) {
    ssize_t n = send (c->fd, buf + off, len - off, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0 && errno == EAGAIN) {
      /* Bounded wait: a server that stops reading fails the run. */
      struct timespec ts = { 0, 1000000 };
      if (++spins > 5000)
        return -1;
      nanosleep (&ts, NULL);
      continue;
    }
    if (n <= 0)
      return -1;
    off += n;
  }
  return 0;
}

static int
ws_send_text (Client *c, const char *text)
{
  return ws_send (c, 1, text, strlen (text));
}

static void
client_close (Client *c, int code)
{
  if (c->state == ST_CLOSED)
    return;
  epoll_ctl (ep, EPOLL_CTL_DEL, c->fd, NULL);
  close (c->fd);
  c->state = ST_CLOSED;
  c->close_code = code;
  n_closed++;
  if (storm_phase) {
    /* As the SDK after going_away: its retryAfterMs, jittered +0..20 %. */
    double now = now_s ();
    if (storm_first_close == 0)
      storm_first_close = now;
    c->reconnect_at = now + c->retry_ms / 1000.0 * (1 + 0.2 * drand48 ());
  }
}

static const char *
json_str (
    const char *p, const char *end, const char *key, char *out, size_t out_len)
{
  const char *k = memmem (p, end - p, key, strlen (key));
  size_t i = 0;

  if (!k)
    return NULL;
  k += strlen (key);
  while (k < end && *k != '"' && i + 1 < out_len)
    out[i++] = *k++;
  out[i] = 0;
  return out;
}

static int64_t
json_int (const char *p, const char *end, const char *key, int *found)
{
  const char *k = memmem (p, end - p, key, strlen (key));

  *found = k != NULL;
  return k ? strtoll (k + strlen (key), NULL, 10) : 0;
}

static int64_t
record_latency (int64_t sent_ns)
{
  int64_t us = (now_ns () - sent_ns) / 1000;

  if (us < 0)
    us = 0;
  if (us >= HIST_US)
    hist_over++;
  else
    hist[us]++;
  hist_n++;
  return us;
}

static void
record_burst (int pub, int64_t seq, int64_t us)
{
  uint64_t i = (uint64_t) pub * burst_seqs + seq;

  if (!burst_first || seq < 0 || (uint64_t) seq >= burst_seqs)
    return;
  if (burst_first[i] < 0)
    burst_first[i] = us;
  burst_last[i] = us;
}

static int
cmp_i64 (const void *a, const void *b)
{
  int64_t x = *(const int64_t *) a, y = *(const int64_t *) b;

  return x < y ? -1 : x > y;
}

/* Mean of the first deliveries, mean and p99 of the last ones, ms. */
static void
burst_stats (double *first_mean, double *last_mean, double *last_p99)
{
  uint64_t n = 0, total = (uint64_t) opt.pubs * burst_seqs;
  double f = 0, l = 0;
  int64_t *last = malloc ((total + 1) * sizeof (int64_t));

  for (uint64_t i = 0; burst_first && i < total; i++) {
    if (burst_first[i] < 0)
      continue;
    f += burst_first[i];
    l += burst_last[i];
    last[n++] = burst_last[i];
  }
  qsort (last, n, sizeof (int64_t), cmp_i64);
  *first_mean = n ? f / n / 1000 : -1;
  *last_mean = n ? l / n / 1000 : -1;
  *last_p99 = n ? last[(uint64_t) (0.99 * n)] / 1000.0 : -1;
  free (last);
}

static void
on_text (Client *c, const char *p, size_t len)
{
  const char *end = p + len;
  int found;

  if (len > 18 && !memcmp (p, "{\"type\":\"message\"", 17)) {
    int64_t t = json_int (p, end, "\"t\":", &found);
    int pub = json_int (p, end, "\"p\":", &found);
    int64_t seq = json_int (p, end, "\"s\":", &found);
    if (!found || pub < 0 || pub >= opt.pubs) {
      n_errors++;
      return;
    }
    if (c->stalled)
      return; /* only its close matters */
    record_burst (pub, seq, record_latency (t));
    c->delivered++;
    if (now_s () - t0 <= opt.duration)
      n_delivered_in_window++;
    if (c->next_seq[pub] != (uint32_t) seq)
      c->out_of_order++;
    c->next_seq[pub] = seq + 1;
  } else if (len > 17 && !memcmp (p, "{\"type\":\"direct\"", 16)) {
    int64_t t = json_int (p, end, "\"t\":", &found);
    record_latency (t);
    c->delivered++;
    if (now_s () - t0 <= opt.duration)
      n_delivered_in_window++;
  } else if (!memcmp (p, "{\"type\":\"ack\"", 13)) {
    if ((c->role == ROLE_SUB || c->role == ROLE_IDLE) && !c->acked)
      c->acked = 1;
    else
      n_acks++;
  } else if (!memcmp (p, "{\"type\":\"presence\"", 18)) {
    if (c->acked)
      c->snapshot = 1;
  } else if (!memcmp (p, "{\"type\":\"welcome\"", 17)) {
    c->welcomed = 1;
    json_str (p, end, "\"peerId\":\"", c->peer_id, sizeof c->peer_id);
    if (storm_phase) {
      /* Back: resubscribe, as the SDK replays its subscriptions. */
      char buf[128];
      snprintf (buf, sizeof buf,
          "{\"type\":\"subscribe\",\"channel\":\"idle-%d\","
          "\"requestId\":\"r%d\"}",
          c->idx / 10, c->idx);
      ws_send_text (c, buf);
    }
  } else if (!memcmp (p, "{\"type\":\"going_away\"", 20)) {
    int found;
    int64_t ms = json_int (p, end, "\"retryAfterMs\":", &found);
    c->retry_ms = found && ms > 0 ? ms : 1000;
  } else if (!memcmp (p, "{\"type\":\"error\"", 15)) {
    if (n_errors < 5)
      fprintf (stderr, "server-load: client %d: %.*s\n", c->idx, (int) len, p);
    n_errors++;
  }
}

/* Parses whole frames out of c->in. */
static void
process_input (Client *c)
{
  size_t off = 0;

  while (c->in_len - off >= 2) {
    unsigned char *f = c->in + off;
    int opcode = f[0] & 0x0f;
    uint64_t plen = f[1] & 0x7f;
    size_t h = 2;

    if (plen == 126) {
      if (c->in_len - off < 4)
        break;
      plen = (f[2] << 8) | f[3];
      h = 4;
    } else if (plen == 127) {
      if (c->in_len - off < 10)
        break;
      plen = 0;
      for (int i = 0; i < 8; i++)
        plen = (plen << 8) | f[2 + i];
      h = 10;
    }
    if (plen > IN_CAP - 16) {
      client_close (c, -2);
      return;
    }
    if (c->in_len - off < h + plen)
      break;
    if (opcode == 1)
      on_text (c, (const char *) f + h, plen);
    else if (opcode == 9)
      ws_send (c, 10, (const char *) f + h, plen);
    else if (opcode == 8) {
      int code = plen >= 2 ? (f[h] << 8) | f[h + 1] : 1005;
      client_close (c, code);
      return;
    }
    off += h + plen;
  }
  memmove (c->in, c->in + off, c->in_len - off);
  c->in_len -= off;
}

static void
on_readable (Client *c)
{
  /* Bounded: at most 16 reads per wakeup, so one busy socket cannot
   * starve the others or the publish schedule. */
  for (int i = 0; i < 16 && c->state != ST_CLOSED; i++) {
    ssize_t n = recv (c->fd, c->in + c->in_len, IN_CAP - c->in_len, 0);
    if (n < 0 && (errno == EAGAIN || errno == EINTR))
      return;
    if (n <= 0) {
      client_close (c, -1);
      return;
    }
    c->in_len += n;
    if (c->state == ST_CONNECTING) {
      char *e = memmem (c->in, c->in_len, "\r\n\r\n", 4);
      if (!e)
        continue;
      if (c->in_len < 12 || memcmp (c->in + 9, "101", 3)) {
        if (c->in_len >= 12 && !memcmp (c->in + 9, "429", 3))
          n_429++;
        else
          n_handshake_failed++;
        client_close (c, -3);
        return;
      }
      e += 4;
      c->in_len -= (unsigned char *) e - c->in;
      memmove (c->in, e, c->in_len);
      c->state = ST_OPEN;
    }
    process_input (c);
    if (c->in_len == IN_CAP) {
      client_close (c, -2);
      return;
    }
  }
}

/* The longest this process went without reading (a load client that is
 * not scheduled reads nothing, and then a server's queues fill). */
static double last_pump_s, max_pump_gap_s;
/* Readiness events per epoll_wait() that returned any: near 1 when this
 * process waits for the server, large when the server waits for it. */
static uint64_t n_pump_waits, n_pump_events;

/* Waits up to timeout_s (to the nanosecond: epoll_pwait2) and handles
 * what arrived. */
static void
pump_s (double timeout_s)
{
  struct epoll_event ev[256];
  struct timespec ts = { (time_t) timeout_s,
    (long) ((timeout_s - (time_t) timeout_s) * 1e9) };
  int n = epoll_pwait2 (ep, ev, 256, &ts, NULL);
  double now = now_s ();

  if (last_pump_s > 0 && now - last_pump_s - timeout_s > max_pump_gap_s)
    max_pump_gap_s = now - last_pump_s - timeout_s;
  last_pump_s = now;
  if (n > 0) {
    n_pump_waits++;
    n_pump_events += n;
  }

  for (int i = 0; i < n; i++) {
    Client *c = &clients[ev[i].data.u32];
    if (c->stalled && c->snapshot) {
      /* Stops reading: the server's frames pile up in its queue. */
      epoll_ctl (ep, EPOLL_CTL_DEL, c->fd, NULL);
      continue;
    }
    on_readable (c);
  }
}

static void
pump (int timeout_ms)
{
  pump_s (timeout_ms / 1000.0);
}

static void
client_connect (Client *c)
{
  struct sockaddr_in sa = { 0 };
  char req[512];
  int one = 1;
  struct epoll_event ev = { 0 };

  c->fd = socket (AF_INET, SOCK_STREAM, 0);
  if (c->fd < 0)
    die ("socket: %s (raise ulimit -n)", strerror (errno));
  if (c->stalled) {
    /* A small window, so that the kernel's buffers do not absorb what
     * the server must queue for a client that stopped reading. */
    int rcvbuf = 4096;
    setsockopt (c->fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
  }
  if (!strcmp (opt.scenario, "storm")) {
    /* One loopback source address per client, as a storm comes from
     * many hosts: the server's per-IP connect limit then applies to
     * each client alone, and any 429 is a false one. */
    struct sockaddr_in src = { 0 };
    char addr[32];
    snprintf (addr, sizeof addr, "127.1.%d.%d", c->idx / 250, c->idx % 250 + 1);
    src.sin_family = AF_INET;
    inet_pton (AF_INET, addr, &src.sin_addr);
    bind (c->fd, (struct sockaddr *) &src, sizeof src);
  }
  sa.sin_family = AF_INET;
  sa.sin_port = htons (opt.port);
  inet_pton (AF_INET, opt.host, &sa.sin_addr);
  c->welcomed = c->acked = c->snapshot = 0;
  c->in_len = 0;
  if (connect (c->fd, (struct sockaddr *) &sa, sizeof sa) < 0) {
    close (c->fd);
    c->state = ST_CLOSED;
    if (storm_phase) {
      /* The server is not back yet. */
      n_refused++;
      c->reconnect_at = now_s () + 0.5;
    } else {
      n_handshake_failed++;
    }
    return;
  }
  setsockopt (c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  snprintf (req, sizeof req,
      "GET /v1?key=%s HTTP/1.1\r\nHost: %s:%d\r\nUpgrade: websocket\r\n"
      "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
      "Sec-WebSocket-Version: 13\r\n\r\n",
      opt.key, opt.host, opt.port);
  if (send (c->fd, req, strlen (req), MSG_NOSIGNAL) < 0) {
    n_handshake_failed++;
    close (c->fd);
    c->state = ST_CLOSED;
    return;
  }
  fcntl (c->fd, F_SETFL, O_NONBLOCK);
  if (!c->in)
    c->in = malloc (IN_CAP);
  ev.events = EPOLLIN;
  ev.data.u32 = c - clients;
  epoll_ctl (ep, EPOLL_CTL_ADD, c->fd, &ev);
  c->state = ST_CONNECTING;
}

/* Runs the loop until pred holds for every client in [from, to) or the
 * deadline passes. Returns how many did not make it. */
static int
wait_all (int from, int to, int (*pred) (Client *), double deadline)
{
  for (;;) {
    int missing = 0;
    for (int i = from; i < to; i++)
      if (clients[i].state != ST_CLOSED && !pred (&clients[i]))
        missing++;
    if (missing == 0 || now_s () > deadline)
      return missing;
    pump (5);
  }
}

static int
is_welcomed (Client *c)
{
  return c->welcomed;
}

static int
has_snapshot (Client *c)
{
  return c->snapshot;
}

static void
connect_all (int n, double deadline)
{
  for (int i = 0; i < n; i += opt.batch) {
    int to = i + opt.batch < n ? i + opt.batch : n;
    for (int j = i; j < to; j++)
      client_connect (&clients[j]);
    wait_all (i, to, is_welcomed, deadline);
  }
}

static void
subscribe_range (int from, int to, double deadline)
{
  char buf[256];

  for (int i = from; i < to; i += opt.batch) {
    int end = i + opt.batch < to ? i + opt.batch : to;
    for (int j = i; j < end; j++) {
      Client *c = &clients[j];
      const char *channel = opt.channel;
      char idle_channel[64];
      if (c->role == ROLE_IDLE) {
        snprintf (idle_channel, sizeof idle_channel, "idle-%d", j / 10);
        channel = idle_channel;
      }
      snprintf (buf, sizeof buf,
          "{\"type\":\"subscribe\",\"channel\":\"%s\",\"requestId\":\"s%d\"}",
          channel, j);
      ws_send_text (c, buf);
    }
    wait_all (i, end, has_snapshot, deadline);
  }
}

static long
proc_field (int pid, const char *file, const char *key)
{
  char path[64], line[256];
  FILE *f;
  long v = -1;

  snprintf (path, sizeof path, "/proc/%d/%s", pid, file);
  f = fopen (path, "r");
  if (!f)
    return -1;
  while (fgets (line, sizeof line, f))
    if (!strncmp (line, key, strlen (key)))
      v = strtol (line + strlen (key), NULL, 10);
  fclose (f);
  return v;
}

static double
proc_cpu_s (int pid)
{
  char path[64], buf[1024], *p;
  unsigned long ut = 0, st = 0;
  FILE *f;

  if (pid <= 0)
    return 0;
  snprintf (path, sizeof path, "/proc/%d/stat", pid);
  f = fopen (path, "r");
  if (!f)
    return 0;
  if (!fgets (buf, sizeof buf, f))
    buf[0] = 0;
  fclose (f);
  p = strrchr (buf, ')');
  if (!p)
    return 0;
  /* fields 14 and 15 (utime, stime); p points at field 2's end */
  sscanf (
      p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &st);
  return (double) (ut + st) / sysconf (_SC_CLK_TCK);
}

static double
percentile (double q)
{
  uint64_t target = (uint64_t) (q * hist_n), acc = 0;

  if (hist_n == 0)
    return -1;
  for (int i = 0; i < HIST_US; i++) {
    acc += hist[i];
    if (acc > target)
      return i / 1000.0;
  }
  return HIST_US / 1000.0;
}

static void
usage (void)
{
  fprintf (stderr,
      "usage: server-load --port N [--host 127.0.0.1] [--key pk_dev_local]\n"
      "  [--scenario fanout|direct|idle|storm] [--subs S] [--pubs P] "
      "[--clients N]\n"
      "  [--rate R msg/s per sender] [--duration D s] [--drain D s]\n"
      "  [--payload BYTES] [--stall K] [--server-pid PID] [--batch B]\n"
      "  [--label NAME] [--check]\n");
  exit (2);
}

static void
parse_args (int argc, char **argv)
{
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    const char *v = i + 1 < argc ? argv[i + 1] : NULL;
    if (!strcmp (a, "--check")) {
      opt.check = 1;
      continue;
    }
    if (!v)
      usage ();
    i++;
    if (!strcmp (a, "--host"))
      opt.host = v;
    else if (!strcmp (a, "--port"))
      opt.port = atoi (v);
    else if (!strcmp (a, "--key"))
      opt.key = v;
    else if (!strcmp (a, "--scenario"))
      opt.scenario = v;
    else if (!strcmp (a, "--subs"))
      opt.subs = atoi (v);
    else if (!strcmp (a, "--pubs"))
      opt.pubs = atoi (v);
    else if (!strcmp (a, "--clients"))
      opt.clients = atoi (v);
    else if (!strcmp (a, "--rate"))
      opt.rate = atof (v);
    else if (!strcmp (a, "--duration"))
      opt.duration = atof (v);
    else if (!strcmp (a, "--drain"))
      opt.drain = atof (v);
    else if (!strcmp (a, "--payload"))
      opt.payload = atoi (v);
    else if (!strcmp (a, "--stall"))
      opt.stall = atoi (v);
    else if (!strcmp (a, "--server-pid"))
      opt.server_pid = atoi (v);
    else if (!strcmp (a, "--batch"))
      opt.batch = atoi (v);
    else if (!strcmp (a, "--label"))
      opt.label = v;
    else
      usage ();
  }
  if (opt.port <= 0 || opt.port > 65535)
    usage ();
  /* Loopback only: this is a load generator. */
  if (strncmp (opt.host, "127.", 4))
    die ("--host must be a 127.x.x.x address");
  if (opt.duration <= 0 || opt.duration > MAX_DURATION_S || opt.drain < 0 ||
      opt.drain > 30)
    die ("--duration must be in (0, %d], --drain in [0, 30]", MAX_DURATION_S);
  if (opt.rate <= 0 || opt.rate > 100)
    die ("--rate must be in (0, 100]: the server allows 100 msg/s per "
         "connection; add senders instead");
  if (opt.payload < 40 || opt.payload > 300)
    die ("--payload must be in [40, 300]");
  if (opt.batch < 1)
    opt.batch = 1;
}

/* The data member: {"t":NS,"p":PUB,"s":SEQ,"x":"..."} padded to
 * opt.payload bytes. */
static int
build_data (char *out, size_t cap, int pub, uint64_t seq)
{
  int n = snprintf (out, cap,
      "{\"t\":%" PRId64 ",\"p\":%d,\"s\":%" PRIu64 ",\"x\":\"", now_ns (), pub,
      seq);
  while (n < opt.payload - 2 && (size_t) n < cap - 3)
    out[n++] = 'x';
  out[n++] = '"';
  out[n++] = '}';
  out[n] = 0;
  return n;
}

static void
run_senders (int from, int to, int direct)
{
  char data[400], frame[700];
  double interval = 1.0 / opt.rate;
  int n = to - from;
  double end;

  for (int i = from; i < to; i++)
    clients[i].next_due = interval * (i - from) / n;
  t0 = now_s ();
  end = t0 + opt.duration;
  /* Bounded by time: the window, then the drain below. */
  while (now_s () < end) {
    double t = now_s () - t0;
    for (int i = from; i < to; i++) {
      Client *c = &clients[i];
      if (c->state != ST_OPEN || c->next_due > t)
        continue;
      build_data (data, sizeof data, i - from, c->sent);
      if (direct)
        snprintf (frame, sizeof frame,
            "{\"type\":\"send\",\"to\":\"%s\",\"data\":%s,\"requestId\":"
            "\"d%d-%" PRIu64 "\"}",
            clients[c->partner].peer_id, data, i, c->sent);
      else
        snprintf (frame, sizeof frame,
            "{\"type\":\"publish\",\"channel\":\"%s\",\"data\":%s,"
            "\"requestId\":\"p%d-%" PRIu64 "\"}",
            opt.channel, data, i, c->sent);
      if (ws_send_text (c, frame) == 0) {
        c->sent++;
        n_published++;
      } else {
        n_errors++;
      }
      c->next_due += interval;
    }
    {
      /* Sleep until the next send is due, reading meanwhile. Not a spin:
       * on two cores a spinning client takes the core the server needs
       * and its wake-ups wait for the scheduler to preempt the client,
       * which is the bench's latency, not the server's. */
      double next = 1e9;
      for (int i = from; i < to; i++)
        if (clients[i].state == ST_OPEN && clients[i].next_due < next)
          next = clients[i].next_due;
      next -= now_s () - t0;
      pump_s (next > 0.05 ? 0.05 : next > 0 ? next : 0);
    }
  }
}

int
main (int argc, char **argv)
{
  int fanout, direct, idle;
  double setup_deadline, cpu0, cpu1, drain_end, t_conn;
  long rss0, rss1;
  uint64_t expected = 0, delivered, ooo = 0;
  int failed = 0, stalled_closed = 0, live_subs_short = 0;
  char stall_codes[256] = "";

  parse_args (argc, argv);
  /* Wake-ups on time: the default 50 µs slack is noise at this scale. */
  prctl (PR_SET_TIMERSLACK, 1UL, 0, 0, 0);
  fanout = !strcmp (opt.scenario, "fanout");
  direct = !strcmp (opt.scenario, "direct");
  idle = !strcmp (opt.scenario, "idle") || !strcmp (opt.scenario, "storm");
  if (!fanout && !direct && !idle)
    usage ();

  n_clients = fanout ? opt.subs + opt.pubs : opt.clients;
  if (direct && n_clients % 2)
    n_clients++;
  {
    struct rlimit rl;
    getrlimit (RLIMIT_NOFILE, &rl);
    if ((rlim_t) n_clients + 64 > rl.rlim_cur) {
      rl.rlim_cur = rl.rlim_max;
      setrlimit (RLIMIT_NOFILE, &rl);
    }
  }
  clients = calloc (n_clients, sizeof (Client));
  hist = calloc (HIST_US, sizeof (uint32_t));
  ep = epoll_create1 (0);
  for (int i = 0; i < n_clients; i++) {
    Client *c = &clients[i];
    c->idx = i;
    c->fd = -1;
    if (fanout) {
      c->role = i < opt.subs ? ROLE_SUB : ROLE_PUB;
      c->stalled = i < opt.stall;
      c->next_seq = calloc (opt.pubs, sizeof (uint32_t));
      if (!burst_first) {
        burst_seqs = (uint64_t) (opt.rate * opt.duration) + 16;
        burst_first = malloc (opt.pubs * burst_seqs * sizeof (int64_t));
        burst_last = malloc (opt.pubs * burst_seqs * sizeof (int64_t));
        memset (burst_first, 0xff, opt.pubs * burst_seqs * sizeof (int64_t));
      }
    } else {
      c->role = direct ? ROLE_PAIR : ROLE_IDLE;
      c->partner = i ^ 1;
    }
  }

  rss0 = proc_field (opt.server_pid, "status", "VmRSS:");
  t_conn = now_s ();
  setup_deadline = now_s () + 30;
  connect_all (n_clients, setup_deadline);
  if (fanout)
    subscribe_range (0, opt.subs, setup_deadline);
  if (idle) {
    subscribe_range (0, n_clients, setup_deadline);
    for (int i = 0; i < n_clients; i++)
      ws_send_text (&clients[i], "{\"type\":\"ping\"}");
  }
  t_conn = now_s () - t_conn;
  {
    int ready = 0;
    for (int i = 0; i < n_clients; i++)
      if (clients[i].state == ST_OPEN && clients[i].welcomed &&
          (clients[i].role != ROLE_SUB || clients[i].snapshot))
        ready++;
    fprintf (stderr, "server-load[%s]: %s, %d of %d clients ready in %.2f s\n",
        opt.label, opt.scenario, ready, n_clients, t_conn);
    if (ready < n_clients)
      failed = 1;
  }

  cpu0 = proc_cpu_s (opt.server_pid);
  if (!strcmp (opt.scenario, "storm")) {
    /* The driver now restarts the server (SIGTERM, start again on the
     * same port); every client reconnects and resubscribes. */
    double end;
    int back = 0;
    for (int i = 0; i < n_clients; i++)
      clients[i].retry_ms = 1000;
    storm_phase = 1;
    printf ("READY\n");
    fflush (stdout);
    end = now_s () + opt.duration;
    while (now_s () < end) {
      double now = now_s ();
      back = 0;
      for (int i = 0; i < n_clients; i++) {
        Client *c = &clients[i];
        if (c->state == ST_CLOSED && c->reconnect_at &&
            now >= c->reconnect_at) {
          c->reconnect_at = 0;
          c->reconnects++;
          client_connect (c);
        }
        if (c->reconnects && c->state == ST_OPEN && c->snapshot)
          back++;
      }
      if (back == n_clients)
        break;
      pump (5);
    }
    storm_last_back = now_s ();
    printf ("RESULT label=%s scenario=storm clients=%d back=%d storm_s=%.2f "
            "http_429=%" PRIu64 " refused=%" PRIu64 " errors=%" PRIu64 "\n",
        opt.label, n_clients, back,
        storm_first_close ? storm_last_back - storm_first_close : -1, n_429,
        n_refused, n_errors + n_handshake_failed);
    return back < n_clients && opt.check ? 1 : 0;
  }
  if (idle) {
    int open_clients = 0;
    double end = now_s () + opt.duration;
    while (now_s () < end)
      pump (50);
    rss1 = proc_field (opt.server_pid, "status", "VmRSS:");
    cpu1 = proc_cpu_s (opt.server_pid);
    for (int i = 0; i < n_clients; i++)
      open_clients += clients[i].state == ST_OPEN && clients[i].welcomed;
    printf ("RESULT label=%s scenario=idle clients=%d open=%d connect_s=%.2f "
            "rss_kb=%ld rss0_kb=%ld kb_per_conn=%.1f closed=%" PRIu64
            " errors=%" PRIu64 " cpu_s=%.2f\n",
        opt.label, n_clients, open_clients, t_conn, rss1, rss0,
        open_clients ? (double) (rss1 - rss0) / open_clients : 0, n_closed,
        n_errors + n_handshake_failed, cpu1 - cpu0);
    return failed && opt.check ? 1 : 0;
  }

  if (fanout)
    run_senders (opt.subs, n_clients, 0);
  else
    run_senders (0, n_clients, 1);
  for (int i = 0; i < n_clients; i++)
    expected += fanout ? (clients[i].role == ROLE_PUB ? clients[i].sent : 0)
                       : clients[i].sent;
  if (fanout)
    expected *= opt.subs - opt.stall;

  /* Drain: bounded by --drain. */
  drain_end = now_s () + opt.drain;
  while (now_s () < drain_end) {
    uint64_t d = 0;
    for (int i = opt.stall; i < n_clients; i++)
      d += clients[i].delivered;
    if (d >= expected && n_acks >= n_published)
      break;
    pump (5);
  }
  cpu1 = proc_cpu_s (opt.server_pid);
  rss1 = proc_field (opt.server_pid, "status", "VmRSS:");

  delivered = 0;
  for (int i = opt.stall; i < n_clients; i++) {
    delivered += clients[i].delivered;
    ooo += clients[i].out_of_order;
    if (fanout && clients[i].role == ROLE_SUB &&
        clients[i].delivered != n_published)
      live_subs_short++;
  }
  for (int i = 0; i < opt.stall && i < n_clients; i++) {
    /* A stalled client never read its close frame: its socket shows the
     * server's side closing as EOF once it reads again. */
    Client *c = &clients[i];
    double until = now_s () + 3;
    /* The server can only write its close frame as this reads. */
    while (c->state != ST_CLOSED && now_s () < until) {
      struct pollfd pfd = { c->fd, POLLIN, 0 };
      if (poll (&pfd, 1, 50) > 0)
        on_readable (c);
    }
    if (c->state == ST_CLOSED)
      stalled_closed++;
    snprintf (stall_codes + strlen (stall_codes),
        sizeof stall_codes - strlen (stall_codes), "%s%d", i ? "," : "",
        c->close_code);
  }

  {
    double secs = opt.duration;
    double cpu = cpu1 - cpu0;
    double first_mean, last_mean, last_p99;

    burst_stats (&first_mean, &last_mean, &last_p99);
    printf ("RESULT label=%s scenario=%s subs=%d senders=%d rate=%.0f "
            "offered_per_s=%.0f published=%" PRIu64 " expected=%" PRIu64
            " delivered=%" PRIu64 " delivered_pct=%.1f delivered_per_s=%.0f "
            "p50_ms=%.3f p99_ms=%.3f p999_ms=%.3f over2s=%" PRIu64
            " errors=%" PRIu64 " out_of_order=%" PRIu64
            " short_subs=%d closed=%" PRIu64 " stalled_closed=%d "
            "stall_codes=%s cpu_s=%.2f cpu_us_per_msg=%.2f rss_kb=%ld "
            "client_max_gap_ms=%.0f first_mean_ms=%.3f last_mean_ms=%.3f "
            "last_p99_ms=%.3f events_per_wait=%.2f\n",
        opt.label, opt.scenario, fanout ? opt.subs : 0,
        fanout ? opt.pubs : n_clients, opt.rate,
        fanout ? opt.pubs * opt.rate * (opt.subs - opt.stall)
               : n_clients * opt.rate,
        n_published, expected, delivered,
        expected ? 100.0 * delivered / expected : 0,
        n_delivered_in_window / secs, percentile (0.5), percentile (0.99),
        percentile (0.999), hist_over, n_errors + n_handshake_failed, ooo,
        live_subs_short, n_closed - stalled_closed, stalled_closed,
        stall_codes[0] ? stall_codes : "-", cpu,
        delivered ? cpu * 1e6 / delivered : 0, rss1, max_pump_gap_s * 1000,
        first_mean, last_mean, last_p99,
        n_pump_waits ? (double) n_pump_events / n_pump_waits : 0);
    if (opt.check && (delivered != expected || n_errors || n_handshake_failed ||
                         ooo || n_closed != (uint64_t) stalled_closed ||
                         live_subs_short || stalled_closed != opt.stall))
      failed = 1;
  }
  return failed && opt.check ? 1 : 0;
}
