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

/**
 * GstMeteredSrcOutput:
 * @GST_METERED_SRC_OUTPUT_ENCODED: depayloaded VP8, VP9, H.264 (avc, au) or
 *   Opus, as the remote sent it (recorders, restreaming)
 * @GST_METERED_SRC_OUTPUT_DECODED: raw video and audio
 */
typedef enum
{
  GST_METERED_SRC_OUTPUT_ENCODED,
  GST_METERED_SRC_OUTPUT_DECODED,
} GstMeteredSrcOutput;

#define GST_TYPE_METERED_SRC_OUTPUT (gst_metered_src_output_get_type ())
GType gst_metered_src_output_get_type (void);

#define GST_TYPE_METERED_SRC (gst_metered_src_get_type ())
G_DECLARE_FINAL_TYPE (
    GstMeteredSrc, gst_metered_src, GST, METERED_SRC, GstMeteredBaseBin)

G_END_DECLS
