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

#include "metered-layer-cap.h"

#include <string.h>

void
metered_layer_cap_init (MeteredLayerCap *c, const MeteredLayerCapConfig *config)
{
  memset (c, 0, sizeof (*c));
  c->config = *config;
  c->cap = G_MAXUINT;
}

void
metered_layer_cap_on_report (MeteredLayerCap *c, double fraction_lost)
{
  if (fraction_lost > c->config.lossy_above)
    c->lossy_in_a_row = MIN (c->lossy_in_a_row + 1, G_MAXUINT - 1);
  else
    c->lossy_in_a_row = 0;
}

gboolean
metered_layer_cap_decide (MeteredLayerCap *c, guint n_layers, guint layer_cap,
    gboolean keyframes_only)
{
  guint cap = MIN (layer_cap, MAX (n_layers, 1) - 1);
  gboolean kf;

  if (n_layers > 1)
    kf = FALSE;
  else if (!keyframes_only)
    kf = FALSE;
  else
    /* already on: held until the policy lets go */
    kf = c->keyframes_only || c->lossy_in_a_row >= c->config.lossy_reports;
  if (cap == c->cap && kf == c->keyframes_only)
    return FALSE;
  c->cap = cap;
  c->keyframes_only = kf;
  return TRUE;
}
