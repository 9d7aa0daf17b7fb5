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

#include <gst/gst.h>

#include "peer/metered-layer-cap.h"
#include "peer/metered-opus-loss.h"
#include "peer/metered-rate-estimator.h"
#include "peer/metered-rate-policy.h"

G_BEGIN_DECLS

/*
 * meteredsink's encoder target from what its viewers report, after
 * docs/rate-control.md: one GCC estimator per viewer, fed from the RTCP
 * viewer's TWCC feedback (metered-twcc.h) and, while none comes, from
 * the RTCP receiver reports in the session's per-peer stats, and one policy
 * over all of them for the shared encoder. Plain state, no lock of its own: the
 * sink calls it under GST_METERED_SINK_LOCK, and nothing here calls out.
 */
typedef struct _GstMeteredSinkRate GstMeteredSinkRate;

GstMeteredSinkRate *gst_metered_sink_rate_new (void);
void gst_metered_sink_rate_free (GstMeteredSinkRate *rate);

/* A small number naming peer_id for as long as it is a viewer (the
 * key-frame broker's viewer id). */
guint gst_metered_sink_rate_viewer_id (
    GstMeteredSinkRate *rate, const char *peer_id);
void gst_metered_sink_rate_remove_viewer (
    GstMeteredSinkRate *rate, const char *peer_id);

/* One round at now_us: peers is metered_session_get_peer_stats ()'s
 * a{sa{sv}}; viewers missing from it are forgotten. peers NULL: a round
 * on TWCC alone, for the viewers of the last round with peers (an
 * over-use acted on before the next round's reports). twcc (NULL: none) is
 * metered_session_take_twcc_feedback ()'s, fed before the reports. max_bps is
 * the ceiling (the bitrate property), n_layers the temporal layers the encoder
 * makes (1: none). TRUE when the encoder target changed: *target_bps is the new
 * one, *big_change says it moved by more than a quarter since the last time it
 * did. */
gboolean gst_metered_sink_rate_update (GstMeteredSinkRate *rate,
    GVariant *peers, GHashTable *twcc, guint max_bps, guint n_layers,
    gint64 now_us, guint64 *target_bps, gboolean *big_change);

/* A viewer's frame gate as the last round set it (metered-layer-cap.h). */
typedef struct
{
  char *peer_id;
  guint cap;
  gboolean keyframes_only;
} GstMeteredSinkViewerCap;

/* Every viewer's cap after the last round, to hand to
 * metered_session_set_layer_cap () (GstMeteredSinkViewerCap; frees its
 * peer ids). */
GArray *gst_metered_sink_rate_dup_caps (GstMeteredSinkRate *rate);

/* The loss, in percent, the shared Opus encoder's in-band FEC should
 * cover: the worst viewer's smoothed fraction lost after the last round
 * (metered-opus-loss.h). */
guint gst_metered_sink_rate_get_opus_loss (GstMeteredSinkRate *rate);

/* The current target, 0 before the first round. */
guint64 gst_metered_sink_rate_get_target (GstMeteredSinkRate *rate);

/* A list of metered/viewer-rate structures, one per viewer, for stats. */
void gst_metered_sink_rate_take_stats (GstMeteredSinkRate *rate, GValue *list);

G_END_DECLS
