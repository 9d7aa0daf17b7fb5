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

/* meteredsink against a real metered-server (subprocess) with
 * signalling-only peers that join and leave while buffers flow: key-unit
 * requests and their rate limit, the fan-out never failing upstream, the
 * element's signals and bus messages, the track metadata and track ids on
 * the wire, send-data, and the terminal close codes. Peers make the
 * session build real webrtcbin connections: run inside netns-run.sh. */

#include <gst/check/gstcheck.h>
#include <gst/check/gstharness.h>
#include <gst/video/video.h>
#include <json-glib/json-glib.h>

#include "metered-test-proxy.h"
#include "sink-test-util.h"

/* --- helpers --- */

static GstElement *
make_sink (TestServer *srv, const char *name, const char *channel)
{
  GstElement *e = gst_element_factory_make ("meteredsink", name);
  g_autofree char *url = test_server_url (srv);

  fail_unless (e != NULL);
  g_object_set (e, "url", url, "channel", channel, "api-key", "pk_dev_local",
      "reconnect-initial-delay", 200, NULL);
  return e;
}

/* The running time of the buffer pump () is pushing. The element sends
 * its key-unit requests from the pushing thread (encoded input has no
 * queue), so an upstream probe reads the running time that decided it. */
static gint64 pushing_us;

typedef struct
{
  GMutex lock;
  GArray *times_us; /* gint64: running time of each force-key-unit */
  guint without_headers;
} KeyUnitLog;

static GstPadProbeReturn
on_upstream_event (GstPad *pad, GstPadProbeInfo *info, gpointer data)
{
  KeyUnitLog *kl = data;
  GstEvent *event = GST_PAD_PROBE_INFO_EVENT (info);
  gboolean all_headers = FALSE;
  gint64 now = pushing_us;

  if (gst_video_event_is_force_key_unit (event) &&
      GST_EVENT_TYPE (event) == GST_EVENT_CUSTOM_UPSTREAM) {
    gst_video_event_parse_upstream_force_key_unit (
        event, NULL, &all_headers, NULL);
    g_mutex_lock (&kl->lock);
    g_array_append_val (kl->times_us, now);
    if (!all_headers)
      kl->without_headers++;
    g_mutex_unlock (&kl->lock);
  }
  return GST_PAD_PROBE_OK;
}

static guint
key_units (KeyUnitLog *kl)
{
  guint n;

  g_mutex_lock (&kl->lock);
  n = kl->times_us->len;
  g_mutex_unlock (&kl->lock);
  return n;
}

/* Pushes VP8 frames at about 100 per second for ms milliseconds,
 * iterating the default context (the fake peers) between them; every
 * push must be GST_FLOW_OK. */
static void
pump (GstHarness *h, GPtrArray *frames, guint *i, guint ms)
{
  gint64 end = g_get_monotonic_time () + ms * 1000;

  while (g_get_monotonic_time () < end) {
    GstBuffer *b =
        gst_buffer_copy (g_ptr_array_index (frames, *i % frames->len));
    GST_BUFFER_PTS (b) = GST_BUFFER_DTS (b) = *i * 10 * GST_MSECOND;
    pushing_us = GST_TIME_AS_USECONDS (GST_BUFFER_PTS (b));
    fail_unless_equals_int (gst_harness_push (h, b), GST_FLOW_OK);
    (*i)++;
    test_drain ();
    g_usleep (10000);
  }
}

static guint
stats_uint (GstElement *e, const char *field)
{
  GstStructure *s = NULL;
  guint64 v64 = 0;
  guint v = 0;

  g_object_get (e, "stats", &s, NULL);
  if (!gst_structure_get_uint64 (s, field, &v64)) {
    gst_structure_get_uint (s, field, &v);
    v64 = v;
  }
  gst_structure_free (s);
  return (guint) v64;
}

static char *
wait_connected (SinkBusLog *log)
{
  test_assert_wait (
      sink_bus_log_count (log, "metered/connected", 0) >= 1, 10000);
  return sink_bus_log_dup_string (log, "metered/connected", "peer-id");
}

/* --- key units --- */

/* A storm of joins asks for many key frames; upstream gets at most one
 * per 500 ms, and the last request is never lost. */
GST_START_TEST (test_key_units_rate_limited)
{
  TestServer *srv = test_server_start (0, NULL);
  GstElement *e = make_sink (srv, "keys", "key-units");
  SinkBusLog *log = sink_bus_log_new (e);
  GstHarness *h = gst_harness_new_with_element (e, "video_0", NULL);
  g_autoptr (GPtrArray) frames = sink_make_vp8_frames (30);
  SinkFakePeer *peers[9] = { NULL };
  KeyUnitLog kl = { 0 };
  g_autofree char *id = NULL;
  guint i = 0, before;
  guint64 requested, sent;
  gint64 t_last_join, t_last_key;

  g_mutex_init (&kl.lock);
  kl.times_us = g_array_new (FALSE, FALSE, sizeof (gint64));
  gst_pad_add_probe (h->srcpad, GST_PAD_PROBE_TYPE_EVENT_UPSTREAM,
      on_upstream_event, &kl, NULL);
  gst_harness_set_src_caps_str (
      h, "video/x-vp8,width=160,height=120,framerate=30/1");
  id = wait_connected (log);
  fail_unless (id != NULL);

  /* nobody there: no key unit */
  pump (h, frames, &i, 300);
  fail_unless_equals_int (key_units (&kl), 0);

  /* eight peers join in quick succession while buffers flow */
  for (guint k = 0; k < 8; k++) {
    peers[k] = sink_fake_peer_join (srv, "key-units");
    pump (h, frames, &i, 10);
  }
  t_last_join = pushing_us;
  test_assert_wait (
      (pump (h, frames, &i, 10), stats_uint (e, "key-units-requested") >= 8),
      10000);
  pump (h, frames, &i, 1200);
  requested = stats_uint (e, "key-units-requested");
  sent = stats_uint (e, "key-units-sent");
  g_print ("key units after 8 joins: %" G_GUINT64_FORMAT
           " requested, %" G_GUINT64_FORMAT " sent upstream\n",
      requested, sent);
  fail_unless (requested >= 8);
  fail_unless_equals_int (key_units (&kl), (gint) sent);
  fail_unless (
      sent >= 1 && sent < requested, "%" G_GUINT64_FORMAT " sent", sent);
  /* the newest viewer's request was served after it was made */
  fail_unless (g_array_index (kl.times_us, gint64, kl.times_us->len - 1) >=
               t_last_join - 600 * 1000);
  for (guint k = 1; k < kl.times_us->len; k++) {
    gint64 gap = g_array_index (kl.times_us, gint64, k) -
                 g_array_index (kl.times_us, gint64, k - 1);
    fail_unless (
        gap >= 500 * 1000, "key units %" G_GINT64_FORMAT " us apart", gap);
  }
  fail_unless_equals_int (kl.without_headers, 0);

  /* long after: one more join gets its key frame at once. Long after in
   * running time, where the broker spaces key units (a second): a slow
   * build pushes few frames in a wall-clock pause. Bounded: 10 ms a frame. */
  g_mutex_lock (&kl.lock);
  t_last_key = g_array_index (kl.times_us, gint64, kl.times_us->len - 1);
  g_mutex_unlock (&kl.lock);
  while (pushing_us < t_last_key + 1500 * 1000)
    pump (h, frames, &i, 10);
  before = key_units (&kl);
  peers[8] = sink_fake_peer_join (srv, "key-units");
  test_assert_wait ((pump (h, frames, &i, 10), key_units (&kl) > before), 3000);
  pump (h, frames, &i, 200);
  fail_unless_equals_int (key_units (&kl), before + 1);

  for (guint k = 0; k < 9; k++)
    sink_fake_peer_leave (peers[k]);
  gst_harness_teardown (h);
  gst_object_unref (e);
  sink_bus_log_free (log);
  test_server_free (srv);
  g_array_unref (kl.times_us);
  g_mutex_clear (&kl.lock);
}

GST_END_TEST;

/* --- fan-out --- */

static void
count_signal (GstElement *e, const char *peer_id, gpointer data)
{
  g_atomic_int_inc ((gint *) data);
}

static void
count_joined (
    GstElement *e, const char *peer_id, const char *meta, gpointer data)
{
  g_atomic_int_inc ((gint *) data);
}

/* One raw frame of the fan-out test, its PTS from a running count. */
static void
push_fanout_frame (GstHarness *h, guint *frame)
{
  GstBuffer *b = gst_harness_create_buffer (h, 160 * 120 * 3 / 2);

  gst_buffer_memset (b, 0, (guint8) *frame, 160 * 120 * 3 / 2);
  GST_BUFFER_PTS (b) = *frame * 33 * GST_MSECOND;
  GST_BUFFER_DURATION (b) = 33 * GST_MSECOND;
  fail_unless_equals_int (gst_harness_push (h, b), GST_FLOW_OK);
  (*frame)++;
  test_drain ();
  g_usleep (10000);
}

/* Raw video is encoded once while peers come and go; upstream gets
 * GST_FLOW_OK for every buffer. A peer leaves only once the element has
 * every joined one (frames keep flowing meanwhile, at most 10 s): under
 * ASan a join can take longer than the frames between two events. */
GST_START_TEST (test_fanout_peers_come_and_go)
{
  TestServer *srv = test_server_start (0, NULL);
  GstElement *e = make_sink (srv, "fanout", "fan-out");
  SinkBusLog *log = sink_bus_log_new (e);
  GstHarness *h;
  SinkFakePeer *peers[4] = { NULL };
  gint joined = 0, left = 0;
  guint max_peers = 0, frame = 0;
  g_autofree char *id = NULL;

  g_signal_connect (e, "peer-joined", G_CALLBACK (count_joined), &joined);
  g_signal_connect (e, "peer-left", G_CALLBACK (count_signal), &left);
  h = gst_harness_new_with_element (e, "video_0", NULL);
  gst_harness_set_src_caps_str (
      h, "video/x-raw,format=I420,width=160,height=120,framerate=30/1");
  id = wait_connected (log);

  for (guint i = 0; i < 300; i++) {
    switch (i) {
      case 20:
      case 40:
      case 60:
        peers[i / 20 - 1] = sink_fake_peer_join (srv, "fan-out");
        break;
      case 120:
      case 200:
        /* three joined (0-2, then 1-3) before the next one leaves */
        for (guint k = 0; k < 1000 && sink_stats_peers (e) < 3; k++)
          push_fanout_frame (h, &frame);
        fail_unless_equals_int (sink_stats_peers (e), 3);
        sink_fake_peer_leave (g_steal_pointer (&peers[i == 120 ? 0 : 1]));
        break;
      case 150:
        peers[3] = sink_fake_peer_join (srv, "fan-out");
        break;
      case 220:
      case 240:
        sink_fake_peer_leave (g_steal_pointer (&peers[(i - 180) / 20]));
        break;
      default:
        break;
    }
    push_fanout_frame (h, &frame);
    max_peers = MAX (max_peers, sink_stats_peers (e));
  }
  test_assert_wait (
      g_atomic_int_get (&left) == 4 && sink_stats_peers (e) == 0, 10000);
  fail_unless_equals_int (g_atomic_int_get (&joined), 4);
  fail_unless (max_peers >= 3, "at most %u peers at once", max_peers);
  fail_unless (sink_stats_track_u64 (e, 0, "buffers-sent") > 0);
  fail_unless_equals_int (
      sink_bus_log_count (log, "metered/peer-joined", 0), 4);
  fail_unless_equals_int (sink_bus_log_count (log, "metered/peer-left", 0), 4);
  fail_if (sink_bus_log_has_error (log));

  gst_harness_teardown (h);
  gst_object_unref (e);
  sink_bus_log_free (log);
  test_server_free (srv);
}

GST_END_TEST;

/* --- what a peer sees: track ids, metadata, offers, signals --- */

static JsonObject *
parse_object (const char *text, JsonNode **root)
{
  g_autoptr (GError) error = NULL;

  *root = json_from_string (text, &error);
  fail_unless (*root != NULL && JSON_NODE_HOLDS_OBJECT (*root), "%s", text);
  return json_node_get_object (*root);
}

typedef struct
{
  GMutex lock;
  GPtrArray *events; /* "joined ID", "left ID" */
} PeerEvents;

static void
on_peer_joined (
    GstElement *e, const char *peer_id, const char *meta, PeerEvents *pe)
{
  g_mutex_lock (&pe->lock);
  g_ptr_array_add (pe->events, g_strdup_printf ("joined %s", peer_id));
  g_mutex_unlock (&pe->lock);
}

static void
on_peer_left (GstElement *e, const char *peer_id, PeerEvents *pe)
{
  g_mutex_lock (&pe->lock);
  g_ptr_array_add (pe->events, g_strdup_printf ("left %s", peer_id));
  g_mutex_unlock (&pe->lock);
}

static gboolean
has_event (PeerEvents *pe, const char *kind, const char *id)
{
  g_autofree char *want = g_strdup_printf ("%s %s", kind, id);
  gboolean found = FALSE;

  g_mutex_lock (&pe->lock);
  for (guint i = 0; i < pe->events->len && !found; i++)
    found = g_str_equal (g_ptr_array_index (pe->events, i), want);
  g_mutex_unlock (&pe->lock);
  return found;
}

/* audio_flows FALSE: the audio pad is requested but never linked; it is
 * announced anyway and must not hold the offer back. */
static void
check_peer_sees_tracks_and_metadata (gboolean audio_flows)
{
  TestServer *srv = test_server_start (0, NULL);
  g_autofree char *url = test_server_url (srv);
  g_autofree char *desc = g_strdup_printf (
      "videotestsrc is-live=true ! video/x-raw,width=160,height=120 ! "
      "cam.video_0 %s meteredsink name=cam channel=metadata "
      "api-key=pk_dev_local url=%s",
      audio_flows ? "audiotestsrc is-live=true ! cam.audio_0" : "", url);
  g_autoptr (GError) error = NULL;
  GstElement *p = gst_parse_launch (desc, &error);
  GstElement *e = gst_bin_get_by_name (GST_BIN (p), "cam");
  SinkBusLog *log = sink_bus_log_new (p);
  g_autoptr (GstStructure) nested =
      gst_structure_new ("n", "x", G_TYPE_UINT, 1, NULL);
  GstStructure *md = gst_structure_new ("meta", "role", G_TYPE_STRING, "camera",
      "index", G_TYPE_INT, 2, "live", G_TYPE_BOOLEAN, TRUE, "ratio",
      G_TYPE_DOUBLE, 0.5, "nested", GST_TYPE_STRUCTURE, nested, NULL);
  GValue tags = G_VALUE_INIT, tag = G_VALUE_INIT;
  PeerEvents pe = { 0 };
  SinkFakePeer *peer;
  g_autofree char *id = NULL, *pid = NULL;
  const char *video_meta, *audio_meta, *offer, *track_id;
  g_autofree char *stream_id = NULL, *video_msid = NULL, *audio_msid = NULL;
  g_autofree char *audio_track_id = NULL;
  JsonNode *root = NULL;
  JsonObject *tm, *meta;
  JsonArray *arr;

  if (!audio_flows) {
    GstPad *pad = gst_element_request_pad_simple (e, "audio_%u");
    gst_object_unref (pad);
  }
  g_value_init (&tags, GST_TYPE_ARRAY);
  g_value_init (&tag, G_TYPE_STRING);
  g_value_set_string (&tag, "a");
  gst_value_array_append_value (&tags, &tag);
  g_value_set_string (&tag, "b");
  gst_value_array_append_value (&tags, &tag);
  gst_structure_take_value (md, "tags", &tags);
  g_value_unset (&tag);
  g_object_set (e, "stream-metadata", md, NULL);
  gst_structure_free (md);

  g_mutex_init (&pe.lock);
  pe.events = g_ptr_array_new_with_free_func (g_free);
  g_signal_connect (e, "peer-joined", G_CALLBACK (on_peer_joined), &pe);
  g_signal_connect (e, "peer-left", G_CALLBACK (on_peer_left), &pe);
  fail_unless (
      gst_element_set_state (p, GST_STATE_PLAYING) != GST_STATE_CHANGE_FAILURE);
  id = wait_connected (log);
  fail_unless (id != NULL);

  peer = sink_fake_peer_join (srv, "metadata");
  test_assert_wait (has_event (&pe, "joined", peer->peer_id), 10000);
  test_assert_wait (sink_fake_peer_find_direct (peer, id, "-video_0\"") &&
                        sink_fake_peer_find_direct (peer, id, "-audio_0\""),
      10000);
  test_assert_wait (sink_fake_peer_find_direct (peer, id, "\"offer\""), 10000);
  fail_unless_equals_int (sink_bus_log_count_with (log, "metered/peer-joined",
                              "peer-id", peer->peer_id, 0),
      1);

  /* {"__meteredTrackMeta":{"trackId":"cam-<8 hex>-video_0","metadata":...}}:
   * the stream id is the element name and a random part (unique among
   * senders of one name), the track id the stream id and the pad name. */
  video_meta = sink_fake_peer_find_direct (peer, id, "-video_0\"");
  tm = json_object_get_object_member (
      parse_object (video_meta, &root), "__meteredTrackMeta");
  fail_unless (tm != NULL, "%s", video_meta);
  track_id = json_object_get_string_member (tm, "trackId");
  fail_unless (g_str_has_prefix (track_id, "cam-"), "%s", track_id);
  fail_unless (g_str_has_suffix (track_id, "-video_0"), "%s", track_id);
  fail_unless_equals_int (strlen (track_id), strlen ("cam-12345678-video_0"));
  stream_id = g_strndup (track_id, strlen ("cam-12345678"));
  fail_unless (
      strspn (stream_id + 4, "0123456789abcdef") == 8, "%s", stream_id);
  video_msid = g_strdup_printf ("a=msid:%s %s", stream_id, track_id);
  audio_track_id = g_strdup_printf ("\"%s-audio_0\"", stream_id);
  audio_msid = g_strdup_printf ("a=msid:%s %s-audio_0", stream_id, stream_id);
  meta = json_object_get_object_member (tm, "metadata");
  fail_unless_equals_string (
      json_object_get_string_member (meta, "role"), "camera");
  fail_unless_equals_int (json_object_get_int_member (meta, "index"), 2);
  fail_unless (json_object_get_boolean_member (meta, "live"));
  fail_unless (json_object_get_double_member (meta, "ratio") == 0.5);
  fail_unless_equals_int (
      json_object_get_int_member (
          json_object_get_object_member (meta, "nested"), "x"),
      1);
  arr = json_object_get_array_member (meta, "tags");
  fail_unless_equals_int (json_array_get_length (arr), 2);
  fail_unless_equals_string (json_array_get_string_element (arr, 1), "b");
  json_node_unref (root);
  audio_meta = sink_fake_peer_find_direct (peer, id, audio_track_id);
  fail_unless (strstr (audio_meta, "\"role\":\"camera\"") != NULL);

  /* the offer carries both tracks under that stream id, VP8 and Opus */
  offer = sink_fake_peer_find_direct (peer, id, "\"offer\"");
  fail_unless (strstr (offer, video_msid) != NULL, "%s", offer);
  fail_unless (strstr (offer, audio_msid) != NULL, "%s", offer);
  fail_unless (strstr (offer, "VP8/90000") != NULL);
  fail_unless (strstr (offer, "OPUS/48000") != NULL ||
               strstr (offer, "opus/48000") != NULL);

  pid = g_strdup (peer->peer_id);
  sink_fake_peer_leave (peer);
  test_assert_wait (has_event (&pe, "left", pid), 10000);
  test_assert_wait (sink_bus_log_count_with (
                        log, "metered/peer-left", "peer-id", pid, 0) == 1,
      5000);
  fail_if (sink_bus_log_has_error (log));

  gst_element_set_state (p, GST_STATE_NULL);
  gst_object_unref (e);
  gst_object_unref (p);
  sink_bus_log_free (log);
  test_server_free (srv);
  g_ptr_array_unref (pe.events);
  g_mutex_clear (&pe.lock);
}

GST_START_TEST (test_peer_sees_tracks_and_metadata)
{
  check_peer_sees_tracks_and_metadata (TRUE);
}

GST_END_TEST;

GST_START_TEST (test_idle_pad_does_not_hold_back_the_offer)
{
  check_peer_sees_tracks_and_metadata (FALSE);
}

GST_END_TEST;

/* --- application data --- */

static gboolean
has_entry (GPtrArray *list, const char *from, const char *data)
{
  g_autofree char *want = g_strdup_printf ("%s %s", from, data);

  for (guint i = 0; i < list->len; i++)
    if (g_str_equal (g_ptr_array_index (list, i), want))
      return TRUE;
  return FALSE;
}

GST_START_TEST (test_send_data)
{
  TestServer *srv = test_server_start (0, NULL);
  GstElement *e = make_sink (srv, "data", "app-data");
  SinkBusLog *log = sink_bus_log_new (e);
  GstHarness *h = gst_harness_new_with_element (e, "video_0", NULL);
  g_autofree char *id = wait_connected (log);
  SinkFakePeer *peer = sink_fake_peer_join (srv, "app-data");
  gboolean ok = FALSE;

  g_signal_emit_by_name (e, "send-data", NULL, "{\"hello\":\"world\"}", &ok);
  fail_unless (ok);
  g_signal_emit_by_name (e, "send-data", peer->peer_id, "[1,2,3]", &ok);
  fail_unless (ok);
  test_assert_wait (has_entry (peer->messages, id, "{\"hello\":\"world\"}") &&
                        has_entry (peer->directs, id, "[1,2,3]"),
      5000);
  g_signal_emit_by_name (e, "send-data", peer->peer_id, "{oops", &ok);
  fail_if (ok);

  sink_fake_peer_leave (peer);
  gst_harness_teardown (h);
  gst_object_unref (e);
  sink_bus_log_free (log);
  test_server_free (srv);
}

GST_END_TEST;

/* --- channel history: data published while the element is away --- */

static void
on_data_record (GstElement *e, const char *from, const char *data,
    const char *kind, GAsyncQueue *q)
{
  g_async_queue_push (q, g_strdup_printf ("%s %s", kind, data));
}

/* A peer publishes three messages while the element's socket is cut: on
 * its return ::data gives them once, in order, before a newer one, and
 * the bus says metered/resumed with 3 replayed. */
GST_START_TEST (test_data_replayed_after_drop)
{
  TestServer *srv = test_server_start (0, NULL);
  g_autoptr (GError) error = NULL;
  MeteredTestProxy *proxy = metered_test_proxy_new (srv->port, &error);
  g_autofree char *url = NULL;
  GstElement *e = gst_element_factory_make ("meteredsink", "resume");
  GAsyncQueue *q = g_async_queue_new_full (g_free);
  SinkBusLog *log;
  GstHarness *h;
  SinkFakePeer *peer;
  g_autofree char *id = NULL;
  gint64 replayed = -1;
  GstStructure *resumed;

  fail_unless (proxy != NULL && e != NULL);
  url = g_strdup_printf (
      "ws://127.0.0.1:%u", metered_test_proxy_get_port (proxy));
  g_object_set (e, "url", url, "channel", "resume", "api-key", "pk_dev_local",
      "reconnect-initial-delay", 100, NULL);
  g_signal_connect (e, "data", G_CALLBACK (on_data_record), q);
  log = sink_bus_log_new (e);
  h = gst_harness_new_with_element (e, "video_0", NULL);
  id = wait_connected (log);
  peer = sink_fake_peer_join (srv, "resume");
  fail_unless (
      test_client_publish (peer->client, "resume", "{\"n\":0}", 5000, &error));
  test_assert_wait (g_async_queue_length (q) == 1, 5000);

  metered_test_proxy_set_mode (proxy, METERED_TEST_PROXY_REFUSE);
  fail_unless_equals_int (metered_test_proxy_cut (proxy), 1);
  for (guint n = 1; n <= 3; n++) {
    g_autofree char *data = g_strdup_printf ("{\"n\":%u}", n);
    fail_unless (
        test_client_publish (peer->client, "resume", data, 5000, &error));
  }
  metered_test_proxy_set_mode (proxy, METERED_TEST_PROXY_FORWARD);
  test_assert_wait (sink_bus_log_count (log, "metered/resumed", 0) == 1, 10000);
  /* the replay came through ::data before the bus message (same thread) */
  fail_unless_equals_int (g_async_queue_length (q), 4);
  fail_unless (
      test_client_publish (peer->client, "resume", "{\"n\":4}", 5000, &error));
  test_assert_wait (g_async_queue_length (q) == 5, 5000);
  for (guint n = 0; n <= 4; n++) {
    g_autofree char *got = g_async_queue_pop (q);
    g_autofree char *want = g_strdup_printf ("broadcast {\"n\":%u}", n);
    fail_unless_equals_string (got, want);
  }
  resumed = sink_bus_log_dup_structure (log, "metered/resumed");
  fail_unless (gst_structure_get_int64 (resumed, "replayed", &replayed));
  fail_unless_equals_string (
      gst_structure_get_string (resumed, "channel"), "resume");
  fail_unless_equals_int64 (replayed, 3);
  gst_structure_free (resumed);
  fail_unless_equals_int (
      sink_bus_log_count (log, "metered/continuity-lost", 0), 0);

  sink_fake_peer_leave (peer);
  gst_harness_teardown (h);
  gst_object_unref (e);
  sink_bus_log_free (log);
  g_async_queue_unref (q);
  metered_test_proxy_free (proxy);
  test_server_free (srv);
}

GST_END_TEST;

/* --- network-changed: the application says the network moved --- */

/* The action signal drops a socket that looks healthy and reconnects at
 * once: disconnected 1000 (will reconnect), then connected again as a
 * reconnect with the same peer id; a stopped element answers FALSE. */
GST_START_TEST (test_network_changed_reconnects)
{
  TestServer *srv = test_server_start (0, NULL);
  GstElement *e = make_sink (srv, "netchange", "net-change");
  SinkBusLog *log = sink_bus_log_new (e);
  GstHarness *h = gst_harness_new_with_element (e, "video_0", NULL);
  g_autofree char *id = wait_connected (log);
  GstStructure *gone = NULL, *back = NULL;

  fail_unless (id != NULL);
  gboolean ok = FALSE, again = FALSE, will = FALSE;
  gint code = 0;

  fail_unless_equals_int (
      sink_bus_log_count (log, "metered/disconnected", 0), 0);
  g_signal_emit_by_name (e, "network-changed", &ok);
  fail_unless (ok);
  test_assert_wait (
      sink_bus_log_count (log, "metered/connected", 0) == 2, 10000);
  gone = sink_bus_log_dup_structure (log, "metered/disconnected");
  back = sink_bus_log_dup_structure (log, "metered/connected");
  fail_unless (gone != NULL && back != NULL);
  fail_unless (gst_structure_get_int (gone, "close-code", &code));
  fail_unless_equals_int (code, 1000);
  fail_unless (gst_structure_get_boolean (gone, "will-reconnect", &will));
  fail_unless (will);
  fail_unless (gst_structure_get_boolean (back, "is-reconnect", &again));
  fail_unless (again);
  /* a publishable key gets a new peer id per connection */
  fail_unless (gst_structure_get_string (back, "peer-id") != NULL);
  fail_if (sink_bus_log_has_error (log));
  fail_unless_equals_int (test_admin_count_peers (srv->port), 1);
  gst_structure_free (gone);
  gst_structure_free (back);

  gst_harness_teardown (h);
  ok = TRUE;
  g_signal_emit_by_name (e, "network-changed", &ok);
  fail_if (ok);
  gst_object_unref (e);
  sink_bus_log_free (log);
  test_server_free (srv);
}

GST_END_TEST;

/* --- terminal close codes: the right error, and no reconnect --- */

static void
check_terminal (const char *admin_method, const char *admin_path_fmt,
    GstResourceError code, gint close_code)
{
  TestServer *srv = test_server_start (0, NULL);
  g_autofree char *url = test_server_url (srv);
  g_autofree char *desc = g_strdup_printf (
      "videotestsrc is-live=true ! video/x-raw,width=160,height=120 ! "
      "meteredsink name=s channel=terminal api-key=pk_dev_local url=%s "
      "reconnect-initial-delay=100",
      url);
  g_autoptr (GError) error = NULL;
  GstElement *p = gst_parse_launch (desc, &error);
  SinkBusLog *log = sink_bus_log_new (p);
  g_autofree char *id = NULL, *path = NULL;
  const GstStructure *details;
  gint got_code = 0, err;
  gint64 t_err;

  fail_unless (p != NULL);
  fail_unless (
      gst_element_set_state (p, GST_STATE_PLAYING) != GST_STATE_CHANGE_FAILURE);
  id = wait_connected (log);
  fail_unless_equals_int (test_admin_count_peers (srv->port), 1);

  path = g_strdup_printf (admin_path_fmt, id);
  fail_unless_equals_int (test_admin_call (srv->port, admin_method, path), 204);
  test_assert_wait (sink_bus_log_has_error (log), 5000);
  fail_unless (g_error_matches (log->error, GST_RESOURCE_ERROR, code),
      "got %s (%d)", log->error->message, log->error->code);
  err = sink_bus_log_error_index (log);
  details = g_ptr_array_index (log->structures, err);
  fail_unless (gst_structure_get_int (details, "close-code", &got_code));
  fail_unless_equals_int (got_code, close_code);
  fail_unless_equals_int (
      sink_bus_log_count (log, "metered/disconnected", 0), 1);

  /* No reconnect: the first retry would come within 100-600 ms; watch
   * for well over that. */
  t_err = log->error_time_us;
  test_wait_until (g_get_monotonic_time () - t_err > 2000 * 1000, 3000);
  fail_unless_equals_int (sink_bus_log_count_with (log, "metered/state-changed",
                              "to", "connecting", (guint) err),
      0);
  fail_unless_equals_int (sink_bus_log_count_with (log, "metered/state-changed",
                              "to", "reconnecting", (guint) err),
      0);
  fail_unless_equals_int (sink_bus_log_count (log, "metered/connected", 0), 1);
  fail_unless_equals_int (test_admin_count_peers (srv->port), 0);

  gst_element_set_state (p, GST_STATE_NULL);
  gst_object_unref (p);
  sink_bus_log_free (log);
  test_server_free (srv);
}

GST_START_TEST (test_terminal_admin_kick)
{
  check_terminal (
      "DELETE", "/v1/peers/%s", GST_RESOURCE_ERROR_OPEN_READ_WRITE, 4020);
}

GST_END_TEST;

GST_START_TEST (test_terminal_revoked_key)
{
  /* the path has no peer id: "%.0s" swallows it */
  check_terminal ("POST", "/v1/keys/pk_dev_local/revoke%.0s",
      GST_RESOURCE_ERROR_NOT_AUTHORIZED, 4001);
}

GST_END_TEST;

static Suite *
meteredsink_session_suite (void)
{
  Suite *s = suite_create ("meteredsink-session");
  TCase *tc = tcase_create ("session");

  tcase_set_timeout (tc, 60);
  suite_add_tcase (s, tc);
  tcase_add_test (tc, test_key_units_rate_limited);
  tcase_add_test (tc, test_fanout_peers_come_and_go);
  tcase_add_test (tc, test_peer_sees_tracks_and_metadata);
  tcase_add_test (tc, test_idle_pad_does_not_hold_back_the_offer);
  tcase_add_test (tc, test_send_data);
  tcase_add_test (tc, test_data_replayed_after_drop);
  tcase_add_test (tc, test_network_changed_reconnects);
  tcase_add_test (tc, test_terminal_admin_kick);
  tcase_add_test (tc, test_terminal_revoked_key);
  return s;
}

GST_CHECK_MAIN (meteredsink_session);
