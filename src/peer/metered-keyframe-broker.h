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
 * Key-frame requests from every viewer of one shared encoder, merged: no
 * GStreamer, no clock (times are passed in, in microseconds of a
 * monotonic base that starts at or after 0, as g_get_monotonic_time's).
 *
 * A key frame costs every viewer several frames' worth of bytes, so the
 * encoder is asked for at most one per min_interval_us, counting the key
 * frames it makes by itself (periodic ones). A request while that slot is
 * closed waits for the next key frame, whoever causes it; if none comes
 * the broker asks for one when the slot opens (next_deadline says when
 * to poll). A request when no key frame came for min_interval_us is
 * honoured at once (a new viewer's first frame). PLI and FIR are budgeted
 * per viewer (a token bucket: burst, then one per budget_period_us) so
 * that one viewer behind a broken link cannot force key frames on all;
 * repeats while a viewer waits (Chromium re-sends its PLI every 200 ms)
 * are merged, not counted. New and starved viewers are not budgeted.
 */

typedef struct
{
  gint64 min_interval_us;
  gint64 budget_period_us;
  guint budget_burst;
} MeteredKeyframeBrokerConfig;

#define METERED_KEYFRAME_BROKER_CONFIG_DEFAULT                                 \
  {                                                                            \
    1000000, 3000000, 3                                                        \
  }

typedef enum
{
  METERED_KEYFRAME_PLI, /* PLI or FIR from the viewer */
  METERED_KEYFRAME_NEW_VIEWER,
  /* The element's frame gate has waited too long for a key frame. */
  METERED_KEYFRAME_STARVED,
} MeteredKeyframeReason;

typedef enum
{
  METERED_KEYFRAME_FORCE, /* ask the encoder for a key frame now */
  METERED_KEYFRAME_WAIT, /* served by the next key frame */
  METERED_KEYFRAME_IGNORED, /* over the viewer's budget */
} MeteredKeyframeVerdict;

typedef struct
{
  MeteredKeyframeBrokerConfig config;
  gint64 last_keyframe_us; /* the encoder's last key frame, -1: none */
  gint64 last_forced_us; /* the last time we asked for one, -1: never */
  gboolean pending; /* someone waits for the next key frame */
  GArray *viewers; /* per-viewer budget and waiting flag, private */
  /* For stats. */
  guint64 n_requests;
  guint64 n_forced;
  guint64 n_ignored;
} MeteredKeyframeBroker;

void metered_keyframe_broker_init (
    MeteredKeyframeBroker *b, const MeteredKeyframeBrokerConfig *config);
void metered_keyframe_broker_clear (MeteredKeyframeBroker *b);

/* A viewer asks for a key frame. On FORCE the caller asks the encoder. */
MeteredKeyframeVerdict metered_keyframe_broker_request (
    MeteredKeyframeBroker *b, guint viewer_id, MeteredKeyframeReason reason,
    gint64 now_us);

/* TRUE: a request waited and the slot is open: ask the encoder now. */
gboolean metered_keyframe_broker_poll (MeteredKeyframeBroker *b, gint64 now_us);

/* When poll will next say TRUE, -1 if nothing waits. */
gint64 metered_keyframe_broker_next_deadline (const MeteredKeyframeBroker *b);

/* The encoder produced a key frame (forced or not): it serves everyone
 * waiting. */
void metered_keyframe_broker_keyframe_produced (
    MeteredKeyframeBroker *b, gint64 now_us);

/* The viewer left. */
void metered_keyframe_broker_remove_viewer (
    MeteredKeyframeBroker *b, guint viewer_id);

G_END_DECLS
