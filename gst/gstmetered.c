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

#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "gstmeteredelements.h"

static gboolean
plugin_init (GstPlugin *plugin)
{
  gboolean ret = FALSE;

#ifdef HAVE_METEREDSINK
  ret |= GST_ELEMENT_REGISTER (meteredsink, plugin);
#endif
#ifdef HAVE_METEREDSRC
  ret |= GST_ELEMENT_REGISTER (meteredsrc, plugin);
#endif
  return ret;
}

GST_PLUGIN_DEFINE (GST_VERSION_MAJOR, GST_VERSION_MINOR, metered,
    "Metered Realtime Messaging: WebRTC media through a signalling channel "
    "that survives drops",
    plugin_init, VERSION, "LGPL", PACKAGE, "gst-metered")
