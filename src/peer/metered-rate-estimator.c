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

#include "peer/metered-rate-estimator.h"

#include <math.h>
#include <string.h>

/* Constants from draft-ietf-rmcat-gcc-02 and libwebrtc's defaults for the
 * same quantities (the draft leaves some open). */

/* Packets sent within 5 ms form one group (draft §5.2, burst_time). */
#define BURST_US 5000
/* A packet that arrives within 5 ms of the group's last one, earlier than
 * its send spacing says, was queued behind it: same group. */
#define BURST_ARRIVAL_US 5000
#define BURST_MAX_SPAN_US 100000
/* A delay variation this large is a clock jump, not queuing. */
#define MAX_DELTA_MS 3000.0

#define TREND_SMOOTHING 0.9
#define TREND_GAIN 4.0
#define TREND_MAX_DELTAS 60

#define THRESHOLD_INITIAL_MS 12.5
#define THRESHOLD_MIN_MS 6.0
#define THRESHOLD_MAX_MS 600.0
#define THRESHOLD_K_UP 0.0087
#define THRESHOLD_K_DOWN 0.039
#define THRESHOLD_MAX_ADAPT_MS 15.0
#define OVERUSE_TIME_MS 10.0

#define DECREASE_FACTOR 0.85
#define INCREASE_PER_SECOND 1.08
#define MIN_ADDITIVE_BPS_PER_S 4000.0
#define RESPONSE_EXTRA_MS 100.0
#define ASSUMED_FPS 30.0
#define ASSUMED_PACKET_BITS (1200.0 * 8.0)
#define MAX_AVG_ALPHA 0.05
#define MAX_VAR_MIN 0.4
#define MAX_VAR_MAX 2.5

#define RECV_WINDOW_US 500000
#define RECV_MIN_SPAN_US 100000

#define LOSS_HIGH 0.10
#define LOSS_LOW 0.02
#define LOSS_INCREASE 1.05
#define LOSS_MIN_WINDOW_US 200000
#define LOSS_MAX_WINDOW_US 1000000
#define LOSS_MIN_PACKETS 20
/* The loss part may run ahead of the delay part by this much, so that it
 * does not slow recovery, but not without bound. */
#define LOSS_HEADROOM 2.0
/* Without TWCC feedback for this long, receiver reports drive alone. */
#define TWCC_STALE_US 2000000

#define DEFAULT_RTT_US 100000

void
metered_rate_estimator_init (
    MeteredRateEstimator *e, const MeteredRateEstimatorConfig *config)
{
  memset (e, 0, sizeof (*e));
  e->config = *config;
  if (e->config.max_bps < e->config.min_bps)
    e->config.max_bps = e->config.min_bps;
  e->config.start_bps =
      CLAMP (e->config.start_bps, e->config.min_bps, e->config.max_bps);

  e->first_arrival_us = -1;
  e->threshold_ms = THRESHOLD_INITIAL_MS;
  e->threshold_update_us = -1;
  e->time_over_using_ms = -1;
  e->signal = METERED_RATE_NORMAL;

  e->state = METERED_RATE_HOLD;
  e->delay_bps = e->config.start_bps;
  e->last_change_us = -1;
  e->last_decrease_us = -1;
  e->avg_max_kbps = -1;
  e->var_max_kbps = MAX_VAR_MIN;
  e->last_twcc_us = -1;
  e->recv_bps = -1;

  e->loss_bps = e->config.start_bps;
  e->loss_window_start_us = -1;
  e->rtt_us = DEFAULT_RTT_US;
}

void
metered_rate_estimator_set_rtt (MeteredRateEstimator *e, gint64 rtt_us)
{
  if (rtt_us > 0)
    e->rtt_us = rtt_us;
}

/* The over-use threshold follows |m| slowly upward and faster downward, so
 * that it neither starves against a concurrent TCP flow nor fires on
 * jitter (draft §5.4). */
static void
update_threshold (MeteredRateEstimator *e, double modified, gint64 now_us)
{
  double abs_m = fabs (modified);
  double k, dt_ms;

  if (e->threshold_update_us < 0)
    e->threshold_update_us = now_us;
  if (abs_m > e->threshold_ms + THRESHOLD_MAX_ADAPT_MS) {
    /* A spike (a route change, a stall): do not learn from it. */
    e->threshold_update_us = now_us;
    return;
  }
  k = abs_m < e->threshold_ms ? THRESHOLD_K_DOWN : THRESHOLD_K_UP;
  dt_ms = MIN ((now_us - e->threshold_update_us) / 1000.0, 100.0);
  e->threshold_ms += k * (abs_m - e->threshold_ms) * MAX (dt_ms, 0.0);
  e->threshold_ms = CLAMP (e->threshold_ms, THRESHOLD_MIN_MS, THRESHOLD_MAX_MS);
  e->threshold_update_us = now_us;
}

static void
detect (MeteredRateEstimator *e, double send_delta_ms, gint64 now_us)
{
  double modified;

  if (e->num_deltas < 2) {
    e->signal = METERED_RATE_NORMAL;
    return;
  }
  modified = MIN (e->num_deltas, TREND_MAX_DELTAS) * e->trend * TREND_GAIN;
  if (modified > e->threshold_ms) {
    if (e->time_over_using_ms < 0)
      e->time_over_using_ms = send_delta_ms / 2;
    else
      e->time_over_using_ms += send_delta_ms;
    e->overuse_count++;
    /* Over-use only when it lasts and the queue is still growing. */
    if (e->time_over_using_ms > OVERUSE_TIME_MS && e->overuse_count > 1 &&
        e->trend >= e->prev_trend) {
      e->time_over_using_ms = 0;
      e->overuse_count = 0;
      e->signal = METERED_RATE_OVERUSE;
    }
  } else if (modified < -e->threshold_ms) {
    e->time_over_using_ms = -1;
    e->overuse_count = 0;
    e->signal = METERED_RATE_UNDERUSE;
  } else {
    e->time_over_using_ms = -1;
    e->overuse_count = 0;
    e->signal = METERED_RATE_NORMAL;
  }
  e->prev_trend = e->trend;
  update_threshold (e, modified, now_us);
}

static void
trendline_update (MeteredRateEstimator *e, double delta_ms,
    double send_delta_ms, gint64 arrival_us)
{
  guint i;

  e->num_deltas = MIN (e->num_deltas + 1, 1000);
  e->accumulated_delay_ms += delta_ms;
  e->smoothed_delay_ms = TREND_SMOOTHING * e->smoothed_delay_ms +
                         (1 - TREND_SMOOTHING) * e->accumulated_delay_ms;
  if (e->first_arrival_us < 0)
    e->first_arrival_us = arrival_us;

  e->window_x[e->window_pos] = (arrival_us - e->first_arrival_us) / 1000.0;
  e->window_y[e->window_pos] = e->smoothed_delay_ms;
  e->window_pos = (e->window_pos + 1) % METERED_RATE_TREND_WINDOW;
  if (e->window_len < METERED_RATE_TREND_WINDOW)
    e->window_len++;

  if (e->window_len == METERED_RATE_TREND_WINDOW) {
    double mx = 0, my = 0, num = 0, den = 0;

    for (i = 0; i < e->window_len; i++) {
      mx += e->window_x[i];
      my += e->window_y[i];
    }
    mx /= e->window_len;
    my /= e->window_len;
    for (i = 0; i < e->window_len; i++) {
      num += (e->window_x[i] - mx) * (e->window_y[i] - my);
      den += (e->window_x[i] - mx) * (e->window_x[i] - mx);
    }
    if (den > 0)
      e->trend = num / den;
  }
  detect (e, send_delta_ms, arrival_us);
}

static void
reset_delay_filter (MeteredRateEstimator *e)
{
  e->accumulated_delay_ms = 0;
  e->smoothed_delay_ms = 0;
  e->first_arrival_us = -1;
  e->window_len = 0;
  e->window_pos = 0;
  e->num_deltas = 0;
  e->trend = 0;
  e->prev_trend = 0;
  e->signal = METERED_RATE_NORMAL;
}

static gboolean
belongs_to_group (const MeteredRateGroup *g, const MeteredRatePacket *p)
{
  gint64 arrival_delta, send_delta;

  if (p->send_us - g->first_send_us <= BURST_US)
    return TRUE;
  arrival_delta = p->arrival_us - g->last_arrival_us;
  send_delta = p->send_us - g->last_send_us;
  return arrival_delta < BURST_ARRIVAL_US && arrival_delta - send_delta < 0 &&
         p->arrival_us - g->first_arrival_us < BURST_MAX_SPAN_US;
}

static void
start_group (MeteredRateGroup *g, const MeteredRatePacket *p)
{
  g->first_send_us = g->last_send_us = p->send_us;
  g->first_arrival_us = g->last_arrival_us = p->arrival_us;
  g->bytes = p->size;
  g->valid = TRUE;
}

static void
add_to_filter (MeteredRateEstimator *e, const MeteredRatePacket *p)
{
  MeteredRateGroup *cur = &e->current;

  if (!cur->valid) {
    start_group (cur, p);
    return;
  }
  /* Sent before the group being filled (a retransmission, or reordered
   * feedback): its delay says nothing about the group order. */
  if (p->send_us < cur->first_send_us)
    return;
  if (belongs_to_group (cur, p)) {
    cur->last_send_us = MAX (cur->last_send_us, p->send_us);
    cur->last_arrival_us = MAX (cur->last_arrival_us, p->arrival_us);
    cur->bytes += p->size;
    return;
  }

  if (e->previous.valid) {
    double send_delta_ms =
        (cur->last_send_us - e->previous.last_send_us) / 1000.0;
    double arrival_delta_ms =
        (cur->last_arrival_us - e->previous.last_arrival_us) / 1000.0;
    double delta_ms = arrival_delta_ms - send_delta_ms;

    if (fabs (delta_ms) > MAX_DELTA_MS)
      reset_delay_filter (e);
    else
      trendline_update (e, delta_ms, send_delta_ms, cur->last_arrival_us);
  }
  e->previous = *cur;
  start_group (cur, p);
}

static void
record_received (MeteredRateEstimator *e, const MeteredRatePacket *p)
{
  guint pos = (e->recv_head + e->recv_len) % METERED_RATE_RECV_RING;

  if (e->recv_len == METERED_RATE_RECV_RING) {
    e->recv_head = (e->recv_head + 1) % METERED_RATE_RECV_RING;
    e->recv_len--;
  }
  e->recv_arrival_us[pos] = p->arrival_us;
  e->recv_size[pos] = p->size;
  e->recv_len++;
}

/* The rate the receiver got over the last 500 ms of arrivals: what the
 * link carried, the base of a decrease and the cap of an increase. */
static void
update_receive_rate (MeteredRateEstimator *e)
{
  gint64 newest = G_MININT64, oldest = G_MAXINT64;
  guint64 bytes = 0;
  gint64 span;
  guint i;

  /* Drop what fell out of the window (arrival order is feedback order,
   * give or take reordering, which only makes the window a bit loose). */
  for (i = 0; i < e->recv_len; i++) {
    guint pos = (e->recv_head + i) % METERED_RATE_RECV_RING;
    newest = MAX (newest, e->recv_arrival_us[pos]);
  }
  while (e->recv_len > 0 &&
         e->recv_arrival_us[e->recv_head] < newest - RECV_WINDOW_US) {
    e->recv_head = (e->recv_head + 1) % METERED_RATE_RECV_RING;
    e->recv_len--;
  }
  for (i = 0; i < e->recv_len; i++) {
    guint pos = (e->recv_head + i) % METERED_RATE_RECV_RING;
    if (e->recv_arrival_us[pos] >= newest - RECV_WINDOW_US) {
      bytes += e->recv_size[pos];
      oldest = MIN (oldest, e->recv_arrival_us[pos]);
    }
  }
  if (e->recv_len == 0) {
    e->recv_bps = -1;
    return;
  }
  span = newest - oldest;
  if (span < RECV_MIN_SPAN_US) {
    e->recv_bps = -1;
    return;
  }
  /* Once the window is full, divide by it rather than by the span of the
   * packets in it, which would overstate a sparse stream. */
  e->recv_bps = bytes * 8.0 * 1e6 / MAX (span, RECV_WINDOW_US / 2);
  if (span >= RECV_WINDOW_US * 9 / 10)
    e->recv_bps = bytes * 8.0 * 1e6 / RECV_WINDOW_US;
}

static void
update_max_throughput (MeteredRateEstimator *e, double recv_kbps)
{
  double norm;

  if (e->avg_max_kbps < 0)
    e->avg_max_kbps = recv_kbps;
  else
    e->avg_max_kbps =
        (1 - MAX_AVG_ALPHA) * e->avg_max_kbps + MAX_AVG_ALPHA * recv_kbps;
  norm = MAX (e->avg_max_kbps, 1.0);
  e->var_max_kbps = (1 - MAX_AVG_ALPHA) * e->var_max_kbps +
                    MAX_AVG_ALPHA * (e->avg_max_kbps - recv_kbps) *
                        (e->avg_max_kbps - recv_kbps) / norm;
  e->var_max_kbps = CLAMP (e->var_max_kbps, MAX_VAR_MIN, MAX_VAR_MAX);
}

static double
std_max_kbps (const MeteredRateEstimator *e)
{
  return sqrt (e->var_max_kbps * MAX (e->avg_max_kbps, 0.0));
}

/* Near the last congestion point: about one packet more per response
 * time (draft §5.5), so that the queue is probed gently. */
static double
additive_increase (const MeteredRateEstimator *e, double dt_s)
{
  double bits_per_frame = e->delay_bps / ASSUMED_FPS;
  double packets_per_frame = ceil (bits_per_frame / ASSUMED_PACKET_BITS);
  double packet_bits =
      packets_per_frame > 0 ? bits_per_frame / packets_per_frame : 0;
  double response_ms = e->rtt_us / 1000.0 + RESPONSE_EXTRA_MS;
  double rate = MAX (MIN_ADDITIVE_BPS_PER_S, packet_bits * 1000 / response_ms);

  return rate * dt_s;
}

static void
aimd_update (MeteredRateEstimator *e, gint64 now_us)
{
  double rate = e->delay_bps;
  double recv = e->recv_bps;

  switch (e->signal) {
    case METERED_RATE_OVERUSE:
      e->state = METERED_RATE_DECREASE;
      break;
    case METERED_RATE_NORMAL:
      if (e->state == METERED_RATE_HOLD)
        e->state = METERED_RATE_INCREASE;
      break;
    case METERED_RATE_UNDERUSE:
      /* The queue drains: wait for it before probing again. */
      e->state = METERED_RATE_HOLD;
      break;
  }

  switch (e->state) {
    case METERED_RATE_HOLD:
      break;
    case METERED_RATE_INCREASE: {
      double dt_s = e->last_change_us < 0
                        ? 0
                        : MIN ((now_us - e->last_change_us) / 1e6, 1.0);
      double increased;

      /* Well above the old congestion point: the link got faster. */
      if (e->avg_max_kbps >= 0 && recv >= 0 &&
          recv / 1000 > e->avg_max_kbps + 3 * std_max_kbps (e))
        e->avg_max_kbps = -1;
      if (e->avg_max_kbps >= 0)
        increased = rate + additive_increase (e, MAX (dt_s, 0.0));
      else
        increased =
            rate + MAX (rate * (pow (INCREASE_PER_SECOND, MAX (dt_s, 0.0)) - 1),
                       dt_s > 0 ? 1000.0 : 0.0);
      /* Not far beyond what the receiver gets: a sender that does not
       * use its estimate must not grow it without bound. */
      if (recv >= 0 && increased > 1.5 * recv + 10000)
        increased = MAX (rate, 1.5 * recv + 10000);
      rate = increased;
      e->last_change_us = now_us;
      break;
    }
    case METERED_RATE_DECREASE: {
      double base = recv >= 0 ? recv : rate;
      double decreased = MIN (DECREASE_FACTOR * base, rate);
      gint64 interval_us = CLAMP (e->rtt_us, 10000, 200000);

      /* While the queue drains the detector may still say over-use: one
       * decrease per round trip is enough to see its effect. */
      if (e->last_decrease_us >= 0 &&
          now_us - e->last_decrease_us < interval_us) {
        e->state = METERED_RATE_HOLD;
        break;
      }
      if (recv >= 0) {
        if (e->avg_max_kbps >= 0 &&
            recv / 1000 < e->avg_max_kbps - 3 * std_max_kbps (e))
          e->avg_max_kbps = -1;
        update_max_throughput (e, recv / 1000);
      }
      rate = decreased;
      e->last_change_us = now_us;
      e->last_decrease_us = now_us;
      e->state = METERED_RATE_HOLD;
      break;
    }
  }
  e->delay_bps =
      CLAMP (rate, (double) e->config.min_bps, (double) e->config.max_bps);
}

static gboolean
rr_only (const MeteredRateEstimator *e)
{
  return !e->have_twcc;
}

static double
final_bps (const MeteredRateEstimator *e)
{
  if (rr_only (e))
    return e->loss_bps;
  return MIN (e->delay_bps, e->loss_bps);
}

static void
apply_loss (MeteredRateEstimator *e, double loss)
{
  double cap = rr_only (e) ? e->config.max_bps : LOSS_HEADROOM * e->delay_bps;

  e->last_loss = loss;
  if (loss > LOSS_HIGH) {
    double current = MIN (e->loss_bps, final_bps (e));

    e->loss_bps = current * (1 - 0.5 * loss);
    /* With TWCC the link's rate is known: while the sender still sends
     * more than its estimate (the encoder follows a round late, a full
     * drop-tail queue whose delay no longer grows), each window repeats
     * the same loss, and compounding the cut took the estimate to the
     * floor with the receiver getting the link's full rate. Cut no
     * further than the delay part would, below what arrived. */
    if (!rr_only (e) && e->recv_bps > 0)
      e->loss_bps =
          MAX (e->loss_bps, MIN (DECREASE_FACTOR * e->recv_bps, current));
  } else if (loss < LOSS_LOW)
    e->loss_bps = e->loss_bps * LOSS_INCREASE;
  e->loss_bps = CLAMP (MIN (e->loss_bps, cap), (double) e->config.min_bps,
      (double) e->config.max_bps);
}

void
metered_rate_estimator_on_feedback (MeteredRateEstimator *e,
    const MeteredRatePacket *packets, guint n_packets, gint64 now_us)
{
  guint i;

  if (n_packets == 0)
    return;

  for (i = 0; i < n_packets; i++) {
    const MeteredRatePacket *p = &packets[i];

    if (e->loss_window_start_us < 0)
      e->loss_window_start_us = now_us;
    e->loss_window_total++;
    if (p->lost) {
      e->loss_window_lost++;
      continue;
    }
    record_received (e, p);
    add_to_filter (e, p);
  }
  e->have_twcc = TRUE;
  e->last_twcc_us = now_us;

  update_receive_rate (e);
  aimd_update (e, now_us);

  if (e->loss_window_start_us >= 0 &&
      ((now_us - e->loss_window_start_us >= LOSS_MIN_WINDOW_US &&
           e->loss_window_total >= LOSS_MIN_PACKETS) ||
          now_us - e->loss_window_start_us >= LOSS_MAX_WINDOW_US)) {
    apply_loss (e, (double) e->loss_window_lost / e->loss_window_total);
    e->loss_window_lost = e->loss_window_total = 0;
    e->loss_window_start_us = -1;
  } else if (e->loss_bps > LOSS_HEADROOM * e->delay_bps) {
    e->loss_bps = MAX (LOSS_HEADROOM * e->delay_bps, e->config.min_bps);
  }
}

void
metered_rate_estimator_on_receiver_report (
    MeteredRateEstimator *e, double fraction_lost, gint64 now_us)
{
  if (e->have_twcc && now_us - e->last_twcc_us > TWCC_STALE_US) {
    /* TWCC stopped (the viewer no longer sends it): the delay part has
     * nothing left to go on; carry on from the current estimate. */
    e->loss_bps = final_bps (e);
    e->have_twcc = FALSE;
  }
  if (e->have_twcc)
    return;
  apply_loss (e, CLAMP (fraction_lost, 0.0, 1.0));
}

guint64
metered_rate_estimator_get_bps (const MeteredRateEstimator *e)
{
  return (guint64) final_bps (e);
}

guint64
metered_rate_estimator_get_delay_bps (const MeteredRateEstimator *e)
{
  return (guint64) e->delay_bps;
}

guint64
metered_rate_estimator_get_loss_bps (const MeteredRateEstimator *e)
{
  return (guint64) e->loss_bps;
}

MeteredRateSignal
metered_rate_estimator_get_signal (const MeteredRateEstimator *e)
{
  return e->signal;
}
