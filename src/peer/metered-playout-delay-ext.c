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
#include "metered-playout-delay-ext.h"
#include "metered-playout-delay.h"

#define DEFAULT_MAX_MS 10000

struct _MeteredPlayoutDelayExt
{
  GstRTPHeaderExtension parent;
  /* Set from the stats thread, read by the payloader's streaming thread:
   * atomic, no lock. asked: a minimum above 0 was ever set. */
  gint min_ms;
  gint asked;
};

G_DEFINE_TYPE (MeteredPlayoutDelayExt, metered_playout_delay_ext,
    GST_TYPE_RTP_HEADER_EXTENSION);

static GstRTPHeaderExtensionFlags
metered_playout_delay_ext_get_supported_flags (GstRTPHeaderExtension *ext)
{
  return GST_RTP_HEADER_EXTENSION_ONE_BYTE | GST_RTP_HEADER_EXTENSION_TWO_BYTE;
}

static gsize
metered_playout_delay_ext_get_max_size (
    GstRTPHeaderExtension *ext, const GstBuffer *input_meta)
{
  return 3;
}

static gssize
metered_playout_delay_ext_write (GstRTPHeaderExtension *ext,
    const GstBuffer *input_meta, GstRTPHeaderExtensionFlags write_flags,
    GstBuffer *output, guint8 *data, gsize size)
{
  MeteredPlayoutDelayExt *self = METERED_PLAYOUT_DELAY_EXT (ext);

  g_return_val_if_fail (size >= 3, -1);
  /* Until a viewer needs time for a retransmission the packets go as
   * before, without the extension. Once one was asked for, even 0 is
   * written: Chromium keeps the last delay it was given. */
  if (!g_atomic_int_get (&self->asked))
    return 0;
  metered_playout_delay_encode (
      (guint) g_atomic_int_get (&self->min_ms), DEFAULT_MAX_MS, data);
  return 3;
}

static gboolean
metered_playout_delay_ext_read (GstRTPHeaderExtension *ext,
    GstRTPHeaderExtensionFlags read_flags, const guint8 *data, gsize size,
    GstBuffer *buffer)
{
  /* a sender's extension: what a remote sends with it is not used */
  return TRUE;
}

static void
metered_playout_delay_ext_class_init (MeteredPlayoutDelayExtClass *klass)
{
  GstRTPHeaderExtensionClass *ext_class =
      GST_RTP_HEADER_EXTENSION_CLASS (klass);
  GstElementClass *element_class = GST_ELEMENT_CLASS (klass);

  ext_class->get_supported_flags =
      metered_playout_delay_ext_get_supported_flags;
  ext_class->get_max_size = metered_playout_delay_ext_get_max_size;
  ext_class->write = metered_playout_delay_ext_write;
  ext_class->read = metered_playout_delay_ext_read;
  gst_element_class_set_static_metadata (element_class,
      "Playout delay RTP header extension", GST_RTP_HDREXT_ELEMENT_CLASS,
      "Asks the receiver for a minimum playout delay", "gst-metered authors");
  gst_rtp_header_extension_class_set_uri (ext_class, METERED_PLAYOUT_DELAY_URI);
}

static void
metered_playout_delay_ext_init (MeteredPlayoutDelayExt *self)
{
}

GstRTPHeaderExtension *
metered_playout_delay_ext_new (guint id)
{
  GstRTPHeaderExtension *ext =
      g_object_new (METERED_TYPE_PLAYOUT_DELAY_EXT, NULL);

  gst_object_ref_sink (ext);
  gst_rtp_header_extension_set_id (ext, id);
  return ext;
}

void
metered_playout_delay_ext_set_min (MeteredPlayoutDelayExt *ext, guint min_ms)
{
  g_atomic_int_set (&ext->min_ms, (gint) MIN (min_ms, G_MAXINT));
  if (min_ms > 0)
    g_atomic_int_set (&ext->asked, 1);
}

guint
metered_playout_delay_ext_get_min (MeteredPlayoutDelayExt *ext)
{
  return (guint) g_atomic_int_get (&ext->min_ms);
}
