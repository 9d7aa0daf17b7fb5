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
 * GstMeteredPadBridge: one src pad whose lifetime is a remote stream's,
 * fed by successive sources (the connections that come and go under that
 * stream). A small live source element with a streaming thread of its
 * own: sources hand it encoded buffers from any thread and never block;
 * its task pushes them downstream under these rules:
 *
 *  - never EOS or flush because a source changed: only
 *    gst_metered_pad_bridge_end() (or an EOS sent to the element) ends it;
 *  - caps go downstream only when the codec changes (media type, and
 *    stream-format for H.264); resolution, profile and codec_data changes
 *    travel in-band, so muxers that refuse caps changes keep writing;
 *  - running time never goes backwards: timestamps are clamped to the
 *    last one pushed, and a new source that starts more than a second in
 *    the past is re-based onto the present;
 *  - the first buffer after a new source, a GAP event or dropped data
 *    carries DISCONT;
 *  - after a new source (and at the start), delta units are dropped until
 *    a key unit arrives, and the key-unit callback asks for one at once
 *    (then at most once per second while waiting); the same when the
 *    source marks a delta unit DISCONT (packets were lost and not
 *    repaired: the jitter buffer gave up on them, or a media path died and
 *    came back); the key unit that ends such a wait is DISCONT;
 *  - without data for gap-timeout (a dead source, a kept pad whose peer
 *    left) it sends GAP events up to the present minus latency, every
 *    gap-timeout, so downstream mixers and muxers keep going. Waits use
 *    the element's clock, so tests drive them with a GstTestClock;
 *  - a downstream force-key-unit event reaches the key-unit callback; a
 *    GST_FLOW_EOS from downstream ends the pad (EOS event, task paused),
 *    as a base source does;
 *  - it answers the LATENCY query: live, min = the latency property.
 */

#define GST_TYPE_METERED_PAD_BRIDGE (gst_metered_pad_bridge_get_type ())
G_DECLARE_FINAL_TYPE (GstMeteredPadBridge, gst_metered_pad_bridge, GST,
    METERED_PAD_BRIDGE, GstElement)

/* Asks the current source for a key unit (called from the thread that
 * pushed, or the streaming thread for a downstream request). */
typedef void (*GstMeteredPadBridgeFunc) (
    GstMeteredPadBridge *bridge, gpointer user_data);

GstMeteredPadBridge *gst_metered_pad_bridge_new (const char *name);

void gst_metered_pad_bridge_set_key_unit_func (GstMeteredPadBridge *bridge,
    GstMeteredPadBridgeFunc func, gpointer user_data, GDestroyNotify destroy);
/* Called on the streaming thread once EOS went downstream. */
void gst_metered_pad_bridge_set_eos_func (GstMeteredPadBridge *bridge,
    GstMeteredPadBridgeFunc func, gpointer user_data, GDestroyNotify destroy);

/* The buffers that follow come from a new source (a swapped connection):
 * DISCONT on the first one, key unit gate, timestamps re-checked. */
void gst_metered_pad_bridge_new_source (GstMeteredPadBridge *bridge);
/* The source is gone for now (a peer left, its pad is kept). */
void gst_metered_pad_bridge_source_lost (GstMeteredPadBridge *bridge);
/* One buffer of the current source with its caps; any thread, never
 * blocks. Returns FALSE if the buffer was dropped (waiting for a key
 * unit, ended). */
gboolean gst_metered_pad_bridge_push (
    GstMeteredPadBridge *bridge, GstCaps *caps, GstBuffer *buffer);
/* What follows cannot be decoded (a decoder downstream failed on a
 * frame): delta units are dropped until a key unit, as after a loss. */
void gst_metered_pad_bridge_resync (GstMeteredPadBridge *bridge);
/* Drains what is queued, then EOS. */
void gst_metered_pad_bridge_end (GstMeteredPadBridge *bridge);

/* Counters: buffers-in, buffers-out, dropped-delta, dropped-overflow,
 * gaps, discont, sources, key-unit-requests, clamped, caps-changes,
 * losses (waits for a key unit after unrepaired loss). */
GstStructure *gst_metered_pad_bridge_get_stats (GstMeteredPadBridge *bridge);

/* TRUE if b carries the same codec as a (caps that would not be pushed). */
gboolean gst_metered_pad_bridge_same_codec (const GstCaps *a, const GstCaps *b);

G_END_DECLS
