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

/* Node leases, fencing and the reaper with two simulated nodes in one
 * process against a real redis-server, at the real timing (1 s renew,
 * 3 s expiry). */

#include <string.h>

#include "cluster-node.h"

#define P METERED_CLUSTER_PREFIX

static gboolean
both_registered (gpointer data)
{
  TestNode **n = data;

  return test_node_is_registered (n[0]) && test_node_is_registered (n[1]);
}

static gint64
claim (TestNode *node, const char *peer)
{
  TestCapture c = { 0 };
  gint64 gen;

  g_assert_true (metered_cluster_claim (node->redis, P, peer, node->id,
      metered_cluster_lease_get_inc (node->lease), "conn-1", test_capture_cb,
      &c, NULL));
  test_capture_wait (&c);
  gen = c.value;
  test_capture_clear (&c);
  return gen;
}

static gint64
join (TestNode *node, const char *channel, const char *peer, gint64 gen)
{
  TestCapture c = { 0 };
  gint64 v;

  g_assert_true (metered_cluster_join (node->redis, P, channel, peer, gen,
      "{\"role\":\"viewer\"}", "epoch-1", test_capture_cb, &c, NULL));
  test_capture_wait (&c);
  v = c.value;
  test_capture_clear (&c);
  return v;
}

typedef struct
{
  TestNode *node;
  const char *event;
} EventWait;

static gboolean
has_event (gpointer data)
{
  EventWait *w = data;

  return test_node_has_event (w->node, w->event);
}

static void
wait_event (TestNode *node, const char *event, guint timeout_ms)
{
  EventWait w = { node, event };

  if (!test_wait_until (has_event, &w, timeout_ms))
    g_error ("node %s: no \"%s\" within %u ms", node->id, event, timeout_ms);
}

static gboolean
subscribed_and_up (gpointer data)
{
  TestNode *n = data;

  return metered_redis_get_state (n->redis) == METERED_REDIS_UP;
}

static void
test_pure (void)
{
  g_assert_false (metered_cluster_lease_fence_due (0, 1999999, 2000));
  g_assert_true (metered_cluster_lease_fence_due (0, 2000000, 2000));
  g_assert_false (metered_cluster_lease_fence_due (0, G_MAXINT32, 0));
  g_assert_true (metered_cluster_node_id_is_valid ("node-1.eu_west"));
  g_assert_false (metered_cluster_node_id_is_valid (""));
  g_assert_false (metered_cluster_node_id_is_valid ("a/b"));
  g_assert_false (metered_cluster_node_id_is_valid ("a:b"));
  g_assert_false (metered_cluster_node_id_is_valid (NULL));
  g_assert_true (metered_cluster_node_id_is_valid (
      "0123456789012345678901234567890123456789012345678901234567890123"));
  g_assert_false (metered_cluster_node_id_is_valid (
      "01234567890123456789012345678901234567890123456789012345678901234"));
}

/* Node A holds p1 and p2 in "room"; p2 re-homes to B within the lease;
 * A dies. The reaper (on B) announces p1 left within lease + period,
 * and says nothing about p2, which stays present. */
static void
test_reap_and_generation_skip (void)
{
  TestRedis *server = test_redis_start ();
  TestNode *n[2];
  MeteredClusterLeaseStats stats;
  TestCapture c = { 0 };
  gint64 g1, g2, g2b, t_dead, took_ms;
  guint renewals;
  long long nodes;

  if (!server)
    return;
  n[0] = test_node_new (server, "node-a", NULL);
  n[1] = test_node_new (server, "node-b", NULL);
  g_assert_true (test_wait_until (both_registered, n, 5000));
  g_assert_cmpint (test_redis_int (server, "ZCARD " P "nodes"), ==, 2);

  test_node_subscribe (n[1], P "c:room");
  test_node_subscribe (n[0], P "p:p2");

  g1 = claim (n[0], "p1");
  g2 = claim (n[0], "p2");
  g_assert_cmpint (g2, >, g1);
  g_assert_cmpint (join (n[0], "room", "p1", g1), ==, 1);
  g_assert_cmpint (join (n[0], "room", "p2", g2), ==, 1);
  wait_event (n[1], "joined room p1 1", 5000);
  wait_event (n[1], "joined room p2 2", 5000);

  /* p2 reconnects on B: the claim's gen moves on, A is told to close its
   * old connection, and joining again is no event (no left/joined). */
  g2b = claim (n[1], "p2");
  g_assert_cmpint (g2b, >, g2);
  {
    g_autofree char *kick = g_strdup_printf ("kick p2 %" G_GINT64_FORMAT, g2b);
    wait_event (n[0], kick, 5000);
  }
  g_assert_cmpint (join (n[1], "room", "p2", g2b), ==, 0);
  /* A's late leave for its old connection of p2 changes nothing. */
  g_assert_true (metered_cluster_leave (
      n[0]->redis, P, "room", "p2", g2, test_capture_cb, &c, NULL));
  test_capture_wait (&c);
  g_assert_cmpint (c.value, ==, 0);
  test_capture_clear (&c);

  /* Leases are renewed while both live. */
  metered_cluster_lease_get_stats (n[0]->lease, &stats);
  renewals = stats.renewals;
  test_run_for (2500);
  metered_cluster_lease_get_stats (n[0]->lease, &stats);
  g_assert_cmpuint (stats.renewals, >=, renewals + 1);
  g_assert_cmpuint (test_node_count_events (n[1], "left "), ==, 0);

  /* A dies (no deregistration). */
  test_node_free (n[0]);
  t_dead = g_get_monotonic_time ();
  wait_event (n[1], "left room p1 3", 10000);
  took_ms = (g_get_monotonic_time () - t_dead) / 1000;
  g_test_message ("dead node's peer announced left %" G_GINT64_FORMAT
                  " ms after the node died (lease 3000 ms, reaper 1000 ms)",
      took_ms);
  /* Not before the lease could have expired: 3 s after the last renewal,
   * which was at most ~1 s before the death. */
  g_assert_cmpint (took_ms, >=, 1500);

  /* p2 re-homed: never announced left, still present. */
  test_run_for (1500);
  g_assert_cmpuint (test_node_count_events (n[1], "left "), ==, 1);
  g_assert_cmpuint (test_node_count_events (n[1], "joined "), ==, 2);
  g_assert_true (metered_cluster_snapshot (
      n[1]->redis, P, "room", test_capture_cb, &c, NULL));
  test_capture_wait (&c);
  g_assert_cmpint (c.seq, ==, 3);
  g_assert_cmpstr (c.epoch, ==, "epoch-1");
  g_assert_cmpuint (c.members->len, ==, 2);
  g_assert_cmpstr (c.members->pdata[0], ==, "p2");
  test_capture_clear (&c);

  metered_cluster_lease_get_stats (n[1]->lease, &stats);
  g_assert_cmpuint (stats.reaped_nodes, ==, 1);
  g_assert_cmpuint (stats.reaped_peers, ==, 1);
  g_assert_cmpuint (stats.skipped_peers, ==, 1);
  nodes = test_redis_int (server, "ZCARD " P "nodes");
  g_assert_cmpint (nodes, ==, 1);
  g_assert_cmpint (test_redis_int (server, "EXISTS " P "peer:p1"), ==, 0);
  g_assert_cmpint (test_redis_int (server, "ZCARD " P "dead"), ==, 0);
  g_assert_cmpuint (n[1]->fenced, ==, 0);

  test_node_free (n[1]);
  test_redis_stop (server);
}

static gboolean
fenced_and_back (gpointer data)
{
  TestNode *n = data;

  return n->fenced >= 1 && n->registered >= 2 && test_node_is_registered (n);
}

/* Redis says the lease is gone: the node fences (its owner closes the
 * clients), registers a new life, and the old life is queued for the
 * reaper. */
static void
test_fence_when_lost (void)
{
  TestRedis *server = test_redis_start ();
  TestNode *n;
  g_autofree char *old_inc = NULL;
  redisReply *r;

  if (!server)
    return;
  n = test_node_new (server, "node-a", NULL);
  g_assert_true (test_wait_until (test_node_is_registered, n, 5000));
  old_inc = g_strdup (metered_cluster_lease_get_inc (n->lease));
  g_assert_cmpint (test_redis_int (server, "ZREM " P "nodes node-a"), ==, 1);
  g_assert_true (test_wait_until (fenced_and_back, n, 5000));
  g_assert_cmpuint (n->fenced, ==, 1);
  g_assert_cmpstr (n->fence_why, ==, "Redis says the lease is lost");
  g_assert_cmpstr (metered_cluster_lease_get_inc (n->lease), !=, old_inc);
  r = test_redis_cmd (server, "ZSCORE " P "dead node-a/%s", old_inc);
  g_assert_cmpint (r->type, ==, REDIS_REPLY_STRING);
  freeReplyObject (r);
  test_node_free (n);
  test_redis_stop (server);
}

/* Redis accepts no write for 3.5 s: the node cannot renew and fences
 * itself 2 s after its last renewal, before its 3 s lease could expire
 * and other nodes could reap it. */
static void
test_fence_when_unrenewable (void)
{
  TestRedis *server = test_redis_start ();
  TestNode *n;
  redisReply *r;

  if (!server)
    return;
  n = test_node_new (server, "node-a", NULL);
  g_assert_true (test_wait_until (test_node_is_registered, n, 5000));
  r = test_redis_cmd (server, "CLIENT PAUSE 3500 WRITE");
  freeReplyObject (r);
  g_assert_true (test_wait_until (fenced_and_back, n, 10000));
  g_assert_nonnull (strstr (n->fence_why, "not renewed"));
  test_node_free (n);
  test_redis_stop (server);
}

typedef struct
{
  TestNode *node;
  gboolean ran;
  guint fenced; /* the node's fences when the client source ran */
} ClientFrame;

static gboolean
client_frame (gpointer data)
{
  ClientFrame *f = data;

  f->ran = TRUE;
  f->fenced = f->node->fenced;
  return G_SOURCE_REMOVE;
}

static gboolean
renewed_once (gpointer data)
{
  TestNode *n = data;
  MeteredClusterLeaseStats stats;

  metered_cluster_lease_get_stats (n->lease, &stats);
  return stats.renewals >= 1;
}

static gboolean
client_frame_ran (gpointer data)
{
  return ((ClientFrame *) data)->ran;
}

/* The process does not run for longer than the fence deadline (SIGSTOP,
 * a VM pause): on waking, the lease check runs ahead of every
 * default-priority source (a client's socket), so the node has fenced
 * before it serves a frame sent meanwhile. */
static void
test_fence_after_stall (void)
{
  TestRedis *server = test_redis_start ();
  TestNode *n;
  GSource *client;
  ClientFrame f = { 0 };

  if (!server)
    return;
  n = test_node_new (server, "node-a", NULL);
  /* running as usual (ticking, renewing) before the stall */
  g_assert_true (test_wait_until (renewed_once, n, 5000));
  g_assert_cmpuint (n->fenced, ==, 0);
  f.node = n;
  client = g_idle_source_new ();
  g_source_set_priority (client, G_PRIORITY_DEFAULT);
  g_source_set_callback (client, client_frame, &f, NULL);
  g_source_attach (client, NULL);
  g_source_unref (client);
  g_usleep (2500 * 1000); /* the default lease fences after 2 s */
  g_assert_true (test_wait_until (client_frame_ran, &f, 5000));
  g_assert_cmpuint (f.fenced, ==, 1);
  g_assert_nonnull (strstr (n->fence_why, "not renewed"));
  test_node_free (n);
  test_redis_stop (server);
}

static gboolean
restarted_and_registered (gpointer data)
{
  TestNode *n = data;

  return n->resyncs[METERED_REDIS_RESYNC_RESTARTED] == 1 &&
         n->registered >= 2 && test_node_is_registered (n);
}

/* Redis kill -9 and restart: the node registers a new life on the new
 * Redis without fencing (clients stay), so its owner can claim again. */
static void
test_redis_restart_no_fence (void)
{
  TestRedis *server = test_redis_start ();
  TestNode *n;

  if (!server)
    return;
  n = test_node_new (server, "node-a", NULL);
  g_assert_true (test_wait_until (test_node_is_registered, n, 5000));
  test_redis_kill (server);
  test_redis_restart (server);
  g_assert_true (test_wait_until (restarted_and_registered, n, 10000));
  g_assert_cmpuint (n->fenced, ==, 0);
  g_assert_true (test_wait_until (subscribed_and_up, n, 1000));
  g_assert_cmpint (test_redis_int (server, "ZCARD " P "nodes"), ==, 1);
  test_node_free (n);
  test_redis_stop (server);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/cluster/lease/pure", test_pure);
  g_test_add_func (
      "/cluster/lease/reap-generation-skip", test_reap_and_generation_skip);
  g_test_add_func ("/cluster/lease/fence-when-lost", test_fence_when_lost);
  g_test_add_func ("/cluster/lease/fence-after-stall", test_fence_after_stall);
  g_test_add_func (
      "/cluster/lease/fence-when-unrenewable", test_fence_when_unrenewable);
  g_test_add_func (
      "/cluster/lease/redis-restart-no-fence", test_redis_restart_no_fence);
  return g_test_run ();
}
