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

#include <math.h>

static double
fixed_random (gpointer user_data)
{
  return *(const double *) user_data;
}

static gint64
delay (const MeteredBackoffConfig *config, guint attempt, double floor_ms,
    double r)
{
  return metered_backoff_delay_ms (config, attempt, floor_ms, fixed_random, &r);
}

/* Protocol doc §7.2: attempts 1..12 with r = 0 (lower bound), r = 0.5
 * (nominal) and r = 0.999999 (upper bound). */
static void
test_table (void)
{
  static const gint64 lower[] = { 400, 800, 1600, 3200, 6400, 12800, 24000,
    24000, 24000, 24000, 24000, 24000 };
  static const gint64 nominal[] = { 500, 1000, 2000, 4000, 8000, 16000, 30000,
    30000, 30000, 30000, 30000, 30000 };
  static const gint64 upper[] = { 599, 1199, 2399, 4799, 9599, 19199, 35999,
    35999, 35999, 35999, 35999, 35999 };
  const MeteredBackoffConfig config = METERED_BACKOFF_CONFIG_DEFAULT;
  guint attempt;

  for (attempt = 1; attempt <= 12; attempt++) {
    g_assert_cmpint (delay (&config, attempt, 0, 0.0), ==, lower[attempt - 1]);
    g_assert_cmpint (
        delay (&config, attempt, 0, 0.5), ==, nominal[attempt - 1]);
    g_assert_cmpint (
        delay (&config, attempt, 0, 0.999999), ==, upper[attempt - 1]);
  }
}

static void
test_slow_floor (void)
{
  const MeteredBackoffConfig config = METERED_BACKOFF_CONFIG_DEFAULT;
  guint attempt;

  /* After a 4010 close the floor applies before jitter: 24000..35999,
   * whatever the attempt. */
  for (attempt = 1; attempt <= 12; attempt++) {
    g_assert_cmpint (
        delay (&config, attempt, METERED_SLOW_BACKOFF_FLOOR_MS, 0.0), ==,
        24000);
    g_assert_cmpint (
        delay (&config, attempt, METERED_SLOW_BACKOFF_FLOOR_MS, 0.5), ==,
        30000);
    g_assert_cmpint (
        delay (&config, attempt, METERED_SLOW_BACKOFF_FLOOR_MS, 0.999999), ==,
        35999);
  }
  /* A floor under the base changes nothing. */
  g_assert_cmpint (delay (&config, 3, 1000, 0.0), ==, 1600);
}

static void
test_big_attempts (void)
{
  const MeteredBackoffConfig config = METERED_BACKOFF_CONFIG_DEFAULT;
  const MeteredBackoffConfig zero = { 0, 2, 30000, 0.2, 100 };
  const MeteredBackoffConfig flat = { 750, 1, 30000, 0, 100 };
  const MeteredBackoffConfig huge = { 1e300, 10, 1e308, 0.2, 100 };

  /* pow() overflows to +inf here; the cap must still hold. */
  g_assert_cmpint (delay (&config, 1100, 0, 0.5), ==, 30000);
  g_assert_cmpint (delay (&config, G_MAXUINT, 0, 0.999999), ==, 35999);
  /* Attempts are 1-based; 0 is taken as 1. */
  g_assert_cmpint (delay (&config, 0, 0, 0.5), ==, 500);
  /* 0 * inf must not turn into NaN. */
  g_assert_cmpint (delay (&zero, G_MAXUINT, 0, 0.5), ==, 0);
  g_assert_cmpint (delay (&zero, 1, 0, 0.0), ==, 0);
  g_assert_cmpint (delay (&flat, 40, 0, 0.0), ==, 750);
  /* Results too large for gint64 saturate. */
  g_assert_cmpint (delay (&huge, 5, 0, 0.5), ==, G_MAXINT64);
}

static void
test_custom_curve (void)
{
  const MeteredBackoffConfig config = { 100, 3, 1000, 0, 5 };
  const MeteredBackoffConfig full_jitter = { 1000, 2, 30000, 1, 5 };

  g_assert_cmpint (delay (&config, 1, 0, 0.3), ==, 100);
  g_assert_cmpint (delay (&config, 2, 0, 0.3), ==, 300);
  g_assert_cmpint (delay (&config, 3, 0, 0.3), ==, 900);
  g_assert_cmpint (delay (&config, 4, 0, 0.3), ==, 1000);
  /* jitter 1: r = 0 gives 0, never below. */
  g_assert_cmpint (delay (&full_jitter, 1, 0, 0.0), ==, 0);
  g_assert_cmpint (delay (&full_jitter, 1, 0, 0.75), ==, 1500);
}

static void
test_default_random (void)
{
  const MeteredBackoffConfig config = METERED_BACKOFF_CONFIG_DEFAULT;
  guint i;

  for (i = 0; i < 1000; i++) {
    gint64 d = metered_backoff_delay_ms (&config, 1, 0, NULL, NULL);

    g_assert_cmpint (d, >=, 400);
    g_assert_cmpint (d, <=, 599);
  }
}

static void
check_invalid (MeteredBackoffConfig config)
{
  g_autoptr (GError) error = NULL;

  g_assert_false (metered_backoff_config_is_valid (&config, &error));
  g_assert_nonnull (error);
}

static void
test_config_validation (void)
{
  const MeteredBackoffConfig def = METERED_BACKOFF_CONFIG_DEFAULT;
  MeteredBackoffConfig c;
  g_autoptr (GError) error = NULL;

  g_assert_cmpfloat (def.initial_delay_ms, ==, 500);
  g_assert_cmpfloat (def.multiplier, ==, 2);
  g_assert_cmpfloat (def.max_delay_ms, ==, 30000);
  g_assert_cmpfloat (def.jitter_ratio, ==, 0.2);
  g_assert_cmpint (def.max_attempts, ==, 100);
  g_assert_true (metered_backoff_config_is_valid (&def, &error));
  g_assert_no_error (error);

  c = def;
  c.initial_delay_ms = 0;
  c.multiplier = 1;
  c.max_delay_ms = 0;
  c.jitter_ratio = 0;
  c.max_attempts = -1;
  g_assert_true (metered_backoff_config_is_valid (&c, NULL));
  c.jitter_ratio = 1;
  c.max_attempts = 1;
  g_assert_true (metered_backoff_config_is_valid (&c, NULL));

  c = def;
  c.initial_delay_ms = -1;
  check_invalid (c);
  c.initial_delay_ms = INFINITY;
  check_invalid (c);
  c.initial_delay_ms = NAN;
  check_invalid (c);
  c = def;
  c.multiplier = 0.5;
  check_invalid (c);
  c.multiplier = NAN;
  check_invalid (c);
  c.multiplier = INFINITY;
  check_invalid (c);
  c = def;
  c.max_delay_ms = -1;
  check_invalid (c);
  c.max_delay_ms = INFINITY;
  check_invalid (c);
  c = def;
  c.jitter_ratio = 1.1;
  check_invalid (c);
  c.jitter_ratio = -0.1;
  check_invalid (c);
  c.jitter_ratio = NAN;
  check_invalid (c);
  c = def;
  c.max_attempts = 0;
  check_invalid (c);
  c.max_attempts = -2;
  check_invalid (c);
}

static void
test_may_retry (void)
{
  const MeteredBackoffConfig def = METERED_BACKOFF_CONFIG_DEFAULT;
  const MeteredBackoffConfig forever = { 500, 2, 30000, 0.2, -1 };
  const MeteredBackoffConfig once = { 500, 2, 30000, 0.2, 1 };

  g_assert_true (metered_backoff_may_retry (&def, 0));
  g_assert_true (metered_backoff_may_retry (&def, 99));
  g_assert_false (metered_backoff_may_retry (&def, 100));
  g_assert_false (metered_backoff_may_retry (&def, 101));
  g_assert_true (metered_backoff_may_retry (&forever, G_MAXUINT64));
  g_assert_true (metered_backoff_may_retry (&once, 0));
  g_assert_false (metered_backoff_may_retry (&once, 1));
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/backoff/table", test_table);
  g_test_add_func ("/backoff/slow-floor", test_slow_floor);
  g_test_add_func ("/backoff/big-attempts", test_big_attempts);
  g_test_add_func ("/backoff/custom-curve", test_custom_curve);
  g_test_add_func ("/backoff/default-random", test_default_random);
  g_test_add_func ("/backoff/config-validation", test_config_validation);
  g_test_add_func ("/backoff/may-retry", test_may_retry);

  return g_test_run ();
}
