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

/* Presence scripts (one sequence per channel, snapshot merge, stale
 * generations), requestId dedupe across two nodes, direct send and the
 * publish order, against a real redis-server; and the event parser. */

#include <gio/gio.h>
#include <string.h>

#include "cluster-node.h"

#define P METERED_CLUSTER_PREFIX
#define N_PEERS 100

static gboolean
both_registered (gpointer data)
{
  TestNode **n = data;

  return test_node_is_registered (n[0]) && test_node_is_registered (n[1]);
}

typedef struct
{
  TestNode *node;
  const char *prefix;
  guint want;
} CountWait;

static gboolean
count_reached (gpointer data)
{
  CountWait *w = data;

  return test_node_count_events (w->node, w->prefix) >= w->want;
}

static void
wait_count (TestNode *node, const char *prefix, guint want)
{
  CountWait w = { node, prefix, want };

  if (!test_wait_until (count_reached, &w, 10000))
    g_error ("node %s: %u \"%s\" events, want %u", node->id,
        test_node_count_events (node, prefix), prefix, want);
}

static gboolean
all_done (gpointer data)
{
  GArray *caps = data;
  guint i;

  for (i = 0; i < caps->len; i++)
    if (!g_array_index (caps, TestCapture, i).done)
      return FALSE;
  return TRUE;
}

/* Two registered nodes, both subscribed to the topic of "room". */
static void
setup_nodes (TestRedis **server, TestNode **n)
{
  *server = test_redis_start ();
  if (!*server)
    return;
  n[0] = test_node_new (*server, "node-a", NULL);
  n[1] = test_node_new (*server, "node-b", NULL);
  g_assert_true (test_wait_until (both_registered, n, 5000));
  test_node_subscribe (n[0], P "c:room");
  test_node_subscribe (n[1], P "c:room");
}

static void
teardown_nodes (TestRedis *server, TestNode **n)
{
  test_node_free (n[0]);
  test_node_free (n[1]);
  test_redis_stop (server);
}

static void
test_event_parse (void)
{
  MeteredClusterEvent ev;
  g_autoptr (GError) error = NULL;
  const char *joined =
      "{\"t\":\"joined\",\"ch\":\"room\",\"peer\":\"p1\",\"seq\":7,"
      "\"epoch\":\"e\"}\n{\"a\":1}";
  const char *msg =
      "{\"t\":\"msg\",\"ch\":\"room\",\"from\":\"p1\"}\nhi\nthere";

  g_assert_true (
      metered_cluster_event_parse (joined, strlen (joined), &ev, &error));
  g_assert_cmpint (ev.type, ==, METERED_CLUSTER_EVENT_JOINED);
  g_assert_cmpstr (ev.peer, ==, "p1");
  g_assert_cmpint (ev.seq, ==, 7);
  g_assert_cmpmem (ev.body, ev.body_len, "{\"a\":1}", 7);
  metered_cluster_event_clear (&ev);

  /* The body may hold newlines; only the first one ends the header. */
  g_assert_true (metered_cluster_event_parse (msg, strlen (msg), &ev, NULL));
  g_assert_cmpmem (ev.body, ev.body_len, "hi\nthere", 8);
  metered_cluster_event_clear (&ev);

  g_assert_false (metered_cluster_event_parse ("no header", 9, &ev, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA);
  g_clear_error (&error);
  g_assert_false (metered_cluster_event_parse ("[1]\n", 4, &ev, &error));
  g_clear_error (&error);
  g_assert_false (
      metered_cluster_event_parse ("{\"t\":\"zap\"}\n", 12, &ev, &error));
  g_clear_error (&error);
  /* joined without a seq */
  g_assert_false (metered_cluster_event_parse (
      "{\"t\":\"joined\",\"ch\":\"r\",\"peer\":\"p\",\"epoch\":\"e\"}\n", 47,
      &ev, &error));
  g_clear_error (&error);
  g_assert_false (metered_cluster_event_parse ("{\"t\":", 5, &ev, &error));
  g_clear_error (&error);
}

/* 100 peers on two nodes join one channel at once: every join gets its
 * own seq, 1..100 in the order every subscriber sees; a snapshot read
 * while 50 of them leave merges with the buffered deltas into exactly
 * the final membership. */
static void
test_atomic_sequence_and_snapshot (void)
{
  TestRedis *server;
  TestNode *n[2];
  GArray *caps;
  gint64 gens[N_PEERS];
  TestCapture snap = { 0 };
  g_autoptr (GHashTable) members = g_hash_table_new (g_str_hash, g_str_equal);
  guint i, base;

  setup_nodes (&server, n);
  if (!server)
    return;
  caps = g_array_new (FALSE, TRUE, sizeof (TestCapture));

  g_array_set_size (caps, N_PEERS);
  for (i = 0; i < N_PEERS; i++) {
    g_autofree char *peer = g_strdup_printf ("p%u", i);
    TestNode *on = n[i % 2];

    g_assert_true (metered_cluster_claim (on->redis, P, peer, on->id,
        metered_cluster_lease_get_inc (on->lease), "c", test_capture_cb,
        &g_array_index (caps, TestCapture, i), NULL));
  }
  g_assert_true (test_wait_until (all_done, caps, 10000));
  for (i = 0; i < N_PEERS; i++) {
    gens[i] = g_array_index (caps, TestCapture, i).value;
    test_capture_clear (&g_array_index (caps, TestCapture, i));
  }
  /* Joins pipelined from both nodes, interleaved. */
  for (i = 0; i < N_PEERS; i++) {
    g_autofree char *peer = g_strdup_printf ("p%u", i);
    g_autofree char *info = g_strdup_printf ("{\"n\":%u}", i);

    g_assert_true (metered_cluster_join (n[i % 2]->redis, P, "room", peer,
        gens[i], info, "ep", test_capture_cb,
        &g_array_index (caps, TestCapture, i), NULL));
  }
  g_assert_true (test_wait_until (all_done, caps, 10000));
  for (i = 0; i < N_PEERS; i++) {
    g_assert_no_error (g_array_index (caps, TestCapture, i).error);
    g_assert_cmpint (g_array_index (caps, TestCapture, i).value, ==, 1);
    test_capture_clear (&g_array_index (caps, TestCapture, i));
  }
  wait_count (n[0], "joined ", N_PEERS);
  wait_count (n[1], "joined ", N_PEERS);
  /* One order, no gap, no duplicate, the same on both nodes. */
  for (i = 0; i < N_PEERS; i++) {
    const char *a = n[0]->events->pdata[i];
    const char *b = n[1]->events->pdata[i];
    g_autofree char *suffix = g_strdup_printf (" %u", i + 1);

    g_assert_cmpstr (a, ==, b);
    g_assert_true (g_str_has_suffix (a, suffix));
  }

  /* 50 leaves from both nodes, a snapshot from B in the middle. */
  g_array_set_size (caps, N_PEERS / 2);
  base = n[1]->events->len;
  for (i = 0; i < N_PEERS / 2; i++) {
    g_autofree char *peer = g_strdup_printf ("p%u", i);

    g_assert_true (metered_cluster_leave (n[i % 2]->redis, P, "room", peer,
        gens[i], test_capture_cb, &g_array_index (caps, TestCapture, i), NULL));
    if (i == N_PEERS / 4)
      g_assert_true (metered_cluster_snapshot (
          n[1]->redis, P, "room", test_capture_cb, &snap, NULL));
  }
  g_assert_true (test_wait_until (all_done, caps, 10000));
  test_capture_wait (&snap);
  wait_count (n[1], "left ", N_PEERS / 2);
  g_assert_cmpstr (snap.epoch, ==, "ep");
  g_assert_cmpint (snap.seq, >, N_PEERS);
  g_assert_cmpint (snap.seq, <, N_PEERS + N_PEERS / 2);
  /* snapshot, then the deltas with a higher seq, gives the truth. */
  for (i = 0; i < snap.members->len; i += 2)
    g_hash_table_add (members, snap.members->pdata[i]);
  g_assert_cmpuint (
      g_hash_table_size (members), ==, N_PEERS - (snap.seq - N_PEERS));
  for (i = base; i < n[1]->events->len; i++) {
    g_auto (GStrv) f = g_strsplit (n[1]->events->pdata[i], " ", -1);

    if (g_ascii_strtoll (f[3], NULL, 10) > snap.seq)
      g_assert_true (g_hash_table_remove (members, f[2]));
  }
  g_assert_cmpuint (g_hash_table_size (members), ==, N_PEERS / 2);
  for (i = N_PEERS / 2; i < N_PEERS; i++) {
    g_autofree char *peer = g_strdup_printf ("p%u", i);
    g_assert_true (g_hash_table_contains (members, peer));
  }
  test_capture_clear (&snap);
  for (i = 0; i < N_PEERS / 2; i++)
    test_capture_clear (&g_array_index (caps, TestCapture, i));

  /* The final state agrees. */
  g_assert_cmpint (
      test_redis_int (server, "HLEN " P "ch:room:m"), ==, N_PEERS / 2);
  g_array_unref (caps);
  teardown_nodes (server, n);
}

/* A claim superseded by a newer one (the peer reconnected) can no longer
 * join, leave or release: its late calls change nothing, announce
 * nothing. */
static void
test_stale_generation (void)
{
  TestRedis *server;
  TestNode *n[2];
  TestCapture c = { 0 };
  gint64 old_gen, new_gen;

  setup_nodes (&server, n);
  if (!server)
    return;
  g_assert_true (metered_cluster_claim (n[0]->redis, P, "p1", n[0]->id,
      metered_cluster_lease_get_inc (n[0]->lease), "c1", test_capture_cb, &c,
      NULL));
  test_capture_wait (&c);
  old_gen = c.value;
  test_capture_clear (&c);
  g_assert_true (metered_cluster_claim (n[1]->redis, P, "p1", n[1]->id,
      metered_cluster_lease_get_inc (n[1]->lease), "c2", test_capture_cb, &c,
      NULL));
  test_capture_wait (&c);
  new_gen = c.value;
  test_capture_clear (&c);

  g_assert_true (metered_cluster_join (n[0]->redis, P, "room", "p1", old_gen,
      "{}", "ep", test_capture_cb, &c, NULL));
  test_capture_wait (&c);
  g_assert_cmpint (c.value, ==, -1);
  test_capture_clear (&c);

  g_assert_true (metered_cluster_join (n[1]->redis, P, "room", "p1", new_gen,
      "{}", "ep", test_capture_cb, &c, NULL));
  test_capture_wait (&c);
  g_assert_cmpint (c.value, ==, 1);
  test_capture_clear (&c);

  g_assert_true (metered_cluster_release (n[0]->redis, P, "p1", old_gen,
      "node-a", metered_cluster_lease_get_inc (n[0]->lease), test_capture_cb,
      &c, NULL));
  test_capture_wait (&c);
  g_assert_cmpint (c.value, ==, 0);
  test_capture_clear (&c);
  g_assert_cmpint (test_redis_int (server, "EXISTS " P "peer:p1"), ==, 1);

  /* The live claim's release leaves and drops the claim. */
  g_assert_true (metered_cluster_release (n[1]->redis, P, "p1", new_gen,
      "node-b", metered_cluster_lease_get_inc (n[1]->lease), test_capture_cb,
      &c, NULL));
  test_capture_wait (&c);
  g_assert_cmpint (c.value, ==, 1);
  test_capture_clear (&c);
  wait_count (n[1], "left ", 1);
  g_assert_cmpuint (test_node_count_events (n[1], "joined "), ==, 1);
  g_assert_cmpint (test_redis_int (server, "EXISTS " P "peer:p1"), ==, 0);
  teardown_nodes (server, n);
}

static gint64
route_as (gboolean publish, TestNode *node, const char *life_node,
    const char *inc, const char *target, const char *from,
    const char *request_id, const char *payload)
{
  TestCapture c = { 0 };
  gint64 v;

  if (publish)
    g_assert_true (metered_cluster_publish (node->redis, P, life_node, inc,
        target, from, "peer:alice", request_id, payload, strlen (payload),
        test_capture_cb, &c, NULL));
  else
    g_assert_true (metered_cluster_send (node->redis, P, life_node, inc, target,
        from, "peer:alice", request_id, payload, strlen (payload),
        test_capture_cb, &c, NULL));
  test_capture_wait (&c);
  v = c.value;
  test_capture_clear (&c);
  return v;
}

static gint64
route_call (gboolean publish, TestNode *node, const char *target,
    const char *from, const char *request_id, const char *payload)
{
  return route_as (
      publish, node, NULL, NULL, target, from, request_id, payload);
}

/* A requestId resent through another node is delivered once; a send
 * nobody received is not remembered. */
static void
test_dedupe_two_nodes (void)
{
  TestRedis *server;
  TestNode *n[2];
  TestCapture c = { 0 };
  long long pttl;

  setup_nodes (&server, n);
  if (!server)
    return;
  test_node_subscribe (n[0], P "p:bob");

  g_assert_cmpint (
      route_call (TRUE, n[0], "room", "alice", "r1", "one"), ==, 2);
  g_assert_cmpint (
      route_call (TRUE, n[1], "room", "alice", "r1", "one"), ==, -1);
  g_assert_cmpint (
      route_call (TRUE, n[1], "room", "alice", "r2", "two"), ==, 2);
  wait_count (n[0], "msg ", 2);
  wait_count (n[1], "msg ", 2);
  g_assert_cmpstr (n[1]->events->pdata[0], ==, "msg room alice one");
  g_assert_cmpstr (n[1]->events->pdata[1], ==, "msg room alice two");
  pttl = test_redis_int (server, "PTTL " P "rq:peer:alice:r1");
  g_assert_cmpint (pttl, >, 290000);
  g_assert_cmpint (pttl, <=, 300000);

  /* Direct send: carol is nowhere (peer_not_found), and the dedupe mark
   * is dropped so that a resend once carol is back can be delivered. */
  g_assert_cmpint (
      route_call (FALSE, n[1], "carol", "alice", "s1", "x"), ==, 0);
  g_assert_cmpint (
      test_redis_int (server, "EXISTS " P "rq:peer:alice:s1"), ==, 0);
  g_assert_cmpint (
      route_call (FALSE, n[1], "carol", "alice", "s1", "x"), ==, 0);
  /* bob is on node A. */
  g_assert_cmpint (route_call (FALSE, n[1], "bob", "alice", "s2", "hi"), ==, 1);
  g_assert_cmpint (
      route_call (FALSE, n[0], "bob", "alice", "s2", "hi"), ==, -1);
  wait_count (n[0], "send ", 1);
  test_run_for (200);
  g_assert_cmpuint (test_node_count_events (n[0], "send "), ==, 1);
  g_assert_true (test_node_has_event (n[0], "send bob alice hi"));
  g_assert_cmpuint (test_node_count_events (n[1], "send "), ==, 0);

  /* The bare dedupe: first time 1, from the other node 0. */
  g_assert_true (metered_cluster_dedupe (n[0]->redis, P, "cred:k1", "q",
      METERED_CLUSTER_DEDUPE_TTL_MS, test_capture_cb, &c, NULL));
  test_capture_wait (&c);
  g_assert_cmpint (c.value, ==, 1);
  test_capture_clear (&c);
  g_assert_true (metered_cluster_dedupe (n[1]->redis, P, "cred:k1", "q",
      METERED_CLUSTER_DEDUPE_TTL_MS, test_capture_cb, &c, NULL));
  test_capture_wait (&c);
  g_assert_cmpint (c.value, ==, 0);
  test_capture_clear (&c);
  teardown_nodes (server, n);
}

/* The fencing token: a publish, send or claim of a node life that is not
 * the node's current one, or whose lease expired, is refused (-2); a
 * publish or send leaves no dedupe mark (the resend through a live node
 * is delivered), a claim no kick. */
static void
test_fencing_token (void)
{
  TestRedis *server;
  TestNode *n[2];

  setup_nodes (&server, n);
  if (!server)
    return;
  test_node_subscribe (n[0], P "p:bob");
  test_redis_int (server, "HSET " P "node:n9 inc life1");
  test_redis_int (server, "ZADD " P "nodes 99999999999999 n9");

  g_assert_cmpint (
      route_as (TRUE, n[0], "n9", "life1", "room", "alice", "f1", "x"), ==, 2);
  g_assert_cmpint (
      route_as (TRUE, n[0], "n9", "life0", "room", "alice", "f2", "x"), ==, -2);
  g_assert_cmpint (
      route_as (FALSE, n[0], "n9", "life0", "bob", "alice", "f3", "x"), ==, -2);
  g_assert_cmpint (
      route_as (TRUE, n[0], "n8", "life1", "room", "alice", "f4", "x"), ==, -2);
  g_assert_cmpint (
      test_redis_int (server, "EXISTS " P "rq:peer:alice:f2"), ==, 0);
  /* Expired, not reaped yet: refused as well. */
  test_redis_int (server, "ZADD " P "nodes 1 n9");
  g_assert_cmpint (
      route_as (TRUE, n[0], "n9", "life1", "room", "alice", "f5", "x"), ==, -2);
  g_assert_cmpint (
      route_as (FALSE, n[0], "n9", "life1", "bob", "alice", "f6", "x"), ==, -2);
  /* A claim of that expired life: refused, and the peer's live claim
   * stays (no kick for its connection). */
  {
    TestCapture c = { 0 };

    g_assert_true (metered_cluster_claim (n[1]->redis, P, "bob", n[1]->id,
        metered_cluster_lease_get_inc (n[1]->lease), "c-live", test_capture_cb,
        &c, NULL));
    test_capture_wait (&c);
    g_assert_cmpint (c.value, >, 0);
    test_capture_clear (&c);
    g_assert_true (metered_cluster_claim (n[0]->redis, P, "bob", "n9", "life1",
        "c-stale", test_capture_cb, &c, NULL));
    test_capture_wait (&c);
    g_assert_cmpint (c.value, ==, -2);
    test_capture_clear (&c);
    g_assert_cmpint (
        test_redis_int (server, "HEXISTS " P "peer:bob conn"), ==, 1);
    {
      redisReply *r = test_redis_cmd (server, "HGET " P "peer:bob conn");

      g_assert_cmpstr (r->str, ==, "c-live");
      freeReplyObject (r);
    }
  }
  test_run_for (200);
  g_assert_cmpuint (test_node_count_events (n[0], "send "), ==, 0);
  g_assert_cmpuint (test_node_count_events (n[0], "kick "), ==, 0);
  g_assert_cmpuint (test_node_count_events (n[1], "msg "), ==, 1);
  /* Resent by a live path: delivered once. */
  g_assert_cmpint (route_call (TRUE, n[1], "room", "alice", "f2", "x"), ==, 2);
  teardown_nodes (server, n);
}

/* Two senders on two nodes publish at once: both nodes receive the same
 * single order, and each sender's messages keep their order in it. */
static void
test_publish_order (void)
{
  TestRedis *server;
  TestNode *n[2];
  GArray *caps;
  guint i, next[2] = { 0, 0 };

  setup_nodes (&server, n);
  if (!server)
    return;
  caps = g_array_new (FALSE, TRUE, sizeof (TestCapture));
  g_array_set_size (caps, 100);
  for (i = 0; i < 100; i++) {
    g_autofree char *body = g_strdup_printf ("%u", i / 2);
    const char *from = i % 2 ? "bob" : "alice";

    g_assert_true (metered_cluster_publish (n[i % 2]->redis, P, NULL, NULL,
        "room", from, NULL, NULL, body, strlen (body), test_capture_cb,
        &g_array_index (caps, TestCapture, i), NULL));
  }
  g_assert_true (test_wait_until (all_done, caps, 10000));
  for (i = 0; i < 100; i++)
    test_capture_clear (&g_array_index (caps, TestCapture, i));
  wait_count (n[0], "msg ", 100);
  wait_count (n[1], "msg ", 100);
  for (i = 0; i < 100; i++) {
    const char *e = n[0]->events->pdata[i];
    g_auto (GStrv) f = g_strsplit (e, " ", -1);
    guint who = strcmp (f[2], "bob") == 0;

    g_assert_cmpstr (e, ==, n[1]->events->pdata[i]);
    g_assert_cmpuint (g_ascii_strtoull (f[3], NULL, 10), ==, next[who]);
    next[who]++;
  }
  g_assert_cmpuint (next[0], ==, 50);
  g_assert_cmpuint (next[1], ==, 50);
  g_array_unref (caps);
  teardown_nodes (server, n);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/cluster/event/parse", test_event_parse);
  g_test_add_func ("/cluster/presence/atomic-sequence-snapshot",
      test_atomic_sequence_and_snapshot);
  g_test_add_func ("/cluster/presence/stale-generation", test_stale_generation);
  g_test_add_func ("/cluster/dedupe/two-nodes", test_dedupe_two_nodes);
  g_test_add_func ("/cluster/publish/order", test_publish_order);
  g_test_add_func ("/cluster/publish/fencing-token", test_fencing_token);
  return g_test_run ();
}
