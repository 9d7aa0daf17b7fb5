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

/* Channel history bench (issue 17), in process: metered-server's hub with
 * an I/O table that keeps the frames it is given (no sockets, so the
 * figures are the hub's own cost). Prints, side by side, the time to
 * deliver N messages live to a connected subscriber (the baseline) and
 * the time to replay the same N to a subscriber resuming after missing
 * them, plus the memory the history holds per stored message.
 *
 *   history-bench [N] [PAYLOAD_BYTES]      (defaults 10000, 64)
 */

#include "metered-history.h"
#include "metered-hub.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct
{
  guint messages;
  guint64 bytes;
  char *history; /* the last history frame */
} Sink;

static void
sink_send (gpointer data, const char *text)
{
  Sink *s = data;

  if (g_str_has_prefix (text, "{\"type\":\"message\""))
    s->messages++;
  else if (g_str_has_prefix (text, "{\"type\":\"history\"")) {
    g_free (s->history);
    s->history = g_strdup (text);
  }
  s->bytes += strlen (text);
}

static void
sink_close (gpointer data, int code, const char *reason)
{
}

static const MeteredHubIo io = { sink_send, sink_close, NULL };

static gint64 fake_ms;

static MeteredHubConn *
peer (MeteredHub *hub, MeteredApp *app, const char *id, Sink *sink)
{
  static const char *const all[] = { "**", NULL };
  MeteredHubAuth auth = { 0 };

  auth.app = app;
  auth.peer_id = id;
  auth.actions = METERED_ACTION_ALL;
  auth.channel_patterns = all;
  auth.credential_id = "bench";
  auth.expires_at = -1;
  auth.peer_id_is_stable = TRUE;
  return metered_hub_conn_add (hub, &auth, &io, sink);
}

static void
feed (MeteredHubConn *conn, const char *text)
{
  /* 20 ms of fake time per frame keeps the sender under 100 frames/s. */
  fake_ms += 20;
  metered_hub_conn_handle_text (conn, text, strlen (text), fake_ms);
}

static void
publish_n (MeteredHubConn *pub, guint n, const char *payload)
{
  for (guint i = 0; i < n; i++) {
    g_autofree char *f =
        g_strdup_printf ("{\"type\":\"publish\",\"channel\":\"c\",\"data\":{"
                         "\"i\":%u,\"p\":\"%s\"}}",
            i, payload);
    feed (pub, f);
  }
}

static char *
json_field (const char *text, const char *key)
{
  g_autofree char *pat = g_strdup_printf ("\"%s\":", key);
  const char *p = strstr (text, pat);
  const char *end;

  if (!p)
    return NULL;
  p += strlen (pat);
  if (*p == '"') {
    end = strchr (p + 1, '"');
    return g_strndup (p + 1, end - p - 1);
  }
  end = p + strcspn (p, ",}");
  return g_strndup (p, end - p);
}

int
main (int argc, char **argv)
{
  guint n = argc > 1 ? (guint) atoi (argv[1]) : 10000;
  guint payload_len = argc > 2 ? (guint) atoi (argv[2]) : 64;
  g_autoptr (MeteredServerConfig) config = metered_server_config_new ();
  g_autofree char *payload = g_strnfill (payload_len, 'x');
  MeteredMetrics *metrics = metered_metrics_new ();
  MeteredHub *hub = metered_hub_new (metrics, 5);
  Sink live = { 0 }, away = { 0 }, back = { 0 }, pubsink = { 0 };
  MeteredHubConn *pub, *sub;
  MeteredApp *app;
  g_autofree char *epoch = NULL, *seq = NULL, *resume = NULL;
  gint64 t0, t_live, t_replay;
  guint64 hist_bytes, hist_msgs;

  metered_server_config_add_dev_app (config);
  app = metered_server_config_find_app (config, METERED_DEV_APP_ID);
  app->history_max_messages = MAX (n, 1);
  app->history_max_age_ms = 3600 * 1000;

  pub = peer (hub, app, "publisher", &pubsink);

  /* Baseline: a subscriber connected all along receives N live. */
  sub = peer (hub, app, "live", &live);
  feed (sub, "{\"type\":\"subscribe\",\"channel\":\"c\",\"history\":{}}");
  t0 = g_get_monotonic_time ();
  publish_n (pub, n, payload);
  t_live = g_get_monotonic_time () - t0;
  g_assert_cmpuint (live.messages, ==, n);
  metered_hub_conn_remove (sub);

  /* Resume: a subscriber that saw nothing of the next N comes back. */
  sub = peer (hub, app, "away", &away);
  feed (sub, "{\"type\":\"subscribe\",\"channel\":\"c\",\"history\":{}}");
  epoch = json_field (away.history, "epoch");
  seq = json_field (away.history, "seq");
  metered_hub_conn_remove (sub);
  publish_n (pub, n, payload);
  hist_bytes = metered_metrics_get_value (metrics, METERED_VALUE_HISTORY_BYTES);
  hist_msgs =
      metered_metrics_get_value (metrics, METERED_VALUE_HISTORY_MESSAGES);

  sub = peer (hub, app, "back", &back);
  resume = g_strdup_printf ("{\"type\":\"subscribe\",\"channel\":\"c\","
                            "\"history\":{\"epoch\":\"%s\",\"seq\":%s}}",
      epoch, seq);
  t0 = g_get_monotonic_time ();
  feed (sub, resume);
  while (!back.history)
    g_main_context_iteration (NULL, TRUE);
  t_replay = g_get_monotonic_time () - t0;
  if (back.messages != n || !strstr (back.history, "\"status\":\"resumed\"")) {
    fprintf (stderr, "replay incomplete: %u of %u, %s\n", back.messages, n,
        back.history);
    return 1;
  }

  printf ("history bench: %u messages, payload %u bytes (data JSON %u bytes)\n",
      n, payload_len, payload_len + 15);
  printf ("%-34s %12s %12s\n", "", "live (base)", "replay");
  printf ("%-34s %12.1f %12.1f\n", "time to deliver all (ms)", t_live / 1000.0,
      t_replay / 1000.0);
  printf ("%-34s %12.2f %12.2f\n", "per message (us)", (double) t_live / n,
      (double) t_replay / n);
  printf ("%-34s %12" G_GUINT64_FORMAT " %12" G_GUINT64_FORMAT "\n",
      "frame bytes out", live.bytes, back.bytes);
  printf ("history: %" G_GUINT64_FORMAT " messages held, %" G_GUINT64_FORMAT
          " bytes, %.1f bytes per stored message (%" G_GSIZE_FORMAT
          " fixed + strings)\n",
      hist_msgs, hist_bytes, hist_msgs ? (double) hist_bytes / hist_msgs : 0.0,
      metered_history_entry_overhead ());

  metered_hub_conn_remove (sub);
  metered_hub_conn_remove (pub);
  metered_hub_free (hub);
  metered_metrics_free (metrics);
  g_free (live.history);
  g_free (away.history);
  g_free (back.history);
  g_free (pubsink.history);
  return 0;
}
