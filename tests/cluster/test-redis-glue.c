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

/* metered-redis against a real redis-server this test starts: commands,
 * pub/sub, Redis kill -9 and restart (new run_id, resubscribe, resync),
 * a killed subscriber connection, a command timeout. */

#include <gio/gio.h>
#include <stdlib.h>
#include <string.h>

#include "metered-redis.h"
#include "metered-test-proxy.h"
#include "redis-harness.h"

typedef struct
{
  TestRedis *server;
  int port; /* where metered-redis connects: Redis, or a proxy */
  MeteredRedis *redis;
  guint resyncs[3];
  MeteredRedisResync last_why;
  guint downs;
  GPtrArray *messages; /* "channel=data" */
  GPtrArray *subscribed;
  guint replies;
  guint errors;
  char *last_value;
} Fixture;

static void
on_state (MeteredRedis *redis, MeteredRedisState state, gpointer user_data)
{
  Fixture *f = user_data;

  if (state == METERED_REDIS_DOWN)
    f->downs++;
}

static void
on_resync (MeteredRedis *redis, MeteredRedisResync why, gpointer user_data)
{
  Fixture *f = user_data;

  f->resyncs[why]++;
  f->last_why = why;
}

static void
on_subscribed (MeteredRedis *redis, const char *channel, gpointer user_data)
{
  Fixture *f = user_data;

  g_ptr_array_add (f->subscribed, g_strdup (channel));
}

static void
on_message (MeteredRedis *redis, const char *channel, const char *data,
    gsize len, gpointer user_data)
{
  Fixture *f = user_data;

  g_ptr_array_add (
      f->messages, g_strdup_printf ("%s=%.*s", channel, (int) len, data));
}

static const MeteredRedisCallbacks callbacks = {
  on_state,
  on_resync,
  on_subscribed,
  on_message,
};

static void
fixture_start (Fixture *f, guint command_timeout_ms)
{
  MeteredRedisConfig config;

  metered_redis_config_init (&config);
  config.port = f->port;
  config.client_name = g_strdup ("test-node");
  config.probe_interval_ms = 200;
  if (command_timeout_ms)
    config.command_timeout_ms = command_timeout_ms;
  f->redis = metered_redis_new (&config, &callbacks, f);
  metered_redis_config_clear (&config);
}

static gboolean
setup (Fixture *f)
{
  memset (f, 0, sizeof *f);
  f->server = test_redis_start ();
  if (!f->server)
    return FALSE;
  f->port = f->server->port;
  f->messages = g_ptr_array_new_with_free_func (g_free);
  f->subscribed = g_ptr_array_new_with_free_func (g_free);
  return TRUE;
}

static void
teardown (Fixture *f)
{
  metered_redis_free (f->redis);
  test_redis_stop (f->server);
  g_ptr_array_unref (f->messages);
  g_ptr_array_unref (f->subscribed);
  g_free (f->last_value);
}

static gboolean
is_up (gpointer data)
{
  Fixture *f = data;

  return metered_redis_get_state (f->redis) == METERED_REDIS_UP;
}

static gboolean
is_not_up (gpointer data)
{
  return !is_up (data);
}

static void
on_reply (MeteredRedis *redis, const redisReply *reply, const GError *error,
    gpointer user_data)
{
  Fixture *f = user_data;

  if (error) {
    f->errors++;
    return;
  }
  f->replies++;
  g_free (f->last_value);
  f->last_value =
      reply->type == REDIS_REPLY_STRING || reply->type == REDIS_REPLY_STATUS
          ? g_strndup (reply->str, reply->len)
          : g_strdup_printf ("int:%lld", reply->integer);
}

static void
command (Fixture *f, int argc, const char *const *argv)
{
  g_autoptr (GError) error = NULL;

  g_assert_true (metered_redis_command_argv (
      f->redis, argc, argv, NULL, on_reply, f, &error));
  g_assert_no_error (error);
}

static guint target;

static gboolean
replies_reach (gpointer data)
{
  Fixture *f = data;

  return f->replies + f->errors >= target;
}

static gboolean
messages_reach (gpointer data)
{
  Fixture *f = data;

  return f->messages->len >= target;
}

static gboolean
subscribed_reach (gpointer data)
{
  Fixture *f = data;

  return f->subscribed->len >= target;
}

static void
publish_and_expect (Fixture *f, const char *channel, const char *data)
{
  const char *argv[] = { "PUBLISH", channel, data };
  g_autofree char *want = g_strdup_printf ("%s=%s", channel, data);

  target = f->messages->len + 1;
  command (f, 3, argv);
  g_assert_true (test_wait_until (messages_reach, f, 5000));
  g_assert_cmpstr (f->messages->pdata[f->messages->len - 1], ==, want);
}

static void
test_url (void)
{
  MeteredRedisConfig c;
  g_autoptr (GError) error = NULL;

  metered_redis_config_init (&c);
  g_assert_true (metered_redis_config_parse_url (&c, "redis://10.0.0.5", NULL));
  g_assert_cmpstr (c.host, ==, "10.0.0.5");
  g_assert_cmpint (c.port, ==, 6379);
  g_assert_null (c.password);
  g_assert_true (metered_redis_config_parse_url (
      &c, "redis://:s3cret@127.0.0.1:7000/0", NULL));
  g_assert_cmpint (c.port, ==, 7000);
  g_assert_cmpstr (c.password, ==, "s3cret");
  g_assert_true (
      metered_redis_config_parse_url (&c, "redis://alice:pw@[::1]:7001", NULL));
  g_assert_cmpstr (c.host, ==, "::1");
  g_assert_cmpstr (c.password, ==, "alice\npw");

  g_assert_false (
      metered_redis_config_parse_url (&c, "http://:hunter2@127.0.0.1", &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT);
  /* The error never repeats the URL (it may hold a password). */
  g_assert_null (strstr (error->message, "hunter2"));
  g_clear_error (&error);
  g_assert_false (
      metered_redis_config_parse_url (&c, "redis://127.0.0.1/3", &error));
  g_assert_nonnull (strstr (error->message, "database"));
  g_clear_error (&error);
  g_assert_false (
      metered_redis_config_parse_url (&c, "redis://127.0.0.1:99999", &error));
  g_clear_error (&error);
  g_assert_false (metered_redis_config_parse_url (&c, "redis://", &error));
  metered_redis_config_clear (&c);
}

static void
test_commands_and_pubsub (void)
{
  Fixture f;
  const char *set[] = { "SET", "k", "v1" };
  const char *get[] = { "GET", "k" };
  g_autoptr (GError) error = NULL;
  MeteredRedisStats stats;

  if (!setup (&f))
    return;
  fixture_start (&f, 0);
  g_assert_true (test_wait_until (is_up, &f, 5000));
  g_assert_cmpuint (f.resyncs[METERED_REDIS_RESYNC_FIRST], ==, 1);
  g_assert_cmpuint (strlen (metered_redis_get_run_id (f.redis)), ==, 40);

  command (&f, 3, set);
  command (&f, 2, get);
  target = 2;
  g_assert_true (test_wait_until (replies_reach, &f, 5000));
  g_assert_cmpuint (f.errors, ==, 0);
  g_assert_cmpstr (f.last_value, ==, "v1");

  metered_redis_subscribe (f.redis, "ms:c:room");
  /* Wanted but not answered yet: a PUBLISH now could still miss us. */
  g_assert_false (metered_redis_is_subscribed (f.redis, "ms:c:room"));
  metered_redis_subscribe (f.redis, "ms:c:room"); /* counted */
  target = 1;
  g_assert_true (test_wait_until (subscribed_reach, &f, 5000));
  g_assert_true (metered_redis_is_subscribed (f.redis, "ms:c:room"));
  g_assert_cmpstr (f.subscribed->pdata[0], ==, "ms:c:room");
  publish_and_expect (&f, "ms:c:room", "hello");
  metered_redis_unsubscribe (f.redis, "ms:c:room");
  g_assert_true (metered_redis_is_subscribed (f.redis, "ms:c:room"));
  metered_redis_unsubscribe (f.redis, "ms:c:room");
  g_assert_false (metered_redis_is_subscribed (f.redis, "ms:c:room"));

  /* CLIENT SETNAME reached Redis. */
  {
    redisReply *r = test_redis_cmd (f.server, "CLIENT LIST TYPE normal");

    g_assert_nonnull (strstr (r->str, "name=test-node"));
    freeReplyObject (r);
  }

  /* Idle for a while with 200 ms probes: PINGs and probes keep both
   * connections alive, nothing is torn down. */
  test_run_for (1500);
  metered_redis_get_stats (f.redis, &stats);
  g_assert_cmpuint (stats.failures, ==, 0);
  g_assert_cmpint (stats.last_rtt_us, >=, 0);
  g_test_message (
      "idle PING round trip %" G_GINT64_FORMAT " us", stats.last_rtt_us);

  /* A binary-safe argument. */
  {
    const char *argv[] = { "SET", "bin", "a\0b" };
    const gsize lens[] = { 3, 3, 3 };
    const char *strlen_argv[] = { "STRLEN", "bin" };

    g_assert_true (metered_redis_command_argv (
        f.redis, 3, argv, lens, on_reply, &f, &error));
    command (&f, 2, strlen_argv);
    target = f.replies + 2;
    g_assert_true (test_wait_until (replies_reach, &f, 5000));
    g_assert_cmpstr (f.last_value, ==, "int:3");
  }
  teardown (&f);
}

static void
test_restart (void)
{
  Fixture f;
  g_autofree char *old_run_id = NULL;
  const char *blpop[] = { "BLPOP", "never", "0" };
  const char *ping[] = { "PING" };
  g_autoptr (GError) error = NULL;
  MeteredRedisStats stats;
  gint64 t0;

  if (!setup (&f))
    return;
  fixture_start (&f, 60000);
  metered_redis_subscribe (f.redis, "ms:c:a");
  metered_redis_subscribe (f.redis, "ms:p:peer1");
  g_assert_true (test_wait_until (is_up, &f, 5000));
  old_run_id = g_strdup (metered_redis_get_run_id (f.redis));
  publish_and_expect (&f, "ms:c:a", "before");

  /* A command still waiting when Redis dies gets an error, once. */
  command (&f, 3, blpop);
  test_run_for (50);
  test_redis_kill (f.server);
  g_assert_true (test_wait_until (is_not_up, &f, 5000));
  target = 1;
  g_assert_true (test_wait_until (replies_reach, &f, 5000));
  g_assert_cmpuint (f.errors, ==, 1);
  g_assert_false (
      metered_redis_command_argv (f.redis, 1, ping, NULL, NULL, NULL, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_NOT_CONNECTED);

  /* Down for a moment: attempts fail with refused connections. */
  test_run_for (300);
  t0 = g_get_monotonic_time ();
  test_redis_restart (f.server);
  g_assert_true (test_wait_until (is_up, &f, 10000));
  g_test_message ("reconnected %" G_GINT64_FORMAT " ms after Redis answered",
      (g_get_monotonic_time () - t0) / 1000);
  g_assert_cmpuint (f.resyncs[METERED_REDIS_RESYNC_RESTARTED], ==, 1);
  g_assert_cmpuint (f.last_why, ==, METERED_REDIS_RESYNC_RESTARTED);
  g_assert_cmpstr (metered_redis_get_run_id (f.redis), !=, old_run_id);
  metered_redis_get_stats (f.redis, &stats);
  g_assert_cmpuint (stats.restarts_seen, ==, 1);
  g_assert_cmpuint (stats.connects, ==, 2);

  /* Both channels were subscribed again before resync was called. */
  g_assert_cmpint (test_redis_int (f.server, "PUBLISH ms:p:peer1 x"), ==, 1);
  g_assert_cmpint (test_redis_int (f.server, "PUBLISH ms:c:a y"), ==, 1);
  target = f.messages->len + 2;
  g_assert_true (test_wait_until (messages_reach, &f, 5000));
  publish_and_expect (&f, "ms:c:a", "after");

  /* Kill and restart again at once, twice: no leak, no crash (ASan). */
  test_redis_kill (f.server);
  test_redis_restart (f.server);
  g_assert_true (test_wait_until (is_not_up, &f, 5000));
  g_assert_true (test_wait_until (is_up, &f, 10000));
  g_assert_cmpuint (f.resyncs[METERED_REDIS_RESYNC_RESTARTED], ==, 2);
  publish_and_expect (&f, "ms:c:a", "again");
  teardown (&f);
}

static void
test_subscriber_killed (void)
{
  Fixture f;
  MeteredRedisStats stats;

  if (!setup (&f))
    return;
  fixture_start (&f, 0);
  metered_redis_subscribe (f.redis, "ms:c:a");
  g_assert_true (test_wait_until (is_up, &f, 5000));
  /* Redis drops only the subscriber connection: the pair reconnects to
   * the same Redis (same run_id) and subscribes again. */
  g_assert_cmpint (test_redis_int (f.server, "CLIENT KILL TYPE pubsub"), ==, 1);
  g_assert_true (test_wait_until (is_not_up, &f, 5000));
  g_assert_true (test_wait_until (is_up, &f, 5000));
  g_assert_cmpuint (f.resyncs[METERED_REDIS_RESYNC_RECONNECTED], ==, 1);
  publish_and_expect (&f, "ms:c:a", "back");
  metered_redis_get_stats (f.redis, &stats);
  g_assert_cmpuint (stats.restarts_seen, ==, 0);
  teardown (&f);
}

static void
test_command_timeout (void)
{
  Fixture f;
  const char *sleep_argv[] = { "DEBUG", "SLEEP", "1.5" };
  MeteredRedisStats stats;

  if (!setup (&f))
    return;
  fixture_start (&f, 300);
  g_assert_true (test_wait_until (is_up, &f, 5000));
  /* Redis stalls longer than the command timeout: the connection is
   * treated as wedged, dropped, and made again once Redis answers. */
  command (&f, 3, sleep_argv);
  target = 1;
  g_assert_true (test_wait_until (replies_reach, &f, 5000));
  g_assert_cmpuint (f.errors, ==, 1);
  g_assert_true (test_wait_until (is_up, &f, 10000));
  metered_redis_get_stats (f.redis, &stats);
  g_assert_cmpuint (stats.command_timeouts, >=, 1);
  g_assert_cmpuint (f.resyncs[METERED_REDIS_RESYNC_RECONNECTED], >=, 1);
  teardown (&f);
}

static void
test_unreachable_then_up (void)
{
  Fixture f;
  MeteredRedisStats stats;
  int port;

  if (!setup (&f))
    return;
  /* Nothing listens yet: attempts back off, then succeed when Redis is
   * up. */
  port = f.server->port;
  test_redis_kill (f.server);
  fixture_start (&f, 0);
  test_run_for (1200);
  g_assert_false (is_up (&f));
  metered_redis_get_stats (f.redis, &stats);
  /* Backoff from 100 ms, capped at 1 s: a few attempts, not a storm. */
  g_assert_cmpuint (stats.failures, >=, 2);
  g_assert_cmpuint (stats.failures, <=, 12);
  test_redis_restart (f.server);
  g_assert_cmpint (f.server->port, ==, port);
  g_assert_true (test_wait_until (is_up, &f, 5000));
  g_assert_cmpuint (f.resyncs[METERED_REDIS_RESYNC_FIRST], ==, 1);
  teardown (&f);
}

/* The subscriber connection goes silent but stays open (what hiredis
 * 0.14 cannot see: PING is dropped on a subscribed connection). Only the
 * probe, published on the command connection and never received, shows
 * it; both connections are then made again. */
static void
test_silent_subscriber (void)
{
  Fixture f;
  MeteredTestProxy *proxy;
  MeteredRedisStats stats;
  redisReply *r;
  const char *addr;
  int sub_port;

  if (!setup (&f))
    return;
  proxy = metered_test_proxy_new (f.server->port, NULL);
  g_assert_nonnull (proxy);
  f.port = metered_test_proxy_get_port (proxy);
  fixture_start (&f, 600);
  metered_redis_subscribe (f.redis, "ms:c:a");
  g_assert_true (test_wait_until (is_up, &f, 5000));

  r = test_redis_cmd (f.server, "CLIENT LIST TYPE pubsub");
  addr = strstr (r->str, "addr=127.0.0.1:");
  g_assert_nonnull (addr);
  sub_port = atoi (addr + strlen ("addr=127.0.0.1:"));
  freeReplyObject (r);
  g_assert_true (metered_test_proxy_blackhole_upstream_port (proxy, sub_port));

  g_assert_true (test_wait_until (is_not_up, &f, 5000));
  metered_redis_get_stats (f.redis, &stats);
  g_assert_cmpuint (stats.probe_timeouts, ==, 1);
  g_assert_cmpuint (stats.command_timeouts, ==, 0);
  g_assert_true (test_wait_until (is_up, &f, 5000));
  g_assert_cmpuint (f.resyncs[METERED_REDIS_RESYNC_RECONNECTED], ==, 1);
  publish_and_expect (&f, "ms:c:a", "heard");

  metered_redis_free (f.redis);
  f.redis = NULL;
  metered_test_proxy_free (proxy);
  teardown (&f);
}

static GString *logged;

static GLogWriterOutput
capture_log (
    GLogLevelFlags level, const GLogField *fields, gsize n, gpointer data)
{
  gsize i;

  for (i = 0; i < n; i++)
    if (strcmp (fields[i].key, "MESSAGE") == 0)
      g_string_append_printf (logged, "%s\n", (const char *) fields[i].value);
  return g_log_writer_default (level, fields, n, data);
}

/* AUTH with the URL's password; a wrong one never gets UP, and neither
 * password shows in any log line. */
static void
test_auth (void)
{
  Fixture f;
  MeteredRedisConfig config;
  MeteredRedisStats stats;
  redisReply *r;
  g_autofree char *wrong = NULL, *right = NULL;

  if (!setup (&f))
    return;
  wrong = g_strdup_printf ("redis://:pw-Wrong-2@127.0.0.1:%d", f.port);
  right = g_strdup_printf ("redis://:pw-Right-1@127.0.0.1:%d", f.port);
  r = test_redis_cmd (f.server, "CONFIG SET requirepass %s", "pw-Right-1");
  freeReplyObject (r);

  metered_redis_config_init (&config);
  g_assert_true (metered_redis_config_parse_url (&config, wrong, NULL));
  f.redis = metered_redis_new (&config, &callbacks, &f);
  metered_redis_config_clear (&config);
  test_run_for (800);
  g_assert_false (is_up (&f));
  metered_redis_get_stats (f.redis, &stats);
  g_assert_cmpuint (stats.failures, >=, 2);
  metered_redis_free (f.redis);

  metered_redis_config_init (&config);
  g_assert_true (metered_redis_config_parse_url (&config, right, NULL));
  f.redis = metered_redis_new (&config, &callbacks, &f);
  metered_redis_config_clear (&config);
  g_assert_true (test_wait_until (is_up, &f, 5000));
  metered_redis_subscribe (f.redis, "ms:c:a");
  target = 1;
  g_assert_true (test_wait_until (subscribed_reach, &f, 5000));

  g_assert_nonnull (strstr (logged->str, "127.0.0.1"));
  g_assert_null (strstr (logged->str, "pw-Wrong-2"));
  g_assert_null (strstr (logged->str, "pw-Right-1"));
  teardown (&f);
}

int
main (int argc, char **argv)
{
  int ret;

  g_test_init (&argc, &argv, NULL);
  logged = g_string_new (NULL);
  g_log_set_writer_func (capture_log, NULL, NULL);
  g_test_add_func ("/cluster/redis/url", test_url);
  g_test_add_func ("/cluster/redis/commands-pubsub", test_commands_and_pubsub);
  g_test_add_func ("/cluster/redis/restart", test_restart);
  g_test_add_func ("/cluster/redis/subscriber-killed", test_subscriber_killed);
  g_test_add_func ("/cluster/redis/command-timeout", test_command_timeout);
  g_test_add_func ("/cluster/redis/unreachable", test_unreachable_then_up);
  g_test_add_func ("/cluster/redis/silent-subscriber", test_silent_subscriber);
  g_test_add_func ("/cluster/redis/auth", test_auth);
  ret = g_test_run ();
  g_string_free (logged, TRUE);
  return ret;
}
