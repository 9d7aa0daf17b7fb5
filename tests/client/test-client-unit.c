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

/* Unit tests of MeteredSignallingClient (issue 3): every timer runs on a
 * MeteredManualClock, the socket goes to a real in-process MeteredServer
 * on 127.0.0.1 (optionally through the test proxy), and the main context
 * is iterated for I/O. Time only moves when a test advances the clock. */

#include "test-util.h"

#include "metered-server-private.h"
#include "metered-test-proxy.h"

#include <math.h>
#include <string.h>

#define DEV_KEY "pk_dev_local"
#define WAIT_MS 10000

/* --- logging: every message is checked for credentials --- */

static GPtrArray *forbidden; /* char*: strings no log line may contain */
static guint forbidden_hits;
static GLogFunc test_log_handler;

static void
check_forbidden (const char *text)
{
  for (guint j = 0; text && forbidden && j < forbidden->len; j++) {
    if (strstr (text, forbidden->pdata[j])) {
      forbidden_hits++;
      g_printerr ("credential in a log line: %s\n", text);
    }
  }
}

static gboolean
warning_expected (const char *domain, GLogLevelFlags level)
{
  return (level & G_LOG_LEVEL_WARNING) &&
         (g_strcmp0 (domain, "metered-client") == 0 ||
             g_strcmp0 (domain, "metered-server") == 0);
}

/* Structured messages (the server's). */
static GLogWriterOutput
log_writer (GLogLevelFlags level, const GLogField *fields, gsize n_fields,
    gpointer data)
{
  for (gsize i = 0; i < n_fields; i++) {
    g_autofree char *text = NULL;

    if (!g_str_equal (fields[i].key, "MESSAGE") || !fields[i].value)
      continue;
    text = fields[i].length < 0 ? g_strdup (fields[i].value)
                                : g_strndup (fields[i].value, fields[i].length);
    check_forbidden (text);
  }
  /* Debug and info are generated (G_MESSAGES_DEBUG=all, so the check sees
   * them) but not printed: stdout is the TAP stream. */
  if (level & (G_LOG_LEVEL_DEBUG | G_LOG_LEVEL_INFO))
    return G_LOG_WRITER_HANDLED;
  return g_log_writer_default (level, fields, n_fields, data);
}

/* g_log() messages (the client's, GLib's, libsoup's): checked, then
 * handed to g_test's handler. The client and server warn about what they
 * recover from (a lost socket, a failed token); that is expected here.
 * Any other warning fails the test; criticals abort it (an illegal state
 * transition is one). */
static void
log_handler (const char *domain, GLogLevelFlags level, const char *message,
    gpointer data)
{
  check_forbidden (message);
  if (level & (G_LOG_LEVEL_DEBUG | G_LOG_LEVEL_INFO))
    return;
  if ((level & G_LOG_LEVEL_WARNING) && !warning_expected (domain, level))
    g_test_fail_printf ("unexpected warning: %s: %s", domain, message);
  test_log_handler (domain, level, message, NULL);
}

/* --- fixture: manual clock, in-process server, proxy in front --- */

typedef struct
{
  MeteredClock *clock;
  MeteredManualClock *manual;
  MeteredServer *server;
  guint16 port;
  MeteredTestProxy *proxy;
} Fixture;

static MeteredServer *
server_start (guint16 port)
{
  MeteredServerConfig *config = metered_server_config_new ();
  MeteredServerOptions options = { 0 };
  g_autoptr (GError) error = NULL;
  MeteredServer *server;

  metered_server_config_add_dev_app (config);
  options.host = "127.0.0.1";
  options.port = port;
  options.presence_gap_ms = 20;
  options.ip_connect_limit = 0;
  server = metered_server_new (config, &options);
  g_assert_true (metered_server_listen (server, &error));
  g_assert_no_error (error);
  return server;
}

static void
fixture_setup (Fixture *f, gconstpointer data)
{
  g_autoptr (GError) error = NULL;

  f->clock = metered_manual_clock_new ();
  f->manual = METERED_MANUAL_CLOCK (f->clock);
  f->server = server_start (0);
  f->port = metered_server_get_port (f->server);
  f->proxy = metered_test_proxy_new (f->port, &error);
  g_assert_no_error (error);
}

static void
fixture_teardown (Fixture *f, gconstpointer data)
{
  test_drain ();
  metered_test_proxy_free (f->proxy);
  test_drain ();
  if (f->server)
    metered_server_free (f->server);
  test_drain ();
  g_object_unref (f->clock);
}

static MeteredSignallingClient *
client_new (Fixture *f, gboolean via_proxy)
{
  MeteredSignallingClient *client =
      metered_signalling_client_new (NULL, f->clock);
  g_autofree char *url = g_strdup_printf ("ws://127.0.0.1:%u",
      via_proxy ? metered_test_proxy_get_port (f->proxy) : f->port);

  g_object_set (
      client, "url", url, "api-key", DEV_KEY, "stuck-timeout", 0, NULL);
  return client;
}

static TestRecorder *
recorder_new (Fixture *f, MeteredSignallingClient *client)
{
  TestRecorder *rec = test_recorder_new (client);

  rec->clock = f->clock;
  return rec;
}

static void
connect_ok (MeteredSignallingClient *client)
{
  g_autoptr (GError) error = NULL;

  g_assert_true (test_client_connect (client, WAIT_MS, &error));
  g_assert_no_error (error);
  g_assert_cmpint (metered_signalling_client_get_state (client), ==,
      METERED_CLIENT_STATE_CONNECTED);
}

/* The server closes the client's connection with code (any code, terminal
 * ones included: the in-process hub can do what the admin API refuses). */
static void
server_close (Fixture *f, MeteredSignallingClient *client, int code)
{
  g_autofree char *peer_id = metered_signalling_client_dup_peer_id (client);

  g_assert_nonnull (peer_id);
  g_assert_cmpuint (
      metered_server_close_peer (f->server, peer_id, code, "test close"), ==,
      1);
}

static gint64
next_due (Fixture *f)
{
  return metered_manual_clock_next_due (f->manual);
}

static void
advance_to_next (Fixture *f)
{
  gint64 due = next_due (f);

  g_assert_cmpint (due, >=, 0);
  metered_manual_clock_advance (f->manual, (guint64) due);
}

static MeteredClientState
state_of (MeteredSignallingClient *client)
{
  return metered_signalling_client_get_state (client);
}

/* --- URL rules --- */

static void
test_url_validate (void)
{
  static const struct
  {
    const char *url;
    gboolean ok;
  } cases[] = {
    { "wss://rms.metered.ca", TRUE },
    { "wss://rms.metered.ca/", TRUE },
    { "wss://rms.metered.ca:8443", TRUE },
    { "WSS://RMS.Metered.CA", TRUE },
    { "wss://10.0.0.1:9000", TRUE },
    { "ws://localhost", TRUE },
    { "ws://localhost:8080", TRUE },
    { "ws://localhost:8080/", TRUE },
    { "ws://127.0.0.1:9", TRUE },
    { "ws://[::1]", TRUE },
    { "ws://[::1]:9000", TRUE },
    { "ws://example.com", FALSE },
    { "ws://example.com:8080", FALSE },
    { "ws://127.0.0.2", FALSE },
    { "ws://10.0.0.1:8080", FALSE },
    { "ws://localhost.example.com", FALSE },
    { "ws://[::2]:80", FALSE },
    { "http://localhost", FALSE },
    { "https://rms.metered.ca", FALSE },
    { "ftp://rms.metered.ca", FALSE },
    { "wss://rms.metered.ca/v1", FALSE },
    { "wss://rms.metered.ca/a/", FALSE },
    { "ws://localhost:8080/v1", FALSE },
    { "wss://rms.metered.ca?key=pk_x", FALSE },
    { "wss://rms.metered.ca/?a=b", FALSE },
    { "wss://rms.metered.ca#top", FALSE },
    { "wss://rms.metered.ca/#top", FALSE },
    { "", FALSE },
    { "not a url", FALSE },
    { "wss://", FALSE },
  };

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++) {
    g_autoptr (GError) error = NULL;
    gboolean ok = metered_client_url_validate (cases[i].url, &error);

    g_test_message ("url \"%s\": %s", cases[i].url, ok ? "ok" : error->message);
    g_assert_cmpint (ok, ==, cases[i].ok);
    if (ok)
      g_assert_no_error (error);
    else
      g_assert_error (
          error, METERED_CLIENT_ERROR, METERED_CLIENT_ERROR_INVALID_ARGUMENT);
  }
  g_assert_false (metered_client_url_validate (NULL, NULL));
}

/* encodeURIComponent, written out from its definition. */
static char *
reference_encode (const char *value)
{
  GString *out = g_string_new (NULL);

  for (const guchar *p = (const guchar *) value; *p; p++) {
    if (g_ascii_isalnum (*p) || strchr ("-_.!~*'()", *p))
      g_string_append_c (out, (char) *p);
    else
      g_string_append_printf (out, "%%%02X", *p);
  }
  return g_string_free (out, FALSE);
}

static void
test_url_build (void)
{
  static const struct
  {
    const char *base, *param, *value, *expected;
  } cases[] = {
    { "wss://rms.metered.ca", "key", "a b+c/é!*'()~",
        "https://rms.metered.ca/v1?key=a%20b%2Bc%2F%C3%A9!*'()~" },
    { "wss://RMS.Metered.CA:443/", "token", "eyJh.eyJz.sig-_",
        "https://rms.metered.ca/v1?token=eyJh.eyJz.sig-_" },
    { "wss://rms.metered.ca:8443", "key", "pk_x",
        "https://rms.metered.ca:8443/v1?key=pk_x" },
    { "ws://localhost:80", "key", "pk_x", "http://localhost/v1?key=pk_x" },
    { "ws://LocalHost:8080/", "key", "pk_x",
        "http://localhost:8080/v1?key=pk_x" },
    { "ws://127.0.0.1:8080", "key", "k=v&x",
        "http://127.0.0.1:8080/v1?key=k%3Dv%26x" },
    { "ws://[::1]:9000", "token", "t", "http://[::1]:9000/v1?token=t" },
    { "wss://rms.metered.ca", "key", "😀?#[]",
        "https://rms.metered.ca/v1?key=%F0%9F%98%80%3F%23%5B%5D" },
  };
  GString *all = g_string_new (NULL);
  g_autofree char *all_text = NULL;
  g_autofree char *expected = NULL;
  g_autofree char *got = NULL;

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++) {
    g_autofree char *url = metered_client_url_build (
        cases[i].base, cases[i].param, cases[i].value);
    g_assert_cmpstr (url, ==, cases[i].expected);
  }

  /* Every ASCII character plus some UTF-8, against the definition. */
  for (int c = 1; c < 128; c++)
    g_string_append_c (all, (char) c);
  g_string_append (all, "é€😀ÿ");
  all_text = g_string_free (all, FALSE);
  expected = reference_encode (all_text);
  got = metered_encode_uri_component (all_text);
  g_assert_cmpstr (got, ==, expected);
}

/* --- state machine --- */

static void
test_state_table (void)
{
  enum
  {
    I = METERED_CLIENT_STATE_IDLE,
    G = METERED_CLIENT_STATE_CONNECTING,
    C = METERED_CLIENT_STATE_CONNECTED,
    R = METERED_CLIENT_STATE_RECONNECTING,
    X = METERED_CLIENT_STATE_CLOSED,
  };
  /* allowed[from][to] */
  static const gboolean allowed[5][5] = {
    [I] = { [G] = TRUE, [X] = TRUE },
    [G] = { [C] = TRUE, [X] = TRUE },
    [C] = { [R] = TRUE, [X] = TRUE },
    [R] = { [C] = TRUE, [X] = TRUE },
    [X] = { [G] = TRUE },
  };
  guint n_allowed = 0;

  for (int from = I; from <= X; from++)
    for (int to = I; to <= X; to++) {
      gboolean got = metered_client_state_transition_is_valid (from, to);
      if (got != allowed[from][to])
        g_error ("transition %s -> %s: expected %s, got %s",
            metered_client_state_to_string (from),
            metered_client_state_to_string (to),
            allowed[from][to] ? "valid" : "refused", got ? "valid" : "refused");
      n_allowed += got;
    }
  g_assert_cmpuint (n_allowed, ==, 9);
}

static void
test_state_run (Fixture *f, gconstpointer data)
{
  g_autoptr (MeteredSignallingClient) client = client_new (f, FALSE);
  g_autoptr (MeteredSignallingClient) refused = client_new (f, TRUE);
  g_autoptr (TestRecorder) rec = recorder_new (f, client);
  g_autoptr (TestRecorder) rec2 = recorder_new (f, refused);
  g_autoptr (GError) error = NULL;
  static const MeteredClientState expected[] = {
    METERED_CLIENT_STATE_IDLE,
    METERED_CLIENT_STATE_CONNECTING,
    METERED_CLIENT_STATE_CONNECTING,
    METERED_CLIENT_STATE_CONNECTED,
    /* server drop */
    METERED_CLIENT_STATE_CONNECTED,
    METERED_CLIENT_STATE_RECONNECTING,
    METERED_CLIENT_STATE_RECONNECTING,
    METERED_CLIENT_STATE_CONNECTED,
    /* close() */
    METERED_CLIENT_STATE_CONNECTED,
    METERED_CLIENT_STATE_CLOSED,
    /* connect() again */
    METERED_CLIENT_STATE_CLOSED,
    METERED_CLIENT_STATE_CONNECTING,
    METERED_CLIENT_STATE_CONNECTING,
    METERED_CLIENT_STATE_CONNECTED,
    /* terminal close code */
    METERED_CLIENT_STATE_CONNECTED,
    METERED_CLIENT_STATE_CLOSED,
  };

  connect_ok (client);
  server_close (f, client, 1011);
  test_assert_wait (rec->disconnects->len == 1, WAIT_MS);
  advance_to_next (f);
  test_assert_wait (rec->n_reconnected == 1, WAIT_MS);
  metered_signalling_client_close (client, 0, NULL);
  test_assert_wait (state_of (client) == METERED_CLIENT_STATE_CLOSED, WAIT_MS);
  connect_ok (client);
  server_close (f, client, 4020);
  test_assert_wait (state_of (client) == METERED_CLIENT_STATE_CLOSED, WAIT_MS);
  test_drain ();

  for (guint i = 0; i < rec->states->len; i += 2)
    g_test_message ("state-changed %s -> %s",
        metered_client_state_to_string (
            g_array_index (rec->states, MeteredClientState, i)),
        metered_client_state_to_string (
            g_array_index (rec->states, MeteredClientState, i + 1)));
  g_assert_cmpmem (rec->states->data,
      rec->states->len * sizeof (MeteredClientState), expected,
      sizeof expected);
  for (guint i = 0; i < rec->states->len; i += 2)
    g_assert_true (metered_client_state_transition_is_valid (
        g_array_index (rec->states, MeteredClientState, i),
        g_array_index (rec->states, MeteredClientState, i + 1)));
  g_assert_cmpuint (test_stats_uint (client, "illegal-transitions"), ==, 0);

  /* A first connect that fails: idle -> connecting -> closed. */
  metered_test_proxy_set_mode (f->proxy, METERED_TEST_PROXY_REFUSE);
  g_assert_false (test_client_connect (refused, WAIT_MS, &error));
  g_assert_error (
      error, METERED_CLIENT_ERROR, METERED_CLIENT_ERROR_CONNECT_FAILED);
  g_assert_cmpuint (rec2->states->len, ==, 4);
  g_assert_cmpint (g_array_index (rec2->states, MeteredClientState, 1), ==,
      METERED_CLIENT_STATE_CONNECTING);
  g_assert_cmpint (g_array_index (rec2->states, MeteredClientState, 3), ==,
      METERED_CLIENT_STATE_CLOSED);
  g_assert_cmpuint (test_stats_uint (refused, "illegal-transitions"), ==, 0);
}

/* --- backoff through the client --- */

/* The SDK's band for attempt n: base = min(500 * 2^(n-1), 30000), delay in
 * [0.8 base, 1.2 base). */
static void
assert_backoff_band (guint attempt, gint64 delay)
{
  static const gint64 bands[][2] = { { 400, 599 }, { 800, 1199 },
    { 1600, 2399 }, { 3200, 4799 }, { 6400, 9599 }, { 12800, 19199 },
    { 24000, 35999 } };
  guint i = MIN (attempt, G_N_ELEMENTS (bands)) - 1;

  if (delay < bands[i][0] || delay > bands[i][1])
    g_error ("attempt %u: delay %" G_GINT64_FORMAT
             " ms outside [%" G_GINT64_FORMAT ", %" G_GINT64_FORMAT "]",
        attempt, delay, bands[i][0], bands[i][1]);
}

/* Connects, then stops the in-process server so that every reconnect
 * attempt is refused. */
static void
connect_then_stop_server (
    Fixture *f, MeteredSignallingClient *client, TestRecorder *rec)
{
  connect_ok (client);
  metered_server_free (f->server);
  f->server = NULL;
  test_assert_wait (rec->disconnects->len == 1, WAIT_MS);
  g_assert_true (test_recorder_last_disconnect (rec)->will_reconnect);
  g_assert_cmpint (state_of (client), ==, METERED_CLIENT_STATE_RECONNECTING);
}

/* Fires the pending backoff and waits for that attempt to fail. */
static void
fail_one_attempt (Fixture *f, TestRecorder *rec)
{
  guint before = rec->disconnects->len;
  const TestDisconnect *d;

  advance_to_next (f);
  test_assert_wait (rec->disconnects->len == before + 1, WAIT_MS);
  d = test_recorder_last_disconnect (rec);
  g_assert_cmpint (d->code, ==, 1006);
}

static void
test_backoff_curve (Fixture *f, gconstpointer data)
{
  g_autoptr (MeteredSignallingClient) client = client_new (f, FALSE);
  g_autoptr (TestRecorder) rec = recorder_new (f, client);
  GString *delays = g_string_new (NULL);

  g_object_set (client, "inactivity-timeout", 0, NULL);
  connect_then_stop_server (f, client, rec);
  for (guint attempt = 1; attempt <= 8; attempt++) {
    gint64 delay;

    if (attempt > 1)
      fail_one_attempt (f, rec);
    g_assert_cmpuint (
        test_stats_uint (client, "reconnect-attempt"), ==, attempt);
    g_assert_cmpuint (metered_manual_clock_pending (f->manual), ==, 1);
    delay = next_due (f);
    g_string_append_printf (delays, " %" G_GINT64_FORMAT, delay);
    assert_backoff_band (attempt, delay);
    g_assert_true (test_recorder_last_disconnect (rec)->will_reconnect);
    g_assert_cmpint (state_of (client), ==, METERED_CLIENT_STATE_RECONNECTING);
  }
  g_test_message ("delays of attempts 1..8 (ms):%s", delays->str);
  g_string_free (delays, TRUE);
  g_assert_cmpuint (rec->n_exhausted, ==, 0);
}

static void
test_backoff_max_attempts (Fixture *f, gconstpointer data)
{
  g_autoptr (MeteredSignallingClient) client = client_new (f, FALSE);
  g_autoptr (TestRecorder) rec = recorder_new (f, client);
  const TestDisconnect *d;

  g_object_set (client, "inactivity-timeout", 0, "reconnect-max-attempts",
      (gint64) 3, NULL);
  connect_then_stop_server (f, client, rec);
  for (guint attempt = 1; attempt <= 3; attempt++) {
    g_assert_cmpint (state_of (client), ==, METERED_CLIENT_STATE_RECONNECTING);
    g_assert_cmpuint (rec->n_exhausted, ==, 0);
    assert_backoff_band (attempt, next_due (f));
    fail_one_attempt (f, rec);
  }
  /* The third attempt failed: no attempt is left. */
  g_assert_cmpuint (rec->n_exhausted, ==, 1);
  g_assert_cmpuint (rec->exhausted_attempts, ==, 3);
  g_assert_cmpint (state_of (client), ==, METERED_CLIENT_STATE_CLOSED);
  d = test_recorder_last_disconnect (rec);
  g_assert_false (d->will_reconnect);
  g_assert_cmpuint (metered_manual_clock_pending (f->manual), ==, 0);
  g_assert_true (test_recorder_log_has_sequence (rec, "disconnected 1006 0",
      "state reconnecting>closed", "exhausted 3", NULL));
  g_assert_cmpuint (test_stats_uint (client, "illegal-transitions"), ==, 0);
}

static void
test_backoff_forever (Fixture *f, gconstpointer data)
{
  g_autoptr (MeteredSignallingClient) client = client_new (f, FALSE);
  g_autoptr (TestRecorder) rec = recorder_new (f, client);

  g_object_set (client, "inactivity-timeout", 0, "reconnect-max-attempts",
      (gint64) -1, NULL);
  connect_then_stop_server (f, client, rec);
  for (guint attempt = 1; attempt <= 50; attempt++) {
    if (attempt > 1)
      fail_one_attempt (f, rec);
    assert_backoff_band (attempt, next_due (f));
    g_assert_true (test_recorder_last_disconnect (rec)->will_reconnect);
  }
  g_assert_cmpuint (test_stats_uint (client, "reconnect-attempt"), ==, 50);
  g_assert_cmpuint (rec->n_exhausted, ==, 0);
  g_assert_cmpint (state_of (client), ==, METERED_CLIENT_STATE_RECONNECTING);
}

/* --- close-code policy --- */

static void
test_policy_retry (Fixture *f, gconstpointer data)
{
  static const int codes[] = { 1000, 1001, 1006, 1008, 1009, 1011, 4000, 4002,
    4010, 4011 };
  g_autoptr (MeteredSignallingClient) client = client_new (f, TRUE);
  g_autoptr (TestRecorder) rec = recorder_new (f, client);

  connect_ok (client);
  for (guint i = 0; i < G_N_ELEMENTS (codes); i++) {
    guint n = rec->disconnects->len;
    guint reconnected = rec->n_reconnected;
    const TestDisconnect *d;
    gint64 delay;

    if (codes[i] == 1006) {
      /* the previous socket's TCP teardown may still be running */
      test_assert_wait (metered_test_proxy_get_n_open (f->proxy) == 1, WAIT_MS);
      g_assert_cmpuint (metered_test_proxy_cut (f->proxy), ==, 1);
    } else
      server_close (f, client, codes[i]);
    test_assert_wait (rec->disconnects->len == n + 1, WAIT_MS);
    d = test_recorder_last_disconnect (rec);
    g_assert_cmpint (d->code, ==, codes[i]);
    if (codes[i] != 1006)
      g_assert_cmpstr (d->reason, ==, "test close");
    g_assert_true (d->will_reconnect);
    g_assert_cmpint (state_of (client), ==, METERED_CLIENT_STATE_RECONNECTING);
    g_assert_cmpuint (metered_manual_clock_pending (f->manual), ==, 1);
    delay = next_due (f);
    g_test_message (
        "close %d: next attempt in %" G_GINT64_FORMAT " ms", codes[i], delay);
    if (codes[i] == 4010) {
      /* the 30 s floor, before jitter */
      g_assert_cmpint (delay, >=, 24000);
      g_assert_cmpint (delay, <, 36000);
    } else {
      /* attempt 1 of the normal curve; after 4010 too (one-shot floor) */
      assert_backoff_band (1, delay);
    }
    advance_to_next (f);
    test_assert_wait (rec->n_reconnected == reconnected + 1, WAIT_MS);
    g_assert_cmpint (state_of (client), ==, METERED_CLIENT_STATE_CONNECTED);
  }
  g_assert_cmpuint (
      test_stats_uint (client, "reconnects"), ==, G_N_ELEMENTS (codes));
  g_assert_cmpuint (test_stats_uint (client, "illegal-transitions"), ==, 0);
}

static void
test_policy_terminal (Fixture *f, gconstpointer data)
{
  static const int codes[] = { 4001, 4003, 4012, 4020 };
  g_autoptr (MeteredSignallingClient) client = client_new (f, FALSE);
  g_autoptr (TestRecorder) rec = recorder_new (f, client);

  for (guint i = 0; i < G_N_ELEMENTS (codes); i++) {
    const TestDisconnect *d;
    guint n_states;

    connect_ok (client);
    server_close (f, client, codes[i]);
    test_assert_wait (rec->disconnects->len == i + 1, WAIT_MS);
    d = test_recorder_last_disconnect (rec);
    g_assert_cmpint (d->code, ==, codes[i]);
    g_assert_false (d->will_reconnect);
    g_assert_cmpint (state_of (client), ==, METERED_CLIENT_STATE_CLOSED);
    /* straight from connected to closed, and nothing scheduled */
    n_states = rec->states->len;
    g_assert_cmpint (
        g_array_index (rec->states, MeteredClientState, n_states - 2), ==,
        METERED_CLIENT_STATE_CONNECTED);
    g_assert_cmpint (
        g_array_index (rec->states, MeteredClientState, n_states - 1), ==,
        METERED_CLIENT_STATE_CLOSED);
    g_assert_cmpuint (metered_manual_clock_pending (f->manual), ==, 0);
    g_assert_cmpuint (test_stats_uint (client, "reconnect-attempt"), ==, 0);
    test_assert_wait (metered_hub_count_conns (f->server->hub) == 0, WAIT_MS);
    /* Two minutes later: still closed, no attempt, no new connection. */
    metered_manual_clock_advance (f->manual, 120000);
    test_drain ();
    g_assert_cmpint (state_of (client), ==, METERED_CLIENT_STATE_CLOSED);
    g_assert_cmpuint (rec->disconnects->len, ==, i + 1);
    g_assert_cmpuint (metered_hub_count_conns (f->server->hub), ==, 0);
  }
  g_assert_cmpuint (rec->n_reconnected, ==, 0);
  g_assert_cmpuint (test_stats_uint (client, "illegal-transitions"), ==, 0);
}

/* --- the outbound queue --- */

static void
test_queue_bounds_and_order (Fixture *f, gconstpointer data)
{
  enum
  {
    N = 4
  };
  g_autoptr (MeteredSignallingClient) pub = client_new (f, TRUE);
  g_autoptr (MeteredSignallingClient) sub = client_new (f, FALSE);
  g_autoptr (TestRecorder) pub_rec = recorder_new (f, pub);
  g_autoptr (TestRecorder) sub_rec = recorder_new (f, sub);
  g_autoptr (GError) error = NULL;
  TestResult results[N + 1] = { { 0 } };
  guint order = 0;
  gint64 clock_before;

  g_object_set (pub, "outbound-queue-size", N, NULL);
  connect_ok (sub);
  g_assert_true (test_client_subscribe (sub, "queue", WAIT_MS, &error));
  g_assert_no_error (error);
  connect_ok (pub);

  /* Server unreachable: the proxy cuts the socket and refuses new ones. */
  metered_test_proxy_set_mode (f->proxy, METERED_TEST_PROXY_REFUSE);
  metered_test_proxy_cut (f->proxy);
  test_assert_wait (pub_rec->disconnects->len == 1, WAIT_MS);
  g_assert_cmpint (state_of (pub), ==, METERED_CLIENT_STATE_RECONNECTING);

  clock_before = metered_clock_now_ms (f->clock);
  for (guint i = 0; i <= N; i++) {
    g_autofree char *payload = g_strdup_printf ("{\"i\":%u}", i);
    results[i].order_counter = &order;
    metered_signalling_client_publish_async (
        pub, "queue", payload, NULL, test_on_publish, &results[i]);
  }
  /* The (N+1)th fails at once, without time moving; the N wait. */
  test_assert_wait (results[N].done, WAIT_MS);
  g_assert_error (
      results[N].error, METERED_CLIENT_ERROR, METERED_CLIENT_ERROR_QUEUE_FULL);
  g_assert_cmpint (metered_clock_now_ms (f->clock), ==, clock_before);
  test_drain ();
  for (guint i = 0; i < N; i++)
    g_assert_false (results[i].done);
  g_assert_cmpuint (test_stats_uint (pub, "queue-depth"), ==, N);

  /* The server comes back: the next attempt flushes the queue. */
  metered_test_proxy_set_mode (f->proxy, METERED_TEST_PROXY_FORWARD);
  advance_to_next (f);
  test_assert_wait (pub_rec->n_reconnected == 1, WAIT_MS);
  for (guint i = 0; i < N; i++) {
    test_assert_wait (results[i].done, WAIT_MS);
    g_assert_no_error (results[i].error);
    g_assert_true (results[i].ok);
  }
  g_assert_cmpuint (test_stats_uint (pub, "queue-depth"), ==, 0);

  /* A sentinel sent after every ack arrives after any duplicate would. */
  g_assert_true (
      test_client_publish (pub, "queue", "\"end\"", WAIT_MS, &error));
  g_assert_no_error (error);
  test_assert_wait (sub_rec->messages->len >= N + 1, WAIT_MS);
  test_drain ();
  g_assert_cmpuint (sub_rec->messages->len, ==, N + 1);
  for (guint i = 0; i < N; i++) {
    TestMessage *m = sub_rec->messages->pdata[i];
    g_autofree char *expected = g_strdup_printf ("{\"i\":%u}", i);
    g_assert_cmpstr (m->channel, ==, "queue");
    g_assert_cmpstr (m->data, ==, expected);
  }
  g_assert_cmpstr (
      ((TestMessage *) sub_rec->messages->pdata[N])->data, ==, "\"end\"");
  for (guint i = 0; i <= N; i++)
    g_clear_error (&results[i].error);
}

/* max-message-rate holds what goes beyond it in the queue, in call order,
 * and sends it as the budget refills (the manual clock moves it); set
 * while connected it applies at once, and raising it from 0 (an empty
 * budget of no rate) does not leave the queue stuck. */
static void
test_pace (Fixture *f, gconstpointer data)
{
  enum
  {
    N = 40,
    RATE = 10,
    BURST = 15
  };
  g_autoptr (MeteredSignallingClient) pub = client_new (f, FALSE);
  g_autoptr (MeteredSignallingClient) sub = client_new (f, FALSE);
  g_autoptr (TestRecorder) sub_rec = recorder_new (f, sub);
  g_autoptr (GError) error = NULL;
  TestResult results[N] = { { 0 } };

  g_object_set (pub, "max-message-rate", 0, NULL);
  connect_ok (sub);
  g_assert_true (test_client_subscribe (sub, "pace", WAIT_MS, &error));
  g_assert_no_error (error);
  connect_ok (pub);
  g_object_set (pub, "max-message-rate", RATE, NULL);

  for (guint i = 0; i < N; i++) {
    g_autofree char *payload = g_strdup_printf ("{\"i\":%u}", i);
    metered_signalling_client_publish_async (
        pub, "pace", payload, NULL, test_on_publish, &results[i]);
  }
  /* The burst goes at once, the rest waits without time moving. */
  test_assert_wait (sub_rec->messages->len >= BURST, WAIT_MS);
  test_drain ();
  g_assert_cmpuint (sub_rec->messages->len, ==, BURST);
  g_assert_cmpuint (test_stats_uint (pub, "queue-depth"), ==, N - BURST);

  /* One second refills RATE tokens: RATE more, no more. */
  metered_manual_clock_advance (f->manual, 1000);
  test_assert_wait (sub_rec->messages->len >= BURST + RATE, WAIT_MS);
  test_drain ();
  g_assert_cmpuint (sub_rec->messages->len, ==, BURST + RATE);
  g_assert_cmpuint (test_stats_uint (pub, "queue-depth"), ==, N - BURST - RATE);

  metered_manual_clock_advance (f->manual, 1500);
  for (guint i = 0; i < N; i++) {
    test_assert_wait (results[i].done, WAIT_MS);
    g_assert_no_error (results[i].error);
  }
  test_assert_wait (sub_rec->messages->len >= N, WAIT_MS);
  for (guint i = 0; i < N; i++) {
    g_autofree char *expected = g_strdup_printf ("{\"i\":%u}", i);
    g_assert_cmpstr (
        ((TestMessage *) sub_rec->messages->pdata[i])->data, ==, expected);
  }
}

static void
test_queue_close_fails_queued (Fixture *f, gconstpointer data)
{
  g_autoptr (MeteredSignallingClient) client = client_new (f, FALSE);
  g_autoptr (TestRecorder) rec = recorder_new (f, client);
  g_autoptr (GError) error = NULL;
  TestResult results[3] = { { 0 } };

  connect_ok (client);
  server_close (f, client, 1011);
  test_assert_wait (rec->disconnects->len == 1, WAIT_MS);
  for (guint i = 0; i < G_N_ELEMENTS (results); i++)
    metered_signalling_client_publish_async (
        client, "queue", "[1]", NULL, test_on_publish, &results[i]);
  test_drain ();
  for (guint i = 0; i < G_N_ELEMENTS (results); i++)
    g_assert_false (results[i].done);
  g_assert_cmpuint (test_stats_uint (client, "queue-depth"), ==, 3);

  metered_signalling_client_close (client, 0, NULL);
  for (guint i = 0; i < G_N_ELEMENTS (results); i++) {
    test_assert_wait (results[i].done, WAIT_MS);
    g_assert_error (
        results[i].error, METERED_CLIENT_ERROR, METERED_CLIENT_ERROR_CLOSED);
  }
  g_assert_cmpint (state_of (client), ==, METERED_CLIENT_STATE_CLOSED);
  g_assert_cmpuint (test_stats_uint (client, "queue-depth"), ==, 0);
  g_assert_cmpuint (metered_manual_clock_pending (f->manual), ==, 0);

  /* After close nothing is queued any more. */
  g_assert_false (
      test_client_publish (client, "queue", "[2]", WAIT_MS, &error));
  g_assert_error (
      error, METERED_CLIENT_ERROR, METERED_CLIENT_ERROR_NOT_CONNECTED);
  for (guint i = 0; i < G_N_ELEMENTS (results); i++)
    g_clear_error (&results[i].error);
}

/* --- token providers --- */

typedef struct
{
  guint calls;
  MeteredTokenRequest *held;
} HoldingProvider;

static gboolean
on_request_token_hold (MeteredSignallingClient *client,
    MeteredTokenRequest *request, HoldingProvider *p)
{
  p->calls++;
  g_set_object (&p->held, request);
  return TRUE; /* taken, and never answered */
}

static void
test_token_timeout (Fixture *f, gconstpointer data)
{
  MeteredSignallingClient *client =
      metered_signalling_client_new (NULL, f->clock);
  g_autoptr (TestRecorder) rec = recorder_new (f, client);
  g_autofree char *url = g_strdup_printf ("ws://127.0.0.1:%u", f->port);
  HoldingProvider p = { 0 };
  TestResult r = { 0 };

  g_object_set (client, "url", url, "token-provider-timeout", 5000,
      "stuck-timeout", 0, NULL);
  g_signal_connect (
      client, "request-token-async", G_CALLBACK (on_request_token_hold), &p);
  metered_signalling_client_connect_async (client, NULL, test_on_connect, &r);
  test_assert_wait (p.calls == 1, WAIT_MS);
  g_assert_cmpint (next_due (f), ==, 5000);

  metered_manual_clock_advance (f->manual, 4999);
  test_drain ();
  g_assert_false (r.done);
  g_assert_cmpint (state_of (client), ==, METERED_CLIENT_STATE_CONNECTING);

  metered_manual_clock_advance (f->manual, 1);
  test_assert_wait (r.done, WAIT_MS);
  g_assert_error (
      r.error, METERED_CLIENT_ERROR, METERED_CLIENT_ERROR_TOKEN_PROVIDER);
  g_assert_cmpint (state_of (client), ==, METERED_CLIENT_STATE_CLOSED);
  g_assert_true (g_cancellable_is_cancelled (
      metered_token_request_get_cancellable (p.held)));
  g_assert_cmpuint (metered_manual_clock_pending (f->manual), ==, 0);
  g_assert_cmpuint (p.calls, ==, 1);

  /* A late answer changes nothing. */
  metered_token_request_return_token (p.held, "late");
  test_drain ();
  g_assert_cmpint (state_of (client), ==, METERED_CLIENT_STATE_CLOSED);
  g_assert_cmpuint (metered_hub_count_conns (f->server->hub), ==, 0);

  test_result_clear (&r);
  g_clear_object (&p.held);
  test_recorder_free (g_steal_pointer (&rec));
  g_object_unref (client);
}

typedef struct
{
  guint calls;
  gboolean fail;
} SwitchProvider;

static char *
mint_dev_jwt (const char *sub)
{
  g_autofree char *claims = g_strdup_printf (
      "{\"sub\":\"%s\",\"exp\":%" G_GINT64_FORMAT ",\"channels\":[\"**\"]}",
      sub, g_get_real_time () / G_USEC_PER_SEC + 3600);

  return metered_jwt_sign_hs256 (METERED_DEV_KID,
      (const guint8 *) METERED_DEV_SECRET, strlen (METERED_DEV_SECRET), claims);
}

static char *
on_request_token_switch (MeteredSignallingClient *client, SwitchProvider *p)
{
  p->calls++;
  return p->fail ? NULL : mint_dev_jwt ("token-peer");
}

static void
test_token_threshold (Fixture *f, gconstpointer data)
{
  MeteredSignallingClient *client =
      metered_signalling_client_new (NULL, f->clock);
  g_autoptr (TestRecorder) rec = recorder_new (f, client);
  g_autofree char *url = g_strdup_printf ("ws://127.0.0.1:%u", f->port);
  SwitchProvider p = { 0 };

  g_object_set (client, "url", url, "stuck-timeout", 0, NULL);
  g_signal_connect (
      client, "request-token", G_CALLBACK (on_request_token_switch), &p);
  connect_ok (client);
  g_assert_cmpuint (p.calls, ==, 1);

  /* Failures 1 and 2 are silent; 3 and 4 are reported. No socket is
   * opened, so no ::disconnected either, and each failure consumes one
   * backoff attempt. */
  p.fail = TRUE;
  server_close (f, client, 1011);
  test_assert_wait (rec->disconnects->len == 1, WAIT_MS);
  for (guint failure = 1; failure <= 4; failure++) {
    advance_to_next (f);
    test_drain ();
    g_assert_cmpuint (p.calls, ==, 1 + failure);
    g_assert_cmpuint (test_stats_uint (client, "token-failures"), ==, failure);
    g_assert_cmpuint (
        test_stats_uint (client, "reconnect-attempt"), ==, failure + 1);
    assert_backoff_band (failure + 1, next_due (f));
    g_assert_cmpuint (
        rec->token_errors->len, ==, failure < 3 ? 0 : failure - 2);
    if (failure >= 3)
      g_assert_cmpuint (
          g_array_index (rec->token_errors, guint, failure - 3), ==, failure);
    g_assert_cmpuint (rec->disconnects->len, ==, 1);
    g_assert_cmpint (state_of (client), ==, METERED_CLIENT_STATE_RECONNECTING);
  }

  /* A success resets the counter. */
  p.fail = FALSE;
  advance_to_next (f);
  test_assert_wait (rec->n_reconnected == 1, WAIT_MS);
  g_assert_cmpuint (test_stats_uint (client, "token-failures"), ==, 0);

  p.fail = TRUE;
  server_close (f, client, 1011);
  test_assert_wait (rec->disconnects->len == 2, WAIT_MS);
  advance_to_next (f);
  advance_to_next (f);
  test_drain ();
  g_assert_cmpuint (rec->token_errors->len, ==, 2); /* still the old two */
  advance_to_next (f);
  test_drain ();
  g_assert_cmpuint (rec->token_errors->len, ==, 3);
  g_assert_cmpuint (g_array_index (rec->token_errors, guint, 2), ==, 3);

  metered_signalling_client_close (client, 0, NULL);
  test_recorder_free (g_steal_pointer (&rec));
  g_object_unref (client);
}

/* --- liveness --- */

static guint64
server_metric (Fixture *f, MeteredMetricFamily family, const char *label)
{
  return metered_metrics_get (f->server->metrics, family, label);
}

static void
test_liveness (Fixture *f, gconstpointer data)
{
  g_autoptr (MeteredSignallingClient) client = client_new (f, TRUE);
  g_autoptr (TestRecorder) rec = recorder_new (f, client);
  const TestDisconnect *d;

  g_object_set (client, "inactivity-timeout", 9000, NULL);
  connect_ok (client);
  /* watchdog (9000) and heartbeat (9000 / 3) */
  g_assert_cmpuint (metered_manual_clock_pending (f->manual), ==, 2);
  g_assert_cmpint (next_due (f), ==, 3000);

  /* Five heartbeats: each sends a ping, the pong re-arms the watchdog, so
   * 15 s without other traffic do not trip the 9 s watchdog. */
  for (guint i = 1; i <= 5; i++) {
    guint64 down = metered_test_proxy_get_bytes_down (f->proxy);

    metered_manual_clock_advance (f->manual, 3000);
    test_assert_wait (
        server_metric (f, METERED_METRIC_FRAMES_IN, "ping") == i &&
            server_metric (f, METERED_METRIC_FRAMES_OUT, "pong") == i &&
            metered_test_proxy_get_bytes_down (f->proxy) > down,
        WAIT_MS);
    test_drain (); /* the client reads the pong */
    g_assert_cmpint (state_of (client), ==, METERED_CLIENT_STATE_CONNECTED);
  }
  g_assert_cmpuint (rec->disconnects->len, ==, 0);

  /* Blackholed: pings vanish, nothing comes back. The watchdog fires 9 s
   * after the last pong, not earlier. */
  metered_test_proxy_set_mode (f->proxy, METERED_TEST_PROXY_BLACKHOLE);
  metered_manual_clock_advance (f->manual, 3000);
  test_assert_wait (
      metered_test_proxy_get_bytes_dropped (f->proxy) > 0, WAIT_MS);
  metered_manual_clock_advance (f->manual, 3000);
  metered_manual_clock_advance (f->manual, 2999);
  test_drain ();
  g_assert_cmpuint (rec->disconnects->len, ==, 0);
  g_assert_cmpint (state_of (client), ==, METERED_CLIENT_STATE_CONNECTED);
  metered_manual_clock_advance (f->manual, 1);
  g_assert_cmpuint (rec->disconnects->len, ==, 1);
  d = test_recorder_last_disconnect (rec);
  g_assert_cmpint (d->code, ==, 4000);
  g_assert_cmpstr (d->reason, ==, "inactivity timeout");
  g_assert_true (d->will_reconnect);
  g_assert_cmpint (state_of (client), ==, METERED_CLIENT_STATE_RECONNECTING);
  g_assert_cmpuint (server_metric (f, METERED_METRIC_FRAMES_IN, "ping"), ==, 5);

  /* The network is back: a normal reconnect. */
  metered_test_proxy_set_mode (f->proxy, METERED_TEST_PROXY_FORWARD);
  assert_backoff_band (1, next_due (f));
  advance_to_next (f);
  test_assert_wait (rec->n_reconnected == 1, WAIT_MS);
}

/* --- going_away --- */

static gboolean
on_shutdown_done (gpointer data)
{
  *(gboolean *) data = TRUE;
  return G_SOURCE_REMOVE;
}

static void
test_going_away (Fixture *f, gconstpointer data)
{
  g_autoptr (MeteredSignallingClient) client = client_new (f, FALSE);
  g_autoptr (TestRecorder) rec = recorder_new (f, client);
  gboolean done = FALSE;
  const TestDisconnect *d;
  gint64 delay;

  connect_ok (client);
  metered_server_shutdown (f->server, 2000, on_shutdown_done, &done);
  test_assert_wait (rec->disconnects->len == 1, WAIT_MS);
  g_assert_cmpuint (rec->going_away->len, ==, 1);
  g_assert_cmpint (g_array_index (rec->going_away, gint64, 0), ==, 1000);
  g_assert_true (test_recorder_log_has_sequence (
      rec, "going-away 1000", "disconnected 1001 1", NULL));
  d = test_recorder_last_disconnect (rec);
  g_assert_cmpint (d->code, ==, 1001);
  delay = next_due (f);
  g_test_message (
      "next attempt after going_away: %" G_GINT64_FORMAT " ms", delay);
  g_assert_cmpint (delay, >=, 1000);
  g_assert_cmpint (delay, <, 1200); /* retryAfterMs plus at most 20 % */

  /* A new server on the same port takes the reconnect. */
  test_assert_wait (done, WAIT_MS);
  metered_server_free (f->server);
  f->server = server_start (f->port);
  advance_to_next (f);
  test_assert_wait (rec->n_reconnected == 1, WAIT_MS);

  /* The going_away wait is one-shot: the next drop uses the curve. */
  server_close (f, client, 1011);
  test_assert_wait (rec->disconnects->len == 2, WAIT_MS);
  assert_backoff_band (1, next_due (f));
}

/* --- reconnect-now --- */

static void
test_reconnect_now (Fixture *f, gconstpointer data)
{
  g_autoptr (MeteredSignallingClient) client = client_new (f, FALSE);
  g_autoptr (TestRecorder) rec = recorder_new (f, client);
  gint64 clock_before;

  g_object_set (client, "reconnect-initial-delay", 20000, NULL);
  connect_ok (client);

  /* Connected: a hint does nothing. */
  metered_signalling_client_reconnect_now (client);
  test_drain ();
  g_assert_cmpint (state_of (client), ==, METERED_CLIENT_STATE_CONNECTED);
  g_assert_cmpuint (rec->disconnects->len, ==, 0);

  server_close (f, client, 1011);
  test_assert_wait (rec->disconnects->len == 1, WAIT_MS);
  g_assert_cmpint (next_due (f), >=, 16000);
  clock_before = metered_clock_now_ms (f->clock);
  metered_signalling_client_reconnect_now (client);
  test_assert_wait (rec->n_reconnected == 1, WAIT_MS);
  g_assert_cmpint (metered_clock_now_ms (f->clock), ==, clock_before);
  g_assert_cmpint (state_of (client), ==, METERED_CLIENT_STATE_CONNECTED);
  /* the cut backoff timer is gone: what is left is the liveness pair */
  g_assert_cmpuint (metered_manual_clock_pending (f->manual), ==, 2);
}

/* --- the liveness probe --- */

/* A cut stalls a socket that looks open: the probe pings it (after 5 s
 * of quiet, one ping at a time), drops it once a ping is unanswered for
 * the deadline, and replaces its reconnect attempts at the probe's pace
 * until one is welcomed; ordinary drops keep their backoff. */
static void
test_probe (Fixture *f, gconstpointer data)
{
  g_autoptr (MeteredSignallingClient) client = client_new (f, TRUE);
  g_autoptr (TestRecorder) rec = recorder_new (f, client);
  const TestDisconnect *d;
  guint accepted;

  connect_ok (client);
  /* Quiet for less than 5 s: nothing to prove. */
  metered_manual_clock_advance (f->manual, 4999);
  metered_signalling_client_probe (client, 28000, 2000);
  test_drain ();
  g_assert_cmpuint (server_metric (f, METERED_METRIC_FRAMES_IN, "ping"), ==, 0);
  metered_manual_clock_advance (f->manual, 1);
  metered_signalling_client_probe (client, 28000, 2000);
  test_assert_wait (
      server_metric (f, METERED_METRIC_FRAMES_OUT, "pong") == 1, WAIT_MS);
  test_drain (); /* the client reads the pong */

  /* Blackholed: the next probe's ping goes unanswered; a second probe
   * does not ping again; the socket stays until the deadline. */
  metered_test_proxy_set_mode (f->proxy, METERED_TEST_PROXY_BLACKHOLE);
  metered_manual_clock_advance (f->manual, 5000);
  metered_signalling_client_probe (client, 28000, 2000);
  test_assert_wait (
      metered_test_proxy_get_bytes_dropped (f->proxy) > 0, WAIT_MS);
  metered_manual_clock_advance (f->manual, 27999);
  metered_signalling_client_probe (client, 28000, 2000);
  test_drain ();
  g_assert_cmpint (state_of (client), ==, METERED_CLIENT_STATE_CONNECTED);
  g_assert_cmpuint (rec->disconnects->len, ==, 0);
  accepted = metered_test_proxy_get_n_accepted (f->proxy);
  metered_manual_clock_advance (f->manual, 1);
  metered_signalling_client_probe (client, 28000, 2000);
  test_assert_wait (rec->disconnects->len == 1, WAIT_MS);
  d = test_recorder_last_disconnect (rec);
  g_assert_cmpint (d->code, ==, 1000);
  g_assert_cmpstr (d->reason, ==, "liveness probe unanswered");
  g_assert_true (d->will_reconnect);
  /* At once, not after a backoff: a new connection without the clock
   * moving. */
  test_assert_wait (
      metered_test_proxy_get_n_accepted (f->proxy) > accepted, WAIT_MS);
  g_assert_cmpint (state_of (client), ==, METERED_CLIENT_STATE_RECONNECTING);

  /* Its attempt is blackholed too (or the server gave up on its silent
   * handshake and it is waiting out a backoff): the next probe 2 s on
   * starts another one. */
  accepted = metered_test_proxy_get_n_accepted (f->proxy);
  metered_manual_clock_advance (f->manual, 2000);
  metered_signalling_client_probe (client, 28000, 2000);
  test_assert_wait (
      metered_test_proxy_get_n_accepted (f->proxy) > accepted, WAIT_MS);

  /* The path is back: the next replacement is welcomed. */
  metered_test_proxy_set_mode (f->proxy, METERED_TEST_PROXY_FORWARD);
  metered_manual_clock_advance (f->manual, 2000);
  metered_signalling_client_probe (client, 28000, 2000);
  test_assert_wait (rec->n_reconnected == 1, WAIT_MS);
  g_assert_cmpuint (rec->disconnects->len, ==, 1);

  /* An ordinary drop afterwards keeps its backoff: the probe is over. */
  server_close (f, client, 1011);
  test_assert_wait (rec->disconnects->len == 2, WAIT_MS);
  metered_signalling_client_probe (client, 28000, 2000);
  test_drain ();
  assert_backoff_band (1, next_due (f));
  g_assert_cmpint (state_of (client), ==, METERED_CLIENT_STATE_RECONNECTING);
}

/* --- close() from a signal handler --- */

static void
on_disconnected_close (MeteredSignallingClient *client, int code,
    const char *reason, gboolean will_reconnect, gpointer data)
{
  if (will_reconnect)
    metered_signalling_client_close (client, 0, NULL);
}

static void
on_token_error_close (MeteredSignallingClient *client, guint consecutive,
    GError *error, gpointer data)
{
  metered_signalling_client_close (client, 0, NULL);
}

/* An application that gives up from its ::disconnected (or
 * ::token-provider-error) handler: close() must win over the reconnect the
 * client was about to schedule (the SDK checks explicitlyClosed in
 * scheduleReconnect for exactly this). */
/* --- the probe's SYN bound --- */

/* The local port of our one socket in SYN-SENT toward 127.0.0.1:port
 * (/proc/net/tcp, state 02), 0 if none; the test fails on two. */
static guint
syn_sent_port (guint16 port)
{
  g_autofree char *text = NULL;
  g_auto (GStrv) lines = NULL;
  g_autofree char *remote = g_strdup_printf ("0100007F:%04X", port);
  guint found = 0, n = 0;

  g_assert_true (g_file_get_contents ("/proc/net/tcp", &text, NULL, NULL));
  lines = g_strsplit (text, "\n", -1);
  for (guint i = 1; lines[i]; i++) {
    g_auto (GStrv) col = g_strsplit_set (g_strstrip (lines[i]), " ", -1);
    GPtrArray *f = g_ptr_array_new ();

    for (guint j = 0; col[j]; j++)
      if (*col[j])
        g_ptr_array_add (f, col[j]);
    if (f->len > 3 && g_str_equal (f->pdata[2], remote) &&
        g_str_equal (f->pdata[3], "02")) {
      const char *colon = strchr (f->pdata[1], ':');

      found = colon ? (guint) g_ascii_strtoull (colon + 1, NULL, 16) : 0;
      n++;
    }
    g_ptr_array_unref (f);
  }
  g_assert_cmpuint (n, <=, 1);
  return found;
}

/* Connects sockets to port until the kernel stops completing their
 * handshakes (the listener's accept queue is full: further SYNs are
 * dropped); the ones that completed are returned, to be kept open. */
static GPtrArray *
fill_accept_queue (guint16 port)
{
  GPtrArray *held = g_ptr_array_new_with_free_func (g_object_unref);
  g_autoptr (GSocketAddress) address =
      g_inet_socket_address_new_from_string ("127.0.0.1", port);

  for (guint i = 0; i < 256; i++) {
    g_autoptr (GError) error = NULL;
    g_autoptr (GSocket) sock = g_socket_new (G_SOCKET_FAMILY_IPV4,
        G_SOCKET_TYPE_STREAM, G_SOCKET_PROTOCOL_TCP, &error);

    g_assert_no_error (error);
    g_socket_set_blocking (sock, FALSE);
    if (!g_socket_connect (sock, address, NULL, &error)) {
      g_assert_error (error, G_IO_ERROR, G_IO_ERROR_PENDING);
      g_clear_error (&error);
      /* Loopback completes a handshake within the connect call unless
       * the SYN was dropped; a second is plenty. */
      if (!g_socket_condition_timed_wait (
              sock, G_IO_OUT, G_USEC_PER_SEC, NULL, NULL) ||
          !g_socket_check_connect_result (sock, NULL))
        return held; /* closed here: its SYN-SENT socket goes */
    }
    g_ptr_array_add (held, g_steal_pointer (&sock));
  }
  g_assert_not_reached ();
}

/* While the probe reconnects, an attempt whose SYN goes unanswered is
 * replaced at the bound (4 of the last handshakes, at least 250 ms)
 * instead of waiting for the kernel's retransmission 1 s later: a real
 * listening socket whose accept queue is full drops the SYN, so the
 * attempt hangs in SYN-SENT; once connections are accepted again the
 * attempt that follows is welcomed. */
static void
test_probe_syn_bound (Fixture *f, gconstpointer data)
{
  g_autoptr (MeteredSignallingClient) client = client_new (f, TRUE);
  g_autoptr (TestRecorder) rec = recorder_new (f, client);
  g_autoptr (GPtrArray) held = NULL;
  guint16 port = metered_test_proxy_get_port (f->proxy);
  guint first;

  /* Its handshake on loopback takes no clock time: the bound is 250 ms. */
  connect_ok (client);
  /* Loopback never counts as gone (a local relay's path is not ours). */
  g_assert_false (metered_signalling_client_local_address_gone (client));
  metered_test_proxy_set_accepting (f->proxy, FALSE);
  test_drain ();
  held = fill_accept_queue (port);
  g_assert_cmpuint (held->len, >, 0);
  g_assert_cmpuint (syn_sent_port (port), ==, 0);

  /* The socket dies under a cut; the probe drops it and reconnects. */
  metered_test_proxy_set_mode (f->proxy, METERED_TEST_PROXY_BLACKHOLE);
  metered_manual_clock_advance (f->manual, 5000);
  metered_signalling_client_probe (client, 2000, 60000);
  test_assert_wait (
      metered_test_proxy_get_bytes_dropped (f->proxy) > 0, WAIT_MS);
  metered_manual_clock_advance (f->manual, 2000);
  metered_signalling_client_probe (client, 2000, 60000);
  test_assert_wait (rec->disconnects->len == 1, WAIT_MS);
  test_assert_wait ((first = syn_sent_port (port)) != 0, WAIT_MS);
  g_assert_cmpint (state_of (client), ==, METERED_CLIENT_STATE_RECONNECTING);

  /* Not before the bound... */
  metered_manual_clock_advance (f->manual, 249);
  test_drain ();
  g_assert_cmpuint (syn_sent_port (port), ==, first);
  /* ...at it: a new attempt, on a new socket. */
  metered_manual_clock_advance (f->manual, 1);
  test_assert_wait (
      syn_sent_port (port) != 0 && syn_sent_port (port) != first, WAIT_MS);
  g_assert_cmpint (state_of (client), ==, METERED_CLIENT_STATE_RECONNECTING);

  /* Accepting again: the queue drains and the attempt is welcomed. */
  metered_test_proxy_set_mode (f->proxy, METERED_TEST_PROXY_FORWARD);
  metered_test_proxy_set_accepting (f->proxy, TRUE);
  test_assert_wait (rec->n_reconnected == 1, WAIT_MS);
  g_assert_cmpuint (rec->disconnects->len, ==, 1);
  g_assert_cmpuint (syn_sent_port (port), ==, 0);
}

static void
test_close_from_handler (Fixture *f, gconstpointer data)
{
  g_autoptr (MeteredSignallingClient) client = client_new (f, FALSE);
  g_autoptr (TestRecorder) rec = recorder_new (f, client);
  MeteredSignallingClient *tokens =
      metered_signalling_client_new (NULL, f->clock);
  g_autoptr (TestRecorder) rec2 = recorder_new (f, tokens);
  g_autofree char *url = g_strdup_printf ("ws://127.0.0.1:%u", f->port);
  SwitchProvider p = { 0 };

  connect_ok (client);
  g_signal_connect (
      client, "disconnected", G_CALLBACK (on_disconnected_close), NULL);
  server_close (f, client, 1011);
  test_assert_wait (state_of (client) == METERED_CLIENT_STATE_CLOSED, WAIT_MS);
  test_drain ();
  g_assert_cmpint (state_of (client), ==, METERED_CLIENT_STATE_CLOSED);
  g_assert_cmpuint (metered_manual_clock_pending (f->manual), ==, 0);
  g_assert_cmpuint (test_stats_uint (client, "illegal-transitions"), ==, 0);
  metered_manual_clock_advance (f->manual, 60000);
  test_drain ();
  g_assert_cmpint (state_of (client), ==, METERED_CLIENT_STATE_CLOSED);
  g_assert_cmpuint (rec->n_reconnected, ==, 0);

  /* The same from ::token-provider-error at the third failure. */
  g_object_set (tokens, "url", url, "stuck-timeout", 0, NULL);
  g_signal_connect (
      tokens, "request-token", G_CALLBACK (on_request_token_switch), &p);
  connect_ok (tokens);
  g_signal_connect (
      tokens, "token-provider-error", G_CALLBACK (on_token_error_close), NULL);
  p.fail = TRUE;
  server_close (f, tokens, 1011);
  test_assert_wait (rec2->disconnects->len == 1, WAIT_MS);
  for (guint i = 0; i < 3; i++)
    advance_to_next (f);
  test_drain ();
  g_assert_cmpuint (rec2->token_errors->len, ==, 1);
  g_assert_cmpint (state_of (tokens), ==, METERED_CLIENT_STATE_CLOSED);
  g_assert_cmpuint (metered_manual_clock_pending (f->manual), ==, 0);
  g_assert_cmpuint (test_stats_uint (tokens, "illegal-transitions"), ==, 0);
  g_assert_cmpuint (p.calls, ==, 4);

  test_recorder_free (g_steal_pointer (&rec2));
  g_object_unref (tokens);
}

/* --- a stalled handshake --- */

/* The welcome timeout runs from the moment the socket is opened, as the
 * SDK's does: a handshake that never completes (a blackholed network, a
 * server that accepts and says nothing) ends after welcome-timeout, not
 * after libsoup's 60 s I/O timeout. */
static void
test_welcome_timeout_stalled_handshake (Fixture *f, gconstpointer data)
{
  g_autoptr (MeteredSignallingClient) first = client_new (f, TRUE);
  g_autoptr (MeteredSignallingClient) client = client_new (f, TRUE);
  g_autoptr (TestRecorder) rec = recorder_new (f, client);
  g_autoptr (TestRecorder) rec1 = recorder_new (f, first);
  const TestDisconnect *d;
  TestResult r = { 0 };

  g_object_set (first, "welcome-timeout", 5000, NULL);
  g_object_set (client, "welcome-timeout", 5000, "inactivity-timeout", 0, NULL);

  /* First connect into a blackhole: fails after welcome-timeout. */
  metered_test_proxy_set_mode (f->proxy, METERED_TEST_PROXY_BLACKHOLE);
  metered_signalling_client_connect_async (first, NULL, test_on_connect, &r);
  test_assert_wait (metered_test_proxy_get_n_open (f->proxy) == 1 &&
                        metered_test_proxy_get_bytes_dropped (f->proxy) > 0,
      WAIT_MS);
  g_assert_cmpint (next_due (f), ==, 5000);
  metered_manual_clock_advance (f->manual, 4999);
  test_drain ();
  g_assert_false (r.done);
  metered_manual_clock_advance (f->manual, 1);
  test_assert_wait (r.done, WAIT_MS);
  g_assert_error (
      r.error, METERED_CLIENT_ERROR, METERED_CLIENT_ERROR_CONNECT_FAILED);
  g_assert_cmpint (state_of (first), ==, METERED_CLIENT_STATE_CLOSED);
  d = test_recorder_last_disconnect (rec1);
  g_assert_cmpint (d->code, ==, 4000);
  g_assert_cmpstr (d->reason, ==, "welcome timeout");
  test_result_clear (&r);
  /* the abandoned handshake's socket is closed, and reported once */
  test_assert_wait (metered_test_proxy_get_n_open (f->proxy) == 0, WAIT_MS);
  g_assert_cmpuint (rec1->disconnects->len, ==, 1);

  /* A reconnect attempt that stalls: 4000 "welcome timeout", then the
   * next attempt of the curve. */
  metered_test_proxy_set_mode (f->proxy, METERED_TEST_PROXY_FORWARD);
  connect_ok (client);
  metered_test_proxy_set_mode (f->proxy, METERED_TEST_PROXY_BLACKHOLE);
  metered_test_proxy_cut (f->proxy);
  test_assert_wait (rec->disconnects->len == 1, WAIT_MS);
  advance_to_next (f);
  test_assert_wait (metered_test_proxy_get_n_open (f->proxy) == 1, WAIT_MS);
  g_assert_cmpint (next_due (f), ==, 5000);
  metered_manual_clock_advance (f->manual, 5000);
  g_assert_cmpuint (rec->disconnects->len, ==, 2);
  d = test_recorder_last_disconnect (rec);
  g_assert_cmpint (d->code, ==, 4000);
  g_assert_cmpstr (d->reason, ==, "welcome timeout");
  g_assert_true (d->will_reconnect);
  g_assert_cmpint (state_of (client), ==, METERED_CLIENT_STATE_RECONNECTING);
  test_assert_wait (metered_test_proxy_get_n_open (f->proxy) == 0, WAIT_MS);
  g_assert_cmpuint (rec->disconnects->len, ==, 2);
  g_assert_cmpuint (test_stats_uint (client, "reconnect-attempt"), ==, 2);
  assert_backoff_band (2, next_due (f));

  /* close() while the next handshake hangs: one ::disconnected (the
   * socket's end, will-reconnect FALSE), closed, nothing pending. */
  advance_to_next (f);
  test_assert_wait (metered_test_proxy_get_n_open (f->proxy) == 1, WAIT_MS);
  metered_signalling_client_close (client, 0, NULL);
  g_assert_cmpint (state_of (client), ==, METERED_CLIENT_STATE_CLOSED);
  test_assert_wait (metered_test_proxy_get_n_open (f->proxy) == 0, WAIT_MS);
  test_drain ();
  g_assert_cmpuint (rec->disconnects->len, ==, 3);
  g_assert_false (test_recorder_last_disconnect (rec)->will_reconnect);
  g_assert_cmpuint (metered_manual_clock_pending (f->manual), ==, 0);
  g_assert_cmpuint (test_stats_uint (client, "illegal-transitions"), ==, 0);

  /* And a stalled attempt that the network lets through recovers. */
  metered_test_proxy_set_mode (f->proxy, METERED_TEST_PROXY_FORWARD);
  connect_ok (client);
}

/* --- credentials --- */

static gboolean
on_request_token_never (MeteredSignallingClient *client,
    MeteredTokenRequest *request, gpointer data)
{
  return FALSE;
}

static void
expect_invalid_credentials (MeteredSignallingClient *client)
{
  g_autoptr (GError) error = NULL;

  g_assert_false (test_client_connect (client, WAIT_MS, &error));
  g_assert_error (
      error, METERED_CLIENT_ERROR, METERED_CLIENT_ERROR_INVALID_ARGUMENT);
  g_assert_cmpint (state_of (client), ==, METERED_CLIENT_STATE_IDLE);
}

static void
test_credentials_count (Fixture *f, gconstpointer data)
{
  g_autofree char *url = g_strdup_printf ("ws://127.0.0.1:%u", f->port);
  g_autoptr (MeteredSignallingClient) none =
      metered_signalling_client_new (NULL, f->clock);
  g_autoptr (MeteredSignallingClient) key_and_token =
      metered_signalling_client_new (NULL, f->clock);
  g_autoptr (MeteredSignallingClient) key_and_provider =
      metered_signalling_client_new (NULL, f->clock);
  g_autoptr (MeteredSignallingClient) token_and_url =
      metered_signalling_client_new (NULL, f->clock);
  g_autoptr (MeteredSignallingClient) bad_url =
      metered_signalling_client_new (NULL, f->clock);

  g_object_set (none, "url", url, NULL);
  expect_invalid_credentials (none);
  g_object_set (
      key_and_token, "url", url, "api-key", DEV_KEY, "token", "a.b.c", NULL);
  expect_invalid_credentials (key_and_token);
  g_object_set (key_and_provider, "url", url, "api-key", DEV_KEY, NULL);
  g_signal_connect (key_and_provider, "request-token-async",
      G_CALLBACK (on_request_token_never), NULL);
  expect_invalid_credentials (key_and_provider);
  g_object_set (token_and_url, "url", url, "token", "a.b.c", "token-url",
      "http://127.0.0.1:1/token", NULL);
  expect_invalid_credentials (token_and_url);
  g_object_set (bad_url, "url", "ws://example.com", "api-key", DEV_KEY, NULL);
  expect_invalid_credentials (bad_url);
  g_assert_cmpuint (metered_hub_count_conns (f->server->hub), ==, 0);
}

static void
assert_no_secret (const char *text, const char *secret)
{
  if (text && strstr (text, secret))
    g_error ("\"%s\" contains the credential", text);
}

static void
test_credentials_scrubbed (Fixture *f, gconstpointer data)
{
  static const char secret_key[] = "pk_SECRET_key_4f9a2b";
  static const char secret_token[] = "eyJSECRET.token-7c1d.sigSECRET";
  static const char secret_query[] = "QUERYSECRET99";
  g_autofree char *url = g_strdup_printf ("ws://127.0.0.1:%u", f->port);
  g_autoptr (MeteredSignallingClient) by_key =
      metered_signalling_client_new (NULL, f->clock);
  g_autoptr (MeteredSignallingClient) by_token =
      metered_signalling_client_new (NULL, f->clock);
  g_autoptr (MeteredSignallingClient) unset =
      metered_signalling_client_new (NULL, f->clock);
  g_autoptr (TestRecorder) rec_key = recorder_new (f, by_key);
  g_autoptr (TestRecorder) rec_token = recorder_new (f, by_token);
  g_autoptr (GError) error = NULL;
  g_autofree char *key_prop = NULL;
  g_autofree char *token_prop = NULL;
  g_autofree char *token_url_prop = NULL;
  g_autofree char *unset_key = NULL;
  g_autofree char *unset_token = NULL;
  g_autofree char *token_url =
      g_strdup_printf ("https://auth.example/t?token=%s", secret_query);
  g_autoptr (GVariant) stats = NULL;
  g_autofree char *stats_text = NULL;

  forbidden = g_ptr_array_new ();
  g_ptr_array_add (forbidden, (gpointer) secret_key);
  g_ptr_array_add (forbidden, (gpointer) secret_token);
  g_ptr_array_add (forbidden, (gpointer) secret_query);
  forbidden_hits = 0;

  g_object_set (by_key, "url", url, "api-key", secret_key, NULL);
  g_object_set (by_token, "url", url, "token", secret_token, NULL);
  g_object_get (by_key, "api-key", &key_prop, NULL);
  g_object_get (by_token, "token", &token_prop, NULL);
  g_assert_cmpstr (key_prop, ==, "***");
  g_assert_cmpstr (token_prop, ==, "***");
  g_object_get (unset, "api-key", &unset_key, "token", &unset_token, NULL);
  g_assert_null (unset_key);
  g_assert_null (unset_token);
  g_object_set (unset, "token-url", token_url, NULL);
  g_object_get (unset, "token-url", &token_url_prop, NULL);
  g_assert_nonnull (token_url_prop);
  assert_no_secret (token_url_prop, secret_query);

  /* An unknown key: upgraded, then closed 4001. */
  g_assert_false (test_client_connect (by_key, WAIT_MS, &error));
  g_assert_error (
      error, METERED_CLIENT_ERROR, METERED_CLIENT_ERROR_CONNECT_FAILED);
  g_test_message ("unknown key: %s", error->message);
  assert_no_secret (error->message, secret_key);
  g_assert_cmpint (test_recorder_last_disconnect (rec_key)->code, ==, 4001);
  assert_no_secret (
      test_recorder_last_disconnect (rec_key)->reason, secret_key);
  g_clear_error (&error);

  /* A token that is not a JWT: HTTP 401 at the upgrade, seen as 1006. */
  g_assert_false (test_client_connect (by_token, WAIT_MS, &error));
  g_assert_error (
      error, METERED_CLIENT_ERROR, METERED_CLIENT_ERROR_CONNECT_FAILED);
  g_test_message ("malformed token: %s", error->message);
  assert_no_secret (error->message, secret_token);
  g_assert_cmpint (test_recorder_last_disconnect (rec_token)->code, ==, 1006);
  assert_no_secret (
      test_recorder_last_disconnect (rec_token)->reason, secret_token);

  stats = metered_signalling_client_get_stats (by_key);
  stats_text = g_variant_print (stats, TRUE);
  assert_no_secret (stats_text, secret_key);

  g_assert_cmpuint (forbidden_hits, ==, 0);
  g_clear_pointer (&forbidden, g_ptr_array_unref);
}

int
main (int argc, char **argv)
{
  /* Every message is generated and seen by the credential check. */
  g_setenv ("G_MESSAGES_DEBUG", "all", TRUE);
  g_log_set_writer_func (log_writer, NULL, NULL);
  g_test_init (&argc, &argv, NULL);
  /* Warnings are judged by log_handler; criticals abort. */
  g_log_set_always_fatal (G_LOG_FATAL_MASK | G_LOG_LEVEL_CRITICAL);
  test_log_handler = g_log_set_default_handler (log_handler, NULL);

  g_test_add_func ("/client/url/validate", test_url_validate);
  g_test_add_func ("/client/url/build", test_url_build);
  g_test_add_func ("/client/state/table", test_state_table);
#define ADD(path, fn)                                                          \
  g_test_add (path, Fixture, NULL, fixture_setup, fn, fixture_teardown)
  ADD ("/client/state/run", test_state_run);
  ADD ("/client/backoff/curve", test_backoff_curve);
  ADD ("/client/backoff/max-attempts", test_backoff_max_attempts);
  ADD ("/client/backoff/forever", test_backoff_forever);
  ADD ("/client/policy/retry", test_policy_retry);
  ADD ("/client/policy/terminal", test_policy_terminal);
  ADD ("/client/queue/bounds-and-order", test_queue_bounds_and_order);
  ADD ("/client/queue/close-fails-queued", test_queue_close_fails_queued);
  ADD ("/client/queue/pace", test_pace);
  ADD ("/client/token/timeout", test_token_timeout);
  ADD ("/client/token/threshold", test_token_threshold);
  ADD ("/client/liveness/heartbeat-watchdog", test_liveness);
  ADD ("/client/going-away", test_going_away);
  ADD ("/client/reconnect-now", test_reconnect_now);
  ADD ("/client/liveness/probe", test_probe);
  ADD ("/client/liveness/probe-syn-bound", test_probe_syn_bound);
  ADD ("/client/close-from-handler", test_close_from_handler);
  ADD ("/client/welcome-timeout/stalled-handshake",
      test_welcome_timeout_stalled_handshake);
  ADD ("/client/credentials/count", test_credentials_count);
  ADD ("/client/credentials/scrubbed", test_credentials_scrubbed);
#undef ADD
  return g_test_run ();
}
