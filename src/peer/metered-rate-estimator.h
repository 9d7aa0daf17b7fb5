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
 * One viewer's available bandwidth, after the GCC draft
 * (draft-ietf-rmcat-gcc-02), as plain state: no GStreamer, no clock. The
 * application feeds what rtpsession reports (TWCC per-packet feedback, the
 * RTCP receiver report's fraction lost, the round-trip time) with the time
 * it got them; every time is in microseconds of any monotonic base, send
 * times in the sender's base and arrival times in the receiver's (only
 * their differences are used).
 *
 * Delay-based part: packets are grouped by send time (5 ms bursts), the
 * variation of one-way delay between groups goes through a trendline
 * filter (least-squares slope over the last 20 groups of the smoothed
 * accumulated delay, as libwebrtc does), an over-use detector compares
 * the slope with an adaptive threshold, and an AIMD controller turns
 * over-use / normal / under-use into a rate: ×1.08 per second far from the
 * last congestion point, about one packet per response time near it,
 * ×0.85 of the measured receive rate on over-use.
 *
 * Loss-based part: more than 10 % loss cuts by (1 - loss / 2), less than
 * 2 % raises by 5 %, in between holds; measured over at least 200 ms of
 * TWCC feedback, or from each RTCP receiver report when no TWCC feedback
 * came for 2 s (the RR-only fallback, where the delay-based part has
 * nothing to say and does not limit).
 *
 * The estimate is the smaller of the two, within [min, max].
 */

typedef struct
{
  guint64 min_bps;
  guint64 start_bps;
  guint64 max_bps;
} MeteredRateEstimatorConfig;

#define METERED_RATE_ESTIMATOR_CONFIG_DEFAULT                                  \
  {                                                                            \
    100000, 1000000, 8000000                                                   \
  }

/* One packet of TWCC feedback: what the sender recorded when it sent it
 * (send_us, size) and what the receiver reported (arrival_us, or lost). */
typedef struct
{
  gint64 send_us;
  gint64 arrival_us;
  guint size;
  gboolean lost;
} MeteredRatePacket;

typedef enum
{
  METERED_RATE_NORMAL,
  METERED_RATE_OVERUSE,
  METERED_RATE_UNDERUSE,
} MeteredRateSignal;

typedef enum
{
  METERED_RATE_HOLD,
  METERED_RATE_INCREASE,
  METERED_RATE_DECREASE,
} MeteredRateControlState;

/* The trendline keeps this many group deltas. */
#define METERED_RATE_TREND_WINDOW 20
/* The receive rate is measured over the packets of the last 500 ms. */
#define METERED_RATE_RECV_RING 4096

typedef struct
{
  gint64 first_send_us;
  gint64 last_send_us;
  gint64 first_arrival_us;
  gint64 last_arrival_us;
  guint64 bytes;
  gboolean valid;
} MeteredRateGroup;

typedef struct
{
  MeteredRateEstimatorConfig config;

  /* Arrival-time filter: the group being filled and the last complete
   * one. */
  MeteredRateGroup current;
  MeteredRateGroup previous;

  /* Trendline filter. */
  double accumulated_delay_ms;
  double smoothed_delay_ms;
  gint64 first_arrival_us; /* -1: no delta yet */
  double window_x[METERED_RATE_TREND_WINDOW];
  double window_y[METERED_RATE_TREND_WINDOW];
  guint window_len;
  guint window_pos;
  guint num_deltas;
  double trend;

  /* Over-use detector. */
  double threshold_ms;
  gint64 threshold_update_us; /* -1: never */
  double time_over_using_ms; /* < 0: not over-using */
  guint overuse_count;
  double prev_trend;
  MeteredRateSignal signal;

  /* AIMD controller. */
  MeteredRateControlState state;
  double delay_bps;
  gint64 last_change_us; /* -1: never */
  gint64 last_decrease_us; /* -1: never */
  double avg_max_kbps; /* < 0: no congestion point known */
  double var_max_kbps;
  gboolean have_twcc;
  gint64 last_twcc_us;

  /* Receive rate: a ring of (arrival, size) of received packets. */
  gint64 recv_arrival_us[METERED_RATE_RECV_RING];
  guint recv_size[METERED_RATE_RECV_RING];
  guint recv_head;
  guint recv_len;
  double recv_bps; /* < 0: not enough data */

  /* Loss-based controller. */
  double loss_bps;
  guint64 loss_window_lost;
  guint64 loss_window_total;
  gint64 loss_window_start_us; /* -1: empty */
  double last_loss; /* the fraction last applied */

  gint64 rtt_us;
} MeteredRateEstimator;

void metered_rate_estimator_init (
    MeteredRateEstimator *e, const MeteredRateEstimatorConfig *config);

/* One TWCC feedback message: its packets in transport-wide sequence order
 * (as rtpsession's RTPTWCCPackets event lists them), received at now_us. */
void metered_rate_estimator_on_feedback (MeteredRateEstimator *e,
    const MeteredRatePacket *packets, guint n_packets, gint64 now_us);

/* An RTCP receiver report's fraction lost (0..1), received at now_us. Used
 * only while no TWCC feedback arrives (TWCC counts the same losses). */
void metered_rate_estimator_on_receiver_report (
    MeteredRateEstimator *e, double fraction_lost, gint64 now_us);

/* The round-trip time (from the receiver report's LSR/DLSR). */
void metered_rate_estimator_set_rtt (MeteredRateEstimator *e, gint64 rtt_us);

/* The estimate, bit/s. */
guint64 metered_rate_estimator_get_bps (const MeteredRateEstimator *e);

/* The two parts, for stats. */
guint64 metered_rate_estimator_get_delay_bps (const MeteredRateEstimator *e);
guint64 metered_rate_estimator_get_loss_bps (const MeteredRateEstimator *e);

/* The over-use detector's last verdict. */
MeteredRateSignal metered_rate_estimator_get_signal (
    const MeteredRateEstimator *e);

G_END_DECLS
