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

#include "gstmeteredbasebin.h"

G_BEGIN_DECLS

#define GST_TYPE_METERED_SINK (gst_metered_sink_get_type ())
G_DECLARE_FINAL_TYPE (
    GstMeteredSink, gst_metered_sink, GST, METERED_SINK, GstMeteredBaseBin)

/**
 * GstMeteredSinkVideoCodec:
 * @GST_METERED_SINK_VIDEO_CODEC_VP8: VP8 (vp8enc)
 * @GST_METERED_SINK_VIDEO_CODEC_H264: H.264 constrained baseline
 *   (openh264enc, or x264enc when openh264enc is missing)
 *
 * What raw video is encoded to.
 */
typedef enum
{
  GST_METERED_SINK_VIDEO_CODEC_VP8,
  GST_METERED_SINK_VIDEO_CODEC_H264,
} GstMeteredSinkVideoCodec;

/**
 * GstMeteredSinkAudioCodec:
 * @GST_METERED_SINK_AUDIO_CODEC_OPUS: Opus (opusenc)
 *
 * What raw audio is encoded to.
 */
typedef enum
{
  GST_METERED_SINK_AUDIO_CODEC_OPUS,
} GstMeteredSinkAudioCodec;

G_END_DECLS
