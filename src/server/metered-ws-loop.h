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

/* One epoll fd, attached to a GMainContext as a single GSource, serving
 * every plain WebSocket connection of metered-server (metered-ws-conn.c),
 * and one timer wheel for their timeouts. GLib's own loop polls every
 * GSource's fds at every iteration: with a source per connection an
 * iteration costs O(connections), which is what capped delivery latency
 * and connection rate (issue 16). Main thread only. */

#pragma once

#include <glib.h>

G_BEGIN_DECLS

typedef struct _MeteredWsLoop MeteredWsLoop;

/* events: EPOLLIN/EPOLLOUT/EPOLLERR/EPOLLHUP as epoll_wait() reported
 * them, or 0 for a metered_ws_loop_defer() call. */
typedef void (*MeteredWsReadyFunc) (gpointer data, guint32 events);

/* Embedded in its owner; the owner stays allocated while watched or
 * deferred. */
typedef struct
{
  MeteredWsReadyFunc func;
  gpointer data;
  int fd;
  guint32 events;
  gboolean deferred;
} MeteredWsWatch;

typedef void (*MeteredWsTimerFunc) (gpointer data);

/* Embedded in its owner. Fires never early, at most one wheel tick
 * (64 ms) late. */
typedef struct _MeteredWsTimer MeteredWsTimer;
struct _MeteredWsTimer
{
  MeteredWsTimer *prev, *next;
  gint64 due_ms;
  guint slot;
  MeteredWsTimerFunc func;
  gpointer data;
  gboolean active;
};

MeteredWsLoop *metered_ws_loop_new (GMainContext *context);
void metered_ws_loop_free (MeteredWsLoop *loop);

/* Starts watching fd for events (EPOLLIN, EPOLLOUT), or changes them. */
gboolean metered_ws_loop_watch (MeteredWsLoop *loop, MeteredWsWatch *watch,
    int fd, guint32 events, MeteredWsReadyFunc func, gpointer data);
void metered_ws_loop_unwatch (MeteredWsLoop *loop, MeteredWsWatch *watch);
/* Calls watch's func with events 0 once the current batch of ready fds
 * is done (or at the next iteration): where an owner frees itself, so
 * that no ready event of this batch can reach freed memory. */
void metered_ws_loop_defer (MeteredWsLoop *loop, MeteredWsWatch *watch);

typedef void (*MeteredWsBatchFunc) (gpointer data);

/* func runs at the end of each dispatch, once the batch's callbacks,
 * deferred calls and timers are done: the owner writes what they queued
 * in the same main-loop iteration. An iteration of the GMainContext
 * between the reads and the writes cost 100 µs on the 2-core bench box,
 * before the first of a fan-out's writes. */
void metered_ws_loop_set_batch_done (
    MeteredWsLoop *loop, MeteredWsBatchFunc func, gpointer data);

void metered_ws_timer_start (MeteredWsLoop *loop, MeteredWsTimer *timer,
    guint delay_ms, MeteredWsTimerFunc func, gpointer data);
void metered_ws_timer_stop (MeteredWsLoop *loop, MeteredWsTimer *timer);

G_END_DECLS
