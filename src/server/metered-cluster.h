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

#include "metered-hub.h"
#include "metered-metrics.h"

G_BEGIN_DECLS

/*
 * Cluster mode (docs/metered-server.md, "Cluster"): the hub's hooks
 * (MeteredHubCluster) over Redis. A node claims each peer it accepts,
 * keeps presence, fan-out, direct sends and the requestId dedupe in Redis
 * (metered-cluster-presence, one Lua script per change, so every node
 * sees one order per channel) and renews its lease (metered-cluster-lease:
 * fencing, the reaper that announces a dead node's peers as left).
 * Everything runs on the thread-default GMainContext of _new; no thread.
 */

typedef struct _MeteredCluster MeteredCluster;

typedef struct
{
  const char *url; /* redis://[:password@]host[:port][/0] */
  const char *node_id; /* [A-Za-z0-9._-]{1,64}, unique per live node */
  const char *prefix; /* NULL: METERED_CLUSTER_PREFIX */
  /* Lease expiry; 0: 3000. Renewed every third of it, fenced after two
   * thirds without a renewal. */
  guint lease_ms;
} MeteredClusterOptions;

/* Checks the options (a clear error, no password in it) and starts
 * connecting; the hub serves clients from now on and claims them once
 * the lease is registered. */
MeteredCluster *metered_cluster_new (
    MeteredHub *hub, const MeteredClusterOptions *options, GError **error);
/* Unhooks from the hub first, then closes the Redis link (no
 * deregistration: see _deregister). */
void metered_cluster_free (MeteredCluster *cluster);
/* Graceful leave: the others' reaper announces what is still claimed. */
void metered_cluster_deregister (MeteredCluster *cluster);

typedef struct
{
  gboolean lease_held;
  gint64 lease_age_ms; /* -1: never renewed */
  gint64 redis_rtt_us; /* -1: not measured yet */
  guint redis_pending;
  guint64 reaped_peers;
  guint64 fences;
  guint64 events_in;
  guint64 events_bad;
} MeteredClusterStats;

void metered_cluster_get_stats (
    MeteredCluster *cluster, MeteredClusterStats *stats);

G_END_DECLS
