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

/* Integration tests of MeteredSignallingClient (issue 3): the real
 * metered-server binary as a subprocess, real time, short knobs. */

#include "test-util.h"

#include "metered-test-proxy.h"

#include <signal.h>
#include <string.h>

#define WAIT_MS 15000

static const char keys_json[] =
    "{\"apps\":["
    "{\"id\":\"revocable\",\"publishableKeys\":[{\"key\":\"pk_revocable\","
    "\"channels\":[\"**\"]}]},"
    "{\"id\":\"suspendable\",\"publishableKeys\":[{\"key\":\"pk_suspendable\","
    "\"channels\":[\"**\"]}]},"
    "{\"id\":\"capped\",\"maxConnections\":1,\"publishableKeys\":[{\"key\":"
    "\"pk_capped\",\"channels\":[\"**\"]}]}]}";

static gboolean
warning_expected (const char *domain, GLogLevelFlags level)
{
  return (level & G_LOG_LEVEL_WARNING) &&
         g_strcmp0 (domain, "metered-client") == 0;
}

static GLogFunc test_log_handler;

/* The client warns about what it recovers from; other warnings fail the
 * test, criticals abort it. Debug and info are dropped (stdout is TAP). */
static void
log_handler (const char *domain, GLogLevelFlags level, const char *message,
    gpointer data)
{
  if (level & (G_LOG_LEVEL_DEBUG | G_LOG_LEVEL_INFO))
    return;
  if ((level & G_LOG_LEVEL_WARNING) && !warning_expected (domain, level))
    g_test_fail_printf ("unexpected warning: %s: %s", domain, message);
  test_log_handler (domain, level, message, NULL);
}

static MeteredSignallingClient *
client_new (guint16 port, const char *key)
{
  MeteredSignallingClient *client = metered_signalling_client_new (NULL, NULL);
  g_autofree char *url = g_strdup_printf ("ws://127.0.0.1:%u", port);

  g_object_set (client, "url", url, "reconnect-initial-delay", 100,
      "stuck-timeout", 0, NULL);
  if (key)
    g_object_set (client, "api-key", key, NULL);
  return client;
}

static void
connect_ok (MeteredSignallingClient *client)
{
  g_autoptr (GError) error = NULL;

  g_assert_true (test_client_connect (client, WAIT_MS, &error));
  g_assert_no_error (error);
}

static void
subscribe_ok (MeteredSignallingClient *client, const char *channel)
{
  g_autoptr (GError) error = NULL;

  g_assert_true (test_client_subscribe (client, channel, WAIT_MS, &error));
  g_assert_no_error (error);
}

static MeteredClientState
state_of (MeteredSignallingClient *client)
{
  return metered_signalling_client_get_state (client);
}

/* Closes the client and lets the close handshake run. */
static void
client_finish (MeteredSignallingClient *client)
{
  metered_signalling_client_close (client, 0, NULL);
  test_drain ();
}

/* The receiver got {"seq":0} .. {"seq":n-1} from pub once each and in
 * order: a sentinel published after every ack follows any duplicate. */
static void
assert_once_in_order (
    MeteredSignallingClient *pub, TestRecorder *recv_rec, guint n)
{
  g_autoptr (GError) error = NULL;

  g_assert_true (test_client_publish (pub, "room", "\"end\"", WAIT_MS, &error));
  g_assert_no_error (error);
  test_assert_wait (recv_rec->messages->len >= n + 1, WAIT_MS);
  g_assert_cmpuint (recv_rec->messages->len, ==, n + 1);
  for (guint i = 0; i < n; i++) {
    g_autofree char *expected = g_strdup_printf ("{\"seq\":%u}", i);
    g_assert_cmpstr (
        ((TestMessage *) recv_rec->messages->pdata[i])->data, ==, expected);
  }
}

/* --- SIGKILL and restart on the same port --- */

typedef struct
{
  MeteredSignallingClient *client;
  TestRecorder *rec;
  guint expect_pending; /* pending requests once the resubscribe is acked */
  gint64 t_welcome, t_resub_ack;
} ReconnectWatch;

static void
watch_sample (ReconnectWatch *w)
{
  if (!w->t_welcome && w->rec->n_reconnected > 0)
    w->t_welcome = w->rec->t_connected_ms;
  if (w->t_welcome && !w->t_resub_ack &&
      test_stats_uint (w->client, "pending-requests") <= w->expect_pending)
    w->t_resub_ack = test_now_ms ();
}

static void
test_sigkill_restart (void)
{
  enum
  {
    N = 10
  };
  TestServer *server = test_server_start (0, NULL);
  guint16 port = server->port;
  g_autoptr (GError) error = NULL;
  g_autoptr (MeteredTestProxy) proxy = metered_test_proxy_new (port, &error);
  g_autoptr (MeteredSignallingClient) recv = client_new (port, "pk_dev_local");
  g_autoptr (MeteredSignallingClient) pub =
      client_new (metered_test_proxy_get_port (proxy), "pk_dev_local");
  g_autoptr (TestRecorder) recv_rec = test_recorder_new (recv);
  g_autoptr (TestRecorder) pub_rec = test_recorder_new (pub);
  TestResult results[N] = { { 0 } };
  ReconnectWatch rw = { recv, recv_rec, 0 }, pw = { pub, pub_rec, N };
  gint64 t_kill, t_listen, t_gate, t_flushed = 0, t_delivered;
  guint presence_before;
  TestServer *server2;

  g_assert_no_error (error);
  connect_ok (recv);
  subscribe_ok (recv, "room");
  connect_ok (pub);
  subscribe_ok (pub, "room");

  /* The publisher reaches the server through the proxy, which holds it
   * off (refusing) until the receiver has resubscribed on the new server:
   * otherwise the flush could overtake the receiver's resubscribe. */
  t_kill = test_now_ms ();
  metered_test_proxy_set_mode (proxy, METERED_TEST_PROXY_REFUSE);
  test_server_signal (server, SIGKILL);
  g_assert_true (test_server_wait_exit (server, WAIT_MS));
  test_assert_wait (
      recv_rec->disconnects->len == 1 && pub_rec->disconnects->len >= 1,
      WAIT_MS);
  g_assert_cmpint (
      g_array_index (recv_rec->disconnects, TestDisconnect, 0).code, ==, 1006);
  g_assert_true (
      g_array_index (recv_rec->disconnects, TestDisconnect, 0).will_reconnect);
  g_assert_cmpint (state_of (pub), ==, METERED_CLIENT_STATE_RECONNECTING);

  for (guint i = 0; i < N; i++) {
    g_autofree char *payload = g_strdup_printf ("{\"seq\":%u}", i);
    metered_signalling_client_publish_async (
        pub, "room", payload, NULL, test_on_publish, &results[i]);
  }
  test_drain ();
  g_assert_cmpuint (test_stats_uint (pub, "queue-depth"), ==, N);

  presence_before = recv_rec->presence_t_ms->len;
  server2 = test_server_start (port, NULL);
  t_listen = test_now_ms ();

  /* The receiver reconnects on its own backoff and resubscribes. */
  test_assert_wait ((watch_sample (&rw), rw.t_resub_ack != 0) &&
                        recv_rec->presence_t_ms->len > presence_before,
      WAIT_MS);

  /* Open the gate; the hint skips what is left of the publisher's
   * backoff (which grew while it was refused). */
  t_gate = test_now_ms ();
  metered_test_proxy_set_mode (proxy, METERED_TEST_PROXY_FORWARD);
  metered_signalling_client_reconnect_now (pub);
  test_assert_wait ((watch_sample (&pw), pw.t_resub_ack != 0) &&
                        recv_rec->messages->len >= N && results[N - 1].done,
      WAIT_MS);
  for (guint i = 0; i < N; i++) {
    g_assert_true (results[i].done);
    g_assert_no_error (results[i].error);
    t_flushed = MAX (t_flushed, results[i].t_ms);
  }
  t_delivered = ((TestMessage *) recv_rec->messages->pdata[N - 1])->t_ms;

  assert_once_in_order (pub, recv_rec, N);
  g_assert_cmpuint (test_stats_uint (pub, "reconnects"), ==, 1);
  g_assert_cmpuint (test_stats_uint (recv, "reconnects"), ==, 1);

  g_test_message ("SIGKILL timeline, ms after the kill:");
  g_test_message (
      "  receiver (own backoff, reconnect-initial-delay 100): "
      "drop seen %" G_GINT64_FORMAT ", reconnecting %" G_GINT64_FORMAT
      ", new server listening %" G_GINT64_FORMAT ", welcome %" G_GINT64_FORMAT
      ", resubscribe acked %" G_GINT64_FORMAT " (failed attempts before: %u)",
      g_array_index (recv_rec->disconnects, TestDisconnect, 0).t_ms - t_kill,
      test_recorder_state_time (
          recv_rec, METERED_CLIENT_STATE_RECONNECTING, 0) -
          t_kill,
      t_listen - t_kill, rw.t_welcome - t_kill, rw.t_resub_ack - t_kill,
      recv_rec->disconnects->len - 1);
  g_test_message (
      "  publisher (held by the proxy until %" G_GINT64_FORMAT
      ", then reconnect-now): drop seen %" G_GINT64_FORMAT
      ", reconnecting %" G_GINT64_FORMAT ", welcome %" G_GINT64_FORMAT
      ", resubscribe acked %" G_GINT64_FORMAT
      ", %u queued publishes acked (queue flushed) %" G_GINT64_FORMAT
      ", last delivered to the receiver %" G_GINT64_FORMAT,
      t_gate - t_kill,
      g_array_index (pub_rec->disconnects, TestDisconnect, 0).t_ms - t_kill,
      test_recorder_state_time (pub_rec, METERED_CLIENT_STATE_RECONNECTING, 0) -
          t_kill,
      pw.t_welcome - t_kill, pw.t_resub_ack - t_kill, (guint) N,
      t_flushed - t_kill, t_delivered - t_kill);
  g_test_message ("  publisher after the gate: welcome +%" G_GINT64_FORMAT
                  ", resubscribed +%" G_GINT64_FORMAT
                  ", flushed +%" G_GINT64_FORMAT
                  ", delivered +%" G_GINT64_FORMAT " ms",
      pw.t_welcome - t_gate, pw.t_resub_ack - t_gate, t_flushed - t_gate,
      t_delivered - t_gate);

  client_finish (pub);
  client_finish (recv);
  test_server_free (server);
  test_server_free (server2);
}

/* --- a reconnect with more queued than the server's burst --- */

/* 400 publishes wait for a reconnect (twice the server's burst of 200).
 * The flush is paced under the server's rate: one reconnect, no 4011, all
 * delivered once in order. Without the pacing the flush earns a 4011 close
 * and another reconnect (max-message-rate=0 shows it). */
static void
test_paced_flush (void)
{
  enum
  {
    N = 400
  };
  TestServer *server = test_server_start (0, NULL);
  g_autoptr (GError) error = NULL;
  g_autoptr (MeteredTestProxy) proxy =
      metered_test_proxy_new (server->port, &error);
  g_autoptr (MeteredSignallingClient) recv =
      client_new (server->port, "pk_dev_local");
  g_autoptr (MeteredSignallingClient) pub =
      client_new (metered_test_proxy_get_port (proxy), "pk_dev_local");
  g_autoptr (TestRecorder) recv_rec = test_recorder_new (recv);
  g_autoptr (TestRecorder) pub_rec = test_recorder_new (pub);
  TestResult *results = g_new0 (TestResult, N);
  gint64 t_gate;

  g_assert_no_error (error);
  connect_ok (recv);
  subscribe_ok (recv, "room");
  connect_ok (pub);

  metered_test_proxy_set_mode (proxy, METERED_TEST_PROXY_REFUSE);
  metered_test_proxy_cut (proxy);
  test_assert_wait (pub_rec->disconnects->len == 1, WAIT_MS);
  for (guint i = 0; i < N; i++) {
    g_autofree char *payload = g_strdup_printf ("{\"seq\":%u}", i);
    metered_signalling_client_publish_async (
        pub, "room", payload, NULL, test_on_publish, &results[i]);
  }
  test_drain ();
  g_assert_cmpuint (test_stats_uint (pub, "queue-depth"), ==, N);

  t_gate = test_now_ms ();
  metered_test_proxy_set_mode (proxy, METERED_TEST_PROXY_FORWARD);
  metered_signalling_client_reconnect_now (pub);
  test_assert_wait (results[N - 1].done, 30000);
  for (guint i = 0; i < N; i++) {
    g_assert_true (results[i].done);
    g_assert_no_error (results[i].error);
  }
  assert_once_in_order (pub, recv_rec, N);
  /* The flush cost no 4011 and no second reconnect. (Attempts the
   * proxy refused before the gate opened count as drops too, so their
   * number depends on the backoff: not counted.) */
  for (guint i = 0; i < pub_rec->disconnects->len; i++)
    g_assert_cmpint (
        g_array_index (pub_rec->disconnects, TestDisconnect, i).code, !=, 4011);
  g_assert_cmpuint (test_stats_uint (pub, "reconnects"), ==, 1);
  g_test_message ("%u queued publishes acked %" G_GINT64_FORMAT
                  " ms after the gate opened",
      (guint) N, results[N - 1].t_ms - t_gate);

  client_finish (pub);
  client_finish (recv);
  g_free (results);
  test_server_free (server);
}

/* TRUE once a message after the first `from` carries data. */
static gboolean
message_after (TestRecorder *rec, guint from, const char *data)
{
  for (guint i = from; i < rec->messages->len; i++)
    if (g_strcmp0 (((TestMessage *) rec->messages->pdata[i])->data, data) == 0)
      return TRUE;
  return FALSE;
}

/* --- reconnect(): a socket that looks connected, dropped on request --- */

static void
test_reconnect_request (void)
{
  enum
  {
    N = 10
  };
  TestServer *server = test_server_start (0, NULL);
  g_autoptr (GError) error = NULL;
  g_autoptr (MeteredSignallingClient) recv =
      client_new (server->port, "pk_dev_local");
  g_autoptr (MeteredSignallingClient) pub =
      client_new (server->port, "pk_dev_local");
  g_autoptr (TestRecorder) recv_rec = test_recorder_new (recv);
  g_autoptr (TestRecorder) pub_rec = test_recorder_new (pub);
  TestResult results[N] = { { 0 } };
  const TestDisconnect *d;
  guint pub_seen;

  connect_ok (recv);
  subscribe_ok (recv, "room");
  connect_ok (pub);
  subscribe_ok (pub, "room");
  g_assert_cmpuint (pub_rec->n_connected, ==, 1);

  /* The publisher drops a healthy socket; what it publishes at once is
   * queued behind the reconnect, not lost. */
  metered_signalling_client_reconnect (pub, "network changed");
  for (guint i = 0; i < N; i++) {
    g_autofree char *payload = g_strdup_printf ("{\"seq\":%u}", i);
    metered_signalling_client_publish_async (
        pub, "room", payload, NULL, test_on_publish, &results[i]);
  }
  test_assert_wait (pub_rec->n_reconnected == 1 && results[N - 1].done &&
                        recv_rec->messages->len >= N,
      WAIT_MS);
  for (guint i = 0; i < N; i++) {
    g_assert_true (results[i].done);
    g_assert_no_error (results[i].error);
  }

  /* What a user sees: one disconnected (1000, the reason, will
   * reconnect), connected -> reconnecting -> connected, one new welcome. */
  g_assert_cmpuint (pub_rec->disconnects->len, ==, 1);
  d = test_recorder_last_disconnect (pub_rec);
  g_assert_cmpint (d->code, ==, 1000);
  g_assert_cmpstr (d->reason, ==, "network changed");
  g_assert_true (d->will_reconnect);
  g_assert_true (test_recorder_log_has_sequence (pub_rec, "connected 0",
      "disconnected 1000 1", "state connected>reconnecting",
      "state reconnecting>connected", "connected 1", NULL));
  g_assert_cmpuint (pub_rec->n_connected, ==, 2);
  g_assert_cmpuint (test_stats_uint (pub, "reconnects"), ==, 1);
  g_assert_cmpuint (test_stats_uint (pub, "last-close-code"), ==, 1000);
  g_assert_cmpuint (test_stats_uint (pub, "queue-depth"), ==, 0);
  /* The receiver saw nothing but the messages. */
  g_assert_cmpuint (recv_rec->disconnects->len, ==, 0);

  assert_once_in_order (pub, recv_rec, N);

  /* The subscription came back: the receiver's message reaches it. */
  pub_seen = pub_rec->messages->len;
  g_assert_true (
      test_client_publish (recv, "room", "\"back\"", WAIT_MS, &error));
  g_assert_no_error (error);
  test_assert_wait (message_after (pub_rec, pub_seen, "\"back\""), WAIT_MS);

  /* Idle and closed: nothing happens, no second welcome. */
  client_finish (pub);
  metered_signalling_client_reconnect (pub, NULL);
  test_drain ();
  g_assert_cmpint (state_of (pub), ==, METERED_CLIENT_STATE_CLOSED);
  g_assert_cmpuint (pub_rec->n_connected, ==, 2);

  client_finish (recv);
  test_server_free (server);
}

/* --- SIGTERM: going_away --- */

static void
test_sigterm_going_away (void)
{
  TestServer *server = test_server_start (0, NULL);
  guint16 port = server->port;
  g_autoptr (MeteredSignallingClient) client =
      client_new (port, "pk_dev_local");
  g_autoptr (TestRecorder) rec = test_recorder_new (client);
  const TestDisconnect *first;
  gint64 t_first;
  TestServer *server2;

  connect_ok (client);
  test_server_signal (server, SIGTERM);
  test_assert_wait (rec->disconnects->len == 1, WAIT_MS);
  first = &g_array_index (rec->disconnects, TestDisconnect, 0);
  g_assert_cmpint (first->code, ==, 1001);
  g_assert_true (first->will_reconnect);
  g_assert_cmpuint (rec->going_away->len, ==, 1);
  g_assert_cmpint (g_array_index (rec->going_away, gint64, 0), ==, 1000);
  g_assert_true (test_recorder_log_has_sequence (
      rec, "going-away 1000", "disconnected 1001 1", NULL));
  t_first = first->t_ms; /* the array grows below */

  g_assert_true (test_server_wait_exit (server, WAIT_MS));
  g_assert_true (g_spawn_check_wait_status (server->status, NULL));
  server2 = test_server_start (port, NULL);
  g_test_message ("restarted server listening %" G_GINT64_FORMAT
                  " ms after the 1001",
      test_now_ms () - t_first);
  test_assert_wait (rec->n_reconnected == 1, WAIT_MS);

  /* No attempt before retryAfterMs: not a failed one, not a successful
   * one (the new server was up well before 1000 ms). */
  for (guint i = 1; i < rec->disconnects->len; i++)
    g_assert_cmpint (
        g_array_index (rec->disconnects, TestDisconnect, i).t_ms - t_first, >=,
        1000);
  g_test_message ("reconnected %" G_GINT64_FORMAT
                  " ms after the 1001 (%u failed attempts)",
      rec->t_connected_ms - t_first, rec->disconnects->len - 1);
  g_assert_cmpint (rec->t_connected_ms - t_first, >=, 1000);

  client_finish (client);
  test_server_free (server);
  test_server_free (server2);
}

/* --- JWT near expiry --- */

typedef struct
{
  guint calls;
  GPtrArray *expires_at; /* gint64* */
} JwtProvider;

static void
on_minted (GObject *source, GAsyncResult *result, gpointer data)
{
  MeteredTokenRequest *request = data;
  g_autoptr (GError) error = NULL;
  g_autofree char *out = NULL;

  if (!g_subprocess_communicate_utf8_finish (
          G_SUBPROCESS (source), result, &out, NULL, &error)) {
    metered_token_request_return_error (request, error);
  } else {
    g_strstrip (out);
    metered_token_request_return_token (request, out);
  }
  g_object_unref (request);
}

/* The app's token provider: mints a 3 s JWT with the server binary on
 * every call, asynchronously. */
static gboolean
on_request_token_mint (MeteredSignallingClient *client,
    MeteredTokenRequest *request, JwtProvider *p)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GSubprocess) proc = g_subprocess_new (
      G_SUBPROCESS_FLAGS_STDOUT_PIPE, &error, test_server_binary (),
      "--mint-token", "--dev", "--sub", "jwt-peer", "--ttl", "3", NULL);

  g_assert_no_error (error);
  p->calls++;
  g_subprocess_communicate_utf8_async (
      proc, NULL, NULL, on_minted, g_object_ref (request));
  return TRUE;
}

static void
on_jwt_connected (MeteredSignallingClient *client, const char *peer_id,
    double server_time, gint64 expires_at, gboolean is_reconnect,
    gint64 max_message_size, GVariant *ice_servers, JwtProvider *p)
{
  g_assert_cmpstr (peer_id, ==, "jwt-peer");
  g_ptr_array_add (p->expires_at, g_memdup2 (&expires_at, sizeof expires_at));
}

static void
test_jwt_expiry (void)
{
  TestServer *server = test_server_start (0, NULL);
  g_autoptr (MeteredSignallingClient) client = client_new (server->port, NULL);
  g_autoptr (TestRecorder) rec = test_recorder_new (client);
  JwtProvider p = { 0, g_ptr_array_new_with_free_func (g_free) };
  const TestDisconnect *d;
  gint64 now_s = g_get_real_time () / G_USEC_PER_SEC;
  gint64 t_connect;

  g_signal_connect (
      client, "request-token-async", G_CALLBACK (on_request_token_mint), &p);
  g_signal_connect (client, "connected", G_CALLBACK (on_jwt_connected), &p);
  t_connect = test_now_ms ();
  connect_ok (client);
  g_assert_cmpuint (p.calls, ==, 1);
  g_assert_cmpuint (p.expires_at->len, ==, 1);
  g_assert_cmpint (*(gint64 *) p.expires_at->pdata[0], >=, now_s + 2);
  g_assert_cmpint (*(gint64 *) p.expires_at->pdata[0], <=, now_s + 4);

  /* The server closes 4002 about 250 ms before exp. */
  test_assert_wait (rec->disconnects->len >= 1, WAIT_MS);
  d = &g_array_index (rec->disconnects, TestDisconnect, 0);
  g_test_message ("4002 after %" G_GINT64_FORMAT " ms", d->t_ms - t_connect);
  g_assert_cmpint (d->code, ==, 4002);
  g_assert_true (d->will_reconnect);
  test_assert_wait (rec->n_reconnected == 1, WAIT_MS);
  g_assert_cmpuint (p.calls, ==, 2);
  g_assert_true (test_recorder_log_has_sequence (
      rec, "connected 0", "disconnected 4002 1", "connected 1", NULL));
  g_assert_cmpint (*(gint64 *) p.expires_at->pdata[1], >,
      *(gint64 *) p.expires_at->pdata[0] - 1);

  client_finish (client);
  g_ptr_array_unref (p.expires_at);
  test_server_free (server);
}

/* --- terminal codes through the admin API --- */

static void
expect_terminal (MeteredSignallingClient *client, TestRecorder *rec, int code)
{
  const TestDisconnect *d;

  test_assert_wait (rec->disconnects->len == 1, WAIT_MS);
  d = test_recorder_last_disconnect (rec);
  g_assert_cmpint (d->code, ==, code);
  g_assert_false (d->will_reconnect);
  g_assert_cmpint (state_of (client), ==, METERED_CLIENT_STATE_CLOSED);
  g_assert_cmpuint (test_stats_uint (client, "reconnect-attempt"), ==, 0);
  g_assert_true (
      test_recorder_log_has_sequence (rec, "state connected>closed", NULL));
  g_assert_false (test_recorder_log_has_sequence (
      rec, "state connected>reconnecting", NULL));
}

static void
test_revoked_key (void)
{
  TestServer *server = test_server_start (0, keys_json);
  g_autoptr (MeteredSignallingClient) client =
      client_new (server->port, "pk_revocable");
  g_autoptr (TestRecorder) rec = test_recorder_new (client);
  g_autoptr (GError) error = NULL;

  connect_ok (client);
  g_assert_cmpuint (
      test_admin_call (server->port, "POST", "/v1/keys/pk_revocable/revoke"),
      ==, 204);
  expect_terminal (client, rec, 4001);
  /* A new connection with the revoked key gets 4001 too. */
  g_assert_false (test_client_connect (client, WAIT_MS, &error));
  g_assert_error (
      error, METERED_CLIENT_ERROR, METERED_CLIENT_ERROR_CONNECT_FAILED);
  g_assert_cmpint (test_recorder_last_disconnect (rec)->code, ==, 4001);
  test_server_free (server);
}

static void
test_admin_kick (void)
{
  TestServer *server = test_server_start (0, NULL);
  g_autoptr (MeteredSignallingClient) client =
      client_new (server->port, "pk_dev_local");
  g_autoptr (TestRecorder) rec = test_recorder_new (client);
  g_autofree char *peer_id = NULL;
  g_autofree char *path = NULL;

  connect_ok (client);
  peer_id = metered_signalling_client_dup_peer_id (client);
  path = g_strdup_printf ("/v1/peers/%s", peer_id);
  g_assert_cmpuint (test_admin_call (server->port, "DELETE", path), ==, 204);
  expect_terminal (client, rec, 4020);
  test_server_free (server);
}

static void
test_suspended_app (void)
{
  TestServer *server = test_server_start (0, keys_json);
  g_autoptr (MeteredSignallingClient) client =
      client_new (server->port, "pk_suspendable");
  g_autoptr (TestRecorder) rec = test_recorder_new (client);

  connect_ok (client);
  g_assert_cmpuint (
      test_admin_call (server->port, "POST", "/v1/apps/suspendable/suspend"),
      ==, 204);
  expect_terminal (client, rec, 4012);
  test_server_free (server);
}

/* The admin drop: without ?code= it closes with 1001 (docs/metered-
 * server.md), a retried code; codes libsoup cannot put on the wire as
 * given (1012-1014) and terminal ones are refused with 400. */
static void
test_admin_drop (void)
{
  TestServer *server = test_server_start (0, NULL);
  g_autoptr (MeteredSignallingClient) client =
      client_new (server->port, "pk_dev_local");
  g_autoptr (TestRecorder) rec = test_recorder_new (client);
  g_autofree char *peer_id = NULL;
  g_autofree char *path = NULL;
  g_autofree char *path_1012 = NULL;
  g_autofree char *path_4001 = NULL;
  const TestDisconnect *d;

  connect_ok (client);
  peer_id = metered_signalling_client_dup_peer_id (client);
  path = g_strdup_printf ("/v1/peers/%s/drop", peer_id);
  path_1012 = g_strdup_printf ("/v1/peers/%s/drop?code=1012", peer_id);
  path_4001 = g_strdup_printf ("/v1/peers/%s/drop?code=4001", peer_id);
  g_assert_cmpuint (test_admin_call (server->port, "POST", path_1012), ==, 400);
  g_assert_cmpuint (test_admin_call (server->port, "POST", path_4001), ==, 400);
  g_assert_cmpuint (rec->disconnects->len, ==, 0);
  g_assert_cmpuint (test_admin_call (server->port, "POST", path), ==, 204);
  test_assert_wait (rec->disconnects->len == 1, WAIT_MS);
  d = test_recorder_last_disconnect (rec);
  g_assert_cmpint (d->code, ==, 1001);
  g_assert_cmpstr (d->reason, ==, "dropped by administrator");
  g_assert_true (d->will_reconnect);
  g_assert_cmpuint (rec->going_away->len, ==, 0); /* a drop, not a shutdown */
  test_assert_wait (rec->n_reconnected == 1, WAIT_MS);
  client_finish (client);
  test_server_free (server);
}

/* --- concurrency cap: 4010 and the slow-backoff floor --- */

static void
test_concurrency_cap (void)
{
  TestServer *server = test_server_start (0, keys_json);
  g_autoptr (GError) error = NULL;
  g_autoptr (MeteredTestProxy) proxy =
      metered_test_proxy_new (server->port, &error);
  g_autoptr (MeteredSignallingClient) a =
      client_new (metered_test_proxy_get_port (proxy), "pk_capped");
  g_autoptr (MeteredSignallingClient) b =
      client_new (server->port, "pk_capped");
  g_autoptr (MeteredSignallingClient) c =
      client_new (server->port, "pk_capped");
  g_autoptr (TestRecorder) rec = test_recorder_new (a);
  g_autoptr (TestRecorder) rec_c = test_recorder_new (c);
  const guint floor_ms = 600;
  const TestDisconnect *capped;
  guint i_capped = 0;
  gint64 gap;

  g_assert_no_error (error);
  /* Normal delays stay <= 120 ms; the floor lifts the next one to
   * 480..720 ms. */
  g_object_set (a, "reconnect-initial-delay", 50, "reconnect-max-delay", 100,
      "slow-backoff-floor", floor_ms, NULL);
  connect_ok (a);

  /* a loses its socket and is held off while b takes the only slot. */
  metered_test_proxy_set_mode (proxy, METERED_TEST_PROXY_REFUSE);
  metered_test_proxy_cut (proxy);
  test_assert_wait (rec->disconnects->len >= 1, WAIT_MS);
  /* the server has let a's slot go */
  test_assert_wait (test_admin_count_peers (server->port) == 0, WAIT_MS);
  connect_ok (b);

  /* A third client's first connect is refused with 4010. */
  g_assert_false (test_client_connect (c, WAIT_MS, &error));
  g_assert_error (
      error, METERED_CLIENT_ERROR, METERED_CLIENT_ERROR_CONNECT_FAILED);
  g_test_message ("first connect over the cap: %s", error->message);
  g_assert_cmpint (test_recorder_last_disconnect (rec_c)->code, ==, 4010);
  g_clear_error (&error);

  /* a comes back: 4010, and the next delay honours the floor. */
  metered_test_proxy_set_mode (proxy, METERED_TEST_PROXY_FORWARD);
  test_assert_wait (({
    gboolean seen = FALSE;
    for (guint i = 0; i < rec->disconnects->len && !seen; i++)
      if (g_array_index (rec->disconnects, TestDisconnect, i).code == 4010) {
        seen = TRUE;
        i_capped = i;
      }
    seen && rec->disconnects->len > i_capped + 1;
  }),
      WAIT_MS);
  capped = &g_array_index (rec->disconnects, TestDisconnect, i_capped);
  g_assert_true (capped->will_reconnect);
  gap = g_array_index (rec->disconnects, TestDisconnect, i_capped + 1).t_ms -
        capped->t_ms;
  g_test_message ("4010, then the next attempt's close %" G_GINT64_FORMAT
                  " ms later (floor %u ms)",
      gap, floor_ms);
  g_assert_cmpint (gap, >=, floor_ms * 8 / 10);
  g_assert_cmpint (
      g_array_index (rec->disconnects, TestDisconnect, i_capped + 1).code, ==,
      4010);

  /* b leaves: a gets in. */
  client_finish (b);
  test_assert_wait (rec->n_reconnected == 1, WAIT_MS);
  client_finish (a);
  test_server_free (server);
}

/* --- blackholed socket --- */

static void
test_blackhole (void)
{
  TestServer *server = test_server_start (0, NULL);
  g_autoptr (GError) error = NULL;
  g_autoptr (MeteredTestProxy) proxy =
      metered_test_proxy_new (server->port, &error);
  g_autoptr (MeteredSignallingClient) client =
      client_new (metered_test_proxy_get_port (proxy), "pk_dev_local");
  g_autoptr (TestRecorder) rec = test_recorder_new (client);
  const TestDisconnect *d;
  gint64 t_blackhole;

  g_assert_no_error (error);
  g_object_set (client, "inactivity-timeout", 3000, NULL);
  connect_ok (client);
  t_blackhole = test_now_ms ();
  metered_test_proxy_set_mode (proxy, METERED_TEST_PROXY_BLACKHOLE);
  test_assert_wait (rec->disconnects->len == 1, WAIT_MS);
  /* The reconnect is >= 80 ms away: forward again before it. */
  metered_test_proxy_set_mode (proxy, METERED_TEST_PROXY_FORWARD);
  d = test_recorder_last_disconnect (rec);
  g_test_message ("inactivity close %" G_GINT64_FORMAT " ms after the "
                  "blackhole (%" G_GUINT64_FORMAT " bytes dropped)",
      d->t_ms - t_blackhole, metered_test_proxy_get_bytes_dropped (proxy));
  g_assert_cmpint (d->code, ==, 4000);
  g_assert_cmpstr (d->reason, ==, "inactivity timeout");
  g_assert_true (d->will_reconnect);
  /* the last frame came at most one heartbeat (1 s) before */
  g_assert_cmpint (d->t_ms - t_blackhole, >=, 1900);
  g_assert_cmpint (d->t_ms - t_blackhole, <=, 6000);
  /* pings went into the hole */
  g_assert_cmpuint (metered_test_proxy_get_bytes_dropped (proxy), >, 0);

  test_assert_wait (rec->n_reconnected == 1, WAIT_MS);
  g_assert_cmpuint (metered_test_proxy_get_n_accepted (proxy), ==, 2);
  client_finish (client);
  test_server_free (server);
}

/* --- token URL --- */

typedef struct
{
  guint requests;
  guint requests_at_error;
} TokenEndpoint;

static void
token_handler (SoupServer *soup, SoupServerMessage *msg, const char *path,
    GHashTable *query, gpointer data)
{
  TokenEndpoint *t = data;

  t->requests++;
  /* 1: ok (the first connect), 2-4: HTTP 500, then ok again */
  if (t->requests >= 2 && t->requests <= 4) {
    soup_server_message_set_status (msg, 500, NULL);
    soup_server_message_set_response (
        msg, "text/plain", SOUP_MEMORY_STATIC, "boom", 4);
  } else {
    g_autofree char *jwt = test_mint_token ("url-peer", 3600);
    g_autofree char *body = g_strdup_printf ("{\"token\":\"%s\"}", jwt);
    soup_server_message_set_status (msg, 200, NULL);
    soup_server_message_set_response (
        msg, "application/json", SOUP_MEMORY_COPY, body, strlen (body));
  }
}

static void
on_token_provider_error (MeteredSignallingClient *client, guint consecutive,
    GError *error, TokenEndpoint *t)
{
  t->requests_at_error = t->requests;
}

static void
test_token_url (void)
{
  TestServer *server = test_server_start (0, NULL);
  g_autoptr (SoupServer) soup = soup_server_new (NULL, NULL);
  g_autoptr (GError) error = NULL;
  g_autoptr (GSocketAddress) address =
      g_inet_socket_address_new_from_string ("127.0.0.1", 0);
  g_autoptr (MeteredSignallingClient) client = client_new (server->port, NULL);
  g_autoptr (TestRecorder) rec = test_recorder_new (client);
  g_autofree char *token_url = NULL;
  g_autofree char *peer_id = NULL;
  g_autofree char *drop = NULL;
  TokenEndpoint t = { 0 };
  GSList *uris;

  soup_server_add_handler (soup, "/token", token_handler, &t, NULL);
  g_assert_true (soup_server_listen (soup, address, 0, &error));
  g_assert_no_error (error);
  uris = soup_server_get_uris (soup);
  token_url = g_strdup_printf (
      "http://127.0.0.1:%d/token", g_uri_get_port (uris->data));
  g_slist_free_full (uris, (GDestroyNotify) g_uri_unref);

  g_object_set (client, "token-url", token_url, NULL);
  g_signal_connect (
      client, "token-provider-error", G_CALLBACK (on_token_provider_error), &t);
  connect_ok (client);
  g_assert_cmpuint (t.requests, ==, 1);
  peer_id = metered_signalling_client_dup_peer_id (client);
  g_assert_cmpstr (peer_id, ==, "url-peer");

  drop = g_strdup_printf ("/v1/peers/%s/drop?code=1011", peer_id);
  g_assert_cmpuint (test_admin_call (server->port, "POST", drop), ==, 204);
  test_assert_wait (rec->n_reconnected == 1, WAIT_MS);
  g_assert_cmpuint (t.requests, ==, 5);
  g_assert_cmpuint (rec->token_errors->len, ==, 1);
  g_assert_cmpuint (g_array_index (rec->token_errors, guint, 0), ==, 3);
  g_assert_cmpuint (t.requests_at_error, ==, 4); /* the 3rd failure */
  /* token failures open no socket: one disconnect, the drop's */
  g_assert_cmpuint (rec->disconnects->len, ==, 1);
  g_assert_cmpuint (test_stats_uint (client, "token-failures"), ==, 0);

  client_finish (client);
  soup_server_disconnect (soup);
  test_server_free (server);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_log_set_always_fatal (G_LOG_FATAL_MASK | G_LOG_LEVEL_CRITICAL);
  test_log_handler = g_log_set_default_handler (log_handler, NULL);

  g_test_add_func ("/client-int/sigkill-restart", test_sigkill_restart);
  g_test_add_func ("/client-int/sigterm-going-away", test_sigterm_going_away);
  g_test_add_func ("/client-int/reconnect-request", test_reconnect_request);
  g_test_add_func ("/client-int/jwt-expiry", test_jwt_expiry);
  g_test_add_func ("/client-int/terminal/revoked-key-4001", test_revoked_key);
  g_test_add_func ("/client-int/terminal/admin-kick-4020", test_admin_kick);
  g_test_add_func ("/client-int/terminal/suspended-4012", test_suspended_app);
  g_test_add_func ("/client-int/admin-drop", test_admin_drop);
  g_test_add_func ("/client-int/concurrency-cap-4010", test_concurrency_cap);
  g_test_add_func ("/client-int/blackhole", test_blackhole);
  g_test_add_func ("/client-int/paced-flush", test_paced_flush);
  g_test_add_func ("/client-int/token-url", test_token_url);
  return g_test_run ();
}
