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

/* metered-peer-tool: a MeteredSession on the command line, for interop
 * tests. It joins a channel, optionally sends a live VP8 test pattern
 * (encoded once, fanned out to every peer), counts what it receives, and
 * prints one JSON line per event and a status line every second. */

#include "peer/metered-session.h"

#include <gst/app/gstappsink.h>
#include <gst/app/gstappsrc.h>
#include <stdio.h>

static gint frames_received; /* atomic */
static gint key_frames; /* atomic */
static gint frames_sent; /* atomic */
static gint frames_decoded; /* atomic */
static MeteredSession *session;
static GstElement *decoder_src; /* appsrc of the --decode pipeline */

static void
on_decoded (GstElement *fakesink, GstBuffer *buffer, GstPad *pad, gpointer data)
{
  g_atomic_int_inc (&frames_decoded);
}

static void
on_sample (MeteredSession *s, const char *peer_id,
    const MeteredRemoteTrack *track, GstBuffer *buffer, gpointer data)
{
  if (g_strcmp0 (track->kind, "video") != 0)
    return;
  g_atomic_int_inc (&frames_received);
  if (!GST_BUFFER_FLAG_IS_SET (buffer, GST_BUFFER_FLAG_DELTA_UNIT))
    g_atomic_int_inc (&key_frames);
  /* --decode: the received video really decodes into pictures. */
  if (decoder_src && track->caps) {
    static gsize caps_set = 0;
    if (g_once_init_enter (&caps_set)) {
      g_autofree char *text = gst_caps_to_string (track->caps);
      g_print ("{\"event\":\"receiving\",\"caps\":\"%s\"}\n", text);
      gst_app_src_set_caps (GST_APP_SRC (decoder_src), track->caps);
      g_once_init_leave (&caps_set, 1);
    }
    gst_app_src_push_buffer (
        GST_APP_SRC (decoder_src), gst_buffer_ref (buffer));
  }
}

static GstFlowReturn
on_encoded (GstAppSink *sink, gpointer data)
{
  GstSample *sample = gst_app_sink_pull_sample (sink);

  if (!sample)
    return GST_FLOW_EOS;
  metered_session_push (session, "video-track", gst_sample_get_buffer (sample));
  g_atomic_int_inc (&frames_sent);
  gst_sample_unref (sample);
  return GST_FLOW_OK;
}

static void
on_key_unit (MeteredSession *s, const char *track_id, GstElement *encoder)
{
  /* One shared encoder: a viewer's key frame request goes upstream. */
  GstPad *pad = gst_element_get_static_pad (encoder, "sink");
  gst_pad_send_event (pad, gst_event_new_custom (GST_EVENT_CUSTOM_DOWNSTREAM,
                               gst_structure_new ("GstForceKeyUnit",
                                   "all-headers", G_TYPE_BOOLEAN, TRUE, NULL)));
  gst_object_unref (pad);
}

static void
on_peer_state (MeteredRemotePeer *peer, MeteredRemotePeerState from,
    MeteredRemotePeerState to, gpointer data)
{
  g_print ("{\"event\":\"peer-state\",\"peer\":\"%s\",\"from\":\"%s\","
           "\"to\":\"%s\"}\n",
      metered_remote_peer_get_id (peer),
      metered_remote_peer_state_to_string (from),
      metered_remote_peer_state_to_string (to));
}

static void
on_connection_reset (MeteredRemotePeer *peer, gpointer data)
{
  g_print ("{\"event\":\"connection-reset\",\"peer\":\"%s\"}\n",
      metered_remote_peer_get_id (peer));
}

static void
on_session_state (MeteredSession *s, MeteredSessionState from,
    MeteredSessionState to, gpointer data)
{
  g_autoptr (GEnumClass) klass = g_type_class_ref (METERED_TYPE_SESSION_STATE);

  g_print ("{\"event\":\"session-state\",\"from\":\"%s\",\"to\":\"%s\"}\n",
      g_enum_get_value (klass, from)->value_nick,
      g_enum_get_value (klass, to)->value_nick);
}

static void
on_session_error (
    MeteredSession *s, const char *name, const char *message, gpointer data)
{
  g_print ("{\"event\":\"error\",\"name\":\"%s\"}\n", name);
}

static void
on_peer_joined (MeteredSession *s, const char *id, const char *meta)
{
  MeteredRemotePeer *peer = metered_session_dup_peer (s, id);

  g_print ("{\"event\":\"peer-joined\",\"peer\":\"%s\"}\n", id);
  if (peer) {
    g_signal_connect (peer, "state-changed", G_CALLBACK (on_peer_state), NULL);
    g_signal_connect (
        peer, "connection-reset", G_CALLBACK (on_connection_reset), NULL);
    g_object_unref (peer);
  }
}

static void
on_peer_left (MeteredSession *s, const char *id)
{
  g_print ("{\"event\":\"peer-left\",\"peer\":\"%s\"}\n", id);
}

static gboolean data_sent;

static void
on_data (
    MeteredSession *s, const char *from, const char *json, const char *kind)
{
  g_print ("{\"event\":\"data\",\"from\":\"%s\",\"kind\":\"%s\","
           "\"data\":%s}\n",
      from, kind, json);
}

static void
on_remote_track (MeteredSession *s, const char *peer, const char *kind,
    const char *stream_id, const char *track_id, const char *meta)
{
  /* Once media flows both sides know each other: send data both ways
   * (a direct from a peer the SDK does not know is dropped). */
  if (!data_sent) {
    data_sent = TRUE;
    metered_session_send_data (s, NULL, "{\"hello\":\"broadcast\"}", NULL);
    metered_session_send_data (s, peer, "{\"hello\":\"direct\"}", NULL);
  }
  g_print ("{\"event\":\"remote-track\",\"peer\":\"%s\",\"kind\":\"%s\","
           "\"metadata\":%s}\n",
      peer, kind, meta ? meta : "null");
}

static void
on_swapped (MeteredSession *s, const char *peer)
{
  g_print ("{\"event\":\"connection-swapped\",\"peer\":\"%s\"}\n", peer);
}

static void
on_ice_restart (MeteredSession *s, const char *peer, const char *initiator)
{
  g_autoptr (GVariant) stats = metered_session_get_peer_stats (session);
  g_autofree char *text = g_variant_print (stats, FALSE);

  g_print ("{\"event\":\"ice-restart\",\"peer\":\"%s\","
           "\"initiator\":\"%s\"}\n",
      peer, initiator);
  g_printerr ("peer stats: %s\n", text);
}

static void
on_joined (MeteredSession *s)
{
  g_print ("{\"event\":\"joined\"}\n");
}

static gboolean
status (gpointer data)
{
  g_print ("{\"event\":\"status\",\"peers\":%u,\"framesReceived\":%d,"
           "\"keyFrames\":%d,\"framesSent\":%d,\"framesDecoded\":%d}\n",
      metered_session_count_peers (session),
      g_atomic_int_get (&frames_received), g_atomic_int_get (&key_frames),
      g_atomic_int_get (&frames_sent), g_atomic_int_get (&frames_decoded));
  return G_SOURCE_CONTINUE;
}

static gboolean
quit (gpointer loop)
{
  g_main_loop_quit (loop);
  return G_SOURCE_REMOVE;
}

int
main (int argc, char **argv)
{
  g_autofree char *url = NULL;
  g_autofree char *key = NULL;
  g_autofree char *token = NULL;
  g_autofree char *channel = NULL;
  gboolean send = FALSE, recv = FALSE;
  gint duration = 20;
  gint status_ms = 1000;
  g_autofree char *codec = NULL;
  gboolean decode = FALSE;
  gint dead_peer_ms = 10000;
  g_autofree char *recv_codec = NULL;
  GstElement *decode_pipeline = NULL;
  GOptionEntry entries[] = { { "url", 0, 0, G_OPTION_ARG_STRING, &url,
                                 "Server URL", "URL" },
    { "key", 0, 0, G_OPTION_ARG_STRING, &key, "Publishable key", "KEY" },
    { "token", 0, 0, G_OPTION_ARG_STRING, &token, "JWT", "JWT" },
    { "channel", 0, 0, G_OPTION_ARG_STRING, &channel, "Channel", "NAME" },
    { "send", 0, 0, G_OPTION_ARG_NONE, &send, "Send a VP8 test pattern", NULL },
    { "recv", 0, 0, G_OPTION_ARG_NONE, &recv, "Receive media", NULL },
    { "duration", 0, 0, G_OPTION_ARG_INT, &duration, "Seconds to run", "S" },
    { "codec", 0, 0, G_OPTION_ARG_STRING, &codec,
        "Codec to send: vp8 (default) or h264", "C" },
    { "decode", 0, 0, G_OPTION_ARG_NONE, &decode,
        "Decode received video and count decoded frames", NULL },
    { "recv-codec", 0, 0, G_OPTION_ARG_STRING, &recv_codec,
        "Preferred codec to receive (vp8, h264)", "C" },
    { "dead-peer-timeout", 0, 0, G_OPTION_ARG_INT, &dead_peer_ms,
        "ms without media before a fresh connection", "MS" },
    { "status-ms", 0, 0, G_OPTION_ARG_INT, &status_ms,
        "Status line interval in ms", "MS" },
    { NULL } };
  g_autoptr (GOptionContext) ctx = g_option_context_new (NULL);
  g_autoptr (GError) error = NULL;
  MeteredSignallingClient *client;
  GstElement *source = NULL;
  GMainLoop *loop;

  gst_init (&argc, &argv);
  g_option_context_add_main_entries (ctx, entries, NULL);
  if (!g_option_context_parse (ctx, &argc, &argv, &error) || !url || !channel ||
      !(key || token)) {
    g_printerr ("usage: metered-peer-tool --url URL (--key K|--token T) "
                "--channel C [--send] [--recv] [--duration S]\n");
    return 2;
  }
  setvbuf (stdout, NULL, _IOLBF, 0);

  loop = g_main_loop_new (NULL, FALSE);
  client = metered_signalling_client_new (NULL, NULL);
  g_object_set (client, "url", url, "reconnect-initial-delay", 200,
      "reconnect-max-attempts", (gint64) -1, NULL);
  if (key)
    g_object_set (client, "api-key", key, NULL);
  else
    g_object_set (client, "token", token, NULL);
  session = metered_session_new (client, channel);
  metered_session_set_receive (session, recv);
  metered_session_set_dead_peer_timeout (session, dead_peer_ms);
  if (recv_codec) {
    const char *codecs[] = { recv_codec, "vp8", "opus", NULL };
    metered_session_set_receive_codecs (session, codecs);
  }
  metered_session_set_sample_func (session, on_sample, NULL, NULL);

  if (send) {
    GstAppSinkCallbacks callbacks = { NULL, NULL, on_encoded };
    gboolean h264 = g_strcmp0 (codec, "h264") == 0;
    g_autoptr (GstCaps) caps =
        h264 ? gst_caps_from_string ("video/x-h264,stream-format=byte-stream,"
                                     "alignment=au")
             : gst_caps_new_empty_simple ("video/x-vp8");
    MeteredLocalTrack *track =
        metered_local_track_new ("video-track", "gst-stream", caps);
    GstElement *sink, *encoder;
    GstClock *clock;

    source = gst_parse_launch (
        h264 ? "videotestsrc is-live=true pattern=ball ! "
               "video/x-raw,width=320,height=240,framerate=30/1 ! "
               "openh264enc name=enc ! h264parse config-interval=-1 ! "
               "video/x-h264,stream-format=byte-stream,alignment=au ! "
               "appsink name=out sync=false"
             : "videotestsrc is-live=true pattern=ball ! "
               "video/x-raw,width=320,height=240,framerate=30/1 ! "
               "vp8enc name=enc deadline=1 keyframe-max-dist=60 "
               "target-bitrate=400000 ! appsink name=out sync=false",
        &error);
    g_assert_no_error (error);
    sink = gst_bin_get_by_name (GST_BIN (source), "out");
    encoder = gst_bin_get_by_name (GST_BIN (source), "enc");
    gst_app_sink_set_callbacks (GST_APP_SINK (sink), &callbacks, NULL, NULL);
    gst_element_set_state (source, GST_STATE_PLAYING);
    gst_element_get_state (source, NULL, NULL, GST_CLOCK_TIME_NONE);
    clock = gst_pipeline_get_clock (GST_PIPELINE (source));
    metered_session_set_clock (
        session, clock, gst_element_get_base_time (source));
    metered_session_add_local_track (session, track, "{\"role\":\"camera\"}");
    g_signal_connect (
        session, "key-unit-request", G_CALLBACK (on_key_unit), encoder);
    metered_local_track_free (track);
    gst_object_unref (clock);
    gst_object_unref (sink);
  }

  if (decode) {
    GstElement *fakesink;
    decode_pipeline = gst_parse_launch (
        "appsrc name=in is-live=true format=time "
        "max-buffers=60 leaky-type=downstream ! queue ! decodebin ! "
        "fakesink name=out sync=false signal-handoffs=true",
        &error);
    g_assert_no_error (error);
    decoder_src = gst_bin_get_by_name (GST_BIN (decode_pipeline), "in");
    fakesink = gst_bin_get_by_name (GST_BIN (decode_pipeline), "out");
    g_signal_connect (fakesink, "handoff", G_CALLBACK (on_decoded), NULL);
    gst_object_unref (fakesink);
    gst_element_set_state (decode_pipeline, GST_STATE_PLAYING);
  }

  g_signal_connect (session, "peer-joined", G_CALLBACK (on_peer_joined), NULL);
  g_signal_connect (session, "peer-left", G_CALLBACK (on_peer_left), NULL);
  g_signal_connect (
      session, "remote-track", G_CALLBACK (on_remote_track), NULL);
  g_signal_connect (
      session, "connection-swapped", G_CALLBACK (on_swapped), NULL);
  g_signal_connect (session, "ice-restart", G_CALLBACK (on_ice_restart), NULL);
  g_signal_connect (session, "joined", G_CALLBACK (on_joined), NULL);
  g_signal_connect (session, "data", G_CALLBACK (on_data), NULL);
  g_signal_connect (
      session, "state-changed", G_CALLBACK (on_session_state), NULL);
  g_signal_connect (session, "error", G_CALLBACK (on_session_error), NULL);
  metered_session_start (session);

  g_timeout_add (MAX (status_ms, 50), status, NULL);
  g_timeout_add_seconds (duration, quit, loop);
  g_main_loop_run (loop);
  status (NULL);

  metered_session_stop (session);
  g_object_unref (session);
  g_object_unref (client);
  if (source) {
    gst_element_set_state (source, GST_STATE_NULL);
    gst_object_unref (source);
  }
  if (decode_pipeline) {
    gst_element_set_state (decode_pipeline, GST_STATE_NULL);
    gst_clear_object (&decoder_src);
    gst_object_unref (decode_pipeline);
  }
  metered_connection_wait_stopped (10000);
  g_main_loop_unref (loop);
  return 0;
}
