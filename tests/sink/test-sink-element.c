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

/* meteredsink without a network: pads, properties, caps, and buffers
 * flowing through every kind of chain with nobody connected (upstream must
 * always get GST_FLOW_OK). The signalling URL points at a closed port: the
 * element keeps retrying in the background, which must not matter. */

#include <gst/check/gstcheck.h>
#include <gst/check/gstharness.h>

#include "sink-test-util.h"

#define OFFLINE_URL "ws://127.0.0.1:9"
#define I420_CAPS "video/x-raw,format=I420,width=160,height=120,framerate=30/1"
#define I420_SIZE (160 * 120 * 3 / 2)

static GstElement *
make_sink (void)
{
  GstElement *e = gst_element_factory_make ("meteredsink", "sink");

  fail_unless (e != NULL);
  g_object_set (e, "url", OFFLINE_URL, "channel", "unit", "api-key",
      "pk_dev_local", NULL);
  return e;
}

/* A harness on pad of a fresh element (playing at once). */
static GstHarness *
make_harness (const char *pad, const char *video_codec)
{
  GstElement *e = make_sink ();
  GstHarness *h;

  if (video_codec)
    gst_util_set_object_arg (G_OBJECT (e), "video-codec", video_codec);
  h = gst_harness_new_with_element (e, pad, NULL);
  gst_object_unref (e);
  return h;
}

/* Waits (bounded) until track 0 of sink has sent at least n buffers. */
static gboolean
wait_buffers_sent (GstElement *sink, guint64 n)
{
  gint64 deadline = g_get_monotonic_time () + 10 * G_USEC_PER_SEC;

  while (sink_stats_track_u64 (sink, 0, "buffers-sent") < n) {
    if (g_get_monotonic_time () > deadline)
      return FALSE;
    g_usleep (5000);
  }
  return TRUE;
}

static GstFlowReturn
push_raw (GstHarness *h, guint i, gsize size)
{
  GstBuffer *b = gst_harness_create_buffer (h, size);

  gst_buffer_memset (b, 0, (guint8) (i * 7), size);
  GST_BUFFER_PTS (b) = i * 33 * GST_MSECOND;
  GST_BUFFER_DURATION (b) = 33 * GST_MSECOND;
  return gst_harness_push (h, b);
}

/* Whether the bin holds an element made by factory. */
static gboolean
has_child (GstElement *bin, const char *factory)
{
  gboolean found = FALSE;

  GST_OBJECT_LOCK (bin);
  for (GList *l = GST_BIN_CHILDREN (bin); l && !found; l = l->next)
    found = g_str_equal (
        GST_OBJECT_NAME (gst_element_get_factory (l->data)), factory);
  GST_OBJECT_UNLOCK (bin);
  return found;
}

/* --- pads --- */

GST_START_TEST (test_pads_request_release)
{
  GstElement *e = gst_element_factory_make ("meteredsink", NULL);
  GstPad *v0, *v1, *a0, *v7, *v8;
  GstPadTemplate *templ;

  v0 = gst_element_request_pad_simple (e, "video_%u");
  v1 = gst_element_request_pad_simple (e, "video_%u");
  a0 = gst_element_request_pad_simple (e, "audio_%u");
  fail_unless_equals_string (GST_PAD_NAME (v0), "video_0");
  fail_unless_equals_string (GST_PAD_NAME (v1), "video_1");
  fail_unless_equals_string (GST_PAD_NAME (a0), "audio_0");
  fail_unless (GST_PAD_IS_SINK (v0) && GST_PAD_IS_SINK (a0));
  templ = gst_pad_get_pad_template (a0);
  fail_unless_equals_int (GST_PAD_TEMPLATE_PRESENCE (templ), GST_PAD_REQUEST);
  gst_object_unref (templ);

  /* A name of one's own; numbering goes on after the highest. */
  v7 = gst_element_request_pad_simple (e, "video_7");
  fail_unless (v7 != NULL);
  fail_unless_equals_string (GST_PAD_NAME (v7), "video_7");
  v8 = gst_element_request_pad_simple (e, "video_%u");
  fail_unless_equals_string (GST_PAD_NAME (v8), "video_8");
  fail_unless_equals_int (e->numsinkpads, 5);
  fail_unless_equals_int (e->numsrcpads, 0);
  /* one appsink per pad, nothing else before caps */
  fail_unless_equals_int (GST_BIN_NUMCHILDREN (e), 5);

  for (GstPad **p = (GstPad *[]){ v0, v1, a0, v7, v8, NULL }; *p; p++) {
    gst_element_release_request_pad (e, *p);
    gst_object_unref (*p);
  }
  fail_unless_equals_int (e->numsinkpads, 0);
  fail_unless_equals_int (GST_BIN_NUMCHILDREN (e), 0);
  gst_object_unref (e);
}

GST_END_TEST;

GST_START_TEST (test_pads_refused_after_start)
{
  GstElement *e = make_sink ();
  GstPad *v0 = gst_element_request_pad_simple (e, "video_%u");

  fail_unless_equals_int (
      gst_element_set_state (e, GST_STATE_PAUSED), GST_STATE_CHANGE_NO_PREROLL);
  /* The tracks were announced when it started. */
  fail_unless (gst_element_request_pad_simple (e, "audio_%u") == NULL);
  fail_unless_equals_int (
      gst_element_set_state (e, GST_STATE_NULL), GST_STATE_CHANGE_SUCCESS);
  /* Back in NULL it can take new pads again. */
  {
    GstPad *a0 = gst_element_request_pad_simple (e, "audio_%u");
    fail_unless (a0 != NULL);
    gst_element_release_request_pad (e, a0);
    gst_object_unref (a0);
  }
  gst_element_release_request_pad (e, v0);
  gst_object_unref (v0);
  gst_object_unref (e);
}

GST_END_TEST;

/* --- properties --- */

GST_START_TEST (test_properties_defaults_and_ranges)
{
  GstElement *e = gst_element_factory_make ("meteredsink", NULL);
  GObjectClass *klass = G_OBJECT_GET_CLASS (e);
  GParamSpec *p;
  gint video_codec = -1, audio_codec = -1;
  guint bitrate = 0, dead = 0, inactivity = 0;
  gint64 attempts = 0;
  GstStructure *md = (GstStructure *) 0x1, *stats = NULL;
  g_autofree char *url = NULL, *channel = NULL, *key = NULL;

  g_object_get (e, "video-codec", &video_codec, "audio-codec", &audio_codec,
      "bitrate", &bitrate, "stream-metadata", &md, "url", &url, "channel",
      &channel, "api-key", &key, "reconnect-max-attempts", &attempts,
      "dead-peer-timeout", &dead, "inactivity-timeout", &inactivity, "stats",
      &stats, NULL);
  fail_unless_equals_int (video_codec, 0); /* vp8 */
  fail_unless_equals_int (audio_codec, 0); /* opus */
  fail_unless_equals_int (bitrate, 1000000);
  fail_unless (md == NULL);
  fail_unless_equals_string (url, "wss://rms.metered.ca");
  fail_unless (channel == NULL && key == NULL);
  fail_unless_equals_int64 (attempts, -1); /* forever: an ingest box */
  fail_unless_equals_int (dead, 10000);
  fail_unless_equals_int (inactivity, 60000);
  fail_unless_equals_string (gst_structure_get_name (stats), "metered/stats");
  fail_unless_equals_string (gst_structure_get_string (stats, "state"), "idle");
  fail_unless (gst_structure_has_field (stats, "track-stats"));
  gst_structure_free (stats);

  p = g_object_class_find_property (klass, "bitrate");
  fail_unless_equals_int (G_PARAM_SPEC_UINT (p)->minimum, 50000);
  fail_unless_equals_int (G_PARAM_SPEC_UINT (p)->maximum, 50000000);
  fail_unless (p->flags & GST_PARAM_MUTABLE_PLAYING);
  p = g_object_class_find_property (klass, "reconnect-max-attempts");
  fail_unless_equals_int64 (G_PARAM_SPEC_INT64 (p)->minimum, -1);
  p = g_object_class_find_property (klass, "dead-peer-timeout");
  fail_unless_equals_int (G_PARAM_SPEC_UINT (p)->minimum, 1000);
  p = g_object_class_find_property (klass, "channel");
  fail_unless (p->flags & GST_PARAM_MUTABLE_READY);
  p = g_object_class_find_property (klass, "stats");
  fail_if (p->flags & G_PARAM_WRITABLE);
  for (const char **n = (const char *[]){ "url", "channel", "api-key", "token",
           "token-url", "stun-server", "turn-servers", "reconnect-max-attempts",
           "reconnect-initial-delay", "reconnect-max-delay",
           "inactivity-timeout", "stuck-timeout", "dead-peer-timeout", "stats",
           "video-codec", "audio-codec", "bitrate", "stream-metadata", NULL };
       *n; n++) {
    p = g_object_class_find_property (klass, *n);
    fail_unless (p != NULL, "no property %s", *n);
    fail_unless (g_param_spec_get_blurb (p) && *g_param_spec_get_blurb (p));
  }

  gst_util_set_object_arg (G_OBJECT (e), "video-codec", "h264");
  g_object_get (e, "video-codec", &video_codec, NULL);
  fail_unless_equals_int (video_codec, 1);
  g_object_set (e, "bitrate", 2500000, NULL);
  g_object_get (e, "bitrate", &bitrate, NULL);
  fail_unless_equals_int (bitrate, 2500000);
  gst_object_unref (e);
}

GST_END_TEST;

GST_START_TEST (test_properties_credentials_masked)
{
  GstElement *e = gst_element_factory_make ("meteredsink", NULL);
  g_autofree char *key = NULL, *token = NULL, *turn = NULL, *token_url = NULL;

  g_object_set (e, "api-key", "pk_secret_value", "token", "eyJ.secret.sig",
      "turn-servers", "turn://user:hunter2@turn.example:3478", "token-url",
      "https://user:hunter2@auth.example/token?key=abc123", NULL);
  g_object_get (e, "api-key", &key, "token", &token, "turn-servers", &turn,
      "token-url", &token_url, NULL);
  fail_unless_equals_string (key, "***");
  fail_unless_equals_string (token, "***");
  fail_unless_equals_string (turn, "***");
  /* The query's key is masked. (The URL's user:password is not: see the
   * issue note, metered_scrub_url() keeps userinfo.) */
  fail_if (strstr (token_url, "abc123") != NULL, "%s", token_url);
  gst_object_unref (e);
}

GST_END_TEST;

GST_START_TEST (test_properties_stream_metadata)
{
  GstElement *e = gst_element_factory_make ("meteredsink", NULL);
  GstStructure *md = NULL;

  gst_util_set_object_arg (
      G_OBJECT (e), "stream-metadata", "meta, role=camera, index=(int)2");
  g_object_get (e, "stream-metadata", &md, NULL);
  fail_unless (md != NULL);
  fail_unless_equals_string (gst_structure_get_string (md, "role"), "camera");
  gst_structure_free (md);
  g_object_set (e, "stream-metadata", NULL, NULL);
  g_object_get (e, "stream-metadata", &md, NULL);
  fail_unless (md == NULL);
  gst_object_unref (e);
}

GST_END_TEST;

static void
check_start_fails (GstElement *e, GstResourceError code)
{
  SinkBusLog *log = sink_bus_log_new (e);

  fail_unless_equals_int (
      gst_element_set_state (e, GST_STATE_PAUSED), GST_STATE_CHANGE_FAILURE);
  fail_unless (sink_bus_log_has_error (log));
  fail_unless (g_error_matches (log->error, GST_RESOURCE_ERROR, code), "got %s",
      log->error->message);
  gst_element_set_state (e, GST_STATE_NULL);
  sink_bus_log_free (log);
}

GST_START_TEST (test_config_errors)
{
  GstElement *e = gst_element_factory_make ("meteredsink", NULL);
  GstPad *pad = gst_element_request_pad_simple (e, "video_%u");

  /* no channel */
  g_object_set (e, "url", OFFLINE_URL, "api-key", "pk_dev_local", NULL);
  check_start_fails (e, GST_RESOURCE_ERROR_SETTINGS);
  /* two credentials */
  g_object_set (e, "channel", "unit", "token", "a.b.c", NULL);
  check_start_fails (e, GST_RESOURCE_ERROR_SETTINGS);
  /* no credential */
  g_object_set (e, "token", NULL, "api-key", NULL, NULL);
  check_start_fails (e, GST_RESOURCE_ERROR_SETTINGS);
  /* plain ws:// to a remote host */
  g_object_set (
      e, "api-key", "pk_dev_local", "url", "ws://example.com:8080", NULL);
  check_start_fails (e, GST_RESOURCE_ERROR_SETTINGS);
  gst_element_release_request_pad (e, pad);
  gst_object_unref (pad);
  gst_object_unref (e);
}

GST_END_TEST;

/* --- caps --- */

static gboolean
accepts (GstPad *pad, const char *caps_str)
{
  g_autoptr (GstCaps) caps = gst_caps_from_string (caps_str);

  return gst_pad_query_accept_caps (pad, caps);
}

GST_START_TEST (test_caps_accepted)
{
  GstElement *e = gst_element_factory_make ("meteredsink", NULL);
  GstPad *v = gst_element_request_pad_simple (e, "video_%u");
  GstPad *a = gst_element_request_pad_simple (e, "audio_%u");

  fail_unless (accepts (v, I420_CAPS));
  fail_unless (accepts (v, "video/x-raw,format=RGBA,width=64,height=64"));
  fail_unless (accepts (v, "video/x-vp8,width=64,height=64"));
  fail_unless (accepts (v, "video/x-vp9"));
  fail_unless (
      accepts (v, "video/x-h264,stream-format=avc,alignment=au,width=64"));
  fail_unless (accepts (v, "video/x-h264,stream-format=byte-stream"));
  fail_if (accepts (v, "video/x-raw(memory:GLMemory),format=RGBA"));
  fail_if (accepts (v, "image/jpeg"));
  fail_if (accepts (v, "audio/x-raw,format=S16LE"));
  fail_if (accepts (v, "audio/x-opus"));

  fail_unless (accepts (a, "audio/x-raw,format=F32LE,layout=interleaved,"
                           "rate=44100,channels=2"));
  fail_unless (accepts (a, "audio/x-opus,channel-mapping-family=0"));
  fail_if (accepts (a, "audio/mpeg,mpegversion=4"));
  fail_if (accepts (a, I420_CAPS));

  for (GstPad **p = (GstPad *[]){ v, a, NULL }; *p; p++) {
    gst_element_release_request_pad (e, *p);
    gst_object_unref (*p);
  }
  gst_object_unref (e);
}

GST_END_TEST;

GST_START_TEST (test_caps_query_prefers_i420)
{
  GstElement *e = gst_element_factory_make ("meteredsink", NULL);
  GstPad *v = gst_element_request_pad_simple (e, "video_%u");
  g_autoptr (GstCaps) filter = gst_caps_from_string (
      "video/x-raw,format={RGBA,I420,NV12},width=320,height=240");
  g_autoptr (GstCaps) caps = gst_pad_query_caps (v, filter);

  /* A source that can produce several formats picks the encoder's. */
  fail_unless (gst_caps_get_size (caps) >= 1);
  fail_unless_equals_string (
      gst_structure_get_string (gst_caps_get_structure (caps, 0), "format"),
      "I420");
  gst_element_release_request_pad (e, v);
  gst_object_unref (v);
  gst_object_unref (e);
}

GST_END_TEST;

GST_START_TEST (test_caps_after_start)
{
  GstHarness *h = make_harness ("video_0", "vp8");
  GstPad *pad = GST_PAD_PEER (h->srcpad);

  /* Announced as VP8 when it started: raw or VP8 only from now on. */
  fail_unless (accepts (pad, I420_CAPS));
  fail_unless (accepts (pad, "video/x-vp8"));
  fail_if (accepts (pad, "video/x-h264,stream-format=byte-stream"));
  fail_if (accepts (pad, "video/x-vp9"));
  gst_harness_teardown (h);
}

GST_END_TEST;

/* --- flow with nobody connected --- */

GST_START_TEST (test_flow_raw_video_no_peers)
{
  GstHarness *h = make_harness ("video_0", NULL);
  g_autofree char *chain = NULL, *codec = NULL;

  gst_harness_set_src_caps_str (h, I420_CAPS);
  for (guint i = 0; i < 300; i++)
    fail_unless_equals_int (push_raw (h, i, I420_SIZE), GST_FLOW_OK);
  fail_unless (wait_buffers_sent (h->element, 1));
  chain = sink_stats_track_string (h->element, 0, "chain");
  codec = sink_stats_track_string (h->element, 0, "codec");
  fail_unless_equals_string (chain, "encode");
  fail_unless_equals_string (codec, "video/x-vp8");
  gst_harness_teardown (h);
}

GST_END_TEST;

GST_START_TEST (test_flow_vp8_passthrough_no_peers)
{
  GstHarness *h = make_harness ("video_0", NULL);
  g_autoptr (GPtrArray) frames = sink_make_vp8_frames (60);
  g_autofree char *chain = NULL;

  gst_harness_set_src_caps_str (
      h, "video/x-vp8,width=160,height=120,framerate=30/1");
  for (guint i = 0; i < 300; i++) {
    GstBuffer *b = gst_buffer_copy (g_ptr_array_index (frames, i % 60));
    GST_BUFFER_PTS (b) = GST_BUFFER_DTS (b) = i * 33 * GST_MSECOND;
    fail_unless_equals_int (gst_harness_push (h, b), GST_FLOW_OK);
  }
  /* pass-through runs on the pushing thread: all of them went on */
  fail_unless_equals_int (
      sink_stats_track_u64 (h->element, 0, "buffers-sent"), 300);
  chain = sink_stats_track_string (h->element, 0, "chain");
  fail_unless_equals_string (chain, "pass-through");
  gst_harness_teardown (h);
}

GST_END_TEST;

GST_START_TEST (test_flow_raw_audio_no_peers)
{
  GstHarness *h = make_harness ("audio_0", NULL);
  g_autofree char *codec = NULL;

  gst_harness_set_src_caps_str (
      h, "audio/x-raw,format=S16LE,layout=interleaved,rate=48000,channels=2");
  for (guint i = 0; i < 300; i++) {
    /* 20 ms of stereo S16 */
    fail_unless_equals_int (push_raw (h, i, 960 * 4), GST_FLOW_OK);
  }
  fail_unless (wait_buffers_sent (h->element, 1));
  codec = sink_stats_track_string (h->element, 0, "codec");
  fail_unless_equals_string (codec, "audio/x-opus");
  gst_harness_teardown (h);
}

GST_END_TEST;

/* Raw at one size, then another, then encoded VP8, then raw again: the
 * chain behind the pad follows and upstream never sees an error. */
GST_START_TEST (test_flow_caps_change_midstream)
{
  GstHarness *h = make_harness ("video_0", NULL);
  g_autoptr (GPtrArray) frames = sink_make_vp8_frames (30);
  g_autofree char *chain = NULL;
  guint i = 0;
  guint64 sent;

  gst_harness_set_src_caps_str (h, I420_CAPS);
  for (; i < 60; i++)
    fail_unless_equals_int (push_raw (h, i, I420_SIZE), GST_FLOW_OK);
  fail_unless (wait_buffers_sent (h->element, 1));

  gst_harness_set_src_caps_str (
      h, "video/x-raw,format=I420,width=320,height=240,framerate=30/1");
  sent = sink_stats_track_u64 (h->element, 0, "buffers-sent");
  for (; i < 120; i++)
    fail_unless_equals_int (push_raw (h, i, 320 * 240 * 3 / 2), GST_FLOW_OK);
  fail_unless (wait_buffers_sent (h->element, sent + 1));

  gst_harness_set_src_caps_str (
      h, "video/x-vp8,width=160,height=120,framerate=30/1");
  chain = sink_stats_track_string (h->element, 0, "chain");
  fail_unless_equals_string (chain, "pass-through");
  sent = sink_stats_track_u64 (h->element, 0, "buffers-sent");
  for (guint k = 0; k < 30; k++, i++) {
    GstBuffer *b = gst_buffer_copy (g_ptr_array_index (frames, k));
    GST_BUFFER_PTS (b) = i * 33 * GST_MSECOND;
    fail_unless_equals_int (gst_harness_push (h, b), GST_FLOW_OK);
  }
  fail_unless_equals_int (
      sink_stats_track_u64 (h->element, 0, "buffers-sent"), sent + 30);

  gst_harness_set_src_caps_str (h, I420_CAPS);
  g_clear_pointer (&chain, g_free);
  chain = sink_stats_track_string (h->element, 0, "chain");
  fail_unless_equals_string (chain, "encode");
  sent = sink_stats_track_u64 (h->element, 0, "buffers-sent");
  for (guint k = 0; k < 60; k++, i++)
    fail_unless_equals_int (push_raw (h, i, I420_SIZE), GST_FLOW_OK);
  fail_unless (wait_buffers_sent (h->element, sent + 1));
  gst_harness_teardown (h);
}

GST_END_TEST;

/* The codec is chosen anew at every start: a chain built for VP8 in one
 * run does not survive into a run that announces H.264. */
GST_START_TEST (test_codec_change_between_runs)
{
  GstHarness *h = make_harness ("video_0", "vp8");
  g_autofree char *codec1 = NULL, *codec2 = NULL;

  gst_harness_set_src_caps_str (
      h, "video/x-raw,format=I420,width=320,height=240,framerate=30/1");
  for (guint i = 0; i < 30; i++)
    fail_unless_equals_int (push_raw (h, i, 320 * 240 * 3 / 2), GST_FLOW_OK);
  fail_unless (wait_buffers_sent (h->element, 1));
  codec1 = sink_stats_track_string (h->element, 0, "codec");
  fail_unless_equals_string (codec1, "video/x-vp8");
  fail_unless (has_child (h->element, "vp8enc"));

  fail_unless_equals_int (gst_element_set_state (h->element, GST_STATE_NULL),
      GST_STATE_CHANGE_SUCCESS);
  gst_util_set_object_arg (G_OBJECT (h->element), "video-codec", "h264");
  gst_harness_play (h);
  fail_unless (gst_harness_push_event (h, gst_event_new_stream_start ("2")));
  gst_harness_set_src_caps_str (
      h, "video/x-raw,format=I420,width=320,height=240,framerate=30/1");
  for (guint i = 0; i < 30; i++)
    fail_unless_equals_int (push_raw (h, i, 320 * 240 * 3 / 2), GST_FLOW_OK);
  codec2 = sink_stats_track_string (h->element, 0, "codec");
  fail_unless_equals_string (codec2, "video/x-h264");
  fail_unless (has_child (h->element, "openh264enc"));
  fail_if (has_child (h->element, "vp8enc"));
  fail_unless (wait_buffers_sent (h->element, 1));
  gst_harness_teardown (h);
}

GST_END_TEST;

/* --- whole pipelines: what gets encoded and what passed through --- */

static GstElement *
run_pipeline (const char *desc, const char *props)
{
  g_autofree char *full =
      g_strdup_printf ("%s meteredsink name=s url=" OFFLINE_URL
                       " channel=unit api-key=pk_dev_local %s",
          desc, props);
  g_autoptr (GError) error = NULL;
  GstElement *p = gst_parse_launch (full, &error);

  fail_unless (p != NULL, "%s", error ? error->message : "?");
  fail_unless (
      gst_element_set_state (p, GST_STATE_PLAYING) != GST_STATE_CHANGE_FAILURE);
  return p;
}

GST_START_TEST (test_upstream_encoded_only_is_passed_through)
{
  /* video-codec=h264, but upstream can only deliver VP8: VP8 it is. */
  GstElement *p = run_pipeline (
      "videotestsrc is-live=true ! video/x-raw,width=160,height=120 ! "
      "vp8enc deadline=1 ! s.",
      "video-codec=h264");
  GstElement *s = gst_bin_get_by_name (GST_BIN (p), "s");
  g_autofree char *codec = NULL, *chain = NULL;

  fail_unless (wait_buffers_sent (s, 10));
  codec = sink_stats_track_string (s, 0, "codec");
  chain = sink_stats_track_string (s, 0, "chain");
  fail_unless_equals_string (codec, "video/x-vp8");
  fail_unless_equals_string (chain, "pass-through");
  gst_element_set_state (p, GST_STATE_NULL);
  gst_object_unref (s);
  gst_object_unref (p);
}

GST_END_TEST;

GST_START_TEST (test_h264_and_opus_encode)
{
  GstElement *p = run_pipeline (
      "videotestsrc is-live=true ! video/x-raw,width=320,height=240 ! s. "
      "audiotestsrc is-live=true ! s.",
      "video-codec=h264");
  GstElement *s = gst_bin_get_by_name (GST_BIN (p), "s");
  g_autofree char *vcodec = NULL, *acodec = NULL, *kind0 = NULL;
  gint64 deadline = g_get_monotonic_time () + 10 * G_USEC_PER_SEC;
  guint v, a;

  kind0 = sink_stats_track_string (s, 0, "kind");
  v = g_str_equal (kind0, "video") ? 0 : 1;
  a = 1 - v;
  while (sink_stats_track_u64 (s, v, "buffers-sent") < 10 ||
         sink_stats_track_u64 (s, a, "buffers-sent") < 10) {
    fail_unless (g_get_monotonic_time () < deadline);
    g_usleep (10000);
  }
  vcodec = sink_stats_track_string (s, v, "codec");
  acodec = sink_stats_track_string (s, a, "codec");
  fail_unless_equals_string (vcodec, "video/x-h264");
  fail_unless_equals_string (acodec, "audio/x-opus");
  gst_element_set_state (p, GST_STATE_NULL);
  gst_object_unref (s);
  gst_object_unref (p);
}

GST_END_TEST;

GST_START_TEST (test_live_no_preroll_and_send_data_when_stopped)
{
  GstElement *e = make_sink ();
  GstPad *v = gst_element_request_pad_simple (e, "video_%u");
  gboolean ok = TRUE;

  g_signal_emit_by_name (e, "send-data", NULL, "{\"a\":1}", &ok);
  fail_if (ok, "send-data works only while running");
  fail_unless_equals_int (
      gst_element_set_state (e, GST_STATE_PAUSED), GST_STATE_CHANGE_NO_PREROLL);
  g_signal_emit_by_name (e, "send-data", NULL, "not json", &ok);
  fail_if (ok);
  g_signal_emit_by_name (e, "send-data", "bad\001id", "{}", &ok);
  fail_if (ok);
  /* queued until the (closed) server answers: accepted */
  g_signal_emit_by_name (e, "send-data", NULL, "{\"a\":1}", &ok);
  fail_unless (ok);
  fail_unless_equals_int (
      gst_element_set_state (e, GST_STATE_PLAYING), GST_STATE_CHANGE_SUCCESS);
  fail_unless_equals_int (
      gst_element_set_state (e, GST_STATE_PAUSED), GST_STATE_CHANGE_NO_PREROLL);
  fail_unless_equals_int (
      gst_element_set_state (e, GST_STATE_NULL), GST_STATE_CHANGE_SUCCESS);
  gst_element_release_request_pad (e, v);
  gst_object_unref (v);
  gst_object_unref (e);
}

GST_END_TEST;

/* A pipeline started while its server is down: the element keeps trying,
 * says it will, and warns once stuck-timeout has passed. Port 9 on
 * loopback refuses at once. */
GST_START_TEST (test_server_down_at_start_is_stuck_not_fatal)
{
  GstElement *e = make_sink ();
  GstBus *bus = gst_bus_new ();
  gboolean stuck = FALSE, warned = FALSE, retry_said = FALSE;
  gint64 deadline = g_get_monotonic_time () + 20 * G_USEC_PER_SEC;

  g_object_set (e, "stuck-timeout", 500, "reconnect-initial-delay", 100,
      "reconnect-max-delay", 200, NULL);
  gst_element_set_bus (e, bus);
  fail_unless_equals_int (
      gst_element_set_state (e, GST_STATE_PLAYING), GST_STATE_CHANGE_SUCCESS);
  while (
      !(stuck && warned && retry_said) && g_get_monotonic_time () < deadline) {
    GstMessage *m = gst_bus_timed_pop (bus, 100 * GST_MSECOND);
    const GstStructure *st;

    if (!m)
      continue;
    fail_if (GST_MESSAGE_TYPE (m) == GST_MESSAGE_ERROR,
        "server down at start must not be an error");
    if (GST_MESSAGE_TYPE (m) == GST_MESSAGE_WARNING)
      warned = TRUE;
    st = gst_message_get_structure (m);
    if (GST_MESSAGE_TYPE (m) == GST_MESSAGE_ELEMENT && st) {
      gboolean will = FALSE;

      if (gst_structure_has_name (st, "metered/stuck"))
        stuck = TRUE;
      if (gst_structure_has_name (st, "metered/disconnected") &&
          gst_structure_get_boolean (st, "will-reconnect", &will) && will)
        retry_said = TRUE;
    }
    gst_message_unref (m);
  }
  fail_unless (stuck, "no metered/stuck while the server is down");
  fail_unless (warned, "no warning with the stuck message");
  fail_unless (retry_said, "metered/disconnected did not say will-reconnect");
  fail_unless_equals_int (
      gst_element_set_state (e, GST_STATE_NULL), GST_STATE_CHANGE_SUCCESS);
  gst_element_set_bus (e, NULL);
  gst_object_unref (bus);
  gst_object_unref (e);
}

GST_END_TEST;

static Suite *
meteredsink_suite (void)
{
  Suite *s = suite_create ("meteredsink");
  TCase *tc = tcase_create ("element");

  tcase_set_timeout (tc, 60);
  suite_add_tcase (s, tc);
  tcase_add_test (tc, test_pads_request_release);
  tcase_add_test (tc, test_pads_refused_after_start);
  tcase_add_test (tc, test_properties_defaults_and_ranges);
  tcase_add_test (tc, test_properties_credentials_masked);
  tcase_add_test (tc, test_properties_stream_metadata);
  tcase_add_test (tc, test_config_errors);
  tcase_add_test (tc, test_caps_accepted);
  tcase_add_test (tc, test_caps_query_prefers_i420);
  tcase_add_test (tc, test_caps_after_start);
  tcase_add_test (tc, test_flow_raw_video_no_peers);
  tcase_add_test (tc, test_flow_vp8_passthrough_no_peers);
  tcase_add_test (tc, test_flow_raw_audio_no_peers);
  tcase_add_test (tc, test_flow_caps_change_midstream);
  tcase_add_test (tc, test_codec_change_between_runs);
  tcase_add_test (tc, test_upstream_encoded_only_is_passed_through);
  tcase_add_test (tc, test_h264_and_opus_encode);
  tcase_add_test (tc, test_live_no_preroll_and_send_data_when_stopped);
  tcase_add_test (tc, test_server_down_at_start_is_stuck_not_fatal);
  return s;
}

GST_CHECK_MAIN (meteredsink);
