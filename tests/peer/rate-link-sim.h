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

#include "peer/metered-rate-estimator.h"

G_BEGIN_DECLS

/*
 * A deterministic bottleneck for the estimator's tests: a sender that
 * encodes 30 frames a second at the current estimate and paces each frame
 * at 2.5 × the estimate in 1200-byte packets, a drop-tail FIFO whose
 * capacity steps at given times, random loss and arrival jitter from a
 * seeded generator, a fixed one-way delay each way, and a receiver that
 * sends TWCC-like feedback every 100 ms. Everything runs in simulated
 * microseconds: a minute of link takes milliseconds of CPU.
 */

typedef struct
{
  gint64 at_us;
  double capacity_bps;
  double loss; /* random loss from at_us on, 0..1 */
} RateLinkStep;

typedef struct
{
  const RateLinkStep *steps; /* sorted by at_us, the first at 0 */
  guint n_steps;
  gint64 one_way_us;
  gint64 max_queue_us; /* drop-tail beyond this queuing delay */
  gint64 jitter_us; /* uniform 0..jitter added after the bottleneck */
  guint32 seed;
  gint64 duration_us;
} RateLink;

typedef struct
{
  gint64 at_us;
  guint64 estimate_bps;
  MeteredRateSignal signal;
} RateSample;

typedef struct
{
  GArray *samples; /* RateSample, one per feedback */
  guint n_overuse; /* feedbacks that left the detector in over-use */
  guint64 packets_sent;
  guint64 packets_dropped_queue;
  guint64 packets_dropped_random;
} RateRun;

#define RATE_SIM_FRAME_US 33333

/* The estimator's own loop: an encoder at the estimate, paced at 2.5 ×
 * it, for link->duration_us. */
void rate_link_run (const RateLink *link,
    const MeteredRateEstimatorConfig *config, RateRun *run);

/* One viewer's link, stepped by the caller (for several viewers that share
 * one encoder): frames go in when the caller says, feedback reaches the
 * link's estimator when the caller's clock passes it. */
typedef struct _RateSimLink RateSimLink;

RateSimLink *rate_sim_link_new (const RateLink *link,
    const MeteredRateEstimatorConfig *config, RateRun *run);
void rate_sim_link_free (RateSimLink *l);
void rate_sim_link_send_frame (
    RateSimLink *l, gint64 at_us, guint bytes, double pacing_bps);
void rate_sim_link_feedback_until (RateSimLink *l, gint64 now_us);
guint64 rate_sim_link_estimate (const RateSimLink *l);
/* What arrived of what was sent in [from_us, to_us), bit/s. */
double rate_sim_link_received_bps (
    const RateSimLink *l, gint64 from_us, gint64 to_us);
/* Frames sent in [from_us, to_us) of which every packet arrived. */
guint rate_sim_link_frames_complete (
    const RateSimLink *l, gint64 from_us, gint64 to_us);
void rate_run_clear (RateRun *run);

/* The smallest, largest and mean estimate over [from_us, to_us). */
void rate_run_stats (const RateRun *run, gint64 from_us, gint64 to_us,
    double *min_bps, double *max_bps, double *mean_bps);

/* The first sample time >= from_us whose estimate is <= bps (below) or
 * >= bps (!below), -1 if none. */
gint64 rate_run_first (
    const RateRun *run, gint64 from_us, double bps, gboolean below);

G_END_DECLS
