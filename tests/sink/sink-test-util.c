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

#include "sink-test-util.h"

#include <gst/app/gstappsink.h>
#include <string.h>

static void
on_direct (MeteredSignallingClient *client, const char *from, const char *data,
    const char *from_metadata, SinkFakePeer *peer)
{
  g_ptr_array_add (peer->directs, g_strdup_printf ("%s %s", from, data));
}

static void
on_message (MeteredSignallingClient *client, const char *channel,
    const char *from, const char *data, const char *from_metadata,
    SinkFakePeer *peer)
{
  g_ptr_array_add (peer->messages, g_strdup_printf ("%s %s", from, data));
}

SinkFakePeer *
sink_fake_peer_join (TestServer *server, const char *channel)
{
  SinkFakePeer *peer = g_new0 (SinkFakePeer, 1);
  g_autofree char *url = test_server_url (server);
  g_autoptr (GError) error = NULL;

  peer->directs = g_ptr_array_new_with_free_func (g_free);
  peer->messages = g_ptr_array_new_with_free_func (g_free);
  peer->client = metered_signalling_client_new (NULL, NULL);
  g_object_set (peer->client, "url", url, "api-key", "pk_dev_local",
      "reconnect-max-attempts", (gint64) 1, NULL);
  g_signal_connect (peer->client, "direct", G_CALLBACK (on_direct), peer);
  g_signal_connect (peer->client, "message", G_CALLBACK (on_message), peer);
  if (!test_client_connect (peer->client, 5000, &error))
    g_error ("fake peer cannot connect: %s", error->message);
  if (!test_client_subscribe (peer->client, channel, 5000, &error))
    g_error ("fake peer cannot join %s: %s", channel, error->message);
  peer->peer_id = metered_signalling_client_dup_peer_id (peer->client);
  return peer;
}

void
sink_fake_peer_leave (SinkFakePeer *peer)
{
  if (!peer)
    return;
  g_signal_handlers_disconnect_by_data (peer->client, peer);
  metered_signalling_client_close (peer->client, 1000, "bye");
  test_drain ();
  g_object_unref (peer->client);
  test_drain ();
  g_ptr_array_unref (peer->directs);
  g_ptr_array_unref (peer->messages);
  g_free (peer->peer_id);
  g_free (peer);
}

const char *
sink_fake_peer_find_direct (
    SinkFakePeer *peer, const char *from, const char *needle)
{
  gsize n = strlen (from);

  for (guint i = 0; i < peer->directs->len; i++) {
    const char *d = g_ptr_array_index (peer->directs, i);
    if (strncmp (d, from, n) == 0 && d[n] == ' ' && strstr (d + n + 1, needle))
      return d + n + 1;
  }
  return NULL;
}

/* --- bus --- */

static GstBusSyncReply
on_bus_message (GstBus *bus, GstMessage *msg, gpointer data)
{
  SinkBusLog *log = data;
  const char *name = NULL;
  GstStructure *s = NULL;

  switch (GST_MESSAGE_TYPE (msg)) {
    case GST_MESSAGE_ELEMENT: {
      const GstStructure *ms = gst_message_get_structure (msg);
      if (ms && g_str_has_prefix (gst_structure_get_name (ms), "metered/")) {
        name = gst_structure_get_name (ms);
        s = gst_structure_copy (ms);
      }
      break;
    }
    case GST_MESSAGE_ERROR: {
      GError *error = NULL;
      const GstStructure *details = NULL;
      gst_message_parse_error (msg, &error, NULL);
      gst_message_parse_error_details (msg, &details);
      name = "error";
      s = details ? gst_structure_copy (details)
                  : gst_structure_new_empty ("details");
      g_mutex_lock (&log->lock);
      if (!log->error) {
        log->error = error;
        log->error_time_us = g_get_monotonic_time ();
        error = NULL;
      }
      g_mutex_unlock (&log->lock);
      g_clear_error (&error);
      break;
    }
    case GST_MESSAGE_WARNING:
      name = "warning";
      s = gst_structure_new_empty ("warning");
      break;
    default:
      break;
  }
  if (name) {
    g_mutex_lock (&log->lock);
    g_ptr_array_add (log->names, g_strdup (name));
    g_ptr_array_add (log->structures, s);
    g_mutex_unlock (&log->lock);
  }
  /* a sync handler that drops a message owns it */
  gst_message_unref (msg);
  return GST_BUS_DROP;
}

SinkBusLog *
sink_bus_log_new (GstElement *element)
{
  SinkBusLog *log = g_new0 (SinkBusLog, 1);

  g_mutex_init (&log->lock);
  log->names = g_ptr_array_new_with_free_func (g_free);
  log->structures =
      g_ptr_array_new_with_free_func ((GDestroyNotify) gst_structure_free);
  if (GST_IS_PIPELINE (element)) {
    log->bus = gst_pipeline_get_bus (GST_PIPELINE (element));
  } else {
    log->bus = gst_bus_new ();
    gst_element_set_bus (element, log->bus);
  }
  gst_bus_set_sync_handler (log->bus, on_bus_message, log, NULL);
  return log;
}

void
sink_bus_log_free (SinkBusLog *log)
{
  if (!log)
    return;
  gst_bus_set_sync_handler (log->bus, NULL, NULL, NULL);
  gst_object_unref (log->bus);
  g_ptr_array_unref (log->names);
  g_ptr_array_unref (log->structures);
  g_clear_error (&log->error);
  g_mutex_clear (&log->lock);
  g_free (log);
}

guint
sink_bus_log_count (SinkBusLog *log, const char *name, guint from)
{
  guint n = 0;

  g_mutex_lock (&log->lock);
  for (guint i = from; i < log->names->len; i++)
    if (g_str_equal (g_ptr_array_index (log->names, i), name))
      n++;
  g_mutex_unlock (&log->lock);
  return n;
}

guint
sink_bus_log_length (SinkBusLog *log)
{
  guint n;

  g_mutex_lock (&log->lock);
  n = log->names->len;
  g_mutex_unlock (&log->lock);
  return n;
}

guint
sink_bus_log_count_with (SinkBusLog *log, const char *name, const char *field,
    const char *value, guint from)
{
  guint n = 0;

  g_mutex_lock (&log->lock);
  for (guint i = from; i < log->names->len; i++)
    if (g_str_equal (g_ptr_array_index (log->names, i), name) &&
        g_strcmp0 (gst_structure_get_string (
                       g_ptr_array_index (log->structures, i), field),
            value) == 0)
      n++;
  g_mutex_unlock (&log->lock);
  return n;
}

gint
sink_bus_log_error_index (SinkBusLog *log)
{
  gint index = -1;

  g_mutex_lock (&log->lock);
  for (guint i = 0; i < log->names->len && index < 0; i++)
    if (g_str_equal (g_ptr_array_index (log->names, i), "error"))
      index = (gint) i;
  g_mutex_unlock (&log->lock);
  return index;
}

char *
sink_bus_log_dup_string (SinkBusLog *log, const char *name, const char *field)
{
  char *value = NULL;

  g_mutex_lock (&log->lock);
  for (guint i = log->names->len; i > 0 && !value; i--)
    if (g_str_equal (g_ptr_array_index (log->names, i - 1), name))
      value = g_strdup (gst_structure_get_string (
          g_ptr_array_index (log->structures, i - 1), field));
  g_mutex_unlock (&log->lock);
  return value;
}

GstStructure *
sink_bus_log_dup_structure (SinkBusLog *log, const char *name)
{
  GstStructure *s = NULL;

  g_mutex_lock (&log->lock);
  for (guint i = log->names->len; i > 0 && !s; i--)
    if (g_str_equal (g_ptr_array_index (log->names, i - 1), name))
      s = gst_structure_copy (g_ptr_array_index (log->structures, i - 1));
  g_mutex_unlock (&log->lock);
  return s;
}

gboolean
sink_bus_log_has_error (SinkBusLog *log)
{
  gboolean has;

  g_mutex_lock (&log->lock);
  has = log->error != NULL;
  g_mutex_unlock (&log->lock);
  return has;
}

/* --- media --- */

GPtrArray *
sink_make_vp8_frames (guint n)
{
  g_autofree char *desc = g_strdup_printf (
      "videotestsrc num-buffers=%u pattern=ball ! "
      "video/x-raw,width=160,height=120,framerate=30/1 ! "
      "vp8enc deadline=1 keyframe-max-dist=30 ! appsink name=out sync=false",
      n);
  g_autoptr (GError) error = NULL;
  GstElement *pipeline = gst_parse_launch (desc, &error);
  GstElement *out;
  GPtrArray *frames =
      g_ptr_array_new_with_free_func ((GDestroyNotify) gst_buffer_unref);
  GstSample *sample;

  g_assert_no_error (error);
  out = gst_bin_get_by_name (GST_BIN (pipeline), "out");
  gst_element_set_state (pipeline, GST_STATE_PLAYING);
  while ((sample = gst_app_sink_pull_sample (GST_APP_SINK (out)))) {
    GstBuffer *b = gst_buffer_copy (gst_sample_get_buffer (sample));
    GST_BUFFER_PTS (b) = GST_BUFFER_DTS (b) = GST_CLOCK_TIME_NONE;
    g_ptr_array_add (frames, b);
    gst_sample_unref (sample);
  }
  gst_element_set_state (pipeline, GST_STATE_NULL);
  gst_object_unref (out);
  gst_object_unref (pipeline);
  g_assert_cmpuint (frames->len, ==, n);
  return frames;
}

/* --- stats --- */

static const GstStructure *
track_stats (const GstStructure *stats, guint index)
{
  const GValue *list = gst_structure_get_value (stats, "track-stats");

  if (!list || index >= gst_value_list_get_size (list))
    return NULL;
  return gst_value_get_structure (gst_value_list_get_value (list, index));
}

guint64
sink_stats_track_u64 (GstElement *sink, guint index, const char *field)
{
  GstStructure *stats = NULL;
  const GstStructure *t;
  guint64 v = 0;

  g_object_get (sink, "stats", &stats, NULL);
  t = track_stats (stats, index);
  if (t)
    gst_structure_get_uint64 (t, field, &v);
  gst_structure_free (stats);
  return v;
}

char *
sink_stats_track_string (GstElement *sink, guint index, const char *field)
{
  GstStructure *stats = NULL;
  const GstStructure *t;
  char *v = NULL;

  g_object_get (sink, "stats", &stats, NULL);
  t = track_stats (stats, index);
  if (t)
    v = g_strdup (gst_structure_get_string (t, field));
  gst_structure_free (stats);
  return v;
}

guint
sink_stats_peers (GstElement *sink)
{
  GstStructure *stats = NULL;
  guint n = 0;

  g_object_get (sink, "stats", &stats, NULL);
  gst_structure_get_uint (stats, "peers", &n);
  gst_structure_free (stats);
  return n;
}
