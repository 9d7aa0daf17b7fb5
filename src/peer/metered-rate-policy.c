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

#include "peer/metered-rate-policy.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* A link that cannot take the next layer is probed at most every 4 ×
 * probe_hold_us: each failed probe costs that viewer a stall. */
#define MAX_PROBE_BACKOFF 2

typedef struct
{
  guint id;
  guint layer;
  gboolean keyframes_only;
  gint64 up_since_us; /* -1: not waiting to go up */
  /* Stepped up without its estimate showing room (a probe): it stays up
   * until its estimate falls below what it was then. */
  gboolean probing;
  double probe_usable;
  /* Probes that failed in a row: each doubles the next probe's hold. */
  guint probe_failures;
  gboolean seen;
} ViewerState;

typedef struct
{
  double usable;
  double weight;
} Usable;

void
metered_rate_policy_init (
    MeteredRatePolicy *p, const MeteredRatePolicyConfig *config)
{
  guint i;

  p->config = *config;
  p->config.n_layers = CLAMP (p->config.n_layers, 1, METERED_RATE_MAX_LAYERS);
  p->config.percentile = MIN (p->config.percentile, 100);
  if (p->config.max_bps < p->config.min_bps)
    p->config.max_bps = p->config.min_bps;
  if (!(p->config.headroom > 0 && p->config.headroom <= 1))
    p->config.headroom = 1;
  /* The top layer is the whole stream; lower ones a rising share of it. */
  p->config.layer_share[p->config.n_layers - 1] = 1.0;
  for (i = p->config.n_layers - 1; i-- > 0;) {
    double s = p->config.layer_share[i];
    if (!(s > 0) || s > p->config.layer_share[i + 1])
      p->config.layer_share[i] = p->config.layer_share[i + 1];
  }
  p->target_bps = 0;
  p->reported_bps = 0;
  p->target_up_since_us = -1;
  p->viewers = g_array_new (FALSE, TRUE, sizeof (ViewerState));
}

void
metered_rate_policy_clear (MeteredRatePolicy *p)
{
  g_clear_pointer (&p->viewers, g_array_unref);
}

static int
compare_usable (const void *a, const void *b)
{
  double x = ((const Usable *) a)->usable, y = ((const Usable *) b)->usable;

  return x < y ? -1 : x > y ? 1 : 0;
}

/* The smallest value whose cumulative weight reaches q of the total
 * (passes it, if strict: the upper median of an even count). */
static double
weighted_percentile (const Usable *sorted, guint n, double q, gboolean strict)
{
  double total = 0, acc = 0;
  guint i;

  for (i = 0; i < n; i++)
    total += sorted[i].weight;
  for (i = 0; i < n; i++) {
    acc += sorted[i].weight;
    if (strict ? acc > q * total : acc >= q * total)
      return sorted[i].usable;
  }
  return sorted[n - 1].usable;
}

static double
viewer_weight (const MeteredRateViewer *v)
{
  return v->weight > 0 && isfinite (v->weight) ? v->weight : 1.0;
}

/* The highest layer whose cumulative rate fits usable (0 if none does). */
static guint
fitting_layer (const MeteredRatePolicyConfig *c, double target, double usable)
{
  guint k = 0;

  while (k + 1 < c->n_layers && c->layer_share[k + 1] * target <= usable)
    k++;
  return k;
}

static gboolean
wants_keyframes_only (
    const MeteredRatePolicyConfig *c, double target, double usable)
{
  return c->n_layers == 1 && usable < c->keyframes_only_below * target;
}

/* What a viewer costs the uplink at this target, before hysteresis (which
 * only ever holds a viewer lower). */
static double
viewer_share (const MeteredRatePolicyConfig *c, double target, double usable)
{
  if (wants_keyframes_only (c, target, usable))
    return 0;
  return c->layer_share[fitting_layer (c, target, usable)];
}

static ViewerState *
lookup_state (MeteredRatePolicy *p, guint id)
{
  ViewerState fresh = { id, 0, FALSE, -1, FALSE, 0, 0, FALSE };
  guint i;

  for (i = 0; i < p->viewers->len; i++) {
    ViewerState *s = &g_array_index (p->viewers, ViewerState, i);
    if (s->id == id)
      return s;
  }
  g_array_append_val (p->viewers, fresh);
  return NULL;
}

static double
choose_candidate (MeteredRatePolicy *p, const MeteredRateViewer *viewers,
    guint n, const double *usable, gboolean *excluded, gboolean *over_budget)
{
  const MeteredRatePolicyConfig *c = &p->config;
  g_autofree Usable *all = g_new (Usable, n);
  g_autofree Usable *kept = g_new (Usable, n);
  double median, floor_bps, candidate;
  guint i, n_kept = 0, round;

  for (i = 0; i < n; i++) {
    all[i].usable = usable[i];
    all[i].weight = viewer_weight (&viewers[i]);
  }
  qsort (all, n, sizeof (Usable), compare_usable);
  /* The upper median: of two viewers, the weaker one is the outlier. */
  median = weighted_percentile (all, n, 0.5, TRUE);
  floor_bps = MAX ((double) c->min_bps, c->drag_fraction * median);

  for (i = 0; i < n; i++) {
    excluded[i] = usable[i] < floor_bps;
    if (!excluded[i]) {
      kept[n_kept].usable = usable[i];
      kept[n_kept].weight = viewer_weight (&viewers[i]);
      n_kept++;
    }
  }
  if (n_kept > 0) {
    qsort (kept, n_kept, sizeof (Usable), compare_usable);
    candidate =
        weighted_percentile (kept, n_kept, c->percentile / 100.0, FALSE);
  } else {
    /* Everyone is under the minimum: the encoder cannot go lower. */
    candidate = c->min_bps;
  }
  candidate = CLAMP (candidate, (double) c->min_bps, (double) c->max_bps);

  *over_budget = FALSE;
  if (c->total_bps > 0) {
    double video_budget = (double) c->total_bps - (double) n * c->audio_bps;

    /* Lowering the target lets more layers fit, which raises the sum:
     * each round only raises layers, so this many rounds reach the fixed
     * point. */
    for (round = 0; round <= n * (c->n_layers + 1); round++) {
      double shares = 0;

      for (i = 0; i < n; i++)
        shares += viewer_share (c, candidate, usable[i]);
      if (shares * candidate <= video_budget || shares <= 0)
        break;
      candidate = MAX (video_budget, 0) / shares;
    }
    if (candidate < c->min_bps) {
      candidate = c->min_bps;
      *over_budget = TRUE;
    }
  }
  return candidate;
}

static void
apply_target_hysteresis (MeteredRatePolicy *p, double candidate, gint64 now_us)
{
  guint64 cand = (guint64) candidate;

  if (p->target_bps == 0 || cand < p->target_bps) {
    p->target_bps = cand;
    p->target_up_since_us = -1;
  } else if (cand > p->target_bps) {
    if (p->target_up_since_us < 0)
      p->target_up_since_us = now_us;
    else if (now_us - p->target_up_since_us >= p->config.target_up_hold_us) {
      p->target_bps = cand;
      p->target_up_since_us = -1;
    }
  } else {
    p->target_up_since_us = -1;
  }
}

/* Held below the top, with an estimate that says the link took all it was
 * given with room to spare: only a step up can tell more. */
static gboolean
probe_allowed (const MeteredRatePolicyConfig *c, const ViewerState *s,
    double target, double usable)
{
  double sending;

  if (!(c->probe_above > 0))
    return FALSE;
  if (!s->keyframes_only && s->layer + 1 >= c->n_layers)
    return FALSE;
  sending = s->keyframes_only ? 0 : c->layer_share[s->layer] * target;
  return usable >= c->probe_above * sending;
}

static void
decide_viewer (MeteredRatePolicy *p, ViewerState *s, double usable,
    MeteredRateDecision *d, gint64 now_us)
{
  const MeteredRatePolicyConfig *c = &p->config;
  double target = p->target_bps;
  guint want = fitting_layer (c, target, usable);
  gboolean want_kf = wants_keyframes_only (c, target, usable);
  gboolean shows_more, shows_less;

  if (s == NULL) {
    /* A new viewer starts where its estimate says. */
    s = &g_array_index (p->viewers, ViewerState, p->viewers->len - 1);
    s->layer = want;
    s->keyframes_only = want_kf;
  }
  shows_more = want > s->layer || (!want_kf && s->keyframes_only);
  shows_less = want < s->layer || (want_kf && !s->keyframes_only);
  if (s->probing && !shows_less) {
    s->probing = FALSE; /* the estimate caught up: confirmed */
    s->probe_failures = 0;
  }

  if (shows_less && !(s->probing && usable >= s->probe_usable)) {
    s->layer = want;
    s->keyframes_only = s->keyframes_only || want_kf;
    s->up_since_us = -1;
    if (s->probing)
      s->probe_failures = MIN (s->probe_failures + 1, MAX_PROBE_BACKOFF);
    s->probing = FALSE;
  } else if (shows_more || (!s->probing && !shows_less &&
                               probe_allowed (c, s, target, usable))) {
    if (s->up_since_us < 0) {
      s->up_since_us = now_us;
    } else if (now_us - s->up_since_us >=
               (shows_more ? c->layer_up_hold_us
                           : c->probe_hold_us << s->probe_failures)) {
      /* One step, then a new hold: a step up is a probe of the path. */
      if (s->keyframes_only)
        s->keyframes_only = FALSE;
      else
        s->layer++;
      s->up_since_us = now_us;
      if (!shows_more) {
        s->probing = TRUE;
        s->probe_usable = usable;
      }
    }
  } else {
    s->up_since_us = -1;
  }
  s->seen = TRUE;

  d->layer_cap = s->layer;
  d->keyframes_only = s->keyframes_only;
  d->send_bps =
      s->keyframes_only ? 0 : (guint64) (c->layer_share[s->layer] * target);
  d->starved = s->keyframes_only || (double) d->send_bps > usable;
}

void
metered_rate_policy_update (MeteredRatePolicy *p,
    const MeteredRateViewer *viewers, guint n_viewers,
    MeteredRateDecision *decisions, MeteredRatePolicyResult *result,
    gint64 now_us)
{
  const MeteredRatePolicyConfig *c = &p->config;
  g_autofree double *usable = g_new0 (double, MAX (n_viewers, 1));
  g_autofree gboolean *excluded = g_new0 (gboolean, MAX (n_viewers, 1));
  guint64 previous = p->target_bps;
  gboolean over_budget = FALSE;
  guint i;

  memset (result, 0, sizeof (*result));
  for (i = 0; i < n_viewers; i++)
    usable[i] = c->headroom * viewers[i].estimate_bps;

  if (n_viewers > 0)
    apply_target_hysteresis (p,
        choose_candidate (
            p, viewers, n_viewers, usable, excluded, &over_budget),
        now_us);
  else if (p->target_bps == 0)
    p->target_bps = c->max_bps;

  for (i = 0; i < p->viewers->len; i++)
    g_array_index (p->viewers, ViewerState, i).seen = FALSE;
  for (i = 0; i < n_viewers; i++) {
    MeteredRateDecision *d = &decisions[i];

    memset (d, 0, sizeof (*d));
    d->id = viewers[i].id;
    d->excluded = excluded[i];
    decide_viewer (p, lookup_state (p, viewers[i].id), usable[i], d, now_us);
    result->total_send_bps += d->send_bps + c->audio_bps;
  }
  for (i = p->viewers->len; i-- > 0;)
    if (!g_array_index (p->viewers, ViewerState, i).seen)
      g_array_remove_index_fast (p->viewers, i);

  result->target_bps = p->target_bps;
  for (i = 0; i < c->n_layers; i++)
    result->layer_bps[i] = (guint64) (c->layer_share[i] * p->target_bps);
  result->changed = previous != 0 && previous != p->target_bps;
  result->over_budget = over_budget;
  if (p->reported_bps == 0) {
    p->reported_bps = p->target_bps;
  } else if (fabs ((double) p->target_bps - (double) p->reported_bps) >
             c->big_change * p->reported_bps) {
    result->big_change = TRUE;
    p->reported_bps = p->target_bps;
  }
}
