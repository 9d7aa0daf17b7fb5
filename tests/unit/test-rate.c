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

#include "protocol/metered-protocol.h"

static guint
take_all (MeteredTokenBucket *bucket, gint64 now_ms, guint max)
{
  guint n = 0;

  while (n < max && metered_token_bucket_take (bucket, now_ms))
    n++;
  return n;
}

static void
test_bucket_burst_and_refill (void)
{
  MeteredTokenBucket bucket;
  const gint64 t0 = 1000000;
  guint i;

  metered_token_bucket_init (
      &bucket, METERED_SERVER_RATE_BURST, METERED_SERVER_RATE_PER_SEC, t0);

  /* The burst: 200 at once, the 201st refused. */
  for (i = 0; i < 200; i++)
    g_assert_true (metered_token_bucket_take (&bucket, t0));
  g_assert_false (metered_token_bucket_take (&bucket, t0));

  /* 100/s: one token per 10 ms. */
  g_assert_false (metered_token_bucket_take (&bucket, t0 + 9));
  g_assert_true (metered_token_bucket_take (&bucket, t0 + 10));
  g_assert_false (metered_token_bucket_take (&bucket, t0 + 10));

  /* One second later: exactly 100 more. */
  g_assert_cmpuint (take_all (&bucket, t0 + 1010, 1000), ==, 100);

  /* A long idle period refills to the burst, not beyond. */
  g_assert_cmpuint (take_all (&bucket, t0 + 600000, 1000), ==, 200);
}

static void
test_bucket_sustained (void)
{
  MeteredTokenBucket bucket;
  gint64 t = 0;
  guint i;

  metered_token_bucket_init (&bucket, 200, 100, 0);
  g_assert_cmpuint (take_all (&bucket, 0, 1000), ==, 200);

  /* 100 msg/s sustained is allowed for as long as it lasts... */
  for (i = 0; i < 1000; i++) {
    t += 10;
    g_assert_true (metered_token_bucket_take (&bucket, t));
  }
  /* ...and one more in the same 10 ms is not. */
  g_assert_false (metered_token_bucket_take (&bucket, t));
}

static void
test_bucket_wait (void)
{
  MeteredTokenBucket bucket;

  metered_token_bucket_init (&bucket, 2, 100, 0);
  g_assert_cmpint (metered_token_bucket_wait_ms (&bucket, 0), ==, 0);
  take_all (&bucket, 0, 10);
  /* Empty: one token per 10 ms, and the wait is exact, not early. */
  g_assert_cmpint (metered_token_bucket_wait_ms (&bucket, 0), ==, 10);
  g_assert_cmpint (metered_token_bucket_wait_ms (&bucket, 4), ==, 6);
  g_assert_false (metered_token_bucket_take (&bucket, 9));
  g_assert_cmpint (metered_token_bucket_wait_ms (&bucket, 9), ==, 1);
  g_assert_true (metered_token_bucket_take (&bucket, 10));
  g_assert_cmpint (metered_token_bucket_wait_ms (&bucket, 10), ==, 10);
}

/* A client that paces itself with the default budget and sends as fast as
 * it may is never refused by the server's bucket, even when the network
 * holds its frames back for up to half a second and delivers them
 * together. */
static void
test_client_pacing_under_server_limit (void)
{
  MeteredTokenBucket client, server;
  const double rate = METERED_CLIENT_RATE_PER_SEC;
  const gint64 stall_ms = 500;
  gint64 t = 0, arrival;
  guint sent = 0;

  metered_token_bucket_init (
      &client, METERED_CLIENT_RATE_BURST (rate), rate, 0);
  metered_token_bucket_init (
      &server, METERED_SERVER_RATE_BURST, METERED_SERVER_RATE_PER_SEC, 0);
  while (sent < 3000) {
    t += metered_token_bucket_wait_ms (&client, t);
    g_assert_true (metered_token_bucket_take (&client, t));
    sent++;
    /* Everything sent within a stall window arrives at its end. */
    arrival = (t / stall_ms + 1) * stall_ms;
    g_assert_true (metered_token_bucket_take (&server, arrival));
  }
  /* and it did go at the budget: 3000 frames in about 30 s */
  g_assert_cmpint (t, <, 31000);
}

static void
test_bucket_clock_back (void)
{
  MeteredTokenBucket bucket;

  metered_token_bucket_init (&bucket, 2, 1000, 5000);
  g_assert_cmpuint (take_all (&bucket, 5000, 10), ==, 2);
  /* Going back in time refills nothing... */
  g_assert_false (metered_token_bucket_take (&bucket, 1000));
  /* ...and does not move the reference point back. */
  g_assert_true (metered_token_bucket_take (&bucket, 5001));
  g_assert_false (metered_token_bucket_take (&bucket, 5001));
}

static void
test_window (void)
{
  MeteredRateWindow *w = metered_rate_window_new (
      METERED_SERVER_IP_CONNECTS, METERED_SERVER_IP_WINDOW_MS);
  guint i;

  g_assert_true (metered_rate_window_is_idle (w, 0));
  for (i = 0; i < 60; i++)
    g_assert_true (metered_rate_window_hit (w, i * 1000));
  /* The 61st within 60 s is refused, up to the last millisecond. */
  g_assert_false (metered_rate_window_hit (w, 59000));
  g_assert_false (metered_rate_window_hit (w, 59999));
  g_assert_false (metered_rate_window_is_idle (w, 59999));
  /* The first hit (t=0) leaves the window at t=60000. */
  g_assert_true (metered_rate_window_hit (w, 60000));
  g_assert_false (metered_rate_window_hit (w, 60000));
  /* Refused hits were not recorded: t=1000 leaves at 61000. */
  g_assert_false (metered_rate_window_hit (w, 60999));
  g_assert_true (metered_rate_window_hit (w, 61000));

  /* Idle once the newest hit (t=61000) is 60 s old. */
  g_assert_false (metered_rate_window_is_idle (w, 120999));
  g_assert_true (metered_rate_window_is_idle (w, 121000));
  for (i = 0; i < 60; i++)
    g_assert_true (metered_rate_window_hit (w, 121000));
  g_assert_false (metered_rate_window_hit (w, 121000));

  metered_rate_window_free (w);
}

static void
test_window_all_at_once (void)
{
  MeteredRateWindow *w = metered_rate_window_new (60, 60000);
  guint i;

  for (i = 0; i < 60; i++)
    g_assert_true (metered_rate_window_hit (w, 500));
  g_assert_false (metered_rate_window_hit (w, 500));
  g_assert_false (metered_rate_window_hit (w, 60499));
  for (i = 0; i < 60; i++)
    g_assert_true (metered_rate_window_hit (w, 60500));
  g_assert_false (metered_rate_window_hit (w, 60500));
  metered_rate_window_free (w);
}

static void
test_window_zero_limit (void)
{
  MeteredRateWindow *w = metered_rate_window_new (0, 1000);

  g_assert_false (metered_rate_window_hit (w, 0));
  g_assert_false (metered_rate_window_hit (w, 100000));
  g_assert_true (metered_rate_window_is_idle (w, 0));
  metered_rate_window_free (w);
  metered_rate_window_free (NULL);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/rate/bucket-burst-refill", test_bucket_burst_and_refill);
  g_test_add_func ("/rate/bucket-sustained", test_bucket_sustained);
  g_test_add_func ("/rate/bucket-clock-back", test_bucket_clock_back);
  g_test_add_func ("/rate/bucket-wait", test_bucket_wait);
  g_test_add_func (
      "/rate/client-pacing", test_client_pacing_under_server_limit);
  g_test_add_func ("/rate/window", test_window);
  g_test_add_func ("/rate/window-all-at-once", test_window_all_at_once);
  g_test_add_func ("/rate/window-zero-limit", test_window_zero_limit);

  return g_test_run ();
}
