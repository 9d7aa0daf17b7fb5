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

/*
 * The chain behind one of meteredsink's request pads, built in the pad's
 * caps event for what arrives. Raw media is encoded once for every peer,
 * behind a leaky queue so that upstream never waits for the encoder:
 *
 *   video_%u (raw)
 *  +---------------------------------------------------------------------+
 *  | +-------+  +------------+  +---------+  +------------+  +---------+ |
 *  | | queue |->|videoconvert|->| vp8enc  |->| (H.264:    |->| appsink | |
 *  | | leaky |  +------------+  | vp9enc  |  | capsfilter | +---------+ |
 *  | +-------+                  | openh264|  | ! h264parse|      |      |
 *  |                            | x264enc |  +------------+      |      |
 *  |                            +---------+                      |      |
 *  +---------------------------------------------------------------|-----+
 *   audio_%u (raw)                                                 |
 *  +---------------------------------------------------------------|-----+
 *  | queue ! audioconvert ! audioresample ! capsfilter ! opusenc ! appsink
 *  +---------------------------------------------------------------|-----+
 *   encoded input (VP8, VP9, Opus: nothing; H.264: h264parse !    |
 *   capsfilter to byte-stream/au) goes to the appsink as it is     |
 *                                                                  v
 *                     every sample -> metered_session_push () -> every peer
 *
 * Which encoder, parser and caps: the codec table's row
 * (src/peer/metered-codec.h). Settings are those of a real-time WebRTC
 * sender: no lookahead, constant bit rate with a short buffer, a key
 * frame now and then as insurance for a lost PLI.
 */

#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "gstmeteredsinkchain.h"

GST_DEBUG_CATEGORY_EXTERN (metered_runtime_debug);
#define GST_CAT_DEFAULT metered_runtime_debug

/* A key frame at least this often anyway (frames): insurance for a lost
 * PLI; viewers normally ask for one themselves. */
#define KEYFRAME_MAX_DIST 150
/* Opus in-band FEC is sized for this loss (percent) until measured. */
#define OPUS_EXPECTED_LOSS_PERCENT 5

void
gst_metered_sink_chain_init (GstMeteredSinkChain *chain, GstElement *bin,
    GstPad *pad, GstElement *appsink, gboolean video)
{
  chain->bin = bin;
  chain->pad = pad;
  chain->appsink = appsink;
  chain->video = video;
  chain->kind = GST_METERED_SINK_CHAIN_NONE;
  chain->temporal_layers = 1;
  chain->elements = g_ptr_array_new ();
}

void
gst_metered_sink_chain_free (GstMeteredSinkChain *chain)
{
  g_clear_pointer (&chain->elements, g_ptr_array_unref);
}

GstMeteredSinkChainKind
gst_metered_sink_chain_kind_for_caps (const GstCaps *caps)
{
  const GstStructure *s;

  if (gst_caps_get_size (caps) == 0)
    return GST_METERED_SINK_CHAIN_PASS;
  s = gst_caps_get_structure (caps, 0);
  return gst_structure_has_name (s, "video/x-raw") ||
                 gst_structure_has_name (s, "audio/x-raw")
             ? GST_METERED_SINK_CHAIN_ENCODE
             : GST_METERED_SINK_CHAIN_PASS;
}

const char *
gst_metered_sink_chain_kind_name (GstMeteredSinkChainKind kind)
{
  switch (kind) {
    case GST_METERED_SINK_CHAIN_ENCODE:
      return "encode";
    case GST_METERED_SINK_CHAIN_PASS:
      return "pass-through";
    case GST_METERED_SINK_CHAIN_NONE:
    default:
      return "none";
  }
}

static GstElement *
make_element (GstMeteredSinkChain *chain, const char *factory)
{
  GstElement *e = gst_element_factory_make (factory, NULL);

  if (!e)
    GST_ELEMENT_ERROR (chain->bin, CORE, MISSING_PLUGIN,
        ("Element %s is missing: install the GStreamer plugin that has it",
            factory),
        (NULL));
  return e;
}

/* libvpx's highest quantizer at the bitrate property, and below it. */
#define VPX_MAX_QUANTIZER 56
#define VPX_MAX_QUANTIZER_ADAPTED 63
/* A key frame at most 3 frames' worth of the target (percent), at the
 * ceiling too: uncapped, a 640x360 one is ~40 kB, 2-3 times an average
 * frame's share and over three times what a 1 Mbit/s link's 100 ms queue
 * holds, so it was dropped in part and asked for again; and a viewer
 * sent the base layer alone behind a slow link while the others keep the
 * full target froze behind each one (its frames waited on the key
 * frame's retransmissions). libwebrtc caps at about the same. */
#define VPX_MAX_INTRA 300

void
gst_metered_sink_chain_set_bitrate (GstElement *encoder, guint bitrate)
{
  const char *factory = GST_OBJECT_NAME (gst_element_get_factory (encoder));

  if (g_str_equal (factory, "vp8enc") || g_str_equal (factory, "vp9enc")) {
    metered_codec_set_layer_bitrates (encoder, bitrate);
    g_object_set (encoder, "target-bitrate", (gint) bitrate, NULL);
  } else if (g_str_equal (factory, "openh264enc"))
    g_object_set (encoder, "bitrate", bitrate, "max-bitrate",
        MIN (bitrate * 2, (guint) GST_METERED_SINK_CHAIN_MAX_BITRATE), NULL);
  else if (g_str_equal (factory, "x264enc"))
    g_object_set (encoder, "bitrate", MAX (bitrate / 1000, 1u), NULL);
}

void
gst_metered_sink_chain_set_target (
    GstElement *encoder, guint target, guint ceiling)
{
  const char *factory = GST_OBJECT_NAME (gst_element_get_factory (encoder));

  /* libvpx holds its quantizer under max-quantizer whatever the target:
   * at 56, 640x360 moving content does not go below ~800 kbit/s (a
   * 300 kbit/s target gave 800), at 63 to ~500. And with a second of
   * buffer it spends what it saved in bursts (1.2-1.5 Mbit/s over a
   * second at a 735 kbit/s target), which a capped link's queue drops:
   * a 300 ms buffer reached a lower target within a second instead of
   * four. Key frames are always capped (VPX_MAX_INTRA). The clean
   * settings keep clean links' pictures sharp; below the ceiling the rate
   * matters more. The encoder is made with these settings too: this is
   * the one place that decides them. */
  if (g_str_equal (factory, "vp8enc") || g_str_equal (factory, "vp9enc")) {
    gboolean adapted = target < ceiling;
    g_object_set (encoder, "max-quantizer",
        adapted ? VPX_MAX_QUANTIZER_ADAPTED : VPX_MAX_QUANTIZER, "buffer-size",
        adapted ? 300 : 1000, "buffer-initial-size", adapted ? 200 : 500,
        "buffer-optimal-size", adapted ? 250 : 600, "max-intra-bitrate",
        VPX_MAX_INTRA, NULL);
  }
  gst_metered_sink_chain_set_bitrate (encoder, target);
}

/* The first installed encoder of the codec's row (a missing one is a
 * CORE/MISSING_PLUGIN error naming it). */
static GstElement *
make_encoder (GstMeteredSinkChain *chain, const MeteredCodec *row)
{
  const char *factory = metered_codec_pick_factory (row->encoders);

  if (!factory && row->id == METERED_CODEC_H264) {
    GST_ELEMENT_ERROR (chain->bin, CORE, MISSING_PLUGIN,
        ("No H.264 encoder: install openh264enc (gst-plugins-bad) or "
         "x264enc (gst-plugins-ugly), or set video-codec=vp8"),
        (NULL));
    return NULL;
  }
  return make_element (chain, factory ? factory : row->encoders[0]);
}

/* Real-time settings of a WebRTC sender: no lookahead, constant bit rate
 * with a short buffer, a key frame now and then as insurance. */
static GstElement *
make_video_encoder (GstMeteredSinkChain *chain, MeteredCodecId codec,
    guint bitrate, GPtrArray *els)
{
  const MeteredCodec *row = metered_codec_get (codec);
  GstElement *enc = make_encoder (chain, row);
  const char *factory;
  guint threads = CLAMP (g_get_num_processors (), 1, 4);

  if (!enc)
    return NULL;
  g_ptr_array_add (els, enc);
  factory = GST_OBJECT_NAME (gst_element_get_factory (enc));
  if (g_str_equal (factory, "vp8enc") || g_str_equal (factory, "vp9enc")) {
    /* One thread: libvpx's encoder threads spin-wait on each other, and
     * on a loaded 2-core machine a 320x240 frame took ~50 ms (720p: 14x
     * slower than one thread), so the leaky queue before the encoder
     * dropped half the frames (bench/recovery.sh, steady). */
    threads = 1;
    g_object_set (enc, "deadline", (gint64) 1, "cpu-used",
        codec == METERED_CODEC_VP8 ? 4 : 7, "lag-in-frames", 0,
        "keyframe-max-dist", KEYFRAME_MAX_DIST, "threads", threads,
        "undershoot", 95, NULL);
    gst_util_set_object_arg (G_OBJECT (enc), "end-usage", "cbr");
    gst_util_set_object_arg (G_OBJECT (enc), "error-resilient", "default");
    if (codec == METERED_CODEC_VP8 && threads > 1)
      gst_util_set_object_arg (G_OBJECT (enc), "token-partitions", "4");
    if (codec == METERED_CODEC_VP8 && chain->temporal_layers > 1 &&
        !metered_codec_set_temporal_layers (enc, chain->temporal_layers))
      GST_WARNING_OBJECT (chain->pad,
          "vp8enc cannot encode %u temporal layers: one layer",
          chain->temporal_layers);
  } else if (g_str_equal (factory, "openh264enc")) {
    g_object_set (
        enc, "gop-size", KEYFRAME_MAX_DIST, "multi-thread", threads, NULL);
    gst_util_set_object_arg (G_OBJECT (enc), "usage-type", "camera");
    gst_util_set_object_arg (G_OBJECT (enc), "rate-control", "bitrate");
    gst_util_set_object_arg (G_OBJECT (enc), "complexity", "low");
  } else if (g_str_equal (factory, "x264enc")) {
    g_object_set (enc, "key-int-max", KEYFRAME_MAX_DIST, "b-adapt", FALSE,
        "bframes", 0, NULL);
    gst_util_set_object_arg (G_OBJECT (enc), "tune", "zerolatency");
    gst_util_set_object_arg (G_OBJECT (enc), "speed-preset", "ultrafast");
  }
  if (row->parser) {
    g_autoptr (GstCaps) profile = gst_caps_from_string (
        "video/x-h264, profile=(string)constrained-baseline");
    GstElement *filter = gst_element_factory_make ("capsfilter", NULL);
    GstElement *parse;

    g_object_set (filter, "caps", profile, NULL);
    g_ptr_array_add (els, filter);
    parse = make_element (chain, row->parser);
    if (!parse)
      return NULL;
    g_object_set (parse, "config-interval", -1, NULL);
    g_ptr_array_add (els, parse);
  }
  gst_metered_sink_chain_set_target (enc, bitrate, bitrate);
  return enc;
}

void
gst_metered_sink_chain_clear (GstMeteredSinkChain *chain)
{
  GPtrArray *els = chain->elements;

  for (guint i = 0; i < els->len; i++)
    gst_element_set_state (g_ptr_array_index (els, i), GST_STATE_NULL);
  for (guint i = 0; i < els->len; i++)
    gst_bin_remove (GST_BIN (chain->bin), g_ptr_array_index (els, i));
  g_ptr_array_set_size (els, 0);
  chain->kind = GST_METERED_SINK_CHAIN_NONE;
}

/* The elements of an encoding chain, upstream first, into els. */
static GstElement *
make_encode_chain (GstMeteredSinkChain *chain, MeteredCodecId codec,
    guint bitrate, GPtrArray *els)
{
  GstElement *queue = gst_element_factory_make ("queue", NULL);

  g_ptr_array_add (els, queue);
  if (chain->video) {
    GstElement *convert = make_element (chain, "videoconvert");
    /* Five frames: on a loaded machine the encoding thread misses its
     * turn for 100-150 ms now and then, and with two a frame or more
     * was dropped each time (bench/recovery.sh, stages). */
    g_object_set (queue, "max-size-buffers", 5, "max-size-bytes", 0,
        "max-size-time", (guint64) 0, "silent", TRUE, NULL);
    gst_util_set_object_arg (G_OBJECT (queue), "leaky", "downstream");
    if (!convert)
      return NULL;
    g_ptr_array_add (els, convert);
    return make_video_encoder (chain, codec, bitrate, els);
  } else {
    g_autoptr (GstCaps) stereo = gst_caps_from_string (
        "audio/x-raw, channels=(int)[ 1, 2 ], rate=(int)48000");
    GstElement *filter, *encoder;
    GstElement *convert = make_element (chain, "audioconvert");
    GstElement *resample =
        convert ? make_element (chain, "audioresample") : NULL;

    g_object_set (queue, "max-size-buffers", 0, "max-size-bytes", 0,
        "max-size-time", 200 * GST_MSECOND, "silent", TRUE, NULL);
    gst_util_set_object_arg (G_OBJECT (queue), "leaky", "downstream");
    if (!resample) {
      gst_clear_object (&convert);
      return NULL;
    }
    g_ptr_array_add (els, convert);
    g_ptr_array_add (els, resample);
    /* Opus as WebRTC sends it: one or two channels (mapping family 0) */
    filter = gst_element_factory_make ("capsfilter", NULL);
    g_object_set (filter, "caps", stereo, NULL);
    g_ptr_array_add (els, filter);
    encoder = make_encoder (chain, metered_codec_get (codec));
    if (encoder) {
      /* In-band FEC (the connections declare useinbandfec=1): Opus spends
       * part of its rate on a copy of the previous frame, sized for the
       * loss it is told to expect. One encoder serves every viewer, so
       * this is a standing guess until the viewers' reports steer it. */
      g_object_set (encoder, "inband-fec", TRUE, "packet-loss-percentage",
          OPUS_EXPECTED_LOSS_PERCENT, NULL);
      g_ptr_array_add (els, encoder);
    }
    return encoder;
  }
}

/* The elements of a pass-through chain into els; FALSE if one is
 * missing. */
static gboolean
make_pass_chain (
    GstMeteredSinkChain *chain, MeteredCodecId codec, GPtrArray *els)
{
  const MeteredCodec *row = metered_codec_get (codec);
  g_autoptr (GstCaps) out = NULL;
  GstElement *parse, *filter;

  if (!row->parser)
    return TRUE;
  /* whole access units in the track's stream format */
  parse = make_element (chain, row->parser);
  if (!parse)
    return FALSE;
  g_object_set (parse, "config-interval", -1, NULL);
  out = gst_caps_from_string (row->track_caps);
  filter = gst_element_factory_make ("capsfilter", NULL);
  g_object_set (filter, "caps", out, NULL);
  g_ptr_array_add (els, parse);
  g_ptr_array_add (els, filter);
  return TRUE;
}

GstPad *
gst_metered_sink_chain_build (GstMeteredSinkChain *chain, const GstCaps *caps,
    MeteredCodecId codec, guint bitrate, GstElement **encoder)
{
  GstMeteredSinkChainKind kind = gst_metered_sink_chain_kind_for_caps (caps);
  const char *codec_name = metered_codec_get (codec)->caps_name;
  g_autoptr (GPtrArray) els = g_ptr_array_new ();
  GstElement *enc = NULL, *last = NULL;

  g_return_val_if_fail (chain->kind == GST_METERED_SINK_CHAIN_NONE, NULL);

  if (kind == GST_METERED_SINK_CHAIN_ENCODE) {
    enc = make_encode_chain (chain, codec, bitrate, els);
    if (!enc)
      goto failed;
  } else if (!make_pass_chain (chain, codec, els)) {
    goto failed;
  }

  for (guint i = 0; i < els->len; i++) {
    GstElement *e = g_ptr_array_index (els, i);
    gst_bin_add (GST_BIN (chain->bin), e);
    g_ptr_array_add (chain->elements, e);
    if (last && !gst_element_link (last, e))
      goto link_failed;
    last = e;
  }
  g_ptr_array_set_size (els, 0);
  if (last && !gst_element_link (last, chain->appsink))
    goto link_failed;
  for (guint i = chain->elements->len; i > 0; i--)
    gst_element_sync_state_with_parent (
        g_ptr_array_index (chain->elements, i - 1));
  chain->kind = kind;
  *encoder = enc;

  GST_INFO_OBJECT (chain->pad, "%s %" GST_PTR_FORMAT " to %s",
      kind == GST_METERED_SINK_CHAIN_ENCODE ? "encoding" : "passing through",
      caps, codec_name);
  return chain->elements->len > 0
             ? gst_element_get_static_pad (
                   g_ptr_array_index (chain->elements, 0), "sink")
             : gst_element_get_static_pad (chain->appsink, "sink");

link_failed:
  GST_ELEMENT_ERROR (chain->bin, CORE, NEGOTIATION, (NULL),
      ("cannot link the %s chain of %s", codec_name,
          GST_PAD_NAME (chain->pad)));
  /* What is in the bin goes with the chain; the rest is still ours. */
  for (guint i = chain->elements->len; i < els->len; i++)
    gst_object_unref (g_ptr_array_index (els, i));
  g_ptr_array_set_size (els, 0);
  gst_metered_sink_chain_clear (chain);
  return NULL;

failed:
  for (guint i = 0; i < els->len; i++)
    gst_object_unref (g_ptr_array_index (els, i));
  return NULL;
}
