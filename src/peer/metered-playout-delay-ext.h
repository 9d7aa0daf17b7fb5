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

#include <gst/rtp/gstrtphdrext.h>

G_BEGIN_DECLS

/* The playout-delay RTP header extension on what a viewer's payloader
 * sends (metered-playout-delay.h says why). Written on every packet once
 * a minimum above 0 was set (before that, not at all: a clean link's
 * packets stay as they were), with the minimum set last and a fixed
 * maximum of 10 s (Chromium's own default maximum, so only the minimum
 * changes anything). */
#define METERED_TYPE_PLAYOUT_DELAY_EXT (metered_playout_delay_ext_get_type ())
G_DECLARE_FINAL_TYPE (MeteredPlayoutDelayExt, metered_playout_delay_ext,
    METERED, PLAYOUT_DELAY_EXT, GstRTPHeaderExtension)

GstRTPHeaderExtension *metered_playout_delay_ext_new (guint id);
/* Any thread: the payloader picks it up with its next packet. */
void metered_playout_delay_ext_set_min (
    MeteredPlayoutDelayExt *ext, guint min_ms);
guint metered_playout_delay_ext_get_min (MeteredPlayoutDelayExt *ext);

G_END_DECLS
