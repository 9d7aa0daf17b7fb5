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

#include "peer/metered-connection.h"

#include <gst/gst.h>

G_BEGIN_DECLS

/*
 * A real ICE restart on webrtcbin 1.22, which has no API for one (its
 * create-offer ignores options; see docs/peer-layer.md, "ICE restarts"):
 * we drive webrtcbin's NiceAgent ourselves. Restarting the bundle stream
 * gives it new local credentials and fresh checks while the selected pair
 * keeps carrying media (make-before-break) and DTLS/SRTP, which sit above
 * ICE, go on untouched. webrtcbin keeps copying the credentials of the
 * first SDP it generated into every later one, and pushes whatever the
 * local description says back into the agent: so once restarted, every
 * local description must be rewritten with the agent's credentials.
 * libnice cannot gather again on an existing stream: a restart re-uses
 * the same local sockets, so it cannot help when our own address is gone.
 *
 * All calls: the connection's context thread (libnice locks its agent;
 * the restart runs webrtcbin's transport callbacks in the caller, which
 * only queue work).
 */

/* Restarts the ICE stream of webrtc's bundle transport, with new local
 * credentials of webrtcbin's own shape. FALSE (error set) when webrtcbin
 * has no such transport yet or its ICE is not libnice. */
gboolean metered_ice_restart_stream (GstElement *webrtc, GError **error);

/* Our own restart, made before break: new credentials for our next
 * offer (metered_ice_restart_rewrite_local writes them), the agent left
 * as it is. Until the remote's answer applies, the agent answers the
 * remote's checks on the old pair with the credentials it knows, so that
 * a path that returns before the answer (the offer stalled on a
 * signalling socket the cut stopped) carries media again at once; the
 * answer restarts the agent with the new ones. FALSE (error set) as for
 * metered_ice_restart_stream(). */
gboolean metered_ice_restart_prepare (GstElement *webrtc, GError **error);

/* An offer is set locally and about to leave: with a restart prepared,
 * set-local-description gave the agent its credentials, and the agent
 * goes back to the old ones until the answer. */
void metered_ice_restart_hold (GstElement *webrtc);

/* A remote description is about to apply: an answer to our prepared
 * restart's offer restarts the agent with the offered credentials; a
 * remote offer applied instead drops the prepared restart. */
void metered_ice_restart_remote_description (
    GstElement *webrtc, gboolean offer);

/* The ufrag the agent answers checks with now (NULL without a
 * transport). Caller frees. */
char *metered_ice_restart_agent_ufrag (GstElement *webrtc);

/* A local description of webrtc rewritten with the agent's current
 * credentials (a prepared restart's, while one is under way) and, in an answer,
 * a=setup for our current DTLS role (in an offer actpass: webrtcbin copies the
 * role of its last answer there). Returns new text, or NULL when there is
 * nothing to rewrite with (no transport yet). */
char *metered_ice_restart_rewrite_local (
    GstElement *webrtc, const char *sdp, gboolean offer);

/* The local candidates of the bundle stream as a=candidate values
 * (without "a="), peer-reflexive ones left out: after a restart they must
 * be announced again, libnice gathers nothing new. Caller frees; empty
 * when there is no transport. */
GPtrArray *metered_ice_restart_local_candidates (GstElement *webrtc);

/* TRUE when none of the addresses the local host candidates were
 * gathered on is configured any more: no restart can help then. */
gboolean metered_ice_restart_local_address_gone (GstElement *webrtc);

/* TRUE when the selected pair's local candidate was gathered on an
 * address that is no longer configured (FALSE without a selected pair):
 * that path is gone even if other local addresses remain. */
gboolean metered_ice_restart_selected_address_gone (GstElement *webrtc);

/* --- MeteredConnection (metered-negotiation.c) --- */

/* Our own restart: restarts ICE and offers its new credentials. FALSE
 * when an offer/answer exchange is under way (no rollback in 1.22) or
 * ICE cannot restart. Emits ::ice-restart (TRUE). Context thread. */
gboolean metered_connection_restart_ice (MeteredConnection *conn);
/* An offer/answer exchange is under way. Context thread. */
gboolean metered_connection_is_negotiating (MeteredConnection *conn);
/* See metered_ice_restart_local_address_gone(). Context thread. */
gboolean metered_connection_local_address_gone (MeteredConnection *conn);

/* See metered_ice_restart_selected_address_gone(). Context thread. */
gboolean metered_connection_selected_address_gone (MeteredConnection *conn);

G_END_DECLS
