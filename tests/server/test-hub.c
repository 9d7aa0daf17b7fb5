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

/* The server's channel logic driven in-process: a recording I/O table
 * stands in for the sockets (the real sockets are covered by the SDK
 * conformance suite), so ordering rules can be checked frame by frame. */

#include "metered-hub.h"
#include "protocol/metered-protocol.h"

#include <string.h>

typedef struct
{
  GPtrArray *frames; /* char* */
  int close_code;
  char *close_reason;
} Peer;

static void
peer_send (gpointer io_data, const char *text)
{
  Peer *peer = io_data;
  g_ptr_array_add (peer->frames, g_strdup (text));
}

static void
peer_close (gpointer io_data, int code, const char *reason)
{
  Peer *peer = io_data;
  peer->close_code = code;
  g_free (peer->close_reason);
  peer->close_reason = g_strdup (reason);
}

static const MeteredHubIo io = { peer_send, peer_close };

typedef struct
{
  MeteredServerConfig *config;
  MeteredMetrics *metrics;
  MeteredHub *hub;
  MeteredApp *app;
  Peer peers[4];
  MeteredHubConn *conns[4];
} Fixture;

static void
fixture_setup (Fixture *f, gconstpointer data)
{
  f->config = metered_server_config_new ();
  metered_server_config_add_dev_app (f->config);
  f->app = metered_server_config_find_app (f->config, METERED_DEV_APP_ID);
  f->metrics = metered_metrics_new ();
  f->hub = metered_hub_new (f->metrics, 20);
  for (guint i = 0; i < G_N_ELEMENTS (f->peers); i++)
    f->peers[i].frames = g_ptr_array_new_with_free_func (g_free);
}

static void
fixture_teardown (Fixture *f, gconstpointer data)
{
  metered_hub_free (f->hub);
  metered_metrics_free (f->metrics);
  metered_server_config_free (f->config);
  for (guint i = 0; i < G_N_ELEMENTS (f->peers); i++) {
    g_ptr_array_unref (f->peers[i].frames);
    g_free (f->peers[i].close_reason);
  }
}

static MeteredHubConn *
connect_peer (Fixture *f, guint i, const char *peer_id,
    const char *peer_metadata, guint actions)
{
  static const char *const all[] = { "**", NULL };
  static const char *const rooms[] = { "room-*", NULL };
  MeteredHubAuth auth = { 0 };

  auth.app = f->app;
  auth.peer_id = peer_id;
  auth.actions = actions;
  auth.channel_patterns = i == 3 ? rooms : all;
  auth.peer_metadata = peer_metadata;
  auth.credential_id = "dev";
  auth.expires_at = -1;
  auth.peer_id_is_stable = TRUE;
  f->conns[i] = metered_hub_conn_add (f->hub, &auth, &io, &f->peers[i]);
  return f->conns[i];
}

static void
feed (Fixture *f, guint i, const char *text)
{
  metered_hub_conn_handle_text (
      f->conns[i], text, strlen (text), g_get_monotonic_time () / 1000);
}

static const char *
frame (Fixture *f, guint i, guint n)
{
  g_assert_cmpuint (f->peers[i].frames->len, >, n);
  return g_ptr_array_index (f->peers[i].frames, n);
}

static gboolean
set_flag (gpointer data)
{
  *(gboolean *) data = TRUE;
  return G_SOURCE_REMOVE;
}

/* Lets every pending presence snapshot fire (the gap is 20 ms). */
static void
settle (void)
{
  gboolean done = FALSE;

  g_timeout_add (100, set_flag, &done);
  while (!done)
    g_main_context_iteration (NULL, TRUE);
}

/* Runs the main context until peer i has n frames (bounded: 2 s). */
static void
wait_frames (Fixture *f, guint i, guint n)
{
  gboolean expired = FALSE;
  guint id = g_timeout_add (2000, set_flag, &expired);

  while (f->peers[i].frames->len < n && !expired)
    g_main_context_iteration (NULL, TRUE);
  if (!expired)
    g_source_remove (id);
  g_assert_cmpuint (f->peers[i].frames->len, >=, n);
}

static void
test_welcome_first (Fixture *f, gconstpointer data)
{
  connect_peer (f, 0, "alice", NULL, METERED_ACTION_ALL);
  g_assert_true (g_str_has_prefix (frame (f, 0, 0),
      "{\"type\":\"welcome\",\"peerId\":\"alice\",\"expiresAt\":null,"));
  g_assert_nonnull (strstr (frame (f, 0, 0), "\"maxMessageSize\":65536"));
}

static void
test_ack_then_snapshot_later (Fixture *f, gconstpointer data)
{
  gint64 t0;

  connect_peer (f, 0, "alice", NULL, METERED_ACTION_ALL);
  feed (
      f, 0, "{\"type\":\"subscribe\",\"channel\":\"c\",\"requestId\":\"r1\"}");
  /* The ack is written at once; the snapshot is not in the same turn. */
  g_assert_cmpuint (f->peers[0].frames->len, ==, 2);
  g_assert_cmpstr (
      frame (f, 0, 1), ==, "{\"type\":\"ack\",\"requestId\":\"r1\"}");
  t0 = g_get_monotonic_time ();
  wait_frames (f, 0, 3);
  g_assert_cmpint (g_get_monotonic_time () - t0, >=, 5000);
  g_assert_cmpstr (frame (f, 0, 2), ==,
      "{\"type\":\"presence\",\"channel\":\"c\",\"joined\":[],\"left\":[]}");

  /* A repeat subscribe gets a snapshot again. */
  feed (
      f, 0, "{\"type\":\"subscribe\",\"channel\":\"c\",\"requestId\":\"r2\"}");
  wait_frames (f, 0, 5);
  g_assert_cmpstr (frame (f, 0, 4), ==,
      "{\"type\":\"presence\",\"channel\":\"c\",\"joined\":[],\"left\":[]}");
}

static void
test_joined_after_snapshot (Fixture *f, gconstpointer data)
{
  connect_peer (f, 0, "alice", "{\"name\":\"A\"}", METERED_ACTION_ALL);
  connect_peer (f, 1, "bob", NULL, METERED_ACTION_ALL);
  feed (f, 0, "{\"type\":\"subscribe\",\"channel\":\"c\",\"requestId\":\"a\"}");
  wait_frames (f, 0, 3);
  feed (f, 1, "{\"type\":\"subscribe\",\"channel\":\"c\",\"requestId\":\"b\"}");
  /* alice hears nothing of bob before bob's snapshot is written. */
  g_assert_cmpuint (f->peers[0].frames->len, ==, 3);
  wait_frames (f, 1, 3);
  g_assert_cmpstr (frame (f, 1, 2), ==,
      "{\"type\":\"presence\",\"channel\":\"c\",\"joined\":[{\"peerId\":"
      "\"alice\",\"metadata\":{\"name\":\"A\"}}],\"left\":[]}");
  g_assert_cmpuint (f->peers[0].frames->len, ==, 4);
  g_assert_cmpstr (frame (f, 0, 3), ==,
      "{\"type\":\"presence\",\"channel\":\"c\",\"joined\":[{\"peerId\":"
      "\"bob\"}],\"left\":[]}");

  /* Leaving: unsubscribe is acked, the other member gets left. */
  feed (
      f, 1, "{\"type\":\"unsubscribe\",\"channel\":\"c\",\"requestId\":\"u\"}");
  g_assert_cmpstr (
      frame (f, 1, 3), ==, "{\"type\":\"ack\",\"requestId\":\"u\"}");
  g_assert_cmpstr (frame (f, 0, 4), ==,
      "{\"type\":\"presence\",\"channel\":\"c\",\"joined\":[],\"left\":[{"
      "\"peerId\":\"bob\"}]}");
}

static void
test_publish_send (Fixture *f, gconstpointer data)
{
  connect_peer (f, 0, "alice", "{\"name\":\"A\"}", METERED_ACTION_ALL);
  connect_peer (f, 1, "bob", NULL, METERED_ACTION_ALL);
  connect_peer (f, 2, "carol", NULL, METERED_ACTION_ALL);
  feed (f, 0, "{\"type\":\"subscribe\",\"channel\":\"c\",\"requestId\":\"1\"}");
  feed (f, 1,
      "{\"type\":\"subscribe\",\"channel\":\"c\",\"requestId\":\"2\","
      "\"includeSenderMetadata\":true}");
  feed (f, 2, "{\"type\":\"subscribe\",\"channel\":\"c\",\"requestId\":\"3\"}");
  settle ();
  for (guint i = 0; i < 3; i++)
    g_ptr_array_set_size (f->peers[i].frames, 0);

  feed (f, 0,
      "{\"type\":\"publish\",\"channel\":\"c\",\"data\":"
      "{\"b\":1,\"a\":123456789012345678901234567890},\"requestId\":\"p\"}");
  /* Never echoed; the publisher gets only its ack. */
  g_assert_cmpuint (f->peers[0].frames->len, ==, 1);
  g_assert_cmpstr (
      frame (f, 0, 0), ==, "{\"type\":\"ack\",\"requestId\":\"p\"}");
  g_assert_cmpstr (frame (f, 1, 0), ==,
      "{\"type\":\"message\",\"channel\":\"c\",\"from\":\"alice\",\"data\":"
      "{\"b\":1,\"a\":123456789012345678901234567890},\"fromMetadata\":"
      "{\"name\":\"A\"}}");
  g_assert_cmpstr (frame (f, 2, 0), ==,
      "{\"type\":\"message\",\"channel\":\"c\",\"from\":\"alice\",\"data\":"
      "{\"b\":1,\"a\":123456789012345678901234567890}}");

  feed (f, 1,
      "{\"type\":\"send\",\"to\":\"alice\",\"data\":null,"
      "\"requestId\":\"s\"}");
  g_assert_cmpstr (frame (f, 0, 1), ==,
      "{\"type\":\"direct\",\"from\":\"bob\",\"data\":null}");
  feed (f, 0,
      "{\"type\":\"send\",\"to\":\"bob\",\"data\":[1],"
      "\"requestId\":\"t\"}");
  g_assert_cmpstr (frame (f, 1, 2), ==,
      "{\"type\":\"direct\",\"from\":\"alice\",\"data\":[1],"
      "\"fromMetadata\":{\"name\":\"A\"}}");
  feed (f, 0,
      "{\"type\":\"send\",\"to\":\"nobody\",\"data\":1,"
      "\"requestId\":\"x\"}");
  g_assert_nonnull (strstr (frame (f, 0, 3), "\"code\":\"peer_not_found\""));
  g_assert_nonnull (strstr (frame (f, 0, 3), "\"requestId\":\"x\""));
}

static void
test_errors (Fixture *f, gconstpointer data)
{
  static const struct
  {
    guint peer;
    const char *in;
    const char *code;
    gboolean has_request_id;
  } cases[] = {
    { 0, "not json", "malformed_message", FALSE },
    { 0, "{\"type\":7,\"requestId\":\"r\"}", "malformed_message", FALSE },
    { 0, "{\"type\":\"nope\",\"requestId\":\"r\"}", "unknown_type", TRUE },
    { 0, "{\"type\":\"subscribe\",\"channel\":\"\",\"requestId\":\"r\"}",
        "invalid_channel", TRUE },
    { 0,
        "{\"type\":\"subscribe\",\"channel\":\"_system/x\",\"requestId\":"
        "\"r\"}",
        "channel_reserved", TRUE },
    { 3, "{\"type\":\"subscribe\",\"channel\":\"lobby\",\"requestId\":\"r\"}",
        "channel_not_authorized", TRUE },
    { 0, "{\"type\":\"publish\",\"channel\":\"c\",\"requestId\":\"r\"}",
        "missing_data", TRUE },
    { 0, "{\"type\":\"send\",\"to\":\"\",\"data\":1,\"requestId\":\"r\"}",
        "invalid_peer_id", TRUE },
    { 2,
        "{\"type\":\"publish\",\"channel\":\"c\",\"data\":1,\"requestId\":"
        "\"r\"}",
        "action_not_permitted", TRUE },
  };

  connect_peer (f, 0, "alice", NULL, METERED_ACTION_ALL);
  connect_peer (f, 2, "carol", NULL, METERED_ACTION_SUBSCRIBE);
  connect_peer (f, 3, "dave", NULL, METERED_ACTION_ALL);
  for (guint i = 0; i < G_N_ELEMENTS (cases); i++) {
    Peer *p = &f->peers[cases[i].peer];
    g_autofree char *code = g_strdup_printf ("\"code\":\"%s\"", cases[i].code);
    const char *out;

    feed (f, cases[i].peer, cases[i].in);
    out = g_ptr_array_index (p->frames, p->frames->len - 1);
    g_assert_true (g_str_has_prefix (out, "{\"type\":\"error\""));
    g_assert_nonnull (strstr (out, code));
    g_assert_true ((strstr (out, "\"requestId\":\"r\"") != NULL) ==
                   cases[i].has_request_id);
    g_assert_cmpint (p->close_code, ==, 0);
  }
}

static void
test_channel_limit (Fixture *f, gconstpointer data)
{
  connect_peer (f, 0, "alice", NULL, METERED_ACTION_ALL);
  for (guint i = 0; i < 101; i++) {
    g_autofree char *in =
        g_strdup_printf ("{\"type\":\"subscribe\","
                         "\"channel\":\"c%u\",\"requestId\":\"r%u\"}",
            i, i);
    const char *out;
    feed (f, 0, in);
    out = g_ptr_array_index (f->peers[0].frames, f->peers[0].frames->len - 1);
    if (i < 100)
      g_assert_true (g_str_has_prefix (out, "{\"type\":\"ack\""));
    else
      g_assert_nonnull (strstr (out, "channel_limit_exceeded"));
  }
}

static void
test_rate_limit (Fixture *f, gconstpointer data)
{
  guint i;

  connect_peer (f, 0, "alice", NULL, METERED_ACTION_ALL);
  /* Same millisecond: the burst of 200 passes, the 201st closes 4011. */
  for (i = 0; i < 200; i++)
    metered_hub_conn_handle_text (f->conns[0], "{\"type\":\"ping\"}", 15, 1);
  g_assert_cmpint (f->peers[0].close_code, ==, 0);
  metered_hub_conn_handle_text (f->conns[0], "{\"type\":\"ping\"}", 15, 1);
  g_assert_cmpint (f->peers[0].close_code, ==, 4011);
  g_assert_true (metered_hub_conn_is_closing (f->conns[0]));
}

static void
test_oversized (Fixture *f, gconstpointer data)
{
  g_autofree char *big = g_strnfill (METERED_SERVER_MAX_FRAME + 1, ' ');

  connect_peer (f, 0, "alice", NULL, METERED_ACTION_ALL);
  feed (f, 0, big);
  g_assert_cmpint (f->peers[0].close_code, ==, 1009);
}

static void
test_supersede (Fixture *f, gconstpointer data)
{
  connect_peer (f, 0, "alice", NULL, METERED_ACTION_ALL);
  connect_peer (f, 1, "bob", NULL, METERED_ACTION_ALL);
  feed (f, 0, "{\"type\":\"subscribe\",\"channel\":\"c\",\"requestId\":\"1\"}");
  wait_frames (f, 0, 3);
  feed (f, 1, "{\"type\":\"subscribe\",\"channel\":\"c\",\"requestId\":\"2\"}");
  wait_frames (f, 1, 3);
  wait_frames (f, 0, 4);

  /* bob again, on a new socket: left for the old one at once, and a
   * joined only when the new one subscribes, as separate frames. */
  connect_peer (f, 2, "bob", NULL, METERED_ACTION_ALL);
  g_assert_cmpint (f->peers[1].close_code, ==, 1008);
  g_assert_cmpstr (frame (f, 0, 4), ==,
      "{\"type\":\"presence\",\"channel\":\"c\",\"joined\":[],\"left\":[{"
      "\"peerId\":\"bob\"}]}");
  g_assert_cmpuint (f->peers[0].frames->len, ==, 5);
  feed (f, 2, "{\"type\":\"subscribe\",\"channel\":\"c\",\"requestId\":\"3\"}");
  wait_frames (f, 0, 6);
  g_assert_cmpstr (frame (f, 0, 5), ==,
      "{\"type\":\"presence\",\"channel\":\"c\",\"joined\":[{\"peerId\":"
      "\"bob\"}],\"left\":[]}");

  /* The old socket's late frames are ignored; its removal changes
   * nothing for the new one. */
  feed (f, 1, "{\"type\":\"publish\",\"channel\":\"c\",\"data\":1}");
  g_assert_cmpuint (f->peers[0].frames->len, ==, 6);
  metered_hub_conn_remove (f->conns[1]);
  feed (f, 2, "{\"type\":\"send\",\"to\":\"alice\",\"data\":2}");
  g_assert_cmpstr (
      frame (f, 0, 6), ==, "{\"type\":\"direct\",\"from\":\"bob\",\"data\":2}");
}

static void
test_resend_is_deduplicated (Fixture *f, gconstpointer data)
{
  static const char publish[] = "{\"type\":\"publish\",\"channel\":\"c\","
                                "\"data\":1,\"requestId\":\"same\"}";

  connect_peer (f, 0, "alice", NULL, METERED_ACTION_ALL);
  connect_peer (f, 1, "bob", NULL, METERED_ACTION_ALL);
  feed (f, 1, "{\"type\":\"subscribe\",\"channel\":\"c\",\"requestId\":\"s\"}");
  settle ();
  g_ptr_array_set_size (f->peers[1].frames, 0);

  /* Delivered once; the resend (same requestId, e.g. after a reconnect)
   * is acked and not delivered again. */
  feed (f, 0, publish);
  feed (f, 0, publish);
  g_assert_cmpuint (f->peers[1].frames->len, ==, 1);
  g_assert_cmpstr (
      frame (f, 0, 1), ==, "{\"type\":\"ack\",\"requestId\":\"same\"}");
  g_assert_cmpstr (
      frame (f, 0, 2), ==, "{\"type\":\"ack\",\"requestId\":\"same\"}");
  /* Another requestId is delivered. */
  feed (f, 0,
      "{\"type\":\"publish\",\"channel\":\"c\",\"data\":2,"
      "\"requestId\":\"other\"}");
  g_assert_cmpuint (f->peers[1].frames->len, ==, 2);
}

/* Two members subscribing within one presence gap: neither hears of the
 * other before its own snapshot is out, and the later one learns of the
 * earlier from its snapshot, never from a joined that beats it. */
static void
test_no_presence_before_own_snapshot (Fixture *f, gconstpointer data)
{
  connect_peer (f, 0, "alice", NULL, METERED_ACTION_ALL);
  connect_peer (f, 1, "bob", NULL, METERED_ACTION_ALL);
  feed (f, 0, "{\"type\":\"subscribe\",\"channel\":\"c\",\"requestId\":\"a\"}");
  feed (f, 1, "{\"type\":\"subscribe\",\"channel\":\"c\",\"requestId\":\"b\"}");
  settle ();
  /* bob: welcome, ack, then exactly one presence, its snapshot. */
  g_assert_cmpuint (f->peers[1].frames->len, ==, 3);
  g_assert_cmpstr (frame (f, 1, 2), ==,
      "{\"type\":\"presence\",\"channel\":\"c\",\"joined\":[{\"peerId\":"
      "\"alice\"}],\"left\":[]}");
  /* alice: its empty snapshot, then bob's joined. */
  g_assert_cmpuint (f->peers[0].frames->len, ==, 4);
  g_assert_cmpstr (frame (f, 0, 2), ==,
      "{\"type\":\"presence\",\"channel\":\"c\",\"joined\":[],\"left\":[]}");
  g_assert_cmpstr (frame (f, 0, 3), ==,
      "{\"type\":\"presence\",\"channel\":\"c\",\"joined\":[{\"peerId\":"
      "\"bob\"}],\"left\":[]}");
}

static void
test_close_sends_left (Fixture *f, gconstpointer data)
{
  connect_peer (f, 0, "alice", NULL, METERED_ACTION_ALL);
  connect_peer (f, 1, "bob", NULL, METERED_ACTION_ALL);
  feed (f, 0, "{\"type\":\"subscribe\",\"channel\":\"c\",\"requestId\":\"1\"}");
  feed (f, 1, "{\"type\":\"subscribe\",\"channel\":\"c\",\"requestId\":\"2\"}");
  settle ();
  g_ptr_array_set_size (f->peers[0].frames, 0);
  metered_hub_conn_remove (f->conns[1]);
  g_assert_cmpuint (f->peers[0].frames->len, ==, 1);
  g_assert_cmpstr (frame (f, 0, 0), ==,
      "{\"type\":\"presence\",\"channel\":\"c\",\"joined\":[],\"left\":[{"
      "\"peerId\":\"bob\"}]}");
  g_assert_cmpuint (metered_hub_count_conns (f->hub), ==, 1);
}

/* --- channel history (issue 17) --- */

/* Feeds with a fake clock 20 ms apart per frame: long runs of publishes
 * stay under the 100 frames/s limit without real waiting. */
static void
feed_paced (Fixture *f, guint i, const char *text)
{
  static gint64 fake_ms;

  fake_ms = MAX (fake_ms + 20, g_get_monotonic_time () / 1000);
  metered_hub_conn_handle_text (f->conns[i], text, strlen (text), fake_ms);
}

static void
publish_range (Fixture *f, guint i, guint first, guint last)
{
  for (guint n = first; n < last; n++) {
    g_autofree char *text = g_strdup_printf (
        "{\"type\":\"publish\",\"channel\":\"c\",\"data\":{\"n\":%u}}", n);
    feed_paced (f, i, text);
  }
}

/* The value of "key": in a frame (string values without quotes). */
static char *
field (const char *text, const char *key)
{
  g_autofree char *pat = g_strdup_printf ("\"%s\":", key);
  const char *p = strstr (text, pat);

  g_assert_nonnull (p);
  p += strlen (pat);
  if (*p == '"')
    return g_strndup (p + 1, strchr (p + 1, '"') - p - 1);
  return g_strndup (p, strcspn (p, ",}"));
}

/* Index of the first frame of peer i starting with prefix, or -1. */
static gint
find_frame (Fixture *f, guint i, const char *prefix)
{
  for (guint n = 0; n < f->peers[i].frames->len; n++)
    if (g_str_has_prefix (g_ptr_array_index (f->peers[i].frames, n), prefix))
      return (gint) n;
  return -1;
}

static void
wait_frame (Fixture *f, guint i, const char *prefix)
{
  gboolean expired = FALSE;
  guint id = g_timeout_add (2000, set_flag, &expired);

  while (find_frame (f, i, prefix) < 0 && !expired)
    g_main_context_iteration (NULL, TRUE);
  if (!expired)
    g_source_remove (id);
  g_assert_cmpint (find_frame (f, i, prefix), >=, 0);
}

#define HISTORY_FRAME "{\"type\":\"history\""
#define MESSAGE_FRAME "{\"type\":\"message\""

/* A history subscribe of peer i; returns the "history" answer. */
static char *
subscribe_history (Fixture *f, guint i, const char *history)
{
  g_autofree char *text = g_strdup_printf (
      "{\"type\":\"subscribe\",\"channel\":\"c\",\"requestId\":\"h\","
      "\"history\":%s}",
      history);
  gint n;

  g_ptr_array_set_size (f->peers[i].frames, 0);
  feed_paced (f, i, text);
  /* An immediate answer comes before the ack, a replay after it. */
  n = find_frame (f, i, HISTORY_FRAME);
  g_assert_cmpstr (frame (f, i, n < 0 ? 0 : 1), ==,
      "{\"type\":\"ack\",\"requestId\":\"h\"}");
  g_assert_cmpuint (f->peers[i].frames->len, ==, n < 0 ? 1 : 2);
  return n < 0 ? NULL : g_strdup (frame (f, i, n));
}

static void
test_history_replay_before_live (Fixture *f, gconstpointer data)
{
  g_autofree char *started = NULL, *epoch = NULL, *resume = NULL;
  g_autofree char *answer = NULL;
  GPtrArray *bob;
  guint next = 2;
  gint done;

  connect_peer (f, 0, "alice", "{\"name\":\"A\"}", METERED_ACTION_ALL);
  connect_peer (f, 1, "bob", NULL, METERED_ACTION_ALL);
  connect_peer (f, 2, "carol", NULL, METERED_ACTION_ALL);
  feed (f, 2, "{\"type\":\"subscribe\",\"channel\":\"c\",\"requestId\":\"3\"}");
  started = subscribe_history (f, 1, "{}");
  g_assert_nonnull (started);
  epoch = field (started, "epoch");
  g_assert_cmpstr (started, ==,
      (answer = g_strdup_printf ("{\"type\":\"history\",\"channel\":\"c\","
                                 "\"status\":\"started\",\"epoch\":\"%s\","
                                 "\"seq\":0}",
           epoch)));
  settle ();
  g_ptr_array_set_size (f->peers[1].frames, 0);
  g_ptr_array_set_size (f->peers[2].frames, 0);

  /* Stamped for bob, byte for byte the plain frame for carol. */
  publish_range (f, 0, 1, 2);
  g_clear_pointer (&answer, g_free);
  g_assert_cmpstr (frame (f, 1, 0), ==,
      (answer = g_strdup_printf ("{\"type\":\"message\",\"channel\":\"c\","
                                 "\"from\":\"alice\",\"data\":{\"n\":1},"
                                 "\"epoch\":\"%s\",\"seq\":1}",
           epoch)));
  g_assert_cmpstr (frame (f, 2, 0), ==,
      "{\"type\":\"message\",\"channel\":\"c\",\"from\":\"alice\",\"data\":"
      "{\"n\":1}}");

  /* bob's socket goes; 300 published while away. */
  metered_hub_conn_remove (f->conns[1]);
  publish_range (f, 0, 2, 302);
  connect_peer (f, 1, "bob", NULL, METERED_ACTION_ALL);
  resume = g_strdup_printf ("{\"epoch\":\"%s\",\"seq\":1}", epoch);
  g_assert_null (subscribe_history (f, 1, resume));
  /* More arrive in the same turn, before the replay ran at all: they
   * must come after the 300, once. */
  publish_range (f, 0, 302, 307);
  g_assert_cmpuint (f->peers[1].frames->len, ==, 1);
  wait_frame (f, 1, HISTORY_FRAME);

  bob = f->peers[1].frames;
  done = find_frame (f, 1, HISTORY_FRAME);
  for (guint n = 1; n < (guint) done; n++) {
    const char *text = g_ptr_array_index (bob, n);
    g_autofree char *seq = NULL;
    g_autofree char *want = NULL;

    if (!g_str_has_prefix (text, MESSAGE_FRAME))
      continue; /* the presence snapshot */
    seq = field (text, "seq");
    want = g_strdup_printf ("{\"n\":%u}", next);
    g_assert_cmpuint (g_ascii_strtoull (seq, NULL, 10), ==, next);
    g_assert_nonnull (strstr (text, want));
    next++;
  }
  g_assert_cmpuint (next, ==, 307);
  g_clear_pointer (&answer, g_free);
  g_assert_cmpstr (frame (f, 1, done), ==,
      (answer = g_strdup_printf ("{\"type\":\"history\",\"channel\":\"c\","
                                 "\"status\":\"resumed\",\"epoch\":\"%s\","
                                 "\"seq\":306,\"replayed\":305}",
           epoch)));

  /* Live again, once. */
  publish_range (f, 0, 307, 308);
  g_assert_true (
      g_str_has_suffix (g_ptr_array_index (bob, bob->len - 1), "\"seq\":307}"));
  /* carol, who never asked: every message once, plain, nothing else new */
  for (guint n = 0, m = 0; n < f->peers[2].frames->len; n++) {
    const char *text = frame (f, 2, n);
    g_autofree char *want = g_strdup_printf (
        "{\"type\":\"message\",\"channel\":\"c\",\"from\":\"alice\","
        "\"data\":{\"n\":%u}}",
        m + 1);
    if (!g_str_has_prefix (text, MESSAGE_FRAME)) {
      g_assert_true (g_str_has_prefix (text, "{\"type\":\"presence\""));
      continue;
    }
    g_assert_cmpstr (text, ==, want);
    if (++m == 307)
      g_assert_cmpuint (n, ==, f->peers[2].frames->len - 1);
  }
  g_assert_cmpuint (metered_metrics_get (
                        f->metrics, METERED_METRIC_HISTORY_RESUMES, "resumed"),
      ==, 1);
  g_assert_cmpuint (
      metered_metrics_get_value (f->metrics, METERED_VALUE_HISTORY_MESSAGES),
      ==, 307);
}

static void
test_history_lost (Fixture *f, gconstpointer data)
{
  g_autofree char *started = NULL, *epoch = NULL, *resume = NULL;
  g_autofree char *answer = NULL, *want = NULL;

  f->app->history_max_messages = 10;
  connect_peer (f, 0, "alice", NULL, METERED_ACTION_ALL);
  connect_peer (f, 1, "bob", NULL, METERED_ACTION_ALL);
  started = subscribe_history (f, 1, "{}");
  epoch = field (started, "epoch");
  metered_hub_conn_remove (f->conns[1]);
  publish_range (f, 0, 1, 21);

  connect_peer (f, 1, "bob", NULL, METERED_ACTION_ALL);
  resume = g_strdup_printf ("{\"epoch\":\"%s\",\"seq\":0}", epoch);
  answer = subscribe_history (f, 1, resume);
  want = g_strdup_printf ("{\"type\":\"history\",\"channel\":\"c\",\"status\":"
                          "\"lost\",\"epoch\":\"%s\",\"seq\":20,\"missed\":20}",
      epoch);
  g_assert_cmpstr (answer, ==, want);
  settle ();
  g_assert_cmpint (find_frame (f, 1, MESSAGE_FRAME), <, 0);

  /* Another epoch: the count is unknown. */
  g_clear_pointer (&answer, g_free);
  answer = subscribe_history (f, 1, "{\"epoch\":\"gone.0\",\"seq\":3}");
  g_assert_nonnull (strstr (answer, "\"status\":\"lost\""));
  g_assert_true (g_str_has_suffix (answer, "\"seq\":20,\"missed\":null}"));
}

static void
test_history_own_skipped (Fixture *f, gconstpointer data)
{
  g_autofree char *started = NULL, *epoch = NULL, *resume = NULL;

  connect_peer (f, 0, "alice", NULL, METERED_ACTION_ALL);
  connect_peer (f, 1, "bob", NULL, METERED_ACTION_ALL);
  started = subscribe_history (f, 1, "{}");
  epoch = field (started, "epoch");
  publish_range (f, 1, 1, 2); /* bob's own: seq 1 */
  metered_hub_conn_remove (f->conns[1]);
  publish_range (f, 0, 2, 3); /* alice's: seq 2 */

  connect_peer (f, 1, "bob", NULL, METERED_ACTION_ALL);
  resume = g_strdup_printf ("{\"epoch\":\"%s\",\"seq\":0}", epoch);
  subscribe_history (f, 1, resume);
  wait_frame (f, 1, HISTORY_FRAME);
  g_assert_cmpint (find_frame (f, 1, MESSAGE_FRAME), ==, 1);
  g_assert_nonnull (strstr (frame (f, 1, 1), "\"from\":\"alice\""));
  g_assert_true (g_str_has_suffix (
      frame (f, 1, find_frame (f, 1, HISTORY_FRAME)), "\"replayed\":1}"));
}

static void
test_history_bad_request (Fixture *f, gconstpointer data)
{
  static const char *const bad[] = {
    "5",
    "null",
    "[]",
    "{\"epoch\":\"e\"}",
    "{\"seq\":1}",
    "{\"epoch\":\"\",\"seq\":1}",
    "{\"epoch\":\"e\",\"seq\":-1}",
    "{\"epoch\":\"e\",\"seq\":1.5}",
    "{\"epoch\":\"e\",\"seq\":\"1\"}",
    "{\"epoch\":"
    "\"01234567890123456789012345678901234567890123456789012345678901234\","
    "\"seq\":1}",
  };

  connect_peer (f, 0, "alice", NULL, METERED_ACTION_ALL);
  for (guint i = 0; i < G_N_ELEMENTS (bad); i++) {
    g_autofree char *text = g_strdup_printf (
        "{\"type\":\"subscribe\",\"channel\":\"c\",\"requestId\":\"b\","
        "\"history\":%s}",
        bad[i]);
    g_ptr_array_set_size (f->peers[0].frames, 0);
    feed (f, 0, text);
    g_assert_cmpuint (f->peers[0].frames->len, ==, 1);
    g_assert_cmpstr (frame (f, 0, 0), ==,
        "{\"type\":\"error\",\"requestId\":\"b\",\"code\":"
        "\"malformed_message\"}");
  }
}

static void
test_held_send (Fixture *f, gconstpointer data)
{
  connect_peer (f, 0, "alice", NULL, METERED_ACTION_ALL);
  connect_peer (f, 1, "bob", NULL, METERED_ACTION_ALL);
  metered_hub_conn_remove (f->conns[1]);
  g_ptr_array_set_size (f->peers[0].frames, 0);

  /* Without hold: answered at once, as for the SDK. */
  feed (f, 0,
      "{\"type\":\"send\",\"to\":\"bob\",\"data\":0,\"requestId\":\"s0\"}");
  g_assert_cmpstr (frame (f, 0, 0), ==,
      "{\"type\":\"error\",\"requestId\":\"s0\",\"code\":\"peer_not_found\","
      "\"message\":\"peer is not connected\"}");
  /* Held: no answer yet; a resend of it is not held twice; a peer never
   * seen is not held at all. */
  feed (f, 0,
      "{\"type\":\"send\",\"to\":\"bob\",\"data\":1,\"requestId\":\"s1\","
      "\"hold\":true}");
  feed (f, 0,
      "{\"type\":\"send\",\"to\":\"bob\",\"data\":2,\"requestId\":\"s2\","
      "\"hold\":true}");
  feed (f, 0,
      "{\"type\":\"send\",\"to\":\"bob\",\"data\":1,\"requestId\":\"s1\","
      "\"hold\":true}");
  g_assert_cmpuint (f->peers[0].frames->len, ==, 1);
  g_assert_cmpuint (
      metered_metrics_get_value (f->metrics, METERED_VALUE_HELD_DIRECTS), ==,
      2);
  feed (f, 0,
      "{\"type\":\"send\",\"to\":\"nobody\",\"data\":1,\"requestId\":\"s3\","
      "\"hold\":true}");
  g_assert_cmpuint (f->peers[0].frames->len, ==, 2);
  g_assert_nonnull (strstr (frame (f, 0, 1), "peer_not_found"));

  /* bob is back: welcome, then both, in order, once; acks to alice. */
  g_ptr_array_set_size (f->peers[1].frames, 0);
  connect_peer (f, 1, "bob", NULL, METERED_ACTION_ALL);
  g_assert_cmpuint (f->peers[1].frames->len, ==, 3);
  g_assert_cmpstr (frame (f, 1, 1), ==,
      "{\"type\":\"direct\",\"from\":\"alice\",\"data\":1}");
  g_assert_cmpstr (frame (f, 1, 2), ==,
      "{\"type\":\"direct\",\"from\":\"alice\",\"data\":2}");
  g_assert_cmpstr (
      frame (f, 0, 2), ==, "{\"type\":\"ack\",\"requestId\":\"s1\"}");
  g_assert_cmpstr (
      frame (f, 0, 3), ==, "{\"type\":\"ack\",\"requestId\":\"s2\"}");
  /* A late resend: acked from the dedupe, not delivered again. */
  feed (f, 0,
      "{\"type\":\"send\",\"to\":\"bob\",\"data\":1,\"requestId\":\"s1\","
      "\"hold\":true}");
  g_assert_cmpstr (
      frame (f, 0, 4), ==, "{\"type\":\"ack\",\"requestId\":\"s1\"}");
  g_assert_cmpuint (f->peers[1].frames->len, ==, 3);
  g_assert_cmpuint (
      metered_metrics_get_value (f->metrics, METERED_VALUE_HELD_DIRECTS), ==,
      0);

  /* Held when the hub goes away: freed with it (ASan checks). */
  metered_hub_conn_remove (f->conns[1]);
  feed (f, 0,
      "{\"type\":\"send\",\"to\":\"bob\",\"data\":3,\"requestId\":\"s4\","
      "\"hold\":true}");
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
#define ADD(name, fn)                                                          \
  g_test_add ("/hub/" name, Fixture, NULL, fixture_setup, fn, fixture_teardown)
  ADD ("welcome-first", test_welcome_first);
  ADD ("ack-then-snapshot-later", test_ack_then_snapshot_later);
  ADD ("joined-after-snapshot", test_joined_after_snapshot);
  ADD ("publish-send", test_publish_send);
  ADD ("errors", test_errors);
  ADD ("channel-limit", test_channel_limit);
  ADD ("rate-limit", test_rate_limit);
  ADD ("oversized", test_oversized);
  ADD ("supersede", test_supersede);
  ADD ("close-sends-left", test_close_sends_left);
  ADD ("resend-is-deduplicated", test_resend_is_deduplicated);
  ADD ("no-presence-before-own-snapshot", test_no_presence_before_own_snapshot);
  ADD ("history/replay-before-live", test_history_replay_before_live);
  ADD ("history/lost", test_history_lost);
  ADD ("history/own-skipped", test_history_own_skipped);
  ADD ("history/bad-request", test_history_bad_request);
  ADD ("held-send", test_held_send);
  return g_test_run ();
}
