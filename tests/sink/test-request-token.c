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

/* request-token answered on both elements, against a real metered-server
 * (subprocess): with only a request-token handler as credential, the
 * element connects with what the handler returns (the server makes the
 * token's sub our peer id), joins (a member of the channel is announced
 * with peer-joined) and, with a token the server refuses, posts
 * RESOURCE/NOT_AUTHORIZED carrying the close code. What a member
 * publishes comes out of both elements as the data signal. Run inside
 * netns-run.sh: a peer in the channel makes the session build a webrtcbin
 * connection. */

#include <gst/check/gstcheck.h>
#include <string.h>

#include "sink-test-util.h"

typedef struct
{
  GMutex lock;
  char *token; /* what the handler answers */
  guint asked;
  char *joined; /* the latest peer-joined id */
  char *data; /* the latest data: "FROM KIND DATA" */
} TokenProvider;

static char *
on_request_token (GstElement *element, TokenProvider *tp)
{
  char *token;

  g_mutex_lock (&tp->lock);
  tp->asked++;
  token = g_strdup (tp->token);
  g_mutex_unlock (&tp->lock);
  return token;
}

static void
on_peer_joined (GstElement *element, const char *peer_id, const char *meta,
    TokenProvider *tp)
{
  g_mutex_lock (&tp->lock);
  g_free (tp->joined);
  tp->joined = g_strdup (peer_id);
  g_mutex_unlock (&tp->lock);
}

static void
on_data (GstElement *element, const char *from, const char *data,
    const char *kind, TokenProvider *tp)
{
  g_mutex_lock (&tp->lock);
  g_free (tp->data);
  tp->data = g_strdup_printf ("%s %s %s", from, kind, data);
  g_mutex_unlock (&tp->lock);
}

static gboolean
data_is (TokenProvider *tp, const char *expected)
{
  gboolean same;

  g_mutex_lock (&tp->lock);
  same = g_strcmp0 (tp->data, expected) == 0;
  g_mutex_unlock (&tp->lock);
  return same;
}

static gboolean
joined_is (TokenProvider *tp, const char *peer_id)
{
  gboolean same;

  g_mutex_lock (&tp->lock);
  same = g_strcmp0 (tp->joined, peer_id) == 0;
  g_mutex_unlock (&tp->lock);
  return same;
}

/* factory in a pipeline of its own, its only credential a request-token
 * handler answering token. */
static GstElement *
start_element (TestServer *srv, const char *factory, const char *channel,
    TokenProvider *tp, GstElement **element, SinkBusLog **log)
{
  g_autofree char *url = test_server_url (srv);
  GstElement *p = gst_pipeline_new (NULL);
  GstElement *e = gst_element_factory_make (factory, NULL);

  fail_unless (e != NULL);
  g_object_set (
      e, "url", url, "channel", channel, "reconnect-initial-delay", 200, NULL);
  g_signal_connect (e, "request-token", G_CALLBACK (on_request_token), tp);
  g_signal_connect (e, "peer-joined", G_CALLBACK (on_peer_joined), tp);
  g_signal_connect (e, "data", G_CALLBACK (on_data), tp);
  gst_bin_add (GST_BIN (p), e);
  *log = sink_bus_log_new (p);
  *element = e;
  fail_unless (
      gst_element_set_state (p, GST_STATE_PLAYING) != GST_STATE_CHANGE_FAILURE);
  return p;
}

static void
check_token_is_used (const char *factory)
{
  TestServer *srv = test_server_start (0, NULL);
  g_autofree char *sub = g_strdup_printf ("token-%s", factory);
  TokenProvider tp = { 0 };
  g_autofree char *id = NULL, *expected = NULL;
  g_autoptr (GError) error = NULL;
  SinkFakePeer *member;
  SinkBusLog *log;
  GstElement *p, *e;

  g_mutex_init (&tp.lock);
  tp.token = test_mint_token (sub, 600);
  fail_unless (tp.token != NULL);
  p = start_element (srv, factory, "tokens", &tp, &e, &log);

  /* Connected as the token's sub: the handler's token is the one used. */
  test_assert_wait (
      sink_bus_log_count (log, "metered/connected", 0) >= 1, 10000);
  id = sink_bus_log_dup_string (log, "metered/connected", "peer-id");
  fail_unless_equals_string (id, sub);
  g_mutex_lock (&tp.lock);
  fail_unless (tp.asked >= 1);
  g_mutex_unlock (&tp.lock);
  fail_if (sink_bus_log_has_error (log));

  /* Joined: a member of the channel is announced. */
  member = sink_fake_peer_join (srv, "tokens");
  test_assert_wait (joined_is (&tp, member->peer_id), 10000);
  fail_unless (sink_bus_log_count_with (log, "metered/peer-joined", "peer-id",
                   member->peer_id, 0) >= 1);
  fail_if (sink_bus_log_has_error (log));

  /* And in the channel: what a member publishes comes out as data (both
   * elements have the signal). */
  expected = g_strdup_printf ("%s broadcast {\"hi\":1}", member->peer_id);
  fail_unless (test_client_publish (
      member->client, "tokens", "{\"hi\":1}", 5000, &error));
  test_assert_wait (data_is (&tp, expected), 10000);

  gst_element_set_state (p, GST_STATE_NULL);
  sink_fake_peer_leave (member);
  gst_object_unref (p);
  sink_bus_log_free (log);
  test_server_free (srv);
  g_free (tp.token);
  g_free (tp.joined);
  g_free (tp.data);
  g_mutex_clear (&tp.lock);
}

static void
check_wrong_token (const char *factory)
{
  TestServer *srv = test_server_start (0, NULL);
  TokenProvider tp = { 0 };
  const GstStructure *details;
  gint code = 0;
  char *sig;
  SinkBusLog *log;
  GstElement *p, *e;

  g_mutex_init (&tp.lock);
  /* A token of a key the server knows, whose signature is not the key's
   * (a malformed one would be refused at the HTTP upgrade, which the SDK
   * retries as a network failure). */
  tp.token = test_mint_token ("mallory", 600);
  fail_unless (tp.token != NULL);
  sig = strrchr (tp.token, '.') + 1;
  sig[0] = sig[0] == 'A' ? 'B' : 'A';
  p = start_element (srv, factory, "tokens", &tp, &e, &log);

  test_assert_wait (sink_bus_log_has_error (log), 10000);
  fail_unless (g_error_matches (log->error, GST_RESOURCE_ERROR,
                   GST_RESOURCE_ERROR_NOT_AUTHORIZED),
      "got %s", log->error->message);
  details = g_ptr_array_index (log->structures, sink_bus_log_error_index (log));
  fail_unless (gst_structure_get_int (details, "close-code", &code));
  fail_unless_equals_int (code, 4001);
  g_mutex_lock (&tp.lock);
  fail_unless (tp.asked >= 1);
  g_mutex_unlock (&tp.lock);
  fail_unless_equals_int (sink_bus_log_count (log, "metered/connected", 0), 0);

  gst_element_set_state (p, GST_STATE_NULL);
  gst_object_unref (p);
  sink_bus_log_free (log);
  test_server_free (srv);
  g_free (tp.token);
  g_mutex_clear (&tp.lock);
}

GST_START_TEST (test_sink_request_token)
{
  check_token_is_used ("meteredsink");
}

GST_END_TEST;

GST_START_TEST (test_src_request_token)
{
  check_token_is_used ("meteredsrc");
}

GST_END_TEST;

GST_START_TEST (test_sink_wrong_token)
{
  check_wrong_token ("meteredsink");
}

GST_END_TEST;

GST_START_TEST (test_src_wrong_token)
{
  check_wrong_token ("meteredsrc");
}

GST_END_TEST;

static Suite *
request_token_suite (void)
{
  Suite *s = suite_create ("request-token");
  TCase *tc = tcase_create ("request-token");

  tcase_set_timeout (tc, 60);
  suite_add_tcase (s, tc);
  tcase_add_test (tc, test_sink_request_token);
  tcase_add_test (tc, test_src_request_token);
  tcase_add_test (tc, test_sink_wrong_token);
  tcase_add_test (tc, test_src_wrong_token);
  return s;
}

GST_CHECK_MAIN (request_token);
