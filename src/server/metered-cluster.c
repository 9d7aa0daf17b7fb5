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

#include "metered-cluster.h"

#include <gio/gio.h>
#include <string.h>
#include <unistd.h>

#include "metered-cluster-lease.h"
#include "metered-cluster-presence.h"
#include "metered-cluster-scripts.h"
#include "protocol/metered-protocol.h"

/* A local connection as the cluster knows it. Replies from Redis find it
 * again by serial: the hub may have freed the connection meanwhile. */
typedef struct
{
  MeteredCluster *cluster;
  MeteredHubConn *conn;
  guint64 serial;
  char *conn_id; /* node/serial: which connection a kick spares */
  char *peer_topic;
  gint64 gen; /* of the live claim, 0 while claiming or unclaimed */
  gboolean claiming;
  gint64 kicked_gen; /* newest claim elsewhere seen while claiming */
  /* channel -> GINT_TO_POINTER (TRUE once the snapshot is out: joined,
   * or joined again after each new claim) */
  GHashTable *channels;
} ClusterConn;

/* A channel some local connection subscribes to: the node holds its
 * Redis topic. Presence events that arrive while a snapshot of it is in
 * flight are kept, so the snapshot can be merged with them (those newer
 * than the snapshot go to its subscriber after it). */
typedef struct
{
  char *topic;
  char *key; /* app id + US + channel */
  guint refs;
  gboolean confirmed; /* SUBSCRIBE confirmed: snapshots may be read */
  GQueue waiting; /* Request*: snapshots waiting for the confirmation */
  guint in_flight;
  GQueue buffer; /* MeteredClusterEvent* (body copied into it) */
} ClusterChan;

typedef struct
{
  MeteredCluster *cluster;
  guint64 serial;
  char *channel; /* snapshot: the channel; publish/send: NULL */
  char *topic;
  char *request_id;
  /* claim: what a release needs when the connection is gone meanwhile */
  char *peer_key;
  char *inc;
  gboolean resync; /* snapshot: merge into a view already sent */
  /* history read: the hub's token, the position asked */
  gboolean history;
  guint64 token;
  char *epoch;
  guint64 after;
} Request;

struct _MeteredCluster
{
  MeteredHub *hub; /* not owned */
  char *prefix;
  char *node_id;
  MeteredRedis *redis;
  MeteredClusterLease *lease;
  GHashTable *conns; /* MeteredHubConn* -> ClusterConn* */
  GHashTable *serials; /* &serial -> ClusterConn* (not owned) */
  GHashTable *chans; /* topic -> ClusterChan* */
  guint64 next_serial;
  guint64 events_in;
  guint64 events_bad;
  guint resync_source;
  /* After a Redis restart, until every other node can have subscribed
   * again (monotonic us): a message published before would miss them. */
  gint64 settle_until_us;
};

/* After a reconnect or a Redis restart, every subscription's view is
 * compared with Redis this long after the link is back: the other nodes
 * have re-registered and joined again by then, so what is told is what
 * changed while events could not flow (a member that left meanwhile). */
#define RESYNC_DELAY_MS 1500

static Request *
request_new (MeteredCluster *cluster, ClusterConn *cc)
{
  Request *req = g_new0 (Request, 1);

  req->cluster = cluster;
  req->serial = cc ? cc->serial : 0;
  return req;
}

static void
request_free (Request *req)
{
  g_free (req->channel);
  g_free (req->topic);
  g_free (req->request_id);
  g_free (req->peer_key);
  g_free (req->inc);
  g_free (req->epoch);
  g_free (req);
}

static ClusterConn *
request_conn (Request *req)
{
  return g_hash_table_lookup (req->cluster->serials, &req->serial);
}

/* The part after the app id of a scoped name, or NULL. */
static const char *
unscoped (const char *key)
{
  const char *us = key ? strchr (key, '\x1f') : NULL;

  return us ? us + 1 : NULL;
}

static char *
channel_key (MeteredHubConn *conn, const char *channel)
{
  return g_strconcat (
      metered_hub_conn_get_app (conn)->id, "\x1f", channel, NULL);
}

static void
event_free (MeteredClusterEvent *event)
{
  g_free ((char *) event->body);
  metered_cluster_event_clear (event);
  g_free (event);
}

static void
chan_free (ClusterChan *chan)
{
  g_queue_clear_full (&chan->waiting, (GDestroyNotify) request_free);
  g_queue_clear_full (&chan->buffer, (GDestroyNotify) event_free);
  g_free (chan->topic);
  g_free (chan->key);
  g_free (chan);
}

static ClusterChan *
chan_ref (MeteredCluster *cluster, const char *key)
{
  g_autofree char *topic = metered_cluster_channel_topic (cluster->prefix, key);
  ClusterChan *chan = g_hash_table_lookup (cluster->chans, topic);

  if (!chan) {
    chan = g_new0 (ClusterChan, 1);
    chan->topic = g_steal_pointer (&topic);
    chan->key = g_strdup (key);
    g_hash_table_insert (cluster->chans, chan->topic, chan);
    metered_redis_subscribe (cluster->redis, chan->topic);
    chan->confirmed = metered_redis_is_subscribed (cluster->redis, chan->topic);
  }
  chan->refs++;
  return chan;
}

static void
chan_unref (MeteredCluster *cluster, const char *key)
{
  g_autofree char *topic = metered_cluster_channel_topic (cluster->prefix, key);
  ClusterChan *chan = g_hash_table_lookup (cluster->chans, topic);

  if (!chan || --chan->refs > 0)
    return;
  metered_redis_unsubscribe (cluster->redis, chan->topic);
  g_hash_table_remove (cluster->chans, topic);
}

static void
log_error (const char *what, const GError *error)
{
  g_info ("cluster: %s failed: %s", what, error ? error->message : "?");
}

/* Replies that change nothing here (join, leave, release). */
static void
on_done (
    const MeteredClusterResult *result, const GError *error, gpointer user_data)
{
  if (!result && !g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    log_error (user_data, error);
}

static void
join (ClusterConn *cc, const char *channel)
{
  MeteredCluster *cluster = cc->cluster;
  g_autofree char *key = channel_key (cc->conn, channel);
  g_autofree char *epoch = metered_cluster_epoch_new ();
  const char *md = metered_hub_conn_get_peer_metadata (cc->conn);
  g_autoptr (GError) error = NULL;

  /* Peers without the presence action neither see nor are seen. */
  if (!cc->gen || !metered_hub_conn_sees_presence (cc->conn))
    return;
  if (!metered_cluster_join (cluster->redis, cluster->prefix, key,
          metered_hub_conn_get_peer_key (cc->conn), cc->gen, md ? md : "",
          epoch, on_done, (gpointer) "join", &error))
    log_error ("join", error);
}

static void claim (ClusterConn *cc);

static void
on_claimed (
    const MeteredClusterResult *result, const GError *error, gpointer user_data)
{
  Request *req = user_data;
  MeteredCluster *cluster = req->cluster;
  ClusterConn *cc = request_conn (req);
  GHashTableIter iter;
  gpointer channel, ready;

  if (cc)
    cc->claiming = FALSE;
  if (!result) {
    if (!g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
      log_error ("claim", error);
    request_free (req);
    return;
  }
  if (result->value < 0) {
    /* Refused by the fencing token: this life is over (the lease finds
     * out on its next renewal), and the next life claims every peer. */
    g_info (
        "cluster: a claim of life %s was refused: the life is over", req->inc);
    request_free (req);
    return;
  }
  if (!cc || g_strcmp0 (req->inc,
                 metered_cluster_lease_get_inc (cluster->lease)) != 0) {
    /* Gone meanwhile, or claimed under a life that ended: let go. */
    metered_cluster_release (cluster->redis, cluster->prefix, req->peer_key,
        result->value, cluster->node_id, req->inc, on_done,
        (gpointer) "release", NULL);
    if (cc)
      claim (cc);
    request_free (req);
    return;
  }
  request_free (req);
  cc->gen = result->value;
  if (cc->kicked_gen > cc->gen) {
    metered_hub_conn_close (
        cc->conn, METERED_CLOSE_POLICY_VIOLATION, "superseded");
    return;
  }
  g_hash_table_iter_init (&iter, cc->channels);
  while (g_hash_table_iter_next (&iter, &channel, &ready))
    if (ready)
      join (cc, channel);
}

/* Claims the peer under the current life; does nothing until there is
 * one (the registered callback claims everything then). */
static void
claim (ClusterConn *cc)
{
  MeteredCluster *cluster = cc->cluster;
  const char *inc = metered_cluster_lease_get_inc (cluster->lease);
  Request *req;
  g_autoptr (GError) error = NULL;

  cc->gen = 0;
  if (!inc || cc->claiming)
    return;
  req = request_new (cluster, cc);
  req->peer_key = g_strdup (metered_hub_conn_get_peer_key (cc->conn));
  req->inc = g_strdup (inc);
  cc->claiming = TRUE;
  if (!metered_cluster_claim (cluster->redis, cluster->prefix, req->peer_key,
          cluster->node_id, inc, cc->conn_id, on_claimed, req, &error)) {
    cc->claiming = FALSE;
    log_error ("claim", error);
    request_free (req);
  }
}

static void
hook_conn_added (gpointer data, MeteredHubConn *conn)
{
  MeteredCluster *cluster = data;
  ClusterConn *cc = g_new0 (ClusterConn, 1);

  cc->cluster = cluster;
  cc->conn = conn;
  cc->serial = ++cluster->next_serial;
  cc->conn_id =
      g_strdup_printf ("%s/%" G_GUINT64_FORMAT, cluster->node_id, cc->serial);
  cc->peer_topic = metered_cluster_peer_topic (
      cluster->prefix, metered_hub_conn_get_peer_key (conn));
  cc->channels = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  g_hash_table_insert (cluster->conns, conn, cc);
  g_hash_table_insert (cluster->serials, &cc->serial, cc);
  /* Subscribed before anyone can learn about the peer: its presence
   * goes out only after its snapshot, which waits for a later
   * confirmation on the same subscriber connection. */
  metered_redis_subscribe (cluster->redis, cc->peer_topic);
  claim (cc);
}

static void
cluster_conn_free (ClusterConn *cc)
{
  g_hash_table_unref (cc->channels);
  g_free (cc->conn_id);
  g_free (cc->peer_topic);
  g_free (cc);
}

static void
hook_conn_removed (gpointer data, MeteredHubConn *conn)
{
  MeteredCluster *cluster = data;
  ClusterConn *cc = g_hash_table_lookup (cluster->conns, conn);
  const char *inc = metered_cluster_lease_get_inc (cluster->lease);
  GHashTableIter iter;
  gpointer channel;

  if (!cc)
    return;
  g_hash_table_iter_init (&iter, cc->channels);
  while (g_hash_table_iter_next (&iter, &channel, NULL)) {
    g_autofree char *key = channel_key (conn, channel);
    chan_unref (cluster, key);
  }
  /* One script leaves every channel of this claim and drops the claim
   * unless a newer connection of the peer took it over. */
  if (cc->gen && inc)
    metered_cluster_release (cluster->redis, cluster->prefix,
        metered_hub_conn_get_peer_key (conn), cc->gen, cluster->node_id, inc,
        on_done, (gpointer) "release", NULL);
  metered_redis_unsubscribe (cluster->redis, cc->peer_topic);
  g_hash_table_remove (cluster->serials, &cc->serial);
  g_hash_table_remove (cluster->conns, conn);
}

static void
on_snapshot (
    const MeteredClusterResult *result, const GError *error, gpointer user_data)
{
  Request *req = user_data;
  MeteredCluster *cluster = req->cluster;
  ClusterConn *cc = request_conn (req);
  ClusterChan *chan = g_hash_table_lookup (cluster->chans, req->topic);
  g_autoptr (GPtrArray) ids = g_ptr_array_new ();
  g_autoptr (GPtrArray) mds = g_ptr_array_new ();

  if (chan && chan->in_flight > 0)
    chan->in_flight--;
  if (!result) {
    if (!g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED)) {
      log_error ("snapshot", error);
      /* The subscriber waits for a snapshot: an empty one is wrong, so
       * it reconnects and subscribes again. */
      if (cc && !req->resync)
        metered_hub_conn_close (
            cc->conn, METERED_CLOSE_GOING_AWAY, "cluster backend unavailable");
      /* the close may have dropped the channel's last reference */
      chan = g_hash_table_lookup (cluster->chans, req->topic);
    }
    goto out;
  }
  if (!cc || !chan || !g_hash_table_contains (cc->channels, req->channel))
    goto out;

  for (guint i = 0; i < result->n_members; i++) {
    const char *peer = result->members[2 * i];
    const char *info = result->members[2 * i + 1];

    if (g_str_equal (peer, metered_hub_conn_get_peer_key (cc->conn)) ||
        !unscoped (peer))
      continue;
    g_ptr_array_add (ids, (gpointer) unscoped (peer));
    g_ptr_array_add (mds, (gpointer) (*info ? info : NULL));
  }
  if (req->resync) {
    metered_hub_conn_merge_presence (cc->conn, req->channel,
        (const char *const *) ids->pdata, (const char *const *) mds->pdata,
        ids->len, result->epoch, result->seq);
    goto replay;
  }
  if (!metered_hub_conn_send_snapshot (cc->conn, req->channel,
          (const char *const *) ids->pdata, (const char *const *) mds->pdata,
          ids->len, result->epoch, result->seq))
    goto out;
  g_hash_table_insert (
      cc->channels, g_strdup (req->channel), GINT_TO_POINTER (TRUE));
  join (cc, req->channel);

replay:
  /* What changed between the SUBSCRIBE and the snapshot's read, in
   * order; subscribers that had it already skip it by its seq. */
  for (GList *l = chan->buffer.head; l; l = l->next) {
    MeteredClusterEvent *ev = l->data;
    metered_hub_deliver_presence (cluster->hub, chan->key, unscoped (ev->peer),
        ev->body_len ? ev->body : NULL,
        ev->type == METERED_CLUSTER_EVENT_JOINED, ev->epoch, ev->seq);
  }

out:
  if (chan && chan->in_flight == 0)
    g_queue_clear_full (&chan->buffer, (GDestroyNotify) event_free);
  request_free (req);
}

static void
snapshot_read (MeteredCluster *cluster, ClusterChan *chan, Request *req)
{
  g_autoptr (GError) error = NULL;

  chan->in_flight++;
  if (!metered_cluster_snapshot (cluster->redis, cluster->prefix, chan->key,
          on_snapshot, req, &error)) {
    g_autoptr (GError) copy = g_error_copy (error);
    /* Redis is away: answered as a failed read. */
    on_snapshot (NULL, copy, req);
  }
}

static void
on_history (
    const MeteredClusterResult *result, const GError *error, gpointer user_data)
{
  Request *req = user_data;
  ClusterConn *cc = request_conn (req);
  g_autofree MeteredHistoryEntry *entries = NULL;
  GPtrArray *strings = g_ptr_array_new_with_free_func (g_free);
  guint n = 0;

  if (!cc)
    goto out;
  if (!result) {
    if (!g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED)) {
      log_error ("history read", error);
      /* Its subscribe waits for this answer: it reconnects and resumes
       * again, as when a snapshot cannot be read. */
      metered_hub_conn_close (
          cc->conn, METERED_CLOSE_GOING_AWAY, "cluster backend unavailable");
    }
    goto out;
  }
  entries = g_new0 (MeteredHistoryEntry, MAX (result->n_entries, 1));
  for (guint i = 0; i < result->n_entries; i++) {
    const char *const *e = result->entries + 3 * i;
    char *md = NULL, *payload = NULL;
    g_autoptr (GError) bad = NULL;

    /* Written by the publish script only; anything else is skipped, as
     * a malformed event would be, and the replay reports the hole. */
    if (!unscoped (e[1]) || !metered_cluster_body_unpack (
                                e[2], strlen (e[2]), &md, &payload, &bad)) {
      req->cluster->events_bad++;
      continue;
    }
    entries[n].seq = g_ascii_strtoull (e[0], NULL, 10);
    entries[n].from = unscoped (e[1]);
    entries[n].data = payload;
    entries[n].from_metadata = md;
    g_ptr_array_add (strings, payload);
    if (md)
      g_ptr_array_add (strings, md);
    n++;
  }
  metered_hub_conn_history_answer (cc->conn, req->channel, req->token,
      result->epoch, (guint64) result->seq, entries, n);

out:
  g_ptr_array_unref (strings);
  request_free (req);
}

static void
history_read (MeteredCluster *cluster, Request *req)
{
  ClusterConn *cc = request_conn (req);
  MeteredApp *app;
  g_autofree char *key = NULL;
  g_autofree char *epoch = metered_cluster_epoch_new ();
  g_autoptr (GError) error = NULL;

  if (!cc) {
    request_free (req);
    return;
  }
  app = metered_hub_conn_get_app (cc->conn);
  key = channel_key (cc->conn, req->channel);
  if (!metered_cluster_history_read (cluster->redis, cluster->prefix, key,
          req->epoch, req->after, app->history_max_age_ms,
          app->history_max_messages ? METERED_HUB_REPLAY_BATCH : 0, epoch,
          on_history, req, &error)) {
    g_autoptr (GError) copy = g_error_copy (error);
    on_history (NULL, copy, req);
  }
}

/* A read waiting for the channel's SUBSCRIBE confirmation. */
static void
request_read (MeteredCluster *cluster, ClusterChan *chan, Request *req)
{
  if (req->history)
    history_read (cluster, req);
  else
    snapshot_read (cluster, chan, req);
}

/* The channel's topic, subscribed for conn from its first read on. */
static ClusterChan *
conn_chan (ClusterConn *cc, const char *channel)
{
  MeteredCluster *cluster = cc->cluster;
  g_autofree char *key = channel_key (cc->conn, channel);
  g_autofree char *topic = NULL;

  if (!g_hash_table_contains (cc->channels, channel)) {
    g_hash_table_insert (cc->channels, g_strdup (channel), NULL);
    return chan_ref (cluster, key);
  }
  topic = metered_cluster_channel_topic (cluster->prefix, key);
  return g_hash_table_lookup (cluster->chans, topic);
}

/* A read of conn's channel: now, or once the topic is confirmed. */
static void
conn_read (MeteredCluster *cluster, MeteredHubConn *conn, const char *channel,
    Request *init)
{
  ClusterConn *cc = g_hash_table_lookup (cluster->conns, conn);
  ClusterChan *chan;
  Request *req;

  if (!cc)
    return;
  chan = conn_chan (cc, channel);
  req = g_memdup2 (init, sizeof *init);
  req->cluster = cluster;
  req->serial = cc->serial;
  req->channel = g_strdup (channel);
  req->topic = g_strdup (chan->topic);
  req->epoch = g_strdup (init->epoch);
  if (chan->confirmed)
    request_read (cluster, chan, req);
  else
    g_queue_push_tail (&chan->waiting, req);
}

static void
hook_snapshot (gpointer data, MeteredHubConn *conn, const char *channel)
{
  Request init = { 0 };

  conn_read (data, conn, channel, &init);
}

/* Read once the channel's topic is subscribed: every message numbered
 * after the read reaches this node live, so the hub can join the two
 * without a hole. */
static void
hook_history (gpointer data, MeteredHubConn *conn, const char *channel,
    guint64 token, const char *epoch, guint64 after)
{
  Request init = { 0 };

  init.history = TRUE;
  init.token = token;
  init.epoch = (char *) epoch; /* copied by conn_read */
  init.after = after;
  conn_read (data, conn, channel, &init);
}

static void
hook_unsubscribed (gpointer data, MeteredHubConn *conn, const char *channel)
{
  MeteredCluster *cluster = data;
  ClusterConn *cc = g_hash_table_lookup (cluster->conns, conn);
  g_autofree char *key = channel_key (conn, channel);

  if (!cc || !g_hash_table_remove (cc->channels, channel))
    return;
  if (cc->gen)
    metered_cluster_leave (cluster->redis, cluster->prefix, key,
        metered_hub_conn_get_peer_key (conn), cc->gen, on_done,
        (gpointer) "leave", NULL);
  chan_unref (cluster, key);
}

static void
on_routed (
    const MeteredClusterResult *result, const GError *error, gpointer user_data)
{
  Request *req = user_data;
  ClusterConn *cc = request_conn (req);

  if (!cc) {
    /* gone: the resend after its reconnect is answered by the dedupe */
  } else if (!result) {
    if (!g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
      metered_hub_conn_answer (cc->conn, req->request_id,
          METERED_ERR_BACKEND_ERROR, "cluster backend unavailable");
  } else if (result->value == -2) {
    /* Redis refused this node's life: it is fenced, or about to be. */
    metered_hub_conn_answer (cc->conn, req->request_id,
        METERED_ERR_BACKEND_ERROR, "cluster node fenced");
  } else if (req->channel == NULL && result->value == 0) {
    /* a send nobody received (a publish may have no receiver) */
    metered_hub_conn_answer (cc->conn, req->request_id,
        METERED_ERR_PEER_NOT_FOUND, "peer is not connected");
  } else {
    /* delivered, or a duplicate requestId (-1): acked either way */
    metered_hub_conn_answer (cc->conn, req->request_id, NULL, NULL);
  }
  request_free (req);
}

static void
route (MeteredCluster *cluster, MeteredHubConn *conn, const char *channel,
    const char *to, const char *request_id, const char *data_json)
{
  ClusterConn *cc = g_hash_table_lookup (cluster->conns, conn);
  g_autofree char *target = channel_key (conn, channel ? channel : to);
  const char *md = metered_hub_conn_get_peer_metadata (conn);
  /* The life is the fencing token: Redis refuses it once it is not the
   * node's live one (a stale command after the others reaped us). */
  const char *inc = metered_cluster_lease_get_inc (cluster->lease);
  g_autoptr (GError) error = NULL;
  g_autofree char *body = NULL;
  Request *req;
  gsize len;
  gboolean ok;

  if (!cc)
    return;
  body = metered_cluster_body_pack (md, data_json, &len);
  req = request_new (cluster, cc);
  req->channel = g_strdup (channel);
  req->request_id = g_strdup (request_id);
  if (!inc || g_get_monotonic_time () < cluster->settle_until_us) {
    /* Not registered (starting, or fenced): nothing may go out. Just
     * after a Redis restart: the client resends once the others listen. */
    g_set_error_literal (&error, G_IO_ERROR, G_IO_ERROR_NOT_CONNECTED,
        inc ? "cluster resyncing after a Redis restart"
            : "cluster node not registered");
    on_routed (NULL, error, req);
    return;
  }
  if (channel) {
    MeteredApp *app = metered_hub_conn_get_app (conn);
    MeteredHistoryLimits limits = { app->history_max_messages,
      app->history_max_age_ms };
    g_autofree char *epoch = metered_cluster_epoch_new ();

    ok = metered_cluster_publish_numbered (cluster->redis, cluster->prefix,
        cluster->node_id, inc, target, metered_hub_conn_get_peer_key (conn),
        metered_hub_conn_get_dedupe_scope (conn), request_id, body, len,
        &limits, epoch, on_routed, req, &error);
  } else
    ok = metered_cluster_send (cluster->redis, cluster->prefix,
        cluster->node_id, inc, target, metered_hub_conn_get_peer_key (conn),
        metered_hub_conn_get_dedupe_scope (conn), request_id, body, len,
        on_routed, req, &error);
  if (!ok)
    on_routed (NULL, error, req);
}

static void
hook_publish (gpointer data, MeteredHubConn *conn, const char *channel,
    const char *request_id, const char *data_json)
{
  route (data, conn, channel, NULL, request_id, data_json);
}

static void
hook_send (gpointer data, MeteredHubConn *conn, const char *to,
    const char *request_id, const char *data_json)
{
  route (data, conn, NULL, to, request_id, data_json);
}

static void
on_redis_subscribed (MeteredRedis *redis, const char *topic, gpointer user_data)
{
  MeteredCluster *cluster = user_data;
  ClusterChan *chan = g_hash_table_lookup (cluster->chans, topic);
  Request *req;

  if (!chan)
    return;
  chan->confirmed = TRUE;
  /* A failed read can close a connection and free chan: look again. */
  while ((chan = g_hash_table_lookup (cluster->chans, topic)) &&
         (req = g_queue_pop_head (&chan->waiting)))
    request_read (cluster, chan, req);
}

static void
on_kick (MeteredCluster *cluster, MeteredClusterEvent *ev)
{
  MeteredHubConn *conn = metered_hub_find_peer (cluster->hub, ev->peer);
  ClusterConn *cc = conn ? g_hash_table_lookup (cluster->conns, conn) : NULL;

  if (!cc || g_strcmp0 (ev->conn, cc->conn_id) == 0)
    return;
  if (cc->gen && cc->gen < ev->gen)
    metered_hub_conn_close (conn, METERED_CLOSE_POLICY_VIOLATION, "superseded");
  else if (!cc->gen)
    cc->kicked_gen = MAX (cc->kicked_gen, ev->gen);
}

static void
on_redis_message (MeteredRedis *redis, const char *topic, const char *data,
    gsize len, gpointer user_data)
{
  MeteredCluster *cluster = user_data;
  MeteredClusterEvent ev = { 0 };
  g_autoptr (GError) error = NULL;
  g_autofree char *md = NULL;
  g_autofree char *payload = NULL;
  ClusterChan *chan;

  cluster->events_in++;
  if (!metered_cluster_event_parse (data, len, &ev, &error)) {
    cluster->events_bad++;
    g_info ("cluster: dropped an event: %s", error->message);
    return;
  }
  switch (ev.type) {
    case METERED_CLUSTER_EVENT_JOINED:
    case METERED_CLUSTER_EVENT_LEFT:
      chan = g_hash_table_lookup (cluster->chans, topic);
      if (!chan || !unscoped (ev.peer))
        break;
      md = ev.body_len ? g_strndup (ev.body, ev.body_len) : NULL;
      metered_hub_deliver_presence (cluster->hub, chan->key, unscoped (ev.peer),
          md, ev.type == METERED_CLUSTER_EVENT_JOINED, ev.epoch, ev.seq);
      if (chan->in_flight > 0) {
        MeteredClusterEvent *copy = g_new (MeteredClusterEvent, 1);
        *copy = ev;
        copy->body = g_steal_pointer (&md);
        copy->body_len = copy->body ? strlen (copy->body) : 0;
        g_queue_push_tail (&chan->buffer, copy);
        return; /* ev's strings now belong to copy */
      }
      break;
    case METERED_CLUSTER_EVENT_MSG:
      chan = g_hash_table_lookup (cluster->chans, topic);
      if (!chan || !unscoped (ev.peer) ||
          !metered_cluster_body_unpack (
              ev.body, ev.body_len, &md, &payload, NULL)) {
        cluster->events_bad += chan != NULL;
        break;
      }
      if (ev.epoch && ev.seq > 0)
        metered_hub_deliver_message_stamped (cluster->hub, chan->key,
            unscoped (ev.peer), payload, md, ev.epoch, (guint64) ev.seq,
            g_get_monotonic_time () / 1000);
      else
        metered_hub_deliver_message (cluster->hub, chan->key,
            unscoped (ev.peer), payload, md, g_get_monotonic_time () / 1000);
      break;
    case METERED_CLUSTER_EVENT_SEND:
      if (!unscoped (ev.peer) || !metered_cluster_body_unpack (ev.body,
                                     ev.body_len, &md, &payload, NULL)) {
        cluster->events_bad++;
        break;
      }
      metered_hub_deliver_direct (
          cluster->hub, ev.to, unscoped (ev.peer), payload, md);
      break;
    case METERED_CLUSTER_EVENT_KICK:
      on_kick (cluster, &ev);
      break;
  }
  metered_cluster_event_clear (&ev);
}

static gboolean
resync_views (gpointer data)
{
  MeteredCluster *cluster = data;
  GHashTableIter iter, chans;
  gpointer value, channel, ready;

  cluster->resync_source = 0;
  g_hash_table_iter_init (&iter, cluster->conns);
  while (g_hash_table_iter_next (&iter, NULL, &value)) {
    ClusterConn *cc = value;

    g_hash_table_iter_init (&chans, cc->channels);
    while (g_hash_table_iter_next (&chans, &channel, &ready)) {
      g_autofree char *key = channel_key (cc->conn, channel);
      g_autofree char *topic =
          metered_cluster_channel_topic (cluster->prefix, key);
      ClusterChan *chan = g_hash_table_lookup (cluster->chans, topic);
      Request *req;

      if (!ready || !chan || !chan->confirmed)
        continue;
      req = request_new (cluster, cc);
      req->channel = g_strdup (channel);
      req->topic = g_steal_pointer (&topic);
      req->resync = TRUE;
      snapshot_read (cluster, chan, req);
    }
  }
  return G_SOURCE_REMOVE;
}

static void
on_redis_resync (MeteredRedis *redis, MeteredRedisResync why, gpointer data)
{
  MeteredCluster *cluster = data;
  g_autoptr (GPtrArray) topics = g_ptr_array_new_with_free_func (g_free);
  GHashTableIter iter;
  gpointer topic;

  metered_cluster_scripts_load (redis);
  /* The link comes up only once every wanted channel is confirmed: the
   * snapshots that waited for a confirmation while it was down go now
   * (copied: a failed read can close a connection and free its chan). */
  g_hash_table_iter_init (&iter, cluster->chans);
  while (g_hash_table_iter_next (&iter, &topic, NULL))
    g_ptr_array_add (topics, g_strdup (topic));
  for (guint i = 0; i < topics->len; i++)
    on_redis_subscribed (redis, g_ptr_array_index (topics, i), cluster);
  metered_cluster_lease_resync (cluster->lease, why);
  /* The others reconnect within their backoff (at most RESYNC_DELAY_MS
   * after Redis is back) and subscribe again before they register: a
   * publish of ours before that would be lost for their clients. */
  if (why == METERED_REDIS_RESYNC_RESTARTED)
    cluster->settle_until_us =
        g_get_monotonic_time () + RESYNC_DELAY_MS * G_GINT64_CONSTANT (1000);
  if (why != METERED_REDIS_RESYNC_FIRST) {
    g_clear_handle_id (&cluster->resync_source, g_source_remove);
    cluster->resync_source =
        g_timeout_add (RESYNC_DELAY_MS, resync_views, cluster);
  }
}

static void
on_registered (MeteredClusterLease *lease, const char *inc, gpointer data)
{
  MeteredCluster *cluster = data;
  GHashTableIter iter;
  gpointer cc;

  g_info ("cluster: node %s registered (life %s)", cluster->node_id, inc);
  /* A new life: every peer held here is claimed again, and joins again
   * once claimed (no event for members Redis still has). */
  g_hash_table_iter_init (&iter, cluster->conns);
  while (g_hash_table_iter_next (&iter, NULL, &cc))
    claim (cc);
}

static gboolean
any_conn (MeteredHubConn *conn, gpointer user_data)
{
  return TRUE;
}

static void
on_fenced (MeteredClusterLease *lease, const char *why, gpointer data)
{
  MeteredCluster *cluster = data;
  guint n;

  /* The others reap this node's peers soon: serving them here would be
   * a split brain. They reconnect, to this node or another. */
  n = metered_hub_close_matching (cluster->hub, any_conn, NULL,
      METERED_CLOSE_GOING_AWAY, "cluster node fenced");
  g_warning ("cluster: node %s fenced (%s): closed %u connections",
      cluster->node_id, why, n);
}

/* /metrics: what an operator watches to see a node drift from the
 * cluster before it fences, and what the reaper did. */
static void
render_metrics (GString *out, gpointer data)
{
  MeteredCluster *cluster = data;
  MeteredClusterStats st;
  MeteredClusterLeaseStats ls;
  MeteredRedisStats rs;
  const struct
  {
    const char *name, *type, *help;
  } rows[] = {
    { "metered_cluster_lease_held", "gauge",
        "1 while this node holds its cluster lease" },
    { "metered_cluster_lease_age_seconds", "gauge",
        "Since the last successful lease renewal was sent (-1: none)" },
    { "metered_cluster_redis_rtt_seconds", "gauge",
        "Round trip of the last idle PING to Redis (-1: none yet)" },
    { "metered_cluster_redis_pending", "gauge",
        "Redis commands waiting for their reply (the link's backlog)" },
    { "metered_cluster_redis_failures_total", "counter",
        "Redis links dropped (timeouts, errors, restarts)" },
    { "metered_cluster_fences_total", "counter",
        "Times this node fenced itself and closed its clients" },
    { "metered_cluster_reaped_peers_total", "counter",
        "Peers of dead nodes this node's reaper announced as left" },
    { "metered_cluster_events_total", "counter",
        "Cluster events received from Redis" },
    { "metered_cluster_events_malformed_total", "counter",
        "Cluster events dropped as malformed" },
  };
  double values[G_N_ELEMENTS (rows)];

  metered_cluster_get_stats (cluster, &st);
  metered_cluster_lease_get_stats (cluster->lease, &ls);
  metered_redis_get_stats (cluster->redis, &rs);
  values[0] = st.lease_held;
  values[1] = st.lease_age_ms < 0 ? -1 : st.lease_age_ms / 1000.0;
  values[2] = st.redis_rtt_us < 0 ? -1 : st.redis_rtt_us / 1e6;
  values[3] = st.redis_pending;
  values[4] = rs.failures;
  values[5] = st.fences;
  values[6] = st.reaped_peers;
  values[7] = st.events_in;
  values[8] = st.events_bad;
  for (guint i = 0; i < G_N_ELEMENTS (rows); i++)
    g_string_append_printf (out, "# HELP %s %s\n# TYPE %s %s\n%s %.15g\n",
        rows[i].name, rows[i].help, rows[i].name, rows[i].type, rows[i].name,
        values[i]);
}

static const MeteredHubCluster hooks = { hook_conn_added, hook_conn_removed,
  hook_snapshot, hook_unsubscribed, hook_publish, hook_send, hook_history };

MeteredCluster *
metered_cluster_new (
    MeteredHub *hub, const MeteredClusterOptions *options, GError **error)
{
  MeteredCluster *cluster;
  MeteredRedisConfig config;
  MeteredRedisCallbacks redis_cb = { NULL, on_redis_resync, on_redis_subscribed,
    on_redis_message };
  MeteredClusterLeaseCallbacks lease_cb = { on_registered, on_fenced, NULL };
  MeteredClusterLeaseTiming timing = METERED_CLUSTER_LEASE_TIMING_DEFAULT;
  g_autofree char *info = NULL;

  if (options->lease_ms) {
    timing.expiry_ms = options->lease_ms;
    timing.renew_ms = options->lease_ms / 3;
    timing.fence_after_ms = options->lease_ms - timing.renew_ms;
  }
  if (!options->node_id ||
      !metered_cluster_node_id_is_valid (options->node_id)) {
    g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
        "cluster: --node-id must be 1 to 64 of A-Z a-z 0-9 . _ -");
    return NULL;
  }
  metered_redis_config_init (&config);
  if (!metered_redis_config_parse_url (&config, options->url, error)) {
    metered_redis_config_clear (&config);
    return NULL;
  }
  g_free (config.client_name);
  config.client_name = g_strdup_printf ("metered-%s", options->node_id);

  cluster = g_new0 (MeteredCluster, 1);
  cluster->hub = hub;
  cluster->prefix =
      g_strdup (options->prefix ? options->prefix : METERED_CLUSTER_PREFIX);
  cluster->node_id = g_strdup (options->node_id);
  cluster->conns = g_hash_table_new_full (
      NULL, NULL, NULL, (GDestroyNotify) cluster_conn_free);
  cluster->serials = g_hash_table_new (g_int64_hash, g_int64_equal);
  cluster->chans = g_hash_table_new_full (
      g_str_hash, g_str_equal, NULL, (GDestroyNotify) chan_free);
  cluster->redis = metered_redis_new (&config, &redis_cb, cluster);
  metered_redis_config_clear (&config);
  info = g_strdup_printf ("{\"pid\":%d}", (int) getpid ());
  cluster->lease = metered_cluster_lease_new (cluster->redis, cluster->prefix,
      cluster->node_id, info, &timing, &lease_cb, cluster);

  metered_hub_set_cluster (hub, &hooks, cluster);
  metered_metrics_set_extra (
      metered_hub_get_metrics (hub), render_metrics, cluster);
  return cluster;
}

void
metered_cluster_deregister (MeteredCluster *cluster)
{
  metered_cluster_lease_deregister (cluster->lease);
}

void
metered_cluster_free (MeteredCluster *cluster)
{
  if (!cluster)
    return;
  metered_hub_set_cluster (cluster->hub, NULL, NULL);
  metered_metrics_set_extra (
      metered_hub_get_metrics (cluster->hub), NULL, NULL);
  g_clear_handle_id (&cluster->resync_source, g_source_remove);
  metered_cluster_lease_free (cluster->lease);
  /* Pending replies run from here with CANCELLED and find their
   * connections through the tables, still there. */
  metered_redis_free (cluster->redis);
  g_hash_table_unref (cluster->chans);
  g_hash_table_unref (cluster->serials);
  g_hash_table_unref (cluster->conns);
  g_free (cluster->prefix);
  g_free (cluster->node_id);
  g_free (cluster);
}

void
metered_cluster_get_stats (MeteredCluster *cluster, MeteredClusterStats *stats)
{
  MeteredClusterLeaseStats ls;
  MeteredRedisStats rs;

  metered_cluster_lease_get_stats (cluster->lease, &ls);
  metered_redis_get_stats (cluster->redis, &rs);
  stats->lease_held = metered_cluster_lease_is_held (cluster->lease);
  stats->lease_age_ms = metered_cluster_lease_get_age_ms (cluster->lease);
  stats->redis_rtt_us = rs.last_rtt_us;
  stats->redis_pending = rs.pending;
  stats->reaped_peers = ls.reaped_peers;
  stats->fences = ls.fences;
  stats->events_in = cluster->events_in;
  stats->events_bad = cluster->events_bad;
}
