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

/**
 * SECTION:element-meteredsink
 * @title: meteredsink
 * @see_also: webrtcbin
 *
 * Sends a pipeline's audio and video to every peer of a channel of the
 * Metered Realtime Messaging service (or of any server speaking its wire
 * protocol, such as `metered-server`). Peers find each other through the
 * channel's presence; media goes peer to peer over WebRTC, and the
 * signalling socket only carries SDP, ICE candidates and application data.
 * Browsers running the `@metered-ca/realtime` SDK in the same channel see
 * the stream as a `stream-added` event carrying
 * #GstMeteredSink:stream-metadata.
 *
 * Each request pad (`video_%u`, `audio_%u`) accepts raw media, which the
 * element encodes once (VP8 or H.264 for video, Opus for audio) however
 * many peers are watching, or media that is already encoded (VP8, VP9,
 * H.264, Opus), which is passed through. The encoded stream is fanned out
 * to one WebRTC connection per remote peer. Upstream never blocks and never
 * sees an error because of the network: while nobody watches, encoded data
 * is dropped; when a peer joins, or its connection is rebuilt, or a viewer
 * asks for one (PLI/FIR), a key frame is requested from the encoder (at
 * most one a second of running time per track, the encoder's own included,
 * however many peers ask; each viewer's PLIs are budgeted, so that one
 * viewer behind a lossy link does not force key frames on all). With
 * #GstMeteredSink:adaptive-bitrate the encoder's target follows what the
 * viewers' receiver reports say they can take.
 *
 * Signalling drops, token refreshes and server restarts are recovered
 * silently (element messages on the bus tell what happened: see
 * #GstMeteredSink:stats and the `metered/...` messages). Only terminal
 * conditions become errors: an invalid or revoked credential or a channel
 * outside its scope (RESOURCE/NOT_AUTHORIZED), an account suspension, an
 * administrative kick or, if #GstMeteredSink:reconnect-max-attempts is set,
 * giving up (RESOURCE/OPEN_READ_WRITE). The error's details structure
 * carries the close code as `close-code`.
 *
 * The element is live: it does not preroll. Pads must be requested before
 * the element leaves the READY state.
 *
 * ## Example launch lines
 * |[
 * metered-server --dev --port 8080 &
 * gst-launch-1.0 videotestsrc is-live=true ! meteredsink
 * url=ws://127.0.0.1:8080 api-key=pk_dev_local channel=demo
 * ]| A test pattern, encoded to VP8, for every peer of channel `demo`.
 * |[
 * gst-launch-1.0 v4l2src ! videoconvert ! meteredsink name=s channel=studio-1 \
 *     token-url=https://example.com/token video-codec=h264 bitrate=2500000 \
 *     stream-metadata="meta,role=camera,label=studio" \
 *     pulsesrc ! audioconvert ! s.
 * ]| A camera and a microphone, H.264 and Opus, with a token from a web
 * service and metadata that the browser SDK's `stream-added` event carries.
 */

#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "gstmeteredsink.h"

#include "gstmeteredelements.h"
#include "gstmeteredsinkchain.h"
#include "gstmeteredsinkrate.h"
#include "peer/metered-codec.h"
#include "peer/metered-keyframe-broker.h"
#include "peer/metered-twcc.h"
#include "protocol/metered-protocol.h"

#include <gst/app/gstappsink.h>
#include <gst/video/video.h>
#include <json-glib/json-glib.h>
#include <math.h>
#include <string.h>

GST_DEBUG_CATEGORY_STATIC (gst_metered_sink_debug);
#define GST_CAT_DEFAULT gst_metered_sink_debug

#define DEFAULT_VIDEO_CODEC GST_METERED_SINK_VIDEO_CODEC_VP8
#define DEFAULT_AUDIO_CODEC GST_METERED_SINK_AUDIO_CODEC_OPUS
#define DEFAULT_BITRATE 1000000
#define MIN_BITRATE 50000
#define MAX_BITRATE GST_METERED_SINK_CHAIN_MAX_BITRATE
#define DEFAULT_ADAPTIVE_BITRATE TRUE
/* How often the viewers' reports are turned into an encoder target. */
#define RATE_ROUND_US G_TIME_SPAN_SECOND
/* How often the viewers' TWCC feedback alone is fed in between: over-use
 * is acted on well before a 100 ms bottleneck queue fills, where a 1 s
 * round let it overflow (docs/rate-control.md). Increases stay as slow
 * as the estimator's and the policy's clocks make them. */
#define TWCC_ROUND_US (200 * G_TIME_SPAN_MILLISECOND)

enum
{
  PROP_0,
  PROP_VIDEO_CODEC,
  PROP_AUDIO_CODEC,
  PROP_BITRATE,
  PROP_STREAM_METADATA,
  PROP_TEMPORAL_LAYERS,
  PROP_ADAPTIVE_BITRATE,
};

/* VP8 in three temporal layers (30, 15, 7.5 fps): one encoder serves
 * every viewer, and layers are what lets a viewer behind a slow link
 * still get a frame rate it can take (the others keep everything)
 * instead of losing most of every frame. */
#define DEFAULT_TEMPORAL_LAYERS 3

/* What a track carries once encoded: a row of the codec table. */
static gboolean
codec_is_video (MeteredCodecId id)
{
  return metered_codec_get (id)->kind == METERED_MEDIA_VIDEO;
}

static const char *
codec_caps_name (MeteredCodecId id)
{
  return metered_codec_get (id)->caps_name;
}

/* Raw input, the encoders' favourite format first (so that a source that
 * can produce several picks the one needing no conversion). */
#define RAW_VIDEO_CAPS "video/x-raw, format=(string)I420; video/x-raw"
#define RAW_AUDIO_CAPS                                                         \
  "audio/x-raw, format=(string)S16LE, layout=(string)interleaved, "            \
  "rate=(int)48000, channels=(int)[ 1, 2 ]; audio/x-raw"

static GstStaticPadTemplate video_template = GST_STATIC_PAD_TEMPLATE (
    "video_%u", GST_PAD_SINK, GST_PAD_REQUEST,
    GST_STATIC_CAPS ("video/x-raw; video/x-vp8; video/x-vp9; video/x-h264"));

static GstStaticPadTemplate audio_template =
    GST_STATIC_PAD_TEMPLATE ("audio_%u", GST_PAD_SINK, GST_PAD_REQUEST,
        GST_STATIC_CAPS ("audio/x-raw; audio/x-opus"));

/* One request pad: its input chain, the appsink whose samples go to every
 * connection, and its key-unit bookkeeping. */
typedef struct
{
  GstMeteredSink *sink; /* not owned */
  GstPad *pad; /* the ghost pad, owned by the element */
  gboolean video;
  /* Made at the first start, kept for the pad's lifetime (see
   * stream_id). */
  char *track_id;

  /* Guarded by GST_METERED_SINK_LOCK. */
  MeteredCodecId codec;
  gboolean codec_decided;
  GstElement *encoder; /* in chain, for bitrate changes (a reference) */
  /* Every viewer's key-frame requests for this track, merged (video). Its
   * times are in key_unit_clock_us ()'s base: clock_us is the latest
   * buffer's, the time of a request made between buffers. */
  MeteredKeyframeBroker broker;
  gint64 clock_us;
  /* The broker said force: leaves with the next buffer. */
  gboolean key_unit_pending;
  /* Forced and not answered yet: the next key frame of input we do not
   * encode is the answer (its own periodic ones are not ours to count). */
  gboolean key_unit_awaited;
  guint64 key_units_requested;
  guint64 key_units_sent;
  guint64 buffers_sent;
  guint64 bytes_encoded; /* what the encoder made, since the last round */

  /* Streaming thread (caps) and release only. */
  GstMeteredSinkChain chain;
  GstElement *appsink; /* child of the bin, for the pad's lifetime */
  GstPad *appsink_pad;
} SinkTrack;

struct _GstMeteredSink
{
  GstMeteredBaseBin parent;

  /* GST_METERED_SINK_LOCK guards everything below and the fields of each
   * track it marks. Nothing is called with it held but new objects of our
   * own (a track's pad, the session before it starts): the encoders are
   * set, the session pushed to and key units sent upstream after dropping
   * it. Not taken together with GST_METERED_BASE_BIN_LOCK. */
  GMutex lock;
  GstMeteredSinkVideoCodec video_codec;
  GstMeteredSinkAudioCodec audio_codec;
  guint bitrate;
  guint temporal_layers;
  GstStructure *stream_metadata;
  GList *tracks; /* SinkTrack* */
  guint next_video;
  guint next_audio;
  gboolean started; /* tracks handed to the session */
  guint key_unit_count;
  /* The encoder target from the viewers' reports (adaptive-bitrate). */
  gboolean adaptive;
  GstMeteredSinkRate *rate;
  /* What the Opus encoders were last told to expect, 0: not yet. */
  guint opus_loss_percent;
  /* When the last rate round was queued, g_get_monotonic_time (). */
  gint64 rate_round_us;
  /* When the last round of either kind was queued (TWCC_ROUND_US). */
  gint64 twcc_round_us;
  /* The a=msid stream id, made at the first start and kept for the
   * element's lifetime, like a browser's MediaStream id: receivers follow a
   * track by its ids across our reconnects (a new peer id on an api-key)
   * and state cycles (the same sender, restarted). The name makes it
   * readable, a random part unique among senders of the same name. */
  char *stream_id;
};

#define GST_TYPE_METERED_SINK_VIDEO_CODEC                                      \
  (gst_metered_sink_video_codec_get_type ())
static GType
gst_metered_sink_video_codec_get_type (void)
{
  static GType type = 0;
  static const GEnumValue values[] = {
    { GST_METERED_SINK_VIDEO_CODEC_VP8, "VP8 (vp8enc)", "vp8" },
    { GST_METERED_SINK_VIDEO_CODEC_H264,
        "H.264 constrained baseline (openh264enc or x264enc)", "h264" },
    { 0, NULL, NULL },
  };

  if (g_once_init_enter (&type)) {
    GType t = g_enum_register_static ("GstMeteredSinkVideoCodec", values);
    g_once_init_leave (&type, t);
  }
  return type;
}

#define GST_TYPE_METERED_SINK_AUDIO_CODEC                                      \
  (gst_metered_sink_audio_codec_get_type ())
static GType
gst_metered_sink_audio_codec_get_type (void)
{
  static GType type = 0;
  static const GEnumValue values[] = {
    { GST_METERED_SINK_AUDIO_CODEC_OPUS, "Opus (opusenc)", "opus" },
    { 0, NULL, NULL },
  };

  if (g_once_init_enter (&type)) {
    GType t = g_enum_register_static ("GstMeteredSinkAudioCodec", values);
    g_once_init_leave (&type, t);
  }
  return type;
}

#define GST_METERED_SINK_LOCK(sink) g_mutex_lock (&(sink)->lock)
#define GST_METERED_SINK_UNLOCK(sink) g_mutex_unlock (&(sink)->lock)

#define gst_metered_sink_parent_class parent_class
G_DEFINE_TYPE (GstMeteredSink, gst_metered_sink, GST_TYPE_METERED_BASE_BIN);
GST_ELEMENT_REGISTER_DEFINE_WITH_CODE (meteredsink, "meteredsink",
    GST_RANK_NONE, GST_TYPE_METERED_SINK, metered_element_init (plugin));

/* --- caps --- */

static GstCaps *
track_allowed_caps (GstMeteredSink *self, SinkTrack *t)
{
  GstCaps *caps = gst_caps_new_empty ();
  gboolean decided;
  MeteredCodecId codec;

  GST_METERED_SINK_LOCK (self);
  decided = t->codec_decided;
  codec = t->codec;
  GST_METERED_SINK_UNLOCK (self);

  /* Encoded first: a source that offers the track's codec is passed
   * through rather than decoded and encoded again. */
  for (MeteredCodecId i = 0; i < METERED_CODEC_N; i++)
    if (codec_is_video (i) == t->video && (!decided || i == codec))
      gst_caps_append (
          caps, gst_caps_from_string (metered_codec_get (i)->accept_caps));
  gst_caps_append (
      caps, gst_caps_from_string (t->video ? RAW_VIDEO_CAPS : RAW_AUDIO_CAPS));
  return caps;
}

/* Under the lock: the codec the properties ask raw media of that kind to
 * be encoded to. */
static MeteredCodecId
wanted_codec (GstMeteredSink *self, gboolean video)
{
  if (video)
    return self->video_codec == GST_METERED_SINK_VIDEO_CODEC_H264
               ? METERED_CODEC_H264
               : METERED_CODEC_VP8;
  switch (self->audio_codec) {
    case GST_METERED_SINK_AUDIO_CODEC_OPUS:
    default:
      return METERED_CODEC_OPUS;
  }
}

/* The codec a pad's track is announced with, fixed before the session
 * starts (a connection is negotiated before media flows): what upstream
 * can deliver encoded when it cannot deliver raw media, else the codec
 * the properties ask for. */
static void
track_decide_codec (GstMeteredSink *self, SinkTrack *t)
{
  g_autoptr (GstCaps) raw =
      gst_caps_from_string (t->video ? "video/x-raw(ANY)" : "audio/x-raw(ANY)");
  GstQuery *query = gst_query_new_caps (NULL);
  MeteredCodecId chosen;
  GstCaps *peer = NULL;

  GST_METERED_SINK_LOCK (self);
  chosen = wanted_codec (self, t->video);
  GST_METERED_SINK_UNLOCK (self);

  if (gst_pad_peer_query (t->pad, query)) {
    gst_query_parse_caps_result (query, &peer);
    if (peer && !gst_caps_is_any (peer) && !gst_caps_is_empty (peer) &&
        !gst_caps_can_intersect (peer, raw)) {
      for (guint i = 0; i < gst_caps_get_size (peer); i++) {
        const GstStructure *s = gst_caps_get_structure (peer, i);
        const MeteredCodec *row =
            metered_codec_from_caps_name (gst_structure_get_name (s));
        if (row && (row->kind == METERED_MEDIA_VIDEO) == t->video) {
          if (row->id != chosen)
            GST_INFO_OBJECT (t->pad,
                "upstream delivers %s only: passing it through",
                row->caps_name);
          chosen = row->id;
          break;
        }
      }
    }
  }
  gst_query_unref (query);

  GST_METERED_SINK_LOCK (self);
  t->codec = chosen;
  t->codec_decided = TRUE;
  GST_METERED_SINK_UNLOCK (self);
  GST_DEBUG_OBJECT (t->pad, "track codec %s", codec_caps_name (chosen));
}

/* --- the chain behind a pad (gstmeteredsinkchain.c) --- */

static void
track_clear_chain (GstMeteredSink *self, SinkTrack *t)
{
  if (t->chain.kind == GST_METERED_SINK_CHAIN_NONE)
    return;
  gst_ghost_pad_set_target (GST_GHOST_PAD (t->pad), NULL);
  GST_METERED_SINK_LOCK (self);
  gst_clear_object (&t->encoder);
  GST_METERED_SINK_UNLOCK (self);
  gst_metered_sink_chain_clear (&t->chain);
}

/* Builds what sits between the pad and its appsink for caps. Runs on the
 * streaming thread, in the caps event, before the event goes further. */
static gboolean
track_build_chain (GstMeteredSink *self, SinkTrack *t, const GstCaps *caps)
{
  g_autoptr (GstPad) target = NULL;
  GstElement *encoder = NULL;
  MeteredCodecId codec;
  guint bitrate, opus_loss;

  if (gst_metered_sink_chain_kind_for_caps (caps) == t->chain.kind)
    return TRUE;
  track_clear_chain (self, t);

  GST_METERED_SINK_LOCK (self);
  codec = t->codec;
  bitrate = self->bitrate;
  t->chain.temporal_layers = self->temporal_layers;
  GST_METERED_SINK_UNLOCK (self);

  target =
      gst_metered_sink_chain_build (&t->chain, caps, codec, bitrate, &encoder);
  if (!target)
    return FALSE;
  GST_METERED_SINK_LOCK (self);
  t->encoder = encoder ? gst_object_ref (encoder) : NULL;
  opus_loss = t->video ? 0 : self->opus_loss_percent;
  GST_METERED_SINK_UNLOCK (self);
  /* a new Opus encoder starts where the viewers' reports are */
  if (encoder && opus_loss)
    g_object_set (encoder, "packet-loss-percentage", (gint) opus_loss, NULL);
  if (!gst_ghost_pad_set_target (GST_GHOST_PAD (t->pad), target)) {
    GST_ELEMENT_ERROR (self, CORE, PAD, (NULL),
        ("cannot target %s at its chain", GST_PAD_NAME (t->pad)));
    return FALSE;
  }
  return TRUE;
}

static gboolean
sink_pad_event (GstPad *pad, GstObject *parent, GstEvent *event)
{
  SinkTrack *t = gst_pad_get_element_private (pad);

  if (GST_EVENT_TYPE (event) == GST_EVENT_CAPS) {
    GstCaps *caps;
    gst_event_parse_caps (event, &caps);
    if (!track_build_chain (t->sink, t, caps)) {
      gst_event_unref (event);
      return FALSE;
    }
  }
  return gst_pad_event_default (pad, parent, event);
}

static gboolean
sink_pad_query (GstPad *pad, GstObject *parent, GstQuery *query)
{
  SinkTrack *t = gst_pad_get_element_private (pad);

  switch (GST_QUERY_TYPE (query)) {
    case GST_QUERY_CAPS: {
      GstCaps *filter, *caps = track_allowed_caps (t->sink, t);
      gst_query_parse_caps (query, &filter);
      if (filter) {
        GstCaps *both =
            gst_caps_intersect_full (filter, caps, GST_CAPS_INTERSECT_FIRST);
        gst_caps_unref (caps);
        caps = both;
      }
      gst_query_set_caps_result (query, caps);
      gst_caps_unref (caps);
      return TRUE;
    }
    case GST_QUERY_ACCEPT_CAPS: {
      g_autoptr (GstCaps) allowed = track_allowed_caps (t->sink, t);
      GstCaps *caps;
      gst_query_parse_accept_caps (query, &caps);
      gst_query_set_accept_caps_result (
          query, gst_caps_is_subset (caps, allowed));
      return TRUE;
    }
    default:
      return gst_pad_query_default (pad, parent, query);
  }
}

/* --- samples to the session, key units upstream --- */

/* Running time is what every connection's pipeline shares with ours. */
static GstBuffer *
to_running_time (GstBuffer *buffer, const GstSegment *segment)
{
  GstClockTime pts = GST_BUFFER_PTS (buffer);
  GstClockTime dts = GST_BUFFER_DTS (buffer);
  GstClockTime rpts = pts, rdts = dts;

  if (!segment || segment->format != GST_FORMAT_TIME)
    return gst_buffer_ref (buffer);
  if (GST_CLOCK_TIME_IS_VALID (pts))
    rpts = gst_segment_to_running_time (segment, GST_FORMAT_TIME, pts);
  if (GST_CLOCK_TIME_IS_VALID (dts))
    rdts = gst_segment_to_running_time (segment, GST_FORMAT_TIME, dts);
  if (rpts == pts && rdts == dts)
    return gst_buffer_ref (buffer);
  buffer = gst_buffer_copy (buffer);
  GST_BUFFER_PTS (buffer) = rpts;
  GST_BUFFER_DTS (buffer) = rdts;
  return buffer;
}

/* Key units are spaced in the stream's running time rather than by the
 * wall clock: for a live source it is the same spacing, and it does not
 * depend on how late a loaded machine runs this thread. Only a stream
 * without timestamps falls back to the wall clock. */
static gint64
key_unit_clock_us (GstBuffer *buffer)
{
  if (GST_BUFFER_PTS_IS_VALID (buffer))
    return GST_TIME_AS_USECONDS (GST_BUFFER_PTS (buffer));
  if (GST_BUFFER_DTS_IS_VALID (buffer))
    return GST_TIME_AS_USECONDS (GST_BUFFER_DTS (buffer));
  return g_get_monotonic_time ();
}

static void rate_round (
    GstMeteredBaseBin *base, MeteredSession *session, gpointer data);

static void
track_reset_broker (SinkTrack *t)
{
  MeteredKeyframeBrokerConfig config = METERED_KEYFRAME_BROKER_CONFIG_DEFAULT;

  metered_keyframe_broker_clear (&t->broker);
  metered_keyframe_broker_init (&t->broker, &config);
  t->clock_us = 0;
  t->key_unit_pending = t->key_unit_awaited = FALSE;
}

/* A video buffer at now (the sink's lock held): tells the broker about
 * key frames and asks it whether a waiting request is due. */
static void
track_key_units_at (SinkTrack *t, GstBuffer *buffer, gint64 now)
{
  /* running time starts again after a flush or a new segment */
  if (now < t->clock_us) {
    gboolean pending = t->broker.pending;
    track_reset_broker (t);
    t->key_unit_pending = pending;
  }
  t->clock_us = now;
  if (!GST_BUFFER_FLAG_IS_SET (buffer, GST_BUFFER_FLAG_DELTA_UNIT) &&
      (t->encoder || t->key_unit_awaited)) {
    metered_keyframe_broker_keyframe_produced (&t->broker, now);
    t->key_unit_awaited = FALSE;
  }
  if (metered_keyframe_broker_poll (&t->broker, now))
    t->key_unit_pending = TRUE;
}

static GstFlowReturn
on_new_sample (GstAppSink *appsink, gpointer data)
{
  SinkTrack *t = data;
  GstMeteredSink *self = t->sink;
  GstSample *sample = gst_app_sink_pull_sample (appsink);
  MeteredSession *session;
  GstBuffer *buffer;
  gboolean key_unit = FALSE, round = FALSE, twcc_round = FALSE;
  guint count = 0;
  gint64 now, mono;

  /* Nothing here ever fails upstream: without a sample (flushing) or a
   * session there is simply nobody to send to. */
  if (!sample)
    return GST_FLOW_OK;
  buffer = to_running_time (
      gst_sample_get_buffer (sample), gst_sample_get_segment (sample));
  now = key_unit_clock_us (buffer);

  session = gst_metered_base_bin_dup_session (GST_METERED_BASE_BIN (self));
  GST_METERED_SINK_LOCK (self);
  if (session)
    t->buffers_sent++;
  t->bytes_encoded += gst_buffer_get_size (buffer);
  if (t->video)
    track_key_units_at (t, buffer, now);
  if (t->key_unit_pending) {
    t->key_unit_pending = FALSE;
    t->key_unit_awaited = TRUE;
    t->key_units_sent++;
    count = ++self->key_unit_count;
    key_unit = TRUE;
  }
  /* The encoded video drives the rate rounds: no timer of our own, and
   * none run while nothing is encoded. */
  if (session && t->encoder && self->adaptive) {
    mono = g_get_monotonic_time ();
    if (mono - self->rate_round_us >= RATE_ROUND_US) {
      self->rate_round_us = self->twcc_round_us = mono;
      round = TRUE;
    } else if (mono - self->twcc_round_us >= TWCC_ROUND_US) {
      self->twcc_round_us = mono;
      twcc_round = TRUE;
    }
  }
  GST_METERED_SINK_UNLOCK (self);

  if (round || twcc_round)
    gst_metered_base_bin_invoke (GST_METERED_BASE_BIN (self), rate_round,
        GINT_TO_POINTER (twcc_round), NULL);

  if (session) {
    metered_session_push (session, t->track_id, buffer);
    g_object_unref (session);
  }
  gst_buffer_unref (buffer);
  gst_sample_unref (sample);

  if (key_unit) {
    GST_DEBUG_OBJECT (t->pad, "asking upstream for key unit %u", count);
    gst_pad_push_event (
        t->appsink_pad, gst_video_event_new_upstream_force_key_unit (
                            GST_CLOCK_TIME_NONE, TRUE, count));
  }
  return GST_FLOW_OK;
}

/* A key unit wanted on track_id's pad (NULL: every video pad) by peer_id
 * (NULL: unknown). The pad's broker merges every viewer's requests into
 * at most one key frame per second, counting the encoder's own, and
 * budgets each viewer's PLIs: one viewer behind a lossy link no longer
 * forces key frames on every other (docs/rate-control.md, section 3). A
 * forced one leaves with the next buffer of that pad. */
static void
request_key_units (GstMeteredSink *self, const char *peer_id,
    const char *track_id, MeteredKeyframeReason reason)
{
  guint viewer;

  GST_METERED_SINK_LOCK (self);
  viewer = peer_id ? gst_metered_sink_rate_viewer_id (self->rate, peer_id) : 0;
  for (GList *l = self->tracks; l; l = l->next) {
    SinkTrack *t = l->data;
    if (!t->video || (track_id && g_strcmp0 (t->track_id, track_id) != 0))
      continue;
    t->key_units_requested++;
    if (metered_keyframe_broker_request (
            &t->broker, viewer, reason, t->clock_us) == METERED_KEYFRAME_FORCE)
      t->key_unit_pending = TRUE;
  }
  GST_METERED_SINK_UNLOCK (self);
}

/* --- rate control (signalling thread, once a second) --- */

/* Sets every video encoder to target, at most the bitrate property. The
 * encoders are set without our lock: setting a property takes theirs,
 * which their streaming thread holds while it encodes. */
static void
apply_target (GstMeteredSink *self, guint64 target)
{
  g_autoptr (GPtrArray) encoders =
      g_ptr_array_new_with_free_func (gst_object_unref);
  guint ceiling;

  GST_METERED_SINK_LOCK (self);
  ceiling = self->bitrate;
  for (GList *l = self->tracks; l; l = l->next) {
    SinkTrack *t = l->data;
    if (t->video && t->encoder)
      g_ptr_array_add (encoders, gst_object_ref (t->encoder));
  }
  GST_METERED_SINK_UNLOCK (self);
  for (guint i = 0; i < encoders->len; i++)
    gst_metered_sink_chain_set_target (
        g_ptr_array_index (encoders, i), (guint) target, ceiling);
}

/* The shared Opus encoders' in-band FEC sized for the lossiest viewer
 * (metered-opus-loss.h); told only when it changes. */
static void
apply_opus_loss (GstMeteredSink *self, guint percent)
{
  g_autoptr (GPtrArray) encoders =
      g_ptr_array_new_with_free_func (gst_object_unref);

  GST_METERED_SINK_LOCK (self);
  if (percent != self->opus_loss_percent) {
    self->opus_loss_percent = percent;
    for (GList *l = self->tracks; l; l = l->next) {
      SinkTrack *t = l->data;
      if (!t->video && t->encoder)
        g_ptr_array_add (encoders, gst_object_ref (t->encoder));
    }
  }
  GST_METERED_SINK_UNLOCK (self);
  for (guint i = 0; i < encoders->len; i++) {
    GstElement *encoder = g_ptr_array_index (encoders, i);
    GST_INFO_OBJECT (encoder, "in-band FEC for %u %% loss", percent);
    g_object_set (encoder, "packet-loss-percentage", (gint) percent, NULL);
  }
}

/* The temporal layers our video encoder makes (1: none, or not ours). */
static guint
encoder_layers (GstMeteredSink *self)
{
  GstElement *encoder = NULL;
  gint layers = 1;

  GST_METERED_SINK_LOCK (self);
  for (GList *l = self->tracks; l && !encoder; l = l->next) {
    SinkTrack *t = l->data;
    if (t->video && t->encoder)
      encoder = gst_object_ref (t->encoder);
  }
  GST_METERED_SINK_UNLOCK (self);
  if (!encoder)
    return 1;
  if (g_object_class_find_property (
          G_OBJECT_GET_CLASS (encoder), "temporal-scalability-number-layers"))
    g_object_get (encoder, "temporal-scalability-number-layers", &layers, NULL);
  gst_object_unref (encoder);
  return MAX (layers, 1);
}

/* Each viewer's frame gate as the rate policy decided it
 * (metered-layer-cap.h): with adaptive-bitrate the policy is the one
 * owner of a viewer's layer cap. Set every round, so that a new or
 * swapped connection gets it within a round. */
static void
apply_viewer_caps (MeteredSession *session, GArray *caps)
{
  for (guint i = 0; i < caps->len; i++) {
    GstMeteredSinkViewerCap *c =
        &g_array_index (caps, GstMeteredSinkViewerCap, i);
    metered_session_set_layer_cap (
        session, c->peer_id, NULL, (gint) c->cap, c->keyframes_only);
  }
}

/* adaptive-bitrate off: each viewer's own receiver reports cap its
 * layers again (metered-layer-rule.h). */
static void
viewer_caps_to_rule (
    GstMeteredBaseBin *base, MeteredSession *session, gpointer data)
{
  metered_session_set_layer_cap (session, NULL, NULL, -1, FALSE);
}

/* Whether any viewer sent TWCC feedback since it was last taken. */
static gboolean
twcc_has_feedback (GHashTable *twcc)
{
  GHashTableIter iter;
  MeteredTwccTake *take;

  if (!twcc)
    return FALSE;
  g_hash_table_iter_init (&iter, twcc);
  while (g_hash_table_iter_next (&iter, NULL, (gpointer *) &take))
    if (take && take->feedback && take->feedback->len > 0)
      return TRUE;
  return FALSE;
}

/* data non-NULL: a TWCC round (TWCC_ROUND_US), the feedback alone. */
static void
rate_round (GstMeteredBaseBin *base, MeteredSession *session, gpointer data)
{
  GstMeteredSink *self = GST_METERED_SINK (base);
  gboolean twcc_only = data != NULL;
  g_autoptr (GVariant) peers = NULL;
  g_autoptr (GHashTable) twcc = metered_session_take_twcc_feedback (session);
  g_autoptr (GArray) caps = NULL;
  guint64 previous, target = 0;
  gboolean changed = FALSE, big = FALSE;
  guint n_layers = encoder_layers (self), opus_loss = 0;

  if (twcc_only && !twcc_has_feedback (twcc))
    return;
  if (!twcc_only)
    peers = metered_session_get_peer_stats (session);
  GST_METERED_SINK_LOCK (self);
  for (GList *l = self->tracks; l && !twcc_only; l = l->next) {
    SinkTrack *t = l->data;
    if (t->video && t->encoder)
      GST_DEBUG_OBJECT (
          t->pad, "encoded %" G_GUINT64_FORMAT " bytes", t->bytes_encoded);
    t->bytes_encoded = 0;
  }
  previous = gst_metered_sink_rate_get_target (self->rate);
  if (self->adaptive) {
    changed = gst_metered_sink_rate_update (self->rate, peers, twcc,
        self->bitrate, n_layers, g_get_monotonic_time (), &target, &big);
    /* The viewers' gates stay on the 1 s round: set from every TWCC
     * round, a weak viewer's fanout-4+1 freezes went from 0-3.3 s to
     * 0.8-4.5 s per 20 s, with more key frames. */
    if (!twcc_only) {
      caps = gst_metered_sink_rate_dup_caps (self->rate);
      opus_loss = gst_metered_sink_rate_get_opus_loss (self->rate);
    }
  }
  GST_METERED_SINK_UNLOCK (self);
  if (caps)
    apply_viewer_caps (session, caps);
  if (opus_loss)
    apply_opus_loss (self, opus_loss);
  if (!changed)
    return;
  GST_INFO_OBJECT (self, "encoder target %" G_GUINT64_FORMAT " bit/s", target);
  apply_target (self, target);
  if (big && previous)
    gst_element_post_message (GST_ELEMENT (self),
        gst_message_new_element (GST_OBJECT (self),
            gst_structure_new ("metered/target-changed", "target-bitrate",
                G_TYPE_UINT64, target, "previous-bitrate", G_TYPE_UINT64,
                previous, NULL)));
}

/* --- metadata: a GstStructure as the SDK's JSON metadata bag --- */

static void add_structure (JsonBuilder *b, const GstStructure *s);

static void
add_value (JsonBuilder *b, const GValue *v)
{
  GType type = G_VALUE_TYPE (v);

  if (type == G_TYPE_STRING) {
    const char *s = g_value_get_string (v);
    if (s)
      json_builder_add_string_value (b, s);
    else
      json_builder_add_null_value (b);
  } else if (type == G_TYPE_BOOLEAN) {
    json_builder_add_boolean_value (b, g_value_get_boolean (v));
  } else if (type == G_TYPE_INT) {
    json_builder_add_int_value (b, g_value_get_int (v));
  } else if (type == G_TYPE_UINT) {
    json_builder_add_int_value (b, g_value_get_uint (v));
  } else if (type == G_TYPE_INT64) {
    json_builder_add_int_value (b, g_value_get_int64 (v));
  } else if (type == G_TYPE_UINT64) {
    guint64 u = g_value_get_uint64 (v);
    if (u <= G_MAXINT64)
      json_builder_add_int_value (b, (gint64) u);
    else
      json_builder_add_double_value (b, (double) u);
  } else if (type == G_TYPE_DOUBLE || type == G_TYPE_FLOAT) {
    double d =
        type == G_TYPE_DOUBLE ? g_value_get_double (v) : g_value_get_float (v);
    if (isfinite (d))
      json_builder_add_double_value (b, d);
    else
      json_builder_add_null_value (b);
  } else if (type == GST_TYPE_STRUCTURE) {
    const GstStructure *s = gst_value_get_structure (v);
    if (s)
      add_structure (b, s);
    else
      json_builder_add_null_value (b);
  } else if (GST_VALUE_HOLDS_LIST (v) || GST_VALUE_HOLDS_ARRAY (v)) {
    gboolean list = GST_VALUE_HOLDS_LIST (v);
    guint n = list ? gst_value_list_get_size (v) : gst_value_array_get_size (v);
    json_builder_begin_array (b);
    for (guint i = 0; i < n; i++)
      add_value (b, list ? gst_value_list_get_value (v, i)
                         : gst_value_array_get_value (v, i));
    json_builder_end_array (b);
  } else {
    /* Anything else (fractions, enums, ...) as GStreamer writes it. */
    g_autofree char *text = gst_value_serialize (v);
    if (text)
      json_builder_add_string_value (b, text);
    else
      json_builder_add_null_value (b);
  }
}

static gboolean
add_field (GQuark field, const GValue *value, gpointer data)
{
  JsonBuilder *b = data;

  json_builder_set_member_name (b, g_quark_to_string (field));
  add_value (b, value);
  return TRUE;
}

static void
add_structure (JsonBuilder *b, const GstStructure *s)
{
  json_builder_begin_object (b);
  gst_structure_foreach (s, add_field, b);
  json_builder_end_object (b);
}

/* The fields of s as a JSON object, the metadata bag the SDK carries with
 * a track (the structure's name is not part of it; nested structures
 * become objects, lists and arrays become arrays, other types their
 * serialized text); NULL for NULL. */
static char *
structure_to_json (const GstStructure *s)
{
  g_autoptr (JsonBuilder) b = NULL;
  g_autoptr (JsonGenerator) gen = NULL;
  g_autoptr (JsonNode) root = NULL;

  if (!s)
    return NULL;
  b = json_builder_new ();
  add_structure (b, s);
  root = json_builder_get_root (b);
  gen = json_generator_new ();
  json_generator_set_root (gen, root);
  return json_generator_to_data (gen, NULL);
}

/* --- session events (on the signalling thread) --- */

static void
gst_metered_sink_peer_joined (GstMeteredBaseBin *base, const char *peer_id)
{
  request_key_units (
      GST_METERED_SINK (base), peer_id, NULL, METERED_KEYFRAME_NEW_VIEWER);
}

static void
gst_metered_sink_peer_left (GstMeteredBaseBin *base, const char *peer_id)
{
  GstMeteredSink *self = GST_METERED_SINK (base);
  guint viewer;

  GST_METERED_SINK_LOCK (self);
  viewer = gst_metered_sink_rate_viewer_id (self->rate, peer_id);
  for (GList *l = self->tracks; l; l = l->next) {
    SinkTrack *t = l->data;
    if (t->video)
      metered_keyframe_broker_remove_viewer (&t->broker, viewer);
  }
  gst_metered_sink_rate_remove_viewer (self->rate, peer_id);
  GST_METERED_SINK_UNLOCK (self);
}

static void
on_viewer_key_unit_request (MeteredSession *session, const char *peer_id,
    const char *track_id, gboolean connected, GstMeteredSink *self)
{
  GST_DEBUG_OBJECT (self, "%s asks for a key frame of %s (%s)", peer_id,
      track_id ? track_id : "every track", connected ? "connected" : "PLI");
  request_key_units (self, peer_id, track_id,
      connected ? METERED_KEYFRAME_NEW_VIEWER : METERED_KEYFRAME_PLI);
}

static void
on_connection_swapped (
    MeteredSession *session, const char *peer_id, GstMeteredSink *self)
{
  GST_INFO_OBJECT (self, "connection to %s rebuilt", peer_id);
  request_key_units (self, peer_id, NULL, METERED_KEYFRAME_NEW_VIEWER);
}

/* --- life cycle --- */

/* READY -> PAUSED: the tracks, announced to every peer. */
static gboolean
gst_metered_sink_prepare (GstMeteredBaseBin *base, MeteredSession *session)
{
  GstMeteredSink *self = GST_METERED_SINK (base);
  g_autofree char *name = gst_element_get_name (self);
  g_autofree char *metadata = NULL;
  GList *tracks;

  GST_METERED_SINK_LOCK (self);
  if (!self->stream_id)
    self->stream_id = g_strdup_printf ("%s-%08x", name, g_random_int ());
  tracks = g_list_copy (self->tracks);
  metadata = structure_to_json (self->stream_metadata);
  GST_METERED_SINK_UNLOCK (self);

  /* Our pads are inactive until we chain up: chains of an earlier run go
   * (the codec may have changed), the caps event builds them again. */
  for (GList *l = tracks; l; l = l->next) {
    track_clear_chain (self, l->data);
    track_decide_codec (self, l->data);
  }
  g_list_free (tracks);

  /* A sink only sends. */
  metered_session_set_receive (session, FALSE);
  GST_METERED_SINK_LOCK (self);
  if (!self->tracks)
    GST_WARNING_OBJECT (self, "no pad requested: joining without media");
  for (GList *l = self->tracks; l; l = l->next) {
    SinkTrack *t = l->data;
    g_autoptr (GstCaps) caps =
        gst_caps_from_string (metered_codec_get (t->codec)->track_caps);
    MeteredLocalTrack *track;

    if (!t->track_id)
      t->track_id =
          g_strdup_printf ("%s-%s", self->stream_id, GST_PAD_NAME (t->pad));
    /* counters are per run, as the session's are */
    track_reset_broker (t);
    t->buffers_sent = t->key_units_requested = t->key_units_sent = 0;
    track = metered_local_track_new (t->track_id, self->stream_id, caps);
    metered_session_add_local_track (session, track, metadata);
    metered_local_track_free (track);
    GST_INFO_OBJECT (self, "track %s: %s, metadata %s", t->track_id,
        codec_caps_name (t->codec), metadata ? metadata : "none");
  }
  self->started = TRUE;
  /* what the viewers of an earlier run reported is theirs */
  gst_metered_sink_rate_free (self->rate);
  self->rate = gst_metered_sink_rate_new ();
  self->rate_round_us = self->twcc_round_us = g_get_monotonic_time ();
  GST_METERED_SINK_UNLOCK (self);

  g_signal_connect (session, "viewer-key-unit-request",
      G_CALLBACK (on_viewer_key_unit_request), self);
  g_signal_connect (
      session, "connection-swapped", G_CALLBACK (on_connection_swapped), self);
  return TRUE;
}

static void
gst_metered_sink_stopping (GstMeteredBaseBin *base)
{
  GstMeteredSink *self = GST_METERED_SINK (base);

  GST_METERED_SINK_LOCK (self);
  self->started = FALSE;
  GST_METERED_SINK_UNLOCK (self);
}

/* --- pads --- */

static void
track_free (SinkTrack *t)
{
  gst_metered_sink_chain_free (&t->chain);
  metered_keyframe_broker_clear (&t->broker);
  gst_clear_object (&t->encoder);
  gst_clear_object (&t->appsink_pad);
  g_free (t->track_id);
  g_free (t);
}

static GstPad *
gst_metered_sink_request_new_pad (GstElement *element, GstPadTemplate *templ,
    const gchar *name, const GstCaps *caps)
{
  GstMeteredSink *self = GST_METERED_SINK (element);
  gboolean video =
      g_str_equal (GST_PAD_TEMPLATE_NAME_TEMPLATE (templ), "video_%u");
  const char *prefix = video ? "video_" : "audio_";
  g_autofree char *pad_name = NULL;
  GstAppSinkCallbacks callbacks = { NULL };
  SinkTrack *t;
  guint index;

  GST_METERED_SINK_LOCK (self);
  if (self->started) {
    GST_METERED_SINK_UNLOCK (self);
    GST_ELEMENT_WARNING (self, CORE, PAD, (NULL),
        ("Pads must be requested before the element leaves READY: the "
         "tracks are announced to every peer when it starts"));
    return NULL;
  }
  if (name && g_str_has_prefix (name, prefix)) {
    char *end;
    guint64 n = g_ascii_strtoull (name + strlen (prefix), &end, 10);
    if (*end || end == name + strlen (prefix) || n > G_MAXUINT) {
      GST_METERED_SINK_UNLOCK (self);
      GST_WARNING_OBJECT (self, "bad pad name %s", name);
      return NULL;
    }
    index = (guint) n;
  } else if (name) {
    GST_METERED_SINK_UNLOCK (self);
    GST_WARNING_OBJECT (self, "bad pad name %s", name);
    return NULL;
  } else {
    index = video ? self->next_video : self->next_audio;
  }
  pad_name = g_strdup_printf ("%s%u", prefix, index);
  for (GList *l = self->tracks; l; l = l->next) {
    SinkTrack *other = l->data;
    if (g_str_equal (GST_PAD_NAME (other->pad), pad_name)) {
      GST_METERED_SINK_UNLOCK (self);
      GST_WARNING_OBJECT (self, "pad %s exists already", pad_name);
      return NULL;
    }
  }
  if (video)
    self->next_video = MAX (self->next_video, index + 1);
  else
    self->next_audio = MAX (self->next_audio, index + 1);

  t = g_new0 (SinkTrack, 1);
  t->sink = self;
  t->video = video;
  t->codec = wanted_codec (self, video);
  track_reset_broker (t);
  t->pad = gst_ghost_pad_new_no_target_from_template (pad_name, templ);
  self->tracks = g_list_append (self->tracks, t);
  GST_METERED_SINK_UNLOCK (self);

  /* The appsink gives each encoded buffer to every connection and never
   * holds one back: it neither syncs nor queues. */
  t->appsink = gst_element_factory_make ("appsink", NULL);
  g_object_set (t->appsink, "sync", FALSE, "async", FALSE, "drop", TRUE,
      "max-buffers", 2, "enable-last-sample", FALSE, "emit-signals", FALSE,
      "wait-on-eos", FALSE, NULL);
  callbacks.new_sample = on_new_sample;
  gst_app_sink_set_callbacks (GST_APP_SINK (t->appsink), &callbacks, t, NULL);
  t->appsink_pad = gst_element_get_static_pad (t->appsink, "sink");
  gst_bin_add (GST_BIN (self), t->appsink);
  gst_element_sync_state_with_parent (t->appsink);
  gst_metered_sink_chain_init (
      &t->chain, GST_ELEMENT (self), t->pad, t->appsink, video);

  gst_pad_set_element_private (t->pad, t);
  gst_pad_set_event_function (t->pad, sink_pad_event);
  gst_pad_set_query_function (t->pad, sink_pad_query);
  if (GST_STATE (self) > GST_STATE_READY)
    gst_pad_set_active (t->pad, TRUE);
  gst_element_add_pad (element, t->pad);
  GST_DEBUG_OBJECT (self, "new pad %s", pad_name);
  return t->pad;
}

static void
gst_metered_sink_release_pad (GstElement *element, GstPad *pad)
{
  GstMeteredSink *self = GST_METERED_SINK (element);
  SinkTrack *t = gst_pad_get_element_private (pad);

  if (!t)
    return;
  GST_DEBUG_OBJECT (self, "releasing %s", GST_PAD_NAME (pad));
  GST_METERED_SINK_LOCK (self);
  self->tracks = g_list_remove (self->tracks, t);
  GST_METERED_SINK_UNLOCK (self);

  /* Waits for the streaming thread to leave the pad. */
  gst_pad_set_active (pad, FALSE);
  track_clear_chain (self, t);
  gst_pad_set_element_private (pad, NULL);
  gst_element_remove_pad (element, pad);
  gst_element_set_state (t->appsink, GST_STATE_NULL);
  gst_bin_remove (GST_BIN (self), t->appsink);
  track_free (t);
}

/* --- properties --- */

static void
gst_metered_sink_set_bitrate (GstMeteredSink *self, guint bitrate)
{
  GST_METERED_SINK_LOCK (self);
  self->bitrate = bitrate;
  /* the viewers' target stays in force under the new ceiling */
  if (self->adaptive && gst_metered_sink_rate_get_target (self->rate))
    bitrate = MIN (bitrate, gst_metered_sink_rate_get_target (self->rate));
  GST_METERED_SINK_UNLOCK (self);
  apply_target (self, bitrate);
}

static void
gst_metered_sink_set_property (
    GObject *object, guint prop_id, const GValue *value, GParamSpec *pspec)
{
  GstMeteredSink *self = GST_METERED_SINK (object);

  switch (prop_id) {
    case PROP_VIDEO_CODEC:
      GST_METERED_SINK_LOCK (self);
      self->video_codec = g_value_get_enum (value);
      GST_METERED_SINK_UNLOCK (self);
      break;
    case PROP_AUDIO_CODEC:
      GST_METERED_SINK_LOCK (self);
      self->audio_codec = g_value_get_enum (value);
      GST_METERED_SINK_UNLOCK (self);
      break;
    case PROP_BITRATE:
      gst_metered_sink_set_bitrate (self, g_value_get_uint (value));
      break;
    case PROP_TEMPORAL_LAYERS:
      GST_METERED_SINK_LOCK (self);
      self->temporal_layers = g_value_get_uint (value);
      GST_METERED_SINK_UNLOCK (self);
      break;
    case PROP_STREAM_METADATA: {
      const GstStructure *s = gst_value_get_structure (value);
      GST_METERED_SINK_LOCK (self);
      g_clear_pointer (&self->stream_metadata, gst_structure_free);
      self->stream_metadata = s ? gst_structure_copy (s) : NULL;
      GST_METERED_SINK_UNLOCK (self);
      break;
    }
    case PROP_ADAPTIVE_BITRATE: {
      guint bitrate;
      gboolean was, adaptive = g_value_get_boolean (value);
      GST_METERED_SINK_LOCK (self);
      was = self->adaptive;
      self->adaptive = adaptive;
      /* a fresh start: the next round sets the target again */
      gst_metered_sink_rate_free (self->rate);
      self->rate = gst_metered_sink_rate_new ();
      bitrate = self->bitrate;
      GST_METERED_SINK_UNLOCK (self);
      apply_target (self, bitrate);
      if (was && !adaptive)
        gst_metered_base_bin_invoke (
            GST_METERED_BASE_BIN (self), viewer_caps_to_rule, NULL, NULL);
      break;
    }
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
      break;
  }
}

/* One metered/track structure per pad, and the key unit totals. */
static void
gst_metered_sink_add_stats (GstMeteredBaseBin *base, GstStructure *s)
{
  GstMeteredSink *self = GST_METERED_SINK (base);
  GValue list = G_VALUE_INIT, viewers = G_VALUE_INIT;
  guint64 requested = 0, sent = 0, target;

  g_value_init (&list, GST_TYPE_LIST);
  GST_METERED_SINK_LOCK (self);
  for (GList *l = self->tracks; l; l = l->next) {
    SinkTrack *t = l->data;
    GValue tv = G_VALUE_INIT;
    g_value_init (&tv, GST_TYPE_STRUCTURE);
    g_value_take_boxed (&tv,
        gst_structure_new ("metered/track", "pad", G_TYPE_STRING,
            GST_PAD_NAME (t->pad), "track-id", G_TYPE_STRING, t->track_id,
            "kind", G_TYPE_STRING, t->video ? "video" : "audio", "codec",
            G_TYPE_STRING, codec_caps_name (t->codec), "chain", G_TYPE_STRING,
            gst_metered_sink_chain_kind_name (t->chain.kind), "buffers-sent",
            G_TYPE_UINT64, t->buffers_sent, "key-units-requested",
            G_TYPE_UINT64, t->key_units_requested, "key-units-sent",
            G_TYPE_UINT64, t->key_units_sent, NULL));
    gst_value_list_append_and_take_value (&list, &tv);
    requested += t->key_units_requested;
    sent += t->key_units_sent;
  }
  target = self->adaptive ? gst_metered_sink_rate_get_target (self->rate) : 0;
  if (!target)
    target = self->bitrate;
  gst_metered_sink_rate_take_stats (self->rate, &viewers);
  GST_METERED_SINK_UNLOCK (self);
  gst_structure_set (s, "key-units-requested", G_TYPE_UINT64, requested,
      "key-units-sent", G_TYPE_UINT64, sent, "encoder-target", G_TYPE_UINT64,
      target, NULL);
  gst_structure_take_value (s, "track-stats", &list);
  gst_structure_take_value (s, "viewer-rates", &viewers);
}

static void
gst_metered_sink_get_property (
    GObject *object, guint prop_id, GValue *value, GParamSpec *pspec)
{
  GstMeteredSink *self = GST_METERED_SINK (object);

  GST_METERED_SINK_LOCK (self);
  switch (prop_id) {
    case PROP_VIDEO_CODEC:
      g_value_set_enum (value, self->video_codec);
      break;
    case PROP_AUDIO_CODEC:
      g_value_set_enum (value, self->audio_codec);
      break;
    case PROP_BITRATE:
      g_value_set_uint (value, self->bitrate);
      break;
    case PROP_STREAM_METADATA:
      g_value_set_boxed (value, self->stream_metadata);
      break;
    case PROP_TEMPORAL_LAYERS:
      g_value_set_uint (value, self->temporal_layers);
      break;
    case PROP_ADAPTIVE_BITRATE:
      g_value_set_boolean (value, self->adaptive);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
      break;
  }
  GST_METERED_SINK_UNLOCK (self);
}

/* --- GObject --- */

static void
gst_metered_sink_dispose (GObject *object)
{
  GstMeteredSink *self = GST_METERED_SINK (object);
  GList *tracks;

  /* Pads still there go with the element; their chains with the bin. */
  GST_METERED_SINK_LOCK (self);
  tracks = g_steal_pointer (&self->tracks);
  GST_METERED_SINK_UNLOCK (self);
  for (GList *l = tracks; l; l = l->next) {
    SinkTrack *t = l->data;
    gst_pad_set_element_private (t->pad, NULL);
    track_free (t);
  }
  g_list_free (tracks);
  G_OBJECT_CLASS (parent_class)->dispose (object);
}

static void
gst_metered_sink_finalize (GObject *object)
{
  GstMeteredSink *self = GST_METERED_SINK (object);

  g_clear_pointer (&self->stream_metadata, gst_structure_free);
  g_clear_pointer (&self->rate, gst_metered_sink_rate_free);
  g_free (self->stream_id);
  g_mutex_clear (&self->lock);
  G_OBJECT_CLASS (parent_class)->finalize (object);
}

static void
gst_metered_sink_init (GstMeteredSink *self)
{
  g_mutex_init (&self->lock);
  self->video_codec = DEFAULT_VIDEO_CODEC;
  self->audio_codec = DEFAULT_AUDIO_CODEC;
  self->bitrate = DEFAULT_BITRATE;
  self->temporal_layers = DEFAULT_TEMPORAL_LAYERS;
  self->adaptive = DEFAULT_ADAPTIVE_BITRATE;
  self->rate = gst_metered_sink_rate_new ();
  GST_OBJECT_FLAG_SET (self, GST_ELEMENT_FLAG_SINK);
}

static void
gst_metered_sink_class_init (GstMeteredSinkClass *klass)
{
  GObjectClass *gobject_class = G_OBJECT_CLASS (klass);
  GstElementClass *element_class = GST_ELEMENT_CLASS (klass);
  GstMeteredBaseBinClass *base_class = GST_METERED_BASE_BIN_CLASS (klass);

  GST_DEBUG_CATEGORY_INIT (gst_metered_sink_debug, "meteredsink", 0,
      "Metered Realtime Messaging sink");

  gobject_class->set_property = gst_metered_sink_set_property;
  gobject_class->get_property = gst_metered_sink_get_property;
  gobject_class->dispose = gst_metered_sink_dispose;
  gobject_class->finalize = gst_metered_sink_finalize;

  /**
   * GstMeteredSink:video-codec:
   *
   * What raw video is encoded to, once for every peer. Video that comes
   * in already encoded (VP8, VP9 or H.264) is passed through as it is;
   * when upstream can only deliver encoded video, its codec wins.
   */
  g_object_class_install_property (gobject_class, PROP_VIDEO_CODEC,
      g_param_spec_enum ("video-codec", "Video codec",
          "What raw video is encoded to (encoded input is passed through)",
          GST_TYPE_METERED_SINK_VIDEO_CODEC, DEFAULT_VIDEO_CODEC,
          G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS |
              GST_PARAM_MUTABLE_READY));

  /**
   * GstMeteredSink:audio-codec:
   *
   * What raw audio is encoded to: it picks the row of the codec table
   * (src/peer/metered-codec.h) that an audio pad's track is announced
   * with and encoded by. Opus, the only value, is what every WebRTC peer
   * decodes. Opus input is passed through.
   */
  g_object_class_install_property (gobject_class, PROP_AUDIO_CODEC,
      g_param_spec_enum ("audio-codec", "Audio codec",
          "What raw audio is encoded to (Opus input is passed through)",
          GST_TYPE_METERED_SINK_AUDIO_CODEC, DEFAULT_AUDIO_CODEC,
          G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS |
              GST_PARAM_MUTABLE_READY));

  /**
   * GstMeteredSink:bitrate:
   *
   * Target bit rate of the video encoder in bits per second (constant bit
   * rate, real-time settings). Can change while playing. Has no effect
   * on video that comes in encoded.
   */
  g_object_class_install_property (gobject_class, PROP_BITRATE,
      g_param_spec_uint ("bitrate", "Bit rate",
          "Target bit rate of the video encoder in bit/s (raw input only; "
          "can change while playing)",
          MIN_BITRATE, MAX_BITRATE, DEFAULT_BITRATE,
          G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS |
              GST_PARAM_MUTABLE_PLAYING));

  /**
   * GstMeteredSink:temporal-layers:
   *
   * Temporal layers of the VP8 encoder: 3 (30, 15 and 7.5 fps, a quarter
   * of the bit rate in the base layer, half in the first two), 2 (30 and
   * 15 fps, 60 % in the base) or 1 (none). Each viewer whose link cannot
   * take the stream is sent fewer layers, the others keep every layer:
   * with #GstMeteredSink:adaptive-bitrate its estimated rate decides
   * (the layers that fit it; one layer more at most every 5 s), without
   * it its receiver reports (more than 10 % loss: one layer less every
   * 2 s, one more after 10 s without loss). Without layers (1, H.264,
   * encoded input) a viewer whose estimate is under half the target and
   * whose last 3 reports each lost more than 10 % gets key frames only
   * (adaptive-bitrate only). Chromium and meteredsrc decode every layer
   * count. Set before the pad's caps.
   */
  g_object_class_install_property (gobject_class, PROP_TEMPORAL_LAYERS,
      g_param_spec_uint ("temporal-layers", "Temporal layers",
          "VP8 temporal layers (3: 30/15/7.5 fps, 2: 30/15, 1: none): a "
          "viewer behind a slow link is sent fewer, the others all",
          1, METERED_CODEC_MAX_TEMPORAL_LAYERS, DEFAULT_TEMPORAL_LAYERS,
          G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS |
              GST_PARAM_MUTABLE_READY));

  /**
   * GstMeteredSink:stream-metadata:
   *
   * Metadata sent with every track to every peer, as the SDK's track
   * metadata bag: the structure's fields become a JSON object (its name
   * is ignored), e.g. `stream-metadata="meta,role=camera,label=studio"`
   * gives `{"role":"camera","label":"studio"}`, which the browser SDK's
   * `stream-added` and `track` events carry.
   */
  g_object_class_install_property (gobject_class, PROP_STREAM_METADATA,
      g_param_spec_boxed ("stream-metadata", "Stream metadata",
          "Metadata of every track, sent to every peer as a JSON object of "
          "the structure's fields (e.g. \"meta,role=camera\")",
          GST_TYPE_STRUCTURE,
          G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS |
              GST_PARAM_MUTABLE_READY));

  /**
   * GstMeteredSink:adaptive-bitrate:
   *
   * Lower the video encoder's bit rate below #GstMeteredSink:bitrate when
   * the viewers' RTCP receiver reports show loss (a GCC loss-based
   * estimate per viewer; the encoder follows a low percentile of the
   * viewers, leaving out one far below the others), and raise it back
   * to #GstMeteredSink:bitrate when they recover. A viewer left out is
   * sent the temporal layers its estimate fits
   * (#GstMeteredSink:temporal-layers). Checked once a second, and
   * every 200 ms while the viewers send TWCC feedback; a change by more than a
   * quarter posts a `metered/target-changed` element message (`target-bitrate`,
   * `previous-bitrate`, bit/s). #GstMeteredSink:stats carries `encoder-target`
   * and, per viewer, `viewer-rates` (`peer-id`, `estimate-bps`, `layer` and
   * `keyframes-only` as applied to the viewer, `excluded`,
   * `fraction-lost`, `round-trip-ms`). FALSE keeps the encoder at
   * #GstMeteredSink:bitrate. No effect on video that comes in encoded.
   */
  g_object_class_install_property (gobject_class, PROP_ADAPTIVE_BITRATE,
      g_param_spec_boolean ("adaptive-bitrate", "Adaptive bit rate",
          "Lower the video encoder's bit rate (at most bitrate) to what the "
          "viewers' receiver reports say they can take",
          DEFAULT_ADAPTIVE_BITRATE,
          G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS |
              GST_PARAM_MUTABLE_PLAYING));

  base_class->leave_after_children = TRUE;
  base_class->prepare = GST_DEBUG_FUNCPTR (gst_metered_sink_prepare);
  base_class->peer_joined = GST_DEBUG_FUNCPTR (gst_metered_sink_peer_joined);
  base_class->peer_left = GST_DEBUG_FUNCPTR (gst_metered_sink_peer_left);
  base_class->stopping = GST_DEBUG_FUNCPTR (gst_metered_sink_stopping);
  base_class->add_stats = GST_DEBUG_FUNCPTR (gst_metered_sink_add_stats);
  element_class->request_new_pad =
      GST_DEBUG_FUNCPTR (gst_metered_sink_request_new_pad);
  element_class->release_pad = GST_DEBUG_FUNCPTR (gst_metered_sink_release_pad);

  gst_element_class_add_static_pad_template (element_class, &video_template);
  gst_element_class_add_static_pad_template (element_class, &audio_template);
  gst_element_class_set_static_metadata (element_class,
      "Metered Realtime Messaging sink", "Sink/Network/Video/Audio",
      "Sends audio and video to every peer of a Metered Realtime Messaging "
      "channel over WebRTC, encoding once for all of them, and hides "
      "signalling drops, token refreshes and server restarts",
      "gst-metered authors");

  gst_type_mark_as_plugin_api (GST_TYPE_METERED_SINK_VIDEO_CODEC, 0);
  gst_type_mark_as_plugin_api (GST_TYPE_METERED_SINK_AUDIO_CODEC, 0);
}
