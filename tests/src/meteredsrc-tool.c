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

/* meteredsrc-tool: a pipeline around meteredsrc for the interop tests.
 *
 *   meteredsrc-tool [--record FILE [--mux matroskamux|webmmux]
 *                   [--record-audio]] -- PROPS...
 *       runs `meteredsrc PROPS`, links every pad that appears (the first
 *       video pad, and with --record-audio the first audio pad, into the
 *       muxer with --record, the others to fakesinks),
 *       and prints one JSON line per event (pad-added, pad-removed, errors,
 *       EOS, bus element messages, signals) and a status line every 250 ms
 *       with per-pad counters measured on the pad itself: buffers, key
 *       units, DISCONT, GAP/EOS/flush/caps events, timestamps going
 *       backwards, and how far behind the pipeline clock buffers arrive.
 *       stdin: "eos" (send EOS, wait for it, exit), "quit",
 *       "send-data PEER|- JSON", "key-unit PAD" (an upstream
 *       force-key-unit event on a pad).
 *
 *   meteredsrc-tool --verify FILE
 *       demuxes a recording (matroskademux) and prints per track: frames,
 *       key frames, PTS going backwards, first/last PTS, largest gap.
 *
 *   meteredsrc-tool --discover FILE
 *       the duration GstDiscoverer reports (what gst-discoverer-1.0 does,
 *       for machines without gstreamer1.0-plugins-base-apps).
 */

#include <gst/gst.h>
#include <gst/pbutils/pbutils.h>
#include <json-glib/json-glib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct
{
  char *name;
  guint64 buffers;
  guint64 keys;
  guint64 discont;
  guint64 gaps;
  guint64 eos;
  guint64 flushes;
  guint64 caps_events;
  guint64 backwards;
  guint64 bytes;
  GstClockTime first_pts;
  GstClockTime last_pts;
  GstClockTime max_interval; /* largest PTS step between two buffers */
  gint64 delay_min_ms; /* clock running time - PTS at the pad */
  gint64 delay_max_ms;
  gint64 last_buffer_us; /* monotonic time of the last buffer */
  char *caps;
  gboolean removed;
  gboolean latency_known; /* LATENCY query answered on the pad */
  gboolean live;
  GstClockTime latency_min;
} PadInfo;

static GMutex lock;
static GPtrArray *pads; /* PadInfo* */
static GstElement *pipeline;
static GstElement *msrc;
static GstElement *mux;
static gboolean recording_linked;
static gboolean record_audio;
static gboolean recording_audio_linked;
/* Recorded branches wait (blocked) until every recorded pad exists: a
 * muxer writes its header once and takes no track after that. */
static GPtrArray *record_blocks; /* GstPad* (queue src pads) */
static GHashTable *record_probes; /* GstPad* -> probe id */
static GMainLoop *loop;
static gint errors;
static gboolean eos_message;
static gboolean eos_wanted;
static char *our_peer_id;

static void
emit (JsonBuilder *b)
{
  g_autoptr (JsonGenerator) gen = json_generator_new ();
  g_autoptr (JsonNode) root = json_builder_get_root (b);
  g_autofree char *text = NULL;

  json_generator_set_root (gen, root);
  text = json_generator_to_data (gen, NULL);
  g_print ("%s\n", text);
}

static JsonBuilder *
event_begin (const char *name)
{
  JsonBuilder *b = json_builder_new ();

  json_builder_begin_object (b);
  json_builder_set_member_name (b, "event");
  json_builder_add_string_value (b, name);
  return b;
}

static void
event_end (JsonBuilder *b)
{
  json_builder_end_object (b);
  emit (b);
  g_object_unref (b);
}

static void
add_str (JsonBuilder *b, const char *key, const char *value)
{
  json_builder_set_member_name (b, key);
  if (value)
    json_builder_add_string_value (b, value);
  else
    json_builder_add_null_value (b);
}

static void
add_int (JsonBuilder *b, const char *key, gint64 value)
{
  json_builder_set_member_name (b, key);
  json_builder_add_int_value (b, value);
}

static void
add_time (JsonBuilder *b, const char *key, GstClockTime t)
{
  json_builder_set_member_name (b, key);
  if (GST_CLOCK_TIME_IS_VALID (t))
    json_builder_add_double_value (b, t / (double) GST_SECOND);
  else
    json_builder_add_null_value (b);
}

static GstClockTime
running_time_now (void)
{
  GstClock *clock = gst_element_get_clock (pipeline);
  GstClockTime now;

  if (!clock)
    return GST_CLOCK_TIME_NONE;
  now = gst_clock_get_time (clock) - gst_element_get_base_time (pipeline);
  gst_object_unref (clock);
  return now;
}

static GstPadProbeReturn
pad_probe (GstPad *pad, GstPadProbeInfo *info, gpointer data)
{
  PadInfo *pi = data;

  g_mutex_lock (&lock);
  if (info->type & GST_PAD_PROBE_TYPE_BUFFER) {
    GstBuffer *buf = GST_PAD_PROBE_INFO_BUFFER (info);
    GstClockTime pts = GST_BUFFER_PTS (buf);
    GstClockTime now = running_time_now ();

    pi->buffers++;
    pi->bytes += gst_buffer_get_size (buf);
    pi->last_buffer_us = g_get_monotonic_time ();
    if (!GST_BUFFER_FLAG_IS_SET (buf, GST_BUFFER_FLAG_DELTA_UNIT))
      pi->keys++;
    if (GST_BUFFER_FLAG_IS_SET (buf, GST_BUFFER_FLAG_DISCONT))
      pi->discont++;
    if (GST_CLOCK_TIME_IS_VALID (pts)) {
      if (GST_CLOCK_TIME_IS_VALID (pi->last_pts)) {
        if (pts < pi->last_pts)
          pi->backwards++;
        else if (pts - pi->last_pts > pi->max_interval)
          pi->max_interval = pts - pi->last_pts;
      } else {
        pi->first_pts = pts;
      }
      pi->last_pts = pts;
      if (GST_CLOCK_TIME_IS_VALID (now)) {
        gint64 delay = GST_CLOCK_DIFF (pts, now) / GST_MSECOND;
        if (pi->buffers == 1 || delay < pi->delay_min_ms)
          pi->delay_min_ms = delay;
        if (pi->buffers == 1 || delay > pi->delay_max_ms)
          pi->delay_max_ms = delay;
      }
    }
  } else if (info->type & GST_PAD_PROBE_TYPE_EVENT_DOWNSTREAM) {
    GstEvent *ev = GST_PAD_PROBE_INFO_EVENT (info);
    switch (GST_EVENT_TYPE (ev)) {
      case GST_EVENT_GAP:
        pi->gaps++;
        break;
      case GST_EVENT_EOS:
        pi->eos++;
        break;
      case GST_EVENT_FLUSH_START:
      case GST_EVENT_FLUSH_STOP:
        pi->flushes++;
        break;
      case GST_EVENT_CAPS: {
        GstCaps *caps;
        gst_event_parse_caps (ev, &caps);
        pi->caps_events++;
        g_free (pi->caps);
        pi->caps = gst_caps_to_string (caps);
        break;
      }
      default:
        break;
    }
  }
  g_mutex_unlock (&lock);
  return GST_PAD_PROBE_OK;
}

static PadInfo *
pad_info_new (const char *name)
{
  PadInfo *pi = g_new0 (PadInfo, 1);

  pi->name = g_strdup (name);
  pi->first_pts = pi->last_pts = GST_CLOCK_TIME_NONE;
  g_mutex_lock (&lock);
  g_ptr_array_add (pads, pi);
  g_mutex_unlock (&lock);
  return pi;
}

static GstPadProbeReturn
block_probe (GstPad *pad, GstPadProbeInfo *info, gpointer data)
{
  return GST_PAD_PROBE_OK;
}

static void
on_pad_added (GstElement *element, GstPad *pad, gpointer data)
{
  g_autofree char *name = gst_pad_get_name (pad);
  PadInfo *pi = pad_info_new (name);
  GstElement *queue = gst_element_factory_make ("queue", NULL);
  GstPad *sinkpad = NULL;
  GstElement *sink = NULL;
  JsonBuilder *b;

  gst_pad_add_probe (pad,
      GST_PAD_PROBE_TYPE_BUFFER | GST_PAD_PROBE_TYPE_EVENT_DOWNSTREAM,
      pad_probe, pi, NULL);
  g_object_set (queue, "max-size-time", (guint64) 3 * GST_SECOND,
      "max-size-buffers", 0, "max-size-bytes", 0, NULL);
  gst_bin_add (GST_BIN (pipeline), queue);
  if (mux && ((!recording_linked && g_str_has_prefix (name, "video_")) ||
                 (record_audio && !recording_audio_linked &&
                     g_str_has_prefix (name, "audio_")))) {
    gboolean video = g_str_has_prefix (name, "video_");
    GstPad *qsrc = gst_element_get_static_pad (queue, "src");
    GstPad *mpad =
        gst_element_request_pad_simple (mux, video ? "video_%u" : "audio_%u");

    if (video)
      recording_linked = TRUE;
    else
      recording_audio_linked = TRUE;
    gst_pad_link (qsrc, mpad);
    g_hash_table_insert (record_probes, gst_object_ref (qsrc),
        GUINT_TO_POINTER (gst_pad_add_probe (qsrc,
            GST_PAD_PROBE_TYPE_BLOCK_DOWNSTREAM, block_probe, NULL, NULL)));
    g_ptr_array_add (record_blocks, gst_object_ref (qsrc));
    if (recording_linked && (!record_audio || recording_audio_linked)) {
      /* Every recorded track has its muxer pad: let them all go. */
      for (guint i = 0; i < record_blocks->len; i++) {
        GstPad *p = g_ptr_array_index (record_blocks, i);
        gst_pad_remove_probe (
            p, GPOINTER_TO_UINT (g_hash_table_lookup (record_probes, p)));
      }
    }
    gst_object_unref (qsrc);
    gst_object_unref (mpad);
  } else {
    sink = gst_element_factory_make ("fakesink", NULL);
    g_object_set (sink, "sync", FALSE, "async", FALSE, NULL);
    gst_bin_add (GST_BIN (pipeline), sink);
    gst_element_link (queue, sink);
    gst_element_sync_state_with_parent (sink);
  }
  gst_element_sync_state_with_parent (queue);
  sinkpad = gst_element_get_static_pad (queue, "sink");
  if (gst_pad_link (pad, sinkpad) != GST_PAD_LINK_OK)
    g_printerr ("could not link %s\n", name);
  gst_object_unref (sinkpad);

  b = event_begin ("pad-added");
  add_str (b, "pad", name);
  event_end (b);
}

static void
on_pad_removed (GstElement *element, GstPad *pad, gpointer data)
{
  g_autofree char *name = gst_pad_get_name (pad);
  JsonBuilder *b;

  g_mutex_lock (&lock);
  for (guint i = 0; i < pads->len; i++) {
    PadInfo *pi = g_ptr_array_index (pads, i);
    if (g_str_equal (pi->name, name))
      pi->removed = TRUE;
  }
  g_mutex_unlock (&lock);
  b = event_begin ("pad-removed");
  add_str (b, "pad", name);
  event_end (b);
}

static void
on_peer (
    GstElement *element, const char *peer, const char *meta, gpointer joined)
{
  JsonBuilder *b = event_begin (joined ? "peer-joined" : "peer-left");

  add_str (b, "peer", peer);
  event_end (b);
}

static void
on_peer_left (GstElement *element, const char *peer, gpointer data)
{
  on_peer (element, peer, NULL, NULL);
}

static void
on_data (GstElement *element, const char *from, const char *json,
    const char *kind, gpointer data)
{
  JsonBuilder *b = event_begin ("data");

  add_str (b, "from", from);
  add_str (b, "data", json);
  add_str (b, "kind", kind);
  event_end (b);
}

/* Once a pad carries data, what does it answer to a LATENCY query? */
static void
query_latencies (void)
{
  g_autoptr (GPtrArray) todo = g_ptr_array_new_with_free_func (g_free);

  g_mutex_lock (&lock);
  for (guint i = 0; i < pads->len; i++) {
    PadInfo *pi = g_ptr_array_index (pads, i);
    if (!pi->latency_known && !pi->removed && pi->buffers >= 10)
      g_ptr_array_add (todo, g_strdup (pi->name));
  }
  g_mutex_unlock (&lock);
  for (guint i = 0; msrc && i < todo->len; i++) {
    const char *name = g_ptr_array_index (todo, i);
    GstPad *pad = gst_element_get_static_pad (msrc, name);
    GstQuery *q = gst_query_new_latency ();
    gboolean live = FALSE;
    GstClockTime min = 0, max = 0;

    if (pad && gst_pad_query (pad, q))
      gst_query_parse_latency (q, &live, &min, &max);
    gst_query_unref (q);
    gst_clear_object (&pad);
    g_mutex_lock (&lock);
    for (guint j = 0; j < pads->len; j++) {
      PadInfo *pi = g_ptr_array_index (pads, j);
      if (g_str_equal (pi->name, name)) {
        pi->latency_known = TRUE;
        pi->live = live;
        pi->latency_min = min;
      }
    }
    g_mutex_unlock (&lock);
  }
}

static gboolean
status (gpointer data)
{
  JsonBuilder *b;
  gint64 now_us = g_get_monotonic_time ();

  query_latencies ();
  b = event_begin ("status");

  add_int (b, "errors", g_atomic_int_get (&errors));
  json_builder_set_member_name (b, "eosMessage");
  json_builder_add_boolean_value (b, eos_message);
  add_str (b, "peerId", our_peer_id);
  add_time (b, "runningTime", running_time_now ());
  json_builder_set_member_name (b, "pads");
  json_builder_begin_object (b);
  g_mutex_lock (&lock);
  for (guint i = 0; i < pads->len; i++) {
    PadInfo *pi = g_ptr_array_index (pads, i);
    json_builder_set_member_name (b, pi->name);
    json_builder_begin_object (b);
    add_int (b, "buffers", pi->buffers);
    add_int (b, "keys", pi->keys);
    add_int (b, "discont", pi->discont);
    add_int (b, "gaps", pi->gaps);
    add_int (b, "eos", pi->eos);
    add_int (b, "flushes", pi->flushes);
    add_int (b, "capsEvents", pi->caps_events);
    add_int (b, "backwards", pi->backwards);
    add_int (b, "bytes", pi->bytes);
    add_time (b, "firstPts", pi->first_pts);
    add_time (b, "lastPts", pi->last_pts);
    add_time (b, "maxInterval", pi->max_interval);
    add_int (b, "delayMinMs", pi->delay_min_ms);
    add_int (b, "delayMaxMs", pi->delay_max_ms);
    add_int (b, "idleMs",
        pi->last_buffer_us ? (now_us - pi->last_buffer_us) / 1000 : -1);
    add_str (b, "caps", pi->caps);
    if (pi->latency_known) {
      json_builder_set_member_name (b, "live");
      json_builder_add_boolean_value (b, pi->live);
      add_int (b, "latencyMs", pi->latency_min / GST_MSECOND);
    }
    json_builder_set_member_name (b, "removed");
    json_builder_add_boolean_value (b, pi->removed);
    json_builder_end_object (b);
  }
  g_mutex_unlock (&lock);
  json_builder_end_object (b);
  event_end (b);
  return G_SOURCE_CONTINUE;
}

static gboolean
on_bus (GstBus *bus, GstMessage *msg, gpointer data)
{
  JsonBuilder *b;

  switch (GST_MESSAGE_TYPE (msg)) {
    case GST_MESSAGE_ERROR:
    case GST_MESSAGE_WARNING: {
      g_autoptr (GError) error = NULL;
      g_autofree char *debug = NULL;
      gboolean is_error = GST_MESSAGE_TYPE (msg) == GST_MESSAGE_ERROR;
      if (is_error) {
        gst_message_parse_error (msg, &error, &debug);
        g_atomic_int_inc (&errors);
      } else {
        gst_message_parse_warning (msg, &error, &debug);
      }
      b = event_begin (is_error ? "error" : "warning");
      add_str (b, "source", GST_OBJECT_NAME (GST_MESSAGE_SRC (msg)));
      add_str (b, "message", error->message);
      add_str (b, "debug", debug);
      event_end (b);
      break;
    }
    case GST_MESSAGE_EOS:
      eos_message = TRUE;
      event_end (event_begin ("eos-message"));
      if (eos_wanted)
        g_main_loop_quit (loop);
      break;
    case GST_MESSAGE_ELEMENT: {
      const GstStructure *s = gst_message_get_structure (msg);
      g_autofree char *text = NULL;
      if (!s || !g_str_has_prefix (gst_structure_get_name (s), "metered/"))
        break;
      if (gst_structure_has_name (s, "metered/connected")) {
        g_free (our_peer_id);
        our_peer_id = g_strdup (gst_structure_get_string (s, "peer-id"));
      }
      text = gst_structure_to_string (s);
      b = event_begin ("bus");
      add_str (b, "name", gst_structure_get_name (s));
      add_str (b, "structure", text);
      event_end (b);
      break;
    }
    default:
      break;
  }
  return G_SOURCE_CONTINUE;
}

static gboolean
eos_timeout (gpointer data)
{
  event_end (event_begin ("eos-timeout"));
  g_main_loop_quit (loop);
  return G_SOURCE_REMOVE;
}

static gboolean
on_stdin (GIOChannel *ch, GIOCondition cond, gpointer data)
{
  g_autofree char *line = NULL;
  gsize len = 0;
  GIOStatus st = g_io_channel_read_line (ch, &line, &len, NULL, NULL);

  if (st == G_IO_STATUS_EOF || st == G_IO_STATUS_ERROR) {
    g_main_loop_quit (loop);
    return G_SOURCE_REMOVE;
  }
  if (!line)
    return G_SOURCE_CONTINUE;
  g_strstrip (line);
  if (g_str_equal (line, "eos")) {
    eos_wanted = TRUE;
    gst_element_send_event (pipeline, gst_event_new_eos ());
    g_timeout_add_seconds (20, eos_timeout, NULL);
  } else if (g_str_equal (line, "quit")) {
    g_main_loop_quit (loop);
  } else if (g_str_has_prefix (line, "key-unit ")) {
    /* What a muxer or decoder downstream does to get a key frame. */
    GstPad *pad = gst_element_get_static_pad (msrc, line + 9);
    gboolean ok =
        pad && gst_pad_send_event (
                   pad, gst_event_new_custom (GST_EVENT_CUSTOM_UPSTREAM,
                            gst_structure_new ("GstForceKeyUnit", "all-headers",
                                G_TYPE_BOOLEAN, TRUE, NULL)));
    JsonBuilder *b = event_begin ("key-unit");
    json_builder_set_member_name (b, "sent");
    json_builder_add_boolean_value (b, ok);
    event_end (b);
    gst_clear_object (&pad);
  } else if (g_str_has_prefix (line, "send-data ")) {
    g_auto (GStrv) parts = g_strsplit (line + 10, " ", 2);
    gboolean ok = FALSE;
    if (parts[0] && parts[1])
      g_signal_emit_by_name (msrc, "send-data",
          g_str_equal (parts[0], "-") ? NULL : parts[0], parts[1], &ok);
    JsonBuilder *b = event_begin ("send-data");
    json_builder_set_member_name (b, "queued");
    json_builder_add_boolean_value (b, ok);
    event_end (b);
  }
  return G_SOURCE_CONTINUE;
}

static int
run (char **props, const char *record, const char *mux_name)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *joined = g_strjoinv (" ", props);
  g_autofree char *desc = NULL;
  GIOChannel *in;
  GstBus *bus;

  if (record)
    desc = g_strdup_printf ("meteredsrc name=s %s  %s name=mux ! "
                            "filesink location=\"%s\"",
        joined, mux_name, record);
  else
    desc = g_strdup_printf ("meteredsrc name=s %s", joined);
  pipeline = gst_parse_launch (desc, &error);
  if (!pipeline) {
    g_printerr ("cannot build the pipeline: %s\n", error->message);
    return 2;
  }
  if (!GST_IS_PIPELINE (pipeline)) {
    /* One element: gst_parse_launch returns it alone. */
    GstElement *element = pipeline;
    pipeline = gst_pipeline_new (NULL);
    gst_bin_add (GST_BIN (pipeline), element);
  }
  msrc = gst_bin_get_by_name (GST_BIN (pipeline), "s");
  mux = gst_bin_get_by_name (GST_BIN (pipeline), "mux");
  g_signal_connect (msrc, "pad-added", G_CALLBACK (on_pad_added), NULL);
  g_signal_connect (msrc, "pad-removed", G_CALLBACK (on_pad_removed), NULL);
  g_signal_connect (
      msrc, "peer-joined", G_CALLBACK (on_peer), GINT_TO_POINTER (1));
  g_signal_connect (msrc, "peer-left", G_CALLBACK (on_peer_left), NULL);
  g_signal_connect (msrc, "data", G_CALLBACK (on_data), NULL);

  loop = g_main_loop_new (NULL, FALSE);
  bus = gst_pipeline_get_bus (GST_PIPELINE (pipeline));
  gst_bus_add_watch (bus, on_bus, NULL);
  gst_object_unref (bus);
  in = g_io_channel_unix_new (0);
  g_io_add_watch (in, G_IO_IN | G_IO_HUP | G_IO_ERR, on_stdin, NULL);
  g_timeout_add (250, status, NULL);

  if (gst_element_set_state (pipeline, GST_STATE_PLAYING) ==
      GST_STATE_CHANGE_FAILURE)
    g_printerr ("pipeline does not start\n");
  event_end (event_begin ("started"));
  g_main_loop_run (loop);

  status (NULL);
  {
    /* The element's own counters (per pad: what its bridge let through
     * and dropped), before the state change clears them. */
    GstStructure *stats = NULL;
    g_autofree char *text = NULL;
    JsonBuilder *b = event_begin ("stats");
    g_object_get (msrc, "stats", &stats, NULL);
    text = stats ? gst_structure_to_string (stats) : NULL;
    add_str (b, "stats", text);
    event_end (b);
    if (stats)
      gst_structure_free (stats);
  }
  gst_element_set_state (pipeline, GST_STATE_NULL);
  event_end (event_begin ("stopped"));
  gst_clear_object (&mux);
  gst_object_unref (msrc);
  gst_object_unref (pipeline);
  g_io_channel_unref (in);
  g_main_loop_unref (loop);
  return 0;
}

/* --- --verify --- */

static void
on_demux_pad (GstElement *demux, GstPad *pad, gpointer data)
{
  g_autofree char *name = gst_pad_get_name (pad);
  PadInfo *pi = pad_info_new (name);
  GstElement *sink = gst_element_factory_make ("fakesink", NULL);
  GstPad *sinkpad;

  /* Not prerolling: one sink waiting in preroll would block the demuxer's
   * only thread and starve the other tracks. */
  g_object_set (sink, "sync", FALSE, "async", FALSE, NULL);
  gst_bin_add (GST_BIN (pipeline), sink);
  gst_element_sync_state_with_parent (sink);
  sinkpad = gst_element_get_static_pad (sink, "sink");
  gst_pad_add_probe (pad,
      GST_PAD_PROBE_TYPE_BUFFER | GST_PAD_PROBE_TYPE_EVENT_DOWNSTREAM,
      pad_probe, pi, NULL);
  gst_pad_link (pad, sinkpad);
  gst_object_unref (sinkpad);
}

static int
verify (const char *file)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *desc =
      g_strdup_printf ("filesrc location=\"%s\" ! matroskademux name=d", file);
  GstElement *demux;
  GstMessage *msg;
  GstBus *bus;
  JsonBuilder *b;
  int rc = 0;

  pipeline = gst_parse_launch (desc, &error);
  if (!pipeline) {
    g_printerr ("%s\n", error->message);
    return 2;
  }
  demux = gst_bin_get_by_name (GST_BIN (pipeline), "d");
  g_signal_connect (demux, "pad-added", G_CALLBACK (on_demux_pad), NULL);
  gst_object_unref (demux);
  gst_element_set_state (pipeline, GST_STATE_PLAYING);
  bus = gst_pipeline_get_bus (GST_PIPELINE (pipeline));
  msg = gst_bus_timed_pop_filtered (
      bus, 60 * GST_SECOND, GST_MESSAGE_EOS | GST_MESSAGE_ERROR);
  b = event_begin ("verify");
  if (!msg || GST_MESSAGE_TYPE (msg) == GST_MESSAGE_ERROR) {
    g_autoptr (GError) err = NULL;
    if (msg)
      gst_message_parse_error (msg, &err, NULL);
    add_str (b, "error", err ? err->message : "timeout");
    rc = 1;
  }
  json_builder_set_member_name (b, "tracks");
  json_builder_begin_array (b);
  g_mutex_lock (&lock);
  for (guint i = 0; i < pads->len; i++) {
    PadInfo *pi = g_ptr_array_index (pads, i);
    json_builder_begin_object (b);
    add_str (b, "pad", pi->name);
    add_str (b, "caps", pi->caps);
    add_int (b, "frames", pi->buffers);
    add_int (b, "keys", pi->keys);
    add_int (b, "backwards", pi->backwards);
    add_time (b, "firstPts", pi->first_pts);
    add_time (b, "lastPts", pi->last_pts);
    add_time (b, "maxInterval", pi->max_interval);
    json_builder_end_object (b);
  }
  g_mutex_unlock (&lock);
  json_builder_end_array (b);
  event_end (b);
  if (msg)
    gst_message_unref (msg);
  gst_object_unref (bus);
  gst_element_set_state (pipeline, GST_STATE_NULL);
  gst_object_unref (pipeline);
  return rc;
}

static int
discover (const char *file)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GstDiscoverer) disc = gst_discoverer_new (30 * GST_SECOND, &error);
  g_autofree char *uri = gst_filename_to_uri (file, NULL);
  g_autoptr (GstDiscovererInfo) info = NULL;
  JsonBuilder *b = event_begin ("discover");

  if (disc)
    info = gst_discoverer_discover_uri (disc, uri, &error);
  if (!info || gst_discoverer_info_get_result (info) != GST_DISCOVERER_OK) {
    add_str (b, "error", error ? error->message : "not discovered");
    event_end (b);
    return 1;
  }
  add_time (b, "duration", gst_discoverer_info_get_duration (info));
  event_end (b);
  return 0;
}

int
main (int argc, char **argv)
{
  g_autofree char *record = NULL;
  g_autofree char *mux_name = NULL;
  g_autofree char *verify_file = NULL;
  g_autofree char *discover_file = NULL;
  g_auto (GStrv) props = NULL;
  GOptionEntry entries[] = {
    { "record", 0, 0, G_OPTION_ARG_FILENAME, &record,
        "Record the first video pad into FILE", "FILE" },
    { "mux", 0, 0, G_OPTION_ARG_STRING, &mux_name,
        "Muxer for --record (matroskamux)", "NAME" },
    { "record-audio", 0, 0, G_OPTION_ARG_NONE, &record_audio,
        "--record takes the first audio pad too", NULL },
    { "verify", 0, 0, G_OPTION_ARG_FILENAME, &verify_file,
        "Demux FILE and print per-track counters", "FILE" },
    { "discover", 0, 0, G_OPTION_ARG_FILENAME, &discover_file,
        "Print the duration GstDiscoverer finds in FILE", "FILE" },
    { G_OPTION_REMAINING, 0, 0, G_OPTION_ARG_STRING_ARRAY, &props,
        "meteredsrc properties", "PROP=VALUE..." },
    { NULL },
  };
  g_autoptr (GOptionContext) ctx = g_option_context_new (NULL);
  g_autoptr (GError) error = NULL;

  gst_init (&argc, &argv);
  g_option_context_add_main_entries (ctx, entries, NULL);
  if (!g_option_context_parse (ctx, &argc, &argv, &error)) {
    g_printerr ("%s\n", error->message);
    return 2;
  }
  setvbuf (stdout, NULL, _IOLBF, 0);
  g_mutex_init (&lock);
  pads = g_ptr_array_new ();
  record_blocks = g_ptr_array_new_with_free_func (gst_object_unref);
  record_probes = g_hash_table_new_full (NULL, NULL, gst_object_unref, NULL);
  if (verify_file)
    return verify (verify_file);
  if (discover_file)
    return discover (discover_file);
  if (!props) {
    g_printerr ("usage: meteredsrc-tool [--record FILE] -- PROP=VALUE...\n");
    return 2;
  }
  return run (props, record, mux_name ? mux_name : "matroskamux");
}
