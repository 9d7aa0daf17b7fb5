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

/* linkem: a link emulator in user space, for kernels without netem.
 *
 *   linkem (--dev NAME | --dev NAME --peer-dev NAME2 --peer-netns PATH)
 *          [--delay-ms D] [--jitter-ms J] [--rate-kbps R] [--queue-ms Q]
 *          [--loss PCT] [--ge P,R,H,K] [--seed S]
 *
 * Two ways to join two hosts:
 *   - a link between two network namespaces (--peer-dev, --peer-netns):
 *     TUN device NAME in the namespace linkem runs in, NAME2 in the one
 *     PATH names (/run/netns/X); what one device sends comes out of the
 *     other. The rate cap applies from NAME to NAME2 only (the downlink
 *     of whoever sits behind NAME2).
 *   - one namespace (--dev only): every packet read from NAME is written
 *     back to it, for routing that sends traffic between two local
 *     addresses out of the device and accepts it coming back in
 *     (tests/netem/linkem-check.sh). The two directions (lower or higher
 *     destination address) get their own queues and both the rate cap.
 * After opening the devices linkem prints "ready" on stdout; then each
 * packet meets, in order:
 *   - loss: random with probability PCT %, or Gilbert-Elliott (--ge: p and
 *     r the good->bad and bad->good transition probabilities, 1-h and 1-k
 *     the loss probability in the bad and good state, all in %);
 *   - a rate cap R kbit/s with a drop-tail queue holding at most Q ms of
 *     packets at that rate (the bottleneck);
 *   - a one-way delay D ms plus uniform jitter in [0, J] ms, never
 *     reordering (a packet never leaves before the one ahead of it).
 *
 * Commands on stdin change the link while it runs, one per line:
 *   rate KBPS | loss PCT | delay MS | jitter MS | stats
 * "stats" prints one line: packets in (per direction), lost, dropped by
 * the queue, out. The random numbers come from --seed alone: a run
 * repeats. Bounded: at most QUEUE_MAX packets wait per direction; stdin
 * EOF or SIGTERM ends it. */

#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#define QUEUE_MAX 4096
#define PACKET_MAX 2048

typedef struct
{
  int64_t due_us;
  size_t len;
  unsigned char data[PACKET_MAX];
} Packet;

/* One direction's bottleneck queue: a ring, in departure order. */
typedef struct
{
  int out_fd;
  int capped; /* the rate cap applies */
  Packet *ring;
  unsigned head, count;
  int64_t link_free_us; /* when the cap's serializer is next free */
  int64_t last_due_us;
} Queue;

typedef struct
{
  double delay_ms, jitter_ms, loss_pct, queue_ms;
  double rate_kbps; /* 0: no cap */
  int ge; /* Gilbert-Elliott on */
  double ge_p, ge_r, ge_h, ge_k; /* fractions 0..1 */
  int ge_bad;
  uint64_t rng;
  unsigned long in, lost, dropped, out;
  unsigned long in_dir[2];
} Link;

static volatile sig_atomic_t stop;

static void
on_signal (int sig)
{
  (void) sig;
  stop = 1;
}

static int64_t
now_us (void)
{
  struct timespec ts;

  clock_gettime (CLOCK_MONOTONIC, &ts);
  return (int64_t) ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* xorshift64*: small, seedable, good enough for loss decisions */
static double
rnd (Link *l)
{
  l->rng ^= l->rng >> 12;
  l->rng ^= l->rng << 25;
  l->rng ^= l->rng >> 27;
  return (double) ((l->rng * 2685821657736338717ULL) >> 11) /
         (double) (1ULL << 53);
}

static int
lose (Link *l)
{
  if (l->ge) {
    /* state change first, then the state's loss probability */
    if (l->ge_bad ? rnd (l) < l->ge_r : rnd (l) < l->ge_p)
      l->ge_bad = !l->ge_bad;
    return rnd (l) < (l->ge_bad ? 1.0 - l->ge_h : 1.0 - l->ge_k);
  }
  return l->loss_pct > 0 && rnd (l) * 100.0 < l->loss_pct;
}

static int
tun_open (const char *name)
{
  struct ifreq ifr;
  int fd = open ("/dev/net/tun", O_RDWR | O_NONBLOCK);

  if (fd < 0)
    return -1;
  memset (&ifr, 0, sizeof ifr);
  ifr.ifr_flags = IFF_TUN | IFF_NO_PI;
  snprintf (ifr.ifr_name, IFNAMSIZ, "%s", name);
  if (ioctl (fd, TUNSETIFF, &ifr) < 0) {
    close (fd);
    return -1;
  }
  return fd;
}

/* Direction of an IPv4 packet: 0 for the lower destination address. Both
 * directions of a flow then have separate queues. */
static int
direction (const unsigned char *p, size_t len)
{
  if (len < 20 || (p[0] >> 4) != 4)
    return 0;
  return memcmp (p + 16, p + 12, 4) > 0;
}

static void
enqueue (Link *l, Queue *q, const unsigned char *p, size_t len, int64_t now)
{
  Packet *slot;
  int64_t start, due;

  l->in++;
  if (lose (l)) {
    l->lost++;
    return;
  }
  start = now;
  if (q->capped && l->rate_kbps > 0) {
    int64_t tx_us = (int64_t) (len * 8.0 * 1000.0 / l->rate_kbps);
    if (q->link_free_us > now) {
      /* drop-tail: the queue holds queue_ms of data at the cap */
      if (q->link_free_us - now > (int64_t) (l->queue_ms * 1000)) {
        l->dropped++;
        return;
      }
      start = q->link_free_us;
    }
    q->link_free_us = start + tx_us;
    start += tx_us;
  }
  if (q->count == QUEUE_MAX) {
    l->dropped++;
    return;
  }
  due = start + (int64_t) (l->delay_ms * 1000 + rnd (l) * l->jitter_ms * 1000);
  if (due < q->last_due_us)
    due = q->last_due_us;
  q->last_due_us = due;
  slot = &q->ring[(q->head + q->count) % QUEUE_MAX];
  slot->due_us = due;
  slot->len = len;
  memcpy (slot->data, p, len);
  q->count++;
}

static void
command (Link *l, char *line)
{
  double v;
  char word[16];

  if (sscanf (line, "%15s %lf", word, &v) == 2) {
    if (!strcmp (word, "rate"))
      l->rate_kbps = v;
    else if (!strcmp (word, "loss"))
      l->loss_pct = v;
    else if (!strcmp (word, "delay"))
      l->delay_ms = v;
    else if (!strcmp (word, "jitter"))
      l->jitter_ms = v;
    else
      fprintf (stderr, "linkem: unknown command %s\n", word);
  } else if (sscanf (line, "%15s", word) == 1 && !strcmp (word, "stats")) {
    printf ("in %lu (%lu down, %lu up) lost %lu dropped %lu out %lu\n", l->in,
        l->in_dir[0], l->in_dir[1], l->lost, l->dropped, l->out);
    fflush (stdout);
  }
}

static int
parse_ge (Link *l, const char *arg)
{
  if (sscanf (arg, "%lf,%lf,%lf,%lf", &l->ge_p, &l->ge_r, &l->ge_h, &l->ge_k) !=
      4)
    return 0;
  l->ge_p /= 100;
  l->ge_r /= 100;
  l->ge_h /= 100;
  l->ge_k /= 100;
  l->ge = 1;
  return 1;
}

/* Opens name in the network namespace netns_path (NULL: ours); -1 on
 * error. The descriptor keeps working from any namespace. */
static int
tun_open_in (const char *name, const char *netns_path)
{
  int self = -1, target = -1, fd = -1;

  if (!netns_path)
    return tun_open (name);
  self = open ("/proc/self/ns/net", O_RDONLY);
  target = open (netns_path, O_RDONLY);
  if (self >= 0 && target >= 0 && setns (target, CLONE_NEWNET) == 0) {
    fd = tun_open (name);
    if (setns (self, CLONE_NEWNET) != 0) {
      close (fd);
      fd = -1;
    }
  }
  if (self >= 0)
    close (self);
  if (target >= 0)
    close (target);
  return fd;
}

int
main (int argc, char **argv)
{
  Link l = { .queue_ms = 100, .rng = 1 };
  Queue q[2] = { { 0 } };
  const char *dev = NULL, *peer_dev = NULL, *peer_netns = NULL;
  unsigned char buf[PACKET_MAX];
  char line[256];
  size_t line_len = 0;
  int fds[2], n_fds, stdin_open = 1;

  for (int i = 1; i + 1 < argc; i += 2) {
    const char *k = argv[i], *v = argv[i + 1];
    if (!strcmp (k, "--dev"))
      dev = v;
    else if (!strcmp (k, "--peer-dev"))
      peer_dev = v;
    else if (!strcmp (k, "--peer-netns"))
      peer_netns = v;
    else if (!strcmp (k, "--delay-ms"))
      l.delay_ms = atof (v);
    else if (!strcmp (k, "--jitter-ms"))
      l.jitter_ms = atof (v);
    else if (!strcmp (k, "--rate-kbps"))
      l.rate_kbps = atof (v);
    else if (!strcmp (k, "--queue-ms"))
      l.queue_ms = atof (v);
    else if (!strcmp (k, "--loss"))
      l.loss_pct = atof (v);
    else if (!strcmp (k, "--seed"))
      l.rng = strtoull (v, NULL, 10) * 2654435761ULL + 1;
    else if (!strcmp (k, "--ge")) {
      if (!parse_ge (&l, v)) {
        fprintf (stderr, "linkem: --ge wants P,R,H,K (percent)\n");
        return 2;
      }
    } else {
      fprintf (stderr, "linkem: unknown option %s\n", k);
      return 2;
    }
  }
  if (!dev || !peer_dev != !peer_netns) {
    fprintf (stderr,
        "usage: linkem (--dev NAME | --dev NAME --peer-dev NAME2 "
        "--peer-netns PATH) [--delay-ms D] [--jitter-ms J] [--rate-kbps R] "
        "[--queue-ms Q] [--loss PCT] [--ge P,R,H,K] [--seed S]\n");
    return 2;
  }
  fds[0] = tun_open (dev);
  fds[1] = peer_dev ? tun_open_in (peer_dev, peer_netns) : fds[0];
  if (fds[0] < 0 || fds[1] < 0) {
    fprintf (stderr, "linkem: cannot open TUN device %s: %s\n",
        fds[0] < 0 ? dev : peer_dev, strerror (errno));
    return 1;
  }
  n_fds = peer_dev ? 2 : 1;
  /* direction 0 leaves through the peer device (the capped one) */
  q[0].out_fd = fds[1];
  q[1].out_fd = fds[0];
  q[0].capped = 1;
  q[1].capped = !peer_dev;
  for (int d = 0; d < 2; d++) {
    q[d].ring = calloc (QUEUE_MAX, sizeof (Packet));
    if (!q[d].ring)
      return 1;
  }
  signal (SIGTERM, on_signal);
  signal (SIGINT, on_signal);
  printf ("ready\n");
  fflush (stdout);

  while (!stop && stdin_open) {
    struct pollfd pfd[3] = { { 0, POLLIN, 0 }, { fds[0], POLLIN, 0 },
      { fds[1], POLLIN, 0 } };
    int64_t now = now_us (), next = -1;
    int timeout = 1000;

    for (int d = 0; d < 2; d++) {
      while (q[d].count && q[d].ring[q[d].head].due_us <= now) {
        Packet *p = &q[d].ring[q[d].head];
        if (write (q[d].out_fd, p->data, p->len) == (ssize_t) p->len)
          l.out++;
        q[d].head = (q[d].head + 1) % QUEUE_MAX;
        q[d].count--;
      }
      if (q[d].count && (next < 0 || q[d].ring[q[d].head].due_us < next))
        next = q[d].ring[q[d].head].due_us;
    }
    if (next >= 0)
      timeout = (int) ((next - now + 999) / 1000);
    if (poll (pfd, 1 + n_fds, timeout) < 0) {
      if (errno == EINTR)
        continue;
      break;
    }
    for (int f = 0; f < n_fds; f++) {
      if (!(pfd[1 + f].revents & POLLIN))
        continue;
      /* a bounded batch, so that due packets are not starved */
      for (int n = 0; n < 64; n++) {
        ssize_t len = read (fds[f], buf, sizeof buf);
        int d;
        if (len <= 0)
          break;
        d = peer_dev ? f : direction (buf, len);
        l.in_dir[d]++;
        enqueue (&l, &q[d], buf, len, now_us ());
      }
    }
    if (pfd[0].revents & (POLLIN | POLLHUP)) {
      ssize_t n = read (0, line + line_len, sizeof line - 1 - line_len);
      if (n <= 0) {
        stdin_open = 0;
        break;
      }
      line_len += n;
      line[line_len] = '\0';
      for (char *nl; (nl = strchr (line, '\n'));) {
        *nl = '\0';
        command (&l, line);
        memmove (line, nl + 1, strlen (nl + 1) + 1);
        line_len = strlen (line);
      }
      if (line_len == sizeof line - 1)
        line_len = 0; /* an overlong line: dropped */
    }
  }
  printf ("in %lu (%lu down, %lu up) lost %lu dropped %lu out %lu\n", l.in,
      l.in_dir[0], l.in_dir[1], l.lost, l.dropped, l.out);
  free (q[0].ring);
  free (q[1].ring);
  close (fds[0]);
  if (peer_dev)
    close (fds[1]);
  return 0;
}
