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

/* The SDK's reconnect curve, exactly (protocol doc §7.2). */
typedef struct
{
  double initial_delay_ms; /* 500 */
  double multiplier; /* 2 */
  double max_delay_ms; /* 30000 */
  double jitter_ratio; /* 0.2 */
  gint64 max_attempts; /* 100; -1 = infinite */
} MeteredBackoffConfig;

#define METERED_BACKOFF_CONFIG_DEFAULT                                         \
  {                                                                            \
    500.0, 2.0, 30000.0, 0.2, 100                                              \
  }

/* A random source returning r uniform in [0, 1). */
typedef double (*MeteredRandomFunc) (gpointer user_data);

/* The SDK's option validation: initial >= 0 finite, multiplier >= 1
 * finite, max >= 0 finite, 0 <= jitter <= 1, max_attempts > 0 or -1. */
gboolean metered_backoff_config_is_valid (
    const MeteredBackoffConfig *config, GError **error);

/* Delay before reconnect attempt number attempt (1-based), with floor_ms
 * applied before jitter (30000 once after a 4010 close, else 0).
 * random may be NULL (uses g_random_double). Result >= 0. */
gint64 metered_backoff_delay_ms (const MeteredBackoffConfig *config,
    guint attempt, double floor_ms, MeteredRandomFunc random,
    gpointer user_data);

/* TRUE while attempts_made < max_attempts (or infinite). */
gboolean metered_backoff_may_retry (
    const MeteredBackoffConfig *config, guint64 attempts_made);

G_END_DECLS
