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

G_BEGIN_DECLS

typedef struct
{
  GStrv urls; /* at least one */
  char *username; /* NULL if absent or not a string */
  char *credential; /* NULL if absent or not a string */
} MeteredIceServer;

void metered_ice_server_free (MeteredIceServer *server);

/* Reads "iceServers" from a welcome.metadata object (raw JSON text) with
 * the SDK's fail-closed rules (protocol doc §5): an array of <= 16
 * entries; each entry an object whose urls is a string or a non-empty
 * array of strings, each non-empty, <= 512 chars, matching
 * ^(stun|stuns|turn|turns): case-insensitively; username/credential kept
 * if strings of <= 1024, silently dropped if not strings.
 *
 * Returns a GPtrArray of MeteredIceServer* (possibly empty) when the list
 * is valid. Returns NULL without error when metadata_json is NULL or has
 * no iceServers key, NULL with error when any rule is violated (the whole
 * list is dropped). */
GPtrArray *metered_ice_servers_from_metadata (
    const char *metadata_json, GError **error);

/* One iceServers URL in webrtcbin's form (its stun-server and turn-server
 * properties take URIs, not the browser's scheme:host forms).
 *
 * "stun:host:port?query" -> "stun://host:port" (any case; the query
 * dropped). NULL if url is not a stun: URL (stuns: included: webrtcbin
 * has no secure STUN). */
char *metered_ice_url_to_stun_uri (const char *url);
/* "turn:host:port?transport=x" or "turns:..." (any case) with the entry's
 * credentials -> "turn://user:pass@host:port?transport=x" ("turns://"),
 * username and credential percent-escaped (missing ones empty). NULL if
 * url is not a turn: or turns: URL. */
char *metered_ice_url_to_turn_uri (
    const char *url, const char *username, const char *credential);
/* A validated list as the signalling client hands it on (aa{sv}: urls,
 * username, credential) -> the first STUN URL as *stun_uri (NULL if
 * none) and every TURN URL, in order, as *turn_uris (never NULL). */
void metered_ice_servers_to_uris (
    GVariant *servers, char **stun_uri, GStrv *turn_uris);

G_END_DECLS
