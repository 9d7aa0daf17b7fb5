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

/* Channel history and resume (issue 17) end to end: the metered-server
 * binary, our client behind a loopback proxy that cuts its socket, and a
 * second client publishing while it is away. */

#include "test-util.h"

#include "metered-test-proxy.h"

#include <signal.h>
#include <string.h>

#define WAIT_MS 20000
#define GAP 300

static const char keys_json[] =
    "{\"apps\":["
    "{\"id\":\"deep\",\"history\":{\"maxMessages\":1000,\"maxAgeSeconds\":120},"
    "\"publishableKeys\":[{\"key\":\"pk_deep\",\"channels\":[\"**\"]}]},"
    "{\"id\":\"shallow\",\"history\":{\"maxMessages\":100},"
    "\"publishableKeys\":[{\"key\":\"pk_shallow\",\"channels\":[\"**\"]}]}]}";

static GLogFunc test_log_handler;

/* The client warns about what it recovers from (and about a lost
 * continuity); other warnings fail the test. */
static void
log_handler (const char *domain, GLogLevelFlags level, const char *message,
    gpointer data)
{
  if (level & (G_LOG_LEVEL_DEBUG | G_LOG_LEVEL_INFO))
    return;
  if ((level & G_LOG_LEVEL_WARNING) &&
      g_strcmp0 (domain, "metered-client") != 0)
    g_test_fail_printf ("unexpected warning: %s: %s", domain, message);
  test_log_handler (domain, level, message, NULL);
}

typedef struct
{
  guint n_resumed;
  gint64 replayed;
  guint n_lost;
  gint64 missed;
  guint messages_at_signal; /* rec->messages->len when it came */
  TestRecorder *rec;
} HistoryWatch;

static void
on_resumed (MeteredSignallingClient *client, const char *channel,
    gint64 replayed, HistoryWatch *w)
{
  g_assert_cmpstr (channel, ==, "room");
  w->n_resumed++;
  w->replayed = replayed;
  w->messages_at_signal = w->rec->messages->len;
}

static void
on_lost (MeteredSignallingClient *client, const char *channel, gint64 missed,
    HistoryWatch *w)
{
  g_assert_cmpstr (channel, ==, "room");
  w->n_lost++;
  w->missed = missed;
  w->messages_at_signal = w->rec->messages->len;
}

static MeteredSignallingClient *
client_new (guint16 port, const char *key)
{
  MeteredSignallingClient *client = metered_signalling_client_new (NULL, NULL);
  g_autofree char *url = g_strdup_printf ("ws://127.0.0.1:%u", port);

  /* A short backoff ceiling: the test waits on the reconnect, not on
   * the curve. */
  g_object_set (client, "url", url, "api-key", key, "reconnect-initial-delay",
      100, "reconnect-max-delay", 500, "stuck-timeout", 0, NULL);
  return client;
}

static void
connect_subscribe (MeteredSignallingClient *client)
{
  g_autoptr (GError) error = NULL;

  g_assert_true (test_client_connect (client, WAIT_MS, &error));
  g_assert_no_error (error);
  g_assert_true (test_client_subscribe (client, "room", WAIT_MS, &error));
  g_assert_no_error (error);
}

/* Publishes {"n":first}..{"n":last-1}, paced under the server's 100
 * frames/s per connection so the publisher is never closed 4011. */
static void
publish_range (MeteredSignallingClient *pub, guint first, guint last)
{
  gint64 t0 = test_now_ms ();

  for (guint i = first; i < last; i++) {
    g_autoptr (GError) error = NULL;
    g_autofree char *data = g_strdup_printf ("{\"n\":%u}", i);
    gint64 due = t0 + (gint64) (i - first) * 12;

    test_wait_until (test_now_ms () >= due, 1000);
    g_assert_true (test_client_publish (pub, "room", data, WAIT_MS, &error));
    g_assert_no_error (error);
  }
}

static guint
message_n (TestRecorder *rec, guint i)
{
  TestMessage *m = g_ptr_array_index (rec->messages, i);
  const char *p = strstr (m->data, "\"n\":");

  g_assert_nonnull (p);
  return (guint) g_ascii_strtoull (p + 4, NULL, 10);
}

static void
client_finish (MeteredSignallingClient *client)
{
  metered_signalling_client_close (client, 0, NULL);
  test_drain ();
}

/* Cuts the subscriber's socket and keeps it out while the publisher
 * sends GAP messages, then lets it back. */
static void
gap_while_cut (
    MeteredTestProxy *proxy, MeteredSignallingClient *pub, TestRecorder *rec)
{
  guint n_reconnected = rec->n_reconnected;

  metered_test_proxy_set_mode (proxy, METERED_TEST_PROXY_REFUSE);
  g_assert_cmpuint (metered_test_proxy_cut (proxy), ==, 1);
  publish_range (pub, 1, 1 + GAP);
  g_assert_cmpuint (rec->n_reconnected, ==, n_reconnected);
  metered_test_proxy_set_mode (proxy, METERED_TEST_PROXY_FORWARD);
}

/* A subscriber behind the proxy and a publisher, both on "room" with the
 * app of key, and message 0 delivered live. */
typedef struct
{
  TestServer *server;
  MeteredTestProxy *proxy;
  MeteredSignallingClient *sub;
  MeteredSignallingClient *pub;
  TestRecorder *rec;
  HistoryWatch w;
} Scenario;

static void
scenario_start (Scenario *sc, const char *key)
{
  g_autoptr (GError) error = NULL;

  sc->server = test_server_start (0, keys_json);
  sc->proxy = metered_test_proxy_new (sc->server->port, &error);
  g_assert_no_error (error);
  sc->sub = client_new (metered_test_proxy_get_port (sc->proxy), key);
  sc->pub = client_new (sc->server->port, key);
  sc->rec = test_recorder_new (sc->sub);
  sc->w.rec = sc->rec;
  g_signal_connect (sc->sub, "resumed", G_CALLBACK (on_resumed), &sc->w);
  g_signal_connect (sc->sub, "continuity-lost", G_CALLBACK (on_lost), &sc->w);
  connect_subscribe (sc->sub);
  connect_subscribe (sc->pub);
  publish_range (sc->pub, 0, 1);
  test_assert_wait (sc->rec->messages->len == 1, WAIT_MS);
}

static void
scenario_finish (Scenario *sc)
{
  client_finish (sc->sub);
  client_finish (sc->pub);
  test_recorder_free (sc->rec);
  g_object_unref (sc->sub);
  g_object_unref (sc->pub);
  metered_test_proxy_free (sc->proxy);
  test_server_free (sc->server);
}

static void
test_resume_replays_gap (void)
{
  Scenario sc = { 0 };
  guint total = 1 + GAP + 40;

  scenario_start (&sc, "pk_deep");
  gap_while_cut (sc.proxy, sc.pub, sc.rec);
  /* The publisher goes on while the subscriber comes back: whatever
   * lands during the replay must come after it, once. */
  publish_range (sc.pub, 1 + GAP, total);
  test_assert_wait (
      sc.rec->messages->len >= total && sc.w.n_resumed == 1, WAIT_MS);
  test_drain ();

  g_assert_cmpuint (sc.w.n_lost, ==, 0);
  g_assert_cmpuint (sc.w.n_resumed, ==, 1);
  g_assert_cmpint (sc.w.replayed, >=, GAP);
  g_assert_cmpuint (sc.w.messages_at_signal, ==, 1 + sc.w.replayed);
  g_assert_cmpuint (sc.rec->messages->len, ==, total);
  for (guint i = 0; i < total; i++)
    g_assert_cmpuint (message_n (sc.rec, i), ==, i);
  scenario_finish (&sc);
}

static void
test_gap_beyond_history (void)
{
  Scenario sc = { 0 };

  scenario_start (&sc, "pk_shallow");
  gap_while_cut (sc.proxy, sc.pub, sc.rec);
  test_assert_wait (sc.w.n_lost == 1, WAIT_MS);
  g_assert_cmpint (sc.w.missed, ==, GAP);
  g_assert_cmpuint (sc.w.n_resumed, ==, 0);
  g_assert_cmpuint (sc.w.messages_at_signal, ==, 1);

  /* Live again: the next one arrives once, nothing of the gap. */
  publish_range (sc.pub, 1000, 1001);
  test_assert_wait (sc.rec->messages->len == 2, WAIT_MS);
  test_drain ();
  g_assert_cmpuint (sc.rec->messages->len, ==, 2);
  g_assert_cmpuint (message_n (sc.rec, 1), ==, 1000);
  scenario_finish (&sc);
}

/* A drop with nothing published meanwhile resumes with 0 replayed. */
static void
test_resume_nothing_missed (void)
{
  Scenario sc = { 0 };

  scenario_start (&sc, "pk_deep");
  g_assert_cmpuint (metered_test_proxy_cut (sc.proxy), ==, 1);
  test_assert_wait (sc.w.n_resumed == 1, WAIT_MS);
  g_assert_cmpint (sc.w.replayed, ==, 0);
  g_assert_cmpuint (sc.w.n_lost, ==, 0);
  g_assert_cmpuint (sc.rec->messages->len, ==, 1);
  scenario_finish (&sc);
}

/* What the subscriber published itself is not replayed to it, though a
 * publishable key gives it a new peer id on the reconnect: its position
 * never moved past its own messages, so the server's replay holds them. */
static void
test_resume_skips_own (void)
{
  Scenario sc = { 0 };

  scenario_start (&sc, "pk_deep");
  publish_range (sc.pub, 1, 2);
  test_assert_wait (sc.rec->messages->len == 2, WAIT_MS);
  publish_range (sc.sub, 500, 503);
  g_assert_cmpuint (metered_test_proxy_cut (sc.proxy), ==, 1);
  test_assert_wait (sc.w.n_resumed == 1, WAIT_MS);
  publish_range (sc.pub, 2, 3);
  test_assert_wait (sc.rec->messages->len >= 3, WAIT_MS);
  test_drain ();
  g_assert_cmpint (sc.w.replayed, ==, 0);
  g_assert_cmpuint (sc.w.n_lost, ==, 0);
  g_assert_cmpuint (sc.rec->messages->len, ==, 3);
  for (guint i = 0; i < 3; i++)
    g_assert_cmpuint (message_n (sc.rec, i), ==, i);
  scenario_finish (&sc);
}

static void
test_restart_changes_epoch (void)
{
  TestServer *server = test_server_start (0, keys_json);
  guint16 port = server->port;
  g_autoptr (MeteredSignallingClient) sub = client_new (port, "pk_deep");
  g_autoptr (TestRecorder) rec = test_recorder_new (sub);
  HistoryWatch w = { .rec = rec };

  g_signal_connect (sub, "resumed", G_CALLBACK (on_resumed), &w);
  g_signal_connect (sub, "continuity-lost", G_CALLBACK (on_lost), &w);
  connect_subscribe (sub);
  {
    g_autoptr (MeteredSignallingClient) pub = client_new (port, "pk_deep");
    connect_subscribe (pub);
    publish_range (pub, 0, 5);
    test_assert_wait (rec->messages->len == 5, WAIT_MS);
    client_finish (pub);
  }

  test_server_free (server); /* SIGKILL: no history survives */
  server = test_server_start (port, keys_json);
  test_assert_wait (w.n_lost == 1, WAIT_MS);
  g_assert_cmpint (w.missed, ==, -1);
  g_assert_cmpuint (w.n_resumed, ==, 0);

  client_finish (sub);
  test_server_free (server);
}

/* --- held sends --- */

typedef struct
{
  gboolean done;
  gboolean ok;
  GError *error;
} SendResult;

static void
on_sent (GObject *source, GAsyncResult *result, gpointer data)
{
  SendResult *r = data;

  r->ok = metered_signalling_client_send_finish (
      METERED_SIGNALLING_CLIENT (source), result, &r->error);
  r->done = TRUE;
}

typedef struct
{
  guint n;
  char *data;
} Directs;

static void
on_direct (MeteredSignallingClient *client, const char *from, const char *data,
    const char *from_metadata, Directs *d)
{
  g_assert_cmpstr (from, ==, "sender");
  d->n++;
  g_free (d->data);
  d->data = g_strdup (data);
}

static MeteredSignallingClient *
jwt_client_new (guint16 port, const char *sub)
{
  MeteredSignallingClient *client = metered_signalling_client_new (NULL, NULL);
  g_autofree char *url = g_strdup_printf ("ws://127.0.0.1:%u", port);
  g_autofree char *token = test_mint_token (sub, 600);

  g_object_set (client, "url", url, "token", token, "reconnect-initial-delay",
      100, "reconnect-max-delay", 500, "stuck-timeout", 0, "hold-directs", TRUE,
      NULL);
  return client;
}

static void
test_held_send (void)
{
  TestServer *server = test_server_start (0, NULL);
  g_autoptr (GError) error = NULL;
  g_autoptr (MeteredTestProxy) proxy =
      metered_test_proxy_new (server->port, &error);
  g_autoptr (MeteredSignallingClient) target =
      jwt_client_new (metered_test_proxy_get_port (proxy), "target");
  g_autoptr (MeteredSignallingClient) sender =
      jwt_client_new (server->port, "sender");
  g_autoptr (TestRecorder) rec = test_recorder_new (target);
  Directs d = { 0 };
  SendResult held = { 0 }, late = { 0 }, never = { 0 };

  g_assert_no_error (error);
  g_signal_connect (target, "direct", G_CALLBACK (on_direct), &d);
  g_assert_true (test_client_connect (target, WAIT_MS, &error));
  g_assert_true (test_client_connect (sender, WAIT_MS, &error));

  /* Away briefly: held, delivered once on return, then acked. */
  metered_test_proxy_set_mode (proxy, METERED_TEST_PROXY_REFUSE);
  g_assert_cmpuint (metered_test_proxy_cut (proxy), ==, 1);
  test_assert_wait (test_admin_count_peers (server->port) == 1, WAIT_MS);
  metered_signalling_client_send_async (
      sender, "target", "{\"held\":1}", NULL, on_sent, &held);
  test_wait_until (held.done, 1000);
  g_assert_false (held.done);
  metered_test_proxy_set_mode (proxy, METERED_TEST_PROXY_FORWARD);
  test_assert_wait (held.done, WAIT_MS);
  g_assert_no_error (held.error);
  g_assert_true (held.ok);
  /* The ack and the direct travel on two sockets: either may be first. */
  test_assert_wait (d.n >= 1, WAIT_MS);
  test_drain ();
  g_assert_cmpuint (d.n, ==, 1);
  g_assert_cmpstr (d.data, ==, "{\"held\":1}");

  /* Away past the hold: the sender is told, nothing arrives later. */
  metered_test_proxy_set_mode (proxy, METERED_TEST_PROXY_REFUSE);
  g_assert_cmpuint (metered_test_proxy_cut (proxy), ==, 1);
  test_assert_wait (test_admin_count_peers (server->port) == 1, WAIT_MS);
  metered_signalling_client_send_async (
      sender, "target", "{\"held\":2}", NULL, on_sent, &late);
  test_assert_wait (late.done, WAIT_MS);
  g_assert_false (late.ok);
  g_assert_error (
      late.error, METERED_SERVER_ERROR, METERED_SERVER_ERROR_PEER_NOT_FOUND);
  metered_test_proxy_set_mode (proxy, METERED_TEST_PROXY_FORWARD);
  test_assert_wait (rec->n_reconnected == 2, WAIT_MS);
  test_drain ();
  g_assert_cmpuint (d.n, ==, 1);

  /* A peer id never seen: answered at once, as without holding. */
  metered_signalling_client_send_async (
      sender, "nobody", "1", NULL, on_sent, &never);
  test_assert_wait (never.done, 2000);
  g_assert_error (
      never.error, METERED_SERVER_ERROR, METERED_SERVER_ERROR_PEER_NOT_FOUND);

  g_clear_error (&held.error);
  g_clear_error (&late.error);
  g_clear_error (&never.error);
  g_free (d.data);
  client_finish (target);
  client_finish (sender);
  test_server_free (server);
}

/* --- metered-cli --- */

typedef struct
{
  GDataInputStream *out;
  GPtrArray *lines;
  gboolean eof;
} CliOut;

static void
on_cli_line (GObject *source, GAsyncResult *result, gpointer data)
{
  CliOut *c = data;
  char *line = g_data_input_stream_read_line_finish (
      G_DATA_INPUT_STREAM (source), result, NULL, NULL);

  if (!line) {
    c->eof = TRUE;
    return;
  }
  g_ptr_array_add (c->lines, line);
  g_data_input_stream_read_line_async (
      c->out, G_PRIORITY_DEFAULT, NULL, on_cli_line, c);
}

static gboolean
cli_has_line (CliOut *c, const char *line)
{
  for (guint i = 0; i < c->lines->len; i++)
    if (g_str_equal (g_ptr_array_index (c->lines, i), line))
      return TRUE;
  return FALSE;
}

/* metered-cli subscribe prints what its client reports after a resume:
 * the replayed messages as message lines, then a resumed line. */
static void
test_cli_prints_resume (void)
{
  const char *cli_path = g_getenv ("METERED_CLI");
  TestServer *server;
  g_autoptr (GError) error = NULL;
  g_autoptr (MeteredTestProxy) proxy = NULL;
  g_autoptr (MeteredSignallingClient) pub = NULL;
  g_autoptr (GSubprocess) cli = NULL;
  g_autofree char *url = NULL;
  CliOut c = { 0 };

  if (!cli_path) {
    g_test_skip ("METERED_CLI is not set");
    return;
  }
  server = test_server_start (0, keys_json);
  proxy = metered_test_proxy_new (server->port, &error);
  g_assert_no_error (error);
  url = g_strdup_printf (
      "ws://127.0.0.1:%u", metered_test_proxy_get_port (proxy));
  cli = g_subprocess_new (
      G_SUBPROCESS_FLAGS_STDOUT_PIPE | G_SUBPROCESS_FLAGS_STDERR_SILENCE,
      &error, cli_path, "--url", url, "--key", "pk_deep",
      "--reconnect-initial-delay", "100", "subscribe", "room", NULL);
  g_assert_no_error (error);
  c.lines = g_ptr_array_new_with_free_func (g_free);
  c.out = g_data_input_stream_new (g_subprocess_get_stdout_pipe (cli));
  g_data_input_stream_read_line_async (
      c.out, G_PRIORITY_DEFAULT, NULL, on_cli_line, &c);

  pub = client_new (server->port, "pk_deep");
  connect_subscribe (pub);
  test_assert_wait (test_admin_count_peers (server->port) == 2, WAIT_MS);
  /* The cli's subscribe may still be in flight: a first message it gets
   * proves its position is set. */
  for (guint i = 0; !c.lines->len && i < 100; i++) {
    publish_range (pub, 0, 1);
    test_wait_until (c.lines->len > 0, 100);
  }
  g_assert_cmpuint (c.lines->len, >, 0);

  metered_test_proxy_set_mode (proxy, METERED_TEST_PROXY_REFUSE);
  g_assert_cmpuint (metered_test_proxy_cut (proxy), ==, 1);
  test_assert_wait (test_admin_count_peers (server->port) == 1, WAIT_MS);
  publish_range (pub, 7, 10);
  metered_test_proxy_set_mode (proxy, METERED_TEST_PROXY_FORWARD);
  test_assert_wait (
      cli_has_line (&c, "{\"type\":\"resumed\",\"channel\":\"room\","
                        "\"replayed\":3}"),
      WAIT_MS);
  for (guint n = 7; n < 10; n++) {
    g_autofree char *want = g_strdup_printf ("\"data\":{\"n\":%u}}", n);
    guint hits = 0;
    for (guint i = 0; i < c.lines->len; i++)
      hits += g_str_has_suffix (g_ptr_array_index (c.lines, i), want);
    g_assert_cmpuint (hits, ==, 1);
  }

  g_subprocess_send_signal (cli, SIGTERM);
  test_assert_wait (c.eof, WAIT_MS);
  g_subprocess_wait (cli, NULL, NULL);
  g_object_unref (c.out);
  g_ptr_array_unref (c.lines);
  client_finish (pub);
  test_server_free (server);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_log_set_always_fatal (G_LOG_FATAL_MASK | G_LOG_LEVEL_CRITICAL);
  test_log_handler = g_log_set_default_handler (log_handler, NULL);

  g_test_add_func (
      "/client-history/resume-replays-gap", test_resume_replays_gap);
  g_test_add_func (
      "/client-history/gap-beyond-history", test_gap_beyond_history);
  g_test_add_func (
      "/client-history/restart-changes-epoch", test_restart_changes_epoch);
  g_test_add_func (
      "/client-history/resume-nothing-missed", test_resume_nothing_missed);
  g_test_add_func ("/client-history/resume-skips-own", test_resume_skips_own);
  g_test_add_func ("/client-history/held-send", test_held_send);
  g_test_add_func ("/client-history/cli-prints-resume", test_cli_prints_resume);
  return g_test_run ();
}
