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

#include "metered-ws-loop.h"

#include <errno.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#define TICK_MS 64
#define WHEEL_SLOTS 256 /* one turn: 16.4 s; later timers wait turns */
#define EVENTS_PER_WAIT 256

struct _MeteredWsLoop
{
  GSource source;
  int epfd;
  gpointer epfd_tag;
  /* Owners to call back after the current batch (MeteredWsWatch*). */
  GPtrArray *deferred;
  /* Timer wheel: slot i holds the timers due in tick i modulo
   * WHEEL_SLOTS, as a doubly linked list through the timers. */
  MeteredWsTimer *slots[WHEEL_SLOTS];
  guint n_timers;
  gint64 wheel_tick; /* the next tick to run, or the one running */
  gboolean in_tick; /* run_timers is walking wheel_tick's slot */
  /* Called at the end of every dispatch (or NULL). */
  MeteredWsBatchFunc batch_done;
  gpointer batch_done_data;
};

static gint64
now_ms (void)
{
  return g_get_monotonic_time () / 1000;
}

/* Wakes the loop at the next non-empty slot of the wheel, not at every
 * tick: a connection's token expiry an hour away costs no wakeups. A
 * slot may hold timers of a later turn: an early wakeup, then the next. */
static void
update_ready_time (MeteredWsLoop *loop)
{
  if (loop->deferred->len > 0) {
    g_source_set_ready_time (&loop->source, 0);
    return;
  }
  for (guint k = 0; loop->n_timers > 0 && k < WHEEL_SLOTS; k++)
    if (loop->slots[(loop->wheel_tick + k) % WHEEL_SLOTS]) {
      g_source_set_ready_time (
          &loop->source, (loop->wheel_tick + k) * TICK_MS * 1000);
      return;
    }
  g_source_set_ready_time (&loop->source, -1);
}

static void
run_deferred (MeteredWsLoop *loop)
{
  /* A callback may defer others: they run in this same pass. */
  for (guint i = 0; i < loop->deferred->len; i++) {
    MeteredWsWatch *watch = g_ptr_array_index (loop->deferred, i);
    watch->deferred = FALSE;
    watch->func (watch->data, 0);
  }
  g_ptr_array_set_size (loop->deferred, 0);
}

static void
run_timers (MeteredWsLoop *loop)
{
  gint64 now = now_ms ();
  gint64 now_tick = now / TICK_MS;

  /* A stall longer than a turn only needs one pass over the wheel. */
  if (now_tick - loop->wheel_tick > WHEEL_SLOTS)
    loop->wheel_tick = now_tick - WHEEL_SLOTS;
  for (; loop->wheel_tick <= now_tick && loop->n_timers > 0;
       loop->wheel_tick++) {
    MeteredWsTimer **slot = &loop->slots[loop->wheel_tick % WHEEL_SLOTS];
    MeteredWsTimer *t = *slot;

    loop->in_tick = TRUE;
    while (t) {
      MeteredWsTimer *next = t->next;
      if (t->due_ms <= now) {
        metered_ws_timer_stop (loop, t);
        /* May start or stop other timers, next included: restart. */
        t->func (t->data);
        next = *slot;
      }
      t = next;
    }
    loop->in_tick = FALSE;
  }
  loop->wheel_tick = MAX (loop->wheel_tick, now_tick);
}

static gboolean
loop_dispatch (GSource *source, GSourceFunc callback, gpointer user_data)
{
  MeteredWsLoop *loop = (MeteredWsLoop *) source;

  if (g_source_query_unix_fd (source, loop->epfd_tag) & G_IO_IN) {
    struct epoll_event events[EVENTS_PER_WAIT];
    int n = epoll_wait (loop->epfd, events, EVENTS_PER_WAIT, 0);

    for (int i = 0; i < n; i++) {
      MeteredWsWatch *watch = events[i].data.ptr;
      /* Unwatched by an earlier callback of this batch: its owner may
       * be closing, but is not freed before run_deferred. */
      if (watch->fd >= 0)
        watch->func (watch->data, events[i].events);
    }
  }
  run_deferred (loop);
  if (loop->n_timers > 0)
    run_timers (loop);
  else
    loop->wheel_tick = now_ms () / TICK_MS;
  if (loop->batch_done)
    loop->batch_done (loop->batch_done_data);
  update_ready_time (loop);
  return G_SOURCE_CONTINUE;
}

static void
loop_finalize (GSource *source)
{
  MeteredWsLoop *loop = (MeteredWsLoop *) source;

  close (loop->epfd);
  g_ptr_array_unref (loop->deferred);
}

static GSourceFuncs loop_funcs = {
  NULL,
  NULL,
  loop_dispatch,
  loop_finalize,
};

MeteredWsLoop *
metered_ws_loop_new (GMainContext *context)
{
  int epfd = epoll_create1 (EPOLL_CLOEXEC);
  MeteredWsLoop *loop;

  if (epfd < 0)
    return NULL;
  loop = (MeteredWsLoop *) g_source_new (&loop_funcs, sizeof *loop);
  loop->epfd = epfd;
  loop->deferred = g_ptr_array_new ();
  loop->wheel_tick = now_ms () / TICK_MS;
  memset (loop->slots, 0, sizeof loop->slots);
  loop->epfd_tag = g_source_add_unix_fd (&loop->source, epfd, G_IO_IN);
  g_source_set_name (&loop->source, "metered-server WebSocket connections");
  g_source_attach (&loop->source, context);
  return loop;
}

void
metered_ws_loop_free (MeteredWsLoop *loop)
{
  if (!loop)
    return;
  g_source_destroy (&loop->source);
  g_source_unref (&loop->source);
}

gboolean
metered_ws_loop_watch (MeteredWsLoop *loop, MeteredWsWatch *watch, int fd,
    guint32 events, MeteredWsReadyFunc func, gpointer data)
{
  struct epoll_event ev = { .events = events, .data.ptr = watch };
  gboolean added = watch->fd == fd && fd >= 0 && watch->func;

  if (added && watch->events == events)
    return TRUE;
  if (epoll_ctl (loop->epfd, added ? EPOLL_CTL_MOD : EPOLL_CTL_ADD, fd, &ev) <
      0)
    return FALSE;
  watch->fd = fd;
  watch->events = events;
  watch->func = func;
  watch->data = data;
  return TRUE;
}

void
metered_ws_loop_unwatch (MeteredWsLoop *loop, MeteredWsWatch *watch)
{
  if (watch->fd < 0)
    return;
  epoll_ctl (loop->epfd, EPOLL_CTL_DEL, watch->fd, NULL);
  watch->fd = -1;
}

void
metered_ws_loop_set_batch_done (
    MeteredWsLoop *loop, MeteredWsBatchFunc func, gpointer data)
{
  loop->batch_done = func;
  loop->batch_done_data = data;
}

void
metered_ws_loop_defer (MeteredWsLoop *loop, MeteredWsWatch *watch)
{
  if (watch->deferred)
    return;
  watch->deferred = TRUE;
  g_ptr_array_add (loop->deferred, watch);
  g_source_set_ready_time (&loop->source, 0);
}

void
metered_ws_timer_start (MeteredWsLoop *loop, MeteredWsTimer *timer,
    guint delay_ms, MeteredWsTimerFunc func, gpointer data)
{
  gint64 due = now_ms () + delay_ms;
  MeteredWsTimer **slot;

  metered_ws_timer_stop (loop, timer);
  if (loop->n_timers == 0)
    loop->wheel_tick = now_ms () / TICK_MS;
  timer->due_ms = due;
  timer->func = func;
  timer->data = data;
  timer->active = TRUE;
  /* Never behind the wheel's hand, or it would wait a whole turn. */
  /* The tick at or after due: never early. */
  timer->slot = MAX ((due + TICK_MS - 1) / TICK_MS,
                    loop->wheel_tick + (loop->in_tick ? 1 : 0)) %
                WHEEL_SLOTS;
  slot = &loop->slots[timer->slot];
  timer->prev = NULL;
  timer->next = *slot;
  if (*slot)
    (*slot)->prev = timer;
  *slot = timer;
  loop->n_timers++;
  update_ready_time (loop);
}

void
metered_ws_timer_stop (MeteredWsLoop *loop, MeteredWsTimer *timer)
{
  if (!timer->active)
    return;
  if (timer->prev)
    timer->prev->next = timer->next;
  else
    loop->slots[timer->slot] = timer->next;
  if (timer->next)
    timer->next->prev = timer->prev;
  timer->prev = timer->next = NULL;
  timer->active = FALSE;
  loop->n_timers--;
}
