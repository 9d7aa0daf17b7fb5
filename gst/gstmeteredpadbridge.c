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

#include "gstmeteredpadbridge.h"

GST_DEBUG_CATEGORY_STATIC (metered_pad_bridge_debug);
#define GST_CAT_DEFAULT metered_pad_bridge_debug

enum
{
  PROP_0,
  PROP_GAP_TIMEOUT,
  PROP_LATENCY,
  PROP_MAX_BUFFERS,
};

#define DEFAULT_GAP_TIMEOUT (1 * GST_SECOND)
/* The connection's jitter buffer holds 100 ms; depayloading, the hand-over
 * between threads and our queue get 50 ms more. */
#define DEFAULT_LATENCY (150 * GST_MSECOND)
#define DEFAULT_MAX_BUFFERS 300
/* A new source starting further in the past than this is re-based. */
#define REBASE_THRESHOLD GST_SECOND
/* While waiting for a key unit, ask at most this often (µs). */
#define KEY_UNIT_INTERVAL_US G_USEC_PER_SEC

typedef struct
{
  GstBuffer *buffer;
  GstCaps *caps;
  gboolean new_source;
  gboolean discont;
} Item;

typedef struct
{
  guint64 buffers_in;
  guint64 buffers_out;
  guint64 dropped_delta;
  guint64 dropped_overflow;
  guint64 gaps;
  guint64 discont;
  guint64 sources;
  guint64 key_unit_requests;
  guint64 clamped;
  guint64 caps_changes;
  guint64 losses;
} Stats;

struct _GstMeteredPadBridge
{
  GstElement parent;

  GstPad *srcpad;

  /* GST_METERED_PAD_BRIDGE_LOCK guards the queue, the flags and the
   * input side below and the statistics; cond wakes the streaming thread
   * (new input, flushing, end). Nothing is pushed, no callback called and
   * no clock waited on while it is held. The object lock guards the
   * settings and the callbacks. */
  GMutex lock;
  GCond cond;
  GQueue queue; /* Item* */
  GstClockID clock_id; /* the GAP wait, unscheduled by new input */
  gboolean flushing;
  gboolean playing;
  gboolean ending; /* end () was called: drain, then EOS */
  gboolean has_source;
  Stats stats;

  /* settings */
  GstClockTime gap_timeout;
  GstClockTime latency;
  guint max_buffers;

  /* input side (lock) */
  gboolean need_key_unit;
  gboolean pending_new_source;
  gboolean pending_discont;
  gboolean gap_sent; /* a GAP went out since the last buffer */
  gint64 last_key_request_us;

  /* output side (streaming thread only) */
  gboolean stream_started;
  gboolean segment_sent;
  GstCaps *out_caps;
  GstClockTime last_pts;
  GstClockTime last_dts;
  GstClockTime gap_end;
  GstClockTime position; /* end of what went out */
  GstClockTime offset; /* added to the current source's timestamps */
  gboolean discont_next;
  GstClockTime last_activity; /* clock time of the last output */

  GstMeteredPadBridgeFunc key_unit_func;
  gpointer key_unit_data;
  GDestroyNotify key_unit_destroy;
  GstMeteredPadBridgeFunc eos_func;
  gpointer eos_data;
  GDestroyNotify eos_destroy;
};

#define GST_METERED_PAD_BRIDGE_LOCK(b) g_mutex_lock (&(b)->lock)
#define GST_METERED_PAD_BRIDGE_UNLOCK(b) g_mutex_unlock (&(b)->lock)

G_DEFINE_FINAL_TYPE (
    GstMeteredPadBridge, gst_metered_pad_bridge, GST_TYPE_ELEMENT)

static GstStaticPadTemplate src_template = GST_STATIC_PAD_TEMPLATE (
    "src", GST_PAD_SRC, GST_PAD_ALWAYS, GST_STATIC_CAPS_ANY);

static void
item_free (Item *item)
{
  gst_clear_buffer (&item->buffer);
  gst_clear_caps (&item->caps);
  g_free (item);
}

static gboolean
is_video (const GstCaps *caps)
{
  return caps && gst_caps_get_size (caps) > 0 &&
         g_str_has_prefix (
             gst_structure_get_name (gst_caps_get_structure (caps, 0)),
             "video/");
}

gboolean
gst_metered_pad_bridge_same_codec (const GstCaps *a, const GstCaps *b)
{
  const GstStructure *sa, *sb;

  if (a == b)
    return TRUE;
  if (!a || !b || gst_caps_get_size (a) == 0 || gst_caps_get_size (b) == 0)
    return FALSE;
  sa = gst_caps_get_structure (a, 0);
  sb = gst_caps_get_structure (b, 0);
  if (!gst_structure_has_name (sa, gst_structure_get_name (sb)))
    return FALSE;
  /* avc and byte-stream are different bitstreams of one codec. */
  return g_strcmp0 (gst_structure_get_string (sa, "stream-format"),
             gst_structure_get_string (sb, "stream-format")) == 0 &&
         g_strcmp0 (gst_structure_get_string (sa, "alignment"),
             gst_structure_get_string (sb, "alignment")) == 0;
}

/* Caps to push: a codec change, or video caps that finally say how big
 * the picture is (muxers need width and height once). */
static gboolean
caps_need_push (const GstCaps *current, const GstCaps *next)
{
  const GstStructure *sc, *sn;

  if (!current)
    return TRUE;
  if (!gst_metered_pad_bridge_same_codec (current, next))
    return TRUE;
  if (!is_video (current))
    return FALSE;
  sc = gst_caps_get_structure (current, 0);
  sn = gst_caps_get_structure (next, 0);
  return !gst_structure_has_field (sc, "width") &&
         gst_structure_has_field (sn, "width");
}

/* --- input side --- */

static void
wake_locked (GstMeteredPadBridge *bridge)
{
  g_cond_broadcast (&bridge->cond);
  if (bridge->clock_id)
    gst_clock_id_unschedule (bridge->clock_id);
}

static void
request_key_unit (GstMeteredPadBridge *bridge)
{
  GstMeteredPadBridgeFunc func;
  gpointer data;

  GST_OBJECT_LOCK (bridge);
  func = bridge->key_unit_func;
  data = bridge->key_unit_data;
  GST_OBJECT_UNLOCK (bridge);
  GST_DEBUG_OBJECT (bridge, "asking the source for a key unit");
  if (func)
    func (bridge, data);
}

/* Under the lock: TRUE if a key unit request is due now. */
static gboolean
key_request_due (GstMeteredPadBridge *bridge)
{
  gint64 now = g_get_monotonic_time ();

  if (bridge->last_key_request_us &&
      now - bridge->last_key_request_us < KEY_UNIT_INTERVAL_US)
    return FALSE;
  bridge->last_key_request_us = now;
  bridge->stats.key_unit_requests++;
  return TRUE;
}

gboolean
gst_metered_pad_bridge_push (
    GstMeteredPadBridge *bridge, GstCaps *caps, GstBuffer *buffer)
{
  gboolean delta = GST_BUFFER_FLAG_IS_SET (buffer, GST_BUFFER_FLAG_DELTA_UNIT);
  gboolean discont = GST_BUFFER_FLAG_IS_SET (buffer, GST_BUFFER_FLAG_DISCONT);
  gboolean ask = FALSE;
  Item *item;

  g_return_val_if_fail (GST_IS_METERED_PAD_BRIDGE (bridge), FALSE);
  g_return_val_if_fail (GST_IS_BUFFER (buffer), FALSE);

  GST_METERED_PAD_BRIDGE_LOCK (bridge);
  bridge->stats.buffers_in++;
  if (bridge->ending)
    goto drop;

  if (g_queue_get_length (&bridge->queue) >= bridge->max_buffers) {
    /* Downstream is stuck: start over from the newest data. */
    GST_WARNING_OBJECT (bridge, "queue full (%u buffers): dropping them",
        g_queue_get_length (&bridge->queue));
    bridge->stats.dropped_overflow += g_queue_get_length (&bridge->queue);
    g_queue_clear_full (&bridge->queue, (GDestroyNotify) item_free);
    bridge->pending_discont = TRUE;
    bridge->need_key_unit = TRUE;
  }

  /* Packets were lost and not repaired (the jitter buffer gave up on
   * them, or a dead media path came back): the decoder's references are
   * gone, and a delta unit decoded now would show artifacts. The key
   * unit that ends the wait goes out DISCONT. One request at once, then
   * at most one per interval while waiting: every wait ends with a key
   * unit, which the sender sends at its own pace, so a lossy link cannot
   * make us flood it. */
  if (delta && discont && !bridge->need_key_unit) {
    GST_DEBUG_OBJECT (bridge, "data lost: waiting for a key unit");
    bridge->need_key_unit = TRUE;
    bridge->pending_discont = TRUE;
    bridge->stats.losses++;
    bridge->last_key_request_us = 0;
  }
  bridge->gap_sent = FALSE;

  if (bridge->need_key_unit) {
    if (delta) {
      bridge->stats.dropped_delta++;
      ask = key_request_due (bridge);
      GST_LOG_OBJECT (bridge, "delta unit before a key unit: dropped");
      goto drop;
    }
    GST_DEBUG_OBJECT (bridge, "key unit: letting the source through");
    bridge->need_key_unit = FALSE;
    bridge->last_key_request_us = 0;
  }

  item = g_new0 (Item, 1);
  item->buffer = gst_buffer_ref (buffer);
  item->caps = caps ? gst_caps_ref (caps) : NULL;
  item->new_source = bridge->pending_new_source;
  item->discont = bridge->pending_discont;
  bridge->pending_new_source = FALSE;
  bridge->pending_discont = FALSE;
  g_queue_push_tail (&bridge->queue, item);
  wake_locked (bridge);
  GST_METERED_PAD_BRIDGE_UNLOCK (bridge);
  return TRUE;

drop:
  GST_METERED_PAD_BRIDGE_UNLOCK (bridge);
  if (ask)
    request_key_unit (bridge);
  return FALSE;
}

void
gst_metered_pad_bridge_new_source (GstMeteredPadBridge *bridge)
{
  g_return_if_fail (GST_IS_METERED_PAD_BRIDGE (bridge));

  GST_METERED_PAD_BRIDGE_LOCK (bridge);
  GST_DEBUG_OBJECT (bridge, "new source");
  bridge->pending_new_source = TRUE;
  bridge->pending_discont = TRUE;
  bridge->need_key_unit = TRUE;
  bridge->last_key_request_us = 0;
  bridge->has_source = TRUE;
  bridge->stats.sources++;
  GST_METERED_PAD_BRIDGE_UNLOCK (bridge);
}

void
gst_metered_pad_bridge_source_lost (GstMeteredPadBridge *bridge)
{
  g_return_if_fail (GST_IS_METERED_PAD_BRIDGE (bridge));

  GST_METERED_PAD_BRIDGE_LOCK (bridge);
  GST_DEBUG_OBJECT (bridge, "source lost: GAP events until a new one");
  bridge->has_source = FALSE;
  bridge->pending_discont = TRUE;
  bridge->need_key_unit = TRUE;
  GST_METERED_PAD_BRIDGE_UNLOCK (bridge);
}

void
gst_metered_pad_bridge_resync (GstMeteredPadBridge *bridge)
{
  g_return_if_fail (GST_IS_METERED_PAD_BRIDGE (bridge));

  GST_METERED_PAD_BRIDGE_LOCK (bridge);
  if (!bridge->need_key_unit) {
    GST_DEBUG_OBJECT (bridge, "undecodable: waiting for a key unit");
    bridge->need_key_unit = TRUE;
    bridge->pending_discont = TRUE;
    bridge->stats.losses++;
  }
  GST_METERED_PAD_BRIDGE_UNLOCK (bridge);
}

void
gst_metered_pad_bridge_end (GstMeteredPadBridge *bridge)
{
  g_return_if_fail (GST_IS_METERED_PAD_BRIDGE (bridge));

  GST_METERED_PAD_BRIDGE_LOCK (bridge);
  GST_DEBUG_OBJECT (bridge, "ending");
  bridge->ending = TRUE;
  wake_locked (bridge);
  GST_METERED_PAD_BRIDGE_UNLOCK (bridge);
}

/* --- output side (the pad's task) --- */

static GstClockTime
clock_running_time (GstMeteredPadBridge *bridge, GstClockTime *clock_time)
{
  GstClock *clock = gst_element_get_clock (GST_ELEMENT (bridge));
  GstClockTime now, base;

  if (!clock)
    return GST_CLOCK_TIME_NONE;
  now = gst_clock_get_time (clock);
  base = gst_element_get_base_time (GST_ELEMENT (bridge));
  gst_object_unref (clock);
  if (clock_time)
    *clock_time = now;
  return now >= base ? now - base : 0;
}

static GstClockTime
floor_time (GstMeteredPadBridge *bridge)
{
  if (!GST_CLOCK_TIME_IS_VALID (bridge->last_pts))
    return bridge->gap_end;
  if (!GST_CLOCK_TIME_IS_VALID (bridge->gap_end))
    return bridge->last_pts;
  return MAX (bridge->last_pts, bridge->gap_end);
}

static void
push_sticky_start (GstMeteredPadBridge *bridge, GstCaps *caps)
{
  if (!bridge->stream_started) {
    g_autofree char *id = gst_pad_create_stream_id (
        bridge->srcpad, GST_ELEMENT (bridge), GST_OBJECT_NAME (bridge));
    GstEvent *event = gst_event_new_stream_start (id);

    gst_event_set_group_id (event, gst_util_group_id_next ());
    gst_pad_push_event (bridge->srcpad, event);
    bridge->stream_started = TRUE;
  }
  if (caps && caps_need_push (bridge->out_caps, caps)) {
    GST_INFO_OBJECT (bridge, "caps %" GST_PTR_FORMAT, caps);
    gst_caps_replace (&bridge->out_caps, caps);
    gst_pad_push_event (bridge->srcpad, gst_event_new_caps (caps));
    GST_METERED_PAD_BRIDGE_LOCK (bridge);
    bridge->stats.caps_changes++;
    GST_METERED_PAD_BRIDGE_UNLOCK (bridge);
  }
  if (!bridge->segment_sent) {
    GstSegment segment;

    /* Buffers carry running time: a plain TIME segment from 0. */
    gst_segment_init (&segment, GST_FORMAT_TIME);
    gst_pad_push_event (bridge->srcpad, gst_event_new_segment (&segment));
    bridge->segment_sent = TRUE;
  }
}

/* Makes item's buffer monotonic and returns it (owned). */
static GstBuffer *
retime (GstMeteredPadBridge *bridge, Item *item, gboolean *clamped)
{
  GstBuffer *buf = gst_buffer_make_writable (g_steal_pointer (&item->buffer));
  GstClockTime pts = GST_BUFFER_PTS (buf);
  GstClockTime dts = GST_BUFFER_DTS (buf);
  GstClockTime floor = floor_time (bridge);

  *clamped = FALSE;
  if (!GST_CLOCK_TIME_IS_VALID (pts)) {
    pts = clock_running_time (bridge, NULL);
    if (!GST_CLOCK_TIME_IS_VALID (pts))
      pts = GST_CLOCK_TIME_IS_VALID (floor) ? floor : 0;
  }
  if (item->new_source) {
    bridge->offset = 0;
    if (GST_CLOCK_TIME_IS_VALID (floor) && pts + REBASE_THRESHOLD < floor) {
      /* A source from another time base: carry on from where we are. */
      bridge->offset = floor - pts;
      GST_INFO_OBJECT (bridge,
          "new source starts %" GST_TIME_FORMAT " in the past: re-based",
          GST_TIME_ARGS (bridge->offset));
    }
  }
  pts += bridge->offset;
  if (GST_CLOCK_TIME_IS_VALID (floor) && pts < floor) {
    pts = floor;
    *clamped = TRUE;
  }
  if (GST_CLOCK_TIME_IS_VALID (dts)) {
    dts += bridge->offset;
    if (GST_CLOCK_TIME_IS_VALID (bridge->last_dts) && dts < bridge->last_dts)
      dts = bridge->last_dts;
    if (dts > pts)
      dts = pts;
    bridge->last_dts = dts;
  }
  GST_BUFFER_PTS (buf) = pts;
  GST_BUFFER_DTS (buf) = dts;
  bridge->last_pts = pts;
  bridge->position = GST_BUFFER_DURATION_IS_VALID (buf)
                         ? pts + GST_BUFFER_DURATION (buf)
                         : pts;
  if (item->discont || bridge->discont_next)
    GST_BUFFER_FLAG_SET (buf, GST_BUFFER_FLAG_DISCONT);
  bridge->discont_next = FALSE;
  return buf;
}

static void push_eos (GstMeteredPadBridge *bridge);

static void
push_item (GstMeteredPadBridge *bridge, Item *item)
{
  GstBuffer *buf;
  GstFlowReturn ret;
  gboolean clamped;
  gboolean discont;

  push_sticky_start (bridge, item->caps);
  buf = retime (bridge, item, &clamped);
  discont = GST_BUFFER_FLAG_IS_SET (buf, GST_BUFFER_FLAG_DISCONT);
  clock_running_time (bridge, &bridge->last_activity);
  GST_LOG_OBJECT (bridge, "pushing %" GST_PTR_FORMAT, buf);

  GST_METERED_PAD_BRIDGE_LOCK (bridge);
  bridge->stats.buffers_out++;
  bridge->stats.clamped += clamped;
  bridge->stats.discont += discont;
  GST_METERED_PAD_BRIDGE_UNLOCK (bridge);

  ret = gst_pad_push (bridge->srcpad, buf);
  switch (ret) {
    case GST_FLOW_OK:
      break;
    case GST_FLOW_NOT_LINKED:
      /* Nobody linked this pad (yet): the data is dropped, the pad lives. */
      GST_LOG_OBJECT (bridge, "not linked");
      break;
    case GST_FLOW_EOS:
      /* Downstream wants no more (a sink's num-buffers, a muxer's max
       * size): as a base source does, send EOS and stop. */
      GST_INFO_OBJECT (bridge, "downstream is EOS: ending");
      GST_METERED_PAD_BRIDGE_LOCK (bridge);
      bridge->ending = TRUE;
      g_queue_clear_full (&bridge->queue, (GDestroyNotify) item_free);
      GST_METERED_PAD_BRIDGE_UNLOCK (bridge);
      push_eos (bridge);
      break;
    case GST_FLOW_FLUSHING:
      GST_DEBUG_OBJECT (bridge, "flushing: pausing");
      gst_pad_pause_task (bridge->srcpad);
      break;
    default:
      GST_ELEMENT_FLOW_ERROR (bridge, ret);
      gst_pad_pause_task (bridge->srcpad);
      break;
  }
}

/* Under the lock: a GAP event up to now - latency, or NULL. */
static GstEvent *
make_gap_locked (GstMeteredPadBridge *bridge, GstClockTime now_rt)
{
  GstClockTime start = bridge->position;
  GstClockTime end;
  GstEvent *gap;

  if (!bridge->segment_sent || !GST_CLOCK_TIME_IS_VALID (now_rt) ||
      now_rt <= bridge->latency)
    return NULL;
  end = now_rt - bridge->latency;
  if (!GST_CLOCK_TIME_IS_VALID (start))
    start = floor_time (bridge);
  if (!GST_CLOCK_TIME_IS_VALID (start))
    start = 0;
  if (end <= start)
    return NULL;
  gap = gst_event_new_gap (start, end - start);
  bridge->gap_end = end;
  bridge->position = end;
  bridge->discont_next = TRUE;
  bridge->gap_sent = TRUE;
  bridge->stats.gaps++;
  GST_DEBUG_OBJECT (bridge, "gap %" GST_TIME_FORMAT " - %" GST_TIME_FORMAT,
      GST_TIME_ARGS (start), GST_TIME_ARGS (end));
  return gap;
}

static void
push_eos (GstMeteredPadBridge *bridge)
{
  GstMeteredPadBridgeFunc func;
  gpointer data;

  push_sticky_start (bridge, NULL);
  GST_INFO_OBJECT (bridge, "EOS");
  gst_pad_push_event (bridge->srcpad, gst_event_new_eos ());
  gst_pad_pause_task (bridge->srcpad);
  GST_OBJECT_LOCK (bridge);
  func = bridge->eos_func;
  data = bridge->eos_data;
  GST_OBJECT_UNLOCK (bridge);
  if (func)
    func (bridge, data);
}

static void
bridge_loop (gpointer user_data)
{
  GstMeteredPadBridge *bridge = user_data;
  GstEvent *gap = NULL;
  Item *item = NULL;

  GST_METERED_PAD_BRIDGE_LOCK (bridge);
  for (;;) {
    GstClock *clock;
    GstClockID id;
    GstClockReturn res;
    GstClockTime target, now, base;

    if (bridge->flushing)
      goto flushing;
    if ((item = g_queue_pop_head (&bridge->queue)))
      break;
    if (bridge->ending) {
      GST_METERED_PAD_BRIDGE_UNLOCK (bridge);
      push_eos (bridge);
      return;
    }
    clock = bridge->playing && bridge->segment_sent && bridge->gap_timeout
                ? gst_element_get_clock (GST_ELEMENT (bridge))
                : NULL;
    if (!clock) {
      g_cond_wait (&bridge->cond, &bridge->lock);
      continue;
    }
    /* Nothing to push: wake up after gap-timeout for a GAP event. */
    if (!GST_CLOCK_TIME_IS_VALID (bridge->last_activity))
      bridge->last_activity = gst_clock_get_time (clock);
    target = bridge->last_activity + bridge->gap_timeout;
    id = gst_clock_new_single_shot_id (clock, target);
    bridge->clock_id = id;
    GST_METERED_PAD_BRIDGE_UNLOCK (bridge);
    res = gst_clock_id_wait (id, NULL);
    GST_METERED_PAD_BRIDGE_LOCK (bridge);
    bridge->clock_id = NULL;
    gst_clock_id_unref (id);
    if (res == GST_CLOCK_UNSCHEDULED || bridge->flushing || bridge->ending ||
        !g_queue_is_empty (&bridge->queue)) {
      gst_object_unref (clock);
      continue;
    }
    now = gst_clock_get_time (clock);
    gst_object_unref (clock);
    base = gst_element_get_base_time (GST_ELEMENT (bridge));
    bridge->last_activity = MAX (now, target);
    gap = make_gap_locked (bridge, now >= base ? now - base : 0);
    if (gap)
      break;
  }
  GST_METERED_PAD_BRIDGE_UNLOCK (bridge);

  if (gap) {
    gst_pad_push_event (bridge->srcpad, gap);
    return;
  }
  push_item (bridge, item);
  item_free (item);
  return;

flushing:
  GST_METERED_PAD_BRIDGE_UNLOCK (bridge);
  gst_pad_pause_task (bridge->srcpad);
}

static gboolean
src_activate_mode (
    GstPad *pad, GstObject *parent, GstPadMode mode, gboolean active)
{
  GstMeteredPadBridge *bridge = GST_METERED_PAD_BRIDGE (parent);

  if (mode != GST_PAD_MODE_PUSH)
    return FALSE;
  GST_METERED_PAD_BRIDGE_LOCK (bridge);
  bridge->flushing = !active;
  wake_locked (bridge);
  GST_METERED_PAD_BRIDGE_UNLOCK (bridge);
  if (active)
    return gst_pad_start_task (pad, bridge_loop, bridge, NULL);
  return gst_pad_stop_task (pad);
}

static gboolean
src_event (GstPad *pad, GstObject *parent, GstEvent *event)
{
  GstMeteredPadBridge *bridge = GST_METERED_PAD_BRIDGE (parent);
  const GstStructure *s = gst_event_get_structure (event);

  switch (GST_EVENT_TYPE (event)) {
    case GST_EVENT_CUSTOM_UPSTREAM:
      if (s && gst_structure_has_name (s, "GstForceKeyUnit")) {
        GST_METERED_PAD_BRIDGE_LOCK (bridge);
        bridge->stats.key_unit_requests++;
        GST_METERED_PAD_BRIDGE_UNLOCK (bridge);
        request_key_unit (bridge);
      }
      gst_event_unref (event);
      return TRUE;
    case GST_EVENT_LATENCY:
    case GST_EVENT_QOS:
    case GST_EVENT_RECONFIGURE:
    case GST_EVENT_NAVIGATION:
      gst_event_unref (event);
      return TRUE;
    default:
      return gst_pad_event_default (pad, parent, event);
  }
}

static gboolean
src_query (GstPad *pad, GstObject *parent, GstQuery *query)
{
  GstMeteredPadBridge *bridge = GST_METERED_PAD_BRIDGE (parent);

  switch (GST_QUERY_TYPE (query)) {
    case GST_QUERY_LATENCY: {
      GstClockTime latency;

      /* Live; buffers reach us about `latency` after their timestamp. */
      GST_METERED_PAD_BRIDGE_LOCK (bridge);
      latency = bridge->latency;
      GST_METERED_PAD_BRIDGE_UNLOCK (bridge);
      gst_query_set_latency (query, TRUE, latency, GST_CLOCK_TIME_NONE);
      return TRUE;
    }
    case GST_QUERY_CAPS: {
      GstCaps *filter, *caps;

      gst_query_parse_caps (query, &filter);
      caps = gst_pad_get_current_caps (pad);
      if (!caps)
        caps = gst_pad_get_pad_template_caps (pad);
      if (filter) {
        GstCaps *tmp =
            gst_caps_intersect_full (filter, caps, GST_CAPS_INTERSECT_FIRST);
        gst_caps_unref (caps);
        caps = tmp;
      }
      gst_query_set_caps_result (query, caps);
      gst_caps_unref (caps);
      return TRUE;
    }
    default:
      return gst_pad_query_default (pad, parent, query);
  }
}

/* --- element --- */

static void
reset_output (GstMeteredPadBridge *bridge)
{
  GST_METERED_PAD_BRIDGE_LOCK (bridge);
  g_queue_clear_full (&bridge->queue, (GDestroyNotify) item_free);
  bridge->ending = FALSE;
  bridge->need_key_unit = TRUE;
  bridge->pending_new_source = FALSE;
  bridge->pending_discont = FALSE;
  bridge->gap_sent = FALSE;
  bridge->last_key_request_us = 0;
  GST_METERED_PAD_BRIDGE_UNLOCK (bridge);
  bridge->stream_started = FALSE;
  bridge->segment_sent = FALSE;
  gst_clear_caps (&bridge->out_caps);
  bridge->last_pts = GST_CLOCK_TIME_NONE;
  bridge->last_dts = GST_CLOCK_TIME_NONE;
  bridge->gap_end = GST_CLOCK_TIME_NONE;
  bridge->position = GST_CLOCK_TIME_NONE;
  bridge->offset = 0;
  bridge->discont_next = FALSE;
  bridge->last_activity = GST_CLOCK_TIME_NONE;
}

static GstStateChangeReturn
change_state (GstElement *element, GstStateChange transition)
{
  GstMeteredPadBridge *bridge = GST_METERED_PAD_BRIDGE (element);
  GstStateChangeReturn ret;

  switch (transition) {
    case GST_STATE_CHANGE_PAUSED_TO_PLAYING:
      GST_METERED_PAD_BRIDGE_LOCK (bridge);
      bridge->playing = TRUE;
      wake_locked (bridge);
      GST_METERED_PAD_BRIDGE_UNLOCK (bridge);
      break;
    case GST_STATE_CHANGE_PLAYING_TO_PAUSED:
      GST_METERED_PAD_BRIDGE_LOCK (bridge);
      bridge->playing = FALSE;
      wake_locked (bridge);
      GST_METERED_PAD_BRIDGE_UNLOCK (bridge);
      break;
    default:
      break;
  }

  ret = GST_ELEMENT_CLASS (gst_metered_pad_bridge_parent_class)
            ->change_state (element, transition);
  if (ret == GST_STATE_CHANGE_FAILURE)
    return ret;

  switch (transition) {
    case GST_STATE_CHANGE_READY_TO_PAUSED:
    case GST_STATE_CHANGE_PLAYING_TO_PAUSED:
      ret = GST_STATE_CHANGE_NO_PREROLL; /* a live source */
      break;
    case GST_STATE_CHANGE_PAUSED_TO_READY:
      reset_output (bridge);
      break;
    default:
      break;
  }
  return ret;
}

static gboolean
send_event (GstElement *element, GstEvent *event)
{
  GstMeteredPadBridge *bridge = GST_METERED_PAD_BRIDGE (element);

  if (GST_EVENT_TYPE (event) == GST_EVENT_EOS) {
    gst_metered_pad_bridge_end (bridge);
    gst_event_unref (event);
    return TRUE;
  }
  return GST_ELEMENT_CLASS (gst_metered_pad_bridge_parent_class)
      ->send_event (element, event);
}

static void
set_property (
    GObject *object, guint prop_id, const GValue *value, GParamSpec *pspec)
{
  GstMeteredPadBridge *bridge = GST_METERED_PAD_BRIDGE (object);

  GST_METERED_PAD_BRIDGE_LOCK (bridge);
  switch (prop_id) {
    case PROP_GAP_TIMEOUT:
      bridge->gap_timeout = g_value_get_uint64 (value);
      wake_locked (bridge);
      break;
    case PROP_LATENCY:
      bridge->latency = g_value_get_uint64 (value);
      break;
    case PROP_MAX_BUFFERS:
      bridge->max_buffers = g_value_get_uint (value);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
  }
  GST_METERED_PAD_BRIDGE_UNLOCK (bridge);
}

static void
get_property (GObject *object, guint prop_id, GValue *value, GParamSpec *pspec)
{
  GstMeteredPadBridge *bridge = GST_METERED_PAD_BRIDGE (object);

  GST_METERED_PAD_BRIDGE_LOCK (bridge);
  switch (prop_id) {
    case PROP_GAP_TIMEOUT:
      g_value_set_uint64 (value, bridge->gap_timeout);
      break;
    case PROP_LATENCY:
      g_value_set_uint64 (value, bridge->latency);
      break;
    case PROP_MAX_BUFFERS:
      g_value_set_uint (value, bridge->max_buffers);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
  }
  GST_METERED_PAD_BRIDGE_UNLOCK (bridge);
}

static void
finalize (GObject *object)
{
  GstMeteredPadBridge *bridge = GST_METERED_PAD_BRIDGE (object);

  if (bridge->key_unit_destroy)
    bridge->key_unit_destroy (bridge->key_unit_data);
  if (bridge->eos_destroy)
    bridge->eos_destroy (bridge->eos_data);
  g_queue_clear_full (&bridge->queue, (GDestroyNotify) item_free);
  gst_clear_caps (&bridge->out_caps);
  g_mutex_clear (&bridge->lock);
  g_cond_clear (&bridge->cond);
  G_OBJECT_CLASS (gst_metered_pad_bridge_parent_class)->finalize (object);
}

static void
gst_metered_pad_bridge_class_init (GstMeteredPadBridgeClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GstElementClass *element_class = GST_ELEMENT_CLASS (klass);

  object_class->set_property = set_property;
  object_class->get_property = get_property;
  object_class->finalize = finalize;
  element_class->change_state = change_state;
  element_class->send_event = send_event;

  g_object_class_install_property (object_class, PROP_GAP_TIMEOUT,
      g_param_spec_uint64 ("gap-timeout", "GAP timeout",
          "Without data for this long (ns), send GAP events, again every "
          "gap-timeout (0: never)",
          0, G_MAXUINT64, DEFAULT_GAP_TIMEOUT,
          G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS));
  g_object_class_install_property (object_class, PROP_LATENCY,
      g_param_spec_uint64 ("latency", "Latency",
          "How long after their timestamp buffers reach us (ns): the "
          "minimum latency reported, and how far GAP events stay behind "
          "the clock",
          0, G_MAXUINT64, DEFAULT_LATENCY,
          G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS));
  g_object_class_install_property (object_class, PROP_MAX_BUFFERS,
      g_param_spec_uint ("max-buffers", "Maximum buffers",
          "Buffers queued before the oldest are dropped", 1, G_MAXUINT,
          DEFAULT_MAX_BUFFERS, G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS));

  gst_element_class_add_static_pad_template (element_class, &src_template);
  gst_element_class_set_static_metadata (element_class, "Metered pad bridge",
      "Source/Network", "One src pad fed by successive sources",
      "gst-metered authors");

  GST_DEBUG_CATEGORY_INIT (metered_pad_bridge_debug, "meteredpadbridge", 0,
      "Metered pad bridge (src pads that outlive connections)");
}

static void
gst_metered_pad_bridge_init (GstMeteredPadBridge *bridge)
{
  g_mutex_init (&bridge->lock);
  g_cond_init (&bridge->cond);
  g_queue_init (&bridge->queue);
  bridge->gap_timeout = DEFAULT_GAP_TIMEOUT;
  bridge->latency = DEFAULT_LATENCY;
  bridge->max_buffers = DEFAULT_MAX_BUFFERS;
  bridge->srcpad = gst_pad_new_from_static_template (&src_template, "src");
  gst_pad_set_activatemode_function (bridge->srcpad, src_activate_mode);
  gst_pad_set_event_function (bridge->srcpad, src_event);
  gst_pad_set_query_function (bridge->srcpad, src_query);
  gst_element_add_pad (GST_ELEMENT (bridge), bridge->srcpad);
  GST_OBJECT_FLAG_SET (bridge, GST_ELEMENT_FLAG_SOURCE);
  reset_output (bridge);
}

GstMeteredPadBridge *
gst_metered_pad_bridge_new (const char *name)
{
  return g_object_new (GST_TYPE_METERED_PAD_BRIDGE, "name", name, NULL);
}

void
gst_metered_pad_bridge_set_key_unit_func (GstMeteredPadBridge *bridge,
    GstMeteredPadBridgeFunc func, gpointer user_data, GDestroyNotify destroy)
{
  GDestroyNotify old_destroy;
  gpointer old_data;

  GST_OBJECT_LOCK (bridge);
  old_destroy = bridge->key_unit_destroy;
  old_data = bridge->key_unit_data;
  bridge->key_unit_func = func;
  bridge->key_unit_data = user_data;
  bridge->key_unit_destroy = destroy;
  GST_OBJECT_UNLOCK (bridge);
  if (old_destroy)
    old_destroy (old_data);
}

void
gst_metered_pad_bridge_set_eos_func (GstMeteredPadBridge *bridge,
    GstMeteredPadBridgeFunc func, gpointer user_data, GDestroyNotify destroy)
{
  GDestroyNotify old_destroy;
  gpointer old_data;

  GST_OBJECT_LOCK (bridge);
  old_destroy = bridge->eos_destroy;
  old_data = bridge->eos_data;
  bridge->eos_func = func;
  bridge->eos_data = user_data;
  bridge->eos_destroy = destroy;
  GST_OBJECT_UNLOCK (bridge);
  if (old_destroy)
    old_destroy (old_data);
}

GstStructure *
gst_metered_pad_bridge_get_stats (GstMeteredPadBridge *bridge)
{
  Stats s;
  gboolean has_source;

  GST_METERED_PAD_BRIDGE_LOCK (bridge);
  s = bridge->stats;
  has_source = bridge->has_source;
  GST_METERED_PAD_BRIDGE_UNLOCK (bridge);
  return gst_structure_new ("metered/pad-bridge", "buffers-in", G_TYPE_UINT64,
      s.buffers_in, "buffers-out", G_TYPE_UINT64, s.buffers_out,
      "dropped-delta", G_TYPE_UINT64, s.dropped_delta, "dropped-overflow",
      G_TYPE_UINT64, s.dropped_overflow, "gaps", G_TYPE_UINT64, s.gaps,
      "discont", G_TYPE_UINT64, s.discont, "sources", G_TYPE_UINT64, s.sources,
      "key-unit-requests", G_TYPE_UINT64, s.key_unit_requests, "clamped",
      G_TYPE_UINT64, s.clamped, "caps-changes", G_TYPE_UINT64, s.caps_changes,
      "losses", G_TYPE_UINT64, s.losses, "has-source", G_TYPE_BOOLEAN,
      has_source, NULL);
}
