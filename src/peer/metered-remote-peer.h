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

#include <glib-object.h>

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
 * One remote peerId of a channel. Its identity (the object, its id, its
 * metadata, the track metadata it sent) survives every connection swap;
 * connection-reset fires each time the connection under it is replaced.
 */
#define METERED_TYPE_REMOTE_PEER (metered_remote_peer_get_type ())
G_DECLARE_FINAL_TYPE (
    MeteredRemotePeer, metered_remote_peer, METERED, REMOTE_PEER, GObject)

const char *metered_remote_peer_get_id (MeteredRemotePeer *peer);
/* Presence metadata (JSON object text) or NULL; caller frees. */
char *metered_remote_peer_dup_metadata (MeteredRemotePeer *peer);
MeteredRemotePeerState metered_remote_peer_get_state (MeteredRemotePeer *peer);
guint metered_remote_peer_get_swaps (MeteredRemotePeer *peer);
/* Metadata (JSON object text) the peer sent for one of its tracks, or
 * NULL; caller frees. */
char *metered_remote_peer_dup_track_metadata (
    MeteredRemotePeer *peer, const char *track_id);

G_END_DECLS
