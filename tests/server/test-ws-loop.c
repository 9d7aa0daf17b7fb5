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

/* The epoll source and timer wheel of metered-server's plain ws://
 * connections (src/server/metered-ws-loop.c): timers fire in order, never
 * early, survive being stopped or started from a timer; ready fds reach
 * their owner, and a deferred call comes once, after the batch. */

#include "metered-ws-loop.h"

#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

typedef struct
{
  MeteredWsLoop *loop;
  GString *order;
  MeteredWsTimer a, b, c, d;
  gint64 started_us;
  gint64 due_us[4];
  gboolean early;
} TimerFixture;

static void
fired (TimerFixture *f, char name, int index)
{
  gint64 now = g_get_monotonic_time ();

  g_string_append_c (f->order, name);
  if (now < f->started_us + f->due_us[index])
    f->early = TRUE;
}

static void
on_a (gpointer data)
{
  fired (data, 'a', 0);
}

static void
on_d (gpointer data)
{
  fired (data, 'd', 3);
}

static void
on_b (gpointer data)
{
  TimerFixture *f = data;

  fired (f, 'b', 1);
  /* From inside a timer: stop one, start another. */
  metered_ws_timer_stop (f->loop, &f->c);
  f->due_us[3] = g_get_monotonic_time () - f->started_us + 30 * 1000;
  metered_ws_timer_start (f->loop, &f->d, 30, on_d, f);
}

static void
on_c (gpointer data)
{
  fired (data, 'c', 2);
}

static void
test_timers (void)
{
  g_autoptr (GMainContext) context = g_main_context_new ();
  TimerFixture f = { 0 };
  gint64 deadline;

  g_main_context_push_thread_default (context);
  f.loop = metered_ws_loop_new (context);
  f.order = g_string_new (NULL);
  f.started_us = g_get_monotonic_time ();
  f.due_us[0] = 300 * 1000;
  f.due_us[1] = 100 * 1000;
  f.due_us[2] = 200 * 1000;
  metered_ws_timer_start (f.loop, &f.a, 300, on_a, &f);
  metered_ws_timer_start (f.loop, &f.b, 100, on_b, &f);
  metered_ws_timer_start (f.loop, &f.c, 200, on_c, &f);
  /* Restarted: only the second start counts. */
  metered_ws_timer_start (f.loop, &f.a, 250, on_a, &f);
  f.due_us[0] = 250 * 1000;

  deadline = g_get_monotonic_time () + 5 * G_USEC_PER_SEC;
  while (f.order->len < 3 && g_get_monotonic_time () < deadline)
    g_main_context_iteration (context, TRUE);
  /* b, then d (started by b, 30 ms), then a; c was stopped by b. */
  g_assert_cmpstr (f.order->str, ==, "bda");
  g_assert_false (f.early);
  g_assert_false (f.a.active || f.b.active || f.c.active || f.d.active);

  metered_ws_loop_free (f.loop);
  g_string_free (f.order, TRUE);
  g_main_context_pop_thread_default (context);
}

typedef struct
{
  MeteredWsLoop *loop;
  MeteredWsWatch watch;
  guint readable;
  guint deferred;
  gboolean deferred_after_unwatch;
} WatchFixture;

static void
on_ready (gpointer data, guint32 events)
{
  WatchFixture *f = data;

  if (events == 0) {
    f->deferred++;
    f->deferred_after_unwatch = f->watch.fd < 0;
    return;
  }
  g_assert_true (events & EPOLLIN);
  f->readable++;
  /* What a closing connection does: stop watching, be called back. */
  metered_ws_loop_unwatch (f->loop, &f->watch);
  metered_ws_loop_defer (f->loop, &f->watch);
  metered_ws_loop_defer (f->loop, &f->watch); /* once is enough */
  g_assert_cmpuint (f->deferred, ==, 0);
}

static void
test_watch (void)
{
  g_autoptr (GMainContext) context = g_main_context_new ();
  WatchFixture f = { 0 };
  int sv[2];
  gint64 deadline;

  g_assert_cmpint (socketpair (AF_UNIX, SOCK_STREAM, 0, sv), ==, 0);
  f.loop = metered_ws_loop_new (context);
  f.watch.fd = -1;
  g_assert_true (
      metered_ws_loop_watch (f.loop, &f.watch, sv[0], EPOLLIN, on_ready, &f));
  /* Not readable yet: nothing happens. */
  while (g_main_context_iteration (context, FALSE))
    ;
  g_assert_cmpuint (f.readable, ==, 0);

  g_assert_cmpint (write (sv[1], "x", 1), ==, 1);
  deadline = g_get_monotonic_time () + 5 * G_USEC_PER_SEC;
  while (f.deferred == 0 && g_get_monotonic_time () < deadline)
    g_main_context_iteration (context, TRUE);
  g_assert_cmpuint (f.readable, ==, 1);
  g_assert_cmpuint (f.deferred, ==, 1);
  g_assert_true (f.deferred_after_unwatch);
  /* Still readable, but no longer watched. */
  while (g_main_context_iteration (context, FALSE))
    ;
  g_assert_cmpuint (f.readable, ==, 1);
  g_assert_cmpuint (f.deferred, ==, 1);

  metered_ws_loop_free (f.loop);
  close (sv[0]);
  close (sv[1]);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/ws-loop/timers", test_timers);
  g_test_add_func ("/ws-loop/watch", test_watch);
  return g_test_run ();
}
