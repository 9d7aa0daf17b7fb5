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

#include "redis-harness.h"

#include <arpa/inet.h>
#include <glib/gstdio.h>
#include <netinet/in.h>
#include <sys/prctl.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

static int
free_port (void)
{
  struct sockaddr_in sa = { 0 };
  socklen_t len = sizeof sa;
  int fd = socket (AF_INET, SOCK_STREAM, 0);
  int port;

  g_assert_cmpint (fd, >=, 0);
  sa.sin_family = AF_INET;
  sa.sin_addr.s_addr = htonl (INADDR_LOOPBACK);
  g_assert_cmpint (bind (fd, (struct sockaddr *) &sa, sizeof sa), ==, 0);
  g_assert_cmpint (getsockname (fd, (struct sockaddr *) &sa, &len), ==, 0);
  port = ntohs (sa.sin_port);
  close (fd);
  return port;
}

/* A test that fails aborts: its redis-server must not outlive it. */
static void
die_with_parent (gpointer data)
{
  prctl (PR_SET_PDEATHSIG, SIGKILL);
}

static gboolean
spawn (TestRedis *r)
{
  g_autofree char *port = g_strdup_printf ("%d", r->port);
  g_autofree char *log = g_build_filename (r->dir, "redis.log", NULL);
  const char *argv[] = { "redis-server", "--port", port, "--bind", "127.0.0.1",
    "--save", "", "--appendonly", "no", "--dir", r->dir, "--logfile", log,
    "--enable-debug-command", "local", NULL };
  g_autoptr (GError) error = NULL;
  gint64 deadline;

  if (!g_spawn_async (NULL, (char **) argv, NULL,
          G_SPAWN_SEARCH_PATH | G_SPAWN_DO_NOT_REAP_CHILD, die_with_parent,
          NULL, &r->pid, &error))
    g_error ("cannot start redis-server: %s", error->message);

  /* Ready when a PING is answered; bounded. */
  deadline = g_get_monotonic_time () + 10 * G_USEC_PER_SEC;
  while (g_get_monotonic_time () < deadline) {
    struct timeval tv = { 1, 0 };
    redisContext *c = redisConnectWithTimeout ("127.0.0.1", r->port, tv);
    int status;

    if (c && !c->err) {
      redisReply *reply = redisCommand (c, "PING");

      if (reply && reply->type == REDIS_REPLY_STATUS) {
        freeReplyObject (reply);
        redisSetTimeout (c, (struct timeval){ 10, 0 });
        r->sync = c;
        return TRUE;
      }
      if (reply)
        freeReplyObject (reply);
    }
    if (c)
      redisFree (c);
    /* Exited (port taken between free_port and bind)? */
    if (waitpid (r->pid, &status, WNOHANG) == r->pid) {
      g_spawn_close_pid (r->pid);
      r->pid = 0;
      return FALSE;
    }
    g_usleep (20 * 1000);
  }
  g_error ("redis-server on port %d did not answer within 10 s", r->port);
  return FALSE;
}

TestRedis *
test_redis_start (void)
{
  g_autofree char *exe = g_find_program_in_path ("redis-server");
  TestRedis *r;
  int attempt;

  if (!exe) {
    g_test_skip ("redis-server is not installed (scripts/run-tests.sh "
                 "installs it)");
    return NULL;
  }
  r = g_new0 (TestRedis, 1);
  r->dir = g_dir_make_tmp ("metered-redis-XXXXXX", NULL);
  g_assert_nonnull (r->dir);
  for (attempt = 0; attempt < 5; attempt++) {
    r->port = free_port ();
    if (spawn (r))
      return r;
  }
  g_error ("redis-server did not start on a free port in 5 attempts");
  return NULL;
}

void
test_redis_kill (TestRedis *r)
{
  int status;

  if (r->sync) {
    redisFree (r->sync);
    r->sync = NULL;
  }
  if (r->pid) {
    kill (r->pid, SIGKILL);
    g_assert_cmpint (waitpid (r->pid, &status, 0), ==, r->pid);
    g_spawn_close_pid (r->pid);
    r->pid = 0;
  }
}

void
test_redis_restart (TestRedis *r)
{
  int attempt;

  g_assert_cmpint (r->pid, ==, 0);
  /* The old process is gone; its port is normally free at once (Redis
   * sets SO_REUSEADDR). */
  for (attempt = 0; attempt < 50 && !spawn (r); attempt++)
    g_usleep (100 * 1000);
  g_assert_nonnull (r->sync);
}

void
test_redis_stop (TestRedis *r)
{
  g_autoptr (GDir) dir = NULL;
  const char *name;

  if (!r)
    return;
  test_redis_kill (r);
  dir = g_dir_open (r->dir, 0, NULL);
  while (dir && (name = g_dir_read_name (dir))) {
    g_autofree char *path = g_build_filename (r->dir, name, NULL);
    g_unlink (path);
  }
  g_rmdir (r->dir);
  g_free (r->dir);
  g_free (r);
}

redisReply *
test_redis_cmd (TestRedis *r, const char *fmt, ...)
{
  va_list ap;
  redisReply *reply;

  va_start (ap, fmt);
  reply = redisvCommand (r->sync, fmt, ap);
  va_end (ap);
  g_assert_nonnull (reply);
  return reply;
}

long long
test_redis_int (TestRedis *r, const char *fmt, ...)
{
  va_list ap;
  redisReply *reply;
  long long v;

  va_start (ap, fmt);
  reply = redisvCommand (r->sync, fmt, ap);
  va_end (ap);
  g_assert_nonnull (reply);
  g_assert_cmpint (reply->type, ==, REDIS_REPLY_INTEGER);
  v = reply->integer;
  freeReplyObject (reply);
  return v;
}

static gboolean
wake (gpointer data)
{
  return G_SOURCE_CONTINUE;
}

gboolean
test_wait_until (
    gboolean (*cond) (gpointer data), gpointer data, guint timeout_ms)
{
  gint64 deadline = g_get_monotonic_time () + (gint64) timeout_ms * 1000;
  guint tick = g_timeout_add (10, wake, NULL);
  gboolean ok;

  while (!(ok = cond (data)) && g_get_monotonic_time () < deadline)
    g_main_context_iteration (NULL, TRUE);
  g_source_remove (tick);
  return ok;
}

static gboolean
never (gpointer data)
{
  return FALSE;
}

void
test_run_for (guint ms)
{
  test_wait_until (never, NULL, ms);
}
