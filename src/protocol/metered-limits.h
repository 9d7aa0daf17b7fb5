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

/* Every number the wire protocol fixes, in one place (protocol doc §5). */

/* Client side (SDK 1.2.0). */
#define METERED_DEFAULT_URL "wss://rms.metered.ca"
#define METERED_WELCOME_TIMEOUT_MS 10000
#define METERED_ACK_TIMEOUT_MS 15000
#define METERED_INACTIVITY_TIMEOUT_MS 60000
#define METERED_HEARTBEAT_MIN_MS 1000
#define METERED_TOKEN_PROVIDER_TIMEOUT_MS 10000
#define METERED_TOKEN_PROVIDER_ERROR_THRESHOLD 3
#define METERED_RESUBSCRIBE_RETRIES 3
#define METERED_RESUBSCRIBE_RETRY_MS 2000
#define METERED_CLOSE_FLUSH_MS 1000
#define METERED_CLIENT_INBOUND_FRAME_CAP 1048576 /* UTF-16 units */
#define METERED_DEFAULT_MAX_MESSAGE_SIZE 65536

/* Identifiers (UTF-16 code units, as the SDK measures them). */
#define METERED_CHANNEL_MAX_LEN 256
#define METERED_PEER_ID_MAX_LEN 128
#define METERED_REQUEST_ID_MAX_LEN 128

/* iceServers (welcome.metadata.iceServers), fail-closed. */
#define METERED_ICE_SERVERS_MAX 16
#define METERED_ICE_URL_MAX_LEN 512
#define METERED_ICE_USERNAME_MAX_LEN 1024
#define METERED_ICE_CREDENTIAL_MAX_LEN 1024

/* Peer layer. */
#define METERED_ICE_CANDIDATES_PER_GENERATION 200
#define METERED_ICE_CANDIDATE_MAX_LEN 1000
#define METERED_TRACK_META_CACHE 512
#define METERED_MAX_REMOTE_PEERS 256

/* Server side (hosted service's documented limits). */
#define METERED_SERVER_MAX_FRAME 65536
#define METERED_SERVER_MAX_SUBSCRIPTIONS 100
#define METERED_SERVER_RATE_PER_SEC 100
#define METERED_SERVER_RATE_BURST 200
/* What a client sends at most by default: under the server's budget, with
 * room for frames the network delays and then delivers together (the
 * server counts arrivals; up to half a second of bunching stays under
 * its limit), and a burst of one and a half seconds' worth. */
#define METERED_CLIENT_RATE_PER_SEC 95
#define METERED_CLIENT_RATE_BURST(per_sec) ((per_sec) *3 / 2)
#define METERED_SERVER_IP_CONNECTS 60
#define METERED_SERVER_IP_WINDOW_MS 60000
#define METERED_PEER_METADATA_MAX 4096
#define METERED_METADATA_MAX 8192
#define METERED_JWT_EXPIRY_LEAD_MS 250
#define METERED_SERVER_WS_PING_S 30
#define METERED_GOING_AWAY_RETRY_MS 1000

/* Strict JSON scanner: nesting deeper than this is refused (stack safety). */
#define METERED_JSON_MAX_DEPTH 128

/* Channel history extension: the longest epoch a client may send back. */
#define METERED_HISTORY_EPOCH_MAX_LEN 64
