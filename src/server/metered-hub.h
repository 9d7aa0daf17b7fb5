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

#include <glib.h>

#include "metered-server-config.h"
#include "metered-history.h"
#include "metered-metrics.h"

G_BEGIN_DECLS

/*
 * The server's channel logic with no sockets in it: connections,
 * subscriptions, presence, routing, limits. The libsoup layer feeds it
 * text frames and gets frames and close requests back through a small I/O
 * table, so the whole per-frame path can also be driven in-process (tests,
 * fuzzers).
 */

typedef struct _MeteredHub MeteredHub;
typedef struct _MeteredHubConn MeteredHubConn;

typedef struct
{
  /* Queue one text frame on the connection, in order. */
  void (*send) (gpointer io_data, const char *text);
  /* Start closing the socket with code and reason. */
  void (*close) (gpointer io_data, int code, const char *reason);
  /* Optional; when set it is used instead of send. The same frame (the
   * JSON text, without a NUL) goes to every recipient of a fan-out, so
   * an I/O layer can keep a reference instead of copying it per
   * recipient. */
  void (*send_bytes) (gpointer io_data, GBytes *text);
} MeteredHubIo;

/* Who a new connection is, as the handshake established it. */
typedef struct
{
  MeteredApp *app;
  const char *peer_id;
  guint actions; /* MeteredActions */
  const char *const *channel_patterns;
  const char *peer_metadata; /* raw JSON object or NULL */
  const char *welcome_metadata; /* raw JSON object or NULL */
  const char *credential_id; /* the pk key or the JWT kid */
  gint64 expires_at; /* Unix seconds, or -1 */
  /* TRUE when the peerId outlives the connection (a JWT sub): resent
   * requests are then deduplicated per peer, else per credential. */
  gboolean peer_id_is_stable;
} MeteredHubAuth;

/* How long a delivered publish/send requestId is remembered: a client
 * that resends it after a reconnect gets an ack and no second delivery. */
#define METERED_HUB_DEDUPE_WINDOW_MS (5 * 60 * 1000)
#define METERED_HUB_DEDUPE_MAX 200000

/* Channel history (docs/protocol.md): memory for all apps together, the
 * channel records kept, and messages replayed per main-loop iteration. */
#define METERED_HUB_HISTORY_MAX_BYTES (64 * 1024 * 1024)
#define METERED_HUB_HISTORY_MAX_CHANNELS 100000
#define METERED_HUB_REPLAY_BATCH 256

/* Held sends (docs/protocol.md): a send with "hold":true to a stable peer
 * id that left less than this ago waits for its return until this long
 * after it left; at most this many held in all and per target. */
#define METERED_HUB_HOLD_MS 10000
#define METERED_HUB_HOLD_MAX 10000
#define METERED_HUB_HOLD_MAX_PER_PEER 100
#define METERED_HUB_HOLD_MAX_DEPARTED 100000

MeteredHub *metered_hub_new (MeteredMetrics *metrics, guint presence_gap_ms);
void metered_hub_free (MeteredHub *hub);

/* Registers a connection that passed every handshake check and sends its
 * welcome. A live connection with the same peerId in the same app is
 * superseded: its presence ends now and it is closed 1008. */
MeteredHubConn *metered_hub_conn_add (MeteredHub *hub,
    const MeteredHubAuth *auth, const MeteredHubIo *io, gpointer io_data);

/* One inbound text frame of len bytes. now_ms is monotonic. */
void metered_hub_conn_handle_text (
    MeteredHubConn *conn, const char *text, gsize len, gint64 now_ms);
/* An inbound binary frame: answered with malformed_message. */
void metered_hub_conn_handle_binary (MeteredHubConn *conn, gint64 now_ms);

/* Ends the connection's presence at once and asks the I/O layer to close
 * the socket. Further frames from it are ignored. Idempotent. */
void metered_hub_conn_close (
    MeteredHubConn *conn, int code, const char *reason);
/* The socket is gone: ends presence if still there and frees conn. */
void metered_hub_conn_remove (MeteredHubConn *conn);

const char *metered_hub_conn_get_peer_id (MeteredHubConn *conn);
MeteredApp *metered_hub_conn_get_app (MeteredHubConn *conn);
const char *metered_hub_conn_get_credential_id (MeteredHubConn *conn);
gboolean metered_hub_conn_is_closing (MeteredHubConn *conn);
/* Channels the connection subscribes to, in no order (caller frees the
 * container, not the strings). */
GPtrArray *metered_hub_conn_list_channels (MeteredHubConn *conn);

typedef gboolean (*MeteredHubConnPredicate) (
    MeteredHubConn *conn, gpointer user_data);
/* Closes every live connection that pred accepts; returns how many. */
guint metered_hub_close_matching (MeteredHub *hub, MeteredHubConnPredicate pred,
    gpointer user_data, int code, const char *reason);
/* Live connections, for listings (caller frees the container). */
GPtrArray *metered_hub_list_conns (MeteredHub *hub);

guint metered_hub_count_conns (MeteredHub *hub);
guint metered_hub_count_channels (MeteredHub *hub);

/* Cluster mode (metered-cluster.c): where one node would decide alone,
 * the hub asks these hooks instead, and the cluster delivers what Redis
 * tells it through the metered_hub_deliver_* calls below. NULL hooks
 * (the default) keep the single-node behaviour. */
typedef struct
{
  /* After the welcome (a local older connection is already closed). */
  void (*conn_added) (gpointer data, MeteredHubConn *conn);
  /* The connection's presence ends (once, before it is freed). */
  void (*conn_removed) (gpointer data, MeteredHubConn *conn);
  /* The snapshot of conn's subscription is due: the cluster sends it
   * with metered_hub_conn_send_snapshot and announces the member. */
  void (*snapshot) (gpointer data, MeteredHubConn *conn, const char *channel);
  void (*unsubscribed) (
      gpointer data, MeteredHubConn *conn, const char *channel);
  /* Both answer the request (ack or error) exactly once. data_json is
   * the frame's raw "data". */
  void (*publish) (gpointer data, MeteredHubConn *conn, const char *channel,
      const char *request_id, const char *data_json);
  void (*send) (gpointer data, MeteredHubConn *conn, const char *to,
      const char *request_id, const char *data_json);
  /* Optional. A history subscriber needs the channel's stream: its
   * position (epoch NULL: a fresh start, nothing to read) and the entries
   * after `after` in `epoch`. Answered once, with the same token, by
   * metered_hub_conn_history_answer (or the connection is closed). Live
   * messages then come stamped (metered_hub_deliver_message_stamped). */
  void (*history) (gpointer data, MeteredHubConn *conn, const char *channel,
      guint64 token, const char *epoch, guint64 after);
} MeteredHubCluster;

void metered_hub_set_cluster (
    MeteredHub *hub, const MeteredHubCluster *cluster, gpointer data);
MeteredMetrics *metered_hub_get_metrics (MeteredHub *hub);

/* app id + US (0x1f) + name: how channels and peers are named across
 * nodes. */
const char *metered_hub_conn_get_peer_key (MeteredHubConn *conn);
const char *metered_hub_conn_get_dedupe_scope (MeteredHubConn *conn);
const char *metered_hub_conn_get_peer_metadata (MeteredHubConn *conn);
gboolean metered_hub_conn_sees_presence (MeteredHubConn *conn);
MeteredHubConn *metered_hub_find_peer (MeteredHub *hub, const char *peer_key);
/* Ack (code NULL) or error of a request. */
void metered_hub_conn_answer (MeteredHubConn *conn, const char *request_id,
    const char *code, const char *message);
/* Sends the snapshot of a subscription still held; members are the
 * others (the cluster leaves conn itself out). Deltas with seq <= seq of
 * the same epoch are skipped for it from then on. FALSE: not subscribed
 * any more. */
gboolean metered_hub_conn_send_snapshot (MeteredHubConn *conn,
    const char *channel, const char *const *peer_ids,
    const char *const *metadata, guint n, const char *epoch, gint64 seq);
/* After Redis lost events (a reconnect, a restart): the subscription's
 * view becomes the snapshot given, told as one delta of what changed
 * (nothing when nothing did). FALSE: no snapshot out yet. */
gboolean metered_hub_conn_merge_presence (MeteredHubConn *conn,
    const char *channel, const char *const *peer_ids,
    const char *const *metadata, guint n, const char *epoch, gint64 seq);
/* A presence delta of channel_key to its local members with a snapshot
 * out, except the peer itself. */
void metered_hub_deliver_presence (MeteredHub *hub, const char *channel_key,
    const char *peer_id, const char *metadata, gboolean joined,
    const char *epoch, gint64 seq);
/* A published message to every local subscriber except its sender. */
void metered_hub_deliver_message (MeteredHub *hub, const char *channel_key,
    const char *from, const char *data_json, const char *from_metadata,
    gint64 now_ms);
/* The same, numbered by the cluster: epoch and seq stamp it for history
 * subscribers, and nothing is stored here (the stream is shared). */
void metered_hub_deliver_message_stamped (MeteredHub *hub,
    const char *channel_key, const char *from, const char *data_json,
    const char *from_metadata, const char *epoch, guint64 seq, gint64 now_ms);
/* The answer to the history hook: the channel's current epoch and last
 * seq, and up to n stored entries after the asked position, oldest first
 * (from is the peer id without the app). A stale token (the subscriber
 * subscribed again, or left) is ignored. */
void metered_hub_conn_history_answer (MeteredHubConn *conn, const char *channel,
    guint64 token, const char *epoch, guint64 last,
    const MeteredHistoryEntry *entries, guint n);
/* FALSE: no live connection of peer_key here. */
gboolean metered_hub_deliver_direct (MeteredHub *hub, const char *peer_key,
    const char *from, const char *data_json, const char *from_metadata);

G_END_DECLS
