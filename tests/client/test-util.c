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

#include "test-util.h"

#include <glib/gstdio.h>
#include <json-glib/json-glib.h>
#include <signal.h>
#include <sys/prctl.h>
#include <stdarg.h>
#include <string.h>

static gboolean
tick (gpointer data)
{
  return G_SOURCE_CONTINUE;
}

guint
test_tick_start (void)
{
  return g_timeout_add (10, tick, NULL);
}

void
test_tick_stop (guint id)
{
  g_source_remove (id);
}

void
test_drain (void)
{
  for (guint i = 0; i < 10000 && g_main_context_iteration (NULL, FALSE); i++)
    ;
}

gint64
test_now_ms (void)
{
  return g_get_monotonic_time () / 1000;
}

/* --- recorder --- */

static void
log_add (TestRecorder *rec, char *entry)
{
  g_ptr_array_add (rec->log, entry);
}

static void
on_state_changed (MeteredSignallingClient *client, MeteredClientState from,
    MeteredClientState to, TestRecorder *rec)
{
  gint64 t = test_now_ms ();

  g_array_append_val (rec->states, from);
  g_array_append_val (rec->states, to);
  g_array_append_val (rec->state_t_ms, t);
  log_add (rec,
      g_strdup_printf ("state %s>%s", metered_client_state_to_string (from),
          metered_client_state_to_string (to)));
}

static void
on_connected (MeteredSignallingClient *client, const char *peer_id,
    double server_time, gint64 expires_at, gboolean is_reconnect,
    gint64 max_message_size, GVariant *ice_servers, TestRecorder *rec)
{
  rec->n_connected++;
  if (is_reconnect)
    rec->n_reconnected++;
  rec->t_connected_ms = test_now_ms ();
  log_add (rec, g_strdup_printf ("connected %d", is_reconnect ? 1 : 0));
}

static void
on_disconnected (MeteredSignallingClient *client, int code, const char *reason,
    gboolean will_reconnect, TestRecorder *rec)
{
  TestDisconnect d = { code, g_strdup (reason), will_reconnect, test_now_ms (),
    rec->clock ? metered_clock_now_ms (rec->clock) : 0 };

  g_array_append_val (rec->disconnects, d);
  log_add (rec,
      g_strdup_printf ("disconnected %d %d", code, will_reconnect ? 1 : 0));
}

static void
on_going_away (
    MeteredSignallingClient *client, gint64 retry_after_ms, TestRecorder *rec)
{
  g_array_append_val (rec->going_away, retry_after_ms);
  log_add (
      rec, g_strdup_printf ("going-away %" G_GINT64_FORMAT, retry_after_ms));
}

static void
on_exhausted (
    MeteredSignallingClient *client, guint attempts, TestRecorder *rec)
{
  rec->n_exhausted++;
  rec->exhausted_attempts = attempts;
  log_add (rec, g_strdup_printf ("exhausted %u", attempts));
}

static void
on_token_provider_error (MeteredSignallingClient *client, guint consecutive,
    GError *error, TestRecorder *rec)
{
  g_array_append_val (rec->token_errors, consecutive);
  log_add (rec, g_strdup_printf ("token-provider-error %u", consecutive));
}

static void
on_message (MeteredSignallingClient *client, const char *channel,
    const char *from, const char *data, const char *from_metadata,
    TestRecorder *rec)
{
  TestMessage *m = g_new0 (TestMessage, 1);

  m->channel = g_strdup (channel);
  m->from = g_strdup (from);
  m->data = g_strdup (data);
  m->t_ms = test_now_ms ();
  g_ptr_array_add (rec->messages, m);
}

static void
on_presence (MeteredSignallingClient *client, const char *channel,
    GVariant *joined, GVariant *left, TestRecorder *rec)
{
  gint64 t = test_now_ms ();

  g_array_append_val (rec->presence_t_ms, t);
}

static void
message_free (TestMessage *m)
{
  g_free (m->channel);
  g_free (m->from);
  g_free (m->data);
  g_free (m);
}

static void
disconnect_clear (TestDisconnect *d)
{
  g_free (d->reason);
}

TestRecorder *
test_recorder_new (MeteredSignallingClient *client)
{
  TestRecorder *rec = g_new0 (TestRecorder, 1);

  rec->client = g_object_ref (client);
  rec->states = g_array_new (FALSE, FALSE, sizeof (MeteredClientState));
  rec->state_t_ms = g_array_new (FALSE, FALSE, sizeof (gint64));
  rec->disconnects = g_array_new (FALSE, FALSE, sizeof (TestDisconnect));
  g_array_set_clear_func (rec->disconnects, (GDestroyNotify) disconnect_clear);
  rec->messages =
      g_ptr_array_new_with_free_func ((GDestroyNotify) message_free);
  rec->log = g_ptr_array_new_with_free_func (g_free);
  rec->going_away = g_array_new (FALSE, FALSE, sizeof (gint64));
  rec->token_errors = g_array_new (FALSE, FALSE, sizeof (guint));
  rec->presence_t_ms = g_array_new (FALSE, FALSE, sizeof (gint64));
  g_signal_connect (
      client, "state-changed", G_CALLBACK (on_state_changed), rec);
  g_signal_connect (client, "connected", G_CALLBACK (on_connected), rec);
  g_signal_connect (client, "disconnected", G_CALLBACK (on_disconnected), rec);
  g_signal_connect (client, "going-away", G_CALLBACK (on_going_away), rec);
  g_signal_connect (client, "exhausted", G_CALLBACK (on_exhausted), rec);
  g_signal_connect (client, "token-provider-error",
      G_CALLBACK (on_token_provider_error), rec);
  g_signal_connect (client, "message", G_CALLBACK (on_message), rec);
  g_signal_connect (client, "presence", G_CALLBACK (on_presence), rec);
  return rec;
}

void
test_recorder_free (TestRecorder *rec)
{
  if (!rec)
    return;
  g_signal_handlers_disconnect_by_data (rec->client, rec);
  g_object_unref (rec->client);
  g_array_unref (rec->states);
  g_array_unref (rec->state_t_ms);
  g_array_unref (rec->disconnects);
  g_ptr_array_unref (rec->messages);
  g_ptr_array_unref (rec->log);
  g_array_unref (rec->going_away);
  g_array_unref (rec->token_errors);
  g_array_unref (rec->presence_t_ms);
  g_free (rec);
}

gint64
test_recorder_state_time (TestRecorder *rec, MeteredClientState to, guint nth)
{
  for (guint i = 0; i < rec->state_t_ms->len; i++)
    if (g_array_index (rec->states, MeteredClientState, 2 * i + 1) == to &&
        nth-- == 0)
      return g_array_index (rec->state_t_ms, gint64, i);
  return 0;
}

const TestDisconnect *
test_recorder_last_disconnect (TestRecorder *rec)
{
  if (rec->disconnects->len == 0)
    return NULL;
  return &g_array_index (
      rec->disconnects, TestDisconnect, rec->disconnects->len - 1);
}

gboolean
test_recorder_log_has_sequence (TestRecorder *rec, ...)
{
  va_list ap;
  const char *want;
  guint i = 0;

  va_start (ap, rec);
  while ((want = va_arg (ap, const char *))) {
    while (i < rec->log->len && !g_str_equal (rec->log->pdata[i], want))
      i++;
    if (i == rec->log->len) {
      va_end (ap);
      return FALSE;
    }
    i++;
  }
  va_end (ap);
  return TRUE;
}

/* --- async results --- */

void
test_result_clear (TestResult *r)
{
  g_clear_error (&r->error);
  r->done = r->ok = FALSE;
}

static void
result_set (TestResult *r, gboolean ok, GError *error)
{
  r->done = TRUE;
  r->ok = ok;
  r->error = error;
  r->t_ms = test_now_ms ();
  if (r->order_counter)
    r->order = (*r->order_counter)++;
}

void
test_on_connect (GObject *source, GAsyncResult *result, gpointer data)
{
  GError *error = NULL;
  gboolean ok = metered_signalling_client_connect_finish (
      METERED_SIGNALLING_CLIENT (source), result, &error);

  result_set (data, ok, error);
}

void
test_on_subscribe (GObject *source, GAsyncResult *result, gpointer data)
{
  GError *error = NULL;
  gboolean ok = metered_signalling_client_subscribe_finish (
      METERED_SIGNALLING_CLIENT (source), result, &error);

  result_set (data, ok, error);
}

void
test_on_publish (GObject *source, GAsyncResult *result, gpointer data)
{
  GError *error = NULL;
  gboolean ok = metered_signalling_client_publish_finish (
      METERED_SIGNALLING_CLIENT (source), result, &error);

  result_set (data, ok, error);
}

static gboolean
finish_result (TestResult *r, guint timeout_ms, GError **error)
{
  if (!test_wait_until (r->done, timeout_ms)) {
    g_set_error (error, G_IO_ERROR, G_IO_ERROR_TIMED_OUT,
        "no completion within %u ms", timeout_ms);
    return FALSE;
  }
  if (!r->ok) {
    g_propagate_error (error, g_steal_pointer (&r->error));
    return FALSE;
  }
  return TRUE;
}

gboolean
test_client_connect (
    MeteredSignallingClient *client, guint timeout_ms, GError **error)
{
  TestResult r = { 0 };

  metered_signalling_client_connect_async (client, NULL, test_on_connect, &r);
  if (!test_wait_until (r.done, timeout_ms))
    g_error ("connect did not complete within %u ms", timeout_ms);
  return finish_result (&r, 0, error);
}

gboolean
test_client_subscribe (MeteredSignallingClient *client, const char *channel,
    guint timeout_ms, GError **error)
{
  TestResult r = { 0 };

  metered_signalling_client_subscribe_async (
      client, channel, FALSE, NULL, test_on_subscribe, &r);
  if (!test_wait_until (r.done, timeout_ms))
    g_error ("subscribe did not complete within %u ms", timeout_ms);
  return finish_result (&r, 0, error);
}

gboolean
test_client_publish (MeteredSignallingClient *client, const char *channel,
    const char *data, guint timeout_ms, GError **error)
{
  TestResult r = { 0 };

  metered_signalling_client_publish_async (
      client, channel, data, NULL, test_on_publish, &r);
  if (!test_wait_until (r.done, timeout_ms))
    g_error ("publish did not complete within %u ms", timeout_ms);
  return finish_result (&r, 0, error);
}

guint
test_stats_uint (MeteredSignallingClient *client, const char *key)
{
  g_autoptr (GVariant) stats = metered_signalling_client_get_stats (client);
  g_autoptr (GVariant) value = g_variant_lookup_value (stats, key, NULL);

  g_assert_nonnull (value);
  if (g_variant_is_of_type (value, G_VARIANT_TYPE_UINT64))
    return (guint) g_variant_get_uint64 (value);
  if (g_variant_is_of_type (value, G_VARIANT_TYPE_INT32))
    return (guint) g_variant_get_int32 (value);
  return g_variant_get_uint32 (value);
}

gsize
test_rss_kib (void)
{
  g_autofree char *status = NULL;
  const char *line;

  if (!g_file_get_contents ("/proc/self/status", &status, NULL, NULL))
    return 0;
  line = strstr (status, "VmRSS:");
  if (!line)
    return 0;
  return (gsize) g_ascii_strtoull (line + strlen ("VmRSS:"), NULL, 10);
}

/* --- metered-server subprocess --- */

const char *
test_server_binary (void)
{
  const char *path = g_getenv ("METERED_SERVER");

  if (!path || !*path)
    g_error ("METERED_SERVER is not set (meson test sets it)");
  return path;
}

static void
on_server_exited (GObject *source, GAsyncResult *result, gpointer data)
{
  TestServer *server = data;

  if (g_subprocess_wait_finish (G_SUBPROCESS (source), result, NULL)) {
    server->exited = TRUE;
    server->status = g_subprocess_get_status (G_SUBPROCESS (source));
  }
  g_object_unref (source);
}

static void
die_with_parent (gpointer data)
{
  prctl (PR_SET_PDEATHSIG, SIGKILL);
}

TestServer *
test_server_start (guint16 port, const char *keys_json)
{
  TestServer *server = g_new0 (TestServer, 1);
  g_autoptr (GError) error = NULL;
  g_autoptr (GPtrArray) argv = g_ptr_array_new_with_free_func (g_free);
  g_autofree char *port_text = g_strdup_printf ("%u", port);
  g_autofree char *text = NULL;
  g_autoptr (GSubprocessLauncher) launcher = NULL;

  server->dir = g_dir_make_tmp ("metered-client-test-XXXXXX", &error);
  g_assert_no_error (error);
  server->port_file = g_build_filename (server->dir, "port", NULL);
  g_ptr_array_add (argv, g_strdup (test_server_binary ()));
  g_ptr_array_add (argv, g_strdup ("--dev"));
  g_ptr_array_add (argv, g_strdup ("--port"));
  g_ptr_array_add (argv, g_strdup (port_text));
  g_ptr_array_add (argv, g_strdup ("--port-file"));
  g_ptr_array_add (argv, g_strdup (server->port_file));
  g_ptr_array_add (argv, g_strdup ("--ip-connect-limit"));
  g_ptr_array_add (argv, g_strdup ("0"));
  if (keys_json) {
    g_autofree char *keys = g_build_filename (server->dir, "keys.json", NULL);
    g_file_set_contents (keys, keys_json, -1, &error);
    g_assert_no_error (error);
    g_ptr_array_add (argv, g_strdup ("--keys"));
    g_ptr_array_add (argv, g_steal_pointer (&keys));
  }
  g_ptr_array_add (argv, NULL);

  /* stdout is the TAP stream of this test: the server's banner must not
   * land in it. Its stderr goes to the test log. The server dies with the
   * test, even when an assertion aborts it. */
  launcher = g_subprocess_launcher_new (G_SUBPROCESS_FLAGS_STDOUT_SILENCE);
  g_subprocess_launcher_set_child_setup (launcher, die_with_parent, NULL, NULL);
  server->proc = g_subprocess_launcher_spawnv (
      launcher, (const char *const *) argv->pdata, &error);
  g_assert_no_error (error);
  g_subprocess_wait_async (
      g_object_ref (server->proc), NULL, on_server_exited, server);

  if (!test_wait_until (
          server->exited || g_file_test (server->port_file, G_FILE_TEST_EXISTS),
          10000) ||
      server->exited) {
    g_test_fail_printf ("metered-server did not start (port %u)", port);
    return server;
  }
  g_file_get_contents (server->port_file, &text, NULL, &error);
  g_assert_no_error (error);
  server->port = (guint16) g_ascii_strtoull (text, NULL, 10);
  g_assert_cmpuint (server->port, >, 0);
  if (port)
    g_assert_cmpuint (server->port, ==, port);
  return server;
}

void
test_server_signal (TestServer *server, int signum)
{
  if (!server->exited)
    g_subprocess_send_signal (server->proc, signum);
}

gboolean
test_server_wait_exit (TestServer *server, guint timeout_ms)
{
  return test_wait_until (server->exited, timeout_ms);
}

void
test_server_free (TestServer *server)
{
  if (!server)
    return;
  /* Under `meson test --setup valgrind` the server runs under memcheck too
   * (--trace-children): SIGTERM lets it exit and report its leaks, and its
   * exit status (valgrind's --error-exitcode) is this test's verdict. */
  if (!server->exited && g_getenv ("METERED_VALGRIND")) {
    g_subprocess_send_signal (server->proc, SIGTERM);
    if (test_server_wait_exit (server, 30000) && server->status != 0)
      g_test_fail_printf ("metered-server: wait status %d under "
                          "valgrind (see its memcheck report)",
          server->status);
  }
  if (!server->exited) {
    g_subprocess_send_signal (server->proc, SIGKILL);
    if (!test_server_wait_exit (server, 10000))
      g_error ("metered-server does not exit after SIGKILL");
  }
  g_clear_object (&server->proc);
  if (server->port_file)
    g_unlink (server->port_file);
  if (server->dir) {
    g_autofree char *keys = g_build_filename (server->dir, "keys.json", NULL);
    g_unlink (keys);
    g_rmdir (server->dir);
  }
  g_free (server->port_file);
  g_free (server->dir);
  g_free (server);
}

char *
test_server_url (TestServer *server)
{
  return g_strdup_printf ("ws://127.0.0.1:%u", server->port);
}

guint
test_admin_call_full (
    guint16 port, const char *method, const char *path, char **body_out)
{
  g_autoptr (SoupSession) session = soup_session_new ();
  g_autofree char *url = g_strdup_printf ("http://127.0.0.1:%u%s", port, path);
  g_autoptr (SoupMessage) msg = soup_message_new (method, url);
  g_autoptr (GBytes) body = NULL;
  g_autoptr (GError) error = NULL;

  g_assert_nonnull (msg);
  soup_message_headers_append (soup_message_get_request_headers (msg),
      "Authorization", "Bearer admin_dev_local");
  body = soup_session_send_and_read (session, msg, NULL, &error);
  g_assert_no_error (error);
  if (body_out)
    *body_out =
        g_strndup (g_bytes_get_data (body, NULL), g_bytes_get_size (body));
  return soup_message_get_status (msg);
}

guint
test_admin_call (guint16 port, const char *method, const char *path)
{
  return test_admin_call_full (port, method, path, NULL);
}

guint
test_admin_count_peers (guint16 port)
{
  g_autofree char *body = NULL;
  g_autoptr (JsonNode) root = NULL;
  g_autoptr (GError) error = NULL;

  g_assert_cmpuint (
      test_admin_call_full (port, "GET", "/v1/peers", &body), ==, 200);
  root = json_from_string (body, &error);
  g_assert_no_error (error);
  g_assert_true (JSON_NODE_HOLDS_ARRAY (root));
  return json_array_get_length (json_node_get_array (root));
}

char *
test_mint_token (const char *sub, int ttl_s)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *ttl = g_strdup_printf ("%d", ttl_s);
  g_autoptr (GSubprocess) proc = g_subprocess_new (
      G_SUBPROCESS_FLAGS_STDOUT_PIPE, &error, test_server_binary (),
      "--mint-token", "--dev", "--sub", sub, "--ttl", ttl, NULL);
  g_autofree char *out = NULL;

  g_assert_no_error (error);
  g_subprocess_communicate_utf8 (proc, NULL, NULL, &out, NULL, &error);
  g_assert_no_error (error);
  g_assert_true (g_subprocess_get_if_exited (proc));
  g_assert_cmpint (g_subprocess_get_exit_status (proc), ==, 0);
  g_strstrip (out);
  g_assert_cmpstr (out, !=, "");
  return g_steal_pointer (&out);
}
