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

#pragma once

#include <gst/gst.h>

G_BEGIN_DECLS

/*
 * The one codec table: everything the peer layer and the elements know
 * about a codec, in one row. meteredsink reads the encoder and parser
 * columns, the connections the payloader, RTP and receive columns,
 * meteredsrc the depayloader and decoder columns. Adding a codec is adding
 * a row (and a test row in tests/peer/test-codec.c).
 */

typedef enum
{
  METERED_CODEC_VP8,
  METERED_CODEC_VP9,
  METERED_CODEC_H264,
  METERED_CODEC_OPUS,
  METERED_CODEC_N
} MeteredCodecId;

typedef enum
{
  METERED_MEDIA_VIDEO,
  METERED_MEDIA_AUDIO,
} MeteredMediaKind;

typedef struct
{
  MeteredCodecId id;
  const char *name; /* lower case, as receive-codecs lists it: "vp8" */
  MeteredMediaKind kind;
  const char *caps_name; /* encoded caps structure name: "video/x-vp8" */
  /* What a connection's payloader is fed (meteredsink's tracks). */
  const char *track_caps;
  /* Encoded input meteredsink passes through without re-encoding. */
  const char *accept_caps;
  /* RTP: encoding-name as SDP writes it, payload type we offer, clock. */
  const char *encoding_name;
  int payload_type;
  int clock_rate;
  /* The full application/x-rtp caps a receive-only transceiver offers
   * (fmtp included: H.264 needs packetization-mode and a profile). */
  const char *receive_caps;
  const char *payloader;
  /* Properties set on every payloader / parser made from this row, as
   * "name=value name=value" (gst_util_set_object_arg syntax); NULL: none. */
  const char *payloader_props;
  const char *depayloader;
  /* Parser between depayloader/encoder and the rest; NULL: none needed. */
  const char *parser;
  const char *parser_props;
  /* Element factories in preference order, NULL-terminated: the first one
   * installed is used. */
  const char *const *encoders;
  const char *const *decoders;
  /* Format parameters our RTP caps carry when we send, as
   * "name=value name=value" (string fields, written to a=fmtp); NULL:
   * none. receive_caps carries them too. */
  const char *fmtp;
  /* Properties set on the decoder (any of decoders), like payloader_props. */
  const char *decoder_props;
} MeteredCodec;

/* The row of id (always valid for id < METERED_CODEC_N). */
const MeteredCodec *metered_codec_get (MeteredCodecId id);

/* Look-ups; NULL when no row matches. */
const MeteredCodec *metered_codec_from_name (
    const char *name); /* "vp8", any case */
const MeteredCodec *metered_codec_from_caps_name (const char *caps_name);
/* the row whose payload_type (the type we send it with) is pt */
const MeteredCodec *metered_codec_from_payload_type (int pt);
const MeteredCodec *metered_codec_from_encoding_name (
    const char *encoding); /* any case */

/* "video" or "audio": the media= of RTP caps and SDP m-lines. */
const char *metered_media_kind_to_string (MeteredMediaKind kind);

/* Applies a payloader_props / parser_props string to element (NULL:
 * nothing to set). */
void metered_codec_apply_props (GstElement *element, const char *props);

/* Adds the row's fmtp fields to caps (writable, one structure). */
void metered_codec_add_fmtp (const MeteredCodec *codec, GstCaps *caps);

/* The first factory of a NULL-terminated preference list that the
 * registry has, or NULL. Reads the registry: not for hot paths. */
const char *metered_codec_pick_factory (const char *const *factories);

/* VP8 temporal layers as meteredsink's encoder makes them: vp8enc's
 * temporal-scalability-* values for 2 or 3 layers. */
#define METERED_CODEC_MAX_TEMPORAL_LAYERS 3
#define METERED_CODEC_MAX_TEMPORAL_PERIOD 8

typedef struct
{
  guint n_layers;
  guint periodicity;
  /* per frame of the period */
  guint layer_id[METERED_CODEC_MAX_TEMPORAL_PERIOD];
  const char
      *flags[METERED_CODEC_MAX_TEMPORAL_PERIOD]; /* GstVPXEncTsLayerFlags */
  gboolean sync[METERED_CODEC_MAX_TEMPORAL_PERIOD];
  /* per layer */
  guint rate_decimator[METERED_CODEC_MAX_TEMPORAL_LAYERS];
  double
      share[METERED_CODEC_MAX_TEMPORAL_LAYERS]; /* of the target, cumulative */
} MeteredTemporalPattern;

/* NULL for n_layers other than 2 and 3. */
const MeteredTemporalPattern *metered_codec_temporal_pattern (guint n_layers);
/* Sets a vp8enc to encode n_layers (2 or 3) temporal layers of that
 * pattern; FALSE when it cannot (another n_layers, a vp8enc before
 * 1.20). Call metered_codec_set_layer_bitrates () after. */
gboolean metered_codec_set_temporal_layers (GstElement *vp8enc, guint n_layers);
/* The per-layer targets of a vp8enc with temporal layers for a total of
 * bitrate (bit/s); nothing for one layer. */
void metered_codec_set_layer_bitrates (GstElement *vp8enc, guint bitrate);

G_END_DECLS
