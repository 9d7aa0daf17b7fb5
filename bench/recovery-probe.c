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

/* recovery-probe: the driver of bench/recovery.sh (built and run by it).
 *
 * One process, two pipelines, both ends ours, each element's signalling
 * through its own loopback TCP proxy (tests/client/metered-test-proxy.c)
 * in front of metered-server:
 *
 *   sender:   videotestsrc is-live=true pattern=black (320x240, 30 fps)
 *             ! [probe: the frame number, painted as 20 blocks of the
 *             top row of the picture] ! meteredsink (VP8)
 *   receiver: meteredsrc output=decoded ! [probe: reads the number back]
 *             ! fakesink
 *
 * The number survives the codec (16x16 black or white blocks, 16 bits of
 * counter and 4 of check sum), so the receiver knows exactly which frames
 * it got, whatever the RTP timestamps or connections did. Per run:
 *
 *   steady  no fault: frames lost over 6 s.
 *   outage  both proxies refuse and cut every socket for --outage-ms
 *           (media untouched), then forward again; window: 1 s before to
 *           4 s after both elements are back and any swap settled.
 *   swap    the sender's signalling socket is cut once (it reconnects at
 *           once): its session rebuilds the connection (reconcile after
 *           its own reconnect, a fresh offer), so does the receiver's.
 *           Also timed: from the receiver's new connection's first media
 *           (its remote-track, logged by metered-session when webrtcbin
 *           exposes the pad on the first packet) to the first frame at
 *           meteredsrc's output after the new connection took the video
 *           over (metered-session's "the new connection continues the
 *           stream" / "takes over").
 *
 * Lost = frame numbers missing between the first and the last frame the
 * receiver saw in the window; dups = frames seen twice; gap = the longest
 * time between two frames at meteredsrc's output (monotonic clock) in the
 * window; swaps = connection-swapped messages of meteredsrc; recover =
 * fault to both elements (outage) / the sender (swap) signalling again.
 * On stderr, per run, the frames counted at each stage (painted, into and
 * out of meteredsink's encoder, sent to the connections, received,
 * through meteredsrc's pad bridge, out): where the missing ones went.
 * RECOVERY_VERBOSE=1 adds timed logs of the session and the bridge and
 * every jump at the output.
 *
 *   recovery-probe --port P --src-token JWT --sink-token JWT [--runs N]
 *                  [--outage-ms MS] [--scenarios steady,outage,swap]
 */

#include "metered-test-proxy.h"

#include <gst/gst.h>
#include <gst/video/video.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define BLOCK 16
#define NBITS 20
#define MAX_FRAMES (1 << 16)

typedef struct
{
  gint64 t_us; /* monotonic time the frame reached meteredsrc's output */
  guint n;
} Seen;

static GMutex lock;
static gboolean verbose; /* RECOVERY_VERBOSE=1: timed logs, output jumps */
static GArray *seen; /* Seen */
static guint unreadable;
static guint sent;
static GArray *remote_tracks_us; /* gint64: receiver's remote-track logs */
static GArray *swaps_us; /* gint64: receiver's connection-swapped */
static GArray *switches_us; /* gint64: the receiver's video taken over by
                             * a new connection (metered-session log) */
static guint connected_src, connected_sink;
static guint enc_in, enc_out; /* meteredsink's encoder, both sides */
static GstElement *sender_sink, *receiver_src;

static gint64
now_us (void)
{
  return g_get_monotonic_time ();
}

static guint
checksum (guint n)
{
  return (guint) __builtin_popcount (n) & 15;
}

/* --- sender: paints the frame number --- */

static GstPadProbeReturn
stamp_probe (GstPad *pad, GstPadProbeInfo *info, gpointer data)
{
  GstVideoInfo *vinfo = data;
  GstBuffer *buf = gst_buffer_make_writable (GST_PAD_PROBE_INFO_BUFFER (info));
  GstVideoFrame frame;
  guint n, word;

  GST_PAD_PROBE_INFO_DATA (info) = buf;
  g_mutex_lock (&lock);
  n = sent++ % MAX_FRAMES;
  g_mutex_unlock (&lock);
  word = n | (checksum (n) << 16);
  if (!gst_video_frame_map (&frame, vinfo, buf, GST_MAP_WRITE))
    return GST_PAD_PROBE_OK;
  for (guint bit = 0; bit < NBITS; bit++) {
    guint8 v = (word >> bit) & 1 ? 235 : 16;
    guint8 *y = GST_VIDEO_FRAME_COMP_DATA (&frame, 0);
    gint stride = GST_VIDEO_FRAME_COMP_STRIDE (&frame, 0);
    for (guint row = 0; row < BLOCK; row++)
      memset (y + row * stride + bit * BLOCK, v, BLOCK);
  }
  gst_video_frame_unmap (&frame);
  return GST_PAD_PROBE_OK;
}

static gint64 enc_t_in, enc_busy_us, enc_max_us, down_max_us, enc_t_out;

static GstPadProbeReturn
count_probe (GstPad *pad, GstPadProbeInfo *info, gpointer counter)
{
  gint64 t = now_us ();
  g_mutex_lock (&lock);
  (*(guint *) counter)++;
  if (counter == &enc_in) {
    if (enc_t_out && t - enc_t_out > down_max_us)
      down_max_us = t - enc_t_out;
    enc_t_in = t;
  } else if (enc_t_in) {
    enc_busy_us += t - enc_t_in;
    enc_max_us = MAX (enc_max_us, t - enc_t_in);
    enc_t_out = t;
  }
  g_mutex_unlock (&lock);
  return GST_PAD_PROBE_OK;
}

/* Counts what enters and leaves meteredsink's video encoder (made once
 * caps arrive: looked for after the start). */
static gboolean
watch_encoder (void)
{
  GstIterator *it = gst_bin_iterate_recurse (GST_BIN (sender_sink));
  GValue v = G_VALUE_INIT;
  gboolean found = FALSE;

  while (!found && gst_iterator_next (it, &v) == GST_ITERATOR_OK) {
    GstElement *e = g_value_get_object (&v);
    GstElementFactory *f = gst_element_get_factory (e);
    if (f && g_str_equal (GST_OBJECT_NAME (f), "vp8enc")) {
      GstPad *in = gst_element_get_static_pad (e, "sink");
      GstPad *out = gst_element_get_static_pad (e, "src");
      gst_pad_add_probe (
          in, GST_PAD_PROBE_TYPE_BUFFER, count_probe, &enc_in, NULL);
      gst_pad_add_probe (
          out, GST_PAD_PROBE_TYPE_BUFFER, count_probe, &enc_out, NULL);
      gst_object_unref (in);
      gst_object_unref (out);
      found = TRUE;
    }
    g_value_reset (&v);
  }
  g_value_unset (&v);
  gst_iterator_free (it);
  return found;
}

/* A counter out of an element's stats, wherever it is nested (the first
 * "name=(guint64)N", escaped or not). */
static guint64
stat_of (GstElement *e, const char *name)
{
  GstStructure *st = NULL;
  g_autofree char *text = NULL;
  g_autofree char *a = g_strdup_printf ("%s=(guint64)", name);
  g_autofree char *b = g_strdup_printf ("%s\\=\\(guint64\\)", name);
  const char *p;

  g_object_get (e, "stats", &st, NULL);
  if (!st)
    return 0;
  text = gst_structure_to_string (st);
  gst_structure_free (st);
  if ((p = strstr (text, a)))
    return g_ascii_strtoull (p + strlen (a), NULL, 10);
  if ((p = strstr (text, b)))
    return g_ascii_strtoull (p + strlen (b), NULL, 10);
  return 0;
}

/* Frames counted at each stage, sender to receiver. */
typedef struct
{
  guint64 v[9];
} Stages;

static const char *const stage_names[] = { "stamped", "enc-in", "enc-out",
  "sink-sent", "conn-sent", "conn-recv", "bridge-in", "bridge-out", "output" };

static void
stages_now (Stages *s)
{
  g_mutex_lock (&lock);
  s->v[0] = sent;
  s->v[1] = enc_in;
  s->v[2] = enc_out;
  s->v[8] = seen->len + unreadable;
  g_mutex_unlock (&lock);
  s->v[3] = stat_of (sender_sink, "buffers-sent");
  s->v[4] = stat_of (sender_sink, "packets-sent");
  s->v[5] = stat_of (receiver_src, "packets-received");
  s->v[6] = stat_of (receiver_src, "buffers-in");
  s->v[7] = stat_of (receiver_src, "buffers-out");
}

/* --- receiver: reads it back --- */

static gboolean
read_number (GstBuffer *buf, GstCaps *caps, guint *n)
{
  GstVideoInfo vinfo;
  GstVideoFrame frame;
  guint word = 0;

  if (!caps || !gst_video_info_from_caps (&vinfo, caps) ||
      GST_VIDEO_INFO_WIDTH (&vinfo) < NBITS * BLOCK ||
      !gst_video_frame_map (&frame, &vinfo, buf, GST_MAP_READ))
    return FALSE;
  for (guint bit = 0; bit < NBITS; bit++) {
    const guint8 *y = GST_VIDEO_FRAME_COMP_DATA (&frame, 0);
    gint stride = GST_VIDEO_FRAME_COMP_STRIDE (&frame, 0);
    guint sum = 0;
    /* The 8x8 centre of the block: its edges blur. */
    for (guint row = 4; row < 12; row++)
      for (guint col = 4; col < 12; col++)
        sum += y[row * stride + bit * BLOCK + col];
    if (sum / 64 > 125)
      word |= 1u << bit;
  }
  gst_video_frame_unmap (&frame);
  *n = word & 0xffff;
  return (word >> 16) == checksum (*n);
}

static GstPadProbeReturn
read_probe (GstPad *pad, GstPadProbeInfo *info, gpointer data)
{
  GstBuffer *buf = GST_PAD_PROBE_INFO_BUFFER (info);
  GstCaps *caps = gst_pad_get_current_caps (pad);
  Seen s = { now_us (), 0 };
  gboolean ok = read_number (buf, caps, &s.n);

  gst_clear_caps (&caps);
  g_mutex_lock (&lock);
  if (ok && verbose && seen->len) {
    Seen *p = &g_array_index (seen, Seen, seen->len - 1);
    if (s.n != p->n + 1 || s.t_us - p->t_us > 100000)
      g_printerr ("%.3f output: frame %u after %u, %" G_GINT64_FORMAT
                  " ms later%s\n",
          s.t_us / 1e6, s.n, p->n, (s.t_us - p->t_us) / 1000,
          GST_BUFFER_FLAG_IS_SET (buf, GST_BUFFER_FLAG_DISCONT) ? " DISCONT"
                                                                : "");
  }
  if (ok)
    g_array_append_val (seen, s);
  else
    unreadable++;
  g_mutex_unlock (&lock);
  return GST_PAD_PROBE_OK;
}

static void
on_pad_added (GstElement *src, GstPad *pad, GstElement *pipeline)
{
  GstElement *sink = gst_element_factory_make ("fakesink", NULL);
  GstPad *sinkpad;

  g_object_set (sink, "sync", FALSE, "async", FALSE, NULL);
  gst_bin_add (GST_BIN (pipeline), sink);
  gst_element_sync_state_with_parent (sink);
  sinkpad = gst_element_get_static_pad (sink, "sink");
  gst_pad_link (pad, sinkpad);
  gst_object_unref (sinkpad);
  if (g_str_has_prefix (GST_PAD_NAME (pad), "video_"))
    gst_pad_add_probe (pad, GST_PAD_PROBE_TYPE_BUFFER, read_probe, NULL, NULL);
  g_printerr ("recovery-probe: pad %s\n", GST_PAD_NAME (pad));
}

/* --- what the elements say --- */

static GstBusSyncReply
on_sync_message (GstBus *bus, GstMessage *msg, gpointer is_src)
{
  const GstStructure *s = gst_message_get_structure (msg);
  gint64 t = now_us ();

  if (GST_MESSAGE_TYPE (msg) == GST_MESSAGE_ERROR) {
    g_autoptr (GError) error = NULL;
    gst_message_parse_error (msg, &error, NULL);
    g_printerr ("recovery-probe: %s error: %s\n", is_src ? "src" : "sink",
        error->message);
  }
  if (GST_MESSAGE_TYPE (msg) != GST_MESSAGE_ELEMENT || !s)
    return GST_BUS_DROP;
  g_mutex_lock (&lock);
  if (gst_structure_has_name (s, "metered/connected")) {
    if (is_src)
      connected_src++;
    else
      connected_sink++;
  } else if (is_src &&
             gst_structure_has_name (s, "metered/connection-swapped")) {
    g_array_append_val (swaps_us, t);
  }
  g_mutex_unlock (&lock);
  return GST_BUS_DROP;
}

/* The receiver's session logs each remote track as webrtcbin exposes its
 * pad (the first packets came out of its jitter buffer). Only the
 * receiver has remote tracks. */
static void
log_hook (GstDebugCategory *category, GstDebugLevel level, const gchar *file,
    const gchar *function, gint line, GObject *object, GstDebugMessage *message,
    gpointer data)
{
  const char *text;

  if (verbose && level > GST_LEVEL_WARNING) {
    g_printerr ("%.3f [%s] %s\n", now_us () / 1e6,
        gst_debug_category_get_name (category),
        gst_debug_message_get (message));
  } else if (level <= GST_LEVEL_WARNING) {
    /* webrtcbin's RTCP of the connection pipelines, every packet. */
    if (strstr (gst_debug_message_get (message), "without knowing configured"))
      return;
    g_printerr ("recovery-probe: [%s] %s\n",
        gst_debug_category_get_name (category),
        gst_debug_message_get (message));
    return;
  }
  if (g_strcmp0 (gst_debug_category_get_name (category), "metered-session"))
    return;
  text = gst_debug_message_get (message);
  if (text && g_str_has_prefix (text, "remote track from") &&
      strstr (text, "video")) {
    gint64 t = now_us ();
    g_mutex_lock (&lock);
    g_array_append_val (remote_tracks_us, t);
    g_mutex_unlock (&lock);
  } else if (text && g_str_has_prefix (text, "video from") &&
             strstr (text, "the new connection")) {
    gint64 t = now_us ();
    g_mutex_lock (&lock);
    g_array_append_val (switches_us, t);
    g_mutex_unlock (&lock);
  }
}

/* --- running --- */

static void
iterate_for (guint ms)
{
  gint64 end = now_us () + ms * 1000;
  while (now_us () < end)
    g_main_context_iteration (NULL, FALSE) || (g_usleep (5000), TRUE);
}

static gboolean
wait_until (gboolean (*cond) (gpointer), gpointer data, guint ms)
{
  gint64 end = now_us () + ms * (gint64) 1000;
  while (!cond (data)) {
    if (now_us () > end)
      return FALSE;
    iterate_for (50);
  }
  return TRUE;
}

static gint64
last_seen_us (void)
{
  gint64 t = 0;
  g_mutex_lock (&lock);
  if (seen->len)
    t = g_array_index (seen, Seen, seen->len - 1).t_us;
  g_mutex_unlock (&lock);
  return t;
}

static gboolean
flowing (gpointer data)
{
  gint64 t = last_seen_us ();
  return t && now_us () - t < 200000;
}

typedef struct
{
  guint frames;
  guint lost;
  guint dups;
  gint64 max_gap_us;
  gint64 gap_start_us;
} Window;

static void
window_stats (gint64 from_us, gint64 to_us, Window *w)
{
  g_autoptr (GHashTable) ns = g_hash_table_new (NULL, NULL);
  gint64 prev = 0;
  guint first = 0, last = 0;
  gboolean any = FALSE;

  memset (w, 0, sizeof *w);
  g_mutex_lock (&lock);
  for (guint i = 0; i < seen->len; i++) {
    Seen *s = &g_array_index (seen, Seen, i);
    if (s->t_us < from_us || s->t_us > to_us)
      continue;
    if (!any)
      first = s->n;
    any = TRUE;
    last = s->n;
    if (g_hash_table_contains (ns, GUINT_TO_POINTER (s->n + 1)))
      w->dups++;
    else
      g_hash_table_add (ns, GUINT_TO_POINTER (s->n + 1));
    w->frames++;
    if (prev && s->t_us - prev > w->max_gap_us) {
      w->max_gap_us = s->t_us - prev;
      w->gap_start_us = prev;
    }
    prev = s->t_us;
  }
  g_mutex_unlock (&lock);
  if (any && last >= first)
    w->lost = (last - first + 1) - g_hash_table_size (ns);
}

static guint
count_connected (gboolean src)
{
  guint n;
  g_mutex_lock (&lock);
  n = src ? connected_src : connected_sink;
  g_mutex_unlock (&lock);
  return n;
}

typedef struct
{
  guint src0, sink0;
} Reconnect;

static gboolean
both_reconnected (gpointer data)
{
  Reconnect *r = data;
  return count_connected (TRUE) > r->src0 && count_connected (FALSE) > r->sink0;
}

static gboolean
src_connected (gpointer data)
{
  return count_connected (TRUE) > 0;
}

static gboolean
sink_reconnected (gpointer data)
{
  Reconnect *r = data;
  return count_connected (FALSE) > r->sink0;
}

static gint64
last_before (GArray *times, gint64 before)
{
  gint64 t = 0;
  g_mutex_lock (&lock);
  for (guint i = 0; i < times->len; i++)
    if (g_array_index (times, gint64, i) < before)
      t = g_array_index (times, gint64, i);
  g_mutex_unlock (&lock);
  return t;
}

static gint64
first_frame_after (gint64 after)
{
  gint64 t = 0;
  g_mutex_lock (&lock);
  for (guint i = 0; i < seen->len && !t; i++)
    if (g_array_index (seen, Seen, i).t_us >= after)
      t = g_array_index (seen, Seen, i).t_us;
  g_mutex_unlock (&lock);
  return t;
}

static guint
count_in (GArray *times, gint64 from, gint64 to)
{
  guint n = 0;
  g_mutex_lock (&lock);
  for (guint i = 0; i < times->len; i++) {
    gint64 t = g_array_index (times, gint64, i);
    n += t >= from && t <= to;
  }
  g_mutex_unlock (&lock);
  return n;
}

int
main (int argc, char **argv)
{
  gint port = 0, runs = 10, outage_ms = 3000;
  g_autofree char *src_token = NULL, *sink_token = NULL, *scenarios = NULL;
  GOptionEntry entries[] = {
    { "port", 0, 0, G_OPTION_ARG_INT, &port, "metered-server port", "P" },
    { "src-token", 0, 0, G_OPTION_ARG_STRING, &src_token, "JWT", "T" },
    { "sink-token", 0, 0, G_OPTION_ARG_STRING, &sink_token, "JWT", "T" },
    { "runs", 0, 0, G_OPTION_ARG_INT, &runs, "Runs per scenario", "N" },
    { "outage-ms", 0, 0, G_OPTION_ARG_INT, &outage_ms, "Outage", "MS" },
    { "scenarios", 0, 0, G_OPTION_ARG_STRING, &scenarios, "steady,outage,swap",
        "LIST" },
    { NULL },
  };
  g_autoptr (GOptionContext) ctx = g_option_context_new (NULL);
  g_autoptr (GError) error = NULL;
  g_autoptr (MeteredTestProxy) src_proxy = NULL;
  g_autoptr (MeteredTestProxy) sink_proxy = NULL;
  g_autofree char *desc = NULL;
  GstElement *sender, *receiver, *stamp, *msrc;
  GstVideoInfo vinfo;
  GstCaps *caps;
  GstBus *bus;
  GstPad *pad;
  g_auto (GStrv) which = NULL;
  char channel[64];

  gst_init (&argc, &argv);
  g_option_context_add_main_entries (ctx, entries, NULL);
  if (!g_option_context_parse (ctx, &argc, &argv, &error) || !port ||
      !src_token || !sink_token) {
    g_printerr ("usage: recovery-probe --port P --src-token T --sink-token T "
                "[--runs N] [--outage-ms MS] [--scenarios LIST]\n");
    return 2;
  }
  which = g_strsplit (scenarios ? scenarios : "steady,outage,swap", ",", -1);
  setvbuf (stdout, NULL, _IOLBF, 0);
  g_mutex_init (&lock);
  seen = g_array_new (FALSE, FALSE, sizeof (Seen));
  remote_tracks_us = g_array_new (FALSE, FALSE, sizeof (gint64));
  swaps_us = g_array_new (FALSE, FALSE, sizeof (gint64));
  switches_us = g_array_new (FALSE, FALSE, sizeof (gint64));

  gst_debug_remove_log_function (gst_debug_log_default);
  gst_debug_add_log_function (log_hook, NULL, NULL);
  gst_debug_set_default_threshold (GST_LEVEL_WARNING);
  gst_debug_set_threshold_for_name ("metered-session", GST_LEVEL_INFO);
  verbose = g_strcmp0 (g_getenv ("RECOVERY_VERBOSE"), "1") == 0;
  if (verbose) {
    gst_debug_set_threshold_for_name ("meteredsrc", GST_LEVEL_INFO);
    gst_debug_set_threshold_for_name ("meteredpadbridge", GST_LEVEL_DEBUG);
  }

  src_proxy = metered_test_proxy_new (port, &error);
  sink_proxy = src_proxy ? metered_test_proxy_new (port, &error) : NULL;
  if (!sink_proxy) {
    g_printerr ("recovery-probe: proxy: %s\n", error->message);
    return 1;
  }
  g_snprintf (channel, sizeof channel, "recovery-%d", (int) getpid ());

  desc = g_strdup_printf (
      "meteredsrc name=s output=decoded url=ws://127.0.0.1:%u token=%s "
      "channel=%s reconnect-initial-delay=250 reconnect-max-delay=2000",
      metered_test_proxy_get_port (src_proxy), src_token, channel);
  receiver = gst_parse_launch (desc, &error);
  if (!receiver) {
    g_printerr ("recovery-probe: receiver: %s\n", error->message);
    return 1;
  }
  if (!GST_IS_PIPELINE (receiver)) {
    GstElement *e = receiver;
    receiver = gst_pipeline_new ("receiver");
    gst_bin_add (GST_BIN (receiver), e);
  }
  msrc = gst_bin_get_by_name (GST_BIN (receiver), "s");
  receiver_src = msrc;
  g_signal_connect (msrc, "pad-added", G_CALLBACK (on_pad_added), receiver);
  bus = gst_pipeline_get_bus (GST_PIPELINE (receiver));
  gst_bus_set_sync_handler (bus, on_sync_message, GINT_TO_POINTER (1), NULL);
  gst_object_unref (bus);

  g_free (desc);
  desc = g_strdup_printf (
      "videotestsrc is-live=true pattern=black ! "
      "video/x-raw,format=I420,width=320,height=240,framerate=30/1 ! "
      "identity name=stamp ! meteredsink name=k url=ws://127.0.0.1:%u "
      "token=%s channel=%s video-codec=vp8 stream-metadata=meta,role=camera "
      "reconnect-initial-delay=250 reconnect-max-delay=2000",
      metered_test_proxy_get_port (sink_proxy), sink_token, channel);
  sender = gst_parse_launch (desc, &error);
  if (!sender) {
    g_printerr ("recovery-probe: sender: %s\n", error->message);
    return 1;
  }
  caps = gst_caps_from_string (
      "video/x-raw,format=I420,width=320,height=240,framerate=30/1");
  gst_video_info_from_caps (&vinfo, caps);
  gst_caps_unref (caps);
  sender_sink = gst_bin_get_by_name (GST_BIN (sender), "k");
  stamp = gst_bin_get_by_name (GST_BIN (sender), "stamp");
  pad = gst_element_get_static_pad (stamp, "src");
  gst_pad_add_probe (pad, GST_PAD_PROBE_TYPE_BUFFER, stamp_probe, &vinfo, NULL);
  gst_object_unref (pad);
  gst_object_unref (stamp);
  bus = gst_pipeline_get_bus (GST_PIPELINE (sender));
  gst_bus_set_sync_handler (bus, on_sync_message, NULL, NULL);
  gst_object_unref (bus);

  gst_element_set_state (receiver, GST_STATE_PLAYING);
  /* The sender joins once the receiver is in (see tests/src/src-sink.cjs:
   * metadata from a peer not yet known is dropped). */
  if (!wait_until (src_connected, NULL, 20000)) {
    g_printerr ("recovery-probe: meteredsrc did not connect\n");
    return 1;
  }
  iterate_for (300);
  gst_element_set_state (sender, GST_STATE_PLAYING);
  if (!wait_until (flowing, NULL, 40000)) {
    g_printerr ("recovery-probe: no frames at meteredsrc's output\n");
    return 1;
  }
  if (!watch_encoder ())
    g_printerr ("recovery-probe: no vp8enc in meteredsink\n");
  iterate_for (3000);

  printf ("scenario run frames lost dups gap_ms swaps first_media_to_output_ms "
          "recover_ms\n");
  for (guint si = 0; which[si]; si++) {
    const char *sc = which[si];
    for (gint run = 1; run <= runs; run++) {
      Window w;
      Stages st0, st1;
      Reconnect r = { count_connected (TRUE), count_connected (FALSE) };
      gint64 t0, tfault, tback = 0, tend;
      gint64 media_to_out = -1;

      if (!wait_until (flowing, NULL, 30000)) {
        printf ("%s %d no-frames-before-run\n", sc, run);
        continue;
      }
      t0 = now_us ();
      stages_now (&st0);
      iterate_for (1000);
      tfault = now_us ();
      if (verbose)
        g_printerr ("%.3f ---- %s %d\n", tfault / 1e6, sc, run);
      if (g_str_equal (sc, "steady")) {
        iterate_for (5000);
        tend = now_us ();
      } else if (g_str_equal (sc, "outage")) {
        metered_test_proxy_set_mode (src_proxy, METERED_TEST_PROXY_REFUSE);
        metered_test_proxy_set_mode (sink_proxy, METERED_TEST_PROXY_REFUSE);
        metered_test_proxy_cut (src_proxy);
        metered_test_proxy_cut (sink_proxy);
        iterate_for (outage_ms);
        metered_test_proxy_set_mode (src_proxy, METERED_TEST_PROXY_FORWARD);
        metered_test_proxy_set_mode (sink_proxy, METERED_TEST_PROXY_FORWARD);
        if (wait_until (both_reconnected, &r, 30000))
          tback = now_us ();
        iterate_for (5000);
        wait_until (flowing, NULL, 20000);
        iterate_for (1000);
        tend = now_us ();
      } else if (g_str_equal (sc, "swap")) {
        metered_test_proxy_cut (sink_proxy);
        if (wait_until (sink_reconnected, &r, 30000))
          tback = now_us ();
        iterate_for (5000);
        wait_until (flowing, NULL, 20000);
        iterate_for (1000);
        tend = now_us ();
        {
          /* The receiver's last new connection in the window: its first
           * media, then the first frame out of it (the first after it
           * took the video over). */
          gint64 media = last_before (remote_tracks_us, tend);
          gint64 took = last_before (switches_us, tend);
          if (media >= tfault && took >= media) {
            gint64 out = first_frame_after (took);
            if (out)
              media_to_out = (out - media) / 1000;
          }
        }
      } else {
        g_printerr ("recovery-probe: unknown scenario %s\n", sc);
        return 2;
      }
      window_stats (t0, tend, &w);
      stages_now (&st1);
      g_printerr ("stages %s %d:", sc, run);
      for (guint i = 0; i < G_N_ELEMENTS (stage_names); i++) {
        /* conn-*: per connection, meaningless across a swap. */
        if ((i == 4 || i == 5) && count_in (swaps_us, t0, tend))
          g_printerr (" %s=(swapped)", stage_names[i]);
        else
          g_printerr (
              " %s=%" G_GUINT64_FORMAT, stage_names[i], st1.v[i] - st0.v[i]);
      }
      g_mutex_lock (&lock);
      g_printerr (" enc-busy-ms=%" G_GINT64_FORMAT
                  " enc-max-ms=%" G_GINT64_FORMAT
                  " enc-out-to-next-in-max-ms=%" G_GINT64_FORMAT "\n",
          enc_busy_us / 1000, enc_max_us / 1000, down_max_us / 1000);
      enc_busy_us = enc_max_us = down_max_us = 0;
      g_mutex_unlock (&lock);
      printf ("%s %d %u %u %u %" G_GINT64_FORMAT " %u %" G_GINT64_FORMAT
              " %" G_GINT64_FORMAT "\n",
          sc, run, w.frames, w.lost, w.dups, w.max_gap_us / 1000,
          count_in (swaps_us, tfault, tend), media_to_out,
          tback ? (tback - tfault) / 1000 : -1);
    }
  }
  g_mutex_lock (&lock);
  g_printerr ("recovery-probe: %u frames sent, %u received, %u unreadable\n",
      sent, seen->len, unreadable);
  g_mutex_unlock (&lock);
  {
    /* The elements' own counters: where frames went missing. */
    GstElement *k = gst_bin_get_by_name (GST_BIN (sender), "k");
    GstStructure *st = NULL;
    g_autofree char *a = NULL, *b = NULL;
    g_object_get (msrc, "stats", &st, NULL);
    a = st ? gst_structure_to_string (st) : NULL;
    g_clear_pointer (&st, gst_structure_free);
    g_object_get (k, "stats", &st, NULL);
    b = st ? gst_structure_to_string (st) : NULL;
    g_clear_pointer (&st, gst_structure_free);
    g_printerr ("recovery-probe: meteredsrc stats: %s\n", a);
    g_printerr ("recovery-probe: meteredsink stats: %s\n", b);
    gst_object_unref (k);
  }
  gst_element_set_state (sender, GST_STATE_NULL);
  gst_element_set_state (receiver, GST_STATE_NULL);
  gst_object_unref (msrc);
  gst_object_unref (sender);
  gst_object_unref (receiver);
  return 0;
}
