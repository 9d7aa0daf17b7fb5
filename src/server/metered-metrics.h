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

/* Counters the server exposes at /metrics (Prometheus text format). */

typedef enum
{
  METERED_METRIC_FRAMES_IN, /* label: frame type */
  METERED_METRIC_FRAMES_OUT, /* label: frame type */
  METERED_METRIC_CLOSES, /* label: close code */
  METERED_METRIC_HANDSHAKE_REFUSALS, /* label: reason */
  METERED_METRIC_HISTORY_RESUMES, /* label: outcome */
  METERED_METRIC_N_FAMILIES,
} MeteredMetricFamily;

typedef struct _MeteredMetrics MeteredMetrics;

MeteredMetrics *metered_metrics_new (void);
void metered_metrics_free (MeteredMetrics *metrics);
void metered_metrics_inc (
    MeteredMetrics *metrics, MeteredMetricFamily family, const char *label);
/* Adds n at once (a fan-out counts its frames in one call). */
void metered_metrics_add (MeteredMetrics *metrics, MeteredMetricFamily family,
    const char *label, guint64 n);
guint64 metered_metrics_get (
    MeteredMetrics *metrics, MeteredMetricFamily family, const char *label);
/* Values the hub reads off its stores and sets whole (the channel
 * history's size and evictions). */
typedef enum
{
  METERED_VALUE_HISTORY_MESSAGES,
  METERED_VALUE_HISTORY_BYTES,
  METERED_VALUE_HISTORY_CHANNELS,
  METERED_VALUE_HISTORY_EVICTED_COUNT,
  METERED_VALUE_HISTORY_EVICTED_AGE,
  METERED_VALUE_HISTORY_EVICTED_MEMORY,
  METERED_VALUE_HELD_DIRECTS,
  METERED_VALUE_N,
} MeteredMetricValue;

void metered_metrics_set (
    MeteredMetrics *metrics, MeteredMetricValue value, guint64 v);
guint64 metered_metrics_get_value (
    MeteredMetrics *metrics, MeteredMetricValue value);

/* Appends more figures (Prometheus text, whole families) at the end of
 * every render: the cluster mode's. NULL removes it. */
typedef void (*MeteredMetricsExtraFunc) (GString *out, gpointer user_data);
void metered_metrics_set_extra (
    MeteredMetrics *metrics, MeteredMetricsExtraFunc func, gpointer user_data);

/* Renders every counter plus the two gauges. */
char *metered_metrics_render (
    MeteredMetrics *metrics, guint connections, guint channels);

G_END_DECLS
