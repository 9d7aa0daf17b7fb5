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

/* Key-frame requests of many viewers merged at one encoder. */

#include "peer/metered-keyframe-broker.h"

#define S(x) ((gint64) ((x) *1000000))
/* The encoder's key frame comes out this long after it is asked. */
#define ENCODER_DELAY S (0.03)

static const MeteredKeyframeBrokerConfig defaults =
    METERED_KEYFRAME_BROKER_CONFIG_DEFAULT;

/* Two viewers' PLIs 200 ms apart: the first forces, the second waits and
 * is served when the slot opens a second after the first key frame. */
static void
test_merge (void)
{
  MeteredKeyframeBroker b;

  metered_keyframe_broker_init (&b, &defaults);
  g_assert_cmpint (metered_keyframe_broker_next_deadline (&b), ==, -1);
  g_assert_cmpint (
      metered_keyframe_broker_request (&b, 1, METERED_KEYFRAME_PLI, S (10)), ==,
      METERED_KEYFRAME_FORCE);
  metered_keyframe_broker_keyframe_produced (&b, S (10) + ENCODER_DELAY);

  g_assert_cmpint (
      metered_keyframe_broker_request (&b, 2, METERED_KEYFRAME_PLI, S (10.2)),
      ==, METERED_KEYFRAME_WAIT);
  g_assert_cmpint (
      metered_keyframe_broker_next_deadline (&b), ==, S (11) + ENCODER_DELAY);
  g_assert_false (metered_keyframe_broker_poll (&b, S (10.5)));
  g_assert_false (metered_keyframe_broker_poll (&b, S (11)));
  g_assert_true (metered_keyframe_broker_poll (&b, S (11) + ENCODER_DELAY));
  /* Asked once: not again while the encoder works on it. */
  g_assert_false (metered_keyframe_broker_poll (&b, S (11.04)));
  metered_keyframe_broker_keyframe_produced (&b, S (11.06));
  g_assert_cmpint (metered_keyframe_broker_next_deadline (&b), ==, -1);
  g_assert_false (metered_keyframe_broker_poll (&b, S (20)));
  g_assert_cmpuint (b.n_forced, ==, 2);
  metered_keyframe_broker_clear (&b);
}

/* Ten viewers behind bad links, each sending a PLI every 200 ms for 10 s
 * (as Chromium does while it waits), served by polling at each deadline:
 * never two key frames within a second. Returns how many were forced. */
static guint
run_storm (const MeteredKeyframeBrokerConfig *config)
{
  MeteredKeyframeBroker b;
  gint64 t, last_forced = -1, produce_at = -1;
  guint viewer, forced = 0;

  metered_keyframe_broker_init (&b, config);
  for (t = 0; t < S (10); t += S (0.01)) {
    gboolean force = FALSE;

    if (produce_at >= 0 && t >= produce_at) {
      metered_keyframe_broker_keyframe_produced (&b, t);
      produce_at = -1;
    }
    if (t % S (0.2) == 0)
      for (viewer = 0; viewer < 10; viewer++)
        force |=
            metered_keyframe_broker_request (&b, viewer, METERED_KEYFRAME_PLI,
                t + viewer) == METERED_KEYFRAME_FORCE;
    force |= metered_keyframe_broker_poll (&b, t + 10);
    if (force) {
      if (last_forced >= 0)
        g_assert_cmpint (t - last_forced, >=, S (1) - 10);
      last_forced = t;
      forced++;
      produce_at = t + ENCODER_DELAY;
    }
  }
  g_assert_cmpuint (b.n_forced, ==, forced);
  metered_keyframe_broker_clear (&b);
  return forced;
}

/* Without budgets: one key frame a second. With the default budget the
 * viewers that keep asking after every key frame run dry: the burst of 3,
 * then one per 3 s. */
static void
test_storm (void)
{
  MeteredKeyframeBrokerConfig unbudgeted = defaults;
  guint forced;

  unbudgeted.budget_burst = 1000;
  forced = run_storm (&unbudgeted);
  g_assert_cmpuint (forced, >=, 9);
  g_assert_cmpuint (forced, <=, 10);

  forced = run_storm (&defaults);
  g_assert_cmpuint (forced, >=, 5);
  g_assert_cmpuint (forced, <=, 7);
}

/* A new viewer shortly after a key frame waits for the next one; two
 * joining within the same second share it. */
static void
test_new_viewer_waits (void)
{
  MeteredKeyframeBroker b;

  metered_keyframe_broker_init (&b, &defaults);
  /* A periodic key frame, nobody asked. */
  metered_keyframe_broker_keyframe_produced (&b, S (5));
  g_assert_cmpint (metered_keyframe_broker_request (
                       &b, 1, METERED_KEYFRAME_NEW_VIEWER, S (5.4)),
      ==, METERED_KEYFRAME_WAIT);
  g_assert_cmpint (metered_keyframe_broker_request (
                       &b, 2, METERED_KEYFRAME_NEW_VIEWER, S (5.6)),
      ==, METERED_KEYFRAME_WAIT);
  g_assert_cmpint (metered_keyframe_broker_next_deadline (&b), ==, S (6));
  g_assert_true (metered_keyframe_broker_poll (&b, S (6)));
  g_assert_cmpuint (b.n_forced, ==, 1);

  /* A periodic key frame before the deadline serves them: nothing to
   * force. */
  metered_keyframe_broker_keyframe_produced (&b, S (6.03));
  g_assert_cmpint (metered_keyframe_broker_request (
                       &b, 3, METERED_KEYFRAME_NEW_VIEWER, S (6.5)),
      ==, METERED_KEYFRAME_WAIT);
  metered_keyframe_broker_keyframe_produced (&b, S (6.8));
  g_assert_false (metered_keyframe_broker_poll (&b, S (7.03)));
  g_assert_false (metered_keyframe_broker_poll (&b, S (8)));
  g_assert_cmpuint (b.n_forced, ==, 1);
  metered_keyframe_broker_clear (&b);
}

/* No key frame for longer than the interval: the new viewer's first
 * frame is forced at once. So is the very first request. */
static void
test_urgent_new_viewer (void)
{
  MeteredKeyframeBroker b;

  metered_keyframe_broker_init (&b, &defaults);
  g_assert_cmpint (metered_keyframe_broker_request (
                       &b, 1, METERED_KEYFRAME_NEW_VIEWER, S (1)),
      ==, METERED_KEYFRAME_FORCE);
  metered_keyframe_broker_keyframe_produced (&b, S (1.03));
  g_assert_cmpint (metered_keyframe_broker_request (
                       &b, 2, METERED_KEYFRAME_NEW_VIEWER, S (3.5)),
      ==, METERED_KEYFRAME_FORCE);
  metered_keyframe_broker_clear (&b);
}

/* One viewer asking again after every key frame spends its budget (3,
 * then one per 3 s) and is ignored beyond it; repeats while it waits
 * cost nothing; another viewer is still served; a starved or new viewer
 * is never budgeted. */
static void
test_budget (void)
{
  MeteredKeyframeBroker b;
  guint ignored = 0, served = 0;
  gint64 t;

  metered_keyframe_broker_init (&b, &defaults);
  for (t = 0; t < S (30); t += S (1.5)) {
    MeteredKeyframeVerdict v =
        metered_keyframe_broker_request (&b, 7, METERED_KEYFRAME_PLI, t);

    if (v == METERED_KEYFRAME_IGNORED) {
      ignored++;
      continue;
    }
    /* Its own repeats while it waits are merged, not charged. */
    g_assert_cmpint (metered_keyframe_broker_request (
                         &b, 7, METERED_KEYFRAME_PLI, t + S (0.2)),
        !=, METERED_KEYFRAME_IGNORED);
    if (v == METERED_KEYFRAME_FORCE ||
        metered_keyframe_broker_poll (&b, t + S (1)))
      served++;
    metered_keyframe_broker_keyframe_produced (&b, t + S (1.03));
  }
  /* 20 requests in 30 s: the burst of 3 plus one per 3 s (~10). */
  g_assert_cmpuint (served, >=, 11);
  g_assert_cmpuint (served, <=, 13);
  g_assert_cmpuint (ignored, ==, 20 - served);
  g_assert_cmpuint (b.n_ignored, ==, ignored);

  /* Whatever viewer 7 has left, one more request spends it ... */
  metered_keyframe_broker_keyframe_produced (&b, S (30));
  metered_keyframe_broker_request (&b, 7, METERED_KEYFRAME_PLI, S (30.01));
  metered_keyframe_broker_keyframe_produced (&b, S (30.02));
  g_assert_cmpint (
      metered_keyframe_broker_request (&b, 7, METERED_KEYFRAME_PLI, S (30.03)),
      ==, METERED_KEYFRAME_IGNORED);
  /* ... while viewer 8 is heard, and so is 7 when starved. */
  g_assert_cmpint (
      metered_keyframe_broker_request (&b, 8, METERED_KEYFRAME_PLI, S (30.04)),
      ==, METERED_KEYFRAME_WAIT);
  g_assert_cmpint (metered_keyframe_broker_request (
                       &b, 7, METERED_KEYFRAME_STARVED, S (30.05)),
      ==, METERED_KEYFRAME_WAIT);
  g_assert_true (metered_keyframe_broker_poll (&b, S (31.02)));
  metered_keyframe_broker_clear (&b);
}

/* The encoder does not answer (a lost force-key-unit event): asked again
 * once per interval until it does. */
static void
test_encoder_silent (void)
{
  MeteredKeyframeBroker b;
  gint64 t;
  guint forced = 0;

  metered_keyframe_broker_init (&b, &defaults);
  if (metered_keyframe_broker_request (&b, 1, METERED_KEYFRAME_PLI, 0) ==
      METERED_KEYFRAME_FORCE)
    forced++;
  for (t = S (0.1); t <= S (5); t += S (0.1))
    if (metered_keyframe_broker_poll (&b, t))
      forced++;
  g_assert_cmpuint (forced, ==, 6);
  metered_keyframe_broker_clear (&b);
}

/* A shorter interval from the configuration; a viewer that leaves takes
 * its request with it. */
static void
test_interval_and_leave (void)
{
  MeteredKeyframeBrokerConfig config = defaults;
  MeteredKeyframeBroker b;

  config.min_interval_us = S (0.5);
  metered_keyframe_broker_init (&b, &config);
  metered_keyframe_broker_keyframe_produced (&b, S (1));
  g_assert_cmpint (
      metered_keyframe_broker_request (&b, 1, METERED_KEYFRAME_PLI, S (1.2)),
      ==, METERED_KEYFRAME_WAIT);
  g_assert_cmpint (metered_keyframe_broker_next_deadline (&b), ==, S (1.5));
  metered_keyframe_broker_remove_viewer (&b, 1);
  g_assert_cmpint (metered_keyframe_broker_next_deadline (&b), ==, -1);
  g_assert_false (metered_keyframe_broker_poll (&b, S (1.5)));
  g_assert_cmpuint (b.viewers->len, ==, 0);

  /* One of two waiting leaves: the other is still served. */
  g_assert_cmpint (
      metered_keyframe_broker_request (&b, 2, METERED_KEYFRAME_PLI, S (1.6)),
      ==, METERED_KEYFRAME_FORCE);
  g_assert_cmpint (
      metered_keyframe_broker_request (&b, 3, METERED_KEYFRAME_PLI, S (1.7)),
      ==, METERED_KEYFRAME_WAIT);
  metered_keyframe_broker_remove_viewer (&b, 2);
  g_assert_true (metered_keyframe_broker_poll (&b, S (2.1)));
  metered_keyframe_broker_clear (&b);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/keyframe-broker/merge", test_merge);
  g_test_add_func ("/keyframe-broker/storm", test_storm);
  g_test_add_func ("/keyframe-broker/new-viewer-waits", test_new_viewer_waits);
  g_test_add_func (
      "/keyframe-broker/urgent-new-viewer", test_urgent_new_viewer);
  g_test_add_func ("/keyframe-broker/budget", test_budget);
  g_test_add_func ("/keyframe-broker/encoder-silent", test_encoder_silent);
  g_test_add_func (
      "/keyframe-broker/interval-and-leave", test_interval_and_leave);
  return g_test_run ();
}
