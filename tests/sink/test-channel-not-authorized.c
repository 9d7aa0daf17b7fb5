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

/* A credential without the element's channel (issue 13, defect 4): the
 * subscribe is refused with channel_not_authorized. The element posts
 * RESOURCE/NOT_AUTHORIZED (close code 4003) and then ends clean, before
 * the application reacts: no connection left on the server (it was left
 * connected outside the channel), no signalling thread left running. */

#include <gst/check/gstcheck.h>
#include <dirent.h>
#include <string.h>

#include "sink-test-util.h"

/* A token for sub whose channels are elsewhere-* only. */
static char *
mint_token_elsewhere (const char *sub)
{
  const char *argv[] = { test_server_binary (), "--mint-token", "--dev",
    "--sub", sub, "--channels", "elsewhere-*", "--ttl", "600", NULL };
  g_autofree char *out = NULL;
  g_autoptr (GError) error = NULL;
  gint status = 0;

  if (!g_spawn_sync (NULL, (char **) argv, NULL, G_SPAWN_STDERR_TO_DEV_NULL,
          NULL, NULL, &out, NULL, &status, &error) ||
      !g_spawn_check_wait_status (status, NULL))
    g_error ("--mint-token failed: %s", error ? error->message : "status");
  return g_strdup (g_strstrip (out));
}

/* Threads of this process named like the elements' signalling thread
 * (the kernel keeps 15 characters of a name). */
static guint
count_signalling_threads (void)
{
  DIR *dir = opendir ("/proc/self/task");
  struct dirent *entry;
  guint n = 0;

  fail_unless (dir != NULL);
  while ((entry = readdir (dir))) {
    g_autofree char *path = NULL, *comm = NULL;

    if (entry->d_name[0] == '.')
      continue;
    path = g_strdup_printf ("/proc/self/task/%s/comm", entry->d_name);
    if (g_file_get_contents (path, &comm, NULL, NULL) &&
        g_str_has_prefix (comm, "metered-signal"))
      n++;
  }
  closedir (dir);
  return n;
}

static void
check_channel_not_authorized (const char *factory)
{
  TestServer *srv = test_server_start (0, NULL);
  g_autofree char *url = test_server_url (srv);
  g_autofree char *sub = g_strdup_printf ("no-chan-%s", factory);
  g_autofree char *token = mint_token_elsewhere (sub);
  GstElement *p = gst_pipeline_new (NULL);
  GstElement *e = gst_element_factory_make (factory, NULL);
  const GstStructure *details;
  SinkBusLog *log;
  gint code = 0;

  fail_unless (e != NULL);
  fail_unless_equals_int (count_signalling_threads (), 0);
  g_object_set (e, "url", url, "channel", "not-mine", "token", token,
      "reconnect-initial-delay", 200, NULL);
  gst_bin_add (GST_BIN (p), e);
  log = sink_bus_log_new (p);
  fail_unless (
      gst_element_set_state (p, GST_STATE_PLAYING) != GST_STATE_CHANGE_FAILURE);

  test_assert_wait (sink_bus_log_has_error (log), 10000);
  fail_unless (g_error_matches (log->error, GST_RESOURCE_ERROR,
                   GST_RESOURCE_ERROR_NOT_AUTHORIZED),
      "got %s", log->error->message);
  details = g_ptr_array_index (log->structures, sink_bus_log_error_index (log));
  fail_unless (gst_structure_get_int (details, "close-code", &code));
  fail_unless_equals_int (code, 4003);
  fail_unless_equals_int (sink_bus_log_count (log, "metered/connected", 0), 1);

  /* Still PLAYING (the application has not reacted yet): the element has
   * let go of the server and stopped its thread by itself. */
  if (!test_wait_until (test_admin_count_peers (srv->port) == 0, 3000))
    fail ("%s: still connected to the server 3 s after its error (%u "
          "connections)",
        factory, test_admin_count_peers (srv->port));
  if (!test_wait_until (count_signalling_threads () == 0, 3000))
    fail ("%s: %u signalling thread(s) still running 3 s after its error",
        factory, count_signalling_threads ());
  fail_unless_equals_int (sink_bus_log_count (log, "error", 0), 1);

  /* And the way back to NULL and PLAYING again still works. */
  fail_unless (
      gst_element_set_state (p, GST_STATE_NULL) == GST_STATE_CHANGE_SUCCESS);
  fail_unless_equals_int (count_signalling_threads (), 0);
  fail_unless (
      gst_element_set_state (p, GST_STATE_PLAYING) != GST_STATE_CHANGE_FAILURE);
  test_assert_wait (sink_bus_log_count (log, "error", 0) == 2, 10000);
  test_assert_wait (test_admin_count_peers (srv->port) == 0, 3000);
  gst_element_set_state (p, GST_STATE_NULL);
  fail_unless_equals_int (count_signalling_threads (), 0);

  gst_object_unref (p);
  sink_bus_log_free (log);
  test_server_free (srv);
}

GST_START_TEST (test_sink_channel_not_authorized)
{
  check_channel_not_authorized ("meteredsink");
}

GST_END_TEST;

GST_START_TEST (test_src_channel_not_authorized)
{
  check_channel_not_authorized ("meteredsrc");
}

GST_END_TEST;

static Suite *
channel_not_authorized_suite (void)
{
  Suite *s = suite_create ("channel-not-authorized");
  TCase *tc = tcase_create ("channel-not-authorized");

  tcase_set_timeout (tc, 60);
  suite_add_tcase (s, tc);
  tcase_add_test (tc, test_sink_channel_not_authorized);
  tcase_add_test (tc, test_src_channel_not_authorized);
  return s;
}

GST_CHECK_MAIN (channel_not_authorized);
