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

/* src/protocol/metered-peer-payload.c: the exact bytes of the payloads
 * we write (the SDK interop tests compare them) and the SDK's checks on
 * what a remote peer writes. */

#include "protocol/metered-limits.h"
#include "protocol/metered-peer-payload.h"

#include <string.h>

static MeteredPeerPayloadType
parse (JsonParser *parser, const char *text, MeteredPeerPayload *out)
{
  return metered_peer_payload_parse_text (parser, text, out);
}

static MeteredPeerPayloadType
type_of (const char *text)
{
  g_autoptr (JsonParser) parser = json_parser_new ();
  MeteredPeerPayload p;

  return parse (parser, text, &p);
}

static void
test_build (void)
{
  g_autofree char *offer = metered_peer_payload_build_description (
      "offer", "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=\"x\"\r\n");
  g_autofree char *cand = metered_peer_payload_build_candidate (
      3, "candidate:1 1 udp 2122260223 10.0.0.1 40000 typ host");
  g_autofree char *end = metered_peer_payload_build_candidate (7, NULL);
  g_autofree char *meta =
      metered_peer_payload_build_track_meta ("cam\"1", "{\"role\":\"camera\"}");

  g_assert_cmpstr (offer, ==,
      "{\"type\":\"rtc-description\",\"description\":{\"type\":\"offer\","
      "\"sdp\":\"v=0\\r\\no=- 1 2 IN IP4 127.0.0.1\\r\\ns=\\\"x\\\"\\r\\n\"}}");
  g_assert_cmpstr (cand, ==,
      "{\"type\":\"rtc-ice\",\"candidate\":{\"candidate\":\"candidate:1 1 udp "
      "2122260223 10.0.0.1 40000 typ host\",\"sdpMid\":null,"
      "\"sdpMLineIndex\":3,\"usernameFragment\":null}}");
  g_assert_cmpstr (end, ==, "{\"type\":\"rtc-ice\",\"candidate\":null}");
  g_assert_cmpstr (meta, ==,
      "{\"__meteredTrackMeta\":{\"trackId\":\"cam\\\"1\","
      "\"metadata\":{\"role\":\"camera\"}}}");
}

/* What we build, we parse back as what we built. */
static void
test_round_trip (void)
{
  const char *sdp = "v=0\r\ns=\xc3\xa9\"\\\r\n";
  g_autofree char *answer =
      metered_peer_payload_build_description ("answer", sdp);
  g_autofree char *cand = metered_peer_payload_build_candidate (64, "c");
  g_autofree char *end = metered_peer_payload_build_candidate (0, NULL);
  g_autofree char *meta =
      metered_peer_payload_build_track_meta ("t", "{\"a\":[1,{\"b\":null}]}");
  g_autoptr (JsonParser) parser = json_parser_new ();
  MeteredPeerPayload p;
  const char *text = NULL, *mid = NULL;
  gint mline = -2;
  g_autofree char *meta_text = NULL;

  g_assert_cmpint (
      parse (parser, answer, &p), ==, METERED_PEER_PAYLOAD_DESCRIPTION);
  g_assert_cmpstr (p.sdp_type, ==, "answer");
  g_assert_cmpstr (p.sdp, ==, sdp);

  g_assert_cmpint (
      parse (parser, cand, &p), ==, METERED_PEER_PAYLOAD_CANDIDATE);
  g_assert_nonnull (p.candidate);
  g_assert_cmpint (
      metered_peer_payload_check_candidate (p.candidate, &text, &mline, &mid),
      ==, METERED_CANDIDATE_OK);
  g_assert_cmpstr (text, ==, "c");
  g_assert_cmpint (mline, ==, 64);
  g_assert_null (mid);

  g_assert_cmpint (parse (parser, end, &p), ==, METERED_PEER_PAYLOAD_CANDIDATE);
  g_assert_null (p.candidate);

  g_assert_cmpint (
      parse (parser, meta, &p), ==, METERED_PEER_PAYLOAD_TRACK_META);
  g_assert_cmpstr (p.track_id, ==, "t");
  meta_text = json_to_string (p.metadata, FALSE);
  g_assert_cmpstr (meta_text, ==, "{\"a\":[1,{\"b\":null}]}");
}

static void
test_classify (void)
{
  g_autofree char *deep = NULL;
  GString *nested =
      g_string_new ("{\"type\":\"rtc-ice\",\"candidate\":{\"x\":");

  /* the SDK's rtc classifier (§8.2) */
  g_assert_cmpint (type_of ("{\"type\":\"rtc-description\",\"description\":"
                            "{\"type\":\"offer\",\"sdp\":\"v=0\"}}"),
      ==, METERED_PEER_PAYLOAD_DESCRIPTION);
  g_assert_cmpint (type_of ("{\"type\":\"rtc-description\",\"description\":"
                            "{\"type\":\"answer\",\"sdp\":\"\"}}"),
      ==, METERED_PEER_PAYLOAD_DESCRIPTION);
  g_assert_cmpint (type_of ("{\"type\":\"rtc-ice\",\"candidate\":null}"), ==,
      METERED_PEER_PAYLOAD_CANDIDATE);
  g_assert_cmpint (type_of ("{\"type\":\"rtc-ice\",\"candidate\":{}}"), ==,
      METERED_PEER_PAYLOAD_CANDIDATE);
  g_assert_cmpint (type_of ("{\"type\":\"rtc-ice\",\"candidate\":\"c\"}"), ==,
      METERED_PEER_PAYLOAD_APP);
  g_assert_cmpint (
      type_of ("{\"type\":\"rtc-ice\"}"), ==, METERED_PEER_PAYLOAD_APP);
  g_assert_cmpint (type_of ("{\"type\":\"rtc-description\",\"description\":"
                            "{\"type\":\"pranswer\",\"sdp\":\"v=0\"}}"),
      ==, METERED_PEER_PAYLOAD_APP);
  g_assert_cmpint (type_of ("{\"type\":\"rtc-description\",\"description\":"
                            "{\"type\":\"offer\",\"sdp\":1}}"),
      ==, METERED_PEER_PAYLOAD_APP);
  g_assert_cmpint (type_of ("{\"type\":\"rtc-description\",\"description\":"
                            "\"offer\"}"),
      ==, METERED_PEER_PAYLOAD_APP);
  /* json-glib's getters are critical on these; ours say no */
  g_assert_cmpint (type_of ("{\"type\":{}}"), ==, METERED_PEER_PAYLOAD_APP);
  g_assert_cmpint (type_of ("{\"type\":\"rtc-description\",\"description\":"
                            "{\"type\":[\"offer\"],\"sdp\":\"v=0\"}}"),
      ==, METERED_PEER_PAYLOAD_APP);

  /* rtc first; track metadata only when it is no rtc payload */
  g_assert_cmpint (type_of ("{\"type\":\"rtc-ice\",\"candidate\":null,"
                            "\"__meteredTrackMeta\":{\"trackId\":\"t\"}}"),
      ==, METERED_PEER_PAYLOAD_CANDIDATE);
  g_assert_cmpint (type_of ("{\"type\":\"rtc-ice\",\"candidate\":1,"
                            "\"__meteredTrackMeta\":{\"trackId\":\"t\"}}"),
      ==, METERED_PEER_PAYLOAD_TRACK_META);

  /* not a JSON object: the app's */
  g_assert_cmpint (type_of (NULL), ==, METERED_PEER_PAYLOAD_APP);
  g_assert_cmpint (type_of (""), ==, METERED_PEER_PAYLOAD_APP);
  g_assert_cmpint (type_of ("hello"), ==, METERED_PEER_PAYLOAD_APP);
  g_assert_cmpint (type_of ("[{\"type\":\"rtc-ice\",\"candidate\":null}]"), ==,
      METERED_PEER_PAYLOAD_APP);
  g_assert_cmpint (type_of ("{\"type\":\"rtc-ice\",\"candidate\":null"), ==,
      METERED_PEER_PAYLOAD_APP);
  /* over the depth cap before json-glib builds a tree */
  for (guint i = 0; i < METERED_JSON_MAX_DEPTH + 1; i++)
    g_string_append (nested, "[");
  for (guint i = 0; i < METERED_JSON_MAX_DEPTH + 1; i++)
    g_string_append (nested, "]");
  g_string_append (nested, "}}");
  deep = g_string_free (nested, FALSE);
  g_assert_cmpint (type_of (deep), ==, METERED_PEER_PAYLOAD_APP);
}

static JsonObject *
object (const char *json)
{
  g_autoptr (JsonParser) parser = json_parser_new ();
  g_assert_true (json_parser_load_from_data (parser, json, -1, NULL));
  return json_object_ref (json_node_get_object (json_parser_get_root (parser)));
}

/* The SDK's checks of §8.6 (moved here from tests/peer/test-sdp.c). */
static void
test_track_meta (void)
{
  g_autoptr (JsonObject) set = object (
      "{\"__meteredTrackMeta\":{\"trackId\":\"t1\",\"metadata\":{\"a\":1}}}");
  g_autoptr (JsonObject) clear =
      object ("{\"__meteredTrackMeta\":{\"trackId\":\"t1\"}}");
  g_autoptr (JsonObject) bad_meta =
      object ("{\"__meteredTrackMeta\":{\"trackId\":\"t1\",\"metadata\":[1]}}");
  g_autoptr (JsonObject) bad_id =
      object ("{\"__meteredTrackMeta\":{\"trackId\":{}}}");
  g_autoptr (JsonObject) empty_id =
      object ("{\"__meteredTrackMeta\":{\"trackId\":\"\"}}");
  g_autoptr (JsonObject) not_object =
      object ("{\"__meteredTrackMeta\":\"t1\"}");
  MeteredPeerPayload p;
  g_autofree char *meta = NULL;

  g_assert_cmpint (metered_peer_payload_parse (set, &p), ==,
      METERED_PEER_PAYLOAD_TRACK_META);
  g_assert_cmpstr (p.track_id, ==, "t1");
  meta = json_to_string (p.metadata, FALSE);
  g_assert_cmpstr (meta, ==, "{\"a\":1}");
  g_assert_cmpint (metered_peer_payload_parse (clear, &p), ==,
      METERED_PEER_PAYLOAD_TRACK_META);
  g_assert_cmpstr (p.track_id, ==, "t1");
  g_assert_null (p.metadata);
  g_assert_cmpint (
      metered_peer_payload_parse (bad_meta, &p), ==, METERED_PEER_PAYLOAD_APP);
  g_assert_null (p.track_id);
  g_assert_cmpint (
      metered_peer_payload_parse (bad_id, &p), ==, METERED_PEER_PAYLOAD_APP);
  g_assert_cmpint (
      metered_peer_payload_parse (empty_id, &p), ==, METERED_PEER_PAYLOAD_APP);
  g_assert_cmpint (metered_peer_payload_parse (not_object, &p), ==,
      METERED_PEER_PAYLOAD_APP);
}

static MeteredCandidateCheck
check (const char *json, gint *mline, const char **mid)
{
  g_autoptr (JsonObject) cand = object (json);
  const char *text = NULL;
  MeteredCandidateCheck r;

  *mline = 999;
  *mid = "unset";
  r = metered_peer_payload_check_candidate (cand, &text, mline, mid);
  if (r == METERED_CANDIDATE_OK)
    g_assert_true (text && *text);
  if (*mid && !g_str_equal (*mid, "unset"))
    *mid = g_intern_string (*mid); /* outlives cand */
  return r;
}

static void
test_candidate (void)
{
  g_autofree char *long_cand = NULL;
  g_autofree char *json = NULL;
  const char *mid;
  gint mline;

  g_assert_cmpint (check ("{\"candidate\":\"c\",\"sdpMLineIndex\":1,"
                          "\"sdpMid\":\"0\"}",
                       &mline, &mid),
      ==, METERED_CANDIDATE_OK);
  g_assert_cmpint (mline, ==, 1);
  g_assert_null (mid);
  g_assert_cmpint (
      check ("{\"candidate\":\"c\",\"sdpMid\":\"1\"}", &mline, &mid), ==,
      METERED_CANDIDATE_OK);
  g_assert_cmpint (mline, ==, -1);
  g_assert_cmpstr (mid, ==, "1");
  g_assert_cmpint (check ("{\"candidate\":\"c\",\"sdpMid\":{}}", &mline, &mid),
      ==, METERED_CANDIDATE_OK);
  g_assert_cmpint (mline, ==, -1);
  g_assert_null (mid);
  g_assert_cmpint (
      check ("{\"candidate\":\"c\",\"sdpMLineIndex\":\"1\"}", &mline, &mid), ==,
      METERED_CANDIDATE_OK);
  g_assert_cmpint (mline, ==, -1);
  g_assert_null (mid);
  g_assert_cmpint (
      check ("{\"candidate\":\"c\",\"sdpMLineIndex\":64}", &mline, &mid), ==,
      METERED_CANDIDATE_OK);
  g_assert_cmpint (mline, ==, 64);
  /* an integer index out of range is final: no fall back to the mid */
  g_assert_cmpint (check ("{\"candidate\":\"c\",\"sdpMLineIndex\":65,"
                          "\"sdpMid\":\"0\"}",
                       &mline, &mid),
      ==, METERED_CANDIDATE_NO_MLINE);
  /* 2^32 + 1 is not m-line 1 */
  g_assert_cmpint (check ("{\"candidate\":\"c\",\"sdpMLineIndex\":4294967297}",
                       &mline, &mid),
      ==, METERED_CANDIDATE_NO_MLINE);
  g_assert_cmpint (
      check ("{\"candidate\":\"c\",\"sdpMLineIndex\":-1}", &mline, &mid), ==,
      METERED_CANDIDATE_NO_MLINE);
  g_assert_cmpint (check ("{\"candidate\":{},\"sdpMid\":[]}", &mline, &mid), ==,
      METERED_CANDIDATE_END);
  g_assert_cmpint (
      check ("{\"candidate\":\"\"}", &mline, &mid), ==, METERED_CANDIDATE_END);
  g_assert_cmpint (check ("{}", &mline, &mid), ==, METERED_CANDIDATE_END);

  long_cand = g_strnfill (METERED_ICE_CANDIDATE_MAX_LEN + 1, 'x');
  json =
      g_strdup_printf ("{\"candidate\":\"%s\",\"sdpMLineIndex\":0}", long_cand);
  g_assert_cmpint (check (json, &mline, &mid), ==, METERED_CANDIDATE_TOO_LONG);
  long_cand[METERED_ICE_CANDIDATE_MAX_LEN] = '\0';
  g_free (json);
  json =
      g_strdup_printf ("{\"candidate\":\"%s\",\"sdpMLineIndex\":0}", long_cand);
  g_assert_cmpint (check (json, &mline, &mid), ==, METERED_CANDIDATE_OK);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/peer-payload/build", test_build);
  g_test_add_func ("/peer-payload/round-trip", test_round_trip);
  g_test_add_func ("/peer-payload/classify", test_classify);
  g_test_add_func ("/peer-payload/track-meta", test_track_meta);
  g_test_add_func ("/peer-payload/candidate", test_candidate);
  return g_test_run ();
}
