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

#include "metered-layer-rule.h"

/* The fewest packets a sample needs for its NACK share to count. */
#define MIN_PACKETS 20
#define MAX_HOLD_FACTOR 4

void
metered_layer_rule_init (
    MeteredLayerRule *r, const MeteredLayerRuleConfig *config)
{
  r->config = *config;
  r->config.n_layers = CLAMP (config->n_layers, 1, 8);
  r->cap = r->config.n_layers - 1;
  r->keyframes_only = FALSE;
  r->last_down_us = -1;
  r->last_up_us = -1;
  r->good_since_us = -1;
  r->hold_factor = 1;
}

double
metered_layer_rule_sample_loss (const MeteredLayerSample *s)
{
  /* The report counts a packet that a retransmission repaired as
   * received: isolated losses barely show, a link too slow for the stream
   * does. NACKs count a packet once per request (a receiver asks again
   * each round trip), so they only stand in while no report came. */
  if (s->fraction_lost >= 0)
    return s->fraction_lost;
  if (s->packets_sent >= MIN_PACKETS)
    return MIN ((double) s->nacks_received / s->packets_sent, 1.0);
  return -1;
}

static gboolean
at_bottom (MeteredLayerRule *r)
{
  return r->config.n_layers == 1 ? r->keyframes_only : r->cap == 0;
}

static gboolean
at_top (MeteredLayerRule *r)
{
  return r->config.n_layers == 1 ? !r->keyframes_only
                                 : r->cap == r->config.n_layers - 1;
}

static void
step_down (MeteredLayerRule *r, gint64 now)
{
  if (r->config.n_layers == 1)
    r->keyframes_only = TRUE;
  else
    r->cap--;
  if (r->last_up_us >= 0 && now - r->last_up_us < r->config.probe_fail_us)
    r->hold_factor = MIN (r->hold_factor * 2, MAX_HOLD_FACTOR);
  else
    r->hold_factor = 1;
  r->last_down_us = now;
  r->last_up_us = -1;
  r->good_since_us = -1;
}

static void
step_up (MeteredLayerRule *r, gint64 now)
{
  if (r->config.n_layers == 1)
    r->keyframes_only = FALSE;
  else
    r->cap++;
  r->last_up_us = now;
  r->good_since_us = now;
}

gboolean
metered_layer_rule_update (
    MeteredLayerRule *r, const MeteredLayerSample *s, gint64 now)
{
  double loss = metered_layer_rule_sample_loss (s);
  const MeteredLayerRuleConfig *c = &r->config;

  if (loss < 0)
    return FALSE;
  /* The last step up has held: the link took it. */
  if (r->last_up_us >= 0 && now - r->last_up_us >= c->probe_fail_us) {
    r->last_up_us = -1;
    r->hold_factor = 1;
  }
  if (loss > c->down_above) {
    r->good_since_us = -1;
    if (at_bottom (r) ||
        (r->last_down_us >= 0 && now - r->last_down_us < c->down_hold_us))
      return FALSE;
    step_down (r, now);
    return TRUE;
  }
  if (loss >= c->up_below) {
    r->good_since_us = -1;
    return FALSE;
  }
  if (r->good_since_us < 0)
    r->good_since_us = now;
  if (at_top (r) || now - r->good_since_us < c->up_hold_us * r->hold_factor)
    return FALSE;
  step_up (r, now);
  return TRUE;
}
