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
#include "metered-opus-loss.h"

#include <math.h>

void
metered_loss_average_feed (MeteredLossAverage *a,
    const MeteredOpusLossConfig *config, double fraction_lost)
{
  fraction_lost = CLAMP (fraction_lost, 0.0, 1.0);
  if (!a->have)
    a->smoothed = fraction_lost;
  else
    a->smoothed += config->alpha * (fraction_lost - a->smoothed);
  a->have = TRUE;
}

guint
metered_opus_loss_percent (const MeteredOpusLossConfig *config,
    const MeteredLossAverage *viewers, guint n)
{
  double worst = -1;

  for (guint i = 0; i < n; i++)
    if (viewers[i].have)
      worst = MAX (worst, viewers[i].smoothed);
  if (worst < 0)
    return config->default_percent;
  return CLAMP ((guint) ceil (worst * 100 - 1e-9), config->floor_percent,
      config->cap_percent);
}
