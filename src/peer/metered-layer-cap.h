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
 * What a viewer's frame gate (metered-layer-gate.h) is set to while
 * meteredsink adapts its rate: the rate policy's per-viewer decision
 * (metered-rate-policy.h: layer_cap, keyframes_only) is the one source,
 * this only guards it. No GStreamer, no clock.
 *
 * - A layered stream gets the policy's layer as it is: a layer less
 *   costs a viewer little, and the policy already holds each step up.
 * - Without layers the one lever is key frames only, a near stall. It is
 *   applied only when it serves the viewer: the policy asks for it and
 *   the viewer's last lossy_reports distinct receiver reports each showed
 *   more than lossy_above loss, i.e. its link is failing now. One report
 *   after a network cut shows heavy loss, and the estimate it cut stays
 *   low for seconds after the link is back: key frames only for those
 *   seconds froze a viewer its link could serve. It ends as soon as the
 *   policy no longer asks (the policy holds that step like a layer up).
 */

typedef struct
{
  guint lossy_reports;
  double lossy_above;
} MeteredLayerCapConfig;

#define METERED_LAYER_CAP_CONFIG_DEFAULT                                       \
  {                                                                            \
    3, 0.10                                                                    \
  }

typedef struct
{
  MeteredLayerCapConfig config;
  /* Distinct receiver reports in a row with loss above lossy_above. */
  guint lossy_in_a_row;
  /* What the gate is set to: the highest layer sent (every frame of a
   * stream without layers passes any cap), and key frames only. */
  guint cap;
  gboolean keyframes_only;
} MeteredLayerCap;

void metered_layer_cap_init (
    MeteredLayerCap *c, const MeteredLayerCapConfig *config);
/* A new receiver report from the viewer, its fraction lost (0..1). */
void metered_layer_cap_on_report (MeteredLayerCap *c, double fraction_lost);
/* The policy's decision for a stream of n_layers (1: no layers); sets
 * cap and keyframes_only, TRUE when either changed. */
gboolean metered_layer_cap_decide (MeteredLayerCap *c, guint n_layers,
    guint layer_cap, gboolean keyframes_only);

G_END_DECLS
