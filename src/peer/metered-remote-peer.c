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

#include "metered-remote-peer-private.h"

#include "protocol/metered-limits.h"

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

void
metered_remote_peer_set_state (
    MeteredRemotePeer *peer, MeteredRemotePeerState state)
{
  MeteredRemotePeerState from = peer->state;

  if (from == state || from == METERED_REMOTE_PEER_STATE_CLOSED)
    return;
  peer->state = state;
  g_object_notify_by_pspec (G_OBJECT (peer), props[PROP_STATE]);
  g_signal_emit (peer, signals[SIGNAL_STATE_CHANGED], 0, from, state);
}

void
metered_remote_peer_reset (MeteredRemotePeer *peer)
{
  if (peer->state == METERED_REMOTE_PEER_STATE_CONNECTED)
    metered_remote_peer_set_state (
        peer, METERED_REMOTE_PEER_STATE_RECONNECTING);
  g_signal_emit (peer, signals[SIGNAL_CONNECTION_RESET], 0);
}

void
metered_remote_peer_connection_state (
    MeteredRemotePeer *peer, gint webrtc_state)
{
  switch (webrtc_state) {
    case 0: /* new */
    case 1: /* connecting */
      /* A replacement's connecting hop stays hidden behind reconnecting. */
      if (peer->state == METERED_REMOTE_PEER_STATE_IDLE)
        metered_remote_peer_set_state (
            peer, METERED_REMOTE_PEER_STATE_CONNECTING);
      break;
    case 2: /* connected */
      metered_remote_peer_set_state (peer, METERED_REMOTE_PEER_STATE_CONNECTED);
      break;
    case 3: /* disconnected */
    case 4: /* failed */
      if (peer->state != METERED_REMOTE_PEER_STATE_IDLE)
        metered_remote_peer_set_state (
            peer, METERED_REMOTE_PEER_STATE_RECONNECTING);
      break;
    default: /* closed: only the session closes the peer itself */
      break;
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

const char *
metered_remote_peer_get_id (MeteredRemotePeer *peer)
{
  return peer->id;
}

char *
metered_remote_peer_dup_metadata (MeteredRemotePeer *peer)
{
  return g_strdup (peer->metadata);
}

MeteredRemotePeerState
metered_remote_peer_get_state (MeteredRemotePeer *peer)
{
  return peer->state;
}

guint
metered_remote_peer_get_swaps (MeteredRemotePeer *peer)
{
  return peer->swaps;
}

char *
metered_remote_peer_dup_track_metadata (
    MeteredRemotePeer *peer, const char *track_id)
{
  return g_strdup (g_hash_table_lookup (peer->track_meta, track_id));
}

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

  g_hash_table_unref (peer->track_meta);
  g_queue_clear_full (&peer->track_meta_order, g_free);
  g_free (peer->id);
  g_free (peer->metadata);
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
  peer->track_meta =
      g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  g_queue_init (&peer->track_meta_order);
}

MeteredRemotePeer *
metered_remote_peer_new (
    MeteredSession *session, const char *id, const char *metadata)
{
  MeteredRemotePeer *peer = g_object_new (METERED_TYPE_REMOTE_PEER, NULL);

  peer->session = session;
  peer->id = g_strdup (id);
  peer->metadata = g_strdup (metadata);
  return peer;
}
