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

/* GstHarness tests of GstMeteredPadBridge, the src pad that outlives the
 * connections feeding it: no network, time driven by a GstTestClock. */

#include "gstmeteredpadbridge.h"

#include <gst/check/gstcheck.h>
#include <gst/check/gstharness.h>
#include <gst/check/gsttestclock.h>

#define MS GST_MSECOND

static gint key_requests; /* atomic */
static gint eos_calls; /* atomic */

static void
count_key_request (GstMeteredPadBridge *bridge, gpointer data)
{
  g_atomic_int_inc (&key_requests);
}

static void
count_eos (GstMeteredPadBridge *bridge, gpointer data)
{
  g_atomic_int_inc (&eos_calls);
}

static GstCaps *
vp8_caps (gint width)
{
  return gst_caps_new_simple ("video/x-vp8", "width", G_TYPE_INT, width,
      "height", G_TYPE_INT, width * 3 / 4, NULL);
}

static GstBuffer *
frame (GstClockTime pts, gboolean key)
{
  GstBuffer *buf = gst_buffer_new_allocate (NULL, 16, NULL);

  GST_BUFFER_PTS (buf) = pts;
  GST_BUFFER_DTS (buf) = pts;
  if (!key)
    GST_BUFFER_FLAG_SET (buf, GST_BUFFER_FLAG_DELTA_UNIT);
  return buf;
}

/* Pushes one frame of the current source; TRUE if the bridge took it. */
static gboolean
feed (
    GstMeteredPadBridge *bridge, GstCaps *caps, GstClockTime pts, gboolean key)
{
  GstBuffer *buf = frame (pts, key);
  gboolean taken = gst_metered_pad_bridge_push (bridge, caps, buf);

  gst_buffer_unref (buf);
  return taken;
}

static GstHarness *
setup (GstMeteredPadBridge **bridge_out, gboolean testclock)
{
  GstMeteredPadBridge *bridge = gst_metered_pad_bridge_new ("bridge");
  GstHarness *h;

  g_atomic_int_set (&key_requests, 0);
  g_atomic_int_set (&eos_calls, 0);
  gst_metered_pad_bridge_set_key_unit_func (
      bridge, count_key_request, NULL, NULL);
  gst_metered_pad_bridge_set_eos_func (bridge, count_eos, NULL, NULL);
  g_object_set (bridge, "latency", (guint64) 0, NULL);
  h = gst_harness_new_with_element (GST_ELEMENT (bridge), NULL, "src");
  if (testclock)
    gst_harness_use_testclock (h);
  gst_harness_play (h);
  *bridge_out = bridge;
  return h;
}

static void
teardown (GstHarness *h, GstMeteredPadBridge *bridge)
{
  gst_harness_teardown (h);
  gst_object_unref (bridge);
}

/* Every event that reached the harness so far, of one type. */
static guint
count_events (GstHarness *h, GstEventType type, GList **keep)
{
  GstEvent *ev;
  guint n = 0;

  while ((ev = gst_harness_try_pull_event (h))) {
    if (GST_EVENT_TYPE (ev) == type) {
      n++;
      if (keep) {
        *keep = g_list_append (*keep, ev);
        continue;
      }
    }
    fail_if (GST_EVENT_TYPE (ev) == GST_EVENT_EOS, "unexpected EOS");
    fail_if (GST_EVENT_TYPE (ev) == GST_EVENT_FLUSH_START, "unexpected flush");
    fail_if (GST_EVENT_TYPE (ev) == GST_EVENT_FLUSH_STOP, "unexpected flush");
    gst_event_unref (ev);
  }
  return n;
}

GST_START_TEST (test_first_source)
{
  GstMeteredPadBridge *bridge;
  GstHarness *h = setup (&bridge, FALSE);
  g_autoptr (GstCaps) caps = vp8_caps (320);
  GstBuffer *out;
  GstEvent *ev;

  gst_metered_pad_bridge_new_source (bridge);
  /* Delta units before the first key unit are useless to a decoder. */
  fail_if (feed (bridge, caps, 0, FALSE));
  fail_unless_equals_int (g_atomic_int_get (&key_requests), 1);
  fail_unless (feed (bridge, caps, 33 * MS, TRUE));
  fail_unless (feed (bridge, caps, 66 * MS, FALSE));

  out = gst_harness_pull (h);
  fail_unless_equals_uint64 (GST_BUFFER_PTS (out), 33 * MS);
  fail_if (GST_BUFFER_FLAG_IS_SET (out, GST_BUFFER_FLAG_DELTA_UNIT));
  gst_buffer_unref (out);
  out = gst_harness_pull (h);
  fail_unless_equals_uint64 (GST_BUFFER_PTS (out), 66 * MS);
  gst_buffer_unref (out);

  /* stream-start, caps, segment: in that order, once. */
  ev = gst_harness_pull_event (h);
  fail_unless_equals_int (GST_EVENT_TYPE (ev), GST_EVENT_STREAM_START);
  gst_event_unref (ev);
  ev = gst_harness_pull_event (h);
  fail_unless_equals_int (GST_EVENT_TYPE (ev), GST_EVENT_CAPS);
  gst_event_unref (ev);
  ev = gst_harness_pull_event (h);
  fail_unless_equals_int (GST_EVENT_TYPE (ev), GST_EVENT_SEGMENT);
  gst_event_unref (ev);
  fail_unless (gst_harness_try_pull_event (h) == NULL);

  teardown (h, bridge);
}

GST_END_TEST;

/* The swap: a second source takes over mid-stream. */
GST_START_TEST (test_swap_mid_stream)
{
  GstMeteredPadBridge *bridge;
  GstHarness *h = setup (&bridge, FALSE);
  g_autoptr (GstCaps) caps_a = vp8_caps (320);
  g_autoptr (GstCaps) caps_b = vp8_caps (640);
  GstClockTime expected[] = { 0, 33 * MS, 66 * MS, 66 * MS, 150 * MS,
    183 * MS };
  gboolean discont[] = { TRUE, FALSE, FALSE, TRUE, FALSE, FALSE };
  GstClockTime last = 0;
  guint i;

  gst_metered_pad_bridge_new_source (bridge);
  fail_unless (feed (bridge, caps_a, 0, TRUE));
  fail_unless (feed (bridge, caps_a, 33 * MS, FALSE));
  fail_unless (feed (bridge, caps_a, 66 * MS, FALSE));

  /* Source B: its first units are deltas (dropped, one key unit request
   * at once, no second request within the second), then a key unit
   * stamped before A's last buffer (clamped), then it runs on. */
  gst_metered_pad_bridge_new_source (bridge);
  g_atomic_int_set (&key_requests, 0);
  fail_if (feed (bridge, caps_b, 100 * MS, FALSE));
  fail_if (feed (bridge, caps_b, 116 * MS, FALSE));
  fail_unless_equals_int (g_atomic_int_get (&key_requests), 1);
  fail_unless (feed (bridge, caps_b, 50 * MS, TRUE));
  fail_unless (feed (bridge, caps_b, 150 * MS, FALSE));
  fail_unless (feed (bridge, caps_b, 183 * MS, FALSE));

  for (i = 0; i < G_N_ELEMENTS (expected); i++) {
    GstBuffer *out = gst_harness_pull (h);

    fail_unless_equals_uint64 (GST_BUFFER_PTS (out), expected[i]);
    fail_unless (GST_BUFFER_PTS (out) >= last, "PTS went backwards");
    fail_unless (GST_BUFFER_DTS (out) <= GST_BUFFER_PTS (out));
    last = GST_BUFFER_PTS (out);
    fail_unless_equals_int (
        GST_BUFFER_FLAG_IS_SET (out, GST_BUFFER_FLAG_DISCONT), discont[i]);
    if (i == 3)
      fail_if (GST_BUFFER_FLAG_IS_SET (out, GST_BUFFER_FLAG_DELTA_UNIT),
          "the first buffer after the swap must be a key unit");
    gst_buffer_unref (out);
  }

  /* Same codec, another resolution: no caps renegotiation; no EOS, no
   * flush (count_events fails on those). */
  fail_unless_equals_int (count_events (h, GST_EVENT_CAPS, NULL), 1);
  fail_unless (gst_harness_buffers_in_queue (h) == 0);

  teardown (h, bridge);
}

GST_END_TEST;

/* A real codec change is the one thing that renegotiates. */
GST_START_TEST (test_codec_change)
{
  GstMeteredPadBridge *bridge;
  GstHarness *h = setup (&bridge, FALSE);
  g_autoptr (GstCaps) vp8 = vp8_caps (320);
  g_autoptr (GstCaps) h264 = gst_caps_new_simple ("video/x-h264",
      "stream-format", G_TYPE_STRING, "avc", "alignment", G_TYPE_STRING, "au",
      "width", G_TYPE_INT, 320, "height", G_TYPE_INT, 240, NULL);
  g_autoptr (GstCaps) h264_other = gst_caps_copy (h264);
  GList *caps_events = NULL;
  GstCaps *caps;

  gst_caps_set_simple (h264_other, "profile", G_TYPE_STRING, "high", NULL);
  gst_metered_pad_bridge_new_source (bridge);
  fail_unless (feed (bridge, vp8, 0, TRUE));
  gst_buffer_unref (gst_harness_pull (h));
  gst_metered_pad_bridge_new_source (bridge);
  fail_unless (feed (bridge, h264, 40 * MS, TRUE));
  gst_buffer_unref (gst_harness_pull (h));
  gst_metered_pad_bridge_new_source (bridge);
  fail_unless (feed (bridge, h264_other, 80 * MS, TRUE));
  gst_buffer_unref (gst_harness_pull (h));

  fail_unless_equals_int (count_events (h, GST_EVENT_CAPS, &caps_events), 2);
  gst_event_parse_caps (g_list_nth_data (caps_events, 0), &caps);
  fail_unless (gst_caps_is_equal (caps, vp8));
  gst_event_parse_caps (g_list_nth_data (caps_events, 1), &caps);
  fail_unless (gst_caps_is_equal (caps, h264));
  g_list_free_full (caps_events, (GDestroyNotify) gst_event_unref);

  fail_unless (gst_metered_pad_bridge_same_codec (h264, h264_other));
  fail_if (gst_metered_pad_bridge_same_codec (vp8, h264));
  teardown (h, bridge);
}

GST_END_TEST;

static void
check_gap (GstHarness *h, GstClockTime start, GstClockTime duration)
{
  GstEvent *ev;
  GstClockTime ts, dur;

  while ((ev = gst_harness_pull_event (h)) &&
         GST_EVENT_TYPE (ev) != GST_EVENT_GAP) {
    fail_if (GST_EVENT_TYPE (ev) == GST_EVENT_EOS, "unexpected EOS");
    gst_event_unref (ev);
  }
  fail_unless (ev != NULL);
  gst_event_parse_gap (ev, &ts, &dur);
  fail_unless_equals_uint64 (ts, start);
  fail_unless_equals_uint64 (dur, duration);
  gst_event_unref (ev);
}

/* A kept pad whose peer left: GAP events every gap-timeout, contiguous,
 * then the returning source goes on after them with DISCONT. */
GST_START_TEST (test_gap_while_kept)
{
  GstMeteredPadBridge *bridge;
  GstHarness *h = setup (&bridge, TRUE);
  g_autoptr (GstCaps) caps = vp8_caps (320);
  GstBuffer *out;

  g_object_set (bridge, "gap-timeout", (guint64) GST_SECOND, NULL);
  gst_metered_pad_bridge_new_source (bridge);
  fail_unless (feed (bridge, caps, 0, TRUE));
  gst_buffer_unref (gst_harness_pull (h));

  gst_metered_pad_bridge_source_lost (bridge);
  fail_unless (gst_harness_crank_single_clock_wait (h));
  check_gap (h, 0, GST_SECOND);
  fail_unless (gst_harness_crank_single_clock_wait (h));
  check_gap (h, GST_SECOND, GST_SECOND);
  fail_unless (gst_harness_crank_single_clock_wait (h));
  check_gap (h, 2 * GST_SECOND, GST_SECOND);

  /* The peer returns: a new source, starting with a delta unit (dropped)
   * and a key unit stamped inside the last GAP (clamped to its end). */
  gst_metered_pad_bridge_new_source (bridge);
  fail_if (feed (bridge, caps, 3200 * MS, FALSE));
  fail_unless (feed (bridge, caps, 2500 * MS, TRUE));
  fail_unless (feed (bridge, caps, 3300 * MS, FALSE));
  out = gst_harness_pull (h);
  fail_unless_equals_uint64 (GST_BUFFER_PTS (out), 3 * GST_SECOND);
  fail_unless (GST_BUFFER_FLAG_IS_SET (out, GST_BUFFER_FLAG_DISCONT));
  gst_buffer_unref (out);
  out = gst_harness_pull (h);
  fail_unless_equals_uint64 (GST_BUFFER_PTS (out), 3300 * MS);
  fail_if (GST_BUFFER_FLAG_IS_SET (out, GST_BUFFER_FLAG_DISCONT));
  gst_buffer_unref (out);
  count_events (h, GST_EVENT_GAP, NULL);

  teardown (h, bridge);
}

GST_END_TEST;

/* The same source comes back after a GAP with data lost (its next delta
 * unit is DISCONT): its deltas wait for a key unit. A lull without loss
 * (no DISCONT) passes as is. */
GST_START_TEST (test_loss_over_gap)
{
  GstMeteredPadBridge *bridge;
  GstHarness *h = setup (&bridge, TRUE);
  g_autoptr (GstCaps) caps = vp8_caps (320);
  GstBuffer *buf, *out;

  g_object_set (bridge, "gap-timeout", (guint64) GST_SECOND, NULL);
  gst_metered_pad_bridge_new_source (bridge);
  fail_unless (feed (bridge, caps, 0, TRUE));
  gst_buffer_unref (gst_harness_pull (h));

  /* A lull: GAP, then a plain delta unit goes through. */
  fail_unless (gst_harness_crank_single_clock_wait (h));
  check_gap (h, 0, GST_SECOND);
  fail_unless (feed (bridge, caps, 1100 * MS, FALSE));
  out = gst_harness_pull (h);
  fail_unless (GST_BUFFER_FLAG_IS_SET (out, GST_BUFFER_FLAG_DISCONT));
  gst_buffer_unref (out);

  /* Loss over a gap: dropped until a key unit, which is asked for. */
  fail_unless (gst_harness_crank_single_clock_wait (h));
  check_gap (h, 1100 * MS, 900 * MS);
  g_atomic_int_set (&key_requests, 0);
  buf = frame (2300 * MS, FALSE);
  GST_BUFFER_FLAG_SET (buf, GST_BUFFER_FLAG_DISCONT);
  fail_if (gst_metered_pad_bridge_push (bridge, caps, buf));
  gst_buffer_unref (buf);
  fail_if (feed (bridge, caps, 2333 * MS, FALSE));
  fail_unless_equals_int (g_atomic_int_get (&key_requests), 1);
  fail_unless (feed (bridge, caps, 2366 * MS, TRUE));
  out = gst_harness_pull (h);
  fail_unless_equals_uint64 (GST_BUFFER_PTS (out), 2366 * MS);
  fail_unless (GST_BUFFER_FLAG_IS_SET (out, GST_BUFFER_FLAG_DISCONT));
  gst_buffer_unref (out);
  teardown (h, bridge);
}

GST_END_TEST;

/* Packets lost and not repaired between frames (no GAP): the source's
 * next delta unit is DISCONT. It and the deltas after it are dropped
 * until a key unit, which goes out DISCONT; one request at once, none
 * more within the interval. */
GST_START_TEST (test_loss_without_gap)
{
  GstMeteredPadBridge *bridge;
  GstHarness *h = setup (&bridge, FALSE);
  g_autoptr (GstCaps) caps = vp8_caps (320);
  g_autoptr (GstStructure) stats = NULL;
  GstBuffer *buf, *out;
  guint64 losses = 0;

  gst_metered_pad_bridge_new_source (bridge);
  fail_if (feed (bridge, caps, 0, FALSE));
  fail_unless_equals_int (g_atomic_int_get (&key_requests), 1);
  fail_unless (feed (bridge, caps, 33 * MS, TRUE));
  fail_unless (feed (bridge, caps, 66 * MS, FALSE));
  buf = frame (133 * MS, FALSE);
  GST_BUFFER_FLAG_SET (buf, GST_BUFFER_FLAG_DISCONT);
  fail_if (gst_metered_pad_bridge_push (bridge, caps, buf));
  gst_buffer_unref (buf);
  fail_if (feed (bridge, caps, 166 * MS, FALSE));
  fail_unless_equals_int (g_atomic_int_get (&key_requests), 2);
  fail_unless (feed (bridge, caps, 200 * MS, TRUE));
  fail_unless (feed (bridge, caps, 233 * MS, FALSE));

  gst_buffer_unref (gst_harness_pull (h));
  out = gst_harness_pull (h);
  fail_unless_equals_uint64 (GST_BUFFER_PTS (out), 66 * MS);
  gst_buffer_unref (out);
  out = gst_harness_pull (h);
  fail_unless_equals_uint64 (GST_BUFFER_PTS (out), 200 * MS);
  fail_unless (GST_BUFFER_FLAG_IS_SET (out, GST_BUFFER_FLAG_DISCONT));
  fail_if (GST_BUFFER_FLAG_IS_SET (out, GST_BUFFER_FLAG_DELTA_UNIT));
  gst_buffer_unref (out);
  out = gst_harness_pull (h);
  fail_unless_equals_uint64 (GST_BUFFER_PTS (out), 233 * MS);
  fail_if (GST_BUFFER_FLAG_IS_SET (out, GST_BUFFER_FLAG_DISCONT));
  gst_buffer_unref (out);

  stats = gst_metered_pad_bridge_get_stats (bridge);
  fail_unless (gst_structure_get_uint64 (stats, "losses", &losses));
  fail_unless_equals_uint64 (losses, 1);
  teardown (h, bridge);
}

GST_END_TEST;

/* A decoder downstream failed on a frame (resync): deltas wait for a
 * key unit, which goes out DISCONT. */
GST_START_TEST (test_resync)
{
  GstMeteredPadBridge *bridge;
  GstHarness *h = setup (&bridge, FALSE);
  g_autoptr (GstCaps) caps = vp8_caps (320);
  GstBuffer *out;

  gst_metered_pad_bridge_new_source (bridge);
  fail_unless (feed (bridge, caps, 0, TRUE));
  gst_buffer_unref (gst_harness_pull (h));
  gst_metered_pad_bridge_resync (bridge);
  fail_if (feed (bridge, caps, 33 * MS, FALSE));
  fail_unless (feed (bridge, caps, 66 * MS, TRUE));
  out = gst_harness_pull (h);
  fail_unless_equals_uint64 (GST_BUFFER_PTS (out), 66 * MS);
  fail_unless (GST_BUFFER_FLAG_IS_SET (out, GST_BUFFER_FLAG_DISCONT));
  gst_buffer_unref (out);
  teardown (h, bridge);
}

GST_END_TEST;

/* A source from another time base (10 s in the past) is re-based onto
 * the present, keeping its own spacing. */
GST_START_TEST (test_rebase)
{
  GstMeteredPadBridge *bridge;
  GstHarness *h = setup (&bridge, FALSE);
  g_autoptr (GstCaps) caps = vp8_caps (320);
  GstBuffer *out;

  gst_metered_pad_bridge_new_source (bridge);
  fail_unless (feed (bridge, caps, 20 * GST_SECOND, TRUE));
  gst_buffer_unref (gst_harness_pull (h));
  gst_metered_pad_bridge_new_source (bridge);
  fail_unless (feed (bridge, caps, 10 * GST_SECOND, TRUE));
  fail_unless (feed (bridge, caps, 10 * GST_SECOND + 40 * MS, FALSE));
  out = gst_harness_pull (h);
  fail_unless_equals_uint64 (GST_BUFFER_PTS (out), 20 * GST_SECOND);
  gst_buffer_unref (out);
  out = gst_harness_pull (h);
  fail_unless_equals_uint64 (GST_BUFFER_PTS (out), 20 * GST_SECOND + 40 * MS);
  gst_buffer_unref (out);
  teardown (h, bridge);
}

GST_END_TEST;

/* Audio has no delta units: nothing is dropped after a swap. */
GST_START_TEST (test_audio_swap)
{
  GstMeteredPadBridge *bridge;
  GstHarness *h = setup (&bridge, FALSE);
  g_autoptr (GstCaps) caps = gst_caps_new_simple ("audio/x-opus", "rate",
      G_TYPE_INT, 48000, "channels", G_TYPE_INT, 2, NULL);
  GstBuffer *out;

  gst_metered_pad_bridge_new_source (bridge);
  fail_unless (feed (bridge, caps, 0, TRUE));
  fail_unless (feed (bridge, caps, 20 * MS, TRUE));
  gst_metered_pad_bridge_new_source (bridge);
  fail_unless (feed (bridge, caps, 60 * MS, TRUE));
  gst_buffer_unref (gst_harness_pull (h));
  gst_buffer_unref (gst_harness_pull (h));
  out = gst_harness_pull (h);
  fail_unless_equals_uint64 (GST_BUFFER_PTS (out), 60 * MS);
  fail_unless (GST_BUFFER_FLAG_IS_SET (out, GST_BUFFER_FLAG_DISCONT));
  gst_buffer_unref (out);
  fail_unless_equals_int (g_atomic_int_get (&key_requests), 0);
  teardown (h, bridge);
}

GST_END_TEST;

/* end (): what is queued goes out, then EOS, then the EOS callback. */
GST_START_TEST (test_end)
{
  GstMeteredPadBridge *bridge;
  GstHarness *h = setup (&bridge, FALSE);
  g_autoptr (GstCaps) caps = vp8_caps (320);
  GstEvent *ev;

  gst_metered_pad_bridge_new_source (bridge);
  fail_unless (feed (bridge, caps, 0, TRUE));
  fail_unless (feed (bridge, caps, 33 * MS, FALSE));
  gst_metered_pad_bridge_end (bridge);
  fail_if (feed (bridge, caps, 66 * MS, FALSE));
  gst_buffer_unref (gst_harness_pull (h));
  gst_buffer_unref (gst_harness_pull (h));
  while (
      (ev = gst_harness_pull_event (h)) && GST_EVENT_TYPE (ev) != GST_EVENT_EOS)
    gst_event_unref (ev);
  fail_unless (ev != NULL);
  gst_event_unref (ev);
  /* The callback runs right after the push on the streaming thread. */
  for (gint i = 0; i < 500 && !g_atomic_int_get (&eos_calls); i++)
    g_usleep (10000);
  fail_unless_equals_int (g_atomic_int_get (&eos_calls), 1);
  teardown (h, bridge);
}

GST_END_TEST;

static GstFlowReturn
chain_eos (GstPad *pad, GstObject *parent, GstBuffer *buf)
{
  gst_buffer_unref (buf);
  return GST_FLOW_EOS;
}

/* Downstream answers EOS (a sink's num-buffers): the pad ends as a base
 * source's would, EOS event then nothing more. */
GST_START_TEST (test_downstream_eos)
{
  GstMeteredPadBridge *bridge;
  GstHarness *h = setup (&bridge, FALSE);
  g_autoptr (GstCaps) caps = vp8_caps (320);
  GstEvent *ev;

  gst_pad_set_chain_function (h->sinkpad, chain_eos);
  gst_metered_pad_bridge_new_source (bridge);
  fail_unless (feed (bridge, caps, 0, TRUE));
  while (
      (ev = gst_harness_pull_event (h)) && GST_EVENT_TYPE (ev) != GST_EVENT_EOS)
    gst_event_unref (ev);
  fail_unless (ev != NULL);
  gst_event_unref (ev);
  for (gint i = 0; i < 500 && !g_atomic_int_get (&eos_calls); i++)
    g_usleep (10000);
  fail_unless_equals_int (g_atomic_int_get (&eos_calls), 1);
  fail_if (feed (bridge, caps, 33 * MS, FALSE));
  teardown (h, bridge);
}

GST_END_TEST;

/* Downstream asks for a key unit (a muxer splitting files, a decoder
 * that lost sync): the source is asked. The LATENCY query says live. */
GST_START_TEST (test_upstream_and_latency)
{
  GstMeteredPadBridge *bridge;
  GstHarness *h = setup (&bridge, FALSE);
  GstQuery *query = gst_query_new_latency ();
  GstClockTime min, max;
  gboolean live;

  fail_unless (gst_harness_push_upstream_event (
      h, gst_event_new_custom (GST_EVENT_CUSTOM_UPSTREAM,
             gst_structure_new ("GstForceKeyUnit", "all-headers",
                 G_TYPE_BOOLEAN, TRUE, NULL))));
  fail_unless_equals_int (g_atomic_int_get (&key_requests), 1);

  g_object_set (bridge, "latency", (guint64) (150 * MS), NULL);
  fail_unless (gst_pad_peer_query (h->sinkpad, query));
  gst_query_parse_latency (query, &live, &min, &max);
  fail_unless (live);
  fail_unless_equals_uint64 (min, 150 * MS);
  gst_query_unref (query);
  teardown (h, bridge);
}

GST_END_TEST;

/* A stuck downstream: the queue is dropped whole, the next key unit
 * starts over with DISCONT. */
GST_START_TEST (test_overflow)
{
  GstMeteredPadBridge *bridge = gst_metered_pad_bridge_new ("bridge");
  g_autoptr (GstCaps) caps = vp8_caps (320);
  g_autoptr (GstStructure) stats = NULL;
  guint64 dropped = 0;

  /* Not running: nothing drains the queue. */
  g_object_set (bridge, "max-buffers", 4, NULL);
  gst_metered_pad_bridge_new_source (bridge);
  fail_unless (feed (bridge, caps, 0, TRUE));
  for (guint i = 1; i < 4; i++)
    fail_unless (feed (bridge, caps, i * 33 * MS, FALSE));
  fail_if (feed (bridge, caps, 4 * 33 * MS, FALSE));
  fail_unless (feed (bridge, caps, 5 * 33 * MS, TRUE));
  stats = gst_metered_pad_bridge_get_stats (bridge);
  fail_unless (gst_structure_get_uint64 (stats, "dropped-overflow", &dropped));
  fail_unless_equals_uint64 (dropped, 4);
  gst_object_unref (bridge);
}

GST_END_TEST;

/* A pad's first frames arriving at once (held upstream until it
 * appeared) leave with their own 33 ms spacing, none clamped. */
GST_START_TEST (test_burst_keeps_spacing)
{
  GstMeteredPadBridge *bridge;
  GstHarness *h = setup (&bridge, TRUE);
  g_autoptr (GstCaps) caps = vp8_caps (320);
  g_autoptr (GstStructure) stats = NULL;
  guint64 clamped = G_MAXUINT64;

  gst_metered_pad_bridge_new_source (bridge);
  for (guint i = 0; i < 26; i++)
    fail_unless (feed (bridge, caps, GST_SECOND + i * 33 * MS, i == 0));
  for (guint i = 0; i < 26; i++) {
    GstBuffer *out = gst_harness_pull (h);

    fail_unless_equals_uint64 (GST_BUFFER_PTS (out), GST_SECOND + i * 33 * MS);
    gst_buffer_unref (out);
  }
  stats = gst_metered_pad_bridge_get_stats (bridge);
  fail_unless (gst_structure_get_uint64 (stats, "clamped", &clamped));
  fail_unless_equals_uint64 (clamped, 0);
  teardown (h, bridge);
}

GST_END_TEST;

static Suite *
pad_bridge_suite (void)
{
  Suite *s = suite_create ("meteredpadbridge");
  TCase *tc = tcase_create ("general");

  suite_add_tcase (s, tc);
  tcase_add_test (tc, test_first_source);
  tcase_add_test (tc, test_swap_mid_stream);
  tcase_add_test (tc, test_codec_change);
  tcase_add_test (tc, test_gap_while_kept);
  tcase_add_test (tc, test_loss_over_gap);
  tcase_add_test (tc, test_loss_without_gap);
  tcase_add_test (tc, test_resync);
  tcase_add_test (tc, test_rebase);
  tcase_add_test (tc, test_audio_swap);
  tcase_add_test (tc, test_end);
  tcase_add_test (tc, test_downstream_eos);
  tcase_add_test (tc, test_upstream_and_latency);
  tcase_add_test (tc, test_overflow);
  tcase_add_test (tc, test_burst_keeps_spacing);
  return s;
}

GST_CHECK_MAIN (pad_bridge);
