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

#include "metered-metrics.h"

struct _MeteredMetrics
{
  GHashTable *families[METERED_METRIC_N_FAMILIES]; /* label -> guint64* */
  guint64 values[METERED_VALUE_N];
  MeteredMetricsExtraFunc extra;
  gpointer extra_data;
};

static const struct
{
  const char *name;
  const char *type;
  const char *help;
} value_info[METERED_VALUE_N] = {
  { "metered_history_messages", "gauge", "Messages kept in channel history" },
  { "metered_history_bytes", "gauge",
      "Memory held by channel history, entries and their strings" },
  { "metered_history_channels", "gauge",
      "Channels with a history record (numbering kept)" },
  { "metered_history_evicted_count_total", "counter",
      "History messages dropped by a channel's maxMessages" },
  { "metered_history_evicted_age_total", "counter",
      "History messages dropped by maxAgeSeconds" },
  { "metered_history_evicted_memory_total", "counter",
      "History messages dropped by the server-wide memory bound" },
  { "metered_held_directs", "gauge",
      "Direct messages held for a peer that is reconnecting" },
};

static const struct
{
  const char *name;
  const char *label;
  const char *help;
} family_info[METERED_METRIC_N_FAMILIES] = {
  { "metered_frames_in_total", "type", "Frames received from clients" },
  { "metered_frames_out_total", "type", "Frames sent to clients" },
  { "metered_closes_total", "code", "WebSocket connections closed, by code" },
  { "metered_handshake_refusals_total", "reason",
      "Connection attempts refused at the HTTP upgrade" },
  { "metered_history_resumes_total", "outcome",
      "History requests on subscribe, by outcome" },
};

MeteredMetrics *
metered_metrics_new (void)
{
  MeteredMetrics *metrics = g_new0 (MeteredMetrics, 1);

  for (guint i = 0; i < METERED_METRIC_N_FAMILIES; i++)
    metrics->families[i] =
        g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  return metrics;
}

void
metered_metrics_free (MeteredMetrics *metrics)
{
  if (!metrics)
    return;
  for (guint i = 0; i < METERED_METRIC_N_FAMILIES; i++)
    g_hash_table_unref (metrics->families[i]);
  g_free (metrics);
}

void
metered_metrics_inc (
    MeteredMetrics *metrics, MeteredMetricFamily family, const char *label)
{
  metered_metrics_add (metrics, family, label, 1);
}

void
metered_metrics_add (MeteredMetrics *metrics, MeteredMetricFamily family,
    const char *label, guint64 n)
{
  guint64 *value;

  if (!metrics || n == 0)
    return;
  value = g_hash_table_lookup (metrics->families[family], label);
  if (!value) {
    value = g_new0 (guint64, 1);
    g_hash_table_insert (metrics->families[family], g_strdup (label), value);
  }
  *value += n;
}

guint64
metered_metrics_get (
    MeteredMetrics *metrics, MeteredMetricFamily family, const char *label)
{
  guint64 *value = g_hash_table_lookup (metrics->families[family], label);

  return value ? *value : 0;
}

void
metered_metrics_set (
    MeteredMetrics *metrics, MeteredMetricValue value, guint64 v)
{
  if (metrics)
    metrics->values[value] = v;
}

guint64
metered_metrics_get_value (MeteredMetrics *metrics, MeteredMetricValue value)
{
  return metrics->values[value];
}

char *
metered_metrics_render (
    MeteredMetrics *metrics, guint connections, guint channels)
{
  GString *out = g_string_new (NULL);

  g_string_append_printf (out,
      "# HELP metered_connections Open WebSocket connections\n"
      "# TYPE metered_connections gauge\nmetered_connections %u\n"
      "# HELP metered_channels Channels with at least one subscriber\n"
      "# TYPE metered_channels gauge\nmetered_channels %u\n",
      connections, channels);
  for (guint i = 0; i < METERED_VALUE_N; i++)
    g_string_append_printf (out,
        "# HELP %s %s\n# TYPE %s %s\n%s %" G_GUINT64_FORMAT "\n",
        value_info[i].name, value_info[i].help, value_info[i].name,
        value_info[i].type, value_info[i].name, metrics->values[i]);

  for (guint i = 0; i < METERED_METRIC_N_FAMILIES; i++) {
    g_autoptr (GList) labels = g_hash_table_get_keys (metrics->families[i]);

    g_string_append_printf (out, "# HELP %s %s\n# TYPE %s counter\n",
        family_info[i].name, family_info[i].help, family_info[i].name);
    labels = g_list_sort (labels, (GCompareFunc) g_strcmp0);
    for (GList *l = labels; l; l = l->next) {
      guint64 *value = g_hash_table_lookup (metrics->families[i], l->data);
      /* Labels are frame type names, close codes and fixed reasons: no
       * escaping needed, but never a client-chosen string. */
      g_string_append_printf (out, "%s{%s=\"%s\"} %" G_GUINT64_FORMAT "\n",
          family_info[i].name, family_info[i].label, (char *) l->data, *value);
    }
  }
  if (metrics->extra)
    metrics->extra (out, metrics->extra_data);
  return g_string_free (out, FALSE);
}

void
metered_metrics_set_extra (
    MeteredMetrics *metrics, MeteredMetricsExtraFunc func, gpointer user_data)
{
  metrics->extra = func;
  metrics->extra_data = user_data;
}
