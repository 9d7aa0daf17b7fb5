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

#include "metered-clock.h"

G_DEFINE_ABSTRACT_TYPE (MeteredClock, metered_clock, G_TYPE_OBJECT)

static void
metered_clock_class_init (MeteredClockClass *klass)
{
}

static void
metered_clock_init (MeteredClock *self)
{
}

gint64
metered_clock_now_ms (MeteredClock *self)
{
  g_return_val_if_fail (METERED_IS_CLOCK (self), 0);
  return METERED_CLOCK_GET_CLASS (self)->now_ms (self);
}

guint
metered_clock_schedule (MeteredClock *self, guint64 delay_ms,
    MeteredClockFunc func, gpointer user_data)
{
  g_return_val_if_fail (METERED_IS_CLOCK (self), 0);
  return METERED_CLOCK_GET_CLASS (self)->schedule (
      self, delay_ms, func, user_data);
}

void
metered_clock_cancel (MeteredClock *self, guint id)
{
  g_return_if_fail (METERED_IS_CLOCK (self));
  if (id)
    METERED_CLOCK_GET_CLASS (self)->cancel (self, id);
}

void
metered_clock_clear (MeteredClock *self, guint *id)
{
  if (*id) {
    metered_clock_cancel (self, *id);
    *id = 0;
  }
}

/* --- system clock --- */

struct _MeteredSystemClock
{
  MeteredClock parent;
  GMainContext *context;
};

G_DEFINE_FINAL_TYPE (
    MeteredSystemClock, metered_system_clock, METERED_TYPE_CLOCK)

typedef struct
{
  MeteredClockFunc func;
  gpointer user_data;
} SystemTimer;

static gboolean
system_timer_fire (gpointer data)
{
  SystemTimer *timer = data;

  timer->func (timer->user_data);
  return G_SOURCE_REMOVE;
}

static gint64
system_now_ms (MeteredClock *clock)
{
  return g_get_monotonic_time () / 1000;
}

static guint
system_schedule (MeteredClock *clock, guint64 delay_ms, MeteredClockFunc func,
    gpointer user_data)
{
  MeteredSystemClock *self = METERED_SYSTEM_CLOCK (clock);
  GSource *source = g_timeout_source_new (MIN (delay_ms, G_MAXUINT));
  SystemTimer *timer = g_new (SystemTimer, 1);
  guint id;

  timer->func = func;
  timer->user_data = user_data;
  g_source_set_callback (source, system_timer_fire, timer, g_free);
  g_source_set_static_name (source, "metered-clock");
  id = g_source_attach (source, self->context);
  g_source_unref (source);
  return id;
}

static void
system_cancel (MeteredClock *clock, guint id)
{
  MeteredSystemClock *self = METERED_SYSTEM_CLOCK (clock);
  GSource *source = g_main_context_find_source_by_id (self->context, id);

  if (source)
    g_source_destroy (source);
}

static void
metered_system_clock_finalize (GObject *object)
{
  MeteredSystemClock *self = METERED_SYSTEM_CLOCK (object);

  g_main_context_unref (self->context);
  G_OBJECT_CLASS (metered_system_clock_parent_class)->finalize (object);
}

static void
metered_system_clock_class_init (MeteredSystemClockClass *klass)
{
  MeteredClockClass *clock_class = METERED_CLOCK_CLASS (klass);

  G_OBJECT_CLASS (klass)->finalize = metered_system_clock_finalize;
  clock_class->now_ms = system_now_ms;
  clock_class->schedule = system_schedule;
  clock_class->cancel = system_cancel;
}

static void
metered_system_clock_init (MeteredSystemClock *self)
{
}

MeteredClock *
metered_system_clock_new (GMainContext *context)
{
  MeteredSystemClock *self = g_object_new (METERED_TYPE_SYSTEM_CLOCK, NULL);

  self->context = context ? g_main_context_ref (context)
                          : g_main_context_ref (g_main_context_default ());
  return METERED_CLOCK (self);
}

/* --- manual clock --- */

typedef struct
{
  guint id;
  gint64 due;
  MeteredClockFunc func;
  gpointer user_data;
} ManualTimer;

struct _MeteredManualClock
{
  MeteredClock parent;
  gint64 now;
  guint next_id;
  GList *timers; /* ManualTimer*, sorted by due then id */
};

G_DEFINE_FINAL_TYPE (
    MeteredManualClock, metered_manual_clock, METERED_TYPE_CLOCK)

static gint
timer_compare (gconstpointer a, gconstpointer b)
{
  const ManualTimer *ta = a, *tb = b;

  if (ta->due != tb->due)
    return ta->due < tb->due ? -1 : 1;
  return ta->id < tb->id ? -1 : (ta->id > tb->id);
}

static gint64
manual_now_ms (MeteredClock *clock)
{
  return METERED_MANUAL_CLOCK (clock)->now;
}

static guint
manual_schedule (MeteredClock *clock, guint64 delay_ms, MeteredClockFunc func,
    gpointer user_data)
{
  MeteredManualClock *self = METERED_MANUAL_CLOCK (clock);
  ManualTimer *timer = g_new (ManualTimer, 1);

  timer->id = ++self->next_id;
  timer->due = self->now + (gint64) MIN (delay_ms, (guint64) G_MAXINT64 / 2);
  timer->func = func;
  timer->user_data = user_data;
  self->timers = g_list_insert_sorted (self->timers, timer, timer_compare);
  return timer->id;
}

static void
manual_cancel (MeteredClock *clock, guint id)
{
  MeteredManualClock *self = METERED_MANUAL_CLOCK (clock);

  for (GList *l = self->timers; l; l = l->next) {
    ManualTimer *timer = l->data;
    if (timer->id == id) {
      self->timers = g_list_delete_link (self->timers, l);
      g_free (timer);
      return;
    }
  }
}

void
metered_manual_clock_advance (MeteredManualClock *self, guint64 ms)
{
  gint64 target = self->now + (gint64) ms;

  /* Bounded: a callback that keeps scheduling 0 ms timers would otherwise
   * spin forever. */
  for (guint fired = 0; self->timers && fired < 1000000; fired++) {
    ManualTimer *timer = self->timers->data;
    if (timer->due > target)
      break;
    self->timers = g_list_delete_link (self->timers, self->timers);
    self->now = MAX (self->now, timer->due);
    timer->func (timer->user_data);
    g_free (timer);
  }
  self->now = target;
}

gint64
metered_manual_clock_next_due (MeteredManualClock *self)
{
  if (!self->timers)
    return -1;
  return MAX (0, ((ManualTimer *) self->timers->data)->due - self->now);
}

guint
metered_manual_clock_pending (MeteredManualClock *self)
{
  return g_list_length (self->timers);
}

static void
metered_manual_clock_finalize (GObject *object)
{
  MeteredManualClock *self = METERED_MANUAL_CLOCK (object);

  g_list_free_full (self->timers, g_free);
  G_OBJECT_CLASS (metered_manual_clock_parent_class)->finalize (object);
}

static void
metered_manual_clock_class_init (MeteredManualClockClass *klass)
{
  MeteredClockClass *clock_class = METERED_CLOCK_CLASS (klass);

  G_OBJECT_CLASS (klass)->finalize = metered_manual_clock_finalize;
  clock_class->now_ms = manual_now_ms;
  clock_class->schedule = manual_schedule;
  clock_class->cancel = manual_cancel;
}

static void
metered_manual_clock_init (MeteredManualClock *self)
{
}

MeteredClock *
metered_manual_clock_new (void)
{
  return g_object_new (METERED_TYPE_MANUAL_CLOCK, NULL);
}
