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

#include "metered-hub.h"
#include "metered-history.h"

#include "protocol/metered-protocol.h"

#include <string.h>

/* One subscription of one connection. "visible" turns on when the
 * subscriber's presence snapshot has been written: only from then on do
 * the others learn about it (protocol doc §0 rule 2). */
typedef struct
{
  MeteredHubConn *conn;
  char *channel;
  char *channel_key;
  gboolean include_sender_metadata;
  gboolean visible;
  /* Channel history extension: messages to this subscriber carry their
   * position. While replaying, live messages skip it: the replay reads
   * them from the history in order, then it turns live (so replayed and
   * live messages cannot interleave, whatever arrives meanwhile). */
  gboolean history;
  gboolean replaying;
  char *replay_epoch;
  guint64 cursor; /* the last sequence number replayed or skipped */
  guint64 replayed;
  /* Cluster mode: the position of the last presence this subscriber got
   * (its snapshot's, then each delta's); older deltas are skipped. */
  char *cluster_epoch;
  gint64 cluster_seq;
  /* Cluster mode: the peer ids this subscriber was told are present, so
   * that a repeated joined (members joining again after a Redis restart)
   * or a left of a stranger is not passed on. NULL until its snapshot. */
  GHashTable *cluster_members;
  /* Cluster mode with history: the channel's stream is in Redis, read by
   * the cluster's history hook. While a read is out (remote), replaying
   * is set too, so live messages skip the subscriber; live_max is the
   * highest of them (in skipped_epoch), read again before the
   * subscriber turns live. remote_first: the read answers the subscribe
   * (status, then the ack held in remote_ack); status_due: a replay's
   * closing frame is still to come. live_epoch/live_seq: the last
   * position given, so a message read by the replay and then arriving
   * live is not sent twice. */
  gboolean remote;
  gboolean remote_first;
  gboolean status_due;
  guint64 remote_token;
  char *remote_ack;
  char *asked_epoch;
  guint64 live_max;
  char *skipped_epoch;
  char *live_epoch;
  guint64 live_seq;
} MeteredHubSub;

typedef struct
{
  MeteredHubConn *conn;
  char *channel;
  guint source_id;
} MeteredHubPendingSnapshot;

struct _MeteredHubConn
{
  MeteredHub *hub;
  MeteredApp *app;
  char *peer_id;
  char *peer_key; /* app id + US + peer id */
  guint actions;
  GStrv channel_patterns;
  char *peer_metadata;
  char *credential_id;
  char *dedupe_scope;
  const MeteredHubIo *io;
  gpointer io_data;
  GHashTable *subs; /* channel -> MeteredHubSub* */
  GList *pending; /* MeteredHubPendingSnapshot* */
  MeteredTokenBucket bucket;
  gboolean bucket_ready;
  gboolean detached;
  gboolean peer_id_is_stable;
};

/* A direct message waiting for its target to come back (held sends,
 * docs/protocol.md). Answered exactly once: ack on delivery, or
 * peer_not_found when the hold runs out. */
typedef struct
{
  MeteredHub *hub;
  char *target_key;
  char *dedupe_key; /* sender scope + requestId, or NULL */
  char *sender_key; /* the sender's app + peer id, to answer it */
  char *request_id;
  GBytes *direct;
  guint timer;
} MeteredHubHeld;

struct _MeteredHub
{
  MeteredMetrics *metrics; /* not owned */
  guint presence_gap_ms;
  GHashTable *conns; /* MeteredHubConn* set */
  GHashTable *peers; /* peer_key -> MeteredHubConn* */
  GHashTable *channels; /* channel_key -> GPtrArray of MeteredHubSub* */
  GHashTable *delivered; /* scope+requestId -> gint64* expiry (monotonic ms) */
  GQueue delivered_order; /* the same keys, oldest first */
  MeteredHistory *history;
  GQueue replaying; /* MeteredHubSub* with replaying set, in start order */
  guint replay_source;
  guint sweep_source;
  GHashTable *departed; /* peer_key -> gint64* left at (monotonic ms) */
  GHashTable *held; /* target peer_key -> GQueue of MeteredHubHeld* */
  guint n_held;
  const MeteredHubCluster *cluster; /* NULL: single node */
  gpointer cluster_data;
  guint64 next_history_token;
};

/* Channels and peers are scoped by app; the unit separator cannot occur
 * in a valid channel name or app id we accept. */
static char *
scoped_key (MeteredApp *app, const char *name)
{
  return g_strconcat (app->id, "\x1f", name, NULL);
}

static void
replay_stop (MeteredHubSub *sub)
{
  if (!sub->replaying)
    return;
  g_queue_remove (&sub->conn->hub->replaying, sub);
  sub->replaying = FALSE;
  g_clear_pointer (&sub->replay_epoch, g_free);
}

static void
sub_free (MeteredHubSub *sub)
{
  replay_stop (sub);
  g_free (sub->cluster_epoch);
  g_clear_pointer (&sub->cluster_members, g_hash_table_unref);
  g_free (sub->remote_ack);
  g_free (sub->asked_epoch);
  g_free (sub->skipped_epoch);
  g_free (sub->live_epoch);
  g_free (sub->channel);
  g_free (sub->channel_key);
  g_free (sub);
}

static void
held_free (MeteredHubHeld *held)
{
  g_clear_handle_id (&held->timer, g_source_remove);
  g_free (held->target_key);
  g_free (held->dedupe_key);
  g_free (held->sender_key);
  g_free (held->request_id);
  g_bytes_unref (held->direct);
  g_free (held);
}

static void
held_free_all (MeteredHub *hub)
{
  GHashTableIter iter;
  gpointer queue;

  g_hash_table_iter_init (&iter, hub->held);
  while (g_hash_table_iter_next (&iter, NULL, &queue)) {
    g_queue_free_full (queue, (GDestroyNotify) held_free);
    g_hash_table_iter_remove (&iter);
  }
  hub->n_held = 0;
}

static void
history_report (MeteredHub *hub)
{
  MeteredHistoryStats st;

  metered_history_get_stats (hub->history, &st);
  metered_metrics_set (
      hub->metrics, METERED_VALUE_HISTORY_MESSAGES, st.messages);
  metered_metrics_set (hub->metrics, METERED_VALUE_HISTORY_BYTES, st.bytes);
  metered_metrics_set (
      hub->metrics, METERED_VALUE_HISTORY_CHANNELS, st.channels);
  metered_metrics_set (
      hub->metrics, METERED_VALUE_HISTORY_EVICTED_COUNT, st.evicted_count);
  metered_metrics_set (
      hub->metrics, METERED_VALUE_HISTORY_EVICTED_AGE, st.evicted_age);
  metered_metrics_set (
      hub->metrics, METERED_VALUE_HISTORY_EVICTED_MEMORY, st.evicted_memory);
}

/* Age limits hold in quiet channels too, not only where someone
 * publishes or resumes. */
static gboolean
history_sweep (gpointer data)
{
  MeteredHub *hub = data;

  metered_history_expire (hub->history, g_get_monotonic_time () / 1000);
  history_report (hub);
  return G_SOURCE_CONTINUE;
}

MeteredHub *
metered_hub_new (MeteredMetrics *metrics, guint presence_gap_ms)
{
  MeteredHub *hub = g_new0 (MeteredHub, 1);
  /* A new process numbers every channel afresh: the epoch tells a
   * resuming client that positions from before do not apply. */
  g_autofree char *hub_epoch = g_strdup_printf ("%08x%08x", g_random_int (),
      (guint) (g_get_real_time () / G_USEC_PER_SEC));

  hub->metrics = metrics;
  hub->presence_gap_ms = MAX (presence_gap_ms, 5);
  hub->conns = g_hash_table_new (NULL, NULL);
  hub->peers = g_hash_table_new (g_str_hash, g_str_equal);
  hub->channels = g_hash_table_new_full (
      g_str_hash, g_str_equal, g_free, (GDestroyNotify) g_ptr_array_unref);
  hub->delivered =
      g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  g_queue_init (&hub->delivered_order);
  hub->history = metered_history_new (hub_epoch, METERED_HUB_HISTORY_MAX_BYTES,
      METERED_HUB_HISTORY_MAX_CHANNELS);
  g_queue_init (&hub->replaying);
  hub->departed =
      g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  hub->held = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  hub->sweep_source = g_timeout_add_seconds (1, history_sweep, hub);
  return hub;
}

static void conn_detach (MeteredHubConn *conn);
static void conn_free (MeteredHubConn *conn);

void
metered_hub_free (MeteredHub *hub)
{
  GHashTableIter iter;
  gpointer conn;

  if (!hub)
    return;
  g_hash_table_iter_init (&iter, hub->conns);
  while (g_hash_table_iter_next (&iter, &conn, NULL)) {
    conn_detach (conn);
    g_hash_table_iter_remove (&iter);
    conn_free (conn);
  }
  g_hash_table_unref (hub->conns);
  g_hash_table_unref (hub->peers);
  g_hash_table_unref (hub->channels);
  g_queue_clear (&hub->delivered_order);
  g_hash_table_unref (hub->delivered);
  g_clear_handle_id (&hub->replay_source, g_source_remove);
  g_clear_handle_id (&hub->sweep_source, g_source_remove);
  held_free_all (hub);
  g_hash_table_unref (hub->held);
  g_hash_table_unref (hub->departed);
  metered_history_free (hub->history);
  g_free (hub);
}

/* text is one frame's JSON, without a NUL, shared between recipients. */
static void
conn_send_bytes (MeteredHubConn *conn, GBytes *text)
{
  if (conn->detached)
    return;
  if (conn->io->send_bytes) {
    conn->io->send_bytes (conn->io_data, text);
  } else {
    gsize len;
    const char *data = g_bytes_get_data (text, &len);
    g_autofree char *copy = g_strndup (data, len);
    conn->io->send (conn->io_data, copy);
  }
}

/* Takes text (a NUL-terminated frame) and counts it. */
static GBytes *
frame_bytes (char *text)
{
  gsize len = strlen (text);

  return g_bytes_new_take (text, len);
}

static void
conn_send (MeteredHubConn *conn, MeteredFrameType type, char *text)
{
  g_autoptr (GBytes) bytes = frame_bytes (text);

  if (conn->detached)
    return;
  conn_send_bytes (conn, bytes);
  metered_metrics_inc (conn->hub->metrics, METERED_METRIC_FRAMES_OUT,
      metered_frame_type_name (type));
}

static void
send_error (MeteredHubConn *conn, const char *code, const char *message,
    const char *request_id)
{
  conn_send (conn, METERED_FRAME_ERROR,
      metered_frame_build_error (code, message, request_id));
}

static void
send_ack (MeteredHubConn *conn, const char *request_id)
{
  /* A request without a requestId gets no ack (protocol doc §4). */
  if (request_id)
    conn_send (conn, METERED_FRAME_ACK, metered_frame_build_ack (request_id));
}

/* Presence for one peer entering or leaving, to every other subscriber. */
static void
broadcast_presence (MeteredHubConn *conn, MeteredHubSub *sub, gboolean joined)
{
  GPtrArray *subs = g_hash_table_lookup (conn->hub->channels, sub->channel_key);
  MeteredPresenceEntry entry = { conn->peer_id, conn->peer_metadata };
  g_autoptr (GBytes) text = NULL;
  guint n = 0;

  /* In cluster mode presence comes back from Redis, in its order. */
  if (!subs || conn->hub->cluster)
    return;
  text = frame_bytes (
      joined ? metered_frame_build_presence (sub->channel, &entry, 1, NULL, 0)
             : metered_frame_build_presence (sub->channel, NULL, 0, &entry, 1));
  /* Only to members whose own snapshot is out: one still waiting for it
   * learns the state from that snapshot. Told earlier, it would know a
   * peer that does not know it yet, and its directs to that peer would
   * be dropped as coming from a stranger (protocol doc §10 rule 10). */
  for (guint i = 0; i < subs->len; i++) {
    MeteredHubSub *other = g_ptr_array_index (subs, i);
    if (other->conn != conn && other->visible && !other->conn->detached) {
      conn_send_bytes (other->conn, text);
      n++;
    }
  }
  metered_metrics_add (conn->hub->metrics, METERED_METRIC_FRAMES_OUT,
      metered_frame_type_name (METERED_FRAME_PRESENCE), n);
}

static void
pending_cancel (MeteredHubPendingSnapshot *pending)
{
  g_source_remove (pending->source_id);
  g_free (pending->channel);
  g_free (pending);
}

static void
sub_remove (MeteredHubConn *conn, MeteredHubSub *sub)
{
  GPtrArray *subs;

  for (GList *l = conn->pending; l;) {
    MeteredHubPendingSnapshot *pending = l->data;
    GList *next = l->next;
    if (g_str_equal (pending->channel, sub->channel)) {
      pending_cancel (pending);
      conn->pending = g_list_delete_link (conn->pending, l);
    }
    l = next;
  }
  if (conn->hub->cluster)
    conn->hub->cluster->unsubscribed (
        conn->hub->cluster_data, conn, sub->channel);

  subs = g_hash_table_lookup (conn->hub->channels, sub->channel_key);
  if (subs) {
    g_ptr_array_remove (subs, sub);
    if (sub->visible)
      broadcast_presence (conn, sub, FALSE);
    if (subs->len == 0)
      g_hash_table_remove (conn->hub->channels, sub->channel_key);
  }
  g_hash_table_remove (conn->subs, sub->channel);
}

/* A stable peer id that just left may be reconnecting: held sends to it
 * wait for its return (bounded table, stale entries dropped lazily). */
static void
held_note_departure (MeteredHubConn *conn)
{
  MeteredHub *hub = conn->hub;
  gint64 *at;

  if (!conn->peer_id_is_stable)
    return;
  if (g_hash_table_size (hub->departed) >= METERED_HUB_HOLD_MAX_DEPARTED) {
    GHashTableIter iter;
    gpointer value;
    gint64 now = g_get_monotonic_time () / 1000;

    g_hash_table_iter_init (&iter, hub->departed);
    while (g_hash_table_iter_next (&iter, NULL, &value))
      if (now - *(gint64 *) value >= METERED_HUB_HOLD_MS)
        g_hash_table_iter_remove (&iter);
    if (g_hash_table_size (hub->departed) >= METERED_HUB_HOLD_MAX_DEPARTED)
      return;
  }
  at = g_new (gint64, 1);
  *at = g_get_monotonic_time () / 1000;
  g_hash_table_insert (hub->departed, g_strdup (conn->peer_key), at);
}

/* Ends everything the connection is part of; it stays allocated until
 * the I/O layer removes it. */
static void
conn_detach (MeteredHubConn *conn)
{
  GHashTableIter iter;
  gpointer sub;

  if (conn->detached)
    return;
  if (conn->hub->cluster)
    conn->hub->cluster->conn_removed (conn->hub->cluster_data, conn);

  g_hash_table_iter_init (&iter, conn->subs);
  while (g_hash_table_iter_next (&iter, NULL, &sub)) {
    MeteredHubSub *s = sub;
    GPtrArray *subs = g_hash_table_lookup (conn->hub->channels, s->channel_key);
    if (subs) {
      g_ptr_array_remove (subs, s);
      if (s->visible)
        broadcast_presence (conn, s, FALSE);
      if (subs->len == 0)
        g_hash_table_remove (conn->hub->channels, s->channel_key);
    }
    g_hash_table_iter_remove (&iter);
  }
  g_list_free_full (
      g_steal_pointer (&conn->pending), (GDestroyNotify) pending_cancel);

  if (g_hash_table_lookup (conn->hub->peers, conn->peer_key) == conn) {
    g_hash_table_remove (conn->hub->peers, conn->peer_key);
    held_note_departure (conn);
  }
  if (conn->app->n_connections > 0)
    conn->app->n_connections--;
  conn->detached = TRUE;
}

static void
conn_free (MeteredHubConn *conn)
{
  g_hash_table_unref (conn->subs);
  g_free (conn->peer_id);
  g_free (conn->peer_key);
  g_strfreev (conn->channel_patterns);
  g_free (conn->peer_metadata);
  g_free (conn->credential_id);
  g_free (conn->dedupe_scope);
  g_free (conn);
}

static void send_ack (MeteredHubConn *conn, const char *request_id);
static void send_error (MeteredHubConn *conn, const char *code,
    const char *message, const char *request_id);
static void record_delivered (MeteredHub *hub, char *key, gint64 now_ms);

static void
held_remove (MeteredHubHeld *held)
{
  GQueue *queue = g_hash_table_lookup (held->hub->held, held->target_key);

  g_queue_remove (queue, held);
  if (g_queue_is_empty (queue)) {
    g_hash_table_remove (held->hub->held, held->target_key);
    g_queue_free (queue);
  }
  held->hub->n_held--;
  metered_metrics_set (
      held->hub->metrics, METERED_VALUE_HELD_DIRECTS, held->hub->n_held);
  held_free (held);
}

static gboolean
held_expired (gpointer data)
{
  MeteredHubHeld *held = data;
  MeteredHubConn *sender =
      g_hash_table_lookup (held->hub->peers, held->sender_key);

  held->timer = 0;
  if (sender)
    send_error (sender, METERED_ERR_PEER_NOT_FOUND,
        "peer did not come back within the hold time", held->request_id);
  held_remove (held);
  return G_SOURCE_REMOVE;
}

/* The target is back: what waited for it goes first, in order, each
 * recorded as delivered and acknowledged to its sender if connected (a
 * sender that is not gets the ack from the dedupe when it resends). */
static void
held_deliver (MeteredHubConn *conn)
{
  GQueue *queue = g_hash_table_lookup (conn->hub->held, conn->peer_key);

  while (queue) {
    MeteredHubHeld *held = g_queue_peek_head (queue);
    MeteredHubConn *sender =
        g_hash_table_lookup (conn->hub->peers, held->sender_key);

    conn_send_bytes (conn, held->direct);
    metered_metrics_inc (conn->hub->metrics, METERED_METRIC_FRAMES_OUT,
        metered_frame_type_name (METERED_FRAME_DIRECT));
    if (held->dedupe_key)
      record_delivered (conn->hub, g_steal_pointer (&held->dedupe_key),
          g_get_monotonic_time () / 1000);
    if (sender)
      send_ack (sender, held->request_id);
    held_remove (held); /* frees queue with its last entry */
    queue = g_hash_table_lookup (conn->hub->peers, conn->peer_key) == conn
                ? g_hash_table_lookup (conn->hub->held, conn->peer_key)
                : NULL;
  }
}

MeteredHubConn *
metered_hub_conn_add (MeteredHub *hub, const MeteredHubAuth *auth,
    const MeteredHubIo *io, gpointer io_data)
{
  MeteredHubConn *conn = g_new0 (MeteredHubConn, 1);
  MeteredHubConn *old;

  conn->hub = hub;
  conn->app = auth->app;
  conn->peer_id = g_strdup (auth->peer_id);
  conn->peer_key = scoped_key (auth->app, auth->peer_id);
  conn->actions = auth->actions;
  conn->channel_patterns = g_strdupv ((GStrv) auth->channel_patterns);
  conn->peer_metadata = g_strdup (auth->peer_metadata);
  conn->credential_id = g_strdup (auth->credential_id);
  conn->dedupe_scope = g_strconcat (auth->app->id, "\x1f",
      auth->peer_id_is_stable ? auth->peer_id : auth->credential_id, "\x1f",
      NULL);
  conn->io = io;
  conn->io_data = io_data;
  conn->peer_id_is_stable = auth->peer_id_is_stable;
  conn->subs = g_hash_table_new_full (
      g_str_hash, g_str_equal, NULL, (GDestroyNotify) sub_free);

  /* The old connection's "left" goes out before anything of the new one
   * (protocol doc §10 rule 5). */
  old = g_hash_table_lookup (hub->peers, conn->peer_key);
  if (old)
    metered_hub_conn_close (old, METERED_CLOSE_POLICY_VIOLATION, "superseded");

  g_hash_table_add (hub->conns, conn);
  g_hash_table_insert (hub->peers, conn->peer_key, conn);
  conn->app->n_connections++;

  conn_send (conn, METERED_FRAME_WELCOME,
      metered_frame_build_welcome (conn->peer_id, auth->expires_at,
          g_get_real_time () / G_USEC_PER_SEC, METERED_DEFAULT_MAX_MESSAGE_SIZE,
          auth->welcome_metadata));
  g_hash_table_remove (hub->departed, conn->peer_key);
  held_deliver (conn);
  if (hub->cluster)
    hub->cluster->conn_added (hub->cluster_data, conn);
  return conn;
}

static gboolean
channel_authorized (MeteredHubConn *conn, const char *channel)
{
  for (GStrv p = conn->channel_patterns; p && *p; p++)
    if (metered_channel_pattern_match (*p, channel))
      return TRUE;
  return FALSE;
}

/* Shared gate of subscribe and publish. Returns an error code or NULL. */
static const char *
check_channel (MeteredHubConn *conn, const char *channel, guint action)
{
  if (!(conn->actions & action))
    return METERED_ERR_ACTION_NOT_PERMITTED;
  if (metered_channel_is_reserved (channel))
    return METERED_ERR_CHANNEL_RESERVED;
  if (!channel_authorized (conn, channel))
    return METERED_ERR_CHANNEL_NOT_AUTHORIZED;
  return NULL;
}

static void
send_channel_error (MeteredHubConn *conn, const char *code, MeteredFrame *frame)
{
  g_autofree char *message = g_strdup_printf (
      "%s: %s", metered_frame_type_name (frame->type), frame->channel);

  send_error (conn, code, message, frame->request_id);
}

static gboolean
snapshot_due (gpointer user_data)
{
  MeteredHubPendingSnapshot *pending = user_data;
  MeteredHubConn *conn = pending->conn;
  MeteredHubSub *sub = g_hash_table_lookup (conn->subs, pending->channel);
  g_autoptr (GArray) joined =
      g_array_new (FALSE, FALSE, sizeof (MeteredPresenceEntry));

  conn->pending = g_list_remove (conn->pending, pending);
  g_free (pending->channel);
  g_free (pending);

  if (!sub)
    return G_SOURCE_REMOVE;
  if (conn->hub->cluster) {
    conn->hub->cluster->snapshot (conn->hub->cluster_data, conn, sub->channel);
    return G_SOURCE_REMOVE;
  }

  /* Peers without the presence action neither see nor are seen. */
  if (conn->actions & METERED_ACTION_PRESENCE) {
    GPtrArray *subs =
        g_hash_table_lookup (conn->hub->channels, sub->channel_key);
    for (guint i = 0; subs && i < subs->len; i++) {
      MeteredHubSub *other = g_ptr_array_index (subs, i);
      if (other->conn != conn && other->visible) {
        MeteredPresenceEntry e = { other->conn->peer_id,
          other->conn->peer_metadata };
        g_array_append_val (joined, e);
      }
    }
  }
  conn_send (conn, METERED_FRAME_PRESENCE,
      metered_frame_build_presence (sub->channel,
          (MeteredPresenceEntry *) joined->data, joined->len, NULL, 0));

  if (!sub->visible && (conn->actions & METERED_ACTION_PRESENCE)) {
    sub->visible = TRUE;
    broadcast_presence (conn, sub, TRUE);
  }
  return G_SOURCE_REMOVE;
}

static gboolean history_subscribe (MeteredHubConn *conn, MeteredHubSub *sub,
    MeteredFrame *frame, gint64 now_ms);
static void remote_cancel (MeteredHubSub *sub);

static void
handle_subscribe (MeteredHubConn *conn, MeteredFrame *frame, gint64 now_ms)
{
  const char *code =
      check_channel (conn, frame->channel, METERED_ACTION_SUBSCRIBE);
  MeteredHubSub *sub;
  MeteredHubPendingSnapshot *pending;
  gboolean ack_later = FALSE;

  if (code) {
    send_channel_error (conn, code, frame);
    return;
  }

  sub = g_hash_table_lookup (conn->subs, frame->channel);
  if (!sub) {
    GPtrArray *subs;

    if (g_hash_table_size (conn->subs) >= METERED_SERVER_MAX_SUBSCRIPTIONS) {
      send_error (conn, METERED_ERR_CHANNEL_LIMIT_EXCEEDED,
          "at most 100 subscriptions per connection", frame->request_id);
      return;
    }
    sub = g_new0 (MeteredHubSub, 1);
    sub->conn = conn;
    sub->channel = g_strdup (frame->channel);
    sub->channel_key = scoped_key (conn->app, frame->channel);
    g_hash_table_insert (conn->subs, sub->channel, sub);
    subs = g_hash_table_lookup (conn->hub->channels, sub->channel_key);
    if (!subs) {
      subs = g_ptr_array_new ();
      g_hash_table_insert (
          conn->hub->channels, g_strdup (sub->channel_key), subs);
    }
    g_ptr_array_add (subs, sub);
  }
  /* A repeat subscribe: last one wins for the flag. */
  sub->include_sender_metadata = frame->include_sender_metadata;

  /* An answer that needs no replay goes before the ack: a client whose
   * subscribe resolved knows its position, even if the socket drops
   * right after. A replay starts in a later iteration, after the ack. */
  if (frame->history) {
    ack_later = history_subscribe (conn, sub, frame, now_ms);
    if (conn->detached)
      return; /* the cluster could not read the history: closed */
  } else {
    remote_cancel (sub);
    replay_stop (sub);
    sub->history = FALSE;
  }
  if (!ack_later)
    send_ack (conn, frame->request_id);

  /* The snapshot goes in a later write: Node's WebSocket clients dispatch
   * two frames of one TCP read in one loop and the SDK would drop a
   * snapshot that races its own ack (protocol doc §0 rule 1). */
  pending = g_new0 (MeteredHubPendingSnapshot, 1);
  pending->conn = conn;
  pending->channel = g_strdup (frame->channel);
  pending->source_id =
      g_timeout_add (conn->hub->presence_gap_ms, snapshot_due, pending);
  conn->pending = g_list_append (conn->pending, pending);
}

static void
send_history (MeteredHubConn *conn, MeteredHubSub *sub, const char *status,
    const char *epoch, guint64 seq, gint64 count, const char *outcome)
{
  conn_send (conn, METERED_FRAME_HISTORY,
      metered_frame_build_history (sub->channel, status, epoch, seq, count));
  metered_metrics_inc (
      conn->hub->metrics, METERED_METRIC_HISTORY_RESUMES, outcome);
}

/* Ends a replay: resumed if the cursor reached the channel's last
 * message in the same epoch, else lost with what is known missing. */
static void
replay_finish (MeteredHubSub *sub)
{
  MeteredHubConn *conn = sub->conn;
  guint64 last;
  const char *epoch =
      metered_history_position (conn->hub->history, sub->channel_key, &last);

  if (!g_str_equal (epoch, sub->replay_epoch))
    send_history (conn, sub, METERED_HISTORY_STATUS_LOST, epoch, last, -1,
        "epoch_changed");
  else if (sub->cursor == last)
    send_history (conn, sub, METERED_HISTORY_STATUS_RESUMED, epoch, last,
        (gint64) sub->replayed, "resumed");
  else
    send_history (conn, sub, METERED_HISTORY_STATUS_LOST, epoch, last,
        (gint64) (last - sub->cursor), "expired");
  replay_stop (sub);
}

/* One stored entry to sub (its own are skipped: never echoed). */
static void
replay_entry (
    MeteredHubSub *sub, const MeteredHistoryEntry *e, const char *epoch)
{
  MeteredHubConn *conn = sub->conn;

  sub->cursor = e->seq;
  if (g_str_equal (e->from, conn->peer_id))
    return;
  conn_send (conn, METERED_FRAME_MESSAGE,
      metered_frame_build_message_stamped (sub->channel, e->from, e->data,
          sub->include_sender_metadata ? e->from_metadata : NULL, epoch,
          e->seq));
  sub->replayed++;
}

/* Replays up to budget messages of sub; returns how many it read. */
static guint
replay_some (MeteredHubSub *sub, guint budget)
{
  MeteredHubConn *conn = sub->conn;
  MeteredHistoryEntry entries[64];
  guint n;

  n = metered_history_read (conn->hub->history, sub->channel_key, sub->cursor,
      entries, MIN (budget, G_N_ELEMENTS (entries)));
  if (n == 0 || entries[0].seq != sub->cursor + 1) {
    replay_finish (sub);
    return 0;
  }
  for (guint i = 0; i < n; i++)
    replay_entry (sub, &entries[i], sub->replay_epoch);
  return MAX (n, 1);
}

/* Replays go out in batches, one per main-loop iteration, so a long gap
 * neither stalls other connections nor fills one send queue at once. */
static gboolean
replay_pump (gpointer data)
{
  MeteredHub *hub = data;
  guint budget = METERED_HUB_REPLAY_BATCH;

  while (budget > 0 && !g_queue_is_empty (&hub->replaying)) {
    MeteredHubSub *sub = g_queue_peek_head (&hub->replaying);
    guint n = replay_some (sub, budget);
    budget -= MIN (n, budget);
    if (sub->replaying && n > 0 && budget == 0)
      break;
  }
  if (g_queue_is_empty (&hub->replaying)) {
    hub->replay_source = 0;
    return G_SOURCE_REMOVE;
  }
  return G_SOURCE_CONTINUE;
}

/* A read of the channel's stream in Redis, after the subscriber's
 * cursor (fresh start: only the position). */
static void
remote_read (MeteredHubSub *sub, const char *epoch)
{
  MeteredHub *hub = sub->conn->hub;

  sub->remote = TRUE;
  sub->replaying = TRUE;
  sub->live_max = 0;
  g_clear_pointer (&sub->skipped_epoch, g_free);
  sub->remote_token = ++hub->next_history_token;
  hub->cluster->history (hub->cluster_data, sub->conn, sub->channel,
      sub->remote_token, epoch, sub->cursor);
}

/* A new subscribe or an unsubscribe overtook a read: its answer is
 * ignored (token), and the earlier subscribe still gets its ack. */
static void
remote_cancel (MeteredHubSub *sub)
{
  if (sub->remote_first)
    send_ack (sub->conn, sub->remote_ack);
  if (sub->remote)
    sub->replaying = FALSE;
  sub->remote = sub->remote_first = sub->status_due = FALSE;
  g_clear_pointer (&sub->remote_ack, g_free);
  g_clear_pointer (&sub->asked_epoch, g_free);
}

/* Returns TRUE when the ack is sent later, with the cluster's answer. */
static gboolean
history_subscribe (MeteredHubConn *conn, MeteredHubSub *sub,
    MeteredFrame *frame, gint64 now_ms)
{
  MeteredHub *hub = conn->hub;
  MeteredHistoryGap gap = METERED_HISTORY_COMPLETE;
  const char *epoch;
  gint64 missed = 0;
  guint64 last;

  remote_cancel (sub);
  replay_stop (sub);
  sub->history = TRUE;
  if (hub->cluster && hub->cluster->history) {
    g_clear_pointer (&sub->live_epoch, g_free);
    sub->remote_first = TRUE;
    sub->remote_ack = g_strdup (frame->request_id);
    sub->asked_epoch = g_strdup (frame->history_epoch);
    sub->cursor = frame->history_epoch ? frame->seq : 0;
    remote_read (sub, frame->history_epoch);
    return TRUE;
  }
  if (frame->history_epoch)
    gap = metered_history_gap (hub->history, sub->channel_key,
        frame->history_epoch, frame->seq, now_ms, &missed);
  epoch = metered_history_position (hub->history, sub->channel_key, &last);

  if (!frame->history_epoch) {
    send_history (
        conn, sub, METERED_HISTORY_STATUS_STARTED, epoch, last, 0, "started");
  } else if (gap == METERED_HISTORY_EPOCH_CHANGED) {
    send_history (conn, sub, METERED_HISTORY_STATUS_LOST, epoch, last, -1,
        "epoch_changed");
  } else if (gap == METERED_HISTORY_EXPIRED) {
    send_history (
        conn, sub, METERED_HISTORY_STATUS_LOST, epoch, last, missed, "expired");
  } else if (missed == 0) {
    send_history (
        conn, sub, METERED_HISTORY_STATUS_RESUMED, epoch, last, 0, "resumed");
  } else {
    sub->replaying = TRUE;
    sub->replay_epoch = g_strdup (epoch);
    sub->cursor = frame->seq;
    sub->replayed = 0;
    g_queue_push_tail (&hub->replaying, sub);
    if (!hub->replay_source)
      hub->replay_source = g_idle_add (replay_pump, hub);
  }
  return FALSE;
}

static void
handle_unsubscribe (MeteredHubConn *conn, MeteredFrame *frame)
{
  MeteredHubSub *sub = g_hash_table_lookup (conn->subs, frame->channel);

  if (sub) {
    remote_cancel (sub); /* a subscribe still reading is acked first */
    sub_remove (conn, sub);
  }
  send_ack (conn, frame->request_id);
}

/* TRUE if this publish/send was delivered before (a resend after a
 * reconnect): the caller acks it and delivers nothing. Otherwise records
 * it. Entries expire after the window; the table is bounded. */
static gboolean
already_delivered_full (MeteredHubConn *conn, const char *request_id,
    gint64 now_ms, gboolean record)
{
  MeteredHub *hub = conn->hub;
  g_autofree char *key = NULL;

  if (!request_id)
    return FALSE;
  while (!g_queue_is_empty (&hub->delivered_order)) {
    const char *oldest = g_queue_peek_head (&hub->delivered_order);
    gint64 *until = g_hash_table_lookup (hub->delivered, oldest);
    if (g_hash_table_size (hub->delivered) < METERED_HUB_DEDUPE_MAX && until &&
        *until > now_ms)
      break;
    g_queue_pop_head (&hub->delivered_order);
    g_hash_table_remove (hub->delivered, oldest);
  }

  key = g_strconcat (conn->dedupe_scope, request_id, NULL);
  if (g_hash_table_contains (hub->delivered, key))
    return TRUE;
  if (record)
    record_delivered (hub, g_steal_pointer (&key), now_ms);
  return FALSE;
}

/* Takes key. */
static void
record_delivered (MeteredHub *hub, char *key, gint64 now_ms)
{
  gint64 *expiry = g_new (gint64, 1);

  *expiry = now_ms + METERED_HUB_DEDUPE_WINDOW_MS;
  g_queue_push_tail (&hub->delivered_order, key);
  g_hash_table_insert (hub->delivered, key, expiry);
}

static gboolean
already_delivered (MeteredHubConn *conn, const char *request_id, gint64 now_ms)
{
  return already_delivered_full (conn, request_id, now_ms, TRUE);
}

/* Records a message in the channel's history and hands it to every
 * subscriber but its sender: from_conn, or in cluster mode (NULL) the
 * connections of peer id from. */
static void
fanout_message (MeteredHub *hub, MeteredApp *app, const char *channel_key,
    const char *channel, MeteredHubConn *from_conn, const char *from,
    const char *data, const char *from_metadata, const char *stamp_epoch,
    guint64 stamp_seq, gint64 now_ms)
{
  g_autofree char *epoch = NULL;
  /* [with fromMetadata][with the history stamp] */
  GBytes *variants[2][2] = { { NULL, NULL }, { NULL, NULL } };
  MeteredHistoryLimits limits;
  GPtrArray *subs;
  guint64 seq;
  guint n = 0;

  if (stamp_epoch) {
    /* Numbered by the cluster, stored in its stream. */
    seq = stamp_seq;
    epoch = g_strdup (stamp_epoch);
  } else {
    limits.max_messages = app->history_max_messages;
    limits.max_age_ms = app->history_max_age_ms;
    seq = metered_history_append (
        hub->history, channel_key, &limits, from, data, from_metadata, now_ms);
    epoch =
        g_strdup (metered_history_position (hub->history, channel_key, NULL));
    history_report (hub);
  }

  subs = g_hash_table_lookup (hub->channels, channel_key);
  /* Each variant of the frame is built once and the same bytes go to
   * every recipient. */
  for (guint i = 0; subs && i < subs->len; i++) {
    MeteredHubSub *other = g_ptr_array_index (subs, i);
    gboolean md = other->include_sender_metadata && from_metadata;
    GBytes **text = &variants[md][other->history];

    if (other->conn == from_conn || other->conn->detached ||
        (!from_conn && g_str_equal (other->conn->peer_id, from)))
      continue; /* never echoed */
    if (other->replaying) {
      if (other->remote && stamp_epoch) {
        if (!other->skipped_epoch)
          other->skipped_epoch = g_strdup (stamp_epoch);
        /* another epoch meanwhile: read again, the read tells which */
        other->live_max = g_str_equal (other->skipped_epoch, stamp_epoch)
                              ? MAX (other->live_max, seq)
                              : G_MAXUINT64;
      }
      continue; /* its replay reaches this one from the history */
    }
    if (other->history && stamp_epoch) {
      if (g_strcmp0 (other->live_epoch, stamp_epoch) == 0 &&
          seq <= other->live_seq)
        continue; /* given by its replay already */
      if (g_strcmp0 (other->live_epoch, stamp_epoch) != 0) {
        g_free (other->live_epoch);
        other->live_epoch = g_strdup (stamp_epoch);
      }
      other->live_seq = seq;
    }
    if (!*text)
      *text = frame_bytes (
          other->history ? metered_frame_build_message_stamped (channel, from,
                               data, md ? from_metadata : NULL, epoch, seq)
                         : metered_frame_build_message (
                               channel, from, data, md ? from_metadata : NULL));
    conn_send_bytes (other->conn, *text);
    n++;
  }
  for (guint i = 0; i < 4; i++)
    if (variants[i / 2][i % 2])
      g_bytes_unref (variants[i / 2][i % 2]);
  metered_metrics_add (hub->metrics, METERED_METRIC_FRAMES_OUT,
      metered_frame_type_name (METERED_FRAME_MESSAGE), n);
}

static void
handle_publish (MeteredHubConn *conn, MeteredFrame *frame, gint64 now_ms)
{
  const char *code =
      check_channel (conn, frame->channel, METERED_ACTION_PUBLISH);
  g_autofree char *channel_key = NULL;

  if (code) {
    send_channel_error (conn, code, frame);
    return;
  }
  if (conn->hub->cluster) {
    conn->hub->cluster->publish (conn->hub->cluster_data, conn, frame->channel,
        frame->request_id, frame->data);
    return;
  }
  if (already_delivered (conn, frame->request_id, now_ms)) {
    send_ack (conn, frame->request_id);
    return;
  }

  channel_key = scoped_key (conn->app, frame->channel);
  fanout_message (conn->hub, conn->app, channel_key, frame->channel, conn,
      conn->peer_id, frame->data, conn->peer_metadata, NULL, 0, now_ms);
  send_ack (conn, frame->request_id);
}

/* A held send (the sender asked with "hold":true) to a stable peer id
 * that left less than METERED_HUB_HOLD_MS ago. FALSE: not held, the
 * caller answers peer_not_found as for any absent peer. TRUE: answered
 * now (a resend already delivered), or later exactly once. */
static gboolean
held_add (MeteredHubConn *conn, MeteredFrame *frame, const char *peer_key,
    gint64 now_ms)
{
  MeteredHub *hub = conn->hub;
  gint64 *left = g_hash_table_lookup (hub->departed, peer_key);
  g_autofree char *dedupe_key = NULL;
  MeteredHubHeld *held;
  GQueue *queue;

  if (!left || g_get_monotonic_time () / 1000 - *left >= METERED_HUB_HOLD_MS)
    return FALSE;
  if (already_delivered_full (conn, frame->request_id, now_ms, FALSE)) {
    send_ack (conn, frame->request_id);
    return TRUE;
  }
  queue = g_hash_table_lookup (hub->held, peer_key);
  if (frame->request_id) {
    dedupe_key = g_strconcat (conn->dedupe_scope, frame->request_id, NULL);
    /* A resend of one still held: answered when that one is. */
    for (GList *l = queue ? queue->head : NULL; l; l = l->next) {
      MeteredHubHeld *h = l->data;
      if (g_strcmp0 (h->dedupe_key, dedupe_key) == 0) {
        g_free (h->sender_key);
        h->sender_key = g_strdup (conn->peer_key);
        return TRUE;
      }
    }
  }
  if (hub->n_held >= METERED_HUB_HOLD_MAX ||
      (queue && queue->length >= METERED_HUB_HOLD_MAX_PER_PEER))
    return FALSE;

  held = g_new0 (MeteredHubHeld, 1);
  held->hub = hub;
  held->target_key = g_strdup (peer_key);
  held->dedupe_key = g_steal_pointer (&dedupe_key);
  held->sender_key = g_strdup (conn->peer_key);
  held->request_id = g_strdup (frame->request_id);
  held->direct = frame_bytes (metered_frame_build_direct (
      conn->peer_id, frame->data, conn->peer_metadata));
  held->timer = g_timeout_add (
      (guint) (METERED_HUB_HOLD_MS - (g_get_monotonic_time () / 1000 - *left)),
      held_expired, held);
  if (!queue) {
    queue = g_queue_new ();
    g_hash_table_insert (hub->held, g_strdup (peer_key), queue);
  }
  g_queue_push_tail (queue, held);
  hub->n_held++;
  metered_metrics_set (hub->metrics, METERED_VALUE_HELD_DIRECTS, hub->n_held);
  return TRUE;
}

static void
handle_send (MeteredHubConn *conn, MeteredFrame *frame, gint64 now_ms)
{
  g_autofree char *peer_key = NULL;
  MeteredHubConn *target;

  if (!(conn->actions & METERED_ACTION_SEND)) {
    send_error (
        conn, METERED_ERR_ACTION_NOT_PERMITTED, "send", frame->request_id);
    return;
  }
  if (conn->hub->cluster) {
    conn->hub->cluster->send (conn->hub->cluster_data, conn, frame->to,
        frame->request_id, frame->data);
    return;
  }
  peer_key = scoped_key (conn->app, frame->to);
  target = g_hash_table_lookup (conn->hub->peers, peer_key);
  if (!target || target->detached) {
    if (!(frame->hold && held_add (conn, frame, peer_key, now_ms)))
      send_error (conn, METERED_ERR_PEER_NOT_FOUND, "peer is not connected",
          frame->request_id);
    return;
  }
  if (already_delivered (conn, frame->request_id, now_ms)) {
    send_ack (conn, frame->request_id);
    return;
  }
  conn_send (target, METERED_FRAME_DIRECT,
      metered_frame_build_direct (
          conn->peer_id, frame->data, conn->peer_metadata));
  send_ack (conn, frame->request_id);
}

/* Every inbound frame, text or binary, takes a token: 100/s sustained,
 * bursts of 200, else close 4011. FALSE when the frame must be dropped. */
static gboolean
accept_frame (MeteredHubConn *conn, gint64 now_ms)
{
  if (conn->detached)
    return FALSE;
  if (!conn->bucket_ready) {
    metered_token_bucket_init (&conn->bucket, METERED_SERVER_RATE_BURST,
        METERED_SERVER_RATE_PER_SEC, now_ms);
    conn->bucket_ready = TRUE;
  }
  if (!metered_token_bucket_take (&conn->bucket, now_ms)) {
    metered_hub_conn_close (
        conn, METERED_CLOSE_OVER_MESSAGE_RATE, "message rate exceeded");
    return FALSE;
  }
  return TRUE;
}

void
metered_hub_conn_handle_text (
    MeteredHubConn *conn, const char *text, gsize len, gint64 now_ms)
{
  g_autoptr (MeteredFrame) frame = NULL;
  const char *reject = NULL;
  MeteredParseResult result;

  if (!accept_frame (conn, now_ms))
    return;
  if (len > METERED_SERVER_MAX_FRAME) {
    metered_hub_conn_close (
        conn, METERED_CLOSE_MESSAGE_TOO_BIG, "frame exceeds 65536 bytes");
    return;
  }

  result = metered_client_frame_parse (text, len, &frame, &reject);
  switch (result) {
    case METERED_PARSE_MALFORMED:
      metered_metrics_inc (
          conn->hub->metrics, METERED_METRIC_FRAMES_IN, "malformed");
      send_error (conn, METERED_ERR_MALFORMED_MESSAGE,
          "frame is not a JSON object with a string type", NULL);
      return;
    case METERED_PARSE_UNKNOWN_TYPE:
      metered_metrics_inc (
          conn->hub->metrics, METERED_METRIC_FRAMES_IN, "unknown");
      send_error (conn, METERED_ERR_UNKNOWN_TYPE, "unknown frame type",
          frame->request_id);
      return;
    case METERED_PARSE_INVALID:
      metered_metrics_inc (conn->hub->metrics, METERED_METRIC_FRAMES_IN,
          metered_frame_type_name (frame->type));
      send_error (conn, reject, NULL, frame->request_id);
      return;
    case METERED_PARSE_OK:
      break;
  }

  metered_metrics_inc (conn->hub->metrics, METERED_METRIC_FRAMES_IN,
      metered_frame_type_name (frame->type));
  switch (frame->type) {
    case METERED_FRAME_SUBSCRIBE:
      handle_subscribe (conn, frame, now_ms);
      break;
    case METERED_FRAME_UNSUBSCRIBE:
      handle_unsubscribe (conn, frame);
      break;
    case METERED_FRAME_PUBLISH:
      handle_publish (conn, frame, now_ms);
      break;
    case METERED_FRAME_SEND:
      handle_send (conn, frame, now_ms);
      break;
    case METERED_FRAME_PING:
      conn_send (conn, METERED_FRAME_PONG, metered_frame_build_pong ());
      break;
    default:
      /* A server frame type sent by a client. */
      send_error (conn, METERED_ERR_UNKNOWN_TYPE, "unknown frame type",
          frame->request_id);
      break;
  }
}

void
metered_hub_conn_handle_binary (MeteredHubConn *conn, gint64 now_ms)
{
  if (!accept_frame (conn, now_ms))
    return;
  metered_metrics_inc (conn->hub->metrics, METERED_METRIC_FRAMES_IN, "binary");
  send_error (conn, METERED_ERR_MALFORMED_MESSAGE,
      "binary frames are not part of the protocol", NULL);
}

void
metered_hub_conn_close (MeteredHubConn *conn, int code, const char *reason)
{
  if (conn->detached)
    return;
  conn_detach (conn);
  conn->io->close (conn->io_data, code, reason);
}

void
metered_hub_conn_remove (MeteredHubConn *conn)
{
  conn_detach (conn);
  g_hash_table_remove (conn->hub->conns, conn);
  conn_free (conn);
}

const char *
metered_hub_conn_get_peer_id (MeteredHubConn *conn)
{
  return conn->peer_id;
}

MeteredApp *
metered_hub_conn_get_app (MeteredHubConn *conn)
{
  return conn->app;
}

const char *
metered_hub_conn_get_credential_id (MeteredHubConn *conn)
{
  return conn->credential_id;
}

gboolean
metered_hub_conn_is_closing (MeteredHubConn *conn)
{
  return conn->detached;
}

GPtrArray *
metered_hub_conn_list_channels (MeteredHubConn *conn)
{
  GPtrArray *out = g_ptr_array_new ();
  GHashTableIter iter;
  gpointer channel;

  g_hash_table_iter_init (&iter, conn->subs);
  while (g_hash_table_iter_next (&iter, &channel, NULL))
    g_ptr_array_add (out, channel);
  return out;
}

GPtrArray *
metered_hub_list_conns (MeteredHub *hub)
{
  GPtrArray *out = g_ptr_array_new ();
  GHashTableIter iter;
  gpointer conn;

  g_hash_table_iter_init (&iter, hub->conns);
  while (g_hash_table_iter_next (&iter, &conn, NULL))
    if (!((MeteredHubConn *) conn)->detached)
      g_ptr_array_add (out, conn);
  return out;
}

guint
metered_hub_close_matching (MeteredHub *hub, MeteredHubConnPredicate pred,
    gpointer user_data, int code, const char *reason)
{
  g_autoptr (GPtrArray) conns = metered_hub_list_conns (hub);
  guint n = 0;

  for (guint i = 0; i < conns->len; i++) {
    MeteredHubConn *conn = g_ptr_array_index (conns, i);
    if (pred (conn, user_data)) {
      metered_hub_conn_close (conn, code, reason);
      n++;
    }
  }
  return n;
}

guint
metered_hub_count_conns (MeteredHub *hub)
{
  g_autoptr (GPtrArray) conns = metered_hub_list_conns (hub);

  return conns->len;
}

guint
metered_hub_count_channels (MeteredHub *hub)
{
  return g_hash_table_size (hub->channels);
}

void
metered_hub_set_cluster (
    MeteredHub *hub, const MeteredHubCluster *cluster, gpointer data)
{
  hub->cluster = cluster;
  hub->cluster_data = data;
}

MeteredMetrics *
metered_hub_get_metrics (MeteredHub *hub)
{
  return hub->metrics;
}

const char *
metered_hub_conn_get_peer_key (MeteredHubConn *conn)
{
  return conn->peer_key;
}

const char *
metered_hub_conn_get_dedupe_scope (MeteredHubConn *conn)
{
  return conn->dedupe_scope;
}

const char *
metered_hub_conn_get_peer_metadata (MeteredHubConn *conn)
{
  return conn->peer_metadata;
}

gboolean
metered_hub_conn_sees_presence (MeteredHubConn *conn)
{
  return (conn->actions & METERED_ACTION_PRESENCE) != 0;
}

MeteredHubConn *
metered_hub_find_peer (MeteredHub *hub, const char *peer_key)
{
  MeteredHubConn *conn = g_hash_table_lookup (hub->peers, peer_key);

  return conn && !conn->detached ? conn : NULL;
}

void
metered_hub_conn_answer (MeteredHubConn *conn, const char *request_id,
    const char *code, const char *message)
{
  if (code)
    send_error (conn, code, message, request_id);
  else
    send_ack (conn, request_id);
}

gboolean
metered_hub_conn_send_snapshot (MeteredHubConn *conn, const char *channel,
    const char *const *peer_ids, const char *const *metadata, guint n,
    const char *epoch, gint64 seq)
{
  MeteredHubSub *sub = g_hash_table_lookup (conn->subs, channel);
  g_autofree MeteredPresenceEntry *entries = NULL;
  gboolean sees = metered_hub_conn_sees_presence (conn);

  if (!sub || conn->detached)
    return FALSE;
  entries = g_new0 (MeteredPresenceEntry, MAX (n, 1));
  for (guint i = 0; sees && i < n; i++) {
    entries[i].peer_id = (char *) peer_ids[i];
    entries[i].metadata = (char *) metadata[i];
  }
  conn_send (conn, METERED_FRAME_PRESENCE,
      metered_frame_build_presence (channel, entries, sees ? n : 0, NULL, 0));
  g_clear_pointer (&sub->cluster_members, g_hash_table_unref);
  sub->cluster_members =
      g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  for (guint i = 0; sees && i < n; i++)
    g_hash_table_add (sub->cluster_members, g_strdup (peer_ids[i]));
  g_free (sub->cluster_epoch);
  sub->cluster_epoch = g_strdup (epoch);
  sub->cluster_seq = seq;
  sub->visible = sees;
  return TRUE;
}

void
metered_hub_deliver_presence (MeteredHub *hub, const char *channel_key,
    const char *peer_id, const char *metadata, gboolean joined,
    const char *epoch, gint64 seq)
{
  GPtrArray *subs = g_hash_table_lookup (hub->channels, channel_key);
  MeteredPresenceEntry entry = { (char *) peer_id, (char *) metadata };
  g_autoptr (GBytes) text = NULL;
  guint n = 0;

  for (guint i = 0; subs && i < subs->len; i++) {
    MeteredHubSub *other = g_ptr_array_index (subs, i);

    if (!other->visible || other->conn->detached ||
        g_str_equal (other->conn->peer_id, peer_id))
      continue;
    /* Already in its snapshot (same epoch, not newer). */
    if (g_strcmp0 (other->cluster_epoch, epoch) == 0 &&
        seq <= other->cluster_seq)
      continue;
    g_free (other->cluster_epoch);
    other->cluster_epoch = g_strdup (epoch);
    other->cluster_seq = seq;
    if (!other->cluster_members ||
        (joined ? !g_hash_table_add (other->cluster_members, g_strdup (peer_id))
                : !g_hash_table_remove (other->cluster_members, peer_id)))
      continue; /* already known as present, or absent */
    if (!text)
      text = frame_bytes (joined ? metered_frame_build_presence (
                                       other->channel, &entry, 1, NULL, 0)
                                 : metered_frame_build_presence (
                                       other->channel, NULL, 0, &entry, 1));
    conn_send_bytes (other->conn, text);
    n++;
  }
  metered_metrics_add (hub->metrics, METERED_METRIC_FRAMES_OUT,
      metered_frame_type_name (METERED_FRAME_PRESENCE), n);
}

void
metered_hub_deliver_message (MeteredHub *hub, const char *channel_key,
    const char *from, const char *data_json, const char *from_metadata,
    gint64 now_ms)
{
  GPtrArray *subs = g_hash_table_lookup (hub->channels, channel_key);
  MeteredHubSub *first;

  /* No local subscriber: nothing to deliver nor to remember (an
   * unstamped message comes from a node that keeps history per node). */
  if (!subs || subs->len == 0)
    return;
  first = g_ptr_array_index (subs, 0);
  fanout_message (hub, first->conn->app, channel_key, first->channel, NULL,
      from, data_json, from_metadata, NULL, 0, now_ms);
}

void
metered_hub_deliver_message_stamped (MeteredHub *hub, const char *channel_key,
    const char *from, const char *data_json, const char *from_metadata,
    const char *epoch, guint64 seq, gint64 now_ms)
{
  GPtrArray *subs = g_hash_table_lookup (hub->channels, channel_key);
  MeteredHubSub *first;

  g_return_if_fail (epoch != NULL);

  if (!subs || subs->len == 0)
    return;
  first = g_ptr_array_index (subs, 0);
  fanout_message (hub, first->conn->app, channel_key, first->channel, NULL,
      from, data_json, from_metadata, epoch, seq, now_ms);
}

/* The subscriber reached the end of what it missed: from now on it
 * gets live messages after the given position. */
static void
remote_go_live (MeteredHubSub *sub, const char *epoch, guint64 seq)
{
  sub->remote = sub->remote_first = sub->status_due = FALSE;
  sub->replaying = FALSE;
  g_free (sub->live_epoch);
  sub->live_epoch = g_strdup (epoch);
  sub->live_seq = seq;
  g_clear_pointer (&sub->asked_epoch, g_free);
  g_clear_pointer (&sub->remote_ack, g_free);
}

static void
remote_answer_first (
    MeteredHubSub *sub, const char *epoch, guint64 last, gboolean *replay)
{
  MeteredHubConn *conn = sub->conn;

  *replay = FALSE;
  if (!sub->asked_epoch) {
    send_history (
        conn, sub, METERED_HISTORY_STATUS_STARTED, epoch, last, 0, "started");
  } else if (!g_str_equal (sub->asked_epoch, epoch) || sub->cursor > last) {
    send_history (conn, sub, METERED_HISTORY_STATUS_LOST, epoch, last, -1,
        "epoch_changed");
  } else if (sub->cursor == last) {
    send_history (
        conn, sub, METERED_HISTORY_STATUS_RESUMED, epoch, last, 0, "resumed");
  } else {
    *replay = TRUE;
  }
}

void
metered_hub_conn_history_answer (MeteredHubConn *conn, const char *channel,
    guint64 token, const char *epoch, guint64 last,
    const MeteredHistoryEntry *entries, guint n)
{
  MeteredHubSub *sub = g_hash_table_lookup (conn->subs, channel);
  guint64 from;
  gboolean replay;

  if (!sub || !sub->remote || sub->remote_token != token || conn->detached)
    return;
  sub->remote = FALSE;
  if (sub->remote_first) {
    remote_answer_first (sub, epoch, last, &replay);
    if (replay && (n == 0 || entries[0].seq != sub->cursor + 1)) {
      send_history (conn, sub, METERED_HISTORY_STATUS_LOST, epoch, last,
          (gint64) (last - sub->cursor), "expired");
      replay = FALSE;
    }
    send_ack (conn, sub->remote_ack);
    sub->remote_first = FALSE;
    sub->status_due = replay;
    sub->replayed = 0;
    if (!replay)
      sub->cursor = last;
    g_free (sub->asked_epoch);
    sub->asked_epoch = g_strdup (epoch);
  } else if (g_strcmp0 (sub->asked_epoch, epoch) != 0) {
    if (sub->status_due)
      send_history (conn, sub, METERED_HISTORY_STATUS_LOST, epoch, last, -1,
          "epoch_changed");
    remote_go_live (sub, epoch, last);
    return;
  }

  from = sub->cursor;
  if (sub->cursor < last && (n == 0 || entries[0].seq != sub->cursor + 1)) {
    /* Trimmed between two reads: told while the replay's closing frame
     * is due; after it, a subscriber with a limit smaller than what is
     * published in one Redis round trip sees a hole in the numbers. */
    if (sub->status_due)
      send_history (conn, sub, METERED_HISTORY_STATUS_LOST, epoch, last,
          (gint64) (last - sub->cursor), "expired");
    remote_go_live (sub, epoch, last);
    return;
  }
  for (guint i = 0; i < n; i++)
    if (entries[i].seq > from)
      replay_entry (sub, &entries[i], epoch);
  /* More stored than one read gives, or published while it was out. */
  if (sub->cursor < last || sub->live_max > sub->cursor) {
    remote_read (sub, epoch);
    return;
  }
  if (sub->status_due)
    send_history (conn, sub, METERED_HISTORY_STATUS_RESUMED, epoch, sub->cursor,
        (gint64) sub->replayed, "resumed");
  remote_go_live (sub, epoch, sub->cursor);
}

gboolean
metered_hub_deliver_direct (MeteredHub *hub, const char *peer_key,
    const char *from, const char *data_json, const char *from_metadata)
{
  MeteredHubConn *target = metered_hub_find_peer (hub, peer_key);

  if (!target)
    return FALSE;
  conn_send (target, METERED_FRAME_DIRECT,
      metered_frame_build_direct (from, data_json, from_metadata));
  return TRUE;
}

gboolean
metered_hub_conn_merge_presence (MeteredHubConn *conn, const char *channel,
    const char *const *peer_ids, const char *const *metadata, guint n,
    const char *epoch, gint64 seq)
{
  MeteredHubSub *sub = g_hash_table_lookup (conn->subs, channel);
  g_autoptr (GHashTable) now_in =
      g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  g_autoptr (GArray) joined =
      g_array_new (FALSE, FALSE, sizeof (MeteredPresenceEntry));
  g_autoptr (GArray) left =
      g_array_new (FALSE, FALSE, sizeof (MeteredPresenceEntry));
  g_autoptr (GPtrArray) gone = g_ptr_array_new_with_free_func (g_free);
  GHashTableIter iter;
  gpointer member;

  if (!sub || conn->detached || !sub->visible || !sub->cluster_members)
    return FALSE;
  for (guint i = 0; i < n; i++) {
    MeteredPresenceEntry e = { (char *) peer_ids[i], (char *) metadata[i] };
    g_hash_table_add (now_in, g_strdup (peer_ids[i]));
    if (!g_hash_table_contains (sub->cluster_members, peer_ids[i]))
      g_array_append_val (joined, e);
  }
  g_hash_table_iter_init (&iter, sub->cluster_members);
  while (g_hash_table_iter_next (&iter, &member, NULL))
    if (!g_hash_table_contains (now_in, member))
      g_ptr_array_add (gone, g_strdup (member));
  for (guint i = 0; i < gone->len; i++) {
    MeteredPresenceEntry e = { g_ptr_array_index (gone, i), NULL };
    g_array_append_val (left, e);
  }
  if (joined->len || left->len)
    conn_send (conn, METERED_FRAME_PRESENCE,
        metered_frame_build_presence (channel,
            (MeteredPresenceEntry *) joined->data, joined->len,
            (MeteredPresenceEntry *) left->data, left->len));
  g_hash_table_unref (sub->cluster_members);
  sub->cluster_members = g_steal_pointer (&now_in);
  g_free (sub->cluster_epoch);
  sub->cluster_epoch = g_strdup (epoch);
  sub->cluster_seq = seq;
  return TRUE;
}
