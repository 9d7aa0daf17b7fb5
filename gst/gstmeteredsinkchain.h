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

#include "peer/metered-codec.h"

G_BEGIN_DECLS

/* The highest bit rate meteredsink's bitrate property takes (bit/s). */
#define GST_METERED_SINK_CHAIN_MAX_BITRATE 50000000

/* What sits between one of meteredsink's request pads and its appsink. */
typedef enum
{
  GST_METERED_SINK_CHAIN_NONE,
  GST_METERED_SINK_CHAIN_ENCODE, /* raw in: queue ! convert ! encoder ... */
  GST_METERED_SINK_CHAIN_PASS, /* encoded in: [parse ! capsfilter] */
} GstMeteredSinkChainKind;

typedef struct
{
  GstElement *bin; /* the meteredsink: the elements are its children */
  GstPad *pad; /* the request pad it serves, for messages */
  GstElement *appsink; /* where the chain ends, the pad's own */
  gboolean video;

  /* The streaming thread (caps) and the pad's release only. */
  /* VP8 temporal layers to encode (1: none); set before building. */
  guint temporal_layers;
  GstMeteredSinkChainKind kind;
  GPtrArray *elements; /* GstElement*, upstream first, children of bin */
} GstMeteredSinkChain;

void gst_metered_sink_chain_init (GstMeteredSinkChain *chain, GstElement *bin,
    GstPad *pad, GstElement *appsink, gboolean video);
/* Drops the elements (gst_metered_sink_chain_clear () first) . */
void gst_metered_sink_chain_free (GstMeteredSinkChain *chain);

/* The kind of chain caps need. */
GstMeteredSinkChainKind gst_metered_sink_chain_kind_for_caps (
    const GstCaps *caps);
const char *gst_metered_sink_chain_kind_name (GstMeteredSinkChainKind kind);

/* Builds the chain for caps that end in codec (the chain must be NONE):
 * the pad to target the request pad at (transfer full), the encoder in
 * *encoder (NULL when passing through; owned by the bin). NULL after
 * posting an element error (a missing element, caps that do not link). */
GstPad *gst_metered_sink_chain_build (GstMeteredSinkChain *chain,
    const GstCaps *caps, MeteredCodecId codec, guint bitrate,
    GstElement **encoder);
/* Takes the elements out of the bin (the request pad must no longer
 * target them); the chain is NONE afterwards. */
void gst_metered_sink_chain_clear (GstMeteredSinkChain *chain);

/* The encoder's bit rate in bit/s, in the units its factory wants. Calls
 * into the encoder: hold no lock of ours. */
void gst_metered_sink_chain_set_bitrate (GstElement *encoder, guint bitrate);

/* The encoder's target from rate control, at most ceiling (the bitrate
 * property): below it, the encoder may trade more picture quality for
 * rate. Calls into the encoder: hold no lock of ours. */
void gst_metered_sink_chain_set_target (
    GstElement *encoder, guint target, guint ceiling);

G_END_DECLS
