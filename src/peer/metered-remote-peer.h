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

#include "peer/metered-connection.h"

G_BEGIN_DECLS

/**
 * MeteredRemotePeerState:
 *
 * As the SDK's RemotePeer: idle until its first connection moves;
 * connecting, connected; reconnecting while a connection is lost or being
 * replaced (a swap hides the new connection's connecting hop); closed when
 * the peer is gone.
 */
typedef enum
{
  METERED_REMOTE_PEER_STATE_IDLE,
  METERED_REMOTE_PEER_STATE_CONNECTING,
  METERED_REMOTE_PEER_STATE_CONNECTED,
  METERED_REMOTE_PEER_STATE_RECONNECTING,
  METERED_REMOTE_PEER_STATE_CLOSED,
} MeteredRemotePeerState;

GType metered_remote_peer_state_get_type (void);
#define METERED_TYPE_REMOTE_PEER_STATE (metered_remote_peer_state_get_type ())
const char *metered_remote_peer_state_to_string (MeteredRemotePeerState s);

/*
 * One remote peerId of a channel. Its identity (the object, its id, the
 * track metadata it sent) survives every connection swap;
 * connection-reset fires each time the connection under it is replaced.
 */
#define METERED_TYPE_REMOTE_PEER (metered_remote_peer_get_type ())
G_DECLARE_FINAL_TYPE (
    MeteredRemotePeer, metered_remote_peer, METERED, REMOTE_PEER, GObject)

const char *metered_remote_peer_get_id (MeteredRemotePeer *peer);

/*
 * Internal: the peer as its MeteredSession drives it (metered-session.c;
 * what the peer asks of the session is in metered-session.h). Context
 * thread (the signalling client's) unless "any thread" is said.
 */
typedef struct _MeteredSession MeteredSession;

MeteredRemotePeer *metered_remote_peer_new (
    MeteredSession *session, GMainContext *context, const char *id);
/* The first connection: offers when the session has tracks to send. */
void metered_remote_peer_connect (MeteredRemotePeer *peer);
/* The peer came back into presence (or survived our reconnect): a fresh
 * connection, as the far side builds one too. */
void metered_remote_peer_rejoin (MeteredRemotePeer *peer);
gboolean metered_remote_peer_is_lingering (MeteredRemotePeer *peer);
/* An rtc-description or rtc-ice payload from the peer. */
void metered_remote_peer_handle_signal (
    MeteredRemotePeer *peer, const char *payload);
void metered_remote_peer_store_track_meta (
    MeteredRemotePeer *peer, const char *track_id, const char *metadata);
/* Presence says the peer is gone: TRUE if it is kept (lingering) because
 * its media still flows, FALSE if the session drops it now. */
gboolean metered_remote_peer_linger (MeteredRemotePeer *peer, gint64 now_ms);
/* The liveness tick, once a second: stops a drained connection, starts a
 * recovery when media stopped. FALSE when a lingering peer's media
 * stopped: the session drops it. */
gboolean metered_remote_peer_tick (
    MeteredRemotePeer *peer, gint64 now_ms, guint dead_peer_timeout_ms);
/* One encoded buffer of a local track to every connection of the peer
 * (a draining one too). Any thread. */
void metered_remote_peer_push (
    MeteredRemotePeer *peer, const char *track_id, GstBuffer *buffer);
/* Any thread. */
void metered_remote_peer_request_key_unit (
    MeteredRemotePeer *peer, const char *track_id);
/* metered_connection_set_layer_cap () on every connection of the peer
 * (a draining one too). Any thread. */
void metered_remote_peer_set_layer_cap (MeteredRemotePeer *peer,
    const char *track_id, gint cap, gboolean keyframes_only);
/* a{sv}: swaps, and connection-state, packets-sent, packets-received when
 * connected (floating). Any thread. */
GVariant *metered_remote_peer_get_stats (MeteredRemotePeer *peer);
/* metered_connection_take_twcc_feedback () on the current connection;
 * NULL, *received 0, without one. Any thread. */
GPtrArray *metered_remote_peer_take_twcc_feedback (
    MeteredRemotePeer *peer, guint64 *received);
/* TRUE when the current connection's local addresses are all gone (our
 * network changed under it): only a fresh connection can help. Context
 * thread. */
gboolean metered_remote_peer_local_address_gone (MeteredRemotePeer *peer);
/* TRUE when the current connection's selected pair used a local address
 * that is gone, or all of them are. Context thread. */
gboolean metered_remote_peer_path_address_gone (MeteredRemotePeer *peer);
/* After a local network change: if this peer's path used an address that
 * is gone, recovers it now (an ICE restart when another local address is
 * up, else a fresh connection) and returns TRUE; a peer whose path stands
 * is left alone. Context thread. */
gboolean metered_remote_peer_network_changed (MeteredRemotePeer *peer);
/* Stops every connection; the peer is closed for good. */
void metered_remote_peer_close (MeteredRemotePeer *peer);

G_END_DECLS
