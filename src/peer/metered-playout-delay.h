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

/* The minimum playout delay meteredsink asks a viewer for, in the
 * playout-delay RTP header extension
 * (http://www.webrtc.org/experiments/rtp-hdrext/playout-delay): pure,
 * no clock, no I/O.
 *
 * Why: a browser viewing us does not know the round trip (it learns it
 * only from RTCP XR, which rtpsession does not answer), so its jitter
 * buffer stays as short as our steady frame pacing allows (~12 ms
 * measured, bench/impair.sh loss5-rtt50) and every retransmission comes
 * too late: frames behind a loss are skipped or the picture stalls. A
 * Chromium sender's viewer holds ~95 ms there. While a viewer is
 * repairing losses (it sent a NACK within the last hold_us) the delay
 * covers one retransmission: 2 round trips + margin_ms; otherwise 0, a
 * clean link gets no added latency. */

#define METERED_PLAYOUT_DELAY_URI                                              \
  "http://www.webrtc.org/experiments/rtp-hdrext/playout-delay"
/* The extension's 12-bit fields count 10 ms. */
#define METERED_PLAYOUT_DELAY_MAX_MS (0xfff * 10)

typedef struct
{
  guint margin_ms;
  guint cap_ms;
  gint64 hold_us;
} MeteredPlayoutDelayConfig;

#define METERED_PLAYOUT_DELAY_CONFIG_DEFAULT                                   \
  {                                                                            \
    30, 400, 60 * G_USEC_PER_SEC                                               \
  }

typedef struct
{
  MeteredPlayoutDelayConfig config;
  guint64 nacks; /* the last count seen */
  gint64 last_nack_us; /* -1: none yet */
  guint min_ms;
} MeteredPlayoutDelay;

void metered_playout_delay_init (
    MeteredPlayoutDelay *d, const MeteredPlayoutDelayConfig *config);
/* A new reading of the viewer's stats: rtt_ms its round trip from receiver
 * reports (0: unknown), nacks the NACKs received from it so far (a
 * counter). Returns the minimum playout delay to ask for, in ms. */
guint metered_playout_delay_update (
    MeteredPlayoutDelay *d, guint rtt_ms, guint64 nacks, gint64 now_us);

/* The extension's 3 bytes: 12-bit minimum and maximum, in 10 ms units
 * (values clamped to what fits). */
void metered_playout_delay_encode (guint min_ms, guint max_ms, guint8 out[3]);

G_END_DECLS
