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

/* 1,000 connect/drop cycles of one MeteredSignallingClient against one
 * metered-server process, with this process's RSS sampled every 100
 * cycles: a leak per reconnect shows up as growth.
 *
 * METERED_CYCLES overrides the count (at least 200). Odd cycles drop
 * through the admin API (POST /v1/peers/{id}/drop?code=1011), even ones
 * cut the TCP connection in the proxy (1006). */

#include "test-util.h"

#include "metered-test-proxy.h"

#include <string.h>

#define WAIT_MS 15000

static GLogFunc test_log_handler;

static void
log_handler (const char *domain, GLogLevelFlags level, const char *message,
    gpointer data)
{
  if (level & (G_LOG_LEVEL_DEBUG | G_LOG_LEVEL_INFO))
    return;
  if ((level & G_LOG_LEVEL_WARNING) && g_strcmp0 (domain, "metered-client"))
    g_test_fail_printf ("unexpected warning: %s: %s", domain, message);
  test_log_handler (domain, level, message, NULL);
}

/* Counters only: the test's own bookkeeping must not grow per cycle, or
 * it would show up in the RSS it measures. */
typedef struct
{
  guint connected;
  guint reconnected;
  guint disconnects;
  guint bad_disconnects;
  int last_code;
} Counters;

static void
on_connected (MeteredSignallingClient *client, const char *peer_id,
    double server_time, gint64 expires_at, gboolean is_reconnect,
    gint64 max_message_size, GVariant *ice_servers, Counters *c)
{
  c->connected++;
  if (is_reconnect)
    c->reconnected++;
}

static void
on_disconnected (MeteredSignallingClient *client, int code, const char *reason,
    gboolean will_reconnect, Counters *c)
{
  int expected = c->disconnects % 2 ? 1006 : 1011;

  if (code != expected || !will_reconnect) {
    c->bad_disconnects++;
    g_test_message ("cycle %u: close %d \"%s\" will-reconnect %d",
        c->disconnects + 1, code, reason, will_reconnect);
  }
  c->disconnects++;
  c->last_code = code;
}

static guint
drop_via_admin (SoupSession *session, guint16 port, const char *peer_id)
{
  g_autofree char *url = g_strdup_printf (
      "http://127.0.0.1:%u/v1/peers/%s/drop?code=1011", port, peer_id);
  g_autoptr (SoupMessage) msg = soup_message_new ("POST", url);
  g_autoptr (GBytes) body = NULL;
  g_autoptr (GError) error = NULL;

  soup_message_headers_append (soup_message_get_request_headers (msg),
      "Authorization", "Bearer admin_dev_local");
  body = soup_session_send_and_read (session, msg, NULL, &error);
  g_assert_no_error (error);
  return soup_message_get_status (msg);
}

static void
test_cycles (void)
{
  const char *env = g_getenv ("METERED_CYCLES");
  guint cycles = env ? (guint) g_ascii_strtoull (env, NULL, 10) : 1000;
  TestServer *server = test_server_start (0, NULL);
  g_autoptr (GError) error = NULL;
  g_autoptr (MeteredTestProxy) proxy =
      metered_test_proxy_new (server->port, &error);
  g_autoptr (MeteredSignallingClient) client =
      metered_signalling_client_new (NULL, NULL);
  Counters counters = { 0 };
  g_autoptr (SoupSession) admin = soup_session_new ();
  g_autoptr (GArray) samples = g_array_new (FALSE, FALSE, sizeof (gsize));
  g_autofree char *url = g_strdup_printf (
      "ws://127.0.0.1:%u", metered_test_proxy_get_port (proxy));
  GString *line = g_string_new (NULL);
  gint64 t_start = test_now_ms (), elapsed;
  gsize base, last, limit;

  g_assert_no_error (error);
  g_assert_cmpuint (cycles, >=, 200);
  g_signal_connect (client, "connected", G_CALLBACK (on_connected), &counters);
  g_signal_connect (
      client, "disconnected", G_CALLBACK (on_disconnected), &counters);
  g_object_set (client, "url", url, "api-key", "pk_dev_local",
      "reconnect-initial-delay", 0, "reconnect-jitter", 0.0, "stuck-timeout", 0,
      NULL);
  g_assert_true (test_client_connect (client, WAIT_MS, &error));
  g_assert_no_error (error);
  g_assert_true (test_client_subscribe (client, "cycles", WAIT_MS, &error));
  g_assert_no_error (error);

  for (guint i = 1; i <= cycles; i++) {
    if (i % 2) {
      g_autofree char *peer_id = metered_signalling_client_dup_peer_id (client);
      g_assert_cmpuint (drop_via_admin (admin, server->port, peer_id), ==, 204);
    } else {
      /* the previous socket's TCP teardown may still be running */
      test_assert_wait (metered_test_proxy_get_n_open (proxy) == 1, WAIT_MS);
      g_assert_cmpuint (metered_test_proxy_cut (proxy), ==, 1);
    }
    test_assert_wait (counters.reconnected == i, WAIT_MS);
    if (i % 100 == 0) {
      gsize rss;

      /* The channel is still replayed and usable after the reconnect. */
      g_assert_true (test_client_publish (
          client, "cycles", "{\"ok\":1}", WAIT_MS, &error));
      g_assert_no_error (error);
      rss = test_rss_kib ();
      g_array_append_val (samples, rss);
      g_string_append_printf (line, " %u:%" G_GSIZE_FORMAT, i, rss);
    }
  }
  elapsed = test_now_ms () - t_start;

  g_assert_cmpuint (counters.disconnects, ==, cycles);
  g_assert_cmpuint (counters.bad_disconnects, ==, 0);
  g_assert_cmpuint (test_stats_uint (client, "reconnects"), ==, cycles);
  g_assert_cmpuint (test_stats_uint (client, "illegal-transitions"), ==, 0);
  g_assert_cmpuint (test_stats_uint (client, "pending-requests"), ==, 0);
  g_assert_cmpuint (test_stats_uint (client, "queue-depth"), ==, 0);

  base = g_array_index (samples, gsize, 0);
  last = g_array_index (samples, gsize, samples->len - 1);
  limit = MAX (base + base / 10, base + 4096);
  g_test_message ("%u connect/drop cycles in %" G_GINT64_FORMAT
                  " ms (%.2f ms per cycle)",
      cycles, elapsed, (double) elapsed / cycles);
  g_test_message ("VmRSS KiB by cycle:%s", line->str);
  g_test_message ("last %" G_GSIZE_FORMAT " KiB vs %" G_GSIZE_FORMAT
                  " KiB at cycle 100: %+.1f %% (limit %" G_GSIZE_FORMAT
                  " KiB: +10 %% or +4 MiB)",
      last, base, 100.0 * ((double) last - base) / base, limit);
#if defined(__SANITIZE_ADDRESS__)
  /* ASan keeps freed memory in quarantine (256 MiB by default): RSS grows
   * by design. LeakSanitizer checks for leaks at exit instead. */
  g_test_message ("AddressSanitizer build: RSS bound not checked");
#else
  g_assert_cmpuint (last, <=, limit);
#endif

  g_string_free (line, TRUE);
  g_signal_handlers_disconnect_by_data (client, &counters);
  metered_signalling_client_close (client, 0, NULL);
  test_drain ();
  test_server_free (server);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_log_set_always_fatal (G_LOG_FATAL_MASK | G_LOG_LEVEL_CRITICAL);
  test_log_handler = g_log_set_default_handler (log_handler, NULL);
  g_test_add_func ("/client-int/connect-drop-cycles", test_cycles);
  return g_test_run ();
}
