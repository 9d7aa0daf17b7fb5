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

#include "metered-history.h"
#include "metered-redis.h"

G_BEGIN_DECLS

/*
 * What the hub calls in cluster mode, one Lua script per call (see
 * metered-cluster-scripts.c for the key layout). peer and channel are the
 * hub's names qualified by the app (for instance "<app>/<peerId>"): Redis
 * sees opaque strings. Every answer comes in one callback with the
 * fields of MeteredClusterResult that the call fills.
 *
 * Order of events: joined/left/msg of a channel go through one Redis
 * pub/sub channel (metered_cluster_channel_topic), written by the same
 * script that changed the state, so every node sees one order. A node
 * subscribes to it (metered_redis_subscribe), waits for the `subscribed`
 * callback, buffers events, then reads a snapshot: events with seq <=
 * snapshot seq are already in it; an epoch change means Redis lost the
 * channel and the node reads a new snapshot.
 */

/* The default prefix of every key and pub/sub channel. */
#define METERED_CLUSTER_PREFIX "ms:"
/* The dedupe window, as the hub's METERED_HUB_DEDUPE_WINDOW_MS. */
#define METERED_CLUSTER_DEDUPE_TTL_MS (5 * 60 * 1000)

typedef struct
{
  /* claim: gen. join: 1 joined, 0 already present (no event), -1 stale
   * gen. leave: 1 left, 0 nothing to do. release: channels left.
   * publish/send: receivers, -1 duplicate requestId, -2 the sender's
   * node life is not the live one (fenced: refused). dedupe: 1 first
   * time, 0 duplicate. */
  gint64 value;
  gint64 seq; /* join, leave, snapshot; history: the last seq */
  const char *epoch; /* join, snapshot ("" when the channel is unknown),
                      * history */
  /* snapshot: n_members pairs peer, info (raw JSON) */
  guint n_members;
  const char *const *members;
  /* history: n_entries triples seq (decimal), from (the scoped peer),
   * body (as the msg event's) */
  guint n_entries;
  const char *const *entries;
} MeteredClusterResult;

/* result is NULL exactly when error is set (including a Redis error
 * reply). Valid during the call only. */
typedef void (*MeteredClusterResultFunc) (const MeteredClusterResult *result,
    const GError *error, gpointer user_data);

/* The calls below return FALSE (error set, no callback) when Redis is not
 * UP, else TRUE and call callback (may be NULL) once. */

/* A connection of peer is now on node (life inc, from the lease). The
 * node holding an older connection of it gets a kick event on the peer's
 * topic. Result: gen, to pass to join/leave/release. */
gboolean metered_cluster_claim (MeteredRedis *redis, const char *prefix,
    const char *peer, const char *node, const char *inc, const char *conn,
    MeteredClusterResultFunc callback, gpointer user_data, GError **error);
/* Presence join of channel under claim gen; info is the member's JSON.
 * new_epoch is used when the channel has none yet. */
gboolean metered_cluster_join (MeteredRedis *redis, const char *prefix,
    const char *channel, const char *peer, gint64 gen, const char *info,
    const char *new_epoch, MeteredClusterResultFunc callback,
    gpointer user_data, GError **error);
gboolean metered_cluster_leave (MeteredRedis *redis, const char *prefix,
    const char *channel, const char *peer, gint64 gen,
    MeteredClusterResultFunc callback, gpointer user_data, GError **error);
/* The connection of claim gen is gone: leaves its channels, drops the
 * claim unless a newer one exists. */
gboolean metered_cluster_release (MeteredRedis *redis, const char *prefix,
    const char *peer, gint64 gen, const char *node, const char *inc,
    MeteredClusterResultFunc callback, gpointer user_data, GError **error);
gboolean metered_cluster_snapshot (MeteredRedis *redis, const char *prefix,
    const char *channel, MeteredClusterResultFunc callback, gpointer user_data,
    GError **error);

/* Fan-out of payload (the frame the receivers get) to every node
 * subscribed to the channel's topic; receivers skip the sender peer.
 * request_id non-NULL: dedupe in scope (the hub's per-peer or
 * per-credential scope) for METERED_CLUSTER_DEDUPE_TTL_MS.
 * node and inc (both NULL: no check) are the sending node's life, a
 * fencing token: Redis refuses (-2) a command of a life that is not the
 * node's current one or whose lease expired, e.g. one that sat in a cut
 * link or in a stopped process while the others reaped the node. */
gboolean metered_cluster_publish (MeteredRedis *redis, const char *prefix,
    const char *node, const char *inc, const char *channel, const char *from,
    const char *scope, const char *request_id, const char *payload, gsize len,
    MeteredClusterResultFunc callback, gpointer user_data, GError **error);
/* The same, and the channel's history: the message is numbered in the
 * channel's epoch (new_epoch when it has none, or one of another Redis
 * run: the numbering lives as long as one Redis process) and, unless a
 * limit is 0,
 * kept in its stream within limits; the event carries seq and epoch. */
gboolean metered_cluster_publish_numbered (MeteredRedis *redis,
    const char *prefix, const char *node, const char *inc, const char *channel,
    const char *from, const char *scope, const char *request_id,
    const char *payload, gsize len, const MeteredHistoryLimits *limits,
    const char *new_epoch, MeteredClusterResultFunc callback,
    gpointer user_data, GError **error);
/* The channel's position (seq, epoch; new_epoch when it has none) and,
 * when epoch is its epoch, up to count stored entries after `after`
 * younger than max_age_ms, oldest first. epoch NULL: the position only. */
gboolean metered_cluster_history_read (MeteredRedis *redis, const char *prefix,
    const char *channel, const char *epoch, guint64 after, gint64 max_age_ms,
    guint count, const char *new_epoch, MeteredClusterResultFunc callback,
    gpointer user_data, GError **error);
/* Direct send to the node holding peer `to`: result 0 = peer_not_found
 * (the dedupe mark is then dropped, a resend may be delivered). */
gboolean metered_cluster_send (MeteredRedis *redis, const char *prefix,
    const char *node, const char *inc, const char *to, const char *from,
    const char *scope, const char *request_id, const char *payload, gsize len,
    MeteredClusterResultFunc callback, gpointer user_data, GError **error);
/* SET <prefix>rq:<scope>:<request_id> NX PX ttl_ms alone. */
gboolean metered_cluster_dedupe (MeteredRedis *redis, const char *prefix,
    const char *scope, const char *request_id, guint ttl_ms,
    MeteredClusterResultFunc callback, gpointer user_data, GError **error);

/* A fresh epoch name: random, with the time, so that two nodes starting
 * a channel's numbering never pick the same one (caller frees). */
char *metered_cluster_epoch_new (void);

/* Pub/sub topics (caller frees). */
char *metered_cluster_channel_topic (const char *prefix, const char *channel);
char *metered_cluster_peer_topic (const char *prefix, const char *peer);
char *metered_cluster_dedupe_key (
    const char *prefix, const char *scope, const char *request_id);

typedef enum
{
  METERED_CLUSTER_EVENT_JOINED,
  METERED_CLUSTER_EVENT_LEFT,
  METERED_CLUSTER_EVENT_MSG,
  METERED_CLUSTER_EVENT_SEND,
  METERED_CLUSTER_EVENT_KICK,
} MeteredClusterEventType;

/* One message of a topic: a JSON header line, "\n", the body. */
typedef struct
{
  MeteredClusterEventType type;
  char *channel; /* joined, left, msg */
  char *peer; /* joined, left, kick: the member; msg, send: the sender */
  char *to; /* send */
  char *node; /* kick: the node of the new connection */
  char *conn; /* kick */
  char *epoch; /* joined, left */
  gint64 seq; /* joined, left */
  gint64 gen; /* kick */
  const char *body; /* points into the parsed data; not NUL-terminated */
  gsize body_len;
} MeteredClusterEvent;

/* Pure. FALSE with a clear error on anything malformed. */
gboolean metered_cluster_event_parse (
    const char *data, gsize len, MeteredClusterEvent *event, GError **error);
void metered_cluster_event_clear (MeteredClusterEvent *event);

/* The body of a msg or send event: the sender's metadata (NULL: none)
 * and the frame's raw data, as "<metadata length>:<metadata><data>".
 * Pure; unpack is FALSE with a clear error on anything malformed. */
char *metered_cluster_body_pack (
    const char *metadata, const char *data, gsize *len);
gboolean metered_cluster_body_unpack (
    const char *body, gsize len, char **metadata, char **data, GError **error);

G_END_DECLS
