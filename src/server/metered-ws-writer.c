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

#include "metered-ws-writer.h"

#include <errno.h>
#include <sys/socket.h>

/* Below this many jobs the caller writes alone. */
#define MIN_SHARED_JOBS 16
#define MAX_THREADS 4

struct _MeteredWsWriter
{
  /* lock guards jobs, n_jobs, generation, n_done, n_shared and quit. work wakes
   * the helpers for a new batch (or to quit), done wakes the caller when
   * n_done reaches n_jobs. */
  GMutex lock;
  GCond work;
  GCond done;
  MeteredWsWrite *jobs;
  guint n_jobs;
  guint32 generation;
  guint n_done;
  guint64 n_shared;
  gboolean quit;
  /* The next job to take: generation << 32 | index, taken with a
   * compare-and-swap, so that a helper that wakes after its batch is
   * over cannot take a job of the next one. Atomic, not under lock. */
  guint64 next;
  GThread *threads[MAX_THREADS];
  guint n_threads;
};

gssize
metered_ws_write_once (int fd, const struct iovec *v, int n)
{
  struct msghdr msg = { 0 };
  gssize written;

  msg.msg_iov = (struct iovec *) v;
  msg.msg_iovlen = n;
  do
    written = sendmsg (fd, &msg, MSG_NOSIGNAL | MSG_DONTWAIT);
  while (written < 0 && errno == EINTR);
  if (written < 0)
    return errno == EAGAIN || errno == EWOULDBLOCK ? 0 : -errno;
  return written;
}

/* Takes and writes jobs of batch gen until none is left; returns how
 * many this thread wrote. */
static guint
take_jobs (MeteredWsWriter *writer, MeteredWsWrite *jobs, guint n, guint32 gen)
{
  guint count = 0;

  for (;;) {
    guint64 cur = __atomic_load_n (&writer->next, __ATOMIC_ACQUIRE);
    guint32 i = (guint32) cur;
    MeteredWsWrite *job;

    if ((guint32) (cur >> 32) != gen || i >= n)
      return count;
    if (!__atomic_compare_exchange_n (&writer->next, &cur, cur + 1, FALSE,
            __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
      continue;
    job = &jobs[i];
    job->result = metered_ws_write_once (job->fd, job->v, job->n);
    count++;
  }
}

static gpointer
helper_main (gpointer data)
{
  MeteredWsWriter *writer = data;
  guint32 seen;

  g_mutex_lock (&writer->lock);
  seen = writer->generation;
  for (;;) {
    MeteredWsWrite *jobs;
    guint n, count;

    while (!writer->quit && writer->generation == seen)
      g_cond_wait (&writer->work, &writer->lock);
    if (writer->quit)
      break;
    seen = writer->generation;
    jobs = writer->jobs;
    n = writer->n_jobs;
    g_mutex_unlock (&writer->lock);

    count = take_jobs (writer, jobs, n, seen);

    g_mutex_lock (&writer->lock);
    /* Jobs taken belong to the current batch: it cannot end before
     * they are counted. */
    writer->n_done += count;
    writer->n_shared += count;
    if (count && writer->n_done == writer->n_jobs)
      g_cond_signal (&writer->done);
  }
  g_mutex_unlock (&writer->lock);
  return NULL;
}

MeteredWsWriter *
metered_ws_writer_new (guint threads)
{
  MeteredWsWriter *writer = g_new0 (MeteredWsWriter, 1);

  g_mutex_init (&writer->lock);
  g_cond_init (&writer->work);
  g_cond_init (&writer->done);
  writer->n_threads = MIN (threads, MAX_THREADS);
  for (guint i = 0; i < writer->n_threads; i++)
    writer->threads[i] = g_thread_new ("ws-writer", helper_main, writer);
  return writer;
}

void
metered_ws_writer_free (MeteredWsWriter *writer)
{
  if (!writer)
    return;
  g_mutex_lock (&writer->lock);
  writer->quit = TRUE;
  g_cond_broadcast (&writer->work);
  g_mutex_unlock (&writer->lock);
  for (guint i = 0; i < writer->n_threads; i++)
    g_thread_join (writer->threads[i]);
  g_mutex_clear (&writer->lock);
  g_cond_clear (&writer->work);
  g_cond_clear (&writer->done);
  g_free (writer);
}

guint64
metered_ws_writer_get_shared (MeteredWsWriter *writer)
{
  guint64 n;

  g_mutex_lock (&writer->lock);
  n = writer->n_shared;
  g_mutex_unlock (&writer->lock);
  return n;
}

void
metered_ws_writer_run (MeteredWsWriter *writer, MeteredWsWrite *jobs, guint n)
{
  guint32 gen;
  guint count;

  if (writer->n_threads == 0 || n < MIN_SHARED_JOBS) {
    for (guint i = 0; i < n; i++)
      jobs[i].result = metered_ws_write_once (jobs[i].fd, jobs[i].v, jobs[i].n);
    return;
  }

  g_mutex_lock (&writer->lock);
  gen = ++writer->generation;
  writer->jobs = jobs;
  writer->n_jobs = n;
  writer->n_done = 0;
  __atomic_store_n (&writer->next, (guint64) gen << 32, __ATOMIC_RELEASE);
  g_cond_broadcast (&writer->work);
  g_mutex_unlock (&writer->lock);

  count = take_jobs (writer, jobs, n, gen);

  g_mutex_lock (&writer->lock);
  writer->n_done += count;
  while (writer->n_done < n)
    g_cond_wait (&writer->done, &writer->lock);
  writer->jobs = NULL;
  g_mutex_unlock (&writer->lock);
}
