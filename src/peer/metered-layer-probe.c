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

#include "metered-layer-probe.h"

#include <gst/video/video.h>

#include "metered-codec.h"
#include "metered-layer-gate.h"
#include "metered-layer-rule.h"

GST_DEBUG_CATEGORY_EXTERN (metered_peer_debug);
#define GST_CAT_DEFAULT metered_peer_debug

/* How often the rule reads the viewer's reports. */
#define SAMPLE_INTERVAL_US G_USEC_PER_SEC
/* At most one key frame asked for per viewer in this time. */
#define KEY_REQUEST_INTERVAL_US G_USEC_PER_SEC

struct _MeteredLayerProbe
{
  MeteredLayerStatsFunc stats_func;
  gpointer stats_data;

  /* lock guards everything below: the streaming thread and set_cap ()
   * (any thread). A leaf: nothing is called with it held. */
  GMutex lock;
  MeteredLayerGate gate;
  MeteredLayerRule rule;
  gboolean rule_ready; /* configured for the codec the first frame showed */
  gboolean layered; /* the rule runs only on layered streams */
  gboolean automatic;
  gint64 last_sample_us; /* -1: none yet */
  guint64 last_packets;
  guint64 last_nacks;
  gint64 last_key_request_us; /* -1: none yet */
};

static void
probe_free (MeteredLayerProbe *p)
{
  g_mutex_clear (&p->lock);
  g_free (p);
}

/* The layer vp8enc tagged the frame with (GstVP8Meta, a custom meta that
 * copies of the buffer keep). */
static void
read_frame (GstBuffer *buf, MeteredLayerFrame *f)
{
  GstCustomMeta *meta = gst_buffer_get_custom_meta (buf, "GstVP8Meta");
  gboolean temporal = FALSE;

  f->keyframe = !GST_BUFFER_FLAG_IS_SET (buf, GST_BUFFER_FLAG_DELTA_UNIT);
  f->has_layer = FALSE;
  f->layer_id = 0;
  f->layer_sync = FALSE;
  if (meta) {
    GstStructure *s = gst_custom_meta_get_structure (meta);
    guint id = 0;

    if (gst_structure_get_boolean (s, "use-temporal-scaling", &temporal) &&
        temporal && gst_structure_get_uint (s, "layer-id", &id)) {
      f->has_layer = TRUE;
      f->layer_id = id;
      gst_structure_get_boolean (s, "layer-sync", &f->layer_sync);
    }
  }
}

static void
apply_rule (MeteredLayerProbe *p)
{
  metered_layer_gate_set_cap (&p->gate,
      p->rule.config.n_layers == 1 ? METERED_LAYER_ALL : p->rule.cap,
      p->rule.keyframes_only);
}

/* Once a second, the rule over what the viewer reported (lock held; the
 * figures are read before taking it). */
static void
sample (MeteredLayerProbe *p, double lost, guint64 packets, guint64 nacks,
    gint64 now)
{
  MeteredLayerSample s;

  s.fraction_lost = lost;
  s.packets_sent = packets >= p->last_packets ? packets - p->last_packets : 0;
  s.nacks_received = nacks >= p->last_nacks ? nacks - p->last_nacks : 0;
  p->last_packets = packets;
  p->last_nacks = nacks;
  if (p->automatic && metered_layer_rule_update (&p->rule, &s, now)) {
    GST_INFO ("viewer's layer cap %u%s (loss %.1f %%)", p->rule.cap,
        p->rule.keyframes_only ? ", key frames only" : "",
        100 * metered_layer_rule_sample_loss (&s));
    apply_rule (p);
  }
}

static GstPadProbeReturn
on_buffer (GstPad *pad, GstPadProbeInfo *info, gpointer data)
{
  MeteredLayerProbe *p = data;
  GstBuffer *buf = GST_PAD_PROBE_INFO_BUFFER (info);
  MeteredLayerFrame f;
  gboolean pass, ask_key = FALSE, due;
  gint64 now = g_get_monotonic_time ();
  double lost = -1;
  guint64 packets = 0, nacks = 0;

  read_frame (buf, &f);
  g_mutex_lock (&p->lock);
  due =
      p->automatic && p->stats_func &&
      (p->last_sample_us < 0 || now - p->last_sample_us >= SAMPLE_INTERVAL_US);
  if (due)
    p->last_sample_us = now;
  g_mutex_unlock (&p->lock);
  /* Outside our lock: it reads webrtcbin's session. */
  if (due)
    p->stats_func (p->stats_data, &lost, &packets, &nacks);

  g_mutex_lock (&p->lock);
  if (!p->rule_ready) {
    MeteredLayerRuleConfig config = METERED_LAYER_RULE_CONFIG_DEFAULT;

    /* Without layers the one lever left is key frames only: a near stall,
     * left to the rate policy's estimate (set_cap ()). One report after
     * a network cut shows heavy loss; a layer less costs little, key
     * frames only for 10 s would freeze the viewer. */
    config.n_layers = f.has_layer ? METERED_CODEC_MAX_TEMPORAL_LAYERS : 1;
    metered_layer_rule_init (&p->rule, &config);
    p->rule_ready = TRUE;
    p->layered = f.has_layer;
  }
  if (due && p->layered)
    sample (p, lost, packets, nacks, now);
  pass = metered_layer_gate_pass (&p->gate, &f);
  if (p->gate.need_key &&
      (p->last_key_request_us < 0 ||
          now - p->last_key_request_us >= KEY_REQUEST_INTERVAL_US)) {
    p->last_key_request_us = now;
    ask_key = TRUE;
  }
  g_mutex_unlock (&p->lock);

  /* As a viewer's PLI arrives: the connection's upstream-event probe on
   * this pad hands it to the shared encoder, which coalesces requests. */
  if (ask_key)
    gst_pad_send_event (pad, gst_video_event_new_upstream_force_key_unit (
                                 GST_CLOCK_TIME_NONE, TRUE, 0));
  return pass ? GST_PAD_PROBE_OK : GST_PAD_PROBE_DROP;
}

MeteredLayerProbe *
metered_layer_probe_attach (
    GstPad *pad, MeteredLayerStatsFunc stats_func, gpointer stats_data)
{
  MeteredLayerProbe *p = g_new0 (MeteredLayerProbe, 1);

  p->stats_func = stats_func;
  p->stats_data = stats_data;
  g_mutex_init (&p->lock);
  metered_layer_gate_init (&p->gate);
  p->automatic = TRUE;
  p->last_sample_us = -1;
  p->last_key_request_us = -1;
  gst_pad_add_probe (pad, GST_PAD_PROBE_TYPE_BUFFER, on_buffer, p,
      (GDestroyNotify) probe_free);
  return p;
}

void
metered_layer_probe_set_cap (
    MeteredLayerProbe *p, gint cap, gboolean keyframes_only)
{
  g_mutex_lock (&p->lock);
  p->automatic = cap < 0;
  if (cap >= 0)
    metered_layer_gate_set_cap (&p->gate, (guint) cap, keyframes_only);
  else if (p->rule_ready)
    apply_rule (p);
  else
    metered_layer_gate_set_cap (&p->gate, METERED_LAYER_ALL, FALSE);
  g_mutex_unlock (&p->lock);
}

void
metered_layer_probe_get (MeteredLayerProbe *p, gint *sending,
    gboolean *keyframes_only, guint64 *dropped)
{
  g_mutex_lock (&p->lock);
  if (sending)
    *sending =
        p->gate.sending == METERED_LAYER_ALL ? -1 : (gint) p->gate.sending;
  if (keyframes_only)
    *keyframes_only = p->gate.sending_keyframes_only;
  if (dropped)
    *dropped = p->gate.dropped;
  g_mutex_unlock (&p->lock);
}
