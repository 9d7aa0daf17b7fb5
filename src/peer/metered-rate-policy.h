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
 * The shared encoder's target and what each viewer gets of it, as plain
 * state and decisions: no GStreamer, no clock (times are passed in, in
 * microseconds of any monotonic base).
 *
 * One encoder feeds every viewer, so its target comes from a low
 * percentile of the viewers' usable rates (their estimates less headroom
 * for retransmissions, audio and RTCP), leaving out viewers far below the
 * others (under drag_fraction × the median): they would drag everyone
 * down, and get fewer temporal layers instead. Every copy leaves through
 * the same uplink, so the sum of what all viewers are sent stays within
 * total_bps. The target goes down at once and up only after it has been
 * possible for target_up_hold_us; a viewer's layer cap goes down at once
 * and up one layer per layer_up_hold_us (the element switches it at the
 * next sync or key frame), or per probe_hold_us when only probing can
 * tell. Codecs without temporal layers (n_layers 1)
 * send a viewer that cannot take the stream key frames only.
 */

#define METERED_RATE_MAX_LAYERS 3

typedef struct
{
  guint64 min_bps;
  guint64 max_bps;
  /* Every copy of video and audio together, 0: no budget. */
  guint64 total_bps;
  /* Reserved per viewer from the budget for audio. */
  guint64 audio_bps;
  /* Of the viewers' usable rates, weighted: 0 protects the weakest. */
  guint percentile;
  /* Usable rate = headroom × estimate. */
  double headroom;
  /* Viewers under this × the median usable rate are left out. */
  double drag_fraction;
  /* 1: no temporal layers; 2 or 3 with the cumulative layer shares of
   * the target (vp8enc temporal-scalability-target-bitrate). */
  guint n_layers;
  double layer_share[METERED_RATE_MAX_LAYERS];
  /* Without layers, key frames only below this × the target. */
  double keyframes_only_below;
  gint64 layer_up_hold_us;
  gint64 target_up_hold_us;
  /* Report a target change beyond this fraction of the last reported. */
  double big_change;
  /* A viewer held below the top gets only what it is sent, so its
   * estimate cannot grow past about 1.5 × that (the estimator caps at
   * what the receiver got): when its usable rate is at least probe_above
   * × what it is sent for probe_hold_us, it goes up a layer (or out of
   * key-frames-only) anyway, and straight back down if the link cannot
   * take it. Each probe that fails doubles the next one's hold (up to
   * 4 ×). 0 disables. */
  double probe_above;
  gint64 probe_hold_us;
} MeteredRatePolicyConfig;

#define METERED_RATE_POLICY_CONFIG_DEFAULT                                     \
  {                                                                            \
    150000, 2500000, 0, 0, 25, 0.85, 0.5, 3, { 0.25, 0.5, 1.0 }, 0.5, 5000000, \
        2000000, 0.25, 1.2, 10000000                                           \
  }

typedef struct
{
  guint id; /* the caller's, unique among the viewers passed */
  guint64 estimate_bps;
  double weight; /* in the percentile; <= 0 counts as 1 */
} MeteredRateViewer;

typedef struct
{
  guint id;
  /* Highest temporal layer to send, 0..n_layers-1. */
  guint layer_cap;
  /* No-layer codecs: send key frames only. */
  gboolean keyframes_only;
  /* Left out of the percentile. */
  gboolean excluded;
  /* Even what it is sent exceeds its usable rate. */
  gboolean starved;
  guint64 send_bps;
} MeteredRateDecision;

typedef struct
{
  guint64 target_bps;
  /* Cumulative per layer, for vp8enc's per-layer target array. */
  guint64 layer_bps[METERED_RATE_MAX_LAYERS];
  /* The target differs from the previous update's. */
  gboolean changed;
  /* ... by more than big_change of the last reported one (post a bus
   * message); the reference then moves to this target. */
  gboolean big_change;
  /* What all viewers are sent together, audio included. */
  guint64 total_send_bps;
  /* Even at min_bps the copies exceed total_bps. */
  gboolean over_budget;
} MeteredRatePolicyResult;

typedef struct
{
  MeteredRatePolicyConfig config;
  guint64 target_bps; /* 0: none yet */
  guint64 reported_bps; /* the target at the last big change */
  gint64 target_up_since_us; /* -1: not waiting to go up */
  GArray *viewers; /* per-viewer hysteresis state, private */
} MeteredRatePolicy;

void metered_rate_policy_init (
    MeteredRatePolicy *p, const MeteredRatePolicyConfig *config);
void metered_rate_policy_clear (MeteredRatePolicy *p);

/* The viewers now (n_viewers may be 0; viewers not passed are forgotten):
 * fills decisions (n_viewers of them, same order) and result. */
void metered_rate_policy_update (MeteredRatePolicy *p,
    const MeteredRateViewer *viewers, guint n_viewers,
    MeteredRateDecision *decisions, MeteredRatePolicyResult *result,
    gint64 now_us);

G_END_DECLS
