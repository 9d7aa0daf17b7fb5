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

#include <glib.h>

G_BEGIN_DECLS

/* The loss the shared Opus encoder plans its in-band FEC for
 * (opusenc packet-loss-percentage), from the viewers' receiver reports:
 * pure, no clock, no I/O.
 *
 * Statistic: the worst viewer's smoothed fraction lost. One encoder
 * serves every viewer, and FEC only helps a viewer it was sized for:
 * sized for the median, the lossiest viewer's audio has no cover; sized
 * for the worst, the others pay some audio rate (libopus moves bits from
 * the primary frame to the redundancy) but hear no gap. Smoothed (an
 * exponential average per viewer) because one report counts only ~1 s of
 * packets and a single lossy second should not swing the encoder; the
 * percentage is clamped to floor..cap: under 1 % libopus spends almost
 * nothing on FEC, and beyond ~25 % more redundancy takes more from the
 * primary frame than it protects. No viewer: the standing guess. */

typedef struct
{
  double alpha; /* weight of a new report */
  guint floor_percent;
  guint cap_percent;
  guint default_percent; /* no viewer report yet */
} MeteredOpusLossConfig;

#define METERED_OPUS_LOSS_CONFIG_DEFAULT                                       \
  {                                                                            \
    0.3, 1, 25, 5                                                              \
  }

/* One viewer's smoothed fraction lost (0..1); have: a report fed. */
typedef struct
{
  double smoothed;
  gboolean have;
} MeteredLossAverage;

void metered_loss_average_feed (MeteredLossAverage *a,
    const MeteredOpusLossConfig *config, double fraction_lost);

/* The percentage for the encoder from the viewers' averages (n may be
 * 0; those without a report are skipped). */
guint metered_opus_loss_percent (const MeteredOpusLossConfig *config,
    const MeteredLossAverage *viewers, guint n);

G_END_DECLS
