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
#include "peer/metered-remote-peer.h"

G_BEGIN_DECLS

typedef struct _MeteredSession MeteredSession;

/* The session owns and drives these fields; context thread only, except
 * where a lock is named. */
struct _MeteredRemotePeer
{
  GObject parent;

  MeteredSession *session; /* not owned */
  char *id;
  char *metadata;
  MeteredConnection *conn; /* swapped under the session lock */
  GHashTable *track_meta; /* trackId -> metadata JSON */
  GQueue track_meta_order; /* trackIds, oldest first (FIFO cap 512) */
  guint swaps;
  MeteredRemotePeerState state;
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
  /* Make-before-break: a connected connection that a swap replaced keeps
   * carrying media (both ways) until the new one took over; its samples
   * are forwarded per kind until the new one delivers a key unit
   * (metered-session.c). Generations name connections without keeping
   * pointers to stopped ones. */
  MeteredConnection *draining; /* under the session lock */
  guint conn_gen, draining_gen, next_gen;
  guint active_video_gen, active_audio_gen; /* whose samples go out */
  gint64 draining_since_ms;
  gint64 draining_rx_ms; /* last sample from the draining connection */
  gint64 connected_ms; /* when conn reached connected (0: not yet) */
  /* Content hashes of the last buffers forwarded, per kind (0 video,
   * 1 audio): a draining and a new connection carry the same encoded
   * frames, so the new one's copies of them are dropped and its first new
   * frame continues the stream seamlessly. */
  guint64 drained[2][64];
  guint drained_pos[2];
  gboolean overlap[2]; /* the new connection repeated one of them */
};

MeteredRemotePeer *metered_remote_peer_new (
    MeteredSession *session, const char *id, const char *metadata);
void metered_remote_peer_set_state (
    MeteredRemotePeer *peer, MeteredRemotePeerState state);
/* A new connection replaces the old one: reconnecting (unless the peer
 * never connected), then connection-reset. */
void metered_remote_peer_reset (MeteredRemotePeer *peer);
/* Maps a webrtcbin connection state onto the peer's state. */
void metered_remote_peer_connection_state (
    MeteredRemotePeer *peer, gint webrtc_state);
void metered_remote_peer_store_track_meta (
    MeteredRemotePeer *peer, const char *track_id, const char *metadata);

G_END_DECLS
