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

/* Teardown under load: join a channel whose other member sends video,
 * wait for frames, leave, N times in one process. Prints the fds and
 * threads after the first cycle and after the last (once every
 * connection's teardown finished): they must be back where they were.
 * Exit 0 when every cycle received frames and nothing grew. */

#include "peer/metered-session.h"

#include <dirent.h>
#include <stdio.h>

static gint frames; /* atomic */

static void
on_sample (MeteredSession *s, const char *peer_id,
    const MeteredRemoteTrack *track, GstBuffer *buffer, gpointer data)
{
  g_atomic_int_inc (&frames);
}

static guint
count_dir (const char *path)
{
  DIR *dir = opendir (path);
  guint n = 0;

  if (!dir)
    return 0;
  while (readdir (dir))
    n++;
  closedir (dir);
  return n;
}

static gboolean
flag_set (gpointer data)
{
  *(gboolean *) data = TRUE;
  return G_SOURCE_REMOVE;
}

/* One join / receive / leave. FALSE if no frame arrived in time. */
static gboolean
cycle (const char *url, const char *token, const char *channel)
{
  MeteredSignallingClient *client = metered_signalling_client_new (NULL, NULL);
  MeteredSession *session;
  gint start = g_atomic_int_get (&frames);
  gboolean timeout = FALSE;
  guint id;

  g_object_set (client, "url", url, "token", token, NULL);
  session = metered_session_new (client, channel);
  metered_session_set_receive (session, TRUE);
  metered_session_set_sample_func (session, on_sample, NULL, NULL);
  metered_session_start (session);
  id = g_timeout_add_seconds (20, flag_set, &timeout);
  while (!timeout && g_atomic_int_get (&frames) - start < 10)
    g_main_context_iteration (NULL, TRUE);
  if (!timeout)
    g_source_remove (id);
  metered_session_stop (session);
  g_object_unref (session);
  g_object_unref (client);
  /* Let the client's close and libsoup finish on this context. */
  for (guint i = 0; i < 50 && g_main_context_iteration (NULL, FALSE); i++)
    ;
  return !timeout;
}

int
main (int argc, char **argv)
{
  guint n, fds0 = 0, threads0 = 0, fds1, threads1;

  gst_init (&argc, &argv);
  if (argc != 5) {
    g_printerr ("usage: teardown-cycles URL TOKEN CHANNEL CYCLES\n");
    return 2;
  }
  n = (guint) g_ascii_strtoull (argv[4], NULL, 10);
  for (guint i = 0; i < n; i++) {
    if (!cycle (argv[1], argv[2], argv[3])) {
      g_printerr ("cycle %u: no frames within 20 s\n", i + 1);
      return 1;
    }
    if (i == 0) {
      metered_connection_wait_stopped (10000);
      fds0 = count_dir ("/proc/self/fd");
      threads0 = count_dir ("/proc/self/task");
    }
  }
  if (!metered_connection_wait_stopped (20000)) {
    g_printerr ("connection teardowns still running after 20 s\n");
    return 1;
  }
  /* Threads of GStreamer's task pools wind down on their own. */
  for (guint i = 0; i < 50 && count_dir ("/proc/self/task") > threads0; i++)
    g_usleep (100 * 1000);
  fds1 = count_dir ("/proc/self/fd");
  threads1 = count_dir ("/proc/self/task");
  g_print ("CYCLES %u frames %d fds %u->%u threads %u->%u\n", n,
      g_atomic_int_get (&frames), fds0, fds1, threads0, threads1);
  return fds1 <= fds0 && threads1 <= threads0 ? 0 : 1;
}
