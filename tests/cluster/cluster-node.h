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

#include "metered-cluster-lease.h"
#include "metered-cluster-presence.h"
#include "redis-harness.h"

G_BEGIN_DECLS

/* One simulated metered-server node: its Redis link, its lease, and a
 * log of the cluster events it received, as short strings:
 * "joined room p1 7", "left room p1 8", "msg room from body",
 * "send to from body", "kick p1 12". Several live in one process. */
typedef struct
{
  char *id;
  MeteredRedis *redis;
  MeteredClusterLease *lease;
  GPtrArray *events;
  guint registered;
  guint fenced;
  char *fence_why;
  guint resyncs[3];
  guint subscribed; /* SUBSCRIBE confirmations after UP */
} TestNode;

TestNode *test_node_new (
    TestRedis *server, const char *id, const MeteredClusterLeaseTiming *timing);
/* Like a SIGKILL of the node: connections close, no deregistration. */
void test_node_free (TestNode *node);
gboolean test_node_has_event (TestNode *node, const char *event);
guint test_node_count_events (TestNode *node, const char *prefix);
gboolean test_node_is_registered (gpointer node);
/* Subscribes to a topic and waits for Redis to confirm it. */
void test_node_subscribe (TestNode *node, const char *topic);

/* The answer of one metered_cluster_* call, waited for. */
typedef struct
{
  gboolean done;
  gint64 value;
  gint64 seq;
  char *epoch;
  GPtrArray *members; /* peer, info, ... */
  GError *error;
} TestCapture;

void test_capture_cb (const MeteredClusterResult *result, const GError *error,
    gpointer user_data);
/* Waits (bounded) for the answer; asserts it came without error. */
void test_capture_wait (TestCapture *c);
void test_capture_clear (TestCapture *c);

G_END_DECLS
