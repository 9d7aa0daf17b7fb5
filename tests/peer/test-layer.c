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

/* A viewer's temporal-layer gate and the loss rule that caps it. */

#include "peer/metered-layer-cap.h"
#include "peer/metered-layer-gate.h"
#include "peer/metered-layer-rule.h"
#include "peer/metered-rate-estimator.h"
#include "peer/metered-rate-policy.h"

#define S(x) ((gint64) ((x) *1000000))

/* vp8enc's 3-layer pattern as meteredsink configures it
 * (metered_codec_temporal_pattern): layers 0,2,1,2,0,2,1,2, frames 1 and
 * 2 of the period sync frames; frame 0 a key frame. */
static MeteredLayerFrame
frame_at (guint n)
{
  static const guint ids[] = { 0, 2, 1, 2 };
  MeteredLayerFrame f = { 0 };

  f.keyframe = n == 0;
  f.has_layer = TRUE;
  f.layer_id = ids[n % 4];
  f.layer_sync = n % 8 == 1 || n % 8 == 2;
  return f;
}

/* How many of frames [from, to) pass. */
static guint
run (MeteredLayerGate *g, guint from, guint to, guint *max_layer)
{
  guint passed = 0;

  for (guint n = from; n < to; n++) {
    MeteredLayerFrame f = frame_at (n);
    if (metered_layer_gate_pass (g, &f)) {
      passed++;
      if (max_layer)
        *max_layer = MAX (*max_layer, f.layer_id);
    }
  }
  return passed;
}

static void
test_gate_layers (void)
{
  MeteredLayerGate g;
  guint top = 0;

  metered_layer_gate_init (&g);
  g_assert_cmpuint (run (&g, 0, 40, &top), ==, 40);
  g_assert_cmpuint (top, ==, 2);

  /* Down at once, at any frame: a quarter of the frames (7.5 of 30 fps). */
  metered_layer_gate_set_cap (&g, 0, FALSE);
  g_assert_cmpuint (run (&g, 41, 81, NULL), ==, 10);
  g_assert_cmpuint (g.sending, ==, 0);

  /* Up one layer per sync frame: frame 81 is a TL2 sync frame, but layer
   * 1 comes first; frame 82 is a TL1 sync frame, frame 89 (TL2, sync)
   * then opens layer 2 (85 is not a sync frame). */
  metered_layer_gate_set_cap (&g, 2, FALSE);
  {
    MeteredLayerFrame f = frame_at (81);
    g_assert_true (f.layer_sync && f.layer_id == 2);
    g_assert_false (metered_layer_gate_pass (&g, &f));
    g_assert_cmpuint (g.sending, ==, 0);
    f = frame_at (82);
    g_assert_true (f.layer_sync && f.layer_id == 1);
    g_assert_true (metered_layer_gate_pass (&g, &f));
    g_assert_cmpuint (g.sending, ==, 1);
    f = frame_at (83);
    g_assert_false (metered_layer_gate_pass (&g, &f));
  }
  g_assert_cmpuint (run (&g, 84, 100, NULL), ==, 14);
  g_assert_cmpuint (g.sending, ==, 2);

  /* A TL1 that is not a sync frame (n % 8 == 6) cannot open layer 1. */
  metered_layer_gate_set_cap (&g, 0, FALSE);
  metered_layer_gate_set_cap (&g, 1, FALSE);
  {
    MeteredLayerFrame f = frame_at (102);
    g_assert_false (f.layer_sync);
    g_assert_false (metered_layer_gate_pass (&g, &f));
    g_assert_cmpuint (g.sending, ==, 0);
  }
  /* A key frame opens every layer up to the cap at once. */
  {
    MeteredLayerFrame f = frame_at (0);
    g_assert_true (metered_layer_gate_pass (&g, &f));
    g_assert_cmpuint (g.sending, ==, 1);
  }
  g_assert_cmpuint (run (&g, 1, 41, NULL), ==, 20);
}

/* H.264: no layers, key frames only for a starved viewer, and back only
 * at the next key frame. */
static void
test_gate_keyframes_only (void)
{
  MeteredLayerGate g;
  MeteredLayerFrame key = { TRUE, FALSE, 0, FALSE };
  MeteredLayerFrame delta = { FALSE, FALSE, 0, FALSE };

  metered_layer_gate_init (&g);
  g_assert_true (metered_layer_gate_pass (&g, &key));
  g_assert_true (metered_layer_gate_pass (&g, &delta));
  metered_layer_gate_set_cap (&g, 0, TRUE);
  g_assert_false (metered_layer_gate_pass (&g, &delta));
  g_assert_true (metered_layer_gate_pass (&g, &key));
  g_assert_false (metered_layer_gate_pass (&g, &delta));
  g_assert_false (g.need_key);

  metered_layer_gate_set_cap (&g, 0, FALSE);
  g_assert_true (g.need_key);
  g_assert_false (metered_layer_gate_pass (&g, &delta));
  g_assert_true (metered_layer_gate_pass (&g, &key));
  g_assert_false (g.need_key);
  g_assert_true (metered_layer_gate_pass (&g, &delta));
  g_assert_cmpuint (g.dropped, ==, 3);
}

static const MeteredLayerRuleConfig rule_defaults =
    METERED_LAYER_RULE_CONFIG_DEFAULT;

static gboolean
feed (MeteredLayerRule *r, double lost, gint64 now)
{
  MeteredLayerSample s = { lost, 100, 0 };
  return metered_layer_rule_update (r, &s, now);
}

/* The fan-out profile's weak viewer: a link at 40 % of the stream loses
 * most of it; at the base layer it sees the link's own 5 %, and stays. */
static void
test_rule_weak_viewer (void)
{
  MeteredLayerRule r;

  metered_layer_rule_init (&r, &rule_defaults);
  g_assert_cmpuint (r.cap, ==, 2);
  g_assert_true (feed (&r, 0.6, S (1)));
  g_assert_cmpuint (r.cap, ==, 1);
  /* The next report still describes the time before the step. */
  g_assert_false (feed (&r, 0.6, S (2)));
  g_assert_true (feed (&r, 0.3, S (3)));
  g_assert_cmpuint (r.cap, ==, 0);
  g_assert_false (feed (&r, 0.3, S (6)));
  for (int t = 7; t < 120; t++)
    g_assert_false (feed (&r, 0.05, S (t)));
  g_assert_cmpuint (r.cap, ==, 0);
  /* No report: nothing to go on. */
  g_assert_false (feed (&r, -1, S (121)));
}

/* A clean viewer keeps every layer; isolated 5 % losses are
 * retransmissions' business, not the gate's. */
static void
test_rule_clean_viewer (void)
{
  MeteredLayerRule r;

  metered_layer_rule_init (&r, &rule_defaults);
  for (int t = 1; t < 100; t++)
    g_assert_false (feed (&r, t % 3 ? 0.0 : 0.05, S (t)));
  g_assert_cmpuint (r.cap, ==, 2);
}

/* Recovery: 10 s clean per step up; a probe that fails doubles the next
 * hold, up to 4 x. */
static void
test_rule_probe (void)
{
  MeteredLayerRule r;
  int t;

  metered_layer_rule_init (&r, &rule_defaults);
  feed (&r, 0.5, S (0));
  feed (&r, 0.5, S (2));
  g_assert_cmpuint (r.cap, ==, 0);
  for (t = 3; t < 13; t++)
    g_assert_false (feed (&r, 0.0, S (t)));
  g_assert_true (feed (&r, 0.0, S (13)));
  g_assert_cmpuint (r.cap, ==, 1);
  /* the link cannot take it */
  g_assert_true (feed (&r, 0.3, S (15)));
  g_assert_cmpuint (r.cap, ==, 0);
  g_assert_cmpuint (r.hold_factor, ==, 2);
  for (t = 16; t < 36; t++)
    g_assert_false (feed (&r, 0.0, S (t)));
  g_assert_true (feed (&r, 0.0, S (36)));
  g_assert_true (feed (&r, 0.3, S (37)));
  g_assert_cmpuint (r.hold_factor, ==, 4);
  g_assert_true (feed (&r, 0.0, S (38)) == FALSE);
  /* held 40 s this time */
  for (t = 39; t < 78; t++)
    g_assert_false (feed (&r, 0.0, S (t)));
  g_assert_true (feed (&r, 0.0, S (78)));
  /* It holds for 5 s: confirmed, the next step up comes 10 s later. */
  for (t = 79; t < 88; t++)
    g_assert_false (feed (&r, 0.0, S (t)));
  g_assert_cmpuint (r.hold_factor, ==, 1);
  g_assert_true (feed (&r, 0.0, S (88)));
  g_assert_cmpuint (r.cap, ==, 2);
  g_assert_true (feed (&r, 0.5, S (100)));
  g_assert_cmpuint (r.hold_factor, ==, 1);
}

/* NACKs count only while no receiver report came (a receiver asks again
 * each round trip), and not for a handful of packets. */
static void
test_rule_nacks (void)
{
  MeteredLayerSample few = { -1, 10, 10 };
  MeteredLayerSample many = { -1, 200, 60 };
  MeteredLayerSample reported = { 0.01, 200, 60 };
  MeteredLayerSample none = { -1, 0, 0 };

  g_assert_cmpfloat (metered_layer_rule_sample_loss (&few), <, 0);
  g_assert_cmpfloat_with_epsilon (
      metered_layer_rule_sample_loss (&many), 0.3, 1e-9);
  g_assert_cmpfloat_with_epsilon (
      metered_layer_rule_sample_loss (&reported), 0.01, 1e-9);
  g_assert_cmpfloat (metered_layer_rule_sample_loss (&none), <, 0);
}

/* H.264: the one step down is key frames only. */
static void
test_rule_one_layer (void)
{
  MeteredLayerRuleConfig c = rule_defaults;
  MeteredLayerRule r;

  c.n_layers = 1;
  metered_layer_rule_init (&r, &c);
  g_assert_cmpuint (r.cap, ==, 0);
  g_assert_true (feed (&r, 0.5, S (1)));
  g_assert_true (r.keyframes_only);
  g_assert_false (feed (&r, 0.5, S (5)));
  for (int t = 6; t < 16; t++)
    g_assert_false (feed (&r, 0.0, S (t)));
  g_assert_true (feed (&r, 0.0, S (16)));
  g_assert_false (r.keyframes_only);
}

/* A layered stream: the policy's layer as it is, never key frames only. */
static void
test_cap_layered (void)
{
  MeteredLayerCapConfig config = METERED_LAYER_CAP_CONFIG_DEFAULT;
  MeteredLayerCap c;

  metered_layer_cap_init (&c, &config);
  g_assert_true (metered_layer_cap_decide (&c, 3, 2, FALSE));
  g_assert_cmpuint (c.cap, ==, 2);
  g_assert_false (metered_layer_cap_decide (&c, 3, 2, FALSE));
  metered_layer_cap_on_report (&c, 0.6);
  g_assert_true (metered_layer_cap_decide (&c, 3, 0, FALSE));
  g_assert_cmpuint (c.cap, ==, 0);
  /* a decision beyond the stream's layers is its top layer */
  g_assert_true (metered_layer_cap_decide (&c, 2, 2, FALSE));
  g_assert_cmpuint (c.cap, ==, 1);
  for (int i = 0; i < 5; i++)
    metered_layer_cap_on_report (&c, 0.6);
  metered_layer_cap_decide (&c, 3, 0, TRUE);
  g_assert_false (c.keyframes_only);
}

/* The fan-out of a stream without layers through the real estimator and
 * policy, as meteredsink runs them (one round a second, RR-only): four
 * clean viewers (a, weight 4) and b, whose link is cut for a few seconds;
 * its two reports after the cut show heavy loss, then it is clean again. The
 * policy asks for key frames only for seconds (b's estimate was halved); the
 * guard does not apply it. Then b's link really fails (30 % loss, report after
 * report): key frames only after the third, and off again once the policy lets
 * go. */
static void
test_cap_keyframes_only_guard (void)
{
  MeteredRateEstimatorConfig ec = METERED_RATE_ESTIMATOR_CONFIG_DEFAULT;
  MeteredRatePolicyConfig pc = METERED_RATE_POLICY_CONFIG_DEFAULT;
  MeteredLayerCapConfig cc = METERED_LAYER_CAP_CONFIG_DEFAULT;
  MeteredRateEstimator est[2];
  MeteredRatePolicy policy;
  MeteredLayerCap cap;
  MeteredRateViewer in[2] = { { 1, 0, 4 }, { 2, 0, 1 } };
  MeteredRateDecision out[2];
  MeteredRatePolicyResult result;
  gboolean policy_asked = FALSE, applied = FALSE;
  int t, first_kf = -1;

  ec.start_bps = ec.max_bps = 1200000;
  pc.n_layers = 1;
  pc.layer_share[0] = 1.0;
  pc.probe_above = 0;
  pc.max_bps = 1000000;
  for (int i = 0; i < 2; i++)
    metered_rate_estimator_init (&est[i], &ec);
  metered_rate_policy_init (&policy, &pc);
  metered_layer_cap_init (&cap, &cc);

  for (t = 1; t <= 60; t++) {
    /* b: clean, no reports during the cut (t 10-13), two lossy ones
     * after it, clean again; from t 40 on 30 % loss */
    double lost_b = t == 14 ? 1.0 : t == 15 ? 0.5 : t >= 40 ? 0.3 : 0.0;
    gboolean report_b = t < 10 || t > 13;

    metered_rate_estimator_on_receiver_report (&est[0], 0.0, S (t));
    if (report_b) {
      metered_rate_estimator_on_receiver_report (&est[1], lost_b, S (t));
      metered_layer_cap_on_report (&cap, lost_b);
    }
    for (int i = 0; i < 2; i++)
      in[i].estimate_bps = metered_rate_estimator_get_bps (&est[i]);
    metered_rate_policy_update (&policy, in, 2, out, &result, S (t));
    g_assert_false (out[0].keyframes_only);
    metered_layer_cap_decide (&cap, 1, out[1].layer_cap, out[1].keyframes_only);
    if (t < 40) {
      policy_asked = policy_asked || out[1].keyframes_only;
      g_assert_false (cap.keyframes_only);
    } else if (cap.keyframes_only && first_kf < 0) {
      first_kf = t;
    }
    if (t >= 40 && !out[1].keyframes_only)
      g_assert_false (cap.keyframes_only);
    applied = applied || cap.keyframes_only;
  }
  /* without the guard the cut alone would have stalled b */
  g_assert_true (policy_asked);
  g_assert_true (applied);
  g_assert_cmpint (first_kf, >=, 42);
  g_assert_cmpint (first_kf, <=, 45);

  /* b's link back: the policy lets go, and so does the gate */
  for (; t <= 120 && cap.keyframes_only; t++) {
    for (int i = 0; i < 2; i++) {
      metered_rate_estimator_on_receiver_report (&est[i], 0.0, S (t));
      in[i].estimate_bps = metered_rate_estimator_get_bps (&est[i]);
    }
    metered_layer_cap_on_report (&cap, 0.0);
    metered_rate_policy_update (&policy, in, 2, out, &result, S (t));
    metered_layer_cap_decide (&cap, 1, out[1].layer_cap, out[1].keyframes_only);
    g_assert_cmpint (cap.keyframes_only, ==, out[1].keyframes_only);
  }
  g_assert_false (cap.keyframes_only);
  metered_rate_policy_clear (&policy);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/layer/gate/layers", test_gate_layers);
  g_test_add_func ("/layer/gate/keyframes-only", test_gate_keyframes_only);
  g_test_add_func ("/layer/rule/weak-viewer", test_rule_weak_viewer);
  g_test_add_func ("/layer/rule/clean-viewer", test_rule_clean_viewer);
  g_test_add_func ("/layer/rule/probe", test_rule_probe);
  g_test_add_func ("/layer/rule/nacks", test_rule_nacks);
  g_test_add_func ("/layer/rule/one-layer", test_rule_one_layer);
  g_test_add_func ("/layer/cap/layered", test_cap_layered);
  g_test_add_func (
      "/layer/cap/keyframes-only-guard", test_cap_keyframes_only_guard);
  return g_test_run ();
}
