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

#include <glib.h>
#include <hiredis/hiredis.h>

G_BEGIN_DECLS

/* A redis-server the test starts on a free loopback port, with no
 * persistence, in a temporary directory removed at stop. */
typedef struct
{
  GPid pid;
  int port;
  char *dir;
  redisContext *sync; /* a blocking client for the test's own checks */
} TestRedis;

/* NULL (and a g_test_skip) when redis-server is not installed. */
TestRedis *test_redis_start (void);
/* SIGKILL, wait, no restart. */
void test_redis_kill (TestRedis *r);
/* Starts again on the same port (the data is gone: no persistence). */
void test_redis_restart (TestRedis *r);
void test_redis_stop (TestRedis *r);
/* A command on the blocking client; caller frees with freeReplyObject. */
redisReply *test_redis_cmd (TestRedis *r, const char *fmt, ...);
/* The reply of a command as an integer (asserts it is one). */
long long test_redis_int (TestRedis *r, const char *fmt, ...);

/* Iterates the default main context until cond (data) holds or
 * timeout_ms passes; returns cond's last value. Never sleeps blindly. */
gboolean test_wait_until (
    gboolean (*cond) (gpointer data), gpointer data, guint timeout_ms);
/* Iterates for ms, processing events (for "nothing more happens"). */
void test_run_for (guint ms);

G_END_DECLS
