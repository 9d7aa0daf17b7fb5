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
#include <gio/gio.h>
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

/* A TCP proxy on a free loopback port in front of the test's Redis, on
 * the default main context, that can blackhole one connection: bytes are
 * read and dropped, the socket stays open (a half-dead peer, or a Redis
 * that no longer sends to a subscriber). */
typedef struct _TestProxy TestProxy;

TestProxy *test_proxy_new (int target_port);
int test_proxy_get_port (TestProxy *proxy);
/* Blackholes the pair whose upstream socket has local port
 * upstream_port (as Redis's CLIENT LIST shows it); FALSE if none. */
gboolean test_proxy_blackhole (TestProxy *proxy, int upstream_port);
void test_proxy_free (TestProxy *proxy);

/* Iterates the default main context until cond (data) holds or
 * timeout_ms passes; returns cond's last value. Never sleeps blindly. */
gboolean test_wait_until (
    gboolean (*cond) (gpointer data), gpointer data, guint timeout_ms);
/* Iterates for ms, processing events (for "nothing more happens"). */
void test_run_for (guint ms);

G_END_DECLS
