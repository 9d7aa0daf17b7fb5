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

#include "protocol/metered-backoff.h"

#include <gio/gio.h>
#include <math.h>

/* The SDK computes in IEEE doubles one operation at a time; do not let
 * the compiler fuse a multiply and an add into an FMA, which would round
 * differently at the edges of the jitter range. */
#ifdef __clang__
#pragma STDC FP_CONTRACT OFF
#endif

gboolean
metered_backoff_config_is_valid (
    const MeteredBackoffConfig *config, GError **error)
{
  const char *what = NULL;

  g_return_val_if_fail (config != NULL, FALSE);

  if (!isfinite (config->initial_delay_ms) || config->initial_delay_ms < 0)
    what = "initial delay must be a finite number >= 0";
  else if (!isfinite (config->multiplier) || config->multiplier < 1)
    what = "multiplier must be a finite number >= 1";
  else if (!isfinite (config->max_delay_ms) || config->max_delay_ms < 0)
    what = "max delay must be a finite number >= 0";
  else if (isnan (config->jitter_ratio) || config->jitter_ratio < 0 ||
           config->jitter_ratio > 1)
    what = "jitter ratio must be between 0 and 1";
  else if (config->max_attempts <= 0 && config->max_attempts != -1)
    what = "max attempts must be a positive integer or -1 (infinite)";

  if (what) {
    g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT, what);
    return FALSE;
  }
  return TRUE;
}

static double
default_random (gpointer user_data)
{
  return g_random_double ();
}

gint64
metered_backoff_delay_ms (const MeteredBackoffConfig *config, guint attempt,
    double floor_ms, MeteredRandomFunc random, gpointer user_data)
{
  double base, r, spread, delay;

  g_return_val_if_fail (config != NULL, 0);

  /* Attempts are 1-based; treat 0 as the first. */
  if (attempt == 0)
    attempt = 1;

  /* base = min(initial * multiplier^(attempt-1), max). pow() overflows to
   * +inf for large attempts, which min() turns into max; 0 * inf would be
   * NaN, so a zero initial delay stays zero. */
  if (config->initial_delay_ms <= 0)
    base = 0;
  else {
    base = config->initial_delay_ms *
           pow (config->multiplier, (double) (attempt - 1));
    if (isnan (base) || base > config->max_delay_ms)
      base = config->max_delay_ms;
  }

  /* The 4010 floor is applied before jitter. */
  if (floor_ms > base)
    base = floor_ms;

  r = random ? random (user_data) : default_random (NULL);

  /* delay = floor(base + base * jitter * (2r - 1)), evaluated in the
   * SDK's order. */
  spread = base * config->jitter_ratio;
  spread = spread * (2 * r - 1);
  delay = floor (base + spread);

  if (!(delay > 0)) /* also catches NaN */
    return 0;
  if (delay >= (double) G_MAXINT64)
    return G_MAXINT64;
  return (gint64) delay;
}

gboolean
metered_backoff_may_retry (
    const MeteredBackoffConfig *config, guint64 attempts_made)
{
  g_return_val_if_fail (config != NULL, FALSE);

  if (config->max_attempts < 0)
    return TRUE;
  return attempts_made < (guint64) config->max_attempts;
}
