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

/* metered-recorder: records every remote peer of a channel, as sent (no
 * decoding), into files of its own.
 *
 *   meteredsrc output=encoded keep-pads-on-leave=true
 *     video_<peer>_* -> queue -> splitmuxsink (<dir>/<peer>-00000.mkv, ...)
 *     audio_<peer>_* -> queue ---^
 *
 * One splitmuxsink (Matroska) per remote peer, a new file every
 * --max-size-time seconds. Signalling drops, server restarts and
 * connection swaps feed the same pads, and a peer that leaves keeps its
 * pads (GAP events) until it comes back: the recorder just keeps running.
 * SIGINT/SIGTERM send EOS, so the open files are finished properly.
 *
 * Reports on stdout, one line per event: peer joined/left, file
 * opened/closed, signalling disconnected/reconnected, connection swapped.
 */

#include <glib-unix.h>
#include <gst/gst.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

/* A peer's first pads wait for the others of the same peer (a video and
 * an audio track), at most this long: the muxer takes no new track once
 * it has written its header. */
#define SETTLE_MS 3000

typedef struct
{
  char *id;
  GstElement *splitmux;
  GPtrArray *held; /* queue src pads blocked until the peer settles */
  gboolean settled;
  gboolean has_video;
  gboolean has_audio;
} Peer;

static GstElement *pipeline;
static GstElement *msrc;
static GHashTable *peers; /* id -> Peer* */
static GMutex peers_lock;
static GMainLoop *loop;
static char *out_dir;
static gint64 max_size_time_s = 600;
static gint exit_status;
static gboolean stopping;

static void report (const char *fmt, ...) G_GNUC_PRINTF (1, 2);

static void
report (const char *fmt, ...)
{
  g_autoptr (GDateTime) now = g_date_time_new_now_local ();
  g_autofree char *stamp = g_date_time_format (now, "%H:%M:%S");
  g_autofree char *text = NULL;
  va_list ap;

  va_start (ap, fmt);
  text = g_strdup_vprintf (fmt, ap);
  va_end (ap);
  printf (
      "%s.%03d %s\n", stamp, g_date_time_get_microsecond (now) / 1000, text);
  fflush (stdout);
}

static void
peer_free (Peer *p)
{
  g_free (p->id);
  g_ptr_array_unref (p->held);
  g_free (p);
}

/* The remote peer a pad belongs to: meteredsrc's stats name it. */
static char *
pad_peer_id (const char *pad_name)
{
  GstStructure *stats = NULL;
  const GValue *list;
  char *id = NULL;

  g_object_get (msrc, "stats", &stats, NULL);
  list = stats ? gst_structure_get_value (stats, "pad-stats") : NULL;
  for (guint i = 0; list && i < gst_value_list_get_size (list); i++) {
    const GstStructure *p =
        gst_value_get_structure (gst_value_list_get_value (list, i));
    if (!g_strcmp0 (gst_structure_get_string (p, "pad"), pad_name)) {
      id = g_strdup (gst_structure_get_string (p, "peer-id"));
      break;
    }
  }
  if (stats)
    gst_structure_free (stats);
  return id;
}

static GstPadProbeReturn
hold (GstPad *pad, GstPadProbeInfo *info, gpointer data)
{
  return GST_PAD_PROBE_OK;
}

static gboolean
settle (gpointer data)
{
  g_autofree char *id = data;
  Peer *p;

  g_mutex_lock (&peers_lock);
  p = g_hash_table_lookup (peers, id);
  if (p && !p->settled) {
    p->settled = TRUE;
    for (guint i = 0; i < p->held->len; i++)
      gst_pad_remove_probe (g_ptr_array_index (p->held, i),
          GPOINTER_TO_UINT (g_object_get_data (
              g_ptr_array_index (p->held, i), "hold-probe")));
    g_ptr_array_set_size (p->held, 0);
  }
  g_mutex_unlock (&peers_lock);
  return G_SOURCE_REMOVE;
}

static Peer *
peer_new (const char *id)
{
  Peer *p = g_new0 (Peer, 1);
  g_autofree char *safe = g_strdup (id);
  g_autofree char *location = NULL;

  /* Peer ids are the service's or a JWT's sub: keep the file name tame. */
  g_strcanon (safe,
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_", '-');
  location = g_strdup_printf ("%s/%s-%%05d.mkv", out_dir, safe);
  p->id = g_strdup (id);
  p->held = g_ptr_array_new_with_free_func (gst_object_unref);
  p->splitmux = gst_element_factory_make ("splitmuxsink", NULL);
  g_object_set (p->splitmux, "location", location, "muxer-factory",
      "matroskamux", "max-size-time", max_size_time_s * GST_SECOND,
      "send-keyframe-requests", TRUE, NULL);
  gst_bin_add (GST_BIN (pipeline), p->splitmux);
  gst_element_sync_state_with_parent (p->splitmux);
  g_timeout_add (SETTLE_MS, settle, g_strdup (id));
  return p;
}

static void
link_to_fakesink (GstPad *pad, GstElement *queue)
{
  GstElement *sink = gst_element_factory_make ("fakesink", NULL);

  g_object_set (sink, "sync", FALSE, "async", FALSE, NULL);
  gst_bin_add (GST_BIN (pipeline), sink);
  gst_element_link (queue, sink);
  gst_element_sync_state_with_parent (sink);
}

static void
on_pad_added (GstElement *element, GstPad *pad, gpointer data)
{
  g_autofree char *name = gst_pad_get_name (pad);
  g_autofree char *id = pad_peer_id (name);
  gboolean video = g_str_has_prefix (name, "video_");
  GstElement *queue = gst_element_factory_make ("queue", NULL);
  GstPad *qsink, *qsrc;
  Peer *p;
  const char *where = NULL;
  gboolean complete;

  g_object_set (queue, "max-size-time", 5 * GST_SECOND, "max-size-buffers", 0,
      "max-size-bytes", 0, NULL);
  gst_bin_add (GST_BIN (pipeline), queue);
  qsrc = gst_element_get_static_pad (queue, "src");

  g_mutex_lock (&peers_lock);
  if (!id)
    id = g_strdup ("unknown");
  p = g_hash_table_lookup (peers, id);
  if (!p) {
    p = peer_new (id);
    g_hash_table_insert (peers, g_strdup (id), p);
  }
  /* splitmuxsink takes one video track and any number of audio ones, and
   * only before its muxer has started. */
  if (!p->settled && !(video && p->has_video)) {
    GstPad *mpad = gst_element_request_pad_simple (
        p->splitmux, video ? "video" : "audio_%u");
    if (mpad && gst_pad_link (qsrc, mpad) == GST_PAD_LINK_OK) {
      g_object_set_data (G_OBJECT (qsrc), "hold-probe",
          GUINT_TO_POINTER (gst_pad_add_probe (
              qsrc, GST_PAD_PROBE_TYPE_BLOCK_DOWNSTREAM, hold, NULL, NULL)));
      g_ptr_array_add (p->held, gst_object_ref (qsrc));
      p->has_video |= video;
      p->has_audio |= !video;
      where = "recorded";
    }
    g_clear_object (&mpad);
  }
  complete = p->has_video && p->has_audio && !p->settled;
  g_mutex_unlock (&peers_lock);
  if (complete)
    settle (g_strdup (id));

  if (!where) {
    link_to_fakesink (pad, queue);
    where = "not recorded (came after the file started, or a second video)";
  }
  gst_element_sync_state_with_parent (queue);
  qsink = gst_element_get_static_pad (queue, "sink");
  gst_pad_link (pad, qsink);
  gst_object_unref (qsink);
  gst_object_unref (qsrc);
  report ("track %s of peer %s: %s", name, id, where);
}

static void
on_peer_joined (
    GstElement *element, const char *id, const char *meta, gpointer data)
{
  report ("peer joined %s", id);
}

static void
on_peer_left (GstElement *element, const char *id, gpointer data)
{
  report ("peer left %s (its files stay open until it comes back)", id);
}

static void
on_element_message (GstMessage *msg)
{
  const GstStructure *s = gst_message_get_structure (msg);
  const char *name = s ? gst_structure_get_name (s) : "";

  if (!g_strcmp0 (name, "splitmuxsink-fragment-opened")) {
    report ("file opened %s", gst_structure_get_string (s, "location"));
  } else if (!g_strcmp0 (name, "splitmuxsink-fragment-closed")) {
    report ("file closed %s", gst_structure_get_string (s, "location"));
  } else if (!g_strcmp0 (name, "metered/connected")) {
    gboolean again = FALSE;
    gst_structure_get_boolean (s, "is-reconnect", &again);
    report ("signalling %s as %s", again ? "reconnected" : "connected",
        gst_structure_get_string (s, "peer-id"));
  } else if (!g_strcmp0 (name, "metered/disconnected")) {
    gint code = 0;
    gboolean again = FALSE;
    gst_structure_get_int (s, "close-code", &code);
    gst_structure_get_boolean (s, "will-reconnect", &again);
    report ("signalling disconnected (close code %d)%s", code,
        again ? ", reconnecting; media keeps flowing" : "");
  } else if (!g_strcmp0 (name, "metered/connection-swapped")) {
    report ("media connection of peer %s replaced",
        gst_structure_get_string (s, "peer-id"));
  } else if (!g_strcmp0 (name, "metered/stuck")) {
    report ("still reconnecting the signalling");
  }
}

static gboolean
on_bus (GstBus *bus, GstMessage *msg, gpointer data)
{
  switch (GST_MESSAGE_TYPE (msg)) {
    case GST_MESSAGE_ELEMENT:
      on_element_message (msg);
      break;
    case GST_MESSAGE_ERROR: {
      g_autoptr (GError) error = NULL;
      gst_message_parse_error (msg, &error, NULL);
      report ("error from %s: %s", GST_OBJECT_NAME (GST_MESSAGE_SRC (msg)),
          error->message);
      exit_status = 1;
      g_main_loop_quit (loop);
      break;
    }
    case GST_MESSAGE_EOS:
      report ("all files finished");
      g_main_loop_quit (loop);
      break;
    default:
      break;
  }
  return G_SOURCE_CONTINUE;
}

static gboolean
give_up (gpointer data)
{
  report ("EOS did not come through in 10 s: stopping anyway");
  g_main_loop_quit (loop);
  return G_SOURCE_REMOVE;
}

static gboolean
on_signal (gpointer data)
{
  if (stopping) {
    g_main_loop_quit (loop);
    return G_SOURCE_CONTINUE;
  }
  stopping = TRUE;
  g_mutex_lock (&peers_lock);
  if (g_hash_table_size (peers) == 0) {
    /* No file open, and a meteredsrc without pads never ends by itself. */
    g_mutex_unlock (&peers_lock);
    report ("stopping: no file open");
    g_main_loop_quit (loop);
    return G_SOURCE_CONTINUE;
  }
  g_mutex_unlock (&peers_lock);
  report ("stopping: finishing the open files");
  gst_element_send_event (pipeline, gst_event_new_eos ());
  g_timeout_add_seconds (10, give_up, NULL);
  return G_SOURCE_CONTINUE;
}

int
main (int argc, char **argv)
{
  g_autofree char *url = NULL, *api_key = NULL, *token = NULL;
  g_autofree char *token_url = NULL, *channel = NULL;
  GOptionEntry entries[] = {
    { "url", 0, 0, G_OPTION_ARG_STRING, &url,
        "Signalling URL (default ws://127.0.0.1:8080)", "URL" },
    { "api-key", 0, 0, G_OPTION_ARG_STRING, &api_key, "Publishable key",
        "KEY" },
    { "token", 0, 0, G_OPTION_ARG_STRING, &token, "A JWT", "JWT" },
    { "token-url", 0, 0, G_OPTION_ARG_STRING, &token_url,
        "URL answering a fresh JWT", "URL" },
    { "channel", 0, 0, G_OPTION_ARG_STRING, &channel, "Channel to record",
        "NAME" },
    { "dir", 0, 0, G_OPTION_ARG_FILENAME, &out_dir,
        "Directory of the files (default .)", "DIR" },
    { "max-size-time", 0, 0, G_OPTION_ARG_INT64, &max_size_time_s,
        "Start a new file every S seconds (at a key frame; 0: one file per "
        "peer; default 600)",
        "S" },
    { NULL },
  };
  g_autoptr (GOptionContext) ctx =
      g_option_context_new ("- record every peer of a channel");
  g_autoptr (GError) error = NULL;
  GstBus *bus;

  gst_init (&argc, &argv);
  g_option_context_add_main_entries (ctx, entries, NULL);
  if (!g_option_context_parse (ctx, &argc, &argv, &error) || !channel ||
      (!!api_key + !!token + !!token_url) != 1 || max_size_time_s < 0) {
    g_printerr ("usage: metered-recorder --channel NAME (--api-key K | "
                "--token JWT | --token-url URL) [--url URL] [--dir DIR] "
                "[--max-size-time S]%s%s\n",
        error ? "\n" : "", error ? error->message : "");
    return 2;
  }
  if (!out_dir)
    out_dir = g_strdup (".");
  if (g_mkdir_with_parents (out_dir, 0755) != 0) {
    g_printerr ("cannot create %s\n", out_dir);
    return 2;
  }

  pipeline = gst_pipeline_new ("recorder");
  msrc = gst_element_factory_make ("meteredsrc", NULL);
  if (!msrc) {
    g_printerr ("meteredsrc not found: set GST_PLUGIN_PATH to the build's "
                "gst/ directory\n");
    return 2;
  }
  gst_util_set_object_arg (G_OBJECT (msrc), "output", "encoded");
  g_object_set (msrc, "channel", channel, "keep-pads-on-leave", TRUE, NULL);
  if (url)
    g_object_set (msrc, "url", url, NULL);
  if (api_key)
    g_object_set (msrc, "api-key", api_key, NULL);
  if (token)
    g_object_set (msrc, "token", token, NULL);
  if (token_url)
    g_object_set (msrc, "token-url", token_url, NULL);
  gst_bin_add (GST_BIN (pipeline), msrc);

  g_mutex_init (&peers_lock);
  peers = g_hash_table_new_full (
      g_str_hash, g_str_equal, g_free, (GDestroyNotify) peer_free);
  g_signal_connect (msrc, "pad-added", G_CALLBACK (on_pad_added), NULL);
  g_signal_connect (msrc, "peer-joined", G_CALLBACK (on_peer_joined), NULL);
  g_signal_connect (msrc, "peer-left", G_CALLBACK (on_peer_left), NULL);

  loop = g_main_loop_new (NULL, FALSE);
  bus = gst_pipeline_get_bus (GST_PIPELINE (pipeline));
  gst_bus_add_watch (bus, on_bus, NULL);
  g_unix_signal_add (SIGINT, on_signal, NULL);
  g_unix_signal_add (SIGTERM, on_signal, NULL);

  if (gst_element_set_state (pipeline, GST_STATE_PLAYING) ==
      GST_STATE_CHANGE_FAILURE) {
    g_printerr ("the pipeline does not start\n");
    return 1;
  }
  report ("recording channel %s into %s/ (a new file every %" G_GINT64_FORMAT
          " s)",
      channel, out_dir, max_size_time_s);
  g_main_loop_run (loop);

  gst_element_set_state (pipeline, GST_STATE_NULL);
  gst_bus_remove_watch (bus);
  gst_object_unref (bus);
  gst_object_unref (pipeline);
  g_hash_table_unref (peers);
  g_main_loop_unref (loop);
  g_free (out_dir);
  return exit_status;
}
