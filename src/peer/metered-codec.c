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

#include "metered-codec.h"

#include <gst/gst.h>

static const char *const vp8_encoders[] = { "vp8enc", NULL };
static const char *const vp9_encoders[] = { "vp9enc", NULL };
/* openh264 first: constrained baseline, what browsers decode everywhere */
static const char *const h264_encoders[] = { "openh264enc", "x264enc", NULL };
static const char *const opus_encoders[] = { "opusenc", NULL };

static const char *const vp8_decoders[] = { "vp8dec", NULL };
static const char *const vp9_decoders[] = { "vp9dec", NULL };
static const char *const h264_decoders[] = { "avdec_h264", "openh264dec",
  NULL };
static const char *const opus_decoders[] = { "opusdec", NULL };

static const MeteredCodec codecs[METERED_CODEC_N] = {
  [METERED_CODEC_VP8] = {
    .id = METERED_CODEC_VP8,
    .name = "vp8",
    .kind = METERED_MEDIA_VIDEO,
    .caps_name = "video/x-vp8",
    .track_caps = "video/x-vp8",
    .accept_caps = "video/x-vp8",
    .encoding_name = "VP8",
    .payload_type = 96,
    .clock_rate = 90000,
    .receive_caps = "application/x-rtp, media=(string)video, "
        "encoding-name=(string)VP8, payload=(int)96, clock-rate=(int)90000",
    .payloader = "rtpvp8pay",
    /* A picture ID lets the receiver tell a frame we chose not to send
     * (an upper temporal layer) from a lost one: Chromium keeps decoding
     * the layers it gets instead of waiting for a key frame. */
    .payloader_props = "picture-id-mode=15-bit",
    .depayloader = "rtpvp8depay",
    .parser = NULL,
    .encoders = vp8_encoders,
    .decoders = vp8_decoders,
  },
  [METERED_CODEC_VP9] = {
    .id = METERED_CODEC_VP9,
    .name = "vp9",
    .kind = METERED_MEDIA_VIDEO,
    .caps_name = "video/x-vp9",
    .track_caps = "video/x-vp9",
    .accept_caps = "video/x-vp9",
    .encoding_name = "VP9",
    .payload_type = 98,
    .clock_rate = 90000,
    .receive_caps = "application/x-rtp, media=(string)video, "
        "encoding-name=(string)VP9, payload=(int)98, clock-rate=(int)90000",
    .payloader = "rtpvp9pay",
    .depayloader = "rtpvp9depay",
    .parser = NULL,
    .encoders = vp9_encoders,
    .decoders = vp9_decoders,
  },
  [METERED_CODEC_H264] = {
    .id = METERED_CODEC_H264,
    .name = "h264",
    .kind = METERED_MEDIA_VIDEO,
    .caps_name = "video/x-h264",
    /* whole access units in Annex B: what rtph264pay aggregates best */
    .track_caps = "video/x-h264, stream-format=(string)byte-stream, "
        "alignment=(string)au",
    .accept_caps =
        "video/x-h264, stream-format=(string){ avc, avc3, byte-stream }",
    .encoding_name = "H264",
    .payload_type = 102,
    .clock_rate = 90000,
    /* constrained baseline 3.1, packetization-mode 1: what every browser
     * offers and answers */
    .receive_caps = "application/x-rtp, media=(string)video, "
        "encoding-name=(string)H264, payload=(int)102, clock-rate=(int)90000, "
        "packetization-mode=(string)1, profile-level-id=(string)42e01f, "
        "level-asymmetry-allowed=(string)1",
    .payloader = "rtph264pay",
    /* SPS/PPS with every key frame (a viewer may join at any one), and
     * NAL units of one access unit sent together */
    .payloader_props = "config-interval=-1 aggregate-mode=zero-latency",
    .depayloader = "rtph264depay",
    .parser = "h264parse",
    .parser_props = "config-interval=-1",
    .encoders = h264_encoders,
    .decoders = h264_decoders,
  },
  [METERED_CODEC_OPUS] = {
    .id = METERED_CODEC_OPUS,
    .name = "opus",
    .kind = METERED_MEDIA_AUDIO,
    .caps_name = "audio/x-opus",
    /* rtpopuspay wants channels; Opus decoders take mono in stereo */
    .track_caps = "audio/x-opus, channel-mapping-family=(int)0, "
        "channels=(int)2, rate=(int)48000",
    .accept_caps = "audio/x-opus",
    .encoding_name = "OPUS",
    .payload_type = 111,
    .clock_rate = 48000,
    .receive_caps = "application/x-rtp, media=(string)audio, "
        "encoding-name=(string)OPUS, payload=(int)111, clock-rate=(int)48000, "
        "encoding-params=(string)2, useinbandfec=(string)1",
    .payloader = "rtpopuspay",
    .depayloader = "rtpopusdepay",
    .parser = NULL,
    .encoders = opus_encoders,
    .decoders = opus_decoders,
    /* In-band FEC both ways: a lost packet is rebuilt from the next one's
     * low-bitrate copy (a browser sends it when we declare it), else
     * concealed (PLC) instead of a gap. */
    .fmtp = "useinbandfec=1",
    .decoder_props = "plc=true use-inband-fec=true",
  },
};

const MeteredCodec *
metered_codec_get (MeteredCodecId id)
{
  g_return_val_if_fail (id < METERED_CODEC_N, NULL);
  return &codecs[id];
}

const MeteredCodec *
metered_codec_from_name (const char *name)
{
  for (guint i = 0; name && i < METERED_CODEC_N; i++)
    if (g_ascii_strcasecmp (codecs[i].name, name) == 0)
      return &codecs[i];
  return NULL;
}

const MeteredCodec *
metered_codec_from_caps_name (const char *caps_name)
{
  for (guint i = 0; caps_name && i < METERED_CODEC_N; i++)
    if (g_str_equal (codecs[i].caps_name, caps_name))
      return &codecs[i];
  return NULL;
}

const MeteredCodec *
metered_codec_from_encoding_name (const char *encoding)
{
  for (guint i = 0; encoding && i < METERED_CODEC_N; i++)
    if (g_ascii_strcasecmp (codecs[i].encoding_name, encoding) == 0)
      return &codecs[i];
  return NULL;
}

const MeteredCodec *
metered_codec_from_payload_type (int pt)
{
  for (guint i = 0; i < METERED_CODEC_N; i++)
    if (codecs[i].payload_type == pt)
      return &codecs[i];
  return NULL;
}

const char *
metered_media_kind_to_string (MeteredMediaKind kind)
{
  return kind == METERED_MEDIA_AUDIO ? "audio" : "video";
}

void
metered_codec_apply_props (GstElement *element, const char *props)
{
  g_auto (GStrv) pairs = NULL;

  if (!props)
    return;
  pairs = g_strsplit (props, " ", -1);
  for (guint i = 0; pairs[i]; i++) {
    g_auto (GStrv) kv = g_strsplit (pairs[i], "=", 2);
    if (kv[0] && kv[1])
      gst_util_set_object_arg (G_OBJECT (element), kv[0], kv[1]);
  }
}

void
metered_codec_add_fmtp (const MeteredCodec *codec, GstCaps *caps)
{
  GstStructure *s = gst_caps_get_structure (caps, 0);
  g_auto (GStrv) pairs = NULL;

  if (!codec->fmtp)
    return;
  pairs = g_strsplit (codec->fmtp, " ", -1);
  for (guint i = 0; pairs[i]; i++) {
    g_auto (GStrv) kv = g_strsplit (pairs[i], "=", 2);
    if (kv[0] && kv[1])
      gst_structure_set (s, kv[0], G_TYPE_STRING, kv[1], NULL);
  }
}

const char *
metered_codec_pick_factory (const char *const *factories)
{
  for (guint i = 0; factories && factories[i]; i++) {
    GstElementFactory *f = gst_element_factory_find (factories[i]);
    if (f) {
      gst_object_unref (f);
      return factories[i];
    }
  }
  return NULL;
}

/* libvpx's 3-layer real-time pattern (its vp8_scalable_patterns mode 6,
 * as gst-plugins-good's vp8enc test sets it) with sync frames: the
 * layer-1 frame of every other period and the first layer-2 frame of a
 * period reference the last base frame only, so a viewer raised a layer
 * starts it within 8 frames. Layer 1 refreshes golden, layer 2 nothing;
 * only the base updates the entropy context. */
#define BASE "no-ref-golden+no-ref-alt+no-upd-golden+no-upd-alt"
#define TL1_SYNC                                                               \
  "no-ref-golden+no-ref-alt+no-upd-last+no-upd-alt+no-upd-entropy"
#define TL1 "no-ref-alt+no-upd-last+no-upd-alt+no-upd-entropy"
#define TL2_SYNC                                                               \
  "no-ref-golden+no-ref-alt+no-upd-last+no-upd-golden+no-upd-alt+"             \
  "no-upd-entropy"
#define TL2 "no-ref-alt+no-upd-last+no-upd-golden+no-upd-alt+no-upd-entropy"

static const MeteredTemporalPattern temporal_patterns[] = {
  {
      .n_layers = 2,
      .periodicity = 4,
      .layer_id = { 0, 1, 0, 1 },
      .flags = { BASE, TL1_SYNC, BASE, TL1 },
      .sync = { FALSE, TRUE, FALSE, FALSE },
      .rate_decimator = { 2, 1 },
      /* libwebrtc's split of two layers */
      .share = { 0.6, 1.0 },
  },
  {
      .n_layers = 3,
      .periodicity = 8,
      .layer_id = { 0, 2, 1, 2, 0, 2, 1, 2 },
      .flags = { BASE, TL2_SYNC, TL1_SYNC, TL2, BASE, TL2, TL1, TL2 },
      .sync = { FALSE, TRUE, TRUE, FALSE, FALSE, FALSE, FALSE, FALSE },
      .rate_decimator = { 4, 2, 1 },
      /* the rate policy's default shares (metered-rate-policy.h) */
      .share = { 0.25, 0.5, 1.0 },
  },
};

#undef BASE
#undef TL1_SYNC
#undef TL1
#undef TL2_SYNC
#undef TL2

const MeteredTemporalPattern *
metered_codec_temporal_pattern (guint n_layers)
{
  for (guint i = 0; i < G_N_ELEMENTS (temporal_patterns); i++)
    if (temporal_patterns[i].n_layers == n_layers)
      return &temporal_patterns[i];
  return NULL;
}

/* A GValueArray of guints (vp8enc's temporal-scalability-* arrays of
 * gint; GValueArray is deprecated, but what those properties take). */
static void
set_int_array (GstElement *enc, const char *name, const guint *v, guint n)
{
  G_GNUC_BEGIN_IGNORE_DEPRECATIONS
  GValueArray *array = g_value_array_new (n);
  GValue item = G_VALUE_INIT;

  g_value_init (&item, G_TYPE_INT);
  for (guint i = 0; i < n; i++) {
    g_value_set_int (&item, (gint) v[i]);
    g_value_array_append (array, &item);
  }
  g_object_set (enc, name, array, NULL);
  g_value_array_free (array);
  G_GNUC_END_IGNORE_DEPRECATIONS
}

/* Each layer's cumulative share of the target: libvpx's rate control
 * works per layer, so the layers follow the target when it moves. */
void
metered_codec_set_layer_bitrates (GstElement *enc, guint bitrate)
{
  guint rates[METERED_CODEC_MAX_TEMPORAL_LAYERS];
  gint layers = 1;
  const MeteredTemporalPattern *pattern;

  g_object_get (enc, "temporal-scalability-number-layers", &layers, NULL);
  pattern = metered_codec_temporal_pattern (layers);
  if (!pattern)
    return;
  for (guint i = 0; i < pattern->n_layers; i++)
    rates[i] = (guint) (bitrate * pattern->share[i]);
  set_int_array (
      enc, "temporal-scalability-target-bitrate", rates, pattern->n_layers);
}

gboolean
metered_codec_set_temporal_layers (GstElement *enc, guint n_layers)
{
  const MeteredTemporalPattern *pattern =
      metered_codec_temporal_pattern (n_layers);
  GType flags_type = g_type_from_name ("GstVPXEncTsLayerFlags");
  GValue flags = G_VALUE_INIT, sync = G_VALUE_INIT, item = G_VALUE_INIT;

  if (!pattern || !flags_type ||
      !g_object_class_find_property (
          G_OBJECT_GET_CLASS (enc), "temporal-scalability-layer-sync-flags"))
    return FALSE;
  g_value_init (&flags, GST_TYPE_ARRAY);
  g_value_init (&sync, GST_TYPE_ARRAY);
  for (guint i = 0; i < pattern->periodicity; i++) {
    g_value_init (&item, flags_type);
    /* the nicks are ours: only a vp8enc that renamed them fails */
    if (!gst_value_deserialize (&item, pattern->flags[i])) {
      g_value_unset (&item);
      g_value_unset (&flags);
      g_value_unset (&sync);
      return FALSE;
    }
    gst_value_array_append_and_take_value (&flags, &item);
    g_value_init (&item, G_TYPE_BOOLEAN);
    g_value_set_boolean (&item, pattern->sync[i]);
    gst_value_array_append_and_take_value (&sync, &item);
  }
  g_object_set (enc, "temporal-scalability-number-layers", pattern->n_layers,
      "temporal-scalability-periodicity", pattern->periodicity, NULL);
  set_int_array (enc, "temporal-scalability-layer-id", pattern->layer_id,
      pattern->periodicity);
  set_int_array (enc, "temporal-scalability-rate-decimator",
      pattern->rate_decimator, pattern->n_layers);
  /* Both arrays, always: vp8enc indexes the sync flags modulo their
   * count whenever a layer-id pattern is set. */
  g_object_set_property (
      G_OBJECT (enc), "temporal-scalability-layer-flags", &flags);
  g_object_set_property (
      G_OBJECT (enc), "temporal-scalability-layer-sync-flags", &sync);
  g_value_unset (&flags);
  g_value_unset (&sync);
  return TRUE;
}
