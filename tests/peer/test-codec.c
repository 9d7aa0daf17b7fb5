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

/* Every row of the codec table (src/peer/metered-codec.c) against the
 * registry: its caps parse and agree with each other, and the elements it
 * names exist and accept what the table says they are fed. */

#include <gst/gst.h>

#include "peer/metered-codec.h"

static gboolean
template_accepts (
    const char *factory_name, GstPadDirection dir, const GstCaps *caps)
{
  GstElementFactory *f = gst_element_factory_find (factory_name);
  gboolean ok = FALSE;

  g_assert_nonnull (f);
  for (const GList *l = gst_element_factory_get_static_pad_templates (f); l;
       l = l->next) {
    GstStaticPadTemplate *t = l->data;
    g_autoptr (GstCaps) tcaps = NULL;
    if (t->direction != dir)
      continue;
    tcaps = gst_static_pad_template_get_caps (t);
    ok = ok || gst_caps_can_intersect (tcaps, caps);
  }
  gst_object_unref (f);
  return ok;
}

/* Every name=value of props is a property of the factory's elements and
 * reads back as written once applied. */
static void
check_props (const char *factory_name, const char *props)
{
  GstElement *e;
  g_auto (GStrv) pairs = NULL;

  if (!props)
    return;
  e = gst_element_factory_make (factory_name, NULL);
  g_assert_nonnull (e);
  metered_codec_apply_props (e, props);
  pairs = g_strsplit (props, " ", -1);
  g_assert_cmpuint (g_strv_length (pairs), >, 0);
  for (guint i = 0; pairs[i]; i++) {
    g_auto (GStrv) kv = g_strsplit (pairs[i], "=", 2);
    GParamSpec *pspec;
    GValue value = G_VALUE_INIT;
    GValue want = G_VALUE_INIT;

    g_assert_cmpuint (g_strv_length (kv), ==, 2);
    pspec = g_object_class_find_property (G_OBJECT_GET_CLASS (e), kv[0]);
    g_assert_nonnull (pspec);
    g_value_init (&value, pspec->value_type);
    g_value_init (&want, pspec->value_type);
    g_object_get_property (G_OBJECT (e), kv[0], &value);
    g_assert_true (gst_value_deserialize (&want, kv[1]));
    g_assert_cmpint (gst_value_compare (&value, &want), ==, GST_VALUE_EQUAL);
    g_value_unset (&value);
    g_value_unset (&want);
  }
  gst_object_unref (e);
}

static void
check_row (gconstpointer data)
{
  const MeteredCodec *c = metered_codec_get (GPOINTER_TO_UINT (data));
  g_autoptr (GstCaps) track = gst_caps_from_string (c->track_caps);
  g_autoptr (GstCaps) accept = gst_caps_from_string (c->accept_caps);
  g_autoptr (GstCaps) recv = gst_caps_from_string (c->receive_caps);
  g_autoptr (GstCaps) encoded = gst_caps_new_empty_simple (c->caps_name);
  const GstStructure *s;
  int pt = 0, rate = 0;

  g_assert_cmpint (c->id, ==, GPOINTER_TO_UINT (data));
  g_assert_true (metered_codec_from_name (c->name) == c);
  g_assert_true (metered_codec_from_caps_name (c->caps_name) == c);
  g_assert_true (metered_codec_from_encoding_name (c->encoding_name) == c);
  /* payload types tell our media from resends: one row each */
  g_assert_true (metered_codec_from_payload_type (c->payload_type) == c);
  g_assert_true (
      g_str_has_prefix (c->caps_name, metered_media_kind_to_string (c->kind)));

  /* the caps parse and name the codec */
  g_assert_nonnull (track);
  g_assert_nonnull (accept);
  g_assert_nonnull (recv);
  g_assert_true (
      gst_structure_has_name (gst_caps_get_structure (track, 0), c->caps_name));
  g_assert_true (gst_caps_is_subset (track, accept));

  /* the receive caps say what the RTP columns say */
  s = gst_caps_get_structure (recv, 0);
  g_assert_true (gst_structure_has_name (s, "application/x-rtp"));
  g_assert_cmpstr (gst_structure_get_string (s, "media"), ==,
      metered_media_kind_to_string (c->kind));
  g_assert_cmpstr (
      gst_structure_get_string (s, "encoding-name"), ==, c->encoding_name);
  g_assert_true (gst_structure_get_int (s, "payload", &pt));
  g_assert_cmpint (pt, ==, c->payload_type);
  g_assert_true (gst_structure_get_int (s, "clock-rate", &rate));
  g_assert_cmpint (rate, ==, c->clock_rate);
  g_assert_cmpint (pt, >=, 96);
  g_assert_cmpint (pt, <=, 127);

  /* the elements exist and take what they are given */
  g_assert_true (template_accepts (c->payloader, GST_PAD_SINK, track));
  g_assert_true (template_accepts (c->depayloader, GST_PAD_SINK, recv));
  g_assert_true (template_accepts (c->depayloader, GST_PAD_SRC, encoded));
  if (c->parser) {
    g_assert_true (template_accepts (c->parser, GST_PAD_SINK, encoded));
    g_assert_true (template_accepts (c->parser, GST_PAD_SRC, track));
  }
  g_assert_true (c->parser || !c->parser_props);
  check_props (c->payloader, c->payloader_props);
  if (c->parser)
    check_props (c->parser, c->parser_props);
  g_assert_nonnull (metered_codec_pick_factory (c->encoders));
  g_assert_nonnull (metered_codec_pick_factory (c->decoders));
  for (guint i = 0; c->encoders[i]; i++)
    if (gst_registry_check_feature_version (
            gst_registry_get (), c->encoders[i], 1, 0, 0))
      g_assert_true (template_accepts (c->encoders[i], GST_PAD_SRC, encoded));
  for (guint i = 0; c->decoders[i]; i++)
    if (gst_registry_check_feature_version (
            gst_registry_get (), c->decoders[i], 1, 0, 0))
      g_assert_true (template_accepts (c->decoders[i], GST_PAD_SINK, encoded));
}

static void
check_unique (void)
{
  for (guint a = 0; a < METERED_CODEC_N; a++)
    for (guint b = a + 1; b < METERED_CODEC_N; b++) {
      const MeteredCodec *x = metered_codec_get (a), *y = metered_codec_get (b);
      g_assert_cmpint (x->payload_type, !=, y->payload_type);
      g_assert_cmpstr (x->name, !=, y->name);
      g_assert_cmpstr (x->caps_name, !=, y->caps_name);
    }
  g_assert_null (metered_codec_from_name ("av1"));
  g_assert_null (metered_codec_from_name (NULL));
  g_assert_null (metered_codec_from_caps_name ("video/x-raw"));
  g_assert_null (metered_codec_from_encoding_name ("PCMU"));
  g_assert_null (metered_codec_from_payload_type (97));
  g_assert_true (metered_codec_from_encoding_name ("opus") ==
                 metered_codec_get (METERED_CODEC_OPUS));
  g_assert_null (metered_codec_pick_factory (NULL));
  /* what the connections set on H.264, as they set it by hand before */
  {
    GstElement *pay = gst_element_factory_make ("rtph264pay", NULL);
    gint interval = 0, mode = 0;
    metered_codec_apply_props (
        pay, metered_codec_get (METERED_CODEC_H264)->payloader_props);
    g_object_get (pay, "config-interval", &interval, NULL);
    g_object_get (pay, "aggregate-mode", &mode, NULL);
    g_assert_cmpint (interval, ==, -1);
    g_assert_cmpint (mode, ==, 1);
    gst_object_unref (pay);
  }
}

int
main (int argc, char **argv)
{
  gst_init (&argc, &argv);
  g_test_init (&argc, &argv, NULL);
  for (guint i = 0; i < METERED_CODEC_N; i++) {
    g_autofree char *path =
        g_strdup_printf ("/codec/row/%s", metered_codec_get (i)->name);
    g_test_add_data_func (path, GUINT_TO_POINTER (i), check_row);
  }
  g_test_add_func ("/codec/unique", check_unique);
  return g_test_run ();
}
