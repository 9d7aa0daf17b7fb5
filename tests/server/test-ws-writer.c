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

/* The writer of metered-server's ws:// fan-outs (src/server/
 * metered-ws-writer.c): every job is written exactly once per batch, a
 * connection's bytes keep their order across batches of every size, with
 * and without helper threads, and a broken or full socket is reported
 * to the caller rather than lost. */

#include "metered-ws-writer.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define N_SOCKETS 48
/* At least this many rounds, and with helpers until they took
 * MIN_SHARED jobs (they join late: the caller is fast on socketpairs),
 * at most MAX_ROUNDS. */
#define ROUNDS 400
#define MIN_SHARED 500
#define MAX_ROUNDS 200000

typedef struct
{
  int ours[N_SOCKETS];
  int theirs[N_SOCKETS];
  GString *expected[N_SOCKETS];
} Pairs;

static void
pairs_open (Pairs *p)
{
  for (int i = 0; i < N_SOCKETS; i++) {
    int sv[2];

    g_assert_cmpint (socketpair (AF_UNIX, SOCK_STREAM, 0, sv), ==, 0);
    g_assert_cmpint (fcntl (sv[0], F_SETFL, O_NONBLOCK), ==, 0);
    g_assert_cmpint (fcntl (sv[1], F_SETFL, O_NONBLOCK), ==, 0);
    p->ours[i] = sv[0];
    p->theirs[i] = sv[1];
    p->expected[i] = g_string_new (NULL);
  }
}

/* Reads everything each peer got and compares it with what was sent. */
static void
pairs_check_and_close (Pairs *p)
{
  for (int i = 0; i < N_SOCKETS; i++) {
    GString *got = g_string_new (NULL);
    char buf[4096];
    ssize_t n;

    while ((n = read (p->theirs[i], buf, sizeof buf)) > 0)
      g_string_append_len (got, buf, n);
    g_assert_cmpstr (got->str, ==, p->expected[i]->str);
    g_string_free (got, TRUE);
    g_string_free (p->expected[i], TRUE);
    close (p->ours[i]);
    close (p->theirs[i]);
  }
}

typedef struct
{
  char round[32];
  char sock[32];
} Texts;

/* Rounds of batches of 1..N_SOCKETS jobs (below and above the size at
 * which helpers join in), each job two vectors, between reads: a job
 * written twice, skipped or out of order shows in the bytes. */
static void
run_rounds (guint threads)
{
  MeteredWsWriter *writer = metered_ws_writer_new (threads);
  MeteredWsWrite *jobs = g_new0 (MeteredWsWrite, N_SOCKETS);
  Texts *text = g_new0 (Texts, N_SOCKETS);
  Pairs p;
  GRand *rand = g_rand_new_with_seed (16 + threads);

  pairs_open (&p);
  for (int round = 0; round < MAX_ROUNDS; round++) {
    guint n = g_rand_int_range (rand, 1, N_SOCKETS + 1);
    guint first = g_rand_int_range (rand, 0, N_SOCKETS - n + 1);

    for (guint j = 0; j < n; j++) {
      guint s = first + j;
      MeteredWsWrite *job = &jobs[j];

      g_snprintf (text[j].round, sizeof text[j].round, "%d.", round);
      g_snprintf (text[j].sock, sizeof text[j].sock, "%u;", s);
      job->fd = p.ours[s];
      job->n = 2;
      job->v[0].iov_base = text[j].round;
      job->v[0].iov_len = strlen (text[j].round);
      job->v[1].iov_base = text[j].sock;
      job->v[1].iov_len = strlen (text[j].sock);
      job->total = job->v[0].iov_len + job->v[1].iov_len;
      job->result = -12345;
      g_string_append (p.expected[s], text[j].round);
      g_string_append (p.expected[s], text[j].sock);
    }
    metered_ws_writer_run (writer, jobs, n);
    for (guint j = 0; j < n; j++)
      g_assert_cmpint (jobs[j].result, ==, jobs[j].total);
    if (round >= ROUNDS &&
        (threads == 0 || metered_ws_writer_get_shared (writer) >= MIN_SHARED))
      break;
    if (round % 50 == 49) {
      pairs_check_and_close (&p);
      pairs_open (&p);
    }
  }
  pairs_check_and_close (&p);
  if (threads == 0)
    g_assert_cmpuint (metered_ws_writer_get_shared (writer), ==, 0);
  else
    g_assert_cmpuint (metered_ws_writer_get_shared (writer), >=, MIN_SHARED);
  g_rand_free (rand);
  g_free (text);
  g_free (jobs);
  metered_ws_writer_free (writer);
}

static void
test_order_no_threads (void)
{
  run_rounds (0);
}

static void
test_order_one_thread (void)
{
  run_rounds (1);
}

static void
test_order_three_threads (void)
{
  run_rounds (3);
}

/* A peer that is gone gives -EPIPE, a full buffer 0 (would block), a
 * partly full one a short count: the caller decides, nothing is lost
 * silently. Enough jobs that helpers take part. */
static void
test_errors_reported (void)
{
  MeteredWsWriter *writer = metered_ws_writer_new (1);
  MeteredWsWrite jobs[32] = { 0 };
  static char big[256 * 1024];
  int ours[32], theirs[32];

  for (int i = 0; i < 32; i++) {
    int sv[2];

    g_assert_cmpint (socketpair (AF_UNIX, SOCK_STREAM, 0, sv), ==, 0);
    g_assert_cmpint (fcntl (sv[0], F_SETFL, O_NONBLOCK), ==, 0);
    ours[i] = sv[0];
    theirs[i] = sv[1];
    jobs[i].fd = ours[i];
    jobs[i].n = 1;
    jobs[i].v[0].iov_base = big;
    jobs[i].v[0].iov_len = 10;
    jobs[i].total = 10;
  }
  /* 0: the peer is gone. 1: its buffer is full. 2: it takes part. */
  close (theirs[0]);
  theirs[0] = -1;
  while (write (ours[1], big, sizeof big) > 0)
    ;
  jobs[2].v[0].iov_len = jobs[2].total = sizeof big * 8;
  metered_ws_writer_run (writer, jobs, 32);
  g_assert_cmpint (jobs[0].result, ==, -EPIPE);
  g_assert_cmpint (jobs[1].result, ==, 0);
  g_assert_cmpint (jobs[2].result, >, 0);
  g_assert_cmpint (jobs[2].result, <, (gssize) jobs[2].total);
  for (int i = 3; i < 32; i++)
    g_assert_cmpint (jobs[i].result, ==, 10);
  for (int i = 0; i < 32; i++) {
    close (ours[i]);
    if (theirs[i] >= 0)
      close (theirs[i]);
  }
  metered_ws_writer_free (writer);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/ws-writer/order/no-threads", test_order_no_threads);
  g_test_add_func ("/ws-writer/order/one-thread", test_order_one_thread);
  g_test_add_func ("/ws-writer/order/three-threads", test_order_three_threads);
  g_test_add_func ("/ws-writer/errors-reported", test_errors_reported);
  return g_test_run ();
}
