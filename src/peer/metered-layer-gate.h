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

#include <glib.h>

G_BEGIN_DECLS

/*
 * One viewer's frame gate on the shared encoder's output: which frames
 * this viewer is sent, as plain state (no GStreamer).
 *
 * With VP8 temporal layers a frame of layer k references only frames of
 * layers <= k, so dropping every frame above a cap leaves a stream the
 * viewer decodes at a lower frame rate. Lowering the cap is safe at any
 * frame. Raising it is not: a frame of layer k may reference an earlier
 * frame of layer k the viewer never got. Only a key frame (any cap) or a
 * sync frame of layer sending + 1 (it references lower layers only) may
 * start a layer, one layer per sync frame.
 *
 * Codecs without layers (H.264) have one lever: key frames only, for a
 * viewer that cannot take the stream. Every delta references the frame
 * before, so coming back needs the next key frame (need_key asks for one).
 */

typedef struct
{
  gboolean keyframe;
  /* The encoder tagged the frame with a temporal layer. */
  gboolean has_layer;
  guint layer_id;
  /* It references lower layers only. */
  gboolean layer_sync;
} MeteredLayerFrame;

typedef struct
{
  /* What the viewer should get (set_cap). */
  guint cap;
  gboolean keyframes_only;
  /* What it is sent now. */
  guint sending;
  gboolean sending_keyframes_only;
  /* Deltas are dropped until a key frame: ask the encoder for one. */
  gboolean need_key;
  guint64 passed;
  guint64 dropped;
} MeteredLayerGate;

/* Every layer: cap G_MAXUINT. */
#define METERED_LAYER_ALL G_MAXUINT

void metered_layer_gate_init (MeteredLayerGate *g);
/* Down (or into key frames only) at once, up at the next frame that
 * allows it. */
void metered_layer_gate_set_cap (
    MeteredLayerGate *g, guint cap, gboolean keyframes_only);
/* TRUE when the frame goes to the viewer. */
gboolean metered_layer_gate_pass (
    MeteredLayerGate *g, const MeteredLayerFrame *frame);

G_END_DECLS
