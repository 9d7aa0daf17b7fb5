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

#include "metered-cluster-lease.h"

#include <string.h>

#include "metered-cluster-scripts.h"

typedef enum
{
  LEASE_NONE, /* nothing registered yet, or fenced */
  LEASE_REGISTERING, /* REGISTER sent */
  LEASE_HELD,
} LeaseState;

/* Commands in flight hold the guard, not the lease: a reply that comes
 * after metered_cluster_lease_free() finds lease == NULL. */
typedef struct
{
  gint refs;
  MeteredClusterLease *lease;
} Guard;

struct _MeteredClusterLease
{
  MeteredRedis *redis;
  char *prefix;
  char *node_id;
  char *info;
  MeteredClusterLeaseTiming timing;
  MeteredClusterLeaseCallbacks callbacks;
  gpointer user_data;
  Guard *guard;

  LeaseState state;
  char *inc;
  gint64 last_ok_us; /* send time of the last renewal Redis accepted */
  gint64 renew_sent_us; /* 0: none in flight */
  gboolean reap_in_flight;
  gint64 last_reap_us;
  gboolean stopped; /* deregistered: no renewal, no new life */
  /* A tick far later than due: this process did not run, and a renewal's
   * answer may sit unread; the fence check waits a tick (Redis's own
   * verdict on the next renewal still fences a lease that expired). */
  gint64 last_tick_us;
  guint tick_ms;
  GSource *tick;
  MeteredClusterLeaseStats stats;
};

gboolean
metered_cluster_lease_fence_due (
    gint64 last_ok_us, gint64 now_us, guint fence_after_ms)
{
  if (fence_after_ms == 0)
    return FALSE;
  return now_us - last_ok_us >= (gint64) fence_after_ms * 1000;
}

gboolean
metered_cluster_node_id_is_valid (const char *node_id)
{
  gsize n = 0;

  if (!node_id)
    return FALSE;
  for (; node_id[n]; n++) {
    char c = node_id[n];

    if (!g_ascii_isalnum (c) && c != '.' && c != '_' && c != '-')
      return FALSE;
  }
  return n >= 1 && n <= 64;
}

static Guard *
guard_ref (Guard *g)
{
  g->refs++;
  return g;
}

static MeteredClusterLease *
guard_release (Guard *g)
{
  MeteredClusterLease *lease = g->lease;

  if (--g->refs == 0)
    g_free (g);
  return lease;
}

static void
fence (MeteredClusterLease *lease, const char *why)
{
  g_message ("cluster node %s: fencing: %s", lease->node_id, why);
  lease->state = LEASE_NONE;
  g_clear_pointer (&lease->inc, g_free);
  lease->stats.fences++;
  if (lease->callbacks.fenced)
    lease->callbacks.fenced (lease, why, lease->user_data);
}

static void
on_register (MeteredRedis *redis, const redisReply *reply, const GError *error,
    gpointer user_data)
{
  MeteredClusterLease *lease = guard_release (user_data);

  if (!lease || lease->state != LEASE_REGISTERING)
    return;
  if (!reply || reply->type != REDIS_REPLY_ARRAY) {
    lease->state = LEASE_NONE; /* tried again at the next tick */
    g_clear_pointer (&lease->inc, g_free);
    return;
  }
  lease->state = LEASE_HELD;
  lease->stats.registrations++;
  g_message (
      "cluster node %s: registered, life %s", lease->node_id, lease->inc);
  if (lease->callbacks.registered)
    lease->callbacks.registered (lease, lease->inc, lease->user_data);
}

static void
send_register (MeteredClusterLease *lease, gint64 now)
{
  g_autofree char *exp = g_strdup_printf ("%u", lease->timing.expiry_ms);
  const char *argv[4];

  g_free (lease->inc);
  lease->inc = g_strdup_printf ("%08x%08x", g_random_int (), g_random_int ());
  argv[0] = lease->node_id;
  argv[1] = lease->inc;
  argv[2] = exp;
  argv[3] = lease->info;
  if (!metered_cluster_eval (lease->redis, METERED_CLUSTER_SCRIPT_REGISTER,
          lease->prefix, 4, argv, NULL, on_register, guard_ref (lease->guard),
          NULL)) {
    guard_release (lease->guard);
    g_clear_pointer (&lease->inc, g_free);
    return;
  }
  lease->state = LEASE_REGISTERING;
  /* The new life counts as renewed from the moment it was sent. */
  lease->last_ok_us = now;
}

typedef struct
{
  Guard *guard;
  gint64 sent_us;
  char *inc;
} RenewCall;

static void
on_renew (MeteredRedis *redis, const redisReply *reply, const GError *error,
    gpointer user_data)
{
  RenewCall *call = user_data;
  MeteredClusterLease *lease = guard_release (call->guard);
  const redisReply *verdict;

  if (!lease)
    goto out;
  lease->renew_sent_us = 0;
  /* An answer for an older life (fenced and registered again since). */
  if (lease->state != LEASE_HELD || g_strcmp0 (lease->inc, call->inc) != 0)
    goto out;
  if (!reply || reply->type != REDIS_REPLY_ARRAY || reply->elements < 1)
    goto out; /* no verdict: the fence timer decides */
  verdict = reply->element[0];
  if (verdict->type == REDIS_REPLY_STRING && strcmp (verdict->str, "ok") == 0) {
    lease->last_ok_us = MAX (lease->last_ok_us, call->sent_us);
    lease->stats.renewals++;
  } else if (verdict->type == REDIS_REPLY_STRING) {
    g_autofree char *why =
        g_strdup_printf ("Redis says the lease is %s", verdict->str);
    fence (lease, why);
  }
out:
  g_free (call->inc);
  g_free (call);
}

static void
send_renew (MeteredClusterLease *lease, gint64 now)
{
  g_autofree char *exp = g_strdup_printf ("%u", lease->timing.expiry_ms);
  const char *argv[] = { lease->node_id, lease->inc, exp };
  RenewCall *call = g_new0 (RenewCall, 1);

  call->guard = guard_ref (lease->guard);
  call->sent_us = now;
  call->inc = g_strdup (lease->inc);
  if (!metered_cluster_eval (lease->redis, METERED_CLUSTER_SCRIPT_RENEW,
          lease->prefix, 3, argv, NULL, on_renew, call, NULL)) {
    guard_release (call->guard);
    g_free (call->inc);
    g_free (call);
    return;
  }
  lease->renew_sent_us = now;
}

static void send_reap (MeteredClusterLease *lease);

static void
on_reap (MeteredRedis *redis, const redisReply *reply, const GError *error,
    gpointer user_data)
{
  MeteredClusterLease *lease = guard_release (user_data);
  gint64 nodes, peers, skipped, more;

  if (!lease)
    return;
  lease->reap_in_flight = FALSE;
  if (!reply || reply->type != REDIS_REPLY_ARRAY || reply->elements < 4)
    return; /* lock held elsewhere ({-1}), or no answer */
  nodes = reply->element[0]->integer;
  peers = reply->element[1]->integer;
  skipped = reply->element[2]->integer;
  more = reply->element[3]->integer;
  lease->stats.reaper_runs++;
  lease->stats.reaped_nodes += nodes;
  lease->stats.reaped_peers += peers;
  lease->stats.skipped_peers += skipped;
  if (nodes || peers || skipped) {
    g_message ("cluster node %s: reaper: %" G_GINT64_FORMAT
               " dead node(s), %" G_GINT64_FORMAT
               " peer(s) left, %" G_GINT64_FORMAT " re-homed peer(s) skipped",
        lease->node_id, nodes, peers, skipped);
    if (lease->callbacks.reaped)
      lease->callbacks.reaped (lease, (guint) nodes, (guint) peers,
          (guint) skipped, lease->user_data);
  }
  /* Work left past the budget: carry on while this node has the lock. */
  if (more > 0 && lease->state == LEASE_HELD)
    send_reap (lease);
}

static void
send_reap (MeteredClusterLease *lease)
{
  g_autofree char *lock = g_strdup_printf ("%u", lease->timing.reap_lock_ms);
  g_autofree char *budget = g_strdup_printf ("%u", lease->timing.reap_budget);
  const char *argv[] = { lease->node_id, lock, budget };

  if (!metered_cluster_eval (lease->redis, METERED_CLUSTER_SCRIPT_REAP,
          lease->prefix, 3, argv, NULL, on_reap, guard_ref (lease->guard),
          NULL)) {
    guard_release (lease->guard);
    return;
  }
  lease->reap_in_flight = TRUE;
}

static gboolean
on_tick (gpointer data)
{
  MeteredClusterLease *lease = data;
  gint64 now = g_get_monotonic_time ();
  gboolean up = metered_redis_get_state (lease->redis) == METERED_REDIS_UP;
  gboolean stalled =
      lease->last_tick_us &&
      now - lease->last_tick_us > (gint64) (lease->tick_ms + 250) * 1000;

  lease->last_tick_us = now;
  if (lease->stopped)
    return G_SOURCE_CONTINUE;

  /* After a stall only a renewal sent in the last fence_after_ms could
   * still save the lease (its answer unread); with none, the others may
   * have reaped this node already: fence before anything else runs. */
  if (lease->state == LEASE_HELD &&
      metered_cluster_lease_fence_due (
          stalled ? MAX (lease->last_ok_us, lease->renew_sent_us)
                  : lease->last_ok_us,
          now, lease->timing.fence_after_ms)) {
    g_autofree char *why =
        g_strdup_printf ("lease not renewed for %" G_GINT64_FORMAT " ms",
            (now - lease->last_ok_us) / 1000);
    fence (lease, why);
  }
  if (!up)
    return G_SOURCE_CONTINUE;

  if (lease->state == LEASE_NONE)
    send_register (lease, now);
  else if (lease->state == LEASE_HELD && !lease->renew_sent_us)
    send_renew (lease, now);

  if (lease->state == LEASE_HELD && !lease->reap_in_flight &&
      now - lease->last_reap_us >= (gint64) lease->timing.reap_ms * 1000) {
    lease->last_reap_us = now;
    send_reap (lease);
  }
  return G_SOURCE_CONTINUE;
}

MeteredClusterLease *
metered_cluster_lease_new (MeteredRedis *redis, const char *prefix,
    const char *node_id, const char *info,
    const MeteredClusterLeaseTiming *timing,
    const MeteredClusterLeaseCallbacks *callbacks, gpointer user_data)
{
  MeteredClusterLeaseTiming def = METERED_CLUSTER_LEASE_TIMING_DEFAULT;
  MeteredClusterLease *lease;
  guint tick_ms;

  g_return_val_if_fail (redis != NULL && prefix != NULL, NULL);
  g_return_val_if_fail (metered_cluster_node_id_is_valid (node_id), NULL);

  lease = g_new0 (MeteredClusterLease, 1);
  lease->redis = redis;
  lease->prefix = g_strdup (prefix);
  lease->node_id = g_strdup (node_id);
  lease->info = g_strdup (info ? info : "{}");
  lease->timing = timing ? *timing : def;
  if (callbacks)
    lease->callbacks = *callbacks;
  lease->user_data = user_data;
  lease->guard = g_new0 (Guard, 1);
  lease->guard->refs = 1;
  lease->guard->lease = lease;
  lease->state = LEASE_NONE;

  /* Renewals go out every renew_ms; the tick is finer so that the fence
   * check and a first registration after resync are not late. */
  tick_ms =
      CLAMP (MIN (lease->timing.renew_ms, lease->timing.reap_ms) / 4, 10, 250);
  lease->tick_ms = tick_ms;
  lease->tick = g_timeout_source_new (tick_ms);
  /* Ahead of the clients' sockets: after this process was stopped (or
   * starved) past its lease, the fence check runs before any frame a
   * client sent meanwhile is served. */
  g_source_set_priority (lease->tick, G_PRIORITY_HIGH);
  g_source_set_static_name (lease->tick, "metered-cluster-lease");
  g_source_set_callback (lease->tick, on_tick, lease, NULL);
  g_source_attach (lease->tick, g_main_context_get_thread_default ());
  return lease;
}

void
metered_cluster_lease_free (MeteredClusterLease *lease)
{
  if (!lease)
    return;
  g_source_destroy (lease->tick);
  g_source_unref (lease->tick);
  lease->guard->lease = NULL;
  guard_release (lease->guard);
  g_free (lease->prefix);
  g_free (lease->node_id);
  g_free (lease->info);
  g_free (lease->inc);
  g_free (lease);
}

void
metered_cluster_lease_resync (
    MeteredClusterLease *lease, MeteredRedisResync why)
{
  g_return_if_fail (lease != NULL);

  if (lease->stopped)
    return;
  /* A restarted Redis lost (or rolled back) the lease; nobody could reap
   * this node meanwhile, so a new life is registered without fencing. On
   * the same Redis, the next renewal tells whether the lease survived. */
  if (why == METERED_REDIS_RESYNC_RESTARTED && lease->state != LEASE_NONE) {
    lease->state = LEASE_NONE;
    g_clear_pointer (&lease->inc, g_free);
  }
  lease->renew_sent_us = 0;
  lease->reap_in_flight = FALSE;
  if (lease->state == LEASE_NONE)
    send_register (lease, g_get_monotonic_time ());
  else if (lease->state == LEASE_HELD)
    send_renew (lease, g_get_monotonic_time ());
}

void
metered_cluster_lease_deregister (MeteredClusterLease *lease)
{
  const char *argv[2];

  g_return_if_fail (lease != NULL);

  if (lease->state != LEASE_HELD) {
    lease->stopped = TRUE;
    return;
  }
  argv[0] = lease->node_id;
  argv[1] = lease->inc;
  metered_cluster_eval (lease->redis, METERED_CLUSTER_SCRIPT_DEREGISTER,
      lease->prefix, 2, argv, NULL, NULL, NULL, NULL);
  lease->state = LEASE_NONE;
  g_clear_pointer (&lease->inc, g_free);
  lease->stopped = TRUE;
}

gboolean
metered_cluster_lease_is_held (MeteredClusterLease *lease)
{
  return lease->state == LEASE_HELD;
}

const char *
metered_cluster_lease_get_inc (MeteredClusterLease *lease)
{
  return lease->state == LEASE_HELD ? lease->inc : NULL;
}

const char *
metered_cluster_lease_get_node_id (MeteredClusterLease *lease)
{
  return lease->node_id;
}

gint64
metered_cluster_lease_get_age_ms (MeteredClusterLease *lease)
{
  if (lease->state != LEASE_HELD)
    return -1;
  return (g_get_monotonic_time () - lease->last_ok_us) / 1000;
}

void
metered_cluster_lease_get_stats (
    MeteredClusterLease *lease, MeteredClusterLeaseStats *stats)
{
  *stats = lease->stats;
}
