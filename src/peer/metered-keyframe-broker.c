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

#include "peer/metered-keyframe-broker.h"

typedef struct
{
  guint id;
  double tokens;
  gint64 refilled_us;
  gboolean waiting;
} ViewerBudget;

void
metered_keyframe_broker_init (
    MeteredKeyframeBroker *b, const MeteredKeyframeBrokerConfig *config)
{
  b->config = *config;
  b->config.min_interval_us = MAX (b->config.min_interval_us, 0);
  b->config.budget_period_us = MAX (b->config.budget_period_us, 1);
  b->config.budget_burst = MAX (b->config.budget_burst, 1);
  b->last_keyframe_us = -1;
  b->last_forced_us = -1;
  b->pending = FALSE;
  b->viewers = g_array_new (FALSE, TRUE, sizeof (ViewerBudget));
  b->n_requests = b->n_forced = b->n_ignored = 0;
}

void
metered_keyframe_broker_clear (MeteredKeyframeBroker *b)
{
  g_clear_pointer (&b->viewers, g_array_unref);
}

static ViewerBudget *
budget_for (MeteredKeyframeBroker *b, guint id, gint64 now_us)
{
  ViewerBudget fresh = { id, b->config.budget_burst, now_us, FALSE };
  guint i;

  for (i = 0; i < b->viewers->len; i++) {
    ViewerBudget *v = &g_array_index (b->viewers, ViewerBudget, i);
    if (v->id == id)
      return v;
  }
  g_array_append_val (b->viewers, fresh);
  return &g_array_index (b->viewers, ViewerBudget, b->viewers->len - 1);
}

/* When the encoder may next be asked: one key frame per interval, its
 * own included, and one request per interval while it has not answered. */
static gint64
slot_opens_at (const MeteredKeyframeBroker *b)
{
  gint64 at = G_MININT64;

  if (b->last_keyframe_us >= 0)
    at = MAX (at, b->last_keyframe_us + b->config.min_interval_us);
  if (b->last_forced_us >= 0)
    at = MAX (at, b->last_forced_us + b->config.min_interval_us);
  return at;
}

static gboolean
take_token (MeteredKeyframeBroker *b, ViewerBudget *v, gint64 now_us)
{
  if (now_us > v->refilled_us) {
    v->tokens = MIN ((double) b->config.budget_burst,
        v->tokens +
            (double) (now_us - v->refilled_us) / b->config.budget_period_us);
    v->refilled_us = now_us;
  }
  if (v->tokens < 1)
    return FALSE;
  v->tokens -= 1;
  return TRUE;
}

MeteredKeyframeVerdict
metered_keyframe_broker_request (MeteredKeyframeBroker *b, guint viewer_id,
    MeteredKeyframeReason reason, gint64 now_us)
{
  ViewerBudget *v = budget_for (b, viewer_id, now_us);

  b->n_requests++;
  if (reason == METERED_KEYFRAME_PLI && !v->waiting &&
      !take_token (b, v, now_us)) {
    b->n_ignored++;
    return METERED_KEYFRAME_IGNORED;
  }
  v->waiting = TRUE;
  b->pending = TRUE;
  return metered_keyframe_broker_poll (b, now_us) ? METERED_KEYFRAME_FORCE
                                                  : METERED_KEYFRAME_WAIT;
}

gboolean
metered_keyframe_broker_poll (MeteredKeyframeBroker *b, gint64 now_us)
{
  if (!b->pending || now_us < slot_opens_at (b))
    return FALSE;
  b->last_forced_us = now_us;
  b->n_forced++;
  return TRUE;
}

gint64
metered_keyframe_broker_next_deadline (const MeteredKeyframeBroker *b)
{
  if (!b->pending)
    return -1;
  return MAX (slot_opens_at (b), 0);
}

void
metered_keyframe_broker_keyframe_produced (
    MeteredKeyframeBroker *b, gint64 now_us)
{
  guint i;

  b->last_keyframe_us = now_us;
  b->pending = FALSE;
  for (i = 0; i < b->viewers->len; i++)
    g_array_index (b->viewers, ViewerBudget, i).waiting = FALSE;
}

void
metered_keyframe_broker_remove_viewer (
    MeteredKeyframeBroker *b, guint viewer_id)
{
  gboolean anyone_waits = FALSE;
  guint i;

  for (i = b->viewers->len; i-- > 0;) {
    ViewerBudget *v = &g_array_index (b->viewers, ViewerBudget, i);

    if (v->id == viewer_id)
      g_array_remove_index_fast (b->viewers, i);
    else if (v->waiting)
      anyone_waits = TRUE;
  }
  /* Nobody left to serve: do not force a key frame for no one. */
  b->pending = anyone_waits;
}
