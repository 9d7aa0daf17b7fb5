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
 * A viewer's layer cap from the feedback it sends, until the rate
 * estimator and policy (docs/rate-control.md) drive it: no GStreamer, no
 * clock (times are passed in, in microseconds of any monotonic base).
 *
 * A viewer behind a link slower than the stream loses whatever does not
 * fit; retransmissions cannot repair that (they need room the link does
 * not have), so it decodes almost nothing. Its receiver reports say so:
 * the fraction lost (or, until a report comes, the share of our packets
 * it asks again: NACKs).
 * The rule, once per sample (about a second of reports):
 *
 * - loss above down_above (10 %): one layer down (or, with one layer,
 *   key frames only), at most once per down_hold_us (2 s: reports still
 *   describe the time before the last step);
 * - loss under up_below (2 %) for up_hold_us (10 s): one layer up (a
 *   probe). A probe that is followed by a step down within
 *   probe_fail_us (5 s) failed: the next hold doubles, up to 4 times;
 *   one that holds longer brings the hold back to up_hold_us;
 * - in between (isolated random losses, which retransmissions repair):
 *   hold, and the wait for a step up starts again.
 */

typedef struct
{
  guint n_layers; /* 1: a codec without layers (key frames only instead) */
  double down_above;
  double up_below;
  gint64 down_hold_us;
  gint64 up_hold_us;
  gint64 probe_fail_us;
} MeteredLayerRuleConfig;

#define METERED_LAYER_RULE_CONFIG_DEFAULT                                      \
  {                                                                            \
    3, 0.10, 0.02, 2000000, 10000000, 5000000                                  \
  }

typedef struct
{
  /* The receiver report's fraction lost (0..1), < 0: no report. */
  double fraction_lost;
  /* Since the previous sample: packets we sent, NACKed packets. */
  guint64 packets_sent;
  guint64 nacks_received;
} MeteredLayerSample;

typedef struct
{
  MeteredLayerRuleConfig config;
  /* 0..n_layers-1; with one layer, 0 and keyframes_only. */
  guint cap;
  gboolean keyframes_only;
  gint64 last_down_us; /* -1: none yet */
  gint64 last_up_us; /* -1: none yet */
  gint64 good_since_us; /* -1: not under up_below now */
  guint hold_factor; /* 1, 2, 4 */
} MeteredLayerRule;

void metered_layer_rule_init (
    MeteredLayerRule *r, const MeteredLayerRuleConfig *config);
/* The loss one sample shows (0..1), < 0 when it shows nothing. */
double metered_layer_rule_sample_loss (const MeteredLayerSample *s);
/* TRUE when cap or keyframes_only changed. */
gboolean metered_layer_rule_update (
    MeteredLayerRule *r, const MeteredLayerSample *s, gint64 now_us);

G_END_DECLS
