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
 * What a remote peer controls in the peer layer, without a webrtcbin:
 * the direct.data payload classifier, remote ICE candidate checks and
 * m-line resolution, __meteredTrackMeta parsing, and the SDP readers
 * and the a=msid rewrite of metered-sdp.c.
 *
 * An input starting with '{' is a direct.data payload (as
 * MeteredSession's on_direct sees it); anything else is SDP text (as
 * the sdp of a remote description).
 *
 * Invariants: a candidate accepted is non-empty, ≤ 1000 characters and
 * on an m-line in 0..64; track metadata is an object; the SDP readers
 * agree with each other; an msid rewrite parses again and carries the
 * msid asked for.
 */

#include "fuzz-common.h"

#include "peer/metered-sdp.h"

#include <gst/sdp/sdp.h>
#include <string.h>

int LLVMFuzzerInitialize (int *argc, char ***argv);
int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

/* Chromium's offer (audio, video, data), trimmed: the description a
 * candidate's sdpMid is resolved against, and the previous description
 * an incoming one is compared with. */
static const char chromium_offer[] =
    "v=0\r\n"
    "o=- 7705585275567730684 2 IN IP4 127.0.0.1\r\n"
    "s=-\r\n"
    "t=0 0\r\n"
    "a=group:BUNDLE 0 1 2\r\n"
    "a=extmap-allow-mixed\r\n"
    "a=msid-semantic: WMS afd9093a-658e-4de6-bfd0-e4d439f35a9e\r\n"
    "m=audio 9 UDP/TLS/RTP/SAVPF 111\r\n"
    "c=IN IP4 0.0.0.0\r\n"
    "a=ice-ufrag:kXaL\r\n"
    "a=ice-pwd:TMZvyuXfCD3up29wKY0a6A08\r\n"
    "a=fingerprint:sha-256 "
    "34:60:9B:74:8D:73:F9:4D:3B:04:FB:4C:49:21:A6:B5:1A:37:1D:FE:71:87:C7:B0:"
    "1B:86:81:C2:2C:29:CC:13\r\n"
    "a=setup:actpass\r\n"
    "a=mid:0\r\n"
    "a=sendrecv\r\n"
    "a=msid:afd9093a-658e-4de6-bfd0-e4d439f35a9e "
    "41fe230b-bcdc-455a-9098-679727f5c9e2\r\n"
    "a=rtcp-mux\r\n"
    "a=rtpmap:111 opus/48000/2\r\n"
    "m=video 9 UDP/TLS/RTP/SAVPF 96\r\n"
    "c=IN IP4 0.0.0.0\r\n"
    "a=ice-ufrag:kXaL\r\n"
    "a=ice-pwd:TMZvyuXfCD3up29wKY0a6A08\r\n"
    "a=setup:actpass\r\n"
    "a=mid:1\r\n"
    "a=sendrecv\r\n"
    "a=rtcp-mux\r\n"
    "a=rtpmap:96 VP8/90000\r\n"
    "m=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\n"
    "c=IN IP4 0.0.0.0\r\n"
    "a=ice-ufrag:kXaL\r\n"
    "a=ice-pwd:TMZvyuXfCD3up29wKY0a6A08\r\n"
    "a=setup:actpass\r\n"
    "a=mid:2\r\n"
    "a=sctp-port:5000\r\n";

int
LLVMFuzzerInitialize (int *argc, char ***argv)
{
  fuzz_init_glib ();
  return 0;
}

static void
check_sdp (const char *sdp)
{
  g_auto (MeteredSdpInfo) info = { 0 };
  gboolean parses = metered_sdp_info_parse (sdp, &info);
  g_autoptr (GArray) sending = metered_sdp_sending_mlines (sdp);
  g_autofree char *rewritten = NULL;
  gint mid0 = metered_sdp_mline_for_mid (sdp, "0");

  metered_sdp_compare (chromium_offer, sdp);
  metered_sdp_compare (sdp, chromium_offer);
  FUZZ_CHECK (metered_sdp_compare (sdp, sdp) == METERED_SDP_CHANGE_NONE);

  FUZZ_CHECK (mid0 < (gint) info.n_media);
  for (guint i = 0; i < sending->len; i++)
    FUZZ_CHECK (g_array_index (sending, guint, i) < info.n_media);
  if (!parses) {
    FUZZ_CHECK (sending->len == 0 && mid0 == -1);
    return;
  }

  rewritten = metered_sdp_set_msid (sdp, 0, "stream", "track");
  FUZZ_CHECK ((rewritten != NULL) == (info.n_media > 0));
  if (rewritten) {
    GstSDPMessage *msg = NULL;
    guint n_msid = 0;
    const GstSDPMedia *media;

    FUZZ_CHECK (gst_sdp_message_new_from_text (rewritten, &msg) == GST_SDP_OK);
    FUZZ_CHECK (gst_sdp_message_medias_len (msg) == info.n_media);
    media = gst_sdp_message_get_media (msg, 0);
    for (guint i = 0; i < gst_sdp_media_attributes_len (media); i++) {
      const GstSDPAttribute *attr = gst_sdp_media_get_attribute (media, i);
      if (g_strcmp0 (attr->key, "msid") == 0) {
        FUZZ_CHECK (g_strcmp0 (attr->value, "stream track") == 0);
        n_msid++;
      }
    }
    FUZZ_CHECK (n_msid == 1);
    gst_sdp_message_free (msg);
  }
}

static void
check_payload (const char *text, size_t size)
{
  g_autoptr (JsonParser) parser = json_parser_new ();
  JsonObject *obj;
  JsonNode *root;

  /* direct.data reached us through the frame parser's depth cap. */
  if (!metered_json_validate (text, size, METERED_JSON_MAX_DEPTH) ||
      !json_parser_load_from_data (parser, text, size, NULL))
    return;
  root = json_parser_get_root (parser);
  if (!root || !JSON_NODE_HOLDS_OBJECT (root))
    return;
  obj = json_node_get_object (root);

  if (metered_sdp_is_rtc_signal (obj)) {
    JsonNode *node = json_object_get_member (obj, "description");
    JsonObject *cand;
    const char *cand_text = NULL;
    guint mline = 99;

    if (node) {
      const char *sdp = metered_peer_payload_string_member (
          json_node_get_object (node), "sdp");
      FUZZ_CHECK (sdp != NULL);
      check_sdp (sdp);
      return;
    }
    node = json_object_get_member (obj, "candidate");
    if (JSON_NODE_HOLDS_NULL (node))
      return;
    cand = json_node_get_object (node);
    if (metered_sdp_check_candidate (
            cand, chromium_offer, &cand_text, &mline) == METERED_CANDIDATE_OK) {
      FUZZ_CHECK (cand_text && *cand_text);
      FUZZ_CHECK (strlen (cand_text) <= METERED_ICE_CANDIDATE_MAX_LEN);
      FUZZ_CHECK (mline <= METERED_SDP_MAX_MLINE);
    }
    /* No remote description yet: only an index can name the m-line. */
    metered_sdp_check_candidate (cand, NULL, &cand_text, &mline);
  } else {
    MeteredPeerPayload payload;

    if (metered_peer_payload_parse (obj, &payload) ==
        METERED_PEER_PAYLOAD_TRACK_META) {
      g_autofree char *meta =
          payload.metadata ? json_to_string (payload.metadata, FALSE) : NULL;
      FUZZ_CHECK (payload.track_id && *payload.track_id);
      FUZZ_CHECK (meta == NULL || meta[0] == '{');
    }
  }
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  g_autofree char *text = fuzz_strndup (data, size);

  /* Text with a NUL is cut there, as the C string it would become. */
  if (size > 0 && data[0] == '{')
    check_payload (text, strlen (text));
  else
    check_sdp (text);
  return 0;
}
