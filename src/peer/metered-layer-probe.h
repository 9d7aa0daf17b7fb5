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

#include <gst/gst.h>

G_BEGIN_DECLS

/*
 * A viewer's frame gate (metered-layer-gate.h) on the src pad of its
 * send branch's appsrc, before its payloader: frames above the viewer's
 * temporal-layer cap never reach it, so its picture IDs, TL0PICIDX and
 * sequence numbers stay contiguous for what it gets. The cap comes from
 * metered_layer_probe_set_cap () (the rate policy) or, while that is
 * automatic and the stream has temporal layers, from the viewer's
 * receiver reports once a second (metered-layer-rule.h), read with
 * stats_func on the streaming thread. Key frames only, for streams
 * without layers, is set_cap ()'s alone.
 */

typedef struct _MeteredLayerProbe MeteredLayerProbe;

/* Fills fraction lost (0..1, < 0 without a report), and the cumulative
 * packets sent and NACKs received; any thread. */
typedef void (*MeteredLayerStatsFunc) (gpointer data, double *fraction_lost,
    guint64 *packets_sent, guint64 *nacks_received);

/* Attaches to pad (an appsrc's src pad); the probe lives as long as the
 * pad. stats_data must outlive the pad's streaming. */
MeteredLayerProbe *metered_layer_probe_attach (
    GstPad *pad, MeteredLayerStatsFunc stats_func, gpointer stats_data);

/* cap: the highest temporal layer to send (0 = the base), < 0: back to
 * the automatic rule; keyframes_only for codecs without layers. Any
 * thread. */
void metered_layer_probe_set_cap (
    MeteredLayerProbe *probe, gint cap, gboolean keyframes_only);

/* What the viewer is sent now: its highest layer (-1: every layer) and
 * frames dropped so far. Any thread. */
void metered_layer_probe_get (MeteredLayerProbe *probe, gint *sending,
    gboolean *keyframes_only, guint64 *dropped);

G_END_DECLS
