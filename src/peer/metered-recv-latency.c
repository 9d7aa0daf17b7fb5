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

#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "metered-recv-latency.h"

#include "metered-jitter-latency.h"

GST_DEBUG_CATEGORY_STATIC (metered_recv_latency_debug);
#define GST_CAT_DEFAULT metered_recv_latency_debug

#define POLL_MS 1000

struct _MeteredRecvLatency
{
  guint fixed_ms; /* read-only after new () */
  gint current_ms; /* atomic */

  /* lock guards jitterbuffers: added from webrtcbin's threads, read on
   * the context thread. Nothing is called out under it. */
  GMutex lock;
  GPtrArray *jitterbuffers; /* GstElement* (references) */

  /* context thread */
  MeteredJitterLatency policy;
  GstElement *pipeline; /* borrowed, to disconnect */
  GstElement *webrtc; /* borrowed */
  GSource *timer;
};

MeteredRecvLatency *
metered_recv_latency_new (guint fixed_ms)
{
  MeteredRecvLatency *rl = g_new0 (MeteredRecvLatency, 1);

  GST_DEBUG_CATEGORY_INIT (metered_recv_latency_debug, "metered-recv-latency",
      0, "jitter-buffer latency of receiving connections");
  rl->fixed_ms = fixed_ms;
  rl->current_ms = fixed_ms ? fixed_ms : METERED_RECV_LATENCY_FLOOR_MS;
  g_mutex_init (&rl->lock);
  rl->jitterbuffers = g_ptr_array_new_with_free_func (gst_object_unref);
  metered_jitter_latency_init (&rl->policy, METERED_RECV_LATENCY_FLOOR_MS,
      METERED_RECV_LATENCY_CEILING_MS);
  return rl;
}

static void
on_deep_element_added (
    GstBin *bin, GstBin *sub, GstElement *element, MeteredRecvLatency *rl)
{
  GstElementFactory *factory = gst_element_get_factory (element);

  if (!factory || !g_str_equal (GST_OBJECT_NAME (factory), "rtpjitterbuffer"))
    return;
  /* rtpbin gives a new jitter buffer webrtcbin's latency, which follows
   * ours: nothing to set here. */
  g_mutex_lock (&rl->lock);
  g_ptr_array_add (rl->jitterbuffers, gst_object_ref (element));
  g_mutex_unlock (&rl->lock);
}

static GPtrArray *
dup_jitterbuffers (MeteredRecvLatency *rl)
{
  GPtrArray *out = g_ptr_array_new_with_free_func (gst_object_unref);

  g_mutex_lock (&rl->lock);
  for (guint i = 0; i < rl->jitterbuffers->len; i++)
    g_ptr_array_add (
        out, gst_object_ref (g_ptr_array_index (rl->jitterbuffers, i)));
  g_mutex_unlock (&rl->lock);
  return out;
}

static gboolean
poll_jitterbuffers (gpointer data)
{
  MeteredRecvLatency *rl = data;
  g_autoptr (GPtrArray) jbs = dup_jitterbuffers (rl);
  guint64 rtt = 0, jitter = 0, requests = 0;
  guint ms;

  for (guint i = 0; i < jbs->len; i++) {
    GstStructure *stats = NULL;
    guint64 v;

    g_object_get (g_ptr_array_index (jbs, i), "stats", &stats, NULL);
    if (!stats)
      continue;
    /* The worst stream sets the pace: all share one transport. */
    if (gst_structure_get_uint64 (stats, "rtx-rtt", &v))
      rtt = MAX (rtt, v);
    if (gst_structure_get_uint64 (stats, "avg-jitter", &v))
      jitter = MAX (jitter, v);
    if (gst_structure_get_uint64 (stats, "rtx-count", &v))
      requests += v;
    gst_structure_free (stats);
  }
  ms = metered_jitter_latency_update (&rl->policy,
      (guint) MIN (rtt / GST_MSECOND, G_MAXUINT),
      (guint) MIN (jitter / GST_MSECOND, G_MAXUINT), requests,
      g_get_monotonic_time ());
  if (ms != (guint) g_atomic_int_get (&rl->current_ms)) {
    GST_INFO ("jitter-buffer latency %u ms (round trip %" G_GUINT64_FORMAT
              " ms, jitter %" G_GUINT64_FORMAT " ms, %" G_GUINT64_FORMAT
              " retransmissions asked)",
        ms, rtt / GST_MSECOND, jitter / GST_MSECOND, requests);
    /* Each posts a LATENCY message: the connection's pipeline
     * redistributes it, the owner reads the new figure with the next
     * buffer. */
    g_object_set (rl->webrtc, "latency", ms, NULL);
    for (guint i = 0; i < jbs->len; i++)
      g_object_set (g_ptr_array_index (jbs, i), "latency", ms, NULL);
    g_atomic_int_set (&rl->current_ms, ms);
  }
  return G_SOURCE_CONTINUE;
}

void
metered_recv_latency_attach (MeteredRecvLatency *rl, GstElement *pipeline,
    GstElement *webrtc, GMainContext *context)
{
  rl->pipeline = pipeline;
  rl->webrtc = webrtc;
  g_object_set (
      webrtc, "latency", (guint) g_atomic_int_get (&rl->current_ms), NULL);
  g_signal_connect (
      pipeline, "deep-element-added", G_CALLBACK (on_deep_element_added), rl);
  if (rl->fixed_ms)
    return;
  rl->timer = g_timeout_source_new (POLL_MS);
  g_source_set_callback (rl->timer, poll_jitterbuffers, rl, NULL);
  g_source_attach (rl->timer, context);
}

static void
stop_timer (MeteredRecvLatency *rl)
{
  if (rl->timer) {
    g_source_destroy (rl->timer);
    g_clear_pointer (&rl->timer, g_source_unref);
  }
}

void
metered_recv_latency_detach (MeteredRecvLatency *rl)
{
  stop_timer (rl);
  if (rl->pipeline)
    g_signal_handlers_disconnect_by_data (rl->pipeline, rl);
  rl->pipeline = rl->webrtc = NULL;
  g_mutex_lock (&rl->lock);
  g_ptr_array_set_size (rl->jitterbuffers, 0);
  g_mutex_unlock (&rl->lock);
}

void
metered_recv_latency_free (MeteredRecvLatency *rl)
{
  if (!rl)
    return;
  stop_timer (rl);
  g_ptr_array_unref (rl->jitterbuffers);
  g_mutex_clear (&rl->lock);
  g_free (rl);
}

guint
metered_recv_latency_get_ms (MeteredRecvLatency *rl)
{
  return rl ? (guint) g_atomic_int_get (&rl->current_ms)
            : METERED_RECV_LATENCY_FLOOR_MS;
}
