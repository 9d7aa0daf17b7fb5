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

#include "protocol/metered-peer-payload.h"

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

/* Removes a payload type listed twice on an m-line, with its second
 * a=rtpmap and a=fmtp, and returns the new SDP text; NULL when sdp does
 * not parse or lists none twice. webrtcbin 1.22 re-offering a transceiver
 * made from a remote offer, with do-nack, adds its own rtx under the
 * payload type the remote's rtx already has ("96 97 97"), which strict
 * peers refuse. */
char *metered_sdp_drop_duplicate_formats (const char *sdp);

/* --- what a remote peer sends inside direct.data (protocol doc §8) ---
 * The payloads themselves are built and parsed in
 * src/protocol/metered-peer-payload.h; what needs SDP is here. */

/* metered_peer_payload_parse() says DESCRIPTION or CANDIDATE: such a
 * payload never reaches the app. */
gboolean metered_sdp_is_rtc_signal (JsonObject *payload);

/* metered_peer_payload_check_candidate(), with a candidate that names
 * its m-line by sdpMid resolved against remote_sdp (NULL: none yet). On
 * OK sets *text (owned by cand) and *mline (0..METERED_SDP_MAX_MLINE). */
MeteredCandidateCheck metered_sdp_check_candidate (
    JsonObject *cand, const char *remote_sdp, const char **text, guint *mline);

#define METERED_SDP_MAX_MLINE METERED_PEER_PAYLOAD_MAX_MLINE

/* --- ICE restarts (metered-ice-restart.c) --- */

/* The first a=ice-ufrag and a=ice-pwd (session or media level). FALSE,
 * both NULL, if sdp does not parse or lacks either. Caller frees. */
gboolean metered_sdp_get_ice_credentials (
    const char *sdp, char **ufrag, char **pwd);

/* TRUE if incoming comes from the same remote session as previous (same
 * o= session id and fingerprint) with a new ice-ufrag or ice-pwd: an ICE
 * restart. */
gboolean metered_sdp_is_ice_restart (
    const char *previous, const char *incoming);

/* Every a=ice-ufrag, a=ice-pwd and a=setup (session and media level)
 * set to ufrag, pwd and setup (NULL: that one untouched). New SDP text,
 * or NULL if sdp does not parse. */
char *metered_sdp_rewrite_ice (
    const char *sdp, const char *ufrag, const char *pwd, const char *setup);

/* --- header extensions --- */

/* The id the first a=extmap naming uri has (session or media level), or
 * -1: none, or sdp does not parse. An extension id is the same on every
 * m-line of a bundle, so ours must take the id the remote gave it. */
gint metered_sdp_extmap_id (const char *sdp, const char *uri);

G_END_DECLS
