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

/* The playout delay meteredsink asks of a viewer repairing losses, and
 * the header extension carrying it on what a payloader sends. */

#include "peer/metered-playout-delay-ext.h"
#include "peer/metered-playout-delay.h"

#include <gst/check/gstharness.h>
#include <gst/rtp/gstrtpbuffer.h>

#define S G_USEC_PER_SEC

static MeteredPlayoutDelay
make (void)
{
  const MeteredPlayoutDelayConfig config = METERED_PLAYOUT_DELAY_CONFIG_DEFAULT;
  MeteredPlayoutDelay d;

  metered_playout_delay_init (&d, &config);
  return d;
}

/* A clean link asks for nothing: no latency added where nothing is
 * retransmitted, whatever the round trip. */
static void
test_clean_link_asks_nothing (void)
{
  MeteredPlayoutDelay d = make ();

  g_assert_cmpuint (metered_playout_delay_update (&d, 0, 0, 1 * S), ==, 0);
  g_assert_cmpuint (metered_playout_delay_update (&d, 52, 0, 2 * S), ==, 0);
  g_assert_cmpuint (metered_playout_delay_update (&d, 300, 0, 3 * S), ==, 0);
}

/* Once the viewer NACKs, time for a retransmission: two round trips and
 * the margin (bench/impair.sh loss5-rtt50: 52 ms -> 134 ms), capped. */
static void
test_nacks_ask_two_round_trips (void)
{
  MeteredPlayoutDelay d = make ();

  g_assert_cmpuint (metered_playout_delay_update (&d, 52, 0, 1 * S), ==, 0);
  g_assert_cmpuint (metered_playout_delay_update (&d, 52, 3, 2 * S), ==, 134);
  /* the round trip moves: so does the delay */
  g_assert_cmpuint (metered_playout_delay_update (&d, 100, 4, 3 * S), ==, 230);
  /* a reading without a round trip keeps the last delay */
  g_assert_cmpuint (metered_playout_delay_update (&d, 0, 5, 4 * S), ==, 230);
  g_assert_cmpuint (metered_playout_delay_update (&d, 500, 6, 5 * S), ==, 400);
}

/* NACKs known but no round trip yet: nothing to base a delay on. */
static void
test_no_round_trip_yet (void)
{
  MeteredPlayoutDelay d = make ();

  g_assert_cmpuint (metered_playout_delay_update (&d, 0, 3, 1 * S), ==, 0);
  g_assert_cmpuint (metered_playout_delay_update (&d, 40, 3, 2 * S), ==, 110);
}

/* A minute without a new NACK: the link healed, the delay goes. A new
 * NACK brings it back. */
static void
test_released_after_a_quiet_minute (void)
{
  MeteredPlayoutDelay d = make ();

  g_assert_cmpuint (metered_playout_delay_update (&d, 50, 2, 1 * S), ==, 130);
  g_assert_cmpuint (metered_playout_delay_update (&d, 50, 2, 60 * S), ==, 130);
  g_assert_cmpuint (metered_playout_delay_update (&d, 50, 2, 62 * S), ==, 0);
  g_assert_cmpuint (metered_playout_delay_update (&d, 50, 3, 63 * S), ==, 130);
}

/* 12-bit fields in 10 ms units, the maximum never under the minimum. */
static void
test_encode (void)
{
  guint8 b[3];

  metered_playout_delay_encode (130, 10000, b);
  /* min 13 = 0x00d, max 1000 = 0x3e8 */
  g_assert_cmphex (b[0], ==, 0x00);
  g_assert_cmphex (b[1], ==, 0xd3);
  g_assert_cmphex (b[2], ==, 0xe8);
  metered_playout_delay_encode (50000, 60000, b);
  g_assert_cmphex (b[0], ==, 0xff);
  g_assert_cmphex (b[1], ==, 0xff);
  g_assert_cmphex (b[2], ==, 0xff);
  metered_playout_delay_encode (200, 100, b);
  g_assert_cmphex (b[0], ==, 0x01);
  g_assert_cmphex (b[1], ==, 0x40);
  g_assert_cmphex (b[2], ==, 0x14);
}

/* On the wire: no extension until a viewer needs time for a
 * retransmission; from then on every packet of rtpvp8pay carries it under
 * its id with the minimum set last, 0 included (what the viewer's
 * Chromium reads, and keeps until told otherwise). */
static void
test_on_payloaded_packets (void)
{
  GstHarness *h = gst_harness_new ("rtpvp8pay");
  GstRTPHeaderExtension *ext = metered_playout_delay_ext_new (5);
  guint8 frame[64] = { 0x10, 0x02, 0x00, 0x9d, 0x01, 0x2a };
  const guint min_ms[] = { 0, 130, 0 };

  g_assert_cmpstr (
      gst_rtp_header_extension_get_uri (ext), ==, METERED_PLAYOUT_DELAY_URI);
  g_signal_emit_by_name (h->element, "add-extension", ext);
  gst_harness_set_src_caps_str (h, "video/x-vp8");
  for (guint round = 0; round < G_N_ELEMENTS (min_ms); round++) {
    GstBuffer *in = gst_buffer_new_memdup (frame, sizeof (frame));
    g_autoptr (GstBuffer) out = NULL;
    GstRTPBuffer rtp = GST_RTP_BUFFER_INIT;
    gpointer data;
    guint size;
    guint8 expect[3];
    gboolean found;

    metered_playout_delay_ext_set_min (
        METERED_PLAYOUT_DELAY_EXT (ext), min_ms[round]);
    GST_BUFFER_PTS (in) = round * 33 * GST_MSECOND;
    g_assert_cmpint (gst_harness_push (h, in), ==, GST_FLOW_OK);
    out = gst_harness_pull (h);
    g_assert_nonnull (out);
    g_assert_true (gst_rtp_buffer_map (out, GST_MAP_READ, &rtp));
    found =
        gst_rtp_buffer_get_extension_onebyte_header (&rtp, 5, 0, &data, &size);
    if (round == 0) {
      g_assert_false (found);
    } else {
      g_assert_true (found);
      g_assert_cmpuint (size, ==, 3);
      metered_playout_delay_encode (min_ms[round], 10000, expect);
      g_assert_cmpmem (data, size, expect, 3);
    }
    gst_rtp_buffer_unmap (&rtp);
  }
  gst_object_unref (ext);
  gst_harness_teardown (h);
}

int
main (int argc, char **argv)
{
  gst_init (&argc, &argv);
  g_test_init (&argc, &argv, NULL);
  g_test_add_func (
      "/playout-delay/clean-link-asks-nothing", test_clean_link_asks_nothing);
  g_test_add_func ("/playout-delay/nacks-ask-two-round-trips",
      test_nacks_ask_two_round_trips);
  g_test_add_func ("/playout-delay/no-round-trip-yet", test_no_round_trip_yet);
  g_test_add_func ("/playout-delay/released-after-a-quiet-minute",
      test_released_after_a_quiet_minute);
  g_test_add_func ("/playout-delay/encode", test_encode);
  g_test_add_func (
      "/playout-delay/on-payloaded-packets", test_on_payloaded_packets);
  return g_test_run ();
}
