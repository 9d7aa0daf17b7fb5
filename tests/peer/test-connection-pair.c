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

/* Two MeteredConnections in one process, their payloads relayed through
 * the main loop (as the signalling server would): a live VP8 test pattern
 * encoded once in its own pipeline flows through real webrtcbin, ICE and
 * DTLS to the other side's sample callback. Runs inside the namespace
 * netns-run.sh makes (ICE needs its veth pair). */

#include "peer/metered-connection-private.h"
#include "peer/metered-ice-restart.h"
#include "peer/metered-sdp.h"

#include <gst/app/gstappsink.h>

typedef struct
{
  MeteredConnection *sender;
  MeteredConnection *receiver;
  gint frames; /* atomic */
  gint key_frames; /* atomic */
  MeteredRemoteTrack *seen;
  guint offers_seen;
  gboolean sender_connected;
  /* The receiver's offers are kept here instead of relayed (a signalling
   * socket stalled by a cut). */
  gboolean hold_receiver_offers;
  GPtrArray *held; /* payloads */
  guint answers_seen; /* from the sender */
  GstElement *source;
  GstClock *clock;
} Pair;

typedef struct
{
  MeteredConnection *to;
  char *payload;
} Relay;

static gboolean
relay_deliver (gpointer data)
{
  Relay *relay = data;
  MeteredSignalVerdict verdict =
      metered_connection_handle_signal (relay->to, relay->payload);

  g_assert_cmpint (verdict, !=, METERED_SIGNAL_INVALID);
  g_free (relay->payload);
  gst_object_unref (relay->to);
  g_free (relay);
  return G_SOURCE_REMOVE;
}

static void
relay (MeteredConnection *to, const char *payload)
{
  Relay *r = g_new0 (Relay, 1);

  r->to = gst_object_ref (to);
  r->payload = g_strdup (payload);
  g_idle_add (relay_deliver, r);
}

static void
on_sender_outgoing (MeteredConnection *conn, const char *payload, Pair *pair)
{
  if (g_strstr_len (payload, -1, "\"type\":\"offer\""))
    pair->offers_seen++;
  if (g_strstr_len (payload, -1, "\"type\":\"answer\""))
    pair->answers_seen++;
  relay (pair->receiver, payload);
}

static void
on_receiver_outgoing (MeteredConnection *conn, const char *payload, Pair *pair)
{
  if (pair->hold_receiver_offers &&
      g_strstr_len (payload, -1, "\"type\":\"offer\"")) {
    g_ptr_array_add (pair->held, g_strdup (payload));
    return;
  }
  relay (pair->sender, payload);
}

static void
on_sample (MeteredConnection *conn, const MeteredRemoteTrack *track,
    GstBuffer *buffer, gpointer data)
{
  Pair *pair = data;

  g_atomic_int_inc (&pair->frames);
  if (!GST_BUFFER_FLAG_IS_SET (buffer, GST_BUFFER_FLAG_DELTA_UNIT))
    g_atomic_int_inc (&pair->key_frames);
}

static void
on_remote_track (MeteredConnection *conn, MeteredRemoteTrack *track, Pair *pair)
{
  if (!pair->seen) {
    pair->seen = g_new0 (MeteredRemoteTrack, 1);
    pair->seen->kind = g_strdup (track->kind);
    pair->seen->stream_id = g_strdup (track->stream_id);
    pair->seen->track_id = g_strdup (track->track_id);
  }
}

static void
on_sender_state (
    MeteredConnection *conn, GstWebRTCPeerConnectionState state, Pair *pair)
{
  if (state == GST_WEBRTC_PEER_CONNECTION_STATE_CONNECTED)
    pair->sender_connected = TRUE;
}

static GstFlowReturn
on_encoded (GstAppSink *sink, gpointer data)
{
  Pair *pair = data;
  GstSample *sample = gst_app_sink_pull_sample (sink);

  MeteredConnection *sender = g_atomic_pointer_get (&pair->sender);

  if (!sample)
    return GST_FLOW_EOS;
  /* Frames before the connection exists are dropped, as a live encoder's
   * would be while nobody listens. */
  if (sender)
    metered_connection_push (
        sender, "video-track", gst_sample_get_buffer (sample));
  gst_sample_unref (sample);
  return GST_FLOW_OK;
}

static gboolean
flag_set (gpointer data)
{
  *(gboolean *) data = TRUE;
  return G_SOURCE_REMOVE;
}

/* Iterates the default context until cond holds or 30 s passed. */
#define RUN_UNTIL(cond)                                                        \
  G_STMT_START                                                                 \
  {                                                                            \
    gboolean timeout_ = FALSE;                                                 \
    guint id_ = g_timeout_add_seconds (30, flag_set, &timeout_);               \
    while (!timeout_ && !(cond))                                               \
      g_main_context_iteration (NULL, TRUE);                                   \
    if (!timeout_)                                                             \
      g_source_remove (id_);                                                   \
  }                                                                            \
  G_STMT_END

/* The sender (polite, a VP8 track) and the receiver, connected and
 * started: the caller waits for frames. */
static void
pair_start (Pair *pair)
{
  g_autoptr (GError) error = NULL;
  GstAppSinkCallbacks callbacks = { NULL, NULL, on_encoded };
  MeteredConnectionConfig config = { 0 };
  g_autoptr (GPtrArray) tracks = g_ptr_array_new_with_free_func (
      (GDestroyNotify) metered_local_track_free);
  g_autoptr (GstCaps) caps = gst_caps_new_empty_simple ("video/x-vp8");
  GstElement *enc;

  pair->held = g_ptr_array_new_with_free_func (g_free);
  /* The one encode, in the owner's pipeline. */
  pair->source =
      gst_parse_launch ("videotestsrc is-live=true pattern=ball ! "
                        "video/x-raw,width=320,height=240,framerate=30/1 ! "
                        "vp8enc deadline=1 keyframe-max-dist=30 ! "
                        "appsink name=enc sync=false",
          &error);
  g_assert_no_error (error);
  enc = gst_bin_get_by_name (GST_BIN (pair->source), "enc");
  gst_app_sink_set_callbacks (GST_APP_SINK (enc), &callbacks, pair, NULL);
  gst_object_unref (enc);
  gst_element_set_state (pair->source, GST_STATE_PLAYING);
  gst_element_get_state (pair->source, NULL, NULL, GST_CLOCK_TIME_NONE);
  pair->clock = gst_pipeline_get_clock (GST_PIPELINE (pair->source));

  g_ptr_array_add (
      tracks, metered_local_track_new ("video-track", "stream-1", caps));
  config.local_peer_id = "a-sender";
  config.remote_peer_id = "b-receiver";
  config.polite = TRUE;
  config.local_tracks = tracks;
  config.receive = FALSE;
  config.clock = pair->clock;
  config.base_time = gst_element_get_base_time (pair->source);
  g_atomic_pointer_set (&pair->sender, metered_connection_new (&config));

  config.local_peer_id = "b-receiver";
  config.remote_peer_id = "a-sender";
  config.polite = FALSE;
  config.local_tracks = NULL;
  config.receive = TRUE;
  pair->receiver = metered_connection_new (&config);

  g_signal_connect (
      pair->sender, "outgoing", G_CALLBACK (on_sender_outgoing), pair);
  g_signal_connect (
      pair->sender, "state-changed", G_CALLBACK (on_sender_state), pair);
  g_signal_connect (
      pair->receiver, "outgoing", G_CALLBACK (on_receiver_outgoing), pair);
  g_signal_connect (
      pair->receiver, "remote-track", G_CALLBACK (on_remote_track), pair);
  metered_connection_set_sample_func (pair->receiver, on_sample, pair, NULL);

  g_assert_true (metered_connection_start (pair->receiver, &error));
  g_assert_no_error (error);
  g_assert_true (metered_connection_start (pair->sender, &error));
  g_assert_no_error (error);
}

static void
pair_stop (Pair *pair)
{
  metered_connection_stop (pair->sender);
  metered_connection_stop (pair->receiver);
  g_assert_true (metered_connection_wait_stopped (10000));
  gst_element_set_state (pair->source, GST_STATE_NULL);
  gst_object_unref (pair->source);
  gst_object_unref (pair->clock);
  gst_object_unref (pair->sender);
  gst_object_unref (pair->receiver);
  metered_remote_track_free (pair->seen);
  g_ptr_array_unref (pair->held);
}

static void
test_vp8_flows (void)
{
  Pair pair = { 0 };

  pair_start (&pair);
  RUN_UNTIL (g_atomic_int_get (&pair.frames) >= 60);

  g_test_message ("frames received %d (key frames %d), offers %u",
      g_atomic_int_get (&pair.frames), g_atomic_int_get (&pair.key_frames),
      pair.offers_seen);
  g_assert_cmpint (g_atomic_int_get (&pair.frames), >=, 60);
  g_assert_cmpint (g_atomic_int_get (&pair.key_frames), >=, 1);
  g_assert_true (pair.sender_connected);
  /* Only the side with media offered, once. */
  g_assert_cmpuint (pair.offers_seen, ==, 1);
  g_assert_nonnull (pair.seen);
  g_assert_cmpstr (pair.seen->kind, ==, "video");
  g_assert_cmpstr (pair.seen->stream_id, ==, "stream-1");
  g_assert_cmpstr (pair.seen->track_id, ==, "video-track");
  g_assert_cmpuint (metered_connection_get_packets_sent (pair.sender), >, 0);

  pair_stop (&pair);
}

/* The ufrag of webrtc's local description (current or pending). */
static char *
description_ufrag (GstElement *webrtc, const char *which)
{
  GstWebRTCSessionDescription *desc = NULL;
  g_autofree char *text = NULL;
  char *ufrag = NULL, *pwd = NULL;

  g_object_get (webrtc, which, &desc, NULL);
  g_assert_nonnull (desc);
  text = gst_sdp_message_as_text (desc->sdp);
  gst_webrtc_session_description_free (desc);
  g_assert_true (metered_sdp_get_ice_credentials (text, &ufrag, &pwd));
  g_free (pwd);
  return ufrag;
}

/* Our ICE restart whose offer is held up (a stalled signalling socket):
 * until the answer arrives the agent keeps answering with the credentials
 * the remote knows, so that the old pair can carry media again when the
 * path returns; the answer switches it to the offered ones and media goes
 * on. */
static void
test_restart_holds_credentials (void)
{
  Pair pair = { 0 };
  GstElement *webrtc;
  g_autofree char *before = NULL;
  g_autofree char *offered = NULL;
  g_autofree char *held = NULL;
  g_autofree char *after = NULL;
  gint frames;

  pair_start (&pair);
  RUN_UNTIL (g_atomic_int_get (&pair.frames) >= 30);
  g_assert_cmpint (g_atomic_int_get (&pair.frames), >=, 30);
  webrtc = pair.receiver->webrtc;
  before = description_ufrag (webrtc, "current-local-description");

  pair.hold_receiver_offers = TRUE;
  g_assert_true (metered_connection_restart_ice (pair.receiver));
  RUN_UNTIL (pair.held->len > 0);
  g_assert_cmpuint (pair.held->len, ==, 1);
  offered = description_ufrag (webrtc, "pending-local-description");
  held = metered_ice_restart_agent_ufrag (webrtc);
  g_test_message ("before %s offered %s agent %s", before, offered, held);
  g_assert_cmpstr (offered, !=, before);
  g_assert_cmpstr (held, ==, before);

  pair.hold_receiver_offers = FALSE;
  relay (pair.sender, g_ptr_array_index (pair.held, 0));
  RUN_UNTIL (pair.answers_seen >= 1 &&
             !metered_connection_is_negotiating (pair.receiver));
  g_assert_false (metered_connection_is_negotiating (pair.receiver));
  after = metered_ice_restart_agent_ufrag (webrtc);
  g_assert_cmpstr (after, ==, offered);
  frames = g_atomic_int_get (&pair.frames);
  RUN_UNTIL (g_atomic_int_get (&pair.frames) >= frames + 30);
  g_assert_cmpint (g_atomic_int_get (&pair.frames), >=, frames + 30);

  pair_stop (&pair);
}

int
main (int argc, char **argv)
{
  gst_init (&argc, &argv);
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/connection/vp8-flows", test_vp8_flows);
  g_test_add_func (
      "/connection/restart-holds-credentials", test_restart_holds_credentials);
  return g_test_run ();
}
