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

/* fanout-sender: the sending process bench/sink-fanout.sh measures, in
 * one of two modes with the same live test pattern (videotestsrc
 * is-live=true pattern=ball), size, frame rate and VP8 bit rate:
 *
 *   fanout-sender --metered URL --channel CH [--api-key K]   meteredsink
 *   fanout-sender                                            the baseline
 *
 * The baseline is a hand-written WebRTC sender: the chain meteredsink
 * builds for raw video (leaky queue, videoconvert, vp8enc with
 * meteredsink's settings, rtpvp8pay) into one webrtcbin, no signalling
 * service: it starts a receiver (this program with --recv) as its child
 * and trades the complete (non-trickle) offer and answer with it over the
 * child's stdin/stdout, one base64 line each. The receiver depayloads and
 * counts frames (no decode), as metered-peer-tool --recv does, and prints
 * "frames N" on stderr every second.
 *
 * The measure is the same code in both modes, inside the process, so that
 * what is compared is the sending pipeline only. On SIGUSR1 (the script
 * sends it once every receiver receives and the warm-up is over) the next
 * buffer out of vp8enc opens a window of --frames encoded frames; at both
 * ends the probe reads the process's CPU time (CLOCK_PROCESS_CPUTIME_ID:
 * every thread, ns) and, where the machine has hardware counters, its
 * instruction count (perf_event_open, inherited by every thread the
 * pipeline starts; the baseline's receiver child is spawned before the
 * counter opens, so it is not counted). It prints one line on stdout and
 * exits:
 *
 *   measured frames=N cpu_ns=T instructions=I|-1 wall_ns=W nivcsw=C
 *       source_ns=S encode_ns=E encoded_bytes=B
 *
 * S is the CPU time of videotestsrc's streaming thread, E the CPU time
 * the encoder's thread spends from videoconvert's input to vp8enc's
 * output: the work both senders share, so that T - S - E, what they do
 * differently, can be seen apart from it. B, the bytes out of vp8enc,
 * shows that the encoder did the same work in both.
 *
 * Counting per encoded frame, not per second of wall time, keeps frames
 * the leaky queue drops on a loaded machine out of the figure; the
 * instruction count also leaves out most of what other processes do to
 * this one (cache misses and preemption change cycles and CPU time, not
 * instructions). nivcsw (involuntary context switches in the window) says
 * how contended the window was. */

#include <gio/gio.h>
#include <gio/gunixinputstream.h>
#include <gio/gunixoutputstream.h>
#include <gst/gst.h>
#include <gst/sdp/sdp.h>
#include <gst/webrtc/webrtc.h>
#include <glib-unix.h>
#include <linux/perf_event.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static gboolean recv_mode;
static gint width = 1280, height = 720, fps = 30, bitrate = 1000000;
static gint window_frames = 300;
static char *metered_url, *channel, *api_key = "pk_dev_local";
static GstElement *webrtc;
static GDataInputStream *in;
static GOutputStream *out;
static GstWebRTCSDPType local_type;
static gint frames; /* atomic */

/* The measured window. The state goes IDLE -> ARMED (SIGUSR1, main
 * thread) -> OPEN -> DONE (both on the encoder's streaming thread); the
 * samples are written on the streaming thread only and read on the main
 * thread after DONE, which the atomic store publishes. */
enum
{
  WINDOW_IDLE,
  WINDOW_ARMED,
  WINDOW_OPEN,
  WINDOW_DONE,
};

typedef struct
{
  gint64 cpu_ns, instructions, wall_ns, source_ns;
  glong nivcsw;
} Sample;

static gint window_state; /* atomic */
static gint window_count;
/* The parts both senders share, so that what differs can be told apart
 * from them: the CPU clock of videotestsrc's streaming thread (set once,
 * from that thread), and the thread CPU time from videoconvert's input to
 * vp8enc's output summed over the window (on the encoder's thread). */
static clockid_t source_clock;
static gint source_clock_set; /* atomic */
static gint64 encode_in_ns, encode_ns, encoded_bytes;
static Sample window_start, window_end;
static int instructions_fd = -1;
static GMainLoop *loop;

/* Instructions retired by this process and every thread it starts from
 * now on (inherit), user and kernel space; -1 where the machine has no
 * hardware counters (virtual machines often have none). */
static void
open_instructions_counter (void)
{
  struct perf_event_attr attr = {
    .type = PERF_TYPE_HARDWARE,
    .size = sizeof (attr),
    .config = PERF_COUNT_HW_INSTRUCTIONS,
    .inherit = 1,
    .exclude_hv = 1,
  };

  instructions_fd = syscall (SYS_perf_event_open, &attr, 0, -1, -1, 0);
  if (instructions_fd < 0) {
    /* perf_event_paranoid 2 still allows counting user space */
    attr.exclude_kernel = 1;
    instructions_fd = syscall (SYS_perf_event_open, &attr, 0, -1, -1, 0);
  }
}

static gint64
clock_ns (clockid_t clock)
{
  struct timespec ts;

  clock_gettime (clock, &ts);
  return ts.tv_sec * G_GINT64_CONSTANT (1000000000) + ts.tv_nsec;
}

static void
sample (Sample *s)
{
  struct rusage ru;
  guint64 value;

  s->cpu_ns = clock_ns (CLOCK_PROCESS_CPUTIME_ID);
  s->source_ns =
      g_atomic_int_get (&source_clock_set) ? clock_ns (source_clock) : 0;
  s->wall_ns = g_get_monotonic_time () * 1000;
  getrusage (RUSAGE_SELF, &ru);
  s->nivcsw = ru.ru_nivcsw;
  s->instructions = -1;
  if (instructions_fd >= 0 &&
      read (instructions_fd, &value, sizeof (value)) == sizeof (value))
    s->instructions = (gint64) value;
}

static gboolean
print_window (gpointer data)
{
  g_print ("measured frames=%d cpu_ns=%" G_GINT64_FORMAT
           " instructions=%" G_GINT64_FORMAT " wall_ns=%" G_GINT64_FORMAT
           " nivcsw=%ld source_ns=%" G_GINT64_FORMAT
           " encode_ns=%" G_GINT64_FORMAT " encoded_bytes=%" G_GINT64_FORMAT
           "\n",
      window_count, window_end.cpu_ns - window_start.cpu_ns,
      window_start.instructions < 0
          ? -1
          : window_end.instructions - window_start.instructions,
      window_end.wall_ns - window_start.wall_ns,
      window_end.nivcsw - window_start.nivcsw,
      window_end.source_ns - window_start.source_ns, encode_ns, encoded_bytes);
  fflush (stdout);
  g_main_loop_quit (loop);
  return G_SOURCE_REMOVE;
}

/* On every encoded buffer: the window opens and closes on buffer
 * boundaries, so it holds exactly window_frames encodes. */
static GstPadProbeReturn
on_encoded (GstPad *pad, GstPadProbeInfo *info, gpointer data)
{
  switch (g_atomic_int_get (&window_state)) {
    case WINDOW_ARMED:
      sample (&window_start);
      window_count = 0;
      encode_ns = 0;
      encoded_bytes = 0;
      g_atomic_int_set (&window_state, WINDOW_OPEN);
      break;
    case WINDOW_OPEN:
      encode_ns += clock_ns (CLOCK_THREAD_CPUTIME_ID) - encode_in_ns;
      encoded_bytes += gst_buffer_get_size (GST_PAD_PROBE_INFO_BUFFER (info));
      if (++window_count < window_frames)
        break;
      sample (&window_end);
      g_atomic_int_set (&window_state, WINDOW_DONE);
      g_idle_add (print_window, NULL);
      break;
    default:
      break;
  }
  return GST_PAD_PROBE_OK;
}

static GstPadProbeReturn
on_convert_input (GstPad *pad, GstPadProbeInfo *info, gpointer data)
{
  encode_in_ns = clock_ns (CLOCK_THREAD_CPUTIME_ID);
  return GST_PAD_PROBE_OK;
}

static GstPadProbeReturn
on_source_output (GstPad *pad, GstPadProbeInfo *info, gpointer data)
{
  if (!g_atomic_int_get (&source_clock_set) &&
      pthread_getcpuclockid (pthread_self (), &source_clock) == 0)
    g_atomic_int_set (&source_clock_set, 1);
  return GST_PAD_PROBE_OK;
}

static void
probe (GstElement *element, const char *pad_name, GstPadProbeCallback callback)
{
  GstPad *pad = gst_element_get_static_pad (element, pad_name);

  gst_pad_add_probe (pad, GST_PAD_PROBE_TYPE_BUFFER, callback, NULL, NULL);
  gst_object_unref (pad);
}

static void
probe_by_name (GstElement *pipeline, const char *name, const char *pad_name,
    GstPadProbeCallback callback)
{
  GstElement *element = gst_bin_get_by_name (GST_BIN (pipeline), name);

  probe (element, pad_name, callback);
  gst_object_unref (element);
}

/* meteredsink makes its encoder when the caps arrive */
static void
on_deep_element_added (
    GstBin *bin, GstBin *sub_bin, GstElement *element, gpointer data)
{
  GstElementFactory *factory = gst_element_get_factory (element);

  if (!factory)
    return;
  if (g_str_equal (GST_OBJECT_NAME (factory), "vp8enc"))
    probe (element, "src", on_encoded);
  else if (g_str_equal (GST_OBJECT_NAME (factory), "videoconvert"))
    probe (element, "sink", on_convert_input);
}

static gboolean
on_usr1 (gpointer data)
{
  g_atomic_int_compare_and_exchange (&window_state, WINDOW_IDLE, WINDOW_ARMED);
  return G_SOURCE_CONTINUE;
}

static void
send_line (const char *sdp)
{
  g_autofree char *b64 = g_base64_encode ((const guchar *) sdp, strlen (sdp));
  g_autofree char *line = g_strconcat (b64, "\n", NULL);

  g_output_stream_write_all (out, line, strlen (line), NULL, NULL, NULL);
  g_output_stream_flush (out, NULL, NULL);
}

/* Once gathering is complete the local description holds every
 * candidate: send it. */
static void
on_gathering (GstElement *w, GParamSpec *pspec, gpointer data)
{
  GstWebRTCICEGatheringState state;
  GstWebRTCSessionDescription *desc = NULL;
  g_autofree char *text = NULL;

  g_object_get (w, "ice-gathering-state", &state, NULL);
  if (state != GST_WEBRTC_ICE_GATHERING_STATE_COMPLETE)
    return;
  g_object_get (w, "local-description", &desc, NULL);
  text = gst_sdp_message_as_text (desc->sdp);
  gst_webrtc_session_description_free (desc);
  send_line (text);
}

static void
on_created (GstPromise *promise, gpointer data)
{
  const GstStructure *reply = gst_promise_get_reply (promise);
  GstWebRTCSessionDescription *desc = NULL;
  GstPromise *set;

  gst_structure_get (reply,
      local_type == GST_WEBRTC_SDP_TYPE_OFFER ? "offer" : "answer",
      GST_TYPE_WEBRTC_SESSION_DESCRIPTION, &desc, NULL);
  gst_promise_unref (promise);
  set = gst_promise_new ();
  g_signal_emit_by_name (webrtc, "set-local-description", desc, set);
  gst_promise_unref (set);
  gst_webrtc_session_description_free (desc);
}

static void
create (GstWebRTCSDPType type)
{
  local_type = type;
  g_signal_emit_by_name (webrtc,
      type == GST_WEBRTC_SDP_TYPE_OFFER ? "create-offer" : "create-answer",
      NULL, gst_promise_new_with_change_func (on_created, NULL, NULL));
}

static void
on_negotiation_needed (GstElement *w, gpointer data)
{
  if (!recv_mode)
    create (GST_WEBRTC_SDP_TYPE_OFFER);
}

static void
on_remote_set (GstPromise *promise, gpointer data)
{
  gst_promise_unref (promise);
  if (recv_mode)
    create (GST_WEBRTC_SDP_TYPE_ANSWER);
}

static void
on_line (GObject *source, GAsyncResult *result, gpointer data)
{
  g_autofree char *line =
      g_data_input_stream_read_line_finish (in, result, NULL, NULL);
  g_autofree guchar *sdp = NULL;
  GstSDPMessage *msg = NULL;
  GstWebRTCSessionDescription *desc;
  gsize len;

  if (!line) {
    g_main_loop_quit (loop);
    return;
  }
  sdp = g_base64_decode (line, &len);
  gst_sdp_message_new_from_text ((const char *) sdp, &msg);
  desc = gst_webrtc_session_description_new (
      recv_mode ? GST_WEBRTC_SDP_TYPE_OFFER : GST_WEBRTC_SDP_TYPE_ANSWER, msg);
  g_signal_emit_by_name (webrtc, "set-remote-description", desc,
      gst_promise_new_with_change_func (on_remote_set, NULL, NULL));
  gst_webrtc_session_description_free (desc);
  g_data_input_stream_read_line_async (
      in, G_PRIORITY_DEFAULT, NULL, on_line, NULL);
}

static GstPadProbeReturn
count (GstPad *pad, GstPadProbeInfo *info, gpointer data)
{
  g_atomic_int_inc (&frames);
  return GST_PAD_PROBE_OK;
}

/* Receiver: every webrtcbin src pad is linked at once. */
static void
on_pad_added (GstElement *w, GstPad *pad, GstElement *pipeline)
{
  GstElement *depay, *sink;
  GstPad *sinkpad;

  if (GST_PAD_DIRECTION (pad) != GST_PAD_SRC)
    return;
  depay = gst_element_factory_make ("rtpvp8depay", NULL);
  sink = gst_element_factory_make ("fakesink", NULL);
  g_object_set (sink, "sync", FALSE, "async", FALSE, NULL);
  gst_bin_add_many (GST_BIN (pipeline), depay, sink, NULL);
  gst_element_link (depay, sink);
  sinkpad = gst_element_get_static_pad (sink, "sink");
  gst_pad_add_probe (sinkpad, GST_PAD_PROBE_TYPE_BUFFER, count, NULL, NULL);
  gst_object_unref (sinkpad);
  gst_element_sync_state_with_parent (depay);
  gst_element_sync_state_with_parent (sink);
  sinkpad = gst_element_get_static_pad (depay, "sink");
  gst_pad_link (pad, sinkpad);
  gst_object_unref (sinkpad);
}

static void
on_transceiver (GstElement *w, GstWebRTCRTPTransceiver *trans, gpointer data)
{
  if (recv_mode)
    g_object_set (trans, "direction",
        GST_WEBRTC_RTP_TRANSCEIVER_DIRECTION_RECVONLY, NULL);
}

static gboolean
report (gpointer data)
{
  g_printerr ("frames %d\n", g_atomic_int_get (&frames));
  return G_SOURCE_CONTINUE;
}

int
main (int argc, char **argv)
{
  GOptionEntry entries[] = {
    { "recv", 0, 0, G_OPTION_ARG_NONE, &recv_mode, "Receiver (child)", NULL },
    { "width", 0, 0, G_OPTION_ARG_INT, &width, "Width", "W" },
    { "height", 0, 0, G_OPTION_ARG_INT, &height, "Height", "H" },
    { "fps", 0, 0, G_OPTION_ARG_INT, &fps, "Frame rate", "F" },
    { "bitrate", 0, 0, G_OPTION_ARG_INT, &bitrate, "bit/s", "B" },
    { "frames", 0, 0, G_OPTION_ARG_INT, &window_frames,
        "Encoded frames in the measured window", "N" },
    { "metered", 0, 0, G_OPTION_ARG_STRING, &metered_url,
        "Send through meteredsink to this signalling URL", "URL" },
    { "channel", 0, 0, G_OPTION_ARG_STRING, &channel, "Channel (--metered)",
        "CH" },
    { "api-key", 0, 0, G_OPTION_ARG_STRING, &api_key, "API key (--metered)",
        "K" },
    { NULL },
  };
  g_autoptr (GOptionContext) ctx = g_option_context_new (NULL);
  g_autoptr (GError) error = NULL;
  g_autoptr (GSubprocess) child = NULL;
  g_autofree char *desc = NULL;
  GstElement *pipeline;

  gst_init (&argc, &argv);
  g_option_context_add_main_entries (ctx, entries, NULL);
  if (!g_option_context_parse (ctx, &argc, &argv, &error)) {
    g_printerr ("%s\n", error->message);
    return 2;
  }
  loop = g_main_loop_new (NULL, FALSE);

  if (recv_mode) {
    GstElement *w = gst_element_factory_make ("webrtcbin", "w");
    pipeline = gst_pipeline_new (NULL);
    gst_util_set_object_arg (G_OBJECT (w), "bundle-policy", "max-bundle");
    gst_bin_add (GST_BIN (pipeline), w);
    in = g_data_input_stream_new (g_unix_input_stream_new (0, FALSE));
    out = g_unix_output_stream_new (1, FALSE);
    g_timeout_add_seconds (1, report, NULL);
  } else if (metered_url) {
    /* meteredsink builds the encoding chain itself */
    desc = g_strdup_printf (
        "videotestsrc name=src is-live=true pattern=ball ! "
        "video/x-raw,width=%d,height=%d,framerate=%d/1 ! "
        "meteredsink url=\"%s\" api-key=\"%s\" channel=\"%s\" bitrate=%d",
        width, height, fps, metered_url, api_key, channel ? channel : "bench",
        bitrate);
    open_instructions_counter ();
    pipeline = gst_parse_launch (desc, &error);
    if (pipeline) {
      g_signal_connect (pipeline, "deep-element-added",
          G_CALLBACK (on_deep_element_added), NULL);
      probe_by_name (pipeline, "src", "src", on_source_output);
    }
  } else {
    /* One encoder thread, as meteredsink (libvpx threads spin-wait). */
    guint threads = 1;
    child = g_subprocess_new (
        G_SUBPROCESS_FLAGS_STDIN_PIPE | G_SUBPROCESS_FLAGS_STDOUT_PIPE, &error,
        argv[0], "--recv", NULL);
    if (!child) {
      g_printerr ("%s\n", error->message);
      return 1;
    }
    in = g_data_input_stream_new (g_subprocess_get_stdout_pipe (child));
    out = g_object_ref (g_subprocess_get_stdin_pipe (child));
    /* The chain meteredsink builds for raw video, with its settings. */
    desc = g_strdup_printf (
        "videotestsrc name=src is-live=true pattern=ball ! "
        "video/x-raw,width=%d,height=%d,framerate=%d/1 ! "
        "queue leaky=downstream max-size-buffers=5 max-size-bytes=0 "
        "max-size-time=0 silent=true ! videoconvert name=convert ! "
        "vp8enc name=enc deadline=1 cpu-used=4 lag-in-frames=0 "
        "keyframe-max-dist=150 threads=%u buffer-size=1000 "
        "buffer-initial-size=500 buffer-optimal-size=600 undershoot=95 "
        "max-quantizer=56 end-usage=cbr error-resilient=default %s "
        "target-bitrate=%d ! "
        "rtpvp8pay pt=96 ! application/x-rtp,media=video,encoding-name=VP8,"
        "payload=96,clock-rate=90000 ! webrtcbin name=w "
        "bundle-policy=max-bundle",
        width, height, fps, threads, threads > 1 ? "token-partitions=4" : "",
        bitrate);
    /* after the child: it must not inherit the counter */
    open_instructions_counter ();
    pipeline = gst_parse_launch (desc, &error);
    if (pipeline) {
      probe_by_name (pipeline, "src", "src", on_source_output);
      probe_by_name (pipeline, "convert", "sink", on_convert_input);
      probe_by_name (pipeline, "enc", "src", on_encoded);
    }
  }
  if (!pipeline) {
    g_printerr ("%s\n", error->message);
    return 1;
  }
  if (!recv_mode)
    g_unix_signal_add (SIGUSR1, on_usr1, NULL);
  if (metered_url) {
    gst_element_set_state (pipeline, GST_STATE_PLAYING);
    g_main_loop_run (loop);
    gst_element_set_state (pipeline, GST_STATE_NULL);
    gst_object_unref (pipeline);
    return 0;
  }
  webrtc = gst_bin_get_by_name (GST_BIN (pipeline), "w");
  g_signal_connect (webrtc, "on-negotiation-needed",
      G_CALLBACK (on_negotiation_needed), NULL);
  g_signal_connect (
      webrtc, "notify::ice-gathering-state", G_CALLBACK (on_gathering), NULL);
  g_signal_connect (
      webrtc, "on-new-transceiver", G_CALLBACK (on_transceiver), NULL);
  if (recv_mode)
    g_signal_connect (webrtc, "pad-added", G_CALLBACK (on_pad_added), pipeline);
  g_data_input_stream_read_line_async (
      in, G_PRIORITY_DEFAULT, NULL, on_line, NULL);
  gst_element_set_state (pipeline, GST_STATE_PLAYING);
  g_main_loop_run (loop);
  gst_element_set_state (pipeline, GST_STATE_NULL);
  if (child)
    g_subprocess_force_exit (child);
  return 0;
}
