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
 * The media half of MeteredConnection: the object and its life cycle, a
 * pipeline of its own around one webrtcbin, the send branches
 *
 *   appsrc -> payloader -> capsfilter (RTP caps) -> webrtcbin sink_%u
 *
 * the receive branches
 *
 *   webrtcbin src_%u -> depayloader [-> parser] -> appsink
 *                    (unknown codec: -> fakesink)
 *
 * (both from the codec table, metered-codec.h), the connection state, and
 * the owner's context. Negotiation (descriptions, candidates, promises) is
 * in metered-negotiation.c; the fields both share, their threads and
 * their lock are in metered-connection-private.h.
 */

#include "peer/metered-connection-private.h"

#include "peer/metered-codec.h"
#include "peer/metered-sdp.h"

#include <gst/app/gstappsink.h>
#include <gst/app/gstappsrc.h>
#include <gst/sdp/sdp.h>
#include <gst/video/video.h>
#include <gst/webrtc/webrtc.h>

GST_DEBUG_CATEGORY (metered_peer_debug);
#define GST_CAT_DEFAULT metered_peer_debug

enum
{
  SIGNAL_OUTGOING,
  SIGNAL_STATE_CHANGED,
  SIGNAL_REMOTE_TRACK,
  SIGNAL_KEY_UNIT_REQUEST,
  N_SIGNALS
};

static guint signals[N_SIGNALS];

G_DEFINE_FINAL_TYPE (MeteredConnection, metered_connection, GST_TYPE_OBJECT)

MeteredLocalTrack *
metered_local_track_new (
    const char *track_id, const char *stream_id, GstCaps *caps)
{
  MeteredLocalTrack *track = g_new0 (MeteredLocalTrack, 1);

  track->track_id = g_strdup (track_id);
  track->stream_id = g_strdup (stream_id);
  track->caps = gst_caps_ref (caps);
  return track;
}

MeteredLocalTrack *
metered_local_track_copy (const MeteredLocalTrack *track)
{
  return metered_local_track_new (
      track->track_id, track->stream_id, track->caps);
}

void
metered_local_track_free (MeteredLocalTrack *track)
{
  if (!track)
    return;
  g_free (track->track_id);
  g_free (track->stream_id);
  gst_caps_unref (track->caps);
  g_free (track);
}

void
metered_remote_track_free (MeteredRemoteTrack *track)
{
  if (!track)
    return;
  g_free (track->kind);
  g_free (track->stream_id);
  g_free (track->track_id);
  gst_clear_caps (&track->caps);
  g_free (track);
}

/* --- running code on the owner's context --- */

typedef struct
{
  MeteredConnection *conn;
  MeteredConnectionFunc func;
  gpointer data;
  GDestroyNotify destroy;
} Call;

static gboolean
call_run (gpointer data)
{
  Call *call = data;

  if (!call->conn->stopped)
    call->func (call->conn, call->data);
  return G_SOURCE_REMOVE;
}

static void
call_free (gpointer data)
{
  Call *call = data;

  if (call->destroy && call->data)
    call->destroy (call->data);
  gst_object_unref (call->conn);
  g_free (call);
}

void
metered_connection_invoke (MeteredConnection *conn, MeteredConnectionFunc func,
    gpointer data, GDestroyNotify destroy)
{
  Call *call;
  GSource *source;

  /* A stopped connection runs nothing (call_run), and its owner's context
   * may already have no thread to dispatch it: a call posted there would
   * hold the connection, which holds the context, forever (a whole
   * connection leaked per element NULL -> PLAYING -> NULL, seen with
   * GST_TRACERS=leaks). Under the lock metered_connection_stop() sets
   * `stopped` with: a call posted before that is dispatched, or dropped
   * with the context. */
  METERED_CONNECTION_LOCK (conn);
  if (conn->stopped) {
    METERED_CONNECTION_UNLOCK (conn);
    if (destroy && data)
      destroy (data);
    return;
  }
  call = g_new0 (Call, 1);
  source = g_idle_source_new ();
  call->conn = gst_object_ref (conn);
  call->func = func;
  call->data = data;
  call->destroy = destroy;
  g_source_set_callback (source, call_run, call, call_free);
  g_source_attach (source, conn->context);
  g_source_unref (source);
  METERED_CONNECTION_UNLOCK (conn);
}

void
metered_connection_emit_outgoing (MeteredConnection *conn, const char *payload)
{
  g_signal_emit (conn, signals[SIGNAL_OUTGOING], 0, payload);
}

/* --- receiving --- */

static GstFlowReturn
on_new_sample (GstAppSink *sink, gpointer data)
{
  RecvBranch *branch = data;
  MeteredConnection *conn = branch->conn;
  GstSample *sample = gst_app_sink_pull_sample (sink);

  if (!sample)
    return GST_FLOW_EOS;
  g_atomic_pointer_add (&conn->packets_received, 1);
  branch->track->latency_ms = metered_recv_latency_get_ms (conn->recv_latency);
  /* The track's caps follow the depayloader's (read on this streaming
   * thread only, by the sample callback). */
  if (gst_sample_get_caps (sample) &&
      gst_sample_get_caps (sample) != branch->track->caps)
    gst_caps_replace (&branch->track->caps, gst_sample_get_caps (sample));
  /* Under the lock, so that stop() never returns while a callback into
   * the owner is still running. */
  METERED_CONNECTION_SAMPLE_LOCK (conn);
  if (conn->sample_func)
    conn->sample_func (
        conn, branch->track, gst_sample_get_buffer (sample), conn->sample_data);
  METERED_CONNECTION_SAMPLE_UNLOCK (conn);
  gst_sample_unref (sample);
  return GST_FLOW_OK;
}

static void
recv_branch_free (RecvBranch *branch)
{
  metered_remote_track_free (branch->track);
  g_free (branch);
}

/* The a=msid tokens of m-line mline of the remote description. */
static void
remote_msid (
    MeteredConnection *conn, guint mline, char **stream_id, char **track_id)
{
  GstWebRTCSessionDescription *remote = NULL;
  const GstSDPMedia *media;
  const char *value;

  *stream_id = *track_id = NULL;
  g_object_get (conn->webrtc, "remote-description", &remote, NULL);
  if (!remote)
    return;
  if (mline < gst_sdp_message_medias_len (remote->sdp)) {
    media = gst_sdp_message_get_media (remote->sdp, mline);
    value = gst_sdp_media_get_attribute_val (media, "msid");
    if (value) {
      g_auto (GStrv) tokens = g_strsplit (value, " ", 2);
      *stream_id = g_strdup (tokens[0]);
      *track_id = g_strdup (tokens[1]);
    }
  }
  gst_webrtc_session_description_free (remote);
}

static void
emit_remote_track_on_context (MeteredConnection *conn, gpointer data)
{
  g_signal_emit (conn, signals[SIGNAL_REMOTE_TRACK], 0, data);
}

/* Every webrtcbin src pad is linked at once: an unlinked one returns
 * not-linked and kills the whole connection (design notes). */
static void
on_pad_added (GstElement *webrtc, GstPad *pad, MeteredConnection *conn)
{
  g_autoptr (GstCaps) caps = NULL;
  const GstStructure *s;
  const char *encoding;
  const MeteredCodec *codec;
  GstElement *depay = NULL, *parse = NULL, *sink;
  GstWebRTCRTPTransceiver *trans = NULL;
  RecvBranch *branch;
  GstPad *sinkpad;
  guint mline = 0;

  if (GST_PAD_DIRECTION (pad) != GST_PAD_SRC)
    return;
  caps = gst_pad_get_current_caps (pad);
  if (!caps)
    caps = gst_pad_query_caps (pad, NULL);
  s = gst_caps_get_structure (caps, 0);
  encoding = gst_structure_get_string (s, "encoding-name");

  codec = metered_codec_from_encoding_name (encoding);

  branch = g_new0 (RecvBranch, 1);
  branch->conn = conn;
  branch->track = g_new0 (MeteredRemoteTrack, 1);
  g_object_get (pad, "transceiver", &trans, NULL);
  if (trans) {
    g_object_get (trans, "mlineindex", &mline, NULL);
    gst_object_unref (trans);
  }
  branch->track->mline = mline;
  branch->track->kind = g_strdup (gst_structure_get_string (s, "media"));
  remote_msid (
      conn, mline, &branch->track->stream_id, &branch->track->track_id);

  sink = gst_element_factory_make ("appsink", NULL);
  g_object_set (sink, "sync", FALSE, "async", FALSE, "max-buffers", 64, "drop",
      TRUE, NULL);
  if (codec)
    depay = gst_element_factory_make (codec->depayloader, NULL);
  if (depay && codec->parser) {
    parse = gst_element_factory_make (codec->parser, NULL);
    metered_codec_apply_props (parse, codec->parser_props);
  }
  if (!depay) {
    /* Unknown media: still linked, to a sink that drops it. */
    GST_WARNING_OBJECT (conn, "no depayloader for %s: dropping that track",
        encoding ? encoding : "(none)");
    gst_clear_object (&sink);
    sink = gst_element_factory_make ("fakesink", NULL);
    g_object_set (sink, "sync", FALSE, "async", FALSE, NULL);
    gst_bin_add (GST_BIN (conn->pipeline), sink);
    sinkpad = gst_element_get_static_pad (sink, "sink");
  } else {
    GstAppSinkCallbacks callbacks = { NULL, NULL, on_new_sample };
    gst_app_sink_set_callbacks (GST_APP_SINK (sink), &callbacks, branch, NULL);
    branch->appsink = sink;
    gst_bin_add_many (GST_BIN (conn->pipeline), depay, sink, NULL);
    if (parse) {
      gst_bin_add (GST_BIN (conn->pipeline), parse);
      gst_element_link_many (depay, parse, sink, NULL);
      gst_element_sync_state_with_parent (parse);
    } else {
      gst_element_link (depay, sink);
    }
    gst_element_sync_state_with_parent (depay);
    sinkpad = gst_element_get_static_pad (depay, "sink");
  }
  gst_element_sync_state_with_parent (sink);
  if (gst_pad_link (pad, sinkpad) != GST_PAD_LINK_OK)
    GST_ERROR_OBJECT (conn, "could not link %s", GST_PAD_NAME (pad));
  gst_object_unref (sinkpad);

  if (depay) {
    MeteredRemoteTrack *copy = g_new0 (MeteredRemoteTrack, 1);
    copy->mline = branch->track->mline;
    copy->kind = g_strdup (branch->track->kind);
    copy->stream_id = g_strdup (branch->track->stream_id);
    copy->track_id = g_strdup (branch->track->track_id);
    METERED_CONNECTION_LOCK (conn);
    g_ptr_array_add (conn->recv, branch);
    METERED_CONNECTION_UNLOCK (conn);
    metered_connection_invoke (conn, emit_remote_track_on_context, copy,
        (GDestroyNotify) metered_remote_track_free);
  } else {
    recv_branch_free (branch);
  }
}

/* Losses on video are repaired by retransmission, as browsers do it: the
 * transceiver offers (or keeps, answering) nack and an rtx payload type,
 * its jitter buffer asks for lost packets (webrtcbin sets the receive
 * side's do-retransmission from the same property), and its rtprtxsend
 * answers the remote's NACKs. Read when the description is made: set
 * before create-offer / create-answer. No ULPFEC/RED: Chromium's decoding
 * of it has regressed before, and 1.22.0's RED encoder loses the TWCC
 * extension id. Audio stays as browsers send Opus: no NACK, in-band FEC
 * instead (see the codec table). */
static void
enable_retransmission (GstWebRTCRTPTransceiver *trans)
{
  g_object_set (
      trans, "do-nack", TRUE, "fec-type", GST_WEBRTC_FEC_TYPE_NONE, NULL);
}

static void
on_new_transceiver (
    GstElement *webrtc, GstWebRTCRTPTransceiver *trans, MeteredConnection *conn)
{
  GstWebRTCRTPTransceiverDirection direction;
  GstWebRTCKind kind = GST_WEBRTC_KIND_UNKNOWN;

  /* Made from a remote offer: the kind is its m-line's. Ours are set up
   * where they are made (add_send_branch, add_send_branches). */
  g_object_get (trans, "kind", &kind, NULL);
  if (kind == GST_WEBRTC_KIND_VIDEO)
    enable_retransmission (trans);

  /* A transceiver the remote's offer created: receive only, unless we
   * added it for sending. */
  g_object_get (trans, "direction", &direction, NULL);
  if (conn->receive && direction == GST_WEBRTC_RTP_TRANSCEIVER_DIRECTION_NONE)
    g_object_set (trans, "direction",
        GST_WEBRTC_RTP_TRANSCEIVER_DIRECTION_RECVONLY, NULL);
}

/* --- connection state --- */

static void
state_changed_on_context (MeteredConnection *conn, gpointer data)
{
  GstWebRTCPeerConnectionState state = GPOINTER_TO_INT (data);
  g_autofree char *name = NULL;

  if (state == conn->state)
    return;
  conn->state = state;
  name = g_enum_to_string (GST_TYPE_WEBRTC_PEER_CONNECTION_STATE, state);
  GST_INFO_OBJECT (
      conn, "connection to %s: state %s", conn->remote_peer_id, name);
  g_signal_emit (conn, signals[SIGNAL_STATE_CHANGED], 0, state);
}

static void
on_connection_state (
    GstElement *webrtc, GParamSpec *pspec, MeteredConnection *conn)
{
  GstWebRTCPeerConnectionState state;

  g_object_get (webrtc, "connection-state", &state, NULL);
  g_atomic_int_set (
      &conn->media_ready, state == GST_WEBRTC_PEER_CONNECTION_STATE_CONNECTED);
  metered_connection_invoke (
      conn, state_changed_on_context, GINT_TO_POINTER (state), NULL);
}

/* --- sending --- */

static void
emit_key_unit_on_context (MeteredConnection *conn, gpointer data)
{
  g_signal_emit (conn, signals[SIGNAL_KEY_UNIT_REQUEST], 0, data);
}

static GstPadProbeReturn
on_upstream_event (GstPad *pad, GstPadProbeInfo *info, gpointer data)
{
  SendBranch *branch = data;
  GstEvent *event = GST_PAD_PROBE_INFO_EVENT (info);
  MeteredConnection *conn = METERED_CONNECTION (
      g_object_get_data (G_OBJECT (pad), "metered-connection"));

  /* A viewer asked for a key frame (PLI/FIR): the owner's shared encoder
   * must make one; the appsrc cannot. */
  if (gst_video_event_is_force_key_unit (event))
    metered_connection_invoke (conn, emit_key_unit_on_context,
        g_strdup (branch->track->track_id), g_free);
  return GST_PAD_PROBE_OK;
}

/* Before ICE and DTLS are up, webrtcbin holds the packets it is given
 * and sends them all at once when they are: the receiver's jitter buffer
 * (slave mode) stamps that burst with its arrival time, many frames with
 * one timestamp. Those stale packets are dropped here instead, after the
 * payloader (webrtcbin needs its caps to make an offer); the viewer
 * starts on the key unit asked for when it connects. */
static GstPadProbeReturn
drop_stale_count_sent (GstPad *pad, GstPadProbeInfo *info, gpointer data)
{
  MeteredConnection *conn = data;

  if (!g_atomic_int_get (&conn->media_ready))
    return GST_PAD_PROBE_DROP;
  g_atomic_pointer_add (&conn->packets_sent, 1);
  return GST_PAD_PROBE_OK;
}

/* The playout-delay extension's id in what we offer: Chromium's own (its
 * offers number it 5), the one id no other extension of ours takes. */
#define PLAYOUT_DELAY_EXT_ID 5

/* The viewer's reports for its layer rule (metered-layer-probe.h). */
static void
layer_stats (gpointer data, double *fraction_lost, guint64 *packets_sent,
    guint64 *nacks_received)
{
  MeteredConnection *conn = data;
  GVariantBuilder builder;
  g_autoptr (GVariant) stats = NULL;
  guint32 fraction;

  g_variant_builder_init (&builder, G_VARIANT_TYPE_VARDICT);
  metered_connection_add_feedback_stats (conn, &builder);
  stats = g_variant_ref_sink (g_variant_builder_end (&builder));
  *fraction_lost = g_variant_lookup (stats, "fraction-lost", "u", &fraction)
                       ? fraction / 256.0
                       : -1;
  if (!g_variant_lookup (stats, "nacks-received", "t", nacks_received))
    *nacks_received = 0;
  *packets_sent = metered_connection_get_packets_sent (conn);
}

static gboolean
add_send_branch (
    MeteredConnection *conn, MeteredLocalTrack *track, GError **error)
{
  const char *name =
      gst_structure_get_name (gst_caps_get_structure (track->caps, 0));
  GstElement *appsrc, *pay, *filter;
  g_autoptr (GstCaps) rtp_caps = NULL;
  GstPad *srcpad, *sinkpad;
  GstWebRTCRTPTransceiver *trans = NULL;
  SendBranch *branch;
  GstRTPHeaderExtension *playout = NULL;
  guint ssrc;
  gint twcc_id;
  const MeteredCodec *codec = metered_codec_from_caps_name (name);

  if (!codec) {
    g_set_error (error, GST_STREAM_ERROR, GST_STREAM_ERROR_CODEC_NOT_FOUND,
        "cannot send %s (VP8, VP9, H264 and Opus can be sent)", name);
    return FALSE;
  }

  appsrc = gst_element_factory_make ("appsrc", NULL);
  /* Never block the owner: when this viewer falls behind, its oldest
   * buffers go. */
  g_object_set (appsrc, "caps", track->caps, "format", GST_FORMAT_TIME,
      "is-live", TRUE, "do-timestamp", FALSE, "block", FALSE, "max-buffers",
      (guint64) 120, "leaky-type", GST_APP_LEAKY_TYPE_DOWNSTREAM, NULL);
  pay = gst_element_factory_make (codec->payloader, NULL);
  if (!pay) {
    g_set_error (error, GST_CORE_ERROR, GST_CORE_ERROR_MISSING_PLUGIN,
        "element %s is missing", codec->payloader);
    gst_object_unref (appsrc);
    return FALSE;
  }
  /* The SSRC is chosen here, not by the payloader, because it must be in
   * the caps webrtcbin makes the description from: only then does it
   * write a=ssrc-group:FID <media> <rtx> for the retransmissions. */
  ssrc = g_random_int ();
  g_object_set (pay, "pt", codec->payload_type, "ssrc", ssrc, NULL);
  metered_codec_apply_props (pay, codec->payloader_props);
  filter = gst_element_factory_make ("capsfilter", NULL);
  rtp_caps = gst_caps_new_simple ("application/x-rtp", "media", G_TYPE_STRING,
      metered_media_kind_to_string (codec->kind), "encoding-name",
      G_TYPE_STRING, codec->encoding_name, "payload", G_TYPE_INT,
      codec->payload_type, "clock-rate", G_TYPE_INT, codec->clock_rate, "ssrc",
      G_TYPE_UINT, ssrc, NULL);
  metered_codec_add_fmtp (codec, rtp_caps);
  if (codec->kind == METERED_MEDIA_VIDEO) {
    /* in the caps, so that webrtcbin writes its a=extmap */
    playout = metered_playout_delay_ext_new (PLAYOUT_DELAY_EXT_ID);
    g_signal_emit_by_name (pay, "add-extension", playout);
    gst_caps_set_simple (rtp_caps, "extmap-" G_STRINGIFY (PLAYOUT_DELAY_EXT_ID),
        G_TYPE_STRING, METERED_PLAYOUT_DELAY_URI, NULL);
  }
  /* The remote numbered it already (we answered its offer first): a
   * different id on our m-line would break the bundle's numbering. */
  twcc_id = conn->remote_sdp
                ? metered_sdp_extmap_id (conn->remote_sdp, METERED_TWCC_URI)
                : -1;
  metered_twcc_add_extension (
      pay, rtp_caps, twcc_id > 0 ? (guint) twcc_id : METERED_TWCC_DEFAULT_ID);
  g_object_set (filter, "caps", rtp_caps, NULL);
  gst_bin_add_many (GST_BIN (conn->pipeline), appsrc, pay, filter, NULL);
  gst_element_link_many (appsrc, pay, filter, NULL);

  srcpad = gst_element_get_static_pad (filter, "src");
  sinkpad = gst_element_request_pad_simple (conn->webrtc, "sink_%u");
  g_object_set (sinkpad, "msid", track->stream_id, NULL);
  if (gst_pad_link (srcpad, sinkpad) != GST_PAD_LINK_OK) {
    g_set_error (error, GST_CORE_ERROR, GST_CORE_ERROR_NEGOTIATION,
        "could not link the %s branch to webrtcbin", name);
    gst_clear_object (&playout);
    gst_object_unref (srcpad);
    gst_object_unref (sinkpad);
    return FALSE;
  }
  gst_pad_add_probe (
      srcpad, GST_PAD_PROBE_TYPE_BUFFER, drop_stale_count_sent, conn, NULL);
  if (codec->kind == METERED_MEDIA_VIDEO && !conn->twcc_attached) {
    metered_twcc_queue_attach (conn->twcc, srcpad);
    conn->twcc_attached = TRUE;
  }
  g_object_get (sinkpad, "transceiver", &trans, NULL);
  if (trans) {
    /* Send-only: the remote's own tracks get m-lines of their own (see
     * add_send_branches), so ours are never answered onto theirs. */
    g_object_set (trans, "direction",
        GST_WEBRTC_RTP_TRANSCEIVER_DIRECTION_SENDONLY, NULL);
    if (codec->kind == METERED_MEDIA_VIDEO)
      enable_retransmission (trans);
    gst_object_unref (trans);
  }
  gst_object_unref (srcpad);
  gst_object_unref (sinkpad);

  branch = g_new0 (SendBranch, 1);
  branch->track = metered_local_track_copy (track);
  branch->appsrc = gst_object_ref (appsrc);
  branch->playout = (MeteredPlayoutDelayExt *) playout;
  if (codec->kind == METERED_MEDIA_VIDEO) {
    srcpad = gst_element_get_static_pad (appsrc, "src");
    branch->layers = metered_layer_probe_attach (srcpad, layer_stats, conn);
    gst_object_unref (srcpad);
  }
  METERED_CONNECTION_LOCK (conn);
  g_ptr_array_add (conn->send, branch);
  METERED_CONNECTION_UNLOCK (conn);
  if (conn->started) {
    gst_element_sync_state_with_parent (filter);
    gst_element_sync_state_with_parent (pay);
    gst_element_sync_state_with_parent (appsrc);
  }

  srcpad = gst_element_get_static_pad (appsrc, "src");
  g_object_set_data (G_OBJECT (srcpad), "metered-connection", conn);
  gst_pad_add_probe (srcpad, GST_PAD_PROBE_TYPE_EVENT_UPSTREAM,
      on_upstream_event, branch, NULL);
  gst_object_unref (srcpad);
  return TRUE;
}

/* rtprtxsend pushes media from its sink's streaming thread and resends
 * from a task of its own: lock guards budget; a leaf (nothing else is
 * locked or called under it). conn: not owned, outlives the pipeline and
 * so this probe. */
typedef struct
{
  GMutex lock;
  MeteredRtxBudget budget; /* lock */
  MeteredConnection *conn;
} RtxBudget;

static void
rtx_budget_free (RtxBudget *budget)
{
  g_mutex_clear (&budget->lock);
  g_free (budget);
}

/* A resend refused: the viewer's video tracks need a key frame instead
 * (metered-rtx-budget.h). */
static void
request_key_units (MeteredConnection *conn)
{
  g_autoptr (GPtrArray) ids = g_ptr_array_new_with_free_func (g_free);

  METERED_CONNECTION_LOCK (conn);
  for (guint i = 0; i < conn->send->len; i++) {
    SendBranch *b = g_ptr_array_index (conn->send, i);
    if (b->layers)
      g_ptr_array_add (ids, g_strdup (b->track->track_id));
  }
  METERED_CONNECTION_UNLOCK (conn);
  for (guint i = 0; i < ids->len; i++)
    metered_connection_invoke (conn, emit_key_unit_on_context,
        g_strdup (g_ptr_array_index (ids, i)), g_free);
}

/* TRUE when buf, an RTP packet from rtprtxsend, may go. Our payloaders'
 * packets (the codec table's payload types) earn credit, anything else
 * is a resend and spends it. A resend under a payload type of the table
 * (an answer may reuse one for rtx) passes unlimited: never a media
 * packet dropped. */
static gboolean
rtx_budget_pass (RtxBudget *budget, GstBuffer *buf)
{
  guint8 header[2];
  gboolean pass, want_key_unit;

  if (gst_buffer_extract (buf, 0, header, 2) != 2)
    return TRUE;
  g_mutex_lock (&budget->lock);
  pass = metered_rtx_budget_pass (&budget->budget,
      metered_codec_from_payload_type (header[1] & 0x7f) != NULL,
      gst_buffer_get_size (buf), g_get_monotonic_time (), &want_key_unit);
  g_mutex_unlock (&budget->lock);
  if (!pass)
    GST_LOG ("retransmission over budget: dropped");
  if (want_key_unit) {
    GST_DEBUG_OBJECT (
        budget->conn, "retransmission over budget: a key frame instead");
    request_key_units (budget->conn);
  }
  return pass;
}

static gboolean
rtx_budget_keep (GstBuffer **buf, guint idx, gpointer data)
{
  if (!rtx_budget_pass (data, *buf))
    gst_clear_buffer (buf);
  return TRUE;
}

static GstPadProbeReturn
rtx_budget_probe (GstPad *pad, GstPadProbeInfo *info, gpointer data)
{
  if (info->type & GST_PAD_PROBE_TYPE_BUFFER)
    return rtx_budget_pass (data, GST_PAD_PROBE_INFO_BUFFER (info))
               ? GST_PAD_PROBE_OK
               : GST_PAD_PROBE_DROP;
  if (info->type & GST_PAD_PROBE_TYPE_BUFFER_LIST) {
    GstBufferList *list =
        gst_buffer_list_make_writable (GST_PAD_PROBE_INFO_BUFFER_LIST (info));
    gst_buffer_list_foreach (list, rtx_budget_keep, data);
    GST_PAD_PROBE_INFO_DATA (info) = list;
  }
  return GST_PAD_PROBE_OK;
}

/* webrtcbin makes an rtprtxsend per session when it links a stream. */
static void
on_deep_element_added (
    GstBin *bin, GstBin *sub, GstElement *element, MeteredConnection *conn)
{
  const MeteredRtxBudgetConfig budget_config =
      METERED_RTX_BUDGET_CONFIG_DEFAULT;
  GstElementFactory *factory = gst_element_get_factory (element);
  RtxBudget *budget;
  GstPad *src;

  if (!factory || !g_str_equal (GST_OBJECT_NAME (factory), "rtprtxsend"))
    return;
  src = gst_element_get_static_pad (element, "src");
  if (!src)
    return;
  budget = g_new0 (RtxBudget, 1);
  g_mutex_init (&budget->lock);
  metered_rtx_budget_init (&budget->budget, &budget_config);
  budget->conn = conn;
  GST_DEBUG_OBJECT (conn, "retransmissions at most %d %% of the media",
      (int) (budget_config.share * 100));
  gst_pad_add_probe (src,
      GST_PAD_PROBE_TYPE_BUFFER | GST_PAD_PROBE_TYPE_BUFFER_LIST,
      rtx_budget_probe, budget, (GDestroyNotify) rtx_budget_free);
  gst_object_unref (src);
}

/* RTP caps for receiving one kind, in the configured codec order (the
 * remote picks the first it can send). NULL when no codec of that kind
 * is wanted. */
static GstCaps *
receive_caps (MeteredConnection *conn, MeteredMediaKind kind)
{
  const char *const default_order[] = { "vp8", "h264", "opus", NULL };
  const char *const *order = conn->receive_codecs
                                 ? (const char *const *) conn->receive_codecs
                                 : default_order;
  GstCaps *caps = gst_caps_new_empty ();

  for (guint i = 0; order[i]; i++) {
    const MeteredCodec *codec = metered_codec_from_name (order[i]);
    if (codec && codec->kind == kind)
      gst_caps_append (caps, gst_caps_from_string (codec->receive_caps));
  }
  if (gst_caps_is_empty (caps))
    gst_clear_caps (&caps);
  return caps;
}

gboolean
metered_connection_add_send_branches (MeteredConnection *conn, GError **error)
{
  /* Offering while we also receive: a receive-only video m-line comes
   * first. A browser attaches its own camera (a transceiver it made with
   * addTrack) to the first matching m-line of our offer, and the receiver
   * track of such a transceiver keeps the random id it was born with;
   * our tracks follow on m-lines the browser creates transceivers for
   * from our offer, whose track ids are our a=msid ids, so the track
   * metadata matches. */
  if (conn->receive && !conn->answer_first) {
    GstWebRTCRTPTransceiver *recv = NULL;
    g_autoptr (GstCaps) video = receive_caps (conn, METERED_MEDIA_VIDEO);
    g_autoptr (GstCaps) audio = receive_caps (conn, METERED_MEDIA_AUDIO);

    if (video) {
      g_signal_emit_by_name (conn->webrtc, "add-transceiver",
          GST_WEBRTC_RTP_TRANSCEIVER_DIRECTION_RECVONLY, video, &recv);
      if (recv)
        enable_retransmission (recv);
      gst_clear_object (&recv);
    }
    if (audio) {
      g_signal_emit_by_name (conn->webrtc, "add-transceiver",
          GST_WEBRTC_RTP_TRANSCEIVER_DIRECTION_RECVONLY, audio, &recv);
      gst_clear_object (&recv);
    }
  }
  conn->send_added = TRUE;
  for (guint i = 0; i < conn->pending_tracks->len; i++)
    if (!add_send_branch (
            conn, g_ptr_array_index (conn->pending_tracks, i), error))
      return FALSE;
  return TRUE;
}

static void
send_branch_free (SendBranch *branch)
{
  gst_object_unref (branch->appsrc);
  gst_clear_object (&branch->playout);
  metered_local_track_free (branch->track);
  g_free (branch);
}

void
metered_connection_push (
    MeteredConnection *conn, const char *track_id, GstBuffer *buffer)
{
  GstElement *appsrc = NULL;

  METERED_CONNECTION_LOCK (conn);
  /* A stopped connection takes no more buffers (its pipeline is going). */
  for (guint i = 0; !conn->stopped && i < conn->send->len; i++) {
    SendBranch *b = g_ptr_array_index (conn->send, i);
    if (g_str_equal (b->track->track_id, track_id)) {
      appsrc = gst_object_ref (b->appsrc);
      break;
    }
  }
  METERED_CONNECTION_UNLOCK (conn);
  /* Outside our lock (it also guards what webrtcbin's threads read). A
   * push racing stop() lands in a flushing appsrc, which drops it. */
  if (appsrc) {
    gst_app_src_push_buffer (GST_APP_SRC (appsrc), gst_buffer_ref (buffer));
    gst_object_unref (appsrc);
  }
}

/* --- life cycle --- */

static gboolean
on_bus_message (GstBus *bus, GstMessage *msg, gpointer data)
{
  MeteredConnection *conn = data;

  /* webrtcbin builds its rtpbin and transports during negotiation, after
   * the pipeline distributed latency on its way to PLAYING. Nobody but the
   * application redistributes it: without this, rtpsession warns for every
   * packet sent that it cannot tell its running time. */
  if (GST_MESSAGE_TYPE (msg) == GST_MESSAGE_LATENCY) {
    gst_bin_recalculate_latency (GST_BIN (conn->pipeline));
    return G_SOURCE_CONTINUE;
  }
  if (GST_MESSAGE_TYPE (msg) == GST_MESSAGE_ERROR) {
    g_autoptr (GError) error = NULL;
    g_autofree char *debug = NULL;
    gst_message_parse_error (msg, &error, &debug);
    GST_WARNING_OBJECT (conn, "connection pipeline error: %s (%s)",
        error->message, debug ? debug : "");
    metered_connection_invoke (conn, state_changed_on_context,
        GINT_TO_POINTER (GST_WEBRTC_PEER_CONNECTION_STATE_FAILED), NULL);
  }
  return G_SOURCE_CONTINUE;
}

gboolean
metered_connection_start (MeteredConnection *conn, GError **error)
{
  g_autofree char *name =
      g_strdup_printf ("metered-pc-%s", conn->remote_peer_id);
  GstBus *bus;
  GSource *watch;

  conn->pipeline = gst_pipeline_new (name);
  conn->webrtc = gst_element_factory_make ("webrtcbin", NULL);
  if (!conn->webrtc) {
    g_set_error (error, GST_CORE_ERROR, GST_CORE_ERROR_MISSING_PLUGIN,
        "webrtcbin is missing (gst-plugins-bad)");
    return FALSE;
  }
  g_object_set (conn->webrtc, "bundle-policy",
      GST_WEBRTC_BUNDLE_POLICY_MAX_BUNDLE, "latency", 100, NULL);
  if (conn->stun_server)
    g_object_set (conn->webrtc, "stun-server", conn->stun_server, NULL);
  for (GStrv t = conn->turn_servers; t && *t; t++) {
    gboolean ok = FALSE;
    g_signal_emit_by_name (conn->webrtc, "add-turn-server", *t, &ok);
  }
  /* No UPnP port mapping: a media server or an ingest box must not ask
   * the LAN's router to open ports, and the discovery costs time and
   * memory on every connection. */
  {
    GObject *ice = NULL, *agent = NULL;
    g_object_get (conn->webrtc, "ice-agent", &ice, NULL);
    if (ice && g_object_class_find_property (G_OBJECT_GET_CLASS (ice), "agent"))
      g_object_get (ice, "agent", &agent, NULL);
    if (agent &&
        g_object_class_find_property (G_OBJECT_GET_CLASS (agent), "upnp"))
      g_object_set (agent, "upnp", FALSE, NULL);
    g_clear_object (&agent);
    g_clear_object (&ice);
  }
  gst_bin_add (GST_BIN (conn->pipeline), conn->webrtc);

  if (conn->clock) {
    gst_pipeline_use_clock (GST_PIPELINE (conn->pipeline), conn->clock);
    gst_element_set_base_time (conn->pipeline, conn->base_time);
    gst_element_set_start_time (conn->pipeline, GST_CLOCK_TIME_NONE);
  }

  metered_negotiation_attach (conn);
  g_signal_connect (conn->pipeline, "deep-element-added",
      G_CALLBACK (on_deep_element_added), conn);
  if (conn->recv_latency)
    metered_recv_latency_attach (
        conn->recv_latency, conn->pipeline, conn->webrtc, conn->context);
  g_signal_connect (conn->webrtc, "notify::connection-state",
      G_CALLBACK (on_connection_state), conn);
  g_signal_connect (conn->webrtc, "pad-added", G_CALLBACK (on_pad_added), conn);
  g_signal_connect (conn->webrtc, "on-new-transceiver",
      G_CALLBACK (on_new_transceiver), conn);

  bus = gst_pipeline_get_bus (GST_PIPELINE (conn->pipeline));
  watch = gst_bus_create_watch (bus);
  g_source_set_callback (watch, G_SOURCE_FUNC (on_bus_message), conn, NULL);
  g_source_attach (watch, conn->context);
  g_object_set_data_full (G_OBJECT (conn->pipeline), "metered-bus-watch", watch,
      (GDestroyNotify) g_source_destroy);
  g_source_unref (watch);
  gst_object_unref (bus);

  if (!conn->answer_first &&
      !metered_connection_add_send_branches (conn, error))
    return FALSE;

  conn->started = TRUE;
  if (gst_element_set_state (conn->pipeline, GST_STATE_PLAYING) ==
      GST_STATE_CHANGE_FAILURE) {
    g_set_error (error, GST_CORE_ERROR, GST_CORE_ERROR_STATE_CHANGE,
        "the connection pipeline does not start");
    return FALSE;
  }
  return TRUE;
}

typedef struct
{
  GstElement *pipeline;
  MeteredConnection *conn; /* kept alive: appsink callbacks point to it */
} StopJob;

/* Teardowns still running, so that owners can wait for them.
 * METERED_STOPS_LOCK guards stops_running (stops_cond signals its
 * changes); a leaf: nothing else is called or locked under it. */
static GMutex stops_lock;
static GCond stops_cond;
static guint stops_running;
#define METERED_STOPS_LOCK() g_mutex_lock (&stops_lock)
#define METERED_STOPS_UNLOCK() g_mutex_unlock (&stops_lock)

/* webrtcbin 1.22 can bring a transport's receive bin up from its own
 * thread while the pipeline goes down (its nicesrc is state-locked and
 * set PLAYING there): that nicesrc would run, and hold the pipeline,
 * forever. Once set_state (NULL) returned, webrtcbin's thread is gone:
 * whatever is still above NULL is set to NULL. */
static void
sweep_to_null (GstElement *pipeline)
{
  GstIterator *it = gst_bin_iterate_recurse (GST_BIN (pipeline));
  GPtrArray *up = g_ptr_array_new_with_free_func (gst_object_unref);
  GValue item = G_VALUE_INIT;
  gboolean done = FALSE;

  while (!done) {
    switch (gst_iterator_next (it, &item)) {
      case GST_ITERATOR_OK: {
        GstElement *e = g_value_get_object (&item);
        if (GST_STATE (e) != GST_STATE_NULL ||
            GST_STATE_PENDING (e) != GST_STATE_VOID_PENDING)
          g_ptr_array_add (up, gst_object_ref (e));
        g_value_reset (&item);
        break;
      }
      case GST_ITERATOR_RESYNC:
        gst_iterator_resync (it);
        g_ptr_array_set_size (up, 0);
        break;
      default:
        done = TRUE;
        break;
    }
  }
  g_value_unset (&item);
  gst_iterator_free (it);
  for (guint i = 0; i < up->len; i++) {
    GstElement *e = g_ptr_array_index (up, i);
    GST_INFO_OBJECT (e, "still %s after teardown: setting it to NULL",
        gst_element_state_get_name (GST_STATE (e)));
    gst_element_set_locked_state (e, FALSE);
    gst_element_set_state (e, GST_STATE_NULL);
  }
  g_ptr_array_unref (up);
}

static gpointer
stop_thread (gpointer data)
{
  StopJob *job = data;

  gst_element_set_state (job->pipeline, GST_STATE_NULL);
  sweep_to_null (job->pipeline);
  metered_negotiation_interrupt_promises (job->conn);
  gst_object_unref (job->pipeline);
  gst_object_unref (job->conn);
  g_free (job);
  METERED_STOPS_LOCK ();
  stops_running--;
  g_cond_broadcast (&stops_cond);
  METERED_STOPS_UNLOCK ();
  return NULL;
}

gboolean
metered_connection_wait_stopped (guint timeout_ms)
{
  gint64 end = g_get_monotonic_time () + (gint64) timeout_ms * 1000;
  gboolean done;

  METERED_STOPS_LOCK ();
  while (stops_running > 0 && g_cond_wait_until (&stops_cond, &stops_lock, end))
    ;
  done = stops_running == 0;
  METERED_STOPS_UNLOCK ();
  return done;
}

void
metered_connection_stop (MeteredConnection *conn)
{
  GThread *thread;
  StopJob *job;

  if (conn->stopped)
    return;
  METERED_CONNECTION_LOCK (conn);
  conn->stopped = TRUE;
  METERED_CONNECTION_UNLOCK (conn);
  metered_connection_set_sample_func (conn, NULL, NULL, NULL);
  if (!conn->pipeline)
    return;
  g_signal_handlers_disconnect_by_data (conn->webrtc, conn);
  g_object_set_data (G_OBJECT (conn->pipeline), "metered-bus-watch", NULL);
  if (conn->recv_latency)
    metered_recv_latency_detach (conn->recv_latency);
  /* Setting webrtcbin to NULL can block for a while on 1.22: never on the
   * owner's thread. */
  job = g_new0 (StopJob, 1);
  job->pipeline = g_steal_pointer (&conn->pipeline);
  job->conn = gst_object_ref (conn);
  METERED_STOPS_LOCK ();
  stops_running++;
  METERED_STOPS_UNLOCK ();
  thread = g_thread_new ("metered-pc-stop", stop_thread, job);
  g_thread_unref (thread);
  conn->webrtc = NULL;
}

void
metered_connection_request_key_unit (
    MeteredConnection *conn, const char *track_id)
{
  g_autoptr (GPtrArray) sinks =
      g_ptr_array_new_with_free_func (gst_object_unref);

  METERED_CONNECTION_LOCK (conn);
  for (guint i = 0; i < conn->recv->len; i++) {
    RecvBranch *b = g_ptr_array_index (conn->recv, i);
    if (b->appsink &&
        (!track_id || g_strcmp0 (b->track->track_id, track_id) == 0))
      g_ptr_array_add (sinks, gst_object_ref (b->appsink));
  }
  METERED_CONNECTION_UNLOCK (conn);
  /* Upstream through the depayloader to the RTP session, which sends the
   * remote a PLI. */
  for (guint i = 0; i < sinks->len; i++) {
    GstPad *pad =
        gst_element_get_static_pad (g_ptr_array_index (sinks, i), "sink");
    GST_DEBUG_OBJECT (conn, "asking %s for a key unit", conn->remote_peer_id);
    gst_pad_push_event (pad, gst_video_event_new_upstream_force_key_unit (
                                 GST_CLOCK_TIME_NONE, TRUE, 0));
    gst_object_unref (pad);
  }
}

GstWebRTCPeerConnectionState
metered_connection_get_state (MeteredConnection *conn)
{
  return conn->state;
}

guint64
metered_connection_get_packets_received (MeteredConnection *conn)
{
  return (guint64) g_atomic_pointer_get (&conn->packets_received);
}

guint64
metered_connection_get_packets_sent (MeteredConnection *conn)
{
  return (guint64) g_atomic_pointer_get (&conn->packets_sent);
}

GPtrArray *
metered_connection_take_twcc_feedback (
    MeteredConnection *conn, guint64 *received)
{
  return metered_twcc_queue_take (conn->twcc, received);
}

/* A viewer repairing losses gets time for a retransmission in its jitter
 * buffer (metered-playout-delay.h); round_trip_ms 0: not known yet. */
static void
update_playout_delay (
    MeteredConnection *conn, guint round_trip_ms, guint64 nacks_received)
{
  guint min_ms;

  METERED_CONNECTION_LOCK (conn);
  min_ms = metered_playout_delay_update (&conn->playout_delay, round_trip_ms,
      nacks_received, g_get_monotonic_time ());
  for (guint i = 0; i < conn->send->len; i++) {
    SendBranch *b = g_ptr_array_index (conn->send, i);
    if (b->playout &&
        metered_playout_delay_ext_get_min (b->playout) != min_ms) {
      GST_DEBUG_OBJECT (conn, "minimum playout delay %u ms", min_ms);
      metered_playout_delay_ext_set_min (b->playout, min_ms);
    }
  }
  METERED_CONNECTION_UNLOCK (conn);
}

/* What the remote's RTCP says about the media (issue 15): the loss and
 * round trip of its latest receiver reports on what we send, NACKs and
 * PLIs both ways, packets lost on what we receive. Read synchronously
 * from the connection's RTP session (one, bundled); nothing before the
 * connection is up or after it stopped. */
void
metered_connection_add_feedback_stats (
    MeteredConnection *conn, GVariantBuilder *builder)
{
  GstElement *webrtc = NULL, *rtpbin = NULL;
  GObject *session = NULL;
  GstStructure *stats = NULL;
  const GValue *sources;
  guint nacks_sent = 0, nacks_received = 0, plis_sent = 0, plis_received = 0;
  guint fraction_lost = 0, round_trip = 0, rb_seq = 0;
  gint64 packets_lost = 0;
  gboolean have_rb = FALSE;

  METERED_CONNECTION_LOCK (conn);
  if (g_atomic_int_get (&conn->media_ready) && !conn->stopped && conn->webrtc)
    webrtc = gst_object_ref (conn->webrtc);
  METERED_CONNECTION_UNLOCK (conn);
  if (!webrtc)
    return;
  rtpbin = gst_bin_get_by_name (GST_BIN (webrtc), "rtpbin");
  if (rtpbin)
    g_signal_emit_by_name (rtpbin, "get-internal-session", 0, &session);
  if (session)
    g_object_get (session, "stats", &stats, NULL);
  if (stats) {
    gst_structure_get_uint (stats, "sent-nack-count", &nacks_sent);
    gst_structure_get_uint (stats, "recv-nack-count", &nacks_received);
    sources = gst_structure_get_value (stats, "source-stats");
    /* a GValueArray: deprecated, but what rtpsession 1.22 gives */
    if (sources && G_VALUE_HOLDS_BOXED (sources)) {
      G_GNUC_BEGIN_IGNORE_DEPRECATIONS
      GValueArray *array = g_value_get_boxed (sources);
      for (guint i = 0; array && i < array->n_values; i++) {
        const GstStructure *src =
            gst_value_get_structure (g_value_array_get_nth (array, i));
        gboolean internal = FALSE, rb = FALSE;
        guint v = 0;
        gint lost = 0;

        gst_structure_get_boolean (src, "internal", &internal);
        if (gst_structure_get_uint (src, "sent-pli-count", &v))
          plis_sent += v;
        if (gst_structure_get_uint (src, "recv-pli-count", &v))
          plis_received += v;
        if (!internal && gst_structure_get_int (src, "packets-lost", &lost) &&
            lost > 0)
          packets_lost += lost;
        /* a report block about our media, kept on its sender's source */
        if (gst_structure_get_boolean (src, "have-rb", &rb) && rb) {
          have_rb = TRUE;
          if (gst_structure_get_uint (src, "rb-fractionlost", &v))
            fraction_lost = MAX (fraction_lost, v);
          if (gst_structure_get_uint (src, "rb-round-trip", &v))
            round_trip = MAX (round_trip, v);
          if (gst_structure_get_uint (src, "rb-exthighestseq", &v))
            rb_seq = MAX (rb_seq, v);
        }
      }
      G_GNUC_END_IGNORE_DEPRECATIONS
    }
    g_variant_builder_add (
        builder, "{sv}", "nacks-sent", g_variant_new_uint64 (nacks_sent));
    g_variant_builder_add (builder, "{sv}", "nacks-received",
        g_variant_new_uint64 (nacks_received));
    g_variant_builder_add (
        builder, "{sv}", "plis-sent", g_variant_new_uint64 (plis_sent));
    g_variant_builder_add (
        builder, "{sv}", "plis-received", g_variant_new_uint64 (plis_received));
    g_variant_builder_add (
        builder, "{sv}", "packets-lost", g_variant_new_int64 (packets_lost));
    update_playout_delay (
        conn, (guint) ((guint64) round_trip * 1000 / 65536), nacks_received);
    if (have_rb) {
      /* fraction lost as RFC 3550 has it (1/256); round trip in 1/65536 s */
      g_variant_builder_add (builder, "{sv}", "fraction-lost",
          g_variant_new_uint32 (fraction_lost));
      g_variant_builder_add (builder, "{sv}", "round-trip-ms",
          g_variant_new_uint32 ((guint) ((guint64) round_trip * 1000 / 65536)));
      /* moves with every new report: tells a new one from one read again */
      g_variant_builder_add (
          builder, "{sv}", "rb-exthighestseq", g_variant_new_uint32 (rb_seq));
    }
    gst_structure_free (stats);
  }
  g_clear_object (&session);
  gst_clear_object (&rtpbin);
  gst_object_unref (webrtc);
}

void
metered_connection_set_layer_cap (MeteredConnection *conn, const char *track_id,
    gint cap, gboolean keyframes_only)
{
  METERED_CONNECTION_LOCK (conn);
  for (guint i = 0; i < conn->send->len; i++) {
    SendBranch *b = g_ptr_array_index (conn->send, i);
    /* the probe takes only its own leaf lock */
    if (b->layers && (!track_id || g_str_equal (b->track->track_id, track_id)))
      metered_layer_probe_set_cap (b->layers, cap, keyframes_only);
  }
  METERED_CONNECTION_UNLOCK (conn);
}

void
metered_connection_set_sample_func (MeteredConnection *conn,
    MeteredSampleFunc func, gpointer user_data, GDestroyNotify destroy)
{
  gpointer old_data;
  GDestroyNotify old_destroy;

  /* Once swapped under the lock no callback runs with the old data:
   * destroyed after, outside it. */
  METERED_CONNECTION_SAMPLE_LOCK (conn);
  old_data = conn->sample_data;
  old_destroy = conn->sample_destroy;
  conn->sample_func = func;
  conn->sample_data = user_data;
  conn->sample_destroy = destroy;
  METERED_CONNECTION_SAMPLE_UNLOCK (conn);
  if (old_destroy)
    old_destroy (old_data);
}

static void
metered_connection_finalize (GObject *object)
{
  MeteredConnection *conn = METERED_CONNECTION (object);

  /* Owners call stop(); a connection dropped without it is stopped here,
   * synchronously (stop() would need a reference we can no longer take). */
  if (conn->pipeline) {
    g_signal_handlers_disconnect_by_data (conn->webrtc, conn);
    g_object_set_data (G_OBJECT (conn->pipeline), "metered-bus-watch", NULL);
    if (conn->recv_latency)
      metered_recv_latency_detach (conn->recv_latency);
    gst_element_set_state (conn->pipeline, GST_STATE_NULL);
    gst_clear_object (&conn->pipeline);
  }
  if (conn->sample_destroy)
    conn->sample_destroy (conn->sample_data);
  g_mutex_clear (&conn->sample_lock);
  metered_twcc_queue_free (conn->twcc);
  g_ptr_array_unref (conn->send);
  g_ptr_array_unref (conn->recv);
  g_ptr_array_unref (conn->pending_tracks);
  metered_recv_latency_free (conn->recv_latency);
  metered_negotiation_clear (conn);
  g_free (conn->remote_peer_id);
  g_free (conn->stun_server);
  g_strfreev (conn->turn_servers);
  g_strfreev (conn->receive_codecs);
  gst_clear_object (&conn->clock);
  g_main_context_unref (conn->context);
  G_OBJECT_CLASS (metered_connection_parent_class)->finalize (object);
}

static void
metered_connection_class_init (MeteredConnectionClass *klass)
{
  G_OBJECT_CLASS (klass)->finalize = metered_connection_finalize;

  GST_DEBUG_CATEGORY_INIT (
      metered_peer_debug, "metered-peer", 0, "Metered peer connections");

  /**
   * MeteredConnection::outgoing:
   * @conn: the connection
   * @payload: JSON to send to the remote peer (rtc-description, rtc-ice)
   */
  signals[SIGNAL_OUTGOING] =
      g_signal_new ("outgoing", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0,
          NULL, NULL, NULL, G_TYPE_NONE, 1, G_TYPE_STRING);
  /**
   * MeteredConnection::state-changed:
   * @conn: the connection
   * @state: the GstWebRTCPeerConnectionState now
   */
  signals[SIGNAL_STATE_CHANGED] = g_signal_new ("state-changed",
      G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL,
      G_TYPE_NONE, 1, GST_TYPE_WEBRTC_PEER_CONNECTION_STATE);
  /**
   * MeteredConnection::remote-track:
   * @conn: the connection
   * @track: (type gpointer): the MeteredRemoteTrack now flowing
   */
  signals[SIGNAL_REMOTE_TRACK] = g_signal_new ("remote-track",
      G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL,
      G_TYPE_NONE, 1, G_TYPE_POINTER);
  signals[SIGNAL_KEY_UNIT_REQUEST] = g_signal_new ("key-unit-request",
      G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL,
      G_TYPE_NONE, 1, G_TYPE_STRING);
  /**
   * MeteredConnection::ice-restart:
   * @conn: the connection
   * @local: TRUE for our own restart, FALSE for the remote's
   *
   * ICE restarted on this connection (metered-negotiation.c).
   */
  g_signal_new ("ice-restart", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0,
      NULL, NULL, NULL, G_TYPE_NONE, 1, G_TYPE_BOOLEAN);
}

static void
metered_connection_init (MeteredConnection *conn)
{
  const MeteredPlayoutDelayConfig playout_delay =
      METERED_PLAYOUT_DELAY_CONFIG_DEFAULT;

  metered_playout_delay_init (&conn->playout_delay, &playout_delay);
  conn->send =
      g_ptr_array_new_with_free_func ((GDestroyNotify) send_branch_free);
  conn->recv =
      g_ptr_array_new_with_free_func ((GDestroyNotify) recv_branch_free);
  g_mutex_init (&conn->sample_lock);
  conn->twcc = metered_twcc_queue_new ();
  metered_negotiation_init (conn);
}

MeteredConnection *
metered_connection_new (const MeteredConnectionConfig *config)
{
  MeteredConnection *conn = g_object_new (METERED_TYPE_CONNECTION, NULL);

  gst_object_ref_sink (conn);
  conn->context = config->context ? g_main_context_ref (config->context)
                                  : g_main_context_ref_thread_default ();
  conn->remote_peer_id = g_strdup (config->remote_peer_id);
  conn->polite = config->polite;
  conn->stun_server = g_strdup (config->stun_server);
  conn->turn_servers = g_strdupv ((GStrv) config->turn_servers);
  conn->receive = config->receive;
  conn->clock = config->clock ? gst_object_ref (config->clock) : NULL;
  conn->base_time = config->base_time;
  conn->answer_first = config->answer_first;
  conn->receive_codecs = g_strdupv ((GStrv) config->receive_codecs);
  if (conn->receive)
    conn->recv_latency = metered_recv_latency_new (config->receive_latency_ms);
  conn->pending_tracks = g_ptr_array_new_with_free_func (
      (GDestroyNotify) metered_local_track_free);
  for (guint i = 0; config->local_tracks && i < config->local_tracks->len; i++)
    g_ptr_array_add (conn->pending_tracks,
        metered_local_track_copy (g_ptr_array_index (config->local_tracks, i)));
  return conn;
}
