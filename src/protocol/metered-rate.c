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

#include "protocol/metered-rate.h"

#include <math.h>

void
metered_token_bucket_init (MeteredTokenBucket *bucket, double capacity,
    double per_second, gint64 now_ms)
{
  g_return_if_fail (bucket != NULL);

  bucket->capacity = capacity;
  bucket->tokens = capacity;
  bucket->per_ms = per_second / 1000.0;
  bucket->last_ms = now_ms;
}

gboolean
metered_token_bucket_take (MeteredTokenBucket *bucket, gint64 now_ms)
{
  g_return_val_if_fail (bucket != NULL, FALSE);

  /* Refill for the time elapsed; a clock that goes back refills nothing
   * and does not move the reference point back either. */
  if (now_ms > bucket->last_ms) {
    bucket->tokens += (double) (now_ms - bucket->last_ms) * bucket->per_ms;
    if (bucket->tokens > bucket->capacity)
      bucket->tokens = bucket->capacity;
    bucket->last_ms = now_ms;
  }

  if (bucket->tokens < 1.0)
    return FALSE;
  bucket->tokens -= 1.0;
  return TRUE;
}

gint64
metered_token_bucket_wait_ms (const MeteredTokenBucket *bucket, gint64 now_ms)
{
  double tokens;

  g_return_val_if_fail (bucket != NULL, 0);

  tokens = bucket->tokens;
  if (now_ms > bucket->last_ms)
    tokens += (double) (now_ms - bucket->last_ms) * bucket->per_ms;
  if (tokens >= 1.0 || bucket->per_ms <= 0.0)
    return 0;
  /* Rounded up: a timer that fires a fraction early would find the
   * bucket still empty and have to be armed again. */
  return (gint64) ceil ((1.0 - tokens) / bucket->per_ms);
}

/* The times of the accepted hits still inside the window, oldest first,
 * in a ring of limit slots. */
struct _MeteredRateWindow
{
  guint limit;
  gint64 window_ms;
  gint64 *hits;
  guint head;
  guint count;
};

MeteredRateWindow *
metered_rate_window_new (guint limit, gint64 window_ms)
{
  MeteredRateWindow *window = g_new0 (MeteredRateWindow, 1);

  window->limit = limit;
  window->window_ms = window_ms;
  window->hits = g_new0 (gint64, MAX (limit, 1));
  return window;
}

void
metered_rate_window_free (MeteredRateWindow *window)
{
  if (window == NULL)
    return;
  g_free (window->hits);
  g_free (window);
}

/* Drops hits that are window_ms or more in the past. */
static void
expire (MeteredRateWindow *window, gint64 now_ms)
{
  while (window->count > 0 &&
         now_ms - window->hits[window->head] >= window->window_ms) {
    window->head = (window->head + 1) % window->limit;
    window->count--;
  }
}

gboolean
metered_rate_window_hit (MeteredRateWindow *window, gint64 now_ms)
{
  g_return_val_if_fail (window != NULL, FALSE);

  expire (window, now_ms);
  if (window->count >= window->limit)
    return FALSE;
  window->hits[(window->head + window->count) % window->limit] = now_ms;
  window->count++;
  return TRUE;
}

gboolean
metered_rate_window_is_idle (MeteredRateWindow *window, gint64 now_ms)
{
  g_return_val_if_fail (window != NULL, TRUE);

  expire (window, now_ms);
  return window->count == 0;
}
