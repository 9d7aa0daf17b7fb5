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
#include "metered-playout-delay.h"

void
metered_playout_delay_init (
    MeteredPlayoutDelay *d, const MeteredPlayoutDelayConfig *config)
{
  d->config = *config;
  d->nacks = 0;
  d->last_nack_us = -1;
  d->min_ms = 0;
}

guint
metered_playout_delay_update (
    MeteredPlayoutDelay *d, guint rtt_ms, guint64 nacks, gint64 now_us)
{
  /* (a counter that went back, a new connection's, counts from there) */
  if (nacks > d->nacks)
    d->last_nack_us = now_us;
  d->nacks = nacks;
  if (d->last_nack_us < 0 || now_us - d->last_nack_us > d->config.hold_us)
    d->min_ms = 0;
  else if (rtt_ms > 0)
    /* the round trip is kept when a reading lacks it */
    d->min_ms = MIN (
        (guint64) rtt_ms * 2 + d->config.margin_ms, (guint64) d->config.cap_ms);
  return d->min_ms;
}

void
metered_playout_delay_encode (guint min_ms, guint max_ms, guint8 out[3])
{
  guint min = MIN (min_ms, METERED_PLAYOUT_DELAY_MAX_MS) / 10;
  guint max = MIN (max_ms, METERED_PLAYOUT_DELAY_MAX_MS) / 10;

  max = MAX (max, min);
  out[0] = min >> 4;
  out[1] = ((min & 0xf) << 4) | (max >> 8);
  out[2] = max & 0xff;
}
