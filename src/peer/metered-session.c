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

#include "metered-session.h"

#include "peer/metered-handover.h"
#include "peer/metered-network-watch.h"
#include "peer/metered-sdp.h"
#include "peer/metered-twcc.h"

#include "protocol/metered-protocol.h"

#include <json-glib/json-glib.h>
#include <string.h>

/* Shared with metered-remote-peer.c: a peer's story is the session's. */
GST_DEBUG_CATEGORY (metered_session_debug);
#define GST_CAT_DEFAULT metered_session_debug

enum
{
  SIGNAL_PEER_JOINED,
  SIGNAL_PEER_LEFT,
  SIGNAL_REMOTE_TRACK,
  SIGNAL_CONNECTION_SWAPPED,
  SIGNAL_KEY_UNIT_REQUEST,
  SIGNAL_VIEWER_KEY_UNIT_REQUEST,
  SIGNAL_DATA,
  SIGNAL_JOINED,
  SIGNAL_FATAL,
  SIGNAL_RECOVERY_EXHAUSTED,
  SIGNAL_STATE_CHANGED,
  SIGNAL_ERROR,
  SIGNAL_MEDIA_SWITCHED,
  SIGNAL_ICE_RESTART,
  N_SIGNALS
};

static guint signals[N_SIGNALS];

/* A remote peer (metered-remote-peer.c), as the direct handlers name
 * it: its identity (id, track metadata) outlives the connections that
 * come and go under it. */
typedef MeteredRemotePeer RemotePeer;

struct _MeteredSession
{
  GObject parent;

  MeteredSignallingClient *client;
  GMainContext *context;
  char *channel;
  char *local_id;
  GPtrArray *local_tracks; /* MeteredLocalTrack* */
  GHashTable *local_metadata; /* track_id -> metadata JSON */
  gboolean receive;
  GstClock *clock;
  GstClockTime base_time;
  char *stun_server;
  GStrv turn_servers;
  /* From the latest welcome.metadata.iceServers (kept when a welcome has
   * none, as the SDK does); used by connections created afterwards. */
  char *welcome_stun;
  GStrv welcome_turns;
  GStrv receive_codecs;
  guint receive_latency_ms; /* 0: from the round trip */

  /* METERED_SESSION_LOCK guards peers and fanout against readers on
   * other threads (push, dup_peer, count_peers, request_key_unit,
   * get_peer_stats). Both change on the context thread only, which reads
   * them without it. Nothing is called and no other lock taken under it. */
  GMutex lock;
  GHashTable *peers; /* id -> MeteredRemotePeer* (a reference) */
  /* The peers again, for push(): replaced, never changed, so that a
   * streaming thread takes a reference under the lock and pushes without
   * it. */
  GPtrArray *fanout;
  gboolean started;
  gboolean subscribed;
  gboolean awaiting_snapshot;
  MeteredSessionState state;
  guint connect_attempts; /* first connect retried until a welcome */
  guint dead_peer_timeout_ms;
  GSource *liveness_source;
  GSource *retry_source;
  /* Directs from senders not (yet) known as peers, oldest first
   * (EarlyDirect*): the server may deliver a sender's offer before the
   * presence that makes it known. Bounded by the EARLY_DIRECTS_* limits;
   * context thread only. */
  GQueue early_directs;
  /* GLib's network monitor, between start and stop when watch_network
   * (context thread only). */
  gboolean watch_network;
  MeteredNetworkWatch *network_watch;

  MeteredSessionSampleFunc sample_func;
  gpointer sample_data;
  GDestroyNotify sample_destroy;
};

#define METERED_SESSION_LOCK(session) g_mutex_lock (&(session)->lock)
#define METERED_SESSION_UNLOCK(session) g_mutex_unlock (&(session)->lock)

G_DEFINE_FINAL_TYPE (MeteredSession, metered_session, G_TYPE_OBJECT)

GType
metered_session_state_get_type (void)
{
  static gsize type = 0;
  static const GEnumValue values[] = {
    { METERED_SESSION_STATE_IDLE, "METERED_SESSION_STATE_IDLE", "idle" },
    { METERED_SESSION_STATE_JOINING, "METERED_SESSION_STATE_JOINING",
        "joining" },
    { METERED_SESSION_STATE_JOINED, "METERED_SESSION_STATE_JOINED", "joined" },
    { METERED_SESSION_STATE_RECONNECTING, "METERED_SESSION_STATE_RECONNECTING",
        "reconnecting" },
    { METERED_SESSION_STATE_CLOSED, "METERED_SESSION_STATE_CLOSED", "closed" },
    { 0, NULL, NULL }
  };

  if (g_once_init_enter (&type))
    g_once_init_leave (
        &type, g_enum_register_static ("MeteredSessionState", values));
  return type;
}

static void
set_state (MeteredSession *session, MeteredSessionState to)
{
  MeteredSessionState from = session->state;

  if (from == to)
    return;
  session->state = to;
  g_signal_emit (session, signals[SIGNAL_STATE_CHANGED], 0, from, to);
}

/* The SDK's MeteredPeer error, by err.name (protocol doc §8.11). */
static void
emit_error (MeteredSession *session, const char *name, const char *message)
{
  GST_WARNING ("session error %s: %s", name, message ? message : "");
  g_signal_emit (session, signals[SIGNAL_ERROR], 0, name, message);
}

/* --- sending over the signalling channel --- */

static void
on_sent (GObject *source, GAsyncResult *result, gpointer data)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *to = data;

  if (!metered_signalling_client_send_finish (
          METERED_SIGNALLING_CLIENT (source), result, &error))
    GST_INFO ("signalling send to %s failed: %s", to, error->message);
}

static void
send_to (MeteredSession *session, const char *peer_id, const char *payload)
{
  metered_signalling_client_send_async (
      session->client, peer_id, payload, NULL, on_sent, g_strdup (peer_id));
}

/* __meteredTrackMeta for every local track that has metadata, before
 * the offer on the same ordered socket (protocol doc §8.6). */
static void
send_track_metadata (MeteredSession *session, const char *peer_id)
{
  for (guint i = 0; i < session->local_tracks->len; i++) {
    MeteredLocalTrack *t = g_ptr_array_index (session->local_tracks, i);
    const char *meta =
        g_hash_table_lookup (session->local_metadata, t->track_id);
    g_autofree char *payload = NULL;

    if (!meta)
      continue;
    payload = metered_peer_payload_build_track_meta (t->track_id, meta);
    send_to (session, peer_id, payload);
  }
}

static void
take_welcome_ice_servers (MeteredSession *session, GVariant *servers)
{
  if (!servers)
    return;
  g_clear_pointer (&session->welcome_stun, g_free);
  g_strfreev (session->welcome_turns);
  metered_ice_servers_to_uris (
      servers, &session->welcome_stun, &session->welcome_turns);
  GST_INFO ("iceServers from the welcome: %s STUN, %u TURN",
      session->welcome_stun ? "a" : "no",
      g_strv_length (session->welcome_turns));
}

/* --- what the peers ask of us (metered-remote-peer.h) --- */

void
metered_session_send_to (
    MeteredSession *session, const char *peer_id, const char *payload)
{
  send_to (session, peer_id, payload);
}

void
metered_session_send_local_track_metadata (
    MeteredSession *session, const char *peer_id)
{
  send_track_metadata (session, peer_id);
}

gboolean
metered_session_has_local_tracks (MeteredSession *session)
{
  return session->local_tracks->len > 0;
}

void
metered_session_request_local_key_units (MeteredSession *session)
{
  for (guint i = 0; i < session->local_tracks->len; i++) {
    MeteredLocalTrack *t = g_ptr_array_index (session->local_tracks, i);
    g_signal_emit (session, signals[SIGNAL_KEY_UNIT_REQUEST], 0, t->track_id);
  }
}

void
metered_session_deliver_sample (MeteredSession *session, const char *peer_id,
    const MeteredRemoteTrack *track, GstBuffer *buffer)
{
  if (session->sample_func)
    session->sample_func (
        session, peer_id, track, buffer, session->sample_data);
}

gboolean
metered_session_is_polite_to (MeteredSession *session, const char *peer_id)
{
  return g_strcmp0 (session->local_id, peer_id) < 0;
}

MeteredConnection *
metered_session_new_connection (
    MeteredSession *session, const char *peer_id, gboolean answer_first)
{
  MeteredConnectionConfig config = { 0 };
  g_autoptr (GStrvBuilder) b = g_strv_builder_new ();
  g_auto (GStrv) turns = NULL;

  config.context = session->context;
  config.local_peer_id = session->local_id;
  config.remote_peer_id = peer_id;
  /* Politeness as the SDK computes it: JS string comparison, which is
   * strcmp for the ASCII ids services hand out. */
  config.polite = metered_session_is_polite_to (session, peer_id);
  /* Properties first, then what the service handed out in the welcome. */
  config.stun_server =
      session->stun_server ? session->stun_server : session->welcome_stun;
  if (session->turn_servers)
    g_strv_builder_addv (b, (const char **) session->turn_servers);
  if (session->welcome_turns)
    g_strv_builder_addv (b, (const char **) session->welcome_turns);
  turns = g_strv_builder_end (b);
  config.turn_servers = (const char *const *) turns;
  config.local_tracks = session->local_tracks;
  config.receive = session->receive;
  config.clock = session->clock;
  config.base_time = session->base_time;
  config.answer_first = answer_first;
  config.receive_codecs = (const char *const *) session->receive_codecs;
  config.receive_latency_ms = session->receive_latency_ms;
  return metered_connection_new (&config);
}

/* --- remote peers --- */

static void
store_track_meta (RemotePeer *peer, const char *track_id, const char *meta)
{
  metered_remote_peer_store_track_meta (peer, track_id, meta);
}

/* A new fan-out list for the peers as they are now; returns the old one,
 * to be dropped once the lock is released (it may hold the last reference
 * to a peer). Under the lock. */
static GPtrArray *
fanout_replace (MeteredSession *session)
{
  GPtrArray *old = session->fanout;
  GHashTableIter iter;
  gpointer value;

  session->fanout =
      g_ptr_array_new_full (g_hash_table_size (session->peers), g_object_unref);
  g_hash_table_iter_init (&iter, session->peers);
  while (g_hash_table_iter_next (&iter, NULL, &value))
    g_ptr_array_add (session->fanout, g_object_ref (value));
  return old;
}

/* The peers as they are now, for a reader on any thread to walk without
 * the lock (a reference: unref it when done). */
static GPtrArray *
fanout_get (MeteredSession *session)
{
  GPtrArray *fanout;

  METERED_SESSION_LOCK (session);
  fanout = g_ptr_array_ref (session->fanout);
  METERED_SESSION_UNLOCK (session);
  return fanout;
}

/* How many directs from unknown senders are kept, and for how long: a
 * few negotiations' worth (offer and its candidates), for the time
 * presence can lag behind them; older ones their sender has given up on. */
#define EARLY_DIRECTS_PER_SENDER 32
#define EARLY_DIRECTS_TOTAL 64
#define EARLY_DIRECTS_MAX_AGE_MS 5000

typedef struct
{
  char *from;
  char *data;
  gint64 at_ms;
} EarlyDirect;

static void
early_direct_free (EarlyDirect *early)
{
  g_free (early->from);
  g_free (early->data);
  g_free (early);
}

/* Drops the kept directs older than the age limit. */
static void
early_directs_expire (MeteredSession *session, gint64 now_ms)
{
  EarlyDirect *early;

  while ((early = g_queue_peek_head (&session->early_directs)) &&
         now_ms - early->at_ms > EARLY_DIRECTS_MAX_AGE_MS) {
    GST_DEBUG ("direct from unknown peer %s dropped after %" G_GINT64_FORMAT
               " ms",
        early->from, now_ms - early->at_ms);
    early_direct_free (g_queue_pop_head (&session->early_directs));
  }
}

static void
early_directs_keep (MeteredSession *session, const char *from, const char *data)
{
  gint64 now_ms = g_get_monotonic_time () / 1000;
  EarlyDirect *early;
  guint from_sender = 0;

  early_directs_expire (session, now_ms);
  for (GList *l = session->early_directs.head; l; l = l->next)
    from_sender += g_str_equal (((EarlyDirect *) l->data)->from, from);
  if (from_sender >= EARLY_DIRECTS_PER_SENDER) {
    GST_DEBUG ("direct from unknown peer %s dropped: %u kept already", from,
        from_sender);
    return;
  }
  if (g_queue_get_length (&session->early_directs) >= EARLY_DIRECTS_TOTAL) {
    early = g_queue_pop_head (&session->early_directs);
    GST_DEBUG (
        "direct from unknown peer %s dropped for a newer one", early->from);
    early_direct_free (early);
  }
  early = g_new0 (EarlyDirect, 1);
  early->from = g_strdup (from);
  early->data = g_strdup (data);
  early->at_ms = now_ms;
  g_queue_push_tail (&session->early_directs, early);
  GST_DEBUG ("direct from unknown peer %s kept until its presence", from);
}

static void handle_direct (MeteredSession *session, RemotePeer *peer,
    const char *from, const char *data);

/* The sender id is now a peer: what it sent before goes to it, in order. */
static void
early_directs_replay (MeteredSession *session, const char *id)
{
  g_autoptr (GPtrArray) replay =
      g_ptr_array_new_with_free_func ((GDestroyNotify) early_direct_free);
  GList *l, *next;

  early_directs_expire (session, g_get_monotonic_time () / 1000);
  for (l = session->early_directs.head; l; l = next) {
    next = l->next;
    if (g_str_equal (((EarlyDirect *) l->data)->from, id)) {
      g_ptr_array_add (replay, l->data);
      g_queue_delete_link (&session->early_directs, l);
    }
  }
  /* Looked up for each: a replayed direct may end the peer. */
  for (guint i = 0; i < replay->len; i++) {
    EarlyDirect *early = g_ptr_array_index (replay, i);
    RemotePeer *peer = g_hash_table_lookup (session->peers, id);

    if (!peer)
      break;
    GST_DEBUG ("replaying a direct from %s kept for %" G_GINT64_FORMAT " ms",
        id, g_get_monotonic_time () / 1000 - early->at_ms);
    handle_direct (session, peer, id, early->data);
  }
}

static void
early_directs_clear (MeteredSession *session)
{
  g_queue_clear_full (
      &session->early_directs, (GDestroyNotify) early_direct_free);
}

static void
peer_add (MeteredSession *session, const char *id, const char *metadata)
{
  MeteredRemotePeer *peer;
  GPtrArray *old;

  if (g_hash_table_size (session->peers) >= METERED_MAX_REMOTE_PEERS) {
    GST_WARNING (
        "already %d remote peers: ignoring %s", METERED_MAX_REMOTE_PEERS, id);
    return;
  }
  peer = metered_remote_peer_new (session, session->context, id);
  METERED_SESSION_LOCK (session);
  g_hash_table_insert (
      session->peers, (gpointer) metered_remote_peer_get_id (peer), peer);
  old = fanout_replace (session);
  METERED_SESSION_UNLOCK (session);
  g_ptr_array_unref (old);

  GST_INFO ("peer %s joined", id);
  g_signal_emit (session, signals[SIGNAL_PEER_JOINED], 0, id, metadata);
  metered_remote_peer_connect (peer);
  early_directs_replay (session, id);
}

static void
peer_remove (MeteredSession *session, const char *id)
{
  MeteredRemotePeer *peer;
  GPtrArray *old = NULL;

  METERED_SESSION_LOCK (session);
  peer = g_hash_table_lookup (session->peers, id);
  if (peer) {
    g_hash_table_steal (session->peers, id);
    old = fanout_replace (session);
  }
  METERED_SESSION_UNLOCK (session);
  if (!peer)
    return;
  g_ptr_array_unref (old);
  GST_INFO ("peer %s left", id);
  g_signal_emit (session, signals[SIGNAL_PEER_LEFT], 0, id);
  metered_remote_peer_close (peer);
  g_object_unref (peer);
}

/* Presence says the peer is gone. One whose media still flows is kept
 * until that media stops (metered_remote_peer_linger()). */
static void
peer_gone (MeteredSession *session, const char *id)
{
  MeteredRemotePeer *peer = g_hash_table_lookup (session->peers, id);

  if (peer &&
      !metered_remote_peer_linger (peer, g_get_monotonic_time () / 1000))
    peer_remove (session, id);
}

/* The peers' liveness tick, once a second. */
static gboolean
check_liveness (gpointer data)
{
  MeteredSession *session = data;
  gint64 now_ms = g_get_monotonic_time () / 1000;
  g_autoptr (GList) ids = g_hash_table_get_keys (session->peers);

  for (GList *l = ids; l; l = l->next) {
    MeteredRemotePeer *peer = g_hash_table_lookup (session->peers, l->data);

    if (peer &&
        !metered_remote_peer_tick (peer, now_ms, session->dead_peer_timeout_ms))
      peer_remove (session, l->data);
  }
  /* A cut stalls the signalling socket too, and the restart offer that a
   * long cut needs travels on it: prove it alive while anyone is there. */
  if (g_hash_table_size (session->peers) &&
      !g_getenv ("METERED_NO_SIGNALLING_PROBE"))
    metered_signalling_client_probe (
        session->client, METERED_LIVENESS_DEAD_MS, METERED_LIVENESS_ATTEMPT_MS);
  return G_SOURCE_CONTINUE;
}

/* --- signalling events --- */

static void
on_presence (MeteredSignallingClient *client, const char *channel,
    GVariant *joined, GVariant *left, MeteredSession *session)
{
  GVariantIter iter;
  const char *id, *meta;
  gboolean snapshot = session->awaiting_snapshot;

  if (g_strcmp0 (channel, session->channel) != 0)
    return;
  session->awaiting_snapshot = FALSE;
  if (snapshot && session->state == METERED_SESSION_STATE_RECONNECTING)
    set_state (session, METERED_SESSION_STATE_JOINED);

  if (snapshot) {
    /* The reconcile snapshot: only its joined list counts (§8.9). */
    g_autoptr (GHashTable) present = g_hash_table_new (g_str_hash, g_str_equal);
    g_autoptr (GList) ids = NULL;

    g_variant_iter_init (&iter, joined);
    while (g_variant_iter_next (&iter, "(&sm&s)", &id, &meta))
      g_hash_table_add (present, (gpointer) id);
    ids = g_hash_table_get_keys (session->peers);
    for (GList *l = ids; l; l = l->next)
      if (!g_hash_table_contains (present, l->data))
        peer_gone (session, l->data);
  }

  /* Joined before left, as the SDK applies them. */
  g_variant_iter_init (&iter, joined);
  while (g_variant_iter_next (&iter, "(&sm&s)", &id, &meta)) {
    MeteredRemotePeer *peer;
    if (g_strcmp0 (id, session->local_id) == 0)
      continue;
    peer = g_hash_table_lookup (session->peers, id);
    if (!peer) {
      peer_add (session, id, meta);
    } else if (snapshot || metered_remote_peer_is_lingering (peer)) {
      /* A survivor of our own reconnect, or a peer that left and came
       * back: the far side rebuilt its connection to us (the SDK does on
       * every reconcile), so we start over too (§8.9). */
      metered_remote_peer_rejoin (peer);
    }
  }
  if (!snapshot) {
    g_variant_iter_init (&iter, left);
    while (g_variant_iter_next (&iter, "(&sm&s)", &id, &meta))
      peer_gone (session, id);
  }
}

/* A __meteredTrackMeta payload that passes the SDK's checks (§8.6). */
static gboolean
take_track_meta (RemotePeer *peer, JsonObject *obj)
{
  MeteredPeerPayload payload;
  g_autofree char *meta_text = NULL;

  if (metered_peer_payload_parse (obj, &payload) !=
      METERED_PEER_PAYLOAD_TRACK_META)
    return FALSE;
  if (payload.metadata)
    meta_text = json_to_string (payload.metadata, FALSE);
  store_track_meta (peer, payload.track_id, meta_text);
  return TRUE;
}

static void
handle_direct (MeteredSession *session, RemotePeer *peer, const char *from,
    const char *data)
{
  g_autoptr (JsonParser) parser = json_parser_new ();
  JsonNode *root;

  if (json_parser_load_from_data (parser, data, -1, NULL) &&
      (root = json_parser_get_root (parser)) && JSON_NODE_HOLDS_OBJECT (root)) {
    JsonObject *obj = json_node_get_object (root);
    if (metered_sdp_is_rtc_signal (obj)) {
      metered_remote_peer_handle_signal (peer, data);
      return;
    }
    if (json_object_has_member (obj, "__meteredTrackMeta") &&
        take_track_meta (peer, obj))
      return;
  }
  g_signal_emit (session, signals[SIGNAL_DATA], 0, from, data, "direct");
}

static void
on_direct (MeteredSignallingClient *client, const char *from, const char *data,
    const char *from_metadata, MeteredSession *session)
{
  RemotePeer *peer = g_hash_table_lookup (session->peers, from);

  /* The SDK drops directs from peers it does not know; an offer that
   * overtakes its sender's presence would then go unanswered until the
   * sender gives up on it. Kept a little while instead. */
  if (!peer) {
    early_directs_keep (session, from, data);
    return;
  }
  handle_direct (session, peer, from, data);
}

static void
on_message (MeteredSignallingClient *client, const char *channel,
    const char *from, const char *data, const char *from_metadata,
    MeteredSession *session)
{
  if (g_strcmp0 (channel, session->channel) == 0 &&
      g_strcmp0 (from, session->local_id) != 0)
    g_signal_emit (session, signals[SIGNAL_DATA], 0, from, data, "broadcast");
}

static void
on_subscribed (GObject *source, GAsyncResult *result, gpointer data)
{
  MeteredSession *session = data;
  g_autoptr (GError) error = NULL;

  if (!metered_signalling_client_subscribe_finish (
          session->client, result, &error)) {
    GST_WARNING ("joining %s failed: %s", session->channel, error->message);
    /* A credential without this channel: retrying cannot help, so say it
     * once, as the 4003 close would (§10 rule 16). */
    if (g_error_matches (error, METERED_SERVER_ERROR,
            METERED_SERVER_ERROR_CHANNEL_NOT_AUTHORIZED)) {
      g_signal_emit (session, signals[SIGNAL_FATAL], 0,
          METERED_CLOSE_CHANNEL_NOT_AUTHORIZED, error->message);
      emit_error (session, METERED_ERR_CHANNEL_NOT_AUTHORIZED, error->message);
    }
  } else {
    session->subscribed = TRUE;
    set_state (session, METERED_SESSION_STATE_JOINED);
    g_signal_emit (session, signals[SIGNAL_JOINED], 0);
  }
  g_object_unref (session);
}

static void
on_disconnected (MeteredSignallingClient *client, int code, const char *reason,
    gboolean will_reconnect, MeteredSession *session)
{
  const char *name = metered_close_code_error_name (code);

  if (will_reconnect) {
    if (session->state == METERED_SESSION_STATE_JOINED)
      set_state (session, METERED_SESSION_STATE_RECONNECTING);
    return;
  }
  if (name && session->started)
    emit_error (session, name, reason);
}

/* Uncorrelated server errors MeteredPeer escalates (§8.11). */
static void
on_server_error (MeteredSignallingClient *client, const char *code,
    const char *request_id, const char *message, MeteredSession *session)
{
  if (metered_error_code_is_fatal_uncorrelated (code))
    emit_error (session, code, message);
}

static void
on_connected (MeteredSignallingClient *client, const char *peer_id,
    double server_time, gint64 expires_at, gboolean is_reconnect,
    gint64 max_message_size, GVariant *ice_servers, MeteredSession *session)
{
  g_free (session->local_id);
  session->local_id = g_strdup (peer_id);
  take_welcome_ice_servers (session, ice_servers);
  /* The next presence of the channel is the (reconcile) snapshot; the
   * client replays the subscription after a reconnect by itself. */
  session->awaiting_snapshot = TRUE;
  if (!is_reconnect || !session->subscribed)
    metered_signalling_client_subscribe_async (client, session->channel, FALSE,
        NULL, on_subscribed, g_object_ref (session));
}

static void on_connect_done (
    GObject *source, GAsyncResult *result, gpointer data);

static gboolean
retry_connect (gpointer data)
{
  MeteredSession *session = data;

  g_clear_pointer (&session->retry_source, g_source_unref);
  if (session->started)
    metered_signalling_client_connect_async (
        session->client, NULL, on_connect_done, g_object_ref (session));
  return G_SOURCE_REMOVE;
}

/* The SDK gives up when the very first connect fails; a pipeline that
 * starts while the server is down must not: the first connect is retried
 * with the client's backoff curve, unless the close was terminal. */
static void
on_connect_done (GObject *source, GAsyncResult *result, gpointer data)
{
  MeteredSession *session = data;
  g_autoptr (GError) error = NULL;
  g_autoptr (GVariant) stats = NULL;
  MeteredBackoffConfig backoff = METERED_BACKOFF_CONFIG_DEFAULT;
  gint32 code = 0;
  gint64 delay;
  guint initial, max_delay;

  if (metered_signalling_client_connect_finish (
          METERED_SIGNALLING_CLIENT (source), result, &error) ||
      !session->started) {
    session->connect_attempts = 0;
    g_object_unref (session);
    return;
  }
  stats = metered_signalling_client_get_stats (session->client);
  g_variant_lookup (stats, "last-close-code", "i", &code);
  g_object_get (session->client, "reconnect-initial-delay", &initial,
      "reconnect-max-delay", &max_delay, "reconnect-max-attempts",
      &backoff.max_attempts, NULL);
  backoff.initial_delay_ms = initial;
  backoff.max_delay_ms = max_delay;
  if (metered_close_code_policy (code) == METERED_RETRY_TERMINAL ||
      !metered_backoff_may_retry (&backoff, session->connect_attempts)) {
    GST_WARNING ("connect failed for good: %s", error->message);
    g_signal_emit (session, signals[SIGNAL_FATAL], 0, code, error->message);
    if (metered_close_code_error_name (code))
      emit_error (
          session, metered_close_code_error_name (code), error->message);
    set_state (session, METERED_SESSION_STATE_CLOSED);
    g_object_unref (session);
    return;
  }
  session->connect_attempts++;
  delay = metered_backoff_delay_ms (&backoff, session->connect_attempts,
      code == METERED_CLOSE_OVER_CONCURRENT_LIMIT
          ? METERED_SLOW_BACKOFF_FLOOR_MS
          : 0,
      NULL, NULL);
  GST_INFO ("connect failed (%s): attempt %u in %" G_GINT64_FORMAT " ms",
      error->message, session->connect_attempts, delay);
  session->retry_source = g_timeout_source_new (MIN (delay, G_MAXUINT));
  g_source_set_callback (session->retry_source, retry_connect, session, NULL);
  g_source_attach (session->retry_source, session->context);
  g_object_unref (session);
}

/* --- local network changes --- */

/* A burst of changes settles after this long (an address removed and a
 * new one added a second later give two recoveries: the first finds no
 * route, the second connects at once instead of after the backoff). */
#define NETWORK_DEBOUNCE_MS 500

/* How many peers func returns TRUE for, calling it on each. */
static guint
count_peers (MeteredSession *session, gboolean (*func) (MeteredRemotePeer *))
{
  GHashTableIter iter;
  gpointer peer;
  guint n = 0;

  g_hash_table_iter_init (&iter, session->peers);
  while (g_hash_table_iter_next (&iter, NULL, &peer))
    n += func (peer) ? 1 : 0;
  return n;
}

static guint
count_address_gone (MeteredSession *session)
{
  return count_peers (session, metered_remote_peer_local_address_gone);
}

/* Peers whose selected path used a local address that is gone, while
 * another one is up: each recovers on its own (an ICE restart), and the
 * others keep their connection untouched. Never inside a GST_INFO ():
 * without debug output its arguments are not evaluated. */
static guint
recover_paths_gone (MeteredSession *session)
{
  return count_peers (session, metered_remote_peer_network_changed);
}

static guint
count_path_gone (MeteredSession *session)
{
  return count_peers (session, metered_remote_peer_path_address_gone);
}

void
metered_session_network_changed (MeteredSession *session, const char *reason)
{
  if (!session->started)
    return;
  if (metered_signalling_client_local_address_stands (session->client) &&
      count_address_gone (session) == 0 &&
      !g_getenv ("METERED_NO_PATH_RECOVERY")) {
    /* Its address is still ours and every peer has a local address left
     * for a restart: a reconnect would only make the far sides rebuild
     * every connection on our left and joined. (A peer with none needs a
     * fresh connection, which a browser accepts only once it rebuilt:
     * that takes the reconnect below.) */
    guint n = recover_paths_gone (session);

    GST_INFO ("network changed (%s): signalling stands; %u of %u peer "
              "path(s) lost their local address: recovering those only",
        reason, n, g_hash_table_size (session->peers));
    return;
  }
  GST_INFO ("network changed (%s): reconnecting signalling; %u of %u "
            "peer connection(s) lost their local address",
      reason, count_address_gone (session), g_hash_table_size (session->peers));
  /* Its reconcile swaps every surviving peer (on_presence): the far
   * side rebuilds too when it sees us leave and join. */
  metered_signalling_client_reconnect (session->client, reason);
}

/* The monitor's change, settled: recover only when something of ours
 * broke, so that a change elsewhere on the host (a container's veth, a
 * VPN route) leaves healthy connections and a first connect alone. */
static gboolean
on_network_settled (gpointer data)
{
  MeteredSession *session = data;
  MeteredClientState state =
      metered_signalling_client_get_state (session->client);

  if (state == METERED_CLIENT_STATE_RECONNECTING) {
    /* The new address may be the one that works: no more backoff. */
    GST_INFO ("network changed while reconnecting: retrying now");
    metered_signalling_client_reconnect_now (session->client);
  } else if (state == METERED_CLIENT_STATE_CONNECTED) {
    /* Each asks the interfaces (getifaddrs) for every peer: once each. */
    guint address_gone = count_address_gone (session);
    guint path_gone =
        g_getenv ("METERED_NO_PATH_RECOVERY") ? 0 : count_path_gone (session);
    gboolean signalling_gone =
        metered_signalling_client_local_address_gone (session->client);

    if (address_gone == 0 && !signalling_gone && path_gone > 0) {
      /* Only some paths used the address that went, and the box has
       * another; signalling stands: no reconnect, whose reconcile would
       * swap every peer (the far side rebuilds when it sees us leave). */
      guint n = recover_paths_gone (session);

      GST_INFO ("network changed: %u of %u peer path(s) lost their local "
                "address: recovering those only",
          n, g_hash_table_size (session->peers));
    } else if (address_gone > 0 || (path_gone > 0 && signalling_gone)) {
      /* Fresh connections made now would gather nothing and, unconnected,
       * be swapped again later toward a browser that has already rebuilt
       * (which refuses that offer). Wait for an address: the next change
       * brings us back here, and the same address coming back needs
       * nothing at all (the old sockets work again). */
      if (metered_network_host_has_address ())
        metered_session_network_changed (session, "network changed (monitor)");
      else
        GST_INFO ("network changed: our address is gone and no other is up "
                  "yet: waiting for one");
    } else {
      GST_DEBUG ("network changed: our socket and paths still stand");
    }
  } else {
    GST_DEBUG ("network changed: not connected, nothing to recover");
  }
  return G_SOURCE_REMOVE;
}

void
metered_session_set_watch_network (MeteredSession *session, gboolean watch)
{
  session->watch_network = watch;
}

/* --- public API --- */

void
metered_session_start (MeteredSession *session)
{
  MeteredClientState state;

  if (session->started)
    return;
  session->started = TRUE;
  set_state (session, METERED_SESSION_STATE_JOINING);
  session->liveness_source = g_timeout_source_new (1000);
  g_source_set_callback (
      session->liveness_source, check_liveness, session, NULL);
  g_source_attach (session->liveness_source, session->context);
  /* METERED_NO_WATCH_NETWORK: the behaviour before, for bench/. */
  if (session->watch_network && !g_getenv ("METERED_NO_WATCH_NETWORK"))
    session->network_watch = metered_network_watch_new (
        session->context, NETWORK_DEBOUNCE_MS, on_network_settled, session);
  g_signal_connect (
      session->client, "connected", G_CALLBACK (on_connected), session);
  g_signal_connect (
      session->client, "disconnected", G_CALLBACK (on_disconnected), session);
  g_signal_connect (
      session->client, "server-error", G_CALLBACK (on_server_error), session);
  g_signal_connect (
      session->client, "presence", G_CALLBACK (on_presence), session);
  g_signal_connect (session->client, "direct", G_CALLBACK (on_direct), session);
  g_signal_connect (
      session->client, "message", G_CALLBACK (on_message), session);
  state = metered_signalling_client_get_state (session->client);
  if (state == METERED_CLIENT_STATE_IDLE ||
      state == METERED_CLIENT_STATE_CLOSED) {
    metered_signalling_client_connect_async (
        session->client, NULL, on_connect_done, g_object_ref (session));
  } else if (state == METERED_CLIENT_STATE_CONNECTED) {
    g_autofree char *id =
        metered_signalling_client_dup_peer_id (session->client);
    on_connected (session->client, id, 0, -1, FALSE,
        METERED_DEFAULT_MAX_MESSAGE_SIZE, NULL, session);
  }
}

void
metered_session_stop (MeteredSession *session)
{
  g_autoptr (GList) ids = NULL;

  if (!session->started)
    return;
  session->started = FALSE;
  set_state (session, METERED_SESSION_STATE_CLOSED);
  if (session->retry_source) {
    g_source_destroy (session->retry_source);
    g_clear_pointer (&session->retry_source, g_source_unref);
  }
  if (session->liveness_source) {
    g_source_destroy (session->liveness_source);
    g_clear_pointer (&session->liveness_source, g_source_unref);
  }
  g_clear_pointer (&session->network_watch, metered_network_watch_free);
  g_signal_handlers_disconnect_by_data (session->client, session);
  early_directs_clear (session);
  ids = g_hash_table_get_keys (session->peers);
  for (GList *l = ids; l; l = l->next)
    peer_remove (session, l->data);
  metered_signalling_client_close (
      session->client, METERED_CLOSE_NORMAL, "client requested close");
}

void
metered_session_push (
    MeteredSession *session, const char *track_id, GstBuffer *buffer)
{
  GPtrArray *fanout;

  fanout = fanout_get (session);
  for (guint i = 0; i < fanout->len; i++)
    metered_remote_peer_push (g_ptr_array_index (fanout, i), track_id, buffer);
  g_ptr_array_unref (fanout);
}

void
metered_session_add_local_track (MeteredSession *session,
    const MeteredLocalTrack *track, const char *metadata_json)
{
  g_ptr_array_add (session->local_tracks, metered_local_track_copy (track));
  if (metadata_json)
    g_hash_table_insert (session->local_metadata, g_strdup (track->track_id),
        g_strdup (metadata_json));
}

void
metered_session_set_receive (MeteredSession *session, gboolean receive)
{
  session->receive = receive;
}

void
metered_session_set_receive_codecs (
    MeteredSession *session, const char *const *codecs)
{
  g_strfreev (session->receive_codecs);
  session->receive_codecs = g_strdupv ((GStrv) codecs);
}

void
metered_session_set_clock (
    MeteredSession *session, GstClock *clock, GstClockTime base_time)
{
  gst_object_replace ((GstObject **) &session->clock, (GstObject *) clock);
  session->base_time = base_time;
}

void
metered_session_set_ice_servers (MeteredSession *session,
    const char *stun_server, const char *const *turn_servers)
{
  g_free (session->stun_server);
  session->stun_server = g_strdup (stun_server);
  g_strfreev (session->turn_servers);
  session->turn_servers = g_strdupv ((GStrv) turn_servers);
}

void
metered_session_set_sample_func (MeteredSession *session,
    MeteredSessionSampleFunc func, gpointer user_data, GDestroyNotify destroy)
{
  if (session->sample_destroy)
    session->sample_destroy (session->sample_data);
  session->sample_func = func;
  session->sample_data = user_data;
  session->sample_destroy = destroy;
}

static void
on_data_sent (GObject *source, GAsyncResult *result, gpointer data)
{
  MeteredSignallingClient *client = METERED_SIGNALLING_CLIENT (source);
  g_autoptr (GError) error = NULL;
  gboolean broadcast = GPOINTER_TO_INT (data);
  gboolean ok =
      broadcast
          ? metered_signalling_client_publish_finish (client, result, &error)
          : metered_signalling_client_send_finish (client, result, &error);

  if (!ok)
    GST_WARNING ("application data not delivered: %s", error->message);
}

gboolean
metered_session_send_data (MeteredSession *session, const char *peer_id,
    const char *json, GError **error)
{
  if (!json ||
      !metered_json_validate (json, strlen (json), METERED_JSON_MAX_DEPTH)) {
    g_set_error (error, METERED_CLIENT_ERROR,
        METERED_CLIENT_ERROR_INVALID_ARGUMENT, "data is not valid JSON");
    return FALSE;
  }
  /* Bare values, no envelope, as the SDK's peer.send / sendTo (§8.8);
   * queued by the client while reconnecting. */
  if (peer_id)
    metered_signalling_client_send_async (session->client, peer_id, json, NULL,
        on_data_sent, GINT_TO_POINTER (FALSE));
  else
    metered_signalling_client_publish_async (session->client, session->channel,
        json, NULL, on_data_sent, GINT_TO_POINTER (TRUE));
  return TRUE;
}

MeteredSessionState
metered_session_get_state (MeteredSession *session)
{
  return session->state;
}

MeteredRemotePeer *
metered_session_dup_peer (MeteredSession *session, const char *peer_id)
{
  MeteredRemotePeer *peer;

  METERED_SESSION_LOCK (session);
  peer = g_hash_table_lookup (session->peers, peer_id);
  if (peer)
    g_object_ref (peer);
  METERED_SESSION_UNLOCK (session);
  return peer;
}

void
metered_session_set_receive_latency (MeteredSession *session, guint ms)
{
  session->receive_latency_ms = ms;
}

void
metered_session_set_dead_peer_timeout (MeteredSession *session, guint ms)
{
  session->dead_peer_timeout_ms = MAX (ms, 1000);
}

void
metered_session_request_key_unit (
    MeteredSession *session, const char *peer_id, const char *track_id)
{
  MeteredRemotePeer *peer = metered_session_dup_peer (session, peer_id);

  if (peer) {
    metered_remote_peer_request_key_unit (peer, track_id);
    g_object_unref (peer);
  }
}

guint
metered_session_count_peers (MeteredSession *session)
{
  guint n;

  METERED_SESSION_LOCK (session);
  n = g_hash_table_size (session->peers);
  METERED_SESSION_UNLOCK (session);
  return n;
}

void
metered_session_set_layer_cap (MeteredSession *session, const char *peer_id,
    const char *track_id, gint cap, gboolean keyframes_only)
{
  GPtrArray *fanout;

  fanout = fanout_get (session);
  for (guint i = 0; i < fanout->len; i++) {
    MeteredRemotePeer *peer = g_ptr_array_index (fanout, i);
    if (!peer_id || g_str_equal (metered_remote_peer_get_id (peer), peer_id))
      metered_remote_peer_set_layer_cap (peer, track_id, cap, keyframes_only);
  }
  g_ptr_array_unref (fanout);
}

GVariant *
metered_session_get_peer_stats (MeteredSession *session)
{
  GVariantBuilder b;
  GPtrArray *fanout;

  fanout = fanout_get (session);
  g_variant_builder_init (&b, G_VARIANT_TYPE ("a{sa{sv}}"));
  for (guint i = 0; i < fanout->len; i++) {
    MeteredRemotePeer *peer = g_ptr_array_index (fanout, i);
    g_variant_builder_add (&b, "{s@a{sv}}", metered_remote_peer_get_id (peer),
        metered_remote_peer_get_stats (peer));
  }
  g_ptr_array_unref (fanout);
  return g_variant_builder_end (&b);
}

GHashTable *
metered_session_take_twcc_feedback (MeteredSession *session)
{
  GHashTable *out = g_hash_table_new_full (g_str_hash, g_str_equal, g_free,
      (GDestroyNotify) metered_twcc_feedback_take_free);
  GPtrArray *fanout;

  fanout = fanout_get (session);
  for (guint i = 0; i < fanout->len; i++) {
    MeteredRemotePeer *peer = g_ptr_array_index (fanout, i);
    MeteredTwccTake *take = g_new0 (MeteredTwccTake, 1);

    take->feedback =
        metered_remote_peer_take_twcc_feedback (peer, &take->received);
    g_hash_table_insert (
        out, g_strdup (metered_remote_peer_get_id (peer)), take);
  }
  g_ptr_array_unref (fanout);
  return out;
}

static void
metered_session_dispose (GObject *object)
{
  MeteredSession *session = METERED_SESSION (object);

  metered_session_stop (session);
  G_OBJECT_CLASS (metered_session_parent_class)->dispose (object);
}

static void
metered_session_finalize (GObject *object)
{
  MeteredSession *session = METERED_SESSION (object);

  if (session->sample_destroy)
    session->sample_destroy (session->sample_data);
  early_directs_clear (session);
  g_hash_table_unref (session->peers);
  g_ptr_array_unref (session->fanout);
  g_ptr_array_unref (session->local_tracks);
  g_hash_table_unref (session->local_metadata);
  g_object_unref (session->client);
  g_main_context_unref (session->context);
  gst_clear_object (&session->clock);
  g_free (session->channel);
  g_free (session->local_id);
  g_free (session->stun_server);
  g_strfreev (session->turn_servers);
  g_free (session->welcome_stun);
  g_strfreev (session->welcome_turns);
  g_strfreev (session->receive_codecs);
  g_mutex_clear (&session->lock);
  G_OBJECT_CLASS (metered_session_parent_class)->finalize (object);
}

static void
metered_session_class_init (MeteredSessionClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->dispose = metered_session_dispose;
  object_class->finalize = metered_session_finalize;
  GST_DEBUG_CATEGORY_INIT (
      metered_session_debug, "metered-session", 0, "Metered channel sessions");

  signals[SIGNAL_PEER_JOINED] =
      g_signal_new ("peer-joined", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST,
          0, NULL, NULL, NULL, G_TYPE_NONE, 2, G_TYPE_STRING, G_TYPE_STRING);
  signals[SIGNAL_PEER_LEFT] =
      g_signal_new ("peer-left", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST,
          0, NULL, NULL, NULL, G_TYPE_NONE, 1, G_TYPE_STRING);
  /* peer id, kind, stream id, track id, metadata JSON (nullable) */
  signals[SIGNAL_REMOTE_TRACK] =
      g_signal_new ("remote-track", G_TYPE_FROM_CLASS (klass),
          G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL, G_TYPE_NONE, 5, G_TYPE_STRING,
          G_TYPE_STRING, G_TYPE_STRING, G_TYPE_STRING, G_TYPE_STRING);
  signals[SIGNAL_CONNECTION_SWAPPED] = g_signal_new ("connection-swapped",
      G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL,
      G_TYPE_NONE, 1, G_TYPE_STRING);
  /* peer id, kind: from the next sample on, that kind of the peer's media
   * comes from its new connection (streaming thread). */
  signals[SIGNAL_MEDIA_SWITCHED] = g_signal_new ("media-switched",
      G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL,
      G_TYPE_NONE, 2, G_TYPE_STRING, G_TYPE_STRING);
  signals[SIGNAL_KEY_UNIT_REQUEST] = g_signal_new ("key-unit-request",
      G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL,
      G_TYPE_NONE, 1, G_TYPE_STRING);
  /* peer id, track id (NULL: every local track), connected: the same
   * requests as key-unit-request with who asked, so that an owner can
   * budget them per viewer; connected is TRUE for a viewer whose
   * connection just came up, FALSE for its PLI/FIR. */
  signals[SIGNAL_VIEWER_KEY_UNIT_REQUEST] =
      g_signal_new ("viewer-key-unit-request", G_TYPE_FROM_CLASS (klass),
          G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL, G_TYPE_NONE, 3, G_TYPE_STRING,
          G_TYPE_STRING, G_TYPE_BOOLEAN);
  /* from, data JSON, "broadcast" or "direct" */
  signals[SIGNAL_DATA] = g_signal_new ("data", G_TYPE_FROM_CLASS (klass),
      G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL, G_TYPE_NONE, 3, G_TYPE_STRING,
      G_TYPE_STRING, G_TYPE_STRING);
  signals[SIGNAL_JOINED] = g_signal_new ("joined", G_TYPE_FROM_CLASS (klass),
      G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL, G_TYPE_NONE, 0);
  /* peer id: nine fresh connections in a row failed (the SDK's
   * IceRestartExhaustedError); the peer stays until presence ends it */
  signals[SIGNAL_RECOVERY_EXHAUSTED] = g_signal_new ("recovery-exhausted",
      G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL,
      G_TYPE_NONE, 1, G_TYPE_STRING);
  /* peer id, initiator ("local": ours, on a silent media path; "remote":
   * its restart offer): an ICE restart on the current connection, same
   * DTLS session (metered-ice-restart.h) */
  signals[SIGNAL_ICE_RESTART] =
      g_signal_new ("ice-restart", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST,
          0, NULL, NULL, NULL, G_TYPE_NONE, 2, G_TYPE_STRING, G_TYPE_STRING);
  /* from, to (MeteredSessionState) */
  signals[SIGNAL_STATE_CHANGED] = g_signal_new ("state-changed",
      G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL,
      G_TYPE_NONE, 2, METERED_TYPE_SESSION_STATE, METERED_TYPE_SESSION_STATE);
  /* name (the SDK's err.name: invalid_token, token_expired,
   * channel_not_authorized, account_suspended, admin_disconnect,
   * action_not_permitted, IceRestartExhaustedError), message */
  signals[SIGNAL_ERROR] =
      g_signal_new ("error", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0,
          NULL, NULL, NULL, G_TYPE_NONE, 2, G_TYPE_STRING, G_TYPE_STRING);
  /* close code (0 if none), message: the first connect failed for good */
  signals[SIGNAL_FATAL] =
      g_signal_new ("fatal", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0,
          NULL, NULL, NULL, G_TYPE_NONE, 2, G_TYPE_INT, G_TYPE_STRING);
}

static void
metered_session_init (MeteredSession *session)
{
  g_mutex_init (&session->lock);
  /* Keys are the peers' own ids: a peer is stolen before it goes. */
  session->peers =
      g_hash_table_new_full (g_str_hash, g_str_equal, NULL, g_object_unref);
  session->fanout = g_ptr_array_new_with_free_func (g_object_unref);
  session->local_tracks = g_ptr_array_new_with_free_func (
      (GDestroyNotify) metered_local_track_free);
  session->local_metadata =
      g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  session->receive = TRUE;
  session->dead_peer_timeout_ms = 10000;
  session->watch_network = TRUE;
}

MeteredSession *
metered_session_new (MeteredSignallingClient *client, const char *channel)
{
  MeteredSession *session = g_object_new (METERED_TYPE_SESSION, NULL);

  session->client = g_object_ref (client);
  session->context =
      g_main_context_ref (metered_signalling_client_get_context (client));
  session->channel = g_strdup (channel);
  return session;
}
