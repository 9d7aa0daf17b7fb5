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

#include "protocol/metered-peer-payload.h"

#include "protocol/metered-json-scan.h"
#include "protocol/metered-limits.h"

#include <string.h>

char *
metered_peer_payload_build_description (const char *type, const char *sdp)
{
  GString *out =
      g_string_new ("{\"type\":\"rtc-description\",\"description\":{\"type\":");

  metered_json_append_string (out, type, -1);
  g_string_append (out, ",\"sdp\":");
  metered_json_append_string (out, sdp, -1);
  g_string_append (out, "}}");
  return g_string_free (out, FALSE);
}

char *
metered_peer_payload_build_candidate (guint mline, const char *candidate)
{
  GString *out = g_string_new ("{\"type\":\"rtc-ice\",\"candidate\":");

  if (candidate) {
    g_string_append (out, "{\"candidate\":");
    metered_json_append_string (out, candidate, -1);
    /* Chromium accepts sdpMid null with an index (design notes). */
    g_string_append_printf (out,
        ",\"sdpMid\":null,\"sdpMLineIndex\":%u,"
        "\"usernameFragment\":null}",
        mline);
  } else {
    g_string_append (out, "null");
  }
  g_string_append_c (out, '}');
  return g_string_free (out, FALSE);
}

char *
metered_peer_payload_build_track_meta (
    const char *track_id, const char *metadata)
{
  GString *out = g_string_new ("{\"__meteredTrackMeta\":{\"trackId\":");

  metered_json_append_string (out, track_id, -1);
  g_string_append_printf (out, ",\"metadata\":%s}}", metadata);
  return g_string_free (out, FALSE);
}

const char *
metered_peer_payload_string_member (JsonObject *obj, const char *name)
{
  JsonNode *node = json_object_get_member (obj, name);

  if (!node || !JSON_NODE_HOLDS_VALUE (node) ||
      json_node_get_value_type (node) != G_TYPE_STRING)
    return NULL;
  return json_node_get_string (node);
}

static gboolean
parse_signal (JsonObject *obj, MeteredPeerPayload *out)
{
  const char *type = metered_peer_payload_string_member (obj, "type");

  if (g_strcmp0 (type, "rtc-description") == 0) {
    JsonNode *d = json_object_get_member (obj, "description");
    JsonObject *desc;
    const char *dtype, *sdp;

    if (!d || !JSON_NODE_HOLDS_OBJECT (d))
      return FALSE;
    desc = json_node_get_object (d);
    dtype = metered_peer_payload_string_member (desc, "type");
    sdp = metered_peer_payload_string_member (desc, "sdp");
    if (!(g_strcmp0 (dtype, "offer") == 0 ||
            g_strcmp0 (dtype, "answer") == 0) ||
        !sdp)
      return FALSE;
    out->type = METERED_PEER_PAYLOAD_DESCRIPTION;
    out->sdp_type = dtype;
    out->sdp = sdp;
    return TRUE;
  }
  if (g_strcmp0 (type, "rtc-ice") == 0) {
    JsonNode *c = json_object_get_member (obj, "candidate");

    if (!c || !(JSON_NODE_HOLDS_NULL (c) || JSON_NODE_HOLDS_OBJECT (c)))
      return FALSE;
    out->type = METERED_PEER_PAYLOAD_CANDIDATE;
    out->candidate =
        JSON_NODE_HOLDS_OBJECT (c) ? json_node_get_object (c) : NULL;
    return TRUE;
  }
  return FALSE;
}

static gboolean
parse_track_meta (JsonObject *obj, MeteredPeerPayload *out)
{
  JsonNode *node = json_object_get_member (obj, "__meteredTrackMeta");
  JsonObject *tm;
  const char *id;
  JsonNode *meta;

  if (!node || !JSON_NODE_HOLDS_OBJECT (node))
    return FALSE;
  tm = json_node_get_object (node);
  id = metered_peer_payload_string_member (tm, "trackId");
  meta = json_object_get_member (tm, "metadata");
  if (!id || !*id || (meta && !JSON_NODE_HOLDS_OBJECT (meta)))
    return FALSE;
  out->type = METERED_PEER_PAYLOAD_TRACK_META;
  out->track_id = id;
  out->metadata = meta;
  return TRUE;
}

MeteredPeerPayloadType
metered_peer_payload_parse (JsonObject *payload, MeteredPeerPayload *out)
{
  memset (out, 0, sizeof (*out));
  /* The SDK tries the rtc classifier first: a payload that is both goes
   * to the connection. */
  if (!parse_signal (payload, out) && !parse_track_meta (payload, out))
    memset (out, 0, sizeof (*out));
  return out->type;
}

MeteredPeerPayloadType
metered_peer_payload_parse_text (
    JsonParser *parser, const char *text, MeteredPeerPayload *out)
{
  JsonNode *root;

  memset (out, 0, sizeof (*out));
  if (!text ||
      !metered_json_validate (text, strlen (text), METERED_JSON_MAX_DEPTH) ||
      !json_parser_load_from_data (parser, text, -1, NULL))
    return METERED_PEER_PAYLOAD_APP;
  root = json_parser_get_root (parser);
  if (!root || !JSON_NODE_HOLDS_OBJECT (root))
    return METERED_PEER_PAYLOAD_APP;
  return metered_peer_payload_parse (json_node_get_object (root), out);
}

MeteredCandidateCheck
metered_peer_payload_check_candidate (
    JsonObject *cand, const char **text, gint *mline, const char **mid)
{
  const char *candidate =
      metered_peer_payload_string_member (cand, "candidate");
  JsonNode *index = json_object_get_member (cand, "sdpMLineIndex");

  if (!candidate || !*candidate)
    return METERED_CANDIDATE_END;
  if (strlen (candidate) > METERED_ICE_CANDIDATE_MAX_LEN)
    return METERED_CANDIDATE_TOO_LONG;
  /* Range-checked before any narrowing: 2^32 + 1 is not m-line 1. */
  if (index && JSON_NODE_HOLDS_VALUE (index) &&
      json_node_get_value_type (index) == G_TYPE_INT64) {
    gint64 found = json_node_get_int (index);
    if (found < 0 || found > METERED_PEER_PAYLOAD_MAX_MLINE)
      return METERED_CANDIDATE_NO_MLINE;
    *mline = (gint) found;
    *mid = NULL;
  } else {
    *mline = -1;
    *mid = metered_peer_payload_string_member (cand, "sdpMid");
  }
  *text = candidate;
  return METERED_CANDIDATE_OK;
}
