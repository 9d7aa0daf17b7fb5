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

#include <gst/gst.h>

#include "client/metered-signalling-client.h"
#include "peer/metered-connection.h"
#include "peer/metered-remote-peer.h"

G_BEGIN_DECLS

/*
 * One channel as the SDK's MeteredPeer sees it: presence turns into remote
 * peers, each with a MeteredConnection; descriptions, candidates and track
 * metadata travel as direct messages; connections are swapped (never
 * rolled back) when webrtcbin 1.22 needs a fresh start.
 *
 * Runs on the signalling client's context. metered_session_push() may be
 * called from any thread (a streaming thread).
 */

/* As the SDK's MeteredPeer: idle, joining, joined, reconnecting (the
 * signalling socket is down; media keeps flowing), closed. */
typedef enum
{
  METERED_SESSION_STATE_IDLE,
  METERED_SESSION_STATE_JOINING,
  METERED_SESSION_STATE_JOINED,
  METERED_SESSION_STATE_RECONNECTING,
  METERED_SESSION_STATE_CLOSED,
} MeteredSessionState;

GType metered_session_state_get_type (void);
#define METERED_TYPE_SESSION_STATE (metered_session_state_get_type ())

#define METERED_TYPE_SESSION (metered_session_get_type ())
G_DECLARE_FINAL_TYPE (
    MeteredSession, metered_session, METERED, SESSION, GObject)

/* Buffers of remote tracks (streaming threads). */
typedef void (*MeteredSessionSampleFunc) (MeteredSession *session,
    const char *peer_id, const MeteredRemoteTrack *track, GstBuffer *buffer,
    gpointer user_data);

MeteredSession *metered_session_new (
    MeteredSignallingClient *client, const char *channel);

/* Before start: what we send (metadata_json: a JSON object or NULL) and
 * whether we receive. */
void metered_session_add_local_track (MeteredSession *session,
    const MeteredLocalTrack *track, const char *metadata_json);
void metered_session_set_receive (MeteredSession *session, gboolean receive);
/* Codecs to receive in preference order ("vp8", "vp9", "h264", "opus");
 * NULL restores the default: vp8, h264, opus. */
void metered_session_set_receive_codecs (
    MeteredSession *session, const char *const *codecs);
void metered_session_set_clock (
    MeteredSession *session, GstClock *clock, GstClockTime base_time);
void metered_session_set_ice_servers (MeteredSession *session,
    const char *stun_server, const char *const *turn_servers);
/* Jitter-buffer latency (ms) of the connections made from now on; 0 (the
 * default): from each connection's measured round trip. */
void metered_session_set_receive_latency (MeteredSession *session, guint ms);
/* A peer whose media stops for this long gets a fresh connection, and a
 * peer kept after leaving presence is dropped (default 10000). */
void metered_session_set_dead_peer_timeout (MeteredSession *session, guint ms);
void metered_session_set_sample_func (MeteredSession *session,
    MeteredSessionSampleFunc func, gpointer user_data, GDestroyNotify destroy);

/* Whether start() watches GLib's network monitor (default TRUE): after a
 * burst of changes settles (500 ms), the recovery of
 * metered_session_network_changed () runs when a peer's connection lost
 * its local address, and a reconnect waiting out its backoff tries at
 * once. Other changes on the host are left alone. */
void metered_session_set_watch_network (
    MeteredSession *session, gboolean watch);
/* The local network changed (the application knows: NetworkManager, a
 * modem script): the signalling socket, even one that looks connected, is
 * dropped and connects again at once; its reconcile gives every surviving
 * peer a fresh connection on the addresses we have now. Context thread. */
void metered_session_network_changed (
    MeteredSession *session, const char *reason);

/* Connects the client if needed and joins the channel. */
void metered_session_start (MeteredSession *session);
/* Leaves: every connection stops, the client closes. */
void metered_session_stop (MeteredSession *session);

/* One encoded buffer of a local track to every remote peer. */
void metered_session_push (
    MeteredSession *session, const char *track_id, GstBuffer *buffer);

/* Application data: to one peer (direct) or, with peer_id NULL, to the
 * channel (broadcast). json is sent as is; FALSE if it is not JSON.
 * Delivery failures are logged (the client queues while reconnecting). */
gboolean metered_session_send_data (MeteredSession *session,
    const char *peer_id, const char *json, GError **error);

/* Asks a remote peer for a key unit on one of its tracks (track_id NULL:
 * all of them) over its current connection. Any thread. */
void metered_session_request_key_unit (
    MeteredSession *session, const char *peer_id, const char *track_id);

/* The remote peer of that id (a new reference), or NULL. */
MeteredRemotePeer *metered_session_dup_peer (
    MeteredSession *session, const char *peer_id);

MeteredSessionState metered_session_get_state (MeteredSession *session);

guint metered_session_count_peers (MeteredSession *session);
/* A viewer's temporal-layer cap on its sent video tracks
 * (metered_connection_set_layer_cap (); peer_id NULL: every peer). Any
 * thread. */
void metered_session_set_layer_cap (MeteredSession *session,
    const char *peer_id, const char *track_id, gint cap,
    gboolean keyframes_only);
/* a{sv} per remote peer: state, swaps, ICE restarts (local, remote),
 * recovered by restart/swap, packets-sent/received. */
GVariant *metered_session_get_peer_stats (MeteredSession *session);
/* Each remote peer's TWCC feedback not taken yet: peer id ->
 * MeteredTwccTake (metered-twcc.h). Any thread. */
GHashTable *metered_session_take_twcc_feedback (MeteredSession *session);

/*
 * Internal: what a MeteredRemotePeer asks of its session
 * (metered-remote-peer.c). Context thread unless said. A peer also emits
 * its session's signals about it by name (remote-track, key-unit-request,
 * connection-swapped, recovery-exhausted, media-switched, ice-restart).
 */

/* A connection to peer_id on the session's settings (context, ICE
 * servers, local tracks, clock); answer_first: for a remote offer. */
MeteredConnection *metered_session_new_connection (
    MeteredSession *session, const char *peer_id, gboolean answer_first);
/* A payload to peer_id over the signalling channel. */
void metered_session_send_to (
    MeteredSession *session, const char *peer_id, const char *payload);
/* __meteredTrackMeta of every local track, before an offer. */
void metered_session_send_local_track_metadata (
    MeteredSession *session, const char *peer_id);
gboolean metered_session_has_local_tracks (MeteredSession *session);
/* The SDK's politeness towards peer_id (strcmp (local, remote) < 0): the
 * polite side never starts an ICE restart (metered-handover.h). */
gboolean metered_session_is_polite_to (
    MeteredSession *session, const char *peer_id);
/* key-unit-request for every local track (a connection just connected). */
void metered_session_request_local_key_units (MeteredSession *session);
/* A buffer of a remote track to the session's sample function (streaming
 * thread). */
void metered_session_deliver_sample (MeteredSession *session,
    const char *peer_id, const MeteredRemoteTrack *track, GstBuffer *buffer);

G_END_DECLS
