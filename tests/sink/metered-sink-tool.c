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

/* metered-sink-tool: a live test pattern through an identity (which counts
 * the buffers upstream delivers) into meteredsink, for the interop tests.
 * It prints one JSON line per bus event of the element and a status line
 * every --status-ms: buffers counted upstream, the longest gap between two
 * of them, peers, key units, signalling state. */

#include <glib-unix.h>
#include <gst/gst.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

static gint64 buffers; /* atomic */
static gint64 last_us;
static gint64 max_gap_us;
static GMutex gap_lock;
static GstElement *sink;

static GstPadProbeReturn
on_buffer (GstPad *pad, GstPadProbeInfo *info, gpointer data)
{
  gint64 now = g_get_monotonic_time ();

  g_mutex_lock (&gap_lock);
  if (last_us && now - last_us > max_gap_us)
    max_gap_us = now - last_us;
  last_us = now;
  g_mutex_unlock (&gap_lock);
  g_atomic_pointer_add (&buffers, 1);
  return GST_PAD_PROBE_OK;
}

static void
print_json_string (GString *out, const char *s)
{
  g_string_append_c (out, '"');
  for (; s && *s; s++) {
    if (*s == '"' || *s == '\\')
      g_string_append_printf (out, "\\%c", *s);
    else if ((guchar) *s < 0x20)
      g_string_append_printf (out, "\\u%04x", *s);
    else
      g_string_append_c (out, *s);
  }
  g_string_append_c (out, '"');
}

static gboolean
on_bus (GstBus *bus, GstMessage *msg, gpointer loop)
{
  GString *out = g_string_new (NULL);

  switch (GST_MESSAGE_TYPE (msg)) {
    case GST_MESSAGE_ELEMENT: {
      const GstStructure *s = gst_message_get_structure (msg);
      const char *peer;
      if (!s || !g_str_has_prefix (gst_structure_get_name (s), "metered/"))
        break;
      g_string_append (out, "{\"event\":\"bus\",\"name\":");
      print_json_string (out, gst_structure_get_name (s));
      if ((peer = gst_structure_get_string (s, "peer-id"))) {
        g_string_append (out, ",\"peerId\":");
        print_json_string (out, peer);
      }
      if (gst_structure_has_field (s, "to")) {
        g_string_append (out, ",\"to\":");
        print_json_string (out, gst_structure_get_string (s, "to"));
      }
      g_string_append (out, "}");
      break;
    }
    case GST_MESSAGE_ERROR: {
      g_autoptr (GError) error = NULL;
      const GstStructure *details = NULL;
      gint code = 0;
      gst_message_parse_error (msg, &error, NULL);
      gst_message_parse_error_details (msg, &details);
      if (details)
        gst_structure_get_int (details, "close-code", &code);
      g_string_append_printf (out,
          "{\"event\":\"error\",\"domain\":\"%s\",\"code\":%d,"
          "\"closeCode\":%d,\"message\":",
          g_quark_to_string (error->domain), error->code, code);
      print_json_string (out, error->message);
      g_string_append (out, "}");
      break;
    }
    case GST_MESSAGE_WARNING: {
      g_autoptr (GError) error = NULL;
      gst_message_parse_warning (msg, &error, NULL);
      g_string_append (out, "{\"event\":\"warning\",\"message\":");
      print_json_string (out, error->message);
      g_string_append (out, "}");
      break;
    }
    case GST_MESSAGE_EOS:
      g_string_append (out, "{\"event\":\"eos\"}");
      break;
    default:
      break;
  }
  if (out->len)
    g_print ("%s\n", out->str);
  g_string_free (out, TRUE);
  return G_SOURCE_CONTINUE;
}

static gboolean
status (gpointer data)
{
  GstStructure *stats = NULL;
  const char *state;
  guint peers = 0;
  guint64 ku_req = 0, ku_sent = 0, target = 0;
  const GValue *rates;
  GString *viewers = g_string_new (NULL);
  gint64 gap;

  g_object_get (sink, "stats", &stats, NULL);
  state = gst_structure_get_string (stats, "state");
  gst_structure_get_uint (stats, "peers", &peers);
  gst_structure_get_uint64 (stats, "key-units-requested", &ku_req);
  gst_structure_get_uint64 (stats, "key-units-sent", &ku_sent);
  gst_structure_get_uint64 (stats, "encoder-target", &target);
  /* each viewer's rate estimate and the TWCC feedback it was fed */
  rates = gst_structure_get_value (stats, "viewer-rates");
  for (guint i = 0; rates && i < gst_value_list_get_size (rates); i++) {
    const GstStructure *v =
        gst_value_get_structure (gst_value_list_get_value (rates, i));
    guint64 estimate = 0, twcc = 0;

    gst_structure_get_uint64 (v, "estimate-bps", &estimate);
    gst_structure_get_uint64 (v, "twcc-feedback", &twcc);
    g_string_append (viewers, i ? ",{\"peerId\":" : "{\"peerId\":");
    print_json_string (viewers, gst_structure_get_string (v, "peer-id"));
    g_string_append_printf (viewers,
        ",\"estimateBps\":%" G_GUINT64_FORMAT
        ",\"twccFeedback\":%" G_GUINT64_FORMAT "}",
        estimate, twcc);
  }
  g_mutex_lock (&gap_lock);
  gap = max_gap_us;
  g_mutex_unlock (&gap_lock);
  g_print ("{\"event\":\"status\",\"buffers\":%" G_GINT64_FORMAT
           ",\"maxGapMs\":%" G_GINT64_FORMAT ",\"peers\":%u,\"state\":\"%s\","
           "\"keyUnitsRequested\":%" G_GUINT64_FORMAT
           ",\"keyUnitsSent\":%" G_GUINT64_FORMAT
           ",\"encoderTarget\":%" G_GUINT64_FORMAT ",\"viewers\":[%s]}\n",
      (gint64) g_atomic_pointer_get (&buffers), gap / 1000, peers,
      state ? state : "?", ku_req, ku_sent, target, viewers->str);
  g_string_free (viewers, TRUE);
  gst_structure_free (stats);
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
  g_autofree char *url = NULL, *key = NULL, *token = NULL, *channel = NULL;
  g_autofree char *metadata = NULL, *codec = NULL, *pattern = NULL;
  gint width = 320, height = 240, fps = 30, duration = 60, status_ms = 200;
  gint bitrate = 0;
  GOptionEntry entries[] = {
    { "url", 0, 0, G_OPTION_ARG_STRING, &url, "Server URL", "URL" },
    { "key", 0, 0, G_OPTION_ARG_STRING, &key, "Publishable key", "KEY" },
    { "token", 0, 0, G_OPTION_ARG_STRING, &token, "JWT", "JWT" },
    { "channel", 0, 0, G_OPTION_ARG_STRING, &channel, "Channel", "NAME" },
    { "metadata", 0, 0, G_OPTION_ARG_STRING, &metadata,
        "stream-metadata (a GstStructure)", "S" },
    { "video-codec", 0, 0, G_OPTION_ARG_STRING, &codec, "vp8 or h264", "C" },
    { "bitrate", 0, 0, G_OPTION_ARG_INT, &bitrate, "bit/s", "N" },
    { "pattern", 0, 0, G_OPTION_ARG_STRING, &pattern,
        "videotestsrc pattern, moving (default: ball)", "P" },
    { "width", 0, 0, G_OPTION_ARG_INT, &width, "Width", "W" },
    { "height", 0, 0, G_OPTION_ARG_INT, &height, "Height", "H" },
    { "fps", 0, 0, G_OPTION_ARG_INT, &fps, "Frame rate", "F" },
    { "duration", 0, 0, G_OPTION_ARG_INT, &duration, "Seconds to run", "S" },
    { "status-ms", 0, 0, G_OPTION_ARG_INT, &status_ms, "Status interval",
        "MS" },
    { NULL },
  };
  g_autoptr (GOptionContext) ctx = g_option_context_new (NULL);
  g_autoptr (GError) error = NULL;
  g_autofree char *desc = NULL;
  GstElement *pipeline, *counter;
  GstPad *pad;
  GstBus *bus;
  GMainLoop *loop;

  gst_init (&argc, &argv);
  g_option_context_add_main_entries (ctx, entries, NULL);
  if (!g_option_context_parse (ctx, &argc, &argv, &error) || !url || !channel ||
      !(key || token)) {
    g_printerr ("usage: metered-sink-tool --url URL (--key K|--token T) "
                "--channel C [--metadata S] [--duration S]\n");
    return 2;
  }
  setvbuf (stdout, NULL, _IOLBF, 0);
  g_mutex_init (&gap_lock);

  /* another pattern scrolls, as the media tests' senders do */
  desc = g_strdup_printf ("videotestsrc is-live=true pattern=%s%s ! "
                          "video/x-raw,width=%d,height=%d,framerate=%d/1 ! "
                          "identity name=counter silent=true ! "
                          "meteredsink name=sink",
      pattern ? pattern : "ball", pattern ? " horizontal-speed=4" : "", width,
      height, fps);
  pipeline = gst_parse_launch (desc, &error);
  if (!pipeline) {
    g_printerr ("%s\n", error->message);
    return 1;
  }
  sink = gst_bin_get_by_name (GST_BIN (pipeline), "sink");
  g_object_set (sink, "url", url, "channel", channel, NULL);
  if (key)
    g_object_set (sink, "api-key", key, NULL);
  else
    g_object_set (sink, "token", token, NULL);
  if (metadata)
    gst_util_set_object_arg (G_OBJECT (sink), "stream-metadata", metadata);
  if (codec)
    gst_util_set_object_arg (G_OBJECT (sink), "video-codec", codec);
  if (bitrate > 0)
    g_object_set (sink, "bitrate", (guint) bitrate, NULL);
  counter = gst_bin_get_by_name (GST_BIN (pipeline), "counter");
  pad = gst_element_get_static_pad (counter, "src");
  gst_pad_add_probe (pad, GST_PAD_PROBE_TYPE_BUFFER, on_buffer, NULL, NULL);
  gst_object_unref (pad);
  gst_object_unref (counter);

  loop = g_main_loop_new (NULL, FALSE);
  bus = gst_pipeline_get_bus (GST_PIPELINE (pipeline));
  gst_bus_add_watch (bus, on_bus, loop);
  if (gst_element_set_state (pipeline, GST_STATE_PLAYING) ==
      GST_STATE_CHANGE_FAILURE) {
    g_printerr ("the pipeline does not start\n");
    return 1;
  }
  g_timeout_add (MAX (status_ms, 50), status, NULL);
  g_timeout_add_seconds (duration, quit, loop);
  g_unix_signal_add (SIGTERM, quit, loop);
  g_unix_signal_add (SIGINT, quit, loop);
  g_main_loop_run (loop);
  status (NULL);

  gst_element_set_state (pipeline, GST_STATE_NULL);
  gst_bus_remove_watch (bus);
  gst_object_unref (bus);
  gst_object_unref (sink);
  gst_object_unref (pipeline);
  g_main_loop_unref (loop);
  return 0;
}
