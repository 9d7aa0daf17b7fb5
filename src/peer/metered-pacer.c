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

#include "peer/metered-pacer.h"

#include <stdlib.h>

/* A viewer with a nonsense estimate still drains, slowly. */
#define MIN_PACING_BPS 10000.0

void
metered_pacer_init (MeteredPacer *p, const MeteredPacerConfig *config)
{
  p->config = *config;
  if (!(p->config.pacing_factor >= 1))
    p->config.pacing_factor = 1;
  p->config.packet_bytes = MAX (p->config.packet_bytes, 100);
  p->total_free_us = -1;
}

static gint64
drain_us (guint bytes, double bps)
{
  return (gint64) (bytes * 8 * 1e6 / MAX (bps, MIN_PACING_BPS));
}

static int
compare_sends (const void *a, const void *b)
{
  const MeteredPacerSend *x = a, *y = b;

  if (x->send_us != y->send_us)
    return x->send_us < y->send_us ? -1 : 1;
  /* Same instant: packet by packet, viewer after viewer. */
  if (x->packet != y->packet)
    return x->packet < y->packet ? -1 : 1;
  return x->viewer < y->viewer ? -1 : x->viewer > y->viewer ? 1 : 0;
}

gint64
metered_pacer_plan (MeteredPacer *p, gsize frame_bytes,
    const guint64 *rates_bps, gint64 *next_free_us, guint n_viewers,
    gint64 now_us, GArray *sends)
{
  guint first = sends->len;
  guint n_packets =
      (frame_bytes + p->config.packet_bytes - 1) / p->config.packet_bytes;
  gint64 last = now_us;
  guint i, k;

  if (frame_bytes == 0)
    return now_us;

  for (i = 0; i < n_viewers; i++) {
    double rate = p->config.pacing_factor * rates_bps[i];
    gint64 t;

    if (rates_bps[i] == 0)
      continue;
    t = MAX (now_us, next_free_us[i]);
    for (k = 0; k < n_packets; k++) {
      MeteredPacerSend s;

      s.viewer = i;
      s.packet = k;
      s.size = k + 1 < n_packets
                   ? p->config.packet_bytes
                   : frame_bytes - (gsize) k * p->config.packet_bytes;
      s.send_us = t;
      g_array_append_val (sends, s);
      t += drain_us (s.size, rate);
    }
    next_free_us[i] = t;
  }
  if (sends->len == first)
    return now_us;

  qsort (&g_array_index (sends, MeteredPacerSend, first), sends->len - first,
      sizeof (MeteredPacerSend), compare_sends);

  /* The shared bucket only ever delays, which keeps the order. */
  for (i = first; i < sends->len; i++) {
    MeteredPacerSend *s = &g_array_index (sends, MeteredPacerSend, i);

    if (p->config.total_pacing_bps > 0) {
      s->send_us = MAX (s->send_us, p->total_free_us);
      p->total_free_us =
          s->send_us + drain_us (s->size, p->config.total_pacing_bps);
    }
    last = MAX (last, s->send_us);
  }
  /* A viewer's bucket drains no earlier than its last packet leaves. */
  for (i = first; i < sends->len; i++) {
    const MeteredPacerSend *s = &g_array_index (sends, MeteredPacerSend, i);
    double rate = p->config.pacing_factor * rates_bps[s->viewer];

    next_free_us[s->viewer] =
        MAX (next_free_us[s->viewer], s->send_us + drain_us (s->size, rate));
  }
  return last;
}
