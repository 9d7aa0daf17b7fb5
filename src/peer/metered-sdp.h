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

#include <glib.h>
#include <json-glib/json-glib.h>

G_BEGIN_DECLS

/* SDP facts the peer layer decides on, read from SDP text. */

typedef struct
{
  char *session_id; /* o= sess-id */
  char *fingerprint; /* first a=fingerprint (session or media level) */
  char *ice_ufrag; /* first a=ice-ufrag */
  guint n_media;
} MeteredSdpInfo;

void metered_sdp_info_clear (MeteredSdpInfo *info);
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC (MeteredSdpInfo, metered_sdp_info_clear)

/* FALSE if sdp does not parse. */
gboolean metered_sdp_info_parse (const char *sdp, MeteredSdpInfo *info);

typedef enum
{
  METERED_SDP_CHANGE_NONE, /* same session, same ICE credentials */
  METERED_SDP_CHANGE_ICE_RESTART, /* same o= session id, new ufrag */
  METERED_SDP_CHANGE_NEW_SESSION, /* new o= session id: a new remote PC */
} MeteredSdpChange;

/* How an incoming remote description relates to the previous one (NULL:
 * there was none, which counts as NONE). */
MeteredSdpChange metered_sdp_compare (
    const char *previous, const char *incoming);

/* The m-line index of the media whose a=mid is mid, or -1. */
gint metered_sdp_mline_for_mid (const char *sdp, const char *mid);

/* Indices of the m-lines whose direction sends (sendrecv or sendonly), in
 * order: in our own descriptions those carry our tracks, in the order
 * their transceivers were created. Caller frees. */
GArray *metered_sdp_sending_mlines (const char *sdp);

/* Adds "a=msid:<stream_id> <track_id>" to m-line mline (replacing an
 * existing media-level a=msid and any ssrc-level msid) and returns the new SDP
 * text, or NULL if sdp does not parse or has no such m-line. Browsers map the
 * second token to the receiver's track.id (protocol doc §0 rule 10). */
char *metered_sdp_set_msid (
    const char *sdp, guint mline, const char *stream_id, const char *track_id);

/* --- what a remote peer sends inside direct.data (protocol doc §8) --- */

/* A string member of obj, or NULL when absent or of another type. Use it
 * on anything a remote peer wrote: json-glib's
 * json_object_get_string_member_with_default() is critical on an object
 * or array member. */
const char *metered_sdp_string_member (JsonObject *obj, const char *name);

/* The SDK's classifier (§8.2): an rtc-description whose description is
 * an offer or answer with a string sdp, or an rtc-ice whose candidate is
 * null or an object. Such a payload never reaches the app. */
gboolean metered_sdp_is_rtc_signal (JsonObject *payload);

typedef enum
{
  METERED_CANDIDATE_OK,
  METERED_CANDIDATE_END, /* empty or missing string: end of candidates */
  METERED_CANDIDATE_TOO_LONG, /* over METERED_ICE_CANDIDATE_MAX_LEN */
  METERED_CANDIDATE_NO_MLINE, /* neither a usable index nor a known mid */
} MeteredCandidateCheck;

/* Checks a remote candidate object {candidate, sdpMid, sdpMLineIndex}
 * against the caps of §5 and resolves its m-line: the index if it is an
 * integer in 0..METERED_SDP_MAX_MLINE, else the m-line of remote_sdp
 * whose a=mid is sdpMid. On OK sets *text (owned by cand) and *mline. */
MeteredCandidateCheck metered_sdp_check_candidate (
    JsonObject *cand, const char *remote_sdp, const char **text, guint *mline);

#define METERED_SDP_MAX_MLINE 64

/* A __meteredTrackMeta payload that passes the SDK's checks (§8.6):
 * sets *track_id (owned by payload) and *metadata (the metadata object's
 * text, or NULL for a clear message; caller frees). FALSE: not one, the
 * payload is app data. */
gboolean metered_sdp_parse_track_meta (
    JsonObject *payload, const char **track_id, char **metadata);

G_END_DECLS
