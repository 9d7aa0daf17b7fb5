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

/* The receive side's jitter-buffer latency from the measured round trip. */

#include "peer/metered-jitter-latency.h"

#define S G_USEC_PER_SEC

/* A clean link: nothing retransmitted, the floor holds whatever the
 * (stale) round-trip figure says. */
static void
test_clean_link_stays_at_floor (void)
{
  MeteredJitterLatency jl;

  metered_jitter_latency_init (&jl, 100, 1000);
  g_assert_cmpuint (
      metered_jitter_latency_update (&jl, 0, 2, 0, 1 * S), ==, 100);
  g_assert_cmpuint (
      metered_jitter_latency_update (&jl, 200, 2, 0, 2 * S), ==, 100);
}

/* Retransmissions at 200 ms RTT: at once above the round trip, so a
 * resend arrives before the jitter buffer gives up. */
static void
test_rises_at_once_with_rtt (void)
{
  MeteredJitterLatency jl;
  guint ms;

  metered_jitter_latency_init (&jl, 100, 1000);
  metered_jitter_latency_update (&jl, 0, 0, 0, 1 * S);
  ms = metered_jitter_latency_update (&jl, 200, 5, 3, 2 * S);
  g_assert_cmpuint (ms, ==, metered_jitter_latency_target (200, 5));
  /* a second request (after RTT + 2 jitter) and its answer fit */
  g_assert_cmpuint (ms, >=, 2 * 5 + 200 + 2 * 5 + 200);
  /* 40 ms RTT: 2 × 40 + 30 = 110 ms, over the floor; 37 ms RTT asks for
   * 104 ms, too close to the floor to be worth a change. */
  metered_jitter_latency_init (&jl, 100, 1000);
  ms = metered_jitter_latency_update (&jl, 37, 0, 1, 1 * S);
  g_assert_cmpuint (ms, ==, 100);
  ms = metered_jitter_latency_update (&jl, 40, 0, 2, 2 * S);
  g_assert_cmpuint (ms, ==, 110);
}

/* Bounded by the ceiling however long the round trip. */
static void
test_ceiling (void)
{
  MeteredJitterLatency jl;

  metered_jitter_latency_init (&jl, 100, 1000);
  g_assert_cmpuint (
      metered_jitter_latency_update (&jl, 5000, 400, 1, 1 * S), ==, 1000);
  g_assert_cmpuint (
      metered_jitter_latency_target (G_MAXUINT, G_MAXUINT), ==, G_MAXUINT);
}

/* A lower round trip lowers the latency only after it held for
 * METERED_JITTER_LATENCY_FALL_US; a blip in between starts over. */
static void
test_falls_slowly (void)
{
  MeteredJitterLatency jl;
  gint64 t = 1 * S;
  guint64 rtx = 1;
  guint high;

  metered_jitter_latency_init (&jl, 100, 1000);
  high = metered_jitter_latency_update (&jl, 400, 0, rtx++, t);
  g_assert_cmpuint (high, ==, 830);
  for (t = 2 * S; t < 2 * S + METERED_JITTER_LATENCY_FALL_US; t += S)
    g_assert_cmpuint (
        metered_jitter_latency_update (&jl, 100, 0, rtx++, t), ==, high);
  /* A blip back up: the wait starts again. */
  g_assert_cmpuint (
      metered_jitter_latency_update (&jl, 400, 0, rtx++, t), ==, high);
  t += S;
  g_assert_cmpuint (
      metered_jitter_latency_update (&jl, 100, 0, rtx++, t), ==, high);
  g_assert_cmpuint (metered_jitter_latency_update (
                        &jl, 100, 0, rtx++, t + METERED_JITTER_LATENCY_FALL_US),
      ==, 230);
}

/* Small changes do not move it (no latency churn downstream). */
static void
test_small_changes_ignored (void)
{
  MeteredJitterLatency jl;

  metered_jitter_latency_init (&jl, 100, 1000);
  g_assert_cmpuint (
      metered_jitter_latency_update (&jl, 200, 0, 1, 1 * S), ==, 430);
  g_assert_cmpuint (
      metered_jitter_latency_update (&jl, 204, 0, 2, 2 * S), ==, 430);
  for (gint64 t = 3 * S; t < 30 * S; t += S)
    g_assert_cmpuint (
        metered_jitter_latency_update (&jl, 160, 0, 3 + t / S, t), ==, 430);
}

/* Losses stop: after METERED_JITTER_LATENCY_QUIET_US without a
 * retransmission request, and the fall delay, back to the floor. */
static void
test_quiet_link_returns_to_floor (void)
{
  MeteredJitterLatency jl;
  gint64 t;

  metered_jitter_latency_init (&jl, 100, 1000);
  g_assert_cmpuint (
      metered_jitter_latency_update (&jl, 300, 0, 5, 1 * S), ==, 630);
  for (t = 2 * S; t <= 1 * S + METERED_JITTER_LATENCY_QUIET_US; t += S)
    g_assert_cmpuint (
        metered_jitter_latency_update (&jl, 300, 0, 5, t), ==, 630);
  for (; t < 1 * S + METERED_JITTER_LATENCY_QUIET_US +
                 METERED_JITTER_LATENCY_FALL_US;
       t += S)
    g_assert_cmpuint (
        metered_jitter_latency_update (&jl, 300, 0, 5, t), ==, 630);
  g_assert_cmpuint (metered_jitter_latency_update (&jl, 300, 0, 5, t), ==, 100);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func (
      "/jitter-latency/clean-link", test_clean_link_stays_at_floor);
  g_test_add_func (
      "/jitter-latency/rises-at-once", test_rises_at_once_with_rtt);
  g_test_add_func ("/jitter-latency/ceiling", test_ceiling);
  g_test_add_func ("/jitter-latency/falls-slowly", test_falls_slowly);
  g_test_add_func ("/jitter-latency/small-changes", test_small_changes_ignored);
  g_test_add_func (
      "/jitter-latency/quiet-link", test_quiet_link_returns_to_floor);
  return g_test_run ();
}
