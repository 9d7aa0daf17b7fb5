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
 * SECTION:element-meteredsrc
 * @title: meteredsrc
 *
 * Receives what the remote peers of a Metered Realtime Messaging channel
 * send (browsers running the @metered-ca/realtime SDK, meteredsink, ...)
 * and exposes every remote track on a src pad of its own.
 *
 * ## Pads
 *
 * One sometimes pad per remote track, added when its media starts
 * flowing. Its name says whose track it is:
 *
 * - `video_<peer>_<role>` / `audio_<peer>_<role>` when the sender gave the
 *   track (or its stream) metadata with a string `role`, for example
 *   `video_alice_camera` for the SDK's `addStream (stream, {role:
 *   'camera'})`; a second track with the same kind and role gets `_1`,
 *   `_2`... appended;
 * - `video_<peer>_<n>` / `audio_<peer>_<n>` otherwise, n counting that
 *   peer's tracks of that kind from 0 in order of arrival.
 *
 * `<peer>` is the remote peer id (a JWT's `sub`, or the id the service
 * assigned); characters other than letters, digits, `-` and `_` become
 * `-`. With stable peer ids (JWT `sub`) the names are known in advance,
 * so gst-launch's delayed linking works:
 * `meteredsrc name=s ... s.video_alice_camera ! ...`. `s. ! ...` links
 * the first pad that appears. The element never emits no-more-pads: a
 * channel is open-ended, and no-more-pads would cancel gst-launch's
 * pending delayed links.
 *
 * A pad belongs to the remote track, not to the connection carrying it.
 * Signalling drops, token refreshes, server restarts and connection swaps
 * (glare, the SDK's reconcile, ICE failure, dead media) feed the same pad
 * from the new connection: no EOS, no flush, no caps change unless the
 * codec changed, running time never goes backwards, the first buffer
 * after a gap is DISCONT, and delta frames are dropped until the next key
 * frame (one is requested from the sender at once). While a pad gets no
 * media it sends GAP events every #GstMeteredSrc:gap-timeout.
 *
 * A pad's identity is the sender's track (its a=msid track id and kind),
 * not the peer id: a sender that comes back under a new peer id (a
 * publishable key's reconnect, a server restart) with the same track ids
 * continues on the same pads, under their names, as above; the old peer's
 * late media for those tracks is dropped. Browsers keep a track id for
 * the life of the MediaStreamTrack, meteredsink for the element's.
 *
 * With #GstMeteredSrc:pads-by-role a pad stands for a kind and a metadata
 * role instead, named `video_<role>` / `audio_<role>`: the newest peer
 * sending a track of that kind and role feeds it (a reloaded page, whose
 * tracks have new ids, included), and a `metered/pad-takeover` element
 * message names it and the previous sender.
 *
 * When a peer leaves the channel for good, its pads wait
 * #GstMeteredBaseBin:dead-peer-timeout for a newcomer sending their
 * tracks, then get EOS and are removed, unless
 * #GstMeteredSrc:keep-pads-on-leave is set: then they stay, sending GAP
 * events, until the same peer id (or a newcomer with its tracks) returns
 * or the pipeline stops.
 *
 * ## Timestamps
 *
 * Buffers carry running time of the pipeline clock (the element is a live
 * source; its connections share the pipeline's clock and base time, set
 * when it goes to PLAYING, which is also when it joins the channel). The
 * LATENCY query answers the jitter buffer's latency (100 ms on a clean
 * link, more while lost packets are being retransmitted over a long round
 * trip, see #GstMeteredSrc:latency) plus 50 ms of depayloading and
 * hand-over, plus the decoder's in decoded output; a latency message
 * tells the application when it changes.
 *
 * ## Loss
 *
 * Lost packets are asked for again (NACK) and the sender's
 * retransmissions fill the holes. A frame that still misses data when its
 * time is up is not passed on: its pad drops delta frames until the next
 * key frame, which it asks the sender for (a PLI at once, then at most one
 * per second while waiting), and that key frame is DISCONT. Decoded output so
 * never shows a decoder's concealment of missing references, and encoded
 * output never carries a frame a decoder could not decode. Timestamps
 * stay monotonic and no EOS is sent; a pad that drops for longer than
 * #GstMeteredSrc:gap-timeout sends GAP events meanwhile.
 *
 * ## Example launch lines
 * |[
 * gst-launch-1.0 meteredsrc url=ws://127.0.0.1:8080 api-key=pk_dev_local \
 *     channel=room-1 ! queue ! videoconvert ! autovideosink
 * ]| Shows the first remote video.
 * |[
 * gst-launch-1.0 -e meteredsrc name=s url=ws://127.0.0.1:8080 \
 *     token=$JWT channel=room-1 output=encoded \
 *     s.video_alice_camera ! queue ! matroskamux ! filesink location=a.mkv
 * ]| Records alice's camera, as sent, into one file that survives every
 * recovery.
 */

#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "gstmeteredsrc.h"

#include "gstmeteredelements.h"
#include "gstmeteredpadbridge.h"
#include "gstmeteredsrcstreams.h"
#include "peer/metered-codec.h"
#include "protocol/metered-protocol.h"

#include <string.h>

GST_DEBUG_CATEGORY_STATIC (gst_metered_src_debug);
#define GST_CAT_DEFAULT gst_metered_src_debug

enum
{
  PROP_0,
  PROP_OUTPUT,
  PROP_PEER_ID,
  PROP_STREAM_ROLE,
  PROP_KEEP_PADS_ON_LEAVE,
  PROP_GAP_TIMEOUT,
  PROP_PADS_BY_ROLE,
  PROP_LATENCY,
};

#define DEFAULT_OUTPUT GST_METERED_SRC_OUTPUT_DECODED
#define DEFAULT_KEEP_PADS_ON_LEAVE FALSE
#define DEFAULT_GAP_TIMEOUT 1000
#define DEFAULT_PADS_BY_ROLE FALSE
#define DEFAULT_LATENCY 0
/* Depayloading, the hand-over between threads and the bridge's queue, on
 * top of the jitter buffer's latency. */
#define HANDOVER_MS 50

typedef struct
{
  GstCaps *caps;
  GstBuffer *buffer;
} Early;

/* Early buffers kept per track until its metadata is known (~3 s). */
#define MAX_EARLY 90

static void
early_free (Early *e)
{
  gst_clear_caps (&e->caps);
  gst_buffer_unref (e->buffer);
  g_free (e);
}

/* What a stream of the table (gstmeteredsrcstreams.h) has here: its pad,
 * its bridge and (decoded output) decoder. */
typedef struct
{
  GstMeteredPadBridge *bridge;
  GPtrArray *chain; /* GstElement*: bridge, then parser/decoder */
  GstPad *ghost;
  /* Buffers that came before remote-track said what the track is (the
   * track may continue an existing pad): Early*, bounded. */
  GQueue early;
  /* Its peer left: ends the stream after dead-peer-timeout unless a
   * newcomer claimed its track (on the signalling thread's context). */
  GSource *left_timer;
  /* The jitter-buffer latency its bridge reports (plus HANDOVER_MS). */
  guint jitter_latency_ms;
} StreamMedia;

static void
stream_media_free (gpointer data)
{
  StreamMedia *m = data;

  if (m->left_timer) {
    g_source_destroy (m->left_timer);
    g_source_unref (m->left_timer);
  }
  g_ptr_array_unref (m->chain);
  gst_clear_object (&m->ghost);
  gst_clear_object (&m->bridge);
  g_queue_clear_full (&m->early, (GDestroyNotify) early_free);
  g_free (m);
}

static inline StreamMedia *
stream_media (GstMeteredSrcStream *st)
{
  return st->media;
}

struct _GstMeteredSrc
{
  GstMeteredBaseBin parent;

  /* settings (object lock) */
  GstMeteredSrcOutput output;
  char *peer_filter;
  char *role_filter;
  gboolean keep_pads;
  guint gap_timeout;
  gboolean pads_by_role;
  guint latency;

  /* GST_METERED_SRC_LOCK guards eos, the stream table, every stream's
   * fields and bridge_serial. Order: it may be held while taking the
   * object lock (the settings above), a bridge's locks (flush_early
   * pushes the early buffers under it, to keep their order) and
   * GST_METERED_BASE_BIN_LOCK; no callback of a bridge takes it. */
  GMutex lock;
  gboolean eos; /* EOS was sent to us: no new pads */
  GstMeteredSrcStreams streams;
  guint bridge_serial;
};

#define GST_METERED_SRC_LOCK(src) g_mutex_lock (&(src)->lock)
#define GST_METERED_SRC_UNLOCK(src) g_mutex_unlock (&(src)->lock)

G_DEFINE_TYPE (GstMeteredSrc, gst_metered_src, GST_TYPE_METERED_BASE_BIN);

GST_ELEMENT_REGISTER_DEFINE_WITH_CODE (meteredsrc, "meteredsrc", GST_RANK_NONE,
    GST_TYPE_METERED_SRC, metered_element_init (plugin));

static GstStaticPadTemplate video_template =
    GST_STATIC_PAD_TEMPLATE ("video_%s", GST_PAD_SRC, GST_PAD_SOMETIMES,
        GST_STATIC_CAPS ("video/x-raw; video/x-vp8; video/x-vp9; "
                         "video/x-h264, stream-format = (string) avc, "
                         "alignment = (string) au"));
static GstStaticPadTemplate audio_template =
    GST_STATIC_PAD_TEMPLATE ("audio_%s", GST_PAD_SRC, GST_PAD_SOMETIMES,
        GST_STATIC_CAPS ("audio/x-raw; audio/x-opus"));

GType
gst_metered_src_output_get_type (void)
{
  static GType type = 0;
  static const GEnumValue values[] = {
    { GST_METERED_SRC_OUTPUT_ENCODED,
        "Depayloaded VP8/VP9/H.264 (avc, au)/Opus as sent", "encoded" },
    { GST_METERED_SRC_OUTPUT_DECODED, "Raw video and audio", "decoded" },
    { 0, NULL, NULL },
  };

  if (g_once_init_enter (&type)) {
    GType t = g_enum_register_static ("GstMeteredSrcOutput", values);
    g_once_init_leave (&type, t);
  }
  return type;
}

/* --- streams --- */

static void
key_unit_on_thread (
    GstMeteredBaseBin *base, MeteredSession *session, gpointer data)
{
  GstMeteredSrc *src = GST_METERED_SRC (base);
  GstMeteredSrcStream *st = data;
  g_autofree char *peer_id = NULL, *track_id = NULL;

  GST_METERED_SRC_LOCK (src);
  peer_id = g_strdup (st->peer_id);
  track_id = g_strdup (st->track_id);
  GST_METERED_SRC_UNLOCK (src);
  GST_DEBUG_OBJECT (src, "key unit request for %s", st->key);
  metered_session_request_key_unit (session, peer_id, track_id);
}

/* The bridge waits for a key unit (a swap, a start, a muxer splitting a
 * file): ask the sender, from the signalling thread. The bridge may call
 * this with our lock held (flush_early): it must not take it. */
static void
on_bridge_key_unit (GstMeteredPadBridge *bridge, gpointer data)
{
  GstMeteredSrcStream *st = data;
  GstMeteredSrc *src = g_object_get_data (G_OBJECT (bridge), "metered-src");

  if (src)
    gst_metered_base_bin_invoke (GST_METERED_BASE_BIN (src), key_unit_on_thread,
        gst_metered_src_stream_ref (st),
        (GDestroyNotify) gst_metered_src_stream_unref);
}

static void stream_remove (GstMeteredSrc *src, GstMeteredSrcStream *st);

static void
remove_on_thread (GstMeteredBaseBin *base, MeteredSession *session, gpointer st)
{
  stream_remove (GST_METERED_SRC (base), st);
}

/* EOS went out on an ended stream's pad: remove it (signalling thread;
 * at shutdown the state change removes what is left). */
static void
on_bridge_eos (GstMeteredPadBridge *bridge, gpointer data)
{
  GstMeteredSrcStream *st = data;
  GstMeteredSrc *src = g_object_get_data (G_OBJECT (bridge), "metered-src");

  if (!src || !st->ended)
    return;
  gst_metered_base_bin_invoke (GST_METERED_BASE_BIN (src), remove_on_thread,
      gst_metered_src_stream_ref (st),
      (GDestroyNotify) gst_metered_src_stream_unref);
}

/* Under the lock: a new live stream, with its bridge. */
static GstMeteredSrcStream *
stream_new (GstMeteredSrc *src, const char *key, const char *peer_id,
    const char *kind, const char *track_id)
{
  GstMeteredSrcStream *st =
      gst_metered_src_streams_add (&src->streams, key, peer_id, kind, track_id);
  StreamMedia *m = g_new0 (StreamMedia, 1);
  g_autofree char *name = g_strdup_printf ("bridge%u", src->bridge_serial++);
  guint gap_timeout;

  st->media = m;
  st->media_free = stream_media_free;
  m->chain = g_ptr_array_new_with_free_func (gst_object_unref);
  m->bridge = gst_object_ref_sink (gst_metered_pad_bridge_new (name));
  GST_OBJECT_LOCK (src);
  gap_timeout = src->gap_timeout;
  m->jitter_latency_ms = src->latency ? src->latency : 100;
  GST_OBJECT_UNLOCK (src);
  g_object_set (m->bridge, "gap-timeout", (guint64) gap_timeout * GST_MSECOND,
      "latency", (guint64) (m->jitter_latency_ms + HANDOVER_MS) * GST_MSECOND,
      NULL);
  g_object_set_data (G_OBJECT (m->bridge), "metered-src", src);
  gst_metered_pad_bridge_set_key_unit_func (m->bridge, on_bridge_key_unit,
      gst_metered_src_stream_ref (st),
      (GDestroyNotify) gst_metered_src_stream_unref);
  gst_metered_pad_bridge_set_eos_func (m->bridge, on_bridge_eos,
      gst_metered_src_stream_ref (st),
      (GDestroyNotify) gst_metered_src_stream_unref);
  gst_metered_pad_bridge_new_source (m->bridge);
  GST_INFO_OBJECT (src, "new remote %s track of %s (track id %s)", kind,
      peer_id, track_id ? track_id : "(none)");
  return st;
}

/* Under the lock: takes st out of the table (a reference for the
 * caller). */
static GstMeteredSrcStream *
stream_take (GstMeteredSrc *src, GstMeteredSrcStream *st)
{
  return gst_metered_src_streams_take (&src->streams, st);
}

/* Under the lock: the stream of a remote track, made if new (see
 * gst_metered_src_streams_match()). FALSE: stale media of a peer whose
 * track a newcomer took over, to drop. */
static gboolean
stream_match (GstMeteredSrc *src, const char *key, const char *peer_id,
    const char *kind, const char *stream_id, const char *track_id,
    GstMeteredSrcStream **st)
{
  switch (gst_metered_src_streams_match (
      &src->streams, key, peer_id, kind, track_id, st)) {
    case GST_METERED_SRC_TRACK_NEW:
      *st = stream_new (src, key, peer_id, kind, track_id);
      return TRUE;
    case GST_METERED_SRC_TRACK_CLAIMED:
      /* The sender came back under a new peer id (a publishable key's
       * reconnect, a server restart): same track, same pad. */
      GST_INFO_OBJECT (src, "%s track %s of %s continues on pad %s", kind,
          track_id, peer_id, (*st)->pad_name ? (*st)->pad_name : "(none yet)");
      gst_metered_pad_bridge_new_source (stream_media (*st)->bridge);
      return TRUE;
    case GST_METERED_SRC_TRACK_STALE:
      return FALSE;
    case GST_METERED_SRC_TRACK_KNOWN:
    default:
      return TRUE;
  }
}

static gboolean
filter_accepts (GstMeteredSrc *src, GstMeteredSrcStream *st)
{
  gboolean ok;

  GST_OBJECT_LOCK (src);
  ok = gst_metered_src_stream_accepted (st, src->peer_filter, src->role_filter);
  GST_OBJECT_UNLOCK (src);
  return ok;
}

/* The elements that decode caps, from the codec table: its parser, if
 * any, then the first installed decoder (the last one when none is, so
 * that the warning names one). FALSE for caps of no codec. */
static gboolean
decoder_chain (
    const GstCaps *caps, const char *names[3], const char **decoder_props)
{
  const MeteredCodec *row = metered_codec_from_caps_name (
      gst_structure_get_name (gst_caps_get_structure (caps, 0)));
  const char *decoder;
  guint n = 0;

  if (!row)
    return FALSE;
  decoder = metered_codec_pick_factory (row->decoders);
  if (!decoder)
    decoder = row->decoders[g_strv_length ((char **) row->decoders) - 1];
  if (row->parser)
    names[n++] = row->parser;
  names[n++] = decoder;
  names[n] = NULL;
  *decoder_props = row->decoder_props;
  return TRUE;
}

/* A frame the decoder cannot decode is a warning, never the end of the
 * pad (video decoders give up after max-errors by default): the bridge
 * then drops delta frames until the next key frame (handle_message). */
static void
decoder_follows (GstElement *decoder, GstMeteredPadBridge *bridge)
{
  if (g_object_class_find_property (G_OBJECT_GET_CLASS (decoder), "max-errors"))
    g_object_set (decoder, "max-errors", -1, NULL);
  g_object_set_data_full (G_OBJECT (decoder), "metered-bridge",
      gst_object_ref (bridge), gst_object_unref);
}

/* A decoder of ours failed on a frame: what follows until a key frame
 * would show artifacts. The warning still goes to the application. Any
 * thread (the decoder's streaming thread). */
static void
gst_metered_src_handle_message (GstBin *bin, GstMessage *msg)
{
  GstMeteredPadBridge *bridge;
  g_autoptr (GError) error = NULL;

  if (GST_MESSAGE_TYPE (msg) == GST_MESSAGE_WARNING && GST_MESSAGE_SRC (msg) &&
      (bridge = g_object_get_data (
           G_OBJECT (GST_MESSAGE_SRC (msg)), "metered-bridge"))) {
    gst_message_parse_warning (msg, &error, NULL);
    if (error->domain == GST_STREAM_ERROR) {
      GST_INFO_OBJECT (bin, "%s: %s: waiting for a key frame",
          GST_MESSAGE_SRC_NAME (msg), error->message);
      gst_metered_pad_bridge_resync (bridge);
    }
  }
  GST_BIN_CLASS (gst_metered_src_parent_class)->handle_message (bin, msg);
}

/* Under the lock: media and tracks still make streams (not stopping, no
 * EOS sent to us). */
static gboolean
accepting (GstMeteredSrc *src)
{
  return !src->eos &&
         gst_metered_base_bin_is_running (GST_METERED_BASE_BIN (src));
}

/* Signalling thread: builds the stream's branch and adds its pad. */
static void
stream_expose (GstMeteredSrc *src, GstMeteredSrcStream *st)
{
  GstMeteredSrcOutput output;
  GstPadTemplate *templ;
  GstElement *last;
  GstPad *target, *ghost;
  char *name;

  GST_METERED_SRC_LOCK (src);
  if (st->ended || st->exposed || !accepting (src)) {
    st->exposing = FALSE;
    GST_METERED_SRC_UNLOCK (src);
    return;
  }
  name = (char *) gst_metered_src_streams_name_pad (&src->streams, st);
  GST_METERED_SRC_UNLOCK (src);

  GST_OBJECT_LOCK (src);
  output = src->output;
  GST_OBJECT_UNLOCK (src);

  gst_bin_add (GST_BIN (src), GST_ELEMENT (stream_media (st)->bridge));
  g_ptr_array_add (
      stream_media (st)->chain, gst_object_ref (stream_media (st)->bridge));
  last = GST_ELEMENT (stream_media (st)->bridge);
  if (output == GST_METERED_SRC_OUTPUT_DECODED) {
    const char *names[3] = { NULL };
    const char *decoder_props = NULL;
    g_autoptr (GPtrArray) made = g_ptr_array_new ();
    gboolean known = decoder_chain (st->caps, names, &decoder_props);
    gboolean ok = known;

    for (guint i = 0; ok && names[i]; i++) {
      GstElement *e = gst_element_factory_make (names[i], NULL);
      if (!e) {
        GST_ELEMENT_WARNING (src, CORE, MISSING_PLUGIN,
            ("Element %s is missing: pad %s carries encoded data", names[i],
                name),
            (NULL));
        ok = FALSE;
        break;
      }
      if (!names[i + 1]) {
        metered_codec_apply_props (e, decoder_props);
        decoder_follows (e, stream_media (st)->bridge);
      }
      g_ptr_array_add (made, e);
    }
    if (!known)
      GST_ELEMENT_WARNING (src, STREAM, CODEC_NOT_FOUND,
          ("No decoder for %" GST_PTR_FORMAT ": pad %s carries encoded data",
              st->caps, name),
          (NULL));
    for (guint i = 0; i < made->len; i++) {
      GstElement *e = g_ptr_array_index (made, i);
      if (!ok) {
        gst_object_unref (gst_object_ref_sink (e));
        continue;
      }
      gst_bin_add (GST_BIN (src), e);
      gst_element_link (last, e);
      g_ptr_array_add (stream_media (st)->chain, gst_object_ref (e));
      last = e;
    }
  }

  templ = gst_element_class_get_pad_template (GST_ELEMENT_GET_CLASS (src),
      g_str_equal (st->kind, "audio") ? "audio_%s" : "video_%s");
  target = gst_element_get_static_pad (last, "src");
  ghost = gst_ghost_pad_new_from_template (name, target, templ);
  gst_object_unref (target);
  gst_pad_set_active (ghost, TRUE);
  GST_METERED_SRC_LOCK (src);
  stream_media (st)->ghost = gst_object_ref (ghost);
  st->decoded = stream_media (st)->chain->len > 1;
  st->exposed = TRUE;
  st->exposing = FALSE;
  GST_METERED_SRC_UNLOCK (src);

  GST_INFO_OBJECT (
      src, "pad %s for %s (%" GST_PTR_FORMAT ")", name, st->key, st->caps);
  /* Linked in pad-added before any data flows: start downstream first. */
  gst_element_add_pad (GST_ELEMENT (src), ghost);
  for (guint i = stream_media (st)->chain->len; i > 0; i--)
    gst_element_sync_state_with_parent (
        g_ptr_array_index (stream_media (st)->chain, i - 1));
}

static void
expose_on_thread (GstMeteredBaseBin *base, MeteredSession *session, gpointer st)
{
  stream_expose (GST_METERED_SRC (base), st);
}

/* Under the lock: st has caps and metadata: expose it on the signalling
 * thread (now if we are on it). */
static void
stream_schedule_expose (GstMeteredSrc *src, GstMeteredSrcStream *st)
{
  if (st->exposing || st->exposed || st->filtered)
    return;
  st->exposing = gst_metered_base_bin_invoke (GST_METERED_BASE_BIN (src),
      expose_on_thread, gst_metered_src_stream_ref (st),
      (GDestroyNotify) gst_metered_src_stream_unref);
}

/* Signalling thread, or the state change once the runtime stopped. */
static void
stream_remove (GstMeteredSrc *src, GstMeteredSrcStream *st)
{
  GstPad *ghost;

  GST_METERED_SRC_LOCK (src);
  if (!gst_metered_src_streams_mark_removed (&src->streams, st)) {
    GST_METERED_SRC_UNLOCK (src);
    return;
  }
  ghost = g_steal_pointer (&stream_media (st)->ghost);
  GST_METERED_SRC_UNLOCK (src);

  if (ghost) {
    GST_INFO_OBJECT (src, "removing pad %s", GST_PAD_NAME (ghost));
    gst_pad_set_active (ghost, FALSE);
    gst_element_remove_pad (GST_ELEMENT (src), ghost);
    gst_object_unref (ghost);
  }
  for (guint i = 0; i < stream_media (st)->chain->len; i++) {
    GstElement *e = g_ptr_array_index (stream_media (st)->chain, i);
    gst_element_set_locked_state (e, TRUE);
    gst_element_set_state (e, GST_STATE_NULL);
    gst_bin_remove (GST_BIN (src), e);
  }
  g_ptr_array_set_size (stream_media (st)->chain, 0);
  gst_metered_pad_bridge_set_key_unit_func (
      stream_media (st)->bridge, NULL, NULL, NULL);
  gst_metered_pad_bridge_set_eos_func (
      stream_media (st)->bridge, NULL, NULL, NULL);

  GST_METERED_SRC_LOCK (src);
  gst_metered_src_streams_forget (&src->streams, st);
  GST_METERED_SRC_UNLOCK (src);
}

/* Ends a stream taken out of the table: EOS then removal, or removal now
 * if it never got a pad (consumes the reference). */
static void
stream_end (GstMeteredSrc *src, GstMeteredSrcStream *st)
{
  gboolean exposed;

  GST_METERED_SRC_LOCK (src);
  exposed = st->exposed;
  GST_METERED_SRC_UNLOCK (src);
  if (exposed) {
    GST_INFO_OBJECT (src, "ending pad %s", st->pad_name);
    gst_metered_pad_bridge_end (stream_media (st)->bridge);
  } else {
    stream_remove (src, st);
  }
  gst_metered_src_stream_unref (st);
}

/* --- session callbacks --- */

/* Streaming threads of the connections: every depayloaded buffer. */
static void
on_sample (MeteredSession *session, const char *peer_id,
    const MeteredRemoteTrack *track, GstBuffer *buffer, gpointer data)
{
  GstMeteredSrc *src = data;
  g_autofree char *key = gst_metered_src_stream_key (
      peer_id, track->kind, track->stream_id, track->track_id);
  GstMeteredPadBridge *bridge;
  GstMeteredSrcStream *st, *old = NULL;
  gboolean latency_changed;

  GST_METERED_SRC_LOCK (src);
  if (!accepting (src)) {
    GST_METERED_SRC_UNLOCK (src);
    return;
  }
  if (!stream_match (src, key, peer_id, track->kind, track->stream_id,
          track->track_id, &st) ||
      st->filtered) {
    GST_METERED_SRC_UNLOCK (src);
    return;
  }
  if (track->caps && st->caps &&
      !gst_metered_pad_bridge_same_codec (st->caps, track->caps) &&
      st->decoded) {
    /* Decoded output and another codec: its decoder cannot follow. This
     * pad ends, a new one takes over. */
    GstMeteredSrcStream *next;

    GST_INFO_OBJECT (src, "codec of %s changed: new pad", st->key);
    old = stream_take (src, st);
    next = stream_new (src, key, peer_id, track->kind, track->track_id);
    next->metadata = g_strdup (old->metadata);
    next->role = g_strdup (old->role);
    next->meta_known = old->meta_known;
    st = next;
  }
  st->fed = TRUE;
  if (g_strcmp0 (st->track_id, track->track_id) != 0) {
    g_free (st->track_id);
    st->track_id = g_strdup (track->track_id);
  }
  if (!st->caps && track->caps) {
    st->caps = gst_caps_ref (track->caps);
    if (st->meta_known)
      stream_schedule_expose (src, st);
  }
  if (!st->meta_known) {
    /* Who is it? Keep it until remote-track tells. */
    Early *e = g_new0 (Early, 1);
    e->caps = track->caps ? gst_caps_ref (track->caps) : NULL;
    e->buffer = gst_buffer_ref (buffer);
    g_queue_push_tail (&stream_media (st)->early, e);
    if (g_queue_get_length (&stream_media (st)->early) > MAX_EARLY)
      early_free (g_queue_pop_head (&stream_media (st)->early));
    GST_METERED_SRC_UNLOCK (src);
    if (old)
      stream_end (src, old);
    return;
  }
  bridge = gst_object_ref (stream_media (st)->bridge);
  latency_changed = track->latency_ms &&
                    track->latency_ms != stream_media (st)->jitter_latency_ms;
  if (latency_changed) {
    stream_media (st)->jitter_latency_ms = track->latency_ms;
    GST_INFO_OBJECT (src, "jitter-buffer latency of %s %s track of %s: %u ms",
        st->pad_name ? st->pad_name : "(no pad yet)", st->kind, st->peer_id,
        track->latency_ms);
  }
  GST_METERED_SRC_UNLOCK (src);

  if (old)
    stream_end (src, old);
  if (latency_changed) {
    /* The connection's jitter buffer follows the round trip: buffers may
     * now come that much later after their timestamps. Downstream sinks
     * re-compute their latency on the message. */
    g_object_set (bridge, "latency",
        (guint64) (track->latency_ms + HANDOVER_MS) * GST_MSECOND, NULL);
    gst_element_post_message (
        GST_ELEMENT (src), gst_message_new_latency (GST_OBJECT (src)));
  }
  gst_metered_pad_bridge_push (bridge, track->caps, buffer);
  gst_object_unref (bridge);
}

/* Under the lock (the order of buffers stays): from's early buffers go to
 * to's bridge. */
static void
flush_early (GstMeteredSrcStream *from, GstMeteredSrcStream *to)
{
  Early *e;

  while ((e = g_queue_pop_head (&stream_media (from)->early))) {
    if (!to->caps && e->caps)
      to->caps = gst_caps_ref (e->caps);
    to->fed = TRUE;
    gst_metered_pad_bridge_push (stream_media (to)->bridge, e->caps, e->buffer);
    early_free (e);
  }
}

/* Signalling thread: a track started flowing on a (new or swapped)
 * connection; metadata says what it is. */
static void
on_remote_track (MeteredSession *session, const char *peer_id, const char *kind,
    const char *stream_id, const char *track_id, const char *metadata,
    GstMeteredSrc *src)
{
  g_autofree char *key =
      gst_metered_src_stream_key (peer_id, kind, stream_id, track_id);
  g_autofree char *role = gst_metered_src_role_from_metadata (metadata);
  GstMeteredSrcStream *st, *orphan, *holder, *dropped = NULL;
  GstMeteredPadBridge *ended = NULL;

  GST_METERED_SRC_LOCK (src);
  if (!accepting (src)) {
    GST_METERED_SRC_UNLOCK (src);
    return;
  }
  if (!stream_match (src, key, peer_id, kind, stream_id, track_id, &st)) {
    GST_METERED_SRC_UNLOCK (src);
    return;
  }
  if (!st->meta_known && (dropped = gst_metered_src_streams_claim_role (
                              &src->streams, st, role, &holder))) {
    /* Role mode: the newest sender of this kind and role feeds its pad. */
    GstMeteredSrcStream *to = holder;
    g_autofree char *previous = g_strdup (
        g_ptr_array_index (to->former_peers, to->former_peers->len - 1));
    g_autofree char *pad = g_strdup (to->pad_name);

    GST_INFO_OBJECT (src, "%s track of %s takes over pad %s from %s", kind,
        peer_id, pad ? pad : "(none yet)", previous);
    g_free (to->metadata);
    to->metadata = g_strdup (metadata);
    gst_metered_pad_bridge_new_source (stream_media (to)->bridge);
    flush_early (dropped, to);
    GST_METERED_SRC_UNLOCK (src);
    gst_element_post_message (GST_ELEMENT (src),
        gst_message_new_element (GST_OBJECT (src),
            gst_structure_new ("metered/pad-takeover", "pad", G_TYPE_STRING,
                pad, "kind", G_TYPE_STRING, kind, "role", G_TYPE_STRING, role,
                "peer-id", G_TYPE_STRING, peer_id, "previous-peer-id",
                G_TYPE_STRING, previous, NULL)));
    stream_end (src, dropped);
    return;
  }
  if (!st->meta_known && (orphan = gst_metered_src_streams_find_orphan (
                              &src->streams, st, role))) {
    /* The same remote stream under new track ids: it continues on its
     * pad, with what arrived under the new key so far. */
    GST_INFO_OBJECT (src, "%s track of %s continues on pad %s", kind, peer_id,
        orphan->pad_name);
    dropped = stream_take (src, st);
    gst_metered_src_streams_alias (&src->streams, key, orphan);
    g_free (orphan->track_id);
    orphan->track_id = g_strdup (track_id);
    flush_early (dropped, orphan);
    GST_METERED_SRC_UNLOCK (src);
    stream_end (src, dropped);
    return;
  }
  if (!st->meta_known) {
    st->meta_known = TRUE;
    st->metadata = g_strdup (metadata);
    st->role = g_steal_pointer (&role);
    if (!filter_accepts (src, st)) {
      GST_INFO_OBJECT (src, "%s track of %s (role %s) filtered out", kind,
          peer_id, st->role ? st->role : "none");
      st->filtered = TRUE;
      ended = gst_object_ref (stream_media (st)->bridge);
    } else {
      flush_early (st, st);
      if (st->caps)
        stream_schedule_expose (src, st);
    }
  }
  GST_METERED_SRC_UNLOCK (src);
  if (ended) {
    gst_metered_pad_bridge_end (ended);
    gst_object_unref (ended);
  }
}

/* A new connection to the peer (swap, or a kept peer back): its tracks
 * come from a new source. */
static void
new_source_for_peer (GstMeteredSrc *src, const char *peer_id)
{
  g_autoptr (GPtrArray) streams = NULL;

  GST_METERED_SRC_LOCK (src);
  streams = gst_metered_src_streams_of_peer (&src->streams, peer_id);
  GST_METERED_SRC_UNLOCK (src);
  for (guint i = 0; i < streams->len; i++) {
    GstMeteredSrcStream *st = g_ptr_array_index (streams, i);
    GST_METERED_SRC_LOCK (src);
    st->fed = FALSE;
    GST_METERED_SRC_UNLOCK (src);
    gst_metered_pad_bridge_new_source (stream_media (st)->bridge);
    gst_metered_src_stream_unref (st);
  }
}

/* The connection was replaced; the old one carries the media until the
 * new one takes over (media-switched). Its pads may be continued by
 * tracks under new ids from now on (find_orphan). */
static void
on_swapped (MeteredSession *session, const char *peer_id, GstMeteredSrc *src)
{
  g_autoptr (GPtrArray) streams = NULL;

  GST_INFO_OBJECT (src, "connection to %s swapped", peer_id);
  GST_METERED_SRC_LOCK (src);
  streams = gst_metered_src_streams_of_peer (&src->streams, peer_id);
  for (guint i = 0; i < streams->len; i++)
    ((GstMeteredSrcStream *) g_ptr_array_index (streams, i))->fed = FALSE;
  GST_METERED_SRC_UNLOCK (src);
  for (guint i = 0; i < streams->len; i++)
    gst_metered_src_stream_unref (g_ptr_array_index (streams, i));
}

/* Streaming thread, before the first buffer of the new connection: that
 * kind of the peer's media comes from a new source. */
static void
on_media_switched (MeteredSession *session, const char *peer_id,
    const char *kind, GstMeteredSrc *src)
{
  g_autoptr (GPtrArray) streams = NULL;

  GST_INFO_OBJECT (src, "%s of %s: new source", kind, peer_id);
  GST_METERED_SRC_LOCK (src);
  streams = gst_metered_src_streams_of_peer (&src->streams, peer_id);
  GST_METERED_SRC_UNLOCK (src);
  for (guint i = 0; i < streams->len; i++) {
    GstMeteredSrcStream *st = g_ptr_array_index (streams, i);
    if (g_strcmp0 (st->kind, kind) == 0)
      gst_metered_pad_bridge_new_source (stream_media (st)->bridge);
    gst_metered_src_stream_unref (st);
  }
}

static void
gst_metered_src_peer_joined (GstMeteredBaseBin *base, const char *peer_id)
{
  new_source_for_peer (GST_METERED_SRC (base), peer_id);
}

typedef struct
{
  GstMeteredSrc *src;
  GstMeteredSrcStream *st;
  guint serial;
} LeftWait;

static void
left_wait_free (LeftWait *w)
{
  gst_metered_src_stream_unref (w->st);
  g_free (w);
}

/* Signalling thread: dead-peer-timeout after the peer left, nobody
 * claimed its track: the pad ends as it did when its peer left. */
static gboolean
left_timer_fired (gpointer data)
{
  LeftWait *w = data;
  GstMeteredSrc *src = w->src;
  GstMeteredSrcStream *st = NULL;

  GST_METERED_SRC_LOCK (src);
  if (gst_metered_src_streams_left_expired (&src->streams, w->st, w->serial))
    st = stream_take (src, w->st);
  GST_METERED_SRC_UNLOCK (src);
  if (st) {
    GST_INFO_OBJECT (src, "track of pad %s not claimed: ending it",
        st->pad_name ? st->pad_name : "(none)");
    stream_end (src, st);
  }
  return G_SOURCE_REMOVE;
}

/* Under the lock: st waits ms for a newcomer to claim its track. FALSE
 * if there is no signalling context to wait on. */
static gboolean
stream_wait_claim (GstMeteredSrc *src, GstMeteredSrcStream *st, guint ms)
{
  GMainContext *context = g_main_context_get_thread_default ();
  StreamMedia *m = stream_media (st);
  LeftWait *w;

  if (!context)
    return FALSE;
  w = g_new0 (LeftWait, 1);
  w->src = src;
  w->st = gst_metered_src_stream_ref (st);
  w->serial = gst_metered_src_streams_peer_left (&src->streams, st);
  if (m->left_timer) {
    g_source_destroy (m->left_timer);
    g_source_unref (m->left_timer);
  }
  m->left_timer = g_timeout_source_new (ms);
  g_source_set_callback (
      m->left_timer, left_timer_fired, w, (GDestroyNotify) left_wait_free);
  g_source_attach (m->left_timer, context);
  return TRUE;
}

/* A peer left for good. Its pads are kept (keep-pads-on-leave), or wait
 * dead-peer-timeout for a newcomer sending the same tracks (a
 * publishable-key sender back under a new peer id) before they end. */
static void
gst_metered_src_peer_left (GstMeteredBaseBin *base, const char *peer_id)
{
  GstMeteredSrc *src = GST_METERED_SRC (base);
  g_autoptr (GPtrArray) streams = NULL;
  g_autoptr (GPtrArray) ending = g_ptr_array_new ();
  gboolean keep;
  guint wait_ms = 0;

  GST_OBJECT_LOCK (src);
  keep = src->keep_pads;
  GST_OBJECT_UNLOCK (src);
  if (!keep)
    g_object_get (src, "dead-peer-timeout", &wait_ms, NULL);

  GST_METERED_SRC_LOCK (src);
  streams = gst_metered_src_streams_of_peer (&src->streams, peer_id);
  for (guint i = 0; i < streams->len; i++) {
    GstMeteredSrcStream *st = g_ptr_array_index (streams, i);
    st->fed = FALSE;
    if (!keep && !(accepting (src) && stream_wait_claim (src, st, wait_ms)))
      g_ptr_array_add (ending, stream_take (src, st));
  }
  GST_METERED_SRC_UNLOCK (src);

  GST_INFO_OBJECT (src, "peer %s left: %s %u of its %u pads", peer_id,
      keep ? "keeping" : "ending", keep ? streams->len : ending->len,
      streams->len);
  for (guint i = 0; i < streams->len; i++) {
    GstMeteredSrcStream *st = g_ptr_array_index (streams, i);
    if (!g_ptr_array_find (ending, st, NULL))
      gst_metered_pad_bridge_source_lost (stream_media (st)->bridge);
    gst_metered_src_stream_unref (st);
  }
  for (guint i = 0; i < ending->len; i++)
    stream_end (src, g_ptr_array_index (ending, i)); /* stream_take ()'s */
}

/* --- life cycle --- */

/* READY -> PAUSED: what the session receives goes to the stream table. */
static gboolean
gst_metered_src_prepare (GstMeteredBaseBin *base, MeteredSession *session)
{
  GstMeteredSrc *src = GST_METERED_SRC (base);
  gboolean by_role;
  guint latency;

  GST_OBJECT_LOCK (src);
  by_role = src->pads_by_role;
  latency = src->latency;
  GST_OBJECT_UNLOCK (src);
  GST_METERED_SRC_LOCK (src);
  src->eos = FALSE;
  src->streams.by_role = by_role;
  GST_METERED_SRC_UNLOCK (src);
  metered_session_set_receive (session, TRUE);
  metered_session_set_receive_latency (session, latency);
  metered_session_set_sample_func (session, on_sample, src, NULL);
  g_signal_connect (session, "remote-track", G_CALLBACK (on_remote_track), src);
  g_signal_connect (
      session, "connection-swapped", G_CALLBACK (on_swapped), src);
  g_signal_connect (
      session, "media-switched", G_CALLBACK (on_media_switched), src);
  return TRUE;
}

/* PAUSED -> READY, after the session left and the children went to
 * READY. */
static void
gst_metered_src_stopped (GstMeteredBaseBin *base)
{
  GstMeteredSrc *src = GST_METERED_SRC (base);
  g_autoptr (GPtrArray) all = NULL;

  GST_METERED_SRC_LOCK (src);
  all = gst_metered_src_streams_dup_all (&src->streams);
  gst_metered_src_streams_reset (&src->streams);
  for (guint i = 0; i < all->len; i++) {
    StreamMedia *m = stream_media (g_ptr_array_index (all, i));
    if (m->left_timer) {
      g_source_destroy (m->left_timer);
      g_clear_pointer (&m->left_timer, g_source_unref);
    }
  }
  GST_METERED_SRC_UNLOCK (src);
  for (guint i = 0; i < all->len; i++) {
    GstMeteredSrcStream *st = g_ptr_array_index (all, i);
    stream_remove (src, st);
    gst_metered_src_stream_unref (st);
  }
}

/* EOS sent to us (gst-launch -e, an application stopping a recording):
 * every pad drains and ends; no new pads. */
static gboolean
gst_metered_src_send_event (GstElement *element, GstEvent *event)
{
  GstMeteredSrc *src = GST_METERED_SRC (element);
  g_autoptr (GPtrArray) all = NULL;

  if (GST_EVENT_TYPE (event) != GST_EVENT_EOS)
    return GST_ELEMENT_CLASS (gst_metered_src_parent_class)
        ->send_event (element, event);

  GST_METERED_SRC_LOCK (src);
  src->eos = TRUE;
  all = gst_metered_src_streams_dup_all (&src->streams);
  GST_METERED_SRC_UNLOCK (src);
  GST_INFO_OBJECT (src, "EOS: ending %u pads", all->len);
  for (guint i = 0; i < all->len; i++) {
    GstMeteredSrcStream *st = g_ptr_array_index (all, i);
    gst_metered_pad_bridge_end (stream_media (st)->bridge);
    gst_metered_src_stream_unref (st);
  }
  gst_event_unref (event);
  return TRUE;
}

/* --- properties --- */

static gboolean
copy_field (GQuark field, const GValue *value, gpointer to)
{
  gst_structure_id_set_value (to, field, value);
  return TRUE;
}

/* One metered/pad structure per pad. */
static void
gst_metered_src_add_stats (GstMeteredBaseBin *base, GstStructure *s)
{
  GstMeteredSrc *src = GST_METERED_SRC (base);
  g_autoptr (GPtrArray) all = NULL;
  GValue list = G_VALUE_INIT;

  g_autoptr (GPtrArray) ids =
      g_ptr_array_new_with_free_func ((GDestroyNotify) gst_structure_free);

  /* Who each pad is, under our lock; what its bridge counted, without. */
  g_value_init (&list, GST_TYPE_LIST);
  GST_METERED_SRC_LOCK (src);
  all = gst_metered_src_streams_dup_all (&src->streams);
  g_ptr_array_set_free_func (
      all, (GDestroyNotify) gst_metered_src_stream_unref);
  for (guint i = 0; i < all->len; i++) {
    GstMeteredSrcStream *st = g_ptr_array_index (all, i);
    g_ptr_array_add (
        ids, gst_structure_new ("id", "pad", G_TYPE_STRING, st->pad_name,
                 "peer-id", G_TYPE_STRING, st->peer_id, "kind", G_TYPE_STRING,
                 st->kind, "role", G_TYPE_STRING, st->role, "ended",
                 G_TYPE_BOOLEAN, st->ended, "jitter-latency-ms", G_TYPE_UINT,
                 stream_media (st)->jitter_latency_ms, NULL));
  }
  GST_METERED_SRC_UNLOCK (src);
  for (guint i = 0; i < all->len; i++) {
    GstMeteredSrcStream *st = g_ptr_array_index (all, i);
    GstStructure *p =
        gst_metered_pad_bridge_get_stats (stream_media (st)->bridge);
    GValue v = G_VALUE_INIT;

    gst_structure_set_name (p, "metered/pad");
    gst_structure_foreach (g_ptr_array_index (ids, i), copy_field, p);
    g_value_init (&v, GST_TYPE_STRUCTURE);
    g_value_take_boxed (&v, p);
    gst_value_list_append_and_take_value (&list, &v);
  }
  gst_structure_take_value (s, "pad-stats", &list);
}

/* A filter property: NULL and "" both mean no filter. */
static void
set_filter (char **filter, const GValue *value)
{
  const char *text = g_value_get_string (value);

  g_free (*filter);
  *filter = text && *text ? g_strdup (text) : NULL;
}

static void
gst_metered_src_set_property (
    GObject *object, guint prop_id, const GValue *value, GParamSpec *pspec)
{
  GstMeteredSrc *src = GST_METERED_SRC (object);

  GST_OBJECT_LOCK (src);
  switch (prop_id) {
    case PROP_OUTPUT:
      src->output = g_value_get_enum (value);
      break;
    case PROP_PEER_ID:
      set_filter (&src->peer_filter, value);
      break;
    case PROP_STREAM_ROLE:
      set_filter (&src->role_filter, value);
      break;
    case PROP_KEEP_PADS_ON_LEAVE:
      src->keep_pads = g_value_get_boolean (value);
      break;
    case PROP_GAP_TIMEOUT:
      src->gap_timeout = g_value_get_uint (value);
      break;
    case PROP_PADS_BY_ROLE:
      src->pads_by_role = g_value_get_boolean (value);
      break;
    case PROP_LATENCY:
      src->latency = g_value_get_uint (value);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
  }
  GST_OBJECT_UNLOCK (src);
}

static void
gst_metered_src_get_property (
    GObject *object, guint prop_id, GValue *value, GParamSpec *pspec)
{
  GstMeteredSrc *src = GST_METERED_SRC (object);

  GST_OBJECT_LOCK (src);
  switch (prop_id) {
    case PROP_OUTPUT:
      g_value_set_enum (value, src->output);
      break;
    case PROP_PEER_ID:
      g_value_set_string (value, src->peer_filter);
      break;
    case PROP_STREAM_ROLE:
      g_value_set_string (value, src->role_filter);
      break;
    case PROP_KEEP_PADS_ON_LEAVE:
      g_value_set_boolean (value, src->keep_pads);
      break;
    case PROP_GAP_TIMEOUT:
      g_value_set_uint (value, src->gap_timeout);
      break;
    case PROP_PADS_BY_ROLE:
      g_value_set_boolean (value, src->pads_by_role);
      break;
    case PROP_LATENCY:
      g_value_set_uint (value, src->latency);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
  }
  GST_OBJECT_UNLOCK (src);
}

static void
gst_metered_src_finalize (GObject *object)
{
  GstMeteredSrc *src = GST_METERED_SRC (object);

  gst_metered_src_streams_clear (&src->streams);
  g_free (src->peer_filter);
  g_free (src->role_filter);
  g_mutex_clear (&src->lock);
  G_OBJECT_CLASS (gst_metered_src_parent_class)->finalize (object);
}

static void
gst_metered_src_class_init (GstMeteredSrcClass *klass)
{
  GObjectClass *gobject_class = G_OBJECT_CLASS (klass);
  GstElementClass *element_class = GST_ELEMENT_CLASS (klass);
  GstMeteredBaseBinClass *base_class = GST_METERED_BASE_BIN_CLASS (klass);
  GstBinClass *bin_class = GST_BIN_CLASS (klass);
  GParamFlags rw =
      G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | GST_PARAM_MUTABLE_READY;

  GST_DEBUG_CATEGORY_INIT (gst_metered_src_debug, "meteredsrc", 0,
      "Metered Realtime Messaging source");

  gobject_class->set_property = gst_metered_src_set_property;
  gobject_class->get_property = gst_metered_src_get_property;
  gobject_class->finalize = gst_metered_src_finalize;

  /**
   * GstMeteredSrc:output:
   *
   * What the pads carry: `encoded` (VP8, VP9, H.264 as avc/au, Opus, as
   * the sender encoded them: for recorders and restreaming; caps change
   * only when the codec does) or `decoded` (raw video and audio).
   */
  g_object_class_install_property (gobject_class, PROP_OUTPUT,
      g_param_spec_enum ("output", "Output",
          "encoded: depayloaded VP8/VP9/H.264 (avc, au)/Opus as sent (for "
          "recorders); decoded: raw video and audio",
          GST_TYPE_METERED_SRC_OUTPUT, DEFAULT_OUTPUT, rw));
  /**
   * GstMeteredSrc:peer-id:
   *
   * Receive only from this remote peer id (NULL: from everybody).
   */
  g_object_class_install_property (gobject_class, PROP_PEER_ID,
      g_param_spec_string ("peer-id", "Peer id",
          "Only expose tracks of this remote peer (NULL: every peer)", NULL,
          rw));
  /**
   * GstMeteredSrc:stream-role:
   *
   * Expose only tracks whose sender metadata has this `role` (NULL: every
   * track), for example `camera` or `screen`.
   */
  g_object_class_install_property (gobject_class, PROP_STREAM_ROLE,
      g_param_spec_string ("stream-role", "Stream role",
          "Only expose tracks whose metadata role is this (NULL: every "
          "track)",
          NULL, rw));
  /**
   * GstMeteredSrc:keep-pads-on-leave:
   *
   * When a peer leaves the channel for good: FALSE ends its pads (EOS,
   * then pad-removed) unless a newcomer sends their tracks within
   * dead-peer-timeout; TRUE keeps them, sending GAP events, until the
   * same peer id comes back (its media continues on the same pads) or the
   * pipeline stops: for recorders that must not end.
   */
  g_object_class_install_property (gobject_class, PROP_KEEP_PADS_ON_LEAVE,
      g_param_spec_boolean ("keep-pads-on-leave", "Keep pads on leave",
          "Keep a leaving peer's pads (sending GAP events) until it comes "
          "back, instead of EOS and removal",
          DEFAULT_KEEP_PADS_ON_LEAVE,
          G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS |
              GST_PARAM_MUTABLE_PLAYING));
  /**
   * GstMeteredSrc:gap-timeout:
   *
   * A pad that gets no media for this many ms sends a GAP event, and again
   * every gap-timeout, so mixers and muxers waiting on it go on. 0: never.
   */
  g_object_class_install_property (gobject_class, PROP_GAP_TIMEOUT,
      g_param_spec_uint ("gap-timeout", "GAP timeout",
          "A pad without media for this many ms sends GAP events (again "
          "every gap-timeout); 0 never",
          0, G_MAXINT, DEFAULT_GAP_TIMEOUT, rw));
  /**
   * GstMeteredSrc:pads-by-role:
   *
   * Names pads by role, for recorders that follow "the camera" whoever
   * sends it (a reloaded page has new track ids): one pad per kind and
   * metadata role, `video_<role>` / `audio_<role>`, fed by the newest peer
   * sending that role; a `metered/pad-takeover` element message says who
   * took over. Tracks without a role are named as usual.
   */
  g_object_class_install_property (gobject_class, PROP_PADS_BY_ROLE,
      g_param_spec_boolean ("pads-by-role", "Pads by role",
          "One pad per kind and metadata role (video_<role>, audio_<role>), "
          "fed by the newest peer sending that role",
          DEFAULT_PADS_BY_ROLE, rw));
  /**
   * GstMeteredSrc:latency:
   *
   * The jitter buffers' latency in ms: how long a lost packet may take to
   * be retransmitted (NACK/RTX) before it is given up on. 0 (the default)
   * follows each connection's measured round trip (the time a
   * retransmission takes): 100 ms on a clean link, twice the round trip
   * plus four times the jitter plus 30 ms while packets are being
   * repaired (time for a second request when a retransmission is lost
   * too), at most 1000 ms; it rises at once and falls after 10 s, and
   * back to 100 ms after 30 s without a retransmission. Another value
   * fixes it, for a constant latency. Pads report it, plus 50 ms, in the
   * LATENCY query, and a latency message is posted when it changes.
   * Applies to connections made after it is set.
   */
  g_object_class_install_property (gobject_class, PROP_LATENCY,
      g_param_spec_uint ("latency", "Latency",
          "Jitter-buffer latency in ms (how long a lost packet may take to "
          "be retransmitted); 0: from the measured round trip, 100 to 1000 ms",
          0, 10000, DEFAULT_LATENCY, rw));

  base_class->join_in_playing = TRUE;
  base_class->prepare = GST_DEBUG_FUNCPTR (gst_metered_src_prepare);
  base_class->peer_joined = GST_DEBUG_FUNCPTR (gst_metered_src_peer_joined);
  base_class->peer_left = GST_DEBUG_FUNCPTR (gst_metered_src_peer_left);
  base_class->stopped = GST_DEBUG_FUNCPTR (gst_metered_src_stopped);
  base_class->add_stats = GST_DEBUG_FUNCPTR (gst_metered_src_add_stats);
  element_class->send_event = GST_DEBUG_FUNCPTR (gst_metered_src_send_event);
  bin_class->handle_message =
      GST_DEBUG_FUNCPTR (gst_metered_src_handle_message);

  gst_element_class_add_static_pad_template (element_class, &video_template);
  gst_element_class_add_static_pad_template (element_class, &audio_template);
  gst_element_class_set_static_metadata (element_class,
      "Metered Realtime Messaging source", "Source/Network/Video/Audio",
      "Receives every remote peer's audio and video of a Metered Realtime "
      "Messaging channel over WebRTC, one src pad per remote track "
      "(video_<peer>_<role>, or video_<peer>_<n> without a metadata role; "
      "audio_ alike), on pads that outlive signalling drops, server "
      "restarts and connection swaps",
      "gst-metered authors");

  gst_type_mark_as_plugin_api (GST_TYPE_METERED_SRC_OUTPUT, 0);
}

static void
gst_metered_src_init (GstMeteredSrc *src)
{
  g_mutex_init (&src->lock);
  src->output = DEFAULT_OUTPUT;
  src->keep_pads = DEFAULT_KEEP_PADS_ON_LEAVE;
  src->gap_timeout = DEFAULT_GAP_TIMEOUT;
  src->pads_by_role = DEFAULT_PADS_BY_ROLE;
  src->latency = DEFAULT_LATENCY;
  gst_metered_src_streams_init (&src->streams);
  GST_OBJECT_FLAG_SET (src, GST_ELEMENT_FLAG_SOURCE);
}
