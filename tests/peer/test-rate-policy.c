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

/* The shared encoder's target and each viewer's layers. */

#include "peer/metered-rate-policy.h"

#include <math.h>
#include <string.h>

#define S(x) ((gint64) ((x) *1000000))

static const MeteredRatePolicyConfig defaults =
    METERED_RATE_POLICY_CONFIG_DEFAULT;

typedef struct
{
  MeteredRatePolicy policy;
  MeteredRateViewer viewers[8];
  MeteredRateDecision decisions[8];
  MeteredRatePolicyResult result;
  guint n;
} Fixture;

static void
fixture_init (Fixture *f, const MeteredRatePolicyConfig *config)
{
  memset (f, 0, sizeof (*f));
  metered_rate_policy_init (&f->policy, config);
}

static void
set_viewer (Fixture *f, guint i, guint64 estimate_bps)
{
  f->viewers[i].id = 100 + i;
  f->viewers[i].estimate_bps = estimate_bps;
  f->n = MAX (f->n, i + 1);
}

static void
set_viewers (Fixture *f, const guint64 *estimates, guint n)
{
  guint i;

  for (i = 0; i < n; i++)
    set_viewer (f, i, estimates[i]);
}

static void
update (Fixture *f, gint64 now_us)
{
  metered_rate_policy_update (
      &f->policy, f->viewers, f->n, f->decisions, &f->result, now_us);
}

/* The fan-out profile: four viewers at 4 Mbit/s, one at 400. */
static void
fanout_update (Fixture *f, const MeteredRatePolicyConfig *config)
{
  guint i;

  fixture_init (f, config);
  for (i = 0; i < 4; i++)
    set_viewer (f, i, 4000000);
  set_viewer (f, 4, 400000);
  update (f, 0);
}

/* The fan-out profile: four 4 Mbit/s viewers and one behind
 * 400 kbit/s. The weak one does not pull the encoder down; it gets the
 * base layer (7.5 of 30 fps), which fits its rate. */
static void
test_fanout (void)
{
  MeteredRatePolicyConfig config = defaults;
  Fixture f;
  guint i;

  config.max_bps = 1200000;
  fanout_update (&f, &config);

  g_assert_cmpuint (f.result.target_bps, ==, 1200000);
  g_assert_cmpuint (f.result.layer_bps[0], ==, 300000);
  g_assert_cmpuint (f.result.layer_bps[1], ==, 600000);
  g_assert_cmpuint (f.result.layer_bps[2], ==, 1200000);
  for (i = 0; i < 4; i++) {
    g_assert_cmpuint (f.decisions[i].id, ==, 100 + i);
    g_assert_cmpuint (f.decisions[i].layer_cap, ==, 2);
    g_assert_false (f.decisions[i].excluded);
    g_assert_false (f.decisions[i].starved);
    g_assert_cmpuint (f.decisions[i].send_bps, ==, 1200000);
  }
  g_assert_true (f.decisions[4].excluded);
  g_assert_cmpuint (f.decisions[4].layer_cap, ==, 0);
  g_assert_false (f.decisions[4].starved);
  g_assert_false (f.decisions[4].keyframes_only);
  g_assert_cmpuint (f.decisions[4].send_bps, ==, 300000);
  g_assert_cmpuint (f.result.total_send_bps, ==, 4 * 1200000 + 300000);
  g_assert_false (f.result.over_budget);
  metered_rate_policy_clear (&f.policy);
}

/* The same viewers behind a 4 Mbit/s uplink with 32 kbit/s of audio
 * each: the copies together stay within it. */
static void
test_budget_caps_sum (void)
{
  MeteredRatePolicyConfig config = defaults;
  Fixture f;
  guint i;

  config.max_bps = 1200000;
  config.total_bps = 4000000;
  config.audio_bps = 32000;
  fanout_update (&f, &config);

  g_assert_cmpuint (f.result.total_send_bps, <=, 4000000);
  g_assert_cmpuint (f.result.total_send_bps, >=, 4000000 * 0.98);
  g_assert_cmpuint (f.result.target_bps, <, 1200000);
  for (i = 0; i < 4; i++)
    g_assert_cmpuint (f.decisions[i].layer_cap, ==, 2);
  g_assert_cmpuint (f.decisions[4].layer_cap, ==, 0);
  g_assert_false (f.result.over_budget);

  /* A budget that even the minimum exceeds is reported, not hidden. */
  metered_rate_policy_clear (&f.policy);
  config.total_bps = 300000;
  fixture_init (&f, &config);
  for (i = 0; i < 4; i++)
    set_viewer (&f, i, 4000000);
  update (&f, 0);
  g_assert_cmpuint (f.result.target_bps, ==, config.min_bps);
  g_assert_true (f.result.over_budget);
  metered_rate_policy_clear (&f.policy);
}

/* The 25th percentile of the viewers kept (not under half the upper
 * median); weights shift it. */
static void
test_percentile_and_weights (void)
{
  static const guint64 spread[] = { 1600000, 2000000, 3000000, 4000000 };
  MeteredRatePolicyConfig config = defaults;
  Fixture f;

  config.headroom = 1.0;
  config.max_bps = 10000000;
  fixture_init (&f, &config);
  set_viewers (&f, spread, 4);
  update (&f, 0);
  g_assert_cmpuint (f.result.target_bps, ==, 1600000);
  g_assert_false (f.decisions[0].excluded);

  /* Half the median (1.5) is the floor: 1.6 is kept, 1.4 would not be.
   * The weakest counts for a tenth: the percentile moves up. */
  metered_rate_policy_clear (&f.policy);
  fixture_init (&f, &config);
  set_viewers (&f, spread, 4);
  f.viewers[0].weight = 0.1;
  update (&f, 0);
  g_assert_cmpuint (f.result.target_bps, ==, 2000000);

  /* Percentile 0 protects the weakest kept viewer. */
  metered_rate_policy_clear (&f.policy);
  config.percentile = 0;
  fixture_init (&f, &config);
  set_viewers (&f, spread, 3);
  f.viewers[0].estimate_bps = 1500000;
  update (&f, 0);
  g_assert_cmpuint (f.result.target_bps, ==, 1500000);
  metered_rate_policy_clear (&f.policy);
}

/* Down at once, up only after the hold; a big change is flagged once. */
static void
test_target_hysteresis (void)
{
  MeteredRatePolicyConfig config = defaults;
  Fixture f;

  config.headroom = 1.0;
  fixture_init (&f, &config);
  set_viewer (&f, 0, 2000000);
  update (&f, 0);
  g_assert_cmpuint (f.result.target_bps, ==, 2000000);
  g_assert_false (f.result.changed);
  g_assert_false (f.result.big_change);

  f.viewers[0].estimate_bps = 1800000;
  update (&f, S (1));
  g_assert_cmpuint (f.result.target_bps, ==, 1800000);
  g_assert_true (f.result.changed);
  g_assert_false (f.result.big_change);

  /* 1.8 → 1.4: more than a quarter below the last reported 2.0. */
  f.viewers[0].estimate_bps = 1400000;
  update (&f, S (2));
  g_assert_cmpuint (f.result.target_bps, ==, 1400000);
  g_assert_true (f.result.big_change);

  f.viewers[0].estimate_bps = 2200000;
  update (&f, S (3));
  g_assert_cmpuint (f.result.target_bps, ==, 1400000);
  update (&f, S (4.9));
  g_assert_cmpuint (f.result.target_bps, ==, 1400000);
  g_assert_false (f.result.changed);
  update (&f, S (5));
  g_assert_cmpuint (f.result.target_bps, ==, 2200000);
  g_assert_true (f.result.changed);
  g_assert_true (f.result.big_change);

  /* A dip during the hold restarts it. */
  f.viewers[0].estimate_bps = 2400000;
  update (&f, S (6));
  f.viewers[0].estimate_bps = 2200000;
  update (&f, S (7));
  f.viewers[0].estimate_bps = 2400000;
  update (&f, S (8));
  update (&f, S (9.5));
  g_assert_cmpuint (f.result.target_bps, ==, 2200000);
  update (&f, S (10));
  g_assert_cmpuint (f.result.target_bps, ==, 2400000);
  metered_rate_policy_clear (&f.policy);
}

/* A viewer's layers drop at once and come back one per hold. */
static void
test_layer_hysteresis (void)
{
  MeteredRatePolicyConfig config = defaults;
  Fixture f;
  guint i;

  config.headroom = 1.0;
  config.max_bps = 2000000;
  fixture_init (&f, &config);
  for (i = 0; i < 4; i++)
    set_viewer (&f, i, 2000000);
  update (&f, 0);
  g_assert_cmpuint (f.decisions[3].layer_cap, ==, 2);

  /* 0.6 Mbit/s: above the base layer (0.5), under the middle (1.0). */
  f.viewers[3].estimate_bps = 600000;
  update (&f, S (1));
  g_assert_cmpuint (f.result.target_bps, ==, 2000000);
  g_assert_true (f.decisions[3].excluded);
  g_assert_cmpuint (f.decisions[3].layer_cap, ==, 0);

  f.viewers[3].estimate_bps = 2000000;
  update (&f, S (2));
  g_assert_cmpuint (f.decisions[3].layer_cap, ==, 0);
  update (&f, S (6.9));
  g_assert_cmpuint (f.decisions[3].layer_cap, ==, 0);
  update (&f, S (7));
  g_assert_cmpuint (f.decisions[3].layer_cap, ==, 1);
  update (&f, S (11));
  g_assert_cmpuint (f.decisions[3].layer_cap, ==, 1);
  update (&f, S (12));
  g_assert_cmpuint (f.decisions[3].layer_cap, ==, 2);
  metered_rate_policy_clear (&f.policy);
}

/* A viewer held at the base layer is sent 0.5 Mbit/s, so its estimate
 * stops at about 1.5 × that. With that much room it is stepped up after
 * the probe hold anyway; it stays up while its estimate holds, and comes
 * straight back down when the estimate falls. One whose estimate shows no
 * room is never probed. */
static void
test_probe_app_limited (void)
{
  MeteredRatePolicyConfig config = defaults;
  Fixture f;
  gint64 t;

  config.headroom = 1.0;
  config.max_bps = 2000000;
  fixture_init (&f, &config);
  set_viewers (&f, (const guint64[]){ 4000000, 4000000, 4000000, 760000 }, 4);
  update (&f, 0);
  g_assert_cmpuint (f.decisions[3].layer_cap, ==, 0);
  update (&f, S (1));
  update (&f, S (9.9));
  g_assert_cmpuint (f.decisions[3].layer_cap, ==, 0);
  update (&f, S (10));
  g_assert_cmpuint (f.decisions[3].layer_cap, ==, 1);
  update (&f, S (12));
  g_assert_cmpuint (f.decisions[3].layer_cap, ==, 1);
  /* The estimate catches up (1 Mbit/s fits layer 1): confirmed, and no
   * further probe without room above layer 1's 1 Mbit/s. */
  f.viewers[3].estimate_bps = 1100000;
  for (t = S (13); t < S (40); t += S (1)) {
    update (&f, t);
    g_assert_cmpuint (f.result.target_bps, ==, 2000000);
    g_assert_true (f.decisions[3].excluded);
    g_assert_cmpuint (f.decisions[3].layer_cap, ==, 1);
  }

  /* A probe the link cannot take: the estimate falls, straight down. */
  f.viewers[3].estimate_bps = 760000;
  update (&f, S (40));
  g_assert_cmpuint (f.decisions[3].layer_cap, ==, 0);
  update (&f, S (41));
  update (&f, S (51));
  g_assert_cmpuint (f.decisions[3].layer_cap, ==, 1);
  f.viewers[3].estimate_bps = 700000;
  update (&f, S (51.5));
  g_assert_cmpuint (f.decisions[3].layer_cap, ==, 0);

  /* That failure doubles the wait for the next probe. */
  f.viewers[3].estimate_bps = 760000;
  update (&f, S (52));
  update (&f, S (71.9));
  g_assert_cmpuint (f.decisions[3].layer_cap, ==, 0);
  update (&f, S (72));
  g_assert_cmpuint (f.decisions[3].layer_cap, ==, 1);

  /* 550 kbit/s for 0.5 sent is no room to probe. */
  f.viewers[3].estimate_bps = 550000;
  for (t = S (73); t < S (150); t += S (1)) {
    update (&f, t);
    g_assert_cmpuint (f.decisions[3].layer_cap, ==, 0);
  }
  metered_rate_policy_clear (&f.policy);
}

/* H.264 (no layers): a viewer that cannot take the stream gets key frames
 * only, and the full stream again after the hold. */
static void
test_keyframes_only (void)
{
  MeteredRatePolicyConfig config = defaults;
  Fixture f;

  config.n_layers = 1;
  config.headroom = 1.0;
  fixture_init (&f, &config);
  set_viewers (&f, (const guint64[]){ 2000000, 2000000, 300000 }, 3);
  update (&f, 0);
  g_assert_cmpuint (f.result.target_bps, ==, 2000000);
  g_assert_cmpuint (f.result.layer_bps[0], ==, 2000000);
  g_assert_cmpuint (f.result.layer_bps[1], ==, 0);
  g_assert_false (f.decisions[0].keyframes_only);
  g_assert_true (f.decisions[2].keyframes_only);
  g_assert_true (f.decisions[2].starved);
  g_assert_cmpuint (f.decisions[2].send_bps, ==, 0);

  f.viewers[2].estimate_bps = 2000000;
  update (&f, S (1));
  g_assert_true (f.decisions[2].keyframes_only);
  update (&f, S (6));
  g_assert_false (f.decisions[2].keyframes_only);
  g_assert_cmpuint (f.decisions[2].send_bps, ==, 2000000);
  metered_rate_policy_clear (&f.policy);
}

/* Viewers come and go by id; none at all keeps the target; a new viewer
 * with the same id as a departed one starts afresh. */
static void
test_viewers_come_and_go (void)
{
  MeteredRatePolicyConfig config = defaults;
  Fixture f;

  config.headroom = 1.0;
  config.max_bps = 2000000;
  fixture_init (&f, &config);
  update (&f, 0);
  g_assert_cmpuint (f.result.target_bps, ==, config.max_bps);

  set_viewer (&f, 0, 2000000);
  set_viewer (&f, 1, 600000);
  update (&f, S (1));
  g_assert_cmpuint (f.decisions[1].layer_cap, ==, 0);
  g_assert_cmpuint (f.policy.viewers->len, ==, 2);

  f.n = 1;
  update (&f, S (2));
  g_assert_cmpuint (f.policy.viewers->len, ==, 1);

  /* Back with a good estimate: no memory of the old hold. */
  set_viewer (&f, 1, 2000000);
  update (&f, S (3));
  g_assert_cmpuint (f.decisions[1].layer_cap, ==, 2);

  f.n = 0;
  update (&f, S (4));
  g_assert_cmpuint (f.result.target_bps, ==, 2000000);
  g_assert_cmpuint (f.result.total_send_bps, ==, 0);
  metered_rate_policy_clear (&f.policy);
}

/* Nonsense configuration and estimates are tamed, not trusted. */
static void
test_bad_input (void)
{
  MeteredRatePolicyConfig config = defaults;
  Fixture f;

  config.n_layers = 9;
  config.percentile = 400;
  config.headroom = -3;
  config.layer_share[0] = 5;
  config.layer_share[1] = -1;
  config.min_bps = 500000;
  config.max_bps = 100;
  fixture_init (&f, &config);
  set_viewer (&f, 0, 0);
  set_viewer (&f, 1, G_MAXUINT64);
  f.viewers[1].weight = -INFINITY;
  set_viewer (&f, 2, 1000);
  f.viewers[2].weight = NAN;
  update (&f, 0);
  g_assert_cmpuint (f.result.target_bps, ==, 500000);
  g_assert_cmpuint (f.decisions[0].layer_cap, <, METERED_RATE_MAX_LAYERS);
  g_assert_cmpuint (f.decisions[1].layer_cap, <, METERED_RATE_MAX_LAYERS);
  metered_rate_policy_clear (&f.policy);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/rate-policy/fanout", test_fanout);
  g_test_add_func ("/rate-policy/budget-caps-sum", test_budget_caps_sum);
  g_test_add_func (
      "/rate-policy/percentile-and-weights", test_percentile_and_weights);
  g_test_add_func ("/rate-policy/target-hysteresis", test_target_hysteresis);
  g_test_add_func ("/rate-policy/layer-hysteresis", test_layer_hysteresis);
  g_test_add_func ("/rate-policy/probe-app-limited", test_probe_app_limited);
  g_test_add_func ("/rate-policy/keyframes-only", test_keyframes_only);
  g_test_add_func (
      "/rate-policy/viewers-come-and-go", test_viewers_come_and_go);
  g_test_add_func ("/rate-policy/bad-input", test_bad_input);
  return g_test_run ();
}
