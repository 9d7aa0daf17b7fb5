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

/* meteredsrc as an element, no network: registration, pad templates,
 * properties and their defaults, the configuration errors, a live state
 * cycle against a server that is not there (no pads, no error: it keeps
 * reconnecting), stats, send-data and EOS. */

#include <gst/check/gstcheck.h>

static GstElement *
make_src (void)
{
  GstElement *src = gst_element_factory_make ("meteredsrc", NULL);

  fail_unless (src != NULL, "meteredsrc is not registered (GST_PLUGIN_PATH)");
  return src;
}

GST_START_TEST (test_templates_and_defaults)
{
  GstElement *src = make_src ();
  GstElementClass *klass = GST_ELEMENT_GET_CLASS (src);
  GstPadTemplate *video =
      gst_element_class_get_pad_template (klass, "video_%s");
  GstPadTemplate *audio =
      gst_element_class_get_pad_template (klass, "audio_%s");
  g_autofree char *role = NULL;
  g_autofree char *peer = NULL;
  gboolean keep = TRUE;
  guint gap = 0;
  gint output = -1;
  g_autoptr (GstCaps) vcaps = NULL;
  g_autoptr (GstCaps) vp8 = gst_caps_from_string ("video/x-vp8");
  g_autoptr (GstCaps) avc =
      gst_caps_from_string ("video/x-h264, stream-format=avc, alignment=au");

  fail_unless (video && audio);
  fail_unless_equals_int (GST_PAD_TEMPLATE_PRESENCE (video), GST_PAD_SOMETIMES);
  fail_unless_equals_int (GST_PAD_TEMPLATE_DIRECTION (audio), GST_PAD_SRC);
  vcaps = gst_pad_template_get_caps (video);
  fail_unless (gst_caps_can_intersect (vcaps, vp8));
  fail_unless (gst_caps_can_intersect (vcaps, avc));
  fail_unless (GST_OBJECT_FLAG_IS_SET (src, GST_ELEMENT_FLAG_SOURCE));

  g_object_get (src, "output", &output, "keep-pads-on-leave", &keep,
      "gap-timeout", &gap, "peer-id", &peer, "stream-role", &role, NULL);
  fail_unless_equals_int (output, 1); /* decoded */
  fail_if (keep);
  fail_unless_equals_int (gap, 1000);
  fail_unless (peer == NULL && role == NULL);

  gst_util_set_object_arg (G_OBJECT (src), "output", "encoded");
  g_object_get (src, "output", &output, NULL);
  fail_unless_equals_int (output, 0);
  /* The common properties come from the shared runtime. */
  fail_unless (g_object_class_find_property (G_OBJECT_GET_CLASS (src), "url"));
  fail_unless (g_object_class_find_property (
      G_OBJECT_GET_CLASS (src), "dead-peer-timeout"));
  fail_unless (g_signal_lookup ("send-data", G_OBJECT_TYPE (src)));
  fail_unless (g_signal_lookup ("request-token", G_OBJECT_TYPE (src)));
  fail_unless (g_signal_lookup ("data", G_OBJECT_TYPE (src)));
  gst_object_unref (src);
}

GST_END_TEST;

GST_START_TEST (test_no_channel_is_an_error)
{
  GstElement *pipeline = gst_pipeline_new (NULL);
  GstElement *src = make_src ();
  GstBus *bus = gst_element_get_bus (pipeline);
  GstMessage *msg;
  GError *error = NULL;

  gst_bin_add (GST_BIN (pipeline), src);
  g_object_set (src, "api-key", "pk_dev_local", NULL);
  fail_unless_equals_int (gst_element_set_state (pipeline, GST_STATE_PAUSED),
      GST_STATE_CHANGE_FAILURE);
  msg = gst_bus_pop_filtered (bus, GST_MESSAGE_ERROR);
  fail_unless (msg != NULL);
  gst_message_parse_error (msg, &error, NULL);
  fail_unless (
      g_error_matches (error, GST_RESOURCE_ERROR, GST_RESOURCE_ERROR_SETTINGS));
  g_error_free (error);
  gst_message_unref (msg);
  gst_element_set_state (pipeline, GST_STATE_NULL);
  gst_object_unref (bus);
  gst_object_unref (pipeline);
}

GST_END_TEST;

/* Nothing listens at the URL: the element is live, joins nothing, keeps
 * retrying, exposes no pad and posts no error. */
GST_START_TEST (test_live_cycle_without_server)
{
  GstElement *pipeline = gst_pipeline_new (NULL);
  GstElement *src = make_src ();
  GstBus *bus = gst_element_get_bus (pipeline);
  g_autoptr (GstStructure) stats = NULL;
  const GValue *pads;
  gboolean queued = TRUE;

  gst_bin_add (GST_BIN (pipeline), src);
  g_object_set (src, "url", "ws://127.0.0.1:9", "channel", "nowhere", "api-key",
      "pk_dev_local", "reconnect-initial-delay", 50, NULL);

  g_signal_emit_by_name (src, "send-data", NULL, "{\"a\":1}", &queued);
  fail_if (queued, "send-data before PLAYING");

  fail_unless_equals_int (gst_element_set_state (pipeline, GST_STATE_PAUSED),
      GST_STATE_CHANGE_NO_PREROLL);
  fail_unless (gst_element_set_state (pipeline, GST_STATE_PLAYING) !=
               GST_STATE_CHANGE_FAILURE);
  fail_unless_equals_int (src->numsrcpads, 0);

  g_object_get (src, "stats", &stats, NULL);
  fail_unless (stats != NULL);
  pads = gst_structure_get_value (stats, "pad-stats");
  fail_unless (pads && GST_VALUE_HOLDS_LIST (pads));
  fail_unless_equals_int (gst_value_list_get_size (pads), 0);

  g_signal_emit_by_name (src, "send-data", NULL, "{not json", &queued);
  fail_if (queued, "invalid JSON");
  g_signal_emit_by_name (src, "send-data", "bad\npeer", "{}", &queued);
  fail_if (queued, "invalid peer id");
  g_signal_emit_by_name (src, "send-data", NULL, "{\"a\":1}", &queued);
  fail_unless (queued);

  fail_unless (gst_element_send_event (src, gst_event_new_eos ()));
  fail_unless (gst_bus_pop_filtered (bus, GST_MESSAGE_ERROR) == NULL);

  fail_unless_equals_int (gst_element_set_state (pipeline, GST_STATE_NULL),
      GST_STATE_CHANGE_SUCCESS);
  gst_object_unref (bus);
  gst_object_unref (pipeline);
}

GST_END_TEST;

static Suite *
src_element_suite (void)
{
  Suite *s = suite_create ("meteredsrc");
  TCase *tc = tcase_create ("element");

  suite_add_tcase (s, tc);
  tcase_add_test (tc, test_templates_and_defaults);
  tcase_add_test (tc, test_no_channel_is_an_error);
  tcase_add_test (tc, test_live_cycle_without_server);
  return s;
}

GST_CHECK_MAIN (src_element);
