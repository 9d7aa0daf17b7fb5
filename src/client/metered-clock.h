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

#pragma once

#include <glib-object.h>

G_BEGIN_DECLS

/*
 * Every timer of the client (backoff, watchdog, heartbeat, ack, token and
 * welcome timeouts) goes through a MeteredClock, so tests drive time with
 * a manual clock instead of sleeping.
 */

#define METERED_TYPE_CLOCK (metered_clock_get_type ())
G_DECLARE_DERIVABLE_TYPE (MeteredClock, metered_clock, METERED, CLOCK, GObject)

/**
 * MeteredClockFunc:
 * @user_data: the data given to metered_clock_schedule()
 *
 * A one-shot timer callback.
 */
typedef void (*MeteredClockFunc) (gpointer user_data);

struct _MeteredClockClass
{
  GObjectClass parent_class;

  gint64 (*now_ms) (MeteredClock *self);
  guint (*schedule) (MeteredClock *self, guint64 delay_ms,
      MeteredClockFunc func, gpointer user_data);
  void (*cancel) (MeteredClock *self, guint id);

  gpointer padding[8];
};

/* Monotonic milliseconds. */
gint64 metered_clock_now_ms (MeteredClock *self);
/**
 * metered_clock_schedule: (skip)
 *
 * Calls func once, delay_ms from now; returns a non-zero id.
 */
guint metered_clock_schedule (MeteredClock *self, guint64 delay_ms,
    MeteredClockFunc func, gpointer user_data);
/* Cancels a timer that has not fired; 0 and fired ids are ignored. */
void metered_clock_cancel (MeteredClock *self, guint id);
/* Cancels *id if set and zeroes it. */
void metered_clock_clear (MeteredClock *self, guint *id);

#define METERED_TYPE_SYSTEM_CLOCK (metered_system_clock_get_type ())
G_DECLARE_FINAL_TYPE (MeteredSystemClock, metered_system_clock, METERED,
    SYSTEM_CLOCK, MeteredClock)

/* Real time, timers dispatched on context (NULL: the global default). */
MeteredClock *metered_system_clock_new (GMainContext *context);

#define METERED_TYPE_MANUAL_CLOCK (metered_manual_clock_get_type ())
G_DECLARE_FINAL_TYPE (MeteredManualClock, metered_manual_clock, METERED,
    MANUAL_CLOCK, MeteredClock)

/* Time that moves only when told to; starts at 0. */
MeteredClock *metered_manual_clock_new (void);
/* Moves time forward by ms, firing due timers in order of due time (then
 * of scheduling); timers scheduled by a callback fire too if due. */
void metered_manual_clock_advance (MeteredManualClock *self, guint64 ms);
/* Milliseconds until the next timer, or -1 when none is pending. */
gint64 metered_manual_clock_next_due (MeteredManualClock *self);
/* Number of pending timers. */
guint metered_manual_clock_pending (MeteredManualClock *self);

G_END_DECLS
