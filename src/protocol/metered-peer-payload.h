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

/*
 * The payloads two peers exchange inside direct.data (protocol doc §8):
 *
 *   {"type":"rtc-description","description":{"type":"offer","sdp":"..."}}
 *   {"type":"rtc-ice","candidate":{"candidate":"...","sdpMid":null,
 *                                  "sdpMLineIndex":0,"usernameFragment":null}}
 *   {"type":"rtc-ice","candidate":null}                (end of candidates)
 *   {"__meteredTrackMeta":{"trackId":"...","metadata":{...}}}
 *
 * Builders write exactly the bytes the SDK's own peers write (the SDK
 * interop tests compare them); the parser applies the SDK's checks, so
 * that what it classifies as ours never reaches the app and the rest
 * does. Pure: no GStreamer, no I/O.
 */

/* Highest m-line index a remote candidate may name. */
#define METERED_PEER_PAYLOAD_MAX_MLINE 64

/* type: "offer" or "answer"; sdp: the description's text. */
char *metered_peer_payload_build_description (
    const char *type, const char *sdp);
/* candidate NULL: end of candidates. */
char *metered_peer_payload_build_candidate (guint mline, const char *candidate);
/* metadata: JSON text of an object, written as is. */
char *metered_peer_payload_build_track_meta (
    const char *track_id, const char *metadata);

typedef enum
{
  METERED_PEER_PAYLOAD_APP, /* none of the below: the app's own data */
  METERED_PEER_PAYLOAD_DESCRIPTION,
  METERED_PEER_PAYLOAD_CANDIDATE,
  METERED_PEER_PAYLOAD_TRACK_META,
} MeteredPeerPayloadType;

/* What a payload says; every pointer is owned by the parsed JSON. */
typedef struct
{
  MeteredPeerPayloadType type;
  const char *sdp_type; /* DESCRIPTION: "offer" or "answer" */
  const char *sdp; /* DESCRIPTION: a string, possibly empty */
  JsonObject *candidate; /* CANDIDATE: NULL for end of candidates */
  const char *track_id; /* TRACK_META: not empty */
  JsonNode *metadata; /* TRACK_META: an object, or NULL to clear */
} MeteredPeerPayload;

/* Classifies a payload as the SDK does (§8.2, §8.6): an rtc-description
 * whose description is an offer or answer with a string sdp, an rtc-ice
 * whose candidate is null or an object, else a __meteredTrackMeta whose
 * trackId is a non-empty string and whose metadata, if any, an object;
 * anything else is APP. Fills out (all NULL for APP). */
MeteredPeerPayloadType metered_peer_payload_parse (
    JsonObject *payload, MeteredPeerPayload *out);

/* The same on text (depth-capped at METERED_JSON_MAX_DEPTH first);
 * text that is no JSON object is APP. out points into parser. */
MeteredPeerPayloadType metered_peer_payload_parse_text (
    JsonParser *parser, const char *text, MeteredPeerPayload *out);

typedef enum
{
  METERED_CANDIDATE_OK,
  METERED_CANDIDATE_END, /* empty or missing string: end of candidates */
  METERED_CANDIDATE_TOO_LONG, /* over METERED_ICE_CANDIDATE_MAX_LEN */
  METERED_CANDIDATE_NO_MLINE, /* neither a usable index nor a known mid */
} MeteredCandidateCheck;

/* Checks a remote candidate object {candidate, sdpMid, sdpMLineIndex}
 * against the caps of §5. On OK sets *text (owned by cand) and either
 * *mline to its sdpMLineIndex (an integer in
 * 0..METERED_PEER_PAYLOAD_MAX_MLINE) or, when it has no integer index,
 * *mline to -1 and *mid to its sdpMid (NULL when not a string): the
 * caller resolves the mid against the remote description. */
MeteredCandidateCheck metered_peer_payload_check_candidate (
    JsonObject *cand, const char **text, gint *mline, const char **mid);

/* A string member of obj, or NULL when absent or of another type. Use it
 * on anything a remote peer wrote: json-glib's
 * json_object_get_string_member_with_default() is critical on an object
 * or array member. */
const char *metered_peer_payload_string_member (
    JsonObject *obj, const char *name);

G_END_DECLS
