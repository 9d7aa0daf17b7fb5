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

/* The pacer's plan for N copies of one frame. */

#include "peer/metered-pacer.h"

static const MeteredPacerConfig defaults = METERED_PACER_CONFIG_DEFAULT;

static const MeteredPacerSend *
send_at (GArray *sends, guint i)
{
  return &g_array_index (sends, MeteredPacerSend, i);
}

/* One viewer at 2 Mbit/s, a 12000-byte frame: 10 packets 1.92 ms apart
 * (2.5 × 2 Mbit/s), the next frame after them. */
static void
test_one_viewer (void)
{
  MeteredPacer p;
  g_autoptr (GArray) sends =
      g_array_new (FALSE, FALSE, sizeof (MeteredPacerSend));
  guint64 rate = 2000000;
  gint64 next_free = -1, last;
  guint k;

  metered_pacer_init (&p, &defaults);
  last = metered_pacer_plan (&p, 12000, &rate, &next_free, 1, 1000, sends);
  g_assert_cmpuint (sends->len, ==, 10);
  for (k = 0; k < 10; k++) {
    g_assert_cmpuint (send_at (sends, k)->packet, ==, k);
    g_assert_cmpuint (send_at (sends, k)->size, ==, 1200);
    g_assert_cmpint (send_at (sends, k)->send_us, ==, 1000 + k * 1920);
  }
  g_assert_cmpint (last, ==, 1000 + 9 * 1920);
  g_assert_cmpint (next_free, ==, 1000 + 10 * 1920);

  /* A frame that does not divide: the last packet carries the rest. */
  g_array_set_size (sends, 0);
  metered_pacer_plan (&p, 2500, &rate, &next_free, 1, 2000, sends);
  g_assert_cmpuint (sends->len, ==, 3);
  g_assert_cmpuint (send_at (sends, 2)->size, ==, 100);
  /* Still queued from the first frame: it starts after that. */
  g_assert_cmpint (send_at (sends, 0)->send_us, ==, 1000 + 10 * 1920);
}

/* Five viewers, one key frame of 60 kB: the copies interleave packet by
 * packet instead of leaving as five bursts; the weak viewer's slow copy
 * does not hold up the others; a viewer at rate 0 gets nothing. */
static void
test_fanout_interleaves (void)
{
  MeteredPacer p;
  g_autoptr (GArray) sends =
      g_array_new (FALSE, FALSE, sizeof (MeteredPacerSend));
  const guint64 rates[6] = { 4000000, 4000000, 4000000, 4000000, 400000, 0 };
  gint64 next_free[6] = { -1, -1, -1, -1, -1, -1 };
  guint i, per_viewer[6] = { 0 };
  gint64 strong_last = 0;

  metered_pacer_init (&p, &defaults);
  metered_pacer_plan (&p, 60000, rates, next_free, 6, 0, sends);
  g_assert_cmpuint (sends->len, ==, 5 * 50);
  for (i = 0; i < sends->len; i++) {
    const MeteredPacerSend *s = send_at (sends, i);

    per_viewer[s->viewer]++;
    if (i > 0)
      g_assert_cmpint (s->send_us, >=, send_at (sends, i - 1)->send_us);
    if (s->viewer < 4)
      strong_last = MAX (strong_last, s->send_us);
  }
  for (i = 0; i < 5; i++)
    g_assert_cmpuint (per_viewer[i], ==, 50);
  g_assert_cmpuint (per_viewer[5], ==, 0);
  g_assert_cmpint (next_free[5], ==, -1);
  /* The first five sends are one packet of each viewer, not five of one. */
  for (i = 0; i < 5; i++) {
    g_assert_cmpuint (send_at (sends, i)->viewer, ==, i);
    g_assert_cmpuint (send_at (sends, i)->packet, ==, 0);
  }
  /* Strong copies take 60 kB / 10 Mbit/s = 48 ms; the weak one 480 ms. */
  g_assert_cmpint (strong_last, ==, 49 * 960);
  g_assert_cmpint (next_free[4], ==, 50 * 9600);
}

/* A shared uplink bucket: the sum of the copies never exceeds it. */
static void
test_shared_bucket (void)
{
  MeteredPacerConfig config = defaults;
  MeteredPacer p;
  g_autoptr (GArray) sends =
      g_array_new (FALSE, FALSE, sizeof (MeteredPacerSend));
  const guint64 rates[4] = { 4000000, 4000000, 4000000, 4000000 };
  gint64 next_free[4] = { -1, -1, -1, -1 };
  guint i, frame;

  config.total_pacing_bps = 8000000;
  metered_pacer_init (&p, &config);
  for (frame = 0; frame < 30; frame++)
    metered_pacer_plan (&p, 6000, rates, next_free, 4, frame * 33333, sends);
  g_assert_cmpuint (sends->len, ==, 30 * 4 * 5);
  /* 1200 bytes at 8 Mbit/s: 1.2 ms between any two sends. */
  for (i = 1; i < sends->len; i++)
    g_assert_cmpint (
        send_at (sends, i)->send_us - send_at (sends, i - 1)->send_us, >=,
        1200);
  /* 4 × 6000 B per frame at 30 fps is 5.76 Mbit/s: it keeps up. */
  g_assert_cmpint (send_at (sends, sends->len - 1)->send_us, <, 30 * 33333);
}

/* Empty frames, no viewers and nonsense configuration do no harm. */
static void
test_bad_input (void)
{
  MeteredPacerConfig config = { 0, 0, 0 };
  MeteredPacer p;
  g_autoptr (GArray) sends =
      g_array_new (FALSE, FALSE, sizeof (MeteredPacerSend));
  guint64 rate = 1;
  gint64 next_free = -1;

  metered_pacer_init (&p, &config);
  g_assert_cmpint (
      metered_pacer_plan (&p, 0, &rate, &next_free, 1, 5, sends), ==, 5);
  g_assert_cmpint (
      metered_pacer_plan (&p, 500, NULL, NULL, 0, 5, sends), ==, 5);
  g_assert_cmpuint (sends->len, ==, 0);
  metered_pacer_plan (&p, 500, &rate, &next_free, 1, 5, sends);
  g_assert_cmpuint (sends->len, ==, 5);
  g_assert_cmpint (next_free, >, 5);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/pacer/one-viewer", test_one_viewer);
  g_test_add_func ("/pacer/fanout-interleaves", test_fanout_interleaves);
  g_test_add_func ("/pacer/shared-bucket", test_shared_bucket);
  g_test_add_func ("/pacer/bad-input", test_bad_input);
  return g_test_run ();
}
