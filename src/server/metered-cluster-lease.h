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

#include "metered-redis.h"

G_BEGIN_DECLS

/*
 * A node's liveness in the cluster: one lease per node (not per
 * connection), renewed about every second, expiring after three. Each
 * registration is a new "life" (inc, random): peer claims name it, so a
 * node that lost its lease and came back never mixes its old claims with
 * new ones. Every node also runs the reaper; a Redis lock (SET NX PX)
 * lets one of them work per period. It removes the expired nodes' peers
 * from presence, publishing their `left`, and skips peers that claimed
 * again elsewhere in the meantime (their gen moved on).
 *
 * Fencing: a node that cannot show a live lease stops serving, so no
 * client sits on a node the others consider dead. It fences when Redis
 * says its lease is gone or expired (on the same Redis process), or when
 * no renewal succeeded for fence_after_ms (default expiry - renew period:
 * the lease is then still valid in Redis, so the node is out before the
 * others can reap it). A Redis restart (new run_id) is not a reason: the
 * node registers a new life and its owner claims everything again, with
 * the client WebSockets left open; but an outage longer than
 * fence_after_ms fences first, since a partition cannot be told apart
 * from a restart while Redis is unreachable.
 */

typedef struct _MeteredClusterLease MeteredClusterLease;

typedef struct
{
  guint renew_ms; /* 1000 */
  guint expiry_ms; /* 3000 */
  guint fence_after_ms; /* expiry_ms - renew_ms; 0: never on time alone */
  guint reap_ms; /* 1000 */
  guint reap_lock_ms; /* reap_ms - 100: one reaper per period */
  guint reap_budget; /* peers per reaper run: 1000 */
} MeteredClusterLeaseTiming;

#define METERED_CLUSTER_LEASE_TIMING_DEFAULT                                   \
  {                                                                            \
    1000, 3000, 2000, 1000, 900, 1000                                          \
  }

typedef struct
{
  /* A new life is registered under inc: the owner claims again every
   * peer it holds (gen changes) and joins their channels again. */
  void (*registered) (
      MeteredClusterLease *lease, const char *inc, gpointer user_data);
  /* Stop serving: close every client (they re-home) and forget their
   * claims. A new life is registered once Redis answers again. */
  void (*fenced) (
      MeteredClusterLease *lease, const char *why, gpointer user_data);
  /* This node's reaper did work (optional). */
  void (*reaped) (MeteredClusterLease *lease, guint nodes, guint peers,
      guint skipped, gpointer user_data);
} MeteredClusterLeaseCallbacks;

/* node_id: [A-Za-z0-9._-]{1,64}, checked by metered_cluster_node_id_is_valid.
 * info: a short JSON object other nodes can read (URL, start time). */
MeteredClusterLease *metered_cluster_lease_new (MeteredRedis *redis,
    const char *prefix, const char *node_id, const char *info,
    const MeteredClusterLeaseTiming *timing,
    const MeteredClusterLeaseCallbacks *callbacks, gpointer user_data);
/* No callback after it; does not deregister (see deregister). */
void metered_cluster_lease_free (MeteredClusterLease *lease);

/* The MeteredRedis owner forwards its resync callback here. */
void metered_cluster_lease_resync (
    MeteredClusterLease *lease, MeteredRedisResync why);
/* Graceful shutdown: the reaper emits `left` for whatever is still
 * claimed by this life at its next run, without waiting for expiry. */
void metered_cluster_lease_deregister (MeteredClusterLease *lease);

gboolean metered_cluster_lease_is_held (MeteredClusterLease *lease);
/* The current life, or NULL when not registered. */
const char *metered_cluster_lease_get_inc (MeteredClusterLease *lease);
const char *metered_cluster_lease_get_node_id (MeteredClusterLease *lease);
/* Since the send time of the last successful renewal, -1 if none. */
gint64 metered_cluster_lease_get_age_ms (MeteredClusterLease *lease);

typedef struct
{
  guint64 registrations;
  guint64 renewals;
  guint64 fences;
  guint64 reaper_runs; /* runs that got the lock */
  guint64 reaped_nodes;
  guint64 reaped_peers;
  guint64 skipped_peers;
} MeteredClusterLeaseStats;

void metered_cluster_lease_get_stats (
    MeteredClusterLease *lease, MeteredClusterLeaseStats *stats);

/* Pure: whether a node whose last successful renewal was sent at
 * last_ok_us must fence at now_us. */
gboolean metered_cluster_lease_fence_due (
    gint64 last_ok_us, gint64 now_us, guint fence_after_ms);
gboolean metered_cluster_node_id_is_valid (const char *node_id);

G_END_DECLS
