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

/* metered-twcc.c's reading of rtpsession's RTPTWCCPackets event, and the
 * extension id an answer must keep (metered_sdp_extmap_id). No network. */

#include "peer/metered-sdp.h"
#include "peer/metered-twcc.h"

#include <gst/gst.h>

#define US(x) ((GstClockTime) (x) *GST_USECOND)

static const char chromium_offer[] =
    "v=0\r\n"
    "o=- 7705585275567730684 2 IN IP4 127.0.0.1\r\n"
    "s=-\r\n"
    "t=0 0\r\n"
    "m=audio 9 UDP/TLS/RTP/SAVPF 111\r\n"
    "c=IN IP4 0.0.0.0\r\n"
    "a=mid:0\r\n"
    "a=extmap:1 urn:ietf:params:rtp-hdrext:ssrc-audio-level\r\n"
    "a=extmap:3 " METERED_TWCC_URI "\r\n"
    "a=sendrecv\r\n"
    "m=video 9 UDP/TLS/RTP/SAVPF 96\r\n"
    "c=IN IP4 0.0.0.0\r\n"
    "a=mid:1\r\n"
    "a=extmap:14 urn:ietf:params:rtp-hdrext:toffset\r\n"
    "a=extmap:3 " METERED_TWCC_URI "\r\n"
    "a=sendrecv\r\n";

static char *
offer_with (const char *extmap)
{
  return g_strdup_printf ("v=0\r\n"
                          "o=- 1 2 IN IP4 127.0.0.1\r\n"
                          "s=-\r\n"
                          "t=0 0\r\n"
                          "m=video 9 UDP/TLS/RTP/SAVPF 96\r\n"
                          "c=IN IP4 0.0.0.0\r\n"
                          "a=mid:0\r\n"
                          "%s"
                          "a=sendrecv\r\n",
      extmap);
}

static void
test_extmap_id (void)
{
  g_autofree char *direction =
      offer_with ("a=extmap:7/sendrecv " METERED_TWCC_URI "\r\n");
  g_autofree char *attributes =
      offer_with ("a=extmap:12 " METERED_TWCC_URI " extra\r\n");
  g_autofree char *other =
      offer_with ("a=extmap:3 http://www.webrtc.org/experiments/rtp-hdrext/"
                  "abs-send-time\r\n");
  g_autofree char *prefix =
      offer_with ("a=extmap:4 " METERED_TWCC_URI "-02\r\n");
  g_autofree char *bad_id = offer_with ("a=extmap:0 " METERED_TWCC_URI "\r\n"
                                        "a=extmap:x " METERED_TWCC_URI "\r\n");

  g_assert_cmpint (
      metered_sdp_extmap_id (chromium_offer, METERED_TWCC_URI), ==, 3);
  g_assert_cmpint (
      metered_sdp_extmap_id (chromium_offer, "urn:ietf:params:rtp-hdrext:"
                                             "toffset"),
      ==, 14);
  g_assert_cmpint (metered_sdp_extmap_id (direction, METERED_TWCC_URI), ==, 7);
  g_assert_cmpint (
      metered_sdp_extmap_id (attributes, METERED_TWCC_URI), ==, 12);
  g_assert_cmpint (metered_sdp_extmap_id (other, METERED_TWCC_URI), ==, -1);
  g_assert_cmpint (metered_sdp_extmap_id (prefix, METERED_TWCC_URI), ==, -1);
  g_assert_cmpint (metered_sdp_extmap_id (bad_id, METERED_TWCC_URI), ==, -1);
  g_assert_cmpint (metered_sdp_extmap_id ("garbage", METERED_TWCC_URI), ==, -1);
  g_assert_cmpint (metered_sdp_extmap_id (chromium_offer, NULL), ==, -1);
}

/* One packet as 1.22's rtptwcc.c lists it (remote-ts NONE when lost). */
static void
append_packet (GValueArray *array, guint seqnum, GstClockTime local,
    GstClockTime remote, guint size, gboolean lost)
{
  GValue v = G_VALUE_INIT;

  g_value_init (&v, GST_TYPE_STRUCTURE);
  g_value_take_boxed (&v,
      gst_structure_new ("RTPTWCCPacket", "seqnum", G_TYPE_UINT, seqnum,
          "local-ts", G_TYPE_UINT64, local, "remote-ts", G_TYPE_UINT64, remote,
          "size", G_TYPE_UINT, size, "lost", G_TYPE_BOOLEAN, lost, NULL));
  G_GNUC_BEGIN_IGNORE_DEPRECATIONS
  g_value_array_append (array, &v);
  G_GNUC_END_IGNORE_DEPRECATIONS
  g_value_unset (&v);
}

static GstStructure *
packets_event (GValueArray *array)
{
  GstStructure *s = gst_structure_new_empty ("RTPTWCCPackets");
  GValue v = G_VALUE_INIT;

  G_GNUC_BEGIN_IGNORE_DEPRECATIONS
  g_value_init (&v, g_value_array_get_type ());
  G_GNUC_END_IGNORE_DEPRECATIONS
  g_value_take_boxed (&v, array);
  gst_structure_take_value (s, "packets", &v);
  return s;
}

static void
test_feedback_parse (void)
{
  G_GNUC_BEGIN_IGNORE_DEPRECATIONS
  GValueArray *array = g_value_array_new (4);
  G_GNUC_END_IGNORE_DEPRECATIONS
  GstStructure *s, *other;
  MeteredTwccFeedback *f;
  const MeteredRatePacket *p;

  append_packet (array, 10, US (1000), US (501000), 1200, FALSE);
  append_packet (array, 11, US (2000), GST_CLOCK_TIME_NONE, 1100, TRUE);
  /* what rtpsession no longer knows it sent: skipped */
  append_packet (array, 12, GST_CLOCK_TIME_NONE, GST_CLOCK_TIME_NONE, 0, FALSE);
  /* a NONE arrival counts as lost whatever the flag says */
  append_packet (array, 13, US (4000), GST_CLOCK_TIME_NONE, 900, FALSE);
  s = packets_event (array);

  f = metered_twcc_feedback_parse (s, 42);
  g_assert_nonnull (f);
  g_assert_cmpint (f->now_us, ==, 42);
  g_assert_cmpuint (f->packets->len, ==, 3);
  p = &g_array_index (f->packets, MeteredRatePacket, 0);
  g_assert_cmpint (p->send_us, ==, 1000);
  g_assert_cmpint (p->arrival_us, ==, 501000);
  g_assert_cmpuint (p->size, ==, 1200);
  g_assert_false (p->lost);
  p = &g_array_index (f->packets, MeteredRatePacket, 1);
  g_assert_cmpint (p->send_us, ==, 2000);
  g_assert_true (p->lost);
  p = &g_array_index (f->packets, MeteredRatePacket, 2);
  g_assert_cmpint (p->send_us, ==, 4000);
  g_assert_true (p->lost);
  metered_twcc_feedback_free (f);
  gst_structure_free (s);

  /* not feedback, or feedback with nothing usable: nothing */
  other = gst_structure_new (
      "GstForceKeyUnit", "all-headers", G_TYPE_BOOLEAN, TRUE, NULL);
  g_assert_null (metered_twcc_feedback_parse (other, 1));
  gst_structure_free (other);
  other = gst_structure_new (
      "RTPTWCCPackets", "packets", G_TYPE_STRING, "not an array", NULL);
  g_assert_null (metered_twcc_feedback_parse (other, 1));
  gst_structure_free (other);
  G_GNUC_BEGIN_IGNORE_DEPRECATIONS
  s = packets_event (g_value_array_new (0));
  G_GNUC_END_IGNORE_DEPRECATIONS
  g_assert_null (metered_twcc_feedback_parse (s, 1));
  gst_structure_free (s);
}

/* The queue keeps the newest messages when nobody takes them, in order. */
static void
test_queue_bounded (void)
{
  MeteredTwccQueue *queue = metered_twcc_queue_new ();
  GstElement *identity = gst_element_factory_make ("identity", NULL);
  GstPad *src = gst_element_get_static_pad (identity, "src");
  g_autoptr (GPtrArray) taken = NULL;
  guint64 received = 0;

  metered_twcc_queue_attach (queue, src);
  gst_pad_set_active (src, TRUE);
  for (guint i = 0; i < 100; i++) {
    G_GNUC_BEGIN_IGNORE_DEPRECATIONS
    GValueArray *array = g_value_array_new (1);
    G_GNUC_END_IGNORE_DEPRECATIONS
    append_packet (array, i, US (i + 1), US (i + 1), 1000, FALSE);
    gst_pad_send_event (src, gst_event_new_custom (GST_EVENT_CUSTOM_UPSTREAM,
                                 packets_event (array)));
  }
  taken = metered_twcc_queue_take (queue, &received);
  g_assert_cmpuint (received, ==, 100);
  g_assert_cmpuint (taken->len, <, 100);
  g_assert_cmpuint (taken->len, >=, 10);
  for (guint i = 0; i < taken->len; i++) {
    MeteredTwccFeedback *f = g_ptr_array_index (taken, i);
    g_assert_cmpint (g_array_index (f->packets, MeteredRatePacket, 0).send_us,
        ==, 100 - taken->len + i + 1);
  }
  g_ptr_array_unref (g_steal_pointer (&taken));
  taken = metered_twcc_queue_take (queue, &received);
  g_assert_cmpuint (taken->len, ==, 0);
  g_assert_cmpuint (received, ==, 100);

  gst_pad_set_active (src, FALSE);
  gst_object_unref (src);
  gst_object_unref (identity);
  metered_twcc_queue_free (queue);
}

int
main (int argc, char **argv)
{
  gst_init (&argc, &argv);
  g_test_init (&argc, &argv, NULL);
  g_log_set_always_fatal (G_LOG_LEVEL_CRITICAL | G_LOG_LEVEL_WARNING);
  g_test_add_func ("/twcc/extmap-id", test_extmap_id);
  g_test_add_func ("/twcc/feedback-parse", test_feedback_parse);
  g_test_add_func ("/twcc/queue-bounded", test_queue_bounded);
  return g_test_run ();
}
