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

#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "metered-jitter-latency.h"

#include <string.h>

/* Scheduling slack and the hand-over downstream. */
#define MARGIN_MS 30
/* Smaller rises are not worth a latency change downstream. */
#define MIN_RISE_MS 10

void
metered_jitter_latency_init (
    MeteredJitterLatency *jl, guint floor_ms, guint ceiling_ms)
{
  memset (jl, 0, sizeof (*jl));
  jl->floor_ms = floor_ms;
  jl->ceiling_ms = MAX (ceiling_ms, floor_ms);
  jl->current_ms = floor_ms;
}

guint
metered_jitter_latency_target (guint rtt_ms, guint jitter_ms)
{
  guint64 t = (guint64) rtt_ms * 2 + (guint64) jitter_ms * 4 + MARGIN_MS;

  return (guint) MIN (t, G_MAXUINT);
}

guint
metered_jitter_latency_update (MeteredJitterLatency *jl, guint rtt_ms,
    guint jitter_ms, guint64 rtx_requests, gint64 now_us)
{
  guint target;

  if (rtx_requests > jl->rtx_requests)
    jl->last_request_us = now_us;
  jl->rtx_requests = rtx_requests;

  if (!jl->last_request_us || rtt_ms == 0 ||
      now_us - jl->last_request_us >= METERED_JITTER_LATENCY_QUIET_US)
    target = jl->floor_ms;
  else
    target = CLAMP (metered_jitter_latency_target (rtt_ms, jitter_ms),
        jl->floor_ms, jl->ceiling_ms);

  if (target >= jl->current_ms) {
    if (target - jl->current_ms >= MIN_RISE_MS)
      jl->current_ms = target;
    jl->lower_since_us = 0;
  } else if ((guint64) target * 4 >= (guint64) jl->current_ms * 3) {
    /* Close enough: not worth a latency change downstream. */
    jl->lower_since_us = 0;
  } else if (!jl->lower_since_us) {
    jl->lower_since_us = now_us;
  } else if (now_us - jl->lower_since_us >= METERED_JITTER_LATENCY_FALL_US) {
    jl->current_ms = target;
    jl->lower_since_us = 0;
  }
  return jl->current_ms;
}
