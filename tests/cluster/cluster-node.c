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

#include "cluster-node.h"

#include <string.h>

static void
on_resync (MeteredRedis *redis, MeteredRedisResync why, gpointer user_data)
{
  TestNode *node = user_data;

  node->resyncs[why]++;
  metered_cluster_lease_resync (node->lease, why);
}

static void
on_subscribed (MeteredRedis *redis, const char *channel, gpointer user_data)
{
  TestNode *node = user_data;

  node->subscribed++;
}

static void
on_message (MeteredRedis *redis, const char *channel, const char *data,
    gsize len, gpointer user_data)
{
  TestNode *node = user_data;
  MeteredClusterEvent ev;
  g_autoptr (GError) error = NULL;
  char *s = NULL;

  if (!metered_cluster_event_parse (data, len, &ev, &error))
    g_error ("node %s: bad event on %s: %s", node->id, channel, error->message);
  switch (ev.type) {
    case METERED_CLUSTER_EVENT_JOINED:
    case METERED_CLUSTER_EVENT_LEFT:
      s = g_strdup_printf ("%s %s %s %" G_GINT64_FORMAT,
          ev.type == METERED_CLUSTER_EVENT_JOINED ? "joined" : "left",
          ev.channel, ev.peer, ev.seq);
      break;
    case METERED_CLUSTER_EVENT_MSG:
      s = g_strdup_printf (
          "msg %s %s %.*s", ev.channel, ev.peer, (int) ev.body_len, ev.body);
      break;
    case METERED_CLUSTER_EVENT_SEND:
      s = g_strdup_printf (
          "send %s %s %.*s", ev.to, ev.peer, (int) ev.body_len, ev.body);
      break;
    case METERED_CLUSTER_EVENT_KICK:
    default:
      s = g_strdup_printf ("kick %s %" G_GINT64_FORMAT, ev.peer, ev.gen);
      break;
  }
  g_ptr_array_add (node->events, s);
  metered_cluster_event_clear (&ev);
}

static void
on_registered (MeteredClusterLease *lease, const char *inc, gpointer user_data)
{
  TestNode *node = user_data;

  node->registered++;
}

static void
on_fenced (MeteredClusterLease *lease, const char *why, gpointer user_data)
{
  TestNode *node = user_data;

  node->fenced++;
  g_free (node->fence_why);
  node->fence_why = g_strdup (why);
}

TestNode *
test_node_new (
    TestRedis *server, const char *id, const MeteredClusterLeaseTiming *timing)
{
  static const MeteredRedisCallbacks rcb = { NULL, on_resync, on_subscribed,
    on_message };
  static const MeteredClusterLeaseCallbacks lcb = { on_registered, on_fenced,
    NULL };
  TestNode *node = g_new0 (TestNode, 1);
  MeteredRedisConfig config;

  node->id = g_strdup (id);
  node->events = g_ptr_array_new_with_free_func (g_free);
  metered_redis_config_init (&config);
  config.port = server->port;
  config.client_name = g_strdup (id);
  node->redis = metered_redis_new (&config, &rcb, node);
  metered_redis_config_clear (&config);
  node->lease = metered_cluster_lease_new (
      node->redis, METERED_CLUSTER_PREFIX, id, "{}", timing, &lcb, node);
  return node;
}

void
test_node_free (TestNode *node)
{
  if (!node)
    return;
  metered_redis_free (node->redis);
  metered_cluster_lease_free (node->lease);
  g_ptr_array_unref (node->events);
  g_free (node->fence_why);
  g_free (node->id);
  g_free (node);
}

gboolean
test_node_has_event (TestNode *node, const char *event)
{
  guint i;

  for (i = 0; i < node->events->len; i++)
    if (strcmp (node->events->pdata[i], event) == 0)
      return TRUE;
  return FALSE;
}

guint
test_node_count_events (TestNode *node, const char *prefix)
{
  guint i, n = 0;

  for (i = 0; i < node->events->len; i++)
    if (g_str_has_prefix (node->events->pdata[i], prefix))
      n++;
  return n;
}

gboolean
test_node_is_registered (gpointer data)
{
  TestNode *node = data;

  return metered_cluster_lease_is_held (node->lease);
}

typedef struct
{
  TestNode *node;
  guint want;
} SubWait;

static gboolean
sub_confirmed (gpointer data)
{
  SubWait *w = data;

  return w->node->subscribed >= w->want;
}

void
test_node_subscribe (TestNode *node, const char *topic)
{
  SubWait w = { node, node->subscribed + 1 };

  g_assert_cmpint (metered_redis_get_state (node->redis), ==, METERED_REDIS_UP);
  metered_redis_subscribe (node->redis, topic);
  g_assert_true (test_wait_until (sub_confirmed, &w, 5000));
}

void
test_capture_cb (
    const MeteredClusterResult *result, const GError *error, gpointer user_data)
{
  TestCapture *c = user_data;
  guint i;

  c->done = TRUE;
  if (error) {
    c->error = g_error_copy (error);
    return;
  }
  c->value = result->value;
  c->seq = result->seq;
  c->epoch = g_strdup (result->epoch);
  c->members = g_ptr_array_new_with_free_func (g_free);
  for (i = 0; i < result->n_members * 2; i++)
    g_ptr_array_add (c->members, g_strdup (result->members[i]));
}

static gboolean
capture_done (gpointer data)
{
  return ((TestCapture *) data)->done;
}

void
test_capture_wait (TestCapture *c)
{
  g_assert_true (test_wait_until (capture_done, c, 10000));
  g_assert_no_error (c->error);
}

void
test_capture_clear (TestCapture *c)
{
  g_clear_pointer (&c->epoch, g_free);
  if (c->members)
    g_ptr_array_unref (c->members);
  g_clear_error (&c->error);
  memset (c, 0, sizeof *c);
}
