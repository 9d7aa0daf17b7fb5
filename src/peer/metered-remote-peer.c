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

/*
 * A remote peer of a channel and everything it does on its own: its
 * connection (and, during a swap, the old one that drains), the recovery
 * ladder, the make-before-break routing of received media
 * (metered-handover.c decides; this file applies), and the media liveness
 * tick. The session (metered-session.c) keeps the channel: presence,
 * reconcile, routing directs here, and fanning local media out.
 *
 *   local media (any thread)                   received media (streaming)
 *
 *   metered_remote_peer_push --+--> conn ---------+
 *                               \                  +--> on_conn_sample
 *                                +--> draining ---+     metered-handover:
 *                                     (the old one        forward or drop,
 *                                     until conn          per kind
 *                                     carries media)          |
 *                                                             v
 *                                            the session's sample function
 */

#include "peer/metered-remote-peer.h"

#include "peer/metered-handover.h"
#include "peer/metered-ice-restart.h"
#include "peer/metered-session.h"
#include "protocol/metered-limits.h"

#include <gst/webrtc/webrtc.h>

/* The peer's story (connects, swaps, recoveries) is the session's: one
 * category, GST_DEBUG=metered-session:5 as the docs say. */
GST_DEBUG_CATEGORY_EXTERN (metered_session_debug);
#define GST_CAT_DEFAULT metered_session_debug

/* The recovery ladder: a fresh connection after these many seconds, as
 * the SDK's ICE restarts (attempts 1..9). */
static const guint recover_ladder_s[] = { 0, 1, 2, 4, 8, 16, 30, 30, 30 };

/* Fields without a lock named are the context thread's. */
struct _MeteredRemotePeer
{
  GObject parent;

  MeteredSession *session; /* not owned: it stops us before it goes */
  GMainContext *context;
  char *id;
  MeteredRemotePeerState state;
  GHashTable *track_meta; /* trackId -> metadata JSON */
  GQueue track_meta_order; /* trackIds, oldest first (FIFO cap 512) */

  /* METERED_REMOTE_PEER_LOCK guards the connections against push() and
   * request_key_unit() from other threads, their routing state against
   * the connections' streaming threads (on_conn_sample), and swaps
   * against stats. Changed on the context thread only, so that thread
   * reads them without it. Taken inside a connection's
   * METERED_CONNECTION_SAMPLE_LOCK (the sample callback runs under it):
   * never call into a connection while holding it. */
  GMutex lock;
  MeteredConnection *conn; /* the newest connection */
  /* A connected connection that a swap replaced keeps carrying media
   * (both ways) until the new one took over (make-before-break). */
  MeteredConnection *draining;
  MeteredHandover handover; /* generations of conn and draining */
  guint swaps;
  /* ICE restarts by initiator, and which recovery brought the media back
   * (METERED_REMOTE_PEER_LOCK, for stats). */
  guint ice_restarts_local;
  guint ice_restarts_remote;
  guint recovered_by_restart;
  guint recovered_by_swap;

  /* Media liveness (webrtcbin 1.22 has no consent freshness). */
  guint64 rx_count;
  gint64 rx_progress_ms; /* when rx_count last grew */
  gboolean ever_received;
  /* Gone from presence but still carrying media: kept until its media
   * stops for dead-peer-timeout or it comes back. */
  gboolean lingering;
  /* Our own recovery ladder (the SDK's ICE-restart timing). */
  guint recover_attempts;
  GSource *recover_source;
  gboolean recover_exhausted;
  /* The episode the ladder is recovering from (metered-handover.h):
   * silence noticed (when), the path dead for good, the strongest action
   * taken so far (WAIT: none yet). */
  gboolean silent;
  guint64 silent_rx; /* rx_count when the silence was noticed */
  gboolean path_dead;
  MeteredRecovery recovery;
  gboolean restart_failed; /* ICE cannot restart here: swaps only */
  gboolean established; /* the current connection reached connected */
  /* A restart (either side's) whose outcome is not known yet: the peer
   * shows reconnecting until media (or, sending only, connected) again. */
  gboolean restart_pending;
  gint64 restart_started_ms;
  guint64 restart_rx; /* rx_count when it started */
};

#define METERED_REMOTE_PEER_LOCK(peer) g_mutex_lock (&(peer)->lock)
#define METERED_REMOTE_PEER_UNLOCK(peer) g_mutex_unlock (&(peer)->lock)

enum
{
  PROP_0,
  PROP_ID,
  PROP_STATE,
  N_PROPS
};

enum
{
  SIGNAL_STATE_CHANGED,
  SIGNAL_CONNECTION_RESET,
  N_SIGNALS
};

static GParamSpec *props[N_PROPS];
static guint signals[N_SIGNALS];

G_DEFINE_FINAL_TYPE (MeteredRemotePeer, metered_remote_peer, G_TYPE_OBJECT)

static void peer_connect (MeteredRemotePeer *peer, const char *first_payload);

GType
metered_remote_peer_state_get_type (void)
{
  static gsize type = 0;
  static const GEnumValue values[] = { { METERED_REMOTE_PEER_STATE_IDLE,
                                           "METERED_REMOTE_PEER_STATE_IDLE",
                                           "idle" },
    { METERED_REMOTE_PEER_STATE_CONNECTING,
        "METERED_REMOTE_PEER_STATE_CONNECTING", "connecting" },
    { METERED_REMOTE_PEER_STATE_CONNECTED,
        "METERED_REMOTE_PEER_STATE_CONNECTED", "connected" },
    { METERED_REMOTE_PEER_STATE_RECONNECTING,
        "METERED_REMOTE_PEER_STATE_RECONNECTING", "reconnecting" },
    { METERED_REMOTE_PEER_STATE_CLOSED, "METERED_REMOTE_PEER_STATE_CLOSED",
        "closed" },
    { 0, NULL, NULL } };

  if (g_once_init_enter (&type))
    g_once_init_leave (
        &type, g_enum_register_static ("MeteredRemotePeerState", values));
  return type;
}

const char *
metered_remote_peer_state_to_string (MeteredRemotePeerState s)
{
  static const char *const names[] = { "idle", "connecting", "connected",
    "reconnecting", "closed" };

  return (guint) s < G_N_ELEMENTS (names) ? names[s] : "invalid";
}

/* --- the SDK's RemotePeer state --- */

static void
peer_set_state (MeteredRemotePeer *peer, MeteredRemotePeerState state)
{
  MeteredRemotePeerState from = peer->state;

  if (from == state || from == METERED_REMOTE_PEER_STATE_CLOSED)
    return;
  peer->state = state;
  g_object_notify_by_pspec (G_OBJECT (peer), props[PROP_STATE]);
  g_signal_emit (peer, signals[SIGNAL_STATE_CHANGED], 0, from, state);
}

/* A new connection replaces the old one: reconnecting (unless the peer
 * never connected), then connection-reset. */
static void
peer_reset (MeteredRemotePeer *peer)
{
  if (peer->state == METERED_REMOTE_PEER_STATE_CONNECTED)
    peer_set_state (peer, METERED_REMOTE_PEER_STATE_RECONNECTING);
  g_signal_emit (peer, signals[SIGNAL_CONNECTION_RESET], 0);
}

/* Maps a webrtcbin connection state onto the peer's state. */
static void
peer_connection_state (
    MeteredRemotePeer *peer, GstWebRTCPeerConnectionState state)
{
  switch (state) {
    case GST_WEBRTC_PEER_CONNECTION_STATE_NEW:
    case GST_WEBRTC_PEER_CONNECTION_STATE_CONNECTING:
      /* A replacement's connecting hop stays hidden behind reconnecting. */
      if (peer->state == METERED_REMOTE_PEER_STATE_IDLE)
        peer_set_state (peer, METERED_REMOTE_PEER_STATE_CONNECTING);
      break;
    case GST_WEBRTC_PEER_CONNECTION_STATE_CONNECTED:
      peer_set_state (peer, METERED_REMOTE_PEER_STATE_CONNECTED);
      break;
    case GST_WEBRTC_PEER_CONNECTION_STATE_DISCONNECTED:
    case GST_WEBRTC_PEER_CONNECTION_STATE_FAILED:
      if (peer->state != METERED_REMOTE_PEER_STATE_IDLE)
        peer_set_state (peer, METERED_REMOTE_PEER_STATE_RECONNECTING);
      break;
    case GST_WEBRTC_PEER_CONNECTION_STATE_CLOSED:
    default:
      /* Only the session closes the peer itself. */
      break;
  }
}

/* --- the connection's events (context thread) --- */

static void
on_conn_outgoing (
    MeteredConnection *conn, const char *payload, MeteredRemotePeer *peer)
{
  metered_session_send_to (peer->session, peer->id, payload);
}

static void
on_conn_remote_track (
    MeteredConnection *conn, MeteredRemoteTrack *track, MeteredRemotePeer *peer)
{
  const char *meta =
      track->track_id ? g_hash_table_lookup (peer->track_meta, track->track_id)
                      : NULL;

  GST_INFO ("remote track from %s: %s stream=%s track=%s", peer->id,
      track->kind, track->stream_id, track->track_id);
  g_signal_emit_by_name (peer->session, "remote-track", peer->id, track->kind,
      track->stream_id, track->track_id, meta);
}

static void
on_conn_key_unit (
    MeteredConnection *conn, const char *track_id, MeteredRemotePeer *peer)
{
  g_signal_emit_by_name (peer->session, "key-unit-request", track_id);
  g_signal_emit_by_name (
      peer->session, "viewer-key-unit-request", peer->id, track_id, FALSE);
}

/* --- swaps and the recovery ladder --- */

/* A fresh connection in place of the current one (connection-swapped). */
static void
peer_swap (MeteredRemotePeer *peer, const char *first_payload)
{
  METERED_REMOTE_PEER_LOCK (peer);
  peer->swaps++;
  METERED_REMOTE_PEER_UNLOCK (peer);
  peer_connect (peer, first_payload);
  g_signal_emit_by_name (peer->session, "connection-swapped", peer->id);
}

static void peer_recover (MeteredRemotePeer *peer, const char *why);

/* One rung of the ladder: a restart, a swap, or waiting for the next
 * rung (metered_handover_recovery () decides). */
static gboolean
recover_due (gpointer data)
{
  MeteredRemotePeer *peer = data;
  MeteredRecoveryFacts f = { 0 };
  MeteredRecovery action;

  g_clear_pointer (&peer->recover_source, g_source_unref);
  f.attempt = peer->recover_attempts - 1;
  f.established = peer->established && !peer->lingering;
  f.polite = metered_session_is_polite_to (peer->session, peer->id);
  f.restart_possible =
      !peer->restart_failed && !g_getenv ("METERED_NO_ICE_RESTART");
  f.dead = peer->path_dead;
  if (peer->conn) {
    f.negotiating = metered_connection_is_negotiating (peer->conn);
    f.address_gone = metered_connection_local_address_gone (peer->conn);
    /* METERED_NO_PATH_RECOVERY: the behaviour before, for bench/. */
    f.path_gone = !g_getenv ("METERED_NO_PATH_RECOVERY") &&
                  metered_connection_selected_address_gone (peer->conn);
  }
  action = metered_handover_recovery (&f);
  GST_INFO ("peer %s: recovery %u: %s (established %d polite %d dead %d "
            "negotiating %d address gone %d)",
      peer->id, peer->recover_attempts, metered_recovery_to_string (action),
      f.established, f.polite, f.dead, f.negotiating, f.address_gone);
  if (action == METERED_RECOVERY_RESTART &&
      !metered_connection_restart_ice (peer->conn)) {
    if (!f.negotiating)
      peer->restart_failed = TRUE;
    action = METERED_RECOVERY_WAIT;
  }
  if (action == METERED_RECOVERY_SWAP) {
    peer->recovery = METERED_RECOVERY_SWAP;
    peer_swap (peer, NULL);
    return G_SOURCE_REMOVE;
  }
  if (action == METERED_RECOVERY_RESTART)
    peer->recovery = METERED_RECOVERY_RESTART;
  /* Restarting or waiting: the next rung decides again, until the media
   * comes back (metered_remote_peer_tick () stops the ladder). */
  peer_recover (peer, "still no media");
  return G_SOURCE_REMOVE;
}

static void
cancel_recovery (MeteredRemotePeer *peer)
{
  if (peer->recover_source) {
    g_source_destroy (peer->recover_source);
    g_clear_pointer (&peer->recover_source, g_source_unref);
  }
}

/* A failed or silent media path is recovered on the SDK's ladder: an ICE
 * restart on the current connection or a fresh webrtcbin and a full
 * negotiation, as recover_due () decides each rung. */
static void
peer_recover (MeteredRemotePeer *peer, const char *why)
{
  guint delay_s;

  if (peer->recover_source || peer->recover_exhausted)
    return;
  if (peer->recover_attempts >= G_N_ELEMENTS (recover_ladder_s)) {
    peer->recover_exhausted = TRUE;
    GST_WARNING ("peer %s: %s and %u recoveries spent", peer->id, why,
        peer->recover_attempts);
    g_signal_emit_by_name (peer->session, "recovery-exhausted", peer->id);
    return;
  }
  delay_s = recover_ladder_s[peer->recover_attempts];
  GST_INFO ("peer %s: %s, recovery %u in %u s", peer->id, why,
      peer->recover_attempts + 1, delay_s);
  /* Not a seconds source: those fire up to a second late, and the first
   * rungs are the ones that count. */
  peer->recover_source = g_timeout_source_new (delay_s * 1000);
  peer->recover_attempts++;
  g_source_set_callback (peer->recover_source, recover_due, peer, NULL);
  g_source_attach (peer->recover_source, peer->context);
}

/* The media came back (or a swap connected): the episode is over. */
static void
peer_recovered (MeteredRemotePeer *peer)
{
  if (peer->recovery != METERED_RECOVERY_WAIT || peer->silent)
    GST_INFO ("peer %s: media back (%s)", peer->id,
        metered_recovery_to_string (peer->recovery));
  cancel_recovery (peer);
  peer->recover_attempts = 0;
  peer->recover_exhausted = FALSE;
  peer->silent = FALSE;
  peer->path_dead = FALSE;
  peer->recovery = METERED_RECOVERY_WAIT;
}

static void
on_conn_state (MeteredConnection *conn, GstWebRTCPeerConnectionState state,
    MeteredRemotePeer *peer)
{
  GST_INFO ("connection to %s: state %d", peer->id, state);
  /* A restart's ICE goes through new/checking: it stays reconnecting. */
  if (!(peer->restart_pending &&
          state != GST_WEBRTC_PEER_CONNECTION_STATE_FAILED))
    peer_connection_state (peer, state);
  if (state == GST_WEBRTC_PEER_CONNECTION_STATE_CONNECTED) {
    METERED_REMOTE_PEER_LOCK (peer);
    metered_handover_connected (
        &peer->handover, g_get_monotonic_time () / 1000);
    if (peer->recovery == METERED_RECOVERY_SWAP)
      peer->recovered_by_swap++;
    METERED_REMOTE_PEER_UNLOCK (peer);
    if (peer->recovery == METERED_RECOVERY_SWAP)
      peer_recovered (peer);
    peer->established = TRUE;
    /* A restart's ladder goes on until the media does (it may be
     * connected over the old, dead pair). */
    if (peer->recovery != METERED_RECOVERY_RESTART) {
      peer->recover_attempts = 0;
      peer->recover_exhausted = FALSE;
    }
    /* A new or swapped viewer starts at once on a fresh key frame of the
     * shared encoder instead of waiting for the next one (the owner rate
     * limits these). */
    metered_session_request_local_key_units (peer->session);
    g_signal_emit_by_name (
        peer->session, "viewer-key-unit-request", peer->id, NULL, TRUE);
  } else if (state == GST_WEBRTC_PEER_CONNECTION_STATE_FAILED) {
    peer->path_dead = TRUE;
    peer_recover (peer, "connection failed");
  }
}

/* Either side restarted ICE on the current connection. */
static void
on_conn_ice_restart (
    MeteredConnection *conn, gboolean local, MeteredRemotePeer *peer)
{
  METERED_REMOTE_PEER_LOCK (peer);
  if (local)
    peer->ice_restarts_local++;
  else
    peer->ice_restarts_remote++;
  METERED_REMOTE_PEER_UNLOCK (peer);
  GST_INFO ("peer %s: ICE restart (%s)", peer->id, local ? "ours" : "theirs");
  peer->restart_pending = TRUE;
  peer->restart_started_ms = g_get_monotonic_time () / 1000;
  peer->restart_rx = peer->rx_count;
  if (peer->state == METERED_REMOTE_PEER_STATE_CONNECTED)
    peer_set_state (peer, METERED_REMOTE_PEER_STATE_RECONNECTING);
  g_signal_emit_by_name (
      peer->session, "ice-restart", peer->id, local ? "local" : "remote");
}

/* --- make-before-break routing (streaming threads) --- */

static guint64
buffer_hash (GstBuffer *buffer)
{
  GstMapInfo map;
  guint64 h;

  if (!gst_buffer_map (buffer, &map, GST_MAP_READ))
    return 0;
  h = metered_handover_hash (map.data, map.size);
  gst_buffer_unmap (buffer, &map);
  return h;
}

/* The generation of one of our connections, 0 for one no longer ours.
 * Under the lock. */
static guint
conn_gen (MeteredRemotePeer *peer, MeteredConnection *conn)
{
  if (peer->draining && conn == peer->draining)
    return peer->handover.draining;
  if (conn == peer->conn)
    return peer->handover.current;
  return 0;
}

/* While a swapped-out connection drains, each kind of media keeps coming
 * from it until the new one takes over (metered-handover.h); media-switched
 * comes first when the new one starts a new stream, so that the owner
 * starts a new source. The peer outlives its connections: it stops them
 * all before it goes. */
static void
on_conn_sample (MeteredConnection *conn, const MeteredRemoteTrack *track,
    GstBuffer *buffer, gpointer data)
{
  MeteredRemotePeer *peer = data;
  MeteredHandoverKind kind = g_strcmp0 (track->kind, "video") == 0
                                 ? METERED_HANDOVER_VIDEO
                                 : METERED_HANDOVER_AUDIO;
  guint64 hash = buffer_hash (buffer);
  gint64 now_ms = g_get_monotonic_time () / 1000;
  MeteredHandoverRoute route;

  METERED_REMOTE_PEER_LOCK (peer);
  route = metered_handover_route (&peer->handover, conn_gen (peer, conn), kind,
      hash, GST_BUFFER_FLAG_IS_SET (buffer, GST_BUFFER_FLAG_DELTA_UNIT),
      now_ms);
  METERED_REMOTE_PEER_UNLOCK (peer);

  if (route == METERED_HANDOVER_FORWARD_CONTINUE) {
    GST_INFO ("%s from %s: the new connection continues the stream",
        track->kind, peer->id);
  } else if (route == METERED_HANDOVER_FORWARD_SWITCH) {
    GST_INFO (
        "%s from %s: the new connection takes over", track->kind, peer->id);
    g_signal_emit_by_name (
        peer->session, "media-switched", peer->id, track->kind);
  }
  if (metered_handover_route_forwards (route))
    metered_session_deliver_sample (peer->session, peer->id, track, buffer);
}

/* --- connecting --- */

/* Builds a fresh connection (replacing any old one) and, when
 * first_payload is given, hands it that remote description first. */
static void
peer_connect (MeteredRemotePeer *peer, const char *first_payload)
{
  MeteredConnection *conn, *old = peer->conn, *stop;
  MeteredHandoverSwap swap;
  gboolean old_connected;
  gint64 now_ms = g_get_monotonic_time () / 1000;
  g_autoptr (GError) error = NULL;

  conn = metered_session_new_connection (
      peer->session, peer->id, first_payload != NULL);
  g_signal_connect (conn, "outgoing", G_CALLBACK (on_conn_outgoing), peer);
  g_signal_connect (
      conn, "remote-track", G_CALLBACK (on_conn_remote_track), peer);
  g_signal_connect (
      conn, "key-unit-request", G_CALLBACK (on_conn_key_unit), peer);
  g_signal_connect (conn, "state-changed", G_CALLBACK (on_conn_state), peer);
  g_signal_connect (
      conn, "ice-restart", G_CALLBACK (on_conn_ice_restart), peer);
  metered_connection_set_sample_func (conn, on_conn_sample, peer, NULL);

  cancel_recovery (peer);
  old_connected = old && metered_connection_get_state (old) ==
                             GST_WEBRTC_PEER_CONNECTION_STATE_CONNECTED;
  METERED_REMOTE_PEER_LOCK (peer);
  swap = metered_handover_swap (&peer->handover, old_connected, now_ms);
  peer->conn = conn;
  stop = old;
  if (swap == METERED_HANDOVER_SWAP_DRAIN_OLD) {
    /* Make before break: a connection that carries media goes on until
     * the new one does (a swap cost ~200 ms of video and a lost frame;
     * bench/recovery.sh). */
    stop = peer->draining;
    peer->draining = old;
  }
  METERED_REMOTE_PEER_UNLOCK (peer);
  if (swap == METERED_HANDOVER_SWAP_DRAIN_OLD)
    GST_INFO ("connection to %s: the old one drains until the new one "
              "carries media",
        peer->id);
  else if (old && peer->draining)
    GST_DEBUG ("connection to %s: keeping the one that drains", peer->id);
  peer->rx_count = 0;
  peer->rx_progress_ms = now_ms;
  peer->established = FALSE;
  peer->restart_pending = FALSE;
  peer->silent_rx = peer->restart_rx = 0;
  peer->restart_failed = FALSE;
  if (old)
    g_signal_handlers_disconnect_by_data (old, peer);
  if (stop) {
    metered_connection_stop (stop);
    gst_object_unref (stop);
  }
  if (old)
    peer_reset (peer);

  if (!first_payload)
    metered_session_send_local_track_metadata (peer->session, peer->id);
  if (!metered_connection_start (conn, &error)) {
    GST_ERROR ("connection to %s does not start: %s", peer->id, error->message);
    return;
  }
  if (first_payload)
    metered_connection_handle_signal (conn, first_payload);
}

void
metered_remote_peer_connect (MeteredRemotePeer *peer)
{
  peer_connect (peer, NULL);
}

void
metered_remote_peer_rejoin (MeteredRemotePeer *peer)
{
  peer->lingering = FALSE;
  peer_swap (peer, NULL);
}

gboolean
metered_remote_peer_local_address_gone (MeteredRemotePeer *peer)
{
  return peer->conn && metered_connection_local_address_gone (peer->conn);
}

gboolean
metered_remote_peer_path_address_gone (MeteredRemotePeer *peer)
{
  return peer->conn && (metered_connection_selected_address_gone (peer->conn) ||
                           metered_connection_local_address_gone (peer->conn));
}

gboolean
metered_remote_peer_network_changed (MeteredRemotePeer *peer)
{
  if (!metered_remote_peer_path_address_gone (peer))
    return FALSE;
  if (metered_connection_local_address_gone (peer->conn) ||
      !peer->established || peer->lingering ||
      g_getenv ("METERED_NO_ICE_RESTART")) {
    GST_INFO ("peer %s: our local address is gone: fresh connection", peer->id);
    peer->recovery = METERED_RECOVERY_SWAP;
    peer_swap (peer, NULL);
    return TRUE;
  }
  /* Another local address is up and the agent keeps its candidates
   * there: new checks find a path on it under the same DTLS session,
   * which the far side's live RTCPeerConnection accepts (a fresh one it
   * would refuse). Ours to start whatever the politeness: the far side
   * cannot know yet (its checks on the old pair fail only after its
   * consent timeout), so no offer of its own collides. The ladder goes
   * on from here until media flows again. */
  GST_INFO (
      "peer %s: our selected local address is gone: ICE restart", peer->id);
  if (metered_connection_restart_ice (peer->conn))
    peer->recovery = METERED_RECOVERY_RESTART;
  peer->silent = TRUE;
  peer->silent_rx = peer->rx_count;
  peer_recover (peer, "our local address is gone");
  return TRUE;
}

gboolean
metered_remote_peer_is_lingering (MeteredRemotePeer *peer)
{
  return peer->lingering;
}

void
metered_remote_peer_handle_signal (MeteredRemotePeer *peer, const char *payload)
{
  MeteredSignalVerdict verdict =
      peer->conn ? metered_connection_handle_signal (peer->conn, payload)
                 : METERED_SIGNAL_SWAP;

  if (verdict == METERED_SIGNAL_SWAP) {
    GST_INFO ("swapping the connection to %s for its new offer", peer->id);
    peer_swap (peer, payload);
  }
}

void
metered_remote_peer_store_track_meta (
    MeteredRemotePeer *peer, const char *track_id, const char *meta)
{
  if (!g_hash_table_contains (peer->track_meta, track_id)) {
    g_queue_push_tail (&peer->track_meta_order, g_strdup (track_id));
    if (g_queue_get_length (&peer->track_meta_order) >
        METERED_TRACK_META_CACHE) {
      g_autofree char *oldest = g_queue_pop_head (&peer->track_meta_order);
      g_hash_table_remove (peer->track_meta, oldest);
    }
  }
  if (meta)
    g_hash_table_insert (
        peer->track_meta, g_strdup (track_id), g_strdup (meta));
  else
    g_hash_table_remove (peer->track_meta, track_id);
}

/* --- media liveness --- */

/* Received media this recent means the peer's media flows. */
#define MEDIA_FLOWING_MS 2000

/* Notes media received since the last look; TRUE if any was. */
static gboolean
peer_sample_media (MeteredRemotePeer *peer, gint64 now_ms)
{
  guint64 rx = metered_connection_get_packets_received (peer->conn);

  if (rx == peer->rx_count)
    return FALSE;
  peer->rx_count = rx;
  peer->rx_progress_ms = now_ms;
  peer->ever_received = TRUE;
  return TRUE;
}

/* Looks at the counter now rather than trusting the last tick: a peer
 * that left presence less than a tick after its media started was torn
 * down, and its video stopped for the whole drop (issue 13;
 * tests/src/src-early-drop.cjs). */
static gboolean
peer_media_flowing (MeteredRemotePeer *peer, gint64 now_ms)
{
  if (peer->conn)
    peer_sample_media (peer, now_ms);
  if (peer->ever_received && now_ms - peer->rx_progress_ms < MEDIA_FLOWING_MS)
    return TRUE;
  /* We only send to it: a connected media path is all we can know. */
  return metered_session_has_local_tracks (peer->session) &&
         !peer->ever_received && peer->conn &&
         metered_connection_get_state (peer->conn) ==
             GST_WEBRTC_PEER_CONNECTION_STATE_CONNECTED;
}

/* A peer whose media still flows (our own reconnect after a server
 * restart, its socket dropping while its media path is fine) is kept
 * until that media stops: tearing it down at once cost the probe ~2 s of
 * video for nothing. */
gboolean
metered_remote_peer_linger (MeteredRemotePeer *peer, gint64 now_ms)
{
  if (!peer_media_flowing (peer, now_ms))
    return FALSE;
  GST_INFO ("peer %s left presence but its media flows: keeping it", peer->id);
  peer->lingering = TRUE;
  /* Gone for good if nothing arrives for dead-peer-timeout from now (a
   * peer we only send to: dead-peer-timeout, unless it comes back). */
  peer->rx_progress_ms = now_ms;
  return TRUE;
}

/* The old connection of a swap stops as metered_handover_check()
 * decides: the new one connected for a second and carrying what the old
 * one carried, or 10 s. */
static void
check_draining (MeteredRemotePeer *peer, gint64 now_ms)
{
  MeteredConnection *stop = NULL;

  METERED_REMOTE_PEER_LOCK (peer);
  if (metered_handover_check (&peer->handover, now_ms) != METERED_HANDOVER_KEEP)
    stop = g_steal_pointer (&peer->draining);
  METERED_REMOTE_PEER_UNLOCK (peer);
  if (stop) {
    GST_INFO ("connection to %s: the old one stops", peer->id);
    metered_connection_stop (stop);
    gst_object_unref (stop);
  }
}

/* The tick's restart part: a restart's outcome, media that came back,
 * and silence that starts the ladder before dead-peer-timeout (a restart
 * costs nothing but checks; a swap still waits for dead-peer-timeout). */
static void
tick_restart (MeteredRemotePeer *peer, gint64 now_ms)
{
  gboolean flowing =
      now_ms - peer->rx_progress_ms < METERED_RECOVERY_SILENCE_MS;

  if (peer->restart_pending &&
      (peer->ever_received
              ? peer->rx_count != peer->restart_rx
              : metered_connection_get_state (peer->conn) ==
                        GST_WEBRTC_PEER_CONNECTION_STATE_CONNECTED &&
                    now_ms - peer->restart_started_ms >= 1000)) {
    peer->restart_pending = FALSE;
    if (metered_connection_get_state (peer->conn) ==
        GST_WEBRTC_PEER_CONNECTION_STATE_CONNECTED)
      peer_set_state (peer, METERED_REMOTE_PEER_STATE_CONNECTED);
  }
  if (peer->silent && peer->rx_count != peer->silent_rx) {
    if (peer->recovery == METERED_RECOVERY_RESTART) {
      METERED_REMOTE_PEER_LOCK (peer);
      peer->recovered_by_restart++;
      METERED_REMOTE_PEER_UNLOCK (peer);
    }
    peer_recovered (peer);
  } else if (!peer->silent && !flowing && peer->ever_received &&
             !peer->lingering && peer->established) {
    peer->silent = TRUE;
    peer->silent_rx = peer->rx_count;
    peer_recover (peer, "no media for 2 s");
  }
}

gboolean
metered_remote_peer_tick (
    MeteredRemotePeer *peer, gint64 now_ms, guint dead_peer_timeout_ms)
{
  if (!peer->conn)
    return TRUE;
  check_draining (peer, now_ms);
  peer_sample_media (peer, now_ms);
  tick_restart (peer, now_ms);
  if (now_ms - peer->rx_progress_ms < dead_peer_timeout_ms)
    return TRUE;
  if (peer->silent)
    peer->path_dead = TRUE;
  if (peer->lingering) {
    GST_INFO ("peer %s: media stopped, it is gone", peer->id);
    return FALSE;
  }
  if (peer->ever_received) {
    /* Media stopped on a peer that is still present: the path died
     * without ICE noticing. */
    peer->ever_received = FALSE;
    peer->rx_progress_ms = now_ms;
    peer->path_dead = TRUE;
    peer_recover (peer, "no media for dead-peer-timeout");
  }
  return TRUE;
}

/* --- any thread --- */

/* The peer's connections, referenced: calls into them happen without our
 * lock. */
static void
dup_connections (MeteredRemotePeer *peer, MeteredConnection **conn,
    MeteredConnection **draining)
{
  METERED_REMOTE_PEER_LOCK (peer);
  *conn = peer->conn ? gst_object_ref (peer->conn) : NULL;
  if (draining)
    *draining = peer->draining ? gst_object_ref (peer->draining) : NULL;
  METERED_REMOTE_PEER_UNLOCK (peer);
}

void
metered_remote_peer_push (
    MeteredRemotePeer *peer, const char *track_id, GstBuffer *buffer)
{
  MeteredConnection *conn, *draining;

  /* A connection swapped out or stopped meanwhile takes no more buffers:
   * metered_connection_push() checks under its own lock. */
  dup_connections (peer, &conn, &draining);
  if (conn) {
    metered_connection_push (conn, track_id, buffer);
    gst_object_unref (conn);
  }
  if (draining) {
    metered_connection_push (draining, track_id, buffer);
    gst_object_unref (draining);
  }
}

void
metered_remote_peer_request_key_unit (
    MeteredRemotePeer *peer, const char *track_id)
{
  MeteredConnection *conn;

  dup_connections (peer, &conn, NULL);
  if (conn) {
    metered_connection_request_key_unit (conn, track_id);
    gst_object_unref (conn);
  }
}

void
metered_remote_peer_set_layer_cap (MeteredRemotePeer *peer,
    const char *track_id, gint cap, gboolean keyframes_only)
{
  MeteredConnection *conn, *draining;

  dup_connections (peer, &conn, &draining);
  if (conn) {
    metered_connection_set_layer_cap (conn, track_id, cap, keyframes_only);
    gst_object_unref (conn);
  }
  if (draining) {
    metered_connection_set_layer_cap (draining, track_id, cap, keyframes_only);
    gst_object_unref (draining);
  }
}

GPtrArray *
metered_remote_peer_take_twcc_feedback (
    MeteredRemotePeer *peer, guint64 *received)
{
  MeteredConnection *conn;
  GPtrArray *feedback;

  METERED_REMOTE_PEER_LOCK (peer);
  conn = peer->conn ? gst_object_ref (peer->conn) : NULL;
  METERED_REMOTE_PEER_UNLOCK (peer);
  if (!conn) {
    *received = 0;
    return NULL;
  }
  feedback = metered_connection_take_twcc_feedback (conn, received);
  gst_object_unref (conn);
  return feedback;
}

GVariant *
metered_remote_peer_get_stats (MeteredRemotePeer *peer)
{
  GVariantBuilder b;
  MeteredConnection *conn;
  guint swaps;

  guint restarts_local, restarts_remote, by_restart, by_swap;

  METERED_REMOTE_PEER_LOCK (peer);
  swaps = peer->swaps;
  restarts_local = peer->ice_restarts_local;
  restarts_remote = peer->ice_restarts_remote;
  by_restart = peer->recovered_by_restart;
  by_swap = peer->recovered_by_swap;
  conn = peer->conn ? gst_object_ref (peer->conn) : NULL;
  METERED_REMOTE_PEER_UNLOCK (peer);

  g_variant_builder_init (&b, G_VARIANT_TYPE_VARDICT);
  g_variant_builder_add (&b, "{sv}", "swaps", g_variant_new_uint32 (swaps));
  g_variant_builder_add (
      &b, "{sv}", "ice-restarts-local", g_variant_new_uint32 (restarts_local));
  g_variant_builder_add (&b, "{sv}", "ice-restarts-remote",
      g_variant_new_uint32 (restarts_remote));
  g_variant_builder_add (
      &b, "{sv}", "recovered-by-restart", g_variant_new_uint32 (by_restart));
  g_variant_builder_add (
      &b, "{sv}", "recovered-by-swap", g_variant_new_uint32 (by_swap));
  if (conn) {
    g_variant_builder_add (&b, "{sv}", "connection-state",
        g_variant_new_int32 (metered_connection_get_state (conn)));
    g_variant_builder_add (&b, "{sv}", "packets-sent",
        g_variant_new_uint64 (metered_connection_get_packets_sent (conn)));
    g_variant_builder_add (&b, "{sv}", "packets-received",
        g_variant_new_uint64 (metered_connection_get_packets_received (conn)));
    metered_connection_add_feedback_stats (conn, &b);
    gst_object_unref (conn);
  }
  return g_variant_builder_end (&b);
}

void
metered_remote_peer_close (MeteredRemotePeer *peer)
{
  MeteredConnection *conn, *draining;

  cancel_recovery (peer);
  if (peer->conn) {
    g_signal_handlers_disconnect_by_data (peer->conn, peer);
    metered_connection_stop (peer->conn);
  }
  /* Both stopped before either goes: the other's samples read them. */
  if (peer->draining)
    metered_connection_stop (peer->draining);
  METERED_REMOTE_PEER_LOCK (peer);
  conn = g_steal_pointer (&peer->conn);
  draining = g_steal_pointer (&peer->draining);
  METERED_REMOTE_PEER_UNLOCK (peer);
  gst_clear_object (&conn);
  gst_clear_object (&draining);
  peer_set_state (peer, METERED_REMOTE_PEER_STATE_CLOSED);
}

/* --- public API --- */

const char *
metered_remote_peer_get_id (MeteredRemotePeer *peer)
{
  return peer->id;
}

/* --- GObject --- */

static void
metered_remote_peer_get_property (
    GObject *object, guint prop_id, GValue *value, GParamSpec *pspec)
{
  MeteredRemotePeer *peer = METERED_REMOTE_PEER (object);

  switch (prop_id) {
    case PROP_ID:
      g_value_set_string (value, peer->id);
      break;
    case PROP_STATE:
      g_value_set_enum (value, peer->state);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
  }
}

static void
metered_remote_peer_finalize (GObject *object)
{
  MeteredRemotePeer *peer = METERED_REMOTE_PEER (object);

  /* The session closed it (connections stopped) before letting go. */
  cancel_recovery (peer);
  g_hash_table_unref (peer->track_meta);
  g_queue_clear_full (&peer->track_meta_order, g_free);
  g_main_context_unref (peer->context);
  g_free (peer->id);
  g_mutex_clear (&peer->lock);
  G_OBJECT_CLASS (metered_remote_peer_parent_class)->finalize (object);
}

static void
metered_remote_peer_class_init (MeteredRemotePeerClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->get_property = metered_remote_peer_get_property;
  object_class->finalize = metered_remote_peer_finalize;

  props[PROP_ID] = g_param_spec_string ("id", "Id", "The remote peerId", NULL,
      G_PARAM_READABLE | G_PARAM_STATIC_STRINGS);
  props[PROP_STATE] = g_param_spec_enum ("state", "State",
      "Connection state as the SDK's RemotePeer reports it",
      METERED_TYPE_REMOTE_PEER_STATE, METERED_REMOTE_PEER_STATE_IDLE,
      G_PARAM_READABLE | G_PARAM_STATIC_STRINGS);
  g_object_class_install_properties (object_class, N_PROPS, props);

  /* from, to (MeteredRemotePeerState) */
  signals[SIGNAL_STATE_CHANGED] =
      g_signal_new ("state-changed", G_TYPE_FROM_CLASS (klass),
          G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL, G_TYPE_NONE, 2,
          METERED_TYPE_REMOTE_PEER_STATE, METERED_TYPE_REMOTE_PEER_STATE);
  /* the connection under the peer was replaced */
  signals[SIGNAL_CONNECTION_RESET] =
      g_signal_new ("connection-reset", G_TYPE_FROM_CLASS (klass),
          G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL, G_TYPE_NONE, 0);
}

static void
metered_remote_peer_init (MeteredRemotePeer *peer)
{
  g_mutex_init (&peer->lock);
  metered_handover_init (&peer->handover);
  peer->track_meta =
      g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  g_queue_init (&peer->track_meta_order);
}

MeteredRemotePeer *
metered_remote_peer_new (
    MeteredSession *session, GMainContext *context, const char *id)
{
  MeteredRemotePeer *peer = g_object_new (METERED_TYPE_REMOTE_PEER, NULL);

  peer->session = session;
  peer->context = g_main_context_ref (context);
  peer->id = g_strdup (id);
  return peer;
}
