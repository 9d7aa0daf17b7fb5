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

#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "gstmeteredsinkrate.h"

#include "peer/metered-codec.h"
#include "peer/metered-twcc.h"

#include <gst/webrtc/webrtc.h>
#include <string.h>

GST_DEBUG_CATEGORY_EXTERN (metered_runtime_debug);
#define GST_CAT_DEFAULT metered_runtime_debug

/* Lowest target the policy sets: below it VP8 at 640x360 is a smear, and
 * a viewer that cannot take it is better served by fewer frames. */
#define MIN_TARGET_BPS 150000
/* RFC 3550's fraction lost is in 1/256. */
#define FRACTION_SCALE 256.0
/* Round trip above the viewer's lowest, in ms, that means a queue is
 * building at its bottleneck. Without TWCC the estimator's delay part is
 * blind, and a drop-tail queue only loses once it is full (a second of
 * freezes at 1 Mbit/s behind a 100 ms queue), so the round trip of the
 * receiver reports stands in: a growing queue holds the rate like 2-10 %
 * loss would, a long one cuts it like 20 % loss. Above the jitter of the
 * loss5-rtt200 profile (0-10 ms each way). */
#define QUEUE_HOLD_MS 25
#define QUEUE_CUT_MS 60
/* The lowest round trip is forgotten at this many ms per round, so that a
 * route that got longer is not taken for a queue for ever. */
#define MIN_RTT_DRIFT_MS 0.5

static const MeteredOpusLossConfig opus_loss_config =
    METERED_OPUS_LOSS_CONFIG_DEFAULT;

typedef struct
{
  char *peer_id;
  guint id;
  MeteredRateEstimator estimator;
  /* TWCC feedback messages fed to it, for stats. */
  guint64 twcc_feedback;
  /* The report last fed: a report is fed once, however many rounds read
   * it (a cut per round would halve the rate for one lossy second). */
  guint32 last_rb_seq;
  gboolean have_rb;
  double fraction_lost;
  /* Smoothed, for the shared Opus encoder's FEC (metered-opus-loss.h). */
  MeteredLossAverage audio_loss;
  guint rtt_ms;
  double min_rtt_ms; /* < 0: none yet */
  MeteredRateDecision decision;
  /* What its gate is set to from the decision. */
  MeteredLayerCap cap;
  /* What it is sent while held below the top layer, else 0. */
  guint64 held_bps;
  gboolean seen; /* in the round being run */
} Viewer;

struct _GstMeteredSinkRate
{
  GPtrArray *viewers; /* Viewer* */
  guint next_id;
  MeteredRatePolicy policy;
  guint64 target_bps;
};

/* The policy for n_layers temporal layers, with the encoder's per-layer
 * shares (metered-codec.h): without layers a starved viewer is sent key
 * frames only (guarded, metered-layer-cap.h), with them fewer layers. */
static void
policy_init (MeteredRatePolicy *policy, guint n_layers)
{
  MeteredRatePolicyConfig config = METERED_RATE_POLICY_CONFIG_DEFAULT;
  const MeteredTemporalPattern *pattern =
      metered_codec_temporal_pattern (n_layers);

  config.n_layers = pattern ? pattern->n_layers : 1;
  for (guint i = 0; i < config.n_layers; i++)
    config.layer_share[i] = pattern ? pattern->share[i] : 1.0;
  /* Only layers are probed (the estimates of held viewers are capped,
   * see viewer_configure ()). */
  if (config.n_layers == 1)
    config.probe_above = 0;
  config.min_bps = MIN_TARGET_BPS;
  metered_rate_policy_init (policy, &config);
}

static void
viewer_free (Viewer *v)
{
  g_free (v->peer_id);
  g_free (v);
}

GstMeteredSinkRate *
gst_metered_sink_rate_new (void)
{
  GstMeteredSinkRate *rate = g_new0 (GstMeteredSinkRate, 1);

  rate->viewers = g_ptr_array_new_with_free_func ((GDestroyNotify) viewer_free);
  rate->next_id = 1;
  policy_init (&rate->policy, 1);
  return rate;
}

void
gst_metered_sink_rate_free (GstMeteredSinkRate *rate)
{
  if (!rate)
    return;
  metered_rate_policy_clear (&rate->policy);
  g_ptr_array_unref (rate->viewers);
  g_free (rate);
}

static Viewer *
lookup (GstMeteredSinkRate *rate, const char *peer_id)
{
  for (guint i = 0; i < rate->viewers->len; i++) {
    Viewer *v = g_ptr_array_index (rate->viewers, i);
    if (g_str_equal (v->peer_id, peer_id))
      return v;
  }
  return NULL;
}

static Viewer *
lookup_or_add (GstMeteredSinkRate *rate, const char *peer_id)
{
  Viewer *v = lookup (rate, peer_id);

  if (v)
    return v;
  MeteredLayerCapConfig cap = METERED_LAYER_CAP_CONFIG_DEFAULT;

  v = g_new0 (Viewer, 1);
  metered_layer_cap_init (&v->cap, &cap);
  v->peer_id = g_strdup (peer_id);
  v->id = rate->next_id++;
  v->min_rtt_ms = -1;
  g_ptr_array_add (rate->viewers, v);
  return v;
}

guint
gst_metered_sink_rate_viewer_id (GstMeteredSinkRate *rate, const char *peer_id)
{
  return lookup_or_add (rate, peer_id)->id;
}

void
gst_metered_sink_rate_remove_viewer (
    GstMeteredSinkRate *rate, const char *peer_id)
{
  Viewer *v = lookup (rate, peer_id);

  if (v)
    g_ptr_array_remove_fast (rate->viewers, v);
}

/* The estimator starts at the ceiling's worth of estimate: a viewer is
 * assumed able to take the configured rate until its reports say not,
 * as before rate control, so a clean link sees no ramp-up. */
/*
 * A viewer held below the top layer: RR-only, its estimate grows on clean
 * reports whatever it is sent, so it rose past the next layer's rate
 * every few seconds, the policy sent it that layer, its link dropped it,
 * and with two viewers it counted in the target and dragged the other
 * down. The policy expects what TWCC would give: an estimate capped by
 * what the receiver got (metered-rate-policy.h, about 1.5 × what it is
 * sent), and probes a layer up itself (backing off when a probe fails).
 */
static void
viewer_configure (Viewer *v, guint64 ceiling_bps, double headroom)
{
  MeteredRateEstimatorConfig config = METERED_RATE_ESTIMATOR_CONFIG_DEFAULT;
  guint64 top = (guint64) (ceiling_bps / headroom) + 1;

  /* growth stops there; what was learnt is never cut by it (the target,
   * and so what a held viewer is sent, may fall for others' sake) */
  if (v->held_bps > 0 && v->estimator.config.max_bps > 0)
    top = MIN (top, MAX (MAX (v->held_bps * 3 / 2, MIN_TARGET_BPS),
                        metered_rate_estimator_get_bps (&v->estimator)));
  if (v->estimator.config.max_bps == top)
    return;
  if (v->estimator.config.max_bps == 0) {
    config.start_bps = config.max_bps = top;
    config.min_bps = MIN (config.min_bps, top);
    metered_rate_estimator_init (&v->estimator, &config);
  } else {
    /* the ceiling moved: keep what was learnt */
    v->estimator.config.max_bps = top;
    v->estimator.config.min_bps = MIN (v->estimator.config.min_bps, top);
  }
}

static void
viewer_feed (Viewer *v, GVariant *stats, gint64 now_us)
{
  guint32 fraction, rtt_ms, seq = 0;
  gboolean have_seq;
  double loss, queue_ms = 0;

  if (!g_variant_lookup (stats, "fraction-lost", "u", &fraction))
    return;
  have_seq = g_variant_lookup (stats, "rb-exthighestseq", "u", &seq);
  if (g_variant_lookup (stats, "round-trip-ms", "u", &rtt_ms) && rtt_ms > 0) {
    v->rtt_ms = rtt_ms;
    metered_rate_estimator_set_rtt (
        &v->estimator, (gint64) rtt_ms * G_TIME_SPAN_MILLISECOND);
    if (v->min_rtt_ms < 0 || rtt_ms < v->min_rtt_ms)
      v->min_rtt_ms = rtt_ms;
    queue_ms = rtt_ms - v->min_rtt_ms;
    v->min_rtt_ms += MIN_RTT_DRIFT_MS;
  }
  if (v->have_rb && have_seq && seq == v->last_rb_seq)
    return;
  v->have_rb = TRUE;
  v->last_rb_seq = seq;
  v->fraction_lost = fraction / FRACTION_SCALE;
  metered_loss_average_feed (
      &v->audio_loss, &opus_loss_config, v->fraction_lost);
  loss = v->fraction_lost;
  if (queue_ms > QUEUE_CUT_MS)
    loss = MAX (loss, 0.2);
  else if (queue_ms > QUEUE_HOLD_MS)
    loss = MAX (loss, 0.05);
  GST_DEBUG ("viewer %s: lost %.3f, rtt %u ms (queue %.0f ms): as %.3f",
      v->peer_id, v->fraction_lost, v->rtt_ms, queue_ms, loss);
  metered_layer_cap_on_report (&v->cap, v->fraction_lost);
  metered_rate_estimator_on_receiver_report (&v->estimator, loss, now_us);
}

/* The viewer's TWCC feedback since the last round, in the order it came:
 * the estimator's delay and loss parts both run on it, and it ignores
 * the receiver reports (viewer_feed) while it comes. */
static void
viewer_feed_twcc (Viewer *v, MeteredTwccTake *take)
{
  if (!take || !take->feedback)
    return;
  for (guint i = 0; i < take->feedback->len; i++) {
    MeteredTwccFeedback *f = g_ptr_array_index (take->feedback, i);
    metered_rate_estimator_on_feedback (&v->estimator,
        (const MeteredRatePacket *) f->packets->data, f->packets->len,
        f->now_us);
    v->twcc_feedback++;
  }
  if (take->feedback->len > 0)
    GST_DEBUG ("viewer %s: %u TWCC messages, delay part %" G_GUINT64_FORMAT
               " bit/s, loss part %" G_GUINT64_FORMAT " bit/s",
        v->peer_id, take->feedback->len,
        metered_rate_estimator_get_delay_bps (&v->estimator),
        metered_rate_estimator_get_loss_bps (&v->estimator));
}

guint
gst_metered_sink_rate_get_opus_loss (GstMeteredSinkRate *rate)
{
  g_autofree MeteredLossAverage *seen =
      g_new0 (MeteredLossAverage, MAX (rate->viewers->len, 1));
  guint n = 0;

  for (guint i = 0; i < rate->viewers->len; i++) {
    Viewer *v = g_ptr_array_index (rate->viewers, i);
    if (v->seen)
      seen[n++] = v->audio_loss;
  }
  return metered_opus_loss_percent (&opus_loss_config, seen, n);
}

gboolean
gst_metered_sink_rate_update (GstMeteredSinkRate *rate, GVariant *peers,
    GHashTable *twcc, guint max_bps, guint n_layers, gint64 now_us,
    guint64 *target_bps, gboolean *big_change)
{
  g_autofree MeteredRateViewer *in = NULL;
  g_autofree MeteredRateDecision *out = NULL;
  MeteredRatePolicyResult result;
  GVariantIter iter;
  GVariant *stats;
  const char *id;
  guint n = 0;

  if (rate->policy.config.n_layers != MAX (n_layers, 1) &&
      (n_layers <= 1 || metered_codec_temporal_pattern (n_layers))) {
    /* a new chain: its viewers start afresh */
    metered_rate_policy_clear (&rate->policy);
    policy_init (&rate->policy, n_layers);
    rate->target_bps = 0;
  }
  rate->policy.config.max_bps = max_bps;
  rate->policy.config.min_bps = MIN (MIN_TARGET_BPS, max_bps);
  if (!peers) {
    /* A TWCC round: the viewers of the last full round, their feedback
     * only (the reports and connection states come with the next). */
    for (guint i = 0; i < rate->viewers->len; i++) {
      Viewer *v = g_ptr_array_index (rate->viewers, i);
      if (v->seen)
        viewer_feed_twcc (
            v, twcc ? g_hash_table_lookup (twcc, v->peer_id) : NULL);
    }
    goto decide;
  }
  for (guint i = 0; i < rate->viewers->len; i++)
    ((Viewer *) g_ptr_array_index (rate->viewers, i))->seen = FALSE;
  /* Viewers are the peers with a connection up; the others get nothing. */
  g_variant_iter_init (&iter, peers);
  while (g_variant_iter_next (&iter, "{&s@a{sv}}", &id, &stats)) {
    gint32 state = 0;
    if (g_variant_lookup (stats, "connection-state", "i", &state) &&
        state == GST_WEBRTC_PEER_CONNECTION_STATE_CONNECTED) {
      Viewer *v = lookup_or_add (rate, id);
      v->seen = TRUE;
      viewer_configure (v, max_bps, rate->policy.config.headroom);
      viewer_feed_twcc (v, twcc ? g_hash_table_lookup (twcc, id) : NULL);
      viewer_feed (v, stats, now_us);
    }
    g_variant_unref (stats);
  }
decide:
  in = g_new0 (MeteredRateViewer, MAX (rate->viewers->len, 1));
  out = g_new0 (MeteredRateDecision, MAX (rate->viewers->len, 1));
  for (guint i = 0; i < rate->viewers->len; i++) {
    Viewer *v = g_ptr_array_index (rate->viewers, i);
    if (!v->seen)
      continue;
    in[n].id = v->id;
    /* a cap set this round applies from the next report on */
    in[n].estimate_bps = MIN (metered_rate_estimator_get_bps (&v->estimator),
        v->estimator.config.max_bps);
    n++;
  }
  metered_rate_policy_update (&rate->policy, in, n, out, &result, now_us);
  for (guint i = 0, k = 0; i < rate->viewers->len; i++) {
    Viewer *v = g_ptr_array_index (rate->viewers, i);
    if (!v->seen)
      continue;
    v->decision = out[k++];
    v->held_bps = v->decision.layer_cap + 1 < rate->policy.config.n_layers &&
                          !v->decision.keyframes_only
                      ? v->decision.send_bps
                      : 0;
    if (metered_layer_cap_decide (&v->cap, rate->policy.config.n_layers,
            v->decision.layer_cap, v->decision.keyframes_only))
      GST_INFO ("viewer %s: layer %u%s (policy: layer %u%s)", v->peer_id,
          v->cap.cap, v->cap.keyframes_only ? ", key frames only" : "",
          v->decision.layer_cap,
          v->decision.keyframes_only ? ", key frames only" : "");
  }
  *big_change = result.big_change;
  *target_bps = result.target_bps;
  if (result.target_bps == rate->target_bps)
    return FALSE;
  rate->target_bps = result.target_bps;
  return TRUE;
}

static void
viewer_cap_clear (GstMeteredSinkViewerCap *cap)
{
  g_free (cap->peer_id);
}

GArray *
gst_metered_sink_rate_dup_caps (GstMeteredSinkRate *rate)
{
  GArray *caps = g_array_new (FALSE, FALSE, sizeof (GstMeteredSinkViewerCap));

  g_array_set_clear_func (caps, (GDestroyNotify) viewer_cap_clear);
  for (guint i = 0; i < rate->viewers->len; i++) {
    Viewer *v = g_ptr_array_index (rate->viewers, i);
    GstMeteredSinkViewerCap cap;

    if (!v->seen || v->cap.cap == G_MAXUINT)
      continue;
    cap.peer_id = g_strdup (v->peer_id);
    cap.cap = v->cap.cap;
    cap.keyframes_only = v->cap.keyframes_only;
    g_array_append_val (caps, cap);
  }
  return caps;
}

guint64
gst_metered_sink_rate_get_target (GstMeteredSinkRate *rate)
{
  return rate->target_bps;
}

void
gst_metered_sink_rate_take_stats (GstMeteredSinkRate *rate, GValue *list)
{
  g_value_init (list, GST_TYPE_LIST);
  for (guint i = 0; i < rate->viewers->len; i++) {
    Viewer *v = g_ptr_array_index (rate->viewers, i);
    GValue s = G_VALUE_INIT;

    if (!v->seen)
      continue;
    g_value_init (&s, GST_TYPE_STRUCTURE);
    g_value_take_boxed (&s,
        gst_structure_new ("metered/viewer-rate", "peer-id", G_TYPE_STRING,
            v->peer_id, "estimate-bps", G_TYPE_UINT64,
            metered_rate_estimator_get_bps (&v->estimator), "layer",
            G_TYPE_UINT, v->cap.cap == G_MAXUINT ? 0 : v->cap.cap,
            "keyframes-only", G_TYPE_BOOLEAN, v->cap.keyframes_only, "excluded",
            G_TYPE_BOOLEAN, v->decision.excluded, "fraction-lost", G_TYPE_UINT,
            (guint) (v->fraction_lost * FRACTION_SCALE + 0.5), "round-trip-ms",
            G_TYPE_UINT, v->rtt_ms, "twcc-feedback", G_TYPE_UINT64,
            v->twcc_feedback, NULL));
    gst_value_list_append_and_take_value (list, &s);
  }
}
