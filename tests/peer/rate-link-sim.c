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

#define PACKET_BYTES 1200
#define PACING_FACTOR 2.5
#define FEEDBACK_US 100000

typedef struct
{
  gint64 send_us;
  gint64 arrival_us;
  guint size;
  guint frame;
  gboolean lost;
} SimPacket;

struct _RateSimLink
{
  RateLink link;
  MeteredRateEstimator est;
  RateRun *run;
  GArray *sent; /* SimPacket */
  GArray *fb; /* MeteredRatePacket */
  GRand *rand;
  gint64 link_free_us;
  gint64 next_fb_us; /* receiver time of the next feedback */
  guint next_report;
  guint frames;
};

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

RateSimLink *
rate_sim_link_new (const RateLink *link,
    const MeteredRateEstimatorConfig *config, RateRun *run)
{
  RateSimLink *l = g_new0 (RateSimLink, 1);

  l->link = *link;
  l->run = run;
  memset (run, 0, sizeof (*run));
  run->samples = g_array_new (FALSE, FALSE, sizeof (RateSample));
  l->sent = g_array_new (FALSE, FALSE, sizeof (SimPacket));
  l->fb = g_array_new (FALSE, FALSE, sizeof (MeteredRatePacket));
  l->rand = g_rand_new_with_seed (link->seed);
  l->next_fb_us = FEEDBACK_US;
  metered_rate_estimator_init (&l->est, config);
  return l;
}

void
rate_sim_link_free (RateSimLink *l)
{
  g_rand_free (l->rand);
  g_array_unref (l->fb);
  g_array_unref (l->sent);
  g_free (l);
}

guint64
rate_sim_link_estimate (const RateSimLink *l)
{
  return metered_rate_estimator_get_bps (&l->est);
}

void
rate_sim_link_send_frame (
    RateSimLink *l, gint64 at_us, guint bytes, double pacing_bps)
{
  gint64 t = at_us;

  while (bytes > 0) {
    guint size = MIN (bytes, PACKET_BYTES);
    const RateLinkStep *step = step_at (&l->link, t);
    SimPacket p = { t, 0, size, l->frames, FALSE };
    gint64 start = MAX (t, l->link_free_us);

    bytes -= size;
    l->run->packets_sent++;
    if (g_rand_double (l->rand) < step->loss) {
      p.lost = TRUE;
      l->run->packets_dropped_random++;
    } else if (start - t > l->link.max_queue_us) {
      p.lost = TRUE;
      l->run->packets_dropped_queue++;
    } else {
      l->link_free_us = start + (gint64) (size * 8 * 1e6 / step->capacity_bps);
      p.arrival_us = l->link_free_us + l->link.one_way_us;
      if (l->link.jitter_us > 0)
        p.arrival_us += g_rand_int_range (l->rand, 0, l->link.jitter_us + 1);
    }
    g_array_append_val (l->sent, p);
    t += (gint64) (size * 8 * 1e6 / pacing_bps);
  }
  l->frames++;
}

/* The receiver reports every packet up to the last one it got by t_fb;
 * the sender gets the report one_way later. */
static void
deliver_feedback (RateSimLink *l, gint64 t_fb)
{
  gint64 now = t_fb + l->link.one_way_us;
  guint i, last = G_MAXUINT;
  RateSample sample;

  for (i = l->next_report; i < l->sent->len; i++) {
    SimPacket *p = &g_array_index (l->sent, SimPacket, i);

    if (p->send_us > t_fb)
      break;
    if (!p->lost && p->arrival_us <= t_fb)
      last = i;
  }
  g_array_set_size (l->fb, 0);
  if (last != G_MAXUINT) {
    for (i = l->next_report; i <= last; i++) {
      SimPacket *p = &g_array_index (l->sent, SimPacket, i);
      MeteredRatePacket r = { p->send_us, p->arrival_us, p->size, p->lost };

      g_array_append_val (l->fb, r);
    }
    metered_rate_estimator_set_rtt (
        &l->est, now - g_array_index (l->sent, SimPacket, last).send_us);
    metered_rate_estimator_on_feedback (
        &l->est, (MeteredRatePacket *) l->fb->data, l->fb->len, now);
    l->next_report = last + 1;
  }
  sample.at_us = now;
  sample.estimate_bps = metered_rate_estimator_get_bps (&l->est);
  sample.signal = metered_rate_estimator_get_signal (&l->est);
  if (sample.signal == METERED_RATE_OVERUSE)
    l->run->n_overuse++;
  g_array_append_val (l->run->samples, sample);
}

void
rate_sim_link_feedback_until (RateSimLink *l, gint64 now_us)
{
  while (l->next_fb_us + l->link.one_way_us <= now_us) {
    deliver_feedback (l, l->next_fb_us);
    l->next_fb_us += FEEDBACK_US;
  }
}

double
rate_sim_link_received_bps (const RateSimLink *l, gint64 from_us, gint64 to_us)
{
  guint64 bytes = 0;
  guint i;

  for (i = 0; i < l->sent->len; i++) {
    const SimPacket *p = &g_array_index (l->sent, SimPacket, i);

    if (!p->lost && p->send_us >= from_us && p->send_us < to_us)
      bytes += p->size;
  }
  return bytes * 8 * 1e6 / (to_us - from_us);
}

guint
rate_sim_link_frames_complete (
    const RateSimLink *l, gint64 from_us, gint64 to_us)
{
  guint i, complete = 0;

  for (i = 0; i < l->sent->len;) {
    const SimPacket *first = &g_array_index (l->sent, SimPacket, i);
    gboolean whole = TRUE;

    for (; i < l->sent->len &&
           g_array_index (l->sent, SimPacket, i).frame == first->frame;
         i++)
      whole = whole && !g_array_index (l->sent, SimPacket, i).lost;
    if (whole && first->send_us >= from_us && first->send_us < to_us)
      complete++;
  }
  return complete;
}

void
rate_link_run (const RateLink *link, const MeteredRateEstimatorConfig *config,
    RateRun *run)
{
  RateSimLink *l = rate_sim_link_new (link, config, run);
  gint64 t;

  /* An encoder at the estimate, paced at 2.5 × it. */
  for (t = 0; t < link->duration_us; t += RATE_SIM_FRAME_US) {
    double rate;

    rate_sim_link_feedback_until (l, t);
    rate = rate_sim_link_estimate (l);
    rate_sim_link_send_frame (l, t,
        (guint) (rate / 8 / (1e6 / RATE_SIM_FRAME_US)), PACING_FACTOR * rate);
  }
  rate_sim_link_free (l);
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
