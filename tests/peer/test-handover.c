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

/* The make-before-break decisions (src/peer/metered-handover.c), branch by
 * branch, with times passed in: no webrtcbin, no clock. */

#include "peer/metered-handover.h"

#define V METERED_HANDOVER_VIDEO
#define A METERED_HANDOVER_AUDIO
#define KEY FALSE
#define DELTA TRUE
#define T0 100000 /* any monotonic base */

static MeteredHandoverRoute
route (MeteredHandover *h, guint gen, MeteredHandoverKind kind, guint64 hash,
    gboolean delta, gint64 now_ms)
{
  return metered_handover_route (h, gen, kind, hash, delta, now_ms);
}

/* One connection, connected, forwarding video and audio; then a swap
 * that keeps it draining. Returns the old generation. */
static guint
setup_draining (MeteredHandover *h)
{
  guint old;

  metered_handover_init (h);
  g_assert_cmpint (
      metered_handover_swap (h, FALSE, T0), ==, METERED_HANDOVER_SWAP_FIRST);
  old = h->current;
  metered_handover_connected (h, T0 + 100);
  g_assert_cmpint (
      route (h, old, V, 11, KEY, T0 + 200), ==, METERED_HANDOVER_FORWARD_FIRST);
  g_assert_cmpint (
      route (h, old, A, 21, KEY, T0 + 200), ==, METERED_HANDOVER_FORWARD_FIRST);
  g_assert_cmpint (metered_handover_swap (h, TRUE, T0 + 1000), ==,
      METERED_HANDOVER_SWAP_DRAIN_OLD);
  g_assert_cmpuint (h->draining, ==, old);
  g_assert_cmpuint (h->current, !=, old);
  return old;
}

static void
test_first_connection (void)
{
  MeteredHandover h;

  metered_handover_init (&h);
  g_assert_cmpint (
      metered_handover_swap (&h, FALSE, T0), ==, METERED_HANDOVER_SWAP_FIRST);
  g_assert_cmpuint (h.current, ==, 1);
  g_assert_cmpuint (h.draining, ==, 0);
  /* The first frame of each kind switches from nothing: no media-switched. */
  g_assert_cmpint (
      route (&h, 1, V, 7, DELTA, T0), ==, METERED_HANDOVER_FORWARD_FIRST);
  g_assert_cmpint (
      route (&h, 1, V, 8, DELTA, T0), ==, METERED_HANDOVER_FORWARD);
  g_assert_cmpint (
      route (&h, 1, A, 9, KEY, T0), ==, METERED_HANDOVER_FORWARD_FIRST);
  g_assert_cmpint (route (&h, 1, A, 9, KEY, T0), ==, METERED_HANDOVER_FORWARD);
  /* Connections that are not ours, or none. */
  g_assert_cmpint (
      route (&h, 2, V, 7, KEY, T0), ==, METERED_HANDOVER_DROP_STALE);
  g_assert_cmpint (
      route (&h, 0, V, 7, KEY, T0), ==, METERED_HANDOVER_DROP_STALE);
  /* Nothing drains: nothing to stop. */
  g_assert_cmpint (
      metered_handover_check (&h, T0 + 60000), ==, METERED_HANDOVER_KEEP);
}

static void
test_swap_stops_unconnected (void)
{
  MeteredHandover h;

  metered_handover_init (&h);
  metered_handover_swap (&h, FALSE, T0);
  route (&h, 1, V, 7, KEY, T0);
  /* Carrying media but not connected (failed): it stops at once. */
  g_assert_cmpint (metered_handover_swap (&h, FALSE, T0 + 10), ==,
      METERED_HANDOVER_SWAP_STOP_OLD);
  g_assert_cmpuint (h.current, ==, 2);
  g_assert_cmpuint (h.draining, ==, 0);
  /* The new one takes over what the old one carried: a new stream. */
  g_assert_cmpint (
      route (&h, 2, V, 7, DELTA, T0 + 20), ==, METERED_HANDOVER_FORWARD_SWITCH);
  g_assert_cmpint (
      route (&h, 1, V, 8, KEY, T0 + 20), ==, METERED_HANDOVER_DROP_STALE);
}

static void
test_swap_resets_connected (void)
{
  MeteredHandover h;

  setup_draining (&h);
  g_assert_cmpint (h.connected_ms, ==, 0);
  g_assert_cmpint (h.draining_since_ms, ==, T0 + 1000);
  g_assert_cmpint (h.draining_rx_ms, ==, T0 + 1000);
}

static void
test_overlap_continues (void)
{
  MeteredHandover h;
  guint old = setup_draining (&h), now = h.current;

  /* The old one goes on; the new one's copies of forwarded frames are
   * dropped, and its first new frame continues the stream, delta or not. */
  g_assert_cmpint (
      route (&h, old, V, 12, DELTA, T0 + 1100), ==, METERED_HANDOVER_FORWARD);
  g_assert_cmpint (h.draining_rx_ms, ==, T0 + 1100);
  g_assert_cmpint (route (&h, now, V, 12, DELTA, T0 + 1110), ==,
      METERED_HANDOVER_DROP_DUPLICATE);
  g_assert_true (h.overlap[V]);
  g_assert_false (h.overlap[A]);
  g_assert_cmpint (route (&h, now, V, 13, DELTA, T0 + 1140), ==,
      METERED_HANDOVER_FORWARD_CONTINUE);
  g_assert_cmpuint (h.active[V], ==, now);
  /* From then on the old one's video is dropped, the new one's goes. */
  g_assert_cmpint (route (&h, old, V, 13, DELTA, T0 + 1141), ==,
      METERED_HANDOVER_DROP_SUPERSEDED);
  g_assert_cmpint (
      route (&h, now, V, 14, DELTA, T0 + 1170), ==, METERED_HANDOVER_FORWARD);
  /* Audio is its own: still the old one's. */
  g_assert_cmpuint (h.active[A], ==, old);
  g_assert_cmpint (
      route (&h, old, A, 22, KEY, T0 + 1170), ==, METERED_HANDOVER_FORWARD);
}

static void
test_duplicate_of_old_frames (void)
{
  MeteredHandover h;
  guint old = setup_draining (&h), now = h.current;

  /* A copy of the first frame ever forwarded still counts. */
  g_assert_cmpint (route (&h, now, V, 11, DELTA, T0 + 1100), ==,
      METERED_HANDOVER_DROP_DUPLICATE);
  /* Repeats of copies are dropped too. */
  g_assert_cmpint (route (&h, now, V, 11, DELTA, T0 + 1101), ==,
      METERED_HANDOVER_DROP_DUPLICATE);
  g_assert_cmpuint (h.active[V], ==, old);
}

static void
test_recent_window (void)
{
  MeteredHandover h;
  guint old = setup_draining (&h), now = h.current;

  /* Hash 11 was the first forwarded; 64 more push it (only) out. */
  for (guint i = 0; i < METERED_HANDOVER_RECENT; i++)
    g_assert_cmpint (route (&h, old, V, 1000 + i, DELTA, T0 + 1100), ==,
        METERED_HANDOVER_FORWARD);
  g_assert_cmpint (route (&h, now, V, 11, DELTA, T0 + 1200), ==,
      METERED_HANDOVER_DROP_WAIT_KEY);
  /* The oldest one still remembered. */
  g_assert_cmpint (route (&h, now, V, 1000, DELTA, T0 + 1200), ==,
      METERED_HANDOVER_DROP_DUPLICATE);
}

static void
test_unknown_hash_never_matches (void)
{
  MeteredHandover h;
  guint old = setup_draining (&h), now = h.current;

  /* 0 is "could not hash": forwarded, but never taken for a copy. */
  g_assert_cmpint (
      route (&h, old, V, 0, DELTA, T0 + 1100), ==, METERED_HANDOVER_FORWARD);
  g_assert_cmpint (route (&h, now, V, 0, DELTA, T0 + 1110), ==,
      METERED_HANDOVER_DROP_WAIT_KEY);
  g_assert_false (h.overlap[V]);
}

static void
test_no_overlap_video_waits_for_key (void)
{
  MeteredHandover h;
  guint old = setup_draining (&h), now = h.current;

  g_assert_cmpint (route (&h, now, V, 500, DELTA, T0 + 1100), ==,
      METERED_HANDOVER_DROP_WAIT_KEY);
  g_assert_cmpuint (h.active[V], ==, old);
  g_assert_cmpint (
      route (&h, old, V, 12, DELTA, T0 + 1110), ==, METERED_HANDOVER_FORWARD);
  /* A key unit: the new one takes over, announced (a new stream). */
  g_assert_cmpint (route (&h, now, V, 501, KEY, T0 + 1120), ==,
      METERED_HANDOVER_FORWARD_SWITCH);
  g_assert_cmpuint (h.active[V], ==, now);
  g_assert_cmpint (route (&h, old, V, 13, KEY, T0 + 1130), ==,
      METERED_HANDOVER_DROP_SUPERSEDED);
}

static void
test_no_overlap_audio_switches (void)
{
  MeteredHandover h;
  guint old = setup_draining (&h), now = h.current;

  /* Audio has no key units: the first new frame takes over, even one
   * flagged as a delta unit. */
  g_assert_cmpint (route (&h, now, A, 600, DELTA, T0 + 1100), ==,
      METERED_HANDOVER_FORWARD_SWITCH);
  g_assert_cmpuint (h.active[A], ==, now);
  g_assert_cmpuint (h.active[V], ==, old);
  g_assert_cmpint (route (&h, old, A, 22, KEY, T0 + 1110), ==,
      METERED_HANDOVER_DROP_SUPERSEDED);
}

static void
test_new_kind_from_new (void)
{
  MeteredHandover h;
  guint now;

  /* The old connection carried video only; audio first comes on the new
   * one: taken at once, nothing to switch from. */
  metered_handover_init (&h);
  metered_handover_swap (&h, FALSE, T0);
  route (&h, 1, V, 11, KEY, T0);
  metered_handover_swap (&h, TRUE, T0 + 1000);
  now = h.current;
  g_assert_cmpint (route (&h, now, A, 30, DELTA, T0 + 1100), ==,
      METERED_HANDOVER_FORWARD_FIRST);
  /* And the old one's audio, if any came, is not wanted. */
  g_assert_cmpint (route (&h, 1, A, 31, KEY, T0 + 1100), ==,
      METERED_HANDOVER_DROP_SUPERSEDED);
}

static void
test_old_gone_switches (void)
{
  MeteredHandover h;
  guint old = setup_draining (&h), now = h.current;

  /* The old one stopped (10 s cap) before the new one ever took over:
   * nothing flows to wait for, so even a delta unit takes over. */
  g_assert_cmpint (metered_handover_check (&h, T0 + 1000 + 10001), ==,
      METERED_HANDOVER_STOP_TIMEOUT);
  g_assert_cmpuint (h.draining, ==, 0);
  g_assert_cmpuint (h.active[V], ==, old);
  g_assert_cmpint (route (&h, now, V, 11, DELTA, T0 + 11100), ==,
      METERED_HANDOVER_FORWARD_SWITCH);
  g_assert_cmpint (
      route (&h, old, V, 12, KEY, T0 + 11100), ==, METERED_HANDOVER_DROP_STALE);
}

static void
test_overlap_reset_on_new_drain (void)
{
  MeteredHandover h;
  guint first = setup_draining (&h), second = h.current, third;

  route (&h, second, V, 11, DELTA, T0 + 1100);
  g_assert_true (h.overlap[V]);
  route (&h, second, V, 40, DELTA, T0 + 1110); /* continues */
  g_assert_cmpuint (h.active[V], ==, second);
  /* The second one took over video: it drains in turn, the first stops,
   * and the overlap seen is forgotten. */
  metered_handover_connected (&h, T0 + 1200);
  g_assert_cmpint (metered_handover_swap (&h, TRUE, T0 + 2000), ==,
      METERED_HANDOVER_SWAP_DRAIN_OLD);
  third = h.current;
  g_assert_cmpuint (h.draining, ==, second);
  g_assert_false (h.overlap[V]);
  g_assert_cmpint (route (&h, first, A, 23, KEY, T0 + 2010), ==,
      METERED_HANDOVER_DROP_STALE);
  g_assert_cmpint (route (&h, third, V, 41, DELTA, T0 + 2010), ==,
      METERED_HANDOVER_DROP_WAIT_KEY);
}

static void
test_replacement_that_never_took_over (void)
{
  MeteredHandover h;
  guint old = setup_draining (&h), second = h.current;

  /* The replacement connected but carries nothing yet: when it is replaced
   * in turn it stops, and the one draining goes on. */
  metered_handover_connected (&h, T0 + 1100);
  g_assert_cmpint (metered_handover_swap (&h, TRUE, T0 + 1500), ==,
      METERED_HANDOVER_SWAP_STOP_OLD);
  g_assert_cmpuint (h.draining, ==, old);
  g_assert_cmpuint (h.current, ==, second + 1);
  g_assert_cmpint (
      route (&h, old, V, 12, DELTA, T0 + 1510), ==, METERED_HANDOVER_FORWARD);
  g_assert_cmpint (route (&h, second, V, 12, DELTA, T0 + 1510), ==,
      METERED_HANDOVER_DROP_STALE);
}

static void
test_check_waits_for_connected (void)
{
  MeteredHandover h;
  guint old = setup_draining (&h);

  /* Not connected yet: the old one drains for 10 s at most (from the
   * swap at T0 + 1000), even when idle. */
  g_assert_cmpint (
      metered_handover_check (&h, T0 + 5000), ==, METERED_HANDOVER_KEEP);
  g_assert_cmpint (
      metered_handover_check (&h, T0 + 11000), ==, METERED_HANDOVER_KEEP);
  g_assert_cmpuint (h.draining, ==, old);
  g_assert_cmpint (metered_handover_check (&h, T0 + 11001), ==,
      METERED_HANDOVER_STOP_TIMEOUT);
  g_assert_cmpuint (h.draining, ==, 0);
  g_assert_cmpint (
      metered_handover_check (&h, T0 + 11002), ==, METERED_HANDOVER_KEEP);
}

static void
test_check_settles_after_takeover (void)
{
  MeteredHandover h;
  guint now;

  setup_draining (&h);
  now = h.current;
  route (&h, now, V, 11, DELTA, T0 + 1100);
  route (&h, now, V, 50, DELTA, T0 + 1110);
  route (&h, now, A, 60, KEY, T0 + 1110);
  g_assert_cmpuint (h.active[V], ==, now);
  g_assert_cmpuint (h.active[A], ==, now);
  /* Connected at +2000: a second later, not before, the old one stops. */
  metered_handover_connected (&h, T0 + 2000);
  g_assert_cmpint (
      metered_handover_check (&h, T0 + 2999), ==, METERED_HANDOVER_KEEP);
  g_assert_cmpint (metered_handover_check (&h, T0 + 3000), ==,
      METERED_HANDOVER_STOP_SETTLED);
  g_assert_cmpuint (h.draining, ==, 0);
}

static void
test_check_keeps_while_old_carries (void)
{
  MeteredHandover h;
  guint old = setup_draining (&h), now = h.current;

  /* Video moved, audio did not, and the old one still sends it. */
  route (&h, now, V, 70, KEY, T0 + 1100);
  metered_handover_connected (&h, T0 + 1200);
  for (gint64 t = T0 + 1300; t < T0 + 4000; t += 500) {
    g_assert_cmpint (
        route (&h, old, A, 80 + t, KEY, t), ==, METERED_HANDOVER_FORWARD);
    g_assert_cmpint (metered_handover_check (&h, t), ==, METERED_HANDOVER_KEEP);
  }
  /* The old one falls silent: idle after more than a second. */
  g_assert_cmpint (
      metered_handover_check (&h, T0 + 3800 + 1000), ==, METERED_HANDOVER_KEEP);
  g_assert_cmpint (metered_handover_check (&h, T0 + 3800 + 1001), ==,
      METERED_HANDOVER_STOP_SETTLED);
}

static void
test_hash (void)
{
  static const guint8 a[] = { 'a' };
  static const guint8 zeros[4] = { 0 };

  /* FNV-1a 64 of "a", then the size mixed in. */
  g_assert_cmpuint (metered_handover_hash (a, 1), ==,
      G_GUINT64_CONSTANT (0xaf63dc4c8601ec8c) ^ 1);
  g_assert_cmpuint (metered_handover_hash (NULL, 0), ==,
      G_GUINT64_CONSTANT (14695981039346656037));
  /* Runs of zero bytes differ by their length. */
  g_assert_cmpuint (
      metered_handover_hash (zeros, 3), !=, metered_handover_hash (zeros, 4));
}

/* --- recovery: restart or swap --- */

static MeteredRecoveryFacts
alive_impolite (void)
{
  MeteredRecoveryFacts f = { 0 };

  f.established = TRUE;
  f.restart_possible = TRUE;
  return f;
}

static void
test_recovery_impolite_restarts_then_swaps (void)
{
  MeteredRecoveryFacts f = alive_impolite ();

  for (f.attempt = 0; f.attempt < METERED_RECOVERY_MAX_RESTARTS; f.attempt++)
    g_assert_cmpint (
        metered_handover_recovery (&f), ==, METERED_RECOVERY_RESTART);
  /* restarts spent: a swap only once the path is dead */
  g_assert_cmpint (metered_handover_recovery (&f), ==, METERED_RECOVERY_WAIT);
  f.dead = TRUE;
  g_assert_cmpint (metered_handover_recovery (&f), ==, METERED_RECOVERY_SWAP);
  /* a dead path is still restarted first */
  f.attempt = 0;
  g_assert_cmpint (
      metered_handover_recovery (&f), ==, METERED_RECOVERY_RESTART);
}

static void
test_recovery_impolite_waits_for_answer (void)
{
  MeteredRecoveryFacts f = alive_impolite ();

  f.negotiating = TRUE;
  f.attempt = 1;
  g_assert_cmpint (metered_handover_recovery (&f), ==, METERED_RECOVERY_WAIT);
  f.negotiating = FALSE;
  g_assert_cmpint (
      metered_handover_recovery (&f), ==, METERED_RECOVERY_RESTART);
}

static void
test_recovery_polite_waits_for_remote (void)
{
  MeteredRecoveryFacts f = alive_impolite ();

  f.polite = TRUE;
  f.dead = TRUE;
  for (f.attempt = 0; f.attempt < METERED_RECOVERY_POLITE_WAIT; f.attempt++)
    g_assert_cmpint (metered_handover_recovery (&f), ==, METERED_RECOVERY_WAIT);
  g_assert_cmpint (metered_handover_recovery (&f), ==, METERED_RECOVERY_SWAP);
  /* never a restart of its own: a collision would cost a swap */
  f.dead = FALSE;
  g_assert_cmpint (metered_handover_recovery (&f), ==, METERED_RECOVERY_WAIT);
}

static void
test_recovery_polite_restarts_own_path_gone (void)
{
  MeteredRecoveryFacts f = alive_impolite ();

  /* our selected address went, another is up: we restart, polite too */
  f.polite = TRUE;
  f.path_gone = TRUE;
  g_assert_cmpint (
      metered_handover_recovery (&f), ==, METERED_RECOVERY_RESTART);
  f.negotiating = TRUE;
  g_assert_cmpint (metered_handover_recovery (&f), ==, METERED_RECOVERY_WAIT);
  /* every address gone: no restart can help */
  f.negotiating = FALSE;
  f.address_gone = TRUE;
  g_assert_cmpint (metered_handover_recovery (&f), ==, METERED_RECOVERY_WAIT);
}

static void
test_recovery_swap_only_cases (void)
{
  MeteredRecoveryFacts f = alive_impolite ();

  /* our own address gone: no restart, a swap once dead, polite or not */
  f.address_gone = TRUE;
  g_assert_cmpint (metered_handover_recovery (&f), ==, METERED_RECOVERY_WAIT);
  f.dead = TRUE;
  g_assert_cmpint (metered_handover_recovery (&f), ==, METERED_RECOVERY_SWAP);
  f.polite = TRUE;
  g_assert_cmpint (metered_handover_recovery (&f), ==, METERED_RECOVERY_SWAP);
  /* never connected, or not restartable: a swap once dead */
  f = alive_impolite ();
  f.established = FALSE;
  g_assert_cmpint (metered_handover_recovery (&f), ==, METERED_RECOVERY_WAIT);
  f.dead = TRUE;
  g_assert_cmpint (metered_handover_recovery (&f), ==, METERED_RECOVERY_SWAP);
  f = alive_impolite ();
  f.restart_possible = FALSE;
  f.dead = TRUE;
  g_assert_cmpint (metered_handover_recovery (&f), ==, METERED_RECOVERY_SWAP);
  g_assert_cmpstr (
      metered_recovery_to_string (METERED_RECOVERY_RESTART), ==, "restart");
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/handover/first-connection", test_first_connection);
  g_test_add_func (
      "/handover/swap-stops-unconnected", test_swap_stops_unconnected);
  g_test_add_func (
      "/handover/swap-resets-connected", test_swap_resets_connected);
  g_test_add_func ("/handover/overlap-continues", test_overlap_continues);
  g_test_add_func (
      "/handover/duplicate-of-old-frames", test_duplicate_of_old_frames);
  g_test_add_func ("/handover/recent-window", test_recent_window);
  g_test_add_func (
      "/handover/unknown-hash-never-matches", test_unknown_hash_never_matches);
  g_test_add_func ("/handover/no-overlap-video-waits-for-key",
      test_no_overlap_video_waits_for_key);
  g_test_add_func (
      "/handover/no-overlap-audio-switches", test_no_overlap_audio_switches);
  g_test_add_func ("/handover/new-kind-from-new", test_new_kind_from_new);
  g_test_add_func ("/handover/old-gone-switches", test_old_gone_switches);
  g_test_add_func (
      "/handover/overlap-reset-on-new-drain", test_overlap_reset_on_new_drain);
  g_test_add_func ("/handover/replacement-that-never-took-over",
      test_replacement_that_never_took_over);
  g_test_add_func (
      "/handover/check-waits-for-connected", test_check_waits_for_connected);
  g_test_add_func ("/handover/check-settles-after-takeover",
      test_check_settles_after_takeover);
  g_test_add_func ("/handover/check-keeps-while-old-carries",
      test_check_keeps_while_old_carries);
  g_test_add_func ("/handover/hash", test_hash);
  g_test_add_func ("/handover/recovery-impolite-restarts-then-swaps",
      test_recovery_impolite_restarts_then_swaps);
  g_test_add_func ("/handover/recovery-impolite-waits-for-answer",
      test_recovery_impolite_waits_for_answer);
  g_test_add_func ("/handover/recovery-polite-waits-for-remote",
      test_recovery_polite_waits_for_remote);
  g_test_add_func ("/handover/recovery-polite-restarts-own-path-gone",
      test_recovery_polite_restarts_own_path_gone);
  g_test_add_func (
      "/handover/recovery-swap-only-cases", test_recovery_swap_only_cases);

  return g_test_run ();
}
