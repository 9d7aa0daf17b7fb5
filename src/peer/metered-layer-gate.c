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

#include "metered-layer-gate.h"

#include <string.h>

void
metered_layer_gate_init (MeteredLayerGate *g)
{
  memset (g, 0, sizeof (*g));
  g->cap = METERED_LAYER_ALL;
  g->sending = METERED_LAYER_ALL;
}

void
metered_layer_gate_set_cap (
    MeteredLayerGate *g, guint cap, gboolean keyframes_only)
{
  g->cap = cap;
  g->keyframes_only = keyframes_only;
  g->sending = MIN (g->sending, cap);
  if (keyframes_only)
    g->sending_keyframes_only = TRUE;
  /* Back from key frames only: the deltas that follow reference frames
   * this viewer never got. */
  else if (g->sending_keyframes_only)
    g->need_key = TRUE;
}

static gboolean
decide (MeteredLayerGate *g, const MeteredLayerFrame *f)
{
  if (f->keyframe) {
    /* A key frame references nothing: every layer may start here. */
    g->sending = g->cap;
    g->sending_keyframes_only = g->keyframes_only;
    g->need_key = FALSE;
    return TRUE;
  }
  if (g->sending_keyframes_only)
    return FALSE;
  if (!f->has_layer)
    return TRUE;
  if (f->layer_id > g->sending && f->layer_id <= g->cap && f->layer_sync &&
      f->layer_id == g->sending + 1)
    g->sending = f->layer_id;
  return f->layer_id <= g->sending;
}

gboolean
metered_layer_gate_pass (MeteredLayerGate *g, const MeteredLayerFrame *frame)
{
  gboolean pass = decide (g, frame);

  if (pass)
    g->passed++;
  else
    g->dropped++;
  return pass;
}
