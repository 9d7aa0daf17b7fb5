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

#include "metered-twcc.h"

#include <gst/rtp/rtp.h>

GST_DEBUG_CATEGORY_EXTERN (metered_peer_debug);
#define GST_CAT_DEFAULT metered_peer_debug

/* At 10 messages a second (libwebrtc's default interval is 100 ms) and a
 * round a second, 64 is room for a round that comes six seconds late; a
 * queue nobody takes from (adaptive-bitrate off) stays this short. */
#define QUEUE_MAX 64

gboolean
metered_twcc_add_extension (GstElement *pay, GstCaps *caps, guint id)
{
  GstRTPHeaderExtension *ext =
      gst_rtp_header_extension_create_from_uri (METERED_TWCC_URI);
  g_autofree char *field = NULL;

  if (!ext) {
    GST_WARNING ("no rtphdrexttwcc: transport-wide-cc is not offered");
    return FALSE;
  }
  GST_DEBUG_OBJECT (pay, "transport-wide-cc as extension %u", id);
  gst_rtp_header_extension_set_id (ext, id);
  g_signal_emit_by_name (pay, "add-extension", ext);
  gst_object_unref (ext);
  field = g_strdup_printf ("extmap-%u", id);
  gst_caps_set_simple (caps, field, G_TYPE_STRING, METERED_TWCC_URI,
      "rtcp-fb-transport-cc", G_TYPE_BOOLEAN, TRUE, NULL);
  return TRUE;
}

void
metered_twcc_feedback_free (MeteredTwccFeedback *feedback)
{
  if (!feedback)
    return;
  g_array_unref (feedback->packets);
  g_free (feedback);
}

/* A time of the event in µs; -1 when it is absent or NONE. */
static gint64
clock_time_us (const GstStructure *s, const char *field)
{
  GstClockTime t = GST_CLOCK_TIME_NONE;

  if (!gst_structure_get_clock_time (s, field, &t) ||
      !GST_CLOCK_TIME_IS_VALID (t))
    return -1;
  return (gint64) (t / GST_USECOND);
}

/* rtpsession hands the packets over as a GValueArray (deprecated, but
 * what 1.22 sends): its n-th value, or NULL past its end. */
G_GNUC_BEGIN_IGNORE_DEPRECATIONS
static const GValue *
packets_nth (const GValue *packets, guint i)
{
  GValueArray *array;

  if (!G_VALUE_HOLDS (packets, g_value_array_get_type ()))
    return NULL;
  array = g_value_get_boxed (packets);
  return array && i < array->n_values ? g_value_array_get_nth (array, i) : NULL;
}
G_GNUC_END_IGNORE_DEPRECATIONS

MeteredTwccFeedback *
metered_twcc_feedback_parse (const GstStructure *s, gint64 now_us)
{
  const GValue *packets, *v;
  MeteredTwccFeedback *feedback;

  if (!gst_structure_has_name (s, "RTPTWCCPackets"))
    return NULL;
  packets = gst_structure_get_value (s, "packets");
  if (!packets)
    return NULL;
  feedback = g_new0 (MeteredTwccFeedback, 1);
  feedback->now_us = now_us;
  feedback->packets = g_array_new (FALSE, FALSE, sizeof (MeteredRatePacket));
  for (guint i = 0; (v = packets_nth (packets, i)); i++) {
    const GstStructure *pkt;
    MeteredRatePacket p = { 0 };
    gboolean lost = FALSE;
    guint size = 0;

    if (!GST_VALUE_HOLDS_STRUCTURE (v))
      continue;
    pkt = gst_value_get_structure (v);
    p.send_us = clock_time_us (pkt, "local-ts");
    /* a packet rtpsession no longer knows it sent tells us nothing */
    if (p.send_us < 0)
      continue;
    gst_structure_get_boolean (pkt, "lost", &lost);
    gst_structure_get_uint (pkt, "size", &size);
    p.arrival_us = clock_time_us (pkt, "remote-ts");
    p.lost = lost || p.arrival_us < 0;
    p.size = size;
    g_array_append_val (feedback->packets, p);
  }
  if (feedback->packets->len == 0) {
    metered_twcc_feedback_free (feedback);
    return NULL;
  }
  return feedback;
}

MeteredTwccQueue *
metered_twcc_queue_new (void)
{
  MeteredTwccQueue *queue = g_new0 (MeteredTwccQueue, 1);

  g_mutex_init (&queue->lock);
  queue->pending = g_ptr_array_new_with_free_func (
      (GDestroyNotify) metered_twcc_feedback_free);
  return queue;
}

void
metered_twcc_queue_free (MeteredTwccQueue *queue)
{
  if (!queue)
    return;
  g_ptr_array_unref (queue->pending);
  g_mutex_clear (&queue->lock);
  g_free (queue);
}

static GstPadProbeReturn
on_twcc_event (GstPad *pad, GstPadProbeInfo *info, gpointer data)
{
  MeteredTwccQueue *queue = data;
  GstEvent *event = GST_PAD_PROBE_INFO_EVENT (info);
  const GstStructure *s;
  MeteredTwccFeedback *feedback;

  if (GST_EVENT_TYPE (event) != GST_EVENT_CUSTOM_UPSTREAM)
    return GST_PAD_PROBE_OK;
  s = gst_event_get_structure (event);
  if (!s ||
      !(feedback = metered_twcc_feedback_parse (s, g_get_monotonic_time ())))
    return GST_PAD_PROBE_OK;
  g_mutex_lock (&queue->lock);
  if (queue->pending->len >= QUEUE_MAX)
    g_ptr_array_remove_index (queue->pending, 0);
  g_ptr_array_add (queue->pending, feedback);
  queue->received++;
  g_mutex_unlock (&queue->lock);
  return GST_PAD_PROBE_OK;
}

void
metered_twcc_queue_attach (MeteredTwccQueue *queue, GstPad *pad)
{
  gst_pad_add_probe (
      pad, GST_PAD_PROBE_TYPE_EVENT_UPSTREAM, on_twcc_event, queue, NULL);
}

GPtrArray *
metered_twcc_queue_take (MeteredTwccQueue *queue, guint64 *received)
{
  GPtrArray *out = g_ptr_array_new_with_free_func (
      (GDestroyNotify) metered_twcc_feedback_free);

  g_mutex_lock (&queue->lock);
  for (guint i = 0; i < queue->pending->len; i++)
    g_ptr_array_add (out, g_ptr_array_steal_index (queue->pending, i--));
  if (received)
    *received = queue->received;
  g_mutex_unlock (&queue->lock);
  return out;
}

void
metered_twcc_feedback_take_free (MeteredTwccTake *take)
{
  if (!take)
    return;
  if (take->feedback)
    g_ptr_array_unref (take->feedback);
  g_free (take);
}
