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

/* NULL -> PLAYING -> NULL, 200 times (METERED_CYCLES overrides), with a
 * live source, against a running metered-server and with a signalling
 * peer in the channel, so that every cycle connects, joins, builds a
 * webrtcbin connection to that peer, pushes encoded buffers and tears
 * everything down. Nothing may leak: the resident set stays bounded here,
 * and LeakSanitizer checks every block in the AddressSanitizer build.
 * Each cycle waits for conditions (connected, a connection to the peer,
 * buffers sent), never for time. */

#include <gst/check/gstcheck.h>

#include "sink-test-util.h"

#include <glib/gstdio.h>

static gint connected; /* atomic */
static gint errors; /* atomic */

static GstBusSyncReply
on_message (GstBus *bus, GstMessage *msg, gpointer data)
{
  if (GST_MESSAGE_TYPE (msg) == GST_MESSAGE_ERROR) {
    g_autoptr (GError) error = NULL;
    gst_message_parse_error (msg, &error, NULL);
    g_printerr ("error: %s\n", error->message);
    g_atomic_int_inc (&errors);
  } else if (GST_MESSAGE_TYPE (msg) == GST_MESSAGE_ELEMENT &&
             gst_message_has_name (msg, "metered/connected")) {
    g_atomic_int_inc (&connected);
  }
  /* a sync handler that drops a message owns it */
  gst_message_unref (msg);
  return GST_BUS_DROP;
}

/* Threads of this process whose name starts with prefix; with
 * in_poll, only those blocked in poll(2) (x86-64 syscall 7): a GstTask
 * pool thread keeps the name of its last task while it idles on a futex,
 * but a running ICE source (nicesrc) sits in its main loop's poll. */
static guint
count_threads (const char *prefix, gboolean in_poll)
{
  g_autoptr (GDir) dir = g_dir_open ("/proc/self/task", 0, NULL);
  const char *tid;
  guint n = 0;

  while (dir && (tid = g_dir_read_name (dir))) {
    g_autofree char *path =
        g_build_filename ("/proc/self/task", tid, "comm", NULL);
    g_autofree char *sys_path =
        g_build_filename ("/proc/self/task", tid, "syscall", NULL);
    g_autofree char *comm = NULL, *sys = NULL;
    if (!g_file_get_contents (path, &comm, NULL, NULL) ||
        !g_str_has_prefix (comm, prefix))
      continue;
    if (in_poll && (!g_file_get_contents (sys_path, &sys, NULL, NULL) ||
                       !g_str_has_prefix (sys, "7 ")))
      continue;
    if (g_getenv ("SINK_TEST_VERBOSE"))
      g_printerr ("thread %s: %s", tid, comm);
    n++;
  }
  return n;
}

static guint
peer_connections (GstElement *sink)
{
  GstStructure *stats = NULL;
  const GValue *list;
  guint n = 0;

  g_object_get (sink, "stats", &stats, NULL);
  list = gst_structure_get_value (stats, "peer-stats");
  for (guint i = 0; list && i < gst_value_list_get_size (list); i++)
    if (gst_structure_has_field (
            gst_value_get_structure (gst_value_list_get_value (list, i)),
            "connection-state"))
      n++;
  gst_structure_free (stats);
  return n;
}

GST_START_TEST (test_cycles)
{
  const char *env = g_getenv ("METERED_CYCLES");
  guint cycles = env ? (guint) g_ascii_strtoull (env, NULL, 10) : 200;
  TestServer *srv = test_server_start (0, NULL);
  g_autofree char *url = test_server_url (srv);
  g_autofree char *desc = g_strdup_printf (
      "videotestsrc is-live=true ! "
      "video/x-raw,width=160,height=120,framerate=30/1 ! "
      "meteredsink name=s channel=cycles api-key=pk_dev_local url=%s "
      "stream-metadata=meta,role=camera",
      url);
  g_autoptr (GError) error = NULL;
  GstElement *p = gst_parse_launch (desc, &error);
  GstElement *s = gst_bin_get_by_name (GST_BIN (p), "s");
  GstBus *bus = gst_pipeline_get_bus (GST_PIPELINE (p));
  SinkFakePeer *peer = sink_fake_peer_join (srv, "cycles");
  gsize rss_warm = 0, rss_end;
  gint64 t0 = g_get_monotonic_time ();

  gst_bus_set_sync_handler (bus, on_message, NULL, NULL);
  for (guint c = 0; c < cycles; c++) {
    guint64 sent;
    gint before = g_atomic_int_get (&connected);

    fail_unless (gst_element_set_state (p, GST_STATE_PLAYING) !=
                 GST_STATE_CHANGE_FAILURE);
    test_assert_wait (g_atomic_int_get (&connected) > before, 10000);
    test_assert_wait (peer_connections (s) == 1, 10000);
    sent = sink_stats_track_u64 (s, 0, "buffers-sent");
    test_assert_wait (
        sink_stats_track_u64 (s, 0, "buffers-sent") > sent, 10000);
    fail_unless_equals_int (
        gst_element_set_state (p, GST_STATE_NULL), GST_STATE_CHANGE_SUCCESS);
    fail_unless_equals_int (g_atomic_int_get (&errors), 0);
    test_drain ();
    /* what the fake peer was sent (offers, candidates) is not ours */
    g_ptr_array_set_size (peer->directs, 0);
    if (c == MIN (20u, cycles / 4))
      rss_warm = test_rss_kib ();
  }
  /* Connections are stopped on threads of their own: let them finish. */
  test_assert_wait (count_threads ("metered-pc-stop", FALSE) == 0, 20000);
  /* ...and no ICE source of any of them may still be running */
  test_wait_until (count_threads ("nicesrc", TRUE) == 0, 10000);
  fail_unless_equals_int (count_threads ("nicesrc", TRUE), 0);
  rss_end = test_rss_kib ();
  g_print ("%u cycles in %.1f s; RSS %" G_GSIZE_FORMAT " KiB after warm-up, "
           "%" G_GSIZE_FORMAT " KiB at the end\n",
      cycles, (g_get_monotonic_time () - t0) / 1e6, rss_warm, rss_end);
  /* AddressSanitizer's quarantine makes RSS meaningless: LeakSanitizer
   * judges there. */
  if (!g_getenv ("METERED_SANITIZED"))
    fail_unless (rss_end < rss_warm + 8 * 1024,
        "RSS grew from %" G_GSIZE_FORMAT " to %" G_GSIZE_FORMAT " KiB",
        rss_warm, rss_end);

  sink_fake_peer_leave (peer);
  gst_bus_set_sync_handler (bus, NULL, NULL, NULL);
  gst_object_unref (bus);
  gst_object_unref (s);
  gst_object_unref (p);
  test_server_free (srv);
}

GST_END_TEST;

static Suite *
meteredsink_cycles_suite (void)
{
  Suite *s = suite_create ("meteredsink-cycles");
  TCase *tc = tcase_create ("cycles");

  tcase_set_timeout (tc, 120);
  suite_add_tcase (s, tc);
  tcase_add_test (tc, test_cycles);
  return s;
}

GST_CHECK_MAIN (meteredsink_cycles);
