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

#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* Rate limiting with time passed in (milliseconds, any monotonic base),
 * so tests need no clock. */

typedef struct
{
  double tokens;
  double capacity;
  double per_ms;
  gint64 last_ms;
} MeteredTokenBucket;

/* Starts full: capacity tokens (the burst), refilled at per_second. */
void metered_token_bucket_init (MeteredTokenBucket *bucket, double capacity,
    double per_second, gint64 now_ms);
/* Takes one token; FALSE when empty (rate exceeded). */
gboolean metered_token_bucket_take (MeteredTokenBucket *bucket, gint64 now_ms);
/* Milliseconds from now_ms until take() succeeds (0: now), for a sender
 * that paces itself under a limit instead of exceeding it. */
gint64 metered_token_bucket_wait_ms (
    const MeteredTokenBucket *bucket, gint64 now_ms);

/* Sliding window: at most limit hits in any window_ms. */
typedef struct _MeteredRateWindow MeteredRateWindow;

MeteredRateWindow *metered_rate_window_new (guint limit, gint64 window_ms);
void metered_rate_window_free (MeteredRateWindow *window);
/* Records a hit at now_ms if allowed and returns TRUE, else FALSE (the
 * refused hit is not recorded). */
gboolean metered_rate_window_hit (MeteredRateWindow *window, gint64 now_ms);
/* TRUE when no hit lies within the window any more (may be dropped). */
gboolean metered_rate_window_is_idle (MeteredRateWindow *window, gint64 now_ms);

G_END_DECLS
