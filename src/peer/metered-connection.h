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
#include <gst/webrtc/webrtc.h>

G_BEGIN_DECLS

/*
 * One webrtcbin, in a pipeline of its own so it can be dropped without
 * touching anything else (webrtcbin 1.22 teardown is fragile), speaking
 * the SDK's perfect negotiation over JSON payloads the owner carries.
 *
 * Media enters as encoded buffers (metered_connection_push) and leaves as
 * depayloaded encoded buffers (the sample callback), both timestamped in
 * the owner's running time: the connection's pipeline shares the owner's
 * clock and base time.
 */

typedef struct
{
  char *track_id;
  char *stream_id;
  GstCaps *caps; /* encoded: video/x-vp8, video/x-vp9, video/x-h264,
                  * audio/x-opus */
} MeteredLocalTrack;

MeteredLocalTrack *metered_local_track_new (
    const char *track_id, const char *stream_id, GstCaps *caps);
MeteredLocalTrack *metered_local_track_copy (const MeteredLocalTrack *track);
void metered_local_track_free (MeteredLocalTrack *track);

/* A remote track as its m-line announces it. */
typedef struct
{
  guint mline;
  char *kind; /* "video" or "audio" */
  char *stream_id; /* first a=msid token, or NULL */
  char *track_id; /* second a=msid token, or NULL */
  GstCaps *caps; /* depayloaded caps */
  /* The jitter buffer's latency (ms) when the buffer handed to the sample
   * callback left it: how late after its timestamp a buffer may come. */
  guint latency_ms;
} MeteredRemoteTrack;

void metered_remote_track_free (MeteredRemoteTrack *track);

typedef struct
{
  GMainContext *context; /* signals are emitted here */
  const char *local_peer_id;
  const char *remote_peer_id;
  gboolean polite;
  const char *stun_server; /* stun://host:port or NULL */
  const char *const *turn_servers; /* turn(s)://user:pass@host:port */
  GPtrArray *local_tracks; /* MeteredLocalTrack*, copied */
  gboolean receive; /* accept the remote's media */
  GstClock *clock; /* NULL: the system clock */
  GstClockTime base_time; /* with clock */
  /* Started for a remote offer: answer it receive-only, then offer our
   * tracks on m-lines of our own. */
  gboolean answer_first;
  /* Codecs to receive, in preference order ("vp8", "vp9", "h264",
   * "opus"); NULL: vp8, h264, opus. */
  const char *const *receive_codecs;
  /* Jitter-buffer latency of what we receive (ms); 0: from the measured
   * round trip (metered-recv-latency.h). */
  guint receive_latency_ms;
} MeteredConnectionConfig;

#define METERED_TYPE_CONNECTION (metered_connection_get_type ())
G_DECLARE_FINAL_TYPE (
    MeteredConnection, metered_connection, METERED, CONNECTION, GstObject)

typedef enum
{
  METERED_SIGNAL_HANDLED,
  METERED_SIGNAL_IGNORED, /* an impolite side's colliding offer, stale */
  METERED_SIGNAL_SWAP, /* needs a fresh connection to apply it */
  METERED_SIGNAL_INVALID, /* not a description/candidate we accept */
} MeteredSignalVerdict;

/* Receives every depayloaded buffer (streaming thread). */
typedef void (*MeteredSampleFunc) (MeteredConnection *conn,
    const MeteredRemoteTrack *track, GstBuffer *buffer, gpointer user_data);

MeteredConnection *metered_connection_new (
    const MeteredConnectionConfig *config);

void metered_connection_set_sample_func (MeteredConnection *conn,
    MeteredSampleFunc func, gpointer user_data, GDestroyNotify destroy);

/* Builds and starts the pipeline; offers when there is something to send. */
gboolean metered_connection_start (MeteredConnection *conn, GError **error);

/* A JSON payload that arrived from the remote (rtc-description or
 * rtc-ice, as the SDK sends them). Call on the config's context. */
MeteredSignalVerdict metered_connection_handle_signal (
    MeteredConnection *conn, const char *payload_json);

/* Feeds one encoded buffer of a local track; never blocks (the oldest
 * buffers are dropped when the connection falls behind). */
void metered_connection_push (
    MeteredConnection *conn, const char *track_id, GstBuffer *buffer);

/* Stops the pipeline from a worker thread and drops it. */
void metered_connection_stop (MeteredConnection *conn);
/* Waits (at most timeout_ms) until every connection stopped so far has
 * finished its teardown; FALSE on timeout. */
gboolean metered_connection_wait_stopped (guint timeout_ms);

/* Asks the remote for a key unit on a received track (an upstream
 * force-key-unit the RTP session turns into a PLI); track_id NULL: on
 * every received track. Any thread. */
void metered_connection_request_key_unit (
    MeteredConnection *conn, const char *track_id);

/* webrtcbin's connection state as the owner's context last saw it
 * (::state-changed carries the same value). */
GstWebRTCPeerConnectionState metered_connection_get_state (
    MeteredConnection *conn);
/* RTP packets received and sent so far (for dead-peer detection). */
guint64 metered_connection_get_packets_received (MeteredConnection *conn);
guint64 metered_connection_get_packets_sent (MeteredConnection *conn);
/* Adds the RTCP feedback figures (nacks-sent, nacks-received, plis-sent,
 * plis-received, packets-lost, and with a receiver report fraction-lost
 * (1/256) and round-trip-ms) to an a{sv} builder; nothing while not connected.
 * Any thread. */
void metered_connection_add_feedback_stats (
    MeteredConnection *conn, GVariantBuilder *builder);
/* The viewer's TWCC feedback messages not taken yet (MeteredTwccFeedback*,
 * metered-twcc.h, oldest first; a new array), and how many this
 * connection received in all. Any thread. */
GPtrArray *metered_connection_take_twcc_feedback (
    MeteredConnection *conn, guint64 *received);

/* The viewer's temporal-layer cap on a sent video track (track_id NULL:
 * every one): cap the highest layer sent (0: the base), < 0 back to the
 * automatic rule (its receiver reports); keyframes_only for codecs
 * without layers. Down at once, up at the next sync or key frame. Any
 * thread. */
void metered_connection_set_layer_cap (MeteredConnection *conn,
    const char *track_id, gint cap, gboolean keyframes_only);

G_END_DECLS
