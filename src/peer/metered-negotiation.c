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
 * The negotiation half of MeteredConnection (the media half is
 * metered-connection.c; the fields both share are in
 * metered-connection-private.h): the SDK's perfect negotiation over its
 * rtc-description / rtc-ice payloads (protocol doc §8).
 *
 *   offer:   on-negotiation-needed -> create-offer -> msid munge ->
 *            set-local-description -> ::outgoing, then the candidates
 *            queued meanwhile
 *   answer:  remote offer -> set-remote-description -> queued remote
 *            candidates -> create-answer -> set-local-description ->
 *            ::outgoing
 *
 * webrtcbin 1.22 cannot roll back: where the spec's polite peer would,
 * we ask the owner for a fresh connection (METERED_SIGNAL_SWAP).
 * Promise callbacks run on webrtcbin's threads and post to the context;
 * all negotiation state is read and written there.
 */

#include "peer/metered-connection-private.h"

#include "peer/metered-ice-restart.h"
#include "peer/metered-sdp.h"
#include "protocol/metered-protocol.h"

#include <gst/sdp/sdp.h>
#include <gst/webrtc/webrtc.h>
#include <json-glib/json-glib.h>

#define GST_CAT_DEFAULT metered_peer_debug

/* --- outgoing payloads --- */

/* After an ICE restart libnice gathers nothing: the candidates it has
 * are announced again, after the description with the new credentials
 * (a browser drops a candidate it cannot match to a description). Sent
 * without a ufrag, the remote takes them for its current generation. */
static void
announce_local_candidates (MeteredConnection *conn)
{
  g_autoptr (GPtrArray) cands =
      metered_ice_restart_local_candidates (conn->webrtc);
  char *payload;

  conn->ice_announce_pending = FALSE;
  GST_INFO_OBJECT (
      conn, "announcing %u candidates again after an ICE restart", cands->len);
  /* max-bundle: every candidate belongs to the bundle's first m-line */
  for (guint i = 0; i < cands->len; i++) {
    payload =
        metered_peer_payload_build_candidate (0, g_ptr_array_index (cands, i));
    metered_connection_emit_outgoing (conn, payload);
    g_free (payload);
  }
  payload = metered_peer_payload_build_candidate (0, NULL);
  metered_connection_emit_outgoing (conn, payload);
  g_free (payload);
}

/* A local description webrtcbin applied, on its way out. */
static void
send_description (MeteredConnection *conn, const char *payload, gboolean offer)
{
  char *candidate;

  metered_connection_emit_outgoing (conn, payload);
  /* The SDK does not buffer early candidates: the description must be
   * out before any of its candidates (protocol doc §8.2). */
  conn->local_description_sent = TRUE;
  while ((candidate = g_queue_pop_head (&conn->pending_local_candidates))) {
    metered_connection_emit_outgoing (conn, candidate);
    g_free (candidate);
  }
  if (conn->ice_announce_pending)
    announce_local_candidates (conn);

  /* Answer first, then offer our tracks on m-lines of their own: a
   * browser names the receiver track of an m-line it offered itself at
   * random, so metadata keyed by our track id would never match there. */
  if (conn->answer_first && !conn->send_added && !offer) {
    g_autoptr (GError) error = NULL;
    if (!metered_connection_add_send_branches (conn, &error))
      GST_ERROR_OBJECT (conn, "cannot add our tracks: %s", error->message);
  }
}

static void
send_offer_on_context (MeteredConnection *conn, gpointer payload)
{
  if (conn->webrtc)
    metered_ice_restart_hold (conn->webrtc);
  send_description (conn, payload, TRUE);
}

static void
send_answer_on_context (MeteredConnection *conn, gpointer payload)
{
  send_description (conn, payload, FALSE);
}

typedef struct
{
  guint mline;
  char *candidate; /* NULL: end of candidates */
} LocalCandidate;

static void
local_candidate_free (gpointer data)
{
  LocalCandidate *c = data;

  g_free (c->candidate);
  g_free (c);
}

static void
send_candidate_on_context (MeteredConnection *conn, gpointer data)
{
  LocalCandidate *c = data;
  char *payload = metered_peer_payload_build_candidate (c->mline, c->candidate);

  if (conn->local_description_sent) {
    metered_connection_emit_outgoing (conn, payload);
    g_free (payload);
  } else {
    g_queue_push_tail (&conn->pending_local_candidates, payload);
  }
}

static void
on_ice_candidate (GstElement *webrtc, guint mline, const char *candidate,
    MeteredConnection *conn)
{
  LocalCandidate *c = g_new0 (LocalCandidate, 1);

  c->mline = mline;
  c->candidate = g_strdup (candidate);
  metered_connection_invoke (
      conn, send_candidate_on_context, c, local_candidate_free);
}

static void
on_gathering_state (
    GstElement *webrtc, GParamSpec *pspec, MeteredConnection *conn)
{
  GstWebRTCICEGatheringState state;

  g_object_get (webrtc, "ice-gathering-state", &state, NULL);
  /* webrtcbin 1.22 sends no end-of-candidates of its own. */
  if (state == GST_WEBRTC_ICE_GATHERING_STATE_COMPLETE)
    metered_connection_invoke (conn, send_candidate_on_context,
        g_new0 (LocalCandidate, 1), local_candidate_free);
}

/* --- local descriptions --- */

/* Adds a=msid:<stream> <track> to every m-line that carries one of our
 * tracks, so the browser's stream-added fires with our track ids. */
static char *
munge_msid (MeteredConnection *conn, const char *sdp)
{
  g_autoptr (GArray) sending = metered_sdp_sending_mlines (sdp);
  g_autoptr (GPtrArray) send = g_ptr_array_new ();
  char *text = g_strdup (sdp);

  /* A branch, once added, lives as long as the connection: the SDP is
   * rewritten outside the lock. */
  METERED_CONNECTION_LOCK (conn);
  for (guint i = 0; i < conn->send->len; i++)
    g_ptr_array_add (send, g_ptr_array_index (conn->send, i));
  METERED_CONNECTION_UNLOCK (conn);
  /* Our send transceivers are the only ones that send, created in track
   * order: the i-th sending m-line carries the i-th track. */
  for (guint i = 0; i < send->len && i < sending->len; i++) {
    SendBranch *b = g_ptr_array_index (send, i);
    char *next = metered_sdp_set_msid (text, g_array_index (sending, guint, i),
        b->track->stream_id, b->track->track_id);
    if (next) {
      g_free (text);
      text = next;
    }
  }
  return text;
}

typedef struct
{
  MeteredConnection *conn;
  GstElement *webrtc; /* the connection may be stopped meanwhile */
  guint generation;
  GstWebRTCSDPType type;
  gboolean ice_restarted; /* conn->ice_restarted when it was asked for */
} DescriptionJob;

static void
description_job_free (DescriptionJob *job)
{
  gst_object_unref (job->webrtc);
  gst_object_unref (job->conn);
  g_free (job);
}

/* webrtcbin 1.22 holds a reference of its own on our promises and drops
 * it without a reply when it closes first. We keep ours until a promise
 * changes, or until the teardown interrupts it (a pending promise must
 * not be freed). */
static GstPromise *
track_promise (MeteredConnection *conn, GstPromise *promise)
{
  METERED_CONNECTION_LOCK (conn);
  g_ptr_array_add (conn->promises, gst_promise_ref (promise));
  METERED_CONNECTION_UNLOCK (conn);
  return promise;
}

/* In a change func: FALSE if promise was interrupted rather than
 * replied. */
static gboolean
untrack_promise (MeteredConnection *conn, GstPromise *promise)
{
  gboolean tracked;

  METERED_CONNECTION_LOCK (conn);
  tracked = g_ptr_array_remove_fast (conn->promises, promise);
  METERED_CONNECTION_UNLOCK (conn);
  if (tracked)
    gst_promise_unref (promise); /* the caller holds one */
  /* not pending any more: returns at once */
  return gst_promise_wait (promise) == GST_PROMISE_RESULT_REPLIED;
}

void
metered_negotiation_interrupt_promises (MeteredConnection *conn)
{
  GPtrArray *promises;

  METERED_CONNECTION_LOCK (conn);
  promises = conn->promises;
  conn->promises = g_ptr_array_new ();
  METERED_CONNECTION_UNLOCK (conn);
  for (guint i = 0; i < promises->len; i++) {
    gst_promise_interrupt (g_ptr_array_index (promises, i));
    gst_promise_unref (g_ptr_array_index (promises, i));
  }
  g_ptr_array_unref (promises);
}

static void finish_offer_on_context (MeteredConnection *conn, gpointer data);

/* A local description on its way into webrtcbin, and its payload. */
typedef struct
{
  MeteredConnection *conn;
  char *payload;
  gboolean offer;
} LocalJob;

static void
local_job_free (LocalJob *job)
{
  gst_object_unref (job->conn);
  g_free (job->payload);
  g_free (job);
}

/* The description leaves only once webrtcbin applied it: an answer that
 * came back before would find webrtcbin still stable and be dropped.
 * (Candidates wait for it in pending_local_candidates.) */
static void
on_local_description_set (GstPromise *promise, gpointer data)
{
  LocalJob *job = data;
  MeteredConnection *conn = job->conn;
  const GstStructure *reply;
  GError *error = NULL;

  if (!untrack_promise (conn, promise)) {
    if (job->offer)
      metered_connection_invoke (conn, finish_offer_on_context, NULL, NULL);
    return;
  }
  reply = gst_promise_get_reply (promise);
  if (reply && gst_structure_get (reply, "error", G_TYPE_ERROR, &error, NULL)) {
    GST_WARNING_OBJECT (
        conn, "set-local-description failed: %s", error->message);
    g_error_free (error);
  } else {
    metered_connection_invoke (conn,
        job->offer ? send_offer_on_context : send_answer_on_context,
        g_steal_pointer (&job->payload), g_free);
  }
  if (job->offer)
    metered_connection_invoke (conn, finish_offer_on_context, NULL, NULL);
}

static void
finish_offer_on_context (MeteredConnection *conn, gpointer data)
{
  conn->making_offer = FALSE;
}

/* Runs on webrtcbin's thread: never wait on another promise here. */

/* Replaces *text by rewritten, unless there was nothing to rewrite
 * (NULL). */
static void
take_rewrite (char **text, char *rewritten)
{
  if (rewritten) {
    g_free (*text);
    *text = rewritten;
  }
}

static void
on_description_created (GstPromise *promise, gpointer data)
{
  DescriptionJob *job = data;
  MeteredConnection *conn = job->conn;
  const GstStructure *reply;
  const char *field =
      job->type == GST_WEBRTC_SDP_TYPE_OFFER ? "offer" : "answer";
  GstWebRTCSessionDescription *desc = NULL;
  GstWebRTCSignalingState sig;
  g_autofree char *text = NULL;
  g_autofree char *munged = NULL;
  GstSDPMessage *msg = NULL;
  GstWebRTCSessionDescription *local;
  GstPromise *set_promise;
  LocalJob *local_job;
  gboolean handed_over = FALSE;

  if (!untrack_promise (conn, promise))
    return;
  reply = gst_promise_get_reply (promise);
  if (reply)
    gst_structure_get (
        reply, field, GST_TYPE_WEBRTC_SESSION_DESCRIPTION, &desc, NULL);
  if (!desc) {
    GST_WARNING_OBJECT (conn, "create-%s failed", field);
    goto done;
  }
  if (conn->stopped) {
    /* stopped while webrtcbin was creating it: conn->webrtc is gone */
    gst_webrtc_session_description_free (desc);
    goto done;
  }

  g_object_get (job->webrtc, "signaling-state", &sig, NULL);
  if (job->type == GST_WEBRTC_SDP_TYPE_OFFER &&
      (sig != GST_WEBRTC_SIGNALING_STATE_STABLE ||
          job->generation != conn->generation)) {
    /* A remote description arrived meanwhile: abandon (§8.3). */
    GST_INFO_OBJECT (conn, "abandoning a local offer (state moved)");
    gst_webrtc_session_description_free (desc);
    goto done;
  }

  text = gst_sdp_message_as_text (desc->sdp);
  gst_webrtc_session_description_free (desc);
  munged = munge_msid (conn, text);
  /* webrtcbin 1.22 lists a payload type twice when it re-offers a remote
   * offer's transceiver with NACK on (metered_sdp_drop_duplicate_formats) */
  take_rewrite (&munged, metered_sdp_drop_duplicate_formats (munged));
  /* after an ICE restart webrtcbin writes the credentials of its first
   * SDP: the agent's go out, and set-local-description leaves them in the
   * agent */
  if (job->ice_restarted)
    take_rewrite (&munged, metered_ice_restart_rewrite_local (job->webrtc,
                               munged, job->type == GST_WEBRTC_SDP_TYPE_OFFER));
  if (gst_debug_category_get_threshold (metered_peer_debug) >= GST_LEVEL_LOG) {
    g_autofree char *scrubbed = metered_scrub_text (munged);
    GST_LOG_OBJECT (conn, "local %s:\n%s", field, scrubbed);
  }
  if (gst_sdp_message_new_from_text (munged, &msg) != GST_SDP_OK) {
    GST_WARNING_OBJECT (conn, "our own %s does not parse", field);
    goto done;
  }
  local = gst_webrtc_session_description_new (job->type, msg);

  local_job = g_new0 (LocalJob, 1);
  local_job->conn = gst_object_ref (conn);
  local_job->payload = metered_peer_payload_build_description (field, munged);
  local_job->offer = job->type == GST_WEBRTC_SDP_TYPE_OFFER;
  set_promise = track_promise (
      conn, gst_promise_new_with_change_func (on_local_description_set,
                local_job, (GDestroyNotify) local_job_free));
  g_signal_emit_by_name (
      job->webrtc, "set-local-description", local, set_promise);
  gst_promise_unref (set_promise);
  gst_webrtc_session_description_free (local);
  handed_over = TRUE;

done:
  /* an offer is being made until it left (on_local_description_set) */
  if (job->type == GST_WEBRTC_SDP_TYPE_OFFER && !handed_over)
    metered_connection_invoke (conn, finish_offer_on_context, NULL, NULL);
}

static void
create_description (MeteredConnection *conn, GstWebRTCSDPType type)
{
  DescriptionJob *job = g_new0 (DescriptionJob, 1);
  GstPromise *promise;

  job->conn = gst_object_ref (conn);
  job->webrtc = gst_object_ref (conn->webrtc);
  job->generation = conn->generation;
  job->type = type;
  job->ice_restarted = conn->ice_restarted;
  if (type == GST_WEBRTC_SDP_TYPE_OFFER)
    conn->making_offer = TRUE;
  /* The job lives as long as the promise. */
  promise = track_promise (
      conn, gst_promise_new_with_change_func (on_description_created, job,
                (GDestroyNotify) description_job_free));
  g_signal_emit_by_name (conn->webrtc,
      type == GST_WEBRTC_SDP_TYPE_OFFER ? "create-offer" : "create-answer",
      NULL, promise);
  gst_promise_unref (promise);
}

static void
negotiate_on_context (MeteredConnection *conn, gpointer data)
{
  GstWebRTCSignalingState sig;

  /* webrtcbin 1.22 fires negotiation-needed spuriously (on PLAYING with
   * nothing to send, after answering): offer only with media to send. */
  if (conn->send->len == 0)
    return;
  g_object_get (conn->webrtc, "signaling-state", &sig, NULL);
  if (sig != GST_WEBRTC_SIGNALING_STATE_STABLE || conn->making_offer) {
    conn->negotiation_wanted = TRUE;
    return;
  }
  conn->negotiation_wanted = FALSE;
  GST_INFO_OBJECT (conn, "offering to %s", conn->remote_peer_id);
  create_description (conn, GST_WEBRTC_SDP_TYPE_OFFER);
}

static void
on_negotiation_needed (GstElement *webrtc, MeteredConnection *conn)
{
  metered_connection_invoke (conn, negotiate_on_context, NULL, NULL);
}

/* --- remote descriptions and candidates --- */

static void
add_remote_candidate (MeteredConnection *conn, JsonObject *cand)
{
  const char *text = NULL;
  guint mline = 0;

  switch (metered_sdp_check_candidate (cand, conn->remote_sdp, &text, &mline)) {
    case METERED_CANDIDATE_OK:
      break;
    case METERED_CANDIDATE_END:
      return; /* an empty candidate is end-of-candidates: nothing to do */
    case METERED_CANDIDATE_TOO_LONG:
      GST_WARNING_OBJECT (conn, "dropping a candidate over %d characters",
          METERED_ICE_CANDIDATE_MAX_LEN);
      return;
    case METERED_CANDIDATE_NO_MLINE:
      GST_WARNING_OBJECT (conn, "candidate names no m-line we know");
      return;
  }
  g_signal_emit_by_name (conn->webrtc, "add-ice-candidate", mline, text);
}

static void
remote_description_applied_on_context (MeteredConnection *conn, gpointer data)
{
  JsonObject *cand;

  conn->remote_description_set = TRUE;
  while ((cand = g_queue_pop_head (&conn->pending_remote_candidates))) {
    add_remote_candidate (conn, cand);
    json_object_unref (cand);
  }
}

static void
answer_on_context (MeteredConnection *conn, gpointer data)
{
  create_description (conn, GST_WEBRTC_SDP_TYPE_ANSWER);
}

static void
remote_answer_applied_on_context (MeteredConnection *conn, gpointer data)
{
  conn->tracks_negotiated = conn->send_added;
}

static void
renegotiate_if_wanted_on_context (MeteredConnection *conn, gpointer data)
{
  if (conn->negotiation_wanted)
    negotiate_on_context (conn, NULL);
}

typedef struct
{
  MeteredConnection *conn;
  GstWebRTCSDPType type;
} RemoteJob;

static void
on_remote_description_set (GstPromise *promise, gpointer data)
{
  RemoteJob *job = data;
  MeteredConnection *conn = job->conn;
  const GstStructure *reply;
  GError *error = NULL;

  if (!untrack_promise (conn, promise))
    return;
  reply = gst_promise_get_reply (promise);
  if (reply && gst_structure_get (reply, "error", G_TYPE_ERROR, &error, NULL)) {
    GST_WARNING_OBJECT (
        conn, "set-remote-description failed: %s", error->message);
    g_error_free (error);
  } else {
    metered_connection_invoke (
        conn, remote_description_applied_on_context, NULL, NULL);
    if (job->type == GST_WEBRTC_SDP_TYPE_OFFER) {
      metered_connection_invoke (conn, answer_on_context, NULL, NULL);
    } else {
      metered_connection_invoke (
          conn, remote_answer_applied_on_context, NULL, NULL);
      metered_connection_invoke (
          conn, renegotiate_if_wanted_on_context, NULL, NULL);
    }
  }
}

static void
remote_job_free (RemoteJob *job)
{
  gst_object_unref (job->conn);
  g_free (job);
}

/* Restarts our ICE agent: the next local description carries its new
 * credentials, and the candidates are announced again after it. ours:
 * our own offer's restart, made before break (the agent restarts when
 * the answer arrives: metered_ice_restart_prepare). */
static gboolean
restart_ice (MeteredConnection *conn, const char *why, gboolean ours)
{
  g_autoptr (GError) error = NULL;

  /* The behaviour before restarts (bench/ice-restart.sh's baseline). */
  if (g_getenv ("METERED_NO_ICE_RESTART")) {
    GST_INFO_OBJECT (conn, "%s: ICE restarts disabled", why);
    return FALSE;
  }
  if (!(ours ? metered_ice_restart_prepare (conn->webrtc, &error)
             : metered_ice_restart_stream (conn->webrtc, &error))) {
    GST_WARNING_OBJECT (
        conn, "%s, but ICE cannot restart: %s", why, error->message);
    return FALSE;
  }
  GST_INFO_OBJECT (conn, "%s: ICE restarted", why);
  conn->ice_restarted = TRUE;
  conn->ice_announce_pending = TRUE;
  conn->ice_restarts++;
  return TRUE;
}

gboolean
metered_connection_is_negotiating (MeteredConnection *conn)
{
  GstWebRTCSignalingState sig;

  if (conn->stopped || !conn->webrtc)
    return FALSE;
  g_object_get (conn->webrtc, "signaling-state", &sig, NULL);
  return conn->making_offer || sig != GST_WEBRTC_SIGNALING_STATE_STABLE;
}

gboolean
metered_connection_restart_ice (MeteredConnection *conn)
{
  if (conn->stopped || !conn->webrtc ||
      metered_connection_is_negotiating (conn))
    return FALSE;
  if (!restart_ice (conn, "our media path is silent", TRUE))
    return FALSE;
  g_signal_emit_by_name (conn, "ice-restart", TRUE);
  /* Offered even with nothing to send (negotiate_on_context would not):
   * the restart is ours to offer. */
  create_description (conn, GST_WEBRTC_SDP_TYPE_OFFER);
  return TRUE;
}

gboolean
metered_connection_local_address_gone (MeteredConnection *conn)
{
  return !conn->stopped && conn->webrtc &&
         metered_ice_restart_local_address_gone (conn->webrtc);
}

gboolean
metered_connection_selected_address_gone (MeteredConnection *conn)
{
  return !conn->stopped && conn->webrtc &&
         metered_ice_restart_selected_address_gone (conn->webrtc);
}

static MeteredSignalVerdict
handle_description (MeteredConnection *conn, const char *type, const char *sdp)
{
  gboolean offer = g_str_equal (type, "offer");
  GstWebRTCSignalingState sig;
  GstSDPMessage *msg = NULL;
  GstWebRTCSessionDescription *remote;
  GstPromise *promise;
  RemoteJob *job;
  gboolean collision;

  /* An empty sdp would make GstSDP critical. */
  if (!*sdp)
    return METERED_SIGNAL_INVALID;
  if (gst_sdp_message_new_from_text (sdp, &msg) != GST_SDP_OK) {
    GST_WARNING_OBJECT (conn, "remote %s does not parse", type);
    if (msg)
      gst_sdp_message_free (msg);
    return METERED_SIGNAL_INVALID;
  }

  g_object_get (conn->webrtc, "signaling-state", &sig, NULL);
  if (offer) {
    /* A new RTCPeerConnection on the far side (the SDK's reconcile) gets
     * a fresh webrtcbin (§11). */
    if (conn->remote_sdp && metered_sdp_compare (conn->remote_sdp, sdp) ==
                                METERED_SDP_CHANGE_NEW_SESSION) {
      gst_sdp_message_free (msg);
      return METERED_SIGNAL_SWAP;
    }
    collision =
        conn->making_offer || (sig != GST_WEBRTC_SIGNALING_STATE_STABLE &&
                                  !conn->setting_remote_answer_pending);
    if (collision) {
      gst_sdp_message_free (msg);
      if (!conn->polite) {
        GST_INFO_OBJECT (conn, "impolite: ignoring a colliding offer");
        return METERED_SIGNAL_IGNORED;
      }
      /* webrtcbin 1.22 cannot roll back: the polite side starts over on
       * a fresh webrtcbin and answers from there. */
      return METERED_SIGNAL_SWAP;
    }
    /* Our tracks must ride on m-lines we offer: answered on the remote's
     * m-line, a browser names their receiver track at random and the
     * track metadata (keyed by our track id) never matches. A fresh
     * webrtcbin answers first and then offers our tracks. */
    if (!conn->answer_first && conn->pending_tracks->len > 0 &&
        !conn->tracks_negotiated) {
      gst_sdp_message_free (msg);
      /* The impolite side's own offer is coming (or out): the polite
       * remote rolls back and answers it, as with any collision. */
      if (!conn->polite) {
        GST_INFO_OBJECT (conn, "impolite with tracks to offer: ignoring "
                               "the remote offer");
        return METERED_SIGNAL_IGNORED;
      }
      return METERED_SIGNAL_SWAP;
    }
  } else if (sig != GST_WEBRTC_SIGNALING_STATE_HAVE_LOCAL_OFFER) {
    g_autofree char *name =
        g_enum_to_string (GST_TYPE_WEBRTC_SIGNALING_STATE, sig);
    GST_INFO_OBJECT (conn, "ignoring an answer in state %s", name);
    gst_sdp_message_free (msg);
    return METERED_SIGNAL_IGNORED;
  }

  /* A remote ICE restart (the browser's restartIce()): ours too, before
   * webrtcbin applies the offer, which brings the remote credentials
   * the restart clears. */
  if (offer && conn->remote_sdp &&
      metered_sdp_is_ice_restart (conn->remote_sdp, sdp) &&
      restart_ice (conn, "the remote restarts ICE", FALSE))
    g_signal_emit_by_name (conn, "ice-restart", FALSE);

  conn->generation++;
  conn->candidates_this_generation = 0;
  conn->remote_description_set = FALSE;
  g_free (conn->remote_sdp);
  conn->remote_sdp = g_strdup (sdp);

  metered_ice_restart_remote_description (conn->webrtc, offer);
  remote = gst_webrtc_session_description_new (
      offer ? GST_WEBRTC_SDP_TYPE_OFFER : GST_WEBRTC_SDP_TYPE_ANSWER, msg);
  job = g_new0 (RemoteJob, 1);
  job->conn = gst_object_ref (conn);
  job->type = remote->type;
  promise = track_promise (
      conn, gst_promise_new_with_change_func (on_remote_description_set, job,
                (GDestroyNotify) remote_job_free));
  g_signal_emit_by_name (
      conn->webrtc, "set-remote-description", remote, promise);
  gst_promise_unref (promise);
  gst_webrtc_session_description_free (remote);
  return METERED_SIGNAL_HANDLED;
}

static MeteredSignalVerdict
handle_candidate (MeteredConnection *conn, JsonObject *cand)
{
  const char *text, *mid;
  gint mline;

  if (!cand)
    return METERED_SIGNAL_HANDLED; /* end of candidates */
  /* Oversized ones are dropped on arrival: queued before the remote
   * description, they would hold one of the 200 places (§5). */
  if (metered_peer_payload_check_candidate (cand, &text, &mline, &mid) ==
      METERED_CANDIDATE_TOO_LONG) {
    GST_WARNING_OBJECT (conn, "dropping a candidate over %d characters",
        METERED_ICE_CANDIDATE_MAX_LEN);
    return METERED_SIGNAL_IGNORED;
  }
  if (conn->candidates_this_generation >=
      METERED_ICE_CANDIDATES_PER_GENERATION) {
    if (conn->candidates_this_generation++ ==
        METERED_ICE_CANDIDATES_PER_GENERATION)
      GST_WARNING_OBJECT (conn,
          "more than %d candidates in one "
          "negotiation: dropping the rest",
          METERED_ICE_CANDIDATES_PER_GENERATION);
    return METERED_SIGNAL_IGNORED;
  }
  conn->candidates_this_generation++;
  if (!conn->remote_description_set) {
    /* Descriptions that never apply (a hostile peer's offer loop) start a
     * generation each without draining the queue: bound it, keeping the
     * newest. */
    if (g_queue_get_length (&conn->pending_remote_candidates) >=
        METERED_ICE_CANDIDATES_PER_GENERATION)
      json_object_unref (g_queue_pop_head (&conn->pending_remote_candidates));
    g_queue_push_tail (
        &conn->pending_remote_candidates, json_object_ref (cand));
    return METERED_SIGNAL_HANDLED;
  }
  add_remote_candidate (conn, cand);
  return METERED_SIGNAL_HANDLED;
}

MeteredSignalVerdict
metered_connection_handle_signal (
    MeteredConnection *conn, const char *payload_json)
{
  g_autoptr (JsonParser) parser = json_parser_new ();
  MeteredPeerPayload payload;

  if (conn->stopped)
    return METERED_SIGNAL_INVALID;
  switch (metered_peer_payload_parse_text (parser, payload_json, &payload)) {
    case METERED_PEER_PAYLOAD_DESCRIPTION:
      return handle_description (conn, payload.sdp_type, payload.sdp);
    case METERED_PEER_PAYLOAD_CANDIDATE:
      return handle_candidate (conn, payload.candidate);
    default:
      return METERED_SIGNAL_INVALID;
  }
}

static void
on_signaling_state (
    GstElement *webrtc, GParamSpec *pspec, MeteredConnection *conn)
{
  GstWebRTCSignalingState sig;

  g_object_get (webrtc, "signaling-state", &sig, NULL);
  if (sig == GST_WEBRTC_SIGNALING_STATE_STABLE)
    metered_connection_invoke (
        conn, renegotiate_if_wanted_on_context, NULL, NULL);
}

void
metered_negotiation_attach (MeteredConnection *conn)
{
  g_signal_connect (conn->webrtc, "on-negotiation-needed",
      G_CALLBACK (on_negotiation_needed), conn);
  g_signal_connect (
      conn->webrtc, "on-ice-candidate", G_CALLBACK (on_ice_candidate), conn);
  g_signal_connect (conn->webrtc, "notify::ice-gathering-state",
      G_CALLBACK (on_gathering_state), conn);
  g_signal_connect (conn->webrtc, "notify::signaling-state",
      G_CALLBACK (on_signaling_state), conn);
}

void
metered_negotiation_init (MeteredConnection *conn)
{
  g_queue_init (&conn->pending_remote_candidates);
  g_queue_init (&conn->pending_local_candidates);
  conn->promises = g_ptr_array_new ();
}

void
metered_negotiation_clear (MeteredConnection *conn)
{
  metered_negotiation_interrupt_promises (conn);
  g_ptr_array_unref (conn->promises);
  g_queue_clear_full (
      &conn->pending_remote_candidates, (GDestroyNotify) json_object_unref);
  g_queue_clear_full (&conn->pending_local_candidates, g_free);
  g_free (conn->remote_sdp);
}
