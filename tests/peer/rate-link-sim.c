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

#include "rate-link-sim.h"

#include <string.h>

#define FRAME_US 33333
#define PACKET_BYTES 1200
#define PACING_FACTOR 2.5
#define FEEDBACK_US 100000

typedef struct
{
  gint64 send_us;
  gint64 arrival_us;
  guint size;
  gboolean lost;
} SimPacket;

static const RateLinkStep *
step_at (const RateLink *link, gint64 t_us)
{
  const RateLinkStep *s = &link->steps[0];
  guint i;

  for (i = 1; i < link->n_steps; i++)
    if (link->steps[i].at_us <= t_us)
      s = &link->steps[i];
  return s;
}

void
rate_link_run (const RateLink *link, const MeteredRateEstimatorConfig *config,
    RateRun *run)
{
  MeteredRateEstimator est;
  GArray *sent = g_array_new (FALSE, FALSE, sizeof (SimPacket));
  GArray *fb = g_array_new (FALSE, FALSE, sizeof (MeteredRatePacket));
  GRand *rand = g_rand_new_with_seed (link->seed);
  gint64 t_frame = 0, t_fb = FEEDBACK_US, link_free = 0;
  guint next_report = 0;

  memset (run, 0, sizeof (*run));
  run->samples = g_array_new (FALSE, FALSE, sizeof (RateSample));
  metered_rate_estimator_init (&est, config);

  while (MIN (t_frame, t_fb) < link->duration_us) {
    if (t_frame <= t_fb + link->one_way_us) {
      double rate = metered_rate_estimator_get_bps (&est);
      guint bytes = rate / 8 / (1e6 / FRAME_US);
      gint64 t = t_frame;

      while (bytes > 0) {
        guint size = MIN (bytes, PACKET_BYTES);
        const RateLinkStep *step = step_at (link, t);
        SimPacket p = { t, 0, size, FALSE };
        gint64 start = MAX (t, link_free);

        bytes -= size;
        run->packets_sent++;
        if (g_rand_double (rand) < step->loss) {
          p.lost = TRUE;
          run->packets_dropped_random++;
        } else if (start - t > link->max_queue_us) {
          p.lost = TRUE;
          run->packets_dropped_queue++;
        } else {
          link_free = start + (gint64) (size * 8 * 1e6 / step->capacity_bps);
          p.arrival_us = link_free + link->one_way_us;
          if (link->jitter_us > 0)
            p.arrival_us += g_rand_int_range (rand, 0, link->jitter_us + 1);
        }
        g_array_append_val (sent, p);
        t += (gint64) (size * 8 * 1e6 / (PACING_FACTOR * rate));
      }
      t_frame += FRAME_US;
    } else {
      /* The receiver reports every packet up to the last one it got by
       * t_fb; the sender gets the report one_way later. */
      gint64 now = t_fb + link->one_way_us;
      guint i, last = G_MAXUINT;
      RateSample sample;

      for (i = next_report; i < sent->len; i++) {
        SimPacket *p = &g_array_index (sent, SimPacket, i);

        if (p->send_us > t_fb)
          break;
        if (!p->lost && p->arrival_us <= t_fb)
          last = i;
      }
      g_array_set_size (fb, 0);
      if (last != G_MAXUINT) {
        for (i = next_report; i <= last; i++) {
          SimPacket *p = &g_array_index (sent, SimPacket, i);
          MeteredRatePacket r = { p->send_us, p->arrival_us, p->size, p->lost };

          g_array_append_val (fb, r);
        }
        metered_rate_estimator_set_rtt (
            &est, now - g_array_index (sent, SimPacket, last).send_us);
        metered_rate_estimator_on_feedback (
            &est, (MeteredRatePacket *) fb->data, fb->len, now);
        next_report = last + 1;
      }
      sample.at_us = now;
      sample.estimate_bps = metered_rate_estimator_get_bps (&est);
      sample.signal = metered_rate_estimator_get_signal (&est);
      if (sample.signal == METERED_RATE_OVERUSE)
        run->n_overuse++;
      g_array_append_val (run->samples, sample);
      t_fb += FEEDBACK_US;
    }
  }

  g_rand_free (rand);
  g_array_unref (fb);
  g_array_unref (sent);
}

void
rate_run_clear (RateRun *run)
{
  g_clear_pointer (&run->samples, g_array_unref);
}

void
rate_run_stats (const RateRun *run, gint64 from_us, gint64 to_us,
    double *min_bps, double *max_bps, double *mean_bps)
{
  double sum = 0;
  guint i, n = 0;

  *min_bps = G_MAXDOUBLE;
  *max_bps = 0;
  for (i = 0; i < run->samples->len; i++) {
    const RateSample *s = &g_array_index (run->samples, RateSample, i);

    if (s->at_us < from_us || s->at_us >= to_us)
      continue;
    *min_bps = MIN (*min_bps, s->estimate_bps);
    *max_bps = MAX (*max_bps, s->estimate_bps);
    sum += s->estimate_bps;
    n++;
  }
  g_assert_cmpuint (n, >, 0);
  *mean_bps = sum / n;
}

gint64
rate_run_first (const RateRun *run, gint64 from_us, double bps, gboolean below)
{
  guint i;

  for (i = 0; i < run->samples->len; i++) {
    const RateSample *s = &g_array_index (run->samples, RateSample, i);

    if (s->at_us < from_us)
      continue;
    if (below ? s->estimate_bps <= bps : s->estimate_bps >= bps)
      return s->at_us;
  }
  return -1;
}
