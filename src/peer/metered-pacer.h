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

/*
 * When each copy of one encoded frame leaves, as a plan: no GStreamer, no
 * clock. One frame goes to N viewers; sent at once it is N × its size in
 * one burst on the uplink (and a key frame is several frames' worth), which
 * a capped or cellular uplink turns into loss. Each viewer has a leaky
 * bucket drained at pacing_factor × its estimate (libwebrtc's pacer uses
 * 2.5): its packets of a frame are spread over size / (2.5 × rate), after
 * whatever of its previous frames is still queued. Optionally one bucket
 * shared by all viewers at total_pacing_bps keeps their sum under the
 * uplink. The plan interleaves the viewers packet by packet, in time
 * order, so no viewer's copy waits for another's.
 */

typedef struct
{
  double pacing_factor;
  guint packet_bytes;
  /* The shared uplink bucket, 0: none. */
  guint64 total_pacing_bps;
} MeteredPacerConfig;

#define METERED_PACER_CONFIG_DEFAULT                                           \
  {                                                                            \
    2.5, 1200, 0                                                               \
  }

typedef struct
{
  guint viewer; /* index into the rates passed */
  guint packet; /* 0.. within the viewer's copy */
  guint size;
  gint64 send_us;
} MeteredPacerSend;

typedef struct
{
  MeteredPacerConfig config;
  /* When the shared bucket has drained what was planned, -1: empty. */
  gint64 total_free_us;
} MeteredPacer;

void metered_pacer_init (MeteredPacer *p, const MeteredPacerConfig *config);

/* Plans one frame of frame_bytes at now_us for n_viewers: rates_bps[i] is
 * viewer i's estimate (0: it does not get this frame, for example a
 * dropped temporal layer), next_free_us[i] when its bucket drains (in and
 * out; -1 for a new viewer). Appends MeteredPacerSend to sends, sorted by
 * send_us. Returns the time the last copy leaves. */
gint64 metered_pacer_plan (MeteredPacer *p, gsize frame_bytes,
    const guint64 *rates_bps, gint64 *next_free_us, guint n_viewers,
    gint64 now_us, GArray *sends);

G_END_DECLS
