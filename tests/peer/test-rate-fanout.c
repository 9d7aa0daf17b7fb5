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

/* The estimator and the policy in a closed loop: one encoder with three
 * temporal layers (L1T3: 0,2,1,2 at 30 fps) feeding five viewers over
 * simulated links, each viewer's estimator fed by its own link's
 * feedback, the policy run once a second as the element will. */

#include "peer/metered-rate-policy.h"
#include "rate-link-sim.h"

#define S(x) ((gint64) ((x) *1000000))
#define N_VIEWERS 5

static const guint frame_layer[4] = { 0, 2, 1, 2 };

typedef struct
{
  RateSimLink *links[N_VIEWERS];
  RateRun runs[N_VIEWERS];
  MeteredRatePolicy policy;
  MeteredRatePolicyResult result;
  MeteredRateDecision decisions[N_VIEWERS];
} Fanout;

typedef struct
{
  const RateLinkStep *steps;
  guint n_steps;
} Profile;

static void
fanout_run (Fanout *f, const Profile *profiles, gint64 duration_us)
{
  const MeteredRateEstimatorConfig est = METERED_RATE_ESTIMATOR_CONFIG_DEFAULT;
  MeteredRatePolicyConfig config = METERED_RATE_POLICY_CONFIG_DEFAULT;
  MeteredRateViewer viewers[N_VIEWERS];
  gint64 t, next_policy = 0;
  guint i, n = 0;

  config.max_bps = 1200000;
  metered_rate_policy_init (&f->policy, &config);
  for (i = 0; i < N_VIEWERS; i++) {
    RateLink link = { profiles[i].steps, profiles[i].n_steps, 20000, 200000, 0,
      17 + i, duration_us };

    f->links[i] = rate_sim_link_new (&link, &est, &f->runs[i]);
    viewers[i].id = i;
    viewers[i].weight = 1;
  }

  for (t = 0; t < duration_us; t += RATE_SIM_FRAME_US, n++) {
    guint layer = frame_layer[n % 4];

    for (i = 0; i < N_VIEWERS; i++)
      rate_sim_link_feedback_until (f->links[i], t);
    if (t >= next_policy) {
      for (i = 0; i < N_VIEWERS; i++)
        viewers[i].estimate_bps = rate_sim_link_estimate (f->links[i]);
      metered_rate_policy_update (
          &f->policy, viewers, N_VIEWERS, f->decisions, &f->result, t);
      next_policy += S (1);
      if (g_getenv ("METERED_RATE_TRACE"))
        g_printerr ("t=%4.1f target %7" G_GUINT64_FORMAT
                    " weak estimate %7" G_GUINT64_FORMAT " layer %u\n",
            t / 1e6, f->result.target_bps, viewers[N_VIEWERS - 1].estimate_bps,
            f->decisions[N_VIEWERS - 1].layer_cap);
    }
    /* Every frame is a thirtieth of the target: each layer's share of the
     * rate over its share of the frames (25 % / 7.5 fps, 25 % / 7.5 fps,
     * 50 % / 15 fps). */
    for (i = 0; i < N_VIEWERS; i++)
      if (layer <= f->decisions[i].layer_cap)
        rate_sim_link_send_frame (f->links[i], t, f->result.target_bps / 8 / 30,
            2.5 * rate_sim_link_estimate (f->links[i]));
  }
}

static void
fanout_clear (Fanout *f)
{
  guint i;

  for (i = 0; i < N_VIEWERS; i++) {
    rate_sim_link_free (f->links[i]);
    rate_run_clear (&f->runs[i]);
  }
  metered_rate_policy_clear (&f->policy);
}

/* The fan-out profile: four clean 4 Mbit/s viewers keep the full
 * rate and 30 fps, the one behind 400 kbit/s gets the base layer and
 * decodes at least 7 fps, and does not pull the others down. */
static void
test_fanout_profile (void)
{
  static const RateLinkStep clean[] = { { 0, 4e6, 0 } };
  static const RateLinkStep weak[] = { { 0, 400e3, 0 } };
  const Profile profiles[N_VIEWERS] = { { clean, 1 }, { clean, 1 },
    { clean, 1 }, { clean, 1 }, { weak, 1 } };
  Fanout f;
  guint i;

  fanout_run (&f, profiles, S (60));
  g_assert_cmpuint (f.result.target_bps, ==, 1200000);
  for (i = 0; i < N_VIEWERS; i++) {
    double bps = rate_sim_link_received_bps (f.links[i], S (30), S (60));
    guint frames = rate_sim_link_frames_complete (f.links[i], S (30), S (60));

    g_test_message ("viewer %u: 30-60 s received %.0f kbit/s, %.1f fps "
                    "complete, layer cap %u, estimate %.0f kbit/s",
        i, bps / 1e3, frames / 30.0, f.decisions[i].layer_cap,
        rate_sim_link_estimate (f.links[i]) / 1e3);
    if (i < 4) {
      g_assert_cmpfloat (bps, >=, 0.8 * 1200000);
      g_assert_cmpuint (frames, >=, 0.8 * 30 * 30);
      g_assert_cmpuint (f.decisions[i].layer_cap, ==, 2);
    } else {
      g_assert_cmpuint (frames, >=, 7 * 30);
      g_assert_cmpfloat (bps, <=, 400000);
      g_assert_cmpuint (f.decisions[i].layer_cap, ==, 0);
      g_assert_true (f.decisions[i].excluded);
    }
  }
  fanout_clear (&f);
}

/* The weak viewer's link opens up to 4 Mbit/s at 30 s: held at the base
 * layer its estimate cannot show it, so the policy probes it up a layer at
 * a time (a probe that failed on the old link had doubled the wait), and
 * it has the full stream within 60 s. */
static void
test_fanout_recovery (void)
{
  static const RateLinkStep clean[] = { { 0, 4e6, 0 } };
  static const RateLinkStep opens[] = { { 0, 400e3, 0 }, { S (30), 4e6, 0 } };
  const Profile profiles[N_VIEWERS] = { { clean, 1 }, { clean, 1 },
    { clean, 1 }, { clean, 1 }, { opens, 2 } };
  Fanout f;
  guint frames;

  fanout_run (&f, profiles, S (100));
  g_assert_cmpuint (f.decisions[4].layer_cap, ==, 2);
  frames = rate_sim_link_frames_complete (f.links[4], S (90), S (100));
  g_test_message ("viewer 4: 90-100 s %.1f fps complete", frames / 10.0);
  g_assert_cmpuint (frames, >=, 0.95 * 30 * 10);
  fanout_clear (&f);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/rate-fanout/profile", test_fanout_profile);
  g_test_add_func ("/rate-fanout/recovery", test_fanout_recovery);
  return g_test_run ();
}
